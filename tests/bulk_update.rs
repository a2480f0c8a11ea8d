//! `find(..).update(..)` while other clients write: a document that stops
//! matching between the search and the write is left alone and reported,
//! never overwritten (the write is checked against the filter's fields in
//! the same script).

mod common;

use redis_om::blocking::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UpdGuard")]
struct UpdGuard {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    status: String,
    #[redis_om(index)]
    n: u32,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "UpdGuardDoc")]
struct UpdGuardDoc {
    pk: Option<String>,
    #[redis_om(index)]
    run: String,
    #[redis_om(index)]
    status: String,
    #[redis_om(index)]
    n: u32,
}

/// A blocking connection that, right before the first pipeline of update
/// calls, lets another client run `meanwhile` (as a concurrent writer would).
struct WritesInBetween<F: FnMut()> {
    con: redis::Connection,
    meanwhile: Option<F>,
}

impl<F: FnMut()> redis::ConnectionLike for WritesInBetween<F> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        self.con.req_packed_command(cmd)
    }
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        if cmd.windows(7).any(|w| w == b"EVALSHA") {
            if let Some(mut meanwhile) = self.meanwhile.take() {
                meanwhile();
            }
        }
        self.con.req_packed_commands(cmd, offset, count)
    }
    fn get_db(&self) -> i64 {
        self.con.get_db()
    }
    fn check_connection(&mut self) -> bool {
        self.con.check_connection()
    }
    fn is_open(&self) -> bool {
        self.con.is_open()
    }
}

const DOCS: u32 = 2_000;

/// Every seventh of 2,000 pending documents is cancelled by another client
/// between the search and the write of `status = processed`: each is left
/// cancelled and reported as skipped; the others are processed.
#[test]
fn documents_that_stop_matching_are_skipped_and_reported() {
    for url in common::urls() {
        let mut raw = common::sync_con(&url);
        Migrator::new()
            .model::<UpdGuard>()
            .model::<UpdGuardDoc>()
            .run(&mut raw)
            .unwrap();
        let run = common::unique("updguard");
        let cancelled: Vec<u32> = (0..DOCS).filter(|n| n % 7 == 3).collect();

        // A hash model.
        let mut docs: Vec<UpdGuard> = (0..DOCS)
            .map(|n| UpdGuard {
                pk: Some(format!("{run}-{n}")),
                run: run.clone(),
                status: "pending".into(),
                n,
            })
            .collect();
        SyncModel::save_all(&mut raw, &mut docs).unwrap();
        let url2 = url.clone();
        let (run2, cancel) = (run.clone(), cancelled.clone());
        let mut con = WritesInBetween {
            con: common::sync_con(&url),
            meanwhile: Some(move || {
                let mut other = common::sync_con(&url2);
                for n in &cancel {
                    let applied = SyncModel::update(
                        &mut other,
                        format!("{run2}-{n}"),
                        |d: &<UpdGuard as Model>::Setters| d.status.set("cancelled"),
                    )
                    .unwrap();
                    assert!(applied);
                }
            }),
        };
        let r = run.clone();
        let report = UpdGuard::find(move |d| d.run.eq(r.as_str()) & d.status.eq("pending"))
            .update_report(&mut con, |d| d.status.set("processed"))
            .unwrap();
        assert_eq!(
            report.changed,
            u64::from(DOCS) - cancelled.len() as u64,
            "{url}"
        );
        let mut skipped = report.skipped.clone();
        skipped.sort();
        let mut want: Vec<String> = cancelled
            .iter()
            .map(|n| UpdGuard::key_layout().key(format!("{run}-{n}")))
            .collect();
        want.sort();
        assert_eq!(skipped, want, "{url}");
        for n in 0..DOCS {
            let doc: UpdGuard = SyncModel::get(&mut raw, format!("{run}-{n}")).unwrap();
            let status = if n % 7 == 3 { "cancelled" } else { "processed" };
            assert_eq!(doc.status, status, "{url}: document {n}");
        }

        // A JSON model, through the async API's twin: the same.
        let mut docs: Vec<UpdGuardDoc> = (0..DOCS)
            .map(|n| UpdGuardDoc {
                pk: Some(format!("{run}-{n}")),
                run: run.clone(),
                status: "pending".into(),
                n,
            })
            .collect();
        SyncModel::save_all(&mut raw, &mut docs).unwrap();
        let url2 = url.clone();
        let (run2, cancel) = (run.clone(), cancelled.clone());
        let mut con = WritesInBetween {
            con: common::sync_con(&url),
            meanwhile: Some(move || {
                let mut other = common::sync_con(&url2);
                for n in &cancel {
                    assert!(SyncModel::update(
                        &mut other,
                        format!("{run2}-{n}"),
                        |d: &<UpdGuardDoc as Model>::Setters| d.status.set("cancelled"),
                    )
                    .unwrap());
                }
            }),
        };
        let r = run.clone();
        let report =
            UpdGuardDoc::find(move |d| d.run.eq(r.as_str()) & d.status.eq("pending") & d.n.ge(0))
                .update_report(&mut con, |d| d.status.set("processed"))
                .unwrap();
        assert_eq!(
            report.changed,
            u64::from(DOCS) - cancelled.len() as u64,
            "{url} JSON"
        );
        assert_eq!(report.skipped.len(), cancelled.len(), "{url} JSON");
        for n in 0..DOCS {
            let doc: UpdGuardDoc = SyncModel::get(&mut raw, format!("{run}-{n}")).unwrap();
            let status = if n % 7 == 3 { "cancelled" } else { "processed" };
            assert_eq!(doc.status, status, "{url} JSON: document {n}");
        }
        let r = run.clone();
        UpdGuard::find(move |d| d.run.eq(r.as_str()))
            .delete(&mut raw)
            .unwrap();
        let r = run.clone();
        UpdGuardDoc::find(move |d| d.run.eq(r.as_str()))
            .delete(&mut raw)
            .unwrap();
    }
}
