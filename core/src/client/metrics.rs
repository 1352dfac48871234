//! [`ServerCounters`]: what a client did with each server — requests,
//! errors by kind, connections, bytes — counted as it happens, and read
//! as a [`ServerMetrics`] snapshot.
//!
//! The [`Router`](super::Router) holds one set of counters per server and
//! keeps them across a reconfiguration for the servers that stay; a
//! [`Call`](super::Call) counts its requests and their outcomes (through
//! its [`Ledger`], which also settles the requests of a call dropped
//! before they completed), the router the connects its transport reports,
//! and a [`Connection`](crate::Connection) made
//! [`counting`](crate::Connection::counting) its bytes. Counting is a
//! relaxed atomic addition: no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::client::trace;
use crate::cluster::ServerAddr;
use crate::error::Error;

/// The live counters of one server, shared (as `Arc<ServerCounters>`) by
/// a router, its calls and the connections to the server. Read them with
/// [`ServerCounters::snapshot`].
///
/// ```
/// use std::sync::Arc;
/// use memwire_core::client::ServerCounters;
/// use memwire_core::{Command, Config, Connection};
///
/// let counters = Arc::new(ServerCounters::default());
/// let mut conn = Connection::new(Config::default()).counting(counters.clone());
/// conn.send(Command::get("k"), None)?;
/// let n = conn.pending_output().len();
/// conn.advance_output(n); // the transport wrote it
/// conn.handle_input(b"END\r\n");
/// let metrics = counters.snapshot();
/// assert_eq!((metrics.bytes_sent, metrics.bytes_received), (7, 5));
/// # Ok::<(), memwire_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct ServerCounters {
    requests: AtomicU64,
    completed: AtomicU64,
    timeouts: AtomicU64,
    connection_errors: AtomicU64,
    refused: AtomicU64,
    server_errors: AtomicU64,
    retries: AtomicU64,
    abandoned: AtomicU64,
    connections: AtomicU64,
    connect_failures: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

/// A server's counters at one moment (see [`ServerCounters`]). Each is a
/// total since the client was built; the counters are read one by one, so
/// a snapshot taken while calls run may be a request or two apart.
///
/// ```
/// use memwire_core::client::ServerMetrics;
/// let quiet = ServerMetrics::default();
/// assert_eq!((quiet.requests, quiet.in_flight()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerMetrics {
    /// Commands sent to the server, read retries included, and the ones
    /// that failed before they could be sent (refused, past the call's
    /// deadline).
    pub requests: u64,
    /// Commands whose reply or failure has been reported, or whose call
    /// was dropped before they completed (`abandoned`).
    pub completed: u64,
    /// Completed with a timeout ([`Error::is_timeout`]): the request's
    /// deadline, an earlier request's that poisoned its connection, or the
    /// connect's.
    pub timeouts: u64,
    /// Completed with another failure of the connection: closed, reset,
    /// poisoned, a protocol violation, a failed connect, TLS or login.
    pub connection_errors: u64,
    /// Failed without being sent: the server was down
    /// ([`Error::NoServer`]) or its connections stayed busy
    /// ([`Error::PoolExhausted`]).
    pub refused: u64,
    /// Answered with an error: `SERVER_ERROR`, `CLIENT_ERROR` or `ERROR`.
    /// (Misses, `NOT_STORED`, `EXISTS` and `NOT_FOUND` are outcomes, not
    /// errors.)
    pub server_errors: u64,
    /// Reads sent again on a fresh connection after theirs failed (each
    /// also counts in `requests` twice).
    pub retries: u64,
    /// Commands whose call was dropped before they completed — an async
    /// caller that stopped waiting (a `select!`, a timeout of its own):
    /// the reply, when it comes, is read and thrown away. Also counted in
    /// `completed`.
    pub abandoned: u64,
    /// Connections established (a socket connected; over TLS or with a
    /// login, before the handshake).
    pub connections: u64,
    /// Connection attempts that failed (refused, unreachable, timed out).
    pub connect_failures: u64,
    /// Bytes of requests written (over TLS: the plaintext; a login's bytes
    /// are not counted).
    pub bytes_sent: u64,
    /// Bytes of replies read (over TLS: the plaintext).
    pub bytes_received: u64,
}

