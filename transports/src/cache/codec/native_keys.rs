//! The key encodings that need no serde: strings and bytes, integers,
//! booleans, floats, `()`/`Option`, and tuples of keys (see the table in
//! [`super`]).

use bytes::Bytes;

use super::json;
use super::{decode_err, CacheError, CacheKey, FromCacheKey};
use crate::cache::keys::Pickler;
use crate::cache::tracking::KeyForm;

// ---- strings and bytes: one Python `str` ----

macro_rules! byte_keys {
    ($($t:ty),*) => {$(
        impl CacheKey for $t {
            fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
                pickler.string(AsRef::<[u8]>::as_ref(self));
                Ok(())
            }

            fn key_form(&self) -> Result<KeyForm, CacheError> {
                Ok(KeyForm::Text(AsRef::<[u8]>::as_ref(self).to_vec()))
            }

            fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
                Ok(AsRef::<[u8]>::as_ref(self).to_vec())
            }
        }
    )*};
}

byte_keys!(str, String, [u8], Vec<u8>, Bytes);

impl<const N: usize> CacheKey for [u8; N] {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        self[..].write_pickle(pickler)
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        self[..].key_form()
    }

    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        Ok(self.to_vec())
    }
}

/// A string or raw key, if it is UTF-8.
impl FromCacheKey for String {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        match form {
            KeyForm::Text(b) | KeyForm::Raw(b) => String::from_utf8(b.clone()).map_err(decode_err),
            KeyForm::Json(j) => Err(json::not_a("a string key", j)),
        }
    }
}

/// A string, bytes or raw key.
impl FromCacheKey for Vec<u8> {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        match form {
            KeyForm::Text(b) | KeyForm::Raw(b) => Ok(b.clone()),
            KeyForm::Json(j) => json::parse_bytes(j).ok_or_else(|| json::not_a("a bytes key", j)),
        }
    }
}

/// A string, bytes or raw key.
impl FromCacheKey for Bytes {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        Vec::<u8>::from_key_form(form).map(Bytes::from)
    }
}

// ---- scalars: tracked as JSON ----

/// The JSON of a key that was not a string.
fn json_form<'f>(form: &'f KeyForm, what: &str) -> Result<&'f [u8], CacheError> {
    match form {
        KeyForm::Json(j) => Ok(j),
        KeyForm::Text(b) | KeyForm::Raw(b) => Err(decode_err(format_args!(
            "expected {what}, found the string key {:?}",
            String::from_utf8_lossy(b)
        ))),
    }
}

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl CacheKey for $t {
            fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
                let n = i128::try_from(*self).map_err(|_| {
                    CacheError::Encode(format!("integer key {self} is above i128::MAX"))
                })?;
                pickler.int(n);
                Ok(())
            }

            fn key_form(&self) -> Result<KeyForm, CacheError> {
                Ok(KeyForm::Json(self.to_string().into_bytes()))
            }
        }

        impl FromCacheKey for $t {
            fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
                let what = concat!("an integer key fitting ", stringify!($t));
                let j = json_form(form, what)?;
                json::parse_int(j).ok_or_else(|| json::not_a(what, j))
            }
        }
    )*};
}

// Not `u8`: byte slices and arrays stay byte strings.
integer_keys!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl CacheKey for bool {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        pickler.bool(*self);
        Ok(())
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        Ok(KeyForm::Json(self.to_string().into_bytes()))
    }
}

impl FromCacheKey for bool {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        let j = json_form(form, "a bool key")?;
        json::parse_bool(j).ok_or_else(|| json::not_a("a bool key", j))
    }
}

/// Any float hashes; only finite ones can be tracked (JSON has no NaN).
impl CacheKey for f64 {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        pickler.float(*self);
        Ok(())
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        Ok(KeyForm::Json(json::f64_text(*self)?.into_bytes()))
    }
}

impl FromCacheKey for f64 {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        let j = json_form(form, "a number key")?;
        json::parse_f64(j).ok_or_else(|| json::not_a("a number key", j))
    }
}

/// Python's `None`.
impl CacheKey for () {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        pickler.none();
        Ok(())
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        Ok(KeyForm::Json(b"null".to_vec()))
    }
}

impl FromCacheKey for () {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        let j = json_form(form, "a null key")?;
        json::is_null(j)
            .then_some(())
            .ok_or_else(|| json::not_a("a null key", j))
    }
}

/// `None` is Python's `None`; `Some(k)` is `k`.
impl<K: CacheKey> CacheKey for Option<K> {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        match self {
            Some(k) => k.write_pickle(pickler),
            None => ().write_pickle(pickler),
        }
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        match self {
            Some(k) => k.key_form(),
            None => ().key_form(),
        }
    }

    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        match self {
            Some(k) => k.raw_bytes(),
            None => ().raw_bytes(),
        }
    }
}

impl<K: FromCacheKey> FromCacheKey for Option<K> {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        match form {
            KeyForm::Json(j) if json::is_null(j) => Ok(None),
            form => K::from_key_form(form).map(Some),
        }
    }
}

