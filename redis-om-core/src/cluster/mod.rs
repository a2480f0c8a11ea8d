//! Redis Cluster: [`ClusterConnection`], a `redis::aio::ConnectionLike` that
//! makes a cluster answer redis-om's commands as one server would, so that
//! every model and query operation runs on it unchanged.
//!
//! Single-key commands, scripts and multi-key commands (`MGET`, `UNLINK`,
//! `JSON.MGET`, `JSON.MSET`) are routed by redis-rs's cluster client, which
//! follows redirects and failovers. This layer adds what a cluster needs
//! beyond routing:
//!
//! - **Pipelines across slots** (`save_all`, `get_many`, `delete_many`, bulk
//!   updates) are split by hash slot and the parts sent concurrently; replies
//!   come back in the pipeline's order. Keyless commands in them (`SCRIPT
//!   LOAD`) go with every part.
//! - **Search** comes in two flavours, detected once (`COMMAND INFO
//!   _FT.SEARCH`: only a search coordinator has the shard-local command) or
//!   set with [`ClusterConnection::with_search`]:
//!   - *per shard* (Redis Stack 7.4's `redisearch.so`: each primary indexes
//!     only its own keys, and answers `MOVED` for an index name whose hash
//!     slot it does not own): each primary holds its own copy of every index
//!     under the name with a hash tag of one of its slots in front
//!     (`{t3}:User:index`), which this connection adds and removes, so the
//!     rest of redis-om sees one index. Index definitions (`FT.CREATE`,
//!     aliases, `FT.DROPINDEX`) go to every primary; `FT.INFO` is summed;
//!     `FT.SEARCH` is scattered to every primary and gathered (counts summed,
//!     sorted pages merged from each shard's first `offset + limit` by the
//!     server's own sort keys, `WITHSORTKEYS`); `FT.AGGREGATE … WITHCURSOR`
//!     reads a cursor on every primary behind one cursor of this connection,
//!     merged in order when sorted; `SCAN` walks every primary in turn.
//!     Grouping aggregations (`GROUPBY`) cannot be merged exactly and are
//!     refused with a message saying so.
//!   - *coordinated* (Redis 8's query engine with a coordinator): search
//!     commands go to one primary, chosen in turn, which fans out; a cursor is
//!     read from the primary that made it.
//! - **One slot map per fan-out** (per shard): each shard's read goes with
//!   `CLUSTER NODES` in one round trip, and a search, a cursor's first read
//!   or an `all_pks` scan is returned only when every primary served a
//!   fixed set of slots and together they served all 16,384 once (`stamp`);
//!   while a slot moves or a primary fails over it is read again, and after
//!   `stamp::SETTLE` fails with `TRYAGAIN`: never a partial result.
//! - Replies are RESP2 (the connection is opened so).
//!
//! One idea a module: `topology` (slots, tags, copy names, the slot map),
//! `stamp` (one consistent slot map per fan-out), `copies` (index copies
//! that outlive a reshard), `shard_query` (a search command read back into
//! what a shard's read needs), `search` (scatter and gather), `merge`
//! (merging the shards' replies), `pipeline` (pipelines across slots),
//! `routing` (a command's slot); this file: the connection, its command
//! dispatch, index definitions on every primary, `SCAN`.

mod copies;
mod merge;
mod pipeline;
mod routing;
mod search;
mod shard_query;
mod stamp;
mod topology;

use self::merge::*;
use self::routing::*;
use self::shard_query::*;
use self::topology::*;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{
    aio, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

use crate::connect::KindDescription;
use crate::error::{Error, Result};

/// How long a cursor of this connection lives unread: as long as the server
/// keeps the cursors redis-om opens (`MAXIDLE`).
const CURSOR_IDLE: std::time::Duration = crate::query::CURSOR_MAX_IDLE;

/// A random first cursor id (below 2^53, so that it stays exact anywhere a
/// reply is read as a double).
fn random_cursor_base() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 12).max(1)
}

/// The environment variable that holds the cluster's seed URLs, comma-separated.
pub const CLUSTER_URLS_ENV: &str = "REDIS_OM_CLUSTER_URLS";

/// The seed URLs of a cluster: `REDIS_OM_CLUSTER_URLS` split at commas (empty
/// when unset).
pub fn cluster_urls() -> Vec<String> {
    std::env::var(CLUSTER_URLS_ENV)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How the cluster's search module answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchMode {
    /// Each primary indexes only its own keys (no coordinator: Redis Stack
    /// 7.4): the connection scatters and gathers.
    PerShard,
    /// A coordinator fans a search out (Redis 8's query engine in a cluster):
    /// one primary answers for all.
    Coordinated,
}

