//! Documents that do not decode (written by an older version of the model,
//! or by another program) among good ones: `find(..).all()` fails naming the
//! key, `all_each()` returns every good document and an `Err` for each bad
//! one, on both protocols and both APIs.

mod common;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "BadDocUser")]
struct BadDocUser {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    age: u32,
}

#[tokio::test]
async fn all_each_keeps_the_good_documents_and_names_each_bad_one() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<BadDocUser>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("bad");
        let mut users: Vec<BadDocUser> = (0..50)
            .map(|age| BadDocUser {
                pk: Some(format!("{run}-{age}")),
                run: run.clone(),
                age,
            })
            .collect();
        BadDocUser::save_all(&mut con, &mut users).await.unwrap();
        // Two documents another program wrote: an age that is not a u32.
        let bad: Vec<String> = (0..2)
            .map(|i| BadDocUser::key_layout().key(format!("{run}-bad{i}")))
            .collect();
        for key in &bad {
            let _: () = con
                .hset_multiple(key, &[("run", run.as_str()), ("age", "-3")])
                .await
                .unwrap();
        }
        let query = BadDocUser::find(|u| u.run.eq(run.as_str()));
        match query.all(&mut con).await {
            Err(Error::Decode { key, .. }) => assert!(bad.contains(&key), "{key}"),
            other => panic!("{url}: expected Decode, got {other:?}"),
        }
        for each in [
            query.all_each(&mut con).await.unwrap(),
            redis_om::blocking::SyncQuery::all_each(&query, &mut common::sync_con(&url)).unwrap(),
        ] {
            let mut good: Vec<u32> = each
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|u| u.age))
                .collect();
            good.sort_unstable();
            assert_eq!(good, (0..50).collect::<Vec<_>>(), "{url}");
            let mut failed: Vec<String> = each
                .iter()
                .filter_map(|r| match r {
                    Err(Error::Decode { key, field, .. }) => {
                        assert_eq!(field.as_deref(), Some("age"));
                        Some(key.clone())
                    }
                    Err(other) => panic!("{url}: {other:?}"),
                    Ok(_) => None,
                })
                .collect();
            failed.sort();
            assert_eq!(failed, bad, "{url}");
        }
        query.delete(&mut con).await.unwrap();
    }
}
