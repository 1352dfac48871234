//! The `AsyncCommands` trait.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use memwire_core::client::ops::{
    Broadcast, Each, GetMulti, Hits, Keyed, PerKey, PerServer, StoreOptions,
};
use memwire_core::client::stampede::{self, ComputeError, IntoStored, Lease, Recache};
use memwire_core::client::{ConfigError, Operation, Router, ServerMetrics};
use memwire_core::cluster::ServerAddr;
use memwire_core::meta::MetaReply;
use memwire_core::{
    Command, Error, Expiry, IntoBytes, SizeStats, SlabStats, StatMap, StatsGroup, Store, Value,
};

use crate::commands::key_bytes;

/// The memcached operations of an async client, as a trait every async
/// client implements (`smol::Client`, `tokio::Client`).
///
/// The same operations, names and semantics as the blocking
/// [`Commands`](crate::Commands), each returning a `Send` future. Code
/// written against the trait runs on any async transport:
///
/// ```
/// use memwire::{AsyncCommands, Error};
///
/// /// The session of `id`, computed and cached on a miss.
/// async fn session(client: &impl AsyncCommands, id: u32) -> Result<Vec<u8>, Error> {
///     let key = format!("session:{id}");
///     if let Some(hit) = client.get(&key).await? {
///         return Ok(hit.data.to_vec());
///     }
///     let fresh = format!("data of {id}").into_bytes();
///     client.set(&key, &fresh[..]).await?; // borrowed values are fine
///     Ok(fresh)
/// }
/// ```
///
/// Arguments are taken (keys and values copied or moved into the request)
/// when the method is called, so a future holds no borrow of them.
/// Dropping a future before it completes is safe: its requests are
/// abandoned, and their replies are read and discarded, never delivered
/// to another call.
///
/// Keys are anything byte-like (`&str`, `String`, `&[u8]`, `Bytes`);
/// values anything [`IntoBytes`] (owned buffers are moved, borrowed ones
/// copied once). A miss is `Ok(None)`; per-request outcomes (`NotStored`,
/// `Exists`, `NotFound`, ...) are [`Error`]s the caller matches on. Keys
/// are placed on servers with libmemcached-compatible weighted ketama;
/// server-wide commands (`stats*`, `flush_all`, `version`, `verbosity`)
/// run on every server and return one result per server ([`PerServer`]).
pub trait AsyncCommands {
    // ---- the seam: what a client implements ----

    /// Run one operation: plan it, send its commands to their servers,
    /// and fold the replies into its result (see
    /// [`memwire_core::client`]). Every other method is built on this.
    fn execute<O>(&self, op: O) -> impl Future<Output = O::Output> + Send
    where
        O: Operation + Send,
        O::Output: Send;

    /// The servers, key placement and their health.
    fn router(&self) -> Arc<Router>;

    /// Replace the server list (and weights) of the running client.
    /// Connections to servers that stay are kept, and so is what the
    /// failure policy knows of them; keys move as ketama says. Calls in
    /// progress finish on the list they started with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoServers`] for an empty list.
    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError>;

    /// Close every connection once the requests already on it are
    /// answered (`quit`, then drop). The client stays usable: the next
    /// call reconnects.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// Wait `duration` on the client's runtime (for callers that poll,
    /// such as [`get_or_compute`](Self::get_or_compute)).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    // ---- servers ----

