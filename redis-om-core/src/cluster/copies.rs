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

/// The copies being built: `{address}\n{copy name}` for each, set before
/// its `FT.CREATE` and removed once `FT.INFO` says it finished indexing.
pub(super) const BUILDING: &str = "{redis-om}:cluster:building";

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
            "FT.ALTER" => match args
                .iter()
                .skip(2)
                .position(|a| a.eq_ignore_ascii_case(b"ADD"))
            {
                Some(at) => Change::Alter {
                    name,
                    attrs: args[at + 3..].to_vec(),
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
    /// The [`BUILDING`] fields.
    building: Vec<String>,
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

fn building(index: &str, addr: &str) -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::TryAgain),
        "redis-om cluster",
        format!(
            "the copy of the index {index:?} on the primary {addr}, made after a reshard moved \
             the slot its old copy was named after (or on a primary new to the cluster), was \
             still indexing after {} s: retry once it finishes (no partial result was \
             returned)",
            BUILD.as_secs(),
        ),
    ))
}

impl ClusterConnection {
    /// Records (or forgets) what an index definition changes, as
    /// [`Change`] says. Best effort: a user whose ACL does not reach these
    /// keys keeps the behaviour without the record (the migrator makes a
    /// lost copy again).
    pub(super) async fn record(&mut self, change: &Change) {
        let mut cmds: Vec<Cmd> = Vec::new();
        match change {
            Change::None => return,
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
                let Ok(Value::BulkString(current)) = self.keyed(&get).await else {
                    return;
                };
                let Some(mut args) = decode(&current) else {
                    return;
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
                if let Ok(all) = self
                    .keyed(&redis::cmd("HGETALL").arg(ALIASES).clone())
                    .await
                {
                    for (alias, target) in pairs(&all) {
                        if target == *name {
                            cmds.push(redis::cmd("HDEL").arg(ALIASES).arg(alias).clone());
                        }
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
            let _ = self.keyed(cmd).await;
        }
    }

    /// A keyed command, routed by redis-rs.
    async fn keyed(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match aio::ConnectionLike::req_packed_command(&mut self.inner, cmd).await? {
            Value::ServerError(err) => Err(err.into()),
            reply => Ok(reply),
        }
    }

    async fn read_record(&mut self) -> RedisResult<Record> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(DEFINITIONS)
            .cmd("HGETALL")
            .arg(ALIASES)
            .cmd("HGETALL")
            .arg(BUILDING);
        let replies: Vec<Value> = pipe.query_async(&mut self.inner).await?;
        match replies.as_slice() {
            [definitions, aliases, building] => {
                let mut record = Record::of(definitions, aliases);
                record.building = pairs(building)
                    .into_iter()
                    .map(|(field, _)| String::from_utf8_lossy(&field).into_owned())
                    .collect();
                Ok(record)
            }
            _ => Err(client_error("three HGETALLs had another number of replies")),
        }
    }

    /// Makes each listed primary's copies whole under its tag and drops its
    /// orphans (see the [module](self)). `shards`: each primary and its
    /// tag; `lists`: the `FT._LIST` of the primaries that answered;
    /// `ranges`: the slot map. Best effort: an index it cannot repair stays
    /// as it was, and its searches say so ("does not exist").
    pub(super) async fn repair(
        &mut self,
        shards: &[(String, String)],
        lists: &HashMap<String, Vec<String>>,
        ranges: &[(u16, u16, String)],
    ) {
        // One repair at a time in this process (clones share it).
        let shared = self.shared.clone();
        let _one = shared.repairing.lock().await;
        let owns = |addr: &str, tag: &str| {
            let slot = key_slot(tag.as_bytes());
            ranges
                .iter()
                .any(|(lo, hi, a)| a == addr && (*lo..=*hi).contains(&slot))
        };
        // Which logical indexes each primary holds, under any tag.
        let mut held: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (addr, names) in lists {
            for name in names {
                if let Some((_, logical)) = split_copy(name) {
                    held.entry(addr.as_str()).or_default().insert(logical);
                }
            }
        }
        let Ok(record) = self.read_record().await else {
            return;
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
                if !(here || elsewhere) {
                    continue;
                }
                if self.make_copy(addr, tag, logical, args).await {
                    current.insert(logical.as_str());
                }
            }
            // The copies being built on this primary (by this connection or
            // another process): searches of them wait (`wait_built`).
            let mut building: Vec<&str> = Vec::new();
            for field in &record.building {
                if let Some((a, copy)) = field.split_once('\n') {
                    if a == addr {
                        if let Some((t, logical)) = split_copy(copy) {
                            if t == tag {
                                building.push(logical);
                            }
                        }
                    }
                }
            }
            for logical in record.definitions.keys() {
                let fresh = self.is_building(addr, &tag_name(logical.as_bytes(), tag));
                if fresh && !building.contains(&logical.as_str()) {
                    building.push(logical);
                }
            }
            for (_, logical) in &orphans {
                // An orphan's index got its copy: the aliases follow.
                if current.contains(logical) && !building.contains(logical) {
                    building.push(logical);
                }
            }
            for (alias, logical) in &record.aliases {
                if !building.contains(&logical.as_str()) {
                    continue;
                }
                let add = redis::cmd("FT.ALIASADD")
                    .arg(tag_name(alias.as_bytes(), tag))
                    .arg(tag_name(logical.as_bytes(), tag))
                    .clone();
                let _ = self.node(addr, &add).await;
            }
            let mut built: HashSet<&str> = HashSet::new();
            for logical in &building {
                let copy = tag_name(logical.as_bytes(), tag);
                if self.built(addr, &copy).await {
                    self.done_building(addr, &copy).await;
                    built.insert(logical);
                } else {
                    let mut names = vec![copy];
                    for (alias, target) in &record.aliases {
                        if target == logical {
                            names.push(tag_name(alias.as_bytes(), tag));
                        }
                    }
                    if let Ok(mut set) = self.shared.building.lock() {
                        for name in names {
                            set.insert((addr.clone(), name));
                        }
                    }
                }
            }
            // An orphan goes once its index has a finished copy under the tag.
            let mut by_slot: HashMap<u16, Vec<String>> = HashMap::new();
            for (t, logical) in &orphans {
                let finished = current.contains(logical)
                    && (!building.contains(logical) || built.contains(logical));
                if finished {
                    by_slot
                        .entry(key_slot(t.as_bytes()))
                        .or_default()
                        .push(format!("{{{t}}}{logical}"));
                }
            }
            for (slot, names) in by_slot {
                self.drop_orphans(addr, slot, names).await;
            }
        }
    }

    /// Makes the copy `{tag}logical` on `addr`, marked as building first
    /// ([`BUILDING`]); whether it exists afterwards. A copy of an index
    /// forgotten meanwhile (dropped by the migrator) is dropped again.
    async fn make_copy(&mut self, addr: &str, tag: &str, logical: &str, args: &[Vec<u8>]) -> bool {
        let copy = tag_name(logical.as_bytes(), tag);
        let field = building_field(addr, &copy);
        let mark = redis::cmd("HSET")
            .arg(BUILDING)
            .arg(field.as_slice())
            .arg(1)
            .clone();
        if self.keyed(&mark).await.is_err() {
            return false;
        }
        let mut create = redis::cmd("FT.CREATE");
        create.arg(copy.as_slice());
        for arg in args {
            create.arg(arg.as_slice());
        }
        let made = match self.node(addr, &create).await {
            Ok(Value::ServerError(err)) => already_exists(&err.into()),
            Ok(_) => true,
            Err(err) => already_exists(&err),
        };
        let still = redis::cmd("HEXISTS").arg(DEFINITIONS).arg(logical).clone();
        let recorded = matches!(self.keyed(&still).await, Ok(Value::Int(1)));
        if made && !recorded {
            let drop = redis::cmd("FT.DROPINDEX").arg(copy.as_slice()).clone();
            let _ = self.node(addr, &drop).await;
        }
        if !(made && recorded) {
            self.done_building(addr, &copy).await;
            return false;
        }
        if let Ok(mut set) = self.shared.building.lock() {
            set.insert((addr.to_owned(), copy));
        }
        true
    }

    fn is_building(&self, addr: &str, copy: &[u8]) -> bool {
        self.shared
            .building
            .lock()
            .is_ok_and(|set| set.contains(&(addr.to_owned(), copy.to_vec())))
    }

    /// Forgets that `copy` on `addr` is being built.
    async fn done_building(&mut self, addr: &str, copy: &[u8]) {
        if let Ok(mut set) = self.shared.building.lock() {
            set.remove(&(addr.to_owned(), copy.to_vec()));
        }
        let unmark = redis::cmd("HDEL")
            .arg(BUILDING)
            .arg(building_field(addr, copy))
            .clone();
        let _ = self.keyed(&unmark).await;
    }

    /// Whether the copy (or alias) `copy` on `addr` finished indexing; a
    /// copy that is not there counts as finished (its search says it does
    /// not exist, which repairs it).
    async fn built(&mut self, addr: &str, copy: &[u8]) -> bool {
        let info = redis::cmd("FT.INFO").arg(copy).clone();
        let reply = match self.node(addr, &info).await {
            Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
            other => other,
        };
        match reply {
            Ok(reply) => {
                let indexing =
                    number(crate::storage::info_field(&reply, "indexing")).unwrap_or(0.0);
                let percent =
                    number(crate::storage::info_field(&reply, "percent_indexed")).unwrap_or(1.0);
                indexing == 0.0 && percent >= 1.0
            }
            Err(err) => crate::error::is_unknown_index(&err),
        }
    }

    /// Before a search of `index` (its logical name) on `shards`: waits up
    /// to [`BUILD`] for any of its copies still being built, then fails
    /// with `TRYAGAIN` (never a partial result).
    pub(super) async fn wait_built(
        &mut self,
        index: &[u8],
        shards: &[(String, String)],
    ) -> RedisResult<()> {
        let pending: Vec<(String, Vec<u8>)> = match self.shared.building.lock() {
            Ok(set) if !set.is_empty() => shards
                .iter()
                .map(|(addr, tag)| (addr.clone(), tag_name(index, tag)))
                .filter(|entry| set.contains(entry))
                .collect(),
            _ => return Ok(()),
        };
        for (addr, copy) in pending {
            let start = Instant::now();
            let mut pause = Duration::from_millis(5);
            while !self.built(&addr, &copy).await {
                if start.elapsed() >= BUILD {
                    return Err(building(&String::from_utf8_lossy(index), &addr));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            self.done_building(&addr, &copy).await;
        }
        Ok(())
    }

    /// Drops the orphan copies `names` on `addr`, all named after `slot`,
    /// which another primary owns (see the [module](self)), on a connection
    /// of its own to that node (no redirect is followed: a command
    /// redirected to the slot's owner would drop the owner's copy), under a
    /// lease that keeps other processes from doing the same at once, in a
    /// task of its own (a caller that gives up cannot leave the slot marked
    /// `IMPORTING`). Best effort: an orphan left stays until a later repair.
    async fn drop_orphans(&mut self, addr: &str, slot: u16, names: Vec<String>) {
        let Some(seed) = self.shared.seed.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok((host, port)) = super::split_addr(addr) else {
            return;
        };
        let info = seed.clone().set_addr(match seed.addr() {
            redis::ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => redis::ConnectionAddr::Tcp(host, port),
        });
        let mut con = self.clone();
        let task = runtime.spawn(async move {
            let Ok(client) = redis::Client::open(info) else {
                return;
            };
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(crate::connect::CONNECTION_TIMEOUT))
                .set_response_timeout(Some(crate::connect::RESPONSE_TIMEOUT * 4));
            let Ok(mut node) = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            else {
                return;
            };
            let Ok(nodes) = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async::<Value>(&mut node)
                .await
            else {
                return;
            };
            let Ok(me) = stamp::parse("", &nodes) else {
                return;
            };
            let Some(owner) = stamp::owner_of(&nodes, slot) else {
                return;
            };
            // Not while a slot moves to or from this node (`STABLE` would
            // clear the reshard's marker), nor if the slot is its own again.
            if !me.moving.is_empty()
                || owner == me.id
                || me.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&slot))
            {
                return;
            }
            let lease = format!("{{redis-om}}:cluster:dropping:{}", me.id);
            let token = format!("{:x}", super::random_cursor_base());
            let take = redis::cmd("SET")
                .arg(&lease)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(30_000)
                .clone();
            if !matches!(
                con.keyed(&take).await,
                Ok(Value::Okay | Value::SimpleString(_))
            ) {
                return;
            }
            let importing = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&owner)
                .clone();
            // Whatever the marker's reply, it is cleared afterwards; the
            // drops go only once the node took it (after `ASKING` it would
            // also run one for a slot it owns).
            let marked = importing.query_async::<Value>(&mut node).await;
            if matches!(marked, Ok(Value::Okay | Value::SimpleString(_))) {
                let mut pipe = redis::pipe();
                for name in &names {
                    pipe.cmd("ASKING")
                        .ignore()
                        .cmd("FT.DROPINDEX")
                        .arg(name.as_str())
                        .ignore();
                }
                let _ = pipe.query_async::<()>(&mut node).await;
            }
            let stable = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE")
                .clone();
            for _ in 0..3 {
                if stable.query_async::<Value>(&mut node).await.is_ok() {
                    break;
                }
                if let Ok(mut again) = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    node = again.clone();
                    if stable.query_async::<Value>(&mut again).await.is_ok() {
                        break;
                    }
                }
            }
            let release = redis::cmd("EVAL")
                .arg(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('DEL', KEYS[1]) end return 0",
                )
                .arg(1)
                .arg(&lease)
                .arg(&token)
                .clone();
            let _ = con.keyed(&release).await;
        });
        let _ = task.await;
    }
}

/// The field of [`BUILDING`] for the copy `copy` on `addr`.
fn building_field(addr: &str, copy: &[u8]) -> Vec<u8> {
    let mut field = addr.as_bytes().to_vec();
    field.push(b'\n');
    field.extend_from_slice(copy);
    field
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