/// A connection to a Redis Cluster for every redis-om operation; see the
/// [module](self) for what it does beyond routing. Clone it freely (clones
/// share the cluster client's connections).
///
/// ```no_run
/// # async fn run() -> redis_om::Result<()> {
/// // REDIS_OM_CLUSTER_URLS=redis://10.0.0.1:6379,redis://10.0.0.2:6379
/// let mut con = redis_om::connect_cluster(redis_om::cluster_urls()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClusterConnection {
    inner: redis::cluster_async::ClusterConnection,
    shared: Arc<Shared>,
    /// The hash slot of the last keyed command sent through this handle: a
    /// `WAIT` (`SaveOptions::replicas`) goes to the primary that took it.
    last_slot: Option<u16>,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection")
            .field("search", &self.shared.mode.lock().ok().and_then(|m| *m))
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// The search flavour, once detected or set.
    mode: Mutex<Option<SearchMode>>,
    /// Open cursors of this connection (search reads and `SCAN`).
    /// Open cursors and when each was last used: one left unread (a stream
    /// dropped midway) is forgotten after [`CURSOR_IDLE`], as the server
    /// forgets its own.
    cursors: Mutex<HashMap<u64, (std::time::Instant, Cursor)>>,
    next_cursor: AtomicU64,
    /// The primary the next coordinated search goes to.
    turn: AtomicUsize,
    /// The primaries and the hash tag of each one's copy of an index.
    shards: Mutex<Option<Vec<(String, String)>>>,
    /// The slot ranges of each primary (start, end, address).
    ranges: Mutex<Option<Vec<(u16, u16, String)>>>,
    /// What `FT.INFO` says of an index (by its logical name).
    json: Mutex<HashMap<String, IndexFacts>>,
    /// Each primary's `MAXSEARCHRESULTS`, by address (forgotten when this
    /// connection sets it).
    max_results: Mutex<HashMap<String, u64>>,
    /// A seed's connection settings (password, TLS), for a connection of
    /// its own to one node (`copies`); `None` from [`ClusterConnection::new`].
    seed: Option<redis::ConnectionInfo>,
    /// Held while the primaries are listed and repaired (`copies`): one
    /// repair at a time, and a read of the map waits for the one under way.
    repairing: tokio::sync::Mutex<()>,
    /// The copies (and aliases) this connection saw finished indexing, by
    /// address and name (`copies`).
    verified: Mutex<std::collections::HashSet<(String, Vec<u8>)>>,
    /// A shard answered that an index does not exist: the next read of the
    /// slot map lists every primary's copies again.
    relist: std::sync::atomic::AtomicBool,
}

/// Connects to a cluster from its seed URLs (any reachable node finds the
/// others), with redis-om's timeouts ([`crate::CONNECTION_TIMEOUT`],
/// [`crate::CLUSTER_RESPONSE_TIMEOUT`]) and RESP2.
///
/// # Errors
/// [`Error::Config`] without seeds or with a URL that does not parse;
/// [`Error::Redis`] when no seed answers.
pub async fn connect_cluster<T: IntoConnectionInfo>(
    seeds: impl IntoIterator<Item = T>,
) -> Result<ClusterConnection> {
    crate::connect::install_crypto_provider();
    let seeds: Vec<redis::ConnectionInfo> = seeds
        .into_iter()
        .map(|s| s.into_connection_info())
        .collect::<RedisResult<_>>()
        .map_err(|e| {
            Error::Config(format!(
                "a cluster seed URL is not valid ({}): expected redis://host:port",
                e.kind_description()
            ))
        })?;
    if seeds.is_empty() {
        return Err(Error::Config(format!(
            "no cluster seed URLs (set {CLUSTER_URLS_ENV}=redis://host:port,redis://host:port)"
        )));
    }
    let seed = seeds.first().cloned();
    let client = redis::cluster::ClusterClient::builder(seeds)
        .connection_timeout(crate::connect::CONNECTION_TIMEOUT)
        .response_timeout(crate::connect::CLUSTER_RESPONSE_TIMEOUT)
        .use_protocol(redis::ProtocolVersion::RESP2)
        .build()?;
    let inner = client.get_async_connection().await?;
    Ok(ClusterConnection::with_seed(inner, seed))
}

impl ClusterConnection {
    /// Wraps a connection of redis-rs's cluster client (opened with RESP2).
    /// It knows no node's connection settings, so
    /// [`drop_orphan_copies`](Self::drop_orphan_copies) needs
    /// [`connect_cluster`] instead.
    pub fn new(inner: redis::cluster_async::ClusterConnection) -> Self {
        Self::with_seed(inner, None)
    }

