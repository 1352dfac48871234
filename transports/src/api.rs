//! The public method surfaces of the clients and caches, each written once
//! for every transport, blocking or async.
//!
//! [`client_api!`] generates the memcached methods of a client (`get`,
//! `set`, `stats`, ...) on top of one primitive, blocking or async, that
//! each transport writes itself:
//!
//! ```text
//! /// Run `(server, command)` requests; one result per request, in order.
//! fn run(&self, requests: Vec<(usize, Command)>) -> Vec<Result<Response, Error>>;
//! ```
//!
//! and of `self.inner.config` (a [`ClientConfig`](crate::common::ClientConfig))
//! and `self.inner.cluster` (its [`Cluster`](memwire_core::cluster::Cluster)).
//! With `async: { async await ... }` every method is an `async fn` and `run`
//! must be one too. Invoke it inside the transport's `impl Client` block,
//! before anything transport-specific (`close`, `run`, ...).
//!
//! [`cache_api!`] generates a whole cache module (`Cache`, `Scope`) over
//! a client made by [`client_api!`].

/// Generate the methods `new`, `builder`, ..., `stats_reset` of `Client`
/// (invoked inside its `impl` block), plus the private helpers `keyed`,
/// `all`, `stats_of` and `retrieve_multi`, over the transport's `run`.
///
/// * `example_client`: the client's path in the doc examples;
/// * `lazily`: what `new` says about connecting;
/// * `get_multi_sends`: how `get_multi` sends its requests;
/// * `async` (optional): `{ async await "<example opening>" "<example
///   closing>" }` for an async client.
macro_rules! client_api {
    // One storage method: `$mode` is both its name and its `Command`.
    (@store $([$async:tt $await:tt])? $(#[$doc:meta])* fn $mode:ident;) => {
        $(#[$doc])*
        pub $($async)? fn $mode(
            &self,
            key: impl AsRef<[u8]>,
            value: impl Into<bytes::Bytes>,
        ) -> Result<(), memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            self.store(memwire_core::Command::$mode(key, value))$(.$await)?
        }
    };
    (
        example_client: $client:literal,
        lazily: $lazily:literal,
        get_multi_sends: $sends:literal,
        $(async: { $async:tt $await:tt $open:literal $close:literal },)?
    ) => {
        // ---- construction ----

        /// A client for `servers` with default settings. Each server is
        /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
        #[doc = concat!("socket path. ", $lazily)]
        ///
        /// # Errors
        ///
        /// [`ConfigError`](crate::common::ConfigError) for an empty list or an
        /// address that does not parse.
        pub fn new<I, S>(servers: I) -> Result<Client, $crate::common::ConfigError>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            $crate::common::ClientBuilder::new().servers(servers).build()
        }

        /// A builder for timeouts, weights, limits and health settings; finish
        /// with [`ClientBuilder::build`](crate::common::ClientBuilder::build).
        pub fn builder() -> $crate::common::ClientBuilder {
            $crate::common::ClientBuilder::new()
        }

        /// A client from a ready configuration.
        ///
        /// # Errors
        ///
        /// [`ConfigError::NoServers`](crate::common::ConfigError::NoServers) when it has no server.
        pub fn with_config(
            config: $crate::common::ClientConfig,
        ) -> Result<Client, $crate::common::ConfigError> {
            <Client as $crate::common::FromConfig>::from_config(config)
        }

        // ---- getters ----

        /// The servers, in configuration order.
        pub fn servers(&self) -> &[memwire_core::cluster::ServerAddr] {
            self.inner.cluster.servers()
        }

        /// The configuration in use.
        pub fn config(&self) -> &$crate::common::ClientConfig {
            &self.inner.config
        }

        /// The server that owns `key`.
        pub fn server_for_key(
            &self,
            key: impl AsRef<[u8]>,
        ) -> &memwire_core::cluster::ServerAddr {
            let servers = self.inner.cluster.servers();
            let i = self.inner.cluster.server_for_key(key.as_ref());
            // The cluster's index is always in range; fall back to the first.
            servers.get(i).unwrap_or(&servers[0])
        }

        // ---- retrieval ----

        /// `get`: the item, or `None` on a miss.
        ///
        /// ```no_run
        $(#[doc = $open])?
        #[doc = concat!("# let client = ", $client, "::new([\"127.0.0.1\"])?;")]
        #[doc = concat!("match client.get(\"session_id\")", $(".", stringify!($await),)? "? {")]
        ///     Some(v) => println!("Got cached results: {:?}", v.data),
        ///     None => println!("Cached value not available, need to recompute it"),
        /// }
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        $(#[doc = $close])?
        /// ```
        pub $($async)? fn get(
            &self,
            key: impl AsRef<[u8]>,
        ) -> Result<Option<memwire_core::Value>, memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            let r = self.keyed(memwire_core::Command::get(key.clone()))$(.$await)??;
            $crate::common::into_value(&key, r)
        }

        /// `gets`: like [`Client::get`], with the item's CAS unique in
        /// [`Value::cas`](memwire_core::Value::cas) (for [`Client::cas`]).
        pub $($async)? fn gets(
            &self,
            key: impl AsRef<[u8]>,
        ) -> Result<Option<memwire_core::Value>, memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            let r = self.keyed(memwire_core::Command::get(key.clone()).with_cas())$(.$await)??;
            $crate::common::into_value(&key, r)
        }

        /// `gat`: get the item and set its expiration time.
        pub $($async)? fn gat(
            &self,
            key: impl AsRef<[u8]>,
            exptime: memwire_core::Exptime,
        ) -> Result<Option<memwire_core::Value>, memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            let r = self.keyed(memwire_core::Command::get(key.clone()).touch(exptime))$(.$await)??;
            $crate::common::into_value(&key, r)
        }

        /// `gats`: [`Client::gat`] with the CAS unique.
        pub $($async)? fn gats(
            &self,
            key: impl AsRef<[u8]>,
            exptime: memwire_core::Exptime,
        ) -> Result<Option<memwire_core::Value>, memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            let command = memwire_core::Command::get(key.clone()).with_cas().touch(exptime);
            let r = self.keyed(command)$(.$await)??;
            $crate::common::into_value(&key, r)
        }

        /// `get` of many keys, across servers: one request per server,
        #[doc = concat!($sends, ". Returns the hits in request order (misses are")]
        /// absent). Fails when any involved server fails.
        ///
        /// ```no_run
        $(#[doc = $open])?
        #[doc = concat!("# let client = ", $client, "::new([\"127.0.0.1\"])?;")]
        #[doc = concat!(
            "for v in client.get_multi([\"a\", \"b\", \"c\"])",
            $(".", stringify!($await),)? "? {"
        )]
        ///     println!("{:?} = {:?}", v.key, v.data);
        /// }
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        $(#[doc = $close])?
        /// ```
        pub $($async)? fn get_multi<I, K>(
            &self,
            keys: I,
        ) -> Result<Vec<memwire_core::Value>, memwire_core::Error>
        where
            I: IntoIterator<Item = K>,
            K: AsRef<[u8]>,
        {
            let keys: Vec<bytes::Bytes> = keys.into_iter().map($crate::common::key_bytes).collect();
            self.retrieve_multi(keys, false)$(.$await)?
        }

        /// [`Client::get_multi`] with CAS uniques (`gets`).
        pub $($async)? fn gets_multi<I, K>(
            &self,
            keys: I,
        ) -> Result<Vec<memwire_core::Value>, memwire_core::Error>
        where
            I: IntoIterator<Item = K>,
            K: AsRef<[u8]>,
        {
            let keys: Vec<bytes::Bytes> = keys.into_iter().map($crate::common::key_bytes).collect();
            self.retrieve_multi(keys, true)$(.$await)?
        }

        // ---- storage ----

        $crate::api::client_api! { @store $([$async $await])?
            /// `set`: store unconditionally (flags 0, no expiry).
            fn set;
        }
        $crate::api::client_api! { @store $([$async $await])?
            /// `add`: store only if the key is absent, else
            /// [`Error::NotStored`](memwire_core::Error::NotStored).
            fn add;
        }
        $crate::api::client_api! { @store $([$async $await])?
            /// `replace`: store only if the key is present, else
            /// [`Error::NotStored`](memwire_core::Error::NotStored).
            fn replace;
        }
        $crate::api::client_api! { @store $([$async $await])?
            /// `append`: add data after the existing data
            /// ([`Error::NotStored`](memwire_core::Error::NotStored) when absent).
            fn append;
        }
        $crate::api::client_api! { @store $([$async $await])?
            /// `prepend`: add data before the existing data
            /// ([`Error::NotStored`](memwire_core::Error::NotStored) when absent).
            fn prepend;
        }

        /// `cas`: store only if the item is unchanged since it was fetched with
        /// `cas_unique` ([`Client::gets`]). [`Error::Exists`](memwire_core::Error::Exists)
        /// when it changed, [`Error::NotFound`](memwire_core::Error::NotFound) when it is gone.
        pub $($async)? fn cas(
            &self,
            key: impl AsRef<[u8]>,
            value: impl Into<bytes::Bytes>,
            cas_unique: u64,
        ) -> Result<(), memwire_core::Error> {
            let key = $crate::common::key_bytes(key);
            self.store(memwire_core::Command::cas(key, value, cas_unique))$(.$await)?
        }

        /// Any storage command with full control over mode, flags, exptime and
        /// `noreply`.
        ///
        /// ```no_run
        $(#[doc = $open])?
        #[doc = concat!("# let client = ", $client, "::new([\"127.0.0.1\"])?;")]
        /// use memwire::Command;
        #[doc = concat!(
            "client.store(Command::set(\"foo\", \"xXx\").flags(12).exptime(30))",
            $(".", stringify!($await),)? "?;"
        )]
        #[doc = concat!(
            "client.store(Command::add(\"counter\", \"0\").noreply())",
            $(".", stringify!($await),)? "?;"
        )]
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        $(#[doc = $close])?
        /// ```
        pub $($async)? fn store(
            &self,
            store: memwire_core::Store,
        ) -> Result<(), memwire_core::Error> {
            self.keyed(store)$(.$await)?.and_then($crate::common::into_unit)
        }

        // ---- other keyed commands ----

        /// `delete`: [`Error::NotFound`](memwire_core::Error::NotFound) when the key is absent.
        pub $($async)? fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), memwire_core::Error> {
            self.keyed(memwire_core::Command::delete($crate::common::key_bytes(key)))
                $(.$await)?
                .and_then($crate::common::into_unit)
        }

        /// `touch`: set a new expiration time;
        /// [`Error::NotFound`](memwire_core::Error::NotFound) when absent.
        pub $($async)? fn touch(
            &self,
            key: impl AsRef<[u8]>,
            exptime: memwire_core::Exptime,
        ) -> Result<(), memwire_core::Error> {
            self.keyed(memwire_core::Command::touch($crate::common::key_bytes(key), exptime))
                $(.$await)?
                .and_then($crate::common::into_unit)
        }

        /// `incr`: add `delta` (wrapping at 2^64) and return the new value.
        /// [`Error::NotFound`](memwire_core::Error::NotFound) when absent,
        /// [`Error::NonNumeric`](memwire_core::Error::NonNumeric) when the value
        /// is not a decimal number.
        pub $($async)? fn incr(
            &self,
            key: impl AsRef<[u8]>,
            delta: u64,
        ) -> Result<u64, memwire_core::Error> {
            self.keyed(memwire_core::Command::incr($crate::common::key_bytes(key), delta))
                $(.$await)?
                .and_then($crate::common::into_number)
        }

        /// `decr`: subtract `delta` (stopping at 0) and return the new value.
        /// Errors as [`Client::incr`].
        pub $($async)? fn decr(
            &self,
            key: impl AsRef<[u8]>,
            delta: u64,
        ) -> Result<u64, memwire_core::Error> {
            self.keyed(memwire_core::Command::decr($crate::common::key_bytes(key), delta))
                $(.$await)?
                .and_then($crate::common::into_number)
        }

        // ---- every server ----

        /// `flush_all` on every server: invalidate every item now.
        pub $($async)? fn flush_all(&self) -> $crate::common::PerServer<()> {
            let results = self.all(memwire_core::Command::flush_all().into())$(.$await)?;
            $crate::common::per_server(results, $crate::common::into_unit)
        }

        /// `flush_all <delay>` on every server: invalidate every item in
        /// `delay` seconds.
        pub $($async)? fn flush_all_delayed(&self, delay: u32) -> $crate::common::PerServer<()> {
            let command = memwire_core::Command::flush_all().delay(delay).into();
            let results = self.all(command)$(.$await)?;
            $crate::common::per_server(results, $crate::common::into_unit)
        }

        /// `version` of every server.
        pub $($async)? fn version(&self) -> $crate::common::PerServer<String> {
            let results = self.all(memwire_core::Command::version())$(.$await)?;
            $crate::common::per_server(results, $crate::common::into_version)
        }

        /// `verbosity <level>` on every server.
        pub $($async)? fn verbosity(&self, level: u32) -> $crate::common::PerServer<()> {
            let results = self.all(memwire_core::Command::verbosity(level).into())$(.$await)?;
            $crate::common::per_server(results, $crate::common::into_unit)
        }

        /// `stats` of every server, typed ([`memwire_core::StatValue`]).
        pub $($async)? fn stats(&self) -> $crate::common::PerServer<memwire_core::StatMap> {
            let group = memwire_core::StatsGroup::General;
            self.stats_of(group, $crate::common::into_stats)$(.$await)?
        }

        /// `stats settings` of every server.
        pub $($async)? fn stats_settings(
            &self,
        ) -> $crate::common::PerServer<memwire_core::StatMap> {
            let group = memwire_core::StatsGroup::Settings;
            self.stats_of(group, $crate::common::into_settings)$(.$await)?
        }

        /// `stats items` of every server, by slab class.
        pub $($async)? fn stats_items(
            &self,
        ) -> $crate::common::PerServer<std::collections::BTreeMap<u32, memwire_core::StatMap>> {
            let group = memwire_core::StatsGroup::Items;
            self.stats_of(group, $crate::common::into_items)$(.$await)?
        }

        /// `stats sizes` of every server: the item size histogram, or
        /// `enabled == false` unless memcached runs with `-o track_sizes`.
        pub $($async)? fn stats_sizes(&self) -> $crate::common::PerServer<memwire_core::SizeStats> {
            let group = memwire_core::StatsGroup::Sizes;
            self.stats_of(group, $crate::common::into_sizes)$(.$await)?
        }

        /// `stats slabs` of every server: per slab class, plus totals.
        pub $($async)? fn stats_slabs(&self) -> $crate::common::PerServer<memwire_core::SlabStats> {
            let group = memwire_core::StatsGroup::Slabs;
            self.stats_of(group, $crate::common::into_slabs)$(.$await)?
        }

        /// `stats conns` of every server, by file descriptor.
        pub $($async)? fn stats_conns(
            &self,
        ) -> $crate::common::PerServer<std::collections::BTreeMap<u32, memwire_core::StatMap>> {
            let group = memwire_core::StatsGroup::Conns;
            self.stats_of(group, $crate::common::into_conns)$(.$await)?
        }

        /// `stats reset` on every server: clear the counters.
        pub $($async)? fn stats_reset(&self) -> $crate::common::PerServer<()> {
            let group = memwire_core::StatsGroup::Reset;
            self.stats_of(group, $crate::common::into_unit)$(.$await)?
        }

        // ---- helpers over `run` ----

        /// Send a keyed command to its key's server.
        $($async)? fn keyed(
            &self,
            command: impl Into<memwire_core::Command>,
        ) -> Result<memwire_core::Response, memwire_core::Error> {
            let command = command.into();
            let server = command
                .keys()
                .first()
                .map_or(0, |k| self.inner.cluster.server_for_key(k));
            self.run(vec![(server, command)])
                $(.$await)?
                .pop()
                .unwrap_or(Err(memwire_core::Error::Closed))
        }

        /// Send `command` to every server.
        $($async)? fn all(
            &self,
            command: memwire_core::Command,
        ) -> $crate::common::PerServer<memwire_core::Response> {
            let n = self.inner.cluster.servers().len();
            let results = self
                .run((0..n).map(|i| (i, command.clone())).collect())
                $(.$await)?;
            self.servers().iter().cloned().zip(results).collect()
        }

        /// `stats <group>` on every server, each reply converted.
        $($async)? fn stats_of<T>(
            &self,
            group: memwire_core::StatsGroup,
            convert: fn(memwire_core::Response) -> Result<T, memwire_core::Error>,
        ) -> $crate::common::PerServer<T> {
            let results = self.all(memwire_core::Command::stats(group))$(.$await)?;
            $crate::common::per_server(results, convert)
        }

        /// `get`/`gets` of `keys`: one request per server (and per
        /// `max_keys` keys), hits in request order.
        $($async)? fn retrieve_multi(
            &self,
            keys: Vec<bytes::Bytes>,
            cas: bool,
        ) -> Result<Vec<memwire_core::Value>, memwire_core::Error> {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            for k in &keys {
                memwire_core::key::validate(k)?;
            }
            let max_keys = self.inner.config.protocol.max_keys;
            let requests = $crate::common::group_keys(&self.inner.cluster, &keys, max_keys)
                .into_iter()
                .map(|(server, group)| {
                    let r = memwire_core::Command::get_multi(group);
                    (server, if cas { r.with_cas() } else { r }.into())
                })
                .collect();
            let mut hits = Vec::new();
            for result in self.run(requests)$(.$await)? {
                hits.extend($crate::common::into_values(result?)?);
            }
            Ok($crate::common::order_hits(&keys, hits))
        }
    };
}

