//! The examples of the lovely.memcached seed
//! (`shared/seeds/lovely-memcached-utility.txt`), one test each, on the
//! blocking [`Cache`] against a real memcached. Each test names the seed
//! lines it reproduces; results are the seed's (`sorted(keys())` becomes a
//! sorted `Vec`). Keys and values are strings and integers, which need no
//! `serde` feature.
#![cfg(feature = "blocking")]

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use memwire::cache::blocking::Cache;
use memwire::cache::{CacheBuilder, CacheError};
use memwire::{Commands, Expiry};
use memwire_tests::{free_port, Memcached};

/// Absorbed failures, as `operation: error` lines.
type Log = Arc<Mutex<Vec<String>>>;

fn builder(server: &Memcached, log: &Log) -> CacheBuilder<Cache> {
    let log = Arc::clone(log);
    Cache::builder()
        .server(server.addr())
        .retry_after(Duration::from_millis(50))
        .on_error(move |f| {
            log.lock()
                .unwrap()
                .push(format!("{}: {}", f.operation, f.error))
        })
}

fn cache(server: &Memcached, log: &Log) -> Cache {
    builder(server, log).build().unwrap()
}

fn no_failures(log: &Log) {
    assert_eq!(*log.lock().unwrap(), Vec::<String>::new());
}

fn sorted_keys(cache: &Cache) -> Vec<i32> {
    let mut keys: Vec<i32> = cache.keys().unwrap();
    keys.sort();
    keys
}

/// `util.servers` → `['127.0.0.1:11211']`, `util.defaultLifetime` → 3600.
#[test]
fn defaults() {
    let util = Cache::new().unwrap();
    assert_eq!(util.servers(), vec!["127.0.0.1:11211".to_string()]);
    assert_eq!(util.default_lifetime(), 3600);
    assert_eq!(util.namespace(), None);
    assert!(!util.tracks_keys());
    let util = Cache::builder()
        .server("10.0.0.1:11212")
        .default_lifetime(5)
        .build()
        .unwrap();
    assert_eq!(
        (util.servers(), util.default_lifetime()),
        (vec!["10.0.0.1:11212".into()], 5)
    );
}

/// `util.set('cached value', 'cache_key')` → `'188693688126b424eb89e1385eca6f01'`,
/// `util.query('cache_key')` → `'cached value'`.
#[test]
fn set_returns_the_generated_key() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    let key = util.set("cache_key", "cached value").unwrap();
    assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    assert_eq!(
        util.query::<String>("cache_key").unwrap().as_deref(),
        Some("cached value")
    );
    // Stored under that key, as plain text with flags 1.
    let raw = util.client().get(&key).unwrap().unwrap();
    assert_eq!((raw.flags, &raw.data[..]), (1, &b"cached value"[..]));
    no_failures(&log);
}

/// `util.invalidate('cache_key')`, then `util.query('cache_key') is None`.
#[test]
fn invalidate() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    util.set("cache_key", "cached value").unwrap();
    util.invalidate("cache_key").unwrap();
    assert_eq!(util.query::<String>("cache_key").unwrap(), None);
    util.invalidate("cache_key").unwrap(); // absent: fine
    no_failures(&log);
}

/// `util.set(u'cached value ä', 'cache_key')` round-trips.
#[test]
fn unicode() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    util.set("cache_key", "cached value ä").unwrap();
    assert_eq!(
        util.query::<String>("cache_key").unwrap().as_deref(),
        Some("cached value ä")
    );
    // Unicode keys and namespaces too.
    util.ns("名前").set("ключ 🗝", "ä").unwrap();
    assert_eq!(
        util.ns("名前")
            .query::<String>("ключ 🗝")
            .unwrap()
            .as_deref(),
        Some("ä")
    );
    no_failures(&log);
}

/// `util.invalidateAll()`, then `util.query('cache_key') is None`.
#[test]
fn invalidate_all() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    util.set("cache_key", "cached value ä").unwrap();
    util.invalidate_all();
    assert_eq!(util.query::<String>("cache_key").unwrap(), None);
    no_failures(&log);
}

