//! Reliability under faults, on every transport: real memcached servers
//! behind [`FaultProxy`]s that truncate, stall, reset, spoil, half-close
//! and drip the replies.
//!
//! * **Desync and deadlines** (`<transport>::desync_and_deadline`): many
//!   workers run a seeded mix of `get`, `get_multi` and `set` (plus
//!   futures dropped mid-call on the async transports) on keys whose
//!   values encode the key, through the proxies with faults on; then
//!   faults stop (while calls are in flight), the client gets a settle
//!   period to retry its servers, and a fault-free tail follows. It fails
//!   on any value returned for the wrong key (every hit is checked, in
//!   full), any panic (in the test or inside the client), any call that
//!   returns later than its deadline ([`IO_TIMEOUT`]) + [`SLACK`], and any
//!   failure in the tail. The machine is shared: a late call is excused
//!   only when it is within its bound once the time this whole process
//!   could not run (seen by a canary thread, [`process_stalls`]) is taken
//!   out; such calls are counted and printed apart.
//! * **Starvation through faults**
//!   (`<smol|tokio>::tasks_next_to_fail_fast_spinners_through_faults`):
//!   the same mix as native tasks, with cancellations, beside tasks looping
//!   on calls that fail fast (their server is down); every call keeps its
//!   deadline although the healthy server's replies are faulty. (Without
//!   faults: `fail_fast_callers_do_not_starve_drivers` in
//!   `tests/async_clients.rs`.)
//! * **Soak** (`soak`): every transport at once through reconnect storms
//!   (all proxied connections reset every 250 ms, a server restarted every
//!   2 s) and faults; the process's RSS and open descriptors must stay flat
//!   after warm-up.
//!
//! Settings: calls have a 250 ms deadline; stalls hold a reply 400 ms; a
//! server is marked down after 3 consecutive failures and retried after
//! 100 ms (`HealthConfig { failure_limit: 3, retry_after: 100 ms }`), so
//! that the client recovers within the 1 s settle period.
//!
//! Environment: `MEMWIRE_RELIABILITY_OPS` (operations per transport in the
//! faulty phase; default 5000), `MEMWIRE_RELIABILITY_SEED` (default
//! 0x5eed), `MEMWIRE_SOAK_SECS` (default 4). The figures are printed; run
//! with `-- --nocapture --test-threads 1` to see them (RELIABILITY.md).
#![cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::HealthConfig;
use memwire::{Commands, Error, FromConfig, Value};
use memwire_tests::conformance::{build, TestClient};
use memwire_tests::fault_proxy::{FaultCounts, FaultKind, FaultProxy, Faults, Rng};
use memwire_tests::Memcached;

/// Every call's deadline.
const IO_TIMEOUT: Duration = Duration::from_millis(250);
/// How late past its deadline a call may return (scheduling, clock).
const SLACK: Duration = Duration::from_millis(100);
/// How long a stall holds a reply: beyond the deadline.
const STALL: Duration = Duration::from_millis(400);
/// Down after 3 consecutive failures, retried after 100 ms.
const HEALTH: HealthConfig = HealthConfig {
    failure_limit: 3,
    retry_after: Duration::from_millis(100),
};
/// After faults stop, how long failures are still allowed: a stall under
/// way (400 ms), a call's deadline (250 ms), a server's retry (100 ms),
/// and margin.
const SETTLE: Duration = Duration::from_secs(1);
/// Probability of a fault per chunk of reply.
const FAULT_RATE: f64 = 0.05;
/// Concurrent worker threads.
const WORKERS: usize = 8;
/// Keys the workers use.
const KEYS: usize = 200;

// ---- the workload: keys, values that encode them, operations ----

fn key(n: usize) -> String {
    format!("rel:{n}")
}

/// The value stored under `key` at version `ver`: `key=ver:` and a
/// padding derived from `ver` — a few bytes to a few KiB, sometimes
/// tens of KiB (replies that span many reads).
fn value_of(key: &str, ver: u64) -> Vec<u8> {
    let len = if ver % 50 == 0 {
        8_000 + (ver % 24_000) as usize
    } else {
        (ver % 2_000) as usize
    };
    let mut v = format!("{key}={ver}:").into_bytes();
    v.extend((0..len).map(|i| b'a' + ((ver as usize + i) % 26) as u8));
    v
}

/// Whether `data` is exactly a value [`value_of`] makes for `key`.
fn encodes(key: &[u8], data: &[u8]) -> bool {
    let Some(rest) = data
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(b"="))
    else {
        return false;
    };
    let Some(colon) = rest.iter().position(|&b| b == b':') else {
        return false;
    };
    let Some(ver) = std::str::from_utf8(&rest[..colon])
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    std::str::from_utf8(key).is_ok_and(|key| value_of(key, ver) == data)
}

#[derive(Clone)]
enum Op {
    Get(String),
    GetMulti(Vec<String>),
    Set(String, Vec<u8>),
}

/// `Get("k")`, `GetMulti(["a", "b"])`, `Set("k", 1234 bytes)`.
impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get(k) => write!(f, "Get({k:?})"),
            Op::GetMulti(keys) => write!(f, "GetMulti({keys:?})"),
            Op::Set(k, v) => write!(f, "Set({k:?}, {} bytes)", v.len()),
        }
    }
}

impl Op {
    fn keys(&self) -> &[String] {
        match self {
            Op::Get(k) | Op::Set(k, _) => std::slice::from_ref(k),
            Op::GetMulti(keys) => keys,
        }
    }
}

/// The hits of an operation (none for a `set`), or its error.
type Outcome = Result<Vec<Value>, Error>;

