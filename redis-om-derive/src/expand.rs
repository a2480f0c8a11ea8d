//! Code generation. Generated code uses absolute paths through the
//! `redis_om` crate (or `#[redis_om(crate = "…")]`) and lives in `const _: () = { … };`.

use darling::FromDeriveInput;
use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, LitByteStr, LitStr, Type};

use crate::attr::ContainerAttrs;
use crate::model::{ModelDef, Storage};
use crate::serde_attrs::{self, Missing};

/// `#[derive(HashModel)]` and `#[derive(JsonModel)]`.
pub(crate) fn model(input: &DeriveInput, storage: Storage) -> syn::Result<TokenStream> {
    let attrs = ContainerAttrs::from_derive_input(input)?;
    let serde = match storage {
        Storage::Json => serde_attrs::struct_fields(input),
        Storage::Hash => None,
    };
    let def = ModelDef::from_attrs(attrs, storage, serde)?;
    Ok(expand_model(&def, storage))
}

fn expand_model(def: &ModelDef, storage: Storage) -> TokenStream {
    let krate = &def.krate;
    let ident = &def.ident;
    let pk = &def.fields[def.pk];
    let pk_ident = &pk.ident;
    let pk_ty = &pk.ty;
    let global_prefix = &def.global_prefix;
    let prefix = &def.prefix;
    let index_name = match &def.index_name {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    let model_name = ident.to_string();

    // Bounds for generic models: the types that mention a type parameter must be storable.
    let params: Vec<&Ident> = def.generics.type_params().map(|p| &p.ident).collect();
    let mut generics = def.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        let (_, ty_generics, _) = def.generics.split_for_impl();
        if !params.is_empty() {
            where_clause.predicates.push(
                syn::parse_quote!(#ident #ty_generics: ::core::marker::Send + ::core::marker::Sync),
            );
            if storage == Storage::Json {
                where_clause.predicates.push(syn::parse_quote!(
                    #ident #ty_generics: #krate::__private::serde::Serialize
                        + #krate::__private::serde::de::DeserializeOwned
                ));
            }
            // A selected field missing from a document is taken from the
            // struct's `Default`, as serde's `#[serde(default)]` on the struct.
            if def
                .fields
                .iter()
                .any(|f| matches!(f.missing, Missing::StructDefault))
            {
                where_clause.predicates.push(syn::parse_quote!(
                    #ident #ty_generics: ::core::default::Default
                ));
            }
        }
        for field in &def.fields {
            if mentions_any(&field.ty, &params) {
                let ty = &field.ty;
                if storage == Storage::Hash {
                    where_clause
                        .predicates
                        .push(syn::parse_quote!(#ty: #krate::HashValue));
                }
                if storage == Storage::Json && field.index.indexed {
                    where_clause.predicates.push(syn::parse_quote!(
                        #ty: #krate::__private::serde::de::DeserializeOwned
                    ));
                }
                if field.index.indexed || field.ident == *pk_ident {
                    where_clause
                        .predicates
                        .push(syn::parse_quote!(#ty: #krate::Indexable));
                }
                if field.ident == *pk_ident {
                    where_clause
                        .predicates
                        .push(syn::parse_quote!(#ty: #krate::PrimaryKey));
                }
            }
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let (storage_variant, encode, decode) = match storage {
        Storage::Hash => {
            let (encode, decode) = hash_codec(def);
            (quote!(Hash), encode, decode)
        }
        Storage::Json => (
            quote!(Json),
            quote!(#krate::__private::encode_json(self)),
            json_decode(def),
        ),
    };

    // redis-om-python's order: a primary key named `pk` first (its base
    // class declares it), any other where it is declared; in a JsonModel every
    // field that is not indexed leaves an empty part in the schema text.
    let order = schema_order(def);
    let schema_steps: Vec<TokenStream> = order
        .map(|i| {
            let f = &def.fields[i];
            let indexed = i == def.pk || f.index.indexed;
            if let Some(embed) = &f.embed {
                let inner = &embed.inner;
                let star = if embed.many { "[*]" } else { "" };
                let path = format!("${}{star}", json_member(&f.stored_name));
                let alias = &f.stored_name;
                return quote! {
                    let before = out.len();
                    <#inner as #krate::Embedded>::index_fields(#path, #alias, &mut out);
                    if out.len() == before {
                        empty.push(before);
                    }
                };
            }
            if !indexed {
                return match storage {
                    Storage::Json => quote! { empty.push(out.len()); },
                    Storage::Hash => quote! {},
                };
            }
            let name = &f.stored_name;
            let field = indexed_field(krate, f, quote!(#name), None);
            quote! { out.push(#field); }
        })
        .collect();

    let fields = query_fields(def, storage, &generics);
    let fields_ident = fields_ident(def);
    let stored_names: Vec<&String> = match storage {
        Storage::Hash => def.fields.iter().map(|f| &f.stored_name).collect(),
        Storage::Json => Vec::new(),
    };

    // Every concrete model is known to the others, so that nested key prefixes
    // are found (a generic struct has no single layout to register).
    let register = if def.generics.params.is_empty() {
        quote! {
            #krate::__private::inventory::submit! {
                #krate::__private::RegisteredModel {
                    name: ::core::concat!(::core::module_path!(), "::", #model_name),
                    layout: <#ident as #krate::Model>::key_layout,
                }
            }
        }
    } else {
        TokenStream::new()
    };

    quote! {
        #fields

        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Model for #ident #ty_generics #where_clause {
                const STORAGE: #krate::Storage = #krate::Storage::#storage_variant;

                fn key_layout() -> &'static #krate::KeyLayout {
                    static LAYOUT: #krate::__private::LazyLock<#krate::KeyLayout> =
                        #krate::__private::LazyLock::new(|| {
                            #krate::KeyLayout::new(#global_prefix, #prefix, #index_name)
                        });
                    &LAYOUT
                }

                fn primary_key(&self) -> ::core::option::Option<::std::borrow::Cow<'_, str>> {
                    <#pk_ty as #krate::PrimaryKey>::key_part(&self.#pk_ident)
                }

                fn generate_primary_key(&mut self) -> #krate::Result<()> {
                    match <#pk_ty as #krate::PrimaryKey>::generate() {
                        ::core::option::Option::Some(pk) => {
                            self.#pk_ident = pk;
                            ::core::result::Result::Ok(())
                        }
                        ::core::option::Option::None => {
                            ::core::result::Result::Err(#krate::__private::cannot_generate(#model_name))
                        }
                    }
                }

                fn encode(&self) -> ::core::result::Result<#krate::Encoded<'_>, ::std::string::String> {
                    #encode
                }

                fn decode(key: &str, stored: #krate::Stored<'_>) -> #krate::Result<Self> {
                    #decode
                }

                fn index_fields() -> ::std::vec::Vec<#krate::IndexedField> {
                    let mut out = ::std::vec::Vec::new();
                    let mut empty: ::std::vec::Vec<usize> = ::std::vec::Vec::new();
                    #(#schema_steps)*
                    let _ = empty;
                    out
                }

                fn index_schema() -> #krate::IndexSchema {
                    let mut out = ::std::vec::Vec::new();
                    let mut empty: ::std::vec::Vec<usize> = ::std::vec::Vec::new();
                    #(#schema_steps)*
                    #krate::IndexSchema::new(
                        #krate::Storage::#storage_variant,
                        <Self as #krate::Model>::key_layout().key_prefix(),
                        out,
                    )
                    .with_empty_parts(empty)
                }

                type Fields = #fields_ident #ty_generics;

                fn fields() -> Self::Fields {
                    #fields_ident::__new()
                }

                fn stored_names() -> &'static [&'static str] {
                    &[#(#stored_names),*]
                }
            }

            #register
        };
    }
}

fn fields_ident(def: &ModelDef) -> &Ident {
    &def.fields_ident
}

/// Every field in redis-om-python's schema order: a primary key named `pk`
/// first, the others as declared.
fn schema_order(def: &ModelDef) -> impl Iterator<Item = usize> + '_ {
    let pk_first = def.fields[def.pk].stored_name == "pk";
    let first = pk_first.then_some(def.pk);
    first
        .into_iter()
        .chain((0..def.fields.len()).filter(move |i| !(pk_first && *i == def.pk)))
}

/// The indexed fields in index order: the primary key first.
fn indexed_order(def: &ModelDef) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(def.pk).chain((0..def.fields.len()).filter(|i| {
        let f = &def.fields[*i];
        *i != def.pk && (f.index.indexed || f.embed.is_some())
    }))
}

