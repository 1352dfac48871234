//! What the bench does: the keys and values ([`Workload`]), and the
//! operations of one phase shared by every worker ([`Phase`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution as _, Zipf};

use crate::args::{BenchArgs, Distribution};
use crate::bench::tally::{Outcome, Tally};

/// One operation on the key with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get`, checked against the value the bench stores for the key.
    Get(u64),
    /// `set` of the key's value.
    Set(u64),
}

/// How key ids are picked.
#[derive(Debug)]
enum Picker {
    Uniform,
    /// Ranks 1..=keys; rank r is key id r - 1.
    Zipf(Zipf<f64>),
}

/// The keys, their values and the mix of operations.
///
/// The value of a key is a function of its id: the id's 8 little-endian
/// bytes, then a fixed filler. A get that returns another key's value (or
/// a corrupted one) is therefore caught; with values under 8 bytes only
/// the low bytes of the id are checked.
#[derive(Debug)]
pub struct Workload {
    keys: u64,
    /// `--key-prefix` and the value size: runs with other value sizes
    /// use other keys, so their values are not taken for wrong ones.
    prefix: String,
    get_ratio: f64,
    picker: Picker,
    /// `value_size` bytes; the first 8 are replaced by the id.
    filler: Vec<u8>,
}

impl Workload {
    /// The workload of `bench`'s arguments.
    pub fn new(args: &BenchArgs) -> Result<Workload, String> {
        if args.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&args.get_ratio) {
            return Err("--get-ratio must be between 0 and 1".into());
        }
        let picker = match args.distribution {
            Distribution::Uniform => Picker::Uniform,
            Distribution::Zipfian => Zipf::new(args.keys as f64, args.zipf_exponent)
                .map(Picker::Zipf)
                .map_err(|e| format!("bad --zipf-exponent: {e}"))?,
        };
        Ok(Workload {
            keys: args.keys,
            prefix: format!("{}{}:", args.key_prefix, args.value_size),
            get_ratio: args.get_ratio,
            picker,
            filler: (0..args.value_size)
                .map(|i| b'a' + (i % 26) as u8)
                .collect(),
        })
    }

    /// The key with this id.
    fn key(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The key of `op`; for a set, its value is written into `value`.
    pub fn prepare(&self, op: Op, value: &mut Vec<u8>) -> String {
        match op {
            Op::Get(id) => self.key(id),
            Op::Set(id) => {
                self.value_into(id, value);
                self.key(id)
            }
        }
    }

    /// The value of the key with this id, written into `buf`.
    fn value_into(&self, id: u64, buf: &mut Vec<u8>) {
        let head = self.head_len();
        buf.clear();
        buf.extend_from_slice(&id.to_le_bytes()[..head]);
        buf.extend_from_slice(&self.filler[head..]);
    }

    /// Whether `data` is the value of the key with this id.
    pub fn is_value_of(&self, id: u64, data: &[u8]) -> bool {
        let head = self.head_len();
        data.len() == self.filler.len()
            && data[..head] == id.to_le_bytes()[..head]
            && data[head..] == self.filler[head..]
    }

    fn head_len(&self) -> usize {
        self.filler.len().min(8)
    }

    /// A get or a set of a key picked by the distribution.
    fn random_op(&self, rng: &mut SmallRng) -> Op {
        let id = match &self.picker {
            Picker::Uniform => rng.random_range(0..self.keys),
            Picker::Zipf(zipf) => (zipf.sample(rng) as u64).clamp(1, self.keys) - 1,
        };
        if rng.random_bool(self.get_ratio) {
            Op::Get(id)
        } else {
            Op::Set(id)
        }
    }
}

/// When a phase ends.
#[derive(Debug)]
enum Plan {
    /// Set every key once, in order.
    Preload { next: AtomicU64 },
    /// This many random operations.
    Ops { issued: AtomicU64, limit: u64 },
    /// Random operations until then.
    Until(Instant),
}

/// One run of the workers: the operations they take, and counters the
/// progress bar reads while they run.
#[derive(Debug)]
pub struct Phase {
    /// Keys and values.
    pub workload: Arc<Workload>,
    plan: Plan,
    started: Instant,
    /// Operations finished so far, by every worker.
    done: AtomicU64,
    /// Failed operations and mismatched values so far.
    errors: AtomicU64,
    /// An empty tally, cloned by each worker.
    empty: Tally,
}

impl Phase {
    /// Store every key once.
    pub fn preload(workload: Arc<Workload>, empty: Tally) -> Phase {
        Phase::new(
            workload,
            Plan::Preload {
                next: AtomicU64::new(0),
            },
            empty,
        )
    }