/// Why `hits` cannot be the answer to `op`, if they cannot: a key not
/// asked for (or twice), a value that does not encode its key.
fn misrouted(op: &Op, hits: &[Value]) -> Option<String> {
    let asked = op.keys();
    if (matches!(op, Op::Set(..)) && !hits.is_empty()) || hits.len() > asked.len() {
        return Some(format!("{} hits for {op:?}", hits.len()));
    }
    for (i, hit) in hits.iter().enumerate() {
        let known = asked.iter().any(|k| k.as_bytes() == &hit.key[..]);
        let repeated = hits[..i].iter().any(|h| h.key == hit.key);
        if !known || repeated || !encodes(&hit.key, &hit.data) {
            let shown = String::from_utf8_lossy(&hit.data[..hit.data.len().min(40)]);
            return Some(format!(
                "{op:?} returned key {:?} with data {shown:?} ({} bytes)",
                String::from_utf8_lossy(&hit.key),
                hit.data.len()
            ));
        }
    }
    None
}

fn run<C: Commands>(c: &C, op: &Op) -> Outcome {
    match op {
        Op::Get(k) => c.get(k).map(|hit| hit.into_iter().collect()),
        Op::GetMulti(keys) => c
            .get_multi(keys)
            .and_then(memwire::client::ops::Hits::into_result),
        Op::Set(k, v) => c.set(k, v.clone()).map(|()| Vec::new()),
    }
}

/// A seeded stream of operations.
struct Mix {
    rng: Rng,
    keys: Vec<String>,
    cancel_percent: usize,
}

impl Mix {
    fn new(seed: u64, keys: Vec<String>, cancel_percent: usize) -> Mix {
        Mix {
            rng: Rng::new(seed),
            keys,
            cancel_percent,
        }
    }

    fn key(&mut self) -> String {
        self.keys[self.rng.below(self.keys.len())].clone()
    }

    /// The next operation, and whether to drop it mid-call.
    fn next(&mut self) -> (Op, bool) {
        let op = match self.rng.below(100) {
            0..=44 => Op::Get(self.key()),
            45..=64 => {
                let mut keys = Vec::new();
                let want = 2 + self.rng.below(5);
                while keys.len() < want.min(self.keys.len()) {
                    let k = self.key();
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                Op::GetMulti(keys)
            }
            _ => {
                let k = self.key();
                let v = value_of(&k, self.rng.next_u64() % 1_000_000);
                Op::Set(k, v)
            }
        };
        let cancel = self.rng.below(100) < self.cancel_percent;
        (op, cancel)
    }
}

// ---- what a run counts ----

/// The phase of a run: failures are allowed while faults are on and
/// during the settle period, never in the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Faults,
    Settle,
    Tail,
}

/// The phases of a run, shared by its workers: faults on until
/// `fault_ops` calls were made (whoever makes the last one turns them
/// off, while the others' calls are in flight), then the settle period,
/// then `tail_ops` calls per worker.
#[derive(Debug)]
struct Phases {
    fault_ops: u64,
    tail_ops: u64,
    made: AtomicU64,
    faults_off: OnceLock<Instant>,
}

impl Phases {
    /// Phases for `workers` workers: `MEMWIRE_RELIABILITY_OPS` calls with
    /// faults (default 5000), a tenth of that (at least 1000) in the tail.
    fn new(workers: usize) -> Phases {
        let fault_ops = env_u64("MEMWIRE_RELIABILITY_OPS", 5_000).max(1);
        let tail_ops = (fault_ops / 10).max(1_000);
        Phases {
            fault_ops,
            tail_ops: tail_ops.div_ceil(workers as u64),
            made: AtomicU64::new(0),
            faults_off: OnceLock::new(),
        }
    }

    /// The stage of a call starting now.
    fn stage(&self) -> Stage {
        match self.faults_off.get() {
            None => Stage::Faults,
            Some(off) if off.elapsed() < SETTLE => Stage::Settle,
            Some(_) => Stage::Tail,
        }
    }

    /// Count a call made in `stage`; the last call with faults runs
    /// `faults_off`.
    fn made(&self, stage: Stage, faults_off: impl FnOnce()) {
        if stage == Stage::Faults && self.made.fetch_add(1, Ordering::SeqCst) + 1 == self.fault_ops
        {
            faults_off();
            let _ = self.faults_off.set(Instant::now());
        }
    }

    /// From faults off to the last failed call (zero if none failed later).
    fn recovery(&self, tally: &Tally) -> Duration {
        match (self.faults_off.get(), tally.last_failure) {
            (Some(off), Some(last)) => last.saturating_duration_since(*off),
            _ => Duration::ZERO,
        }
    }
}

/// What a worker saw.
#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    settle_ops: u64,
    tail_ops: u64,
    hits: u64,
    errors: u64,
    timeouts: u64,
    no_server: u64,
    dropped: u64,
    misrouted: u64,
    /// Calls that returned after their deadline + [`SLACK`].
    late: Vec<Late>,
    input_errors: u64,
    tail_failures: u64,
    worst: Duration,
    /// When the last failed call returned.
    last_failure: Option<Instant>,
    /// The first few problems, for the failure message.
    problems: Vec<String>,
}

