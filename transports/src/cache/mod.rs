//! A high-level cache over a memcached client, after Python's
//! lovely.memcached: values of any type under keys of any type, namespaces,
//! optional key tracking, and graceful degradation while servers are down.
//!
//! ```no_run
//! # #[cfg(all(feature = "blocking", feature = "serde"))] {
//! use memwire::cache::blocking::Cache;
//!
//! let cache: Cache = Cache::builder().build()?; // 127.0.0.1:11211, 3600 s
//! let key = cache.set("cache_key", "cached value")?;
//! assert_eq!(key, "188693688126b424eb89e1385eca6f01"); // as lovely.memcached
//! assert_eq!(cache.query::<String>("cache_key")?.as_deref(), Some("cached value"));
//!
//! let one: Cache = Cache::builder().namespace("1").track_keys(true).build()?;
//! one.set(1, &vec![1, 2, 3])?;
//! one.lifetime(60).set((2, "b"), &3.5)?; // lifetime for this call
//! assert_eq!(one.ns("2").query::<i32>(1)?, None); // another namespace
//! let keys: Vec<i32> = one.keys()?; // needs track_keys
//! cache.invalidate_all(); // every namespace
//! # }
//! # Ok::<(), memwire::cache::CacheError>(())
//! ```
//!
//! # Keys
//!
//! `set` returns the memcached key it used: the md5
//! hex of the key and namespace, exactly as lovely.memcached builds it (see
//! [`keys`]), so keys of any type and length are safe. A *raw* key
//! (`raw`) is used as is, with the namespace
//! prepended, for other applications to read; a raw key memcached would
//! refuse is a [`CacheError::InvalidKey`].
//!
//! # Values
//!
//! Stored with their encoding in memcached's flags ([`codec`]): with the
//! `serde` feature (default) any `Serialize` type, strings as plain UTF-8
//! and everything else as JSON; without it, strings and bytes.
//!
//! # Namespaces
//!
//! Every cache has a default namespace (none unless
//! [`CacheBuilder::namespace`]); `ns` overrides it
//! for one call. Caches with different namespaces never see each other's
//! keys. `invalidate_all` flushes the
//! servers: every namespace, every key.
//!
//! # Key tracking
//!
//! Off by default ([`CacheBuilder::track_keys`]); when on, each namespace's
//! keys are recorded in memcached itself ([`tracking`]), so
//! `keys` sees the keys set by every thread and
//! every process. It costs a read-modify-write of the record on each `set`
//! and `invalidate`, and the record is one memcached item (1 MiB by
//! default: some 20 000 short keys per namespace).
//!
//! # Degradation
//!
//! A cache never fails its caller because a server is unreachable or
//! misbehaves: `set` stores nothing and still returns the key, `query`
//! returns `None`, `keys` returns what it can. Each such failure is handed
//! to the hook of [`CacheBuilder::on_error`] (default: a line on stderr, at
//! most one a second) and counted (`failures`).
//! The client marks a failing server down and retries it after
//! [`HealthConfig::retry_after`](crate::cluster::HealthConfig): as soon as
//! it answers again it is used again, without a restart. Only mistakes of
//! the caller are `Err`: an invalid raw key, a value that cannot be
//! encoded or decoded, [`CacheError::KeysNotTracked`], a value over the
//! size limit.

pub mod codec;
pub mod keys;
pub mod tracking;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "smol")]
pub mod smol;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memwire_core::cluster::{HealthConfig, ServerAddr};
use memwire_core::Error;

use crate::common::{ClientBuilder, ConfigError};

pub use codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};

/// Default servers of a cache: `127.0.0.1:11211`.
pub const DEFAULT_SERVER: &str = "127.0.0.1:11211";
/// Default lifetime of cached values, in seconds: one hour.
pub const DEFAULT_LIFETIME: u32 = 3600;

/// What went wrong in a cache call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheError {
    /// A raw key memcached would refuse (or a non-string raw key).
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
    /// caller (a value over the size limit); server failures only reach the
    /// [`CacheBuilder::on_error`] hook.
    Request(Error),
    /// A key-tracking record is unreadable or too contended to update.
    Tracking(String),
    /// The cache could not be configured.
    Config(ConfigError),
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
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Request(e) => Some(e),
            CacheError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for CacheError {
    fn from(e: ConfigError) -> Self {
        CacheError::Config(e)
    }
}

/// The cache operation during which a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Storing a value.
    Set,
    /// Reading a value.
    Query,
    /// Deleting a value.
    Invalidate,
    /// Flushing the servers.
    InvalidateAll,
    /// Reading a key-tracking record.
    Keys,
    /// Updating a key-tracking record.
    TrackKeys,
    /// Reading server statistics.
    Statistics,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Set => "set",
            Operation::Query => "query",
            Operation::Invalidate => "invalidate",
            Operation::InvalidateAll => "invalidate_all",
            Operation::Keys => "keys",
            Operation::TrackKeys => "key tracking",
            Operation::Statistics => "statistics",
        })
    }
}

