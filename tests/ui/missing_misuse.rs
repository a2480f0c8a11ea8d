use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(HashModel)]
struct NotOptedIn {
    pk: Option<String>,
    #[redis_om(index)]
    nick: Option<String>,
}

#[derive(HashModel)]
struct NotIndexed {
    pk: Option<String>,
    #[redis_om(index_missing)]
    nick: Option<String>,
}

#[derive(JsonModel, Serialize, Deserialize)]
struct NullIsNotMissing {
    pk: Option<String>,
    #[redis_om(index, index_missing)]
    label: Option<String>,
}

fn main() {
    // `is_missing` exists only on fields indexed with `index_missing`.
    let _ = NotOptedIn::find(|u| u.nick.is_missing());
}