impl Tally {
    /// Count a call made in `stage` from `started` until now.
    fn record(&mut self, stage: Stage, op: &Op, outcome: Option<&Outcome>, started: Instant) {
        let ended = Instant::now();
        let elapsed = ended - started;
        self.ops += 1;
        self.settle_ops += u64::from(stage == Stage::Settle);
        self.tail_ops += u64::from(stage == Stage::Tail);
        self.worst = self.worst.max(elapsed);
        if elapsed > IO_TIMEOUT + SLACK {
            self.late.push(Late {
                started,
                ended,
                what: format!("{stage:?}: {op:?} took {elapsed:?}"),
            });
        }
        let Some(outcome) = outcome else {
            self.dropped += 1;
            return;
        };
        match outcome {
            Ok(hits) => {
                self.hits += hits.len() as u64;
                if let Some(why) = misrouted(op, hits) {
                    self.misrouted += 1;
                    self.problem(format!("misrouted: {why}"));
                }
            }
            Err(e) => {
                self.errors += 1;
                self.timeouts += u64::from(e.is_timeout());
                self.no_server += u64::from(matches!(e, Error::NoServer(_)));
                if e.is_input_error() {
                    self.input_errors += 1;
                    self.problem(format!("input error {e} for {op:?}"));
                }
                self.last_failure = Some(Instant::now());
                if stage == Stage::Tail {
                    self.tail_failures += 1;
                    self.problem(format!("tail: {op:?} failed: {e} ({e:?})"));
                }
            }
        }
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < 5 {
            self.problems.push(what);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.settle_ops += other.settle_ops;
        self.tail_ops += other.tail_ops;
        self.hits += other.hits;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.no_server += other.no_server;
        self.dropped += other.dropped;
        self.misrouted += other.misrouted;
        self.late.extend(other.late);
        self.input_errors += other.input_errors;
        self.tail_failures += other.tail_failures;
        self.worst = self.worst.max(other.worst);
        self.last_failure = self.last_failure.max(other.last_failure);
        for p in other.problems {
            self.problem(p);
        }
    }
}

/// A call that returned after its deadline + [`SLACK`].
#[derive(Debug)]
struct Late {
    started: Instant,
    ended: Instant,
    what: String,
}

/// Whether a process stall explains each late call.
#[derive(Debug, Default)]
struct Verdict {
    /// Late calls that remain late once the time the process could not
    /// run is taken out: deadline overruns, the failures.
    overruns: Vec<String>,
    /// Late calls within their deadline + [`SLACK`] once the process's
    /// stalls during them are taken out.
    excused: usize,
}

impl Verdict {
    /// Judge `late` calls against the process `stalls`.
    fn of(late: &[Late], stalls: &[(Instant, Instant)]) -> Verdict {
        let mut verdict = Verdict::default();
        for call in late {
            let stalled = overlap(stalls, call.started, call.ended);
            if (call.ended - call.started).saturating_sub(stalled) > IO_TIMEOUT + SLACK {
                verdict.overruns.push(format!(
                    "{} (the process stalled {stalled:?} of it)",
                    call.what
                ));
            } else {
                verdict.excused += 1;
            }
        }
        verdict
    }
}

/// How much of `from..to` the `stalls` cover.
fn overlap(stalls: &[(Instant, Instant)], from: Instant, to: Instant) -> Duration {
    stalls
        .iter()
        .map(|&(start, end)| end.min(to).saturating_duration_since(start.max(from)))
        .sum()
}

/// A wake-up later than this counts as a process stall.
const STALL_THRESHOLD: Duration = Duration::from_millis(10);
/// The canary's sleep.
const CANARY_NAP: Duration = Duration::from_millis(5);

/// The times this process could not run (the machine is shared: other
/// processes, a hypervisor), as seen by a canary thread that only sleeps
/// [`CANARY_NAP`] at a time and notes every wake-up more than
/// [`STALL_THRESHOLD`] late. A call that overran its deadline only by such
/// a stall is not the client's fault; a client bug (a blocked executor, a
/// lost wake-up) does not delay the canary. Starts the canary on first use.
fn process_stalls() -> Vec<(Instant, Instant)> {
    static STALLS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());
    static CANARY: Once = Once::new();
    CANARY.call_once(|| {
        thread::Builder::new()
            .name("stall-canary".into())
            .spawn(|| loop {
                let asleep = Instant::now();
                thread::sleep(CANARY_NAP);
                let woke = Instant::now();
                if woke - asleep > CANARY_NAP + STALL_THRESHOLD {
                    let due = asleep + CANARY_NAP;
                    STALLS
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((due, woke));
                }
            })
            .expect("spawn the stall canary");
    });
    // Let the canary note a stall that is ending right now.
    thread::sleep(CANARY_NAP * 4);
    STALLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// `count stalls over 50 ms, longest ...` within `from..to`.
fn describe_stalls(stalls: &[(Instant, Instant)], from: Instant, to: Instant) -> String {
    let within: Vec<Duration> = stalls
        .iter()
        .filter(|&&(start, end)| end > from && start < to)
        .map(|&(start, end)| end - start)
        .collect();
    let long = within
        .iter()
        .filter(|&&d| d > Duration::from_millis(50))
        .count();
    let longest = within.iter().max().copied().unwrap_or_default();
    format!(
        "{} stalls over {STALL_THRESHOLD:?}, {long} over 50ms, longest {longest:?}",
        within.len()
    )
}

/// A finished run: the tally, the faults, and the time from faults off
/// to the last failure.
struct Report<'a> {
    name: &'a str,
    seed: u64,
    workers: usize,
    started: Instant,
    stalls: Vec<(Instant, Instant)>,
    tally: Tally,
    faults: FaultCounts,
    connections: u64,
    panics: usize,
    recovery: Duration,
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        writeln!(
            f,
            "reliability {}: seed {:#x}, {} workers, deadline {IO_TIMEOUT:?} (+{SLACK:?}), \
             stall {STALL:?}, fault rate {FAULT_RATE}, health failure_limit {} retry_after {:?}, {:.1?}",
            self.name,
            self.seed,
            self.workers,
            HEALTH.failure_limit,
            HEALTH.retry_after,
            self.started.elapsed()
        )?;
        writeln!(
            f,
            "  ops {} (with faults {}, settle {}, tail {}), hits {}, errors {} (timeouts {}, \
             no server {}), dropped mid-call {}",
            t.ops,
            t.ops - t.settle_ops - t.tail_ops,
            t.settle_ops,
            t.tail_ops,
            t.hits,
            t.errors,
            t.timeouts,
            t.no_server,
            t.dropped
        )?;
        writeln!(
            f,
            "  faults injected: {} (total {}) over {} proxied connections",
            self.faults,
            self.faults.total(),
            self.connections
        )?;
        let verdict = self.verdict();
        writeln!(
            f,
            "  misrouted {}, deadline overruns {} (slowest call {:?}; late calls explained by \
             process stalls {}), panics {}, input errors {}",
            t.misrouted,
            verdict.overruns.len(),
            t.worst,
            verdict.excused,
            self.panics,
            t.input_errors
        )?;
        writeln!(
            f,
            "  process stalls (canary): {}",
            describe_stalls(&self.stalls, self.started, Instant::now())
        )?;
        write!(
            f,
            "  tail failures {}, recovery time {:?} (faults off -> last failed call)",
            t.tail_failures, self.recovery
        )
    }
}

