use redis_om::HashModel;

#[derive(HashModel)]
struct Scores {
    pk: Option<String>,
    #[redis_om(index, index_empty)]
    score: Option<f64>,
}

fn main() {}
