//! What a worker counts: a latency histogram and the outcome of every
//! operation. Workers keep their own [`Tally`]; they are merged at the end.

use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};
use memwire::Value;

use crate::bench::workload::{Op, Workload};

/// The highest latency the histogram tells apart: one hour, in ns.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// How one operation ended.
#[derive(Debug)]
pub enum Outcome {
    /// A get found the key's value.
    Hit,
    /// A get found nothing.
    Miss,
    /// A get found a value that is not the key's.
    Mismatch,
    /// A set was stored.
    Stored,
    /// The operation failed.
    Failed(memwire::Error),
}

impl Outcome {
    /// The outcome of a get of key `id`.
    pub fn of_get(
        workload: &Workload,
        id: u64,
        result: Result<Option<Value>, memwire::Error>,
    ) -> Outcome {
        match result {
            Ok(Some(v)) if workload.is_value_of(id, &v.data) => Outcome::Hit,
            Ok(Some(_)) => Outcome::Mismatch,
            Ok(None) => Outcome::Miss,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// The outcome of a set.
    pub fn of_set(result: Result<(), memwire::Error>) -> Outcome {
        match result {
            Ok(()) => Outcome::Stored,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Whether it counts as an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::Mismatch | Outcome::Failed(_))
    }
}

/// Counts and latencies of a worker, or of all of them merged.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency of every operation, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Gets done.
    pub gets: u64,
    /// Gets that found the key's value.
    pub hits: u64,
    /// Gets that found nothing.
    pub misses: u64,
    /// Sets done.
    pub sets: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Gets that returned another key's value.
    pub mismatches: u64,
    /// The first failure, described.
    pub first_error: Option<String>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Result<Tally, CreationError> {
        Ok(Tally {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)?,
            gets: 0,
            hits: 0,
            misses: 0,
            sets: 0,
            errors: 0,
            mismatches: 0,
            first_error: None,
        })
    }

    /// Count one operation.
    pub fn record(&mut self, op: Op, key: &str, took: Duration, outcome: Outcome) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos.max(1));
        match op {
            Op::Get(_) => self.gets += 1,
            Op::Set(_) => self.sets += 1,
        }
        match outcome {
            Outcome::Hit => self.hits += 1,
            Outcome::Miss => self.misses += 1,
            Outcome::Stored => {}
            Outcome::Mismatch => {
                self.mismatches += 1;
                self.first_error
                    .get_or_insert_with(|| format!("get {key}: the value of another key"));
            }
            Outcome::Failed(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| describe(key, &e));
            }
        }
    }

    /// Add another worker's tally.
    pub fn merge(&mut self, other: Tally) {
        for v in other.latency.iter_recorded() {
            self.latency
                .saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
        self.gets += other.gets;
        self.hits += other.hits;
        self.misses += other.misses;
        self.sets += other.sets;
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Every operation counted.
    pub fn ops(&self) -> u64 {
        self.gets + self.sets
    }
}

/// `KEY: error: cause: cause...`
fn describe(key: &str, error: &memwire::Error) -> String {
    let mut text = format!("{key}: {error}");
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text.push_str(&format!(": {e}"));
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_merges() {
        let mut a = Tally::new().unwrap();
        a.record(Op::Get(1), "k1", Duration::from_micros(10), Outcome::Hit);
        a.record(Op::Get(2), "k2", Duration::from_micros(20), Outcome::Miss);
        let mut b = Tally::new().unwrap();
        b.record(Op::Set(1), "k1", Duration::from_micros(30), Outcome::Stored);
        b.record(
            Op::Get(3),
            "k3",
            Duration::from_micros(40),
            Outcome::Mismatch,
        );
        b.record(
            Op::Set(4),
            "k4",
            Duration::ZERO,
            Outcome::Failed(memwire::Error::Timeout),
        );
        a.merge(b);
        assert_eq!((a.gets, a.hits, a.misses, a.sets), (3, 1, 1, 2));
        assert_eq!((a.errors, a.mismatches, a.ops()), (1, 1, 5));
        assert_eq!(a.latency.len(), 5);
        assert_eq!(
            a.first_error.as_deref(),
            Some("get k3: the value of another key")
        );
        assert!(a.latency.max() >= 40_000 && a.latency.max() < 40_100);
    }
}
