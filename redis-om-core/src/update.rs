//! Partial updates: a [`Patch`] sets chosen fields of a stored document
//! without rewriting it, typed by the setters the derives generate
//! (`User::update(&mut con, &pk, |u| u.name.set("Ada") & u.age.set(37))`).
//!
//! A patch is applied by one Lua call: only if the document exists (a patch
//! never creates a partial document), all its fields at once, the TTL kept.
//! On a model with a `#[redis_om(version)]` field the stored version is
//! incremented with the change (so a concurrent `save` of an older copy
//! conflicts), and [`Patch::if_version`] makes the patch itself conditional.

use std::marker::PhantomData;
use std::ops::BitAnd;
use std::sync::LazyLock;

use redis::Value;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::request::{Op, Parse, Request};
use crate::storage::{bytes_of, Storage};

/// Encodes a field's new value for a patch: the bytes to store (a hash
/// field's text, or JSON), or `None` to remove a hash field.
#[doc(hidden)]
pub type SetEncoder<T> = fn(&T) -> std::result::Result<Option<Vec<u8>>, String>;

/// The setter of one field of model `M`, of type `T`: one per stored field in
/// the struct the derive generates for [`update`](crate::AsyncModel::update)
/// (the primary key and the version field have none).
pub struct Set<M, T> {
    target: &'static str,
    /// Members an older version of the model wrote for this field (serde
    /// `alias`es): removed with every set.
    aliases: &'static [&'static str],
    encode: SetEncoder<T>,
    _model: PhantomData<fn() -> M>,
}

impl<M, T> Clone for Set<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, T> Copy for Set<M, T> {}

impl<M, T> std::fmt::Debug for Set<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Set").field(&self.target).finish()
    }
}

impl<M, T> Set<M, T> {
    /// The setter of the hash field, or JSON path, `target`. Made by the derives.
    #[doc(hidden)]
    pub const fn new(target: &'static str, encode: SetEncoder<T>) -> Self {
        Set {
            target,
            aliases: &[],
            encode,
            _model: PhantomData,
        }
    }

    /// The same setter, which also removes the members at `aliases` (the
    /// field's serde aliases, as JSON paths). Made by the derives.
    #[doc(hidden)]
    pub const fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Sets the field to `value` (`None` removes an `Option` field of a hash,
    /// and stores `null` in JSON, as `save` does). A value that could not be
    /// stored (a NaN in an indexed float, …) makes the patch an
    /// [`Error::Encode`] when it is applied, before anything is sent.
    pub fn set(self, value: impl Into<T>) -> Patch<M> {
        let value = value.into();
        let mut patch = Patch::empty();
        match (self.encode)(&value) {
            Ok(bytes) => patch.sets.push((self.target, bytes)),
            Err(reason) => patch.invalid = Some(format!("field {:?}: {reason}", self.target)),
        }
        // A document written by an older version of the model may hold the
        // field under an alias: removed, or serde would find it twice.
        for alias in self.aliases {
            patch.sets.push((alias, None));
        }
        patch
    }
}

/// The setter of an embedded struct field (`#[redis_om(embed)]`): [`set`](Nested::set)
/// replaces the whole struct, and its own fields have setters too, reached
/// through it: `u.address.city.set("Paris")` (redis-om-python's
/// `address__city`).
pub struct Nested<M, T: crate::Embedded> {
    whole: Set<M, T>,
    fields: T::Setters<M>,
}

impl<M, T: crate::Embedded> Nested<M, T> {
    /// The setter of the struct at `whole`'s path, with its fields' setters.
    #[doc(hidden)]
    pub fn new(whole: Set<M, T>, fields: T::Setters<M>) -> Self {
        Nested { whole, fields }
    }

    /// Replaces the whole embedded struct.
    pub fn set(&self, value: impl Into<T>) -> Patch<M> {
        self.whole.set(value)
    }
}

impl<M, T: crate::Embedded> std::ops::Deref for Nested<M, T> {
    type Target = T::Setters<M>;
    fn deref(&self) -> &T::Setters<M> {
        &self.fields
    }
}

impl<M, T: crate::Embedded> std::fmt::Debug for Nested<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Nested").field(&self.whole.target).finish()
    }
}

/// Changes to some fields of a document of model `M`: made by
/// [`Set::set`], combined with `&`.
#[must_use = "a patch does nothing until given to `update`"]
pub struct Patch<M> {
    sets: Vec<(&'static str, Option<Vec<u8>>)>,
    invalid: Option<String>,
    /// A field the patch sets twice (`u.name.set(a) & u.name.set(b)`).
    twice: Option<&'static str>,
    expected_version: Option<i64>,
    _model: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for Patch<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self.sets.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Patch")
            .field("fields", &fields)
            .field("if_version", &self.expected_version)
            .finish()
    }
}

impl<M> Patch<M> {
    fn empty() -> Self {
        Patch {
            sets: Vec::new(),
            invalid: None,
            twice: None,
            expected_version: None,
            _model: PhantomData,
        }
    }

