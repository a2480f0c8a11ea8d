//! Counts the client-side cost of one operation, redis-om against hand-written
//! redis-rs, with callgrind (instruction counts are stable on a noisy machine).
//! Needs the benchmark's data (run `scripts/bench` once); see BENCHMARKS.md:
//!
//! ```text
//! MODE=get N=150 valgrind --tool=callgrind target/release/examples/callgrind_ops [--hand]
//! ```
//! MODE is `get`, `save` or `find` (64 tasks do N operations each), or
//! `save_all` / `get_many` (N documents in pipelines of 1,000). The cost
//! per operation is the difference between two runs (N=50 and N=150) / 6,400.

use redis::AsyncCommands;
use redis_om::prelude::*;

#[path = "../benches/support/mod.rs"]
mod support;
use support::{hand_decode_hash as decode, hand_find_cmd, hand_hset, user, UserReadCache};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let hand = std::env::args().any(|a| a == "--hand");
    let mode = std::env::var("MODE").unwrap_or_else(|_| "get".into());
    let client = redis::Client::open(
        std::env::var("REDIS_OM_URL").unwrap_or_else(|_| "redis://127.0.0.1:16389".into()),
    )
    .unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    if mode == "fill" {
        let mut users: Vec<UserReadCache> = (0..100_000).map(user).collect();
        let mut con = con.clone();
        Migrator::new()
            .model::<UserReadCache>()
            .run(&mut con)
            .await
            .unwrap();
        UserReadCache::save_all(&mut con, &mut users).await.unwrap();
        return;
    }
    if mode == "save_all" {
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3000);
        let mut users: Vec<UserReadCache> = (0..n as i64).map(user).collect();
        let mut con = con.clone();
        if hand {
            for chunk in users.chunks(1000) {
                let mut pipe = redis::pipe();
                for u in chunk {
                    pipe.add_command(support::hand_hset(u));
                }
                let _: Vec<redis::Value> = pipe.query_async(&mut con).await.unwrap();
            }
        } else {
            UserReadCache::save_all(&mut con, &mut users).await.unwrap();
        }
        return;
    }
    if mode == "get_many" {
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3000);
        let pks: Vec<String> = (0..n).map(|i| format!("u{:06}", i % 100_000)).collect();
        let mut con = con.clone();
        if hand {
            let mut out = Vec::with_capacity(n);
            for chunk in pks.chunks(1000) {
                let mut pipe = redis::pipe();
                for pk in chunk {
                    pipe.hgetall(format!(":BenchUser:{pk}"));
                }
                let replies: Vec<redis::Value> = pipe.query_async(&mut con).await.unwrap();
                out.extend(replies.iter().map(|r| decode(r).unwrap()));
            }
            std::hint::black_box(out);
        } else {
            std::hint::black_box(UserReadCache::get_many(&mut con, &pks).await.unwrap());
        }
        return;
    }
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let mut con = con.clone();
        let mode = mode.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..std::env::var("N")
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(3000)
            {
                let pk = format!("u{:06}", (t * 3000 + i) % 5000);
                let n = (t * 3000 + i) % 5000;
                match (mode.as_str(), hand) {
                    ("get", true) => {
                        let v: redis::Value =
                            con.hgetall(format!(":BenchUser:{pk}")).await.unwrap();
                        std::hint::black_box(decode(&v));
                    }
                    ("get", false) => {
                        std::hint::black_box(UserReadCache::get(&mut con, pk).await.unwrap());
                    }
                    ("save", true) => {
                        let u = user(n as i64);
                        let _: () = hand_hset(&u).query_async(&mut con).await.unwrap();
                    }
                    ("save", false) => {
                        let mut u = user(n as i64);
                        std::hint::black_box(u.save(&mut con).await.unwrap());
                    }
                    ("find", true) => {
                        let v: redis::Value = hand_find_cmd(&format!("user{n}@example.com"))
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        let redis::Value::Array(items) = &v else {
                            panic!()
                        };
                        std::hint::black_box(decode(&items[2]));
                    }
                    (_, _) => {
                        let email = format!("user{n}@example.com");
                        std::hint::black_box(
                            UserReadCache::find(|u| u.email.eq(email.as_str()))
                                .first(&mut con)
                                .await
                                .unwrap(),
                        );
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let el = start.elapsed();
    println!(
        "{} {:.0} ops/s",
        if hand { "hand" } else { "om" },
        (64 * std::env::var("N")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(3000)) as f64
            / el.as_secs_f64()
    );
}
