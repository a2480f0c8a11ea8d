//! How field values are stored in a Redis hash (compatible with redis-om-python).

use std::borrow::Cow;

use redis::{RedisWrite, ToRedisArgs};

/// One encoded hash field value, borrowed where possible so that saving a
/// model does not copy its strings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HashArg<'a> {
    /// Text stored as is.
    Str(Cow<'a, str>),
    /// A signed integer, stored as decimal text.
    Int(i64),
    /// An unsigned integer, stored as decimal text.
    UInt(u64),
    /// A 128-bit integer, stored as decimal text.
    BigInt(i128),
    /// A float, stored as its shortest round-trip decimal text.
    Float(f64),
    /// A bool, stored as `1` or `0`.
    Bool(bool),
    /// Binary data (`Vec<u8>`, `bytes::Bytes`), stored as the bytes themselves.
    Bytes(Cow<'a, [u8]>),
}

impl ToRedisArgs for HashArg<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        match self {
            HashArg::Str(s) => out.write_arg(s.as_bytes()),
            HashArg::Int(i) => out.write_arg(itoa::Buffer::new().format(*i).as_bytes()),
            HashArg::UInt(i) => out.write_arg(itoa::Buffer::new().format(*i).as_bytes()),
            HashArg::BigInt(i) => out.write_arg(itoa::Buffer::new().format(*i).as_bytes()),
            HashArg::Float(f) => out.write_arg(format_float(*f).as_bytes()),
            HashArg::Bool(b) => out.write_arg(if *b { b"1" } else { b"0" }),
            HashArg::Bytes(bytes) => out.write_arg(bytes),
        }
    }
}

/// Formats a float the way Python's `str(float)` reads back: `inf`, `-inf`,
/// `nan`, otherwise the shortest text that round-trips.
fn format_float(f: f64) -> Cow<'static, str> {
    if f.is_nan() {
        Cow::Borrowed("nan")
    } else if f.is_infinite() {
        Cow::Borrowed(if f > 0.0 { "inf" } else { "-inf" })
    } else {
        Cow::Owned(ryu::Buffer::new().format_finite(f).to_owned())
    }
}

/// A type that can be stored as one field of a [`HashModel`](crate::Model).
///
/// Implemented for `String`, all integer and float types, `bool`, `uuid::Uuid`,
/// [`Coordinates`](crate::Coordinates), vectors (`Vec<f32>`, `Vec<f64>`, `[f32; N]`, `[f64; N]`:
/// little-endian packed),
/// `Vec<u8>` (and `bytes::Bytes`, feature `bytes`: binary, stored as the bytes
/// themselves and not indexable), `Option<T>` of those, chrono's `DateTime<Utc>` and `NaiveDate` (feature
/// `chrono`), and unit-only enums with `#[derive(HashValue)]`. For nested
/// structs, lists and maps use a `JsonModel`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored as a field of a HashModel",
    label = "not a HashModel field type",
    note = "a HashModel field must be a String, integer, float, bool, uuid::Uuid, redis_om::Coordinates, Vec<u8> (binary), a vector (Vec<f32>, Vec<f64>, [f32; N], [f64; N]), chrono DateTime<Utc>/NaiveDate, a unit-only enum with #[derive(HashValue)], or an Option of those",
    note = "use #[derive(JsonModel)] to store nested structs, lists and maps"
)]
pub trait HashValue: Sized {
    /// The encoded value, or `None` when there is nothing to store (the field is then removed).
    fn to_hash_arg(&self) -> Option<HashArg<'_>>;

    /// Decodes a stored value.
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String>;

    /// The value of a field that is absent from the hash.
    fn from_missing() -> Result<Self, String> {
        Err("required field is missing".to_owned())
    }

    /// Refuses, before anything is written, a value that could not be read
    /// back or that the index would reject (`indexed`: the field is in the
    /// model's search index). The default accepts everything.
    ///
    /// # Errors
    /// Why the value cannot be stored, and what to do.
    fn check(&self, indexed: bool) -> Result<(), String> {
        let _ = indexed;
        Ok(())
    }
}

/// A NaN in an indexed field: RediSearch refuses the whole document, which
/// `find` then never sees.
fn check_float(value: f64, indexed: bool) -> Result<(), String> {
    if indexed && value.is_nan() {
        return Err("NaN cannot be indexed (RediSearch would refuse the whole document, \
             which find would then never return): store a number, or make the field an Option and store None"
            .to_owned());
    }
    Ok(())
}

fn utf8(raw: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))
}

impl HashValue for String {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Str(Cow::Borrowed(self)))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        utf8(raw).map(str::to_owned)
    }
}

impl<T: HashValue> HashValue for Option<T> {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        self.as_ref().and_then(T::to_hash_arg)
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        T::from_hash_bytes(raw).map(Some)
    }
    fn from_missing() -> Result<Self, String> {
        Ok(None)
    }
    fn check(&self, indexed: bool) -> Result<(), String> {
        match self {
            Some(value) => value.check(indexed),
            None => Ok(()),
        }
    }
}

