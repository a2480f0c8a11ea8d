//! Shared helpers of the integration tests: they run against the real server
//! that `scripts/test` starts (never a mock), with both RESP2 and RESP3. Run
//! without `scripts/test` (plain `cargo test`), they start the servers
//! themselves with `scripts/redis-stack`.
#![allow(dead_code)]

use std::sync::OnceLock;

use redis::aio::MultiplexedConnection;
use redis_om::HashModel;

/// The model of the issue and the README, shared by the tests.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UserReadCache")]
pub struct UserReadCache {
    #[redis_om(primary_key)]
    pub pk: Option<String>,
    #[redis_om(index)]
    pub id: i64,
    #[redis_om(index)]
    pub name: String,
    #[redis_om(index)]
    pub email: String,
    pub avatar: Option<String>,
}

/// Two versions of one model for schema changes: `name` always indexed, `age`
/// with the extra attributes given (`#[redis_om(index)]` in the newer one).
#[allow(unused_macros)]
macro_rules! versioned_model {
    ($name:ident, $prefix:literal, $($extra:tt)*) => {
        #[derive(redis_om::HashModel, Debug, Clone, PartialEq)]
        #[redis_om(prefix = $prefix)]
        struct $name {
            pk: Option<String>,
            #[redis_om(index)]
            name: String,
            $($extra)*
            age: i64,
        }
    };
}

/// The URL of the Redis Stack under test: `REDIS_OM_URL` (set by
/// `scripts/test`), or else a local Redis Stack on `REDIS_OM_TEST_PORT`
/// (default 16379) that `scripts/redis-stack` installs on first use and
/// starts if it is not running, so that plain `cargo test` works too.
pub fn url() -> String {
    static STARTED: OnceLock<String> = OnceLock::new();
    env_or_start("REDIS_OM_URL", &STARTED, "REDIS_OM_TEST_PORT", 16379, &[])
}

/// A URL given by `scripts/test` for a special server: `REDIS_OM_PASSWORD_URL`
/// (with a password) or `REDIS_OM_PLAIN_URL` (without modules). When it is
/// unset, the server is started as `scripts/test` does.
pub fn env_url(name: &str) -> String {
    static PASSWORD: OnceLock<String> = OnceLock::new();
    static PLAIN: OnceLock<String> = OnceLock::new();
    match name {
        "REDIS_OM_URL" => url(),
        "REDIS_OM_PASSWORD_URL" => env_or_start(
            name,
            &PASSWORD,
            "REDIS_OM_TEST_PASSWORD_PORT",
            16380,
            &["--requirepass", "om-test-pw"],
        ),
        "REDIS_OM_PLAIN_URL" => env_or_start(
            name,
            &PLAIN,
            "REDIS_OM_TEST_PLAIN_PORT",
            16381,
            &["--no-modules"],
        ),
        _ => std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set")),
    }
}

/// The URL in the environment variable `name`, or else the URL of the server
/// that `scripts/redis-stack start` starts (once per test binary; the script
/// is idempotent, so the other test binaries reuse the running server).
fn env_or_start(
    name: &str,
    started: &OnceLock<String>,
    port_var: &str,
    default_port: u16,
    args: &[&str],
) -> String {
    if let Ok(url) = std::env::var(name) {
        if !url.trim().is_empty() {
            return url;
        }
    }
    started
        .get_or_init(|| {
            let port = std::env::var(port_var)
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(default_port);
            let out = std::process::Command::new(Server::script())
                .arg("start")
                .arg("--port")
                .arg(port.to_string())
                .args(args)
                .output()
                .unwrap_or_else(|err| {
                    panic!("{name} is not set, and scripts/redis-stack could not run: {err}")
                });
            let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                out.status.success() && !url.is_empty(),
                "{name} is not set, and `scripts/redis-stack start --port {port}` failed \
                 (run the tests with `scripts/test`, or point {name} at a server): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            url
        })
        .clone()
}

fn with_protocol(url: &str, resp3: bool) -> String {
    if !resp3 {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}protocol=resp3")
}

