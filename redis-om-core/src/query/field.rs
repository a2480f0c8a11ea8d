//! Typed handles of indexed fields. The derive puts one per indexed field in
//! the model's `…Fields` struct; each handle offers only the operators its
//! index type supports, so `.gt()` on a TAG field does not compile.

use std::borrow::Cow;
use std::marker::PhantomData;

use super::expr::{Expr, Leaf, Node, Pattern, TextMode};
use super::text::{
    words, MAX_TAG_BYTES, MAX_TEXT_WORDS, MAX_WORD_BYTES, MIN_PATTERN_CHARS, STOP_WORDS,
};
use crate::schema::{FieldKind, IndexedField};
use crate::storage::Storage;
use crate::value::{HashArg, HashValue};

/// Reads a field's value out of a search result: the raw hash value, or for a
/// JSON model the JSON array of matches (`DIALECT 3`); `None` when absent.
pub type FieldDecoder<T> = fn(Option<&[u8]>) -> Result<T, String>;

/// How the derive describes an indexed field to its handle.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The attribute name in the index (`email`).
    pub(crate) name: &'static str,
    /// The TEXT attribute of a `full_text` field (`email_fts`).
    pub(crate) text_name: &'static str,
    /// Where the value is stored: the hash field, or the JSON path (`$.email`).
    pub(crate) source: &'static str,
    /// The tag separator.
    pub(crate) separator: char,
    /// Hash or JSON (bools are indexed as `1`/`0` or `true`/`false`).
    pub(crate) storage: Storage,
}

impl FieldSpec {
    /// The field indexed as attribute `name` (and `text_name` when full text),
    /// stored at `source` (a hash field or a JSON path).
    pub fn new(
        name: &'static str,
        text_name: &'static str,
        source: &'static str,
        separator: char,
        storage: Storage,
    ) -> Self {
        FieldSpec {
            name,
            text_name,
            source,
            separator,
            storage,
        }
    }
}

/// Made by the derive for each indexed field.
#[doc(hidden)]
pub trait FieldHandle<T>: Copy {
    /// A handle for the field described by `spec`.
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self;
}

/// A field that [`Query::sort_by`](crate::Query::sort_by) accepts: every
/// indexed field. `#[redis_om(sortable)]` only makes sorting faster (the server
/// keeps the value in its sorting table instead of loading it).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sorted by",
    label = "not an indexed field",
    note = "sort by a field marked #[redis_om(index)], #[redis_om(sortable)] or #[redis_om(full_text)]"
)]
pub trait SortableField<M> {
    /// The attribute to sort by.
    fn sort_name(&self) -> &'static str;
}

/// A field that [`Query::select`](crate::Query::select) can return.
pub trait ProjectedField<M> {
    /// The field's type.
    type Value;
    /// The attribute name (the alias in results).
    fn name(&self) -> &'static str;
    /// The hash field or JSON path to load.
    fn source(&self) -> &'static str;
    /// Decodes the loaded value.
    fn decode(&self, raw: Option<&[u8]>) -> Result<Self::Value, String>;
    /// Whether the index holds the value as a number: the server renders
    /// such attributes with 12 significant digits, so an exact read loads the
    /// stored value instead of the attribute.
    fn numeric(&self) -> bool {
        false
    }
}

/// A value a TAG field of element type `E` can be compared with: `&str` or
/// `String` for strings, the enum or `Uuid` itself for those.
pub trait TagArg<E> {
    /// The value as indexed.
    fn tag_text(&self) -> Cow<'_, str>;
}

impl<E: HashValue> TagArg<E> for E {
    fn tag_text(&self) -> Cow<'_, str> {
        arg_text(self.to_hash_arg())
    }
}

impl<E: HashValue> TagArg<E> for &E {
    fn tag_text(&self) -> Cow<'_, str> {
        arg_text(self.to_hash_arg())
    }
}

