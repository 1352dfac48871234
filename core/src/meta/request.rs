//! Typed meta requests (`mg`, `ms`, `md`, `ma`, `mn`, `me`) and their
//! encoding.
//!
//! Each command is a builder whose methods are named for what a flag
//! does; the flag letters are in each method's documentation. Encoding
//! checks everything first (key, opaque, expiry, value size) and writes
//! nothing when anything is wrong.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::connection::Config;
use crate::error::Error;
use crate::expiry::Expiry;
use crate::into_bytes::IntoBytes;
use crate::key::MetaKey;
use crate::meta::expect::{MetaExpect, MetaKind};
use crate::meta::opaque::Opaque;
use crate::request::ArithOp;

/// A meta command. Build one with the `meta_*` constructors of
/// [`Command`](crate::Command), which converts from each builder.
///
/// ```
/// use memwire_core::{Command, Expiry};
/// use memwire_core::meta::MetaCommand;
///
/// let get = Command::meta_get("user:42").with_cas().with_ttl().quiet().opaque(7u32);
/// let set = Command::meta_set("user:42", "v").expiry(Expiry::secs(60)).with_cas();
/// let batch: Vec<Command> = vec![get.into(), set.into(), MetaCommand::NoOp.into()];
/// # let _ = batch;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaCommand {
    /// `mg`: retrieve (and optionally touch, vivify, recache) an item.
    Get(MetaGet),
    /// `ms`: store an item (set, add, replace, append, prepend).
    Set(MetaSet),
    /// `md`: delete or invalidate an item.
    Delete(MetaDelete),
    /// `ma`: increment or decrement a number.
    Arithmetic(MetaArithmetic),
    /// `me`: the server's internal metadata of an item.
    Debug(MetaDebug),
    /// `mn`: a no-op whose reply `MN` marks the end of a batch of quiet
    /// requests.
    NoOp,
}

/// `mg <key> <flags>*`: retrieve an item. By default the value is asked
/// for (`v`); every other flag is off.
///
/// ```
/// use std::time::Duration;
/// use memwire_core::{Command, Expiry};
///
/// // A stale-while-revalidate read: vivify on miss for 30 s, and win the
/// // right to recache when less than 10 s of the TTL remain.
/// let get = Command::meta_get("page:/")
///     .with_ttl()
///     .vivify(Expiry::secs(30))
///     .recache_below(Duration::from_secs(10));
/// # let _ = get;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaGet {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
    /// `v`: return the value.
    pub value: bool,
    /// `c`: return the CAS value.
    pub cas: bool,
    /// `f`: return the client flags.
    pub client_flags: bool,
    /// `h`: return whether the item was hit before.
    pub hit_before: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `l`: return the seconds since the last access.
    pub last_access: bool,
    /// `s`: return the item size.
    pub size: bool,
    /// `t`: return the remaining TTL.
    pub ttl: bool,
    /// `u`: do not bump the item in the LRU (nor mark it hit or accessed).
    pub no_lru_bump: bool,
    /// `q`: quiet — no reply on a miss.
    pub quiet: bool,
    /// `O`: opaque token copied into the reply.
    pub opaque: Option<Opaque>,
    /// `C`: do not return the value if the item's CAS equals this one.
    pub unless_cas: Option<u64>,
    /// `E`: the CAS value to give the item if this request modifies it.
    pub new_cas: Option<u64>,
    /// `N`: on a miss, create an empty item with this expiry and win the
    /// right to fill it (`W`).
    pub vivify: Option<Expiry>,
    /// `R`: win the right to recache (`W`) if less than this much TTL
    /// remains.
    pub recache_below: Option<Duration>,
    /// `T`: set the item's expiry (like `touch`).
    pub touch: Option<Expiry>,
}

/// How an `ms` stores (its `M` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaSetMode {
    /// `MS`: store unconditionally (the default; not written).
    #[default]
    Set,
    /// `ME`: only if the key is absent (`add`).
    Add,
    /// `MR`: only if the key is present (`replace`).
    Replace,
    /// `MA`: add data after the existing data (`append`).
    Append,
    /// `MP`: add data before the existing data (`prepend`).
    Prepend,
}

