//! The typed `find` query builder: [`Expr`] filters built from the field
//! handles the derives generate, a [`Query`] (sort, projection, batch size),
//! and its execution on sync or async connections ([`AsyncQuery`], [`SyncQuery`]).
//!
//! Reading every match goes through `FT.AGGREGATE … WITHCURSOR`, so `all()` and
//! `stream()` are not capped by RediSearch's `MAXSEARCHRESULTS` (10,000 on Redis
//! Stack); single pages, `first()` and `count()` are one `FT.SEARCH`.

mod expr;
mod field;
mod reply;
mod run;

use std::marker::PhantomData;

use redis::{Cmd, Value};

pub use expr::{Expr, QueryParams};
pub use field::{
    BoolField, FieldDecoder, FieldHandle, FieldSpec, FullText, NumericField, NumericOnly,
    ProjectedField, SortableField, TagArg, TagField, TextField, MAX_TAG_BYTES, MAX_TEXT_WORDS,
    MAX_WORD_BYTES, MIN_PATTERN_CHARS,
};
pub use run::{AsyncQuery, QueryIter, SyncQuery};

pub(crate) use expr::push_attr;
#[cfg(feature = "fuzzing")]
pub(crate) use field::words;

/// For the fuzz entry points.
#[cfg(feature = "fuzzing")]
pub(crate) fn reply_search(value: Value) -> Result<u64> {
    reply::search(value).map(|(total, _)| total)
}

/// For the fuzz entry points.
#[cfg(feature = "fuzzing")]
pub(crate) fn reply_cursor(value: Value) -> Result<u64> {
    reply::cursor(value).map(|(_, rows, id)| {
        for row in &rows {
            let _ = row.key();
        }
        id
    })
}

use crate::error::{Error, Result};
use crate::model::{Model, Storage, Stored};
use expr::{Node, Rendered};
use reply::Row;

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
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        }
    }
}

/// How many results `FT.SEARCH` can page through (`MAXSEARCHRESULTS` on Redis
/// Stack); pages beyond it are read with `FT.AGGREGATE`.
const SEARCH_WINDOW: u64 = 10_000;
const DEFAULT_BATCH: usize = 1_000;

/// A search over the documents of model `M`, made by
/// [`Model::find`] or [`Model::find_all`]. Run it with the methods of
/// [`AsyncQuery`] or [`SyncQuery`].
///
/// ```no_run
/// use redis_om::prelude::*;
/// # #[derive(HashModel)]
/// # struct User { pk: Option<String>, #[redis_om(index, sortable)] age: u32, #[redis_om(index)] email: String }
/// # async fn run() -> redis_om::Result<()> {
/// # let mut con = redis_om::connect().await?;
/// let page = User::find(|u| u.age.ge(18) & u.email.ends_with("@example.com"))
///     .sort_by(|u| u.age, SortOrder::Desc)
///     .page(&mut con, 0, 20)
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a query does nothing until it is run (`all`, `first`, `count`, `page`, ...)"]
pub struct Query<M> {
    filter: Node,
    sort: Option<(&'static str, SortOrder)>,
    batch: usize,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Query {
            filter: self.filter.clone(),
            sort: self.sort,
            batch: self.batch,
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Query<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("filter", &Expr::<M>::new(self.filter.clone()))
            .field("sort", &self.sort)
            .finish()
    }
}

impl<M: Model> Query<M> {
    /// A query for the documents that match `filter`.
    pub fn new(filter: Expr<M>) -> Self {
        Query {
            filter: filter.node,
            sort: None,
            batch: DEFAULT_BATCH,
            _model: PhantomData,
        }
    }

    /// Narrows the query: documents must also match this condition.
    pub fn filter(mut self, filter: impl FnOnce(&M::Fields) -> Expr<M>) -> Self {
        self.filter = Node::and(self.filter, filter(&M::fields()).node);
        self
    }

