//! Connections fail fast (issue 11): a closed port, a server that goes away
//! and comes back, a server that requires a password. The tests that stop a
//! server start their own (ports 17610–17619, or from `REDIS_OM_FAIL_FAST_PORT`).

mod common;

use std::time::{Duration, Instant};

use redis_om::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FastDoc")]
struct FastDoc {
    pk: String,
    n: u64,
}

/// A generous bound: the defaults fail in about 1 s (connect) or at once
/// (refused); redis-rs's own defaults took 9.45 s.
const BOUND: Duration = Duration::from_secs(3);

/// A port nobody listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_fast() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let err = redis_om::connect(url.as_str()).await.unwrap_err();
    let took = started.elapsed();
    println!("connect_to(closed port) failed in {took:?}: {err}");
    assert!(took < BOUND, "took {took:?}");
    assert!(err.is_connection_error(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_the_server_is_down_and_the_first_after_it_returns_succeeds() {
    let server = common::Server::fresh(common::env_port("REDIS_OM_FAIL_FAST_PORT", 17610) + 1, &[]);
    let mut con = redis_om::connect(server.url()).await.unwrap();
    FastDoc {
        pk: "a".into(),
        n: 1,
    }
    .save(&mut con)
    .await
    .unwrap();

    server.stop();
    let mut slowest = Duration::ZERO;
    for n in 0..5 {
        let started = Instant::now();
        let result = FastDoc::get(&mut con, "a").await;
        let took = started.elapsed();
        slowest = slowest.max(took);
        let err = result.expect_err("the server is down");
        assert!(
            err.is_connection_error() || err.is_timeout(),
            "call {n}: {err:?}"
        );
        assert!(took < BOUND, "call {n} took {took:?}: {err}");
        // Queries and bulk calls too.
        let started = Instant::now();
        assert!(FastDoc::get_many(&mut con, ["a"]).await.is_err());
        assert!(
            started.elapsed() < BOUND,
            "get_many took {:?}",
            started.elapsed()
        );
    }
    println!("while the server was down, the slowest call took {slowest:?}");

    server.start();
    // No call in between: the very first one after the restart must succeed.
    let started = Instant::now();
    let saved = FastDoc {
        pk: "b".into(),
        n: 2,
    }
    .save(&mut con)
    .await;
    println!(
        "first call after the restart: {:?} in {:?}",
        saved.as_ref().map(|_| "ok"),
        started.elapsed()
    );
    assert_eq!(saved.unwrap(), "b");
    assert_eq!(FastDoc::get(&mut con, "b").await.unwrap().n, 2);
}

#[tokio::test]
async fn connecting_without_the_password_a_server_requires_fails_at_connect() {
    let with_password = common::env_url("REDIS_OM_PASSWORD_URL");
    let host = with_password
        .rsplit_once('@')
        .map(|(_, host)| host)
        .expect("the password URL has user info");
    let url = format!("redis://{host}");
    let started = Instant::now();
    let err = redis_om::connect(url.as_str()).await.unwrap_err();
    assert!(started.elapsed() < BOUND);
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("requires a password") && text.contains("redis://:password@"),
        "{text}"
    );
    // With it, the same server works.
    assert!(redis_om::connect(with_password.as_str()).await.is_ok());
    // The blocking connection too.
    match redis_om::blocking::connect(url.as_str()) {
        Err(Error::Config(text)) => assert!(text.contains("requires a password"), "{text}"),
        Err(other) => panic!("expected Config, got {other:?}"),
        Ok(_) => panic!("connect_sync_to without the password succeeded"),
    }
    assert!(redis_om::blocking::connect(with_password.as_str()).is_ok());
}

/// A server that accepts connections but never answers (a hung process, a
/// wrong port behind a proxy): both connect functions give up in about the
/// connection timeout (blocking::connect took 20 s before).
#[tokio::test]
async fn a_server_that_never_answers_fails_fast_at_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    // Accept and hold the connections, never writing a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    // About 2 s (opening, then the check, 1 s each); before: 20 s blocking.
    let bound = Duration::from_secs(6);
    let t = Instant::now();
    let err = redis_om::connect(url.as_str()).await.unwrap_err();
    println!("async connect gave up after {:?}: {err}", t.elapsed());
    assert!(t.elapsed() < bound, "took {:?}", t.elapsed());
    let url2 = url.clone();
    let (elapsed, err) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let err = redis_om::blocking::connect(url2.as_str())
            .err()
            .expect("a mute server cannot be connected to");
        (t.elapsed(), err)
    })
    .await
    .unwrap();
    println!("blocking connect gave up after {elapsed:?}: {err}");
    assert!(elapsed < bound, "took {elapsed:?}");
    assert!(err.is_timeout() || err.is_connection_error(), "{err:?}");
}
