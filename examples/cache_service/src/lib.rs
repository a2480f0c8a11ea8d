//! A Redis read cache in front of SQL, over HTTP: the Rust version of the
//! classic "FastAPI + Redis read cache" tutorial, with redis-om.
//!
//! SQLite (through sqlx) is the source of truth. In front of it sit two
//! levels of cache: Redis, holding one [`UserReadCache`] hash per user
//! (indexed by RediSearch, so that searches can be answered from it too), and
//! in front of Redis a [`ModelCache`] in process memory (the L1), which Redis
//! itself keeps correct (client tracking).
//!
//! # Consistency
//!
//! - **Reads** are cache-aside: L1, then Redis, then SQL; a row read from SQL
//!   is put into Redis with `only_if_new` (`HSET` only when the key is
//!   absent) and a TTL.
//! - **Writes** go to SQL first, then *through* to Redis: an update saves the
//!   new row, a delete saves a *tombstone* (`deleted: true`). Both overwrite
//!   whatever a reader may have filled, and the tombstone is what keeps a slow
//!   reader's fill (with `only_if_new`) from bringing a deleted user back.
//!   Writes go through [`ModelCache::connection`], which drops the L1 entry
//!   when the write returns, so a read after an update never sees the old
//!   row.
//! - **Searches** are answered from the RediSearch index only while a
//!   *complete* marker exists: it is set (with a TTL 10% shorter than the
//!   entries') after the whole table was loaded into Redis, and every
//!   create/update/delete keeps the loaded set complete by writing through.
//!   Otherwise the search is answered from SQL and the table is loaded in the
//!   background.
//! - **Outages**: every Redis call has a deadline (`REDIS_TIMEOUT_MS`). When
//!   one fails the service marks Redis down (one `warn!`), answers everything
//!   from SQL and remembers the ids written meanwhile. A background probe
//!   waits for Redis to answer, deletes those ids' entries (and the complete
//!   marker) through the cache's connection, runs the index migrator again,
//!   and only then lets requests use Redis.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use redis_om::cache::{CacheConfig, Local, ModelCache};
use redis_om::prelude::*;
use redis_om::redis;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// Errors of start-up.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The header telling where an answer came from: `hit-l1`, `hit-redis` or
/// `miss` (SQL).
pub const X_CACHE: &str = "x-cache";

/// How often a probe checks whether Redis is back during an outage.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Rows written to Redis per pipeline when the table is loaded.
const WARM_CHUNK: usize = 500;
/// Latency samples kept per source for `/metrics`.
const SAMPLES: usize = 100_000;

/// The cached copy of a user row in Redis: `:UserReadCache:{id}`.
///
/// `ns` (the service's namespace, [`Config::namespace`]) scopes searches and
/// the complete marker, so that several services with their own databases
/// (the tests, the demo's three instances) can share one Redis. `deleted`
/// marks a tombstone.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UserReadCache")]
pub struct UserReadCache {
    #[redis_om(primary_key)]
    pub pk: String,
    #[redis_om(index)]
    pub ns: String,
    #[redis_om(index)]
    pub name: String,
    #[redis_om(index)]
    pub email: String,
    pub version: i64,
    #[redis_om(index)]
    pub deleted: bool,
}

/// A user, as the API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub version: i64,
}

/// The body of `POST /users` and `PUT /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUser {
    pub name: String,
    pub email: String,
}

/// The query of `GET /users`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Search {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Which levels of cache the service uses (`CACHE_LEVELS`), for comparing
/// them under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLevels {
    /// `l1,redis`: process memory, then Redis, then SQL (the default).
    L1AndRedis,
    /// `redis`: Redis, then SQL.
    RedisOnly,
    /// `none`: SQL only.
    None,
}

impl CacheLevels {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheLevels::L1AndRedis => "l1,redis",
            CacheLevels::RedisOnly => "redis",
            CacheLevels::None => "none",
        }
    }
}

