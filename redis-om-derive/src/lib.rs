//! Derive macros of [redis-om](https://docs.rs/redis-om): `HashModel`,
//! `JsonModel`, `EmbeddedModel` and `HashValue`. Use them through the `redis-om` crate; the
//! generated code refers to `::redis_om` (or the path given with
//! `#[redis_om(crate = "…")]`).
//!
//! This crate only parses, checks and generates code: attributes are parsed in
//! `attr` (with darling), checked in `model`, and every line of
//! output in `expand`.

mod attr;
mod expand;
mod model;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Stores a struct as a Redis hash; see the `redis-om` crate docs.
#[proc_macro_derive(HashModel, attributes(redis_om))]
pub fn derive_hash_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::model(&input, model::Storage::Hash)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Stores a serde struct as a RedisJSON document; see the `redis-om` crate docs.
#[proc_macro_derive(JsonModel, attributes(redis_om))]
pub fn derive_json_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::model(&input, model::Storage::Json)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Lets a unit-only enum be a `HashModel` field, stored by its serde name.
#[proc_macro_derive(HashValue, attributes(redis_om))]
pub fn derive_hash_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::hash_value(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// A serde struct stored inside a `JsonModel` field marked
/// `#[redis_om(embed)]`, whose own `#[redis_om(index)]` fields are indexed
/// (`$.address.city AS address_city`); see the `redis-om` crate docs.
#[proc_macro_derive(EmbeddedModel, attributes(redis_om))]
pub fn derive_embedded_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::embedded(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
