//! save_all / get_many: pipelined in chunks; a failing item is reported by
//! index and key while every other document is written.

mod common;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BulkUser")]
struct BulkUser {
    pk: Option<String>,
    name: String,
    nick: Option<String>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BulkDoc")]
struct BulkDoc {
    pk: Option<String>,
    n: u32,
    tags: Vec<String>,
}

#[tokio::test]
async fn save_all_and_get_many_round_trip() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        common::clear_prefix(&mut con, BulkUser::key_layout().key_prefix()).await;
        let mut users: Vec<BulkUser> = (0..2_500)
            .map(|i| BulkUser {
                pk: None,
                name: format!("user {i}"),
                nick: (i % 2 == 0).then(|| format!("n{i}")),
            })
            .collect();
        let pks = BulkUser::save_all(&mut con, &mut users).await.unwrap();
        assert_eq!(pks.len(), 2_500);
        assert!(users
            .iter()
            .zip(&pks)
            .all(|(u, pk)| u.pk.as_deref() == Some(pk.as_str())));

        // Clearing fields in bulk removes them, as save() does.
        for u in &mut users {
            u.nick = None;
        }
        BulkUser::save_all(&mut con, &mut users[..10])
            .await
            .unwrap();
        let mut wanted: Vec<String> = pks.clone();
        wanted.insert(5, "missing".into());
        let got = BulkUser::get_many(&mut con, &wanted).await.unwrap();
        assert_eq!(got.len(), 2_501);
        assert!(got[5].is_none());
        assert_eq!(got[0].as_ref().unwrap(), &users[0]);
        assert_eq!(got[2_500].as_ref().unwrap().name, "user 2499");
        assert_eq!(got[11].as_ref().unwrap().nick.as_deref(), Some("n10"));
        assert_eq!(got[12].as_ref().unwrap().nick.as_deref(), None);
    }

    let mut con = common::sync_con(&common::urls()[0]);
    let mut docs: Vec<BulkDoc> = (0..1_500)
        .map(|n| BulkDoc {
            pk: Some(format!("d{n}")),
            n,
            tags: vec![format!("t{n}")],
        })
        .collect();
    let pks = redis_om::blocking::SyncModel::save_all(&mut con, &mut docs).unwrap();
    assert_eq!(pks[1_499], "d1499");
    let got =
        <BulkDoc as redis_om::blocking::SyncModel>::get_many(&mut con, ["d0", "d1499", "nope"])
            .unwrap();
    assert_eq!(
        got,
        vec![Some(docs[0].clone()), Some(docs[1_499].clone()), None]
    );
}

#[tokio::test]
async fn a_failing_item_is_reported_and_the_others_are_written() {
    let mut con = common::multiplexed(&common::urls()[0]).await;
    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "BulkPartial")]
    struct Item {
        pk: String,
        v: u32,
    }
    common::clear_prefix(&mut con, Item::key_layout().key_prefix()).await;
    // Keys of the wrong type make HSET fail for items 1,234 and 2,001.
    for bad in [1_234, 2_001] {
        let _: () = con
            .set(Item::key_layout().key(bad), "not a hash")
            .await
            .unwrap();
    }
    let mut items: Vec<Item> = (0..3_000)
        .map(|v| Item {
            pk: v.to_string(),
            v,
        })
        .collect();
    let err = Item::save_all(&mut con, &mut items).await.unwrap_err();
    match &err {
        Error::BulkWrite { total, failed } => {
            assert_eq!(*total, 3_000);
            let indexes: Vec<usize> = failed.iter().map(|f| f.index).collect();
            assert_eq!(indexes, vec![1_234, 2_001]);
            assert_eq!(failed[0].key, Item::key_layout().key(1_234));
            assert!(
                failed[0].reason.contains("WRONGTYPE"),
                "{}",
                failed[0].reason
            );
        }
        other => panic!("expected BulkWrite, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("2 of 3000 documents were not written or not confirmed"),
        "{err}"
    );
    let got = Item::get_many(&mut con, (0..3_000).filter(|v| *v != 1_234 && *v != 2_001))
        .await
        .unwrap();
    assert_eq!(got.iter().filter(|g| g.is_some()).count(), 2_998);
}
