//! The blocking API: the same operations on blocking connections
//! (`redis::Connection`, r2d2's pooled connections),
//! for worker threads and programs without an async runtime, as
//! `reqwest::blocking` is to reqwest.
//!
//! A module uses one of the two preludes: `redis_om::prelude` (async) or
//! `redis_om::blocking::prelude`. Both give the same method names (`save`,
//! `get`, `all`, …), so with both in scope a call is ambiguous (`E0034`); a
//! module that needs both names the trait: `SyncModel::save(&mut user, &mut con)`.
//!
//! ```no_run
//! use redis_om::blocking::prelude::*;
//!
//! #[derive(HashModel, Debug, PartialEq)]
//! struct User {
//!     pk: Option<String>,
//!     #[redis_om(index)]
//!     name: String,
//! }
//!
//! # fn run() -> redis_om::Result<()> {
//! let mut con = redis_om::blocking::connect(redis_om::url())?;
//! Migrator::new().model::<User>().run(&mut con)?;
//! let mut user = User { pk: None, name: "Ada".into() };
//! let pk = user.save(&mut con)?;
//! assert_eq!(User::get(&mut con, &pk)?, user);
//! let named_ada: Vec<User> = User::find(|u| u.name.eq("Ada")).all(&mut con)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use redis::{ConnectionLike, IntoConnectionInfo};

use crate::error::Result;
use crate::migrator::MigrationReport;
use crate::model::Model;

pub use crate::query::{QueryIter, SyncQuery};
pub use crate::scan::PkIter;
pub use crate::store::SyncModel;

/// The blocking operations: `use redis_om::blocking::prelude::*;` (the facade
/// crate adds the derive macros).
pub mod prelude {
    pub use super::{Migrator, SyncModel, SyncQuery};
    pub use crate::{Find, Model, Page, SaveOptions, SortOrder, SyncAggregate};
}

/// How long a connection from [`connect`] waits on its socket (a read or a
/// write) before the call fails with [`Error::Timeout`](crate::Error::Timeout)
/// (change it with `con.set_read_timeout`). Longer than the async API's
/// [`crate::RESPONSE_TIMEOUT`]: a blocking connection has no multiplexer to
/// keep responsive, and a thread that waits harms nobody else.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// The former name of [`SOCKET_TIMEOUT`].
#[deprecated(note = "renamed SOCKET_TIMEOUT: it is not the async API's RESPONSE_TIMEOUT")]
pub const RESPONSE_TIMEOUT: Duration = SOCKET_TIMEOUT;

/// A blocking connection to `target` (a URL such as [`crate::url()`], or a
/// `redis::ConnectionInfo`), with [`SOCKET_TIMEOUT`] on reads and writes so
/// that a server that stops answering cannot block forever; opened and
/// checked with a `PING` within [`CONNECTION_TIMEOUT`](crate::CONNECTION_TIMEOUT)
/// each, so that an unreachable server or a missing password fails here, fast.
///
/// # Errors
/// See [`crate::connect`].
pub fn connect(target: impl IntoConnectionInfo) -> Result<redis::Connection> {
    let client = crate::connect::client(target)?;
    // Opening and checking the connection gets the async API's connection
    // timeout, so that a server that accepts but never answers fails in
    // about a second here too; the longer response timeout is for commands.
    let mut con = client.get_connection_with_timeout(crate::CONNECTION_TIMEOUT)?;
    con.set_read_timeout(Some(crate::CONNECTION_TIMEOUT))?;
    con.set_write_timeout(Some(crate::CONNECTION_TIMEOUT))?;
    // As `connect`: a server that requires a password fails here, not at the first command.
    redis::cmd("PING")
        .query::<()>(&mut con)
        .map_err(crate::connect::refused)?;
    con.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    con.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    Ok(con)
}

/// A blocking connection to a Redis Cluster: [`crate::ClusterConnection`]
/// (every operation, search scattered and gathered where the cluster has no
/// search coordinator) driven by a runtime of its own, for threads without
/// one. Not for use inside an async runtime (its calls block the thread).
///
/// ```no_run
/// use redis_om::blocking::prelude::*;
/// # #[derive(HashModel)] struct User { pk: Option<String>, #[redis_om(index)] name: String }
/// # fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::blocking::connect_cluster(redis_om::cluster_urls())?;
/// Migrator::new().model::<User>().run(&mut con)?;
/// let n = User::find(|u| u.name.eq("Ada")).count(&mut con)?;
/// # Ok(()) }
/// ```
pub struct ClusterConnection {
    runtime: tokio::runtime::Runtime,
    inner: crate::ClusterConnection,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClusterConnection")
            .field(&self.inner)
            .finish()
    }
}

