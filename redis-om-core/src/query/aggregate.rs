//! Typed aggregations (`FT.AGGREGATE`): the documents a query matches, grouped
//! by indexed fields ([`Query::group_by`]) or taken together
//! ([`Query::aggregate`]), reduced ([`reduce`](crate::reduce): `count`, `sum`,
//! `avg`, …), with computed columns ([`Aggregate::apply`]), a filter on the
//! groups ([`Aggregate::having`]), sorting and a limit; each group decoded
//! into a tuple of the fields' and reducers' types, or into a struct of yours
//! ([`Aggregate::rows_as`]).
//!
//! Exactness: group values and `tolist`/`first_value` values are loaded from
//! the documents (`LOAD`), never taken from the index's normalized sorting
//! copies (a `SORTABLE` TAG is lowercased there). RediSearch computes on
//! doubles: sums and averages are `f64` (a fraction it computes comes with
//! the 12 significant digits the server writes: `100 / 17` reads
//! `5.88235294118`), and a group or listed numeric value at or beyond 2^53
//! (which a double may not hold exactly) is an error rather than a silently
//! different number.

use std::borrow::Cow;
use std::marker::PhantomData;

use redis::Value;

use super::builder::Query;
use super::field::{
    Absent, BoolField, Indexable, NumericField, ProjectedField, TagField, TextField,
};
use super::plan::{Load, Plan, SortOrder};
use super::reply;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::storage::bytes_of;
use crate::value::HashValue;

/// Aliases of reducers (`r0`, `r1`, …) and computed columns (`a0`, …).
const REDUCER_ALIASES: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
const APPLY_ALIASES: [&str; 4] = ["a0", "a1", "a2", "a3"];

/// A column of an aggregation's rows (a group field, a reducer, a computed
/// column), for [`Aggregate::sort_by`].
#[derive(Debug, Clone)]
pub struct Column {
    name: Cow<'static, str>,
}

/// A numeric column: computed columns ([`Aggregate::apply`]) and filters
/// ([`Aggregate::having`]) are built from these with `+ - * /` and numbers.
#[derive(Debug, Clone)]
pub struct NumColumn {
    name: Cow<'static, str>,
}

impl From<NumColumn> for Column {
    fn from(c: NumColumn) -> Column {
        Column { name: c.name }
    }
}

impl From<&NumColumn> for Column {
    fn from(c: &NumColumn) -> Column {
        Column {
            name: c.name.clone(),
        }
    }
}

impl From<&Column> for Column {
    fn from(c: &Column) -> Column {
        c.clone()
    }
}

/// An arithmetic expression over numeric columns (`APPLY`), e.g.
/// `(total / n).floor()`.
#[derive(Debug, Clone)]
pub struct AggExpr {
    text: String,
}

impl AggExpr {
    fn call(self, function: &str) -> AggExpr {
        AggExpr {
            text: format!("{function}({})", self.text),
        }
    }
    /// The largest integer not above it (`floor`).
    pub fn floor(self) -> AggExpr {
        self.call("floor")
    }
    /// The smallest integer not below it (`ceil`).
    pub fn ceil(self) -> AggExpr {
        self.call("ceil")
    }
    /// Its absolute value (`abs`).
    pub fn abs(self) -> AggExpr {
        self.call("abs")
    }
    /// Its square root (`sqrt`).
    pub fn sqrt(self) -> AggExpr {
        self.call("sqrt")
    }
    /// Its natural logarithm (`log`).
    pub fn ln(self) -> AggExpr {
        self.call("log")
    }

    fn compare(self, op: &str, value: f64) -> Having {
        if let Some(error) = self.text.split('\u{0}').nth(1) {
            return Having {
                text: Err(error.to_owned()),
            };
        }
        match finite(value) {
            Ok(v) => Having {
                text: Ok(format!("{} {op} {v}", self.text)),
            },
            Err(e) => Having { text: Err(e) },
        }
    }
    /// Greater than `value`.
    pub fn gt(self, value: f64) -> Having {
        self.compare(">", value)
    }
    /// At least `value`.
    pub fn ge(self, value: f64) -> Having {
        self.compare(">=", value)
    }
    /// Less than `value`.
    pub fn lt(self, value: f64) -> Having {
        self.compare("<", value)
    }
    /// At most `value`.
    pub fn le(self, value: f64) -> Having {
        self.compare("<=", value)
    }
    /// Equal to `value`.
    pub fn eq(self, value: f64) -> Having {
        self.compare("==", value)
    }
    /// Not equal to `value`.
    pub fn ne(self, value: f64) -> Having {
        self.compare("!=", value)
    }
}

fn finite(value: f64) -> std::result::Result<String, String> {
    if value.is_finite() {
        Ok(ryu::Buffer::new().format_finite(value).to_owned())
    } else {
        Err(format!(
            "{value} cannot be used in an aggregation expression"
        ))
    }
}

impl From<NumColumn> for AggExpr {
    fn from(c: NumColumn) -> AggExpr {
        if !plain(&c.name) {
            // Reported when the aggregation runs (the server cannot parse it).
            return AggExpr {
                text: format!(
                    "\u{0}the column `{}` cannot be used in an expression: name it with letters, \
                     digits and _ only",
                    c.name
                ),
            };
        }
        AggExpr {
            text: format!("@{}", c.name),
        }
    }
}

impl From<&NumColumn> for AggExpr {
    fn from(c: &NumColumn) -> AggExpr {
        c.clone().into()
    }
}

/// Forwards a comparison to the column as an expression.
impl NumColumn {
    /// Greater than `value`.
    pub fn gt(&self, value: f64) -> Having {
        AggExpr::from(self).gt(value)
    }
    /// At least `value`.
    pub fn ge(&self, value: f64) -> Having {
        AggExpr::from(self).ge(value)
    }
    /// Less than `value`.
    pub fn lt(&self, value: f64) -> Having {
        AggExpr::from(self).lt(value)
    }
    /// At most `value`.
    pub fn le(&self, value: f64) -> Having {
        AggExpr::from(self).le(value)
    }
    /// Equal to `value`.
    pub fn eq(&self, value: f64) -> Having {
        AggExpr::from(self).eq(value)
    }
    /// Not equal to `value`.
    pub fn ne(&self, value: f64) -> Having {
        AggExpr::from(self).ne(value)
    }
}

/// An operand of `+ - * /`: a numeric column, an expression, or a number.
#[derive(Debug, Clone)]
pub struct Operand(std::result::Result<String, String>);

impl From<f64> for Operand {
    fn from(v: f64) -> Operand {
        Operand(finite(v))
    }
}
impl From<NumColumn> for Operand {
    fn from(c: NumColumn) -> Operand {
        Operand(Ok(AggExpr::from(c).text))
    }
}
impl From<&NumColumn> for Operand {
    fn from(c: &NumColumn) -> Operand {
        Operand(Ok(AggExpr::from(c).text))
    }
}
impl From<AggExpr> for Operand {
    fn from(e: AggExpr) -> Operand {
        Operand(Ok(e.text))
    }
}

