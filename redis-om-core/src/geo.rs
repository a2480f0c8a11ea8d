//! A point on Earth for `GEO` fields: [`Coordinates`], stored as redis-om-python
//! stores its `Coordinates` (the text `"longitude,latitude"`, in a hash field
//! and as a JSON string), and [`GeoUnit`] for radius queries.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::value::{HashArg, HashValue};

/// A longitude and latitude in degrees, as Redis indexes them (`GEO`).
///
/// Every value can be indexed: the longitude is within ±180 and the latitude
/// within ±[`MAX_LATITUDE`](Self::MAX_LATITUDE) (85.05112878, the limit of the
/// Web Mercator projection Redis's geohashes use). Redis does not index a
/// point nearer the poles: the document would be saved but never found (for
/// example, redis-om-python accepts latitude 89 and its search then silently
/// misses the document). Values beyond that are refused where they are made:
/// by [`new`](Self::new), by parsing, and when a stored document is read.
///
/// Stored as the text `"longitude,latitude"` (`"-122.6765,45.5231"`), in a
/// hash field and as a JSON string, so that a redis-om-python service reads
/// and queries the same documents.
///
/// ```
/// use redis_om::Coordinates;
/// let portland = Coordinates::new(-122.6765, 45.5231)?;
/// assert_eq!(portland.to_string(), "-122.6765,45.5231");
/// assert_eq!("-122.6765,45.5231".parse::<Coordinates>()?, portland);
/// assert!(Coordinates::new(0.0, 89.0).is_err()); // Redis cannot index it
/// # Ok::<(), redis_om::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    longitude: f64,
    latitude: f64,
}

impl Coordinates {
    /// The largest latitude Redis indexes (and its negation the smallest).
    pub const MAX_LATITUDE: f64 = 85.051_128_78;
    /// The largest longitude (and its negation the smallest).
    pub const MAX_LONGITUDE: f64 = 180.0;

    /// The point at `longitude`, `latitude` (degrees; note the order, which
    /// is Redis's and the stored text's).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value that is not finite or out of
    /// range (naming which, and the range).
    pub fn new(longitude: f64, latitude: f64) -> Result<Self, Error> {
        Self::checked(longitude, latitude).map_err(Error::InvalidArgument)
    }

    fn checked(longitude: f64, latitude: f64) -> Result<Self, String> {
        // NaN fails both range checks.
        if longitude.is_nan() || longitude.abs() > Self::MAX_LONGITUDE {
            return Err(format!(
                "longitude {longitude} is not within -180..=180 degrees"
            ));
        }
        if latitude.is_nan() || latitude.abs() > Self::MAX_LATITUDE {
            return Err(format!(
                "latitude {latitude} is not within ±{} degrees, the range Redis can index \
                 (nearer the poles a document would be saved but never found)",
                Self::MAX_LATITUDE
            ));
        }
        // -0.0 is stored as "0.0": one text per point.
        Ok(Coordinates {
            longitude: longitude + 0.0,
            latitude: latitude + 0.0,
        })
    }

    /// The longitude in degrees (east positive).
    pub fn longitude(self) -> f64 {
        self.longitude
    }

    /// The latitude in degrees (north positive).
    pub fn latitude(self) -> f64 {
        self.latitude
    }

    /// Parses the stored text `"longitude,latitude"`. Reading tolerates
    /// spaces around either number; Redis indexes only a space after the
    /// comma, and `Display` writes none.
    fn parse(text: &str) -> Result<Self, String> {
        let Some((lon, lat)) = text.split_once(',') else {
            return Err(format!("{text:?} is not \"longitude,latitude\" (no comma)"));
        };
        let number = |part: &str, what: &str| {
            part.trim().parse::<f64>().map_err(|_| {
                format!(
                    "{text:?} is not \"longitude,latitude\" (the {what} {part:?} is not a number)"
                )
            })
        };
        Self::checked(number(lon, "longitude")?, number(lat, "latitude")?)
    }
}

/// `"longitude,latitude"`, each the shortest text that reads back as the
/// same `f64`.
impl fmt::Display for Coordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lon = ryu::Buffer::new();
        let mut lat = ryu::Buffer::new();
        write!(
            f,
            "{},{}",
            lon.format_finite(self.longitude),
            lat.format_finite(self.latitude)
        )
    }
}

/// Parses `"longitude,latitude"`.
impl FromStr for Coordinates {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text).map_err(Error::InvalidArgument)
    }
}

impl serde::Serialize for Coordinates {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Coordinates {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Coordinates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the text \"longitude,latitude\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Coordinates, E> {
                Coordinates::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

impl HashValue for Coordinates {
    fn to_hash_arg(&self) -> Option<HashArg<'_>> {
        Some(HashArg::Str(self.to_string().into()))
    }
    fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))?;
        Coordinates::parse(text)
    }
}

/// The unit of a radius in a geo query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeoUnit {
    /// Meters (`m`).
    Meters,
    /// Kilometers (`km`).
    Kilometers,
    /// Miles (`mi`).
    Miles,
    /// Feet (`ft`).
    Feet,
}

impl GeoUnit {
    /// The unit as RediSearch writes it (`m`, `km`, `mi`, `ft`).
    pub fn as_str(self) -> &'static str {
        match self {
            GeoUnit::Meters => "m",
            GeoUnit::Kilometers => "km",
            GeoUnit::Miles => "mi",
            GeoUnit::Feet => "ft",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_ranges_are_enforced() {
        let p = Coordinates::new(-122.6765, 45.5231).unwrap();
        assert_eq!(p.to_string(), "-122.6765,45.5231");
        assert_eq!(Coordinates::parse(" -122.6765 , 45.5231 ").unwrap(), p);
        // Python's forms read back: "2.0,1.0", "1e-07,…".
        let q = Coordinates::parse("1e-07,0.30000000000000004").unwrap();
        assert_eq!((q.longitude(), q.latitude()), (1e-7, 0.30000000000000004));
        assert_eq!(Coordinates::parse(&q.to_string()).unwrap(), q);
        assert_eq!(Coordinates::new(-0.0, -0.0).unwrap().to_string(), "0.0,0.0");
        for (lon, lat) in [
            (180.000001, 0.0),
            (0.0, 85.06),
            (0.0, -90.0),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(Coordinates::new(lon, lat).is_err(), "{lon},{lat}");
        }
        assert!(Coordinates::new(180.0, Coordinates::MAX_LATITUDE).is_ok());
        assert!(Coordinates::new(-180.0, -Coordinates::MAX_LATITUDE).is_ok());
        for bad in ["", "1", "a,b", "1,2,3", "nan,0", "0,89"] {
            assert!(Coordinates::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_is_the_text() {
        let p = Coordinates::new(2.0, 1.0).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"2.0,1.0\"");
        let back: Coordinates = serde_json::from_str("\"2.0,1.0\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Coordinates>("\"0,89\"").is_err());
        assert!(serde_json::from_str::<Coordinates>("[2.0,1.0]").is_err());
    }
}
