//! The operations on models: [`AsyncModel`] and [`SyncModel`] (re-exported in
//! [`crate::blocking`]), with the same method names; import the one you use.

use std::future::Future;
use std::time::Duration;

use futures_util::Stream;
use redis::{aio, ConnectionLike, Value};

use crate::error::Result;
use crate::model::{Model, SaveOptions};
use crate::ops;
use crate::pk::PkArg;
use crate::scan::{PkIter, PkScan};

/// Async operations on a [`Model`], on any `redis::aio::ConnectionLike`
/// (`MultiplexedConnection`, `ConnectionManager`, bb8 or deadpool pooled connections).
///
/// ```no_run
/// use redis_om::prelude::*;
///
/// #[derive(HashModel, Debug, PartialEq)]
/// struct User {
///     pk: Option<String>,
///     name: String,
/// }
///
/// # async fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::connect(redis_om::url()).await?;
/// let mut user = User { pk: None, name: "Ada".into() };
/// let pk = user.save(&mut con).await?;
/// assert_eq!(User::get(&mut con, &pk).await?, user);
/// # Ok(()) }
/// ```
pub trait AsyncModel: Model {
    /// Saves the document in one round trip, generating the primary key first
    /// when it is empty; returns the primary key. Fields that are `None` are
    /// not written, and removed if an earlier save wrote them.
    fn save<C>(&mut self, con: &mut C) -> impl Future<Output = Result<String>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        // An unconditional save always writes.
        let saved = self.save_with(con, SaveOptions::new());
        async move { Ok(saved.await?.unwrap_or_default()) }
    }

    /// Saves with a condition and/or a TTL, atomically and in one round trip.
    /// Returns the primary key, or `None` when the condition kept the document from being written.
    fn save_with<C>(
        &mut self,
        con: &mut C,
        options: SaveOptions,
    ) -> impl Future<Output = Result<Option<String>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move {
            let result = match Self::VERSION_FIELD {
                None => match ops::save(self, options)? {
                    Some(op) => op.run_async(con).await,
                    None => Ok(None),
                },
                Some(field) => {
                    let loaded = self.version();
                    let result = match ops::versioned_save(self, field, options) {
                        Ok(Some(op)) => op.run_async(con).await,
                        Ok(None) => Ok(None),
                        Err(err) => Err(err),
                    };
                    settle(self, loaded, &result);
                    result
                }
            };
            if let (Ok(Some(pk)), Some((replicas, timeout))) = (&result, options.replicas) {
                let reply =
                    ops::wait_replicas(&mut crate::exec::AsyncExec(&mut *con), replicas, timeout)
                        .await;
                ops::waited(reply, Self::key_layout().key(pk), replicas, timeout)?;
            }
            result
        }
    }

    /// Saves many documents, pipelined in round trips of at most 1,000
    /// documents and about 4 MiB, generating empty primary keys first;
    /// returns the pks in order. Each document is written as by
    /// [`save`](AsyncModel::save) (atomically on its own); the batch is not a
    /// transaction. When some fail, the others are still written and
    /// [`Error::BulkWrite`](crate::Error::BulkWrite) lists the ones that were
    /// not, each with its [`FailureKind`](crate::FailureKind): refused by the
    /// server, not confirmed (its round trip's reply was lost: it may have
    /// been written), or not sent (a round trip before it failed).
    fn save_all<C>(
        con: &mut C,
        models: &mut [Self],
    ) -> impl Future<Output = Result<Vec<String>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { crate::bulk::save_all(&mut crate::exec::AsyncExec(con), models).await }
    }

    /// Deletes the documents with these primary keys, pipelined 1,000 per
    /// round trip; returns how many existed. An empty key is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) before
    /// anything is sent. Not a transaction: after a connection failure the
    /// earlier round trips are applied. On a cluster, a round trip that
    /// redis-rs sends again after a dropped connection counts the keys its
    /// first attempt deleted as absent: the count is then a lower bound.
    fn delete_many<C, P>(
        con: &mut C,
        pks: impl IntoIterator<Item = P> + Send,
    ) -> impl Future<Output = Result<u64>> + Send
    where
        C: aio::ConnectionLike + Send,
        P: PkArg,
    {
        let keys = keys_of::<Self, P>(pks);
        async move {
            crate::bulk::delete_many(&mut crate::exec::AsyncExec(con), &keys?, Self::STORAGE).await
        }
    }

    /// Adds this document's write to a pipeline you own and run yourself
    /// (atomic or not), with other models' writes and any other commands,
    /// as redis-om-python's `save(pipeline=…)`: the primary key is generated
    /// now and returned; the pipeline's replies for it are ignored. The
    /// model's `ttl_secs` and `expire_secs` apply as in `save`. Writes on a
    /// model with a `#[redis_om(version)]` field need the check on the server
    /// that only [`save`](AsyncModel::save) does, and are refused here.
    ///
    /// ```no_run
    /// use redis_om::prelude::*;
    /// # #[derive(HashModel)] struct User { pk: Option<String>, name: String }
    /// # #[derive(HashModel)] struct Order { pk: Option<String>, total: f64 }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let mut user = User { pk: None, name: "Ada".into() };
    /// let mut order = Order { pk: None, total: 9.5 };
    /// let mut pipe = redis_om::redis::pipe();
    /// pipe.atomic();
    /// user.save_in(&mut pipe)?;
    /// order.save_in(&mut pipe)?;
    /// Order::delete_in(&mut pipe, "01J-old-order")?;
    /// pipe.query_async::<()>(&mut con).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode) for a value that cannot be
    /// stored, [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a
    /// primary key that cannot be generated.
    fn save_in(&mut self, pipe: &mut redis::Pipeline) -> Result<String> {
        Ok(ops::save_in_with(self, pipe, SaveOptions::new())?.unwrap_or_default())
    }

    /// [`save_in`](AsyncModel::save_in) with a condition and/or a TTL
    /// ([`SaveOptions`]), atomic for this document on the server (one call
    /// of the save script, for hash and JSON models alike). With a
    /// condition, the pipeline's reply for this document is `1` (written) or
    /// `0` (the condition failed), in its place among the replies the caller
    /// did not ignore; without one, nothing. `None`: nothing was added
    /// (`only_if_exists` on a model without a primary key).
    ///
    /// ```no_run
    /// use redis_om::prelude::*;
    /// # #[derive(HashModel)] struct User { pk: Option<String>, name: String }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let (mut a, mut b) = (User { pk: None, name: "Ada".into() }, User { pk: None, name: "Bo".into() });
    /// let mut pipe = redis_om::redis::pipe();
    /// pipe.atomic();
    /// a.save_in_with(&mut pipe, SaveOptions::new().only_if_new())?;
    /// b.save_in_with(&mut pipe, SaveOptions::new().only_if_new())?;
    /// let (wrote_a, wrote_b): (bool, bool) = pipe.query_async(&mut con).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`save_in`](AsyncModel::save_in); `only_if_new` with
    /// `only_if_exists`, or `ttl` with `persist`, is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    fn save_in_with(
        &mut self,
        pipe: &mut redis::Pipeline,
        options: SaveOptions,
    ) -> Result<Option<String>> {
        ops::save_in_with(self, pipe, options)
    }

    /// Adds the delete of the document with primary key `pk` to a pipeline you
    /// own (see [`save_in`](AsyncModel::save_in)).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty key.
    fn delete_in(pipe: &mut redis::Pipeline, pk: impl PkArg) -> Result<()> {
        ops::delete_in::<Self>(&required::<Self>(&pk)?, pipe);
        Ok(())
    }

    /// The documents with these primary keys, in order, `None` where there is
    /// none; pipelined in round trips of at most 1,000 documents and about
    /// 4 MiB (sized from the replies so far). When some cannot be read (a key of
    /// another Redis type, a document that does not decode), the error is
    /// [`Error::BulkRead`](crate::Error::BulkRead) listing each with its key
    /// and why; [`get_many_each`](AsyncModel::get_many_each) keeps the others.
    fn get_many<C, P>(
        con: &mut C,
        pks: impl IntoIterator<Item = P> + Send,
    ) -> impl Future<Output = Result<Vec<Option<Self>>>> + Send
    where
        C: aio::ConnectionLike + Send,
        P: PkArg,
    {
        let keys = keys_of::<Self, P>(pks);
        async move { crate::bulk::get_many(&mut crate::exec::AsyncExec(con), keys?).await }
    }

    /// Like [`get_many`](AsyncModel::get_many), with each document's own
    /// result: a key of another Redis type or a document that does not decode
    /// is an `Err` naming its key, and the other documents are still returned.
    fn get_many_each<C, P>(
        con: &mut C,
        pks: impl IntoIterator<Item = P> + Send,
    ) -> impl Future<Output = Result<Vec<Result<Option<Self>>>>> + Send
    where
        C: aio::ConnectionLike + Send,
        P: PkArg,
    {
        let keys = keys_of::<Self, P>(pks);
        async move { crate::bulk::get_many_each(&mut crate::exec::AsyncExec(con), &keys?).await }
    }

    /// The document with primary key `pk`, or [`Error::NotFound`](crate::Error::NotFound)
    /// (see [`get_optional`](AsyncModel::get_optional) for a cache lookup).
    /// `pk` is a [`PkArg`]: `&str`, `String`, a `Uuid`, an integer or the
    /// model's own key field (`&user.pk`); an empty one is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    fn get<C>(con: &mut C, pk: impl PkArg) -> impl Future<Output = Result<Self>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).map(|pk| ops::get::<Self>(&pk));
        async move { op?.run_async(con).await }
    }

    /// Reads this document again from Redis (by its primary key), replacing
    /// every field: redis-om-python's `reload`. [`Error::NotFound`](crate::Error::NotFound)
    /// when it is gone; an unsaved model (empty key) is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    fn reload<C>(&mut self, con: &mut C) -> impl Future<Output = Result<()>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&self.primary_key()).map(|pk| ops::get::<Self>(&pk));
        async move {
            *self = op?.run_async(con).await?;
            Ok(())
        }
    }

    /// The document with primary key `pk`, or `None` when there is none (a
    /// cache miss is not an error here).
    fn get_optional<C>(
        con: &mut C,
        pk: impl PkArg,
    ) -> impl Future<Output = Result<Option<Self>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).map(|pk| ops::get::<Self>(&pk));
        async move { optional(op?.run_async(con).await) }
    }

    /// Deletes the document; returns whether it existed.
    fn delete<C>(con: &mut C, pk: impl PkArg) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).map(|pk| ops::delete::<Self>(&pk));
        async move { op?.run_async(con).await }
    }

    /// Deletes this document (by its primary key): redis-om-python's
    /// `instance.delete()`. Returns whether it existed; an unsaved model
    /// (empty key) is [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    fn remove<C>(&self, con: &mut C) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&self.primary_key()).map(|pk| ops::delete::<Self>(&pk));
        async move { op?.run_async(con).await }
    }

    /// Sets chosen fields of the stored document with primary key `pk`,
    /// without reading or rewriting the others: `patch` gets the model's
    /// setters, one per stored field, typed (`|u| u.name.set("Ada") &
    /// u.age.set(37)`). One Lua call on the server: applied only if the
    /// document exists (never creating a partial one), all fields at once,
    /// its TTL kept; on a model with a `#[redis_om(version)]` field the
    /// version is incremented too. Returns whether the document existed.
    ///
    /// ```no_run
    /// use redis_om::prelude::*;
    /// # #[derive(HashModel)] struct User { pk: Option<String>, name: String, age: u32, nick: Option<String> }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let applied = User::update(&mut con, "01J", |u| u.name.set("Ada") & u.nick.set(None)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode) for a value that cannot be
    /// stored, [`Error::Conflict`](crate::Error::Conflict) when the patch has
    /// [`if_version`](crate::Patch::if_version) and another version is stored.
    fn update<C>(
        con: &mut C,
        pk: impl PkArg,
        patch: impl FnOnce(&Self::Setters) -> crate::Patch<Self>,
    ) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk)
            .and_then(|pk| crate::update::update::<Self>(&pk, &patch(&Self::setters())));
        async move { op?.run_async(con).await }
    }

    /// Whether a document with primary key `pk` exists.
    fn exists<C>(con: &mut C, pk: impl PkArg) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).map(|pk| ops::exists::<Self>(&pk));
        async move { op?.run_async(con).await }
    }

    /// Makes the document expire after `ttl`; returns whether it existed.
    fn expire<C>(
        con: &mut C,
        pk: impl PkArg,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).and_then(|pk| ops::expire::<Self>(&pk, ttl));
        async move { op?.run_async(con).await }
    }

    /// Makes this document expire after `ttl` (by its primary key):
    /// redis-om-python's `instance.expire(seconds)`. Returns whether it existed.
    fn expire_in<C>(&self, con: &mut C, ttl: Duration) -> impl Future<Output = Result<bool>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&self.primary_key()).and_then(|pk| ops::expire::<Self>(&pk, ttl));
        async move { op?.run_async(con).await }
    }

    /// The remaining time to live: `None` when the document does not expire,
    /// [`Error::NotFound`](crate::Error::NotFound) when it does not exist.
    fn ttl<C>(con: &mut C, pk: impl PkArg) -> impl Future<Output = Result<Option<Duration>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = required::<Self>(&pk).map(|pk| ops::ttl::<Self>(&pk));
        async move { op?.run_async(con).await }
    }

    /// The state of the model's search index (`FT.INFO`): how many documents
    /// it holds and how many the server refused to index (they are stored but
    /// `find` does not see them), with the last refused key and why.
    /// [`Error::IndexMissing`](crate::Error::IndexMissing) before the migrator ran.
    fn index_status<C>(con: &mut C) -> impl Future<Output = Result<crate::IndexStatus>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let op = crate::status::index_status::<Self>();
        async move {
            op.run_async(con)
                .await
                .map_err(crate::status::missing::<Self>)
        }
    }

    /// Every primary key of the model, scanned in batches (`SCAN MATCH prefix* TYPE …`).
    ///
    /// ```no_run
    /// # use redis_om::prelude::*;
    /// # #[derive(HashModel)] struct User { pk: String }
    /// use futures_util::TryStreamExt;
    /// # async fn run(con: &mut redis::aio::ConnectionManager) -> redis_om::Result<()> {
    /// let pks: Vec<String> = User::all_pks(con).try_collect().await?;
    /// # Ok(()) }
    /// ```
    fn all_pks<C>(con: &mut C) -> impl Stream<Item = Result<String>> + Send + Unpin + '_
    where
        C: aio::ConnectionLike + Send,
    {
        // Boxed, so that the stream is `Unpin`: `.next()` works without pinning.
        Box::pin(futures_util::stream::unfold(
            (con, PkScan::new::<Self>()),
            |(con, mut scan)| async move {
                loop {
                    if let Some(item) = scan.pop() {
                        return Some((item, (con, scan)));
                    }
                    let cmd = scan.next_cmd()?;
                    let fed = match cmd.query_async::<Value>(con).await {
                        Ok(reply) => scan.feed(reply),
                        Err(err) => Err(crate::Error::from_redis(err)),
                    };
                    if let Err(err) = fed {
                        scan.finish();
                        return Some((Err(err), (con, scan)));
                    }
                }
            },
        ))
    }
}

