//! The key-tracking record: which keys of a namespace are live.
//!
//! Memcached cannot list its keys, so a `Cache` with key tracking
//! keeps, per namespace, one record item under
//! [`tracking_key`](super::keys::tracking_key) listing the namespace's keys
//! and when each expires. The record lives in memcached, so every thread
//! and process using the same servers sees the same keys. It is updated
//! read-modify-write with `gets` + `cas` (or `add` when absent), retrying
//! on a conflict, so concurrent writers never lose each other's keys.
//!
//! # Format (version 1)
//!
//! Text, one entry a line, after a header line:
//!
//! ```text
//! memwire-keys 1
//! <expires> <form> <hex>
//! ```
//!
//! * `expires`: Unix time in seconds after which the entry is dead; `0`
//!   never expires. It follows the item's lifetime (see [`expires_at`]).
//! * `form`: how the original key is stored ([`KeyForm`]): `s` a string or
//!   bytes, `j` the key's JSON (keys that are not strings or bytes:
//!   numbers, tuples, ...), `r` a raw key (as given, without the
//!   namespace).
//! * `hex`: the key's bytes, lower-case hex.
//!
//! Entries are unique by (form, bytes); dead entries are dropped whenever
//! the record is rewritten. Everything here is pure: the current time is
//! an argument.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use memwire_core::Expiry;

use super::keys::hex;

/// Header line of a version 1 record.
pub const HEADER_V1: &str = "memwire-keys 1";

/// How a tracked key is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyForm {
    /// A string or byte-string key (`s`).
    Text(Vec<u8>),
    /// A key that is not a string or bytes, as JSON (`j`).
    Json(Vec<u8>),
    /// A raw key, without the namespace (`r`).
    Raw(Vec<u8>),
}

impl KeyForm {
    fn tag(&self) -> char {
        match self {
            KeyForm::Text(_) => 's',
            KeyForm::Json(_) => 'j',
            KeyForm::Raw(_) => 'r',
        }
    }

    /// The stored bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            KeyForm::Text(b) | KeyForm::Json(b) | KeyForm::Raw(b) => b,
        }
    }
}

/// One tracked key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unix seconds after which the key is dead; 0 = never.
    pub expires: u64,
    /// The key.
    pub key: KeyForm,
}

impl Entry {
    /// Whether the key is still live at `now` (Unix seconds).
    pub fn is_live(&self, now: u64) -> bool {
        self.expires == 0 || self.expires > now
    }
}

/// A record that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad key-tracking record: {}", self.0)
    }
}

impl std::error::Error for RecordError {}

/// When an item stored at `now` with `expiry` expires, as Unix seconds
/// (0 = never). A relative expiry is rounded up by a second, as memcached
/// counts in whole seconds from its own clock tick: an entry may outlive
/// its item by about a second, never the reverse. An item memcached stores
/// expired at once (`Expiry::In(Duration::ZERO)`, a time at or before 30
/// days after the Unix epoch) is listed as expired already.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use memwire::cache::tracking::expires_at;
/// use memwire::Expiry;
///
/// let now = UNIX_EPOCH + Duration::from_millis(1_000_500);
/// assert_eq!(expires_at(Expiry::Never, now), 0);
/// assert_eq!(expires_at(Expiry::secs(60), now), 1_061);
/// assert_eq!(expires_at(Expiry::At(UNIX_EPOCH + Duration::from_secs(5_000_000)), now), 5_000_000);
/// assert_eq!(expires_at(Expiry::In(Duration::ZERO), now), 1); // long past
/// ```
pub fn expires_at(expiry: Expiry, now: SystemTime) -> u64 {
    let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match expiry {
        Expiry::Never => 0,
        // (-1 on the wire.) Not 0, which is "never".
        _ if matches!(expiry.to_wire(), Ok(-1)) => 1,
        Expiry::In(d) => unix(now) + d.as_secs() + u64::from(d.subsec_nanos() > 0) + 1,
        Expiry::At(t) => unix(t),
    }
}

/// The keys of one namespace, in insertion order.
///
/// ```
/// use memwire::cache::tracking::{KeyForm, Record};
/// let mut r = Record::default();
/// r.insert(KeyForm::Text(b"a".to_vec()), 0, 100);
/// r.insert(KeyForm::Text(b"b".to_vec()), 101, 100);
/// let bytes = r.encode();
/// let r = Record::parse(&bytes)?;
/// assert_eq!(r.live(100).count(), 2);
/// assert_eq!(r.live(101).count(), 1); // b expired
/// # Ok::<(), memwire::cache::tracking::RecordError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    entries: Vec<Entry>,
}

