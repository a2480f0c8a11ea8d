//! Queries against an index built from another version of the model's schema
//! (a rolling deploy, a rollback, a redis-om-python service with other
//! fields): RediSearch answers a query on an attribute it does not know with
//! no match rather than an error, so such a query would return silently wrong
//! results. Before a query, the schema the migrator recorded as live
//! (`{index_name}:hash` and `:schema`) is compared with the model's; a query
//! that uses a field the live index lacks (or defines otherwise) fails with
//! [`Error::SchemaMismatch`] naming those fields. The comparison is cached
//! per model for [`RECHECK`]: at most one extra round trip per second and model.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::{cmd, Value};

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::exec::Exec;
use crate::schema::IndexSchema;
use crate::storage::bytes_of;

/// How long a comparison is trusted.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// The model's fields the live index lacks: the attribute names each defines
/// (`name`, and `name_fts` for a full-text field), and its definition.
type Missing = Arc<Vec<(Vec<String>, String)>>;

#[allow(clippy::type_complexity)]
static CHECKED: LazyLock<Mutex<HashMap<(&'static str, &'static str), (Instant, Missing)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Fails with [`Error::SchemaMismatch`] when `plan` uses a field that the live
/// index lacks.
pub(crate) async fn check<E: Exec>(exec: &mut E, plan: &Plan) -> Result<()> {
    let missing = match cached(plan) {
        Some(missing) => missing,
        None => {
            // A user whose ACL does not allow GET (or a failed read) skips the
            // check: the query itself reports a broken connection.
            let replies = exec.query_pipe(&lookup(plan)).await.unwrap_or_default();
            store(plan, &replies)
        }
    };
    verdict(plan, &missing)
}

/// [`check`] on a blocking connection.
pub(crate) fn check_sync<C: redis::ConnectionLike>(con: &mut C, plan: &Plan) -> Result<()> {
    let missing = match cached(plan) {
        Some(missing) => missing,
        None => {
            let replies: Vec<Value> = lookup(plan).query(con).unwrap_or_default();
            store(plan, &replies)
        }
    };
    verdict(plan, &missing)
}

fn verdict(plan: &Plan, missing: &Missing) -> Result<()> {
    let used: Vec<String> = missing
        .iter()
        .filter(|(attrs, _)| attrs.iter().any(|a| uses(plan, a)))
        .map(|(_, definition)| definition.clone())
        .collect();
    if used.is_empty() {
        return Ok(());
    }
    Err(Error::SchemaMismatch {
        model: plan.model.to_owned(),
        index: plan.index.to_owned(),
        missing: used,
    })
}

/// Whether the query filters or sorts on attribute `attr`.
fn uses(plan: &Plan, attr: &str) -> bool {
    // As the query text writes it (`@e\-mail:`).
    let mut reference = String::with_capacity(attr.len() + 4);
    super::expr::push_attr(&mut reference, attr);
    // `@f:…` filters, `ismissing(@f)` asks for its absence.
    let (filter, missing) = (format!("{reference}:"), format!("{reference})"));
    plan.query.contains(&filter)
        || plan.query.contains(&missing)
        || plan.sort.is_some_and(|(field, _)| field == attr)
}

fn cached(plan: &Plan) -> Option<Missing> {
    let cache = CHECKED.lock().ok()?;
    let (at, missing) = cache.get(&(plan.index, plan.model))?;
    (at.elapsed() < RECHECK).then(|| missing.clone())
}

/// The live schema's hash and text.
fn lookup(plan: &Plan) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.add_command(cmd("GET").arg(format!("{}:hash", plan.index)).to_owned())
        .add_command(cmd("GET").arg(format!("{}:schema", plan.index)).to_owned());
    pipe
}

fn store(plan: &Plan, replies: &[Value]) -> Missing {
    let text = |i: usize| {
        replies
            .get(i)
            .filter(|v| **v != Value::Nil)
            .and_then(bytes_of)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let schema = (plan.schema)();
    let missing: Missing = match (text(0), text(1)) {
        (Some(hash), Some(live)) if hash != schema.hash() => Arc::new(compare(&schema, &live)),
        // The model's own schema, or nothing recorded (an index made by hand).
        _ => Arc::new(Vec::new()),
    };
    if let Ok(mut cache) = CHECKED.lock() {
        cache.insert((plan.index, plan.model), (Instant::now(), missing.clone()));
    }
    missing
}

/// Forgets the comparisons for `index`: the migrator of this process has
/// just changed it.
pub(crate) fn forget(index: &str) {
    if let Ok(mut cache) = CHECKED.lock() {
        cache.retain(|(i, _), _| *i != index);
    }
}

fn compare(schema: &IndexSchema, live: &str) -> Vec<(Vec<String>, String)> {
    let lacking = schema.missing_from(live);
    schema
        .fields()
        .iter()
        .zip(schema.field_parts())
        .filter(|(_, part)| lacking.contains(part))
        .map(|(field, part)| {
            let mut attrs = vec![field.name().to_owned()];
            if field.is_full_text() {
                attrs.push(format!("{}_fts", field.name()));
            }
            (attrs, part)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{plan::Load, SortOrder};
    use crate::storage::Storage;

    fn plan(query: &str, sort: Option<&'static str>) -> Plan {
        static LAYOUT: LazyLock<crate::KeyLayout> =
            LazyLock::new(|| crate::KeyLayout::new("", "Odd", None));
        Plan {
            index: ":Odd:index",
            layout: &LAYOUT,
            model: "Odd",
            schema: || IndexSchema::new(Storage::Hash, ":Odd:", Vec::new()),
            query: query.into(),
            params: Vec::new(),
            sort: sort.map(|field| (field, SortOrder::Asc)),
            load: Load::Key,
            batch: 10,
        }
    }

    #[test]
    fn a_field_is_found_as_the_query_text_writes_it() {
        // Attribute names are escaped in the query text (`@e\-mail:`).
        assert!(uses(&plan("@e\\-mail:{$p0}", None), "e-mail"));
        assert!(uses(&plan("(@a\\.b:[1 2]) (@x:{$p0})", None), "a.b"));
        assert!(uses(&plan("@age:[1 2]", None), "age"));
        assert!(!uses(&plan("@ages:[1 2]", None), "age"));
        assert!(uses(&plan("*", Some("e-mail")), "e-mail"));
        assert!(!uses(&plan("*", None), "e-mail"));
    }
}
