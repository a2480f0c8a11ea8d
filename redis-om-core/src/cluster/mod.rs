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

mod copies;
mod stamp;

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
/// [`crate::RESPONSE_TIMEOUT`]) and RESP2.
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
        .response_timeout(crate::connect::RESPONSE_TIMEOUT * 4)
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
            let shards = self.shards(refresh).await?;
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
        // Read the slots again: a definition must reach every current primary.
        self.shards(true).await?;
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

    /// Whether an index (by its logical name) is `ON JSON`, and its
    /// `SORTABLE` attributes, from `FT.INFO` of one shard's copy (cached).
    async fn facts(&mut self, index: &[u8]) -> RedisResult<IndexFacts> {
        let name = String::from_utf8_lossy(index).into_owned();
        if let Some(facts) = self
            .shared
            .json
            .lock()
            .ok()
            .and_then(|m| m.get(&name).cloned())
        {
            return Ok(facts);
        }
        let shards = self.shards(false).await?;
        let (addr, tag) = shards
            .first()
            .cloned()
            .ok_or_else(|| client_error("no primary"))?;
        let info = redis::cmd("FT.INFO").arg(tag_name(index, &tag)).clone();
        let reply = self.node(&addr, &info).await?;
        let facts = IndexFacts::of(&reply);
        if let Ok(mut m) = self.shared.json.lock() {
            m.insert(name, facts.clone());
        }
        Ok(facts)
    }

    async fn is_json(&mut self, index: &[u8]) -> RedisResult<bool> {
        Ok(self.facts(index).await?.json)
    }

    /// Refuses a sort the shards cannot report keys for: each shard sorts by
    /// a field that is not `SORTABLE` but gives no sort key to merge by.
    async fn check_sort(&mut self, query: &ShardQuery) -> RedisResult<()> {
        let Some((field, _)) = &query.sort else {
            return Ok(());
        };
        // A KNN distance is a sort key of its own.
        if query.yields.as_deref() == Some(field.as_slice()) {
            return Ok(());
        }
        let facts = self.facts(&query.index).await?;
        if facts.sortable.iter().any(|f| f == field) {
            return Ok(());
        }
        Err(RedisError::from((
            ErrorKind::Client,
            "redis-om cluster",
            format!(
                "sorting by `{}` across the shards of a cluster without a search coordinator \
                 needs it to be sortable: mark the field #[redis_om(index, sortable)] and run the \
                 migrator",
                String::from_utf8_lossy(field)
            ),
        )))
    }

    /// One page of one shard's matches: `FT.SEARCH … NOCONTENT` (RediSearch
    /// 2.10 on a cluster loads no document from another slot than the
    /// index name's, so documents are read by key afterwards), with the sort
    /// keys when sorted.
    async fn shard_page(
        &mut self,
        addr: &str,
        tag: &str,
        query: &ShardQuery,
        offset: u64,
        count: u64,
    ) -> RedisResult<(stamp::Stamp, u64, Vec<SearchDoc>)> {
        let mut cmd = redis::cmd("FT.SEARCH");
        cmd.arg(tag_name(&query.index, tag))
            .arg(query.text.as_slice())
            .arg("NOCONTENT");
        if let Some((field, descending)) = &query.sort {
            cmd.arg("SORTBY")
                .arg(field.as_slice())
                .arg(if *descending { "DESC" } else { "ASC" })
                .arg("WITHSORTKEYS");
        }
        cmd.arg("LIMIT").arg(offset).arg(count);
        if !query.params.is_empty() {
            cmd.arg("PARAMS").arg(query.params.len());
            for p in &query.params {
                cmd.arg(p.as_slice());
            }
        }
        cmd.arg("DIALECT").arg(query.dialect.as_slice());
        let (stamp, reply) = self.node_stamped(addr, &cmd).await?;
        let (total, docs) = parse_search(reply, true, query.sort.is_some())?;
        Ok((stamp, total, docs))
    }

    /// The attributes of each document, read by key as the search would
    /// have returned them (`None`: the document is gone).
    async fn load(
        &mut self,
        keys: &[Value],
        load: &LoadShape,
        json: bool,
    ) -> RedisResult<Vec<Option<Vec<Value>>>> {
        if matches!(load, LoadShape::Nothing) || keys.is_empty() {
            return Ok(vec![Some(Vec::new()); keys.len()]);
        }
        let mut pipe = redis::pipe();
        let per_key = match load {
            LoadShape::Nothing => 0,
            LoadShape::Whole => {
                for key in keys {
                    let key = bytes(key);
                    if json {
                        pipe.cmd("JSON.GET").arg(key);
                    } else {
                        pipe.cmd("HGETALL").arg(key);
                    }
                }
                1
            }
            LoadShape::Fields(fields) => {
                for key in keys {
                    let key = bytes(key);
                    if json {
                        for (source, _) in fields {
                            pipe.cmd("JSON.GET").arg(key).arg(source.as_slice());
                        }
                    } else {
                        pipe.cmd("HMGET").arg(key);
                        for (source, _) in fields {
                            pipe.arg(source.as_slice());
                        }
                    }
                }
                if json {
                    fields.len()
                } else {
                    1
                }
            }
        };
        let replies = self.pipeline(&pipe, 0, keys.len() * per_key).await?;
        let mut out = Vec::with_capacity(keys.len());
        let mut replies = replies.into_iter();
        for _ in keys {
            let attrs = match load {
                LoadShape::Nothing => Some(Vec::new()),
                LoadShape::Whole => match replies.next() {
                    Some(Value::Array(items)) if !items.is_empty() => Some(items),
                    Some(Value::Map(pairs)) if !pairs.is_empty() => {
                        Some(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
                    }
                    Some(doc @ Value::BulkString(_)) => {
                        Some(vec![Value::BulkString(b"$".to_vec()), doc])
                    }
                    _ => None,
                },
                LoadShape::Fields(fields) => {
                    let mut attrs = Vec::new();
                    if json {
                        let mut any = false;
                        for (_, name) in fields {
                            if let Some(v @ Value::BulkString(_)) = replies.next() {
                                any = true;
                                attrs.push(Value::BulkString(name.clone()));
                                attrs.push(v);
                            }
                        }
                        any.then_some(attrs)
                    } else {
                        match replies.next() {
                            Some(Value::Array(values)) => {
                                for ((_, name), v) in fields.iter().zip(values) {
                                    if v != Value::Nil {
                                        attrs.push(Value::BulkString(name.clone()));
                                        attrs.push(v);
                                    }
                                }
                                Some(attrs)
                            }
                            _ => None,
                        }
                    }
                }
            };
            out.push(attrs);
        }
        Ok(out)
    }

    /// `FT.SEARCH` on every primary: totals summed, the page cut from the
    /// merge of each shard's first `offset + limit` keys (by the server's
    /// sort keys when sorted, shard by shard otherwise), then its documents
    /// read by key.
    async fn scatter_search(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        let query = ShardQuery::of_search(args)?;
        self.check_sort(&query).await?;
        let (offset, limit) = query.limit.unwrap_or((0, 10));
        let mut settle = Settle::new();
        let (total, lists) = loop {
            let shards = self.shards(settle.refresh()).await?;
            self.wait_built(&query.index, &shards).await?;
            let pages = futures_util::future::join_all(shards.iter().map(|(addr, tag)| {
                let mut con = self.clone();
                let query = &query;
                async move {
                    con.shard_page(addr, tag, query, 0, offset.saturating_add(limit))
                        .await
                }
            }))
            .await;
            let mut total = 0u64;
            let mut lists = Vec::new();
            let mut stamps = Vec::new();
            let mut failure = None;
            for page in pages {
                match page {
                    Ok((stamp, t, docs)) => {
                        stamps.push(stamp);
                        total += t;
                        lists.push(docs);
                    }
                    Err(err) => {
                        failure.get_or_insert(err);
                    }
                }
            }
            if settle
                .done("a search", failure, &stamps, &self.shared.relist)
                .await?
            {
                break (total, lists);
            }
        };
        let mut total = total;
        let mut docs = match &query.sort {
            Some((_, descending)) => {
                merge_sorted(lists, *descending, |d: &SearchDoc| d.sort_key.clone())
            }
            None => lists.into_iter().flatten().collect(),
        };
        // A KNN query's total is its `k` at most, whatever each shard found.
        if let Some(k) = query.knn_k {
            total = total.min(k);
            docs.truncate(usize::try_from(k).unwrap_or(usize::MAX));
        }
        let page: Vec<SearchDoc> = docs
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let json = self.is_json(&query.index).await?;
        let keys: Vec<Value> = page.iter().map(|d| d.id.clone()).collect();
        let loaded = self.load(&keys, &query.load, json).await?;
        let mut out = vec![Value::Int(total as i64)];
        for (doc, attrs) in page.into_iter().zip(loaded) {
            out.push(doc.id);
            if query.with_sort_keys {
                out.push(doc.sort_key_value.clone().unwrap_or(Value::Nil));
            }
            if matches!(query.load, LoadShape::Nothing) {
                continue;
            }
            let mut attrs = attrs.unwrap_or_default();
            // A KNN distance is the sort key (`#0.25`).
            if let (Some(yielded), Some(key)) = (&query.yields, &doc.sort_key_value) {
                if let Some(t) = text(key) {
                    attrs.push(Value::BulkString(yielded.clone()));
                    attrs.push(Value::BulkString(
                        t.trim_start_matches('#').as_bytes().to_vec(),
                    ));
                }
            }
            out.push(Value::Array(attrs));
        }
        Ok(Value::Array(out))
    }

    /// `FT.AGGREGATE … WITHCURSOR` reading documents, on every primary behind
    /// one cursor: each shard paged with `FT.SEARCH … NOCONTENT` (merged in
    /// order when sorted), documents read by key.
    async fn scatter_aggregate(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        if args.iter().any(|a| a.eq_ignore_ascii_case(b"GROUPBY")) {
            return Err(client_error(
                "a grouping aggregation (GROUPBY) cannot be merged exactly across the shards of a \
                 cluster whose search module has no coordinator (Redis Stack 7.4): it needs \
                 Redis 8's query engine, which coordinates it",
            ));
        }
        if args
            .iter()
            .any(|a| a.eq_ignore_ascii_case(b"APPLY") || a.eq_ignore_ascii_case(b"FILTER"))
        {
            return Err(client_error(
                "computed attributes (APPLY: by_distance) are not available on a cluster whose \
                 search module has no coordinator (Redis Stack 7.4)",
            ));
        }
        let query = ShardQuery::of_aggregate(args)?;
        self.check_sort(&query).await?;
        let count = count_arg(args).unwrap_or(1000);
        let mut settle = Settle::new();
        let (mut merged, total) = loop {
            let shards = self.shards(settle.refresh()).await?;
            self.wait_built(&query.index, &shards).await?;
            let mut merged = Merged {
                query: query.clone(),
                shards: shards
                    .into_iter()
                    .map(|(addr, tag)| Shard {
                        addr,
                        tag,
                        keys: None,
                        done: false,
                        rows: VecDeque::new(),
                    })
                    .collect(),
                count,
            };
            // Every shard's matching keys (a snapshot each, read from one
            // slot map) and first rows, for the total.
            let mut total = 0;
            let mut stamps = Vec::new();
            let mut failure = None;
            for i in 0..merged.shards.len() {
                match self.refill(&mut merged, i).await {
                    Ok((stamp, t)) => {
                        total += t;
                        stamps.extend(stamp);
                    }
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            if settle
                .done("a search", failure, &stamps, &self.shared.relist)
                .await?
            {
                break (merged, total);
            }
        };
        let rows = self.next_rows(&mut merged).await?;
        let mut body = Vec::with_capacity(rows.len() + 1);
        body.push(Value::Int(total as i64));
        body.extend(rows);
        let id = if merged.done() {
            0
        } else {
            self.new_cursor(Cursor::Merged(Box::new(merged)))
        };
        Ok(Value::Array(vec![
            Value::Array(body),
            Value::Int(id as i64),
        ]))
    }

    /// Reads the next rows of shard `i`: on the first read every matching
    /// key of the shard (up to its result window) with its sort key, a
    /// snapshot as a server cursor would keep (so that deleting what was
    /// read does not move the rest); then documents by key, a batch at a
    /// time. Returns the shard's total.
    async fn refill(
        &mut self,
        merged: &mut Merged,
        i: usize,
    ) -> RedisResult<(Option<stamp::Stamp>, u64)> {
        let mut total = 0;
        let mut taken = None;
        if merged.shards[i].keys.is_none() {
            let (addr, tag) = (merged.shards[i].addr.clone(), merged.shards[i].tag.clone());
            let (mut stamp, mut t, mut docs) = self
                .shard_page(&addr, &tag, &merged.query, 0, SHARD_WINDOW)
                .await?;
            if t > SHARD_WINDOW {
                // More matches than the first window: as many as the shard's
                // MAXSEARCHRESULTS lets one read take, with room for
                // documents added meanwhile.
                let max = self.max_results(&addr).await?;
                let want = t.saturating_add(t / 8).saturating_add(64).min(max);
                (stamp, t, docs) = self.shard_page(&addr, &tag, &merged.query, 0, want).await?;
                if t > want {
                    return Err(RedisError::from((
                        ErrorKind::Client,
                        "redis-om cluster",
                        format!(
                            "{t} matches on the primary {addr}, more than its MAXSEARCHRESULTS \
                             ({max}) lets one read return: raise it on every primary, through \
                             this connection (`FT.CONFIG SET MAXSEARCHRESULTS -1`, which it \
                             sends to each), or narrow the query"
                        ),
                    )));
                }
            }
            // Every match, or an error: a server that cut the page
            // instead of refusing it would leave documents out.
            if (docs.len() as u64) < t {
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "redis-om cluster",
                    format!(
                        "the primary {addr} reported {t} matches but returned {}: raise its \
                         MAXSEARCHRESULTS (FT.CONFIG SET MAXSEARCHRESULTS -1 through this \
                         connection) or narrow the query",
                        docs.len()
                    ),
                )));
            }
            taken = Some(stamp);
            total = t;
            merged.shards[i].keys = Some(docs.into());
        }
        let batch: Vec<SearchDoc> = {
            let keys = merged.shards[i].keys.as_mut().expect("set above");
            let n = merged.count.min(keys.len());
            keys.drain(..n).collect()
        };
        let keys: Vec<Value> = batch.iter().map(|d| d.id.clone()).collect();
        let json = self.is_json(&merged.query.index).await?;
        let loaded = self.load(&keys, &merged.query.load, json).await?;
        let shard = &mut merged.shards[i];
        shard.done = shard.keys.as_ref().is_none_or(|k| k.is_empty());
        for (doc, attrs) in batch.into_iter().zip(loaded) {
            // A document gone between the search and the read has no row.
            let Some(mut attrs) = attrs else { continue };
            attrs.push(Value::BulkString(b"__key".to_vec()));
            attrs.push(doc.id);
            shard.rows.push_back((doc.sort_key, Value::Array(attrs)));
        }
        Ok((taken, total))
    }

    async fn scatter_cursor(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
        let (id, read) = cursor_args(args)?;
        let Some(Cursor::Merged(merged)) = self.take_cursor(id) else {
            return Err(client_error("Cursor not found"));
        };
        if !read {
            return Ok(Value::Okay);
        }
        let mut merged = *merged;
        if let Some(count) = count_arg(args) {
            merged.count = count;
        }
        let rows = self.next_rows(&mut merged).await?;
        let id = if merged.done() {
            0
        } else {
            self.new_cursor(Cursor::Merged(Box::new(merged)))
        };
        let mut body = Vec::with_capacity(rows.len() + 1);
        body.push(Value::Int(0));
        body.extend(rows);
        Ok(Value::Array(vec![
            Value::Array(body),
            Value::Int(id as i64),
        ]))
    }

    /// Up to `count` rows of a merged cursor: shard after shard when
    /// unsorted; when sorted, a row is given only once every shard that may
    /// still hold a smaller one has a row buffered.
    async fn next_rows(&mut self, merged: &mut Merged) -> RedisResult<Vec<Value>> {
        let mut out = Vec::new();
        while out.len() < merged.count {
            let sorted = merged.query.sort.is_some();
            for i in 0..merged.shards.len() {
                if merged.shards[i].rows.is_empty() && !merged.shards[i].done {
                    self.refill(merged, i).await?;
                }
                if !sorted && !merged.shards[i].rows.is_empty() {
                    break;
                }
            }
            let next = match &merged.query.sort {
                None => merged.shards.iter().position(|s| !s.rows.is_empty()),
                Some((_, descending)) => {
                    let mut best: Option<(usize, &Option<SortValue>)> = None;
                    for (i, shard) in merged.shards.iter().enumerate() {
                        let Some((key, _)) = shard.rows.front() else {
                            continue;
                        };
                        if best.is_none_or(|(_, b)| before(key, b, *descending)) {
                            best = Some((i, key));
                        }
                    }
                    best.map(|(i, _)| i)
                }
            };
            match next.and_then(|i| merged.shards[i].rows.pop_front()) {
                Some((_, row)) => out.push(row),
                None => break,
            }
        }
        Ok(out)
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

    /// Each slot range and its primary: the cached slot map, or
    /// `CLUSTER SLOTS` read now.
    async fn slot_map(&mut self) -> RedisResult<Vec<(u16, u16, String)>> {
        if let Some(ranges) = self.shared.ranges.lock().ok().and_then(|r| r.clone()) {
            return Ok(ranges);
        }
        let reply = self
            .inner
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let ranges = parse_ranges(&reply);
        if let Ok(mut cached) = self.shared.ranges.lock() {
            *cached = Some(ranges.clone());
        }
        Ok(ranges)
    }

    /// A pipeline of single-key deletes (`delete_many`): one script per
    /// primary, sent concurrently, deletes each key where the slot map puts
    /// it (`delete_here.lua`); a key whose slot that primary no longer
    /// serves is deleted alone afterwards, through redis-rs's redirects.
    /// Each delete runs once, so the counts stay exact while slots move (a
    /// pipeline per primary would be sent again whole on a redirect).
    async fn delete_by_primary(
        &mut self,
        cmds: &[&Cmd],
        keys: &[&[u8]],
    ) -> RedisResult<Vec<Value>> {
        const DELETE_HERE: &str = include_str!("delete_here.lua");
        let ranges = self.slot_map().await?;
        let mut by_node: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut left: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let slot = key_slot(key);
            match ranges
                .iter()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            {
                Some((_, _, addr)) => by_node.entry(addr.as_str()).or_default().push(i),
                None => left.push(i),
            }
        }
        let sent = futures_util::future::join_all(by_node.into_iter().map(|(addr, indices)| {
            let mut con = self.clone();
            let mut eval = redis::cmd("EVAL");
            eval.arg(DELETE_HERE).arg(0);
            // The command as asked (DEL or UNLINK), uppercase.
            let name = cmds[indices[0]]
                .args_iter()
                .find_map(|a| match a {
                    redis::Arg::Simple(b) => Some(b.to_ascii_uppercase()),
                    _ => None,
                })
                .unwrap_or_else(|| b"DEL".to_vec());
            eval.arg(name);
            for &i in &indices {
                eval.arg(keys[i]);
            }
            let addr = addr.to_owned();
            async move { (indices, con.node(&addr, &eval).await) }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; keys.len()];
        for (indices, reply) in sent {
            let reply = match reply {
                Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
                other => other,
            };
            let counts = match reply {
                Ok(Value::Array(counts)) if counts.len() == indices.len() => counts,
                // The script refused as a whole (an ACL without `EVAL`,
                // scripts disabled): it ran no delete; each goes alone.
                Err(err)
                    if err.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
                        || matches!(err.code(), Some("NOPERM" | "NOSCRIPT")) =>
                {
                    left.extend(indices);
                    continue;
                }
                Err(err) => return Err(err),
                _ => {
                    return Err(client_error(
                        "a delete script answered something else than one count per key",
                    ))
                }
            };
            for (i, count) in indices.into_iter().zip(counts) {
                match count {
                    Value::Int(n) if n >= 0 => out[i] = Some(Value::Int(n)),
                    _ => {
                        // The map is stale: read it again next time.
                        if let Ok(mut cached) = self.shared.ranges.lock() {
                            *cached = None;
                        }
                        left.push(i)
                    }
                }
            }
        }
        // One at a time: redis-rs follows a redirect of a single command.
        for i in left {
            out[i] = Some(self.routed(cmds[i]).await?);
        }
        Ok(out.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect())
    }

    /// A pipeline: as it is when every keyed command is in one slot (or it is
    /// a transaction); single-key deletes by primary (`delete_by_primary`);
    /// commands that can run twice in one pipeline per primary, the others
    /// in one per slot; the parts sent concurrently, replies put back in
    /// order.
    async fn pipeline(
        &mut self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
        if let Some(key) = cmds.iter().find_map(|c| key_of(c)) {
            self.last_slot = Some(key_slot(key));
        }
        let slots = block_slots(&cmds);
        let mut distinct: Vec<Slot> = Vec::new();
        for slot in slots.iter().flatten() {
            if !distinct.contains(slot) {
                distinct.push(*slot);
            }
        }
        // A transaction (MULTI … EXEC: `offset` > 0) stays whole: the server
        // refuses one across slots, as it should.
        if distinct.len() <= 1 || offset > 0 {
            return aio::ConnectionLike::req_packed_commands(
                &mut self.inner,
                pipeline,
                offset,
                count,
            )
            .await;
        }
        if let Some(keys) = single_key_deletes(&cmds) {
            return self.delete_by_primary(&cmds, &keys).await;
        }
        // redis-rs answers a redirect inside a pipeline by sending the whole
        // pipeline again: harmless for commands that can run twice, not for
        // the others (a versioned save, a delete whose count is reported),
        // which go in one pipeline per slot, where a redirect moves them all.
        if !cmds.iter().all(|c| repeatable(c)) {
            return self.per_slot(&cmds, &slots, &distinct, offset, count).await;
        }
        let ranges = self.slot_map().await?;
        let node_of = |slot: u16| {
            ranges
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .map(|(_, _, addr)| addr.clone())
        };
        // (No transaction gets here: MULTI is not repeatable.)
        let nodes: Vec<Option<String>> = cmds
            .iter()
            .map(|c| key_of(c).and_then(|k| node_of(key_slot(k))))
            .collect();
        let mut targets: Vec<String> = Vec::new();
        for addr in nodes.iter().flatten() {
            if !targets.contains(addr) {
                targets.push(addr.clone());
            }
        }
        // Each part: the commands of one primary plus every keyless one, in
        // order; sent to that primary, the parts concurrently.
        let parts: Vec<(Vec<usize>, Pipeline, String)> = targets
            .iter()
            .map(|addr| {
                let mut indices = Vec::new();
                let mut part = redis::pipe();
                for (i, (cmd, node)) in cmds.iter().zip(&nodes).enumerate() {
                    let keyless = slots[i].is_none();
                    if keyless || node.as_deref() == Some(addr.as_str()) {
                        indices.push(i);
                        part.add_command((*cmd).clone());
                    }
                }
                (indices, part, addr.clone())
            })
            .collect();
        // Keyed commands no slot map knows (a slot without a primary) go on
        // their own, routed by key.
        let unmapped: Vec<usize> = (0..cmds.len())
            .filter(|&i| slots[i].is_some() && nodes[i].is_none())
            .collect();
        let replies = futures_util::future::join_all(parts.iter().map(|(indices, part, addr)| {
            let mut con = self.inner.clone();
            let n = indices.len();
            async move {
                let (host, port) = split_addr(addr)?;
                con.route_pipeline(
                    part.clone(),
                    0,
                    n,
                    SingleNodeRoutingInfo::ByAddress { host, port },
                )
                .await
            }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; cmds.len()];
        let mut moved = Vec::new();
        for ((indices, _, _), reply) in parts.iter().zip(replies) {
            let values = match reply {
                Ok(values) => values,
                // A primary gone, or slots moved: every command of its part
                // again, by key (they can run twice).
                Err(err)
                    if crate::error::is_unavailable(&err)
                        || matches!(err.code(), Some("MOVED" | "ASK")) =>
                {
                    moved.extend(indices.iter().copied().filter(|&i| slots[i].is_some()));
                    continue;
                }
                Err(err) => return Err(err),
            };
            for (i, value) in indices.iter().zip(values) {
                let redirected = matches!(
                    &value,
                    Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN")
                );
                if redirected && slots[*i].is_some() {
                    moved.push(*i);
                } else if out[*i].is_none() {
                    out[*i] = Some(value);
                }
            }
        }
        // Redirected (the slots moved since the map was read) or unmapped:
        // one by one through redis-rs's routing, which follows redirects,
        // and the map read again next time.
        if !moved.is_empty() {
            if let Ok(mut r) = self.shared.ranges.lock() {
                *r = None;
            }
        }
        for i in moved.into_iter().chain(unmapped) {
            let value =
                match aio::ConnectionLike::req_packed_command(&mut self.inner, cmds[i]).await {
                    Ok(value) => value,
                    Err(err) => match err.try_into() {
                        Ok(server) => Value::ServerError(server),
                        Err(err) => return Err(err),
                    },
                };
            out[i] = Some(value);
        }
        Ok(out
            .into_iter()
            .map(|v| v.unwrap_or(Value::Nil))
            .skip(offset)
            .take(count)
            .collect())
    }
}

impl ClusterConnection {
    /// One pipeline per hash slot (with every keyless command), sent
    /// concurrently through redis-rs's routing; replies put back in order.
    async fn per_slot(
        &mut self,
        cmds: &[&Cmd],
        slots: &[Option<Slot>],
        distinct: &[Slot],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let parts: Vec<(Vec<usize>, Pipeline)> = distinct
            .iter()
            .map(|slot| {
                let mut indices = Vec::new();
                let mut part = redis::pipe();
                for (i, (cmd, s)) in cmds.iter().zip(slots).enumerate() {
                    if s.is_none() || *s == Some(*slot) {
                        indices.push(i);
                        part.add_command((*cmd).clone());
                    }
                }
                (indices, part)
            })
            .collect();
        let replies = futures_util::future::join_all(parts.iter().map(|(indices, part)| {
            let mut con = self.inner.clone();
            let n = indices.len();
            async move { aio::ConnectionLike::req_packed_commands(&mut con, part, 0, n).await }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; cmds.len()];
        for ((indices, _), reply) in parts.iter().zip(replies) {
            for (i, value) in indices.iter().zip(reply?) {
                if out[*i].is_none() {
                    out[*i] = Some(value);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.unwrap_or(Value::Nil))
            .skip(offset)
            .take(count)
            .collect())
    }
}

/// Whether a command can run twice with the same effect and reply (reads,
/// writes of whole values, the save script): redis-rs may resend it.
fn repeatable(cmd: &Cmd) -> bool {
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

/// The shortest tag (`0`, `1`, …, `a0`, …) of each hash slot.
fn slot_tags() -> &'static [String] {
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
fn slot_number(key: &str) -> usize {
    usize::from(crc16(key.as_bytes()) % 16384)
}

/// CRC16 (XMODEM), as Redis Cluster hashes keys.
fn crc16(bytes: &[u8]) -> u16 {
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
fn tag_name(name: &[u8], tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + tag.len() + 2);
    out.push(b'{');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'}');
    out.extend_from_slice(name);
    out
}

/// The name without a shard's tag.
fn untag(name: &[u8]) -> &[u8] {
    if name.first() == Some(&b'{') {
        if let Some(end) = name.iter().position(|&b| b == b'}') {
            return &name[end + 1..];
        }
    }
    name
}

fn untag_value(value: Value) -> Value {
    match value {
        Value::BulkString(b) => Value::BulkString(untag(&b).to_vec()),
        Value::SimpleString(s) => {
            Value::SimpleString(String::from_utf8_lossy(untag(s.as_bytes())).into_owned())
        }
        other => other,
    }
}

/// `args` with the index names at `names` tagged with `tag`.
fn tagged(args: &[Vec<u8>], names: &[usize], tag: &str) -> Vec<Vec<u8>> {
    let mut out = args.to_vec();
    for &i in names {
        if let Some(name) = out.get_mut(i) {
            *name = tag_name(name, tag);
        }
    }
    out
}

/// `CLUSTER SLOTS` → each primary's address and the tag of its last slot.
fn parse_slots(reply: &Value) -> RedisResult<Vec<(String, String)>> {
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
fn existing_tag(names: &[String], owns: &dyn Fn(&str) -> bool) -> Option<String> {
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
fn parse_ranges(reply: &Value) -> Vec<(u16, u16, String)> {
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
fn coordinated_node(nodes: &[String], turn: usize) -> Option<&str> {
    if nodes.is_empty() {
        return None;
    }
    Some(nodes[turn % nodes.len()].as_str())
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

/// A fan-out read again while the slot map settles (`stamp`): a primary
/// unreachable, a redirection, or stamps that do not show one map make it
/// wait ([`stamp::backoff`]) and read the slots anew, for up to
/// [`stamp::SETTLE`].
struct Settle {
    started: std::time::Instant,
    attempt: u32,
}

impl Settle {
    fn new() -> Self {
        Settle {
            started: std::time::Instant::now(),
            attempt: 0,
        }
    }

    /// Whether the slot map must be read again before the next attempt.
    fn refresh(&self) -> bool {
        self.attempt > 0
    }

    /// `Ok(true)` when the attempt stands; `Ok(false)` to read it again
    /// (after a pause); an error when it cannot stand and time is up, or
    /// when the failure is not one a settling cluster causes.
    async fn done(
        &mut self,
        what: &str,
        failure: Option<RedisError>,
        stamps: &[stamp::Stamp],
        relist: &std::sync::atomic::AtomicBool,
    ) -> RedisResult<bool> {
        let reason = match failure {
            Some(err)
                if crate::error::is_unavailable(&err)
                    || matches!(err.code(), Some("MOVED" | "ASK")) =>
            {
                if self.started.elapsed() >= stamp::SETTLE {
                    return Err(err);
                }
                None
            }
            // A primary without its copy (a reshard moved the slot it was
            // named after): reading the slots again repairs it (`copies`).
            Some(err) if self.attempt == 0 && crate::error::is_unknown_index(&err) => {
                relist.store(true, Ordering::Relaxed);
                None
            }
            Some(err) => return Err(err),
            None => match stamp::check(stamps) {
                Ok(()) => return Ok(true),
                Err(reason) => Some(reason),
            },
        };
        if let Some(reason) = reason {
            if self.started.elapsed() >= stamp::SETTLE {
                return Err(stamp::unsettled(what, &reason, true));
            }
        }
        tokio::time::sleep(stamp::backoff(self.attempt)).await;
        self.attempt += 1;
        Ok(false)
    }
}

struct Merged {
    query: ShardQuery,
    shards: Vec<Shard>,
    count: usize,
}

impl Merged {
    fn done(&self) -> bool {
        self.shards.iter().all(|s| s.done && s.rows.is_empty())
    }
}

struct Shard {
    addr: String,
    /// The hash tag of this shard's copy of the index.
    tag: String,
    /// Its matches not read yet (a snapshot taken at the first read).
    keys: Option<VecDeque<SearchDoc>>,
    done: bool,
    rows: VecDeque<(Option<SortValue>, Value)>,
}

/// How far one shard's matches can be paged with `FT.SEARCH` (RediSearch's
/// default `MAXSEARCHRESULTS`).
const SHARD_WINDOW: u64 = 10_000;

/// The largest `LIMIT` one shard's read asks for when its `MAXSEARCHRESULTS`
/// is unlimited (RediSearch refuses larger ones).
const UNLIMITED_WINDOW: u64 = 1_000_000;

/// What a merge needs to know of an index.
#[derive(Debug, Clone, Default)]
struct IndexFacts {
    json: bool,
    /// The attributes with `SORTABLE`.
    sortable: Vec<Vec<u8>>,
}

impl IndexFacts {
    fn of(info: &Value) -> IndexFacts {
        let mut facts = IndexFacts::default();
        let Value::Array(items) = info else {
            return facts;
        };
        for pair in items.chunks_exact(2) {
            match text(&pair[0]).as_deref() {
                Some("index_definition") => facts.json = format!("{:?}", pair[1]).contains("JSON"),
                Some("attributes") => {
                    let Value::Array(attrs) = &pair[1] else {
                        continue;
                    };
                    for attr in attrs {
                        let Value::Array(parts) = attr else { continue };
                        let name = parts
                            .chunks(2)
                            .find(|p| text(&p[0]).as_deref() == Some("attribute"))
                            .and_then(|p| p.get(1))
                            .and_then(text);
                        let sortable = parts.iter().any(|p| text(p).as_deref() == Some("SORTABLE"));
                        if let (Some(name), true) = (name, sortable) {
                            facts.sortable.push(name.into_bytes());
                        }
                    }
                }
                _ => {}
            }
        }
        facts
    }
}

/// What a search loads for each document.
#[derive(Clone)]
enum LoadShape {
    /// Keys only (`NOCONTENT`, `LOAD 1 @__key`).
    Nothing,
    /// The whole document (a hash's fields, a JSON document as `$`).
    Whole,
    /// Chosen attributes: (hash field or JSON path, name in the results).
    Fields(Vec<(Vec<u8>, Vec<u8>)>),
}

/// A search or aggregate, as each shard's `FT.SEARCH … NOCONTENT` runs it.
#[derive(Clone)]
struct ShardQuery {
    index: Vec<u8>,
    text: Vec<u8>,
    /// The sort attribute and whether descending.
    sort: Option<(Vec<u8>, bool)>,
    /// The counted `PARAMS` (names and values).
    params: Vec<Vec<u8>>,
    dialect: Vec<u8>,
    limit: Option<(u64, u64)>,
    load: LoadShape,
    /// The caller asked for the sort keys (`WITHSORTKEYS`).
    with_sort_keys: bool,
    /// A KNN query's `k`.
    knn_k: Option<u64>,
    /// The attribute a KNN yields its distance as.
    yields: Option<Vec<u8>>,
}

impl ShardQuery {
    fn base(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
        let index = args
            .get(1)
            .cloned()
            .ok_or_else(|| client_error("no index"))?;
        let text = args
            .get(2)
            .cloned()
            .ok_or_else(|| client_error("no query"))?;
        let mut q = ShardQuery {
            index,
            text,
            sort: None,
            params: Vec::new(),
            dialect: b"2".to_vec(),
            limit: None,
            load: LoadShape::Whole,
            with_sort_keys: false,
            knn_k: None,
            yields: None,
        };
        if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"PARAMS")) {
            let n = counted(args, at);
            q.params = args.get(at + 2..at + 2 + n).unwrap_or_default().to_vec();
        }
        if let Some(d) = args
            .iter()
            .rposition(|a| a.eq_ignore_ascii_case(b"DIALECT"))
            .and_then(|at| args.get(at + 1))
        {
            q.dialect = d.clone();
        }
        // `…=>[KNN $knn_k @f $knn_vector AS alias]`
        if let Some(at) = find(&q.text, b"=>[KNN ") {
            let tail = &q.text[at..];
            if let Some(as_at) = find(tail, b" AS ") {
                let alias = tail[as_at + 4..]
                    .split(|&b| b == b']')
                    .next()
                    .unwrap_or_default();
                q.yields = Some(alias.to_vec());
            }
            let k_name = b"knn_k".to_vec();
            q.knn_k = q
                .params
                .chunks_exact(2)
                .find(|p| p[0] == k_name)
                .and_then(|p| std::str::from_utf8(&p[1]).ok()?.parse().ok());
        }
        Ok(q)
    }

    fn of_search(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
        let mut q = Self::base(args)?;
        let mut i = 3;
        while i < args.len() {
            let a = &args[i];
            if a.eq_ignore_ascii_case(b"LIMIT") {
                q.limit = Some((number_arg(args, i + 1)?, number_arg(args, i + 2)?));
                i += 3;
                continue;
            }
            if a.eq_ignore_ascii_case(b"SORTBY") {
                let field = args.get(i + 1).cloned().unwrap_or_default();
                let descending = args
                    .get(i + 2)
                    .is_some_and(|d| d.eq_ignore_ascii_case(b"DESC"));
                q.sort = Some((field, descending));
                i += 2;
                continue;
            }
            if a.eq_ignore_ascii_case(b"NOCONTENT") {
                q.load = LoadShape::Nothing;
            } else if a.eq_ignore_ascii_case(b"WITHSORTKEYS") {
                q.with_sort_keys = true;
            } else if a.eq_ignore_ascii_case(b"RETURN") {
                let n = counted(args, i);
                let items = args.get(i + 2..i + 2 + n).unwrap_or_default();
                q.load = LoadShape::Fields(fields_of(items));
                i += 2 + n;
                continue;
            } else if a.eq_ignore_ascii_case(b"PARAMS") {
                let n = counted(args, i);
                i += 2 + n;
                continue;
            }
            i += 1;
        }
        Ok(q)
    }

    fn of_aggregate(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
        let mut q = Self::base(args)?;
        q.load = LoadShape::Nothing;
        let mut fields = Vec::new();
        let mut i = 3;
        while i < args.len() {
            let a = &args[i];
            if a.eq_ignore_ascii_case(b"SORTBY") {
                // SORTBY 2 @f ASC|DESC [MAX n]
                let field = args.get(i + 2).cloned().unwrap_or_default();
                let field = field.strip_prefix(b"@").unwrap_or(&field).to_vec();
                let descending = args
                    .get(i + 3)
                    .is_some_and(|d| d.eq_ignore_ascii_case(b"DESC"));
                q.sort = Some((field, descending));
                i += 4;
                continue;
            }
            if a.eq_ignore_ascii_case(b"LOAD") {
                if args.get(i + 1).map(Vec::as_slice) == Some(b"*") {
                    q.load = LoadShape::Whole;
                    i += 2;
                    continue;
                }
                let n = counted(args, i);
                let items = args.get(i + 2..i + 2 + n).unwrap_or_default();
                if items.iter().any(|a| a.as_slice() == b"$") {
                    q.load = LoadShape::Whole;
                } else {
                    let rest: Vec<Vec<u8>> = items
                        .iter()
                        .filter(|a| a.as_slice() != b"@__key")
                        .cloned()
                        .collect();
                    fields.extend(fields_of(&rest));
                }
                i += 2 + n;
                continue;
            }
            if a.eq_ignore_ascii_case(b"PARAMS") {
                let n = counted(args, i);
                i += 2 + n;
                continue;
            }
            i += 1;
        }
        if !fields.is_empty() && matches!(q.load, LoadShape::Nothing) {
            q.load = LoadShape::Fields(fields);
        }
        Ok(q)
    }
}

/// `RETURN`/`LOAD` items: `name …` (a hash field, or `@name`) or
/// `path AS name` triples (JSON).
fn fields_of(items: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let source = items[i].strip_prefix(b"@").unwrap_or(&items[i]).to_vec();
        if items
            .get(i + 1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"AS"))
        {
            let name = items.get(i + 2).cloned().unwrap_or_else(|| source.clone());
            out.push((source, name));
            i += 3;
        } else {
            out.push((source.clone(), source));
            i += 1;
        }
    }
    out
}

/// The count after the option at `at` (`PARAMS 4 …`, `RETURN 2 …`, `LOAD 3 …`).
fn counted(args: &[Vec<u8>], at: usize) -> usize {
    args.get(at + 1)
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bytes(value: &Value) -> &[u8] {
    match value {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.as_bytes(),
        _ => &[],
    }
}

/// A value to merge sorted results by.
#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Number(f64),
    Text(String),
}

/// Whether `a` comes before `b` (missing values last, either way).
fn before(a: &Option<SortValue>, b: &Option<SortValue>, descending: bool) -> bool {
    use std::cmp::Ordering::*;
    let order = match (a, b) {
        (None, None) => Equal,
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) => {
            let o = match (x, y) {
                (SortValue::Number(x), SortValue::Number(y)) => x.total_cmp(y),
                (SortValue::Number(_), SortValue::Text(_)) => Less,
                (SortValue::Text(_), SortValue::Number(_)) => Greater,
                (SortValue::Text(x), SortValue::Text(y)) => x.cmp(y),
            };
            if descending {
                o.reverse()
            } else {
                o
            }
        }
    };
    order == Less
}

/// Merges shards' sorted lists (stable: ties in shard order).
fn merge_sorted<T>(
    shards: Vec<Vec<T>>,
    descending: bool,
    key: impl Fn(&T) -> Option<SortValue>,
) -> Vec<T> {
    let mut queues: Vec<VecDeque<T>> = shards.into_iter().map(VecDeque::from).collect();
    let mut out = Vec::new();
    loop {
        let mut best: Option<(usize, Option<SortValue>)> = None;
        for (i, q) in queues.iter().enumerate() {
            if let Some(front) = q.front() {
                let k = key(front);
                if best.as_ref().is_none_or(|(_, b)| before(&k, b, descending)) {
                    best = Some((i, k));
                }
            }
        }
        match best.and_then(|(i, _)| queues[i].pop_front()) {
            Some(item) => out.push(item),
            None => return out,
        }
    }
}

/// The sort key `FT.SEARCH … WITHSORTKEYS` gives: `#12.5` for a number,
/// `$text` for text (normalized by the server), nil when missing.
fn parse_sort_key(value: &Value) -> Option<SortValue> {
    let t = text(value)?;
    if let Some(n) = t.strip_prefix('#') {
        return n.parse().ok().map(SortValue::Number);
    }
    Some(SortValue::Text(
        t.strip_prefix('$').unwrap_or(&t).to_owned(),
    ))
}

struct SearchDoc {
    id: Value,
    sort_key: Option<SortValue>,
    sort_key_value: Option<Value>,
}

fn parse_search(
    reply: Value,
    no_content: bool,
    with_sort_keys: bool,
) -> RedisResult<(u64, Vec<SearchDoc>)> {
    let Value::Array(items) = reply else {
        return Err(client_error("a shard's FT.SEARCH reply is not an array"));
    };
    let mut items = items.into_iter();
    let total = items
        .next()
        .and_then(|t| match t {
            Value::Int(i) => u64::try_from(i).ok(),
            other => text(&other)?.parse().ok(),
        })
        .unwrap_or(0);
    let mut docs = Vec::new();
    while let Some(id) = items.next() {
        let (sort_key, sort_key_value) = if with_sort_keys {
            let v = items.next().unwrap_or(Value::Nil);
            (parse_sort_key(&v), Some(v))
        } else {
            (None, None)
        };
        if !no_content {
            let _fields = items.next();
        }
        docs.push(SearchDoc {
            id,
            sort_key,
            sort_key_value,
        });
    }
    Ok((total, docs))
}

/// The body and cursor id of a cursor reply.
fn cursor_reply(reply: &Value) -> Option<(Value, u64)> {
    let Value::Array(parts) = reply else {
        return None;
    };
    if parts.len() != 2 || !matches!(parts[0], Value::Array(_) | Value::Map(_)) {
        return None;
    }
    let id = match &parts[1] {
        Value::Int(i) => u64::try_from(*i).ok()?,
        other => text(other)?.parse().ok()?,
    };
    Some((parts[0].clone(), id))
}

fn count_arg(args: &[Vec<u8>]) -> Option<usize> {
    let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"COUNT"))?;
    std::str::from_utf8(args.get(at + 1)?).ok()?.parse().ok()
}

/// `FT.CURSOR READ|DEL index id …`: the id, and whether it reads.
fn cursor_args(args: &[Vec<u8>]) -> RedisResult<(u64, bool)> {
    let read = args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"READ"));
    Ok((number_arg(args, 3)?, read))
}

/// `FT.INFO` of every primary as one: document and failure counts summed,
/// the least advanced indexing.
fn merge_info(replies: Vec<(String, Value)>) -> RedisResult<Value> {
    let mut merged: Option<Vec<Value>> = None;
    for (_, reply) in replies {
        let items = match reply {
            Value::ServerError(err) => return Err(RedisError::from(err)),
            Value::Array(items) => items,
            other => return Ok(other),
        };
        let Some(base) = merged.as_mut() else {
            merged = Some(items.into_iter().map(untag_value).collect());
            continue;
        };
        for pair in items.chunks_exact(2) {
            let Some(name) = text(&pair[0]) else { continue };
            let Some(at) = base
                .chunks_exact(2)
                .position(|p| text(&p[0]).as_deref() == Some(name.as_str()))
            else {
                continue;
            };
            let slot = &mut base[at * 2 + 1];
            let number = |v: &Value| text(v).and_then(|t| t.parse::<f64>().ok());
            match name.as_str() {
                "num_docs"
                | "max_doc_id"
                | "num_records"
                | "hash_indexing_failures"
                | "number_of_uses" => {
                    if let (Some(a), Some(b)) = (number(slot), number(&pair[1])) {
                        *slot = Value::BulkString(format_number(a + b).into_bytes());
                    }
                }
                "percent_indexed" => {
                    if let (Some(a), Some(b)) = (number(slot), number(&pair[1])) {
                        *slot = Value::BulkString(format_number(a.min(b)).into_bytes());
                    }
                }
                "indexing" => {
                    if let (Some(a), Some(b)) = (number(slot), number(&pair[1])) {
                        *slot = Value::BulkString(format_number(a.max(b)).into_bytes());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Value::Array(merged.unwrap_or_default()))
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The keys of a pipeline made only of single-key `DEL`s or `UNLINK`s (all
/// of one of the two).
fn single_key_deletes<'c>(cmds: &[&'c Cmd]) -> Option<Vec<&'c [u8]>> {
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
fn slot_of(cmd: &Cmd) -> Option<Slot> {
    key_of(cmd).map(Slot::for_key)
}

/// The slot of each command of a pipeline; a `MULTI … EXEC` block, keyless
/// commands included, takes the slot of its first key, so that it stays
/// whole on one node (copied into every part, its `MULTI` and `EXEC` would
/// wrap other commands and its replies be taken from the wrong part).
fn block_slots(cmds: &[&Cmd]) -> Vec<Option<Slot>> {
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
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
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

/// The hash slot of a key (its hash tag's, if it has one).
fn key_slot(key: &[u8]) -> u16 {
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

fn args_of(cmd: &Cmd) -> Vec<Vec<u8>> {
    cmd.args_iter()
        .filter_map(|a| match a {
            redis::Arg::Simple(bytes) => Some(bytes.to_vec()),
            _ => None,
        })
        .collect()
}

fn cmd_of(args: &[Vec<u8>]) -> Cmd {
    let mut cmd = redis::cmd(std::str::from_utf8(&args[0]).unwrap_or("PING"));
    for a in &args[1..] {
        cmd.arg(a.as_slice());
    }
    cmd
}

fn number_arg(args: &[Vec<u8>], i: usize) -> RedisResult<u64> {
    args.get(i)
        .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
        .ok_or_else(|| client_error("a number was expected"))
}

fn split_addr(addr: &str) -> RedisResult<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| client_error("a node address without a port"))?;
    let port = port
        .parse()
        .map_err(|_| client_error("a node address with a bad port"))?;
    Ok((host.to_owned(), port))
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
