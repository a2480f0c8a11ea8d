//! The query builder: [`Query`] (filter, sort, batch size), the [`Find`]
//! entry points every model gets, and [`Page`].

use std::marker::PhantomData;

use super::expr::{Expr, Node, QueryParams, Rendered};
use super::field::SortableField;
use super::plan::{vanished, Load, Plan, Search, SortOrder};
use super::reply::Row;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::storage::{Storage, Stored};

const DEFAULT_BATCH: usize = 1_000;

/// The entry points of queries, for every [`Model`]: `User::find(|u| …)` and
/// `User::find_all()`. In the prelude, as diesel's `QueryDsl`.
pub trait Find: Model {
    /// A query for the documents that match `filter`, written with the typed
    /// field handles: a misspelled or non-indexed field does not compile.
    ///
    /// ```no_run
    /// use redis_om::prelude::*;
    ///
    /// #[derive(HashModel)]
    /// struct User {
    ///     pk: Option<String>,
    ///     #[redis_om(index)]
    ///     age: u32,
    ///     #[redis_om(index)]
    ///     email: String,
    /// }
    ///
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let adults = User::find(|u| u.age.ge(18) & !u.email.ends_with("@test.com"))
    ///     .all(&mut con)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    fn find(filter: impl FnOnce(&Self::Fields) -> Expr<Self>) -> Query<Self> {
        Query::new(filter(&Self::fields()))
    }

    /// A query for every document of the model (`*`).
    fn find_all() -> Query<Self> {
        Query::new(Expr::all())
    }
}

impl<M: Model> Find for M {}

/// A search over the documents of model `M`, made by
/// [`Find::find`] or [`Find::find_all`]. Run it with the methods of
/// [`AsyncQuery`](super::AsyncQuery) or [`SyncQuery`](super::SyncQuery).
///
/// ```no_run
/// use redis_om::prelude::*;
/// # #[derive(HashModel)]
/// # struct User { pk: Option<String>, #[redis_om(index, sortable)] age: u32, #[redis_om(index)] email: String }
/// # async fn run() -> redis_om::Result<()> {
/// # let mut con = redis_om::connect(redis_om::url()).await?;
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
    ///
    /// One key: a search sorts by one field, so calling it again replaces
    /// the first. On a cluster without a search coordinator the field must
    /// be `sortable` (see README, "Redis Cluster").
    pub fn sort_by<F: SortableField<M>>(
        mut self,
        field: impl FnOnce(&M::Fields) -> F,
        order: SortOrder,
    ) -> Self {
        self.sort = Some((field(&M::fields()).sort_name(), order));
        self
    }

    /// The most documents each round trip of `all`, `stream`, `delete` and
    /// `update` fetches (default and maximum 1,000; larger values are
    /// capped). Round trips also stay within about 4 MiB of documents,
    /// whatever this says (README, "Connecting").
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The query string and parameters that will be sent.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that cannot be queried.
    pub fn to_query(&self) -> Result<(String, QueryParams)> {
        match self.filter.render().map_err(Error::InvalidArgument)? {
            Rendered::Query { text, params, .. } => Ok((text, params)),
            Rendered::Nothing => Ok((String::new(), Vec::new())),
        }
    }

    pub(super) fn plan_with(&self, load: Load) -> Result<Option<Plan>> {
        let expands = self.filter.expands();
        let (query, params, blobs) = match self.filter.render().map_err(Error::InvalidArgument)? {
            Rendered::Query {
                text,
                params,
                blobs,
            } => (text, params, blobs),
            Rendered::Nothing => return Ok(None),
        };
        Ok(Some(Plan {
            index: M::key_layout().index_name(),
            layout: M::key_layout(),
            model: std::any::type_name::<M>(),
            schema: M::index_schema,
            query,
            params,
            blobs,
            sort: self.sort,
            load,
            batch: self.batch,
            max_results: None,
            apply: None,
            expands,
        }))
    }
}

/// One page of results ([`AsyncQuery::page`](super::AsyncQuery::page)) and the total number of
/// matches, for a paginated API. It dereferences to a slice of the items and
/// compares equal to a `Vec` of them.
///
/// ```
/// let page = redis_om::Page { items: vec!["a", "b"], total: 40 };
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

impl<M: Model> Search for Query<M> {
    type Model = M;
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
