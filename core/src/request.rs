//! Typed commands of memcached's text and meta protocols and their encoding.
//!
//! Build a command with a constructor on [`Command`], adjust it with the
//! builder methods of the returned type, and hand it to
//! [`Connection::send`](crate::Connection::send):
//!
//! ```
//! use memwire_core::{Command, Expiry};
//! let set = Command::set("foo", "xXx").flags(12).expiry(Expiry::secs(30));
//! let gats = Command::get_multi(["a", "b"]).with_cas().touch(Expiry::secs(60));
//! let incr = Command::incr("hits", 1).noreply();
//! # let _ = (set, gats, incr);
//! ```
//!
//! The meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) are built the
//! same way, with the `meta_*` constructors; their builders are in
//! [`meta`](crate::meta).
//!
//! Encoding validates everything first (keys, value size, key count) and
//! writes nothing when anything is wrong.

use bytes::{BufMut, Bytes, BytesMut};

use crate::connection::Config;
use crate::error::Error;
use crate::expiry::Expiry;
use crate::into_bytes::IntoBytes;
use crate::key;
use crate::meta::{MetaArithmetic, MetaCommand, MetaDebug, MetaDelete, MetaGet, MetaSet};
use crate::response::Expect;
use crate::stats::StatsGroup;

mod keys;

pub use keys::{Keys, KeysIntoIter};

/// A memcached command: text protocol, or meta ([`Command::Meta`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `get`, `gets`, `gat`, `gats`.
    Retrieve(Retrieve),
    /// `set`, `add`, `replace`, `append`, `prepend`, `cas`.
    Store(Store),
    /// `delete`.
    Delete(Delete),
    /// `incr`, `decr`.
    Arith(Arith),
    /// `touch`.
    Touch(Touch),
    /// `flush_all`.
    FlushAll(FlushAll),
    /// `verbosity`.
    Verbosity(Verbosity),
    /// `version`.
    Version,
    /// `stats [group]`.
    Stats(StatsGroup),
    /// `quit`: the server closes the connection; no reply.
    Quit,
    /// A meta command: `mg`, `ms`, `md`, `ma`, `mn` or `me`.
    Meta(MetaCommand),
}

/// `get`/`gets`/`gat`/`gats` for one or more keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieve {
    /// Keys, in request order (hits come back in this order).
    pub keys: Keys,
    /// Ask for CAS uniques (`gets`/`gats`).
    pub cas: bool,
    /// Also set a new expiration time (`gat`/`gats`).
    pub touch: Option<Expiry>,
}

/// How a [`Store`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `set`: store unconditionally.
    Set,
    /// `add`: only if the key is absent.
    Add,
    /// `replace`: only if the key is present.
    Replace,
    /// `append`: add data after the existing data.
    Append,
    /// `prepend`: add data before the existing data.
    Prepend,
    /// `cas`: only if the item's CAS unique still equals this one.
    Cas(u64),
}

/// A storage command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// How to store.
    pub mode: StoreMode,
    /// The key.
    pub key: Bytes,
    /// The data block.
    pub data: Bytes,
    /// Opaque client flags stored with the item.
    pub flags: u32,
    /// When the item expires.
    pub expiry: Expiry,
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// `delete <key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The key.
    pub key: Bytes,
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// Direction of an [`Arith`] command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `incr`: adds, wrapping at 2^64.
    Incr,
    /// `decr`: subtracts, stopping at 0.
    Decr,
}

/// `incr`/`decr <key> <delta>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arith {
    /// Increment or decrement.
    pub op: ArithOp,
    /// The key.
    pub key: Bytes,
    /// The amount.
    pub delta: u64,
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// `touch <key> <exptime>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// The key.
    pub key: Bytes,
    /// The new expiration time.
    pub expiry: Expiry,
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// `flush_all [delay]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlushAll {
    /// Invalidate after this many seconds instead of now.
    pub delay: Option<u32>,
    /// Ask the server not to reply.
    pub noreply: bool,
}

/// `verbosity <level>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verbosity {
    /// The logging level.
    pub level: u32,
    /// Ask the server not to reply.
    pub noreply: bool,
}

impl Command {
    /// `get <key>`.
    pub fn get(key: impl Into<Bytes>) -> Retrieve {
        Retrieve {
            keys: Keys::from(key.into()),
            cas: false,
            touch: None,
        }
    }

