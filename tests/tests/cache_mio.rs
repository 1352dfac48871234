//! The blocking `Cache` is generic over the client: the same cache on the
//! mio transport's ready-made client (`Cache<memwire::mio::Client>`), with
//! the seed's key, namespaces, key tracking from several threads and
//! degradation while the server is stopped.
#![cfg(feature = "mio")]

use std::thread;
use std::time::Duration;

use memwire::cache::{Cache, CacheBuilder};
use memwire_tests::Memcached;

type MioCache = Cache<memwire::mio::Client>;

fn builder(server: &Memcached) -> CacheBuilder<MioCache> {
    MioCache::builder()
        .server(server.addr())
        .retry_after(Duration::from_millis(50))
        .connect_timeout(Duration::from_millis(200))
}

#[test]
fn the_cache_on_the_mio_client() {
    let server = Memcached::start();
    let util = builder(&server)
        .on_error(|f| panic!("{f}"))
        .build()
        .unwrap();
    let key = util.set("cache_key", "cached value").unwrap();
    assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    assert_eq!(
        util.query::<String>("cache_key").unwrap().as_deref(),
        Some("cached value")
    );
    util.ns("1").set(1, 1).unwrap();
    assert_eq!(util.query::<i32>(1).unwrap(), None);
    assert_eq!(util.ns("1").query::<i32>(1).unwrap(), Some(1));

    let tracked = builder(&server)
        .track_keys(true)
        .on_error(|f| panic!("{f}"))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let cache = tracked.clone();
            thread::spawn(move || {
                for i in 0..25 {
                    cache.set(t * 25 + i, i).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut keys: Vec<u32> = tracked.keys().unwrap();
    keys.sort();
    assert_eq!(keys, (0..100).collect::<Vec<_>>());
    util.invalidate_all();
    assert_eq!(util.query::<String>("cache_key").unwrap(), None);
    assert_eq!(tracked.keys::<u32>().unwrap(), Vec::<u32>::new());
}

#[test]
fn degrades_while_the_server_is_stopped() {
    let server = Memcached::start();
    let util = builder(&server).build().unwrap();
    util.set("k", "before").unwrap();
    server.stop();
    assert_eq!(util.set("k", "down").unwrap().len(), 32);
    assert_eq!(util.query::<String>("k").unwrap(), None);
    assert!(util.failures() >= 2);
    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while util.query::<String>("k").unwrap().is_none() {
        util.set("k", "after").unwrap();
        assert!(std::time::Instant::now() < deadline, "not used again");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(util.query::<String>("k").unwrap().as_deref(), Some("after"));
}
