//! The cluster's shape as this layer names it: hash slots (CRC16), the
//! canonical tag of each slot, index copies named with a tag (`{t3}name`),
//! and `CLUSTER SLOTS` read as primaries and slot ranges.

use super::*;

/// The shortest tag (`0`, `1`, …, `a0`, …) of each hash slot.
pub(super) fn slot_tags() -> &'static [String] {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags: Vec<Option<String>> = vec![None; 16384];
        let mut left = tags.len();
        let mut n: u64 = 0;
        while left > 0 {
            let tag = format!("{n:x}");
            let slot = slot_number(&tag);
            if tags[slot].is_none() {
                tags[slot] = Some(tag);
                left -= 1;
            }
            n += 1;
        }
        tags.into_iter().map(Option::unwrap_or_default).collect()
    })
}

/// The hash slot of a tag (a key without braces).
pub(super) fn slot_number(key: &str) -> usize {
    usize::from(crc16(key.as_bytes()) % 16384)
}

/// CRC16 (XMODEM), as Redis Cluster hashes keys.
pub(super) fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// `{tag}name`: the name of a shard's copy of an index (the tag first, so
/// that it is the name's hash tag whatever braces the name holds).
pub(super) fn tag_name(name: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + tag.len() + 2);
    out.push(b'{');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'}');
    out.extend_from_slice(name);
    out
}

/// The name without a shard's tag.
pub(super) fn untag(name: &[u8]) -> &[u8] {
    if name.first() == Some(&b'{') {
        if let Some(end) = name.iter().position(|&b| b == b'}') {
            return &name[end + 1..];
        }
    }
    name
}

pub(super) fn untag_value(value: Value) -> Value {
    match value {
        Value::BulkString(b) => Value::BulkString(untag(&b).to_vec()),
        Value::SimpleString(s) => {
            Value::SimpleString(String::from_utf8_lossy(untag(s.as_bytes())).into_owned())
        }
        other => other,
    }
}

/// `args` with the index names at `names` tagged with `tag`.
pub(super) fn tagged(args: &[Vec<u8>], names: &[usize], tag: &str) -> Vec<Vec<u8>> {
    let mut out = args.to_vec();
    for &i in names {
        if let Some(name) = out.get_mut(i) {
            *name = tag_name(name, tag);
        }
    }
    out
}

/// `CLUSTER SLOTS` → each primary's address and the tag of its last slot.
pub(super) fn parse_slots(reply: &Value) -> RedisResult<Vec<(String, String)>> {
    let Value::Array(ranges) = reply else {
        return Err(client_error("unexpected CLUSTER SLOTS reply"));
    };
    // The last slot: `redis-cli --cluster reshard` moves a primary's first
    // slots, so a copy named after its last one survives it.
    let mut last: HashMap<String, u16> = HashMap::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let end = match parts.get(1) {
            Some(Value::Int(i)) => *i as u16,
            _ => continue,
        };
        let Some(Value::Array(primary)) = parts.get(2) else {
            continue;
        };
        let host = primary.first().and_then(text).unwrap_or_default();
        let port = match primary.get(1) {
            Some(Value::Int(p)) => *p,
            _ => continue,
        };
        let addr = format!("{host}:{port}");
        let slot = last.entry(addr).or_insert(end);
        *slot = (*slot).max(end);
    }
    let tags = slot_tags();
    let mut out: Vec<(String, String)> = last
        .into_iter()
        .map(|(addr, slot)| (addr, tags[usize::from(slot)].clone()))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(client_error("the cluster has no primary serving slots"));
    }
    Ok(out)
}

/// The hash tag most of a primary's index copies carry (`{t3}:User:index`),
/// among those whose slot it still owns (`owns`); ties go to the later slot.
pub(super) fn existing_tag(names: &[String], owns: &dyn Fn(&str) -> bool) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for name in names {
        let Some((tag, _)) = copies::split_copy(name) else {
            continue;
        };
        if !owns(tag) {
            continue;
        }
        match counts.iter_mut().find(|(t, _)| t == tag) {
            Some((_, n)) => *n += 1,
            None => counts.push((tag.to_owned(), 1)),
        }
    }
    counts
        .into_iter()
        .max_by_key(|(tag, n)| (*n, key_slot(tag.as_bytes())))
        .map(|(tag, _)| tag)
}

/// `CLUSTER SLOTS` → each slot range and its primary's address.
pub(super) fn parse_ranges(reply: &Value) -> Vec<(u16, u16, String)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(primary))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let host = primary.first().and_then(text).unwrap_or_default();
        let Some(Value::Int(port)) = primary.get(1) else {
            continue;
        };
        out.push((*start as u16, *end as u16, format!("{host}:{port}")));
    }
    out
}

/// The primary a coordinated search goes to: the primaries in turn.
pub(super) fn coordinated_node(nodes: &[String], turn: usize) -> Option<&str> {
    if nodes.is_empty() {
        return None;
    }
    Some(nodes[turn % nodes.len()].as_str())
}

/// The hash slot of a key (its hash tag's, if it has one).
pub(super) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % 16384
}

pub(super) fn split_addr(addr: &str) -> RedisResult<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| client_error("a node address without a port"))?;
    let port = port
        .parse()
        .map_err(|_| client_error("a node address with a bad port"))?;
    Ok((host.to_owned(), port))
}
