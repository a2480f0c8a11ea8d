//! The runtime of [redis-om](https://docs.rs/redis-om): model traits, key
//! layout, encodings and command execution. Depend on the `redis-om` crate,
//! which re-exports all of this together with the derive macros.
#![warn(missing_docs)]

mod bulk;
mod connect;
mod error;
mod exec;
mod key;
mod migrator;
mod model;
mod ops;
mod pk;
mod query;
mod request;
mod scan;
mod schema;
mod store;
#[cfg(feature = "chrono")]
pub mod timestamp;
mod value;

pub use connect::{
    client, client_for, connect, connect_client, connect_sync, connect_to, connect_with, url,
    DEFAULT_URL, URL_ENV,
};
pub use error::{BulkFailure, Error, Result};
pub use key::KeyLayout;
pub use migrator::{MigrationAction, MigrationReport, Migrator, ModelMigration};
pub use model::{
    decode_json, Condition, Encoded, HashFields, HashPairs, Model, SaveOptions, Storage, Stored,
};
pub use pk::PrimaryKey;
pub use query::{
    AsyncQuery, BoolField, Expr, FieldDecoder, FieldHandle, FieldSpec, FullText, NumericField,
    NumericOnly, ProjectedField, Projection, Query, QueryIter, QueryParams, Select, SortOrder,
    SortableField, SyncQuery, TagArg, TagField, TextField,
};
pub use redis;
pub use scan::PkIter;
pub use schema::{Embedded, FieldKind, IndexSchema, Indexable, IndexedField};
pub use store::{AsyncModel, SyncModel};
pub use value::{HashArg, HashValue};

/// What the derive macros' generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::value::{unit_enum_from_bytes, unit_enum_to_str};
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

    /// Serializes a JSON model.
    pub fn encode_json<T: serde::Serialize>(value: &T) -> Result<crate::Encoded<'static>, String> {
        serde_json::to_vec(value)
            .map(crate::Encoded::Json)
            .map_err(|e| e.to_string())
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
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// The error of a primary key type that cannot be generated.
    pub fn cannot_generate(model: &str) -> crate::Error {
        crate::Error::InvalidArgument(format!(
            "{model} has an empty primary key of a type that cannot be generated: set it before saving"
        ))
    }
}
