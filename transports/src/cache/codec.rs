//! How the `Cache` turns keys and values into bytes.
//!
//! # Values: encoding version 1
//!
//! A value is stored as memcached data plus memcached's client *flags*,
//! which say how the data is encoded, so any reader (another process,
//! another language, a later memwire) can decode it:
//!
//! | flags | constant          | data                                      |
//! |-------|-------------------|-------------------------------------------|
//! | 0     | [`FLAG_BYTES`]    | raw bytes, as given                       |
//! | 1     | [`FLAG_UTF8`]     | a UTF-8 string, as is (no quotes)         |
//! | 2     | [`FLAG_JSON_V1`]  | serde_json encoding of a serde value      |
//!
//! Other flags are refused on decoding ([`CacheError::Decode`]); new
//! encodings get new flag values, never a new meaning for an old one.
//!
//! With the `serde` feature (the default), a value is any
//! `serde::Serialize` type and is read back as any
//! `serde::de::DeserializeOwned` type. A value that serializes as a
//! string (`&str`, `String`, `char`, ...) is stored with flags 1, so other
//! applications reading it through a raw key get the plain text; any other
//! value is JSON with flags 2. Reading flags 0 or 1 into a serde type works
//! for types that accept a string or bytes (`String`, `Vec<u8>`,
//! `serde_bytes::ByteBuf`, ...).
//!
//! Without `serde`, values are strings (`&str`, `String`: flags 1) or bytes
//! (`&[u8]`, `Vec<u8>`, `Bytes`, `[u8; N]`: flags 0), read back as
//! `String` (flags 0 or 1, valid UTF-8), or `Vec<u8>` / `Bytes` (any flags:
//! the data as stored).
//!
//! # Keys
//!
//! With `serde`, a key is any `serde::Serialize` value, hashed as described
//! in [`keys`](super::keys); without it, a key is anything
//! `AsRef<[u8]>` (hashed as a Python byte string, so a string key gets the
//! same memcached key either way). Key tracking stores each key's
//! [`KeyForm`] and gives the key back with [`FromCacheKey`]: with `serde`
//! as any `DeserializeOwned` type, without it as `String`, `Vec<u8>` or
//! `Bytes`.
//!
//! The traits here have blanket implementations, for `Serialize` types
//! with the `serde` feature and for the types listed above without it.

use bytes::Bytes;

use super::keys::Pickler;
use super::tracking::KeyForm;
use super::CacheError;

/// Flags of raw bytes.
pub const FLAG_BYTES: u32 = 0;
/// Flags of a UTF-8 string.
pub const FLAG_UTF8: u32 = 1;
/// Flags of a serde_json value, encoding version 1.
pub const FLAG_JSON_V1: u32 = 2;

/// An encoded value: memcached flags and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How `data` is encoded (`FLAG_*`).
    pub flags: u32,
    /// The bytes stored.
    pub data: Bytes,
}

/// A value the cache can store.
pub trait CacheValue {
    /// Encode the value.
    ///
    /// # Errors
    ///
    /// [`CacheError::Encode`] when it cannot be encoded.
    fn encode_value(&self) -> Result<Encoded, CacheError>;
}

/// A type a cached value can be read back as.
pub trait FromCacheValue: Sized {
    /// Decode data stored with `flags`.
    ///
    /// # Errors
    ///
    /// [`CacheError::Decode`] for unknown flags or data that does not fit
    /// the type.
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError>;
}

/// A cache key.
pub trait CacheKey {
    /// Write the key's pickle (see [`keys`](super::keys)).
    ///
    /// # Errors
    ///
    /// [`CacheError::Encode`] when the key cannot be encoded.
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError>;

    /// The form key tracking stores.
    ///
    /// # Errors
    ///
    /// [`CacheError::Encode`] when the key cannot be encoded.
    fn key_form(&self) -> Result<KeyForm, CacheError>;

    /// The key's bytes when used as a raw key.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] when the key is not a string.
    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError>;
}

/// A type a tracked key can be read back as (see `Cache::keys`).
pub trait FromCacheKey: Sized {
    /// Rebuild the key from its stored form.
    ///
    /// # Errors
    ///
    /// [`CacheError::Decode`] when the stored key does not fit the type.
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError>;
}

fn decode_err(what: impl std::fmt::Display) -> CacheError {
    CacheError::Decode(what.to_string())
}

fn unknown_flags(flags: u32) -> CacheError {
    decode_err(format_args!("unknown encoding flags {flags}"))
}

#[cfg(feature = "serde")]
mod with_serde {
    use serde::de::value::{BytesDeserializer, SeqDeserializer, StrDeserializer};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::*;

    /// The value's JSON, or the string itself when it is a JSON string.
    enum Probe {
        Text(String),
        Json(Vec<u8>),
    }

