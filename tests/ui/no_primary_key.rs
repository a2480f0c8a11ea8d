use redis_om::HashModel;

#[derive(HashModel)]
struct User {
    id: String,
    name: String,
}

fn main() {}
