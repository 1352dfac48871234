//! The meta protocol's invariants: the renderer of typed meta replies, the
//! structured meta requests and answers, and the checks of the
//! `meta_parser`, `meta_roundtrip` and `meta_stream` targets.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use memwire_core::meta::{
    DebugInfo, MetaArithmetic, MetaCommand, MetaDebug, MetaDelete, MetaExpect, MetaGet, MetaKind,
    MetaReply, MetaSet, MetaSetMode, MetaStatus, Opaque, ReturnedFlags, Ttl,
};
use memwire_core::{Command, Config, Connection, Error, Expect, RequestId, Response};

use super::{
    chunked, expect_of, expiry, input_bound, normalize, parse_in, render, show, valid_key,
    ErrorSeed, Style, KEYS,
};

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Standard padded base64, written here independently of the crate under
/// test.
pub fn base64(raw: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(raw.len().div_ceil(3) * 4);
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn is_text_key(key: &[u8]) -> bool {
    memwire_core::key::validate(key).is_ok()
}

/// Whether a server could return `key` base64-encoded: only keys stored
/// with `b` are, and memcached takes those up to 250 bytes encoded.
fn fits_base64(key: &[u8]) -> bool {
    key.len() <= memwire_core::key::MAX_BINARY_KEY_LEN
}

/// The wire tokens of returned flags, in a canonical order rotated by
/// `rotate` (the server returns flags in the order they were asked for).
fn flag_tokens(f: &ReturnedFlags, rotate: u8) -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = Vec::new();
    let mut num = |c: char, n: Option<String>| {
        if let Some(n) = n {
            t.push(format!("{c}{n}").into_bytes());
        }
    };
    num('c', f.cas.map(|n| n.to_string()));
    num('f', f.client_flags.map(|n| n.to_string()));
    num(
        't',
        f.ttl.map(|ttl| match ttl {
            Ttl::Never => "-1".to_owned(),
            Ttl::Remaining(d) => d.as_secs().to_string(),
        }),
    );
    num('s', f.size.map(|n| n.to_string()));
    num('l', f.last_access.map(|d| d.as_secs().to_string()));
    num('h', f.hit_before.map(|h| u8::from(h).to_string()));
    if let Some(key) = &f.key {
        let mut k = b"k".to_vec();
        if f.base64_key {
            k.extend(base64(key));
            t.push(k);
            t.push(b"b".to_vec());
        } else {
            k.extend_from_slice(key);
            t.push(k);
        }
    }
    if let Some(o) = &f.opaque {
        let mut tok = b"O".to_vec();
        tok.extend_from_slice(o.as_bytes());
        t.push(tok);
    }
    for (on, c) in [(f.won, b'W'), (f.stale, b'X'), (f.win_taken, b'Z')] {
        if on {
            t.push(vec![c]);
        }
    }
    if !t.is_empty() {
        let n = usize::from(rotate) % t.len();
        t.rotate_left(n);
    }
    t
}

/// The wire form of a meta reply to `expect`, or `None` for the error
/// lines the generic [`render`] writes.
pub fn render_meta(
    expect: &MetaExpect,
    reply: &Result<Response, Error>,
    rotate: u8,
) -> Option<Vec<u8>> {
    let mut w = Vec::new();
    let line = |w: &mut Vec<u8>, head: &[u8], flags: &ReturnedFlags| {
        w.extend_from_slice(head);
        for tok in flag_tokens(flags, rotate) {
            w.push(b' ');
            w.extend(tok);
        }
        w.extend_from_slice(b"\r\n");
    };
    let mut echo = ReturnedFlags::default();
    echo.opaque = expect.opaque.clone();
    match reply {
        Ok(Response::Meta(r)) if r.silent => {}
        Ok(Response::Meta(r)) => match &r.status {
            MetaStatus::Value(data) => {
                line(&mut w, format!("VA {}", data.len()).as_bytes(), &r.flags);
                w.extend_from_slice(data);
                w.extend_from_slice(b"\r\n");
            }
            MetaStatus::Done => line(&mut w, b"HD", &r.flags),
            MetaStatus::Miss => line(&mut w, b"EN", &r.flags),
            MetaStatus::NoOp => line(&mut w, b"MN", &r.flags),
            MetaStatus::Debug(info) => {
                w.extend_from_slice(b"ME ");
                let key = r.flags.key.as_deref().unwrap_or_default();
                if r.flags.base64_key {
                    w.extend(base64(key));
                } else {
                    w.extend_from_slice(key);
                }
                for (name, value) in &info.fields {
                    w.extend_from_slice(format!(" {name}={value}").as_bytes());
                }
                w.extend_from_slice(b"\r\n");
            }
            other => panic!("render: unknown meta status {other:?}"),
        },
        Err(Error::NotStored) => line(&mut w, b"NS", &echo),
        Err(Error::Exists) => line(&mut w, b"EX", &echo),
        Err(Error::NotFound) => line(&mut w, b"NF", &echo),
        _ => return None,
    }
    Some(w)
}

