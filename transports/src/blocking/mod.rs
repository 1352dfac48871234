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

use crate::common::lock;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[cfg(doc)]
use bytes::Bytes;
use memwire_core::cluster::{Cluster, Health, ServerAddr};
use memwire_core::{Command, Error, RequestId, Response};

use crate::common::{self, ClientConfig, ConfigError, FromConfig};
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
    crate::api::client_api! {
        example_client: "memwire::blocking::Client",
        lazily: "Nothing is connected until the first request.",
        get_multi_sends: "all sent before any reply is read",
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
