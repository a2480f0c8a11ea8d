//! The model cache (`redis_om::cache`) side by side with everything a read
//! can cost, in one run on one server: the one-client round-trip floor
//! (`PING`, and `redis-benchmark -c 1` when given), hand-written redis-rs
//! `HGETALL` + decode, redis-om's uncached `get`, and the cache's local hits
//! (one task, 64 tasks), plus the invalidation latency (a write acknowledged
//! to another client → the local entry gone).
//!
//! Run with `scripts/bench cache` (starts the project's Redis Stack and pins
//! server and benchmark to separate cores). Options: `--runs N` (default 5;
//! medians), `--quick`. Writes `target/bench/cache.json`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis_om::cache::{CacheConfig, Local, ModelCache};
use redis_om::prelude::*;

mod support;
use support::*;

const USERS: i64 = 1_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    let i = ((sorted_ns.len() as f64 - 1.0) * p).round() as usize;
    sorted_ns[i] as f64 / 1_000.0
}

fn pk(i: u64) -> String {
    format!("u{:06}", i % USERS as u64)
}

/// Operations per second of `n` sequential calls of `op`.
async fn rate<F, Fut>(n: u64, mut op: F) -> f64
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    for i in 0..n {
        op(i).await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// `redis-benchmark -c 1 -n N -t ping -q`, when the script gives its path.
fn redis_benchmark_ping(url: &str, n: u64) -> Option<f64> {
    let bin = std::env::var("REDIS_OM_BENCH_REDIS_BENCHMARK").ok()?;
    let port = url.rsplit(':').next()?.trim_end_matches('/');
    let out = std::process::Command::new(bin)
        .env(
            "LD_LIBRARY_PATH",
            std::env::var("REDIS_OM_BENCH_LDPATH").unwrap_or_default(),
        )
        .args([
            "-p",
            port,
            "-c",
            "1",
            "-n",
            &n.to_string(),
            "-t",
            "ping",
            "-q",
        ])
        .output()
        .ok()?;
    // "PING_INLINE: 14925.37 requests per second, p50=0.063 msec" (and PING_MBULK).
    let text = String::from_utf8_lossy(&out.stdout);
    let rates: Vec<f64> = text
        .split(['\r', '\n'])
        .filter_map(|line| line.split(':').nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
}

#[derive(Default, serde::Serialize)]
struct Run {
    floor_ping: f64,
    floor_redis_benchmark: Option<f64>,
    hand_hgetall: f64,
    om_get: f64,
    cached_1_task: f64,
    cached_64_tasks: f64,
    cached_p50_us: f64,
    cached_p99_us: f64,
    invalidation_p50_us: f64,
    invalidation_p99_us: f64,
}

async fn one_run(url: &str, n: u64) -> Run {
    let mut con: MultiplexedConnection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut run = Run {
        floor_redis_benchmark: redis_benchmark_ping(url, n.min(50_000)),
        ..Run::default()
    };

    let trips = n.min(20_000);
    run.floor_ping = rate(trips, |_| {
        let mut con = con.clone();
        async move {
            let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
        }
    })
    .await;
    run.hand_hgetall = rate(trips, |i| {
        let mut con = con.clone();
        async move {
            let key = UserReadCache::key_layout().key(pk(i));
            let reply: redis::Value = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            black_box(hand_decode_hash(&reply).unwrap());
        }
    })
    .await;
    run.om_get = rate(trips, |i| {
        let mut con = con.clone();
        async move {
            black_box(UserReadCache::get(&mut con, pk(i)).await.unwrap());
        }
    })
    .await;

    let cache = ModelCache::<UserReadCache>::connect(
        url.to_owned(),
        CacheConfig::new().max_capacity(USERS as u64 * 2),
    )
    .await
    .unwrap();
    // Warm: every user read once.
    for i in 0..USERS as u64 {
        cache.get(pk(i)).await.unwrap();
    }
    let pks: Vec<String> = (0..USERS as u64).map(pk).collect();
    run.cached_1_task = rate(n, |i| {
        let (cache, pk) = (&cache, &pks[(i % USERS as u64) as usize]);
        async move {
            black_box(cache.get(pk.as_str()).await.unwrap());
        }
    })
    .await;
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        let pk = &pks[(i % USERS as u64) as usize];
        let t = Instant::now();
        black_box(cache.get(pk.as_str()).await.unwrap());
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat.sort_unstable();
    run.cached_p50_us = percentile(&lat, 0.50);
    run.cached_p99_us = percentile(&lat, 0.99);

    let pks = Arc::new(pks);
    let started = Instant::now();
    let per_task = n / 64;
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (cache, pks) = (cache.clone(), pks.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    let pk = &pks[((i * 7 + t * 13) % USERS as u64) as usize];
                    black_box(cache.get(pk.as_str()).await.unwrap());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    run.cached_64_tasks = (per_task * 64) as f64 / started.elapsed().as_secs_f64();

    // Invalidation latency: another client's write acknowledged → entry gone.
    let mut gone = Vec::new();
    for i in 0..n.min(2_000) {
        let pk = pk(i);
        cache.get(pk.as_str()).await.unwrap();
        let mut u = user((i % USERS as u64) as i64);
        u.name = format!("user {i} v2");
        u.save(&mut con).await.unwrap();
        let acked = Instant::now();
        let deadline = acked + Duration::from_secs(2);
        while matches!(cache.get_local(pk.as_str()).unwrap(), Local::Hit(_)) {
            assert!(Instant::now() < deadline, "invalidation lost");
            // Give the core to the connection's reader (pinned, both share one).
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
        gone.push(acked.elapsed().as_nanos() as u64);
    }
    gone.sort_unstable();
    run.invalidation_p50_us = percentile(&gone, 0.50);
    run.invalidation_p99_us = percentile(&gone, 0.99);
    let stats = cache.stats();
    assert!(
        stats.resets <= 1,
        "the connection was lost during the run: {stats:?}"
    );
    run
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5);
    let n: u64 = if args.iter().any(|a| a == "--quick") {
        50_000
    } else {
        400_000
    };
    let url = redis_om::url();
    let mut con = redis_om::connect(url.clone()).await.unwrap();
    let mut users: Vec<UserReadCache> = (0..USERS).map(user).collect();
    UserReadCache::save_all(&mut con, &mut users).await.unwrap();

    let mut all = Vec::new();
    for r in 0..runs {
        let run = one_run(&url, n).await;
        eprintln!(
            "run {}: floor {:.0}/s, hand {:.0}/s, get {:.0}/s, cached {:.0}/s (64 tasks {:.0}/s), p99 {:.2} µs, invalidation p50 {:.1} µs",
            r + 1,
            run.floor_ping,
            run.hand_hgetall,
            run.om_get,
            run.cached_1_task,
            run.cached_64_tasks,
            run.cached_p99_us,
            run.invalidation_p50_us
        );
        all.push(run);
    }
    let m = |f: fn(&Run) -> f64| median(all.iter().map(f).collect());
    let floor = m(|r| r.floor_ping);
    let rb: Vec<f64> = all.iter().filter_map(|r| r.floor_redis_benchmark).collect();
    println!("\nmedians of {runs} runs ({n} cached reads per run, {USERS} users):\n");
    println!("| read | per second | × round-trip floor |");
    println!("|---|---:|---:|");
    if !rb.is_empty() {
        let rb = median(rb);
        println!(
            "| `redis-benchmark -c 1 -t ping` | {rb:.0} | {:.2} |",
            rb / floor
        );
    }
    for (name, value) in [
        ("PING, one client (the floor)", floor),
        (
            "hand-written redis-rs `HGETALL` + decode",
            m(|r| r.hand_hgetall),
        ),
        ("redis-om `get` (no cache)", m(|r| r.om_get)),
        ("`ModelCache::get` hit, 1 task", m(|r| r.cached_1_task)),
        ("`ModelCache::get` hit, 64 tasks", m(|r| r.cached_64_tasks)),
    ] {
        println!("| {name} | {value:.0} | {:.2} |", value / floor);
    }
    println!(
        "\ncached hit latency p50 {:.2} µs, p99 {:.2} µs; invalidation (write acknowledged → entry gone) p50 {:.1} µs, p99 {:.1} µs",
        m(|r| r.cached_p50_us),
        m(|r| r.cached_p99_us),
        m(|r| r.invalidation_p50_us),
        m(|r| r.invalidation_p99_us)
    );
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write(
        "target/bench/cache.json",
        serde_json::to_string_pretty(&all).unwrap(),
    );
}
