//! Search results are exact and scoped to their model (issue 9), against the
//! real server, RESP2 and RESP3:
//! - every search path (`all`, `stream`/`iter`, `first`, `page`, sorted reads
//!   through the cursor, `select`, `delete`) yields exactly what `get` yields,
//!   for numbers over their whole range and datetimes (a property test, plus
//!   the extremes), and a read-modify-write through `find` changes nothing else;
//! - a model whose key prefix holds another model's never returns, counts or
//!   deletes the other's documents, and the migrator refuses to index it;
//! - attribute names that need escaping work in every operator;
//! - questions the server cannot answer are errors, not empty results;
//! - words and case follow the server's own tokenizer (`FT.DEBUG DUMP_TERMS`);
//! - pages clamp, follow a small `MAXSEARCHRESULTS`, and sort by any indexed field.
#![cfg(feature = "chrono")]

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures_util::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use redis::aio::MultiplexedConnection;
use redis_om::prelude::*;
use redis_om::{Error, Expr, Migrator};
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ExactHash")]
struct ExactHash {
    pk: Option<String>,
    #[redis_om(index)]
    case: String,
    #[redis_om(index, sortable)]
    big: i64,
    #[redis_om(index)]
    unsigned: u64,
    #[redis_om(index, sortable)]
    float: f64,
    #[redis_om(index)]
    small: f32,
    #[redis_om(index)]
    at: DateTime<Utc>,
    #[redis_om(index)]
    day: NaiveDate,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ExactJson")]
struct ExactJson {
    pk: Option<String>,
    #[redis_om(index)]
    case: String,
    #[redis_om(index, sortable)]
    big: i64,
    #[redis_om(index)]
    unsigned: u64,
    #[redis_om(index, sortable)]
    float: f64,
    #[redis_om(index)]
    small: f32,
    #[redis_om(index)]
    #[serde(with = "redis_om::timestamp")]
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Values {
    big: i64,
    unsigned: u64,
    float: f64,
    small: f32,
    at: DateTime<Utc>,
}

impl Values {
    fn hash(&self, case: &str) -> ExactHash {
        ExactHash {
            pk: None,
            case: case.into(),
            big: self.big,
            unsigned: self.unsigned,
            float: self.float,
            small: self.small,
            at: self.at,
            day: self.at.date_naive(),
        }
    }

    fn json(&self, case: &str) -> ExactJson {
        ExactJson {
            pk: None,
            case: case.into(),
            big: self.big,
            unsigned: self.unsigned,
            float: self.float,
            small: self.small,
            at: self.at,
        }
    }
}

fn extremes() -> Vec<Values> {
    let at = Utc
        .with_ymd_and_hms(2024, 11, 28, 8, 7, 14)
        .unwrap()
        .checked_add_signed(chrono::Duration::microseconds(123_456))
        .unwrap();
    let mut out = vec![Values {
        // The numbers of the issue: 19 digits, 14 significant digits, microseconds.
        big: 1_795_849_964_676_585_473,
        unsigned: 1_795_849_964_676_585_473,
        float: 1_234.567_890_123_4,
        small: 0.1,
        at,
    }];
    for (big, unsigned, float, small) in [
        (i64::MAX, u64::MAX, f64::MAX, f32::MAX),
        (i64::MIN, 0, f64::MIN, f32::MIN),
        (
            i64::MIN + 1,
            u64::MAX - 1,
            f64::MIN_POSITIVE,
            f32::MIN_POSITIVE,
        ),
        (-1, 1 << 53, -f64::EPSILON, -f32::EPSILON),
        ((1 << 53) + 1, (1 << 53) + 1, 0.1 + 0.2, 16_777_217.0),
    ] {
        out.push(Values {
            big,
            unsigned,
            float,
            small,
            at: at + chrono::Duration::microseconds(big.rem_euclid(1_000_000)),
        });
    }
    out
}

/// Every search path for the document of `case`, compared with `get`.
#[tokio::test]
async fn load_modify_save_through_find_keeps_every_other_value() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new().model::<ExactHash>().run(con).await.unwrap();
        let case = common::unique("rmw");
        let mut saved = extremes()[0].hash(&case);
        saved.save(con).await.unwrap();
        // The service's loop: load with a query, change one field, save.
        let mut loaded = ExactHash::find(|m| m.case.eq(&case))
            .all(con)
            .await
            .unwrap();
        assert_eq!(loaded.len(), 1);
        loaded[0].small = 2.5;
        loaded[0].save(con).await.unwrap();
        let mut streamed: Vec<ExactHash> = ExactHash::find(|m| m.case.eq(&case))
            .stream(con)
            .try_collect()
            .await
            .unwrap();
        streamed[0].day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        streamed[0].save(con).await.unwrap();
        let reread = ExactHash::get(con, saved.pk.as_deref().unwrap())
            .await
            .unwrap();
        let expected = ExactHash {
            small: 2.5,
            day: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
            ..saved
        };
        assert_eq!(reread, expected);
        assert_eq!(reread.big, 1_795_849_964_676_585_473);
    }
}

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_cases);
    let rng_seed = match std::env::var("REDIS_OM_PROPTEST_SEED").as_deref() {
        Ok("random") => RngSeed::Random,
        Ok(seed) => RngSeed::Fixed(seed.parse().expect("REDIS_OM_PROPTEST_SEED")),
        Err(_) => RngSeed::Fixed(0x6578_6163_7421),
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: None,
        ..Config::default()
    }
}

fn values_strategy() -> impl Strategy<Value = Values> {
    let big = prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>(), -1000i64..1000];
    let unsigned = prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()];
    let float = prop_oneof![
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        -1e6f64..1e6,
    ];
    let small = prop_oneof![
        Just(f32::MAX),
        Just(f32::MIN),
        any::<f32>().prop_filter("finite", |f| f.is_finite()),
    ];
    // 1970 to 2200, to the microsecond.
    let at = (0i64..7_258_118_400, 0u32..1_000_000)
        .prop_map(|(secs, micros)| Utc.timestamp_opt(secs, micros * 1000).unwrap());
    (big, unsigned, float, small, at).prop_map(|(big, unsigned, float, small, at)| Values {
        big,
        unsigned,
        float,
        small,
        at,
    })
}