impl TagArg<String> for &str {
    fn tag_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl TagArg<String> for Cow<'_, str> {
    fn tag_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

fn arg_text(arg: Option<HashArg<'_>>) -> Cow<'_, str> {
    match arg {
        Some(HashArg::Str(s)) => s,
        Some(HashArg::Int(i)) => Cow::Owned(i.to_string()),
        Some(HashArg::UInt(i)) => Cow::Owned(i.to_string()),
        Some(HashArg::BigInt(i)) => Cow::Owned(i.to_string()),
        Some(HashArg::Float(f)) => Cow::Owned(f.to_string()),
        Some(HashArg::Bool(b)) => Cow::Borrowed(if b { "1" } else { "0" }),
        // Binary fields are not indexable; never reached through a handle.
        Some(HashArg::Bytes(b)) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        None => Cow::Borrowed(""),
    }
}

/// The whitespace RediSearch trims from tag values when it indexes them (C `isspace`).
fn is_tag_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// The tags a stored value is indexed as: split at the separator, trimmed, empty parts dropped.
fn tag_parts(value: &str, separator: char) -> Vec<String> {
    value
        .split(separator)
        .map(|part| part.trim_matches(is_tag_space))
        .filter(|part| !part.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A value indexed as exactly itself: not empty, no separator, nothing to trim.
fn is_plain_tag(value: &str, separator: char) -> bool {
    !value.is_empty()
        && !value.starts_with(is_tag_space)
        && !value.ends_with(is_tag_space)
        && !value.contains(separator)
}

const EMPTY_TAG: &str = "an empty tag value cannot be queried with eq or is_in: RediSearch \
     indexes empty tags only on a field marked #[redis_om(index, index_empty)], and then finds \
     them with is_empty()";

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, numeric: $numeric:literal) => {
        $(#[$doc])*
        pub struct $name<M, T, const SORTABLE: bool = false> {
            spec: FieldSpec,
            decode: FieldDecoder<T>,
            _model: PhantomData<fn() -> M>,
        }

        impl<M, T, const S: bool> $name<M, T, S> {
            /// Only on a field indexed with `index_missing`: see [`Absent::is_missing`].
            pub fn is_missing(self) -> Expr<M>
            where
                Self: AbsentOnly<M>,
            {
                AbsentOnly::unreachable(self)
            }

            /// Only on a field indexed with `index_empty`: see [`Absent::is_empty`].
            pub fn is_empty(self) -> Expr<M>
            where
                Self: AbsentOnly<M>,
            {
                AbsentOnly::unreachable(self)
            }
        }

        impl<M, T, const S: bool> Clone for $name<M, T, S> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<M, T, const S: bool> Copy for $name<M, T, S> {}

        impl<M, T, const S: bool> std::fmt::Debug for $name<M, T, S> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.spec.name).finish()
            }
        }

        impl<M, T, const S: bool> ProjectedField<M> for $name<M, T, S> {
            type Value = T;
            fn name(&self) -> &'static str {
                self.spec.name
            }
            fn source(&self) -> &'static str {
                self.spec.source
            }
            fn decode(&self, raw: Option<&[u8]>) -> Result<T, String> {
                (self.decode)(raw)
            }
            fn numeric(&self) -> bool {
                $numeric
            }
        }
    };
}

handle! {
    /// A TAG field (strings, enums, UUIDs): exact matches, sets and patterns.
    /// Matching follows RediSearch: case-insensitive unless the field is
    /// `case_sensitive`, and leading/trailing whitespace is ignored.
    TagField, numeric: false
}
handle! {
    /// A NUMERIC field (numbers, datetimes, dates): comparisons and ranges.
    NumericField, numeric: true
}
handle! {
    /// A `bool` field (a TAG holding `1`/`0` in hashes, `true`/`false` in JSON).
    BoolField, numeric: false
}
handle! {
    /// A `full_text` string field: the TAG operators on the whole value, and
    /// full-text search on its words (`{name}_fts TEXT`).
    TextField, numeric: false
}
handle! {
    /// A [`Coordinates`](crate::Coordinates) field (`GEO`): points within a
    /// radius of a center.
    GeoField, numeric: false
}

impl<M, T: Indexable, const S: bool> FieldHandle<T> for TagField<M, T, S> {
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self {
        TagField {
            spec,
            decode,
            _model: PhantomData,
        }
    }
}
impl<M, T: Indexable, const S: bool> FieldHandle<T> for NumericField<M, T, S> {
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self {
        NumericField {
            spec,
            decode,
            _model: PhantomData,
        }
    }
}
impl<M, T: Indexable, const S: bool> FieldHandle<T> for BoolField<M, T, S> {
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self {
        BoolField {
            spec,
            decode,
            _model: PhantomData,
        }
    }
}
impl<M, T: Indexable, const S: bool> FieldHandle<T> for TextField<M, T, S> {
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self {
        TextField {
            spec,
            decode,
            _model: PhantomData,
        }
    }
}

