use redis_om::HashModel;

#[derive(HashModel)]
struct User(String, i64);

fn main() {}
