//! Typed aggregations (`FT.AGGREGATE`): known data, exact expected groups, on
//! hash and JSON models, RESP2 and RESP3, async and blocking.

mod common;

use redis_om::prelude::*;
use redis_om::reduce::{
    avg, count, count_distinct, first_value, max, min, quantile, stddev, sum, tolist,
};
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AggOrder")]
struct Order {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    /// SORTABLE: the index keeps a lowercased copy, which must not leak into groups.
    #[redis_om(index, sortable)]
    city: String,
    #[redis_om(index)]
    status: String,
    #[redis_om(index)]
    paid: bool,
    #[redis_om(index, sortable)]
    total: f64,
    #[redis_om(index)]
    qty: i64,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AggDoc")]
struct OrderDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    city: Option<String>,
    #[redis_om(index)]
    total: f64,
    #[redis_om(index)]
    tags: Vec<String>,
}

fn order(run: &str, city: &str, status: &str, paid: bool, total: f64, qty: i64) -> Order {
    Order {
        pk: None,
        run: run.to_owned(),
        city: city.to_owned(),
        status: status.to_owned(),
        paid,
        total,
        qty,
    }
}

/// Ten orders: Paris (3, one of them "paris"), Lyon (4), Nice (2), ...
fn orders(run: &str) -> Vec<Order> {
    vec![
        order(run, "Paris", "new", true, 10.5, 1),
        order(run, "Paris", "shipped", true, 20.0, 2),
        order(run, "paris", "new", false, 1.25, 3),
        order(run, "Lyon", "new", true, 7.0, 4),
        order(run, "Lyon", "new", true, 0.1, 5),
        order(run, "Lyon", "shipped", false, 100.0, 6),
        order(run, "Lyon", "returned", true, 3.0, 7),
        order(run, "Nice", "new", true, 50.0, 8),
        order(run, "Nice", "new", true, 50.0, 9),
        order(run, "São Paulo {1|2}", "new", true, 2.5, 10),
    ]
}

async fn setup(con: &mut redis::aio::MultiplexedConnection, tag: &str) -> String {
    Migrator::new()
        .model::<Order>()
        .model::<OrderDoc>()
        .run(con)
        .await
        .unwrap();
    let run = common::unique(tag);
    Order::save_all(con, &mut orders(&run)).await.unwrap();
    run
}

#[tokio::test]
async fn groups_and_every_reducer_are_exact() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let run = setup(&mut con, "agg").await;
        let r = run.clone();
        let mut rows = Order::find(move |o| o.run.eq(r.as_str()))
            .group_by(|o| o.city)
            .reduce(|o| {
                (
                    count(),
                    sum(o.total),
                    avg(o.total),
                    min(o.total),
                    max(o.qty),
                    count_distinct(o.status),
                    tolist(o.status),
                    first_value(o.status).by(o.total, SortOrder::Desc),
                )
            })
            .all(&mut con)
            .await
            .unwrap();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let cities: Vec<Option<String>> = rows.iter().map(|r| r.0.clone()).collect();
        // Stored values, not the index's lowercased sorting copies: "Paris"
        // and "paris" are two groups, "São Paulo {1|2}" comes back as written.
        assert_eq!(
            cities,
            ["Lyon", "Nice", "Paris", "São Paulo {1|2}", "paris"]
                .map(|c| Some(c.to_owned()))
                .to_vec(),
            "{url}"
        );
        let lyon = &rows[0].1;
        assert_eq!(lyon.0, 4);
        assert!((lyon.1 - 110.1).abs() < 1e-9, "{}", lyon.1);
        assert!((lyon.2 - 27.525).abs() < 1e-9);
        assert_eq!((lyon.3, lyon.4, lyon.5), (0.1, 7.0, 3));
        let mut statuses = lyon.6.clone();
        statuses.sort();
        assert_eq!(statuses, ["new", "returned", "shipped"]);
        assert_eq!(lyon.7.as_deref(), Some("shipped"));
        let paris = &rows[2].1;
        assert_eq!((paris.0, paris.1, paris.5), (2, 30.5, 2));
        assert_eq!(rows[1].2, ());
    }
}