// ---------------------------------------------------------------------------
// Structured requests and answers
// ---------------------------------------------------------------------------

/// A meta key: one of [`KEYS`], a valid text key, or any bytes (binary
/// keys travel base64-encoded; an empty or too long one is refused).
#[derive(Debug, Clone, Arbitrary)]
pub enum MetaKeySeed {
    Known(u8),
    Text(Vec<u8>),
    Binary(Vec<u8>),
}

impl MetaKeySeed {
    pub fn key(&self) -> Bytes {
        match self {
            MetaKeySeed::Known(i) => {
                Bytes::from_static(KEYS[usize::from(*i) % KEYS.len()].as_bytes())
            }
            MetaKeySeed::Text(raw) => valid_key(raw),
            MetaKeySeed::Binary(raw) => Bytes::copy_from_slice(&raw[..raw.len().min(200)]),
        }
    }
}

/// Any meta request.
#[derive(Debug, Clone, Arbitrary)]
pub struct MetaReqSeed {
    pub kind: u8,
    pub key: MetaKeySeed,
    pub quiet: bool,
    pub opaque: Option<u8>,
    pub value: bool,
    pub flags: u16,
    pub data: Vec<u8>,
    pub number: u64,
    pub ttl: Option<u32>,
    pub mode: u8,
}

impl MetaReqSeed {
    /// The command, with `opaque` as its token when given (else the seed's).
    pub fn command(&self, opaque: Option<Opaque>) -> MetaCommand {
        let bit = |i: u16| self.flags & (1 << i) != 0;
        let opaque = opaque.or(self.opaque.map(|o| Opaque::from(u32::from(o))));
        let key = self.key.key();
        let ttl = self.ttl.map(expiry);
        match self.kind % 6 {
            0 => {
                let mut c = MetaGet::new(key);
                c.value = self.value;
                c.cas = bit(0);
                c.client_flags = bit(1);
                c.hit_before = bit(2);
                c.return_key = bit(3);
                c.last_access = bit(4);
                c.size = bit(5);
                c.ttl = bit(6);
                c.no_lru_bump = bit(7);
                c.touch = ttl.filter(|_| bit(8));
                c.vivify = ttl.filter(|_| bit(9));
                c.recache_below = bit(10).then(|| Duration::from_secs(self.number % 100));
                c.unless_cas = bit(11).then_some(self.number);
                c.new_cas = bit(12).then_some(self.number);
                c.quiet = self.quiet;
                c.opaque = opaque;
                c.into()
            }
            1 => {
                let mut c = MetaSet::new(key, self.data.clone());
                c.mode = match self.mode % 5 {
                    0 => MetaSetMode::Set,
                    1 => MetaSetMode::Add,
                    2 => MetaSetMode::Replace,
                    3 => MetaSetMode::Append,
                    _ => MetaSetMode::Prepend,
                };
                c.cas = bit(0);
                c.return_key = bit(1);
                c.size = bit(2);
                c.invalidate = bit(3);
                c.compare_cas = bit(4).then_some(self.number);
                c.new_cas = bit(5).then_some(self.number);
                c.client_flags = if bit(6) { self.number as u32 } else { 0 };
                c.expiry = ttl.unwrap_or_default();
                c.vivify = ttl.filter(|_| bit(7));
                c.quiet = self.quiet;
                c.opaque = opaque;
                c.into()
            }
            2 => {
                let mut c = MetaDelete::new(key);
                c.return_key = bit(0);
                c.invalidate = bit(1);
                c.clear_value = bit(2);
                c.compare_cas = bit(3).then_some(self.number);
                c.new_cas = bit(4).then_some(self.number);
                c.expiry = ttl;
                c.quiet = self.quiet;
                c.opaque = opaque;
                c.into()
            }
            3 => {
                let op = if self.mode & 1 == 0 {
                    memwire_core::ArithOp::Incr
                } else {
                    memwire_core::ArithOp::Decr
                };
                let mut c = MetaArithmetic::new(key, op, self.number);
                c.value = self.value;
                c.cas = bit(0);
                c.return_key = bit(1);
                c.ttl = bit(2);
                if let (true, Some(t)) = (bit(3), ttl) {
                    c.vivify = Some(t);
                    c.initial = Some(self.number / 2);
                }
                c.touch = ttl.filter(|_| bit(4));
                c.compare_cas = bit(5).then_some(self.number);
                c.new_cas = bit(6).then_some(self.number);
                c.quiet = self.quiet;
                c.opaque = opaque;
                c.into()
            }
            4 => MetaDebug::new(key).into(),
            _ => MetaCommand::NoOp,
        }
    }
}

