use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Addr {
    city: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct Customer {
    pk: Option<String>,
    #[redis_om(index)]
    address: Addr,
}

fn main() {}
