//! Key tracking shared by two OS processes: the test re-runs its own
//! binary as a child (selected by an environment variable); parent and
//! child, two threads each, add keys to the same namespace at the same
//! time. The record is updated with `gets` + `cas`, so no key is lost.
#![cfg(feature = "blocking")]

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use memwire::cache::blocking::Cache;
use memwire::Commands;
use memwire_tests::Memcached;

/// Set in the child: the server address.
const CHILD_ENV: &str = "MEMWIRE_CACHE_CHILD_SERVER";
const PER_THREAD: u32 = 60;
const THREADS: u32 = 2;

fn cache(addr: &str) -> Cache {
    Cache::builder()
        .server(addr)
        .namespace("shared")
        .track_keys(true)
        .on_error(|f| panic!("{f}"))
        .build()
        .unwrap()
}

/// Wait until `key` is present (set through the plain client).
fn wait_for(cache: &Cache, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while cache.client().get(key).unwrap().is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for {key}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Keys `base + t * PER_THREAD + i` from `THREADS` threads.
fn add_keys(cache: &Cache, base: u32) {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let k = base + t * PER_THREAD + i;
                    cache.set(k, format!("value {k}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The child's part; does nothing when run as an ordinary test.
#[test]
fn child_process() {
    let Ok(addr) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cache = cache(&addr);
    cache.client().set("child-ready", "1").unwrap();
    wait_for(&cache, "go");
    add_keys(&cache, 10_000);
}

#[test]
fn two_processes_share_tracked_keys() {
    let server = Memcached::start();
    let cache = cache(&server.addr());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, server.addr())
        .spawn()
        .unwrap();
    wait_for(&cache, "child-ready");
    cache.client().set("go", "1").unwrap();
    add_keys(&cache, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");

    let mut keys: Vec<u32> = cache.keys().unwrap();
    keys.sort();
    let mut expected: Vec<u32> = (0..THREADS * PER_THREAD)
        .flat_map(|k| [k, 10_000 + k])
        .collect();
    expected.sort();
    let stats = server.stats(None);
    eprintln!(
        "record conflicts retried (cas_badval): {}",
        stats.get("cas_badval").map_or("?", String::as_str)
    );
    assert_eq!(keys, expected, "keys were lost");
    // And both processes' values are there.
    assert_eq!(
        cache.query::<String>(10_000).unwrap().as_deref(),
        Some("value 10000")
    );
    assert_eq!(
        cache.query::<String>(0).unwrap().as_deref(),
        Some("value 0")
    );
}
