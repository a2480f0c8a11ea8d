//! The one error type of redis-om.

use std::fmt;

/// The result type of every fallible redis-om operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in redis-om.
///
/// Errors never contain connection passwords: redis-om never formats a URL into
/// a message, and the errors of `redis` it wraps do not either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A save with [`SaveOptions::replicas`](crate::SaveOptions::replicas)
    /// was written on the primary but acknowledged by fewer replicas than
    /// asked within the timeout: it may be lost if the primary fails now.
    #[error("{key} was written, but {acked} of the {wanted} replicas asked for acknowledged it within {timeout:?}: it may be lost if its primary fails before it replicates")]
    NotReplicated {
        /// The document's key.
        key: String,
        /// How many replicas acknowledged it.
        acked: u64,
        /// How many were asked for.
        wanted: u64,
        /// How long the save waited.
        timeout: std::time::Duration,
    },

    /// The Redis client or server reported an error (I/O, protocol, or a server error reply).
    #[error(transparent)]
    Redis(redis::RedisError),

    /// The server did not answer within the response timeout (async
    /// connections: 500 ms by default, set with [`connect_with`](crate::connect_with)).
    /// The command may or may not have been applied.
    #[error(
        "the Redis server did not answer in time (the command may or may not have been applied)"
    )]
    Timeout(#[source] redis::RedisError),

    /// The server answered with a reply of a shape redis-om does not read (a
    /// server or module version it does not know, or a proxy in between).
    #[error("unexpected reply to {command}: {detail}")]
    UnexpectedReply {
        /// The command that got the reply (`SCAN`, `FT.SEARCH`, …).
        command: &'static str,
        /// What came back, or what was missing from it.
        detail: String,
    },

    /// A save of a model with a `#[redis_om(version)]` field found another
    /// version stored than the one the model was loaded with: another writer
    /// saved in between. Nothing was written; reload the document, apply the
    /// change again, and save (see [`is_conflict`](Error::is_conflict)).
    #[error("{}", conflict_message(key, *expected, *found))]
    Conflict {
        /// The full Redis key of the document.
        key: String,
        /// The version the model held (what it was loaded with).
        expected: i64,
        /// The version stored (0 when there is no document, or it has no version).
        found: i64,
    },

    /// No document is stored at `key`.
    #[error("no document found at key {key:?}")]
    NotFound {
        /// The full Redis key that was looked up.
        key: String,
    },

    /// A stored value could not be decoded into the model.
    #[error("cannot decode {key:?}{}: {reason}", DisplayField(.field))]
    Decode {
        /// The full Redis key of the document.
        key: String,
        /// The field (hash field name or JSON path) that failed, when known.
        field: Option<String>,
        /// Why it failed.
        reason: String,
    },

    /// A model could not be encoded for storage, or holds a value that could
    /// not be read back or indexed (a NaN or infinite float in a JSON model, a
    /// NaN in an indexed float, a datetime at the end of chrono's range, a JSON
    /// map with non-string keys). The reason names the field
    /// (`field "value": …`); nothing was written.
    #[error("cannot encode {key:?}: {reason}")]
    Encode {
        /// The full Redis key of the document.
        key: String,
        /// Why it failed.
        reason: String,
    },

    /// An argument given to redis-om is not valid (for example a zero TTL).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The server lacks a module that the operation needs.
    #[error(
        "the Redis server has no {module} module, which this operation needs: \
         use Redis Stack (redis/redis-stack-server) or Redis 8, which include RediSearch and RedisJSON"
    )]
    ModuleMissing {
        /// `search` (RediSearch) or `ReJSON` (RedisJSON).
        module: &'static str,
    },

    /// The model's index does not exist on the server.
    #[error(
        "the search index {index:?} of {model} does not exist: run the Migrator at startup \
         (redis_om::Migrator::new().model::<{model}>().run(&mut con))"
    )]
    IndexMissing {
        /// The model's type name.
        model: String,
        /// The index (or alias) name that was queried.
        index: String,
    },

    /// A new index did not finish indexing the existing documents within the
    /// migrator's `indexing_timeout`. The previous index (if any) stays in use.
    #[error(
        "index {index:?} did not finish indexing within {waited:?} ({percent:.0}% done); \
         the previous index stays in use: run the migrator again (it resumes) or raise \
         Migrator::indexing_timeout"
    )]
    IndexingTimeout {
        /// The new (versioned) index being built.
        index: String,
        /// How far it got, 0 to 100.
        percent: f64,
        /// How long the migrator waited.
        waited: std::time::Duration,
    },

    /// An index under the model's index name covers other keys (another
    /// prefix or storage): it is not this model's, and the migrator does not
    /// drop it unless told to with [`Migrator::replace_foreign`](crate::Migrator::replace_foreign).
    #[error(
        "index {index:?} is not the index of {model}: {differs}; it was left alone. \
         Give the model another index_name, or drop it with Migrator::replace_foreign()"
    )]
    ForeignIndex {
        /// The model's type name.
        model: String,
        /// The index found under the model's index name.
        index: String,
        /// What differs, e.g. `prefix "other:" instead of ":User:"`.
        differs: String,
    },

    /// A query uses fields that the live index lacks or defines otherwise:
    /// another version of the model's schema is live (a rolling deploy, a
    /// rollback, a redis-om-python service). RediSearch would answer with no
    /// match rather than an error.
    #[error(
        "the live index {index:?} was built from another schema than {model}'s and lacks, or \
         defines otherwise, what this query uses: {}. Deploy the version whose schema is live, \
         or make this one live with Migrator::allow_downgrade()",
        missing.join(", ")
    )]
    SchemaMismatch {
        /// The model's type name.
        model: String,
        /// The index (alias) name.
        index: String,
        /// The model's field definitions that the live schema lacks, as in the schema text.
        missing: Vec<String>,
    },

    /// The migrator could not take the index's migration lock in time, or lost
    /// it while it worked (another process held it longer than expected).
    #[error("migration of index {index:?}: {reason}")]
    MigrationLock {
        /// The index name.
        index: String,
        /// What happened.
        reason: String,
    },

    /// The server rejected a query.
    #[error("the server rejected the query {query:?}: {message}")]
    Query {
        /// The query string that was sent (values travel separately as `PARAMS`).
        query: String,
        /// The server's message.
        message: String,
    },

    /// A query that must return a document ([`first`](crate::AsyncQuery::first)) matched none.
    #[error("no document in index {index:?} matches {query:?}")]
    NoMatch {
        /// The index that was searched.
        index: String,
        /// The query string.
        query: String,
    },

    /// Some documents of a bulk write were not written, or not confirmed;
    /// all the others were written. Each failure says which
    /// ([`BulkFailure::kind`]): a write whose reply was lost
    /// ([`FailureKind::NotConfirmed`]) may have been applied.
    #[error("{}", bulk_write_message(*total, failed))]
    BulkWrite {
        /// How many documents the call was given.
        total: usize,
        /// The documents that were not written (or not confirmed), in order.
        failed: Vec<BulkFailure>,
    },

    /// A write found another Redis type at the model's key (for example a
    /// string or a hash where a JSON document belongs); nothing was written.
    #[error(
        "the key {key:?} holds another Redis type than this model's {expected}: \
         delete that key or give the model another prefix"
    )]
    WrongType {
        /// The full Redis key.
        key: String,
        /// The Redis type the model stores (`hash` or `ReJSON-RL`).
        expected: &'static str,
    },

    /// Some documents of a bulk read could not be read (a key of another
    /// Redis type, a document that does not decode). `get_many_each` returns
    /// the others.
    #[error(
        "{} of {total} documents could not be read{}",
        failed.len(),
        failed.first().map(|f| format!("; first: {f}")).unwrap_or_default()
    )]
    BulkRead {
        /// How many documents were asked for.
        total: usize,
        /// The documents that could not be read, in order (index, key and why).
        failed: Vec<BulkFailure>,
    },

    /// The server does not have a command the operation needs (an older
    /// Redis version): hash field expiration (`#[redis_om(expire_secs)]`)
    /// needs Redis 7.4. A save that uses it writes nothing (the check comes
    /// before the write, in the same script).
    #[error(
        "{feature} needs {needs}, which this server is not (it answered: {reason}); \
         the document was not written: upgrade the server, or remove the attribute"
    )]
    Unsupported {
        /// What the operation uses, naming the model's key prefix and fields.
        feature: String,
        /// The server version (and command) needed, e.g. `Redis 7.4 or newer (HEXPIRE)`.
        needs: &'static str,
        /// The server's reply.
        reason: String,
    },

    /// The connection settings are not usable (for example an unparsable `REDIS_OM_URL`).
    #[error("configuration error: {0}")]
    Config(String),
}

