//! Sharing data and indexes with redis-om-python 1.2.0 itself (installed from
//! PyPI by `scripts/python-om`, found through `REDIS_OM_PYTHON`, which
//! `scripts/test` sets). For a matrix of models written the same way on both
//! sides (`tests/python/compat.py`):
//! - the schema text (whose SHA-1 both migrators compare) is byte for byte Python's;
//! - Python migrates and saves first: our migrator leaves its index alone, and
//!   `get`/`find` return every Python document;
//! - we migrate and save first: Python's Migrator leaves our index alone, and
//!   Python's `get`/`find` return every Rust document.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::{EmbeddedModel, HashValue, MigrationAction, Migrator, Model};
use serde::{Deserialize, Serialize};

#[derive(HashValue, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyHash")]
struct PyHash {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    nickname: Option<String>,
    #[redis_om(index, sortable)]
    age: i64,
    #[redis_om(index)]
    active: bool,
    score: f64,
    #[redis_om(index)]
    joined: DateTime<Utc>,
    #[redis_om(full_text)]
    bio: String,
    #[redis_om(index, case_sensitive)]
    code: String,
    #[redis_om(index)]
    status: Status,
    #[redis_om(index)]
    maybe: Option<String>,
    #[redis_om(index)]
    born: NaiveDate,
    #[redis_om(index)]
    r#ref: uuid::Uuid,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyHashPk")]
struct PyHashPk {
    #[redis_om(index, sortable)]
    name: String,
    #[redis_om(primary_key)]
    id: i64,
    note: Option<String>,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    #[redis_om(index)]
    city: String,
    street: String,
}

#[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    #[redis_om(index)]
    name: String,
    qty: i64,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyJson")]
struct PyJson {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    note: Option<String>,
    #[redis_om(index)]
    tags: Vec<String>,
    #[redis_om(index, sortable)]
    age: i64,
    #[redis_om(embed)]
    address: Address,
    #[redis_om(embed)]
    orders: Vec<Order>,
    #[redis_om(full_text, sortable)]
    title: String,
    #[redis_om(index)]
    flag: bool,
    #[redis_om(index)]
    #[serde(with = "redis_om::timestamp")]
    created: DateTime<Utc>,
    extra: Vec<String>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyJsonPk")]
struct PyJsonPk {
    #[redis_om(index)]
    title: String,
    note: String,
    #[redis_om(primary_key)]
    code: String,
    #[redis_om(index, sortable)]
    count: i64,
}

const N: usize = 3;

fn when(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2 + i as u32, 8, 30, 0)
        .unwrap()
}

// Document i of side "py" or "rs": the same as `expected()` in compat.py.
fn hash_doc(side: &str, i: usize) -> PyHash {
    PyHash {
        pk: None,
        name: format!("{side}-{i}"),
        nickname: i.is_multiple_of(2).then(|| format!("nick{i}")),
        age: 30 + i as i64,
        active: i.is_multiple_of(2),
        score: i as f64 * 1.5,
        joined: when(i),
        bio: format!("{side} likes redis number {i}"),
        code: format!("Code-{side}-{i}"),
        status: if i % 2 == 1 {
            Status::Active
        } else {
            Status::OnHold
        },
        maybe: i.is_multiple_of(2).then(|| format!("m{i}")),
        born: NaiveDate::from_ymd_opt(1990, 1, 1 + i as u32).unwrap(),
        r#ref: uuid::Uuid::from_u128((i + if side == "py" { 1 } else { 100 }) as u128),
    }
}

fn hash_pk_doc(side: &str, i: usize) -> PyHashPk {
    PyHashPk {
        name: format!("{side}-{i}"),
        id: if side == "py" { 1000 } else { 2000 } + i as i64,
        note: i.is_multiple_of(2).then(|| "a note".to_owned()),
    }
}

fn json_doc(side: &str, i: usize) -> PyJson {
    PyJson {
        pk: None,
        name: format!("{side}-{i}"),
        note: i.is_multiple_of(2).then(|| "a note".to_owned()),
        tags: vec![side.to_owned(), format!("t{i}")],
        age: 30 + i as i64,
        address: Address {
            city: format!("city-{side}-{i}"),
            street: "Main St".into(),
        },
        orders: vec![Order {
            name: format!("o{i}"),
            qty: i as i64,
        }],
        title: format!("{side} title {i}"),
        flag: i.is_multiple_of(2),
        created: when(i),
        extra: vec!["e".into()],
    }
}

fn json_pk_doc(side: &str, i: usize) -> PyJsonPk {
    PyJsonPk {
        title: format!("{side}-{i}"),
        note: String::new(),
        code: format!("{side}-code-{i}"),
        count: i as i64,
    }
}

/// Runs compat.py with redis-om-python 1.2.0; its stdout.
fn python(args: &[&str]) -> String {
    let interpreter = std::env::var("REDIS_OM_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "REDIS_OM_PYTHON is not set: run the tests with `scripts/test`, which installs \
             redis-om==1.2.0 with scripts/python-om (python3 and PyPI needed) and sets it"
            )
        });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/compat.py");
    let out = Command::new(&interpreter)
        .arg(script)
        .args(args)
        .env("REDIS_OM_URL", common::url())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {interpreter}: {e}"));
    assert!(
        out.status.success(),
        "compat.py {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn layouts() -> [(&'static str, &'static redis_om::KeyLayout); 4] {
    [
        ("PyHash", PyHash::key_layout()),
        ("PyHashPk", PyHashPk::key_layout()),
        ("PyJson", PyJson::key_layout()),
        ("PyJsonPk", PyJsonPk::key_layout()),
    ]
}

