//! The model cache (`redis_om::cache`, feature `cache`): local hits, misses
//! shared by concurrent readers, invalidation by other clients, expiry,
//! read-your-writes, and no stale read after a lost connection, a flush or a
//! server restart; then a property test with writers in this process and in
//! another one.
#![cfg(feature = "cache")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_om::cache::{CacheConfig, Local, ModelCache};
use redis_om::prelude::*;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "CacheDoc")]
struct CacheDoc {
    pk: String,
    ver: u64,
    by: String,
}

#[derive(JsonModel, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[redis_om(prefix = "CacheJson")]
struct CacheJson {
    pk: String,
    tags: Vec<String>,
    ver: u64,
}

fn doc(pk: &str, ver: u64) -> CacheDoc {
    CacheDoc {
        pk: pk.to_owned(),
        ver,
        by: "test".to_owned(),
    }
}

async fn cache(url: &str) -> ModelCache<CacheDoc> {
    ModelCache::connect(url.to_owned(), CacheConfig::new())
        .await
        .unwrap()
}

/// A primary key no other test (or run) uses.
fn pk(tag: &str) -> String {
    common::unique(tag)
}

fn ver(found: &Option<Arc<CacheDoc>>) -> Option<u64> {
    found.as_ref().map(|d| d.ver)
}

#[tokio::test]
async fn a_second_read_is_a_local_hit_without_a_round_trip() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = common::multiplexed(&url).await;
    let pk = pk("hit");
    doc(&pk, 1).save(&mut con).await.unwrap();

    assert_eq!(users.get_local(&pk).unwrap(), Local::Miss);
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));
    let after_miss = users.stats();
    assert_eq!((after_miss.misses, after_miss.fetches), (1, 1));
    for _ in 0..100 {
        assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));
    }
    let stats = users.stats();
    assert_eq!(stats.hits, 100, "{stats:?}");
    assert_eq!(stats.fetches, 1, "a hit made a round trip: {stats:?}");
    assert!(matches!(users.get_local(&pk).unwrap(), Local::Hit(Some(_))));

    // A document Redis does not have is cached as absent, and tracked too.
    let absent = format!("{pk}-absent");
    assert_eq!(ver(&users.get(&absent).await.unwrap()), None);
    assert_eq!(users.get_local(&absent).unwrap(), Local::Hit(None));
    doc(&absent, 7).save(&mut con).await.unwrap();
    users.sync().await.unwrap();
    assert_eq!(ver(&users.get(&absent).await.unwrap()), Some(7));
}

#[tokio::test]
async fn a_write_by_another_client_invalidates_the_entry() {
    let url = common::url();
    for writer_url in common::both_protocols(&url) {
        let users = cache(&url).await;
        let mut other = common::multiplexed(&writer_url).await;
        let pk = pk("other");
        doc(&pk, 1).save(&mut other).await.unwrap();
        assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));

        // Without waiting for it: the invalidation arrives by itself.
        doc(&pk, 2).save(&mut other).await.unwrap();
        let started = Instant::now();
        while ver(&users.get(&pk).await.unwrap()) != Some(2) {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the invalidation never arrived ({writer_url})"
            );
            tokio::task::yield_now().await;
        }
        // With `sync`: every write acknowledged before it is seen after it.
        for n in 3..50 {
            CacheDoc::update(&mut other, &pk, |u| u.ver.set(n))
                .await
                .unwrap();
            users.sync().await.unwrap();
            assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(n));
        }
        CacheDoc::delete(&mut other, &pk).await.unwrap();
        users.sync().await.unwrap();
        assert_eq!(ver(&users.get(&pk).await.unwrap()), None);
        assert!(users.stats().invalidations >= 48, "{:?}", users.stats());
    }
}

