//! [`Client`]: a ready-made client on its own [`Poll`], one pipelined
//! [`Adapter`] per server.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use memwire_core::cluster::{Cluster, Health, ServerAddr};
use memwire_core::{
    Command, Error, Exptime, RequestId, Response, SizeStats, SlabStats, StatMap, StatsGroup, Store,
    Value,
};
use mio::event::Event;
use mio::{Events, Poll, Registry, Token, Waker};

use super::Adapter;
use crate::common::{self, ClientBuilder, ClientConfig, ConfigError, FromConfig, PerServer};

/// The token of the waker that interrupts a poll in progress.
const WAKE: Token = Token(usize::MAX);
/// Longest single wait in the poll (or on the condition variable).
const MAX_WAIT: Duration = Duration::from_millis(250);
/// How long past its deadline a call waits for its connection to report
/// before giving up on its own (a safety net: deadlines are enforced by
/// the connections).
const GRACE: Duration = Duration::from_millis(500);

/// A memcached client for one or several servers, driven by mio on a
/// [`Poll`] of its own.
///
/// Same methods and semantics as the blocking client
/// (`memwire::blocking::Client`): keys placed with libmemcached-compatible weighted ketama
/// (see [`crate::common`]), server-wide commands returning one result per
/// server, per-server health with fail-fast [`Error::NoServer`] while a
/// server is down.
///
/// `Client` is `Send + Sync` and cheap to clone; clones share everything.
/// Each server has one non-blocking connection ([`Adapter`]) shared by all
/// threads: requests of concurrent calls are pipelined on it. A calling
/// thread queues its requests, then either drives the shared `Poll` for
/// everybody or waits while another thread does, until its own replies are
/// in. Each request has [`ClientConfig::io_timeout`] as its deadline and a
/// connect is bounded by [`ClientConfig::connect_timeout`]. A connection
/// that failed, timed out or was poisoned is replaced on the next call; no
/// call ever sees a reply meant for another.
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::mio::Client;
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
/// for (server, version) in client.version() {
///     println!("{server}: {version:?}");
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
    /// The poll exists (created on first use).
    ready: AtomicBool,
    /// Held only by the thread driving the poll. Lock order: `driver`, then
    /// `state`.
    driver: Mutex<Option<Driver>>,
    state: Mutex<State>,
    /// Signalled after every round of the driver.
    round: Condvar,
}

#[derive(Debug)]
struct Driver {
    poll: Poll,
    events: Events,
}

#[derive(Debug)]
struct State {
    /// A clone of the poll's registry and the waker, once the poll exists.
    io: Option<(Registry, Waker)>,
    servers: Vec<Slot>,
    /// Finished requests, until their caller takes them.
    results: HashMap<Ticket, Result<Response, Error>>,
    /// Some thread is in (or about to enter) the poll.
    driving: bool,
    /// When the driver's poll returns at the latest.
    driver_wake: Option<Instant>,
}

#[derive(Debug)]
struct Slot {
    addr: ServerAddr,
    adapter: Option<Adapter>,
    /// Incremented with every new adapter: request ids restart per
    /// connection.
    generation: u64,
    health: Health,
}

/// One request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Ticket {
    server: usize,
    generation: u64,
    id: RequestId,
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
            .map(|(addr, _)| Slot {
                addr: addr.clone(),
                adapter: None,
                generation: 0,
                health: Health::new(config.health),
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                cluster,
                ready: AtomicBool::new(false),
                driver: Mutex::new(None),
                state: Mutex::new(State {
                    io: None,
                    servers,
                    results: HashMap::new(),
                    driving: false,
                    driver_wake: None,
                }),
                round: Condvar::new(),
            }),
        })
    }
}

impl Client {
    // ---- construction ----

    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected (and no `Poll` created) until the
    /// first request.
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
    /// # let client = memwire::mio::Client::new(["127.0.0.1"])?;
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
    /// # let client = memwire::mio::Client::new(["127.0.0.1"])?;
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
    /// # let client = memwire::mio::Client::new(["127.0.0.1"])?;
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

