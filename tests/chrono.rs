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
