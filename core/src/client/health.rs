//! [`ServerHealth`]: the one failure policy of every client.
//!
//! A server is judged by what happens to its connections, not by how many
//! requests a broken connection takes down with it: a failed connect
//! counts once, a connection given up because of its own failure (a
//! request past its deadline, a reset, the server closing it, a protocol
//! violation) counts once however many requests were in flight on it, and
//! any reply counts as a success.
//!
//! Connections in use can fail by bad luck, so after
//! [`HealthConfig::failure_limit`](crate::cluster::HealthConfig) failures
//! in a row the server is first *checked*: one caller is told to
//! [`Admission::Probe`] it — a `version` on a fresh connection — at once,
//! and the others wait for its outcome. Only when fresh connections (connects
//! and probes) fail `failure_limit` times in a row is the server *down*:
//! requests for it fail fast with [`Error::NoServer`] (or, with ejection,
//! go to the next server along the ring) until a probe is due again: an
//! eighth of [`HealthConfig::retry_after`](crate::cluster::HealthConfig)
//! later at first, each failed probe doubling the wait up to
//! `retry_after`. A probe's reply brings the server back up.
//! Time is an argument; nothing here reads a clock.

use std::time::Instant;

use crate::cluster::{Health, HealthConfig, ServerAddr};
use crate::error::Error;

/// What a transport tells the policy about a server.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum HealthEvent<'a> {
    /// A connection was established (its socket connected). The policy
    /// waits for a reply before judging the server; the event is counted
    /// ([`ServerMetrics::connections`](super::ServerMetrics::connections)).
    Connected,
    /// A connection attempt failed (refused, unreachable, timed out).
    ConnectFailed,
    /// A reply arrived: the server works (a `NOT_FOUND` counts too).
    Replied,
    /// A connection in use was given up because of `cause`. Whether that
    /// counts against the server is the policy's call: see
    /// [`counts_against_server`].
    ConnectionLost(&'a Error),
    /// The probe [`ServerHealth::admit`] handed out failed with `cause`
    /// (its connection may be reported lost too; the probe counts once).
    ProbeFailed(&'a Error),
}

/// Whether a connection given up because of `cause` counts as a failure of
/// its server: a timeout, an I/O error, the server closing the connection
/// or breaking the protocol do; the caller's mistakes, per-request replies
/// and the client's own fail-fast errors do not, and neither do a failed
/// TLS handshake or a refused login — the server is up, the client's
/// settings do not match it, and every call should say so rather than
/// "down". [`Error::Poisoned`] is judged by its root cause.
///
/// ```
/// use memwire_core::client::counts_against_server;
/// use memwire_core::Error;
/// assert!(counts_against_server(&Error::Timeout));
/// assert!(!counts_against_server(&Error::NotFound));
/// assert!(!counts_against_server(&Error::NoServer("down".into())));
/// let refused = Error::Auth { server: "h:1".into(), message: "authentication failure".into() };
/// assert!(!counts_against_server(&refused));
/// ```
pub fn counts_against_server(cause: &Error) -> bool {
    matches!(
        cause.root(),
        Error::Timeout | Error::Closed | Error::Io(_) | Error::Protocol(_) | Error::Connect { .. }
    )
}

/// What [`ServerHealth::admit`] lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The server is up: send.
    Go,
    /// The server is down and its retry time has come: this caller checks
    /// it first with a probe (`version` on a fresh connection) and reports
    /// the outcome; only then do real requests go there.
    Probe,
}

/// A change of a server's state, for a user's hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// The server was marked down.
    Down,
    /// The server answered again and is back up.
    Up,
}

