//! The blocking API (`SyncModel`) on `redis::Connection` and on an r2d2 pool:
//! the same operations, same results.

mod common;

use std::time::Duration;

use redis_om::{HashModel, JsonModel, SaveOptions, SyncModel};
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SyncUser")]
struct SyncUser {
    pk: Option<String>,
    name: String,
    age: Option<u8>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SyncDoc")]
struct SyncDoc {
    pk: Option<String>,
    items: Vec<String>,
}

fn exercise<C: redis::ConnectionLike>(con: &mut C) {
    let mut u = SyncUser {
        pk: None,
        name: "sync".into(),
        age: Some(30),
    };
    let pk = u.save(con).unwrap();
    assert_eq!(SyncUser::get(con, &pk).unwrap(), u);
    u.age = None;
    u.save(con).unwrap();
    assert_eq!(SyncUser::get(con, &pk).unwrap(), u);
    assert_eq!(
        u.save_with(con, SaveOptions::new().only_if_new()).unwrap(),
        None
    );
    assert!(SyncUser::exists(con, &pk).unwrap());
    assert!(SyncUser::expire(con, &pk, Duration::from_secs(60)).unwrap());
    assert!(SyncUser::ttl(con, &pk).unwrap().is_some());
    let pks: Vec<String> = SyncUser::all_pks(con).collect::<Result<_, _>>().unwrap();
    assert!(pks.contains(&pk));
    assert!(SyncUser::delete(con, &pk).unwrap());
    assert!(SyncUser::get(con, &pk).unwrap_err().is_not_found());

    let mut d = SyncDoc {
        pk: None,
        items: vec!["a".into(), "b".into()],
    };
    let pk = d
        .save_with(
            con,
            SaveOptions::new()
                .only_if_new()
                .ttl(Duration::from_secs(60)),
        )
        .unwrap()
        .unwrap();
    assert_eq!(SyncDoc::get(con, &pk).unwrap(), d);
    assert!(SyncDoc::delete(con, &pk).unwrap());
}

#[test]
fn sync_connection_resp2_and_resp3() {
    for url in common::urls() {
        exercise(&mut common::sync_con(&url));
    }
}

#[test]
fn r2d2_pool() {
    let client = redis::Client::open(common::url()).unwrap();
    let pool = r2d2::Pool::builder().max_size(2).build(client).unwrap();
    let mut con = pool.get().unwrap();
    exercise(&mut *con);
}

#[test]
fn connect_sync_reads_the_environment() {
    std::env::set_var("REDIS_OM_URL", common::url());
    exercise(&mut redis_om::connect_sync().unwrap());
}