/// A reply that fits whatever meta request it answers.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct MetaAnswerSeed {
    pub outcome: u8,
    pub data: Vec<u8>,
    pub number: u64,
    pub cas: Option<u64>,
    pub client_flags: Option<u32>,
    pub ttl: Option<Option<u32>>,
    pub size: Option<u64>,
    pub last_access: Option<u32>,
    pub hit: Option<bool>,
    pub key: bool,
    pub b: bool,
    pub won: bool,
    pub stale: bool,
    pub taken: bool,
    pub fields: Vec<(String, String)>,
    pub rotate: u8,
}

/// A debug field's name or value: no space, no `=` in names, no `\r`/`\n`.
fn word(s: &str, name: bool) -> String {
    let mut w: String = s
        .chars()
        .filter(|&c| c > ' ' && c != '\u{7f}' && !(name && c == '='))
        .take(32)
        .collect();
    if name && w.is_empty() {
        w.push('n');
    }
    w
}

impl MetaAnswerSeed {
    /// A reply a server could send to `expect` (its nominal outcome is
    /// silent when the request is quiet).
    pub fn reply(&self, expect: &MetaExpect) -> Result<Response, Error> {
        let mut echo = ReturnedFlags::default();
        echo.opaque = expect.opaque.clone();
        if self.key {
            if let Some(key) = &expect.key {
                echo.key = Some(key.clone());
                echo.base64_key = self.b && fits_base64(key) || !is_text_key(key);
            }
        }
        let mut item = echo.clone();
        item.cas = self.cas;
        item.client_flags = self.client_flags;
        item.ttl = self.ttl.map(|t| match t {
            None => Ttl::Never,
            Some(s) => Ttl::Remaining(Duration::from_secs(u64::from(s))),
        });
        item.size = self.size;
        item.last_access = self.last_access.map(|s| Duration::from_secs(u64::from(s)));
        item.hit_before = self.hit;
        item.won = self.won;
        item.stale = self.stale;
        item.win_taken = self.taken;
        let reply = |status: MetaStatus, flags: &ReturnedFlags| {
            let mut r = MetaReply::new(status);
            r.flags = flags.clone();
            Ok(Response::Meta(r))
        };
        let silent = |status: MetaStatus| {
            let mut r = MetaReply::new(status);
            r.silent = true;
            Ok(Response::Meta(r))
        };
        let data = || Bytes::copy_from_slice(&self.data);
        match expect.kind {
            MetaKind::Get => match self.outcome % 3 {
                0 if expect.value => reply(MetaStatus::Value(data()), &item),
                0 | 1 => reply(MetaStatus::Done, &item),
                _ if expect.quiet => silent(MetaStatus::Miss),
                _ => reply(MetaStatus::Miss, &echo),
            },
            MetaKind::Set | MetaKind::Delete => match self.outcome % 4 {
                0 if expect.quiet => silent(MetaStatus::Done),
                0 => reply(MetaStatus::Done, &item),
                1 => Err(Error::NotStored),
                2 => Err(Error::Exists),
                _ => Err(Error::NotFound),
            },
            MetaKind::Arithmetic => match self.outcome % 5 {
                0 | 1 if expect.quiet => silent(MetaStatus::Done),
                0 if expect.value => {
                    let n = Bytes::from(self.number.to_string());
                    reply(MetaStatus::Value(n), &item)
                }
                0 | 1 => reply(MetaStatus::Done, &item),
                2 => Err(Error::NotStored),
                3 => Err(Error::Exists),
                _ => Err(Error::NotFound),
            },
            MetaKind::Debug if self.outcome % 2 == 0 => {
                let key = expect.key.clone().unwrap_or_default();
                let fields = self
                    .fields
                    .iter()
                    .take(8)
                    .map(|(n, v)| (word(n, true), word(v, false)))
                    .collect();
                let mut r = MetaReply::new(MetaStatus::Debug(DebugInfo { fields }));
                r.flags.base64_key = self.b && fits_base64(&key) || !is_text_key(&key);
                r.flags.key = Some(key);
                Ok(Response::Meta(r))
            }
            MetaKind::Debug => reply(MetaStatus::Miss, &ReturnedFlags::default()),
            _ => reply(MetaStatus::NoOp, &ReturnedFlags::default()),
        }
    }
}

/// An answer: a reply of the request's kind, or an error line.
#[derive(Debug, Clone, Arbitrary)]
pub enum MetaAnswer {
    Reply(MetaAnswerSeed),
    Error(ErrorSeed),
}

