//! A compact JSON writer for canonical records: a `serde::Serializer` that appends to a
//! `Vec<u8>`, built for the translate hot path.
//!
//! Invariant: for every value, [`write_json`] appends exactly the bytes `serde_json::to_writer`
//! (compact form, this crate's serde_json features) would write, or fails where serde_json fails.
//! The unit tests check this differentially against serde_json on every record the fixtures make
//! and on generated strings, numbers and nested shapes. What makes it faster:
//! - A string (value or key) is checked eight bytes at a time for anything JSON must escape and,
//!   when clean, written with one capacity check (see `strings`); a struct field's `,"key":` is
//!   one such write. Integers go through `itoa`.
//! - serde_json's `RawValue` (a struct named [`RAW_VALUE_TOKEN`] with one field of that name
//!   holding the JSON text) is copied verbatim, as serde_json does; [`Decimal`] relies on it.
//!
//! Floats are rare in records and delegated to serde_json, so their text is serde_json's own.
//! On error the output may hold a partial value; callers clear their buffer before reusing it.
//!
//! [`Decimal`]: super::decimal::Decimal

use std::fmt::Display;

use serde::Serialize;
use serde::ser::{self, Impossible};

use strings::{write_key, write_str};

use super::record::Record;

mod records;
mod strings;

/// The struct (and field) name through which serde_json's `RawValue` serializes its text.
pub const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Why a value could not be written as JSON.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The value's `Serialize` implementation reported an error.
    #[error("{0}")]
    Custom(String),
    /// A map key that JSON cannot hold as a string (a sequence, a struct, `None`, ...).
    #[error("key must be a string")]
    KeyMustBeAString,
    /// A float map key that is NaN or infinite.
    #[error("float key must be finite (got NaN or +/-inf)")]
    FloatKeyMustBeFinite,
    /// A `RawValue`-named struct that did not hold exactly its JSON text.
    #[error("invalid raw value")]
    InvalidRawValue,
    /// serde_json, which writes floats, failed.
    #[error(transparent)]
    Delegated(#[from] serde_json::Error),
    /// The output was not UTF-8 (cannot happen: every input is `str` or ASCII).
    #[error("JSON output is not UTF-8")]
    NotUtf8,
}

impl ser::Error for JsonError {
    fn custom<T: Display>(msg: T) -> Self {
        JsonError::Custom(msg.to_string())
    }
}

/// Appends `value` as compact JSON to `out`, byte for byte as `serde_json::to_writer` would.
pub fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), JsonError> {
    value.serialize(Json(out))
}

/// Appends `record` as compact JSON: the bytes [`write_json`] appends (so serde_json's), written
/// by the record types' own writers (see `records`), which know their keys when compiling.
pub fn write_record(out: &mut Vec<u8>, record: &Record) -> Result<(), JsonError> {
    records::WriteJson::write(record, out)
}

/// `value` as a compact JSON string, equal to `serde_json::to_string`'s.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    let mut out = Vec::with_capacity(256);
    write_json(&mut out, value)?;
    String::from_utf8(out).map_err(|_| JsonError::NotUtf8)
}

fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Opens an externally tagged variant's body: `{"variant":` then `open` (`[` or `{`).
fn open_variant<'a>(out: &'a mut Vec<u8>, variant: &str, open: &[u8]) -> Compound<'a> {
    out.push(b'{');
    write_key(out, false, variant);
    Compound::open(out, open)
}

/// The serializer: a handle on the output buffer.
struct Json<'a>(&'a mut Vec<u8>);

/// An array or object being written; `first` until its first element.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    raw: bool,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, prefix: &[u8]) -> Self {
        out.extend_from_slice(prefix);
        Compound {
            out,
            first: true,
            raw: false,
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.comma();
        value.serialize(Json(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), JsonError> {
        if self.raw {
            return if key == RAW_VALUE_TOKEN {
                value.serialize(Limited {
                    out: self.out,
                    raw: true,
                })
            } else {
                Err(JsonError::InvalidRawValue)
            };
        }
        write_key(self.out, !self.first, key);
        self.first = false;
        value.serialize(Json(self.out))
    }

    fn close(self, suffix: &[u8]) -> Result<(), JsonError> {
        if !self.raw {
            self.out.extend_from_slice(suffix);
        }
        Ok(())
    }
}

macro_rules! ints {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), JsonError> {
            write_int(self.0, v);
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for Json<'a> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    ints!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        Ok(serde_json::to_writer(self.0, &v)?)
    }
    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        Ok(serde_json::to_writer(self.0, &v)?)
    }
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        write_str(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        write_str(self.0, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonError> {
        let mut seq = Compound::open(self.0, b"[");
        for b in v {
            seq.comma();
            write_int(seq.out, *b);
        }
        seq.close(b"]")
    }
    fn serialize_none(self) -> Result<(), JsonError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), JsonError> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), JsonError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        let mut object = Compound::open(self.0, b"{");
        object.field(variant, value)?;
        object.close(b"}")
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(Compound::open(self.0, b"["))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, JsonError> {
        Ok(Compound::open(self.0, b"["))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(Compound::open(self.0, b"["))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(open_variant(self.0, variant, b"["))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(Compound::open(self.0, b"{"))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, JsonError> {
        if name == RAW_VALUE_TOKEN {
            let mut raw = Compound::open(self.0, b"");
            raw.raw = true;
            return Ok(raw);
        }
        Ok(Compound::open(self.0, b"{"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(open_variant(self.0, variant, b"{"))
    }
}

/// Implements one of serde's compound traits for [`Compound`]: `$method` writes an element
/// (`element`) or a named field (`field`), and `end` closes with `$close`.
macro_rules! compound {
    ($trait:ident, $method:ident, element, $close:literal) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = JsonError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
                self.element(value)
            }
            fn end(self) -> Result<(), JsonError> {
                self.close($close)
            }
        }
    };
    ($trait:ident, $method:ident, field, $close:literal) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = JsonError;
            fn $method<T>(&mut self, key: &'static str, value: &T) -> Result<(), JsonError>
            where
                T: Serialize + ?Sized,
            {
                self.field(key, value)
            }
            fn end(self) -> Result<(), JsonError> {
                self.close($close)
            }
        }
    };
}

