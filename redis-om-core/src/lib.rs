//! The runtime of [redis-om](https://docs.rs/redis-om-rs): model traits, key
//! layout, encodings and command execution. Depend on the `redis-om-rs` crate
//! (library `redis_om`), which re-exports all of this together with the
//! derive macros at exactly matching versions.
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The modules form layers, bottom to top; each uses only the layers above it
// in this list. Foundations: errors, values, primary keys, execution on
// either kind of connection.
mod batch;
mod error;
mod exec;
mod geo;
mod json_encode;
mod pk;
mod value;
mod vector;
// Storage: replies and encodings, not models.
mod info;
mod storage;
// The registry of the program's models.
mod registry;
// The key layout of a model.
mod key;
// The index definition (data only).
mod schema;
// The model trait.
mod model;
// Commands as values, run on any connection.
mod request;
// Single-document operations.
mod ops;
// Partial updates.
mod update;
// Typed queries: handles, builder, plans, runners.
mod query;
// Bulk pipelines, key scans, index status.
mod bulk;
mod scan;
mod status;
// Index migrations.
mod migrator;
// The model operations.
mod store;
// Connecting.
mod connect;
// A local cache of decoded models, invalidated by Redis (client tracking).
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
// Redis Cluster: a connection that makes a cluster answer as one server.
pub mod cluster;
// The blocking API.
pub mod blocking;

// serde helpers for fields (`#[serde(with = "redis_om::…")]`): leaves, used by
// no other module.
pub mod base64;
#[cfg(feature = "chrono")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
pub mod timestamp;

pub use cluster::{cluster_urls, connect_cluster, ClusterConnection, SearchMode, CLUSTER_URLS_ENV};
pub use connect::{
    connect, connect_with, manager_config, url, CLUSTER_RESPONSE_TIMEOUT, CONNECTION_TIMEOUT,
    DEFAULT_URL, RESPONSE_TIMEOUT, URL_ENV,
};
pub use error::{BulkFailure, Error, FailureKind, Result};
pub use geo::{Coordinates, GeoUnit};
pub use key::KeyLayout;
pub use migrator::{MigrationAction, MigrationReport, Migrator, ModelMigration};
pub use model::{Condition, Model, SaveOptions, Version};
pub use pk::{PkArg, PrimaryKey};
pub use query::{
    reduce, AggExpr, AggRow, Aggregate, Applied, AsyncAggregate, Column, Columns, Count,
    CountDistinct, FirstValue, GroupKeys, Grouped, Having, NumColumn, Numeric, NumericReducedField,
    Operand, ReducedField, Reducer, Reducers, SyncAggregate, ToList,
};
pub use query::{
    Absent, AbsentOnly, AsyncQuery, BoolField, ByDistance, Embedded, Expr, Find, FullText,
    GeoField, Indexable, Nearest, NumericField, NumericOnly, Page, ProjectedField, Projection,
    Query, QueryParams, Select, SortOrder, SortableField, TagArg, TagField, TextField,
    UpdateReport, VectorField, MAX_TAG_BYTES, MAX_TEXT_WORDS, MAX_WORD_BYTES, MIN_PATTERN_CHARS,
};
#[doc(no_inline)]
pub use redis;
pub use schema::{FieldKind, IndexSchema, IndexedField};
pub use status::IndexStatus;
pub use storage::Storage;
pub use store::AsyncModel;
pub use update::{Nested, Patch, Set};
pub use value::{HashArg, HashValue};
pub use vector::{
    DistanceMetric, VectorAlgorithm, VectorElement, VectorOptions, VectorType, VectorValue,
};

// Every error can cross threads and live in `Box<dyn std::error::Error + Send + Sync>`.
const _: () = {
    const fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<Error>();
};