#[tokio::test]
async fn numeric_indexes_compare_as_doubles() {
    // RediSearch keeps NUMERIC values as doubles: integers beyond 2^53 that
    // share a double are the same number to a query (as README says).
    let con = &mut common::multiplexed(&common::url()).await;
    Migrator::new().model::<ExactHash>().run(con).await.unwrap();
    let case = common::unique("double");
    let at = Utc::now();
    for big in [i64::MIN, i64::MIN + 1, 1 << 53, (1 << 53) + 1] {
        let values = Values {
            big,
            unsigned: 0,
            float: 0.0,
            small: 0.0,
            at,
        };
        values.hash(&case).save(con).await.unwrap();
    }
    let count = |expr: fn(&ExactHashFields) -> Expr<ExactHash>, case: String| async move {
        let con = &mut common::multiplexed(&common::url()).await;
        ExactHash::find(|m| m.case.eq(&case) & expr(m))
            .count(con)
            .await
            .unwrap()
    };
    assert_eq!(count(|m| m.big.eq(i64::MIN + 1), case.clone()).await, 2);
    assert_eq!(count(|m| m.big.eq(1 << 53), case.clone()).await, 2);
    // get still returns each exact value.
    let bigs: BTreeSet<i64> = ExactHash::find(|m| m.case.eq(&case))
        .select(|m| m.big)
        .all(con)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(bigs.len(), 4);
}

// ---------------------------------------------------------------------------
// Scoping: `ScopeOrder` and `ScopeOrder:Item`.

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ScopeOrder")]
struct ScopeOrder {
    pk: Option<String>,
    #[redis_om(index)]
    customer: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ScopeOrder:Item")]
struct ScopeOrderItem {
    pk: Option<String>,
    #[redis_om(index)]
    customer: String,
    quantity: u32,
}

#[tokio::test]
async fn a_model_never_touches_the_documents_of_a_model_nested_in_its_key_space() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        // The migrator refuses the layout, naming both models and the fix.
        let err = Migrator::new()
            .model::<ScopeOrder>()
            .run(con)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        for part in [
            "ScopeOrderItem",
            "ScopeOrder ",
            ":ScopeOrder:Item:",
            "ScopeOrderItem`",
        ] {
            assert!(message.contains(part.trim_end()), "{part:?} in {message}");
        }
        assert!(ScopeOrder::key_layout()
            .nested_models()
            .iter()
            .any(|(name, _)| name.ends_with("::ScopeOrderItem")));
        // The nested model itself is fine.
        Migrator::new()
            .model::<ScopeOrderItem>()
            .run(con)
            .await
            .unwrap();

        // An index made by another tool (as redis-om-python makes it) over
        // `:ScopeOrder:` takes in the items too; results must not.
        let index = ScopeOrder::key_layout().index_name();
        let _: redis::Value = redis::cmd("FT.DROPINDEX")
            .arg(index)
            .query_async(con)
            .await
            .unwrap_or(redis::Value::Nil);
        common::clear_prefix(con, ScopeOrder::key_layout().key_prefix()).await;
        let mut create = redis::cmd("FT.CREATE");
        create.arg(index).arg(ScopeOrder::index_schema().args());
        let _: () = create.query_async(con).await.unwrap();

        let customer = common::unique("cust");
        let mut order = ScopeOrder {
            pk: Some("ca:on:toronto".into()),
            customer: customer.clone(),
        };
        order.save(con).await.unwrap();
        let mut other = ScopeOrder {
            pk: None,
            customer: customer.clone(),
        };
        other.save(con).await.unwrap();
        let mut item = ScopeOrderItem {
            pk: None,
            customer: customer.clone(),
            quantity: 3,
        };
        item.save(con).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;

        let q = || ScopeOrder::find(|o| o.customer.eq(&customer));
        // The index itself sees three documents...
        let raw: redis::Value = redis::cmd("FT.SEARCH")
            .arg(index)
            .arg("*")
            .arg("LIMIT")
            .arg(0)
            .arg(0)
            .query_async(con)
            .await
            .unwrap();
        assert!(
            format!("{raw:?}").to_lowercase().contains("int(3)"),
            "{raw:?}"
        );
        // ...the model two, on every path.
        assert_eq!(q().count(con).await.unwrap(), 2);
        let mut all = q().all(con).await.unwrap();
        all.sort_by(|a, b| a.pk.cmp(&b.pk));
        let mut expected = vec![order.clone(), other.clone()];
        expected.sort_by(|a, b| a.pk.cmp(&b.pk));
        assert_eq!(all, expected);
        assert_eq!(q().page(con, 0, 10).await.unwrap().len(), 2);
        assert_eq!(
            ScopeOrder::find_all().page(con, 0, 10).await.unwrap().len(),
            2
        );
        assert_eq!(q().select(|o| o.customer).all(con).await.unwrap().len(), 2);
        let streamed: Vec<ScopeOrder> = q().stream(con).try_collect().await.unwrap();
        assert_eq!(streamed.len(), 2);
        // Aggregations too: one group of the two orders, not three documents.
        let c = customer.clone();
        let groups = ScopeOrder::find(move |o| o.customer.eq(&c))
            .group_by(|o| o.customer)
            .reduce(|_| redis_om::reduce::count())
            .all(con)
            .await
            .unwrap();
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].1, 2, "{groups:?}");
        let c = customer.clone();
        let whole = ScopeOrder::find(move |o| o.customer.eq(&c))
            .aggregate(|_| redis_om::reduce::count())
            .all(con)
            .await
            .unwrap();
        assert_eq!(whole[0].1, 2, "{whole:?}");
        let each = q().all_each(con).await.unwrap();
        assert_eq!(each.len(), 2);
        assert!(q().first(con).await.is_ok());
        let mut pks: Vec<String> = ScopeOrder::all_pks(con).try_collect().await.unwrap();
        pks.sort();
        let mut expected_pks = vec![order.pk.clone().unwrap(), other.pk.clone().unwrap()];
        expected_pks.sort();
        assert_eq!(pks, expected_pks);
        // Deleting every order leaves the item alone.
        // By key too: the item's key is also `ScopeOrder`'s key `Item:{pk}`,
        // and reading, updating or deleting it as an order is refused.
        let as_order = format!("Item:{}", item.pk.as_deref().unwrap());
        let err = ScopeOrder::get(con, &as_order).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains("ScopeOrderItem")),
            "{err:?}"
        );
        assert!(ScopeOrder::delete(con, &as_order).await.is_err());
        assert!(ScopeOrder::update(con, &as_order, |o| o.customer.set("x"))
            .await
            .is_err());
        assert!(ScopeOrder::delete_many(con, [&as_order]).await.is_err());
        let mut squatter = ScopeOrder {
            pk: Some(as_order.clone()),
            customer: "x".into(),
        };
        assert!(matches!(
            squatter.save(con).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(
            ScopeOrder::save_all(con, std::slice::from_mut(&mut squatter))
                .await
                .is_err()
        );
        assert_eq!(
            ScopeOrderItem::get(con, item.pk.as_deref().unwrap())
                .await
                .unwrap(),
            item
        );
        assert_eq!(ScopeOrder::find_all().delete(con).await.unwrap(), 2);
        assert_eq!(
            ScopeOrderItem::get(con, item.pk.as_deref().unwrap())
                .await
                .unwrap(),
            item
        );
        assert_eq!(
            ScopeOrderItem::find(|i| i.customer.eq(&customer))
                .count(con)
                .await
                .unwrap(),
            1
        );
        let _: redis::Value = redis::cmd("FT.DROPINDEX")
            .arg(index)
            .query_async(con)
            .await
            .unwrap();
        ScopeOrderItem::find(|i| i.customer.eq(&customer))
            .delete(con)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------
// Names that need escaping.

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "OddNames")]
struct OddNames {
    pk: Option<String>,
    #[redis_om(index, rename = "e-mail")]
    email: String,
    #[redis_om(index, sortable, rename = "login.count")]
    logins: i64,
    #[redis_om(index, rename = "home city")]
    city: String,
    #[redis_om(full_text, rename = "bio-text")]
    bio: String,
    #[redis_om(index, rename = "café")]
    cafe: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "kebab-case")]
