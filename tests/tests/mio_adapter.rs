//! The mio [`Adapter`] in a caller-owned `Poll`, against real memcached:
//! registered under the caller's token, pipelined requests, completions
//! collected, deadlines from `poll_timeout`, reconnect after a restart, and
//! never blocking.
#![cfg(feature = "mio")]

use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::ServerAddr;
use memwire::mio::Adapter;
use memwire::{Command, Completion, Config, Error, RequestId, Response};
use memwire_tests::Memcached;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

const MC: Token = Token(1234);
const OTHER: Token = Token(0);

/// A caller's event loop: its own poll, maybe other sockets.
struct Loop {
    poll: Poll,
    events: Events,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(64),
        }
    }

    /// Poll once, for at most `cap` (and never past the adapter's next
    /// deadline), feeding the adapter its events and timeouts. Returns the
    /// completions collected.
    fn turn(&mut self, mc: &mut Adapter, cap: Duration) -> Vec<Completion> {
        let now = Instant::now();
        let wait = match mc.poll_timeout() {
            Some(t) => t.saturating_duration_since(now).min(cap),
            None => cap,
        };
        self.poll.poll(&mut self.events, Some(wait)).expect("poll");
        for event in self.events.iter() {
            assert_eq!(event.token(), MC, "an event for a token nobody uses");
            mc.handle_event(event);
        }
        mc.handle_timeout(Instant::now());
        std::iter::from_fn(|| mc.poll_response()).collect()
    }

    /// Turn until the adapter is poisoned — no completion meanwhile —
    /// (panics after `limit`, saying `what` was not seen).
    fn until_poisoned(&mut self, mc: &mut Adapter, limit: Duration, what: &str) {
        let start = Instant::now();
        while !mc.is_poisoned() {
            assert!(start.elapsed() < limit, "{what} not seen");
            assert!(self.turn(mc, Duration::from_millis(100)).is_empty());
        }
    }

    /// Turn until `n` completions are in (panics after `limit`).
    fn collect(&mut self, mc: &mut Adapter, n: usize, limit: Duration) -> Vec<Completion> {
        let start = Instant::now();
        let mut done = Vec::new();
        while done.len() < n {
            assert!(
                start.elapsed() < limit,
                "only {} of {n} completions after {limit:?}",
                done.len()
            );
            done.extend(self.turn(mc, Duration::from_millis(100)));
        }
        done
    }
}

fn addr(server: &Memcached) -> ServerAddr {
    ServerAddr::parse(&server.url()).expect("address")
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(5))
}

fn connected(server: &Memcached, lp: &Loop) -> Adapter {
    let mut mc = Adapter::connect(&addr(server), Config::default(), soon()).expect("connect");
    mc.register(lp.poll.registry(), MC).expect("register");
    mc
}

fn values(done: Completion) -> memwire::Values {
    match done.result {
        Ok(Response::Values(v)) => v,
        other => panic!("expected values, got {other:?}"),
    }
}

/// `kill -STOP`/`-CONT` the server and wait until every thread is in that
/// state.
fn freeze(server: &Memcached, signal: &str) {
    let pid = server.pid().expect("running");
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill {signal} {pid}");
    let want_stopped = signal == "-STOP";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("proc");
        let all = tasks.flatten().all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            matches!(state, Some('T') | Some('t')) == want_stopped
        });
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "memcached ignored {signal}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Registered under the caller's token next to another socket of the
/// caller's: hundreds of pipelined requests, all sent before any reply is
/// read, complete in order, each with its own reply.
#[test]
fn pipelined_on_the_callers_token() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    lp.poll
        .registry()
        .register(&mut listener, OTHER, Interest::READABLE)
        .expect("register listener");
    let mut mc = connected(&server, &lp);
    assert_eq!(mc.token(), Some(MC));

    let mut sent: Vec<(RequestId, Option<String>)> = Vec::new();
    for i in 0..200 {
        let key = format!("key:{i}");
        let value = format!("{i}:{}", "v".repeat(i * 37 % 5000));
        let set = mc.send(Command::set(key.clone(), value.clone()), soon());
        sent.push((set.expect("set"), None));
        let get = mc.send(Command::get(key), soon());
        sent.push((get.expect("get"), Some(value)));
    }
    assert!(mc.in_flight() == 400);
    let done = lp.collect(&mut mc, 400, Duration::from_secs(10));
    for ((id, expected), done) in sent.into_iter().zip(done) {
        assert_eq!(done.id, id, "completions come in request order");
        match expected {
            None => assert!(matches!(done.result, Ok(Response::Stored)), "{done:?}"),
            Some(value) => {
                let v = values(done);
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].data, value.as_bytes());
            }
        }
    }
    assert_eq!(mc.in_flight(), 0);
    assert_eq!(mc.interest(), Some(Interest::READABLE));

    // A multi-get and a miss on the same connection.
    let id = mc.send(Command::get_multi(["key:1", "nope", "key:2"]), soon());
    let id = id.expect("get_multi");
    let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
    assert_eq!(done.id, id);
    let keys: Vec<_> = values(done).into_iter().map(|v| v.key).collect();
    assert_eq!(keys, ["key:1", "key:2"]);
}

