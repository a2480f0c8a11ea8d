use redis_om::HashModel;

#[derive(HashModel)]
#[redis_om(prefx = "users")]
struct User {
    pk: Option<String>,
    #[redis_om(indx)]
    name: String,
}

fn main() {}
