//! How the cache turns keys and values into bytes: explicit, per type.
//!
//! Every encoding is chosen by the Rust type of the key or value, never by
//! a Cargo feature: the `serde` feature only *adds* the wrappers `Json`
//! and `SerdeKey`, and the `python` feature the wrapper `Python`, so code
//! that compiles without them produces the same memcached keys, stored
//! bytes and flags with them.
//!
//! # Values: encoding version 1
//!
//! A value is stored as memcached data plus memcached's client *flags*,
//! which say how the data is encoded, so any reader (another process,
//! another language, a later memwire) can decode it:
//!
//! | flags | constant        | data                          |
//! |-------|-----------------|-------------------------------|
//! | 0     | [`FLAG_BYTES`]  | raw bytes, as given           |
//! | 1     | [`FLAG_UTF8`]   | UTF-8 text, as is (no quotes) |
//! | 2     | [`FLAG_JSON`]   | JSON text                     |
//!
//! Other flags are refused on decoding ([`CacheError::Decode`]); new
//! encodings get new flag values, never a new meaning for an old one.
//!
//! | Rust type ([`CacheValue`])                                    | flags | data                        |
//! |---------------------------------------------------------------|-------|-----------------------------|
//! | `&str`, `String`, `&String`                                   | 1     | the text                    |
//! | `&[u8]`, `Vec<u8>`, `&Vec<u8>`, `Bytes`, `&Bytes`, `[u8; N]`, `&[u8; N]` | 0 | the bytes          |
//! | integers (`i8`..`i128`, `u8`..`u128`, `isize`, `usize`)       | 2     | decimal (`-12`)             |
//! | `bool`                                                        | 2     | `true` / `false`            |
//! | `f64` (finite)                                                | 2     | shortest round-trip (`2.5`, `1.0`, `1e+300`) |
//! | `Json<T>` (feature `serde`), `T: Serialize`                 | 2     | `serde_json` of `T`         |
//!
//! Numbers and booleans are written without serde, byte for byte as
//! serde_json writes them, so `Json(2.5)` and `2.5` store the same bytes
//! and either reads the other. (Unsigned integers as JSON text also work
//! with memcached's `incr`/`decr`.)
//!
//! # Values shared with Python: `Python<T>` (feature `python`)
//!
//! Python applications (python-memcached, pymemcache, lovely.memcached's
//! client) mark values with other flags: 0 bytes, 1 pickle, 2 `int`, 4
//! `long`, 8 compressed, 16 text. A Python app would read memwire's text
//! (flags 1) as a pickle, and memwire would refuse Python's text (16).
//! `Python<T>` stores and reads values in Python's conventions
//! (pickles through the `serde-pickle` crate, written at protocol 2 for
//! Python 2 and 3); see its table. Two native encodings already agree with
//! Python: bytes (flags 0 both ways) and integers (flags 2, decimal: a
//! native `i64` reads Python's `int` and Python reads memwire's).
//!
//! | Read as ([`FromCacheValue`])               | from flags                              |
//! |--------------------------------------------|-----------------------------------------|
//! | `String`                                   | 0 or 1 (valid UTF-8)                    |
//! | `Vec<u8>`, `Bytes`                         | any: the data as stored                 |
//! | integers, `bool`, `f64`                    | 2 (a JSON number / `true` / `false` that fits) |
//! | `Json<T>`, `T: DeserializeOwned`         | 2; also 0 and 1 when `T` accepts a string or bytes |
//!
//! # Keys
//!
//! A key becomes a memcached key by hashing its Python 2 pickle (see
//! [`keys`](super::keys)); key tracking stores its [`KeyForm`] and gives it
//! back with [`FromCacheKey`]:
//!
//! | Rust type ([`CacheKey`])                                    | pickled as          | tracked as          |
//! |-------------------------------------------------------------|---------------------|---------------------|
//! | `str`, `String`, `[u8]`, `Vec<u8>`, `Bytes`, `[u8; N]`       | `S'…'` (Python `str`) | [`KeyForm::Text`] |
//! | integers except `u8` (`i8`..`i128`, `u16`..`u128`, `isize`, `usize`) | `I…`, `L…L` beyond 64 bits | JSON number |
//! | `bool`                                                      | `I01` / `I00`       | JSON `true`/`false` |
//! | `f64`                                                       | `F…` (`%.17g`, as cPickle) | JSON number (finite only) |
//! | `()`, `None`                                                | `N`                 | JSON `null`         |
//! | `Some(k)`                                                   | as `k`              | as `k`              |
//! | tuples of keys, 1 to 6 items                                | `(…t` (a tuple)     | JSON array          |
//! | `&K` for any key `K`                                        | as `K`              | as `K`              |
//! | [`Unicode<S>`](Unicode), `S: AsRef<str>` (Python 2 `u'…'`)  | `V…` (a `unicode`)  | [`KeyForm::Text`]   |
//! | [`Long`] (Python 2 `1L`)                                    | `L…L` (a `long`)    | JSON number         |
//! | `SerdeKey<T>` (feature `serde`), `T: Serialize`            | by serde's data model | JSON (strings as text) |
//!
//! `u8` is not a key, so that byte slices and arrays are always one byte
//! string, never a sequence of numbers. A string and the same bytes are
//! the same key. Inside tuples, strings and UTF-8 bytes are JSON strings
//! and other bytes arrays of numbers. Only strings and bytes can be raw
//! keys ([`CacheKey::raw_bytes`]).
//!
//! Tracked keys read back ([`FromCacheKey`]) as the type they were set
//! with: `String` (text or raw keys), `Vec<u8>` and `Bytes` (text or raw
//! keys, byte arrays), integers, `bool`, `f64`, `()`, `Option<K>` (`null`
//! is `None`), tuples of those, and `SerdeKey<T>` for any
//! `T: DeserializeOwned`.

