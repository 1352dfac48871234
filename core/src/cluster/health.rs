//! Per-server health: consecutive failures, checks, and when to probe.
//!
//! Time is always an argument; nothing here reads a clock. Two kinds of
//! failure count. A connection in use that fails (a timeout, a reset, the
//! server closing it) may be bad luck: after [`HealthConfig::failure_limit`]
//! of them in a row the server is *checked* — one probe on a fresh
//! connection goes out at once, and no request goes there until it
//! reports. A fresh connection that fails (a failed connect, a failed
//! probe) is a failed *check*; `failure_limit` of those in a row mark the
//! server *down*. Its next probe waits an eighth of
//! [`HealthConfig::retry_after`], and each failed probe doubles the wait up
//! to `retry_after`: a brief outage is over soon, a dead server costs a
//! probe per `retry_after`.
//! Any success brings the server up and clears both counts.

use std::time::{Duration, Instant};

/// When to check a server, when to mark it down and when to try it again.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use memwire_core::cluster::health::HealthConfig;
/// let config = HealthConfig { failure_limit: 3, ..HealthConfig::default() };
/// assert_eq!(config.retry_after, Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Consecutive failures after which the server is checked with a probe
    /// before more requests go there, and consecutive failed checks
    /// (connects, probes) that mark it down. Default 2, so one dropped
    /// connection does not take a server out. 0 acts as 1.
    pub failure_limit: u32,
    /// The longest a down server is left alone before the next probe: the
    /// first probe after it went down comes after an eighth of this, and
    /// each failed probe doubles the wait up to it. Default 1 second.
    pub retry_after: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            failure_limit: 2,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// The health of one server.
///
/// # Examples
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use memwire_core::cluster::health::{Health, HealthConfig};
/// let mut health = Health::new(HealthConfig::default());
/// let t0 = Instant::now();
/// // Two connections in use fail: check the server at once.
/// health.record_failure(t0);
/// health.record_failure(t0);
/// assert!(health.needs_probe() && !health.is_down());
/// assert!(health.try_acquire(t0)); // the one probe
/// assert!(!health.try_acquire(t0)); // nobody else until it reports
/// // Two fresh connections fail: the server is down, for an eighth of
/// // `retry_after` at first.
/// health.record_failed_check(t0);
/// assert!(health.try_acquire(t0)); // checked again at once
/// health.record_failed_check(t0);
/// assert!(health.is_down());
/// assert_eq!(health.retry_at(), Some(t0 + Duration::from_millis(125)));
///
/// let later = t0 + Duration::from_secs(1);
/// assert!(health.try_acquire(later));
/// health.record_success();
/// assert!(!health.needs_probe() && health.is_available(later));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    config: HealthConfig,
    consecutive_failures: u32,
    /// Of those, the failures of fresh connections (connects and probes).
    failed_checks: u32,
    standing: Standing,
}

/// Whether requests may go to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Up,
    /// Nothing goes there before a probe answers; the next probe may go
    /// out at `next_probe` (`None`: never, that instant being too far away
    /// to represent).
    Gated {
        next_probe: Option<Instant>,
    },
}

impl Health {
    /// A healthy server with no failures.
    #[must_use]
    pub fn new(config: HealthConfig) -> Health {
        Health {
            config,
            consecutive_failures: 0,
            failed_checks: 0,
            standing: Standing::Up,
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Records a successful exchange: clears the failure counts and marks
    /// the server up.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.failed_checks = 0;
        self.standing = Standing::Up;
    }

    /// Records, at `now`, the failure of a connection in use (a timeout, a
    /// reset, the server closing it). Reaching the failure limit asks for a
    /// probe at once.
    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.standing == Standing::Up && self.consecutive_failures >= self.limit() {
            self.standing = Standing::Gated {
                next_probe: Some(now),
            };
        }
    }

    /// Records, at `now`, a failed check: a connect or a probe that
    /// failed. Reaching the failure limit in failed checks marks the server
    /// down until `now + retry_after / 8` (each further failed check
    /// doubles that wait, up to `retry_after`); below it, a server at the
    /// failure limit is probed again at once.
    pub fn record_failed_check(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.failed_checks = self.failed_checks.saturating_add(1);
        if self.failed_checks >= self.limit() {
            // retry_after / 8 after going down, doubling with each failed
            // probe up to retry_after.
            let failed_probes = (self.failed_checks - self.limit()).min(3);
            let wait = self.config.retry_after / (8 >> failed_probes);
            self.standing = Standing::Gated {
                next_probe: now.checked_add(wait),
            };
        } else if self.consecutive_failures >= self.limit() {
            self.standing = Standing::Gated {
                next_probe: Some(now),
            };
        }
    }

