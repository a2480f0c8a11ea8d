use redis_om::HashModel;

#[derive(HashModel)]
#[redis_om(prefix = "a", prefix = "b")]
struct User {
    pk: Option<String>,
    #[redis_om(index, index)]
    name: String,
}

fn main() {}