impl<M, T: Indexable, const S: bool> FieldHandle<T> for GeoField<M, T, S> {
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self {
        GeoField {
            spec,
            decode,
            _model: PhantomData,
        }
    }
}

impl<M, T, const S: bool> SortableField<M> for TagField<M, T, S> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T, const S: bool> SortableField<M> for NumericField<M, T, S> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T, const S: bool> SortableField<M> for BoolField<M, T, S> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T, const S: bool> SortableField<M> for TextField<M, T, S> {
    /// A sortable full-text field has `SORTABLE` on its TEXT attribute (as
    /// redis-om-python); any other sorts by its TAG attribute.
    fn sort_name(&self) -> &'static str {
        if S {
            self.spec.text_name
        } else {
            self.spec.name
        }
    }
}

/// A string type that can be indexed as full text (`full_text`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be indexed as full text",
    label = "`full_text` needs a string field",
    note = "`full_text` applies to String, Option<String> and Vec<String> fields"
)]
pub trait FullText: Indexable {}
impl FullText for String {}
impl<T: FullText> FullText for Option<T> {}
impl<T: FullText> FullText for Vec<T> {}

/// Implemented by no type: the bound of the comparison methods on non-numeric
/// fields, which exist only to explain why they cannot be used (without them,
/// `.gt()` would resolve to `Iterator::gt` and report "is not an iterator").
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a NUMERIC field: `gt`, `ge`, `lt`, `le` and `between` compare numbers",
    label = "not a numeric field",
    note = "TAG fields offer eq, ne, is_in, not_in, starts_with, ends_with and contains; full-text fields add matches, matches_phrase, matches_prefix and fuzzy"
)]
pub trait NumericOnly<M> {
    #[doc(hidden)]
    fn unreachable(self) -> Expr<M>;
}

/// Implemented by no type: the bound of `is_missing` and `is_empty` on the
/// handle of a field indexed without `index_missing` / `index_empty`, which
/// exist only to say how to get them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not indexed with `index_missing` / `index_empty`",
    label = "the field is not indexed for missing or empty values",
    note = "mark the field #[redis_om(index, index_missing)] for `is_missing()`, #[redis_om(index, index_empty)] for `is_empty()` (RediSearch 2.10+; the schema text then differs from redis-om-python's)"
)]
pub trait AbsentOnly<M> {
    #[doc(hidden)]
    fn unreachable(self) -> Expr<M>;
}

macro_rules! no_comparisons {
    ($($name:ident),*) => {$(
        #[doc(hidden)]
        impl<M, T, const S: bool> $name<M, T, S> {
            /// Not available: see [`NumericOnly`].
            pub fn gt<V>(self, _value: V) -> Expr<M> where Self: NumericOnly<M> { self.unreachable() }
            /// Not available: see [`NumericOnly`].
            pub fn ge<V>(self, _value: V) -> Expr<M> where Self: NumericOnly<M> { self.unreachable() }
            /// Not available: see [`NumericOnly`].
            pub fn lt<V>(self, _value: V) -> Expr<M> where Self: NumericOnly<M> { self.unreachable() }
            /// Not available: see [`NumericOnly`].
            pub fn le<V>(self, _value: V) -> Expr<M> where Self: NumericOnly<M> { self.unreachable() }
            /// Not available: see [`NumericOnly`].
            pub fn between<V>(self, _low: V, _high: V) -> Expr<M> where Self: NumericOnly<M> { self.unreachable() }
        }
    )*};
}
no_comparisons!(TagField, BoolField, TextField, GeoField);

