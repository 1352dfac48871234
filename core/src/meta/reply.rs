//! Typed meta replies: [`MetaReply`], its [`MetaStatus`] and the flags the
//! server returned ([`ReturnedFlags`]).

use std::time::Duration;

use bytes::Bytes;

use crate::meta::opaque::Opaque;
use crate::response::Value;

/// A successful meta reply: `VA`, `HD`, `EN`, `MN` or `ME`, with the flags
/// the request asked for. (`NS`, `EX` and `NF` are the errors
/// [`Error::NotStored`](crate::Error::NotStored),
/// [`Error::Exists`](crate::Error::Exists) and
/// [`Error::NotFound`](crate::Error::NotFound).)
///
/// ```
/// use memwire_core::meta::{MetaReply, MetaStatus, Ttl};
///
/// let mut hit = MetaReply::new(MetaStatus::Value("hello".into()));
/// hit.flags.ttl = Some(Ttl::Never);
/// assert!(hit.is_hit());
/// assert_eq!(hit.value().map(|v| &v[..]), Some(&b"hello"[..]));
/// assert!(MetaReply::new(MetaStatus::Miss).is_miss());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaReply {
    /// What the server answered.
    pub status: MetaStatus,
    /// The flags it returned.
    pub flags: ReturnedFlags,
    /// `true` when the server sent nothing: the request was quiet (`q`)
    /// and a reply to a later request arrived, which in quiet mode means
    /// this one had its nominal outcome (a miss for `mg`, success for `ms`,
    /// `md` and `ma`). No flags were returned, and a quiet `ma` never
    /// returns its new value.
    pub silent: bool,
}

impl MetaReply {
    /// A reply with `status` and no flags.
    pub fn new(status: MetaStatus) -> MetaReply {
        MetaReply {
            status,
            flags: ReturnedFlags::default(),
            silent: false,
        }
    }

    /// The outcome a quiet request's silence means.
    pub(crate) fn implied(status: MetaStatus) -> MetaReply {
        MetaReply {
            status,
            flags: ReturnedFlags::default(),
            silent: true,
        }
    }

    /// The value block of a `VA` reply.
    pub fn value(&self) -> Option<&Bytes> {
        match &self.status {
            MetaStatus::Value(data) => Some(data),
            _ => None,
        }
    }

    /// The value block of a `VA` reply, taken.
    pub fn into_value(self) -> Option<Bytes> {
        match self.status {
            MetaStatus::Value(data) => Some(data),
            _ => None,
        }
    }

    /// A hit as the [`Value`] a text-protocol retrieval returns: the data of
    /// a `VA` reply with its client flags (0 unless `f` was asked for) and
    /// CAS value (if `c` was); `None` for anything else. `key` is the
    /// request's key (a reply returns it only with `k`).
    ///
    /// ```
    /// use memwire_core::meta::{MetaReply, MetaStatus};
    /// let mut hit = MetaReply::new(MetaStatus::Value("v".into()));
    /// hit.flags.cas = Some(9);
    /// let value = hit.into_item("k".into()).unwrap();
    /// assert_eq!((&value.key[..], value.flags, value.cas), (&b"k"[..], 0, Some(9)));
    /// ```
    pub fn into_item(self, key: Bytes) -> Option<Value> {
        let MetaStatus::Value(data) = self.status else {
            return None;
        };
        let mut value = Value::new(key, self.flags.client_flags.unwrap_or(0), data);
        value.cas = self.flags.cas;
        Some(value)
    }

    /// The value of a `VA` reply read as a decimal number (the new value
    /// of an `ma`).
    ///
    /// ```
    /// use memwire_core::meta::{MetaReply, MetaStatus};
    /// assert_eq!(MetaReply::new(MetaStatus::Value("42".into())).number(), Some(42));
    /// assert_eq!(MetaReply::new(MetaStatus::Done).number(), None);
    /// ```
    pub fn number(&self) -> Option<u64> {
        let data = self.value()?;
        std::str::from_utf8(data).ok()?.trim_end().parse().ok()
    }

    /// `VA` or `HD` from an `mg`: the item exists.
    pub fn is_hit(&self) -> bool {
        matches!(self.status, MetaStatus::Value(_) | MetaStatus::Done)
    }

    /// `EN`: the item does not exist (said or, in quiet mode, implied).
    pub fn is_miss(&self) -> bool {
        self.status == MetaStatus::Miss
    }
}

/// The return code of a successful meta reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaStatus {
    /// `VA <size>`: success with a value block (split from the input
    /// without copying).
    Value(Bytes),
    /// `HD`: success without a value (a hit, stored, deleted, applied).
    Done,
    /// `EN`: a miss (`mg`, `me`).
    Miss,
    /// `MN`: the reply to `mn`.
    NoOp,
    /// `ME <key> <name>=<value>*`: the item's internal metadata.
    Debug(DebugInfo),
}

/// The fields of an `ME` reply (`exp`, `la`, `cas`, `fetch`, `cls`,
/// `size`, ... as the server names them), in order.
///
/// ```
/// use memwire_core::meta::DebugInfo;
/// let info = DebugInfo { fields: vec![("exp".into(), "-1".into()), ("size".into(), "68".into())] };
/// assert_eq!(info.get("size"), Some("68"));
/// assert_eq!(info.get("nope"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DebugInfo {
    /// `(name, value)` pairs.
    pub fields: Vec<(String, String)>,
}

impl DebugInfo {
    /// The value of the field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The remaining lifetime of an item (the `t` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// `t-1`: the item never expires.
    Never,
    /// The item expires in this many (whole) seconds.
    Remaining(Duration),
}

/// The flags a meta reply returned; each is `None` (or `false`) unless the
/// request asked for it and the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReturnedFlags {
    /// `c`: the item's CAS value.
    pub cas: Option<u64>,
    /// `f`: the client flags.
    pub client_flags: Option<u32>,
    /// `t`: the remaining TTL.
    pub ttl: Option<Ttl>,
    /// `s`: the item size in bytes.
    pub size: Option<u64>,
    /// `l`: time since the last access, in whole seconds.
    pub last_access: Option<Duration>,
    /// `h`: whether the item had been hit before.
    pub hit_before: Option<bool>,
    /// `k`: the key, decoded when it came base64-encoded (and checked
    /// against the request's key).
    pub key: Option<Bytes>,
    /// `b`: the returned key came base64-encoded.
    pub base64_key: bool,
    /// `O`: the opaque token (checked against the request's).
    pub opaque: Option<Opaque>,
    /// `W`: this client won the right to recache the item.
    pub won: bool,
    /// `X`: the item is stale (marked by `md ... I`).
    pub stale: bool,
    /// `Z`: another client already won the right to recache the item.
    pub win_taken: bool,
}
