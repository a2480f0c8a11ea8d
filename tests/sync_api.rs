//! The blocking API (`redis_om::blocking`) on `redis::Connection` and on an
//! r2d2 pool: the same operations, same results; and the async and blocking
//! APIs side by side in one program, each module with its own prelude.

mod common;

use std::time::Duration;

use redis_om::blocking::prelude::*;
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
    assert_eq!(u.key(), Some(format!(":SyncUser:{pk}")));
    // reload replaces every field with the stored ones.
    let mut stale = SyncUser {
        name: "stale".into(),
        age: Some(1),
        ..u.clone()
    };
    stale.reload(con).unwrap();
    assert_eq!(stale, u);
    assert!(u.expire_in(con, Duration::from_secs(90)).unwrap());
    assert!(SyncUser::ttl(con, &pk).unwrap().unwrap() > Duration::from_secs(60));
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
    // The instance form of delete: by the document's own key.
    assert!(d.remove(con).unwrap());
    assert!(!d.remove(con).unwrap());
    assert!(!SyncDoc::exists(con, &pk).unwrap());
    // An unsaved document names no key: refused, nothing sent.
    let unsaved = SyncDoc {
        pk: None,
        items: vec![],
    };
    assert_eq!(unsaved.key(), None);
    assert!(matches!(
        unsaved.remove(con),
        Err(redis_om::Error::InvalidArgument(_))
    ));
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
    exercise(&mut redis_om::blocking::connect(redis_om::url()).unwrap());
}

/// The async API in one module and the blocking one in another, in the same
/// program, on the same model: each module's prelude decides the methods.
mod mixed {
    pub mod on_async {
        use redis_om::prelude::*;

        pub async fn save(user: &mut super::super::SyncUser) -> redis_om::Result<String> {
            let mut con = redis_om::connect(super::super::common::url()).await?;
            user.save(&mut con).await
        }
    }

    pub mod on_blocking {
        use redis_om::blocking::prelude::*;

        pub fn load(pk: &str) -> redis_om::Result<Option<super::super::SyncUser>> {
            let mut con = redis_om::blocking::connect(super::super::common::url())?;
            SyncUser::get_optional(&mut con, pk)
        }
        use super::super::SyncUser;
    }

    /// Both traits in scope in one module: the trait is named.
    pub fn both(user: &mut super::SyncUser) -> redis_om::Result<bool> {
        use redis_om::blocking::SyncModel;
        #[allow(unused_imports)] // in scope on purpose: both traits, no ambiguity
        use redis_om::prelude::*;
        let mut con = redis_om::blocking::connect(super::common::url())?;
        SyncModel::save(user, &mut con)?;
        <super::SyncUser as SyncModel>::exists(&mut con, &user.pk)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn async_and_blocking_modules_in_one_program() {
    let mut user = SyncUser {
        pk: None,
        name: "both".into(),
        age: Some(7),
    };
    let pk = mixed::on_async::save(&mut user).await.unwrap();
    let loaded = tokio::task::spawn_blocking(move || mixed::on_blocking::load(&pk).unwrap())
        .await
        .unwrap();
    assert_eq!(loaded.as_ref(), Some(&user));
    let mut again = user.clone();
    again.name = "again".into();
    let exists = tokio::task::spawn_blocking(move || mixed::both(&mut again).unwrap())
        .await
        .unwrap();
    assert!(exists);
}