    fn probe<T: Serialize + ?Sized>(value: &T) -> Result<Probe, CacheError> {
        let json = serde_json::to_vec(value).map_err(|e| CacheError::Encode(e.to_string()))?;
        if json.first() == Some(&b'"') {
            let s: String =
                serde_json::from_slice(&json).map_err(|e| CacheError::Encode(e.to_string()))?;
            Ok(Probe::Text(s))
        } else {
            Ok(Probe::Json(json))
        }
    }

    fn from_bytes<T: DeserializeOwned>(data: &[u8]) -> Result<T, CacheError> {
        type E = serde::de::value::Error;
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(v) = T::deserialize(StrDeserializer::<E>::new(s)) {
                return Ok(v);
            }
        }
        T::deserialize(BytesDeserializer::<E>::new(data))
            .or_else(|_| T::deserialize(SeqDeserializer::<_, E>::new(data.iter().copied())))
            .map_err(decode_err)
    }

    impl<T: Serialize + ?Sized> CacheValue for T {
        fn encode_value(&self) -> Result<Encoded, CacheError> {
            Ok(match probe(self)? {
                Probe::Text(s) => Encoded {
                    flags: FLAG_UTF8,
                    data: s.into(),
                },
                Probe::Json(j) => Encoded {
                    flags: FLAG_JSON_V1,
                    data: j.into(),
                },
            })
        }
    }

    impl<T: DeserializeOwned> FromCacheValue for T {
        fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
            match flags {
                FLAG_JSON_V1 => serde_json::from_slice(&data).map_err(decode_err),
                FLAG_BYTES | FLAG_UTF8 => from_bytes(&data),
                other => Err(unknown_flags(other)),
            }
        }
    }

    impl<T: Serialize + ?Sized> CacheKey for T {
        fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
            self.serialize(&mut pickle::Ser(pickler))
                .map_err(|e| CacheError::Encode(e.0))
        }

        fn key_form(&self) -> Result<KeyForm, CacheError> {
            Ok(match probe(self)? {
                Probe::Text(s) => KeyForm::Text(s.into_bytes()),
                Probe::Json(j) => KeyForm::Json(j),
            })
        }

        fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
            match probe(self)? {
                Probe::Text(s) => Ok(s.into_bytes()),
                Probe::Json(j) => Err(CacheError::InvalidKey {
                    key: String::from_utf8_lossy(&j).into_owned(),
                    reason: "a raw key must be a string".into(),
                }),
            }
        }
    }

    impl<T: DeserializeOwned> FromCacheKey for T {
        fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
            match form {
                KeyForm::Json(j) => serde_json::from_slice(j).map_err(decode_err),
                KeyForm::Text(b) | KeyForm::Raw(b) => from_bytes(b),
            }
        }
    }

    /// A serde serializer writing [`Pickler`] opcodes.
    mod pickle {
        use std::fmt;

        use serde::ser::{self, Serialize};

        use super::Pickler;

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
            fn serialize_newtype_struct<T: Serialize + ?Sized>(
                self,
                _name: &'static str,
                value: &T,
            ) -> R {
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
            fn serialize_struct(
                self,
                _name: &'static str,
                _len: usize,
            ) -> Result<Compound<'a, 'b>, Error> {
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
    }

    #[cfg(test)]
    mod tests {
        use std::collections::BTreeMap;

        use super::*;

        fn pickle<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
            let mut p = Pickler::new();
            v.write_pickle(&mut p).unwrap();
            p.finish()
        }

        #[test]
        fn serde_keys_pickle_like_python() {
            assert_eq!(pickle("cache_key"), b"S'cache_key'\np1\n.");
            assert_eq!(pickle(&1), b"I1\n.");
            assert_eq!(pickle(&Some(1u64 << 63)), b"L9223372036854775808L\n.");
            assert_eq!(pickle(&(1, "a")), b"(I1\nS'a'\np1\ntp2\n.");
            assert_eq!(pickle(&[1, 2][..]), b"(lp1\nI1\naI2\na.");
            let mut m = BTreeMap::new();
            m.insert("k", 2.5);
            assert_eq!(pickle(&m), b"(dp1\nS'k'\np2\nF2.5\ns.");
            assert_eq!(pickle(&()), b"N.");
            assert_eq!(pickle(&Some(())), b"N.");
        }

        #[test]
        fn string_values_are_plain_text() {
            let e = "cached value ä".encode_value().unwrap();
            assert_eq!(e.flags, FLAG_UTF8);
            assert_eq!(&e.data[..], "cached value ä".as_bytes());
            let back: String = String::decode_value(e.flags, e.data).unwrap();
            assert_eq!(back, "cached value ä");

            let e = (1, vec!["x"]).encode_value().unwrap();
            assert_eq!((e.flags, &e.data[..]), (FLAG_JSON_V1, &b"[1,[\"x\"]]"[..]));
            let back: (i32, Vec<String>) = FromCacheValue::decode_value(e.flags, e.data).unwrap();
            assert_eq!(back, (1, vec!["x".to_string()]));

            let raw: Vec<u8> =
                FromCacheValue::decode_value(FLAG_BYTES, Bytes::from_static(b"\xff\x00")).unwrap();
            assert_eq!(raw, vec![0xff, 0]);
            assert!(matches!(
                <i32 as FromCacheValue>::decode_value(FLAG_UTF8, Bytes::from_static(b"x")),
                Err(CacheError::Decode(_))
            ));
            assert!(matches!(
                <String as FromCacheValue>::decode_value(7, Bytes::new()),
                Err(CacheError::Decode(_))
            ));
        }

        #[test]
        fn key_forms_round_trip() {
            assert_eq!("a".key_form().unwrap(), KeyForm::Text(b"a".to_vec()));
            assert_eq!(1.key_form().unwrap(), KeyForm::Json(b"1".to_vec()));
            let k: i32 = FromCacheKey::from_key_form(&KeyForm::Json(b"1".to_vec())).unwrap();
            assert_eq!(k, 1);
            let k: String = FromCacheKey::from_key_form(&KeyForm::Raw(b"a".to_vec())).unwrap();
            assert_eq!(k, "a");
            assert_eq!("a".raw_bytes().unwrap(), b"a");
            assert!(matches!(1.raw_bytes(), Err(CacheError::InvalidKey { .. })));
        }
    }
}

