//! The blocking cache with plain strings and bytes: runs with and without
//! the `serde` feature (`--no-default-features --features blocking`), with
//! the same keys and the same stored bytes either way.
#![cfg(feature = "blocking")]

use std::time::Duration;

use memwire::cache::blocking::Cache;
use memwire::cache::CacheError;
use memwire_tests::Memcached;

#[test]
fn strings_bytes_raw_keys_and_tracking() {
    let server = Memcached::start();
    let cache: Cache = Cache::builder()
        .server(server.addr())
        .track_keys(true)
        .retry_after(Duration::from_millis(50))
        .on_error(|f| panic!("{f}"))
        .build()
        .unwrap();

    let key = cache.set("cache_key", "cached value ä").unwrap();
    assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    let stored = cache.client().get(&key).unwrap().unwrap();
    assert_eq!(
        (stored.flags, &stored.data[..]),
        (1, "cached value ä".as_bytes())
    );
    assert_eq!(
        cache.query::<String>("cache_key").unwrap().as_deref(),
        Some("cached value ä")
    );

    cache.set("bytes", vec![0u8, 255, 10]).unwrap();
    assert_eq!(
        cache.query::<Vec<u8>>("bytes").unwrap(),
        Some(vec![0, 255, 10])
    );

    assert_eq!(
        cache.raw().ns("NS_").set("a", "value of a").unwrap(),
        "NS_a"
    );
    assert!(matches!(
        cache.raw().set("a b", "x"),
        Err(CacheError::InvalidKey { .. })
    ));

    let mut keys: Vec<String> = cache.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["bytes", "cache_key"]);
    assert_eq!(cache.ns("NS_").keys::<String>().unwrap(), ["a"]);
    cache.invalidate("bytes").unwrap();
    assert_eq!(cache.keys::<String>().unwrap(), ["cache_key"]);
    assert_eq!(cache.query::<Vec<u8>>("bytes").unwrap(), None);
}
