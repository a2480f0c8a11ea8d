//! Recovering from lost replies and hostile keys, each against a server of
//! its own: a migration lease whose reply was lost is taken over by its
//! token instead of being waited out; one retry policy (no doubled backoff);
//! the migrator's bookkeeping keys are unreachable through every model
//! method, and one of the wrong type is an error naming it.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use redis::aio::ConnectionManagerConfig;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::{Error, MigrationAction};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "LeaseDoc")]
struct LeaseDoc {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
}

async fn pause_writes(url: &str, ms: u64) {
    let mut pauser = common::multiplexed(url).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async(&mut pauser)
        .await
        .unwrap();
}

/// A pause of writes (as a manual failover makes) while the migrator takes
/// its lease: the `SET NX` is applied when the pause ends, its reply long
/// lost. The migrator finds the lease under its own token and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_during_a_pause_is_recognised_by_its_token() {
    for resp3 in [false, true] {
        lease_taken_during_a_pause(resp3).await;
    }
}

async fn lease_taken_during_a_pause(resp3: bool) {
    // A fresh server each time: the index does not exist yet.
    let server = common::Server::fresh(common::fault_port(42), &[]);
    let url = common::both_protocols(&server.url())[usize::from(resp3)].clone();
    let mut con = redis_om::connect(url.as_str()).await.unwrap();
    pause_writes(&server.url(), 1_500).await;
    let started = Instant::now();
    let report = Migrator::new().model::<LeaseDoc>().run(&mut con).await;
    let took = started.elapsed();
    let report = report.expect("the migrator goes on once the pause ends");
    assert!(matches!(
        report.models[0].action,
        MigrationAction::Created { .. }
    ));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let lock: Option<String> = con.get("LeaseDoc:index:lock").await.unwrap();
    let lock_default: Option<String> = con.get(":LeaseDoc:index:lock").await.unwrap();
    assert_eq!((lock, lock_default), (None, None), "the lease was released");
}

/// A pause long enough that the migrator gives up (7 s; it waits out 5 s): the next run in the
/// process takes the orphaned lease over at once instead of waiting out its
/// 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_run_takes_over_a_lease_whose_reply_was_lost() {
    let server = common::Server::fresh(common::fault_port(43), &[]);
    let mut con = redis_om::connect(server.url()).await.unwrap();
    pause_writes(&server.url(), 7_000).await;
    let started = Instant::now();
    let first = Migrator::new().model::<LeaseDoc>().run(&mut con).await;
    let err = first.expect_err("every reply of the lease was lost");
    assert!(err.is_timeout(), "{err}");
    tokio::time::sleep(Duration::from_millis(7_300).saturating_sub(started.elapsed())).await;
    let lease_ttl: i64 = con.pttl(":LeaseDoc:index:lock").await.unwrap();
    assert!(
        lease_ttl > 20_000,
        "the lost SET NX holds the lease: {lease_ttl}"
    );
    let restarted = Instant::now();
    let report = Migrator::new()
        .model::<LeaseDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let took = restarted.elapsed();
    assert!(matches!(
        report.models[0].action,
        MigrationAction::Created { .. }
    ));
    eprintln!("startup after a lost lease: {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "waited {took:?} for the lease"
    );
}

/// One retry policy: with redis-rs's own `ConnectionManagerConfig` defaults
/// (6 retries with backoff) a call while the server is down waits that
/// backoff once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_retries_by_itself_is_not_retried_again() {
    let server = common::Server::fresh(common::fault_port(44), &[]);
    let mut con = redis_om::connect_with(server.url(), ConnectionManagerConfig::new())
        .await
        .unwrap();
    LeaseDoc {
        pk: Some("a".into()),
        name: "A".into(),
    }
    .save(&mut con)
    .await
    .unwrap();
    server.stop();
    // The first call finds the connection dropped; the next ones go through
    // the manager's reconnection with its backoff.
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let err = LeaseDoc::get(&mut con, "a").await.unwrap_err();
        slowest = slowest.max(started.elapsed());
        assert!(err.is_connection_error() || err.is_timeout(), "{err}");
    }
    eprintln!("slowest call on redis-rs's default manager while the server is down: {slowest:?}");
    // redis-rs's backoff alone is about 9.5 s; repeated, 19 s.
    assert!(slowest < Duration::from_secs(14), "{slowest:?}");
    // With redis-om's config, at once.
    let mut fast = redis_om::connect(server.url()).await;
    assert!(
        fast.is_err() || {
            let t = Instant::now();
            let _ = LeaseDoc::get(fast.as_mut().unwrap(), "a").await;
            t.elapsed() < Duration::from_secs(2)
        }
    );
}

const BOOKKEEPING: [&str; 4] = ["index:lock", "index:hash", "index:schema", "index:history"];