    /// `ops` random operations, or as many as fit in `duration`.
    pub fn measure(
        workload: Arc<Workload>,
        ops: Option<u64>,
        duration: Duration,
        empty: Tally,
    ) -> Phase {
        let plan = match ops {
            Some(limit) => Plan::Ops {
                issued: AtomicU64::new(0),
                limit,
            },
            None => Plan::Until(Instant::now() + duration),
        };
        Phase::new(workload, plan, empty)
    }

    fn new(workload: Arc<Workload>, plan: Plan, empty: Tally) -> Phase {
        Phase {
            workload,
            plan,
            started: Instant::now(),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            empty,
        }
    }

    /// The random number generator of worker `n` (the same every run).
    pub fn rng(&self, worker: usize) -> SmallRng {
        SmallRng::seed_from_u64(0x6d65_6d77_6972_6500 ^ worker as u64)
    }

    /// A fresh tally for a worker.
    pub fn tally(&self) -> Tally {
        self.empty.clone()
    }

    /// The next operation, or `None` when the phase is over.
    pub fn next_op(&self, rng: &mut SmallRng) -> Option<Op> {
        match &self.plan {
            Plan::Preload { next } => {
                let id = next.fetch_add(1, Ordering::Relaxed);
                (id < self.workload.keys).then_some(Op::Set(id))
            }
            Plan::Ops { issued, limit } => {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                (n < *limit).then(|| self.workload.random_op(rng))
            }
            Plan::Until(end) => (Instant::now() < *end).then(|| self.workload.random_op(rng)),
        }
    }

    /// Count one finished operation: in the worker's tally, and for the
    /// progress bar.
    pub fn finish(&self, tally: &mut Tally, op: Op, key: &str, took: Duration, outcome: Outcome) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if outcome.is_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        tally.record(op, key, took, outcome);
    }

    /// Operations finished and errors so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }

    /// Time since the phase began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The phase's length, for a progress bar: operations or time.
    pub fn extent(&self) -> Extent {
        match &self.plan {
            Plan::Preload { .. } => Extent::Ops(self.workload.keys),
            Plan::Ops { limit, .. } => Extent::Ops(*limit),
            Plan::Until(end) => Extent::Time(end.saturating_duration_since(self.started)),
        }
    }
}

/// How long a phase is.
#[derive(Debug, Clone, Copy)]
pub enum Extent {
    /// This many operations.
    Ops(u64),
    /// This long.
    Time(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn workload(extra: &[&str]) -> Workload {
        let mut argv = vec!["memwire", "bench"];
        argv.extend_from_slice(extra);
        match Cli::parse_from(argv).command {
            Command::Bench(args) => Workload::new(&args).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn values_name_their_key() {
        let w = workload(&["--value-size", "20"]);
        let mut v = Vec::new();
        w.value_into(7, &mut v);
        assert_eq!(v.len(), 20);
        assert!(w.is_value_of(7, &v));
        assert!(!w.is_value_of(8, &v));
        assert!(!w.is_value_of(7, &v[..19]));
        let tiny = workload(&["--value-size", "2"]);
        tiny.value_into(0x0102, &mut v);
        assert_eq!(v, [2, 1]);
        assert!(tiny.is_value_of(0x0102, &v) && !tiny.is_value_of(3, &v));
        assert_eq!(w.key(7), "memwire-bench:20:7");
    }

    #[test]
    fn ops_stay_in_range_and_follow_the_mix() {
        for dist in ["uniform", "zipfian"] {
            let w = Arc::new(workload(&["--keys", "50", "--distribution", dist]));
            let phase = Phase::measure(w, Some(10_000), Duration::ZERO, Tally::new().unwrap());
            let mut rng = phase.rng(0);
            let (mut gets, mut hot, mut n) = (0, 0, 0);
            while let Some(op) = phase.next_op(&mut rng) {
                let id = match op {
                    Op::Get(id) => {
                        gets += 1;
                        id
                    }
                    Op::Set(id) => id,
                };
                assert!(id < 50);
                hot += u32::from(id == 0);
                n += 1;
            }
            assert_eq!(n, 10_000);
            assert!((8_500..9_500).contains(&gets), "{gets} gets");
            // Key 0 is the hottest of a zipfian mix: far above 1 in 50.
            assert_eq!(hot > 1_000, dist == "zipfian", "{dist}: key 0 {hot} times");
        }
    }

    #[test]
    fn preload_sets_every_key_once() {
        let w = Arc::new(workload(&["--keys", "3"]));
        let phase = Phase::preload(w, Tally::new().unwrap());
        let mut rng = phase.rng(0);
        let ops: Vec<Op> = std::iter::from_fn(|| phase.next_op(&mut rng)).collect();
        assert_eq!(ops, [Op::Set(0), Op::Set(1), Op::Set(2)]);
    }
}
