//! The service over HTTP: each test starts its own instance on an ephemeral
//! port, with its own in-memory SQLite database, namespace and range of ids,
//! against this binary's Redis (port 16442, see `redis_url`); the outage
//! test starts and stops its own Redis on port 16441.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cache_service::{serve, CacheLevels, Config, User};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// The service's Redis: a server of this test binary's own (port
/// `REDIS_OM_SERVICE_PORT`, default 16442), started once, so that the
/// crate's own tests, whose `UserReadCache` model has another schema under
/// the same index name, never share its index (on a server reused by a
/// rerun, one of them would find the other's schema live).
fn redis_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let port = std::env::var("REDIS_OM_SERVICE_PORT").unwrap_or_else(|_| "16442".to_owned());
        redis_stack(&["start", "--port", &port]);
        format!("redis://127.0.0.1:{port}")
    })
    .clone()
}

fn config() -> Config {
    Config {
        redis_url: redis_url(),
        database_url: "sqlite::memory:".to_owned(),
        ..Config::default()
    }
    .fresh()
}

struct Api {
    base: String,
    client: Client,
}

struct Read {
    status: StatusCode,
    source: String,
    user: Option<User>,
}

async fn start(config: Config) -> Api {
    // The service's log goes to the output of the test that started it,
    // shown when that test fails (RUST_LOG overrides the filter).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "cache_service=info,redis_om_core=warn".into()),
        )
        .with_test_writer()
        .try_init();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, config));
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Api { base, client }
}

