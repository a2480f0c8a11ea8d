use redis_om::prelude::*;

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    email: String,
}

fn main() {
    let _ = User::find(|u| u.email.gt("a"));
}
