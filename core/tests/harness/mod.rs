//! The invariants that memwire's parser and `Connection` must keep on any
//! input, written once and run two ways:
//!
//! * by the property tests in `core/tests/properties.rs` (and the replay of
//!   every saved crash in `core/tests/fuzz_regressions.rs`), in the normal
//!   `cargo test`;
//! * by the cargo-fuzz targets in `fuzz/fuzz_targets/`, which include this
//!   file with `#[path]`.
//!
//! Each check takes raw bytes, exactly as libFuzzer hands them to a target;
//! the structured checks decode them with `arbitrary` the same way
//! `libfuzzer-sys` does, so a saved input replays identically everywhere.
//! Every check panics on a violated invariant and never loops unboundedly.
//!
//! It also holds the one renderer of typed replies to wire bytes
//! ([`render`]), used by the `roundtrip` and `connection_stream` checks.
//! The meta protocol's checks (`meta_parser`, `meta_roundtrip`,
//! `meta_stream`) and renderer are in [`meta`].
#![allow(dead_code)]

pub mod meta;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use memwire_core::{
    Command, Completion, Config, Connection, Error, Expect, Expiry, Keys, ProtocolError, RequestId,
    Response, ResponseParser, SizeStats, SlabStats, StatMap, StatValue, Stats, StatsGroup, Status,
    StoreMode, Value, Values,
};

/// The typed expiry memcached would read from the wire integer `t`: up to
/// 30 days relative, above that an absolute Unix time.
fn expiry(t: u32) -> Expiry {
    if t == 0 {
        Expiry::Never
    } else if t <= 30 * 86_400 {
        Expiry::secs(u64::from(t))
    } else {
        Expiry::At(std::time::UNIX_EPOCH + Duration::from_secs(u64::from(t)))
    }
}

/// The message memcached sends for `incr`/`decr` on a non-numeric value.
pub const NON_NUMERIC: &str = "cannot increment or decrement non-numeric value";

/// Keys the structured inputs pick from, so that replies can name them.
pub const KEYS: [&str; 6] = ["a", "b", "k", "foo", "session:42", "clé"];

// ---------------------------------------------------------------------------
// The renderer: typed replies to wire bytes
// ---------------------------------------------------------------------------

/// Wire variations that do not change what a reply means.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct Style {
    /// Spaces after an `incr`/`decr` number (memcached pads a shrunk decr).
    pub number_pad: u8,
    /// Text after `ERROR` (memcached ≥ 1.6 says `ERROR unknown command`).
    pub error_text: Option<String>,
}

/// Render `reply` as memcached would send it in answer to a request that
/// expects `expect`. Panics on a reply that no server could send for
/// `expect` (a caller bug, not a parser one).
pub fn render(expect: &Expect, reply: &Result<Response, Error>, style: &Style) -> Vec<u8> {
    if let Expect::Meta(m) = expect {
        if let Some(w) = meta::render_meta(m, reply, 0) {
            return w;
        }
    }
    let mut w = Vec::new();
    let line = |w: &mut Vec<u8>, parts: &[&[u8]]| {
        for p in parts {
            w.extend_from_slice(p);
        }
        w.extend_from_slice(b"\r\n");
    };
    match reply {
        Ok(Response::Values(values)) => {
            for v in values {
                let mut head = format!(" {} {}", v.flags, v.data.len());
                if let Some(cas) = v.cas {
                    let _ = write!(head, " {cas}");
                }
                line(&mut w, &[b"VALUE ", &v.key, head.as_bytes()]);
                line(&mut w, &[&v.data]);
            }
            line(&mut w, &[b"END"]);
        }
        Ok(Response::Stored) => line(&mut w, &[b"STORED"]),
        Ok(Response::Deleted) => line(&mut w, &[b"DELETED"]),
        Ok(Response::Touched) => line(&mut w, &[b"TOUCHED"]),
        Ok(Response::Ok) if *expect == Expect::Stats(StatsGroup::Reset) => {
            line(&mut w, &[b"RESET"])
        }
        Ok(Response::Ok) => line(&mut w, &[b"OK"]),
        Ok(Response::Number(n)) => {
            let pad = " ".repeat(usize::from(style.number_pad % 8));
            line(&mut w, &[n.to_string().as_bytes(), pad.as_bytes()]);
        }
        Ok(Response::Version(v)) => line(&mut w, &[b"VERSION ", v.as_bytes()]),
        Ok(Response::Stats(stats)) => {
            for (name, value) in stat_lines(stats) {
                line(&mut w, &[b"STAT ", name.as_bytes(), b" ", value.as_bytes()]);
            }
            line(&mut w, &[b"END"]);
        }
        Ok(Response::Sent) => {}
        Ok(other) => panic!("render: unknown response {other:?}"),
        Err(Error::NotStored) => line(&mut w, &[b"NOT_STORED"]),
        Err(Error::Exists) => line(&mut w, &[b"EXISTS"]),
        Err(Error::NotFound) => line(&mut w, &[b"NOT_FOUND"]),
        Err(Error::NonNumeric) => line(&mut w, &[b"CLIENT_ERROR ", NON_NUMERIC.as_bytes()]),
        Err(Error::UnknownCommand) => match &style.error_text {
            Some(text) => line(&mut w, &[b"ERROR ", text.as_bytes()]),
            None => line(&mut w, &[b"ERROR"]),
        },
        Err(Error::Client(msg)) => line(&mut w, &[b"CLIENT_ERROR ", msg.as_bytes()]),
        Err(Error::Server(msg)) => line(&mut w, &[b"SERVER_ERROR ", msg.as_bytes()]),
        Err(other) => panic!("render: {other:?} is not a server reply"),
    }
    w
}

/// A stat value's text. Floats always carry a dot, so they read back as
/// floats; every finite `f64` reads back exactly.
fn stat_text(v: &StatValue) -> String {
    match v {
        StatValue::Float(x) => {
            let s = x.to_string();
            if s.contains('.') {
                s
            } else {
                s + ".0"
            }
        }
        other => other.to_string(),
    }
}

