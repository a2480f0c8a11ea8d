//! A local cache of decoded models in front of Redis, kept correct by Redis
//! itself (feature `cache`).
//!
//! [`ModelCache`] keeps the documents it read, decoded, in process memory (a
//! [moka](https://docs.rs/moka) cache: size bound, time bound, TinyLFU), so
//! that a repeated `get` costs a hash lookup instead of a round trip and a
//! decode. What keeps it correct is Redis's server-assisted client-side
//! caching:
//!
//! - **Tracking.** The cache reads through a connection of its own, in RESP3
//!   with `CLIENT TRACKING ON`: the server remembers the keys this connection
//!   read and, when one changes (a write by any client, an expiry, an
//!   eviction, `FLUSHALL`), pushes an invalidation on the same connection.
//!   redis-rs hands each push to a closure that runs in the connection's
//!   reader, before any later reply is delivered: an invalidation is applied
//!   before the reply to any command sent after the write was acknowledged.
//!   That makes [`ModelCache::sync`] (one `PING` on that connection) a fence.
//! - **Fetches in flight.** A read records its key as *in flight* before it
//!   sends `HGETALL`/`JSON.GET`; an invalidation of that key marks the flight
//!   stale, and a stale flight's result is returned to the readers that were
//!   waiting for it but never stored. Storing and invalidating take one lock,
//!   so no reply read before a write can be stored after that write's
//!   invalidation. Concurrent misses of one key share one flight: one round
//!   trip, not one per task.
//! - **Generations.** Entries carry the generation of the connection they
//!   were read on. When that connection drops (its reader sees the socket
//!   close, or the heartbeat fails), the generation moves on before anything
//!   else runs on it: every entry and every flight of the old connection is
//!   dead at once, and the next read opens a new tracked connection.
//! - **Expiry.** Each entry also ends when its key's TTL ends (read with the
//!   document, in the same round trip), whether or not the server has sent
//!   the expiry's invalidation yet.
//! - **Your own writes.** Requests sent through [`ModelCache::connection`]
//!   (the tracked connection itself) are each followed by a `PING` in the
//!   same round trip, and drop the keys of `M` they name when they return
//!   (with or without an error): the invalidations of their writes, scripts
//!   that build key names included, are applied before the call returns.
//!   Writes from elsewhere arrive as invalidations (microseconds on a local
//!   network); [`ModelCache::sync`] waits for all of them. Redis sends none
//!   for `SWAPDB`.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    PushKind, RedisError, RedisFuture, Value,
};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::pk::PkArg;
use crate::storage::Storage;

/// The settings of a [`ModelCache`].
///
/// ```
/// use std::time::Duration;
/// use redis_om::cache::CacheConfig;
/// let config = CacheConfig::new()
///     .max_capacity(100_000)
///     .time_to_live(Duration::from_secs(300));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a CacheConfig does nothing until given to ModelCache::connect"]
pub struct CacheConfig {
    max_capacity: u64,
    time_to_live: Option<Duration>,
    connection_timeout: Duration,
    response_timeout: Duration,
    retry_interval: Duration,
    heartbeat_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_capacity: 10_000,
            time_to_live: None,
            connection_timeout: crate::connect::CONNECTION_TIMEOUT,
            response_timeout: crate::connect::RESPONSE_TIMEOUT,
            retry_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(1),
        }
    }
}

impl CacheConfig {
    /// At most 10,000 documents, no time bound of its own, a heartbeat every
    /// second, and the timeouts of [`connect`](crate::connect).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many documents the cache holds at most (moka evicts the least
    /// useful first, by TinyLFU). Absent documents count too.
    pub fn max_capacity(mut self, documents: u64) -> Self {
        self.max_capacity = documents;
        self
    }

    /// How long a document stays in the cache at most after it was read,
    /// even without any change to it. Not needed for correctness (changes
    /// invalidate entries); a bound on memory held by documents read once.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// How long opening the cache's connection may take.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a read of a missing document may wait for its reply.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// After a failed connection attempt, reads fail at once (with the
    /// attempt's error) for this long before the next attempt, so that a
    /// service whose Redis is down falls back without waiting each time.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// How often the cache checks its connection with a `PING`. Cached
    /// documents are served only while the last check is recent (three
    /// intervals): a connection that stops answering without closing (a
    /// network partition) cannot keep stale documents alive longer than that.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(1));
        self
    }
}

