//! A high-level cache over a memcached client, after Python's
//! lovely.memcached: values of many types under keys of many types,
//! namespaces, optional key tracking, and graceful degradation while
//! servers are down.
//!
//! [`Cache`] runs on any blocking client ([`Commands`](crate::Commands)),
//! [`AsyncCache`] on any async one ([`AsyncCommands`](crate::AsyncCommands));
//! `cache::blocking::Cache`, `cache::smol::Cache` and `cache::tokio::Cache`
//! name them on each transport's client.
//!
//! ```no_run
//! # #[cfg(feature = "blocking")] {
//! use memwire::cache::blocking::Cache;
//!
//! let cache = Cache::builder().build()?; // 127.0.0.1:11211, 3600 s
//! let key = cache.set("cache_key", "cached value")?;
//! assert_eq!(key, "188693688126b424eb89e1385eca6f01"); // as lovely.memcached
//! assert_eq!(cache.query::<String>("cache_key")?.as_deref(), Some("cached value"));
//!
//! let one = Cache::builder().namespace("1").track_keys(true).build()?;
//! one.set(1, vec![1u8, 2, 3])?; // bytes
//! one.lifetime(60).set((2, "b"), 3.5)?; // lifetime for this call
//! assert_eq!(one.ns("2").query::<i32>(1)?, None); // another namespace
//! let keys: Vec<i32> = one.keys()?; // needs track_keys
//! cache.invalidate_all(); // every namespace
//! # }
//! # Ok::<(), memwire::cache::CacheError>(())
//! ```
//!
//! # Keys
//!
//! `set` returns the memcached key it used: the md5 hex of the key and
//! namespace, exactly as lovely.memcached builds it (see [`keys`]), so keys
//! of any type and length are safe. Rust strings are Python `str` keys;
//! [`Unicode`] and [`Long`] say `u'key'` and `1L`. A *raw* key (`raw`) is used as is,
//! with the namespace prepended, for other applications to read; a raw key
//! memcached would refuse is a [`CacheError::InvalidKey`].
//!
//! # Values
//!
//! Stored with their encoding in memcached's flags, chosen by their type
//! ([`codec`]): text (`&str`, `String`) as UTF-8, bytes as they are,
//! numbers and booleans as JSON text, and, with the `serde` feature, any
//! serde type as JSON with [`Json`](codec). With the `python` feature,
//! `Python<T>` stores and reads values as Python applications do
//! (python-memcached and pymemcache flags, pickles). The features add
//! encodings; they never change one.
//!
//! # Namespaces
//!
//! Every cache has a default namespace (none unless
//! [`CacheBuilder::namespace`]); `ns` overrides it for one call. Caches
//! with different namespaces never see each other's keys.
//! `invalidate_all` flushes the servers: every namespace, every key.
//!
//! # Lifetimes
//!
//! In seconds, as in lovely.memcached: [`CacheBuilder::default_lifetime`]
//! (3600) or `lifetime` for one call; 0 never expires. A lifetime beyond
//! memcached's 30-day limit for relative times still counts from now (it
//! is sent as an absolute [`Expiry`](crate::Expiry)); `expiry` takes an
//! `Expiry` directly.
//!
//! # Key tracking
//!
//! Off by default ([`CacheBuilder::track_keys`]); when on, each namespace's
//! keys are recorded in memcached itself ([`tracking`]), so `keys` sees
//! the keys set by every thread and every process. It costs a
//! read-modify-write of the record (`gets` + `cas`) on each `set` and
//! `invalidate`, and the record is one memcached item (1 MiB by default:
//! some 20 000 short keys per namespace).
//!
//! # Degradation
//!
//! A cache never fails its caller because a server is unreachable or
//! misbehaves: `set` stores nothing and still returns the key, `query`
//! returns `None`, `keys` returns what it can. Each such failure is
//! counted (`failures`) and handed to the hook of
//! [`CacheBuilder::on_error`], if any: by default the library prints
//! nothing (with the feature `tracing` it emits a warning event;
//! [`stderr_hook`] is there to opt into). The client marks a
//! server it cannot reach down and probes it again, within
//! [`HealthConfig::retry_after`](crate::cluster::HealthConfig): as soon as
//! it answers again it is used again, without a restart. Only mistakes of
//! the caller are `Err`: an invalid raw key, a value that cannot be
//! encoded or decoded, [`CacheError::KeysNotTracked`], a value over the
//! size limit.

mod async_cache;
pub mod codec;
mod config;
mod float_text;
mod hook;
pub mod keys;
mod plan;
mod scope;
mod sync_cache;
pub mod tracking;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tokio")]
pub mod tokio;

use std::fmt;

use memwire_core::client::ConfigError;
use memwire_core::cluster::ServerAddr;
use memwire_core::Error;

pub use async_cache::AsyncCache;
#[cfg(feature = "python")]
pub use codec::Python;
pub use codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
#[cfg(feature = "serde")]
pub use codec::{Json, SerdeKey};
pub use codec::{Long, Unicode};
pub use config::{
    CacheBuilder, CacheConfig, CacheSettings, FromCacheConfig, DEFAULT_LIFETIME, DEFAULT_SERVER,
};
pub use hook::{stderr_hook, CacheOp, ErrorHook, Failure};
pub use scope::Scope;
pub use sync_cache::Cache;

/// What went wrong in a cache call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheError {
    /// A raw key memcached would refuse (or a raw key that is not a string
    /// or bytes).
    InvalidKey {
        /// The key (namespace included), lossily decoded.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A key or value could not be encoded.
    Encode(String),
    /// A stored value or tracked key does not decode into the requested
    /// type (or has unknown flags).
    Decode(String),
    /// `keys` on a cache without key tracking.
    KeysNotTracked,
    /// The client refused or failed a request. Returned for mistakes of the
    /// caller (a value over the size limit, an expiry memcached cannot
    /// take); server failures only reach the [`CacheBuilder::on_error`]
    /// hook.
    Request(Error),
    /// A key-tracking record is unreadable or too contended to update.
    Tracking(String),
    /// The cache could not be configured.
    Config(ConfigError),
    /// `get_or_compute`'s recompute failed and there was no stale value to
    /// serve.
    Compute(std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::InvalidKey { key, reason } => write!(f, "invalid key {key:?}: {reason}"),
            CacheError::Encode(e) => write!(f, "cannot encode: {e}"),
            CacheError::Decode(e) => write!(f, "cannot decode: {e}"),
            CacheError::KeysNotTracked => f.write_str("key tracking is not enabled"),
            CacheError::Request(e) => write!(f, "{e}"),
            CacheError::Tracking(e) => write!(f, "key tracking: {e}"),
            CacheError::Config(e) => write!(f, "{e}"),
            CacheError::Compute(_) => f.write_str("the recompute failed"),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // `Request` and `Config` display their error itself: what caused
        // it is that error's source.
        match self {
            CacheError::Request(e) => std::error::Error::source(e),
            CacheError::Config(e) => std::error::Error::source(e),
            CacheError::Compute(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<ConfigError> for CacheError {
    fn from(e: ConfigError) -> Self {
        CacheError::Config(e)
    }
}

/// The label of a server in statistics: `host:port (weight)`, as
/// lovely.memcached shows it (`127.0.0.1:11211 (1)`).
pub fn server_label(addr: &ServerAddr, weight: u32) -> String {
    format!("{addr} ({weight})")
}
