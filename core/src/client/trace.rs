//! The client layer's `tracing` events (feature `tracing`), one function
//! per decision; they do nothing without the feature. Each event names
//! its `server`, and a failure its `cause` (or `error`): the error with
//! its sources, `: `-separated, so that a poisoned connection shows what
//! poisoned it and an I/O error what the system said.
#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::client::health::{counts_against_server, HealthEvent, Transition};
use crate::client::metrics::Failure;
use crate::cluster::ServerAddr;
use crate::error::Error;

/// An error and its sources, as one line: `connection poisoned by an
/// earlier failure: i/o error: Connection reset by peer (os error 104)`.
#[cfg(feature = "tracing")]
struct Chain<'a>(&'a Error);

#[cfg(feature = "tracing")]
impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// A transport reported `event` for `server`, which caused `transition`.
pub(super) fn health(server: &ServerAddr, event: &HealthEvent<'_>, transition: Option<Transition>) {
    match event {
        HealthEvent::ConnectFailed => {
            trace_event!(WARN, %server, "connect failed");
        }
        HealthEvent::ConnectionLost(cause) if counts_against_server(cause) => {
            trace_event!(WARN, %server, cause = %Chain(cause), "connection lost");
        }
        HealthEvent::ConnectionLost(cause) => {
            trace_event!(DEBUG, %server, cause = %Chain(cause), "connection given up");
        }
        HealthEvent::ProbeFailed(cause) => {
            trace_event!(WARN, %server, cause = %Chain(cause), "probe failed");
        }
        // Counted and traced by the router (`connected`).
        HealthEvent::Connected | HealthEvent::Replied => {}
    }
    match transition {
        Some(Transition::Down) => {
            trace_event!(WARN, %server, "server marked down");
        }
        Some(Transition::Up) => {
            trace_event!(INFO, %server, "server up again");
        }
        None => {}
    }
}

/// A connection to `server` was established, its `connections`th: the
/// first, a reconnect, or one more of a pool.
pub(super) fn connected(server: &ServerAddr, connections: u64) {
    trace_event!(DEBUG, %server, connections, "connected");
}

/// A caller was told to probe `server`.
pub(super) fn probe(server: &ServerAddr) {
    trace_event!(DEBUG, %server, "probing server");
}

/// A read to `server` failed with `cause` and is sent again.
pub(super) fn retry(server: &ServerAddr, cause: &Error) {
    trace_event!(DEBUG, %server, cause = %Chain(cause), "read retried");
}

/// A call was dropped with `requests` to `server` still open.
pub(super) fn abandoned(server: &ServerAddr, requests: u64) {
    trace_event!(DEBUG, %server, requests, "requests abandoned");
}

/// A request to `server` failed with `error`, counted as `failure`.
pub(super) fn failed(server: &ServerAddr, failure: Failure, error: &Error) {
    if failure == Failure::Timeout {
        trace_event!(DEBUG, %server, error = %Chain(error), "request timed out");
    } else {
        trace_event!(
            DEBUG,
            %server,
            kind = failure.name(),
            error = %Chain(error),
            "request failed"
        );
    }
}
