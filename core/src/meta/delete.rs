//! [`MetaDelete`]: the `md` builder.

use bytes::Bytes;

use crate::expiry::Expiry;
use crate::meta::opaque::Opaque;

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
