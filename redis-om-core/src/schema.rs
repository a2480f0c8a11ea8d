//! The RediSearch index of a model: which fields are indexed and how, and the
//! `FT.CREATE` arguments, following redis-om-python's mapping so that a Python
//! and a Rust service can share one index.

use crate::storage::Storage;

/// How a field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldKind {
    /// Exact-match values (strings, enums, UUIDs): `TAG SEPARATOR |`.
    Tag,
    /// Numbers, datetimes, dates: `NUMERIC`.
    Numeric,
    /// Booleans: `TAG` (stored as `1`/`0` in hashes, `true`/`false` in JSON).
    Bool,
    /// Points ([`Coordinates`](crate::Coordinates)): `GEO`.
    Geo,
    /// Vectors of floats for nearest-neighbour search:
    /// `VECTOR FLAT|HNSW n TYPE … DIM … DISTANCE_METRIC …`.
    Vector(crate::vector::VectorOptions),
}

/// One indexed field of a model, as the derive describes it: built with
/// [`new`](Self::new) and the `with_` methods, read with the others.
///
/// ```
/// use redis_om::{FieldKind, IndexedField};
/// let email = IndexedField::new("email", FieldKind::Tag, false).with_sortable(true);
/// assert!(email.is_sortable());
/// assert_eq!(email.separator(), '|');
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedField {
    name: &'static str,
    kind: FieldKind,
    multi: bool,
    sortable: bool,
    full_text: bool,
    case_sensitive: bool,
    separator: char,
    path: Option<&'static str>,
    index_missing: bool,
    index_empty: bool,
}

impl IndexedField {
    /// A field indexed with the defaults for its kind: attribute `name`, a
    /// list of values when `multi` (JSON `[*]`).
    pub const fn new(name: &'static str, kind: FieldKind, multi: bool) -> Self {
        IndexedField {
            name,
            kind,
            multi,
            sortable: false,
            full_text: false,
            case_sensitive: false,
            separator: '|',
            path: None,
            index_missing: false,
            index_empty: false,
        }
    }

    /// `INDEXMISSING`: documents without the field can be found
    /// (`is_missing()`). RediSearch 2.10+.
    pub const fn with_index_missing(mut self, index_missing: bool) -> Self {
        self.index_missing = index_missing;
        self
    }

    /// `INDEXEMPTY`: documents whose field is an empty string can be found
    /// (`is_empty()`). RediSearch 2.10+.
    pub const fn with_index_empty(mut self, index_empty: bool) -> Self {
        self.index_empty = index_empty;
        self
    }

    /// Whether it is indexed `INDEXMISSING`.
    pub const fn is_index_missing(&self) -> bool {
        self.index_missing
    }

    /// Whether it is indexed `INDEXEMPTY`.
    pub const fn is_index_empty(&self) -> bool {
        self.index_empty
    }

    /// `SORTABLE`.
    pub const fn with_sortable(mut self, sortable: bool) -> Self {
        self.sortable = sortable;
        self
    }

    /// Also indexed as full text (`{name}_fts TEXT`).
    pub const fn with_full_text(mut self, full_text: bool) -> Self {
        self.full_text = full_text;
        self
    }

    /// `CASESENSITIVE` (tags).
    pub const fn with_case_sensitive(mut self, case_sensitive: bool) -> Self {
        self.case_sensitive = case_sensitive;
        self
    }

    /// The tag separator (default `|`).
    pub const fn with_separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// The JSON path of a field inside an embedded struct (`$.address.city`,
    /// `$.orders[*].name`), instead of `$.{name}`.
    pub const fn with_path(mut self, path: &'static str) -> Self {
        self.path = Some(path);
        self
    }

    /// The field's name in the index (and in hashes, its stored name).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// How it is indexed.
    pub const fn kind(&self) -> FieldKind {
        self.kind
    }

    /// Whether it holds a list of values (JSON `[*]`).
    pub const fn is_multi(&self) -> bool {
        self.multi
    }

