//! # redis-om
//!
//! Object mapping for Redis: put `#[derive(HashModel)]` or `#[derive(JsonModel)]`
//! on a struct, run the [`Migrator`] at startup, then `save`, `get`, `update`
//! and `find` it with a typed query builder, async or [`blocking`], with the key
//! layout, index schema and encodings of redis-om-python, so that Python and
//! Rust services share the same data and indexes.
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
//! let mut con = redis_om::connect(redis_om::url()).await?; // REDIS_OM_URL, default redis://127.0.0.1:6379
//! Migrator::new().model::<UserReadCache>().run(&mut con).await?; // at startup: the search index
//!
//! let mut user = UserReadCache { pk: None, id: 1, name: "Ada".into(), avatar: None };
//! let pk = user.save(&mut con).await?;
//! assert_eq!(UserReadCache::get(&mut con, &pk).await?, user);
//!
//! // Typed queries: a field that is not indexed, or `.gt()` on a TAG, does not compile.
//! let ada = UserReadCache::find(|u| u.name.eq("Ada") & u.id.between(1, 10)).first(&mut con).await?;
//! UserReadCache::update(&mut con, &pk, |u| u.avatar.set(Some("ada.png".to_owned()))).await?;
//! # Ok(()) }
//! ```
//!
//! ## Models
//! - `HashModel`: a Redis hash. Fields: `String`, integers, floats, `bool`,
//!   `uuid::Uuid`, chrono `DateTime<Utc>`/`NaiveDate` (feature `chrono`),
//!   unit-only enums with [`HashValue`](derive@HashValue), binary `Vec<u8>` and
//!   `bytes::Bytes` (feature `bytes`), and `Option` of those (`None` is not stored).
//! - `JsonModel`: any serde struct (nested structs, `Vec`, maps) as a RedisJSON
//!   document; [`timestamp`] and [`base64`] store datetimes and bytes as
//!   redis-om-python does.
//!
//! ## Attributes
//! - On the struct: `global_prefix`, `prefix` (default: the type's name),
//!   `index_name`, `crate = "path"` (when the dependency is renamed),
//!   `fields = "…"`, `ttl_secs = N` (a TTL set on every save).
//! - On fields: `primary_key` (otherwise the field named `pk`), `index`,
//!   `sortable`, `full_text`, `case_sensitive`, `separator = "|"`, `rename = "…"`,
//!   `default`/`default = "path"` and `expire_secs = N` (hash models),
//!   `embed` (JSON models).
//!
//! Each derive documents its attributes in full: [`HashModel`](derive@HashModel),
//! [`JsonModel`](derive@JsonModel), [`EmbeddedModel`](derive@EmbeddedModel),
//! [`HashValue`](derive@HashValue).
//!
//! ## Features
//! - `chrono`: `DateTime<Utc>` and `NaiveDate` fields, and `redis_om::timestamp`.
//! - `bytes`: `bytes::Bytes` fields of hash models.
//! - `cache`: `redis_om::cache::ModelCache` (and `redis_om::blocking::ModelCache`),
//!   decoded models kept in process memory and invalidated by Redis itself
//!   (client tracking), with single-flight misses and read-your-writes.
//! - `tls-rustls`: `rediss://` URLs through rustls with its `ring` crypto provider.
//! - `tls-rustls-aws-lc`: the same with rustls's `aws-lc-rs` provider, for
//!   applications that already use it (rustls's default). Enable one of the
//!   two; when both providers end up compiled in (one from another
//!   dependency), redis-om installs the process-wide default provider when it
//!   connects, unless the application installed one first.
//!
//! Keys are `{global_prefix}:{prefix}:{pk}`, as redis-om-python's `make_key`.
//!
//! ## Operations
//! [`AsyncModel`] (on any `redis::aio::ConnectionLike`) gives every model
//! `save`, `save_with` ([`SaveOptions`]: only if new / only if it exists / TTL /
//! persist, atomic), `save_all`, `get`, `get_optional`, `get_many`, `reload`, `delete`,
//! `remove`, `exists`, `expire`, `expire_in`, `ttl`, `all_pks`; [`Find`] and
//! [`AsyncQuery`] the typed queries. [`connect`] opens a connection.
//!
//! The same API blocks in [`blocking`] (on any `redis::ConnectionLike`), with
//! its own prelude: `use redis_om::blocking::prelude::*;`.
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
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use redis_om_core::*;

// The derives carry their own documentation, with every attribute.
pub use redis_om_derive::{EmbeddedModel, HashModel, HashValue, JsonModel};

/// The derives and the async operations: `use redis_om::prelude::*;`.
///
/// Blocking code uses [`blocking::prelude`] instead (one of the two per module:
/// both have the same method names).
pub mod prelude {
    pub use crate::{
        AsyncAggregate, AsyncModel, AsyncQuery, EmbeddedModel, Find, HashModel, HashValue,
        JsonModel, Migrator, Model, Page, SaveOptions, SortOrder,
    };
}

pub mod blocking {
    //! The blocking API: the same operations on blocking connections
    //! (`redis::Connection`, r2d2's pooled connections), for worker threads and
    //! programs without an async runtime, as `reqwest::blocking` is to reqwest.
    //!
    //! A module uses one of the two preludes, `redis_om::prelude` (async) or
    //! `redis_om::blocking::prelude`. Both give the same method names (`save`,
    //! `get`, `all`, …), so with both in scope a call is ambiguous (`E0034`); a
    //! module that needs both names the trait (`SyncModel::save(&mut user, &mut
    //! con)`, `<User as SyncModel>::get(..)`) and the migrator
    //! (`redis_om::blocking::Migrator`: both preludes bring a `Migrator`).
    //!
    //! ```no_run
    //! use redis_om::blocking::prelude::*;
    //!
    //! #[derive(HashModel, Debug, PartialEq)]
    //! struct User {
    //!     pk: Option<String>,
    //!     #[redis_om(index)]
    //!     name: String,
    //! }
    //!
    //! # fn run() -> redis_om::Result<()> {
    //! let mut con = redis_om::blocking::connect(redis_om::url())?;
    //! Migrator::new().model::<User>().run(&mut con)?;
    //! let mut user = User { pk: None, name: "Ada".into() };
    //! let pk = user.save(&mut con)?;
    //! assert_eq!(User::get(&mut con, &pk)?, user);
    //! let named_ada: Vec<User> = User::find(|u| u.name.eq("Ada")).all(&mut con)?;
    //! # Ok(()) }
    //! ```
    #[allow(deprecated)]
    pub use redis_om_core::blocking::RESPONSE_TIMEOUT;
    pub use redis_om_core::blocking::{
        connect, connect_cluster, ClusterConnection, Migrator, PkIter, QueryIter, SyncModel,
        SyncQuery, SOCKET_TIMEOUT,
    };
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub use redis_om_core::blocking::{CachedConnection, ModelCache};

    /// The derives and the blocking operations: `use redis_om::blocking::prelude::*;`.
    pub mod prelude {
        pub use redis_om_core::blocking::prelude::*;
        pub use redis_om_derive::{EmbeddedModel, HashModel, HashValue, JsonModel};
    }
}
