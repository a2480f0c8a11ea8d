//! A slot with documents moves between primaries (`CLUSTER SETSLOT
//! IMPORTING/MIGRATING`, `MIGRATE`, `SETSLOT NODE`) while reads run, on a
//! cluster of its own (ports 17200-17205, or from `REDIS_OM_SLOTS_PORT_BASE`):
//! reads keep working (redirects followed) and `find` is complete once the
//! move ends. Also: several migrators at once on the shared cluster.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_om::prelude::*;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SlUser")]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable)]
    n: i64,
}

/// The cluster's first port: `REDIS_OM_SLOTS_PORT_BASE`, default 17200.
fn base() -> u16 {
    common::env_port("REDIS_OM_SLOTS_PORT_BASE", 17200)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/redis-stack")
}

/// `scripts/redis-stack cluster <sub>` for this test's cluster, which must
/// succeed; the last line it printed.
fn cluster(sub: &str) -> String {
    let out = Command::new(script())
        .args(["cluster", sub, "--port-base", &base().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

struct StopCluster;
impl Drop for StopCluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["cluster", "stop", "--port-base", &base().to_string()])
            .output();
    }
}

fn node(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn q<T: redis::FromRedisValue>(port: u16, cmd: &mut redis::Cmd) -> T {
    cmd.query(&mut node(port)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_stays_complete_across_a_slot_migration() {
    let _ = Command::new(script())
        .args(["cluster", "stop", "--port-base", &base().to_string()])
        .output();
    let started = cluster("start");
    let _stop = StopCluster;
    let seeds: Vec<String> = started.split(',').map(str::to_owned).collect();
    let mut con = redis_om::connect_cluster(seeds).await.unwrap();
    Migrator::new().model::<User>().run(&mut con).await.unwrap();
    // A hash tag whose slot is the first primary's, but not its first slot
    // (the one its copy of the index is named after).
    let (src, dst) = (base(), base() + 1);
    let tag = (0..)
        .map(|i| format!("t{i}"))
        .find(|t| {
            let slot: i64 = q(src, redis::cmd("CLUSTER").arg("KEYSLOT").arg(t));
            (100..5461).contains(&slot)
        })
        .unwrap();
    let slot: i64 = q(src, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&tag));
    let run = common::unique("sl");
    // 100 documents in that slot, 100 elsewhere.
    let mut users: Vec<User> = (0..200)
        .map(|i| User {
            pk: Some(if i < 100 {
                format!("{{{tag}}}{run}-{i:03}")
            } else {
                format!("{run}-{i:03}")
            }),
            run: run.clone(),
            n: i,
        })
        .collect();
    User::save_all(&mut con, &mut users).await.unwrap();
    let pks: Vec<String> = users.iter().map(|u| u.pk.clone().unwrap()).collect();
    let r = run.clone();
    let count = move || {
        let r = r.clone();
        User::find(move |u| u.run.eq(r.as_str()))
    };
    assert_eq!(count().count(&mut con).await.unwrap(), 200);

    // Readers while the slot moves: gets by key must always succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (stop, reads, failures) = (stop.clone(), reads.clone(), failures.clone());
        let mut con = con.clone();
        let pks = pks.clone();
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                match User::get(&mut con, &pks[i % 100]).await {
                    Ok(_) => reads.fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        eprintln!("read during the move: {err}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 1;
            }
        })
    };
    // Searchers while the slot moves: every answer is exact or an error
    // that says the slot map did not settle (`TRYAGAIN`), never a wrong count,
    // a partial `all()` or a partial `all_pks`.
    let searcher = spawn_searcher(con.clone(), run.clone(), pks.clone(), stop.clone());
    let started = Instant::now();
    let src_id: String = q(src, &mut redis::cmd("CLUSTER").arg("MYID").clone());
    let dst_id: String = q(dst, &mut redis::cmd("CLUSTER").arg("MYID").clone());
    // Slowly, so that searches run while the slot is split.
    move_slot(src, dst, slot, &src_id, &dst_id, Duration::from_millis(100)).await;
    let moved_in = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    let (exact, refused, wrong) = searcher.await.unwrap();
    println!(
        "searches during the move: {exact} exact, {refused} refused (slot map unsettled), {} wrong",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(exact > 0);
    let (reads, failures) = (
        reads.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    println!(
        "slot migration: 100 documents moved in {:.2} s, {reads} reads during it, {failures} failed",
        moved_in.as_secs_f64()
    );
    assert!(reads > 0);
    assert_eq!(failures, 0);
    // Complete again: the target's copy of the index took the documents in.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = count().count(&mut con).await.unwrap();
        if n == 200 || Instant::now() > deadline {
            assert_eq!(n, 200);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = count()
        .sort_by(|u| u.n, SortOrder::Asc)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|u| u.n).collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    assert_eq!(
        User::get_many(&mut con, &pks).await.unwrap(),
        users.into_iter().map(Some).collect::<Vec<_>>()
    );

    // Issue 24, item 4: the first slots of a primary move away (what
    // `redis-cli --cluster reshard` takes), documents with them, and search
    // goes on without the migrator running again: each copy is named after
    // a slot its primary keeps.
    let first: Vec<i64> = (0..10).collect();
    let tags: Vec<String> = first
        .iter()
        .map(|&want| {
            (0..)
                .map(|i| format!("f{i}"))
                .find(|t| i64::from(key_slot(t)) == want)
                .unwrap()
        })
        .collect();
    // The slot computed here is the server's.
    assert_eq!(
        q::<i64>(src, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&tags[3])),
        3
    );
    let mut more: Vec<User> = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| User {
            pk: Some(format!("{{{tag}}}{run}-first")),
            run: run.clone(),
            n: 200 + i as i64,
        })
        .collect();
    User::save_all(&mut con, &mut more).await.unwrap();
    assert_eq!(count().count(&mut con).await.unwrap(), 210);
    let t = Instant::now();
    for &slot in &first {
        move_slot(src, dst, slot, &src_id, &dst_id, Duration::ZERO).await;
    }
    println!("10 first slots moved in {:?}", t.elapsed());
    let mut fresh = redis_om::connect_cluster(vec![format!("redis://127.0.0.1:{src}")])
        .await
        .unwrap();
    // A fresh connection (no names remembered) and the old one agree.
    for con in [&mut con, &mut fresh] {
        assert_exact(con, &run, 210, "after the first slots moved").await;
    }

    // Issue 24, item 4, the other end: the primary's last slot, the one its
    // copies are named after, moves away with documents. The copies stay
    // behind where no command reaches them; search goes on without the
    // migrator: the primary's copies are made again under a slot it keeps
    // (from the definitions recorded in the cluster), and the orphans are
    // dropped.
    let last = own_slots(src).iter().map(|(_, hi)| *hi).max().unwrap();
    let old_tag = (0u32..)
        .map(|n| format!("{n:x}"))
        .find(|t| key_slot(t) == last)
        .unwrap();
    let copies = |port: u16| -> Vec<String> { q(port, &mut redis::cmd("FT._LIST")) };
    assert!(
        copies(src)
            .iter()
            .any(|c| c.starts_with(&format!("{{{old_tag}}}"))),
        "the copies on {src} are named after its last slot {last}: {:?}",
        copies(src)
    );
    let last_docs = save_in_slot(&mut con, &run, last, 210, 10, "last").await;
    assert_eq!(count().count(&mut con).await.unwrap(), 220);
    move_slot(src, dst, i64::from(last), &src_id, &dst_id, Duration::ZERO).await;
    let mut fresh = redis_om::connect_cluster(vec![format!("redis://127.0.0.1:{dst}")])
        .await
        .unwrap();
    for con in [&mut con, &mut fresh] {
        assert_exact(con, &run, 220, "after the last slot moved").await;
    }
    // The orphans stay until an operator drops them; then they are gone,
    // the node moves no slot (the marker used to drop them is cleared),
    // search is still exact, and the migrator finds nothing to do.
    assert!(copies(src)
        .iter()
        .any(|c| c.starts_with(&format!("{{{old_tag}}}"))));
    let dropped = con.drop_orphan_copies().await.unwrap();
    println!("orphan copies dropped: {dropped}");
    assert!(dropped >= 1);
    assert_eq!(count().count(&mut con).await.unwrap(), 220);
    let left = copies(src);
    assert!(
        !left
            .iter()
            .any(|c| c.starts_with(&format!("{{{old_tag}}}"))),
        "orphan copies left on {src}: {left:?}"
    );
    assert!(!left.is_empty());
    let nodes: String = q(src, redis::cmd("CLUSTER").arg("NODES"));
    assert!(!nodes.contains('['), "{nodes}");
    // A run killed between its IMPORTING and its STABLE leaves the marker
    // (every search then waits): the next run clears it.
    let _: () = q(
        src,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(last)
            .arg("IMPORTING")
            .arg(&dst_id),
    );
    let _: () = redis::cmd("SET")
        .arg(format!("{{redis-om}}:cluster:importing:{src_id}"))
        .arg(last)
        .query_async(con.raw())
        .await
        .unwrap();
    assert!(count().count(&mut con).await.is_err());
    con.drop_orphan_copies().await.unwrap();
    let nodes: String = q(src, redis::cmd("CLUSTER").arg("NODES"));
    assert!(!nodes.contains('['), "{nodes}");
    assert_eq!(count().count(&mut con).await.unwrap(), 220);
    let report = Migrator::new().model::<User>().run(&mut con).await.unwrap();
    println!("{report:?}");
    assert_eq!(count().count(&mut con).await.unwrap(), 220);

    // While the slot the copies are named after is half-moved, a search and
    // the migrator fail within a few seconds with `TRYAGAIN` (a connection
    // error: retry), not a query error or a timeout; once the move ends,
    // search is exact again.
    let tag_slot = own_slots(src).iter().map(|(_, hi)| *hi).max().unwrap();
    let _: () = q(
        dst,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(tag_slot)
            .arg("IMPORTING")
            .arg(&src_id),
    );
    let _: () = q(
        src,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(tag_slot)
            .arg("MIGRATING")
            .arg(&dst_id),
    );
    let t = Instant::now();
    let err = count().count(&mut con).await.unwrap_err();
    println!(
        "a search while the copies' slot moves: {:?}: {err}",
        t.elapsed()
    );
    assert!(err.is_connection_error(), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(8));
    let t = Instant::now();
    let err = Migrator::new()
        .model::<User>()
        .run(&mut con)
        .await
        .unwrap_err();
    println!(
        "the migrator while the copies' slot moves: {:?}: {err}",
        t.elapsed()
    );
    assert!(err.is_connection_error(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    move_slot(
        src,
        dst,
        i64::from(tag_slot),
        &src_id,
        &dst_id,
        Duration::ZERO,
    )
    .await;
    assert_eq!(count().count(&mut con).await.unwrap(), 220);

    // An operator's `redis-cli --cluster reshard` (when the server package
    // ships redis-cli): 300 slots of the third primary go to the first, then
    // 300 of the first to the third, while searches check every answer.
    let third = base() + 2;
    let third_id: String = q(third, redis::cmd("CLUSTER").arg("MYID"));
    let mut all_keys = pks.clone();
    all_keys.extend(more.iter().chain(&last_docs).filter_map(|u| u.pk.clone()));
    assert_eq!(all_keys.len(), 220);
    for (from, to) in [(&third_id, &src_id), (&src_id, &third_id)] {
        let stop = Arc::new(AtomicBool::new(false));
        let searcher = spawn_searcher(con.clone(), run.clone(), all_keys.clone(), stop.clone());
        let t = Instant::now();
        let out = Command::new(script())
            .args(["cli", "--cluster", "reshard", &format!("127.0.0.1:{src}")])
            .args(["--cluster-from", from, "--cluster-to", to])
            .args(["--cluster-slots", "300", "--cluster-yes"])
            .output()
            .unwrap();
        let took = t.elapsed();
        if out.status.code() == Some(3) {
            stop.store(true, Ordering::Relaxed);
            searcher.await.unwrap();
            println!("no redis-cli in this server package: the redis-cli reshard is not tried");
            break;
        }
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The first answer after the reshard is exact (no outage outlasts it).
        let t = Instant::now();
        assert_eq!(count().count(&mut con).await.unwrap(), 220);
        let first_answer = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let (exact, refused, wrong) = searcher.await.unwrap();
        println!(
            "redis-cli reshard of 300 slots in {took:.2?}: {exact} exact, {refused} refused, {} \
             wrong; first count after it in {first_answer:.2?}",
            wrong.len()
        );
        assert!(wrong.is_empty(), "{wrong:?}");
    }

    // `delete_many` while a slot of its documents moves (one script per
    // primary, the keys it no longer serves deleted through the redirects):
    // the count it returns is the number of documents that existed, and
    // none is left.
    for round in 0..3 {
        let tag = (0..)
            .map(|i| format!("d{round}-{i}"))
            .find(|t| {
                let slot: i64 = q(src, redis::cmd("CLUSTER").arg("KEYSLOT").arg(t));
                let empty =
                    q::<i64>(src, redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot)) == 0;
                empty
                    && own_slots(src)
                        .iter()
                        .any(|(lo, hi)| (i64::from(*lo)..=i64::from(*hi)).contains(&slot))
            })
            .unwrap();
        let slot: i64 = q(src, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&tag));
        let mut docs: Vec<User> = (0..300)
            .map(|i| User {
                pk: Some(if i < 200 {
                    format!("{{{tag}}}{run}-del-{i}")
                } else {
                    format!("{run}-del-{round}-{i}")
                }),
                run: format!("{run}-del"),
                n: i,
            })
            .collect();
        User::save_all(&mut con, &mut docs).await.unwrap();
        let keys: Vec<String> = docs.iter().map(|u| u.pk.clone().unwrap()).collect();
        // Half of them already gone: the count must say 150.
        let gone: Vec<&String> = keys.iter().step_by(2).collect();
        assert_eq!(User::delete_many(&mut con, &gone).await.unwrap(), 150);
        let (src_id, dst_id) = (src_id.clone(), dst_id.clone());
        let mover = tokio::spawn(async move {
            move_slot(src, dst, slot, &src_id, &dst_id, Duration::from_millis(5)).await
        });
        tokio::time::sleep(Duration::from_millis(10 * round)).await;
        let deleted = User::delete_many(&mut con, &keys).await.unwrap();
        mover.await.unwrap();
        let left = User::get_many(&mut con, &keys).await.unwrap();
        println!("delete_many during a slot move (round {round}): {deleted} deleted");
        assert_eq!(deleted, 150);
        assert!(left.iter().all(Option::is_none));
    }

    // A primary new to the cluster (scale-out) has no copy of any index;
    // once a slot with documents moves to it, search goes on without the
    // migrator: its copies are made from the recorded definitions, and used
    // once they finished indexing.
    let new: u16 = cluster("add-node").trim().parse().unwrap();
    let new_id: String = q(new, redis::cmd("CLUSTER").arg("MYID"));
    assert!(copies(new).is_empty());
    let slot = own_slots(src)[0].0;
    save_in_slot(&mut con, &run, slot, 220, 30, "new").await;
    assert_eq!(count().count(&mut con).await.unwrap(), 250);
    let t = Instant::now();
    move_slot(src, new, i64::from(slot), &src_id, &new_id, Duration::ZERO).await;
    let _: () = q(
        dst,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&new_id),
    );
    println!(
        "a slot of 30 documents moved to a new primary in {:?}",
        t.elapsed()
    );
    let mut fresh = redis_om::connect_cluster(vec![format!("redis://127.0.0.1:{new}")])
        .await
        .unwrap();
    for con in [&mut con, &mut fresh] {
        assert_exact(con, &run, 250, "with a new primary").await;
    }
    assert!(!copies(new).is_empty());
}