/// A failure the cache absorbed instead of returning it: what the
/// [`CacheBuilder::on_error`] hook receives.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure<'a> {
    /// What the cache was doing.
    pub operation: Operation,
    /// The memcached key involved, or the server for server-wide commands
    /// (empty when neither applies).
    pub key: &'a str,
    /// What went wrong.
    pub error: &'a CacheError,
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memwire cache: {} failed", self.operation)?;
        if !self.key.is_empty() {
            write!(f, " ({})", self.key)?;
        }
        write!(f, ": {}", self.error)
    }
}

/// The hook that receives absorbed failures.
pub type ErrorHook = Arc<dyn Fn(&Failure<'_>) + Send + Sync>;

/// The default hook: one line on stderr per failure, at most one a second
/// (the next line says how many were not shown).
pub fn stderr_hook() -> ErrorHook {
    let last: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
    Arc::new(move |failure| {
        let mut state = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(t) if now.duration_since(t) < Duration::from_secs(1) => state.1 += 1,
            _ => {
                if state.1 > 0 {
                    eprintln!("{failure} ({} more not shown)", state.1);
                } else {
                    eprintln!("{failure}");
                }
                *state = (Some(now), 0);
            }
        }
    })
}

/// Settings of a cache, transport-neutral. Build one with [`CacheBuilder`].
#[derive(Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The client's configuration (servers, timeouts, health).
    pub client: crate::common::ClientConfig,
    /// Lifetime of values set without one, in seconds (0 = no expiry).
    pub default_lifetime: u32,
    /// The default namespace.
    pub namespace: Option<String>,
    /// Whether keys are tracked.
    pub track_keys: bool,
    /// Receives absorbed failures.
    pub on_error: ErrorHook,
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("client", &self.client)
            .field("default_lifetime", &self.default_lifetime)
            .field("namespace", &self.namespace)
            .field("track_keys", &self.track_keys)
            .finish_non_exhaustive()
    }
}

/// Builds a cache.
///
/// ```no_run
/// # #[cfg(feature = "blocking")] {
/// use std::time::Duration;
/// use memwire::cache::blocking::Cache;
///
/// let cache: Cache = Cache::builder()
///     .servers(["10.0.0.1:11211", "10.0.0.2:11211"])
///     .default_lifetime(600)
///     .namespace("sessions")
///     .track_keys(true)
///     .retry_after(Duration::from_secs(5))
///     .on_error(|failure| eprintln!("{failure}"))
///     .build()?;
/// # }
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Clone)]
pub struct CacheBuilder {
    /// Servers and timeouts; health and the default server are applied by
    /// [`CacheBuilder::config`].
    client: ClientBuilder,
    health: HealthConfig,
    default_lifetime: u32,
    namespace: Option<String>,
    track_keys: bool,
    on_error: Option<ErrorHook>,
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("servers", &self.client.servers)
            .field("default_lifetime", &self.default_lifetime)
            .field("namespace", &self.namespace)
            .field("track_keys", &self.track_keys)
            .finish_non_exhaustive()
    }
}

impl Default for CacheBuilder {
    fn default() -> Self {
        CacheBuilder {
            client: ClientBuilder::new(),
            health: HealthConfig::default(),
            default_lifetime: DEFAULT_LIFETIME,
            namespace: None,
            track_keys: false,
            on_error: None,
        }
    }
}

impl CacheBuilder {
    /// Defaults: server [`DEFAULT_SERVER`], lifetime [`DEFAULT_LIFETIME`],
    /// no namespace, no key tracking, failures logged to stderr.
    pub fn new() -> Self {
        CacheBuilder::default()
    }

    /// Add a server (weight 1), in any form [`ServerAddr::parse`] accepts.
    /// Once any server is given, the default server is not used.
    pub fn server(self, addr: impl Into<String>) -> Self {
        self.with_client(|c| c.server(addr))
    }

    /// Add a server with a ketama weight.
    pub fn weighted_server(self, addr: impl Into<String>, weight: u32) -> Self {
        self.with_client(|c| c.weighted_server(addr, weight))
    }

    /// Add several servers (weight 1).
    pub fn servers<I, S>(self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.with_client(|c| c.servers(addrs))
    }

    /// Lifetime of values set without one, in seconds (default 3600; 0 =
    /// no expiry; above 30 days an absolute Unix time, as in memcached).
    pub fn default_lifetime(mut self, seconds: u32) -> Self {
        self.default_lifetime = seconds;
        self
    }

    /// The default namespace (default: none).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Track keys so `keys` can list them
    /// (default off).
    pub fn track_keys(mut self, on: bool) -> Self {
        self.track_keys = on;
        self
    }

