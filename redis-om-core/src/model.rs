//! The [`Model`] trait that the derives implement: a model's key layout, its
//! index fields and its encoding. Above storage, key layout and schema; the
//! operations ([`AsyncModel`](crate::AsyncModel)) and queries
//! ([`Find`](crate::Find)) build on it.

use std::borrow::Cow;
use std::time::Duration;

use crate::error::Result;
use crate::key::KeyLayout;
use crate::storage::{Encoded, Storage, Stored};

/// A struct stored in Redis. Implemented by `#[derive(HashModel)]` and
/// `#[derive(JsonModel)]`; the operations come from
/// [`AsyncModel`](crate::AsyncModel) and [`SyncModel`](crate::blocking::SyncModel).
pub trait Model: Sized + Send + Sync {
    /// Hash or JSON.
    const STORAGE: Storage;

    /// Key prefix, keys and index name of this model.
    fn key_layout() -> &'static KeyLayout;

    /// The primary key as it appears in the Redis key, or `None` when it is
    /// empty and will be generated on save.
    fn primary_key(&self) -> Option<Cow<'_, str>>;

    /// The Redis key of this document (`{global_prefix}:{prefix}:{pk}`), or
    /// `None` before its first save when the primary key is generated:
    /// redis-om-python's `instance.key()`.
    fn key(&self) -> Option<String> {
        self.primary_key().map(|pk| Self::key_layout().key(pk))
    }

    #[doc(hidden)]
    /// Sets a freshly generated primary key.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the primary key type cannot be generated
    /// (integers).
    fn generate_primary_key(&mut self) -> Result<()>;

    #[doc(hidden)]
    /// Encodes the model for storage.
    ///
    /// # Errors
    /// A description of the failure; the caller adds the key.
    fn encode(&self) -> Result<Encoded<'_>, String>;

    #[doc(hidden)]
    /// The fields of the model's index: the primary key first, then the fields
    /// marked `index`, `sortable` or `full_text`.
    fn index_fields() -> Vec<crate::schema::IndexedField>;

    /// The typed handles of the indexed fields (the `…Fields` struct the derive generates).
    type Fields;

    /// The handles of the indexed fields, for building queries.
    fn fields() -> Self::Fields;

    /// The setters of the stored fields (a struct the derive generates), for
    /// [`update`](crate::AsyncModel::update): `|u| u.name.set("Ada")`.
    type Setters;

    /// The setters of the stored fields.
    fn setters() -> Self::Setters;

    #[doc(hidden)]
    /// Every stored hash field name (HashModel; empty for a JsonModel).
    fn stored_names() -> &'static [&'static str];

    /// The model's index definition.
    fn index_schema() -> crate::schema::IndexSchema {
        crate::schema::IndexSchema::new(
            Self::STORAGE,
            Self::key_layout().key_prefix(),
            Self::index_fields(),
        )
    }

    /// The primary key's stored name (hash field or JSON member) and where
    /// a search reads it (the hash field, or its JSON path): every document
    /// has it, so a selection that loads it tells a document whose selected
    /// fields are all missing from one that vanished.
    #[doc(hidden)]
    const PK_ATTR: (&'static str, &'static str) = ("pk", "$.pk");

    /// The stored name of the `#[redis_om(version)]` field (hash field, or
    /// JSON member), if the model has one.
    #[doc(hidden)]
    const VERSION_FIELD: Option<&'static str> = None;

    /// The largest value of the version field's type.
    #[doc(hidden)]
    const VERSION_MAX: i64 = i64::MAX;

    /// The value of the version field (`None`: no version field, or a value
    /// that does not fit an `i64`).
    #[doc(hidden)]
    fn version(&self) -> Option<i64> {
        None
    }

    /// Sets the version field; `false` when `version` does not fit its type.
    #[doc(hidden)]
    fn set_version(&mut self, version: i64) -> bool {
        let _ = version;
        false
    }

    /// The model's default time to live (`#[redis_om(ttl_secs = N)]`), set on
    /// every save unless the call asks for another ([`SaveOptions::ttl`]) or
    /// none ([`SaveOptions::persist`]). `None`: saves keep the key's TTL as it is.
    fn default_ttl() -> Option<Duration> {
        None
    }

    /// The hash fields that expire on their own (`#[redis_om(expire_secs = N)]`,
    /// Redis 7.4+ `HEXPIRE`): stored name and seconds. Empty for a JsonModel.
    fn field_expirations() -> &'static [(&'static str, u64)] {
        &[]
    }

    #[doc(hidden)]
    /// Decodes a stored document read from `key`.
    ///
    /// # Errors
    /// [`Error::Decode`](crate::Error::Decode) naming the key and, where known, the field.
    fn decode(key: &str, stored: Stored<'_>) -> Result<Self>;
}

