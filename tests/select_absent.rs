//! `select` of fields a document does not have: the document is still a
//! result (its missing values: `None`, an empty list), never dropped as if it
//! had vanished, on every path (`all`, `first`, `page`, KNN).

mod common;

use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SelAbsHash")]
struct Sh {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    nick: Option<String>,
    #[redis_om(vector(algorithm = "flat", dim = 2, distance = "l2"))]
    emb: Vec<f32>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "SelAbsJson")]
struct Sj {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    #[serde(skip_serializing_if = "Option::is_none")]
    nick: Option<String>,
    #[redis_om(index)]
    tags: Vec<String>,
}

#[tokio::test]
async fn a_document_without_the_selected_fields_is_still_a_result() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        Migrator::new()
            .model::<Sh>()
            .model::<Sj>()
            .run(&mut con)
            .await
            .unwrap();
        let run = common::unique("selabs");
        let mut hashes = vec![
            Sh {
                pk: Some(format!("{run}-a")),
                run: run.clone(),
                nick: Some("x".into()),
                emb: vec![0.0, 0.0],
            },
            Sh {
                pk: Some(format!("{run}-b")),
                run: run.clone(),
                nick: None,
                emb: vec![1.0, 0.0],
            },
        ];
        Sh::save_all(&mut con, &mut hashes).await.unwrap();
        let r = run.clone();
        let q = move || {
            let r = r.clone();
            Sh::find(move |s| s.run.eq(r.as_str())).sort_by(|s| s.pk, SortOrder::Asc)
        };
        let nicks = q().select(|s| s.nick).all(&mut con).await.unwrap();
        assert_eq!(nicks, vec![Some("x".to_owned()), None], "{url}");
        let page = q().select(|s| s.nick).page(&mut con, 0, 10).await.unwrap();
        assert_eq!((page.total, page.items.len()), (2, 2), "{url}");
        let b = format!("{run}-b");
        let first = Sh::find(move |s| s.pk.eq(b.as_str()))
            .select(|s| s.nick)
            .first(&mut con)
            .await
            .unwrap();
        assert_eq!(first, None);
        let r = run.clone();
        let near = Sh::find(move |s| s.run.eq(r.as_str()))
            .select(|s| s.nick)
            .knn(|s| s.emb, &[0.9, 0.0], 5)
            .page(&mut con, 0, 10)
            .await
            .unwrap();
        // b at squared distance 0.01, a at 0.81.
        let nicks: Vec<Option<String>> = near.items.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(nicks, vec![None, Some("x".to_owned())], "{url}");
        assert!((near.items[0].1 - 0.01).abs() < 1e-6 && (near.items[1].1 - 0.81).abs() < 1e-6);
        assert_eq!(near.total, 2);

        let mut docs = vec![
            Sj {
                pk: Some(format!("{run}-a")),
                run: run.clone(),
                nick: Some("x".into()),
                tags: vec!["t".into()],
            },
            Sj {
                pk: Some(format!("{run}-b")),
                run: run.clone(),
                nick: None,
                tags: Vec::new(),
            },
        ];
        Sj::save_all(&mut con, &mut docs).await.unwrap();
        let r = run.clone();
        let rows = Sj::find(move |s| s.run.eq(r.as_str()))
            .sort_by(|s| s.pk, SortOrder::Asc)
            .select(|s| (s.nick, s.tags))
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (Some("x".to_owned()), vec!["t".to_owned()]),
                (None, Vec::new())
            ],
            "{url}"
        );
    }
}