/// A document of a bulk write that was not written, or of a bulk read that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkFailure {
    /// Its position in the input.
    pub index: usize,
    /// Its Redis key.
    pub key: String,
    /// What became of it: refused, not confirmed, not sent, or not read.
    pub kind: FailureKind,
    /// Why: the server's error, or what happened to the round trip.
    pub reason: String,
}

/// What became of one document of a bulk call ([`BulkFailure::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The server refused it (a key of another Redis type, a version
    /// conflict, an invalid value): it was not written.
    NotWritten,
    /// It was sent, but the reply of its round trip was lost (a timeout, a
    /// dropped connection): it may or may not have been written. Read it
    /// back, or write it again if the write is idempotent (a plain `save`
    /// is; a versioned one then reports a conflict if it was applied).
    #[non_exhaustive]
    NotConfirmed {
        /// Whether the reply was lost to the response timeout (then
        /// [`Error::is_timeout`] is true for the whole call).
        timed_out: bool,
        /// Whether the connection was lost (then
        /// [`Error::is_connection_error`] is true for the whole call).
        connection_lost: bool,
    },
    /// It was never sent: an earlier round trip of the same call failed.
    NotSent,
    /// A bulk read: the document could not be read.
    NotRead,
}

impl BulkFailure {
    pub(crate) fn new(index: usize, key: String, kind: FailureKind, reason: String) -> Self {
        BulkFailure {
            index,
            key,
            kind,
            reason,
        }
    }

