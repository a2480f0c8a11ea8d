//! Failover on a cluster of its own (3 primaries, 1 replica each, started
//! here on ports 17100-17105, or from `REDIS_OM_FAILOVER_PORT_BASE`): a
//! primary is killed (`kill -9`) during a stream of saves and finds. The
//! client follows the promoted replica without being restarted, errors during
//! the switch are connection errors (`is_connection_error`), and with
//! `SaveOptions::replicas(1, …)` no acknowledged document is lost.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use redis_om::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FoUser")]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    n: i64,
}

/// The cluster's first port: `REDIS_OM_FAILOVER_PORT_BASE`, default 17100.
fn base() -> u16 {
    common::env_port("REDIS_OM_FAILOVER_PORT_BASE", 17100)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/redis-stack")
}

/// Starts a fresh cluster; returns its seed URLs.
fn start_cluster() -> Vec<String> {
    let _ = Command::new(script())
        .args(["cluster", "stop", "--port-base", &base().to_string()])
        .output();
    let out = Command::new(script())
        .args(["cluster", "start", "--port-base", &base().to_string()])
        .output()
        .expect("scripts/redis-stack cluster start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect()
}

struct StopCluster;
impl Drop for StopCluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["cluster", "stop", "--port-base", &base().to_string()])
            .output();
    }
}

/// `kill -9` of the node on `port` (its pid from its run directory).
fn kill9(port: u16) {
    let cache = std::env::var("REDIS_OM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/redis-stack"));
    let pidfile = cache
        .join("run")
        .join(format!("cluster-{}", base()))
        .join(port.to_string())
        .join("redis.pid");
    let pid = std::fs::read_to_string(&pidfile).expect("pid file");
    assert!(Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap()
        .success());
}

