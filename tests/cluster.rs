//! Redis Cluster (3 primaries, 1 replica each; Redis Stack 7.4, whose search
//! module indexes each shard's own keys): every operation through
//! `redis_om::ClusterConnection`. The cluster comes from
//! `REDIS_OM_CLUSTER_URLS` (`scripts/test` starts it with
//! `scripts/redis-stack cluster start`).

mod common;

use redis_om::prelude::*;
use redis_om::{ClusterConnection, Error, SearchMode};
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ClUser")]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable)]
    age: i64,
    #[redis_om(index)]
    name: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ClDoc")]
struct Doc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable)]
    score: f64,
}

async fn cluster() -> ClusterConnection {
    let urls = redis_om::cluster_urls();
    assert!(
        !urls.is_empty(),
        "REDIS_OM_CLUSTER_URLS is not set: run the tests with scripts/test, which starts a \
         cluster (scripts/redis-stack cluster start)"
    );
    redis_om::connect_cluster(urls).await.unwrap()
}

fn user(run: &str, i: i64) -> User {
    User {
        pk: Some(format!("{run}-{i:03}")),
        run: run.to_owned(),
        age: (i * 37) % 100,
        name: format!("user {i}"),
    }
}

#[tokio::test]
async fn every_operation_works_across_the_shards() {
    let mut con = cluster().await;
    assert_eq!(con.search_mode().await.unwrap(), SearchMode::PerShard);
    let report = Migrator::new()
        .model::<User>()
        .model::<Doc>()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(report.models.len(), 2);
    let run = common::unique("cl");
    // One document, then 30 in bulk: they land on every shard.
    let mut one = user(&run, 999);
    one.save(&mut con).await.unwrap();
    assert_eq!(
        User::get(&mut con, one.pk.as_deref().unwrap())
            .await
            .unwrap(),
        one
    );
    let mut users: Vec<User> = (0..30).map(|i| user(&run, i)).collect();
    let pks = User::save_all(&mut con, &mut users).await.unwrap();
    assert_eq!(pks.len(), 30);
    let got = User::get_many(&mut con, &pks).await.unwrap();
    assert_eq!(got, users.iter().cloned().map(Some).collect::<Vec<_>>());
    // Search gathers every shard.
    let r = run.clone();
    let q = move || {
        let r = r.clone();
        User::find(move |u| u.run.eq(r.as_str()))
    };
    assert_eq!(q().count(&mut con).await.unwrap(), 31);
    let mut all = q().all(&mut con).await.unwrap();
    all.sort_by(|a, b| a.pk.cmp(&b.pk));
    assert_eq!(all.len(), 31);
    // A sorted page is the same as sorting everything.
    let mut expected: Vec<User> = users.iter().cloned().chain([one.clone()]).collect();
    expected.sort_by(|a, b| b.age.cmp(&a.age).then(a.pk.cmp(&b.pk)));
    let page = q()
        .sort_by(|u| u.age, SortOrder::Desc)
        .page(&mut con, 5, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 31);
    let ages: Vec<i64> = page.items.iter().map(|u| u.age).collect();
    let want: Vec<i64> = expected[5..15].iter().map(|u| u.age).collect();
    assert_eq!(ages, want);
    let sorted_all = q()
        .sort_by(|u| u.age, SortOrder::Asc)
        .all(&mut con)
        .await
        .unwrap();
    let ages: Vec<i64> = sorted_all.iter().map(|u| u.age).collect();
    let mut want: Vec<i64> = expected.iter().map(|u| u.age).collect();
    want.sort();
    assert_eq!(ages, want);
    let first = q()
        .sort_by(|u| u.age, SortOrder::Asc)
        .first(&mut con)
        .await
        .unwrap();
    assert_eq!(first.age, 0);
    // Every key of the model, on every primary.
    use futures_util::TryStreamExt;
    let keys: Vec<String> = User::all_pks(&mut con).try_collect().await.unwrap();
    let ours = keys.iter().filter(|pk| pk.starts_with(&run)).count();
    assert_eq!(ours, 31);
    // Deletes by query and by key.
    let r = run.clone();
    let deleted = User::find(move |u| u.run.eq(r.as_str()) & u.age.lt(50))
        .delete(&mut con)
        .await
        .unwrap();
    assert!(deleted > 0);
    assert_eq!(q().count(&mut con).await.unwrap(), 31 - deleted);
    let left: Vec<String> = q()
        .all(&mut con)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.pk.unwrap())
        .collect();
    assert_eq!(
        User::delete_many(&mut con, &left).await.unwrap(),
        left.len() as u64
    );
    assert_eq!(q().count(&mut con).await.unwrap(), 0);
}

