//! The migrator against the real server: create, leave alone, rebuild with zero
//! downtime behind an alias, concurrent runs, dry run, and a server without RediSearch.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::{Error, MigrationAction, Migrator, Model};
use serde::{Deserialize, Serialize};

use common::UserReadCache;

#[test]
fn derived_schemas_follow_redis_om_python() {
    assert_eq!(
        UserReadCache::index_schema().text(),
        "ON HASH PREFIX 1 :UserReadCache: SCHEMA pk TAG SEPARATOR | id NUMERIC \
         name TAG SEPARATOR | email TAG SEPARATOR |"
    );
    assert_eq!(
        UserReadCache::key_layout().index_name(),
        ":UserReadCache:index"
    );

    #[derive(JsonModel, Serialize, Deserialize)]
    #[redis_om(global_prefix = "shop", prefix = "Order")]
    struct Order {
        #[redis_om(primary_key)]
        id: u64,
        #[redis_om(full_text, sortable)]
        title: String,
        #[redis_om(index)]
        tags: Vec<String>,
        #[redis_om(index, sortable)]
        #[serde(rename = "totalCents")]
        total_cents: i64,
        #[redis_om(index, case_sensitive, separator = ",")]
        code: Option<String>,
        #[redis_om(index)]
        paid: bool,
        note: String,
    }
    assert_eq!(
        Order::index_schema().text(),
        "ON JSON PREFIX 1 shop:Order: SCHEMA $.id AS id NUMERIC \
         $.title AS title TAG SEPARATOR | $.title AS title_fts TEXT SORTABLE \
         $.tags[*] AS tags TAG SEPARATOR | $.totalCents AS totalCents NUMERIC SORTABLE \
         $.code AS code TAG SEPARATOR , CASESENSITIVE $.paid AS paid TAG ",
        "`note` is not indexed: an empty part at the end, as redis-om-python"
    );

    // redis-om-python 1.2's own test_schema: every field of a JsonModel that
    // is not indexed leaves an empty part (two spaces); a custom primary key
    // stays where it is declared, a field named `pk` comes first.
    #[derive(JsonModel, Serialize, Deserialize)]
    #[redis_om(prefix = "Member")]
    struct Member {
        #[redis_om(index)]
        first_name: String,
        #[redis_om(index)]
        email: String,
        note: Option<String>,
        #[redis_om(index)]
        age: i64,
        #[redis_om(primary_key)]
        code: String,
        #[redis_om(index)]
        pk_like: Vec<String>,
        extra: Vec<String>,
    }
    assert_eq!(
        Member::index_schema().text(),
        "ON JSON PREFIX 1 :Member: SCHEMA $.first_name AS first_name TAG SEPARATOR | \
         $.email AS email TAG SEPARATOR |  $.age AS age NUMERIC \
         $.code AS code TAG SEPARATOR | $.pk_like[*] AS pk_like TAG SEPARATOR | "
    );
    #[derive(HashModel)]
    #[redis_om(prefix = "Late")]
    struct Late {
        #[redis_om(index)]
        name: String,
        note: Option<String>,
        #[redis_om(primary_key)]
        id: i64,
    }
    assert_eq!(
        Late::index_schema().text(),
        "ON HASH PREFIX 1 :Late: SCHEMA name TAG SEPARATOR | id NUMERIC"
    );
    #[derive(HashModel)]
    #[redis_om(prefix = "PkLast")]
    struct PkLast {
        #[redis_om(index)]
        name: String,
        pk: Option<String>,
    }
    assert_eq!(
        PkLast::index_schema().text(),
        "ON HASH PREFIX 1 :PkLast: SCHEMA pk TAG SEPARATOR | name TAG SEPARATOR |"
    );
}

