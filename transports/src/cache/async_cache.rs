//! [`AsyncCache`]: the high-level cache over any async client
//! ([`AsyncCommands`]): the same API as [`Cache`](super::Cache), with
//! `async` operations.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use memwire_core::client::{FromConfig, ServerMetrics};
use memwire_core::cluster::ServerAddr;
use memwire_core::{Error, Expiry, StatMap};

use super::codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
use super::config::{CacheBuilder, CacheConfig, CacheSettings, FromCacheConfig};
use super::plan::{label_stats, Next, RecordUpdate, Shared};
use super::scope::Scope;
use super::CacheError;
use crate::AsyncCommands;

/// An async high-level cache over any [`AsyncCommands`] client (see the
/// [module docs](super)): `cache::smol::Cache` and `cache::tokio::Cache`
/// are `AsyncCache`s of the smol and tokio clients. Its futures are `Send`
/// when the client is `Sync`.
///
/// `Send + Sync` when the client is, and cheap to clone: share it between
/// tasks.
///
/// ```no_run
/// # #[cfg(feature = "smol")] {
/// use memwire::cache::smol::Cache;
///
/// smol::block_on(async {
///     let cache = Cache::new()?; // 127.0.0.1:11211, lifetime 3600 s
///     let key = cache.set("cache_key", "cached value").await?;
///     assert_eq!(key, "188693688126b424eb89e1385eca6f01");
///     let v: Option<String> = cache.query("cache_key").await?;
///     cache.invalidate("cache_key").await?;
///     cache.ns("3").lifetime(1).set(5, &[1u8, 2]).await?;
///     Ok::<(), memwire::cache::CacheError>(())
/// })?;
/// # }
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub struct AsyncCache<C> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    client: C,
    shared: Shared,
}

impl<C> Clone for AsyncCache<C> {
    fn clone(&self) -> Self {
        AsyncCache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for AsyncCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCache")
            .field("client", &self.inner.client)
            .field("shared", &self.inner.shared)
            .finish()
    }
}

impl<C: AsyncCommands + FromConfig> FromCacheConfig for AsyncCache<C> {
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError> {
        let client = C::from_config(config.client)?;
        Ok(AsyncCache::with_client(client, config.settings))
    }
}

