//! The models and the hand-written redis-rs code shared by the benchmark
//! (`benches/compare.rs`) and the callgrind harness (`examples/callgrind_ops.rs`).
#![allow(dead_code)]

use redis::Value;
use redis_om::{HashModel, JsonModel};
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BenchUser")]
pub struct UserReadCache {
    #[redis_om(primary_key)]
    pub pk: Option<String>,
    #[redis_om(index, sortable)]
    pub id: i64,
    #[redis_om(index)]
    pub name: String,
    #[redis_om(index)]
    pub email: String,
    pub avatar: Option<String>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BenchUserDoc")]
pub struct UserDoc {
    pub pk: Option<String>,
    #[redis_om(index, sortable)]
    pub id: i64,
    #[redis_om(index)]
    pub name: String,
    #[redis_om(index)]
    pub email: String,
    pub avatar: Option<String>,
}

pub fn user(i: i64) -> UserReadCache {
    UserReadCache {
        pk: Some(format!("u{i:06}")),
        id: i,
        name: format!("user {i}"),
        email: format!("user{i}@example.com"),
        avatar: Some(format!("https://img.example.com/{i}.png")),
    }
}

pub fn doc(i: i64) -> UserDoc {
    let u = user(i);
    UserDoc {
        pk: u.pk,
        id: u.id,
        name: u.name,
        email: u.email,
        avatar: u.avatar,
    }
}

pub const HASH_PREFIX: &str = ":BenchUser:";
pub const HASH_INDEX: &str = ":BenchUser:index";
pub const JSON_PREFIX: &str = ":BenchUserDoc:";

/// Hand-written: the HSET a careful redis-rs user writes.
pub fn hand_hset(u: &UserReadCache) -> redis::Cmd {
    let pk = u.pk.as_deref().unwrap();
    let mut cmd = redis::cmd("HSET");
    cmd.arg(format!("{HASH_PREFIX}{pk}"))
        .arg("pk")
        .arg(pk)
        .arg("id")
        .arg(u.id)
        .arg("name")
        .arg(&u.name)
        .arg("email")
        .arg(&u.email);
    if let Some(avatar) = &u.avatar {
        cmd.arg("avatar").arg(avatar);
    }
    cmd
}

pub fn text(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Hand-written: decoding HGETALL (or FT.SEARCH fields) into the struct.
pub fn hand_decode_hash(reply: &Value) -> Option<UserReadCache> {
    let mut u = UserReadCache {
        pk: None,
        id: 0,
        name: String::new(),
        email: String::new(),
        avatar: None,
    };
    let mut set = |k: &[u8], v: &[u8]| {
        let s = || String::from_utf8(v.to_vec()).ok();
        match k {
            b"pk" => u.pk = s(),
            b"id" => u.id = std::str::from_utf8(v).ok()?.parse().ok()?,
            b"name" => u.name = s()?,
            b"email" => u.email = s()?,
            b"avatar" => u.avatar = s(),
            _ => {}
        }
        Some(())
    };
    match reply {
        Value::Array(items) => {
            for pair in items.chunks_exact(2) {
                set(text(&pair[0])?, text(&pair[1])?)?;
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                set(text(k)?, text(v)?)?;
            }
        }
        _ => return None,
    }
    Some(u)
}

/// Hand-written: `FT.SEARCH` for the user with this email, first match only.
pub fn hand_find_cmd(email: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("FT.SEARCH");
    cmd.arg(HASH_INDEX)
        .arg("@email:{$p0}")
        .arg("LIMIT")
        .arg(0)
        .arg(1)
        .arg("PARAMS")
        .arg(2)
        .arg("p0")
        .arg(email)
        .arg("DIALECT")
        .arg(2);
    cmd
}

/// Hand-written: the first document of an FT.SEARCH reply (RESP2).
pub fn hand_first_of_search(reply: &Value) -> Option<UserReadCache> {
    match reply {
        Value::Array(items) if items.len() >= 3 => hand_decode_hash(&items[2]),
        _ => None,
    }
}