    /// Whether the document may have been written all the same (its reply
    /// was lost): see [`FailureKind::NotConfirmed`].
    pub fn may_be_written(&self) -> bool {
        matches!(self.kind, FailureKind::NotConfirmed { .. })
    }
}

fn conflict_message(key: &str, expected: i64, found: i64) -> String {
    if found == 0 {
        // The scripts report 0 for a document that is not there.
        return format!(
            "conflict at {key:?}: the model holds version {expected}, but the document is gone \
             (deleted or expired since it was loaded) or was written without a version: \
             nothing was written; reload it (or save it as new) and retry"
        );
    }
    format!(
        "conflict at {key:?}: the model holds version {expected}, but version {found} is stored \
         (another writer saved in between): reload and retry"
    )
}

fn bulk_write_message(total: usize, failed: &[BulkFailure]) -> String {
    let count = |pred: fn(&FailureKind) -> bool| failed.iter().filter(|f| pred(&f.kind)).count();
    let refused = count(|k| matches!(k, FailureKind::NotWritten | FailureKind::NotRead));
    let unconfirmed = count(|k| matches!(k, FailureKind::NotConfirmed { .. }));
    let unsent = count(|k| matches!(k, FailureKind::NotSent));
    let mut parts = Vec::new();
    if refused > 0 {
        parts.push(format!("{refused} refused by the server"));
    }
    if unconfirmed > 0 {
        parts.push(format!(
            "{unconfirmed} not confirmed (their replies were lost: they may have been written)"
        ));
    }
    if unsent > 0 {
        parts.push(format!("{unsent} not sent"));
    }
    format!(
        "{} of {total} documents were not written or not confirmed: {}{}",
        failed.len(),
        parts.join(", "),
        failed
            .first()
            .map(|f| format!("; first: {f}"))
            .unwrap_or_default()
    )
}

impl fmt::Display for BulkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} ({:?}): {}", self.index, self.key, self.reason)
    }
}