#[redis_om(prefix = "OddJson")]
struct OddJson {
    pk: Option<String>,
    #[redis_om(index)]
    e_mail: String,
    #[redis_om(index)]
    login_count: i64,
    #[redis_om(full_text)]
    bio_text: String,
    #[redis_om(index)]
    nick_names: Vec<String>,
    #[redis_om(index)]
    is_admin: bool,
}

#[tokio::test]
async fn names_that_need_escaping_work_in_every_operator() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new()
            .model::<OddNames>()
            .model::<OddJson>()
            .run(con)
            .await
            .unwrap();
        let city = common::unique("odd city");
        let mut saved = Vec::new();
        for (i, email) in ["ada@example.com", "bob@example.org"].iter().enumerate() {
            let mut doc = OddNames {
                pk: None,
                email: email.to_string(),
                logins: i as i64 * 10,
                city: city.clone(),
                bio: format!("engineer number {i} writes compilers"),
                cafe: "Crème".into(),
            };
            doc.save(con).await.unwrap();
            saved.push(doc);
        }
        let in_city = |q: Expr<OddNames>| {
            let city = city.clone();
            OddNames::find(move |o| o.city.eq(city.as_str()) & q)
        };
        let f = OddNames::fields();
        assert_eq!(
            count_of(in_city(f.email.eq("ada@example.com")), con).await,
            1
        );
        assert_eq!(
            count_of(in_city(f.email.ne("ada@example.com")), con).await,
            1
        );
        assert_eq!(
            count_of(in_city(f.email.is_in(["ada@example.com", "x@y"])), con).await,
            1
        );
        assert_eq!(
            count_of(in_city(f.email.not_in(["ada@example.com"])), con).await,
            1
        );
        assert_eq!(count_of(in_city(f.email.starts_with("bob")), con).await, 1);
        assert_eq!(count_of(in_city(f.email.ends_with(".org")), con).await, 1);
        assert_eq!(count_of(in_city(f.email.contains("example")), con).await, 2);
        assert_eq!(count_of(in_city(f.logins.gt(5)), con).await, 1);
        assert_eq!(count_of(in_city(f.logins.between(0, 10)), con).await, 2);
        assert_eq!(count_of(in_city(f.logins.eq(10)), con).await, 1);
        assert_eq!(count_of(in_city(f.bio.matches("compilers")), con).await, 2);
        assert_eq!(
            count_of(in_city(f.bio.matches_phrase("number 1")), con).await,
            1
        );
        assert_eq!(
            count_of(in_city(f.bio.matches_prefix("engin")), con).await,
            2
        );
        assert_eq!(count_of(in_city(f.bio.fuzzy("compiler")), con).await, 2);
        assert_eq!(count_of(in_city(f.cafe.eq("Crème")), con).await, 2);
        let sorted = in_city(Expr::all()).sort_by(|o| o.logins, SortOrder::Desc);
        let desc: Vec<i64> = sorted
            .all(con)
            .await
            .unwrap()
            .iter()
            .map(|o| o.logins)
            .collect();
        assert_eq!(desc, vec![10, 0]);
        assert_eq!(sorted.page(con, 0, 1).await.unwrap()[0], saved[1]);
        let by_email = in_city(Expr::all()).sort_by(|o| o.email, SortOrder::Asc);
        assert_eq!(by_email.first(con).await.unwrap(), saved[0]);
        let picked: Vec<(String, i64, String)> = by_email
            .select(|o| (o.email, o.logins, o.cafe))
            .all(con)
            .await
            .unwrap();
        assert_eq!(picked[1], ("bob@example.org".into(), 10, "Crème".into()));

        let nick = common::unique("nick");
        let mut json = OddJson {
            pk: None,
            e_mail: "kebab@example.com".into(),
            login_count: 7,
            bio_text: "kebab case everywhere".into(),
            nick_names: vec![nick.clone(), "kc".into()],
            is_admin: true,
        };
        json.save(con).await.unwrap();
        let j = OddJson::fields();
        let mine = |q: Expr<OddJson>| {
            let nick = nick.clone();
            OddJson::find(move |o| o.nick_names.eq(nick.as_str()) & q)
        };
        for q in [
            j.e_mail.eq("kebab@example.com"),
            j.e_mail.starts_with("keb"),
            j.login_count.ge(7),
            j.bio_text.matches("everywhere"),
            j.bio_text.matches_phrase("kebab case"),
            j.nick_names.is_in(["kc"]),
            j.is_admin.eq(true),
        ] {
            let found = mine(q.clone()).all(con).await.unwrap();
            assert_eq!(found, vec![json.clone()], "{q:?}");
        }
        let sorted = mine(Expr::all()).sort_by(|o| o.login_count, SortOrder::Asc);
        assert_eq!(sorted.page(con, 0, 5).await.unwrap(), vec![json.clone()]);
        let picked: Vec<(String, i64, bool)> = sorted
            .select(|o| (o.e_mail, o.login_count, o.is_admin))
            .all(con)
            .await
            .unwrap();
        assert_eq!(picked, vec![("kebab@example.com".into(), 7, true)]);
        mine(Expr::all()).delete(con).await.unwrap();
        in_city(Expr::all()).delete(con).await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// What the server cannot answer.

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Limits")]
struct Limits {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    tag: String,
    #[redis_om(full_text)]
    body: String,
}

