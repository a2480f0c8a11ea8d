//! `all_pks`: the primary keys of a model through `SCAN MATCH … TYPE …`.
//!
//! [`PkScan`] is the pure cursor state machine; [`PkIter`] (sync) and the
//! stream of [`AsyncModel::all_pks`](crate::AsyncModel::all_pks) only run its commands.

use std::collections::VecDeque;

use redis::{Cmd, ConnectionLike, Value};

use crate::error::{Error, Result};
use crate::key::KeyLayout;
use crate::model::Model;
use crate::storage::{bytes_of, describe};

/// Keys asked for per `SCAN` call.
const SCAN_COUNT: usize = 1000;

pub(crate) struct PkScan {
    layout: &'static KeyLayout,
    pattern: String,
    redis_type: &'static str,
    /// `None` once the server said the scan is complete.
    cursor: Option<u64>,
    batch: VecDeque<Vec<u8>>,
}

impl PkScan {
    pub(crate) fn new<M: Model>() -> Self {
        let layout = M::key_layout();
        PkScan {
            layout,
            pattern: layout.scan_pattern(),
            redis_type: M::STORAGE.redis_type(),
            cursor: Some(0),
            batch: VecDeque::new(),
        }
    }

    /// The next primary key of the current batch, if any.
    pub(crate) fn pop(&mut self) -> Option<Result<String>> {
        while let Some(key) = self.batch.pop_front() {
            match String::from_utf8(key) {
                Ok(key) => {
                    // SCAN MATCH already filtered; this only guards the invariant.
                    if let Some(pk) = self.layout.pk_from_key(&key) {
                        return Some(Ok(pk.to_owned()));
                    }
                }
                Err(err) => {
                    let key = String::from_utf8_lossy(err.as_bytes()).into_owned();
                    return Some(Err(Error::decode(&key, None, "the key is not UTF-8")));
                }
            }
        }
        None
    }

    /// The next `SCAN` to send, or `None` when the scan is complete.
    pub(crate) fn next_cmd(&self) -> Option<Cmd> {
        let cursor = self.cursor?;
        let mut c = redis::cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("TYPE")
            .arg(self.redis_type)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        Some(c)
    }

    /// Takes a `SCAN` reply: `[cursor, [key, …]]`.
    pub(crate) fn feed(&mut self, reply: Value) -> Result<()> {
        // The caller calls `finish` on error.
        let bad = |v: &Value| Error::UnexpectedReply {
            command: "SCAN",
            detail: format!("answered {}", describe(v)),
        };
        let Value::Array(mut parts) = reply else {
            return Err(bad(&reply));
        };
        if parts.len() != 2 {
            return Err(bad(&Value::Array(parts)));
        }
        let keys = parts.pop().unwrap_or(Value::Nil);
        let cursor = bytes_of(&parts[0])
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok());
        let (Some(cursor), Value::Array(keys)) = (cursor, keys) else {
            return Err(bad(&parts[0]));
        };
        self.cursor = (cursor != 0).then_some(cursor);
        self.batch.extend(keys.into_iter().filter_map(|k| match k {
            Value::BulkString(b) => Some(b),
            Value::SimpleString(s) => Some(s.into_bytes()),
            _ => None,
        }));
        Ok(())
    }

    /// Stops the scan after an error.
    pub(crate) fn finish(&mut self) {
        self.cursor = None;
        self.batch.clear();
    }
}

/// The primary keys of a model, fetched lazily in `SCAN` batches; from
/// [`SyncModel::all_pks`](crate::blocking::SyncModel::all_pks).
///
/// Like `SCAN`, it may return a key twice if the keyspace is resized during the scan.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct PkIter<'c, C> {
    con: &'c mut C,
    scan: PkScan,
}

impl<C> std::fmt::Debug for PkIter<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkIter").finish_non_exhaustive()
    }
}

impl<'c, C> PkIter<'c, C> {
    pub(crate) fn new<M: Model>(con: &'c mut C) -> Self {
        PkIter {
            con,
            scan: PkScan::new::<M>(),
        }
    }
}

impl<C: ConnectionLike> Iterator for PkIter<'_, C> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.scan.pop() {
                return Some(item);
            }
            let cmd = self.scan.next_cmd()?;
            let fed = cmd
                .query::<Value>(self.con)
                .map_err(Error::from_redis)
                .and_then(|reply| self.scan.feed(reply));
            if let Err(err) = fed {
                self.scan.finish();
                return Some(Err(err));
            }
        }
    }
}