impl<M: Model> AsyncModel for M {}

/// Blocking operations on a [`Model`], on any `redis::ConnectionLike`
/// (`redis::Connection`, r2d2 pooled connections). Same methods as [`AsyncModel`].
///
/// ```no_run
/// use redis_om::blocking::prelude::*;
///
/// #[derive(HashModel, Debug, PartialEq)]
/// struct User {
///     pk: Option<String>,
///     name: String,
/// }
///
/// # fn run() -> redis_om::Result<()> {
/// let mut con = redis_om::blocking::connect(redis_om::url())?;
/// let mut user = User { pk: None, name: "Ada".into() };
/// let pk = user.save(&mut con)?;
/// assert_eq!(User::get(&mut con, &pk)?, user);
/// # Ok(()) }
/// ```
pub trait SyncModel: Model {
    /// See [`AsyncModel::save`].
    fn save<C: ConnectionLike>(&mut self, con: &mut C) -> Result<String> {
        Ok(self.save_with(con, SaveOptions::new())?.unwrap_or_default())
    }

    /// See [`AsyncModel::save_with`].
    fn save_with<C: ConnectionLike>(
        &mut self,
        con: &mut C,
        options: SaveOptions,
    ) -> Result<Option<String>> {
        let result = match Self::VERSION_FIELD {
            None => match ops::save(self, options)? {
                Some(op) => op.run_sync(con),
                None => Ok(None),
            },
            Some(field) => {
                let loaded = self.version();
                let result = match ops::versioned_save(self, field, options) {
                    Ok(Some(op)) => op.run_sync(con),
                    Ok(None) => Ok(None),
                    Err(err) => Err(err),
                };
                settle(self, loaded, &result);
                result
            }
        };
        if let (Ok(Some(pk)), Some((replicas, timeout))) = (&result, options.replicas) {
            let reply = crate::exec::block_on(ops::wait_replicas(
                &mut crate::exec::SyncExec(&mut *con),
                replicas,
                timeout,
            ));
            ops::waited(reply, Self::key_layout().key(pk), replicas, timeout)?;
        }
        result
    }

