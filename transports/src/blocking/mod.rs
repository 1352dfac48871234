//! The blocking client: std [`TcpStream`](std::net::TcpStream) and
//! [`UnixStream`](std::os::unix::net::UnixStream), one core
//! [`Connection`](memwire_core::Connection) per socket.
//!
//! [`Client`] is `Send + Sync` and cheap to clone (clones share the
//! connection pools); share it between threads. Each call takes an idle
//! connection to the key's server from a small pool (or connects), sends,
//! waits for its reply within [`ClientConfig::io_timeout`] and puts the
//! connection back. A connection that timed out, broke or was poisoned is
//! dropped, never reused: the next call reconnects, and no call ever sees a
//! reply meant for another.
//!
//! ```no_run
//! use memwire::blocking::Client;
//!
//! let client = Client::new(["memcached://127.0.0.1:11211"])?;
//! client.set("session_id", "TEST SESSION DATA")?;
//! if let Some(value) = client.get("session_id")? {
//!     println!("{:?} (flags {})", value.data, value.flags);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod conn;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use memwire_core::cluster::{Cluster, Health, ServerAddr};
use memwire_core::{
    Command, Error, Exptime, RequestId, Response, SizeStats, SlabStats, StatMap, StatsGroup, Store,
    Value,
};

use crate::common::{self, ClientBuilder, ClientConfig, ConfigError, FromConfig, PerServer};
use conn::Conn;

/// A blocking memcached client for one or several servers.
///
/// Keys are placed on servers with libmemcached-compatible weighted ketama
/// (see [`crate::common`]); `stats*`, `flush_all`, `version` and
/// `verbosity` run on every server and return one result per server.
/// Keys are anything byte-like (`&str`, `String`, `&[u8]`, `Bytes`), values
/// anything that converts into [`Bytes`].
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::blocking::Client;
/// use memwire::{Command, Error};
///
/// let client: Client = Client::builder()
///     .server("memcached://10.0.0.1:11211")
///     .server("10.0.0.2:11211")
///     .io_timeout(Duration::from_millis(500))
///     .build()?;
///
/// client.store(Command::set("foo", "xXx").flags(12).exptime(30))?;
/// match client.add("foo", "other") {
///     Err(Error::NotStored) => println!("foo exists already"),
///     other => other?,
/// }
/// let hits = client.get_multi(["foo", "bar"])?; // across both servers
/// for (server, stats) in client.stats() {
///     println!("{server}: {:?}", stats.map(|s| s.get("curr_items").cloned()));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    cluster: Cluster,
    servers: Vec<Server>,
}

#[derive(Debug)]
struct Server {
    addr: ServerAddr,
    idle: Mutex<Vec<Conn>>,
    health: Mutex<Health>,
}

/// The requests of one call going to one server, on one connection.
struct Session {
    server: usize,
    conn: Result<Conn, Error>,
    ids: Vec<(usize, RequestId)>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let cluster = config.cluster()?;
        let servers = config
            .servers
            .iter()
            .map(|(addr, _)| Server {
                addr: addr.clone(),
                idle: Mutex::new(Vec::new()),
                health: Mutex::new(Health::new(config.health)),
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                cluster,
                servers,
            }),
        })
    }
}

