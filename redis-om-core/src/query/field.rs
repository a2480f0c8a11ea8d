//! Typed handles of indexed fields. The derive puts one per indexed field in
//! the model's `…Fields` struct; each handle offers only the operators its
//! index type supports, so `.gt()` on a TAG field does not compile.

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::model::Storage;
use crate::query::expr::{Expr, Leaf, Node, Pattern, TextMode};
use crate::schema::Indexable;
use crate::value::{HashArg, HashValue};

/// Reads a field's value out of a search result: the raw hash value, or for a
/// JSON model the JSON array of matches (`DIALECT 3`); `None` when absent.
pub type FieldDecoder<T> = fn(Option<&[u8]>) -> Result<T, String>;

/// How the derive describes an indexed field to its handle.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The attribute name in the index (`email`).
    pub name: &'static str,
    /// The TEXT attribute of a `full_text` field (`email_fts`).
    pub text_name: &'static str,
    /// Where the value is stored: the hash field, or the JSON path (`$.email`).
    pub source: &'static str,
    /// The tag separator.
    pub separator: char,
    /// Hash or JSON (bools are indexed as `1`/`0` or `true`/`false`).
    pub storage: Storage,
}

/// Made by the derive for each indexed field.
#[doc(hidden)]
pub trait FieldHandle<T>: Copy {
    /// A handle for the field described by `spec`.
    fn new(spec: FieldSpec, decode: FieldDecoder<T>) -> Self;
}

/// A field that [`Query::sort_by`](crate::Query::sort_by) accepts.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not sortable",
    label = "this field is not SORTABLE",
    note = "mark the field #[redis_om(sortable)] to sort by it (and run the Migrator)"
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

const EMPTY_TAG: &str =
    "an empty tag value cannot be queried: RediSearch does not index empty tags";

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<M, T, const SORTABLE: bool = false> {
            spec: FieldSpec,
            decode: FieldDecoder<T>,
            _model: PhantomData<fn() -> M>,
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
        }
    };
}

handle! {
    /// A TAG field (strings, enums, UUIDs): exact matches, sets and patterns.
    /// Matching follows RediSearch: case-insensitive unless the field is
    /// `case_sensitive`, and leading/trailing whitespace is ignored.
    TagField
}
handle! {
    /// A NUMERIC field (numbers, datetimes, dates): comparisons and ranges.
    NumericField
}
handle! {
    /// A `bool` field (a TAG holding `1`/`0` in hashes, `true`/`false` in JSON).
    BoolField
}
handle! {
    /// A `full_text` string field: the TAG operators on the whole value, and
    /// full-text search on its words (`{name}_fts TEXT`).
    TextField
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

impl<M, T> SortableField<M> for TagField<M, T, true> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T> SortableField<M> for NumericField<M, T, true> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T> SortableField<M> for BoolField<M, T, true> {
    fn sort_name(&self) -> &'static str {
        self.spec.name
    }
}
impl<M, T> SortableField<M> for TextField<M, T, true> {
    /// `SORTABLE` is on the TEXT attribute of a full-text field (as redis-om-python).
    fn sort_name(&self) -> &'static str {
        self.spec.text_name
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
no_comparisons!(TagField, BoolField, TextField);

/// The TAG operators, shared by [`TagField`] and [`TextField`].
macro_rules! tag_ops {
    ($name:ident) => {
        impl<M, T: Indexable, const S: bool> $name<M, T, S> {
            fn tags<'a>(&self, values: impl IntoIterator<Item = Cow<'a, str>>) -> Node {
                let mut values = values.into_iter().peekable();
                // The common case, one plain value: no intermediate lists.
                if let Some(first) = values.next() {
                    if values.peek().is_none() && is_plain_tag(&first, self.spec.separator) {
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

            /// The value starts with `prefix` (at least 2 characters, as RediSearch requires).
            pub fn starts_with(self, prefix: impl AsRef<str>) -> Expr<M> {
                self.pattern(prefix.as_ref(), Pattern::Prefix)
            }

            /// The value ends with `suffix`.
            pub fn ends_with(self, suffix: impl AsRef<str>) -> Expr<M> {
                self.pattern(suffix.as_ref(), Pattern::Suffix)
            }

            /// The value contains `infix`.
            pub fn contains(self, infix: impl AsRef<str>) -> Expr<M> {
                self.pattern(infix.as_ref(), Pattern::Contains)
            }
        }
    };
}
tag_ops!(TagField);
tag_ops!(TextField);

/// RediSearch's default stop words: they are not indexed, so a query term
/// that is one of them would match nothing.
const STOP_WORDS: &[&str] = &[
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// Characters at which RediSearch splits text into words when it indexes it.
fn is_word_break(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            ',' | '.'
                | '<'
                | '>'
                | '{'
                | '}'
                | '['
                | ']'
                | '"'
                | '\''
                | ':'
                | ';'
                | '!'
                | '@'
                | '#'
                | '$'
                | '%'
                | '^'
                | '&'
                | '*'
                | '('
                | ')'
                | '-'
                | '+'
                | '='
                | '~'
                | '\\'
                | '/'
                | '|'
                | '?'
                | '`'
        )
}

/// The words of `text` as RediSearch indexes them: split at separators, where
/// a backslash makes the next character part of the word.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let keep = if c == '\\' {
            chars.next()
        } else if is_word_break(c) {
            None
        } else {
            Some(c)
        };
        match keep {
            Some(c) => word.push(c),
            None if !word.is_empty() => words.push(std::mem::take(&mut word)),
            None => {}
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

impl<M, T: FullText, const S: bool> TextField<M, T, S> {
    fn text(&self, text: &str, mode: TextMode) -> Expr<M> {
        let all = words(text);
        let last = all.len().saturating_sub(1);
        let terms: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                (mode == TextMode::Prefix && *i == last)
                    || !STOP_WORDS.contains(&w.to_lowercase().as_str())
            })
            .map(|(_, w)| w.clone())
            .collect();
        if terms.is_empty() {
            return Expr::new(Node::Invalid(format!(
                "the text {text:?} has no searchable word (stop words and punctuation are not indexed)"
            )));
        }
        Expr::new(Node::Leaf(Leaf::Text {
            field: self.spec.text_name,
            terms,
            mode,
        }))
    }

    /// Every word of `text` occurs in the field (in any order; stemmed, case-insensitive).
    pub fn matches(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::All)
    }

    /// The words of `text` occur next to each other, in order.
    pub fn matches_phrase(self, text: impl AsRef<str>) -> Expr<M> {
        self.text(text.as_ref(), TextMode::Phrase)
    }

    /// Every word of `text` occurs, the last one as a prefix (`quick bro*`; 2 characters at least).
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
