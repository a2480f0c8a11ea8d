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
        Cow::Owned(python_repr(f))
    }
}

/// A finite float as Python's `repr` writes it (what redis-om-python stores):
/// the shortest digits that read back (as ryu finds them), in fixed notation
/// when the decimal point falls within 16 digits before or 4 zeros after the
/// digits (`100.0`, `0.0001`), else in scientific notation with at least two
/// exponent digits (`1e-05`, `1e+16`), where ryu writes `1e-5` and `1e16`.
fn python_repr(f: f64) -> String {
    let shortest = ryu::Buffer::new().format_finite(f).to_owned();
    let (negative, body) = match shortest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, shortest.as_str()),
    };
    // ryu writes `d.ddd`, `0.000ddd` or `d.ddde±x`: its digits and the
    // decimal exponent of the first one.
    let (mantissa, exp) = match body.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = format!("{int}{frac}");
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    if digits.is_empty() {
        return if negative { "-0.0" } else { "0.0" }.to_owned();
    }
    // value = 0.DIGITS × 10^decpt
    let decpt = exp + int.len() as i32 - leading as i32;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(digits);
        } else if decpt as usize >= digits.len() {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', decpt as usize - digits.len()));
            out.push_str(".0");
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let magnitude = e.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(magnitude));
    }
    out
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
    note = "to store a struct's fields as fields of the hash, derive EmbeddedModel with #[redis_om(hash)] on the struct and mark this field #[redis_om(flatten)]; for lists, maps and nested structs use #[derive(JsonModel)]"
)]
pub trait HashValue: Sized {
    /// The encoded value, or `None` when there is nothing to store (the field is then removed).
    fn to_hash_arg(&self) -> Option<HashArg<'_>>;

    /// Decodes a stored value.
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String>;