/// Counters of a [`ModelCache`] since it was created
/// ([`ModelCache::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from process memory.
    pub hits: u64,
    /// Reads that went to Redis (including those that joined another read of
    /// the same key in flight).
    pub misses: u64,
    /// Round trips made for misses (concurrent misses of one key share one).
    pub fetches: u64,
    /// Entries dropped (or reads in flight made stale) because their key
    /// changed: pushed by the server, or named by a command sent through
    /// [`ModelCache::connection`].
    pub invalidations: u64,
    /// Times the whole cache was dropped: a lost or new connection, a failed
    /// heartbeat, `FLUSHALL`/`FLUSHDB`, or [`ModelCache::clear`].
    pub resets: u64,
    /// Documents held now (approximate: moka counts lazily).
    pub entries: u64,
}

/// One cached read: the document (or its absence) as read on the
/// connection of generation `generation`, valid until `expires_at` at most.
struct Entry<M> {
    value: Option<Arc<M>>,
    generation: u64,
    expires_at: Option<Instant>,
}

/// A read of one key in flight, shared by the readers that missed it.
struct Flight<M> {
    /// Cleared when the key is invalidated while the read is in flight: the
    /// result is then not stored.
    current: std::sync::atomic::AtomicBool,
    generation: u64,
    result: tokio::sync::OnceCell<Option<Arc<M>>>,
}

/// The connection and the reads in flight, behind one lock.
struct State<M> {
    connection: Option<MultiplexedConnection>,
    flights: HashMap<String, Arc<Flight<M>>>,
    /// When the last connection attempt failed, and how.
    failed: Option<(Instant, String)>,
}

struct Shared<M> {
    /// Itself, for the push handler and the heartbeat, which must not keep
    /// the cache alive.
    this: Weak<Shared<M>>,
    client: redis::Client,
    config: CacheConfig,
    store: moka::sync::Cache<String, Arc<Entry<M>>>,
    state: Mutex<State<M>>,
    /// Only one task opens a connection at a time.
    connecting: tokio::sync::Mutex<()>,
    /// Moves on at every reset: entries of older generations are dead.
    generation: AtomicU64,
    /// Entries are served only before this instant (nanoseconds since
    /// `origin`), renewed by each answered heartbeat.
    lease_until: AtomicU64,
    origin: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    fetches: AtomicU64,
    invalidations: AtomicU64,
    resets: AtomicU64,
    _model: PhantomData<fn() -> M>,
}