/// The TAG operators, shared by [`TagField`] and [`TextField`].
macro_rules! tag_ops {
    ($name:ident) => {
        impl<M, T: Indexable, const S: bool> $name<M, T, S> {
            fn tags<'a>(&self, values: impl IntoIterator<Item = Cow<'a, str>>) -> Node {
                let mut values = values.into_iter().peekable();
                // The common case, one plain value: no intermediate lists.
                if let Some(first) = values.next() {
                    if values.peek().is_none()
                        && is_plain_tag(&first, self.spec.separator)
                        && first.len() <= MAX_TAG_BYTES
                    {
                        return Node::Leaf(Leaf::Tag {
                            field: self.spec.name,
                            value: first.into_owned(),
                        });
                    }
                    return self.tags_slow(std::iter::once(first).chain(values));
                }
                Node::Nothing
            }

            fn tags_slow<'a>(&self, values: impl IntoIterator<Item = Cow<'a, str>>) -> Node {
                let mut all = Vec::new();
                for value in values {
                    let parts = tag_parts(&value, self.spec.separator);
                    if parts.is_empty() {
                        return Node::Invalid(EMPTY_TAG.into());
                    }
                    if let Some(reason) = parts.iter().find_map(|p| tag_too_long(p)) {
                        return Node::Invalid(reason);
                    }
                    all.push(parts);
                }
                if all.is_empty() {
                    return Node::Nothing;
                }
                Node::Leaf(Leaf::Tags {
                    field: self.spec.name,
                    values: all,
                })
            }

            fn pattern(&self, value: &str, pattern: Pattern) -> Expr<M> {
                let trimmed = match pattern {
                    Pattern::Prefix => value.trim_start_matches(is_tag_space),
                    Pattern::Suffix => value.trim_end_matches(is_tag_space),
                    Pattern::Contains => value,
                };
                if trimmed.is_empty() {
                    return Expr::new(Node::Invalid(EMPTY_TAG.into()));
                }
                if trimmed.trim_matches(is_tag_space).chars().count() < MIN_PATTERN_CHARS {
                    return Expr::new(Node::Invalid(format!(
                        "the pattern {trimmed:?} is shorter than {MIN_PATTERN_CHARS} characters, RediSearch's minimum (MINPREFIX): it would match nothing"
                    )));
                }
                if let Some(reason) = tag_too_long(trimmed) {
                    return Expr::new(Node::Invalid(reason));
                }
                if trimmed.contains(self.spec.separator) {
                    return Expr::new(Node::Invalid(format!(
                        "a tag pattern cannot contain the field's separator {:?}: the stored value is indexed as separate tags",
                        self.spec.separator
                    )));
                }
                Expr::new(Node::Leaf(Leaf::TagPattern {
                    field: self.spec.name,
                    value: trimmed.to_owned(),
                    pattern,
                }))
            }

            /// The value equals `value` (`@f:{$p}`). A value holding the
            /// field's separator is stored as several tags; it matches
            /// documents that have all of them.
            pub fn eq(self, value: impl TagArg<T::Elem>) -> Expr<M> {
                Expr::new(self.tags([value.tag_text()]))
            }

            /// The value is not `value` (documents without the field match too).
            pub fn ne(self, value: impl TagArg<T::Elem>) -> Expr<M> {
                Expr::new(Node::not(self.tags([value.tag_text()])))
            }

            /// The value is one of `values` (`@f:{$p0 | $p1}`); an empty list matches nothing.
            pub fn is_in<A: TagArg<T::Elem>>(self, values: impl IntoIterator<Item = A>) -> Expr<M> {
                let texts: Vec<String> = values.into_iter().map(|v| v.tag_text().into_owned()).collect();
                Expr::new(self.tags(texts.into_iter().map(Cow::Owned)))
            }

            /// The value is none of `values`; an empty list matches everything.
            pub fn not_in<A: TagArg<T::Elem>>(self, values: impl IntoIterator<Item = A>) -> Expr<M> {
                !self.is_in(values)
            }

            /// The value starts with `prefix` (at least [`MIN_PATTERN_CHARS`]
            /// characters after trimming whitespace, as RediSearch requires;
            /// a shorter one is [`Error::InvalidArgument`](crate::Error::InvalidArgument)).
            pub fn starts_with(self, prefix: impl AsRef<str>) -> Expr<M> {
                self.pattern(prefix.as_ref(), Pattern::Prefix)
            }

            /// The value ends with `suffix` (at least [`MIN_PATTERN_CHARS`] characters).
            pub fn ends_with(self, suffix: impl AsRef<str>) -> Expr<M> {
                self.pattern(suffix.as_ref(), Pattern::Suffix)
            }

            /// The value contains `infix` (at least [`MIN_PATTERN_CHARS`] characters).
            pub fn contains(self, infix: impl AsRef<str>) -> Expr<M> {
                self.pattern(infix.as_ref(), Pattern::Contains)
            }
        }
    };
}
tag_ops!(TagField);
tag_ops!(TextField);

fn tag_too_long(value: &str) -> Option<String> {
    (value.len() > MAX_TAG_BYTES).then(|| {
        format!(
            "a tag value of {} bytes cannot be queried: RediSearch indexes tags up to {MAX_TAG_BYTES} bytes",
            value.len()
        )
    })
}

