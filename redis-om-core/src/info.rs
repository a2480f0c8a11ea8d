//! An `FT.INFO` reply, read in one place: the migrator (what a name is and
//! whether an index finished indexing), `index_status`, the query's check of
//! the live schema, and the cluster layer (a copy's storage, sortable
//! attributes, whether it is built) all read it through [`IndexInfo`].

use redis::Value;

use crate::storage::{bytes_of, info_field};

/// What redis-om reads of an `FT.INFO` reply (RESP2 or RESP3).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IndexInfo {
    /// The index's own name (for an alias, the index behind it).
    pub(crate) index_name: Option<String>,
    /// `HASH` or `JSON`.
    pub(crate) key_type: Option<String>,
    /// The key prefixes it covers.
    pub(crate) prefixes: Vec<String>,
    /// Its attributes, in order.
    pub(crate) attributes: Vec<Attribute>,
    /// Whether the reply listed attributes at all.
    pub(crate) has_attributes: bool,
    pub(crate) num_docs: u64,
    /// Documents the server refused to index.
    pub(crate) indexing_failures: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_key: Option<String>,
    /// Whether it is still scanning the keyspace.
    pub(crate) indexing: bool,
    /// How much of the keyspace it has scanned, 0.0 to 1.0.
    pub(crate) percent_indexed: f64,
}

/// One attribute of an index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attribute {
    /// Its name (`attribute`).
    pub(crate) name: String,
    /// Its type, uppercase (`TAG`, `TEXT`, `NUMERIC`, `GEO`, `VECTOR`).
    pub(crate) kind: String,
    /// Whether it is `SORTABLE`.
    pub(crate) sortable: bool,
}

impl IndexInfo {
    /// Reads `info`; what it does not hold stays at its default (an index
    /// with no failures, fully indexed).
    pub(crate) fn of(info: &Value) -> IndexInfo {
        let errors = info_field(info, "Index Errors");
        let error_field = |name| errors.and_then(|e| info_field(e, name));
        let definition = info_field(info, "index_definition");
        let prefixes = match definition.and_then(|d| info_field(d, "prefixes")) {
            Some(Value::Array(items)) | Some(Value::Set(items)) => {
                items.iter().filter_map(text).collect()
            }
            Some(other) => text(other).into_iter().collect(),
            None => Vec::new(),
        };
        let listed = info_field(info, "attributes");
        let attributes = match listed {
            Some(Value::Array(items)) => items.iter().filter_map(Attribute::of).collect(),
            _ => Vec::new(),
        };
        IndexInfo {
            index_name: info_field(info, "index_name").and_then(text),
            key_type: definition
                .and_then(|d| info_field(d, "key_type"))
                .and_then(text),
            prefixes,
            attributes,
            has_attributes: matches!(listed, Some(Value::Array(_))),
            num_docs: number(info_field(info, "num_docs")).unwrap_or(0.0) as u64,
            indexing_failures: number(info_field(info, "hash_indexing_failures"))
                .or_else(|| number(error_field("indexing failures")))
                .unwrap_or(0.0) as u64,
            last_error: error_text(error_field("last indexing error")),
            last_error_key: error_text(error_field("last indexing error key")),
            indexing: number(info_field(info, "indexing")).is_some_and(|n| n != 0.0),
            percent_indexed: number(info_field(info, "percent_indexed")).unwrap_or(1.0),
        }
    }

    /// Whether it finished indexing the documents that were there when it
    /// was created.
    pub(crate) fn built(&self) -> bool {
        !self.indexing && self.percent_indexed >= 1.0
    }

    /// Whether it indexes JSON documents.
    pub(crate) fn on_json(&self) -> bool {
        self.key_type
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("JSON"))
    }
}

impl Attribute {
    fn of(attribute: &Value) -> Option<Attribute> {
        let is_sortable =
            |v: &Value| bytes_of(v).is_some_and(|b| b.eq_ignore_ascii_case(b"SORTABLE"));
        // A flag, not a pair: anywhere among the parts (RESP2), or among
        // the values and the `flags` (RESP3).
        let sortable = match attribute {
            Value::Array(parts) => parts.iter().any(is_sortable),
            Value::Map(pairs) => pairs.iter().any(|(k, v)| {
                is_sortable(k)
                    || is_sortable(v)
                    || matches!(v, Value::Array(flags) | Value::Set(flags) if flags.iter().any(is_sortable))
            }),
            _ => return None,
        };
        Some(Attribute {
            name: info_field(attribute, "attribute").and_then(text)?,
            kind: info_field(attribute, "type")
                .and_then(text)?
                .to_ascii_uppercase(),
            sortable,
        })
    }
}

