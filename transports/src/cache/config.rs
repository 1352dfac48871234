//! [`CacheBuilder`]: the settings of a cache ([`CacheSettings`]) and of the
//! client under it, checked once, for a cache of any transport.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use memwire_core::client::{ClientBuilder, ClientConfig};
use memwire_core::cluster::HealthConfig;

use super::hook::{ErrorHook, Failure};
use super::CacheError;

/// Default server of a cache: `127.0.0.1:11211`.
pub const DEFAULT_SERVER: &str = "127.0.0.1:11211";
/// Default lifetime of cached values, in seconds: one hour.
pub const DEFAULT_LIFETIME: u32 = 3600;

/// What a cache adds to a client: lifetime, namespace, key tracking and
/// the error hook. The default is [`DEFAULT_LIFETIME`], no namespace, no
/// key tracking and no hook (absorbed failures are only counted).
#[derive(Clone)]
#[non_exhaustive]
pub struct CacheSettings {
    /// Lifetime of values set without one, in seconds (0 = no expiry).
    pub default_lifetime: u32,
    /// The default namespace.
    pub namespace: Option<String>,
    /// Whether keys are tracked.
    pub track_keys: bool,
    /// Receives absorbed failures.
    pub on_error: Option<ErrorHook>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            default_lifetime: DEFAULT_LIFETIME,
            namespace: None,
            track_keys: false,
            on_error: None,
        }
    }
}

impl fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSettings")
            .field("default_lifetime", &self.default_lifetime)
            .field("namespace", &self.namespace)
            .field("track_keys", &self.track_keys)
            .field("on_error", &self.on_error.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// A cache's complete, checked configuration: its client's and its own.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The client's configuration (servers, timeouts, health).
    pub client: ClientConfig,
    /// The cache's own settings.
    pub settings: CacheSettings,
}

/// A cache that can be built from a [`CacheConfig`]: the caches of every
/// transport (and [`CacheConfig`] itself).
pub trait FromCacheConfig: Sized {
    /// Build the cache; nothing connects until first use.
    ///
    /// # Errors
    ///
    /// [`CacheError::Config`] when the configuration is unusable.
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError>;
}

impl FromCacheConfig for CacheConfig {
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError> {
        Ok(config)
    }
}

/// Builds a cache `T` (by default just its [`CacheConfig`]). A cache's
/// `Cache::builder()` returns a `CacheBuilder<Cache>`, so `build()` needs
/// no annotation.
///
/// ```no_run
/// # #[cfg(feature = "blocking")] {
/// use std::time::Duration;
/// use memwire::cache::blocking::Cache;
///
/// let cache = Cache::builder()
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
pub struct CacheBuilder<T = CacheConfig> {
    /// Servers and timeouts; health and the default server are applied by
    /// [`CacheBuilder::config`].
    client: ClientBuilder,
    health: HealthConfig,
    settings: CacheSettings,
    _cache: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for CacheBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("client", &self.client)
            .field("health", &self.health)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<T> Clone for CacheBuilder<T> {
    fn clone(&self) -> Self {
        CacheBuilder {
            client: self.client.clone(),
            health: self.health,
            settings: self.settings.clone(),
            _cache: PhantomData,
        }
    }
}

impl<T> Default for CacheBuilder<T> {
    fn default() -> Self {
        CacheBuilder {
            client: ClientBuilder::new(),
            health: HealthConfig::default(),
            settings: CacheSettings::default(),
            _cache: PhantomData,
        }
    }
}

impl CacheBuilder {
    /// A builder of a plain [`CacheConfig`] with the defaults: server
    /// [`DEFAULT_SERVER`], [`CacheSettings::default`]. Turn it into a
    /// builder of a cache with [`CacheBuilder::cache`].
    pub fn new() -> Self {
        CacheBuilder::default()
    }
}

impl<T> CacheBuilder<T> {
    /// The same settings, building a `D` instead.
    pub fn cache<D>(self) -> CacheBuilder<D> {
        CacheBuilder {
            client: self.client,
            health: self.health,
            settings: self.settings,
            _cache: PhantomData,
        }
    }

