//! Vector search: the [`VectorField`] handle of a `#[redis_om(vector(..))]`
//! field, range conditions on it (`VECTOR_RANGE`), and [`Nearest`], the `k`
//! nearest neighbours of a vector among the documents a query matches
//! (`(filter)=>[KNN $k @field $vector AS __knn_distance]`), each with its
//! distance.

use std::marker::PhantomData;

use redis::Value;

use super::builder::Query;
use super::expr::{push_attr, Expr, Leaf, Node};
use super::field::{FieldDecoder, FieldSpec, ProjectedField};
use super::plan::{Load, Plan, ProjectedAttr, Search, SortOrder};
use super::projection::{Projection, Select};
use super::reply::{self, Row};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::storage::Storage;
use crate::vector::{check_elements, pack, VectorAlgorithm, VectorOptions, VectorValue};

/// The attribute a KNN query yields each document's distance as.
pub(crate) const DISTANCE: &str = "__knn_distance";

/// A vector field (`#[redis_om(vector(..))]`): the `k` nearest neighbours of
/// a vector ([`Query::knn`]) and vectors within a distance
/// ([`within_distance`](Self::within_distance)).
pub struct VectorField<M, T> {
    spec: FieldSpec,
    decode: FieldDecoder<T>,
    options: VectorOptions,
    _model: PhantomData<fn() -> M>,
}

impl<M, T> Clone for VectorField<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, T> Copy for VectorField<M, T> {}

impl<M, T> std::fmt::Debug for VectorField<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorField")
            .field("name", &self.spec.name)
            .field("options", &self.options)
            .finish()
    }
}

impl<M, T: VectorValue> VectorField<M, T> {
    /// Made by the derive.
    #[doc(hidden)]
    pub fn new(spec: FieldSpec, decode: FieldDecoder<T>, options: VectorOptions) -> Self {
        VectorField {
            spec,
            decode,
            options,
            _model: PhantomData,
        }
    }

    /// The field's index options (`dim`, metric, algorithm).
    pub fn options(self) -> VectorOptions {
        self.options
    }

    /// The vector is within `radius` of `vector`, in the field's distance
    /// metric (`@f:[VECTOR_RANGE $r $v]`; the vector is sent packed, as a
    /// parameter). Combines with every other condition.
    ///
    /// A vector of another length than the field's `dim`, or a radius that
    /// is negative or not finite, fails with
    /// [`Error::InvalidArgument`] when the query runs.
    pub fn within_distance(self, vector: &[T::Elem], radius: f64) -> Expr<M> {
        if let Err(reason) = self.check(vector) {
            return Expr::new(Node::Invalid(reason));
        }
        if radius.is_nan() || radius < 0.0 || radius.is_infinite() {
            return Expr::new(Node::Invalid(format!(
                "a vector range must be a finite number of at least 0, not {radius}"
            )));
        }
        Expr::new(Node::Leaf(Leaf::VectorRange {
            field: self.spec.name,
            radius,
            vector: pack(vector),
        }))
    }

    fn check(self, vector: &[T::Elem]) -> std::result::Result<(), String> {
        check_elements(vector, self.options.dim(), self.options.distance())
            .map_err(|reason| format!("the query vector for `{}`: {reason}", self.spec.name))
    }
}

impl<M, T> ProjectedField<M> for VectorField<M, T> {
    type Value = T;
    fn name(&self) -> &'static str {
        self.spec.name
    }
    fn source(&self) -> &'static str {
        self.spec.source
    }
    fn decode(&self, raw: Option<&[u8]>) -> std::result::Result<T, String> {
        (self.decode)(raw)
    }
}

impl<M, T> Projection<M> for VectorField<M, T> {
    type Output = T;
    fn fields(&self, out: &mut Vec<ProjectedAttr>) {
        out.push(ProjectedAttr {
            source: self.spec.source,
            name: self.spec.name,
            numeric: false,
        });
    }
    fn decode(&self, key: &str, attrs: &Value, _storage: Storage) -> Result<T> {
        (self.decode)(reply::attr(attrs, self.spec.name))
            .map_err(|reason| Error::decode(key, Some(self.spec.name), reason))
    }
}

/// The `k` nearest neighbours of a vector among the matches of a query
/// ([`Query::knn`], [`Select::knn`]): each result comes with its distance,
/// nearest first (unless the query sorts by a field).
///
/// Run it as any query: `all`, `first`, `page` (within the `k`), `count`
/// (at most `k`), `stream`.
#[must_use = "a query does nothing until it is run (`all`, `first`, `count`, `page`, ...)"]
pub struct Nearest<Q> {
    inner: Q,
    field: &'static str,
    vector: std::result::Result<Vec<u8>, String>,
    k: u64,
    ef_runtime: Option<u64>,
    hnsw: bool,
}

impl<Q: std::fmt::Debug> std::fmt::Debug for Nearest<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nearest")
            .field("query", &self.inner)
            .field("field", &self.field)
            .field("k", &self.k)
            .finish()
    }
}

fn nearest<Q, M, T: VectorValue>(
    inner: Q,
    field: VectorField<M, T>,
    vector: &[T::Elem],
    k: u64,
) -> Nearest<Q> {
    let vector = match field.check(vector) {
        Ok(()) if k == 0 => Err("k must be at least 1".to_owned()),
        Ok(()) => Ok(pack(vector)),
        Err(reason) => Err(reason),
    };
    Nearest {
        inner,
        field: field.spec.name,
        vector,
        k,
        ef_runtime: None,
        hnsw: field.options.algorithm() == VectorAlgorithm::Hnsw,
    }
}

