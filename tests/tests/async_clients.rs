//! What only an async client can get wrong, on every async transport
//! (smol and tokio share one driver; each runs these): many tasks on one
//! pipelined connection, futures dropped mid-request, deadlines with the
//! runtime's timers, backpressure, and fail-fast callers that must not
//! starve the connection drivers.
#![cfg(any(feature = "smol", feature = "tokio"))]

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::HealthConfig;
use memwire::{AsyncCommands, Error, FromConfig, StatValue};
use memwire_tests::Memcached;

/// How far past its deadline a call may return: room for a busy test
/// machine, and less than half the deadlines below, so a call whose time
/// limits add up (connect + request) still fails the check.
const SLACK: Duration = Duration::from_millis(200);

/// A runtime to run the tests on.
trait TestRuntime {
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Run `future` as its own task; the returned future is its output.
    fn spawn<F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn sleep(d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

#[cfg(feature = "smol")]
struct Smol;

#[cfg(feature = "smol")]
impl TestRuntime for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
    fn spawn<F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Box::pin(smol::spawn(future))
    }
    fn sleep(d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }
}

#[cfg(feature = "tokio")]
struct Tokio;

#[cfg(feature = "tokio")]
fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

#[cfg(feature = "tokio")]
impl TestRuntime for Tokio {
    fn block_on<F: Future>(future: F) -> F::Output {
        tokio_runtime().block_on(future)
    }
    fn spawn<F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = tokio_runtime().spawn(future);
        Box::pin(async move { task.await.expect("task panicked") })
    }
    fn sleep(d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// An async client of the transport under test.
trait Client: AsyncCommands + FromConfig + Clone + Send + Sync + 'static {}
impl<C: AsyncCommands + FromConfig + Clone + Send + Sync + 'static> Client for C {}

/// Poll `future` once: `Some` when it completed, `None` when it was
/// pending (and is then dropped).
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let polled = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match polled {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The first of two futures to complete; the other is dropped.
async fn race<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        b.as_mut().poll(cx)
    })
    .await
}

/// `total_connections` as the client's own connection reports it: it
/// grows by one for each connection the client opens.
async fn total_connections<C: Client>(c: &C) -> u64 {
    let mut stats = c.stats().await;
    let (_, stats) = stats.pop().expect("one server");
    stats
        .expect("stats")
        .get("total_connections")
        .and_then(StatValue::as_u64)
        .expect("total_connections")
}

