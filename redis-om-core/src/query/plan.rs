//! The plan of one search, and the commands it becomes: `FT.SEARCH` for a
//! page, `FT.AGGREGATE … WITHCURSOR` for every match.

use redis::{Cmd, Value};

use super::expr::QueryParams;
use super::reply::Row;
use crate::error::{Error, Result};
use crate::storage::Storage;

/// How many results `FT.SEARCH` can page through (`MAXSEARCHRESULTS` on Redis
/// Stack); pages beyond it are read with `FT.AGGREGATE`.
pub(super) const SEARCH_WINDOW: u64 = 10_000;
/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

impl SortOrder {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        }
    }
}

/// One attribute chosen by [`Query::select`](super::Query::select).
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct ProjectedAttr {
    /// The hash field or JSON path.
    pub source: &'static str,
    /// The attribute name (the alias in results).
    pub name: &'static str,
    /// Indexed as NUMERIC (see [`ProjectedField::numeric`](super::ProjectedField::numeric)).
    pub numeric: bool,
}

/// What a search returns for each document.
#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum Load {
    /// The whole document: every hash field, or the JSON root.
    Document { storage: Storage },
    /// Chosen attributes; JSON values come as arrays (`DIALECT 3`).
    Fields {
        storage: Storage,
        fields: Vec<ProjectedAttr>,
    },
    /// Only the key (for `delete`).
    Key,
    /// The key and the stored values of the filter's fields (for a bulk
    /// `update`'s guards): hash documents whole (their raw fields), JSON
    /// values by path as `__om_g{i}` (`DIALECT 3` arrays).
    Guards {
        storage: Storage,
        paths: Vec<String>,
    },
}

/// The attribute of guard `i` in a [`Load::Guards`] row.
pub(crate) fn guard_alias(i: usize) -> String {
    format!("__om_g{i}")
}

/// Everything needed to build the commands of one search.
#[derive(Debug, Clone)]
#[doc(hidden)]
pub struct Plan {
    pub(crate) index: &'static str,
    /// Where the model's keys are: results under the prefix of another model
    /// nested in this one's are left out ([`Plan::scoped`]).
    pub(crate) layout: &'static crate::key::KeyLayout,
    pub(crate) model: &'static str,
    /// The model's schema, to compare with the live one (`crate::live_schema`).
    pub(crate) schema: fn() -> crate::schema::IndexSchema,
    pub(crate) query: String,
    pub(crate) params: QueryParams,
    /// Binary parameters (packed vectors).
    pub(crate) blobs: super::expr::Blobs,
    pub(crate) sort: Option<(&'static str, SortOrder)>,
    pub(crate) load: Load,
    pub(crate) batch: usize,
    /// At most this many results (a KNN's `k`): `all` then reads them with
    /// one `FT.SEARCH` instead of a cursor.
    pub(crate) max_results: Option<u64>,
    /// A computed attribute (a geo distance): only an aggregate computes it,
    /// so every read of the plan goes through the cursor.
    pub(crate) apply: Option<Apply>,
    /// The query expands a pattern into terms: it is profiled first
    /// (`crate::query::expansion`).
    pub(crate) expands: bool,
}

/// `LOAD 1 @load APPLY expr AS alias`, before sorting.
#[derive(Debug, Clone)]
#[doc(hidden)]
pub struct Apply {
    pub(crate) load: &'static str,
    pub(crate) expr: String,
    pub(crate) alias: &'static str,
}

/// Appended to the alias of a projected JSON attribute that the query also
/// sorts by (see [`Plan::sorted_projection`]).
const VALUE_ALIAS: &str = "__om_value";

impl Plan {
    /// The projected JSON attribute the query also sorts by. The server
    /// answers such an attribute with its sort key (`9.22337203685e+18` for
    /// `i64::MAX`, a bare string where a JSON array is due) instead of the
    /// stored value, so it is loaded under another alias and put back under
    /// its name ([`Plan::restore`]).
    pub(crate) fn sorted_projection(&self) -> Option<&'static str> {
        let (sort, _) = self.sort?;
        match &self.load {
            Load::Fields {
                storage: Storage::Json,
                fields,
            } if fields.iter().any(|f| f.name == sort) => Some(sort),
            _ => None,
        }
    }