// ---- tuples: Python tuples, tracked as JSON arrays ----

/// The JSON array of the items' forms.
fn tuple_form(items: &[KeyForm]) -> KeyForm {
    let mut out = vec![b'['];
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            KeyForm::Json(j) => out.extend_from_slice(j),
            KeyForm::Text(b) | KeyForm::Raw(b) => json::write_bytes(&mut out, b),
        }
    }
    out.push(b']');
    KeyForm::Json(out)
}

/// The items of a tuple key of `len` items, each as a form: strings as
/// text, anything else as JSON.
fn tuple_items(form: &KeyForm, len: usize) -> Result<std::vec::IntoIter<KeyForm>, CacheError> {
    let what = format!("a tuple key of {len} items");
    let j = json_form(form, &what)?;
    let items = json::split_array(j)
        .filter(|items| items.len() == len)
        .ok_or_else(|| json::not_a(&what, j))?;
    let forms = items
        .into_iter()
        .map(|item| match json::parse_str(item) {
            Some(s) => KeyForm::Text(s.into_bytes()),
            None => KeyForm::Json(item.to_vec()),
        })
        .collect::<Vec<_>>();
    Ok(forms.into_iter())
}

macro_rules! tuple_keys {
    ($($len:literal => ($($name:ident . $idx:tt),+);)*) => {$(
        impl<$($name: CacheKey),+> CacheKey for ($($name,)+) {
            fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
                pickler.begin_tuple();
                $(self.$idx.write_pickle(pickler)?;)+
                pickler.end_tuple($len);
                Ok(())
            }

            fn key_form(&self) -> Result<KeyForm, CacheError> {
                Ok(tuple_form(&[$(self.$idx.key_form()?),+]))
            }
        }

        impl<$($name: FromCacheKey),+> FromCacheKey for ($($name,)+) {
            fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
                let mut items = tuple_items(form, $len)?;
                let mut next = || items.next().ok_or_else(|| decode_err("missing tuple item"));
                Ok(($($name::from_key_form(&next()?)?,)+))
            }
        }
    )*};
}