/// 64 tasks × 100 rounds of set/get/incr/get_multi on one client: every
/// reply is the task's own, and all of it went over one connection.
fn many_tasks_share_one_connection<R: TestRuntime, C: Client>() {
    let server = Memcached::start();
    let c = C::builder().server(server.url()).build().expect("config");
    R::block_on(async {
        c.set("warmup", "x").await.expect("set");
        let before = total_connections(&c).await;
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let c = c.clone();
                R::spawn(async move {
                    let counter = format!("task{t}:counter");
                    c.set(&counter, "0").await.expect("set counter");
                    for i in 0..100u64 {
                        let key = format!("task{t}:key{}", i % 10);
                        let value = format!("{key}:{i}:{}", "v".repeat((i % 37) as usize));
                        c.set(&key, value.as_str()).await.expect("set");
                        let got = c.get(&key).await.expect("get").expect("hit");
                        assert_eq!(&got.key[..], key.as_bytes());
                        assert_eq!(got.data, value.as_bytes(), "wrong value for {key}");
                        assert_eq!(c.incr(&counter, 1).await.expect("incr"), i + 1);
                        if i % 10 == 9 {
                            let other = format!("task{t}:key{}", (i + 1) % 10);
                            let hits = c.get_multi([&key, &other]).await.expect("get_multi");
                            assert_eq!(hits[0].data, value.as_bytes());
                            for h in &hits {
                                assert!(h.key.starts_with(format!("task{t}:").as_bytes()));
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        assert_eq!(
            total_connections(&c).await,
            before,
            "the tasks must share the client's one connection"
        );
    });
}

/// A fake server that reads `n` `get` requests before answering any, then
/// answers them all in order. Only a client that has all `n` requests in
/// flight at once gets any reply.
fn answer_after(n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut keys = Vec::new();
        while keys.len() < n {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let key = line
                .trim_end()
                .strip_prefix("get ")
                .unwrap_or_else(|| panic!("unexpected request {line:?}"))
                .to_string();
            keys.push(key);
        }
        let mut out = Vec::new();
        for key in keys {
            let data = format!("value of {key}");
            out.extend_from_slice(
                format!("VALUE {key} 0 {}\r\n{data}\r\nEND\r\n", data.len()).as_bytes(),
            );
        }
        let mut stream = stream;
        let _ = stream.write_all(&out);
        // Keep the connection open until the client is done.
        let mut sink = [0u8; 64];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    });
    addr
}

/// Requests from concurrent tasks are in flight together on the one
/// connection: a server that answers only once it has 32 requests serves
/// them all, each reply to the task that asked.
fn concurrent_requests_are_pipelined<R: TestRuntime, C: Client>() {
    let addr = answer_after(32);
    let c = C::builder()
        .server(addr)
        .io_timeout(Duration::from_secs(3))
        .build()
        .expect("config");
    R::block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let c = c.clone();
                R::spawn(async move {
                    let key = format!("k{i}");
                    let v = c.get(&key).await.expect("get").expect("hit");
                    assert_eq!(&v.key[..], key.as_bytes());
                    assert_eq!(v.data, format!("value of {key}").as_bytes());
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
}

/// Futures dropped mid-request — sent and then dropped after one poll, or
/// raced against short timers — never hand their reply to anyone else, and
/// the connection stays in use (no reconnect).
fn dropped_futures_never_misdeliver<R: TestRuntime, C: Client>() {
    let server = Memcached::start();
    let c = C::builder().server(server.url()).build().expect("config");
    R::block_on(async {
        for i in 0..50 {
            c.set(format!("key{i}"), format!("value{i}"))
                .await
                .expect("set");
        }
        let before = total_connections(&c).await;
        let mut dropped = 0;
        for round in 0..300usize {
            let i = round % 50;
            let j = (round * 7 + 3) % 50;
            match round % 3 {
                // Queued on the first poll, then dropped before its reply.
                0 => {
                    if poll_once(c.get(format!("key{i}"))).await.is_none() {
                        dropped += 1;
                    }
                }
                // A multi-get raced against a very short timer.
                1 => {
                    let keys = [format!("key{i}"), format!("key{j}")];
                    let raced = race(async { Some(c.get_multi(&keys).await) }, async {
                        R::sleep(Duration::from_micros(round as u64 % 40)).await;
                        None
                    });
                    match raced.await {
                        None => dropped += 1,
                        Some(hits) => {
                            let hits = hits.expect("get_multi");
                            assert_eq!(hits.len(), 2);
                            assert_eq!(hits[0].data, format!("value{i}").as_bytes());
                        }
                    }
                }
                // Several dropped at once, while others are in flight.
                _ => {
                    let a = poll_once(c.get(format!("key{i}"))).await;
                    let b = poll_once(c.get(format!("key{j}"))).await;
                    dropped += usize::from(a.is_none()) + usize::from(b.is_none());
                }
            }
            // The next requests on the same connection get their own values.
            let v = c.get(format!("key{j}")).await.expect("get").expect("hit");
            assert_eq!(v.data, format!("value{j}").as_bytes(), "round {round}");
            let n = c.incr("counter", 1).await;
            assert!(matches!(n, Err(Error::NotFound)), "round {round}: {n:?}");
        }
        assert!(
            dropped > 100,
            "only {dropped} futures were dropped mid-request"
        );
        assert_eq!(
            total_connections(&c).await,
            before,
            "abandoned requests must not cost the connection"
        );
    });
}

/// A listener that accepts and never answers: calls time out within the
/// call's deadline, concurrent ones included, and the client keeps
/// answering (with errors) rather than hanging.
fn timeout_against_silent_listener<R: TestRuntime, C: Client>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let sink = held.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
        }
    });
    let io_timeout = Duration::from_millis(500);
    let c = C::builder()
        .server(addr.to_string())
        .io_timeout(io_timeout)
        .health(HealthConfig {
            failure_limit: 100,
            retry_after: Duration::from_millis(10),
        })
        .build()
        .expect("config");
    R::block_on(async {
        for _ in 0..3 {
            let started = Instant::now();
            let r = c.get("k").await;
            let elapsed = started.elapsed();
            assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
            assert!(
                elapsed >= io_timeout - Duration::from_millis(20),
                "{elapsed:?}"
            );
            assert!(elapsed < io_timeout + SLACK, "{elapsed:?}");
        }
        // Many tasks at once: each fails with a timeout, none hangs.
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let c = c.clone();
                R::spawn(async move { c.get(format!("k{i}")).await })
            })
            .collect();
        for task in tasks {
            match task.await {
                Err(e) => assert!(e.is_timeout(), "{e}"),
                Ok(v) => panic!("a value from a silent server: {v:?}"),
            }
        }
        let elapsed = started.elapsed();
        assert!(elapsed < io_timeout + SLACK, "{elapsed:?}");
    });
    assert!(!held.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
}

