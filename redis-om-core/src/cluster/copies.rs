//! Index copies that outlive a reshard.
//!
//! Without a search coordinator each primary holds its own copy of every
//! index, named with the hash tag of one of its slots (`{t3}User:index`),
//! since a node answers `MOVED` for a name whose slot it does not own. When
//! a reshard moves that very slot away, the copy stays on its node, complete
//! and still indexing, but no command reaches it any more (it is an
//! *orphan*); a primary added to the cluster has no copy at all. Both used
//! to stop every search until the migrator ran again.
//!
//! So every index definition this connection passes to the primaries is also
//! recorded in the cluster ([`DEFINITIONS`], [`ALIASES`]: two hashes in one
//! slot; an index forgotten before it is dropped, so that no copy of a
//! dropped index comes back), and whenever a primary's copies are looked up
//! anew (a changed slot map, a new connection, a shard that answers that the
//! index does not exist), the primary is repaired ([`ClusterConnection::repair`]):
//!
//! 1. each recorded index it lacks under its tag gets a copy (`FT.CREATE`,
//!    from the recorded arguments), if the primary holds the index under
//!    another tag or another primary holds it; its recorded aliases follow
//!    (`FT.ALIASADD`);
//! 2. a copy made now, or beside an orphan of the same index, is used only
//!    once `FT.INFO` says it finished indexing: the search waits up to
//!    [`BUILD`], then fails with `TRYAGAIN` (never a partial result);
//! 3. then the orphans are dropped: `CLUSTER SETSLOT <slot> IMPORTING`, so
//!    that the node accepts the orphan's name after `ASKING`, `FT.DROPINDEX`
//!    without its documents, and `CLUSTER SETSLOT <slot> STABLE`; only while
//!    the node moves no slot (it would clear a reshard's own marker).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use redis::{aio, Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

use super::{client_error, key_slot, slot_tags, stamp, tag_name, text, ClusterConnection};

/// The index definitions passed to the primaries: each logical index name
/// and the arguments of its `FT.CREATE` after the name (with the attributes
/// of later `FT.ALTER`s appended), length-prefixed ([`encode`]).
pub(super) const DEFINITIONS: &str = "{redis-om}:cluster:indexes";

/// The aliases passed to the primaries: each alias and its index's logical
/// name.
pub(super) const ALIASES: &str = "{redis-om}:cluster:aliases";

/// How long a search waits for a copy made after a reshard to finish
/// indexing the documents already on its primary.
pub(super) const BUILD: Duration = Duration::from_secs(5);

/// What an index definition changes in the record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `FT.CREATE name args…`: recorded once every primary has it.
    Define {
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    },
    /// `FT.ALTER name … SCHEMA ADD attrs…`: appended once every primary has it.
    Alter {
        name: Vec<u8>,
        attrs: Vec<Vec<u8>>,
    },
    /// `FT.DROPINDEX name`: forgotten, with its aliases, before the drop.
    Drop {
        name: Vec<u8>,
    },
    /// `FT.ALIASADD` / `FT.ALIASUPDATE alias name`: recorded afterwards.
    Alias {
        alias: Vec<u8>,
        name: Vec<u8>,
    },
    /// `FT.ALIASDEL alias`: forgotten before.
    Unalias {
        alias: Vec<u8>,
    },
    None,
}

impl Change {
    /// The change `args` (a whole command) makes.
    pub(super) fn of(args: &[Vec<u8>]) -> Change {
        let (Some(command), Some(name)) = (args.first(), args.get(1)) else {
            return Change::None;
        };
        let command = String::from_utf8_lossy(command).to_ascii_uppercase();
        let name = name.clone();
        match command.as_str() {
            "FT.CREATE" => Change::Define {
                name,
                args: args[2..].to_vec(),
            },
            "FT.ALTER" => match args.iter().position(|a| a.eq_ignore_ascii_case(b"ADD")) {
                Some(at) => Change::Alter {
                    name,
                    attrs: args[at + 1..].to_vec(),
                },
                None => Change::None,
            },
            "FT.DROPINDEX" | "FT.DROP" => Change::Drop { name },
            "FT.ALIASADD" | "FT.ALIASUPDATE" => match args.get(2) {
                Some(index) => Change::Alias {
                    alias: name,
                    name: index.clone(),
                },
                None => Change::None,
            },
            "FT.ALIASDEL" => Change::Unalias { alias: name },
            _ => Change::None,
        }
    }

    /// Whether the record changes before the command is sent (a name
    /// forgotten), not after every primary accepted it.
    pub(super) fn goes_first(&self) -> bool {
        matches!(self, Change::Drop { .. } | Change::Unalias { .. })
    }
}

/// `args` as one byte string: each argument as its length, `:`, its bytes.
pub(super) fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for arg in args {
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(arg);
    }
    out
}