#[tokio::test]
async fn sorted_limited_computed_and_filtered() {
    let mut con = common::multiplexed(&common::url()).await;
    let run = setup(&mut con, "aggsort").await;
    let r = run.clone();
    // Per city: revenue and the average price per item, the two largest
    // revenues, of cities with more than one order.
    let rows = Order::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.city)
        .reduce(|o| (count(), sum(o.total), sum(o.qty)))
        .apply(|(_, (_, revenue, items), ())| revenue / items)
        .having(|(_, (n, _, _), _)| n.gt(1.0))
        .sort_by(|(_, (_, revenue, _), _)| revenue, SortOrder::Desc)
        .limit(0, 2)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0.as_deref(), Some("Lyon"));
    assert_eq!(rows[1].0.as_deref(), Some("Nice"));
    assert!((rows[0].2 .0 - 110.1 / 22.0).abs() < 1e-9, "{rows:?}");
    // Computed values come with the 12 significant digits the server writes.
    assert!((rows[1].2 .0 - 100.0 / 17.0).abs() < 1e-10, "{rows:?}");
    // Sorted by a group field, two keys, with a filter on the documents.
    let r = run.clone();
    let rows = Order::find(move |o| o.run.eq(r.as_str()) & o.paid.eq(true))
        .group_by(|o| (o.city, o.status))
        .reduce(|_| count())
        .sort_by(|((city, _), _, _)| city, SortOrder::Asc)
        .sort_by(|((_, status), _, _)| status, SortOrder::Asc)
        .all(&mut con)
        .await
        .unwrap();
    let flat: Vec<(String, String, u64)> = rows
        .into_iter()
        .map(|((c, s), n, ())| (c.unwrap(), s.unwrap(), n))
        .collect();
    assert_eq!(
        flat,
        [
            ("Lyon", "new", 2),
            ("Lyon", "returned", 1),
            ("Nice", "new", 2),
            ("Paris", "new", 1),
            ("Paris", "shipped", 1),
            ("São Paulo {1|2}", "new", 1),
        ]
        .map(|(c, s, n)| (c.to_owned(), s.to_owned(), n))
        .to_vec()
    );
    // The whole set in one row; a quantile and a deviation.
    let r = run.clone();
    let rows = Order::find(move |o| o.run.eq(r.as_str()))
        .aggregate(|o| (count(), quantile(o.total, 0.5), stddev(o.qty), max(o.total)))
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let ((), (n, median, deviation, largest), ()) = rows[0];
    assert_eq!((n, largest), (10, 100.0));
    assert!((0.1..=100.0).contains(&median), "{median}");
    assert!((deviation - 3.0276503540974917).abs() < 1e-6, "{deviation}");
    // A filter that matches nothing sends nothing and has no group.
    let none = Order::find(|o| o.city.is_in(Vec::<String>::new()))
        .group_by(|o| o.city)
        .reduce(|_| count())
        .all(&mut con)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[derive(Deserialize, Debug, PartialEq)]
struct CityStats {
    city: Option<String>,
    orders: u64,
    revenue: f64,
    statuses: Vec<String>,
}

#[tokio::test]
async fn rows_into_a_struct_of_yours_and_blocking() {
    let mut con = common::multiplexed(&common::url()).await;
    let run = setup(&mut con, "aggrows").await;
    let r = run.clone();
    let aggregation = Order::find(move |o| o.run.eq(r.as_str()) & o.city.eq("Nice"))
        .group_by(|o| o.city)
        .reduce(|o| {
            (
                count().named("orders"),
                sum(o.total).named("revenue"),
                tolist(o.status).named("statuses"),
            )
        });
    let stats: Vec<CityStats> = aggregation.rows_as(&mut con).await.unwrap();
    assert_eq!(
        stats,
        vec![CityStats {
            city: Some("Nice".into()),
            orders: 2,
            revenue: 100.0,
            statuses: vec!["new".into()],
        }]
    );
    // The same through the blocking API.
    blocking(&aggregation, &stats);
}

fn blocking<A>(aggregation: &A, stats: &[CityStats])
where
    A: redis_om::SyncAggregate<Row = (Option<String>, (u64, f64, Vec<String>), ())>,
{
    let mut sync = common::sync_con(&common::url());
    let rows = aggregation.all(&mut sync).unwrap();
    assert_eq!(rows[0].1 .0, 2);
    let again: Vec<CityStats> = aggregation.rows_as(&mut sync).unwrap();
    assert_eq!(again, stats);
}

#[tokio::test]
async fn more_groups_than_a_batch_come_sorted_through_the_cursor() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Order>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("aggmany");
    let mut many: Vec<Order> = (0..2_500)
        .map(|i| order(&run, &format!("c{i:05}"), "new", true, i as f64, i))
        .collect();
    Order::save_all(&mut con, &mut many).await.unwrap();
    let r = run.clone();
    let rows = Order::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.city)
        .reduce(|o| sum(o.total))
        .sort_by(|(_, total, _)| total, SortOrder::Desc)
        .batch_size(300)
        .all(&mut con)
        .await
        .unwrap();
    // Every group (RediSearch sorts only 10 unless told how many), in order.
    assert_eq!(rows.len(), 2_500);
    for (i, (city, total, ())) in rows.iter().enumerate() {
        let want = 2_499 - i;
        assert_eq!(city.as_deref(), Some(format!("c{want:05}").as_str()));
        assert_eq!(*total, want as f64);
    }
}

