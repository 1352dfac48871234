//! [`MetaCommand`]: one meta request (`mg`, `ms`, `md`, `ma`, `mn`,
//! `me`) and its encoding; and [`MetaDebug`], the `me` builder.
//!
//! Encoding checks everything first (key, opaque, expiry, value size) and
//! writes nothing when anything is wrong.

use bytes::{BufMut, Bytes, BytesMut};

use crate::connection::Config;
use crate::error::Error;
use crate::key::MetaKey;
use crate::meta::encode::command_line;
use crate::meta::expect::{MetaExpect, MetaKind};
use crate::meta::opaque::Opaque;
use crate::meta::{MetaArithmetic, MetaDelete, MetaGet, MetaSet};

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

/// `me <key>`: the server's internal metadata of an item (a debugging aid;
/// the reply is [`MetaStatus::Debug`](crate::meta::MetaStatus::Debug)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaDebug {
    /// The key (raw bytes; base64-encoded on the wire if need be).
    pub key: Bytes,
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
