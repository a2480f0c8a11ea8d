//! Faults, each against a server of its own: a server killed and restarted
//! mid-stream, a server that stops answering, and migrators in several processes.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use redis::aio::ConnectionManagerConfig;
use redis_om::prelude::*;
use redis_om::{Error, MigrationAction};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FaultDoc")]
struct FaultDoc {
    pk: String,
    n: u64,
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_server_loses_nothing_acknowledged() {
    // Persistence on, fsync on every write: what was acknowledged must survive kill -9.
    let server = common::Server::fresh(common::fault_port(1), &["--persist"]);
    let mut con = redis_om::connect_with(server.url(), manager_config())
        .await
        .unwrap();

    let started = Instant::now();
    let mut acked: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut slowest = Duration::ZERO;
    let (mut killed_at, mut restarted) = (None::<Instant>, false);
    let mut after_restart = 0;
    let mut n = 0u64;
    while after_restart < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress after the restart"
        );
        n += 1;
        let t = Instant::now();
        let result = FaultDoc {
            pk: format!("d{n}"),
            n,
        }
        .save(&mut con)
        .await;
        slowest = slowest.max(t.elapsed());
        match result {
            Ok(pk) => {
                acked.push(pk);
                if restarted {
                    after_restart += 1;
                }
            }
            Err(err) => {
                // A clear, classified error, never a hang or a panic.
                assert!(
                    err.is_connection_error() || err.is_timeout(),
                    "unexpected error: {err:?}"
                );
                errors.push(err.to_string());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if acked.len() == 500 && killed_at.is_none() {
            server.kill9();
            killed_at = Some(Instant::now());
        }
        if let Some(at) = killed_at {
            if !restarted && at.elapsed() > Duration::from_millis(500) {
                server.start();
                restarted = true;
            }
        }
    }
    assert!(
        !errors.is_empty(),
        "writes while the server was down must fail"
    );
    assert!(
        slowest < Duration::from_secs(5),
        "an operation took {slowest:?}"
    );
    // Every acknowledged save is there after the restart.
    let got = FaultDoc::get_many(&mut con, &acked).await.unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .zip(&got)
        .filter(|(_, g)| g.is_none())
        .map(|(pk, _)| pk)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged documents lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    println!(
        "kill -9 mid-stream: {} saves acknowledged, {} failed while down (e.g. {:?}), slowest call {:?}, 0 lost",
        acked.len(),
        errors.len(),
        errors.first(),
        slowest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_gives_timeouts_then_recovers() {
    let server = common::Server::fresh(common::fault_port(2), &[]);
    let mut con = redis_om::connect_with(server.url(), manager_config())
        .await
        .unwrap();
    FaultDoc {
        pk: "before".into(),
        n: 1,
    }
    .save(&mut con)
    .await
    .unwrap();

    // Another client pauses the server for 1.5 s.
    let mut admin = common::multiplexed(&server.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let t = Instant::now();
    let err = FaultDoc::get(&mut con, "before").await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1_400),
        "the timeout fired after {:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("did not answer in time"), "{err}");

    // Once the pause ends, the same connection works again.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    FaultDoc {
        pk: "after".into(),
        n: 2,
    }
    .save(&mut con)
    .await
    .unwrap();
    assert_eq!(FaultDoc::get(&mut con, "before").await.unwrap().n, 1);
    assert_eq!(FaultDoc::get(&mut con, "after").await.unwrap().n, 2);
}

versioned_model!(ProcV1, "FaultProcs",);
versioned_model!(ProcV2, "FaultProcs", #[redis_om(index)]);

/// Run by `processes_run_the_migrator_at_once` in child processes.
#[test]
#[ignore = "a helper run in child processes by processes_run_the_migrator_at_once"]
fn migrator_child_process() {
    let url = std::env::var("REDIS_OM_CHILD_URL").expect("REDIS_OM_CHILD_URL");
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let report = match std::env::var("REDIS_OM_CHILD_VERSION").as_deref() {
        Ok("2") => redis_om::blocking::Migrator::new()
            .model::<ProcV2>()
            .run(&mut con),
        _ => redis_om::blocking::Migrator::new()
            .model::<ProcV1>()
            .run(&mut con),
    };
    let report = report.expect("the migrator failed in a child process");
    println!("child: {:?}", report.models[0].action);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_run_the_migrator_at_once() {
    let url = common::url();
    let mut con = common::multiplexed(&url).await;
    let index = ProcV1::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, ProcV1::key_layout().key_prefix()).await;
    let mut docs: Vec<ProcV1> = (0..2_000)
        .map(|i| ProcV1 {
            pk: None,
            name: format!("n{i}"),
            age: i,
        })
        .collect();
    ProcV1::save_all(&mut con, &mut docs).await.unwrap();

    for version in ["1", "2"] {
        let children: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "migrator_child_process",
                        "--ignored",
                        "--nocapture",
                    ])
                    .env("REDIS_OM_CHILD_URL", &url)
                    .env("REDIS_OM_CHILD_VERSION", version)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "a migrator process failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // One versioned index behind the alias, holding every document.
        let indexes = common::indexes_starting_with(&mut con, &format!("{index}:")).await;
        assert_eq!(indexes.len(), 1, "version {version}: {indexes:?}");
        if version == "2" {
            // The processes left the index at the new schema.
            let again = Migrator::new()
                .model::<ProcV2>()
                .dry_run(&mut con)
                .await
                .unwrap();
            assert_eq!(again.models[0].action, MigrationAction::Unchanged);
        }
        assert_eq!(ProcV1::find_all().count(&mut con).await.unwrap(), 2_000);
    }
    assert_eq!(
        ProcV2::find(|p| p.age.ge(1_000))
            .count(&mut con)
            .await
            .unwrap(),
        1_000
    );
}
