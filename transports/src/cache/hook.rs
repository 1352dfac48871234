//! What happens to the failures a cache absorbs: they are counted and
//! handed to the `on_error` hook ([`CacheBuilder::on_error`]). There is no
//! hook by default: without the feature `tracing` the library says
//! nothing (it never writes to stderr on its own); with it, each failure
//! is a `tracing` warning event (`operation`, `key`, `error`) for the
//! application's subscriber. [`stderr_hook`] is a ready-made hook to opt
//! into.
//!
//! [`CacheBuilder::on_error`]: super::CacheBuilder::on_error

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::CacheError;

/// The cache operation during which a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOp {
    /// Storing a value.
    Set,
    /// Reading a value.
    Query,
    /// Deleting a value.
    Invalidate,
    /// Flushing the servers.
    InvalidateAll,
    /// Reading a key-tracking record.
    Keys,
    /// Updating a key-tracking record.
    TrackKeys,
}

impl fmt::Display for CacheOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheOp::Set => "set",
            CacheOp::Query => "query",
            CacheOp::Invalidate => "invalidate",
            CacheOp::InvalidateAll => "invalidate_all",
            CacheOp::Keys => "keys",
            CacheOp::TrackKeys => "key tracking",
        })
    }
}

/// A failure the cache absorbed instead of returning it: what the
/// `on_error` hook receives.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure<'a> {
    /// What the cache was doing.
    pub operation: CacheOp,
    /// The memcached key involved, or the server for server-wide commands.
    pub key: &'a str,
    /// What went wrong.
    pub error: &'a CacheError,
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memwire cache: {} failed", self.operation)?;
        if !self.key.is_empty() {
            write!(f, " ({})", self.key)?;
        }
        write!(f, ": {}", self.error)
    }
}

/// A hook receiving absorbed failures. Called on the thread (or task) that
/// made the call: keep it short.
pub type ErrorHook = Arc<dyn Fn(&Failure<'_>) + Send + Sync>;

/// A hook writing one line on stderr per failure, at most one a second
/// (the next line says how many were not shown). Opt in with
/// `builder.on_error(stderr_hook())`.
///
/// ```
/// use memwire::cache::{stderr_hook, CacheBuilder};
/// let config = CacheBuilder::new().on_error(stderr_hook()).build()?;
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub fn stderr_hook() -> impl Fn(&Failure<'_>) + Send + Sync + 'static {
    let last: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
    move |failure| {
        let mut state = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(t) if now.duration_since(t) < Duration::from_secs(1) => state.1 += 1,
            _ => {
                if state.1 > 0 {
                    eprintln!("{failure} ({} more not shown)", state.1);
                } else {
                    eprintln!("{failure}");
                }
                *state = (Some(now), 0);
            }
        }
    }
}