/// util1 (ns '1') and util2 (ns '2'): each sees its own keys, `ns=` reads
/// the other's, and `invalidateAll` clears every namespace.
#[test]
fn namespaces() {
    let server = Memcached::start();
    let log = Log::default();
    let util1 = builder(&server, &log).namespace("1").build().unwrap();
    let util2 = builder(&server, &log).namespace("2").build().unwrap();
    util1.set(1, 1).unwrap();
    util2.set(2, 2).unwrap();
    assert_eq!(util1.query::<i32>(1).unwrap(), Some(1));
    assert_eq!(util1.query::<i32>(2).unwrap(), None);
    assert_eq!(util1.ns("2").query::<i32>(2).unwrap(), Some(2));
    assert_eq!(util2.query::<i32>(2).unwrap(), Some(2));
    assert_eq!(util2.query::<i32>(1).unwrap(), None);
    // The same key in two namespaces (and in none) is three items.
    util1.set("k", "one").unwrap();
    util2.set("k", "two").unwrap();
    util1.no_ns().set("k", "none").unwrap();
    assert_eq!(util1.query::<String>("k").unwrap().as_deref(), Some("one"));
    assert_eq!(util2.query::<String>("k").unwrap().as_deref(), Some("two"));
    assert_eq!(
        util2.no_ns().query::<String>("k").unwrap().as_deref(),
        Some("none")
    );

    util1.invalidate_all();
    assert_eq!(util1.query::<i32>(1).unwrap(), None);
    assert_eq!(util2.query::<i32>(2).unwrap(), None);
    assert_eq!(util2.query::<String>("k").unwrap(), None);
    no_failures(&log);
}

/// `util1.keys()` → `NotImplementedError: trackKeys not enabled`.
#[test]
fn keys_need_tracking() {
    let server = Memcached::start();
    let log = Log::default();
    let util1 = builder(&server, &log).namespace("1").build().unwrap();
    util1.set(1, 1).unwrap();
    assert!(matches!(
        util1.keys::<i32>(),
        Err(CacheError::KeysNotTracked)
    ));
    assert!(matches!(
        util1.ns("3").keys::<i32>(),
        Err(CacheError::KeysNotTracked)
    ));
}

/// util3 (trackKeys): `set(1,1)` → keys `[1]`; `set(2,2)` → `[1, 2]`.
#[test]
fn tracked_keys() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    assert_eq!(sorted_keys(&util3), Vec::<i32>::new());
    util3.set(1, 1).unwrap();
    assert_eq!(sorted_keys(&util3), vec![1]);
    util3.set(2, 2).unwrap();
    assert_eq!(sorted_keys(&util3), vec![1, 2]);
    util3.set(2, 22).unwrap(); // set again: still one key
    assert_eq!(sorted_keys(&util3), vec![1, 2]);
    // Another cache on the same servers sees the same keys.
    let other = builder(&server, &log).track_keys(true).build().unwrap();
    assert_eq!(sorted_keys(&other), vec![1, 2]);
    no_failures(&log);
}

