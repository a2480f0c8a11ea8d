//! The typed `find` query builder against the real server: every operator and
//! combinator on Hash and JSON models, sort and pages, count/first/delete,
//! projections, escaping, streams, errors; RESP2 and RESP3.

mod common;

use futures_util::TryStreamExt;
use redis::aio::MultiplexedConnection;
use redis_om::prelude::*;
use redis_om::{Error, Migrator};
use serde::{Deserialize, Serialize};

#[derive(HashValue, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    Active,
    Banned,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FindPerson")]
struct Person {
    pk: Option<String>,
    #[redis_om(full_text, sortable)]
    name: String,
    #[redis_om(index)]
    email: String,
    #[redis_om(index)]
    city: Option<String>,
    #[redis_om(index, sortable)]
    age: u32,
    #[redis_om(index)]
    score: f64,
    #[redis_om(index)]
    active: bool,
    #[redis_om(index)]
    status: Status,
    #[redis_om(index, separator = ",")]
    labels: String,
    bio: Option<String>,
}

fn person(name: &str, email: &str, city: Option<&str>, age: u32, active: bool) -> Person {
    Person {
        pk: None,
        name: name.into(),
        email: email.into(),
        city: city.map(Into::into),
        age,
        score: f64::from(age) / 10.0,
        active,
        status: if active {
            Status::Active
        } else {
            Status::Banned
        },
        labels: format!("{name},age{age}"),
        bio: None,
    }
}

fn people() -> Vec<Person> {
    vec![
        person("Ada Lovelace", "ada@example.com", Some("London"), 36, true),
        person(
            "Alan Turing",
            "alan.turing@bletchley.org",
            Some("St. Brookins-on-Pier"),
            41,
            true,
        ),
        person(
            "Grace Hopper",
            "grace+navy@example.com",
            Some("New York"),
            85,
            false,
        ),
        person("Edsger Dijkstra", "ewd@utexas.edu", None, 72, true),
        person(
            "Barbara Liskov",
            "liskov@mit.edu",
            Some("Boston"),
            84,
            false,
        ),
    ]
}

async fn setup_people(con: &mut MultiplexedConnection) -> Vec<Person> {
    Migrator::new().model::<Person>().run(con).await.unwrap();
    common::clear_prefix(con, Person::key_layout().key_prefix()).await;
    let mut all = people();
    for p in &mut all {
        p.save(con).await.unwrap();
    }
    all
}

