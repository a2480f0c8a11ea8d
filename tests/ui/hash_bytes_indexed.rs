use redis_om::HashModel;

#[derive(HashModel)]
struct Upload {
    pk: Option<String>,
    #[redis_om(index)]
    data: Vec<u8>,
}

fn main() {}
