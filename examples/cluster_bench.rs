//! redis-om on a local 3-primary cluster against one node on the same
//! machine, and against hand-written redis-rs cluster code for the bulk
//! operations; medians of 3 runs. See BENCHMARKS.md:
//!
//! ```text
//! scripts/redis-stack start --port 16389; scripts/redis-stack cluster start
//! REDIS_OM_URL=redis://127.0.0.1:16389 \
//! REDIS_OM_CLUSTER_URLS=redis://127.0.0.1:17000,redis://127.0.0.1:17001,redis://127.0.0.1:17002 \
//!   cargo run --release --example cluster_bench
//! ```

use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis_om::prelude::*;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "CbUser")]
struct User {
    pk: Option<String>,
    #[redis_om(index, sortable)]
    id: i64,
    #[redis_om(index)]
    email: String,
    name: String,
}

const N: usize = 20_000;
/// Concurrent tasks for `get x64` and `first x64`, and the reads of each.
const TASKS: usize = 64;
const PER_TASK: usize = 300;

fn users() -> Vec<User> {
    (0..N as i64)
        .map(|i| User {
            pk: Some(format!("u{i:06}")),
            id: i,
            email: format!("user{i}@example.com"),
            name: format!("user {i}"),
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6
}

async fn run<C: ConnectionLike + Send + Sync + Clone + 'static>(
    label: &str,
    con: &mut C,
    hand: Option<&mut redis::cluster_async::ClusterConnection>,
) {
    Migrator::new().model::<User>().run(con).await.unwrap();
    let mut save = Vec::new();
    let mut get = Vec::new();
    let mut all = Vec::new();
    let mut first = Vec::new();
    let mut page = Vec::new();
    let mut get64 = Vec::new();
    let mut first64 = Vec::new();
    let mut delete = Vec::new();
    for _ in 0..3 {
        let mut docs = users();
        let t = Instant::now();
        User::save_all(con, &mut docs).await.unwrap();
        save.push(N as f64 / t.elapsed().as_secs_f64());
        let pks: Vec<String> = docs.iter().map(|u| u.pk.clone().unwrap()).collect();
        let t = Instant::now();
        let got = User::get_many(con, &pks).await.unwrap();
        get.push(N as f64 / t.elapsed().as_secs_f64());
        assert_eq!(got.len(), N);
        let t = Instant::now();
        let every = User::find(|u| u.id.lt(N as i64)).all(con).await.unwrap();
        all.push(N as f64 / t.elapsed().as_secs_f64());
        assert_eq!(every.len(), N);
        for i in 0..200 {
            let email = format!("user{}@example.com", i * 97 % N);
            let t = Instant::now();
            User::find(|u| u.email.eq(email.as_str()))
                .first(con)
                .await
                .unwrap();
            first.push(t.elapsed());
            let t = Instant::now();
            let p = User::find_all()
                .sort_by(|u| u.id, SortOrder::Desc)
                .page(con, (i % 50) as u64 * 10, 10)
                .await
                .unwrap();
            page.push(t.elapsed());
            assert_eq!(p.len(), 10);
        }
        let t = Instant::now();
        let shared = std::sync::Arc::new(pks.clone());
        let tasks = (0..TASKS).map(|task| {
            let mut con = con.clone();
            let pks = shared.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let pk = &pks[(task * PER_TASK + i) % N];
                    User::get(&mut con, pk.as_str()).await.unwrap();
                }
            })
        });
        for task in futures_util::future::join_all(tasks).await {
            task.unwrap();
        }
        get64.push((TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let tasks = (0..TASKS).map(|task| {
            let mut con = con.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK / 10 {
                    let email = format!("user{}@example.com", (task * 131 + i * 7) % N);
                    User::find(|u| u.email.eq(email.as_str()))
                        .first(&mut con)
                        .await
                        .unwrap();
                }
            })
        });
        for task in futures_util::future::join_all(tasks).await {
            task.unwrap();
        }
        first64.push((TASKS * PER_TASK / 10) as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        assert_eq!(User::delete_many(con, &pks).await.unwrap(), N as u64);
        delete.push(N as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "{label:<28} save_all {:>8.0} docs/s  get_many {:>8.0} docs/s  all() {:>8.0} docs/s  first p50/p99 {:>6.0}/{:>6.0} us  sorted page p50/p99 {:>6.0}/{:>6.0} us  get x64 {:>7.0}/s  first x64 {:>6.0}/s  delete_many {:>8.0} docs/s",
        median(save),
        median(get),
        median(all),
        pct(first.clone(), 0.5),
        pct(first, 0.99),
        pct(page.clone(), 0.5),
        pct(page, 0.99),
        median(get64),
        median(first64),
        median(delete),
    );
    if let Some(hand) = hand {
        // Hand-written redis-rs cluster code: the same HSETs, 1,000 at a
        // time concurrently; the same HGETALLs.
        let mut save = Vec::new();
        let mut get = Vec::new();
        let mut get64 = Vec::new();
        let mut delete = Vec::new();
        for _ in 0..3 {
            let docs = users();
            let t = Instant::now();
            for chunk in docs.chunks(1000) {
                let writes = chunk.iter().map(|u| {
                    let mut con = hand.clone();
                    let cmd = redis::cmd("HSET")
                        .arg(format!(":CbUser:{}", u.pk.as_deref().unwrap()))
                        .arg("pk")
                        .arg(u.pk.as_deref().unwrap())
                        .arg("id")
                        .arg(u.id)
                        .arg("email")
                        .arg(&u.email)
                        .arg("name")
                        .arg(&u.name)
                        .clone();
                    async move { cmd.query_async::<i64>(&mut con).await }
                });
                for r in futures_util::future::join_all(writes).await {
                    r.unwrap();
                }
            }
            save.push(N as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            for chunk in docs.chunks(1000) {
                let reads = chunk.iter().map(|u| {
                    let mut con = hand.clone();
                    let key = format!(":CbUser:{}", u.pk.as_deref().unwrap());
                    async move {
                        redis::cmd("HGETALL")
                            .arg(key)
                            .query_async::<redis::Value>(&mut con)
                            .await
                    }
                });
                for r in futures_util::future::join_all(reads).await {
                    r.unwrap();
                }
            }
            get.push(N as f64 / t.elapsed().as_secs_f64());
            // 64 tasks reading one document at a time, as `get x64`.
            let t = Instant::now();
            let tasks = (0..TASKS).map(|task| {
                let mut con = hand.clone();
                tokio::spawn(async move {
                    for i in 0..PER_TASK {
                        let key = format!(":CbUser:u{:06}", (task * PER_TASK + i) % N);
                        let fields: std::collections::HashMap<String, String> =
                            redis::cmd("HGETALL")
                                .arg(key)
                                .query_async(&mut con)
                                .await
                                .unwrap();
                        assert_eq!(fields.len(), 4);
                    }
                })
            });
            for task in futures_util::future::join_all(tasks).await {
                task.unwrap();
            }
            get64.push((TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64());
            // The same deletes, 1,000 at a time concurrently, counted.
            let t = Instant::now();
            let mut deleted = 0;
            for chunk in docs.chunks(1000) {
                let dels = chunk.iter().map(|u| {
                    let mut con = hand.clone();
                    let key = format!(":CbUser:{}", u.pk.as_deref().unwrap());
                    async move {
                        redis::cmd("DEL")
                            .arg(key)
                            .query_async::<i64>(&mut con)
                            .await
                    }
                });
                for r in futures_util::future::join_all(dels).await {
                    deleted += r.unwrap();
                }
            }
            assert_eq!(deleted, N as i64);
            delete.push(N as f64 / t.elapsed().as_secs_f64());
        }
        println!(
            "{:<28} save_all {:>8.0} docs/s  get_many {:>8.0} docs/s  get x64 {:>7.0}/s  delete {:>8.0} docs/s",
            "hand-written, cluster",
            median(save),
            median(get),
            median(get64),
            median(delete)
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let single = std::env::var("REDIS_OM_URL").unwrap_or_else(|_| "redis://127.0.0.1:16389".into());
    let mut con = redis_om::connect(single).await.unwrap();
    run("redis-om, one node", &mut con, None).await;
    let seeds = redis_om::cluster_urls();
    let mut cluster = redis_om::connect_cluster(seeds.clone()).await.unwrap();
    let mut hand = redis::cluster::ClusterClient::new(seeds)
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    run("redis-om, 3-primary cluster", &mut cluster, Some(&mut hand)).await;
}