    /// [`reconfigure`](Self::reconfigure) with addresses in any form
    /// `ClientBuilder::server` takes, each with weight 1.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty list or an address that does not parse.
    fn set_servers<S: AsRef<str>>(
        &self,
        servers: impl IntoIterator<Item = S>,
    ) -> Result<(), ConfigError> {
        let servers = servers
            .into_iter()
            .map(|s| match ServerAddr::parse(s.as_ref()) {
                Ok(addr) => Ok((addr, 1)),
                Err(error) => Err(ConfigError::Address {
                    input: s.as_ref().to_owned(),
                    error,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.reconfigure(servers)
    }

    /// The servers, in configuration order.
    fn servers(&self) -> Vec<ServerAddr> {
        self.router().servers().to_vec()
    }

    /// The server that owns `key`.
    fn server_for_key(&self, key: impl AsRef<[u8]>) -> ServerAddr {
        self.router().addr_for_key(key.as_ref()).clone()
    }

    /// What the client did with each server, in configuration order:
    /// requests, completions, errors by kind, connections, bytes (see
    /// [`ServerMetrics`]). Totals since the client was built; a server
    /// that stays across [`reconfigure`](Self::reconfigure) keeps its
    /// counts.
    ///
    /// ```
    /// # fn f(client: &impl memwire::AsyncCommands) {
    /// let timeouts: u64 = client.server_metrics().iter().map(|(_, m)| m.timeouts).sum();
    /// # let _ = timeouts;
    /// # }
    /// ```
    fn server_metrics(&self) -> Vec<(ServerAddr, ServerMetrics)> {
        self.router().metrics()
    }

    // ---- retrieval ----

    /// `get`: the item, or `None` on a miss.
    ///
    /// ```
    /// # async fn f(client: &impl memwire::AsyncCommands) -> Result<(), memwire::Error> {
    /// match client.get("session_id").await? {
    ///     Some(v) => println!("Got cached results: {:?}", v.data),
    ///     None => println!("Cached value not available, need to recompute it"),
    /// }
    /// # Ok(()) }
    /// ```
    fn get(
        &self,
        key: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<Option<Value>, Error>> + Send {
        self.execute(Keyed::new(Command::get(key_bytes(key))))
    }

    /// `gets`: [`get`](AsyncCommands::get) with the item's CAS unique in
    /// [`Value::cas`], for [`cas`](AsyncCommands::cas).
    fn gets(
        &self,
        key: impl AsRef<[u8]>,
    ) -> impl Future<Output = Result<Option<Value>, Error>> + Send {
        self.execute(Keyed::new(Command::get(key_bytes(key)).with_cas()))
    }

    /// `gat`: get the item and set when it expires.
    fn gat(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> impl Future<Output = Result<Option<Value>, Error>> + Send {
        self.execute(Keyed::new(Command::get(key_bytes(key)).touch(expiry)))
    }

    /// `gats`: [`gat`](AsyncCommands::gat) with the CAS unique.
    fn gats(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> impl Future<Output = Result<Option<Value>, Error>> + Send {
        self.execute(Keyed::new(
            Command::get(key_bytes(key)).with_cas().touch(expiry),
        ))
    }

    /// `get` of many keys across servers: one request per server (more
    /// when a server's keys exceed [`Config::max_keys`](crate::Config)),
    /// all sent before any reply is awaited. The hits in request order,
    /// misses absent ([`Hits`], which reads like a slice); a server that
    /// fails costs only its own keys and is named in
    /// [`Hits::failures`]. `Err` only for bad input (nothing sent).
    ///
    /// ```
    /// # async fn f(client: &impl memwire::AsyncCommands) -> Result<(), memwire::Error> {
    /// for v in client.get_multi(["a", "b", "c"]).await? {
    ///     println!("{:?} = {:?}", v.key, v.data);
    /// }
    /// # Ok(()) }
    /// ```
    fn get_multi<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> impl Future<Output = Result<Hits, Error>> + Send {
        self.execute(GetMulti::new(keys))
    }

    /// [`get_multi`](AsyncCommands::get_multi) with CAS uniques (`gets`).
    fn gets_multi<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> impl Future<Output = Result<Hits, Error>> + Send {
        self.execute(GetMulti::new(keys).with_cas())
    }

    // ---- storage ----

    /// `set`: store unconditionally (flags 0, never expires).
    fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::set(key_bytes(key), value))
    }

    /// `set` with flags, expiry or `noreply`.
    ///
    /// ```
    /// # async fn f(client: &impl memwire::AsyncCommands) -> Result<(), memwire::Error> {
    /// use std::time::Duration;
    /// use memwire::{Expiry, StoreOptions};
    /// client.set_with("foo", "xXx", StoreOptions::new().flags(12).expiry(Expiry::secs(30))).await?;
    /// client.set_with("bar", "yYy", Duration::from_secs(60)).await?; // an expiry alone
    /// # Ok(()) }
    /// ```
    fn set_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(options.into().apply(Command::set(key_bytes(key), value)))
    }

    /// `add`: store only if the key is absent, else [`Error::NotStored`].
    fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::add(key_bytes(key), value))
    }

    /// `add` with flags, expiry or `noreply`.
    fn add_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(options.into().apply(Command::add(key_bytes(key), value)))
    }

    /// `replace`: store only if the key is present, else
    /// [`Error::NotStored`].
    fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::replace(key_bytes(key), value))
    }

    /// `replace` with flags, expiry or `noreply`.
    fn replace_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(
            options
                .into()
                .apply(Command::replace(key_bytes(key), value)),
        )
    }

    /// `append`: add data after the existing data ([`Error::NotStored`]
    /// when absent).
    fn append(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::append(key_bytes(key), value))
    }

    /// `prepend`: add data before the existing data ([`Error::NotStored`]
    /// when absent).
    fn prepend(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::prepend(key_bytes(key), value))
    }

    /// `cas`: store only if the item is unchanged since it was fetched with
    /// `cas_unique` ([`gets`](AsyncCommands::gets)). [`Error::Exists`] when it
    /// changed, [`Error::NotFound`] when it is gone.
    fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        cas_unique: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(Command::cas(key_bytes(key), value, cas_unique))
    }

    /// `cas` with flags, expiry or `noreply`.
    fn cas_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        cas_unique: u64,
        options: impl Into<StoreOptions>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.store(
            options
                .into()
                .apply(Command::cas(key_bytes(key), value, cas_unique)),
        )
    }

    /// Any storage command as built with [`Command`].
    ///
    /// ```
    /// # async fn f(client: &impl memwire::AsyncCommands) -> Result<(), memwire::Error> {
    /// use memwire::{Command, Expiry};
    /// client.store(Command::set("foo", "xXx").flags(12).expiry(Expiry::secs(30))).await?;
    /// client.store(Command::add("counter", "0").noreply()).await?;
    /// # Ok(()) }
    /// ```
    fn store(&self, store: Store) -> impl Future<Output = Result<(), Error>> + Send {
        self.execute(Keyed::new(store))
    }

    // ---- other keyed commands ----

    /// `delete`: [`Error::NotFound`] when the key is absent.
    fn delete(&self, key: impl AsRef<[u8]>) -> impl Future<Output = Result<(), Error>> + Send {
        self.execute(Keyed::new(Command::delete(key_bytes(key))))
    }

    /// `touch`: set when the item expires; [`Error::NotFound`] when absent.
    fn touch(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.execute(Keyed::new(Command::touch(key_bytes(key), expiry)))
    }

    /// `incr`: add `delta` (wrapping at 2^64) and return the new value.
    /// [`Error::NotFound`] when absent, [`Error::NonNumeric`] when the
    /// value is not a decimal number.
    fn incr(
        &self,
        key: impl AsRef<[u8]>,
        delta: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        self.execute(Keyed::new(Command::incr(key_bytes(key), delta)))
    }

    /// `decr`: subtract `delta` (stopping at 0) and return the new value.
    /// Errors as [`incr`](AsyncCommands::incr).
    fn decr(
        &self,
        key: impl AsRef<[u8]>,
        delta: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        self.execute(Keyed::new(Command::decr(key_bytes(key), delta)))
    }

    // ---- meta protocol ----

    /// Any meta command on its key's server; see
    /// [`Commands::meta`](crate::Commands::meta).
    fn meta(
        &self,
        request: impl Into<Command>,
    ) -> impl Future<Output = Result<MetaReply, Error>> + Send {
        self.execute(Keyed::new(request))
    }

    /// Mark `key`'s value stale; see
    /// [`Commands::mark_stale`](crate::Commands::mark_stale).
    fn mark_stale(
        &self,
        key: impl AsRef<[u8]>,
        keep: impl Into<Expiry>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let stale = self.meta(stampede::mark_stale(key_bytes(key), keep));
        async move { stale.await.map(drop) }
    }

    /// The value of `key`, or the one the `compute` future makes, with many
    /// callers (tasks, threads, processes) sharing one recompute; see
    /// [`Commands::get_or_compute`](crate::Commands::get_or_compute).
    /// `compute` is only polled by the caller that wins the recompute (a
    /// future does nothing until polled); the others drop it.
    ///
    /// ```
    /// # async fn f(client: &(impl memwire::AsyncCommands + Sync)) -> Result<(), Box<dyn std::error::Error>> {
    /// use memwire::{Expiry, Recache};
    /// let recache = Recache::new(Expiry::secs(300));
    /// let report = client
    ///     .get_or_compute("daily-report", &recache, async {
    ///         Ok::<_, std::io::Error>("expensive report")
    ///     })
    ///     .await?;
    /// # let _ = report; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Commands::get_or_compute`](crate::Commands::get_or_compute).
    fn get_or_compute<V, E>(
        &self,
        key: impl AsRef<[u8]>,
        recache: &Recache,
        compute: impl Future<Output = Result<V, E>> + Send,
    ) -> impl Future<Output = Result<Value, ComputeError<E>>> + Send
    where
        Self: Sync,
        V: IntoStored + Send,
        E: Send,
    {
        let key = key_bytes(key);
        let recache = *recache;
        async move {
            let started = std::time::Instant::now();
            let mut compute = Some(compute);
            loop {
                let lease = stampede::lease(key.clone(), &recache).map_err(ComputeError::Cache)?;
                let reply = match self.meta(lease).await {
                    Ok(reply) => reply,
                    Err(e) if e.is_connection_error() => {
                        // No cache: compute, without caching.
                        let Some(compute) = compute.take() else {
                            return Err(ComputeError::Cache(e));
                        };
                        let (flags, data) =
                            compute.await.map_err(ComputeError::Compute)?.into_stored();
                        return Ok(Value::new(key, flags, data));
                    }
                    Err(e) => return Err(ComputeError::Cache(e)),
                };
                match Lease::read(key.clone(), reply) {
                    Lease::Fresh(value) | Lease::Stale(value) => return Ok(value),
                    Lease::Recompute { cas, stale } => {
                        let Some(compute) = compute.take() else {
                            return Err(ComputeError::Cache(Error::InvalidArgument(
                                "computed twice",
                            )));
                        };
                        match compute.await {
                            Ok(v) => {
                                let (flags, data) = v.into_stored();
                                // Unless the item changed since the lease.
                                let store = stampede::store(
                                    key.clone(),
                                    data.clone(),
                                    flags,
                                    &recache,
                                    cas,
                                );
                                let _ = self.meta(store).await;
                                return Ok(Value::new(key, flags, data));
                            }
                            Err(e) => {
                                if let Some(stale) = stale {
                                    return Ok(stale);
                                }
                                if let Some(cas) = cas {
                                    let _ = self.meta(stampede::release(key.clone(), cas)).await;
                                }
                                return Err(ComputeError::Compute(e));
                            }
                        }
                    }
                    Lease::Wait if started.elapsed() + recache.poll > recache.wait => {
                        return Err(ComputeError::Cache(Error::Timeout));
                    }
                    Lease::Wait => self.sleep(recache.poll).await,
                }
            }
        }
    }

    // ---- many keys ----

    /// `set` of many items, each on its key's server, all pipelined (one
    /// write per server). One result per key, in order: a failed server
    /// fails only its own keys. Every key is checked before anything is
    /// sent.
    ///
    /// ```
    /// # async fn f(client: &impl memwire::AsyncCommands) -> Result<(), memwire::Error> {
    /// use memwire::Expiry;
    /// let results = client.set_multi([("a", "1"), ("b", "2")], Expiry::secs(60)).await;
    /// for (key, result) in results {
    ///     if let Err(e) = result {
    ///         eprintln!("{key:?} not stored: {e}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    fn set_multi<K: AsRef<[u8]>, V: IntoBytes>(
        &self,
        items: impl IntoIterator<Item = (K, V)>,
        options: impl Into<StoreOptions>,
    ) -> impl Future<Output = PerKey<()>> + Send {
        let options = options.into();
        let commands = items
            .into_iter()
            .map(|(k, v)| options.apply(Command::set(key_bytes(k), v)).into());
        self.execute(Each::new(commands))
    }

    /// `delete` of many keys, pipelined per server; one result per key
    /// ([`Error::NotFound`] for an absent key).
    fn delete_multi<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> impl Future<Output = PerKey<()>> + Send {
        self.execute(Each::new(
            keys.into_iter()
                .map(|k| Command::delete(key_bytes(k)).into()),
        ))
    }

    /// `touch` of many keys, pipelined per server; one result per key.
    fn touch_multi<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        expiry: impl Into<Expiry>,
    ) -> impl Future<Output = PerKey<()>> + Send {
        let expiry = expiry.into();
        self.execute(Each::new(
            keys.into_iter()
                .map(|k| Command::touch(key_bytes(k), expiry).into()),
        ))
    }

    // ---- every server ----

    /// `flush_all` on every server: invalidate every item now.
    fn flush_all(&self) -> impl Future<Output = PerServer<()>> + Send {
        self.execute(Broadcast::new(Command::flush_all()))
    }

    /// `flush_all <delay>` on every server: invalidate every item in
    /// `delay` seconds.
    fn flush_all_delayed(&self, delay: u32) -> impl Future<Output = PerServer<()>> + Send {
        self.execute(Broadcast::new(Command::flush_all().delay(delay)))
    }

    /// `version` of every server.
    fn version(&self) -> impl Future<Output = PerServer<String>> + Send {
        self.execute(Broadcast::new(Command::version()))
    }

    /// `verbosity <level>` on every server.
    fn verbosity(&self, level: u32) -> impl Future<Output = PerServer<()>> + Send {
        self.execute(Broadcast::new(Command::verbosity(level)))
    }

    /// `stats` of every server, typed ([`memwire_core::StatValue`]).
    fn stats(&self) -> impl Future<Output = PerServer<StatMap>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::General)))
    }

    /// `stats settings` of every server.
    fn stats_settings(&self) -> impl Future<Output = PerServer<StatMap>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Settings)))
    }

    /// `stats items` of every server, by slab class.
    fn stats_items(&self) -> impl Future<Output = PerServer<BTreeMap<u32, StatMap>>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Items)))
    }

    /// `stats sizes` of every server (enabled with memcached's
    /// `-o track_sizes`).
    fn stats_sizes(&self) -> impl Future<Output = PerServer<SizeStats>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Sizes)))
    }

    /// `stats slabs` of every server.
    fn stats_slabs(&self) -> impl Future<Output = PerServer<SlabStats>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Slabs)))
    }

    /// `stats conns` of every server, by file descriptor.
    fn stats_conns(&self) -> impl Future<Output = PerServer<BTreeMap<u32, StatMap>>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Conns)))
    }

    /// `stats reset` on every server.
    fn stats_reset(&self) -> impl Future<Output = PerServer<()>> + Send {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Reset)))
    }
}