    /// Whether it is `SORTABLE`.
    pub const fn is_sortable(&self) -> bool {
        self.sortable
    }

    /// Whether it is also indexed as full text (`{name}_fts TEXT`).
    pub const fn is_full_text(&self) -> bool {
        self.full_text
    }

    /// Whether its tags are `CASESENSITIVE`.
    pub const fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// The tag separator.
    pub const fn separator(&self) -> char {
        self.separator
    }

    /// The JSON path of a field inside an embedded struct; `None` for `$.{name}`.
    pub const fn path(&self) -> Option<&'static str> {
        self.path
    }
}

/// The complete definition of a model's index: `FT.CREATE {name} {args…}`.
///
/// ```
/// use redis_om::{FieldKind, IndexSchema, IndexedField, Storage};
/// let email = IndexedField::new("email", FieldKind::Tag, false).with_sortable(true);
/// let schema = IndexSchema::new(
///     Storage::Hash,
///     ":User:",
///     vec![IndexedField::new("pk", FieldKind::Tag, false), email],
/// );
/// assert_eq!(
///     schema.text(),
///     "ON HASH PREFIX 1 :User: SCHEMA pk TAG SEPARATOR | email TAG SEPARATOR | SORTABLE"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSchema {
    storage: Storage,
    prefix: String,
    fields: Vec<IndexedField>,
    /// Where redis-om-python's schema text holds an empty part: before the
    /// field at each of these positions (`fields.len()`: at the end), sorted.
    empty_parts: Vec<usize>,
}

impl IndexSchema {
    /// A schema over the keys that start with `prefix`.
    pub fn new(storage: Storage, prefix: impl Into<String>, fields: Vec<IndexedField>) -> Self {
        IndexSchema {
            storage,
            prefix: prefix.into(),
            fields,
            empty_parts: Vec::new(),
        }
    }

    /// The same schema with an empty part in its [`text`](Self::text) before
    /// the field at each position in `positions` (`fields().len()` for the
    /// end), as redis-om-python 1.2 writes one for every field of a JsonModel
    /// that is not indexed: `… $.email AS email TAG SEPARATOR |  $.age …`.
    /// The text (and so the hash both migrators compare) changes; the
    /// `FT.CREATE` arguments do not. Positions past the end count as the end.
    ///
    /// ```
    /// use redis_om::{FieldKind, IndexSchema, IndexedField, Storage};
    /// let schema = IndexSchema::new(
    ///     Storage::Json,
    ///     ":User:",
    ///     vec![IndexedField::new("pk", FieldKind::Tag, false), IndexedField::new("age", FieldKind::Numeric, false)],
    /// )
    /// .with_empty_parts(vec![1]);
    /// assert_eq!(
    ///     schema.text(),
    ///     "ON JSON PREFIX 1 :User: SCHEMA $.pk AS pk TAG SEPARATOR |  $.age AS age NUMERIC"
    /// );
    /// ```
    pub fn with_empty_parts(mut self, mut positions: Vec<usize>) -> Self {
        let len = self.fields.len();
        for p in &mut positions {
            *p = (*p).min(len);
        }
        positions.sort_unstable();
        self.empty_parts = positions;
        self
    }

    /// The indexed fields.
    pub fn fields(&self) -> &[IndexedField] {
        &self.fields
    }