/// `ms <key> <datalen> <flags>*` and the data block: store an item.
///
/// ```
/// use memwire_core::{Command, Expiry};
/// use memwire_core::meta::MetaSetMode;
///
/// // A CAS-guarded replace that returns the new CAS.
/// let set = Command::meta_set("k", "v")
///     .mode(MetaSetMode::Replace)
///     .compare_cas(41)
///     .flags(3)
///     .expiry(Expiry::secs(300))
///     .with_cas();
/// # let _ = set;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaSet {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
    /// The data block.
    pub data: Bytes,
    /// `M`: how to store.
    pub mode: MetaSetMode,
    /// `F`: client flags stored with the item (0 is not written).
    pub client_flags: u32,
    /// `T`: when the item expires ([`Expiry::Never`] is not written).
    pub expiry: Expiry,
    /// `C`: store only if the item's CAS still equals this one.
    pub compare_cas: Option<u64>,
    /// `E`: the CAS value to give the stored item.
    pub new_cas: Option<u64>,
    /// `I`: with `C`, accept an older CAS and mark the item stale instead
    /// of failing.
    pub invalidate: bool,
    /// `N`: in append or prepend mode, create the item on a miss with this
    /// expiry.
    pub vivify: Option<Expiry>,
    /// `c`: return the CAS value of the stored item.
    pub cas: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `s`: return the size of the stored item.
    pub size: bool,
    /// `q`: quiet — no reply on success.
    pub quiet: bool,
    /// `O`: opaque token copied into the reply.
    pub opaque: Option<Opaque>,
}

/// `md <key> <flags>*`: delete an item, or mark it stale.
///
/// ```
/// use memwire_core::{Command, Expiry};
///
/// // Mark stale for at most 30 s while a client recaches it.
/// let md = Command::meta_delete("k").invalidate().expiry(Expiry::secs(30));
/// # let _ = md;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaDelete {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
    /// `C`: delete only if the item's CAS equals this one.
    pub compare_cas: Option<u64>,
    /// `E`: the CAS value to give the item if it is marked stale.
    pub new_cas: Option<u64>,
    /// `I`: mark the item stale (bumping its CAS) instead of deleting it.
    pub invalidate: bool,
    /// `T`: with `I`, the new expiry of the stale item.
    pub expiry: Option<Expiry>,
    /// `x`: remove the value but keep the item.
    pub clear_value: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `q`: quiet — no reply on success.
    pub quiet: bool,
    /// `O`: opaque token copied into the reply.
    pub opaque: Option<Opaque>,
}

/// `ma <key> <flags>*`: increment or decrement a decimal number. By
/// default the new value is asked for (`v`).
///
/// ```
/// use memwire_core::{Command, Expiry};
///
/// // A counter created at 0 with a one-hour lifetime on its first hit.
/// let hits = Command::meta_incr("hits", 1).vivify(Expiry::secs(3600), 0);
/// # let _ = hits;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaArithmetic {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
    /// `M`: increment (wraps at 2^64) or decrement (stops at 0).
    pub op: ArithOp,
    /// `D`: the amount (1 is not written).
    pub delta: u64,
    /// `N`: on a miss, create the item with this expiry ...
    pub vivify: Option<Expiry>,
    /// `J`: ... and this initial value (needs `N`).
    pub initial: Option<u64>,
    /// `C`: apply only if the item's CAS equals this one.
    pub compare_cas: Option<u64>,
    /// `E`: the CAS value to give the item.
    pub new_cas: Option<u64>,
    /// `T`: set the item's expiry on success.
    pub touch: Option<Expiry>,
    /// `v`: return the new value.
    pub value: bool,
    /// `t`: return the remaining TTL.
    pub ttl: bool,
    /// `c`: return the CAS value.
    pub cas: bool,
    /// `k`: return the key.
    pub return_key: bool,
    /// `q`: quiet — no reply on success (nor the new value).
    pub quiet: bool,
    /// `O`: opaque token copied into the reply.
    pub opaque: Option<Opaque>,
}

