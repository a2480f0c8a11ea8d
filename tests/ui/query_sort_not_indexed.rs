use redis_om::prelude::*;

#[derive(HashModel)]
struct User {
    pk: Option<String>,
    #[redis_om(index)]
    age: u32,
    nickname: String,
}

fn main() {
    // Any indexed field sorts (`sortable` only makes it faster)...
    let _ = User::find_all().sort_by(|u| u.age, SortOrder::Asc);
    // ...a field that is not indexed does not exist for queries.
    let _ = User::find_all().sort_by(|u| u.nickname, SortOrder::Asc);
}
