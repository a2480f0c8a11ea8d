//! Big documents and lost replies: every bulk call on the default connection
//! (`redis_om::connect`, 500 ms response timeout) moves 200 MB of documents
//! without a timeout; no server cursor outlives its reader; a bulk write
//! whose round trip fails at any position never panics and reports each
//! document as written, refused, not confirmed or not sent, as Redis has it.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::{Error, FailureKind};
use serde::{Deserialize, Serialize};

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BigDoc")]
struct BigDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    n: u64,
    #[redis_om(index)]
    state: String,
    body: String,
}

/// The same shape on an index of its own, so that other tests' reads never
/// show in its cursor counts.
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "AbandonDoc")]
struct AbandonDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    body: String,
}

/// A body of `len` bytes that differs per document (so that a mixed-up
/// document is seen).
fn body(n: u64, len: usize) -> String {
    let unit = format!("<{n:06}>");
    unit.repeat(len / unit.len() + 1)[..len].to_owned()
}

fn big_docs(run: &str, count: u64, len: usize) -> Vec<BigDoc> {
    (0..count)
        .map(|n| BigDoc {
            pk: Some(format!("{run}-{n:05}")),
            run: run.to_owned(),
            n,
            state: "pending".to_owned(),
            body: body(n, len),
        })
        .collect()
}

