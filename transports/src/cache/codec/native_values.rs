//! The value encodings that need no serde: text, bytes, and numbers and
//! booleans as JSON text (see the table in [`super`]).

use bytes::Bytes;

use super::json;
use super::{decode_err, unknown_flags, CacheError, CacheValue, Encoded, FromCacheValue};
use super::{FLAG_BYTES, FLAG_JSON, FLAG_UTF8};

// ---- text: flags 1 ----

impl CacheValue for &str {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(
            FLAG_UTF8,
            Bytes::copy_from_slice(self.as_bytes()),
        ))
    }
}

impl CacheValue for String {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_UTF8, self))
    }
}

impl CacheValue for &String {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        self.as_str().encode_value()
    }
}

/// Text stored with flags 0 (bytes) or 1 (text), if it is UTF-8.
impl FromCacheValue for String {
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
        match flags {
            FLAG_BYTES | FLAG_UTF8 => String::from_utf8(data.to_vec()).map_err(decode_err),
            FLAG_JSON => Err(decode_err(
                "the value is JSON (flags 2): read it as a number, bool or Json<T>",
            )),
            other => Err(unknown_flags(other)),
        }
    }
}

// ---- bytes: flags 0 ----

impl CacheValue for &[u8] {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_BYTES, Bytes::copy_from_slice(self)))
    }
}

impl CacheValue for Vec<u8> {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_BYTES, self))
    }
}

impl CacheValue for &Vec<u8> {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        self.as_slice().encode_value()
    }
}

impl CacheValue for Bytes {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_BYTES, self))
    }
}

impl CacheValue for &Bytes {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_BYTES, self.clone()))
    }
}

impl<const N: usize> CacheValue for [u8; N] {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        self[..].encode_value()
    }
}

impl<const N: usize> CacheValue for &[u8; N] {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        self[..].encode_value()
    }
}

/// The data as stored, whatever its flags.
impl FromCacheValue for Vec<u8> {
    fn decode_value(_flags: u32, data: Bytes) -> Result<Self, CacheError> {
        Ok(data.to_vec())
    }
}

/// The data as stored, whatever its flags.
impl FromCacheValue for Bytes {
    fn decode_value(_flags: u32, data: Bytes) -> Result<Self, CacheError> {
        Ok(data)
    }
}

// ---- numbers and booleans: flags 2, JSON text ----

/// `data` when `flags` say JSON.
fn json_data(flags: u32, data: &[u8], what: &str) -> Result<(), CacheError> {
    match flags {
        FLAG_JSON => Ok(()),
        FLAG_BYTES | FLAG_UTF8 => Err(decode_err(format_args!(
            "expected {what}, found text or bytes (flags {flags}, {} bytes)",
            data.len()
        ))),
        other => Err(unknown_flags(other)),
    }
}

macro_rules! integer_values {
    ($($t:ty),*) => {$(
        impl CacheValue for $t {
            fn encode_value(self) -> Result<Encoded, CacheError> {
                Ok(Encoded::new(FLAG_JSON, self.to_string()))
            }
        }

        impl CacheValue for &$t {
            fn encode_value(self) -> Result<Encoded, CacheError> {
                (*self).encode_value()
            }
        }

        /// A JSON integer (flags 2) in range.
        impl FromCacheValue for $t {
            fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
                let what = concat!("a JSON integer fitting ", stringify!($t));
                json_data(flags, &data, what)?;
                json::parse_int(&data).ok_or_else(|| json::not_a(what, &data))
            }
        }
    )*};
}

integer_values!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl CacheValue for bool {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(
            FLAG_JSON,
            Bytes::from_static(if self { b"true" } else { b"false" }),
        ))
    }
}

impl CacheValue for &bool {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        (*self).encode_value()
    }
}

/// JSON `true` or `false` (flags 2).
impl FromCacheValue for bool {
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
        json_data(flags, &data, "a JSON bool")?;
        json::parse_bool(&data).ok_or_else(|| json::not_a("a JSON bool", &data))
    }
}

/// Finite numbers only: JSON has no NaN or infinity.
impl CacheValue for f64 {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        Ok(Encoded::new(FLAG_JSON, json::f64_text(self)?))
    }
}

impl CacheValue for &f64 {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        (*self).encode_value()
    }
}