impl Client {
    // ---- construction ----

    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected until the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty list or an address that does not parse.
    pub fn new<I, S>(servers: I) -> Result<Client, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ClientBuilder::new().servers(servers).build()
    }

    /// A builder for timeouts, weights, limits and health settings; finish
    /// with [`ClientBuilder::build`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client from a ready configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoServers`] when it has no server.
    pub fn with_config(config: ClientConfig) -> Result<Client, ConfigError> {
        Client::from_config(config)
    }

    // ---- getters ----

    /// The servers, in configuration order.
    pub fn servers(&self) -> &[ServerAddr] {
        self.inner.cluster.servers()
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The server that owns `key`.
    pub fn server_for_key(&self, key: impl AsRef<[u8]>) -> &ServerAddr {
        let servers = self.inner.cluster.servers();
        let i = self.inner.cluster.server_for_key(key.as_ref());
        // The cluster's index is always in range; fall back to the first.
        servers.get(i).unwrap_or(&servers[0])
    }

    // ---- retrieval ----

    /// `get`: the item, or `None` on a miss.
    ///
    /// ```no_run
    /// # let client = memwire::blocking::Client::new(["127.0.0.1"])?;
    /// match client.get("session_id")? {
    ///     Some(v) => println!("Got cached results: {:?}", v.data),
    ///     None => println!("Cached value not available, need to recompute it"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, Error> {
        let key = common::key_bytes(key);
        let r = self.keyed(Command::get(key.clone()))?;
        common::into_value(&key, r)
    }

    /// `gets`: like [`Client::get`], with the item's CAS unique in
    /// [`Value::cas`] (for [`Client::cas`]).
    pub fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, Error> {
        let key = common::key_bytes(key);
        let r = self.keyed(Command::get(key.clone()).with_cas())?;
        common::into_value(&key, r)
    }

    /// `gat`: get the item and set its expiration time.
    pub fn gat(&self, key: impl AsRef<[u8]>, exptime: Exptime) -> Result<Option<Value>, Error> {
        let key = common::key_bytes(key);
        let r = self.keyed(Command::get(key.clone()).touch(exptime))?;
        common::into_value(&key, r)
    }

    /// `gats`: [`Client::gat`] with the CAS unique.
    pub fn gats(&self, key: impl AsRef<[u8]>, exptime: Exptime) -> Result<Option<Value>, Error> {
        let key = common::key_bytes(key);
        let r = self.keyed(Command::get(key.clone()).with_cas().touch(exptime))?;
        common::into_value(&key, r)
    }

    /// `get` of many keys, across servers: one request per server, all
    /// sent before any reply is read. Returns the hits in request order
    /// (misses are absent). Fails when any involved server fails.
    ///
    /// ```no_run
    /// # let client = memwire::blocking::Client::new(["127.0.0.1"])?;
    /// for v in client.get_multi(["a", "b", "c"])? {
    ///     println!("{:?} = {:?}", v.key, v.data);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_multi<I, K>(&self, keys: I) -> Result<Vec<Value>, Error>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.retrieve_multi(keys, false)
    }

    /// [`Client::get_multi`] with CAS uniques (`gets`).
    pub fn gets_multi<I, K>(&self, keys: I) -> Result<Vec<Value>, Error>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        self.retrieve_multi(keys, true)
    }

    // ---- storage ----

    /// `set`: store unconditionally (flags 0, no expiry).
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Result<(), Error> {
        self.store(Command::set(common::key_bytes(key), value))
    }

    /// `add`: store only if the key is absent, else [`Error::NotStored`].
    pub fn add(&self, key: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Result<(), Error> {
        self.store(Command::add(common::key_bytes(key), value))
    }

    /// `replace`: store only if the key is present, else
    /// [`Error::NotStored`].
    pub fn replace(&self, key: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Result<(), Error> {
        self.store(Command::replace(common::key_bytes(key), value))
    }

    /// `append`: add data after the existing data ([`Error::NotStored`] when
    /// absent).
    pub fn append(&self, key: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Result<(), Error> {
        self.store(Command::append(common::key_bytes(key), value))
    }

    /// `prepend`: add data before the existing data ([`Error::NotStored`]
    /// when absent).
    pub fn prepend(&self, key: impl AsRef<[u8]>, value: impl Into<Bytes>) -> Result<(), Error> {
        self.store(Command::prepend(common::key_bytes(key), value))
    }

    /// `cas`: store only if the item is unchanged since it was fetched with
    /// `cas_unique` ([`Client::gets`]). [`Error::Exists`] when it changed,
    /// [`Error::NotFound`] when it is gone.
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        cas_unique: u64,
    ) -> Result<(), Error> {
        self.store(Command::cas(common::key_bytes(key), value, cas_unique))
    }

    /// Any storage command with full control over mode, flags, exptime and
    /// `noreply`.
    ///
    /// ```no_run
    /// # let client = memwire::blocking::Client::new(["127.0.0.1"])?;
    /// use memwire::Command;
    /// client.store(Command::set("foo", "xXx").flags(12).exptime(30))?;
    /// client.store(Command::add("counter", "0").noreply())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self, store: Store) -> Result<(), Error> {
        self.keyed(store).and_then(common::into_unit)
    }

    // ---- other keyed commands ----

    /// `delete`: [`Error::NotFound`] when the key is absent.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), Error> {
        self.keyed(Command::delete(common::key_bytes(key)))
            .and_then(common::into_unit)
    }

    /// `touch`: set a new expiration time; [`Error::NotFound`] when absent.
    pub fn touch(&self, key: impl AsRef<[u8]>, exptime: Exptime) -> Result<(), Error> {
        self.keyed(Command::touch(common::key_bytes(key), exptime))
            .and_then(common::into_unit)
    }

    /// `incr`: add `delta` (wrapping at 2^64) and return the new value.
    /// [`Error::NotFound`] when absent, [`Error::NonNumeric`] when the value
    /// is not a decimal number.
    pub fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.keyed(Command::incr(common::key_bytes(key), delta))
            .and_then(common::into_number)
    }

    /// `decr`: subtract `delta` (stopping at 0) and return the new value.
    /// Errors as [`Client::incr`].
    pub fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<u64, Error> {
        self.keyed(Command::decr(common::key_bytes(key), delta))
            .and_then(common::into_number)
    }

    // ---- every server ----

    /// `flush_all` on every server: invalidate every item now.
    pub fn flush_all(&self) -> PerServer<()> {
        common::per_server(self.all(Command::flush_all().into()), common::into_unit)
    }

    /// `flush_all <delay>` on every server: invalidate every item in
    /// `delay` seconds.
    pub fn flush_all_delayed(&self, delay: u32) -> PerServer<()> {
        let cmd = Command::flush_all().delay(delay).into();
        common::per_server(self.all(cmd), common::into_unit)
    }

    /// `version` of every server.
    pub fn version(&self) -> PerServer<String> {
        common::per_server(self.all(Command::version()), common::into_version)
    }

    /// `verbosity <level>` on every server.
    pub fn verbosity(&self, level: u32) -> PerServer<()> {
        let cmd = Command::verbosity(level).into();
        common::per_server(self.all(cmd), common::into_unit)
    }

    /// `stats` of every server, typed ([`memwire_core::StatValue`]).
    pub fn stats(&self) -> PerServer<StatMap> {
        let cmd = Command::stats(StatsGroup::General);
        common::per_server(self.all(cmd), common::into_stats)
    }

    /// `stats settings` of every server.
    pub fn stats_settings(&self) -> PerServer<StatMap> {
        let cmd = Command::stats(StatsGroup::Settings);
        common::per_server(self.all(cmd), common::into_settings)
    }

    /// `stats items` of every server, by slab class.
    pub fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        let cmd = Command::stats(StatsGroup::Items);
        common::per_server(self.all(cmd), common::into_items)
    }

    /// `stats sizes` of every server: the item size histogram, or
    /// `enabled == false` unless memcached runs with `-o track_sizes`.
    pub fn stats_sizes(&self) -> PerServer<SizeStats> {
        let cmd = Command::stats(StatsGroup::Sizes);
        common::per_server(self.all(cmd), common::into_sizes)
    }

    /// `stats slabs` of every server: per slab class, plus totals.
    pub fn stats_slabs(&self) -> PerServer<SlabStats> {
        let cmd = Command::stats(StatsGroup::Slabs);
        common::per_server(self.all(cmd), common::into_slabs)
    }

    /// `stats conns` of every server, by file descriptor.
    pub fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        let cmd = Command::stats(StatsGroup::Conns);
        common::per_server(self.all(cmd), common::into_conns)
    }

    /// `stats reset` on every server: clear the counters.
    pub fn stats_reset(&self) -> PerServer<()> {
        let cmd = Command::stats(StatsGroup::Reset);
        common::per_server(self.all(cmd), common::into_unit)
    }

    /// Send `quit` on every idle connection and drop them. The client stays
    /// usable: the next call reconnects. Connections in use by other
    /// threads at this moment finish their call and return to the pool.
    pub fn close(&self) {
        for server in &self.inner.servers {
            let conns = std::mem::take(&mut *lock(&server.idle));
            for conn in conns {
                conn.quit(self.inner.config.io_timeout);
            }
        }
    }

    // ---- internals ----

    /// Send a keyed command to its key's server.
    fn keyed(&self, command: impl Into<Command>) -> Result<Response, Error> {
        let command = command.into();
        let server = command
            .keys()
            .first()
            .map_or(0, |k| self.inner.cluster.server_for_key(k));
        self.run(vec![(server, command)])
            .pop()
            .unwrap_or(Err(Error::Closed))
    }

    /// Send `command` to every server.
    fn all(&self, command: Command) -> PerServer<Response> {
        let n = self.inner.servers.len();
        let results = self.run((0..n).map(|i| (i, command.clone())).collect());
        self.servers().iter().cloned().zip(results).collect()
    }

    fn retrieve_multi<I, K>(&self, keys: I, cas: bool) -> Result<Vec<Value>, Error>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let keys: Vec<Bytes> = keys.into_iter().map(common::key_bytes).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        for k in &keys {
            memwire_core::key::validate(k)?;
        }
        let max_keys = self.inner.config.protocol.max_keys;
        let requests = common::group_keys(&self.inner.cluster, &keys, max_keys)
            .into_iter()
            .map(|(server, group)| {
                let r = Command::get_multi(group);
                (server, if cas { r.with_cas() } else { r }.into())
            })
            .collect();
        let mut hits = Vec::new();
        for result in self.run(requests) {
            hits.extend(common::into_values(result?)?);
        }
        Ok(common::order_hits(&keys, hits))
    }

    /// Run `(server, command)` requests: one connection per server, every
    /// request written before any reply is read, all within one deadline.
    /// Returns one result per request, in order.
    fn run(&self, requests: Vec<(usize, Command)>) -> Vec<Result<Response, Error>> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.io_timeout;
        let mut results: Vec<Option<Result<Response, Error>>> =
            requests.iter().map(|_| None).collect();
        let mut sessions: Vec<Session> = Vec::new();
        for (i, (server, command)) in requests.into_iter().enumerate() {
            let result = match command.validate(&config.protocol) {
                Err(e) => Err(e),
                Ok(()) => {
                    let pos = match sessions.iter().position(|s| s.server == server) {
                        Some(pos) => pos,
                        None => {
                            sessions.push(Session {
                                server,
                                conn: self.open(server),
                                ids: Vec::new(),
                            });
                            sessions.len() - 1
                        }
                    };
                    match sessions.get_mut(pos) {
                        Some(Session {
                            conn: Ok(conn),
                            ids,
                            ..
                        }) => match conn.send(command, deadline) {
                            Ok(id) => {
                                ids.push((i, id));
                                continue;
                            }
                            Err(e) => Err(e),
                        },
                        Some(Session { conn: Err(e), .. }) => Err(e.clone()),
                        None => Err(Error::Closed),
                    }
                }
            };
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        // Pipelining across servers: every request is on the wire before
        // the first reply is awaited.
        for session in &mut sessions {
            if let Ok(conn) = &mut session.conn {
                conn.flush(deadline);
            }
        }
        for session in sessions {
            let Session { server, conn, ids } = session;
            let Ok(mut conn) = conn else { continue };
            let mut failed = false;
            for (i, id) in ids {
                let result = conn.wait(id, deadline);
                failed |= matches!(&result, Err(e) if common::is_server_failure(e));
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(result);
                }
            }
            self.finish(server, conn, failed);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// A connection to `server`: a reusable idle one, or a new one. Fails
    /// fast with [`Error::NoServer`] while the server is down.
    fn open(&self, server: usize) -> Result<Conn, Error> {
        let Some(srv) = self.inner.servers.get(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        common::check_health(&mut lock(&srv.health), &srv.addr, Instant::now())?;
        loop {
            let idle = lock(&srv.idle).pop();
            match idle {
                Some(conn) if conn.is_reusable() => return Ok(conn),
                Some(stale) => drop(stale),
                None => break,
            }
        }
        let config = &self.inner.config;
        match Conn::connect(&srv.addr, config.connect_timeout, config.protocol) {
            Ok(conn) => Ok(conn),
            Err(e) => {
                lock(&srv.health).record_failure(Instant::now());
                Err(e)
            }
        }
    }

    /// Record the server's health and pool the connection if it is fit.
    fn finish(&self, server: usize, conn: Conn, failed: bool) {
        let Some(srv) = self.inner.servers.get(server) else {
            return;
        };
        if failed {
            lock(&srv.health).record_failure(Instant::now());
        } else {
            lock(&srv.health).record_success();
        }
        if conn.is_healthy() {
            let mut idle = lock(&srv.idle);
            if idle.len() < self.inner.config.max_idle_per_server {
                idle.push(conn);
            }
        }
    }
}
