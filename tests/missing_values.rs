//! Missing and empty values (RediSearch 2.10's INDEXMISSING and INDEXEMPTY),
//! opted into per field: `is_missing()` and `is_empty()`, typed, on hash and
//! JSON models.

mod common;

use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "MvUser")]
struct MvUser {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, sortable, index_missing, index_empty)]
    nick: Option<String>,
    #[redis_om(index, index_missing)]
    score: Option<f64>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "MvDoc")]
struct MvDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index, index_missing, index_empty)]
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

#[test]
fn the_schema_says_so_and_only_for_opted_in_fields() {
    let text = MvUser::index_schema().text();
    assert!(
        text.contains("nick TAG SEPARATOR | INDEXMISSING INDEXEMPTY SORTABLE"),
        "{text}"
    );
    assert!(text.contains("score NUMERIC INDEXMISSING"), "{text}");
    assert!(text.contains("run TAG SEPARATOR | "), "{text}");
    assert!(!text.contains("run TAG SEPARATOR | INDEX"), "{text}");
}

#[tokio::test]
async fn missing_and_empty_hash_fields_are_found() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<MvUser>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("mv");
        let mut users = vec![
            MvUser {
                pk: None,
                run: run.clone(),
                nick: None,
                score: Some(1.0),
            },
            MvUser {
                pk: None,
                run: run.clone(),
                nick: Some(String::new()),
                score: None,
            },
            MvUser {
                pk: None,
                run: run.clone(),
                nick: Some("ada".into()),
                score: Some(3.0),
            },
        ];
        let pks = MvUser::save_all(&mut con, &mut users).await.unwrap();
        // A document written before `nick` and `score` existed.
        let old = MvUser::key_layout().key(common::unique("old"));
        let _: () = redis::cmd("HSET")
            .arg(&old)
            .arg("run")
            .arg(&run)
            .query_async(&mut con)
            .await
            .unwrap();
        let keys = |found: Vec<MvUser>| {
            let mut pks: Vec<String> = found.into_iter().filter_map(|u| u.pk).collect();
            pks.sort();
            pks
        };
        let q = |f: fn(&MvUserFields) -> redis_om::Expr<MvUser>| {
            let run = run.clone();
            MvUser::find(move |u| u.run.eq(run.as_str()) & f(u))
        };
        let missing_nick = keys(q(|u| u.nick.is_missing()).all(&mut con).await.unwrap());
        let old_pk = MvUser::key_layout().pk_from_key(&old).unwrap().to_owned();
        let mut want = vec![pks[0].clone(), old_pk.clone()];
        want.sort();
        assert_eq!(missing_nick, want);
        assert_eq!(
            keys(q(|u| u.nick.is_empty()).all(&mut con).await.unwrap()),
            vec![pks[1].clone()]
        );
        let mut want = vec![pks[1].clone(), old_pk.clone()];
        want.sort();
        assert_eq!(
            keys(q(|u| u.score.is_missing()).all(&mut con).await.unwrap()),
            want
        );
        // The field's own operators still work, combined with the new ones.
        assert_eq!(
            keys(
                q(|u| u.nick.eq("ada") | u.nick.is_empty())
                    .all(&mut con)
                    .await
                    .unwrap()
            )
            .len(),
            2
        );
        assert_eq!(
            q(|u| !u.nick.is_missing() & u.score.gt(2.0))
                .count(&mut con)
                .await
                .unwrap(),
            1
        );
        // Sorting by and selecting the field go through the wrapper too.
        let nicks: Vec<Option<String>> = q(|u| !u.nick.is_missing())
            .sort_by(|u| u.nick, SortOrder::Asc)
            .select(|u| u.nick)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(nicks.len(), 2);
        let _: () = redis::cmd("DEL")
            .arg(&old)
            .query_async(&mut con)
            .await
            .unwrap();
        MvUser::delete_many(&mut con, &pks).await.unwrap();
    }
}

#[tokio::test]
async fn missing_and_empty_json_members_are_found() {
    let mut con = common::multiplexed(&common::url()).await;
    Migrator::new()
        .model::<MvDoc>()
        .run(&mut con)
        .await
        .unwrap();
    let run = common::unique("mvj");
    let mut docs = vec![
        MvDoc {
            pk: None,
            run: run.clone(),
            label: None,
        },
        MvDoc {
            pk: None,
            run: run.clone(),
            label: Some(String::new()),
        },
        MvDoc {
            pk: None,
            run: run.clone(),
            label: Some("x".into()),
        },
    ];
    let pks = MvDoc::save_all(&mut con, &mut docs).await.unwrap();
    let missing = MvDoc::find(|d| d.run.eq(run.as_str()) & d.label.is_missing())
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(missing, vec![docs[0].clone()]);
    let empty = MvDoc::find(|d| d.run.eq(run.as_str()) & d.label.is_empty())
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(empty, vec![docs[1].clone()]);
    // Setting it to None removes the member, as a save leaves it out, so the
    // document is then missing it (a `null` would not be).
    assert!(MvDoc::update(&mut con, &pks[2], |d| d.label.set(None))
        .await
        .unwrap());
    let missing = MvDoc::find(|d| d.run.eq(run.as_str()) & d.label.is_missing())
        .count(&mut con)
        .await
        .unwrap();
    assert_eq!(missing, 2);
    MvDoc::delete_many(&mut con, &pks).await.unwrap();
}