async fn reset_all(con: &mut MultiplexedConnection) {
    for (_, layout) in layouts() {
        common::reset_index(con, layout.index_name(), layout.key_prefix()).await;
    }
}

fn migrator() -> Migrator {
    Migrator::new()
        .model::<PyHash>()
        .model::<PyHashPk>()
        .model::<PyJson>()
        .model::<PyJsonPk>()
}

/// The indexes (not aliases) each model's index name has, and its stored hash.
async fn index_state(con: &mut MultiplexedConnection) -> Vec<(Vec<String>, Option<String>)> {
    let mut out = Vec::new();
    for (_, layout) in layouts() {
        let indexes = common::indexes_starting_with(con, layout.index_name()).await;
        let hash: Option<String> = con
            .get(format!("{}:hash", layout.index_name()))
            .await
            .unwrap();
        out.push((indexes, hash));
    }
    out
}

#[tokio::test]
async fn shares_indexes_and_documents_with_redis_om_python() {
    let mut con = common::multiplexed(&common::url()).await;
    reset_all(&mut con).await;

    // 1. The schema text, byte for byte.
    let theirs: BTreeMap<String, String> = serde_json::from_str(&python(&["schemas"])).unwrap();
    let ours = BTreeMap::from([
        ("PyHash".to_owned(), PyHash::index_schema().text()),
        ("PyHashPk".to_owned(), PyHashPk::index_schema().text()),
        ("PyJson".to_owned(), PyJson::index_schema().text()),
        ("PyJsonPk".to_owned(), PyJsonPk::index_schema().text()),
    ]);
    for (name, text) in &ours {
        assert_eq!(Some(text), theirs.get(name), "schema text of {name}");
    }

    // 2. Python first: its Migrator creates plain indexes, it saves documents.
    python(&["migrate"]);
    let before = index_state(&mut con).await;
    let pks: BTreeMap<String, Vec<String>> = serde_json::from_str(&python(&["save"])).unwrap();
    let report = migrator().run(&mut con).await.unwrap();
    for m in &report.models {
        assert_eq!(
            m.action,
            MigrationAction::Unchanged,
            "{}: {report}",
            m.model
        );
        assert!(m.commands.is_empty(), "{report}");
    }
    assert_eq!(
        index_state(&mut con).await,
        before,
        "Python's indexes left alone"
    );

    #[allow(clippy::needless_range_loop)] // i also builds the expected documents
    for i in 0..N {
        let pk = &pks["PyHash"][i];
        let want = PyHash {
            pk: Some(pk.clone()),
            ..hash_doc("py", i)
        };
        assert_eq!(PyHash::get(&mut con, pk).await.unwrap(), want);
        let found = PyHash::find(|m| m.name.eq(format!("py-{i}")))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want]);

        let pk = &pks["PyHashPk"][i];
        let want = hash_pk_doc("py", i);
        assert_eq!(&want.id.to_string(), pk);
        assert_eq!(PyHashPk::get(&mut con, pk).await.unwrap(), want);
        let found = PyHashPk::find(|m| m.name.eq(format!("py-{i}")))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want]);

        let pk = &pks["PyJson"][i];
        let want = PyJson {
            pk: Some(pk.clone()),
            ..json_doc("py", i)
        };
        assert_eq!(PyJson::get(&mut con, pk).await.unwrap(), want);
        let found = PyJson::find(|m| m.address.city.eq(format!("city-py-{i}")))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want]);

        let pk = &pks["PyJsonPk"][i];
        let want = json_pk_doc("py", i);
        assert_eq!(&want.code, pk);
        assert_eq!(PyJsonPk::get(&mut con, pk).await.unwrap(), want);
        let found = PyJsonPk::find(|m| m.title.eq(format!("py-{i}")))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want]);
    }
    assert_eq!(
        PyHash::find(|m| m.age.ge(31) & m.active.eq(true) & m.bio.matches("redis"))
            .count(&mut con)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        PyHash::find(|m| m.status.eq(Status::OnHold)
            & m.maybe.eq("m2")
            & m.born.ge(NaiveDate::from_ymd_opt(1990, 1, 3).unwrap())
            & m.r#ref.eq(uuid::Uuid::from_u128(3)))
        .count(&mut con)
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        PyHash::find(|m| m.code.eq("Code-py-0"))
            .count(&mut con)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        PyJson::find(|m| m.tags.eq("py") & m.orders.name.eq("o2") & m.flag.eq(true))
            .count(&mut con)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        PyJson::find(|m| m.created.ge(when(1)))
            .count(&mut con)
            .await
            .unwrap(),
        2
    );

    // 3. Rust first: our migrator creates versioned indexes behind aliases.
    reset_all(&mut con).await;
    let report = migrator().run(&mut con).await.unwrap();
    for m in &report.models {
        assert!(
            matches!(m.action, MigrationAction::Created { .. }),
            "{report}"
        );
    }
    let mut pks: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for i in 0..N {
        pks.entry("PyHash")
            .or_default()
            .push(hash_doc("rs", i).save(&mut con).await.unwrap());
        pks.entry("PyHashPk")
            .or_default()
            .push(hash_pk_doc("rs", i).save(&mut con).await.unwrap());
        pks.entry("PyJson")
            .or_default()
            .push(json_doc("rs", i).save(&mut con).await.unwrap());
        pks.entry("PyJsonPk")
            .or_default()
            .push(json_pk_doc("rs", i).save(&mut con).await.unwrap());
    }
    let before = index_state(&mut con).await;
    for ((indexes, _), (_, layout)) in before.iter().zip(layouts()) {
        assert_eq!(indexes.len(), 1, "{indexes:?}");
        assert_ne!(indexes[0], layout.index_name(), "a versioned index");
    }
    python(&["migrate"]);
    assert_eq!(
        index_state(&mut con).await,
        before,
        "Python's Migrator left our indexes alone"
    );
    // Python's get and find return every Rust document (it exits non-zero otherwise).
    let problems = python(&["check", &serde_json::to_string(&pks).unwrap()]);
    assert_eq!(problems.trim(), "[]");
    let again = migrator().run(&mut con).await.unwrap();
    assert!(again
        .models
        .iter()
        .all(|m| m.action == MigrationAction::Unchanged));
    reset_all(&mut con).await;
}

