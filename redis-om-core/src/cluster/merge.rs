//! Merging the shards' replies: sorted pages by the servers' own sort keys,
//! cursors of every shard behind one, `FT.INFO` summed.

use super::*;

pub(super) struct Merged {
    pub(super) query: ShardQuery,
    pub(super) shards: Vec<Shard>,
    pub(super) count: usize,
}

impl Merged {
    pub(super) fn done(&self) -> bool {
        self.shards.iter().all(|s| s.done && s.rows.is_empty())
    }
}

pub(super) struct Shard {
    pub(super) addr: String,
    /// The hash tag of this shard's copy of the index.
    pub(super) tag: String,
    /// Its matches not read yet (a snapshot taken at the first read).
    pub(super) keys: Option<VecDeque<SearchDoc>>,
    pub(super) done: bool,
    pub(super) rows: VecDeque<(Option<SortValue>, Value)>,
}

/// How far one shard's matches can be paged with `FT.SEARCH` (RediSearch's
/// default `MAXSEARCHRESULTS`).
pub(super) const SHARD_WINDOW: u64 = 10_000;

/// The largest `LIMIT` one shard's read asks for when its `MAXSEARCHRESULTS`
/// is unlimited (RediSearch refuses larger ones).
pub(super) const UNLIMITED_WINDOW: u64 = 1_000_000;

/// What a merge needs to know of an index.
#[derive(Debug, Clone, Default)]
pub(super) struct IndexFacts {
    pub(super) json: bool,
    /// The attributes with `SORTABLE`.
    pub(super) sortable: Vec<Vec<u8>>,
}

impl IndexFacts {
    pub(super) fn of(info: &Value) -> IndexFacts {
        let info = crate::info::IndexInfo::of(info);
        IndexFacts {
            json: info.on_json(),
            sortable: info
                .attributes
                .into_iter()
                .filter(|a| a.sortable)
                .map(|a| a.name.into_bytes())
                .collect(),
        }
    }
}

/// A value to merge sorted results by.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SortValue {
    Number(f64),
    Text(String),
}

/// Whether `a` comes before `b` (missing values last, either way).
pub(super) fn before(a: &Option<SortValue>, b: &Option<SortValue>, descending: bool) -> bool {
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
pub(super) fn merge_sorted<T>(
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
pub(super) fn parse_sort_key(value: &Value) -> Option<SortValue> {
    let t = text(value)?;
    if let Some(n) = t.strip_prefix('#') {
        return n.parse().ok().map(SortValue::Number);
    }
    Some(SortValue::Text(
        t.strip_prefix('$').unwrap_or(&t).to_owned(),
    ))
}

pub(super) struct SearchDoc {
    pub(super) id: Value,
    pub(super) sort_key: Option<SortValue>,
    pub(super) sort_key_value: Option<Value>,
}

pub(super) fn parse_search(
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
pub(super) fn cursor_reply(reply: &Value) -> Option<(Value, u64)> {
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

/// `FT.INFO` of every primary as one: document and failure counts summed,
/// the least advanced indexing.
pub(super) fn merge_info(replies: Vec<(String, Value)>) -> RedisResult<Value> {
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

pub(super) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}
