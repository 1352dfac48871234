//! [`ServerCounters`]: what a client did with each server — requests,
//! errors by kind, connections, bytes — counted as it happens, and read
//! as a [`ServerMetrics`] snapshot.
//!
//! The [`Router`](super::Router) holds one set of counters per server and
//! keeps them across a reconfiguration for the servers that stay; a
//! [`Call`](super::Call) counts its requests and their outcomes, the
//! router the connects its transport reports, and a
//! [`Connection`](crate::Connection) made
//! [`counting`](crate::Connection::counting) its bytes. Counting is a
//! relaxed atomic addition: no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Commands whose reply or failure has been reported.
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
        // as in flight, never as completed before it was sent.
        let completed = read(&self.completed);
        ServerMetrics {
            requests: read(&self.requests),
            completed,
            timeouts: read(&self.timeouts),
            connection_errors: read(&self.connection_errors),
            refused: read(&self.refused),
            server_errors: read(&self.server_errors),
            retries: read(&self.retries),
            connections: read(&self.connections),
            connect_failures: read(&self.connect_failures),
            bytes_sent: read(&self.bytes_sent),
            bytes_received: read(&self.bytes_received),
        }
    }

    pub(crate) fn request(&self) {
        add(&self.requests, 1);
    }

    /// A request completed with `result`: count it, and its error by kind.
    pub(crate) fn completed<T>(&self, result: &Result<T, Error>) {
        add(&self.completed, 1);
        let Err(e) = result else {
            return;
        };
        let kind = match e {
            _ if e.is_timeout() => &self.timeouts,
            Error::NoServer(_) | Error::PoolExhausted { .. } => &self.refused,
            Error::Server(_) | Error::Client(_) | Error::UnknownCommand => &self.server_errors,
            _ if e.is_connection_error() => &self.connection_errors,
            // Outcomes, and input refused before sending.
            _ => return,
        };
        add(kind, 1);
    }

    pub(crate) fn retry(&self) {
        add(&self.retries, 1);
    }

    pub(crate) fn connected(&self) {
        add(&self.connections, 1);
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

/// One server of a router, for its calls: its address (for events) and
/// its counters.
#[derive(Debug)]
pub(crate) struct Meter {
    pub(crate) addr: ServerAddr,
    pub(crate) counters: Arc<ServerCounters>,
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