/// Connects to a cluster from its seed URLs; see [`crate::connect_cluster`].
///
/// # Errors
/// As [`crate::connect_cluster`].
pub fn connect_cluster<T: IntoConnectionInfo>(
    seeds: impl IntoIterator<Item = T>,
) -> Result<ClusterConnection> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::Config(format!("cannot start a runtime: {e}")))?;
    let inner = runtime.block_on(crate::connect_cluster(seeds))?;
    Ok(ClusterConnection { runtime, inner })
}

impl ClusterConnection {
    /// The async connection it drives.
    pub fn inner(&mut self) -> &mut crate::ClusterConnection {
        &mut self.inner
    }

    /// [`crate::ClusterConnection::drop_orphan_copies`], blocking.
    ///
    /// # Errors
    /// As the async method.
    pub fn drop_orphan_copies(&mut self) -> Result<u64> {
        self.runtime.block_on(self.inner.drop_orphan_copies())
    }
}

/// A runtime that runs a request to its end for a blocking connection.
pub(crate) trait Drive {
    fn drive<T: Send>(
        &self,
        request: impl std::future::Future<Output = redis::RedisResult<T>> + Send,
    ) -> redis::RedisResult<T>;
}

impl Drive for tokio::runtime::Runtime {
    fn drive<T: Send>(
        &self,
        request: impl std::future::Future<Output = redis::RedisResult<T>> + Send,
    ) -> redis::RedisResult<T> {
        self.block_on(request)
    }
}

/// The blocking `ConnectionLike` of a type with an async connection `inner`
/// and a runtime `runtime` to drive it: each request is unpacked into
/// commands and run on `inner` under `runtime.block_on`.
macro_rules! blocking_connection_like {
    ([$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> ::redis::ConnectionLike for $ty {
            fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
                let mut cmds = $crate::blocking::unpack(cmd)?;
                match cmds.pop() {
                    Some(cmd) if cmds.is_empty() => self.req_command(&cmd),
                    _ => Err(redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "not one command",
                    ))),
                }
            }

            fn req_command(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
                let inner = &mut self.inner;
                $crate::blocking::Drive::drive(
                    &self.runtime,
                    redis::aio::ConnectionLike::req_packed_command(inner, cmd),
                )
            }

            fn req_packed_commands(
                &mut self,
                cmd: &[u8],
                offset: usize,
                count: usize,
            ) -> redis::RedisResult<Vec<redis::Value>> {
                let mut pipe = redis::pipe();
                for c in $crate::blocking::unpack(cmd)? {
                    pipe.add_command(c);
                }
                let inner = &mut self.inner;
                $crate::blocking::Drive::drive(
                    &self.runtime,
                    redis::aio::ConnectionLike::req_packed_commands(inner, &pipe, offset, count),
                )
            }

            fn get_db(&self) -> i64 {
                redis::aio::ConnectionLike::get_db(&self.inner)
            }

            fn check_connection(&mut self) -> bool {
                self.req_command(&redis::cmd("PING")).is_ok()
            }

            fn is_open(&self) -> bool {
                true
            }
        }
    };
}

blocking_connection_like!([] ClusterConnection);

/// The commands of a packed request (RESP arrays of bulk strings).
pub(crate) fn unpack(mut bytes: &[u8]) -> redis::RedisResult<Vec<redis::Cmd>> {
    let bad = || redis::RedisError::from((redis::ErrorKind::Client, "a malformed request"));
    fn line<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
        let end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let (head, rest) = bytes.split_at(end);
        *bytes = &rest[2..];
        Some(head)
    }
    let number = |l: &[u8]| -> Option<usize> { std::str::from_utf8(l).ok()?.parse().ok() };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head = line(&mut bytes).ok_or_else(bad)?;
        let n = head.strip_prefix(b"*").and_then(number).ok_or_else(bad)?;
        let mut args: Vec<&[u8]> = Vec::with_capacity(n);
        for _ in 0..n {
            let len = line(&mut bytes)
                .and_then(|l| l.strip_prefix(b"$"))
                .and_then(number)
                .ok_or_else(bad)?;
            if bytes.len() < len + 2 {
                return Err(bad());
            }
            args.push(&bytes[..len]);
            bytes = &bytes[len + 2..];
        }
        let (name, rest) = args.split_first().ok_or_else(bad)?;
        let mut cmd = redis::cmd(std::str::from_utf8(name).map_err(|_| bad())?);
        for a in rest {
            cmd.arg(*a);
        }
        out.push(cmd);
    }
    Ok(out)
}

/// [`crate::Migrator`] on blocking connections: the same settings, with
/// [`run`](Self::run) and [`dry_run`](Self::dry_run) that block.
///
/// ```no_run
/// use redis_om::blocking::prelude::*;
/// # #[derive(HashModel)] struct User { pk: Option<String>, #[redis_om(index)] name: String }
/// # fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::blocking::connect(redis_om::url())?;
/// println!("{}", Migrator::new().model::<User>().run(&mut con)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use = "a Migrator does nothing until `run` (or `dry_run`) is called"]
pub struct Migrator(crate::Migrator);