/// `me <key>`: the server's internal metadata of an item (a debugging aid;
/// the reply is [`MetaStatus::Debug`](crate::meta::MetaStatus::Debug)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaDebug {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
}

impl MetaGet {
    /// `mg <key> v`.
    pub fn new(key: impl Into<Bytes>) -> MetaGet {
        MetaGet {
            key: key.into(),
            value: true,
            cas: false,
            client_flags: false,
            hit_before: false,
            return_key: false,
            last_access: false,
            size: false,
            ttl: false,
            no_lru_bump: false,
            quiet: false,
            opaque: None,
            unless_cas: None,
            new_cas: None,
            vivify: None,
            recache_below: None,
            touch: None,
        }
    }

    /// Drop `v`: the reply is `HD` on a hit, without the value (to read
    /// metadata, touch, or test existence).
    pub fn without_value(mut self) -> Self {
        self.value = false;
        self
    }

    /// `c`: return the CAS value.
    pub fn with_cas(mut self) -> Self {
        self.cas = true;
        self
    }

    /// `f`: return the client flags.
    pub fn with_client_flags(mut self) -> Self {
        self.client_flags = true;
        self
    }

    /// `h`: return whether the item was hit before this request.
    pub fn with_hit_before(mut self) -> Self {
        self.hit_before = true;
        self
    }

    /// `k`: return the key (checked against this request's key).
    pub fn with_key(mut self) -> Self {
        self.return_key = true;
        self
    }

    /// `l`: return the time since the item was last accessed.
    pub fn with_last_access(mut self) -> Self {
        self.last_access = true;
        self
    }

    /// `s`: return the item size.
    pub fn with_size(mut self) -> Self {
        self.size = true;
        self
    }

    /// `t`: return the remaining TTL.
    pub fn with_ttl(mut self) -> Self {
        self.ttl = true;
        self
    }

    /// `u`: do not bump the item in the LRU, nor mark it hit or accessed.
    pub fn no_lru_bump(mut self) -> Self {
        self.no_lru_bump = true;
        self
    }

    /// `q`: no reply on a miss. The request completes with a silent miss
    /// when a reply to a later request arrives (end a batch with
    /// [`MetaCommand::NoOp`]).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `O`: an opaque token the reply must echo.
    pub fn opaque(mut self, opaque: impl Into<Opaque>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }

    /// `C`: return the value only if the item's CAS differs from `cas`
    /// (the reply is `HD` when it matches).
    pub fn unless_cas(mut self, cas: u64) -> Self {
        self.unless_cas = Some(cas);
        self
    }

    /// `E`: the CAS value to give the item if this request modifies it.
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }

    /// `N`: on a miss, create an empty item expiring at `expiry`; this
    /// request then wins the right to fill it (`W` in the reply), later
    /// ones see `Z`.
    pub fn vivify(mut self, expiry: impl Into<Expiry>) -> Self {
        self.vivify = Some(expiry.into());
        self
    }

    /// `R`: win the right to recache (`W`) if less than `remaining` of the
    /// item's TTL is left (whole seconds, rounded up; at most 30 days).
    pub fn recache_below(mut self, remaining: Duration) -> Self {
        self.recache_below = Some(remaining);
        self
    }

    /// `T`: set the item's expiry on a hit.
    pub fn touch(mut self, expiry: impl Into<Expiry>) -> Self {
        self.touch = Some(expiry.into());
        self
    }
}

impl MetaSet {
    /// `ms <key> <datalen>`: store unconditionally, flags 0, never expires.
    pub fn new(key: impl Into<Bytes>, data: impl IntoBytes) -> MetaSet {
        MetaSet {
            key: key.into(),
            data: data.into_bytes(),
            mode: MetaSetMode::Set,
            client_flags: 0,
            expiry: Expiry::Never,
            compare_cas: None,
            new_cas: None,
            invalidate: false,
            vivify: None,
            cas: false,
            return_key: false,
            size: false,
            quiet: false,
            opaque: None,
        }
    }

