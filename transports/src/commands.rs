//! The `Commands` trait.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
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

/// A key as [`Bytes`] (copied: keys are at most 250 bytes).
pub(crate) fn key_bytes(key: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(key.as_ref())
}

/// The memcached operations of a blocking client, as a trait every
/// blocking client implements (`blocking::Client`, `mio::Client`).
///
/// A client implements three methods — [`execute`](Commands::execute),
/// [`router`](Commands::router) and [`close`](Commands::close) — and gets
/// every operation. Code written against the trait runs on any transport:
///
/// ```
/// use memwire::{Commands, Error};
///
/// /// The session of `id`, computed and cached on a miss.
/// fn session(client: &impl Commands, id: u32) -> Result<Vec<u8>, Error> {
///     let key = format!("session:{id}");
///     if let Some(hit) = client.get(&key)? {
///         return Ok(hit.data.to_vec());
///     }
///     let fresh = format!("data of {id}").into_bytes();
///     client.set(&key, &fresh[..])?; // borrowed values are fine
///     Ok(fresh)
/// }
/// ```
///
/// The async twin is [`AsyncCommands`](crate::AsyncCommands).
///
/// Keys are anything byte-like (`&str`, `String`, `&[u8]`, `Bytes`);
/// values anything [`IntoBytes`] (owned buffers are moved, borrowed ones
/// copied once). A miss is `Ok(None)`; per-request outcomes (`NotStored`,
/// `Exists`, `NotFound`, ...) are [`Error`]s the caller matches on. Keys
/// are placed on servers with libmemcached-compatible weighted ketama;
/// server-wide commands (`stats*`, `flush_all`, `version`, `verbosity`)
/// run on every server and return one result per server ([`PerServer`]).
pub trait Commands {
    // ---- the seam: what a client implements ----

    /// Run one operation: plan it, send its commands to their servers,
    /// and fold the replies into its result (see
    /// [`memwire_core::client`]). Every other method is built on this.
    /// Operations are `Send` (all of [`memwire_core::client::ops`] are), so
    /// that a blocking call can also run on an async client.
    fn execute<O>(&self, op: O) -> O::Output
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

    /// Send `quit` on idle connections and drop them. The client stays
    /// usable: the next call reconnects.
    fn close(&self);

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
    /// # fn f(client: &impl memwire::Commands) {
    /// for (server, m) in client.server_metrics() {
    ///     println!(
    ///         "{server}: {} requests ({} in flight), {} timeouts, {} connection errors, {} bytes in",
    ///         m.requests, m.in_flight(), m.timeouts, m.connection_errors, m.bytes_received
    ///     );
    /// }
    /// # }
    /// ```
    fn server_metrics(&self) -> Vec<(ServerAddr, ServerMetrics)> {
        self.router().metrics()
    }

    // ---- retrieval ----

    /// `get`: the item, or `None` on a miss.
    ///
    /// ```
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// match client.get("session_id")? {
    ///     Some(v) => println!("Got cached results: {:?}", v.data),
    ///     None => println!("Cached value not available, need to recompute it"),
    /// }
    /// # Ok(()) }
    /// ```
    fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, Error> {
        self.execute(Keyed::new(Command::get(key_bytes(key))))
    }

    /// `gets`: [`get`](Commands::get) with the item's CAS unique in
    /// [`Value::cas`], for [`cas`](Commands::cas).
    fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, Error> {
        self.execute(Keyed::new(Command::get(key_bytes(key)).with_cas()))
    }

