//! Load, on a server of its own: 64 tasks on one multiplexed connection and 64 tasks on a bb8 pool,
//! at the same time, doing mixed save/get/find/delete for a bounded time
//! (`REDIS_OM_LOAD_SECS`, default 30). Zero errors, and a final full read must
//! find exactly the documents each task believes exist, with their last values.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis_om::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "LoadDoc")]
struct LoadDoc {
    pk: String,
    #[redis_om(index)]
    owner: String,
    #[redis_om(index)]
    version: u64,
    body: String,
}

#[derive(Default, Debug)]
struct Tally {
    ops: u64,
    errors: Vec<String>,
    /// What this task believes is stored: pk → version.
    expected: HashMap<String, u64>,
}

/// One task's loop: its own owner tag and key space, so that its view of what
/// is stored is exact.
async fn work<C: redis::aio::ConnectionLike + Send>(
    con: &mut C,
    owner: String,
    until: Instant,
    tally: &mut Tally,
) {
    let mut step: u64 = 0;
    while Instant::now() < until {
        step += 1;
        let slot = step % 20;
        let pk = format!("{owner}-{slot}");
        let result: Result<(), Error> = async {
            match step % 5 {
                // save (new or update)
                0 | 1 => {
                    let version = step;
                    LoadDoc {
                        pk: pk.clone(),
                        owner: owner.clone(),
                        version,
                        body: format!(
                            "{owner} {slot} v{version} {}",
                            "x".repeat((step % 7) as usize * 50)
                        ),
                    }
                    .save(con)
                    .await?;
                    tally.expected.insert(pk, version);
                }
                // get: the last saved version, or NotFound
                2 => match (LoadDoc::get(con, &pk).await, tally.expected.get(&pk)) {
                    (Ok(doc), Some(v)) if doc.version == *v && doc.owner == owner => {}
                    (Err(e), None) if e.is_not_found() => {}
                    (got, want) => tally
                        .errors
                        .push(format!("get {pk}: got {got:?}, expected {want:?}")),
                },
                // find by owner: exactly the expected set with the expected versions
                3 => {
                    let found = LoadDoc::find(|d| d.owner.eq(owner.as_str()))
                        .all(con)
                        .await?;
                    let mut seen: HashMap<String, u64> = HashMap::new();
                    for doc in found {
                        seen.insert(doc.pk, doc.version);
                    }
                    if seen != tally.expected {
                        tally.errors.push(format!(
                            "find {owner}: {} found, {} expected",
                            seen.len(),
                            tally.expected.len()
                        ));
                    }
                }
                // delete
                _ => {
                    let existed = LoadDoc::delete(con, &pk).await?;
                    if existed != tally.expected.remove(&pk).is_some() {
                        tally.errors.push(format!("delete {pk}: existed {existed}"));
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tally.errors.push(e.to_string());
        }
        tally.ops += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_on_one_connection_and_on_a_pool() {
    let secs: u64 = std::env::var("REDIS_OM_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    // A server of its own, so that the other tests' big requests (10 MB
    // values, 25,000-document searches) do not stall this one's 500 ms timeouts.
    let server = common::Server::fresh(common::fault_port(6), &[]);
    let url = server.url();
    let mut con = common::multiplexed(&url).await;
    Migrator::new()
        .model::<LoadDoc>()
        .run(&mut con)
        .await
        .unwrap();
    common::clear_prefix(&mut con, LoadDoc::key_layout().key_prefix()).await;
    let run = common::unique("run");
    let pool = bb8::Pool::builder()
        .max_size(8)
        // 64 tasks share 8 connections: waiting for one is expected.
        .connection_timeout(Duration::from_secs(120))
        .build(redis::Client::open(url.as_str()).unwrap())
        .await
        .unwrap();

    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let mut con = con.clone();
        let owner = format!("{run}-m{t}");
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            work(&mut con, owner.clone(), until, &mut tally).await;
            (owner, tally)
        }));
        let pool = pool.clone();
        let owner = format!("{run}-p{t}");
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < until {
                // Check a connection out for a while, then give it back.
                let mut con = pool.get().await.unwrap();
                let chunk_until = (Instant::now() + Duration::from_millis(200)).min(until);
                work(&mut *con, owner.clone(), chunk_until, &mut tally).await;
                drop(con);
                tokio::task::yield_now().await;
            }
            (owner, tally)
        }));
    }
    let mut ops = 0;
    let mut errors = Vec::new();
    let mut expected: HashMap<String, u64> = HashMap::new();
    for task in tasks {
        let (_, tally) = task.await.unwrap();
        ops += tally.ops;
        errors.extend(tally.errors);
        expected.extend(tally.expected);
    }
    let elapsed = started.elapsed();

    // A final full read: every document each task believes exists, with its last version, and nothing else.
    let stored: Vec<LoadDoc> = LoadDoc::find(|d| d.owner.starts_with(run.as_str()))
        .all(&mut con)
        .await
        .unwrap();
    let stored: HashMap<String, u64> = stored.into_iter().map(|d| (d.pk, d.version)).collect();
    let lost = expected
        .keys()
        .filter(|pk| !stored.contains_key(*pk))
        .count();
    let corrupted = expected
        .iter()
        .filter(|(pk, v)| stored.get(*pk).is_some_and(|s| s != *v))
        .count();
    let unexpected = stored
        .keys()
        .filter(|pk| !expected.contains_key(*pk))
        .count();
    println!(
        "load: 128 tasks (64 multiplexed + 64 on an 8-connection pool) for {elapsed:.1?}: {ops} operations, {:.0} ops/s, {} errors, {} documents at the end, {lost} lost, {corrupted} corrupted, {unexpected} unexpected",
        ops as f64 / elapsed.as_secs_f64(),
        errors.len(),
        stored.len(),
    );
    assert!(
        errors.is_empty(),
        "{} errors, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!((lost, corrupted, unexpected), (0, 0, 0));
    assert!(ops > 1_000, "only {ops} operations ran");
    LoadDoc::find(|d| d.owner.starts_with(run.as_str()))
        .delete(&mut con)
        .await
        .unwrap();
}
