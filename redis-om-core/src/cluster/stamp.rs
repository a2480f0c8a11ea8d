//! One consistent slot map behind every fan-out.
//!
//! A search, a cursor's first read or a `SCAN` step on a primary goes in one
//! round trip with `CLUSTER NODES`, whose `myself` line says what that
//! primary serves at that moment: its slots, its config epoch, and the slots
//! it is migrating or importing (`[5461->-id]`, `[5461-<-id]`). A fan-out is
//! exact only when those [`Stamp`]s show one map: each primary said the same
//! every time it was asked, none was moving a slot, and together they serve
//! every one of the 16,384 slots exactly once ([`check`]). Anything else
//! means a key may have been read on two primaries or on none (a slot moved
//! between two shards' reads, a primary was failing over, a node was not
//! reached), so the fan-out is read again, within [`SETTLE`], and otherwise
//! fails with `TRYAGAIN` naming the slots: never a silent partial result.

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

/// How long a fan-out is read again while the slot map settles (a slot
/// migration's last steps, a failover's election) before it fails.
pub(super) const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// The pause before reading a fan-out again: 20 ms, doubling up to 320 ms.
pub(super) fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(20 << attempt.min(4))
}

/// What one primary said of itself in the round trip of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    /// The address the read went to.
    pub(super) addr: String,
    pub(super) id: String,
    pub(super) epoch: u64,
    pub(super) primary: bool,
    /// The slots it serves, as ranges.
    pub(super) ranges: Vec<(u16, u16)>,
    /// Slots it is migrating or importing, as `CLUSTER NODES` writes them.
    pub(super) moving: Vec<String>,
}

