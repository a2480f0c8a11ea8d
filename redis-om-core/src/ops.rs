//! The operations on one document, built as requests (pure) with their reply parsers.

use std::time::Duration;

use redis::{cmd, Cmd, Value};

use crate::error::{Error, Result};
use crate::model::{Condition, Model, SaveOptions};
use crate::request::{Op, Parse, Request, SAVE_SCRIPT};
use crate::storage::{bytes_of, describe, Encoded, Storage, Stored};
use crate::value::HashArg;

fn unexpected(command: &'static str, reply: &Value) -> Error {
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

/// `save_with`: fills an empty primary key, then writes the document in one
/// round trip; returns the pk, or `None` when the condition kept it from being written.
/// `Ok(None)` when nothing needs to be sent: `only_if_exists` on a model whose
/// primary key is empty (no such document can exist).
pub(crate) fn save<M: Model>(
    model: &mut M,
    options: SaveOptions,
) -> Result<Option<Op<Option<String>, impl Parse<Option<String>>>>> {
    // Check the options before touching the model.
    if options.conflict {
        return Err(Error::InvalidArgument(
            "only_if_new and only_if_exists cannot be combined: no document is both new and existing"
                .to_owned(),
        ));
    }
    let expiry = expiry::<M>(&options)?;
    if model.primary_key().is_none() {
        if options.condition == Some(Condition::IfExists) {
            // A document without a primary key cannot exist: the condition
            // fails, as in redis-om-python (which returns None).
            return Ok(None);
        }
        model.generate_primary_key()?;
    }
    let model = &*model;
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
    let encoded = model.encode().map_err(|reason| Error::Encode {
        key: key.clone(),
        reason,
    })?;

    let expiring = expiring::<M>(&encoded);
    let needs = needs_field_expiration::<M>(&expiring);
    let request = match options.condition {
        // Fields that expire keep the time they have left: read and written
        // in one script.
        None if expiring.is_empty() => unconditional_save(&key, &encoded, expiry),
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

fn write_cmd(key: &str, encoded: &Encoded<'_>) -> Cmd {
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