    /// See [`AsyncModel::save_all`].
    fn save_all<C: ConnectionLike>(con: &mut C, models: &mut [Self]) -> Result<Vec<String>> {
        crate::exec::block_on(crate::bulk::save_all(
            &mut crate::exec::SyncExec(con),
            models,
        ))
    }

    /// See [`AsyncModel::delete_many`].
    fn delete_many<C: ConnectionLike, P: PkArg>(
        con: &mut C,
        pks: impl IntoIterator<Item = P>,
    ) -> Result<u64> {
        let keys = keys_of::<Self, P>(pks)?;
        crate::exec::block_on(crate::bulk::delete_many(
            &mut crate::exec::SyncExec(con),
            &keys,
            Self::STORAGE,
        ))
    }

    /// See [`AsyncModel::save_in`].
    fn save_in(&mut self, pipe: &mut redis::Pipeline) -> Result<String> {
        Ok(ops::save_in_with(self, pipe, SaveOptions::new())?.unwrap_or_default())
    }

    /// See [`AsyncModel::save_in_with`].
    fn save_in_with(
        &mut self,
        pipe: &mut redis::Pipeline,
        options: SaveOptions,
    ) -> Result<Option<String>> {
        ops::save_in_with(self, pipe, options)
    }

    /// See [`AsyncModel::delete_in`].
    fn delete_in(pipe: &mut redis::Pipeline, pk: impl PkArg) -> Result<()> {
        ops::delete_in::<Self>(&required::<Self>(&pk)?, pipe);
        Ok(())
    }