async fn count_of<M: redis_om::Model>(
    query: redis_om::Query<M>,
    con: &mut MultiplexedConnection,
) -> u64 {
    query.count(con).await.unwrap()
}

fn invalid<T: std::fmt::Debug>(result: redis_om::Result<T>) -> String {
    match result {
        Err(Error::InvalidArgument(message)) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn questions_the_server_cannot_answer_are_errors_not_empty_results() {
    let con = &mut common::multiplexed(&common::url()).await;
    Migrator::new().model::<Limits>().run(con).await.unwrap();
    let run = common::unique("limits");
    let long_tag = "t".repeat(redis_om::MAX_TAG_BYTES + 1);
    let long_word = "w".repeat(redis_om::MAX_WORD_BYTES + 1);
    for (tag, body) in [
        ("abc", "alpha beta".to_string()),
        (long_tag.as_str(), format!("gamma {long_word}")),
    ] {
        Limits {
            pk: None,
            run: run.clone(),
            tag: tag.into(),
            body,
        }
        .save(con)
        .await
        .unwrap();
    }
    let mine = |q: fn(&LimitsFields) -> Expr<Limits>| {
        let run = run.clone();
        Limits::find(move |l| l.run.eq(run.as_str()) & q(l))
    };
    // What the server answers for a one-character pattern: nothing at all.
    let raw = Limits::find(|l| l.run.eq(run.as_str()) & Expr::raw("@tag:{a*}"))
        .count(con)
        .await
        .unwrap();
    assert_eq!(raw, 0, "the server ignores a pattern under MINPREFIX");
    // So the typed operators refuse it, naming the limit.
    for q in [
        mine(|l| l.tag.starts_with("a")),
        mine(|l| l.tag.ends_with(" c ")),
        mine(|l| l.tag.contains("b")),
        mine(|l| l.body.matches_prefix("alpha b")),
    ] {
        assert!(invalid(q.count(con).await).contains("MINPREFIX"));
    }
    assert_eq!(
        mine(|l| l.tag.starts_with("ab")).count(con).await.unwrap(),
        1
    );
    // The whole of a tag over 4,096 bytes cannot be found; its first 4,096 bytes can.
    let too_long = long_tag.clone();
    let q = Limits::find(move |l| l.tag.eq(too_long.as_str()));
    assert!(invalid(q.count(con).await).contains("4096 bytes"));
    let prefix = long_tag[..redis_om::MAX_TAG_BYTES].to_owned();
    let run3 = run.clone();
    let q = Limits::find(move |l| l.run.eq(run3.as_str()) & l.tag.eq(prefix.as_str()));
    assert_eq!(q.count(con).await.unwrap(), 1);
    // Likewise a word over 128 bytes.
    let word = long_word.clone();
    let q = Limits::find(move |l| l.body.matches(word.as_str()));
    assert!(invalid(q.count(con).await).contains("128 bytes"));
    // Too many words for the server's parser; a megabyte of repeated words is fine.
    let many: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let text = many.join(" ");
    let q = Limits::find(move |l| l.body.matches(text.as_str()));
    assert!(invalid(q.count(con).await).contains("at most 128"));
    let megabyte = "alpha beta ".repeat(100_000);
    let q = mine(|l| l.body.matches("alpha"));
    assert_eq!(q.count(con).await.unwrap(), 1);
    let run2 = run.clone();
    let q = Limits::find(move |l| l.run.eq(run2.as_str()) & l.body.matches(megabyte.as_str()));
    assert_eq!(q.count(con).await.unwrap(), 1);
    // A rejected huge query gives a readable error, not megabytes of text.
    let huge = format!("@run:{{{}", "y".repeat(1_000_000));
    match Limits::find(|_| Expr::raw(huge)).count(con).await {
        Err(Error::Query { query, message }) => {
            assert!(query.len() < 1_000, "{} bytes of query", query.len());
            assert!(message.len() < 1_000, "{} bytes of message", message.len());
            assert!(query.contains("bytes in all"), "{query}");
        }
        other => panic!("expected Error::Query, got {other:?}"),
    }
    mine(|_| Expr::all()).delete(con).await.unwrap();
}

// ---------------------------------------------------------------------------
// Words and case as the server indexes them.

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Words")]
struct Words {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(full_text)]
    body: String,
}

#[tokio::test]
async fn full_text_and_tags_follow_the_servers_word_and_case_rules() {
    let con = &mut common::multiplexed(&common::url()).await;
    Migrator::new().model::<Words>().run(con).await.unwrap();
    let run = common::unique("words");
    for body in [
        "First line\nsecond line",
        "ÉCOLE non\u{a0}breaking",
        "🌀A rocket",
    ] {
        Words {
            pk: None,
            run: run.clone(),
            body: body.into(),
        }
        .save(con)
        .await
        .unwrap();
    }
    let count = |text: &'static str| {
        let run = run.clone();
        Words::find(move |w| w.run.eq(run.as_str()) & w.body.matches(text))
    };
    // The exact stored text always finds its document.
    assert_eq!(count_of(count("First line\nsecond line"), con).await, 1);
    assert_eq!(count_of(count("ÉCOLE non\u{a0}breaking"), con).await, 1);
    // A newline joins words, a no-break space is part of one (as indexed).
    assert_eq!(count_of(count("linesecond"), con).await, 1);
    assert_eq!(count_of(count("second"), con).await, 0);
    assert_eq!(count_of(count("non\u{a0}breaking"), con).await, 1);
    // Characters past U+FFFF are searchable as written.
    assert_eq!(count_of(count("🌀a"), con).await, 1);
    // Only ASCII letters are case-insensitive.
    assert_eq!(count_of(count("École"), con).await, 1);
    assert_eq!(count_of(count("école"), con).await, 0);
    // Tags: the same ASCII-only case folding.
    let tag = |value: &'static str| Words::find(move |w| w.run.eq(value));
    Words {
        pk: None,
        run: "ÉCOLE-tag".into(),
        body: "x".into(),
    }
    .save(con)
    .await
    .unwrap();
    assert!(count_of(tag("École-TAG"), con).await >= 1);
    assert_eq!(count_of(tag("école-tag"), con).await, 0);
    Words::find(|w| w.run.is_in([run.as_str(), "ÉCOLE-tag"]))
        .delete(con)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Pages and sorting.

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Pages")]
struct Pages {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable)]
    n: u32,
    #[redis_om(index)]
    unsorted: u32,
    #[redis_om(index)]
    label: String,
    #[redis_om(full_text)]
    words: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "PagesJson")]