/// Binary data: any byte sequence (NUL, invalid UTF-8, empty) is stored and
/// read back as it is.
impl HashValue for Vec<u8> {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Bytes(Cow::Borrowed(self)))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        Ok(raw.to_vec())
    }
}

/// Binary data, as `Vec<u8>` (feature `bytes`).
#[cfg(feature = "bytes")]
impl HashValue for bytes::Bytes {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Bytes(Cow::Borrowed(self)))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        Ok(bytes::Bytes::copy_from_slice(raw))
    }
}

macro_rules! int_value {
    ($variant:ident as $wide:ty: $($t:ty),*) => {$(
        impl HashValue for $t {
            fn to_hash_arg(&self) -> Option<HashArg<'_>> {
                Some(HashArg::$variant(<$wide>::from(*self)))
            }
            fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
                let text = utf8(raw)?;
                text.trim().parse::<$t>().map_err(|e| {
                    format!("expected an integer ({}), found {:?}: {e}", stringify!($t), text)
                })
            }
        }
    )*};
}
int_value!(Int as i64: i8, i16, i32, i64);
int_value!(UInt as u64: u8, u16, u32, u64);
int_value!(BigInt as i128: i128);

impl HashValue for isize {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Int(*self as i64))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        i64::from_hash_bytes(raw).and_then(|v| isize::try_from(v).map_err(|e| e.to_string()))
    }
}

impl HashValue for usize {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::UInt(*self as u64))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        u64::from_hash_bytes(raw).and_then(|v| usize::try_from(v).map_err(|e| e.to_string()))
    }
}

impl HashValue for u128 {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(match i128::try_from(*self) {
            Ok(v) => HashArg::BigInt(v),
            Err(_) => HashArg::Str(Cow::Owned(self.to_string())),
        })
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        let text = utf8(raw)?;
        text.trim()
            .parse()
            .map_err(|e| format!("expected an integer (u128), found {text:?}: {e}"))
    }
}

fn parse_float(raw: &[u8]) -> Result<f64, String> {
    let text = utf8(raw)?;
    text.trim()
        .parse::<f64>()
        .map_err(|e| format!("expected a number, found {text:?}: {e}"))
}

impl HashValue for f64 {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Float(*self))
    }
    fn check(&self, indexed: bool) -> Result<(), String> {
        check_float(*self, indexed)
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        parse_float(raw)
    }
}

impl HashValue for f32 {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        // Through the shortest f32 text, so that 0.1f32 is stored as "0.1".
        if self.is_finite() {
            Some(HashArg::Str(Cow::Owned(
                ryu::Buffer::new().format_finite(*self).to_owned(),
            )))
        } else {
            Some(HashArg::Float(f64::from(*self)))
        }
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        parse_float(raw).map(|f| f as f32)
    }
    fn check(&self, indexed: bool) -> Result<(), String> {
        check_float(f64::from(*self), indexed)
    }
}

impl HashValue for bool {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Bool(*self))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        match raw {
            b"1" | b"true" | b"True" => Ok(true),
            b"0" | b"false" | b"False" => Ok(false),
            other => Err(format!(
                "expected a bool (1 or 0), found {:?}",
                String::from_utf8_lossy(other)
            )),
        }
    }
}

impl HashValue for uuid::Uuid {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Str(Cow::Owned(
            self.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .to_owned(),
        )))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        let text = utf8(raw)?;
        uuid::Uuid::parse_str(text).map_err(|e| format!("expected a UUID, found {text:?}: {e}"))
    }
}

#[cfg(feature = "chrono")]
mod chrono_values {
    use super::*;
    use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

    /// Seconds since the epoch as a float, as Python's `datetime.timestamp()`:
    /// microsecond precision (nanoseconds are dropped).
    pub(crate) fn datetime_to_seconds(dt: &DateTime<Utc>) -> f64 {
        dt.timestamp() as f64 + f64::from(dt.timestamp_subsec_micros()) / 1e6
    }

    /// Refuses a datetime whose stored form would not read back (near
    /// `DateTime::<Utc>::MAX_UTC`, the float rounds past the last representable instant).
    pub(crate) fn check_datetime(dt: &DateTime<Utc>) -> Result<(), String> {
        match seconds_to_datetime(datetime_to_seconds(dt)) {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "{dt} is too close to the end of chrono's range: its epoch seconds \
                 (microsecond precision) would not read back; store an earlier datetime"
            )),
        }
    }

    pub(crate) fn seconds_to_datetime(secs: f64) -> Result<DateTime<Utc>, String> {
        if !secs.is_finite() {
            return Err(format!("{secs} is not a timestamp"));
        }
        // Microsecond precision, as Python's datetime.
        let micros = (secs * 1e6).round();
        if micros.abs() > i64::MAX as f64 {
            return Err(format!("timestamp {secs} is out of range"));
        }
        DateTime::from_timestamp_micros(micros as i64)
            .ok_or_else(|| format!("timestamp {secs} is out of range"))
    }

    impl HashValue for DateTime<Utc> {
        fn to_hash_arg(&self) -> Option<HashArg<'_>> {
            Some(HashArg::Float(datetime_to_seconds(self)))
        }
        fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
            seconds_to_datetime(parse_float(raw)?)
        }
        fn check(&self, _indexed: bool) -> Result<(), String> {
            check_datetime(self)
        }
    }

    impl HashValue for NaiveDate {
        fn to_hash_arg(&self) -> Option<HashArg<'_>> {
            let midnight = self.and_time(NaiveTime::MIN).and_utc();
            Some(HashArg::Float(midnight.timestamp() as f64))
        }
        fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
            Ok(seconds_to_datetime(parse_float(raw)?)?.date_naive())
        }
    }
}
#[cfg(feature = "chrono")]
pub(crate) use chrono_values::{check_datetime, datetime_to_seconds, seconds_to_datetime};