impl Report<'_> {
    fn verdict(&self) -> Verdict {
        Verdict::of(&self.tally.late, &self.stalls)
    }

    /// Print the figures, then fail on anything the suite forbids.
    fn check(&self) {
        println!("{self}");
        let t = &self.tally;
        let problems = &t.problems;
        assert_eq!(
            t.misrouted, 0,
            "{}: misrouted values: {problems:#?}",
            self.name
        );
        let overruns = self.verdict().overruns;
        assert!(
            overruns.is_empty(),
            "{}: {} deadline overruns: {:#?}",
            self.name,
            overruns.len(),
            &overruns[..overruns.len().min(10)]
        );
        assert_eq!(self.panics, 0, "{}: panics (see stderr)", self.name);
        assert_eq!(t.input_errors, 0, "{}: {problems:#?}", self.name);
        assert_eq!(
            t.tail_failures, 0,
            "{}: tail failures: {problems:#?}",
            self.name
        );
        assert!(t.tail_ops > 0, "{}: no tail", self.name);
        for kind in FaultKind::ALL {
            assert!(
                self.faults.get(kind) > 0,
                "{}: no {} fault was injected: {}",
                self.name,
                kind.name(),
                self.faults
            );
        }
    }
}

// ---- harness ----

/// One test at a time: the deadline checks must not measure the other
/// tests' load, and panics are counted process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    process_stalls(); // the canary watches from now on
    guard
}

/// Panics anywhere in the process so far, including inside the clients'
/// own threads and tasks (whose panics a runtime may swallow).
fn panics() -> usize {
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
        }
        Err(_) => default,
    }
}

fn seed() -> u64 {
    env_u64("MEMWIRE_RELIABILITY_SEED", 0x5eed)
}

/// Two real servers, each behind its own fault proxy (faults on).
struct Rig {
    servers: Vec<Memcached>,
    proxies: Vec<FaultProxy>,
}

impl Rig {
    fn start(seed: u64, rate: f64) -> Rig {
        let servers: Vec<Memcached> = (0..2).map(|_| Memcached::start()).collect();
        let proxies = servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let faults = Faults::new(seed ^ ((i as u64 + 1) << 32))
                    .rate(rate)
                    .stall(STALL);
                FaultProxy::start(s, faults)
            })
            .collect();
        Rig { servers, proxies }
    }

    fn urls(&self) -> Vec<String> {
        self.proxies.iter().map(FaultProxy::url).collect()
    }

    fn set_faults(&self, on: bool) {
        for p in &self.proxies {
            p.set_enabled(on);
        }
    }

    fn faults(&self) -> FaultCounts {
        self.proxies
            .iter()
            .map(FaultProxy::counts)
            .fold(FaultCounts::default(), |a, b| a + b)
    }

    fn connections(&self) -> u64 {
        self.proxies.iter().map(FaultProxy::accepted).sum()
    }

    /// A client of the transport under test, through the proxies.
    fn client<C: FromConfig>(&self) -> C {
        build(
            C::builder()
                .servers(self.urls())
                .io_timeout(IO_TIMEOUT)
                .health(HEALTH),
        )
    }
}

/// Store a value for every key, with faults off.
fn populate<C: Commands>(c: &C, keys: &[String]) {
    for (i, k) in keys.iter().enumerate() {
        c.set(k, value_of(k, i as u64))
            .unwrap_or_else(|e| panic!("populate {k}: {e}"));
    }
}

/// How a transport's calls are dropped mid-flight (async clients only).
trait Cancel<C> {
    /// Percentage of calls to drop.
    const PERCENT: usize;
    /// Start `op` and drop it at a point chosen by `rng`: `None` when it
    /// was dropped, its outcome when it finished first.
    fn cancelled(client: &C, op: &Op, rng: &mut Rng) -> Option<Outcome>;
}

/// Blocking clients: a call cannot be dropped; it runs to the end.
#[cfg(any(feature = "blocking", feature = "mio"))]
struct NoCancel;

#[cfg(any(feature = "blocking", feature = "mio"))]
impl<C: Commands> Cancel<C> for NoCancel {
    const PERCENT: usize = 0;
    fn cancelled(client: &C, op: &Op, _: &mut Rng) -> Option<Outcome> {
        Some(run(client, op))
    }
}

