//! Encoding a JSON model: serde_json's compact text, refusing what could not
//! be read back. serde_json writes a NaN or infinite float as `null`, which
//! then fails to decode (`invalid type: null, expected f64`); such a document
//! is refused with the path of the field instead.

use std::io;

use serde::ser::{self, Serialize};

/// serde_json's compact formatter, noting whether it wrote a `null` (a `None`,
/// or a float that JSON cannot hold): only then is the document walked again.
struct NoteNulls<'a>(&'a mut bool);

impl serde_json::ser::Formatter for NoteNulls<'_> {
    fn write_null<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        *self.0 = true;
        writer.write_all(b"null")
    }
}

/// Serializes `value` as compact JSON.
///
/// # Errors
/// The path of a field holding a NaN or infinite float (or failing to
/// serialize) and why.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(128);
    let mut nulls = false;
    let result = {
        let mut ser = serde_json::Serializer::with_formatter(&mut out, NoteNulls(&mut nulls));
        value.serialize(&mut ser)
    };
    match result {
        Ok(()) if !nulls => Ok(out),
        Ok(()) => check(value).map(|()| out),
        Err(err) => Err(check(value).err().unwrap_or_else(|| err.to_string())),
    }
}

/// Walks `value` for what JSON cannot hold, naming the field.
fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), String> {
    serde_path_to_error::serialize(value, Walk).map_err(|err| {
        let path = err.path().to_string();
        if path == "." || path.is_empty() {
            err.into_inner().0
        } else {
            format!("field {path:?}: {}", err.into_inner().0)
        }
    })
}

#[derive(Debug)]
struct WalkError(String);

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WalkError {}

impl ser::Error for WalkError {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        WalkError(msg.to_string())
    }
}

fn float(value: f64) -> Result<(), WalkError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(WalkError(format!(
            "{value} cannot be stored in JSON (it would be written as null and could not be read back): \
             store a finite number, or make the field an Option and store None"
        )))
    }
}

/// A serializer that writes nothing and fails on non-finite floats.
#[derive(Clone, Copy)]
struct Walk;

macro_rules! accept {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method(self, _: $ty) -> Result<(), WalkError> {
            Ok(())
        }
    )*};
}

impl ser::Serializer for Walk {
    type Ok = ();
    type Error = WalkError;
    type SerializeSeq = Walk;
    type SerializeTuple = Walk;
    type SerializeTupleStruct = Walk;
    type SerializeTupleVariant = Walk;
    type SerializeMap = Walk;
    type SerializeStruct = Walk;
    type SerializeStructVariant = Walk;

    accept!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str)
    );

    fn serialize_f32(self, v: f32) -> Result<(), WalkError> {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), WalkError> {
        float(v)
    }
    fn serialize_none(self) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), WalkError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Walk, WalkError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Walk, WalkError> {
        Ok(self)
    }
}

macro_rules! compound {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Walk {
            type Ok = ();
            type Error = WalkError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WalkError> {
                value.serialize(*self)
            }
            fn end(self) -> Result<(), WalkError> {
                Ok(())
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Walk {
    type Ok = ();
    type Error = WalkError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WalkError> {
        key.serialize(*self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WalkError> {
        value.serialize(*self)
    }
    fn end(self) -> Result<(), WalkError> {
        Ok(())
    }
}

impl ser::SerializeStruct for Walk {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(*self)
    }
    fn end(self) -> Result<(), WalkError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Walk {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), WalkError> {
        value.serialize(*self)
    }
    fn end(self) -> Result<(), WalkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Inner {
        x: f64,
    }

    #[derive(serde::Serialize)]
    struct Doc {
        name: String,
        note: Option<String>,
        inner: Inner,
        list: Vec<f32>,
    }

    #[test]
    fn finite_documents_match_serde_json_and_non_finite_floats_name_their_path() {
        let ok = Doc {
            name: "a".into(),
            note: None,
            inner: Inner { x: 1.5 },
            list: vec![0.1, 2.0],
        };
        assert_eq!(encode(&ok).unwrap(), serde_json::to_vec(&ok).unwrap());
        let bad = Doc {
            inner: Inner { x: f64::NAN },
            ..ok
        };
        let err = encode(&bad).unwrap_err();
        assert!(
            err.starts_with("field \"inner.x\": NaN cannot be stored in JSON"),
            "{err}"
        );
        let bad = Doc {
            inner: Inner { x: 0.0 },
            list: vec![1.0, f32::NEG_INFINITY],
            ..bad
        };
        let err = encode(&bad).unwrap_err();
        assert!(err.starts_with("field \"list[1]\": -inf"), "{err}");
    }
}