impl MetaAnswer {
    /// What it means for `expect`, and its wire form.
    pub fn answer(&self, expect: &MetaExpect) -> (Result<Response, Error>, Vec<u8>) {
        let e = Expect::Meta(expect.clone());
        match self {
            MetaAnswer::Reply(seed) => {
                let reply = seed.reply(expect);
                let wire = render_meta(expect, &reply, seed.rotate)
                    .unwrap_or_else(|| render(&e, &reply, &Style::default()));
                (reply, wire)
            }
            MetaAnswer::Error(seed) => {
                let (error, style) = seed.error(&e);
                let reply = Err(error);
                let wire = render(&e, &reply, &style);
                (reply, wire)
            }
        }
    }
}

fn is_silent(r: &Result<Response, Error>) -> bool {
    matches!(r, Ok(Response::Meta(m)) if m.silent)
}

/// An error line: it carries no opaque token.
fn is_error_line(r: &Result<Response, Error>) -> bool {
    matches!(
        r,
        Err(Error::UnknownCommand | Error::Client(_) | Error::Server(_) | Error::NonNumeric)
    )
}

/// A bare `EN`: a miss with no flags, not even the request's opaque token.
/// memcached before 1.6.18 reflects no flags on `EN` (memcached issue
/// #880), so memwire-core accepts it from any request that can miss.
fn is_bare_miss(r: &MetaReply) -> bool {
    r.status == MetaStatus::Miss && r.flags == ReturnedFlags::default()
}

/// A reply that names no request: an error line or a bare `EN`. Nothing in
/// it tells which request it answers, so the connection attributes it by
/// position alone; a lost reply ahead of it (`Tamper::Drop`) makes it
/// land on the request before its own, undetectably.
fn carries_no_token(r: &Result<Response, Error>) -> bool {
    is_error_line(r) || matches!(r, Ok(Response::Meta(m)) if !m.silent && is_bare_miss(m))
}

// ---------------------------------------------------------------------------
// Checks of completed replies
// ---------------------------------------------------------------------------

