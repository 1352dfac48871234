//! Memcached keys of the `Cache`: hashed keys compatible with
//! lovely.memcached, raw keys, and the reserved key of a namespace's
//! key-tracking record. Pure functions; nothing here does I/O.
//!
//! # The hashed key
//!
//! A cache key (any type) and its namespace become the memcached key
//!
//! ```text
//! md5_hex(pickle0(key))              without a namespace
//! md5_hex(pickle0((namespace, key))) with one
//! ```
//!
//! where `pickle0` is Python 2's `cPickle.dumps` at protocol 0 — exactly
//! what lovely.memcached's `_buildKey` hashes, so a string or integer key
//! gets the same memcached key from memwire and from lovely.memcached
//! (`set('cached value', 'cache_key')` → `188693688126b424eb89e1385eca6f01`).
//! The key is always 32 hex digits, whatever the key's type and length. The
//! encoding is self-delimiting (strings are quoted and escaped), so
//! `("a", "bc")` and `("ab", "c")` never share a key.
//!
//! Which Rust types are keys, and how each is pickled, is listed in
//! [`codec`](super::codec): strings and bytes are Python `str` (`S'…'`),
//! the namespace a Python `unicode` (`V…`), integers `I…` (`L…L` beyond 64
//! bits), floats `F…` (Python's repr), `None`/`()` `N`, tuples `(…t`;
//! `SerdeKey` (feature `serde`) adds lists (`(l…a`), dicts (`(d…s`, in
//! serialization order: use `BTreeMap`, not `HashMap`) and enum variants.
//! Memo numbering follows cPickle (from 1); unlike Python, memwire never
//! emits back-references for repeated objects, so a key holding the *same*
//! interned Python object twice may hash differently in Python.
//!
//! # Raw keys
//!
//! A raw key is used as is, with the namespace prepended (`"NS_" + "a"` →
//! `NS_a`), and checked with [`memwire_core::key::validate`]; keys starting
//! with [`RESERVED_PREFIX`] are refused too.

use std::fmt::Write as _;

use memwire_core::cluster::md5::md5;
use memwire_core::key::validate;

use super::float_text::python_repr;
use super::{CacheError, CacheKey};

/// Prefix of the memcached keys memwire reserves for its own records
/// (key tracking). Raw keys may not start with it.
pub const RESERVED_PREFIX: &str = "memwire.";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A Python 2 `cPickle` protocol 0 writer for the values memwire hashes.
///
/// ```
/// use memwire::cache::keys::Pickler;
/// let mut p = Pickler::new();
/// p.string(b"cache_key");
/// assert_eq!(p.finish(), b"S'cache_key'\np1\n.");
/// ```
#[derive(Debug, Clone)]
pub struct Pickler {
    out: Vec<u8>,
    next_memo: u32,
}

impl Default for Pickler {
    fn default() -> Self {
        Pickler::new()
    }
}

impl Pickler {
    /// An empty pickle; memo ids start at 1, as in cPickle.
    pub fn new() -> Pickler {
        Pickler {
            out: Vec::new(),
            next_memo: 1,
        }
    }

    fn memo(&mut self) {
        let id = self.next_memo;
        self.next_memo += 1;
        self.out.push(b'p');
        self.out.extend_from_slice(id.to_string().as_bytes());
        self.out.push(b'\n');
    }