/// The arguments [`encode`] wrote; `None` if `bytes` is not its output.
pub(super) fn decode(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let colon = bytes.iter().position(|b| *b == b':')?;
        let len: usize = std::str::from_utf8(&bytes[..colon]).ok()?.parse().ok()?;
        let rest = &bytes[colon + 1..];
        if rest.len() < len {
            return None;
        }
        out.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Some(out)
}

/// The record, as read from the cluster.
#[derive(Debug, Default)]
pub(super) struct Record {
    /// Logical index name → `FT.CREATE` arguments after the name.
    definitions: HashMap<String, Vec<Vec<u8>>>,
    /// Alias → logical index name.
    aliases: Vec<(String, String)>,
}

impl Record {
    fn of(definitions: &Value, aliases: &Value) -> Record {
        let mut record = Record::default();
        for (name, args) in pairs(definitions) {
            if let Some(args) = decode(&args) {
                record
                    .definitions
                    .insert(String::from_utf8_lossy(&name).into_owned(), args);
            }
        }
        for (alias, name) in pairs(aliases) {
            record.aliases.push((
                String::from_utf8_lossy(&alias).into_owned(),
                String::from_utf8_lossy(&name).into_owned(),
            ));
        }
        record
    }
}

/// The field/value pairs of an `HGETALL` reply (RESP2 or RESP3).
fn pairs(reply: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    let bytes = |v: &Value| match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    };
    match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|p| Some((bytes(&p[0])?, bytes(&p[1])?)))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A copy's name split into its tag and the logical name, when the tag is
/// one this connection names copies with (another program's
/// `{user:1}:orders` is no copy of ours).
pub(super) fn split_copy(name: &str) -> Option<(&str, &str)> {
    let (tag, logical) = name.strip_prefix('{')?.split_once('}')?;
    let canonical = slot_tags()
        .get(usize::from(key_slot(tag.as_bytes())))
        .is_some_and(|t| t == tag);
    (!tag.is_empty() && canonical).then_some((tag, logical))
}

/// `Index already exists` / `Alias already exists`.
fn already_exists(err: &RedisError) -> bool {
    crate::error::server_message(err)
        .to_ascii_lowercase()
        .contains("already exists")
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        Value::SimpleString(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn building(index: &str, addr: &str, percent: f64) -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::TryAgain),
        "redis-om cluster",
        format!(
            "the copy of the index {index:?} on the primary {addr}, made after a reshard moved \
             the slot its old copy was named after, was still indexing after {} s ({:.0}% \
             done): retry once it finishes (no partial result was returned)",
            BUILD.as_secs(),
            percent * 100.0
        ),
    ))
}

impl ClusterConnection {
    /// Records (or forgets) what an index definition changes, as
    /// [`Change`] says; `accepted`: every primary accepted it (or already
    /// had it).
    pub(super) async fn record(&mut self, change: &Change) -> RedisResult<()> {
        let mut cmds: Vec<Cmd> = Vec::new();
        match change {
            Change::None => return Ok(()),
            Change::Define { name, args } => cmds.push(
                redis::cmd("HSET")
                    .arg(DEFINITIONS)
                    .arg(name.as_slice())
                    .arg(encode(args))
                    .clone(),
            ),
            Change::Alter { name, attrs } => {
                let get = redis::cmd("HGET")
                    .arg(DEFINITIONS)
                    .arg(name.as_slice())
                    .clone();
                let Value::BulkString(current) = self.keyed(&get).await? else {
                    return Ok(());
                };
                let Some(mut args) = decode(&current) else {
                    return Ok(());
                };
                args.extend(attrs.iter().cloned());
                cmds.push(
                    redis::cmd("HSET")
                        .arg(DEFINITIONS)
                        .arg(name.as_slice())
                        .arg(encode(&args))
                        .clone(),
                );
            }
            Change::Drop { name } => {
                cmds.push(
                    redis::cmd("HDEL")
                        .arg(DEFINITIONS)
                        .arg(name.as_slice())
                        .clone(),
                );
                let all = self
                    .keyed(&redis::cmd("HGETALL").arg(ALIASES).clone())
                    .await?;
                for (alias, target) in pairs(&all) {
                    if target == *name {
                        cmds.push(redis::cmd("HDEL").arg(ALIASES).arg(alias).clone());
                    }
                }
            }
            Change::Alias { alias, name } => cmds.push(
                redis::cmd("HSET")
                    .arg(ALIASES)
                    .arg(alias.as_slice())
                    .arg(name.as_slice())
                    .clone(),
            ),
            Change::Unalias { alias } => cmds.push(
                redis::cmd("HDEL")
                    .arg(ALIASES)
                    .arg(alias.as_slice())
                    .clone(),
            ),
        }
        for cmd in &cmds {
            if let Value::ServerError(err) = self.keyed(cmd).await? {
                return Err(err.into());
            }
        }
        Ok(())
    }

