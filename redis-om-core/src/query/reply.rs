//! The replies of `FT.SEARCH`, `FT.AGGREGATE … WITHCURSOR` and `FT.CURSOR READ`,
//! in RESP2 (flat arrays) and RESP3 (maps), turned into rows.

use redis::Value;

use crate::error::{Error, Result};
use crate::storage::bytes_of;

/// One result: its key (when known) and its attributes as returned, a flat
/// name/value array (RESP2) or a map (RESP3), which is what `Stored::Hash` reads.
#[derive(Debug)]
#[doc(hidden)]
pub struct Row {
    /// The document id of an `FT.SEARCH` result (aggregate rows carry theirs
    /// in the `__key` attribute); kept as the reply's bytes, not copied.
    pub(crate) id: Option<Value>,
    pub(crate) attrs: Value,
}

impl Row {
    /// The key's bytes.
    pub(crate) fn key_bytes(&self) -> Option<&[u8]> {
        match &self.id {
            Some(id) => bytes_of(id),
            None => self.attr("__key"),
        }
    }

    /// The key as text, for messages.
    pub(crate) fn key(&self) -> std::borrow::Cow<'_, str> {
        let bytes = self.key_bytes().unwrap_or_default();
        // Keys are UTF-8 nearly always: `from_utf8`'s ASCII fast path is
        // cheaper than the lossy scan, which is kept for the rest.
        match std::str::from_utf8(bytes) {
            Ok(key) => std::borrow::Cow::Borrowed(key),
            Err(_) => String::from_utf8_lossy(bytes),
        }
    }

    /// The bytes of attribute `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&[u8]> {
        attr(&self.attrs, name)
    }

    /// A distance the search computed as attribute `name` (`DIALECT 3`
    /// returns it in a JSON array).
    pub(crate) fn distance(&self, name: &str) -> Result<f64> {
        let raw = self.attr(name).ok_or_else(|| {
            Error::decode(&self.key(), Some(name), "the search returned no distance")
        })?;
        let text = std::str::from_utf8(raw).unwrap_or_default().trim();
        let text = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        text.parse::<f64>().map_err(|_| {
            Error::decode(
                &self.key(),
                Some(name),
                format!("{text:?} is not a distance"),
            )
        })
    }
}

pub(crate) fn attr<'v>(attrs: &'v Value, name: &str) -> Option<&'v [u8]> {
    crate::storage::info_field(attrs, name).and_then(bytes_of)
}

fn bad(what: &str) -> Error {
    Error::UnexpectedReply {
        command: "FT.SEARCH/FT.AGGREGATE",
        detail: what.to_owned(),
    }
}

fn map_get<'v>(pairs: &'v mut [(Value, Value)], name: &str) -> Option<&'v mut Value> {
    pairs
        .iter_mut()
        .find(|(k, _)| bytes_of(k) == Some(name.as_bytes()))
        .map(|(_, v)| v)
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => std::str::from_utf8(bytes_of(other)?).ok()?.parse().ok(),
    }
}

/// The total and the rows of an `FT.SEARCH` reply (with document contents).
pub(crate) fn search(reply: Value) -> Result<(u64, Vec<Row>)> {
    let mut rows = Vec::new();
    let total = search_rows(reply, |row| {
        rows.push(row);
        true
    })?;
    Ok((total, rows))
}

/// The first row of an `FT.SEARCH` reply, without a list for the others.
pub(crate) fn search_first(reply: Value) -> Result<Option<Row>> {
    let mut first = None;
    search_rows(reply, |row| {
        first = Some(row);
        false
    })?;
    Ok(first)
}

/// The total of an `FT.SEARCH` reply, handing each row to `each` in order
/// until it returns false.
fn search_rows(reply: Value, mut each: impl FnMut(Row) -> bool) -> Result<u64> {
    match reply {
        Value::Array(items) => {
            let mut items = items.into_iter();
            let total = items
                .next()
                .as_ref()
                .and_then(int)
                .ok_or_else(|| bad("no total"))?;
            while let Some(key) = items.next() {
                let attrs = match items.next() {
                    Some(attrs @ (Value::Array(_) | Value::Map(_))) => attrs,
                    // A document that expired between matching and loading has no fields.
                    Some(Value::Nil) | None => Value::Array(Vec::new()),
                    Some(_) => return Err(bad("document fields are not a list")),
                };
                let row = Row {
                    id: Some(key),
                    attrs,
                };
                if !each(row) {
                    break;
                }
            }
            Ok(total)
        }
        Value::Map(mut pairs) => {
            let total = map_get(&mut pairs, "total_results")
                .and_then(|v| int(v))
                .ok_or_else(|| bad("no total_results"))?;
            let results = match map_get(&mut pairs, "results") {
                Some(Value::Array(results)) => std::mem::take(results),
                _ => Vec::new(),
            };
            for result in results {
                let Value::Map(mut fields) = result else {
                    return Err(bad("a result is not a map"));
                };
                let key = map_get(&mut fields, "id").map(std::mem::take);
                let attrs = map_get(&mut fields, "extra_attributes")
                    .map(std::mem::take)
                    .unwrap_or(Value::Map(Vec::new()));
                if !each(Row { id: key, attrs }) {
                    break;
                }
            }
            Ok(total)
        }
        _ => Err(bad("not an array or a map")),
    }
}

