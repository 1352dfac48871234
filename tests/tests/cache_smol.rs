//! The async cache on smol (`cache::smol::Cache`, an `AsyncCache`): the
//! lovely.memcached seed's main examples with the same results as the
//! blocking cache (`cache_lovely.rs`), plus concurrent tasks sharing
//! tracked keys and degradation while the server is stopped.
#![cfg(feature = "smol")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memwire::cache::smol::Cache;
use memwire::cache::{CacheBuilder, CacheError};
use memwire_tests::Memcached;

fn cache(server: &Memcached, failures: &Arc<AtomicUsize>) -> CacheBuilder<Cache> {
    let failures = Arc::clone(failures);
    Cache::builder()
        .server(server.addr())
        .retry_after(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(200))
        .on_error(move |_| {
            failures.fetch_add(1, Ordering::Relaxed);
        })
}

#[test]
fn seed_examples() {
    let server = Memcached::start();
    let failures = Arc::default();
    smol::block_on(async {
        let util = cache(&server, &failures).build().unwrap();
        assert_eq!(util.servers(), [server.addr()]);
        assert_eq!(util.default_lifetime(), 3600);
        let key = util.set("cache_key", "cached value").await.unwrap();
        assert_eq!(key, "188693688126b424eb89e1385eca6f01");
        assert_eq!(
            util.query::<String>("cache_key").await.unwrap().as_deref(),
            Some("cached value")
        );
        util.invalidate("cache_key").await.unwrap();
        assert_eq!(util.query::<String>("cache_key").await.unwrap(), None);
        util.set("cache_key", "cached value ä").await.unwrap();
        assert_eq!(
            util.query::<String>("cache_key").await.unwrap().as_deref(),
            Some("cached value ä")
        );
        util.invalidate_all().await;
        assert_eq!(util.query::<String>("cache_key").await.unwrap(), None);

        let util1 = cache(&server, &failures).namespace("1").build().unwrap();
        let util2 = cache(&server, &failures).namespace("2").build().unwrap();
        util1.set(1, 1).await.unwrap();
        util2.set(2, 2).await.unwrap();
        assert_eq!(util1.query::<i32>(1).await.unwrap(), Some(1));
        assert_eq!(util1.query::<i32>(2).await.unwrap(), None);
        assert_eq!(util1.ns("2").query::<i32>(2).await.unwrap(), Some(2));
        assert!(matches!(
            util1.keys::<i32>().await,
            Err(CacheError::KeysNotTracked)
        ));
        util1.invalidate_all().await;
        assert_eq!(util2.query::<i32>(2).await.unwrap(), None);

        let util3 = cache(&server, &failures).track_keys(true).build().unwrap();
        for k in 1..=3 {
            util3.set(k, k).await.unwrap();
        }
        util3.lifetime(1).set(4, 4).await.unwrap();
        util3.ns("3").set(5, 5).await.unwrap();
        let mut keys: Vec<i32> = util3.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, [1, 2, 3, 4]);
        assert_eq!(util3.ns("3").keys::<i32>().await.unwrap(), [5]);
        smol::Timer::after(Duration::from_secs(2)).await;
        util3.invalidate(1).await.unwrap();
        let mut keys: Vec<i32> = util3.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, [2, 3]);
        assert_eq!(util3.query::<i32>(4).await.unwrap(), None);

        assert_eq!(
            util.raw().ns("NS_").set("a", "value of a").await.unwrap(),
            "NS_a"
        );
        assert!(matches!(
            util.raw().set("a b", "x").await,
            Err(CacheError::InvalidKey { .. })
        ));
        assert_eq!(
            util.ns("NS_")
                .raw()
                .query::<String>("a")
                .await
                .unwrap()
                .as_deref(),
            Some("value of a")
        );

        let stats = util.statistics().await;
        assert_eq!(stats[0].0, format!("{} (1)", server.addr()));
        assert!(stats[0].1.is_ok());
    });
    assert_eq!(failures.load(Ordering::Relaxed), 0);
}

#[test]
fn concurrent_tasks_share_tracked_keys() {
    let server = Memcached::start();
    let failures = Arc::default();
    smol::block_on(async {
        let cache = cache(&server, &failures).track_keys(true).build().unwrap();
        let tasks: Vec<_> = (0..8u32)
            .map(|t| {
                let cache = cache.clone();
                smol::spawn(async move {
                    for i in 0..20 {
                        cache.set(t * 20 + i, i).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let mut keys: Vec<u32> = cache.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, (0..160).collect::<Vec<_>>());
    });
    assert_eq!(failures.load(Ordering::Relaxed), 0);
}

#[test]
fn server_stopped_and_restarted() {
    let server = Memcached::start();
    let failures = Arc::new(AtomicUsize::new(0));
    smol::block_on(async {
        let cache = cache(&server, &failures).build().unwrap();
        cache.set("k", "before").await.unwrap();
        server.stop();
        assert_eq!(cache.set("k", "down").await.unwrap().len(), 32);
        assert_eq!(cache.query::<String>("k").await.unwrap(), None);
        assert!(failures.load(Ordering::Relaxed) >= 2);
        server.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            cache.set("k", "after").await.unwrap();
            if cache.query::<String>("k").await.unwrap().as_deref() == Some("after") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the restarted server is not used"
            );
            smol::Timer::after(Duration::from_millis(50)).await;
        }
    });
}

/// The async cache's server list replaced while in use, as the blocking
/// one (`cache_lovely.rs`, `servers_replaced_while_in_use`).
#[test]
fn servers_replaced_while_in_use() {
    let server = Memcached::start();
    let other = Memcached::start();
    let failures = Arc::default();
    smol::block_on(async {
        let util = cache(&server, &failures).build().unwrap();
        util.set("cache_object", "cached value").await.unwrap();
        util.set_servers([other.addr()]).unwrap();
        assert_eq!(util.servers(), [other.addr()]);
        assert_eq!(util.query::<String>("cache_object").await.unwrap(), None);
        util.set_servers([server.addr()]).unwrap();
        assert_eq!(
            util.query::<String>("cache_object")
                .await
                .unwrap()
                .as_deref(),
            Some("cached value")
        );
        assert!(util.set_servers(Vec::<String>::new()).is_err());
        assert_eq!(util.servers(), [server.addr()]);
    });
}
