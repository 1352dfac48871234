//! The meta protocol: a client speaking it, the meta API with its flags,
//! and anti-stampede caching — 16 threads asking for one expensive value
//! compute it once; after a stale mark one recomputes while the others are
//! served the stale value.
//!
//! ```text
//! cargo run -p memwire --example meta_stampede -- memcached://127.0.0.1:11211
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use memwire::blocking::Client;
use memwire::{Command, Commands, Expiry, Protocol, Recache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memcached://127.0.0.1:11211".into());
    // Every operation in the meta protocol (multi-gets as quiet mg + mn).
    let client = Client::builder()
        .server(server)
        .protocol(Protocol::Meta)
        .build()?;
    client.set_with("greeting", "hello", Expiry::secs(300))?;
    let hits = client.get_multi(["greeting", "missing"])?;
    println!(
        "get_multi over meta -> {} hit(s), complete: {}",
        hits.len(),
        hits.is_complete()
    );

    // The meta API: any flag the protocol has, typed.
    let reply = client.meta(
        Command::meta_get("greeting")
            .with_ttl()
            .with_cas()
            .with_hit_before(),
    )?;
    println!(
        "mg greeting t c h -> {:?}, ttl {:?}, cas {:?}, hit before {:?}",
        reply.value(),
        reply.flags.ttl,
        reply.flags.cas,
        reply.flags.hit_before
    );

    // Anti-stampede: 16 threads want the same expensive value at once.
    client.delete("report").ok();
    let computes = Arc::new(AtomicUsize::new(0));
    let recache = Recache::new(Expiry::secs(300));
    for (round, title) in ["a cold miss", "after a stale mark"].iter().enumerate() {
        let barrier = Arc::new(Barrier::new(16));
        let started = Instant::now();
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (c, barrier, computes) = (client.clone(), barrier.clone(), computes.clone());
                thread::spawn(move || {
                    barrier.wait();
                    c.get_or_compute("report", &recache, || {
                        computes.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(200)); // the expensive part
                        Ok::<_, std::io::Error>(format!("report v{round}"))
                    })
                })
            })
            .collect();
        let mut seen = std::collections::BTreeMap::new();
        for w in workers {
            let value = w.join().map_err(|_| "worker panicked")??;
            *seen
                .entry(String::from_utf8_lossy(&value.data).into_owned())
                .or_insert(0) += 1;
        }
        println!(
            "{title}: 16 callers, {} recompute(s) so far, values served {seen:?}, in {:?}",
            computes.load(Ordering::SeqCst),
            started.elapsed()
        );
        client.mark_stale("report", Expiry::secs(60))?;
    }
    let total = computes.load(Ordering::SeqCst);
    if total != 2 {
        return Err(format!("expected one recompute per round, got {total}").into());
    }
    Ok(())
}