/// One worker thread's state.
struct Worker<'a, C> {
    client: &'a C,
    mix: Mix,
    tally: Tally,
}

impl<C: Commands> Worker<'_, C> {
    /// Make calls through all the phases, until this worker's share of
    /// the tail is done.
    fn run<X: Cancel<C>>(&mut self, phases: &Phases, rig: &Rig) {
        let mut tail = 0;
        while tail < phases.tail_ops {
            let stage = phases.stage();
            let (op, cancel) = self.mix.next();
            let started = Instant::now();
            let outcome = if cancel {
                X::cancelled(self.client, &op, &mut self.mix.rng)
            } else {
                Some(run(self.client, &op))
            };
            self.tally.record(stage, &op, outcome.as_ref(), started);
            tail += u64::from(stage == Stage::Tail);
            phases.made(stage, || rig.set_faults(false));
        }
    }
}

/// The desync-and-deadline suite on client `C` (see the module docs).
fn desync_and_deadline<C: TestClient, X: Cancel<C>>(name: &str) {
    let _serial = serial();
    let panics_before = panics();
    let started = Instant::now();
    let seed = seed();
    let rig = Rig::start(seed, FAULT_RATE);
    let client: C = rig.client();
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    rig.set_faults(false);
    populate(&client, &keys);
    rig.set_faults(true);

    let phases = Phases::new(WORKERS);
    let tallies: Vec<Tally> = thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let mut worker = Worker {
                    client: &client,
                    mix: Mix::new(seed ^ (w as u64 + 1), keys.clone(), X::PERCENT),
                    tally: Tally::default(),
                };
                let (phases, rig) = (&phases, &rig);
                s.spawn(move || {
                    worker.run::<X>(phases, rig);
                    worker.tally
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });

    let mut tally = Tally::default();
    for t in tallies {
        tally.merge(t);
    }
    Report {
        name,
        seed,
        workers: WORKERS,
        started,
        stalls: process_stalls(),
        faults: rig.faults(),
        connections: rig.connections(),
        panics: panics() - panics_before,
        recovery: phases.recovery(&tally),
        tally,
    }
    .check();
}

// ---- async clients: cancellation, native tasks ----

#[cfg(any(feature = "smol", feature = "tokio"))]
mod async_runs {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;

    use memwire::AsyncCommands;
    use memwire_tests::{BlockOn, Runtime};

    use super::*;

    /// Percentage of calls dropped mid-flight.
    const CANCEL_PERCENT: usize = 10;

    /// A runtime's timers and task spawning, beside [`Runtime::block_on`].
    pub trait Tasks: Runtime {
        fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
        /// Run `future` as a task of its own; the returned future is its
        /// output.
        fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static;
    }