impl Migrator {
    /// A migrator with no models.
    pub fn new() -> Self {
        Migrator(crate::Migrator::new())
    }

    /// See [`crate::Migrator::model`].
    pub fn model<M: Model>(self) -> Self {
        Migrator(self.0.model::<M>())
    }

    /// See [`crate::Migrator::indexing_timeout`].
    pub fn indexing_timeout(self, timeout: Duration) -> Self {
        Migrator(self.0.indexing_timeout(timeout))
    }

    /// See [`crate::Migrator::allow_downgrade`].
    pub fn allow_downgrade(self) -> Self {
        Migrator(self.0.allow_downgrade())
    }

    /// See [`crate::Migrator::replace_foreign`].
    pub fn replace_foreign(self) -> Self {
        Migrator(self.0.replace_foreign())
    }

    /// See [`crate::Migrator::run`].
    ///
    /// # Errors
    /// See [`crate::Migrator::run`].
    pub fn run<C: ConnectionLike>(&self, con: &mut C) -> Result<MigrationReport> {
        self.0.run_sync(con)
    }

    /// See [`crate::Migrator::dry_run`].
    ///
    /// # Errors
    /// See [`crate::Migrator::run`].
    pub fn dry_run<C: ConnectionLike>(&self, con: &mut C) -> Result<MigrationReport> {
        self.0.dry_run_sync(con)
    }
}

impl From<crate::Migrator> for Migrator {
    fn from(migrator: crate::Migrator) -> Self {
        Migrator(migrator)
    }
}

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use self::cache::{CachedConnection, ModelCache};

#[cfg(feature = "cache")]
mod cache {
    use std::sync::Arc;

    use redis::IntoConnectionInfo;

    use crate::cache::{CacheConfig, CacheStats, Local};
    use crate::error::Result;
    use crate::model::Model;
    use crate::pk::PkArg;

    /// The blocking [`crate::cache::ModelCache`], for threads without an async
    /// runtime. Its connection runs on a runtime of its own (one worker
    /// thread), so that invalidations are applied while your threads do other
    /// work; a hit does not enter that runtime. Not for use inside an async
    /// runtime (its calls block the thread). Clone it freely.
    ///
    /// ```no_run
    /// use redis_om::blocking::prelude::*;
    /// use redis_om::cache::CacheConfig;
    /// # #[derive(HashModel)] struct User { pk: Option<String>, name: String }
    /// # fn run() -> redis_om::Result<()> {
    /// let users = redis_om::blocking::ModelCache::<User>::connect(redis_om::url(), CacheConfig::new())?;
    /// let mut con = users.connection();
    /// let pk = User { pk: None, name: "Ada".into() }.save(&mut con)?;
    /// assert_eq!(users.get(&pk)?.map(|u| u.name.clone()).as_deref(), Some("Ada"));
    /// # Ok(()) }
    /// ```
    pub struct ModelCache<M> {
        inner: crate::cache::ModelCache<M>,
        runtime: Arc<OwnRuntime>,
    }

    /// The cache's runtime. Dropped without waiting for its tasks, so that
    /// dropping the last handle inside an async runtime does not panic.
    struct OwnRuntime(Option<tokio::runtime::Runtime>);

    impl OwnRuntime {
        fn start() -> Result<Self> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("redis-om-cache")
                .enable_all()
                .build()
                .map_err(|e| crate::Error::Config(format!("cannot start a runtime: {e}")))?;
            Ok(OwnRuntime(Some(runtime)))
        }

        /// Runs `future` to its end on this runtime, blocking the calling
        /// thread, whichever thread it is. On a thread of an async runtime (a
        /// worker, or one of `spawn_blocking`'s), where tokio refuses a
        /// nested `block_on`, the future runs on a short-lived thread of its
        /// own: a miss then works as it does elsewhere, not only the hits.
        fn block_on<F>(&self, future: F) -> Result<F::Output>
        where
            F: std::future::Future + Send,
            F::Output: Send,
        {
            let runtime = self.0.as_ref().expect("taken only on drop");
            if tokio::runtime::Handle::try_current().is_err() {
                return Ok(runtime.block_on(future));
            }
            std::thread::scope(
                |scope| match scope.spawn(|| runtime.block_on(future)).join() {
                    Ok(output) => Ok(output),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
            )
        }
    }

