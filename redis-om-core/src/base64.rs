//! Serde helpers that store binary data (`Vec<u8>`) in JSON models as base64
//! text, byte for byte as redis-om-python 1.2 stores a `bytes` field
//! (`base64.b64encode`: the standard alphabet, with `=` padding). Without it,
//! serde writes a `Vec<u8>` as an array of numbers, which redis-om-python
//! cannot read, and which takes about four times the space.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Attachment {
//!     #[serde(with = "redis_om_core::base64")]
//!     data: Vec<u8>,
//!     #[serde(default, with = "redis_om_core::base64::option")]
//!     thumbnail: Option<Vec<u8>>,
//! }
//! let doc = Attachment { data: vec![0, 0xff, b'a'], thumbnail: None };
//! assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"data":"AP9h","thumbnail":null}"#);
//! ```
//!
//! A hash model needs none of this: its `Vec<u8>` fields are stored as the
//! bytes themselves.

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Serializes bytes as standard base64 text with padding.
///
/// # Errors
/// Those of the serializer.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

/// Deserializes bytes from standard base64 text with padding.
///
/// # Errors
/// When the value is not a string, or not valid base64.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
    decode(&text).map_err(serde::de::Error::custom)
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(text)
        .map_err(|e| format!("expected base64 text: {e}"))
}

/// The same for `Option<Vec<u8>>`: `None` is stored as `null` (and a missing
/// field reads as `None` when the field also has `#[serde(default)]`).
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some` as base64 text, `None` as `null`.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes base64 text or `null`.
    ///
    /// # Errors
    /// When the value is neither a string nor `null`, or not valid base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<std::borrow::Cow<'de, str>>::deserialize(d)?
            .map(|text| super::decode(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        #[serde(with = "super")]
        data: Vec<u8>,
        #[serde(default, with = "super::option")]
        maybe: Option<Vec<u8>>,
    }

    #[test]
    fn as_pythons_b64encode() {
        // Python: base64.b64encode(bytes(range(256))).decode("ascii"), and b"", b"\x00", b"ab".
        let cases: [(&[u8], &str); 4] = [
            (b"", ""),
            (b"\x00", "AA=="),
            (b"ab", "YWI="),
            (b"\xff\xfe\x00\n", "//4ACg=="),
        ];
        for (bytes, text) in cases {
            let doc = Doc {
                data: bytes.to_vec(),
                maybe: Some(bytes.to_vec()),
            };
            let json = serde_json::to_string(&doc).unwrap();
            assert_eq!(json, format!(r#"{{"data":"{text}","maybe":"{text}"}}"#));
            assert_eq!(serde_json::from_str::<Doc>(&json).unwrap(), doc);
        }
        let none: Doc = serde_json::from_str(r#"{"data":""}"#).unwrap();
        assert_eq!(none.maybe, None);
        let err = serde_json::from_str::<Doc>(r#"{"data":"not base64!"}"#).unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
        assert!(serde_json::from_str::<Doc>(r#"{"data":[1,2]}"#).is_err());
    }
}
