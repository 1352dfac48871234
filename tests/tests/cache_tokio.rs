//! The async cache on tokio (`cache::tokio::Cache`, an `AsyncCache`): the
//! seed's keys and namespaces, tracked keys shared by concurrent tasks on
//! a multi-thread runtime, and degradation while the server is down.
#![cfg(feature = "tokio")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memwire::cache::tokio::Cache;
use memwire::cache::CacheError;
use memwire_tests::{free_port, Memcached};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn seed_examples_and_concurrent_tasks() {
    let server = Memcached::start();
    runtime().block_on(async {
        let util = Cache::builder()
            .server(server.addr())
            .on_error(|f| panic!("{f}"))
            .build()
            .unwrap();
        let key = util.set("cache_key", "cached value").await.unwrap();
        assert_eq!(key, "188693688126b424eb89e1385eca6f01");
        assert_eq!(
            util.query::<String>("cache_key").await.unwrap().as_deref(),
            Some("cached value")
        );
        util.ns("2").set(2, 2).await.unwrap();
        assert_eq!(util.query::<i32>(2).await.unwrap(), None);
        assert_eq!(util.ns("2").query::<i32>(2).await.unwrap(), Some(2));
        assert!(matches!(
            util.keys::<i32>().await,
            Err(CacheError::KeysNotTracked)
        ));
        assert_eq!(
            util.raw().ns("NS_").set("a", "value of a").await.unwrap(),
            "NS_a"
        );
        util.invalidate_all().await;
        assert_eq!(util.query::<String>("cache_key").await.unwrap(), None);

        let tracked = Cache::builder()
            .server(server.addr())
            .track_keys(true)
            .on_error(|f| panic!("{f}"))
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..8u32)
            .map(|t| {
                let cache = tracked.clone();
                tokio::spawn(async move {
                    for i in 0..20 {
                        cache.set(t * 20 + i, i).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut keys: Vec<u32> = tracked.keys().await.unwrap();
        keys.sort();
        assert_eq!(keys, (0..160).collect::<Vec<_>>());
        tracked.invalidate(7u32).await.unwrap();
        assert_eq!(tracked.keys::<u32>().await.unwrap().len(), 159);
        assert_eq!(
            tracked.statistics().await[0].0,
            format!("{} (1)", server.addr())
        );
    });
}

#[test]
fn server_down() {
    let failures = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&failures);
    runtime().block_on(async {
        let cache = Cache::builder()
            .server(format!("127.0.0.1:{}", free_port()))
            .connect_timeout(Duration::from_millis(200))
            .track_keys(true)
            .on_error(move |_| {
                counted.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        assert_eq!(cache.set("k", "v").await.unwrap().len(), 32);
        assert_eq!(cache.query::<String>("k").await.unwrap(), None);
        assert_eq!(cache.keys::<String>().await.unwrap(), Vec::<String>::new());
        assert!(failures.load(Ordering::Relaxed) >= 3);
        assert_eq!(cache.failures(), failures.load(Ordering::Relaxed) as u64);
    });
}
