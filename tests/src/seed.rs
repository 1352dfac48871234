//! The examples of the memcached2 seed
//! (`shared/seeds/memcached2-low-level-interface.txt`), one function each,
//! with the same observable results, written once against the public trait
//! [`memwire::Commands`] and instantiated per transport with
//! [`seed_suite!`](crate::seed_suite).
//!
//! Differences from the seed, all deliberate: expiration times are typed
//! ([`Expiry`]) rather than integers, and those of 30 s that are waited
//! out become 2 s (memcached's clock ticks once a second, so an expiry of
//! 1 s may pass at once; 2 s is the shortest safe one); a
//! miss is `Ok(None)` rather than an exception; the CAS unique is whatever
//! the server assigns (5625 in the seed).

use std::thread;
use std::time::Duration;

use memwire::{Error, Expiry, StatValue, StoreOptions};

use crate::conformance::{client_for, only, text, TestClient};
use crate::Memcached;

/// Basic `get` example: a miss means "Cached value not available".
pub fn seed_get_miss<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    let result = memcache.get("session_id").unwrap();
    assert_eq!(
        result, None,
        "Cached value not available, need to recompute it"
    );
}

/// `set`, `get` and the value's key and flags.
pub fn seed_set_get_value<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    memcache.set("session_id", b"TEST SESSSION DATA").unwrap();
    let result = memcache.get("session_id").unwrap().expect("hit");
    assert_eq!(&result.data[..], b"TEST SESSSION DATA");
    assert_eq!(&result.key[..], b"session_id");
    assert_eq!(result.flags, 0);
}

/// Flags and expiration time: the item carries flags 12, then expires.
pub fn seed_flags_and_expiry<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    memcache
        .set_with(
            "foo",
            "xXx",
            StoreOptions::new().flags(12).expiry(Expiry::secs(2)),
        )
        .unwrap();
    let result = memcache.get("foo").unwrap().expect("hit");
    assert_eq!(&result.data[..], b"xXx");
    assert_eq!(&result.key[..], b"foo");
    assert_eq!(result.flags, 12);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(memcache.get("foo").unwrap(), None, "NoValue after expiry");
}

/// `touch` extends an item's life past its original expiry.
pub fn seed_touch<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    memcache.set_with("foo", "bar", Expiry::secs(2)).unwrap();
    memcache.touch("foo", Expiry::secs(30)).unwrap();
    thread::sleep(Duration::from_secs(3));
    assert_eq!(text(memcache.get("foo")), "bar");
}

/// `replace` on a missing key is `NotStored`; then replace, append and
/// prepend give `<<<xyzzy>>>`.
pub fn seed_replace_append_prepend<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    assert!(matches!(
        memcache.replace("unset_key", b"xyzzy"),
        Err(Error::NotStored)
    ));
    memcache
        .set_with("unset_key", "old_data", Expiry::secs(30))
        .unwrap();
    memcache.replace("unset_key", b"xyzzy").unwrap();
    assert_eq!(text(memcache.get("unset_key")), "xyzzy");
    memcache.append("unset_key", b">>>").unwrap();
    memcache.prepend("unset_key", b"<<<").unwrap();
    assert_eq!(text(memcache.get("unset_key")), "<<<xyzzy>>>");
}

/// CAS: a store with the fetched unique succeeds, a second one with the
/// same (now stale) unique fails with `Exists` (the seed's `CASFailure`).
pub fn seed_cas<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    memcache.set("foo", b"bar").unwrap();
    let result = memcache.gets("foo").unwrap().expect("hit");
    let cas_unique = result.cas.expect("cas_unique");
    memcache.cas("foo", b"baz", cas_unique).unwrap();
    assert_eq!(text(memcache.gets("foo")), "baz");
    assert!(matches!(
        memcache.cas("foo", b"qux", cas_unique),
        Err(Error::Exists)
    ));
    assert_eq!(text(memcache.gets("foo")), "baz");
}

/// `incr`/`decr`: `NotFound`, `NonNumeric`, then 1 → 2 → 1 and `get` gives
/// `"1"`.
pub fn seed_incr_decr<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    assert!(matches!(memcache.incr("incrtest", 1), Err(Error::NotFound)));
    memcache.set("incrtest", b"a").unwrap();
    assert!(matches!(
        memcache.incr("incrtest", 1),
        Err(Error::NonNumeric)
    ));
    memcache.set("incrtest", b"1").unwrap();
    assert_eq!(memcache.incr("incrtest", 1).unwrap(), 2);
    assert_eq!(memcache.decr("incrtest", 1).unwrap(), 1);
    assert_eq!(text(memcache.get("incrtest")), "1");
}

/// A server with the seed's three items, tracking sizes (`-o track_sizes`)
/// so `stats sizes` has a histogram as in the seed.
fn stats_server<C: TestClient>() -> (Memcached, C) {
    let server = Memcached::builder().arg("-o").arg("track_sizes").start();
    let memcache: C = client_for(&server);
    memcache.set("foo", b"baz").unwrap();
    memcache.set("incrtest", b"1").unwrap();
    memcache.set("unset_key", b"<<<xyzzy>>>").unwrap();
    memcache.get("foo").unwrap();
    memcache.get("missing").unwrap();
    (server, memcache)
}

