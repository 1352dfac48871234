//! A load generator: many workers sharing one client against a real
//! memcached, reporting throughput and latency percentiles. Workers are
//! threads on the blocking client, or tasks on the smol client (one
//! pipelined connection shared by all tasks; needs `--features smol`).
//!
//! ```text
//! cargo run --release -p memwire --all-features --example loadgen -- \
//!     memcached://127.0.0.1:11211 [workers=8] [ops_per_worker=20000] [value_bytes=100] [get_percent=90] [blocking|smol]
//! ```
//!
//! Every get is checked: a value for another key aborts the run.

use std::time::{Duration, Instant};

use memwire::blocking::Client;
use memwire::Commands;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// One worker's share: `ops` operations, their latencies.
struct Plan {
    worker: usize,
    ops: usize,
    keys: usize,
    size: usize,
    get_pct: usize,
}

impl Plan {
    /// The key number and whether operation `i` is a get.
    fn op(&self, i: usize) -> (usize, bool) {
        let k = (self.worker * 7919 + i * 31) % self.keys;
        (k, (i * 37 + self.worker) % 100 < self.get_pct)
    }

    /// Check a get's result: a value, if any, must be this key's own.
    fn check(&self, k: usize, v: Option<memwire::Value>) -> Result<(), String> {
        match v {
            Some(v)
                if v.key != format!("load:{k}").as_bytes() || v.data != payload(k, self.size) =>
            {
                Err(format!("wrong value for load:{k}"))
            }
            _ => Ok(()),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memcached://127.0.0.1:11211".into());
    let (workers, ops, size, get_pct) = (arg(2, 8), arg(3, 20_000), arg(4, 100), arg(5, 90));
    let transport = std::env::args().nth(6).unwrap_or_else(|| "blocking".into());
    let keys = 1000;
    let plans = (0..workers).map(|worker| Plan {
        worker,
        ops,
        keys,
        size,
        get_pct,
    });
    let client = Client::new([url.as_str()])?;
    // Preload the key space so gets hit.
    for k in 0..keys {
        client.set(format!("load:{k}"), payload(k, size))?;
    }
    let start = Instant::now();
    let mut all = match transport.as_str() {
        "blocking" => blocking(&client, plans)?,
        #[cfg(feature = "smol")]
        "smol" => smol_tasks(&url, plans)?,
        other => {
            return Err(format!(
                "unknown transport {other:?} (blocking, or smol with --features smol)"
            )
            .into())
        }
    };
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{transport}: {workers} workers x {ops} ops, {size}-byte values, {get_pct}% gets: {:.0} ops/s; latency p50 {:?} p99 {:?} max {:?}",
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        all[all.len() - 1]
    );
    Ok(())
}

/// One thread per plan on the blocking client.
fn blocking(client: &Client, plans: impl Iterator<Item = Plan>) -> Result<Vec<Duration>, String> {
    let threads: Vec<_> = plans
        .map(|plan| {
            let client = client.clone();
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut lat = Vec::with_capacity(plan.ops);
                for i in 0..plan.ops {
                    let (k, get) = plan.op(i);
                    let key = format!("load:{k}");
                    let t0 = Instant::now();
                    if get {
                        plan.check(k, client.get(&key).map_err(|e| e.to_string())?)?;
                    } else {
                        client
                            .set(&key, payload(k, plan.size))
                            .map_err(|e| e.to_string())?;
                    }
                    lat.push(t0.elapsed());
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().map_err(|_| "worker panicked")??);
    }
    Ok(all)
}

/// One task per plan on the smol client, all on one pipelined connection.
#[cfg(feature = "smol")]
fn smol_tasks(url: &str, plans: impl Iterator<Item = Plan>) -> Result<Vec<Duration>, String> {
    use memwire::AsyncCommands;
    let client = memwire::smol::Client::new([url]).map_err(|e| e.to_string())?;
    smol::block_on(async {
        let tasks: Vec<_> = plans
            .map(|plan| {
                let client = client.clone();
                smol::spawn(async move {
                    let mut lat = Vec::with_capacity(plan.ops);
                    for i in 0..plan.ops {
                        let (k, get) = plan.op(i);
                        let key = format!("load:{k}");
                        let t0 = Instant::now();
                        if get {
                            plan.check(k, client.get(&key).await.map_err(|e| e.to_string())?)?;
                        } else {
                            let value = payload(k, plan.size);
                            client.set(&key, value).await.map_err(|e| e.to_string())?;
                        }
                        lat.push(t0.elapsed());
                    }
                    Ok::<_, String>(lat)
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await?);
        }
        Ok(all)
    })
}

/// The value stored under key number `k`: recognisable per key.
fn payload(k: usize, size: usize) -> Vec<u8> {
    let tag = format!("{k}:");
    tag.bytes().cycle().take(size).collect()
}
