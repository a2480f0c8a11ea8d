use redis_om::HashModel;

struct Address {
    city: String,
}

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    tags: Vec<String>,
    address: Address,
}

fn main() {}