    #[cfg(feature = "smol")]
    impl Tasks for memwire_tests::Smol {
        async fn sleep(d: Duration) {
            ::smol::Timer::after(d).await;
        }
        fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            ::smol::spawn(future)
        }
    }

    #[cfg(feature = "tokio")]
    impl Tasks for memwire_tests::Tokio {
        async fn sleep(d: Duration) {
            ::tokio::time::sleep(d).await;
        }
        fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            let task = ::tokio::spawn(future);
            async move {
                match task.await {
                    Ok(output) => output,
                    Err(e) => panic!("task failed: {e}"),
                }
            }
        }
    }

    pub async fn run_async<C: AsyncCommands>(c: &C, op: &Op) -> Outcome {
        match op {
            Op::Get(k) => c.get(k).await.map(|hit| hit.into_iter().collect()),
            Op::GetMulti(keys) => c
                .get_multi(keys)
                .await
                .and_then(memwire::client::ops::Hits::into_result),
            Op::Set(k, v) => c.set(k, v.clone()).await.map(|()| Vec::new()),
        }
    }

    /// Poll `future` once: its output if that completed it, else `None`
    /// (and it is dropped, typically with its request queued or sent).
    async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }

    /// `op`, dropped after one poll or raced against a timer of up to
    /// 3 ms.
    pub async fn cancelled<R: Tasks, C: AsyncCommands>(
        c: &C,
        op: &Op,
        rng: &mut Rng,
    ) -> Option<Outcome> {
        if rng.below(3) == 0 {
            return poll_once(run_async(c, op)).await;
        }
        let wait = Duration::from_micros(rng.below(3_000) as u64);
        let (mut call, mut timer) = (pin!(run_async(c, op)), pin!(R::sleep(wait)));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(outcome) = call.as_mut().poll(cx) {
                return Poll::Ready(Some(outcome));
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Async clients through [`BlockOn`]: some calls are dropped mid-flight.
    pub struct Cancels;

    impl<A: AsyncCommands, R: Tasks> Cancel<BlockOn<A, R>> for Cancels {
        const PERCENT: usize = CANCEL_PERCENT;
        fn cancelled(client: &BlockOn<A, R>, op: &Op, rng: &mut Rng) -> Option<Outcome> {
            R::block_on(cancelled::<R, A>(client.inner(), op, rng))
        }
    }

    /// The mix through all the phases as one task; its tally.
    async fn run_task<R: Tasks, C: AsyncCommands>(
        client: C,
        mut mix: Mix,
        phases: Arc<Phases>,
        proxy: Arc<FaultProxy>,
    ) -> Tally {
        let mut tally = Tally::default();
        let mut tail = 0;
        while tail < phases.tail_ops {
            let stage = phases.stage();
            let (op, cancel) = mix.next();
            let started = Instant::now();
            let outcome = if cancel {
                cancelled::<R, C>(&client, &op, &mut mix.rng).await
            } else {
                Some(run_async(&client, &op).await)
            };
            tally.record(stage, &op, outcome.as_ref(), started);
            tail += u64::from(stage == Stage::Tail);
            phases.made(stage, || proxy.set_enabled(false));
        }
        tally
    }

    /// The mix as native tasks (32 of them, with cancellations) on the
    /// server behind a faulty proxy, next to 16 tasks looping on calls to
    /// a stopped server that fail fast; then faults off, settle and a tail.
    /// Every call, the spinners' included, keeps its deadline.
    pub fn tasks_next_to_fail_fast_spinners<R, C>(name: &str)
    where
        R: Tasks + 'static,
        C: AsyncCommands + FromConfig + Clone + Send + Sync + 'static,
    {
        const TASKS: usize = 32;
        const SPINNERS: usize = 16;
        let _serial = serial();
        let panics_before = panics();
        let started = Instant::now();
        let seed = seed() ^ 0xa5a5;
        let up = Memcached::start();
        let down = Memcached::start();
        let faults = Faults::new(seed).rate(FAULT_RATE).stall(STALL);
        let proxy = Arc::new(FaultProxy::start(&up, faults));
        let client: C = R::enter(|| {
            build(
                C::builder()
                    .server(proxy.url())
                    .server(down.url())
                    .io_timeout(IO_TIMEOUT)
                    .health(HEALTH),
            )
        });
        let servers = client.servers();
        let owned_by = |server: usize, n: usize| -> Vec<String> {
            (0..)
                .map(key)
                .filter(|k| client.server_for_key(k) == servers[server])
                .take(n)
                .collect()
        };
        let (up_keys, down_keys) = (owned_by(0, KEYS), owned_by(1, 8));
        down.stop();
        let phases = Arc::new(Phases::new(TASKS));
        let stop = Arc::new(AtomicBool::new(false));

        let (tallies, spun) = R::block_on(async {
            proxy.set_enabled(false);
            for (i, k) in up_keys.iter().enumerate() {
                client
                    .set(k, value_of(k, i as u64))
                    .await
                    .unwrap_or_else(|e| panic!("populate {k}: {e}"));
            }
            proxy.set_enabled(true);
            let spinners: Vec<_> = (0..SPINNERS)
                .map(|s| {
                    let (c, stop) = (client.clone(), stop.clone());
                    let mut mix = Mix::new(seed ^ 0x5000 ^ s as u64, down_keys.clone(), 0);
                    R::spawn(async move {
                        let mut tally = Tally::default();
                        while !stop.load(Ordering::Relaxed) {
                            let (op, _) = mix.next();
                            let started = Instant::now();
                            let outcome = run_async(&c, &op).await;
                            assert!(outcome.is_err(), "a stopped server answered: {outcome:?}");
                            tally.record(Stage::Faults, &op, Some(&outcome), started);
                        }
                        tally
                    })
                })
                .collect();
            let workers: Vec<_> = (0..TASKS)
                .map(|w| {
                    let mix = Mix::new(seed ^ (w as u64 + 1), up_keys.clone(), CANCEL_PERCENT);
                    let task = run_task::<R, C>(client.clone(), mix, phases.clone(), proxy.clone());
                    R::spawn(task)
                })
                .collect();
            let mut tallies = Vec::new();
            for w in workers {
                tallies.push(w.await);
            }
            stop.store(true, Ordering::Relaxed);
            let mut spun = Tally::default();
            for s in spinners {
                spun.merge(s.await);
            }
            (tallies, spun)
        });
        let spun_verdict = Verdict::of(&spun.late, &process_stalls());
        println!(
            "  {name}: {SPINNERS} spinners made {} fail-fast calls, deadline overruns {} \
             (slowest {:?}; late calls explained by process stalls {})",
            spun.ops,
            spun_verdict.overruns.len(),
            spun.worst,
            spun_verdict.excused
        );
        assert!(spun.ops > 0, "the spinners never ran");
        assert!(
            spun_verdict.overruns.is_empty(),
            "spinners: {:#?}",
            spun_verdict.overruns
        );

        let mut tally = Tally::default();
        for t in tallies {
            tally.merge(t);
        }
        Report {
            name,
            seed,
            workers: TASKS,
            started,
            stalls: process_stalls(),
            faults: proxy.counts(),
            connections: proxy.accepted(),
            panics: panics() - panics_before,
            recovery: phases.recovery(&tally),
            tally,
        }
        .check();
    }
}

// ---- soak ----

/// The process's resident memory (kB) and open file descriptors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Usage {
    rss_kb: u64,
    fds: u64,
    threads: u64,
}

impl Usage {
    fn now() -> Usage {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
        };
        let fds = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .count() as u64;
        Usage {
            rss_kb: field("VmRSS:"),
            fds,
            threads: field("Threads:"),
        }
    }

    fn max(self, other: Usage) -> Usage {
        Usage {
            rss_kb: self.rss_kb.max(other.rss_kb),
            fds: self.fds.max(other.fds),
            threads: self.threads.max(other.threads),
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSS {} KiB, {} fds, {} threads",
            self.rss_kb, self.fds, self.threads
        )
    }
}

/// Growth allowed after warm-up: memory a few allocator arenas may still
/// claim, and descriptors of connections being replaced at that moment.
const RSS_SLACK_KB: u64 = 16 * 1024;
const FD_SLACK: u64 = 32;
/// One storm cycle: every proxied connection is reset.
const STORM_EVERY: Duration = Duration::from_millis(250);
/// Every this many cycles, a server is restarted as well.
const RESTART_EVERY: u64 = 8;

type Runner = Arc<dyn Fn(&Op) -> Outcome + Send + Sync>;

