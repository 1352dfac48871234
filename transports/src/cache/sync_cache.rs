//! [`Cache`]: the high-level cache over any blocking client
//! ([`Commands`]).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use memwire_core::client::{FromConfig, ServerMetrics};
use memwire_core::cluster::ServerAddr;
use memwire_core::{Error, Expiry, StatMap};

use super::codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
use super::config::{CacheBuilder, CacheConfig, CacheSettings, FromCacheConfig};
use super::plan::{label_stats, Next, RecordUpdate, Shared};
use super::scope::Scope;
use super::CacheError;
use crate::Commands;

/// A blocking high-level cache over any [`Commands`] client (see the
/// [module docs](super)): `Cache<memwire::blocking::Client>` is
/// `cache::blocking::Cache`; `Cache<memwire::mio::Client>` works the same.
///
/// `Send + Sync` when the client is, and cheap to clone: share it between
/// threads.
///
/// ```no_run
/// # #[cfg(feature = "blocking")] {
/// use memwire::cache::blocking::Cache;
///
/// let cache = Cache::new()?; // 127.0.0.1:11211, lifetime 3600 s
/// let key = cache.set("cache_key", "cached value")?;
/// assert_eq!(key, "188693688126b424eb89e1385eca6f01");
/// let v: Option<String> = cache.query("cache_key")?;
/// cache.invalidate("cache_key")?;
///
/// // Per call: another namespace, a lifetime, a raw key.
/// cache.ns("3").lifetime(1).set(5, &[1u8, 2])?;
/// assert_eq!(cache.raw().ns("NS_").set("a", "value of a")?, "NS_a");
/// # }
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub struct Cache<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    client: C,
    shared: Shared,
}

impl<C> Clone for Cache<C> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for Cache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("client", &self.inner.client)
            .field("shared", &self.inner.shared)
            .finish()
    }
}

impl<C: Commands + FromConfig> FromCacheConfig for Cache<C> {
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError> {
        let client = C::from_config(config.client)?;
        Ok(Cache::with_client(client, config.settings))
    }
}

impl<C: Commands + FromConfig> Cache<C> {
    /// A cache with the defaults: server `127.0.0.1:11211`, lifetime
    /// 3600 s, no namespace, no key tracking, no error hook.
    ///
    /// # Errors
    ///
    /// Never in practice (the defaults are valid).
    pub fn new() -> Result<Self, CacheError> {
        Self::builder().build()
    }

    /// A builder for servers, lifetime, namespace, key tracking, the error
    /// hook and client settings.
    pub fn builder() -> CacheBuilder<Self> {
        CacheBuilder::default()
    }
}