    /// `M`: how to store.
    pub fn mode(mut self, mode: MetaSetMode) -> Self {
        self.mode = mode;
        self
    }

    /// `F`: the client flags.
    pub fn flags(mut self, flags: u32) -> Self {
        self.client_flags = flags;
        self
    }

    /// `T`: when the item expires.
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.expiry = expiry.into();
        self
    }

    /// `C`: store only if the item's CAS still equals `cas`.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }

    /// `E`: the CAS value to give the stored item.
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }

    /// `I`: with [`MetaSet::compare_cas`], an older CAS is accepted and the
    /// item is marked stale instead of the store failing.
    pub fn invalidate(mut self) -> Self {
        self.invalidate = true;
        self
    }

    /// `N`: in append or prepend mode, create the item on a miss, expiring
    /// at `expiry`.
    pub fn vivify(mut self, expiry: impl Into<Expiry>) -> Self {
        self.vivify = Some(expiry.into());
        self
    }

    /// `c`: return the CAS value of the stored item.
    pub fn with_cas(mut self) -> Self {
        self.cas = true;
        self
    }

    /// `k`: return the key (checked against this request's key).
    pub fn with_key(mut self) -> Self {
        self.return_key = true;
        self
    }

    /// `s`: return the size of the stored item (the new size after an
    /// append).
    pub fn with_size(mut self) -> Self {
        self.size = true;
        self
    }

    /// `q`: no reply on success. The request completes as stored when a
    /// reply to a later request arrives; a failure (`NS`, `EX`, `NF`) is
    /// still reported to it.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `O`: an opaque token the reply must echo.
    pub fn opaque(mut self, opaque: impl Into<Opaque>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }
}

impl MetaDelete {
    /// `md <key>`.
    pub fn new(key: impl Into<Bytes>) -> MetaDelete {
        MetaDelete {
            key: key.into(),
            compare_cas: None,
            new_cas: None,
            invalidate: false,
            expiry: None,
            clear_value: false,
            return_key: false,
            quiet: false,
            opaque: None,
        }
    }

    /// `C`: delete only if the item's CAS equals `cas`.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }

    /// `E`: the CAS value to give the item when it is marked stale.
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }

    /// `I`: mark the item stale and bump its CAS instead of deleting it;
    /// the next `mg` wins the right to recache it (`W`, `X`).
    pub fn invalidate(mut self) -> Self {
        self.invalidate = true;
        self
    }

    /// `T`: with [`MetaDelete::invalidate`], the new expiry of the stale
    /// item (the server ignores it otherwise).
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.expiry = Some(expiry.into());
        self
    }

    /// `x`: remove the value but keep the item (with `I`: a tombstone).
    pub fn clear_value(mut self) -> Self {
        self.clear_value = true;
        self
    }

    /// `k`: return the key (checked against this request's key).
    pub fn with_key(mut self) -> Self {
        self.return_key = true;
        self
    }

    /// `q`: no reply on success. The request completes as deleted when a
    /// reply to a later request arrives; a failure (`NF`, `EX`) is still
    /// reported to it.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `O`: an opaque token the reply must echo.
    pub fn opaque(mut self, opaque: impl Into<Opaque>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }
}

impl MetaArithmetic {
    /// `ma <key> v` with mode `op` and delta `delta`.
    pub fn new(key: impl Into<Bytes>, op: ArithOp, delta: u64) -> MetaArithmetic {
        MetaArithmetic {
            key: key.into(),
            op,
            delta,
            vivify: None,
            initial: None,
            compare_cas: None,
            new_cas: None,
            touch: None,
            value: true,
            ttl: false,
            cas: false,
            return_key: false,
            quiet: false,
            opaque: None,
        }
    }

    /// `N` and `J`: on a miss, create the item with value `initial`,
    /// expiring at `expiry`.
    pub fn vivify(mut self, expiry: impl Into<Expiry>, initial: u64) -> Self {
        self.vivify = Some(expiry.into());
        self.initial = Some(initial);
        self
    }