impl<C: AsyncCommands + FromConfig> AsyncCache<C> {
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

impl<C: AsyncCommands> AsyncCache<C> {
    /// A cache on a client you built (any [`AsyncCommands`] client).
    pub fn with_client(client: C, settings: CacheSettings) -> Self {
        AsyncCache {
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
    /// [`Commands::server_metrics`](crate::Commands::server_metrics)).
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio")]
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use memwire::cache::tokio::Cache;
    ///
    /// let cache = Cache::builder().server("127.0.0.1:11211").build()?;
    /// let _: Option<String> = cache.query("k").await?;
    /// let timeouts: u64 = cache.server_metrics().iter().map(|(_, m)| m.timeouts).sum();
    /// # let _ = timeouts;
    /// # Ok(())
    /// # }
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

    /// Store `value` under `key` for the default lifetime; returns the
    /// memcached key used. As [`Cache::set`](super::Cache::set).
    ///
    /// # Errors
    ///
    /// As [`Cache::set`](super::Cache::set).
    pub async fn set(
        &self,
        key: impl CacheKey,
        value: impl CacheValue,
    ) -> Result<String, CacheError> {
        self.scope().set(key, value).await
    }

    /// The value under `key`, or `None`. As [`Cache::query`](super::Cache::query).
    ///
    /// # Errors
    ///
    /// As [`Cache::query`](super::Cache::query).
    pub async fn query<V: FromCacheValue>(
        &self,
        key: impl CacheKey,
    ) -> Result<Option<V>, CacheError> {
        self.scope().query(key).await
    }

    /// The value under `key`, or the one `compute` makes, with many callers
    /// (tasks, threads, processes) sharing one recompute. As
    /// [`Cache::get_or_compute`](super::Cache::get_or_compute).
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_compute`](super::Cache::get_or_compute).
    pub async fn get_or_compute<V, E>(
        &self,
        key: impl CacheKey,
        compute: impl Future<Output = Result<V, E>> + Send,
    ) -> Result<V, CacheError>
    where
        C: Sync,
        V: CacheValue + FromCacheValue + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.scope().get_or_compute(key, compute).await
    }

    /// Remove `key`. As [`Cache::invalidate`](super::Cache::invalidate).
    ///
    /// # Errors
    ///
    /// As [`Cache::invalidate`](super::Cache::invalidate).
    pub async fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        self.scope().invalidate(key).await
    }

    /// The live keys of the default namespace. As [`Cache::keys`](super::Cache::keys).
    ///
    /// # Errors
    ///
    /// As [`Cache::keys`](super::Cache::keys).
    pub async fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        self.scope().keys().await
    }

    /// Flush every server: every key of every namespace (and of every
    /// other user of those servers) is gone. Failures go to the hook.
    pub async fn invalidate_all(&self) {
        let results = self.inner.client.flush_all().await;
        self.inner.shared.flush_done(results);
    }

    /// General statistics of each server, labelled `host:port (weight)`,
    /// in configuration order.
    pub async fn statistics(&self) -> Vec<(String, Result<StatMap, Error>)> {
        let client = &self.inner.client;
        let stats = client.stats().await;
        label_stats(&client.router(), stats)
    }

    /// Run a key-record update to the end; failures go to the hook.
    async fn track(&self, mut update: RecordUpdate) {
        let result = self.update_record(&mut update).await;
        self.inner.shared.record_done(&update, result);
    }

    async fn update_record(&self, update: &mut RecordUpdate) -> Result<(), CacheError> {
        let client = &self.inner.client;
        loop {
            let found = client.gets(update.record_key()).await;
            let Some(store) = update.store_for(found, SystemTime::now())? else {
                return Ok(());
            };
            match update.stored(client.store(store).await)? {
                Next::Done => return Ok(()),
                // No timer without knowing the runtime: let the other
                // writers run before trying again.
                Next::Retry(wait) if !wait.is_zero() => YieldNow(false).await,
                Next::Retry(_) => {}
            }
        }
    }
}

impl<C: AsyncCommands> Scope<'_, AsyncCache<C>> {
    /// Store `value` under `key` and return the memcached key used. As
    /// [`Cache::set`](super::Cache::set).
    ///
    /// # Errors
    ///
    /// As [`Cache::set`](super::Cache::set).
    pub async fn set(
        &self,
        key: impl CacheKey,
        value: impl CacheValue,
    ) -> Result<String, CacheError> {
        let (store, after) = self
            .shared
            .plan_set(&self.options, &key, value, SystemTime::now())?;
        let result = self.cache.client().store(store).await;
        let (mkey, update) = self.shared.set_done(after, result)?;
        if let Some(update) = update {
            self.cache.track(update).await;
        }
        Ok(mkey)
    }

    /// The value under `key` decoded as `V`, or `None`. As [`Cache::query`](super::Cache::query).
    ///
    /// # Errors
    ///
    /// As [`Cache::query`](super::Cache::query).
    pub async fn query<V: FromCacheValue>(
        &self,
        key: impl CacheKey,
    ) -> Result<Option<V>, CacheError> {
        let mkey = self.shared.memcached_key(&self.options, &key)?;
        let result = self.cache.client().get(&mkey).await;
        self.shared.query_done(&mkey, result)
    }

    /// As [`AsyncCache::get_or_compute`], in this scope.
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_compute`](super::Cache::get_or_compute).
    pub async fn get_or_compute<V, E>(
        &self,
        key: impl CacheKey,
        compute: impl Future<Output = Result<V, E>> + Send,
    ) -> Result<V, CacheError>
    where
        C: Sync,
        V: CacheValue + FromCacheValue + Send,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (mkey, recache, track) =
            self.shared
                .plan_compute(&self.options, &key, SystemTime::now())?;
        let computed = std::sync::atomic::AtomicBool::new(false);
        let computing = async {
            computed.store(true, std::sync::atomic::Ordering::Relaxed);
            Shared::encode_computed(compute.await)
        };
        let result = self
            .cache
            .client()
            .get_or_compute(&mkey, &recache, computing)
            .await;
        let value = self.shared.compute_done(result)?;
        if let (true, Some(update)) = (computed.into_inner(), track) {
            self.cache.track(update).await;
        }
        Ok(value)
    }

    /// Remove `key` and its tracked entry. As [`Cache::invalidate`](super::Cache::invalidate).
    ///
    /// # Errors
    ///
    /// As [`Cache::invalidate`](super::Cache::invalidate).
    pub async fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        let after = self.shared.plan_invalidate(&self.options, &key)?;
        let result = self.cache.client().delete(after.mkey()).await;
        if let Some(update) = self.shared.invalidate_done(after, result)? {
            self.cache.track(update).await;
        }
        Ok(())
    }

    /// The live keys of the namespace. As [`Cache::keys`](super::Cache::keys).
    ///
    /// # Errors
    ///
    /// As [`Cache::keys`](super::Cache::keys).
    pub async fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        let rkey = self.shared.keys_record(&self.options)?;
        let result = self.cache.client().get(&rkey).await;
        self.shared.keys_done(&rkey, result, SystemTime::now())
    }
}

/// Pending once, waking itself at once: lets the executor run other tasks,
/// on any runtime.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
