//! Hostile and malformed input: odd keys and prefixes, malformed stored data,
//! oversized values.

mod common;

use futures_util::TryStreamExt;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Host*[ile]? x")]
struct Odd {
    pk: String,
    v: String,
}

/// Its prefix starts like `Odd`'s, and matches `Odd`'s prefix as a glob pattern.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Host-ile- x-more")]
struct Neighbour {
    pk: String,
    v: String,
}

#[tokio::test]
async fn odd_primary_keys_and_prefixes_round_trip() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        common::clear_prefix(&mut con, Odd::key_layout().key_prefix()).await;
        common::clear_prefix(&mut con, Neighbour::key_layout().key_prefix()).await;
        let pks = [
            "a:b:c",
            "*",
            "?",
            "[abc]",
            "with space",
            "ünïcødé 東京 😀",
            "back\\slash",
            ":leading",
            "trailing:",
            "tab\there",
            "new\nline",
        ];
        for pk in pks {
            Odd {
                pk: pk.into(),
                v: format!("v {pk}"),
            }
            .save(&mut con)
            .await
            .unwrap();
            Neighbour {
                pk: pk.into(),
                v: "neighbour".into(),
            }
            .save(&mut con)
            .await
            .unwrap();
        }
        for pk in pks {
            let got = Odd::get(&mut con, pk).await.unwrap();
            assert_eq!(got.pk, pk);
            assert_eq!(got.v, format!("v {pk}"));
            assert!(Odd::exists(&mut con, pk).await.unwrap());
        }
        let mut listed: Vec<String> = Odd::all_pks(&mut con).try_collect().await.unwrap();
        listed.sort();
        let mut want: Vec<String> = pks.iter().map(|p| p.to_string()).collect();
        want.sort();
        assert_eq!(listed, want, "all_pks returns exactly this model's keys");
        for pk in pks {
            assert!(Odd::delete(&mut con, pk).await.unwrap());
        }
        let left: Vec<String> = Odd::all_pks(&mut con).try_collect().await.unwrap();
        assert!(left.is_empty());
        let neighbours: Vec<String> = Neighbour::all_pks(&mut con).try_collect().await.unwrap();
        assert_eq!(neighbours.len(), pks.len());
        common::clear_prefix(&mut con, Neighbour::key_layout().key_prefix()).await;
    }
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "HostileDoc")]
struct Doc {
    pk: String,
    address: Address,
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    city: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "HostileHash")]
struct Flat {
    pk: String,
    v: String,
}

#[tokio::test]
async fn malformed_stored_data_is_a_decode_error_naming_the_key() {
    let mut con = common::multiplexed(&common::url()).await;
    // A JSON document of the wrong shape.
    let key = Doc::key_layout().key("shape");
    let _: () = redis::cmd("JSON.SET")
        .arg(&key)
        .arg("$")
        .arg(r#"{"pk":"shape","address":{"city":7},"tags":[]}"#)
        .query_async(&mut con)
        .await
        .unwrap();
    match Doc::get(&mut con, "shape").await.unwrap_err() {
        Error::Decode { key: k, field, .. } => {
            assert_eq!(k, key);
            assert_eq!(field.as_deref(), Some("address.city"));
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    // Keys of the wrong Redis type, for a JSON and a hash model.
    let _: () = con
        .set(Doc::key_layout().key("string"), "plain")
        .await
        .unwrap();
    let _: () = con
        .set(Flat::key_layout().key("string"), "plain")
        .await
        .unwrap();
    for err in [
        Doc::get(&mut con, "string").await.unwrap_err(),
        Flat::get(&mut con, "string").await.unwrap_err(),
    ] {
        match &err {
            Error::Decode { key, reason, .. } => {
                assert!(key.ends_with(":string"), "{key}");
                assert!(reason.contains("WRONGTYPE"), "{reason}");
            }
            other => panic!("expected Decode, got {other:?}"),
        }
    }
    // A hash field that is not the field's type.
    let _: () = con
        .hset(Flat::key_layout().key("h"), "pk", "h")
        .await
        .unwrap();
    match Flat::get(&mut con, "h").await.unwrap_err() {
        Error::Decode { field, reason, .. } => {
            assert_eq!(field.as_deref(), Some("v"));
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    let _: () = con
        .del(&[
            key,
            Doc::key_layout().key("string"),
            Flat::key_layout().key("string"),
            Flat::key_layout().key("h"),
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn oversized_values_work() {
    // Room for 10 MB each way on a slower machine.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(10)));
    let mut con = redis_om::connect_with(common::url(), config).await.unwrap();
    let big = "x".repeat(10 * 1024 * 1024);
    let mut flat = Flat {
        pk: "big".into(),
        v: big.clone(),
    };
    flat.save(&mut con).await.unwrap();
    assert_eq!(Flat::get(&mut con, "big").await.unwrap().v.len(), big.len());
    assert!(Flat::delete(&mut con, "big").await.unwrap());

    let mut doc = Doc {
        pk: "long".into(),
        address: Address { city: "x".into() },
        tags: (0..100_000).map(|i| format!("tag{i}")).collect(),
    };
    doc.save(&mut con).await.unwrap();
    assert_eq!(Doc::get(&mut con, "long").await.unwrap(), doc);
    assert!(Doc::delete(&mut con, "long").await.unwrap());
}