    /// Add a server (weight 1): `memcached://host:port`, `host:port`,
    /// `host` or a unix socket path. Once any server is given, the default
    /// server is not used.
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
    /// no expiry). Beyond 30 days it counts from the time of each `set`,
    /// like shorter ones (memwire sends an absolute time).
    pub fn default_lifetime(mut self, seconds: u32) -> Self {
        self.settings.default_lifetime = seconds;
        self
    }

    /// The default namespace (default: none).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.settings.namespace = Some(namespace.into());
        self
    }

    /// Track keys so that `keys` can list them (default off).
    pub fn track_keys(mut self, on: bool) -> Self {
        self.settings.track_keys = on;
        self
    }

    /// The longest a down server is left alone before it is tried again
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

    /// Receive every failure the cache absorbs (default: none; failures
    /// are only counted, and with the feature `tracing` each is a warning
    /// event). Called on the thread or task that made the call;
    /// keep it short. [`stderr_hook`](super::stderr_hook) logs them.
    pub fn on_error(mut self, hook: impl Fn(&Failure<'_>) + Send + Sync + 'static) -> Self {
        self.settings.on_error = Some(std::sync::Arc::new(hook));
        self
    }

    /// The cache's own settings, for a cache on a client of your own
    /// (`Cache::with_client`); the client settings are dropped.
    pub fn settings(self) -> CacheSettings {
        self.settings
    }

    /// Parse and check everything.
    ///
    /// # Errors
    ///
    /// [`CacheError::Config`] for an address that does not parse or a zero
    /// timeout.
    pub fn config(self) -> Result<CacheConfig, CacheError> {
        let mut client = self.client.health(self.health);
        if client.server_list().is_empty() {
            client = client.server(DEFAULT_SERVER);
        }
        Ok(CacheConfig {
            client: client.config()?,
            settings: self.settings,
        })
    }

    /// Check everything and build the cache; nothing connects until first
    /// use.
    ///
    /// # Errors
    ///
    /// As [`CacheBuilder::config`].
    pub fn build(self) -> Result<T, CacheError>
    where
        T: FromCacheConfig,
    {
        T::from_cache_config(self.config()?)
    }

    fn with_client(mut self, change: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Self {
        self.client = change(self.client);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::server_label;

    #[test]
    fn builder_defaults() {
        let c = CacheBuilder::new().build().unwrap();
        assert_eq!(c.client.servers.len(), 1);
        assert_eq!(
            server_label(&c.client.servers[0].0, c.client.servers[0].1),
            "127.0.0.1:11211 (1)"
        );
        assert_eq!(c.settings.default_lifetime, 3600);
        assert_eq!(c.settings.namespace, None);
        assert!(!c.settings.track_keys);
        assert!(c.settings.on_error.is_none(), "silent by default");
        let c = CacheBuilder::new()
            .server("h:1")
            .weighted_server("h:2", 3)
            .default_lifetime(5)
            .namespace("n")
            .track_keys(true)
            .retry_after(Duration::from_millis(5))
            .failure_limit(7)
            .io_timeout(Duration::from_millis(9))
            .on_error(|_| {})
            .config()
            .unwrap();
        assert_eq!(c.client.servers.len(), 2);
        assert_eq!(c.client.health.retry_after, Duration::from_millis(5));
        assert_eq!(c.client.health.failure_limit, 7);
        assert_eq!(c.client.io_timeout, Duration::from_millis(9));
        let s = &c.settings;
        assert_eq!(
            (s.default_lifetime, s.namespace.as_deref(), s.track_keys),
            (5, Some("n"), true)
        );
        assert!(s.on_error.is_some());
        assert!(matches!(
            CacheBuilder::new().server("ftp://x").config(),
            Err(CacheError::Config(_))
        ));
    }

    #[test]
    fn a_typed_builder_builds_its_cache() {
        struct Fake(Option<String>);
        impl FromCacheConfig for Fake {
            fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError> {
                Ok(Fake(config.settings.namespace))
            }
        }
        let fake = CacheBuilder::new().namespace("x").cache::<Fake>().build();
        assert_eq!(fake.unwrap().0.as_deref(), Some("x"));
    }
}
