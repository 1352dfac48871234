//! [`Python<T>`] (feature `python`): values shared with Python
//! applications, in the flags conventions of python-memcached and pymemcache
//! (`pymemcache.serde.python_memcache_serializer`).

use std::fmt;

use bytes::Bytes;
use serde::de::value::{I128Deserializer, I64Deserializer, StrDeserializer, U64Deserializer};
use serde::de::DeserializeOwned;
use serde::ser::{self, Impossible, Serialize};

use super::serde_codecs::from_text;
use super::FLAG_BYTES;
use super::{decode_err, unknown_flags, CacheError, CacheValue, Encoded, FromCacheValue};

/// Flags of a pickled value (python-memcached's `_FLAG_PICKLE`).
pub const FLAG_PICKLE: u32 = 1;
/// Flags of an `int` as decimal text (`_FLAG_INTEGER`).
pub const FLAG_INTEGER: u32 = 2;
/// Flags of a Python 2 `long` as decimal text (`_FLAG_LONG`).
pub const FLAG_LONG: u32 = 4;
/// Flags of a zlib-compressed value (`_FLAG_COMPRESSED`): refused.
pub const FLAG_COMPRESSED: u32 = 8;
/// Flags of text, UTF-8 (pymemcache's `FLAG_TEXT`).
pub const FLAG_TEXT: u32 = 16;

/// Every flag bit the conventions define.
const KNOWN_FLAGS: u32 = FLAG_PICKLE | FLAG_INTEGER | FLAG_LONG | FLAG_COMPRESSED | FLAG_TEXT;

/// A value stored as a Python application stores it, so that Python reads
/// it as the same Python value and memwire reads what Python stored: the
/// flags conventions of python-memcached and pymemcache
/// (`pymemcache.serde.pickle_serde`, `python_memcache_serializer`).
///
/// | `T` serializes as (serde)              | Python value   | flags | data                         |
/// |-----------------------------------------|----------------|-------|------------------------------|
/// | bytes (`serde_bytes`)                   | `bytes`/`str`  | 0     | the bytes                    |
/// | a string, a `char`                      | `str`/`unicode`| 16    | UTF-8                        |
/// | an integer in `i64`'s range             | `int`          | 2     | decimal (`-12`)              |
/// | an integer beyond it (to 128 bits)      | `long` (Python 2), `int` | 4 | decimal              |
/// | anything else: floats, `bool`, `None`, sequences (lists), tuples, maps and structs (dicts), enums | as pickled | 1 | pickle protocol 2 |
///
/// Pickles are written at protocol 2, which Python 2 and 3 both read, by
/// the [`serde-pickle`](https://docs.rs/serde-pickle) crate. Reading takes
/// any of those flags from either Python: text (16), bytes (0: as a string
/// when `T` takes one and it is UTF-8, else as bytes), integers (2 and 4;
/// trailing spaces of memcached's `decr` allowed) and pickles of any
/// protocol (0 to 5; Python 3's default today is 5). Reading a pickle never
/// runs code: it only builds the serde data model, and a pickled class
/// instance is an error. Compressed values (flag 8) and unknown flags are
/// a [`CacheError::Decode`].
///
/// Plain `Vec<u8>` and `&[u8]` are sequences to serde (a Python list of
/// numbers); to exchange bytes, store the native `Vec<u8>`/`Bytes` (flags
/// 0, which Python reads as bytes) and read `Python<Vec<u8>>` or the
/// native types.
///
/// ```
/// use memwire::cache::codec::{CacheValue, FromCacheValue, Python, FLAG_INTEGER, FLAG_TEXT};
///
/// let text = Python("héllo").encode_value()?;
/// assert_eq!((text.flags, &text.data[..]), (FLAG_TEXT, "héllo".as_bytes()));
/// let n = Python(-12).encode_value()?;
/// assert_eq!((n.flags, &n.data[..]), (FLAG_INTEGER, &b"-12"[..]));
/// let list = Python(vec![1.5, 2.5]).encode_value()?; // a pickled list
/// assert_eq!((list.flags, &list.data[..2]), (1, &b"\x80\x02"[..]));
/// let Python(back) = Python::<Vec<f64>>::decode_value(list.flags, list.data)?;
/// assert_eq!(back, [1.5, 2.5]);
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Python<T>(pub T);

impl<T> Python<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Serialize> CacheValue for Python<T> {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        match self.0.serialize(Scalar) {
            Ok(Top::Text(s)) => Ok(Encoded::new(FLAG_TEXT, s)),
            Ok(Top::Bytes(b)) => Ok(Encoded::new(FLAG_BYTES, b)),
            Ok(Top::Int { text, long }) => {
                let flags = if long { FLAG_LONG } else { FLAG_INTEGER };
                Ok(Encoded::new(flags, text))
            }
            Err(NotScalar(_)) => {
                let options = serde_pickle::SerOptions::new().proto_v2();
                let pickle = serde_pickle::to_vec(&self.0, options)
                    .map_err(|e| CacheError::Encode(e.to_string()))?;
                Ok(Encoded::new(FLAG_PICKLE, pickle))
            }
        }
    }
}