macro_rules! arithmetic {
    ($($trait:ident $method:ident $op:literal),*) => {$(
        impl<R: Into<Operand>> std::ops::$trait<R> for AggExpr {
            type Output = AggExpr;
            fn $method(self, rhs: R) -> AggExpr {
                let text = match rhs.into().0 {
                    Ok(rhs) => format!("({} {} {rhs})", self.text, $op),
                    // Reported when the aggregation runs.
                    Err(e) => format!("\u{0}{e}"),
                };
                AggExpr { text }
            }
        }
        impl<R: Into<Operand>> std::ops::$trait<R> for NumColumn {
            type Output = AggExpr;
            fn $method(self, rhs: R) -> AggExpr {
                std::ops::$trait::$method(AggExpr::from(self), rhs)
            }
        }
        impl<R: Into<Operand>> std::ops::$trait<R> for &NumColumn {
            type Output = AggExpr;
            fn $method(self, rhs: R) -> AggExpr {
                std::ops::$trait::$method(AggExpr::from(self), rhs)
            }
        }
    )*};
}
arithmetic!(Add add "+", Sub sub "-", Mul mul "*", Div div "/");

/// A condition on the groups ([`Aggregate::having`]): a comparison of a
/// numeric column or expression with a number; combine with `&` and `|`.
#[derive(Debug, Clone)]
#[must_use]
pub struct Having {
    text: std::result::Result<String, String>,
}

impl std::ops::BitAnd for Having {
    type Output = Having;
    fn bitand(self, rhs: Having) -> Having {
        Having {
            text: self
                .text
                .and_then(|a| rhs.text.map(|b| format!("({a}) && ({b})"))),
        }
    }
}

impl std::ops::BitOr for Having {
    type Output = Having;
    fn bitor(self, rhs: Having) -> Having {
        Having {
            text: self
                .text
                .and_then(|a| rhs.text.map(|b| format!("({a}) || ({b})"))),
        }
    }
}

/// A value read back from an aggregation: the bytes of a string reply,
/// `None` for nil.
fn text_of(value: Option<&Value>) -> Option<&[u8]> {
    value.and_then(bytes_of)
}

/// The value of attribute `name` in a row.
fn attr<'v>(attrs: &'v Value, name: &str) -> Option<&'v Value> {
    crate::storage::info_field(attrs, name).filter(|v| !matches!(v, Value::Nil))
}

/// Doubles hold integers exactly up to 2^53.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Decodes one loaded value; a numeric one must be one a double holds exactly.
fn decode_value<E: HashValue>(raw: &[u8], numeric: bool) -> std::result::Result<E, String> {
    if numeric {
        let text = std::str::from_utf8(raw).unwrap_or_default().trim();
        if let Ok(x) = text.parse::<f64>() {
            if x.abs() >= EXACT_LIMIT {
                return Err(format!(
                    "{text} is at or beyond 2^53: RediSearch aggregates numbers as doubles, \
                     which may not hold the stored value exactly"
                ));
            }
        }
    }
    E::from_hash_bytes(raw)
}

fn number(raw: Option<&Value>, what: &str) -> std::result::Result<f64, String> {
    match raw {
        Some(Value::Int(i)) => Ok(*i as f64),
        Some(Value::Double(d)) => Ok(*d),
        other => {
            let text = text_of(other).ok_or_else(|| format!("{what}: no value"))?;
            let text = std::str::from_utf8(text).unwrap_or_default().trim();
            match text {
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" | "-nan" => Ok(f64::NAN),
                _ => text
                    .parse()
                    .map_err(|_| format!("{what}: {text:?} is not a number")),
            }
        }
    }
}

/// How a column reads as JSON ([`Aggregate::rows_as`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Bool,
    /// `tolist`: a list of numbers (`true`) or texts.
    List(bool),
    /// `tolist` of a bool field.
    ListBool,
}

fn kind_of(numeric: bool, boolean: bool) -> Kind {
    if numeric {
        Kind::Number
    } else if boolean {
        Kind::Bool
    } else {
        Kind::Text
    }
}

// ---------------------------------------------------------------------------
// Group keys.

