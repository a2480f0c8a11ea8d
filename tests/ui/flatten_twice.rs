use redis_om::{EmbeddedModel, HashModel};

#[derive(EmbeddedModel, Clone)]
#[redis_om(hash)]
struct Address {
    #[redis_om(index)]
    city: String,
}

#[derive(HashModel)]
struct Order {
    pk: Option<String>,
    #[redis_om(flatten)]
    billing: Address,
    #[redis_om(flatten)]
    shipping: Address,
}

fn main() {}