    /// Sorts the results by an indexed field (a field that is not indexed
    /// does not compile). `#[redis_om(sortable)]` makes sorting faster; it is
    /// not required. Strings sort by their indexed form (lowercased unless
    /// `case_sensitive`).
    ///
    /// Reading every match sorted (`all`, `stream`) first counts the matches
    /// and sorts that many plus an eighth (RediSearch must be told how many to
    /// sort); documents added beyond that while it reads are left out.
    pub fn sort_by<F: SortableField<M>>(
        mut self,
        field: impl FnOnce(&M::Fields) -> F,
        order: SortOrder,
    ) -> Self {
        self.sort = Some((field(&M::fields()).sort_name(), order));
        self
    }

    /// How many documents each round trip of `all`, `stream` and `delete`
    /// fetches (default 1,000).
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Returns only the chosen indexed fields, decoded into their types: a
    /// single handle gives its value, a tuple of handles a tuple of values.
    ///
    /// ```no_run
    /// # use redis_om::prelude::*;
    /// # #[derive(HashModel)]
    /// # struct User { pk: Option<String>, #[redis_om(index)] name: String, #[redis_om(index)] age: u32 }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect().await?;
    /// let names: Vec<(String, u32)> = User::find_all()
    ///     .select(|u| (u.name, u.age))
    ///     .all(&mut con)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn select<P: Projection<M>>(self, fields: impl FnOnce(&M::Fields) -> P) -> Select<M, P> {
        let projection = fields(&M::fields());
        Select {
            query: self,
            projection,
        }
    }

    /// The query string and parameters that will be sent.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that cannot be queried.
    pub fn to_query(&self) -> Result<(String, QueryParams)> {
        match self.filter.render().map_err(Error::InvalidArgument)? {
            Rendered::Query { text, params } => Ok((text, params)),
            Rendered::Nothing => Ok((String::new(), Vec::new())),
        }
    }

    fn plan_with(&self, load: Load) -> Result<Option<Plan>> {
        let (query, params) = match self.filter.render().map_err(Error::InvalidArgument)? {
            Rendered::Query { text, params } => (text, params),
            Rendered::Nothing => return Ok(None),
        };
        Ok(Some(Plan {
            index: M::key_layout().index_name(),
            layout: M::key_layout(),
            model: std::any::type_name::<M>(),
            schema: M::index_schema,
            query,
            params,
            sort: self.sort,
            load,
            batch: self.batch,
        }))
    }
}

/// One page of results ([`AsyncQuery::page`]) and the total number of
/// matches, for a paginated API. It dereferences to a slice of the items and
/// compares equal to a `Vec` of them.
///
/// ```
/// let page = redis_om_core::Page { items: vec!["a", "b"], total: 40 };
/// assert_eq!(page.len(), 2);
/// assert_eq!(page, vec!["a", "b"]);
/// assert_eq!(page.pages(10), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page<T> {
    /// The matches on this page, in order.
    pub items: Vec<T>,
    /// How many documents match the query in all (on every page).
    pub total: u64,
}

impl<T> Page<T> {
    /// How many pages of `per_page` items the matches fill.
    pub fn pages(&self, per_page: u64) -> u64 {
        self.total.div_ceil(per_page.max(1))
    }
}

impl<T> std::ops::Deref for Page<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for Page<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.items == *other
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Page<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// A query that returns chosen fields: [`Query::select`].
#[must_use = "a query does nothing until it is run (`all`, `first`, `count`, `page`, ...)"]
pub struct Select<M, P> {
    query: Query<M>,
    projection: P,
}

impl<M, P: std::fmt::Debug> std::fmt::Debug for Select<M, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("query", &self.query)
            .field("projection", &self.projection)
            .finish()
    }
}

/// Fields chosen by [`Query::select`]: a field handle, or a tuple of up to 8 of them.
pub trait Projection<M> {
    /// What one result decodes to.
    type Output;
    /// The attributes to load.
    #[doc(hidden)]
    fn fields(&self, out: &mut Vec<ProjectedAttr>);
    /// Decodes one result.
    #[doc(hidden)]
    fn decode(&self, key: &str, attrs: &Value, storage: Storage) -> Result<Self::Output>;
}

