//! Commands built as values, run on any sync or async connection.
//!
//! Every operation is split into a pure part that builds a [`Request`] and
//! interprets its reply, and a tiny run step that is the only difference
//! between the sync and the async API.

use std::marker::PhantomData;
use std::sync::LazyLock;

use redis::{aio, Cmd, ConnectionLike, Pipeline, Value};

use crate::error::{Error, Result};

/// One round trip to the server.
#[derive(Debug)]
pub(crate) enum Request {
    /// One command.
    Cmd(Cmd),
    /// Several commands sent together (a `MULTI`/`EXEC` block when atomic).
    Pipe(Pipeline),
    /// A call of [`SAVE_SCRIPT`]: redis-rs sends `EVALSHA`, and on `NOSCRIPT`
    /// loads the script and repeats the call.
    Script(redis::ScriptInvocation<'static>),
}

/// Lua shared by the scripts that write expiring hash fields: `HSET`
/// clears a field's expiration, so each of the `m` expiring fields listed as
/// name/seconds pairs from `ARGV[e]` keeps the time it had left, or gets its
/// seconds when it had none. `field_ttls` runs before any write: without hash
/// field expiration (Redis < 7.4) it fails and nothing is written.
macro_rules! lua_field_ttls {
    () => {
        include_str!("lua/field_ttls.lua")
    };
}
pub(crate) use lua_field_ttls;

/// Saves a document atomically under a condition (NX/XX, or `A`: always) with
/// an optional TTL and hash field expirations.
///
/// KEYS[1] = key; ARGV = condition ('NX'|'XX'|'A'), TTL ('0' = keep the key's,
/// 'P' = remove it, else milliseconds), kind ('H'|'J'), then for 'J' the JSON
/// text, for 'H' the number of fields to delete and their names, the number
/// of expiring fields and their name/seconds pairs, then the field/value pairs
/// to set. An expiring field keeps the time it had left (`HSET` clears it, as
/// redis-om-python restores it), or gets its seconds when it had none. Returns
/// 1 when written, 0 when the condition failed.
pub(crate) const SAVE_SCRIPT_SOURCE: &str =
    concat!(lua_field_ttls!(), include_str!("lua/save.lua"));

/// [`SAVE_SCRIPT_SOURCE`] as a script.
pub(crate) static SAVE_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(SAVE_SCRIPT_SOURCE));

/// [`SAVE_SCRIPT`] for a model with a version field: the write happens only
/// when the stored version equals the one the model was loaded with, checked
/// and written in one step on the server.
///
/// KEYS[1] = key; ARGV = condition, ttl in ms ('0': keep, 'P': persist), kind, the version's hash field
/// or JSON path, the expected version, then the document as for
/// [`SAVE_SCRIPT`]. Returns `{1}` when written, `{0}` when the condition
/// failed, `{2, found}` when another version is stored (a missing document or
/// field counts as version 0).
pub(crate) static VERSIONED_SAVE_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/versioned_save.lua")));

impl Request {
    pub(crate) fn run_sync<C: ConnectionLike>(&self, con: &mut C) -> redis::RedisResult<Value> {
        match self {
            Request::Cmd(cmd) => cmd.query(con),
            Request::Pipe(pipe) => pipe.query(con),
            Request::Script(call) => call.invoke(con),
        }
    }

    pub(crate) async fn run_async<C: aio::ConnectionLike + Send>(
        &self,
        con: &mut C,
    ) -> redis::RedisResult<Value> {
        let started = std::time::Instant::now();
        match self.run_async_once(con).await {
            // The one retry policy: see `exec::retry_refused`.
            Err(err) if crate::exec::retry_refused(&err, started) => self.run_async_once(con).await,
            other => other,
        }
    }

    async fn run_async_once<C: aio::ConnectionLike + Send>(
        &self,
        con: &mut C,
    ) -> redis::RedisResult<Value> {
        match self {
            Request::Cmd(cmd) => cmd.query_async(con).await,
            Request::Pipe(pipe) => pipe.query_async(con).await,
            Request::Script(call) => call.invoke_async(con).await,
        }
    }
}

/// The interpretation of a reply; it also gets the key given to
/// [`Op::reading`], so that the key is kept once, not copied for the parser.
pub(crate) trait Parse<T>: FnOnce(Value, Option<String>) -> Result<T> + Send {}
impl<T, F: FnOnce(Value, Option<String>) -> Result<T> + Send> Parse<T> for F {}

