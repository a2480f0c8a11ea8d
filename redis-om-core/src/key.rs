//! Where a model's documents live: key prefix, keys and index name.

use std::fmt;
use std::sync::OnceLock;

/// The key layout of a model, compatible with redis-om-python's `make_key`.
///
/// A key is `{global_prefix}:{prefix}:{pk}` where both prefixes are stripped of
/// leading and trailing `:`. An empty global prefix therefore gives a key that
/// starts with `:`, exactly as redis-om-python does. The default index name is
/// `{global_prefix}:{prefix}:index` (not stripped, as in redis-om-python).
///
/// ```
/// use redis_om::KeyLayout;
/// let layout = KeyLayout::new("", "UserReadCache", None);
/// assert_eq!(layout.key("01J"), ":UserReadCache:01J");
/// assert_eq!(layout.key_prefix(), ":UserReadCache:");
/// assert_eq!(layout.index_name(), ":UserReadCache:index");
/// assert_eq!(layout.pk_from_key(":UserReadCache:a:b"), Some("a:b"));
/// ```
#[derive(Debug, Clone)]
pub struct KeyLayout {
    key_prefix: String,
    index_name: String,
    /// The key prefixes of other models inside this one's (see [`crate::registry`]),
    /// looked up on first use.
    nested: OnceLock<Vec<(&'static str, &'static str)>>,
}

impl PartialEq for KeyLayout {
    fn eq(&self, other: &Self) -> bool {
        self.key_prefix == other.key_prefix && self.index_name == other.index_name
    }
}

impl Eq for KeyLayout {}

impl KeyLayout {
    /// Builds the layout from the global prefix, the model prefix and an
    /// optional explicit index name.
    pub fn new(global_prefix: &str, prefix: &str, index_name: Option<&str>) -> Self {
        let key_prefix = format!(
            "{}:{}:",
            global_prefix.trim_matches(':'),
            prefix.trim_matches(':')
        );
        let index_name = match index_name {
            Some(name) => name.to_owned(),
            None => format!("{global_prefix}:{prefix}:index"),
        };
        KeyLayout {
            key_prefix,
            index_name,
            nested: OnceLock::new(),
        }
    }

    /// The common start of every key of the model, ending in `:` (the `PREFIX` of its index).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The full key of the document with primary key `pk`.
    pub fn key(&self, pk: impl fmt::Display) -> String {
        use fmt::Write;
        let mut key = String::with_capacity(self.key_prefix.len() + 40);
        key.push_str(&self.key_prefix);
        // Writing into a String cannot fail.
        let _ = write!(key, "{pk}");
        key
    }

    /// The name of the model's RediSearch index.
    pub fn index_name(&self) -> &str {
        &self.index_name
    }

    /// The migrator's bookkeeping keys, `{index_name}:` followed by one of
    /// these: `hash` and `schema` (as redis-om-python), `history` and `lock`.
    pub const BOOKKEEPING: [&'static str; 4] = ["hash", "schema", "history", "lock"];

    /// Whether `key` is one of the migrator's bookkeeping keys
    /// (`{index_name}:hash`, `:schema`, `:history`, `:lock`), which sit in the
    /// model's key space with the default index name and must never be
    /// written as a document.
    pub fn is_bookkeeping_key(&self, key: &str) -> bool {
        key.strip_prefix(self.index_name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|suffix| Self::BOOKKEEPING.contains(&suffix))
    }

    /// `Ok` unless `key` is a bookkeeping key of the migrator, or the key of
    /// another model of the program whose key prefix nests in this one's.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) naming the key.
    pub fn check_writable(&self, key: &str) -> crate::Result<()> {
        self.check_document_key(key)?;
        if let Some((inner, prefix)) = self
            .nested_models()
            .iter()
            .find(|(_, prefix)| key.starts_with(prefix))
        {
            return Err(crate::Error::InvalidArgument(format!(
                "{key} is a key of {inner} (prefix {prefix}), whose keys lie inside this \
                 model's ({}): writing it through this model would overwrite {inner}'s document; \
                 choose another primary key, or give one of the models a prefix that does not \
                 start with the other's",
                self.key_prefix
            )));
        }
        Ok(())
    }

    /// `Ok` unless `key` is a bookkeeping key of the migrator: no model
    /// method reads, writes, expires or deletes those.
    pub(crate) fn check_document_key(&self, key: &str) -> crate::Result<()> {
        if self.is_bookkeeping_key(key) {
            return Err(crate::Error::InvalidArgument(format!(
                "the primary key of {key} is reserved: {key} is the migrator's bookkeeping key \
                 for index {} (as in redis-om-python), not a document; choose another primary key",
                self.index_name
            )));
        }
        Ok(())
    }

    /// The primary key part of `key`, or `None` when `key` is not one of this
    /// model's keys: outside its prefix, or inside the prefix of another
    /// model of the program that nests in this one's (`:Order:Item:1` is not
    /// a key of `Order` when a model with prefix `Order:Item` exists).
    pub fn pk_from_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        let pk = key.strip_prefix(self.key_prefix.as_str())?;
        self.owns_key(key.as_bytes()).then_some(pk)
    }