/// An `IndexedField` value for field `f`, named by the expression `name`,
/// at the JSON path expression `path` when given.
fn indexed_field(
    krate: &syn::Path,
    f: &crate::model::FieldDef,
    name: TokenStream,
    path: Option<TokenStream>,
) -> TokenStream {
    let ty = &f.ty;
    let sortable = f.index.sortable;
    let full_text = f.index.full_text;
    let case_sensitive = f.index.case_sensitive;
    let separator = f.index.separator.unwrap_or('|');
    let path = match path {
        Some(path) => quote!(field.path = ::core::option::Option::Some(#path);),
        None => quote!(),
    };
    quote! {{
        let mut field = #krate::IndexedField::new(
            #name,
            <#ty as #krate::Indexable>::KIND,
            <#ty as #krate::Indexable>::MULTI,
        );
        field.sortable = #sortable;
        field.full_text = #full_text;
        field.case_sensitive = #case_sensitive;
        field.separator = #separator;
        #path
        field
    }}
}

/// Where the handles of a fields struct get their names: literals for a
/// model, or built from the `path` and `alias` arguments for an embedded struct.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    Model(Storage),
    Embedded,
}

/// The field declarations, initializers and type checks of a fields struct.
struct Handles {
    decls: Vec<TokenStream>,
    inits: Vec<TokenStream>,
    checks: Vec<TokenStream>,
}

