//! JsonModel against the real server: nested structs, lists and maps, stored with `JSON.SET key $`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    city: String,
    postal_code: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    name: String,
    qty: u32,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test", prefix = "Customer")]
struct Customer {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    address: Address,
    tags: Vec<String>,
    orders: Vec<Order>,
    attributes: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    nickname: Option<String>,
    active: bool,
}

fn customer() -> Customer {
    Customer {
        pk: None,
        name: "Ada \"the\" Countess | {x}".into(),
        address: Address {
            city: "St. Brookins-on-Pier".into(),
            postal_code: "12345".into(),
        },
        tags: vec!["vip".into(), "beta".into()],
        orders: vec![Order {
            name: "ünïcode ☕".into(),
            qty: 2,
        }],
        attributes: BTreeMap::from([("score".to_owned(), 9.5)]),
        nickname: None,
        active: true,
    }
}

#[tokio::test]
async fn save_and_get_nested_documents() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut c = customer();
        let pk = c.save(&mut con).await.unwrap();
        assert_eq!(c.pk.as_deref(), Some(pk.as_str()));
        assert_eq!(Customer::get(&mut con, &pk).await.unwrap(), c);

        // Stored as one JSON document with native types, pk included (as redis-om-python).
        let key = format!("om-test:Customer:{pk}");
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(kind, "ReJSON-RL");
        let raw: String = redis::cmd("JSON.GET")
            .arg(&key)
            .arg("$")
            .query_async(&mut con)
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(doc[0]["pk"], serde_json::json!(pk));
        assert_eq!(doc[0]["active"], serde_json::json!(true));
        assert_eq!(
            doc[0]["address"]["city"],
            serde_json::json!("St. Brookins-on-Pier")
        );
        assert_eq!(doc[0]["orders"][0]["qty"], serde_json::json!(2));

        // A re-save replaces the whole document: a cleared field does not linger.
        c.nickname = Some("Countess".into());
        c.save(&mut con).await.unwrap();
        c.nickname = None;
        c.save(&mut con).await.unwrap();
        let raw: String = redis::cmd("JSON.GET")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(!raw.contains("nickname"), "{raw}");
        assert_eq!(Customer::get(&mut con, &pk).await.unwrap(), c);
        assert!(Customer::delete(&mut con, &pk).await.unwrap());
        assert!(Customer::get(&mut con, &pk)
            .await
            .unwrap_err()
            .is_not_found());
    }
}

