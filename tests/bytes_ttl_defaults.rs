//! Rich writes (issue 14, part): binary hash fields, defaults for fields that
//! older documents lack (schema evolution), and TTL policies (a model-level
//! TTL, `persist`, hash field expiration). Against the real servers
//! `scripts/test` starts, RESP2 and RESP3.

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- bytes

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtBlob")]
struct Blob {
    pk: Option<String>,
    #[redis_om(index)]
    name: String,
    data: Vec<u8>,
    maybe: Option<Vec<u8>>,
    #[cfg(feature = "bytes")]
    shared: bytes::Bytes,
}

fn blob_cases() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        vec![0],
        vec![0xff, 0xfe, 0x00, b'\n', 0xc3, 0x28],
        (0..=255u8).collect(),
        (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect(),
    ]
}

#[tokio::test]
async fn binary_hash_fields_round_trip_any_bytes() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new().model::<Blob>().run(&mut con).await.unwrap();
        let name = common::unique("blob");
        let mut docs: Vec<Blob> = blob_cases()
            .into_iter()
            .enumerate()
            .map(|(i, data)| Blob {
                pk: None,
                name: name.clone(),
                maybe: i.is_multiple_of(2).then(|| data.clone()),
                #[cfg(feature = "bytes")]
                shared: bytes::Bytes::from(data.clone()),
                data,
            })
            .collect();
        for doc in &mut docs[..2] {
            doc.save(&mut con).await.unwrap();
        }
        Blob::save_all(&mut con, &mut docs[2..]).await.unwrap();
        for doc in &docs {
            let key = doc.key().unwrap();
            // Stored as the bytes themselves.
            let raw: Vec<u8> = con.hget(&key, "data").await.unwrap();
            assert_eq!(raw, doc.data);
            assert_eq!(&Blob::get(&mut con, &doc.pk).await.unwrap(), doc);
        }
        let pks: Vec<&str> = docs.iter().map(|d| d.pk.as_deref().unwrap()).collect();
        let many = Blob::get_many(&mut con, pks).await.unwrap();
        assert_eq!(many, docs.iter().cloned().map(Some).collect::<Vec<_>>());
        let mut found = Blob::find(|b| b.name.eq(name.as_str()))
            .all(&mut con)
            .await
            .unwrap();
        found.sort_by_key(|d| docs.iter().position(|x| x.pk == d.pk));
        assert_eq!(found, docs, "{url}");
        for doc in &docs {
            doc.remove(&mut con).await.unwrap();
        }
    }
}

// ------------------------------------------------------ schema evolution

mod v1 {
    use super::*;

    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "BtEvolveHash")]
    pub struct Person {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub name: String,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "BtEvolveJson")]
    pub struct Doc {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub name: String,
    }
}

mod v2 {
    use super::*;

    pub fn beginner() -> String {
        "beginner".to_owned()
    }

    /// v1 with three fields added, each with a default of another kind.
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "BtEvolveHash")]
    pub struct Person {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub name: String,
        #[redis_om(index, default)]
        pub age: u32,
        #[redis_om(index, default = "beginner")]
        pub level: String,
        #[serde(default)]
        pub score: i64,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "BtEvolveJson")]
    pub struct Doc {
        pub pk: Option<String>,
        #[redis_om(index)]
        pub name: String,
        #[serde(default)]
        #[redis_om(index)]
        pub age: u32,
        #[serde(default = "beginner")]
        #[redis_om(index)]
        pub level: String,
    }
}

