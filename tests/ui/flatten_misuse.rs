use redis_om::{EmbeddedModel, HashModel, JsonModel};
use serde::{Deserialize, Serialize};

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
#[redis_om(hash)]
struct Base {
    #[redis_om(index)]
    tenant: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct JsonFlatten {
    pk: Option<String>,
    #[redis_om(flatten)]
    base: Base,
}

#[derive(HashModel)]
struct IndexedFlatten {
    pk: Option<String>,
    #[redis_om(flatten, index)]
    base: Base,
}

#[derive(HashModel)]
#[redis_om(hash)]
struct HashOnModel {
    pk: Option<String>,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
#[redis_om(hash)]
struct Nested {
    #[redis_om(embed)]
    base: Base,
}

fn main() {}