    /// A Python 2 `str` (bytes), written as `S` + `repr(bytes)`.
    pub fn string(&mut self, bytes: &[u8]) {
        let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
            b'"'
        } else {
            b'\''
        };
        self.out.push(b'S');
        self.out.push(quote);
        for &b in bytes {
            match b {
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                b if b == quote => self.out.extend_from_slice(&[b'\\', b]),
                b if !(b' '..0x7f).contains(&b) => {
                    let _ = write!(StrSink(&mut self.out), "\\x{b:02x}");
                }
                b => self.out.push(b),
            }
        }
        self.out.push(quote);
        self.out.push(b'\n');
        self.memo();
    }

    /// A Python 2 `unicode`, written as `V` + raw-unicode-escape (with `\`
    /// and newline escaped, as cPickle does; a UCS-4 build).
    pub fn unicode(&mut self, text: &str) {
        self.out.push(b'V');
        for c in text.chars() {
            let n = u32::from(c);
            match c {
                '\\' | '\n' => {
                    let _ = write!(StrSink(&mut self.out), "\\u{n:04x}");
                }
                _ if n < 0x100 => self.out.push(n as u8),
                _ if n < 0x10000 => {
                    let _ = write!(StrSink(&mut self.out), "\\u{n:04x}");
                }
                _ => {
                    let _ = write!(StrSink(&mut self.out), "\\U{n:08x}");
                }
            }
        }
        self.out.push(b'\n');
        self.memo();
    }

    /// A Python integer: `I` for 64-bit values, `L…L` (long) beyond.
    pub fn int(&mut self, n: i128) {
        if i64::try_from(n).is_ok() {
            let _ = writeln!(StrSink(&mut self.out), "I{n}");
        } else {
            let _ = writeln!(StrSink(&mut self.out), "L{n}L");
        }
    }

    /// A Python `bool` (protocol 0 writes `I01` / `I00`).
    pub fn bool(&mut self, b: bool) {
        self.out
            .extend_from_slice(if b { b"I01\n" } else { b"I00\n" });
    }

    /// A Python `float`, formatted like Python's `repr`.
    pub fn float(&mut self, f: f64) {
        let _ = writeln!(StrSink(&mut self.out), "F{}", python_repr(f));
    }

    /// `None`.
    pub fn none(&mut self) {
        self.out.push(b'N');
    }

    /// Start a tuple (write its items, then [`Pickler::end_tuple`]).
    pub fn begin_tuple(&mut self) {
        self.out.push(b'(');
    }

    /// End a tuple of `len` items.
    pub fn end_tuple(&mut self, len: usize) {
        self.out.push(b't');
        if len > 0 {
            self.memo();
        }
    }

    /// Start a list; follow each item with [`Pickler::list_item`].
    pub fn begin_list(&mut self) {
        self.out.extend_from_slice(b"(l");
        self.memo();
    }

    /// After each list item.
    pub fn list_item(&mut self) {
        self.out.push(b'a');
    }

    /// Start a dict; follow each key and value with [`Pickler::dict_item`].
    pub fn begin_dict(&mut self) {
        self.out.extend_from_slice(b"(d");
        self.memo();
    }

    /// After each key and value of a dict.
    pub fn dict_item(&mut self) {
        self.out.push(b's');
    }

    /// The finished pickle (with the `STOP` opcode).
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'.');
        self.out
    }
}

struct StrSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for StrSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The memcached key of a hashed cache key: `md5_hex` of the pickle of
/// `key`, or of `(namespace, key)`.
///
/// ```
/// use memwire::cache::keys::hashed_key;
/// assert_eq!(hashed_key(None, "cache_key")?, "188693688126b424eb89e1385eca6f01");
/// assert_eq!(hashed_key(Some("1"), &1)?.len(), 32);
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
///
/// # Errors
///
/// [`CacheError::Encode`] when the key cannot be pickled.
pub fn hashed_key<K: CacheKey + ?Sized>(
    namespace: Option<&str>,
    key: &K,
) -> Result<String, CacheError> {
    let mut p = Pickler::new();
    match namespace {
        None => key.write_pickle(&mut p)?,
        Some(ns) => {
            p.begin_tuple();
            p.unicode(ns);
            key.write_pickle(&mut p)?;
            p.end_tuple(2);
        }
    }
    Ok(hex(&md5(&p.finish())))
}

/// The memcached key of a raw key: `namespace + key`, validated.
///
/// ```
/// use memwire::cache::keys::raw_key;
/// assert_eq!(raw_key(Some("NS_"), b"a")?, "NS_a");
/// assert!(raw_key(None, b"with space").is_err());
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
///
/// # Errors
///
/// [`CacheError::InvalidKey`] when the result is not a valid memcached key
/// (empty, over 250 bytes, whitespace or control bytes, not UTF-8) or
/// starts with [`RESERVED_PREFIX`].
pub fn raw_key(namespace: Option<&str>, key: &[u8]) -> Result<String, CacheError> {
    let mut full = Vec::with_capacity(namespace.map_or(0, str::len) + key.len());
    full.extend_from_slice(namespace.unwrap_or("").as_bytes());
    full.extend_from_slice(key);
    let shown = String::from_utf8_lossy(&full).into_owned();
    validate(&full).map_err(|e| CacheError::InvalidKey {
        key: shown.clone(),
        reason: e.to_string(),
    })?;
    let full = String::from_utf8(full).map_err(|_| CacheError::InvalidKey {
        key: shown.clone(),
        reason: "a raw key must be UTF-8".into(),
    })?;
    if full.starts_with(RESERVED_PREFIX) {
        return Err(CacheError::InvalidKey {
            key: shown,
            reason: format!("keys starting with {RESERVED_PREFIX:?} are reserved"),
        });
    }
    Ok(full)
}