/// A thread sets 3 and sees `[[1, 2, 3]]`.
#[test]
fn tracked_keys_across_threads() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    util3.set(1, 1).unwrap();
    util3.set(2, 2).unwrap();
    let log3: Arc<Mutex<Vec<Vec<i32>>>> = Arc::default();
    let thread = {
        let (util3, log3) = (util3.clone(), Arc::clone(&log3));
        thread::spawn(move || {
            util3.set(3, 3).unwrap();
            log3.lock().unwrap().push(sorted_keys(&util3));
        })
    };
    thread.join().unwrap();
    assert_eq!(*log3.lock().unwrap(), vec![vec![1, 2, 3]]);
    assert_eq!(sorted_keys(&util3), vec![1, 2, 3]);

    // Many threads at once lose nothing.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let util3 = util3.clone();
            thread::spawn(move || {
                for i in 0..25 {
                    util3.set(100 + t * 25 + i, i).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let keys = sorted_keys(&util3);
    assert_eq!(keys.len(), 3 + 200);
    assert!((100..300).all(|k| keys.binary_search(&k).is_ok()));
    no_failures(&log);
}

/// `set(4, 4, lifetime=1)` → keys `[1, 2, 3, 4]`; two seconds later
/// `[1, 2, 3]` and `query(4) is None`.
#[test]
fn tracked_keys_expire() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    for k in 1..=3 {
        util3.set(k, k).unwrap();
    }
    util3.lifetime(1).set(4, 4).unwrap();
    assert_eq!(sorted_keys(&util3), vec![1, 2, 3, 4]);
    assert_eq!(util3.query::<i32>(4).unwrap(), Some(4));
    thread::sleep(Duration::from_secs(2));
    assert_eq!(sorted_keys(&util3), vec![1, 2, 3]);
    assert_eq!(util3.query::<i32>(4).unwrap(), None);
    no_failures(&log);
}

/// An item stored already expired (`Expiry::In(Duration::ZERO)`, which
/// memcached stores expired at once) is not listed, and a tracked key
/// overwritten that way leaves the list with its item.
#[test]
fn tracked_keys_stored_expired_are_not_listed() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    util3.set(1, 1).unwrap();
    util3.set(2, 2).unwrap();
    let gone = Expiry::In(Duration::ZERO);
    util3.expiry(gone).set(3, 3).unwrap();
    util3.expiry(gone).set(2, 2).unwrap();
    assert_eq!(util3.query::<i32>(2).unwrap(), None);
    assert_eq!(util3.query::<i32>(3).unwrap(), None);
    assert_eq!(sorted_keys(&util3), vec![1]);
    no_failures(&log);
}

/// `set(5, 5, ns=u'3')`: `keys()` → `[1, 2, 3]`, `keys(u'3')` → `[5]`.
#[test]
fn tracked_keys_are_bound_to_a_namespace() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    for k in 1..=3 {
        util3.set(k, k).unwrap();
    }
    util3.ns("3").set(5, 5).unwrap();
    assert_eq!(sorted_keys(&util3), vec![1, 2, 3]);
    assert_eq!(util3.ns("3").keys::<i32>().unwrap(), vec![5]);
    // A cache whose default namespace is "3" sees the same.
    let util5 = builder(&server, &log)
        .namespace("3")
        .track_keys(true)
        .build()
        .unwrap();
    assert_eq!(util5.keys::<i32>().unwrap(), vec![5]);
    assert_eq!(util5.no_ns().keys::<i32>().unwrap().len(), 3);
    no_failures(&log);
}

/// `util3.invalidate(1)` → keys `[2, 3]`; `invalidate_all` empties them.
#[test]
fn invalidate_updates_tracked_keys() {
    let server = Memcached::start();
    let log = Log::default();
    let util3 = builder(&server, &log).track_keys(true).build().unwrap();
    for k in 1..=3 {
        util3.set(k, k).unwrap();
    }
    util3.invalidate(1).unwrap();
    assert_eq!(sorted_keys(&util3), vec![2, 3]);
    util3.invalidate(1).unwrap();
    assert_eq!(sorted_keys(&util3), vec![2, 3]);
    util3.invalidate_all();
    assert_eq!(sorted_keys(&util3), Vec::<i32>::new());
    no_failures(&log);
}

