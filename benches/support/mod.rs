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

/// A document with a 64-dimensional vector on a FLAT cosine index (the KNN workload).
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BenchVec")]
pub struct VecDoc {
    #[redis_om(primary_key)]
    pub pk: Option<String>,
    #[redis_om(index)]
    pub group: String,
    #[redis_om(vector(algorithm = "flat", dim = 64, distance = "cosine"))]
    pub v: Vec<f32>,
}

pub const VEC_PREFIX: &str = ":BenchVec:";
pub const VEC_INDEX: &str = ":BenchVec:index";

/// The i-th benchmark vector (deterministic, spread over the sphere).
pub fn bench_vector(i: u64) -> Vec<f32> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..64)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Hand-written KNN: the same command redis-om sends, the 10 documents and
/// distances decoded from the reply.
pub fn hand_knn_cmd(query: &[f32], k: u64) -> redis::Cmd {
    let bytes: Vec<u8> = query.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut cmd = redis::cmd("FT.SEARCH");
    cmd.arg(VEC_INDEX)
        .arg("*=>[KNN $knn_k @v $knn_vector AS __knn_distance]")
        .arg("SORTBY")
        .arg("__knn_distance")
        .arg("ASC")
        .arg("LIMIT")
        .arg(0)
        .arg(k)
        .arg("PARAMS")
        .arg(4)
        .arg("knn_k")
        .arg(k)
        .arg("knn_vector")
        .arg(bytes)
        .arg("DIALECT")
        .arg(2);
    cmd
}

/// Decodes a hand-written KNN reply (RESP2): each document and its distance.
pub fn hand_knn_decode(reply: &Value) -> Vec<(VecDoc, f64)> {
    let Value::Array(items) = reply else {
        panic!("reply")
    };
    items[1..]
        .chunks_exact(2)
        .map(|pair| {
            let Value::Array(fields) = &pair[1] else {
                panic!("fields")
            };
            let mut doc = VecDoc {
                pk: None,
                group: String::new(),
                v: Vec::new(),
            };
            let mut distance = 0.0;
            for kv in fields.chunks_exact(2) {
                let (Some(k), Some(v)) = (text(&kv[0]), text(&kv[1])) else {
                    continue;
                };
                match k {
                    b"pk" => doc.pk = Some(String::from_utf8(v.to_vec()).unwrap()),
                    b"group" => doc.group = String::from_utf8(v.to_vec()).unwrap(),
                    b"v" => {
                        doc.v = v
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                            .collect()
                    }
                    b"__knn_distance" => {
                        distance = std::str::from_utf8(v).unwrap().parse().unwrap()
                    }
                    _ => {}
                }
            }
            (doc, distance)
        })
        .collect()
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
