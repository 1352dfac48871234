//! Anti-stampede caching (`get_or_compute`, `mark_stale`) against a real
//! memcached, with many concurrent callers: threads (blocking and mio
//! clients), tasks (smol and tokio), and separate OS processes. Each round
//! starts from a miss or a stale mark; exactly one caller recomputes per
//! round, and nobody ever sees a value older than the stale one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
#[cfg(any(feature = "blocking", feature = "mio"))]
use std::{sync::Barrier, thread};

#[cfg(any(feature = "blocking", feature = "mio"))]
use memwire::Commands;
use memwire::{Expiry, Recache, Value};
use memwire_tests::Memcached;

/// Rounds after the first (cold) one, each started by a stale mark.
const ROUNDS: usize = 4;

/// The version a value of this test carries: `v<round>`.
fn version(value: &Value) -> usize {
    std::str::from_utf8(&value.data)
        .ok()
        .and_then(|s| s.strip_prefix('v'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a version: {value:?}"))
}

/// Long enough to overlap every caller of a round.
const COMPUTE_TIME: Duration = Duration::from_millis(80);

fn recache() -> Recache {
    Recache::new(Expiry::secs(300)).wait(Duration::from_secs(3), Duration::from_millis(5))
}

/// `threads` threads per round on clients made by `client`: round 0 is a
/// cold miss, each later round follows a stale mark. One recompute per
/// round, and each caller gets the round's value or the stale one before
/// it.
#[cfg(any(feature = "blocking", feature = "mio"))]
fn threads_share_one_recompute<C: Commands + Send + Sync + Clone + 'static>(c: C, threads: usize) {
    let computes = Arc::new(AtomicUsize::new(0));
    for round in 0..=ROUNDS {
        let before = computes.load(Ordering::SeqCst);
        let barrier = Arc::new(Barrier::new(threads));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (c, barrier, computes) = (c.clone(), barrier.clone(), computes.clone());
                thread::spawn(move || {
                    barrier.wait();
                    let value = c
                        .get_or_compute("hot", &recache(), || {
                            computes.fetch_add(1, Ordering::SeqCst);
                            thread::sleep(COMPUTE_TIME);
                            Ok::<_, std::io::Error>(format!("v{round}"))
                        })
                        .expect("a value");
                    version(&value)
                })
            })
            .collect();
        for w in workers {
            let seen = w.join().expect("worker");
            assert!(
                seen == round || (round > 0 && seen == round - 1),
                "round {round}: saw v{seen}"
            );
        }
        assert_eq!(
            computes.load(Ordering::SeqCst) - before,
            1,
            "round {round}: exactly one recompute"
        );
        c.mark_stale("hot", Expiry::secs(60)).expect("mark stale");
    }
}

#[cfg(feature = "blocking")]
#[test]
fn threads_on_the_blocking_client() {
    let server = Memcached::start();
    let c = memwire::blocking::Client::new([server.url()]).expect("config");
    threads_share_one_recompute(c, 24);
}

#[cfg(feature = "mio")]
#[test]
fn threads_on_the_mio_client() {
    let server = Memcached::start();
    let c = memwire::mio::Client::new([server.url()]).expect("config");
    threads_share_one_recompute(c, 24);
}

/// The async version: `tasks` tasks per round on one async client.
#[cfg(any(feature = "smol", feature = "tokio"))]
mod tasks {
    use std::future::Future;
    use std::pin::Pin;

    use memwire::AsyncCommands;

    use super::*;

    type Spawn = fn(
        Pin<Box<dyn Future<Output = usize> + Send>>,
    ) -> Pin<Box<dyn Future<Output = usize> + Send>>;

    pub(super) async fn share_one_recompute<C>(c: C, tasks: usize, spawn: Spawn)
    where
        C: AsyncCommands + Clone + Send + Sync + 'static,
    {
        let computes = Arc::new(AtomicUsize::new(0));
        for round in 0..=ROUNDS {
            let before = computes.load(Ordering::SeqCst);
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (c, computes) = (c.clone(), computes.clone());
                    spawn(Box::pin(async move {
                        let value = c
                            .get_or_compute("hot", &recache(), async {
                                computes.fetch_add(1, Ordering::SeqCst);
                                c.sleep(COMPUTE_TIME).await;
                                Ok::<_, std::io::Error>(format!("v{round}"))
                            })
                            .await
                            .expect("a value");
                        version(&value)
                    }))
                })
                .collect();
            for h in handles {
                let seen = h.await;
                assert!(
                    seen == round || (round > 0 && seen == round - 1),
                    "round {round}: saw v{seen}"
                );
            }
            assert_eq!(
                computes.load(Ordering::SeqCst) - before,
                1,
                "round {round}: exactly one recompute"
            );
            c.mark_stale("hot", Expiry::secs(60))
                .await
                .expect("mark stale");
        }
    }
}

