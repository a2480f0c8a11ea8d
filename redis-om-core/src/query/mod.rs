//! The typed `find` query builder: [`Expr`] filters built from the field
//! handles the derives generate, a [`Query`] (sort, projection, batch size),
//! and its execution on sync or async connections ([`AsyncQuery`], [`SyncQuery`]).
//!
//! Files, bottom to top (each uses only those before it): `text`
//! (RediSearch's word rules), `expr` (filters and their query text), `field`
//! (typed handles, and which type gets which handle: `Indexable`), `reply`
//! (parsing), `plan` (the commands of one search), `builder` and `projection`
//! (what users build), `knn` (vector fields and nearest neighbours), `nearby`
//! (distances to a point),
//! `aggregate` (typed `FT.AGGREGATE`), `live_schema` (the check against the index in service),
//! `expansion` (the refusal of patterns past the server's expansion limit)
//! and `run` (execution).
//!
//! Reading every match goes through `FT.AGGREGATE … WITHCURSOR`, so `all()` and
//! `stream()` are not capped by RediSearch's `MAXSEARCHRESULTS` (10,000 on Redis
//! Stack); single pages, `first()` and `count()` are one `FT.SEARCH`.

mod aggregate;
mod builder;
mod cursor;
mod expansion;
mod expr;
mod field;
mod knn;
pub(crate) mod live_schema;
mod nearby;
mod plan;
mod projection;
mod reply;
mod run;
mod text;

pub use aggregate::{
    reduce, AggExpr, AggRow, Aggregate, Applied, AsyncAggregate, Column, Columns, Count,
    CountDistinct, FirstValue, GroupKeys, Grouped, Having, NumColumn, Numeric, NumericReducedField,
    Operand, ReducedField, Reducer, Reducers, SyncAggregate, ToList,
};
pub use builder::{Find, Page, Query};
pub(crate) use cursor::STREAM_IDLE as CURSOR_MAX_IDLE;
pub use expr::{Expr, QueryParams};
pub use field::{
    Absent, AbsentOnly, BoolField, Embedded, FieldDecoder, FieldHandle, FieldSpec, FullText,
    GeoField, HashEmbedded, Indexable, NumericField, NumericOnly, ProjectedField, SortableField,
    TagArg, TagField, TextField,
};
pub use knn::{Nearest, VectorField};
pub use nearby::ByDistance;
pub use plan::{ProjectedAttr, SortOrder};
pub use projection::{Projection, Select};
pub use run::{AsyncQuery, QueryIter, SyncQuery, UpdateReport};
pub use text::{MAX_TAG_BYTES, MAX_TEXT_WORDS, MAX_WORD_BYTES, MIN_PATTERN_CHARS};

#[cfg(feature = "fuzzing")]
pub(crate) use text::words;

/// For the fuzz entry points.
#[cfg(feature = "fuzzing")]
pub(crate) fn reply_search(value: redis::Value) -> crate::Result<u64> {
    reply::search(value).map(|(total, _)| total)
}

/// For the fuzz entry points.
#[cfg(feature = "fuzzing")]
pub(crate) fn reply_cursor(value: redis::Value) -> crate::Result<u64> {
    reply::cursor(value).map(|(_, rows, id)| {
        for row in &rows {
            let _ = row.key();
        }
        id
    })
}

#[cfg(test)]
mod tests;