/// A request sent before the connection is established (even before it is
/// registered) is queued, not written; interest is READABLE | WRITABLE while
/// connecting or while output is pending, READABLE otherwise.
#[test]
fn send_before_connected_is_queued() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = Adapter::connect(&addr(&server), Config::default(), soon()).expect("connect");
    assert!(mc.is_connecting());
    let id = mc.send(Command::version(), soon()).expect("queued");
    assert!(
        mc.wants_write(),
        "nothing is written before the connect completes"
    );
    assert_eq!(mc.interest(), None);
    mc.register(lp.poll.registry(), MC).expect("register");
    assert_eq!(mc.interest(), Some(Interest::READABLE | Interest::WRITABLE));
    let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
    assert_eq!(done.id, id);
    assert!(matches!(done.result, Ok(Response::Version(_))), "{done:?}");
    assert!(mc.is_connected());
    assert!(!mc.wants_write());
    assert_eq!(mc.interest(), Some(Interest::READABLE));
}

/// `send` only queues: the bytes of pipelined requests stay in the output
/// until the WRITABLE event (registered while output is pending) writes
/// them together, or `flush` writes them at once.
#[test]
fn send_queues_and_writable_or_flush_writes() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    let id = mc.send(Command::version(), soon()).expect("version");
    assert_eq!(lp.collect(&mut mc, 1, Duration::from_secs(5))[0].id, id);
    assert!(mc.is_connected());
    assert_eq!(mc.interest(), Some(Interest::READABLE));

    let ids: Vec<RequestId> = (0..50)
        .map(|i| mc.send(Command::set(format!("q:{i}"), "v"), soon()))
        .collect::<Result<_, _>>()
        .expect("set");
    let output = mc.connection().pending_output();
    let queued = output.windows(6).filter(|w| w == b"set q:").count();
    assert_eq!(queued, 50, "every request is still queued");
    assert_eq!(mc.interest(), Some(Interest::READABLE | Interest::WRITABLE));
    let done = lp.collect(&mut mc, 50, Duration::from_secs(5));
    assert_eq!(done.iter().map(|d| d.id).collect::<Vec<_>>(), ids);
    assert!(done
        .iter()
        .all(|d| matches!(d.result, Ok(Response::Stored))));
    assert!(!mc.wants_write());
    assert_eq!(mc.interest(), Some(Interest::READABLE));

    let get = mc.send(Command::get("q:7"), soon()).expect("get");
    assert!(mc.wants_write());
    mc.flush();
    assert!(!mc.wants_write(), "flush wrote at once");
    assert_eq!(mc.interest(), Some(Interest::READABLE));
    let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
    assert_eq!(done.id, get);
    assert_eq!(values(done)[0].data, "v");
}

/// With the server frozen, megabytes of requests are queued without
/// blocking: sends return at once, output stays pending with WRITABLE
/// interest, and a zero-timeout poll returns at once. Once the server runs
/// again everything completes.
#[test]
fn never_blocks_on_a_frozen_server() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    let id = mc.send(Command::version(), soon()).expect("version");
    assert_eq!(lp.collect(&mut mc, 1, Duration::from_secs(5))[0].id, id);

    freeze(&server, "-STOP");
    let value = vec![b'x'; 900_000];
    let deadline = Some(Instant::now() + Duration::from_secs(30));
    let mut ids = Vec::new();
    for i in 0..24 {
        let started = Instant::now();
        ids.push(
            mc.send(Command::set(format!("big:{i}"), value.clone()), deadline)
                .expect("queued"),
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "send blocked for {:?}",
            started.elapsed()
        );
    }
    assert!(mc.wants_write(), "21 MB cannot fit the socket buffers");
    assert_eq!(mc.interest(), Some(Interest::READABLE | Interest::WRITABLE));
    let started = Instant::now();
    assert!(lp.turn(&mut mc, Duration::ZERO).is_empty());
    assert!(started.elapsed() < Duration::from_secs(1));

    freeze(&server, "-CONT");
    let done = lp.collect(&mut mc, ids.len(), Duration::from_secs(20));
    for (id, done) in ids.into_iter().zip(done) {
        assert_eq!(done.id, id);
        assert!(matches!(done.result, Ok(Response::Stored)), "{done:?}");
    }
    assert_eq!(mc.interest(), Some(Interest::READABLE));
}

