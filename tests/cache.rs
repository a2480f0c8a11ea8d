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
    // The entry is dropped by the command's return itself, not only by the
    // server's invalidation (which can come in a later read of the socket):
    // a command that names the key without writing it drops it too.
    assert!(matches!(users.get_local(&pk).unwrap(), Local::Hit(Some(_))));
    let key = CacheDoc::key_layout().key(&pk);
    let _: String = redis::cmd("ECHO")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(users.get_local(&pk).unwrap(), Local::Miss);
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
    assert!(
        matches!(&err, redis_om::Error::Decode { key: k, .. } if *k == key),
        "{err:?}"
    );
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

#[tokio::test]
async fn a_cluster_node_is_refused_with_the_reason() {
    let urls = redis_om::cluster_urls();
    assert!(
        !urls.is_empty(),
        "REDIS_OM_CLUSTER_URLS is not set: run scripts/test"
    );
    let err = ModelCache::<CacheDoc>::connect(urls[0].clone(), CacheConfig::new())
        .await
        .unwrap_err();
    assert!(matches!(err, redis_om::Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("Redis Cluster"), "{err}");
}

// ---------------------------------------------------------------------------
// Property test: random writes from several clients (one in another process)
// interleaved with cached reads; every value read must have been current at
// some moment of its read, and at the end every cached read equals Redis.
// ---------------------------------------------------------------------------

/// Wall-clock nanoseconds: comparable across the two processes.
fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum WriteKind {
    /// A save or an applied update: the key holds `ver` afterwards.
    Value(u64),
    Delete,
    /// `PEXPIRE` of this many milliseconds.
    Expire(u64),
}

#[derive(Debug, Clone)]
struct Write {
    key: usize,
    kind: WriteKind,
    start: u128,
    /// Acknowledged at; `None`: failed, maybe applied.
    acked: Option<u128>,
}

#[derive(Debug, Clone)]
struct Read {
    key: usize,
    ver: Option<u64>,
    start: u128,
    end: u128,
}

const KEYS: usize = 6;

fn prop_pk(run: &str, key: usize) -> String {
    format!("{run}-{key}")
}

/// One writer: `ops` random writes on `con`, values `base + n`.
async fn random_writes<C: redis::aio::ConnectionLike + Send>(
    con: &mut C,
    run: &str,
    seed: u64,
    base: u64,
    ops: u64,
) -> Vec<Write> {
    let mut rng = Rng(seed | 1);
    let mut log = Vec::new();
    for n in 0..ops {
        let key = rng.below(KEYS as u64) as usize;
        let pk = prop_pk(run, key);
        let ver = base + n;
        let start = now_ns();
        let (kind, result) = match rng.below(10) {
            0..=3 => (
                WriteKind::Value(ver),
                doc(&pk, ver).save(con).await.map(|_| true),
            ),
            4..=6 => (
                WriteKind::Value(ver),
                CacheDoc::update(con, &pk, |u| u.ver.set(ver)).await,
            ),
            7 | 8 => (
                WriteKind::Delete,
                CacheDoc::delete(con, &pk).await.map(|_| true),
            ),
            _ => {
                let ms = 1 + rng.below(30);
                (
                    WriteKind::Expire(ms),
                    CacheDoc::expire(con, &pk, Duration::from_millis(ms))
                        .await
                        .map(|_| true),
                )
            }
        };
        match result {
            // An update of an absent document wrote nothing.
            Ok(false) => {}
            Ok(true) => log.push(Write {
                key,
                kind,
                start,
                acked: Some(now_ns()),
            }),
            Err(_) => log.push(Write {
                key,
                kind,
                start,
                acked: None,
            }),
        }
        if rng.below(4) == 0 {
            tokio::task::yield_now().await;
        }
    }
    log
}

/// The writer in another process: this test binary again, running
/// `child_writer_process` with the run's parameters in its environment; it
/// prints its log as lines `key kind arg start acked`.
fn spawn_child_writer(url: &str, run: &str, ops: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer_process",
            "--nocapture",
            "--ignored",
        ])
        .env("CACHE_CHILD_URL", url)
        .env("CACHE_CHILD_RUN", run)
        .env("CACHE_CHILD_OPS", ops.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Not a test of its own: the other process of
/// `random_writes_from_several_clients_never_show_a_stale_value`.
#[tokio::test]
#[ignore = "run by the property test as its second process"]
async fn child_writer_process() {
    let (Ok(url), Ok(run), Ok(ops)) = (
        std::env::var("CACHE_CHILD_URL"),
        std::env::var("CACHE_CHILD_RUN"),
        std::env::var("CACHE_CHILD_OPS"),
    ) else {
        return;
    };
    let mut con = common::multiplexed(&url).await;
    let log = random_writes(&mut con, &run, 0xC41D, 3_000_000, ops.parse().unwrap()).await;
    for w in log {
        let (kind, arg) = match w.kind {
            WriteKind::Value(v) => ("v", v),
            WriteKind::Delete => ("d", 0),
            WriteKind::Expire(ms) => ("e", ms),
        };
        let acked = w.acked.map_or("-".to_owned(), |t| t.to_string());
        println!("W {} {kind} {arg} {} {acked}", w.key, w.start);
    }
}

fn parse_child_log(out: &str) -> Vec<Write> {
    out.lines()
        .filter_map(|line| line.strip_prefix("W "))
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let arg: u64 = f[2].parse().unwrap();
            Write {
                key: f[0].parse().unwrap(),
                kind: match f[1] {
                    "v" => WriteKind::Value(arg),
                    "d" => WriteKind::Delete,
                    _ => WriteKind::Expire(arg),
                },
                start: f[3].parse().unwrap(),
                acked: f[4].parse().ok(),
            }
        })
        .collect()
}

