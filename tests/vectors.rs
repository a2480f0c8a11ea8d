//! Vector fields: packed little-endian floats in hashes (of the declared
//! element type), arrays in JSON; KNN with filters, equal to a brute-force
//! computation on FLAT indexes for every metric; HNSW recall; vector ranges;
//! dimension checks; RESP2 and RESP3; redis-om-python's vector tests.

mod common;

use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

const DIM: usize = 64;

/// One document, three FLAT indexes of the same vector (one per metric).
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "VecItem")]
struct Item {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    even: bool,
    #[redis_om(vector(algorithm = "flat", dim = 64, distance = "cosine"))]
    cos: Option<Vec<f32>>,
    #[redis_om(vector(algorithm = "flat", dim = 64, distance = "l2"))]
    l2: Option<Vec<f32>>,
    #[redis_om(vector(algorithm = "flat", dim = 64, distance = "ip"))]
    ip: Option<Vec<f32>>,
}

/// The same data on an HNSW index, FLOAT64 elements.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "VecHnsw")]
struct HnswItem {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(vector(
        algorithm = "hnsw",
        dim = 64,
        distance = "l2",
        m = 16,
        ef_construction = 200,
        ef_runtime = 100
    ))]
    v: Vec<f64>,
}

/// A JSON model with a fixed-size array vector.
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "VecDoc")]
struct Doc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    tags: Vec<String>,
    #[redis_om(vector(algorithm = "flat", dim = 2, distance = "cosine"))]
    title_embeddings: [f32; 2],
}

/// xorshift64*: the same data on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.next()).collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Metric {
    Cosine,
    L2,
    Ip,
}

/// The distance RediSearch reports, in f64.
fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    match metric {
        Metric::Cosine => {
            let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (norm(a) * norm(b))
        }
        // Squared, as the server reports L2.
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum(),
        Metric::Ip => 1.0 - dot,
    }
}

/// The `k` nearest of `data` (index, distance), nearest first.
fn brute_force(metric: Metric, data: &[Vec<f32>], query: &[f32], k: usize) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (i, distance(metric, v, query)))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1));
    all.truncate(k);
    all
}

fn item(run: &str, i: usize, v: &[f32]) -> Item {
    Item {
        pk: Some(format!("{run}-{i:04}")),
        run: run.to_owned(),
        even: i.is_multiple_of(2),
        cos: Some(v.to_vec()),
        l2: Some(v.to_vec()),
        ip: Some(v.to_vec()),
    }
}