/// `bytes` in a JsonModel: redis-om-python stores base64 text, as
/// `redis_om::base64` does (`PyBlob` in compat.py).
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyBlob")]
struct PyBlob {
    pk: Option<String>,
    #[serde(with = "redis_om::base64")]
    data: Vec<u8>,
    #[serde(default, with = "redis_om::base64::option")]
    maybe: Option<Vec<u8>>,
}

/// The same cases as BLOBS in compat.py.
fn blobs() -> Vec<Vec<u8>> {
    vec![
        b"".to_vec(),
        b"\x00".to_vec(),
        b"\xff\xfe\x00\n".to_vec(),
        (0..=255u8).collect(),
        "h\u{e9}llo".as_bytes().to_vec(),
    ]
}

fn blob(i: usize) -> PyBlob {
    let data = blobs()[i].clone();
    PyBlob {
        pk: None,
        maybe: i.is_multiple_of(2).then(|| data.clone()),
        data,
    }
}

#[tokio::test]
async fn bytes_in_json_models_are_read_by_redis_om_python_and_back() {
    let mut con = common::multiplexed(&common::url()).await;
    // Rust saves, Python reads.
    let mut ours = Vec::new();
    for i in 0..blobs().len() {
        let mut doc = blob(i);
        doc.save(&mut con).await.unwrap();
        ours.push(doc);
    }
    let pks: Vec<&str> = ours.iter().map(|d| d.pk.as_deref().unwrap()).collect();
    let problems = python(&["blob-check", &serde_json::to_string(&pks).unwrap()]);
    assert_eq!(problems.trim(), "[]");

    // Python saves, Rust reads; the stored text is the same byte for byte.
    let theirs: Vec<String> = serde_json::from_str(&python(&["blob-save"])).unwrap();
    assert_eq!(theirs.len(), blobs().len());
    for (i, pk) in theirs.iter().enumerate() {
        let got = PyBlob::get(&mut con, pk).await.unwrap();
        let want = blob(i);
        assert_eq!(
            (&got.data, &got.maybe),
            (&want.data, &want.maybe),
            "case {i}"
        );
        for path in ["$.data", "$.maybe"] {
            let python_text: String = redis::cmd("JSON.GET")
                .arg(PyBlob::key_layout().key(pk))
                .arg(path)
                .query_async(&mut con)
                .await
                .unwrap();
            let rust_text: String = redis::cmd("JSON.GET")
                .arg(ours[i].key().unwrap())
                .arg(path)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(python_text, rust_text, "case {i} {path}");
        }
    }
    let keys: Vec<String> = ours
        .iter()
        .map(|d| d.key().unwrap())
        .chain(theirs.iter().map(|pk| PyBlob::key_layout().key(pk)))
        .collect();
    let _: i64 = con.del(keys).await.unwrap();
}