tuple_keys! {
    1 => (A.0);
    2 => (A.0, B.1);
    3 => (A.0, B.1, C.2);
    4 => (A.0, B.1, C.2, D.3);
    5 => (A.0, B.1, C.2, D.3, E.4);
    6 => (A.0, B.1, C.2, D.3, E.4, F.5);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::keys::hashed_key;

    fn pickle<K: CacheKey + ?Sized>(k: &K) -> Vec<u8> {
        let mut p = Pickler::new();
        k.write_pickle(&mut p).unwrap();
        p.finish()
    }

    fn round_trip<K: CacheKey + FromCacheKey + PartialEq + std::fmt::Debug>(k: K) {
        let form = k.key_form().unwrap();
        assert_eq!(K::from_key_form(&form).unwrap(), k, "{form:?}");
    }

    #[test]
    fn pickles_like_python() {
        assert_eq!(pickle("cache_key"), b"S'cache_key'\np1\n.");
        assert_eq!(pickle(&b"cache_key"[..]), b"S'cache_key'\np1\n.");
        assert_eq!(pickle(b"ab"), b"S'ab'\np1\n.");
        assert_eq!(pickle(&vec![1u8, 2]), b"S'\\x01\\x02'\np1\n.");
        assert_eq!(pickle(&1), b"I1\n.");
        assert_eq!(pickle(&(1u64 << 63)), b"L9223372036854775808L\n.");
        assert_eq!(pickle(&true), b"I01\n.");
        assert_eq!(pickle(&2.5), b"F2.5\n.");
        assert_eq!(pickle(&0.1), b"F0.10000000000000001\n.");
        assert_eq!(pickle(&1.0), b"F1\n.");
        assert_eq!(pickle(&()), b"N.");
        assert_eq!(pickle(&None::<i32>), b"N.");
        assert_eq!(pickle(&Some(1)), b"I1\n.");
        assert_eq!(pickle(&(1, "a")), b"(I1\nS'a'\ntp1\n.");
        assert_eq!(pickle(&(1, "ab")), b"(I1\nS'ab'\np1\ntp2\n.");
        assert_eq!(pickle(""), b"S''\n.");
        assert_eq!(pickle("a"), b"S'a'\n.");
        assert_eq!(pickle(&(1,)), b"(I1\ntp1\n.");
        assert_eq!(
            pickle(&(("a",), 2.5, false)),
            b"((S'a'\ntp1\nF2.5\nI00\ntp2\n."
        );
        assert!(matches!(
            u128::MAX.write_pickle(&mut Pickler::new()),
            Err(CacheError::Encode(_))
        ));
    }

    #[test]
    fn the_seed_key() {
        let k = hashed_key(None, "cache_key").unwrap();
        assert_eq!(k, "188693688126b424eb89e1385eca6f01");
        assert_eq!(hashed_key(None, &String::from("cache_key")).unwrap(), k);
        assert_eq!(hashed_key(None, b"cache_key").unwrap(), k);
    }

    /// Rust keys hash as the Python 2 values lovely.memcached hashes. The
    /// md5 keys are `scripts/py2-pickle0.py`'s (see `keys`' tests), but
    /// `(u'1', 1)` → `fadac4c9…`, given by issue #13, and the seed's key.
    #[test]
    fn lovely_keys_of_rust_values() {
        let cases = [
            (hashed_key(None, ""), "ab12b2a99cf8bcfcf8e191f0ed2e98ae"),
            (hashed_key(None, "a"), "d91f55f5c52963dfe909633aa63422ef"),
            (hashed_key(None, b"ab"), "99d82b3967279e938772903b469e005a"),
            (
                hashed_key(None, &b"a'b\n\xff"[..]),
                "1a02ce22e7a028ee0680d435eec8e6dd",
            ),
            (hashed_key(None, &1u16), "e55528fb12b23418f10687799bb3fb3c"),
            (hashed_key(None, &-5i8), "8470f73624b55a5b3cf22631d99bfefc"),
            (
                hashed_key(None, &(1u64 << 63)),
                "b78e0fb2324cb23398b4bc6d76a2d94d",
            ),
            (hashed_key(None, &0.1), "b6587b2602f72d49b494ba682587489f"),
            (hashed_key(None, &1.0), "ce14df01762e56cbfcd36419166a91ea"),
            (hashed_key(None, &true), "408c2c2ee2e4f5cce08cef2b52b31aca"),
            (hashed_key(None, &()), "2c45f80c650c95d1b2dc2b9115fe543b"),
            (
                hashed_key(None, &(1, "a")),
                "ffe00791912a694f7b551421fcdde98d",
            ),
            (
                hashed_key(None, &(("a",), 2.5, false)),
                "908d64f75aaff450614b90112c44b160",
            ),
            (
                hashed_key(Some("1"), &1),
                "fadac4c998ec2f6be06d1c76dafd27e9",
            ),
            (
                hashed_key(Some("2"), &2i64),
                "a4bcaaf3aed8756b78151152adbb4910",
            ),
            (
                hashed_key(Some("1"), &(1i128 << 70)),
                "b7a49daa3a693a9075be90c686d1ff4e",
            ),
            (
                hashed_key(Some("1"), &None::<i32>),
                "c787450d87951878de50e9eccc7e5148",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap(), want);
        }
    }

    #[test]
    fn forms_round_trip() {
        round_trip(String::from("a b"));
        round_trip(vec![0xffu8, 0]);
        round_trip(Bytes::from_static(b"x"));
        round_trip(-7i64);
        round_trip(u128::MAX);
        round_trip(true);
        round_trip(2.5f64);
        round_trip(());
        round_trip(Some(3u32));
        round_trip(None::<u32>);
        round_trip((1,));
        round_trip((1, String::from("a\"\n")));
        round_trip((vec![0xffu8], String::from("ä"), -1i8, false, 0.5, (2u16,)));
        round_trip((Some(1), None::<String>));
        assert_eq!(
            (1, "a", vec![0xffu8], 2.5, true, ()).key_form().unwrap(),
            KeyForm::Json(br#"[1,"a",[255],2.5,true,null]"#.to_vec())
        );
        assert_eq!("a".key_form().unwrap(), KeyForm::Text(b"a".to_vec()));
        assert_eq!(1.key_form().unwrap(), KeyForm::Json(b"1".to_vec()));
        assert!(matches!(f64::NAN.key_form(), Err(CacheError::Encode(_))));
    }

    #[test]
    fn forms_of_another_type_are_refused() {
        let text = KeyForm::Text(b"1".to_vec());
        assert!(matches!(
            i32::from_key_form(&text),
            Err(CacheError::Decode(_))
        ));
        let json = KeyForm::Json(b"1".to_vec());
        assert!(matches!(
            String::from_key_form(&json),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            Vec::<u8>::from_key_form(&json),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            u16::from_key_form(&KeyForm::Json(b"-1".to_vec())),
            Err(CacheError::Decode(_))
        ));
        let pair = KeyForm::Json(b"[1,2]".to_vec());
        assert!(matches!(
            <(i32,)>::from_key_form(&pair),
            Err(CacheError::Decode(_))
        ));
        assert!(matches!(
            <(i32, String)>::from_key_form(&pair),
            Err(CacheError::Decode(_))
        ));
        assert_eq!(<(i32, i32)>::from_key_form(&pair).unwrap(), (1, 2));
        assert_eq!(
            String::from_key_form(&KeyForm::Raw(b"r".to_vec())).unwrap(),
            "r"
        );
    }

    #[test]
    fn only_strings_and_bytes_are_raw_keys() {
        assert_eq!("a".raw_bytes().unwrap(), b"a");
        assert_eq!(b"a".raw_bytes().unwrap(), b"a");
        assert_eq!(Some("a").raw_bytes().unwrap(), b"a");
        for refused in [
            1.raw_bytes(),
            (1, "a").raw_bytes(),
            None::<&str>.raw_bytes(),
            true.raw_bytes(),
        ] {
            assert!(matches!(refused, Err(CacheError::InvalidKey { .. })));
        }
    }
}