/// An integer type that can be a model's `#[redis_om(version)]` field: the
/// version a save checks and increments on the server (optimistic locking).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a version field",
    label = "not an integer type",
    note = "a #[redis_om(version)] field is an integer: u32, u64, i32, i64, usize, isize, u16, i16"
)]
pub trait Version: Sized {
    /// The largest version, as an `i64`.
    const MAX: i64;
    /// The version as an `i64` (`None` when it does not fit).
    fn to_i64(&self) -> Option<i64>;
    /// The version from an `i64` (`None` when it does not fit).
    fn from_i64(version: i64) -> Option<Self>;
}

macro_rules! version {
    ($($t:ty),*) => {$(
        impl Version for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            const MAX: i64 = if (<$t>::MAX as u128) > (i64::MAX as u128) {
                i64::MAX
            } else {
                <$t>::MAX as i64
            };
            fn to_i64(&self) -> Option<i64> {
                i64::try_from(*self).ok()
            }
            fn from_i64(version: i64) -> Option<Self> {
                <$t>::try_from(version).ok()
            }
        }
    )*};
}
version!(i16, i32, i64, isize, u16, u32, u64, usize);

/// A condition on a save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// Save only if no document exists at the key (`NX`).
    IfNew,
    /// Save only if a document already exists at the key (`XX`).
    IfExists,
}

/// Options of [`save_with`](crate::AsyncModel::save_with): a condition and a time to live,
/// both applied atomically on the server in the same round trip as the write.
///
/// ```
/// use std::time::Duration;
/// use redis_om::SaveOptions;
/// let opts = SaveOptions::new().only_if_new().ttl(Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "SaveOptions do nothing until given to `save_with`"]
pub struct SaveOptions {
    pub(crate) condition: Option<Condition>,
    pub(crate) ttl: Option<Duration>,
    /// Remove any TTL the key has (`PERSIST`).
    pub(crate) persist: bool,
    /// Both conditions were asked for: the save is refused with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) (as redis-om-python raises).
    pub(crate) conflict: bool,
    /// Wait for this many replicas to acknowledge the write (`WAIT`).
    pub(crate) replicas: Option<(u32, Duration)>,
}

impl SaveOptions {
    /// No condition, no TTL: the same as [`save`](crate::AsyncModel::save).
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes only if no document exists at the key (like `SET NX`).
    /// Combined with [`only_if_exists`](Self::only_if_exists), the save is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument): no document can satisfy both.
    pub fn only_if_new(self) -> Self {
        self.with_condition(Condition::IfNew)
    }

    /// Writes only if a document already exists at the key (like `SET XX`).
    /// A model whose primary key is empty cannot exist yet: its save returns
    /// `Ok(None)` without a round trip.
    pub fn only_if_exists(self) -> Self {
        self.with_condition(Condition::IfExists)
    }

    fn with_condition(mut self, condition: Condition) -> Self {
        if self.condition.is_some_and(|c| c != condition) {
            self.conflict = true;
        }
        self.condition = Some(condition);
        self
    }

    /// Expires the document after `ttl` (millisecond precision; must be at
    /// least 1 ms), instead of the model's `ttl_secs` if it has one.
    /// Combined with [`persist`](Self::persist), the save is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Removes the document's TTL (`PERSIST`, in the same atomic write), and
    /// does not apply the model's `ttl_secs`: the document no longer expires.
    /// Without it (and without [`ttl`](Self::ttl)) a save keeps the TTL the key
    /// has, or sets the model's `ttl_secs`.
    pub fn persist(mut self) -> Self {
        self.persist = true;
        self
    }

    /// Waits, after the write, until at least `replicas` replicas have it
    /// (`WAIT replicas timeout`), so that a failover within that time cannot
    /// lose it. When fewer acknowledge within `timeout`, the save returns
    /// [`Error::NotReplicated`](crate::Error::NotReplicated): the document is
    /// written on the primary, but not yet safe from its failure. Without
    /// this option a save returns once the primary has it; Redis replicates
    /// asynchronously, so a primary that fails right after may lose the last
    /// writes it acknowledged.
    ///
    /// The wait is asked in slices of 2 ms (`WAIT replicas 2`, with short
    /// pauses between; the server ends each at its next timer tick, at most
    /// 100 ms at the default `hz 10`), so that it never holds the connection
    /// it shares with other tasks for longer: a primary without replicas
    /// slows only the durable saves. Any `timeout` works, also one longer than the
    /// connection's response timeout.
    pub fn replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replicas = Some((replicas, timeout));
        self
    }

    /// The condition, if any.
    pub fn condition(&self) -> Option<Condition> {
        self.condition
    }
}