/// `Coordinates` in a HashModel (`PyPlace` in compat.py).
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyPlace")]
struct PyPlace {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    location: Option<redis_om::Coordinates>,
}

/// `Coordinates` in a JsonModel (`PyPlaceDoc` in compat.py).
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyPlaceDoc")]
struct PyPlaceDoc {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    location: Option<redis_om::Coordinates>,
}

/// The same as PLACES in compat.py: (name, longitude, latitude).
const PLACES: [(&str, Option<(f64, f64)>); 5] = [
    ("Portland", Some((-122.6765, 45.5231))),
    ("Nearby", Some((-122.6665, 45.5331))),
    ("Lyon", Some((4.8357, 45.764))),
    ("East", Some((179.95, 0.0))),
    ("Nowhere", None),
];

fn point(i: usize) -> Option<redis_om::Coordinates> {
    PLACES[i]
        .1
        .map(|(lon, lat)| redis_om::Coordinates::new(lon, lat).unwrap())
}

#[derive(Deserialize, Debug, PartialEq)]
struct BySide<T> {
    hash: Vec<T>,
    json: Vec<T>,
}

#[tokio::test]
async fn geo_documents_are_shared_and_queried_both_ways_with_redis_om_python() {
    use redis_om::GeoUnit;
    let mut con = common::multiplexed(&common::url()).await;
    for layout in [PyPlace::key_layout(), PyPlaceDoc::key_layout()] {
        common::reset_index(&mut con, layout.index_name(), layout.key_prefix()).await;
    }
    // The same schema text, so one index serves both services.
    let theirs: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&python(&["geo-schemas"])).unwrap();
    assert_eq!(theirs["PyPlace"], PyPlace::index_schema().text());
    assert_eq!(theirs["PyPlaceDoc"], PyPlaceDoc::index_schema().text());
    Migrator::new()
        .model::<PyPlace>()
        .model::<PyPlaceDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let mut ours = BySide {
        hash: Vec::new(),
        json: Vec::new(),
    };
    for (i, (name, _)) in PLACES.iter().enumerate() {
        let name = format!("rs-{name}");
        let mut place = PyPlace {
            pk: None,
            name: name.clone(),
            location: point(i),
        };
        ours.hash.push(place.save(&mut con).await.unwrap());
        let mut doc = PyPlaceDoc {
            pk: None,
            name,
            location: point(i),
        };
        ours.json.push(doc.save(&mut con).await.unwrap());
    }
    let theirs: BySide<String> = serde_json::from_str(&python(&["geo-save"])).unwrap();
    // Each reads the other's points exactly.
    let pks = format!(
        r#"{{"hash": {}, "json": {}}}"#,
        serde_json::to_string(&ours.hash).unwrap(),
        serde_json::to_string(&ours.json).unwrap()
    );
    let read: BySide<Option<(f64, f64)>> =
        serde_json::from_str(&python(&["geo-get", &pks])).unwrap();
    let want: Vec<Option<(f64, f64)>> = PLACES.iter().map(|(_, p)| *p).collect();
    assert_eq!(read.hash, want);
    assert_eq!(read.json, want);
    for (i, pk) in theirs.hash.iter().enumerate() {
        assert_eq!(PyPlace::get(&mut con, pk).await.unwrap().location, point(i));
    }
    for (i, pk) in theirs.json.iter().enumerate() {
        assert_eq!(
            PyPlaceDoc::get(&mut con, pk).await.unwrap().location,
            point(i)
        );
    }
    // The same query finds the same documents of both sides, from either.
    let portland = point(0).unwrap();
    let both = |names: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = names
            .iter()
            .flat_map(|n| [format!("py-{n}"), format!("rs-{n}")])
            .collect();
        all.sort();
        all
    };
    for (lon, lat, radius, unit, names) in [
        (
            -122.6765,
            45.5231,
            10.0,
            GeoUnit::Miles,
            both(&["Nearby", "Portland"]),
        ),
        (
            -122.6765,
            45.5231,
            500.0,
            GeoUnit::Meters,
            both(&["Portland"]),
        ),
        (-179.95, 0.0, 12.0, GeoUnit::Kilometers, both(&["East"])),
    ] {
        let python_found: BySide<String> = serde_json::from_str(&python(&[
            "geo-find",
            &lon.to_string(),
            &lat.to_string(),
            &radius.to_string(),
            unit.as_str(),
        ]))
        .unwrap();
        assert_eq!(
            python_found.hash, names,
            "Python, hash, {lon} {lat} {radius}"
        );
        assert_eq!(
            python_found.json, names,
            "Python, JSON, {lon} {lat} {radius}"
        );
        let center = redis_om::Coordinates::new(lon, lat).unwrap();
        let mut hash: Vec<String> = PyPlace::find(|p| p.location.within(center, radius, unit))
            .all(&mut con)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        hash.sort();
        assert_eq!(hash, names, "Rust, hash");
        let mut json: Vec<String> = PyPlaceDoc::find(|p| p.location.within(center, radius, unit))
            .all(&mut con)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        json.sort();
        assert_eq!(json, names, "Rust, JSON");
    }
    assert_eq!(portland.to_string(), "-122.6765,45.5231");
}