    /// Whether `key` is one of this model's keys (see [`pk_from_key`](Self::pk_from_key)).
    pub fn owns_key(&self, key: &[u8]) -> bool {
        key.starts_with(self.key_prefix.as_bytes())
            && !self
                .nested_models()
                .iter()
                .any(|(_, prefix)| key.starts_with(prefix.as_bytes()))
    }

    /// The other models of the program whose key prefix starts with this
    /// one's: `(type name, key prefix)`. The [`Migrator`](crate::Migrator)
    /// refuses to index a model that has any.
    pub fn nested_models(&self) -> &[(&'static str, &'static str)] {
        self.nested
            .get_or_init(|| crate::registry::nested_in(&self.key_prefix))
    }

    /// A `SCAN MATCH` pattern for every key of the model, with the glob
    /// characters of the prefix (`* ? [ ] \`) escaped so that they match literally.
    pub fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.key_prefix.len() + 4);
        for c in self.key_prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_om_python_make_key() {
        // make_key: f"{global.strip(':')}:{model.strip(':')}:{pk}"
        let l = KeyLayout::new("", "app.models.Customer", None);
        assert_eq!(l.key("01K"), ":app.models.Customer:01K");
        assert_eq!(l.index_name(), ":app.models.Customer:index");

        let l = KeyLayout::new(":myapp:", "::Customer:", None);
        assert_eq!(l.key("1"), "myapp:Customer:1");
        assert_eq!(l.key_prefix(), "myapp:Customer:");
        // The index name is not stripped, as in redis-om-python.
        assert_eq!(l.index_name(), ":myapp::::Customer::index");
    }

    #[test]
    fn bookkeeping_keys_are_not_writable() {
        let l = KeyLayout::new("", "User", None);
        assert!(l.check_writable(&l.key("index:hash")).is_err());
        assert!(l.check_writable(&l.key("index:schema")).is_err());
        assert!(l.check_writable(&l.key("index:history")).is_err());
        assert!(l.check_writable(&l.key("index")).is_ok());
        assert!(l.check_writable(&l.key("index:hash2")).is_ok());
        assert!(l.check_writable(&l.key("01J")).is_ok());
    }

    #[test]
    fn explicit_index_name_wins() {
        let l = KeyLayout::new("g", "p", Some("users-idx"));
        assert_eq!(l.index_name(), "users-idx");
        assert_eq!(l.key(42), "g:p:42");
    }

    #[test]
    fn pk_from_key_keeps_colons_and_rejects_other_models() {
        let l = KeyLayout::new("g", "User", None);
        assert_eq!(l.pk_from_key("g:User:a:b:c"), Some("a:b:c"));
        assert_eq!(l.pk_from_key("g:UserX:1"), None);
        assert_eq!(l.pk_from_key("g:User"), None);
    }

    #[test]
    fn scan_pattern_escapes_glob_characters() {
        let l = KeyLayout::new("", "we*ird?[x]\\", None);
        assert_eq!(l.scan_pattern(), ":we\\*ird\\?\\[x\\]\\\\:*");
    }
}
