//! Anti-stampede caching with the meta protocol: among many concurrent
//! callers — threads, tasks, processes — only one recomputes a missing or
//! expiring value; the others serve the stale one or wait briefly for the
//! fresh one.
//!
//! The pure half of `get_or_compute` (the loop that waits and computes is
//! the clients'): [`Recache`] says how, [`lease`] asks memcached for the
//! value or the right to recompute it (`mg` with `N` vivify-on-miss and `R`
//! recache-below), [`Lease::read`] reads the answer, [`store`] writes a
//! recomputed value guarded by the lease's CAS, [`release`] gives up a
//! lease whose recompute failed, and [`mark_stale`] asks for a recompute
//! while the old value keeps being served (`md` with `I`).
//!
//! ```
//! use std::time::Duration;
//! use memwire_core::client::stampede::{self, Lease, Recache};
//! use memwire_core::{Config, Connection, Expiry, Response};
//!
//! let recache = Recache::new(Expiry::secs(300)).recache_below(Duration::from_secs(30));
//! let mut conn = Connection::new(Config::default());
//! conn.send(stampede::lease("report", &recache)?, None)?;
//! assert_eq!(conn.pending_output(), b"mg report c f v N10 R30\r\n");
//! // A miss: memcached made an empty placeholder and this caller won it.
//! conn.handle_input(b"VA 0 c7 f0 W\r\n\r\n");
//! let Ok(Response::Meta(reply)) = conn.poll_response().unwrap().result else { panic!() };
//! let Lease::Recompute { cas, stale } = Lease::read("report", reply) else { panic!() };
//! assert_eq!((cas, stale), (Some(7), None));
//! // ... compute, then store under the lease (C7): nobody else wrote since.
//! let store = stampede::store("report", "the value", 0, &recache, cas);
//! # let _ = store;
//! # Ok::<(), memwire_core::Error>(())
//! ```

use std::time::Duration;

use bytes::Bytes;

use crate::error::Error;
use crate::expiry::Expiry;
use crate::into_bytes::IntoBytes;
use crate::meta::{MetaDelete, MetaGet, MetaReply, MetaSet, MetaStatus};
use crate::request::Command;
use crate::response::Value;

/// How `get_or_compute` keeps a value and shares its recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recache {
    /// How long a computed value lives.
    pub ttl: Expiry,
    /// Recompute early: once the value has less than this left to live,
    /// the next caller wins the recompute while the others keep getting
    /// the value (zero: only on a miss or a stale mark).
    pub recache_below: Duration,
    /// How long the right to recompute a missing value is held: if the
    /// winner neither stores nor releases it by then (it crashed), another
    /// caller wins.
    pub lease: Duration,
    /// How long a caller with nothing to serve waits for another's
    /// recompute before giving up with [`Error::Timeout`].
    pub wait: Duration,
    /// How often a waiting caller looks again.
    pub poll: Duration,
}

impl Recache {
    /// Values living `ttl`, no early recompute, a 10 s lease, callers
    /// waiting up to 1 s (looking every 10 ms) for another's recompute.
    pub fn new(ttl: impl Into<Expiry>) -> Recache {
        Recache {
            ttl: ttl.into(),
            recache_below: Duration::ZERO,
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(1),
            poll: Duration::from_millis(10),
        }
    }

    /// Set [`Recache::recache_below`].
    pub fn recache_below(mut self, remaining: Duration) -> Recache {
        self.recache_below = remaining;
        self
    }

    /// Set [`Recache::lease`].
    pub fn lease(mut self, lease: Duration) -> Recache {
        self.lease = lease;
        self
    }

    /// Set [`Recache::wait`] and [`Recache::poll`].
    pub fn wait(mut self, wait: Duration, poll: Duration) -> Recache {
        self.wait = wait;
        self.poll = poll;
        self
    }
}

/// What memcached's answer to a [`lease`] request lets a caller do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The value is fresh: use it.
    Fresh(Value),
    /// This caller won the right to recompute (the value is missing,
    /// stale, or about to expire). `cas` guards the store; `stale` is the
    /// value to serve if the recompute fails.
    Recompute {
        /// The CAS of the item (or placeholder) the recompute replaces.
        cas: Option<u64>,
        /// The current, stale or expiring value, if there is one.
        stale: Option<Value>,
    },
    /// Another caller is recomputing; this value (stale, or about to
    /// expire) may be served meanwhile.
    Stale(Value),
    /// Another caller is recomputing and there is nothing to serve yet:
    /// look again shortly.
    Wait,
}

impl Lease {
    /// Read the reply to a [`lease`] request for `key`. A value of zero
    /// bytes that is not marked stale reads as memcached's empty
    /// placeholder for a missing item (so an empty value can't be told from
    /// a missing one here).
    pub fn read(key: impl Into<Bytes>, reply: MetaReply) -> Lease {
        let (won, taken, stale) = (reply.flags.won, reply.flags.win_taken, reply.flags.stale);
        let present = matches!(&reply.status, MetaStatus::Value(data) if !data.is_empty()) || stale;
        let cas = reply.flags.cas;
        let value = reply.into_item(key.into()).filter(|_| present);
        match (won, taken, value) {
            (true, _, stale) => Lease::Recompute { cas, stale },
            (false, true, Some(value)) => Lease::Stale(value),
            (false, true, None) => Lease::Wait,
            (false, false, Some(value)) => Lease::Fresh(value),
            // A miss without a placeholder: vivify did not apply (an old
            // server); recompute without a guard.
            (false, false, None) => Lease::Recompute {
                cas: None,
                stale: None,
            },
        }
    }
}