/// A local cache of decoded `M` documents in front of Redis, kept correct by
/// server-assisted invalidation (see the [module documentation](self)).
/// Clone it freely: clones share one cache and one connection.
///
/// ```no_run
/// use redis_om::prelude::*;
/// use redis_om::cache::{CacheConfig, ModelCache};
///
/// #[derive(HashModel, serde::Serialize, serde::Deserialize, Debug, Clone)]
/// struct User { #[redis_om(primary_key)] pk: String, name: String }
///
/// # async fn run() -> redis_om::Result<()> {
/// let users = ModelCache::<User>::connect(redis_om::url(), CacheConfig::new()).await?;
/// // Writes through the cache's connection are read back at once.
/// let mut con = users.connection();
/// let mut ada = User { pk: "1".into(), name: "Ada".into() };
/// ada.save(&mut con).await?;
/// let first = users.get("1").await?;  // a miss: one HGETALL
/// let again = users.get("1").await?;  // a hit: no round trip
/// assert_eq!(again.as_deref().map(|u| u.name.as_str()), Some("Ada"));
/// # Ok(()) }
/// ```
pub struct ModelCache<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Clone for ModelCache<M> {
    fn clone(&self) -> Self {
        ModelCache {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> fmt::Debug for ModelCache<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelCache")
            .field("model", &std::any::type_name::<M>())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// What a lookup in process memory found ([`ModelCache::get_local`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local<M> {
    /// The document, as last read (`None`: Redis had none).
    Hit(Option<Arc<M>>),
    /// Not in process memory (or no longer valid): ask Redis.
    Miss,
}

impl<M: Model + 'static> ModelCache<M> {
    /// Opens the cache's tracked connection to `target` (a URL or a
    /// `redis::ConnectionInfo`; the cache always speaks RESP3 on its own
    /// connection, whatever the URL says) and starts its heartbeat (a task
    /// on the current Tokio runtime, one per connection).
    ///
    /// # Errors
    /// A URL that is not valid, a server that cannot be reached (within the
    /// [connection timeout](CacheConfig::connection_timeout)), or a server
    /// without RESP3 or client tracking (Redis < 6).
    pub async fn connect(target: impl IntoConnectionInfo, config: CacheConfig) -> Result<Self> {
        let cache = Self::new(target, config)?;
        cache.shared.connection().await?;
        Ok(cache)
    }

    /// Like [`connect`](Self::connect), without connecting yet: the first
    /// read connects. For a service that must start while Redis is down.
    /// Needs no runtime; its reads do.
    ///
    /// # Errors
    /// A URL that is not valid.
    pub fn new(target: impl IntoConnectionInfo, config: CacheConfig) -> Result<Self> {
        let info = crate::connect::client(target)?
            .get_connection_info()
            .clone();
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(redis))?;
        let mut store = moka::sync::Cache::builder().max_capacity(config.max_capacity);
        if let Some(ttl) = config.time_to_live {
            store = store.time_to_live(ttl);
        }
        let shared = Arc::new_cyclic(|this| Shared {
            this: this.clone(),
            client,
            store: store.build(),
            state: Mutex::new(State {
                connection: None,
                flights: HashMap::new(),
                failed: None,
            }),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            lease_until: AtomicU64::new(0),
            origin: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            config,
            _model: PhantomData,
        });
        Ok(ModelCache { shared })
    }

    /// The document with primary key `pk`, or `None` when Redis has none:
    /// from process memory when it is there and valid, else read from Redis
    /// (one round trip, shared with concurrent reads of the same key) and
    /// kept. Returns an `Arc`: clone the model out of it
    /// (`Arc::unwrap_or_clone`) only when you need to own it.
    ///
    /// # Errors
    /// An empty `pk`; Redis unreachable ([`Error::is_connection_error`]) or
    /// too slow ([`Error::Timeout`]); a document that does not decode
    /// ([`Error::Decode`], never cached).
    pub async fn get(&self, pk: impl PkArg) -> Result<Option<Arc<M>>> {
        let key = self.shared.key(&pk)?;
        if let Local::Hit(value) = self.shared.lookup(&key) {
            // A hit never waits: without this, a task reading in a loop
            // would never let a current-thread runtime run the connection's
            // reader, which applies the invalidations. Yields once per
            // Tokio budget (128 calls).
            tokio::task::consume_budget().await;
            return Ok(value);
        }
        self.shared.fetch(key).await
    }

    /// The document with primary key `pk` if process memory has it (no I/O):
    /// for telling a local hit from a read from Redis.
    ///
    /// # Errors
    /// An empty `pk`.
    pub fn get_local(&self, pk: impl PkArg) -> Result<Local<M>> {
        let key = self.shared.key(&pk)?;
        Ok(self.shared.lookup(&key))
    }