/// Checks every read against the writes of its key. A write counts as done
/// for the cache once a `sync` that started after its acknowledgement has
/// returned (`fences`: start and end of each); until then the cache may
/// still show the value before it, as any client-side cache does before the
/// invalidation arrives.
fn check(reads: &[Read], writes: &[Write], fences: &[(u128, u128)]) -> Vec<String> {
    // The earliest end of a fence that started after `acked`.
    let mut earliest_end = vec![u128::MAX; fences.len() + 1];
    for i in (0..fences.len()).rev() {
        earliest_end[i] = earliest_end[i + 1].min(fences[i].1);
    }
    let done_at = |w: &Write| -> u128 {
        let Some(acked) = w.acked else {
            return u128::MAX;
        };
        earliest_end[fences.partition_point(|(start, _)| *start <= acked)]
    };
    struct Keyed<'a> {
        w: &'a Write,
        done: u128,
    }
    // Per key: its writes, and its saves/updates/deletes by start with the
    // earliest `done` from each on.
    let mut by_key: Vec<Vec<Keyed>> = (0..KEYS).map(|_| Vec::new()).collect();
    for w in writes {
        by_key[w.key].push(Keyed {
            w,
            done: done_at(w),
        });
    }
    let mut changes: Vec<Vec<(u128, u128)>> = by_key
        .iter()
        .map(|ws| {
            let mut c: Vec<(u128, u128)> = ws
                .iter()
                .filter(|k| !matches!(k.w.kind, WriteKind::Expire(_)))
                .map(|k| (k.w.start, k.done))
                .collect();
            c.sort();
            for i in (0..c.len().saturating_sub(1)).rev() {
                c[i].1 = c[i].1.min(c[i + 1].1);
            }
            c
        })
        .collect();
    changes.iter_mut().for_each(|c| c.shrink_to_fit());
    // A change that started after `after` and was done before `before`.
    let superseded = |key: usize, after: u128, before: u128| {
        let c = &changes[key];
        let i = c.partition_point(|(start, _)| *start <= after);
        i < c.len() && c[i].1 < before
    };
    let mut problems = Vec::new();
    for r in reads {
        let of_key = &by_key[r.key];
        match r.ver {
            Some(v) => {
                let Some(w) = of_key.iter().find(|k| k.w.kind == WriteKind::Value(v)) else {
                    problems.push(format!("{r:?}: read a value never written"));
                    continue;
                };
                if w.w.start > r.end {
                    problems.push(format!("{r:?}: read a value written after the read"));
                }
                // `w` itself started before it was done: never its own successor.
                if superseded(r.key, w.done, r.start) {
                    problems.push(format!(
                        "{r:?}: stale, {:?} was superseded before the read",
                        w.w
                    ));
                }
                // Expired before the read, with no other write since the expire began.
                for e in of_key {
                    let WriteKind::Expire(ms) = e.w.kind else {
                        continue;
                    };
                    let Some(acked) = e.w.acked else { continue };
                    // Redis expires keys at whole milliseconds: the key ends by
                    // the millisecond after `acked + ms`.
                    let deadline = (acked + u128::from(ms + 1) * 1_000_000).max(e.done);
                    if e.w.start <= w.done || deadline >= r.start {
                        continue;
                    }
                    let quiet = !of_key.iter().any(|w3| {
                        !std::ptr::eq(w3.w, w.w)
                            && !std::ptr::eq(w3.w, e.w)
                            && w3.w.start <= r.start
                            && w3.w.acked.is_none_or(|a| a >= e.w.start)
                    });
                    if quiet {
                        problems.push(format!("{r:?}: served after {:?} expired it", e.w));
                    }
                }
            }
            None => {
                let initially = !of_key
                    .iter()
                    .any(|k| matches!(k.w.kind, WriteKind::Value(_)) && k.done < r.start);
                let removed = of_key.iter().any(|d| match d.w.kind {
                    WriteKind::Delete => {
                        d.w.start <= r.end
                            && !of_key.iter().any(|w2| {
                                matches!(w2.w.kind, WriteKind::Value(_))
                                    && w2.w.start > d.done
                                    && w2.done < r.start
                            })
                    }
                    WriteKind::Expire(_) => d.w.start <= r.end,
                    WriteKind::Value(_) => false,
                });
                if !initially && !removed {
                    problems.push(format!(
                        "{r:?}: absent, but no delete or expiry explains it"
                    ));
                }
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_writes_from_several_clients_never_show_a_stale_value() {
    let server = common::Server::fresh(common::fault_port(31), &[]);
    let url = server.url();
    let run = common::unique("prop");
    let users = ModelCache::<CacheDoc>::connect(
        url.clone(),
        CacheConfig::new().retry_interval(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    // Writes per writer; REDIS_OM_CACHE_PROP_OPS for a longer run.
    let ops: u64 = std::env::var("REDIS_OM_CACHE_PROP_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_500);

    let child = spawn_child_writer(&url, &run, ops);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    // Two other clients of this process, one per protocol, and this
    // process's own writes through the cache's connection.
    for (i, writer_url) in common::both_protocols(&url).into_iter().enumerate() {
        let run = run.clone();
        writers.push(tokio::spawn(async move {
            let mut con = common::multiplexed(&writer_url).await;
            random_writes(
                &mut con,
                &run,
                17 + i as u64,
                1_000_000 * (i as u64 + 1),
                ops,
            )
            .await
        }));
    }
    {
        let (run, mut con) = (run.clone(), users.connection());
        writers.push(tokio::spawn(async move {
            random_writes(&mut con, &run, 99, 4_000_000, ops).await
        }));
    }
    let mut readers = Vec::new();
    for seed in 0..4u64 {
        let (users, run, stop) = (users.clone(), run.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut rng = Rng(seed + 1);
            let mut log = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = rng.below(KEYS as u64) as usize;
                let start = now_ns();
                let found = users.get(prop_pk(&run, key)).await;
                let end = now_ns();
                if let Ok(found) = found {
                    log.push(Read {
                        key,
                        ver: ver(&found),
                        start,
                        end,
                    });
                }
                if rng.below(8) == 0 {
                    tokio::task::yield_now().await;
                }
            }
            log
        }));
    }
    let fencer = {
        let (users, stop) = (users.clone(), stop.clone());
        tokio::spawn(async move {
            let mut fences = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let start = now_ns();
                // An error means the connection was lost and the cache cleared:
                // that is a fence too.
                let _ = users.sync().await;
                fences.push((start, now_ns()));
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            fences
        })
    };
    // The tracked connection is killed now and then.
    let killer = {
        let (users, stop, url) = (users.clone(), stop.clone(), url.clone());
        tokio::spawn(async move {
            let mut admin = common::multiplexed(&url).await;
            let mut kills = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(150)).await;
                if let Ok(id) = redis::cmd("CLIENT")
                    .arg("ID")
                    .query_async::<i64>(&mut users.connection())
                    .await
                {
                    let _: redis::RedisResult<()> = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("ID")
                        .arg(id)
                        .query_async(&mut admin)
                        .await;
                    kills += 1;
                }
            }
            kills
        })
    };

    let started = Instant::now();
    let mut writes = Vec::new();
    for w in writers {
        writes.extend(w.await.unwrap());
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "the writer process failed");
    let child_writes = parse_child_log(&String::from_utf8_lossy(&out.stdout));
    assert!(
        child_writes.len() > 500,
        "{} writes from the other process",
        child_writes.len()
    );
    writes.extend(child_writes);
    // Let the readers see the final state for a moment, then stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(r.await.unwrap());
    }
    let mut fences = fencer.await.unwrap();
    fences.sort();
    let kills = killer.await.unwrap();

    let problems = check(&reads, &writes, &fences);
    let stats = users.stats();
    assert!(
        problems.is_empty(),
        "{} of {} reads broke the rule, e.g.:\n{}",
        problems.len(),
        reads.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(reads.len() > 5_000, "only {} reads", reads.len());
    assert!(stats.hits > 1_000 && stats.invalidations > 500, "{stats:?}");
    assert!(kills >= 2 && stats.resets >= 2, "{kills} kills, {stats:?}");

    // Drained: every cached read equals a read without the cache.
    users.sync().await.unwrap();
    let mut plain = common::multiplexed(&url).await;
    for key in 0..KEYS {
        let pk = prop_pk(&run, key);
        let direct = CacheDoc::get_optional(&mut plain, &pk).await.unwrap();
        for _ in 0..2 {
            let cached = users.get(&pk).await.unwrap();
            assert_eq!(
                cached.as_deref(),
                direct.as_ref(),
                "key {key} after the writers stopped"
            );
        }
    }
    eprintln!(
        "{} writes and {} reads in {:?}, {} fences, {kills} kills; {stats:?}",
        writes.len(),
        reads.len(),
        started.elapsed(),
        fences.len()
    );
}

/// The README's example, as written there.
#[tokio::test]
async fn the_readme_cache_example_runs() {
    use common::UserReadCache;
    let url = common::url();
    let mut plain = common::multiplexed(&url).await;
    let mut user = UserReadCache {
        pk: None,
        id: 1,
        name: "json_user".into(),
        email: "json_user@example.com".into(),
        avatar: None,
    };
    let pk = user.save(&mut plain).await.unwrap();
    let run = || async {
        // README begins
        let users = ModelCache::<UserReadCache>::connect(
            url.clone(),
            CacheConfig::new()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300)),
        )
        .await?;
        let user = users.get(&pk).await?; // Option<Arc<UserReadCache>>: a miss reads Redis once …
        let again = users.get(&pk).await?; // … a hit is a hash lookup (no I/O, no decode)
        assert!(matches!(users.get_local(&pk)?, Local::Hit(Some(_))));

        // Writes through the cache's connection are read back at once (read-your-writes).
        let mut con = users.connection(); // a redis-rs ConnectionLike: every operation runs on it
        UserReadCache::update(&mut con, &pk, |u| u.name.set("Ada")).await?;
        assert_eq!(users.get(&pk).await?.unwrap().name, "Ada");

        // Writes by other clients and processes arrive as invalidations within
        // microseconds; `sync` waits for every write acknowledged before it.
        users.sync().await?;
        let stats = users.stats(); // hits, misses, fetches, invalidations, resets, entries
                                   // README ends
        assert_eq!(user, again);
        assert_eq!((stats.hits, stats.fetches), (2, 2), "{stats:?}");
        Ok::<_, redis_om::Error>(())
    };
    run().await.unwrap();
}

