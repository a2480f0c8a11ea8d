//! Which slot a command goes to, and commands as argument lists.

use super::*;

/// The keys of a pipeline made only of single-key `DEL`s or `UNLINK`s (all
/// of one of the two).
pub(super) fn single_key_deletes<'c>(cmds: &[&'c Cmd]) -> Option<Vec<&'c [u8]>> {
    let mut name: Option<Vec<u8>> = None;
    let mut keys = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        let mut args = cmd.args_iter();
        let (Some(redis::Arg::Simple(command)), Some(redis::Arg::Simple(key)), None) =
            (args.next(), args.next(), args.next())
        else {
            return None;
        };
        let command = command.to_ascii_uppercase();
        if command != b"DEL" && command != b"UNLINK" {
            return None;
        }
        match &name {
            Some(n) if *n != command => return None,
            _ => name = Some(command),
        }
        keys.push(key);
    }
    (!keys.is_empty()).then_some(keys)
}

/// The hash slot of a command's key; `None` for a keyless command.
pub(super) fn slot_of(cmd: &Cmd) -> Option<Slot> {
    key_of(cmd).map(Slot::for_key)
}

/// The slot of each command of a pipeline; a `MULTI … EXEC` block, keyless
/// commands included, takes the slot of its first key, so that it stays
/// whole on one node (copied into every part, its `MULTI` and `EXEC` would
/// wrap other commands and its replies be taken from the wrong part).
pub(super) fn block_slots(cmds: &[&Cmd]) -> Vec<Option<Slot>> {
    let mut slots: Vec<Option<Slot>> = cmds.iter().map(|c| slot_of(c)).collect();
    let name = |c: &Cmd| {
        c.args_iter()
            .next()
            .and_then(|a| match a {
                redis::Arg::Simple(b) => Some(b.to_ascii_uppercase()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let mut i = 0;
    while i < cmds.len() {
        if name(cmds[i]) == b"MULTI" {
            let end = (i + 1..cmds.len())
                .find(|&j| matches!(name(cmds[j]).as_slice(), b"EXEC" | b"DISCARD"))
                .unwrap_or(cmds.len() - 1);
            let slot = slots[i..=end].iter().flatten().next().copied();
            for s in &mut slots[i..=end] {
                *s = slot;
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    slots
}

/// A command's (first) key; `None` for a keyless command.
pub(super) fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?.to_ascii_uppercase();
    match name.as_slice() {
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" | b"FCALL_RO" => {
            let _script = args.next()?;
            let numkeys: usize = std::str::from_utf8(args.next()?).ok()?.parse().ok()?;
            if numkeys == 0 {
                return None;
            }
            args.next()
        }
        b"SCRIPT" | b"PING" | b"INFO" | b"MULTI" | b"EXEC" | b"DISCARD" | b"FUNCTION"
        | b"CLIENT" | b"COMMAND" | b"CLUSTER" | b"ECHO" | b"TIME" | b"WAIT" | b"WAITAOF" => None,
        _ => args.next(),
    }
}

pub(super) fn args_of(cmd: &Cmd) -> Vec<Vec<u8>> {
    cmd.args_iter()
        .filter_map(|a| match a {
            redis::Arg::Simple(bytes) => Some(bytes.to_vec()),
            _ => None,
        })
        .collect()
}

pub(super) fn cmd_of(args: &[Vec<u8>]) -> Cmd {
    let mut cmd = redis::cmd(std::str::from_utf8(&args[0]).unwrap_or("PING"));
    for a in &args[1..] {
        cmd.arg(a.as_slice());
    }
    cmd
}

/// Whether a command can run twice with the same effect and reply (reads,
/// writes of whole values, the save script): redis-rs may resend it.
pub(super) fn repeatable(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let Some(name) = args.next().map(|n| n.to_ascii_uppercase()) else {
        return true;
    };
    match name.as_slice() {
        b"GET" | b"MGET" | b"HGET" | b"HGETALL" | b"HMGET" | b"EXISTS" | b"TYPE" | b"TTL"
        | b"PTTL" | b"JSON.GET" | b"JSON.MGET" | b"JSON.TYPE" | b"HTTL" | b"HPTTL" | b"HSET"
        | b"HDEL" | b"JSON.SET" | b"JSON.DEL" | b"EXPIRE" | b"PEXPIRE" | b"PERSIST"
        | b"HEXPIRE" | b"HPEXPIRE" | b"HPERSIST" | b"PING" | b"SCRIPT" => true,
        b"EVALSHA" => args
            .next()
            .is_some_and(|sha| sha == crate::request::SAVE_SCRIPT.get_hash().as_bytes()),
        _ => false,
    }
}
