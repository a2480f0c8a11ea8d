//! Writes refuse what could not be read back or indexed, errors name their
//! key, and save options mean what they say (issue 11). Every test runs
//! against the real servers `scripts/test` starts.

mod common;

use std::time::{Duration, Instant};

#[cfg(feature = "chrono")]
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

async fn con() -> redis::aio::MultiplexedConnection {
    common::multiplexed(&common::url()).await
}

async fn exists(con: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    con.exists(key).await.unwrap()
}

// ---------------------------------------------------------------- values

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Reading {
    at: String,
    value: f64,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrJsonFloat")]
struct JsonFloat {
    pk: Option<String>,
    name: String,
    value: f64,
    readings: Vec<Reading>,
}

#[tokio::test]
async fn json_nan_and_infinity_are_refused_naming_the_field() {
    let mut con = con().await;
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut doc = JsonFloat {
            pk: Some(common::unique("f")),
            name: "n".into(),
            value: bad,
            readings: vec![],
        };
        let key = JsonFloat::key_layout().key(doc.pk.as_deref().unwrap());
        match doc.save(&mut con).await {
            Err(Error::Encode { key: k, reason }) => {
                assert_eq!(k, key);
                assert!(reason.starts_with("field \"value\": "), "{reason}");
                assert!(reason.contains("could not be read back"), "{reason}");
            }
            other => panic!("{bad}: expected Encode, got {other:?}"),
        }
        assert!(!exists(&mut con, &key).await, "nothing may be written");

        // Nested, in a list, and through save_all.
        let mut doc = JsonFloat {
            value: 1.0,
            readings: vec![
                Reading {
                    at: "a".into(),
                    value: 2.0,
                },
                Reading {
                    at: "b".into(),
                    value: bad,
                },
            ],
            ..doc
        };
        let err = doc.save(&mut con).await.unwrap_err();
        assert!(
            err.to_string().contains("field \"readings[1].value\""),
            "{err}"
        );
        let err = JsonFloat::save_all(&mut con, std::slice::from_mut(&mut doc))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{err:?}");
        assert!(!exists(&mut con, &key).await);
    }
    // A finite value and a null from an Option still work.
    let mut doc = JsonFloat {
        pk: None,
        name: "ok".into(),
        value: 0.5,
        readings: vec![],
    };
    let pk = doc.save(&mut con).await.unwrap();
    assert_eq!(JsonFloat::get(&mut con, &pk).await.unwrap(), doc);
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrHashFloat")]
struct HashFloat {
    pk: Option<String>,
    #[redis_om(index)]
    score: f64,
    #[redis_om(index)]
    weight: Option<f32>,
    plain: f64,
}

#[tokio::test]
async fn hash_nan_in_an_indexed_field_is_refused() {
    let mut con = con().await;
    for (score, weight) in [(f64::NAN, None), (1.0, Some(f32::NAN))] {
        let mut doc = HashFloat {
            pk: Some(common::unique("h")),
            score,
            weight,
            plain: 0.0,
        };
        let key = HashFloat::key_layout().key(doc.pk.as_deref().unwrap());
        let field = if score.is_nan() { "score" } else { "weight" };
        match doc.save(&mut con).await {
            Err(Error::Encode { key: k, reason }) => {
                assert_eq!(k, key);
                assert!(
                    reason.starts_with(&format!("field \"{field}\": NaN")),
                    "{reason}"
                );
            }
            other => panic!("expected Encode, got {other:?}"),
        }
        assert!(!exists(&mut con, &key).await, "nothing may be written");
    }
    // NaN in a field that is not indexed reads back (stored "nan", as Python).
    let mut doc = HashFloat {
        pk: None,
        score: f64::INFINITY,
        weight: None,
        plain: f64::NAN,
    };
    let pk = doc.save(&mut con).await.unwrap();
    let got = HashFloat::get(&mut con, &pk).await.unwrap();
    assert!(got.plain.is_nan());
    assert_eq!(got.score, f64::INFINITY);
}

#[cfg(feature = "chrono")] // the datetime rules need chrono fields
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrHashTime")]
struct HashTime {
    pk: Option<String>,
    at: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

#[cfg(feature = "chrono")] // the datetime rules need chrono fields
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrJsonTime")]
struct JsonTime {
    pk: Option<String>,
    #[redis_om(index)]
    #[serde(with = "redis_om::timestamp")]
    created: DateTime<Utc>,
    #[redis_om(index)]
    #[serde(default, with = "redis_om::timestamp::option")]
    shipped: Option<DateTime<Utc>>,
}

#[cfg(feature = "chrono")] // the datetime rules need chrono fields
#[tokio::test]
async fn a_datetime_that_cannot_be_read_back_is_refused_at_save() {
    let mut con = con().await;
    let max = DateTime::<Utc>::MAX_UTC;
    let mut hash = HashTime {
        pk: None,
        at: Utc::now(),
        until: Some(max),
    };
    match hash.save(&mut con).await {
        Err(Error::Encode { reason, .. }) => {
            assert!(reason.starts_with("field \"until\": "), "{reason}")
        }
        other => panic!("expected Encode, got {other:?}"),
    }
    let mut json = JsonTime {
        pk: None,
        created: max,
        shipped: None,
    };
    match json.save(&mut con).await {
        Err(Error::Encode { reason, .. }) => {
            assert!(reason.starts_with("field \"created\": "), "{reason}")
        }
        other => panic!("expected Encode, got {other:?}"),
    }
    let mut json = JsonTime {
        pk: None,
        created: Utc::now(),
        shipped: Some(max),
    };
    let err = json.save(&mut con).await.unwrap_err();
    assert!(err.to_string().contains("field \"shipped\""), "{err}");

    // The last second that reads back still saves (microseconds kept, nanoseconds dropped).
    let late = Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap();
    let mut hash = HashTime {
        pk: None,
        at: late,
        until: None,
    };
    let pk = hash.save(&mut con).await.unwrap();
    assert_eq!(HashTime::get(&mut con, &pk).await.unwrap().at, late);
    let precise = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
    let mut hash = HashTime {
        pk: None,
        at: precise,
        until: None,
    };
    let pk = hash.save(&mut con).await.unwrap();
    assert_eq!(
        HashTime::get(&mut con, &pk).await.unwrap().at,
        DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
    );
}

#[cfg(feature = "chrono")] // the datetime rules need chrono fields
#[tokio::test]
async fn optional_json_datetimes_are_stored_as_seconds_and_indexed() {
    let mut con = con().await;
    let index = JsonTime::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, JsonTime::key_layout().key_prefix()).await;
    Migrator::new()
        .model::<JsonTime>()
        .run(&mut con)
        .await
        .unwrap();
    let shipped = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
    let mut with = JsonTime {
        pk: None,
        created: shipped,
        shipped: Some(shipped),
    };
    let mut without = JsonTime {
        pk: None,
        created: shipped,
        shipped: None,
    };
    let pk_with = with.save(&mut con).await.unwrap();
    let pk_without = without.save(&mut con).await.unwrap();
    let raw: String = redis::cmd("JSON.GET")
        .arg(JsonTime::key_layout().key(&pk_with))
        .arg("$.shipped")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(raw, "[1714979289.0]");
    assert_eq!(JsonTime::get(&mut con, &pk_with).await.unwrap(), with);
    assert_eq!(JsonTime::get(&mut con, &pk_without).await.unwrap(), without);
    let found = JsonTime::find(|t| {
        t.shipped
            .between(shipped - chrono::Duration::seconds(1), shipped)
    })
    .all(&mut con)
    .await
    .unwrap();
    assert_eq!(found, vec![with]);
    let status = JsonTime::index_status(&mut con).await.unwrap();
    assert_eq!(status.indexing_failures, 0, "{status}");
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrStatus")]
struct StatusDoc {
    pk: Option<String>,
    #[redis_om(index)]
    n: i64,
}

#[tokio::test]
async fn index_status_reports_a_document_the_server_refused_to_index() {
    let mut con = con().await;
    let index = StatusDoc::key_layout().index_name().to_owned();
    common::reset_index(&mut con, &index, StatusDoc::key_layout().key_prefix()).await;
    let err = StatusDoc::index_status(&mut con).await.unwrap_err();
    assert!(matches!(err, Error::IndexMissing { .. }), "{err:?}");
    Migrator::new()
        .model::<StatusDoc>()
        .run(&mut con)
        .await
        .unwrap();
    for n in 0..2 {
        StatusDoc { pk: None, n }.save(&mut con).await.unwrap();
    }
    // Written by another tool: not a number, which a NUMERIC index refuses.
    let bad_key = StatusDoc::key_layout().key("written-elsewhere");
    let _: () = con.hset(&bad_key, "n", "twelve").await.unwrap();
    let started = Instant::now();
    let status = loop {
        let status = StatusDoc::index_status(&mut con).await.unwrap();
        if status.indexing_failures > 0 || started.elapsed() > Duration::from_secs(3) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.indexing_failures, 1, "{status}");
    assert_eq!(status.num_docs, 2, "{status}");
    assert_eq!(status.last_error_key.as_deref(), Some(bad_key.as_str()));
    assert!(status.to_string().contains("1 refused"), "{status}");
    // The migrator's report says it too (and a dry run does not look).
    let report = Migrator::new()
        .model::<StatusDoc>()
        .run(&mut con)
        .await
        .unwrap();
    assert_eq!(report.models[0].indexing_failures, Some(1));
    assert!(
        report
            .to_string()
            .contains("1 documents refused by the index"),
        "{report}"
    );
    let plan = Migrator::new()
        .model::<StatusDoc>()
        .dry_run(&mut con)
        .await
        .unwrap();
    assert_eq!(plan.models[0].indexing_failures, None);
    // The same through a blocking connection.
    let mut sync = common::sync_con(&common::url());
    assert_eq!(
        <StatusDoc as redis_om::blocking::SyncModel>::index_status(&mut sync)
            .unwrap()
            .indexing_failures,
        1
    );
}

// ---------------------------------------------------------------- save options and keys

#[tokio::test]
async fn contradictory_save_conditions_are_an_invalid_argument() {
    let mut con = con().await;
    let both = [
        SaveOptions::new().only_if_new().only_if_exists(),
        SaveOptions::new().only_if_exists().only_if_new(),
    ];
    for options in both {
        let mut doc = StatusDoc {
            pk: Some(common::unique("both")),
            n: 1,
        };
        let key = StatusDoc::key_layout().key(doc.pk.as_deref().unwrap());
        let err = doc.save_with(&mut con, options).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(err.to_string().contains("cannot be combined"), "{err}");
        assert!(!exists(&mut con, &key).await);
    }
    // Repeating the same condition is fine.
    let mut doc = StatusDoc { pk: None, n: 1 };
    let options = SaveOptions::new().only_if_new().only_if_new();
    assert!(doc.save_with(&mut con, options).await.unwrap().is_some());
}

#[tokio::test]
async fn only_if_exists_without_a_primary_key_is_none() {
    let mut con = con().await;
    let mut doc = StatusDoc { pk: None, n: 1 };
    let options = SaveOptions::new().only_if_exists();
    assert_eq!(doc.save_with(&mut con, options).await.unwrap(), None);
    assert_eq!(doc.pk, None, "no primary key is generated");
    let mut sync = common::sync_con(&common::url());
    assert_eq!(
        redis_om::blocking::SyncModel::save_with(&mut doc, &mut sync, options).unwrap(),
        None
    );
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrNoPk")]
struct NoPk {
    pk: Option<String>,
    name: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrNoPkString")]
struct NoPkString {
    pk: String,
    name: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrNoPkInt")]
struct NoPkInt {
    #[redis_om(primary_key)]
    id: u64,
    name: String,
}

#[tokio::test]
async fn a_json_document_without_its_pk_field_takes_the_pk_from_its_key() {
    let mut con = con().await;
    let pk = common::unique("nopk");
    for key in [
        NoPk::key_layout().key(&pk),
        NoPkString::key_layout().key(&pk),
    ] {
        let _: () = redis::cmd("JSON.SET")
            .arg(&key)
            .arg("$")
            .arg(r#"{"name":"from another tool"}"#)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let mut doc = NoPk::get(&mut con, &pk).await.unwrap();
    assert_eq!(doc.pk.as_deref(), Some(pk.as_str()));
    // Saving it again writes the same key, not a duplicate.
    doc.name = "updated".into();
    assert_eq!(doc.save(&mut con).await.unwrap(), pk);
    let keys: Vec<String> = con
        .keys(format!("{}*{}*", NoPk::key_layout().key_prefix(), pk))
        .await
        .unwrap();
    assert_eq!(keys, vec![NoPk::key_layout().key(&pk)]);
    assert_eq!(NoPk::get(&mut con, &pk).await.unwrap(), doc);

    let doc = NoPkString::get(&mut con, &pk).await.unwrap();
    assert_eq!(doc.pk, pk);
    let many = NoPkString::get_many(&mut con, [&pk]).await.unwrap();
    assert_eq!(many, vec![Some(doc)]);

    let id = u64::from(uuid::Uuid::now_v7().as_fields().1) + 1_000_000;
    let key = NoPkInt::key_layout().key(id);
    let _: () = redis::cmd("JSON.SET")
        .arg(&key)
        .arg("$")
        .arg(r#"{"name":"n"}"#)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(NoPkInt::get(&mut con, id).await.unwrap().id, id);
    // A document of the wrong shape is still a decode error naming the field.
    let _: () = redis::cmd("JSON.SET")
        .arg(&key)
        .arg("$")
        .arg(r#"{"name":5}"#)
        .query_async(&mut con)
        .await
        .unwrap();
    match NoPkInt::get(&mut con, id).await {
        Err(Error::Decode { field, .. }) => assert_eq!(field.as_deref(), Some("name")),
        other => panic!("expected Decode, got {other:?}"),
    }
}

// ---------------------------------------------------------------- errors that name the key

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrMixed")]
struct Mixed {
    pk: Option<String>,
    n: i64,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "WrMixedJson")]
struct MixedJson {
    pk: Option<String>,
    n: i64,
}

#[tokio::test]
async fn get_many_reports_each_unreadable_key_and_keeps_the_others() {
    let mut con = con().await;
    let mut docs: Vec<Mixed> = (0..3).map(|n| Mixed { pk: None, n }).collect();
    let pks = Mixed::save_all(&mut con, &mut docs).await.unwrap();
    let wrong = Mixed::key_layout().key(&pks[1]);
    let _: () = con.del(&wrong).await.unwrap();
    let _: () = con.set(&wrong, "a string").await.unwrap();
    let missing = common::unique("missing");
    let asked = [&pks[0], &pks[1], &pks[2], &missing];

    match Mixed::get_many(&mut con, asked).await {
        Err(Error::BulkRead { total, failed }) => {
            assert_eq!(total, 4);
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert_eq!(failed[0].index, 1);
            assert_eq!(failed[0].key, wrong);
            assert!(
                failed[0].reason.contains("another Redis type"),
                "{}",
                failed[0].reason
            );
        }
        other => panic!("expected BulkRead, got {other:?}"),
    }
    let each = Mixed::get_many_each(&mut con, asked).await.unwrap();
    assert_eq!(each.len(), 4);
    assert_eq!(each[0].as_ref().unwrap().as_ref(), Some(&docs[0]));
    assert!(
        matches!(&each[1], Err(Error::WrongType { key, .. }) if *key == wrong),
        "{:?}",
        each[1]
    );
    assert_eq!(each[2].as_ref().unwrap().as_ref(), Some(&docs[2]));
    assert!(matches!(each[3], Ok(None)));
    let mut sync = common::sync_con(&common::url());
    let each = <Mixed as redis_om::blocking::SyncModel>::get_many_each(&mut sync, asked).unwrap();
    assert!(matches!(each[1], Err(Error::WrongType { .. })));

    // A JSON model reading a hash.
    let mut json = MixedJson { pk: None, n: 1 };
    let pk = json.save(&mut con).await.unwrap();
    let hash_key = MixedJson::key_layout().key("a-hash");
    let _: () = con.hset(&hash_key, "n", 1).await.unwrap();
    match MixedJson::get_many(&mut con, [pk.as_str(), "a-hash"]).await {
        Err(Error::BulkRead { failed, .. }) => {
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].key, hash_key);
        }
        other => panic!("expected BulkRead, got {other:?}"),
    }
}

#[tokio::test]
async fn saving_onto_a_key_of_another_type_names_the_key() {
    let mut con = con().await;
    let pk = common::unique("wrong");
    let key = Mixed::key_layout().key(&pk);
    let _: () = con.set(&key, "a string").await.unwrap();
    let mut doc = Mixed {
        pk: Some(pk.clone()),
        n: 1,
    };
    for options in [
        None,
        Some(SaveOptions::new().only_if_exists()),
        Some(SaveOptions::new().ttl(Duration::from_secs(60))),
    ] {
        let err = match options {
            None => doc.save(&mut con).await.unwrap_err(),
            Some(options) => doc.save_with(&mut con, options).await.unwrap_err(),
        };
        match &err {
            Error::WrongType { key: k, expected } => {
                assert_eq!(*k, key);
                assert_eq!(*expected, "hash");
            }
            other => panic!("{options:?}: expected WrongType, got {other:?}"),
        }
        assert!(err.to_string().contains(&key), "{err}");
    }
    let mut sync = common::sync_con(&common::url());
    let err = redis_om::blocking::SyncModel::save(&mut doc, &mut sync).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err:?}");

    let json_key = MixedJson::key_layout().key(&pk);
    let _: () = con.hset(&json_key, "n", 1).await.unwrap();
    let mut json = MixedJson {
        pk: Some(pk.clone()),
        n: 1,
    };
    for conditional in [false, true] {
        let err = if conditional {
            json.save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap_err()
        } else {
            json.save(&mut con).await.unwrap_err()
        };
        assert!(
            matches!(&err, Error::WrongType { key, expected: "ReJSON-RL" } if *key == json_key),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn json_operations_without_redisjson_are_module_missing() {
    let url = common::env_url("REDIS_OM_PLAIN_URL");
    let mut con = redis_om::connect(url.as_str()).await.unwrap();
    let missing = |err: &Error| matches!(err, Error::ModuleMissing { module: "ReJSON" });
    let mut doc = MixedJson { pk: None, n: 1 };
    let err = doc
        .save_with(&mut con, SaveOptions::new().only_if_new())
        .await
        .unwrap_err();
    assert!(missing(&err), "save_with: {err:?}");
    let err = doc
        .save_with(&mut con, SaveOptions::new().ttl(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert!(missing(&err), "save_with ttl: {err:?}");
    let err = MixedJson::save_all(&mut con, std::slice::from_mut(&mut doc))
        .await
        .unwrap_err();
    assert!(missing(&err), "save_all: {err:?}");
    let err = MixedJson::get_many(&mut con, ["a", "b"]).await.unwrap_err();
    assert!(missing(&err), "get_many: {err:?}");
    let err = MixedJson::get_many_each(&mut con, ["a"]).await.unwrap_err();
    assert!(missing(&err), "get_many_each: {err:?}");
    let mut sync = common::sync_con(&url);
    let err = <MixedJson as redis_om::blocking::SyncModel>::save_all(
        &mut sync,
        std::slice::from_mut(&mut doc),
    )
    .unwrap_err();
    assert!(missing(&err), "sync save_all: {err:?}");
}