async fn index_cursors(con: &mut redis::aio::MultiplexedConnection, index: &str) -> i64 {
    let info: redis::Value = redis::cmd("FT.INFO")
        .arg(index)
        .query_async(con)
        .await
        .unwrap();
    let redis::Value::Array(items) = info else {
        // RESP3 map: the test connection is RESP2.
        panic!("FT.INFO: {info:?}");
    };
    let at = items
        .iter()
        .position(|v| {
            matches!(v, redis::Value::SimpleString(s) if s == "cursor_stats")
                || matches!(v, redis::Value::BulkString(b) if b == b"cursor_stats")
        })
        .expect("cursor_stats");
    let redis::Value::Array(stats) = &items[at + 1] else {
        panic!("cursor_stats: {:?}", items[at + 1]);
    };
    let name = |v: &redis::Value| match v {
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let at = stats
        .iter()
        .position(|v| name(v) == "index_total")
        .expect("index_total");
    match &stats[at + 1] {
        redis::Value::Int(n) => *n,
        other => panic!("index_total: {other:?}"),
    }
}

async fn used_memory(con: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// 1,000 JSON documents of 200 KB through every bulk call, on the default
/// connection of each protocol: no timeout, every answer equal to the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_documents_of_200_kb_on_the_default_connection() {
    const COUNT: u64 = 1_000;
    const LEN: usize = 200_000;
    for url in common::urls() {
        let mut con = redis_om::connect(url.as_str()).await.unwrap();
        Migrator::new()
            .model::<BigDoc>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("big");
        let mut docs = big_docs(&run, COUNT, LEN);

        let t = Instant::now();
        let pks = BigDoc::save_all(&mut con, &mut docs).await.unwrap();
        let saved = t.elapsed();
        assert_eq!(pks.len(), COUNT as usize);

        let t = Instant::now();
        let got = BigDoc::get_many(&mut con, &pks).await.unwrap();
        let got_many = t.elapsed();
        assert_eq!(got.len(), docs.len());
        for (got, want) in got.iter().zip(&docs) {
            assert_eq!(got.as_ref(), Some(want));
        }
        drop(got);

        let query = || BigDoc::find(|d| d.run.eq(run.as_str()));
        let t = Instant::now();
        let mut all = query().all(&mut con).await.unwrap();
        let read_all = t.elapsed();
        all.sort_by_key(|d| d.n);
        assert!(all == docs, "all() differs from what was saved");
        drop(all);

        let t = Instant::now();
        let mut stream = query().stream(&mut con);
        let mut seen = vec![false; COUNT as usize];
        while let Some(doc) = stream.next().await {
            let doc = doc.unwrap();
            assert_eq!(doc, docs[doc.n as usize]);
            seen[doc.n as usize] = true;
        }
        drop(stream);
        let streamed = t.elapsed();
        assert!(seen.iter().all(|s| *s));

        let t = Instant::now();
        let changed = query()
            .update(&mut con, |d| d.state.set("done".to_owned()))
            .await
            .unwrap();
        let updated = t.elapsed();
        assert_eq!(changed, COUNT);
        let done = BigDoc::find(|d| d.run.eq(run.as_str()) & d.state.eq("done"))
            .count(&mut con)
            .await
            .unwrap();
        assert_eq!(done, COUNT);

        let t = Instant::now();
        assert_eq!(query().delete(&mut con).await.unwrap(), COUNT);
        let deleted = t.elapsed();
        assert_eq!(query().count(&mut con).await.unwrap(), 0);
        let left: Vec<Option<BigDoc>> = BigDoc::get_many(&mut con, &pks).await.unwrap();
        assert!(left.iter().all(Option::is_none));
        eprintln!(
            "{url}: 1,000 x 200 KB: save_all {saved:?}, get_many {got_many:?}, all {read_all:?}, \
             stream {streamed:?}, update {updated:?}, delete {deleted:?}"
        );
    }
}

/// Streams dropped after their first document (700) and reads whose futures
/// are dropped midway (100): a cursor whose id the reader had is
/// deleted by the next query on the index; one whose id was still in flight
/// when the future was dropped ends after MAXIDLE. Reads keep working
/// throughout (RediSearch refuses a 129th cursor on an index).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_reads_leave_no_cursor_open() {
    for url in common::urls() {
        let mut con = redis_om::connect(url.as_str()).await.unwrap();
        let mut admin = common::multiplexed(&common::url()).await;
        Migrator::new()
            .model::<AbandonDoc>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("abandon");
        let mut docs: Vec<AbandonDoc> = (0..60)
            .map(|n| AbandonDoc {
                pk: None,
                run: run.clone(),
                body: body(n, 1_000),
            })
            .collect();
        AbandonDoc::save_all(&mut con, &mut docs).await.unwrap();
        let index = AbandonDoc::key_layout().index_name().to_owned();
        let query = || AbandonDoc::find(|d| d.run.eq(run.as_str())).batch_size(7);
        // Streams dropped after their first document: the reader had each id.
        for _ in 0..700 {
            let mut stream = query().stream(&mut con);
            assert!(stream.next().await.unwrap().is_ok());
        }
        assert_eq!(query().count(&mut con).await.unwrap(), 60);
        let open = index_cursors(&mut admin, &index).await;
        assert_eq!(open, 0, "{url}: cursors open after 700 dropped streams");
        // Futures dropped at any point, the reply with the id in flight too
        // (100: each of those holds a cursor until MAXIDLE, and an index has
        // 128).
        for i in 0..100u64 {
            let q = query();
            let _ = tokio::time::timeout(Duration::from_micros(50 + i * 15), q.all(&mut con)).await;
        }
        assert_eq!(query().all(&mut con).await.unwrap().len(), 60);
        let open = index_cursors(&mut admin, &index).await;
        eprintln!("{url}: {open} cursors open after 100 dropped futures");
        assert!(open < 128, "{url}: {open} cursors open");
        tokio::time::sleep(crate_max_idle() + Duration::from_secs(1)).await;
        let _: redis::RedisResult<redis::Value> = redis::cmd("FT.CURSOR")
            .arg("GC")
            .arg(&index)
            .arg(0)
            .query_async(&mut admin)
            .await;
        let open = index_cursors(&mut admin, &index).await;
        assert_eq!(open, 0, "{url}: cursors open past MAXIDLE");
        query().delete(&mut con).await.unwrap();
    }
}

/// The server's `MAXIDLE` for the cursors redis-om reads to their end by
/// itself (5 s).
fn crate_max_idle() -> Duration {
    Duration::from_secs(5)
}