#[cfg(feature = "smol")]
#[test]
fn tasks_on_smol() {
    let server = Memcached::start();
    let c = memwire::smol::Client::new([server.url()]).expect("config");
    smol::block_on(tasks::share_one_recompute(c, 64, |f| {
        Box::pin(smol::spawn(f))
    }));
}

#[cfg(feature = "tokio")]
#[test]
fn tasks_on_tokio() {
    let server = Memcached::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = memwire::tokio::Client::new([server.url()]).expect("config");
    rt.block_on(tasks::share_one_recompute(c, 64, |f| {
        let task = tokio::spawn(f);
        Box::pin(async move { task.await.expect("task") })
    }));
}

/// Recompute before expiry (`R`): once a value has less than
/// `recache_below` left, one caller recomputes while the others keep
/// getting the current value — no caller waits, no caller misses.
#[cfg(feature = "blocking")]
#[test]
fn early_recompute_keeps_serving_the_current_value() {
    let server = Memcached::start();
    let c = memwire::blocking::Client::new([server.url()]).expect("config");
    // memcached's clock ticks in whole seconds: a value living 4 s has at
    // most 2 s left 2.1 s later, below 3.
    let recache = Recache::new(Expiry::secs(4)).recache_below(Duration::from_secs(3));
    let computes = Arc::new(AtomicUsize::new(0));
    let first = c
        .get_or_compute("warm", &recache, || Ok::<_, std::io::Error>("v0"))
        .expect("first value");
    assert_eq!(version(&first), 0);
    thread::sleep(Duration::from_millis(2_100));
    let barrier = Arc::new(Barrier::new(16));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (c, barrier, computes) = (c.clone(), barrier.clone(), computes.clone());
            thread::spawn(move || {
                barrier.wait();
                let v = c
                    .get_or_compute("warm", &recache, || {
                        computes.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(COMPUTE_TIME);
                        Ok::<_, std::io::Error>("v1")
                    })
                    .expect("a value");
                version(&v)
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().expect("worker") <= 1);
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1);
    let after = c.get("warm").expect("get").expect("stored");
    assert_eq!(version(&after), 1);
}

/// A recompute that fails serves the stale value, and the next caller
/// recomputes.
#[cfg(feature = "blocking")]
#[test]
fn a_failed_recompute_serves_the_stale_value() {
    let server = Memcached::start();
    let c = memwire::blocking::Client::new([server.url()]).expect("config");
    c.get_or_compute("s", &recache(), || Ok::<_, std::io::Error>("v0"))
        .expect("first value");
    c.mark_stale("s", Expiry::secs(60)).expect("mark stale");
    let served = c
        .get_or_compute("s", &recache(), || {
            Err::<&str, _>(std::io::Error::other("db down"))
        })
        .expect("the stale value");
    assert_eq!(version(&served), 0);
    // A failed recompute of a missing value is an error, and gives the
    // lease back: the next caller recomputes at once.
    let failed = c.get_or_compute("missing", &recache(), || {
        Err::<&str, _>(std::io::Error::other("db down"))
    });
    assert!(matches!(failed, Err(memwire::ComputeError::Compute(_))));
    let next = c
        .get_or_compute("missing", &recache(), || Ok::<_, std::io::Error>("v7"))
        .expect("recomputed");
    assert_eq!(version(&next), 7);
}

/// The environment variable a child process of
/// [`processes_share_one_recompute`] finds its task in: the server, its
/// index, and the number of children.
#[cfg(feature = "blocking")]
const CHILD: &str = "MEMWIRE_STAMPEDE_CHILD";

