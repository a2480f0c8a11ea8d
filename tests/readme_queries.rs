//! The README's Geo, Vector search and Aggregations examples, as written there
//! (inside functions, with the models they assume), so that they keep
//! compiling, and run once against the server.

mod common;

use redis_om::prelude::*;
use redis_om::{Coordinates, GeoUnit};

#[derive(HashModel, Debug)]
#[redis_om(prefix = "ReadmeStore")]
struct Store {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    location: Option<Coordinates>,
}

#[derive(HashModel, Debug)]
#[redis_om(prefix = "ReadmeDoc")]
struct Doc {
    pk: Option<String>,
    #[redis_om(index)]
    lang: String,
    #[redis_om(vector(
        algorithm = "hnsw",
        dim = 384,
        distance = "cosine",
        m = 16,
        ef_construction = 200
    ))]
    embedding: Vec<f32>,
}

#[derive(HashModel, Debug)]
#[redis_om(prefix = "ReadmeOrder")]
struct Order {
    pk: Option<String>,
    #[redis_om(index)]
    city: String,
    #[redis_om(index)]
    paid: bool,
    #[redis_om(index)]
    total: f64,
    #[redis_om(index)]
    qty: i64,
}

async fn geo(con: &mut redis::aio::MultiplexedConnection) -> redis_om::Result<()> {
    let portland = Coordinates::new(-122.6765, 45.5231)?; // longitude first, as Redis
    let near =
        Store::find(|s| s.location.within(portland, 10.0, GeoUnit::Miles) & s.name.ne("closed"))
            .all(&mut *con)
            .await?; // m, km, mi, ft
    let nearest: Vec<(Store, f64)> =
        Store::find(|s| s.location.within(portland, 10.0, GeoUnit::Miles))
            .by_distance(|s| s.location, portland)
            .page(&mut *con, 0, 20)
            .await?
            .items;
    let _ = (near, nearest);
    Ok(())
}

async fn vectors(
    con: &mut redis::aio::MultiplexedConnection,
    query_vector: Vec<f32>,
) -> redis_om::Result<()> {
    let similar: Vec<(Doc, f64)> = Doc::find(|d| d.lang.eq("en"))
        .knn(|d| d.embedding, &query_vector, 10)
        .all(&mut *con)
        .await?;
    let names: Vec<(String, f64)> = Doc::find_all()
        .select(|d| d.lang)
        .knn(|d| d.embedding, &query_vector, 5)
        .all(&mut *con)
        .await?;
    let close = Doc::find(|d| d.embedding.within_distance(&query_vector, 0.2))
        .all(&mut *con)
        .await?;
    let _ = (similar, names, close);
    Ok(())
}

#[allow(clippy::type_complexity)] // as the README writes it
async fn aggregations(con: &mut redis::aio::MultiplexedConnection) -> redis_om::Result<()> {
    use redis_om::reduce::{avg, count, sum};

    // Per city: paid orders, their sum and average, the two largest sums.
    let rows: Vec<(Option<String>, (u64, f64, f64), ())> = Order::find(|o| o.paid.eq(true))
        .group_by(|o| o.city)
        .reduce(|o| (count(), sum(o.total), avg(o.total)))
        .sort_by(|(_, (_, total, _), _)| total, SortOrder::Desc)
        .limit(0, 2)
        .all(&mut *con)
        .await?;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct CityStats {
        city: Option<String>,
        orders: u64,
        revenue: f64,
        per_item: f64,
    }
    let stats: Vec<CityStats> = Order::find_all()
        .group_by(|o| o.city)
        .reduce(|o| {
            (
                count().named("orders"),
                sum(o.total).named("revenue"),
                sum(o.qty),
            )
        })
        .apply_named("per_item", |(_, (_, revenue, items), ())| revenue / items)
        .having(|(_, (orders, _, _), _)| orders.gt(1.0))
        .rows_as(&mut *con)
        .await?;
    assert!(!rows.is_empty() && !stats.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_readme_query_examples_compile_and_run() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Store>()
        .model::<Doc>()
        .model::<Order>()
        .run(&mut con)
        .await
        .unwrap();
    // Two cities with two paid orders each, so that every step has rows.
    let mut orders: Vec<Order> = [
        ("Paris", 10.0, 1),
        ("Paris", 20.0, 2),
        ("Lyon", 5.0, 5),
        ("Lyon", 1.0, 1),
    ]
    .into_iter()
    .map(|(city, total, qty)| Order {
        pk: None,
        city: city.to_owned(),
        paid: true,
        total,
        qty,
    })
    .collect();
    Order::save_all(&mut con, &mut orders).await.unwrap();
    geo(&mut con).await.unwrap();
    vectors(&mut con, vec![0.5; 384]).await.unwrap();
    aggregations(&mut con).await.unwrap();
}