impl<T: DeserializeOwned> FromCacheValue for Python<T> {
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
        type E = serde::de::value::Error;
        if flags & FLAG_COMPRESSED != 0 {
            return Err(decode_err(format_args!(
                "the value is compressed (flags {flags}: python-memcached's zlib \
                 compression), which memwire does not read: store it uncompressed"
            )));
        }
        if flags & !KNOWN_FLAGS != 0 {
            return Err(unknown_flags(flags));
        }
        // pymemcache's order: bytes, text, int, long, pickle.
        if flags == FLAG_BYTES {
            from_text(&data).map(Python)
        } else if flags & FLAG_TEXT != 0 {
            let text = std::str::from_utf8(&data).map_err(decode_err)?;
            T::deserialize(StrDeserializer::<E>::new(text))
                .map(Python)
                .map_err(decode_err)
        } else if flags & (FLAG_INTEGER | FLAG_LONG) != 0 {
            // Python's int() also takes the spaces memcached's decr leaves.
            let text = std::str::from_utf8(&data).map_or("", str::trim);
            let n: i128 = text
                .parse()
                .map_err(|_| decode_err(format_args!("not an integer of 128 bits: {text:?}")))?;
            let as_number = if let Ok(n) = i64::try_from(n) {
                T::deserialize(I64Deserializer::<E>::new(n))
            } else if let Ok(n) = u64::try_from(n) {
                T::deserialize(U64Deserializer::<E>::new(n))
            } else {
                T::deserialize(I128Deserializer::<E>::new(n))
            };
            // A `String` reads the digits.
            as_number
                .or_else(|e| T::deserialize(StrDeserializer::<E>::new(text)).map_err(|_| e))
                .map(Python)
                .map_err(decode_err)
        } else {
            serde_pickle::from_slice(&data, serde_pickle::DeOptions::new())
                .map(Python)
                .map_err(|e| decode_err(format_args!("pickle: {e}")))
        }
    }
}

/// What a value stored without pickling is.
enum Top {
    Text(String),
    Bytes(Vec<u8>),
    Int { text: String, long: bool },
}

/// "Pickle it": the value is not a string, bytes or an integer (or its
/// `Serialize` failed, which pickling reports).
#[derive(Debug)]
struct NotScalar(String);

impl fmt::Display for NotScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotScalar {}

impl ser::Error for NotScalar {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        NotScalar(msg.to_string())
    }
}

/// A serializer that only tells strings, bytes and integers at the top (or
/// inside `Some` and newtypes) from everything else.
struct Scalar;

type R = Result<Top, NotScalar>;

fn pickled<T>() -> Result<T, NotScalar> {
    Err(NotScalar(String::new()))
}

fn int(n: i128) -> R {
    Ok(Top::Int {
        text: n.to_string(),
        long: i64::try_from(n).is_err(),
    })
}

impl ser::Serializer for Scalar {
    type Ok = Top;
    type Error = NotScalar;
    type SerializeSeq = Impossible<Top, NotScalar>;
    type SerializeTuple = Impossible<Top, NotScalar>;
    type SerializeTupleStruct = Impossible<Top, NotScalar>;
    type SerializeTupleVariant = Impossible<Top, NotScalar>;
    type SerializeMap = Impossible<Top, NotScalar>;
    type SerializeStruct = Impossible<Top, NotScalar>;
    type SerializeStructVariant = Impossible<Top, NotScalar>;