struct PagesJson {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    unsorted: u32,
    #[redis_om(index)]
    label: String,
}

async fn save_pages(con: &mut MultiplexedConnection, run: &str, n: u32) {
    let mut docs: Vec<Pages> = (0..n)
        .map(|i| Pages {
            pk: None,
            run: run.into(),
            n: i,
            unsorted: n - 1 - i,
            label: format!("label{:04}", (i * 7) % n),
            words: format!("word{:04}", n - 1 - i),
        })
        .collect();
    Pages::save_all(con, &mut docs).await.unwrap();
    let mut json: Vec<PagesJson> = (0..n)
        .map(|i| PagesJson {
            pk: None,
            run: run.into(),
            unsorted: n - 1 - i,
            label: format!("label{:04}", (i * 7) % n),
        })
        .collect();
    PagesJson::save_all(con, &mut json).await.unwrap();
}

#[tokio::test]
async fn sort_by_any_indexed_field_and_page_with_any_limit() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new()
            .model::<Pages>()
            .model::<PagesJson>()
            .run(con)
            .await
            .unwrap();
        let run = common::unique("sort");
        save_pages(con, &run, 50).await;
        let q = || {
            let run = run.clone();
            Pages::find(move |p| p.run.eq(run.as_str()))
        };
        // Fields that are indexed but not SORTABLE sort too, on every path.
        let asc: Vec<u32> = (0..50).collect();
        let by_unsorted = q().sort_by(|p| p.unsorted, SortOrder::Asc);
        let got: Vec<u32> = by_unsorted
            .all(con)
            .await
            .unwrap()
            .iter()
            .map(|p| p.unsorted)
            .collect();
        assert_eq!(got, asc);
        let got: Vec<u32> = by_unsorted
            .page(con, 10, 5)
            .await
            .unwrap()
            .iter()
            .map(|p| p.unsorted)
            .collect();
        assert_eq!(got, vec![10, 11, 12, 13, 14]);
        let labels: Vec<String> = q()
            .sort_by(|p| p.label, SortOrder::Desc)
            .select(|p| p.label)
            .all(con)
            .await
            .unwrap();
        let mut expected: Vec<String> = (0..50).map(|i| format!("label{:04}", i)).collect();
        expected.reverse();
        assert_eq!(labels, expected);
        let words: Vec<String> = q()
            .sort_by(|p| p.words, SortOrder::Asc)
            .page(con, 0, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.words)
            .collect();
        assert_eq!(words, vec!["word0000", "word0001", "word0002"]);
        let json: Vec<u32> = PagesJson::find(|p| p.run.eq(run.as_str()))
            .sort_by(|p| p.unsorted, SortOrder::Desc)
            .select(|p| p.unsorted)
            .all(con)
            .await
            .unwrap();
        assert_eq!(json, (0..50).rev().collect::<Vec<u32>>());
        // Any limit works: it is clamped to what exists.
        let sorted = q().sort_by(|p| p.n, SortOrder::Asc);
        assert_eq!(sorted.page(con, 0, u64::MAX).await.unwrap().len(), 50);
        let tail: Vec<u32> = sorted
            .page(con, 45, u64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|p| p.n)
            .collect();
        assert_eq!(tail, vec![45, 46, 47, 48, 49]);
        let past_the_end = q().page(con, u64::MAX, u64::MAX).await.unwrap();
        assert_eq!((past_the_end.len(), past_the_end.total), (0, 50));
        let rest = q().page(con, 3, u64::MAX).await.unwrap();
        assert_eq!((rest.len(), rest.total), (47, 50));
        let first = q().page(con, 0, 10).await.unwrap();
        assert_eq!((first.len(), first.total, first.pages(10)), (10, 50, 5));
        assert_eq!(q().page(con, 5, 0).await.unwrap().total, 50);
        q().delete(con).await.unwrap();
        PagesJson::find(|p| p.run.eq(run.as_str()))
            .delete(con)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn pages_follow_a_server_with_a_small_result_window() {
    // A server of its own: MAXSEARCHRESULTS is global to the server.
    let server = common::Server::fresh(common::fault_port(7), &[]);
    let con = &mut common::multiplexed(&server.url()).await;
    let _: () = redis::cmd("FT.CONFIG")
        .arg("SET")
        .arg("MAXSEARCHRESULTS")
        .arg(100)
        .query_async(con)
        .await
        .unwrap();
    Migrator::new()
        .model::<Pages>()
        .model::<PagesJson>()
        .run(con)
        .await
        .unwrap();
    let run = common::unique("window");
    save_pages(con, &run, 200).await;
    let q = || {
        let run = run.clone();
        Pages::find(move |p| p.run.eq(run.as_str()))
    };
    let ns = |page: redis_om::Page<Pages>| {
        // Every page knows how many documents match in all.
        assert_eq!(page.total, 200);
        page.iter().map(|p| p.n).collect::<Vec<u32>>()
    };
    for order in [SortOrder::Asc, SortOrder::Desc] {
        let sorted = q().sort_by(|p| p.n, order);
        let expect = |range: std::ops::Range<u32>| -> Vec<u32> {
            match order {
                SortOrder::Asc => range.collect(),
                SortOrder::Desc => range.map(|i| 199 - i).collect(),
            }
        };
        // Cut short by the server (5 rows) before; refused (OFFSET exceeds maximum) before.
        assert_eq!(ns(sorted.page(con, 95, 10).await.unwrap()), expect(95..105));
        assert_eq!(
            ns(sorted.page(con, 150, 10).await.unwrap()),
            expect(150..160)
        );
        assert_eq!(ns(sorted.page(con, 0, 101).await.unwrap()), expect(0..101));
        assert_eq!(
            ns(sorted.page(con, 190, u64::MAX).await.unwrap()),
            expect(190..200)
        );
        let by_unsorted = q().sort_by(|p| p.unsorted, order);
        assert_eq!(by_unsorted.page(con, 120, 10).await.unwrap().len(), 10);
    }
    assert_eq!(q().page(con, 150, 10).await.unwrap().len(), 10);
    assert_eq!(q().all(con).await.unwrap().len(), 200);
    assert_eq!(q().count(con).await.unwrap(), 200);
    let json = PagesJson::find(|p| p.run.eq(run.as_str()))
        .sort_by(|p| p.unsorted, SortOrder::Asc)
        .select(|p| p.unsorted)
        .page(con, 98, 4)
        .await
        .unwrap();
    assert_eq!(json, vec![98, 99, 100, 101]);
    assert_eq!(json.total, 200);
    // Unsorted past the window (through the cursor): the total is counted.
    let unsorted = q().page(con, 150, 10).await.unwrap();
    assert_eq!((unsorted.len(), unsorted.total), (10, 200));
}