/// Support for `#[derive(HashValue)]` on unit-only enums: the serde name of a variant.
#[doc(hidden)]
pub fn unit_enum_to_str<T: serde::Serialize>(value: &T) -> Option<HashArg<'static>> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Some(HashArg::Str(Cow::Owned(name))),
        // The derive only accepts unit-only enums, which serialize to strings.
        _ => None,
    }
}

/// Support for `#[derive(HashValue)]` on unit-only enums: the variant with that serde name.
#[doc(hidden)]
pub fn unit_enum_from_bytes<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    let text = utf8(raw)?;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        text.into_deserializer();
    T::deserialize(de).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: HashValue>(v: &T) -> Option<String> {
        v.to_hash_arg().map(|a| {
            let args = a.to_redis_args();
            String::from_utf8(args.concat()).unwrap()
        })
    }

    #[test]
    fn encodes_like_redis_om_python() {
        assert_eq!(encoded(&42i64).as_deref(), Some("42"));
        assert_eq!(encoded(&-7i8).as_deref(), Some("-7"));
        assert_eq!(encoded(&u64::MAX).as_deref(), Some("18446744073709551615"));
        assert_eq!(encoded(&1.5f64).as_deref(), Some("1.5"));
        assert_eq!(encoded(&1.0f64).as_deref(), Some("1.0"));
        assert_eq!(encoded(&0.1f32).as_deref(), Some("0.1"));
        assert_eq!(encoded(&f64::INFINITY).as_deref(), Some("inf"));
        assert_eq!(encoded(&true).as_deref(), Some("1"));
        assert_eq!(encoded(&false).as_deref(), Some("0"));
        assert_eq!(encoded(&Some("x".to_owned())).as_deref(), Some("x"));
        assert_eq!(encoded(&None::<String>), None);
        let id = uuid::Uuid::parse_str("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(
            encoded(&id).as_deref(),
            Some("67e55044-10b1-426f-9247-bb680e5fe0c8")
        );
    }

    #[test]
    fn decodes_and_rejects_bad_input_without_panicking() {
        assert_eq!(i64::from_hash_bytes(b"42"), Ok(42));
        assert!(i64::from_hash_bytes(b"4x2").unwrap_err().contains("4x2"));
        assert!(u8::from_hash_bytes(b"300").is_err());
        assert!(String::from_hash_bytes(&[0xff, 0xfe])
            .unwrap_err()
            .contains("UTF-8"));
        assert_eq!(bool::from_hash_bytes(b"1"), Ok(true));
        assert!(bool::from_hash_bytes(b"yes").is_err());
        assert_eq!(f64::from_hash_bytes(b"inf"), Ok(f64::INFINITY));
        assert!(f64::from_hash_bytes(b"nan").unwrap().is_nan());
        assert_eq!(Option::<i32>::from_missing(), Ok(None));
        assert!(i32::from_missing().is_err());
    }

    #[test]
    fn bytes_are_stored_as_they_are() {
        let raw = vec![0u8, 0xff, b'\n', 0xc3, 0x28];
        assert_eq!(
            raw.to_hash_arg().unwrap().to_redis_args().concat(),
            raw.clone()
        );
        assert_eq!(Vec::<u8>::from_hash_bytes(&raw), Ok(raw));
        assert_eq!(Vec::<u8>::from_hash_bytes(b""), Ok(Vec::new()));
        assert!(Vec::<u8>::from_missing().is_err());
    }

    #[test]
    fn unit_enums_use_serde_names() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum Status {
            Active,
            OnHold,
        }
        assert_eq!(
            unit_enum_to_str(&Status::OnHold),
            Some(HashArg::Str("on_hold".into()))
        );
        assert_eq!(
            unit_enum_from_bytes::<Status>(b"active"),
            Ok(Status::Active)
        );
        assert!(unit_enum_from_bytes::<Status>(b"Active").is_err());
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn dates_are_utc_midnight_seconds() {
        let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        assert_eq!(encoded(&d).as_deref(), Some("1704153600.0"));
        assert_eq!(chrono::NaiveDate::from_hash_bytes(b"1704153600.0"), Ok(d));
        let dt = chrono::DateTime::from_timestamp_micros(1_704_153_600_250_000).unwrap();
        assert_eq!(encoded(&dt).as_deref(), Some("1704153600.25"));
        assert_eq!(chrono::DateTime::from_hash_bytes(b"1704153600.25"), Ok(dt));
    }
}