/// Several OS processes (this test binary, started again), each with
/// several threads, per round: exactly one recompute in all of them. The
/// rounds are driven through memcached itself: the parent publishes the
/// round, the children report each caller done and each recompute with
/// `incr`.
#[cfg(feature = "blocking")]
#[test]
fn processes_share_one_recompute() {
    if let Ok(task) = std::env::var(CHILD) {
        return child(&task);
    }
    const CHILDREN: usize = 3;
    const THREADS: usize = 4;
    let server = Memcached::start();
    let c = memwire::blocking::Client::new([server.url()]).expect("config");
    c.set("round", "-1").expect("set");
    for counter in (0..=ROUNDS).flat_map(|r| [format!("done:{r}"), format!("computes:{r}")]) {
        c.set(&counter, "0").expect("set");
    }
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "processes_share_one_recompute",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, format!("{} {i} {THREADS}", server.url()))
                .spawn()
                .expect("spawn a child")
        })
        .collect();
    for round in 0..=ROUNDS {
        c.set("round", round.to_string())
            .expect("publish the round");
        let done = format!("done:{round}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while counter(&c, &done) < (CHILDREN * THREADS) as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round} never finished"
            );
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            counter(&c, &format!("computes:{round}")),
            1,
            "round {round}"
        );
        c.mark_stale("hot", Expiry::secs(60)).expect("mark stale");
    }
    c.set("round", "done").expect("stop the children");
    for mut child in children {
        assert!(child.wait().expect("child").success(), "a child failed");
    }
}

#[cfg(feature = "blocking")]
fn counter(c: &impl Commands, key: &str) -> u64 {
    let v = c.get(key).expect("get").expect("counter");
    std::str::from_utf8(&v.data)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("a number")
}

/// One child process: for each round the parent publishes, `threads`
/// threads ask for the value at once; recomputes and finished callers are
/// counted in memcached; a value older than the stale one fails the
/// child.
#[cfg(feature = "blocking")]
fn child(task: &str) {
    let mut parts = task.split(' ');
    let (Some(url), Some(_index), Some(threads)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("bad task {task:?}");
    };
    let threads: usize = threads.parse().expect("threads");
    let c = memwire::blocking::Client::new([url]).expect("config");
    let mut last = -1i64;
    loop {
        let round = c.get("round").expect("get").expect("round");
        let round = std::str::from_utf8(&round.data).expect("text").to_string();
        if round == "done" {
            return;
        }
        let round: i64 = round.parse().expect("round");
        if round <= last {
            thread::sleep(Duration::from_millis(2));
            continue;
        }
        last = round;
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    let value = c
                        .get_or_compute("hot", &recache(), || {
                            c.incr(format!("computes:{round}"), 1).expect("count");
                            thread::sleep(COMPUTE_TIME);
                            Ok::<_, std::io::Error>(format!("v{round}"))
                        })
                        .expect("a value");
                    let seen = version(&value) as i64;
                    assert!(
                        seen == round || seen == round - 1,
                        "round {round}: saw v{seen}"
                    );
                    c.incr(format!("done:{round}"), 1).expect("count");
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
    }
}

/// The high-level cache shares one recompute too: 16 threads asking for
/// one hashed, namespaced key compute it once; its value decodes back.
#[cfg(feature = "blocking")]
#[test]
fn the_cache_shares_one_recompute() {
    use memwire::cache::blocking::Cache;
    let server = Memcached::start();
    let cache: Cache = Cache::builder()
        .server(server.addr())
        .namespace("reports")
        .track_keys(true)
        .build()
        .expect("cache");
    let computes = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(16));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (cache, barrier, computes) = (cache.clone(), barrier.clone(), computes.clone());
            thread::spawn(move || {
                barrier.wait();
                cache
                    .get_or_compute(("daily", 2026), || {
                        computes.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(COMPUTE_TIME);
                        Ok::<_, std::io::Error>(42u64)
                    })
                    .expect("a value")
            })
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().expect("worker"), 42);
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1);
    // Stored under the cache's key, with the cache's encoding, and tracked.
    assert_eq!(
        cache.query::<u64>(("daily", 2026)).expect("query"),
        Some(42)
    );
    assert_eq!(
        cache.keys::<(String, i64)>().expect("keys"),
        [("daily".to_string(), 2026)]
    );
}

/// The async cache, on smol: 32 tasks, one recompute.
#[cfg(feature = "smol")]
#[test]
fn the_async_cache_shares_one_recompute() {
    use memwire::cache::smol::Cache;
    let server = Memcached::start();
    let cache: Cache = Cache::builder()
        .server(server.addr())
        .build()
        .expect("cache");
    let computes = Arc::new(AtomicUsize::new(0));
    smol::block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (cache, computes) = (cache.clone(), computes.clone());
                smol::spawn(async move {
                    cache
                        .get_or_compute("hot", async {
                            computes.fetch_add(1, Ordering::SeqCst);
                            smol::Timer::after(COMPUTE_TIME).await;
                            Ok::<_, std::io::Error>("fresh".to_string())
                        })
                        .await
                        .expect("a value")
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await, "fresh");
        }
    });
    assert_eq!(computes.load(Ordering::SeqCst), 1);
}
