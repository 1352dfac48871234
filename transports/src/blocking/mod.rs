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

use std::sync::{Arc, Mutex};
use std::time::Instant;

use memwire_core::client::{
    Call, ClientBuilder, ClientConfig, ConfigError, FromConfig, HealthEvent, Operation, Router,
    ServerHealth,
};
use memwire_core::{Error, RequestId};

use crate::lock;
use crate::Commands;
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
/// [`Command`](crate::Command), and a builder knows what it builds:
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
    router: Arc<Router>,
    servers: Vec<Server>,
}

#[derive(Debug)]
struct Server {
    health: Mutex<ServerHealth>,
    pool: Pool,
}

/// The connection a call uses for one server, and what it sent on it.
struct Session {
    server: usize,
    conn: Box<Conn>,
    replied: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let router = Arc::new(config.router()?);
        let servers = config
            .server_health()
            .into_iter()
            .map(|health| Server {
                health: Mutex::new(health),
                pool: Pool::new(
                    config.max_connections_per_server,
                    config.max_idle_per_server,
                ),
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                router,
                servers,
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

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The connection for `server` in this call: the session's, or one from
    /// the pool (opened if needed), once the server's health admits it.
    fn open(&self, server: usize, deadline: Instant) -> Result<Box<Conn>, Error> {
        let Some(srv) = self.inner.servers.get(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        lock(&srv.health).admit(Instant::now())?;
        let addr = &self.inner.router.servers()[server];
        loop {
            match srv.pool.acquire(deadline) {
                Err(max) => return Err(pool::exhausted(addr, max)),
                Ok(Slot::Idle(conn)) if conn.is_reusable() => return Ok(conn),
                Ok(Slot::Idle(stale)) => {
                    drop(stale);
                    srv.pool.forget();
                }
                Ok(Slot::New(permit)) => {
                    let config = &self.inner.config;
                    let connect_by = deadline.min(Instant::now() + config.connect_timeout);
                    return match Conn::connect(addr, connect_by, config.protocol) {
                        Ok(conn) => {
                            permit.opened();
                            Ok(Box::new(conn))
                        }
                        Err(e) => {
                            lock(&srv.health).record(HealthEvent::ConnectFailed, Instant::now());
                            Err(e)
                        }
                    };
                }
            }
        }
    }

    /// Give a session's connection back and tell the failure policy how
    /// the server did.
    fn release(&self, session: Session) {
        let Some(srv) = self.inner.servers.get(session.server) else {
            return;
        };
        let now = Instant::now();
        match session.conn.failure() {
            Some(cause) => lock(&srv.health).record(HealthEvent::ConnectionLost(cause), now),
            None if session.replied => lock(&srv.health).record(HealthEvent::Replied, now),
            None => {}
        }
        srv.pool.put_back(session.conn);
    }
}

impl Commands for Client {
    /// One connection per server involved, every request written before
    /// any reply is read, all within one deadline.
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let deadline = Instant::now() + self.inner.config.io_timeout;
        let mut call = match Call::start(op, &self.inner.router) {
            Ok(call) => call,
            Err(refused) => return refused,
        };
        let mut sessions: Vec<Session> = Vec::new();
        let mut sent: Vec<(usize, usize, RequestId)> = Vec::new();
        for (index, dispatch) in call.take_dispatches() {
            let position = match sessions.iter().position(|s| s.server == dispatch.server) {
                Some(p) => p,
                None => match self.open(dispatch.server, deadline) {
                    Ok(conn) => {
                        sessions.push(Session {
                            server: dispatch.server,
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
            match sessions[position].conn.send(dispatch.command, deadline) {
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
            session.replied |= result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error);
            call.complete(index, result);
        }
        for session in sessions {
            self.release(session);
        }
        call.finish()
    }

    fn router(&self) -> Arc<Router> {
        self.inner.router.clone()
    }

    fn close(&self) {
        for srv in &self.inner.servers {
            for conn in srv.pool.drain_idle() {
                conn.quit(self.inner.config.io_timeout);
            }
        }
    }
}