    /// `get <key>*`: many keys in one request. Zero keys is refused at send.
    pub fn get_multi<K: Into<Bytes>>(keys: impl IntoIterator<Item = K>) -> Retrieve {
        Retrieve {
            keys: keys.into_iter().map(Into::into).collect(),
            cas: false,
            touch: None,
        }
    }

    /// `set <key>`: store unconditionally.
    pub fn set(key: impl Into<Bytes>, data: impl IntoBytes) -> Store {
        Store::new(StoreMode::Set, key, data)
    }

    /// `add <key>`: store only if absent.
    pub fn add(key: impl Into<Bytes>, data: impl IntoBytes) -> Store {
        Store::new(StoreMode::Add, key, data)
    }

    /// `replace <key>`: store only if present.
    pub fn replace(key: impl Into<Bytes>, data: impl IntoBytes) -> Store {
        Store::new(StoreMode::Replace, key, data)
    }

    /// `append <key>`: add data after the existing data.
    pub fn append(key: impl Into<Bytes>, data: impl IntoBytes) -> Store {
        Store::new(StoreMode::Append, key, data)
    }

    /// `prepend <key>`: add data before the existing data.
    pub fn prepend(key: impl Into<Bytes>, data: impl IntoBytes) -> Store {
        Store::new(StoreMode::Prepend, key, data)
    }

    /// `cas <key> ... <cas_unique>`: store only if unchanged since fetched.
    pub fn cas(key: impl Into<Bytes>, data: impl IntoBytes, cas_unique: u64) -> Store {
        Store::new(StoreMode::Cas(cas_unique), key, data)
    }

    /// `delete <key>`.
    pub fn delete(key: impl Into<Bytes>) -> Delete {
        Delete {
            key: key.into(),
            noreply: false,
        }
    }

    /// `incr <key> <delta>`.
    pub fn incr(key: impl Into<Bytes>, delta: u64) -> Arith {
        Arith {
            op: ArithOp::Incr,
            key: key.into(),
            delta,
            noreply: false,
        }
    }

    /// `decr <key> <delta>`.
    pub fn decr(key: impl Into<Bytes>, delta: u64) -> Arith {
        Arith {
            op: ArithOp::Decr,
            key: key.into(),
            delta,
            noreply: false,
        }
    }

    /// `touch <key> <exptime>`.
    pub fn touch(key: impl Into<Bytes>, expiry: impl Into<Expiry>) -> Touch {
        Touch {
            key: key.into(),
            expiry: expiry.into(),
            noreply: false,
        }
    }

    /// `flush_all`.
    pub fn flush_all() -> FlushAll {
        FlushAll::default()
    }

    /// `verbosity <level>`.
    pub fn verbosity(level: u32) -> Verbosity {
        Verbosity {
            level,
            noreply: false,
        }
    }

    /// `version`.
    pub fn version() -> Command {
        Command::Version
    }

    /// `stats [group]`.
    pub fn stats(group: StatsGroup) -> Command {
        Command::Stats(group)
    }

    /// `quit`.
    pub fn quit() -> Command {
        Command::Quit
    }

    /// `mg <key> v`: a meta get (see [`MetaGet`] for its flags).
    ///
    /// ```
    /// use memwire_core::{Command, Config};
    /// let mut out = bytes::BytesMut::new();
    /// Command::from(Command::meta_get("foo").with_cas().with_ttl())
    ///     .encode(&mut out, &Config::default())?;
    /// assert_eq!(&out[..], b"mg foo c t v\r\n");
    /// # Ok::<(), memwire_core::Error>(())
    /// ```
    pub fn meta_get(key: impl Into<Bytes>) -> MetaGet {
        MetaGet::new(key)
    }

    /// `ms <key> <datalen>`: a meta set (see [`MetaSet`] for its modes and
    /// flags).
    ///
    /// ```
    /// use memwire_core::{Command, Config, Expiry};
    /// let mut out = bytes::BytesMut::new();
    /// Command::from(Command::meta_set("foo", "bar").flags(5).expiry(Expiry::secs(60)))
    ///     .encode(&mut out, &Config::default())?;
    /// assert_eq!(&out[..], b"ms foo 3 F5 T60\r\nbar\r\n");
    /// # Ok::<(), memwire_core::Error>(())
    /// ```
    pub fn meta_set(key: impl Into<Bytes>, data: impl IntoBytes) -> MetaSet {
        MetaSet::new(key, data)
    }