impl<M, T: FullText, const S: bool> TextField<M, T, S> {
    fn text(&self, text: &str, mode: TextMode) -> Expr<M> {
        let all = words(text);
        let last = all.len().saturating_sub(1);
        let mut terms: Vec<String> = Vec::new();
        for (i, word) in all.into_iter().enumerate() {
            let is_prefix = mode == TextMode::Prefix && i == last;
            if !is_prefix && STOP_WORDS.contains(&word.as_str()) {
                continue;
            }
            if word.len() > MAX_WORD_BYTES {
                return Expr::new(Node::Invalid(format!(
                    "the word {:?}… has {} bytes: RediSearch indexes words up to {MAX_WORD_BYTES} bytes, so it can match nothing",
                    word.chars().take(16).collect::<String>(),
                    word.len()
                )));
            }
            if is_prefix && word.chars().count() < MIN_PATTERN_CHARS {
                return Expr::new(Node::Invalid(format!(
                    "the prefix {word:?} is shorter than {MIN_PATTERN_CHARS} characters, RediSearch's minimum (MINPREFIX): it would match nothing"
                )));
            }
            // A phrase keeps every word in place; elsewhere a repeated word adds nothing.
            if mode == TextMode::Phrase || is_prefix || !terms.contains(&word) {
                terms.push(word);
            }
        }
        if terms.is_empty() {
            return Expr::new(Node::Invalid(format!(
                "the text {:?} has no searchable word (stop words and punctuation are not indexed)",
                text.chars().take(64).collect::<String>()
            )));
        }
        if terms.len() > MAX_TEXT_WORDS {
            return Expr::new(Node::Invalid(format!(
                "the text has {} words: one full-text condition takes at most {MAX_TEXT_WORDS} (distinct) words",
                terms.len()
            )));
        }
        Expr::new(Node::Leaf(Leaf::Text {
            field: self.spec.text_name,
            terms,
            mode,
        }))
    }

    /// Every word of `text` occurs in the field (in any order; stemmed;
    /// case-insensitive for ASCII letters only, as RediSearch indexes them).
    pub fn matches(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::All)
    }

    /// The words of `text` occur next to each other, in order.
    pub fn matches_phrase(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::Phrase)
    }

    /// Every word of `text` occurs, the last one as a prefix (`quick bro*`;
    /// the prefix needs [`MIN_PATTERN_CHARS`] characters at least).
    pub fn matches_prefix(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::Prefix)
    }

    /// Every word of `text` occurs within one edit (`%term%`).
    pub fn fuzzy(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::Fuzzy)
    }
}

/// A number as a range bound; NaN is rejected.
fn bound(arg: Option<HashArg<'_>>, exclusive: bool) -> Result<String, String> {
    let text = match arg {
        Some(HashArg::Int(i)) => i.to_string(),
        Some(HashArg::UInt(i)) => i.to_string(),
        Some(HashArg::BigInt(i)) => i.to_string(),
        Some(HashArg::Float(f)) if f.is_nan() => {
            return Err("NaN cannot be compared: it matches no number".into())
        }
        Some(HashArg::Float(f)) if f.is_infinite() => if f > 0.0 { "+inf" } else { "-inf" }.into(),
        Some(HashArg::Float(f)) => ryu::Buffer::new().format_finite(f).to_owned(),
        Some(HashArg::Bool(b)) => u8::from(b).to_string(),
        Some(HashArg::Bytes(_)) => return Err("binary data is not a number".into()),
        Some(HashArg::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) if !f.is_nan() => s.trim().to_owned(),
            _ => return Err(format!("{s:?} is not a number")),
        },
        None => return Err("a missing value cannot be compared".into()),
    };
    Ok(if exclusive { format!("({text}") } else { text })
}

impl<M, T: Indexable, const S: bool> NumericField<M, T, S> {
    fn range(&self, lo: Result<String, String>, hi: Result<String, String>) -> Expr<M> {
        match (lo, hi) {
            (Ok(lo), Ok(hi)) => Expr::new(Node::Leaf(Leaf::Range {
                field: self.spec.name,
                lo,
                hi,
            })),
            (Err(e), _) | (_, Err(e)) => Expr::new(Node::Invalid(e)),
        }
    }

    /// The value equals `value` (`@f:[v v]`).
    pub fn eq(self, value: T::Elem) -> Expr<M> {
        let b = bound(value.to_hash_arg(), false);
        self.range(b.clone(), b)
    }

    /// The value is not `value` (documents without the field match too).
    pub fn ne(self, value: T::Elem) -> Expr<M> {
        !self.eq(value)
    }

