//! Filter expressions and their rendering into a RediSearch query string.
//!
//! Every user value is sent as a query parameter (`PARAMS … DIALECT 2`), never
//! spliced into the query text, so no value can change the structure of a query.
//! Numbers are the only values written inline: they come from typed numbers
//! and are formatted by redis-om.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

/// The parameters of a query: `(name, value)` pairs sent after `PARAMS`.
pub type QueryParams = Vec<(Cow<'static, str>, String)>;

/// Binary query parameters (packed vectors), by name; not in [`QueryParams`],
/// which holds text.
pub(crate) type Blobs = Vec<(Cow<'static, str>, Vec<u8>)>;

/// A condition on the documents of model `M`, built from the typed field
/// handles that `#[derive(HashModel)]`/`#[derive(JsonModel)]` generate, and
/// combined with `&`, `|` and `!`.
///
/// ```
/// # use redis_om::prelude::*;
/// # #[derive(HashModel)]
/// # struct User { pk: Option<String>, #[redis_om(index)] age: u32, #[redis_om(index)] name: String, #[redis_om(index)] active: bool }
/// let adults_named_ada = User::find(|u| u.age.ge(18) & (u.name.eq("Ada") | !u.active.eq(true)));
/// ```
#[must_use = "a condition does nothing until it is given to `find` or combined with `&`, `|`, `!`"]
pub struct Expr<M> {
    pub(crate) node: Node,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Expr<M> {
    fn clone(&self) -> Self {
        Expr::new(self.node.clone())
    }
}

impl<M> std::fmt::Debug for Expr<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.node.render() {
            Ok(Rendered::Query { text, params, .. }) => f
                .debug_struct("Expr")
                .field("query", &text)
                .field("params", &params)
                .finish(),
            Ok(Rendered::Nothing) => f.write_str("Expr(matches nothing)"),
            Err(reason) => write!(f, "Expr(invalid: {reason})"),
        }
    }
}

impl<M> Expr<M> {
    pub(crate) fn new(node: Node) -> Self {
        Expr {
            node,
            _model: PhantomData,
        }
    }

    /// Matches every document (`*`).
    pub fn all() -> Self {
        Expr::new(Node::All)
    }

    /// Matches no document; the query is then not sent at all.
    pub fn none() -> Self {
        Expr::new(Node::Nothing)
    }

    /// A condition written in RediSearch query syntax, sent as written: the
    /// escape hatch for syntax the field handles do not cover. Never put
    /// user input in it; values belong in the typed operators, which send them
    /// as parameters.
    ///
    /// ```
    /// # use redis_om::prelude::*;
    /// use redis_om::Expr;
    /// # #[derive(HashModel)]
    /// # struct User { pk: Option<String>, #[redis_om(index)] age: u32, #[redis_om(index)] name: String }
    /// let q = User::find(|u| u.age.gt(18) & Expr::raw("@name:{ada|grace}"));
    /// ```
    pub fn raw(query: impl Into<String>) -> Self {
        Expr::new(Node::Leaf(Leaf::Raw(query.into())))
    }

    /// Both conditions (the same as `self & other`).
    pub fn and(self, other: Self) -> Self {
        self & other
    }

    /// Either condition (the same as `self | other`).
    pub fn or(self, other: Self) -> Self {
        self | other
    }

    /// The query string and its parameters, as they will be sent.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when a value cannot be queried
    /// (an empty tag value, a NaN, a text without any word).
    pub fn to_query(&self) -> crate::Result<(String, QueryParams)> {
        match self.node.render().map_err(crate::Error::InvalidArgument)? {
            Rendered::Query { text, params, .. } => Ok((text, params)),
            Rendered::Nothing => Ok((String::new(), Vec::new())),
        }
    }
}

impl<M> BitAnd for Expr<M> {
    type Output = Expr<M>;
    fn bitand(self, rhs: Self) -> Self {
        Expr::new(Node::and(self.node, rhs.node))
    }
}

impl<M> BitOr for Expr<M> {
    type Output = Expr<M>;
    fn bitor(self, rhs: Self) -> Self {
        Expr::new(Node::or(self.node, rhs.node))
    }
}

impl<M> Not for Expr<M> {
    type Output = Expr<M>;
    fn not(self) -> Self {
        Expr::new(Node::not(self.node))
    }
}

/// The tree of a filter. `All`/`Nothing` are folded away when combined, and an
/// `Invalid` value wins, so that it is reported instead of being sent.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    All,
    Nothing,
    Invalid(String),
    Leaf(Leaf),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Leaf {
    /// Query syntax written by the caller ([`Expr::raw`]).
    Raw(String),
    /// One tag (the common case of [`Leaf::Tags`]).
    Tag { field: &'static str, value: String },
    /// Any of `values`; a value stored with the field's separator is indexed as
    /// several tags, so it matches when all of its parts do.
    Tags {
        field: &'static str,
        values: Vec<Vec<String>>,
    },
    /// `{$p*}`, `{*$p}` or `{*$p*}`.
    TagPattern {
        field: &'static str,
        value: String,
        pattern: Pattern,
    },
    /// `@f:[lo hi]`, bounds already formatted (`(3`, `+inf`).
    Range {
        field: &'static str,
        lo: String,
        hi: String,
    },
    /// `@f:[$lon $lat $radius $unit]`: within `radius` of `center`.
    Geo {
        field: &'static str,
        center: crate::geo::Coordinates,
        radius: f64,
        unit: crate::geo::GeoUnit,
    },
    /// `@f:[VECTOR_RANGE $radius $v]`: vectors within `radius` of `vector`
    /// (packed), in the field's distance metric.
    VectorRange {
        field: &'static str,
        radius: f64,
        vector: Vec<u8>,
    },
    /// `ismissing(@f)`: documents without the field (`INDEXMISSING`).
    Missing { field: &'static str },
    /// `@f:{""}`: documents whose field is an empty string (`INDEXEMPTY`).
    Empty { field: &'static str },
    /// Terms of a TEXT field.
    Text {
        field: &'static str,
        terms: Vec<String>,
        mode: TextMode,
    },
}

impl Leaf {
    fn expands(&self) -> bool {
        match self {
            Leaf::TagPattern { .. } => true,
            Leaf::Text { mode, .. } => matches!(mode, TextMode::Prefix | TextMode::Fuzzy),
            // Written by the caller: any `*` but the bare one that matches
            // everything may be a pattern (`@t:{SKU\-*}`, `w'*x'`), as are a
            // `%` and a `?` (`w'SKU-1???'`). A false guess costs one profile
            // round trip.
            Leaf::Raw(query) => {
                query.contains(['%', '?']) || (query.contains('*') && query.trim() != "*")
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    Prefix,
    Suffix,
    Contains,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextMode {
    /// Every term, anywhere.
    All,
    /// The terms next to each other, in order.
    Phrase,
    /// Every term; the last one as a prefix.
    Prefix,
    /// Every term within Levenshtein distance 1.
    Fuzzy,
}

pub(crate) enum Rendered {
    Query {
        text: String,
        params: QueryParams,
        /// Binary parameters (`v0`, `v1`, …: packed vectors).
        blobs: Blobs,
    },
    /// The filter can match nothing: no query needs to be sent.
    Nothing,
}

impl Node {
    pub(crate) fn and(a: Node, b: Node) -> Node {
        match (a, b) {
            (Node::Invalid(r), _) | (_, Node::Invalid(r)) => Node::Invalid(r),
            (Node::Nothing, _) | (_, Node::Nothing) => Node::Nothing,
            (Node::All, x) | (x, Node::All) => x,
            (Node::And(mut xs), Node::And(ys)) => {
                xs.extend(ys);
                Node::And(xs)
            }
            (Node::And(mut xs), y) => {
                xs.push(y);
                Node::And(xs)
            }
            (x, Node::And(mut ys)) => {
                ys.insert(0, x);
                Node::And(ys)
            }
            (x, y) => Node::And(vec![x, y]),
        }
    }

    pub(crate) fn or(a: Node, b: Node) -> Node {
        match (a, b) {
            (Node::Invalid(r), _) | (_, Node::Invalid(r)) => Node::Invalid(r),
            (Node::All, _) | (_, Node::All) => Node::All,
            (Node::Nothing, x) | (x, Node::Nothing) => x,
            (Node::Or(mut xs), Node::Or(ys)) => {
                xs.extend(ys);
                Node::Or(xs)
            }
            (Node::Or(mut xs), y) => {
                xs.push(y);
                Node::Or(xs)
            }
            (x, Node::Or(mut ys)) => {
                ys.insert(0, x);
                Node::Or(ys)
            }
            (x, y) => Node::Or(vec![x, y]),
        }
    }

    pub(crate) fn not(a: Node) -> Node {
        match a {
            Node::Invalid(r) => Node::Invalid(r),
            Node::All => Node::Nothing,
            Node::Nothing => Node::All,
            Node::Not(inner) => *inner,
            x => Node::Not(Box::new(x)),
        }
    }

    /// Whether the query expands a pattern into the index's terms (a prefix,
    /// suffix, contains or fuzzy condition): the server expands at most
    /// `MAXPREFIXEXPANSIONS` terms and silently drops the rest
    /// (`crate::query::expansion`).
    pub(crate) fn expands(&self) -> bool {
        match self {
            Node::All | Node::Nothing | Node::Invalid(_) => false,
            Node::Leaf(leaf) => leaf.expands(),
            Node::And(xs) | Node::Or(xs) => xs.iter().any(Node::expands),
            Node::Not(x) => x.expands(),
        }
    }

    /// The query text and parameters.
    pub(crate) fn render(&self) -> Result<Rendered, String> {
        match self {
            Node::Invalid(reason) => Err(reason.clone()),
            Node::Nothing => Ok(Rendered::Nothing),
            node => {
                let mut out = Renderer {
                    text: String::with_capacity(48),
                    params: Vec::new(),
                    blobs: Vec::new(),
                };
                out.node(node);
                Ok(Rendered::Query {
                    text: out.text,
                    params: out.params,
                    blobs: out.blobs,
                })
            }
        }
    }
}

/// `p0`, `p1`, …: the first ones without allocating.
fn param_name(i: usize) -> Cow<'static, str> {
    const NAMES: [&str; 16] = [
        "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13",
        "p14", "p15",
    ];
    match NAMES.get(i) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("p{i}")),
    }
}

/// Writes `@name` as the query text refers to attribute `name`: a backslash
/// before each ASCII character other than a letter, digit or `_`
/// (`@e\-mail`), as the query parser requires; other letters stand as they are.
pub(crate) fn push_attr(text: &mut String, name: &str) {
    text.push('@');
    if !name
        .bytes()
        .any(|b| b.is_ascii() && !b.is_ascii_alphanumeric() && b != b'_')
    {
        // Nothing to escape (the usual name): one copy.
        text.push_str(name);
        return;
    }
    for c in name.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() && c != '_' {
            text.push('\\');
        }
        text.push(c);
    }
}

struct Renderer {
    text: String,
    params: QueryParams,
    blobs: Blobs,
}

impl Renderer {
    fn param(&mut self, value: &str) {
        let name = param_name(self.params.len());
        self.text.push('$');
        self.text.push_str(&name);
        // The server unescapes parameter values (`\!` becomes `!`); double
        // each backslash so that the value arrives as written.
        let value = if value.contains('\\') {
            value.replace('\\', "\\\\")
        } else {
            value.to_owned()
        };
        self.params.push((name, value));
    }

    fn attr(&mut self, name: &str) {
        push_attr(&mut self.text, name);
    }

    /// `$v0`, `$v1`, …: a binary parameter.
    fn blob(&mut self, value: &[u8]) {
        let name: Cow<'static, str> = Cow::Owned(format!("v{}", self.blobs.len()));
        self.text.push('$');
        self.text.push_str(&name);
        self.blobs.push((name, value.to_vec()));
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::All => self.text.push('*'),
            // Folded away by the constructors; kept total for safety.
            Node::Nothing => self.text.push_str("-*"),
            Node::Invalid(_) => {}
            Node::Leaf(leaf) => self.leaf(leaf),
            Node::And(xs) => self.join(xs, " "),
            Node::Or(xs) => self.join(xs, " | "),
            Node::Not(x) => {
                self.text.push_str("-(");
                self.node(x);
                self.text.push(')');
            }
        }
    }

    fn join(&mut self, xs: &[Node], sep: &str) {
        for (i, x) in xs.iter().enumerate() {
            if i > 0 {
                self.text.push_str(sep);
            }
            self.text.push('(');
            self.node(x);
            self.text.push(')');
        }
    }

    fn leaf(&mut self, leaf: &Leaf) {
        match leaf {
            Leaf::Raw(query) => self.text.push_str(query),
            Leaf::Tag { field, value } => {
                self.attr(field);
                self.text.push_str(":{");
                self.param(value);
                self.text.push('}');
            }
            Leaf::Tags { field, values } => {
                let simple = values.iter().all(|v| v.len() == 1);
                if simple {
                    self.attr(field);
                    self.text.push_str(":{");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            self.text.push_str(" | ");
                        }
                        self.param(&v[0]);
                    }
                    self.text.push('}');
                } else {
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            self.text.push_str(" | ");
                        }
                        self.text.push('(');
                        for (j, part) in v.iter().enumerate() {
                            if j > 0 {
                                self.text.push(' ');
                            }
                            self.attr(field);
                            self.text.push_str(":{");
                            self.param(part);
                            self.text.push('}');
                        }
                        self.text.push(')');
                    }
                }
            }
            Leaf::TagPattern {
                field,
                value,
                pattern,
            } => {
                self.attr(field);
                self.text.push_str(":{");
                if matches!(pattern, Pattern::Suffix | Pattern::Contains) {
                    self.text.push('*');
                }
                self.param(value);
                if matches!(pattern, Pattern::Prefix | Pattern::Contains) {
                    self.text.push('*');
                }
                self.text.push('}');
            }
            Leaf::Range { field, lo, hi } => {
                self.attr(field);
                let _ = write!(self.text, ":[{lo} {hi}]");
            }
            Leaf::Geo {
                field,
                center,
                radius,
                unit,
            } => {
                let mut number = ryu::Buffer::new();
                self.attr(field);
                self.text.push_str(":[");
                self.param(number.format_finite(center.longitude()));
                self.text.push(' ');
                self.param(number.format_finite(center.latitude()));
                self.text.push(' ');
                self.param(number.format_finite(*radius));
                self.text.push(' ');
                self.param(unit.as_str());
                self.text.push(']');
            }
            Leaf::VectorRange {
                field,
                radius,
                vector,
            } => {
                self.attr(field);
                self.text.push_str(":[VECTOR_RANGE ");
                self.param(ryu::Buffer::new().format_finite(*radius));
                self.text.push(' ');
                self.blob(vector);
                self.text.push(']');
            }
            Leaf::Missing { field } => {
                self.text.push_str("ismissing(");
                self.attr(field);
                self.text.push(')');
            }
            Leaf::Empty { field } => {
                self.attr(field);
                self.text.push_str(":{");
                self.param("");
                self.text.push('}');
            }
            Leaf::Text { field, terms, mode } => {
                // Parameters are not substituted inside quotes: an exact phrase
                // is the terms with no slop, in order.
                let phrase = *mode == TextMode::Phrase && terms.len() > 1;
                if phrase {
                    self.text.push('(');
                }
                self.attr(field);
                self.text.push_str(":(");
                for (i, term) in terms.iter().enumerate() {
                    if i > 0 {
                        self.text.push(' ');
                    }
                    let last = i + 1 == terms.len();
                    match mode {
                        TextMode::Fuzzy => {
                            self.text.push('%');
                            self.param(term);
                            self.text.push('%');
                        }
                        TextMode::Prefix if last => {
                            self.param(term);
                            self.text.push('*');
                        }
                        _ => self.param(term),
                    }
                }
                self.text.push(')');
                if phrase {
                    self.text.push_str(" => { $slop: 0; $inorder: true; })");
                }
            }
        }
    }
}
