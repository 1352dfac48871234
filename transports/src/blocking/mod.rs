//! The blocking client: std sockets (TCP or Unix), one core
//! [`Connection`](memwire_core::Connection) per socket, a bounded pool of
//! connections per server.
//!
//! [`Client`] is `Send + Sync` and cheap to clone (clones share the
//! pools); share it between threads. A call takes a connection to each
//! server it needs from that server's pool (or opens one), writes every
//! request before reading any reply, and returns the connections. All of
//! it — connecting, writing, reading — happens within
//! [`ClientConfig::io_timeout`]. A connection that timed out, broke or was
//! poisoned is dropped, never reused: no call ever sees a reply meant for
//! another. Routing, fan-out, result assembly and the failure policy are
//! the sans-IO client layer's ([`memwire_core::client`]).
//!
//! ```no_run
//! use memwire::blocking::Client;
//! use memwire::Commands;
//!
//! let client = Client::new(["memcached://127.0.0.1:11211"])?;
//! client.set("session_id", "TEST SESSION DATA")?;
//! if let Some(value) = client.get("session_id")? {
//!     println!("{:?} (flags {})", value.data, value.flags);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod conn;
mod pool;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use memwire_core::client::{
    Admission, Call, ClientBuilder, ClientConfig, ConfigError, FromConfig, HealthEvent, Operation,
    Router,
};
use memwire_core::cluster::ServerAddr;
use memwire_core::{Command, Error, RequestId};

use crate::net::IDLE_CHECK;
use crate::{plan_buffer, Commands, Connector};
use conn::Conn;
use pool::{Pool, Slot};

/// A blocking memcached client for one or several servers. Its operations
/// are the methods of [`Commands`].
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::blocking::Client;
/// use memwire::{Commands, Error, Expiry, StoreOptions};
///
/// let client = Client::builder()
///     .server("memcached://10.0.0.1:11211")
///     .server("10.0.0.2:11211")
///     .io_timeout(Duration::from_millis(500))
///     .build()?;
///
/// client.set_with("foo", "xXx", StoreOptions::new().flags(12).expiry(Expiry::secs(30)))?;
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
///
/// Values may be borrowed from local buffers, storage options need no
/// [`Command`], and a builder knows what it builds:
///
/// ```no_run
/// use memwire::blocking::Client;
/// use memwire::{Commands, Expiry, StoreOptions};
///
/// fn store_local(client: &Client) -> Result<(), memwire::Error> {
///     let buf = vec![7u8; 16];
///     client.set("k", &buf[..])?; // a borrowed slice
///     let s = String::from("text");
///     client.set("k", s.as_str())?; // a borrowed str
///     client.set_with("k", &buf[..], StoreOptions::new().flags(3).expiry(Expiry::secs(60)))?;
///     Ok(())
/// }
///
/// let client = Client::builder().server("127.0.0.1:11211").build()?; // no annotation
/// store_local(&client)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    /// The servers now; replaced whole by [`Commands::reconfigure`], while
    /// calls in progress keep the one they started with.
    topology: RwLock<Arc<Topology>>,
}

/// A server list: its router (placement, limits, health), one connection
/// pool per server, in the router's order, and how connections are opened
/// (TLS, login).
#[derive(Debug)]
struct Topology {
    router: Arc<Router>,
    pools: Vec<Arc<Pool>>,
    connector: Connector,
}

/// The connection a call uses for one server in one round.
struct Session {
    server: usize,
    conn: Box<Conn>,
    replied: bool,
}

/// How long a caller refused while its server is being probed waits
/// before asking again.
const PROBE_WAIT: Duration = Duration::from_millis(2);

/// Whether an idle pooled connection is checked for a server that closed
/// it (or sent something) before a request goes out on it: a
/// `recv(MSG_PEEK)`, one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liveness {
    /// Never: a read in its first round, which the client layer sends
    /// again on another connection if this one turns out dead.
    Unchecked,
    /// When it sat idle for [`IDLE_CHECK`] or longer at the instant
    /// given (a round's start that nothing has blocked since), else at
    /// the clock's time.
    AfterIdle(Option<Instant>),
    /// Always: a retry round, where no second retry would follow.
    Always,
}

