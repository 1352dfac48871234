//! The async [`Cache`] for smol, on [`crate::smol::Client`]: the same API
//! as `blocking::Cache`, with `async` operations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memwire_core::{Command, Error, StatMap};

use super::codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
use super::keys;
use super::tracking::{expires_at, KeyForm, Record};
use super::{
    is_callers_fault, server_label, unix_now, CacheBuilder, CacheConfig, CacheError, CallOptions,
    Failure, FromCacheConfig, Operation,
};
use crate::smol::Client;

/// Most read-modify-write attempts on a key-tracking record before giving
/// up (each conflict means another writer succeeded).
const MAX_RECORD_ATTEMPTS: u32 = 200;

/// An async high-level cache for smol (see the [module docs](super)).
///
/// `Send + Sync` and cheap to clone: share it between threads.
///
/// ```no_run
/// # #[cfg(feature = "serde")] {
/// use memwire::cache::smol::Cache;
///
/// smol::block_on(async {
///     let cache = Cache::new()?; // 127.0.0.1:11211, lifetime 3600 s
///     let key = cache.set("cache_key", "cached value").await?;
///     assert_eq!(key, "188693688126b424eb89e1385eca6f01");
///     let v: Option<String> = cache.query("cache_key").await?;
///     cache.invalidate("cache_key").await?;
///     cache.ns("3").lifetime(1).set(5, &[1, 2]).await?;
///     Ok::<(), memwire::cache::CacheError>(())
/// })?;
/// # }
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: CacheConfig,
    failures: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("failures", &self.failures)
            .finish()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cache>();
};

impl FromCacheConfig for Cache {
    fn from_cache_config(config: CacheConfig) -> Result<Self, CacheError> {
        let client = Client::with_config(config.client.clone())?;
        Ok(Cache {
            inner: Arc::new(Inner {
                client,
                config,
                failures: AtomicU64::new(0),
            }),
        })
    }
}

/// A [`Cache`] with per-call settings: namespace, lifetime, raw keys.
/// Made by [`Cache::ns`], [`Cache::no_ns`], [`Cache::lifetime`] and
/// [`Cache::raw`]; the settings combine (`cache.ns("x").raw()`).
#[derive(Debug, Clone)]
#[must_use = "a Scope does nothing until one of its operations is called"]
pub struct Scope<'a> {
    cache: &'a Cache,
    options: CallOptions,
}

impl Cache {
    // ---- construction ----

    /// A cache with the defaults: server `127.0.0.1:11211`, lifetime
    /// 3600 s, no namespace, no key tracking.
    ///
    /// # Errors
    ///
    /// Never in practice (the defaults are valid).
    pub fn new() -> Result<Cache, CacheError> {
        CacheBuilder::new().build()
    }