    /// `C`: apply only if the item's CAS equals `cas`.
    pub fn compare_cas(mut self, cas: u64) -> Self {
        self.compare_cas = Some(cas);
        self
    }

    /// `E`: the CAS value to give the item.
    pub fn new_cas(mut self, cas: u64) -> Self {
        self.new_cas = Some(cas);
        self
    }

    /// `T`: set the item's expiry on success.
    pub fn touch(mut self, expiry: impl Into<Expiry>) -> Self {
        self.touch = Some(expiry.into());
        self
    }

    /// Drop `v`: the reply is `HD` without the new value.
    pub fn without_value(mut self) -> Self {
        self.value = false;
        self
    }

    /// `t`: return the remaining TTL.
    pub fn with_ttl(mut self) -> Self {
        self.ttl = true;
        self
    }

    /// `c`: return the CAS value.
    pub fn with_cas(mut self) -> Self {
        self.cas = true;
        self
    }

    /// `k`: return the key (checked against this request's key).
    pub fn with_key(mut self) -> Self {
        self.return_key = true;
        self
    }

    /// `q`: no reply on success — and so no new value. The request
    /// completes when a reply to a later request arrives; a failure (`NF`,
    /// `NS`, `EX`, non-numeric) is still reported to it.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `O`: an opaque token the reply must echo.
    pub fn opaque(mut self, opaque: impl Into<Opaque>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }
}

impl MetaDebug {
    /// `me <key>`.
    pub fn new(key: impl Into<Bytes>) -> MetaDebug {
        MetaDebug { key: key.into() }
    }
}

impl MetaCommand {
    /// The key (raw bytes, as placement hashes them); `None` for `mn`.
    pub fn key(&self) -> Option<&Bytes> {
        match self {
            MetaCommand::Get(c) => Some(&c.key),
            MetaCommand::Set(c) => Some(&c.key),
            MetaCommand::Delete(c) => Some(&c.key),
            MetaCommand::Arithmetic(c) => Some(&c.key),
            MetaCommand::Debug(c) => Some(&c.key),
            MetaCommand::NoOp => None,
        }
    }

    /// The opaque token the reply must echo, if any.
    pub fn opaque(&self) -> Option<&Opaque> {
        match self {
            MetaCommand::Get(c) => c.opaque.as_ref(),
            MetaCommand::Set(c) => c.opaque.as_ref(),
            MetaCommand::Delete(c) => c.opaque.as_ref(),
            MetaCommand::Arithmetic(c) => c.opaque.as_ref(),
            MetaCommand::Debug(_) | MetaCommand::NoOp => None,
        }
    }

    /// Give the request an opaque token if it takes one and has none.
    pub(crate) fn opaque_slot(&mut self) -> Option<&mut Option<Opaque>> {
        match self {
            MetaCommand::Get(c) => Some(&mut c.opaque),
            MetaCommand::Set(c) => Some(&mut c.opaque),
            MetaCommand::Delete(c) => Some(&mut c.opaque),
            MetaCommand::Arithmetic(c) => Some(&mut c.opaque),
            MetaCommand::Debug(_) | MetaCommand::NoOp => None,
        }
    }

    /// Whether the request is quiet (`q`): it may get no reply at all.
    pub fn is_quiet(&self) -> bool {
        match self {
            MetaCommand::Get(c) => c.quiet,
            MetaCommand::Set(c) => c.quiet,
            MetaCommand::Delete(c) => c.quiet,
            MetaCommand::Arithmetic(c) => c.quiet,
            MetaCommand::Debug(_) | MetaCommand::NoOp => false,
        }
    }

    /// Check the request against the protocol's rules and `config`'s
    /// limits, without encoding it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`], [`Error::ValueTooLarge`] or
    /// [`Error::InvalidArgument`].
    pub fn validate(&self, config: &Config) -> Result<(), Error> {
        self.encode(&mut BytesMut::new(), config).map(|_| ())
    }