/// A request together with the interpretation of its reply.
pub(crate) struct Op<T, F> {
    request: Request,
    /// The key of a single-document read: a `WRONGTYPE` error then names it.
    key: Option<String>,
    /// The key and storage of a single-document write: a `WRONGTYPE` error
    /// names the key, and a script calling a command the server does not
    /// have (`JSON.SET` without RedisJSON) is [`Error::ModuleMissing`].
    write: Option<(String, crate::storage::Storage)>,
    /// What the write uses that older servers lack (hash field expiration):
    /// an unknown command is then [`Error::Unsupported`] naming it.
    needs: Option<(String, &'static str)>,
    parse: F,
    _out: PhantomData<fn() -> T>,
}

impl<T, F: FnOnce(Value, Option<String>) -> Result<T>> Op<T, F> {
    pub(crate) fn new(request: Request, parse: F) -> Self {
        Op {
            request,
            key: None,
            write: None,
            needs: None,
            parse,
            _out: PhantomData,
        }
    }

    /// Names `key` in the error when it holds another Redis type.
    pub(crate) fn reading(mut self, key: String) -> Self {
        self.key = Some(key);
        self
    }

    /// Names `key` in the error when it holds another Redis type (a write).
    pub(crate) fn writing(mut self, key: String, storage: crate::storage::Storage) -> Self {
        self.write = Some((key, storage));
        self
    }

    /// Names `feature`, which needs server version `needs`, in the error of
    /// a server that does not know a command it uses.
    pub(crate) fn needing(mut self, needs: Option<(String, &'static str)>) -> Self {
        self.needs = needs;
        self
    }

    fn error(
        key: Option<String>,
        write: Option<(String, crate::storage::Storage)>,
        needs: Option<(String, &'static str)>,
        err: redis::RedisError,
    ) -> Error {
        if let Some((key, storage)) = write {
            let message = crate::error::server_message(&err);
            if let Some((feature, version)) = needs {
                if is_unknown_command(&format!("{message} {err}")) {
                    return Error::Unsupported {
                        feature,
                        needs: version,
                        reason: message,
                    };
                }
            }
            if is_wrong_type(&err, &message) {
                return Error::WrongType {
                    key,
                    expected: storage.redis_type(),
                };
            }
            // JSON.SET from the save script ("Unknown Redis command called from
            // script") or in a MULTI block ("Transaction aborted: … unknown command 'JSON.SET'").
            let lower = format!("{message} {err}").to_ascii_lowercase();
            if storage == crate::storage::Storage::Json
                && (lower.contains("unknown redis command")
                    || lower.contains("unknown command 'json."))
            {
                return Error::ModuleMissing { module: "ReJSON" };
            }
            return Error::from_redis(err);
        }
        match key {
            // Redis says WRONGTYPE; RedisJSON "Existing key has wrong Redis type".
            Some(key) if is_wrong_type(&err, &crate::error::server_message(&err)) => {
                Error::Decode {
                    key,
                    field: None,
                    reason: "WRONGTYPE: the key holds another Redis type than this model's (a hash or a JSON document)"
                        .to_owned(),
                }
            }
            _ => Error::from_redis(err),
        }
    }

    pub(crate) fn run_sync<C: ConnectionLike>(self, con: &mut C) -> Result<T> {
        let reply = match self.request.run_sync(con) {
            Ok(reply) => reply,
            Err(err) => return Err(Self::error(self.key, self.write, self.needs, err)),
        };
        (self.parse)(reply, self.key)
    }

    pub(crate) async fn run_async<C: aio::ConnectionLike + Send>(self, con: &mut C) -> Result<T> {
        let reply = match self.request.run_async(con).await {
            Ok(reply) => reply,
            Err(err) => return Err(Self::error(self.key, self.write, self.needs, err)),
        };
        (self.parse)(reply, self.key)
    }
}

/// A server that does not know a command: `ERR unknown command 'HEXPIRE'`,
/// from a script "Unknown Redis command called from script", in a `MULTI`
/// block "EXECABORT … unknown command".
pub(crate) fn is_unknown_command(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("unknown command") || lower.contains("unknown redis command")
}

/// Redis says `WRONGTYPE`; RedisJSON "Existing key has wrong Redis type"
/// (inside a script the code is wrapped, so the text is checked too).
fn is_wrong_type(err: &redis::RedisError, message: &str) -> bool {
    err.code() == Some("WRONGTYPE")
        || message.contains("WRONGTYPE")
        || message.contains("wrong Redis type")
}
