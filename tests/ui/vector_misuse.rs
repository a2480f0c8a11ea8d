use redis_om::prelude::*;

#[derive(HashModel)]
struct Options {
    pk: Option<String>,
    #[redis_om(vector(algorithm = "ivf", dim = 4, distance = "cosine"))]
    unknown_algorithm: Vec<f32>,
    #[redis_om(vector(algorithm = "flat", dim = 4, distance = "manhattan"))]
    unknown_distance: Vec<f32>,
    #[redis_om(vector(algorithm = "flat", dim = 0, distance = "l2"))]
    no_dim: Vec<f32>,
    #[redis_om(vector(algorithm = "flat", dim = 4, distance = "l2", m = 16))]
    hnsw_option_on_flat: Vec<f32>,
    #[redis_om(vector(algorithm = "hnsw", dim = 4, distance = "l2", block_size = 16))]
    flat_option_on_hnsw: Vec<f32>,
    #[redis_om(sortable, vector(algorithm = "flat", dim = 4, distance = "l2"))]
    sortable_vector: Vec<f32>,
}

#[derive(HashModel)]
struct Incomplete {
    pk: Option<String>,
    #[redis_om(vector(algorithm = "flat", dim = 4))]
    no_distance: Vec<f32>,
}

#[derive(HashModel)]
struct NotAVector {
    pk: Option<String>,
    #[redis_om(vector(algorithm = "flat", dim = 4, distance = "l2"))]
    words: Vec<String>,
}

#[derive(HashModel)]
struct Fine {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(vector(algorithm = "flat", dim = 2, distance = "l2"))]
    v: Vec<f32>,
}

fn main() {
    // A query vector of f64 for an f32 field, and a vector field used as a tag.
    let _ = Fine::find_all().knn(|f| f.v, &[1.0f64, 2.0], 3);
    let _ = Fine::find(|f| f.v.eq("x"));
    // A tag field is not a vector field.
    let _ = Fine::find_all().knn(|f| f.name, &[1.0f32, 2.0], 3);
}

#[derive(HashModel)]
struct ShortArray {
    pk: Option<String>,
    #[redis_om(vector(algorithm = "flat", dim = 4, distance = "l2"))]
    v: [f32; 3],
}

#[derive(redis_om::EmbeddedModel, serde::Serialize, serde::Deserialize)]
struct Part {
    #[redis_om(vector(algorithm = "flat", dim = 2, distance = "l2"))]
    v: Vec<f32>,
}

#[derive(HashModel)]
struct SortedPlace {
    pk: Option<String>,
    #[redis_om(index, sortable)]
    at: redis_om::Coordinates,
}
