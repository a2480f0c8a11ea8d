//! # redis-om
//!
//! Object mapping for Redis: put `#[derive(HashModel)]` or `#[derive(JsonModel)]`
//! on a struct, then `save`, `get`, `delete` and scan it, sync or async, with the
//! key layout and encodings of redis-om-python, so that Python and Rust
//! services share the same data.
//!
//! ```no_run
//! use redis_om::prelude::*;
//!
//! #[derive(HashModel, Debug, Clone, PartialEq)]
//! #[redis_om(prefix = "UserReadCache")]
//! struct UserReadCache {
//!     #[redis_om(primary_key)]
//!     pk: Option<String>, // empty: generated on save
//!     #[redis_om(index)]
//!     id: i64,
//!     #[redis_om(index)]
//!     name: String,
//!     avatar: Option<String>,
//! }
//!
//! # async fn run() -> redis_om::Result<()> {
//! let mut con = redis_om::connect().await?; // REDIS_OM_URL, default redis://127.0.0.1:6379
//! let mut user = UserReadCache { pk: None, id: 1, name: "Ada".into(), avatar: None };
//! let pk = user.save(&mut con).await?;
//! assert_eq!(UserReadCache::get(&mut con, &pk).await?, user);
//! # Ok(()) }
//! ```
//!
//! ## Models
//! - `HashModel`: a Redis hash. Fields: `String`, integers, floats, `bool`,
//!   `uuid::Uuid`, chrono `DateTime<Utc>`/`NaiveDate` (feature `chrono`),
//!   unit-only enums with [`HashValue`](derive@HashValue), and `Option` of those
//!   (`None` is not stored).
//! - `JsonModel`: any serde struct (nested structs, `Vec`, maps) as a RedisJSON document.
//!
//! ## Attributes
//! - On the struct: `global_prefix`, `prefix` (default: the type's name),
//!   `index_name`, `crate = "path"` (when the dependency is renamed).
//! - On fields: `primary_key` (otherwise the field named `pk`), `index`,
//!   `sortable`, `full_text`, `case_sensitive`, `separator = "|"`, `rename = "…"` (hash models).
//!
//! Keys are `{global_prefix}:{prefix}:{pk}`, as redis-om-python's `make_key`.
//!
//! ## Operations
//! [`AsyncModel`] (on any `redis::aio::ConnectionLike`) and [`SyncModel`]
//! (on any `redis::ConnectionLike`) have the same methods: `save`,
//! `save_with` ([`SaveOptions`]: only if new / only if it exists / TTL, atomic),
//! `get`, `delete`, `exists`, `expire`, `ttl`, `all_pks`.
//!
//! ```no_run
//! use redis_om::{HashModel, SyncModel};
//!
//! #[derive(HashModel, Debug, PartialEq)]
//! struct User {
//!     pk: Option<String>,
//!     name: String,
//! }
//!
//! # fn run() -> redis_om::Result<()> {
//! let mut con = redis_om::connect_sync()?;
//! let mut user = User { pk: None, name: "Ada".into() };
//! let pk = user.save(&mut con)?;
//! assert_eq!(User::get(&mut con, &pk)?, user);
//! # Ok(()) }
//! ```
//!
//! ## Errors
//! Every operation returns [`Result`] with the one [`Error`] type:
//! [`Error::NotFound`] for a missing document, [`Error::Decode`] naming the key
//! and field of a stored value that does not fit the struct,
//! [`Error::Encode`] naming the field of a value that could not be read back or
//! indexed (refused before anything is written), [`Error::WrongType`] for a
//! write onto a key of another Redis type, [`Error::BulkRead`] and
//! [`Error::BulkWrite`] listing each failed key of a bulk call,
//! [`Error::ModuleMissing`] when the server lacks RedisJSON or RediSearch.
#![warn(missing_docs)]

pub use redis_om_core::*;

/// Stores a struct as a Redis hash.
///
/// See the [crate documentation](crate) for attributes and field types.
pub use redis_om_derive::HashModel;

/// Stores a serde struct (`Serialize + Deserialize`) as a RedisJSON document.
///
/// See the [crate documentation](crate) for attributes.
pub use redis_om_derive::JsonModel;

/// A serde struct stored inside a `JsonModel` field marked `#[redis_om(embed)]`
/// (the field may be `T`, `Option<T>` or `Vec<T>`). Its `#[redis_om(index)]`
/// fields are indexed at `$.field.name AS field_name` (`$.field[*].name` in a
/// list), as redis-om-python's embedded models, and queried through the
/// parent's handles: `Order::find(|o| o.address.city.eq("Paris"))`.
///
/// ```
/// use redis_om::{EmbeddedModel, JsonModel, Model};
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
/// struct Customer {
///     pk: Option<String>,
///     #[redis_om(embed)]
///     address: Address,
/// }
///
/// assert!(Customer::index_schema().text().ends_with("$.address.city AS address_city TAG SEPARATOR |"));
/// let _query = Customer::find(|c| c.address.city.eq("Paris"));
/// ```
pub use redis_om_derive::EmbeddedModel;

/// Lets a unit-only enum be a `HashModel` field, stored by its serde name
/// (the enum also derives `serde::Serialize` and `serde::Deserialize`).
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, redis_om::HashValue)]
/// #[serde(rename_all = "lowercase")]
/// enum Status { Active, Suspended }
/// ```
pub use redis_om_derive::HashValue;

/// The derives and the async operations: `use redis_om::prelude::*;`.
///
/// Blocking code imports [`SyncModel`] and [`SyncQuery`] instead of this prelude's
/// [`AsyncModel`] and [`AsyncQuery`].
pub mod prelude {
    pub use crate::{
        AsyncModel, AsyncQuery, EmbeddedModel, HashModel, HashValue, JsonModel, Migrator, Model,
        SaveOptions, SortOrder,
    };
}
