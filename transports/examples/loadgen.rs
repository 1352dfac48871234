//! A load generator: many threads sharing one blocking `Client` against a
//! real memcached, reporting throughput and latency percentiles.
//!
//! ```text
//! cargo run --release -p memwire --example loadgen -- \
//!     memcached://127.0.0.1:11211 [threads=8] [ops_per_thread=20000] [value_bytes=100] [get_percent=90]
//! ```
//!
//! Every get is checked: a value for another key aborts the run.

use std::time::{Duration, Instant};

use memwire::blocking::Client;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memcached://127.0.0.1:11211".into());
    let (threads, ops, size, get_pct) = (arg(2, 8), arg(3, 20_000), arg(4, 100), arg(5, 90));
    let client = Client::new([url.as_str()])?;
    // Preload the key space so gets hit.
    let keys = 1000;
    for k in 0..keys {
        client.set(format!("load:{k}"), payload(k, size))?;
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::with_capacity(ops);
                for i in 0..ops {
                    let k = (t * 7919 + i * 31) % keys;
                    let key = format!("load:{k}");
                    let t0 = Instant::now();
                    if (i * 37 + t) % 100 < get_pct {
                        let v = client.get(&key).map_err(|e| e.to_string())?;
                        if let Some(v) = v {
                            if v.key != key.as_bytes() || v.data != payload(k, size) {
                                return Err(format!("wrong value for {key}"));
                            }
                        }
                    } else {
                        client
                            .set(&key, payload(k, size))
                            .map_err(|e| e.to_string())?;
                    }
                    lat.push(t0.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(threads * ops);
    for w in workers {
        all.extend(w.join().map_err(|_| "worker panicked")??);
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{threads} threads x {ops} ops, {size}-byte values, {get_pct}% gets: {:.0} ops/s; latency p50 {:?} p99 {:?} max {:?}",
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        all[all.len() - 1]
    );
    Ok(())
}

/// The value stored under key number `k`: recognisable per key.
fn payload(k: usize, size: usize) -> Vec<u8> {
    let tag = format!("{k}:");
    tag.bytes().cycle().take(size).collect()
}
