//! `index_status`: what the server says about a model's index, including the
//! documents it refused to index (a safety net: such a document is invisible
//! to `find`).

use std::fmt;

use redis::{cmd, Value};

use crate::error::Error;
use crate::model::Model;
use crate::request::{Op, Parse, Request};

/// The state of a model's search index, from `FT.INFO`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IndexStatus {
    /// The index (or alias) that was asked about: the model's index name.
    pub index: String,
    /// How many documents the index holds.
    pub num_docs: u64,
    /// How many documents the server refused to index (`hash_indexing_failures`):
    /// they are stored but `find` does not see them. Should be 0.
    pub indexing_failures: u64,
    /// The server's message for the last refused document, if any.
    pub last_error: Option<String>,
    /// The key of the last refused document, if any.
    pub last_error_key: Option<String>,
    /// Whether the index is still being built (after the migrator created it).
    pub indexing: bool,
    /// How much of the keyspace has been scanned, 0.0 to 1.0.
    pub percent_indexed: f64,
}

impl fmt::Display for IndexStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} documents, {} refused",
            self.index, self.num_docs, self.indexing_failures
        )?;
        if let Some(key) = &self.last_error_key {
            write!(f, " (last: {key:?}")?;
            if let Some(error) = &self.last_error {
                write!(f, ": {error}")?;
            }
            write!(f, ")")?;
        }
        if self.indexing {
            write!(f, ", indexing ({:.0}%)", self.percent_indexed * 100.0)?;
        }
        Ok(())
    }
}

/// Reads an `FT.INFO` reply.
pub(crate) fn parse_info(index: &str, info: &Value) -> IndexStatus {
    let info = crate::info::IndexInfo::of(info);
    IndexStatus {
        index: index.to_owned(),
        num_docs: info.num_docs,
        indexing_failures: info.indexing_failures,
        last_error: info.last_error,
        last_error_key: info.last_error_key,
        indexing: info.indexing,
        percent_indexed: info.percent_indexed,
    }
}

/// `index_status`: `FT.INFO` on the model's index name.
pub(crate) fn index_status<M: Model>() -> Op<IndexStatus, impl Parse<IndexStatus>> {
    let index = M::key_layout().index_name().to_owned();
    let mut info = cmd("FT.INFO");
    info.arg(&index);
    Op::new(Request::Cmd(info), move |reply, _| {
        Ok(parse_info(&index, &reply))
    })
}

/// An unknown index is [`Error::IndexMissing`] ("run the Migrator").
pub(crate) fn missing<M: Model>(err: Error) -> Error {
    match err {
        Error::Redis(err) if crate::error::is_unknown_index(&err) => Error::IndexMissing {
            model: std::any::type_name::<M>().to_owned(),
            index: M::key_layout().index_name().to_owned(),
        },
        other => other,
    }
}
