use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default)]
struct Extra {
    note: String,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Default)]
struct Address {
    #[redis_om(index)]
    #[serde(skip)]
    city: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct Person {
    #[serde(skip_serializing)]
    pk: Option<String>,
    #[redis_om(index)]
    #[serde(skip)]
    name: String,
    #[redis_om(index)]
    #[serde(default, skip_deserializing)]
    age: u32,
    #[redis_om(index)]
    #[serde(flatten)]
    extra: Extra,
    // Allowed: an embedded struct flattened into the model (composition).
    #[redis_om(embed)]
    #[serde(flatten)]
    address: Address,
    // Not indexed: serde's business only.
    #[serde(skip)]
    cache: String,
    #[serde(flatten)]
    more: Extra,
}

fn main() {}