fn index_of(pk: &Option<String>) -> usize {
    pk.as_deref()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_schema_is_redis_om_pythons() {
    let hash = Item::index_schema().text();
    assert!(
        hash.contains("cos VECTOR FLAT 6 TYPE FLOAT32 DIM 64 DISTANCE_METRIC COSINE"),
        "{hash}"
    );
    assert!(
        hash.contains("ip VECTOR FLAT 6 TYPE FLOAT32 DIM 64 DISTANCE_METRIC IP"),
        "{hash}"
    );
    let hnsw = HnswItem::index_schema().text();
    assert!(
        hnsw.contains(
            "v VECTOR HNSW 12 TYPE FLOAT64 DIM 64 DISTANCE_METRIC L2 M 16 EF_CONSTRUCTION 200 EF_RUNTIME 100"
        ),
        "{hnsw}"
    );
    let json = Doc::index_schema().text();
    assert!(
        json.contains(
            "$.title_embeddings AS title_embeddings VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC COSINE"
        ),
        "{json}"
    );
}

#[tokio::test]
async fn flat_knn_equals_brute_force_for_every_metric_with_and_without_filters() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new().model::<Item>().run(&mut con).await.unwrap();
    let run = common::unique("knn");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let data: Vec<Vec<f32>> = (0..1000).map(|_| rng.vector()).collect();
    let mut items: Vec<Item> = data
        .iter()
        .enumerate()
        .map(|(i, v)| item(&run, i, v))
        .collect();
    Item::save_all(&mut con, &mut items).await.unwrap();
    // Stored packed, 4 bytes per element, little-endian.
    let raw: Vec<u8> = redis::cmd("HGET")
        .arg(Item::key_layout().key(items[0].pk.as_deref().unwrap()))
        .arg("cos")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(raw.len(), DIM * 4);
    assert_eq!(&raw[..4], &data[0][0].to_le_bytes());

    let k = 10;
    let evens: Vec<Vec<f32>> = data.iter().step_by(2).cloned().collect();
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        for q in 0..5 {
            let query = rng.vector();
            for metric in [Metric::Cosine, Metric::L2, Metric::Ip] {
                let r = run.clone();
                let base = Item::find(move |i| i.run.eq(r.as_str()));
                let nearest = match metric {
                    Metric::Cosine => base.knn(|i| i.cos, &query, k as u64),
                    Metric::L2 => base.knn(|i| i.l2, &query, k as u64),
                    Metric::Ip => base.knn(|i| i.ip, &query, k as u64),
                };
                let found = nearest.all(&mut con).await.unwrap();
                let want = brute_force(metric, &data, &query, k);
                let got: Vec<(usize, f64)> = found
                    .iter()
                    .map(|(item, d)| (index_of(&item.pk), *d))
                    .collect();
                assert_eq!(
                    got.iter().map(|g| g.0).collect::<Vec<_>>(),
                    want.iter().map(|w| w.0).collect::<Vec<_>>(),
                    "{metric:?}, query {q}"
                );
                for ((_, g), (_, w)) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-3 * w.abs().max(1.0),
                        "{metric:?}: {g} vs {w}"
                    );
                }
                // The documents come back whole and exact.
                for (item, _) in &found {
                    assert_eq!(item.cos.as_deref(), Some(&data[index_of(&item.pk)][..]));
                }
                // With a filter: the nearest among the even documents only.
                let r = run.clone();
                let filtered = Item::find(move |i| i.run.eq(r.as_str()) & i.even.eq(true));
                let filtered = match metric {
                    Metric::Cosine => filtered.knn(|i| i.cos, &query, k as u64),
                    Metric::L2 => filtered.knn(|i| i.l2, &query, k as u64),
                    Metric::Ip => filtered.knn(|i| i.ip, &query, k as u64),
                };
                let got: Vec<usize> = filtered
                    .all(&mut con)
                    .await
                    .unwrap()
                    .iter()
                    .map(|(item, _)| index_of(&item.pk))
                    .collect();
                let nearest_evens = brute_force(metric, &evens, &query, k);
                let want: Vec<usize> = nearest_evens.iter().map(|(i, _)| i * 2).collect();
                assert_eq!(got, want, "{metric:?} among even, query {q}");
                // first, page, count and select agree with all.
                let (first, d) = filtered.first(&mut con).await.unwrap();
                assert_eq!(index_of(&first.pk), want[0]);
                assert!((d - nearest_evens[0].1).abs() < 1e-3 * d.abs().max(1.0));
                let page = filtered.page(&mut con, 3, 4).await.unwrap();
                assert_eq!(page.total, k as u64);
                assert_eq!(
                    page.iter()
                        .map(|(i, _)| index_of(&i.pk))
                        .collect::<Vec<_>>(),
                    want[3..7]
                );
                assert_eq!(filtered.count(&mut con).await.unwrap(), k as u64);
            }
        }
        // select: chosen fields with each distance.
        let query = data[7].clone();
        let r = run.clone();
        let selected = Item::find(move |i| i.run.eq(r.as_str()))
            .select(|i| (i.run, i.even))
            .knn(|i| i.l2, &query, 2)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(selected.len(), 2);
        assert_eq!(selected[0], ((run.clone(), false), 0.0));
        // A vector range: every document within the distance, with a filter.
        let radius = brute_force(Metric::L2, &data, &query, 25)[24].1 + 1e-3;
        let r = run.clone();
        let mut within: Vec<usize> =
            Item::find(move |i| i.run.eq(r.as_str()) & i.l2.within_distance(&query, radius))
                .all(&mut con)
                .await
                .unwrap()
                .iter()
                .map(|i| index_of(&i.pk))
                .collect();
        within.sort();
        let mut want: Vec<usize> = brute_force(Metric::L2, &data, &data[7], 25)
            .iter()
            .map(|(i, _)| *i)
            .collect();
        want.sort();
        assert_eq!(within, want);
    }
}