impl FromStr for CacheLevels {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace(' ', "").as_str() {
            "l1,redis" | "redis,l1" | "l1" => Ok(CacheLevels::L1AndRedis),
            "redis" => Ok(CacheLevels::RedisOnly),
            "none" | "" => Ok(CacheLevels::None),
            other => Err(format!(
                "CACHE_LEVELS={other:?}: expected l1,redis | redis | none"
            )),
        }
    }
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (default `sqlite::memory:`; a file: `sqlite://users.db`).
    pub database_url: String,
    /// `REDIS_OM_URL` (default `redis://127.0.0.1:6379`).
    pub redis_url: String,
    /// `CACHE_TTL_SECS`: the TTL of every Redis entry (default 300 s).
    pub cache_ttl: Duration,
    /// `L1_CAPACITY`: documents kept in process memory (default 10,000).
    pub l1_capacity: u64,
    /// `REDIS_TIMEOUT_MS`: the deadline of each Redis call (default 200 ms;
    /// the index migrator's is ten times that, at least 5 s).
    pub redis_timeout: Duration,
    /// `CACHE_LEVELS`: `l1,redis` (default), `redis` or `none`.
    pub levels: CacheLevels,
    /// `CACHE_NAMESPACE`: scopes searches and the complete marker in a Redis
    /// shared by several databases. Default `default`, or a random one with
    /// an in-memory database (a fresh database must not trust what an earlier
    /// process left in Redis).
    pub namespace: String,
    /// `ID_START`: ids of a new database start after this number. Default
    /// none, or a random one with an in-memory database, so that its ids do
    /// not meet the cache entries of another database in the same Redis.
    pub id_start: Option<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite::memory:".to_owned(),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            cache_ttl: Duration::from_secs(300),
            l1_capacity: 10_000,
            redis_timeout: Duration::from_millis(200),
            levels: CacheLevels::L1AndRedis,
            namespace: "default".to_owned(),
            id_start: None,
        }
    }
}

impl Config {
    /// Reads the settings from the environment (see each field).
    ///
    /// # Errors
    /// A variable that does not parse.
    pub fn from_env() -> Result<Config, BoxError> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        }
        fn number<T: FromStr>(name: &str) -> Result<Option<T>, BoxError> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v:?} is not a number").into()),
            }
        }
        let mut config = Config::default();
        if let Some(url) = var("DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(url) = var("REDIS_OM_URL") {
            config.redis_url = url;
        }
        if let Some(secs) = number::<u64>("CACHE_TTL_SECS")? {
            config.cache_ttl = Duration::from_secs(secs.max(1));
        }
        if let Some(n) = number("L1_CAPACITY")? {
            config.l1_capacity = n;
        }
        if let Some(ms) = number::<u64>("REDIS_TIMEOUT_MS")? {
            config.redis_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(levels) = var("CACHE_LEVELS") {
            config.levels = levels.parse()?;
        }
        config.id_start = number("ID_START")?;
        match var("CACHE_NAMESPACE") {
            Some(ns) => config.namespace = ns,
            None if config.in_memory() => config = config.fresh(),
            None => {}
        }
        Ok(config)
    }

    /// The same settings with a random namespace and a random start of ids
    /// (between 10^9 and about 10^15): for a new database sharing a Redis
    /// with others (tests, the demo's instances).
    pub fn fresh(mut self) -> Config {
        let r = random_u64();
        self.namespace = format!("ns{r:016x}");
        self.id_start = Some(1_000_000_000 + ((r >> 16) % 1_000_000) as i64 * 1_000_000_000);
        self
    }

    fn in_memory(&self) -> bool {
        self.database_url.contains(":memory:") || self.database_url.contains("mode=memory")
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// Starts the service on `listener` and serves until the process ends.
///
/// # Errors
/// As [`app`], or the listener failing.
pub async fn serve(listener: TcpListener, config: Config) -> Result<(), BoxError> {
    let router = app(config).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// Opens the database (running its migrations), the cache and the Redis index
/// (when Redis is up: a service whose Redis is down starts all the same), and
/// returns the HTTP routes.
///
/// # Errors
/// The database cannot be opened or migrated; a bad Redis URL.
pub async fn app(config: Config) -> Result<Router, BoxError> {
    let db = open_db(&config).await?;
    let cache = ModelCache::<UserReadCache>::new(
        config.redis_url.as_str(),
        CacheConfig::new()
            .max_capacity(config.l1_capacity)
            .connection_timeout(config.redis_timeout)
            .response_timeout(config.redis_timeout)
            .retry_interval(PROBE_INTERVAL),
    )?;
    let admin = redis::Client::open(config.redis_url.as_str())?;
    let ns = config.namespace.clone();
    let service = Arc::new(Service {
        admin,
        marker_key: format!("cache-service:{ns}:users:complete"),
        warming_key: format!("cache-service:{ns}:users:warming"),
        config,
        db,
        cache,
        redis_up: AtomicBool::new(true),
        pending: Mutex::new(Pending::default()),
        failures: AtomicU64::new(0),
        migrated: AtomicBool::new(false),
        warming: AtomicBool::new(false),
        probing: AtomicBool::new(false),
        write_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        metrics: Metrics::default(),
    });
    if service.config.levels == CacheLevels::None {
        service.redis_up.store(false, Ordering::SeqCst);
    } else {
        match service.migrate().await {
            Ok(()) => {
                // Opens the cache's connection now, not in the first read
                // (which the migrator no longer does on it).
                let _ = service.redis("start-up", service.cache.sync()).await;
            }
            Err(err) => {
                warn!(error = %err, "the Redis index could not be prepared at start-up; searches use SQL until it is");
            }
        }
    }
    info!(
        levels = service.config.levels.as_str(),
        namespace = %service.config.namespace,
        redis = service.redis_up.load(Ordering::SeqCst),
        "cache-service ready"
    );
    Ok(Router::new()
        .route("/users", get(search_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            track_latency,
        ))
        .with_state(service))
}

async fn open_db(config: &Config) -> Result<SqlitePool, BoxError> {
    let options = SqliteConnectOptions::from_str(&config.database_url)?.create_if_missing(true);
    let pool = if config.in_memory() {
        // One connection: every connection to `sqlite::memory:` would be a
        // database of its own, and it must live as long as the pool.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?
    } else {
        SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5)),
            )
            .await?
    };
    sqlx::migrate::Migrator::new(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations"
    )))
    .await?
    .run(&pool)
    .await?;
    if let Some(start) = config.id_start {
        sqlx::query(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'users', ?1 \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')",
        )
        .bind(start)
        .execute(&pool)
        .await?;
    }
    Ok(pool)
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    L1,
    Redis,
    Sql,
}

