//! Running queries: one async flow over [`Exec`], driven by async connections
//! ([`AsyncQuery`]) or blocking ones ([`SyncQuery`]).

use std::future::Future;

use futures_util::Stream;
use redis::{aio, Cmd, ConnectionLike, Value};

use super::builder::Page;
use super::cursor::OpenCursor;
use super::plan::Search;
use super::plan::{Plan, SEARCH_WINDOW};
use super::reply::{self, Row};
use crate::batch::ReadBatch;
use crate::error::{Error, Result};
use crate::exec::{block_on, AsyncExec, Exec, SyncExec};

/// Reads every match of a plan through an aggregate cursor, batch by batch.
///
/// A page past `FT.SEARCH`'s window (`limit`) cannot use the aggregate's own
/// `LIMIT` either (the same cap applies to its offset), so the scan sorts the
/// first `offset + count` results and skips `offset` of them here.
///
/// Each batch is sized by [`ReadBatch`] (a bounded number of bytes per round
/// trip), and the server cursor is an [`OpenCursor`]: a scan dropped before
/// its end (an error, a timeout, a cancelled future) has its cursor deleted
/// by the next query on the index.
pub(crate) struct Scan {
    plan: Plan,
    limit: Option<(u64, u64)>,
    /// Rows still to skip, and rows still to return (for a page).
    skip: u64,
    take: u64,
    state: State,
    /// The current batch.
    rows: std::vec::IntoIter<Row>,
    /// The match count the first aggregate reply gave.
    total: Option<u64>,
    /// The match count `FT.SEARCH` gave before a sorted read (see [`Scan::counted`]).
    counted: Option<u64>,
    batch: ReadBatch,
    cursor: OpenCursor,
    /// The cursor's `MAXIDLE`.
    idle: std::time::Duration,
}

#[derive(Clone, Copy)]
enum State {
    Start,
    CountSent,
    Counted(u64),
    AggregateSent,
    Cursor(u64),
    ReadSent,
    /// The page is complete but the cursor is still open: delete it.
    Close(u64),
    CloseSent,
    Done,
}

impl Scan {
    pub(crate) fn new(plan: Plan, limit: Option<(u64, u64)>) -> Self {
        let (skip, take) = limit.unwrap_or((0, u64::MAX));
        // A page needs no bigger batches than its rows.
        let wanted = usize::try_from(take.saturating_add(skip)).unwrap_or(usize::MAX);
        // Rows of nested models are left out (`Plan::scoped`): the page
        // then says nothing of how many rows to read.
        let max = if plan.scoped() {
            plan.batch
        } else {
            plan.batch.min(wanted.max(1))
        };
        let batch = match plan.load {
            // Keys only (or with a few JSON values): the documents' sizes
            // say nothing of them.
            super::plan::Load::Key
            | super::plan::Load::Guards {
                storage: crate::Storage::Json,
                ..
            } => ReadBatch::new(max),
            _ => ReadBatch::of_model(plan.index, max),
        };
        let cursor = OpenCursor::new(plan.index, super::cursor::READ_IDLE);
        Scan {
            plan,
            limit,
            skip,
            take,
            state: State::Start,
            rows: Vec::new().into_iter(),
            total: None,
            counted: None,
            batch,
            cursor,
            idle: super::cursor::READ_IDLE,
        }
    }

    /// A scan whose consumer sets the pace (`stream`, `iter`): its cursor
    /// waits up to [`STREAM_IDLE`](super::cursor::STREAM_IDLE) between reads.
    pub(crate) fn streaming(plan: Plan) -> Self {
        let index = plan.index;
        Scan {
            idle: super::cursor::STREAM_IDLE,
            cursor: OpenCursor::new(index, super::cursor::STREAM_IDLE),
            ..Scan::new(plan, None)
        }
    }