    /// The alias a projected attribute is loaded under.
    fn alias(&self, name: &'static str) -> std::borrow::Cow<'static, str> {
        if self.sorted_projection() == Some(name) {
            std::borrow::Cow::Owned(format!("{name}{VALUE_ALIAS}"))
        } else {
            std::borrow::Cow::Borrowed(name)
        }
    }

    /// Puts the stored value of [`Plan::sorted_projection`] back under its
    /// name in a result row, in place of the server's sort key.
    pub(crate) fn restore(&self, row: &mut Row) {
        let Some(name) = self.sorted_projection() else {
            return;
        };
        let alias = format!("{name}{VALUE_ALIAS}");
        let is = |v: &Value, n: &str| crate::storage::bytes_of(v) == Some(n.as_bytes());
        match &mut row.attrs {
            Value::Array(items) => {
                let mut pairs: Vec<(Value, Value)> = Vec::with_capacity(items.len() / 2);
                let mut it = std::mem::take(items).into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs.retain(|(k, _)| !is(k, name));
                for (k, _) in &mut pairs {
                    if is(k, &alias) {
                        *k = Value::BulkString(name.as_bytes().to_vec());
                    }
                }
                *items = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            }
            Value::Map(pairs) => {
                pairs.retain(|(k, _)| !is(k, name));
                for (k, _) in pairs.iter_mut() {
                    if is(k, &alias) {
                        *k = Value::BulkString(name.as_bytes().to_vec());
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether the index may hold documents of another model whose key prefix
    /// nests in this model's: every result must then pass
    /// [`KeyLayout::owns_key`](crate::KeyLayout::owns_key), so pages, first
    /// results and counts are read through the cursor and filtered on the way,
    /// never taken from `FT.SEARCH`'s numbers.
    pub(crate) fn scoped(&self) -> bool {
        !self.layout.nested_models().is_empty()
    }

    /// Whether results must be read through the aggregate cursor: a scoped
    /// plan (see [`Plan::scoped`]) or a computed attribute.
    pub(crate) fn needs_aggregate(&self) -> bool {
        self.scoped() || self.apply.is_some()
    }

    fn dialect(&self) -> &'static str {
        // DIALECT 3 returns JSON values as arrays, so that a string and a
        // number stay distinguishable; it is DIALECT 2 plus that.
        match self.load {
            Load::Fields {
                storage: Storage::Json,
                ..
            }
            | Load::Guards {
                storage: Storage::Json,
                ..
            } => "3",
            _ => "2",
        }
    }

    fn tail(&self, cmd: &mut Cmd) {
        let count = self.params.len() + self.blobs.len();
        if count > 0 {
            cmd.arg("PARAMS").arg(count * 2);
            for (name, value) in &self.params {
                cmd.arg(name.as_ref()).arg(value);
            }
            for (name, value) in &self.blobs {
                cmd.arg(name.as_ref()).arg(value.as_slice());
            }
        }
        cmd.arg("DIALECT").arg(self.dialect());
    }

    /// `FT.SEARCH` of one page (`limit` 0 counts).
    ///
    /// Values are read as stored, never as the index renders them: the server
    /// formats a NUMERIC attribute named in `RETURN` or `LOAD` with 12
    /// significant digits (`1795849964676585473` comes back as
    /// `1795849964676585472`, `i64::MAX` as `9.22337203685e+18`). So hash
    /// documents are returned whole (no `RETURN`, `LOAD *`), and JSON values
    /// are read by path as JSON (`$`, or `DIALECT 3` arrays).
    pub(crate) fn search(&self, offset: u64, limit: u64) -> Cmd {
        let mut cmd = redis::cmd("FT.SEARCH");
        cmd.arg(self.index).arg(&self.query);
        match &self.load {
            // Guards are read through the cursor (`update`); a page of them
            // would be whole documents.
            Load::Document { .. } | Load::Guards { .. } => {}
            Load::Key => {
                cmd.arg("NOCONTENT");
            }
            // A numeric attribute would be rounded: read the whole hash.
            Load::Fields {
                storage: Storage::Hash,
                fields,
            } if fields.iter().any(|f| f.numeric) => {}
            Load::Fields { storage, fields } => {
                cmd.arg("RETURN");
                match storage {
                    Storage::Hash => {
                        cmd.arg(fields.len());
                        for field in fields {
                            cmd.arg(field.name);
                        }
                    }
                    Storage::Json => {
                        cmd.arg(fields.len() * 3);
                        for field in fields {
                            cmd.arg(field.source)
                                .arg("AS")
                                .arg(self.alias(field.name).as_ref());
                        }
                    }
                }
            }
        }
        if limit > 0 {
            if let Some((field, order)) = self.sort {
                cmd.arg("SORTBY").arg(field).arg(order.as_str());
            }
        }
        cmd.arg("LIMIT").arg(offset).arg(limit);
        self.tail(&mut cmd);
        cmd
    }

    /// `FT.PROFILE … SEARCH LIMITED QUERY`: the query counted only, with the
    /// server's report of each of its iterators (`crate::query::expansion`).
    pub(crate) fn profile(&self) -> Cmd {
        let mut cmd = redis::cmd("FT.PROFILE");
        cmd.arg(self.index)
            .arg("SEARCH")
            .arg("LIMITED")
            .arg("QUERY")
            .arg(&self.query)
            .arg("LIMIT")
            .arg(0)
            .arg(0);
        self.tail(&mut cmd);
        cmd
    }

    /// `FT.AGGREGATE … WITHCURSOR`: every match, sorted among at most `max`
    /// results when the query sorts, `count` in the first reply, the cursor
    /// kept `idle` between reads.
    pub(crate) fn aggregate(&self, max: u64, count: usize, idle: std::time::Duration) -> Cmd {
        let mut cmd = redis::cmd("FT.AGGREGATE");
        cmd.arg(self.index).arg(&self.query);
        if let Some(apply) = &self.apply {
            let mut load = String::new();
            super::expr::push_attr(&mut load, apply.load);
            cmd.arg("LOAD")
                .arg(1)
                .arg(load)
                .arg("APPLY")
                .arg(&apply.expr)
                .arg("AS")
                .arg(apply.alias);
        }
        // Sorted before loading: after `LOAD *` the attribute would be the
        // stored text and sort as text (`19` after `189`).
        if let Some((field, order)) = self.sort {
            // Without MAX, an aggregate sorts only the first 10 results; a MAX
            // far above the matches makes the server allocate for all of it.
            cmd.arg("SORTBY")
                .arg(2)
                .arg(format!("@{field}"))
                .arg(order.as_str())
                .arg("MAX")
                .arg(max.max(1));
        }
        match &self.load {
            // `LOAD *` reads the hash as stored (see `search`); the key needs a
            // `LOAD` of its own.
            Load::Document {
                storage: Storage::Hash,
            }
            | Load::Fields {
                storage: Storage::Hash,
                ..
            }
            | Load::Guards {
                storage: Storage::Hash,
                ..
            } => {
                cmd.arg("LOAD").arg("*").arg("LOAD").arg(1).arg("@__key");
            }
            Load::Guards {
                storage: Storage::Json,
                paths,
            } => {
                cmd.arg("LOAD").arg(1 + paths.len() * 3).arg("@__key");
                for (i, path) in paths.iter().enumerate() {
                    cmd.arg(path).arg("AS").arg(guard_alias(i));
                }
            }
            Load::Document {
                storage: Storage::Json,
            } => {
                cmd.arg("LOAD").arg(2).arg("@__key").arg("$");
            }
            Load::Fields {
                storage: Storage::Json,
                fields,
            } => {
                cmd.arg("LOAD").arg(1 + fields.len() * 3).arg("@__key");
                for field in fields {
                    cmd.arg(field.source)
                        .arg("AS")
                        .arg(self.alias(field.name).as_ref());
                }
            }
            Load::Key => {
                cmd.arg("LOAD").arg(1).arg("@__key");
            }
        }
        super::cursor::with_cursor(&mut cmd, count, idle);
        self.tail(&mut cmd);
        cmd
    }

    pub(crate) fn read_cursor(&self, cursor: u64, count: usize) -> Cmd {
        super::cursor::read(self.index, cursor, count)
    }

    pub(crate) fn delete_cursor(&self, cursor: u64) -> Cmd {
        super::cursor::delete(self.index, cursor)
    }

    /// A server error, with the model, index and query it concerns.
    pub(crate) fn error(&self, err: redis::RedisError) -> Error {
        match Error::from_redis(err) {
            Error::Redis(err) if crate::error::is_unknown_index(&err) => Error::IndexMissing {
                model: self.model.to_owned(),
                index: self.index.to_owned(),
            },
            Error::Redis(err)
                if crate::error::server_message(&err).contains("Too many cursors") =>
            {
                Error::Query {
                    query: shorten(&self.query, 500),
                    message: format!(
                        "{}: the index's cursors (128) are all held, by reads that were \
                         cancelled (a dropped future or stream) or timed out; each ends within \
                         {} s (MAXIDLE): retry shortly, and give reads a deadline through the \
                         connection's response timeout rather than by dropping them",
                        crate::error::server_message(&err),
                        super::cursor::READ_IDLE.as_secs()
                    ),
                }
            }
            Error::Redis(err) if is_lost_cursor(&err) => Error::Query {
                query: shorten(&self.query, 500),
                message: format!(
                    "the server dropped this read's cursor ({}): it was idle longer than its \
                     MAXIDLE ({} s between two batches of a stream, {} s for the reads \
                     redis-om drives itself), or was deleted; read again (a stream's consumer \
                     must take its next batch sooner, or use a smaller batch_size)",
                    crate::error::server_message(&err),
                    super::cursor::STREAM_IDLE.as_secs(),
                    super::cursor::READ_IDLE.as_secs()
                ),
            },
            // A cluster node unavailable, or a slot map still settling
            // (`TRYAGAIN`), stays a connection error the caller may retry.
            Error::Redis(err) if err.code().is_some() && !crate::error::is_unavailable(&err) => {
                Error::Query {
                    query: shorten(&self.query, 500),
                    message: shorten(&crate::error::server_message(&err), 500),
                }
            }
            other => other,
        }
    }
}

/// `Cursor not found`: the cursor ended (idle past `MAXIDLE`) before this read.
fn is_lost_cursor(err: &redis::RedisError) -> bool {
    crate::error::server_message(err)
        .to_ascii_lowercase()
        .contains("cursor not found")
}

/// `text` cut to about `max` bytes (at a character boundary), saying how long
/// it was: a rejected query can be megabytes long, and so can the server's
/// message that quotes it.
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// A document that vanished (expired or deleted) between matching and loading.
pub(super) fn vanished(attrs: &Value) -> bool {
    // `__key` and computed distances are the search's, not the document's.
    let is_key = |name: &Value| {
        matches!(
            crate::storage::bytes_of(name),
            Some(b"__key" | b"__knn_distance" | b"__geo_distance")
        )
    };
    match attrs {
        Value::Array(items) => items.iter().step_by(2).all(is_key),
        Value::Map(pairs) => pairs.iter().all(|(k, _)| is_key(k)),
        _ => true,
    }
}

/// What the query runners need from [`Query`] and [`Select`].
pub trait Search: Sync {
    /// The model searched.
    type Model: crate::model::Model;
    type Item: Send;
    fn plan(&self) -> Result<Option<Plan>>;
    /// The plan of [`delete`](crate::AsyncQuery::delete): keys only, unsorted.
    fn key_plan(&self) -> Result<Option<Plan>>;
    /// The model's index (alias) name.
    fn index(&self) -> &'static str;
    fn decode(&self, row: Row) -> Result<Option<Self::Item>>;
}