/// The health of one server under the failure policy.
///
/// ```
/// use std::time::{Duration, Instant};
/// use memwire_core::client::{Admission, HealthEvent, ServerHealth, Transition};
/// use memwire_core::cluster::{HealthConfig, ServerAddr};
/// use memwire_core::Error;
///
/// let t0 = Instant::now(); // any instant: time is an argument
/// let config = HealthConfig { failure_limit: 1, retry_after: Duration::from_secs(1) };
/// let mut server = ServerHealth::new(ServerAddr::parse("10.0.0.1")?, config);
/// assert_eq!(server.admit(t0)?, Admission::Go);
/// assert_eq!(server.record(HealthEvent::ConnectFailed, t0), Some(Transition::Down));
/// let err = server.admit(t0).unwrap_err();
/// assert!(matches!(err, Error::NoServer(_)));
/// assert!(err.to_string().contains("10.0.0.1:11211"));
/// // An eighth of retry_after later, one caller probes; the others wait
/// // for its outcome.
/// let later = t0 + Duration::from_millis(125);
/// assert_eq!(server.admit(later)?, Admission::Probe);
/// assert!(server.is_probing() && server.admit(later).is_err());
/// assert_eq!(server.record(HealthEvent::Replied, later), Some(Transition::Up));
/// assert_eq!(server.admit(later)?, Admission::Go);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerHealth {
    addr: ServerAddr,
    health: Health,
    /// A probe was handed out and has not reported yet.
    probing: bool,
}