/// The names of the matches, sorted, to compare with expectations.
async fn names(con: &mut MultiplexedConnection, q: redis_om::Query<Person>) -> Vec<String> {
    let mut names: Vec<String> = q
        .all(con)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn hash_operators_and_combinators() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let con = &mut con;
        setup_people(con).await;

        // TAG
        assert_eq!(
            names(con, Person::find(|p| p.email.eq("ada@example.com"))).await,
            sorted(&["Ada Lovelace"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.email.eq("ADA@example.com"))).await,
            sorted(&["Ada Lovelace"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.city.eq("St. Brookins-on-Pier"))).await,
            sorted(&["Alan Turing"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.city.ne("London"))).await,
            sorted(&[
                "Alan Turing",
                "Grace Hopper",
                "Edsger Dijkstra",
                "Barbara Liskov"
            ])
        );
        assert_eq!(
            names(
                con,
                Person::find(|p| p.city.is_in(["London", "Boston", "Nowhere"]))
            )
            .await,
            sorted(&["Ada Lovelace", "Barbara Liskov"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.city.not_in(["London", "Boston"]))).await,
            sorted(&["Alan Turing", "Grace Hopper", "Edsger Dijkstra"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.email.starts_with("gr"))).await,
            sorted(&["Grace Hopper"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.email.ends_with(".edu"))).await,
            sorted(&["Edsger Dijkstra", "Barbara Liskov"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.email.contains("+navy@"))).await,
            sorted(&["Grace Hopper"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.status.eq(Status::Banned))).await,
            sorted(&["Grace Hopper", "Barbara Liskov"])
        );
        // A custom separator: "Ada Lovelace,age36" is indexed as two tags.
        assert_eq!(
            names(con, Person::find(|p| p.labels.eq("age36"))).await,
            sorted(&["Ada Lovelace"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.labels.eq("Ada Lovelace,age36"))).await,
            sorted(&["Ada Lovelace"])
        );
        assert!(
            names(con, Person::find(|p| p.labels.eq("Ada Lovelace,age41")))
                .await
                .is_empty()
        );

        // NUMERIC
        assert_eq!(
            names(con, Person::find(|p| p.age.eq(41))).await,
            sorted(&["Alan Turing"])
        );
        assert_eq!(names(con, Person::find(|p| p.age.ne(41))).await.len(), 4);
        assert_eq!(
            names(con, Person::find(|p| p.age.gt(72))).await,
            sorted(&["Grace Hopper", "Barbara Liskov"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.ge(72))).await,
            sorted(&["Grace Hopper", "Barbara Liskov", "Edsger Dijkstra"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.lt(41))).await,
            sorted(&["Ada Lovelace"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.le(41))).await,
            sorted(&["Ada Lovelace", "Alan Turing"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.between(41, 84))).await,
            sorted(&["Alan Turing", "Edsger Dijkstra", "Barbara Liskov"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.is_in([36, 85, 1]))).await,
            sorted(&["Ada Lovelace", "Grace Hopper"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.age.not_in([36, 85])))
                .await
                .len(),
            3
        );
        assert_eq!(
            names(con, Person::find(|p| p.score.gt(8.45))).await,
            sorted(&["Grace Hopper"])
        );

        // bool
        assert_eq!(
            names(con, Person::find(|p| p.active.eq(false))).await,
            sorted(&["Grace Hopper", "Barbara Liskov"])
        );

        // TEXT
        assert_eq!(
            names(con, Person::find(|p| p.name.matches("turing alan"))).await,
            sorted(&["Alan Turing"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.name.matches_phrase("Grace Hopper"))).await,
            sorted(&["Grace Hopper"])
        );
        assert!(
            names(con, Person::find(|p| p.name.matches_phrase("Hopper Grace")))
                .await
                .is_empty()
        );
        assert_eq!(
            names(con, Person::find(|p| p.name.matches_prefix("Lisk"))).await,
            sorted(&["Barbara Liskov"])
        );
        assert_eq!(
            names(con, Person::find(|p| p.name.fuzzy("Dijkstro"))).await,
            sorted(&["Edsger Dijkstra"])
        );
        // The tag operators still work on a full-text field.
        assert_eq!(
            names(con, Person::find(|p| p.name.eq("ada lovelace"))).await,
            sorted(&["Ada Lovelace"])
        );

        // Combinators, nested.
        assert_eq!(
            names(
                con,
                Person::find(|p| (p.age.gt(40) & p.active.eq(true)) | p.email.eq("ada@example.com"))
            )
            .await,
            sorted(&["Ada Lovelace", "Alan Turing", "Edsger Dijkstra"])
        );
        assert_eq!(
            names(
                con,
                Person::find(|p| !(p.city.eq("London") | (p.age.ge(80) & !p.active.eq(true))))
            )
            .await,
            sorted(&["Alan Turing", "Edsger Dijkstra"])
        );
        assert_eq!(
            names(
                con,
                Person::find(|p| p.age.gt(40)).filter(|p| p.status.eq(Status::Active))
            )
            .await,
            sorted(&["Alan Turing", "Edsger Dijkstra"])
        );
        assert_eq!(Person::find_all().count(con).await.unwrap(), 5);
        // An empty IN matches nothing and sends nothing.
        assert_eq!(
            Person::find(|p| p.age.is_in([])).count(con).await.unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn count_first_page_sort_select_delete() {
    let mut con = common::multiplexed(&common::urls()[1]).await;
    let con = &mut con;
    // A model of its own so that deleting does not race the other tests.
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "FindResults")]
    struct Item {
        pk: Option<String>,
        #[redis_om(index, sortable)]
        rank: u32,
        #[redis_om(index)]
        group: String,
        #[redis_om(index)]
        note: Option<String>,
    }
    Migrator::new().model::<Item>().run(con).await.unwrap();
    common::clear_prefix(con, Item::key_layout().key_prefix()).await;
    for rank in 0..1000u32 {
        let mut item = Item {
            pk: None,
            rank,
            group: if rank % 2 == 0 {
                "even".into()
            } else {
                "odd".into()
            },
            note: (rank % 10 == 0).then(|| format!("note {rank}")),
        };
        item.save(con).await.unwrap();
    }

    // count is LIMIT 0 0; first honours the sort.
    assert_eq!(
        Item::find(|i| i.group.eq("odd")).count(con).await.unwrap(),
        500
    );
    let top = Item::find(|i| i.group.eq("odd"))
        .sort_by(|i| i.rank, SortOrder::Desc)
        .first(con)
        .await
        .unwrap();
    assert_eq!(top.rank, 999);
    let none = Item::find(|i| i.group.eq("none"))
        .first(con)
        .await
        .unwrap_err();
    assert!(none.is_not_found(), "{none}");
    assert!(matches!(none, Error::NoMatch { .. }));

    // page(100, 100) is items 100..199 in order, both directions.
    let page = Item::find_all()
        .sort_by(|i| i.rank, SortOrder::Asc)
        .page(con, 100, 100)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|i| i.rank).collect::<Vec<_>>(),
        (100..200).collect::<Vec<_>>()
    );
    let page = Item::find_all()
        .sort_by(|i| i.rank, SortOrder::Desc)
        .page(con, 100, 100)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|i| i.rank).collect::<Vec<_>>(),
        (800..900).rev().collect::<Vec<_>>()
    );
    assert!(Item::find_all()
        .page(con, 5000, 10)
        .await
        .unwrap()
        .is_empty());

    // Sorted all() returns every match in order (not only the first 10 an aggregate sorts by default).
    let all = Item::find(|i| i.group.eq("even"))
        .sort_by(|i| i.rank, SortOrder::Desc)
        .batch_size(64)
        .all(con)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|i| i.rank).collect::<Vec<_>>(),
        (0..1000).step_by(2).rev().collect::<Vec<_>>()
    );

    // Projections: one field, and a tuple with an Option that is sometimes missing.
    let ranks: Vec<u32> = Item::find(|i| i.rank.lt(5))
        .sort_by(|i| i.rank, SortOrder::Asc)
        .select(|i| i.rank)
        .all(con)
        .await
        .unwrap();
    assert_eq!(ranks, vec![0, 1, 2, 3, 4]);
    let rows: Vec<(u32, Option<String>, String)> = Item::find(|i| i.rank.between(9, 11))
        .sort_by(|i| i.rank, SortOrder::Asc)
        .select(|i| (i.rank, i.note, i.group))
        .page(con, 0, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(
        rows,
        vec![
            (9, None, "odd".to_string()),
            (10, Some("note 10".to_string()), "even".to_string()),
            (11, None, "odd".to_string()),
        ]
    );
    let first_note = Item::find(|i| i.note.eq("note 990"))
        .select(|i| i.note)
        .first(con)
        .await
        .unwrap();
    assert_eq!(first_note.as_deref(), Some("note 990"));

    // A stream in small batches yields every match once.
    let streamed: Vec<Item> = Item::find(|i| i.rank.ge(900))
        .batch_size(7)
        .stream(con)
        .try_collect()
        .await
        .unwrap();
    let mut ranks: Vec<u32> = streamed.iter().map(|i| i.rank).collect();
    ranks.sort();
    assert_eq!(ranks, (900..1000).collect::<Vec<_>>());

    // delete() removes exactly the matches, across several cursor batches.
    let deleted = Item::find(|i| i.group.eq("odd"))
        .batch_size(128)
        .delete(con)
        .await
        .unwrap();
    assert_eq!(deleted, 500);
    assert_eq!(
        Item::find(|i| i.group.eq("odd")).count(con).await.unwrap(),
        0
    );
    assert_eq!(Item::find_all().count(con).await.unwrap(), 500);
    assert_eq!(
        Item::find(|i| i.group.eq("odd")).delete(con).await.unwrap(),
        0
    );
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FindOrder")]
struct Order {
    pk: Option<String>,
    #[redis_om(full_text)]
    title: String,
    #[redis_om(index)]
    tags: Vec<String>,
    #[redis_om(index, sortable)]
    #[serde(rename = "totalCents")]
    total_cents: i64,
    #[redis_om(index)]
    paid: bool,
    #[redis_om(index)]
    status: Status,
    #[redis_om(index)]
    coupon: Option<String>,
    lines: Vec<String>,
}

fn order(title: &str, tags: &[&str], total: i64, paid: bool, coupon: Option<&str>) -> Order {
    Order {
        pk: None,
        title: title.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        total_cents: total,
        paid,
        status: if paid { Status::Active } else { Status::Banned },
        coupon: coupon.map(Into::into),
        lines: vec!["a line".into()],
    }
}

#[tokio::test]
async fn json_operators_projection_and_sort() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let con = &mut con;
        Migrator::new().model::<Order>().run(con).await.unwrap();
        common::clear_prefix(con, Order::key_layout().key_prefix()).await;
        let mut orders = vec![
            order(
                "Red bicycle with bell",
                &["bike", "red"],
                25_000,
                true,
                Some("SUMMER-24"),
            ),
            order("Blue bicycle", &["bike", "blue"], 19_900, false, None),
            order(
                "Red kettle",
                &["kitchen", "red"],
                3_500,
                true,
                Some("o'brien & co."),
            ),
        ];
        for o in &mut orders {
            o.save(con).await.unwrap();
        }
        async fn titles(con: &mut MultiplexedConnection, q: redis_om::Query<Order>) -> Vec<String> {
            let mut t: Vec<String> = q
                .all(con)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.title)
                .collect();
            t.sort();
            t
        }
        assert_eq!(
            titles(con, Order::find(|o| o.tags.eq("red"))).await,
            sorted(&["Red bicycle with bell", "Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.tags.eq("red") & o.tags.eq("bike"))).await,
            sorted(&["Red bicycle with bell"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.tags.is_in(["blue", "kitchen"]))).await,
            sorted(&["Blue bicycle", "Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.tags.not_in(["bike"]))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.ge(19_900)))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.paid.eq(false))).await,
            sorted(&["Blue bicycle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.status.ne(Status::Banned)))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.coupon.eq("O'Brien & Co."))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.coupon.starts_with("summer-"))).await,
            sorted(&["Red bicycle with bell"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.title.matches("bicycles")))
                .await
                .len(),
            2,
            "stemmed"
        );
        assert_eq!(
            titles(
                con,
                Order::find(|o| o.title.matches_phrase("bicycle with bell"))
            )
            .await,
            sorted(&["Red bicycle with bell"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.title.matches_prefix("ket"))).await,
            sorted(&["Red kettle"])
        );

        assert_eq!(
            titles(con, Order::find(|o| o.coupon.ends_with("& co."))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.coupon.contains("MER-2"))).await,
            sorted(&["Red bicycle with bell"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.coupon.ne("SUMMER-24")))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.gt(19_900))).await,
            sorted(&["Red bicycle with bell"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.lt(19_900))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.le(19_900)))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.between(3_500, 19_900)))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.is_in([3_500, 25_000])))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.not_in([3_500])))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.eq(3_500))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.total_cents.ne(3_500)))
                .await
                .len(),
            2
        );
        assert_eq!(
            titles(con, Order::find(|o| o.title.fuzzy("kettel"))).await,
            sorted(&["Red kettle"])
        );
        assert_eq!(
            titles(con, Order::find(|o| o.paid.ne(true))).await,
            sorted(&["Blue bicycle"])
        );
        assert_eq!(
            titles(
                con,
                Order::find(|o| (o.tags.eq("red") | o.tags.eq("blue"))
                    & !(o.paid.eq(true) & o.total_cents.lt(10_000)))
            )
            .await,
            sorted(&["Blue bicycle", "Red bicycle with bell"])
        );
        let by_total: Vec<i64> = Order::find_all()
            .sort_by(|o| o.total_cents, SortOrder::Asc)
            .select(|o| o.total_cents)
            .all(con)
            .await
            .unwrap();
        assert_eq!(by_total, vec![3_500, 19_900, 25_000]);
        let rows: Vec<(String, Vec<String>, Option<String>, bool)> =
            Order::find(|o| o.tags.eq("bike"))
                .sort_by(|o| o.total_cents, SortOrder::Desc)
                .select(|o| (o.title, o.tags, o.coupon, o.paid))
                .page(con, 0, 10)
                .await
                .unwrap()
                .items;
        assert_eq!(
            rows,
            vec![
                (
                    "Red bicycle with bell".into(),
                    vec!["bike".into(), "red".into()],
                    Some("SUMMER-24".into()),
                    true
                ),
                (
                    "Blue bicycle".into(),
                    vec!["bike".into(), "blue".into()],
                    None,
                    false
                ),
            ]
        );
        // Whole documents come back intact through both FT.SEARCH and the aggregate path.
        let first = Order::find(|o| o.coupon.eq("SUMMER-24"))
            .first(con)
            .await
            .unwrap();
        assert_eq!(first, orders[0]);
        let mut all = Order::find_all().all(con).await.unwrap();
        all.sort_by_key(|o| o.total_cents);
        assert_eq!(
            all,
            vec![orders[2].clone(), orders[1].clone(), orders[0].clone()]
        );
    }
}