/// The memcached key of the key-tracking record of `namespace`:
/// `memwire.keys.` + md5 hex of the pickled namespace (`None` when absent).
pub fn tracking_key(namespace: Option<&str>) -> String {
    let mut p = Pickler::new();
    match namespace {
        None => p.none(),
        Some(ns) => p.unicode(ns),
    }
    format!("{RESERVED_PREFIX}keys.{}", hex(&md5(&p.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pickle(f: impl FnOnce(&mut Pickler)) -> Vec<u8> {
        let mut p = Pickler::new();
        f(&mut p);
        p.finish()
    }

    #[test]
    fn matches_the_seed_key() {
        let k = hashed_key(None, "cache_key").unwrap();
        assert_eq!(k, "188693688126b424eb89e1385eca6f01");
        assert!(validate(k.as_bytes()).is_ok());
    }

    #[test]
    fn strings_are_repr_escaped() {
        assert_eq!(pickle(|p| p.string(b"a'b")), b"S\"a'b\"\np1\n.");
        assert_eq!(pickle(|p| p.string(b"a'\"")), b"S'a\\'\"'\np1\n.");
        assert_eq!(
            pickle(|p| p.string("\\\t\n\r\u{7f}ä".as_bytes())),
            b"S'\\\\\\t\\n\\r\\x7f\\xc3\\xa4'\np1\n."
        );
    }

    #[test]
    fn namespaces_are_unicode_and_tuples_memoize_last() {
        // Python 3's pickle gives b'(V1\np0\nI1\ntp1\n.' (memo from 0).
        let got = pickle(|p| {
            p.begin_tuple();
            p.unicode("1");
            p.int(1);
            p.end_tuple(2);
        });
        assert_eq!(got, b"(V1\np1\nI1\ntp2\n.");
        assert_eq!(
            pickle(|p| p.unicode("a\\\nä€😀")),
            b"Va\\u005c\\u000a\xe4\\u20ac\\U0001f600\np1\n."
        );
    }

    #[test]
    fn numbers_and_containers() {
        assert_eq!(pickle(|p| p.int(1 << 70)), b"L1180591620717411303424L\n.");
        assert_eq!(pickle(|p| p.int(-5)), b"I-5\n.");
        assert_eq!(pickle(|p| p.bool(true)), b"I01\n.");
        for (f, s) in [
            (2.5, "2.5"),
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (-1.5e300, "-1.5e+300"),
        ] {
            assert_eq!(
                pickle(|p| p.float(f)),
                format!("F{s}\n.").into_bytes(),
                "{f}"
            );
        }
        // Python 3: b'(lp0\nI1\naVa\np1\na(dp2\nVb\np3\nF2.5\nsa.'
        let got = pickle(|p| {
            p.begin_list();
            p.int(1);
            p.list_item();
            p.unicode("a");
            p.list_item();
            p.begin_dict();
            p.unicode("b");
            p.float(2.5);
            p.dict_item();
            p.list_item();
        });
        assert_eq!(got, b"(lp1\nI1\naVa\np2\na(dp3\nVb\np4\nF2.5\nsa.");
        assert_eq!(
            pickle(|p| {
                p.begin_tuple();
                p.end_tuple(0)
            }),
            b"(t."
        );
    }

    #[test]
    fn namespace_and_key_never_run_together() {
        let k = |ns: &str, key: &str| hashed_key(Some(ns), key).unwrap();
        assert_ne!(k("a", "bc"), k("ab", "c"));
        assert_ne!(k("a", "bc"), hashed_key(None, "abc").unwrap());
        // The seed's namespaced keys: (u'1', 1).
        assert_eq!(k("1", "x").len(), 32);
    }

    #[test]
    fn raw_keys_are_validated() {
        assert_eq!(raw_key(None, b"a").unwrap(), "a");
        assert_eq!(
            raw_key(Some("NS_"), b"http://a/bc?x=1").unwrap(),
            "NS_http://a/bc?x=1"
        );
        for bad in [
            &b""[..],
            b"a b",
            b"a\r\n",
            &[b'k'; 251],
            b"\xff",
            b"memwire.keys.x",
        ] {
            assert!(
                matches!(raw_key(None, bad), Err(CacheError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
        assert!(raw_key(Some("x"), &[b'k'; 250]).is_err());
    }

    #[test]
    fn tracking_keys_differ_per_namespace() {
        let none = tracking_key(None);
        assert!(none.starts_with("memwire.keys."));
        assert_ne!(none, tracking_key(Some("")));
        assert_ne!(tracking_key(Some("1")), tracking_key(Some("2")));
        assert!(validate(none.as_bytes()).is_ok());
    }
}