#[tokio::test]
async fn json_models_bulk_and_sorted_streams() {
    let mut con = cluster().await;
    Migrator::new().model::<Doc>().run(&mut con).await.unwrap();
    let run = common::unique("cldoc");
    let mut docs: Vec<Doc> = (0..50)
        .map(|i| Doc {
            pk: Some(format!("{run}-{i:03}")),
            run: run.clone(),
            score: ((i * 7919) % 101) as f64 / 4.0,
        })
        .collect();
    Doc::save_all(&mut con, &mut docs).await.unwrap();
    let pks: Vec<String> = docs.iter().map(|d| d.pk.clone().unwrap()).collect();
    assert_eq!(
        Doc::get_many(&mut con, &pks).await.unwrap(),
        docs.iter().cloned().map(Some).collect::<Vec<_>>()
    );
    let r = run.clone();
    let sorted = Doc::find(move |d| d.run.eq(r.as_str()))
        .sort_by(|d| d.score, SortOrder::Desc)
        .batch_size(7)
        .all(&mut con)
        .await
        .unwrap();
    let scores: Vec<f64> = sorted.iter().map(|d| d.score).collect();
    let mut want: Vec<f64> = docs.iter().map(|d| d.score).collect();
    want.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(scores, want);
    // A grouping aggregation cannot be merged exactly without a coordinator:
    // refused, saying so.
    use redis_om::reduce::count;
    let r = run.clone();
    let grouped = Doc::find(move |d| d.run.eq(r.as_str()))
        .group_by(|d| d.score)
        .reduce(|_| count())
        .all(&mut con)
        .await;
    match grouped {
        Err(err) => assert!(err.to_string().contains("coordinator"), "{err}"),
        Ok(rows) => panic!("{rows:?}"),
    }
    let _: Result<u64, Error> = Doc::delete_many(&mut con, &pks).await;
}

mod blocking {
    use super::{common, user, User};
    use redis_om::blocking::prelude::*;

    #[test]
    fn the_blocking_api_on_a_cluster() {
        let mut con = redis_om::blocking::connect_cluster(redis_om::cluster_urls()).unwrap();
        Migrator::new().model::<User>().run(&mut con).unwrap();
        let run = common::unique("clsync");
        let mut users: Vec<User> = (0..20).map(|i| user(&run, i)).collect();
        let pks = User::save_all(&mut con, &mut users).unwrap();
        assert_eq!(User::get(&mut con, &pks[3]).unwrap(), users[3]);
        let r = run.clone();
        let q = User::find(move |u| u.run.eq(r.as_str()));
        assert_eq!(q.count(&mut con).unwrap(), 20);
        let sorted = q
            .clone()
            .sort_by(|u| u.age, SortOrder::Asc)
            .all(&mut con)
            .unwrap();
        let ages: Vec<i64> = sorted.iter().map(|u| u.age).collect();
        let mut want: Vec<i64> = users.iter().map(|u| u.age).collect();
        want.sort();
        assert_eq!(ages, want);
        assert_eq!(User::delete_many(&mut con, &pks).unwrap(), 20);
        assert_eq!(q.count(&mut con).unwrap(), 0);
    }
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ClOpt")]
struct Opt {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    a: Option<i64>,
}

/// A save that removes fields is a MULTI … EXEC of its own: it must stay
/// whole on one node (found by a new user's trial: copied into every slot's
/// pipeline, saves slowed down, timed out, and a failed write was reported
/// as written).
#[tokio::test]
async fn bulk_saves_that_remove_fields_stay_whole_and_report_failures() {
    let mut con = cluster().await;
    Migrator::new().model::<Opt>().run(&mut con).await.unwrap();
    let run = common::unique("clopt");
    let mut docs: Vec<Opt> = (0..1000)
        .map(|i| Opt {
            pk: Some(format!("{run}-{i:04}")),
            run: run.clone(),
            a: None,
        })
        .collect();
    let started = std::time::Instant::now();
    Opt::save_all(&mut con, &mut docs).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let pks: Vec<String> = docs.iter().map(|d| d.pk.clone().unwrap()).collect();
    let got = Opt::get_many(&mut con, &pks).await.unwrap();
    assert_eq!(got, docs.iter().cloned().map(Some).collect::<Vec<_>>());
    // A key of another type among them: that document is reported, the
    // others written.
    let blocked = Opt::key_layout().key(&pks[3]);
    let _: () = redis::cmd("DEL")
        .arg(&blocked)
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&blocked)
        .arg("a string")
        .query_async(&mut con)
        .await
        .unwrap();
    match Opt::save_all(&mut con, &mut docs[..10].to_vec()).await {
        Err(Error::BulkWrite { failed, .. }) => {
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert_eq!(failed[0].index, 3);
        }
        other => panic!("{other:?}"),
    }
    let still: String = redis::cmd("GET")
        .arg(&blocked)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(still, "a string");
    let _: () = redis::cmd("DEL")
        .arg(&blocked)
        .query_async(&mut con)
        .await
        .unwrap();
    Opt::delete_many(&mut con, &pks).await.unwrap();
}

