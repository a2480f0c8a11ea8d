//! Serde helpers that store chrono dates as epoch seconds in JSON models,
//! as redis-om-python does (and so that RediSearch can index them as NUMERIC).
//!
//! ```
//! # use chrono::{DateTime, Utc, NaiveDate};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order {
//!     #[serde(with = "redis_om_core::timestamp")]
//!     created: DateTime<Utc>,
//!     #[serde(with = "redis_om_core::timestamp::date")]
//!     due: NaiveDate,
//! }
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};

use crate::value::{datetime_to_seconds, seconds_to_datetime};

/// Serializes a `DateTime<Utc>` as float epoch seconds.
///
/// # Errors
/// Those of the serializer.
pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(datetime_to_seconds(dt))
}

/// Deserializes a `DateTime<Utc>` from epoch seconds.
///
/// # Errors
/// When the value is not a number or out of range.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    seconds_to_datetime(f64::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The same for `NaiveDate`, stored as the epoch seconds of its UTC midnight.
pub mod date {
    use chrono::{NaiveDate, NaiveTime};
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::value::seconds_to_datetime;

    /// Serializes a `NaiveDate` as the epoch seconds of its UTC midnight.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(date.and_time(NaiveTime::MIN).and_utc().timestamp() as f64)
    }

    /// Deserializes a `NaiveDate` from epoch seconds.
    ///
    /// # Errors
    /// When the value is not a number or out of range.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        Ok(seconds_to_datetime(f64::deserialize(d)?)
            .map_err(serde::de::Error::custom)?
            .date_naive())
    }
}