/// A completed reply must be one the meta request can get.
pub fn fits(expect: &MetaExpect, config: &Config, result: &Result<Response, Error>) -> bool {
    use MetaKind::*;
    match result {
        Err(Error::UnknownCommand | Error::Client(_) | Error::Server(_)) => true,
        Err(Error::NonNumeric) => expect.kind == Arithmetic,
        Err(Error::NotStored | Error::Exists | Error::NotFound) => {
            matches!(expect.kind, Set | Delete | Arithmetic)
        }
        Ok(Response::Meta(r)) if r.silent => Some(r) == expect.silent_outcome().as_ref(),
        Ok(Response::Meta(r)) => {
            let status = match &r.status {
                MetaStatus::Value(d) => {
                    expect.value
                        && matches!(expect.kind, Get | Arithmetic)
                        && d.len() <= config.max_value_len
                }
                MetaStatus::Done => matches!(expect.kind, Get | Set | Delete | Arithmetic),
                MetaStatus::Miss => matches!(expect.kind, Get | Debug),
                MetaStatus::NoOp => expect.kind == NoOp,
                MetaStatus::Debug(_) => expect.kind == Debug,
                _ => false,
            };
            let opaque = matches!(r.status, MetaStatus::Debug(_))
                || is_bare_miss(r)
                || r.flags.opaque == expect.opaque;
            let key = r.flags.key.is_none() || r.flags.key == expect.key;
            status && opaque && key
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Target meta_parser
// ---------------------------------------------------------------------------

/// A meta expectation of each kind and shape, to read the same bytes as.
pub fn meta_expects() -> Vec<Expect> {
    let config = Config::default();
    let commands: Vec<Command> = vec![
        Command::meta_get("k").opaque(1u32).into(),
        Command::meta_get("k").without_value().into(),
        Command::meta_get("a b").with_key().into(),
        Command::meta_get("k").quiet().opaque(2u32).into(),
        Command::meta_set("k", "v").opaque(3u32).into(),
        Command::meta_delete("k").into(),
        Command::meta_incr("n", 1).into(),
        Command::meta_decr("n", 1)
            .without_value()
            .quiet()
            .opaque(4u32)
            .into(),
        Command::meta_debug("k").into(),
        Command::meta_debug("a b").into(),
        Command::meta_noop(),
    ];
    commands
        .iter()
        .map(|c| expect_of(c, &config).expect("a valid meta command"))
        .collect()
}

/// Arbitrary bytes as the reply to each kind of meta request: the first
/// byte picks the limits and a split point. Same invariants as
/// `response_parser`.
pub fn meta_parser(data: &[u8]) {
    let Some((&knob, wire)) = data.split_first() else {
        return;
    };
    let config = if knob & 1 == 0 {
        Config::default()
    } else {
        Config::default().max_line_len(24).max_value_len(16)
    };
    let split = if wire.is_empty() {
        0
    } else {
        usize::from(knob >> 1) % (wire.len() + 1)
    };
    let expects = meta_expects();
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

// ---------------------------------------------------------------------------
// Target meta_roundtrip
// ---------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
pub struct MetaRoundtripInput {
    pub cases: Vec<(MetaReqSeed, MetaAnswer)>,
    pub chunks: Vec<u8>,
}

/// Structured meta replies rendered to wire bytes must parse back to
/// exactly what was rendered, alone (whole and in chunks) and pipelined
/// through a `Connection` ending with `mn`, quiet requests included (each
/// completes with its reply or its silent outcome).
pub fn meta_roundtrip(data: &[u8]) {
    let Ok(input) = MetaRoundtripInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    meta_roundtrip_input(&input);
}

/// A meta command, its expectation, its reply and the reply's wire form.
type MetaCase = (Command, MetaExpect, Result<Response, Error>, Vec<u8>);

pub fn meta_roundtrip_input(input: &MetaRoundtripInput) {
    let config = Config::default();
    // Each case gets its own token (none twice in a batch), or the seed's
    // choice of none when it is loud.
    let cases: Vec<MetaCase> = input
        .cases
        .iter()
        .take(32)
        .enumerate()
        .filter_map(|(i, (req, answer))| {
            let opaque = (req.quiet || req.opaque.is_some()).then(|| Opaque::from(i as u32));
            let command = Command::Meta(req.command(opaque));
            let Some(Expect::Meta(expect)) = expect_of(&command, &config) else {
                return None;
            };
            let (reply, wire) = answer.answer(&expect);
            Some((command, expect, reply, wire))
        })
        .collect();
    let want = |r: &Result<Response, Error>| show(&Ok::<_, memwire_core::ProtocolError>(r.clone()));
    for (command, expect, reply, wire) in &cases {
        if is_silent(reply) {
            assert!(wire.is_empty());
            continue;
        }
        let e = Expect::Meta(expect.clone());
        for chunks in [vec![&wire[..]], chunked(wire, &input.chunks)] {
            let (got, consumed) = parse_in(&e, &config, &chunks);
            assert_eq!(
                got,
                want(reply),
                "wire {:?} for {command:?}",
                String::from_utf8_lossy(wire)
            );
            assert_eq!(consumed, wire.len(), "bytes left over");
        }
    }
    // Pipelined, with `mn` last. An error line (no token) can be told
    // apart only when no quiet request before it is still unanswered:
    // leave out those that could not.
    let mut conn = Connection::new(config);
    let mut expected = Vec::new();
    let mut stream = Vec::new();
    let mut unresolved = false;
    for (command, expect, reply, wire) in &cases {
        if is_error_line(reply) && (unresolved || expect.quiet) {
            continue;
        }
        let id = conn
            .send(command.clone(), None)
            .expect("a valid command is sent");
        expected.push((id, show(reply)));
        stream.extend_from_slice(wire);
        unresolved = is_silent(reply);
    }
    let mn = conn.send(Command::meta_noop(), None).expect("mn");
    let mut noop = MetaReply::new(MetaStatus::NoOp);
    noop.silent = false;
    expected.push((mn, show(&Ok::<_, Error>(Response::Meta(noop)))));
    stream.extend_from_slice(b"MN\r\n");
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

// ---------------------------------------------------------------------------
// Target meta_stream
// ---------------------------------------------------------------------------

/// A way to break the reply stream.
#[derive(Debug, Clone, Arbitrary)]
pub enum Tamper {
    /// The replies of the n-th and m-th requests exchange their opaque
    /// tokens.
    SwapTokens(u8, u8),
    /// The n-th reply carries a token of its own making.
    ForeignToken(u8, u8),
    /// The n-th reply is lost.
    Drop(u8),
    /// The n-th reply comes twice.
    Duplicate(u8),
    /// Bytes appear before the n-th reply.
    Insert(u8, Vec<u8>),
}

/// Something that happens at an offset of the reply stream.
#[derive(Debug, Clone, Arbitrary)]
pub enum MetaEvent {
    Poll,
    /// The caller drops the n-th request (mod their number).
    Abandon(u8),
    Close,
}

#[derive(Debug, Clone, Arbitrary)]
pub struct MetaStreamInput {
    /// Requests and their answers; `mn` is sent after them.
    pub requests: Vec<(MetaReqSeed, MetaAnswer)>,
    /// Whether the caller's own tokens are dropped (the connection then
    /// gives every quiet request one).
    pub auto_tokens: bool,
    pub tamper: Option<Tamper>,
    pub events: Vec<(u16, MetaEvent)>,
    pub chunks_a: Vec<u8>,
    pub chunks_b: Vec<u8>,
}

/// One reply unit of the stream: whose it was meant to be, its token as
/// sent, its meaning and its bytes.
#[derive(Debug, Clone)]
struct Unit {
    token: Option<Bytes>,
    reply: Result<Response, Error>,
    wire: Vec<u8>,
}

/// What the caller observes.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Done(u64, String),
    Abandoned(u64, bool),
    Poisoned(bool),
}

/// A batch of meta requests (quiet and loud, binary keys, the caller's
/// tokens or the connection's) ending with `mn`; the tokens actually sent
/// are read back from the wire; a reply is rendered for each (a quiet
/// request's nominal outcome is silence), maybe tampered with, and fed in
/// two chunkings with polls, abandons and closes at fixed offsets.
///
/// Both runs must be observed identically, buffers stay bounded, every
/// request not abandoned completes exactly once, and a reply carrying a
/// token is never delivered to a request whose token it is not (error
/// lines and bare `EN`s carry none and go by position). Untampered, with
/// no close, every request gets exactly its answer (a silent one its
/// silent outcome), except that an error line arriving when more than one
/// request could have caused it poisons the connection from there on.
pub fn meta_stream(data: &[u8]) {
    let Ok(input) = MetaStreamInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    meta_stream_input(&input);
}

pub fn meta_stream_input(input: &MetaStreamInput) {
    let config = Config::default();
    // Send everything once to learn what goes on the wire.
    let mut conn = Connection::new(config);
    let mut sent: Vec<(RequestId, MetaExpect, &MetaAnswer)> = Vec::new();
    let requests: Vec<(Command, &MetaAnswer)> = input
        .requests
        .iter()
        .take(48)
        .map(|(req, answer)| {
            let mut command = req.command(None);
            if input.auto_tokens {
                command = strip_token(command);
            }
            (Command::Meta(command), answer)
        })
        .chain(std::iter::once((Command::meta_noop(), &NOOP_ANSWER)))
        .collect();
    for (command, answer) in &requests {
        let before = conn.pending_output().len();
        match conn.send(command.clone(), None) {
            Ok(id) => {
                let line = &conn.pending_output()[before..];
                let Some(Expect::Meta(mut expect)) = expect_of(command, &config) else {
                    panic!("{command:?} was sent but is not a meta command");
                };
                // The token that went on the wire, automatic or not.
                expect.opaque = token_of(line).map(|t| Opaque::new(t).expect("a valid token"));
                sent.push((id, expect, *answer));
            }
            Err(e) => {
                assert_eq!(
                    conn.pending_output().len(),
                    before,
                    "refused {command:?} wrote"
                );
                assert_eq!(e.kind(), memwire_core::ErrorKind::Input, "{e:?}");
            }
        }
    }
    let mut units: Vec<Unit> = sent
        .iter()
        .map(|(_, expect, answer)| {
            let (reply, wire) = answer.answer(expect);
            Unit {
                token: expect
                    .opaque
                    .as_ref()
                    .map(|o| Bytes::copy_from_slice(o.as_bytes())),
                reply,
                wire,
            }
        })
        .collect();
    let oracle = input
        .tamper
        .is_none()
        .then(|| expected_outcomes(&sent, &units));
    if let Some(tamper) = &input.tamper {
        apply(tamper, &mut units);
    }
    let stream: Vec<u8> = units.iter().flat_map(|u| u.wire.iter().copied()).collect();
    let mut events: Vec<&(u16, MetaEvent)> = input.events.iter().take(32).collect();
    events.sort_by_key(|(at, _)| *at);
    let closes = events.iter().any(|(_, e)| matches!(e, MetaEvent::Close));
    let requests: Vec<&Command> = requests.iter().map(|(c, _)| c).collect();
    let run = |sizes: &[u8]| {
        run_meta_stream(
            &requests, &config, &sent, &units, &stream, &events, sizes, &oracle, closes,
        )
    };
    let a = run(&input.chunks_a);
    let b = run(&input.chunks_b);
    assert_eq!(a, b, "chunked {:?} vs {:?}", input.chunks_a, input.chunks_b);
}

/// `meta_stream` on a batch of exactly `n` requests decoded from `data`
/// (for property tests: random bytes rarely decode to long batches).
pub fn meta_stream_batch(data: &[u8], n: usize) {
    let mut u = Unstructured::new(data);
    let Ok(requests) = (0..n)
        .map(|_| <(MetaReqSeed, MetaAnswer)>::arbitrary(&mut u))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let Ok(mut input) = MetaStreamInput::arbitrary_take_rest(u) else {
        return;
    };
    input.requests = requests;
    meta_stream_input(&input);
}

/// [`meta_stream_batch`] on a saved input (`fuzz/regressions/meta_stream_batch/`):
/// the first byte is `n`, the rest is `data`.
pub fn meta_stream_batch_file(file: &[u8]) {
    if let Some((&n, data)) = file.split_first() {
        meta_stream_batch(data, usize::from(n));
    }
}

static NOOP_ANSWER: MetaAnswer = MetaAnswer::Reply(MetaAnswerSeed {
    outcome: 0,
    data: Vec::new(),
    number: 0,
    cas: None,
    client_flags: None,
    ttl: None,
    size: None,
    last_access: None,
    hit: None,
    key: false,
    b: false,
    won: false,
    stale: false,
    taken: false,
    fields: Vec::new(),
    rotate: 0,
});

fn strip_token(mut command: MetaCommand) -> MetaCommand {
    match &mut command {
        MetaCommand::Get(c) => c.opaque = None,
        MetaCommand::Set(c) => c.opaque = None,
        MetaCommand::Delete(c) => c.opaque = None,
        MetaCommand::Arithmetic(c) => c.opaque = None,
        _ => {}
    }
    command
}

/// The `O` token of the first line of a request as written.
fn token_of(request: &[u8]) -> Option<&[u8]> {
    let end = request.windows(2).position(|w| w == b"\r\n")?;
    request[..end]
        .split(|&b| b == b' ')
        .skip(2)
        .find_map(|t| t.strip_prefix(b"O"))
}

/// What each sent request must complete with when the stream is exactly
/// the rendered answers and nothing closes: its answer, its silent outcome,
/// or — from the first error line that more than one pending request could
/// have caused — a fatal error (`None`).
fn expected_outcomes(
    sent: &[(RequestId, MetaExpect, &MetaAnswer)],
    units: &[Unit],
) -> HashMap<RequestId, Option<String>> {
    let mut out = HashMap::new();
    let mut unresolved: Vec<RequestId> = Vec::new();
    let mut poisoned = false;
    for ((id, expect, _), unit) in sent.iter().zip(units) {
        if poisoned {
            out.insert(*id, None);
            continue;
        }
        if is_silent(&unit.reply) {
            unresolved.push(*id);
            out.insert(*id, Some(show(&unit.reply)));
            continue;
        }
        let is_last = std::ptr::eq(unit, units.last().expect("mn"));
        // An error line with a quiet request before it (or itself quiet,
        // with `mn` behind it) cannot be attributed.
        if is_error_line(&unit.reply) && (!unresolved.is_empty() || (expect.quiet && !is_last)) {
            poisoned = true;
            for u in unresolved.drain(..) {
                out.insert(u, None);
            }
            out.insert(*id, None);
            continue;
        }
        unresolved.clear();
        out.insert(*id, Some(show(&unit.reply)));
    }
    out
}

fn apply(tamper: &Tamper, units: &mut Vec<Unit>) {
    let n = units.len();
    let pick = |i: u8| usize::from(i) % n;
    let retoken = |unit: &mut Unit, token: Option<Bytes>| {
        // Only replies that carry a token can take another.
        let (Some(old), Some(new)) = (unit.token.clone(), token) else {
            return;
        };
        let mut from = b" O".to_vec();
        from.extend_from_slice(&old);
        let mut to = b" O".to_vec();
        to.extend_from_slice(&new);
        let line_end = unit.wire.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        if let Some(at) = unit.wire[..line_end]
            .windows(from.len())
            .position(|w| w == from)
        {
            // The whole token, not a prefix of a longer one.
            let after = unit.wire.get(at + from.len()).copied();
            if matches!(after, Some(b' ' | b'\r')) {
                unit.wire.splice(at..at + from.len(), to);
                if let Ok(Response::Meta(r)) = &mut unit.reply {
                    r.flags.opaque = Some(Opaque::new(&new).expect("a valid token"));
                }
                unit.token = Some(new);
            }
        }
    };
    match tamper {
        Tamper::SwapTokens(i, j) => {
            let (i, j) = (pick(*i), pick(*j));
            let (ti, tj) = (units[i].token.clone(), units[j].token.clone());
            if ti.is_some() && tj.is_some() {
                retoken(&mut units[i], tj);
                retoken(&mut units[j], ti);
            }
        }
        Tamper::ForeignToken(i, t) => {
            let i = pick(*i);
            retoken(&mut units[i], Some(Bytes::from(format!("x{t}"))));
        }
        Tamper::Drop(i) => {
            units.remove(pick(*i));
        }
        Tamper::Duplicate(i) => {
            let u = units[pick(*i)].clone();
            units.insert(pick(*i), u);
        }
        Tamper::Insert(i, bytes) => {
            let i = pick(*i);
            units.insert(
                i,
                Unit {
                    token: None,
                    reply: Ok(Response::Sent),
                    wire: bytes.iter().take(64).copied().collect(),
                },
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_meta_stream(
    requests: &[&Command],
    config: &Config,
    sent: &[(RequestId, MetaExpect, &MetaAnswer)],
    units: &[Unit],
    stream: &[u8],
    events: &[&(u16, MetaEvent)],
    sizes: &[u8],
    oracle: &Option<HashMap<RequestId, Option<String>>>,
    closes: bool,
) -> Vec<Seen> {
    let mut conn = Connection::new(*config);
    for command in requests {
        let _ = conn.send(*command, None);
    }
    let expects: HashMap<RequestId, &MetaExpect> = sent.iter().map(|(id, e, _)| (*id, e)).collect();
    // What a reply carrying each token may mean.
    let mut by_token: HashMap<Bytes, Vec<String>> = HashMap::new();
    for u in units {
        if let Some(t) = &u.token {
            by_token.entry(t.clone()).or_default().push(show(&u.reply));
        }
    }
    let mut seen = Vec::new();
    let mut done: HashSet<RequestId> = HashSet::new();
    let mut abandoned: HashSet<RequestId> = HashSet::new();
    let mut poll = |conn: &mut Connection, seen: &mut Vec<Seen>, abandoned: &HashSet<RequestId>| {
        while let Some(c) = conn.poll_response() {
            assert!(done.insert(c.id), "{:?} completed twice", c.id);
            assert!(!abandoned.contains(&c.id), "abandoned {:?} completed", c.id);
            let expect = expects
                .get(&c.id)
                .expect("completion of an unknown request");
            assert!(
                c.result.as_ref().is_err_and(Error::is_fatal) || fits(expect, config, &c.result),
                "{:?} cannot answer {expect:?}",
                c.result
            );
            let shown = show(&c.result);
            let fatal = c.result.as_ref().is_err_and(Error::is_fatal);
            // Never a reply carrying another request's token. (Error lines
            // and bare `EN`s carry none: they are attributed by position,
            // which a lost reply shifts; see `carries_no_token`.)
            let carries_token = !fatal && !is_silent(&c.result) && !carries_no_token(&c.result);
            if let (true, Some(token)) = (carries_token, &expect.opaque) {
                let meant = by_token
                    .get(token.as_bytes())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                assert!(
                    meant.contains(&shown),
                    "{:?} got {shown}, which no reply with its token {token:?} means: {meant:?}",
                    c.id
                );
            }
            if let Some(oracle) = oracle {
                match oracle.get(&c.id) {
                    Some(Some(want)) if !fatal || !closes => {
                        assert_eq!(&shown, want, "{:?} got another answer", c.id)
                    }
                    Some(None) => assert!(fatal, "{:?} should have been poisoned: {shown}", c.id),
                    _ => {}
                }
            }
            seen.push(Seen::Done(c.id.get(), normalize(&shown)));
        }
    };
    let mut at = 0usize;
    let feed = |conn: &mut Connection, at: &mut usize, upto: usize| {
        let mut size = sizes.iter().cycle();
        while *at < upto {
            let n = match size.next() {
                Some(s) => (usize::from(*s) + 1).min(upto - *at),
                None => upto - *at,
            };
            conn.handle_input(&stream[*at..*at + n]);
            *at += n;
            let held = conn.buffered_input();
            assert!(held <= input_bound(config), "{held} bytes buffered");
            if conn.is_poisoned() {
                assert_eq!(held, 0, "a poisoned connection keeps input");
                assert!(!conn.wants_read());
            }
        }
    };
    for (offset, event) in events {
        feed(&mut conn, &mut at, usize::from(*offset).min(stream.len()));
        match event {
            MetaEvent::Poll => poll(&mut conn, &mut seen, &abandoned),
            MetaEvent::Abandon(i) => {
                if !sent.is_empty() {
                    let id = sent[usize::from(*i) % sent.len()].0;
                    let was = conn.abandon(id);
                    abandoned.insert(id);
                    seen.push(Seen::Abandoned(id.get(), was));
                }
            }
            MetaEvent::Close => conn.handle_close(),
        }
        seen.push(Seen::Poisoned(conn.is_poisoned()));
    }
    feed(&mut conn, &mut at, stream.len());
    poll(&mut conn, &mut seen, &abandoned);
    if oracle.is_some() && !closes {
        // Untampered: everything was answered.
        assert!(
            !conn.wants_read() || conn.is_poisoned(),
            "requests still waiting"
        );
        assert_eq!(conn.buffered_input(), 0);
    }
    conn.handle_close();
    poll(&mut conn, &mut seen, &abandoned);
    for (id, _, _) in sent {
        if !abandoned.contains(id) {
            assert!(done.contains(id), "{id:?} never completed");
        }
    }
    seen
}