    /// The next command to send, or `None` when every batch was read.
    pub(crate) fn next_cmd(&mut self) -> Option<Cmd> {
        let count = self.batch.next();
        let (cmd, next) = match self.state {
            // A sorted aggregate needs to know how many results to sort (MAX).
            State::Start if self.plan.sort.is_some() => (self.plan.search(0, 0), State::CountSent),
            State::Start => (
                self.plan.aggregate(0, count, self.idle),
                State::AggregateSent,
            ),
            State::Counted(0) => return None,
            // Room for documents added while reading, but no more than the page needs.
            State::Counted(total) => {
                let room = total.saturating_add(total / 8).saturating_add(64);
                let max = match self.limit {
                    // Left-out rows (`Plan::scoped`) would take places of the page.
                    Some((offset, count)) if !self.plan.scoped() => {
                        room.min(offset.saturating_add(count))
                    }
                    _ => room,
                };
                (
                    self.plan.aggregate(max, count, self.idle),
                    State::AggregateSent,
                )
            }
            State::Cursor(id) => (self.plan.read_cursor(id, count), State::ReadSent),
            State::Close(id) => (self.plan.delete_cursor(id), State::CloseSent),
            State::CountSent
            | State::AggregateSent
            | State::ReadSent
            | State::CloseSent
            | State::Done => return None,
        };
        self.state = next;
        Some(cmd)
    }

