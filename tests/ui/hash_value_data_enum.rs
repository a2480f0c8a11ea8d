use redis_om::HashValue;

#[derive(HashValue, serde::Serialize, serde::Deserialize)]
enum Shape {
    Circle(f64),
    Square { side: f64 },
    Point,
}

#[derive(HashValue)]
struct NotAnEnum {
    x: i32,
}

fn main() {}
