//! [`Client`]: a ready-made client on its own [`Poll`], one pipelined
//! [`Adapter`] per server.

use crate::common::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use memwire_core::cluster::{Cluster, Health, ServerAddr};
use memwire_core::{Command, Error, RequestId, Response};
use mio::event::Event;
use mio::{Events, Poll, Registry, Token, Waker};

use super::Adapter;
use crate::common::{self, ClientConfig, ConfigError, FromConfig};

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
    crate::api::client_api! {
        example_client: "memwire::mio::Client",
        lazily: "Nothing is connected (and no `Poll` created) until the first request.",
        get_multi_sends: "all sent before any reply is read",
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