/// Entry points for fuzzing (`fuzz/`) and the fuzz smoke test: they feed
/// arbitrary bytes to the reply parsers and the query builder, and panic only
/// when an invariant breaks. Not a public API: only with the feature `fuzzing`.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    use redis::Value;

    use crate::query::{Expr, FieldHandle, FieldSpec, NumericField, TagField, TextField};
    use crate::storage::{Storage, Stored};

    /// Parses `bytes` as a RESP reply, then reads it as every kind of reply
    /// redis-om interprets. Errors are fine; panics are bugs.
    pub fn reply(bytes: &[u8]) {
        let Ok(value) = redis::parse_redis_value(bytes) else {
            return;
        };
        let _ = crate::query::reply_search(value.clone());
        let _ = crate::query::reply_cursor(value.clone());
        if let Ok(pairs) = Stored::Hash(&value).hash_fields("k") {
            for pair in pairs {
                let _ = pair;
            }
        }
        let _ = crate::info::IndexInfo::of(&value);
        if let Value::BulkString(text) = &value {
            let _ = crate::storage::decode_json::<serde_json::Value>("k", text);
        }
    }

    /// The words of `text` as the full-text operators send them: the words
    /// RediSearch indexes for `text` (stop words included). For comparing with
    /// the server's own tokenizer (`FT.DEBUG DUMP_TERMS`).
    pub fn text_words(text: &str) -> Vec<String> {
        crate::query::words(text)
    }

    struct Model;

    /// Builds queries from arbitrary text: every value must travel as a
    /// parameter, never inside the query text.
    pub fn query(bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let spec = |name| FieldSpec::new(name, "body_fts", name, '|', Storage::Hash);
        let tag: TagField<Model, String> =
            TagField::new(spec("tag"), crate::__private::decode_hash_field);
        let text_field: TextField<Model, String> =
            TextField::new(spec("body"), crate::__private::decode_hash_field);
        let num: NumericField<Model, f64> =
            NumericField::new(spec("n"), crate::__private::decode_hash_field);
        let number = text.parse::<f64>().unwrap_or(f64::NAN);
        let value = text.as_ref();
        let exprs: Vec<Expr<Model>> = vec![
            tag.eq(value),
            tag.ne(value),
            tag.is_in(value.split(',')),
            tag.starts_with(value),
            tag.ends_with(value),
            tag.contains(value),
            text_field.matches(value),
            text_field.matches_phrase(value),
            text_field.matches_prefix(value),
            text_field.fuzzy(value),
            num.gt(number) | num.between(number, number * 2.0),
            (tag.eq(value) & !text_field.matches(value)) | num.le(number),
        ];
        for expr in exprs {
            if let Ok((query, params)) = expr.to_query() {
                // The text holds only field names, operators and placeholders.
                let allowed =
                    |c: char| c.is_ascii_alphanumeric() || " @:{}()[]|$*%-_+=>;.".contains(c);
                assert!(query.chars().all(allowed), "a value leaked into {query:?}");
                for (name, _) in &params {
                    assert!(
                        query.contains(&format!("${name}")),
                        "{name} unused in {query:?}"
                    );
                }
            }
        }
    }
}