fn handles(
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
    let runtime = |suffix: &str| -> TokenStream {
        quote!(#krate::__private::intern(::std::format!(#suffix, alias)))
    };
    for i in order {
        let f = &def.fields[i];
        let name = &f.ident;
        let ty = &f.ty;
        let span = ty.span();
        let stored = &f.stored_name;
        if let Some(embed) = &f.embed {
            let inner = &embed.inner;
            let star = if embed.many { "[*]" } else { "" };
            let (path, alias) = match names {
                Names::Model(_) => {
                    let path = format!("${}{star}", json_member(stored));
                    (quote!(#path), quote!(#stored))
                }
                Names::Embedded => {
                    let path = format!("{{}}{}{star}", fmt_literal(&json_member(stored)));
                    let alias = format!("{{}}_{}", fmt_literal(stored));
                    (
                        quote!(&::std::format!(#path, path)),
                        quote!(&::std::format!(#alias, alias)),
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
        if names != Names::Model(Storage::Hash) && !f.serde_with && !mentions_any(ty, &params) {
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
        let sortable = f.index.sortable;
        let handle = if f.index.full_text {
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
                    Storage::Json => format!("${}", json_member(stored)),
                };
                (quote!(#stored), quote!(#text_name), quote!(#source))
            }
            Names::Embedded => {
                let source = format!("{{}}{}", fmt_literal(&json_member(stored)));
                let stored = fmt_literal(stored);
                (
                    runtime(&format!("{{}}_{stored}")),
                    runtime(&format!("{{}}_{stored}_fts")),
                    quote!(#krate::__private::intern(::std::format!(#source, path))),
                )
            }
        };
        let separator = f.index.separator.unwrap_or('|');
        let kind = if f.index.full_text {
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
                }) as #krate::FieldDecoder<#ty>
            },
            None => quote!(#krate::__private::#decoder::<#ty>),
        };
        // A JSON field missing from the document is what serde's `default`
        // makes of it, as when the whole document is read (`[]`: no match).
        let (_, owner_generics, _) = def.generics.split_for_impl();
        let owner_ident = &def.ident;
        let owner = quote!(#owner_ident #owner_generics);
        let missing = match &f.missing {
            _ if !json => None,
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
            Some(default) => quote! {
                (|raw: ::core::option::Option<&[u8]>| match raw {
                    ::core::option::Option::Some(raw) if raw.trim_ascii() != b"[]" => {
                        (#field_decoder)(::core::option::Option::Some(raw))
                    }
                    _ => ::core::result::Result::Ok(#default),
                }) as #krate::FieldDecoder<#ty>
            },
            None => field_decoder,
        };
        out.decls.push(quote! {
            #[doc = #doc]
            pub #name: #handle
        });
        out.inits.push(quote_spanned! {span=>
            #name: <#handle as #krate::FieldHandle<#ty>>::new(
                #krate::FieldSpec {
                    name: #spec_name,
                    text_name: #text_name,
                    source: #source,
                    separator: #separator,
                    storage: #krate::Storage::#storage_variant,
                },
                #field_decoder,
            )
        });
    }
    out
}

/// The `{Model}Fields` struct of typed query handles, one per indexed field.
fn query_fields(def: &ModelDef, storage: Storage, bounded: &syn::Generics) -> TokenStream {
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
        #[allow(non_snake_case, missing_debug_implementations)]
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

/// `#[derive(EmbeddedModel)]`: a struct stored inside a JsonModel field marked `embed`.
pub(crate) fn embedded(input: &DeriveInput) -> syn::Result<TokenStream> {
    let attrs = ContainerAttrs::from_derive_input(input)?;
    let def = ModelDef::embedded(attrs, serde_attrs::struct_fields(input))?;
    let krate = &def.krate;
    let ident = &def.ident;
    let vis = &def.vis;
    let fields_ident = fields_ident(&def);
    let order: Vec<usize> = (0..def.fields.len())
        .filter(|i| def.fields[*i].index.indexed || def.fields[*i].embed.is_some())
        .collect();
    let model = quote!(__M);
    let Handles {
        decls,
        inits,
        checks,
    } = handles(&def, order.iter().copied(), &model, Names::Embedded);
    let index_fields = order.iter().map(|&i| {
        let f = &def.fields[i];
        let stored = &f.stored_name;
        if let Some(embed) = &f.embed {
            let inner = &embed.inner;
            let star = if embed.many { "[*]" } else { "" };
            let path = format!("{{}}{}{star}", fmt_literal(&json_member(stored)));
            let alias = format!("{{}}_{}", fmt_literal(stored));
            return quote! {
                <#inner as #krate::Embedded>::index_fields(
                    &::std::format!(#path, path),
                    &::std::format!(#alias, alias),
                    out,
                );
            };
        }
        let ty = &f.ty;
        let name_format = format!("{{}}_{}", fmt_literal(stored));
        let path_format = format!("{{}}{}{{}}", fmt_literal(&json_member(stored)));
        let field = indexed_field(
            krate,
            f,
            quote!(#krate::__private::intern(::std::format!(#name_format, alias))),
            Some(quote!(#krate::__private::intern(::std::format!(
                #path_format,
                path,
                if <#ty as #krate::Indexable>::MULTI { "[*]" } else { "" }
            )))),
        );
        quote! { out.push(#field); }
    });
    let doc = format!(
        "The typed query handles of the indexed fields of the embedded [`{ident}`]; \
         generated by `#[derive(EmbeddedModel)]`."
    );
    Ok(quote! {
        #[doc = #doc]
        #[allow(non_snake_case, missing_debug_implementations)]
        #vis struct #fields_ident<__M> {
            #(#decls,)*
            #[doc(hidden)]
            pub __model: ::core::marker::PhantomData<fn() -> __M>,
        }

        #(#checks)*

        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #krate::Embedded for #ident {
                type Fields<__M> = #fields_ident<__M>;

                fn index_fields(
                    path: &str,
                    alias: &str,
                    out: &mut ::std::vec::Vec<#krate::IndexedField>,
                ) {
                    let _ = (path, alias);
                    #(#index_fields)*
                }

                fn fields<__M>(path: &str, alias: &str) -> #fields_ident<__M> {
                    let _ = (path, alias);
                    #fields_ident {
                        #(#inits,)*
                        __model: ::core::marker::PhantomData,
                    }
                }
            }
        };
    })
}

/// The bodies of `encode` and `decode` for a hash model.
fn hash_codec(def: &ModelDef) -> (TokenStream, TokenStream) {
    let krate = &def.krate;
    let count = def.fields.len();
    let names: Vec<LitStr> = def
        .fields
        .iter()
        .map(|f| LitStr::new(&f.stored_name, f.ident.span()))
        .collect();
    let idents: Vec<&Ident> = def.fields.iter().map(|f| &f.ident).collect();
    let tys: Vec<&Type> = def.fields.iter().map(|f| &f.ty).collect();
    let slots: Vec<Ident> = (0..count).map(|i| format_ident!("__field{}", i)).collect();
    let byte_names: Vec<LitByteStr> = def
        .fields
        .iter()
        .map(|f| LitByteStr::new(f.stored_name.as_bytes(), f.ident.span()))
        .collect();

    // The primary key is always indexed.
    let indexed: Vec<bool> = def
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| i == def.pk || f.index.indexed)
        .collect();
    let encode = quote! {
        // Refuse what could not be read back or indexed, before anything is written.
        #(
            <#tys as #krate::HashValue>::check(&self.#idents, #indexed)
                .map_err(|e| ::std::format!("field {:?}: {}", #names, e))?;
        )*
        let mut fields = #krate::HashFields::with_capacity(#count);
        // `<Ty as HashValue>` everywhere, so that a type that is not storable
        // gives one error at the field's type, not one per use.
        #( fields.push(#names, <#tys as #krate::HashValue>::to_hash_arg(&self.#idents)); )*
        ::core::result::Result::Ok(#krate::Encoded::Hash(fields))
    };

    let finish = def.fields.iter().enumerate().map(|(i, f)| {
        let ident = &f.ident;
        let ty = &f.ty;
        let slot = &slots[i];
        let name = &names[i];
        let missing = if i == def.pk {
            // A hash written without its pk field (by another tool) still has it in its key.
            quote! {
                match key.strip_prefix(<Self as #krate::Model>::key_layout().key_prefix()) {
                    ::core::option::Option::Some(part) => <#ty as #krate::PrimaryKey>::from_key_part(part)
                        .map_err(|e| #krate::__private::field_error(key, #name, e))?,
                    ::core::option::Option::None => <#ty as #krate::HashValue>::from_missing()
                        .map_err(|e| #krate::__private::field_error(key, #name, e))?,
                }
            }
        } else {
            quote! {
                <#ty as #krate::HashValue>::from_missing()
                    .map_err(|e| #krate::__private::field_error(key, #name, e))?
            }
        };
        quote! {
            #ident: match #slot {
                ::core::option::Option::Some(value) => value,
                ::core::option::Option::None => #missing,
            }
        }
    });

    let decode = quote! {
        #( let mut #slots: ::core::option::Option<#tys> = ::core::option::Option::None; )*
        for pair in stored.hash_fields(key)? {
            let (name, raw) = pair?;
            match name {
                #(
                    #byte_names => {
                        #slots = ::core::option::Option::Some(
                            <#tys as #krate::HashValue>::from_hash_bytes(raw)
                                .map_err(|e| #krate::__private::field_error(key, #names, e))?,
                        );
                    }
                )*
                // Fields this struct does not know (written by another version or service).
                _ => {}
            }
        }
        ::core::result::Result::Ok(Self { #(#finish,)* })
    };
    (encode, decode)
}

/// Whether the type is written `Option<…>`.
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// The body of `decode` for a JSON model: a document written without its
/// primary key field (by another tool) takes it from its key, as hash models do.
fn json_decode(def: &ModelDef) -> TokenStream {
    let krate = &def.krate;
    let pk = &def.fields[def.pk];
    let pk_ident = &pk.ident;
    let pk_ty = &pk.ty;
    let pk_name = &pk.stored_name;
    quote! {
        let json = stored.json(key)?;
        let part = key.strip_prefix(<Self as #krate::Model>::key_layout().key_prefix());
        let mut model: Self = match #krate::decode_json::<Self>(key, json) {
            ::core::result::Result::Ok(model) => model,
            ::core::result::Result::Err(err) => {
                match part.and_then(|part| <#pk_ty as #krate::PrimaryKey>::from_key_part(part).ok()) {
                    ::core::option::Option::Some(pk) => #krate::__private::decode_json_without_pk::<Self, #pk_ty>(
                        key, json, #pk_name, &pk, err,
                    )?,
                    ::core::option::Option::None => return ::core::result::Result::Err(err),
                }
            }
        };
        if <Self as #krate::Model>::primary_key(&model).is_none() {
            if let ::core::option::Option::Some(part) = part {
                model.#pk_ident = <#pk_ty as #krate::PrimaryKey>::from_key_part(part)
                    .map_err(|e| #krate::__private::field_error(key, #pk_name, e))?;
            }
        }
        ::core::result::Result::Ok(model)
    }
}

fn mentions_any(ty: &Type, params: &[&Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[&Ident]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(ident) => params.iter().any(|p| **p == ident),
            TokenTree::Group(group) => walk(group.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}

/// `#[derive(HashValue)]` on a unit-only enum.
pub(crate) fn hash_value(input: &DeriveInput) -> syn::Result<TokenStream> {
    #[derive(FromDeriveInput)]
    #[darling(attributes(redis_om))]
    struct EnumAttrs {
        #[darling(default, rename = "crate")]
        krate: Option<syn::Path>,
    }
    let attrs = EnumAttrs::from_derive_input(input)?;
    let krate = attrs.krate.unwrap_or_else(|| syn::parse_quote!(::redis_om));
    let ident = &input.ident;
    let syn::Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            ident.span(),
            "HashValue can only be derived for unit-only enums (stored by their serde name); \
             for a struct use #[derive(JsonModel)] or a JsonModel field",
        ));
    };
    let mut errors: Option<syn::Error> = None;
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            let err = syn::Error::new(
                variant.fields.span(),
                format!(
                    "HashValue needs a unit-only enum: variant `{}` has fields (a hash field holds one string)",
                    variant.ident
                ),
            );
            match &mut errors {
                Some(all) => all.combine(err),
                None => errors = Some(err),
            }
        }
    }
    // Stored by its serde name: serde must write each variant as a string.
    for unsupported in serde_attrs::enum_not_a_string(input) {
        let err = syn::Error::new(unsupported.span, unsupported.message);
        match &mut errors {
            Some(all) => all.combine(err),
            None => errors = Some(err),
        }
    }
    if let Some(err) = errors {
        return Err(err);
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::HashValue for #ident #ty_generics #where_clause {
                fn to_hash_arg(&self) -> ::core::option::Option<#krate::HashArg<'_>> {
                    #krate::__private::unit_enum_to_str(self)
                }
                fn from_hash_bytes(raw: &[u8]) -> ::core::result::Result<Self, ::std::string::String> {
                    #krate::__private::unit_enum_from_bytes(raw)
                }
            }

            #[automatically_derived]
            impl #impl_generics #krate::Indexable for #ident #ty_generics #where_clause {
                const KIND: #krate::FieldKind = #krate::FieldKind::Tag;
                type Elem = Self;
                type Field<__M, __T: #krate::Indexable, const __SORTABLE: bool> =
                    #krate::TagField<__M, __T, __SORTABLE>;
            }
        };
    })
}

/// The JSON path step to a stored name: `.name` for a plain identifier (as
/// redis-om-python writes it), `["na-me"]` for any other name, which dot
/// notation cannot express. Kept equal to `redis_om_core`'s `json_member`.
fn json_member(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        return format!(".{name}");
    }
    let mut out = String::with_capacity(name.len() + 4);
    out.push_str("[\"");
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"]");
    out
}

/// `text` as literal text inside a `format!` string.
fn fmt_literal(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}