#[tokio::test]
async fn numbers_a_double_cannot_hold_are_an_error_not_a_different_number() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Order>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("aggbig");
    let mut big = vec![order(
        &run,
        "X",
        "new",
        true,
        1.0,
        1_795_849_964_676_585_473,
    )];
    Order::save_all(&mut con, &mut big).await.unwrap();
    let r = run.clone();
    let result = Order::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.qty)
        .reduce(|_| count())
        .all(&mut con)
        .await;
    match result {
        Err(Error::Decode { key, field, reason }) => {
            assert_eq!(field.as_deref(), Some("qty"));
            assert!(reason.contains("2^53"), "{reason}");
            // Names the aggregation, not the index as if it were a key.
            assert!(key.starts_with("an aggregation over index "), "{key}");
        }
        other => panic!("{other:?}"),
    }
    // Below 2^53 a numeric group is exact.
    let run = common::unique("aggexact");
    let mut exact = vec![order(&run, "X", "new", true, 1.0, 9_007_199_254_740_991)];
    Order::save_all(&mut con, &mut exact).await.unwrap();
    let r = run.clone();
    let rows = Order::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.qty)
        .reduce(|_| count())
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(rows, vec![(Some(9_007_199_254_740_991), 1, ())]);
}

#[tokio::test]
async fn json_models_group_with_missing_values_and_refuse_lists() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<OrderDoc>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("aggjson");
        let doc = |city: Option<&str>, total: f64| OrderDoc {
            pk: None,
            run: run.clone(),
            city: city.map(str::to_owned),
            total,
            tags: vec!["a".into(), "B".into()],
        };
        let mut docs = vec![
            doc(Some("Paris"), 2.5),
            doc(Some("Paris"), 1.0),
            doc(None, 4.0),
        ];
        OrderDoc::save_all(&mut con, &mut docs).await.unwrap();
        let r = run.clone();
        let mut rows = OrderDoc::find(move |d| d.run.eq(r.as_str()))
            .group_by(|d| d.city)
            .reduce(|d| (count(), sum(d.total)))
            .all(&mut con)
            .await
            .unwrap();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            rows,
            vec![
                (None, (1, 4.0), ()),
                (Some("Paris".to_owned()), (2, 3.5), ())
            ],
            "{url}"
        );
        // A list field holds several values: grouping by it is refused.
        let r = run.clone();
        let refused = OrderDoc::find(move |d| d.run.eq(r.as_str()))
            .group_by(|d| d.tags)
            .reduce(|_| count())
            .all(&mut con)
            .await;
        assert!(
            matches!(refused, Err(Error::InvalidArgument(_))),
            "{refused:?}"
        );
    }
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AggOdd")]
struct Odd {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, rename = "e-mail")]
    email: String,
    #[redis_om(index)]
    flag: bool,
    #[redis_om(index)]
    qty: i64,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Flags {
    flags: Vec<bool>,
}

/// Found by a new user's trial: names that need escaping grouped everything
/// as `None`; reducers over a list saw its first value; a computed column
/// could silently replace another; `tolist` of a bool did not read as bools.
#[tokio::test]
async fn escaped_names_lists_clashes_and_bools() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Odd>()
        .model::<OrderDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("aggodd");
    let mut docs: Vec<Odd> = (0..6)
        .map(|i| Odd {
            pk: None,
            run: run.clone(),
            email: format!("u{}@x.io", i % 2),
            flag: i % 3 == 0,
            qty: i,
        })
        .collect();
    Odd::save_all(&mut con, &mut docs).await.unwrap();
    let r = run.clone();
    let mut rows = Odd::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.email)
        .reduce(|_| count())
        .all(&mut con)
        .await
        .unwrap();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        rows,
        vec![
            (Some("u0@x.io".to_owned()), 3, ()),
            (Some("u1@x.io".to_owned()), 3, ())
        ]
    );
    let r = run.clone();
    let flags: Vec<Flags> = Odd::find(move |o| o.run.eq(r.as_str()))
        .aggregate(|o| tolist(o.flag).named("flags"))
        .rows_as(&mut con)
        .await
        .unwrap();
    let mut got = flags[0].flags.clone();
    got.sort();
    assert_eq!(got, [false, true]);
    // A computed column named as a reducer: refused, not replaced.
    let r = run.clone();
    let clash = Odd::find(move |o| o.run.eq(r.as_str()))
        .group_by(|o| o.email)
        .reduce(|o| (count(), sum(o.qty)))
        .apply_named("r0", |(_, (_, q), ())| q * 1000.0)
        .all(&mut con)
        .await;
    assert!(matches!(clash, Err(Error::InvalidArgument(_))), "{clash:?}");
    let r = run.clone();
    let odd_name = Odd::find(move |o| o.run.eq(r.as_str()))
        .aggregate(|o| sum(o.qty).named("a-b"))
        .all(&mut con)
        .await;
    assert!(
        matches!(odd_name, Err(Error::InvalidArgument(_))),
        "{odd_name:?}"
    );
    // A reducer over a list field would see its first value only: refused.
    let listed = OrderDoc::find_all()
        .aggregate(|d| tolist(d.tags))
        .all(&mut con)
        .await;
    assert!(
        matches!(listed, Err(Error::InvalidArgument(_))),
        "{listed:?}"
    );
}