#[tokio::test]
async fn punctuation_unicode_and_separators_are_matched_exactly() {
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "FindEscaping")]
    struct Tagged {
        pk: Option<String>,
        #[redis_om(index, case_sensitive)]
        value: String,
    }
    let mut con = common::multiplexed(&common::urls()[0]).await;
    let con = &mut con;
    Migrator::new().model::<Tagged>().run(con).await.unwrap();
    common::clear_prefix(con, Tagged::key_layout().key_prefix()).await;
    let values = [
        "a.b+c@example.com",
        "St. Brookins-on-Pier",
        ",.<>{}[]\"':;!@#$%^&*()-+=~/\\",
        "-leading dash",
        "what? really?",
        "tab\tinside",
        "ünïcødé 東京 😀",
        "$p0",
        "x} | @pk:{*",
        "@value:{a}",
        "back\\slash",
        "O'Brien",
    ];
    let mut pks = Vec::new();
    for v in values {
        let mut t = Tagged {
            pk: None,
            value: v.into(),
        };
        pks.push(t.save(con).await.unwrap());
    }
    for (v, pk) in values.iter().zip(&pks) {
        let found = Tagged::find(|t| t.value.eq(*v)).all(con).await.unwrap();
        assert_eq!(found.len(), 1, "eq({v:?}) found {found:?}");
        assert_eq!(found[0].pk.as_deref(), Some(pk.as_str()));
        let found = Tagged::find(|t| t.value.is_in([*v, "no such value"]))
            .all(con)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "is_in({v:?})");
        assert_eq!(
            Tagged::find(|t| t.value.ne(*v)).count(con).await.unwrap(),
            values.len() as u64 - 1
        );
    }
    assert_eq!(
        Tagged::find(|t| t.value.contains("Brookins-on"))
            .count(con)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        Tagged::find(|t| t.value.starts_with("-lead"))
            .count(con)
            .await
            .unwrap(),
        1
    );
    // An empty value cannot be in a TAG index: a clear error, no query sent.
    let err = Tagged::find(|t| t.value.eq("")).all(con).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("empty tag")),
        "{err}"
    );
}