impl Liveness {
    /// The check for `command` in round `round` (0 first), sent at `now`
    /// when that is known.
    fn of(command: &Command, round: usize, router: &Router, now: Option<Instant>) -> Liveness {
        if round > 0 {
            Liveness::Always
        } else if command.is_idempotent() && router.retries_reads() {
            Liveness::Unchecked
        } else {
            Liveness::AfterIdle(now)
        }
    }

    /// Whether a connection idle since `since` is checked (the clock is
    /// read only when that depends on it).
    fn needs_peek(self, since: Instant) -> bool {
        match self {
            Liveness::Unchecked => false,
            Liveness::AfterIdle(now) => {
                now.unwrap_or_else(Instant::now)
                    .saturating_duration_since(since)
                    >= IDLE_CHECK
            }
            Liveness::Always => true,
        }
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let router = Arc::new(config.router()?);
        let connector = Connector::new(&config)?;
        let pools = router
            .servers()
            .iter()
            .map(|_| {
                Arc::new(Pool::new(
                    config.max_connections_per_server,
                    config.max_idle_per_server,
                ))
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                topology: RwLock::new(Arc::new(Topology {
                    router,
                    pools,
                    connector,
                })),
            }),
        })
    }
}

impl Client {
    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected until the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty list or an address that does not parse.
    pub fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> Result<Client, ConfigError> {
        Client::builder().servers(servers).build()
    }

    /// A builder for timeouts, weights, limits and health settings.
    pub fn builder() -> ClientBuilder<Client> {
        ClientBuilder::default()
    }