    fn with_seed(
        inner: redis::cluster_async::ClusterConnection,
        seed: Option<redis::ConnectionInfo>,
    ) -> Self {
        ClusterConnection {
            inner,
            last_slot: None,
            shared: Arc::new(Shared {
                mode: Mutex::new(None),
                cursors: Mutex::new(HashMap::new()),
                // A random start, as the server's own cursor ids are random:
                // a cursor abandoned on one connection is deleted through
                // whichever connection next queries its index
                // (`query::cursor`), which must not name a live cursor of
                // another connection.
                next_cursor: AtomicU64::new(random_cursor_base()),
                turn: AtomicUsize::new(0),
                shards: Mutex::new(None),
                ranges: Mutex::new(None),
                json: Mutex::new(HashMap::new()),
                max_results: Mutex::new(HashMap::new()),
                seed,
                repairing: tokio::sync::Mutex::new(()),
                verified: Mutex::new(std::collections::HashSet::new()),
                relist: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Sets the search flavour instead of detecting it.
    pub fn with_search(self, mode: SearchMode) -> Self {
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = Some(mode);
        }
        self
    }

    /// The underlying redis-rs connection, for commands sent as they are.
    pub fn raw(&mut self) -> &mut redis::cluster_async::ClusterConnection {
        &mut self.inner
    }

    /// The search flavour: as set, or detected with `COMMAND INFO _FT.SEARCH`.
    pub async fn search_mode(&mut self) -> RedisResult<SearchMode> {
        if let Some(mode) = self.shared.mode.lock().ok().and_then(|m| *m) {
            return Ok(mode);
        }
        let reply = self
            .inner
            .route_command(
                redis::cmd("COMMAND").arg("INFO").arg("_FT.SEARCH").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
            )
            .await?;
        let coordinated =
            matches!(&reply, Value::Array(items) if items.iter().any(|v| *v != Value::Nil));
        let mode = if coordinated {
            SearchMode::Coordinated
        } else {
            SearchMode::PerShard
        };
        if let Ok(mut m) = self.shared.mode.lock() {
            *m = Some(mode);
        }
        Ok(mode)
    }

    /// Every primary's reply to `cmd`, by address (sorted, for a stable order).
    async fn all_primaries(&mut self, cmd: &Cmd) -> RedisResult<Vec<(String, Value)>> {
        let reply = self
            .inner
            .route_command(
                cmd.clone(),
                RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
            )
            .await?;
        let mut out = match reply {
            Value::Map(pairs) => pairs
                .into_iter()
                .map(|(addr, value)| (text(&addr).unwrap_or_default(), value))
                .collect::<Vec<_>>(),
            other => vec![(String::new(), other)],
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn node(&mut self, addr: &str, cmd: &Cmd) -> RedisResult<Value> {
        let (host, port) = split_addr(addr)?;
        self.inner
            .route_command(
                cmd.clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
            )
            .await
    }

    /// Follows an `ASK` that reached this layer: redis-rs follows them, but
    /// one in about 3,000 reads of a slot being migrated came back as the
    /// `ASK` error itself. The source did not run the command (the key is
    /// on the target), so it runs there, after `ASKING`, in one round trip.
    /// `None` when the error names no node.
    async fn follow_ask(&mut self, err: &RedisError, cmd: &Cmd) -> Option<RedisResult<Value>> {
        let (addr, _) = err.redirect_node()?;
        let (host, port) = split_addr(addr).ok()?;
        let mut pipe = redis::pipe();
        pipe.cmd("ASKING").add_command(cmd.clone());
        let replies = self
            .inner
            .route_pipeline(pipe, 1, 1, SingleNodeRoutingInfo::ByAddress { host, port })
            .await;
        Some(
            replies.and_then(|replies| match replies.into_iter().next() {
                Some(Value::ServerError(err)) => Err(err.into()),
                Some(reply) => Ok(reply),
                None => Err(client_error("ASKING and a command had no reply")),
            }),
        )
    }

    /// `cmd` on one node, in one round trip with `CLUSTER NODES`: the reply,
    /// and what the node said it served at that moment (`stamp`).
    async fn node_stamped(&mut self, addr: &str, cmd: &Cmd) -> RedisResult<(stamp::Stamp, Value)> {
        let (host, port) = split_addr(addr)?;
        let mut pipe = redis::pipe();
        pipe.cmd("CLUSTER").arg("NODES").add_command(cmd.clone());
        let mut replies = self
            .inner
            .route_pipeline(pipe, 0, 2, SingleNodeRoutingInfo::ByAddress { host, port })
            .await?
            .into_iter();
        let (Some(nodes), Some(reply)) = (replies.next(), replies.next()) else {
            return Err(client_error("a pipeline of two commands had fewer replies"));
        };
        if let Value::ServerError(err) = reply {
            return Err(err.into());
        }
        Ok((stamp::parse(addr, &nodes)?, reply))
    }

    /// The node's `MAXSEARCHRESULTS` (`unlimited`: a million, RediSearch's
    /// own cap on a `LIMIT`), read once per address.
    async fn max_results(&mut self, addr: &str) -> RedisResult<u64> {
        if let Some(max) = self
            .shared
            .max_results
            .lock()
            .ok()
            .and_then(|m| m.get(addr).copied())
        {
            return Ok(max);
        }
        let get = redis::cmd("FT.CONFIG")
            .arg("GET")
            .arg("MAXSEARCHRESULTS")
            .clone();
        let reply = self.node(addr, &get).await?;
        let value = match &reply {
            Value::Array(pairs) => pairs.first().and_then(|pair| match pair {
                Value::Array(kv) => kv.get(1).and_then(text),
                _ => None,
            }),
            Value::Map(pairs) => pairs.first().and_then(|(_, v)| text(v)),
            _ => None,
        };
        let max = match value.as_deref() {
            Some("unlimited") | None => UNLIMITED_WINDOW,
            Some(n) => n
                .parse::<u64>()
                .unwrap_or(SHARD_WINDOW)
                .min(UNLIMITED_WINDOW),
        };
        if let Ok(mut cached) = self.shared.max_results.lock() {
            cached.insert(addr.to_owned(), max);
        }
        Ok(max)
    }

    async fn primaries(&mut self) -> RedisResult<Vec<String>> {
        let replies = self.all_primaries(&redis::cmd("PING")).await?;
        Ok(replies.into_iter().map(|(addr, _)| addr).collect())
    }

    fn new_cursor(&self, cursor: Cursor) -> u64 {
        let id = self.shared.next_cursor.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut cursors) = self.shared.cursors.lock() {
            let now = std::time::Instant::now();
            cursors.retain(|_, (used, _)| now.duration_since(*used) < CURSOR_IDLE);
            cursors.insert(id, (now, cursor));
        }
        id
    }

    fn take_cursor(&self, id: u64) -> Option<Cursor> {
        self.shared
            .cursors
            .lock()
            .ok()?
            .remove(&id)
            .map(|(_, cursor)| cursor)
    }

    /// A keyed command, routed by redis-rs (an `ASK` that reaches this
    /// layer followed).
    async fn routed(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let reply = aio::ConnectionLike::req_packed_command(&mut self.inner, cmd).await;
        match reply {
            Err(err) if matches!(err.kind(), ErrorKind::Server(ServerErrorKind::Ask)) => {
                self.follow_ask(&err, cmd).await.unwrap_or(Err(err))
            }
            other => other,
        }
    }

    async fn command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        // Most commands are keyed and go as they are: told apart by their
        // name without copying their arguments.
        let first = cmd
            .args_iter()
            .find_map(|a| match a {
                redis::Arg::Simple(bytes) => Some(bytes),
                _ => None,
            })
            .unwrap_or_default();
        let search = first.len() > 3 && first[..3].eq_ignore_ascii_case(b"FT.");
        if first.eq_ignore_ascii_case(b"SCAN") {
            return self.scan(&args_of(cmd)).await;
        }
        if first.eq_ignore_ascii_case(b"WAIT") || first.eq_ignore_ascii_case(b"WAITAOF") {
            // To the primary of the last write, which the wait is about
            // (redis-rs would ask every primary, a dead one included).
            if let Some(slot) = self.last_slot {
                let route = redis::cluster_routing::Route::new(
                    slot,
                    redis::cluster_routing::SlotAddr::Master,
                );
                return self
                    .inner
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await;
            }
            return aio::ConnectionLike::req_packed_command(&mut self.inner, cmd).await;
        }
        if !search {
            if let Some(key) = key_of(cmd) {
                self.last_slot = Some(key_slot(key));
            }
            return self.routed(cmd).await;
        }
        let args = args_of(cmd);
        let name = String::from_utf8_lossy(first).to_ascii_uppercase();
        // Settings are the server's, not an index's: on every primary, as
        // they are (a coordinator would set only its own node too).
        if name == "FT.CONFIG" {
            self.shards(true).await?;
            let replies = self.per_shard(&args, &[]).await;
            // Forgotten after the change (a read in between would keep
            // the old value).
            if let Ok(mut cached) = self.shared.max_results.lock() {
                cached.clear();
            }
            let mut first = None;
            for (_, reply) in replies? {
                if let Value::ServerError(err) = reply {
                    return Err(RedisError::from(err));
                }
                first.get_or_insert(reply);
            }
            return Ok(first.unwrap_or(Value::Okay));
        }
        let mode = self.search_mode().await?;
        match (mode, name.as_str()) {
            (SearchMode::Coordinated, "FT.CURSOR") => self.coordinated_cursor(&args).await,
            (SearchMode::Coordinated, _) => self.coordinated(&args).await,
            (SearchMode::PerShard, "FT._LIST") => {
                let mut names: Vec<Value> = Vec::new();
                for (_, reply) in self.per_shard(&args, &[]).await? {
                    if let Value::Array(items) = reply {
                        for item in items {
                            let item = untag_value(item);
                            if !names.contains(&item) {
                                names.push(item);
                            }
                        }
                    }
                }
                Ok(Value::Array(names))
            }
            // Each shard's report, for `query::expansion` to read them all.
            (SearchMode::PerShard, "FT.PROFILE") => Ok(Value::Array(
                self.per_shard(&args, &[1])
                    .await?
                    .into_iter()
                    .map(|(_, reply)| reply)
                    .collect(),
            )),
            (SearchMode::PerShard, "FT.INFO") => {
                // Not on a search's path: waiting for a move of the copies'
                // slot first spares a redirect to the other side (where
                // redis-rs would look for the copy in vain).
                self.wait_copies_still("FT.INFO", false).await?;
                let replies = self.per_shard(&args, &[1]).await?;
                merge_info(replies)
            }
            (SearchMode::PerShard, "FT.SEARCH") => self.scatter_search(&args).await,
            (SearchMode::PerShard, "FT.AGGREGATE") => self.scatter_aggregate(&args).await,
            (SearchMode::PerShard, "FT.CURSOR") => self.scatter_cursor(&args).await,
            (SearchMode::PerShard, "FT.ALIASADD" | "FT.ALIASUPDATE") => {
                self.everywhere(&args, &[1, 2]).await
            }
            (SearchMode::PerShard, _) => self.everywhere(&args, &[1]).await,
        }
    }

    /// The primaries and, for each, the hash tag its index copies are named
    /// with, from `CLUSTER SLOTS` (read again for every index definition,
    /// and when a fan-out finds the map changed): the tag its copies already
    /// carry while it owns the tag's slot, else its last slot's.
    async fn shards(&mut self, refresh: bool) -> RedisResult<Vec<(String, String)>> {
        if !refresh {
            if let Some(shards) = self.shared.shards.lock().ok().and_then(|s| s.clone()) {
                return Ok(shards);
            }
        }
        // Asked of the primaries known so far in turn (after a failover the
        // client's own map may still name the dead one), then of any node.
        let slots = redis::cmd("CLUSTER").arg("SLOTS").clone();
        let known: Vec<String> = self
            .shared
            .shards
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(addr, _)| addr)
            .collect();
        let mut reply = None;
        for addr in &known {
            if let Ok(r @ Value::Array(_)) = self.node(addr, &slots).await {
                reply = Some(r);
                break;
            }
        }
        let reply = match reply {
            Some(reply) => reply,
            None => {
                self.inner
                    .route_command(
                        slots,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await?
            }
        };
        let mut shards = parse_slots(&reply)?;
        let ranges = parse_ranges(&reply);
        // Each primary's copies keep their name while it still owns the
        // tag's slot: the tag known before, or the one its copies already
        // carry (`FT._LIST`); only a primary with neither takes its last
        // slot's.
        let before: HashMap<String, String> = self
            .shared
            .shards
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let known = |addr: &str| {
            before.get(addr).filter(|tag| {
                let slot = key_slot(tag.as_bytes());
                ranges
                    .iter()
                    .any(|(lo, hi, a)| a == addr && (*lo..=*hi).contains(&slot))
            })
        };
        // When a primary's tag is not known (a new connection, a new
        // primary, a reshard that moved its tag's slot), or a shard said an
        // index does not exist, every primary is listed and repaired
        // (`copies`): copies a reshard left behind are made again.
        let shared = self.shared.clone();
        let _one = shared.repairing.lock().await;
        let relist = self.shared.relist.swap(false, Ordering::Relaxed);
        if relist || shards.iter().any(|(addr, _)| known(addr).is_none()) {
            let list = redis::cmd("FT._LIST").clone();
            let listed = futures_util::future::join_all(shards.iter().map(|(addr, _)| {
                let mut con = self.clone();
                let list = &list;
                async move { con.node(addr, list).await }
            }))
            .await;
            let mut lists: HashMap<String, Vec<String>> = HashMap::new();
            for ((addr, tag), reply) in shards.iter_mut().zip(listed) {
                let reply = match reply {
                    Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
                    other => other,
                };
                if let Some(known) = known(addr) {
                    // Its tag stands; a primary failing over is the
                    // fan-out's to wait for (`Settle`).
                    *tag = known.clone();
                    if let Ok(reply) = reply {
                        lists.insert(addr.clone(), copies::names_of(&reply));
                    }
                    continue;
                }
                // An error here (the node loading, gone) is the caller's: a
                // tag guessed now would stay for good.
                let names = match reply? {
                    reply @ Value::Array(_) => copies::names_of(&reply),
                    _ => return Err(client_error("FT._LIST answered something else than a list")),
                };
                let owns = |t: &str| {
                    let slot = key_slot(t.as_bytes());
                    ranges
                        .iter()
                        .any(|(lo, hi, a)| a == addr && (*lo..=*hi).contains(&slot))
                };
                if let Some(found) = existing_tag(&names, &owns) {
                    *tag = found;
                }
                lists.insert(addr.clone(), names);
            }
            if self.shared.mode.lock().ok().and_then(|m| *m) != Some(SearchMode::Coordinated) {
                self.repair(&shards, &lists).await;
            }
        } else {
            for (addr, tag) in &mut shards {
                if let Some(known) = known(addr) {
                    *tag = known.clone();
                }
            }
        }
        if let Ok(mut cached) = self.shared.shards.lock() {
            *cached = Some(shards.clone());
        }
        if let Ok(mut cached) = self.shared.ranges.lock() {
            *cached = Some(ranges);
        }
        Ok(shards)
    }

    /// `args` on every primary, with the index names at `names` tagged for
    /// each; sent concurrently. A shard whose index is unknown or that
    /// answers `MOVED` (the slots moved) gets it again after reading the
    /// slots anew.
    async fn per_shard(
        &mut self,
        args: &[Vec<u8>],
        names: &[usize],
    ) -> RedisResult<Vec<(String, Value)>> {
        self.per_shard_replies(args, names)
            .await?
            .into_iter()
            .map(|(addr, reply)| reply.map(|value| (addr, value)))
            .collect()
    }

    /// [`per_shard`](Self::per_shard) with each primary's own error.
    async fn per_shard_replies(
        &mut self,
        args: &[Vec<u8>],
        names: &[usize],
    ) -> RedisResult<Vec<(String, RedisResult<Value>)>> {
        let mut refresh = false;
        loop {
            let shards = if refresh && !names.is_empty() {
                // A copy's name is redirected while its slot moves: the
                // second attempt waits for the move to end.
                self.wait_copies_still("a command on every primary's copy", true)
                    .await?
            } else {
                self.shards(refresh).await?
            };
            let replies = futures_util::future::join_all(shards.iter().map(|(addr, tag)| {
                let mut con = self.clone();
                let cmd = cmd_of(&tagged(args, names, tag));
                let addr = addr.clone();
                async move {
                    let reply = con.node(&addr, &cmd).await;
                    (addr, reply)
                }
            }))
            .await;
            let mut stale = false;
            let mut failure = None;
            for (_, reply) in &replies {
                match reply {
                    // The slots moved, or a primary is gone (a failover):
                    // read the slots again, once.
                    Err(err)
                        if matches!(err.code(), Some("MOVED" | "ASK"))
                            || crate::error::is_unavailable(err) =>
                    {
                        stale = true;
                        failure.get_or_insert(err.clone());
                    }
                    // A primary without its copy (a reshard moved the slot
                    // it was named after): read the slots again, which
                    // repairs it (`copies`), once.
                    Err(err) if crate::error::is_unknown_index(err) => {
                        self.shared.relist.store(true, Ordering::Relaxed);
                        stale = true;
                    }
                    _ => {}
                }
            }
            if let (true, Some(err)) = (refresh, failure) {
                return Err(err);
            }
            if stale && !refresh {
                refresh = true;
                continue;
            }
            return Ok(replies);
        }
    }

    /// An index definition: on every primary (each its own copy), each of
    /// which must accept it; recorded in the cluster, so that a copy a
    /// reshard leaves behind can be made again (`copies`).
    async fn everywhere(&mut self, args: &[Vec<u8>], names: &[usize]) -> RedisResult<Value> {
        // Read the slots again: a definition must reach every current
        // primary, none of which may be moving its copies' slot.
        self.shards(true).await?;
        self.wait_copies_still("an index definition", false).await?;
        let change = copies::Change::of(args);
        // A name is forgotten before it goes, so that no repair brings back
        // a copy of a dropped index.
        if change.goes_first() {
            self.record(&change, false).await;
        }
        let mut first = None;
        let mut refused = None;
        let mut all_have_it = true;
        for (_, reply) in self.per_shard_replies(args, names).await? {
            let reply = match reply {
                Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
                other => other,
            };
            match reply {
                Ok(value) => {
                    first.get_or_insert(value);
                }
                Err(err) => {
                    all_have_it &= crate::error::server_message(&err)
                        .to_ascii_lowercase()
                        .contains("already exists");
                    refused.get_or_insert(err);
                }
            }
        }
        // An alias that already existed may name another index: only
        // what every primary took is recorded.
        let taken =
            all_have_it && (refused.is_none() || matches!(change, copies::Change::Define { .. }));
        if !change.goes_first() && taken {
            self.record(&change, refused.is_some()).await;
        }
        match refused {
            Some(err) => Err(err),
            None => Ok(first.unwrap_or(Value::Okay)),
        }
    }

    /// A search command on one primary, in turn; a cursor remembers it.
    async fn coordinated(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        let nodes = self.primaries().await?;
        let turn = self.shared.turn.fetch_add(1, Ordering::Relaxed);
        let addr = coordinated_node(&nodes, turn)
            .ok_or_else(|| client_error("no primary in the cluster"))?
            .to_owned();
        let cmd = cmd_of(args);
        let reply = self.node(&addr, &cmd).await?;
        if let Some((body, id)) = cursor_reply(&reply).filter(|(_, id)| *id != 0) {
            let ours = self.new_cursor(Cursor::Coordinated { addr, id });
            return Ok(Value::Array(vec![body, Value::Int(ours as i64)]));
        }
        Ok(reply)
    }

    async fn coordinated_cursor(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        let (id, read) = cursor_args(args)?;
        let Some(Cursor::Coordinated { addr, id: theirs }) = self.take_cursor(id) else {
            return Err(client_error("unknown cursor"));
        };
        let mut forwarded = args.to_vec();
        forwarded[3] = theirs.to_string().into_bytes();
        let reply = self.node(&addr, &cmd_of(&forwarded)).await?;
        if !read {
            return Ok(reply);
        }
        match cursor_reply(&reply) {
            Some((body, next)) if next != 0 => {
                let ours = self.new_cursor(Cursor::Coordinated { addr, id: next });
                Ok(Value::Array(vec![body, Value::Int(ours as i64)]))
            }
            Some((body, _)) => Ok(Value::Array(vec![body, Value::Int(0)])),
            None => Ok(reply),
        }
    }

    /// `SCAN` over every primary in turn, behind one cursor.
    async fn scan(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        let given = number_arg(args, 1)?;
        let (nodes, index, node_cursor, mut stamps) = if given == 0 {
            // The primaries of the slot map, not those redis-rs happens to
            // have a connection to: one it cannot reach is an error.
            let nodes = self
                .shards(true)
                .await?
                .into_iter()
                .map(|(addr, _)| addr)
                .collect();
            (nodes, 0, 0, Vec::new())
        } else {
            match self.take_cursor(given) {
                Some(Cursor::Scan {
                    nodes,
                    index,
                    cursor,
                    stamps,
                }) => (nodes, index, cursor, stamps),
                _ => return Err(client_error("unknown SCAN cursor")),
            }
        };
        let Some(addr) = nodes.get(index).cloned() else {
            return Ok(Value::Array(vec![
                Value::BulkString(b"0".to_vec()),
                Value::Array(Vec::new()),
            ]));
        };
        let mut forwarded = args.to_vec();
        forwarded[1] = node_cursor.to_string().into_bytes();
        let (stamp, reply) = self.node_stamped(&addr, &cmd_of(&forwarded)).await?;
        // Every step's stamp: a key that moved to a primary already scanned
        // (or away from one not yet scanned) shows as a slot served twice or
        // by none, or as a primary whose slots changed.
        if !stamps.contains(&stamp) {
            stamps.push(stamp);
        }
        let Value::Array(mut parts) = reply else {
            return Err(client_error("unexpected SCAN reply"));
        };
        if parts.len() != 2 {
            return Err(client_error("unexpected SCAN reply"));
        }
        let keys = parts.pop().unwrap_or(Value::Array(Vec::new()));
        let next: u64 = text(&parts[0]).and_then(|t| t.parse().ok()).unwrap_or(0);
        let (index, next) = if next == 0 {
            (index + 1, 0)
        } else {
            (index, next)
        };
        let id = if index >= nodes.len() {
            stamp::check(&stamps)
                .map_err(|reason| stamp::unsettled("a SCAN of every primary", &reason, false))?;
            0
        } else {
            self.new_cursor(Cursor::Scan {
                nodes,
                index,
                cursor: next,
                stamps,
            })
        };
        Ok(Value::Array(vec![
            Value::BulkString(id.to_string().into_bytes()),
            keys,
        ]))
    }
}

impl aio::ConnectionLike for ClusterConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.pipeline(cmd, offset, count))
    }