/// The `STAT <name> <value>` pairs of a typed stats reply.
fn stat_lines(stats: &Stats) -> Vec<(String, String)> {
    let flat = |m: &StatMap, prefix: &str| -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (format!("{prefix}{k}"), stat_text(v)))
            .collect()
    };
    let by_id = |m: &BTreeMap<u32, StatMap>, prefix: &str| -> Vec<(String, String)> {
        m.iter()
            .flat_map(|(id, stats)| flat(stats, &format!("{prefix}{id}:")))
            .collect()
    };
    match stats {
        Stats::General(m) | Stats::Settings(m) => flat(m, ""),
        Stats::Items(m) => by_id(m, "items:"),
        Stats::Conns(m) => by_id(m, ""),
        Stats::Slabs(s) => {
            let mut lines = by_id(&s.classes, "");
            lines.extend(flat(&s.totals, ""));
            lines
        }
        Stats::Sizes(s) => {
            let mut lines = Vec::new();
            if !s.enabled {
                lines.push(("sizes_status".to_owned(), "disabled".to_owned()));
            }
            lines.extend(s.sizes.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            lines
        }
        other => panic!("render: unknown stats {other:?}"),
    }
}

/// What a command's reply looks like, or `None` if it is refused (bad key,
/// too many keys, ...) or gets no reply at all (`quit`).
pub fn expect_of(command: &Command, config: &Config) -> Option<Expect> {
    command.encode(&mut BytesMut::new(), config).ok().flatten()
}

/// Outcomes are compared by their `Debug` form: [`Error`] is not `PartialEq`.
fn show<T: std::fmt::Debug>(x: &T) -> String {
    format!("{x:?}")
}

// ---------------------------------------------------------------------------
// Structured pieces
// ---------------------------------------------------------------------------

/// A key: one of [`KEYS`], or made up.
#[derive(Debug, Clone, Arbitrary)]
pub enum KeySeed {
    /// One of [`KEYS`].
    Known(u8),
    /// Bytes made into a valid key.
    Valid(Vec<u8>),
    /// Bytes as they are: often not a valid key, so the send is refused.
    Unchecked(Vec<u8>),
}

impl KeySeed {
    /// The key, valid unless `Unchecked` allows otherwise.
    pub fn key(&self) -> Bytes {
        match self {
            KeySeed::Known(i) => Bytes::from_static(KEYS[usize::from(*i) % KEYS.len()].as_bytes()),
            KeySeed::Valid(raw) => valid_key(raw),
            KeySeed::Unchecked(raw) => Bytes::copy_from_slice(raw),
        }
    }

    /// The key, made valid in any case.
    pub fn valid(&self) -> Bytes {
        match self {
            KeySeed::Unchecked(raw) => valid_key(raw),
            other => other.key(),
        }
    }
}

fn valid_key(raw: &[u8]) -> Bytes {
    let mut k: Vec<u8> = raw
        .iter()
        .take(250)
        .map(|&b| if b <= b' ' || b == 0x7f { b'_' } else { b })
        .collect();
    if k.is_empty() {
        k.push(b'k');
    }
    Bytes::from(k)
}

/// Text without `\n` (which would end the line), at most `max` bytes.
fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|&c| c != '\n').collect();
    while out.len() > max {
        out.pop();
    }
    out
}

/// A stat name: not empty, no space, no `\n`.
fn stat_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|&c| c != ' ' && c != '\n')
        .take(64)
        .collect();
    if out.is_empty() {
        out.push('n');
    }
    out
}

#[derive(Debug, Clone, Arbitrary)]
pub enum StoreModeSeed {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas(u64),
}