/// The blocking API (`SyncModel`, `SyncQuery`), kept apart from the async one
/// that the prelude brings.
mod blocking {
    #[cfg(feature = "fuzzing")]
    use std::collections::BTreeSet;

    #[cfg(feature = "fuzzing")]
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;
    use redis_om::blocking::prelude::*;

    use super::{common, config, extremes, values_strategy, ExactHash, ExactJson};

    /// `$name(con, case)`: every search path for the document of `case`
    /// (sorted by `$sort`; selecting `$fields`) equals `get`.
    macro_rules! paths_equal_get {
        ($name:ident, $model:ident, $sort:ident, $order:expr, ($($field:ident),*)) => {
            fn $name<C: redis::ConnectionLike + Send>(con: &mut C, case: &str) {
                let found = $model::find(|m| m.case.eq(case));
                let first = found.first(con).unwrap();
                let stored = $model::get(con, first.pk.as_deref().unwrap()).unwrap();
                let one = vec![stored.clone()];
                assert_eq!(first, stored, "first()");
                assert_eq!(found.all(con).unwrap(), one, "all()");
                assert_eq!(found.page(con, 0, 10).unwrap(), one, "page()");
                let sorted = found.clone().sort_by(|m| m.$sort, $order);
                assert_eq!(sorted.all(con).unwrap(), one, "sorted all()");
                // Past the FT.SEARCH window: the sorted cursor.
                let deep = sorted.page(con, 0, 20_000).unwrap();
                assert_eq!(deep, one, "sorted page through the cursor");
                let iterated: Vec<$model> =
                    found.clone().iter(con).collect::<Result<_, _>>().unwrap();
                assert_eq!(iterated, one, "iter()");
                let selected = found.clone().select(|m| ($(m.$field),*));
                let tuple = ($(stored.$field),*);
                assert_eq!(selected.first(con).unwrap(), tuple, "select().first()");
                assert_eq!(selected.all(con).unwrap(), vec![tuple], "select().all()");
            }
        };
    }

    paths_equal_get!(
        hash_paths_equal_get,
        ExactHash,
        big,
        SortOrder::Desc,
        (big, unsigned, float, small, at, day)
    );
    paths_equal_get!(
        json_paths_equal_get,
        ExactJson,
        float,
        SortOrder::Asc,
        (big, unsigned, float, small, at)
    );

    #[test]
    fn extreme_numbers_come_back_exact_from_every_search_path() {
        for url in common::urls() {
            let con = &mut common::sync_con(&url);
            redis_om::blocking::Migrator::new()
                .model::<ExactHash>()
                .model::<ExactJson>()
                .run(con)
                .unwrap();
            for values in extremes() {
                let case = common::unique("extreme");
                let mut hash = values.hash(&case);
                hash.save(con).unwrap();
                let mut json = values.json(&case);
                json.save(con).unwrap();
                // `get` itself keeps every value...
                assert_eq!(
                    ExactHash::get(con, hash.pk.as_deref().unwrap()).unwrap(),
                    hash
                );
                assert_eq!(
                    ExactJson::get(con, json.pk.as_deref().unwrap()).unwrap(),
                    json
                );
                // ...and so does every search path.
                hash_paths_equal_get(con, &case);
                json_paths_equal_get(con, &case);
                // The key reads of `delete` find exactly this document.
                assert_eq!(
                    ExactHash::find(|m| m.case.eq(&case)).delete(con).unwrap(),
                    1
                );
                assert_eq!(
                    ExactJson::find(|m| m.case.eq(&case)).delete(con).unwrap(),
                    1
                );
            }
        }
    }

    #[test]
    fn random_numbers_come_back_from_search_as_get_returns_them() {
        for url in common::urls() {
            let con = std::cell::RefCell::new(common::sync_con(&url));
            redis_om::blocking::Migrator::new()
                .model::<ExactHash>()
                .model::<ExactJson>()
                .run(&mut *con.borrow_mut())
                .unwrap();
            let mut runner = TestRunner::new(config(150));
            let result = runner.run(&values_strategy(), |values| {
                let con = &mut *con.borrow_mut();
                let case = common::unique("prop");
                values.hash(&case).save(con).unwrap();
                values.json(&case).save(con).unwrap();
                hash_paths_equal_get(con, &case);
                json_paths_equal_get(con, &case);
                ExactHash::find(|m| m.case.eq(&case)).delete(con).unwrap();
                ExactJson::find(|m| m.case.eq(&case)).delete(con).unwrap();
                Ok(())
            });
            result.unwrap();
        }
    }

