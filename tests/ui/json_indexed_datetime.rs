use chrono::{DateTime, NaiveDate, Utc};
use redis_om::{EmbeddedModel, JsonModel};

// Without #[serde(with = "redis_om::timestamp")], chrono writes text, which a
// NUMERIC index refuses: every document would be invisible to find.
#[derive(JsonModel, serde::Serialize, serde::Deserialize)]
struct Event {
    pk: Option<String>,
    #[redis_om(index)]
    created: DateTime<Utc>,
    #[redis_om(sortable)]
    shipped: Option<DateTime<Utc>>,
    #[redis_om(index)]
    #[serde(with = "redis_om::timestamp")]
    fine: DateTime<Utc>,
    not_indexed: DateTime<Utc>,
}

#[derive(EmbeddedModel, serde::Serialize, serde::Deserialize)]
struct Stop {
    #[redis_om(index)]
    day: NaiveDate,
    #[redis_om(index)]
    until: Option<NaiveDate>,
    #[redis_om(index)]
    #[serde(default, with = "redis_om::timestamp::date::option")]
    fine: Option<NaiveDate>,
}

fn main() {}