impl ServerHealth {
    /// A healthy server.
    pub fn new(addr: ServerAddr, config: HealthConfig) -> ServerHealth {
        ServerHealth {
            addr,
            health: Health::new(config),
            probing: false,
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

    /// Whether the server is marked down: its fresh connections failed.
    pub fn is_down(&self) -> bool {
        self.health.is_down()
    }

    /// Whether no request goes to the server before a probe answers: it is
    /// being checked, or down.
    pub fn needs_probe(&self) -> bool {
        self.health.needs_probe()
    }

    /// Whether a probe was handed out and has not reported yet: callers
    /// refused meanwhile may wait a little and ask again.
    pub fn is_probing(&self) -> bool {
        self.probing
    }

    /// No failure counted and no probe under way: what a reply leaves, so
    /// another reply would change nothing.
    pub fn is_clean(&self) -> bool {
        !self.probing && self.health.consecutive_failures() == 0
    }

    /// May a request be sent to the server at `now`? Once a probe is due,
    /// exactly one caller gets [`Admission::Probe`] (and another one a
    /// `retry_after` later if that probe never reports); until it
    /// reports, and while the server is down, [`Error::NoServer`] naming it
    /// and when it will be tried again.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] while the server is down.
    pub fn admit(&mut self, now: Instant) -> Result<Admission, Error> {
        if !self.health.needs_probe() {
            return Ok(Admission::Go);
        }
        if self.health.try_acquire(now) {
            self.probing = true;
            return Ok(Admission::Probe);
        }
        let retry = match self.health.retry_at() {
            Some(at) => format!(
                "; next try in {} ms",
                at.saturating_duration_since(now).as_millis()
            ),
            None => String::new(),
        };
        let probing = if self.probing { "; being probed" } else { "" };
        let state = if self.health.is_down() {
            "down"
        } else {
            "being checked"
        };
        Err(Error::NoServer(format!(
            "{} is {state} after {} consecutive failures{retry}{probing}",
            self.addr,
            self.health.consecutive_failures()
        )))
    }

    /// Record `event` at `now`; returns the transition it caused, if any.
    /// Failed connects and probes are failed checks; a probe's outcome
    /// counts once, the first report of it ending the probe.
    pub fn record(&mut self, event: HealthEvent<'_>, now: Instant) -> Option<Transition> {
        let was_down = self.health.is_down();
        match event {
            HealthEvent::Connected => {}
            HealthEvent::Replied => {
                self.probing = false;
                self.health.record_success();
            }
            HealthEvent::ConnectFailed => {
                self.probing = false;
                self.health.record_failed_check(now);
            }
            HealthEvent::ConnectionLost(cause) if counts_against_server(cause) => {
                self.health.record_failure(now);
            }
            HealthEvent::ConnectionLost(_) => {}
            HealthEvent::ProbeFailed(cause) if std::mem::take(&mut self.probing) => {
                if counts_against_server(cause) {
                    self.health.record_failed_check(now);
                } else {
                    // The server answered and refused the client's TLS or
                    // login settings: every call will say so itself.
                    self.health.record_success();
                }
            }
            HealthEvent::ProbeFailed(_) => {}
        }
        match (was_down, self.health.is_down()) {
            (false, true) => Some(Transition::Down),
            (true, false) => Some(Transition::Up),
            _ => None,
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
        assert_eq!(
            s.record(HealthEvent::ConnectionLost(&Error::Timeout), t0),
            None
        );
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
        assert_eq!(
            s.admit(t0).ok(),
            Some(Admission::Probe),
            "judged by its cause"
        );
    }

    #[test]
    fn lost_connections_get_the_server_checked_at_once_and_quietly() {
        let t0 = Instant::now();
        let mut s = server(2);
        s.record(HealthEvent::ConnectionLost(&Error::Closed), t0);
        s.record(HealthEvent::ConnectionLost(&Error::Timeout), t0);
        assert!(s.needs_probe() && !s.is_down());
        assert_eq!(s.admit(t0).ok(), Some(Admission::Probe), "no wait");
        let Err(Error::NoServer(msg)) = s.admit(t0) else {
            panic!("one probe at a time")
        };
        assert!(
            msg.contains("being checked") && msg.contains("being probed"),
            "{msg}"
        );
        // The probe answers: no transition was ever reported.
        assert_eq!(s.record(HealthEvent::Replied, t0), None);
        assert_eq!(s.admit(t0).ok(), Some(Admission::Go));
    }

    #[test]
    fn failed_probes_of_a_checked_server_mark_it_down() {
        let t0 = Instant::now();
        let mut s = server(2);
        s.record(HealthEvent::ConnectionLost(&Error::Closed), t0);
        s.record(HealthEvent::ConnectionLost(&Error::Closed), t0);
        assert_eq!(s.admit(t0).ok(), Some(Admission::Probe));
        // Another connection in use is lost meanwhile: not a check.
        s.record(HealthEvent::ConnectionLost(&Error::Timeout), t0);
        assert!(s.is_probing() && !s.is_down());
        // The probe's connection is lost, and the probe fails: one failed
        // check, however many reports; probe again.
        s.record(HealthEvent::ConnectionLost(&Error::Closed), t0);
        assert_eq!(s.record(HealthEvent::ProbeFailed(&Error::Closed), t0), None);
        assert_eq!(s.record(HealthEvent::ProbeFailed(&Error::Closed), t0), None);
        assert!(!s.is_probing() && !s.is_down());
        assert_eq!(s.admit(t0).ok(), Some(Admission::Probe));
        // A refused connect ends that probe: the second failed check.
        assert_eq!(
            s.record(HealthEvent::ConnectFailed, t0),
            Some(Transition::Down)
        );
        assert_eq!(s.record(HealthEvent::ProbeFailed(&Error::Closed), t0), None);
        assert!(s.is_down());
        let Err(Error::NoServer(msg)) = s.admit(t0) else {
            panic!("down")
        };
        assert!(
            msg.contains("is down") && msg.contains("next try in 125 ms"),
            "{msg}"
        );
    }

    #[test]
    fn a_probe_refused_for_the_clients_settings_leaves_the_server_up() {
        let t0 = Instant::now();
        let mut s = server(1);
        s.record(HealthEvent::ConnectionLost(&Error::Timeout), t0);
        assert_eq!(s.admit(t0).ok(), Some(Admission::Probe));
        let refused = Error::Auth {
            server: "h:1".into(),
            message: "authentication failure".into(),
        };
        assert_eq!(s.record(HealthEvent::ProbeFailed(&refused), t0), None);
        assert_eq!(s.admit(t0).ok(), Some(Admission::Go));
    }

    #[test]
    fn down_until_retry_then_one_probe() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut s = server(1);
        s.record(HealthEvent::ConnectFailed, t0);
        let Err(Error::NoServer(msg)) = s.admit(t0 + ms(124)) else {
            panic!("down")
        };
        assert!(
            msg.contains("h:1") && msg.contains("next try in 1 ms"),
            "{msg}"
        );
        let t1 = t0 + ms(125);
        assert_eq!(s.admit(t1).ok(), Some(Admission::Probe));
        assert!(s.admit(t1).is_err(), "only one probe");
        assert!(s.is_probing());
        assert_eq!(s.record(HealthEvent::ConnectFailed, t1), None, "still down");
        assert!(!s.is_probing());
        // The next wait is twice as long.
        assert!(s.admit(t1 + ms(249)).is_err());
        let t2 = t1 + ms(250);
        assert_eq!(s.admit(t2).ok(), Some(Admission::Probe));
        // A probe that never reports is handed out again a retry later.
        assert!(s.admit(t2 + ms(999)).is_err());
        assert_eq!(s.admit(t2 + ms(1000)).ok(), Some(Admission::Probe));
    }
}
