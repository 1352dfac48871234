//! Figures for RELIABILITY.md: how many calls succeed under injected
//! faults (with the read retry on and off), how the fault-free tail does
//! once faults stop, and how long after a server restart the first call
//! succeeds, on every transport, with the default health settings.
//!
//! ```text
//! cargo run --release -p memwire-tests --features blocking,mio,smol,tokio \
//!     --example resilience_figures [calls=20000] [fault_rate=0.05]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use memwire::{Commands, Error, FromConfig};
use memwire_tests::fault_proxy::{FaultProxy, Faults};
use memwire_tests::{BlockOn, Memcached, Smol, Tokio};

/// Successes and failures of a run, by kind of failure.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    no_server: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn count(&self, r: &Result<(), Error>) {
        let counter = match r {
            Ok(()) => &self.ok,
            Err(Error::NoServer(_)) => &self.no_server,
            Err(_) => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        let (ok, ns, other) = (
            self.ok.load(Ordering::Relaxed),
            self.no_server.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        );
        let all = (ok + ns + other).max(1) as f64;
        format!(
            "{:5.1} % ok, {:5.1} % NoServer, {:5.1} % other errors ({} calls)",
            100.0 * ok as f64 / all,
            100.0 * ns as f64 / all,
            100.0 * other as f64 / all,
            ok + ns + other
        )
    }
}

/// `calls` gets and sets from 16 threads through the proxy.
fn hammer<C: Commands + Clone + Send + 'static>(c: &C, calls: u64) -> Tally {
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..16)
        .map(|t| {
            let (c, tally) = (c.clone(), tally.clone());
            thread::spawn(move || {
                for i in 0..calls / 16 {
                    let key = format!("k:{}", (t * 7919 + i) % 500);
                    let r = if i % 10 == 0 {
                        c.set(&key, key.as_bytes())
                    } else {
                        c.get(&key).map(drop)
                    };
                    tally.count(&r);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Arc::try_unwrap(tally).unwrap_or_default()
}

fn faults_and_tail<C: Commands + FromConfig + Clone + Send + 'static>(
    name: &str,
    calls: u64,
    rate: f64,
) {
    for retry in [true, false] {
        let server = Memcached::start();
        let proxy = FaultProxy::start(&server, Faults::new(7).rate(rate));
        let c: C = C::builder()
            .server(proxy.url())
            .io_timeout(Duration::from_millis(250))
            .retry_reads(retry)
            .build()
            .expect("config");
        let during = hammer(&c, calls);
        proxy.set_enabled(false);
        let tail = hammer(&c, 5_000);
        println!(
            "{name:8} retry_reads={retry:5}  faults: {}\n{:30}tail:   {}",
            during.line(),
            "",
            tail.line()
        );
    }
}

/// Time from a restarted server accepting connections to the first call
/// that succeeds, calling every millisecond throughout (so that the client
/// has found the server down before it comes back).
fn restart<C: Commands + FromConfig>(name: &str, outage: Duration) {
    let server = Memcached::start();
    let c: C = C::builder().server(server.url()).build().expect("config");
    c.set("k", "v").expect("set");
    server.stop();
    let stopped = Instant::now();
    while stopped.elapsed() < outage {
        let _ = c.get("k");
        thread::sleep(Duration::from_millis(1));
    }
    server.restart();
    let ready = Instant::now();
    while c.set("k", "v").is_err() {
        thread::sleep(Duration::from_millis(1));
    }
    println!(
        "{name:8} outage {outage:?}: first success {:?} after the restarted server was ready",
        ready.elapsed()
    );
}

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rate: f64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.05);
    println!(
        "{calls} calls per run (10 % sets), 16 threads, fault rate {rate}, default health settings"
    );
    faults_and_tail::<memwire::blocking::Client>("blocking", calls, rate);
    faults_and_tail::<memwire::mio::Client>("mio", calls, rate);
    faults_and_tail::<BlockOn<memwire::smol::Client, Smol>>("smol", calls, rate);
    faults_and_tail::<BlockOn<memwire::tokio::Client, Tokio>>("tokio", calls, rate);
    for outage in [Duration::from_millis(300), Duration::from_millis(2500)] {
        restart::<memwire::blocking::Client>("blocking", outage);
        restart::<memwire::mio::Client>("mio", outage);
        restart::<BlockOn<memwire::smol::Client, Smol>>("smol", outage);
        restart::<BlockOn<memwire::tokio::Client, Tokio>>("tokio", outage);
    }
}
