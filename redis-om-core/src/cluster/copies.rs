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
//! index does not exist), each primary is repaired
//! ([`ClusterConnection::repair`]): each recorded index it lacks under its
//! tag gets a copy (`FT.CREATE` from the recorded arguments), if the primary
//! holds the index under another tag or another primary holds it, and each
//! recorded alias follows (`FT.ALIASADD`). A copy is searched only once this
//! connection saw `FT.INFO` say it finished indexing (each copy once,
//! [`ClusterConnection::wait_built`]): a search of one still building waits up
//! to [`BUILD`], then fails with `TRYAGAIN`, never with a partial result.
//!
//! The orphans stay where they are (complete, still indexing their node's
//! documents) until an operator drops them with
//! [`ClusterConnection::drop_orphan_copies`] once the reshard is over: a node
//! accepts an orphan's name only while it marks the slot `IMPORTING`, and a
//! marker left behind (a process killed at that moment) would stop every
//! search until `redis-cli --cluster fix`, which is not a step to take on a
//! search's path.

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
    /// [`Change`] says; `existed`: every primary already had it (then an
    /// earlier record stands). Best effort: a user whose ACL does not reach
    /// these keys keeps the behaviour without the record (the migrator
    /// makes a lost copy again).
    pub(super) async fn record(&mut self, change: &Change, existed: bool) {
        let mut cmds: Vec<Cmd> = Vec::new();
        match change {
            Change::None => return,
            Change::Define { name, args } => cmds.push(
                redis::cmd(if existed { "HSETNX" } else { "HSET" })
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
            .arg(ALIASES);
        let replies: Vec<Value> = pipe.query_async(&mut self.inner).await?;
        match replies.as_slice() {
            [definitions, aliases] => Ok(Record::of(definitions, aliases)),
            _ => Err(client_error("two HGETALLs had another number of replies")),
        }
    }

    /// Gives each listed primary a copy of every recorded index it lacks
    /// under its tag, and every recorded alias (see the [module](self)).
    /// `shards`: each primary and its tag; `lists`: the `FT._LIST` of the
    /// primaries that answered. Best effort and
    /// bounded by [`BUILD`]: an index it cannot repair stays as it was, and
    /// its searches say so ("does not exist").
    pub(super) async fn repair(
        &mut self,
        shards: &[(String, String)],
        lists: &HashMap<String, Vec<String>>,
    ) {
        let _ = tokio::time::timeout(BUILD, self.repair_now(shards, lists)).await;
    }

    async fn repair_now(
        &mut self,
        shards: &[(String, String)],
        lists: &HashMap<String, Vec<String>>,
    ) {
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
            let mut current: HashSet<&str> = names
                .iter()
                .filter_map(|name| split_copy(name))
                .filter(|(t, _)| t == tag)
                .map(|(_, logical)| logical)
                .collect();
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
                if (here || elsewhere) && self.make_copy(addr, tag, logical, args).await {
                    current.insert(logical.as_str());
                }
            }
            // Every recorded alias of a copy here (one that failed before
            // is added now; one that exists stays as it is).
            for (alias, logical) in &record.aliases {
                if !current.contains(logical.as_str()) {
                    continue;
                }
                let add = redis::cmd("FT.ALIASADD")
                    .arg(tag_name(alias.as_bytes(), tag))
                    .arg(tag_name(logical.as_bytes(), tag))
                    .clone();
                let _ = self.node(addr, &add).await;
            }
        }
    }

    /// Waits (up to [`stamp::SETTLE`]) until no primary is moving the slot
    /// its copies are named after: a command for a copy's name would be
    /// redirected (`ASK`) to the slot's other side, where that copy is not.
    /// Then `TRYAGAIN`.
    pub(super) async fn wait_copies_still(
        &mut self,
        what: &str,
        refresh: bool,
    ) -> RedisResult<Vec<(String, String)>> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let shards = self.shards(refresh || attempt > 0).await?;
            let nodes = redis::cmd("CLUSTER").arg("NODES").clone();
            let stamps = futures_util::future::join_all(shards.iter().map(|(addr, _)| {
                let mut con = self.clone();
                let nodes = &nodes;
                async move { con.node(addr, nodes).await }
            }))
            .await;
            let mut moving = Vec::new();
            let mut unreachable = None;
            for ((addr, tag), reply) in shards.iter().zip(stamps) {
                // A primary gone (a failover): the next attempt reads the
                // map again.
                let reply = match reply {
                    Err(err) if crate::error::is_unavailable(&err) => {
                        unreachable = Some(err);
                        continue;
                    }
                    other => other?,
                };
                let me = stamp::parse(addr, &reply)?;
                let slot = key_slot(tag.as_bytes()).to_string();
                for marker in &me.moving {
                    let moved = marker
                        .trim_start_matches('[')
                        .split(['-', '>', '<'])
                        .next()
                        .is_some_and(|s| s == slot);
                    if moved {
                        moving.push(format!("{addr} {marker}"));
                    }
                }
            }
            if moving.is_empty() && unreachable.is_none() {
                return Ok(shards);
            }
            if started.elapsed() >= stamp::SETTLE {
                if let (true, Some(err)) = (moving.is_empty(), unreachable) {
                    return Err(err);
                }
                return Err(RedisError::from((
                    ErrorKind::Server(ServerErrorKind::TryAgain),
                    "redis-om cluster",
                    format!(
                        "{what} was not sent: the slot an index copy is named after was still \
                         moving after {} s ({}), and the copy's name cannot be reached until \
                         the move ends: retry then (nothing was changed)",
                        stamp::SETTLE.as_secs(),
                        moving.join(", ")
                    ),
                )));
            }
            tokio::time::sleep(stamp::backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Makes the copy `{tag}logical` on `addr`; whether it exists
    /// afterwards. A copy of an index forgotten meanwhile (dropped by the
    /// migrator) is dropped again.
    async fn make_copy(&mut self, addr: &str, tag: &str, logical: &str, args: &[Vec<u8>]) -> bool {
        let copy = tag_name(logical.as_bytes(), tag);
        let mut create = redis::cmd("FT.CREATE");
        create.arg(copy.as_slice());
        // A copy made now must index the documents already there.
        for arg in args
            .iter()
            .filter(|a| !a.eq_ignore_ascii_case(b"SKIPINITIALSCAN"))
        {
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
        made && recorded
    }

    /// Whether the copy (or alias) `copy` on `addr` finished indexing; a
    /// copy that is not there counts as finished (its search says it does
    /// not exist, which repairs it).
    async fn built(&mut self, addr: &str, copy: &[u8]) -> RedisResult<bool> {
        let info = redis::cmd("FT.INFO").arg(copy).clone();
        let reply = match self.node(addr, &info).await {
            Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
            other => other,
        };
        match reply {
            Ok(reply) => Ok(crate::info::IndexInfo::of(&reply).built()),
            Err(err) if crate::error::is_unknown_index(&err) => Ok(true),
            Err(err) => Err(err),
        }
    }

    /// Before a search of `index` (its logical name) on `shards`: each copy
    /// this connection has not yet seen finished (`FT.INFO`, once per copy)
    /// is waited for up to [`BUILD`], then the search fails with `TRYAGAIN`
    /// (never a partial result).
    pub(super) async fn wait_built(
        &mut self,
        index: &[u8],
        shards: &[(String, String)],
    ) -> RedisResult<()> {
        let unseen: Vec<(String, Vec<u8>)> = match self.shared.verified.lock() {
            Ok(seen) => shards
                .iter()
                .map(|(addr, tag)| (addr.clone(), tag_name(index, tag)))
                .filter(|copy| !seen.contains(copy))
                .collect(),
            Err(_) => return Ok(()),
        };
        if unseen.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let checks = futures_util::future::join_all(unseen.into_iter().map(|(addr, copy)| {
            let mut con = self.clone();
            async move {
                let mut pause = Duration::from_millis(5);
                loop {
                    if con.built(&addr, &copy).await? {
                        return Ok((addr, copy));
                    }
                    if start.elapsed() >= BUILD {
                        return Err(building(&String::from_utf8_lossy(index), &addr));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }))
        .await;
        for check in checks {
            let seen = check?;
            if let Ok(mut set) = self.shared.verified.lock() {
                set.insert(seen);
            }
        }
        Ok(())
    }

    /// Drops the index copies a reshard left behind, once the reshard is
    /// over. (Without a search coordinator each primary holds a copy of
    /// every index named after one of its slots; when a reshard moves that
    /// slot away, the copy stays on its primary, complete and still
    /// indexing, but unreachable, and the connection makes a new one.) It
    /// drops, on each primary, a copy named after a slot it no longer owns
    /// whose index has a copy under the primary's own tag, and returns how
    /// many it dropped. Run it from an operator's tool,
    /// not from a service's request path; it does nothing on a primary that
    /// is moving a slot.
    ///
    /// Each primary's orphans go on a connection of its own to that node
    /// (so that no command is redirected to another node), under a lease
    /// (`{redis-om}:cluster:dropping:<node id>`, one process at a time):
    /// `CLUSTER SETSLOT <slot> IMPORTING <owner>` (the node accepts the
    /// orphan's name after `ASKING` only then), `ASKING` + `FT.DROPINDEX`
    /// (without the documents), `CLUSTER SETSLOT <slot> STABLE`. The slot is
    /// noted in `{redis-om}:cluster:importing:<node id>` meanwhile, so that
    /// a run killed between the two clears the marker next time.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for a connection made with
    /// [`ClusterConnection::new`] (it knows no node settings to connect
    /// with); a node that cannot be reached.
    pub async fn drop_orphan_copies(&mut self) -> crate::Result<u64> {
        let Some(seed) = self.shared.seed.clone() else {
            return Err(crate::Error::Config(
                "drop_orphan_copies needs a connection made with connect_cluster (it connects \
                 to each node with the seed's settings)"
                    .into(),
            ));
        };
        let shards = self.shards(true).await?;
        let mut dropped = 0;
        for (addr, tag) in shards {
            let (host, port) = super::split_addr(&addr)?;
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
            let client = redis::Client::open(info)?;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(crate::connect::CONNECTION_TIMEOUT))
                .set_response_timeout(Some(crate::connect::CLUSTER_RESPONSE_TIMEOUT));
            let mut node = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            dropped += self.drop_orphans_on(&mut node, &tag).await?;
        }
        Ok(dropped)
    }

    async fn drop_orphans_on(
        &mut self,
        node: &mut redis::aio::MultiplexedConnection,
        tag: &str,
    ) -> crate::Result<u64> {
        let nodes: Value = redis::cmd("CLUSTER").arg("NODES").query_async(node).await?;
        let me = stamp::parse("", &nodes)?;
        let noted = format!("{{redis-om}}:cluster:importing:{}", me.id);
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
            self.keyed(&take).await?,
            Value::Okay | Value::SimpleString(_)
        ) {
            return Ok(0);
        }
        let outcome = self
            .drop_orphans_leased(node, &nodes, &me, tag, &noted, (&lease, &token))
            .await;
        let release = redis::cmd("EVAL")
            .arg(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                 return redis.call('DEL', KEYS[1]) end return 0",
            )
            .arg(1)
            .arg(&lease)
            .arg(&token)
            .clone();
        let _ = self.keyed(&release).await;
        outcome
    }

    async fn drop_orphans_leased(
        &mut self,
        node: &mut redis::aio::MultiplexedConnection,
        nodes: &Value,
        me: &stamp::Stamp,
        tag: &str,
        noted: &str,
        (lease, token): (&str, &str),
    ) -> crate::Result<u64> {
        // A marker an earlier run left (killed between IMPORTING and
        // STABLE): the only slot this node moves, the one noted.
        if let Ok(Value::BulkString(slot)) = self.keyed(&redis::cmd("GET").arg(noted).clone()).await
        {
            let slot = String::from_utf8_lossy(&slot).into_owned();
            let ours = me.moving.len() == 1 && me.moving[0].starts_with(&format!("[{slot}-<-"));
            if ours {
                let _: Value = redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(&slot)
                    .arg("STABLE")
                    .query_async(node)
                    .await?;
            }
            if ours || me.moving.is_empty() {
                let _ = self.keyed(&redis::cmd("DEL").arg(noted).clone()).await;
            }
            return Ok(0);
        }
        if !me.moving.is_empty() {
            return Ok(0);
        }
        let names: Value = redis::cmd("FT._LIST").query_async(node).await?;
        let names = names_of(&names);
        let current: HashSet<&str> = names
            .iter()
            .filter_map(|n| split_copy(n))
            .filter(|(t, _)| *t == tag)
            .map(|(_, logical)| logical)
            .collect();
        let mut by_slot: HashMap<u16, Vec<&str>> = HashMap::new();
        for name in &names {
            if let Some((t, logical)) = split_copy(name) {
                let slot = key_slot(t.as_bytes());
                let owned = me.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&slot));
                if t != tag && !owned && current.contains(logical) {
                    by_slot.entry(slot).or_default().push(name);
                }
            }
        }
        let mut dropped = 0;
        for (slot, orphans) in by_slot {
            let Some(owner) = stamp::owner_of(nodes, slot) else {
                continue;
            };
            // The lease lasts for each slot's steps (renewed, if still ours).
            let renew = redis::cmd("EVAL")
                .arg(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('PEXPIRE', KEYS[1], 30000) end return 0",
                )
                .arg(1)
                .arg(lease)
                .arg(token)
                .clone();
            if !matches!(self.keyed(&renew).await?, Value::Int(1)) {
                break;
            }
            let note = redis::cmd("SET").arg(noted).arg(slot).clone();
            self.keyed(&note).await?;
            let marked: RedisResult<Value> = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&owner)
                .query_async(node)
                .await;
            // The drops go only once the node took the marker (after
            // `ASKING` it would also run one for a slot it owns).
            if matches!(marked, Ok(Value::Okay | Value::SimpleString(_))) {
                for name in &orphans {
                    let mut pipe = redis::pipe();
                    pipe.cmd("ASKING").ignore().cmd("FT.DROPINDEX").arg(*name);
                    if let Ok((Value::Okay | Value::SimpleString(_),)) =
                        pipe.query_async::<(Value,)>(node).await
                    {
                        dropped += 1;
                    }
                }
            }
            let _: Value = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE")
                .query_async(node)
                .await?;
            let _ = self.keyed(&redis::cmd("DEL").arg(noted).clone()).await;
        }
        Ok(dropped)
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