    fn get_db(&self) -> i64 {
        0
    }
}

enum Cursor {
    Coordinated {
        addr: String,
        id: u64,
    },
    Merged(Box<Merged>),
    Scan {
        nodes: Vec<String>,
        index: usize,
        cursor: u64,
        /// What each primary said it served at each step (`stamp`).
        stamps: Vec<stamp::Stamp>,
    },
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Double(d) => Some(d.to_string()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

fn client_error(message: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Client, "redis-om cluster", message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinated_searches_go_to_the_primaries_in_turn() {
        let nodes = vec!["a:1".to_owned(), "b:2".to_owned(), "c:3".to_owned()];
        let picks: Vec<&str> = (0..4)
            .map(|t| coordinated_node(&nodes, t).unwrap())
            .collect();
        assert_eq!(picks, ["a:1", "b:2", "c:3", "a:1"]);
        assert_eq!(coordinated_node(&[], 0), None);
    }

    #[test]
    fn keys_give_slots_and_keyless_commands_none() {
        let slot = |c: &Cmd| slot_of(c);
        assert_eq!(
            slot(redis::cmd("HSET").arg("a").arg("f").arg(1)),
            Some(Slot::for_key("a"))
        );
        assert_eq!(
            slot(redis::cmd("EVALSHA").arg("sha").arg(1).arg("{u}x")),
            Some(Slot::for_key("u"))
        );
        assert_eq!(slot(redis::cmd("EVALSHA").arg("sha").arg(0)), None);
        assert_eq!(slot(redis::cmd("SCRIPT").arg("LOAD").arg("return 1")), None);
    }

    #[test]
    fn sorted_merge_is_the_servers_order_with_missing_values_last() {
        let n = |x: f64| Some(SortValue::Number(x));
        let merged = merge_sorted(
            vec![vec![n(1.0), n(4.0), None], vec![n(2.0), n(3.0)]],
            false,
            |v| v.clone(),
        );
        assert_eq!(merged, vec![n(1.0), n(2.0), n(3.0), n(4.0), None]);
        let merged = merge_sorted(vec![vec![n(4.0), n(1.0)], vec![n(3.0), None]], true, |v| {
            v.clone()
        });
        assert_eq!(merged, vec![n(4.0), n(3.0), n(1.0), None]);
        assert_eq!(
            parse_sort_key(&Value::BulkString(b"#12.5".to_vec())),
            n(12.5)
        );
        assert_eq!(
            parse_sort_key(&Value::BulkString(b"$abc".to_vec())),
            Some(SortValue::Text("abc".into()))
        );
    }

    #[test]
    fn search_options_are_found_after_params_of_any_text() {
        let args: Vec<Vec<u8>> = [
            "FT.SEARCH",
            "i",
            "(@a:{$p0})=>[KNN $knn_k @v $knn_vector AS __knn_distance]",
            "SORTBY",
            "age",
            "DESC",
            "LIMIT",
            "5",
            "10",
            "PARAMS",
            "4",
            "p0",
            "LIMIT",
            "knn_k",
            "7",
            "DIALECT",
            "2",
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
        let q = ShardQuery::of_search(&args).unwrap();
        assert_eq!(q.limit, Some((5, 10)));
        assert_eq!(q.sort, Some((b"age".to_vec(), true)));
        assert_eq!(q.knn_k, Some(7));
        assert_eq!(q.yields.as_deref(), Some(&b"__knn_distance"[..]));
        assert!(matches!(q.load, LoadShape::Whole));
        let agg: Vec<Vec<u8>> = [
            "FT.AGGREGATE",
            "i",
            "*",
            "SORTBY",
            "2",
            "@age",
            "ASC",
            "MAX",
            "10",
            "LOAD",
            "7",
            "@__key",
            "$.name",
            "AS",
            "name",
            "$.tags",
            "AS",
            "tags",
            "WITHCURSOR",
            "COUNT",
            "3",
            "DIALECT",
            "3",
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
        let q = ShardQuery::of_aggregate(&agg).unwrap();
        assert_eq!(q.sort, Some((b"age".to_vec(), false)));
        assert_eq!(q.dialect, b"3".to_vec());
        match q.load {
            LoadShape::Fields(fields) => assert_eq!(
                fields,
                vec![
                    (b"$.name".to_vec(), b"name".to_vec()),
                    (b"$.tags".to_vec(), b"tags".to_vec())
                ]
            ),
            _ => panic!("fields"),
        }
        assert_eq!(untag(b"{1a}:User:index"), b":User:index");
        assert_eq!(tag_name(b":User:index", "1a"), b"{1a}:User:index".to_vec());
        // Our slot numbers are the cluster's.
        for key in ["1a", "0", "foo", ":User:index", "265b"] {
            assert_eq!(
                Slot::new(slot_number(key) as u16).unwrap(),
                Slot::for_key(key),
                "{key}"
            );
        }
        let tags = slot_tags();
        assert_eq!(tags.len(), 16384);
        for (slot, tag) in tags.iter().enumerate().step_by(997) {
            assert_eq!(slot_number(tag), slot);
        }
    }
}