versioned_model!(LifeV1, "om-test-migrate-life",);
versioned_model!(LifeV2, "om-test-migrate-life", #[redis_om(index, sortable)]);

async fn search_count(
    con: &mut redis::aio::MultiplexedConnection,
    index: &str,
) -> redis::RedisResult<i64> {
    let reply: redis::Value = redis::cmd("FT.SEARCH")
        .arg(index)
        .arg("*")
        .arg("LIMIT")
        .arg(0)
        .arg(0)
        .query_async(con)
        .await?;
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => Ok(*n),
            _ => Ok(-1),
        },
        redis::Value::Map(pairs) => Ok(pairs
            .iter()
            .find(|(k, _)| {
                matches!(k, redis::Value::SimpleString(s) if s == "total_results")
                    || matches!(k, redis::Value::BulkString(b) if b == b"total_results")
            })
            .and_then(|(_, v)| {
                if let redis::Value::Int(n) = v {
                    Some(*n)
                } else {
                    None
                }
            })
            .unwrap_or(-1)),
        _ => Ok(-1),
    }
}

#[tokio::test]
async fn creates_leaves_alone_and_rebuilds_with_zero_downtime() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = LifeV1::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, LifeV1::key_layout().key_prefix()).await;

    const DOCS: i64 = 3000;
    let mut pipe = redis::pipe();
    for i in 0..DOCS {
        pipe.hset_multiple(
            LifeV1::key_layout().key(i),
            &[
                ("pk", i.to_string()),
                ("name", format!("n{i}")),
                ("age", i.to_string()),
            ],
        )
        .ignore();
    }
    let _: () = pipe.query_async(&mut con).await.unwrap();

    let report = Migrator::new()
        .model::<LifeV1>()
        .run(&mut con)
        .await
        .unwrap();
    let created = match &report.models[0].action {
        MigrationAction::Created { index: created } => created.clone(),
        other => panic!("expected Created, got {other:?}"),
    };
    assert!(created.starts_with(&format!("{index}:")));
    assert_eq!(
        search_count(&mut con, &index).await.unwrap(),
        DOCS,
        "indexed before the alias exists"
    );
    let hash: String = con.get(format!("{index}:hash")).await.unwrap();
    assert_eq!(hash, LifeV1::index_schema().hash());
    let text: String = con.get(format!("{index}:schema")).await.unwrap();
    assert_eq!(text, LifeV1::index_schema().text());

    let again = Migrator::new()
        .model::<LifeV1>()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(again.models[0].action, MigrationAction::Unchanged);
    assert!(again.models[0].commands.is_empty());

    // A reader loop of typed queries through the alias while the schema
    // changes: never an error, always every document.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads) = (stop.clone(), reads.clone());
        let mut con = common::multiplexed(&common::url()).await;
        tokio::spawn(async move {
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match LifeV1::find_all().count(&mut con).await {
                    Ok(n) if n == DOCS as u64 => {}
                    other => bad.push(format!("count: {other:?}")),
                }
                match LifeV1::find(|l| l.name.eq("n42")).first(&mut con).await {
                    Ok(doc) if doc.age == 42 => {}
                    other => bad.push(format!("first: {other:?}")),
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
            bad
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let report = Migrator::new()
        .model::<LifeV2>()
        .run(&mut con)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    stop.store(true, Ordering::Relaxed);
    let bad = reader.await.unwrap();
    assert!(
        bad.is_empty(),
        "the reader saw {} bad results, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
    assert!(
        reads.load(Ordering::Relaxed) > 10,
        "the reader ran during the rebuild"
    );

    match &report.models[0].action {
        MigrationAction::Rebuilt { from, to } => {
            assert_eq!(from, &created);
            assert_ne!(to, &created);
        }
        other => panic!("expected Rebuilt, got {other:?}"),
    }
    // The new schema is live: `age` is now sortable.
    let oldest = LifeV2::find(|l| l.age.ge(0))
        .sort_by(|l| l.age, SortOrder::Desc)
        .first(&mut con)
        .await
        .unwrap();
    assert_eq!(oldest.age, DOCS - 1);
    let left = common::indexes_starting_with(&mut con, &index).await;
    assert_eq!(left.len(), 1, "the old index is dropped: {left:?}");
    let kept: i64 = redis::cmd("EXISTS")
        .arg(LifeV1::key_layout().key(7))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(kept, 1, "documents are kept");
    assert_eq!(search_count(&mut con, &index).await.unwrap(), DOCS);
    common::reset_index(&mut con, &index, LifeV1::key_layout().key_prefix()).await;
}

versioned_model!(RaceModel, "om-test-migrate-race",);

#[tokio::test]
async fn concurrent_runs_converge_on_one_index() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = RaceModel::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, RaceModel::key_layout().key_prefix()).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut con = common::multiplexed(&common::url()).await;
        tasks.push(tokio::spawn(async move {
            Migrator::new().model::<RaceModel>().run(&mut con).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("no migrator run fails");
    }
    assert_eq!(
        common::indexes_starting_with(&mut con, &index).await.len(),
        1
    );
    assert_eq!(search_count(&mut con, &index).await.unwrap(), 0);
    common::reset_index(&mut con, &index, RaceModel::key_layout().key_prefix()).await;
}

versioned_model!(DryModel, "om-test-migrate-dry",);

#[tokio::test]
async fn dry_run_plans_without_changing_anything() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = DryModel::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, DryModel::key_layout().key_prefix()).await;
    let report = Migrator::new()
        .model::<DryModel>()
        .dry_run(&mut con)
        .await
        .unwrap();
    let m = &report.models[0];
    assert!(matches!(m.action, MigrationAction::Created { .. }));
    assert!(
        m.commands[0].starts_with("FT.CREATE :om-test-migrate-dry:index:"),
        "{:?}",
        m.commands
    );
    assert!(
        m.commands[1].starts_with("FT.ALIASUPDATE :om-test-migrate-dry:index "),
        "{:?}",
        m.commands
    );
    assert!(report.to_string().contains("FT.CREATE"));
    assert!(
        common::indexes_starting_with(&mut con, &index)
            .await
            .is_empty(),
        "nothing created"
    );

    // The blocking API runs the same flow.
    let mut sync = common::sync_con(&common::url());
    let report = Migrator::new()
        .model::<DryModel>()
        .run_sync(&mut sync)
        .unwrap();
    assert!(matches!(
        report.models[0].action,
        MigrationAction::Created { .. }
    ));
    let report = Migrator::new()
        .model::<DryModel>()
        .run_sync(&mut sync)
        .unwrap();
    assert_eq!(report.models[0].action, MigrationAction::Unchanged);
    common::reset_index(&mut con, &index, DryModel::key_layout().key_prefix()).await;
}

versioned_model!(PyModel, "om-test-migrate-py",);

#[tokio::test]
async fn replaces_a_plain_index_made_by_redis_om_python() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = PyModel::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, PyModel::key_layout().key_prefix()).await;
    // What redis-om-python creates: an index under the plain name, an older schema.
    let _: () = redis::cmd("FT.CREATE")
        .arg(&index)
        .arg(
            &[
                "ON",
                "HASH",
                "PREFIX",
                "1",
                PyModel::key_layout().key_prefix(),
                "SCHEMA",
                "pk",
                "TAG",
            ][..],
        )
        .query_async(&mut con)
        .await
        .unwrap();
    let report = Migrator::new()
        .model::<PyModel>()
        .run(&mut con)
        .await
        .unwrap();
    assert!(
        matches!(&report.models[0].action, MigrationAction::Rebuilt { from, .. } if *from == index)
    );
    let left = common::indexes_starting_with(&mut con, &index).await;
    assert_eq!(left.len(), 1);
    assert_ne!(
        left[0], index,
        "the plain index is replaced by a versioned one behind the alias"
    );
    assert_eq!(search_count(&mut con, &index).await.unwrap(), 0);
    common::reset_index(&mut con, &index, PyModel::key_layout().key_prefix()).await;
}

#[tokio::test]
async fn without_redisearch_the_error_names_the_module() {
    let mut con = common::multiplexed(&common::env_url("REDIS_OM_PLAIN_URL")).await;
    let err = Migrator::new()
        .model::<DryModel>()
        .run(&mut con)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ModuleMissing { module: "search" }),
        "{err:?}"
    );
}