compound!(SerializeSeq, serialize_element, element, b"]");
compound!(SerializeTuple, serialize_element, element, b"]");
compound!(SerializeTupleStruct, serialize_field, element, b"]");
compound!(SerializeTupleVariant, serialize_field, element, b"]}");
compound!(SerializeStruct, serialize_field, field, b"}");
compound!(SerializeStructVariant, serialize_field, field, b"}}");

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonError> {
        self.comma();
        key.serialize(Limited {
            out: self.out,
            raw: false,
        })
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.out.push(b':');
        value.serialize(Json(self.out))
    }
    fn end(self) -> Result<(), JsonError> {
        self.close(b"}")
    }
}

/// The serializer for what must be a string: a map key (`raw` false; strings escaped, booleans
/// and numbers quoted, anything else refused, as serde_json does) or the text of a `RawValue`
/// (`raw` true; a string copied as it is, anything else refused).
struct Limited<'a> {
    out: &'a mut Vec<u8>,
    raw: bool,
}

impl Limited<'_> {
    fn refusal(&self) -> JsonError {
        if self.raw {
            JsonError::InvalidRawValue
        } else {
            JsonError::KeyMustBeAString
        }
    }

    /// `self` when it writes a key; raw text takes nothing but a string.
    fn key(self) -> Result<Self, JsonError> {
        if self.raw {
            return Err(JsonError::InvalidRawValue);
        }
        Ok(self)
    }

    /// A key written by `write` between quotes.
    fn quoted(self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), JsonError> {
        let out = self.key()?.out;
        out.push(b'"');
        write(out);
        out.push(b'"');
        Ok(())
    }

    fn float<F: Serialize>(self, v: F, finite: bool) -> Result<(), JsonError> {
        if !finite && !self.raw {
            return Err(JsonError::FloatKeyMustBeFinite);
        }
        let out = self.key()?.out;
        out.push(b'"');
        serde_json::to_writer(&mut *out, &v)?;
        out.push(b'"');
        Ok(())
    }
}

/// Refuses the listed methods with [`Limited::refusal`].
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ret:ty),* $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, JsonError> {
            Err(self.refusal())
        }
    )*};
}

macro_rules! quoted_ints {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), JsonError> {
            self.quoted(|out| write_int(out, v))
        }
    )*};
}

impl ser::Serializer for Limited<'_> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Impossible<(), JsonError>;
    type SerializeTuple = Impossible<(), JsonError>;
    type SerializeTupleStruct = Impossible<(), JsonError>;
    type SerializeTupleVariant = Impossible<(), JsonError>;
    type SerializeMap = Impossible<(), JsonError>;
    type SerializeStruct = Impossible<(), JsonError>;
    type SerializeStructVariant = Impossible<(), JsonError>;

    quoted_ints!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);
    refuse!(serialize_bytes(&[u8]) -> (), serialize_none() -> (), serialize_unit() -> (),
        serialize_unit_struct(&'static str) -> (),
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant);

    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        if self.raw {
            self.out.extend_from_slice(v.as_bytes());
        } else {
            write_str(self.out, v);
        }
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.quoted(|out| out.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        self.float(v, v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        self.float(v, v.is_finite())
    }
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        self.key()?.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.key()?.serialize_str(variant)
    }
    fn serialize_newtype_struct<T>(self, _name: &'static str, value: &T) -> Result<(), JsonError>
    where
        T: Serialize + ?Sized,
    {
        value.serialize(self.key()?)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self.key()?)
    }
    fn serialize_newtype_variant<T>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), JsonError>
    where
        T: Serialize + ?Sized,
    {
        Err(self.refusal())
    }
}

#[cfg(test)]
mod tests;