/// Any JSON number (flags 2).
impl FromCacheValue for f64 {
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
        json_data(flags, &data, "a JSON number")?;
        json::parse_f64(&data).ok_or_else(|| json::not_a("a JSON number", &data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<V, T>(value: V, flags: u32, data: &[u8]) -> T
    where
        V: CacheValue,
        T: FromCacheValue,
    {
        let e = value.encode_value().unwrap();
        assert_eq!((e.flags, &e.data[..]), (flags, data));
        T::decode_value(e.flags, e.data).unwrap()
    }

    #[test]
    fn text() {
        let s: String = round_trip("cached value ä", 1, "cached value ä".as_bytes());
        assert_eq!(s, "cached value ä");
        let s: String = round_trip(String::from("x"), 1, b"x");
        assert_eq!(s, "x");
        let owned = String::from("y");
        let s: String = round_trip(&owned, 1, b"y");
        assert_eq!(s, "y");
        // Text read from bytes, if it is UTF-8.
        assert_eq!(
            String::decode_value(0, Bytes::from_static(b"ok")).unwrap(),
            "ok"
        );
        assert!(matches!(
            String::decode_value(0, Bytes::from_static(b"\xff")),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            String::decode_value(2, Bytes::from_static(b"\"json\"")),
            Err(CacheError::Decode(_))
        ));
    }

    #[test]
    fn bytes() {
        let v: Vec<u8> = round_trip(vec![1u8, 2, 3], 0, &[1, 2, 3]);
        assert_eq!(v, [1, 2, 3]);
        let owned = vec![0xffu8];
        let v: Vec<u8> = round_trip(&owned, 0, &[0xff]);
        assert_eq!(v, [0xff]);
        let b: Bytes = round_trip(&b"ab"[..], 0, b"ab");
        assert_eq!(&b[..], b"ab");
        let b: Bytes = round_trip(*b"ab", 0, b"ab");
        assert_eq!(&b[..], b"ab");
        let b: Bytes = round_trip(b"ab", 0, b"ab");
        assert_eq!(&b[..], b"ab");
        let b: Bytes = round_trip(Bytes::from_static(b"z"), 0, b"z");
        let again: Vec<u8> = round_trip(&b, 0, b"z");
        assert_eq!(again, b"z");
        // Any flags: the data as stored.
        assert_eq!(
            Vec::<u8>::decode_value(77, Bytes::from_static(b"q")).unwrap(),
            b"q"
        );
    }

    #[test]
    fn numbers_and_bools() {
        assert_eq!(round_trip::<_, i32>(1, 2, b"1"), 1);
        assert_eq!(round_trip::<_, i64>(-5i64, 2, b"-5"), -5);
        assert_eq!(round_trip::<_, u8>(&200u8, 2, b"200"), 200);
        assert_eq!(
            round_trip::<_, u64>(u64::MAX, 2, b"18446744073709551615"),
            u64::MAX
        );
        assert_eq!(
            round_trip::<_, i128>(i128::MIN, 2, i128::MIN.to_string().as_bytes()),
            i128::MIN
        );
        assert!(round_trip::<_, bool>(true, 2, b"true"));
        assert!(!round_trip::<_, bool>(&false, 2, b"false"));
        assert_eq!(round_trip::<_, f64>(2.5, 2, b"2.5"), 2.5);
        assert_eq!(round_trip::<_, f64>(&100.0, 2, b"100.0"), 100.0);
        assert_eq!(round_trip::<_, f64>(1e300, 2, b"1e+300"), 1e300);
        // An integer is a number too.
        assert_eq!(f64::decode_value(2, Bytes::from_static(b"3")).unwrap(), 3.0);
        assert!(matches!(
            f64::NAN.encode_value(),
            Err(CacheError::Encode(_))
        ));
    }

    #[test]
    fn numbers_refuse_what_does_not_fit() {
        let d = |flags, data: &'static [u8]| i32::decode_value(flags, Bytes::from_static(data));
        for (flags, data) in [
            (2, &b"1.5"[..]),
            (2, b"99999999999"),
            (2, b"\"1\""),
            (2, b"01"),
            (1, b"1"),
            (0, b"1"),
        ] {
            assert!(
                matches!(d(flags, data), Err(CacheError::Decode(_))),
                "{data:?}"
            );
        }
        assert!(matches!(
            u8::decode_value(2, Bytes::from_static(b"-1")),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            bool::decode_value(2, Bytes::from_static(b"1")),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            f64::decode_value(2, Bytes::from_static(b"NaN")),
            Err(CacheError::Decode(_))
        ));
    }

    #[test]
    fn unknown_flags_are_refused() {
        for flags in [3, 7, u32::MAX] {
            let data = || Bytes::from_static(b"1");
            assert!(matches!(
                String::decode_value(flags, data()),
                Err(CacheError::Decode(_))
            ));
            assert!(matches!(
                i32::decode_value(flags, data()),
                Err(CacheError::Decode(_))
            ));
            assert!(matches!(
                bool::decode_value(flags, data()),
                Err(CacheError::Decode(_))
            ));
            assert!(matches!(
                f64::decode_value(flags, data()),
                Err(CacheError::Decode(_))
            ));
        }
    }
}