fn project<M, F: ProjectedField<M>>(
    field: &F,
    key: &str,
    attrs: &Value,
    _storage: Storage,
) -> Result<F::Value> {
    field
        .decode(reply::attr(attrs, field.name()))
        .map_err(|reason| Error::decode(key, Some(field.name()), reason))
}

macro_rules! single_projection {
    ($($handle:ident),*) => {$(
        impl<M, T, const S: bool> Projection<M> for $handle<M, T, S> {
            type Output = T;
            fn fields(&self, out: &mut Vec<ProjectedAttr>) {
                out.push(ProjectedAttr {
                    source: ProjectedField::<M>::source(self),
                    name: ProjectedField::<M>::name(self),
                    numeric: ProjectedField::<M>::numeric(self),
                });
            }
            fn decode(&self, key: &str, attrs: &Value, storage: Storage) -> Result<T> {
                project::<M, _>(self, key, attrs, storage)
            }
        }
    )*};
}
single_projection!(TagField, NumericField, BoolField, TextField);

macro_rules! tuple_projection {
    ($($p:ident $i:tt),*) => {
        impl<M, $($p: Projection<M>),*> Projection<M> for ($($p,)*) {
            type Output = ($($p::Output,)*);
            fn fields(&self, out: &mut Vec<ProjectedAttr>) {
                $( self.$i.fields(out); )*
            }
            fn decode(&self, key: &str, attrs: &Value, storage: Storage) -> Result<Self::Output> {
                Ok(($( self.$i.decode(key, attrs, storage)?, )*))
            }
        }
    };
}
tuple_projection!(A 0);
tuple_projection!(A 0, B 1);
tuple_projection!(A 0, B 1, C 2);
tuple_projection!(A 0, B 1, C 2, D 3);
tuple_projection!(A 0, B 1, C 2, D 3, E 4);
tuple_projection!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_projection!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_projection!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// One attribute chosen by [`Query::select`].
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct ProjectedAttr {
    /// The hash field or JSON path.
    pub source: &'static str,
    /// The attribute name (the alias in results).
    pub name: &'static str,
    /// Indexed as NUMERIC (see [`ProjectedField::numeric`]).
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
    pub(crate) sort: Option<(&'static str, SortOrder)>,
    pub(crate) load: Load,
    pub(crate) batch: usize,
}

impl Plan {
    /// Whether the index may hold documents of another model whose key prefix
    /// nests in this model's: every result must then pass
    /// [`KeyLayout::owns_key`](crate::KeyLayout::owns_key), so pages, first
    /// results and counts are read through the cursor and filtered on the way,
    /// never taken from `FT.SEARCH`'s numbers.
    pub(crate) fn scoped(&self) -> bool {
        !self.layout.nested_models().is_empty()
    }

    fn dialect(&self) -> &'static str {
        // DIALECT 3 returns JSON values as arrays, so that a string and a
        // number stay distinguishable; it is DIALECT 2 plus that.
        match self.load {
            Load::Fields {
                storage: Storage::Json,
                ..
            } => "3",
            _ => "2",
        }
    }

    fn tail(&self, cmd: &mut Cmd) {
        if !self.params.is_empty() {
            cmd.arg("PARAMS").arg(self.params.len() * 2);
            for (name, value) in &self.params {
                cmd.arg(name.as_ref()).arg(value);
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
            Load::Document { .. } => {}
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
                            cmd.arg(field.source).arg("AS").arg(field.name);
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

    /// `FT.AGGREGATE … WITHCURSOR`: every match, sorted among at most `max`
    /// results when the query sorts.
    pub(crate) fn aggregate(&self, max: u64) -> Cmd {
        let mut cmd = redis::cmd("FT.AGGREGATE");
        cmd.arg(self.index).arg(&self.query);
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
            } => {
                cmd.arg("LOAD").arg("*").arg("LOAD").arg(1).arg("@__key");
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
                    cmd.arg(field.source).arg("AS").arg(field.name);
                }
            }
            Load::Key => {
                cmd.arg("LOAD").arg(1).arg("@__key");
            }
        }
        cmd.arg("WITHCURSOR").arg("COUNT").arg(self.batch);
        self.tail(&mut cmd);
        cmd
    }

    pub(crate) fn read_cursor(&self, cursor: u64) -> Cmd {
        let mut cmd = redis::cmd("FT.CURSOR");
        cmd.arg("READ")
            .arg(self.index)
            .arg(cursor)
            .arg("COUNT")
            .arg(self.batch);
        cmd
    }

    pub(crate) fn delete_cursor(&self, cursor: u64) -> Cmd {
        let mut cmd = redis::cmd("FT.CURSOR");
        cmd.arg("DEL").arg(self.index).arg(cursor);
        cmd
    }

    /// A server error, with the model, index and query it concerns.
    pub(crate) fn error(&self, err: redis::RedisError) -> Error {
        match Error::from_redis(err) {
            Error::Redis(err) if crate::error::is_unknown_index(&err) => Error::IndexMissing {
                model: self.model.to_owned(),
                index: self.index.to_owned(),
            },
            Error::Redis(err) if err.code().is_some() => Error::Query {
                query: shorten(&self.query, 500),
                message: shorten(&crate::error::server_message(&err), 500),
            },
            other => other,
        }
    }
}

