use redis_om::HashModel;

#[derive(HashModel)]
struct User {
    #[redis_om(primary_key)]
    id: String,
    #[redis_om(primary_key)]
    email: String,
}

fn main() {}