    /// Send `quit` on every connection that has nothing in flight and close
    /// it. The client stays usable: the next call reconnects. Connections
    /// in use by other threads at this moment stay open for them.
    pub fn close(&self) {
        let mut st = lock(&self.inner.state);
        for server in 0..st.servers.len() {
            st.collect(server);
            let Some(slot) = st.servers.get_mut(server) else {
                continue;
            };
            let idle = slot
                .adapter
                .as_ref()
                .is_some_and(|a| a.in_flight() == 0 && !a.wants_write());
            if !idle {
                continue;
            }
            if let Some(mut adapter) = slot.adapter.take() {
                // Best effort: the few bytes of `quit` fit the socket buffer.
                let _ = adapter.send(Command::quit(), None);
                while adapter.poll_response().is_some() {}
                slot.generation += 1;
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
        let n = self.inner.cluster.servers().len();
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

    /// Create the poll on first use.
    fn ensure_io(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        if inner.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut driver = lock(&inner.driver);
        if driver.is_none() {
            let poll = Poll::new()?;
            let registry = poll.registry().try_clone()?;
            let waker = Waker::new(poll.registry(), WAKE)?;
            lock(&inner.state).io = Some((registry, waker));
            *driver = Some(Driver {
                poll,
                events: Events::with_capacity(256),
            });
            inner.ready.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Run `(server, command)` requests: every request queued (and written
    /// as far as the sockets take it) before any reply is awaited, all
    /// within one deadline. Returns one result per request, in order.
    fn run(&self, requests: Vec<(usize, Command)>) -> Vec<Result<Response, Error>> {
        let inner = &*self.inner;
        let config = &inner.config;
        let io = self.ensure_io();
        let now = Instant::now();
        let deadline = now + config.io_timeout;
        let targets: Vec<usize> = requests.iter().map(|(server, _)| *server).collect();
        let mut results: Vec<Option<Result<Response, Error>>> =
            requests.iter().map(|_| None).collect();
        let mut opened: Vec<(usize, Result<(), Error>)> = Vec::new();
        let mut tickets: Vec<(usize, Ticket)> = Vec::new();

        let mut st = lock(&inner.state);
        for (i, (server, command)) in requests.into_iter().enumerate() {
            let result = match (command.validate(&config.protocol), &io) {
                (Err(e), _) => Err(e),
                (Ok(()), Err(e)) => Err(e.clone()),
                (Ok(()), Ok(())) => {
                    let open = match opened.iter().find(|(s, _)| *s == server) {
                        Some((_, r)) => r.clone(),
                        None => {
                            let r = st.open(server, config, now);
                            opened.push((server, r.clone()));
                            r
                        }
                    };
                    match open.and_then(|()| st.send(server, command, deadline)) {
                        Ok(ticket) => {
                            tickets.push((i, ticket));
                            continue;
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        st.wake_driver_if_late();
        let mut st = self.wait(st, &tickets, deadline);
        for (i, ticket) in &tickets {
            let result = st.results.remove(ticket).unwrap_or(Err(Error::Timeout));
            if let Some(slot) = results.get_mut(*i) {
                *slot = Some(result);
            }
        }
        // Health: one verdict per server this call reached.
        let now = Instant::now();
        for (server, open) in opened {
            if open.is_err() {
                continue; // recorded by `open` (or a fail-fast NoServer)
            }
            let failed = targets.iter().zip(&results).any(|(s, r)| {
                *s == server && matches!(r, Some(Err(e)) if common::is_server_failure(e))
            });
            if let Some(slot) = st.servers.get_mut(server) {
                if failed {
                    slot.health.record_failure(now);
                } else {
                    slot.health.record_success();
                }
            }
        }
        drop(st);
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// Until every ticket has its result: drive the poll for everybody, or
    /// wait while another thread does.
    fn wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        tickets: &[(usize, Ticket)],
        deadline: Instant,
    ) -> MutexGuard<'a, State> {
        let inner = &*self.inner;
        let limit = deadline + GRACE;
        loop {
            if tickets.iter().all(|(_, t)| st.results.contains_key(t)) {
                return st;
            }
            let now = Instant::now();
            if now >= limit {
                st.give_up(tickets);
                return st;
            }
            if st.driving {
                st = inner
                    .round
                    .wait_timeout(st, MAX_WAIT)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            // Become the driver: poll without holding the state, so other
            // threads can queue (and write) requests meanwhile.
            st.driving = true;
            let wake = st.next_timeout().unwrap_or(limit).min(limit);
            let wait = wake.saturating_duration_since(now).min(MAX_WAIT);
            st.driver_wake = Some(now + wait);
            drop(st);
            let mut driver = lock(&inner.driver);
            let polled = match &mut *driver {
                Some(d) => d.poll.poll(&mut d.events, Some(wait)),
                None => Ok(()),
            };
            st = lock(&inner.state);
            if let (Ok(()), Some(d)) = (&polled, &*driver) {
                for event in d.events.iter() {
                    st.handle_event(event);
                }
            }
            drop(driver);
            // A failed poll (EINTR, ...) is retried; deadlines still hold.
            st.handle_timeouts(Instant::now());
            st.driving = false;
            st.driver_wake = None;
            inner.round.notify_all();
        }
    }
}

impl State {
    /// Make sure `server` has a usable connection (replacing a dead one),
    /// or fail fast while it is down.
    fn open(&mut self, server: usize, config: &ClientConfig, now: Instant) -> Result<(), Error> {
        let Some(slot) = self.servers.get_mut(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        common::check_health(&mut slot.health, &slot.addr, now)?;
        if let Some(adapter) = &mut slot.adapter {
            if adapter.in_flight() == 0 && !adapter.wants_write() {
                // An idle connection may have been closed by the server:
                // find out now rather than with the request.
                adapter.drive();
            }
        }
        self.collect(server);
        let Some(slot) = self.servers.get_mut(server) else {
            return Err(Error::Closed);
        };
        if slot.adapter.as_ref().is_some_and(|a| !a.is_poisoned()) {
            return Ok(());
        }
        // Every request of the old connection has completed and been
        // collected: it can go.
        slot.adapter = None;
        slot.generation += 1;
        let Some((registry, _)) = &self.io else {
            return Err(Error::Closed);
        };
        let connect_deadline = Some(now + config.connect_timeout);
        let connected = Adapter::connect(&slot.addr, config.protocol, connect_deadline).and_then(
            |mut adapter| {
                adapter.register(registry, Token(server))?;
                Ok(adapter)
            },
        );
        match connected {
            Ok(adapter) => {
                slot.adapter = Some(adapter);
                Ok(())
            }
            Err(e) => {
                slot.health.record_failure(now);
                Err(Error::connect(&slot.addr, e))
            }
        }
    }

    /// Queue `command` on `server`'s connection.
    fn send(
        &mut self,
        server: usize,
        command: Command,
        deadline: Instant,
    ) -> Result<Ticket, Error> {
        let Some(slot) = self.servers.get_mut(server) else {
            return Err(Error::Closed);
        };
        let generation = slot.generation;
        let sent = match &mut slot.adapter {
            Some(adapter) => adapter.send(command, Some(deadline)),
            None => Err(Error::Closed),
        };
        self.collect(server);
        sent.map(|id| Ticket {
            server,
            generation,
            id,
        })
    }

    /// Move `server`'s finished requests into `results`.
    fn collect(&mut self, server: usize) {
        let Some(slot) = self.servers.get_mut(server) else {
            return;
        };
        let Some(adapter) = &mut slot.adapter else {
            return;
        };
        while let Some(done) = adapter.poll_response() {
            let ticket = Ticket {
                server,
                generation: slot.generation,
                id: done.id,
            };
            self.results.insert(ticket, done.result);
        }
    }

    fn handle_event(&mut self, event: &Event) {
        let server = event.token().0;
        if event.token() == WAKE {
            return;
        }
        if let Some(adapter) = self
            .servers
            .get_mut(server)
            .and_then(|s| s.adapter.as_mut())
        {
            adapter.handle_event(event);
        }
        self.collect(server);
    }

    fn handle_timeouts(&mut self, now: Instant) {
        for server in 0..self.servers.len() {
            if let Some(adapter) = self
                .servers
                .get_mut(server)
                .and_then(|s| s.adapter.as_mut())
            {
                adapter.handle_timeout(now);
            }
            self.collect(server);
        }
    }

    /// The earliest deadline of any connection.
    fn next_timeout(&self) -> Option<Instant> {
        self.servers
            .iter()
            .filter_map(|s| s.adapter.as_ref().and_then(Adapter::poll_timeout))
            .min()
    }

    /// A poll in progress would wake after the earliest deadline (a new
    /// connect timeout shorter than the I/O timeout): interrupt it.
    fn wake_driver_if_late(&self) {
        let (Some(wake), Some(next), Some((_, waker))) =
            (self.driver_wake, self.next_timeout(), &self.io)
        else {
            return;
        };
        if self.driving && next < wake {
            let _ = waker.wake();
        }
    }

    /// The safety net: a call past its deadline (plus grace) stops waiting.
    fn give_up(&mut self, tickets: &[(usize, Ticket)]) {
        for (_, ticket) in tickets {
            if self.results.contains_key(ticket) {
                continue;
            }
            if let Some(slot) = self.servers.get_mut(ticket.server) {
                if slot.generation == ticket.generation {
                    if let Some(adapter) = &mut slot.adapter {
                        adapter.abandon(ticket.id);
                    }
                }
            }
            self.results.insert(*ticket, Err(Error::Timeout));
        }
    }
}