/// The match count (RESP2 only), rows and next cursor id (0 when done) of an
/// aggregate reply with a cursor; a row's key is its `__key` attribute.
pub(crate) fn cursor(reply: Value) -> Result<(Option<u64>, Vec<Row>, u64)> {
    let Value::Array(mut parts) = reply else {
        return Err(bad("a cursor reply is not an array"));
    };
    if parts.len() != 2 {
        return Err(bad("a cursor reply has not two parts"));
    }
    let cursor = int(&parts[1]).ok_or_else(|| bad("no cursor id"))?;
    let body = parts.swap_remove(0);
    let row = |attrs| Row { id: None, attrs };
    let (total, rows) = match body {
        Value::Array(items) => {
            let mut items = items.into_iter();
            let total = items.next().as_ref().and_then(int);
            (total, items.map(row).collect())
        }
        Value::Map(mut pairs) => match map_get(&mut pairs, "results") {
            Some(Value::Array(results)) => (
                None,
                std::mem::take(results)
                    .into_iter()
                    .map(|result| match result {
                        Value::Map(mut fields) => row(map_get(&mut fields, "extra_attributes")
                            .map(std::mem::take)
                            .unwrap_or(Value::Map(Vec::new()))),
                        other => row(other),
                    })
                    .collect(),
            ),
            _ => (None, Vec::new()),
        },
        _ => return Err(bad("cursor results are not a list")),
    };
    Ok((total, rows, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn search_resp2_and_resp3() {
        let resp2 = Value::Array(vec![
            Value::Int(2),
            s("k:1"),
            Value::Array(vec![s("name"), s("Ada")]),
            s("k:2"),
            Value::Nil,
        ]);
        let (total, rows) = search(resp2).unwrap();
        assert_eq!(total, 2);
        assert_eq!(rows[0].key(), ("k:1"));
        assert_eq!(rows[0].attr("name"), Some(&b"Ada"[..]));
        assert_eq!(rows[1].attr("name"), None);

        let resp3 = Value::Map(vec![
            (s("total_results"), Value::Int(1)),
            (
                s("results"),
                Value::Array(vec![Value::Map(vec![
                    (s("id"), s("k:1")),
                    (
                        s("extra_attributes"),
                        Value::Map(vec![(s("name"), s("Ada"))]),
                    ),
                    (s("values"), Value::Array(vec![])),
                ])]),
            ),
        ]);
        let (total, rows) = search(resp3).unwrap();
        assert_eq!(total, 1);
        assert_eq!(rows[0].key(), ("k:1"));
        assert_eq!(rows[0].attr("name"), Some(&b"Ada"[..]));
    }

    #[test]
    fn cursor_resp2_and_resp3() {
        let resp2 = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5),
                Value::Array(vec![s("__key"), s("k:1"), s("age"), s("3")]),
            ]),
            Value::Int(77),
        ]);
        let (total, rows, id) = cursor(resp2).unwrap();
        assert_eq!(total, Some(5));
        assert_eq!(id, 77);
        assert_eq!(rows[0].key(), ("k:1"));
        assert_eq!(rows[0].attr("age"), Some(&b"3"[..]));

        let resp3 = Value::Array(vec![
            Value::Map(vec![(
                s("results"),
                Value::Array(vec![Value::Map(vec![(
                    s("extra_attributes"),
                    Value::Map(vec![(s("__key"), s("k:2"))]),
                )])]),
            )]),
            Value::Int(0),
        ]);
        let (_, rows, id) = cursor(resp3).unwrap();
        assert_eq!(id, 0);
        assert_eq!(rows[0].key(), ("k:2"));
        // A reply of another shape is one error kind, naming the command.
        assert!(matches!(
            cursor(Value::Int(1)),
            Err(Error::UnexpectedReply { command, .. }) if command.contains("FT.AGGREGATE")
        ));
        assert!(matches!(
            search(Value::Nil),
            Err(Error::UnexpectedReply { .. })
        ));
    }
}