    /// `gat`: get the item and set when it expires.
    fn gat(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> Result<Option<Value>, Error> {
        self.execute(Keyed::new(Command::get(key_bytes(key)).touch(expiry)))
    }

    /// `gats`: [`gat`](Commands::gat) with the CAS unique.
    fn gats(
        &self,
        key: impl AsRef<[u8]>,
        expiry: impl Into<Expiry>,
    ) -> Result<Option<Value>, Error> {
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
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// for v in client.get_multi(["a", "b", "c"])? {
    ///     println!("{:?} = {:?}", v.key, v.data);
    /// }
    /// # Ok(()) }
    /// ```
    fn get_multi<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> Result<Hits, Error> {
        self.execute(GetMulti::new(keys))
    }

    /// [`get_multi`](Commands::get_multi) with CAS uniques (`gets`).
    fn gets_multi<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> Result<Hits, Error> {
        self.execute(GetMulti::new(keys).with_cas())
    }

    // ---- storage ----

    /// `set`: store unconditionally (flags 0, never expires).
    fn set(&self, key: impl AsRef<[u8]>, value: impl IntoBytes) -> Result<(), Error> {
        self.store(Command::set(key_bytes(key), value))
    }

    /// `set` with flags, expiry or `noreply`.
    ///
    /// ```
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// use std::time::Duration;
    /// use memwire::{Expiry, StoreOptions};
    /// client.set_with("foo", "xXx", StoreOptions::new().flags(12).expiry(Expiry::secs(30)))?;
    /// client.set_with("bar", "yYy", Duration::from_secs(60))?; // an expiry alone
    /// # Ok(()) }
    /// ```
    fn set_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> Result<(), Error> {
        self.store(options.into().apply(Command::set(key_bytes(key), value)))
    }

    /// `add`: store only if the key is absent, else [`Error::NotStored`].
    fn add(&self, key: impl AsRef<[u8]>, value: impl IntoBytes) -> Result<(), Error> {
        self.store(Command::add(key_bytes(key), value))
    }

    /// `add` with flags, expiry or `noreply`.
    fn add_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> Result<(), Error> {
        self.store(options.into().apply(Command::add(key_bytes(key), value)))
    }

    /// `replace`: store only if the key is present, else
    /// [`Error::NotStored`].
    fn replace(&self, key: impl AsRef<[u8]>, value: impl IntoBytes) -> Result<(), Error> {
        self.store(Command::replace(key_bytes(key), value))
    }

    /// `replace` with flags, expiry or `noreply`.
    fn replace_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        options: impl Into<StoreOptions>,
    ) -> Result<(), Error> {
        self.store(
            options
                .into()
                .apply(Command::replace(key_bytes(key), value)),
        )
    }

    /// `append`: add data after the existing data ([`Error::NotStored`]
    /// when absent).
    fn append(&self, key: impl AsRef<[u8]>, value: impl IntoBytes) -> Result<(), Error> {
        self.store(Command::append(key_bytes(key), value))
    }

    /// `prepend`: add data before the existing data ([`Error::NotStored`]
    /// when absent).
    fn prepend(&self, key: impl AsRef<[u8]>, value: impl IntoBytes) -> Result<(), Error> {
        self.store(Command::prepend(key_bytes(key), value))
    }

    /// `cas`: store only if the item is unchanged since it was fetched with
    /// `cas_unique` ([`gets`](Commands::gets)). [`Error::Exists`] when it
    /// changed, [`Error::NotFound`] when it is gone.
    fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        cas_unique: u64,
    ) -> Result<(), Error> {
        self.store(Command::cas(key_bytes(key), value, cas_unique))
    }

