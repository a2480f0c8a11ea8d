use redis_om::JsonModel;

#[derive(JsonModel)]
enum User {
    Admin { pk: String },
    Guest,
}

fn main() {}
