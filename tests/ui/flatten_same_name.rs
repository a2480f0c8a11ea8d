use redis_om::{EmbeddedModel, HashModel};

#[derive(EmbeddedModel, Clone)]
#[redis_om(hash)]
struct Base {
    #[redis_om(index)]
    tenant: String,
}

#[derive(HashModel)]
struct SameName {
    pk: Option<String>,
    tenant: String,
    #[redis_om(flatten)]
    base: Base,
}

fn main() {}
