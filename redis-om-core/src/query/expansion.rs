//! Patterns that expand into more terms than the server takes.
//!
//! A prefix, suffix, contains or fuzzy condition is run as the union of the
//! index's terms that match it, and RediSearch takes at most
//! `MAXPREFIXEXPANSIONS` of them (200 by default): past that it silently drops
//! the rest. The reply carries no warning on either protocol, so
//! `starts_with("SKU-")` over 1,000 SKUs counted 200, and a `find(..).delete()`
//! deleted 200 of 1,000. Only `FT.PROFILE` reports it ("Max prefix expansion
//! reached", on the union's iterator).
//!
//! So a plan that expands (`Plan::expands`) is first profiled with
//! `LIMIT 0 0` (one more round trip, the cost of a count, for such queries
//! only), and refused with [`Error::Query`] when the limit was reached: never
//! a partial result, delete or update. The server reports the limit as reached
//! also when the pattern matches exactly that many terms; telling the two
//! apart is not possible from its reply, so both are refused.

use redis::Value;

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::exec::Exec;

/// What `FT.PROFILE` says of an iterator whose pattern reached the limit.
const REACHED: &[u8] = b"Max prefix expansion reached";

/// Refuses `plan` when one of its patterns expands into more terms than the
/// server takes (see the module documentation).
pub(crate) async fn check<E: Exec>(exec: &mut E, plan: &Plan) -> Result<()> {
    if !plan.expands {
        return Ok(());
    }
    let report = exec
        .query(&plan.profile())
        .await
        .map_err(|err| plan.error(err))?;
    if mentions(&report, REACHED) {
        return Err(Error::Query {
            query: super::plan::shorten(&plan.query, 500),
            message: "a prefix, suffix, contains or fuzzy condition matches at least as many \
                      distinct terms of the index as the server expands a pattern into \
                      (MAXPREFIXEXPANSIONS, 200 by default), and RediSearch silently ignores \
                      the rest: the results would be incomplete, so nothing was read, deleted \
                      or updated. Make the pattern longer (more selective), match whole values \
                      (eq / is_in), or raise the limit on the server \
                      (FT.CONFIG SET MAXPREFIXEXPANSIONS <n>, on every primary of a cluster)"
                .to_owned(),
        });
    }
    Ok(())
}

/// Whether a profile reply has an iterator whose `Warning` is `needle`, at
/// any depth: a `Warning` key followed by it (the flat arrays of RESP2) or
/// mapped to it (RESP3). Only there: the same words elsewhere (a tag value
/// the query names, echoed in an iterator's `Term`) are not a warning.
fn mentions(value: &Value, needle: &[u8]) -> bool {
    fn text(v: &Value) -> Option<&[u8]> {
        match v {
            Value::BulkString(bytes) => Some(bytes.as_slice()),
            Value::SimpleString(text) => Some(text.as_bytes()),
            Value::VerbatimString { text, .. } => Some(text.as_bytes()),
            _ => None,
        }
    }
    let warning = |k: &Value, v: &Value| text(k) == Some(b"Warning") && text(v) == Some(needle);
    match value {
        Value::Array(items) | Value::Set(items) => {
            items.windows(2).any(|pair| warning(&pair[0], &pair[1]))
                || items.iter().any(|v| mentions(v, needle))
        }
        Value::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| warning(k, v) || mentions(v, needle)),
        Value::Attribute { data, .. } => mentions(data, needle),
        Value::Push { data, .. } => data.iter().any(|v| mentions(v, needle)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_warning_at_any_depth_in_either_protocol() {
        let s = |t: &str| Value::BulkString(t.as_bytes().to_vec());
        let resp2 = Value::Array(vec![
            Value::Array(vec![Value::Int(200)]),
            Value::Array(vec![
                s("Iterators profile"),
                Value::Array(vec![s("Warning"), s("Max prefix expansion reached")]),
            ]),
        ]);
        assert!(mentions(&resp2, REACHED));
        let resp3 = Value::Map(vec![(
            s("profile"),
            Value::Map(vec![(
                s("Warning"),
                Value::SimpleString("Max prefix expansion reached".into()),
            )]),
        )]);
        assert!(mentions(&resp3, REACHED));
        let fine = Value::Array(vec![s("Warning"), s("None"), Value::Int(3)]);
        assert!(!mentions(&fine, REACHED));
        // The words as a term of the query, not as a warning.
        let term = Value::Array(vec![
            s("Type"),
            s("TAG"),
            s("Term"),
            s("Max prefix expansion reached"),
        ]);
        assert!(!mentions(&term, REACHED));
    }
}