    /// See [`AsyncModel::get_many`].
    fn get_many<C: ConnectionLike, P: PkArg>(
        con: &mut C,
        pks: impl IntoIterator<Item = P>,
    ) -> Result<Vec<Option<Self>>> {
        let keys = keys_of::<Self, P>(pks)?;
        crate::exec::block_on(crate::bulk::get_many(&mut crate::exec::SyncExec(con), keys))
    }

    /// See [`AsyncModel::get_many_each`].
    fn get_many_each<C: ConnectionLike, P: PkArg>(
        con: &mut C,
        pks: impl IntoIterator<Item = P>,
    ) -> Result<Vec<Result<Option<Self>>>> {
        let keys = keys_of::<Self, P>(pks)?;
        crate::exec::block_on(crate::bulk::get_many_each(
            &mut crate::exec::SyncExec(con),
            &keys,
        ))
    }

    /// See [`AsyncModel::get`].
    fn get<C: ConnectionLike>(con: &mut C, pk: impl PkArg) -> Result<Self> {
        ops::get::<Self>(&required::<Self>(&pk)?).run_sync(con)
    }

    /// See [`AsyncModel::reload`].
    fn reload<C: ConnectionLike>(&mut self, con: &mut C) -> Result<()> {
        *self = ops::get::<Self>(&required::<Self>(&self.primary_key())?).run_sync(con)?;
        Ok(())
    }