#[tokio::test]
async fn sync_queries() {
    let mut con = common::sync_con(&common::urls()[0]);
    {
        let mut async_con = common::multiplexed(&common::urls()[0]).await;
        Migrator::new()
            .model::<Order>()
            .run(&mut async_con)
            .await
            .unwrap();
    }
    use redis_om::blocking::{SyncModel, SyncQuery};
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "FindSync")]
    struct Note {
        pk: Option<String>,
        #[redis_om(index, sortable)]
        n: i64,
    }
    redis_om::blocking::Migrator::new()
        .model::<Note>()
        .run(&mut con)
        .unwrap();
    let _: () = redis::cmd("EVAL")
        .arg("for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end")
        .arg(0)
        .arg(format!("{}*", Note::key_layout().key_prefix()))
        .query(&mut con)
        .unwrap();
    for n in 0..50 {
        SyncModel::save(&mut Note { pk: None, n }, &mut con).unwrap();
    }
    let q = Note::find(|x| x.n.lt(10)).sort_by(|x| x.n, SortOrder::Asc);
    assert_eq!(SyncQuery::count(&q, &mut con).unwrap(), 10);
    assert_eq!(SyncQuery::first(&q, &mut con).unwrap().n, 0);
    let all: Vec<i64> = SyncQuery::all(&q, &mut con)
        .unwrap()
        .into_iter()
        .map(|x| x.n)
        .collect();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let page: Vec<i64> = SyncQuery::page(&q, &mut con, 5, 2)
        .unwrap()
        .into_iter()
        .map(|x| x.n)
        .collect();
    assert_eq!(page, vec![5, 6]);
    let iterated: Vec<i64> = q
        .clone()
        .batch_size(3)
        .iter(&mut con)
        .map(|r| r.unwrap().n)
        .collect();
    assert_eq!(iterated, (0..10).collect::<Vec<_>>());
    assert_eq!(
        SyncQuery::delete(&Note::find(|x| x.n.ge(40)), &mut con).unwrap(),
        10
    );
    assert_eq!(SyncQuery::count(&Note::find_all(), &mut con).unwrap(), 40);
}

