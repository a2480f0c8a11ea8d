use redis_om::{HashModel, JsonModel};

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(case_sensitive)]
    name: String,
    #[redis_om(index, separator = "||")]
    tags: String,
    #[redis_om(rename = "")]
    email: String,
}

#[derive(JsonModel, serde::Serialize, serde::Deserialize)]
struct Doc {
    pk: Option<String>,
    #[redis_om(rename = "title")]
    name: String,
}

fn main() {}
