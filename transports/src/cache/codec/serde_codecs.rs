//! The `serde` feature's explicit wrappers: [`Json<T>`] values and
//! [`SerdeKey<T>`] keys, for any serde type.

use bytes::Bytes;
use serde::de::value::{BytesDeserializer, SeqDeserializer, StrDeserializer};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::serde_pickle::Ser;
use super::{decode_err, unknown_flags, CacheError, CacheKey, CacheValue, Encoded, FromCacheKey};
use super::{FromCacheValue, FLAG_BYTES, FLAG_JSON, FLAG_UTF8};
use crate::cache::keys::Pickler;
use crate::cache::tracking::KeyForm;

/// A value of any serde type, stored as its JSON (flags 2).
///
/// Store `Json(value)` (or `Json(&value)`), read back `Json<T>`. A string
/// wrapped in `Json` is stored as a JSON string (`"text"`, flags 2), unlike
/// a plain `&str` (the text, flags 1); `Json<T>` also reads values stored
/// with flags 0 or 1 when `T` accepts a string or bytes.
///
/// ```
/// use memwire::cache::codec::{CacheValue, FromCacheValue, Json};
///
/// let stored = Json(("ä", vec![1, 2])).encode_value()?;
/// assert_eq!((stored.flags, &stored.data[..]), (2, "[\"ä\",[1,2]]".as_bytes()));
/// let Json(back) = Json::<(String, Vec<i32>)>::decode_value(stored.flags, stored.data)?;
/// assert_eq!(back, ("ä".to_string(), vec![1, 2]));
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Serialize> CacheValue for Json<T> {
    fn encode_value(self) -> Result<Encoded, CacheError> {
        let json = serde_json::to_vec(&self.0).map_err(|e| CacheError::Encode(e.to_string()))?;
        Ok(Encoded::new(FLAG_JSON, json))
    }
}

impl<T: DeserializeOwned> FromCacheValue for Json<T> {
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError> {
        match flags {
            FLAG_JSON => serde_json::from_slice(&data).map(Json).map_err(decode_err),
            FLAG_BYTES | FLAG_UTF8 => from_text(&data).map(Json),
            other => Err(unknown_flags(other)),
        }
    }
}

/// `T` from text or bytes: as a string when it is UTF-8 and `T` takes
/// one, else as bytes, else as a sequence of byte values.
pub(super) fn from_text<T: DeserializeOwned>(data: &[u8]) -> Result<T, CacheError> {
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

/// A key of any serde type, hashed as the pickle of its serde data model
/// and tracked as its JSON (strings as text).
///
/// Strings, integers, floats, `bool`, `Option`, `()` and tuples hash as
/// the same keys as the native ones; sequences (`Vec<T>`, slices — also
/// `Vec<u8>`, which serde sees as a list of numbers) are Python lists,
/// maps and structs dicts, enum variants tuples (see
/// [`keys`](crate::cache::keys)).
///
/// ```
/// use memwire::cache::codec::SerdeKey;
/// use memwire::cache::keys::hashed_key;
///
/// // A list key, as a Python list: not the bytes b"\x01\x02".
/// let list = hashed_key(None, &SerdeKey(vec![1u8, 2]))?;
/// assert_ne!(list, hashed_key(None, &vec![1u8, 2])?);
/// // Where serde and the native keys overlap, the keys are the same.
/// assert_eq!(hashed_key(None, &SerdeKey((1, "a")))?, hashed_key(None, &(1, "a"))?);
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SerdeKey<T>(pub T);

impl<T> SerdeKey<T> {
    /// The key.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The key's JSON, or its text when it serializes as a JSON string.
fn json_form<T: Serialize + ?Sized>(key: &T) -> Result<KeyForm, CacheError> {
    let json = serde_json::to_vec(key).map_err(|e| CacheError::Encode(e.to_string()))?;
    if json.first() == Some(&b'"') {
        let s: String =
            serde_json::from_slice(&json).map_err(|e| CacheError::Encode(e.to_string()))?;
        Ok(KeyForm::Text(s.into_bytes()))
    } else {
        Ok(KeyForm::Json(json))
    }
}

impl<T: Serialize> CacheKey for SerdeKey<T> {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        self.0
            .serialize(&mut Ser(pickler))
            .map_err(|e| CacheError::Encode(e.0))
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        json_form(&self.0)
    }

    /// Keys that serialize as strings.
    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        match json_form(&self.0)? {
            KeyForm::Text(s) => Ok(s),
            other => Err(CacheError::InvalidKey {
                key: String::from_utf8_lossy(other.bytes()).into_owned(),
                reason: "a raw key must be a string".into(),
            }),
        }
    }
}

