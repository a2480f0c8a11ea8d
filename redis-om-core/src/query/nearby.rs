//! Distances to a point: [`ByDistance`], the matches of a query that have a
//! point in a geo field, each with its distance in meters from a center,
//! nearest first (`FT.AGGREGATE … APPLY geodistance(@f, lon, lat)`).

use super::builder::Query;
use super::field::{GeoField, ProjectedField};
use super::plan::{vanished, Apply, Plan, Search, SortOrder};
use super::projection::{Projection, Select};
use super::reply::Row;
use crate::error::Result;
use crate::geo::Coordinates;
use crate::model::Model;

/// The attribute the distance is computed as.
pub(crate) const DISTANCE: &str = "__geo_distance";

/// Every point on Earth is within this many kilometers of any other (half
/// the circumference is 20,038 km): a radius that keeps only documents with
/// a point, so that counts agree with the rows.
const EVERYWHERE_KM: &str = "20100";

/// The matches of a query that have a point in a geo field, each with its
/// distance in meters from a center ([`Query::by_distance`],
/// [`Select::by_distance`]), nearest first unless the query sorts otherwise.
#[must_use = "a query does nothing until it is run (`all`, `first`, `count`, `page`, ...)"]
pub struct ByDistance<Q> {
    inner: Q,
    field: &'static str,
    center: Coordinates,
}

impl<Q: std::fmt::Debug> std::fmt::Debug for ByDistance<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByDistance")
            .field("query", &self.inner)
            .field("field", &self.field)
            .field("center", &self.center)
            .finish()
    }
}

impl<M: Model> Query<M> {
    /// The matches that have a point in the geo field `field` picks, each
    /// with its distance in meters from `center`, nearest first. Documents
    /// without a point are left out. Read through an aggregate
    /// (`APPLY geodistance(..)`), so every method works (`all`, `first`,
    /// `page` with its total, `count`, `stream`); combine with
    /// [`within`](GeoField::within) to keep only the nearby ones.
    ///
    /// ```
    /// # use redis_om::prelude::*;
    /// use redis_om::{Coordinates, GeoUnit};
    /// #[derive(HashModel, Debug)]
    /// struct Store {
    ///     #[redis_om(primary_key)]
    ///     pk: Option<String>,
    ///     #[redis_om(index)]
    ///     location: Option<Coordinates>,
    /// }
    /// let here = Coordinates::new(2.3522, 48.8566)?;
    /// let nearest = Store::find(|s| s.location.within(here, 5.0, GeoUnit::Kilometers))
    ///     .by_distance(|s| s.location, here);
    /// # async fn run(nearest: redis_om::ByDistance<redis_om::Query<Store>>) -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// let stores: Vec<(Store, f64)> = nearest.page(&mut con, 0, 10).await?.items; // meters
    /// # Ok(()) }
    /// # Ok::<(), redis_om::Error>(())
    /// ```
    pub fn by_distance<T>(
        self,
        field: impl FnOnce(&M::Fields) -> GeoField<M, T>,
        center: Coordinates,
    ) -> ByDistance<Query<M>> {
        let field = field(&M::fields());
        ByDistance {
            inner: self,
            field: ProjectedField::<M>::name(&field),
            center,
        }
    }
}

impl<M: Model, P: Projection<M>> Select<M, P> {
    /// [`Query::by_distance`] returning the selected fields with each distance.
    pub fn by_distance<T>(
        self,
        field: impl FnOnce(&M::Fields) -> GeoField<M, T>,
        center: Coordinates,
    ) -> ByDistance<Select<M, P>> {
        let field = field(&M::fields());
        ByDistance {
            inner: self,
            field: ProjectedField::<M>::name(&field),
            center,
        }
    }
}

impl<Q: Search> ByDistance<Q> {
    /// The inner plan, narrowed to documents with a point (a radius that
    /// covers the Earth), and with the distance when `apply`.
    fn wrap(&self, plan: Option<Plan>, apply: bool) -> Result<Option<Plan>> {
        let Some(mut plan) = plan else {
            return Ok(None);
        };
        let mut number = ryu::Buffer::new();
        let lon = number.format_finite(self.center.longitude()).to_owned();
        let lat = number.format_finite(self.center.latitude()).to_owned();
        let mut query = String::with_capacity(plan.query.len() + 48);
        if plan.query != "*" {
            query.push('(');
            query.push_str(&plan.query);
            query.push_str(") ");
        }
        super::expr::push_attr(&mut query, self.field);
        query.push_str(":[$gd_lon $gd_lat $gd_everywhere km]");
        plan.query = query;
        plan.params.push(("gd_lon".into(), lon.clone()));
        plan.params.push(("gd_lat".into(), lat.clone()));
        plan.params
            .push(("gd_everywhere".into(), EVERYWHERE_KM.to_owned()));
        if apply {
            let mut attr = String::new();
            super::expr::push_attr(&mut attr, self.field);
            plan.apply = Some(Apply {
                load: self.field,
                expr: format!("geodistance({attr}, {lon}, {lat})"),
                alias: DISTANCE,
            });
            if plan.sort.is_none() {
                plan.sort = Some((DISTANCE, SortOrder::Asc));
            }
        }
        Ok(Some(plan))
    }
}

impl<Q: Search> Search for ByDistance<Q>
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
        if vanished(&row.attrs) {
            return Ok(None);
        }
        let distance = row.distance(DISTANCE)?;
        Ok(self.inner.decode(row)?.map(|item| (item, distance)))
    }
}
