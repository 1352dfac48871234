//! [`Meter`]: what is measured of a run — units done, wall time, the
//! process's CPU time and (when the binary counts them) allocations — over
//! a measured span that follows a warm-up.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Allocations and bytes allocated so far, from a counting global
/// allocator; registered by the binary that has one.
static ALLOCATIONS: OnceLock<fn() -> (u64, u64)> = OnceLock::new();

/// Count allocations with `counter` (allocations and bytes so far): the
/// `memwire-allocs` binary registers its instrumented allocator here.
pub fn count_allocations_with(counter: fn() -> (u64, u64)) {
    let _ = ALLOCATIONS.set(counter);
}

/// What a run measured over its measured span.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// Requests done (keys, for a multi-get).
    pub units: u64,
    /// Wall seconds.
    pub secs: f64,
    /// CPU seconds of the whole process (every thread).
    pub cpu: f64,
    /// Allocations (0 unless counted).
    pub allocs: u64,
    /// Bytes allocated (0 unless counted).
    pub alloc_bytes: u64,
}

impl Measured {
    /// Units per second.
    pub fn rate(&self) -> f64 {
        self.units as f64 / self.secs.max(1e-9)
    }

    /// The line a run prints: `UNITS SECS CPU ALLOCS ALLOC_BYTES` (the C
    /// programs print the first three).
    pub fn line(&self) -> String {
        format!(
            "{} {:.6} {:.6} {} {}",
            self.units, self.secs, self.cpu, self.allocs, self.alloc_bytes
        )
    }

    /// Parse a line of a run (three or five fields).
    pub fn parse(line: &str) -> Option<Measured> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (units, secs, cpu) = (f.first()?, f.get(1)?, f.get(2)?);
        Some(Measured {
            units: units.parse().ok()?,
            secs: secs.parse().ok()?,
            cpu: cpu.parse().ok()?,
            allocs: f.get(3).and_then(|a| a.parse().ok()).unwrap_or(0),
            alloc_bytes: f.get(4).and_then(|a| a.parse().ok()).unwrap_or(0),
        })
    }
}

/// A point of the run: when, CPU time so far, allocations so far.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    cpu: f64,
    allocs: (u64, u64),
}

impl Snapshot {
    fn now() -> Snapshot {
        Snapshot {
            // Allocations first: reading the CPU time allocates.
            allocs: ALLOCATIONS.get().map_or((0, 0), |count| count()),
            cpu: process_cpu(),
            at: Instant::now(),
        }
    }
}

/// CPU seconds of every thread of this process, from
/// `/proc/self/task/*/schedstat` (nanoseconds on CPU).
fn process_cpu() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

/// Measures one run: a warm-up, then a measured span.
///
/// A loop that does one operation at a time calls [`Meter::count`] after
/// each, then [`Meter::finish`]; concurrent workers count into a shared
/// counter, and the caller marks the span with [`Meter::begin`] and
/// [`Meter::end`].
#[derive(Debug)]
pub struct Meter {
    warm: Duration,
    span: Duration,
    /// When the current phase (warm-up, then the span) ends.
    until: Instant,
    start: Option<Snapshot>,
    /// Units done when the span began.
    base: u64,
    /// Units counted by [`Meter::count`] since the span began.
    units: u64,
}

impl Meter {
    /// A warm-up of `warm`, then `span` measured.
    pub fn new(warm: Duration, span: Duration) -> Meter {
        Meter {
            warm,
            span,
            until: Instant::now() + warm,
            start: None,
            base: 0,
            units: 0,
        }
    }

    /// The warm-up's length.
    pub fn warm_up(&self) -> Duration {
        self.warm
    }

    /// The measured span's length.
    pub fn span(&self) -> Duration {
        self.span
    }

    /// `units` more done; `false` once the measured span is over.
    pub fn count(&mut self, units: u64) -> bool {
        self.units += units;
        if Instant::now() < self.until {
            return true;
        }
        if self.start.is_none() {
            self.begin(0);
            return true;
        }
        false
    }

    /// What a [`Meter::count`] loop measured.
    pub fn finish(&self) -> Measured {
        self.end(self.units)
    }

    /// The measured span starts now, with `done` units done so far (not
    /// counted).
    pub fn begin(&mut self, done: u64) {
        let start = Snapshot::now();
        self.until = start.at + self.span;
        self.start = Some(start);
        self.base = done;
        self.units = 0;
    }

    /// The measured span ends now, with `done` units done in all.
    pub fn end(&self, done: u64) -> Measured {
        let end = Snapshot::now();
        let start = self.start.unwrap_or(end);
        Measured {
            units: done.saturating_sub(self.base),
            secs: (end.at - start.at).as_secs_f64(),
            cpu: end.cpu - start.cpu,
            allocs: end.allocs.0 - start.allocs.0,
            alloc_bytes: end.allocs.1 - start.allocs.1,
        }
    }
}