    /// Takes in the reply to the last command.
    pub(crate) fn feed(&mut self, reply: Value) -> Result<()> {
        match self.state {
            State::CountSent => {
                let (total, _) = reply::search(reply)?;
                self.counted = Some(total);
                self.state = State::Counted(total);
            }
            State::AggregateSent | State::ReadSent => {
                let bytes = crate::batch::reply_bytes(&reply);
                let (total, mut rows, cursor) = reply::cursor(reply)?;
                self.cursor.set(cursor);
                self.batch.observe(rows.len(), bytes);
                self.total = self.total.or(total);
                for row in &mut rows {
                    self.plan.restore(row);
                }
                if self.plan.scoped() {
                    // Never a document of a model whose key prefix nests in this one's.
                    let layout = self.plan.layout;
                    rows.retain(|row| row.key_bytes().is_none_or(|key| layout.owns_key(key)));
                }
                let skip = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(rows.len());
                rows.drain(..skip);
                self.skip -= skip as u64;
                if (rows.len() as u64) > self.take {
                    rows.truncate(self.take as usize);
                }
                self.take -= rows.len() as u64;
                self.rows = rows.into_iter();
                self.state = match cursor {
                    0 => State::Done,
                    id if self.take == 0 => State::Close(id),
                    id => State::Cursor(id),
                };
            }
            State::CloseSent => {
                self.cursor.closed();
                self.state = State::Done;
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<Row> {
        self.rows.next()
    }

    /// Stops after an error; a cursor still open is deleted by the next
    /// query on the index (see [`OpenCursor`]).
    pub(crate) fn finish(&mut self) {
        self.state = State::Done;
        self.rows = Vec::new().into_iter();
        // Queued now rather than when the stream holding the scan is dropped.
        let index = self.plan.index;
        drop(std::mem::replace(
            &mut self.cursor,
            OpenCursor::new(index, self.idle),
        ));
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether the command just taken from [`Scan::next_cmd`] opens the
    /// search (a count, or an aggregate not preceded by one), rather than
    /// reading or closing its cursor.
    fn opens(&self) -> bool {
        match self.state {
            State::CountSent => true,
            State::AggregateSent => self.counted.is_none(),
            _ => false,
        }
    }

    /// How many matches the server reported, once known (for reserving).
    pub(crate) fn total(&self) -> Option<u64> {
        self.total
    }

    /// How many documents match, when a sorted read counted them with
    /// `FT.SEARCH` first (not for a scoped plan: that count includes the
    /// documents left out).
    pub(crate) fn counted(&self) -> Option<u64> {
        self.counted.filter(|_| !self.plan.scoped())
    }
}

/// Sends the next command of a scan ([`run`]); a round trip that timed out
/// makes later reads of the model start smaller (`ReadBatch::timed_out`).
async fn run_scan<E: Exec>(exec: &mut E, scan: &Scan, cmd: &Cmd) -> Result<Value> {
    let reply = send(exec, scan.plan(), cmd, scan.opens()).await;
    if reply.as_ref().is_err_and(Error::is_timeout) {
        scan.batch.timed_out();
    }
    reply
}

/// Sends the one search of a plan (a page, a count, a first result): after
/// the live-schema check, the deletion of cursors abandoned on its index and
/// the expansion check.
pub(crate) async fn run<E: Exec>(exec: &mut E, plan: &Plan, cmd: &Cmd) -> Result<Value> {
    send(exec, plan, cmd, true).await
}

/// Sends one command of a plan; a command that `opens` a search (not a
/// cursor read) is sent only if no pattern of the plan reaches the server's
/// expansion limit (`super::expansion`).
async fn send<E: Exec>(exec: &mut E, plan: &Plan, cmd: &Cmd, opens: bool) -> Result<Value> {
    crate::query::live_schema::check(exec, plan).await?;
    super::cursor::reap(exec, plan.index).await;
    if opens {
        super::expansion::check(exec, plan).await?;
    }
    exec.query(cmd).await.map_err(|err| plan.error(err))
}

/// Runs `scan` to its end, handing each row to `each`.
async fn scan_to_end<E: Exec>(
    exec: &mut E,
    mut scan: Scan,
    mut each: impl FnMut(Row),
) -> Result<()> {
    while let Some(cmd) = scan.next_cmd() {
        scan.feed(run_scan(exec, &scan, &cmd).await?)?;
        while let Some(row) = scan.pop() {
            each(row);
        }
    }
    Ok(())
}

async fn all<Q: Search, E: Exec>(query: &Q, exec: &mut E) -> Result<Vec<Q::Item>> {
    Ok(read(query, exec, None).await?.0)
}

/// A page, with the total number of matches: `FT.SEARCH` reports it with
/// the page; a page read through the cursor counts separately.
async fn page<Q: Search, E: Exec>(
    query: &Q,
    exec: &mut E,
    offset: u64,
    limit: u64,
) -> Result<Page<Q::Item>> {
    let (items, total) = read(query, exec, Some((offset, limit))).await?;
    let total = match total {
        Some(total) => total,
        None => count(query, exec).await?,
    };
    Ok(Page { items, total })
}

/// The matches (a page of them with `limit`), and the total number of
/// matches when a reply said it.
async fn read<Q: Search, E: Exec>(
    query: &Q,
    exec: &mut E,
    limit: Option<(u64, u64)>,
) -> Result<(Vec<Q::Item>, Option<u64>)> {
    let (items, total) = read_each(query, exec, limit, true).await?;
    // With `stop_at_bad`, every item is `Ok`.
    let items = items.into_iter().collect::<Result<Vec<_>>>()?;
    Ok((items, total))
}

/// Every match, each decoded on its own (`all_each`).
async fn all_each<Q: Search, E: Exec>(query: &Q, exec: &mut E) -> Result<Vec<Result<Q::Item>>> {
    Ok(read_each(query, exec, None, false).await?.0)
}

/// [`read`], keeping each document's own result: with `stop_at_bad`, a
/// document that does not decode fails the call; without, it is an `Err`
/// item and the others are still read.
async fn read_each<Q: Search, E: Exec>(
    query: &Q,
    exec: &mut E,
    limit: Option<(u64, u64)>,
    stop_at_bad: bool,
) -> Result<(Vec<Result<Q::Item>>, Option<u64>)> {
    let decode = |row: Row, out: &mut Vec<Result<Q::Item>>| -> Result<()> {
        match query.decode(row) {
            Ok(Some(item)) => out.push(Ok(item)),
            Ok(None) => {}
            Err(err) if stop_at_bad => return Err(err),
            Err(err) => out.push(Err(err)),
        }
        Ok(())
    };
    let Some(plan) = query.plan()? else {
        return Ok((Vec::new(), Some(0)));
    };
    // A KNN returns at most `k`: every match is one page.
    let limit = limit.or(plan.max_results.map(|k| (0, k)));
    if let Some((offset, count)) = limit {
        if count == 0 {
            return Ok((Vec::new(), None));
        }
        // One `FT.SEARCH` when the page lies inside the default window; a server
        // configured with a smaller `MAXSEARCHRESULTS` refuses it or cuts it
        // short, and the page is then read through the aggregate cursor.
        if offset.saturating_add(count) <= SEARCH_WINDOW && !plan.needs_aggregate() {
            match run(exec, &plan, &plan.search(offset, count)).await {
                Ok(reply) => {
                    let (total, rows) = reply::search(reply)?;
                    let read = rows.len() as u64;
                    if read >= count || total <= offset.saturating_add(read) {
                        let mut out = Vec::with_capacity(rows.len());
                        for mut row in rows {
                            plan.restore(&mut row);
                            decode(row, &mut out)?;
                        }
                        return Ok((out, Some(total)));
                    }
                }
                Err(err) if is_window_error(&err) => {}
                Err(err) => return Err(err),
            }
        }
    }
    let mut scan = Scan::new(plan, limit);
    let mut out = Vec::new();
    while let Some(cmd) = scan.next_cmd() {
        let reply = run_scan(exec, &scan, &cmd).await?;
        scan.feed(reply)?;
        if out.is_empty() {
            let wanted = scan
                .total()
                .unwrap_or(0)
                .min(limit.map_or(u64::MAX, |(_, n)| n));
            out.reserve(usize::try_from(wanted).unwrap_or(0).min(1 << 20));
        }
        while let Some(row) = scan.pop() {
            decode(row, &mut out)?;
        }
    }
    Ok((out, scan.counted()))
}

/// `Ok(None)` when nothing matched.
fn optional<T>(found: Result<T>) -> Result<Option<T>> {
    match found {
        Ok(item) => Ok(Some(item)),
        Err(Error::NoMatch { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `FT.SEARCH`'s refusal of a page past `MAXSEARCHRESULTS` (`LIMIT exceeds
/// maximum of 100`, `OFFSET exceeds maximum of 100`).
fn is_window_error(err: &Error) -> bool {
    matches!(err, Error::Query { message, .. } if message.contains("exceeds maximum of"))
}

async fn first<Q: Search, E: Exec>(query: &Q, exec: &mut E) -> Result<Q::Item> {
    let plan = query.plan()?;
    if let Some(plan) = &plan {
        // `LIMIT 0 1` (or its window through the cursor): one row at most.
        let row = if plan.needs_aggregate() {
            let mut first = None;
            scan_to_end(exec, Scan::new(plan.clone(), Some((0, 1))), |row| {
                first.get_or_insert(row);
            })
            .await?;
            first
        } else {
            reply::search_first(run(exec, plan, &plan.search(0, 1)).await?)?.map(|mut row| {
                plan.restore(&mut row);
                row
            })
        };
        if let Some(row) = row {
            if let Some(item) = query.decode(row)? {
                return Ok(item);
            }
        }
    }
    let (index, query) = match plan {
        Some(plan) => (plan.index.to_owned(), plan.query),
        // The filter can match nothing (an empty `is_in`): no query was sent.
        None => (query.index().to_owned(), "(nothing)".to_owned()),
    };
    Err(Error::NoMatch { index, query })
}

async fn count<Q: Search, E: Exec>(query: &Q, exec: &mut E) -> Result<u64> {
    let Some(plan) = query.key_plan()? else {
        return Ok(0);
    };
    if plan.scoped() {
        // Counted one by one: the server's total includes the nested model's documents.
        let mut total = 0;
        scan_to_end(exec, Scan::new(plan, None), |_| total += 1).await?;
        return Ok(total);
    }
    let (total, _) = reply::search(run(exec, &plan, &plan.search(0, 0)).await?)?;
    Ok(total)
}

async fn delete<Q: Search, E: Exec>(query: &Q, exec: &mut E) -> Result<u64> {
    let Some(plan) = query.key_plan()? else {
        return Ok(0);
    };
    let mut scan = Scan::new(plan, None);
    let mut deleted = 0;
    // Deletes sized by how long they take (`DeleteBatch`).
    let mut deletes = crate::batch::DeleteBatch::new(<Q::Model as crate::Model>::STORAGE);
    while let Some(cmd) = scan.next_cmd() {
        let reply = run_scan(exec, &scan, &cmd).await?;
        scan.feed(reply)?;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        while let Some(row) = scan.pop() {
            if let Some(key) = row.key_bytes() {
                keys.push(key.to_vec());
            }
        }
        let mut start = 0;
        while start < keys.len() {
            let group = &keys[start..keys.len().min(start + deletes.next())];
            start += group.len();
            let mut unlink = redis::cmd("UNLINK");
            for key in group {
                unlink.arg(key.as_slice());
            }
            let sent = std::time::Instant::now();
            let reply = exec.query(&unlink).await.map_err(Error::from_redis)?;
            deletes.observe(group.len(), sent.elapsed());
            match reply {
                Value::Int(n) => deleted += u64::try_from(n).unwrap_or(0),
                other => {
                    return Err(Error::UnexpectedReply {
                        command: "UNLINK",
                        detail: format!(
                            "answered {}, not a count",
                            crate::storage::describe(&other)
                        ),
                    })
                }
            }
        }
    }
    Ok(deleted)
}

/// Applies `patch` to every match: the keys of the matches are read first
/// (through the cursor), with the stored values of the fields the filter
/// uses, then patched in pipelines of update calls (the script loaded at the
/// start of each). The keys come first because an updated document is
/// indexed again, and a cursor still running would return it a second time.
///
/// Between the read and the write another client may change a document so
/// that it no longer matches: each call is guarded by the filter fields'
/// values as read (checked in the same script as the write), and a document
/// whose guarded fields changed is left alone and reported as skipped.
async fn update<Q: Search, E: Exec>(
    query: &Q,
    exec: &mut E,
    patch: &crate::update::Patch<Q::Model>,
) -> Result<UpdateReport> {
    use crate::update::Outcome;
    // Checked before the search: an invalid patch sends nothing.
    crate::update::call::<Q::Model>("", patch)?;
    let mut report = UpdateReport::default();
    let Some(mut plan) = query.key_plan()? else {
        return Ok(report);
    };
    // The filter's fields: hash fields, or JSON paths.
    let storage = <Q::Model as crate::Model>::STORAGE;
    let schema = (plan.schema)();
    let mut targets: Vec<String> = Vec::new();
    for field in schema.fields() {
        let fts = format!("{}_fts", field.name());
        let used = super::live_schema::uses(&plan, field.name())
            || (field.is_full_text() && super::live_schema::uses(&plan, &fts));
        if !used {
            continue;
        }
        let target = match storage {
            crate::Storage::Hash => field.name().to_owned(),
            crate::Storage::Json => match field.path() {
                Some(path) => path.to_owned(),
                None => {
                    let star = if field.is_multi() { "[*]" } else { "" };
                    format!("${}{star}", crate::schema::json_member(field.name()))
                }
            },
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if !targets.is_empty() {
        plan.load = super::plan::Load::Guards {
            storage,
            paths: targets.clone(),
        };
    }
    let batch = plan.batch.max(1);
    let mut scan = Scan::new(plan, None);
    let mut matches: Vec<(String, Guards)> = Vec::new();
    while let Some(cmd) = scan.next_cmd() {
        let reply = run_scan(exec, &scan, &cmd).await?;
        scan.feed(reply)?;
        while let Some(row) = scan.pop() {
            let guards = targets
                .iter()
                .enumerate()
                .map(|(i, target)| {
                    let value = match storage {
                        crate::Storage::Hash => row.attr(target),
                        crate::Storage::Json => row
                            .attr(&super::plan::guard_alias(i))
                            .filter(|v| *v != b"[]"),
                    };
                    let expected = match value {
                        Some(value) => [b"=".as_slice(), value].concat(),
                        None => b"-".to_vec(),
                    };
                    (target.clone(), expected)
                })
                .collect();
            matches.push((row.key().into_owned(), guards));
        }
    }
    for chunk in matches.chunks(batch) {
        let mut pipe = redis::pipe();
        // Each document's reply on its own: a server error is read below.
        pipe.ignore_errors();
        pipe.load_script(crate::update::script()).ignore();
        for (key, guards) in chunk {
            pipe.invoke_script(&crate::update::call_guarded::<Q::Model>(
                key, patch, guards,
            )?);
        }
        let replies = exec.query_pipe(&pipe).await.map_err(Error::from_redis)?;
        for (reply, (key, _)) in replies.into_iter().zip(chunk) {
            if let Value::ServerError(err) = &reply {
                // A server without hash field expiration (before 7.4), for a
                // patch that sets an expiring field: say what it needs.
                let reason = format!("{err:?}");
                if crate::request::is_unknown_command(&reason) {
                    let expiring = crate::update::expiring_set::<Q::Model>(patch);
                    if let Some((feature, needs)) =
                        crate::ops::needs_field_expiration::<Q::Model>(&expiring)
                    {
                        return Err(Error::Unsupported {
                            feature,
                            needs,
                            reason,
                        });
                    }
                }
                return Err(Error::from_redis(err.clone().into()));
            }
            match crate::update::outcome::<Q::Model>(reply, key, patch.expected())? {
                Outcome::Applied => report.changed += 1,
                Outcome::Missing => report.gone.push(key.clone()),
                Outcome::NoLongerMatches => report.skipped.push(key.clone()),
            }
        }
    }
    Ok(report)
}

/// The guards of one document of a bulk update: each filter field's target
/// and its value as the search read it (`crate::update::call_guarded`).
type Guards = Vec<(String, Vec<u8>)>;

/// What a bulk update ([`AsyncQuery::update_report`]) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateReport {
    /// How many documents were changed.
    pub changed: u64,
    /// The keys of matches that another client changed between the search
    /// and the write so that they may no longer match (a field the filter
    /// uses holds another value): left alone. Run the update again to patch
    /// those that still match.
    pub skipped: Vec<String>,
    /// The keys of matches deleted (or expired) between the search and the
    /// write.
    pub gone: Vec<String>,
}

/// Runs queries on async connections (any `redis::aio::ConnectionLike`):
/// implemented by [`Query`](crate::Query) and [`Select`](crate::Select).
///
/// ```no_run
/// use redis_om::prelude::*;
/// # #[derive(HashModel)]
/// # struct User { pk: Option<String>, #[redis_om(index)] age: u32 }
/// # async fn run() -> redis_om::Result<()> {
/// # let mut con = redis_om::connect(redis_om::url()).await?;
/// let adults: Vec<User> = User::find(|u| u.age.ge(18)).all(&mut con).await?;
/// let how_many = User::find(|u| u.age.ge(18)).count(&mut con).await?;
/// # Ok(()) }
/// ```
pub trait AsyncQuery: Search + Sized {
    /// Every match, however many (read in batches through an aggregate cursor,
    /// so not capped by `MAXSEARCHRESULTS`).
    ///
    /// A stored document that does not decode into the model fails the call
    /// with [`Error::Decode`] naming its key; to keep the valid documents and
    /// see every bad one, use [`all_each`](AsyncQuery::all_each) (or
    /// [`stream`](AsyncQuery::stream)), which report each failure as an item
    /// and go on.
    fn all<C>(&self, con: &mut C) -> impl Future<Output = Result<Vec<Self::Item>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { all(self, &mut AsyncExec(con)).await }
    }

    /// Every match, each with its own result: a stored document that does
    /// not decode into the model (written by an older version of it, or by
    /// another program) is an `Err` naming its key, and every other match is
    /// still returned, as [`get_many_each`](crate::AsyncModel::get_many_each)
    /// does for keys. A server or connection error fails the whole call.
    fn all_each<C>(
        &self,
        con: &mut C,
    ) -> impl Future<Output = Result<Vec<Result<Self::Item>>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { all_each(self, &mut AsyncExec(con)).await }
    }

    /// The first match (in sort order), or [`Error::NoMatch`] (for which
    /// [`Error::is_not_found`] is true).
    fn first<C>(&self, con: &mut C) -> impl Future<Output = Result<Self::Item>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { first(self, &mut AsyncExec(con)).await }
    }

    /// The first match (in sort order), or `None` when nothing matches.
    fn first_optional<C>(
        &self,
        con: &mut C,
    ) -> impl Future<Output = Result<Option<Self::Item>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { optional(first(self, &mut AsyncExec(con)).await) }
    }

    /// How many documents match (`LIMIT 0 0`: no document is sent).
    fn count<C>(&self, con: &mut C) -> impl Future<Output = Result<u64>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { count(self, &mut AsyncExec(con)).await }
    }

    /// `limit` matches after skipping `offset` (in sort order; give the query a
    /// `sort_by` for stable pages), with the total number of matches
    /// ([`Page::total`], from the same `FT.SEARCH`: no second round trip).
    /// Any `limit` works (`u64::MAX`: the rest).
    fn page<C>(
        &self,
        con: &mut C,
        offset: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Page<Self::Item>>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { page(self, &mut AsyncExec(con), offset, limit).await }
    }

    /// Deletes every matching document; returns how many were deleted.
    fn delete<C>(&self, con: &mut C) -> impl Future<Output = Result<u64>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        async move { delete(self, &mut AsyncExec(con)).await }
    }

    /// Applies `patch` to every matching document (see
    /// [`AsyncModel::update`](crate::AsyncModel::update)): the keys of the
    /// matches are read first, then patched in pipelines of
    /// [`batch_size`](crate::Query::batch_size), each document atomically on
    /// its own; returns how many were changed. Not a transaction across
    /// documents, but never a document that stopped matching: each write is
    /// checked against the values of the filter's fields the search read (a
    /// document another client changed meanwhile is left alone;
    /// [`update_report`](AsyncQuery::update_report) lists them).
    fn update<C>(
        &self,
        con: &mut C,
        patch: impl FnOnce(&<Self::Model as crate::Model>::Setters) -> crate::Patch<Self::Model>,
    ) -> impl Future<Output = Result<u64>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let patch = patch(&<Self::Model as crate::Model>::setters());
        async move { Ok(update(self, &mut AsyncExec(con), &patch).await?.changed) }
    }

    /// [`update`](AsyncQuery::update), saying what became of each match:
    /// how many were changed, and the keys of those left alone because
    /// another client changed a field the filter uses in the meantime (each
    /// write is checked against the values the search read, in the same
    /// script), or deleted them.
    fn update_report<C>(
        &self,
        con: &mut C,
        patch: impl FnOnce(&<Self::Model as crate::Model>::Setters) -> crate::Patch<Self::Model>,
    ) -> impl Future<Output = Result<UpdateReport>> + Send
    where
        C: aio::ConnectionLike + Send,
    {
        let patch = patch(&<Self::Model as crate::Model>::setters());
        async move { update(self, &mut AsyncExec(con), &patch).await }
    }

    /// Every match as a stream (consuming the query), fetched in batches of
    /// at most [`batch_size`](crate::Query::batch_size) documents and about
    /// 4 MiB: memory stays bounded by one batch.
    /// A document that does not decode is an `Err` item naming its key, and the
    /// stream continues; a server error ends it. A stream dropped early has
    /// its server cursor deleted by the next query on the same index (and the
    /// server drops it after 300 s idle in any case); a consumer that pauses
    /// more than 300 s between two batches gets an error saying so.
    fn stream<'a, C>(
        self,
        con: &'a mut C,
    ) -> impl Stream<Item = Result<Self::Item>> + Send + Unpin + 'a
    where
        C: aio::ConnectionLike + Send,
        Self: Send + 'a,
    {
        let scan = self.plan().map(|plan| plan.map(Scan::streaming));
        // Boxed, so that the stream is `Unpin`: `.next()` works without pinning.
        Box::pin(futures_util::stream::unfold(
            (con, scan, self),
            |(con, mut scan, query)| async move {
                let active = match &mut scan {
                    Ok(Some(active)) => active,
                    Ok(None) => return None,
                    Err(_) => {
                        let err = std::mem::replace(&mut scan, Ok(None)).err()?;
                        return Some((Err(err), (con, scan, query)));
                    }
                };
                loop {
                    while let Some(row) = active.pop() {
                        match query.decode(row) {
                            Ok(Some(item)) => return Some((Ok(item), (con, scan, query))),
                            Ok(None) => {}
                            // A document that does not decode is reported; the stream goes on.
                            Err(err) => return Some((Err(err), (con, scan, query))),
                        }
                    }
                    let cmd = active.next_cmd()?;
                    let fed = match run_scan(&mut AsyncExec(&mut *con), active, &cmd).await {
                        Ok(reply) => active.feed(reply),
                        Err(err) => Err(err),
                    };
                    if let Err(err) = fed {
                        active.finish();
                        return Some((Err(err), (con, scan, query)));
                    }
                }
            },
        ))
    }
}

impl<Q: Search> AsyncQuery for Q {}

/// Runs queries on blocking connections (any `redis::ConnectionLike`); the
/// same methods as [`AsyncQuery`], with [`iter`](SyncQuery::iter) for `stream`.
pub trait SyncQuery: Search + Sized {
    /// See [`AsyncQuery::all`].
    fn all<C: ConnectionLike>(&self, con: &mut C) -> Result<Vec<Self::Item>> {
        block_on(all(self, &mut SyncExec(con)))
    }