/// Reads whose replies are lost to the response timeout while the server is
/// paused (as in a failover): the cursors whose ids never arrived end after
/// MAXIDLE, server memory returns to its level, and reads keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_lost_to_pauses_leave_no_cursor_or_memory_behind() {
    let server = common::Server::fresh(common::fault_port(40), &[]);
    let mut admin = common::multiplexed(&server.url()).await;
    let mut con = redis_om::connect(server.url()).await.unwrap();
    Migrator::new()
        .model::<BigDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("paused");
    let mut docs = big_docs(&run, 1_000, 50_000);
    BigDoc::save_all(&mut con, &mut docs).await.unwrap();
    drop(docs);
    let index = BigDoc::key_layout().index_name().to_owned();
    let memory_before = used_memory(&mut admin).await;

    let mut timeouts = 0;
    for _ in 0..20 {
        let mut readers = Vec::new();
        for _ in 0..10 {
            let mut con = con.clone();
            let run = run.clone();
            readers.push(tokio::spawn(async move {
                BigDoc::find(|d| d.run.eq(run.as_str()))
                    .all(&mut con)
                    .await
                    .map(|all| all.len())
            }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut pauser = common::multiplexed(&server.url()).await;
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(600)
            .arg("ALL")
            .query_async(&mut pauser)
            .await
            .unwrap();
        for reader in readers {
            match reader.await.unwrap() {
                Ok(n) => assert_eq!(n, 1_000),
                Err(err) => {
                    assert!(err.is_timeout() || err.is_connection_error(), "{err}");
                    timeouts += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    eprintln!("{timeouts} of 200 reads timed out");
    // Reads keep working (no "Too many cursors").
    for _ in 0..5 {
        let all = BigDoc::find(|d| d.run.eq(run.as_str()))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(all.len(), 1_000);
    }
    // Past MAXIDLE, the server's cursor sweep frees every lost cursor.
    tokio::time::sleep(crate_max_idle() + Duration::from_secs(1)).await;
    let _: redis::Value = redis::cmd("FT.CURSOR")
        .arg("GC")
        .arg(&index)
        .arg(0)
        .query_async(&mut admin)
        .await
        .unwrap_or(redis::Value::Nil);
    let open = index_cursors(&mut admin, &index).await;
    assert_eq!(open, 0, "cursors still open past MAXIDLE");
    let memory_after = used_memory(&mut admin).await;
    eprintln!("used_memory before {memory_before}, after {memory_after}");
    assert!(
        memory_after < memory_before + 16 * 1024 * 1024,
        "server memory {memory_before} -> {memory_after}"
    );
}

/// A blocking connection that loses the reply of its `fail_at`-th request
/// (after the server applied it), as a timeout does.
struct LosesReply {
    con: redis::Connection,
    requests: usize,
    fail_at: usize,
}

impl redis::ConnectionLike for LosesReply {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        self.requests += 1;
        let reply = self.con.req_packed_command(cmd)?;
        if self.requests == self.fail_at {
            return Err(timeout());
        }
        Ok(reply)
    }
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        self.requests += 1;
        let replies = self.con.req_packed_commands(cmd, offset, count)?;
        if self.requests == self.fail_at {
            return Err(timeout());
        }
        Ok(replies)
    }
    fn get_db(&self) -> i64 {
        self.con.get_db()
    }
    fn check_connection(&mut self) -> bool {
        self.con.check_connection()
    }
    fn is_open(&self) -> bool {
        self.con.is_open()
    }
}

fn timeout() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "injected: the reply was lost",
    ))
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BulkFault")]
struct BulkFault {
    pk: String,
    body: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BulkFaultV")]
struct BulkFaultV {
    pk: String,
    body: String,
    #[redis_om(version)]
    version: u32,
}

/// Checks one `save_all` outcome against Redis: written and not-confirmed
/// documents are stored (the reply was lost after the server applied it),
/// not-sent ones are not; nothing is lost or invented.
fn check_against_redis(
    con: &mut redis::Connection,
    keys: &[String],
    outcome: &redis_om::Result<Vec<String>>,
    fail_at: usize,
) {
    let stored: Vec<bool> = keys
        .iter()
        .map(|k| redis::Commands::exists(con, k).unwrap())
        .collect();
    match outcome {
        Ok(pks) => {
            assert_eq!(pks.len(), keys.len());
            assert!(
                stored.iter().all(|s| *s),
                "fail_at {fail_at}: Ok but not stored"
            );
        }
        Err(Error::BulkWrite { total, failed }) => {
            assert!(outcome.as_ref().unwrap_err().is_timeout());
            assert_eq!(*total, keys.len());
            let mut kinds = vec![None; keys.len()];
            for f in failed {
                assert_eq!(f.key, keys[f.index]);
                kinds[f.index] = Some(f.kind);
            }
            // Written, then one round trip not confirmed, then not sent.
            let first = kinds.iter().position(Option::is_some).expect("a failure");
            for (i, kind) in kinds.iter().enumerate() {
                match kind {
                    None => assert!(i < first && stored[i], "fail_at {fail_at}: item {i}"),
                    Some(FailureKind::NotConfirmed {
                        timed_out: true, ..
                    }) => {
                        assert!(stored[i], "fail_at {fail_at}: item {i} applied")
                    }
                    Some(FailureKind::NotSent) => {
                        assert!(
                            !stored[i],
                            "fail_at {fail_at}: item {i} not sent but stored"
                        )
                    }
                    other => panic!("fail_at {fail_at}: item {i}: {other:?}"),
                }
            }
        }
        Err(other) => panic!("fail_at {fail_at}: {other:?}"),
    }
}

/// The reply of each round trip in turn is lost (documents of mixed sizes,
/// so that round trips are cut by bytes and by count, the last one partial):
/// never a panic, and the report matches Redis.
#[test]
fn a_bulk_write_that_fails_at_any_round_trip_reports_what_redis_has() {
    // 25 documents of 1.5 MB among small ones: round trips cut by bytes
    // (about 4 MiB), by count (1,000), and a partial last one.
    let sizes = |i: usize| match i % 50 {
        0 => 1_500_000,
        1 | 2 => 10,
        _ => 3_000,
    };
    // A hash model (pipelines), the same with a version field (the
    // versioned script), and a JSON model (one JSON.MSET per round trip).
    for variant in ["hash", "versioned", "json"] {
        let mut fail_at = 1;
        loop {
            let mut raw = common::sync_con(&common::url());
            let run = common::unique("bulkfault");
            let n = 1_234;
            let mut con = LosesReply {
                con: common::sync_con(&common::url()),
                requests: 0,
                fail_at,
            };
            let body = |i: usize| "x".repeat(sizes(i));
            let (keys, outcome, versions) = match variant {
                "hash" => {
                    let mut docs: Vec<BulkFault> = (0..n)
                        .map(|i| BulkFault {
                            pk: format!("{run}-{i}"),
                            body: body(i),
                        })
                        .collect();
                    let keys: Vec<String> = docs
                        .iter()
                        .map(|d| BulkFault::key_layout().key(&d.pk))
                        .collect();
                    let outcome = redis_om::blocking::SyncModel::save_all(&mut con, &mut docs);
                    (keys, outcome, None)
                }
                "versioned" => {
                    let mut docs: Vec<BulkFaultV> = (0..n)
                        .map(|i| BulkFaultV {
                            pk: format!("{run}-{i}"),
                            body: body(i),
                            version: 0,
                        })
                        .collect();
                    let keys: Vec<String> = docs
                        .iter()
                        .map(|d| BulkFaultV::key_layout().key(&d.pk))
                        .collect();
                    let outcome = redis_om::blocking::SyncModel::save_all(&mut con, &mut docs);
                    let versions: Vec<u32> = docs.iter().map(|d| d.version).collect();
                    (keys, outcome, Some(versions))
                }
                _ => {
                    let mut docs: Vec<BigDoc> = (0..n)
                        .map(|i| BigDoc {
                            pk: Some(format!("{run}-{i}")),
                            run: run.clone(),
                            n: i as u64,
                            state: "new".into(),
                            body: body(i),
                        })
                        .collect();
                    let keys: Vec<String> = docs
                        .iter()
                        .map(|d| BigDoc::key_layout().key(d.pk.as_deref().unwrap_or_default()))
                        .collect();
                    let outcome = redis_om::blocking::SyncModel::save_all(&mut con, &mut docs);
                    (keys, outcome, None)
                }
            };
            assert!(
                con.requests >= fail_at || outcome.is_ok(),
                "{variant} fail_at {fail_at}: {outcome:?}"
            );
            let done = con.requests < fail_at;
            check_against_redis(&mut raw, &keys, &outcome, fail_at);
            if let Some(versions) = versions {
                // A model keeps its new version only where the write is confirmed.
                let unconfirmed: Vec<usize> = match &outcome {
                    Err(Error::BulkWrite { failed, .. }) => {
                        failed.iter().map(|f| f.index).collect()
                    }
                    _ => Vec::new(),
                };
                for (i, version) in versions.iter().enumerate() {
                    let want = if unconfirmed.contains(&i) { 0 } else { 1 };
                    assert_eq!(*version, want, "fail_at {fail_at}: item {i}");
                }
            }
            let _: () = redis::cmd("DEL").arg(&keys).query(&mut raw).unwrap();
            if done {
                break;
            }
            fail_at += 1;
        }
        // More than one round trip was tried: cut by bytes.
        assert!(fail_at > 3, "only {fail_at} round trips");
    }
}

/// A bulk write that needs one round trip for 3 documents and loses it
/// (the original panic: the last, partial chunk) through the async API.
#[tokio::test]
async fn a_lost_last_round_trip_is_reported_not_a_panic() {
    let server = common::Server::fresh(common::fault_port(41), &[]);
    let mut con = redis_om::connect(server.url()).await.unwrap();
    let mut pauser = common::multiplexed(&server.url()).await;
    let run = common::unique("lastchunk");
    let mut docs: Vec<BulkFault> = (0..3)
        .map(|i| BulkFault {
            pk: format!("{run}-{i}"),
            body: "b".into(),
        })
        .collect();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("WRITE")
        .query_async(&mut pauser)
        .await
        .unwrap();
    let err = BulkFault::save_all(&mut con, &mut docs).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let Error::BulkWrite { failed, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|f| f.may_be_written()), "{err}");
    assert!(err.to_string().contains("not confirmed"), "{err}");
    // Once the pause ends, the writes the lost reply carried are there.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let stored: u64 = pauser
        .exists(
            docs.iter()
                .map(|d| BulkFault::key_layout().key(&d.pk))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(stored, 3);
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "MixedDoc")]
struct MixedDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    payload: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "NumsDoc")]
struct NumsDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    nums: Vec<u32>,
}