    /// Validate, then append the wire form to `out`. Returns what the reply
    /// will look like. On error nothing is written.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use memwire_core::{Command, Config};
    ///
    /// let mut out = BytesMut::new();
    /// let get = Command::meta_get(&b"bin\0key"[..]).with_cas().quiet().opaque(1u32);
    /// memwire_core::meta::MetaCommand::from(get).encode(&mut out, &Config::default())?;
    /// assert_eq!(&out[..], b"mg YmluAGtleQ== b c O1 q v\r\n");
    /// # Ok::<(), memwire_core::Error>(())
    /// ```
    pub fn encode(&self, out: &mut BytesMut, config: &Config) -> Result<MetaExpect, Error> {
        let key = match self.key() {
            Some(raw) => Some(MetaKey::new(raw.clone())?),
            None => None,
        };
        // Everything is checked and computed before the first byte is
        // written, so an error leaves `out` as it was.
        let line = command_line(key.as_ref(), self)?;
        if let MetaCommand::Set(s) = self {
            if s.data.len() > config.max_value_len {
                return Err(Error::ValueTooLarge {
                    len: s.data.len(),
                    max: config.max_value_len,
                });
            }
        }
        out.put_slice(&line);
        if let MetaCommand::Set(s) = self {
            out.put_slice(&s.data);
            out.put_slice(b"\r\n");
        }
        let (kind, value) = match self {
            MetaCommand::Get(c) => (MetaKind::Get, c.value),
            MetaCommand::Set(_) => (MetaKind::Set, false),
            MetaCommand::Delete(_) => (MetaKind::Delete, false),
            MetaCommand::Arithmetic(c) => (MetaKind::Arithmetic, c.value),
            MetaCommand::Debug(_) => (MetaKind::Debug, false),
            MetaCommand::NoOp => (MetaKind::NoOp, false),
        };
        Ok(MetaExpect {
            kind,
            key: self.key().cloned(),
            opaque: self.opaque().cloned(),
            quiet: self.is_quiet(),
            value,
        })
    }
}

/// A command line under construction.
struct LineBytes(Vec<u8>);

impl LineBytes {
    /// ` <n>` — a positional number.
    fn arg(&mut self, n: usize) {
        let _ = write!(self, " {n}");
    }

    /// ` <c>` — a flag without a token.
    fn flag(&mut self, c: u8, on: bool) {
        if on {
            self.0.extend_from_slice(&[b' ', c]);
        }
    }

    /// ` <c><n>` — a flag with a number.
    fn num(&mut self, c: u8, n: Option<impl std::fmt::Display>) {
        if let Some(n) = n {
            let _ = write!(self, " {}{n}", char::from(c));
        }
    }

    /// ` O<token>`.
    fn opaque(&mut self, opaque: Option<&Opaque>) {
        if let Some(o) = opaque {
            self.0.extend_from_slice(b" O");
            self.0.extend_from_slice(o.as_bytes());
        }
    }

    /// ` M<mode>`.
    fn mode(&mut self, mode: Option<u8>) {
        if let Some(m) = mode {
            self.0.extend_from_slice(&[b' ', b'M', m]);
        }
    }
}