impl Record {
    /// Parse a stored record.
    ///
    /// # Errors
    ///
    /// [`RecordError`] for another version or a malformed line.
    pub fn parse(data: &[u8]) -> Result<Record, RecordError> {
        let text = std::str::from_utf8(data).map_err(|_| RecordError("not UTF-8".into()))?;
        let mut lines = text.lines();
        match lines.next() {
            Some(HEADER_V1) => {}
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(RecordError(format!("unknown header {shown:?}")));
            }
            None => return Err(RecordError("empty".into())),
        }
        let mut entries = Vec::new();
        for (n, line) in lines.enumerate() {
            let bad = || RecordError(format!("line {}", n + 2));
            let mut parts = line.split(' ');
            let (Some(exp), Some(tag), Some(hex), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let expires: u64 = exp.parse().map_err(|_| bad())?;
            let bytes = unhex(hex).ok_or_else(bad)?;
            let key = match tag {
                "s" => KeyForm::Text(bytes),
                "j" => KeyForm::Json(bytes),
                "r" => KeyForm::Raw(bytes),
                _ => return Err(bad()),
            };
            entries.push(Entry { expires, key });
        }
        Ok(Record { entries })
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from(HEADER_V1);
        out.push('\n');
        for e in &self.entries {
            out.push_str(&format!(
                "{} {} {}\n",
                e.expires,
                e.key.tag(),
                hex(e.key.bytes())
            ));
        }
        out.into_bytes()
    }

    /// Add `key` (or update its expiry) and drop entries dead at `now`.
    pub fn insert(&mut self, key: KeyForm, expires: u64, now: u64) {
        self.prune(now);
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => e.expires = expires,
            None => self.entries.push(Entry { expires, key }),
        }
    }

    /// Remove `key` and drop entries dead at `now`. True when it was there.
    pub fn remove(&mut self, key: &KeyForm, now: u64) -> bool {
        self.prune(now);
        let before = self.entries.len();
        self.entries.retain(|e| &e.key != key);
        self.entries.len() != before
    }

    /// Drop entries dead at `now`.
    pub fn prune(&mut self, now: u64) {
        self.entries.retain(|e| e.is_live(now));
    }

    /// The entries live at `now`.
    pub fn live(&self, now: u64) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.is_live(now))
    }

    /// Every entry, live or not.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> KeyForm {
        KeyForm::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn round_trip_and_format() {
        let mut r = Record::default();
        r.insert(t("a b"), 0, 10);
        r.insert(KeyForm::Json(b"[1,2]".to_vec()), 20, 10);
        r.insert(KeyForm::Raw(Vec::new()), 0, 10);
        let enc = r.encode();
        assert_eq!(
            String::from_utf8(enc.clone()).unwrap(),
            "memwire-keys 1\n0 s 612062\n20 j 5b312c325d\n0 r \n"
        );
        assert_eq!(Record::parse(&enc).unwrap(), r);
    }

    #[test]
    fn insert_updates_and_prunes() {
        let mut r = Record::default();
        r.insert(t("a"), 15, 10);
        r.insert(t("b"), 0, 10);
        r.insert(t("a"), 30, 12);
        assert_eq!(r.entries().len(), 2);
        assert_eq!(r.entries()[0].expires, 30);
        r.insert(t("c"), 31, 30); // a is dead at 30
        let keys: Vec<_> = r.entries().iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, vec![t("b"), t("c")]);
        assert!(r.remove(&t("b"), 30));
        assert!(!r.remove(&t("b"), 30));
        assert_eq!(r.live(31).count(), 0);
        assert!(!r.remove(&KeyForm::Raw(b"c".to_vec()), 30), "forms differ");
    }

    #[test]
    fn entries_outlive_their_items() {
        use std::time::Duration;
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(expires_at(Expiry::Never, at(1000)), 0);
        // Stored at 1000.x for 1 s: listed until 1002.
        assert_eq!(expires_at(Expiry::secs(1), at(1000)), 1002);
        assert_eq!(
            expires_at(Expiry::In(Duration::from_millis(1500)), at(1000)),
            1003
        );
        assert_eq!(
            expires_at(Expiry::At(at(2_000_000_000)), at(5)),
            2_000_000_000
        );
        // Stored expired at once: dead from the start, whatever the form.
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        for gone in [
            Expiry::In(Duration::ZERO),
            Expiry::At(at(86_400)),
            Expiry::At(before_epoch),
        ] {
            let mut r = Record::default();
            r.insert(
                KeyForm::Text(b"k".to_vec()),
                expires_at(gone, at(1000)),
                1000,
            );
            assert_eq!(r.live(1000).count(), 0, "{gone:?}");
        }
        let r = Record::default();
        assert_eq!(r.live(0).count(), 0);
    }

    #[test]
    fn bad_records_are_refused() {
        for bad in [
            &b""[..],
            b"memwire-keys 2\n",
            b"memwire-keys 1\n0 s 6\n",
            b"memwire-keys 1\n0 x 61\n",
            b"memwire-keys 1\nx s 61\n",
            b"memwire-keys 1\n0 s 61 extra\n",
            b"\xff",
        ] {
            assert!(Record::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Record::parse(b"memwire-keys 1\n").unwrap(),
            Record::default()
        );
    }
}
