use redis_om::{EmbeddedModel, HashModel, JsonModel};
use serde::{Deserialize, Serialize};

#[derive(EmbeddedModel, Serialize, Deserialize)]
#[redis_om(prefix = "Address")]
struct Address {
    #[redis_om(primary_key)]
    id: String,
    #[redis_om(index)]
    city: String,
}

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(embed)]
    address: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct Customer {
    pk: Option<String>,
    #[redis_om(embed, index)]
    address: Address,
}

fn main() {}