/// Thousands of tiny documents, then hundreds of 1 MB ones, in one read. By
/// `save_all` in this process, the sizes are known: reads succeed at once.
/// Written by another program (raw `JSON.SET`), the first read may exceed
/// the deadline once; it teaches the model's size, and the next succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_then_big_documents_in_one_read() {
    let mut con = redis_om::connect(common::url().as_str()).await.unwrap();
    let mut raw = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<MixedDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("mixed");
    let tiny = 3_000;
    let big = 150;
    let mut pks = Vec::new();
    for i in 0..tiny + big {
        let pk = format!("{run}-{i:05}");
        let payload = if i < tiny {
            "x".to_owned()
        } else {
            body(i as u64, 1 << 20)
        };
        let doc = serde_json::json!({ "pk": pk, "run": run, "payload": payload });
        let _: () = redis::cmd("JSON.SET")
            .arg(MixedDoc::key_layout().key(&pk))
            .arg("$")
            .arg(doc.to_string())
            .query_async(&mut raw)
            .await
            .unwrap();
        pks.push(pk);
    }
    let q = || MixedDoc::find(|d| d.run.eq(run.as_str()));
    let first = q().all(&mut con).await;
    if let Err(err) = &first {
        assert!(err.is_timeout(), "{err}");
    }
    let all = match first {
        Ok(all) => all,
        Err(_) => q().all(&mut con).await.unwrap(),
    };
    assert_eq!(all.len(), tiny + big);
    assert_eq!(
        all.iter().filter(|d| d.payload.len() == 1 << 20).count(),
        big
    );
    let got = MixedDoc::get_many(&mut con, &pks).await.unwrap();
    assert!(got.iter().all(Option::is_some));
    assert_eq!(q().delete(&mut con).await.unwrap(), (tiny + big) as u64);
}

