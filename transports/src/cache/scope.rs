//! [`Scope`]: a cache with settings for one call — namespace, lifetime,
//! raw key — as lovely.memcached's keyword arguments (`ns=`, `lifetime=`,
//! `raw=`).

use std::fmt;

use memwire_core::Expiry;

use super::codec::CacheKey;
use super::plan::{CallOptions, Lifetime, Shared};
use super::CacheError;

/// A cache (`T` is a [`Cache`](super::Cache) or an
/// [`AsyncCache`](super::AsyncCache)) with per-call settings. Made by the
/// cache's `ns`, `no_ns`, `lifetime`, `expiry` and `raw`; the settings
/// combine (`cache.ns("x").raw().set(...)`). Its operations are the
/// cache's: `set`, `query`, `invalidate`, `keys`.
#[must_use = "a Scope does nothing until one of its operations is called"]
pub struct Scope<'a, T> {
    pub(crate) cache: &'a T,
    pub(crate) shared: &'a Shared,
    pub(crate) options: CallOptions,
}

impl<T> fmt::Debug for Scope<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Scope<'_, T> {
    fn clone(&self) -> Self {
        Scope {
            cache: self.cache,
            shared: self.shared,
            options: self.options.clone(),
        }
    }
}

impl<'a, T> Scope<'a, T> {
    pub(crate) fn new(cache: &'a T, shared: &'a Shared) -> Scope<'a, T> {
        Scope {
            cache,
            shared,
            options: CallOptions::default(),
        }
    }

    /// Use `namespace` instead of the cache's default one.
    pub fn ns(mut self, namespace: impl Into<String>) -> Self {
        self.options.namespace = Some(Some(namespace.into()));
        self
    }

    /// Use no namespace.
    pub fn no_ns(mut self) -> Self {
        self.options.namespace = Some(None);
        self
    }

    /// Store with this lifetime in seconds (0 = no expiry); beyond 30
    /// days it still counts from now (sent as an absolute time).
    pub fn lifetime(mut self, seconds: u32) -> Self {
        self.options.lifetime = Some(Lifetime::Secs(seconds));
        self
    }

    /// Store with this [`Expiry`] (a relative one at most 30 days).
    pub fn expiry(mut self, expiry: impl Into<Expiry>) -> Self {
        self.options.lifetime = Some(Lifetime::Expiry(expiry.into()));
        self
    }

    /// Use the key as is, with the namespace prepended, instead of hashing
    /// it. The key must be a string or bytes that make a valid memcached
    /// key.
    pub fn raw(mut self) -> Self {
        self.options.raw = true;
        self
    }

    /// The memcached key `key` has in this scope: the md5 hex of namespace
    /// and key, or the raw key. Nothing is sent.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Encode`]
    /// for a key that cannot be encoded.
    pub fn memcached_key(&self, key: impl CacheKey) -> Result<String, CacheError> {
        self.shared.memcached_key(&self.options, &key)
    }
}