    /// `cas` with flags, expiry or `noreply`.
    fn cas_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl IntoBytes,
        cas_unique: u64,
        options: impl Into<StoreOptions>,
    ) -> Result<(), Error> {
        self.store(
            options
                .into()
                .apply(Command::cas(key_bytes(key), value, cas_unique)),
        )
    }

    /// Any storage command as built with [`Command`].
    ///
    /// ```
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// use memwire::{Command, Expiry};
    /// client.store(Command::set("foo", "xXx").flags(12).expiry(Expiry::secs(30)))?;
    /// client.store(Command::add("counter", "0").noreply())?;
    /// # Ok(()) }
    /// ```
    fn store(&self, store: Store) -> Result<(), Error> {
        self.execute(Keyed::new(store))
    }

    // ---- other keyed commands ----

    /// `delete`: [`Error::NotFound`] when the key is absent.
    fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), Error> {
        self.execute(Keyed::new(Command::delete(key_bytes(key))))
    }

    /// `touch`: set when the item expires; [`Error::NotFound`] when absent.
    fn touch(&self, key: impl AsRef<[u8]>, expiry: impl Into<Expiry>) -> Result<(), Error> {
        self.execute(Keyed::new(Command::touch(key_bytes(key), expiry)))
    }

    /// `incr`: add `delta` (wrapping at 2^64) and return the new value.
    /// [`Error::NotFound`] when absent, [`Error::NonNumeric`] when the
    /// value is not a decimal number.
    fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.execute(Keyed::new(Command::incr(key_bytes(key), delta)))
    }

    /// `decr`: subtract `delta` (stopping at 0) and return the new value.
    /// Errors as [`incr`](Commands::incr).
    fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.execute(Keyed::new(Command::decr(key_bytes(key), delta)))
    }

    // ---- meta protocol ----

    /// Any meta command, built with `Command::meta_get(key)`,
    /// `meta_set`, `meta_delete`, `meta_incr`/`meta_decr` or `meta_debug`,
    /// on its key's server (whatever [`Protocol`](memwire_core::client::Protocol)
    /// the client speaks; memcached 1.6+). The reply with every flag it
    /// returned, typed.
    ///
    /// ```
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// use memwire::Command;
    /// let reply = client.meta(Command::meta_get("session").with_ttl().with_cas().with_hit_before())?;
    /// if let Some(data) = reply.value() {
    ///     println!("{data:?}, ttl {:?}, cas {:?}, hit before: {:?}",
    ///         reply.flags.ttl, reply.flags.cas, reply.flags.hit_before);
    /// }
    /// # Ok(()) }
    /// ```
    fn meta(&self, request: impl Into<Command>) -> Result<MetaReply, Error> {
        self.execute(Keyed::new(request))
    }

    /// Mark `key`'s value stale (`md key I T<keep>`): the next
    /// [`get_or_compute`](Self::get_or_compute) caller recomputes it while
    /// the others keep getting the stale value, for up to `keep`.
    fn mark_stale(&self, key: impl AsRef<[u8]>, keep: impl Into<Expiry>) -> Result<(), Error> {
        self.meta(stampede::mark_stale(key_bytes(key), keep))
            .map(drop)
    }

    /// The value of `key`, or the one `compute` makes, with many callers
    /// (threads, processes, other clients of the same servers) sharing one
    /// recompute: only the caller memcached hands the win (`W`) computes;
    /// the others get the stale or expiring value meanwhile, or wait for
    /// the fresh one (up to [`Recache::wait`]). A failed recompute serves
    /// the stale value when there is one. When memcached cannot be reached,
    /// the value is computed and not cached. `compute` returns anything
    /// [`IntoBytes`] (stored with flags 0) or `(flags, data)`. Needs the
    /// meta protocol (memcached 1.6+).
    ///
    /// ```
    /// # fn f(client: &impl memwire::Commands) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use memwire::{Expiry, Recache};
    ///
    /// let recache = Recache::new(Expiry::secs(300)).recache_below(Duration::from_secs(30));
    /// let report = client.get_or_compute("daily-report", &recache, || {
    ///     Ok::<_, std::io::Error>(format!("expensive report"))
    /// })?;
    /// println!("{:?}", report.data);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ComputeError::Compute`] when this caller's recompute failed with
    /// nothing stale to serve; [`ComputeError::Cache`] for a refused request
    /// or a wait that ran out.
    fn get_or_compute<V: IntoStored, E>(
        &self,
        key: impl AsRef<[u8]>,
        recache: &Recache,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<Value, ComputeError<E>> {
        let key = key_bytes(key);
        let started = std::time::Instant::now();
        let mut compute = Some(compute);
        let mut computed = |cas: Option<u64>| -> Option<Result<(u32, Bytes), E>> {
            let stored = compute.take()?().map(IntoStored::into_stored);
            Some(stored.inspect(|(flags, data)| {
                // Unless the item changed since the lease; either way the
                // caller gets what it computed.
                let store = stampede::store(key.clone(), data.clone(), *flags, recache, cas);
                let _ = self.meta(store);
            }))
        };
        loop {
            let lease = stampede::lease(key.clone(), recache).map_err(ComputeError::Cache)?;
            let reply = match self.meta(lease) {
                Ok(reply) => reply,
                Err(e) if e.is_connection_error() => {
                    // No cache: compute, without caching.
                    let stored = compute.take().map(|f| f().map(IntoStored::into_stored));
                    return match stored {
                        Some(Ok((flags, data))) => Ok(Value::new(key, flags, data)),
                        Some(Err(e)) => Err(ComputeError::Compute(e)),
                        None => Err(ComputeError::Cache(e)),
                    };
                }
                Err(e) => return Err(ComputeError::Cache(e)),
            };
            match Lease::read(key.clone(), reply) {
                Lease::Fresh(value) | Lease::Stale(value) => return Ok(value),
                Lease::Recompute { cas, stale } => match computed(cas) {
                    Some(Ok((flags, data))) => return Ok(Value::new(key, flags, data)),
                    Some(Err(e)) => {
                        if let Some(stale) = stale {
                            return Ok(stale);
                        }
                        if let Some(cas) = cas {
                            let _ = self.meta(stampede::release(key.clone(), cas));
                        }
                        return Err(ComputeError::Compute(e));
                    }
                    None => {
                        return Err(ComputeError::Cache(Error::InvalidArgument(
                            "computed twice",
                        )))
                    }
                },
                Lease::Wait if started.elapsed() + recache.poll > recache.wait => {
                    return Err(ComputeError::Cache(Error::Timeout));
                }
                Lease::Wait => std::thread::sleep(recache.poll),
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
    /// # fn f(client: &impl memwire::Commands) -> Result<(), memwire::Error> {
    /// use memwire::Expiry;
    /// let results = client.set_multi([("a", "1"), ("b", "2")], Expiry::secs(60));
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
    ) -> PerKey<()> {
        let options = options.into();
        let commands = items
            .into_iter()
            .map(|(k, v)| options.apply(Command::set(key_bytes(k), v)).into());
        self.execute(Each::new(commands))
    }

    /// `delete` of many keys, pipelined per server; one result per key
    /// ([`Error::NotFound`] for an absent key).
    fn delete_multi<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> PerKey<()> {
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
    ) -> PerKey<()> {
        let expiry = expiry.into();
        self.execute(Each::new(
            keys.into_iter()
                .map(|k| Command::touch(key_bytes(k), expiry).into()),
        ))
    }

    // ---- every server ----

    /// `flush_all` on every server: invalidate every item now.
    fn flush_all(&self) -> PerServer<()> {
        self.execute(Broadcast::new(Command::flush_all()))
    }

    /// `flush_all <delay>` on every server: invalidate every item in
    /// `delay` seconds.
    fn flush_all_delayed(&self, delay: u32) -> PerServer<()> {
        self.execute(Broadcast::new(Command::flush_all().delay(delay)))
    }

    /// `version` of every server.
    fn version(&self) -> PerServer<String> {
        self.execute(Broadcast::new(Command::version()))
    }

    /// `verbosity <level>` on every server.
    fn verbosity(&self, level: u32) -> PerServer<()> {
        self.execute(Broadcast::new(Command::verbosity(level)))
    }

    /// `stats` of every server, typed ([`memwire_core::StatValue`]).
    fn stats(&self) -> PerServer<StatMap> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::General)))
    }

    /// `stats settings` of every server.
    fn stats_settings(&self) -> PerServer<StatMap> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Settings)))
    }

    /// `stats items` of every server, by slab class.
    fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Items)))
    }

    /// `stats sizes` of every server (enabled with memcached's
    /// `-o track_sizes`).
    fn stats_sizes(&self) -> PerServer<SizeStats> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Sizes)))
    }

    /// `stats slabs` of every server.
    fn stats_slabs(&self) -> PerServer<SlabStats> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Slabs)))
    }

    /// `stats conns` of every server, by file descriptor.
    fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Conns)))
    }

    /// `stats reset` on every server.
    fn stats_reset(&self) -> PerServer<()> {
        self.execute(Broadcast::new(Command::stats(StatsGroup::Reset)))
    }
}