    /// The configuration the client was built with (the server list may
    /// have been replaced since: see [`Commands::servers`]).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn topology(&self) -> Arc<Topology> {
        self.inner
            .topology
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Topology {
    /// The connection for `server` in this round, once the router admits
    /// the server: one from the pool, or a new one. A server due for a
    /// probe is checked with `version` on a fresh connection first; a
    /// caller refused while another probes waits for the outcome.
    /// The admission of a server that needs no probe does not depend on
    /// the time: the call's start (`started`) stands for it then.
    fn open(
        &self,
        server: usize,
        (started, deadline): (Instant, Instant),
        config: &ClientConfig,
        mut check: Liveness,
    ) -> Result<Box<Conn>, Error> {
        let admission = loop {
            let now = match self.router.is_gated(server) {
                true => Instant::now(),
                false => started,
            };
            match self.router.admit(server, now) {
                Ok(admission) => break admission,
                Err(e)
                    if self.router.worth_waiting(server)
                        && Instant::now() + PROBE_WAIT < deadline =>
                {
                    drop(e);
                    std::thread::sleep(PROBE_WAIT);
                    // The instant given is past: read the clock instead.
                    if let Liveness::AfterIdle(now) = &mut check {
                        *now = None;
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let pool = self
            .pools
            .get(server)
            .ok_or(Error::InvalidArgument("no such server"))?;
        let addr = &self.router.servers()[server];
        if admission == Admission::Probe {
            return self.probe(server, deadline, config);
        }
        loop {
            match pool.acquire(deadline) {
                Err(max) => return Err(pool::exhausted(addr, max)),
                Ok(Slot::Idle(conn, since)) if conn.is_reusable(check.needs_peek(since)) => {
                    return Ok(conn)
                }
                Ok(Slot::Idle(stale, _)) => {
                    drop(stale);
                    pool.forget();
                }
                Ok(Slot::New(permit)) => {
                    let conn = self.connect(server, deadline, config)?;
                    permit.opened();
                    return Ok(conn);
                }
            }
        }
    }

    /// A new connection to `server`, connected within the connect timeout
    /// and opened (TLS handshake, login) by `deadline`; the failure policy
    /// hears of it.
    fn connect(
        &self,
        server: usize,
        deadline: Instant,
        config: &ClientConfig,
    ) -> Result<Box<Conn>, Error> {
        let addr = &self.router.servers()[server];
        let connect_by = deadline.min(Instant::now() + config.connect_timeout);
        let proto = crate::connection_for(&self.router, server);
        Conn::connect(addr, &self.connector, connect_by, proto)
            .and_then(|mut conn| {
                let connected = HealthEvent::Connected;
                self.router.record(server, connected, Instant::now());
                conn.open(deadline).map(|()| Box::new(conn))
            })
            .inspect_err(|e| {
                let event = match e {
                    Error::Connect { .. } => HealthEvent::ConnectFailed,
                    opening => HealthEvent::ConnectionLost(opening),
                };
                self.router.record(server, event, Instant::now())
            })
    }

    /// Check a down server with `version` on a fresh connection and report
    /// the outcome; the connection is the caller's if the server answered.
    fn probe(
        &self,
        server: usize,
        deadline: Instant,
        config: &ClientConfig,
    ) -> Result<Box<Conn>, Error> {
        self.check(server, deadline, config).inspect_err(|e| {
            let failed = HealthEvent::ProbeFailed(e);
            self.router.record(server, failed, Instant::now());
        })
    }

    /// The probe's exchange: a `version` on a fresh connection.
    fn check(
        &self,
        server: usize,
        deadline: Instant,
        config: &ClientConfig,
    ) -> Result<Box<Conn>, Error> {
        let pool = self
            .pools
            .get(server)
            .ok_or(Error::InvalidArgument("no such server"))?;
        let mut conn = match pool.acquire(deadline) {
            Ok(Slot::New(permit)) => {
                let conn = self.connect(server, deadline, config)?;
                permit.opened();
                conn
            }
            // Idle connections of a down server are stale: drop them.
            Ok(Slot::Idle(stale, _)) => {
                drop(stale);
                self.connect(server, deadline, config)?
            }
            Err(max) => return Err(pool::exhausted(&self.router.servers()[server], max)),
        };
        let answered = conn
            .send(&Command::version(), deadline)
            .and_then(|id| conn.wait(id, deadline));
        let now = Instant::now();
        match (answered, conn.failure()) {
            (Ok(_), _) => {
                self.router.record(server, HealthEvent::Replied, now);
                Ok(conn)
            }
            (Err(e), Some(cause)) => {
                self.router
                    .record(server, HealthEvent::ConnectionLost(cause), now);
                pool.forget();
                Err(e)
            }
            (Err(e), None) => {
                pool.put_back(conn);
                Err(e)
            }
        }
    }

    /// A round of one command: open its server's connection, send, wait
    /// for the reply, give the connection back.
    fn run_one<O: Operation>(
        &self,
        call: &mut Call<O>,
        index: usize,
        (round, now): (usize, Instant),
        (started, deadline): (Instant, Instant),
        config: &ClientConfig,
    ) {
        let dispatch = call.dispatch(index);
        let server = dispatch.server;
        // Nothing has blocked since the round began at `now`.
        let check = Liveness::of(&dispatch.command, round, &self.router, Some(now));
        let mut conn = match self.open(server, (started, deadline), config, check) {
            Ok(conn) => conn,
            Err(e) => return call.complete(index, Err(e)),
        };
        let result = conn
            .send_checked(call.checked(index), deadline)
            .and_then(|id| conn.wait(id, deadline));
        let replied = result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error);
        call.complete(index, result);
        self.release(
            Session {
                server,
                conn,
                replied,
            },
            started,
        );
    }

    /// Give a session's connection back and tell the failure policy how
    /// the server did (`started`, the call's start, stands for the time
    /// of a reply: the policy does not look at it).
    fn release(&self, session: Session, started: Instant) {
        match session.conn.failure() {
            Some(cause) => self.router.record(
                session.server,
                HealthEvent::ConnectionLost(cause),
                Instant::now(),
            ),
            None if session.replied => {
                self.router
                    .record(session.server, HealthEvent::Replied, started)
            }
            None => {}
        }
        if let Some(pool) = self.pools.get(session.server) {
            pool.put_back(session.conn);
        }
    }

    /// The rounds of `call`, begun at `started` (`probed`: after probes
    /// that took their time): per round, one connection per server
    /// involved, every request written before any reply is read.
    fn run<O: Operation>(
        &self,
        call: &mut Call<O>,
        (started, deadline): (Instant, Instant),
        probed: bool,
        config: &ClientConfig,
    ) {
        for number in 0.. {
            if call.is_finished() {
                break;
            }
            // The first round follows the start at once, unless probes
            // took their time.
            let now = match number {
                0 if !probed => started,
                _ => Instant::now(),
            };
            let round = call.next_round(now, deadline);
            if round.is_empty() {
                break;
            }
            if round.len() == 1 {
                // One command (any keyed operation): no lists to keep.
                for index in round {
                    self.run_one(call, index, (number, now), (started, deadline), config);
                }
                continue;
            }
            let mut sessions: Vec<Session> = Vec::new();
            let mut sent: Vec<(usize, usize, RequestId)> = Vec::new();
            for index in round {
                let dispatch = call.dispatch(index);
                let server = dispatch.server;
                let position = match sessions.iter().position(|s| s.server == server) {
                    Some(p) => p,
                    None => match self.open(
                        server,
                        (started, deadline),
                        config,
                        // An earlier server's connect may have taken time.
                        Liveness::of(&dispatch.command, number, &self.router, None),
                    ) {
                        Ok(conn) => {
                            sessions.push(Session {
                                server,
                                conn,
                                replied: false,
                            });
                            sessions.len() - 1
                        }
                        Err(e) => {
                            call.complete(index, Err(e));
                            continue;
                        }
                    },
                };
                match sessions[position]
                    .conn
                    .send_checked(call.checked(index), deadline)
                {
                    Ok(id) => sent.push((index, position, id)),
                    Err(e) => call.complete(index, Err(e)),
                }
            }
            // Every request is on the wire before the first reply is awaited.
            for session in &mut sessions {
                session.conn.flush(deadline);
            }
            for (index, position, id) in sent {
                let session = &mut sessions[position];
                let result = session.conn.wait(id, deadline);
                session.replied |=
                    result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error);
                call.complete(index, result);
            }
            for session in sessions {
                self.release(session, started);
            }
        }
    }

    /// Probe the down servers an ejecting router hands out (their keys go
    /// elsewhere meanwhile, so nothing else would bring them back); whether
    /// there were any.
    fn run_due_probes(&self, now: Instant, deadline: Instant, config: &ClientConfig) -> bool {
        let due = self.router.due_probes(now);
        for &server in &due {
            if let (Ok(conn), Some(pool)) =
                (self.probe(server, deadline, config), self.pools.get(server))
            {
                pool.put_back(conn);
            }
        }
        !due.is_empty()
    }
}

impl Commands for Client {
    /// Per round, one connection per server involved, every request
    /// written before any reply is read; all rounds within one deadline.
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let config = &self.inner.config;
        let started = Instant::now();
        let deadline = started + config.io_timeout;
        let topology = self.topology();
        let probed = topology.run_due_probes(started, deadline, config);
        // Run where it was planned, by reference: a call may be large to
        // move.
        let mut call = plan_buffer::start(op, &topology.router);
        let _span = call.as_ref().ok().map(crate::trace::enter);
        if let Ok(call) = &mut call {
            topology.run(call, (started, deadline), probed, config);
        }
        match call {
            Ok(call) => plan_buffer::finish(call),
            Err(refused) => refused,
        }
    }

    fn router(&self) -> Arc<Router> {
        self.topology().router.clone()
    }

    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        let mut current = self
            .inner
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut config = self.inner.config.clone();
        config.servers = servers;
        let router = Arc::new(config.router_after(&current.router)?);
        let connector = current.connector.for_servers(router.servers().iter())?;
        let pools = router
            .servers()
            .iter()
            .map(
                |addr| match current.router.servers().iter().position(|a| a == addr) {
                    Some(old) => current.pools[old].clone(),
                    None => Arc::new(Pool::new(
                        config.max_connections_per_server,
                        config.max_idle_per_server,
                    )),
                },
            )
            .collect();
        *current = Arc::new(Topology {
            router,
            pools,
            connector,
        });
        Ok(())
    }

    fn close(&self) {
        for pool in &self.topology().pools {
            for conn in pool.drain_idle() {
                conn.quit(self.inner.config.io_timeout);
            }
        }
    }
}