    /// The arguments of `FT.CREATE` after the index name.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "ON".into(),
            match self.storage {
                Storage::Hash => "HASH".into(),
                Storage::Json => "JSON".into(),
            },
            "PREFIX".into(),
            "1".into(),
            self.prefix.clone(),
            "SCHEMA".into(),
        ];
        for field in &self.fields {
            self.field_args(field, &mut args);
        }
        args
    }

    fn field_args(&self, field: &IndexedField, args: &mut Vec<String>) {
        let name = field.name;
        // The attribute: `name` for hashes, `$.name[*] AS name` for JSON.
        let source = |args: &mut Vec<String>, alias: String| match self.storage {
            Storage::Hash => {
                args.push(name.into());
                if alias != name {
                    args.extend(["AS".into(), alias]);
                }
            }
            Storage::Json => {
                let path = match field.path {
                    Some(path) => path.to_owned(),
                    None => {
                        let star = if field.multi { "[*]" } else { "" };
                        format!("${}{star}", json_member(name))
                    }
                };
                args.extend([path, "AS".into(), alias]);
            }
        };
        source(args, name.into());
        // Opt-in options of RediSearch 2.10, right after the type (and the
        // separator), so a model without them keeps redis-om-python's text.
        let absent = |args: &mut Vec<String>| {
            if field.index_missing {
                args.push("INDEXMISSING".into());
            }
            if field.index_empty {
                args.push("INDEXEMPTY".into());
            }
        };
        match field.kind {
            FieldKind::Tag => {
                args.extend([
                    "TAG".into(),
                    "SEPARATOR".into(),
                    field.separator.to_string(),
                ]);
                absent(args);
                // CASESENSITIVE before SORTABLE: the server refuses the other
                // order ("Field `CASESENSITIVE` does not have a type").
                if field.case_sensitive {
                    args.push("CASESENSITIVE".into());
                }
                if field.sortable && !field.full_text {
                    args.push("SORTABLE".into());
                }
                if field.full_text {
                    source(args, format!("{name}_fts"));
                    args.push("TEXT".into());
                    if field.sortable {
                        args.push("SORTABLE".into());
                    }
                }
            }
            FieldKind::Numeric => {
                args.push("NUMERIC".into());
                absent(args);
                if field.sortable {
                    args.push("SORTABLE".into());
                }
            }
            FieldKind::Bool => {
                args.push("TAG".into());
                absent(args);
                if field.sortable {
                    args.push("SORTABLE".into());
                }
            }
            FieldKind::Geo => {
                args.push("GEO".into());
                absent(args);
                if field.sortable {
                    args.push("SORTABLE".into());
                }
            }
            FieldKind::Vector(options) => options.schema_args(args),
        }
    }

    /// The storage the index covers (`ON HASH` or `ON JSON`).
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// The key prefix the index covers (`PREFIX 1 {prefix}`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The schema as one line of text (stored at `{index_name}:schema`),
    /// byte for byte what redis-om-python 1.2 writes for the same model: the
    /// parts joined with single spaces, one part per field, an empty part
    /// where a JsonModel field is not indexed.
    pub fn text(&self) -> String {
        let head = [
            "ON",
            match self.storage {
                Storage::Hash => "HASH",
                Storage::Json => "JSON",
            },
            "PREFIX",
            "1",
            &self.prefix,
            "SCHEMA",
        ]
        .join(" ");
        let mut parts = vec![head];
        let mut gaps = self.empty_parts.iter().peekable();
        for (i, part) in self.field_parts().into_iter().enumerate() {
            while gaps.next_if(|&&g| g <= i).is_some() {
                parts.push(String::new());
            }
            parts.push(part);
        }
        parts.extend(gaps.map(|_| String::new()));
        parts.join(" ")
    }

    /// The definition of each indexed field as it appears in
    /// [`text`](Self::text) (`age NUMERIC SORTABLE`, `$.tags[*] AS tags TAG SEPARATOR |`).
    pub fn field_parts(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|field| {
                let mut args = Vec::new();
                self.field_args(field, &mut args);
                args.join(" ")
            })
            .collect()
    }

    /// The field definitions of this schema that the schema `text` (as
    /// stored at `{index_name}:schema`) lacks or defines otherwise: what
    /// queries written for this schema may not find in an index built from `text`.
    pub fn missing_from(&self, text: &str) -> Vec<String> {
        let live: Vec<&str> = text.split(' ').collect();
        self.field_parts()
            .into_iter()
            .filter(|part| {
                // Whole words in a row: `age NUMERIC` is in `… age NUMERIC SORTABLE …`
                // (queries on it work), `name TAG` is not in `fullname TAG`.
                let words: Vec<&str> = part.split(' ').collect();
                !live.windows(words.len()).any(|w| w == words.as_slice())
            })
            .collect()
    }

    /// SHA-1 of [`text`](Self::text), hex (stored at `{index_name}:hash`, as redis-om-python).
    pub fn hash(&self) -> String {
        sha1_smol::Sha1::from(self.text()).digest().to_string()
    }
}