    /// The documents with these primary keys, in order, `None` where Redis
    /// has none; the misses are read concurrently (pipelined on one
    /// connection).
    ///
    /// # Errors
    /// As [`get`](Self::get), for the first key that fails.
    pub async fn get_many<P: PkArg>(
        &self,
        pks: impl IntoIterator<Item = P>,
    ) -> Result<Vec<Option<Arc<M>>>> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for pk in pks {
            let key = self.shared.key(&pk)?;
            match self.shared.lookup(&key) {
                Local::Hit(value) => out.push(value),
                Local::Miss => {
                    missing.push((out.len(), key));
                    out.push(None);
                }
            }
        }
        let reads = missing.into_iter().map(|(at, key)| {
            let shared = &self.shared;
            async move { shared.fetch(key).await.map(|value| (at, value)) }
        });
        for found in futures_util::future::join_all(reads).await {
            let (at, value) = found?;
            out[at] = value;
        }
        Ok(out)
    }

    /// The cache's own connection, for writes: every redis-om operation
    /// (and any redis-rs command) runs on it, and a read after a write
    /// returns what it wrote (see the [module documentation](self)). It
    /// opens the connection again after a loss. Commands that would change
    /// what the cache reads or hold its reads up are refused with
    /// [`Error::Redis`] naming the fix: `SELECT`, `HELLO`, `RESET`,
    /// `MULTI`/`EXEC`/`WATCH` by hand (atomic pipelines are fine), `CLIENT
    /// TRACKING`/`REPLY`/`CACHING`, subscriptions, blocking commands and `WAIT`.
    pub fn connection(&self) -> CachedConnection<M> {
        CachedConnection {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Drops the document with primary key `pk` from process memory (Redis
    /// is not touched): after a write to it through another connection, so
    /// that this process reads it back at once.
    ///
    /// # Errors
    /// An empty `pk`.
    pub fn invalidate(&self, pk: impl PkArg) -> Result<()> {
        let key = self.shared.key(&pk)?;
        self.shared.invalidate_keys(std::iter::once(key.as_bytes()));
        Ok(())
    }

    /// Drops every document from process memory.
    pub fn clear(&self) {
        self.shared.reset();
    }

    /// Waits until every write acknowledged to any client before this call
    /// is reflected in this cache (one `PING` on the tracked connection,
    /// answered after the invalidations the server queued before it).
    ///
    /// # Errors
    /// The connection failed: the cache was cleared, and reads go to Redis.
    pub async fn sync(&self) -> Result<()> {
        let (mut con, id) = self.shared.connection().await?;
        match redis::cmd("PING").query_async::<()>(&mut con).await {
            Ok(()) => {
                self.shared.renew_lease();
                Ok(())
            }
            Err(err) => {
                self.shared.lost(id);
                Err(Error::from_redis(err))
            }
        }
    }

    /// The counters since the cache was created.
    pub fn stats(&self) -> CacheStats {
        let s = &self.shared;
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            fetches: s.fetches.load(Ordering::Relaxed),
            invalidations: s.invalidations.load(Ordering::Relaxed),
            resets: s.resets.load(Ordering::Relaxed),
            entries: s.store.entry_count(),
        }
    }

    /// Whether the tracked connection is open and answered its last
    /// heartbeat: cached documents are served only then.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connection.is_some() && self.shared.leased()
    }
}

