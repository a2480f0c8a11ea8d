//! The lifetime of server cursors (`FT.AGGREGATE … WITHCURSOR`): no cursor
//! outlives its reader.
//!
//! RediSearch keeps at most 128 cursors per index, and an open cursor holds
//! its results in server memory. So:
//! - every cursor is opened with `MAXIDLE` ([`READ_IDLE`], or [`STREAM_IDLE`]
//!   for a stream): one whose id was lost (the reply that carried it timed
//!   out, or its future was dropped) is freed by the server once idle that
//!   long;
//! - a reader that stops early (an error, a timeout, a dropped future or
//!   stream) hands its cursor to [`OpenCursor`]'s `Drop`, which queues it; the
//!   next query on the same index deletes the queued cursors first
//!   ([`reap`]), at most [`REAP_PER_QUERY`] per query, and only while the
//!   server would still keep it (an id past its `MAXIDLE` may name another
//!   cursor by then, and is forgotten). A `Drop` cannot send anything
//!   itself: it has no connection, and may run inside a cancelled future.
//!
//! Cursor ids are the server's: a queued id is deleted through whichever
//! connection next queries the index. A process that queries one index name
//! on several servers (a primary and its replica read directly) could so
//! delete another server's cursor with the same id within `MAXIDLE`; that
//! read then fails with an error (never a wrong result).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Cmd;

use crate::exec::Exec;

/// How long the server keeps a cursor between two reads (`MAXIDLE`) when
/// redis-om reads it to the end by itself (`all`, pages, `count`, `delete`,
/// `update`, aggregations), where reads follow each other within
/// milliseconds: a cursor whose id was lost with a cancelled future's reply
/// ends this soon, so that cancellations exhaust an index's 128 cursors only
/// at more than 25 a second.
pub(crate) const READ_IDLE: Duration = Duration::from_secs(5);

/// `MAXIDLE` of the cursor of a `stream()`/`iter()`, whose consumer sets the
/// pace: RediSearch's own default and maximum. A consumer that pauses
/// longer between two batches sees an error naming it.
pub(crate) const STREAM_IDLE: Duration = Duration::from_secs(300);

/// Cursors queued for deletion at most: beyond that the oldest are left to
/// `MAXIDLE`.
const QUEUE_CAP: usize = 4096;

/// Cursors deleted per query at most: a backlog is worked off over several
/// queries, never in front of one.
const REAP_PER_QUERY: usize = 8;

/// An abandoned cursor: its index, id, and when the server drops it by itself.
struct Abandoned {
    index: &'static str,
    id: u64,
    /// Past this the server has freed it, and its id may name another
    /// cursor: it is forgotten unsent.
    ends: Instant,
}

static ABANDONED: Mutex<Vec<Abandoned>> = Mutex::new(Vec::new());

/// `WITHCURSOR COUNT n MAXIDLE ms`.
pub(crate) fn with_cursor(cmd: &mut Cmd, count: usize, idle: Duration) {
    cmd.arg("WITHCURSOR")
        .arg("COUNT")
        .arg(count)
        .arg("MAXIDLE")
        .arg(idle.as_millis() as u64);
}

/// `FT.CURSOR READ index id COUNT n`.
pub(crate) fn read(index: &str, id: u64, count: usize) -> Cmd {
    let mut cmd = redis::cmd("FT.CURSOR");
    cmd.arg("READ").arg(index).arg(id).arg("COUNT").arg(count);
    cmd
}

/// `FT.CURSOR DEL index id`.
pub(crate) fn delete(index: &str, id: u64) -> Cmd {
    let mut cmd = redis::cmd("FT.CURSOR");
    cmd.arg("DEL").arg(index).arg(id);
    cmd
}

/// A cursor the server holds for a reader: queued for deletion when dropped
/// while still open (see the module header).
#[derive(Debug)]
pub(crate) struct OpenCursor {
    index: &'static str,
    id: Option<u64>,
    /// Its `MAXIDLE`.
    idle: Duration,
}

impl OpenCursor {
    /// A cursor opened with `MAXIDLE` `idle`.
    pub(crate) fn new(index: &'static str, idle: Duration) -> Self {
        OpenCursor {
            index,
            id: None,
            idle,
        }
    }

    /// The server's id of the cursor (0: it is exhausted and closed).
    pub(crate) fn set(&mut self, id: u64) {
        self.id = (id != 0).then_some(id);
    }

    /// The cursor was deleted, or is known to be gone.
    pub(crate) fn closed(&mut self) {
        self.id = None;
    }
}

impl Drop for OpenCursor {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // A poisoned lock only means another thread panicked while
            // pushing: the queue is still a valid list.
            let mut queue = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= QUEUE_CAP {
                queue.remove(0);
            }
            queue.push(Abandoned {
                index: self.index,
                id,
                // A little early: never past the server's own end of it.
                ends: Instant::now() + self.idle.mul_f64(0.9),
            });
        }
    }
}

/// Deletes the cursors of `index` that earlier readers abandoned, before a
/// query on it. Errors are ignored: a cursor already gone answers an error,
/// and one that cannot be deleted now still ends after `MAXIDLE`.
pub(crate) async fn reap<E: Exec>(exec: &mut E, index: &'static str) {
    let ids: Vec<u64> = {
        let mut queue = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_empty() {
            return;
        }
        let now = Instant::now();
        queue.retain(|a| a.ends > now);
        let mut ids = Vec::new();
        queue.retain(|a| {
            let take = a.index == index && ids.len() < REAP_PER_QUERY;
            if take {
                ids.push(a.id);
            }
            !take
        });
        ids
    };
    // One by one, not in a pipeline: a cluster connection routes each
    // `FT.CURSOR` by the cursor it names.
    for id in ids {
        if let Err(err) = exec.query(&delete(index, id)).await {
            if crate::error::is_unavailable(&err) || err.is_timeout() {
                // The server is away: the rest end after MAXIDLE.
                return;
            }
        }
    }
}

/// How many cursors of `index` wait to be deleted (for tests).
#[cfg(test)]
pub(crate) fn queued(index: &str) -> usize {
    ABANDONED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|a| a.index == index)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_open_cursor_is_queued_and_a_closed_one_is_not() {
        let mut open = OpenCursor::new("cursor-test-index", READ_IDLE);
        open.set(42);
        drop(open);
        let mut done = OpenCursor::new("cursor-test-index", READ_IDLE);
        done.set(7);
        done.closed();
        drop(done);
        let mut exhausted = OpenCursor::new("cursor-test-index", READ_IDLE);
        exhausted.set(0);
        drop(exhausted);
        assert_eq!(queued("cursor-test-index"), 1);
    }
}