#[tokio::test]
async fn errors_name_the_model_index_and_query() {
    let mut con = common::multiplexed(&common::urls()[0]).await;
    let con = &mut con;

    // No index: the error says to run the Migrator, naming model and index.
    #[derive(HashModel, Debug)]
    #[redis_om(prefix = "FindNeverMigrated")]
    struct NeverMigrated {
        pk: Option<String>,
        #[redis_om(index)]
        name: String,
    }
    let err = NeverMigrated::find(|n| n.name.eq("x"))
        .all(con)
        .await
        .unwrap_err();
    match &err {
        Error::IndexMissing { model, index } => {
            assert!(model.ends_with("NeverMigrated"), "{model}");
            assert_eq!(index, ":FindNeverMigrated:index");
        }
        other => panic!("expected IndexMissing, got {other:?}"),
    }
    assert!(err.to_string().contains("Migrator"), "{err}");
    assert!(matches!(
        NeverMigrated::find_all().count(con).await,
        Err(Error::IndexMissing { .. })
    ));

    // A query the server rejects comes back with its message and the query text.
    #[derive(HashModel, Debug)]
    #[redis_om(prefix = "FindRejected")]
    struct Old {
        pk: Option<String>,
        #[redis_om(index)]
        name: String,
    }
    Migrator::new().model::<Old>().run(con).await.unwrap();
    let err = Old::find(|n| n.name.eq("x") & redis_om::Expr::raw("@name:{unclosed"))
        .all(con)
        .await
        .unwrap_err();
    match &err {
        Error::Query { query, message } => {
            assert_eq!(query, "(@name:{$p0}) (@name:{unclosed)");
            assert!(message.to_lowercase().contains("syntax error"), "{message}");
        }
        other => panic!("expected Query, got {other:?}"),
    }
    assert!(err.to_string().contains("@name:{unclosed"), "{err}");

    // A server without RediSearch.
    let mut plain = common::multiplexed(&common::env_url("REDIS_OM_PLAIN_URL")).await;
    let err = Old::find_all().all(&mut plain).await.unwrap_err();
    assert!(
        matches!(err, Error::ModuleMissing { module: "search" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn all_and_stream_return_more_than_maxsearchresults() {
    use futures_util::StreamExt;
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "FindBulk")]
    struct Bulk {
        pk: Option<String>,
        #[redis_om(index, sortable)]
        n: u32,
        #[redis_om(index)]
        kind: String,
    }
    const N: u32 = 25_000;
    let mut con = common::multiplexed(&common::urls()[0]).await;
    Migrator::new().model::<Bulk>().run(&mut con).await.unwrap();
    common::clear_prefix(&mut con, Bulk::key_layout().key_prefix()).await;
    futures_util::stream::iter(0..N)
        .map(|n| {
            let mut con = con.clone();
            async move {
                let kind = if n % 5 == 0 { "fifth" } else { "bulk" };
                Bulk {
                    pk: Some(format!("{n:05}")),
                    n,
                    kind: kind.into(),
                }
                .save(&mut con)
                .await
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();

    // The server caps FT.SEARCH paging (MAXSEARCHRESULTS 10000, as scripts/redis-stack
    // configures it): a hand-written page past it gets no documents.
    let beyond: redis::RedisResult<redis::Value> = redis::cmd("FT.SEARCH")
        .arg(Bulk::key_layout().index_name())
        .arg("*")
        .arg("LIMIT")
        .arg(10_000)
        .arg(10)
        .query_async(&mut con)
        .await;
    let capped = match beyond {
        Err(_) => true,
        Ok(redis::Value::Array(items)) => items.len() <= 1,
        Ok(_) => false,
    };
    assert!(
        capped,
        "the test server must cap FT.SEARCH at 10,000 results"
    );

    assert_eq!(
        Bulk::find_all().count(&mut con).await.unwrap(),
        u64::from(N)
    );
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let all = Bulk::find_all().all(&mut con).await.unwrap();
        let mut ns: Vec<u32> = all.iter().map(|b| b.n).collect();
        ns.sort();
        assert_eq!(ns, (0..N).collect::<Vec<_>>());
    }
    let sorted = Bulk::find(|b| b.kind.eq("bulk"))
        .sort_by(|b| b.n, SortOrder::Desc)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(
        sorted.iter().map(|b| b.n).collect::<Vec<_>>(),
        (0..N).rev().filter(|n| n % 5 != 0).collect::<Vec<_>>()
    );
    {
        let mut streamed = 0;
        let mut stream = std::pin::pin!(Bulk::find_all().stream(&mut con));
        while let Some(item) = stream.next().await {
            item.unwrap();
            streamed += 1;
        }
        assert_eq!(streamed, N);
    }
    let page = Bulk::find_all()
        .sort_by(|b| b.n, SortOrder::Asc)
        .page(&mut con, 20_000, 10)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|b| b.n).collect::<Vec<_>>(),
        (20_000..20_010).collect::<Vec<_>>()
    );
    let fifths: Vec<u32> = Bulk::find(|b| b.kind.eq("fifth"))
        .select(|b| b.n)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(fifths.len(), (N / 5) as usize);
}

#[derive(redis_om::EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Address {
    #[redis_om(index)]
    city: String,
    #[redis_om(index, sortable)]
    zip_code: u32,
    street: String,
}

#[derive(redis_om::EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Line {
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    qty: u32,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FindCustomer")]
#[serde(rename_all = "camelCase")]
struct Customer {
    pk: Option<String>,
    #[redis_om(index)]
    full_name: String,
    #[redis_om(embed)]
    home_address: Address,
    #[redis_om(embed)]
    work_address: Option<Address>,
    #[redis_om(embed)]
    lines: Vec<Line>,
}

#[tokio::test]
async fn embedded_structs_and_rename_all() {
    assert_eq!(
        Customer::index_schema().text(),
        "ON JSON PREFIX 1 :FindCustomer: SCHEMA $.pk AS pk TAG SEPARATOR | \
         $.fullName AS fullName TAG SEPARATOR | \
         $.homeAddress.city AS homeAddress_city TAG SEPARATOR | \
         $.homeAddress.zipCode AS homeAddress_zipCode NUMERIC SORTABLE \
         $.workAddress.city AS workAddress_city TAG SEPARATOR | \
         $.workAddress.zipCode AS workAddress_zipCode NUMERIC SORTABLE \
         $.lines[*].name AS lines_name TAG SEPARATOR | $.lines[*].qty AS lines_qty NUMERIC"
    );
    let address = |city: &str, zip: u32| Address {
        city: city.into(),
        zip_code: zip,
        street: "1 Main St.".into(),
    };
    let line = |name: &str, qty: u32| Line {
        name: name.into(),
        qty,
    };
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let con = &mut con;
        Migrator::new().model::<Customer>().run(con).await.unwrap();
        common::clear_prefix(con, Customer::key_layout().key_prefix()).await;
        let mut customers = vec![
            Customer {
                pk: None,
                full_name: "Ada".into(),
                home_address: address("London", 10_001),
                work_address: Some(address("Paris", 75_001)),
                lines: vec![line("kettle", 1), line("tea", 12)],
            },
            Customer {
                pk: None,
                full_name: "Grace".into(),
                home_address: address("New York", 10_002),
                work_address: None,
                lines: vec![line("compiler", 1)],
            },
        ];
        for c in &mut customers {
            c.save(con).await.unwrap();
        }
        let one = |name: &str| vec![name.to_string()];
        async fn names(
            con: &mut MultiplexedConnection,
            q: redis_om::Query<Customer>,
        ) -> Vec<String> {
            let mut v: Vec<String> = q
                .all(con)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.full_name)
                .collect();
            v.sort();
            v
        }
        assert_eq!(
            names(con, Customer::find(|c| c.home_address.city.eq("london"))).await,
            one("Ada")
        );
        assert_eq!(
            names(con, Customer::find(|c| c.work_address.city.eq("Paris"))).await,
            one("Ada")
        );
        assert_eq!(
            names(con, Customer::find(|c| c.lines.name.eq("compiler"))).await,
            one("Grace")
        );
        assert_eq!(
            names(con, Customer::find(|c| c.lines.qty.gt(10))).await,
            one("Ada")
        );
        assert_eq!(
            names(con, Customer::find(|c| c.full_name.eq("Grace"))).await,
            one("Grace")
        );
        let zips: Vec<u32> = Customer::find_all()
            .sort_by(|c| c.home_address.zip_code, SortOrder::Desc)
            .select(|c| c.home_address.zip_code)
            .all(con)
            .await
            .unwrap();
        assert_eq!(zips, vec![10_002, 10_001]);
        let found = Customer::find(|c| c.home_address.zip_code.eq(10_001))
            .first(con)
            .await
            .unwrap();
        assert_eq!(found, customers[0]);
    }
}