/// The `myself` line of a `CLUSTER NODES` reply, read as a [`Stamp`].
pub(super) fn parse(addr: &str, reply: &Value) -> Result<Stamp, RedisError> {
    let text = match reply {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::SimpleString(text) => text.clone(),
        Value::ServerError(err) => return Err(err.clone().into()),
        _ => return Err(invalid("a CLUSTER NODES reply is not text")),
    };
    let line = text
        .lines()
        .find(|line| {
            line.split(' ')
                .nth(2)
                .is_some_and(|f| f.split(',').any(|f| f == "myself"))
        })
        .ok_or_else(|| invalid("CLUSTER NODES has no `myself` line"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() < 8 {
        return Err(invalid("a CLUSTER NODES line is too short"));
    }
    let mut ranges = Vec::new();
    let mut moving = Vec::new();
    for slot in &parts[8..] {
        if slot.starts_with('[') {
            moving.push((*slot).to_owned());
            continue;
        }
        let (lo, hi) = slot.split_once('-').unwrap_or((slot, slot));
        match (lo.parse::<u16>(), hi.parse::<u16>()) {
            (Ok(lo), Ok(hi)) if lo <= hi && hi < 16384 => ranges.push((lo, hi)),
            _ => return Err(invalid("a CLUSTER NODES slot is not a number")),
        }
    }
    ranges.sort_unstable();
    Ok(Stamp {
        addr: addr.to_owned(),
        id: parts[0].to_owned(),
        epoch: parts[6].parse().unwrap_or(0),
        primary: parts[2].split(',').any(|f| f == "master"),
        ranges,
        moving,
    })
}

/// The id of the node that serves `slot`, from any `CLUSTER NODES` reply.
pub(super) fn owner_of(reply: &Value, slot: u16) -> Option<String> {
    let text = match reply {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    text.lines().find_map(|line| {
        let parts: Vec<&str> = line.split(' ').collect();
        let serves = parts.get(8..)?.iter().any(|range| {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
        });
        serves.then(|| parts[0].to_owned())
    })
}

/// Whether the stamps of one fan-out show one slot map (see the module
/// documentation); otherwise what was seen instead.
pub(super) fn check(stamps: &[Stamp]) -> Result<(), String> {
    let mut first: Vec<&Stamp> = Vec::new();
    for stamp in stamps {
        if !stamp.moving.is_empty() {
            return Err(format!(
                "the primary {} is moving slots ({})",
                stamp.addr,
                stamp.moving.join(" ")
            ));
        }
        if !stamp.primary {
            return Err(format!("{} is no longer a primary", stamp.addr));
        }
        match first.iter().find(|s| s.addr == stamp.addr) {
            Some(before)
                if before.id != stamp.id
                    || before.epoch != stamp.epoch
                    || before.ranges != stamp.ranges =>
            {
                return Err(format!(
                    "the slots of the primary {} changed while it was read",
                    stamp.addr
                ));
            }
            Some(_) => {}
            None => first.push(stamp),
        }
    }
    let mut owner: Vec<Option<&str>> = vec![None; 16384];
    for stamp in &first {
        for &(lo, hi) in &stamp.ranges {
            for slot in lo..=hi {
                let cell = &mut owner[usize::from(slot)];
                if let Some(other) = cell {
                    return Err(format!(
                        "slot {slot} was served by both {other} and {} during the read (it moved)",
                        stamp.addr
                    ));
                }
                *cell = Some(&stamp.addr);
            }
        }
    }
    let missing = ranges_of(owner.iter().map(Option::is_none));
    if !missing.is_empty() {
        return Err(format!(
            "slots {} were served by none of the primaries read ({})",
            missing,
            first
                .iter()
                .map(|s| s.addr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// `0-5460 10923` for the slots where `flags` is true.
fn ranges_of(flags: impl Iterator<Item = bool>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut start: Option<usize> = None;
    let mut flags = flags.enumerate().peekable();
    while let Some((i, on)) = flags.next() {
        if on && start.is_none() {
            start = Some(i);
        }
        let ends = !flags.peek().is_some_and(|(_, next)| *next);
        if let (Some(lo), true) = (start, on && ends) {
            out.push(if lo == i {
                lo.to_string()
            } else {
                format!("{lo}-{i}")
            });
            start = None;
        }
    }
    out.join(" ")
}

/// The error of a fan-out whose slot map did not settle: within [`SETTLE`]
/// for a search (read again meanwhile), at once for a `SCAN` (whose keys
/// already went to the caller, so it cannot be read again).
pub(super) fn unsettled(what: &str, reason: &str, retried: bool) -> RedisError {
    let within = if retried {
        format!(" within {} s", SETTLE.as_secs())
    } else {
        String::new()
    };
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::TryAgain),
        "redis-om cluster",
        format!(
            "{what} was not read from one consistent slot map{within}: {reason}; a key \
             may have been read on two primaries or on none, so no partial result was \
             returned: retry once the cluster settles (a reshard or a failover in progress)"
        ),
    ))
}

fn invalid(message: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Client, "redis-om cluster", message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    const A: &str = "aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                     bbb 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922\n";
    const B: &str = "bbb 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 5461-10922\n";
    const C: &str = "ccc 127.0.0.1:7002@17002 myself,master - 0 0 3 connected 10923-16383\n";

    #[test]
    fn one_map_passes() {
        let stamps = [
            parse("a", &nodes(A)).unwrap(),
            parse("b", &nodes(B)).unwrap(),
            parse("c", &nodes(C)).unwrap(),
            parse("a", &nodes(A)).unwrap(),
        ];
        assert_eq!(stamps[0].ranges, [(0, 5460)]);
        assert_eq!(stamps[0].epoch, 1);
        assert_eq!(check(&stamps), Ok(()));
    }

    #[test]
    fn a_primary_not_read_leaves_its_slots_uncovered() {
        let stamps = [
            parse("a", &nodes(A)).unwrap(),
            parse("c", &nodes(C)).unwrap(),
        ];
        let err = check(&stamps).unwrap_err();
        assert!(
            err.contains("slots 5461-10922 were served by none"),
            "{err}"
        );
    }

    #[test]
    fn a_slot_on_two_primaries_or_moving_is_refused() {
        let b_took_one = "bbb 127.0.0.1:7001@17001 myself,master - 0 0 4 connected 5460-10922\n";
        let stamps = [
            parse("a", &nodes(A)).unwrap(),
            parse("b", &nodes(b_took_one)).unwrap(),
            parse("c", &nodes(C)).unwrap(),
        ];
        assert!(check(&stamps)
            .unwrap_err()
            .contains("slot 5460 was served by both"));
        let migrating = "aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 \
                         [5460->-bbb]\n";
        let stamps = [
            parse("a", &nodes(migrating)).unwrap(),
            parse("b", &nodes(B)).unwrap(),
            parse("c", &nodes(C)).unwrap(),
        ];
        let err = check(&stamps).unwrap_err();
        assert!(err.contains("[5460->-bbb]"), "{err}");
        // The same primary saying two things during one read.
        let a_later = "aaa 127.0.0.1:7000@17000 myself,master - 0 0 5 connected 1-5460\n";
        let stamps = [
            parse("a", &nodes(A)).unwrap(),
            parse("a", &nodes(a_later)).unwrap(),
        ];
        assert!(check(&stamps)
            .unwrap_err()
            .contains("changed while it was read"));
    }

    #[test]
    fn a_slot_has_the_owner_the_lines_say() {
        let map = nodes(&format!("{A}{C}"));
        assert_eq!(owner_of(&map, 0).as_deref(), Some("aaa"));
        assert_eq!(owner_of(&map, 5461).as_deref(), Some("bbb"));
        assert_eq!(owner_of(&map, 16383).as_deref(), Some("ccc"));
        let moving =
            nodes("aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 7 [8->-bbb]\n");
        assert_eq!(owner_of(&moving, 8), None);
    }

    #[test]
    fn slot_ranges_are_written_compactly() {
        let flags = (0..10).map(|i| matches!(i, 0..=2 | 5 | 8..=9));
        assert_eq!(ranges_of(flags), "0-2 5 8-9");
    }
}