impl<M: Model + 'static> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // A panic while holding the lock leaves the maps consistent (every
        // change is one insert or remove): go on with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn key(&self, pk: &impl PkArg) -> Result<String> {
        let part = crate::store::required::<M>(pk)?;
        Ok(M::key_layout().key(&part))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn leased(&self) -> bool {
        self.leased_at(Instant::now())
    }

    fn leased_at(&self, now: Instant) -> bool {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since).unwrap_or(u64::MAX) < self.lease_until.load(Ordering::Acquire)
    }

    fn renew_lease(&self) {
        let lease = self.config.heartbeat_interval * 3;
        let until = self.now().saturating_add(lease.as_nanos() as u64);
        self.lease_until.fetch_max(until, Ordering::AcqRel);
    }

    fn lookup(&self, key: &str) -> Local<M> {
        if let Some(entry) = self.store.get(key) {
            // One clock read for both time checks: this is the hit path.
            let now = Instant::now();
            if entry.generation == self.generation.load(Ordering::Acquire)
                && entry.expires_at.is_none_or(|at| now < at)
                && self.leased_at(now)
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Local::Hit(entry.value.clone());
            }
        }
        Local::Miss
    }

    /// A miss: joins the read of `key` in flight, or starts one.
    async fn fetch(&self, key: String) -> Result<Option<Arc<M>>> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (con, id, flight) = loop {
            let (con, id) = self.connection().await?;
            if let Some(flight) = self.join_flight(&key, id) {
                break (con, id, flight);
            }
            // The connection was replaced meanwhile: what it reads would not
            // be tracked by the current one.
            tokio::task::yield_now().await;
        };
        let _leave = Leave {
            shared: self,
            key: &key,
            flight: &flight,
        };
        let result = flight
            .result
            .get_or_try_init(|| {
                let span = tracing::debug_span!("redis_om.cache.miss", key = %key);
                self.read(con, id, &key, &flight).instrument(span)
            })
            .await;
        if result.is_err() {
            // The waiters try again on their own; a read whose flight is out
            // of the map would not see invalidations, so none of theirs is stored.
            flight.current.store(false, Ordering::Release);
            self.forget_flight(&key, &flight);
        }
        result.cloned()
    }

    /// Removes `flight` from the map if it is still the flight of `key`.
    fn forget_flight(&self, key: &str, flight: &Arc<Flight<M>>) {
        let mut state = self.lock();
        if state
            .flights
            .get(key)
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            state.flights.remove(key);
        }
    }

    /// The flight of `key` on the connection with id `id` (joined or
    /// started), or `None` when that connection is no longer the current one.
    fn join_flight(&self, key: &str, id: u64) -> Option<Arc<Flight<M>>> {
        let mut state = self.lock();
        if id != self.generation.load(Ordering::Acquire) || state.connection.is_none() {
            return None;
        }
        let flight = state.flights.entry(key.to_owned()).or_insert_with(|| {
            Arc::new(Flight {
                current: std::sync::atomic::AtomicBool::new(true),
                generation: id,
                result: tokio::sync::OnceCell::new(),
            })
        });
        Some(Arc::clone(flight))
    }

    /// The round trip of a flight: reads the document and its TTL, and
    /// stores them unless the key was invalidated meanwhile.
    async fn read(
        &self,
        mut con: MultiplexedConnection,
        id: u64,
        key: &str,
        flight: &Arc<Flight<M>>,
    ) -> Result<Option<Arc<M>>> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut pipe = redis::pipe();
        match M::STORAGE {
            Storage::Hash => pipe.cmd("HGETALL").arg(key),
            Storage::Json => pipe.cmd("JSON.GET").arg(key),
        };
        pipe.cmd("PTTL").arg(key);
        let replies: Vec<Value> = match pipe.query_async(&mut con).await {
            Ok(replies) => replies,
            Err(err) => {
                if crate::error::is_unavailable(&err) {
                    self.lost(id);
                }
                return Err(read_error(key, err));
            }
        };
        let [document, ttl]: [Value; 2] =
            replies.try_into().map_err(|_| Error::UnexpectedReply {
                command: "HGETALL",
                detail: "the pipeline answered another number of replies".to_owned(),
            })?;
        let value = match crate::ops::decode_reply::<M>(key, document) {
            Ok(model) => Some(Arc::new(model)),
            Err(Error::NotFound { .. }) => None,
            Err(err) => return Err(err),
        };
        // The server counts whole milliseconds: the key's expiry, `when`, is at
        // least the server's millisecond at the read (which is at most one
        // millisecond before `started`) plus the TTL. One millisecond less
        // than `started + TTL` is therefore never after the key's end.
        let expires_at = match ttl {
            Value::Int(ms) if ms >= 0 => Some(
                (started + Duration::from_millis(ms as u64))
                    .checked_sub(Duration::from_millis(1))
                    .unwrap_or(started),
            ),
            _ => None,
        };
        let entry = Arc::new(Entry {
            value: value.clone(),
            generation: flight.generation,
            expires_at,
        });
        // An answer on the tracked connection: every invalidation sent
        // before it has been applied, so the connection is known alive.
        self.renew_lease();
        let mut state = self.lock();
        if state
            .flights
            .get(key)
            .is_some_and(|f| Arc::ptr_eq(f, flight))
        {
            state.flights.remove(key);
        }
        if flight.current.load(Ordering::Acquire)
            && flight.generation == self.generation.load(Ordering::Acquire)
        {
            self.store.insert(key.to_owned(), entry);
        }
        drop(state);
        Ok(value)
    }

    /// The tracked connection and its id, opening it when there is none.
    async fn connection(&self) -> Result<(MultiplexedConnection, u64)> {
        if let Some(found) = self.current() {
            return Ok(found);
        }
        let _one = self.connecting.lock().await;
        if let Some(found) = self.current() {
            return Ok(found);
        }
        if let Some((at, why)) = &self.lock().failed {
            let left = self.config.retry_interval.saturating_sub(at.elapsed());
            if !left.is_zero() {
                return Err(Error::Redis(RedisError::from((
                    ErrorKind::Io,
                    "redis-om cache",
                    format!("the cache's connection is down ({why}); next attempt in {left:?}"),
                ))));
            }
        }
        match self.open().await {
            Ok(found) => Ok(found),
            Err(err) => {
                self.lock().failed = Some((Instant::now(), err.to_string()));
                Err(err)
            }
        }
    }

    fn current(&self) -> Option<(MultiplexedConnection, u64)> {
        let state = self.lock();
        let con = state.connection.clone()?;
        Some((con, self.generation.load(Ordering::Acquire)))
    }

    async fn open(&self) -> Result<(MultiplexedConnection, u64)> {
        // The id of the connection being opened: its pushes and its loss
        // concern the cache only while it is the current connection.
        let id = self.generation.load(Ordering::Acquire) + 1;
        let weak = self.this.clone();
        let on_push = move |push: PushInfo| {
            if let Some(shared) = weak.upgrade() {
                shared.pushed(id, push);
            }
            Ok::<(), redis::aio::SendError>(())
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connection_timeout))
            .set_response_timeout(Some(self.config.response_timeout))
            .set_push_sender(on_push);
        let mut con = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(crate::connect::refused)?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .query_async::<()>(&mut con)
            .await
            .map_err(|err| match err.kind() {
                ErrorKind::Io => Error::from_redis(err),
                _ => Error::Unsupported {
                    feature: "the model cache (CLIENT TRACKING in RESP3)".to_owned(),
                    needs: "Redis 6",
                    reason: crate::error::server_message(&err),
                },
            })?;
        // On a cluster node, most keys would answer MOVED, and tracking
        // covers only the node's own: not supported yet, said up front.
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut con)
            .await
            .map_err(Error::from_redis)?;
        if info.lines().any(|line| line.trim() == "cluster_enabled:1") {
            return Err(Error::Config(
                "the model cache needs a standalone Redis server (or a primary with replicas): \
                 this server is a Redis Cluster node, where the cache is not supported yet"
                    .to_owned(),
            ));
        }
        let mut state = self.lock();
        // A new connection: what the old one read is tracked no more.
        self.generation.store(id, Ordering::Release);
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.abandon_flights(&mut state);
        self.store.invalidate_all();
        state.connection = Some(con.clone());
        state.failed = None;
        drop(state);
        self.renew_lease();
        // One heartbeat per connection, on the runtime that opened it: it
        // ends with its connection (or with that runtime).
        tokio::spawn(heartbeat(self.this.clone(), id));
        Ok((con, id))
    }

    /// A push from the connection with id `id`.
    fn pushed(&self, id: u64, push: PushInfo) {
        if id != self.generation.load(Ordering::Acquire) {
            return;
        }
        match push.kind {
            PushKind::Invalidate => match push.data.first() {
                Some(Value::Array(keys)) => {
                    self.invalidate_keys(keys.iter().filter_map(|key| match key {
                        Value::BulkString(bytes) => Some(bytes.as_slice()),
                        Value::SimpleString(text) => Some(text.as_bytes()),
                        _ => None,
                    }))
                }
                // `FLUSHALL`/`FLUSHDB` (and a tracking table overflow):
                // every key.
                _ => self.reset(),
            },
            PushKind::Disconnection => self.lost(id),
            _ => {}
        }
    }

    /// The connection with id `id` failed: if it is still the current one,
    /// drop it and everything read on it.
    fn lost(&self, id: u64) {
        let mut state = self.lock();
        if id != self.generation.load(Ordering::Acquire) || state.connection.is_none() {
            return;
        }
        state.connection = None;
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.abandon_flights(&mut state);
        self.store.invalidate_all();
        drop(state);
        tracing::warn!(
            model = std::any::type_name::<M>(),
            "redis-om cache: the tracked connection was lost; cache cleared"
        );
    }

    /// Drops every entry and every flight; the connection stays.
    fn reset(&self) {
        let mut state = self.lock();
        // Entries of the current connection are now of a past generation;
        // the connection keeps its id for its pushes.
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.abandon_flights(&mut state);
        self.store.invalidate_all();
    }

    fn abandon_flights(&self, state: &mut State<M>) {
        for (_, flight) in state.flights.drain() {
            flight.current.store(false, Ordering::Release);
        }
    }

    fn invalidate_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let mut state = self.lock();
        for key in keys {
            let Ok(key) = std::str::from_utf8(key) else {
                continue;
            };
            let in_flight = state.flights.remove(key).inspect(|flight| {
                flight.current.store(false, Ordering::Release);
            });
            // Counted only when it dropped something: commands through
            // `CachedConnection` name keys (and the index) they do not change.
            if self.store.remove(key).is_some() || in_flight.is_some() {
                self.invalidations.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops the keys of `M` among the arguments of commands just sent.
    fn written<'c>(&self, commands: impl Iterator<Item = &'c Cmd>) {
        let prefix = M::key_layout().key_prefix().as_bytes();
        let mut keys = Vec::new();
        for cmd in commands {
            for arg in cmd.args_iter() {
                if let redis::Arg::Simple(bytes) = arg {
                    if bytes.starts_with(prefix) {
                        keys.push(bytes);
                    }
                }
            }
        }
        if !keys.is_empty() {
            self.invalidate_keys(keys.into_iter());
        }
    }
}