/// Found by a new user's trial: a query delete paged each shard by offset
/// while deleting, and skipped documents; and a sort by a field that is not
/// sortable came back unmerged.
#[tokio::test]
async fn a_query_delete_takes_every_match_and_unmergeable_sorts_are_refused() {
    let mut con = cluster().await;
    Migrator::new().model::<Opt>().run(&mut con).await.unwrap();
    let run = common::unique("cldel");
    let mut docs: Vec<Opt> = (0..3000)
        .map(|i| Opt {
            pk: Some(format!("{run}-{i:04}")),
            run: run.clone(),
            a: Some(i),
        })
        .collect();
    Opt::save_all(&mut con, &mut docs).await.unwrap();
    let r = run.clone();
    let deleted = Opt::find(move |o| o.run.eq(r.as_str()))
        .batch_size(500)
        .delete(&mut con)
        .await
        .unwrap();
    assert_eq!(deleted, 3000);
    let r = run.clone();
    assert_eq!(
        Opt::find(move |o| o.run.eq(r.as_str()))
            .count(&mut con)
            .await
            .unwrap(),
        0
    );
    // `name` is indexed but not sortable: the shards give no key to merge by.
    Migrator::new().model::<User>().run(&mut con).await.unwrap();
    let refused = User::find_all()
        .sort_by(|u| u.name, SortOrder::Asc)
        .page(&mut con, 0, 5)
        .await;
    match refused {
        Err(err) => assert!(err.to_string().contains("sortable"), "{err}"),
        Ok(page) => panic!("{page:?}"),
    }
}

/// A model of its own index: the expansion limit counts one index's terms.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ClSku")]
struct Sku {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    sku: String,
}

/// Issue 23, item 1, on a cluster without a coordinator: every shard's copy
/// of the index expands a pattern into at most `MAXPREFIXEXPANSIONS` terms;
/// a pattern past it on any shard is refused, one under it is exact.
#[tokio::test]
async fn patterns_past_the_expansion_limit_are_refused_on_every_shard() {
    let mut con = cluster().await;
    Migrator::new().model::<Sku>().run(&mut con).await.unwrap();
    let run = common::unique("clsku").replace('-', "x");
    // 900 distinct values: about 300 on each of the 3 primaries.
    let mut docs: Vec<Sku> = (0..900)
        .map(|i| Sku {
            pk: None,
            run: run.clone(),
            sku: format!("{run}-{i:04}"),
        })
        .collect();
    Sku::save_all(&mut con, &mut docs).await.unwrap();
    let prefix = format!("{run}-");
    let refused = Sku::find(|s| s.sku.starts_with(&prefix))
        .count(&mut con)
        .await;
    assert!(
        matches!(&refused, Err(Error::Query { message, .. }) if message.contains("MAXPREFIXEXPANSIONS")),
        "{refused:?}"
    );
    let deleted = Sku::find(|s| s.sku.starts_with(&prefix))
        .delete(&mut con)
        .await;
    assert!(deleted.is_err(), "{deleted:?}");
    let r = run.clone();
    let of_run = move || {
        let r = r.clone();
        Sku::find(move |s| s.run.eq(r.as_str()))
    };
    assert_eq!(of_run().count(&mut con).await.unwrap(), 900);
    // 100 values in all, fewer on each shard: exact.
    let narrow = format!("{run}-01");
    let mut got: Vec<String> = Sku::find(|s| s.sku.starts_with(&narrow))
        .select(|s| s.sku)
        .all(&mut con)
        .await
        .unwrap();
    got.sort();
    let want: Vec<String> = (100..200).map(|i| format!("{run}-{i:04}")).collect();
    assert_eq!(got, want);
    assert_eq!(of_run().delete(&mut con).await.unwrap(), 900);
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "ClBig")]
struct BigShard {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable)]
    n: i64,
}