    /// `md <key>`: a meta delete (see [`MetaDelete`]).
    pub fn meta_delete(key: impl Into<Bytes>) -> MetaDelete {
        MetaDelete::new(key)
    }

    /// `ma <key> v`: add `delta` (see [`MetaArithmetic`]).
    pub fn meta_incr(key: impl Into<Bytes>, delta: u64) -> MetaArithmetic {
        MetaArithmetic::new(key, ArithOp::Incr, delta)
    }

    /// `ma <key> v MD`: subtract `delta`, stopping at 0.
    pub fn meta_decr(key: impl Into<Bytes>, delta: u64) -> MetaArithmetic {
        MetaArithmetic::new(key, ArithOp::Decr, delta)
    }

    /// `me <key>`: the item's internal metadata.
    pub fn meta_debug(key: impl Into<Bytes>) -> MetaDebug {
        MetaDebug::new(key)
    }

    /// `mn`: a no-op; its `MN` reply ends a batch of quiet meta requests.
    pub fn meta_noop() -> Command {
        Command::Meta(MetaCommand::NoOp)
    }

    /// The keys this command addresses (empty for server-wide commands and
    /// `mn`); a transport routes by them. Meta keys are the raw bytes, also
    /// when they travel base64-encoded, so placement does not depend on the
    /// wire form.
    pub fn keys(&self) -> &[Bytes] {
        match self {
            Command::Retrieve(r) => &r.keys,
            Command::Store(s) => std::slice::from_ref(&s.key),
            Command::Delete(d) => std::slice::from_ref(&d.key),
            Command::Arith(a) => std::slice::from_ref(&a.key),
            Command::Touch(t) => std::slice::from_ref(&t.key),
            Command::FlushAll(_)
            | Command::Verbosity(_)
            | Command::Version
            | Command::Stats(_)
            | Command::Quit => &[],
            Command::Meta(m) => m.key().map(std::slice::from_ref).unwrap_or_default(),
        }
    }

    /// The expiry this command sets, if any.
    pub fn expiry(&self) -> Option<Expiry> {
        match self {
            Command::Retrieve(r) => r.touch,
            Command::Store(s) => Some(s.expiry),
            Command::Touch(t) => Some(t.expiry),
            _ => None,
        }
    }