    #[cfg(feature = "fuzzing")] // `redis_om::__fuzz::text_words`
    fn text_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ aAzZéÉ\\t\\n\\r\\u{0b}\\u{a0}\\u{2003}\\u{3000}_,.;:!?'\"()\\[\\]{}<>@#$%^&*+=~`|/\\\\-]{0,24}",
            "(the|a|Über|ÇA|word|x\\\\y|don't|e-mail|C\\+\\+|\\u{a0}|\\n| ){0,8}",
        ]
    }

    #[cfg(feature = "fuzzing")] // `redis_om::__fuzz::text_words`
    fn dump_terms(con: &mut redis::Connection, index: &str) -> BTreeSet<Vec<u8>> {
        let terms: Vec<Vec<u8>> = redis::cmd("FT.DEBUG")
            .arg("DUMP_TERMS")
            .arg(index)
            .query(con)
            .unwrap();
        terms
            .into_iter()
            // Stems are stored with a leading `+`.
            .filter(|t| !t.starts_with(b"+"))
            .collect()
    }

    /// A word as `DUMP_TERMS` shows it: the index's trie keeps 16-bit
    /// characters, so a character past U+FFFF shows as its low 16 bits (🌀,
    /// U+1F300, as U+F300; possibly a lone surrogate). Queries go through the
    /// same conversion, so the word itself is what a query sends.
    #[cfg(feature = "fuzzing")] // `redis_om::__fuzz::text_words`
    fn as_trie_shows(word: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for c in word.chars() {
            let cp = (c as u32) & 0xFFFF;
            match cp {
                0..=0x7F => out.push(cp as u8),
                0x80..=0x7FF => out.extend([0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]),
                _ => out.extend([
                    0xE0 | (cp >> 12) as u8,
                    0x80 | ((cp >> 6) & 0x3F) as u8,
                    0x80 | (cp & 0x3F) as u8,
                ]),
            }
        }
        out
    }

    #[test]
    #[cfg(feature = "fuzzing")] // `redis_om::__fuzz::text_words`
    fn words_equal_the_servers_own_tokenizer() {
        const STOP: &[&str] = &[
            "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in",
            "into", "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there",
            "these", "they", "this", "to", "was", "will", "with",
        ];
        let con = std::cell::RefCell::new(common::sync_con(&common::url()));
        let mut runner = TestRunner::new(config(300));
        let result = runner.run(&proptest::collection::vec(text_strategy(), 1..6), |texts| {
            let con = &mut *con.borrow_mut();
            let index = common::unique("tokens");
            let _: () = redis::cmd("FT.CREATE")
                .arg(&index)
                .arg("ON")
                .arg("HASH")
                .arg("PREFIX")
                .arg(1)
                .arg(format!("{index}:"))
                .arg("SCHEMA")
                .arg("t")
                .arg("TEXT")
                .query(con)
                .unwrap();
            let mut ours = BTreeSet::new();
            for (i, text) in texts.iter().enumerate() {
                let _: () = redis::cmd("HSET")
                    .arg(format!("{index}:{i}"))
                    .arg("t")
                    .arg(text)
                    .query(con)
                    .unwrap();
                ours.extend(
                    redis_om::__fuzz::text_words(text)
                        .into_iter()
                        .filter(|w| !STOP.contains(&w.as_str()) && w.len() <= 128)
                        .map(|w| as_trie_shows(&w)),
                );
            }
            let theirs = dump_terms(con, &index);
            let _: () = redis::cmd("FT.DROPINDEX")
                .arg(&index)
                .arg("DD")
                .query(con)
                .unwrap();
            let show = |set: &BTreeSet<Vec<u8>>| -> Vec<String> {
                set.iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect()
            };
            prop_assert_eq!(show(&ours), show(&theirs), "texts {:?}", texts);
            prop_assert_eq!(ours, theirs);
            Ok(())
        });
        result.unwrap();
    }
}

// ---------------------------------------------------------------------------
// Projections sorted by a projected field (JSON): the server's sort key must
// never stand in for the stored value.

#[derive(JsonModel, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SortSel")]
struct SortSel {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(full_text, sortable)]
    name: String,
    #[redis_om(index, sortable)]
    big: i64,
    #[redis_om(index, sortable)]
    frac: f64,
    #[redis_om(index, sortable)]
    tag: String,
}

#[tokio::test]
async fn json_projections_sorted_by_a_projected_field_are_exact() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new().model::<SortSel>().run(con).await.unwrap();
        let run = common::unique("sortsel");
        let mut docs: Vec<SortSel> = [
            (
                "Brookins",
                1_795_849_964_676_585_473i64,
                0.123456789012345,
                "zed",
            ),
            ("Adams", -9_007_199_254_740_993, 2.5e-7, "alpha"),
            ("Carter", i64::MAX, 1e300, "mid"),
        ]
        .into_iter()
        .map(|(name, big, frac, tag)| SortSel {
            pk: None,
            run: run.clone(),
            name: name.into(),
            big,
            frac,
            tag: tag.into(),
        })
        .collect();
        SortSel::save_all(con, &mut docs).await.unwrap();
        let q = || SortSel::find(|m| m.run.eq(run.as_str()));
        let mut names: Vec<String> = q()
            .sort_by(|m| m.name, SortOrder::Asc)
            .select(|m| m.name)
            .all(con)
            .await
            .unwrap();
        let first = q()
            .sort_by(|m| m.name, SortOrder::Asc)
            .select(|m| m.name)
            .first(con)
            .await
            .unwrap();
        let page = q()
            .sort_by(|m| m.name, SortOrder::Asc)
            .select(|m| m.name)
            .page(con, 0, 10)
            .await
            .unwrap();
        assert_eq!(names, ["Adams", "Brookins", "Carter"], "{url}");
        assert_eq!(first, "Adams");
        assert_eq!(page.to_vec(), names);
        names.clear();
        let bigs: Vec<i64> = q()
            .sort_by(|m| m.big, SortOrder::Asc)
            .select(|m| m.big)
            .all(con)
            .await
            .unwrap();
        assert_eq!(
            bigs,
            [-9_007_199_254_740_993, 1_795_849_964_676_585_473, i64::MAX],
            "{url}"
        );
        let fracs: Vec<f64> = q()
            .sort_by(|m| m.frac, SortOrder::Desc)
            .select(|m| m.frac)
            .all(con)
            .await
            .unwrap();
        assert_eq!(fracs, [1e300, 0.123456789012345, 2.5e-7], "{url}");
        let tags: Vec<String> = q()
            .sort_by(|m| m.tag, SortOrder::Asc)
            .select(|m| m.tag)
            .all(con)
            .await
            .unwrap();
        assert_eq!(tags, ["alpha", "mid", "zed"], "{url}");
        let pairs: Vec<(String, i64)> = q()
            .sort_by(|m| m.big, SortOrder::Desc)
            .select(|m| (m.name, m.big))
            .page(con, 0, 2)
            .await
            .unwrap()
            .to_vec();
        assert_eq!(
            pairs,
            [
                ("Carter".to_owned(), i64::MAX),
                ("Brookins".to_owned(), 1_795_849_964_676_585_473)
            ],
            "{url}"
        );
        q().delete(con).await.unwrap();
    }
}