    /// The value of a field that is absent from the hash.
    fn from_missing() -> Result<Self, String> {
        Err(
            "required field is missing (a document written before the field was added to \
             the model, or by another program): give the field `#[redis_om(default)]` or make \
             it an `Option`"
                .to_owned(),
        )
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

    /// Seconds since the epoch as a float, exactly as Python's
    /// `datetime.timestamp()` computes it: the whole microseconds since the
    /// epoch divided by 10^6, rounded once (nanoseconds are dropped). Two
    /// roundings (whole seconds plus a rounded fraction) differ from it for
    /// some instants, most of them in the seconds before 1970, and a query
    /// from one side would then miss the other side's documents.
    pub(crate) fn datetime_to_seconds(dt: &DateTime<Utc>) -> f64 {
        micros_to_seconds(dt.timestamp_micros())
    }

    /// `micros / 10^6`, correctly rounded (Python's int / int).
    pub(crate) fn micros_to_seconds(micros: i64) -> f64 {
        // Below 2^53 the integer is exact as a double: one division, one rounding.
        let approx = micros as f64 / 1e6;
        if micros.unsigned_abs() < 1 << 53 {
            return approx;
        }
        // Beyond (after about 2255) the integer itself would round first:
        // of the neighbours, the one nearest to micros / 10^6 (ties to even).
        let mut best = approx;
        let mut best_err = scaled_error(approx, micros);
        for candidate in [approx.next_down(), approx.next_up()] {
            let err = scaled_error(candidate, micros);
            let even = candidate.to_bits() & 1 == 0;
            if err < best_err || (err == best_err && even) {
                best = candidate;
                best_err = err;
            }
        }
        best
    }

    /// `|c × 10^6 − micros| × 2^20`, exactly, for `|c| ≥ 2^33` (where
    /// `c × 2^20` is an integer, and everything fits an i128 up to chrono's
    /// last instant, 2^43 seconds).
    fn scaled_error(c: f64, micros: i64) -> u128 {
        let bits = c.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
        let mantissa = ((bits & ((1 << 52) - 1)) | (1 << 52)) as i128;
        let signed = if c < 0.0 { -mantissa } else { mantissa };
        let shift = (exponent + 20).clamp(0, 40) as u32;
        let scaled_c = signed * 1_000_000 * (1 << shift);
        let scaled_micros = i128::from(micros) * (1 << 20);
        (scaled_c - scaled_micros).unsigned_abs()
    }

    /// Refuses a datetime whose stored form would not read back as the same
    /// instant (to the microsecond): a double of seconds holds every
    /// microsecond only from 1684-07-28 to 2255-06-05 (2^53 µs either side of
    /// the epoch), and the
    /// last instants of chrono's range round past its end. redis-om-python
    /// stores such instants with their microseconds changed.
    pub(crate) fn check_datetime(dt: &DateTime<Utc>) -> Result<(), String> {
        match seconds_to_datetime(datetime_to_seconds(dt)) {
            Ok(back) if back.timestamp_micros() == dt.timestamp_micros() => Ok(()),
            Ok(back) => Err(format!(
                "{dt} cannot be stored exactly: epoch seconds as a double hold every \
                 microsecond only from 1684-07-28 to 2255-06-05, and this one would read back \
                 as {back}; \
                 store it without its fraction of a second (or rounded to what reads back), \
                 or in a string field"
            )),
            Err(_) => Err(format!(
                "{dt} is too close to the end of chrono's range: its epoch seconds \
                 (microsecond precision) would not read back; store an earlier datetime"
            )),
        }
    }

    /// The instant of float epoch seconds, exactly as Python's
    /// `datetime.fromtimestamp(secs, timezone.utc)` reads it: the whole
    /// seconds, and the fraction times 10^6 rounded half to even.
    pub(crate) fn seconds_to_datetime(secs: f64) -> Result<DateTime<Utc>, String> {
        if !secs.is_finite() {
            return Err(format!("{secs} is not a timestamp"));
        }
        let mut whole = secs.trunc();
        let mut micros = ((secs - whole) * 1e6).round_ties_even();
        if micros >= 1e6 {
            micros -= 1e6;
            whole += 1.0;
        } else if micros < 0.0 {
            micros += 1e6;
            whole -= 1.0;
        }
        if whole.abs() > (i64::MAX / 1_000_000) as f64 {
            return Err(format!("timestamp {secs} is out of range"));
        }
        let total = (whole as i64)
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(micros as i64))
            .ok_or_else(|| format!("timestamp {secs} is out of range"))?;
        DateTime::from_timestamp_micros(total)
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
#[cfg(all(test, feature = "chrono"))]
use chrono_values::micros_to_seconds;
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

    #[cfg(feature = "chrono")]
    /// Instants as microseconds since the epoch, with the float seconds
    /// redis-om-python 1.2 (CPython 3.11's `datetime.timestamp()`) stores for
    /// them and the microseconds `datetime.fromtimestamp` reads back.
    const PYTHON_TIMESTAMPS: &[(i64, u64, i64)] = &[
        (-24106090, 0xc0381b28b6d86ec1, -24106090),
        (-9241962, 0xc0227be27179bfdf, -9241962),
        (-707772, 0xbfe6a6117720c8cd, -707772),
        (-58143891, 0xc04d126b05319829, -58143891),
        (-36332891, 0xc0422a9c2c1b10fd, -36332891),
        (-8419035, 0xc020d68bc169c23b, -8419035),
        (-5198858, 0xc014cba16e7a311f, -5198858),
        (-52140117, 0xc04a11ef5a964e8b, -52140117),
        (-59164987, 0xc04d951e4b44a1f1, -59164987),
        (-701888, 0xbfe675ddd2ae8e1d, -701888),
        (-247069, 0xbfcf9ff4fd6d7e89, -247069),
        (-51741536, 0xc049deeaa6d26741, -51741536),
        (-13497922, 0xc02afeefa1e3eaf7, -13497922),
        (-16490456, 0xc0307d8e86402081, -16490456),
        (-18443308, 0xc032717ca2120e1f, -18443308),
        (-1741297, 0xbffbdc5a3e39f773, -1741297),
        (-34034122, 0xc041045e1c15097d, -34034122),
        (-4351683, 0xc011681f969e3c97, -4351683),
        (-3726148, 0xc00dcf26aec0724b, -3726148),
        (-395692, 0xbfd9530489d27c39, -395692),
        (-8146719, 0xc0204b1ec0b56755, -8146719),
        (-422266, 0xbfdb0667f90d9d77, -422266),
        (-1143101, 0xbff24a24463065f9, -1143101),
        (-31464995, 0xc03f7709e98dcdb3, -31464995),
        (-1, 0xbeb0c6f7a0b5ed8d, -1),
        (-999999, 0xbfeffffde7210be9, -999999),
        (-1000001, 0xbff000010c6f7a0b, -1000001),
        (-123456789, 0xc05edd3c07ee0b0b, -123456789),
        (0, 0x0000000000000000, 0),
        (1, 0x3eb0c6f7a0b5ed8d, 1),
        (1700000000123457, 0x41d954fc4007e6b8, 1700000000123457),
        (-62135596799999999, 0xc22cef23ee000000, -62135596800000000),
        (9000000000000001, 0x4200c388d0000001, 9000000000000002),
        (9007199254740993, 0x4200c6f7a0b5ed8e, 9007199254740993),
        (10413792000500000, 0x420365aed8040000, 10413792000500000),
        (10413792000000001, 0x420365aed8000001, 10413792000000002),
        (253402300798999999, 0x424d7ffa20bf8000, 253402300799000000),
        (253402300799000000, 0x424d7ffa20bf8000, 253402300799000000),
    ];

    /// Stored and read back bit for bit as redis-om-python does, the seconds
    /// before 1970 included (where whole seconds plus a rounded fraction
    /// differ: the first 24 entries), and instants that cannot keep their
    /// microseconds refused.
    #[cfg(feature = "chrono")]
    #[test]
    fn datetimes_are_stored_and_read_as_python_does() {
        use chrono::DateTime;
        for &(micros, bits, read) in PYTHON_TIMESTAMPS {
            let ours = micros_to_seconds(micros);
            assert_eq!(
                ours.to_bits(),
                bits,
                "{micros} µs: {ours} vs {}",
                f64::from_bits(bits)
            );
            let back = seconds_to_datetime(f64::from_bits(bits)).unwrap();
            assert_eq!(back.timestamp_micros(), read, "{micros} µs read back");
            let dt = DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(
                check_datetime(&dt).is_ok(),
                read == micros,
                "{micros} µs: refused exactly when it cannot read back"
            );
        }
    }

    /// Python's `repr` of each (CPython 3.11), which redis-om-python stores.
    #[test]
    fn floats_are_written_as_python_writes_them() {
        let cases: &[(f64, &str)] = &[
            (1e-06, "1e-06"),
            (-1e-06, "-1e-06"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (2.5e-05, "2.5e-05"),
            (1234.5, "1234.5"),
            (1e22, "1e+22"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-99.999999, "-99.999999"),
            (100.0, "100.0"),
            (9007199254.740993, "9007199254.740993"),
            (1e-07, "1e-07"),
            (12345678901234567.0, "1.2345678901234568e+16"),
        ];
        for (value, python) in cases {
            assert_eq!(python_repr(*value), *python, "{value:e}");
            assert_eq!(python.parse::<f64>().unwrap().to_bits(), value.to_bits());
        }
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