impl Source {
    fn header(self) -> &'static str {
        match self {
            Source::L1 => "hit-l1",
            Source::Redis => "hit-redis",
            Source::Sql => "miss",
        }
    }
}

/// A failed Redis call.
#[derive(Debug)]
enum CacheError {
    /// Unreachable or too slow: Redis is now marked down.
    Down(String),
    /// Anything else (the service keeps using Redis).
    Other(redis_om::Error),
}

impl std::fmt::Display for CacheError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheError::Down(why) => write!(f, "Redis is down: {why}"),
            CacheError::Other(err) => err.fmt(f),
        }
    }
}

/// Writes whose cache entries must be deleted before Redis is read again.
#[derive(Debug, Default)]
struct Pending {
    ids: HashSet<i64>,
    /// The complete marker may be wrong (a load raced with a failed write).
    marker: bool,
}

struct Service {
    config: Config,
    db: SqlitePool,
    cache: ModelCache<UserReadCache>,
    /// For the index migrator: connections of its own, with its deadline
    /// (see [`Service::migrate`]).
    admin: redis::Client,
    marker_key: String,
    warming_key: String,
    /// False during an outage (and always with `CACHE_LEVELS=none`).
    redis_up: AtomicBool,
    pending: Mutex<Pending>,
    /// Counts writes whose write-through failed: a reader whose fill raced
    /// with one (the counter moved between its SQL read and its fill) marks
    /// its id pending too.
    failures: AtomicU64,
    /// The index exists (the migrator ran since the last outage).
    migrated: AtomicBool,
    warming: AtomicBool,
    probing: AtomicBool,
    /// Writes of one id are serialized, so that their write-throughs reach
    /// Redis in the order their SQL writes committed (within this process).
    write_locks: Vec<tokio::sync::Mutex<()>>,
    metrics: Metrics,
}

impl UserReadCache {
    fn of(ns: &str, user: &User, deleted: bool) -> Self {
        UserReadCache {
            pk: user.id.to_string(),
            ns: ns.to_owned(),
            name: user.name.clone(),
            email: user.email.clone(),
            version: user.version,
            deleted,
        }
    }

    fn user(&self) -> Option<User> {
        if self.deleted {
            return None;
        }
        Some(User {
            id: self.pk.parse().ok()?,
            name: self.name.clone(),
            email: self.email.clone(),
            version: self.version,
        })
    }
}

type Row = (i64, String, String, i64);

