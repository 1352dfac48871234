//! Per-server health: consecutive failures and when to retry a down server.
//!
//! Time is always an argument; nothing here reads a clock. A server is *up*
//! until [`HealthConfig::failure_limit`] failures in a row mark it *down*.
//! A down server is unavailable until [`HealthConfig::retry_after`] has passed
//! since it went down; then one request may probe it. A success brings it back
//! up; another failure keeps it down for another `retry_after`.

use std::time::{Duration, Instant};

/// When to mark a server down and when to try it again.
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
    /// Consecutive failures that mark a server down. Default 2, so one
    /// dropped connection does not take a server out. 0 acts as 1.
    pub failure_limit: u32,
    /// How long a down server is left alone before one probe is allowed.
    /// Default 1 second.
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
/// health.record_failure(t0);
/// health.record_failure(t0);
/// assert!(!health.is_available(t0));
/// assert_eq!(health.retry_at(), Some(t0 + Duration::from_secs(1)));
///
/// let later = t0 + Duration::from_secs(1);
/// assert!(health.try_acquire(later)); // the one probe
/// assert!(!health.try_acquire(later)); // nobody else until it reports
/// health.record_success();
/// assert!(health.is_available(later));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    config: HealthConfig,
    consecutive_failures: u32,
    /// When the server went down, or when its latest probe was handed out.
    /// `None` while the server is up.
    down_since: Option<Instant>,
}

impl Health {
    /// A healthy server with no failures.
    #[must_use]
    pub fn new(config: HealthConfig) -> Health {
        Health {
            config,
            consecutive_failures: 0,
            down_since: None,
        }
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Records a successful exchange: clears the failure count and marks the
    /// server up.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.down_since = None;
    }

    /// Records a failed exchange (connect error, timeout, broken
    /// connection) at `now`. Reaching the failure limit marks the server down
    /// until `now + retry_after`; a failure while down (a failed probe)
    /// restarts that wait from `now`.
    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.consecutive_failures >= self.config.failure_limit.max(1) {
            self.down_since = Some(now);
        }
    }

    /// Whether a request may be sent at `now`: always while up, and for a
    /// down server once its retry time has come. This does not claim the
    /// probe; use [`Health::try_acquire`] to let only one caller through.
    #[must_use]
    pub fn is_available(&self, now: Instant) -> bool {
        match self.down_since {
            None => true,
            Some(since) => self.retry_from(since).is_some_and(|at| now >= at),
        }
    }

    /// Like [`Health::is_available`], but when this grants the probe of a
    /// down server it pushes the retry time `retry_after` past `now`, so
    /// other callers stay away until the probe reports with
    /// [`Health::record_success`] or [`Health::record_failure`].
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if !self.is_available(now) {
            return false;
        }
        if self.down_since.is_some() {
            self.down_since = Some(now);
        }
        true
    }

    /// Whether the server is marked down (whether or not its retry time has
    /// come).
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// When a down server may next be probed; `None` while the server is up
    /// (or if that instant is too far away to represent).
    #[must_use]
    pub fn retry_at(&self) -> Option<Instant> {
        self.down_since.and_then(|since| self.retry_from(since))
    }

    /// Failures since the last success.
    #[must_use]
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    fn retry_from(&self, since: Instant) -> Option<Instant> {
        since.checked_add(self.config.retry_after)
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

    #[test]
    fn defaults() {
        let config = HealthConfig::default();
        assert_eq!(config.failure_limit, 2);
        assert_eq!(config.retry_after, SECOND);
        let health = Health::default();
        assert_eq!(health.consecutive_failures(), 0);
        assert!(!health.is_down());
        assert_eq!(health.retry_at(), None);
        assert_eq!(health.config(), &config);
    }

    #[test]
    fn one_failure_below_the_limit_keeps_the_server_up() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failure(clock.at(Duration::ZERO));
        assert_eq!(health.consecutive_failures(), 1);
        assert!(!health.is_down());
        assert!(health.is_available(clock.at(Duration::ZERO)));
        assert_eq!(health.retry_at(), None);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failure(clock.at(Duration::ZERO));
        health.record_success();
        health.record_failure(clock.at(SECOND));
        assert_eq!(health.consecutive_failures(), 1);
        assert!(!health.is_down(), "failures must be consecutive");
    }

    #[test]
    fn down_then_probe_then_recover() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failure(clock.at(Duration::ZERO));
        health.record_failure(clock.at(10 * MS));
        assert!(health.is_down());
        assert_eq!(health.retry_at(), Some(clock.at(10 * MS + SECOND)));

        // Unavailable right up to the retry instant.
        assert!(!health.is_available(clock.at(10 * MS)));
        assert!(!health.is_available(clock.at(SECOND + 9 * MS)));
        assert!(!health.try_acquire(clock.at(SECOND + 9 * MS)));

        // At the retry instant exactly one probe gets through.
        let probe_time = clock.at(SECOND + 10 * MS);
        assert!(health.is_available(probe_time));
        assert!(health.try_acquire(probe_time));
        assert!(!health.try_acquire(probe_time));
        assert!(!health.is_available(clock.at(SECOND + 500 * MS)));
        assert_eq!(health.retry_at(), Some(probe_time + SECOND));

        // The probe succeeds: the server is up again.
        health.record_success();
        assert!(!health.is_down());
        assert_eq!(health.consecutive_failures(), 0);
        assert!(health.is_available(clock.at(SECOND + 11 * MS)));
        assert!(health.try_acquire(clock.at(SECOND + 11 * MS)));
        assert!(
            health.try_acquire(clock.at(SECOND + 11 * MS)),
            "up: no limit"
        );
    }

    #[test]
    fn failed_probe_restarts_the_wait() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failure(clock.at(Duration::ZERO));
        health.record_failure(clock.at(Duration::ZERO));
        let probe_time = clock.at(SECOND);
        assert!(health.try_acquire(probe_time));
        health.record_failure(clock.at(SECOND + 200 * MS));
        assert_eq!(health.consecutive_failures(), 3);
        assert!(health.is_down());
        assert_eq!(health.retry_at(), Some(clock.at(2 * SECOND + 200 * MS)));
        assert!(!health.is_available(clock.at(2 * SECOND)));
        assert!(health.is_available(clock.at(2 * SECOND + 200 * MS)));
    }

    #[test]
    fn abandoned_probe_is_reissued_after_another_retry_after() {
        let clock = Clock::new();
        let mut health = Health::default();
        health.record_failure(clock.at(Duration::ZERO));
        health.record_failure(clock.at(Duration::ZERO));
        assert!(health.try_acquire(clock.at(SECOND)));
        // The probe never reports back; another caller gets one later.
        assert!(!health.try_acquire(clock.at(SECOND + 999 * MS)));
        assert!(health.try_acquire(clock.at(2 * SECOND)));
    }

    #[test]
    fn failure_limit_of_one_and_zero() {
        let clock = Clock::new();
        for limit in [0, 1] {
            let config = HealthConfig {
                failure_limit: limit,
                retry_after: 5 * SECOND,
            };
            let mut health = Health::new(config);
            health.record_failure(clock.at(Duration::ZERO));
            assert!(health.is_down(), "limit {limit}");
            assert_eq!(health.retry_at(), Some(clock.at(5 * SECOND)));
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
        health.record_failure(clock.at(Duration::ZERO));
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
        health.record_failure(clock.at(Duration::ZERO));
        assert!(health.is_down());
        assert_eq!(health.retry_at(), None);
        assert!(!health.is_available(clock.at(1000 * SECOND)));
        assert!(!health.try_acquire(clock.at(1000 * SECOND)));
    }
}
