use redis_om::prelude::*;

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    email: String,
    avatar: Option<String>,
}

fn main() {
    let _ = User::find(|u| u.avatar.eq("x.png"));
    let _ = User::find(|u| u.emial.eq("a@b.c"));
}
