use redis_om::{EmbeddedModel, HashModel, JsonModel};

fn five() -> u32 {
    5
}

#[derive(HashModel)]
#[redis_om(ttl_secs = 0)]
struct ZeroTtl {
    pk: Option<String>,
    name: String,
}

#[derive(HashModel)]
struct Expiring {
    #[redis_om(expire_secs = 30)]
    pk: Option<String>,
    #[redis_om(expire_secs = 30)]
    required: String,
    #[redis_om(expire_secs = 0)]
    zero: Option<String>,
    #[redis_om(expire_secs = 30, default = "five")]
    fine: u32,
    #[redis_om(default)]
    #[serde(default)]
    twice: u32,
}

#[derive(HashModel)]
struct Misspelled {
    pk: Option<String>,
    #[redis_om(expires = 30)]
    code: Option<String>,
}

#[derive(JsonModel, serde::Serialize, serde::Deserialize)]
struct Doc {
    pk: Option<String>,
    #[redis_om(default)]
    name: String,
    #[redis_om(expire_secs = 30)]
    code: Option<String>,
}

#[derive(EmbeddedModel, serde::Serialize, serde::Deserialize)]
#[redis_om(ttl_secs = 60)]
struct Address {
    city: String,
}

fn main() {}