mod json;
mod native_keys;
mod native_values;
#[cfg(feature = "python")]
mod python;
mod python_keys;
#[cfg(feature = "serde")]
mod serde_codecs;
#[cfg(feature = "serde")]
mod serde_pickle;

use bytes::Bytes;

use super::keys::Pickler;
use super::tracking::KeyForm;
use super::CacheError;

#[cfg(feature = "python")]
pub use python::{Python, FLAG_COMPRESSED, FLAG_INTEGER, FLAG_LONG, FLAG_PICKLE, FLAG_TEXT};
pub use python_keys::{Long, Unicode};
#[cfg(feature = "serde")]
pub use serde_codecs::{Json, SerdeKey};

/// Flags of raw bytes.
pub const FLAG_BYTES: u32 = 0;
/// Flags of UTF-8 text.
pub const FLAG_UTF8: u32 = 1;
/// Flags of JSON text, encoding version 1.
pub const FLAG_JSON: u32 = 2;

/// An encoded value: memcached flags and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How `data` is encoded (`FLAG_*`).
    pub flags: u32,
    /// The bytes stored.
    pub data: Bytes,
}

impl Encoded {
    /// `data` stored with `flags`.
    pub fn new(flags: u32, data: impl Into<Bytes>) -> Encoded {
        Encoded {
            flags,
            data: data.into(),
        }
    }
}

/// A value the cache can store (see the [module docs](self) for the
/// types and their encodings). Taken by value: owned buffers are moved,
/// not copied.
///
/// ```
/// use memwire::cache::codec::{CacheValue, FLAG_BYTES, FLAG_JSON, FLAG_UTF8};
///
/// assert_eq!("text".encode_value()?.flags, FLAG_UTF8);
/// assert_eq!(vec![1u8, 2, 3].encode_value()?.flags, FLAG_BYTES);
/// let n = (-12i64).encode_value()?;
/// assert_eq!((n.flags, &n.data[..]), (FLAG_JSON, &b"-12"[..]));
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub trait CacheValue {
    /// Encode the value.
    ///
    /// # Errors
    ///
    /// [`CacheError::Encode`] when it cannot be encoded (a NaN, a
    /// serializer error).
    fn encode_value(self) -> Result<Encoded, CacheError>;
}

/// A type a cached value can be read back as (see the [module
/// docs](self)).
///
/// ```
/// use bytes::Bytes;
/// use memwire::cache::codec::FromCacheValue;
///
/// assert_eq!(i32::decode_value(2, Bytes::from_static(b"7"))?, 7);
/// assert_eq!(String::decode_value(1, Bytes::from_static(b"hi"))?, "hi");
/// assert!(String::decode_value(9, Bytes::new()).is_err()); // unknown flags
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub trait FromCacheValue: Sized {
    /// Decode data stored with `flags`.
    ///
    /// # Errors
    ///
    /// [`CacheError::Decode`] for unknown flags or data that does not fit
    /// the type.
    fn decode_value(flags: u32, data: Bytes) -> Result<Self, CacheError>;
}

/// A cache key (see the [module docs](self) for the types and their
/// encodings).
///
/// ```
/// use memwire::cache::codec::CacheKey;
/// use memwire::cache::keys::Pickler;
///
/// let mut p = Pickler::new();
/// (1, "ab").write_pickle(&mut p)?;
/// assert_eq!(p.finish(), b"(I1\nS'ab'\np1\ntp2\n.");
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
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

    /// The key's bytes when used as a raw key. Only strings and bytes are
    /// raw keys; the default refuses.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] when the key is not a string or bytes.
    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        let shown = match self.key_form() {
            Ok(form) => String::from_utf8_lossy(form.bytes()).into_owned(),
            Err(_) => String::new(),
        };
        Err(CacheError::InvalidKey {
            key: shown,
            reason: "a raw key must be a string or bytes".into(),
        })
    }
}

impl<K: CacheKey + ?Sized> CacheKey for &K {
    fn write_pickle(&self, pickler: &mut Pickler) -> Result<(), CacheError> {
        (**self).write_pickle(pickler)
    }

    fn key_form(&self) -> Result<KeyForm, CacheError> {
        (**self).key_form()
    }

    fn raw_bytes(&self) -> Result<Vec<u8>, CacheError> {
        (**self).raw_bytes()
    }
}

/// A type a tracked key can be read back as (see the cache's `keys`).
///
/// ```
/// use memwire::cache::codec::FromCacheKey;
/// use memwire::cache::tracking::KeyForm;
///
/// let form = KeyForm::Json(b"[1,\"a\"]".to_vec());
/// assert_eq!(<(i32, String)>::from_key_form(&form)?, (1, "a".to_string()));
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
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