/// Fields to group by ([`Query::group_by`]): an indexed field's handle, or a
/// tuple of up to 4. Each group's value is an `Option` of the field's value
/// type (`None`: the documents without the field). Fields holding several
/// values (a `Vec` in a JSON model) cannot be grouped by.
pub trait GroupKeys<M> {
    /// The decoded values of one group.
    type Output;
    /// The columns, for sorting ([`Column`], or [`NumColumn`] for numbers).
    type Columns;
    /// (attribute, holds several values, kind).
    #[doc(hidden)]
    fn attrs(&self, out: &mut Vec<(&'static str, bool, Kind)>);
    #[doc(hidden)]
    fn columns(&self) -> Self::Columns;
    #[doc(hidden)]
    fn decode(&self, attrs: &Value) -> std::result::Result<Self::Output, (String, String)>;
}

macro_rules! group_key {
    ($handle:ident, $numeric:literal, $boolean:literal, $column:ident) => {
        impl<M, T: Indexable, const S: bool> GroupKeys<M> for $handle<M, T, S> {
            type Output = Option<T::Elem>;
            type Columns = $column;
            fn attrs(&self, out: &mut Vec<(&'static str, bool, Kind)>) {
                out.push((
                    ProjectedField::<M>::name(self),
                    T::MULTI,
                    kind_of($numeric, $boolean),
                ));
            }
            fn columns(&self) -> $column {
                $column {
                    name: Cow::Borrowed(ProjectedField::<M>::name(self)),
                }
            }
            fn decode(
                &self,
                attrs: &Value,
            ) -> std::result::Result<Option<T::Elem>, (String, String)> {
                let name = ProjectedField::<M>::name(self);
                text_of(attr(attrs, name))
                    .map(|raw| decode_value::<T::Elem>(raw, $numeric))
                    .transpose()
                    .map_err(|e| (name.to_owned(), e))
            }
        }
    };
}
group_key!(TagField, false, false, Column);
group_key!(NumericField, true, false, NumColumn);
group_key!(BoolField, false, true, Column);
group_key!(TextField, false, false, Column);

impl<M, H: GroupKeys<M>, const A: bool, const B: bool> GroupKeys<M> for Absent<M, H, A, B> {
    type Output = H::Output;
    type Columns = H::Columns;
    fn attrs(&self, out: &mut Vec<(&'static str, bool, Kind)>) {
        (**self).attrs(out)
    }
    fn columns(&self) -> H::Columns {
        (**self).columns()
    }
    fn decode(&self, attrs: &Value) -> std::result::Result<H::Output, (String, String)> {
        (**self).decode(attrs)
    }
}

macro_rules! group_tuple {
    ($($p:ident $i:tt),*) => {
        impl<M, $($p: GroupKeys<M>),*> GroupKeys<M> for ($($p,)*) {
            type Output = ($($p::Output,)*);
            type Columns = ($($p::Columns,)*);
            fn attrs(&self, out: &mut Vec<(&'static str, bool, Kind)>) {
                $( self.$i.attrs(out); )*
            }
            fn columns(&self) -> Self::Columns {
                ($( self.$i.columns(), )*)
            }
            fn decode(&self, attrs: &Value) -> std::result::Result<Self::Output, (String, String)> {
                Ok(($( self.$i.decode(attrs)?, )*))
            }
        }
    };
}
/// No grouping: the whole set is one group (`GROUPBY 0`).
impl<M> GroupKeys<M> for () {
    type Output = ();
    type Columns = ();
    fn attrs(&self, _: &mut Vec<(&'static str, bool, Kind)>) {}
    fn columns(&self) {}
    fn decode(&self, _: &Value) -> std::result::Result<(), (String, String)> {
        Ok(())
    }
}
group_tuple!(A 0);
group_tuple!(A 0, B 1);
group_tuple!(A 0, B 1, C 2);
group_tuple!(A 0, B 1, C 2, D 3);

// ---------------------------------------------------------------------------
// Reducers.

/// One reducer's arguments as it writes them.
#[doc(hidden)]
#[derive(Debug)]
pub struct ReduceArgs {
    function: &'static str,
    args: Vec<String>,
    /// Attributes it reads that must be loaded (exact values).
    loads: Vec<&'static str>,
    /// Every attribute it reads (for the live-schema check).
    uses: Vec<&'static str>,
    /// Why it cannot run (a quantile out of range).
    invalid: Option<String>,
    /// How its result reads as JSON.
    kind: Kind,
}

impl ReduceArgs {
    fn new(function: &'static str, args: Vec<String>, uses: Vec<&'static str>) -> Self {
        ReduceArgs {
            function,
            args,
            loads: Vec::new(),
            uses,
            invalid: None,
            kind: Kind::Number,
        }
    }
}

/// A reducer ([`reduce`](crate::reduce)): what it computes over each group,
/// and the type of its result.
pub trait Reducer<M> {
    /// The decoded result.
    type Output;
    /// Its column: [`NumColumn`] for numbers (usable in `apply`, `having`),
    /// else [`Column`].
    type Column;
    #[doc(hidden)]
    fn args(&self) -> ReduceArgs;
    #[doc(hidden)]
    fn name(&self) -> Option<&'static str> {
        None
    }
    #[doc(hidden)]
    fn column(name: Cow<'static, str>) -> Self::Column;
    #[doc(hidden)]
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<Self::Output, String>;
}

/// Reducers to apply ([`Grouped::reduce`]): one, or a tuple of up to 8.
pub trait Reducers<M> {
    /// The decoded results of one group.
    type Output;
    /// Their columns.
    type Columns;
    #[doc(hidden)]
    fn write(&self, start: usize, out: &mut Vec<(Cow<'static, str>, ReduceArgs)>);
    #[doc(hidden)]
    fn columns(&self, start: usize) -> Self::Columns;
    #[doc(hidden)]
    fn decode(
        &self,
        start: usize,
        attrs: &Value,
    ) -> std::result::Result<Self::Output, (String, String)>;
}

fn alias_of(name: Option<&'static str>, i: usize) -> Cow<'static, str> {
    match name {
        Some(name) => Cow::Borrowed(name),
        None => REDUCER_ALIASES
            .get(i)
            .map(|a| Cow::Borrowed(*a))
            .unwrap_or_else(|| Cow::Owned(format!("r{i}"))),
    }
}

macro_rules! single_reducer {
    ($ty:ty; $($g:ident),*) => {
        impl<M, $($g),*> Reducers<M> for $ty
        where
            $ty: Reducer<M>,
        {
            type Output = <$ty as Reducer<M>>::Output;
            type Columns = <$ty as Reducer<M>>::Column;
            fn write(&self, start: usize, out: &mut Vec<(Cow<'static, str>, ReduceArgs)>) {
                out.push((alias_of(Reducer::<M>::name(self), start), Reducer::<M>::args(self)));
            }
            fn columns(&self, start: usize) -> Self::Columns {
                <$ty as Reducer<M>>::column(alias_of(Reducer::<M>::name(self), start))
            }
            fn decode(
                &self,
                start: usize,
                attrs: &Value,
            ) -> std::result::Result<Self::Output, (String, String)> {
                let alias = alias_of(Reducer::<M>::name(self), start);
                Reducer::<M>::decode(self, attr(attrs, &alias))
                    .map_err(|e| (alias.into_owned(), e))
            }
        }
    };
}
single_reducer!(Count;);
single_reducer!(CountDistinct<M>;);
single_reducer!(Numeric<M>;);
single_reducer!(ToList<M, E>; E);
single_reducer!(FirstValue<M, E>; E);

macro_rules! reducer_tuple {
    ($($p:ident $i:tt),*) => {
        impl<M, $($p: Reducer<M>),*> Reducers<M> for ($($p,)*) {
            type Output = ($($p::Output,)*);
            type Columns = ($($p::Column,)*);
            fn write(&self, start: usize, out: &mut Vec<(Cow<'static, str>, ReduceArgs)>) {
                $( out.push((alias_of(self.$i.name(), start + $i), self.$i.args())); )*
            }
            fn columns(&self, start: usize) -> Self::Columns {
                ($( $p::column(alias_of(self.$i.name(), start + $i)), )*)
            }
            fn decode(
                &self,
                start: usize,
                attrs: &Value,
            ) -> std::result::Result<Self::Output, (String, String)> {
                Ok(($( {
                    let alias = alias_of(self.$i.name(), start + $i);
                    Reducer::decode(&self.$i, attr(attrs, &alias))
                        .map_err(|e| (alias.into_owned(), e))?
                }, )*))
            }
        }
    };
}
reducer_tuple!(A 0);
reducer_tuple!(A 0, B 1);
reducer_tuple!(A 0, B 1, C 2);
reducer_tuple!(A 0, B 1, C 2, D 3);
reducer_tuple!(A 0, B 1, C 2, D 3, E 4);
reducer_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
reducer_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
reducer_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A field a reducer reads: any indexed field's handle (`count_distinct`,
/// `tolist`, `first_value`).
pub trait ReducedField<M> {
    /// The type of one value.
    type Elem: HashValue;
    #[doc(hidden)]
    fn attr(&self) -> &'static str;
    #[doc(hidden)]
    fn numeric(&self) -> bool;
    /// Holds several values (a list in a JSON model): reducers would see
    /// only the first.
    #[doc(hidden)]
    fn multi(&self) -> bool;
    /// Reads as a bool.
    #[doc(hidden)]
    fn boolean(&self) -> bool {
        false
    }
}

/// A numeric field a reducer reads (`sum`, `avg`, `min`, `max`, `stddev`,
/// `quantile`): summing a TAG does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a numeric field",
    label = "sum, avg, min, max, stddev and quantile take a numeric field",
    note = "count_distinct, tolist and first_value take any indexed field"
)]
pub trait NumericReducedField<M>: ReducedField<M> {}

macro_rules! reduced_field {
    ($handle:ident, $numeric:literal, $boolean:literal) => {
        impl<M, T: Indexable, const S: bool> ReducedField<M> for $handle<M, T, S> {
            type Elem = T::Elem;
            fn attr(&self) -> &'static str {
                ProjectedField::<M>::name(self)
            }
            fn numeric(&self) -> bool {
                $numeric
            }
            fn multi(&self) -> bool {
                T::MULTI
            }
            fn boolean(&self) -> bool {
                $boolean
            }
        }
    };
}
reduced_field!(TagField, false, false);
reduced_field!(NumericField, true, false);
reduced_field!(BoolField, false, true);
reduced_field!(TextField, false, false);
impl<M, T: Indexable, const S: bool> NumericReducedField<M> for NumericField<M, T, S> {}

impl<M, H: ReducedField<M>, const A: bool, const B: bool> ReducedField<M> for Absent<M, H, A, B> {
    type Elem = H::Elem;
    fn attr(&self) -> &'static str {
        (**self).attr()
    }
    fn numeric(&self) -> bool {
        (**self).numeric()
    }
    fn multi(&self) -> bool {
        (**self).multi()
    }
    fn boolean(&self) -> bool {
        (**self).boolean()
    }
}
impl<M, H: NumericReducedField<M>, const A: bool, const B: bool> NumericReducedField<M>
    for Absent<M, H, A, B>
{
}

/// The reducers of [`Grouped::reduce`] and [`Query::aggregate`].
pub mod reduce {
    use super::*;

    /// How many documents are in the group (`COUNT`): `u64`.
    pub fn count() -> Count {
        Count { name: None }
    }

    /// How many different values `field` takes in the group
    /// (`COUNT_DISTINCT`, exact): `u64`.
    pub fn count_distinct<M, F: ReducedField<M>>(field: F) -> CountDistinct<M> {
        CountDistinct {
            attr: field.attr(),
            multi: field.multi(),
            name: None,
            _m: PhantomData,
        }
    }

    /// The sum of a numeric field (`SUM`): `f64`.
    pub fn sum<M, F: NumericReducedField<M>>(field: F) -> Numeric<M> {
        Numeric::of("SUM", &field, Vec::new())
    }

    /// The average of a numeric field (`AVG`): `f64`.
    pub fn avg<M, F: NumericReducedField<M>>(field: F) -> Numeric<M> {
        Numeric::of("AVG", &field, Vec::new())
    }

    /// The smallest value of a numeric field (`MIN`): `f64`.
    pub fn min<M, F: NumericReducedField<M>>(field: F) -> Numeric<M> {
        Numeric::of("MIN", &field, Vec::new())
    }

    /// The largest value of a numeric field (`MAX`): `f64`.
    pub fn max<M, F: NumericReducedField<M>>(field: F) -> Numeric<M> {
        Numeric::of("MAX", &field, Vec::new())
    }

    /// The standard deviation of a numeric field (`STDDEV`): `f64`.
    pub fn stddev<M, F: NumericReducedField<M>>(field: F) -> Numeric<M> {
        Numeric::of("STDDEV", &field, Vec::new())
    }

    /// The `q` quantile (0 to 1) of a numeric field (`QUANTILE`): `f64`.
    pub fn quantile<M, F: NumericReducedField<M>>(field: F, q: f64) -> Numeric<M> {
        let mut reducer = Numeric::of("QUANTILE", &field, vec![q.to_string()]);
        if !(0.0..=1.0).contains(&q) {
            reducer.invalid = Some(format!("a quantile must be within 0..=1, not {q}"));
        }
        reducer
    }

    /// Every value of `field` in the group (`TOLIST`, each once, in no
    /// particular order): `Vec` of the field's value type.
    pub fn tolist<M, F: ReducedField<M>>(field: F) -> ToList<M, F::Elem> {
        ToList {
            attr: field.attr(),
            numeric: field.numeric(),
            boolean: field.boolean(),
            multi: field.multi(),
            name: None,
            _m: PhantomData,
        }
    }

    /// The value of `field` in one of the group's documents (`FIRST_VALUE`):
    /// `Option` of the field's value type (`None` when that document lacks
    /// it). With [`by`](FirstValue::by), the document with the smallest or
    /// largest value of another field.
    pub fn first_value<M, F: ReducedField<M>>(field: F) -> FirstValue<M, F::Elem> {
        FirstValue {
            attr: field.attr(),
            numeric: field.numeric(),
            multi: field.multi(),
            by: None,
            name: None,
            _m: PhantomData,
        }
    }
}

/// `count()`.
#[derive(Debug, Clone)]
pub struct Count {
    name: Option<&'static str>,
}

/// `count_distinct(field)`.
#[derive(Debug)]
pub struct CountDistinct<M> {
    attr: &'static str,
    multi: bool,
    name: Option<&'static str>,
    _m: PhantomData<fn() -> M>,
}

/// `sum`, `avg`, `min`, `max`, `stddev`, `quantile`.
#[derive(Debug)]
pub struct Numeric<M> {
    function: &'static str,
    attr: &'static str,
    extra: Vec<String>,
    invalid: Option<String>,
    name: Option<&'static str>,
    _m: PhantomData<fn() -> M>,
}

impl<M> Numeric<M> {
    fn of<F: ReducedField<M>>(function: &'static str, field: &F, extra: Vec<String>) -> Self {
        let mut numeric = Self::new(function, field.attr(), extra);
        numeric.invalid = multi_error(field.multi(), field.attr());
        numeric
    }

    fn new(function: &'static str, attr: &'static str, extra: Vec<String>) -> Self {
        Numeric {
            function,
            attr,
            extra,
            invalid: None,
            name: None,
            _m: PhantomData,
        }
    }
}

/// `tolist(field)`.
#[derive(Debug)]
pub struct ToList<M, E> {
    attr: &'static str,
    numeric: bool,
    boolean: bool,
    multi: bool,
    name: Option<&'static str>,
    _m: PhantomData<fn() -> (M, E)>,
}

/// `first_value(field)`.
#[derive(Debug)]
pub struct FirstValue<M, E> {
    attr: &'static str,
    numeric: bool,
    multi: bool,
    by: Option<(&'static str, SortOrder)>,
    name: Option<&'static str>,
    _m: PhantomData<fn() -> (M, E)>,
}

impl<M, E> FirstValue<M, E> {
    /// The value in the document with the smallest (`Asc`) or largest
    /// (`Desc`) value of `field` (`FIRST_VALUE … BY @f ASC|DESC`).
    pub fn by<F: ReducedField<M>>(mut self, field: F, order: SortOrder) -> Self {
        self.by = Some((field.attr(), order));
        self
    }
}

macro_rules! named {
    ($($ty:ident $(<$($g:ident),*>)?),*) => {$(
        impl$(<$($g),*>)? $ty$(<$($g),*>)? {
            /// Names the reducer's column (default `r0`, `r1`, … by position),
            /// as [`Aggregate::rows_as`] reads it.
            pub fn named(mut self, name: &'static str) -> Self {
                self.name = Some(name);
                self
            }
        }
    )*};
}
named!(Count, CountDistinct<M>, Numeric<M>, ToList<M, E>, FirstValue<M, E>);

/// `@attr` as `LOAD`, `GROUPBY`, `REDUCE` and `SORTBY` take it: the name as
/// it is (the server does not unescape it there, unlike in a query).
fn field_arg(attr: &str) -> String {
    format!("@{attr}")
}

/// A name an aggregation expression (`APPLY`, `FILTER`) can refer to.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

fn multi_error(multi: bool, attr: &str) -> Option<String> {
    multi.then(|| {
        format!("`{attr}` holds several values (a list): a reducer would see only the first")
    })
}

fn count_of(raw: Option<&Value>) -> std::result::Result<u64, String> {
    let n = number(raw, "count")?;
    if n >= 0.0 && n.fract() == 0.0 && n < EXACT_LIMIT {
        Ok(n as u64)
    } else {
        Err(format!("{n} is not a count"))
    }
}

impl<M> Reducer<M> for Count {
    type Output = u64;
    type Column = NumColumn;
    fn args(&self) -> ReduceArgs {
        ReduceArgs::new("COUNT", Vec::new(), Vec::new())
    }
    fn name(&self) -> Option<&'static str> {
        self.name
    }
    fn column(name: Cow<'static, str>) -> NumColumn {
        NumColumn { name }
    }
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<u64, String> {
        count_of(raw)
    }
}

impl<M> Reducer<M> for CountDistinct<M> {
    type Output = u64;
    type Column = NumColumn;
    fn args(&self) -> ReduceArgs {
        let mut args = ReduceArgs::new(
            "COUNT_DISTINCT",
            vec![field_arg(self.attr)],
            vec![self.attr],
        );
        args.loads.push(self.attr);
        args.invalid = multi_error(self.multi, self.attr);
        args
    }
    fn name(&self) -> Option<&'static str> {
        self.name
    }
    fn column(name: Cow<'static, str>) -> NumColumn {
        NumColumn { name }
    }
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<u64, String> {
        count_of(raw)
    }
}

impl<M> Reducer<M> for Numeric<M> {
    type Output = f64;
    type Column = NumColumn;
    fn args(&self) -> ReduceArgs {
        let mut args = vec![field_arg(self.attr)];
        args.extend(self.extra.iter().cloned());
        let mut args = ReduceArgs::new(self.function, args, vec![self.attr]);
        args.invalid = self.invalid.clone();
        args
    }
    fn name(&self) -> Option<&'static str> {
        self.name
    }
    fn column(name: Cow<'static, str>) -> NumColumn {
        NumColumn { name }
    }
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<f64, String> {
        number(raw, self.function)
    }
}

impl<M, E: HashValue> Reducer<M> for ToList<M, E> {
    type Output = Vec<E>;
    type Column = Column;
    fn args(&self) -> ReduceArgs {
        let mut args = ReduceArgs::new("TOLIST", vec![field_arg(self.attr)], vec![self.attr]);
        args.loads.push(self.attr);
        args.kind = if self.boolean {
            Kind::ListBool
        } else {
            Kind::List(self.numeric)
        };
        args.invalid = multi_error(self.multi, self.attr);
        args
    }
    fn name(&self) -> Option<&'static str> {
        self.name
    }
    fn column(name: Cow<'static, str>) -> Column {
        Column { name }
    }
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<Vec<E>, String> {
        let items = match raw {
            Some(Value::Array(items)) | Some(Value::Set(items)) => items.as_slice(),
            None => &[],
            Some(_) => return Err("TOLIST did not return a list".into()),
        };
        items
            .iter()
            .filter_map(bytes_of)
            .map(|raw| decode_value::<E>(raw, self.numeric))
            .collect()
    }
}

impl<M, E: HashValue> Reducer<M> for FirstValue<M, E> {
    type Output = Option<E>;
    type Column = Column;
    fn args(&self) -> ReduceArgs {
        let mut args = vec![field_arg(self.attr)];
        let mut uses = vec![self.attr];
        if let Some((by, order)) = self.by {
            args.extend(["BY".to_owned(), field_arg(by), order.as_str().to_owned()]);
            uses.push(by);
        }
        let mut args = ReduceArgs::new("FIRST_VALUE", args, uses.clone());
        args.loads = uses;
        args.invalid = multi_error(self.multi, self.attr);
        args.kind = kind_of(self.numeric, false);
        args
    }
    fn name(&self) -> Option<&'static str> {
        self.name
    }
    fn column(name: Cow<'static, str>) -> Column {
        Column { name }
    }
    fn decode(&self, raw: Option<&Value>) -> std::result::Result<Option<E>, String> {
        text_of(raw)
            .map(|raw| decode_value::<E>(raw, self.numeric))
            .transpose()
    }
}

// ---------------------------------------------------------------------------
// The builder.

/// A query grouped by fields ([`Query::group_by`]), waiting for its reducers.
#[must_use = "add reducers with `.reduce(|f| …)`"]
pub struct Grouped<M, G> {
    query: Query<M>,
    keys: G,
}

impl<M, G: std::fmt::Debug> std::fmt::Debug for Grouped<M, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").field("keys", &self.keys).finish()
    }
}

impl<M: Model> Query<M> {
    /// Groups the documents this query matches by `keys` (a field handle or
    /// a tuple of up to 4), to be reduced with [`Grouped::reduce`].
    ///
    /// ```no_run
    /// # use redis_om::prelude::*;
    /// use redis_om::reduce::{avg, count, sum};
    /// # #[derive(HashModel)]
    /// # struct Order { pk: Option<String>, #[redis_om(index)] city: String, #[redis_om(index)] paid: bool, #[redis_om(index)] total: f64 }
    /// # async fn run() -> redis_om::Result<()> {
    /// # let mut con = redis_om::connect(redis_om::url()).await?;
    /// // Per city: how many paid orders, their sum and average, largest sums first.
    /// let rows: Vec<(Option<String>, (u64, f64, f64), ())> = Order::find(|o| o.paid.eq(true))
    ///     .group_by(|o| o.city)
    ///     .reduce(|o| (count(), sum(o.total), avg(o.total)))
    ///     .sort_by(|(_, (_, total, _), _)| total, SortOrder::Desc)
    ///     .all(&mut con)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn group_by<G: GroupKeys<M>>(self, keys: impl FnOnce(&M::Fields) -> G) -> Grouped<M, G> {
        Grouped {
            keys: keys(&M::fields()),
            query: self,
        }
    }

    /// Reduces every document this query matches into one row (`GROUPBY 0`):
    /// `Find::find_all().aggregate(|o| (count(), sum(o.total)))`.
    pub fn aggregate<R: Reducers<M>>(
        self,
        reducers: impl FnOnce(&M::Fields) -> R,
    ) -> Aggregate<M, (), R> {
        Grouped {
            query: self,
            keys: (),
        }
        .reduce(reducers)
    }
}

impl<M: Model, G: GroupKeys<M>> Grouped<M, G> {
    /// What to compute over each group: a reducer of
    /// [`reduce`](crate::reduce), or a tuple of up to 8.
    pub fn reduce<R: Reducers<M>>(
        self,
        reducers: impl FnOnce(&M::Fields) -> R,
    ) -> Aggregate<M, G, R> {
        Aggregate {
            query: self.query,
            keys: self.keys,
            reducers: reducers(&M::fields()),
            applies: Vec::new(),
            having: Vec::new(),
            sort: Vec::new(),
            limit: None,
            batch: 1000,
            _applied: PhantomData,
        }
    }
}

/// An aggregation: run it with [`AsyncAggregate`] (`all`, `stream`) or
/// [`SyncAggregate`] (`all`). Each row is `(group values, reducer results)`,
/// plus the computed columns after [`apply`](Self::apply).
#[must_use = "an aggregation does nothing until it is run (`all`, `stream`)"]
pub struct Aggregate<M, G, R, A = ()> {
    query: Query<M>,
    keys: G,
    reducers: R,
    /// Each computed column's expression and name.
    applies: Vec<(std::result::Result<String, String>, Cow<'static, str>)>,
    having: Vec<std::result::Result<String, String>>,
    sort: Vec<(Cow<'static, str>, SortOrder)>,
    limit: Option<(u64, u64)>,
    batch: usize,
    _applied: PhantomData<fn() -> A>,
}

impl<M, G: std::fmt::Debug, R: std::fmt::Debug, A> std::fmt::Debug for Aggregate<M, G, R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregate")
            .field("keys", &self.keys)
            .field("reducers", &self.reducers)
            .field("applies", &self.applies)
            .field("having", &self.having)
            .field("sort", &self.sort)
            .field("limit", &self.limit)
            .finish()
    }
}

/// The computed columns of an aggregation: none, or up to 4 `f64`s.
pub trait Applied {
    /// Their decoded values.
    type Output;
    /// Their columns.
    type Columns;
    /// With one more.
    type Next: Applied;
    #[doc(hidden)]
    fn columns(names: &[Cow<'static, str>]) -> Self::Columns;
    #[doc(hidden)]
    fn decode(
        attrs: &Value,
        names: &[Cow<'static, str>],
    ) -> std::result::Result<Self::Output, (String, String)>;
}

fn applied(
    attrs: &Value,
    names: &[Cow<'static, str>],
    i: usize,
) -> std::result::Result<f64, (String, String)> {
    let alias = names.get(i).map(|n| n.as_ref()).unwrap_or(APPLY_ALIASES[i]);
    number(attr(attrs, alias), alias).map_err(|e| (alias.to_owned(), e))
}

fn apply_column(names: &[Cow<'static, str>], i: usize) -> NumColumn {
    NumColumn {
        name: names
            .get(i)
            .cloned()
            .unwrap_or(Cow::Borrowed(APPLY_ALIASES[i])),
    }
}

impl Applied for () {
    type Output = ();
    type Columns = ();
    type Next = (f64,);
    fn columns(_: &[Cow<'static, str>]) {}
    fn decode(_: &Value, _: &[Cow<'static, str>]) -> std::result::Result<(), (String, String)> {
        Ok(())
    }
}

macro_rules! applied_tuple {
    ($next:ty; $($f:ident $i:tt),*) => {
        impl Applied for ($($f,)*) {
            type Output = ($($f,)*);
            type Columns = ($(applied_tuple!(@col $f),)*);
            type Next = $next;
            fn columns(names: &[Cow<'static, str>]) -> Self::Columns {
                ($(apply_column(names, $i),)*)
            }
            fn decode(
                attrs: &Value,
                names: &[Cow<'static, str>],
            ) -> std::result::Result<Self::Output, (String, String)> {
                Ok(($(applied(attrs, names, $i)?,)*))
            }
        }
    };
    (@col $f:ident) => { NumColumn };
}
applied_tuple!((f64, f64); f64 0);
applied_tuple!((f64, f64, f64); f64 0, f64 1);
applied_tuple!((f64, f64, f64, f64); f64 0, f64 1, f64 2);
// No fifth: `apply` refuses it when the aggregation runs.
applied_tuple!((f64, f64, f64, f64); f64 0, f64 1, f64 2, f64 3);

/// The columns a closure of [`Aggregate::sort_by`], [`apply`](Aggregate::apply)
/// and [`having`](Aggregate::having) receives: the group fields', the
/// reducers' and the computed ones.
pub type Columns<M, G, R, A> = (
    <G as GroupKeys<M>>::Columns,
    <R as Reducers<M>>::Columns,
    <A as Applied>::Columns,
);

impl<M: Model, G: GroupKeys<M>, R: Reducers<M>, A: Applied> Aggregate<M, G, R, A> {
    fn apply_names(&self) -> Vec<Cow<'static, str>> {
        self.applies.iter().map(|(_, name)| name.clone()).collect()
    }

    fn columns(&self) -> Columns<M, G, R, A> {
        (
            self.keys.columns(),
            self.reducers.columns(0),
            A::columns(&self.apply_names()),
        )
    }

    /// Adds a computed column (`APPLY expr`): arithmetic over numeric columns
    /// and numbers, e.g. `|(_, (n, total), ())| (total / n).floor()`. Up to 4;
    /// each comes back as an `f64` after the reducers, named `a0`, `a1`, …
    /// for [`rows_as`](AsyncAggregate::rows_as) (see
    /// [`apply_named`](Self::apply_named)).
    pub fn apply(
        self,
        expr: impl FnOnce(Columns<M, G, R, A>) -> AggExpr,
    ) -> Aggregate<M, G, R, A::Next> {
        let i = self.applies.len().min(APPLY_ALIASES.len() - 1);
        self.apply_named(APPLY_ALIASES[i], expr)
    }

    /// [`apply`](Self::apply), naming the column `name`.
    pub fn apply_named(
        self,
        name: &'static str,
        expr: impl FnOnce(Columns<M, G, R, A>) -> AggExpr,
    ) -> Aggregate<M, G, R, A::Next> {
        let expr = expr(self.columns());
        let mut applies = self.applies;
        let text = if applies.len() >= APPLY_ALIASES.len() {
            Err("at most 4 computed columns".to_owned())
        } else if let Some(error) = expr.text.split('\u{0}').nth(1) {
            Err(error.to_owned())
        } else {
            Ok(expr.text)
        };
        applies.push((text, Cow::Borrowed(name)));
        Aggregate {
            query: self.query,
            keys: self.keys,
            reducers: self.reducers,
            applies,
            having: self.having,
            sort: self.sort,
            limit: self.limit,
            batch: self.batch,
            _applied: PhantomData,
        }
    }

    /// Keeps only the groups for which `condition` holds (`FILTER`), e.g.
    /// `|(_, n, _)| n.gt(10.0)`.
    pub fn having(mut self, condition: impl FnOnce(Columns<M, G, R, A>) -> Having) -> Self {
        let condition = condition(self.columns());
        self.having.push(condition.text);
        self
    }

    /// Sorts the groups by a column (a group field, a reducer or a computed
    /// column); call again for ties.
    pub fn sort_by<C: Into<Column>>(
        mut self,
        column: impl FnOnce(Columns<M, G, R, A>) -> C,
        order: SortOrder,
    ) -> Self {
        let column = column(self.columns()).into();
        self.sort.push((column.name, order));
        self
    }

    /// Only `count` groups, after skipping `offset` (`LIMIT`).
    pub fn limit(mut self, offset: u64, count: u64) -> Self {
        self.limit = Some((offset, count));
        self
    }

    /// The most groups each round trip reads (default and maximum 1,000;
    /// round trips also stay within about 4 MiB).
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The search plan of the documents aggregated (for the live-schema
    /// check and errors), with the query text and parameters.
    fn plan(&self) -> Result<Option<Plan>> {
        let mut plan = match self.query.plan_with(Load::Key)? {
            Some(plan) => plan,
            None => return Ok(None),
        };
        // The fields used, as the live-schema check looks for them.
        let mut used = Vec::new();
        self.keys.attrs(&mut used);
        for (attr, multi, _) in &used {
            if *multi {
                return Err(Error::InvalidArgument(format!(
                    "`{attr}` holds several values (a list): RediSearch cannot group by it"
                )));
            }
        }
        let mut reducers = Vec::new();
        self.reducers.write(0, &mut reducers);
        for (alias, args) in &reducers {
            if let Some(reason) = &args.invalid {
                return Err(Error::InvalidArgument(format!("{alias}: {reason}")));
            }
        }
        // Every column has its own name, one an expression can refer to (a
        // clash would silently replace a column).
        let mut names: Vec<&str> = used.iter().map(|(a, _, _)| *a).collect();
        for (alias, _) in &reducers {
            if !plain(alias) {
                return Err(Error::InvalidArgument(format!(
                    "the reducer name `{alias}`: use letters, digits and _ only"
                )));
            }
            names.push(alias);
        }
        for (_, name) in &self.applies {
            if !plain(name) {
                return Err(Error::InvalidArgument(format!(
                    "the computed column name `{name}`: use letters, digits and _ only"
                )));
            }
            names.push(name);
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(**n)) {
            return Err(Error::InvalidArgument(format!(
                "two columns of the aggregation are named `{dup}`: name them apart (`named`, \
                 `apply_named`)"
            )));
        }
        plan.sort = None;
        Ok(Some(plan))
    }

    /// `FT.AGGREGATE … WITHCURSOR`, given the number of matching documents
    /// when the groups are sorted without a limit (RediSearch sorts only the
    /// first 10 unless told how many: `MAX`).
    fn command(&self, plan: &Plan, matches: Option<u64>, count: usize) -> Result<redis::Cmd> {
        let mut cmd = redis::cmd("FT.AGGREGATE");
        cmd.arg(plan.index).arg(&plan.query);
        if plan.scoped() {
            // Scoped as every other read (`Plan::scoped`), but on the
            // server: groups cannot be filtered once reduced.
            cmd.arg("LOAD").arg(1).arg("@__key");
            for (_, prefix) in plan.layout.nested_models() {
                cmd.arg("FILTER").arg(format!(
                    "!startswith(@__key, {})",
                    expression_string(prefix)
                ));
            }
        }
        let mut keys = Vec::new();
        self.keys.attrs(&mut keys);
        let mut reducers = Vec::new();
        self.reducers.write(0, &mut reducers);
        // Exact values: load group fields and listed values from the documents.
        let mut loads: Vec<&'static str> = keys.iter().map(|(a, _, _)| *a).collect();
        for (_, args) in &reducers {
            loads.extend(args.loads.iter().copied());
        }
        loads.sort_unstable();
        loads.dedup();
        if !loads.is_empty() {
            cmd.arg("LOAD").arg(loads.len());
            for attr in &loads {
                cmd.arg(field_arg(attr));
            }
        }
        cmd.arg("GROUPBY").arg(keys.len());
        for (attr, _, _) in &keys {
            cmd.arg(field_arg(attr));
        }
        for (alias, args) in &reducers {
            cmd.arg("REDUCE")
                .arg(args.function)
                .arg(args.args.len())
                .arg(&args.args)
                .arg("AS")
                .arg(alias.as_ref());
        }
        for (expr, name) in &self.applies {
            let expr = expr.clone().map_err(Error::InvalidArgument)?;
            cmd.arg("APPLY").arg(expr).arg("AS").arg(name.as_ref());
        }
        for having in &self.having {
            let condition = having.clone().map_err(Error::InvalidArgument)?;
            cmd.arg("FILTER").arg(condition);
        }
        if !self.sort.is_empty() {
            cmd.arg("SORTBY").arg(self.sort.len() * 2);
            for (name, order) in &self.sort {
                cmd.arg(field_arg(name)).arg(order.as_str());
            }
            let max = match (self.limit, matches) {
                (Some((offset, count)), _) => offset.saturating_add(count),
                (None, Some(matches)) => matches,
                (None, None) => 1000,
            };
            cmd.arg("MAX").arg(max.max(1));
        }
        if let Some((offset, count)) = self.limit {
            cmd.arg("LIMIT").arg(offset).arg(count);
        }
        crate::query::cursor::with_cursor(&mut cmd, count, crate::query::cursor::READ_IDLE);
        let count = plan.params.len() + plan.blobs.len();
        if count > 0 {
            cmd.arg("PARAMS").arg(count * 2);
            for (name, value) in &plan.params {
                cmd.arg(name.as_ref()).arg(value);
            }
            for (name, value) in &plan.blobs {
                cmd.arg(name.as_ref()).arg(value.as_slice());
            }
        }
        cmd.arg("DIALECT").arg(2);
        Ok(cmd)
    }

    fn decode_row(&self, attrs: &Value) -> Result<AggRow<M, G, R, A>> {
        // Named as the user wrote them: the aggregation, and a reducer by
        // its function and arguments rather than its internal column (`r0`).
        let fail = |(column, reason): (String, String)| {
            let mut reducers = Vec::new();
            self.reducers.write(0, &mut reducers);
            let field = match reducers.iter().find(|(alias, _)| *alias == column) {
                Some((_, args)) => format!(
                    "{column} = {}({})",
                    args.function.to_ascii_lowercase(),
                    args.args.join(", ")
                ),
                None => column,
            };
            Error::Decode {
                key: format!("an aggregation over index {}", self.query_index()),
                field: Some(field),
                reason,
            }
        };
        Ok((
            self.keys.decode(attrs).map_err(fail)?,
            self.reducers.decode(0, attrs).map_err(fail)?,
            A::decode(attrs, &self.apply_names()).map_err(fail)?,
        ))
    }

    /// Every column with its kind, in row order.
    fn kinds(&self) -> Vec<(Cow<'static, str>, Kind)> {
        let mut keys = Vec::new();
        self.keys.attrs(&mut keys);
        let mut out: Vec<(Cow<'static, str>, Kind)> = keys
            .into_iter()
            .map(|(a, _, kind)| (Cow::Borrowed(a), kind))
            .collect();
        let mut reducers = Vec::new();
        self.reducers.write(0, &mut reducers);
        out.extend(reducers.into_iter().map(|(alias, args)| (alias, args.kind)));
        out.extend(
            self.applies
                .iter()
                .map(|(_, name)| (name.clone(), Kind::Number)),
        );
        out
    }

    /// One row as a JSON object of its columns, for `rows_as`.
    fn json_row(&self, kinds: &[(Cow<'static, str>, Kind)], attrs: &Value) -> serde_json::Value {
        let text = |v: &Value| bytes_of(v).map(|b| String::from_utf8_lossy(b).into_owned());
        let number = |t: String| match serde_json::from_str::<serde_json::Number>(t.trim()) {
            Ok(n) => serde_json::Value::Number(n),
            Err(_) => serde_json::Value::String(t),
        };
        let mut object = serde_json::Map::new();
        for (name, kind) in kinds {
            let raw = attr(attrs, name);
            let value = match (kind, raw) {
                (_, None) => serde_json::Value::Null,
                (Kind::List(numeric), Some(Value::Array(items) | Value::Set(items))) => {
                    serde_json::Value::Array(
                        items
                            .iter()
                            .filter_map(text)
                            .map(|t| {
                                if *numeric {
                                    number(t)
                                } else {
                                    serde_json::Value::String(t)
                                }
                            })
                            .collect(),
                    )
                }
                (Kind::ListBool, Some(Value::Array(items) | Value::Set(items))) => {
                    serde_json::Value::Array(
                        items
                            .iter()
                            .filter_map(text)
                            .map(|t| match t.as_str() {
                                "1" | "true" => serde_json::Value::Bool(true),
                                "0" | "false" => serde_json::Value::Bool(false),
                                _ => serde_json::Value::String(t),
                            })
                            .collect(),
                    )
                }
                (Kind::Number, Some(v)) => text(v).map(number).unwrap_or_default(),
                (Kind::Bool, Some(v)) => match text(v).as_deref() {
                    Some("1" | "true") => serde_json::Value::Bool(true),
                    Some("0" | "false") => serde_json::Value::Bool(false),
                    Some(other) => serde_json::Value::String(other.to_owned()),
                    None => serde_json::Value::Null,
                },
                (_, Some(v)) => text(v).map(serde_json::Value::String).unwrap_or_default(),
            };
            object.insert(name.clone().into_owned(), value);
        }
        serde_json::Value::Object(object)
    }

    fn query_index(&self) -> &'static str {
        M::key_layout().index_name()
    }

    /// Whether the aggregation needs the number of matching documents first
    /// (sorted groups without a limit: `MAX`).
    fn needs_count(&self) -> bool {
        !self.sort.is_empty() && self.limit.is_none()
    }
}

/// One row of an aggregation: the group values, the reducer results, the
/// computed columns.
pub type AggRow<M, G, R, A> = (
    <G as GroupKeys<M>>::Output,
    <R as Reducers<M>>::Output,
    <A as Applied>::Output,
);

/// `text` as a string literal of an aggregation expression.
fn expression_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(crate) mod exec {
    //! Running an aggregation on any connection.
    use super::*;
    use crate::exec::Exec;

    /// Every row, through the cursor.
    pub(crate) async fn all<M, G, R, A, E>(
        agg: &Aggregate<M, G, R, A>,
        exec: &mut E,
        mut each: impl FnMut(&Value) -> Result<()>,
    ) -> Result<()>
    where
        M: Model,
        G: GroupKeys<M>,
        R: Reducers<M>,
        A: Applied,
        E: Exec,
    {
        // A filter that matches nothing (an empty `is_in`): no group.
        let Some(plan) = agg.plan()? else {
            return Ok(());
        };
        crate::query::live_schema::check_attrs(exec, &plan, &used_attrs(agg)).await?;
        crate::query::expansion::check(exec, &plan).await?;
        let matches = if agg.needs_count() {
            let reply = exec
                .query(&plan.search(0, 0))
                .await
                .map_err(|e| plan.error(e))?;
            Some(reply::search(reply)?.0)
        } else {
            None
        };
        // Rows in round trips of a bounded size (`crate::batch`); a cursor
        // left open by an error or a cancellation is deleted later (`cursor`).
        let mut batch = crate::batch::ReadBatch::new(agg.batch);
        let mut open =
            crate::query::cursor::OpenCursor::new(plan.index, crate::query::cursor::READ_IDLE);
        let cmd = agg.command(&plan, matches, batch.next())?;
        crate::query::cursor::reap(exec, plan.index).await;
        let mut reply = exec.query(&cmd).await.map_err(|e| plan.error(e))?;
        loop {
            let bytes = crate::batch::reply_bytes(&reply);
            let (_, rows, cursor) = reply::cursor(reply)?;
            open.set(cursor);
            batch.observe(rows.len(), bytes);
            for row in &rows {
                each(&row.attrs)?;
            }
            if cursor == 0 {
                return Ok(());
            }
            let read = crate::query::cursor::read(plan.index, cursor, batch.next());
            reply = exec.query(&read).await.map_err(|e| plan.error(e))?;
        }
    }

    fn used_attrs<M, G: GroupKeys<M>, R: Reducers<M>, A>(
        agg: &Aggregate<M, G, R, A>,
    ) -> Vec<&'static str> {
        let mut keys = Vec::new();
        agg.keys.attrs(&mut keys);
        let mut used: Vec<&'static str> = keys.into_iter().map(|(a, _, _)| a).collect();
        let mut reducers = Vec::new();
        agg.reducers.write(0, &mut reducers);
        for (_, args) in &reducers {
            used.extend(args.uses.iter().copied());
        }
        used
    }
}

/// Runs aggregations on async connections (in [`prelude`](crate)).
pub trait AsyncAggregate {
    /// One decoded row.
    type Row: Send;

    /// Every row (every group), read through a cursor of
    /// [`batch_size`](Aggregate::batch_size) rows per round trip.
    fn all<C>(
        &self,
        con: &mut C,
    ) -> impl std::future::Future<Output = Result<Vec<Self::Row>>> + Send
    where
        C: redis::aio::ConnectionLike + Send;

    /// Every row, as a struct of yours: its fields named as the columns (the
    /// group fields' names, the reducers' names from
    /// [`named`](Count::named), else `r0`, `r1`, …; computed columns `a0`, …).
    fn rows_as<T, C>(
        &self,
        con: &mut C,
    ) -> impl std::future::Future<Output = Result<Vec<T>>> + Send
    where
        T: serde::de::DeserializeOwned + Send,
        C: redis::aio::ConnectionLike + Send;
}

/// Runs aggregations on blocking connections (in
/// [`blocking::prelude`](crate::blocking::prelude)).
pub trait SyncAggregate {
    /// One decoded row.
    type Row;
    /// See [`AsyncAggregate::all`].
    fn all<C: redis::ConnectionLike>(&self, con: &mut C) -> Result<Vec<Self::Row>>;
    /// See [`AsyncAggregate::rows_as`].
    fn rows_as<T: serde::de::DeserializeOwned, C: redis::ConnectionLike>(
        &self,
        con: &mut C,
    ) -> Result<Vec<T>>;
}

impl<M, G, R, A> Aggregate<M, G, R, A>
where
    M: Model,
    G: GroupKeys<M>,
    R: Reducers<M>,
    A: Applied,
{
    async fn run_all<E: crate::exec::Exec>(&self, exec: &mut E) -> Result<Vec<AggRow<M, G, R, A>>> {
        let mut out = Vec::new();
        exec::all(self, exec, |attrs| {
            out.push(self.decode_row(attrs)?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    async fn run_rows_as<T: serde::de::DeserializeOwned, E: crate::exec::Exec>(
        &self,
        exec: &mut E,
    ) -> Result<Vec<T>> {
        let kinds = self.kinds();
        let mut out = Vec::new();
        exec::all(self, exec, |attrs| {
            let row = self.json_row(&kinds, attrs);
            let item = serde_json::from_value(row.clone()).map_err(|e| Error::Decode {
                key: format!("an aggregation over index {}", self.query_index()),
                field: None,
                reason: format!(
                    "a row {row} does not fit {}: {e}",
                    std::any::type_name::<T>()
                ),
            })?;
            out.push(item);
            Ok(())
        })
        .await?;
        Ok(out)
    }
}

impl<M, G, R, A> AsyncAggregate for Aggregate<M, G, R, A>
where
    M: Model,
    G: GroupKeys<M> + Sync,
    R: Reducers<M> + Sync,
    A: Applied,
    AggRow<M, G, R, A>: Send,
{
    type Row = AggRow<M, G, R, A>;

    async fn all<C>(&self, con: &mut C) -> Result<Vec<Self::Row>>
    where
        C: redis::aio::ConnectionLike + Send,
    {
        self.run_all(&mut crate::exec::AsyncExec(con)).await
    }

    async fn rows_as<T, C>(&self, con: &mut C) -> Result<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send,
        C: redis::aio::ConnectionLike + Send,
    {
        self.run_rows_as(&mut crate::exec::AsyncExec(con)).await
    }
}

impl<M, G, R, A> SyncAggregate for Aggregate<M, G, R, A>
where
    M: Model,
    G: GroupKeys<M>,
    R: Reducers<M>,
    A: Applied,
{
    type Row = AggRow<M, G, R, A>;

    fn all<C: redis::ConnectionLike>(&self, con: &mut C) -> Result<Vec<Self::Row>> {
        crate::exec::block_on(self.run_all(&mut crate::exec::SyncExec(con)))
    }

    fn rows_as<T: serde::de::DeserializeOwned, C: redis::ConnectionLike>(
        &self,
        con: &mut C,
    ) -> Result<Vec<T>> {
        crate::exec::block_on(self.run_rows_as(&mut crate::exec::SyncExec(con)))
    }
}