impl StoreModeSeed {
    fn mode(&self) -> StoreMode {
        match *self {
            StoreModeSeed::Set => StoreMode::Set,
            StoreModeSeed::Add => StoreMode::Add,
            StoreModeSeed::Replace => StoreMode::Replace,
            StoreModeSeed::Append => StoreMode::Append,
            StoreModeSeed::Prepend => StoreMode::Prepend,
            StoreModeSeed::Cas(c) => StoreMode::Cas(c),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub enum GroupSeed {
    General,
    Settings,
    Items,
    Slabs,
    Sizes,
    Conns,
    Reset,
    Other(String),
}

impl GroupSeed {
    /// The group; `Other`'s argument is made a valid word.
    fn group(&self) -> StatsGroup {
        match self {
            GroupSeed::General => StatsGroup::General,
            GroupSeed::Settings => StatsGroup::Settings,
            GroupSeed::Items => StatsGroup::Items,
            GroupSeed::Slabs => StatsGroup::Slabs,
            GroupSeed::Sizes => StatsGroup::Sizes,
            GroupSeed::Conns => StatsGroup::Conns,
            GroupSeed::Reset => StatsGroup::Reset,
            GroupSeed::Other(s) => {
                let mut w: String = s
                    .chars()
                    .filter(|&c| c > ' ' && c != '\u{7f}')
                    .take(32)
                    .collect();
                if w.is_empty() {
                    w.push_str("extstore");
                }
                StatsGroup::Other(w)
            }
        }
    }
}

/// Any request.
#[derive(Debug, Clone, Arbitrary)]
pub enum Req {
    Get {
        keys: Vec<KeySeed>,
        cas: bool,
        touch: Option<u32>,
    },
    Store {
        mode: StoreModeSeed,
        key: KeySeed,
        data: Vec<u8>,
        flags: u32,
        exptime: u32,
        noreply: bool,
    },
    Delete {
        key: KeySeed,
        noreply: bool,
    },
    Arith {
        decr: bool,
        key: KeySeed,
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: KeySeed,
        exptime: u32,
        noreply: bool,
    },
    FlushAll {
        delay: Option<u32>,
        noreply: bool,
    },
    Verbosity {
        level: u32,
        noreply: bool,
    },
    Version,
    Stats(GroupSeed),
    Quit,
}

impl Req {
    pub fn command(&self) -> Command {
        fn quiet<T>(c: T, noreply: bool, f: fn(T) -> T) -> T {
            if noreply {
                f(c)
            } else {
                c
            }
        }
        match self {
            Req::Get { keys, cas, touch } => {
                let mut r = Command::get_multi(keys.iter().map(KeySeed::key));
                if *cas {
                    r = r.with_cas();
                }
                if let Some(t) = touch {
                    r = r.touch(expiry(*t));
                }
                r.into()
            }
            Req::Store {
                mode,
                key,
                data,
                flags,
                exptime,
                noreply,
            } => {
                let s = memwire_core::Store::new(mode.mode(), key.key(), data.clone())
                    .flags(*flags)
                    .expiry(expiry(*exptime));
                quiet(s, *noreply, |s| s.noreply()).into()
            }
            Req::Delete { key, noreply } => {
                quiet(Command::delete(key.key()), *noreply, |c| c.noreply()).into()
            }
            Req::Arith {
                decr,
                key,
                delta,
                noreply,
            } => {
                let a = if *decr {
                    Command::decr(key.key(), *delta)
                } else {
                    Command::incr(key.key(), *delta)
                };
                quiet(a, *noreply, |c| c.noreply()).into()
            }
            Req::Touch {
                key,
                exptime,
                noreply,
            } => quiet(Command::touch(key.key(), expiry(*exptime)), *noreply, |c| {
                c.noreply()
            })
            .into(),
            Req::FlushAll { delay, noreply } => {
                let mut f = Command::flush_all();
                if let Some(d) = delay {
                    f = f.delay(*d);
                }
                quiet(f, *noreply, |c| c.noreply()).into()
            }
            Req::Verbosity { level, noreply } => {
                quiet(Command::verbosity(*level), *noreply, |c| c.noreply()).into()
            }
            Req::Version => Command::version(),
            Req::Stats(g) => Command::stats(g.group()),
            Req::Quit => Command::quit(),
        }
    }
}

/// An error line.
#[derive(Debug, Clone, Arbitrary)]
pub enum ErrorSeed {
    Unknown(Option<String>),
    Client(String),
    Server(String),
    NonNumeric,
}

impl ErrorSeed {
    /// The error and its style, valid as an answer to `expect`.
    fn error(&self, expect: &Expect) -> (Error, Style) {
        let mut style = Style::default();
        let e = match self {
            ErrorSeed::Unknown(text) => {
                style.error_text = text.as_deref().map(|t| one_line(t, 200));
                Error::UnknownCommand
            }
            ErrorSeed::Client(msg) => {
                let mut msg = one_line(msg, 200);
                if msg.starts_with(NON_NUMERIC) && arithmetic(expect) {
                    msg.insert(0, '!');
                }
                Error::Client(msg)
            }
            ErrorSeed::Server(msg) => Error::Server(one_line(msg, 200)),
            ErrorSeed::NonNumeric if arithmetic(expect) => Error::NonNumeric,
            ErrorSeed::NonNumeric => Error::Client(NON_NUMERIC.to_owned()),
        };
        (e, style)
    }
}

/// Whether `expect` is an `incr`/`decr` or an `ma`: the replies that read
/// the non-numeric `CLIENT_ERROR` as [`Error::NonNumeric`].
fn arithmetic(expect: &Expect) -> bool {
    match expect {
        Expect::Number => true,
        Expect::Meta(m) => m.kind == memwire_core::meta::MetaKind::Arithmetic,
        _ => false,
    }
}

/// A stat value and the text it is typed from.
#[derive(Debug, Clone, Arbitrary)]
pub enum StatSeed {
    UInt(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Version(u8, u8, u8),
    Text(String),
}

impl StatSeed {
    fn value(&self) -> StatValue {
        match self {
            StatSeed::UInt(n) => StatValue::UInt(*n),
            StatSeed::Int(n) if *n < 0 => StatValue::Int(*n),
            StatSeed::Int(n) => StatValue::UInt(n.unsigned_abs()),
            StatSeed::Float(x) if x.is_finite() => StatValue::Float(*x),
            StatSeed::Float(_) => StatValue::Text("NaN".into()),
            StatSeed::Bool(b) => StatValue::Bool(*b),
            StatSeed::Version(a, b, c) => StatValue::Text(format!("{a}.{b}.{c}")),
            StatSeed::Text(s) => {
                // Text that could read as a number or a boolean gets a mark.
                let mut s = one_line(s, 200);
                let numeric_looking = s
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
                if numeric_looking || matches!(&*s, "yes" | "no" | "true" | "false") {
                    s.insert(0, '~');
                }
                StatValue::Text(s)
            }
        }
    }
}

/// Statistics of one of the shapes a `stats` reply can take.
#[derive(Debug, Clone, Arbitrary)]
pub enum StatsSeed {
    General(Vec<(String, StatSeed)>),
    Settings(Vec<(String, StatSeed)>),
    Other(String, Vec<(String, StatSeed)>),
    Items(Vec<(u32, String, StatSeed)>),
    Slabs(Vec<(u32, String, StatSeed)>, Vec<(String, StatSeed)>),
    Sizes(bool, Vec<(u64, u64)>),
    Conns(Vec<(u32, String, StatSeed)>),
}

fn flat_map(pairs: &[(String, StatSeed)]) -> StatMap {
    pairs
        .iter()
        .map(|(k, v)| (stat_name(k), v.value()))
        .collect()
}

fn id_map(triples: &[(u32, String, StatSeed)]) -> BTreeMap<u32, StatMap> {
    let mut m: BTreeMap<u32, StatMap> = BTreeMap::new();
    for (id, k, v) in triples {
        m.entry(*id).or_default().insert(stat_name(k), v.value());
    }
    m
}

impl StatsSeed {
    fn stats(&self) -> (StatsGroup, Stats) {
        match self {
            StatsSeed::General(p) => (StatsGroup::General, Stats::General(flat_map(p))),
            StatsSeed::Settings(p) => (StatsGroup::Settings, Stats::Settings(flat_map(p))),
            StatsSeed::Other(arg, p) => (
                GroupSeed::Other(arg.clone()).group(),
                Stats::General(flat_map(p)),
            ),
            StatsSeed::Items(t) => (StatsGroup::Items, Stats::Items(id_map(t))),
            StatsSeed::Conns(t) => (StatsGroup::Conns, Stats::Conns(id_map(t))),
            StatsSeed::Slabs(classes, totals) => {
                // A total named "<number>:<stat>" would read as a class stat.
                let totals = totals
                    .iter()
                    .map(|(k, v)| (stat_name(k).replace(':', "_"), v.value()))
                    .collect();
                (
                    StatsGroup::Slabs,
                    Stats::Slabs(SlabStats {
                        classes: id_map(classes),
                        totals,
                    }),
                )
            }
            StatsSeed::Sizes(disabled, sizes) => (
                StatsGroup::Sizes,
                Stats::Sizes(SizeStats {
                    sizes: sizes.clone(),
                    enabled: !disabled,
                }),
            ),
        }
    }
}

/// One item of a retrieval, with a missed key maybe requested before it.
#[derive(Debug, Clone, Arbitrary)]
pub struct ItemSeed {
    miss_before: Option<KeySeed>,
    key: KeySeed,
    flags: u32,
    cas: u64,
    data: Vec<u8>,
}

/// A request and the reply a server could send to it.
#[derive(Debug, Clone, Arbitrary)]
pub enum ReplySeed {
    Values {
        cas: bool,
        touch: Option<u32>,
        items: Vec<ItemSeed>,
        miss_after: Option<KeySeed>,
    },
    Store {
        mode: StoreModeSeed,
        outcome: u8,
    },
    Delete(bool),
    Touch(bool),
    Arith {
        decr: bool,
        value: Option<u64>,
        pad: u8,
    },
    FlushAll,
    Verbosity,
    Version(String),
    Stats(StatsSeed),
    Reset,
    Error(Req, ErrorSeed),
}

/// A command, the reply it gets, and how that reply is spelled.
#[derive(Debug, Clone)]
pub struct Case {
    pub command: Command,
    pub expect: Expect,
    pub reply: Result<Response, Error>,
    pub style: Style,
}

impl ReplySeed {
    /// The case, or `None` when the seed makes no request with a reply.
    pub fn case(&self, config: &Config) -> Option<Case> {
        let mut style = Style::default();
        let (command, reply): (Command, Result<Response, Error>) = match self {
            ReplySeed::Values {
                cas,
                touch,
                items,
                miss_after,
            } => {
                let mut keys = Vec::new();
                let mut values = Values::new();
                for item in items.iter().take(64) {
                    keys.extend(item.miss_before.as_ref().map(KeySeed::valid));
                    let key = item.key.valid();
                    keys.push(key.clone());
                    let mut value = Value::new(key, item.flags, Bytes::copy_from_slice(&item.data));
                    value.cas = cas.then_some(item.cas);
                    values.push(value);
                }
                keys.extend(miss_after.as_ref().map(KeySeed::valid));
                let mut r = Command::get_multi(keys);
                if *cas {
                    r = r.with_cas();
                }
                if let Some(t) = touch {
                    r = r.touch(expiry(*t));
                }
                (r.into(), Ok(Response::Values(values)))
            }
            ReplySeed::Store { mode, outcome } => (
                memwire_core::Store::new(mode.mode(), "k", "v").into(),
                match outcome % 4 {
                    0 => Ok(Response::Stored),
                    1 => Err(Error::NotStored),
                    2 => Err(Error::Exists),
                    _ => Err(Error::NotFound),
                },
            ),
            ReplySeed::Delete(found) => (
                Command::delete("k").into(),
                if *found {
                    Ok(Response::Deleted)
                } else {
                    Err(Error::NotFound)
                },
            ),
            ReplySeed::Touch(found) => (
                Command::touch("k", Expiry::secs(1)).into(),
                if *found {
                    Ok(Response::Touched)
                } else {
                    Err(Error::NotFound)
                },
            ),
            ReplySeed::Arith { decr, value, pad } => {
                style.number_pad = *pad;
                let c = if *decr {
                    Command::decr("n", 1)
                } else {
                    Command::incr("n", 1)
                };
                (c.into(), value.map(Response::Number).ok_or(Error::NotFound))
            }
            ReplySeed::FlushAll => (Command::flush_all().into(), Ok(Response::Ok)),
            ReplySeed::Verbosity => (Command::verbosity(1).into(), Ok(Response::Ok)),
            ReplySeed::Version(v) => (Command::version(), Ok(Response::Version(one_line(v, 200)))),
            ReplySeed::Stats(s) => {
                let (group, stats) = s.stats();
                (Command::stats(group), Ok(Response::Stats(stats)))
            }
            ReplySeed::Reset => (Command::stats(StatsGroup::Reset), Ok(Response::Ok)),
            ReplySeed::Error(req, e) => {
                let command = req.command();
                let expect = expect_of(&command, config)?;
                let (error, s) = e.error(&expect);
                style = s;
                (command, Err(error))
            }
        };
        let expect = expect_of(&command, config)?;
        if expect == Expect::Quiet && reply.is_ok() {
            return None;
        }
        Some(Case {
            command,
            expect,
            reply,
            style,
        })
    }
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Either the default limits or small ones, so that limits are hit.
#[derive(Debug, Clone, Arbitrary)]
pub enum Limits {
    Default,
    Small {
        line: u8,
        value: u16,
        keys: u8,
        stats: u8,
    },
}

impl Limits {
    pub fn config(&self) -> Config {
        match *self {
            Limits::Default => Config::default(),
            Limits::Small {
                line,
                value,
                keys,
                stats,
            } => Config::default()
                .max_line_len(usize::from(line))
                .max_value_len(usize::from(value))
                .max_keys(usize::from(keys))
                .max_stats_entries(usize::from(stats)),
        }
    }
}

/// The most bytes a `Connection` may hold unparsed between calls.
pub fn input_bound(config: &Config) -> usize {
    // A partial line, a partial value block, or the start of an error line
    // after a noreply request (at most "CLIENT_ERROR", 12 bytes): as
    // documented on `Connection::buffered_input`.
    (config.max_line_len + 1)
        .max(config.max_value_len + 1)
        .max(12)
}

// ---------------------------------------------------------------------------
// Target 1: response_parser
// ---------------------------------------------------------------------------

/// Every kind of reply the parser knows, to read the same bytes as.
pub fn all_expects() -> Vec<Expect> {
    let keys = |ks: &[&'static str]| -> Keys {
        ks.iter()
            .map(|k| Bytes::from_static(k.as_bytes()))
            .collect()
    };
    let mut v = vec![
        Expect::Values {
            keys: keys(&["a"]),
            cas: false,
        },
        Expect::Values {
            keys: keys(&["a", "b", "k", "a", "foo"]),
            cas: false,
        },
        Expect::Values {
            keys: keys(&["a", "b", "k", "foo"]),
            cas: true,
        },
        Expect::Stored,
        Expect::Deleted,
        Expect::Number,
        Expect::Touched,
        Expect::Ok,
        Expect::Version,
        Expect::Quiet,
    ];
    for g in [
        StatsGroup::General,
        StatsGroup::Settings,
        StatsGroup::Items,
        StatsGroup::Slabs,
        StatsGroup::Sizes,
        StatsGroup::Conns,
        StatsGroup::Reset,
    ] {
        v.push(Expect::Stats(g));
    }
    v
}

/// Arbitrary bytes as a reply to each kind of request: the first byte picks
/// the limits and a split point, the rest is the reply. The parser must not
/// panic, must agree with itself however the bytes are split, must consume
/// only what it parsed, and its output must be consistent with the request.
pub fn response_parser(data: &[u8]) {
    let Some((&knob, wire)) = data.split_first() else {
        return;
    };
    let config = if knob & 1 == 0 {
        Config::default()
    } else {
        Config::default()
            .max_line_len(24)
            .max_value_len(16)
            .max_stats_entries(3)
    };
    let split = if wire.is_empty() {
        0
    } else {
        usize::from(knob >> 1) % (wire.len() + 1)
    };
    let expects = all_expects();
    // Byte by byte is the most thorough split but costs a parse per byte:
    // do it for one kind of request per input.
    let bytewise = (split + wire.len()) % expects.len();
    for (i, expect) in expects.iter().enumerate() {
        let whole = parse_in(expect, &config, &[wire]);
        let two = parse_in(expect, &config, &[&wire[..split], &wire[split..]]);
        assert_eq!(whole, two, "{expect:?}: whole vs split at {split}");
        if i == bytewise {
            let bytes: Vec<&[u8]> = wire.chunks(1).collect();
            assert_eq!(
                whole,
                parse_in(expect, &config, &bytes),
                "{expect:?}: byte by byte"
            );
        }
    }
}

/// Feed `chunks` to a fresh parser until it is done; the outcome, shown,
/// and how many bytes it consumed. Checks the invariants of every step.
fn parse_in(expect: &Expect, config: &Config, chunks: &[&[u8]]) -> (String, usize) {
    let mut parser = ResponseParser::new(expect.clone(), config);
    let mut input = BytesMut::new();
    let mut fed = 0;
    let mut outcome = None;
    for (i, chunk) in chunks.iter().enumerate() {
        input.extend_from_slice(chunk);
        fed += chunk.len();
        let status = parser.parse(&mut input);
        assert!(input.len() <= fed, "the parser grew its input");
        match status {
            Ok(Status::Partial) => {
                assert!(
                    input.len() <= input_bound(config),
                    "{} bytes buffered",
                    input.len()
                );
            }
            Ok(Status::Complete(result)) => {
                check_reply(expect, config, &result);
                outcome = Some((i, show(&Ok::<_, ProtocolError>(result))));
            }
            Err(e) => outcome = Some((i, show(&Err::<Result<Response, Error>, _>(e)))),
        }
        if outcome.is_some() {
            break;
        }
    }
    // Only whole lines and blocks were consumed, from the front: what is
    // left is the end of what was fed, untouched.
    let last = outcome.as_ref().map_or(chunks.len(), |(i, _)| i + 1);
    let fed_bytes = chunks[..last].concat();
    assert!(fed_bytes.ends_with(&input), "the parser rewrote its input");
    match outcome {
        // The stream is dead after a violation: how much was consumed does
        // not matter (a `Connection` drops its input).
        Some((_, shown)) if shown.starts_with("Err") => (shown, 0),
        Some((_, shown)) => (shown, fed - input.len()),
        None => ("Partial".to_owned(), fed - input.len()),
    }
}

/// A completed reply must be one the request can get.
fn check_reply(expect: &Expect, config: &Config, result: &Result<Response, Error>) {
    let ok = match (expect, result) {
        (_, Err(Error::UnknownCommand | Error::Client(_) | Error::Server(_))) => true,
        (Expect::Values { keys, cas }, Ok(Response::Values(values))) => {
            // Each hit answers a requested key, none more often than it was
            // asked for; the order is free (a proxy such as twemproxy
            // answers a multi-get in the order its servers reply).
            let mut unanswered: Vec<&Bytes> = keys.iter().collect();
            values.iter().all(|v| {
                let answered = unanswered.iter().position(|k| **k == v.key);
                answered.map(|i| unanswered.swap_remove(i)).is_some()
                    && v.cas.is_some() == *cas
                    && v.data.len() <= config.max_value_len
            })
        }
        (Expect::Stored, Ok(Response::Stored)) => true,
        (Expect::Stored, Err(Error::NotStored | Error::Exists | Error::NotFound)) => true,
        (Expect::Deleted, Ok(Response::Deleted)) => true,
        (Expect::Touched, Ok(Response::Touched)) => true,
        (Expect::Deleted | Expect::Touched | Expect::Number, Err(Error::NotFound)) => true,
        (Expect::Number, Ok(Response::Number(_)) | Err(Error::NonNumeric)) => true,
        (Expect::Ok, Ok(Response::Ok)) => true,
        (Expect::Version, Ok(Response::Version(_))) => true,
        (Expect::Stats(StatsGroup::Reset), Ok(Response::Ok)) => true,
        (Expect::Stats(g), Ok(Response::Stats(s))) => {
            let entries = match s {
                Stats::General(m) | Stats::Settings(m) => m.len(),
                Stats::Items(m) | Stats::Conns(m) => m.values().map(BTreeMap::len).sum(),
                Stats::Slabs(s) => {
                    s.totals.len() + s.classes.values().map(BTreeMap::len).sum::<usize>()
                }
                Stats::Sizes(s) => s.sizes.len(),
                _ => 0,
            };
            let shape = matches!(
                (g, s),
                (
                    StatsGroup::General | StatsGroup::Reset | StatsGroup::Other(_),
                    Stats::General(_)
                ) | (StatsGroup::Settings, Stats::Settings(_))
                    | (StatsGroup::Items, Stats::Items(_))
                    | (StatsGroup::Slabs, Stats::Slabs(_))
                    | (StatsGroup::Sizes, Stats::Sizes(_))
                    | (StatsGroup::Conns, Stats::Conns(_))
            );
            shape && entries <= config.max_stats_entries
        }
        (Expect::Meta(m), r) => meta::fits(m, config, r),
        _ => false,
    };
    assert!(ok, "{result:?} cannot answer {expect:?}");
}

// ---------------------------------------------------------------------------
// Target 2: roundtrip
// ---------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
pub struct RoundtripInput {
    pub replies: Vec<(ReplySeed, Style)>,
    pub chunks: Vec<u8>,
}

/// Structured replies rendered to wire bytes must parse back to exactly
/// what was rendered: each alone (whole and in arbitrary chunks), and all of
/// them pipelined through a `Connection`.
pub fn roundtrip(data: &[u8]) {
    let Ok(input) = RoundtripInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    roundtrip_input(&input);
}

pub fn roundtrip_input(input: &RoundtripInput) {
    let config = Config::default();
    let cases: Vec<(Case, Vec<u8>)> = input
        .replies
        .iter()
        .take(32)
        .filter_map(|(seed, extra)| {
            let mut case = seed.case(&config)?;
            case.style.number_pad = extra.number_pad;
            if case.style.error_text.is_none() {
                case.style.error_text = extra.error_text.as_deref().map(|t| one_line(t, 200));
            }
            let wire = render(&case.expect, &case.reply, &case.style);
            Some((case, wire))
        })
        .collect();
    let want = |case: &Case| show(&Ok::<_, ProtocolError>(case.reply.clone()));
    for (case, wire) in &cases {
        for chunks in [vec![&wire[..]], chunked(wire, &input.chunks)] {
            let (got, consumed) = parse_in(&case.expect, &config, &chunks);
            assert_eq!(
                got,
                want(case),
                "wire {:?} for {:?}",
                String::from_utf8_lossy(wire),
                case.command
            );
            assert_eq!(consumed, wire.len(), "bytes left over");
        }
    }
    // Pipelined: all requests in flight, replies arriving in arbitrary
    // chunks. (A noreply request's error cannot be told from the next
    // request's reply; connection_stream covers those.)
    let mut conn = Connection::new(config);
    let mut expected = Vec::new();
    let mut stream = Vec::new();
    for (case, wire) in cases.iter().filter(|(c, _)| c.expect != Expect::Quiet) {
        let id = conn
            .send(case.command.clone(), None)
            .expect("a valid command is sent");
        expected.push((id, show(&case.reply)));
        stream.extend_from_slice(wire);
    }
    let mut got = Vec::new();
    for chunk in chunked(&stream, &input.chunks) {
        conn.handle_input(chunk);
        got.extend(std::iter::from_fn(|| conn.poll_response()).map(|c| (c.id, show(&c.result))));
    }
    assert_eq!(got, expected);
    assert!(!conn.is_poisoned(), "{:?}", conn.poison_cause());
    assert!(!conn.wants_read());
    assert_eq!(conn.buffered_input(), 0);
}

/// Split `wire` into chunks of the given sizes (cycled; 1..=256 bytes).
pub fn chunked<'a>(wire: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![wire];
    }
    let mut out = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (usize::from(sizes[i % sizes.len()]) + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        out.push(chunk);
        rest = tail;
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Target 3: connection_stream
// ---------------------------------------------------------------------------

/// A reply that fits whatever request it answers.
#[derive(Debug, Clone, Arbitrary)]
pub struct AnswerSeed {
    hits: u64,
    flags: u32,
    cas: u64,
    data: Vec<u8>,
    outcome: u8,
    number: u64,
    style: Style,
    error: Option<ErrorSeed>,
}

impl AnswerSeed {
    /// A reply a server could send to a request expecting `expect`: its
    /// wire bytes and what it means.
    fn answer(&self, expect: &Expect) -> (Vec<u8>, Result<Response, Error>) {
        if let Some(e) = &self.error {
            let (error, style) = e.error(expect);
            let reply = Err(error);
            return (render(expect, &reply, &style), reply);
        }
        let reply = match expect {
            Expect::Values { keys, cas } => Ok(Response::Values(
                keys.iter()
                    .enumerate()
                    .filter(|(i, _)| self.hits & (1 << (i % 64)) != 0)
                    .map(|(_, k)| {
                        let mut value =
                            Value::new(k.clone(), self.flags, Bytes::copy_from_slice(&self.data));
                        value.cas = cas.then_some(self.cas);
                        value
                    })
                    .collect(),
            )),
            Expect::Stored => match self.outcome % 4 {
                0 => Ok(Response::Stored),
                1 => Err(Error::NotStored),
                2 => Err(Error::Exists),
                _ => Err(Error::NotFound),
            },
            Expect::Deleted | Expect::Touched | Expect::Number if self.outcome % 4 == 3 => {
                Err(Error::NotFound)
            }
            Expect::Deleted => Ok(Response::Deleted),
            Expect::Touched => Ok(Response::Touched),
            Expect::Number => Ok(Response::Number(self.number)),
            Expect::Ok | Expect::Stats(StatsGroup::Reset) => Ok(Response::Ok),
            Expect::Version => Ok(Response::Version(format!("1.6.{}", self.outcome))),
            Expect::Stats(g) => {
                let n = || StatValue::UInt(self.number);
                let map = |k: &str| StatMap::from([(k.to_owned(), n())]);
                let by_id = |k: &str| BTreeMap::from([(u32::from(self.outcome), map(k))]);
                Ok(Response::Stats(match g {
                    StatsGroup::Settings => Stats::Settings(map("maxbytes")),
                    StatsGroup::Items => Stats::Items(by_id("number")),
                    StatsGroup::Conns => Stats::Conns(by_id("idle_since")),
                    StatsGroup::Slabs => Stats::Slabs(SlabStats {
                        classes: by_id("chunk_size"),
                        totals: map("active_slabs"),
                    }),
                    StatsGroup::Sizes => Stats::Sizes(SizeStats {
                        sizes: vec![(96, self.number)],
                        enabled: true,
                    }),
                    _ => Stats::General(map("curr_items")),
                }))
            }
            _ => return (Vec::new(), Ok(Response::Sent)),
        };
        (render(expect, &reply, &self.style), reply)
    }
}

/// A piece of the byte stream.
#[derive(Debug, Clone, Arbitrary)]
pub enum Piece {
    /// A well-formed reply to the next request that expects one.
    Answer(AnswerSeed),
    /// Any bytes.
    Raw(Vec<u8>),
    /// A protocol token.
    Token(u8),
}

const TOKENS: [&[u8]; 20] = [
    b"\r\n",
    b"END\r\n",
    b"STORED\r\n",
    b"NOT_FOUND\r\n",
    b"DELETED\r\n",
    b"TOUCHED\r\n",
    b"OK\r\n",
    b"ERROR\r\n",
    b"SERVER_ERROR out of memory\r\n",
    b"CLIENT_ERROR bad data chunk\r\n",
    b"VALUE a 0 1\r\nx\r\n",
    b"VALUE foo 5 3 99\r\nbar\r\n",
    b"STAT pid 1\r\n",
    b"STAT items:1:number 2\r\n",
    b"VERSION 1.6.21\r\n",
    b"RESET\r\n",
    b"42\r\n",
    b"7  \r\n",
    b"\n",
    b"\r",
];

/// Something that happens at an offset of the byte stream.
#[derive(Debug, Clone, Arbitrary)]
pub enum Action {
    /// Collect finished requests.
    Poll,
    /// The clock reaches this many milliseconds after the start.
    Timeout(u16),
    /// The caller drops the n-th request sent so far (mod their number).
    Abandon(u8),
    /// A new request, with a deadline in milliseconds after the start.
    Send(Req, Option<u16>),
    /// The socket closes.
    Close,
    /// The transport wrote this many bytes.
    Write(u16),
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Event {
    pub at: u16,
    pub action: Action,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct StreamInput {
    pub limits: Limits,
    /// Requests queued before any byte arrives, with their deadlines.
    pub requests: Vec<(Req, Option<u16>)>,
    pub pieces: Vec<Piece>,
    pub events: Vec<Event>,
    pub chunks_a: Vec<u8>,
    pub chunks_b: Vec<u8>,
}

/// What a run of a `Connection` let its caller observe.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Sent(Result<u64, String>),
    Abandoned(u64, bool),
    Done(u64, String),
    Poisoned(bool),
    Timeout(Option<Duration>),
    NoreplyError(String),
}

/// Requests queued, then reply bytes fed in arbitrary chunks with timeouts,
/// abandons, sends, writes and closes at fixed stream offsets. Two runs
/// chunked differently must be observed identically; each must keep its
/// buffers bounded and deliver every request exactly one answer of the
/// right kind.
pub fn connection_stream(data: &[u8]) {
    let Ok(input) = StreamInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    connection_stream_input(&input);
}

pub fn connection_stream_input(input: &StreamInput) {
    let config = input.limits.config();
    let mut events: Vec<&Event> = input.events.iter().take(64).collect();
    events.sort_by_key(|e| e.at);
    // Every request in the order it will be sent; answers go to those that
    // expect one, in that order.
    // ... and the stream offset at which each is sent.
    let requests: Vec<(&Req, usize)> = input
        .requests
        .iter()
        .take(64)
        .map(|(r, _)| (r, 0))
        .chain(events.iter().filter_map(|e| match &e.action {
            Action::Send(r, _) => Some((r, usize::from(e.at))),
            _ => None,
        }))
        .collect();
    let mut expecting = requests
        .iter()
        .filter_map(|(r, at)| Some((expect_of(&r.command(), &config)?, *at)))
        .filter(|(e, _)| *e != Expect::Quiet);
    let mut stream = Vec::new();
    let mut answers = Vec::new();
    // Whether every answer comes after its request was sent.
    let mut in_time = true;
    let pieces = &input.pieces[..input.pieces.len().min(256)];
    for piece in pieces {
        match piece {
            Piece::Answer(seed) => {
                if let Some((expect, sent_at)) = expecting.next() {
                    in_time &= sent_at <= stream.len();
                    let (wire, reply) = seed.answer(&expect);
                    stream.extend(wire);
                    answers.push(show(&reply));
                }
            }
            Piece::Raw(bytes) => stream.extend_from_slice(bytes),
            Piece::Token(i) => stream.extend_from_slice(TOKENS[usize::from(*i) % TOKENS.len()]),
        }
    }
    // When the stream is nothing but well-formed answers and no noreply
    // request makes them ambiguous, each request must get exactly the
    // answer rendered for it (or a fatal error); with neither timeouts nor
    // closes and an answer for everyone, every request must succeed.
    let quiet = requests
        .iter()
        .any(|(r, _)| expect_of(&r.command(), &config) == Some(Expect::Quiet));
    // After `quit` nothing more is sent: later requests' answers would be
    // unsolicited.
    let quit = requests
        .iter()
        .rev()
        .skip(1)
        .any(|(r, _)| matches!(r, Req::Quit));
    let clean = in_time && !quiet && !quit && pieces.iter().all(|p| matches!(p, Piece::Answer(_)));
    let oracle = clean.then(|| Oracle {
        all_answered: matches!(input.limits, Limits::Default)
            && expecting.next().is_none()
            && !events
                .iter()
                .any(|e| matches!(e.action, Action::Timeout(_) | Action::Close)),
        answers,
    });
    let t0 = Instant::now();
    let a = run_stream(
        input,
        &config,
        &events,
        &stream,
        &input.chunks_a,
        t0,
        &oracle,
    );
    let b = run_stream(
        input,
        &config,
        &events,
        &stream,
        &input.chunks_b,
        t0,
        &oracle,
    );
    assert_eq!(a, b, "chunked {:?} vs {:?}", input.chunks_a, input.chunks_b);
}

fn run_stream(
    input: &StreamInput,
    config: &Config,
    events: &[&Event],
    stream: &[u8],
    sizes: &[u8],
    t0: Instant,
    oracle: &Option<Oracle>,
) -> Vec<Seen> {
    let mut run = Run {
        conn: Connection::new(*config),
        config: *config,
        seen: Vec::new(),
        sent: Vec::new(),
        expects: HashMap::new(),
        abandoned: HashSet::new(),
        done: HashSet::new(),
        t0,
        oracle: oracle.as_ref(),
        answered: HashMap::new(),
    };
    for (req, deadline) in input.requests.iter().take(64) {
        run.send(req, *deadline);
    }
    let mut at = 0usize;
    let mut feed = |run: &mut Run, upto: usize| {
        // Feed stream[at..upto] cut into this run's chunk sizes; a chunk
        // never crosses an event's offset.
        let mut size_iter = sizes.iter().cycle();
        while at < upto {
            let n = match size_iter.next() {
                Some(s) => (usize::from(*s) + 1).min(upto - at),
                None => upto - at,
            };
            run.input(&stream[at..at + n]);
            at += n;
        }
    };
    for event in events {
        let upto = usize::from(event.at).min(stream.len());
        feed(&mut run, upto);
        run.event(&event.action);
    }
    feed(&mut run, stream.len());
    run.poll();
    if run.oracle.is_some_and(|o| o.all_answered) {
        assert!(!run.conn.is_poisoned(), "{:?}", run.conn.poison_cause());
        assert_eq!(run.conn.in_flight(), 0);
        assert_eq!(run.conn.buffered_input(), 0);
    }
    run.conn.handle_close();
    run.poll();
    run.finish();
    run.seen
}

/// What each request must get when the stream is all well-formed answers.
struct Oracle {
    /// The answers, shown, in the order of the requests expecting one.
    answers: Vec<String>,
    /// Every request that expects an answer has one in the stream, within
    /// the default limits, and nothing times out or closes.
    all_answered: bool,
}

struct Run<'a> {
    conn: Connection,
    config: Config,
    seen: Vec<Seen>,
    sent: Vec<RequestId>,
    expects: HashMap<RequestId, Option<Expect>>,
    abandoned: HashSet<RequestId>,
    done: HashSet<RequestId>,
    t0: Instant,
    oracle: Option<&'a Oracle>,
    /// Index into the oracle's answers of each request expecting one.
    answered: HashMap<RequestId, usize>,
}

impl Run<'_> {
    fn send(&mut self, req: &Req, deadline: Option<u16>) {
        let command = req.command();
        let expect = expect_of(&command, &self.config);
        let was_poisoned = self.conn.is_poisoned();
        let before = self.conn.pending_output().len();
        let deadline = deadline.map(|ms| self.t0 + Duration::from_millis(u64::from(ms)));
        let result = self.conn.send(command, deadline);
        match &result {
            Ok(id) => {
                assert!(!was_poisoned, "a poisoned connection accepted a request");
                self.sent.push(*id);
                if expect.as_ref().is_some_and(|e| *e != Expect::Quiet) {
                    let n = self.answered.len();
                    self.answered.insert(*id, n);
                }
                self.expects.insert(*id, expect);
            }
            Err(e) => {
                assert_eq!(
                    self.conn.pending_output().len(),
                    before,
                    "a refused request wrote bytes: {e:?}"
                );
            }
        }
        self.seen.push(Seen::Sent(
            result.map(RequestId::get).map_err(|e| normalize(&show(&e))),
        ));
    }

    fn input(&mut self, chunk: &[u8]) {
        self.conn.handle_input(chunk);
        let held = self.conn.buffered_input();
        assert!(
            held <= input_bound(&self.config),
            "{held} bytes buffered with {:?}",
            self.config
        );
        if self.conn.is_poisoned() {
            assert_eq!(held, 0, "a poisoned connection keeps input");
            assert!(!self.conn.wants_read());
        }
    }

    fn event(&mut self, action: &Action) {
        match action {
            Action::Poll => self.poll(),
            Action::Timeout(ms) => {
                let now = self.t0 + Duration::from_millis(u64::from(*ms));
                let next = self.conn.poll_timeout();
                self.seen
                    .push(Seen::Timeout(next.map(|t| t.duration_since(self.t0))));
                self.conn.handle_timeout(now);
                if next.is_some_and(|t| t <= now) {
                    assert!(self.conn.is_poisoned(), "a deadline passed unnoticed");
                }
                if !matches!(next, Some(t) if t <= now) {
                    // Nothing was due: nothing may have happened.
                    assert_eq!(self.conn.poll_timeout(), next);
                }
            }
            Action::Abandon(i) => {
                if !self.sent.is_empty() {
                    let id = self.sent[usize::from(*i) % self.sent.len()];
                    let was = self.conn.abandon(id);
                    self.abandoned.insert(id);
                    self.seen.push(Seen::Abandoned(id.get(), was));
                }
            }
            Action::Send(req, deadline) => self.send(req, *deadline),
            Action::Close => self.conn.handle_close(),
            Action::Write(n) => self.conn.advance_output(usize::from(*n)),
        }
        self.seen.push(Seen::Poisoned(self.conn.is_poisoned()));
    }

    fn poll(&mut self) {
        let mut budget = self.sent.len() + 1;
        while let Some(Completion { id, result, .. }) = self.conn.poll_response() {
            budget = budget
                .checked_sub(1)
                .expect("more completions than requests");
            assert!(self.done.insert(id), "{id:?} completed twice");
            assert!(
                !self.abandoned.contains(&id),
                "abandoned {id:?} completed: {result:?}"
            );
            let expect = self
                .expects
                .get(&id)
                .expect("completion of an unknown request");
            check_completion(expect.as_ref(), &self.config, &result);
            if let (Some(oracle), Some(&n)) = (self.oracle, self.answered.get(&id)) {
                let fatal = result.as_ref().is_err_and(Error::is_fatal);
                if !fatal || oracle.all_answered {
                    assert_eq!(
                        oracle.answers.get(n),
                        Some(&show(&result)),
                        "request {n} got another answer"
                    );
                }
            }
            self.seen
                .push(Seen::Done(id.get(), normalize(&show(&result))));
        }
        if let Some(e) = self.conn.take_noreply_error() {
            assert_eq!(e.kind(), memwire_core::ErrorKind::Reply, "{e:?}");
            self.seen.push(Seen::NoreplyError(show(&e)));
        }
    }

    /// After the close: every request not abandoned got exactly one answer.
    fn finish(&mut self) {
        for id in &self.sent {
            if !self.abandoned.contains(id) {
                assert!(self.done.contains(id), "{id:?} never completed");
            }
        }
        assert!(self.conn.is_poisoned());
        assert!(!self.conn.wants_read());
        assert_eq!(self.conn.poll_timeout(), None);
        assert_eq!(self.conn.buffered_input(), 0);
    }
}

fn check_completion(expect: Option<&Expect>, config: &Config, result: &Result<Response, Error>) {
    match (expect, result) {
        // `quit` and noreply requests complete when queued.
        (None | Some(Expect::Quiet), r) => {
            assert!(matches!(r, Ok(Response::Sent)), "{r:?}")
        }
        (Some(_), Err(e)) if e.is_fatal() => {}
        (Some(expect), r) => check_reply(expect, config, r),
    }
}

/// The number of unsolicited bytes reported is how many were buffered when
/// the connection noticed them, which depends on how they were chunked:
/// that count is diagnostic only, not part of the results compared.
fn normalize(s: &str) -> String {
    let Some(i) = s.find("UnsolicitedData(") else {
        return s.to_owned();
    };
    let start = i + "UnsolicitedData(".len();
    let end = s[start..].find(')').map_or(s.len(), |j| start + j);
    format!("{}_{}", &s[..start], &s[end..])
}
