//! The `{Model}Fields` structs of typed query handles, of models and embedded structs.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use super::{fields_ident, fmt_literal, json_member, json_read_step, mentions_any};
use crate::model::{ModelDef, Storage};
use crate::serde_attrs::Missing;

/// The indexed fields in index order: the primary key first.
fn indexed_order(def: &ModelDef) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(def.pk).chain((0..def.fields.len()).filter(|i| {
        let f = &def.fields[*i];
        *i != def.pk && (f.index.indexed || f.embed.is_some() || f.flatten)
    }))
}

/// Where the handles of a fields struct get their names: literals for a
/// model, or built from the `path` and `alias` arguments for an embedded struct.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Names {
    Model(Storage),
    Embedded,
}

/// The field declarations, initializers and type checks of a fields struct.
pub(super) struct Handles {
    pub(super) decls: Vec<TokenStream>,
    pub(super) inits: Vec<TokenStream>,
    pub(super) checks: Vec<TokenStream>,
}

pub(super) fn handles(
    def: &ModelDef,
    order: impl Iterator<Item = usize>,
    model: &TokenStream,
    names: Names,
) -> Handles {
    let krate = &def.krate;
    let mut out = Handles {
        decls: Vec::new(),
        inits: Vec::new(),
        checks: Vec::new(),
    };
    let json = !matches!(names, Names::Model(Storage::Hash));
    let (storage_variant, decoder) = if json {
        (quote!(Json), quote!(decode_json_field))
    } else {
        (quote!(Hash), quote!(decode_hash_field))
    };
    let params: Vec<&Ident> = def.generics.type_params().map(|p| &p.ident).collect();
    for i in order {
        let f = &def.fields[i];
        let name = &f.ident;
        let ty = &f.ty;
        let span = ty.span();
        let stored = &f.stored_name;
        if f.flatten {
            // A hash model's flattened struct: its fields are the model's own.
            let doc = format!("The indexed fields flattened from `{stored}`.");
            out.decls.push(quote_spanned! {span=>
                #[doc = #doc]
                pub #name: <#ty as #krate::Embedded>::Fields<#model>
            });
            out.inits.push(quote_spanned! {span=>
                #name: <#ty as #krate::__private::HashEmbedded>::hash_fields::<#model>()
            });
            continue;
        }
        if let Some(embed) = &f.embed {
            let inner = &embed.inner;
            let star = if embed.many { "[*]" } else { "" };
            let (path, alias) = match names {
                Names::Model(_) if embed.flatten => (quote!("$"), quote!("")),
                Names::Embedded if embed.flatten => (quote!(path), quote!(alias)),
                Names::Model(_) => {
                    let path = format!("${}{star}", json_member(stored));
                    (quote!(#path), quote!(#stored))
                }
                Names::Embedded => {
                    let path = format!("{{}}{}{star}", fmt_literal(&json_member(stored)));
                    (
                        quote!(&::std::format!(#path, path)),
                        quote!(#krate::__private::attr_name(alias, #stored)),
                    )
                }
            };
            let doc = format!("The indexed fields of the embedded `{stored}`.");
            out.decls.push(quote_spanned! {span=>
                #[doc = #doc]
                pub #name: <#inner as #krate::Embedded>::Fields<#model>
            });
            out.inits.push(quote_spanned! {span=>
                #name: <#inner as #krate::Embedded>::fields::<#model>(#path, #alias)
            });
            continue;
        }
        let vector = f.index.vector.as_ref();
        if vector.is_none()
            && names != Names::Model(Storage::Hash)
            && !f.serde_with
            && !mentions_any(ty, &params)
        {
            // chrono writes text, which a NUMERIC index refuses: every document
            // would fail to index and `find` would silently return nothing.
            let date = ty.to_token_stream().to_string().contains("NaiveDate");
            let fix = match (date, is_option(ty)) {
                (false, false) => "redis_om::timestamp",
                (false, true) => "redis_om::timestamp::option",
                (true, false) => "redis_om::timestamp::date",
                (true, true) => "redis_om::timestamp::date::option",
            };
            let message = format!(
                "the indexed field `{name}` is a chrono date or datetime, which a JsonModel must store \
                 as epoch seconds to be indexed: add #[serde(with = \"{fix}\")] to it"
            );
            out.checks.push(quote_spanned! {span=>
                const _: () = if <#ty as #krate::Indexable>::TIMESTAMP {
                    ::core::panic!(#message)
                };
            });
        }
        if vector.is_none() && names == Names::Model(Storage::Hash) && !mentions_any(ty, &params) {
            // `Vec<u8>` is a HashValue (binary) and, through `Vec<u8: Indexable>`,
            // a list of numbers: neither can be indexed in a hash.
            let message = format!(
                "the indexed field `{name}` is a Vec: a HashModel stores a Vec<u8> as raw bytes, \
                 which cannot be indexed (and no other Vec is a hash field): remove `index`, \
                 or store it in a JsonModel"
            );
            out.checks.push(quote_spanned! {span=>
                const _: () = if <#ty as #krate::Indexable>::MULTI {
                    ::core::panic!(#message)
                };
            });
        }
        let sortable = f.index.sortable;
        if sortable && vector.is_none() && !mentions_any(ty, &params) {
            // A GEO attribute sorts by geohash, which orders nothing useful.
            let message = format!(
                "`{name}` is a geo field, which cannot be sortable: remove `sortable` (find \
                 points by distance with `within`)"
            );
            out.checks.push(quote_spanned! {span=>
                const _: () = if ::core::matches!(
                    <#ty as #krate::Indexable>::KIND,
                    #krate::FieldKind::Geo
                ) {
                    ::core::panic!(#message)
                };
            });
        }
        let handle = if vector.is_some() {
            quote_spanned!(span=> #krate::VectorField<#model, #ty>)
        } else if f.index.full_text {
            // Checked here, at the field's type, for a clear error.
            out.checks.push(quote_spanned! {span=>
                const _: fn() = || {
                    fn full_text<T: ?::core::marker::Sized + #krate::FullText>() {}
                    full_text::<#ty>();
                };
            });
            quote_spanned!(span=> #krate::TextField<#model, #ty, #sortable>)
        } else {
            quote_spanned!(span=> <#ty as #krate::Indexable>::Field<#model, #ty, #sortable>)
        };
        let (spec_name, text_name, source) = match names {
            Names::Model(storage) => {
                let text_name = format!("{stored}_fts");
                let source = match storage {
                    Storage::Hash => stored.clone(),
                    Storage::Json => format!("${}", json_read_step(f)),
                };
                (quote!(#stored), quote!(#text_name), quote!(#source))
            }
            Names::Embedded => {
                let source = format!("{{}}{}", fmt_literal(&json_read_step(f)));
                let stored = fmt_literal(stored);
                (
                    quote!(#krate::__private::attr_name(alias, #stored)),
                    {
                        let fts = format!("{stored}_fts");
                        quote!(#krate::__private::attr_name(alias, #fts))
                    },
                    quote!(#krate::__private::intern(::std::format!(#source, path))),
                )
            }
        };
        let separator = f.index.separator.unwrap_or('|');
        let kind = if let Some(v) = vector {
            format!(
                "`{stored}`: a vector field ({} elements, {} distance)",
                v.dim, v.distance
            )
        } else if f.index.full_text {
            format!("`{stored}`: a full-text field (TAG and TEXT `{stored}_fts`)")
        } else {
            format!("`{stored}`")
        };
        let sort_doc = if sortable { "; sortable" } else { "" };
        let doc = format!("{kind}{sort_doc}.");
        // A JSON field that serde reads with a function of its own (a
        // `redis_om::timestamp` datetime) is decoded with it when selected.
        let with = f.deserialize_with.as_ref().filter(|_| json);
        let field_decoder = match with {
            Some(path) => quote! {
                (|raw: ::core::option::Option<&[u8]>| {
                    #krate::__private::decode_json_field_with(raw, |value| #path(value))
                }) as #krate::__private::FieldDecoder<#ty>
            },
            None => quote!(#krate::__private::#decoder::<#ty>),
        };
        // A JSON field missing from the document is what serde's `default`
        // makes of it, as when the whole document is read (`[]`: no match).
        let (_, owner_generics, _) = def.generics.split_for_impl();
        let owner_ident = &def.ident;
        let owner = quote!(#owner_ident #owner_generics);
        let missing = match &f.missing {
            Missing::Required => None,
            Missing::FieldDefault => Some(quote!(<#ty as ::core::default::Default>::default())),
            Missing::FieldPath(path) => Some(quote!(#path())),
            Missing::StructDefault => Some(quote! {
                <#owner as ::core::default::Default>::default().#name
            }),
            Missing::StructPath(path) => Some(quote! {{
                let whole: #owner = #path();
                whole.#name
            }}),
        };
        let field_decoder = match missing {
            // A hash field is absent, or holds a value.
            Some(default) if !json => quote! {
                (|raw: ::core::option::Option<&[u8]>| match raw {
                    ::core::option::Option::Some(raw) => (#field_decoder)(::core::option::Option::Some(raw)),
                    ::core::option::Option::None => ::core::result::Result::Ok(#default),
                }) as #krate::__private::FieldDecoder<#ty>
            },
            Some(default) => quote! {
                (|raw: ::core::option::Option<&[u8]>| match raw {
                    ::core::option::Option::Some(raw) if raw.trim_ascii() != b"[]" => {
                        (#field_decoder)(::core::option::Option::Some(raw))
                    }
                    _ => ::core::result::Result::Ok(#default),
                }) as #krate::__private::FieldDecoder<#ty>
            },
            None => field_decoder,
        };
        let spec = quote_spanned! {span=>
            #krate::__private::FieldSpec::new(
                #spec_name,
                #text_name,
                #source,
                #separator,
                #krate::Storage::#storage_variant,
            )
        };
        if let Some(v) = vector {
            let options = super::vector_options(krate, ty, v);
            let dim = v.dim;
            let message =
                format!("`{name}` is an array of another length than its vector's dim ({dim})");
            out.checks.push(quote_spanned! {span=>
                const _: () = if let ::core::option::Option::Some(n) = <#ty as #krate::VectorValue>::LEN {
                    if n != #dim {
                        ::core::panic!(#message)
                    }
                };
            });
            out.decls.push(quote! {
                #[doc = #doc]
                pub #name: #handle
            });
            out.inits.push(quote_spanned! {span=>
                #name: <#handle>::new(#spec, #field_decoder, #options)
            });
            continue;
        }
        let new_handle = quote_spanned! {span=>
            <#handle as #krate::__private::FieldHandle<#ty>>::new(
                #krate::__private::FieldSpec::new(
                    #spec_name,
                    #text_name,
                    #source,
                    #separator,
                    #krate::Storage::#storage_variant,
                ),
                #field_decoder,
            )
        };
        let (missing, empty) = (f.index.missing, f.index.empty);
        if missing || empty {
            if empty {
                // INDEXEMPTY is for TAG and TEXT: empty strings.
                let message = format!(
                    "`index_empty` is for string fields (an empty string); `{name}` is not one"
                );
                out.checks.push(quote_spanned! {span=>
                    const _: () = if !::core::matches!(
                        <#ty as #krate::Indexable>::KIND,
                        #krate::FieldKind::Tag
                    ) {
                        ::core::panic!(#message)
                    };
                });
            }
            out.decls.push(quote! {
                #[doc = #doc]
                pub #name: #krate::Absent<#model, #handle, #missing, #empty>
            });
            out.inits.push(quote_spanned! {span=>
                #name: #krate::Absent::new(#new_handle, #spec_name)
            });
            continue;
        }
        out.decls.push(quote! {
            #[doc = #doc]
            pub #name: #handle
        });
        out.inits.push(quote_spanned! {span=>
            #name: #new_handle
        });
    }
    out
}

/// The `{Model}Fields` struct of typed query handles, one per indexed field.
pub(super) fn query_fields(
    def: &ModelDef,
    storage: Storage,
    bounded: &syn::Generics,
) -> TokenStream {
    let ident = &def.ident;
    let vis = &def.vis;
    let fields_ident = fields_ident(def);
    let (impl_generics, ty_generics, where_clause) = bounded.split_for_impl();
    let (_, model_generics, _) = def.generics.split_for_impl();
    let model = quote!(#ident #model_generics);
    let Handles {
        decls,
        inits,
        checks,
    } = handles(def, indexed_order(def), &model, Names::Model(storage));
    let doc = format!(
        "The typed query handles of the indexed fields of [`{ident}`], for \
         `{ident}::find(|f| …)`; generated by the derive. A field that is not \
         indexed has no handle, so a query on it does not compile."
    );
    quote! {
        #[doc = #doc]
        #[allow(non_snake_case, missing_debug_implementations, dead_code)]
        #vis struct #fields_ident #impl_generics #where_clause {
            #(#decls,)*
        }

        #(#checks)*

        #[allow(clippy::all)]
        impl #impl_generics #fields_ident #ty_generics #where_clause {
            #[doc(hidden)]
            fn __new() -> Self {
                #fields_ident { #(#inits,)* }
            }
        }
    }
}

/// Whether the type is written `Option<…>`.
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}
