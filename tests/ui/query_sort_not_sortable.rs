use redis_om::prelude::*;

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    age: u32,
}

fn main() {
    let _ = User::find_all().sort_by(|u| u.age, SortOrder::Asc);
}