    /// A keyed command, routed by redis-rs.
    async fn keyed(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        aio::ConnectionLike::req_packed_command(&mut self.inner, cmd).await
    }

    async fn read_record(&mut self) -> RedisResult<Record> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(DEFINITIONS)
            .cmd("HGETALL")
            .arg(ALIASES);
        let replies: Vec<Value> = pipe.query_async(&mut self.inner).await?;
        match replies.as_slice() {
            [definitions, aliases] => Ok(Record::of(definitions, aliases)),
            _ => Err(client_error("two HGETALLs had another number of replies")),
        }
    }

    /// Makes each primary's copies whole under its tag and drops its
    /// orphans (see the [module](self)). `shards`: each primary and its
    /// tag; `lists`: each primary's `FT._LIST`; `ranges`: the slot map.
    pub(super) async fn repair(
        &mut self,
        shards: &[(String, String)],
        lists: &HashMap<String, Vec<String>>,
        ranges: &[(u16, u16, String)],
    ) -> RedisResult<()> {
        let owns = |addr: &str, tag: &str| {
            let slot = key_slot(tag.as_bytes());
            ranges
                .iter()
                .any(|(lo, hi, a)| a == addr && (*lo..=*hi).contains(&slot))
        };
        // Which logical indexes each primary holds, under any tag.
        let mut held: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut any_orphan = false;
        for (addr, names) in lists {
            for name in names {
                if let Some((tag, logical)) = split_copy(name) {
                    held.entry(addr.as_str()).or_default().insert(logical);
                    any_orphan |= !owns(addr, tag);
                }
            }
        }
        let record = match self.read_record().await {
            Ok(record) => record,
            // Nothing to repair without it unless a copy is orphaned.
            Err(_) if !any_orphan => return Ok(()),
            Err(err) => return Err(err),
        };
        for (addr, tag) in shards {
            let Some(names) = lists.get(addr) else {
                continue;
            };
            let mut orphans: Vec<(&str, &str)> = Vec::new();
            let mut current: HashSet<&str> = HashSet::new();
            for name in names {
                if let Some((t, logical)) = split_copy(name) {
                    if t == tag {
                        current.insert(logical);
                    } else if !owns(addr, t) {
                        orphans.push((t, logical));
                    }
                }
            }
            let mut made: Vec<&str> = Vec::new();
            for (logical, args) in &record.definitions {
                if current.contains(logical.as_str()) {
                    continue;
                }
                let here = held
                    .get(addr.as_str())
                    .is_some_and(|h| h.contains(logical.as_str()));
                let elsewhere = held
                    .iter()
                    .any(|(a, h)| *a != addr.as_str() && h.contains(logical.as_str()));
                if !here && !elsewhere {
                    continue;
                }
                let mut create = redis::cmd("FT.CREATE");
                create.arg(tag_name(logical.as_bytes(), tag));
                for arg in args {
                    create.arg(arg.as_slice());
                }
                match self.node(addr, &create).await {
                    Ok(Value::ServerError(err)) if !already_exists(&err.clone().into()) => {
                        return Err(err.into())
                    }
                    Err(err) if !already_exists(&err) => return Err(err),
                    _ => {}
                }
                made.push(logical.as_str());
            }
            // The copies made now and those beside an orphan (made by another
            // connection, perhaps still indexing) are waited for.
            let mut wait: Vec<&str> = made.clone();
            for (_, logical) in &orphans {
                if !wait.contains(logical) && record.definitions.contains_key(*logical) {
                    wait.push(logical);
                }
            }
            for (alias, logical) in &record.aliases {
                if !wait.contains(&logical.as_str()) {
                    continue;
                }
                let add = redis::cmd("FT.ALIASADD")
                    .arg(tag_name(alias.as_bytes(), tag))
                    .arg(tag_name(logical.as_bytes(), tag))
                    .clone();
                match self.node(addr, &add).await {
                    Ok(Value::ServerError(err)) if !already_exists(&err.clone().into()) => {
                        return Err(err.into())
                    }
                    Err(err) if !already_exists(&err) => return Err(err),
                    _ => {}
                }
            }
            for logical in &wait {
                self.wait_built(addr, tag, logical).await?;
            }
            // An orphan goes once its index has a copy under the tag.
            let mut by_slot: HashMap<u16, Vec<String>> = HashMap::new();
            for (t, logical) in &orphans {
                if current.contains(logical) || made.contains(logical) {
                    by_slot
                        .entry(key_slot(t.as_bytes()))
                        .or_default()
                        .push(format!("{{{t}}}{logical}"));
                }
            }
            for (slot, names) in by_slot {
                self.drop_orphans(addr, slot, &names).await?;
            }
        }
        Ok(())
    }

    /// Waits until the copy `{tag}logical` on `addr` finished indexing.
    async fn wait_built(&mut self, addr: &str, tag: &str, logical: &str) -> RedisResult<()> {
        let info = redis::cmd("FT.INFO")
            .arg(tag_name(logical.as_bytes(), tag))
            .clone();
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let reply = match self.node(addr, &info).await? {
                Value::ServerError(err) => return Err(err.into()),
                reply => reply,
            };
            let indexing = number(crate::storage::info_field(&reply, "indexing")).unwrap_or(0.0);
            let percent =
                number(crate::storage::info_field(&reply, "percent_indexed")).unwrap_or(1.0);
            if indexing == 0.0 && percent >= 1.0 {
                return Ok(());
            }
            if start.elapsed() >= BUILD {
                return Err(building(logical, addr, percent));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Drops the orphan copies `names` on `addr`, all named after `slot`,
    /// which another primary owns (see the [module](self)).
    async fn drop_orphans(&mut self, addr: &str, slot: u16, names: &[String]) -> RedisResult<()> {
        let nodes = self
            .node(addr, &redis::cmd("CLUSTER").arg("NODES").clone())
            .await?;
        let me = stamp::parse(addr, &nodes)?;
        let Some(owner) = stamp::owner_of(&nodes, slot) else {
            return Ok(());
        };
        // Not while a slot moves to or from this node (`STABLE` would clear
        // the reshard's marker), nor if the slot is this node's again.
        if !me.moving.is_empty()
            || owner == me.id
            || me.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&slot))
        {
            return Ok(());
        }
        let importing = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&owner)
            .clone();
        // Only once the node took the marker: after `ASKING` it would also
        // run a drop for a slot it owns.
        if !matches!(
            self.node(addr, &importing).await?,
            Value::Okay | Value::SimpleString(_)
        ) {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for name in names {
            pipe.cmd("ASKING").cmd("FT.DROPINDEX").arg(name.as_str());
        }
        pipe.cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("STABLE");
        let (host, port) = super::split_addr(addr)?;
        let sent = self
            .inner
            .route_pipeline(
                pipe,
                0,
                names.len() * 2 + 1,
                redis::cluster_routing::SingleNodeRoutingInfo::ByAddress { host, port },
            )
            .await;
        if sent.is_err() {
            // Never leave the marker behind.
            let stable = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE")
                .clone();
            self.node(addr, &stable).await?;
        }
        sent.map(|_| ())
    }
}