/// What the derive macros' generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::query::{FieldDecoder, FieldHandle, FieldSpec, HashEmbedded, ProjectedAttr};
    pub use crate::registry::RegisteredModel;
    pub use crate::storage::{decode_json, Encoded, HashFields, HashPairs, Stored};
    pub use crate::update::SetEncoder;
    pub use crate::vector::{check_vector, check_vector_len};

    /// Never implemented: the bound of `set` on the setters of a struct
    /// flattened into a model, so that `u.base.set(..)` names the fix
    /// instead of redis-rs's `Commands::set`.
    #[diagnostic::on_unimplemented(
        message = "a struct flattened into the model has no setter of its own: its fields are the model's",
        label = "no setter for the flattened struct as a whole",
        note = "set each of its fields instead, e.g. `u.base.tenant.set(..)` sets the field `tenant` of a struct flattened as `base`"
    )]
    pub trait FlattenedStructHasNoSetter {
        /// Unreachable (nothing implements the trait).
        fn never(self) -> std::convert::Infallible;
    }

    /// The bytes a hash field value is stored as (for a patch).
    pub fn hash_arg_bytes(arg: crate::HashArg<'_>) -> Vec<u8> {
        use redis::ToRedisArgs;
        arg.to_redis_args().into_iter().next().unwrap_or_default()
    }

    /// Encodes a JSON field's new value for a patch (refusing a NaN or an
    /// infinite float, as `save` does).
    pub fn json_patch_value<T: serde::Serialize>(value: &T) -> Result<Option<Vec<u8>>, String> {
        crate::json_encode::encode(value).map(Some)
    }

    /// Encodes a JSON field's new value for a patch with the function serde
    /// writes the field with (`#[serde(with = "redis_om::timestamp")]`).
    pub fn json_patch_value_with(
        value: Result<serde_json::Value, serde_json::Error>,
    ) -> Result<Option<Vec<u8>>, String> {
        let value = value.map_err(|e| e.to_string())?;
        crate::json_encode::encode(&value).map(Some)
    }
    pub use crate::value::{unit_enum_from_bytes, unit_enum_to_str};
    pub use inventory;
    pub use serde;
    pub use serde_json;
    pub use std::sync::LazyLock;

    /// Turns a field decoding failure into [`crate::Error::Decode`].
    pub fn field_error(key: &str, field: &str, reason: String) -> crate::Error {
        crate::Error::Decode {
            key: key.to_owned(),
            field: Some(field.to_owned()),
            reason,
        }
    }

    /// Serializes a JSON model; a NaN or infinite float (which JSON would
    /// store as `null`, unreadable) is refused with the field's path.
    pub fn encode_json<T: serde::Serialize>(
        value: &T,
    ) -> Result<crate::storage::Encoded<'static>, String> {
        crate::json_encode::encode(value).map(crate::storage::Encoded::Json)
    }

    /// Decodes a JSON document that failed to decode because it has no
    /// primary key field (written by another tool): `pk`, read from the key,
    /// is put in and the document decoded again. Any other failure is `err`.
    pub fn decode_json_without_pk<T: serde::de::DeserializeOwned, P: serde::Serialize>(
        key: &str,
        json: &[u8],
        pk_name: &str,
        pk: &P,
        err: crate::Error,
    ) -> crate::Result<T> {
        let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_slice(json) else {
            return Err(err);
        };
        if doc.contains_key(pk_name) {
            return Err(err);
        }
        let Ok(pk) = serde_json::to_value(pk) else {
            return Err(err);
        };
        doc.insert(pk_name.to_owned(), pk);
        match serde_json::to_vec(&doc) {
            Ok(text) => decode_json(key, &text),
            Err(_) => Err(err),
        }
    }

    /// A `&'static` list of paths built at run time (the serde aliases of an
    /// embedded struct's field, under its path): each distinct list is
    /// allocated once, as [`intern`] does for names.
    pub fn intern_paths(paths: Vec<&'static str>) -> &'static [&'static str] {
        use std::collections::HashSet;
        use std::sync::Mutex;
        static LISTS: Mutex<Option<HashSet<&'static [&'static str]>>> = Mutex::new(None);
        let mut lists = LISTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lists = lists.get_or_insert_with(HashSet::new);
        if let Some(known) = lists.get(paths.as_slice()) {
            return known;
        }
        let leaked: &'static [&'static str] = Box::leak(paths.into_boxed_slice());
        lists.insert(leaked);
        leaked
    }

    /// A `&'static str` for a name built at run time (the attributes of
    /// embedded structs): each distinct name is allocated once, so the memory
    /// is bounded by the models of the program.
    pub fn intern(name: String) -> &'static str {
        use std::collections::HashSet;
        use std::sync::Mutex;
        static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
        let mut names = NAMES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let names = names.get_or_insert_with(HashSet::new);
        if let Some(known) = names.get(name.as_str()) {
            return known;
        }
        let leaked: &'static str = Box::leak(name.into_boxed_str());
        names.insert(leaked);
        leaked
    }

    /// The member names a struct writes at one level of a JSON document: its
    /// own (serde aliases included), and those of the structs flattened into
    /// it, at any depth. Compared at compile time: a model and the structs
    /// it flattens must not write one member twice.
    #[derive(Debug, Clone, Copy)]
    pub struct Members {
        /// The struct's own names.
        pub own: &'static [&'static str],
        /// The names of each struct flattened into it.
        pub flattened: &'static [&'static Members],
    }

    impl Members {
        /// No names (a struct that does not say).
        pub const NONE: Members = Members {
            own: &[],
            flattened: &[],
        };

        /// Whether `name` is one of the names, at any depth.
        pub const fn contains(&self, name: &str) -> bool {
            let mut i = 0;
            while i < self.own.len() {
                if same(self.own[i], name) {
                    return true;
                }
                i += 1;
            }
            let mut j = 0;
            while j < self.flattened.len() {
                if self.flattened[j].contains(name) {
                    return true;
                }
                j += 1;
            }
            false
        }

        /// The first of these names that `other` has too.
        pub const fn shared_with(&self, other: &Members) -> Option<&'static str> {
            let mut i = 0;
            while i < self.own.len() {
                if other.contains(self.own[i]) {
                    return Some(self.own[i]);
                }
                i += 1;
            }
            let mut j = 0;
            while j < self.flattened.len() {
                if let Some(name) = self.flattened[j].shared_with(other) {
                    return Some(name);
                }
                j += 1;
            }
            None
        }
    }

    const fn same(a: &str, b: &str) -> bool {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        if x.len() != y.len() {
            return false;
        }
        let mut k = 0;
        while k < x.len() {
            if x[k] != y[k] {
                return false;
            }
            k += 1;
        }
        true
    }

    /// The first name in both lists, at compile time: a hash model and a
    /// struct flattened into it must not store two fields under one name.
    pub const fn shared_name(
        a: &'static [&'static str],
        b: &'static [&'static str],
    ) -> Option<&'static str> {
        let mut i = 0;
        while i < a.len() {
            let mut j = 0;
            while j < b.len() {
                let (x, y) = (a[i].as_bytes(), b[j].as_bytes());
                if x.len() == y.len() {
                    let mut k = 0;
                    while k < x.len() && x[k] == y[k] {
                        k += 1;
                    }
                    if k == x.len() {
                        return Some(a[i]);
                    }
                }
                j += 1;
            }
            i += 1;
        }
        None
    }

    /// The attribute name of field `name` of an embedded struct reached by
    /// `alias` (`address_city`), or `name` itself when the struct is
    /// flattened into the model (no alias).
    pub fn attr_name(alias: &str, name: &str) -> &'static str {
        if alias.is_empty() {
            intern(name.to_owned())
        } else {
            intern(format!("{alias}_{name}"))
        }
    }

    /// Reads a projected hash field (absent: the type's missing value).
    pub fn decode_hash_field<T: crate::HashValue>(raw: Option<&[u8]>) -> Result<T, String> {
        match raw {
            Some(raw) => T::from_hash_bytes(raw),
            None => T::from_missing(),
        }
    }

    /// Reads a projected JSON field: the array of matches `DIALECT 3` returns.
    pub fn decode_json_field<T: serde::de::DeserializeOwned>(
        raw: Option<&[u8]>,
    ) -> Result<T, String> {
        decode_json_field_with(raw, serde_json::from_value)
    }

    /// Reads a projected JSON field with the function serde reads the field
    /// with (`#[serde(with = "redis_om::timestamp")]`).
    pub fn decode_json_field_with<T>(
        raw: Option<&[u8]>,
        deserialize: fn(serde_json::Value) -> Result<T, serde_json::Error>,
    ) -> Result<T, String> {
        let value = match raw {
            Some(raw) => match serde_json::from_slice::<serde_json::Value>(raw) {
                Ok(serde_json::Value::Array(mut items)) if !items.is_empty() => {
                    items.swap_remove(0)
                }
                Ok(serde_json::Value::Array(_)) => serde_json::Value::Null,
                Ok(other) => other,
                Err(e) => return Err(e.to_string()),
            },
            None => serde_json::Value::Null,
        };
        let empty = value.is_null();
        match deserialize(value) {
            Ok(value) => Ok(value),
            // RediSearch returns nothing for an empty array (`"stops": []`):
            // a list field reads as empty rather than failing the query.
            Err(e) if empty => {
                deserialize(serde_json::Value::Array(Vec::new())).map_err(|_| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The error of a primary key type that cannot be generated.
    pub fn cannot_generate(model: &str) -> crate::Error {
        crate::Error::InvalidArgument(format!(
            "{model} has an empty primary key of a type that cannot be generated: set it before saving"
        ))
    }
}