    fn serialize_str(self, v: &str) -> R {
        Ok(Top::Text(v.to_owned()))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(Top::Text(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(Top::Bytes(v.to_vec()))
    }
    fn serialize_i8(self, v: i8) -> R {
        int(v.into())
    }
    fn serialize_i16(self, v: i16) -> R {
        int(v.into())
    }
    fn serialize_i32(self, v: i32) -> R {
        int(v.into())
    }
    fn serialize_i64(self, v: i64) -> R {
        int(v.into())
    }
    fn serialize_i128(self, v: i128) -> R {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> R {
        int(v.into())
    }
    fn serialize_u16(self, v: u16) -> R {
        int(v.into())
    }
    fn serialize_u32(self, v: u32) -> R {
        int(v.into())
    }
    fn serialize_u64(self, v: u64) -> R {
        int(v.into())
    }
    fn serialize_u128(self, v: u128) -> R {
        Ok(Top::Int {
            text: v.to_string(),
            long: i64::try_from(v).is_err(),
        })
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> R {
        pickled()
    }
    fn serialize_f32(self, _: f32) -> R {
        pickled()
    }
    fn serialize_f64(self, _: f64) -> R {
        pickled()
    }
    fn serialize_none(self) -> R {
        pickled()
    }
    fn serialize_unit(self) -> R {
        pickled()
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        pickled()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        pickled()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> R {
        pickled()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotScalar> {
        pickled()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotScalar> {
        pickled()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotScalar> {
        pickled()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotScalar> {
        pickled()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotScalar> {
        pickled()
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotScalar> {
        pickled()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotScalar> {
        pickled()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn encode<T: Serialize>(v: T) -> (u32, Vec<u8>) {
        let e = Python(v).encode_value().unwrap();
        (e.flags, e.data.to_vec())
    }

    fn decode<T: DeserializeOwned>(flags: u32, data: &[u8]) -> Result<T, CacheError> {
        Python::<T>::decode_value(flags, Bytes::copy_from_slice(data)).map(Python::into_inner)
    }

    #[test]
    fn scalars_are_not_pickled() {
        assert_eq!(encode("héllo"), (16, "héllo".as_bytes().to_vec()));
        assert_eq!(encode(String::from("x")), (16, b"x".to_vec()));
        assert_eq!(encode('é'), (16, "é".as_bytes().to_vec()));
        assert_eq!(encode(42u8), (2, b"42".to_vec()));
        assert_eq!(encode(i64::MIN), (2, i64::MIN.to_string().into_bytes()));
        assert_eq!(encode(u64::MAX), (4, u64::MAX.to_string().into_bytes()));
        assert_eq!(
            encode(1i128 << 100),
            (4, (1i128 << 100).to_string().into_bytes())
        );
        assert_eq!(encode(u128::MAX), (4, u128::MAX.to_string().into_bytes()));
        assert_eq!(
            encode(u128::from(u64::MAX)),
            (4, u64::MAX.to_string().into_bytes())
        );
        assert_eq!(encode(7u128), (2, b"7".to_vec()));
        assert_eq!(encode(Some(7)), (2, b"7".to_vec()));
    }

    /// The pickles are protocol 2, as Python writes them
    /// (`pickle.dumps(x, 2)`, checked with Python 3.11).
    #[test]
    fn everything_else_is_pickled_at_protocol_2() {
        assert_eq!(
            encode(2.5),
            (1, b"\x80\x02G@\x04\x00\x00\x00\x00\x00\x00.".to_vec())
        );
        assert_eq!(encode(true), (1, b"\x80\x02\x88.".to_vec()));
        assert_eq!(encode(None::<i32>), (1, b"\x80\x02N.".to_vec()));
        let (flags, data) = encode((1, "two"));
        assert_eq!(flags, 1);
        assert_eq!(
            decode::<(i32, String)>(flags, &data).unwrap(),
            (1, "two".into())
        );
        let (flags, data) = encode(vec![1, 2]);
        assert_eq!(flags, 1);
        assert_eq!(decode::<Vec<i32>>(flags, &data).unwrap(), [1, 2]);
    }

    #[test]
    fn reads_what_python_stores() {
        // pymemcache: bytes 0, str 16, int 2, Python 2 long 4.
        assert_eq!(decode::<Vec<u8>>(0, b"\x00\xff").unwrap(), [0, 0xff]);
        assert_eq!(decode::<String>(0, b"py2 str").unwrap(), "py2 str");
        assert_eq!(decode::<String>(16, "é".as_bytes()).unwrap(), "é");
        assert_eq!(decode::<i64>(2, b"-12").unwrap(), -12);
        assert_eq!(decode::<u8>(2, b"7  ").unwrap(), 7); // after a decr
        assert_eq!(
            decode::<u128>(4, b"1267650600228229401496703205376").unwrap(),
            1 << 100
        );
        assert_eq!(decode::<f64>(2, b"3").unwrap(), 3.0);
        assert_eq!(decode::<String>(2, b"42").unwrap(), "42");
        // pickle.dumps(2.5, 5), pickle.dumps({'a': 1}, 0), pickle.dumps('x', 2)
        assert_eq!(
            decode::<f64>(
                1,
                b"\x80\x05\x95\n\x00\x00\x00\x00\x00\x00\x00G@\x04\x00\x00\x00\x00\x00\x00."
            )
            .unwrap(),
            2.5
        );
        let dict: BTreeMap<String, i64> = decode(1, b"(dp0\nVa\np1\nI1\ns.").unwrap();
        assert_eq!(dict, [("a".to_string(), 1)].into());
        assert_eq!(
            decode::<String>(1, b"\x80\x02X\x01\x00\x00\x00xq\x00.").unwrap(),
            "x"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let refused = |flags, data: &[u8]| {
            matches!(decode::<String>(flags, data), Err(CacheError::Decode(_)))
        };
        assert!(refused(8, b"x\x9c")); // compressed
        assert!(refused(9, b"x\x9c")); // compressed pickle
        assert!(refused(32, b"x"));
        assert!(refused(16, b"\xff"));
        assert!(refused(1, b"not a pickle"));
        // A class instance: cos\nsystem\n... is never run.
        assert!(refused(1, b"cos\nsystem\n(S'true'\ntR."));
        assert!(matches!(
            decode::<i32>(2, b"1.5"),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(decode::<u8>(2, b"-1"), Err(CacheError::Decode(_))));
        assert!(matches!(
            decode::<i128>(2, b"99999999999999999999999999999999999999999"),
            Err(CacheError::Decode(_))
        ));
        let e = decode::<String>(8, b"").unwrap_err();
        assert!(e.to_string().contains("compressed"), "{e}");
    }
}
