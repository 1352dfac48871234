//! The client layer's `tracing` events (feature `tracing`), one function
//! per decision; they do nothing without the feature. Each event names
//! its `server`, and a failure its `cause`.
#![cfg_attr(not(feature = "tracing"), allow(unused_variables))]

use crate::client::health::{counts_against_server, HealthEvent, Transition};
use crate::cluster::ServerAddr;
use crate::error::Error;

/// A transport reported `event` for `server`, which caused `transition`.
pub(super) fn health(server: &ServerAddr, event: &HealthEvent<'_>, transition: Option<Transition>) {
    match event {
        HealthEvent::Connected => {
            trace_event!(DEBUG, %server, "connected");
        }
        HealthEvent::ConnectFailed => {
            trace_event!(WARN, %server, "connect failed");
        }
        HealthEvent::ConnectionLost(cause) if counts_against_server(cause) => {
            trace_event!(WARN, %server, cause = %cause.root(), "connection lost");
        }
        HealthEvent::ConnectionLost(cause) => {
            trace_event!(DEBUG, %server, cause = %cause.root(), "connection given up");
        }
        HealthEvent::ProbeFailed(cause) => {
            trace_event!(WARN, %server, cause = %cause.root(), "probe failed");
        }
        HealthEvent::Replied => {}
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

/// A caller was told to probe `server`.
pub(super) fn probe(server: &ServerAddr) {
    trace_event!(DEBUG, %server, "probing server");
}

/// A read to `server` failed with `cause` and is sent again.
pub(super) fn retry(server: &ServerAddr, cause: &Error) {
    trace_event!(DEBUG, %server, cause = %cause.root(), "read retried");
}

/// A request to `server` timed out.
pub(super) fn timeout(server: &ServerAddr) {
    trace_event!(DEBUG, %server, "request timed out");
}