#[tokio::test]
async fn hnsw_recall_is_at_least_95_percent() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<HnswItem>()
        .run(&mut con)
        .await
        .unwrap();
    // Only this test's documents in the index: the queries below have no
    // filter, so that they run on the HNSW graph (a filtered KNN may be
    // answered by brute force over the matches, which is exact).
    common::clear_prefix(&mut con, HnswItem::key_layout().key_prefix()).await;
    let run = common::unique("hnsw");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let data: Vec<Vec<f32>> = (0..1000).map(|_| rng.vector()).collect();
    let mut items: Vec<HnswItem> = data
        .iter()
        .enumerate()
        .map(|(i, v)| HnswItem {
            pk: Some(format!("{run}-{i:04}")),
            run: run.clone(),
            v: v.iter().map(|x| *x as f64).collect(),
        })
        .collect();
    HnswItem::save_all(&mut con, &mut items).await.unwrap();
    // FLOAT64: 8 bytes per element.
    let raw: Vec<u8> = redis::cmd("HGET")
        .arg(HnswItem::key_layout().key(items[0].pk.as_deref().unwrap()))
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(raw.len(), DIM * 8);
    let back = HnswItem::get(&mut con, items[0].pk.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(back, items[0]);
    let (k, queries) = (10, 50);
    let mut hits = [0usize; 2];
    for _ in 0..queries {
        let query: Vec<f64> = rng.vector().iter().map(|x| *x as f64).collect();
        let query32: Vec<f32> = query.iter().map(|x| *x as f32).collect();
        let want: Vec<usize> = brute_force(Metric::L2, &data, &query32, k)
            .iter()
            .map(|(i, _)| *i)
            .collect();
        // The field's EF_RUNTIME (100), then a query that examines only 10.
        for (n, ef) in [(0, None), (1, Some(10))] {
            let mut nearest = HnswItem::find_all().knn(|i| i.v, &query, k as u64);
            if let Some(ef) = ef {
                nearest = nearest.ef_runtime(ef);
            }
            let found = nearest.all(&mut con).await.unwrap();
            assert_eq!(found.len(), k);
            hits[n] += found
                .iter()
                .filter(|(item, _)| want.contains(&index_of(&item.pk)))
                .count();
        }
    }
    let recall = hits[0] as f64 / (k * queries) as f64;
    let low = hits[1] as f64 / (k * queries) as f64;
    println!(
        "HNSW recall@{k} over {queries} queries of 1,000 random vectors (dim {DIM}): \
         {recall:.3} with EF_RUNTIME 100, {low:.3} with .ef_runtime(10)"
    );
    assert!(recall >= 0.95, "recall {recall}");
    // The per-query knob reaches the server.
    assert!(low < recall, "{low} {recall}");
}