/// JSON documents of large arrays: RedisJSON frees them in the foreground,
/// so deletes are grouped by their memory; `delete_many` and
/// `find(..).delete()` finish on the default connection (before, one
/// `UNLINK` of 256 such documents blocked the server for 0.7 s: `Timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_big_json_arrays_stays_within_the_deadline() {
    let mut con = redis_om::connect(common::url().as_str()).await.unwrap();
    Migrator::new()
        .model::<NumsDoc>()
        .run(&mut con)
        .await
        .unwrap();
    for by_query in [false, true] {
        let run = common::unique("nums");
        let mut docs: Vec<NumsDoc> = (0..120u32)
            .map(|i| NumsDoc {
                pk: None,
                run: run.clone(),
                nums: (0..80_000u32)
                    .map(|n| n.wrapping_mul(2_654_435_761) ^ i)
                    .collect(),
            })
            .collect();
        let pks = NumsDoc::save_all(&mut con, &mut docs).await.unwrap();
        drop(docs);
        let t = Instant::now();
        let deleted = if by_query {
            NumsDoc::find(|d| d.run.eq(run.as_str()))
                .delete(&mut con)
                .await
                .unwrap()
        } else {
            NumsDoc::delete_many(&mut con, &pks).await.unwrap()
        };
        eprintln!(
            "120 documents of 80,000 numbers deleted in {:?}",
            t.elapsed()
        );
        assert_eq!(deleted, 120);
        let left: Vec<Option<NumsDoc>> = NumsDoc::get_many(&mut con, &pks).await.unwrap();
        assert!(left.iter().all(Option::is_none));
    }
}