fn text(value: &Value) -> Option<String> {
    bytes_of(value).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// An error field's text; `N/A` (no error) and empty are `None`.
fn error_text(value: Option<&Value>) -> Option<String> {
    let text = text(value?)?;
    (text != "N/A" && !text.is_empty()).then_some(text)
}

/// A number as `FT.INFO` writes it: an integer, a double, or text.
pub(crate) fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        other => std::str::from_utf8(bytes_of(other)?)
            .ok()?
            .trim()
            .parse()
            .ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn array(items: &[Value]) -> Value {
        Value::Array(items.to_vec())
    }

    /// An abridged `FT.INFO` of Redis Stack 7.4 (RESP2) for a JSON index
    /// being built.
    fn reply() -> Value {
        array(&[
            bulk("index_name"),
            bulk("{t3}:Doc:index:abc"),
            bulk("index_definition"),
            array(&[
                bulk("key_type"),
                bulk("JSON"),
                bulk("prefixes"),
                array(&[bulk(":Doc:")]),
                bulk("default_score"),
                bulk("1"),
            ]),
            bulk("attributes"),
            array(&[
                array(&[
                    bulk("identifier"),
                    bulk("$.score"),
                    bulk("attribute"),
                    bulk("score"),
                    bulk("type"),
                    bulk("NUMERIC"),
                    bulk("SORTABLE"),
                    bulk("UNF"),
                ]),
                array(&[
                    bulk("identifier"),
                    bulk("$.run"),
                    bulk("attribute"),
                    bulk("run"),
                    bulk("type"),
                    bulk("TAG"),
                    bulk("SEPARATOR"),
                    bulk("|"),
                ]),
            ]),
            bulk("num_docs"),
            bulk("42"),
            bulk("hash_indexing_failures"),
            bulk("2"),
            bulk("indexing"),
            bulk("1"),
            bulk("percent_indexed"),
            bulk("0.5"),
            bulk("Index Errors"),
            array(&[
                bulk("indexing failures"),
                Value::Int(2),
                bulk("last indexing error"),
                bulk("Invalid JSON"),
                bulk("last indexing error key"),
                bulk(":Doc:7"),
            ]),
        ])
    }

    #[test]
    fn a_reply_is_read_once_for_everyone() {
        let info = IndexInfo::of(&reply());
        assert_eq!(info.index_name.as_deref(), Some("{t3}:Doc:index:abc"));
        assert!(info.on_json());
        assert_eq!(info.prefixes, [":Doc:"]);
        assert_eq!(
            info.attributes,
            [
                Attribute {
                    name: "score".into(),
                    kind: "NUMERIC".into(),
                    sortable: true
                },
                Attribute {
                    name: "run".into(),
                    kind: "TAG".into(),
                    sortable: false
                },
            ]
        );
        assert!(info.has_attributes);
        assert_eq!((info.num_docs, info.indexing_failures), (42, 2));
        assert_eq!(info.last_error.as_deref(), Some("Invalid JSON"));
        assert_eq!(info.last_error_key.as_deref(), Some(":Doc:7"));
        assert!(!info.built());
    }

    #[test]
    fn resp3_attributes_are_read_too() {
        let attribute = Value::Map(vec![
            (bulk("identifier"), bulk("score")),
            (bulk("attribute"), bulk("score")),
            (bulk("type"), bulk("numeric")),
            (bulk("flags"), array(&[bulk("SORTABLE")])),
        ]);
        let info = IndexInfo::of(&Value::Map(vec![(bulk("attributes"), array(&[attribute]))]));
        assert_eq!(
            info.attributes,
            [Attribute {
                name: "score".into(),
                kind: "NUMERIC".into(),
                sortable: true
            }]
        );
    }

    #[test]
    fn what_a_reply_lacks_is_a_built_index_without_failures() {
        let info = IndexInfo::of(&array(&[bulk("index_name"), bulk("i")]));
        assert!(info.built());
        assert!(!info.on_json());
        assert!(!info.has_attributes);
        assert_eq!(info.indexing_failures, 0);
        assert_eq!(
            IndexInfo::of(&Value::Nil),
            IndexInfo {
                percent_indexed: 1.0,
                ..IndexInfo::default()
            }
        );
        // "N/A" is no error.
        let none = array(&[
            bulk("Index Errors"),
            array(&[bulk("last indexing error"), bulk("N/A")]),
        ]);
        assert_eq!(IndexInfo::of(&none).last_error, None);
    }
}