    /// A builder for servers, lifetime, namespace, key tracking, the error
    /// hook and client settings.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::new()
    }

    // ---- getters ----

    /// The servers, as `host:port` (or socket paths).
    pub fn servers(&self) -> Vec<String> {
        self.inner
            .client
            .servers()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Lifetime of values set without one, in seconds.
    pub fn default_lifetime(&self) -> u32 {
        self.inner.config.default_lifetime
    }

    /// The default namespace.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.config.namespace.as_deref()
    }

    /// Whether keys are tracked.
    pub fn tracks_keys(&self) -> bool {
        self.inner.config.track_keys
    }

    /// How many failures the cache has absorbed (and reported to the hook)
    /// since it was built: a metric.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The client underneath, for anything the cache does not offer.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    // ---- per-call settings ----

    /// Use `namespace` instead of the default one for the next call.
    pub fn ns(&self, namespace: &str) -> Scope<'_> {
        self.scope().ns(namespace)
    }

    /// Use no namespace for the next call.
    pub fn no_ns(&self) -> Scope<'_> {
        self.scope().no_ns()
    }

    /// Store with this lifetime (seconds; 0 = no expiry).
    pub fn lifetime(&self, seconds: u32) -> Scope<'_> {
        self.scope().lifetime(seconds)
    }

    /// Use the key as is (namespace prepended) instead of hashing it.
    pub fn raw(&self) -> Scope<'_> {
        self.scope().raw()
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            cache: self,
            options: CallOptions::default(),
        }
    }

    // ---- operations ----

    /// Store `value` under `key` for the default lifetime; returns the
    /// memcached key used. See [`Scope::set`].
    ///
    /// # Errors
    ///
    /// See [`Scope::set`].
    pub async fn set(
        &self,
        key: impl CacheKey,
        value: impl CacheValue,
    ) -> Result<String, CacheError> {
        self.scope().set(key, value).await
    }

    /// The value under `key`, or `None`. See [`Scope::query`].
    ///
    /// # Errors
    ///
    /// See [`Scope::query`].
    pub async fn query<V: FromCacheValue>(
        &self,
        key: impl CacheKey,
    ) -> Result<Option<V>, CacheError> {
        self.scope().query(key).await
    }

    /// Remove `key`. See [`Scope::invalidate`].
    ///
    /// # Errors
    ///
    /// See [`Scope::invalidate`].
    pub async fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        self.scope().invalidate(key).await
    }

    /// The live keys of the default namespace. See [`Scope::keys`].
    ///
    /// # Errors
    ///
    /// See [`Scope::keys`].
    pub async fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        self.scope().keys().await
    }

    /// Flush every server: every key of every namespace (and of every
    /// other user of those servers) is gone. Failures go to the hook.
    pub async fn invalidate_all(&self) {
        for (addr, result) in self.inner.client.flush_all().await {
            if let Err(e) = result {
                self.report(
                    Operation::InvalidateAll,
                    &addr.to_string(),
                    CacheError::Request(e),
                );
            }
        }
    }

    /// General statistics of each server, labelled `host:port (weight)`,
    /// in configuration order.
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// # let cache = memwire::cache::smol::Cache::new()?;
    /// for (server, stats) in cache.statistics().await {
    ///     println!("{server}: {:?}", stats.map(|s| s.get("total_items").cloned()));
    /// }
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// # })?;
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// ```
    pub async fn statistics(&self) -> Vec<(String, Result<StatMap, Error>)> {
        let weights = &self.inner.config.client.servers;
        self.inner
            .client
            .stats()
            .await
            .into_iter()
            .zip(weights)
            .map(|((addr, stats), (_, weight))| (server_label(&addr, *weight), stats))
            .collect()
    }

    // ---- internals ----

    fn report(&self, operation: Operation, key: &str, error: CacheError) {
        self.inner.failures.fetch_add(1, Ordering::Relaxed);
        (self.inner.config.on_error)(&Failure {
            operation,
            key,
            error: &error,
        });
    }

    /// Handle a client error: the caller's mistake is returned, anything
    /// else is reported and absorbed.
    fn absorb(&self, operation: Operation, key: &str, e: Error) -> Result<(), CacheError> {
        if is_callers_fault(&e) {
            return Err(CacheError::Request(e));
        }
        self.report(operation, key, CacheError::Request(e));
        Ok(())
    }

    /// Read-modify-write the tracking record of `namespace` with `change`
    /// (which returns false when nothing changed), with `gets` + `cas`.
    async fn update_record(
        &self,
        namespace: Option<&str>,
        change: impl Fn(&mut Record, u64) -> bool,
    ) -> Result<(), CacheError> {
        let client = &self.inner.client;
        let key = keys::tracking_key(namespace);
        for attempt in 0..MAX_RECORD_ATTEMPTS {
            if attempt > 2 {
                // Several writers collide: back off a little, differently
                // per attempt, so one of them gets through.
                ::smol::Timer::after(Duration::from_micros(u64::from(attempt % 17) * 50)).await;
            }
            let now = unix_now();
            let found = client.gets(&key).await.map_err(CacheError::Request)?;
            let (mut record, cas) = match found {
                None => (Record::default(), None),
                Some(v) => (
                    Record::parse(&v.data).map_err(|e| CacheError::Tracking(e.to_string()))?,
                    v.cas,
                ),
            };
            if !change(&mut record, now) {
                return Ok(());
            }
            let data = record.encode();
            let stored = match cas {
                None => client.store(Command::add(key.clone(), data)).await,
                Some(cas) => client.cas(&key, data, cas).await,
            };
            match stored {
                Ok(()) => return Ok(()),
                Err(Error::NotStored | Error::Exists | Error::NotFound) => continue,
                Err(e) => return Err(CacheError::Request(e)),
            }
        }
        Err(CacheError::Tracking(format!(
            "record {key} still contended after {MAX_RECORD_ATTEMPTS} attempts"
        )))
    }
}

impl<'a> Scope<'a> {
    /// Use `namespace` instead of the cache's default one.
    pub fn ns(mut self, namespace: &str) -> Self {
        self.options.namespace = Some(Some(namespace.to_owned()));
        self
    }

    /// Use no namespace.
    pub fn no_ns(mut self) -> Self {
        self.options.namespace = Some(None);
        self
    }