fn read_error(key: &str, err: RedisError) -> Error {
    // The pipeline's error wraps the server's: look at the whole text.
    let message = format!("{} {err}", crate::error::server_message(&err));
    if message.contains("WRONGTYPE") || message.contains("wrong Redis type") {
        return Error::Decode {
            key: key.to_owned(),
            field: None,
            reason: "WRONGTYPE: the key holds another Redis type than this model's (a hash or a JSON document)"
                .to_owned(),
        };
    }
    Error::from_redis(err)
}

/// When the last reader of a flight stops waiting (its future was dropped
/// before the read finished), the flight leaves the map instead of staying
/// there for good.
struct Leave<'a, M: Model + 'static> {
    shared: &'a Shared<M>,
    key: &'a str,
    flight: &'a Arc<Flight<M>>,
}

impl<M: Model + 'static> Drop for Leave<'_, M> {
    fn drop(&mut self) {
        if self.flight.result.initialized() {
            return;
        }
        let mut state = self.shared.lock();
        // Readers clone a flight under this lock: two references (the map's
        // and this reader's) mean nobody else waits for it.
        if Arc::strong_count(self.flight) <= 2
            && state
                .flights
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, self.flight))
        {
            self.flight.current.store(false, Ordering::Release);
            state.flights.remove(self.key);
        }
    }
}

