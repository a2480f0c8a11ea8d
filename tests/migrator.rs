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
    let report = redis_om::blocking::Migrator::new()
        .model::<DryModel>()
        .run(&mut sync)
        .unwrap();
    assert!(matches!(
        report.models[0].action,
        MigrationAction::Created { .. }
    ));
    let report = redis_om::blocking::Migrator::new()
        .model::<DryModel>()
        .run(&mut sync)
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

// ---- Races over an index that redis-om-python created (real processes) ----

versioned_model!(LegacyModel, "om-test-migrate-legacy",);

/// Run by `processes_race_over_a_python_index` in child processes.
#[test]
#[ignore = "a helper run in child processes by processes_race_over_a_python_index"]
fn migrator_race_child() {
    let url = std::env::var("REDIS_OM_CHILD_URL").expect("REDIS_OM_CHILD_URL");
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let report = redis_om::blocking::Migrator::new()
        .model::<LegacyModel>()
        .run(&mut con)
        .expect("the migrator failed in a child process");
    println!("child: {:?}", report.models[0].action);
}

/// The state redis-om-python leaves: a plain index under the index name (an
/// older schema here), its hash and schema text, no alias, no history.
async fn python_style_index(
    con: &mut redis::aio::MultiplexedConnection,
    index: &str,
    prefix: &str,
) {
    let _: redis::RedisResult<()> = redis::cmd("FT.ALIASDEL").arg(index).query_async(con).await;
    for i in common::indexes_starting_with(con, index).await {
        let _: () = redis::cmd("FT.DROPINDEX")
            .arg(&i)
            .query_async(con)
            .await
            .unwrap();
    }
    let text = format!("ON HASH PREFIX 1 {prefix} SCHEMA pk TAG SEPARATOR |");
    let _: () = redis::cmd("FT.CREATE")
        .arg(index)
        .arg(text.split(' ').collect::<Vec<_>>())
        .query_async(con)
        .await
        .unwrap();
    let hash = sha1_hex(&text);
    let _: () = redis::pipe()
        .set(format!("{index}:hash"), hash)
        .set(format!("{index}:schema"), &text)
        .del(format!("{index}:history"))
        .del(format!("{index}:lock"))
        .query_async(con)
        .await
        .unwrap();
}

fn sha1_hex(text: &str) -> String {
    let script = format!("return redis.sha1hex('{}')", text.replace('\'', "\\'"));
    let mut con = common::sync_con(&common::url());
    redis::cmd("EVAL")
        .arg(script)
        .arg(0)
        .query(&mut con)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_race_over_a_python_index() {
    const ROUNDS: usize = 50;
    const PROCESSES: usize = 4;
    const DOCS: i64 = 300;
    // A server of its own: building an index scans the whole key space, and the
    // shared server holds every other test's documents.
    let server = common::Server::fresh(common::fault_port(13), &[]);
    let url = server.url();
    let mut con = common::multiplexed(&url).await;
    let index = LegacyModel::key_layout().index_name().to_owned();
    let prefix = LegacyModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    let mut docs: Vec<LegacyModel> = (0..DOCS)
        .map(|i| LegacyModel {
            pk: None,
            name: format!("n{i}"),
            age: i,
        })
        .collect();
    LegacyModel::save_all(&mut con, &mut docs).await.unwrap();

    let started = std::time::Instant::now();
    for round in 0..ROUNDS {
        python_style_index(&mut con, &index, &prefix).await;
        let children: Vec<_> = (0..PROCESSES)
            .map(|_| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "migrator_race_child", "--ignored", "--nocapture"])
                    .env("REDIS_OM_CHILD_URL", &url)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut actions = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "round {round}: a migrator process failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            actions.extend(
                stdout
                    .lines()
                    .filter(|l| l.starts_with("child:"))
                    .map(str::to_owned),
            );
        }
        let indexes = common::indexes_starting_with(&mut con, &index).await;
        assert_eq!(
            indexes.len(),
            1,
            "round {round}: {indexes:?} after {actions:?}"
        );
        assert_ne!(
            indexes[0], index,
            "round {round}: the versioned index is live"
        );
        assert_eq!(
            search_count(&mut con, &index).await.unwrap(),
            DOCS,
            "round {round}: every document answers through the index name ({actions:?})"
        );
        assert_eq!(
            actions.iter().filter(|a| a.contains("Rebuilt")).count(),
            1,
            "round {round}: one process rebuilt, the others found it done: {actions:?}"
        );
    }
    eprintln!(
        "{ROUNDS} rounds of {PROCESSES} processes in {:?}",
        started.elapsed()
    );
    common::reset_index(&mut con, &index, &prefix).await;
}