impl<C: Commands> Cache<C> {
    /// A cache on a client you built (any [`Commands`] client).
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")] {
    /// use memwire::cache::{Cache, CacheBuilder};
    ///
    /// let client = memwire::blocking::Client::new(["127.0.0.1:11211"])?;
    /// let cache = Cache::with_client(client, CacheBuilder::new().namespace("app").settings());
    /// cache.set(1, "one")?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_client(client: C, settings: CacheSettings) -> Self {
        Cache {
            inner: Arc::new(Inner {
                client,
                shared: Shared::new(settings),
            }),
        }
    }

    // ---- getters ----

    /// The client underneath, for anything the cache does not offer.
    pub fn client(&self) -> &C {
        &self.inner.client
    }

    /// The servers, as `host:port` (or socket paths).
    pub fn servers(&self) -> Vec<String> {
        let servers = self.inner.client.servers();
        servers.iter().map(ToString::to_string).collect()
    }

    /// Replace the servers (lovely.memcached's `util.servers = [...]`),
    /// each with weight 1, while the cache is in use: connections to
    /// servers that stay are kept, and keys move as ketama says, so values
    /// stored on a server that left are out of reach until it is back.
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")] {
    /// use memwire::cache::blocking::Cache;
    ///
    /// let util = Cache::builder().server("127.0.0.1:11211").build()?;
    /// util.set_servers(["127.0.0.1:11211", "127.0.0.1:11212"])?;
    /// assert_eq!(util.servers().len(), 2);
    /// # }
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// ```
    /// # Errors
    ///
    /// [`CacheError::Config`] for an empty list or an address that does
    /// not parse; the servers are then unchanged.
    pub fn set_servers<S: AsRef<str>>(
        &self,
        servers: impl IntoIterator<Item = S>,
    ) -> Result<(), CacheError> {
        Ok(self.inner.client.set_servers(servers)?)
    }

    /// Lifetime of values set without one, in seconds.
    pub fn default_lifetime(&self) -> u32 {
        self.inner.shared.settings().default_lifetime
    }

    /// The default namespace.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.shared.settings().namespace.as_deref()
    }

    /// Whether keys are tracked.
    pub fn tracks_keys(&self) -> bool {
        self.inner.shared.settings().track_keys
    }

    /// How many failures the cache has absorbed (and handed to the hook)
    /// since it was built: a metric.
    pub fn failures(&self) -> u64 {
        self.inner.shared.failures()
    }

    /// What the client underneath did with each server: requests, errors
    /// by kind, connections, bytes (see
    /// [`Commands::server_metrics`]).
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")] {
    /// use memwire::cache::blocking::Cache;
    ///
    /// let cache = Cache::builder().server("127.0.0.1:11211").build()?;
    /// let _: Option<String> = cache.query("k")?;
    /// for (server, m) in cache.server_metrics() {
    ///     println!("{server}: {} requests, {} absorbed failures", m.requests, cache.failures());
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn server_metrics(&self) -> Vec<(ServerAddr, ServerMetrics)> {
        self.inner.client.server_metrics()
    }

    // ---- per-call settings ----

    /// Use `namespace` instead of the default one for the next call.
    pub fn ns(&self, namespace: impl Into<String>) -> Scope<'_, Self> {
        self.scope().ns(namespace)
    }

    /// Use no namespace for the next call.
    pub fn no_ns(&self) -> Scope<'_, Self> {
        self.scope().no_ns()
    }

    /// Store with this lifetime in seconds (0 = no expiry).
    pub fn lifetime(&self, seconds: u32) -> Scope<'_, Self> {
        self.scope().lifetime(seconds)
    }

    /// Store with this [`Expiry`].
    pub fn expiry(&self, expiry: impl Into<Expiry>) -> Scope<'_, Self> {
        self.scope().expiry(expiry)
    }

    /// Use the key as is (namespace prepended) instead of hashing it.
    pub fn raw(&self) -> Scope<'_, Self> {
        self.scope().raw()
    }

    /// The memcached key of `key` (see [`Scope::memcached_key`]).
    ///
    /// # Errors
    ///
    /// See [`Scope::memcached_key`].
    pub fn memcached_key(&self, key: impl CacheKey) -> Result<String, CacheError> {
        self.scope().memcached_key(key)
    }

    fn scope(&self) -> Scope<'_, Self> {
        Scope::new(self, &self.inner.shared)
    }

    // ---- operations ----

    /// Store `value` under `key` and return the memcached key used (the
    /// md5 hex of namespace and key, or the raw key). When a server fails,
    /// nothing is stored, the failure goes to the hook and the key is
    /// still returned. With key tracking, the key is added to its
    /// namespace's record with the value's expiry.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Encode`]
    /// when key or value cannot be encoded, [`CacheError::Request`] for a
    /// value over the client's size limit or an expiry memcached cannot
    /// take.
    pub fn set(&self, key: impl CacheKey, value: impl CacheValue) -> Result<String, CacheError> {
        self.scope().set(key, value)
    }

    /// The value under `key` decoded as `V`, or `None` when absent, expired
    /// or unreachable (the failure goes to the hook).
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Decode`]
    /// when the stored value does not decode as `V`.
    pub fn query<V: FromCacheValue>(&self, key: impl CacheKey) -> Result<Option<V>, CacheError> {
        self.scope().query(key)
    }

    /// The value under `key`, or the one `compute` makes, with many callers
    /// (threads, processes, other clients of the same servers) sharing one
    /// recompute: see [`Commands::get_or_compute`]. The value lives for the
    /// cache's (or the scope's) lifetime; with key tracking, the caller
    /// that computes records the key. Needs memcached 1.6+ (meta protocol).
    ///
    /// ```no_run
    /// # fn f(cache: &memwire::cache::Cache<impl memwire::Commands>) -> Result<(), memwire::cache::CacheError> {
    /// let report: String = cache.get_or_compute("daily-report", || {
    ///     Ok::<_, std::io::Error>("computed once, whoever asks".to_string())
    /// })?;
    /// # let _ = report; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CacheError::Compute`] when this caller's recompute failed with
    /// nothing stale to serve; [`CacheError::Request`] when another
    /// caller's recompute did not finish in time; key and value errors as
    /// [`Cache::set`].
    pub fn get_or_compute<V, E>(
        &self,
        key: impl CacheKey,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, CacheError>
    where
        V: CacheValue + FromCacheValue,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.scope().get_or_compute(key, compute)
    }

    /// Remove `key` (absent is fine) and, with key tracking, its entry in
    /// the namespace's record. Failures go to the hook.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Encode`]
    /// when the key cannot be encoded.
    pub fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        self.scope().invalidate(key)
    }

    /// The live keys of the namespace, as set by any thread or process
    /// using the same servers, in the order they were first set. Expired
    /// and invalidated keys are not listed. While the record's server is
    /// unreachable the list is empty (the failure goes to the hook).
    ///
    /// # Errors
    ///
    /// [`CacheError::KeysNotTracked`] without key tracking;
    /// [`CacheError::Decode`] when a key does not decode as `K` (keys of
    /// several types in one namespace: ask for a type they all fit).
    pub fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        self.scope().keys()
    }

    /// Flush every server: every key of every namespace (and of every
    /// other user of those servers) is gone. Failures go to the hook.
    pub fn invalidate_all(&self) {
        let results = self.inner.client.flush_all();
        self.inner.shared.flush_done(results);
    }

    /// General statistics of each server, labelled `host:port (weight)`,
    /// in configuration order.
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")] {
    /// # let cache = memwire::cache::blocking::Cache::new()?;
    /// for (server, stats) in cache.statistics() {
    ///     println!("{server}: {:?}", stats.map(|s| s.get("total_items").cloned()));
    /// }
    /// # }
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// ```
    pub fn statistics(&self) -> Vec<(String, Result<StatMap, Error>)> {
        let client = &self.inner.client;
        label_stats(&client.router(), client.stats())
    }

    /// Run a key-record update to the end; failures go to the hook.
    fn track(&self, mut update: RecordUpdate) {
        let result = self.update_record(&mut update);
        self.inner.shared.record_done(&update, result);
    }

    fn update_record(&self, update: &mut RecordUpdate) -> Result<(), CacheError> {
        let client = &self.inner.client;
        loop {
            let found = client.gets(update.record_key());
            let Some(store) = update.store_for(found, SystemTime::now())? else {
                return Ok(());
            };
            match update.stored(client.store(store))? {
                Next::Done => return Ok(()),
                Next::Retry(wait) => std::thread::sleep(wait),
            }
        }
    }
}