/// Dropping a call while its connection is being made is safe, and the
/// next call connects and works.
fn dropped_while_connecting<R: TestRuntime, C: Client>() {
    let server = Memcached::start();
    let c = C::builder().server(server.url()).build().expect("config");
    R::block_on(async {
        for _ in 0..20 {
            let _ = poll_once(c.set("k", "v")).await;
        }
        c.set("k", "v2").await.expect("set");
        assert_eq!(
            &c.get("k").await.expect("get").expect("hit").data[..],
            b"v2"
        );
    });
}

/// With `max_in_flight(4)`, 64 concurrent tasks against a server that
/// answers only after 8 requests never get 8 in flight: the extra callers
/// wait for room, until their deadline, and nobody gets an answer —
/// nothing beyond the bound is sent. The first request in flight times
/// out; the connection dies with it, and the calls whose deadline has not
/// come yet — the other requests in flight, a few microseconds younger,
/// when the driver's timer fires between their deadlines, and the callers
/// still waiting — may retry their read on a new connection, which this
/// one-connection server refuses.
fn in_flight_is_bounded<R: TestRuntime, C: Client>() {
    let addr = answer_after(8);
    let io_timeout = Duration::from_millis(500);
    let c = C::builder()
        .server(addr)
        .io_timeout(io_timeout)
        .max_in_flight(4)
        .build()
        .expect("config");
    R::block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let c = c.clone();
                R::spawn(async move { c.get(format!("k{i}")).await })
            })
            .collect();
        let mut timeouts = 0;
        for task in tasks {
            match task.await {
                Err(e) => {
                    assert!(e.is_connection_error(), "{e}");
                    timeouts += usize::from(e.is_timeout());
                }
                Ok(v) => panic!("an answer means more than 4 were in flight: {v:?}"),
            }
        }
        assert!(timeouts >= 1, "the first request in flight times out");
        assert!(started.elapsed() < io_timeout + SLACK);
    });
}

