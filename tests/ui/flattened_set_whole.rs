use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(EmbeddedModel, Serialize, Deserialize, Clone)]
#[redis_om(hash)]
struct Base {
    #[redis_om(index)]
    tenant: String,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct Doc {
    pk: Option<String>,
    #[serde(flatten)]
    #[redis_om(embed)]
    base: Base,
}

#[derive(HashModel)]
struct Row {
    pk: Option<String>,
    #[redis_om(flatten)]
    base: Base,
}

fn whole(base: Base) {
    // A flattened struct has no member of its own: set its fields.
    let _ = Doc::setters().base.set(base.clone());
    let _ = Row::setters().base.set(base);
    // Its fields are set one by one.
    let _ = Doc::setters().base.tenant.set("t".to_owned());
}

fn main() {}
