//! Every model of the program, registered by the derives at link time (through
//! `inventory`), so that a model can tell its own keys from those of another
//! model whose key prefix lies inside its own.
//!
//! Models with prefixes `Order` and `Order:Item` have key prefixes `:Order:`
//! and `:Order:Item:`: every key of the second starts with the first's prefix,
//! so `Order`'s index (`PREFIX 1 :Order:`) and its `SCAN MATCH :Order:*` would
//! take in the items. The key alone cannot say whose a key is (`:Order:Item:1`
//! is also `Order`'s primary key `Item:1`), so redis-om refuses the layout where
//! it is decided, in the [`Migrator`](crate::Migrator), and meanwhile leaves
//! keys under a nested prefix out of `Order`'s results, primary keys and
//! deletes.

/// One model, as `#[derive(HashModel)]`/`#[derive(JsonModel)]` register it
/// (generic models are not registered). Not a public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct RegisteredModel {
    name: &'static str,
    key_prefix: fn() -> &'static str,
}

impl RegisteredModel {
    /// The model named `name` (its type's path), whose keys start with `key_prefix()`.
    pub const fn new(name: &'static str, key_prefix: fn() -> &'static str) -> Self {
        RegisteredModel { name, key_prefix }
    }
}

inventory::collect!(RegisteredModel);

/// The registered models whose key prefix starts with `prefix` and is longer:
/// `(model name, key prefix)`.
pub(crate) fn nested_in(prefix: &str) -> Vec<(&'static str, &'static str)> {
    let mut nested: Vec<(&'static str, &'static str)> = inventory::iter::<RegisteredModel>
        .into_iter()
        .map(|model| (model.name, (model.key_prefix)()))
        .filter(|(_, other)| other.len() > prefix.len() && other.starts_with(prefix))
        .collect();
    nested.sort_unstable();
    nested.dedup();
    nested
}

/// The error for model `outer` (key prefix `outer_prefix`) whose key space
/// holds model `inner`'s.
pub(crate) fn overlap_error(
    outer: &str,
    outer_prefix: &str,
    inner: &str,
    inner_prefix: &str,
) -> crate::Error {
    crate::Error::InvalidArgument(format!(
        "the keys of {inner} ({inner_prefix}…) lie inside those of {outer} ({outer_prefix}…): \
         {outer}'s index and queries would take in {inner}'s documents, and {outer}'s primary key \
         `{rest}…` would be {inner}'s key. Give one of them a key prefix that does not start with \
         the other's (for example `{suggestion}` instead of `{with_colon}`)",
        rest = &inner_prefix[outer_prefix.len()..],
        suggestion = inner_prefix.trim_matches(':').replace(':', ""),
        with_colon = inner_prefix.trim_matches(':'),
    ))
}