#[test]
fn the_blocking_cache_hits_invalidates_and_reads_its_own_writes() {
    use redis_om::blocking::SyncModel;
    let url = common::url();
    let users =
        redis_om::blocking::ModelCache::<CacheDoc>::connect(url.clone(), CacheConfig::new())
            .unwrap();
    let mut con = users.connection();
    let pk = pk("blocking");
    SyncModel::save(&mut doc(&pk, 1), &mut con).unwrap();
    assert_eq!(ver(&users.get(&pk).unwrap()), Some(1));
    assert_eq!(ver(&users.get(&pk).unwrap()), Some(1));
    assert_eq!((users.stats().hits, users.stats().fetches), (1, 1));
    for n in 2..50 {
        SyncModel::save(&mut doc(&pk, n), &mut con).unwrap();
        assert_eq!(ver(&users.get(&pk).unwrap()), Some(n), "own write {n}");
    }
    // Another client's write is applied while this thread does nothing.
    let mut other = common::sync_con(&url);
    SyncModel::save(&mut doc(&pk, 100), &mut other).unwrap();
    let started = Instant::now();
    while matches!(users.get_local(&pk).unwrap(), Local::Hit(_)) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "never invalidated"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(ver(&users.get(&pk).unwrap()), Some(100));
    users.sync().unwrap();
    assert_eq!(
        users
            .get_many([pk.as_str(), "nope-blocking"])
            .unwrap()
            .iter()
            .map(ver)
            .collect::<Vec<_>>(),
        [Some(100), None]
    );
}

