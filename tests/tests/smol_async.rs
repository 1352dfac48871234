//! What only an async client can get wrong: many tasks on one pipelined
//! connection, futures dropped mid-request, timeouts with smol's timers.
#![cfg(feature = "smol")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::HealthConfig;
use memwire::smol::Client;
use memwire::{ClientBuilder, Error, StatValue};
use memwire_tests::Memcached;
use smol::future;

fn client(builder: ClientBuilder) -> Client {
    builder.build().expect("client config")
}

/// `total_connections` as the client's own connection reports it: it
/// grows by one for each connection the client opens.
async fn total_connections(c: &Client) -> u64 {
    let mut stats = c.stats().await;
    let (_, stats) = stats.pop().expect("one server");
    let stats = stats.expect("stats");
    stats
        .get("total_connections")
        .and_then(StatValue::as_u64)
        .expect("total_connections")
}

/// 64 tasks × 100 rounds of set/get/incr/get_multi on one client: every
/// reply is the task's own, and all of it went over one connection.
#[test]
fn many_tasks_share_one_connection() {
    let server = Memcached::start();
    let c = client(ClientBuilder::new().server(server.url()));
    smol::block_on(async {
        c.set("warmup", "x").await.expect("set");
        let before = total_connections(&c).await;
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let c = c.clone();
                smol::spawn(async move {
                    let counter = format!("task{t}:counter");
                    c.set(&counter, "0").await.expect("set counter");
                    for i in 0..100u64 {
                        let key = format!("task{t}:key{}", i % 10);
                        let value = format!("{key}:{i}:{}", "v".repeat((i % 37) as usize));
                        c.set(&key, value.clone()).await.expect("set");
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
#[test]
fn concurrent_requests_are_pipelined() {
    let addr = answer_after(32);
    let c = client(
        ClientBuilder::new()
            .server(addr)
            .io_timeout(Duration::from_secs(3)),
    );
    smol::block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let c = c.clone();
                smol::spawn(async move {
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
#[test]
fn dropped_futures_never_misdeliver() {
    let server = Memcached::start();
    let c = client(ClientBuilder::new().server(server.url()));
    smol::block_on(async {
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
                // Sent (the first poll hands it to the connection), then
                // dropped before its reply.
                0 => {
                    if future::poll_once(c.get(format!("key{i}"))).await.is_none() {
                        dropped += 1;
                    }
                }
                // A multi-get raced against a very short timer.
                1 => {
                    let keys = [format!("key{i}"), format!("key{j}")];
                    let raced = future::or(async { Some(c.get_multi(&keys).await) }, async {
                        smol::Timer::after(Duration::from_micros(round as u64 % 40)).await;
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
                    let a = c.get(format!("key{i}"));
                    let b = c.get(format!("key{j}"));
                    let (ra, rb) = future::zip(future::poll_once(a), future::poll_once(b)).await;
                    dropped += usize::from(ra.is_none()) + usize::from(rb.is_none());
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

/// A listener that accepts and never answers: calls time out with smol's
/// timers within the I/O timeout, concurrent ones included, and the
/// client keeps answering (with errors) rather than hanging.
#[test]
fn timeout_against_silent_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let sink = held.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
        }
    });
    let io_timeout = Duration::from_millis(250);
    let c = client(
        ClientBuilder::new()
            .server(addr.to_string())
            .io_timeout(io_timeout)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    );
    smol::block_on(async {
        for _ in 0..3 {
            let started = Instant::now();
            let r = c.get("k").await;
            memwire_tests::conformance::assert_timed_out(&r, started.elapsed(), io_timeout);
        }
        // Many tasks at once: each fails (fatally), none hangs.
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let c = c.clone();
                smol::spawn(async move { c.get(format!("k{i}")).await })
            })
            .collect();
        for task in tasks {
            match task.await {
                Err(e) => assert!(e.is_fatal(), "{e}"),
                Ok(v) => panic!("a value from a silent server: {v:?}"),
            }
        }
        assert!(
            started.elapsed() < io_timeout * 3,
            "{:?}",
            started.elapsed()
        );
    });
    assert!(!held.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
}

/// Dropping a call while it waits for the connection to be made is safe,
/// and the next call connects and works.
#[test]
fn dropped_while_connecting() {
    let server = Memcached::start();
    let c = client(ClientBuilder::new().server(server.url()));
    smol::block_on(async {
        for _ in 0..20 {
            let _ = future::poll_once(c.set("k", "v")).await;
        }
        c.set("k", "v2").await.expect("set");
        assert_eq!(
            &c.get("k").await.expect("get").expect("hit").data[..],
            b"v2"
        );
    });
}
