//! Serde helpers that store chrono dates as epoch seconds in JSON models,
//! as redis-om-python does (and so that RediSearch can index them as NUMERIC).
//! An indexed `DateTime<Utc>` or `NaiveDate` field of a `JsonModel` must use
//! one of them: without it chrono writes text, which a NUMERIC index refuses,
//! so the derive makes that a compile error.
//!
//! Datetimes are stored with microsecond precision (as Python's `datetime`):
//! nanoseconds are dropped. A datetime too close to the end of chrono's range
//! to be read back (`DateTime::<Utc>::MAX_UTC`) is refused at save.
//!
//! ```
//! # use chrono::{DateTime, Utc, NaiveDate};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order {
//!     #[serde(with = "redis_om_core::timestamp")]
//!     created: DateTime<Utc>,
//!     #[serde(with = "redis_om::timestamp::option")]
//!     shipped: Option<DateTime<Utc>>,
//!     #[serde(with = "redis_om_core::timestamp::date")]
//!     due: NaiveDate,
//! }
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};

use crate::value::{check_datetime, datetime_to_seconds, seconds_to_datetime};

/// Serializes a `DateTime<Utc>` as float epoch seconds (microsecond precision).
///
/// # Errors
/// Those of the serializer; a datetime whose epoch seconds would not read
/// back (`DateTime::<Utc>::MAX_UTC`).
pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    check_datetime(dt).map_err(serde::ser::Error::custom)?;
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

    /// The same for `Option<NaiveDate>`: `None` is stored as `null`.
    pub mod option {
        use chrono::NaiveDate;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes `Some` as the epoch seconds of its UTC midnight, `None` as `null`.
        ///
        /// # Errors
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(date: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => super::serialize(date, s),
                None => s.serialize_none(),
            }
        }

        /// Deserializes epoch seconds or `null`.
        ///
        /// # Errors
        /// When the value is neither a number nor `null`, or out of range.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            Option::<f64>::deserialize(d)?
                .map(|secs| {
                    crate::value::seconds_to_datetime(secs)
                        .map(|dt| dt.date_naive())
                        .map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}

/// The same for `Option<DateTime<Utc>>`: `None` is stored as `null` (and a
/// missing field reads as `None` when the field also has `#[serde(default)]`).
///
/// ```
/// # use chrono::{DateTime, Utc};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Order {
///     #[serde(default, with = "redis_om::timestamp::option")]
///     shipped: Option<DateTime<Utc>>,
/// }
/// ```
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some` as float epoch seconds, `None` as `null`.
    ///
    /// # Errors
    /// See [`super::serialize`].
    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => super::serialize(dt, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes epoch seconds or `null`.
    ///
    /// # Errors
    /// When the value is neither a number nor `null`, or out of range.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| super::seconds_to_datetime(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}