    /// Applies the patch only if the stored version is `version` (a model
    /// with a `#[redis_om(version)]` field); otherwise the update is
    /// [`Error::Conflict`] and changes nothing.
    pub fn if_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// The fields this patch sets (hash field names or JSON paths), in order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sets.iter().map(|(name, _)| *name)
    }
}

impl<M> BitAnd for Patch<M> {
    type Output = Patch<M>;

    /// Both patches. A field set by both makes the patch invalid
    /// (`update` answers [`Error::InvalidArgument`] naming it): which value
    /// was meant cannot be told.
    fn bitand(mut self, other: Patch<M>) -> Patch<M> {
        for (target, value) in other.sets {
            if self.sets.iter().any(|(t, _)| *t == target) {
                self.twice = self.twice.or(Some(target));
                self.sets.retain(|(t, _)| *t != target);
            }
            self.sets.push((target, value));
        }
        self.invalid = self.invalid.or(other.invalid);
        self.twice = self.twice.or(other.twice);
        self.expected_version = other.expected_version.or(self.expected_version);
        self
    }
}

/// Applies a patch. KEYS[1] = key; ARGV = kind ('H'|'J'), the version's hash
/// field or JSON path ('' for none), the expected version ('' for any), the
/// largest version that may be incremented, the number of guards and their
/// target/expected pairs (see [`call_guarded`]), the
/// number of hash fields (or JSON paths) to delete and their names, the
/// number of expiring hash fields set and their name/seconds pairs, then
/// target/value pairs (hash) or target/value/parent triplets (JSON).
/// Returns `{0}` when there is no document, `{1}` when applied, `{2, found}`
/// when another version is stored, `{3, path}` when a JSON path's parent is
/// not an object, `{4, found}` when the stored version is not an integer,
/// `{5, found}` when it cannot be incremented, `{6}` when a guard does not
/// hold (nothing written in those).
static UPDATE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(concat!(
        crate::request::lua_field_ttls!(),
        include_str!("lua/update.lua")
    ))
});

/// The update script, to load at the start of a pipeline of updates.
pub(crate) fn script() -> &'static redis::Script {
    &UPDATE_SCRIPT
}

impl<M> Patch<M> {
    /// The version given to [`if_version`](Patch::if_version).
    pub(crate) fn expected(&self) -> Option<i64> {
        self.expected_version
    }
}

/// The parent of a JSON path built by the derives (`$.address.city` →
/// `$.address`, `$["e-mail"]` → `$`).
fn json_parent(path: &str) -> &str {
    let cut = if path.ends_with("\"]") {
        path.rfind("[\"")
    } else {
        path.rfind('.')
    };
    match cut {
        Some(at) if at > 1 => &path[..at],
        _ => "$",
    }
}

/// The largest version the update script moves on from: Lua's numbers are
/// exact up to 2^53.
const MAX_SCRIPT_VERSION: i64 = (1 << 53) - 1;

/// The version's hash field, or JSON path.
fn version_target<M: Model>(field: &str) -> String {
    match M::STORAGE {
        Storage::Hash => field.to_owned(),
        Storage::Json => format!("${}", crate::schema::json_member(field)),
    }
}

/// The fields with `expire_secs` that `patch` sets (hash models).
pub(crate) fn expiring_set<M: Model>(patch: &Patch<M>) -> Vec<(&'static str, u64)> {
    M::field_expirations()
        .iter()
        .filter(|(name, _)| patch.sets.iter().any(|(t, v)| t == name && v.is_some()))
        .copied()
        .collect()
}

/// The call that applies `patch` to the document at `key`.
pub(crate) fn call<M: Model>(
    key: &str,
    patch: &Patch<M>,
) -> Result<redis::ScriptInvocation<'static>> {
    call_guarded(key, patch, &[])
}

/// [`call`], applied only while each guard holds: `(target, expected)`, the
/// hash field or JSON path and its stored value as a search read it
/// (`=value`; for JSON the `$` path's array text), or `-` for absent. A
/// guard that does not hold leaves the document alone (`{6}`).
pub(crate) fn call_guarded<M: Model>(
    key: &str,
    patch: &Patch<M>,
    guards: &[(String, Vec<u8>)],
) -> Result<redis::ScriptInvocation<'static>> {
    if let Some(reason) = &patch.invalid {
        return Err(Error::Encode {
            key: key.to_owned(),
            reason: reason.clone(),
        });
    }
    if let Some(field) = patch.twice {
        return Err(Error::InvalidArgument(format!(
            "the update of {key:?} sets {field} twice (`&` of two setters of one field): set \
             each field once"
        )));
    }
    if patch.sets.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the update of {key:?} sets no field: combine setters with `&`, such as `|u| u.name.set(\"Ada\") & u.age.set(37)`"
        )));
    }
    if patch.expected_version.is_some() && M::VERSION_FIELD.is_none() {
        return Err(Error::InvalidArgument(format!(
            "{} has no #[redis_om(version)] field, so `if_version` cannot be checked",
            std::any::type_name::<M>()
        )));
    }
    let mut call = UPDATE_SCRIPT.key(key);
    call.arg(match M::STORAGE {
        Storage::Hash => "H",
        Storage::Json => "J",
    });
    call.arg(
        M::VERSION_FIELD
            .map(version_target::<M>)
            .unwrap_or_default(),
    );
    call.arg(
        patch
            .expected_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );
    call.arg(M::VERSION_MAX.min(MAX_SCRIPT_VERSION));
    call.arg(guards.len());
    for (target, expected) in guards {
        call.arg(target.as_str()).arg(expected.as_slice());
    }
    let removed: Vec<&str> = patch
        .sets
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(target, _)| *target)
        .collect();
    call.arg(removed.len()).arg(&removed);
    let expiring = expiring_set::<M>(patch);
    call.arg(expiring.len());
    for (name, secs) in &expiring {
        call.arg(*name).arg(*secs);
    }
    for (target, value) in &patch.sets {
        if let Some(value) = value {
            call.arg(*target).arg(value.as_slice());
            if M::STORAGE == Storage::Json {
                call.arg(json_parent(target));
            }
        }
    }
    Ok(call)
}

