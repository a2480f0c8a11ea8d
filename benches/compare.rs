//! redis-om against hand-written redis-rs doing the same commands and decoding
//! into the same struct, in the same process, on the same server.
//!
//! Run with `scripts/bench` (starts the project's Redis Stack). Prints a table
//! and writes JSON (`--json PATH`, default `target/bench/compare.json`).
//! Options: `--runs N` (default 5; medians are reported), `--quick` (smaller
//! sizes), `--only TEXT` (only the workloads whose name contains TEXT).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use redis_om::__private::Stored;
use redis_om::prelude::*;
use serde::Serialize;

// ---------------------------------------------------------------------------
// Allocation counting (for per-call allocations and peak heap).

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mod support;
use support::*;

// ---------------------------------------------------------------------------
// Measurement.

#[derive(Clone, Default, Serialize)]
struct Side {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    /// CPU time of this process (client side: user + system) per operation.
    /// Steadier than wall time on a shared machine, and what redis-om adds.
    cpu_us_per_op: f64,
    /// Heap allocations per operation (the counting allocator; setup inside
    /// a workload's closure, such as cloning its input, is included).
    allocs_per_op: f64,
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a full `rusage` on success.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return Duration::ZERO;
        }
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[derive(Serialize)]
struct Row {
    workload: String,
    unit: String,
    om: Side,
    hand: Side,
    ratio: f64,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// One measured run: how many operations, how long, and the per-op latencies.
struct Run {
    ops: usize,
    elapsed: Duration,
    cpu: Duration,
    lat: Vec<Duration>,
}

fn summarize(runs: Vec<Run>, allocs: Vec<f64>) -> Side {
    let ops_per_sec = median(
        runs.iter()
            .map(|r| r.ops as f64 / r.elapsed.as_secs_f64())
            .collect(),
    );
    let cpu_us_per_op = median(
        runs.iter()
            .map(|r| r.cpu.as_secs_f64() * 1e6 / r.ops as f64)
            .collect(),
    );
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for mut r in runs {
        r.lat.sort();
        p50.push(percentile(&r.lat, 0.5));
        p99.push(percentile(&r.lat, 0.99));
    }
    Side {
        ops_per_sec,
        p50_us: median(p50),
        p99_us: median(p99),
        cpu_us_per_op,
        allocs_per_op: median(allocs),
    }
}

struct Bench {
    runs: usize,
    only: Option<String>,
    rows: Vec<Row>,
}

impl Bench {
    /// Runs `om` and `hand` alternately `runs` times (alternating which goes
    /// first) and records the medians.
    async fn compare<FO, FH, OF, HF>(
        &mut self,
        workload: &str,
        unit: &str,
        note: &str,
        mut om: FO,
        mut hand: FH,
    ) where
        FO: FnMut() -> OF,
        FH: FnMut() -> HF,
        OF: std::future::Future<Output = Run>,
        HF: std::future::Future<Output = Run>,
    {
        if let Some(only) = &self.only {
            if !workload.contains(only.as_str()) {
                return;
            }
        }
        let mut om_runs = Vec::new();
        let mut hand_runs = Vec::new();
        // One warm-up of each.
        om().await;
        hand().await;
        let (mut om_allocs, mut hand_allocs) = (Vec::new(), Vec::new());
        async fn counted<F: std::future::Future<Output = Run>>(
            run: F,
            allocs: &mut Vec<f64>,
        ) -> Run {
            let before = ALLOCS.load(Relaxed);
            let run = run.await;
            allocs.push((ALLOCS.load(Relaxed) - before) as f64 / run.ops as f64);
            run
        }
        for i in 0..self.runs {
            if i % 2 == 0 {
                om_runs.push(counted(om(), &mut om_allocs).await);
                hand_runs.push(counted(hand(), &mut hand_allocs).await);
            } else {
                hand_runs.push(counted(hand(), &mut hand_allocs).await);
                om_runs.push(counted(om(), &mut om_allocs).await);
            }
        }
        let om = summarize(om_runs, om_allocs);
        let hand = summarize(hand_runs, hand_allocs);
        let ratio = om.ops_per_sec / hand.ops_per_sec;
        println!(
            "{workload:<44} {:>10.0} {:>10.0} {:>6.3}  cpu/op {:>6.2}/{:<6.2}us  allocs/op {:>5.1}/{:<5.1} p50 {:>7.1}/{:<7.1}us p99 {:>8.1}/{:<8.1}us",
            om.ops_per_sec,
            hand.ops_per_sec,
            ratio,
            om.cpu_us_per_op,
            hand.cpu_us_per_op,
            om.allocs_per_op,
            hand.allocs_per_op,
            om.p50_us,
            hand.p50_us,
            om.p99_us,
            hand.p99_us
        );
        self.rows.push(Row {
            workload: workload.into(),
            unit: unit.into(),
            om,
            hand,
            ratio,
            note: note.into(),
        });
    }
}

async fn timed_seq<F, Fut>(n: usize, mut op: F) -> Run
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut lat = Vec::with_capacity(n);
    let (start, cpu) = (Instant::now(), cpu_time());
    for i in 0..n {
        let t = Instant::now();
        op(i).await;
        lat.push(t.elapsed());
    }
    Run {
        ops: n,
        elapsed: start.elapsed(),
        cpu: cpu_time() - cpu,
        lat,
    }
}

