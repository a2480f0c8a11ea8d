//! The lookups a read cache makes (issue 12): the model's own primary key field
//! as the argument (`&user.pk`, an `Option`), a miss as `None` rather than an
//! error, streams used with `.next()` without pinning, and pages that carry
//! the total; async and blocking, against the real server.

mod common;

use common::UserReadCache;
use futures_util::StreamExt;
use redis_om::prelude::*;
use redis_om::{Error, Migrator};

fn user(name: &str) -> UserReadCache {
    UserReadCache {
        pk: None,
        id: 7,
        name: name.into(),
        email: format!("{name}@example.com"),
        avatar: None,
    }
}

#[tokio::test]
async fn the_primary_key_field_itself_looks_documents_up() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        let mut u = user(&common::unique("lookup"));
        u.save(con).await.unwrap();
        // `pk` is an Option<String>: it is accepted as it is (this was E0277).
        assert_eq!(UserReadCache::get(con, &u.pk).await.unwrap(), u);
        assert!(UserReadCache::exists(con, &u.pk).await.unwrap());
        assert_eq!(
            UserReadCache::get_many(con, [&u.pk, &u.pk]).await.unwrap(),
            vec![Some(u.clone()), Some(u.clone())]
        );
        // And so are &str, String and &String.
        let pk: String = u.pk.clone().unwrap();
        assert_eq!(UserReadCache::get(con, pk.as_str()).await.unwrap(), u);
        assert_eq!(UserReadCache::get(con, &pk).await.unwrap(), u);
        assert!(UserReadCache::ttl(con, pk.clone()).await.unwrap().is_none());
        // An empty key names no document: a clear error, not a lookup of `:Prefix:`.
        for empty in [None, Some(String::new())] {
            match UserReadCache::get(con, &empty).await {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains("primary key is empty"), "{message}")
                }
                other => panic!("expected InvalidArgument, got {other:?}"),
            }
        }
        assert!(matches!(
            UserReadCache::delete(con, "").await,
            Err(Error::InvalidArgument(_))
        ));
        // reload: another writer changed the document; this copy catches up.
        let mut theirs = u.clone();
        theirs.name = "changed elsewhere".into();
        theirs.save(con).await.unwrap();
        let mut mine = u.clone();
        mine.reload(con).await.unwrap();
        assert_eq!(mine, theirs);
        assert!(UserReadCache::delete(con, &u.pk).await.unwrap());
        assert!(mine.reload(con).await.unwrap_err().is_not_found());
        assert!(matches!(
            user("unsaved").reload(con).await,
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[tokio::test]
async fn a_miss_is_none_with_the_optional_forms() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new()
            .model::<UserReadCache>()
            .run(con)
            .await
            .unwrap();
        let name = common::unique("miss");
        let missing = common::unique("no-such-pk");
        assert_eq!(
            UserReadCache::get_optional(con, &missing).await.unwrap(),
            None
        );
        assert!(UserReadCache::get(con, &missing)
            .await
            .unwrap_err()
            .is_not_found());
        let q = UserReadCache::find(|u| u.name.eq(name.as_str()));
        assert_eq!(q.first_optional(con).await.unwrap(), None);
        assert!(q.first(con).await.unwrap_err().is_not_found());
        let mut u = user(&name);
        u.save(con).await.unwrap();
        assert_eq!(
            UserReadCache::get_optional(con, &u.pk).await.unwrap(),
            Some(u.clone())
        );
        assert_eq!(q.first_optional(con).await.unwrap(), Some(u.clone()));
        // Other errors stay errors: a key of another type is not a miss.
        let _: () = redis::cmd("SET")
            .arg(UserReadCache::key_layout().key(&missing))
            .arg("x")
            .query_async(con)
            .await
            .unwrap();
        assert!(UserReadCache::get_optional(con, &missing).await.is_err());
        let _: () = redis::cmd("DEL")
            .arg(UserReadCache::key_layout().key(&missing))
            .query_async(con)
            .await
            .unwrap();
        UserReadCache::delete(con, &u.pk).await.unwrap();
    }
}

#[tokio::test]
async fn streams_work_with_next_and_pages_carry_the_total() {
    for url in common::urls() {
        let con = &mut common::multiplexed(&url).await;
        Migrator::new()
            .model::<UserReadCache>()
            .run(con)
            .await
            .unwrap();
        let name = common::unique("stream");
        let mut users: Vec<UserReadCache> = (0..25).map(|_| user(&name)).collect();
        UserReadCache::save_all(con, &mut users).await.unwrap();
        let q = UserReadCache::find(|u| u.name.eq(name.as_str()));
        // `.next()` needs `Unpin`: no `pin_mut!` or `Box::pin` in user code.
        let mut stream = q.clone().batch_size(10).stream(con);
        let mut seen = 0;
        while let Some(item) = stream.next().await {
            item.unwrap();
            seen += 1;
        }
        assert_eq!(seen, 25);
        drop(stream);
        let mut pks = UserReadCache::all_pks(con);
        assert!(pks.next().await.is_some());
        drop(pks);
        // One round trip gives the page and the total.
        let page = q.page(con, 20, 10).await.unwrap();
        assert_eq!((page.len(), page.total, page.pages(10)), (5, 25, 3));
        q.delete(con).await.unwrap();
    }
}

#[test]
fn the_blocking_forms_are_the_same() {
    use redis_om::blocking::{SyncModel, SyncQuery};
    let con = &mut common::sync_con(&common::url());
    redis_om::blocking::Migrator::new()
        .model::<UserReadCache>()
        .run(con)
        .unwrap();
    let name = common::unique("blocking");
    let mut u = user(&name);
    SyncModel::save(&mut u, con).unwrap();
    assert_eq!(<UserReadCache as SyncModel>::get(con, &u.pk).unwrap(), u);
    let missing = common::unique("missing");
    assert_eq!(
        <UserReadCache as SyncModel>::get_optional(con, &missing).unwrap(),
        None
    );
    let q = <UserReadCache as redis_om::Find>::find(|f| f.name.eq(name.as_str()));
    assert_eq!(SyncQuery::first_optional(&q, con).unwrap(), Some(u.clone()));
    let page = SyncQuery::page(&q, con, 0, 10).unwrap();
    assert_eq!((page.len(), page.total), (1, 1));
    let mut copy = u.clone();
    copy.name = "stale".into();
    SyncModel::reload(&mut copy, con).unwrap();
    assert_eq!(copy, u);
    assert!(<UserReadCache as SyncModel>::delete(con, &u.pk).unwrap());
    assert_eq!(SyncQuery::first_optional(&q, con).unwrap(), None);
}
