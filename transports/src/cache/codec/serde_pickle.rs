//! [`Ser`]: a serde serializer writing [`Pickler`] opcodes, so that any
//! `Serialize` value hashes as its Python 2 pickle would (serde's data
//! model mapped onto Python types as in [`keys`](crate::cache::keys)).

use std::fmt;

use serde::ser::{self, Serialize};

use crate::cache::keys::Pickler;

/// Why a value cannot be pickled.
#[derive(Debug)]
pub(super) struct Error(pub(super) String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// The serializer, writing into a [`Pickler`].
pub(super) struct Ser<'a>(pub(super) &'a mut Pickler);

/// A container being written: how it ends.
pub(super) struct Compound<'a, 'b> {
    ser: &'b mut Ser<'a>,
    kind: Kind,
    len: usize,
}

enum Kind {
    List,
    Tuple,
    Dict,
    /// A variant: the inner container, then the closing `(name, …)`.
    Variant(Box<Kind>),
}

type R = Result<(), Error>;

impl<'a, 'b> Compound<'a, 'b> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut *self.ser)?;
        self.len += 1;
        if matches!(self.inner(), Kind::List) {
            self.ser.0.list_item();
        }
        Ok(())
    }
    fn inner(&self) -> &Kind {
        match &self.kind {
            Kind::Variant(k) => k,
            k => k,
        }
    }
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> R {
        self.ser.0.string(key.as_bytes());
        value.serialize(&mut *self.ser)?;
        self.ser.0.dict_item();
        Ok(())
    }
    fn done(self) -> R {
        match &self.kind {
            Kind::Tuple => self.ser.0.end_tuple(self.len),
            Kind::Variant(k) => {
                if matches!(**k, Kind::Tuple) {
                    self.ser.0.end_tuple(self.len);
                }
                self.ser.0.end_tuple(2);
            }
            Kind::List | Kind::Dict => {}
        }
        Ok(())
    }
}

impl<'a, 'b> Ser<'a> {
    fn open(&'b mut self, kind: Kind, variant: Option<&str>) -> Compound<'a, 'b> {
        let kind = match variant {
            Some(name) => {
                self.0.begin_tuple();
                self.0.string(name.as_bytes());
                Kind::Variant(Box::new(kind))
            }
            None => kind,
        };
        match &kind {
            Kind::Variant(k) => self.begin(k),
            k => self.begin(k),
        }
        Compound {
            ser: self,
            kind,
            len: 0,
        }
    }
    fn begin(&mut self, kind: &Kind) {
        match kind {
            Kind::List => self.0.begin_list(),
            Kind::Tuple => self.0.begin_tuple(),
            Kind::Dict => self.0.begin_dict(),
            Kind::Variant(_) => {}
        }
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> R {
        self.0.bool(v);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_i64(self, v: i64) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_i128(self, v: i128) -> R {
        self.0.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_u64(self, v: u64) -> R {
        self.serialize_i128(v.into())
    }
    fn serialize_u128(self, v: u128) -> R {
        match i128::try_from(v) {
            Ok(v) => self.serialize_i128(v),
            Err(_) => Err(Error("integer key above i128::MAX".into())),
        }
    }
    fn serialize_f32(self, v: f32) -> R {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> R {
        self.0.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> R {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> R {
        self.0.string(v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.0.string(v);
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.0.none();
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        self.0.none();
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, variant: &'static str) -> R {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        self.0.begin_tuple();
        self.0.string(variant.as_bytes());
        value.serialize(&mut *self)?;
        self.0.end_tuple(2);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::List, None))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Tuple, None))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Tuple, None))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Tuple, Some(variant)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Dict, None))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Dict, None))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(Kind::Dict, Some(variant)))
    }
}

macro_rules! seq_like {
    ($($t:ident :: $m:ident),*) => {$(
        impl ser::$t for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $m<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
                self.item(value)
            }
            fn end(self) -> R {
                self.done()
            }
        }
    )*};
}
seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(&mut *self.ser)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut *self.ser)?;
        self.ser.0.dict_item();
        Ok(())
    }
    fn end(self) -> R {
        self.done()
    }
}

macro_rules! struct_like {
    ($($t:ident),*) => {$(
        impl ser::$t for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> R {
                self.field(key, value)
            }
            fn end(self) -> R {
                self.done()
            }
        }
    )*};
}
struct_like!(SerializeStruct, SerializeStructVariant);