/// `text` cut to about `max` bytes (at a character boundary), saying how long
/// it was: a rejected query can be megabytes long, and so can the server's
/// message that quotes it.
fn shorten(text: &str, max: usize) -> String {
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
fn vanished(attrs: &Value) -> bool {
    let is_key = |name: &Value| crate::model::bytes_of(name) == Some(&b"__key"[..]);
    match attrs {
        Value::Array(items) => items.iter().step_by(2).all(is_key),
        Value::Map(pairs) => pairs.iter().all(|(k, _)| is_key(k)),
        _ => true,
    }
}

mod sealed {
    use super::*;

    /// What the query runners need from [`Query`] and [`Select`].
    pub trait Search: Sync {
        type Item: Send;
        fn plan(&self) -> Result<Option<Plan>>;
        /// The plan of [`delete`](crate::AsyncQuery::delete): keys only, unsorted.
        fn key_plan(&self) -> Result<Option<Plan>>;
        /// The model's index (alias) name.
        fn index(&self) -> &'static str;
        fn decode(&self, row: Row) -> Result<Option<Self::Item>>;
    }
}

impl<M: Model> sealed::Search for Query<M> {
    type Item = M;

    fn plan(&self) -> Result<Option<Plan>> {
        self.plan_with(Load::Document {
            storage: M::STORAGE,
        })
    }

    fn index(&self) -> &'static str {
        M::key_layout().index_name()
    }

    fn key_plan(&self) -> Result<Option<Plan>> {
        let mut unsorted = self.clone();
        unsorted.sort = None;
        unsorted.plan_with(Load::Key)
    }

    fn decode(&self, row: Row) -> Result<Option<M>> {
        if vanished(&row.attrs) {
            return Ok(None);
        }
        let stored = match M::STORAGE {
            Storage::Hash => Stored::Hash(&row.attrs),
            Storage::Json => match row.attr("$") {
                Some(json) => Stored::Json(json),
                None => return Ok(None),
            },
        };
        // The key names errors, and holds the pk of a hash written without one.
        M::decode(&row.key(), stored).map(Some)
    }
}

impl<M: Model, P: Projection<M> + Sync> sealed::Search for Select<M, P>
where
    P::Output: Send,
{
    type Item = P::Output;

    fn plan(&self) -> Result<Option<Plan>> {
        let mut fields = Vec::new();
        self.projection.fields(&mut fields);
        self.query.plan_with(Load::Fields {
            storage: M::STORAGE,
            fields,
        })
    }

    fn key_plan(&self) -> Result<Option<Plan>> {
        sealed::Search::key_plan(&self.query)
    }

    fn index(&self) -> &'static str {
        M::key_layout().index_name()
    }

    fn decode(&self, row: Row) -> Result<Option<P::Output>> {
        if vanished(&row.attrs) {
            return Ok(None);
        }
        let key = row.key();
        self.projection
            .decode(&key, &row.attrs, M::STORAGE)
            .map(Some)
    }
}

#[cfg(test)]
mod tests;