/// The server URL with RESP2 and with RESP3.
pub fn urls() -> [String; 2] {
    let url = url();
    [with_protocol(&url, false), with_protocol(&url, true)]
}

/// Both protocols of `url`.
pub fn both_protocols(url: &str) -> [String; 2] {
    [with_protocol(url, false), with_protocol(url, true)]
}

pub async fn multiplexed(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

pub fn sync_con(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect")
}

/// A value unique to this test run, for primary keys and prefixes.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::now_v7().simple())
}

/// Deletes every key under `prefix` (so that a rerun starts clean).
pub async fn clear_prefix(con: &mut MultiplexedConnection, prefix: &str) {
    let pattern = format!(
        "{}*",
        prefix
            .replace('\\', "\\\\")
            .replace('*', "\\*")
            .replace('?', "\\?")
            .replace('[', "\\[")
            .replace(']', "\\]")
    );
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await
            .expect("scan");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(con)
                .await
                .expect("del");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Removes every index whose name starts with `index_name`, its alias, and every key under `prefix`.
pub async fn reset_index(con: &mut MultiplexedConnection, index_name: &str, prefix: &str) {
    let _: redis::RedisResult<()> = redis::cmd("FT.ALIASDEL")
        .arg(index_name)
        .query_async(con)
        .await;
    for index in indexes_starting_with(con, index_name).await {
        let _: () = redis::cmd("FT.DROPINDEX")
            .arg(&index)
            .query_async(con)
            .await
            .expect("drop");
    }
    clear_prefix(con, prefix).await;
}

/// The indexes (not aliases) whose names start with `start`.
pub async fn indexes_starting_with(con: &mut MultiplexedConnection, start: &str) -> Vec<String> {
    let all: Vec<String> = redis::cmd("FT._LIST")
        .query_async(con)
        .await
        .expect("FT._LIST");
    all.into_iter().filter(|i| i.starts_with(start)).collect()
}

/// A server of its own for a test that must stop, kill or pause it; started
/// with the project's `scripts/redis-stack` (which installs it on first use).
pub struct Server {
    pub port: u16,
    args: Vec<String>,
}

impl Server {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/redis-stack")
    }

    fn run_dir(port: u16) -> std::path::PathBuf {
        let cache = std::env::var("REDIS_OM_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/redis-stack")
            });
        cache.join("run").join(port.to_string())
    }

    /// Stops whatever runs on `port`, wipes its data, and starts a fresh server.
    pub fn fresh(port: u16, args: &[&str]) -> Server {
        let server = Server {
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        server.stop();
        let _ = std::fs::remove_dir_all(Self::run_dir(port));
        server.start();
        server
    }

    pub fn start(&self) {
        let out = std::process::Command::new(Self::script())
            .arg("start")
            .arg("--port")
            .arg(self.port.to_string())
            .args(&self.args)
            .output()
            .expect("run scripts/redis-stack");
        assert!(
            out.status.success(),
            "scripts/redis-stack start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        let _ = std::process::Command::new(Self::script())
            .arg("stop")
            .arg("--port")
            .arg(self.port.to_string())
            .output();
    }

    /// `kill -9`: no shutdown, no final save.
    pub fn kill9(&self) {
        let pid =
            std::fs::read_to_string(Self::run_dir(self.port).join("redis.pid")).expect("pid file");
        let status = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.trim())
            .status()
            .expect("kill");
        assert!(status.success());
        // Wait until the port is closed.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port for a test's own server: `REDIS_OM_FAULT_PORT_BASE` (default 16390) plus `offset`.
pub fn fault_port(offset: u16) -> u16 {
    env_port("REDIS_OM_FAULT_PORT_BASE", 16390) + offset
}

/// A port (or a cluster's port base) from the environment variable `name`, or
/// `default`: a second test run (`scripts/test --server redis8`) moves the
/// servers the tests start themselves out of the first run's way.
pub fn env_port(name: &str, default: u16) -> u16 {
    std::env::var(name)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}
