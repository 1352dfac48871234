//! [`MetaArithmetic`]: the `ma` builder.

use bytes::Bytes;

use crate::expiry::Expiry;
use crate::meta::opaque::Opaque;
use crate::request::ArithOp;

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
