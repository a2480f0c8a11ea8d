//! Code generation, one file per derive; this file holds what they share.
//! Generated code uses absolute paths through the `redis_om` crate (or
//! `#[redis_om(crate = "…")]`) and lives in `const _: () = { … };`.

mod embedded;
mod fields;
mod hash_model;
mod hash_value;
mod json_model;
mod model;

pub(crate) use self::embedded::embedded;
pub(crate) use self::hash_value::hash_value;
pub(crate) use self::model::model;

use proc_macro2::{TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{Ident, Type};

use crate::model::ModelDef;

fn fields_ident(def: &ModelDef) -> &Ident {
    &def.fields_ident
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
    let (missing, empty) = (f.index.missing, f.index.empty);
    let path = path.map(|path| quote!(.with_path(#path)));
    if let Some(v) = &f.index.vector {
        let options = vector_options(krate, ty, v);
        return quote! {
            #krate::IndexedField::new(#name, #krate::FieldKind::Vector(#options), false)
            #path
        };
    }
    quote! {
        #krate::IndexedField::new(
            #name,
            <#ty as #krate::Indexable>::KIND,
            <#ty as #krate::Indexable>::MULTI,
        )
        .with_sortable(#sortable)
        .with_full_text(#full_text)
        .with_case_sensitive(#case_sensitive)
        .with_separator(#separator)
        .with_index_missing(#missing)
        .with_index_empty(#empty)
        #path
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

/// The JSON path step to a stored name: `.name` for a plain identifier (as
/// redis-om-python writes it), `["na-me"]` for any other name, which dot
/// notation cannot express. Kept equal to `redis_om_core`'s `json_member`.
fn json_member(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        return format!(".{name}");
    }
    format!("[{}]", quoted(name))
}

/// `name` in double quotes, a JSON path's bracket notation (`"na-me"`).
fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The JSON path step that reads a field: its member, or for a field with
/// serde aliases the union of its member and the aliases
/// (`["full_name","name"]`), so that documents an older version of the model
/// wrote under an alias are indexed, found and selected too, as serde reads
/// them. Writes go to the member alone (the setters remove the aliases). A
/// vector field keeps its member: its value must be one array.
fn json_read_step(f: &crate::model::FieldDef) -> String {
    if f.aliases.is_empty() || f.index.vector.is_some() {
        return json_member(&f.stored_name);
    }
    let names: Vec<String> = std::iter::once(&f.stored_name)
        .chain(&f.aliases)
        .map(|name| quoted(name))
        .collect();
    format!("[{}]", names.join(","))
}

/// Compile-time checks that the structs flattened into `ident` (each with
/// the expression of its `Members`) share no stored name with its own names
/// (`own`, a `Members` expression) nor with each other.
fn flatten_clash_checks(
    ident: &Ident,
    own: &TokenStream,
    flat: &[(&crate::model::FieldDef, TokenStream)],
    container: &str,
    rename: &str,
    overwrite: &str,
) -> TokenStream {
    use syn::spanned::Spanned;
    let mut out = TokenStream::new();
    for (f, names) in flat {
        let message = format!(
            "a field of the struct flattened as `{}` is stored under the name of a field of `{ident}` \
             in the {container}: rename one of them ({rename})",
            f.ident
        );
        out.extend(quote::quote_spanned! {f.ty.span()=>
            const _: () = if (#own).shared_with(&#names).is_some() {
                ::core::panic!(#message)
            };
        });
    }
    for (i, (a, names_a)) in flat.iter().enumerate() {
        for (b, names_b) in &flat[i + 1..] {
            let message = format!(
                "the structs flattened as `{}` and `{}` store a field under the same name: {overwrite}",
                a.ident, b.ident
            );
            out.extend(quote::quote_spanned! {b.ty.span()=>
                const _: () = if (#names_a).shared_with(&#names_b).is_some() {
                    ::core::panic!(#message)
                };
            });
        }
    }
    out
}

/// `text` as literal text inside a `format!` string.
fn fmt_literal(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// The encoder of a JSON field's setter: serde's, or the field's own
/// `serialize_with` (`#[serde(with = "redis_om::timestamp")]`).
fn json_setter(krate: &syn::Path, f: &crate::model::FieldDef) -> TokenStream {
    let ty = &f.ty;
    let encode = match &f.serialize_with {
        Some(path) => quote! {
            #krate::__private::json_patch_value_with(
                #path(value, #krate::__private::serde_json::value::Serializer)
            )
        },
        None => quote! { #krate::__private::json_patch_value(value) },
    };
    // A vector of another length than the index's would unindex the document.
    let encode = match &f.index.vector {
        Some(v) => {
            let options = vector_options(krate, ty, v);
            quote! {{
                #krate::__private::check_vector(value, &#options)?;
                #encode
            }}
        }
        None => encode,
    };
    match &f.skip_if {
        // What serde leaves out of the document, the setter removes, as a
        // save would (`None` with `skip_serializing_if = "Option::is_none"`
        // then stays missing for `is_missing()`).
        Some(skip) => quote! {
            |value: &#ty| if #skip(value) {
                ::core::result::Result::Ok(::core::option::Option::None)
            } else {
                #encode
            }
        },
        None => quote! { |value: &#ty| #encode },
    }
}

/// The `VectorOptions` of a `vector(..)` field.
pub(super) fn vector_options(
    krate: &syn::Path,
    ty: &Type,
    v: &crate::model::VectorDef,
) -> TokenStream {
    let algorithm = syn::Ident::new(v.algorithm, proc_macro2::Span::call_site());
    let distance = syn::Ident::new(v.distance, proc_macro2::Span::call_site());
    let dim = v.dim;
    let mut options = quote! {
        #krate::VectorOptions::new(
            #krate::VectorAlgorithm::#algorithm,
            <<#ty as #krate::VectorValue>::Elem as #krate::VectorElement>::TYPE,
            #dim,
            #krate::DistanceMetric::#distance,
        )
    };
    let numbers = [
        ("with_initial_cap", v.initial_cap),
        ("with_block_size", v.block_size),
        ("with_m", v.m),
        ("with_ef_construction", v.ef_construction),
        ("with_ef_runtime", v.ef_runtime),
    ];
    for (method, value) in numbers {
        if let Some(value) = value {
            let method = syn::Ident::new(method, proc_macro2::Span::call_site());
            options = quote!(#options.#method(#value));
        }
    }
    if let Some(epsilon) = &v.epsilon {
        options = quote!(#options.with_epsilon(#epsilon));
    }
    options
}

/// Whether the type is written `Option<…>`.
fn is_option_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}