fn user_of((id, name, email, version): Row) -> User {
    User {
        id,
        name,
        email,
        version,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether RediSearch indexes `value` as one tag that `eq` finds exactly as
/// SQL's `= … COLLATE NOCASE` does (otherwise the search goes to SQL).
fn indexable(value: &Option<String>) -> bool {
    value
        .as_ref()
        .is_none_or(|v| !v.contains('|') && v.trim() == v && !v.is_empty() && v.len() <= 4096)
}

impl Service {
    fn key(id: i64) -> String {
        UserReadCache::key_layout().key(id)
    }

    /// Runs a Redis call with the deadline; a connection error or a timeout
    /// marks Redis down.
    async fn redis<T>(
        self: &Arc<Self>,
        what: &'static str,
        call: impl Future<Output = redis_om::Result<T>>,
    ) -> Result<T, CacheError> {
        self.redis_within(what, self.config.redis_timeout, call)
            .await
    }

    async fn redis_within<T>(
        self: &Arc<Self>,
        what: &'static str,
        deadline: Duration,
        call: impl Future<Output = redis_om::Result<T>>,
    ) -> Result<T, CacheError> {
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if err.is_connection_error() || err.is_timeout() => {
                let why = err.to_string();
                self.mark_down(what, &why);
                Err(CacheError::Down(why))
            }
            Ok(Err(err)) => {
                warn!(what, error = %err, "Redis call failed; answering from SQL");
                Err(CacheError::Other(err))
            }
            Err(_) => {
                let why = format!("no answer within {deadline:?}");
                self.mark_down(what, &why);
                Err(CacheError::Down(why))
            }
        }
    }

    fn mark_down(self: &Arc<Self>, what: &str, why: &str) {
        if self.redis_up.swap(false, Ordering::SeqCst) {
            self.metrics.outages.fetch_add(1, Ordering::Relaxed);
            warn!(
                during = what,
                error = why,
                "Redis is unavailable: serving from SQL (degraded) until it is back"
            );
        }
        if self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(probe(weak));
    }

    /// During an outage: whether Redis is back and usable again (pending
    /// entries deleted, index migrated).
    async fn recover(self: &Arc<Self>) -> bool {
        let Ok(Ok(())) = tokio::time::timeout(self.config.redis_timeout, self.cache.sync()).await
        else {
            return false;
        };
        if !self.flush_pending().await {
            return false;
        }
        // The server may have restarted empty: make sure the index exists.
        self.migrated.store(false, Ordering::SeqCst);
        if let Err(err) = self.migrate().await {
            debug!(error = %err, "migrator after the outage failed");
            if matches!(err, CacheError::Down(_)) {
                return false;
            }
        }
        self.redis_up.store(true, Ordering::SeqCst);
        true
    }

    fn has_pending(&self) -> bool {
        let pending = lock(&self.pending);
        !pending.ids.is_empty() || pending.marker
    }

    fn add_pending(&self, id: i64) {
        lock(&self.pending).ids.insert(id);
    }

    /// Deletes (through the cache's connection, so the L1 forgets them too)
    /// the entries of the writes Redis missed, and the complete marker.
    /// Returns whether Redis may be read now.
    async fn flush_pending(self: &Arc<Self>) -> bool {
        let (ids, marker) = {
            let pending = lock(&self.pending);
            (
                pending.ids.iter().copied().collect::<Vec<_>>(),
                pending.marker,
            )
        };
        if ids.is_empty() && !marker {
            return true;
        }
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(&self.marker_key);
        for id in &ids {
            unlink.arg(Self::key(*id));
        }
        let mut con = self.cache.connection();
        let call = async {
            unlink
                .query_async::<i64>(&mut con)
                .await
                .map_err(redis_om::Error::from)
        };
        if self.redis("replay", call).await.is_err() {
            return false;
        }
        let mut pending = lock(&self.pending);
        for id in &ids {
            pending.ids.remove(id);
        }
        if marker {
            pending.marker = false;
        }
        drop(pending);
        self.metrics
            .replayed
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        info!(
            ids = ids.len(),
            "deleted the cache entries of the writes Redis missed"
        );
        true
    }

    /// Whether this request may use Redis.
    async fn redis_usable(self: &Arc<Self>) -> bool {
        if !self.redis_up.load(Ordering::SeqCst) {
            return false;
        }
        !self.has_pending() || self.flush_pending().await
    }

    /// Creates or updates the search index (a failure to reach Redis marks
    /// it down: the probe runs the migrator again when it is back).
    ///
    /// The migrator runs on a connection of its own whose timeouts are its
    /// deadline, not on the cache's: there every command times out after
    /// `REDIS_TIMEOUT_MS`, so one slow command (`FT.CREATE` on a cold server,
    /// a write waiting for a slow fsync) marked a merely slow Redis down, and
    /// at start-up the service then answered everything from SQL until the
    /// probe brought it back. It writes no cached document: the cache has
    /// nothing to forget.
    async fn migrate(self: &Arc<Self>) -> Result<(), CacheError> {
        let deadline = (self.config.redis_timeout * 10).max(Duration::from_secs(5));
        let run = async {
            let timeouts = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(deadline))
                .set_response_timeout(Some(deadline));
            let mut con = self
                .admin
                .get_multiplexed_async_connection_with_config(&timeouts)
                .await?;
            Migrator::new().model::<UserReadCache>().run(&mut con).await
        };
        let report = self.redis_within("migrate", deadline, run).await?;
        debug!(%report, "index migrated");
        self.migrated.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn lock_for(&self, id: i64) -> &tokio::sync::Mutex<()> {
        &self.write_locks[id.rem_euclid(self.write_locks.len() as i64) as usize]
    }

    // --- reads ------------------------------------------------------------

    async fn read(self: &Arc<Self>, id: i64) -> Result<(Source, Option<User>), AppError> {
        let pk = id.to_string();
        let mut use_redis = self.config.levels != CacheLevels::None && self.redis_usable().await;
        let ours = |doc: &UserReadCache| doc.ns == self.config.namespace;
        if use_redis && self.config.levels == CacheLevels::L1AndRedis {
            if let Ok(Local::Hit(Some(doc))) = self.cache.get_local(pk.as_str()) {
                if ours(&doc) {
                    self.metrics.l1_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((Source::L1, doc.user()));
                }
            }
            match self.redis("get", self.cache.get(pk.as_str())).await {
                Ok(Some(doc)) if ours(&doc) => {
                    self.metrics.redis_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((Source::Redis, doc.user()));
                }
                Ok(Some(_)) => use_redis = false, // another namespace's id: leave it alone
                Ok(None) => {}
                Err(_) => use_redis = false,
            }
        } else if use_redis {
            let mut con = self.cache.connection();
            match self
                .redis("get", UserReadCache::get_optional(&mut con, pk.as_str()))
                .await
            {
                Ok(Some(doc)) if ours(&doc) => {
                    self.metrics.redis_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((Source::Redis, doc.user()));
                }
                Ok(Some(_)) => use_redis = false,
                Ok(None) => {}
                Err(_) => use_redis = false,
            }
        }
        self.metrics.misses.fetch_add(1, Ordering::Relaxed);
        if !use_redis && self.config.levels != CacheLevels::None {
            self.metrics.sql_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        let failures = self.failures.load(Ordering::SeqCst);
        let user =
            sqlx::query_as::<_, Row>("SELECT id, name, email, version FROM users WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.db)
                .await?
                .map(user_of);
        if let (true, Some(user)) = (use_redis, &user) {
            // Cache-aside fill: only if the key is absent, so that it never
            // overwrites a newer row or a tombstone written through by a
            // writer that committed after our SQL read.
            let mut doc = UserReadCache::of(&self.config.namespace, user, false);
            let mut con = self.cache.connection();
            let options = SaveOptions::new().only_if_new().ttl(self.config.cache_ttl);
            let _ = self.redis("fill", doc.save_with(&mut con, options)).await;
            if self.failures.load(Ordering::SeqCst) != failures {
                // A write-through failed meanwhile: our fill may hold the row
                // it replaced; delete it before Redis is read again.
                self.add_pending(id);
            }
        }
        Ok((Source::Sql, user))
    }

    async fn search(self: &Arc<Self>, query: Search) -> Result<(Source, Vec<User>), AppError> {
        let name = query.name.filter(|v| !v.is_empty());
        let email = query.email.filter(|v| !v.is_empty());
        let usable = self.config.levels != CacheLevels::None && self.redis_usable().await;
        if usable && self.migrated.load(Ordering::SeqCst) && indexable(&name) && indexable(&email) {
            let mut con = self.cache.connection();
            let marker = async {
                redis::cmd("EXISTS")
                    .arg(&self.marker_key)
                    .query_async::<i64>(&mut con)
                    .await
                    .map_err(redis_om::Error::from)
            };
            if let Ok(1) = self.redis("complete?", marker).await {
                let ns = self.config.namespace.as_str();
                let found = UserReadCache::find(|u| {
                    let mut e = u.ns.eq(ns) & u.deleted.eq(false);
                    if let Some(name) = &name {
                        e = e & u.name.eq(name.as_str());
                    }
                    if let Some(email) = &email {
                        e = e & u.email.eq(email.as_str());
                    }
                    e
                });
                match self.redis("search", found.all(&mut con)).await {
                    Ok(docs) => {
                        let mut users: Vec<User> =
                            docs.iter().filter_map(UserReadCache::user).collect();
                        users.sort_by_key(|u| u.id);
                        self.metrics.search_redis.fetch_add(1, Ordering::Relaxed);
                        return Ok((Source::Redis, users));
                    }
                    Err(CacheError::Other(
                        redis_om::Error::IndexMissing { .. }
                        | redis_om::Error::SchemaMismatch { .. },
                    )) => self.migrated.store(false, Ordering::SeqCst),
                    Err(_) => {}
                }
            }
        }
        let users = sqlx::query_as::<_, Row>(
            "SELECT id, name, email, version FROM users \
             WHERE (?1 IS NULL OR name = ?1 COLLATE NOCASE) \
               AND (?2 IS NULL OR email = ?2 COLLATE NOCASE) ORDER BY id",
        )
        .bind(name)
        .bind(email)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(user_of)
        .collect();
        self.metrics.search_sql.fetch_add(1, Ordering::Relaxed);
        if usable {
            self.spawn_warm();
        }
        Ok((Source::Sql, users))
    }

    fn spawn_warm(self: &Arc<Self>) {
        if self.warming.swap(true, Ordering::SeqCst) {
            return;
        }
        let service = Arc::clone(self);
        tokio::spawn(async move {
            match service.warm().await {
                Ok(rows) => info!(rows, "loaded the users table into Redis"),
                Err(err) => debug!(error = %err, "loading the users table into Redis failed"),
            }
            service.warming.store(false, Ordering::SeqCst);
        });
    }

    /// Loads every row into Redis, then sets the complete marker.
    async fn warm(self: &Arc<Self>) -> Result<usize, String> {
        if !self.migrated.load(Ordering::SeqCst) {
            self.migrate().await.map_err(|e| e.to_string())?;
        }
        let deadline = (self.config.redis_timeout * 10).max(Duration::from_secs(2));
        let ttl_ms = self.config.cache_ttl.as_millis() as u64;
        let failures = self.failures.load(Ordering::SeqCst);
        let mut con = self.cache.connection();
        // From now on creates write through (they check this key), so rows
        // created after our SQL read below are in Redis too.
        let announce = async {
            redis::cmd("SET")
                .arg(&self.warming_key)
                .arg(1)
                .arg("PX")
                .arg(60_000)
                .query_async::<()>(&mut con)
                .await
                .map_err(redis_om::Error::from)
        };
        self.redis("warm", announce)
            .await
            .map_err(|e| e.to_string())?;
        let rows: Vec<User> =
            sqlx::query_as::<_, Row>("SELECT id, name, email, version FROM users ORDER BY id")
                .fetch_all(&self.db)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(user_of)
                .collect();
        for chunk in rows.chunks(WARM_CHUNK) {
            let mut pipe = redis::pipe();
            for user in chunk {
                let mut doc = UserReadCache::of(&self.config.namespace, user, false);
                // Only if absent (an existing entry is current: writes go
                // through), but every entry gets the full TTL, so that none
                // expires before the marker.
                doc.save_in_with(
                    &mut pipe,
                    SaveOptions::new().only_if_new().ttl(self.config.cache_ttl),
                )
                .map_err(|e| e.to_string())?;
                pipe.cmd("PEXPIRE")
                    .arg(Self::key(user.id))
                    .arg(ttl_ms)
                    .ignore();
            }
            let write = async {
                pipe.query_async::<redis::Value>(&mut con)
                    .await
                    .map_err(redis_om::Error::from)
            };
            self.redis_within("warm", deadline, write)
                .await
                .map_err(|e| e.to_string())?;
        }
        if self.failures.load(Ordering::SeqCst) != failures || self.has_pending() {
            return Err("a write missed Redis during the load; not marked complete".to_owned());
        }
        let marker_ms = (ttl_ms - ttl_ms / 10).max(1);
        let mark = async {
            redis::cmd("SET")
                .arg(&self.marker_key)
                .arg(1)
                .arg("PX")
                .arg(marker_ms)
                .query_async::<()>(&mut con)
                .await
                .map_err(redis_om::Error::from)
        };
        self.redis("warm", mark).await.map_err(|e| e.to_string())?;
        if self.failures.load(Ordering::SeqCst) != failures {
            lock(&self.pending).marker = true;
        }
        self.metrics.warmups.fetch_add(1, Ordering::Relaxed);
        Ok(rows.len())
    }

    // --- writes -----------------------------------------------------------

    /// Saves `doc` in Redis (with the TTL) through the cache's connection,
    /// which also drops it from the L1. When that fails, the id is
    /// remembered: its entry is deleted before Redis is read again.
    async fn write_through(self: &Arc<Self>, id: i64, mut doc: UserReadCache) {
        if self.config.levels == CacheLevels::None {
            return;
        }
        let written = self.redis_up.load(Ordering::SeqCst) && {
            let mut con = self.cache.connection();
            let options = SaveOptions::new().ttl(self.config.cache_ttl);
            self.redis("write-through", doc.save_with(&mut con, options))
                .await
                .is_ok_and(|pk| pk.is_some())
        };
        if !written {
            self.failures.fetch_add(1, Ordering::SeqCst);
            self.add_pending(id);
            debug!(
                id,
                "write not applied to Redis; its entry will be deleted when Redis is back"
            );
        }
    }

    async fn create(self: &Arc<Self>, new: NewUser) -> Result<User, AppError> {
        validate(&new)?;
        let user = user_of(
            sqlx::query_as::<_, Row>(
                "INSERT INTO users (name, email, version) VALUES (?1, ?2, 1) \
                 RETURNING id, name, email, version",
            )
            .bind(&new.name)
            .bind(&new.email)
            .fetch_one(&self.db)
            .await?,
        );
        if self.config.levels != CacheLevels::None {
            // A new row matters to Redis only when the table is loaded there
            // (or being loaded): reads fill it on demand otherwise.
            let loaded = if self.redis_up.load(Ordering::SeqCst) {
                let mut con = self.cache.connection();
                let exists = async {
                    redis::cmd("EXISTS")
                        .arg(&self.marker_key)
                        .arg(&self.warming_key)
                        .query_async::<i64>(&mut con)
                        .await
                        .map_err(redis_om::Error::from)
                };
                Some(self.redis("create", exists).await)
            } else {
                None
            };
            match loaded {
                Some(Ok(0)) => {}
                Some(Ok(_)) => {
                    let doc = UserReadCache::of(&self.config.namespace, &user, false);
                    self.write_through(user.id, doc).await;
                }
                // Unknown: the id is replayed (which also drops the marker).
                _ => {
                    self.failures.fetch_add(1, Ordering::SeqCst);
                    self.add_pending(user.id);
                }
            }
        }
        debug!(id = user.id, "user created");
        Ok(user)
    }

    async fn update(self: &Arc<Self>, id: i64, new: NewUser) -> Result<User, AppError> {
        validate(&new)?;
        let _serial = self.lock_for(id).lock().await;
        let user = sqlx::query_as::<_, Row>(
            "UPDATE users SET name = ?2, email = ?3, version = version + 1 WHERE id = ?1 \
             RETURNING id, name, email, version",
        )
        .bind(id)
        .bind(&new.name)
        .bind(&new.email)
        .fetch_optional(&self.db)
        .await?
        .map(user_of)
        .ok_or(AppError::NotFound)?;
        // Write-through: overwrites whatever a reader filled before our
        // commit, and drops the L1 entry before we answer.
        let doc = UserReadCache::of(&self.config.namespace, &user, false);
        self.write_through(id, doc).await;
        debug!(id, version = user.version, "user updated");
        Ok(user)
    }

    async fn delete(self: &Arc<Self>, id: i64) -> Result<(), AppError> {
        let _serial = self.lock_for(id).lock().await;
        let user = sqlx::query_as::<_, Row>(
            "DELETE FROM users WHERE id = ?1 RETURNING id, name, email, version",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?
        .map(user_of)
        .ok_or(AppError::NotFound)?;
        // A tombstone, not a DEL: the classic cache-aside race is a reader
        // that read the row from SQL just before our delete and fills the
        // cache just after it. With the key deleted, its `only_if_new` fill
        // would succeed and bring the user back for a whole TTL; with a
        // tombstone in place (for the same TTL) the fill finds the key and
        // writes nothing, and reads answer 404.
        let doc = UserReadCache::of(&self.config.namespace, &user, true);
        self.write_through(id, doc).await;
        debug!(id, "user deleted");
        Ok(())
    }
}

/// Probes Redis during an outage until it is usable again.
async fn probe(service: Weak<Service>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        if service.recover().await {
            info!("Redis is back: caching resumed");
            service.probing.store(false, Ordering::SeqCst);
            // Marked down again meanwhile (its probe was not started, as
            // this one was running): go on probing.
            if service.redis_up.load(Ordering::SeqCst)
                || service.probing.swap(true, Ordering::SeqCst)
            {
                return;
            }
        }
    }
}

fn validate(new: &NewUser) -> Result<(), AppError> {
    if new.name.trim().is_empty() || new.email.trim().is_empty() {
        return Err(AppError::BadRequest(
            "name and email must not be empty".to_owned(),
        ));
    }
    Ok(())
}

// --- HTTP ------------------------------------------------------------------

/// An error answer.
#[derive(Debug)]
enum AppError {
    NotFound,
    BadRequest(String),
    Conflict(String),
    Internal(String),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                AppError::Conflict("a user with this email exists".to_owned())
            }
            _ => {
                warn!(error = %err, "SQL error");
                AppError::Internal(err.to_string())
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "not found".to_owned()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Conflict(m) => (StatusCode::CONFLICT, m),
            AppError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

type AppState = State<Arc<Service>>;

async fn get_user(State(svc): AppState, UrlPath(id): UrlPath<i64>) -> Result<Response, AppError> {
    let (source, user) = svc.read(id).await?;
    let header = [(X_CACHE, source.header())];
    Ok(match user {
        Some(user) => (header, Json(user)).into_response(),
        None => (header, AppError::NotFound).into_response(),
    })
}

async fn search_users(
    State(svc): AppState,
    Query(query): Query<Search>,
) -> Result<Response, AppError> {
    let (source, users) = svc.search(query).await?;
    Ok(([(X_CACHE, source.header())], Json(users)).into_response())
}

async fn create_user(State(svc): AppState, Json(new): Json<NewUser>) -> Result<Response, AppError> {
    let user = svc.create(new).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn update_user(
    State(svc): AppState,
    UrlPath(id): UrlPath<i64>,
    Json(new): Json<NewUser>,
) -> Result<Json<User>, AppError> {
    Ok(Json(svc.update(id, new).await?))
}

async fn delete_user(
    State(svc): AppState,
    UrlPath(id): UrlPath<i64>,
) -> Result<StatusCode, AppError> {
    svc.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn health(State(svc): AppState) -> Response {
    let sql = sqlx::query("SELECT 1").execute(&svc.db).await.is_ok();
    let redis = if svc.config.levels == CacheLevels::None {
        "disabled"
    } else if svc.redis_up.load(Ordering::SeqCst)
        && svc.redis("health", svc.cache.sync()).await.is_ok()
    {
        "ok"
    } else {
        "down"
    };
    let pending = lock(&svc.pending).ids.len();
    let degraded = !sql || redis == "down" || pending > 0;
    let status = if sql {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "sql": if sql { "ok" } else { "down" },
        "redis": redis,
        "degraded": degraded,
        "pending_replays": pending,
        "search_index": svc.migrated.load(Ordering::SeqCst),
        "levels": svc.config.levels.as_str(),
        "namespace": svc.config.namespace,
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(svc): AppState) -> Json<serde_json::Value> {
    let m = &svc.metrics;
    let stats = svc.cache.stats();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "levels": svc.config.levels.as_str(),
        "l1_hits": get(&m.l1_hits),
        "redis_hits": get(&m.redis_hits),
        "misses": get(&m.misses),
        "sql_fallbacks": get(&m.sql_fallbacks),
        "invalidations": stats.invalidations,
        "searches": { "redis": get(&m.search_redis), "sql": get(&m.search_sql) },
        "table_loads": get(&m.warmups),
        "outages": get(&m.outages),
        "replayed_ids": get(&m.replayed),
        "l1": {
            "hits": stats.hits, "misses": stats.misses, "fetches": stats.fetches,
            "invalidations": stats.invalidations, "resets": stats.resets, "entries": stats.entries,
        },
        "latency_ms": m.latencies(),
    }))
}

/// Records each answer's latency under its `x-cache` source.
async fn track_latency(State(svc): AppState, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(source) = response
        .headers()
        .get(X_CACHE)
        .and_then(|v| v.to_str().ok())
    {
        svc.metrics.record(source, started.elapsed());
    }
    response
}

#[derive(Default)]
struct Samples {
    micros: Vec<u32>,
    next: usize,
}

#[derive(Default)]
struct Metrics {
    l1_hits: AtomicU64,
    redis_hits: AtomicU64,
    misses: AtomicU64,
    sql_fallbacks: AtomicU64,
    search_redis: AtomicU64,
    search_sql: AtomicU64,
    warmups: AtomicU64,
    outages: AtomicU64,
    replayed: AtomicU64,
    latency: Mutex<HashMap<String, Samples>>,
}

impl Metrics {
    fn record(&self, source: &str, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        let mut all = lock(&self.latency);
        let samples = all.entry(source.to_owned()).or_default();
        if samples.micros.len() < SAMPLES {
            samples.micros.push(micros);
        } else {
            let at = samples.next % SAMPLES;
            samples.micros[at] = micros;
        }
        samples.next += 1;
    }

    fn latencies(&self) -> serde_json::Value {
        let all = lock(&self.latency);
        let mut out = serde_json::Map::new();
        for (source, samples) in all.iter() {
            let mut sorted = samples.micros.clone();
            sorted.sort_unstable();
            out.insert(
                source.clone(),
                serde_json::json!({
                    "count": samples.next,
                    "p50": percentile_ms(&sorted, 50.0),
                    "p99": percentile_ms(&sorted, 99.0),
                }),
            );
        }
        serde_json::Value::Object(out)
    }
}

/// The `p`th percentile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_micros: &[u32], p: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_micros.len() as f64).ceil() as usize;
    let at = rank.clamp(1, sorted_micros.len()) - 1;
    f64::from(sorted_micros[at]) / 1000.0
}
