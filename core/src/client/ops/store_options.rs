//! [`StoreOptions`]: flags, expiry and `noreply` of a storage command.

use crate::expiry::Expiry;
use crate::request::Store;

/// How a value is stored: its client flags, when it expires, and whether
/// the server is asked not to reply. The default is flags 0, never
/// expires, with a reply.
///
/// ```
/// use std::time::Duration;
/// use memwire_core::client::ops::StoreOptions;
/// use memwire_core::{Command, Expiry};
///
/// let opts = StoreOptions::new().flags(12).expiry(Expiry::secs(30));
/// let set = opts.apply(Command::set("foo", "xXx"));
/// assert_eq!((set.flags, set.expiry), (12, Expiry::secs(30)));
///
/// // An expiry alone is options too.
/// let opts: StoreOptions = Duration::from_secs(60).into();
/// assert_eq!(opts.expiry, Expiry::secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Opaque client flags stored with the item.
    pub flags: u32,
    /// When the item expires.
    pub expiry: Expiry,
    /// Ask the server not to reply (see [`Store::noreply`]).
    pub noreply: bool,
}

impl StoreOptions {
    /// Flags 0, no expiry, with a reply.
    pub fn new() -> StoreOptions {
        StoreOptions::default()
    }

    /// Set the client flags.
    pub fn flags(mut self, flags: u32) -> StoreOptions {
        self.flags = flags;
        self
    }

    /// Set when the item expires.
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> StoreOptions {
        self.expiry = expiry.into();
        self
    }

    /// Ask the server not to reply.
    pub fn noreply(mut self) -> StoreOptions {
        self.noreply = true;
        self
    }

    /// `store` with these options.
    pub fn apply(self, store: Store) -> Store {
        let store = store.flags(self.flags).expiry(self.expiry);
        if self.noreply {
            store.noreply()
        } else {
            store
        }
    }
}

impl From<Expiry> for StoreOptions {
    fn from(expiry: Expiry) -> StoreOptions {
        StoreOptions::new().expiry(expiry)
    }
}

impl From<std::time::Duration> for StoreOptions {
    fn from(d: std::time::Duration) -> StoreOptions {
        StoreOptions::new().expiry(d)
    }
}