    /// See [`AsyncModel::get_optional`].
    fn get_optional<C: ConnectionLike>(con: &mut C, pk: impl PkArg) -> Result<Option<Self>> {
        optional(ops::get::<Self>(&required::<Self>(&pk)?).run_sync(con))
    }

    /// See [`AsyncModel::delete`].
    fn delete<C: ConnectionLike>(con: &mut C, pk: impl PkArg) -> Result<bool> {
        ops::delete::<Self>(&required::<Self>(&pk)?).run_sync(con)
    }

    /// See [`AsyncModel::remove`].
    fn remove<C: ConnectionLike>(&self, con: &mut C) -> Result<bool> {
        ops::delete::<Self>(&required::<Self>(&self.primary_key())?).run_sync(con)
    }

    /// See [`AsyncModel::update`].
    fn update<C: ConnectionLike>(
        con: &mut C,
        pk: impl PkArg,
        patch: impl FnOnce(&Self::Setters) -> crate::Patch<Self>,
    ) -> Result<bool> {
        crate::update::update::<Self>(&required::<Self>(&pk)?, &patch(&Self::setters()))?
            .run_sync(con)
    }

    /// See [`AsyncModel::exists`].
    fn exists<C: ConnectionLike>(con: &mut C, pk: impl PkArg) -> Result<bool> {
        ops::exists::<Self>(&required::<Self>(&pk)?).run_sync(con)
    }

