//! [`MetaSet`]: the `ms` builder, and [`MetaSetMode`].

use bytes::Bytes;

use crate::expiry::Expiry;
use crate::into_bytes::IntoBytes;
use crate::meta::opaque::Opaque;

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
