//! The operations on one document, built as requests (pure) with their reply parsers.

use std::time::Duration;

use redis::{cmd, Cmd, Value};

use crate::error::{Error, Result};
use crate::model::{Condition, Model, SaveOptions};
use crate::request::{Op, Parse, Request, SAVE_SCRIPT, VERSIONED_SAVE_SCRIPT};
use crate::storage::{bytes_of, describe, Encoded, Storage, Stored};
use crate::value::HashArg;

pub(crate) fn unexpected(command: &'static str, reply: &Value) -> Error {
    Error::UnexpectedReply {
        command,
        detail: format!("answered {}", describe(reply)),
    }
}

fn int_reply(command: &'static str, reply: Value) -> Result<i64> {
    match reply {
        Value::Int(i) => Ok(i),
        other => Err(unexpected(command, &other)),
    }
}

fn ttl_millis(ttl: Duration) -> Result<u64> {
    match u64::try_from(ttl.as_millis()) {
        Ok(0) => Err(Error::InvalidArgument(
            "a TTL must be at least 1 ms".to_owned(),
        )),
        Ok(ms) if ms <= i64::MAX as u64 / 2 => Ok(ms),
        _ => Err(Error::InvalidArgument(format!("TTL {ttl:?} is too long"))),
    }
}

/// What a save does with the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Leave it as it is (a new key does not expire).
    Keep,
    /// Expire after this many milliseconds.
    Set(u64),
    /// Remove it (`PERSIST`).
    Persist,
}

/// The TTL of a save: the call's, else the model's `ttl_secs`, else the key's own.
pub(crate) fn expiry<M: Model>(options: &SaveOptions) -> Result<Expiry> {
    match (options.persist, options.ttl) {
        (true, Some(_)) => Err(Error::InvalidArgument(
            "ttl and persist cannot be combined: a document cannot both expire and not expire"
                .to_owned(),
        )),
        (true, None) => Ok(Expiry::Persist),
        (false, Some(ttl)) => Ok(Expiry::Set(ttl_millis(ttl)?)),
        (false, None) => match M::default_ttl() {
            Some(ttl) => Ok(Expiry::Set(ttl_millis(ttl)?)),
            None => Ok(Expiry::Keep),
        },
    }
}

/// The expiring fields (`#[redis_om(expire_secs)]`) that this write sets.
pub(crate) fn expiring<M: Model>(encoded: &Encoded<'_>) -> Vec<(&'static str, u64)> {
    match encoded {
        Encoded::Hash(fields) if !M::field_expirations().is_empty() => M::field_expirations()
            .iter()
            .filter(|(name, _)| fields.set().iter().any(|(set, _)| set == name))
            .copied()
            .collect(),
        _ => Vec::new(),
    }
}