/// `k` documents of `run` whose keys are in `slot` (a hash tag found for
/// it), numbered from `first`, saved.
async fn save_in_slot(
    con: &mut redis_om::ClusterConnection,
    run: &str,
    slot: u16,
    first: i64,
    k: i64,
    label: &str,
) -> Vec<User> {
    let tag = (0..)
        .map(|i| format!("{label}{i}"))
        .find(|t| key_slot(t) == slot)
        .unwrap();
    let mut docs: Vec<User> = (0..k)
        .map(|i| User {
            pk: Some(format!("{{{tag}}}{run}-{label}-{i}")),
            run: run.to_owned(),
            n: first + i,
        })
        .collect();
    User::save_all(con, &mut docs).await.unwrap();
    docs
}

/// The slot ranges the primary on `port` serves, from its own line of
/// `CLUSTER NODES`.
fn own_slots(port: u16) -> Vec<(u16, u16)> {
    let nodes: String = q(port, redis::cmd("CLUSTER").arg("NODES"));
    let mine = nodes.lines().find(|l| l.contains("myself")).unwrap();
    mine.split(' ')
        .skip(8)
        .filter(|r| !r.starts_with('['))
        .map(|r| {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            (lo.parse().unwrap(), hi.parse().unwrap())
        })
        .collect()
}

