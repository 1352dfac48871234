//! The conformance suite (`memwire_tests::conformance`) on the mio
//! transport's ready-made client, its per-connection request limit
//! (`max_in_flight`), and the retry of a read on a fresh connection.
#![cfg(feature = "mio")]

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::HealthConfig;
use memwire::mio::Client;
use memwire::{Commands, Error};
use memwire_tests::conformance::{build, client_for};
use memwire_tests::Memcached;

memwire_tests::conformance_suite!(memwire::mio::Client);
memwire_tests::resilience_suite!(memwire::mio::Client);

/// The mio client is `Send + Sync` and cheap to clone.
#[test]
fn client_is_send_sync_clone() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<memwire::mio::Client>();
}

/// With one request allowed in flight per connection, many threads still
/// all get their own replies: each call waits for room, none fails.
#[test]
fn one_request_in_flight_serves_many_threads() {
    let server = Memcached::start();
    let c: Client = build(Client::builder().server(server.url()).max_in_flight(1));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..50 {
                    let key = format!("t{t}:{i}");
                    c.set(&key, key.as_bytes()).expect("set");
                    let v = c.get(&key).expect("get").expect("hit");
                    assert_eq!(v.data, key.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    let check: Client = client_for(&server);
    assert_eq!(
        check.get_multi(["t7:49", "t0:0"]).expect("get_multi").len(),
        2
    );
}

/// A call that finds its connection full waits for room instead of
/// pipelining behind the request in flight, and still returns by its own
/// deadline. The server accepts and never answers, keeping what each
/// connection sent.
#[test]
fn a_full_connection_makes_calls_wait_for_room() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    // What each accepted connection received, in accept order.
    type Bytes = Arc<Mutex<Vec<u8>>>;
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let connections = received.clone();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let bytes = Arc::new(Mutex::new(Vec::new()));
            connections.lock().expect("lock").push(bytes.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    bytes.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    let io_timeout = Duration::from_millis(400);
    let c: Client = build(
        Client::builder()
            .server(addr.to_string())
            .io_timeout(io_timeout)
            .max_in_flight(1)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    );
    let first = {
        let c = c.clone();
        thread::spawn(move || c.get("first"))
    };
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let second = c.get("second");
    let elapsed = started.elapsed();
    let first = first.join().expect("first call panicked");
    assert!(matches!(first, Err(Error::Timeout)), "{first:?}");
    // The second call waited its whole deadline (the first one's freed the
    // connection 100 ms before its own), never behind the first request.
    assert!(matches!(second, Err(Error::Timeout)), "{second:?}");
    assert!(
        elapsed >= io_timeout - Duration::from_millis(20),
        "{elapsed:?}"
    );
    assert!(
        elapsed < io_timeout + Duration::from_millis(700),
        "{elapsed:?}"
    );
    let first_connection = received.lock().expect("lock")[0].clone();
    assert_eq!(
        &first_connection.lock().expect("lock")[..],
        b"get first\r\n"
    );
}

/// The same suites, the client speaking the meta protocol.
mod meta {
    memwire_tests::conformance_suite!(memwire_tests::Meta<memwire::mio::Client>);
    memwire_tests::resilience_suite!(memwire_tests::Meta<memwire::mio::Client>);
}
