//! HashModel against the real server: every operation, RESP2 and RESP3, on a
//! multiplexed connection and on a ConnectionManager.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;

use common::UserReadCache;

#[derive(serde::Serialize, serde::Deserialize, HashValue, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test", prefix = "AllTypes")]
struct AllTypes {
    pk: String,
    small: i8,
    unsigned: u64,
    big: i128,
    ratio: f64,
    single: f32,
    flag: bool,
    id: uuid::Uuid,
    status: Status,
    #[redis_om(rename = "nick_name")]
    nickname: Option<String>,
    maybe_count: Option<u32>,
}

fn user(id: i64) -> UserReadCache {
    UserReadCache {
        pk: None,
        id,
        name: "json_user".into(),
        email: "json_user@example.com".into(),
        avatar: Some("image_url".into()),
    }
}

#[tokio::test]
async fn save_generates_pk_and_get_round_trips() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut u = user(1);
        let pk = u.save(&mut con).await.unwrap();
        assert_eq!(u.pk.as_deref(), Some(pk.as_str()), "save fills the pk");
        assert_eq!(pk.len(), 36, "a UUID v7: {pk}");
        assert_eq!(UserReadCache::get(&mut con, &pk).await.unwrap(), u);

        // The layout of redis-om-python: `{global}:{prefix}:{pk}`, empty global → leading ':'.
        let key = format!(":UserReadCache:{pk}");
        let raw: HashMap<String, String> = con.hgetall(&key).await.unwrap();
        assert_eq!(raw.get("pk"), Some(&pk));
        assert_eq!(raw.get("id").map(String::as_str), Some("1"));
        assert_eq!(
            raw.get("email").map(String::as_str),
            Some("json_user@example.com")
        );
        assert_eq!(raw.len(), 5);
        UserReadCache::delete(&mut con, &pk).await.unwrap();
    }
}

#[tokio::test]
async fn user_set_pk_is_kept() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("mine:with:colons");
    let mut u = user(2);
    u.pk = Some(pk.clone());
    assert_eq!(u.save(&mut con).await.unwrap(), pk);
    assert_eq!(
        UserReadCache::get(&mut con, &pk).await.unwrap().pk,
        Some(pk.clone())
    );
    assert!(UserReadCache::delete(&mut con, &pk).await.unwrap());
}

#[tokio::test]
async fn every_field_type_is_stored_like_redis_om_python() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let pk = common::unique("types");
        let mut v = AllTypes {
            pk: pk.clone(),
            small: -8,
            unsigned: u64::MAX,
            big: -170141183460469231731687303715884105728,
            ratio: 0.1,
            single: 2.5,
            flag: true,
            id: uuid::Uuid::parse_str("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
            status: Status::OnHold,
            nickname: Some("Nick".into()),
            maybe_count: None,
        };
        v.save(&mut con).await.unwrap();
        let key = format!("om-test:AllTypes:{pk}");
        let raw: HashMap<String, String> = con.hgetall(&key).await.unwrap();
        let expect = [
            ("pk", pk.as_str()),
            ("small", "-8"),
            ("unsigned", "18446744073709551615"),
            ("big", "-170141183460469231731687303715884105728"),
            ("ratio", "0.1"),
            ("single", "2.5"),
            ("flag", "1"),
            ("id", "67e55044-10b1-426f-9247-bb680e5fe0c8"),
            ("status", "on_hold"),
            ("nick_name", "Nick"),
        ];
        let expect: HashMap<String, String> = expect
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(raw, expect, "None fields are not written");
        assert_eq!(AllTypes::get(&mut con, &pk).await.unwrap(), v);

        // A field cleared to None is removed on re-save, one set to Some is added.
        v.nickname = None;
        v.maybe_count = Some(3);
        v.flag = false;
        v.save(&mut con).await.unwrap();
        let raw: HashMap<String, String> = con.hgetall(&key).await.unwrap();
        assert!(!raw.contains_key("nick_name"), "stale field left: {raw:?}");
        assert_eq!(raw.get("maybe_count").map(String::as_str), Some("3"));
        assert_eq!(raw.get("flag").map(String::as_str), Some("0"));
        assert_eq!(AllTypes::get(&mut con, &pk).await.unwrap(), v);
        AllTypes::delete(&mut con, &pk).await.unwrap();
    }
}

