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
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, RwLock};
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

/// The comparisons, by the addresses of the plan's index name and model name
/// (both `&'static str`; the same name at two addresses is two entries, each
/// right). Looked up before every query, so it hashes two words, not the
/// names' bytes with SipHash, and readers share the lock.
#[allow(clippy::type_complexity)]
static CHECKED: LazyLock<RwLock<HashMap<(usize, usize), Entry, BuildHasherDefault<AddrHasher>>>> =
    LazyLock::new(|| RwLock::new(HashMap::default()));

struct Entry {
    index: &'static str,
    at: Instant,
    missing: Missing,
}

fn addr_key(plan: &Plan) -> (usize, usize) {
    (plan.index.as_ptr() as usize, plan.model.as_ptr() as usize)
}

/// A multiply-rotate hash of addresses (FxHash's step): the keys are not
/// chosen by an attacker, so SipHash's protection buys nothing here.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Fails with [`Error::SchemaMismatch`] when `plan` uses a field that the live
/// index lacks.
pub(crate) async fn check<E: Exec>(exec: &mut E, plan: &Plan) -> Result<()> {
    let missing = missing(exec, plan).await;
    verdict(plan, &missing)
}

/// [`check`], where the command also reads `attrs` (an aggregation's group
/// fields and reducer arguments, which the query text does not name).
pub(crate) async fn check_attrs<E: Exec>(exec: &mut E, plan: &Plan, attrs: &[&str]) -> Result<()> {
    let missing = missing(exec, plan).await;
    verdict_with(plan, &missing, attrs)
}

/// The model's fields the live index lacks (cached for [`RECHECK`]): from
/// the schema the migrator recorded, or, when none is recorded (an index
/// made by hand or by another tool), from the index's own attributes
/// (`FT.INFO`).
async fn missing<E: Exec>(exec: &mut E, plan: &Plan) -> Missing {
    if let Some(missing) = cached(plan) {
        return missing;
    }
    // A user whose ACL does not allow GET (or a failed read) skips the
    // check: the query itself reports a broken connection.
    let replies = exec.query_pipe(&lookup(plan)).await.unwrap_or_default();
    let recorded = replies.first().is_some_and(|v| *v != Value::Nil);
    if recorded {
        return store(plan, &replies);
    }
    let info = exec
        .query(cmd("FT.INFO").arg(plan.index))
        .await
        .unwrap_or(Value::Nil);
    let missing: Missing = match live_attributes(&info) {
        Some(live) => Arc::new(absent_from(&(plan.schema)(), &live)),
        // No index (the query says so), or no answer: nothing to compare.
        None => Arc::new(Vec::new()),
    };
    remember(plan, missing.clone());
    missing
}

/// The attributes a field defines: its name, and `{name}_fts` for full text.
fn attribute_names(field: &crate::schema::IndexedField) -> Vec<String> {
    let mut attrs = vec![field.name().to_owned()];
    if field.is_full_text() {
        attrs.push(format!("{}_fts", field.name()));
    }
    attrs
}

/// The attributes of a live index and their types (`FT.INFO … attributes`).
fn live_attributes(info: &Value) -> Option<Vec<(String, String)>> {
    let info = crate::info::IndexInfo::of(info);
    info.has_attributes.then(|| {
        info.attributes
            .into_iter()
            .map(|a| (a.name, a.kind))
            .collect()
    })
}

/// The model's fields that a live index with `live` attributes lacks, or
/// has with another type.
fn absent_from(schema: &IndexSchema, live: &[(String, String)]) -> Vec<(Vec<String>, String)> {
    let has = |name: &str, kind: &str| live.iter().any(|(n, k)| n == name && k == kind);
    schema
        .fields()
        .iter()
        .zip(schema.field_parts())
        .filter(|(field, _)| {
            let kind = match field.kind() {
                crate::schema::FieldKind::Tag | crate::schema::FieldKind::Bool => "TAG",
                crate::schema::FieldKind::Numeric => "NUMERIC",
                crate::schema::FieldKind::Geo => "GEO",
                crate::schema::FieldKind::Vector(_) => "VECTOR",
            };
            !has(field.name(), kind)
                || (field.is_full_text() && !has(&format!("{}_fts", field.name()), "TEXT"))
        })
        .map(|(field, part)| (attribute_names(field), part))
        .collect()
}

fn verdict(plan: &Plan, missing: &Missing) -> Result<()> {
    verdict_with(plan, missing, &[])
}

fn verdict_with(plan: &Plan, missing: &Missing, extra: &[&str]) -> Result<()> {
    let used: Vec<String> = missing
        .iter()
        .filter(|(attrs, _)| {
            attrs
                .iter()
                .any(|a| uses(plan, a) || extra.contains(&a.as_str()))
        })
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
pub(crate) fn uses(plan: &Plan, attr: &str) -> bool {
    // As the query text writes it (`@e\-mail:`).
    let mut reference = String::with_capacity(attr.len() + 4);
    super::expr::push_attr(&mut reference, attr);
    // `@f:…` filters, `ismissing(@f)` asks for its absence, `KNN $k @f $v`
    // searches its vectors.
    let (filter, missing, knn) = (
        format!("{reference}:"),
        format!("{reference})"),
        format!("{reference} $"),
    );
    plan.query.contains(&filter)
        || plan.query.contains(&missing)
        || plan.query.contains(&knn)
        || plan.apply.as_ref().is_some_and(|apply| apply.load == attr)
        || plan.sort.is_some_and(|(field, _)| field == attr)
}

fn cached(plan: &Plan) -> Option<Missing> {
    let cache = CHECKED.read().ok()?;
    let entry = cache.get(&addr_key(plan))?;
    (entry.at.elapsed() < RECHECK).then(|| entry.missing.clone())
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
        // The model's own schema.
        _ => Arc::new(Vec::new()),
    };
    remember(plan, missing.clone());
    missing
}

fn remember(plan: &Plan, missing: Missing) {
    if let Ok(mut cache) = CHECKED.write() {
        let entry = Entry {
            index: plan.index,
            at: Instant::now(),
            missing,
        };
        cache.insert(addr_key(plan), entry);
    }
}

/// Forgets the comparisons for `index`: the migrator of this process has
/// just changed it.
pub(crate) fn forget(index: &str) {
    if let Ok(mut cache) = CHECKED.write() {
        cache.retain(|_, entry| entry.index != index);
    }
}

fn compare(schema: &IndexSchema, live: &str) -> Vec<(Vec<String>, String)> {
    let lacking = schema.missing_from(live);
    schema
        .fields()
        .iter()
        .zip(schema.field_parts())
        .filter(|(_, part)| lacking.contains(part))
        .map(|(field, part)| (attribute_names(field), part))
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
            blobs: Vec::new(),
            sort: sort.map(|field| (field, SortOrder::Asc)),
            load: Load::Key,
            batch: 10,
            max_results: None,
            apply: None,
            expands: false,
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
        // A KNN on a vector field.
        let knn = "(@run:{$p0})=>[KNN $knn_k @emb $knn_vector AS __knn_distance]";
        assert!(uses(&plan(knn, None), "emb"));
        assert!(!uses(&plan(knn, None), "em"));
    }
}