impl std::fmt::Write for LineBytes {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The command line of `command` (with `\r\n`), or why it cannot be sent.
fn command_line(key: Option<&MetaKey>, command: &MetaCommand) -> Result<Vec<u8>, Error> {
    let ttl = |e: Option<Expiry>| e.map(Expiry::to_wire).transpose();
    let mut l = LineBytes(Vec::with_capacity(64));
    let head = |l: &mut LineBytes, name: &[u8]| {
        l.0.extend_from_slice(name);
        if let Some(key) = key {
            l.0.push(b' ');
            l.0.extend_from_slice(key.wire());
        }
    };
    let base64 = key.is_some_and(MetaKey::is_base64);
    match command {
        MetaCommand::Get(c) => {
            let (vivify, touch) = (ttl(c.vivify)?, ttl(c.touch)?);
            let recache = c.recache_below.map(recache_secs).transpose()?;
            head(&mut l, b"mg");
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'f', c.client_flags);
            l.flag(b'h', c.hit_before);
            l.flag(b'k', c.return_key);
            l.flag(b'l', c.last_access);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b's', c.size);
            l.flag(b't', c.ttl);
            l.flag(b'u', c.no_lru_bump);
            l.flag(b'v', c.value);
            l.num(b'C', c.unless_cas);
            l.num(b'E', c.new_cas);
            l.num(b'N', vivify);
            l.num(b'R', recache);
            l.num(b'T', touch);
        }
        MetaCommand::Set(c) => {
            let expiry = ttl(Some(c.expiry).filter(|e| *e != Expiry::Never))?;
            let vivify = ttl(c.vivify)?;
            head(&mut l, b"ms");
            l.arg(c.data.len());
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'I', c.invalidate);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b's', c.size);
            l.num(b'C', c.compare_cas);
            l.num(b'E', c.new_cas);
            l.num(b'F', Some(c.client_flags).filter(|f| *f != 0));
            l.num(b'N', vivify);
            l.num(b'T', expiry);
            l.mode(match c.mode {
                MetaSetMode::Set => None,
                MetaSetMode::Add => Some(b'E'),
                MetaSetMode::Replace => Some(b'R'),
                MetaSetMode::Append => Some(b'A'),
                MetaSetMode::Prepend => Some(b'P'),
            });
        }
        MetaCommand::Delete(c) => {
            let expiry = ttl(c.expiry)?;
            head(&mut l, b"md");
            l.flag(b'b', base64);
            l.flag(b'I', c.invalidate);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b'x', c.clear_value);
            l.num(b'C', c.compare_cas);
            l.num(b'E', c.new_cas);
            l.num(b'T', expiry);
        }
        MetaCommand::Arithmetic(c) => {
            if c.initial.is_some() && c.vivify.is_none() {
                return Err(Error::InvalidArgument(
                    "an initial value (J) needs an expiry to vivify with (N)",
                ));
            }
            let (vivify, touch) = (ttl(c.vivify)?, ttl(c.touch)?);
            head(&mut l, b"ma");
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b't', c.ttl);
            l.flag(b'v', c.value);
            l.num(b'C', c.compare_cas);
            l.num(b'D', Some(c.delta).filter(|d| *d != 1));
            l.num(b'E', c.new_cas);
            l.num(b'J', c.initial);
            l.num(b'N', vivify);
            l.num(b'T', touch);
            l.mode(match c.op {
                ArithOp::Incr => None,
                ArithOp::Decr => Some(b'D'),
            });
        }
        MetaCommand::Debug(_) => {
            head(&mut l, b"me");
            l.flag(b'b', base64);
        }
        MetaCommand::NoOp => head(&mut l, b"mn"),
    }
    l.0.extend_from_slice(b"\r\n");
    Ok(l.0)
}

/// The `R` token: whole seconds, rounded up, at most 30 days (beyond that
/// memcached would read an absolute time).
fn recache_secs(d: Duration) -> Result<u64, Error> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs > Expiry::MAX_RELATIVE.as_secs() {
        return Err(Error::InvalidArgument(
            "a recache threshold (R) is at most 30 days",
        ));
    }
    Ok(secs)
}

/// `From<T> for MetaCommand` and `for Command` for each builder.
macro_rules! into_command {
    ($($ty:ident => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for MetaCommand {
            fn from(c: $ty) -> MetaCommand {
                MetaCommand::$variant(c)
            }
        }
        impl From<$ty> for crate::request::Command {
            fn from(c: $ty) -> crate::request::Command {
                crate::request::Command::Meta(MetaCommand::$variant(c))
            }
        }
    )*};
}
into_command!(
    MetaGet => Get,
    MetaSet => Set,
    MetaDelete => Delete,
    MetaArithmetic => Arithmetic,
    MetaDebug => Debug,
);

impl From<MetaCommand> for crate::request::Command {
    fn from(c: MetaCommand) -> crate::request::Command {
        crate::request::Command::Meta(c)
    }
}

#[cfg(test)]
mod tests;