/// A vector in a JsonModel (`PyVec` in compat.py): the same schema text, the
/// same stored arrays, and KNN from either side finds both sides' documents.
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyVec")]
struct PyVec {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(vector(algorithm = "flat", dim = 4, distance = "cosine"))]
    embedding: Vec<f32>,
    /// redis-om-python's KNN writes its score into a model field.
    score: Option<f64>,
}

/// The same as VECTORS in compat.py.
const VECTORS: [(&str, [f32; 4]); 3] = [
    ("x", [1.0, 0.0, 0.0, 0.0]),
    ("xy", [0.7, 0.7, 0.0, 0.0]),
    ("z", [0.0, 0.0, 1.0, 0.0]),
];

#[tokio::test]
async fn json_vectors_are_shared_and_searched_both_ways_with_redis_om_python() {
    let mut con = common::multiplexed(&common::url()).await;
    let layout = PyVec::key_layout();
    common::reset_index(&mut con, layout.index_name(), layout.key_prefix()).await;
    let theirs: BTreeMap<String, String> = serde_json::from_str(&python(&["vec-schemas"])).unwrap();
    assert_eq!(theirs["PyVec"], PyVec::index_schema().text());
    Migrator::new()
        .model::<PyVec>()
        .run(&mut con)
        .await
        .unwrap();
    let mut ours = Vec::new();
    for (name, embedding) in VECTORS {
        let mut doc = PyVec {
            pk: None,
            name: format!("rs-{name}"),
            embedding: embedding.to_vec(),
            score: None,
        };
        ours.push(doc.save(&mut con).await.unwrap());
    }
    let theirs: Vec<String> = serde_json::from_str(&python(&["vec-save"])).unwrap();
    // Each reads the other's vectors exactly.
    let read: Vec<Vec<f32>> = serde_json::from_str(&python(&[
        "vec-get",
        &serde_json::to_string(&ours).unwrap(),
    ]))
    .unwrap();
    assert_eq!(read, VECTORS.map(|(_, v)| v.to_vec()).to_vec());
    for (pk, (_, embedding)) in theirs.iter().zip(VECTORS) {
        assert_eq!(PyVec::get(&mut con, pk).await.unwrap().embedding, embedding);
    }
    // The two nearest to [1, 0.1, 0, 0] are "x" and "xy" of both sides, from
    // either side, with the same distances.
    let query = [1.0f32, 0.1, 0.0, 0.0];
    let python_found: Vec<(String, f64)> = serde_json::from_str(&python(&[
        "vec-knn",
        &serde_json::to_string(&query).unwrap(),
        "4",
    ]))
    .unwrap();
    let rust_found: Vec<(String, f64)> = PyVec::find_all()
        .knn(|d| d.embedding, &query, 4)
        .all(&mut con)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, score)| (d.name, score))
        .collect();
    let names = |found: &[(String, f64)]| {
        let mut names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&python_found), ["py-x", "py-xy", "rs-x", "rs-xy"]);
    assert_eq!(names(&rust_found), names(&python_found));
    for ((_, a), (_, b)) in python_found.iter().zip(&rust_found) {
        assert!((a - b).abs() < 1e-6, "{python_found:?} {rust_found:?}");
    }
}

