use redis_om::{HashModel, JsonModel};
use serde::{Deserialize, Serialize};

#[derive(HashModel)]
struct TwoVersions {
    pk: Option<String>,
    #[redis_om(version)]
    a: u64,
    #[redis_om(version)]
    b: u64,
}

#[derive(HashModel)]
struct VersionedKey {
    #[redis_om(primary_key, version)]
    id: u64,
}

#[derive(HashModel)]
struct TextVersion {
    pk: Option<String>,
    #[redis_om(version)]
    version: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct SkippedVersion {
    pk: Option<String>,
    #[serde(skip)]
    #[redis_om(version)]
    version: u32,
}

fn main() {}