/// `tasks` tasks each doing `per_task` operations on clones of one multiplexed connection.
async fn timed_concurrent<F, Fut>(
    con: &MultiplexedConnection,
    tasks: usize,
    per_task: usize,
    op: F,
) -> Run
where
    F: Fn(MultiplexedConnection, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (start, cpu) = (Instant::now(), cpu_time());
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let con = con.clone();
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let s = Instant::now();
                    op(con.clone(), t * per_task + i).await;
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.unwrap());
    }
    Run {
        ops: tasks * per_task,
        elapsed: start.elapsed(),
        cpu: cpu_time() - cpu,
        lat,
    }
}

/// A CPU-only measurement: ns per call and allocations per call.
fn per_call<T>(iters: usize, f: &mut impl FnMut(usize) -> T) -> (f64, f64) {
    let allocs = ALLOCS.load(Relaxed);
    let start = Instant::now();
    for i in 0..iters {
        black_box(f(i));
    }
    let elapsed = start.elapsed();
    let allocs = ALLOCS.load(Relaxed) - allocs;
    (
        elapsed.as_secs_f64() * 1e9 / iters as f64,
        allocs as f64 / iters as f64,
    )
}

/// Both sides measured in alternating rounds (7); medians.
fn compare_calls<A, B>(
    iters: usize,
    mut om: impl FnMut(usize) -> A,
    mut hand: impl FnMut(usize) -> B,
) -> ((f64, f64), (f64, f64)) {
    // Warm up.
    per_call(iters / 10, &mut om);
    per_call(iters / 10, &mut hand);
    let (mut o, mut h) = (Vec::new(), Vec::new());
    let (mut oa, mut ha) = (0.0, 0.0);
    for round in 0..7 {
        let (a, b) = if round % 2 == 0 {
            let a = per_call(iters / 7, &mut om);
            (a, per_call(iters / 7, &mut hand))
        } else {
            let b = per_call(iters / 7, &mut hand);
            (per_call(iters / 7, &mut om), b)
        };
        o.push(a.0);
        h.push(b.0);
        oa = a.1;
        ha = b.1;
    }
    ((median(o), oa), (median(h), ha))
}

#[derive(Serialize)]
struct CodecRow {
    what: String,
    om_ns: f64,
    hand_ns: f64,
    ratio: f64,
    om_allocs: f64,
    hand_allocs: f64,
}

#[derive(Serialize)]
struct Memory {
    documents: usize,
    all_peak_bytes: usize,
    stream_peak_bytes: usize,
}

#[derive(Serialize)]
struct Report {
    server: String,
    runs: usize,
    machine: String,
    workloads: Vec<Row>,
    codec: Vec<CodecRow>,
    memory: Memory,
}

async fn clear(con: &mut MultiplexedConnection, prefix: &str) {
    let script = redis::Script::new(
        "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('UNLINK', k) n = n + 1 end return n",
    );
    let _: i64 = script
        .arg(format!("{prefix}*"))
        .invoke_async(con)
        .await
        .unwrap();
}