/// Issue 24, item 6: 11,000 matches on one shard. Past the shard's
/// `MAXSEARCHRESULTS` the read fails naming it and the fix; the fix works
/// through this connection (`FT.CONFIG SET` reaches every primary), and the
/// read then returns every match, sorted too.
#[tokio::test]
async fn eleven_thousand_matches_on_one_shard() {
    let mut con = cluster().await;
    Migrator::new()
        .model::<BigShard>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("big");
    // One hash tag: every document in one slot, on one primary.
    let mut docs: Vec<BigShard> = (0..11_000)
        .map(|i| BigShard {
            pk: Some(format!("{{{run}}}-{i:05}")),
            run: run.clone(),
            n: i,
        })
        .collect();
    BigShard::save_all(&mut con, &mut docs).await.unwrap();
    let r = run.clone();
    let q = move || {
        let r = r.clone();
        BigShard::find(move |b| b.run.eq(r.as_str()))
    };
    assert_eq!(q().count(&mut con).await.unwrap(), 11_000);
    let get = |con: &mut ClusterConnection| {
        let mut c = con.clone();
        async move {
            let reply: Vec<Vec<String>> = redis::cmd("FT.CONFIG")
                .arg("GET")
                .arg("MAXSEARCHRESULTS")
                .query_async(&mut c)
                .await
                .unwrap();
            reply[0][1].clone()
        }
    };
    assert_eq!(get(&mut con).await, "10000");
    let refused = q().all(&mut con).await.unwrap_err().to_string();
    assert!(
        refused.contains("MAXSEARCHRESULTS (10000)") && refused.contains("FT.CONFIG SET"),
        "{refused}"
    );
    // Raised on every primary through this connection, restored at the end.
    let admin = con.clone();
    let set = |value: &'static str| {
        let mut c = admin.clone();
        async move {
            let _: () = redis::cmd("FT.CONFIG")
                .arg("SET")
                .arg("MAXSEARCHRESULTS")
                .arg(value)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    };
    set("20000").await;
    let result = async {
        for url in redis_om::cluster_urls() {
            let mut node = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut node).await.unwrap();
            if matches!(&role[0], redis::Value::BulkString(b) if b == b"master") {
                let reply: Vec<Vec<String>> = redis::cmd("FT.CONFIG")
                    .arg("GET")
                    .arg("MAXSEARCHRESULTS")
                    .query_async(&mut node)
                    .await
                    .unwrap();
                assert_eq!(reply[0][1], "20000");
            }
        }
        let all = q().all(&mut con).await.unwrap();
        assert_eq!(all.len(), 11_000);
        let sorted: Vec<i64> = q()
            .sort_by(|b| b.n, SortOrder::Desc)
            .all(&mut con)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.n)
            .collect();
        assert_eq!(sorted, (0..11_000).rev().collect::<Vec<_>>());
        assert_eq!(q().delete(&mut con).await.unwrap(), 11_000);
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    set("10000").await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `delete_many` sends one script per primary; a user whose ACL has no
/// `EVAL` still gets every delete, each alone, and an exact count.
#[tokio::test]
async fn delete_many_without_eval_deletes_each_key_alone() {
    let urls = redis_om::cluster_urls();
    assert!(!urls.is_empty(), "REDIS_OM_CLUSTER_URLS is not set");
    let run = common::unique("noeval");
    let name = format!("om-{run}");
    // ACLs are per node: set on every node the seeds name.
    let mut nodes = Vec::new();
    for url in &urls {
        let mut node = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg("on")
            .arg(">pw")
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .arg("-eval")
            .arg("-evalsha")
            .query(&mut node)
            .unwrap();
        nodes.push(node);
    }
    let seeds: Vec<String> = urls
        .iter()
        .map(|u| u.replacen("redis://", &format!("redis://{name}:pw@"), 1))
        .collect();
    let mut con = redis_om::connect_cluster(seeds).await.unwrap();
    let mut users: Vec<User> = (0..200).map(|i| user(&run, i)).collect();
    User::save_all(&mut con, &mut users).await.unwrap();
    let mut pks: Vec<String> = users.iter().map(|u| u.pk.clone().unwrap()).collect();
    pks.push(format!("{run}-absent"));
    assert_eq!(User::delete_many(&mut con, &pks).await.unwrap(), 200);
    assert!(User::get_many(&mut con, &pks)
        .await
        .unwrap()
        .iter()
        .all(Option::is_none));
    for node in &mut nodes {
        let _: () = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&name)
            .query(node)
            .unwrap();
    }
}
