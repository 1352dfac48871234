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
//! what lovely.memcached's `_buildKey` hashes, byte for byte, so every key
//! gets the same memcached key from memwire and from lovely.memcached
//! (`set('cached value', 'cache_key')` → `188693688126b424eb89e1385eca6f01`,
//! `set(1, 1)` with namespace `u'1'` → `fadac4c998ec2f6be06d1c76dafd27e9`).
//! An empty namespace is no namespace, as in lovely (`ns or None`). The key
//! is always 32 hex digits, whatever the key's type and length. The encoding
//! is self-delimiting (strings are quoted and escaped), so `("a", "bc")` and
//! `("ab", "c")` never share a key.
//!
//! Which Rust types are keys, and how each is pickled, is listed in
//! [`codec`](super::codec): strings and bytes are Python `str` (`S'…'`),
//! the namespace and [`Unicode`](super::codec::Unicode) keys Python
//! `unicode` (`V…`), integers `I…` (`L…L` beyond 64 bits, and
//! [`Long`](super::codec::Long)), floats `F…` (`%.17g`), `None`/`()` `N`,
//! tuples `(…t`; `SerdeKey` (feature `serde`) adds lists (`(l…a`), dicts
//! (`(d…s`, in serialization order: use `BTreeMap`, not `HashMap`) and enum
//! variants.
//!
//! ## The memo, as cPickle writes it
//!
//! cPickle follows some objects with a memo entry (`p1\n`, `p2\n`, …,
//! numbered from 1), and which ones depends on Python object identity and
//! reference counts. The rules, from CPython 2.7's `Modules/cPickle.c`
//! (`save`, `put`, `put2`, `save_tuple`, `save_list`, `save_dict`; read in
//! a 2.7.11 source tree), and what memwire does with them:
//!
//! - `None`, `bool`, `int`, `long`, `float` and the empty tuple never get
//!   one.
//! - A `str` or `unicode` of fewer than 2 characters never gets one: `save`
//!   hands it to `save_string`/`save_unicode` with `doput = 0` (Python
//!   caches such strings). So `'a'` is `S'a'\n.`, not `S'a'\np1\n.`.
//! - Longer strings, non-empty tuples and empty lists and dicts go through
//!   `put`, which skips objects only the pickler holds: `if
//!   (Py_REFCNT(ob) < 2 || self->fast) return 0;`. lovely builds its
//!   `(ns, key)` pair inside the call, `cPickle.dumps((ns, key))`; the
//!   interpreter moves it into the argument tuple (`load_args` in 2.7's
//!   `Python/ceval.c` steals the reference), so its count is 1 and it gets
//!   no memo: `(u'1', 1)` is `(V1\nI1\nt.`. Everything else in a key is
//!   also held by the caller (a literal, a variable, lovely's own `key` and
//!   `ns`), so memwire memoizes it, as cPickle does then.
//! - Non-empty lists and dicts always get one (`put2`, before their items).
//!
//! Memwire never writes a back-reference (`g1\n`) for an object met twice:
//! it cannot know Python's object identity. A key holding the *same* Python
//! object twice — `('ab', 'ab')` written as literals, which Python interns
//! into one object — hashes differently in Python; so may an item of a
//! nested tuple built at run time that nothing else holds (count 1, no
//! memo). Keys of one string, number or flat tuple, and every namespaced
//! form of them, match exactly (the vectors in the tests below come from
//! `scripts/py2-pickle0.py`, a rule-by-rule Python 3 re-implementation of
//! cPickle protocol 0, checked against the seed's and issue #13's keys).
//!
//! # Raw keys
//!
//! A raw key is used as is, with the namespace prepended (`"NS_" + "a"` →
//! `NS_a`), and checked with [`memwire_core::key::validate`]; keys starting
//! with [`RESERVED_PREFIX`] are refused too.

use std::fmt::Write as _;

use memwire_core::cluster::md5::md5;
use memwire_core::key::validate;

use super::float_text::percent_g17;
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