    /// Whether a request may be sent at `now`: always while up, otherwise
    /// once the next probe is due. This does not claim the probe; use
    /// [`Health::try_acquire`] to let only one caller through.
    #[must_use]
    pub fn is_available(&self, now: Instant) -> bool {
        match self.standing {
            Standing::Up => true,
            Standing::Gated { next_probe } => next_probe.is_some_and(|at| now >= at),
        }
    }

    /// Like [`Health::is_available`], but when this grants a probe it
    /// pushes the next one `retry_after` past `now`, so other callers stay
    /// away until the probe reports with [`Health::record_success`] or
    /// [`Health::record_failed_check`] (or, if it never does, until then).
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if !self.is_available(now) {
            return false;
        }
        let next = self.retry_from(now);
        if let Standing::Gated { next_probe } = &mut self.standing {
            *next_probe = next;
        }
        true
    }

    /// Whether no request goes to the server before a probe answers: it
    /// is being checked, or down.
    #[must_use]
    pub fn needs_probe(&self) -> bool {
        self.standing != Standing::Up
    }

    /// Whether the server is marked down: its failed checks reached the
    /// failure limit (whether or not its next probe is due).
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.needs_probe() && self.failed_checks >= self.limit()
    }

    /// When the next probe may go out; `None` while the server is up (or
    /// if that instant is too far away to represent).
    #[must_use]
    pub fn retry_at(&self) -> Option<Instant> {
        match self.standing {
            Standing::Up => None,
            Standing::Gated { next_probe } => next_probe,
        }
    }

    /// Failures since the last success.
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn limit(&self) -> u32 {
        self.config.failure_limit.max(1)
    }

    fn retry_from(&self, now: Instant) -> Option<Instant> {
        now.checked_add(self.config.retry_after)
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new(HealthConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);
    /// The first wait of a down server under the default `retry_after`.
    const EIGHTH: Duration = Duration::from_millis(125);

    /// A virtual clock: one real instant captured once, then offsets.
    struct Clock(Instant);

    impl Clock {
        fn new() -> Clock {
            Clock(Instant::now())
        }
        fn at(&self, offset: Duration) -> Instant {
            self.0 + offset
        }
    }

    /// A server whose fresh connections failed `failure_limit` times.
    fn down_at(t: Instant) -> Health {
        let mut health = Health::default();
        health.record_failed_check(t);
        health.record_failed_check(t);
        health
    }

    #[test]
    fn defaults() {
        let config = HealthConfig::default();
        assert_eq!(config.failure_limit, 2);
        assert_eq!(config.retry_after, SECOND);
        let health = Health::default();
        assert_eq!(health.consecutive_failures(), 0);
        assert!(!health.is_down() && !health.needs_probe());
        assert_eq!(health.retry_at(), None);
        assert_eq!(health.config(), &config);
    }

    #[test]
    fn one_failure_below_the_limit_keeps_the_server_up() {
        let clock = Clock::new();
        for check in [false, true] {
            let mut health = Health::default();
            if check {
                health.record_failed_check(clock.at(Duration::ZERO));
            } else {
                health.record_failure(clock.at(Duration::ZERO));
            }
            assert_eq!(health.consecutive_failures(), 1);
            assert!(!health.needs_probe(), "check {check}");
            assert!(health.is_available(clock.at(Duration::ZERO)));
            assert_eq!(health.retry_at(), None);
        }
    }

    #[test]
    fn success_resets_the_failure_count() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failed_check(clock.at(Duration::ZERO));
        health.record_success();
        health.record_failed_check(clock.at(SECOND));
        assert_eq!(health.consecutive_failures(), 1);
        assert!(!health.needs_probe(), "failures must be consecutive");
    }

    #[test]
    fn failed_connections_in_use_ask_for_one_probe_at_once() {
        let clock = Clock::new();
        let mut health = Health::default();
        let t = clock.at(10 * MS);
        health.record_failure(clock.at(Duration::ZERO));
        health.record_failure(t);
        assert!(health.needs_probe() && !health.is_down());
        assert_eq!(health.retry_at(), Some(t));
        // Further failures of old connections change nothing.
        health.record_failure(t + MS);
        assert_eq!(health.retry_at(), Some(t));
        assert!(health.try_acquire(t + MS));
        assert!(!health.try_acquire(t + MS), "one probe");
        assert!(!health.is_available(t + 500 * MS));
        // The probe answers: up, no limit.
        health.record_success();
        assert!(!health.needs_probe());
        assert!(health.try_acquire(t + 2 * MS) && health.try_acquire(t + 2 * MS));
    }

    #[test]
    fn a_failed_probe_of_a_checked_server_probes_again_at_once() {
        let clock = Clock::new();
        let mut health = Health::default();
        let t = clock.at(Duration::ZERO);
        health.record_failure(t);
        health.record_failure(t);
        assert!(health.try_acquire(t));
        health.record_failed_check(t + MS);
        assert!(!health.is_down(), "one failed check is below the limit");
        assert!(health.try_acquire(t + MS));
        health.record_failed_check(t + 2 * MS);
        assert!(health.is_down());
        assert_eq!(health.retry_at(), Some(t + 2 * MS + EIGHTH));
    }

    #[test]
    fn down_then_probe_then_recover() {
        let clock = Clock::new();
        let mut health = down_at(clock.at(10 * MS));
        assert!(health.is_down());
        assert_eq!(health.retry_at(), Some(clock.at(10 * MS + EIGHTH)));

        // Unavailable right up to the retry instant.
        assert!(!health.is_available(clock.at(10 * MS)));
        assert!(!health.is_available(clock.at(EIGHTH + 9 * MS)));
        assert!(!health.try_acquire(clock.at(EIGHTH + 9 * MS)));

        // At the retry instant exactly one probe gets through.
        let probe_time = clock.at(EIGHTH + 10 * MS);
        assert!(health.is_available(probe_time));
        assert!(health.try_acquire(probe_time));
        assert!(!health.try_acquire(probe_time));
        assert!(!health.is_available(probe_time + 500 * MS));
        assert_eq!(health.retry_at(), Some(probe_time + SECOND));

        // The probe succeeds: the server is up again.
        health.record_success();
        assert!(!health.is_down());
        assert_eq!(health.consecutive_failures(), 0);
        assert!(health.is_available(probe_time + MS));
    }

    #[test]
    fn failed_probes_of_a_down_server_double_the_wait_up_to_retry_after() {
        let clock = Clock::new();
        let mut t = clock.at(Duration::ZERO);
        let mut health = down_at(t);
        for wait in [EIGHTH, 2 * EIGHTH, 4 * EIGHTH, SECOND, SECOND] {
            assert_eq!(health.retry_at(), Some(t + wait));
            assert!(!health.is_available(t + wait - MS));
            t += wait;
            assert!(health.try_acquire(t));
            t += 20 * MS; // the probe fails a little later
            health.record_failed_check(t);
            assert!(health.is_down());
        }
        health.record_success();
        assert!(!health.needs_probe());
        // Down again: the ladder starts over.
        let mut again = health;
        again.record_failed_check(t);
        again.record_failed_check(t);
        assert_eq!(again.retry_at(), Some(t + EIGHTH));
    }

    #[test]
    fn abandoned_probe_is_reissued_after_retry_after() {
        let clock = Clock::new();
        let mut health = down_at(clock.at(Duration::ZERO));
        assert!(health.try_acquire(clock.at(EIGHTH)));
        // The probe never reports back; another caller gets one later.
        assert!(!health.try_acquire(clock.at(EIGHTH + 999 * MS)));
        assert!(health.try_acquire(clock.at(EIGHTH + SECOND)));
    }

    #[test]
    fn failure_limit_of_one_and_zero() {
        let clock = Clock::new();
        for limit in [0, 1] {
            let config = HealthConfig {
                failure_limit: limit,
                retry_after: 8 * SECOND,
            };
            let mut health = Health::new(config);
            health.record_failed_check(clock.at(Duration::ZERO));
            assert!(health.is_down(), "limit {limit}");
            assert_eq!(health.retry_at(), Some(clock.at(SECOND)));
            let mut health = Health::new(config);
            health.record_failure(clock.at(Duration::ZERO));
            assert!(health.needs_probe() && !health.is_down(), "limit {limit}");
            assert_eq!(health.retry_at(), Some(clock.at(Duration::ZERO)));
        }
    }

    #[test]
    fn zero_retry_after_allows_an_immediate_probe() {
        let clock = Clock::new();
        let config = HealthConfig {
            failure_limit: 1,
            retry_after: Duration::ZERO,
        };
        let mut health = Health::new(config);
        health.record_failed_check(clock.at(Duration::ZERO));
        assert!(health.is_down());
        assert!(health.is_available(clock.at(Duration::ZERO)));
    }

    #[test]
    fn unrepresentable_retry_time_stays_down() {
        let clock = Clock::new();
        let config = HealthConfig {
            failure_limit: 1,
            retry_after: Duration::MAX,
        };
        let mut health = Health::new(config);
        let t = clock.at(Duration::ZERO);
        health.record_failed_check(t);
        for _ in 0..3 {
            health.record_failed_check(t);
        }
        assert!(health.is_down());
        assert_eq!(health.retry_at(), None);
        assert!(!health.is_available(clock.at(1000 * SECOND)));
        assert!(!health.try_acquire(clock.at(1000 * SECOND)));
    }
}