/// The JSON path step to a stored name: `.name` for a plain identifier (as
/// redis-om-python writes it), `["na-me"]` for any other name, which dot
/// notation cannot express. The derive computes the same at compile time.
pub(crate) fn json_member(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        return format!(".{name}");
    }
    let mut out = String::with_capacity(name.len() + 4);
    out.push_str("[\"");
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"]");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &'static str, kind: FieldKind) -> IndexedField {
        IndexedField::new(name, kind, false)
    }

    #[test]
    fn hash_schema_follows_redis_om_python() {
        let mut name = f("name", FieldKind::Tag);
        name.full_text = true;
        name.sortable = true;
        let mut age = f("age", FieldKind::Numeric);
        age.sortable = true;
        let mut email = f("email", FieldKind::Tag);
        email.case_sensitive = true;
        email.separator = ',';
        let schema = IndexSchema::new(
            Storage::Hash,
            ":app.Customer:",
            vec![
                f("pk", FieldKind::Tag),
                name,
                age,
                email,
                f("active", FieldKind::Bool),
            ],
        );
        assert_eq!(
            schema.text(),
            "ON HASH PREFIX 1 :app.Customer: SCHEMA pk TAG SEPARATOR | \
             name TAG SEPARATOR | name AS name_fts TEXT SORTABLE \
             age NUMERIC SORTABLE email TAG SEPARATOR , CASESENSITIVE active TAG"
        );
    }

    #[test]
    fn json_schema_uses_paths_and_aliases() {
        let mut name = f("name", FieldKind::Tag);
        name.full_text = true;
        let schema = IndexSchema::new(
            Storage::Json,
            "shop:Order:",
            vec![
                f("pk", FieldKind::Tag),
                name,
                IndexedField::new("tags", FieldKind::Tag, true),
                f("total", FieldKind::Numeric),
                f("paid", FieldKind::Bool),
            ],
        );
        assert_eq!(
            schema.text(),
            "ON JSON PREFIX 1 shop:Order: SCHEMA $.pk AS pk TAG SEPARATOR | \
             $.name AS name TAG SEPARATOR | $.name AS name_fts TEXT \
             $.tags[*] AS tags TAG SEPARATOR | $.total AS total NUMERIC $.paid AS paid TAG"
        );
        assert_eq!(schema.hash().len(), 40);
        assert_eq!(
            schema.hash(),
            sha1_smol::Sha1::from(schema.text()).digest().to_string()
        );
    }

    #[test]
    fn empty_parts_and_missing_fields() {
        let schema = IndexSchema::new(
            Storage::Json,
            ":J:",
            vec![f("pk", FieldKind::Tag), f("age", FieldKind::Numeric)],
        )
        .with_empty_parts(vec![1, 2, 9]);
        assert_eq!(
            schema.text(),
            "ON JSON PREFIX 1 :J: SCHEMA $.pk AS pk TAG SEPARATOR |  $.age AS age NUMERIC  "
        );
        assert_eq!(
            schema.args().join(" "),
            "ON JSON PREFIX 1 :J: SCHEMA $.pk AS pk TAG SEPARATOR | $.age AS age NUMERIC"
        );
        assert_eq!(
            schema.missing_from("ON JSON PREFIX 1 :J: SCHEMA $.pk AS pk TAG SEPARATOR |"),
            vec!["$.age AS age NUMERIC".to_owned()]
        );
        assert!(schema
            .missing_from("ON JSON PREFIX 1 :J: SCHEMA $.pk AS pk TAG SEPARATOR | $.age AS age NUMERIC SORTABLE")
            .is_empty());
    }
}