    /// See [`AsyncQuery::all_each`].
    fn all_each<C: ConnectionLike>(&self, con: &mut C) -> Result<Vec<Result<Self::Item>>> {
        block_on(all_each(self, &mut SyncExec(con)))
    }

    /// See [`AsyncQuery::first`].
    fn first<C: ConnectionLike>(&self, con: &mut C) -> Result<Self::Item> {
        block_on(first(self, &mut SyncExec(con)))
    }

    /// See [`AsyncQuery::first_optional`].
    fn first_optional<C: ConnectionLike>(&self, con: &mut C) -> Result<Option<Self::Item>> {
        optional(block_on(first(self, &mut SyncExec(con))))
    }

    /// See [`AsyncQuery::count`].
    fn count<C: ConnectionLike>(&self, con: &mut C) -> Result<u64> {
        block_on(count(self, &mut SyncExec(con)))
    }

    /// See [`AsyncQuery::page`].
    fn page<C: ConnectionLike>(
        &self,
        con: &mut C,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Self::Item>> {
        block_on(page(self, &mut SyncExec(con), offset, limit))
    }

    /// See [`AsyncQuery::delete`].
    fn delete<C: ConnectionLike>(&self, con: &mut C) -> Result<u64> {
        block_on(delete(self, &mut SyncExec(con)))
    }

    /// See [`AsyncQuery::update`].
    fn update<C: ConnectionLike>(
        &self,
        con: &mut C,
        patch: impl FnOnce(&<Self::Model as crate::Model>::Setters) -> crate::Patch<Self::Model>,
    ) -> Result<u64> {
        let patch = patch(&<Self::Model as crate::Model>::setters());
        Ok(block_on(update(self, &mut SyncExec(con), &patch))?.changed)
    }

    /// See [`AsyncQuery::update_report`].
    fn update_report<C: ConnectionLike>(
        &self,
        con: &mut C,
        patch: impl FnOnce(&<Self::Model as crate::Model>::Setters) -> crate::Patch<Self::Model>,
    ) -> Result<UpdateReport> {
        let patch = patch(&<Self::Model as crate::Model>::setters());
        block_on(update(self, &mut SyncExec(con), &patch))
    }

    /// See [`AsyncQuery::stream`]: an iterator that fetches in batches.
    fn iter<C: ConnectionLike>(self, con: &mut C) -> QueryIter<'_, Self, C> {
        QueryIter {
            scan: self.plan().map(|plan| plan.map(Scan::streaming)),
            query: self,
            con,
        }
    }
}

impl<Q: Search> SyncQuery for Q {}

/// The iterator of [`SyncQuery::iter`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct QueryIter<'a, Q: Search, C> {
    query: Q,
    con: &'a mut C,
    scan: Result<Option<Scan>>,
}

impl<Q: Search + std::fmt::Debug, C> std::fmt::Debug for QueryIter<'_, Q, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryIter")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl<Q: Search, C: ConnectionLike> Iterator for QueryIter<'_, Q, C> {
    type Item = Result<Q::Item>;

    fn next(&mut self) -> Option<Self::Item> {
        let active = match &mut self.scan {
            Ok(Some(active)) => active,
            Ok(None) => return None,
            Err(_) => return std::mem::replace(&mut self.scan, Ok(None)).err().map(Err),
        };
        loop {
            while let Some(row) = active.pop() {
                match self.query.decode(row) {
                    Ok(Some(item)) => return Some(Ok(item)),
                    Ok(None) => {}
                    Err(err) => return Some(Err(err)),
                }
            }
            let cmd = active.next_cmd()?;
            let fed = match block_on(run_scan(&mut SyncExec(&mut *self.con), active, &cmd)) {
                Ok(reply) => active.feed(reply),
                Err(err) => Err(err),
            };
            if let Err(err) = fed {
                active.finish();
                return Some(Err(err));
            }
        }
    }
}
