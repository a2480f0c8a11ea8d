//! Projections: [`Query::select`](super::Query::select) returning chosen
//! fields decoded into their types ([`Select`], [`Projection`]).

use redis::Value;

use super::builder::Query;
use super::field::{BoolField, GeoField, NumericField, ProjectedField, TagField, TextField};
use super::plan::{vanished, Load, Plan, ProjectedAttr, Search};
use super::reply::{self, Row};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::storage::Storage;

impl<M: Model> Query<M> {
    /// Returns only the chosen indexed fields, decoded into their types: a
    /// single handle gives its value, a tuple of handles a tuple of values.
    ///
    /// ```no_run
    /// # use redis_om::prelude::*;
    /// # #[derive(HashModel)]
    /// # struct User { pk: Option<String>, #[redis_om(index)] name: String, #[redis_om(index)] age: u32 }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
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
}

/// A query that returns chosen fields: [`Query::select`].
#[must_use = "a query does nothing until it is run (`all`, `first`, `count`, `page`, ...)"]
pub struct Select<M, P> {
    pub(super) query: Query<M>,
    pub(super) projection: P,
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
single_projection!(TagField, NumericField, BoolField, TextField, GeoField);

impl<M, H: Projection<M>, const A: bool, const B: bool> Projection<M>
    for super::field::Absent<M, H, A, B>
{
    type Output = H::Output;
    fn fields(&self, out: &mut Vec<ProjectedAttr>) {
        (**self).fields(out)
    }
    fn decode(&self, key: &str, attrs: &Value, storage: Storage) -> Result<H::Output> {
        (**self).decode(key, attrs, storage)
    }
}

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

impl<M: Model, P: Projection<M> + Sync> Search for Select<M, P>
where
    P::Output: Send,
{
    type Model = M;
    type Item = P::Output;

    fn plan(&self) -> Result<Option<Plan>> {
        let mut fields = Vec::new();
        self.projection.fields(&mut fields);
        // The primary key too: every document has it, so a row without any
        // attribute is a document that vanished, not one whose selected
        // fields are all missing (which reads as their missing values).
        let (name, source) = M::PK_ATTR;
        if !fields.iter().any(|f| f.name == name) {
            fields.push(ProjectedAttr {
                source,
                name,
                numeric: false,
            });
        }
        self.query.plan_with(Load::Fields {
            storage: M::STORAGE,
            fields,
        })
    }

    fn key_plan(&self) -> Result<Option<Plan>> {
        Search::key_plan(&self.query)
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