/// Raw keys: `set(..., 'a', raw=True)` → `'a'`; with `ns='NS_'` → `'NS_a'`;
/// a key memcached would refuse is an error; `query('a', raw=True)` finds it,
/// `query('a')` does not; `invalidate('a')` leaves it, `invalidate('a',
/// raw=True)` removes it.
#[test]
fn raw_keys() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    // The seed refuses a unicode raw key; here, what memcached would refuse.
    for bad in ["", "a b", "a\r\nflush_all", &"k".repeat(251)] {
        assert!(
            matches!(
                util.raw().set(bad, "value of a"),
                Err(CacheError::InvalidKey { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        util.raw().set(1, "x"),
        Err(CacheError::InvalidKey { .. })
    ));
    assert!(matches!(
        util.raw().ns("N S").set("a", "x"),
        Err(CacheError::InvalidKey { .. })
    ));
    assert!(matches!(
        util.raw().query::<String>("a b"),
        Err(CacheError::InvalidKey { .. })
    ));

    assert_eq!(util.raw().set("a", "value of a").unwrap(), "a");
    assert_eq!(util.raw().ns("NS_").set("a", "value of a").unwrap(), "NS_a");
    assert_eq!(
        util.raw()
            .ns("NS_")
            .set("http://a/bc?x=1", "value of a")
            .unwrap(),
        "NS_http://a/bc?x=1"
    );

    assert_eq!(
        util.raw().query::<String>("a").unwrap().as_deref(),
        Some("value of a")
    );
    assert_eq!(util.query::<String>("a").unwrap(), None);
    // Other applications read plain text under the raw key.
    let plain = util.client().get("NS_a").unwrap().unwrap();
    assert_eq!(&plain.data[..], b"value of a");

    util.invalidate("a").unwrap();
    assert_eq!(
        util.raw().query::<String>("a").unwrap().as_deref(),
        Some("value of a")
    );
    util.raw().invalidate("a").unwrap();
    assert_eq!(util.raw().query::<String>("a").unwrap(), None);

    // A default namespace is prepended to raw keys too.
    let ns = builder(&server, &log).namespace("NS_").build().unwrap();
    assert_eq!(
        ns.raw().query::<String>("a").unwrap().as_deref(),
        Some("value of a")
    );
    no_failures(&log);
}

/// Raw keys are tracked as such, apart from hashed keys.
#[test]
fn raw_keys_are_tracked() {
    let server = Memcached::start();
    let log = Log::default();
    let util = builder(&server, &log).track_keys(true).build().unwrap();
    util.raw().set("a", "raw").unwrap();
    util.set("b", "hashed").unwrap();
    let mut keys: Vec<String> = util.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    util.invalidate("a").unwrap(); // the hashed "a": not tracked, no change
    assert_eq!(util.keys::<String>().unwrap().len(), 2);
    util.raw().invalidate("a").unwrap();
    assert_eq!(util.keys::<String>().unwrap(), ["b"]);
    no_failures(&log);
}

/// `util.getStatistics()` → `[('127.0.0.1:11211 (1)', {'total_items': ...})]`.
#[test]
fn statistics() {
    let server = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    util.set("cache_key", "cached value").unwrap();
    let stats = util.statistics();
    assert_eq!(stats.len(), 1);
    let (label, stats) = &stats[0];
    assert_eq!(*label, format!("127.0.0.1:{} (1)", server.port()));
    let stats = stats.as_ref().unwrap();
    assert_eq!(stats["total_items"].as_u64(), Some(1));

    let two = builder(&server, &log)
        .weighted_server(format!("127.0.0.1:{}", free_port()), 3)
        .build()
        .unwrap();
    let stats = two.statistics();
    assert!(stats[0].1.is_ok());
    assert!(stats[1].0.ends_with(" (3)") && stats[1].1.is_err());
}

/// `util.servers = ['127.0.0.1:8125']` (nothing there): `set` stores
/// nothing and does not fail, `query` is `None`; the hook hears of it.
#[test]
fn server_down() {
    let log = Log::default();
    let hook_log = Arc::clone(&log);
    let util = Cache::builder()
        .server(format!("127.0.0.1:{}", free_port()))
        .connect_timeout(Duration::from_millis(200))
        .track_keys(true)
        .on_error(move |f| {
            hook_log
                .lock()
                .unwrap()
                .push(format!("{}: {}", f.operation, f.error))
        })
        .build()
        .unwrap();
    let k = util.set("cache_object", "cached value").unwrap();
    assert_eq!(k, util.set("cache_object", "cached value").unwrap());
    assert_eq!(util.query::<String>("cache_object").unwrap(), None);
    util.invalidate("cache_object").unwrap();
    assert_eq!(util.keys::<String>().unwrap(), Vec::<String>::new());
    util.invalidate_all();
    let log = log.lock().unwrap();
    assert!(log.len() >= 5, "{log:?}");
    assert!(log[0].starts_with("set: "), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("query: ")), "{log:?}");
    assert_eq!(util.failures(), log.len() as u64);
    // Caller mistakes are still errors.
    assert!(util.raw().set("a b", "x").is_err());
}

/// Lifetimes are seconds, as in the seed; beyond memcached's 30 days for
/// relative times they still count from now (sent as an absolute time),
/// so the value is stored, not expired at once as a date in 1970.
#[test]
fn lifetimes_beyond_30_days() {
    let server = Memcached::start();
    let log = Log::default();
    let days = |d: u32| d * 86_400;
    let util = builder(&server, &log)
        .default_lifetime(days(45))
        .track_keys(true)
        .build()
        .unwrap();
    util.set("default", "v").unwrap();
    util.lifetime(days(400)).set("long", "v").unwrap();
    util.lifetime(days(30)).set("month", "v").unwrap();
    util.lifetime(0).set("forever", "v").unwrap();
    util.expiry(Duration::from_secs(60))
        .set("typed", "v")
        .unwrap();
    for k in ["default", "long", "month", "forever", "typed"] {
        assert_eq!(
            util.query::<String>(k).unwrap().as_deref(),
            Some("v"),
            "{k}"
        );
    }
    let mut keys: Vec<String> = util.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["default", "forever", "long", "month", "typed"]);
    // A relative expiry memcached would misread is refused, nothing sent.
    assert!(matches!(
        util.expiry(Duration::from_secs(u64::from(days(31))))
            .set("bad", "v"),
        Err(CacheError::Request(_))
    ));
    assert_eq!(util.query::<String>("bad").unwrap(), None);
    no_failures(&log);
}