/// `count` of the documents of `run` is `n` and a sorted `all()` gives
/// `0..n` in order, on `con` (waiting up to 10 s while the nodes learn of
/// a move by gossip, which fails with a connection error meanwhile).
async fn assert_exact(con: &mut redis_om::ClusterConnection, run: &str, n: i64, what: &str) {
    let t = Instant::now();
    let query = || User::find(|u| u.run.eq(run));
    let counted = loop {
        match query().count(con).await {
            Err(err) if err.is_connection_error() && t.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(counted, n as u64, "{what}");
    let all = query()
        .sort_by(|u| u.n, SortOrder::Asc)
        .all(con)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|u| u.n).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "{what}"
    );
    println!("count and all() {what}: {:?}", t.elapsed());
}

/// Searches until `stop` (and at least three rounds): `count`, `all()` and
/// `all_pks` of the documents of `run`, each answer checked against `want`
/// (their keys): exact, refused because the slot map did not settle
/// (`TRYAGAIN`), or wrong (a wrong count, a partial `all()` or `all_pks`,
/// any other error). Returns how many of each, and the wrong ones.
fn spawn_searcher(
    mut con: redis_om::ClusterConnection,
    run: String,
    mut want: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64, Vec<String>)> {
    want.sort();
    tokio::spawn(async move {
        use futures_util::TryStreamExt;
        let (mut exact, mut refused, mut wrong) = (0, 0, Vec::new());
        let n = want.len();
        let mut round = 0u64;
        while !stop.load(Ordering::Relaxed) || round < 3 {
            round += 1;
            let q = User::find(|u| u.run.eq(run.as_str()));
            // Keys as read, duplicates kept: a key read on two primaries shows.
            let answers: [(&str, redis_om::Result<Vec<String>>); 3] = [
                (
                    "count",
                    q.count(&mut con).await.map(|n| {
                        // A count stands for itself: compare as a set size.
                        (0..n).map(|i| i.to_string()).collect()
                    }),
                ),
                (
                    "all",
                    q.all(&mut con)
                        .await
                        .map(|users| users.into_iter().filter_map(|u| u.pk).collect()),
                ),
                (
                    "all_pks",
                    User::all_pks(&mut con)
                        .try_collect::<Vec<String>>()
                        .await
                        .map(|pks| {
                            pks.into_iter()
                                .filter(|pk| want.binary_search(pk).is_ok())
                                .collect()
                        }),
                ),
            ];
            for (what, answer) in answers {
                let answer = answer.map(|mut got| {
                    got.sort();
                    got
                });
                match answer {
                    Ok(got) if got.len() == n && (what == "count" || got == want) => exact += 1,
                    Ok(got) => wrong.push(format!("{what}: {} of {n}", got.len())),
                    Err(err)
                        if err.to_string().contains("consistent slot map")
                            || err.to_string().contains("still indexing") =>
                    {
                        refused += 1
                    }
                    Err(err) => wrong.push(format!("{what}: {err}")),
                }
            }
        }
        (exact, refused, wrong)
    })
}