/// Each primary's `FT._LIST` as names.
pub(super) fn names_of(reply: &Value) -> Vec<String> {
    match reply {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn arguments_survive_encoding() {
        let all = vec![
            b"ON".to_vec(),
            b"HASH".to_vec(),
            Vec::new(),
            b"a:b:{c}".to_vec(),
            vec![0, 255, b':', b'9'],
            b"12:34".to_vec(),
        ];
        assert_eq!(decode(&encode(&all)), Some(all));
        assert_eq!(decode(b""), Some(Vec::new()));
        assert_eq!(decode(b"5:abc"), None);
        assert_eq!(decode(b"x:abc"), None);
    }

    #[test]
    fn definitions_say_what_they_change() {
        assert_eq!(
            Change::of(&args(&[
                "FT.CREATE",
                "i",
                "ON",
                "HASH",
                "SCHEMA",
                "a",
                "TAG"
            ])),
            Change::Define {
                name: b"i".to_vec(),
                args: args(&["ON", "HASH", "SCHEMA", "a", "TAG"])
            }
        );
        assert_eq!(
            Change::of(&args(&["ft.alter", "i", "SCHEMA", "ADD", "b", "NUMERIC"])),
            Change::Alter {
                name: b"i".to_vec(),
                attrs: args(&["b", "NUMERIC"])
            }
        );
        let drop = Change::of(&args(&["FT.DROPINDEX", "i"]));
        assert!(drop.goes_first());
        assert_eq!(
            Change::of(&args(&["FT.ALIASUPDATE", "a", "i"])),
            Change::Alias {
                alias: b"a".to_vec(),
                name: b"i".to_vec()
            }
        );
        assert!(!Change::of(&args(&["FT.ALIASADD", "a", "i"])).goes_first());
        assert!(Change::of(&args(&["FT.ALIASDEL", "a"])).goes_first());
        assert_eq!(
            Change::of(&args(&["FT.SYNUPDATE", "i", "g", "x"])),
            Change::None
        );
    }

    #[test]
    fn only_canonical_tags_are_copies() {
        let tag = slot_tags()[100].clone();
        let name = format!("{{{tag}}}User:index");
        assert_eq!(split_copy(&name), Some((tag.as_str(), "User:index")));
        assert_eq!(split_copy("{user:1}:orders"), None);
        assert_eq!(split_copy("User:index"), None);
    }
}