/// Without a hook, failures are only counted; the cache still degrades.
#[test]
fn no_hook_by_default() {
    let util = Cache::builder()
        .server(format!("127.0.0.1:{}", free_port()))
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert_eq!(util.set(1, 1).unwrap().len(), 32);
    assert_eq!(util.query::<i32>(1).unwrap(), None);
    assert!(util.failures() >= 2);
}

/// The cache is generic over the client: here one built by hand.
#[test]
fn a_cache_on_a_client_of_your_own() {
    let server = Memcached::start();
    let client = memwire::blocking::Client::new([server.addr()]).unwrap();
    let util =
        memwire::cache::Cache::with_client(client, CacheBuilder::new().namespace("1").settings());
    let key = util.set(1, 1).unwrap();
    assert_eq!(key, util.memcached_key(1).unwrap());
    assert_eq!(util.namespace(), Some("1"));
    let stored = util.client().get(&key).unwrap().unwrap();
    assert_eq!((stored.flags, &stored.data[..]), (2, &b"1"[..]));
    assert_eq!(
        util.no_ns().memcached_key("cache_key").unwrap(),
        "188693688126b424eb89e1385eca6f01"
    );
}

/// `util.servers = ['127.0.0.1:8125']` on a cache in use, then back: with
/// no server there `set` stores nothing and `query` is `None`; once the
/// list names the live server again its values are there at once. With
/// two servers, each key is read from the server ketama gives it.
#[test]
fn servers_replaced_while_in_use() {
    let server = Memcached::start();
    let other = Memcached::start();
    let log = Log::default();
    let util = cache(&server, &log);
    util.set("cache_object", "cached value").unwrap();

    let nowhere = format!("127.0.0.1:{}", free_port());
    util.set_servers([nowhere.as_str()]).unwrap();
    assert_eq!(util.servers(), std::slice::from_ref(&nowhere));
    util.set("elsewhere", "lost").unwrap();
    assert_eq!(util.query::<String>("cache_object").unwrap(), None);
    assert!(!log.lock().unwrap().is_empty(), "the hook hears of it");

    util.set_servers([server.addr()]).unwrap();
    assert_eq!(
        util.query::<String>("cache_object").unwrap().as_deref(),
        Some("cached value")
    );
    assert_eq!(util.query::<String>("elsewhere").unwrap(), None);

    util.set_servers([server.addr(), other.addr()]).unwrap();
    for i in 0..40 {
        util.set(i, i).unwrap();
    }
    let items = |m: &Memcached| m.stats(None)["curr_items"].parse::<u64>().unwrap();
    assert!(items(&other) > 0, "some keys live on the new server");
    for i in 0..40 {
        assert_eq!(util.query::<i32>(i).unwrap(), Some(i));
    }
    // Bad input changes nothing.
    assert!(matches!(
        util.set_servers(Vec::<String>::new()),
        Err(CacheError::Config(_))
    ));
    assert!(util.set_servers(["not a server:x"]).is_err());
    assert_eq!(util.servers(), [server.addr(), other.addr()]);
}