async fn fill(con: &mut MultiplexedConnection, n: usize) {
    let mut users: Vec<UserReadCache> = (0..n as i64).map(user).collect();
    UserReadCache::save_all(con, &mut users).await.unwrap();
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs: usize = arg("--runs")
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 3 } else { 5 });
    let json_path = arg("--json").unwrap_or_else(|| "target/bench/compare.json".into());
    let url = std::env::var("REDIS_OM_URL").unwrap_or_else(|_| "redis://127.0.0.1:16379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    // No response timeout: clearing 100,000 keys takes longer than the default.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut con)
        .await
        .unwrap();
    let server = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    Migrator::new()
        .model::<UserReadCache>()
        .model::<UserDoc>()
        .run(&mut con)
        .await
        .unwrap();
    clear(&mut con, HASH_PREFIX).await;
    clear(&mut con, JSON_PREFIX).await;

    let seq = if quick { 2_000 } else { 5_000 };
    let (tasks, per_task) = (64, if quick { 100 } else { 300 });
    let bulk = if quick { 30_000 } else { 100_000 };
    let big = 25_000;
    let mut bench = Bench {
        runs,
        only: arg("--only"),
        rows: Vec::new(),
    };
    println!(
        "{:<44} {:>10} {:>10} {:>6}  client CPU and latency: redis-om/redis-rs",
        "workload (ops/s)", "redis-om", "redis-rs", "ratio"
    );

    // --- Sequential, one connection: round-trip bound.
    fill(&mut con, seq).await;
    let mut docs: Vec<UserDoc> = (0..seq as i64).map(doc).collect();
    UserDoc::save_all(&mut con, &mut docs).await.unwrap();
    let c = con.clone();
    bench
        .compare(
            "save, sequential (hash)",
            "ops/s",
            "HSET of 5 fields",
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let mut u = user(i as i64);
                        black_box(u.save(&mut con).await.unwrap());
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let u = user(i as i64);
                        let _: () = hand_hset(&u).query_async(&mut con).await.unwrap();
                    }
                })
            },
        )
        .await;
    bench
        .compare(
            "get, sequential (hash)",
            "ops/s",
            "HGETALL + decode",
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let u = UserReadCache::get(&mut con, format!("u{i:06}"))
                            .await
                            .unwrap();
                        black_box(u);
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let reply: Value =
                            con.hgetall(format!("{HASH_PREFIX}u{i:06}")).await.unwrap();
                        black_box(hand_decode_hash(&reply).unwrap());
                    }
                })
            },
        )
        .await;
    // The fastest path for one sequential caller: a dedicated blocking
    // connection has no multiplexer and no runtime hop between the caller
    // and the socket.
    let blocking = |url: &str| {
        std::sync::Arc::new(std::sync::Mutex::new(
            redis::Client::open(url).unwrap().get_connection().unwrap(),
        ))
    };
    let (om_con, hand_con) = (blocking(&url), blocking(&url));
    bench
        .compare(
            "get, sequential, blocking connection (hash)",
            "ops/s",
            "redis::Connection: SyncModel::get / HGETALL + decode",
            || {
                let con = om_con.clone();
                timed_seq(seq, move |i| {
                    let con = con.clone();
                    async move {
                        let mut con = con.lock().unwrap();
                        let u = <UserReadCache as redis_om::blocking::SyncModel>::get(
                            &mut *con,
                            format!("u{i:06}"),
                        )
                        .unwrap();
                        black_box(u);
                    }
                })
            },
            || {
                let con = hand_con.clone();
                timed_seq(seq, move |i| {
                    let con = con.clone();
                    async move {
                        let mut con = con.lock().unwrap();
                        let reply: Value = redis::cmd("HGETALL")
                            .arg(format!("{HASH_PREFIX}u{i:06}"))
                            .query(&mut *con)
                            .unwrap();
                        black_box(hand_decode_hash(&reply).unwrap());
                    }
                })
            },
        )
        .await;
    bench
        .compare(
            "get, sequential: async multiplexed vs blocking (om both)",
            "ops/s",
            "left: AsyncModel::get on a MultiplexedConnection; right: SyncModel::get on a redis::Connection",
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        black_box(
                            UserReadCache::get(&mut con, format!("u{i:06}"))
                                .await
                                .unwrap(),
                        );
                    }
                })
            },
            || {
                let con = om_con.clone();
                timed_seq(seq, move |i| {
                    let con = con.clone();
                    async move {
                        let mut con = con.lock().unwrap();
                        black_box(
                            <UserReadCache as redis_om::blocking::SyncModel>::get(
                                &mut *con,
                                format!("u{i:06}"),
                            )
                            .unwrap(),
                        );
                    }
                })
            },
        )
        .await;
    bench
        .compare(
            "find(email eq).first(), sequential (hash)",
            "ops/s",
            "FT.SEARCH @email:{$p0} LIMIT 0 1 PARAMS DIALECT 2",
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let email = format!("user{i}@example.com");
                        let u = UserReadCache::find(|u| u.email.eq(email.as_str()))
                            .first(&mut con)
                            .await
                            .unwrap();
                        black_box(u);
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let reply: Value = hand_find_cmd(&format!("user{i}@example.com"))
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        black_box(hand_first_of_search(&reply).unwrap());
                    }
                })
            },
        )
        .await;
    bench
        .compare(
            "get, sequential (json)",
            "ops/s",
            "JSON.GET + serde",
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        black_box(UserDoc::get(&mut con, format!("u{i:06}")).await.unwrap());
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(seq, move |i| {
                    let mut con = con.clone();
                    async move {
                        let raw: Vec<u8> = redis::cmd("JSON.GET")
                            .arg(format!("{JSON_PREFIX}u{i:06}"))
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        black_box(serde_json::from_slice::<UserDoc>(&raw).unwrap());
                    }
                })
            },
        )
        .await;

    // --- 64 tasks on one multiplexed connection.
    let n = seq as i64;
    bench
        .compare(
            "save, 64 tasks on one connection (hash)",
            "ops/s",
            "",
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let mut u = user(i as i64 % n);
                    black_box(u.save(&mut con).await.unwrap());
                })
            },
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let u = user(i as i64 % n);
                    let _: () = hand_hset(&u).query_async(&mut con).await.unwrap();
                })
            },
        )
        .await;
    bench
        .compare(
            "get, 64 tasks on one connection (hash)",
            "ops/s",
            "",
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let pk = format!("u{:06}", i as i64 % n);
                    black_box(UserReadCache::get(&mut con, pk).await.unwrap());
                })
            },
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let reply: Value = con
                        .hgetall(format!("{HASH_PREFIX}u{:06}", i as i64 % n))
                        .await
                        .unwrap();
                    black_box(hand_decode_hash(&reply).unwrap());
                })
            },
        )
        .await;
    bench
        .compare(
            "find(email eq).first(), 64 tasks (hash)",
            "ops/s",
            "",
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let email = format!("user{}@example.com", i as i64 % n);
                    let u = UserReadCache::find(|u| u.email.eq(email.as_str()))
                        .first(&mut con)
                        .await
                        .unwrap();
                    black_box(u);
                })
            },
            || {
                timed_concurrent(&c, tasks, per_task, move |mut con, i| async move {
                    let reply: Value = hand_find_cmd(&format!("user{}@example.com", i as i64 % n))
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    black_box(hand_first_of_search(&reply).unwrap());
                })
            },
        )
        .await;

    // --- Bulk: pipelined in chunks of 1,000.
    let users: Vec<UserReadCache> = (0..bulk as i64).map(user).collect();
    bench
        .compare(
            &format!("save_all {bulk} (hash), docs/s"),
            "docs/s",
            "pipelines of 1,000 HSET",
            || {
                let mut con = c.clone();
                let mut users = users.clone();
                async move {
                    let (start, cpu) = (Instant::now(), cpu_time());
                    UserReadCache::save_all(&mut con, &mut users).await.unwrap();
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
            || {
                let mut con = c.clone();
                let users = users.clone();
                async move {
                    let (start, cpu) = (Instant::now(), cpu_time());
                    for chunk in users.chunks(1_000) {
                        let mut pipe = redis::pipe();
                        for u in chunk {
                            pipe.add_command(hand_hset(u));
                        }
                        let _: Vec<Value> = pipe.query_async(&mut con).await.unwrap();
                    }
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
        )
        .await;
    let pks: Vec<String> = (0..bulk).map(|i| format!("u{i:06}")).collect();
    bench
        .compare(
            &format!("get_many {bulk} (hash), docs/s"),
            "docs/s",
            "pipelines of 1,000 HGETALL + decode",
            || {
                let mut con = c.clone();
                let pks = pks.clone();
                async move {
                    let (start, cpu) = (Instant::now(), cpu_time());
                    let got = UserReadCache::get_many(&mut con, &pks).await.unwrap();
                    assert_eq!(got.len(), bulk);
                    black_box(got);
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
            || {
                let mut con = c.clone();
                let pks = pks.clone();
                async move {
                    let (start, cpu) = (Instant::now(), cpu_time());
                    let mut out = Vec::with_capacity(bulk);
                    for chunk in pks.chunks(1_000) {
                        let mut pipe = redis::pipe();
                        for pk in chunk {
                            pipe.hgetall(format!("{HASH_PREFIX}{pk}"));
                        }
                        let replies: Vec<Value> = pipe.query_async(&mut con).await.unwrap();
                        out.extend(replies.iter().map(|r| hand_decode_hash(r).unwrap()));
                    }
                    assert_eq!(out.len(), bulk);
                    black_box(out);
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
        )
        .await;

    // --- JSON bulk: the per-document pipelines, against the same pipelines
    // written by hand and against the multi-key commands (JSON.MSET/MGET,
    // RedisJSON 2.6+), to choose between them.
    let json_docs: Vec<UserDoc> = (0..bulk as i64).map(doc).collect();
    let save_all_json = |con: MultiplexedConnection, docs: Vec<UserDoc>| async move {
        let (mut con, mut docs) = (con, docs);
        let (start, cpu) = (Instant::now(), cpu_time());
        UserDoc::save_all(&mut con, &mut docs).await.unwrap();
        Run {
            ops: bulk,
            elapsed: start.elapsed(),
            cpu: cpu_time() - cpu,
            lat: Vec::new(),
        }
    };
    for (name, mset) in [
        ("pipelines of 1,000 JSON.SET", false),
        ("JSON.MSET of 1,000", true),
    ] {
        bench
            .compare(
                &format!("save_all {bulk} (json) vs {name}"),
                "docs/s",
                name,
                || save_all_json(c.clone(), json_docs.clone()),
                || {
                    let mut con = c.clone();
                    let docs = json_docs.clone();
                    async move {
                        let (start, cpu) = (Instant::now(), cpu_time());
                        for chunk in docs.chunks(1_000) {
                            if mset {
                                let mut cmd = redis::cmd("JSON.MSET");
                                for d in chunk {
                                    let key = format!("{JSON_PREFIX}{}", d.pk.as_deref().unwrap());
                                    cmd.arg(key).arg("$").arg(serde_json::to_vec(d).unwrap());
                                }
                                let _: Value = cmd.query_async(&mut con).await.unwrap();
                            } else {
                                let mut pipe = redis::pipe();
                                for d in chunk {
                                    let key = format!("{JSON_PREFIX}{}", d.pk.as_deref().unwrap());
                                    pipe.cmd("JSON.SET")
                                        .arg(key)
                                        .arg("$")
                                        .arg(serde_json::to_vec(d).unwrap());
                                }
                                let _: Vec<Value> = pipe.query_async(&mut con).await.unwrap();
                            }
                        }
                        Run {
                            ops: bulk,
                            elapsed: start.elapsed(),
                            cpu: cpu_time() - cpu,
                            lat: Vec::new(),
                        }
                    }
                },
            )
            .await;
    }
    for (name, mget) in [
        ("pipelines of 1,000 JSON.GET", false),
        ("JSON.MGET of 1,000", true),
    ] {
        bench
            .compare(
                &format!("get_many {bulk} (json) vs {name}"),
                "docs/s",
                name,
                || {
                    let mut con = c.clone();
                    let pks = pks.clone();
                    async move {
                        let (start, cpu) = (Instant::now(), cpu_time());
                        let got = UserDoc::get_many(&mut con, &pks).await.unwrap();
                        assert_eq!(got.len(), bulk);
                        black_box(got);
                        Run {
                            ops: bulk,
                            elapsed: start.elapsed(),
                            cpu: cpu_time() - cpu,
                            lat: Vec::new(),
                        }
                    }
                },
                || {
                    let mut con = c.clone();
                    let pks = pks.clone();
                    async move {
                        let (start, cpu) = (Instant::now(), cpu_time());
                        let mut out: Vec<Option<UserDoc>> = Vec::with_capacity(bulk);
                        for chunk in pks.chunks(1_000) {
                            let texts: Vec<Option<Vec<u8>>> = if mget {
                                let mut cmd = redis::cmd("JSON.MGET");
                                for pk in chunk {
                                    cmd.arg(format!("{JSON_PREFIX}{pk}"));
                                }
                                cmd.arg("$").query_async(&mut con).await.unwrap()
                            } else {
                                let mut pipe = redis::pipe();
                                for pk in chunk {
                                    pipe.cmd("JSON.GET").arg(format!("{JSON_PREFIX}{pk}"));
                                }
                                pipe.query_async(&mut con).await.unwrap()
                            };
                            out.extend(texts.into_iter().map(|t| {
                                t.map(|t| {
                                    if mget {
                                        let mut v: Vec<UserDoc> =
                                            serde_json::from_slice(&t).unwrap();
                                        v.remove(0)
                                    } else {
                                        serde_json::from_slice(&t).unwrap()
                                    }
                                })
                            }));
                        }
                        assert_eq!(out.len(), bulk);
                        black_box(out);
                        Run {
                            ops: bulk,
                            elapsed: start.elapsed(),
                            cpu: cpu_time() - cpu,
                            lat: Vec::new(),
                        }
                    }
                },
            )
            .await;
    }

    // --- delete_many against hand-written pipelines of DEL (the documents
    // are written again, untimed, before each run).
    let delete_docs: Vec<UserReadCache> = (0..bulk as i64).map(user).collect();
    bench
        .compare(
            &format!("delete_many {bulk} (hash), docs/s"),
            "docs/s",
            "pipelines of 1,000 DEL",
            || {
                let mut con = c.clone();
                let mut docs = delete_docs.clone();
                let pks = pks.clone();
                async move {
                    UserReadCache::save_all(&mut con, &mut docs).await.unwrap();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    let n = UserReadCache::delete_many(&mut con, &pks).await.unwrap();
                    assert_eq!(n, bulk as u64);
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
            || {
                let mut con = c.clone();
                let mut docs = delete_docs.clone();
                let pks = pks.clone();
                async move {
                    UserReadCache::save_all(&mut con, &mut docs).await.unwrap();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    let mut n = 0i64;
                    for chunk in pks.chunks(1_000) {
                        let mut pipe = redis::pipe();
                        for pk in chunk {
                            pipe.del(format!("{HASH_PREFIX}{pk}"));
                        }
                        let counts: Vec<i64> = pipe.query_async(&mut con).await.unwrap();
                        n += counts.iter().sum::<i64>();
                    }
                    assert_eq!(n, bulk as i64);
                    Run {
                        ops: bulk,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat: Vec::new(),
                    }
                }
            },
        )
        .await;
    // The later workloads read these documents.
    UserReadCache::save_all(&mut con, &mut delete_docs.clone())
        .await
        .unwrap();

    // --- Partial update against re-saving the whole document, and
    // delete_many against hand-written pipelines of DEL.
    let update_runs = if quick { 500 } else { 2_000 };
    bench
        .compare(
            "update one field vs save whole doc (hash)",
            "ops/s",
            "om: update (1 Lua call); hand: HSET of the whole document",
            || {
                let con = c.clone();
                timed_seq(update_runs, move |i| {
                    let mut con = con.clone();
                    async move {
                        let pk = format!("u{:06}", i % bulk);
                        black_box(
                            UserReadCache::update(&mut con, &pk, |u| u.name.set(format!("n{i}")))
                                .await
                                .unwrap(),
                        );
                    }
                })
            },
            || {
                let con = c.clone();
                let users = users.clone();
                timed_seq(update_runs, move |i| {
                    let mut con = con.clone();
                    let mut u = users[i % bulk].clone();
                    async move {
                        u.name = format!("n{i}");
                        let _: Value = hand_hset(&u).query_async(&mut con).await.unwrap();
                    }
                })
            },
        )
        .await;

    // --- Search over the bulk set: a sorted page, and 25,000 results.
    fill(&mut con, bulk).await;
    let page_runs = if quick { 30 } else { 100 };
    bench
        .compare(
            &format!("find page of 10 sorted by id, over {bulk}"),
            "ops/s",
            "FT.SEARCH * SORTBY id DESC LIMIT off 10",
            || {
                let con = c.clone();
                timed_seq(page_runs, move |i| {
                    let mut con = con.clone();
                    async move {
                        let page = UserReadCache::find_all()
                            .sort_by(|u| u.id, SortOrder::Desc)
                            .page(&mut con, (i % 100) as u64 * 10, 10)
                            .await
                            .unwrap();
                        assert_eq!(page.len(), 10);
                        black_box(page);
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(page_runs, move |i| {
                    let mut con = con.clone();
                    async move {
                        let reply: Value = redis::cmd("FT.SEARCH")
                            .arg(HASH_INDEX)
                            .arg("*")
                            .arg("SORTBY")
                            .arg("id")
                            .arg("DESC")
                            .arg("LIMIT")
                            .arg((i % 100) * 10)
                            .arg(10)
                            .arg("DIALECT")
                            .arg(2)
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        let docs: Vec<UserReadCache> = match &reply {
                            Value::Array(items) => items[1..]
                                .chunks_exact(2)
                                .map(|p| hand_decode_hash(&p[1]).unwrap())
                                .collect(),
                            _ => panic!("reply"),
                        };
                        assert_eq!(docs.len(), 10);
                        black_box(docs);
                    }
                })
            },
        )
        .await;
    let big_runs = 1;
    bench
        .compare(
            &format!("find(id < {big}).all(): {big} docs, docs/s"),
            "docs/s",
            "FT.AGGREGATE LOAD … WITHCURSOR COUNT 1000 + FT.CURSOR READ",
            || {
                let mut con = c.clone();
                async move {
                    let mut lat = Vec::new();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    for _ in 0..big_runs {
                        let t = Instant::now();
                        let all = UserReadCache::find(|u| u.id.lt(big as i64))
                            .all(&mut con)
                            .await
                            .unwrap();
                        assert_eq!(all.len(), big);
                        black_box(all);
                        lat.push(t.elapsed());
                    }
                    Run {
                        ops: big * big_runs,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat,
                    }
                }
            },
            || {
                let mut con = c.clone();
                async move {
                    let mut lat = Vec::new();
                    let (start, cpu) = (Instant::now(), cpu_time());
                    for _ in 0..big_runs {
                        let t = Instant::now();
                        let all = hand_aggregate_all(&mut con, big as i64).await;
                        assert_eq!(all.len(), big);
                        black_box(all);
                        lat.push(t.elapsed());
                    }
                    Run {
                        ops: big * big_runs,
                        elapsed: start.elapsed(),
                        cpu: cpu_time() - cpu,
                        lat,
                    }
                }
            },
        )
        .await;

    // --- Vector search: the 10 nearest of 10,000 vectors (dim 64, FLAT, cosine).
    let vec_docs = if quick { 2_000 } else { 10_000 };
    Migrator::new()
        .model::<VecDoc>()
        .run(&mut con)
        .await
        .unwrap();
    clear(&mut con, VEC_PREFIX).await;
    let mut docs: Vec<VecDoc> = (0..vec_docs as u64)
        .map(|i| VecDoc {
            pk: Some(format!("v{i:06}")),
            group: (i % 4).to_string(),
            v: bench_vector(i),
        })
        .collect();
    VecDoc::save_all(&mut con, &mut docs).await.unwrap();
    let knn_runs = if quick { 100 } else { 300 };
    bench
        .compare(
            &format!("knn(10) of {vec_docs} vectors (dim 64, FLAT cosine), sequential"),
            "ops/s",
            "FT.SEARCH *=>[KNN 10 @v $vec] SORTBY dist PARAMS DIALECT 2",
            || {
                let con = c.clone();
                timed_seq(knn_runs, move |i| {
                    let mut con = con.clone();
                    let query = bench_vector(1_000_000 + i as u64);
                    async move {
                        let found = VecDoc::find_all()
                            .knn(|d| d.v, &query, 10)
                            .all(&mut con)
                            .await
                            .unwrap();
                        assert_eq!(found.len(), 10);
                        black_box(found);
                    }
                })
            },
            || {
                let con = c.clone();
                timed_seq(knn_runs, move |i| {
                    let mut con = con.clone();
                    let query = bench_vector(1_000_000 + i as u64);
                    async move {
                        let reply: Value = hand_knn_cmd(&query, 10)
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        let found = hand_knn_decode(&reply);
                        assert_eq!(found.len(), 10);
                        black_box(found);
                    }
                })
            },
        )
        .await;
    clear(&mut con, VEC_PREFIX).await;

    // --- Memory: all() holds every document; stream() one batch.
    let memory = {
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let all = UserReadCache::find(|u| u.id.lt(big as i64))
            .all(&mut con)
            .await
            .unwrap();
        let all_peak = PEAK.load(Relaxed) - base;
        assert_eq!(all.len(), big);
        drop(all);
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let mut seen = 0;
        {
            let mut stream =
                std::pin::pin!(UserReadCache::find(|u| u.id.lt(big as i64)).stream(&mut con));
            while let Some(u) = stream.next().await {
                black_box(u.unwrap());
                seen += 1;
            }
        }
        let stream_peak = PEAK.load(Relaxed) - base;
        assert_eq!(seen, big);
        Memory {
            documents: big,
            all_peak_bytes: all_peak,
            stream_peak_bytes: stream_peak,
        }
    };
    println!(
        "peak heap over {} documents: all() {:.1} MiB, stream() {:.1} MiB",
        memory.documents,
        memory.all_peak_bytes as f64 / 1048576.0,
        memory.stream_peak_bytes as f64 / 1048576.0
    );

    let codec = codec_costs(quick);
    let report = Report {
        server,
        runs,
        machine: machine(),
        workloads: bench.rows,
        codec,
        memory,
    };
    if let Some(dir) = std::path::Path::new(&json_path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {json_path}");
    clear(&mut con, HASH_PREFIX).await;
    clear(&mut con, JSON_PREFIX).await;
}

/// Hand-written: every match through an aggregate cursor, decoded, with the
/// values as stored.
async fn hand_aggregate_all(con: &mut MultiplexedConnection, below: i64) -> Vec<UserReadCache> {
    let mut out = Vec::new();
    let mut reply: Value = redis::cmd("FT.AGGREGATE")
        .arg(HASH_INDEX)
        .arg(format!("@id:[-inf ({below}]"))
        // Exact values: `LOAD @id` would render the NUMERIC id with 12 digits.
        .arg("LOAD")
        .arg("*")
        .arg("LOAD")
        .arg(1)
        .arg("@__key")
        .arg("WITHCURSOR")
        .arg("COUNT")
        .arg(1000)
        .arg("DIALECT")
        .arg(2)
        .query_async(con)
        .await
        .unwrap();
    loop {
        let Value::Array(parts) = &reply else {
            panic!("reply")
        };
        let Value::Array(rows) = &parts[0] else {
            panic!("rows")
        };
        out.extend(rows[1..].iter().map(|r| hand_decode_hash(r).unwrap()));
        let cursor = match &parts[1] {
            Value::Int(c) => *c,
            _ => panic!("cursor"),
        };
        if cursor == 0 {
            return out;
        }
        reply = redis::cmd("FT.CURSOR")
            .arg("READ")
            .arg(HASH_INDEX)
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await
            .unwrap();
    }
}

fn codec_costs(quick: bool) -> Vec<CodecRow> {
    let iters = if quick { 100_000 } else { 500_000 };
    let users: Vec<UserReadCache> = (0..1000).map(user).collect();
    let docs: Vec<UserDoc> = (0..1000).map(doc).collect();
    let hash_replies: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut items = Vec::new();
            for (k, v) in [
                ("pk", u.pk.clone().unwrap()),
                ("id", u.id.to_string()),
                ("name", u.name.clone()),
                ("email", u.email.clone()),
                ("avatar", u.avatar.clone().unwrap()),
            ] {
                items.push(Value::BulkString(k.as_bytes().to_vec()));
                items.push(Value::BulkString(v.into_bytes()));
            }
            Value::Array(items)
        })
        .collect();
    let json_texts: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap())
        .collect();
    let mut rows = Vec::new();
    let mut row = |what: &str, (om, hand): ((f64, f64), (f64, f64))| {
        println!(
            "{what:<44} {:>9.1} ns {:>9.1} ns {:>7.3}  allocs {:.1}/{:.1}",
            om.0,
            hand.0,
            om.0 / hand.0,
            om.1,
            hand.1
        );
        rows.push(CodecRow {
            what: what.into(),
            om_ns: om.0,
            hand_ns: hand.0,
            ratio: om.0 / hand.0,
            om_allocs: om.1,
            hand_allocs: hand.1,
        });
    };
    println!(
        "{:<44} {:>12} {:>12} {:>7}",
        "per call (no server)", "redis-om", "redis-rs", "ratio"
    );
    row(
        "encode hash model into its HSET command",
        compare_calls(
            iters,
            |i| {
                let u = &users[i % 1000];
                let key = UserReadCache::key_layout().key(u.pk.as_deref().unwrap());
                let mut cmd = redis::cmd("HSET");
                cmd.arg(&key);
                if let redis_om::__private::Encoded::Hash(fields) = u.encode().unwrap() {
                    for (name, value) in fields.set() {
                        cmd.arg(*name).arg(value);
                    }
                }
                cmd
            },
            |i| hand_hset(&users[i % 1000]),
        ),
    );
    row(
        "decode hash reply into the model",
        compare_calls(
            iters,
            |i| UserReadCache::decode("k", Stored::Hash(&hash_replies[i % 1000])).unwrap(),
            |i| hand_decode_hash(&hash_replies[i % 1000]).unwrap(),
        ),
    );
    row(
        "encode JSON model",
        compare_calls(
            iters,
            |i| docs[i % 1000].encode().map(|_| ()).unwrap(),
            |i| serde_json::to_vec(&docs[i % 1000]).unwrap(),
        ),
    );
    row(
        "decode JSON document into the model",
        compare_calls(
            iters,
            |i| UserDoc::decode("k", Stored::Json(&json_texts[i % 1000])).unwrap(),
            |i| serde_json::from_slice::<UserDoc>(&json_texts[i % 1000]).unwrap(),
        ),
    );
    let emails: Vec<String> = (0..1000).map(|i| format!("user{i}@example.com")).collect();
    row(
        "build a find(eq) query string and params",
        compare_calls(
            iters,
            |i| {
                UserReadCache::find(|u| u.email.eq(emails[i % 1000].as_str()))
                    .to_query()
                    .unwrap()
            },
            |i| {
                (
                    String::from("@email:{$p0}"),
                    vec![("p0", emails[i % 1000].clone())],
                )
            },
        ),
    );
    rows
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cores} cores")
}