/// The hash slot of a key without a hash tag (CRC16/XMODEM, mod 16384).
fn key_slot(key: &str) -> u16 {
    let mut crc: u16 = 0;
    for &byte in key.as_bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// Moves `slot` from the primary on port `src` to the one on `dst`, keys
/// included, as `redis-cli --cluster reshard` does, ten keys at a time with
/// `pause` between.
async fn move_slot(src: u16, dst: u16, slot: i64, src_id: &str, dst_id: &str, pause: Duration) {
    let _: () = q(
        dst,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(src_id),
    );
    let _: () = q(
        src,
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(dst_id),
    );
    loop {
        let keys: Vec<String> = q(
            src,
            redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(10),
        );
        if keys.is_empty() {
            break;
        }
        let _: () = q(
            src,
            redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(dst)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys),
        );
        tokio::time::sleep(pause).await;
    }
    for port in [src, dst, base() + 2] {
        let _: () = q(
            port,
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("NODE")
                .arg(dst_id),
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SlRace")]
struct Race {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
}

#[tokio::test]
async fn several_migrators_at_once_make_one_index_per_primary() {
    let urls = redis_om::cluster_urls();
    assert!(
        !urls.is_empty(),
        "REDIS_OM_CLUSTER_URLS is not set: run scripts/test"
    );
    let mut con = redis_om::connect_cluster(urls).await.unwrap();
    // Start from nothing: drop every copy of this model's indexes.
    drop_index(&mut con, ":SlRace:index").await;
    let runs = (0..4).map(|_| {
        let mut con = con.clone();
        tokio::spawn(async move { Migrator::new().model::<Race>().run(&mut con).await })
    });
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let names: Vec<String> = redis::cmd("FT._LIST").query_async(&mut con).await.unwrap();
    let ours: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(":SlRace:index"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let mut r = Race {
        pk: None,
        name: "x".into(),
    };
    r.save(&mut con).await.unwrap();
    assert!(
        Race::find(|f| f.name.eq("x"))
            .count(&mut con)
            .await
            .unwrap()
            >= 1
    );
}

/// One index, two versions of the model (a rolling deploy): readers of the
/// old one keep their answers while the new one's index is built.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SlVer")]
struct VerA {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SlVer")]
struct VerB {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    age: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_keep_their_answers_across_a_rebuild_on_every_shard() {
    let urls = redis_om::cluster_urls();
    assert!(
        !urls.is_empty(),
        "REDIS_OM_CLUSTER_URLS is not set: run scripts/test"
    );
    let mut con = redis_om::connect_cluster(urls).await.unwrap();
    // From nothing: no copy of the index, no documents.
    drop_index(&mut con, ":SlVer:index").await;
    use futures_util::TryStreamExt;
    let old: Vec<String> = VerA::all_pks(&mut con).try_collect().await.unwrap();
    VerA::delete_many(&mut con, &old).await.unwrap();
    Migrator::new().model::<VerA>().run(&mut con).await.unwrap();
    let mut docs: Vec<VerB> = (0..3000)
        .map(|i| VerB {
            pk: Some(format!("v{i:05}")),
            name: if i % 10 == 0 {
                "x".into()
            } else {
                format!("n{i}")
            },
            age: i,
        })
        .collect();
    VerB::save_all(&mut con, &mut docs).await.unwrap();
    assert_eq!(
        VerA::find(|v| v.name.eq("x"))
            .count(&mut con)
            .await
            .unwrap(),
        300
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let mut con = con.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(VerA::find(|v| v.name.eq("x")).count(&mut con).await);
            }
            answers
        })
    };
    let report = Migrator::new().model::<VerB>().run(&mut con).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let answers = reader.await.unwrap();
    assert!(!answers.is_empty());
    let wrong: Vec<_> = answers.iter().filter(|a| !matches!(a, Ok(300))).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} reads: {:?}",
        wrong.len(),
        answers.len(),
        &wrong[..wrong.len().min(3)]
    );
    println!(
        "{} reads during the rebuild, all 300; {report}",
        answers.len()
    );
    assert_eq!(
        VerB::find(|v| v.age.lt(100)).count(&mut con).await.unwrap(),
        100
    );
}

/// Drops every copy of an index, its alias and the migrator's bookkeeping:
/// the test starts from nothing.
async fn drop_index(con: &mut redis_om::ClusterConnection, index: &str) {
    let names: Vec<String> = redis::cmd("FT._LIST").query_async(con).await.unwrap();
    for name in names.iter().filter(|n| n.starts_with(index)) {
        let _: redis::RedisResult<()> = redis::cmd("FT.DROPINDEX").arg(name).query_async(con).await;
    }
    let _: redis::RedisResult<()> = redis::cmd("FT.ALIASDEL").arg(index).query_async(con).await;
    for suffix in ["hash", "schema", "history"] {
        let _: () = redis::cmd("DEL")
            .arg(format!("{index}:{suffix}"))
            .query_async(con)
            .await
            .unwrap();
    }
}