/// On a current-thread runtime a task that only hits the cache must still
/// let the connection's reader apply invalidations.
#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_hits_lets_invalidations_in_on_a_current_thread_runtime() {
    let url = common::url();
    let users = cache(&url).await;
    let pk = pk("busy");
    let mut other = common::multiplexed(&url).await;
    doc(&pk, 1).save(&mut other).await.unwrap();
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));
    // The write is sent from another thread, so that this task never waits.
    let writer = {
        let (url, pk) = (url.clone(), pk.clone());
        std::thread::spawn(move || {
            let mut con = common::sync_con(&url);
            redis_om::blocking::SyncModel::save(&mut doc(&pk, 2), &mut con).unwrap();
        })
    };
    writer.join().unwrap();
    let started = Instant::now();
    let mut reads = 0u64;
    while ver(&users.get(&pk).await.unwrap()) != Some(2) {
        reads += 1;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{reads} hits without the invalidation being applied"
        );
    }
}

// Several worker threads: the reader can be woken by the script's reply on
// another thread before the connection's reader has read the push behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_that_compute_their_keys_are_read_back_at_once() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = users.connection();
    let pk = pk("script");
    doc(&pk, 0).save(&mut con).await.unwrap();
    // The key is built inside the script: no argument names it.
    let script =
        redis::Script::new("redis.call('HSET', ARGV[1] .. ARGV[2], 'ver', ARGV[3]) return 1");
    let prefix = CacheDoc::key_layout().key_prefix().to_owned();
    for n in 1..1_000u64 {
        assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(n - 1));
        let _: i64 = script
            .arg(&prefix)
            .arg(&pk)
            .arg(n)
            .invoke_async(&mut con)
            .await
            .unwrap();
        assert_eq!(
            ver(&users.get(&pk).await.unwrap()),
            Some(n),
            "script write {n}"
        );
    }
}

