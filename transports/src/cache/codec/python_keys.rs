//! The Python 2 key types Rust's own types cannot say: [`Unicode`]
//! (`u'key'`) and [`Long`] (`1L`), so that keys a Python 2 application
//! hashed through lovely.memcached hash the same in memwire.

use super::{CacheError, CacheKey, FromCacheKey};
use crate::cache::keys::Pickler;
use crate::cache::tracking::KeyForm;

/// A key pickled as a Python 2 `unicode` string (`V…`), as lovely.memcached
/// hashes `u'key'`; a plain `&str` or `String` key is a Python `str`
/// (`'key'`, `S'…'`), another key.
///
/// Tracked as text: it reads back as `Unicode<String>` (or `String`, which
/// would then hash as a `str`). Not a raw key: lovely refuses a unicode raw
/// key too (`ValueError: u'a'`).
///
/// ```
/// use memwire::cache::codec::Unicode;
/// use memwire::cache::keys::hashed_key;
///
/// // lovely: MemcachedClient(defaultNS=u'1').set(value, u'a')
/// assert_eq!(hashed_key(Some("1"), &Unicode("a"))?, "2aa7af2361f9609aa65a135c927ca3cc");
/// assert_ne!(hashed_key(None, &Unicode("ab"))?, hashed_key(None, "ab")?);
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Unicode<S>(pub S);

impl<S> Unicode<S> {
    /// The string.
    pub fn into_inner(self) -> S {
        self.0
    }
}

impl<S: AsRef<str>> CacheKey for Unicode<S> {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        pickler.unicode(self.0.as_ref());
        Ok(())
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        Ok(KeyForm::Text(self.0.as_ref().as_bytes().to_vec()))
    }

    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        Err(CacheError::InvalidKey {
            key: self.0.as_ref().to_owned(),
            reason: "a raw key must be a str (bytes), not unicode, as in lovely.memcached".into(),
        })
    }
}

/// A tracked string key.
impl FromCacheKey for Unicode<String> {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        String::from_key_form(form).map(Unicode)
    }
}

/// An integer key pickled as a Python 2 `long` (`L…L`) whatever its size,
/// as lovely.memcached hashes `1L`; Rust integers are Python `int`s up to
/// 64 bits (`I…`) and longs only beyond. Tracked as a JSON number.
///
/// ```
/// use memwire::cache::codec::Long;
/// use memwire::cache::keys::hashed_key;
///
/// assert_eq!(hashed_key(None, &Long(1))?, "a45c8d440792b3d3c06e6bf65be2712f"); // 1L
/// assert_ne!(hashed_key(None, &Long(1))?, hashed_key(None, &1)?); // 1
/// // Beyond 64 bits every integer is a long.
/// assert_eq!(hashed_key(None, &Long(1 << 70))?, hashed_key(None, &(1i128 << 70))?);
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Long(pub i128);

impl CacheKey for Long {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        pickler.long(self.0);
        Ok(())
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        self.0.key_form()
    }
}

/// A tracked integer key.
impl FromCacheKey for Long {
    fn from_key_form(form: &KeyForm) -> Result<Self, CacheError> {
        i128::from_key_form(form).map(Long)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::keys::hashed_key;

    fn pickle<K: CacheKey>(k: &K) -> Vec<u8> {
        let mut p = Pickler::new();
        k.write_pickle(&mut p).unwrap();
        p.finish()
    }

    #[test]
    fn pickles_like_python_2() {
        assert_eq!(pickle(&Unicode("")), b"V\n.");
        assert_eq!(pickle(&Unicode("a")), b"Va\n.");
        assert_eq!(pickle(&Unicode(String::from("ab"))), b"Vab\np1\n.");
        assert_eq!(pickle(&Long(1)), b"L1L\n.");
        assert_eq!(
            pickle(&(Long(-2), Unicode("xy"))),
            b"(L-2L\nVxy\np1\ntp2\n."
        );
    }

    /// Vectors of `scripts/py2-pickle0.py` (see `keys`' tests).
    #[test]
    fn lovely_keys() {
        let cases = [
            (
                hashed_key(None, &Unicode("")),
                "4fefdd3c0ed09e425ccd35a307c93cd8",
            ),
            (
                hashed_key(None, &Unicode("a")),
                "b8d7fad8f3e8d3bbf3a80f023eb17d96",
            ),
            (
                hashed_key(None, &Unicode("ab")),
                "7539744a20254ee477e1ac9af88e6a6f",
            ),
            (
                hashed_key(None, &Unicode("ä€😀\\\n")),
                "9f10c2a1d2e708eaea19e13ef4e641c3",
            ),
            (
                hashed_key(None, &Long(1)),
                "a45c8d440792b3d3c06e6bf65be2712f",
            ),
            (
                hashed_key(Some("1"), &Unicode("a")),
                "2aa7af2361f9609aa65a135c927ca3cc",
            ),
            (
                hashed_key(Some("名前"), &Unicode("ä")),
                "16182610a8f042ab00e085a6432e7ea1",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap(), want);
        }
    }

    #[test]
    fn forms_round_trip_and_raw_keys_are_refused() {
        let form = Unicode("ä b").key_form().unwrap();
        assert_eq!(form, KeyForm::Text("ä b".as_bytes().to_vec()));
        assert_eq!(
            Unicode::<String>::from_key_form(&form)
                .unwrap()
                .into_inner(),
            "ä b"
        );
        let form = Long(-7).key_form().unwrap();
        assert_eq!(form, KeyForm::Json(b"-7".to_vec()));
        assert_eq!(Long::from_key_form(&form).unwrap(), Long(-7));
        assert!(matches!(
            Unicode("a").raw_bytes(),
            Err(CacheError::InvalidKey { .. })
        ));
        assert!(matches!(
            Long(1).raw_bytes(),
            Err(CacheError::InvalidKey { .. })
        ));
    }
}
