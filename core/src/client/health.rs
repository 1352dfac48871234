//! [`ServerHealth`]: the one failure policy of every client.
//!
//! A server is judged by what happens to its connections, not by how many
//! requests a broken connection takes down with it: a failed connect
//! counts once, a connection given up because of its own failure (a
//! request past its deadline, a reset, the server closing it, a protocol
//! violation) counts once however many requests were in flight on it, and
//! any reply counts as a success. After
//! [`HealthConfig::failure_limit`](crate::cluster::HealthConfig) failures
//! in a row the server is down: requests for it fail fast with
//! [`Error::NoServer`] until
//! [`HealthConfig::retry_after`](crate::cluster::HealthConfig) has passed,
//! then one request probes it. Time is an argument; nothing here reads a
//! clock.

use std::time::Instant;

use crate::cluster::{Health, HealthConfig, ServerAddr};
use crate::error::Error;

/// What a transport tells the policy about a server.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum HealthEvent<'a> {
    /// A connection attempt failed (refused, unreachable, timed out).
    ConnectFailed,
    /// A reply arrived: the server works (a `NOT_FOUND` counts too).
    Replied,
    /// A connection in use was given up because of `cause`. Whether that
    /// counts against the server is the policy's call: see
    /// [`counts_against_server`].
    ConnectionLost(&'a Error),
}

/// Whether a connection given up because of `cause` counts as a failure of
/// its server: a timeout, an I/O error, the server closing the connection
/// or breaking the protocol do; the caller's mistakes, per-request replies
/// and the client's own fail-fast errors do not. [`Error::Poisoned`] is
/// judged by its root cause.
///
/// ```
/// use memwire_core::client::counts_against_server;
/// use memwire_core::Error;
/// assert!(counts_against_server(&Error::Timeout));
/// assert!(!counts_against_server(&Error::NotFound));
/// assert!(!counts_against_server(&Error::NoServer("down".into())));
/// ```
pub fn counts_against_server(cause: &Error) -> bool {
    matches!(
        cause.root(),
        Error::Timeout | Error::Closed | Error::Io(_) | Error::Protocol(_) | Error::Connect { .. }
    )
}

/// The health of one server under the failure policy.
///
/// ```
/// use std::time::{Duration, Instant};
/// use memwire_core::client::{HealthEvent, ServerHealth};
/// use memwire_core::cluster::{HealthConfig, ServerAddr};
/// use memwire_core::Error;
///
/// let t0 = Instant::now(); // any instant: time is an argument
/// let config = HealthConfig { failure_limit: 1, retry_after: Duration::from_secs(1) };
/// let mut server = ServerHealth::new(ServerAddr::parse("10.0.0.1")?, config);
/// assert!(server.admit(t0).is_ok());
/// server.record(HealthEvent::ConnectFailed, t0);
/// let err = server.admit(t0).unwrap_err();
/// assert!(matches!(err, Error::NoServer(_)));
/// assert!(err.to_string().contains("10.0.0.1:11211"));
/// // After retry_after, one probe goes through; its reply brings the server back.
/// let later = t0 + Duration::from_secs(1);
/// assert!(server.admit(later).is_ok());
/// assert!(server.admit(later).is_err());
/// server.record(HealthEvent::Replied, later);
/// assert!(server.admit(later).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerHealth {
    addr: ServerAddr,
    health: Health,
}

impl ServerHealth {
    /// A healthy server.
    pub fn new(addr: ServerAddr, config: HealthConfig) -> ServerHealth {
        ServerHealth {
            addr,
            health: Health::new(config),
        }
    }

    /// The server.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The state behind the policy.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// May a request be sent to the server at `now`? While it is down,
    /// [`Error::NoServer`] naming it and when it will be tried again; once
    /// its retry time has come, exactly one caller is let through to probe
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] while the server is down.
    pub fn admit(&mut self, now: Instant) -> Result<(), Error> {
        if self.health.try_acquire(now) {
            return Ok(());
        }
        let retry = match self.health.retry_at() {
            Some(at) => format!(
                "; next try in {} ms",
                at.saturating_duration_since(now).as_millis()
            ),
            None => String::new(),
        };
        Err(Error::NoServer(format!(
            "{} is down after {} consecutive failures{retry}",
            self.addr,
            self.health.consecutive_failures()
        )))
    }

    /// Record `event` at `now`.
    pub fn record(&mut self, event: HealthEvent<'_>, now: Instant) {
        match event {
            HealthEvent::Replied => self.health.record_success(),
            HealthEvent::ConnectFailed => self.health.record_failure(now),
            HealthEvent::ConnectionLost(cause) if counts_against_server(cause) => {
                self.health.record_failure(now)
            }
            HealthEvent::ConnectionLost(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn server(limit: u32) -> ServerHealth {
        let config = HealthConfig {
            failure_limit: limit,
            retry_after: Duration::from_secs(1),
        };
        ServerHealth::new(ServerAddr::parse("h:1").unwrap(), config)
    }

    #[test]
    fn one_lost_connection_is_one_failure_however_many_requests_it_held() {
        let t0 = Instant::now();
        let mut s = server(2);
        s.record(HealthEvent::ConnectionLost(&Error::Timeout), t0);
        assert!(s.admit(t0).is_ok(), "one failure is below the limit");
        s.record(HealthEvent::Replied, t0);
        s.record(HealthEvent::ConnectionLost(&Error::Closed), t0);
        assert!(s.admit(t0).is_ok(), "the reply reset the count");
    }

    #[test]
    fn collateral_and_caller_errors_do_not_count() {
        let t0 = Instant::now();
        let mut s = server(1);
        for e in [
            Error::NotFound,
            Error::NoKeys,
            Error::NoServer("x".into()),
            Error::PoolExhausted {
                server: "h:1".into(),
                max: 1,
            },
        ] {
            s.record(HealthEvent::ConnectionLost(&e), t0);
            assert!(s.admit(t0).is_ok(), "{e:?}");
        }
        let poisoned = Error::Poisoned(Arc::new(Error::Timeout));
        s.record(HealthEvent::ConnectionLost(&poisoned), t0);
        assert!(matches!(s.admit(t0), Err(Error::NoServer(_))));
    }

    #[test]
    fn down_until_retry_then_one_probe() {
        let t0 = Instant::now();
        let mut s = server(1);
        s.record(HealthEvent::ConnectFailed, t0);
        let Err(Error::NoServer(msg)) = s.admit(t0 + Duration::from_millis(999)) else {
            panic!("down")
        };
        assert!(
            msg.contains("h:1") && msg.contains("next try in 1 ms"),
            "{msg}"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(s.admit(t1).is_ok());
        assert!(s.admit(t1).is_err(), "only one probe");
        s.record(HealthEvent::ConnectFailed, t1);
        assert!(s.admit(t1 + Duration::from_millis(999)).is_err());
        assert!(s.admit(t1 + Duration::from_secs(1)).is_ok());
    }
}