    /// The value is greater than `value`.
    pub fn gt(self, value: T::Elem) -> Expr<M> {
        self.range(bound(value.to_hash_arg(), true), Ok("+inf".into()))
    }

    /// The value is greater than or equal to `value`.
    pub fn ge(self, value: T::Elem) -> Expr<M> {
        self.range(bound(value.to_hash_arg(), false), Ok("+inf".into()))
    }

    /// The value is less than `value`.
    pub fn lt(self, value: T::Elem) -> Expr<M> {
        self.range(Ok("-inf".into()), bound(value.to_hash_arg(), true))
    }

    /// The value is less than or equal to `value`.
    pub fn le(self, value: T::Elem) -> Expr<M> {
        self.range(Ok("-inf".into()), bound(value.to_hash_arg(), false))
    }

    /// `low <= value <= high`.
    pub fn between(self, low: T::Elem, high: T::Elem) -> Expr<M> {
        self.range(
            bound(low.to_hash_arg(), false),
            bound(high.to_hash_arg(), false),
        )
    }

    /// The value is one of `values`; an empty list matches nothing.
    pub fn is_in(self, values: impl IntoIterator<Item = T::Elem>) -> Expr<M> {
        values
            .into_iter()
            .fold(Expr::none(), |acc, v| acc | self.eq(v))
    }

    /// The value is none of `values`.
    pub fn not_in(self, values: impl IntoIterator<Item = T::Elem>) -> Expr<M> {
        !self.is_in(values)
    }
}

impl<M, T: Indexable, const S: bool> BoolField<M, T, S> {
    /// The value is `value`.
    pub fn eq(self, value: bool) -> Expr<M> {
        let text = match (self.spec.storage, value) {
            (Storage::Hash, true) => "1",
            (Storage::Hash, false) => "0",
            (Storage::Json, true) => "true",
            (Storage::Json, false) => "false",
        };
        Expr::new(Node::Leaf(Leaf::Tag {
            field: self.spec.name,
            value: text.to_owned(),
        }))
    }

    /// The value is not `value` (documents without the field match too).
    pub fn ne(self, value: bool) -> Expr<M> {
        !self.eq(value)
    }
}

impl<M, T: Indexable, const S: bool> GeoField<M, T, S> {
    /// The point is within `radius` `unit`s of `center` (`@f:[lon lat radius
    /// unit]`, every number a parameter). Combines with every other condition;
    /// documents without a point are not matched.
    ///
    /// The radius must be a positive, finite number (RediSearch refuses 0):
    /// otherwise the query fails with [`Error::InvalidArgument`](crate::Error)
    /// when it runs. Points are indexed as 52-bit geohashes (within about
    /// 0.6 m), so a radius under a meter may miss a point at the very center.
    ///
    /// ```
    /// # use redis_om::prelude::*;
    /// use redis_om::{Coordinates, GeoUnit};
    /// #[derive(HashModel, serde::Serialize, serde::Deserialize, Debug, Clone)]
    /// struct Store {
    ///     #[redis_om(primary_key)]
    ///     pk: Option<String>,
    ///     #[redis_om(index)]
    ///     location: Option<Coordinates>,
    /// }
    /// let portland = Coordinates::new(-122.6765, 45.5231)?;
    /// let near = Store::find(|s| s.location.within(portland, 10.0, GeoUnit::Miles));
    /// assert_eq!(near.to_query()?.0, "@location:[$p0 $p1 $p2 $p3]");
    /// # Ok::<(), redis_om::Error>(())
    /// ```
    pub fn within(
        self,
        center: crate::geo::Coordinates,
        radius: f64,
        unit: crate::geo::GeoUnit,
    ) -> Expr<M> {
        if radius.is_nan() || radius <= 0.0 || radius.is_infinite() {
            return Expr::new(Node::Invalid(format!(
                "a geo radius must be a positive, finite number (RediSearch refuses 0), not {radius}"
            )));
        }
        Expr::new(Node::Leaf(Leaf::Geo {
            field: self.spec.name,
            center,
            radius,
            unit,
        }))
    }
}