pub(crate) use client_api;

/// Generate a cache module: `Cache`, `Scope` and their methods, over the
/// transport's client (its methods `with_config`, `get`, `gets`, `store`,
/// `cas`, `delete`, `flush_all`, `stats`, `servers`).
///
/// * the `Cache` type's docs, then `pub struct Cache(<client path in
///   the crate>);`
/// * `example_cache`: the cache's path in the doc examples;
/// * `sleep`: how to wait between contended key-tracking attempts (a
///   function of a [`Duration`](std::time::Duration));
/// * `async` (optional): as in [`client_api!`].
#[cfg(any(feature = "blocking", feature = "smol"))]
macro_rules! cache_api {
    (
        $(#[$doc:meta])*
        pub struct Cache($($client:ident)::+);
        example_cache: $cache:literal,
        sleep: $sleep:path,
        $(async: { $async:tt $await:tt $open:literal $close:literal },)?
    ) => {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        use std::time::Duration;

        use memwire_core::{Command, Error, StatMap};

        use $crate::cache::codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
        use $crate::cache::keys;
        use $crate::cache::tracking::{expires_at, KeyForm, Record};
        use $crate::cache::{
            is_callers_fault, server_label, unix_now, CacheBuilder, CacheConfig, CacheError,
            CallOptions, Failure, FromCacheConfig, Operation,
        };
        use $crate::$($client)::+;

        /// Most read-modify-write attempts on a key-tracking record before giving
        /// up (each conflict means another writer succeeded).
        const MAX_RECORD_ATTEMPTS: u32 = 200;

        $(#[$doc])*
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
            pub $($async)? fn set(
                &self,
                key: impl CacheKey,
                value: impl CacheValue,
            ) -> Result<String, CacheError> {
                self.scope().set(key, value)$(.$await)?
            }

            /// The value under `key`, or `None`. See [`Scope::query`].
            ///
            /// # Errors
            ///
            /// See [`Scope::query`].
            pub $($async)? fn query<V: FromCacheValue>(
                &self,
                key: impl CacheKey,
            ) -> Result<Option<V>, CacheError> {
                self.scope().query(key)$(.$await)?
            }

            /// Remove `key`. See [`Scope::invalidate`].
            ///
            /// # Errors
            ///
            /// See [`Scope::invalidate`].
            pub $($async)? fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
                self.scope().invalidate(key)$(.$await)?
            }

            /// The live keys of the default namespace. See [`Scope::keys`].
            ///
            /// # Errors
            ///
            /// See [`Scope::keys`].
            pub $($async)? fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
                self.scope().keys()$(.$await)?
            }

            /// Flush every server: every key of every namespace (and of every
            /// other user of those servers) is gone. Failures go to the hook.
            pub $($async)? fn invalidate_all(&self) {
                for (addr, result) in self.inner.client.flush_all()$(.$await)? {
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
            $(#[doc = $open])?
            #[doc = concat!("# let cache = ", $cache, "::new()?;")]
            #[doc = concat!(
                "for (server, stats) in cache.statistics()",
                $(".", stringify!($await),)? " {"
            )]
            ///     println!("{server}: {:?}", stats.map(|s| s.get("total_items").cloned()));
            /// }
            /// # Ok::<(), memwire::cache::CacheError>(())
            $(#[doc = $close])?
            /// ```
            pub $($async)? fn statistics(&self) -> Vec<(String, Result<StatMap, Error>)> {
                let weights = &self.inner.config.client.servers;
                self.inner
                    .client
                    .stats()
                    $(.$await)?
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
            $($async)? fn update_record(
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
                        $sleep(Duration::from_micros(u64::from(attempt % 17) * 50))$(.$await)?;
                    }
                    let now = unix_now();
                    let found = client.gets(&key)$(.$await)?.map_err(CacheError::Request)?;
                    let (mut record, cas) = match found {
                        None => (Record::default(), None),
                        Some(v) => (
                            Record::parse(&v.data)
                                .map_err(|e| CacheError::Tracking(e.to_string()))?,
                            v.cas,
                        ),
                    };
                    if !change(&mut record, now) {
                        return Ok(());
                    }
                    let data = record.encode();
                    let stored = match cas {
                        None => client.store(Command::add(key.clone(), data))$(.$await)?,
                        Some(cas) => client.cas(&key, data, cas)$(.$await)?,
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
            pub $($async)? fn set(
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
                match cache.inner.client.store(store)$(.$await)? {
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
                                $(.$await)?;
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
            pub $($async)? fn query<V: FromCacheValue>(
                &self,
                key: impl CacheKey,
            ) -> Result<Option<V>, CacheError> {
                let mkey = self.memcached_key(&key)?;
                match self.cache.inner.client.get(&mkey)$(.$await)? {
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
            pub $($async)? fn invalidate(&self, key: impl CacheKey) -> Result<(), CacheError> {
                let cache = self.cache;
                let mkey = self.memcached_key(&key)?;
                match cache.inner.client.delete(&mkey)$(.$await)? {
                    Ok(()) | Err(Error::NotFound) => {}
                    Err(e) => cache.absorb(Operation::Invalidate, &mkey, e)?,
                }
                if cache.tracks_keys() {
                    let form = self.key_form(&key)?;
                    let removed = cache
                        .update_record(self.namespace(), |r, now| r.remove(&form, now))
                        $(.$await)?;
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
            pub $($async)? fn keys<K: FromCacheKey>(&self) -> Result<Vec<K>, CacheError> {
                let cache = self.cache;
                if !cache.tracks_keys() {
                    return Err(CacheError::KeysNotTracked);
                }
                let rkey = keys::tracking_key(self.namespace());
                let record = match cache.inner.client.get(&rkey)$(.$await)? {
                    Ok(None) => return Ok(Vec::new()),
                    Ok(Some(v)) => match Record::parse(&v.data) {
                        Ok(r) => r,
                        Err(e) => {
                            let error = CacheError::Tracking(e.to_string());
                            cache.report(Operation::Keys, &rkey, error);
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
    };
}

#[cfg(any(feature = "blocking", feature = "smol"))]
pub(crate) use cache_api;