impl ServerMetrics {
    /// Requests not completed yet: sent and awaiting their reply.
    pub fn in_flight(&self) -> u64 {
        self.requests.saturating_sub(self.completed)
    }
}

/// Add `n` to `counter`.
fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ServerCounters {
    /// The counters now.
    pub fn snapshot(&self) -> ServerMetrics {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // Completions before requests: a request counted in between shows
        // as in flight rather than as completed before it was sent
        // (`in_flight` saturates all the same: the loads are relaxed).
        let completed = read(&self.completed);
        ServerMetrics {
            requests: read(&self.requests),
            completed,
            timeouts: read(&self.timeouts),
            connection_errors: read(&self.connection_errors),
            refused: read(&self.refused),
            server_errors: read(&self.server_errors),
            retries: read(&self.retries),
            abandoned: read(&self.abandoned),
            connections: read(&self.connections),
            connect_failures: read(&self.connect_failures),
            bytes_sent: read(&self.bytes_sent),
            bytes_received: read(&self.bytes_received),
        }
    }

    pub(crate) fn request(&self) {
        add(&self.requests, 1);
    }

    /// A request completed with `result`: count it, and its error by kind
    /// (returned, if it is one).
    pub(crate) fn completed<T>(&self, result: &Result<T, Error>) -> Option<Failure> {
        add(&self.completed, 1);
        let failure = Failure::of(result.as_ref().err()?)?;
        add(
            match failure {
                Failure::Timeout => &self.timeouts,
                Failure::Connection => &self.connection_errors,
                Failure::Refused => &self.refused,
                Failure::Server => &self.server_errors,
            },
            1,
        );
        Some(failure)
    }

    pub(crate) fn retry(&self) {
        add(&self.retries, 1);
    }

    /// `n` requests were abandoned: they count as completed.
    pub(crate) fn abandoned(&self, n: u64) {
        add(&self.abandoned, n);
        add(&self.completed, n);
    }

    /// A connection was established: how many there have been, this one
    /// included.
    pub(crate) fn connected(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn connect_failed(&self) {
        add(&self.connect_failures, 1);
    }

    pub(crate) fn sent(&self, n: usize) {
        add(&self.bytes_sent, n as u64);
    }

    pub(crate) fn received(&self, n: usize) {
        add(&self.bytes_received, n as u64);
    }
}

/// How a failed request is counted ([`ServerCounters::completed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// [`Error::is_timeout`].
    Timeout,
    /// Another failure of the connection.
    Connection,
    /// Refused without being sent.
    Refused,
    /// An error reply.
    Server,
}

impl Failure {
    /// The kind of `e`; `None` for outcomes (`NOT_FOUND`, ...) and input
    /// refused before sending.
    pub(crate) fn of(e: &Error) -> Option<Failure> {
        Some(match e {
            _ if e.is_timeout() => Failure::Timeout,
            Error::NoServer(_) | Error::PoolExhausted { .. } => Failure::Refused,
            Error::Server(_) | Error::Client(_) | Error::UnknownCommand => Failure::Server,
            _ if e.is_connection_error() => Failure::Connection,
            _ => return None,
        })
    }

    /// Its name in `tracing` events.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connection => "connection",
            Failure::Refused => "refused",
            Failure::Server => "server",
        }
    }
}

/// One server of a router, for its calls: its address (for events) and
/// its counters.
#[derive(Debug)]
pub(crate) struct Meter {
    pub(crate) addr: ServerAddr,
    pub(crate) counters: Arc<ServerCounters>,
}

