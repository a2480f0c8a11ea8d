//! A search command (`FT.SEARCH`, `FT.AGGREGATE`, `FT.CURSOR`) read back into
//! what a shard's read needs: the index, the query text, the sort, the
//! fields to load, the window.

use super::*;

/// What a search loads for each document.
#[derive(Clone)]
pub(super) enum LoadShape {
    /// Keys only (`NOCONTENT`, `LOAD 1 @__key`).
    Nothing,
    /// The whole document (a hash's fields, a JSON document as `$`).
    Whole,
    /// Chosen attributes: (hash field or JSON path, name in the results).
    Fields(Vec<(Vec<u8>, Vec<u8>)>),
}

/// A search or aggregate, as each shard's `FT.SEARCH … NOCONTENT` runs it.
#[derive(Clone)]
pub(super) struct ShardQuery {
    pub(super) index: Vec<u8>,
    pub(super) text: Vec<u8>,
    /// The sort attribute and whether descending.
    pub(super) sort: Option<(Vec<u8>, bool)>,
    /// The counted `PARAMS` (names and values).
    pub(super) params: Vec<Vec<u8>>,
    pub(super) dialect: Vec<u8>,
    pub(super) limit: Option<(u64, u64)>,
    pub(super) load: LoadShape,
    /// The caller asked for the sort keys (`WITHSORTKEYS`).
    pub(super) with_sort_keys: bool,
    /// A KNN query's `k`.
    pub(super) knn_k: Option<u64>,
    /// The attribute a KNN yields its distance as.
    pub(super) yields: Option<Vec<u8>>,
}

impl ShardQuery {
    pub(super) fn base(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
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

    pub(super) fn of_search(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
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

    pub(super) fn of_aggregate(args: &[Vec<u8>]) -> RedisResult<ShardQuery> {
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
pub(super) fn fields_of(items: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
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
pub(super) fn counted(args: &[Vec<u8>], at: usize) -> usize {
    args.get(at + 1)
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
        .unwrap_or(0)
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn bytes(value: &Value) -> &[u8] {
    match value {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.as_bytes(),
        _ => &[],
    }
}

pub(super) fn count_arg(args: &[Vec<u8>]) -> Option<usize> {
    let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"COUNT"))?;
    std::str::from_utf8(args.get(at + 1)?).ok()?.parse().ok()
}

/// `FT.CURSOR READ|DEL index id …`: the id, and whether it reads.
pub(super) fn cursor_args(args: &[Vec<u8>]) -> RedisResult<(u64, bool)> {
    let read = args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"READ"));
    Ok((number_arg(args, 3)?, read))
}

pub(super) fn number_arg(args: &[Vec<u8>], i: usize) -> RedisResult<u64> {
    args.get(i)
        .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
        .ok_or_else(|| client_error("a number was expected"))
}