/// A Python 2 `cPickle` protocol 0 writer for the values memwire hashes,
/// memo entries included (see [the rules](self#the-memo-as-cpickle-writes-it)).
///
/// ```
/// use memwire::cache::keys::Pickler;
/// let mut p = Pickler::new();
/// p.string(b"cache_key");
/// assert_eq!(p.finish(), b"S'cache_key'\np1\n.");
/// let mut p = Pickler::new();
/// p.string(b"a"); // a 1-character string gets no memo entry
/// assert_eq!(p.finish(), b"S'a'\n.");
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

    /// A Python 2 `str` (bytes), written as `S` + `repr(bytes)`, memoized
    /// from 2 bytes on.
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
        if bytes.len() >= 2 {
            self.memo();
        }
    }

    /// A Python 2 `unicode`, written as `V` + raw-unicode-escape (with `\`
    /// and newline escaped, as cPickle does), memoized from 2 characters on
    /// (a UCS-4 build, as Linux distributions built Python 2: one character
    /// is one code point).
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
        if text.chars().nth(1).is_some() {
            self.memo();
        }
    }

    /// A Python integer: an `int` (`I…`) for 64-bit values, a `long`
    /// (`L…L`) beyond, as Python 2 makes them on a 64-bit machine.
    pub fn int(&mut self, n: i128) {
        if i64::try_from(n).is_ok() {
            let _ = writeln!(StrSink(&mut self.out), "I{n}");
        } else {
            self.long(n);
        }
    }

    /// A Python 2 `long`, whatever its size: `L…L` (`repr` of a long).
    pub fn long(&mut self, n: i128) {
        let _ = writeln!(StrSink(&mut self.out), "L{n}L");
    }

    /// A Python `bool` (protocol 0 writes `I01` / `I00`).
    pub fn bool(&mut self, b: bool) {
        self.out
            .extend_from_slice(if b { b"I01\n" } else { b"I00\n" });
    }

    /// A Python `float`, as cPickle's `save_float` writes it: C's `%.17g`
    /// (`F0.10000000000000001`, `F1`, `F1e+17`, `Finf`), not `repr`.
    pub fn float(&mut self, f: f64) {
        let _ = writeln!(StrSink(&mut self.out), "F{}", percent_g17(f));
    }

    /// `None`.
    pub fn none(&mut self) {
        self.out.push(b'N');
    }

    /// Start a tuple (write its items, then [`Pickler::end_tuple`]).
    pub fn begin_tuple(&mut self) {
        self.out.push(b'(');
    }

    /// End a tuple of `len` items that something besides the pickler holds
    /// (a key, an item of one): memoized unless empty.
    pub fn end_tuple(&mut self, len: usize) {
        self.out.push(b't');
        if len > 0 {
            self.memo();
        }
    }

    /// End a tuple only the pickler holds, such as the `(ns, key)` pair
    /// lovely.memcached builds inside its `cPickle.dumps((ns, key))` call:
    /// never memoized (its reference count is 1).
    pub fn end_unshared_tuple(&mut self) {
        self.out.push(b't');
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
/// `key`, or of `(namespace, key)` (an empty namespace is none, as in
/// lovely.memcached).
///
/// ```
/// use memwire::cache::keys::hashed_key;
/// assert_eq!(hashed_key(None, "cache_key")?, "188693688126b424eb89e1385eca6f01");
/// // lovely: MemcachedClient(defaultNS=u'1').set(1, 1)
/// assert_eq!(hashed_key(Some("1"), &1)?, "fadac4c998ec2f6be06d1c76dafd27e9");
/// assert_eq!(hashed_key(Some(""), &1)?, hashed_key(None, &1)?);
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
    match namespace.filter(|ns| !ns.is_empty()) {
        None => key.write_pickle(&mut p)?,
        Some(ns) => {
            p.begin_tuple();
            p.unicode(ns);
            key.write_pickle(&mut p)?;
            p.end_unshared_tuple();
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
/// `memwire.keys.` + md5 hex of the pickled namespace (`None` when absent
/// or empty: the keys of an empty namespace are those of none).
pub fn tracking_key(namespace: Option<&str>) -> String {
    let mut p = Pickler::new();
    match namespace.filter(|ns| !ns.is_empty()) {
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

    /// `(namespace, key)` → (pickle, md5 key) of Python 2.7's
    /// `cPickle.dumps`. Two vectors are given outright: the seed's
    /// `'cache_key'` → `188693688126…` and issue #13's `(u'1', 1)` →
    /// `(V1\nI1\nt.` → `fadac4c9…`. All of them, those two included, are
    /// printed by `scripts/py2-pickle0.py` (cPickle protocol 0 re-implemented
    /// rule by rule in Python 3 from CPython 2.7's `Modules/cPickle.c`, since
    /// no Python 2 is at hand); its float text is Python 3's `'%.17g' % x`,
    /// the very function (`PyOS_double_to_string(x, 'g', 17, 0)`) 2.7's
    /// `save_float` calls.
    const LOVELY_KEYS: &[(Option<&str>, &[u8], &str)] = &[
        (
            None,
            b"S'cache_key'\np1\n.",
            "188693688126b424eb89e1385eca6f01",
        ),
        (None, b"S''\n.", "ab12b2a99cf8bcfcf8e191f0ed2e98ae"),
        (None, b"S'a'\n.", "d91f55f5c52963dfe909633aa63422ef"),
        (None, b"S'ab'\np1\n.", "99d82b3967279e938772903b469e005a"),
        (
            None,
            b"S\"a'b\\n\\xff\"\np1\n.",
            "1a02ce22e7a028ee0680d435eec8e6dd",
        ),
        (None, b"V\n.", "4fefdd3c0ed09e425ccd35a307c93cd8"),
        (None, b"Va\n.", "b8d7fad8f3e8d3bbf3a80f023eb17d96"),
        (None, b"Vab\np1\n.", "7539744a20254ee477e1ac9af88e6a6f"),
        (
            None,
            b"V\xe4\\u20ac\\U0001f600\\u005c\\u000a\np1\n.",
            "9f10c2a1d2e708eaea19e13ef4e641c3",
        ),
        (None, b"I1\n.", "e55528fb12b23418f10687799bb3fb3c"),
        (None, b"I-5\n.", "8470f73624b55a5b3cf22631d99bfefc"),
        (
            None,
            b"L9223372036854775808L\n.",
            "b78e0fb2324cb23398b4bc6d76a2d94d",
        ),
        (None, b"L1L\n.", "a45c8d440792b3d3c06e6bf65be2712f"),
        (None, b"F2.5\n.", "cf06e0973bfe9f271ade72194e51d0cf"),
        (
            None,
            b"F0.10000000000000001\n.",
            "b6587b2602f72d49b494ba682587489f",
        ),
        (None, b"F1\n.", "ce14df01762e56cbfcd36419166a91ea"),
        (
            None,
            b"F10000000000000000\n.",
            "a315527f8e202a97639bf063efb2660e",
        ),
        (None, b"F1e+17\n.", "84081e4c1f97c311ab2ad52247e2c21a"),
        (None, b"F-0\n.", "e7251b86e034c7201b658aa5f7dc47e5"),
        (None, b"I01\n.", "408c2c2ee2e4f5cce08cef2b52b31aca"),
        (None, b"N.", "2c45f80c650c95d1b2dc2b9115fe543b"),
        (None, b"(t.", "600b64cd040c1246904a4575d479f983"),
        (
            None,
            b"(I1\nS'a'\ntp1\n.",
            "ffe00791912a694f7b551421fcdde98d",
        ),
        (
            None,
            b"(I1\nS'ab'\np1\ntp2\n.",
            "aa1ee21f05dfe1c0ca4f85dc777c428d",
        ),
        (
            None,
            b"((S'a'\ntp1\nF2.5\nI00\ntp2\n.",
            "908d64f75aaff450614b90112c44b160",
        ),
        (
            Some("1"),
            b"(V1\nI1\nt.",
            "fadac4c998ec2f6be06d1c76dafd27e9",
        ),
        (
            Some("2"),
            b"(V2\nI2\nt.",
            "a4bcaaf3aed8756b78151152adbb4910",
        ),
        (
            Some("3"),
            b"(V3\nI5\nt.",
            "611b426b921afa5d45431a213fb193a8",
        ),
        (
            Some("1"),
            b"(V1\nS'a'\nt.",
            "d64e5413cb54d05704a139c9006601eb",
        ),
        (
            Some("1"),
            b"(V1\nVa\nt.",
            "2aa7af2361f9609aa65a135c927ca3cc",
        ),
        (
            Some("ns"),
            b"(Vns\np1\nS'cache_key'\np2\nt.",
            "a4499d1f3d0cff713cf28b38b49e5d8d",
        ),
        (
            Some("NS_"),
            b"(VNS_\np1\n(I1\nS'a'\ntp2\nt.",
            "9f9e8bdfd57aa99fbfae8c119e591b06",
        ),
        (
            Some("1"),
            b"(V1\nF2.5\nt.",
            "7d2a21d59a5aeca786c9c6fe5c2c1b71",
        ),
        (
            Some("1"),
            b"(V1\nL1180591620717411303424L\nt.",
            "b7a49daa3a693a9075be90c686d1ff4e",
        ),
        (Some("1"), b"(V1\nNt.", "c787450d87951878de50e9eccc7e5148"),
        (
            Some("名前"),
            b"(V\\u540d\\u524d\np1\nV\xe4\nt.",
            "16182610a8f042ab00e085a6432e7ea1",
        ),
    ];

    /// The vectors' md5 keys are the md5 of their pickles, and each pickle
    /// is what this [`Pickler`] writes for the key (the keys themselves are
    /// built from Rust values in `codec`'s tests; here, opcode by opcode).
    #[test]
    fn lovely_key_vectors() {
        let pickles: Vec<Vec<u8>> = vec![
            pickle(|p| p.string(b"cache_key")),
            pickle(|p| p.string(b"")),
            pickle(|p| p.string(b"a")),
            pickle(|p| p.string(b"ab")),
            pickle(|p| p.string(b"a'b\n\xff")),
            pickle(|p| p.unicode("")),
            pickle(|p| p.unicode("a")),
            pickle(|p| p.unicode("ab")),
            pickle(|p| p.unicode("ä€😀\\\n")),
            pickle(|p| p.int(1)),
            pickle(|p| p.int(-5)),
            pickle(|p| p.int(1 << 63)),
            pickle(|p| p.long(1)),
            pickle(|p| p.float(2.5)),
            pickle(|p| p.float(0.1)),
            pickle(|p| p.float(1.0)),
            pickle(|p| p.float(1e16)),
            pickle(|p| p.float(1e17)),
            pickle(|p| p.float(-0.0)),
            pickle(|p| p.bool(true)),
            pickle(|p| p.none()),
            pickle(|p| {
                p.begin_tuple();
                p.end_tuple(0);
            }),
            pickle(|p| {
                p.begin_tuple();
                p.int(1);
                p.string(b"a");
                p.end_tuple(2);
            }),
            pickle(|p| {
                p.begin_tuple();
                p.int(1);
                p.string(b"ab");
                p.end_tuple(2);
            }),
            pickle(|p| {
                p.begin_tuple();
                p.begin_tuple();
                p.string(b"a");
                p.end_tuple(1);
                p.float(2.5);
                p.bool(false);
                p.end_tuple(3);
            }),
        ];
        let namespaced = |ns: &str, key: &dyn Fn(&mut Pickler)| {
            pickle(|p| {
                p.begin_tuple();
                p.unicode(ns);
                key(p);
                p.end_unshared_tuple();
            })
        };
        let pickles = pickles.into_iter().chain([
            namespaced("1", &|p| p.int(1)),
            namespaced("2", &|p| p.int(2)),
            namespaced("3", &|p| p.int(5)),
            namespaced("1", &|p| p.string(b"a")),
            namespaced("1", &|p| p.unicode("a")),
            namespaced("ns", &|p| p.string(b"cache_key")),
            namespaced("NS_", &|p| {
                p.begin_tuple();
                p.int(1);
                p.string(b"a");
                p.end_tuple(2);
            }),
            namespaced("1", &|p| p.float(2.5)),
            namespaced("1", &|p| p.int(1 << 70)),
            namespaced("1", &|p| p.none()),
            namespaced("名前", &|p| p.unicode("ä")),
        ]);
        let mut count = 0;
        for (got, &(ns, want, key)) in pickles.zip(LOVELY_KEYS) {
            assert_eq!(got, want, "{ns:?}: {:?}", String::from_utf8_lossy(&got));
            assert_eq!(hex(&md5(want)), key, "{:?}", String::from_utf8_lossy(want));
            count += 1;
        }
        assert_eq!(count, LOVELY_KEYS.len());
    }

    #[test]
    fn hashed_keys_are_lovelys() {
        // MemcachedClient(defaultNS=u'1').set(1, 1) and friends (the seed).
        assert_eq!(
            hashed_key(Some("1"), &1).unwrap(),
            "fadac4c998ec2f6be06d1c76dafd27e9"
        );
        assert_eq!(
            hashed_key(Some("3"), &5).unwrap(),
            "611b426b921afa5d45431a213fb193a8"
        );
        assert_eq!(
            hashed_key(Some("ns"), "cache_key").unwrap(),
            "a4499d1f3d0cff713cf28b38b49e5d8d"
        );
        assert_eq!(
            hashed_key(None, "a").unwrap(),
            "d91f55f5c52963dfe909633aa63422ef"
        );
        assert_eq!(
            hashed_key(Some("NS_"), &(1, "a")).unwrap(),
            "9f9e8bdfd57aa99fbfae8c119e591b06"
        );
        // `ns or None`: an empty namespace is none.
        assert_eq!(
            hashed_key(Some(""), "cache_key").unwrap(),
            "188693688126b424eb89e1385eca6f01"
        );
    }

    #[test]
    fn strings_are_repr_escaped() {
        assert_eq!(pickle(|p| p.string(b"a'b")), b"S\"a'b\"\np1\n.");
        assert_eq!(pickle(|p| p.string(b"a'\"")), b"S'a\\'\"'\np1\n.");
        assert_eq!(pickle(|p| p.string(b"'")), b"S\"'\"\n.");
        assert_eq!(
            pickle(|p| p.string("\\\t\n\r\u{7f}ä".as_bytes())),
            b"S'\\\\\\t\\n\\r\\x7f\\xc3\\xa4'\np1\n."
        );
    }

    #[test]
    fn short_strings_are_not_memoized() {
        // One character, one byte or none: cached by Python, doput = 0.
        assert_eq!(pickle(|p| p.unicode("€")), b"V\\u20ac\n.");
        assert_eq!(pickle(|p| p.unicode("😀")), b"V\\U0001f600\n.");
        assert_eq!(pickle(|p| p.string(b"\xff")), b"S'\\xff'\n.");
        // Two bytes of one UTF-8 character are a 2-character Python str.
        assert_eq!(
            pickle(|p| p.string("ä".as_bytes())),
            b"S'\\xc3\\xa4'\np1\n."
        );
        // Memo numbers count only the entries written.
        let got = pickle(|p| {
            p.begin_tuple();
            p.string(b"a");
            p.string(b"bc");
            p.unicode("d");
            p.unicode("ef");
            p.end_tuple(4);
        });
        assert_eq!(got, b"(S'a'\nS'bc'\np1\nVd\nVef\np2\ntp3\n.");
    }

    #[test]
    fn numbers_and_containers() {
        assert_eq!(pickle(|p| p.int(1 << 70)), b"L1180591620717411303424L\n.");
        assert_eq!(pickle(|p| p.int(-5)), b"I-5\n.");
        assert_eq!(pickle(|p| p.long(-5)), b"L-5L\n.");
        assert_eq!(pickle(|p| p.bool(true)), b"I01\n.");
        for (f, s) in [
            (2.5, "2.5"),
            (1.0, "1"),
            (0.1, "0.10000000000000001"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (-1.5e300, "-1.5000000000000001e+300"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(
                pickle(|p| p.float(f)),
                format!("F{s}\n.").into_bytes(),
                "{f}"
            );
        }
        // Lists and dicts are memoized before their items, even short.
        let got = pickle(|p| {
            p.begin_list();
            p.int(1);
            p.list_item();
            p.unicode("a");
            p.list_item();
            p.begin_dict();
            p.unicode("bc");
            p.float(2.5);
            p.dict_item();
            p.list_item();
        });
        assert_eq!(got, b"(lp1\nI1\naVa\na(dp2\nVbc\np3\nF2.5\nsa.");
    }

    #[test]
    fn namespace_and_key_never_run_together() {
        let k = |ns: &str, key: &str| hashed_key(Some(ns), key).unwrap();
        assert_ne!(k("a", "bc"), k("ab", "c"));
        assert_ne!(k("a", "bc"), hashed_key(None, "abc").unwrap());
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
        assert_eq!(none, tracking_key(Some("")));
        assert_ne!(tracking_key(Some("1")), tracking_key(Some("2")));
        assert!(validate(none.as_bytes()).is_ok());
    }
}