/// A computed value as it is stored: client flags and data. Anything
/// [`IntoBytes`] is stored with flags 0; `(flags, data)` sets the flags.
///
/// ```
/// use memwire_core::client::stampede::IntoStored;
/// assert_eq!("v".into_stored(), (0, "v".into()));
/// assert_eq!((2u32, "7").into_stored(), (2, "7".into()));
/// ```
pub trait IntoStored {
    /// The flags and the data.
    fn into_stored(self) -> (u32, Bytes);
}

impl<T: IntoBytes> IntoStored for T {
    fn into_stored(self) -> (u32, Bytes) {
        (0, self.into_bytes())
    }
}

impl<B: IntoBytes> IntoStored for (u32, B) {
    fn into_stored(self) -> (u32, Bytes) {
        (self.0, self.1.into_bytes())
    }
}

/// Why `get_or_compute` returned no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum ComputeError<E> {
    /// The recompute failed and there was no stale value to serve.
    Compute(E),
    /// memcached refused the request, or another caller's recompute did
    /// not finish within [`Recache::wait`] ([`Error::Timeout`]).
    Cache(Error),
}

impl<E: std::fmt::Display> std::fmt::Display for ComputeError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeError::Compute(e) => write!(f, "recompute failed: {e}"),
            ComputeError::Cache(_) => f.write_str("cache request failed"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ComputeError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ComputeError::Compute(e) => Some(e),
            ComputeError::Cache(e) => Some(e),
        }
    }
}

/// `mg <key> v c f N<lease> R<recache_below>`: the value, or the right to
/// recompute it.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a lease or recache time memcached cannot
/// take.
pub fn lease(key: impl Into<Bytes>, recache: &Recache) -> Result<Command, Error> {
    let mut get = MetaGet::new(key)
        .with_cas()
        .with_client_flags()
        .vivify(Expiry::In(recache.lease.max(Duration::from_secs(1))));
    if !recache.recache_below.is_zero() {
        get = get.recache_below(recache.recache_below);
    }
    Ok(get.into())
}

/// `ms <key> T<ttl> F<flags> [C<cas>]`: store a recomputed value, unless
/// the item changed since the lease (another writer, a new stale mark).
pub fn store(
    key: impl Into<Bytes>,
    value: impl IntoBytes,
    flags: u32,
    recache: &Recache,
    cas: Option<u64>,
) -> Command {
    let mut set = MetaSet::new(key, value).flags(flags).expiry(recache.ttl);
    if let Some(cas) = cas {
        set = set.compare_cas(cas);
    }
    set.into()
}

/// `md <key> C<cas>`: give up the lease on a placeholder whose recompute
/// failed, so that the next caller wins at once.
pub fn release(key: impl Into<Bytes>, cas: u64) -> Command {
    MetaDelete::new(key).compare_cas(cas).into()
}

/// `md <key> I T<keep>`: mark the value stale: the next caller wins its
/// recompute, the others keep getting the stale value for up to `keep`.
pub fn mark_stale(key: impl Into<Bytes>, keep: impl Into<Expiry>) -> Command {
    MetaDelete::new(key).invalidate().expiry(keep).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: MetaStatus, f: impl FnOnce(&mut crate::meta::ReturnedFlags)) -> MetaReply {
        let mut r = MetaReply::new(status);
        f(&mut r.flags);
        r
    }

    #[test]
    fn leases_read_as_the_protocol_document_says() {
        let value = || MetaStatus::Value(Bytes::from_static(b"v1"));
        let empty = || MetaStatus::Value(Bytes::new());
        // A miss vivified for this caller: recompute, nothing stale.
        let won = reply(empty(), |f| {
            f.won = true;
            f.cas = Some(3)
        });
        assert_eq!(
            Lease::read("k", won),
            Lease::Recompute {
                cas: Some(3),
                stale: None
            }
        );
        // Another caller holds the placeholder: wait.
        assert_eq!(
            Lease::read("k", reply(empty(), |f| f.win_taken = true)),
            Lease::Wait
        );
        // Stale (md I) and this caller won: recompute, the stale value to fall back on.
        let Lease::Recompute { stale: Some(v), .. } = Lease::read(
            "k",
            reply(value(), |f| {
                f.won = true;
                f.stale = true
            }),
        ) else {
            panic!()
        };
        assert_eq!(&v.data[..], b"v1");
        // Stale and another won: serve the stale value.
        let taken = reply(value(), |f| {
            f.win_taken = true;
            f.stale = true
        });
        assert!(matches!(Lease::read("k", taken), Lease::Stale(_)));
        // A plain hit.
        assert!(matches!(
            Lease::read("k", reply(value(), |_| ())),
            Lease::Fresh(_)
        ));
    }

    #[test]
    fn requests_on_the_wire() {
        let recache = Recache::new(Expiry::secs(60)).lease(Duration::from_secs(5));
        let mut out = bytes::BytesMut::new();
        let config = crate::Config::default();
        for command in [
            lease("k", &recache).unwrap(),
            store("k", "v", 2, &recache, Some(9)),
            release("k", 9),
            mark_stale("k", Expiry::secs(30)),
        ] {
            command.encode(&mut out, &config).unwrap();
        }
        assert_eq!(
            &out[..],
            &b"mg k c f v N5\r\nms k 1 C9 F2 T60\r\nv\r\nmd k C9\r\nmd k I T30\r\n"[..]
        );
    }
}
