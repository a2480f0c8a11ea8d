//! How documents are stored: [`Storage`] (hash or JSON), what a model encodes
//! to ([`Encoded`], [`HashFields`]) and what is read back before decoding
//! ([`Stored`], [`HashPairs`], [`decode_json`]). The bottom layer: it knows
//! replies and encodings, not models.

use redis::Value;

use crate::error::{Error, Result};
use crate::value::{HashArg, HashValue};

/// How a model is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Storage {
    /// A Redis hash, one field per struct field (`#[derive(HashModel)]`).
    Hash,
    /// A RedisJSON document (`#[derive(JsonModel)]`).
    Json,
}

impl Storage {
    /// The name `SCAN ... TYPE` and `TYPE` use for this storage.
    pub fn redis_type(self) -> &'static str {
        match self {
            Storage::Hash => "hash",
            Storage::Json => "ReJSON-RL",
        }
    }
}

/// A model encoded for storage.
#[derive(Debug)]
pub enum Encoded<'a> {
    /// Hash fields.
    Hash(HashFields<'a>),
    /// A serialized JSON document.
    Json(Vec<u8>),
}

impl Encoded<'_> {
    /// About how many bytes the document takes in a command (names and
    /// values; numbers count as a few bytes): what a round trip's budget
    /// counts (`crate::batch`).
    pub(crate) fn len(&self) -> usize {
        match self {
            Encoded::Json(doc) => doc.len(),
            Encoded::Hash(fields) => fields
                .set
                .iter()
                .map(|(name, value)| {
                    name.len()
                        + match value {
                            crate::value::HashArg::Str(text) => text.len(),
                            crate::value::HashArg::Bytes(bytes) => bytes.len(),
                            _ => 20,
                        }
                })
                .sum(),
        }
    }
}

/// The fields of a hash model: those to set, and those that are `None` and must be removed.
#[derive(Debug, Default)]
pub struct HashFields<'a> {
    pub(crate) set: Vec<(&'static str, HashArg<'a>)>,
    pub(crate) unset: Vec<&'static str>,
}

impl<'a> HashFields<'a> {
    /// Room for `fields` fields.
    pub fn with_capacity(fields: usize) -> Self {
        HashFields {
            set: Vec::with_capacity(fields),
            unset: Vec::new(),
        }
    }

    /// Adds a field; a value that encodes to nothing (`None`) is recorded for removal.
    pub fn field<V: HashValue>(&mut self, name: &'static str, value: &'a V) {
        self.push(name, value.to_hash_arg());
    }

    /// Adds an encoded field; `None` is recorded for removal.
    pub fn push(&mut self, name: &'static str, value: Option<HashArg<'a>>) {
        match value {
            Some(arg) => self.set.push((name, arg)),
            None => self.unset.push(name),
        }
    }

    /// The fields to set, in order.
    pub fn set(&self) -> &[(&'static str, HashArg<'a>)] {
        &self.set
    }

    /// The fields to remove.
    pub fn unset(&self) -> &[&'static str] {
        &self.unset
    }
}

/// A stored document as read from Redis, before decoding.
#[derive(Debug, Clone, Copy)]
pub enum Stored<'a> {
    /// The reply of `HGETALL` (or the fields of an `FT.SEARCH` result):
    /// a flat array of name/value pairs (RESP2) or a map (RESP3).
    Hash(&'a Value),
    /// A JSON document's text.
    Json(&'a [u8]),
}

impl<'a> Stored<'a> {
    /// The name/value pairs of a stored hash, read in place: an item is an
    /// error when a name or value is not text.
    ///
    /// # Errors
    /// [`Error::Decode`] when the reply is not a hash.
    pub fn hash_fields<'k>(self, key: &'k str) -> Result<HashPairs<'a, 'k>> {
        let value = match self {
            Stored::Hash(value) => value,
            Stored::Json(_) => return Err(Error::decode(key, None, "expected a hash, found JSON")),
        };
        match value {
            Value::Array(items) => {
                if items.len() % 2 != 0 {
                    return Err(Error::decode(key, None, "odd number of hash items"));
                }
                Ok(HashPairs {
                    inner: PairsInner::Flat(items.chunks_exact(2)),
                    key,
                })
            }
            Value::Map(pairs) => Ok(HashPairs {
                inner: PairsInner::Map(pairs.iter()),
                key,
            }),
            other => Err(Error::decode(
                key,
                None,
                format!("expected a hash, found {}", describe(other)),
            )),
        }
    }

    /// The JSON text of a stored document.
    ///
    /// # Errors
    /// [`Error::Decode`] when the document is not JSON.
    pub fn json(self, key: &str) -> Result<&'a [u8]> {
        match self {
            Stored::Json(bytes) => Ok(bytes),
            Stored::Hash(_) => Err(Error::decode(
                key,
                None,
                "expected a JSON document, found a hash",
            )),
        }
    }
}