struct DisplayField<'a>(&'a Option<String>);

impl fmt::Display for DisplayField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(field) => write!(f, " field {field:?}"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// Whether this is [`Error::Conflict`]: another writer saved a versioned
    /// document in between; reload and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// Whether this is [`Error::NotFound`] or [`Error::NoMatch`]: no document was there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. } | Error::NoMatch { .. })
    }

    pub(crate) fn decode(key: &str, field: Option<&str>, reason: impl fmt::Display) -> Self {
        Error::Decode {
            key: key.to_owned(),
            field: field.map(str::to_owned),
            reason: reason.to_string(),
        }
    }

    /// Whether this is [`Error::Timeout`], or an [`Error::BulkWrite`] whose
    /// round trip was lost to the response timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::BulkWrite { failed, .. } => failed.iter().any(|f| {
                matches!(
                    f.kind,
                    FailureKind::NotConfirmed {
                        timed_out: true,
                        ..
                    }
                )
            }),
            _ => false,
        }
    }

    /// Whether the connection failed (refused, dropped, or an I/O error), or,
    /// on a cluster, a node is gone or the cluster is failing over
    /// (`CLUSTERDOWN`, `TRYAGAIN`, `MASTERDOWN`): the operation can be retried
    /// once the server is back; a `ConnectionManager` and a
    /// [`ClusterConnection`](crate::ClusterConnection) reconnect by themselves.
    /// (A timeout is [`is_timeout`](Self::is_timeout).) Also true for an
    /// [`Error::BulkWrite`] whose round trip lost its connection.
    pub fn is_connection_error(&self) -> bool {
        match self {
            Error::Redis(err) => is_unavailable(err),
            // A bulk write whose round trip lost its connection.
            Error::BulkWrite { failed, .. } => failed.iter().any(|f| {
                matches!(
                    f.kind,
                    FailureKind::NotConfirmed {
                        connection_lost: true,
                        ..
                    }
                )
            }),
            _ => false,
        }
    }

    /// Turns server replies that mean "this module is not loaded" into
    /// [`Error::ModuleMissing`], timeouts into [`Error::Timeout`]; everything
    /// else stays [`Error::Redis`].
    pub(crate) fn from_redis(err: redis::RedisError) -> Self {
        if err.is_timeout() {
            return Error::Timeout(err);
        }
        if err.code() == Some("ERR") {
            if let Some(detail) = err.detail() {
                let lower = detail.to_ascii_lowercase();
                if lower.starts_with("unknown command") {
                    if lower.contains("'json.") {
                        return Error::ModuleMissing { module: "ReJSON" };
                    }
                    if lower.contains("'ft.") {
                        return Error::ModuleMissing { module: "search" };
                    }
                }
            }
        }
        Error::Redis(err)
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        Error::from_redis(err)
    }
}

/// A server error as the server wrote it (redis-rs splits off the first word as the code).
pub(crate) fn server_message(err: &redis::RedisError) -> String {
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => err.to_string(),
    }
}

/// `Unknown index name`, `no such index`, `Unknown alias`: the index is not there.
pub(crate) fn is_unknown_index(err: &redis::RedisError) -> bool {
    let text = server_message(err).to_ascii_lowercase();
    text.contains("unknown index")
        || text.contains("no such index")
        || text.contains("unknown alias")
}

/// The server or a cluster node cannot be reached right now: I/O, a refused
/// or dropped connection, a cluster node gone (`ClusterConnectionNotFound`),
/// or a cluster in the middle of a failover or resharding (`CLUSTERDOWN`,
/// `TRYAGAIN`, `MASTERDOWN`).
pub(crate) fn is_unavailable(err: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::ClusterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                )
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_error_names_key_and_field() {
        let e = Error::decode(":User:1", Some("age"), "invalid digit found in string");
        assert_eq!(
            e.to_string(),
            r#"cannot decode ":User:1" field "age": invalid digit found in string"#
        );
        let e = Error::decode(":User:1", None, "expected a hash");
        assert_eq!(e.to_string(), r#"cannot decode ":User:1": expected a hash"#);
    }
}