fn classified(err: &Error) -> bool {
    err.is_connection_error() || matches!(err, Error::Timeout(_) | Error::NotReplicated { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_loses_no_acknowledged_save() {
    let seeds = start_cluster();
    let _stop = StopCluster;
    let mut con = redis_om::connect_cluster(seeds.clone()).await.unwrap();
    Migrator::new().model::<User>().run(&mut con).await.unwrap();
    let run = common::unique("fo");
    // A connection that learns the slot map now, with a delete, and deletes
    // again only after the failover (its map still names the dead primary).
    let mut deleter = redis_om::connect_cluster(seeds).await.unwrap();
    let absent: Vec<String> = (0..50).map(|i| format!("{run}-absent-{i}")).collect();
    assert_eq!(User::delete_many(&mut deleter, &absent).await.unwrap(), 0);
    let durable = SaveOptions::new().replicas(1, Duration::from_secs(2));
    let mut acknowledged: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let (mut first_error, mut back) = (None::<Instant>, None::<Instant>);
    let started = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wrong = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // (Ok answers, errors) of the watcher.
    let answers = std::sync::Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    let mut watcher = None;
    let mut killed = false;
    let mut i = 0i64;
    while started.elapsed() < Duration::from_secs(12) {
        if !killed && i == 150 {
            // A reader through the switch: every `Ok` holds every document
            // acknowledged before the kill.
            let baseline: std::collections::HashSet<String> =
                acknowledged.iter().cloned().collect();
            let (stop, wrong, answers) = (stop.clone(), wrong.clone(), answers.clone());
            let mut con = con.clone();
            let run = run.clone();
            watcher = Some(tokio::spawn(async move {
                use futures_util::TryStreamExt;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let pks = User::all_pks(&mut con).try_collect::<Vec<String>>().await;
                    let r = run.clone();
                    let count = User::find(move |u| u.run.eq(r.as_str()))
                        .count(&mut con)
                        .await;
                    {
                        let mut answers = answers.lock().unwrap();
                        match pks {
                            Ok(pks) => {
                                answers.0 += 1;
                                let pks: std::collections::HashSet<String> =
                                    pks.into_iter().collect();
                                let missing =
                                    baseline.iter().filter(|pk| !pks.contains(*pk)).count();
                                if missing > 0 {
                                    wrong
                                        .lock()
                                        .unwrap()
                                        .push(format!("all_pks Ok without {missing} keys"));
                                }
                            }
                            Err(_) => answers.1 += 1,
                        }
                        match count {
                            Ok(n) if n < baseline.len() as u64 => {
                                answers.0 += 1;
                                wrong
                                    .lock()
                                    .unwrap()
                                    .push(format!("count Ok({n}) < {}", baseline.len()));
                            }
                            Ok(_) => answers.0 += 1,
                            Err(_) => answers.1 += 1,
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
            kill9(base());
            killed = true;
        }
        let mut user = User {
            pk: Some(format!("{run}-{i:05}")),
            run: run.clone(),
            n: i,
        };
        match user.save_with(&mut con, durable).await {
            Ok(Some(pk)) => {
                acknowledged.push(pk);
                if first_error.is_some() && back.is_none() {
                    back = Some(Instant::now());
                }
            }
            Ok(None) => unreachable!(),
            Err(err) => {
                assert!(
                    classified(&err),
                    "an unclassified error during failover: {err:?}"
                );
                first_error.get_or_insert_with(Instant::now);
                errors.push(err.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if i % 25 == 0 {
            // During the switch a count and `all_pks` are complete or an
            // error: never `Ok` without the killed shard's documents.
            let r = run.clone();
            match User::find(move |u| u.run.eq(r.as_str()))
                .count(&mut con)
                .await
            {
                Ok(n) => assert!(
                    n >= acknowledged.len() as u64,
                    "count {n} < {} acknowledged",
                    acknowledged.len()
                ),
                Err(err) => assert!(
                    classified(&err) || err.to_string().contains("consistent slot map"),
                    "an unclassified error on find: {err:?}"
                ),
            }
            use futures_util::TryStreamExt;
            match User::all_pks(&mut con).try_collect::<Vec<String>>().await {
                Ok(pks) => {
                    let pks: std::collections::HashSet<String> = pks.into_iter().collect();
                    let missing = acknowledged.iter().filter(|pk| !pks.contains(*pk)).count();
                    assert_eq!(
                        missing, 0,
                        "all_pks returned Ok without {missing} acknowledged keys"
                    );
                }
                Err(err) => assert!(
                    classified(&err) || err.to_string().contains("consistent slot map"),
                    "an unclassified error on all_pks: {err:?}"
                ),
            }
        }
        i += 1;
        if back.is_some() && acknowledged.len() > 400 {
            break;
        }
    }
    assert!(killed);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(watcher) = watcher {
        watcher.await.unwrap();
    }
    let (ok, failed) = *answers.lock().unwrap();
    println!("reads through the switch: {ok} answered, {failed} refused or failed");
    let wrong = wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "partial answers as Ok: {wrong:?}");
    assert!(
        back.is_some() || first_error.is_none(),
        "the client never recovered: {} saves acknowledged, {} errors, the last: {:?}",
        acknowledged.len(),
        errors.len(),
        errors.iter().rev().take(3).collect::<Vec<_>>()
    );
    // Every acknowledged document is there, read through the promoted replica.
    let mut lost = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for chunk in acknowledged.chunks(100) {
        let got = loop {
            match User::get_many(&mut con, chunk).await {
                Ok(got) => break got,
                Err(err) if classified(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(err) => panic!("{err:?}"),
            }
        };
        for (pk, doc) in chunk.iter().zip(got) {
            if doc.is_none() {
                lost.push(pk.clone());
            }
        }
    }
    let switch = match (first_error, back) {
        (Some(a), Some(b)) => format!("{:.2} s", (b - a).as_secs_f64()),
        _ => "no error seen".to_owned(),
    };
    println!(
        "failover: {} saves acknowledged, {} failed during the switch, writes back after {switch}, {} lost",
        acknowledged.len(),
        errors.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // Search works again on every shard (the promoted replica has the index).
    let counted = loop {
        let r = run.clone();
        match User::find(move |u| u.run.eq(r.as_str()))
            .count(&mut con)
            .await
        {
            Ok(n) => break n,
            Err(err) if classified(&err) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(err) => panic!("{err:?}"),
        }
    };
    // A save that failed during the switch may still have been written.
    let (acked, failed) = (acknowledged.len() as u64, errors.len() as u64);
    assert!(
        (acked..=acked + failed).contains(&counted),
        "{counted} found, {acked} acknowledged, {failed} failed"
    );

    // `delete_many` through the connection whose slot map still names the
    // dead primary: every document deleted, the count exact.
    let doomed: Vec<String> = acknowledged.iter().take(300).cloned().collect();
    let deleted = User::delete_many(&mut deleter, &doomed).await.unwrap();
    assert_eq!(deleted, doomed.len() as u64);
    assert!(User::get_many(&mut con, &doomed)
        .await
        .unwrap()
        .iter()
        .all(Option::is_none));

    // Then the promoted replica dies too: that shard is gone. Counts and
    // `all_pks` fail; never `Ok` with the other shards' documents only.
    let promoted = (base()..base() + 6)
        .filter(|&port| port != base())
        .find(|&port| {
            let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
                return false;
            };
            let Ok(mut node) = client.get_connection() else {
                return false;
            };
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut node)
                .unwrap_or_default();
            // Its own line: a primary serving slot 0, which the killed one served.
            nodes.lines().any(|line| {
                line.contains("myself,master")
                    && line
                        .split(' ')
                        .skip(8)
                        .any(|r| r == "0" || r.starts_with("0-"))
            })
        })
        .expect("the replica that took over slot 0");
    kill9(promoted);
    let started = Instant::now();
    let r = run.clone();
    let count = User::find(move |u| u.run.eq(r.as_str()))
        .count(&mut con)
        .await;
    assert!(count.is_err(), "a count without a shard: {count:?}");
    use futures_util::TryStreamExt;
    let pks = User::all_pks(&mut con).try_collect::<Vec<String>>().await;
    assert!(
        pks.is_err(),
        "all_pks without a shard: Ok({} keys)",
        pks.map(|p| p.len()).unwrap_or(0)
    );
    println!(
        "a shard with no node left: count and all_pks failed within {:?}",
        started.elapsed()
    );
}