fn runner<C: TestClient>(rig: &Rig) -> Runner {
    let client: C = rig.client();
    Arc::new(move |op| run(&client, op))
}

/// Every enabled transport, by name.
fn soak_clients(rig: &Rig) -> Vec<(&'static str, Runner)> {
    vec![
        #[cfg(feature = "blocking")]
        ("blocking", runner::<memwire::blocking::Client>(rig)),
        #[cfg(feature = "mio")]
        ("mio", runner::<memwire::mio::Client>(rig)),
        #[cfg(feature = "smol")]
        (
            "smol",
            runner::<memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>>(rig),
        ),
        #[cfg(feature = "tokio")]
        (
            "tokio",
            runner::<memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>>(rig),
        ),
    ]
}

/// Every transport at once, two threads each, through reconnect storms
/// and faults for `MEMWIRE_SOAK_SECS`; then a fault-free tail. Memory and
/// descriptors after the run stay within a small margin of the warm-up's.
#[test]
fn soak() {
    let _serial = serial();
    let panics_before = panics();
    let seed = seed() ^ 0x50a4;
    let run_for = Duration::from_secs(env_u64("MEMWIRE_SOAK_SECS", 4));
    let warm_up = (run_for / 4).max(Duration::from_secs(1));
    let rig = Rig::start(seed, FAULT_RATE / 2.0);
    let clients = soak_clients(&rig);
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut samples: Vec<(Duration, Usage)> = Vec::new();
    let (mut resets, mut restarts) = (0usize, 0u64);

    let tallies: Vec<(&str, Tally)> = thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .flat_map(|(name, c)| (0..2).map(move |t| (t, *name, c)))
            .enumerate()
            .map(|(w, (_, name, c))| {
                let (keys, stop) = (keys.clone(), &stop);
                s.spawn(move || {
                    let mut mix = Mix::new(seed ^ (w as u64 + 1), keys, 0);
                    let mut tally = Tally::default();
                    while !stop.load(Ordering::Relaxed) {
                        let (op, _) = mix.next();
                        let t = Instant::now();
                        let outcome = c(&op);
                        tally.record(Stage::Faults, &op, Some(&outcome), t);
                    }
                    (name, tally)
                })
            })
            .collect();
        for cycle in 1u64.. {
            thread::sleep(STORM_EVERY);
            samples.push((started.elapsed(), Usage::now()));
            if started.elapsed() >= run_for {
                break;
            }
            resets += rig
                .proxies
                .iter()
                .map(FaultProxy::reset_connections)
                .sum::<usize>();
            if cycle % RESTART_EVERY == 0 {
                rig.servers[(cycle / RESTART_EVERY) as usize % 2].restart();
                restarts += 1;
            }
        }
        // Storms over, faults off: the workers go on through the settle
        // period, where failures are still allowed.
        rig.set_faults(false);
        thread::sleep(SETTLE);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("a soak worker panicked"))
            .collect()
    });

    // Then every transport must succeed every time.
    let mut tail = Tally::default();
    for (i, (_, c)) in clients.iter().enumerate() {
        let mut mix = Mix::new(seed ^ 0x7a11 ^ i as u64, keys.clone(), 0);
        for _ in 0..200 {
            let (op, _) = mix.next();
            let t = Instant::now();
            let outcome = c(&op);
            tail.record(Stage::Tail, &op, Some(&outcome), t);
        }
    }
    let end = Usage::now();

    let warm: Usage = samples
        .iter()
        .filter(|(at, _)| *at <= warm_up)
        .map(|(_, u)| *u)
        .fold(Usage::default(), Usage::max);
    let late_from = run_for.mul_f64(0.75);
    let late: Usage = samples
        .iter()
        .filter(|(at, _)| *at >= late_from)
        .map(|(_, u)| *u)
        .fold(Usage::default(), Usage::max);
    println!(
        "soak: {:?}, seed {seed:#x}, transports {:?}, {} storm resets, {restarts} server restarts",
        started.elapsed(),
        clients.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        resets
    );
    let stalls = process_stalls();
    let mut total = Tally::default();
    for (name, t) in tallies {
        let verdict = Verdict::of(&t.late, &stalls);
        println!(
            "  {name}: {} ops, {} errors, misrouted {}, deadline overruns {} (slowest {:?}; \
             late calls explained by process stalls {})",
            t.ops,
            t.errors,
            t.misrouted,
            verdict.overruns.len(),
            t.worst,
            verdict.excused
        );
        total.merge(t);
    }
    println!(
        "  faults injected: {} over {} proxied connections",
        rig.faults(),
        rig.connections()
    );
    println!("  tail: {} ops, {} failures", tail.ops, tail.tail_failures);
    println!(
        "  process stalls (canary): {}",
        describe_stalls(&stalls, started, Instant::now())
    );
    println!("  after warm-up (max to {warm_up:?}): {warm}");
    println!("  late in the run (max from {late_from:?}): {late}");
    println!("  at the end: {end}");
    let growth = |a: Usage| {
        (
            a.rss_kb as i64 - warm.rss_kb as i64,
            a.fds as i64 - warm.fds as i64,
        )
    };
    println!(
        "  growth after warm-up: late {:?}, end {:?} (KiB, fds)",
        growth(late),
        growth(end)
    );

    let problems = &total.problems;
    assert_eq!(total.misrouted, 0, "misrouted: {problems:#?}");
    let overruns = Verdict::of(&total.late, &stalls).overruns;
    assert!(overruns.is_empty(), "overruns: {overruns:#?}");
    assert_eq!(total.input_errors, 0, "{problems:#?}");
    assert_eq!(tail.tail_failures, 0, "tail: {:#?}", tail.problems);
    let overruns = Verdict::of(&tail.late, &stalls).overruns;
    assert!(overruns.is_empty(), "tail overruns: {overruns:#?}");
    assert_eq!(tail.misrouted, 0, "tail: {:#?}", tail.problems);
    assert_eq!(panics() - panics_before, 0, "panics (see stderr)");
    assert!(resets > 0 && restarts > 0, "no storm happened");
    for (what, at) in [("late", late), ("end", end)] {
        assert!(
            at.rss_kb <= warm.rss_kb + RSS_SLACK_KB,
            "RSS grew after warm-up ({what}): {warm} -> {at}"
        );
        assert!(
            at.fds <= warm.fds + FD_SLACK,
            "descriptors grew after warm-up ({what}): {warm} -> {at}"
        );
    }
}

