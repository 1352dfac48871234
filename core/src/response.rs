//! Incremental, resumable parsing of one reply, in the context of the
//! request it answers.
//!
//! The text protocol is ambiguous on its own (`NOT_FOUND` answers `delete`,
//! `incr` and `touch`; a bare number only makes sense after `incr`), so a
//! [`ResponseParser`] is built from the [`Expect`] of its request. Feed it the
//! input buffer as bytes arrive; it consumes what it has parsed — a line, or
//! a whole value block, split off as [`Bytes`] without copying — and keeps
//! its place, so nothing is rescanned and a reply split at any byte
//! boundary parses the same.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use memwire_core::{Config, Expect, Keys, Response, ResponseParser, Status};
//!
//! let mut parser = ResponseParser::new(
//!     Expect::Values { keys: Keys::from(Bytes::from("k")), cas: false },
//!     &Config::default(),
//! );
//! let mut input = BytesMut::from(&b"VALUE k 0 5\r\nhel"[..]);
//! assert!(matches!(parser.parse(&mut input), Ok(Status::Partial)));
//! input.extend_from_slice(b"lo\r\nEND\r\n");
//! let Ok(Status::Complete(Ok(Response::Values(values)))) = parser.parse(&mut input) else {
//!     panic!()
//! };
//! assert_eq!(&values[0].data[..], b"hello");
//! assert!(input.is_empty());
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::connection::Config;
use crate::error::{show_line, Error, ProtocolError};
use crate::meta::expect::{MetaExpect, MetaKind};
use crate::meta::parse::{self as meta_parse, LineOutcome};
use crate::meta::MetaReply;
use crate::request::Keys;
use crate::stats::{self, Stats, StatsGroup};

mod values;

pub use values::{Values, ValuesIntoIter};

/// What a reply to a request may look like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// `VALUE ...` blocks for a subsequence of `keys`, then `END`.
    Values {
        /// The keys requested, in order.
        keys: Keys,
        /// Whether each `VALUE` carries a CAS unique (`gets`/`gats`).
        cas: bool,
    },
    /// `STORED`, `NOT_STORED`, `EXISTS` or `NOT_FOUND`.
    Stored,
    /// `DELETED` or `NOT_FOUND`.
    Deleted,
    /// A decimal number (`incr`/`decr`) or `NOT_FOUND`.
    Number,
    /// `TOUCHED` or `NOT_FOUND`.
    Touched,
    /// `OK` (`flush_all`, `verbosity`).
    Ok,
    /// `VERSION <version>`.
    Version,
    /// `STAT` lines then `END` (or `RESET` for `stats reset`).
    Stats(StatsGroup),
    /// A `noreply` request: normally nothing; only an error line is possible.
    Quiet,
    /// A meta command's reply (`VA`, `HD`, `EN`, `NF`, `NS`, `EX`, `MN`,
    /// `ME`), checked against the request's opaque token and key.
    Meta(MetaExpect),
}

impl Expect {
    /// A short name of the request kind, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Expect::Values { .. } => "retrieval",
            Expect::Stored => "storage",
            Expect::Deleted => "delete",
            Expect::Number => "incr/decr",
            Expect::Touched => "touch",
            Expect::Ok => "flush_all/verbosity",
            Expect::Version => "version",
            Expect::Stats(_) => "stats",
            Expect::Quiet => "noreply request",
            Expect::Meta(m) => m.name(),
        }
    }
}

/// An item returned by a retrieval.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Value {
    /// The key, as the server returned it.
    pub key: Bytes,
    /// The client flags stored with the item.
    pub flags: u32,
    /// The CAS unique (`gets`/`gats` only).
    pub cas: Option<u64>,
    /// The data, split from the input buffer without copying.
    pub data: Bytes,
}

