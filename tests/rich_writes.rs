//! Rich writes: `delete_many`, writes in the caller's pipelines and
//! transactions (`save_in`, `delete_in`), and optimistic locking with a
//! `#[redis_om(version)]` field checked and incremented on the server.

mod common;

use redis::AsyncCommands;
use redis_om::prelude::*;
use redis_om::Error;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwUser")]
struct RwUser {
    pk: Option<String>,
    name: String,
    nick: Option<String>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwOrder")]
struct RwOrder {
    pk: Option<String>,
    total: f64,
    lines: Vec<String>,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwInvoice")]
struct RwInvoice {
    pk: Option<String>,
    amount: i64,
}

/// A counter saved by many writers at once: `count` must never lose an increment.
#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwCounter")]
struct RwCounter {
    pk: String,
    count: i64,
    #[redis_om(version)]
    version: u64,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwAccount")]
struct RwAccount {
    pk: String,
    balance: i64,
    #[serde(rename = "rev-no")]
    #[redis_om(version)]
    rev: i32,
}

#[tokio::test]
async fn delete_many_deletes_in_chunks_and_counts_what_existed() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut users: Vec<RwUser> = (0..2_345)
            .map(|i| RwUser {
                pk: Some(common::unique(&format!("dm{i}"))),
                name: format!("n{i}"),
                nick: None,
            })
            .collect();
        let pks = RwUser::save_all(&mut con, &mut users).await.unwrap();
        let mut asked = pks.clone();
        asked.push(common::unique("never-saved"));
        asked.push(pks[0].clone()); // twice: deleted once
        assert_eq!(RwUser::delete_many(&mut con, &asked).await.unwrap(), 2_345);
        let left = RwUser::get_many(&mut con, &pks).await.unwrap();
        assert!(left.iter().all(Option::is_none));
        assert_eq!(RwUser::delete_many(&mut con, &pks).await.unwrap(), 0);

        // An empty key names no document: refused before anything is sent.
        let keep = RwUser {
            pk: Some(common::unique("keep")),
            name: "k".into(),
            nick: None,
        };
        keep.clone().save(&mut con).await.unwrap();
        let err = RwUser::delete_many(&mut con, [keep.pk.clone(), None])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(RwUser::exists(&mut con, &keep.pk).await.unwrap());

        // The blocking form.
        let mut sync = common::sync_con(&url);
        assert_eq!(
            <RwUser as redis_om::blocking::SyncModel>::delete_many(
                &mut sync,
                [keep.pk.as_deref().unwrap(), "nope"]
            )
            .unwrap(),
            1
        );
    }
}

#[tokio::test]
async fn a_transaction_saves_two_models_and_deletes_a_third() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut old = RwInvoice {
            pk: None,
            amount: 5,
        };
        let old_pk = old.save(&mut con).await.unwrap();
        let mut user = RwUser {
            pk: None,
            name: "Ada".into(),
            nick: Some("ada".into()),
        };
        let mut order = RwOrder {
            pk: None,
            total: 12.5,
            lines: vec!["book".into()],
        };
        let counter = common::unique("rw-counter");
        let mut pipe = redis::pipe();
        pipe.atomic();
        let user_pk = user.save_in(&mut pipe).unwrap();
        let order_pk = order.save_in(&mut pipe).unwrap();
        RwInvoice::delete_in(&mut pipe, &old_pk).unwrap();
        pipe.incr(&counter, 1);
        // The keys are generated before the pipeline runs.
        assert_eq!(user.pk.as_deref(), Some(user_pk.as_str()));
        assert_eq!(order.pk.as_deref(), Some(order_pk.as_str()));
        assert!(!RwUser::exists(&mut con, &user_pk).await.unwrap());
        // The models' replies are ignored: the caller's shape is its own.
        let (n,): (i64,) = pipe.query_async(&mut con).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(RwUser::get(&mut con, &user_pk).await.unwrap(), user);
        assert_eq!(RwOrder::get(&mut con, &order_pk).await.unwrap(), order);
        assert!(!RwInvoice::exists(&mut con, &old_pk).await.unwrap());

