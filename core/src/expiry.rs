//! [`Expiry`]: when an item expires, typed so that memcached's two traps
//! cannot be fallen into.
//!
//! On the wire an expiration time is one integer with three meanings: 0 is
//! "never", up to 30 days (2 592 000 s) it is relative to now, and above
//! that it is an absolute Unix time. A relative time of 31 days therefore
//! means a date in February 1970 (already expired), and a value above
//! `i32::MAX` is read as negative (expired at once). [`Expiry`] keeps the
//! three meanings apart and refuses, before anything is sent, what memcached
//! would misread.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;

/// When a stored item expires.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use memwire_core::Expiry;
///
/// assert_eq!(Expiry::Never.to_wire().ok(), Some(0));
/// assert_eq!(Expiry::secs(30).to_wire().ok(), Some(30));
/// assert_eq!(Expiry::from(Duration::from_millis(1500)).to_wire().ok(), Some(2)); // rounded up
/// assert_eq!(Expiry::In(Duration::ZERO).to_wire().ok(), Some(-1)); // expired at once
///
/// // Longer than 30 days must be an absolute time: memcached would read
/// // 31 days as a date in 1970.
/// assert!(Expiry::In(Duration::from_secs(31 * 86_400)).to_wire().is_err());
/// let later = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
/// assert_eq!(Expiry::At(later).to_wire().ok(), Some(2_000_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expiry {
    /// The item never expires (it may still be evicted).
    #[default]
    Never,
    /// The item expires this long after the server stores it: at most
    /// [`Expiry::MAX_RELATIVE`] (30 days), rounded up to whole seconds.
    /// `Duration::ZERO` stores an item that is expired at once.
    In(Duration),
    /// The item expires at this wall-clock time (whole seconds, rounded
    /// down). A time at or before 30 days after the Unix epoch, or any time
    /// before it, stores an item that is expired at once.
    At(SystemTime),
}

impl Expiry {
    /// The longest relative expiry memcached accepts: 30 days.
    pub const MAX_RELATIVE: Duration = Duration::from_secs(MAX_RELATIVE_SECS as u64);

    /// Expire `seconds` after storing (see [`Expiry::In`]).
    pub fn secs(seconds: u64) -> Expiry {
        Expiry::In(Duration::from_secs(seconds))
    }

    /// The integer memcached reads: 0 for never, 1..=2 592 000 for relative
    /// times, a Unix time above that, and -1 for "expired at once".
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a relative expiry longer than 30 days
    /// or an absolute time beyond what memcached can represent (after
    /// January 2038).
    pub fn to_wire(self) -> Result<i64, Error> {
        match self {
            Expiry::Never => Ok(0),
            Expiry::In(d) if d.is_zero() => Ok(-1),
            Expiry::In(d) => {
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                if secs > MAX_RELATIVE_SECS as u64 {
                    return Err(Error::InvalidArgument(
                        "a relative expiry longer than 30 days would be read by memcached \
                         as an absolute time in 1970: use Expiry::At",
                    ));
                }
                Ok(secs as i64)
            }
            Expiry::At(t) => {
                let Ok(since_epoch) = t.duration_since(UNIX_EPOCH) else {
                    return Ok(-1);
                };
                let secs = since_epoch.as_secs();
                if secs <= MAX_RELATIVE_SECS as u64 {
                    return Ok(-1);
                }
                if secs > i32::MAX as u64 {
                    return Err(Error::InvalidArgument(
                        "an absolute expiry after 2038-01-19 is read by memcached as already \
                         expired",
                    ));
                }
                Ok(secs as i64)
            }
        }
    }
}

/// 30 days in seconds: memcached's boundary between relative and absolute.
const MAX_RELATIVE_SECS: i64 = 30 * 24 * 60 * 60;

impl From<Duration> for Expiry {
    fn from(d: Duration) -> Expiry {
        Expiry::In(d)
    }
}

impl From<SystemTime> for Expiry {
    fn from(t: SystemTime) -> Expiry {
        Expiry::At(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        let day = 86_400;
        assert_eq!(Expiry::secs(30 * day).to_wire().ok(), Some(30 * day as i64));
        assert!(Expiry::secs(30 * day + 1).to_wire().is_err());
        assert_eq!(Expiry::In(Duration::from_nanos(1)).to_wire().ok(), Some(1));
        let at = |s: u64| {
            Expiry::At(UNIX_EPOCH + Duration::from_secs(s))
                .to_wire()
                .ok()
        };
        assert_eq!(at(30 * day), Some(-1));
        assert_eq!(at(30 * day + 1), Some(30 * day as i64 + 1));
        assert_eq!(at(i32::MAX as u64), Some(i64::from(i32::MAX)));
        assert!(at(i32::MAX as u64 + 1).is_none());
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Expiry::At(before_epoch).to_wire().ok(), Some(-1));
        assert_eq!(Expiry::default(), Expiry::Never);
    }
}