    /// Store with this lifetime (seconds; 0 = no expiry; above 30 days an
    /// absolute Unix time).
    pub fn lifetime(mut self, seconds: u32) -> Self {
        self.options.lifetime = Some(seconds);
        self
    }

    /// Use the key as is, with the namespace prepended, instead of hashing
    /// it. The key must be a string (or bytes) that makes a valid memcached
    /// key.
    pub fn raw(mut self) -> Self {
        self.options.raw = true;
        self
    }

    fn namespace(&self) -> Option<&str> {
        self.options.namespace(self.cache.namespace())
    }

    fn memcached_key(&self, key: &impl CacheKey) -> Result<String, CacheError> {
        self.options.memcached_key(self.namespace(), key)
    }

    fn key_form(&self, key: &impl CacheKey) -> Result<KeyForm, CacheError> {
        self.options.key_form(key)
    }

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
    /// value over the client's size limit.
    pub async fn set(
        &self,
        key: impl CacheKey,
        value: impl CacheValue,
    ) -> Result<String, CacheError> {
        let cache = self.cache;
        let mkey = self.memcached_key(&key)?;
        let form = if cache.tracks_keys() {
            Some(self.key_form(&key)?)
        } else {
            None
        };
        let encoded = value.encode_value()?;
        let lifetime = self.options.lifetime.unwrap_or(cache.default_lifetime());
        let store = Command::set(mkey.clone(), encoded.data)
            .flags(encoded.flags)
            .exptime(lifetime);
        match cache.inner.client.store(store).await {
            Ok(()) => {
                if let Some(form) = form {
                    // Rounded up: the entry outlives the item by < 1 s,
                    // never the reverse.
                    let expires = expires_at(lifetime, unix_now() + 1);
                    let updated = cache
                        .update_record(self.namespace(), |record, now| {
                            record.insert(form.clone(), expires, now);
                            true
                        })
                        .await;
                    if let Err(e) = updated {
                        cache.report(Operation::TrackKeys, &mkey, e);
                    }
                }
            }
            Err(e) => cache.absorb(Operation::Set, &mkey, e)?,
        }
        Ok(mkey)
    }

    /// The value under `key` decoded as `V`, or `None` when absent, expired
    /// or unreachable (the failure goes to the hook).
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Decode`]
    /// when the stored value does not decode as `V`.
    pub async fn query<V: FromCacheValue>(
        &self,
        key: impl CacheKey,
    ) -> Result<Option<V>, CacheError> {
        let mkey = self.memcached_key(&key)?;
        match self.cache.inner.client.get(&mkey).await {
            Ok(Some(v)) => V::decode_value(v.flags, v.data).map(Some),
            Ok(None) => Ok(None),
            Err(e) => {
                self.cache.absorb(Operation::Query, &mkey, e)?;
                Ok(None)
            }
        }
    }

    /// Remove `key` (absent is fine) and, with key tracking, its entry in
    /// the namespace's record. Failures go to the hook.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] for a bad raw key, [`CacheError::Encode`]
    /// when the key cannot be encoded.
    pub async fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
        let cache = self.cache;
        let mkey = self.memcached_key(&key)?;
        match cache.inner.client.delete(&mkey).await {
            Ok(()) | Err(Error::NotFound) => {}
            Err(e) => cache.absorb(Operation::Invalidate, &mkey, e)?,
        }
        if cache.tracks_keys() {
            let form = self.key_form(&key)?;
            let removed = cache
                .update_record(self.namespace(), |r, now| r.remove(&form, now))
                .await;
            if let Err(e) = removed {
                cache.report(Operation::TrackKeys, &mkey, e);
            }
        }
        Ok(())
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
    pub async fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
        let cache = self.cache;
        if !cache.tracks_keys() {
            return Err(CacheError::KeysNotTracked);
        }
        let rkey = keys::tracking_key(self.namespace());
        let record = match cache.inner.client.get(&rkey).await {
            Ok(None) => return Ok(Vec::new()),
            Ok(Some(v)) => match Record::parse(&v.data) {
                Ok(r) => r,
                Err(e) => {
                    cache.report(Operation::Keys, &rkey, CacheError::Tracking(e.to_string()));
                    return Ok(Vec::new());
                }
            },
            Err(e) => {
                cache.absorb(Operation::Keys, &rkey, e)?;
                return Ok(Vec::new());
            }
        };
        record
            .live(unix_now())
            .map(|e| K::from_key_form(&e.key))
            .collect()
    }
}
