//! Primary keys: which types can be one, and how an empty one is generated.

use std::borrow::Cow;

/// A type that can be the primary key of a model.
///
/// Implemented for `String` and `Option<String>` (empty or `None` means "generate
/// one on save": a UUID v7, whose text sorts by creation time like
/// redis-om-python's ULIDs), `uuid::Uuid` and `Option<Uuid>` (nil or `None`
/// means "generate"), and the integer types (never generated: set them yourself).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the primary key of a model",
    label = "not a primary key type",
    note = "a primary key is a String, Option<String>, uuid::Uuid, Option<uuid::Uuid> or an integer"
)]
pub trait PrimaryKey: Sized {
    /// The key as it appears at the end of the Redis key, or `None` when it is empty.
    fn key_part(&self) -> Option<Cow<'_, str>>;

    /// A fresh key for a document saved without one, or `None` when this type
    /// cannot be generated.
    fn generate() -> Option<Self>;

    /// Reads the key back from the end of a Redis key.
    fn from_key_part(part: &str) -> Result<Self, String>;
}

fn new_uuid() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

impl PrimaryKey for String {
    fn key_part(&self) -> Option<Cow<'_, str>> {
        (!self.is_empty()).then_some(Cow::Borrowed(self.as_str()))
    }
    fn generate() -> Option<Self> {
        Some(new_uuid().to_string())
    }
    fn from_key_part(part: &str) -> Result<Self, String> {
        Ok(part.to_owned())
    }
}

impl PrimaryKey for uuid::Uuid {
    fn key_part(&self) -> Option<Cow<'_, str>> {
        (!self.is_nil()).then(|| Cow::Owned(self.to_string()))
    }
    fn generate() -> Option<Self> {
        Some(new_uuid())
    }
    fn from_key_part(part: &str) -> Result<Self, String> {
        uuid::Uuid::parse_str(part).map_err(|e| format!("not a UUID: {e}"))
    }
}

impl<T: PrimaryKey> PrimaryKey for Option<T> {
    fn key_part(&self) -> Option<Cow<'_, str>> {
        self.as_ref().and_then(T::key_part)
    }
    fn generate() -> Option<Self> {
        T::generate().map(Some)
    }
    fn from_key_part(part: &str) -> Result<Self, String> {
        T::from_key_part(part).map(Some)
    }
}

macro_rules! int_pk {
    ($($t:ty),*) => {$(
        impl PrimaryKey for $t {
            fn key_part(&self) -> Option<Cow<'_, str>> {
                Some(Cow::Owned(self.to_string()))
            }
            fn generate() -> Option<Self> {
                None
            }
            fn from_key_part(part: &str) -> Result<Self, String> {
                part.parse().map_err(|e| format!("not an integer: {e}"))
            }
        }
    )*};
}
int_pk!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

/// A primary key as the operations that look documents up take it
/// ([`get`](crate::AsyncModel::get), `get_optional`, `delete`, `exists`,
/// `expire`, `ttl`, `get_many`): `&str`, `String`, a `Uuid`, an integer, or the
/// model's own primary key field, also when it is an `Option`
/// (`User::get(&mut con, &user.pk)`).
///
/// ```
/// use redis_om::PkArg;
/// assert_eq!(PkArg::pk_part("01J").as_deref(), Some("01J"));
/// assert_eq!(PkArg::pk_part(&Some("01J".to_string())).as_deref(), Some("01J"));
/// assert_eq!(PkArg::pk_part(&42u64).as_deref(), Some("42"));
/// // An empty key (`None`, `""`) names no document.
/// assert_eq!(PkArg::pk_part(&None::<String>), None);
/// assert_eq!(PkArg::pk_part(""), None);
/// ```
pub trait PkArg {
    /// The key as it appears at the end of the Redis key, or `None` when it is empty.
    fn pk_part(&self) -> Option<Cow<'_, str>>;
}

impl PkArg for str {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        (!self.is_empty()).then_some(Cow::Borrowed(self))
    }
}

impl PkArg for String {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        self.as_str().pk_part()
    }
}

impl PkArg for Cow<'_, str> {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        self.as_ref().pk_part()
    }
}

impl PkArg for uuid::Uuid {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        self.key_part()
    }
}

impl<T: PkArg + ?Sized> PkArg for &T {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        (**self).pk_part()
    }
}

impl<T: PkArg> PkArg for Option<T> {
    fn pk_part(&self) -> Option<Cow<'_, str>> {
        self.as_ref().and_then(T::pk_part)
    }
}

macro_rules! int_pk_arg {
    ($($t:ty),*) => {$(
        impl PkArg for $t {
            fn pk_part(&self) -> Option<Cow<'_, str>> {
                self.key_part()
            }
        }
    )*};
}
int_pk_arg!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

/// The key part of `pk` for model `model`, or the error of an empty key.
pub(crate) fn required<'p>(pk: &'p impl PkArg, model: &str) -> crate::Result<Cow<'p, str>> {
    pk.pk_part().ok_or_else(|| {
        crate::Error::InvalidArgument(format!(
            "{model}: the primary key is empty (None or \"\"), so it names no document: \
             save the document first (save fills its key), or give a non-empty key"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_keys_are_generated_and_time_ordered() {
        assert_eq!(String::new().key_part(), None);
        assert_eq!(None::<String>.key_part(), None);
        assert_eq!(uuid::Uuid::nil().key_part(), None);
        let a = String::generate().unwrap();
        let b = String::generate().unwrap();
        assert_eq!(a.len(), 36);
        assert!(a < b, "UUID v7 text sorts by creation time: {a} {b}");
        assert_eq!(i64::generate(), None);
        assert_eq!(7u32.key_part().as_deref(), Some("7"));
        assert_eq!(i64::from_key_part("-3"), Ok(-3));
        assert!(i64::from_key_part("x").is_err());
    }
}