/// A call's account with its servers' counters: it counts the call's
/// requests and their completions, and remembers how many are still open
/// so that, if the call is dropped first, they are settled as
/// [`abandoned`](ServerMetrics::abandoned) and `in_flight` goes back to
/// zero. Without allocating for a call whose open requests are all on
/// one server (most calls).
#[derive(Debug)]
pub(crate) struct Ledger {
    meters: Arc<[Meter]>,
    open: Open,
}

/// Requests counted and not completed, by server.
#[derive(Debug)]
enum Open {
    /// All on `server` (none when `count` is 0).
    One { server: usize, count: u64 },
    /// On several servers: a count per server index.
    Many(Vec<u64>),
}

impl Ledger {
    /// An account with the servers of `meters`.
    pub(crate) fn new(meters: Arc<[Meter]>) -> Ledger {
        Ledger {
            meters,
            open: Open::One {
                server: 0,
                count: 0,
            },
        }
    }

    /// A request goes to `server`.
    pub(crate) fn request(&mut self, server: usize) {
        let Some(meter) = self.meters.get(server) else {
            return;
        };
        meter.counters.request();
        if let Open::One {
            server: only,
            count,
        } = &mut self.open
        {
            if *count == 0 || *only == server {
                *only = server;
                *count += 1;
                return;
            }
            // A second server: a count for each (a call on several
            // servers allocates its commands anyway).
            let mut many = vec![0; self.meters.len()];
            if let Some(n) = many.get_mut(*only) {
                *n = *count;
            }
            self.open = Open::Many(many);
        }
        if let Open::Many(many) = &mut self.open {
            if let Some(n) = many.get_mut(server) {
                *n += 1;
            }
        }
    }

    /// The request to `server` completed with `result`.
    pub(crate) fn completed<T>(&mut self, server: usize, result: &Result<T, Error>) {
        let Some(meter) = self.meters.get(server) else {
            return;
        };
        if let (Some(failure), Err(e)) = (meter.counters.completed(result), result) {
            trace::failed(&meter.addr, failure, e);
        }
        let open = match &mut self.open {
            Open::One { count, .. } => count,
            Open::Many(many) => match many.get_mut(server) {
                Some(n) => n,
                None => return,
            },
        };
        *open = open.saturating_sub(1);
    }

    /// The request to `server` failed with `cause` and goes again (its
    /// completion was counted, the next try will be).
    pub(crate) fn retry(&self, server: usize, cause: &Error) {
        if let Some(meter) = self.meters.get(server) {
            meter.counters.retry();
            trace::retry(&meter.addr, cause);
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let abandon = |server: usize, n: u64| {
            if let Some(meter) = self.meters.get(server).filter(|_| n > 0) {
                meter.counters.abandoned(n);
                trace::abandoned(&meter.addr, n);
            }
        };
        match &self.open {
            Open::One { server, count } => abandon(*server, *count),
            Open::Many(many) => {
                for (server, n) in many.iter().enumerate() {
                    abandon(server, *n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_kind_and_outcomes_are_not() {
        let c = ServerCounters::default();
        let poisoned_by_timeout = Error::Poisoned(Arc::new(Error::Timeout));
        let results: Vec<Result<(), Error>> = vec![
            Ok(()),
            Err(Error::NotFound),
            Err(Error::NotStored),
            Err(Error::Exists),
            Err(Error::Timeout),
            Err(poisoned_by_timeout),
            Err(Error::connect_timeout("h:1")),
            Err(Error::Closed),
            Err(Error::Poisoned(Arc::new(Error::Closed))),
            Err(Error::NoServer("down".into())),
            Err(Error::Server("out of memory".into())),
            Err(Error::UnknownCommand),
            Err(Error::NoKeys),
        ];
        for r in &results {
            c.request();
            c.completed(r);
        }
        let m = c.snapshot();
        assert_eq!((m.requests, m.completed, m.in_flight()), (13, 13, 0));
        assert_eq!(m.timeouts, 3);
        assert_eq!(m.connection_errors, 2);
        assert_eq!(m.refused, 1);
        assert_eq!(m.server_errors, 2);
    }
}
