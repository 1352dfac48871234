//! [`MetaGet`]: the `mg` builder.

use std::time::Duration;

use bytes::Bytes;

use crate::expiry::Expiry;
use crate::meta::opaque::Opaque;

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
    /// metadata, touch, or test existence). memcached before 1.6.18 refuses
    /// an `mg` with no flag at all.
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
    /// [`MetaCommand::NoOp`](crate::meta::MetaCommand::NoOp)).
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