/// A model with its own index: the expansion limit counts the distinct terms
/// of one index, so no other test's values may add to them.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ExpandSku")]
struct ExpandSku {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    sku: String,
    #[redis_om(index)]
    group: String,
    #[redis_om(index, full_text)]
    title: String,
    #[redis_om(index)]
    status: String,
    #[redis_om(index, case_sensitive)]
    code: String,
}

fn expansion_refusal(result: redis_om::Result<impl std::fmt::Debug>, what: &str) {
    match result {
        Err(Error::Query { message, .. }) => {
            for part in ["MAXPREFIXEXPANSIONS", "FT.CONFIG SET", "nothing was read"] {
                assert!(message.contains(part), "{what}: {part:?} in {message}");
            }
        }
        other => panic!("{what}: expected the expansion refusal, got {other:?}"),
    }
}

/// Issue 23, item 1: RediSearch expands a pattern into at most
/// `MAXPREFIXEXPANSIONS` (200) terms and drops the rest without a word; a
/// pattern past it is refused on every path (never 200 of 1,000), and one
/// under it is exact.
#[tokio::test]
async fn patterns_past_the_servers_expansion_limit_are_refused_not_cut() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new().model::<ExpandSku>().run(con).await.unwrap();
        // Distinct values of this run only; `x` keeps the words alphanumeric.
        let run = common::unique("sku").replace('-', "x");
        let mut docs: Vec<ExpandSku> = (0..1000)
            .map(|i| ExpandSku {
                pk: None,
                run: run.clone(),
                sku: format!("{run}-{i:04}-end"),
                group: if i % 2 == 0 { "even" } else { "odd" }.into(),
                title: format!("{run}w{i:04}"),
                status: "new".into(),
                // The server's warning as a value: a query naming it is no warning.
                code: if i == 150 {
                    "Max prefix expansion reached".into()
                } else {
                    format!("c{i}")
                },
            })
            .collect();
        ExpandSku::save_all(con, &mut docs).await.unwrap();
        let of_run = || ExpandSku::find(|m| m.run.eq(run.as_str()));
        assert_eq!(of_run().count(con).await.unwrap(), 1000, "{url}");

        let prefix = format!("{run}-");
        let wide = || ExpandSku::find(|m| m.sku.starts_with(&prefix));
        expansion_refusal(wide().count(con).await, "count");
        expansion_refusal(wide().all(con).await, "all");
        expansion_refusal(wide().all_each(con).await, "all_each");
        expansion_refusal(wide().first(con).await, "first");
        expansion_refusal(wide().page(con, 0, 10).await, "page");
        expansion_refusal(
            wide().sort_by(|m| m.sku, SortOrder::Desc).all(con).await,
            "sorted all",
        );
        expansion_refusal(wide().select(|m| m.sku).all(con).await, "select");
        let streamed: redis_om::Result<Vec<ExpandSku>> = wide().stream(con).try_collect().await;
        expansion_refusal(streamed, "stream");
        expansion_refusal(
            ExpandSku::find(|m| m.sku.starts_with(&prefix) & m.group.eq("even"))
                .count(con)
                .await,
            "a pattern within an intersection",
        );
        expansion_refusal(
            ExpandSku::find(|m| m.sku.ends_with("-end") & m.run.eq(run.as_str()))
                .count(con)
                .await,
            "ends_with",
        );
        expansion_refusal(
            ExpandSku::find(|m| m.sku.contains(&prefix))
                .count(con)
                .await,
            "contains",
        );
        expansion_refusal(
            ExpandSku::find(|m| m.title.matches_prefix(format!("{run}w")))
                .count(con)
                .await,
            "matches_prefix",
        );
        expansion_refusal(
            ExpandSku::find(|m| Expr::raw(format!("@sku:{{{run}\\-*}}")) & m.group.eq("odd"))
                .count(con)
                .await,
            "a raw pattern",
        );
        // `?` wildcards expand too (`w'…'`).
        expansion_refusal(
            ExpandSku::find(|_| Expr::raw(format!("@sku:{{w'{run}-????-end'}}")))
                .count(con)
                .await,
            "a raw ? wildcard",
        );
        expansion_refusal(
            wide()
                .aggregate(|_| redis_om::reduce::count())
                .all(con)
                .await,
            "aggregate",
        );
        // Nothing was deleted or changed by the refused writes.
        expansion_refusal(wide().delete(con).await, "delete");
        expansion_refusal(wide().update(con, |m| m.status.set("done")).await, "update");
        assert_eq!(of_run().count(con).await.unwrap(), 1000, "{url}");
        assert_eq!(
            ExpandSku::find(|m| m.run.eq(run.as_str()) & m.status.eq("done"))
                .count(con)
                .await
                .unwrap(),
            0,
            "{url}"
        );

        // Under the limit the same paths are exact: 100 values.
        let narrow_prefix = format!("{run}-01");
        let narrow = || ExpandSku::find(|m| m.sku.starts_with(&narrow_prefix));
        assert_eq!(narrow().count(con).await.unwrap(), 100, "{url}");
        let mut skus: Vec<String> = narrow().select(|m| m.sku).all(con).await.unwrap();
        skus.sort();
        let expected: Vec<String> = (100..200).map(|i| format!("{run}-{i:04}-end")).collect();
        assert_eq!(skus, expected, "{url}");
        assert_eq!(
            ExpandSku::find(|m| m.sku.starts_with(&narrow_prefix) & m.group.eq("even"))
                .count(con)
                .await
                .unwrap(),
            50
        );
        assert_eq!(
            ExpandSku::find(
                |m| m.code.eq("Max prefix expansion reached") & m.sku.starts_with(&narrow_prefix)
            )
            .count(con)
            .await
            .unwrap(),
            1,
            "{url}"
        );
        assert_eq!(
            narrow()
                .update(con, |m| m.status.set("done"))
                .await
                .unwrap(),
            100
        );
        assert_eq!(narrow().delete(con).await.unwrap(), 100);
        assert_eq!(of_run().count(con).await.unwrap(), 900, "{url}");
        assert_eq!(of_run().delete(con).await.unwrap(), 900, "{url}");
    }
}
