use redis_om::prelude::*;

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    age: u32,
    #[redis_om(index)]
    active: bool,
    #[redis_om(full_text)]
    score: u32,
}

fn main() {
    let _ = User::find(|u| u.age.eq("30"));
    let _ = User::find(|u| u.active.eq("yes"));
    let _ = User::find(|u| u.age.matches("thirty"));
}