#[tokio::test]
async fn documents_of_an_older_model_load_with_the_new_fields_defaults() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<v2::Person>()
            .model::<v2::Doc>()
            .run(&mut con)
            .await
            .unwrap();
        let name = common::unique("old");

        let mut old = v1::Person {
            pk: None,
            name: name.clone(),
        };
        let pk = old.save(&mut con).await.unwrap();
        let want = v2::Person {
            pk: Some(pk.clone()),
            name: name.clone(),
            age: 0,
            level: "beginner".into(),
            score: 0,
        };
        assert_eq!(v2::Person::get(&mut con, &pk).await.unwrap(), want);
        assert_eq!(
            v2::Person::get_many(&mut con, [&pk]).await.unwrap(),
            vec![Some(want.clone())]
        );
        let found = v2::Person::find(|p| p.name.eq(name.as_str()))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want.clone()]);
        let selected: Vec<(String, u32, String)> = v2::Person::find(|p| p.name.eq(name.as_str()))
            .select(|p| (p.name, p.age, p.level))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(selected, vec![(name.clone(), 0, "beginner".into())]);
        v2::Person::delete(&mut con, &pk).await.unwrap();

        let mut old = v1::Doc {
            pk: None,
            name: name.clone(),
        };
        let pk = old.save(&mut con).await.unwrap();
        let want = v2::Doc {
            pk: Some(pk.clone()),
            name: name.clone(),
            age: 0,
            level: "beginner".into(),
        };
        assert_eq!(v2::Doc::get(&mut con, &pk).await.unwrap(), want);
        assert_eq!(
            v2::Doc::get_many(&mut con, [&pk]).await.unwrap(),
            vec![Some(want.clone())]
        );
        let found = v2::Doc::find(|p| p.name.eq(name.as_str()))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![want.clone()]);
        let selected: Vec<(String, u32, String)> = v2::Doc::find(|p| p.name.eq(name.as_str()))
            .select(|p| (p.name, p.age, p.level))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(selected, vec![(name.clone(), 0, "beginner".into())]);
        v2::Doc::delete(&mut con, &pk).await.unwrap();
    }
}

// ------------------------------------------------------------- TTL policies

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtTtlHash", ttl_secs = 3600)]
struct Session {
    pk: Option<String>,
    user: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtTtlJson", ttl_secs = 3600)]
struct JsonSession {
    pk: Option<String>,
    user: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtNoTtl")]
struct Plain {
    pk: Option<String>,
    user: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtNoTtlJson")]
struct PlainJson {
    pk: Option<String>,
    user: String,
}

async fn pttl(con: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(con).await.unwrap()
}

/// The model's TTL on every kind of save, unless the call sets another or `persist`.
async fn model_ttl_case<M: Model + AsyncModel + Clone>(
    con: &mut redis::aio::MultiplexedConnection,
    make: impl Fn() -> M,
) {
    let hour = 3_600_000;
    let near = |ms: i64, want: i64| ms <= want && ms > want - 60_000;
    let mut doc = make();
    doc.save(con).await.unwrap();
    let key = doc.key().unwrap();
    assert!(near(pttl(con, &key).await, hour), "save");
    doc.save_with(con, SaveOptions::new().ttl(Duration::from_secs(100)))
        .await
        .unwrap();
    assert!(near(pttl(con, &key).await, 100_000), "the call's TTL wins");
    doc.save_with(con, SaveOptions::new().persist())
        .await
        .unwrap();
    assert_eq!(pttl(con, &key).await, -1, "persist");
    doc.save_with(con, SaveOptions::new().only_if_exists())
        .await
        .unwrap()
        .unwrap();
    assert!(near(pttl(con, &key).await, hour), "save_with, conditional");
    doc.save_with(con, SaveOptions::new().only_if_exists().persist())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pttl(con, &key).await, -1, "persist, conditional");
    let mut many = vec![make(), make()];
    M::save_all(con, &mut many).await.unwrap();
    for doc in &many {
        assert!(near(pttl(con, &doc.key().unwrap()).await, hour), "save_all");
    }
    let _: i64 = con
        .del(vec![key, many[0].key().unwrap(), many[1].key().unwrap()])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_model_ttl_applies_to_every_save_unless_the_call_says_otherwise() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        model_ttl_case(&mut con, || Session {
            pk: None,
            user: "ada".into(),
        })
        .await;
        model_ttl_case(&mut con, || JsonSession {
            pk: None,
            user: "ada".into(),
        })
        .await;
    }
}

/// Without a model TTL, a save without options keeps the TTL the key has
/// (redis-om-node drops it); `persist` removes it.
async fn keep_ttl_case<M: Model + AsyncModel>(
    con: &mut redis::aio::MultiplexedConnection,
    mut doc: M,
) {
    doc.save_with(con, SaveOptions::new().ttl(Duration::from_secs(100)))
        .await
        .unwrap();
    let key = doc.key().unwrap();
    doc.save(con).await.unwrap();
    let ttl = pttl(con, &key).await;
    assert!(ttl > 90_000 && ttl <= 100_000, "kept: {ttl}");
    M::save_all(con, std::slice::from_mut(&mut doc))
        .await
        .unwrap();
    assert!(pttl(con, &key).await > 90_000, "kept by save_all");
    doc.save_with(con, SaveOptions::new().only_if_exists())
        .await
        .unwrap()
        .unwrap();
    assert!(pttl(con, &key).await > 90_000, "kept by a conditional save");
    doc.save_with(con, SaveOptions::new().persist())
        .await
        .unwrap();
    assert_eq!(pttl(con, &key).await, -1);
    assert!(matches!(
        doc.save_with(
            con,
            SaveOptions::new().persist().ttl(Duration::from_secs(1))
        )
        .await,
        Err(Error::InvalidArgument(_))
    ));
    let _: i64 = con.del(&key).await.unwrap();
}

#[tokio::test]
async fn resaving_keeps_an_existing_ttl_and_persist_removes_it() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        keep_ttl_case(
            &mut con,
            Plain {
                pk: None,
                user: "a".into(),
            },
        )
        .await;
        keep_ttl_case(
            &mut con,
            PlainJson {
                pk: None,
                user: "a".into(),
            },
        )
        .await;
    }
}