    impl super::Drive for Arc<OwnRuntime> {
        fn drive<T: Send>(
            &self,
            request: impl std::future::Future<Output = redis::RedisResult<T>> + Send,
        ) -> redis::RedisResult<T> {
            self.block_on(request).map_err(|err| {
                redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "redis-om cache",
                    err.to_string(),
                ))
            })?
        }
    }

    impl Drop for OwnRuntime {
        fn drop(&mut self) {
            if let Some(runtime) = self.0.take() {
                runtime.shutdown_background();
            }
        }
    }

    impl<M> Clone for ModelCache<M> {
        fn clone(&self) -> Self {
            ModelCache {
                inner: self.inner.clone(),
                runtime: Arc::clone(&self.runtime),
            }
        }
    }

    impl<M> std::fmt::Debug for ModelCache<M> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("ModelCache").field(&self.inner).finish()
        }
    }

    impl<M: Model + 'static> ModelCache<M> {
        /// See [`crate::cache::ModelCache::connect`].
        ///
        /// # Errors
        /// As there; [`Error::Config`](crate::Error::Config) when the
        /// runtime cannot start. Works on any thread (inside an async
        /// runtime too, blocking that thread, as every call of this type).
        pub fn connect(target: impl IntoConnectionInfo, config: CacheConfig) -> Result<Self> {
            let info = crate::connect::client(target)?
                .get_connection_info()
                .clone();
            let runtime = OwnRuntime::start()?;
            let inner = runtime.block_on(crate::cache::ModelCache::connect(info, config))??;
            Ok(ModelCache {
                inner,
                runtime: Arc::new(runtime),
            })
        }

        /// See [`crate::cache::ModelCache::new`]: connects on the first read,
        /// for a program that must start while Redis is down.
        ///
        /// # Errors
        /// A URL that is not valid, or a runtime that cannot start.
        pub fn new(target: impl IntoConnectionInfo, config: CacheConfig) -> Result<Self> {
            Ok(ModelCache {
                inner: crate::cache::ModelCache::new(target, config)?,
                runtime: Arc::new(OwnRuntime::start()?),
            })
        }

        /// See [`crate::cache::ModelCache::get`].
        ///
        /// # Errors
        /// As there.
        pub fn get(&self, pk: impl PkArg) -> Result<Option<Arc<M>>> {
            match self.inner.get_local(&pk)? {
                Local::Hit(found) => Ok(found),
                Local::Miss => {
                    let pk = pk.pk_part().map(std::borrow::Cow::into_owned);
                    self.runtime.block_on(self.inner.get(pk))?
                }
            }
        }

        /// See [`crate::cache::ModelCache::get_local`].
        ///
        /// # Errors
        /// As there.
        pub fn get_local(&self, pk: impl PkArg) -> Result<Local<M>> {
            self.inner.get_local(pk)
        }

        /// See [`crate::cache::ModelCache::get_many`].
        ///
        /// # Errors
        /// As there.
        pub fn get_many<P: PkArg>(
            &self,
            pks: impl IntoIterator<Item = P>,
        ) -> Result<Vec<Option<Arc<M>>>> {
            let pks: Vec<Option<String>> = pks
                .into_iter()
                .map(|pk| pk.pk_part().map(std::borrow::Cow::into_owned))
                .collect();
            self.runtime.block_on(self.inner.get_many(pks))?
        }

        /// A blocking connection whose writes the cache reads back at once;
        /// see [`crate::cache::ModelCache::connection`].
        pub fn connection(&self) -> CachedConnection<M> {
            CachedConnection {
                inner: self.inner.connection(),
                runtime: Arc::clone(&self.runtime),
            }
        }

        /// See [`crate::cache::ModelCache::invalidate`].
        ///
        /// # Errors
        /// As there.
        pub fn invalidate(&self, pk: impl PkArg) -> Result<()> {
            self.inner.invalidate(pk)
        }

        /// See [`crate::cache::ModelCache::clear`].
        pub fn clear(&self) {
            self.inner.clear();
        }

        /// See [`crate::cache::ModelCache::sync`].
        ///
        /// # Errors
        /// As there.
        pub fn sync(&self) -> Result<()> {
            self.runtime.block_on(self.inner.sync())?
        }

        /// See [`crate::cache::ModelCache::stats`].
        pub fn stats(&self) -> CacheStats {
            self.inner.stats()
        }

        /// See [`crate::cache::ModelCache::is_connected`].
        pub fn is_connected(&self) -> bool {
            self.inner.is_connected()
        }
    }

    /// The blocking [`crate::cache::CachedConnection`]: a `redis::ConnectionLike`
    /// for writes that the cache must read back at once.
    pub struct CachedConnection<M> {
        inner: crate::cache::CachedConnection<M>,
        runtime: Arc<OwnRuntime>,
    }

    impl<M> std::fmt::Debug for CachedConnection<M> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("CachedConnection")
                .field(&self.inner)
                .finish()
        }
    }

    blocking_connection_like!([M: Model + 'static] CachedConnection<M>);
}