/// The name/value pairs of a stored hash: [`Stored::hash_fields`].
#[derive(Debug, Clone)]
pub struct HashPairs<'a, 'k> {
    inner: PairsInner<'a>,
    key: &'k str,
}

#[derive(Debug, Clone)]
enum PairsInner<'a> {
    /// A RESP2 flat array.
    Flat(std::slice::ChunksExact<'a, Value>),
    /// A RESP3 map.
    Map(std::slice::Iter<'a, (Value, Value)>),
}

impl<'a> Iterator for HashPairs<'a, '_> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = match &mut self.inner {
            PairsInner::Flat(chunks) => {
                let pair = chunks.next()?;
                (&pair[0], &pair[1])
            }
            PairsInner::Map(pairs) => {
                let (k, v) = pairs.next()?;
                (k, v)
            }
        };
        Some(match (bytes_of(k), bytes_of(v)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(Error::decode(
                self.key,
                None,
                "a hash field name or value is not text",
            )),
        })
    }
}

/// The bytes of a string-like reply.
pub(crate) fn bytes_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        Value::Okay => Some(b"OK"),
        _ => None,
    }
}

/// A short description of a reply, for error messages (never its contents).
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) | Value::SimpleString(_) | Value::VerbatimString { .. } => "a string",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Set(_) => "a set",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::Okay => "OK",
        Value::ServerError(_) => "an error",
        _ => "an unexpected reply",
    }
}

/// Decodes a JSON document into `T`, naming the path of the first field that fails.
///
/// # Errors
/// [`Error::Decode`] with the failing path in `field`.
pub fn decode_json<T: serde::de::DeserializeOwned>(key: &str, json: &[u8]) -> Result<T> {
    // The fast path is plain serde_json; only a failure is decoded again with
    // path tracking, to name the field (costs nothing when the data is good).
    match serde_json::from_slice(json) {
        Ok(value) => Ok(value),
        Err(plain) => {
            let de = &mut serde_json::Deserializer::from_slice(json);
            let err = match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(_) => {
                    return Err(Error::decode(key, None, plain));
                }
                Err(err) => err,
            };
            let path = err.path().to_string();
            let field = (path != ".").then_some(path);
            Err(Error::Decode {
                key: key.to_owned(),
                field,
                reason: err.into_inner().to_string(),
            })
        }
    }
}

/// The value of `name` in a reply of named values (`FT.INFO`, a search
/// result's attributes): a flat name/value array (RESP2) or a map (RESP3).
pub(crate) fn info_field<'v>(info: &'v Value, name: &str) -> Option<&'v Value> {
    match info {
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|p| bytes_of(&p[0]) == Some(name.as_bytes()))
            .map(|p| &p[1]),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| bytes_of(k) == Some(name.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_fields_from_resp2_and_resp3() {
        let resp2 = Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"1".to_vec()),
        ]);
        let resp3 = Value::Map(vec![(
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"1".to_vec()),
        )]);
        for v in [&resp2, &resp3] {
            let fields: Vec<_> = Stored::Hash(v)
                .hash_fields("k")
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            assert_eq!(fields, vec![(&b"a"[..], &b"1"[..])]);
        }
        let odd = Value::Array(vec![Value::BulkString(b"a".to_vec())]);
        assert!(matches!(
            Stored::Hash(&odd).hash_fields("k"),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            Stored::Hash(&Value::Int(3)).hash_fields("k"),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn json_decode_errors_name_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Address {
            city: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct User {
            address: Address,
        }
        let err = decode_json::<User>("k", br#"{"address":{"city":5}}"#).unwrap_err();
        match err {
            Error::Decode { key, field, .. } => {
                assert_eq!(key, "k");
                assert_eq!(field.as_deref(), Some("address.city"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
