//! Shared helpers of the integration tests: they run against the real server
//! that `scripts/test` starts (never a mock), with both RESP2 and RESP3.
#![allow(dead_code)]

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

/// The URL of the Redis Stack under test (`REDIS_OM_URL`, set by `scripts/test`).
pub fn url() -> String {
    std::env::var("REDIS_OM_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_OM_URL is not set: run the tests with `scripts/test`, which starts a Redis Stack \
             (or point REDIS_OM_URL at a Redis Stack / Redis 8 server)"
        )
    })
}

/// A URL given by `scripts/test` for a special server (password, no modules).
pub fn env_url(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `scripts/test`"))
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