/// Pings the connection with id `id` every heartbeat interval while it is
/// the cache's current one; a failed ping drops it and everything read on it.
async fn heartbeat<M: Model + 'static>(shared: Weak<Shared<M>>, id: u64) {
    loop {
        let interval = match shared.upgrade() {
            Some(s) => s.config.heartbeat_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(s) = shared.upgrade() else { return };
        let Some((mut con, current)) = s.current() else {
            return;
        };
        if current != id {
            return;
        }
        match redis::cmd("PING").query_async::<()>(&mut con).await {
            Ok(()) => s.renew_lease(),
            Err(_) => s.lost(id),
        }
    }
}

/// A connection for writes whose keys a [`ModelCache`] must forget: see
/// [`ModelCache::connection`]. Implements redis-rs's `ConnectionLike`, so
/// every redis-om operation (and any redis-rs command) runs on it.
pub struct CachedConnection<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Clone for CachedConnection<M> {
    fn clone(&self) -> Self {
        CachedConnection {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> fmt::Debug for CachedConnection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedConnection")
            .field("model", &std::any::type_name::<M>())
            .finish_non_exhaustive()
    }
}

fn redis_error(err: Error) -> RedisError {
    match err {
        Error::Redis(err) | Error::Timeout(err) => err,
        other => RedisError::from((ErrorKind::Client, "redis-om cache", other.to_string())),
    }
}

impl<M: Model + 'static> CachedConnection<M> {
    /// Sends a request on the tracked connection, with a `PING` right behind
    /// it (same round trip): its answer comes after every invalidation the
    /// server queued for the request's writes (Redis sends those to the
    /// writing connection after the request's reply), so they are applied
    /// when the call returns, whichever keys a script computed.
    async fn send<'a, T>(
        &'a mut self,
        commands: &[&Cmd],
        request: impl FnOnce(MultiplexedConnection) -> RedisFuture<'a, T>,
    ) -> redis::RedisResult<T> {
        if let Some(why) = commands.iter().find_map(|cmd| refusal(cmd)) {
            return Err(RedisError::from((ErrorKind::Client, "redis-om cache", why)));
        }
        let (con, id) = self.shared.connection().await.map_err(redis_error)?;
        let mut fence = con.clone();
        // `join` polls the request first: it is queued on the connection
        // before the PING.
        let (reply, _) = futures_util::future::join(
            request(con),
            redis::cmd("PING").query_async::<()>(&mut fence),
        )
        .await;
        self.shared.written(commands.iter().copied());
        // The server sends no invalidation for SWAPDB.
        if commands.iter().any(|cmd| is_named(cmd, "SWAPDB")) {
            self.shared.reset();
        }
        if let Err(err) = &reply {
            if crate::error::is_unavailable(err) {
                self.shared.lost(id);
            }
        }
        reply
    }
}