// ------------------------------------------------------ field expiration

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BtFieldTtl")]
struct Login {
    pk: Option<String>,
    user: String,
    #[redis_om(expire_secs = 1)]
    code: Option<String>,
    #[redis_om(expire_secs = 1, default)]
    tries: u32,
    #[redis_om(expire_secs = 3600)]
    token: Option<String>,
}

fn login() -> Login {
    Login {
        pk: None,
        user: "ada".into(),
        code: Some("123456".into()),
        tries: 2,
        token: Some("t".into()),
    }
}

async fn field_pttl(con: &mut redis::aio::MultiplexedConnection, key: &str, field: &str) -> i64 {
    let ttls: Vec<i64> = redis::cmd("HPTTL")
        .arg(key)
        .arg("FIELDS")
        .arg(1)
        .arg(field)
        .query_async(con)
        .await
        .unwrap();
    ttls[0]
}

#[tokio::test]
async fn expiring_hash_fields_read_back_as_their_default() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut doc = login();
        doc.save(&mut con).await.unwrap();
        let mut many = vec![login()];
        Login::save_all(&mut con, &mut many).await.unwrap();
        let mut new = login();
        new.save_with(&mut con, SaveOptions::new().only_if_new())
            .await
            .unwrap()
            .unwrap();
        for d in [&doc, &many[0], &new] {
            let key = d.key().unwrap();
            assert!((1..=1000).contains(&field_pttl(&mut con, &key, "code").await));
            assert!((1..=1000).contains(&field_pttl(&mut con, &key, "tries").await));
            assert!(field_pttl(&mut con, &key, "token").await > 3_500_000);
            assert_eq!(field_pttl(&mut con, &key, "user").await, -1);
            assert_eq!(pttl(&mut con, &key).await, -1, "the key does not expire");
        }
        tokio::time::sleep(Duration::from_millis(1300)).await;
        for d in [&doc, &many[0], &new] {
            let got = Login::get(&mut con, &d.pk).await.unwrap();
            assert_eq!(
                got,
                Login {
                    code: None,
                    tries: 0,
                    ..d.clone()
                }
            );
            d.remove(&mut con).await.unwrap();
        }
    }
}

#[tokio::test]
async fn resaving_keeps_the_time_an_expiring_field_has_left() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut doc = login();
    doc.save(&mut con).await.unwrap();
    let key = doc.key().unwrap();
    // As if an hour had mostly passed: 5 s left.
    let _: Vec<i64> = redis::cmd("HPEXPIRE")
        .arg(&key)
        .arg(5000)
        .arg("FIELDS")
        .arg(1)
        .arg("token")
        .query_async(&mut con)
        .await
        .unwrap();
    doc.user = "grace".into();
    doc.save(&mut con).await.unwrap();
    let left = field_pttl(&mut con, &key, "token").await;
    assert!(
        left > 0 && left <= 5000,
        "kept as redis-om-python does: {left}"
    );
    // Cleared and written again: a fresh hour.
    doc.token = None;
    doc.save(&mut con).await.unwrap();
    assert_eq!(field_pttl(&mut con, &key, "token").await, -2);
    doc.token = Some("u".into());
    doc.save(&mut con).await.unwrap();
    assert!(field_pttl(&mut con, &key, "token").await > 3_500_000);
    doc.remove(&mut con).await.unwrap();
}