#[tokio::test]
async fn the_process_reads_its_own_writes_through_the_cache_connection() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = users.connection();
    let pk = pk("own");
    for n in 0..300u64 {
        match n % 5 {
            0 | 1 => {
                doc(&pk, n).save(&mut con).await.unwrap();
            }
            2 => {
                // An update of an absent document writes nothing.
                let applied = CacheDoc::update(&mut con, &pk, |u| u.ver.set(n))
                    .await
                    .unwrap();
                assert!(applied);
            }
            3 => {
                let mut pipe = redis::pipe();
                doc(&pk, n).save_in(&mut pipe).unwrap();
                pipe.query_async::<()>(&mut con).await.unwrap();
            }
            _ => {
                CacheDoc::delete(&mut con, &pk).await.unwrap();
                assert_eq!(
                    ver(&users.get(&pk).await.unwrap()),
                    None,
                    "after delete {n}"
                );
                doc(&pk, n).save(&mut con).await.unwrap();
            }
        }
        // No `sync`: the write itself dropped the entry.
        assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(n), "write {n}");
    }
}

#[tokio::test]
async fn concurrent_misses_of_one_key_make_one_round_trip() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = common::multiplexed(&url).await;
    let pk = pk("flight");
    doc(&pk, 5).save(&mut con).await.unwrap();

    // 64 readers polled together: the first starts the read, the others join it.
    let reads = (0..64).map(|_| users.get(&pk));
    for found in futures_util::future::join_all(reads).await {
        assert_eq!(ver(&found.unwrap()), Some(5));
    }
    let stats = users.stats();
    assert_eq!((stats.misses, stats.fetches), (64, 1), "{stats:?}");

    // The same from 64 tasks on several threads, on a fresh key each round.
    for round in 0..20 {
        let key = format!("{pk}-{round}");
        doc(&key, round).save(&mut con).await.unwrap();
        let before = users.stats().fetches;
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (users, key, barrier) = (users.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    users.get(&key).await.unwrap().map(|d| d.ver)
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Some(round));
        }
        assert_eq!(users.stats().fetches - before, 1, "round {round}");
    }
}

#[tokio::test]
async fn an_entry_ends_with_its_keys_ttl() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = common::multiplexed(&url).await;
    let pk = pk("ttl");
    doc(&pk, 1)
        .save_with(
            &mut con,
            redis_om::SaveOptions::new().ttl(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));
    assert!(matches!(users.get_local(&pk).unwrap(), Local::Hit(Some(_))));
    tokio::time::sleep(Duration::from_millis(320)).await;
    // Gone locally at the key's expiry, whether or not the server has sent
    // the expiry's invalidation yet.
    assert_eq!(users.get_local(&pk).unwrap(), Local::Miss);
    assert_eq!(ver(&users.get(&pk).await.unwrap()), None);

    // A TTL set later by another client invalidates too.
    doc(&pk, 2).save(&mut con).await.unwrap();
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(2));
    let mut plain = common::multiplexed(&url).await;
    CacheDoc::expire(&mut plain, &pk, Duration::from_millis(100))
        .await
        .unwrap();
    users.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(ver(&users.get(&pk).await.unwrap()), None);
}

#[tokio::test]
async fn json_models_are_cached_and_invalidated() {
    let url = common::url();
    let docs = ModelCache::<CacheJson>::connect(url.as_str(), CacheConfig::new())
        .await
        .unwrap();
    let mut con = common::multiplexed(&url).await;
    let pk = pk("json");
    let mut d = CacheJson {
        pk: pk.clone(),
        tags: vec!["a".into(), "b|c".into()],
        ver: 1,
    };
    d.save(&mut con).await.unwrap();
    assert_eq!(docs.get(&pk).await.unwrap().as_deref(), Some(&d));
    assert_eq!(docs.get(&pk).await.unwrap().as_deref(), Some(&d));
    assert_eq!(docs.stats().fetches, 1);
    d.ver = 2;
    d.save(&mut con).await.unwrap();
    docs.sync().await.unwrap();
    assert_eq!(docs.get(&pk).await.unwrap().as_deref(), Some(&d));
}