impl<T: DeserializeOwned> FromCacheKey for SerdeKey<T> {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        match form {
            KeyForm::Json(j) => serde_json::from_slice(j).map(SerdeKey).map_err(decode_err),
            KeyForm::Text(b) | KeyForm::Raw(b) => from_text(b).map(SerdeKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cache::keys::hashed_key;

    fn pickle<K: CacheKey>(k: &K) -> Vec<u8> {
        let mut p = Pickler::new();
        k.write_pickle(&mut p).unwrap();
        p.finish()
    }

    #[test]
    fn serde_keys_pickle_like_python() {
        assert_eq!(pickle(&SerdeKey("cache_key")), b"S'cache_key'\np1\n.");
        assert_eq!(pickle(&SerdeKey(1)), b"I1\n.");
        assert_eq!(
            pickle(&SerdeKey(Some(1u64 << 63))),
            b"L9223372036854775808L\n."
        );
        assert_eq!(pickle(&SerdeKey((1, "a"))), b"(I1\nS'a'\ntp1\n.");
        assert_eq!(pickle(&SerdeKey(&[1, 2][..])), b"(lp1\nI1\naI2\na.");
        assert_eq!(pickle(&SerdeKey(vec![1u8, 2])), b"(lp1\nI1\naI2\na.");
        let mut m = BTreeMap::new();
        m.insert("k", 2.5);
        assert_eq!(pickle(&SerdeKey(&m)), b"(dp1\nS'k'\nF2.5\ns.");
        assert_eq!(pickle(&SerdeKey(())), b"N.");
        assert_eq!(pickle(&SerdeKey(Some(()))), b"N.");
    }

    #[test]
    fn serde_keys_agree_with_native_ones_where_they_overlap() {
        macro_rules! same {
            ($($k:expr),*) => {$(
                assert_eq!(pickle(&SerdeKey($k)), pickle(&$k), "{:?}", $k);
                assert_eq!(SerdeKey($k).key_form().unwrap(), $k.key_form().unwrap(), "{:?}", $k);
            )*};
        }
        same!(
            "a'\"\\\n ä",
            String::from("s"),
            -3i64,
            u64::MAX,
            true,
            2.5,
            1e300,
            -0.0,
            (),
            None::<i32>,
            Some(4),
            (1, "a"),
            (("x", 1.5), false, (), -2i8)
        );
        assert_eq!(
            hashed_key(Some("ns"), &SerdeKey((1, "a"))).unwrap(),
            hashed_key(Some("ns"), &(1, "a")).unwrap()
        );
    }

    #[test]
    fn serde_key_forms_round_trip() {
        let k: SerdeKey<i32> = FromCacheKey::from_key_form(&1.key_form().unwrap()).unwrap();
        assert_eq!(k.0, 1);
        let k: SerdeKey<String> =
            FromCacheKey::from_key_form(&KeyForm::Raw(b"a".to_vec())).unwrap();
        assert_eq!(k.into_inner(), "a");
        let m: BTreeMap<String, i32> = [("k".to_string(), 1)].into();
        let form = SerdeKey(&m).key_form().unwrap();
        assert_eq!(form, KeyForm::Json(br#"{"k":1}"#.to_vec()));
        let back: SerdeKey<BTreeMap<String, i32>> = FromCacheKey::from_key_form(&form).unwrap();
        assert_eq!(back.0, m);
        // Native keys read serde-tracked keys and the reverse.
        let back: (i32, String) =
            FromCacheKey::from_key_form(&SerdeKey((1, "a")).key_form().unwrap()).unwrap();
        assert_eq!(back, (1, "a".to_string()));
        assert_eq!(SerdeKey("a").raw_bytes().unwrap(), b"a");
        assert!(matches!(
            SerdeKey(1).raw_bytes(),
            Err(CacheError::InvalidKey { .. })
        ));
    }

    #[test]
    fn json_values() {
        let e = Json((1, vec!["x"])).encode_value().unwrap();
        assert_eq!((e.flags, &e.data[..]), (FLAG_JSON, &b"[1,[\"x\"]]"[..]));
        let Json(back): Json<(i32, Vec<String>)> =
            FromCacheValue::decode_value(e.flags, e.data).unwrap();
        assert_eq!(back, (1, vec!["x".to_string()]));

        // A string in Json is JSON; Json<String> also reads plain text.
        let e = Json("ä").encode_value().unwrap();
        assert_eq!((e.flags, &e.data[..]), (FLAG_JSON, "\"ä\"".as_bytes()));
        let text = "ä".encode_value().unwrap();
        let Json(s): Json<String> = FromCacheValue::decode_value(text.flags, text.data).unwrap();
        assert_eq!(s, "ä");
        let Json(raw): Json<Vec<u8>> =
            FromCacheValue::decode_value(FLAG_BYTES, Bytes::from_static(b"\xff\x00")).unwrap();
        assert_eq!(raw, vec![0xff, 0]);

        assert!(matches!(
            Json::<i32>::decode_value(FLAG_UTF8, Bytes::from_static(b"x")),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            Json::<String>::decode_value(7, Bytes::new()),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            Json::<i32>::decode_value(FLAG_JSON, Bytes::from_static(b"[1")),
            Err(CacheError::Decode(_))
        ));
    }

    #[test]
    fn native_numbers_are_serde_json_numbers() {
        // The same bytes as serde_json, so Json<T> and natives read each other.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut floats = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            2.5,
            1e-5,
            9.99e-6,
            1e15,
            1e16,
            123456.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                floats.push(f);
            }
            floats.push((x % 1_000_000_007) as f64 / 1000.0);
        }
        for f in floats {
            let native = f.encode_value().unwrap();
            let serde = Json(f).encode_value().unwrap();
            assert_eq!(native, serde, "{f:e}");
            assert_eq!(
                f64::decode_value(serde.flags, serde.data)
                    .unwrap()
                    .to_bits(),
                f.to_bits()
            );
            // serde_json's default parser may be one ulp off; the native
            // one is exact.
            let Json(back): Json<f64> =
                FromCacheValue::decode_value(native.flags, native.data).unwrap();
            assert!((back - f).abs() <= f.abs() * 1e-15, "{f:e}");
        }
        for n in [
            0i128,
            -1,
            i128::from(i64::MIN),
            i128::from(u64::MAX),
            i128::MAX,
            i128::MIN,
        ] {
            assert_eq!(n.encode_value().unwrap(), Json(n).encode_value().unwrap());
        }
        assert_eq!(
            true.encode_value().unwrap(),
            Json(true).encode_value().unwrap()
        );
    }
}