    /// How long a failing server is left alone before it is tried again
    /// (default 1 s; see [`HealthConfig`]).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.health.retry_after = after;
        self
    }

    /// Consecutive failures that mark a server down (default 2).
    pub fn failure_limit(mut self, failures: u32) -> Self {
        self.health.failure_limit = failures;
        self
    }

    /// Limit for connecting to a server (default 1 s).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.with_client(|c| c.connect_timeout(timeout))
    }

    /// Limit for each request (default 1 s).
    pub fn io_timeout(self, timeout: Duration) -> Self {
        self.with_client(|c| c.io_timeout(timeout))
    }

    /// Receive every failure the cache absorbs (instead of the default
    /// stderr log). Called on the thread that made the call; keep it short.
    pub fn on_error(mut self, hook: impl Fn(&Failure<'_>) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Parse and check everything.
    ///
    /// # Errors
    ///
    /// [`CacheError::Config`] for an address that does not parse or a zero
    /// timeout.
    pub fn config(self) -> Result<CacheConfig, CacheError> {
        let mut client = self.client.health(self.health);
        if client.servers.is_empty() {
            client = client.server(DEFAULT_SERVER);
        }
        Ok(CacheConfig {
            client: client.config()?,
            default_lifetime: self.default_lifetime,
            namespace: self.namespace,
            track_keys: self.track_keys,
            on_error: self.on_error.unwrap_or_else(stderr_hook),
        })
    }

    /// Apply `change` to the client settings.
    fn with_client(mut self, change: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Self {
        self.client = change(self.client);
        self
    }

    /// Build a cache of any transport, for example
    /// `let cache: memwire::cache::blocking::Cache = builder.build()?;`.
    ///
    /// # Errors
    ///
    /// As [`CacheBuilder::config`].
    pub fn build<C: FromCacheConfig>(self) -> Result<C, CacheError> {
        C::from_cache_config(self.config()?)
    }
}

/// A cache that can be built from a [`CacheConfig`].
pub trait FromCacheConfig: Sized {
    /// Build the cache; nothing connects until first use.
    ///
    /// # Errors
    ///
    /// [`CacheError::Config`] when the configuration is unusable.
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError>;
}

#[cfg(any(feature = "blocking", feature = "smol"))]
/// Per-call settings: namespace, lifetime, raw key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// `Some` overrides the default namespace (`Some(None)`: none).
    pub namespace: Option<Option<String>>,
    pub lifetime: Option<u32>,
    pub raw: bool,
}

#[cfg(any(feature = "blocking", feature = "smol"))]
impl CallOptions {
    /// The namespace of the call, given the cache's default.
    pub fn namespace<'a>(&'a self, default: Option<&'a str>) -> Option<&'a str> {
        match &self.namespace {
            Some(ns) => ns.as_deref(),
            None => default,
        }
    }

    /// The memcached key of `key` in `namespace`: hashed or raw.
    pub fn memcached_key(
        &self,
        namespace: Option<&str>,
        key: &impl CacheKey,
    ) -> Result<String, CacheError> {
        if self.raw {
            keys::raw_key(namespace, &key.raw_bytes()?)
        } else {
            keys::hashed_key(namespace, |p| key.write_pickle(p))
        }
    }

    /// The form key tracking stores for `key`.
    pub fn key_form(&self, key: &impl CacheKey) -> Result<tracking::KeyForm, CacheError> {
        if self.raw {
            Ok(tracking::KeyForm::Raw(key.raw_bytes()?))
        } else {
            key.key_form()
        }
    }
}

/// The label of a server in statistics: `host:port (weight)`, as
/// lovely.memcached shows it (`127.0.0.1:11211 (1)`).
pub fn server_label(addr: &ServerAddr, weight: u32) -> String {
    format!("{addr} ({weight})")
}

#[cfg(any(feature = "blocking", feature = "smol"))]
/// Wall-clock Unix seconds, rounded down.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(any(feature = "blocking", feature = "smol"))]
/// How a memcached error is treated: the caller's mistake (returned) or a
/// server failure (absorbed and reported).
pub(crate) fn is_callers_fault(e: &Error) -> bool {
    e.kind() == memwire_core::ErrorKind::Input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_defaults() {
        let c = CacheBuilder::new().config().unwrap();
        assert_eq!(c.client.servers.len(), 1);
        assert_eq!(
            server_label(&c.client.servers[0].0, c.client.servers[0].1),
            "127.0.0.1:11211 (1)"
        );
        assert_eq!(c.default_lifetime, 3600);
        assert_eq!(c.namespace, None);
        assert!(!c.track_keys);
        let c = CacheBuilder::new()
            .server("h:1")
            .weighted_server("h:2", 3)
            .default_lifetime(5)
            .namespace("n")
            .track_keys(true)
            .retry_after(Duration::from_millis(5))
            .config()
            .unwrap();
        assert_eq!(c.client.servers.len(), 2);
        assert_eq!(c.client.health.retry_after, Duration::from_millis(5));
        assert_eq!(
            (c.default_lifetime, c.namespace.as_deref(), c.track_keys),
            (5, Some("n"), true)
        );
        assert!(matches!(
            CacheBuilder::new().server("ftp://x").config(),
            Err(CacheError::Config(_))
        ));
    }
}