impl<M: Model> Query<M> {
    /// The `k` documents nearest to `vector` in the field `field` picks, among
    /// those this query matches (a filtered KNN: `(filter)=>[KNN k @f $v]`),
    /// each returned with its distance in the field's metric, nearest first.
    ///
    /// `vector` has the field's element type and `dim` elements (else the
    /// query fails with [`Error::InvalidArgument`] when it runs); it is sent
    /// packed, as a parameter. Documents without a vector are never
    /// neighbours. On an HNSW field the neighbours are approximate (the
    /// index's `EF_RUNTIME` trades speed for recall).
    ///
    /// ```
    /// # use redis_om::prelude::*;
    /// #[derive(HashModel, Debug)]
    /// struct Doc {
    ///     #[redis_om(primary_key)]
    ///     pk: Option<String>,
    ///     #[redis_om(index)]
    ///     lang: String,
    ///     #[redis_om(vector(algorithm = "flat", dim = 3, distance = "cosine"))]
    ///     embedding: Vec<f32>,
    /// }
    /// let similar = Doc::find(|d| d.lang.eq("en")).knn(|d| d.embedding, &[0.1, 0.7, 0.2], 5);
    /// # async fn run(similar: redis_om::Nearest<redis_om::Query<Doc>>) -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let found: Vec<(Doc, f64)> = similar.all(&mut con).await?;
    /// # Ok(()) }
    /// ```
    pub fn knn<T: VectorValue>(
        self,
        field: impl FnOnce(&M::Fields) -> VectorField<M, T>,
        vector: &[T::Elem],
        k: u64,
    ) -> Nearest<Query<M>> {
        let field = field(&M::fields());
        nearest(self, field, vector, k)
    }
}

impl<M: Model, P: Projection<M>> Select<M, P> {
    /// [`Query::knn`] returning the selected fields with each distance.
    pub fn knn<T: VectorValue>(
        self,
        field: impl FnOnce(&M::Fields) -> VectorField<M, T>,
        vector: &[T::Elem],
        k: u64,
    ) -> Nearest<Select<M, P>> {
        let field = field(&M::fields());
        nearest(self, field, vector, k)
    }
}

impl<Q> Nearest<Q> {
    /// On an HNSW field: how many candidates this query examines (`EF_RUNTIME`,
    /// default the field's `ef_runtime`, else 10; at least 1): more finds more
    /// of the exact neighbours, more slowly. A FLAT field is exact and has no
    /// such option: the query then fails with [`Error::InvalidArgument`].
    pub fn ef_runtime(mut self, ef: u64) -> Self {
        self.ef_runtime = Some(ef);
        self
    }
}

impl<Q: Search> Nearest<Q> {
    fn wrap(&self, plan: Option<Plan>, sort: bool) -> Result<Option<Plan>> {
        let vector = self.vector.clone().map_err(Error::InvalidArgument)?;
        match self.ef_runtime {
            Some(_) if !self.hnsw => {
                return Err(Error::InvalidArgument(format!(
                    "ef_runtime is an option of HNSW fields; `{}` is FLAT (exact)",
                    self.field
                )))
            }
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "ef_runtime must be at least 1".to_owned(),
                ))
            }
            _ => {}
        }
        let Some(mut plan) = plan else {
            return Ok(None);
        };
        let mut query = String::with_capacity(plan.query.len() + 64);
        if plan.query == "*" {
            query.push('*');
        } else {
            query.push('(');
            query.push_str(&plan.query);
            query.push(')');
        }
        query.push_str("=>[KNN $knn_k ");
        push_attr(&mut query, self.field);
        query.push_str(" $knn_vector");
        if let Some(ef) = self.ef_runtime {
            query.push_str(" EF_RUNTIME $knn_ef");
            plan.params.push(("knn_ef".into(), ef.to_string()));
        }
        query.push_str(" AS ");
        query.push_str(DISTANCE);
        query.push(']');
        plan.query = query;
        plan.params.push(("knn_k".into(), self.k.to_string()));
        plan.max_results = Some(self.k);
        plan.blobs.push(("knn_vector".into(), vector));
        if sort && plan.sort.is_none() {
            plan.sort = Some((DISTANCE, SortOrder::Asc));
        }
        if let Load::Fields { fields, .. } = &mut plan.load {
            fields.push(ProjectedAttr {
                source: DISTANCE,
                name: DISTANCE,
                numeric: false,
            });
        }
        Ok(Some(plan))
    }
}

impl<Q: Search> Search for Nearest<Q>
where
    Q::Item: Send,
{
    type Model = Q::Model;
    type Item = (Q::Item, f64);

    fn plan(&self) -> Result<Option<Plan>> {
        self.wrap(self.inner.plan()?, true)
    }

    fn key_plan(&self) -> Result<Option<Plan>> {
        self.wrap(self.inner.key_plan()?, false)
    }

    fn index(&self) -> &'static str {
        self.inner.index()
    }

    fn decode(&self, row: Row) -> Result<Option<Self::Item>> {
        if super::plan::vanished(&row.attrs) {
            return Ok(None);
        }
        let distance = row.distance(DISTANCE)?;
        Ok(self.inner.decode(row)?.map(|item| (item, distance)))
    }
}
