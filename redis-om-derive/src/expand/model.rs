//! The `Model` impl of `#[derive(HashModel)]` and `#[derive(JsonModel)]`.

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident};

use super::fields::query_fields;
use super::hash_model::hash_codec;
use super::json_model::json_decode;
use super::{
    fields_ident, fmt_literal, indexed_field, is_option_type, json_member, json_read_step,
    json_setter, mentions_any,
};
use crate::attr::ContainerAttrs;
use crate::model::{ModelDef, Storage};
use crate::serde_attrs::{self, Missing};

/// `#[derive(HashModel)]` and `#[derive(JsonModel)]`.
pub(crate) fn model(input: &DeriveInput, storage: Storage) -> syn::Result<TokenStream> {
    let attrs = ContainerAttrs::from_derive_input(input)?;
    // Hash models read only serde's `default` (when they have serde attributes).
    let serde = match storage {
        Storage::Json => serde_attrs::struct_fields(input),
        Storage::Hash if serde_attrs::has_serde_attrs(input) => serde_attrs::struct_fields(input),
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
        for field in def.fields.iter().filter(|f| !f.flatten) {
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
                // The field's setter (for `update`) writes it with serde.
                if storage == Storage::Json && field.serialize_with.is_none() {
                    where_clause.predicates.push(syn::parse_quote!(
                        #ty: #krate::__private::serde::Serialize
                    ));
                }
                if field.index.vector.is_some() {
                    where_clause
                        .predicates
                        .push(syn::parse_quote!(#ty: #krate::VectorValue));
                } else if field.index.indexed || field.ident == *pk_ident {
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
        Storage::Json => {
            let checks = vector_checks(def);
            (
                quote!(Json),
                quote! {
                    #(#checks)*
                    #krate::__private::encode_json(self)
                },
                json_decode(def),
            )
        }
    };
    let default_ttl = def.ttl_secs.map(|secs| {
        quote! {
            fn default_ttl() -> ::core::option::Option<::core::time::Duration> {
                ::core::option::Option::Some(::core::time::Duration::from_secs(#secs))
            }
        }
    });
    let expirations: Vec<TokenStream> = def
        .fields
        .iter()
        .filter_map(|f| {
            let secs = f.expire_secs?;
            let name = &f.stored_name;
            Some(quote!((#name, #secs)))
        })
        .collect();
    let field_expirations = (!expirations.is_empty()).then(|| {
        quote! {
            fn field_expirations() -> &'static [(&'static str, u64)] {
                &[#(#expirations),*]
            }
        }
    });

    // redis-om-python's order: a primary key named `pk` first (its base
    // class declares it), any other where it is declared; in a JsonModel every
    // field that is not indexed leaves an empty part in the schema text.
    let order = schema_order(def);
    let schema_steps: Vec<TokenStream> = order
        .map(|i| {
            let f = &def.fields[i];
            let indexed = i == def.pk || f.index.indexed;
            if f.flatten {
                let ty = &f.ty;
                return quote! {
                    <#ty as #krate::__private::HashEmbedded>::hash_index_fields(&mut out);
                };
            }
            if let Some(embed) = &f.embed {
                let inner = &embed.inner;
                let star = if embed.many { "[*]" } else { "" };
                let (path, alias) = if embed.flatten {
                    ("$".to_owned(), "")
                } else {
                    (
                        format!("${}{star}", json_member(&f.stored_name)),
                        f.stored_name.as_str(),
                    )
                };
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
            // A JSON field read under its serde aliases too: the union path.
            let path = (storage == Storage::Json && !f.aliases.is_empty()).then(|| {
                let ty = &f.ty;
                let format = format!("${}{{}}", fmt_literal(&json_read_step(f)));
                quote!(#krate::__private::intern(::std::format!(
                    #format,
                    if <#ty as #krate::Indexable>::MULTI { "[*]" } else { "" }
                )))
            });
            let field = indexed_field(krate, f, quote!(#name), path);
            quote! { out.push(#field); }
        })
        .collect();

    let fields = query_fields(def, storage, &generics);
    let fields_ident = fields_ident(def);
    let stored_names: Vec<&String> = match storage {
        Storage::Hash => def
            .fields
            .iter()
            .filter(|f| !f.flatten)
            .map(|f| &f.stored_name)
            .collect(),
        Storage::Json => Vec::new(),
    };

    // Every concrete model is known to the others, so that nested key prefixes
    // are found (a generic struct has no single layout to register).
    let register = if def.generics.params.is_empty() {
        quote! {
            #krate::__private::inventory::submit! {
                #krate::__private::RegisteredModel::new(
                    ::core::concat!(::core::module_path!(), "::", #model_name),
                    || <#ident as #krate::Model>::key_layout().key_prefix(),
                )
            }
        }
    } else {
        TokenStream::new()
    };

    let pk_attr = {
        let name = &def.fields[def.pk].stored_name;
        let path = match storage {
            Storage::Hash => name.clone(),
            Storage::Json => format!("${}", super::json_member(name)),
        };
        quote! {
            const PK_ATTR: (&'static str, &'static str) = (#name, #path);
        }
    };

    // `#[redis_om(version)]`: the field the server checks and increments on save.
    let version = match def.version.map(|i| &def.fields[i]) {
        Some(f) => {
            let (ident, ty, name) = (&f.ident, &f.ty, &f.stored_name);
            quote_spanned! {f.ty.span()=>
                const VERSION_FIELD: ::core::option::Option<&'static str> =
                    ::core::option::Option::Some(#name);

                const VERSION_MAX: i64 = <#ty as #krate::Version>::MAX;

                fn version(&self) -> ::core::option::Option<i64> {
                    <#ty as #krate::Version>::to_i64(&self.#ident)
                }

                fn set_version(&mut self, version: i64) -> bool {
                    match <#ty as #krate::Version>::from_i64(version) {
                        ::core::option::Option::Some(value) => {
                            self.#ident = value;
                            true
                        }
                        ::core::option::Option::None => false,
                    }
                }
            }
        }
        None => TokenStream::new(),
    };

    let setters = setters(def, storage, &generics);
    // A struct flattened into the model stores nothing under a name the
    // model's own fields use, and no two flattened structs share a name:
    // checked at compile time (concrete models). In a hash they would
    // overwrite each other; in a JSON document serde writes the member twice
    // and reads one of them, and the index refuses the duplicate attribute.
    let flat_names_check = if def.generics.params.is_empty() {
        // The flattened structs, with the names each stores.
        let flat: Vec<(&crate::model::FieldDef, TokenStream)> = def
            .fields
            .iter()
            .filter_map(|f| match storage {
                Storage::Hash if f.flatten => {
                    let ty = &f.ty;
                    // A hash flattens one level: its names are all its own.
                    Some((
                        f,
                        quote!(#krate::__private::Members {
                            own: <#ty as #krate::__private::HashEmbedded>::NAMES,
                            flattened: &[],
                        }),
                    ))
                }
                Storage::Json => match &f.embed {
                    Some(embed) if embed.flatten => {
                        let inner = &embed.inner;
                        Some((f, quote!(<#inner as #krate::Embedded>::MEMBERS)))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        // The model's own names (serde's aliases of a JSON field too: serde
        // would give the member to that field).
        let own: Vec<&String> = def
            .fields
            .iter()
            .filter(|f| !flat.iter().any(|(g, _)| std::ptr::eq(*g, *f)))
            // A JSON field serde neither writes nor reads holds no member.
            .filter(|f| storage == Storage::Hash || f.has_member())
            .flat_map(|f| std::iter::once(&f.stored_name).chain(&f.aliases))
            .collect();
        let own = quote!(#krate::__private::Members { own: &[#(#own),*], flattened: &[] });
        let (container, rename, overwrite) = match storage {
            Storage::Hash => (
                "hash",
                "#[redis_om(rename = \"…\")]",
                "they would overwrite each other in the hash",
            ),
            Storage::Json => (
                "JSON document",
                "#[serde(rename = \"…\")]",
                "serde would write the member twice and read only one of them",
            ),
        };
        super::flatten_clash_checks(&def.ident, &own, &flat, container, rename, overwrite)
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

                fn encode(&self) -> ::core::result::Result<#krate::__private::Encoded<'_>, ::std::string::String> {
                    #encode
                }

                fn decode(key: &str, stored: #krate::__private::Stored<'_>) -> #krate::Result<Self> {
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

                type Setters = __RedisOmSetters #ty_generics;

                fn setters() -> Self::Setters {
                    __RedisOmSetters::__new()
                }

                fn stored_names() -> &'static [&'static str] {
                    &[#(#stored_names),*]
                }

                #version
                #pk_attr
                #default_ttl
                #field_expirations
            }

            #register

            #setters

            #flat_names_check
        };
    }
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

/// The setters of the stored fields, for `update`: a struct inside the
/// derive's `const _` block, so that its name cannot collide with the user's
/// types (it is only ever reached as `<Model as Model>::Setters`).
fn setters(def: &ModelDef, storage: Storage, bounded: &syn::Generics) -> TokenStream {
    let krate = &def.krate;
    let ident = &def.ident;
    let (impl_generics, ty_generics, where_clause) = bounded.split_for_impl();
    let (_, model_generics, _) = def.generics.split_for_impl();
    let model = quote!(#ident #model_generics);
    let mut decls = Vec::new();
    let mut inits = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        // The key names the document; the version moves only with saves; a
        // field serde does not write, or writes elsewhere, has no place to set.
        if i == def.pk || Some(i) == def.version || !f.written || f.unindexable.is_some() {
            continue;
        }
        let (field, ty) = (&f.ident, &f.ty);
        let doc = format!("Sets `{field}`.");
        if f.flatten {
            let doc = format!("The setters of the fields flattened from `{field}`.");
            decls.push(quote! {
                #[doc = #doc]
                pub #field: <#ty as #krate::Embedded>::Setters<#model>
            });
            inits.push(quote! {
                #field: <#ty as #krate::__private::HashEmbedded>::hash_setters::<#model>()
            });
            continue;
        }
        // A flattened struct's fields are the model's own members: their
        // setters, at the document's root.
        if let Some(embed) = f.embed.as_ref().filter(|e| e.flatten) {
            let inner = &embed.inner;
            let doc = format!("The setters of the fields flattened from `{field}`.");
            decls.push(quote! {
                #[doc = #doc]
                pub #field: <#inner as #krate::Embedded>::Setters<#model>
            });
            inits.push(quote! { #field: <#inner as #krate::Embedded>::setters::<#model>("$") });
            continue;
        }
        let (target, encode) = match storage {
            Storage::Hash => {
                let indexed = f.index.indexed;
                let vector_check = f.index.vector.as_ref().map(|v| {
                    let options = super::vector_options(krate, ty, v);
                    quote!(#krate::__private::check_vector(value, &#options)?;)
                });
                // `<Ty as HashValue>` as in `encode`, so that a type that is not
                // storable gives its one error at the field's type.
                (
                    f.stored_name.clone(),
                    quote! {
                        |value: &#ty| {
                            #vector_check
                            <#ty as #krate::HashValue>::check(value, #indexed)?;
                            ::core::result::Result::Ok(
                                <#ty as #krate::HashValue>::to_hash_arg(value)
                                    .map(#krate::__private::hash_arg_bytes),
                            )
                        }
                    },
                )
            }
            Storage::Json => (
                format!("${}", json_member(&f.stored_name)),
                json_setter(krate, f),
            ),
        };
        // A single embedded struct (not a list, not an Option): set whole, or
        // field by field (`u.address.city.set(..)`).
        if let Some(embed) = f.embed.as_ref().filter(|e| !e.many && !is_option_type(ty)) {
            let inner = &embed.inner;
            decls.push(quote! {
                #[doc = #doc]
                pub #field: #krate::Nested<#model, #inner>
            });
            inits.push(quote! {
                #field: #krate::Nested::new(
                    #krate::Set::new(#target, #encode),
                    <#inner as #krate::Embedded>::setters::<#model>(#target),
                )
            });
            continue;
        }
        decls.push(quote! {
            #[doc = #doc]
            pub #field: #krate::Set<#model, #ty>
        });
        // serde aliases of a JSON member: removed by the setter.
        let aliases: Vec<String> = match storage {
            Storage::Json => f
                .aliases
                .iter()
                .map(|alias| format!("${}", json_member(alias)))
                .collect(),
            Storage::Hash => Vec::new(),
        };
        if aliases.is_empty() {
            inits.push(quote! { #field: #krate::Set::new(#target, #encode) });
        } else {
            inits.push(quote! {
                #field: #krate::Set::new(#target, #encode).with_aliases(&[#(#aliases),*])
            });
        }
    }
    let marker = (!def.generics.params.is_empty()).then(|| {
        quote! { __model: ::core::marker::PhantomData<fn() -> #model> }
    });
    let marker_init = marker
        .as_ref()
        .map(|_| quote! { __model: ::core::marker::PhantomData });
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, non_camel_case_types, missing_debug_implementations, missing_docs)]
        pub struct __RedisOmSetters #impl_generics #where_clause {
            #(#decls,)*
            #marker
        }

        #[allow(clippy::all)]
        impl #impl_generics __RedisOmSetters #ty_generics #where_clause {
            fn __new() -> Self {
                __RedisOmSetters { #(#inits,)* #marker_init }
            }
        }
    }
}

/// `check_vector` of every vector field, before it is written: a vector of
/// another length than the index's `dim` would leave the document unindexed.
pub(super) fn vector_checks(def: &ModelDef) -> Vec<TokenStream> {
    let krate = &def.krate;
    def.fields
        .iter()
        .filter_map(|f| {
            let v = f.index.vector.as_ref()?;
            let (ident, name) = (&f.ident, &f.stored_name);
            let options = super::vector_options(krate, &f.ty, v);
            Some(quote! {
                #krate::__private::check_vector(&self.#ident, &#options)
                    .map_err(|e| ::std::format!("field {:?}: {}", #name, e))?;
            })
        })
        .collect()
}

/// After decoding: a stored vector of another length than `dim` (written by
/// another client; the index refused that document) is an error naming the
/// field, not a model that cannot be saved back.
pub(super) fn vector_read_checks(def: &ModelDef) -> Vec<TokenStream> {
    let krate = &def.krate;
    def.fields
        .iter()
        .filter_map(|f| {
            let v = f.index.vector.as_ref()?;
            let (ident, name, dim) = (&f.ident, &f.stored_name, v.dim);
            Some(quote! {
                #krate::__private::check_vector_len(&model.#ident, #dim)
                    .map_err(|e| #krate::__private::field_error(key, #name, e))?;
            })
        })
        .collect()
}