#[tokio::test]
async fn a_vector_of_the_wrong_size_is_refused_never_silently_unindexed() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<Item>()
        .model::<Doc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("dim");
    let failures_before = Item::index_status(&mut con)
        .await
        .unwrap()
        .indexing_failures;
    let mut bad = item(&run, 0, &[0.5; 63]);
    match bad.save(&mut con).await {
        Err(Error::Encode { key, reason }) => {
            assert!(key.ends_with("-0000"), "{key}");
            assert!(
                reason.contains("\"cos\"") && reason.contains("dim is 64"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut nan = item(&run, 1, &[0.5; 64]);
    nan.l2.as_mut().unwrap()[3] = f32::NAN;
    assert!(matches!(
        nan.save(&mut con).await,
        Err(Error::Encode { .. })
    ));
    assert!(matches!(
        Item::save_all(&mut con, &mut [bad.clone()]).await,
        Err(Error::BulkWrite { .. }) | Err(Error::Encode { .. })
    ));
    // Nothing was written.
    let bad_pk = bad.pk.clone().unwrap();
    assert!(Item::get_optional(&mut con, &bad_pk)
        .await
        .unwrap()
        .is_none());
    // An update too.
    let mut good = item(&run, 2, &[0.5; 64]);
    good.save(&mut con).await.unwrap();
    let good_pk = good.pk.clone().unwrap();
    let refused = Item::update(&mut con, &good_pk, |s| s.cos.set(Some(vec![1.0; 3]))).await;
    assert!(matches!(refused, Err(Error::Encode { .. })), "{refused:?}");
    // A query vector of the wrong size, or k = 0.
    let wrong = Item::find_all()
        .knn(|i| i.cos, &[1.0; 3], 5)
        .all(&mut con)
        .await;
    assert!(matches!(wrong, Err(Error::InvalidArgument(_))), "{wrong:?}");
    let zero = Item::find_all()
        .knn(|i| i.cos, &[1.0; 64], 0)
        .all(&mut con)
        .await;
    assert!(matches!(zero, Err(Error::InvalidArgument(_))), "{zero:?}");
    // A document without a vector is never a neighbour.
    let mut none = item(&run, 3, &[0.5; 64]);
    none.cos = None;
    none.save(&mut con).await.unwrap();
    let r = run.clone();
    let found = Item::find(move |i| i.run.eq(r.as_str()))
        .knn(|i| i.cos, &[0.5; 64], 10)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0.pk, good.pk);
    // A zero vector has no direction: refused for a cosine field, saved and
    // queried, and fine for L2.
    let mut zero = item(&run, 4, &[0.5; 64]);
    zero.cos = Some(vec![0.0; 64]);
    match zero.save(&mut con).await {
        Err(Error::Encode { reason, .. }) => assert!(reason.contains("zero"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let zero_query = Item::find_all()
        .knn(|i| i.cos, &[0.0; 64], 3)
        .all(&mut con)
        .await;
    assert!(
        matches!(zero_query, Err(Error::InvalidArgument(_))),
        "{zero_query:?}"
    );
    let r = run.clone();
    let l2_zero = Item::find(move |i| i.run.eq(r.as_str()))
        .knn(|i| i.l2, &[0.0; 64], 3)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(l2_zero.len(), 2);
    // Elements whose squares overflow f32.
    let mut huge = item(&run, 5, &[0.5; 64]);
    huge.l2.as_mut().unwrap()[0] = f32::MAX;
    assert!(matches!(
        huge.save(&mut con).await,
        Err(Error::Encode { .. })
    ));
    // ef_runtime is an HNSW option.
    let flat_ef = Item::find_all()
        .knn(|i| i.l2, &[0.5; 64], 3)
        .ef_runtime(50)
        .all(&mut con)
        .await;
    assert!(
        matches!(flat_ef, Err(Error::InvalidArgument(_))),
        "{flat_ef:?}"
    );
    // Nothing saved above was refused by the index.
    let status = Item::index_status(&mut con).await.unwrap();
    assert_eq!(status.indexing_failures, failures_before, "{status}");
    // A vector of another length written by another client reads as an
    // error naming the field (the index refused that document).
    let key = Item::key_layout().key(&good_pk);
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("ip")
        .arg(&[0u8; 8][..])
        .query_async(&mut con)
        .await
        .unwrap();
    match Item::get(&mut con, &good_pk).await {
        Err(Error::Decode { field, reason, .. }) => {
            assert_eq!(field.as_deref(), Some("ip"));
            assert!(reason.contains("dim is 64"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
}

// redis-om-python's vector tests (tests/test_hash_model.py,
// tests/test_json_model.py, tests/test_knn_expression.py), in Rust.

#[tokio::test]
async fn python_vector_fields_save_and_read_back() {
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "VecPyHash")]
    struct VectorDocument {
        pk: Option<String>,
        name: String,
        #[redis_om(vector(algorithm = "flat", dim = 4, distance = "cosine"))]
        embedding: Vec<f32>,
    }
    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "VecPyJson")]
    struct Group {
        pk: Option<String>,
        articles: Vec<String>,
        tender_text: String,
        #[redis_om(vector(algorithm = "flat", dim = 4, distance = "cosine"))]
        tender_embedding: Vec<f32>,
    }
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<VectorDocument>()
        .model::<Group>()
        .run(&mut con)
        .await
        .unwrap();
    let mut doc = VectorDocument {
        pk: None,
        name: "test".into(),
        embedding: vec![0.1, 0.2, 0.3, 0.4],
    };
    let pk = doc.save(&mut con).await.unwrap();
    // Unlike redis-om-python (which packs base64 text), the vector reads back.
    assert_eq!(VectorDocument::get(&mut con, &pk).await.unwrap(), doc);
    let mut group = Group {
        pk: None,
        articles: vec!["Test Article".into()],
        tender_text: "Sample text".into(),
        tender_embedding: vec![0.1, 0.2, 0.3, 0.4],
    };
    let pk = group.save(&mut con).await.unwrap();
    assert_eq!(Group::get(&mut con, &pk).await.unwrap(), group);
    let (found, score) = Group::find_all()
        .knn(|g| g.tender_embedding, &[0.1, 0.2, 0.3, 0.4], 1)
        .first(&mut con)
        .await
        .unwrap();
    assert_eq!(found.tender_text, "Sample text");
    assert!(score.abs() < 1e-6, "{score}");
}

#[tokio::test]
async fn python_or_expression_with_knn() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new().model::<Doc>().run(&mut con).await.unwrap();
        let run = common::unique("album");
        let album = |tags: &[&str], e: [f32; 2]| Doc {
            pk: None,
            run: run.clone(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            title_embeddings: e,
        };
        let mut albums = vec![
            album(&["Genre:rock", "Decade:70s"], [0.7, 0.3]),
            album(&["Genre:rock", "Decade:60s"], [0.6, 0.4]),
            album(&["Genre:prog-rock", "Decade:70s"], [0.5, 0.5]),
        ];
        Doc::save_all(&mut con, &mut albums).await.unwrap();
        let r = run.clone();
        let or = move |d: &DocFields| {
            d.run.eq(r.as_str())
                & ((d.tags.eq("Genre:rock") & d.tags.eq("Decade:70s"))
                    | (d.tags.eq("Genre:rock") & d.tags.eq("Decade:60s")))
        };
        assert_eq!(Doc::find(or.clone()).all(&mut con).await.unwrap().len(), 2);
        let r = run.clone();
        let all = Doc::find(move |d| d.run.eq(r.as_str()))
            .knn(|d| d.title_embeddings, &[0.65, 0.35], 3)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        let combined = Doc::find(or)
            .knn(|d| d.title_embeddings, &[0.65, 0.35], 3)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(combined.len(), 2);
        // Nearest first: [0.7, 0.3] and [0.6, 0.4] are equally near [0.65, 0.35]
        // in angle only approximately; both are there, with their distances.
        let mut tags: Vec<&str> = combined.iter().map(|(d, _)| d.tags[1].as_str()).collect();
        tags.sort();
        assert_eq!(tags, ["Decade:60s", "Decade:70s"]);
        assert!(combined[0].1 <= combined[1].1);
    }
}