impl<C: Commands> Scope<'_, Cache<C>> {
    /// As [`Cache::set`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::set`].
    pub fn set(&self, key: impl CacheKey, value: impl CacheValue) -> Result<String, CacheError> {
        let (store, after) = self
            .shared
            .plan_set(&self.options, &key, value, SystemTime::now())?;
        let result = self.cache.client().store(store);
        let (mkey, update) = self.shared.set_done(after, result)?;
        if let Some(update) = update {
            self.cache.track(update);
        }
        Ok(mkey)
    }

    /// As [`Cache::query`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::query`].
    pub fn query<V: FromCacheValue>(&self, key: impl CacheKey) -> Result<Option<V>, CacheError> {
        let mkey = self.shared.memcached_key(&self.options, &key)?;
        let result = self.cache.client().get(&mkey);
        self.shared.query_done(&mkey, result)
    }

    /// As [`Cache::get_or_compute`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_compute`].
    pub fn get_or_compute<V, E>(
        &self,
        key: impl CacheKey,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, CacheError>
    where
        V: CacheValue + FromCacheValue,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (mkey, recache, track) =
            self.shared
                .plan_compute(&self.options, &key, SystemTime::now())?;
        let mut computed = false;
        let result = self.cache.client().get_or_compute(&mkey, &recache, || {
            computed = true;
            Shared::encode_computed(compute())
        });
        let value = self.shared.compute_done(result)?;
        if let (true, Some(update)) = (computed, track) {
            self.cache.track(update);
        }
        Ok(value)
    }

    /// As [`Cache::invalidate`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::invalidate`].
    pub fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        let after = self.shared.plan_invalidate(&self.options, &key)?;
        let result = self.cache.client().delete(after.mkey());
        if let Some(update) = self.shared.invalidate_done(after, result)? {
            self.cache.track(update);
        }
        Ok(())
    }

    /// As [`Cache::keys`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::keys`].
    pub fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        let rkey = self.shared.keys_record(&self.options)?;
        let result = self.cache.client().get(&rkey);
        self.shared.keys_done(&rkey, result, SystemTime::now())
    }
}