#[tokio::test]
async fn conditions_and_ttl_are_atomic() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut c = customer();
        let pk = c
            .save_with(
                &mut con,
                SaveOptions::new()
                    .only_if_new()
                    .ttl(Duration::from_secs(30)),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(Customer::ttl(&mut con, &pk).await.unwrap().unwrap() > Duration::from_secs(20));
        let mut other = c.clone();
        other.name = "other".into();
        assert_eq!(
            other
                .save_with(&mut con, SaveOptions::new().only_if_new())
                .await
                .unwrap(),
            None
        );
        assert_eq!(Customer::get(&mut con, &pk).await.unwrap().name, c.name);
        assert_eq!(
            other
                .save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap(),
            Some(pk.clone())
        );
        assert_eq!(Customer::get(&mut con, &pk).await.unwrap().name, "other");
        other
            .save_with(&mut con, SaveOptions::new().ttl(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(Customer::ttl(&mut con, &pk).await.unwrap().unwrap() <= Duration::from_secs(5));
        Customer::delete(&mut con, &pk).await.unwrap();
        assert_eq!(
            other
                .save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap(),
            None
        );
        assert!(!Customer::exists(&mut con, &pk).await.unwrap());
    }
}

#[tokio::test]
async fn wrong_shape_is_a_decode_error_with_the_path() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut c = customer();
    let pk = c.save(&mut con).await.unwrap();
    let key = format!("om-test:Customer:{pk}");
    let _: () = redis::cmd("JSON.SET")
        .arg(&key)
        .arg("$.address.city")
        .arg("42")
        .query_async(&mut con)
        .await
        .unwrap();
    match Customer::get(&mut con, &pk).await {
        Err(Error::Decode { key: k, field, .. }) => {
            assert_eq!(k, key);
            assert_eq!(field.as_deref(), Some("address.city"));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    Customer::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn all_pks_lists_json_documents_only() {
    #[derive(JsonModel, Serialize, Deserialize, Debug, PartialEq)]
    #[redis_om(global_prefix = "om-test-jscan", prefix = "Doc")]
    struct Doc {
        pk: String,
        n: u8,
    }
    let mut con = common::multiplexed(&common::url()).await;
    common::clear_prefix(&mut con, "om-test-jscan:").await;
    for i in 0..30 {
        Doc {
            pk: format!("d:{i}"),
            n: i,
        }
        .save(&mut con)
        .await
        .unwrap();
    }
    let _: () = con.hset("om-test-jscan:Doc:hash", "n", 1).await.unwrap();
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut pks: Vec<String> = Doc::all_pks(&mut con).try_collect().await.unwrap();
        pks.sort();
        let mut want: Vec<String> = (0..30).map(|i| format!("d:{i}")).collect();
        want.sort();
        assert_eq!(pks, want);
    }
    common::clear_prefix(&mut con, "om-test-jscan:").await;
}

mod aliases {
    use super::*;

    /// Version 1 of a model.
    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasPerson")]
    pub struct PersonV1 {
        pub pk: Option<String>,
        pub name: String,
    }

    /// Version 2: `name` renamed to `full_name`, reading old documents
    /// through a serde alias.
    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasPerson")]
    pub struct PersonV2 {
        pub pk: Option<String>,
        #[serde(alias = "name")]
        pub full_name: String,
        #[serde(default)]
        pub age: u32,
    }

    /// Updating a renamed field of a document the old version wrote leaves
    /// a document the new version reads (before: both members, and every
    /// later `get` failed with "duplicate field").
    #[tokio::test]
    async fn updating_an_aliased_field_of_an_old_document_keeps_it_readable() {
        for url in common::urls() {
            let mut con = common::multiplexed(&url).await;
            let pk = PersonV1 {
                pk: None,
                name: "Ada".into(),
            }
            .save(&mut con)
            .await
            .unwrap();
            let old = PersonV2::get(&mut con, &pk).await.unwrap();
            assert_eq!(old.full_name, "Ada");
            assert!(
                PersonV2::update(&mut con, &pk, |p| p.full_name.set("Ada Lovelace"))
                    .await
                    .unwrap()
            );
            let new = PersonV2::get(&mut con, &pk).await.unwrap();
            assert_eq!((new.full_name.as_str(), new.age), ("Ada Lovelace", 0));
            let raw: String = redis::cmd("JSON.GET")
                .arg(PersonV2::key_layout().key(&pk))
                .query_async(&mut con)
                .await
                .unwrap();
            assert!(!raw.contains("\"name\""), "{raw}");
            // A document of the new version: the same setter, nothing to remove.
            assert!(PersonV2::update(&mut con, &pk, |p| p.full_name.set("A. L.")
                & p.age.set(36u32))
            .await
            .unwrap());
            assert_eq!(
                PersonV2::get(&mut con, &pk).await.unwrap().full_name,
                "A. L."
            );
            PersonV2::delete(&mut con, &pk).await.unwrap();
        }
    }

    /// Version 1 of an indexed model.
    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasIndexed")]
    pub struct IndexedV1 {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub run: String,
        #[redis_om(index)]
        pub name: String,
        #[redis_om(index, sortable)]
        pub score: f64,
        #[redis_om(index)]
        pub tags: Vec<String>,
    }

    /// Version 2: every indexed field renamed, old names kept as aliases.
    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasIndexed")]
    pub struct IndexedV2 {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub run: String,
        #[serde(alias = "name")]
        #[redis_om(index, full_text)]
        pub full_name: String,
        #[serde(alias = "score")]
        #[redis_om(index, sortable)]
        pub points: f64,
        #[serde(alias = "tags")]
        #[redis_om(index)]
        pub labels: Vec<String>,
    }

    /// Version 1 of an embedded struct.
    #[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct AddrV1 {
        #[redis_om(index)]
        pub town: String,
    }

    /// Version 2: `town` renamed to `city`, read through an alias.
    #[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct AddrV2 {
        #[serde(alias = "town")]
        #[redis_om(index)]
        pub city: String,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasEmbed")]
    pub struct HomeV1 {
        pub pk: Option<String>,
        #[redis_om(embed)]
        pub addr: AddrV1,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "AliasEmbed")]
    pub struct HomeV2 {
        pub pk: Option<String>,
        #[redis_om(embed)]
        pub addr: AddrV2,
    }

    /// Found by a new user's trial: setting an aliased field of an embedded
    /// struct left the old member beside the new one, and the document could
    /// no longer be read ("duplicate field `city`").
    #[tokio::test]
    async fn updating_an_aliased_field_of_an_embedded_struct_keeps_it_readable() {
        for url in common::urls() {
            let mut con = common::multiplexed(&url).await;
            Migrator::new()
                .model::<HomeV2>()
                .run(&mut con)
                .await
                .unwrap();
            let town = common::unique("town");
            let pk = HomeV1 {
                pk: None,
                addr: AddrV1 { town: town.clone() },
            }
            .save(&mut con)
            .await
            .unwrap();
            assert_eq!(
                HomeV2::find(|h| h.addr.city.eq(town.as_str()))
                    .count(&mut con)
                    .await
                    .unwrap(),
                1,
                "{url}"
            );
            let paris = common::unique("paris");
            assert!(
                HomeV2::update(&mut con, &pk, |h| h.addr.city.set(paris.clone()))
                    .await
                    .unwrap()
            );
            assert_eq!(HomeV2::get(&mut con, &pk).await.unwrap().addr.city, paris);
            for (value, want) in [(&town, 0), (&paris, 1)] {
                assert_eq!(
                    HomeV2::find(|h| h.addr.city.eq(value.as_str()))
                        .count(&mut con)
                        .await
                        .unwrap(),
                    want,
                    "{url}"
                );
            }
            HomeV2::delete(&mut con, &pk).await.unwrap();
        }
    }

    /// Issue 23, item 6: documents an older version wrote under the names
    /// that are now aliases are found, counted, sorted and selected by the
    /// new version (before: `find(full_name == ..)` counted 0 of them and
    /// `select(full_name)` failed with "invalid type: null").
    #[tokio::test]
    async fn old_documents_are_found_and_selected_through_aliases() {
        for url in common::urls() {
            let mut con = common::multiplexed(&url).await;
            Migrator::new()
                .model::<IndexedV2>()
                .run(&mut con)
                .await
                .unwrap();
            let schema = IndexedV2::index_schema().text();
            assert!(
                schema.contains(r#"$["full_name","name"] AS full_name"#)
                    && schema.contains(r#"$["labels","tags"][*] AS labels"#),
                "{schema}"
            );
            let run = common::unique("alias");
            let mut old = IndexedV1 {
                pk: None,
                run: run.clone(),
                name: "Ada Lovelace".into(),
                score: 2.5,
                tags: vec!["math".into(), "poet".into()],
            };
            old.save(&mut con).await.unwrap();
            let mut new = IndexedV2 {
                pk: None,
                run: run.clone(),
                full_name: "Grace Hopper".into(),
                points: 9.0,
                labels: vec!["navy".into(), "math".into()],
            };
            new.save(&mut con).await.unwrap();
            let of_run = || IndexedV2::find(|p| p.run.eq(run.as_str()));
            assert_eq!(of_run().count(&mut con).await.unwrap(), 2);
            let ada = IndexedV2::find(|p| p.run.eq(run.as_str()) & p.full_name.eq("Ada Lovelace"))
                .all(&mut con)
                .await
                .unwrap();
            assert_eq!(ada.len(), 1, "{url}");
            assert_eq!((ada[0].points, ada[0].labels.len()), (2.5, 2));
            for (filter, want) in [
                (
                    IndexedV2::find(|p| p.run.eq(run.as_str()) & p.full_name.matches("lovelace")),
                    1,
                ),
                (
                    IndexedV2::find(|p| p.run.eq(run.as_str()) & p.points.lt(5.0)),
                    1,
                ),
                (
                    IndexedV2::find(|p| p.run.eq(run.as_str()) & p.labels.eq("math")),
                    2,
                ),
                (
                    IndexedV2::find(|p| p.run.eq(run.as_str()) & p.labels.eq("poet")),
                    1,
                ),
            ] {
                assert_eq!(filter.count(&mut con).await.unwrap(), want, "{url}");
            }
            let names: Vec<String> = of_run()
                .sort_by(|p| p.points, SortOrder::Asc)
                .select(|p| p.full_name)
                .all(&mut con)
                .await
                .unwrap();
            assert_eq!(names, ["Ada Lovelace", "Grace Hopper"], "{url}");
            let both: Vec<(String, f64)> = of_run()
                .sort_by(|p| p.points, SortOrder::Desc)
                .select(|p| (p.full_name, p.points))
                .all(&mut con)
                .await
                .unwrap();
            assert_eq!(
                both,
                [
                    ("Grace Hopper".to_owned(), 9.0),
                    ("Ada Lovelace".to_owned(), 2.5)
                ]
            );
            // Updated through the new version: still found, once.
            let pk = old.pk.clone().unwrap();
            assert!(IndexedV2::update(&mut con, &pk, |p| p.points.set(3.0))
                .await
                .unwrap());
            assert_eq!(
                IndexedV2::find(|p| p.run.eq(run.as_str()) & p.points.eq(3.0))
                    .count(&mut con)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(of_run().delete(&mut con).await.unwrap(), 2);
        }
    }
}