#[tokio::test]
async fn reads_hashes_written_by_another_service() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("py");
    let key = format!(":UserReadCache:{pk}");
    // As redis-om-python writes it: no `avatar` (None), extra unknown field, no pk field.
    let _: () = con
        .hset_multiple(
            &key,
            &[
                ("id", "7"),
                ("name", "py"),
                ("email", "py@example.com"),
                ("legacy", "x"),
            ],
        )
        .await
        .unwrap();
    let u = UserReadCache::get(&mut con, &pk).await.unwrap();
    assert_eq!(
        u,
        UserReadCache {
            pk: Some(pk.clone()),
            id: 7,
            name: "py".into(),
            email: "py@example.com".into(),
            avatar: None
        }
    );
    UserReadCache::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn bad_stored_values_are_decode_errors_naming_key_and_field() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("bad");
    let key = format!(":UserReadCache:{pk}");
    type Fields = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(Fields, &str)> = vec![
        (
            vec![
                ("id", b"not-a-number".to_vec()),
                ("name", b"a".to_vec()),
                ("email", b"e".to_vec()),
            ],
            "id",
        ),
        (
            vec![("id", b"1".to_vec()), ("email", b"e".to_vec())],
            "name",
        ),
        (
            vec![
                ("id", b"1".to_vec()),
                ("name", vec![0xff, 0xfe]),
                ("email", b"e".to_vec()),
            ],
            "name",
        ),
    ];
    for (fields, bad_field) in cases {
        let _: () = con.del(&key).await.unwrap();
        let _: () = con.hset_multiple(&key, &fields).await.unwrap();
        match UserReadCache::get(&mut con, &pk).await {
            Err(Error::Decode {
                key: k,
                field,
                reason,
            }) => {
                assert_eq!(k, key);
                assert_eq!(field.as_deref(), Some(bad_field), "{reason}");
            }
            other => panic!("expected a decode error for {bad_field}, got {other:?}"),
        }
    }
    let _: () = con.del(&key).await.unwrap();
}