#[cfg(not(feature = "serde"))]
mod without_serde {
    use super::*;

    macro_rules! value {
        ($flags:expr => $($t:ty),*) => {$(
            impl CacheValue for $t {
                fn encode_value(&self) -> Result<Encoded, CacheError> {
                    Ok(Encoded { flags: $flags, data: Bytes::copy_from_slice(self.as_ref()) })
                }
            }
        )*};
    }
    value!(FLAG_UTF8 => str, String);
    value!(FLAG_BYTES => [u8], Vec<u8>, Bytes);

    impl<const N: usize> CacheValue for [u8; N] {
        fn encode_value(&self) -> Result<Encoded, CacheError> {
            self[..].encode_value()
        }
    }

    impl<T: CacheValue + ?Sized> CacheValue for &T {
        fn encode_value(&self) -> Result<Encoded, CacheError> {
            (**self).encode_value()
        }
    }

    impl FromCacheValue for String {
        fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
            match flags {
                FLAG_BYTES | FLAG_UTF8 => String::from_utf8(data.to_vec()).map_err(decode_err),
                FLAG_JSON_V1 => Err(decode_err(
                    "a serde-encoded value (flags 2) needs the `serde` feature",
                )),
                other => Err(unknown_flags(other)),
            }
        }
    }

    impl FromCacheValue for Vec<u8> {
        fn decode_value(_flags: u32, data: Bytes) -> Result<Self, CacheError> {
            Ok(data.to_vec())
        }
    }

    impl FromCacheValue for Bytes {
        fn decode_value(_flags: u32, data: Bytes) -> Result<Self, CacheError> {
            Ok(data)
        }
    }

    impl<T: AsRef<[u8]> + ?Sized> CacheKey for T {
        fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
            pickler.string(self.as_ref());
            Ok(())
        }

        fn key_form(&self) -> Result<KeyForm, CacheError> {
            Ok(KeyForm::Text(self.as_ref().to_vec()))
        }

        fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
            Ok(self.as_ref().to_vec())
        }
    }

    impl FromCacheKey for String {
        fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
            match form {
                KeyForm::Text(b) | KeyForm::Raw(b) => {
                    String::from_utf8(b.clone()).map_err(decode_err)
                }
                KeyForm::Json(_) => Err(decode_err(
                    "a serde key (not a string) needs the `serde` feature",
                )),
            }
        }
    }

    impl FromCacheKey for Vec<u8> {
        fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
            Ok(form.bytes().to_vec())
        }
    }

    impl FromCacheKey for Bytes {
        fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
            Ok(Bytes::copy_from_slice(form.bytes()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn strings_and_bytes() {
            let e = "ä".encode_value().unwrap();
            assert_eq!(e.flags, FLAG_UTF8);
            assert_eq!(String::decode_value(e.flags, e.data).unwrap(), "ä");
            let e = vec![0xffu8].encode_value().unwrap();
            assert_eq!(e.flags, FLAG_BYTES);
            assert!(String::decode_value(e.flags, e.data.clone()).is_err());
            assert_eq!(
                Vec::<u8>::decode_value(e.flags, e.data).unwrap(),
                vec![0xff]
            );
            let mut p = Pickler::new();
            "cache_key".write_pickle(&mut p).unwrap();
            assert_eq!(p.finish(), b"S'cache_key'\np1\n.");
        }
    }
}
