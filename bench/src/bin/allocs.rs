//! `memwire-allocs`: allocations per request on each client, counted by an
//! instrumented global allocator over a measured span (after a warm-up,
//! so that connections, pools and buffers already exist).
//!
//! ```text
//! memwire-allocs --server HOST:PORT [--secs 1]
//! ```
//!
//! An allocation here is a call to the allocator for a new block or a
//! larger one (`alloc` + `realloc`). The value's own buffer is included:
//! a get's value is one allocation of the read buffer's share (none when
//! it is split off a larger buffer).

use std::alloc::System;
use std::time::Duration;

use memwire_bench::meter::count_allocations_with;
use memwire_bench::{preload, run, Meter, Workload};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn counted() -> (u64, u64) {
    let s = GLOBAL.stats();
    (
        (s.allocations + s.reallocations) as u64,
        (s.bytes_allocated + s.bytes_reallocated.max(0) as usize) as u64,
    )
}

fn main() -> Result<(), memwire_bench::RunError> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let server = flag("--server").ok_or("usage: memwire-allocs --server HOST:PORT [--secs 1]")?;
    let secs: f64 = flag("--secs").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    count_allocations_with(counted);
    preload(server)?;
    let runs: [(&str, &str, Workload, &str); 10] = [
        ("blocking get", "blocking", Workload::Get, "get"),
        ("blocking set", "blocking", Workload::Set, "set"),
        (
            "blocking multi-get, 100 keys",
            "blocking",
            Workload::MultiGet,
            "key",
        ),
        ("mio::Client get", "mio", Workload::Get, "get"),
        ("core get (std TcpStream)", "core", Workload::Get, "get"),
        (
            "core multi-get, 100 keys",
            "core",
            Workload::MultiGet,
            "key",
        ),
        ("core, window 100", "core", Workload::Window(100), "request"),
        (
            "mio::Adapter, window 100",
            "adapter",
            Workload::Window(100),
            "request",
        ),
        ("smol, 256 tasks", "smol", Workload::Tasks(256), "request"),
        ("tokio, 256 tasks", "tokio", Workload::Tasks(256), "request"),
    ];
    println!("| client, workload | allocations per unit | bytes per unit | unit |");
    println!("|---|---|---|---|");
    for (title, system, workload, unit) in runs {
        let meter = Meter::new(Duration::from_millis(200), Duration::from_secs_f64(secs));
        let m = run(system, workload, server, meter)?;
        let per = |x: u64| x as f64 / m.units.max(1) as f64;
        println!(
            "| {title} | {:.2} | {:.0} | {unit} |",
            per(m.allocs),
            per(m.alloc_bytes)
        );
    }
    Ok(())
}