#[tokio::test]
async fn a_document_that_does_not_decode_is_an_error_and_not_cached() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = common::multiplexed(&url).await;
    let pk = pk("bad");
    let key = CacheDoc::key_layout().key(&pk);
    redis::cmd("HSET")
        .arg(&key)
        .arg("pk")
        .arg(&pk)
        .arg("ver")
        .arg("not a number")
        .arg("by")
        .arg("x")
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    let err = users.get(&pk).await.unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");
    assert_eq!(users.get_local(&pk).unwrap(), Local::Miss);
    redis::cmd("SET")
        .arg(&key)
        .arg("a string")
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    let err = users.get(&pk).await.unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    assert!(users.get("").await.is_err(), "an empty key is refused");
}

/// The id of the cache's tracked connection.
async fn tracking_id(users: &ModelCache<CacheDoc>) -> i64 {
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut users.connection())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_killed_tracking_connection_serves_nothing_stale() {
    let url = common::url();
    let users = cache(&url).await;
    let mut other = common::multiplexed(&url).await;
    let pk = pk("kill");
    for round in 0..10u64 {
        doc(&pk, round * 10).save(&mut other).await.unwrap();
        users.sync().await.unwrap();
        assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(round * 10));
        let resets = users.stats().resets;
        let id = tracking_id(&users).await;
        let _: () = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut other)
            .await
            .unwrap();
        // Written while no connection tracks the key for the cache.
        doc(&pk, round * 10 + 1).save(&mut other).await.unwrap();
        // The loss is noticed by itself (the socket closes) …
        let started = Instant::now();
        while users.stats().resets == resets {
            assert!(started.elapsed() < Duration::from_secs(2), "loss unnoticed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // … and nothing read before it is served after it.
        assert_eq!(
            ver(&users.get(&pk).await.unwrap()),
            Some(round * 10 + 1),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_flush_and_a_server_restart_serve_nothing_stale() {
    let server = common::Server::fresh(common::fault_port(30), &[]);
    let users = ModelCache::<CacheDoc>::connect(
        server.url(),
        CacheConfig::new().retry_interval(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let mut other = common::multiplexed(&server.url()).await;
    doc("a", 1).save(&mut other).await.unwrap();
    assert_eq!(ver(&users.get("a").await.unwrap()), Some(1));

    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut other)
        .await
        .unwrap();
    users.sync().await.unwrap();
    assert_eq!(ver(&users.get("a").await.unwrap()), None);

    doc("a", 2).save(&mut other).await.unwrap();
    users.sync().await.unwrap();
    assert_eq!(ver(&users.get("a").await.unwrap()), Some(2));
    assert!(users.is_connected());

    // Restart without persistence: the server comes back empty, and the
    // cache's entries (read on the old connection) are dead.
    server.stop();
    // The loss is noticed when the socket closes (or at the next heartbeat).
    let started = Instant::now();
    while users.is_connected() {
        assert!(started.elapsed() < Duration::from_secs(3), "loss unnoticed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let down = users.get("a").await;
    assert!(
        down.is_err(),
        "served from memory while Redis is down: {down:?}"
    );
    assert!(down.unwrap_err().is_connection_error());
    server.start();
    let mut other = common::multiplexed(&server.url()).await;
    doc("b", 3).save(&mut other).await.unwrap();
    let started = Instant::now();
    let found = loop {
        match users.get("a").await {
            Ok(found) => break found,
            Err(err) => {
                assert!(err.is_connection_error(), "{err}");
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "never came back"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(ver(&found), None, "served a document of the old server");
    assert_eq!(ver(&users.get("b").await.unwrap()), Some(3));
    assert!(users.is_connected());
}

#[tokio::test]
async fn a_cache_while_redis_is_down_fails_fast_and_recovers() {
    let server = common::Server::fresh(common::fault_port(32), &[]);
    let config = CacheConfig::new()
        .retry_interval(Duration::from_millis(200))
        .connection_timeout(Duration::from_millis(300));
    server.stop();
    // A service can start while Redis is down.
    let users = ModelCache::<CacheDoc>::new(server.url(), config).unwrap();
    for _ in 0..20 {
        let started = Instant::now();
        let err = users.get("x").await.unwrap_err();
        assert!(err.is_connection_error(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    server.start();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(ver(&users.get("x").await.unwrap()), None);
}