    /// The command's verb, as sent: `get`, `gats`, `set`, `cas`, `incr`,
    /// `stats`, `mg`, `mn`, ...
    ///
    /// ```
    /// use memwire_core::Command;
    /// assert_eq!(Command::from(Command::get("k").with_cas()).name(), "gets");
    /// assert_eq!(Command::from(Command::meta_get("k")).name(), "mg");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Command::Retrieve(r) => match (r.cas, r.touch.is_some()) {
                (false, false) => "get",
                (true, false) => "gets",
                (false, true) => "gat",
                (true, true) => "gats",
            },
            Command::Store(s) => match s.mode {
                StoreMode::Set => "set",
                StoreMode::Add => "add",
                StoreMode::Replace => "replace",
                StoreMode::Append => "append",
                StoreMode::Prepend => "prepend",
                StoreMode::Cas(_) => "cas",
            },
            Command::Delete(_) => "delete",
            Command::Arith(a) => match a.op {
                ArithOp::Incr => "incr",
                ArithOp::Decr => "decr",
            },
            Command::Touch(_) => "touch",
            Command::FlushAll(_) => "flush_all",
            Command::Verbosity(_) => "verbosity",
            Command::Version => "version",
            Command::Stats(_) => "stats",
            Command::Quit => "quit",
            Command::Meta(m) => match m {
                MetaCommand::Get(_) => "mg",
                MetaCommand::Set(_) => "ms",
                MetaCommand::Delete(_) => "md",
                MetaCommand::Arithmetic(_) => "ma",
                MetaCommand::Debug(_) => "me",
                MetaCommand::NoOp => "mn",
            },
        }
    }

    /// Whether sending the command twice has the effect of sending it once:
    /// retrievals (a `gat` sets the same expiry again), `version`, `stats`
    /// other than `stats reset`, and meta gets. Such a command may be
    /// retried on a fresh connection when its connection failed under it
    /// (a quiet meta get is retried without `q`, so that it answers on its
    /// own).
    pub fn is_idempotent(&self) -> bool {
        match self {
            Command::Retrieve(_) | Command::Version => true,
            Command::Stats(group) => *group != StatsGroup::Reset,
            Command::Meta(MetaCommand::Get(_)) => true,
            _ => false,
        }
    }

    /// Whether the server is asked not to reply (`noreply`, `quit`): the
    /// request completes when it is queued. A quiet meta request (`q`) is
    /// not: it completes when its reply, or a later request's, arrives (see
    /// [`MetaCommand::is_quiet`]).
    pub fn is_quiet(&self) -> bool {
        match self {
            Command::Store(s) => s.noreply,
            Command::Delete(d) => d.noreply,
            Command::Arith(a) => a.noreply,
            Command::Touch(t) => t.noreply,
            Command::FlushAll(f) => f.noreply,
            Command::Verbosity(v) => v.noreply,
            Command::Quit => true,
            Command::Retrieve(_) | Command::Version | Command::Stats(_) | Command::Meta(_) => false,
        }
    }

    /// [`Command::validate`], keeping the proof: a [`CheckedCommand`] that
    /// [`Connection::send_checked`](crate::Connection::send_checked) sends
    /// without checking it again.
    ///
    /// ```
    /// use memwire_core::{Command, Config, Connection};
    /// let config = Config::default();
    /// let get = Command::from(Command::get("k"));
    /// let mut conn = Connection::new(config);
    /// conn.send_checked(get.check(&config)?, None)?;
    /// assert_eq!(conn.pending_output(), b"get k\r\n");
    /// assert!(Command::from(Command::get("two words")).check(&config).is_err());
    /// # Ok::<(), memwire_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Command::validate`].
    pub fn check(&self, config: &Config) -> Result<CheckedCommand<'_>, Error> {
        self.validate(config)?;
        Ok(CheckedCommand {
            command: self,
            limits: *config,
        })
    }

    /// Check the command against the protocol's rules and `config`'s limits.
    pub fn validate(&self, config: &Config) -> Result<(), Error> {
        if let Command::Meta(m) = self {
            return m.validate(config);
        }
        for k in self.keys() {
            key::validate(k)?;
        }
        if let Some(expiry) = self.expiry() {
            expiry.to_wire()?;
        }
        match self {
            Command::Retrieve(r) if r.keys.is_empty() => Err(Error::NoKeys),
            Command::Retrieve(r) if r.keys.len() > config.max_keys => Err(Error::TooManyKeys {
                count: r.keys.len(),
                max: config.max_keys,
            }),
            Command::Store(s) if s.data.len() > config.max_value_len => Err(Error::ValueTooLarge {
                len: s.data.len(),
                max: config.max_value_len,
            }),
            Command::Stats(StatsGroup::Other(arg))
                if arg.is_empty() || arg.bytes().any(|b| b <= b' ' || b == 0x7f) =>
            {
                Err(Error::InvalidArgument(
                    "stats group must be one word without whitespace or control characters",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Validate, then append the wire form to `out`.
    ///
    /// Returns what the reply will look like, or `None` when the server will
    /// not reply at all (`quit`). On error nothing is written.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use memwire_core::{Command, Config, Expiry};
    /// let mut out = BytesMut::new();
    /// Command::from(Command::set("foo", "bar").flags(12).expiry(Expiry::secs(30)))
    ///     .encode(&mut out, &Config::default())
    ///     .unwrap();
    /// assert_eq!(&out[..], b"set foo 12 30 3\r\nbar\r\n");
    /// ```
    pub fn encode(&self, out: &mut BytesMut, config: &Config) -> Result<Option<Expect>, Error> {
        let mut expect = self.encode_shape(out, config, false)?;
        if let (Some(Expect::Values { keys, .. }), Command::Retrieve(r)) = (&mut expect, self) {
            keys.clone_from(&r.keys);
        }
        Ok(expect)
    }

    /// [`Command::encode`] by value: the keys a reply is checked against
    /// are moved, not copied.
    pub(crate) fn encode_owned(
        self,
        out: &mut BytesMut,
        config: &Config,
    ) -> Result<Option<Expect>, Error> {
        let mut expect = self.encode_shape(out, config, false)?;
        if let (Some(Expect::Values { keys, .. }), Command::Retrieve(r)) = (&mut expect, self) {
            *keys = r.keys;
        }
        Ok(expect)
    }

    /// [`Command::encode`], but a retrieval's [`Expect::Values`] has no
    /// keys yet: the caller puts them in. `checked`: the command was
    /// already checked against `config` ([`CheckedCommand`]).
    pub(crate) fn encode_shape(
        &self,
        out: &mut BytesMut,
        config: &Config,
        checked: bool,
    ) -> Result<Option<Expect>, Error> {
        if !checked && !matches!(self, Command::Meta(_)) {
            // (A meta command checks itself as it encodes.)
            self.validate(config)?;
        }
        let noreply = |out: &mut BytesMut, quiet: bool| {
            if quiet {
                out.put_slice(b" noreply");
            }
        };
        let expect = match self {
            Command::Retrieve(r) => {
                out.put_slice(match (r.cas, r.touch.is_some()) {
                    (false, false) => b"get",
                    (true, false) => b"gets",
                    (false, true) => b"gat",
                    (true, true) => b"gats",
                });
                if let Some(expiry) = r.touch {
                    write_num(out, expiry.to_wire()?);
                }
                for k in &r.keys {
                    out.put_u8(b' ');
                    out.put_slice(k);
                }
                Expect::Values {
                    keys: Keys::new(),
                    cas: r.cas,
                }
            }
            Command::Store(s) => {
                out.put_slice(match s.mode {
                    StoreMode::Set => b"set ",
                    StoreMode::Add => b"add ",
                    StoreMode::Replace => b"replace ",
                    StoreMode::Append => b"append ",
                    StoreMode::Prepend => b"prepend ",
                    StoreMode::Cas(_) => b"cas ",
                });
                out.put_slice(&s.key);
                write_num(out, s.flags);
                write_num(out, s.expiry.to_wire()?);
                write_num(out, s.data.len());
                if let StoreMode::Cas(unique) = s.mode {
                    write_num(out, unique);
                }
                noreply(out, s.noreply);
                out.put_slice(b"\r\n");
                out.put_slice(&s.data);
                Expect::Stored
            }
            Command::Delete(d) => {
                out.put_slice(b"delete ");
                out.put_slice(&d.key);
                noreply(out, d.noreply);
                Expect::Deleted
            }
            Command::Arith(a) => {
                out.put_slice(match a.op {
                    ArithOp::Incr => b"incr ",
                    ArithOp::Decr => b"decr ",
                });
                out.put_slice(&a.key);
                write_num(out, a.delta);
                noreply(out, a.noreply);
                Expect::Number
            }
            Command::Touch(t) => {
                out.put_slice(b"touch ");
                out.put_slice(&t.key);
                write_num(out, t.expiry.to_wire()?);
                noreply(out, t.noreply);
                Expect::Touched
            }
            Command::FlushAll(f) => {
                out.put_slice(b"flush_all");
                if let Some(delay) = f.delay {
                    write_num(out, delay);
                }
                noreply(out, f.noreply);
                Expect::Ok
            }
            Command::Verbosity(v) => {
                out.put_slice(b"verbosity");
                write_num(out, v.level);
                noreply(out, v.noreply);
                Expect::Ok
            }
            Command::Version => {
                out.put_slice(b"version");
                Expect::Version
            }
            Command::Stats(group) => {
                out.put_slice(b"stats");
                if !group.arg().is_empty() {
                    out.put_u8(b' ');
                    out.put_slice(group.arg().as_bytes());
                }
                Expect::Stats(group.clone())
            }
            Command::Quit => {
                out.put_slice(b"quit\r\n");
                return Ok(None);
            }
            Command::Meta(m) => return m.encode(out, config).map(|e| Some(Expect::Meta(e))),
        };
        out.put_slice(b"\r\n");
        Ok(Some(if self.is_quiet() {
            Expect::Quiet
        } else {
            expect
        }))
    }
}

/// A [`Command`] checked against a [`Config`]'s limits: made by
/// [`Command::check`] (or by a [`Call`](crate::client::Call) whose
/// operation checked what it planned), it is sent by
/// [`Connection::send_checked`](crate::Connection::send_checked) without
/// being checked again — when the connection has the same limits (a
/// connection with others checks it).
#[derive(Debug, Clone, Copy)]
pub struct CheckedCommand<'a> {
    command: &'a Command,
    limits: Config,
}

impl<'a> CheckedCommand<'a> {
    /// A command checked by this crate's own code against `limits`.
    pub(crate) fn vouched(command: &'a Command, limits: Config) -> Self {
        CheckedCommand { command, limits }
    }

    /// The command.
    pub fn command(&self) -> &'a Command {
        self.command
    }

    /// The limits it was checked against.
    pub fn limits(&self) -> &Config {
        &self.limits
    }
}

/// Append `' '` and the decimal form of `n`.
fn write_num(out: &mut BytesMut, n: impl itoa::Integer) {
    out.put_u8(b' ');
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

impl Retrieve {
    /// Add one more key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Ask for CAS uniques: `gets` (or `gats` with [`Retrieve::touch`]).
    pub fn with_cas(mut self) -> Self {
        self.cas = true;
        self
    }

    /// Also set a new expiration time: `gat` (or `gats` with
    /// [`Retrieve::with_cas`]).
    pub fn touch(mut self, expiry: impl Into<Expiry>) -> Self {
        self.touch = Some(expiry.into());
        self
    }
}

impl Store {
    /// A storage command with flags 0 that never expires.
    pub fn new(mode: StoreMode, key: impl Into<Bytes>, data: impl IntoBytes) -> Self {
        Store {
            mode,
            key: key.into(),
            data: data.into_bytes(),
            flags: 0,
            expiry: Expiry::Never,
            noreply: false,
        }
    }

    /// Set the client flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// Set when the item expires.
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.expiry = expiry.into();
        self
    }
}

impl FlushAll {
    /// Invalidate after `seconds` instead of now.
    pub fn delay(mut self, seconds: u32) -> Self {
        self.delay = Some(seconds);
        self
    }
}

/// `noreply()` builders and `From<T> for Command` for each command struct.
macro_rules! command_struct {
    ($($ty:ident => $variant:ident),* $(,)?) => {$(
        impl $ty {
            /// Ask the server not to reply. The request completes as soon as
            /// it is queued; a server error for it cannot be reported to it
            /// (see [`Connection::take_noreply_error`](crate::Connection::take_noreply_error)).
            pub fn noreply(mut self) -> Self {
                self.noreply = true;
                self
            }
        }
        impl From<$ty> for Command {
            fn from(c: $ty) -> Command {
                Command::$variant(c)
            }
        }
    )*};
}
command_struct!(
    Store => Store,
    Delete => Delete,
    Arith => Arith,
    Touch => Touch,
    FlushAll => FlushAll,
    Verbosity => Verbosity,
);

impl From<Retrieve> for Command {
    fn from(c: Retrieve) -> Command {
        Command::Retrieve(c)
    }
}

impl From<&Command> for Command {
    fn from(c: &Command) -> Command {
        c.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: impl Into<Command>) -> Result<(Vec<u8>, Option<Expect>), Error> {
        let mut out = BytesMut::new();
        let expect = c.into().encode(&mut out, &Config::default())?;
        Ok((out.to_vec(), expect))
    }

    fn wire(c: impl Into<Command>) -> String {
        String::from_utf8(enc(c).unwrap().0).unwrap()
    }

    #[test]
    fn retrieval_commands() {
        assert_eq!(wire(Command::get("a")), "get a\r\n");
        assert_eq!(wire(Command::get("a").key("b")), "get a b\r\n");
        assert_eq!(
            wire(Command::get_multi(["a", "b"]).with_cas()),
            "gets a b\r\n"
        );
        assert_eq!(
            wire(Command::get("a").touch(Expiry::secs(30))),
            "gat 30 a\r\n"
        );
        assert_eq!(
            wire(Command::get("a").with_cas().touch(Expiry::Never)),
            "gats 0 a\r\n"
        );
    }

    #[test]
    fn storage_commands() {
        assert_eq!(wire(Command::set("k", "v")), "set k 0 0 1\r\nv\r\n");
        assert_eq!(
            wire(Command::add("k", "v").flags(u32::MAX)),
            "add k 4294967295 0 1\r\nv\r\n"
        );
        assert_eq!(
            wire(Command::replace("k", "").expiry(Expiry::secs(5))),
            "replace k 0 5 0\r\n\r\n"
        );
        assert_eq!(wire(Command::append("k", "ab")), "append k 0 0 2\r\nab\r\n");
        assert_eq!(
            wire(Command::prepend("k", "ab").noreply()),
            "prepend k 0 0 2 noreply\r\nab\r\n"
        );
        assert_eq!(
            wire(
                Command::cas("k", "a\r\nb", u64::MAX)
                    .flags(1)
                    .expiry(Expiry::secs(2))
            ),
            "cas k 1 2 4 18446744073709551615\r\na\r\nb\r\n"
        );
    }

    #[test]
    fn other_commands() {
        assert_eq!(wire(Command::delete("k")), "delete k\r\n");
        assert_eq!(wire(Command::delete("k").noreply()), "delete k noreply\r\n");
        assert_eq!(
            wire(Command::incr("k", u64::MAX)),
            "incr k 18446744073709551615\r\n"
        );
        assert_eq!(
            wire(Command::decr("k", 1).noreply()),
            "decr k 1 noreply\r\n"
        );
        assert_eq!(
            wire(Command::touch("k", Expiry::secs(30))),
            "touch k 30\r\n"
        );
        assert_eq!(
            wire(Command::set("k", "v").expiry(Expiry::In(std::time::Duration::ZERO))),
            "set k 0 -1 1\r\nv\r\n"
        );
        assert_eq!(wire(Command::flush_all()), "flush_all\r\n");
        assert_eq!(
            wire(Command::flush_all().delay(10).noreply()),
            "flush_all 10 noreply\r\n"
        );
        assert_eq!(wire(Command::verbosity(1)), "verbosity 1\r\n");
        assert_eq!(wire(Command::version()), "version\r\n");
        assert_eq!(wire(Command::quit()), "quit\r\n");
        assert_eq!(wire(Command::stats(StatsGroup::General)), "stats\r\n");
        for (g, w) in [
            (StatsGroup::Settings, "settings"),
            (StatsGroup::Items, "items"),
            (StatsGroup::Slabs, "slabs"),
            (StatsGroup::Sizes, "sizes"),
            (StatsGroup::Conns, "conns"),
            (StatsGroup::Reset, "reset"),
            (StatsGroup::Other("extstore".into()), "extstore"),
        ] {
            assert_eq!(wire(Command::stats(g)), format!("stats {w}\r\n"));
        }
    }

    #[test]
    fn expectations() {
        assert_eq!(enc(Command::quit()).unwrap().1, None);
        assert_eq!(
            enc(Command::set("k", "v").noreply()).unwrap().1,
            Some(Expect::Quiet)
        );
        assert_eq!(enc(Command::set("k", "v")).unwrap().1, Some(Expect::Stored));
        assert_eq!(
            enc(Command::get("k").with_cas()).unwrap().1,
            Some(Expect::Values {
                keys: Keys::from(Bytes::from("k")),
                cas: true
            })
        );
    }

    #[test]
    fn bad_input_writes_nothing() {
        type Check = fn(&Error) -> bool;
        let config = Config::default();
        let cases: Vec<(Command, Check)> = vec![
            (Command::get("a b").into(), |e| {
                matches!(e, Error::InvalidKey(_))
            }),
            (Command::set("k\r\nflush_all", "v").into(), |e| {
                matches!(e, Error::InvalidKey(_))
            }),
            (Command::get_multi(["ok", ""]).into(), |e| {
                matches!(e, Error::InvalidKey(_))
            }),
            (Command::get_multi(Vec::<Bytes>::new()).into(), |e| {
                matches!(e, Error::NoKeys)
            }),
            (
                Command::get_multi((0..=config.max_keys).map(|i| Bytes::from(i.to_string())))
                    .into(),
                |e| matches!(e, Error::TooManyKeys { .. }),
            ),
            (
                Command::set("k", vec![0u8; config.max_value_len + 1]).into(),
                |e| matches!(e, Error::ValueTooLarge { .. }),
            ),
            (Command::stats(StatsGroup::Other("a\r\nb".into())), |e| {
                matches!(e, Error::InvalidArgument(_))
            }),
            (Command::delete(vec![b'x'; 251]).into(), |e| {
                matches!(e, Error::InvalidKey(_))
            }),
            (
                Command::set("k", "v")
                    .expiry(Expiry::secs(31 * 86_400))
                    .into(),
                |e| matches!(e, Error::InvalidArgument(_)),
            ),
            (Command::touch("k", Expiry::secs(31 * 86_400)).into(), |e| {
                matches!(e, Error::InvalidArgument(_))
            }),
        ];
        for (cmd, check) in cases {
            let mut out = BytesMut::new();
            let err = cmd.encode(&mut out, &config).unwrap_err();
            assert!(check(&err), "{cmd:?}: {err:?}");
            assert_eq!(err.kind(), crate::ErrorKind::Input);
            assert!(out.is_empty(), "{cmd:?} wrote {out:?}");
        }
    }
}
