//! Derive macros of [redis-om](https://docs.rs/redis-om-rs): `HashModel`,
//! `JsonModel`, `EmbeddedModel` and `HashValue`. Use them through the
//! `redis-om-rs` crate (`use redis_om::prelude::*;`); the generated code
//! refers to `::redis_om` (or the path given with `#[redis_om(crate = "…")]`).
//! Each derive documents the attributes it accepts.
//!
//! This crate only parses, checks and generates code: attributes are parsed in
//! `attr` (with darling) and `#[serde(...)]` in `serde_attrs` (with serde's
//! own `serde_derive_internals`), checked in `model`, and every line of
//! output in `expand`.
#![warn(missing_docs)]

mod attr;
mod expand;
mod model;
mod serde_attrs;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Stores a struct as a Redis hash, one hash field per struct field, with the
/// key layout and encodings of redis-om-python's `HashModel`; implements
/// `redis_om::Model` (and so `AsyncModel` / `SyncModel`).
///
/// ```
/// use redis_om::prelude::*;
///
/// #[derive(serde::Serialize, serde::Deserialize, HashValue, Debug, Clone, PartialEq)]
/// enum Plan { Free, Pro }
///
/// #[derive(HashModel, Debug, Clone, PartialEq)]
/// #[redis_om(global_prefix = "app", prefix = "User")]
/// struct User {
///     #[redis_om(primary_key)]
///     pk: Option<String>,          // empty: a UUID v7 is generated on save
///     #[redis_om(index, sortable)]
///     age: u32,                    // NUMERIC SORTABLE
///     #[redis_om(index, case_sensitive)]
///     email: String,               // TAG SEPARATOR | CASESENSITIVE
///     #[redis_om(full_text)]
///     bio: String,                 // TAG, and bio_fts TEXT
///     #[redis_om(index)]
///     plan: Plan,                  // TAG, stored by its serde name
///     #[redis_om(rename = "avatar_url")]
///     avatar: Option<String>,      // not indexed; None is not stored
/// }
///
/// assert_eq!(User::key_layout().key("01J"), "app:User:01J");
/// assert!(User::index_schema().text().contains("age NUMERIC SORTABLE"));
/// let _query = User::find(|u| u.age.ge(18) & u.bio.matches("rust") & u.plan.eq(Plan::Pro));
/// ```
///
/// # Field types
///
/// `String`, every integer and float type, `bool`, `uuid::Uuid`,
/// `chrono::DateTime<Utc>` and `chrono::NaiveDate` (feature `chrono`), unit-only
/// enums with [`#[derive(HashValue)]`](derive@HashValue), `Vec<u8>` and
/// `bytes::Bytes` (feature `bytes`), and `Option<T>` of those (`None` is not
/// stored). Any other type is a compile error at the field that says to use a
/// `JsonModel`.
///
/// `Vec<u8>` and `bytes::Bytes` are binary: stored as the bytes themselves (any
/// byte sequence, NUL, invalid UTF-8 or empty, reads back as it was), and not
/// indexable (an indexed `Vec<u8>` is a compile error). redis-om-python 1.2
/// stores a `bytes` field of a *hash* model as base64 text instead, so a hash
/// model shared with Python should keep such a field a `String` of base64.
///
/// # Defaults, expiring fields and a TTL
///
/// ```
/// use redis_om::prelude::*;
///
/// fn guest() -> String { "guest".into() }
///
/// #[derive(HashModel, Debug, Clone, PartialEq)]
/// #[redis_om(ttl_secs = 86400)]            // every save: the document expires in a day
/// struct Session {
///     pk: Option<String>,
///     #[redis_om(default = "guest")]       // added later: older documents read "guest"
///     role: String,
///     #[redis_om(default)]                 // or #[serde(default)]: u32::default()
///     visits: u32,
///     #[redis_om(expire_secs = 300)]       // HEXPIRE 300 (Redis 7.4+); then None
///     otp: Option<String>,
///     avatar: Vec<u8>,                     // binary
/// }
/// assert_eq!(Session::default_ttl(), Some(std::time::Duration::from_secs(86400)));
/// ```
///
/// # Struct attributes: `#[redis_om(...)]`
///
/// | attribute | meaning |
/// |---|---|
/// | `global_prefix = "app"` | first part of every key: `{global_prefix}:{prefix}:{pk}` (default empty, which gives a leading `:`) |
/// | `prefix = "User"` | model part of the key (default: the type's name); not empty |
/// | `index_name = "…"` | the RediSearch index name (default `{global_prefix}:{prefix}:index`); not empty |
/// | `crate = "path::to::redis_om"` | where the generated code finds the runtime, when the dependency is renamed or re-exported (default `::redis_om`) |
/// | `fields = "UserQuery"` | the name of the generated struct of query handles (default `{Model}Fields`, declared beside the struct with its visibility; rename it when a type of that name exists) |
/// | `ttl_secs = 3600` | the default time to live, set on every save (`save`, `save_with`, `save_all`) unless the call sets another (`SaveOptions::ttl`) or none (`SaveOptions::persist`); at least 1. Without it a save keeps the TTL the key has |
///
/// Leading and trailing `:` of the prefixes are stripped, as redis-om-python does.
///
/// # Field attributes: `#[redis_om(...)]`
///
/// | attribute | meaning |
/// |---|---|
/// | `primary_key` | the primary key (otherwise the field named `pk`; one of them must exist, and only one field may be marked): `String`, `Option<String>`, `Uuid`, `Option<Uuid>` (generated when empty) or an integer (set by you). Always indexed |
/// | `index` | index the field: `TAG SEPARATOR \|` for strings, enums, UUIDs and `bool`; `NUMERIC` for numbers, datetimes and dates |
/// | `sortable` | index the field `SORTABLE` (implies `index`) |
/// | `full_text` | also index a string as `{name}_fts TEXT`, for `matches`, `matches_phrase`, `matches_prefix` and `fuzzy` (implies `index`) |
/// | `case_sensitive` | a `CASESENSITIVE` TAG (needs `index`, `sortable` or `full_text`) |
/// | `separator = ","` | the TAG separator, one non-space character (default `\|`; needs an index) |
/// | `index_missing`, `index_empty` | also index missing values (`INDEXMISSING`: a hash without the field, a JSON document without the member) and empty strings (`INDEXEMPTY`, string fields), for `u.field.is_missing()` and `u.field.is_empty()` (RediSearch 2.10+; needs an index). Opting in changes the schema text, so the index is no longer schema-identical to redis-om-python's. In a JsonModel an `Option` needs `#[serde(skip_serializing_if = "Option::is_none")]` (serde writes `None` as `null`, which the index does not count as missing) |
/// | `rename = "…"` | the name of the hash field (default: the field's name); not empty |
/// | `version` | an integer field (`u64`, `i64`, `u32`, …; at most one, not the primary key) for optimistic locking: `save` writes only if the stored version equals the model's (a document not stored yet counts as version 0), checked and written atomically on the server, and moves the model to the next version; otherwise `Error::Conflict { key, expected, found }` and nothing is written |
/// | `default`, `default = "path"` | a stored hash without this field (written by an older version of the model, or the field expired) reads `Default::default()` or `path()` instead of failing with `Error::Decode`. `#[serde(default)]` and `#[serde(default = "path")]` mean the same (of `#[serde(...)]`, hash models read only `default`, also on the struct: the field of the struct's `Default`); give one of the two |
/// | `expire_secs = 30` | the hash field expires on its own: every save sets `HEXPIRE key 30 FIELDS 1 name` in the same atomic write (Redis 7.4+; older servers: `Error::Unsupported`, nothing written). A field that still has time left keeps it when the document is saved again, as in redis-om-python; one written anew (first save, after it expired or was `None`) gets the full time. After it expires the document reads without it, so the field must be an `Option` (read as `None`) or have a `default`; not the primary key; at least 1 |
/// | `flatten` | the field is a [`#[derive(EmbeddedModel)]`](derive@EmbeddedModel) struct with `#[redis_om(hash)]` whose fields are stored, indexed and queried as the model's own hash fields (`n.base.tenant.eq(..)`, `u.base.tenant.set(..)`): shared fields composed into several models, as redis-om-python's inherited fields. A name used by both the model and the struct is a compile error |
///
/// Misuse is a compile error pointing at the attribute: an unknown or
/// duplicate attribute (with a suggestion for a misspelling), two primary keys,
/// no primary key, a tuple struct or an enum, `case_sensitive` or `separator`
/// on a field that is not indexed, `embed` (JSON models only), two fields
/// stored under one name, an indexed `Vec<u8>`, `expire_secs` on a field that
/// is neither an `Option` nor defaulted, a default given twice, `ttl_secs = 0`.
#[proc_macro_derive(HashModel, attributes(redis_om, serde))]
pub fn derive_hash_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::model(&input, model::Storage::Hash)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Stores a serde struct (`Serialize + Deserialize`) as a RedisJSON document
/// (`JSON.SET key $ …`), with the key layout of redis-om-python's
/// `JsonModel`; implements `redis_om::Model` (and so `AsyncModel` / `SyncModel`).
///
/// Fields may be any serde type: nested structs, `Vec`, maps. The
/// `#[serde(...)]` attributes are read as serde reads them (with serde's own
/// parser, `serde_derive_internals`), so an indexed field is indexed under the
/// name serde writes (`$.name AS name`, `$.tags[*] AS tags` for a `Vec`):
///
/// - `rename` and `rename_all` (every rule; case is converted in ASCII, as
///   serde does) set the stored and indexed names;
/// - `skip_serializing_if`, `default`, `with`/`serialize_with`/`deserialize_with`
///   and `flatten` work as in serde; a selected field (`select`) missing
///   from a document takes serde's `default`, as `get` does, and is read with
///   the field's `with`/`deserialize_with`;
/// - a field serde does not write (`skip`, `skip_serializing`), does not read
///   back (`skip_deserializing`) or writes into its parent (`flatten`) cannot
///   be indexed, embedded or the primary key: that is a compile error at the
///   serde option. Not indexed, it is serde's business only.
///
/// ```compile_fail
/// use redis_om::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(JsonModel, Serialize, Deserialize)]
/// struct Note {
///     pk: Option<String>,
///     #[redis_om(index)]
///     #[serde(skip)]          // error: `title` is indexed, but with #[serde(skip)] serde never writes it
///     title: String,
/// }
/// ```
///
/// ```
/// use redis_om::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(EmbeddedModel, Serialize, Deserialize)]
/// struct Address {
///     #[redis_om(index)]
///     city: String,
///     street: String,
/// }
///
/// #[derive(JsonModel, Serialize, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// #[redis_om(prefix = "Customer")]
/// struct Customer {
///     pk: Option<String>,
///     #[redis_om(index, sortable)]
///     first_name: String,          // stored and indexed as $.firstName
///     #[redis_om(index)]
///     tags: Vec<String>,           // $.tags[*], a TAG per item
///     #[redis_om(embed)]
///     address: Address,            // $.address.city AS address_city
///     notes: Vec<String>,          // stored, not indexed
/// }
///
/// assert!(Customer::index_schema().text().contains("$.firstName AS firstName"));
/// let _query = Customer::find(|c| c.address.city.eq("Paris") & c.tags.eq("vip"));
/// ```
///
/// Datetimes are stored as epoch seconds, as redis-om-python does, with
/// `#[serde(with = "redis_om::timestamp")]` (feature `chrono`;
/// `timestamp::option`, `timestamp::date`, `timestamp::date::option` for the
/// other types). An *indexed* chrono field without it is a compile error
/// naming the fix. Binary data (`Vec<u8>`) is stored as base64 text, as
/// redis-om-python stores `bytes`, with `#[serde(with = "redis_om::base64")]`
/// (`base64::option` for `Option<Vec<u8>>`); without it serde writes an array
/// of numbers, which Python cannot read.
///
/// A field added to the struct later needs serde's `#[serde(default)]` (or
/// `default = "path"`, or an `Option`) so that documents saved before it load.
///
/// # Struct attributes: `#[redis_om(...)]`
///
/// | attribute | meaning |
/// |---|---|
/// | `global_prefix = "app"` | first part of every key: `{global_prefix}:{prefix}:{pk}` (default empty) |
/// | `prefix = "Customer"` | model part of the key (default: the type's name); not empty |
/// | `index_name = "…"` | the RediSearch index name (default `{global_prefix}:{prefix}:index`); not empty |
/// | `crate = "path::to::redis_om"` | where the generated code finds the runtime (default `::redis_om`) |
/// | `fields = "UserQuery"` | the name of the generated struct of query handles (default `{Model}Fields`, declared beside the struct with its visibility; rename it when a type of that name exists) |
/// | `ttl_secs = 3600` | the default time to live, set on every save unless the call sets another (`SaveOptions::ttl`) or none (`SaveOptions::persist`) |
///
/// # Field attributes: `#[redis_om(...)]`
///
/// | attribute | meaning |
/// |---|---|
/// | `primary_key` | the primary key (otherwise the field named `pk`): `String`, `Option<String>`, `Uuid`, `Option<Uuid>` (generated when empty) or an integer (set by you) |
/// | `index` | index the field at `$.{name}`: TAG for strings, enums, UUIDs, `bool` and `Vec`s of them; NUMERIC for numbers |
/// | `sortable` | index the field `SORTABLE` (implies `index`) |
/// | `full_text` | also index a string as `{name}_fts TEXT` (implies `index`) |
/// | `case_sensitive` | a `CASESENSITIVE` TAG (needs an index) |
/// | `separator = ","` | the TAG separator, one non-space character (default `\|`; needs an index) |
/// | `index_missing`, `index_empty` | also index missing values (`INDEXMISSING`: a hash without the field, a JSON document without the member) and empty strings (`INDEXEMPTY`, string fields), for `u.field.is_missing()` and `u.field.is_empty()` (RediSearch 2.10+; needs an index). Opting in changes the schema text, so the index is no longer schema-identical to redis-om-python's. In a JsonModel an `Option` needs `#[serde(skip_serializing_if = "Option::is_none")]` (serde writes `None` as `null`, which the index does not count as missing) |
/// | `embed` | the field is a [`#[derive(EmbeddedModel)]`](derive@EmbeddedModel) struct (`T`, `Option<T>` or `Vec<T>`) whose own indexed fields are indexed as `$.{field}.{name} AS {field}_{name}` and queried as `c.field.name`; with `#[serde(flatten)]` on the field, the struct's fields are the model's own members, indexed as `$.{name} AS {name}` (shared fields composed into several models, as redis-om-python's inherited fields) |
/// | `version` | an integer field (`u64`, `i64`, `u32`, …; at most one, not the primary key) for optimistic locking: `save` writes only if the stored version equals the model's (a document not stored yet counts as version 0), checked and written atomically on the server, and moves the model to the next version; otherwise `Error::Conflict { key, expected, found }` and nothing is written |
///
/// `rename` and `default` are refused on JSON models: use `#[serde(rename = "…")]`
/// and `#[serde(default)]`; so is `expire_secs` (a JSON document expires as a
/// whole: `ttl_secs`).
#[proc_macro_derive(JsonModel, attributes(redis_om))]
pub fn derive_json_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::model(&input, model::Storage::Json)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Lets a unit-only enum be a `HashModel` field (and an indexed TAG), stored by
/// its serde name; the enum also derives `serde::Serialize` and
/// `serde::Deserialize`.
///
/// ```
/// use redis_om::prelude::*;
///
/// #[derive(serde::Serialize, serde::Deserialize, HashValue, Debug, Clone, Copy, PartialEq)]
/// #[serde(rename_all = "lowercase")]
/// enum Status { Active, Suspended }
///
/// #[derive(HashModel)]
/// struct Account {
///     pk: Option<String>,
///     #[redis_om(index)]
///     status: Status,              // stored as "active" / "suspended"
/// }
///
/// let _query = Account::find(|a| a.status.eq(Status::Active));
/// ```
///
/// # Attributes
///
/// `#[redis_om(crate = "path::to::redis_om")]` on the enum, when the
/// dependency is renamed or re-exported. An enum with a variant that has
/// fields, or a struct, is a compile error.
///
/// Of serde's attributes, `rename_all` (every rule), and `rename` and
/// `alias` on variants, are supported. Any that makes serde write a variant as
/// something other than its name is a compile error at the attribute (a
/// value that is not a string could not be stored in a hash field):
/// `untagged`, `tag` (and `content`), `into` and `remote` on the enum;
/// `untagged`, `skip`, `skip_serializing`, `skip_deserializing`, `with`,
/// `serialize_with` and `deserialize_with` on a variant.
///
/// ```compile_fail
/// use redis_om::prelude::*;
///
/// #[derive(serde::Serialize, serde::Deserialize, HashValue)]
/// #[serde(untagged)]          // error: serde would write a unit variant as `null`
/// enum Status { Active, Suspended }
/// ```
#[proc_macro_derive(HashValue, attributes(redis_om))]
pub fn derive_hash_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::hash_value(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// A serde struct stored inside a `JsonModel` field marked
/// `#[redis_om(embed)]` (the field may be `T`, `Option<T>` or `Vec<T>`). Its
/// `#[redis_om(index)]` fields are indexed at `$.field.name AS field_name`
/// (`$.field[*].name` in a list), as redis-om-python's embedded models, and
/// queried through the parent's handles: `Order::find(|o| o.address.city.eq("Paris"))`.
///
/// ```
/// use redis_om::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(EmbeddedModel, Serialize, Deserialize)]
/// struct Line {
///     #[redis_om(index)]
///     sku: String,
///     #[redis_om(index)]
///     quantity: u32,
/// }
///
/// #[derive(JsonModel, Serialize, Deserialize)]
/// struct Order {
///     pk: Option<String>,
///     #[redis_om(embed)]
///     lines: Vec<Line>,
/// }
///
/// assert!(Order::index_schema().text().contains("$.lines[*].sku AS lines_sku"));
/// let _query = Order::find(|o| o.lines.sku.eq("A-1"));
/// ```
///
/// # Attributes
///
/// On the struct, only `crate = "path::to::redis_om"` and `fields = "…"` (the
/// name of its generated struct of query handles, default `{Type}Fields`); an
/// embedded struct has no key of its own: `global_prefix`, `prefix` and
/// `index_name` are compile errors, and so is `primary_key`. Its
/// `#[serde(...)]` attributes are read as in a [`JsonModel`](derive@JsonModel). On fields, the same as
/// [`JsonModel`](derive@JsonModel): `index`, `sortable`, `full_text`,
/// `case_sensitive`, `separator = "…"`, and `embed` for a further embedded struct.
/// Generic structs are not supported.
///
/// `#[redis_om(hash)]` on the struct also lets a `HashModel` flatten it
/// (`#[redis_om(flatten)]` on the field): its fields, each a hash field type,
/// are then stored as the model's own hash fields, under their serde names. A
/// struct with `hash` cannot embed another struct.
#[proc_macro_derive(EmbeddedModel, attributes(redis_om))]
pub fn derive_embedded_model(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::embedded(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