/// A request's deadline comes back from `poll_timeout`; sleeping until then
/// and calling `handle_timeout` fails it with `Timeout` on time, poisons the
/// connection, and `reconnect` gives a working one that never sees the late
/// reply.
#[test]
fn deadline_from_poll_timeout() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    let set = mc.send(Command::set("k", "v"), soon()).expect("set");
    assert_eq!(lp.collect(&mut mc, 1, Duration::from_secs(5))[0].id, set);

    freeze(&server, "-STOP");
    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let get = mc.send(Command::get("k"), Some(deadline)).expect("get");
    assert_eq!(mc.poll_timeout(), Some(deadline));
    let mut done = Vec::new();
    while done.is_empty() {
        // No cap: the loop sleeps exactly as long as the adapter says.
        done = lp.turn(&mut mc, Duration::from_secs(60));
    }
    let elapsed = started.elapsed();
    freeze(&server, "-CONT");
    assert_eq!(done[0].id, get);
    assert!(matches!(done[0].result, Err(Error::Timeout)), "{done:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    assert!(mc.is_poisoned());
    assert_eq!(mc.poll_timeout(), None);
    assert_eq!(mc.interest(), None, "the dead socket is closed");
    assert!(mc.send(Command::get("k"), soon()).is_err());

    mc.reconnect(soon()).expect("reconnect");
    assert!(!mc.is_poisoned());
    let get = mc.send(Command::get("k"), soon()).expect("get");
    let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
    assert_eq!(done.id, get);
    assert_eq!(values(done)[0].data, "v");
}

/// A connect that does not complete by its deadline fails every queued
/// request with a connect timeout naming the server.
#[test]
fn connect_deadline() {
    let server = Memcached::start();
    let addr = addr(&server);
    let now = Instant::now();
    let mut mc = Adapter::connect(&addr, Config::default(), Some(now)).expect("connect");
    let a = mc.send(Command::get("a"), soon()).expect("queued");
    let b = mc.send(Command::version(), soon()).expect("queued");
    assert_eq!(mc.poll_timeout(), Some(now));
    mc.handle_timeout(now);
    let done: Vec<Completion> = std::iter::from_fn(|| mc.poll_response()).collect();
    assert_eq!(done.len(), 2);
    assert_eq!((done[0].id, done[1].id), (a, b));
    for d in &done {
        let Err(e) = &d.result else { panic!("{d:?}") };
        assert!(e.is_timeout(), "{e:?}");
        assert_eq!(e.server(), Some(addr.to_string().as_str()));
    }
    assert!(mc.is_poisoned());
    assert!(mc.poison_cause().is_some_and(Error::is_timeout));
    assert_eq!(mc.poll_timeout(), None);
}

/// Whether `e` is a refused connect naming `addr`.
fn is_refused(e: &Error, addr: &ServerAddr) -> bool {
    match e {
        Error::Connect { server, source } => {
            source.kind() == std::io::ErrorKind::ConnectionRefused && *server == addr.to_string()
        }
        _ => false,
    }
}

/// A refused connection fails the queued requests with a connect error
/// naming the server (or, refused at once, fails `connect` with it).
#[test]
fn refused_connection() {
    let port = memwire_tests::free_port();
    let addr = ServerAddr::parse(&format!("127.0.0.1:{port}")).expect("addr");
    let mut lp = Loop::new();
    let mut mc = match Adapter::connect(&addr, Config::default(), soon()) {
        Ok(mc) => mc,
        Err(e) => {
            assert!(is_refused(&e, &addr), "{e:?}");
            return;
        }
    };
    mc.register(lp.poll.registry(), MC).expect("register");
    let id = mc.send(Command::get("k"), soon()).expect("queued");
    let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
    assert_eq!(done.id, id);
    assert!(
        matches!(&done.result, Err(e) if is_refused(e, &addr)),
        "{done:?}"
    );
    assert!(mc.is_poisoned());
    assert!(mc.poison_cause().is_some_and(|e| is_refused(e, &addr)));
}