#[tokio::test]
async fn commands_that_would_break_the_cache_are_refused_on_its_connection() {
    let url = common::url();
    let users = cache(&url).await;
    let mut con = users.connection();
    for (cmd, name) in [
        (redis::cmd("SELECT").arg(2).clone(), "SELECT"),
        (redis::cmd("multi").clone(), "MULTI"),
        (redis::cmd("HELLO").arg(2).clone(), "HELLO"),
        (redis::cmd("RESET").clone(), "RESET"),
        (
            redis::cmd("CLIENT").arg("tracking").arg("off").clone(),
            "CLIENT",
        ),
        (redis::cmd("BLPOP").arg("nolist").arg(1).clone(), "BLPOP"),
        (redis::cmd("WAIT").arg(1).arg(100).clone(), "WAIT"),
        (
            redis::cmd("XREAD")
                .arg("BLOCK")
                .arg(10)
                .arg("STREAMS")
                .arg("s")
                .arg("$")
                .clone(),
            "XREAD",
        ),
    ] {
        let err = cmd.query_async::<redis::Value>(&mut con).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{name}`")) && text.contains("another connection"),
            "{text}"
        );
        // Only a transaction is told about atomic pipelines.
        assert_eq!(text.contains("atomic pipeline"), name == "MULTI", "{text}");
        // Refused in a pipeline too, before anything is sent.
        let mut pipe = redis::pipe();
        pipe.cmd("PING").add_command(cmd);
        assert!(pipe.query_async::<redis::Value>(&mut con).await.is_err());
    }
    // What is allowed: CLIENT ID, non-blocking XREAD, atomic pipelines.
    let _: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut con)
        .await
        .unwrap();
    let pk = pk("refusals");
    let mut pipe = redis::pipe();
    pipe.atomic();
    doc(&pk, 1).save_in(&mut pipe).unwrap();
    pipe.query_async::<()>(&mut con).await.unwrap();
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(1));
    // The cache keeps working after the refusals.
    let mut other = common::multiplexed(&url).await;
    doc(&pk, 2).save(&mut other).await.unwrap();
    users.sync().await.unwrap();
    assert_eq!(ver(&users.get(&pk).await.unwrap()), Some(2));
}

#[tokio::test]
async fn swapdb_through_the_cache_connection_clears_it() {
    // SWAPDB sends no invalidation: a server of its own, and the cache's
    // connection clears the cache itself.
    let server = common::Server::fresh(common::fault_port(33), &[]);
    let users = ModelCache::<CacheDoc>::connect(server.url(), CacheConfig::new())
        .await
        .unwrap();
    let mut db1 = common::multiplexed(&format!("{}/1", server.url())).await;
    doc("s", 1).save(&mut db1).await.unwrap();
    assert_eq!(ver(&users.get("s").await.unwrap()), None);
    let _: () = redis::cmd("SWAPDB")
        .arg(0)
        .arg(1)
        .query_async(&mut users.connection())
        .await
        .unwrap();
    assert_eq!(ver(&users.get("s").await.unwrap()), Some(1));
}

#[test]
fn a_cache_moved_to_another_runtime_keeps_its_heartbeat() {
    let url = common::url();
    let config = CacheConfig::new().heartbeat_interval(Duration::from_millis(40));
    let first = tokio::runtime::Runtime::new().unwrap();
    let users = first
        .block_on(ModelCache::<CacheDoc>::connect(url.clone(), config))
        .unwrap();
    drop(first);
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let pk = pk("moved");
        // The first connection died with its runtime.
        let started = Instant::now();
        while users.get(&pk).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(3));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The new connection has a heartbeat of its own: the lease (three
        // intervals) is still renewed well after it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(users.is_connected(), "no heartbeat on the new runtime");
        assert!(matches!(users.get_local(&pk).unwrap(), Local::Hit(None)));
    });
}

/// The blocking cache inside `spawn_blocking` (where the README sends
/// blocking code) and on a runtime's own thread: misses work as hits do
/// (before, a hit succeeded and a miss failed with `Config`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_cache_works_inside_spawn_blocking_and_on_runtime_threads() {
    let url = common::url();
    let pk = common::unique("blocking-in-runtime");
    let mut con = common::multiplexed(&url).await;
    CacheDoc {
        pk: pk.clone(),
        ver: 1,
        by: "Ada".into(),
    }
    .save(&mut con)
    .await
    .unwrap();
    let (url2, pk2) = (url.clone(), pk.clone());
    let from_blocking = tokio::task::spawn_blocking(move || {
        let users =
            redis_om::blocking::ModelCache::<CacheDoc>::connect(url2, CacheConfig::new()).unwrap();
        let miss = users.get(&pk2).unwrap().map(|d| d.by.clone());
        let hit = users.get(&pk2).unwrap().map(|d| d.by.clone());
        let many = users.get_many([pk2.as_str(), "absent"]).unwrap().len();
        users.sync().unwrap();
        (miss, hit, many)
    })
    .await
    .unwrap();
    assert_eq!(
        from_blocking,
        (Some("Ada".to_owned()), Some("Ada".to_owned()), 2)
    );
    // On a worker thread of this runtime: the same answers, lazily built.
    let lazy = redis_om::blocking::ModelCache::<CacheDoc>::new(url, CacheConfig::new()).unwrap();
    assert_eq!(
        lazy.get(&pk).unwrap().map(|d| d.by.clone()).as_deref(),
        Some("Ada")
    );
    assert!(lazy.get("absent-key").unwrap().is_none());
    drop(lazy);
}