/// An instant in a HashModel (`PyInstant` in compat.py).
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyInstant")]
struct PyInstant {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    at: DateTime<Utc>,
}

/// An instant in a JsonModel (`PyInstantDoc` in compat.py).
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-py", prefix = "PyInstantDoc")]
struct PyInstantDoc {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    #[redis_om(index)]
    #[serde(with = "redis_om::timestamp")]
    at: DateTime<Utc>,
}

/// Instants (microseconds since the epoch) in the seconds before 1970 where
/// whole seconds plus a rounded fraction give another double than Python's
/// `datetime.timestamp()`, and a few others (year 1: whole seconds; its
/// microseconds could not be stored, and are refused: `value.rs` tests).
const INSTANTS: &[i64] = &[
    -24_106_090,
    -9_241_962,
    -707_772,
    -58_143_891,
    -36_332_891,
    -8_419_035,
    -5_198_858,
    -52_140_117,
    -59_164_987,
    -701_888,
    -1_000_001,
    -123_457,
    -1,
    -999_999,
    0,
    1,
    -62_135_596_800_000_000,
    1_700_000_000_123_457,
];

/// Instants before 1970 are stored byte for byte as redis-om-python stores
/// them, and `at == instant` from either side finds both sides' documents.
#[tokio::test]
async fn instants_before_1970_are_shared_with_redis_om_python() {
    let mut con = common::multiplexed(&common::url()).await;
    let theirs: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&python(&["instant-schemas"])).unwrap();
    assert_eq!(theirs["PyInstant"], PyInstant::index_schema().text());
    assert_eq!(theirs["PyInstantDoc"], PyInstantDoc::index_schema().text());
    Migrator::new()
        .model::<PyInstant>()
        .model::<PyInstantDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let tag = common::unique("inst").replace('-', "");
    let micros = serde_json::to_string(INSTANTS).unwrap();
    let py: BySide<String> =
        serde_json::from_str(&python(&["instant-save", &tag, &micros])).unwrap();
    for (k, us) in INSTANTS.iter().enumerate() {
        let at = DateTime::from_timestamp_micros(*us).unwrap();
        let name = format!("rs-{tag}-{k}");
        let rs_hash = PyInstant {
            pk: None,
            name: name.clone(),
            at,
        }
        .save(&mut con)
        .await
        .unwrap();
        let rs_json = PyInstantDoc { pk: None, name, at }
            .save(&mut con)
            .await
            .unwrap();
        // The same bytes as Python's: the hash field, and the JSON member.
        let stored = |command: &'static str, key: String, at: &'static str| {
            let mut con = con.clone();
            async move {
                let v: String = redis::cmd(command)
                    .arg(key)
                    .arg(at)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                v
            }
        };
        assert_eq!(
            stored("HGET", PyInstant::key_layout().key(&rs_hash), "at").await,
            stored("HGET", PyInstant::key_layout().key(&py.hash[k]), "at").await,
            "{us} µs in a hash"
        );
        assert_eq!(
            stored("JSON.GET", PyInstantDoc::key_layout().key(&rs_json), "$.at").await,
            stored(
                "JSON.GET",
                PyInstantDoc::key_layout().key(&py.json[k]),
                "$.at"
            )
            .await,
            "{us} µs in JSON"
        );
        // Rust finds both by equality.
        let mut found: Vec<String> = PyInstant::find(|m| m.at.eq(at))
            .all(&mut con)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .filter(|n| n.contains(&tag))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [format!("py-{tag}-{k}"), format!("rs-{tag}-{k}")],
            "{us} µs"
        );
        let mut found: Vec<String> = PyInstantDoc::find(|m| m.at.eq(at))
            .all(&mut con)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .filter(|n| n.contains(&tag))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [format!("py-{tag}-{k}"), format!("rs-{tag}-{k}")],
            "{us} µs JSON"
        );
    }
    // Python finds both by equality.
    let found: BySide<Vec<String>> =
        serde_json::from_str(&python(&["instant-find", &tag, &micros])).unwrap();
    for (k, us) in INSTANTS.iter().enumerate() {
        let want = [format!("py-{tag}-{k}"), format!("rs-{tag}-{k}")];
        assert_eq!(found.hash[k], want, "Python, {us} µs in a hash");
        assert_eq!(found.json[k], want, "Python, {us} µs in JSON");
    }
}