/// The feature and server version named when a server lacks hash field expiration.
pub(crate) fn needs_field_expiration<M: Model>(
    expiring: &[(&'static str, u64)],
) -> Option<(String, &'static str)> {
    if expiring.is_empty() {
        return None;
    }
    let names: Vec<String> = expiring
        .iter()
        .map(|(name, secs)| format!("{name:?} (expire_secs = {secs})"))
        .collect();
    Some((
        format!(
            "hash field expiration of {} of the model at {:?}",
            names.join(", "),
            M::key_layout().key_prefix()
        ),
        "Redis 7.4 or newer (HEXPIRE)",
    ))
}

/// What every save settles first: the options are consistent, the primary
/// key is filled, the key is writable. `Ok(None)` when nothing needs to be
/// sent: `only_if_exists` on a model whose primary key is empty (no such
/// document can exist).
struct Prepared {
    pk: String,
    key: String,
    expiry: Expiry,
}

fn prepare<M: Model>(model: &mut M, options: &SaveOptions) -> Result<Option<Prepared>> {
    // Check the options before touching the model.
    if options.conflict {
        return Err(Error::InvalidArgument(
            "only_if_new and only_if_exists cannot be combined: no document is both new and existing"
                .to_owned(),
        ));
    }
    let expiry = expiry::<M>(options)?;
    if model.primary_key().is_none() {
        if options.condition == Some(Condition::IfExists) {
            // A document without a primary key cannot exist: the condition
            // fails, as in redis-om-python (which returns None).
            return Ok(None);
        }
        model.generate_primary_key()?;
    }
    let pk = match model.primary_key() {
        Some(pk) => pk.into_owned(),
        None => {
            return Err(Error::InvalidArgument(
                "the generated primary key is empty".to_owned(),
            ))
        }
    };
    let key = M::key_layout().key(&pk);
    M::key_layout().check_writable(&key)?;
    Ok(Some(Prepared { pk, key, expiry }))
}

/// `save_with` of a model without a version field: fills an empty primary
/// key, then writes the document in one round trip; returns the pk, or
/// `None` when the condition kept it from being written.
pub(crate) fn save<M: Model>(
    model: &mut M,
    options: SaveOptions,
) -> Result<Option<Op<Option<String>, impl Parse<Option<String>>>>> {
    let Some(Prepared { pk, key, expiry }) = prepare(model, &options)? else {
        return Ok(None);
    };
    let encoded = model.encode().map_err(|reason| Error::Encode {
        key: key.clone(),
        reason,
    })?;

    let expiring = expiring::<M>(&encoded);
    let needs = needs_field_expiration::<M>(&expiring);
    let request = match options.condition {
        // Fields that expire keep the time they have left: read and written
        // in one script.
        // A TTL to set or remove goes through the script too: in a MULTI, a
        // PEXPIRE still runs when the write before it fails on a key of
        // another type, and would expire someone else's key.
        None if expiring.is_empty() && expiry == Expiry::Keep => {
            unconditional_save(&key, &encoded, expiry)
        }
        None => script_save(&key, &encoded, expiry, "A", &expiring),
        Some(condition) => script_save(
            &key,
            &encoded,
            expiry,
            match condition {
                Condition::IfNew => "NX",
                Condition::IfExists => "XX",
            },
            &expiring,
        ),
    };
    let conditional = options.condition.is_some();
    let op = Op::new(request, move |reply, _| {
        if !conditional {
            return Ok(Some(pk));
        }
        match reply {
            Value::Int(1) => Ok(Some(pk)),
            Value::Int(0) | Value::Nil => Ok(None),
            other => Err(unexpected("EVALSHA", &other)),
        }
    })
    .writing(key, M::STORAGE)
    .needing(needs);
    Ok(Some(op))
}

/// The write of a whole document: `HSET` of its fields, or `JSON.SET` at `$`.
pub(crate) fn write_cmd(key: &str, encoded: &Encoded<'_>) -> Cmd {
    match encoded {
        Encoded::Hash(fields) => {
            let mut hset = cmd("HSET");
            hset.arg(key);
            for (name, value) in fields.set() {
                hset.arg(*name).arg(value);
            }
            hset
        }
        Encoded::Json(doc) => {
            let mut set = cmd("JSON.SET");
            set.arg(key).arg("$").arg(doc.as_slice());
            set
        }
    }
}

fn unconditional_save(key: &str, encoded: &Encoded<'_>, expiry: Expiry) -> Request {
    let unset = match encoded {
        Encoded::Hash(fields) => fields.unset(),
        Encoded::Json(_) => &[],
    };
    if unset.is_empty() && expiry == Expiry::Keep {
        return Request::Cmd(write_cmd(key, encoded));
    }
    // Removing cleared fields and setting the TTL must not be observable apart
    // from the write: one MULTI/EXEC block, still one round trip.
    let mut pipe = redis::pipe();
    pipe.atomic();
    if !unset.is_empty() {
        pipe.cmd("HDEL").arg(key).arg(unset).ignore();
    }
    pipe.add_command(write_cmd(key, encoded)).ignore();
    match expiry {
        Expiry::Keep => {}
        Expiry::Set(ms) => {
            pipe.cmd("PEXPIRE").arg(key).arg(ms).ignore();
        }
        Expiry::Persist => {
            pipe.cmd("PERSIST").arg(key).ignore();
        }
    }
    Request::Pipe(pipe)
}

/// Where the arguments of [`SAVE_SCRIPT`] go: a script invocation, or an
/// `EVALSHA` command in a pipeline.
pub(crate) trait ScriptArgs {
    fn push<T: redis::ToRedisArgs>(&mut self, arg: T);
}

impl ScriptArgs for redis::ScriptInvocation<'_> {
    fn push<T: redis::ToRedisArgs>(&mut self, arg: T) {
        self.arg(arg);
    }
}

impl ScriptArgs for Cmd {
    fn push<T: redis::ToRedisArgs>(&mut self, arg: T) {
        self.arg(arg);
    }
}

/// The arguments of [`SAVE_SCRIPT`] after the key (see its layout).
pub(crate) fn script_args(
    out: &mut impl ScriptArgs,
    encoded: &Encoded<'_>,
    expiry: Expiry,
    condition: &str,
    expiring: &[(&'static str, u64)],
) {
    out.push(condition);
    match expiry {
        Expiry::Keep => out.push("0"),
        Expiry::Set(ms) => out.push(ms),
        Expiry::Persist => out.push("P"),
    }
    match encoded {
        Encoded::Json(doc) => {
            out.push("J");
            out.push(doc.as_slice());
        }
        Encoded::Hash(fields) => {
            out.push("H");
            out.push(fields.unset().len());
            out.push(fields.unset());
            out.push(expiring.len());
            for (name, secs) in expiring {
                out.push(*name);
                out.push(*secs);
            }
            for (name, value) in fields.set() {
                out.push(*name);
                out.push::<&HashArg<'_>>(value);
            }
        }
    }
}

fn script_save(
    key: &str,
    encoded: &Encoded<'_>,
    expiry: Expiry,
    condition: &str,
    expiring: &[(&'static str, u64)],
) -> Request {
    let mut eval = SAVE_SCRIPT.key(key);
    script_args(&mut eval, encoded, expiry, condition, expiring);
    Request::Script(eval)
}

/// `save_with` of a model with a version field: the model's version is moved
/// to the next one (the caller puts the loaded one back when the save does
/// not happen), and the server writes only if it still stores the loaded one.
pub(crate) fn versioned_save<M: Model>(
    model: &mut M,
    field: &'static str,
    options: SaveOptions,
) -> Result<Option<Op<Option<String>, impl Parse<Option<String>>>>> {
    let Some(Prepared { pk, key, expiry }) = prepare(model, &options)? else {
        return Ok(None);
    };
    let condition = options.condition;
    let encode_error = |reason: String| Error::Encode {
        key: key.clone(),
        reason: format!("field {field:?}: {reason}"),
    };
    let expected = model
        .version()
        .ok_or_else(|| encode_error("the version does not fit an i64".to_owned()))?;
    let next = expected
        .checked_add(1)
        .filter(|next| model.set_version(*next))
        .ok_or_else(|| {
            encode_error(format!(
                "version {expected} cannot be incremented (the largest of the field's type): \
                 give the version field a wider type (u64 or i64)"
            ))
        })?;
    let encoded = match model.encode() {
        Ok(encoded) => encoded,
        Err(reason) => {
            model.set_version(expected);
            return Err(Error::Encode { key, reason });
        }
    };
    debug_assert_eq!(model.version(), Some(next));
    if !expiring::<M>(&encoded).is_empty() {
        model.set_version(expected);
        return Err(Error::InvalidArgument(format!(
            "{}: a model with a version field cannot have fields with `expire_secs` yet",
            std::any::type_name::<M>()
        )));
    }
    let call = versioned_call::<M>(&key, field, &encoded, expected, expiry, condition);
    let written_key = key.clone();
    Ok(Some(
        Op::new(Request::Script(call), move |reply, _| {
            versioned_reply(reply, pk, &key, field, expected)
        })
        .writing(written_key, M::STORAGE),
    ))
}

/// The call of [`VERSIONED_SAVE_SCRIPT`] that writes `encoded` at `key` if
/// version `expected` is stored.
pub(crate) fn versioned_call<M: Model>(
    key: &str,
    field: &str,
    encoded: &Encoded<'_>,
    expected: i64,
    expiry: Expiry,
    condition: Option<Condition>,
) -> redis::ScriptInvocation<'static> {
    let path = match M::STORAGE {
        Storage::Hash => field.to_owned(),
        Storage::Json => format!("${}", crate::schema::json_member(field)),
    };
    let mut call = VERSIONED_SAVE_SCRIPT.key(key);
    call.arg(match condition {
        None => "",
        Some(Condition::IfNew) => "NX",
        Some(Condition::IfExists) => "XX",
    });
    match expiry {
        Expiry::Keep => call.arg("0"),
        Expiry::Set(ms) => call.arg(ms),
        Expiry::Persist => call.arg("P"),
    };
    call.arg(match encoded {
        Encoded::Json(_) => "J",
        Encoded::Hash(_) => "H",
    });
    call.arg(path).arg(expected);
    match encoded {
        Encoded::Json(doc) => {
            call.arg(doc.as_slice());
        }
        Encoded::Hash(fields) => {
            call.arg(fields.unset().len()).arg(fields.unset());
            for (name, value) in fields.set() {
                call.arg(*name).arg(value);
            }
        }
    }
    call
}

/// The reply of a [`versioned_call`]: the pk when written, `None` when the
/// condition failed, [`Error::Conflict`] when another version is stored.
pub(crate) fn versioned_reply(
    reply: Value,
    pk: String,
    key: &str,
    field: &str,
    expected: i64,
) -> Result<Option<String>> {
    let items = match reply {
        Value::Array(items) => items,
        other => return Err(unexpected("EVALSHA", &other)),
    };
    match items.as_slice() {
        [Value::Int(1)] => Ok(Some(pk)),
        [Value::Int(0)] => Ok(None),
        [Value::Int(2), found] => {
            let text = bytes_of(found).map(String::from_utf8_lossy);
            match text.as_deref().map(str::parse::<i64>) {
                Some(Ok(found)) => Err(Error::Conflict {
                    key: key.to_owned(),
                    expected,
                    found,
                }),
                _ => Err(Error::decode(
                    key,
                    Some(field),
                    format!(
                        "the stored version {:?} is not an integer",
                        text.unwrap_or_default()
                    ),
                )),
            }
        }
        _ => Err(Error::UnexpectedReply {
            command: "EVALSHA",
            detail: "answered an array of another shape".to_owned(),
        }),
    }
}

/// `get`: the document with primary key `pk`, or [`Error::NotFound`].
pub(crate) fn get<M: Model>(pk: &str) -> Op<M, impl Parse<M>> {
    let key = M::key_layout().key(pk);
    let mut request = cmd(match M::STORAGE {
        Storage::Hash => "HGETALL",
        Storage::Json => "JSON.GET",
    });
    request.arg(&key);
    Op::new(Request::Cmd(request), |reply, key: Option<String>| {
        decode_reply::<M>(key.as_deref().unwrap_or_default(), reply)
    })
    .reading(key)
}

/// Decodes the reply of `HGETALL`/`JSON.GET` at `key`.
pub(crate) fn decode_reply<M: Model>(key: &str, reply: Value) -> Result<M> {
    let not_found = || Error::NotFound {
        key: key.to_owned(),
    };
    match M::STORAGE {
        Storage::Hash => match &reply {
            Value::Array(items) if items.is_empty() => Err(not_found()),
            Value::Map(items) if items.is_empty() => Err(not_found()),
            Value::Nil => Err(not_found()),
            _ => M::decode(key, Stored::Hash(&reply)),
        },
        Storage::Json => match &reply {
            Value::Nil => Err(not_found()),
            other => match bytes_of(other) {
                Some(json) => M::decode(key, Stored::Json(json)),
                None => Err(Error::decode(
                    key,
                    None,
                    format!("expected JSON text, found {}", describe(other)),
                )),
            },
        },
    }
}

fn key_cmd<M: Model>(name: &str, pk: &str) -> Cmd {
    let mut c = cmd(name);
    c.arg(M::key_layout().key(pk));
    c
}

/// `delete`: whether a document existed.
pub(crate) fn delete<M: Model>(pk: &str) -> Op<bool, impl Parse<bool>> {
    Op::new(Request::Cmd(key_cmd::<M>("DEL", pk)), |reply, _| {
        Ok(int_reply("DEL", reply)? > 0)
    })
}

/// `exists`: whether a document exists.
pub(crate) fn exists<M: Model>(pk: &str) -> Op<bool, impl Parse<bool>> {
    Op::new(Request::Cmd(key_cmd::<M>("EXISTS", pk)), |reply, _| {
        Ok(int_reply("EXISTS", reply)? > 0)
    })
}

/// `expire`: sets a TTL; whether the document existed.
pub(crate) fn expire<M: Model>(pk: &str, ttl: Duration) -> Result<Op<bool, impl Parse<bool>>> {
    let mut c = key_cmd::<M>("PEXPIRE", pk);
    c.arg(ttl_millis(ttl)?);
    Ok(Op::new(Request::Cmd(c), |reply, _| {
        Ok(int_reply("PEXPIRE", reply)? == 1)
    }))
}

/// `ttl`: the remaining time to live, `None` for a document that does not expire.
pub(crate) fn ttl<M: Model>(pk: &str) -> Op<Option<Duration>, impl Parse<Option<Duration>>> {
    let key = M::key_layout().key(pk);
    let c = cmd("PTTL").arg(&key).to_owned();
    Op::new(Request::Cmd(c), move |reply, _| {
        match int_reply("PTTL", reply)? {
            -2 => Err(Error::NotFound { key }),
            ms if ms < 0 => Ok(None),
            ms => Ok(Some(Duration::from_millis(ms as u64))),
        }
    })
}

/// `save_in_with`: adds the write of `model` to the caller's pipeline,
/// generating an empty primary key first; returns the pk, or `None` when
/// nothing was added (`only_if_exists` on a model without a key: no such
/// document can exist). A plain write (no condition, no TTL to set, no
/// expiring field) is `HSET`/`JSON.SET` (with `HDEL` of cleared fields in one
/// `MULTI`, unless the pipeline is a transaction already); anything else is
/// one call of the save script (loaded first in the pipeline), atomic on its
/// own. Replies are ignored, except a condition's: the pipeline then returns
/// `1` (written) or `0` (the condition failed) for this document.
pub(crate) fn save_in_with<M: Model>(
    model: &mut M,
    pipe: &mut redis::Pipeline,
    options: SaveOptions,
) -> Result<Option<String>> {
    if let Some(field) = M::VERSION_FIELD {
        return Err(Error::InvalidArgument(format!(
            "{} has a version field ({field:?}): its check on the server happens in `save`, \
             whose conflict a pipeline would not report; save it with `save`",
            std::any::type_name::<M>()
        )));
    }
    let Some(Prepared { pk, key, expiry }) = prepare(model, &options)? else {
        return Ok(None);
    };
    let encoded = model.encode().map_err(|reason| Error::Encode {
        key: key.clone(),
        reason,
    })?;
    let expiring = expiring::<M>(&encoded);
    if options.condition.is_none() && expiring.is_empty() && expiry == Expiry::Keep {
        match &encoded {
            Encoded::Hash(fields) if !fields.unset().is_empty() => {
                let own_transaction = !pipe.is_transaction();
                if own_transaction {
                    pipe.cmd("MULTI").ignore();
                }
                pipe.cmd("HDEL").arg(&key).arg(fields.unset()).ignore();
                pipe.add_command(write_cmd(&key, &encoded)).ignore();
                if let Expiry::Set(ms) = expiry {
                    pipe.cmd("PEXPIRE").arg(&key).arg(ms).ignore();
                }
                if own_transaction {
                    pipe.cmd("EXEC").ignore();
                }
            }
            _ => {
                pipe.add_command(write_cmd(&key, &encoded)).ignore();
                if let Expiry::Set(ms) = expiry {
                    pipe.cmd("PEXPIRE").arg(&key).arg(ms).ignore();
                }
            }
        }
        return Ok(Some(pk));
    }
    let condition = match options.condition {
        None => "A",
        Some(Condition::IfNew) => "NX",
        Some(Condition::IfExists) => "XX",
    };
    let mut call = SAVE_SCRIPT.key(&key);
    script_args(&mut call, &encoded, expiry, condition, &expiring);
    pipe.load_script(&SAVE_SCRIPT).ignore();
    pipe.invoke_script(&call);
    if options.condition.is_none() {
        pipe.ignore();
    }
    Ok(Some(pk))
}

/// `delete_in`: adds the delete of the document with primary key `pk` to the
/// caller's pipeline (its reply ignored).
pub(crate) fn delete_in<M: Model>(pk: &str, pipe: &mut redis::Pipeline) {
    pipe.add_command(key_cmd::<M>("DEL", pk)).ignore();
}

/// How long one `WAIT` of a durable save may hold its connection.
const WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(2);

/// Waits until `replicas` replicas have every earlier write of this
/// connection (on a cluster, of the connection to the primary that took
/// the save), or `timeout` passes; the last `WAIT` reply.
///
/// `WAIT` blocks the connection it runs on, and a connection is shared (a
/// `ConnectionManager`'s clones, redis-rs's one connection per cluster
/// node): one `WAIT … 1000` on a primary without replicas held every other
/// task's reads of that primary for a second. So it is asked in slices of
/// [`WAIT_SLICE`] (which the server ends at its next timer tick: up to
/// 100 ms at the default `hz 10`), with pauses between (1 ms doubling to
/// 16 ms) in which the connection serves the others. `WAIT` returns as soon as enough replicas
/// acknowledge, so a healthy replica answers within the first slice; and a
/// timeout longer than the connection's response timeout now ends as
/// `NotReplicated`, not `Timeout`.
pub(crate) async fn wait_replicas<E: crate::exec::Exec>(
    exec: &mut E,
    replicas: u32,
    timeout: std::time::Duration,
) -> redis::RedisResult<Value> {
    // `Duration::MAX` would overflow an instant: a year is forever enough.
    let deadline =
        std::time::Instant::now() + timeout.min(std::time::Duration::from_secs(365 * 24 * 3600));
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let reply = exec.query(&wait_cmd(replicas, left.min(WAIT_SLICE))).await;
        let enough = match &reply {
            Ok(Value::Int(n)) => u64::try_from(*n).unwrap_or(0) >= u64::from(replicas),
            _ => true,
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if enough || left.is_zero() {
            return reply;
        }
        exec.sleep(pause.min(left)).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(16));
    }
}

/// `WAIT replicas timeout`: every earlier write of this connection (on a
/// cluster, of each primary's connection) reaches that many replicas, or the
/// timeout passes (never 0, which would wait forever).
pub(crate) fn wait_cmd(replicas: u32, timeout: std::time::Duration) -> Cmd {
    let mut wait = cmd("WAIT");
    wait.arg(replicas).arg(
        u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
    );
    wait
}

/// The verdict of a `WAIT` reply.
pub(crate) fn waited(
    reply: redis::RedisResult<Value>,
    key: String,
    replicas: u32,
    timeout: std::time::Duration,
) -> Result<()> {
    let acked = match reply {
        Ok(Value::Int(n)) => u64::try_from(n).unwrap_or(0),
        Ok(other) => return Err(unexpected("WAIT", &other)),
        // The primary that took the write became a replica (a failover in
        // between): nothing confirms the write reached another node.
        Err(err) if crate::error::server_message(&err).contains("replica") => 0,
        Err(err) => return Err(Error::from_redis(err)),
    };
    if acked >= u64::from(replicas) {
        Ok(())
    } else {
        Err(Error::NotReplicated {
            key,
            acked,
            wanted: u64::from(replicas),
            timeout,
        })
    }
}