/// Reads the reply of [`call`]: whether the document existed (and was changed).
pub(crate) fn reply<M: Model>(reply: Value, key: &str, expected: Option<i64>) -> Result<bool> {
    Ok(outcome::<M>(reply, key, expected)? == Outcome::Applied)
}

/// What an update call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Applied,
    /// There was no document.
    Missing,
    /// A guard did not hold ([`call_guarded`]): nothing was written.
    NoLongerMatches,
}

/// Reads the reply of [`call`] or [`call_guarded`].
pub(crate) fn outcome<M: Model>(reply: Value, key: &str, expected: Option<i64>) -> Result<Outcome> {
    let items = match reply {
        Value::Array(items) => items,
        other => return Err(crate::ops::unexpected("EVALSHA", &other)),
    };
    match items.as_slice() {
        [Value::Int(1)] => Ok(Outcome::Applied),
        [Value::Int(0)] => Ok(Outcome::Missing),
        [Value::Int(6)] => Ok(Outcome::NoLongerMatches),
        [Value::Int(4), found] => {
            let found = bytes_of(found)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err(Error::decode(
                key,
                M::VERSION_FIELD,
                format!("the stored version {found:?} is not an integer: nothing was changed"),
            ))
        }
        [Value::Int(5), found] => {
            let found = bytes_of(found)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err(Error::Encode {
                key: key.to_owned(),
                reason: format!(
                    "field {:?}: version {found} cannot be incremented (the largest of its type, \
                     or 2^53 - 1): nothing was changed; give the version field a wider type \
                     (u64 or i64)",
                    M::VERSION_FIELD.unwrap_or_default()
                ),
            })
        }
        [Value::Int(3), path] => {
            let path = bytes_of(path)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err(Error::InvalidArgument(format!(
                "the update of {key:?} sets {path}, but the document has no object around it \
                 (missing or null, as an older version of the model may have written it): \
                 nothing was changed; set the enclosing struct whole instead"
            )))
        }
        [Value::Int(2), found] => {
            let text = bytes_of(found).map(String::from_utf8_lossy);
            let found = text.as_deref().and_then(|t| t.parse::<i64>().ok());
            match found {
                Some(found) => Err(Error::Conflict {
                    key: key.to_owned(),
                    expected: expected.unwrap_or_default(),
                    found,
                }),
                None => Err(Error::decode(
                    key,
                    M::VERSION_FIELD,
                    format!(
                        "the stored version {:?} is not an integer",
                        text.unwrap_or_default()
                    ),
                )),
            }
        }
        _ => Err(Error::UnexpectedReply {
            command: "EVALSHA",
            detail: "answered an array of another shape".to_owned(),
        }),
    }
}

/// `update`: applies `patch` to the document with primary key `pk`.
pub(crate) fn update<M: Model>(pk: &str, patch: &Patch<M>) -> Result<Op<bool, impl Parse<bool>>> {
    let key = M::key_layout().key(pk);
    M::key_layout().check_writable(&key)?;
    let call = call(&key, patch)?;
    let expected = patch.expected_version;
    let needs = crate::ops::needs_field_expiration::<M>(&expiring_set::<M>(patch));
    Ok(
        Op::new(Request::Script(call), move |value, key: Option<String>| {
            reply::<M>(value, key.as_deref().unwrap_or_default(), expected)
        })
        .reading(key.clone())
        .writing(key, M::STORAGE)
        .needing(needs),
    )
}

#[cfg(test)]
mod tests {
    use super::json_parent;

    #[test]
    fn parents_of_json_paths() {
        assert_eq!(json_parent("$.name"), "$");
        assert_eq!(json_parent("$.address.city"), "$.address");
        assert_eq!(json_parent("$[\"e-mail\"]"), "$");
        assert_eq!(json_parent("$.a[\"b.c\"]"), "$.a");
        assert_eq!(json_parent("$[\"x y\"].zip"), "$[\"x y\"]");
    }
}
