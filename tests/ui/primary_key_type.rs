use redis_om::HashModel;

#[derive(HashModel)]
struct Reading {
    #[redis_om(primary_key)]
    at: f64,
    value: f64,
}

fn main() {}