/// Every model method refuses a primary key that names one of the
/// migrator's keys, and the key is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookkeeping_keys_are_unreachable_through_every_model_method() {
    let server = common::Server::fresh(common::fault_port(45), &[]);
    for url in common::both_protocols(&server.url()) {
        bookkeeping_keys_unreachable(&url).await;
    }
}

async fn bookkeeping_keys_unreachable(url: &str) {
    let mut con = redis_om::connect(url).await.unwrap();
    Migrator::new()
        .model::<LeaseDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let _: () = con
        .set(":LeaseDoc:index:lock", "someone's token")
        .await
        .unwrap();
    let before: Vec<(String, i64)> = bookkeeping_types(&mut con).await;
    assert!(
        before.iter().filter(|(t, _)| t != "none").count() >= 3,
        "{before:?}"
    );
    let refused = |result: Result<(), Error>, what: &str| match result {
        Err(Error::InvalidArgument(msg)) => {
            assert!(msg.contains("bookkeeping"), "{what}: {msg}")
        }
        other => panic!("{what}: {other:?}"),
    };
    for pk in BOOKKEEPING {
        refused(LeaseDoc::get(&mut con, pk).await.map(drop), "get");
        refused(
            LeaseDoc::get_optional(&mut con, pk).await.map(drop),
            "get_optional",
        );
        refused(LeaseDoc::exists(&mut con, pk).await.map(drop), "exists");
        refused(
            LeaseDoc::expire(&mut con, pk, Duration::from_secs(1))
                .await
                .map(drop),
            "expire",
        );
        refused(LeaseDoc::ttl(&mut con, pk).await.map(drop), "ttl");
        refused(LeaseDoc::delete(&mut con, pk).await.map(drop), "delete");
        refused(
            LeaseDoc::delete_many(&mut con, ["ok", pk]).await.map(drop),
            "delete_many",
        );
        refused(
            LeaseDoc::get_many(&mut con, ["ok", pk]).await.map(drop),
            "get_many",
        );
        refused(
            LeaseDoc::update(&mut con, pk, |u| u.name.set("x"))
                .await
                .map(drop),
            "update",
        );
        let mut pipe = redis::pipe();
        refused(LeaseDoc::delete_in(&mut pipe, pk), "delete_in");
        let mut doc = LeaseDoc {
            pk: Some(pk.to_owned()),
            name: "x".into(),
        };
        refused(doc.save(&mut con).await.map(drop), "save");
        refused(doc.remove(&mut con).await.map(drop), "remove");
        refused(doc.save_in(&mut pipe).map(drop), "save_in");
        // The blocking API goes through the same rule.
        let mut sync = common::sync_con(url);
        refused(
            <LeaseDoc as redis_om::blocking::SyncModel>::delete(&mut sync, pk).map(drop),
            "blocking delete",
        );
        refused(
            <LeaseDoc as redis_om::blocking::SyncModel>::expire(
                &mut sync,
                pk,
                Duration::from_secs(1),
            )
            .map(drop),
            "blocking expire",
        );
    }
    assert_eq!(bookkeeping_types(&mut con).await, before);
}

async fn bookkeeping_types(con: &mut redis::aio::ConnectionManager) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for pk in BOOKKEEPING {
        let key = format!(":LeaseDoc:{pk}");
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(con).await.unwrap();
        let ttl: i64 = con.pttl(&key).await.unwrap();
        out.push((kind, ttl.signum()));
    }
    out
}

/// A bookkeeping key of another Redis type than the migrator writes there
/// is an error naming the key and the fix, never a bare `WRONGTYPE` or a
/// wait for a lease that never expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookkeeping_key_of_the_wrong_type_names_the_key() {
    let server = common::Server::fresh(common::fault_port(46), &[]);
    let mut con = redis_om::connect(server.url()).await.unwrap();
    let _: () = con
        .set(":LeaseDoc:index:history", "not a list")
        .await
        .unwrap();
    let err = Migrator::new()
        .model::<LeaseDoc>()
        .run(&mut con)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(":LeaseDoc:index:history") && text.contains("DEL"),
        "{text}"
    );

    let _: () = con.del(":LeaseDoc:index:history").await.unwrap();
    let _: () = con.hset(":LeaseDoc:index:lock", "f", "v").await.unwrap();
    let started = Instant::now();
    let err = Migrator::new()
        .model::<LeaseDoc>()
        .run(&mut con)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(":LeaseDoc:index:lock") && text.contains("DEL"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let _: () = con.del(":LeaseDoc:index:lock").await.unwrap();
    Migrator::new()
        .model::<LeaseDoc>()
        .run(&mut con)
        .await
        .unwrap();
}