/// `update` writes an expiring field with HSET, which clears a field's
/// expiration on the server: the time it had left is put back, and a field
/// written anew gets its full time, as save does.
#[tokio::test]
async fn an_update_keeps_the_time_an_expiring_field_has_left() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut doc = login();
    doc.save(&mut con).await.unwrap();
    let key = doc.key().unwrap();
    let _: Vec<i64> = redis::cmd("HPEXPIRE")
        .arg(&key)
        .arg(5000)
        .arg("FIELDS")
        .arg(1)
        .arg("token")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        Login::update(&mut con, &doc.pk, |u| u.token.set(Some("v".to_owned()))
            & u.user.set("x"))
        .await
        .unwrap()
    );
    let left = field_pttl(&mut con, &key, "token").await;
    assert!(left > 0 && left <= 5000, "kept: {left}");
    // Removed, then set by an update: the full time.
    Login::update(&mut con, &doc.pk, |u| u.token.set(None))
        .await
        .unwrap();
    assert_eq!(field_pttl(&mut con, &key, "token").await, -2);
    Login::update(&mut con, &doc.pk, |u| u.token.set(Some("w".to_owned())))
        .await
        .unwrap();
    assert!(field_pttl(&mut con, &key, "token").await > 3_500_000);
    // A field without expire_secs gets none.
    assert_eq!(field_pttl(&mut con, &key, "user").await, -1);
    doc.remove(&mut con).await.unwrap();
}

/// A server without hash field expiration: Redis 7.4.1 with `HPTTL`,
/// `HEXPIRE` and `HPEXPIRE` renamed away answers as Redis 7.2 does
/// (`ERR unknown command`), which is how the error is recognized.
#[tokio::test]
async fn field_expiration_on_an_older_server_is_a_clear_error_and_writes_nothing() {
    let server = common::Server::fresh(
        common::fault_port(20),
        &[
            "--",
            "--rename-command",
            "HPTTL",
            "",
            "--rename-command",
            "HEXPIRE",
            "",
            "--rename-command",
            "HPEXPIRE",
            "",
        ],
    );
    for url in common::both_protocols(&server.url()) {
        let mut con = common::multiplexed(&url).await;
        let check = |err: Error| match err {
            Error::Unsupported { feature, needs, .. } => {
                assert!(feature.contains("\"code\""), "{feature}");
                assert!(feature.contains("BtFieldTtl"), "{feature}");
                assert!(needs.contains("7.4"), "{needs}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        };
        let mut doc = login();
        check(doc.save(&mut con).await.unwrap_err());
        let key = doc.key().unwrap();
        let exists: bool = con.exists(&key).await.unwrap();
        assert!(!exists, "nothing written");
        check(
            doc.save_with(&mut con, SaveOptions::new().only_if_new())
                .await
                .unwrap_err(),
        );
        check(Login::save_all(&mut con, &mut [login()]).await.unwrap_err());
        let mut keys: Vec<String> = con
            .keys(format!("{}*", Login::key_layout().key_prefix()))
            .await
            .unwrap();
        // The migrator's bookkeeping (the second protocol's run) is not a document.
        keys.retain(|k| !Login::key_layout().is_bookkeeping_key(k));
        assert!(keys.is_empty(), "nothing written: {keys:?}");
        // An update that sets an expiring field, one document or every match.
        let pk = common::unique("old-login");
        let key = Login::key_layout().key(&pk);
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("pk")
            .arg(&pk)
            .arg("user")
            .arg("ada")
            .query_async(&mut con)
            .await
            .unwrap();
        check(
            Login::update(&mut con, &pk, |u| u.code.set(Some("1".to_owned())))
                .await
                .unwrap_err(),
        );
        Migrator::new()
            .model::<Login>()
            .run(&mut con)
            .await
            .unwrap();
        check(
            Login::find_all()
                .update(&mut con, |u| u.code.set(Some("1".to_owned())))
                .await
                .unwrap_err(),
        );
        let code: Option<String> = con.hget(&key, "code").await.unwrap();
        assert_eq!(code, None, "nothing written");
        let _: () = con.del(&key).await.unwrap();
        // Without expiring fields the model saves as usual.
        let mut plain = Plain {
            pk: None,
            user: "a".into(),
        };
        plain.save(&mut con).await.unwrap();
        plain.remove(&mut con).await.unwrap();
    }
}