#[tokio::test]
async fn malformed_documents_are_reported_without_losing_the_valid_ones() {
    use futures_util::StreamExt;
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "FindMalformed")]
    struct Reading {
        pk: Option<String>,
        #[redis_om(index)]
        kind: String,
        value: i64,
    }
    let mut con = common::multiplexed(&common::urls()[1]).await;
    Migrator::new()
        .model::<Reading>()
        .run(&mut con)
        .await
        .unwrap();
    common::clear_prefix(&mut con, Reading::key_layout().key_prefix()).await;
    for value in 0..10 {
        Reading {
            pk: Some(format!("ok{value}")),
            kind: "temp".into(),
            value,
        }
        .save(&mut con)
        .await
        .unwrap();
    }
    // Written by something else: a value that is not a number.
    let bad_key = Reading::key_layout().key("bad");
    let _: () = redis::cmd("HSET")
        .arg(&bad_key)
        .arg("pk")
        .arg("bad")
        .arg("kind")
        .arg("temp")
        .arg("value")
        .arg("twelve")
        .query_async(&mut con)
        .await
        .unwrap();

    let err = Reading::find(|r| r.kind.eq("temp"))
        .all(&mut con)
        .await
        .unwrap_err();
    match &err {
        Error::Decode { key, field, .. } => {
            assert_eq!(key, &bad_key);
            assert_eq!(field.as_deref(), Some("value"));
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    let results: Vec<_> = Reading::find(|r| r.kind.eq("temp"))
        .batch_size(3)
        .stream(&mut con)
        .collect()
        .await;
    let good: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.value)
        .collect();
    let bad: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(good.len(), 10, "every valid document is still returned");
    assert_eq!(bad.len(), 1);
    assert!(bad[0].to_string().contains(&bad_key), "{}", bad[0]);
}
