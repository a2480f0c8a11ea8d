//! Durable saves (`SaveOptions::replicas`, issue 24, item 5): the wait for
//! replicas never holds the connection other tasks share, a wait longer
//! than the response timeout ends as `NotReplicated` (not `Timeout`), and a
//! server with a replica confirms at once. Each server is the test's own.

mod common;

use std::time::{Duration, Instant};

use redis_om::prelude::*;
use redis_om::{Error, SaveOptions};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Durable")]
struct Durable {
    pk: Option<String>,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_replicas_never_stalls_the_shared_connection() {
    // A primary without replicas, as a promoted one is after a failover.
    let server = common::Server::fresh(common::fault_port(48), &[]);
    // The default connection: a ConnectionManager whose clones share one
    // multiplexed connection, with a 500 ms response timeout.
    let con = redis_om::connect(server.url()).await.unwrap();
    let mut doc = Durable {
        pk: Some("d1".into()),
        name: "first".into(),
    };
    doc.save(&mut con.clone()).await.unwrap();
    // A wait longer than the response timeout, and reads beside it.
    let durable = SaveOptions::new().replicas(1, Duration::from_millis(1500));
    let saver = {
        let mut con = con.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut doc = Durable {
                pk: Some("d2".into()),
                name: "durable".into(),
            };
            (doc.save_with(&mut con, durable).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut slowest = Duration::ZERO;
    let mut reads = 0;
    let mut reader = con.clone();
    while !saver.is_finished() {
        let started = Instant::now();
        let got = Durable::get(&mut reader, "d1").await.unwrap();
        assert_eq!(got, doc);
        slowest = slowest.max(started.elapsed());
        reads += 1;
    }
    let (result, took) = saver.await.unwrap();
    println!(
        "durable save without replicas: {:?} after {took:?}; {reads} reads beside it, the slowest {slowest:?}",
        result.as_ref().map_err(|e| e.to_string())
    );
    match result {
        Err(Error::NotReplicated {
            acked: 0,
            wanted: 1,
            ..
        }) => {}
        other => panic!("expected NotReplicated, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    // Before: every read queued behind the WAIT for up to 1.5 s (or timed
    // out at 500 ms). Now at most one slice, which the server ends at its
    // next timer tick (up to 100 ms at the default `hz 10`); a generous
    // bound, for a loaded machine.
    assert!(reads > 20, "{reads} reads");
    assert!(slowest < Duration::from_millis(300), "{slowest:?}");
    // Written all the same: not yet safe, not lost.
    let d2 = Durable::get(&mut con.clone(), "d2").await.unwrap();
    assert_eq!(d2.name, "durable");
}

#[tokio::test]
async fn a_server_with_a_replica_confirms_a_durable_save() {
    let primary = common::Server::fresh(common::fault_port(49), &[]);
    let port = primary.url().rsplit(':').next().unwrap().to_owned();
    let replica = common::Server::fresh(
        common::fault_port(50),
        &["--", "--replicaof", "127.0.0.1", &port],
    );
    let mut to_replica = common::multiplexed(&replica.url()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut to_replica)
            .await
            .unwrap();
        if info.contains("master_link_status:up") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never synced: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut con = redis_om::connect(primary.url()).await.unwrap();
    let durable = SaveOptions::new().replicas(1, Duration::from_secs(2));
    for i in 0..20 {
        let mut doc = Durable {
            pk: Some(format!("r{i}")),
            name: format!("n{i}"),
        };
        let started = Instant::now();
        doc.save_with(&mut con, durable).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        // On the replica once confirmed.
        let name: Option<String> = redis::cmd("HGET")
            .arg(Durable::key_layout().key(format!("r{i}")))
            .arg("name")
            .query_async(&mut to_replica)
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some(format!("n{i}").as_str()));
    }
    // The blocking API waits the same way.
    let url = primary.url();
    std::thread::spawn(move || {
        let mut sync = redis_om::blocking::connect(url).unwrap();
        let mut doc = Durable {
            pk: Some("sync".into()),
            name: "blocking".into(),
        };
        redis_om::blocking::prelude::SyncModel::save_with(&mut doc, &mut sync, durable).unwrap();
    })
    .join()
    .unwrap();
}