// ---- Rolling deploys: never roll the schema back ----

versioned_model!(RollV1, "om-test-migrate-roll",);
versioned_model!(RollV3, "om-test-migrate-roll", #[redis_om(index)]);

async fn seed_docs<M: Model>(con: &mut redis::aio::MultiplexedConnection, n: i64) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.hset_multiple(
            M::key_layout().key(i),
            &[
                ("pk", i.to_string()),
                ("name", format!("n{i}")),
                ("age", i.to_string()),
            ],
        )
        .ignore();
    }
    let _: () = pipe.query_async(con).await.unwrap();
}

fn live_hash(con: &mut redis::Connection, index: &str) -> String {
    redis::cmd("GET")
        .arg(format!("{index}:hash"))
        .query(con)
        .unwrap()
}

#[tokio::test]
async fn rolling_deploys_never_roll_the_schema_back() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut sync = common::sync_con(&common::url());
    let index = RollV1::key_layout().index_name().to_owned();
    let prefix = RollV1::key_layout().key_prefix().to_owned();
    let v1 = || Migrator::new().model::<RollV1>();
    let v3 = || Migrator::new().model::<RollV3>();
    let v3_index = format!("{index}:{}", &RollV3::index_schema().hash()[..12]);

    // v1 is live, then the new version and the old one start, in both orders,
    // and together; the old one also restarts after the new one migrated.
    for order in ["old first", "new first", "together"] {
        common::reset_index(&mut con, &index, &prefix).await;
        seed_docs::<RollV1>(&mut con, 100).await;
        assert!(matches!(
            v1().run(&mut con).await.unwrap().models[0].action,
            MigrationAction::Created { .. }
        ));
        let (old, new) = match order {
            "old first" => {
                let old = v1().run(&mut con).await.unwrap();
                let new = v3().run(&mut con).await.unwrap();
                (old, new)
            }
            "new first" => {
                let new = v3().run(&mut con).await.unwrap();
                let old = v1().run(&mut con).await.unwrap();
                (old, new)
            }
            _ => {
                let mut other = common::multiplexed(&common::url()).await;
                let (m1, m3) = (v1(), v3());
                let (old, new) = tokio::join!(m1.run(&mut con), m3.run(&mut other));
                (old.unwrap(), new.unwrap())
            }
        };
        assert!(
            matches!(new.models[0].action, MigrationAction::Rebuilt { .. }),
            "{order}: {new}"
        );
        assert!(
            matches!(
                &old.models[0].action,
                MigrationAction::Unchanged | MigrationAction::Superseded { .. }
            ),
            "{order}: {old}"
        );
        // The old process restarts: it reports the newer schema and leaves it live.
        let restart = v1().run(&mut con).await.unwrap();
        assert_eq!(
            restart.models[0].action,
            MigrationAction::Superseded {
                current: v3_index.clone()
            },
            "{order}: {restart}"
        );
        assert!(restart.models[0].commands.is_empty());
        assert!(restart.to_string().contains("superseded"));
        let dry = v1().dry_run(&mut con).await.unwrap();
        assert!(matches!(
            dry.models[0].action,
            MigrationAction::Superseded { .. }
        ));
        assert_eq!(
            live_hash(&mut sync, &index),
            RollV3::index_schema().hash(),
            "{order}"
        );
        assert_eq!(
            common::indexes_starting_with(&mut con, &index).await,
            vec![v3_index.clone()],
            "{order}"
        );
        // The new code's queries work; the old code's too (a subset of the fields).
        assert_eq!(
            RollV3::find(|r| r.age.ge(50))
                .count(&mut con)
                .await
                .unwrap(),
            50
        );
        assert_eq!(
            RollV1::find(|r| r.name.eq("n7"))
                .count(&mut con)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            v3().run(&mut con).await.unwrap().models[0].action,
            MigrationAction::Unchanged
        );
    }
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(DownV1, "om-test-migrate-down",);
versioned_model!(DownV3, "om-test-migrate-down", #[redis_om(index)]);

#[tokio::test]
async fn allow_downgrade_rolls_back_deliberately() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = DownV1::key_layout().index_name().to_owned();
    let prefix = DownV1::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    seed_docs::<DownV1>(&mut con, 60).await;
    let v1_index = format!("{index}:{}", &DownV1::index_schema().hash()[..12]);
    let v3_index = format!("{index}:{}", &DownV3::index_schema().hash()[..12]);

    Migrator::new()
        .model::<DownV1>()
        .run(&mut con)
        .await
        .unwrap();
    Migrator::new()
        .model::<DownV3>()
        .run(&mut con)
        .await
        .unwrap();
    let back = Migrator::new()
        .model::<DownV1>()
        .allow_downgrade()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(
        back.models[0].action,
        MigrationAction::Rebuilt {
            from: v3_index.clone(),
            to: v1_index.clone()
        }
    );
    assert_eq!(
        common::indexes_starting_with(&mut con, &index).await,
        vec![v1_index.clone()]
    );
    assert_eq!(DownV1::find_all().count(&mut con).await.unwrap(), 60);
    // A v3 process still running gets an error naming the field the live
    // index lacks, never a silently wrong count; its other queries work.
    match DownV3::find(|d| d.age.lt(10)).count(&mut con).await {
        Err(Error::SchemaMismatch {
            missing, index: i, ..
        }) => {
            assert_eq!(missing, vec!["age NUMERIC".to_owned()]);
            assert_eq!(i, index);
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    let err = DownV3::find_all()
        .sort_by(|d| d.age, SortOrder::Asc)
        .all(&mut con)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("allow_downgrade"), "{err}");
    assert_eq!(
        DownV3::find(|d| d.name.eq("n1"))
            .count(&mut con)
            .await
            .unwrap(),
        1
    );
    // A v3 process that restarts during the rollback does not undo it ...
    let stale = Migrator::new()
        .model::<DownV3>()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(
        stale.models[0].action,
        MigrationAction::Superseded {
            current: v1_index.clone()
        }
    );
    // ... and says which of its fields the live index lacks.
    assert_eq!(
        stale.models[0].notes,
        vec![
            "the live index lacks or defines otherwise what this process's queries may use: \
              age NUMERIC"
                .to_owned()
        ],
        "{stale}"
    );
    // ... and rolling forward again is just as deliberate.
    let forward = Migrator::new()
        .model::<DownV3>()
        .allow_downgrade()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(
        forward.models[0].action,
        MigrationAction::Rebuilt {
            from: v1_index,
            to: v3_index
        }
    );
    assert_eq!(
        DownV3::find(|d| d.age.lt(10))
            .count(&mut con)
            .await
            .unwrap(),
        10
    );
    common::reset_index(&mut con, &index, &prefix).await;
}

// ---- Someone else's index, bookkeeping keys, timeouts ----

versioned_model!(ForeignModel, "om-test-migrate-foreign",);

#[tokio::test]
async fn refuses_to_drop_a_foreign_index() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = ForeignModel::key_layout().index_name().to_owned();
    let prefix = ForeignModel::key_layout().key_prefix().to_owned();
    for (on, foreign_prefix, what) in [
        ("HASH", "om-test-other-app:", "prefixes"),
        ("JSON", prefix.as_str(), "JSON"),
    ] {
        common::reset_index(&mut con, &index, &prefix).await;
        let _: () = redis::cmd("FT.CREATE")
            .arg(&index)
            .arg(
                [
                    "ON",
                    on,
                    "PREFIX",
                    "1",
                    foreign_prefix,
                    "SCHEMA",
                    "x",
                    "TAG",
                ]
                .as_slice(),
            )
            .query_async(&mut con)
            .await
            .unwrap();
        let err = Migrator::new()
            .model::<ForeignModel>()
            .run(&mut con)
            .await
            .unwrap_err();
        match &err {
            Error::ForeignIndex {
                index: found,
                differs,
                ..
            } => {
                assert_eq!(found, &index);
                assert!(differs.contains(what), "{differs}");
            }
            other => panic!("expected ForeignIndex, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&index) && message.contains("replace_foreign"),
            "{message}"
        );
        assert_eq!(
            common::indexes_starting_with(&mut con, &index).await,
            vec![index.clone()],
            "left alone"
        );
        let dry = Migrator::new()
            .model::<ForeignModel>()
            .dry_run(&mut con)
            .await
            .unwrap();
        assert!(
            matches!(&dry.models[0].action, MigrationAction::RefusesForeign { index: i, .. } if *i == index),
            "{dry}"
        );
        let dry = Migrator::new()
            .model::<ForeignModel>()
            .replace_foreign()
            .dry_run(&mut con)
            .await
            .unwrap();
        assert!(
            matches!(dry.models[0].action, MigrationAction::Rebuilt { .. }),
            "{dry}"
        );
        assert!(dry.to_string().contains("foreign"), "{dry}");
        assert!(dry.models[0]
            .commands
            .iter()
            .any(|c| c == &format!("FT.DROPINDEX {index}")));
        let done = Migrator::new()
            .model::<ForeignModel>()
            .replace_foreign()
            .run(&mut con)
            .await
            .unwrap();
        assert!(
            matches!(done.models[0].action, MigrationAction::Rebuilt { .. }),
            "{done}"
        );
        let left = common::indexes_starting_with(&mut con, &index).await;
        assert_eq!(left.len(), 1);
        assert_ne!(left[0], index);
    }
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(KeyModel, "om-test-migrate-keys",);

#[tokio::test]
async fn bookkeeping_keys_cannot_be_saved_as_documents() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = KeyModel::key_layout().index_name().to_owned();
    let prefix = KeyModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    Migrator::new()
        .model::<KeyModel>()
        .run(&mut con)
        .await
        .unwrap();
    assert!(
        index.starts_with(&prefix),
        "the default index name is in the key space"
    );
    for pk in ["index:hash", "index:schema", "index:history"] {
        let mut doc = KeyModel {
            pk: Some(pk.into()),
            name: "x".into(),
            age: 1,
        };
        match doc.save(&mut con).await {
            Err(Error::InvalidArgument(message)) => {
                assert!(message.contains(&format!("{prefix}{pk}")), "{message}")
            }
            other => panic!("{pk}: expected InvalidArgument, got {other:?}"),
        }
        let err = KeyModel::save_all(&mut con, &mut [doc]).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
    let hash: String = con.get(format!("{index}:hash")).await.unwrap();
    assert_eq!(
        hash,
        KeyModel::index_schema().hash(),
        "the bookkeeping is intact"
    );
    // Other pks that merely start alike are fine.
    let mut ok = KeyModel {
        pk: Some("index:hashes".into()),
        name: "y".into(),
        age: 2,
    };
    ok.save(&mut con).await.unwrap();
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(SlowModel, "om-test-migrate-slow",);
versioned_model!(SlowModelV2, "om-test-migrate-slow", #[redis_om(index)]);

#[tokio::test]
async fn indexing_timeout_has_its_own_error() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = SlowModel::key_layout().index_name().to_owned();
    let prefix = SlowModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    seed_docs::<SlowModel>(&mut con, 50_000).await;
    let err = Migrator::new()
        .model::<SlowModel>()
        .indexing_timeout(std::time::Duration::ZERO)
        .run(&mut con)
        .await
        .unwrap_err();
    match &err {
        Error::IndexingTimeout {
            index: building,
            percent,
            ..
        } => {
            assert!(building.starts_with(&format!("{index}:")), "{building}");
            assert!((0.0..100.0).contains(percent), "{percent}");
        }
        other => panic!("expected IndexingTimeout, got {other:?}"),
    }
    assert!(err.to_string().contains("indexing_timeout"), "{err}");
    // The lease was released: the next run (here of a newer schema) finishes
    // the job and drops the index the timed-out run left behind.
    let report = Migrator::new()
        .model::<SlowModelV2>()
        .run(&mut con)
        .await
        .unwrap();
    assert!(
        matches!(report.models[0].action, MigrationAction::Created { .. }),
        "{report}"
    );
    assert_eq!(
        common::indexes_starting_with(&mut con, &index).await,
        vec![format!(
            "{index}:{}",
            &SlowModelV2::index_schema().hash()[..12]
        )],
        "{report}"
    );
    assert_eq!(search_count(&mut con, &index).await.unwrap(), 50_000);
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(LeaseModel, "om-test-migrate-lease",);

#[tokio::test]
async fn a_lease_left_by_a_killed_migrator_expires() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = LeaseModel::key_layout().index_name().to_owned();
    let prefix = LeaseModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    // What a process killed in the middle of a migration leaves (its lease
    // would run 30 s; a short one keeps the test quick).
    let _: () = redis::cmd("SET")
        .arg(format!("{index}:lock"))
        .arg("a-killed-process")
        .arg("PX")
        .arg(700)
        .query_async(&mut con)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let report = Migrator::new()
        .model::<LeaseModel>()
        .run(&mut con)
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(report.models[0].action, MigrationAction::Created { .. }),
        "{report}"
    );
    assert!(
        waited >= std::time::Duration::from_millis(500),
        "it waited for the lease: {waited:?}"
    );
    let lock: Option<String> = con.get(format!("{index}:lock")).await.unwrap();
    assert_eq!(lock, None, "its own lease is released");
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(OrphanModel, "om-test-migrate-orphan",);
versioned_model!(OrphanModelV2, "om-test-migrate-orphan", #[redis_om(index)]);

/// A connection whose first release of a migration lease is lost (the
/// primary holding the lease died, as in a cluster failover): the command
/// fails without reaching the server.
struct LosesTheRelease {
    con: redis::aio::MultiplexedConnection,
    lost: bool,
}

impl redis::aio::ConnectionLike for LosesTheRelease {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        let packed = cmd.get_packed_command();
        let release = packed.windows(5).any(|w| w == b":lock")
            && packed.windows(3).any(|w| w == b"DEL")
            && packed.windows(4).any(|w| w == b"EVAL");
        if release && !self.lost {
            self.lost = true;
            return Box::pin(async {
                Err(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "the primary holding the lease is gone",
                )))
            });
        }
        self.con.req_packed_command(cmd)
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.con.req_packed_commands(cmd, offset, count)
    }
    fn get_db(&self) -> i64 {
        self.con.get_db()
    }
}

/// Issue 24, item 7: a lease this process could not release (its primary
/// failed over mid-migration) is taken over by the process's next run at
/// once; before, that run waited out the 30 s lease.
#[tokio::test]
async fn a_lease_this_process_could_not_release_is_taken_over_at_once() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = OrphanModel::key_layout().index_name().to_owned();
    let prefix = OrphanModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    let mut losing = LosesTheRelease {
        con: con.clone(),
        lost: false,
    };
    let err = Migrator::new()
        .model::<OrphanModel>()
        .run(&mut losing)
        .await
        .unwrap_err();
    assert!(losing.lost && err.is_connection_error(), "{err:?}");
    let holder: Option<String> = con.get(format!("{index}:lock")).await.unwrap();
    assert!(holder.is_some(), "the lease outlived the run");
    let started = std::time::Instant::now();
    let report = Migrator::new()
        .model::<OrphanModelV2>()
        .run(&mut con)
        .await
        .unwrap();
    let waited = started.elapsed();
    let hash: String = con.get(format!("{index}:hash")).await.unwrap();
    assert_eq!(hash, OrphanModelV2::index_schema().hash(), "{report}");
    assert!(
        waited < std::time::Duration::from_secs(5),
        "it waited out its own lease: {waited:?}"
    );
    let lock: Option<String> = con.get(format!("{index}:lock")).await.unwrap();
    assert_eq!(lock, None, "released");
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(AclModel, "om-test-migrate-acl",);

#[tokio::test]
async fn queries_run_for_a_user_who_cannot_read_the_bookkeeping() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = AclModel::key_layout().index_name().to_owned();
    let prefix = AclModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    Migrator::new()
        .model::<AclModel>()
        .run(&mut con)
        .await
        .unwrap();
    seed_docs::<AclModel>(&mut con, 5).await;
    // A user that may search but not GET the schema keys.
    let _: () = redis::cmd("ACL")
        .arg(
            [
                "SETUSER",
                "om-test-searcher",
                "reset",
                "on",
                ">om-test-searcher-pw",
                "~*",
                "+ft.search",
                "+ft.aggregate",
                "+ft.cursor",
                "+ping",
                "+hello",
                "+client",
                "+select",
            ]
            .as_slice(),
        )
        .query_async(&mut con)
        .await
        .unwrap();
    let url = common::url().replacen(
        "redis://",
        "redis://om-test-searcher:om-test-searcher-pw@",
        1,
    );
    let mut searcher = common::multiplexed(&url).await;
    let denied: redis::RedisResult<Option<String>> = searcher.get(format!("{index}:hash")).await;
    assert!(denied.is_err(), "the user cannot read the bookkeeping");
    assert_eq!(
        AclModel::find(|m| m.name.eq("n3"))
            .count(&mut searcher)
            .await
            .unwrap(),
        1
    );
    let _: () = redis::cmd("ACL")
        .arg(["DELUSER", "om-test-searcher"].as_slice())
        .query_async(&mut con)
        .await
        .unwrap();
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(ThiefModel, "om-test-migrate-thief",);

#[tokio::test]
async fn a_migrator_that_loses_its_lease_stops_before_changing_anything() {
    let mut con = common::multiplexed(&common::url()).await;
    let index = ThiefModel::key_layout().index_name().to_owned();
    let prefix = ThiefModel::key_layout().key_prefix().to_owned();
    common::reset_index(&mut con, &index, &prefix).await;
    seed_docs::<ThiefModel>(&mut con, 50_000).await;
    let lock = format!("{index}:lock");
    let run = {
        let mut con = common::multiplexed(&common::url()).await;
        tokio::spawn(async move { Migrator::new().model::<ThiefModel>().run(&mut con).await })
    };
    // While it waits for the new index, its lease passes to another process
    // (as when it was paused for longer than the lease).
    loop {
        let holder: Option<String> = con.get(&lock).await.unwrap();
        if holder.is_some() {
            let _: () = con.set(&lock, "another-process").await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    match run.await.unwrap() {
        Err(Error::MigrationLock { index: i, reason }) => {
            assert_eq!(i, index);
            assert!(reason.contains("expired"), "{reason}");
        }
        other => panic!("expected MigrationLock, got {other:?}"),
    }
    let hash: Option<String> = con.get(format!("{index}:hash")).await.unwrap();
    assert_eq!(hash, None, "nothing recorded");
    let alias: redis::RedisResult<redis::Value> = redis::cmd("FT.INFO")
        .arg(&index)
        .query_async(&mut con)
        .await;
    assert!(alias.is_err(), "the alias was not added");
    let holder: Option<String> = con.get(&lock).await.unwrap();
    assert_eq!(
        holder.as_deref(),
        Some("another-process"),
        "the other's lease is kept"
    );
    common::reset_index(&mut con, &index, &prefix).await;
}

versioned_model!(HandV1, "om-test-migrate-hand",);
versioned_model!(HandV2, "om-test-migrate-hand", #[redis_om(index)]);

/// An index made by hand (or by another tool) with an older schema, and no
/// schema recorded by a migrator: a query on a field that index lacks is
/// `SchemaMismatch` naming it (the live index's own attributes are read),
/// never a silent zero; the others work.
#[tokio::test]
async fn a_hand_made_index_without_the_field_is_a_schema_mismatch() {
    let server = common::Server::fresh(common::fault_port(47), &[]);
    let mut con = common::multiplexed(&server.url()).await;
    let index = HandV2::key_layout().index_name().to_owned();
    let mut create = redis::cmd("FT.CREATE");
    create.arg(&index).arg(HandV1::index_schema().args());
    let _: () = create.query_async(&mut con).await.unwrap();
    for age in 0..5 {
        HandV2 {
            pk: Some(format!("h{age}")),
            name: format!("n{age}"),
            age,
        }
        .save(&mut con)
        .await
        .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    match HandV2::find(|d| d.age.eq(3)).count(&mut con).await {
        Err(Error::SchemaMismatch {
            missing, index: i, ..
        }) => {
            assert_eq!(missing, vec!["age NUMERIC".to_owned()]);
            assert_eq!(i, index);
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    assert_eq!(
        HandV2::find(|d| d.name.eq("n3"))
            .count(&mut con)
            .await
            .unwrap(),
        1
    );
    assert_eq!(HandV1::find_all().count(&mut con).await.unwrap(), 5);
}