/// The checks themselves: a hit for another key, a value of another key,
/// a cut or spoiled value and a hit for a `set` are all caught.
#[test]
fn the_checks_catch_misrouted_values() {
    let (k1, k2) = (key(1), key(2));
    let good = Value::new(k1.clone(), 0, value_of(&k1, 123_450));
    assert!(encodes(&good.key, &good.data));
    assert_eq!(
        misrouted(&Op::Get(k1.clone()), std::slice::from_ref(&good)),
        None
    );
    let multi = Op::GetMulti(vec![k2.clone(), k1.clone()]);
    assert_eq!(misrouted(&multi, std::slice::from_ref(&good)), None);

    let other_key = Value::new(k2.clone(), 0, value_of(&k2, 7));
    assert!(misrouted(&Op::Get(k1.clone()), &[other_key]).is_some());
    let other_value = Value::new(k1.clone(), 0, value_of(&k2, 7));
    assert!(misrouted(&Op::Get(k1.clone()), &[other_value]).is_some());
    let mut cut = value_of(&k1, 123_450);
    cut.pop();
    assert!(misrouted(&Op::Get(k1.clone()), &[Value::new(k1.clone(), 0, cut)]).is_some());
    let mut spoiled = value_of(&k1, 123_450);
    spoiled[20] = 0;
    assert!(misrouted(&Op::Get(k1.clone()), &[Value::new(k1.clone(), 0, spoiled)]).is_some());
    assert!(misrouted(&multi, &[good.clone(), good.clone()]).is_some());
    assert!(misrouted(&Op::Set(k1, Vec::new()), &[good]).is_some());

    let mut tally = Tally::default();
    let long_ago = Instant::now() - (IO_TIMEOUT + SLACK * 2);
    tally.record(
        Stage::Faults,
        &Op::Get(k2),
        Some(&Err(Error::Timeout)),
        long_ago,
    );
    assert_eq!((tally.late.len(), tally.tail_failures), (1, 0));
    tally.record(
        Stage::Tail,
        &multi,
        Some(&Err(Error::Closed)),
        Instant::now(),
    );
    assert_eq!((tally.late.len(), tally.tail_failures), (1, 1));
}

/// A late call is excused only by a process stall that covers enough of
/// it: the call minus the stall must be within deadline + slack.
#[test]
fn only_process_stalls_excuse_late_calls() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let late = [Late {
        started: t0,
        ended: t0 + ms(600),
        what: "a call".into(),
    }];
    assert_eq!(Verdict::of(&late, &[]).overruns.len(), 1);
    let short = [(t0 + ms(100), t0 + ms(200))];
    assert_eq!(Verdict::of(&late, &short).overruns.len(), 1);
    let long = [(t0 + ms(100), t0 + ms(400))];
    let verdict = Verdict::of(&late, &long);
    assert_eq!((verdict.overruns.len(), verdict.excused), (0, 1));
    // Only the part of a stall within the call counts.
    let outside = [(t0 - ms(1000), t0 + ms(100)), (t0 + ms(550), t0 + ms(2000))];
    assert_eq!(overlap(&outside, t0, t0 + ms(600)), ms(150));
    assert_eq!(Verdict::of(&late, &outside).overruns.len(), 1);
}

// ---- one module per transport ----

#[cfg(feature = "blocking")]
mod blocking {
    #[test]
    fn desync_and_deadline() {
        super::desync_and_deadline::<memwire::blocking::Client, super::NoCancel>("blocking");
    }
}

#[cfg(feature = "mio")]
mod mio {
    #[test]
    fn desync_and_deadline() {
        super::desync_and_deadline::<memwire::mio::Client, super::NoCancel>("mio");
    }
}

#[cfg(feature = "smol")]
mod smol {
    use super::async_runs::{tasks_next_to_fail_fast_spinners, Cancels};
    use memwire_tests::{BlockOn, Smol};

    #[test]
    fn desync_and_deadline() {
        super::desync_and_deadline::<BlockOn<memwire::smol::Client, Smol>, Cancels>("smol");
    }

    #[test]
    fn tasks_next_to_fail_fast_spinners_through_faults() {
        tasks_next_to_fail_fast_spinners::<Smol, memwire::smol::Client>("smol tasks");
    }
}

#[cfg(feature = "tokio")]
mod tokio {
    use super::async_runs::{tasks_next_to_fail_fast_spinners, Cancels};
    use memwire_tests::{BlockOn, Tokio};

    #[test]
    fn desync_and_deadline() {
        super::desync_and_deadline::<BlockOn<memwire::tokio::Client, Tokio>, Cancels>("tokio");
    }

    #[test]
    fn tasks_next_to_fail_fast_spinners_through_faults() {
        tasks_next_to_fail_fast_spinners::<Tokio, memwire::tokio::Client>("tokio tasks");
    }
}