fn source(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

impl Api {
    async fn create(&self, name: &str, email: &str) -> User {
        let response = self
            .client
            .post(format!("{}/users", self.base))
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn get(&self, id: i64) -> Read {
        let response = self
            .client
            .get(format!("{}/users/{id}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let source = source(&response);
        let user = if status == StatusCode::OK {
            Some(response.json().await.unwrap())
        } else {
            None
        };
        Read {
            status,
            source,
            user,
        }
    }

    async fn put(&self, id: i64, name: &str, email: &str) -> StatusCode {
        self.client
            .put(format!("{}/users/{id}", self.base))
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn delete(&self, id: i64) -> StatusCode {
        self.client
            .delete(format!("{}/users/{id}", self.base))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn search(&self, query: &[(&str, &str)]) -> (String, Vec<User>) {
        let response = self
            .client
            .get(format!("{}/users", self.base))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let source = source(&response);
        (source, response.json().await.unwrap())
    }

    /// Searches until the answer comes from Redis (the table was loaded).
    async fn search_warm(&self, query: &[(&str, &str)]) -> Vec<User> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (source, users) = self.search(query).await;
            if source == "hit-redis" {
                return users;
            }
            assert_eq!(source, "miss");
            assert!(
                Instant::now() < deadline,
                "the search never came from Redis"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_twice_update_delete() {
    let api = start(config()).await;
    let ada = api.create("Ada", "ada@example.com").await;
    assert_eq!((ada.name.as_str(), ada.version), ("Ada", 1));

    let first = api.get(ada.id).await;
    assert_eq!(
        (first.status, first.source.as_str()),
        (StatusCode::OK, "miss")
    );
    assert_eq!(first.user.as_ref(), Some(&ada));
    let second = api.get(ada.id).await;
    assert!(
        ["hit-redis", "hit-l1"].contains(&second.source.as_str()),
        "{}",
        second.source
    );
    assert_eq!(second.user.as_ref(), Some(&ada));
    let third = api.get(ada.id).await;
    assert_eq!(third.source, "hit-l1");
    assert_eq!(third.user.as_ref(), Some(&ada));

    // Never stale after an update returns, whatever answers.
    assert_eq!(
        api.put(ada.id, "Ada Lovelace", "ada@example.com").await,
        StatusCode::OK
    );
    for _ in 0..3 {
        let read = api.get(ada.id).await;
        let user = read.user.expect("updated user");
        assert_eq!(
            (user.name.as_str(), user.version),
            ("Ada Lovelace", 2),
            "{}",
            read.source
        );
    }
    assert_eq!(api.get(ada.id).await.source, "hit-l1");

    assert_eq!(api.delete(ada.id).await, StatusCode::NO_CONTENT);
    for _ in 0..2 {
        let gone = api.get(ada.id).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.source);
        assert_ne!(gone.source, "miss", "the tombstone answers");
    }
    assert_eq!(api.delete(ada.id).await, StatusCode::NOT_FOUND);
    assert_eq!(
        api.put(ada.id, "X", "x@example.com").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(ada.id + 1000).await.status, StatusCode::NOT_FOUND);

    api.create("Bea", "bea@example.com").await;
    let taken = api
        .client
        .post(format!("{}/users", api.base))
        .json(&json!({ "name": "Other", "email": "bea@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let empty = api
        .client
        .post(format!("{}/users", api.base))
        .json(&json!({ "name": "", "email": "e@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let metrics = api.json("/metrics").await;
    assert!(metrics["l1_hits"].as_u64().unwrap() >= 2, "{metrics}");
    assert!(metrics["redis_hits"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(
        metrics["latency_ms"]["hit-l1"]["p99"].is_number(),
        "{metrics}"
    );
    let health = api.json("/health").await;
    assert_eq!(health["redis"], "ok", "{health}");
    assert_eq!(health["degraded"], false, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_from_sql_then_from_redis() {
    let api = start(config()).await;
    let g1 = api.create("Grace", "grace1@example.com").await;
    let g2 = api.create("Grace", "grace2@example.com").await;
    let alan = api.create("Alan", "alan@example.com").await;

    let by_name = [("name", "Grace")];
    let (cold_source, cold) = api.search(&by_name).await;
    assert_eq!(cold_source, "miss");
    assert_eq!(cold, vec![g1.clone(), g2.clone()]);
    assert_eq!(api.search_warm(&by_name).await, cold);

    let (source, by_email) = api.search(&[("email", "alan@example.com")]).await;
    assert_eq!(
        (source.as_str(), by_email),
        ("hit-redis", vec![alan.clone()])
    );
    let (_, both) = api
        .search(&[("name", "Grace"), ("email", "grace2@example.com")])
        .await;
    assert_eq!(both, vec![g2.clone()]);
    let (_, none) = api.search(&[("name", "Nobody")]).await;
    assert!(none.is_empty());

    // Writes keep the loaded set complete: a create, an update, a delete.
    let g3 = api.create("Grace", "grace3@example.com").await;
    assert_eq!(
        api.put(alan.id, "Grace", "alan@example.com").await,
        StatusCode::OK
    );
    assert_eq!(api.delete(g1.id).await, StatusCode::NO_CONTENT);
    let (source, warm) = api.search(&by_name).await;
    assert_eq!(source, "hit-redis");
    let ids: Vec<i64> = warm.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![g2.id, alan.id, g3.id]);
    assert_eq!(warm[1].version, 2);

    let metrics = api.json("/metrics").await;
    assert!(
        metrics["searches"]["redis"].as_u64().unwrap() >= 3,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_with_their_ttl() {
    let api = start(Config {
        cache_ttl: Duration::from_secs(1),
        ..config()
    })
    .await;
    let user = api.create("Tess", "tess@example.com").await;
    assert_eq!(api.get(user.id).await.source, "miss");
    assert_ne!(api.get(user.id).await.source, "miss");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = api.get(user.id).await;
    assert_eq!(expired.source, "miss");
    assert_eq!(expired.user, Some(user.clone()));
    assert_ne!(api.get(user.id).await.source, "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cache_levels_everything_is_sql() {
    let none = start(Config {
        levels: CacheLevels::None,
        ..config()
    })
    .await;
    let user = none.create("Nils", "nils@example.com").await;
    for _ in 0..3 {
        let read = none.get(user.id).await;
        assert_eq!(
            (read.source.as_str(), read.user.as_ref()),
            ("miss", Some(&user))
        );
    }
    assert_eq!(none.search(&[("name", "Nils")]).await.0, "miss");
    assert_eq!(none.json("/health").await["redis"], "disabled");

    let redis_only = start(Config {
        levels: CacheLevels::RedisOnly,
        ..config()
    })
    .await;
    let user = redis_only.create("Rita", "rita@example.com").await;
    let sources: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(redis_only.get(user.id).await.source);
        }
        v
    };
    assert_eq!(sources, ["miss", "hit-redis", "hit-redis"]);
}

const OUTAGE_PORT: u16 = 16441;
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/redis-stack");

fn redis_stack(args: &[&str]) {
    let output = Command::new(SCRIPT).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "scripts/redis-stack {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Stops the test's own Redis however the test ends.
struct OwnRedis;

impl OwnRedis {
    /// A server without data: what an earlier run left (its data, kept by
    /// `--persist`, or a server it could not stop) is removed first, so that
    /// every run starts as on a fresh clone (the index is created, not found).
    fn start() -> OwnRedis {
        let _ = Command::new(SCRIPT)
            .args(["stop", "--port", &OUTAGE_PORT.to_string()])
            .output();
        let run = std::env::var_os("REDIS_OM_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/redis-stack")
            })
            .join("run")
            .join(OUTAGE_PORT.to_string());
        let _ = std::fs::remove_dir_all(run);
        // --persist: the server comes back with what it held, including the
        // entry of the user updated during the outage, which must not be
        // served.
        redis_stack(&["start", "--port", &OUTAGE_PORT.to_string(), "--persist"]);
        OwnRedis
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT)
            .args(["stop", "--port", &OUTAGE_PORT.to_string()])
            .output();
    }
}

/// Holds the commands of every client of the server at `url` for `pause`.
fn pause_server(url: &str, pause: Duration) {
    let mut con = redis_om::redis::Client::open(url)
        .unwrap()
        .get_connection()
        .unwrap();
    redis_om::redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("ALL")
        .query::<()>(&mut con)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_served_from_sql_and_recovers() {
    let _redis = OwnRedis::start();
    let url = format!("redis://127.0.0.1:{OUTAGE_PORT}");
    // The server answers nothing for half a second while the service starts
    // (as a cold server or a slow disk can): slow is not down. The service
    // used to run its index migrator on the cache's connection, where every
    // command times out after REDIS_TIMEOUT_MS (200 ms) whatever the
    // migrator's own deadline, so it started with Redis marked down and
    // answered the reads below from SQL: ["miss", "miss", "miss"].
    pause_server(&url, Duration::from_millis(500));
    let api = start(Config {
        redis_url: url,
        ..config()
    })
    .await;
    let user = api.create("Olga", "olga@example.com").await;
    let sources = [
        api.get(user.id).await.source,
        api.get(user.id).await.source,
        api.get(user.id).await.source,
    ];
    assert_eq!(sources, ["miss", "hit-redis", "hit-l1"]);

    redis_stack(&["stop", "--port", &OUTAGE_PORT.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.json("/health").await["degraded"] != true {
        assert!(Instant::now() < deadline, "never degraded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        let started = Instant::now();
        let read = api.get(user.id).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            (read.status, read.source.as_str()),
            (StatusCode::OK, "miss")
        );
        assert_eq!(read.user.as_ref(), Some(&user));
    }
    let started = Instant::now();
    assert_eq!(
        api.put(user.id, "Olga II", "olga@example.com").await,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let other = api.create("Otto", "otto@example.com").await;
    let started = Instant::now();
    let (source, found) = api.search(&[("name", "Olga II")]).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(source, "miss");
    assert_eq!(found.len(), 1);
    let read = api.get(user.id).await;
    assert_eq!(read.source, "miss");
    assert_eq!(read.user.as_ref().map(|u| u.name.as_str()), Some("Olga II"));
    let health = api.json("/health").await;
    assert_eq!(
        (&health["redis"], &health["degraded"]),
        (&json!("down"), &json!(true)),
        "{health}"
    );

    // Back, with the entry of before the update still in it.
    redis_stack(&["start", "--port", &OUTAGE_PORT.to_string(), "--persist"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut hits = 0;
    while hits < 3 {
        let read = api.get(user.id).await;
        let found = read.user.expect("the user");
        assert_eq!(
            (found.name.as_str(), found.version),
            ("Olga II", 2),
            "stale answer from {}",
            read.source
        );
        if read.source != "miss" {
            hits += 1;
        }
        assert!(Instant::now() < deadline, "caching never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api.get(user.id).await.source, "hit-l1");
    assert_eq!(api.get(other.id).await.user, Some(other));
    assert_eq!(api.search_warm(&[("name", "Olga II")]).await.len(), 1);
    let health = api.json("/health").await;
    assert_eq!(
        (&health["redis"], &health["degraded"]),
        (&json!("ok"), &json!(false)),
        "{health}"
    );
    let metrics = api.json("/metrics").await;
    assert!(metrics["replayed_ids"].as_u64().unwrap() >= 2, "{metrics}");
    assert!(metrics["outages"].as_u64().unwrap() >= 1, "{metrics}");
}