/// The server is killed: the idle adapter notices (readable, EOF) and is
/// poisoned; requests fail while the server is down; after a restart,
/// `reconnect` gives a working connection (with an empty cache).
#[test]
fn reconnect_after_server_restart() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    let id = mc.send(Command::set("k", "before"), soon()).expect("set");
    assert_eq!(lp.collect(&mut mc, 1, Duration::from_secs(5))[0].id, id);

    server.stop();
    lp.until_poisoned(&mut mc, Duration::from_secs(5), "EOF");
    assert!(mc.send(Command::get("k"), soon()).is_err());

    // While down: errors, never values.
    match mc.reconnect(soon()) {
        Err(e) => {
            assert!(is_refused(&e, mc.addr()), "{e:?}");
            assert!(mc.poison_cause().is_some_and(|e| is_refused(e, mc.addr())));
        }
        Ok(()) => {
            let id = mc.send(Command::get("k"), soon()).expect("queued");
            let done = lp.collect(&mut mc, 1, Duration::from_secs(5)).remove(0);
            assert_eq!(done.id, id);
            assert!(matches!(&done.result, Err(e) if e.is_fatal()), "{done:?}");
        }
    }
    assert!(mc.is_poisoned());

    server.restart();
    mc.reconnect(soon()).expect("reconnect");
    let get = mc.send(Command::get("k"), soon()).expect("get");
    let set = mc.send(Command::set("k", "after"), soon()).expect("set");
    let get2 = mc.send(Command::get("k"), soon()).expect("get");
    let done = lp.collect(&mut mc, 3, Duration::from_secs(5));
    assert_eq!(
        done.iter().map(|d| d.id).collect::<Vec<_>>(),
        [get, set, get2]
    );
    let mut done = done.into_iter();
    assert!(
        values(done.next().expect("get")).is_empty(),
        "a new, empty cache"
    );
    assert!(matches!(
        done.next().expect("set").result,
        Ok(Response::Stored)
    ));
    assert_eq!(values(done.next().expect("get"))[0].data, "after");
}

/// A reply and the server's close arriving together (`get` then `quit`,
/// answered at once): the adapter, which stops reading once a read leaves
/// room in its buffer, still reads on to the end of file when the event
/// says the server closed; no later event would tell it. The close is
/// seen within the turn that brought the reply, or soon after.
#[test]
fn close_arriving_with_a_reply_is_seen() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    // Connected first, so that both requests leave in one write.
    let version = mc.send(Command::version(), soon()).expect("version");
    assert_eq!(
        lp.collect(&mut mc, 1, Duration::from_secs(5))[0].id,
        version
    );
    let get = mc.send(Command::get("nothing"), soon()).expect("get");
    let quit = mc.send(Command::quit(), None).expect("quit");
    mc.flush();
    // Both the reply and the close are in before the poll.
    thread::sleep(Duration::from_millis(50));
    let mut done = lp.collect(&mut mc, 2, Duration::from_secs(5));
    done.sort_by_key(|d| d.id);
    assert_eq!((done[0].id, done[1].id), (get, quit));
    assert!(
        matches!(done[1].result, Ok(Response::Sent)),
        "{:?}",
        done[1]
    );
    assert!(values(done.remove(0)).is_empty());
    lp.until_poisoned(&mut mc, Duration::from_secs(2), "the server's close");
    assert!(
        matches!(mc.poison_cause(), Some(Error::Closed)),
        "{:?}",
        mc.poison_cause()
    );
}

/// An abandoned request's reply is read and dropped; the next request gets
/// its own.
#[test]
fn abandoned_reply_is_dropped() {
    let server = Memcached::start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    let set = mc.send(Command::set("a", "A"), soon()).expect("set");
    let get_a = mc.send(Command::get("a"), soon()).expect("get");
    let version = mc.send(Command::version(), soon()).expect("version");
    assert!(mc.abandon(get_a));
    let done = lp.collect(&mut mc, 2, Duration::from_secs(5));
    assert_eq!((done[0].id, done[1].id), (set, version));
    assert!(matches!(done[1].result, Ok(Response::Version(_))));
    assert!(!mc.is_poisoned());
}

/// The adapter over a unix socket.
#[test]
fn unix_socket() {
    let server = Memcached::builder().unix_socket().start();
    let mut lp = Loop::new();
    let mut mc = connected(&server, &lp);
    assert!(matches!(mc.addr(), ServerAddr::Unix(_)));
    let set = mc
        .send(Command::set("u", "unix").flags(3), soon())
        .expect("set");
    let get = mc.send(Command::get("u"), soon()).expect("get");
    let done = lp.collect(&mut mc, 2, Duration::from_secs(5));
    assert_eq!((done[0].id, done[1].id), (set, get));
    let mut done = done.into_iter().skip(1);
    let v = values(done.next().expect("get"));
    assert_eq!((&v[0].data[..], v[0].flags), (&b"unix"[..], 3));
}