impl Value {
    /// An item with `key`, `flags` and `data` and no CAS unique (for tests
    /// and for clients of your own).
    ///
    /// ```
    /// let v = memwire_core::Value::new("k", 3, "data");
    /// assert_eq!((&v.key[..], v.flags, v.cas), (&b"k"[..], 3, None));
    /// ```
    pub fn new(key: impl Into<Bytes>, flags: u32, data: impl Into<Bytes>) -> Value {
        Value {
            key: key.into(),
            flags,
            cas: None,
            data: data.into(),
        }
    }
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// The hits of a retrieval, in request order; misses are absent.
    Values(Values),
    /// `STORED`.
    Stored,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK` (and `RESET` for `stats reset`).
    Ok,
    /// The new value after `incr`/`decr`.
    Number(u64),
    /// The server's version string.
    Version(String),
    /// A typed `stats` reply.
    Stats(Stats),
    /// The request asked for no reply (`noreply`, `quit`); it was queued.
    Sent,
    /// A meta reply (`VA`, `HD`, `EN`, `MN`, `ME`) with its returned flags;
    /// or, for a quiet meta request that got no reply, the outcome its
    /// silence means ([`MetaReply::silent`]).
    Meta(MetaReply),
}

/// The outcome of one [`ResponseParser::parse`] call.
#[derive(Debug)]
pub enum Status {
    /// The reply is complete: a [`Response`], or a per-request [`Error`].
    Complete(Result<Response, Error>),
    /// More bytes are needed; what was parsed so far has been consumed.
    Partial,
}

/// Parses the reply to one request, incrementally.
#[derive(Debug)]
pub struct ResponseParser {
    expect: Expect,
    max_line_len: usize,
    max_value_len: usize,
    max_stats_entries: usize,
    /// Bytes at the front of the input already searched for `\n`.
    scanned: usize,
    /// The data block awaited, its length and what it belongs to.
    data: Option<usize>,
    /// The `VALUE` whose data block is awaited (apart from the large
    /// [`MetaReply`], so that it moves cheaply).
    value: Option<ValueHeader>,
    /// The meta `VA` reply whose data block is awaited.
    meta: Option<MetaReply>,
    values: Values,
    /// Which requested keys a `VALUE` has answered: empty until one has,
    /// then one entry per key (none for a single key: it is answered once
    /// `next_key` is past it). An answered key has moved into its value.
    answered: Vec<bool>,
    /// Where the search for the next `VALUE`'s key starts: after the last
    /// key answered.
    next_key: usize,
    stats: Vec<(String, String)>,
    /// The one key of a retrieval sent by reference, when short: copied
    /// here (no shared copy of the caller's key to make), and the value's
    /// key is then the reply's own bytes.
    short_key: Option<ShortKey>,
}

/// Longest key [`ShortKey`] holds.
const SHORT_KEY: usize = 64;

/// A key of at most [`SHORT_KEY`] bytes, inline.
#[derive(Debug)]
struct ShortKey {
    len: u8,
    bytes: [u8; SHORT_KEY],
}

impl ShortKey {
    fn new(key: &[u8]) -> Option<ShortKey> {
        let mut bytes = [0; SHORT_KEY];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(ShortKey {
            len: u8::try_from(key.len()).ok()?,
            bytes,
        })
    }

    fn get(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// A `VALUE` line parsed by [`ResponseParser::next_value_line`].
struct ValueLine {
    /// The position of its `\n`.
    newline: usize,
    /// The index of the requested key it answers; `None` for the
    /// [`ShortKey`].
    key: Option<usize>,
    flags: u32,
    cas: Option<u64>,
    len: usize,
}

/// The most values [`ResponseParser::take_values`] splits from the input
/// at once.
const BATCH: usize = 32;

/// Whether the data block of `line`, which starts at `at` of `input`, has
/// arrived whole, with its `\r\n`.
fn whole_at(input: &[u8], at: usize, line: &ValueLine) -> bool {
    at.checked_add(line.newline + 1)
        .and_then(|start| start.checked_add(line.len))
        .and_then(|end| input.get(end..end.checked_add(2)?))
        == Some(&b"\r\n"[..])
}

/// Where a `VALUE` line's key starts.
const VALUE_KEY_AT: usize = b"VALUE ".len();

#[derive(Debug)]
struct ValueHeader {
    /// The requested key it answers (the same bytes as the server's).
    /// Empty until taken from the reply line, for a [`ShortKey`].
    key: Bytes,
    flags: u32,
    cas: Option<u64>,
}

impl ResponseParser {
    /// A parser for the reply to a request that expects `expect`, bounded by
    /// `config`'s limits.
    #[inline]
    pub fn new(expect: Expect, config: &Config) -> Self {
        ResponseParser {
            expect,
            max_line_len: config.max_line_len,
            max_value_len: config.max_value_len,
            max_stats_entries: config.max_stats_entries,
            scanned: 0,
            data: None,
            value: None,
            meta: None,
            values: Values::new(),
            answered: Vec::new(),
            next_key: 0,
            stats: Vec::new(),
            short_key: None,
        }
    }

    /// [`ResponseParser::new`] for a request sent by reference: a
    /// retrieval's [`Expect::Values`] has no keys yet, and gets `keys`
    /// (one short key is held inline rather than shared).
    #[inline]
    pub(crate) fn with_keys(mut expect: Expect, keys: &[Bytes], config: &Config) -> Self {
        let mut short_key = None;
        if let Expect::Values { keys: expected, .. } = &mut expect {
            if expected.is_empty() {
                if let [one] = keys {
                    short_key = ShortKey::new(one);
                }
                if short_key.is_none() {
                    // (A `Vec` clones in a tighter loop than the list's
                    // `extend`; one key is held inline.)
                    *expected = match keys {
                        [one] => Keys::from(one.clone()),
                        _ => Keys::from(keys.to_vec()),
                    };
                }
            }
        }
        let mut parser = ResponseParser::new(expect, config);
        parser.short_key = short_key;
        parser
    }

    /// What this parser expects. A retrieval's keys move into the values
    /// that answer them as they arrive: an answered key reads empty here.
    pub fn expect(&self) -> &Expect {
        &self.expect
    }

    /// The length of the data block being awaited, with its `\r\n`,
    /// counted from the start of the input: how far the input must reach
    /// to complete it.
    pub(crate) fn awaited_block(&self) -> Option<usize> {
        self.data.map(|len| len.saturating_add(2))
    }

    /// Whether part of the reply has already been consumed.
    pub fn in_progress(&self) -> bool {
        self.data.is_some() || !self.values.is_empty() || !self.stats.is_empty()
    }

    /// Parse as much of the reply as `input` holds, consuming what was
    /// parsed from its front. Call again with more bytes after
    /// [`Status::Partial`]. A [`ProtocolError`] means the stream can no
    /// longer be trusted.
    pub fn parse(&mut self, input: &mut BytesMut) -> Result<Status, ProtocolError> {
        loop {
            if let Some(len) = self.data {
                let need = len.saturating_add(2);
                if input.len() < need {
                    return Ok(Status::Partial);
                }
                if input.get(len..need) != Some(&b"\r\n"[..]) {
                    return Err(ProtocolError::BadDataTerminator);
                }
                // The one split of a value: its data, without copying.
                let data = input.split_to(len).freeze();
                input.advance(2);
                self.data = None;
                if let Some(h) = self.value.take() {
                    self.values.push(Value {
                        key: h.key,
                        flags: h.flags,
                        cas: h.cas,
                        data,
                    });
                } else if let Some(reply) = self.meta.take() {
                    return Ok(Status::Complete(Ok(meta_parse::with_value(reply, data))));
                }
                continue;
            }
            if self.scanned == 0 {
                if let Some(line) = self.next_value_line(input) {
                    self.take_value(input, line)?;
                    continue;
                }
            }
            let Some(newline) = self.find_line(input)? else {
                return Ok(Status::Partial);
            };
            self.scanned = 0;
            if matches!(self.expect, Expect::Meta(_)) {
                // Meta replies keep parts of their line (opaque, key).
                let mut line = input.split_to(newline + 1).freeze();
                line.truncate(newline - 1);
                if let Some(reply) = self.on_meta_line(&line)? {
                    return Ok(Status::Complete(reply));
                }
                continue;
            }
            // Other lines are read in place, then dropped from the input.
            let line = input.get(..newline - 1).unwrap_or_default();
            let outcome = self.on_line(line)?;
            self.consume_line(input, newline)?;
            if let Some(reply) = outcome {
                return Ok(Status::Complete(reply));
            }
        }
    }

    /// Drop the line ending at `newline` from the input, once handled. A
    /// `VALUE` answering a [`ShortKey`] takes its key from the line.
    fn consume_line(&mut self, input: &mut BytesMut, newline: usize) -> Result<(), ProtocolError> {
        match (&mut self.value, &self.short_key) {
            (Some(header), Some(short)) if header.key.is_empty() => {
                // The value's key: the reply line's own bytes, found
                // equal to the short key.
                let mut line = input.split_to(newline + 1);
                let end = VALUE_KEY_AT + short.get().len();
                if line.len() < end {
                    return Err(ProtocolError::UnrequestedKey(show_line(&line)));
                }
                line.truncate(end);
                line.advance(VALUE_KEY_AT);
                header.key = line.freeze();
            }
            _ => input.advance(newline + 1),
        }
        Ok(())
    }

    /// Consume a `VALUE` line found by [`ResponseParser::next_value_line`]
    /// and, when its data block has arrived whole, the value — with the
    /// whole values that follow it, up to [`BATCH`].
    fn take_value(&mut self, input: &mut BytesMut, line: ValueLine) -> Result<(), ProtocolError> {
        match line.key {
            Some(i) if whole_at(input, 0, &line) => {
                self.take_values(input, i, line);
                Ok(())
            }
            _ => {
                let key = line.key.map(|i| self.answer(i)).unwrap_or_default();
                self.await_data(key, line.flags, line.cas, line.len);
                self.consume_line(input, line.newline)
            }
        }
    }

    /// Take the whole value of `line` (answering requested key `i`) at the
    /// front of `input`, and the whole values the fast path finds after
    /// it, up to [`BATCH`]: split from the input at once, each value's
    /// data a slice of that (a reference counted, not a copy).
    fn take_values(&mut self, input: &mut BytesMut, mut i: usize, mut line: ValueLine) {
        let first = self.values.len();
        // Where each value's data starts in the input, and its length.
        let mut blocks = [(0, 0); BATCH];
        let mut taken = 0;
        // Where the current line starts.
        let mut at = 0;
        loop {
            let start = at + line.newline + 1;
            let key = self.answer(i);
            self.values.push(Value {
                key,
                flags: line.flags,
                cas: line.cas,
                data: Bytes::new(),
            });
            if let Some(block) = blocks.get_mut(taken) {
                *block = (start, line.len);
            }
            taken += 1;
            // Checked whole: the data and its `\r\n` are in the input.
            at = start + line.len + 2;
            let next = input
                .get(at..)
                .filter(|_| taken < BATCH)
                .and_then(|rest| self.next_value_line(rest));
            match next {
                Some(next @ ValueLine { key: Some(k), .. }) if whole_at(input, at, &next) => {
                    (i, line) = (k, next);
                }
                _ => break,
            }
        }
        let taken = input.split_to(at).freeze();
        for (value, &(start, len)) in self.values.tail_mut(first).iter_mut().zip(&blocks) {
            value.data = taken.slice(start..start + len);
        }
    }

    /// The fast path of a retrieval: a complete `VALUE` line at the front
    /// of `input` answering the next requested key in order, with nothing
    /// the general path would refuse, parsed in one pass. `None` for
    /// anything else, which the general path then parses (and judges).
    #[inline(always)]
    fn next_value_line(&self, input: &[u8]) -> Option<ValueLine> {
        let Expect::Values { keys, cas } = &self.expect else {
            return None;
        };
        if !self.is_open(self.next_key) {
            return None;
        }
        let (expected, key) = match &self.short_key {
            Some(short) if self.values.is_empty() => (short.get(), None),
            Some(_) => return None,
            None => (&keys.get(self.next_key)?[..], Some(self.next_key)),
        };
        if expected.is_empty() {
            return None;
        }
        let rest = strip_plain_key(input.strip_prefix(b"VALUE ")?, expected)?.strip_prefix(b" ")?;
        let (flags, rest) = leading_u64(rest)?;
        let (len, rest) = leading_u64(rest.strip_prefix(b" ")?)?;
        let (cas, rest) = match (rest, *cas) {
            ([b' ', rest @ ..], true) => {
                let (c, rest) = leading_u64(rest)?;
                (Some(c), rest)
            }
            (rest, false) => (None, rest),
            _ => return None,
        };
        let rest = rest.strip_prefix(b"\r\n")?;
        let newline = input.len().checked_sub(rest.len())?.checked_sub(1)?;
        if newline > self.max_line_len.saturating_add(1) {
            return None;
        }
        Some(ValueLine {
            newline,
            key,
            flags: u32::try_from(flags).ok()?,
            cas,
            len: usize::try_from(len)
                .ok()
                .filter(|&l| l <= self.max_value_len)?,
        })
    }

    /// The position of the `\n` ending the next complete line of `input`
    /// (preceded by `\r`, so at least 1), once it has arrived.
    fn find_line(&mut self, input: &BytesMut) -> Result<Option<usize>, ProtocolError> {
        let from = self.scanned.min(input.len());
        let found = input
            .get(from..)
            .and_then(|rest| memchr::memchr(b'\n', rest));
        let Some(offset) = found else {
            self.scanned = input.len();
            // Even if `\n` came next, the line (less its `\r`) would be too long.
            if input.len() > self.max_line_len.saturating_add(1) {
                return Err(ProtocolError::LineTooLong {
                    max: self.max_line_len,
                });
            }
            return Ok(None);
        };
        let newline = from + offset;
        // The length is checked before the line ending, by the same measure
        // as above, so that a line gets the same verdict whether its `\n`
        // arrived with it or in a later read.
        if newline > self.max_line_len.saturating_add(1) {
            return Err(ProtocolError::LineTooLong {
                max: self.max_line_len,
            });
        }
        match newline.checked_sub(1) {
            Some(cr) if input.get(cr) == Some(&b'\r') => Ok(Some(newline)),
            _ => Err(ProtocolError::BadLineEnding),
        }
    }

    /// Handle one line of a meta reply; `Some` when the reply is complete.
    fn on_meta_line(
        &mut self,
        line: &Bytes,
    ) -> Result<Option<Result<Response, Error>>, ProtocolError> {
        if let Some(err) = self.error_line(line) {
            return Ok(Some(Err(err)));
        }
        let Expect::Meta(m) = &self.expect else {
            return Err(self.unexpected(line));
        };
        match meta_parse::on_line(m, line, self.max_value_len)? {
            LineOutcome::Done(reply) => Ok(Some(reply)),
            LineOutcome::Block { reply, len } => {
                self.data = Some(len);
                self.meta = Some(reply);
                Ok(None)
            }
        }
    }

    /// Handle one line of any other reply; `Some` when the reply is
    /// complete.
    fn on_line(&mut self, l: &[u8]) -> Result<Option<Result<Response, Error>>, ProtocolError> {
        if let Expect::Values { .. } = &self.expect {
            // The line of every hit first: it cannot be an error line.
            if let Some(header) = l.strip_prefix(b"VALUE ") {
                self.value_header(header, l)?;
                return Ok(None);
            }
        }
        if let Some(err) = self.error_line(l) {
            return Ok(Some(Err(err)));
        }
        let done = |r: Result<Response, Error>| Ok(Some(r));
        match &self.expect {
            Expect::Values { .. } if l == b"END" => {
                done(Ok(Response::Values(std::mem::take(&mut self.values))))
            }
            Expect::Stored => match l {
                b"STORED" => done(Ok(Response::Stored)),
                b"NOT_STORED" => done(Err(Error::NotStored)),
                b"EXISTS" => done(Err(Error::Exists)),
                b"NOT_FOUND" => done(Err(Error::NotFound)),
                _ => Err(self.unexpected(l)),
            },
            Expect::Deleted => match l {
                b"DELETED" => done(Ok(Response::Deleted)),
                b"NOT_FOUND" => done(Err(Error::NotFound)),
                _ => Err(self.unexpected(l)),
            },
            Expect::Touched => match l {
                b"TOUCHED" => done(Ok(Response::Touched)),
                b"NOT_FOUND" => done(Err(Error::NotFound)),
                _ => Err(self.unexpected(l)),
            },
            Expect::Number => match l {
                b"NOT_FOUND" => done(Err(Error::NotFound)),
                // The server may pad a shrunk number with trailing spaces.
                _ => match parse_u64(trim_trailing_spaces(l)) {
                    Some(n) => done(Ok(Response::Number(n))),
                    None => Err(self.unexpected(l)),
                },
            },
            Expect::Ok if l == b"OK" => done(Ok(Response::Ok)),
            Expect::Version if l.starts_with(b"VERSION ") => {
                let v = l.get(8..).unwrap_or_default();
                done(Ok(Response::Version(
                    String::from_utf8_lossy(v).into_owned(),
                )))
            }
            Expect::Stats(StatsGroup::Reset) if l == b"RESET" => done(Ok(Response::Ok)),
            Expect::Stats(group) if l == b"END" => {
                let group = group.clone();
                let lines = std::mem::take(&mut self.stats);
                done(Ok(Response::Stats(stats::group(&group, lines)?)))
            }
            Expect::Stats(_) if l.starts_with(b"STAT ") => {
                self.stat_line(l)?;
                Ok(None)
            }
            _ => Err(self.unexpected(l)),
        }
    }

    /// `ERROR`, `CLIENT_ERROR <msg>`, `SERVER_ERROR <msg>` as per-request errors.
    fn error_line(&self, l: &[u8]) -> Option<Error> {
        let msg = |rest: &[u8]| String::from_utf8_lossy(rest).into_owned();
        if l == b"ERROR" || l.starts_with(b"ERROR ") {
            Some(Error::UnknownCommand)
        } else if let Some(rest) = l.strip_prefix(b"CLIENT_ERROR ") {
            let non_numeric = rest.starts_with(b"cannot increment or decrement non-numeric value");
            let arithmetic = match &self.expect {
                Expect::Number => true,
                Expect::Meta(m) => m.kind == MetaKind::Arithmetic,
                _ => false,
            };
            Some(if non_numeric && arithmetic {
                Error::NonNumeric
            } else {
                Error::Client(msg(rest))
            })
        } else {
            l.strip_prefix(b"SERVER_ERROR ")
                .map(|rest| Error::Server(msg(rest)))
        }
    }

    /// `VALUE <key> <flags> <bytes> [<cas unique>]`: `header` is the line
    /// after `VALUE `.
    fn value_header(&mut self, header: &[u8], line: &[u8]) -> Result<(), ProtocolError> {
        let Expect::Values { keys, cas } = &self.expect else {
            return Err(self.unexpected(line));
        };
        let (key, rest) = field(header);
        let (flags, rest) = field(rest.unwrap_or_default());
        let Some(rest) = rest else {
            return Err(self.unexpected(line));
        };
        let (len, rest) = field(rest);
        let cas_unique = match (rest, *cas) {
            (Some(c), true) if !c.contains(&b' ') => {
                Some(parse_u64(c).ok_or_else(|| self.unexpected(line))?)
            }
            (None, false) => None,
            _ => return Err(self.unexpected(line)),
        };
        let flags = parse_u64(flags)
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(|| self.unexpected(line))?;
        let len = parse_u64(len).ok_or_else(|| self.unexpected(line))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.max_value_len)
            .ok_or(ProtocolError::ValueTooLarge {
                len,
                max: self.max_value_len,
            })?;
        if let Some(short) = &self.short_key {
            // A single key, held inline: answered at most once.
            if key != short.get() || !self.values.is_empty() || key.is_empty() {
                return Err(ProtocolError::UnrequestedKey(show_line(key)));
            }
            self.await_data(Bytes::new(), flags, cas_unique, len);
            return Ok(());
        }
        // The key must answer a requested key not answered yet. memcached
        // answers in request order (found at once, after the last one); a
        // proxy merging several servers' replies, such as twemproxy, may
        // not, so any order is taken — but never a key that was not asked
        // for, nor one answered more often than it was asked for.
        let start = self.next_key.min(keys.len());
        let open = |i: &usize| self.is_open(*i) && keys.get(*i).is_some_and(|k| k[..] == *key);
        let Some(i) = (start..keys.len()).chain(0..start).find(open) else {
            return Err(ProtocolError::UnrequestedKey(show_line(key)));
        };
        let key = self.answer(i);
        self.await_data(key, flags, cas_unique, len);
        Ok(())
    }

    /// Whether requested key `i` is still unanswered.
    fn is_open(&self, i: usize) -> bool {
        self.answered
            .get(i)
            .map_or(i >= self.next_key, |done| !done)
    }

    /// Requested key `i` is answered: the key, moved out of the request
    /// (it cannot be answered twice) so that no shared copy of it is made.
    #[inline(always)]
    fn answer(&mut self, i: usize) -> Bytes {
        let Expect::Values { keys, .. } = &mut self.expect else {
            return Bytes::new();
        };
        if self.values.is_empty() {
            // The first answer: room for it and every key after it (one
            // is held inline).
            self.values.reserve_exact(keys.len().saturating_sub(i));
        }
        if self.answered.is_empty() && keys.len() > 1 {
            self.answered = vec![false; keys.len()];
        }
        self.next_key = i + 1;
        if let Some(done) = self.answered.get_mut(i) {
            *done = true;
        }
        keys.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    /// A `VALUE` line for `key` (empty for the [`ShortKey`], taken from
    /// the line): await its data block.
    fn await_data(&mut self, key: Bytes, flags: u32, cas: Option<u64>, len: usize) {
        self.data = Some(len);
        self.value = Some(ValueHeader { key, flags, cas });
    }

    /// `STAT <name> <value>`; the value may hold spaces.
    fn stat_line(&mut self, l: &[u8]) -> Result<(), ProtocolError> {
        if self.stats.len() >= self.max_stats_entries {
            return Err(ProtocolError::TooManyEntries {
                max: self.max_stats_entries,
            });
        }
        let rest = l.get(5..).unwrap_or_default();
        let (name, value) = match memchr::memchr(b' ', rest) {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, &b""[..]),
        };
        if name.is_empty() {
            return Err(self.unexpected(l));
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.stats.push((text(name), text(value)));
        Ok(())
    }

    fn unexpected(&self, line: &[u8]) -> ProtocolError {
        ProtocolError::UnexpectedLine {
            line: show_line(line),
            request: self.expect.name(),
        }
    }
}

/// The first space-separated field of `s`, and the rest after its space
/// (`None` when there is no space).
fn field(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..)),
        None => (s, None),
    }
}

/// `s` after `key`, if it starts with it and `key` holds no byte up to a
/// space (no space, no `\n`: a line starting with it and a space holds
/// exactly it as its first field, as the general path reads it). Compared inline,
/// eight bytes at a time, in one pass (keys are short; a call to `memcmp`
/// costs more).
#[inline]
fn strip_plain_key<'a>(s: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let (head, rest) = s.split_at_checked(key.len())?;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let (mut differ, mut low) = (0u64, 0u64);
    let (mut heads, mut keys) = (head.chunks_exact(8), key.chunks_exact(8));
    for (h, k) in (&mut heads).zip(&mut keys) {
        let (h, k) = (word(h), word(k));
        differ |= h ^ k;
        // The high bit of a byte below `!` (and of no other byte): the
        // lowest one is found exactly, so "any" is exact.
        low |= h.wrapping_sub(ONES * 0x21) & !h & HIGH;
    }
    for (h, k) in heads.remainder().iter().zip(keys.remainder()) {
        differ |= u64::from(h ^ k);
        low |= u64::from(*h <= b' ');
    }
    (differ == 0 && low == 0).then_some(rest)
}

/// The decimal number at the front of `s`, of at most 19 digits (so
/// that it cannot overflow), and the rest after its digits; `None` when
/// `s` does not start with a digit or the digits may go on.
#[inline(always)]
fn leading_u64(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &b) in s.iter().enumerate().take(20) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return if i == 0 { None } else { Some((n, s.get(i..)?)) };
        }
        if i == 19 {
            break;
        }
        // At most 19 digits: below 10^19 < u64::MAX.
        n = n * 10 + u64::from(digit);
    }
    None
}

/// A strict decimal `u64`: digits only, no sign, no overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn trim_trailing_spaces(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

/// Whether a complete line (without `\r\n`) is an error line: `ERROR`,
/// `CLIENT_ERROR <msg>` or `SERVER_ERROR <msg>`.
pub(crate) fn is_error_line(l: &[u8]) -> bool {
    l == b"ERROR"
        || l.starts_with(b"ERROR ")
        || l.starts_with(b"CLIENT_ERROR ")
        || l.starts_with(b"SERVER_ERROR ")
}

/// What the first bytes of a reply line say about it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineStart {
    /// Too few bytes to tell.
    Incomplete,
    /// `ERROR`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Error,
    /// Anything else.
    Other,
}

/// Classify the start of `input` without waiting for the whole line.
pub(crate) fn line_start(input: &[u8]) -> LineStart {
    const ERRORS: [&[u8]; 4] = [b"ERROR\r", b"ERROR ", b"CLIENT_ERROR ", b"SERVER_ERROR "];
    let mut incomplete = false;
    for e in ERRORS {
        if input.starts_with(e) {
            return LineStart::Error;
        }
        incomplete |= e.starts_with(input);
    }
    if incomplete {
        LineStart::Incomplete
    } else {
        LineStart::Other
    }
}

#[cfg(test)]
mod tests;