#[tokio::test]
async fn get_missing_is_not_found_with_the_key() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let pk = common::unique("missing");
        match UserReadCache::get(&mut con, &pk).await {
            Err(Error::NotFound { key }) => assert_eq!(key, format!(":UserReadCache:{pk}")),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn delete_exists_expire_ttl() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut u = user(3);
        let pk = u.save(&mut con).await.unwrap();
        assert!(UserReadCache::exists(&mut con, &pk).await.unwrap());
        assert_eq!(UserReadCache::ttl(&mut con, &pk).await.unwrap(), None);
        assert!(
            UserReadCache::expire(&mut con, &pk, Duration::from_secs(100))
                .await
                .unwrap()
        );
        let ttl = UserReadCache::ttl(&mut con, &pk).await.unwrap().unwrap();
        assert!(
            ttl > Duration::from_secs(90) && ttl <= Duration::from_secs(100),
            "{ttl:?}"
        );
        assert!(UserReadCache::delete(&mut con, &pk).await.unwrap());
        assert!(!UserReadCache::delete(&mut con, &pk).await.unwrap());
        assert!(!UserReadCache::exists(&mut con, &pk).await.unwrap());
        assert!(
            !UserReadCache::expire(&mut con, &pk, Duration::from_secs(1))
                .await
                .unwrap()
        );
        assert!(UserReadCache::ttl(&mut con, &pk)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(matches!(
            UserReadCache::expire(&mut con, &pk, Duration::ZERO).await,
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[tokio::test]
async fn save_with_conditions_and_ttl() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut u = user(4);
        // Only if exists, without a pk: nothing to update (the condition failed).
        assert_eq!(
            u.save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap(),
            None
        );
        let pk = u
            .save_with(
                &mut con,
                SaveOptions::new()
                    .only_if_new()
                    .ttl(Duration::from_secs(50)),
            )
            .await
            .unwrap()
            .expect("new document is written");
        let ttl = UserReadCache::ttl(&mut con, &pk).await.unwrap().unwrap();
        assert!(ttl > Duration::from_secs(40), "{ttl:?}");

        let mut changed = u.clone();
        changed.name = "changed".into();
        assert_eq!(
            changed
                .save_with(&mut con, SaveOptions::new().only_if_new())
                .await
                .unwrap(),
            None,
            "only_if_new must not overwrite"
        );
        assert_eq!(
            UserReadCache::get(&mut con, &pk).await.unwrap().name,
            "json_user"
        );

        changed.avatar = None;
        assert_eq!(
            changed
                .save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap(),
            Some(pk.clone())
        );
        assert_eq!(
            UserReadCache::get(&mut con, &pk).await.unwrap(),
            changed,
            "XX update removes cleared fields"
        );

        // Plain save with a TTL (MULTI/EXEC).
        changed
            .save_with(
                &mut con,
                SaveOptions::new().ttl(Duration::from_millis(1500)),
            )
            .await
            .unwrap();
        let ttl = UserReadCache::ttl(&mut con, &pk).await.unwrap().unwrap();
        assert!(ttl <= Duration::from_millis(1500), "{ttl:?}");

        UserReadCache::delete(&mut con, &pk).await.unwrap();
        let mut gone = changed.clone();
        assert_eq!(
            gone.save_with(&mut con, SaveOptions::new().only_if_exists())
                .await
                .unwrap(),
            None,
            "only_if_exists must not create"
        );
        assert!(!UserReadCache::exists(&mut con, &pk).await.unwrap());
        assert!(matches!(
            gone.save_with(&mut con, SaveOptions::new().ttl(Duration::ZERO))
                .await,
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[tokio::test]
async fn only_if_new_is_atomic_under_concurrency() {
    let con = common::multiplexed(&common::url()).await;
    let pk = common::unique("race");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut con = con.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            let mut u = user(i);
            u.pk = Some(pk);
            u.save_with(&mut con, SaveOptions::new().only_if_new())
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += usize::from(t.await.unwrap());
    }
    assert_eq!(written, 1, "exactly one concurrent only_if_new save wins");
    let mut con = con;
    UserReadCache::delete(&mut con, &pk).await.unwrap();
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-scan", prefix = "Scan")]
struct Scan {
    pk: String,
    n: i32,
}

// Its prefix starts like Scan's: its keys must not show up in Scan::all_pks.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(global_prefix = "om-test-scan", prefix = "ScanX")]
struct ScanX {
    pk: String,
    n: i32,
}

#[tokio::test]
async fn all_pks_streams_every_pk_and_only_this_models() {
    let mut con = common::multiplexed(&common::url()).await;
    common::clear_prefix(&mut con, "om-test-scan:").await;
    let mut expected: Vec<String> = (0..2500).map(|i| format!("pk:{i}:with:colons")).collect();
    expected.push("odd * ? [x] \\ ünï".to_owned());
    let mut pipe = redis::pipe();
    for pk in &expected {
        pipe.hset(format!("om-test-scan:Scan:{pk}"), "n", 1)
            .ignore();
        pipe.hset(format!("om-test-scan:ScanX:{pk}"), "n", 1)
            .ignore();
    }
    // A key of another Redis type under the prefix is not a Scan document.
    pipe.set("om-test-scan:Scan:a-string", "x").ignore();
    let _: () = pipe.query_async(&mut con).await.unwrap();

    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut got: Vec<String> = Scan::all_pks(&mut con).try_collect().await.unwrap();
        got.sort();
        got.dedup();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
        let mut other: Vec<String> = ScanX::all_pks(&mut con).try_collect().await.unwrap();
        other.sort();
        assert_eq!(other, want, "ScanX sees its own keys only");
    }
    let mut mgr = redis_om::connect(common::url()).await.unwrap();
    let n = Scan::all_pks(&mut mgr)
        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
    assert!(n >= expected.len());
    common::clear_prefix(&mut con, "om-test-scan:").await;
}

#[tokio::test]
async fn works_on_a_connection_manager_from_connect() {
    std::env::set_var("REDIS_OM_URL", common::url());
    let mut con = redis_om::connect(redis_om::url()).await.unwrap();
    let mut u = user(5);
    let pk = u.save(&mut con).await.unwrap();
    assert_eq!(UserReadCache::get(&mut con, &pk).await.unwrap(), u);
    assert!(UserReadCache::delete(&mut con, &pk).await.unwrap());
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "IntPk")]
struct IntPk {
    #[redis_om(primary_key)]
    id: u64,
    label: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UuidPk")]
struct UuidPk {
    #[redis_om(primary_key)]
    id: uuid::Uuid,
    label: String,
}

#[tokio::test]
async fn integer_and_uuid_primary_keys() {
    let mut con = common::multiplexed(&common::url()).await;
    let id = u64::from(uuid::Uuid::now_v7().as_fields().1) * 1_000_003;
    let mut v = IntPk {
        id,
        label: "x".into(),
    };
    assert_eq!(v.save(&mut con).await.unwrap(), id.to_string());
    assert_eq!(IntPk::get(&mut con, id).await.unwrap(), v);
    IntPk::delete(&mut con, id).await.unwrap();

    let mut u = UuidPk {
        id: uuid::Uuid::nil(),
        label: "y".into(),
    };
    let pk = u.save(&mut con).await.unwrap();
    assert!(!u.id.is_nil(), "nil uuid is generated");
    assert_eq!(u.id.get_version_num(), 7);
    assert_eq!(pk, u.id.to_string());
    assert_eq!(UuidPk::get(&mut con, u.id).await.unwrap(), u);
    UuidPk::delete(&mut con, u.id).await.unwrap();
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Generic")]
struct Generic<T> {
    pk: Option<String>,
    value: T,
}

#[tokio::test]
async fn generic_models() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut a = Generic {
        pk: None,
        value: 41_i32,
    };
    let pk = a.save(&mut con).await.unwrap();
    assert_eq!(Generic::<i32>::get(&mut con, &pk).await.unwrap(), a);
    // The same key read as another instantiation decodes (or fails) by that type.
    assert!(matches!(
        Generic::<bool>::get(&mut con, &pk).await,
        Err(Error::Decode { .. })
    ));
    Generic::<i32>::delete(&mut con, &pk).await.unwrap();
}

mod renamed {
    pub mod path {
        pub use redis_om as om;
    }
}

#[derive(redis_om::HashModel, Debug, PartialEq)]
#[redis_om(crate = "renamed::path::om", prefix = "Renamed")]
struct Renamed {
    pk: Option<String>,
    n: i64,
}

#[tokio::test]
async fn crate_attribute_changes_the_runtime_path() {
    let mut con = common::multiplexed(&common::url()).await;
    let mut r = Renamed { pk: None, n: 5 };
    let pk = r.save(&mut con).await.unwrap();
    assert_eq!(Renamed::get(&mut con, &pk).await.unwrap(), r);
    Renamed::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn wrong_redis_type_at_the_key_is_an_error_not_a_panic() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("wrongtype");
    let _: () = con
        .set(format!(":UserReadCache:{pk}"), "plain string")
        .await
        .unwrap();
    let err = UserReadCache::get(&mut con, &pk).await.unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    UserReadCache::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn works_on_a_bb8_pooled_connection() {
    let client = redis::Client::open(common::url()).unwrap();
    let pool = bb8::Pool::builder()
        .max_size(4)
        .build(client)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut con = pool.get().await.unwrap();
            let mut u = user(100 + i);
            let pk = u.save(&mut *con).await.unwrap();
            assert_eq!(UserReadCache::get(&mut *con, &pk).await.unwrap(), u);
            assert!(UserReadCache::delete(&mut *con, &pk).await.unwrap());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// deadpool-redis (built on the same redis-rs 1.x): its pooled connection is
/// an async connection as it is, and `&mut *con` works too.
#[tokio::test]
async fn works_on_a_deadpool_pooled_connection() {
    let pool = deadpool_redis::Config::from_url(common::url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut con = pool.get().await.unwrap();
            let mut u = user(200 + i);
            let pk = u.save(&mut con).await.unwrap();
            assert_eq!(UserReadCache::get(&mut *con, &pk).await.unwrap(), u);
            assert!(UserReadCache::delete(&mut con, &pk).await.unwrap());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
