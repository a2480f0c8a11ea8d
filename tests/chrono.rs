//! chrono fields (feature `chrono`): epoch seconds in hashes and, with
//! `redis_om::timestamp`, in JSON, as redis-om-python stores them.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use redis::AsyncCommands;
use redis_om::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "Event")]
struct Event {
    pk: Option<String>,
    #[redis_om(index)]
    at: DateTime<Utc>,
    day: NaiveDate,
    until: Option<DateTime<Utc>>,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "JsonEvent")]
struct JsonEvent {
    pk: Option<String>,
    #[serde(with = "redis_om::timestamp")]
    at: DateTime<Utc>,
    #[serde(with = "redis_om::timestamp::date")]
    day: NaiveDate,
}

#[tokio::test]
async fn datetimes_and_dates_as_epoch_seconds() {
    let mut con = common::multiplexed(&common::url()).await;
    let at = DateTime::from_timestamp_micros(1_704_153_600_123_456).unwrap();
    let day = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
    let mut e = Event {
        pk: None,
        at,
        day,
        until: None,
    };
    let pk = e.save(&mut con).await.unwrap();
    let key = format!(":Event:{pk}");
    let stored_at: String = con.hget(&key, "at").await.unwrap();
    let stored_day: String = con.hget(&key, "day").await.unwrap();
    assert_eq!(stored_at, "1704153600.123456");
    assert_eq!(stored_day, "1704153600.0");
    assert_eq!(Event::get(&mut con, &pk).await.unwrap(), e);
    Event::delete(&mut con, &pk).await.unwrap();

    let mut j = JsonEvent { pk: None, at, day };
    let pk = j.save(&mut con).await.unwrap();
    let raw: String = redis::cmd("JSON.GET")
        .arg(format!(":JsonEvent:{pk}"))
        .query_async(&mut con)
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(doc["day"], serde_json::json!(1704153600.0));
    assert_eq!(doc["at"], serde_json::json!(1704153600.123456));
    assert_eq!(JsonEvent::get(&mut con, &pk).await.unwrap(), j);
    JsonEvent::delete(&mut con, &pk).await.unwrap();
}

#[derive(HashModel, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FindEvent")]
struct Booking {
    pk: Option<String>,
    #[redis_om(index, sortable)]
    starts: DateTime<Utc>,
    #[redis_om(index)]
    day: NaiveDate,
}

#[derive(JsonModel, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[redis_om(prefix = "FindJsonEvent")]
struct JsonBooking {
    pk: Option<String>,
    #[redis_om(index, sortable)]
    #[serde(with = "redis_om::timestamp")]
    starts: DateTime<Utc>,
}

#[tokio::test]
async fn datetimes_query_as_ranges() {
    use redis_om::Migrator;
    let t = |secs: i64| DateTime::from_timestamp(1_704_153_600 + secs, 0).unwrap();
    for url in common::urls() {
        let mut con = common::multiplexed(&url).await;
        let con = &mut con;
        Migrator::new()
            .model::<Booking>()
            .model::<JsonBooking>()
            .run(con)
            .await
            .unwrap();
        common::clear_prefix(con, Booking::key_layout().key_prefix()).await;
        common::clear_prefix(con, JsonBooking::key_layout().key_prefix()).await;
        for hour in 0..24 {
            let starts = t(hour * 3600);
            let mut b = Booking {
                pk: None,
                starts,
                day: starts.date_naive(),
            };
            b.save(con).await.unwrap();
            JsonBooking { pk: None, starts }.save(con).await.unwrap();
        }
        // 09:00 to 17:00 inclusive, as a range over epoch seconds.
        let office = Booking::find(|b| b.starts.between(t(9 * 3600), t(17 * 3600)))
            .sort_by(|b| b.starts, SortOrder::Asc)
            .all(con)
            .await
            .unwrap();
        assert_eq!(office.len(), 9);
        assert_eq!(office[0].starts, t(9 * 3600));
        assert_eq!(office[8].starts, t(17 * 3600));
        assert_eq!(
            Booking::find(|b| b.starts.gt(t(20 * 3600)))
                .count(con)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            Booking::find(|b| b.starts.lt(t(3600)))
                .count(con)
                .await
                .unwrap(),
            1
        );
        let day = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        assert_eq!(
            Booking::find(|b| b.day.eq(day)).count(con).await.unwrap(),
            24
        );
        assert_eq!(
            JsonBooking::find(|b| b.starts.ge(t(12 * 3600)) & b.starts.le(t(13 * 3600)))
                .count(con)
                .await
                .unwrap(),
            2
        );
        let last = JsonBooking::find_all()
            .sort_by(|b| b.starts, SortOrder::Desc)
            .first(con)
            .await
            .unwrap();
        assert_eq!(last.starts, t(23 * 3600));
    }
}