/// Tasks that loop on calls failing fast (their server is down) next to
/// tasks using a healthy server: the healthy calls keep their deadline
/// (+500 ms, room for a busy test machine; starved drivers overran by
/// tens of seconds): fail-fast calls yield, so the connection drivers
/// sharing the executor are not starved.
fn fail_fast_callers_do_not_starve_drivers<R: TestRuntime, C: Client>() {
    let up = Memcached::start();
    let down = Memcached::start();
    let io_timeout = Duration::from_secs(1);
    let c = C::builder()
        .server(up.url())
        .server(down.url())
        .io_timeout(io_timeout)
        .health(HealthConfig {
            failure_limit: 1,
            retry_after: Duration::from_secs(60),
        })
        .build()
        .expect("config");
    let servers = c.servers();
    let key_on = |server: usize| {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| c.server_for_key(k) == servers[server])
            .expect("a key")
    };
    let (up_key, down_key) = (key_on(0), key_on(1));
    down.stop();
    R::block_on(async {
        c.set(&up_key, "v").await.expect("set");
        assert!(c.get(&down_key).await.is_err(), "the down server fails");
        let run_for = Duration::from_secs(2);
        let spinners: Vec<_> = (0..16)
            .map(|_| {
                let (c, key) = (c.clone(), down_key.clone());
                R::spawn(async move {
                    let started = Instant::now();
                    let mut calls = 0u64;
                    while started.elapsed() < run_for {
                        let r = c.get(&key).await;
                        assert!(matches!(r, Err(Error::NoServer(_))), "{r:?}");
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let workers: Vec<_> = (0..48)
            .map(|_| {
                let (c, key) = (c.clone(), up_key.clone());
                R::spawn(async move {
                    let started = Instant::now();
                    let mut worst = Duration::ZERO;
                    while started.elapsed() < run_for {
                        let call = Instant::now();
                        let r = c.get(&key).await;
                        worst = worst.max(call.elapsed());
                        assert!(r.is_ok(), "healthy server: {r:?}");
                    }
                    worst
                })
            })
            .collect();
        let mut spun = 0;
        for s in spinners {
            spun += s.await;
        }
        assert!(spun > 0);
        for w in workers {
            let worst = w.await;
            assert!(
                worst < io_timeout + Duration::from_millis(500),
                "a call to the healthy server took {worst:?}"
            );
        }
    });
}

macro_rules! async_suite {
    ($module:ident, $runtime:ty, $client:ty, $feature:literal) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;

            #[test]
            fn many_tasks_share_one_connection() {
                super::many_tasks_share_one_connection::<$runtime, $client>();
            }
            #[test]
            fn concurrent_requests_are_pipelined() {
                super::concurrent_requests_are_pipelined::<$runtime, $client>();
            }
            #[test]
            fn dropped_futures_never_misdeliver() {
                super::dropped_futures_never_misdeliver::<$runtime, $client>();
            }
            #[test]
            fn timeout_against_silent_listener() {
                super::timeout_against_silent_listener::<$runtime, $client>();
            }
            #[test]
            fn dropped_while_connecting() {
                super::dropped_while_connecting::<$runtime, $client>();
            }
            #[test]
            fn in_flight_is_bounded() {
                super::in_flight_is_bounded::<$runtime, $client>();
            }
            #[test]
            fn fail_fast_callers_do_not_starve_drivers() {
                super::fail_fast_callers_do_not_starve_drivers::<$runtime, $client>();
            }
            /// The client is `Send + Sync + Clone` and its futures are
            /// `Send` (they can be spawned on a multi-threaded executor).
            #[test]
            fn client_and_futures_are_send() {
                fn assert<T: Send + Sync + Clone + 'static>() {}
                fn assert_send<T: Send>(_: &T) {}
                assert::<$client>();
                let c = <$client>::new(["127.0.0.1:1"]).expect("config");
                assert_send(&c.get("k"));
                assert_send(&c.get_multi(["a", "b"]));
                assert_send(&c.set("k", "v"));
                assert_send(&c.stats());
                assert_send(&c.close());
            }
        }
    };
}

async_suite!(smol_client, Smol, memwire::smol::Client, "smol");
async_suite!(tokio_client, Tokio, memwire::tokio::Client, "tokio");

/// A smol client on an executor of the caller's
/// (`memwire::smol::Client::on_executor`): its drivers run there, so
/// nothing moves while that executor is not run, and everything works
/// when it is — calls from its tasks sharing one connection included.
#[cfg(feature = "smol")]
#[test]
fn smol_client_on_the_callers_executor() {
    let server = Memcached::start();
    let executor = Arc::new(smol::Executor::new());
    let config = memwire::smol::Client::builder()
        .server(server.url())
        .config()
        .expect("config");
    let client = memwire::smol::Client::on_executor(config, executor.clone()).expect("client");
    // The executor not run: the driver that would connect never starts.
    let stuck = smol::block_on(smol::future::or(
        async { Some(client.get("k").await) },
        async {
            smol::Timer::after(Duration::from_millis(300)).await;
            None
        },
    ));
    assert!(
        stuck.is_none(),
        "a call completed without its executor: {stuck:?}"
    );
    smol::block_on(executor.run(async {
        client.set("k", "v").await.expect("set");
        let hit = client.get("k").await.expect("get").expect("hit");
        assert_eq!(hit.data, "v");
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let c = client.clone();
                executor.spawn(async move {
                    c.set(format!("k{i}"), format!("v{i}")).await?;
                    c.get(format!("k{i}")).await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let hit = task.await.expect("task").expect("hit");
            assert_eq!(hit.data, format!("v{i}").as_bytes());
        }
    }));
    let stats = smol::block_on(executor.run(client.stats()));
    assert_eq!(stats.len(), 1);
    let total = stats[0].1.as_ref().expect("stats").get("total_connections");
    assert!(total.is_some(), "{stats:?}");
}