/// The handle of a field indexed with `index_missing` and/or `index_empty`
/// (RediSearch 2.10's `INDEXMISSING` / `INDEXEMPTY`): every operator of the
/// field's own handle (through `Deref`: `u.nick.eq("x")`), and
/// [`is_missing`](Absent::is_missing) / [`is_empty`](Absent::is_empty) where
/// the field opted in, so that asking for missing values of a field indexed
/// without them does not compile.
pub struct Absent<M, H, const MISSING: bool, const EMPTY: bool> {
    handle: H,
    attr: &'static str,
    _model: PhantomData<fn() -> M>,
}

impl<M, H: Copy, const A: bool, const B: bool> Clone for Absent<M, H, A, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, H: Copy, const A: bool, const B: bool> Copy for Absent<M, H, A, B> {}

impl<M, H: std::fmt::Debug, const A: bool, const B: bool> std::fmt::Debug for Absent<M, H, A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Absent").field(&self.handle).finish()
    }
}

impl<M, H, const A: bool, const B: bool> Absent<M, H, A, B> {
    /// The handle `handle` of attribute `attr`. Made by the derives.
    #[doc(hidden)]
    pub fn new(handle: H, attr: &'static str) -> Self {
        Absent {
            handle,
            attr,
            _model: PhantomData,
        }
    }
}

impl<M, H, const A: bool, const B: bool> std::ops::Deref for Absent<M, H, A, B> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<M, H, const EMPTY: bool> Absent<M, H, true, EMPTY> {
    /// Documents that do not have the field: a hash without it (an `Option`
    /// that is `None`, or a document written before the field existed), a
    /// JSON document without the member (`ismissing(@f)`, `DIALECT 2`).
    pub fn is_missing(&self) -> Expr<M> {
        Expr::new(Node::Leaf(Leaf::Missing { field: self.attr }))
    }
}

impl<M, H, const MISSING: bool> Absent<M, H, MISSING, true> {
    /// Documents whose field is an empty string (`@f:{""}`, as a parameter).
    pub fn is_empty(&self) -> Expr<M> {
        Expr::new(Node::Leaf(Leaf::Empty { field: self.attr }))
    }
}

impl<M, H: SortableField<M>, const A: bool, const B: bool> SortableField<M> for Absent<M, H, A, B> {
    fn sort_name(&self) -> &'static str {
        self.handle.sort_name()
    }
}

impl<M, H: ProjectedField<M>, const A: bool, const B: bool> ProjectedField<M>
    for Absent<M, H, A, B>
{
    type Value = H::Value;
    fn name(&self) -> &'static str {
        self.handle.name()
    }
    fn source(&self) -> &'static str {
        self.handle.source()
    }
    fn decode(&self, raw: Option<&[u8]>) -> Result<Self::Value, String> {
        self.handle.decode(raw)
    }
    fn numeric(&self) -> bool {
        self.handle.numeric()
    }
}

/// A type whose values can be indexed. Implemented for strings, numbers,
/// `bool`, `uuid::Uuid`, chrono types, `#[derive(HashValue)]` enums, and
/// `Option`/`Vec` of those (a `Vec` in a JsonModel is a multi-value TAG).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be indexed",
    label = "not an indexable field type",
    note = "indexable fields are strings, numbers, bools, UUIDs, chrono dates, redis_om::Coordinates, #[derive(HashValue)] enums, and Option/Vec of those",
    note = "to index the fields of a nested struct in a JsonModel: put #[derive(EmbeddedModel)] on the struct (and #[redis_om(index)] on its fields to index), and mark this field #[redis_om(embed)] instead of `index`"
)]
pub trait Indexable {
    /// How values of this type are indexed.
    const KIND: FieldKind;
    /// Whether the type holds several values (a list, indexed with `[*]`).
    const MULTI: bool = false;
    /// A chrono date or datetime: in a `JsonModel` it must be stored as epoch
    /// seconds (`#[serde(with = "redis_om::timestamp")]`) to be indexed, which
    /// the derive checks.
    #[doc(hidden)]
    const TIMESTAMP: bool = false;
    /// The type of one value in a query (`String` for `Option<String>` and `Vec<String>`).
    type Elem: HashValue;
    /// The typed query handle of a field of type `T` in model `M`
    /// ([`TagField`], [`NumericField`] or [`BoolField`]).
    type Field<M, T: Indexable, const SORTABLE: bool>: FieldHandle<T>;
}