/// `stats()`: one typed map per server.
pub fn seed_stats<C: TestClient>() {
    let (server, memcache) = stats_server::<C>();
    let all = memcache.stats();
    assert_eq!(all.len(), 1);
    let stats = only(all);
    assert_eq!(stats["curr_items"], StatValue::UInt(3));
    assert_eq!(stats["cmd_get"], StatValue::UInt(2));
    assert_eq!(stats["get_hits"], StatValue::UInt(1));
    assert_eq!(stats["get_misses"], StatValue::UInt(1));
    assert_eq!(
        stats["pid"],
        StatValue::UInt(u64::from(server.pid().expect("pid")))
    );
    assert!(matches!(stats["rusage_user"], StatValue::Float(_)));
    assert!(matches!(stats["version"], StatValue::Text(_)));
    assert!(stats["limit_maxbytes"].as_u64().is_some_and(|n| n > 0));
}

/// `stats_settings()`: typed settings (`cas_enabled` a bool,
/// `growth_factor` a float, `tcpport` the port).
pub fn seed_stats_settings<C: TestClient>() {
    let (server, memcache) = stats_server::<C>();
    let settings = only(memcache.stats_settings());
    assert_eq!(settings["cas_enabled"], StatValue::Bool(true));
    assert_eq!(settings["growth_factor"], StatValue::Float(1.25));
    assert_eq!(
        settings["tcpport"],
        StatValue::UInt(u64::from(server.port()))
    );
    assert_eq!(settings["evictions"], StatValue::Text("on".into()));
    assert_eq!(settings["inter"], StatValue::Text("127.0.0.1".into()));
}

/// `stats_items()`: per slab class, with the item count.
pub fn seed_stats_items<C: TestClient>() {
    let (_server, memcache) = stats_server::<C>();
    let items = only(memcache.stats_items());
    assert!(!items.is_empty());
    let number: u64 = items
        .values()
        .map(|class| class["number"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(number, 3);
    for class in items.values() {
        for stat in ["age", "evicted", "outofmemory", "reclaimed"] {
            assert!(class.contains_key(stat), "{stat} missing in {class:?}");
        }
    }
}

/// `stats_sizes()`: the `(size, count)` histogram, e.g. `[(64, 1), (96, 2)]`.
pub fn seed_stats_sizes<C: TestClient>() {
    let (_server, memcache) = stats_server::<C>();
    let sizes = only(memcache.stats_sizes());
    assert!(sizes.enabled);
    assert!(!sizes.sizes.is_empty());
    assert_eq!(sizes.sizes.iter().map(|(_, count)| count).sum::<u64>(), 3);
    assert!(sizes.sizes.windows(2).all(|w| w[0].0 < w[1].0));
}

/// `stats_slabs()`: per-class statistics under `classes`, and totals
/// (`active_slabs`, `total_malloced`).
pub fn seed_stats_slabs<C: TestClient>() {
    let (_server, memcache) = stats_server::<C>();
    let slabs = only(memcache.stats_slabs());
    assert!(slabs.totals["active_slabs"]
        .as_u64()
        .is_some_and(|n| n >= 1));
    assert!(slabs.totals["total_malloced"]
        .as_u64()
        .is_some_and(|n| n > 0));
    let used: u64 = slabs
        .classes
        .values()
        .map(|class| class["used_chunks"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(used, 3);
    let class = slabs.classes.values().next().expect("a class");
    for stat in ["chunk_size", "chunks_per_page", "total_pages", "get_hits"] {
        assert!(class.contains_key(stat), "{stat} missing in {class:?}");
    }
}

/// `delete`, `flush_all` and `close`.
pub fn seed_delete_flush_close<C: TestClient>() {
    let server = Memcached::start();
    let memcache: C = client_for(&server);
    memcache.set("foo", b"bar").unwrap();
    memcache.set("other", b"x").unwrap();
    memcache.delete("foo").unwrap();
    assert_eq!(memcache.get("foo").unwrap(), None);
    only(memcache.flush_all());
    assert_eq!(memcache.get("other").unwrap(), None);
    memcache.close();
}

/// Instantiate the memcached2 seed examples for a client type (see
/// [`TestClient`]): one `#[test]` per example.
#[macro_export]
macro_rules! seed_suite {
    ($client:ty) => {
        $crate::seed_suite!(@tests $client;
            seed_get_miss,
            seed_set_get_value,
            seed_flags_and_expiry,
            seed_touch,
            seed_replace_append_prepend,
            seed_cas,
            seed_incr_decr,
            seed_stats,
            seed_stats_settings,
            seed_stats_items,
            seed_stats_sizes,
            seed_stats_slabs,
            seed_delete_flush_close,
        );
    };
    (@tests $client:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::seed::$name::<$client>();
            }
        )*
    };
}