        // Clearing a field in a plain (non-atomic) pipeline removes it, in
        // its own MULTI; in an atomic one, inside the caller's.
        for atomic in [false, true] {
            user.nick = None;
            let mut pipe = redis::pipe();
            if atomic {
                pipe.atomic();
            }
            user.save_in(&mut pipe).unwrap();
            pipe.query_async::<()>(&mut con).await.unwrap();
            assert_eq!(RwUser::get(&mut con, &user_pk).await.unwrap().nick, None);
            user.nick = Some("back".into());
            user.save(&mut con).await.unwrap();
        }
        let _: () = con.del(&counter).await.unwrap();
        RwUser::delete(&mut con, &user_pk).await.unwrap();
        RwOrder::delete(&mut con, &order_pk).await.unwrap();
    }
}

#[tokio::test]
async fn a_stale_save_is_a_conflict_and_writes_nothing() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let pk = common::unique("stale");
        let mut first = RwCounter {
            pk: pk.clone(),
            count: 1,
            version: 0,
        };
        first.save(&mut con).await.unwrap();
        assert_eq!(
            first.version, 1,
            "a save moves the model to the stored version"
        );
        let mut a = RwCounter::get(&mut con, &pk).await.unwrap();
        let mut b = a.clone();
        a.count = 10;
        a.save(&mut con).await.unwrap();
        assert_eq!(a.version, 2);
        b.count = 20;
        let err = b.save(&mut con).await.unwrap_err();
        match &err {
            Error::Conflict {
                key,
                expected,
                found,
            } => {
                assert_eq!(key, &RwCounter::key_layout().key(&pk));
                assert_eq!((*expected, *found), (1, 2));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(err.is_conflict());
        assert_eq!(b.version, 1, "the loaded version is kept for the retry");
        let stored = RwCounter::get(&mut con, &pk).await.unwrap();
        assert_eq!((stored.count, stored.version), (10, 2));
        // Reload, change again, save: the retry works.
        b.reload(&mut con).await.unwrap();
        b.count += 20;
        b.save(&mut con).await.unwrap();
        assert_eq!(RwCounter::get(&mut con, &pk).await.unwrap().count, 30);

        // A new document must be saved with version 0 …
        let mut fresh = RwCounter {
            pk: pk.clone(),
            count: 0,
            version: 0,
        };
        assert!(fresh.save(&mut con).await.unwrap_err().is_conflict());
        // … and a save_with condition still applies on top of the check.
        let other = common::unique("stale-new");
        let mut created = RwCounter {
            pk: other.clone(),
            count: 7,
            version: 0,
        };
        let opts = SaveOptions::new().only_if_exists();
        assert_eq!(created.save_with(&mut con, opts).await.unwrap(), None);
        assert_eq!(created.version, 0);
        let opts = SaveOptions::new().only_if_new();
        assert!(created.save_with(&mut con, opts).await.unwrap().is_some());
        assert_eq!(created.version, 1);

        // A versioned model cannot be saved into a pipeline (its conflict
        // would be lost among the pipeline's replies).
        let mut pipe = redis::pipe();
        assert!(matches!(
            created.save_in(&mut pipe),
            Err(Error::InvalidArgument(_))
        ));
        RwCounter::delete_many(&mut con, [&pk, &other])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn json_versions_live_at_the_serde_name() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("acct");
    let mut acct = RwAccount {
        pk: pk.clone(),
        balance: 100,
        rev: 0,
    };
    acct.save(&mut con).await.unwrap();
    let raw: String = redis::cmd("JSON.GET")
        .arg(RwAccount::key_layout().key(&pk))
        .arg("$[\"rev-no\"]")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(raw, "[1]");
    let mut stale = acct.clone();
    acct.balance -= 30;
    acct.save(&mut con).await.unwrap();
    stale.balance -= 50;
    let err = stale.save(&mut con).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(RwAccount::get(&mut con, &pk).await.unwrap().balance, 70);
    RwAccount::delete(&mut con, &pk).await.unwrap();
}

/// 32 tasks, each doing 50 load-modify-save increments with a retry on
/// conflict: every increment lands, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_lose_nothing() {
    let url = common::url();
    let mut con = common::multiplexed(&url).await;
    let pk = common::unique("race");
    RwCounter {
        pk: pk.clone(),
        count: 0,
        version: 0,
    }
    .save(&mut con)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (url, pk) = (url.clone(), pk.clone());
        tasks.push(tokio::spawn(async move {
            let mut con = common::multiplexed(&url).await;
            let mut conflicts = 0u32;
            for _ in 0..50 {
                loop {
                    let mut c = RwCounter::get(&mut con, &pk).await.unwrap();
                    c.count += 1;
                    match c.save(&mut con).await {
                        Ok(_) => break,
                        Err(e) if e.is_conflict() => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let end = RwCounter::get(&mut con, &pk).await.unwrap();
    println!("1,600 increments, {conflicts} conflicts retried");
    assert_eq!(end.count, 1_600);
    assert_eq!(end.version, 1_601);
    assert!(
        conflicts > 0,
        "32 writers never collided: the test proves nothing"
    );
    RwCounter::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn save_all_checks_each_version() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut counters: Vec<RwCounter> = (0..1_500)
            .map(|i| RwCounter {
                pk: common::unique(&format!("bulk{i}")),
                count: i,
                version: 0,
            })
            .collect();
        RwCounter::save_all(&mut con, &mut counters).await.unwrap();
        assert!(counters.iter().all(|c| c.version == 1));
        // Another writer moves one document on; the batch reports it, writes
        // the rest, and leaves that model at the version it was loaded with.
        let mut other = counters[1_234].clone();
        other.save(&mut con).await.unwrap();
        for c in &mut counters {
            c.count += 1;
        }
        let err = RwCounter::save_all(&mut con, &mut counters)
            .await
            .unwrap_err();
        match &err {
            Error::BulkWrite { total, failed } => {
                assert_eq!(*total, 1_500);
                assert_eq!(failed.len(), 1, "{failed:?}");
                assert_eq!(failed[0].index, 1_234);
                assert!(
                    failed[0].reason.contains("conflict"),
                    "{}",
                    failed[0].reason
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(counters[1_234].version, 1);
        assert_eq!(counters[0].version, 2);
        let stored = RwCounter::get(&mut con, &counters[0].pk).await.unwrap();
        assert_eq!(stored, counters[0]);
        let pks: Vec<&String> = counters.iter().map(|c| &c.pk).collect();
        assert_eq!(RwCounter::delete_many(&mut con, pks).await.unwrap(), 1_500);
    }
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwProfile")]
struct RwProfile {
    pk: Option<String>,
    #[redis_om(index)]
    team: String,
    #[redis_om(index)]
    score: f64,
    #[redis_om(rename = "display-name")]
    display: String,
    nick: Option<String>,
    visits: u32,
}

#[cfg(feature = "chrono")]
#[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct RwAddress {
    #[redis_om(index)]
    city: String,
    zip: String,
}

// Uses `redis_om::timestamp` (feature `chrono`, on in scripts/test).
#[cfg(feature = "chrono")]
#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwCustomer")]
#[serde(rename_all = "camelCase")]
struct RwCustomer {
    pk: Option<String>,
    #[redis_om(index)]
    full_name: String,
    #[redis_om(embed)]
    address: RwAddress,
    tags: Vec<String>,
    note: Option<String>,
    #[serde(with = "redis_om::timestamp")]
    seen: chrono::DateTime<chrono::Utc>,
}

fn profile(team: &str, i: u32) -> RwProfile {
    RwProfile {
        pk: None,
        team: team.into(),
        score: f64::from(i),
        display: format!("Player {i}"),
        nick: Some(format!("p{i}")),
        visits: i,
    }
}

#[tokio::test]
async fn update_sets_only_the_chosen_hash_fields() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        redis_om::Migrator::new()
            .model::<RwProfile>()
            .run(&mut con)
            .await
            .unwrap();
        let mut p = profile("red", 7);
        let pk = p.save(&mut con).await.unwrap();
        let key = RwProfile::key_layout().key(&pk);
        let _: () = con.pexpire(&key, 60_000).await.unwrap();
        // Another writer changes a field the update does not touch.
        let _: () = con.hset(&key, "visits", 99).await.unwrap();
        let applied = RwProfile::update(&mut con, &pk, |u| {
            u.display.set("Ada L.") & u.nick.set(None) & u.score.set(9.5)
        })
        .await
        .unwrap();
        assert!(applied);
        let stored = RwProfile::get(&mut con, &pk).await.unwrap();
        p.display = "Ada L.".into();
        p.nick = None;
        p.score = 9.5;
        p.visits = 99; // untouched: not rewritten from a stale copy
        assert_eq!(stored, p);
        let raw: Option<String> = con.hget(&key, "display-name").await.unwrap();
        assert_eq!(raw.as_deref(), Some("Ada L."));
        let ttl: i64 = con.pttl(&key).await.unwrap();
        assert!(ttl > 0, "the TTL is kept: {ttl}");
        // The index follows: the new value is found.
        let found = RwProfile::find(|u| u.score.eq(9.5) & u.team.eq("red"))
            .all(&mut con)
            .await
            .unwrap();
        assert!(found.iter().any(|f| f.pk == p.pk));

        // No document: nothing is created.
        let ghost = common::unique("ghost");
        let applied = RwProfile::update(&mut con, &ghost, |u| u.team.set("blue"))
            .await
            .unwrap();
        assert!(!applied);
        assert!(!RwProfile::exists(&mut con, &ghost).await.unwrap());

        // What save refuses, update refuses, before sending anything.
        let err = RwProfile::update(&mut con, &pk, |u| u.score.set(f64::NAN))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{err}");
        assert_eq!(RwProfile::get(&mut con, &pk).await.unwrap().score, 9.5);
        RwProfile::delete(&mut con, &pk).await.unwrap();
    }
}

#[cfg(feature = "chrono")]
#[tokio::test]
async fn update_sets_json_members_by_their_serde_names() {
    let mut con = common::multiplexed(&common::url()).await;
    redis_om::Migrator::new()
        .model::<RwCustomer>()
        .run(&mut con)
        .await
        .unwrap();
    let seen = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let mut c = RwCustomer {
        pk: None,
        full_name: "Ada".into(),
        address: RwAddress {
            city: "London".into(),
            zip: "N1".into(),
        },
        tags: vec!["a".into()],
        note: Some("x".into()),
        seen,
    };
    let pk = c.save(&mut con).await.unwrap();
    let later = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let moved = RwAddress {
        city: "Paris".into(),
        zip: "75001".into(),
    };
    assert!(RwCustomer::update(&mut con, &pk, |u| {
        u.full_name.set("Ada Lovelace")
            & u.address.set(moved.clone())
            & u.note.set(None)
            & u.seen.set(later)
    })
    .await
    .unwrap());
    c.full_name = "Ada Lovelace".into();
    c.address = moved;
    c.note = None;
    c.seen = later;
    assert_eq!(RwCustomer::get(&mut con, &pk).await.unwrap(), c);
    // Stored as save stores it: camelCase names, epoch seconds.
    let raw: String = redis::cmd("JSON.GET")
        .arg(RwCustomer::key_layout().key(&pk))
        .arg("$.fullName")
        .arg("$.seen")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(raw.contains("\"Ada Lovelace\""), "{raw}");
    assert!(raw.contains("1800000000"), "{raw}");
    let in_paris = RwCustomer::find(|u| u.address.city.eq("Paris"))
        .count(&mut con)
        .await
        .unwrap();
    assert!(in_paris >= 1);
    // One field of the embedded struct (redis-om-python's `address__city`).
    assert!(
        RwCustomer::update(&mut con, &pk, |u| u.address.city.set("Berlin"))
            .await
            .unwrap()
    );
    c.address.city = "Berlin".into();
    assert_eq!(RwCustomer::get(&mut con, &pk).await.unwrap(), c);
    let in_berlin =
        RwCustomer::find(|u| u.address.city.eq("Berlin") & u.full_name.eq("Ada Lovelace"))
            .all(&mut con)
            .await
            .unwrap();
    assert!(in_berlin.iter().any(|found| found.pk == c.pk));
    RwCustomer::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn an_update_moves_the_version_and_can_require_one() {
    let mut con = common::multiplexed(&common::url()).await;
    let pk = common::unique("upd-version");
    let mut c = RwCounter {
        pk: pk.clone(),
        count: 1,
        version: 0,
    };
    c.save(&mut con).await.unwrap();
    assert!(RwCounter::update(&mut con, &pk, |u| u.count.set(5))
        .await
        .unwrap());
    // The copy loaded before the update is now stale.
    c.count = 2;
    assert!(c.save(&mut con).await.unwrap_err().is_conflict());
    let stored = RwCounter::get(&mut con, &pk).await.unwrap();
    assert_eq!((stored.count, stored.version), (5, 2));
    let err = RwCounter::update(&mut con, &pk, |u| u.count.set(6).if_version(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        RwCounter::update(&mut con, &pk, |u| u.count.set(6).if_version(2))
            .await
            .unwrap()
    );
    assert_eq!(RwCounter::get(&mut con, &pk).await.unwrap().version, 3);
    // if_version on a model without a version field is refused.
    let err = RwProfile::update(&mut con, &pk, |u| u.team.set("x").if_version(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    RwCounter::delete(&mut con, &pk).await.unwrap();
}

#[tokio::test]
async fn find_update_changes_every_match_and_nothing_else() {
    let mut con = common::multiplexed(&common::url()).await;
    redis_om::Migrator::new()
        .model::<RwProfile>()
        .run(&mut con)
        .await
        .unwrap();
    let team = common::unique("team");
    let other = common::unique("other");
    let mut players: Vec<RwProfile> = (0..2_300).map(|i| profile(&team, i)).collect();
    players.extend((0..50).map(|i| profile(&other, i)));
    RwProfile::save_all(&mut con, &mut players).await.unwrap();
    let changed = RwProfile::find(|u| u.team.eq(team.as_str()) & u.score.ge(300.0))
        .update(&mut con, |u| {
            u.nick.set(Some("promoted".to_owned())) & u.visits.set(1u32)
        })
        .await
        .unwrap();
    assert_eq!(changed, 2_000);
    let promoted = RwProfile::find(|u| u.team.eq(team.as_str()))
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(promoted.len(), 2_300);
    for p in &promoted {
        let want = p.score >= 300.0;
        assert_eq!(p.nick.as_deref() == Some("promoted"), want, "{p:?}");
        assert_eq!(p.visits == 1, want || p.score == 1.0, "{p:?}");
    }
    let untouched = RwProfile::find(|u| u.team.eq(other.as_str()))
        .all(&mut con)
        .await
        .unwrap();
    assert!(untouched
        .iter()
        .all(|p| p.nick.as_deref() != Some("promoted")));
    // The blocking form.
    let mut sync = common::sync_con(&common::url());
    let n = redis_om::blocking::SyncQuery::update(
        &RwProfile::find(|u| u.team.eq(other.as_str())),
        &mut sync,
        |u| u.visits.set(7u32),
    )
    .unwrap();
    assert_eq!(n, 50);
    let pks: Vec<String> = players.iter().filter_map(|p| p.pk.clone()).collect();
    RwProfile::delete_many(&mut con, &pks).await.unwrap();
}

/// JSON save_all writes each chunk with one JSON.MSET and get_many reads it
/// with one JSON.MGET; a key of another type among them is still that
/// item's error (MSET is atomic: the chunk is written again per document),
/// and MGET's nil for it is never taken for a missing document.
#[tokio::test]
async fn json_bulk_uses_multi_key_commands_and_still_reports_each_item() {
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let mut orders: Vec<RwOrder> = (0..2_100)
            .map(|i| RwOrder {
                pk: Some(common::unique(&format!("mset{i}"))),
                total: f64::from(i),
                lines: vec![format!("l{i}")],
            })
            .collect();
        let squatted = RwOrder::key_layout().key(orders[1_500].pk.as_deref().unwrap());
        let _: () = con.hset(&squatted, "not", "json").await.unwrap();
        let err = RwOrder::save_all(&mut con, &mut orders).await.unwrap_err();
        match &err {
            Error::BulkWrite { total, failed } => {
                assert_eq!(*total, 2_100);
                assert_eq!(failed.len(), 1, "{failed:?}");
                assert_eq!(failed[0].index, 1_500);
                assert_eq!(failed[0].key, squatted);
            }
            other => panic!("{other:?}"),
        }
        let pks: Vec<String> = orders.iter().filter_map(|o| o.pk.clone()).collect();
        let mut asked = pks.clone();
        asked.push(common::unique("absent"));
        let each = RwOrder::get_many_each(&mut con, &asked).await.unwrap();
        assert_eq!(each.len(), 2_101);
        for (i, item) in each.iter().enumerate() {
            match (i, item) {
                (1_500, Err(Error::WrongType { key, .. })) => assert_eq!(key, &squatted),
                (2_100, Ok(None)) => {}
                (i, Ok(Some(o))) if i < 2_100 => assert_eq!(o, &orders[i]),
                (i, other) => panic!("item {i}: {other:?}"),
            }
        }
        let _: () = con.del(&squatted).await.unwrap();
        RwOrder::delete_many(&mut con, &pks).await.unwrap();
    }
}

/// Shared fields, flattened into several JSON models (composition instead of
/// redis-om-python's inheritance): indexed under their own names, as if
/// declared on each model.
#[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct RwAudited {
    #[redis_om(index)]
    tenant: String,
    #[redis_om(index, sortable)]
    revision: u32,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwNote")]
struct RwNote {
    pk: Option<String>,
    #[serde(flatten)]
    #[redis_om(embed)]
    audit: RwAudited,
    #[redis_om(index)]
    title: String,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwTask")]
struct RwTask {
    pk: Option<String>,
    #[serde(flatten)]
    #[redis_om(embed)]
    audit: RwAudited,
    #[redis_om(index)]
    done: bool,
}

#[tokio::test]
async fn two_models_share_flattened_indexed_fields() {
    let schema = RwNote::index_schema().text();
    assert!(schema.contains("$.tenant AS tenant TAG"), "{schema}");
    assert!(
        schema.contains("$.revision AS revision NUMERIC SORTABLE"),
        "{schema}"
    );
    let mut con = common::multiplexed(&common::url()).await;
    redis_om::Migrator::new()
        .model::<RwNote>()
        .model::<RwTask>()
        .run(&mut con)
        .await
        .unwrap();
    let tenant = common::unique("tenant");
    let audit = |revision| RwAudited {
        tenant: tenant.clone(),
        revision,
    };
    let mut note = RwNote {
        pk: None,
        audit: audit(3),
        title: "hello".into(),
    };
    let mut task = RwTask {
        pk: None,
        audit: audit(5),
        done: false,
    };
    let note_pk = note.save(&mut con).await.unwrap();
    let task_pk = task.save(&mut con).await.unwrap();
    // Stored flat, as serde writes it.
    let raw: String = redis::cmd("JSON.GET")
        .arg(RwNote::key_layout().key(&note_pk))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        raw.contains("\"tenant\":") && !raw.contains("\"audit\""),
        "{raw}"
    );
    assert_eq!(RwNote::get(&mut con, &note_pk).await.unwrap(), note);
    let notes = RwNote::find(|n| n.audit.tenant.eq(tenant.as_str()) & n.audit.revision.ge(2))
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(notes, vec![note.clone()]);
    let tasks = RwTask::find(|t| t.audit.tenant.eq(tenant.as_str()))
        .sort_by(|t| t.audit.revision, SortOrder::Desc)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(tasks, vec![task.clone()]);
    // The flattened fields have setters at the document's root.
    assert!(
        RwTask::update(&mut con, &task_pk, |t| t.audit.revision.set(6u32))
            .await
            .unwrap()
    );
    task.audit.revision = 6;
    assert_eq!(RwTask::get(&mut con, &task_pk).await.unwrap(), task);
    RwNote::delete(&mut con, &note_pk).await.unwrap();
    RwTask::delete(&mut con, &task_pk).await.unwrap();
}

/// The same for hash models: an EmbeddedModel with `hash`, flattened with
/// `#[redis_om(flatten)]`, is stored as the model's own hash fields and
/// indexed under their names (redis-om-python's inherited fields).
#[derive(EmbeddedModel, Debug, Clone, PartialEq)]
#[redis_om(hash)]
struct RwTenancy {
    #[redis_om(index)]
    tenant: String,
    #[redis_om(index, sortable)]
    created: i64,
    note: Option<String>,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwHashNote")]
struct RwHashNote {
    pk: Option<String>,
    #[redis_om(flatten)]
    base: RwTenancy,
    #[redis_om(index)]
    title: String,
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "RwHashTask")]
struct RwHashTask {
    pk: Option<String>,
    #[redis_om(flatten)]
    base: RwTenancy,
    done: bool,
}

#[tokio::test]
async fn two_hash_models_share_flattened_indexed_fields() {
    assert_eq!(
        RwHashNote::index_schema().text(),
        "ON HASH PREFIX 1 :RwHashNote: SCHEMA pk TAG SEPARATOR | tenant TAG SEPARATOR | \
         created NUMERIC SORTABLE title TAG SEPARATOR |"
    );
    let mut con = common::multiplexed(&common::url()).await;
    redis_om::Migrator::new()
        .model::<RwHashNote>()
        .model::<RwHashTask>()
        .run(&mut con)
        .await
        .unwrap();
    let tenant = common::unique("tenant");
    let base = |created| RwTenancy {
        tenant: tenant.clone(),
        created,
        note: None,
    };
    let mut note = RwHashNote {
        pk: None,
        base: base(10),
        title: "hello".into(),
    };
    let mut task = RwHashTask {
        pk: None,
        base: base(20),
        done: false,
    };
    let note_pk = note.save(&mut con).await.unwrap();
    let task_pk = task.save(&mut con).await.unwrap();
    // Stored flat: the struct's fields are hash fields of the model.
    let stored: std::collections::HashMap<String, String> = con
        .hgetall(RwHashNote::key_layout().key(&note_pk))
        .await
        .unwrap();
    assert_eq!(stored.get("tenant"), Some(&tenant));
    assert_eq!(stored.get("created").map(String::as_str), Some("10"));
    assert!(!stored.contains_key("base") && !stored.contains_key("note"));
    assert_eq!(RwHashNote::get(&mut con, &note_pk).await.unwrap(), note);
    let found = RwHashNote::find(|n| n.base.tenant.eq(tenant.as_str()) & n.base.created.ge(5))
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(found, vec![note.clone()]);
    let tasks = RwHashTask::find(|t| t.base.tenant.eq(tenant.as_str()))
        .sort_by(|t| t.base.created, SortOrder::Desc)
        .all(&mut con)
        .await
        .unwrap();
    assert_eq!(tasks, vec![task.clone()]);
    // Setters of the flattened fields, and a field cleared.
    assert!(RwHashTask::update(&mut con, &task_pk, |t| {
        t.base.created.set(21) & t.base.note.set(Some("n".to_owned())) & t.done.set(true)
    })
    .await
    .unwrap());
    task.base.created = 21;
    task.base.note = Some("n".into());
    task.done = true;
    assert_eq!(RwHashTask::get(&mut con, &task_pk).await.unwrap(), task);
    task.base.note = None;
    task.save(&mut con).await.unwrap();
    assert_eq!(RwHashTask::get(&mut con, &task_pk).await.unwrap(), task);
    RwHashNote::delete(&mut con, &note_pk).await.unwrap();
    RwHashTask::delete(&mut con, &task_pk).await.unwrap();
}

/// Found in review: fixes of data that would have been silently wrong.
mod review {
    use super::*;

    #[derive(EmbeddedModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Place {
        city: String,
    }

    #[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "RwPlaced")]
    struct Placed {
        pk: Option<String>,
        name: String,
        #[redis_om(embed)]
        place: Place,
    }

    /// A document written without the embedded struct (an older model, or
    /// another service): setting one of its fields would do nothing on the
    /// server; it is refused, and nothing of the patch is written.
    #[tokio::test]
    async fn an_update_under_a_missing_struct_is_refused_and_writes_nothing() {
        let mut con = common::multiplexed(&common::url()).await;
        let pk = common::unique("placed");
        let key = Placed::key_layout().key(&pk);
        let _: () = redis::cmd("JSON.SET")
            .arg(&key)
            .arg("$")
            .arg(format!(r#"{{"pk":"{pk}","name":"old","place":null}}"#))
            .query_async(&mut con)
            .await
            .unwrap();
        let err = Placed::update(&mut con, &pk, |p| {
            p.name.set("new") & p.place.city.set("Paris")
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains("$.place.city")),
            "{err:?}"
        );
        let raw: String = redis::cmd("JSON.GET")
            .arg(&key)
            .arg("$.name")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(raw, r#"["old"]"#);
        // Setting the struct whole works.
        assert!(Placed::update(&mut con, &pk, |p| p.place.set(Place {
            city: "Paris".into()
        }))
        .await
        .unwrap());
        let _: () = con.del(&key).await.unwrap();
    }

    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "RwExpiring", ttl_secs = 3600)]
    struct Expiring {
        pk: String,
        name: String,
    }

    /// A save with a TTL onto a key of another type fails, and the other
    /// key keeps its own TTL (in a MULTI, PEXPIRE ran after the failed HSET).
    #[tokio::test]
    async fn a_failed_write_never_expires_someone_elses_key() {
        let mut con = common::multiplexed(&common::url()).await;
        let pk = common::unique("squat");
        let key = Expiring::key_layout().key(&pk);
        let _: () = con.set(&key, "not a hash").await.unwrap();
        let mut doc = Expiring {
            pk: pk.clone(),
            name: "x".into(),
        };
        assert!(matches!(
            doc.save(&mut con).await,
            Err(Error::WrongType { .. })
        ));
        let err = Expiring::save_all(&mut con, std::slice::from_mut(&mut doc))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BulkWrite { .. }), "{err:?}");
        let ttl: i64 = con.ttl(&key).await.unwrap();
        assert_eq!(ttl, -1, "the string key must not get the model's TTL");
        let _: () = con.del(&key).await.unwrap();
    }

    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "RwScored")]
    struct Scored {
        pk: String,
        #[redis_om(index)]
        score: f64,
        #[redis_om(version)]
        version: u32,
    }

    /// A versioned save_all that is refused before sending (a NaN in an
    /// indexed float) leaves every model at the version it was loaded with.
    #[tokio::test]
    async fn a_refused_versioned_save_all_moves_no_version() {
        let mut con = common::multiplexed(&common::url()).await;
        let mut docs: Vec<Scored> = (0..5)
            .map(|i| Scored {
                pk: common::unique(&format!("scored{i}")),
                score: f64::from(i),
                version: 0,
            })
            .collect();
        docs[3].score = f64::NAN;
        let err = Scored::save_all(&mut con, &mut docs).await.unwrap_err();
        assert!(matches!(err, Error::Encode { .. }), "{err:?}");
        assert!(docs.iter().all(|d| d.version == 0), "{docs:?}");
    }

    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "RwSmallVersion")]
    struct SmallVersion {
        pk: String,
        count: i64,
        #[redis_om(version)]
        version: u16,
    }

    /// An update moves the version on the server: never past its type's
    /// largest value (the document would not load), never from a stored
    /// version that is not an integer (it would restart at 1).
    #[tokio::test]
    async fn an_update_refuses_a_version_it_cannot_move_on() {
        let mut con = common::multiplexed(&common::url()).await;
        let pk = common::unique("small");
        let key = SmallVersion::key_layout().key(&pk);
        for (stored, refused) in [
            ("65535", "cannot be incremented"),
            ("abc", "not an integer"),
        ] {
            let _: () = redis::cmd("HSET")
                .arg(&key)
                .arg("pk")
                .arg(&pk)
                .arg("count")
                .arg(0)
                .arg("version")
                .arg(stored)
                .query_async(&mut con)
                .await
                .unwrap();
            let err = SmallVersion::update(&mut con, &pk, |u| u.count.set(1i64))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(refused), "{stored}: {err}");
            let (count, version): (i64, String) = redis::cmd("HMGET")
                .arg(&key)
                .arg("count")
                .arg("version")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!((count, version.as_str()), (0, stored), "nothing changed");
        }
        let _: () = con.del(&key).await.unwrap();
    }

    #[derive(HashModel, Debug, Clone, PartialEq)]
    #[redis_om(prefix = "RwCode")]
    struct Code {
        pk: Option<String>,
        #[redis_om(index, sortable, case_sensitive)]
        code: String,
    }

    /// `sortable` with `case_sensitive`: the server takes CASESENSITIVE
    /// before SORTABLE only; the other order made the index impossible.
    #[tokio::test]
    async fn a_sortable_case_sensitive_tag_can_be_indexed() {
        let mut con = common::multiplexed(&common::url()).await;
        Migrator::new().model::<Code>().run(&mut con).await.unwrap();
        let run = common::unique("Code");
        let mut doc = Code {
            pk: None,
            code: run.clone(),
        };
        let pk = doc.save(&mut con).await.unwrap();
        let found = Code::find(|c| c.code.eq(run.as_str()))
            .sort_by(|c| c.code, SortOrder::Asc)
            .all(&mut con)
            .await
            .unwrap();
        assert_eq!(found, vec![doc.clone()]);
        Code::delete(&mut con, &pk).await.unwrap();
    }
}