macro_rules! indexable {
    ($kind:ident, $handle:ident: $($t:ty),*) => {$(
        impl Indexable for $t {
            const KIND: FieldKind = FieldKind::$kind;
            type Elem = $t;
            type Field<M, T: Indexable, const SORTABLE: bool> = $handle<M, T, SORTABLE>;
        }
    )*};
}
indexable!(Tag, TagField: String, uuid::Uuid);
indexable!(Numeric, NumericField: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);
indexable!(Bool, BoolField: bool);
indexable!(Geo, GeoField: crate::geo::Coordinates);
#[cfg(feature = "chrono")]
impl Indexable for chrono::DateTime<chrono::Utc> {
    const KIND: FieldKind = FieldKind::Numeric;
    const TIMESTAMP: bool = true;
    type Elem = Self;
    type Field<M, T: Indexable, const SORTABLE: bool> = NumericField<M, T, SORTABLE>;
}

#[cfg(feature = "chrono")]
impl Indexable for chrono::NaiveDate {
    const KIND: FieldKind = FieldKind::Numeric;
    const TIMESTAMP: bool = true;
    type Elem = Self;
    type Field<M, T: Indexable, const SORTABLE: bool> = NumericField<M, T, SORTABLE>;
}

impl<X: Indexable> Indexable for Option<X> {
    const KIND: FieldKind = X::KIND;
    const MULTI: bool = X::MULTI;
    const TIMESTAMP: bool = X::TIMESTAMP;
    type Elem = X::Elem;
    type Field<M, T: Indexable, const SORTABLE: bool> = X::Field<M, T, SORTABLE>;
}

impl<X: Indexable> Indexable for Vec<X> {
    const KIND: FieldKind = X::KIND;
    const MULTI: bool = true;
    const TIMESTAMP: bool = X::TIMESTAMP;
    type Elem = X::Elem;
    type Field<M, T: Indexable, const SORTABLE: bool> = X::Field<M, T, SORTABLE>;
}

/// A struct stored inside a [`JsonModel`](crate::Model) field marked
/// `#[redis_om(embed)]`: its indexed fields become `{field}_{name}`
/// attributes at `$.{field}.{name}` (or `$.{field}[*].{name}` in a list), as
/// redis-om-python's embedded models. Implemented by `#[derive(EmbeddedModel)]`.
pub trait Embedded {
    /// The members the struct writes at its own level of the JSON document
    /// (serde's names, and those of the structs it flattens), for the
    /// compile-time check that a struct flattened into a model
    /// (`#[serde(flatten)]`) shares no name with the model.
    #[doc(hidden)]
    const MEMBERS: crate::__private::Members = crate::__private::Members::NONE;

    /// The typed query handles of the indexed fields, inside model `M`.
    type Fields<M>;

    /// Adds the indexed fields found at JSON `path`, named with `alias_` in front.
    fn index_fields(path: &str, alias: &str, out: &mut Vec<IndexedField>);

    /// The handles of the fields at JSON `path`.
    fn fields<M>(path: &str, alias: &str) -> Self::Fields<M>;

    /// The setters of the struct's fields, for [`update`](crate::AsyncModel::update).
    type Setters<M>;

    /// The setters of the fields at JSON `path` (`$.address`).
    fn setters<M>(path: &str) -> Self::Setters<M>;
}

/// An [`Embedded`] struct whose fields can also be stored as fields of a
/// hash, flattened into a `HashModel` (`#[redis_om(flatten)]`): implemented
/// by `#[derive(EmbeddedModel)]` with `#[redis_om(hash)]` on the struct.
/// Not a public API: the derives call it.
#[doc(hidden)]
pub trait HashEmbedded: Embedded + Sized {
    /// The names of the hash fields it stores.
    const NAMES: &'static [&'static str];

    /// What the decoder collects before the struct is complete.
    type Slots: Default;

    /// Checks and adds the struct's fields to a hash write.
    fn push_fields<'a>(&'a self, out: &mut crate::storage::HashFields<'a>) -> Result<(), String>;

    /// Takes one stored hash field if it is one of the struct's: `Ok(true)`.
    fn take(slots: &mut Self::Slots, key: &str, name: &[u8], raw: &[u8]) -> crate::Result<bool>;

    /// The struct from what was taken (missing fields: their defaults).
    fn finish(slots: Self::Slots, key: &str) -> crate::Result<Self>;

    /// The struct's indexed fields, as hash fields of the model.
    fn hash_index_fields(out: &mut Vec<IndexedField>);

    /// The query handles of the struct's indexed fields, as hash fields.
    fn hash_fields<M>() -> Self::Fields<M>;

    /// The setters of the struct's fields, as hash fields.
    fn hash_setters<M>() -> Self::Setters<M>;
}
