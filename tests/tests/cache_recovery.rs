//! A cache whose server is stopped keeps working (nothing stored, `None`
//! read, failures reported to the hook) and uses the server again as soon
//! as it is back: same `Cache`, no restart of the program.
#![cfg(feature = "blocking")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use memwire::cache::blocking::Cache;
use memwire_tests::Memcached;

#[test]
fn server_stopped_and_restarted() {
    let server = Memcached::start();
    let failures = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&failures);
    let cache = Cache::builder()
        .server(server.addr())
        .track_keys(true)
        .retry_after(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(200))
        .on_error(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();

    cache.set("k", "before").unwrap();
    assert_eq!(
        cache.query::<String>("k").unwrap().as_deref(),
        Some("before")
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);

    server.stop();
    let key = cache.set("k", "while down").unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(cache.query::<String>("k").unwrap(), None);
    assert_eq!(cache.keys::<String>().unwrap(), Vec::<String>::new());
    let while_down = failures.load(Ordering::Relaxed);
    assert!(while_down >= 2, "failures reported: {while_down}");
    assert_eq!(cache.failures(), while_down as u64);

    server.restart(); // empty
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        cache.set("k", "after").unwrap();
        if cache.query::<String>("k").unwrap().as_deref() == Some("after") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted server is not used"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cache.keys::<String>().unwrap(), ["k"]);
    // Back to normal: no more failures.
    let settled = failures.load(Ordering::Relaxed);
    cache.set("k2", "more").unwrap();
    assert_eq!(
        cache.query::<String>("k2").unwrap().as_deref(),
        Some("more")
    );
    assert_eq!(failures.load(Ordering::Relaxed), settled);
}
