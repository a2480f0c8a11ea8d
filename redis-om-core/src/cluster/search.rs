//! Search without a coordinator: each primary's copy searched at once,
//! checked against one slot map (`stamp`), merged (`merge`), documents read
//! by key.

use super::*;

impl ClusterConnection {
    /// Whether an index (by its logical name) is `ON JSON`, and its
    /// `SORTABLE` attributes, from `FT.INFO` of one shard's copy (cached).
    pub(super) async fn facts(&mut self, index: &[u8]) -> RedisResult<IndexFacts> {
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

    pub(super) async fn is_json(&mut self, index: &[u8]) -> RedisResult<bool> {
        Ok(self.facts(index).await?.json)
    }

    /// Refuses a sort the shards cannot report keys for: each shard sorts by
    /// a field that is not `SORTABLE` but gives no sort key to merge by.
    pub(super) async fn check_sort(&mut self, query: &ShardQuery) -> RedisResult<()> {
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
    pub(super) async fn shard_page(
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
    pub(super) async fn load(
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
    pub(super) async fn scatter_search(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
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
    pub(super) async fn scatter_aggregate(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
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
    pub(super) async fn refill(
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

    pub(super) async fn scatter_cursor(&mut self, args: &[Vec<u8>]) -> RedisResult<Value> {
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
    pub(super) async fn next_rows(&mut self, merged: &mut Merged) -> RedisResult<Vec<Value>> {
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
}

/// A fan-out read again while the slot map settles (`stamp`): a primary
/// unreachable, a redirection, or stamps that do not show one map make it
/// wait ([`stamp::backoff`]) and read the slots anew, for up to
/// [`stamp::SETTLE`].
pub(super) struct Settle {
    pub(super) started: std::time::Instant,
    pub(super) attempt: u32,
}

impl Settle {
    pub(super) fn new() -> Self {
        Settle {
            started: std::time::Instant::now(),
            attempt: 0,
        }
    }

    /// Whether the slot map must be read again before the next attempt.
    pub(super) fn refresh(&self) -> bool {
        self.attempt > 0
    }

    /// `Ok(true)` when the attempt stands; `Ok(false)` to read it again
    /// (after a pause); an error when it cannot stand and time is up, or
    /// when the failure is not one a settling cluster causes.
    pub(super) async fn done(
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
                    // A redirect of an index copy's name: the slot it is
                    // named after is moving (or just moved).
                    if matches!(err.code(), Some("MOVED" | "ASK")) {
                        return Err(stamp::unsettled(
                            what,
                            &format!(
                                "a primary redirected its index copy's name ({}): the slot the \
                                 copy is named after is moving",
                                crate::error::server_message(&err)
                            ),
                            true,
                        ));
                    }
                    return Err(err);
                }
                None
            }
            // A primary without its copy (a reshard moved the slot it was
            // named after, and the nodes may not all know yet): reading the
            // slots again repairs it (`copies`); a few times, as the map
            // settles.
            Some(err)
                if self.attempt < 3
                    && (self.attempt == 0 || self.started.elapsed() < stamp::SETTLE)
                    && crate::error::is_unknown_index(&err) =>
            {
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
