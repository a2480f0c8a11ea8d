use redis_om::prelude::*;
use redis_om::reduce::{count, sum};

#[derive(HashModel)]
struct Order {
    pk: Option<String>,
    #[redis_om(index)]
    city: String,
    #[redis_om(index)]
    total: f64,
    note: String,
}

fn main() {
    // Summing a TAG.
    let _ = Order::find_all().group_by(|o| o.city).reduce(|o| sum(o.city));
    // Grouping by a field that is not indexed.
    let _ = Order::find_all().group_by(|o| o.note).reduce(|_| count());
    // A computed column from a text column.
    let _ = Order::find_all()
        .group_by(|o| o.city)
        .reduce(|_| count())
        .apply(|(city, _, ())| city / 2.0);
}