fn is_named(cmd: &Cmd, name: &str) -> bool {
    matches!(cmd.args_iter().next(), Some(redis::Arg::Simple(first)) if first.eq_ignore_ascii_case(name.as_bytes()))
}

/// Why `cmd` may not run on the cache's connection: it would change what the
/// cache's own reads see (`SELECT`, `HELLO`, `RESET`, `CLIENT TRACKING`…),
/// interleave a transaction with them (`MULTI`: use an atomic pipeline), or
/// hold them up (blocking commands, `WAIT`).
fn refusal(cmd: &Cmd) -> Option<String> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = String::from_utf8_lossy(args.next()?).to_ascii_uppercase();
    let blocking = matches!(
        name.as_str(),
        "BLPOP"
            | "BRPOP"
            | "BRPOPLPUSH"
            | "BLMOVE"
            | "BLMPOP"
            | "BZPOPMIN"
            | "BZPOPMAX"
            | "BZMPOP"
            | "WAIT"
            | "WAITAOF"
    ) || (matches!(name.as_str(), "XREAD" | "XREADGROUP")
        && args.clone().any(|a| a.eq_ignore_ascii_case(b"BLOCK")));
    let session = matches!(
        name.as_str(),
        "SELECT"
            | "HELLO"
            | "RESET"
            | "QUIT"
            | "MULTI"
            | "EXEC"
            | "DISCARD"
            | "WATCH"
            | "UNWATCH"
            | "MONITOR"
            | "SUBSCRIBE"
            | "PSUBSCRIBE"
            | "SSUBSCRIBE"
            | "UNSUBSCRIBE"
            | "PUNSUBSCRIBE"
            | "SUNSUBSCRIBE"
    ) || (name == "CLIENT"
        && args.next().is_some_and(|sub| {
            [&b"TRACKING"[..], b"REPLY", b"CACHING"]
                .iter()
                .any(|s| sub.eq_ignore_ascii_case(s))
        }));
    let transaction = matches!(
        name.as_str(),
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH"
    );
    let what = if blocking {
        "would hold up the cache's reads while it waits"
    } else if transaction {
        "would change the session the cache reads in; for a transaction, use an atomic \
         pipeline (`redis::pipe().atomic()`), which runs there"
    } else if session {
        "would change the session the cache reads in"
    } else {
        return None;
    };
    Some(format!(
        "`{name}` cannot run on the cache's connection ({what}): run it on another \
         connection, then call `invalidate` or `sync` on the cache"
    ))
}

impl<M: Model + 'static> ConnectionLike for CachedConnection<M> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.send(&[cmd], move |mut con| {
                Box::pin(async move { con.req_packed_command(cmd).await })
            })
            .await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let commands: Vec<&Cmd> = pipeline.cmd_iter().collect();
            self.send(&commands, move |mut con| {
                Box::pin(async move { con.req_packed_commands(pipeline, offset, count).await })
            })
            .await
        })
    }

    fn get_db(&self) -> i64 {
        self.shared
            .client
            .get_connection_info()
            .redis_settings()
            .db()
    }
}