    /// See [`AsyncModel::expire`].
    fn expire<C: ConnectionLike>(con: &mut C, pk: impl PkArg, ttl: Duration) -> Result<bool> {
        ops::expire::<Self>(&required::<Self>(&pk)?, ttl)?.run_sync(con)
    }

    /// See [`AsyncModel::expire_in`].
    fn expire_in<C: ConnectionLike>(&self, con: &mut C, ttl: Duration) -> Result<bool> {
        ops::expire::<Self>(&required::<Self>(&self.primary_key())?, ttl)?.run_sync(con)
    }

    /// See [`AsyncModel::ttl`].
    fn ttl<C: ConnectionLike>(con: &mut C, pk: impl PkArg) -> Result<Option<Duration>> {
        ops::ttl::<Self>(&required::<Self>(&pk)?).run_sync(con)
    }

    /// See [`AsyncModel::index_status`].
    fn index_status<C: ConnectionLike>(con: &mut C) -> Result<crate::IndexStatus> {
        crate::status::index_status::<Self>()
            .run_sync(con)
            .map_err(crate::status::missing::<Self>)
    }

    /// See [`AsyncModel::all_pks`]; an iterator that fetches in batches.
    fn all_pks<C: ConnectionLike>(con: &mut C) -> PkIter<'_, C> {
        PkIter::new::<Self>(con)
    }
}

impl<M: Model> SyncModel for M {}

/// The key part of `pk`, refusing an empty one, one that names a bookkeeping
/// key of the migrator (a whole bulk call fails then, before anything is
/// sent), and one whose key belongs to another model whose key prefix nests
/// in this model's (`Order` given
/// `Item:1`, which is `:Order:Item:1`, the key of `OrderItem`): reading,
/// deleting or updating it through this model would reach the other's
/// document.
pub(crate) fn required<M: Model>(pk: &impl PkArg) -> Result<std::borrow::Cow<'_, str>> {
    let model = std::any::type_name::<M>();
    let part = crate::pk::required(pk, model)?;
    let layout = M::key_layout();
    // Never a document: the migrator's `{index}:lock`, `:hash`, `:schema`, `:history`.
    layout.check_document_key(&layout.key(&part))?;
    if !layout.nested_models().is_empty() && !layout.owns_key(layout.key(&part).as_bytes()) {
        let key = layout.key(&part);
        if let Some((inner, prefix)) = layout
            .nested_models()
            .iter()
            .find(|(_, prefix)| key.starts_with(prefix))
        {
            return Err(crate::registry::overlap_error(
                model,
                layout.key_prefix(),
                inner,
                prefix,
            ));
        }
    }
    Ok(part)
}

/// `Ok(None)` for a document that does not exist.
fn optional<M>(found: Result<M>) -> Result<Option<M>> {
    match found {
        Ok(model) => Ok(Some(model)),
        Err(crate::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A versioned save moves the model to the next version before sending; when
/// it did not write (a conflict, a failed condition, an error), the model gets
/// the version it was loaded with back, so that a retry after `reload` or a
/// second attempt checks the right one.
fn settle<M: Model>(model: &mut M, loaded: Option<i64>, result: &Result<Option<String>>) {
    if !matches!(result, Ok(Some(_))) {
        if let Some(version) = loaded {
            model.set_version(version);
        }
    }
}

/// The keys of `pks`; an empty one is an error.
fn keys_of<M: Model, P: PkArg>(pks: impl IntoIterator<Item = P>) -> Result<Vec<String>> {
    let layout = M::key_layout();
    pks.into_iter()
        .map(|pk| required::<M>(&pk).map(|part| layout.key(part)))
        .collect()
}
