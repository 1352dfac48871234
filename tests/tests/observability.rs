//! Observability on every transport: the per-server counters
//! (`Commands::server_metrics`) against real memcached servers — requests,
//! completions and the exact bytes of a workload, a request in flight,
//! connect failures and refusals of a stopped server, a second connection
//! after a restart, a timeout through a stalling proxy, a read retried
//! after a reset, a server error, counts kept across `set_servers` — and,
//! with the feature `tracing`, the events and spans a subscriber
//! receives: connects, timeouts and lost connections with their cause, a
//! server marked down and up again, a span per call, the cache's absorbed
//! failures.
//!
//! Nothing here asserts how long anything takes. Where a fault must
//! outlast a deadline, the proxy holds the reply three times the client's
//! timeout or more.
#![cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]

use std::thread;
use std::time::Duration;

use memwire::cluster::{HealthConfig, ServerAddr};
use memwire::{Error, ServerMetrics};
use memwire_tests::conformance::{build, client_for, TestClient};
use memwire_tests::fault_proxy::{FaultKind, FaultProxy, Faults};
use memwire_tests::Memcached;

/// The metrics of the client's only server.
fn metrics<C: TestClient>(c: &C) -> ServerMetrics {
    let all = c.server_metrics();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].1
}

/// The metrics of `server`.
fn metrics_of<C: TestClient>(c: &C, server: &ServerAddr) -> ServerMetrics {
    let all = c.server_metrics();
    match all.iter().find(|(addr, _)| addr == server) {
        Some((_, m)) => *m,
        None => panic!("{server} not in {all:?}"),
    }
}

/// Every request reported, none in flight, each failure counted once.
fn assert_settled(m: &ServerMetrics, failed: u64) {
    assert_eq!(m.requests, m.completed, "{m:?}");
    assert_eq!(m.in_flight(), 0, "{m:?}");
    let errors = m.timeouts + m.connection_errors + m.refused + m.server_errors;
    assert_eq!(errors, failed, "{m:?}");
}

/// A proxy to `server` that holds every reply for `stall`.
fn stalling_proxy(server: &Memcached, stall: Duration) -> FaultProxy {
    let faults = Faults::new(1)
        .rate(1.0)
        .kinds(&[FaultKind::Stall])
        .stall(stall);
    FaultProxy::start(server, faults)
}

/// Sets, hits and misses: one request each, and exactly the bytes of
/// their commands and replies on the wire, on one connection.
pub fn counts_requests_and_exact_bytes<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let (mut sent, mut received) = (0, 0);
    let n = 10;
    for i in 0..n {
        let (key, value) = (format!("obs:{i}"), "v".repeat(i * 7 + 1));
        c.set(&key, value.as_str()).unwrap();
        sent += format!("set {key} 0 0 {}\r\n{value}\r\n", value.len()).len();
        received += "STORED\r\n".len();
        assert_eq!(c.get(&key).unwrap().unwrap().data, value.as_bytes());
        sent += format!("get {key}\r\n").len();
        received += format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len()).len();
    }
    assert!(c.get("obs:missing").unwrap().is_none());
    sent += "get obs:missing\r\n".len();
    received += "END\r\n".len();
    let m = metrics(&c);
    let calls = 2 * n as u64 + 1;
    assert_eq!((m.requests, m.completed), (calls, calls), "{m:?}");
    assert_settled(&m, 0);
    assert_eq!(m.bytes_sent, sent as u64, "{m:?}");
    assert_eq!(m.bytes_received, received as u64, "{m:?}");
    assert_eq!((m.connections, m.connect_failures, m.retries), (1, 0, 0));
    assert_eq!(m.abandoned, 0, "{m:?}");
}

/// A request awaiting its reply shows in flight, from another thread;
/// once it timed out, nothing is.
pub fn a_request_awaiting_its_reply_is_in_flight<C: TestClient>() {
    let server = Memcached::start();
    let proxy = stalling_proxy(&server, Duration::from_secs(30));
    let c: C = build(
        C::builder()
            .server(proxy.url())
            .io_timeout(Duration::from_secs(2)),
    );
    let caller = {
        let c = c.clone();
        thread::spawn(move || c.set("k", "v"))
    };
    let mut during = None;
    while !caller.is_finished() {
        let m = metrics(&c);
        if m.in_flight() > 0 {
            during = Some(m);
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let during = during.expect("the request never showed in flight");
    assert_eq!((during.requests, during.completed), (1, 0), "{during:?}");
    assert_eq!(during.in_flight(), 1);
    let e = caller.join().unwrap().unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    let after = metrics(&c);
    assert_eq!(after.timeouts, 1, "{after:?}");
    assert_settled(&after, 1);
}

/// A stopped server: its failed connects are counted, and once it is
/// marked down the requests refused without being sent.
pub fn a_stopped_server_counts_connect_failures_and_refusals<C: TestClient>() {
    let server = Memcached::start();
    let c: C = build(C::builder().server(server.url()).health(HealthConfig {
        failure_limit: 1,
        retry_after: Duration::from_secs(60),
    }));
    c.set("k", "v").unwrap();
    server.stop();
    let mut failed = 0;
    for _ in 0..5 {
        let e = c.set("k", "v").unwrap_err();
        assert!(e.is_connection_error(), "{e:?}");
        failed += 1;
    }
    let m = metrics(&c);
    assert_eq!(m.requests, 6, "{m:?}");
    assert_settled(&m, failed);
    assert_eq!(m.connections, 1, "{m:?}");
    assert!(m.connect_failures >= 1, "{m:?}");
    assert!(m.refused >= 3, "down for the last calls at least: {m:?}");
}

/// The server restarts under an idle connection: the next call opens a
/// second one.
pub fn a_restart_shows_a_second_connection<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("k", "v").unwrap();
    assert_eq!(metrics(&c).connections, 1);
    server.restart();
    // A read: if the old connection is found dead only by using it, the
    // read is retried on a new one.
    assert!(c.get("k").unwrap().is_none(), "a new, empty server");
    let m = metrics(&c);
    assert_eq!((m.connections, m.connect_failures), (2, 0), "{m:?}");
    assert_eq!(m.in_flight(), 0, "{m:?}");
}

/// A reply held past the deadline counts as a timeout.
pub fn a_stalled_reply_counts_as_a_timeout<C: TestClient>() {
    let server = Memcached::start();
    let proxy = stalling_proxy(&server, Duration::from_millis(600));
    let c: C = build(
        C::builder()
            .server(proxy.url())
            .io_timeout(Duration::from_millis(200)),
    );
    let e = c.set("k", "v").unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    let m = metrics(&c);
    assert_eq!((m.requests, m.timeouts), (1, 1), "{m:?}");
    assert_settled(&m, 1);
    assert_eq!(m.bytes_sent, "set k 0 0 1\r\nv\r\n".len() as u64);
}

/// A read whose connection is reset under it is sent once more on a new
/// connection (reset too): two requests, one retry, two connection
/// errors, two connections.
pub fn a_reset_read_is_retried_once<C: TestClient>() {
    let server = Memcached::start();
    let faults = Faults::new(7).rate(1.0).kinds(&[FaultKind::Reset]);
    let proxy = FaultProxy::start(&server, faults);
    let c: C = client_for_url(&proxy.url());
    let e = c.get("k").unwrap_err();
    assert!(e.is_connection_error() && !e.is_timeout(), "{e:?}");
    let m = metrics(&c);
    assert_eq!((m.requests, m.retries, m.connections), (2, 1, 2), "{m:?}");
    assert_eq!(m.connection_errors, 2, "{m:?}");
    assert_settled(&m, 2);
    assert_eq!(m.bytes_sent, 2 * "get k\r\n".len() as u64, "{m:?}");
}

/// A client with default settings for `url`.
fn client_for_url<C: TestClient>(url: &str) -> C {
    build(C::builder().server(url))
}

/// `SERVER_ERROR` (a value over the server's item size) is a server
/// error; the connection stays in use.
pub fn a_server_error_is_counted_and_the_connection_kept<C: TestClient>() {
    // The smallest item size memcached takes.
    let server = Memcached::builder()
        .args(["-I", "1k", "-o", "slab_chunk_max=512"])
        .start();
    let c: C = client_for(&server);
    let e = c.set("big", vec![b'x'; 2000]).unwrap_err();
    assert!(matches!(e, Error::Server(_)), "{e:?}");
    c.set("small", "v").unwrap();
    let m = metrics(&c);
    assert_eq!(
        (m.requests, m.server_errors, m.connections),
        (2, 1, 1),
        "{m:?}"
    );
    assert_settled(&m, 1);
}

/// A server that stays across `set_servers` keeps its counts; a new one
/// starts from zero.
pub fn counts_survive_set_servers<C: TestClient>() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let c: C = client_for(&a);
    for i in 0..5 {
        c.set(format!("k{i}"), "v").unwrap();
    }
    let addr_a = c.servers()[0].clone();
    let before = metrics_of(&c, &addr_a);
    assert_eq!(before.requests, 5);
    c.set_servers([a.url(), b.url()]).unwrap();
    assert_eq!(metrics_of(&c, &addr_a), before);
    let addr_b = c.servers().into_iter().find(|s| *s != addr_a).unwrap();
    assert_eq!(metrics_of(&c, &addr_b), ServerMetrics::default());
    let on_a = (0..)
        .map(|i| format!("key:{i}"))
        .find(|k| c.server_for_key(k) == addr_a)
        .unwrap();
    c.set(&on_a, "v").unwrap();
    let after = metrics_of(&c, &addr_a);
    assert_eq!((after.requests, after.connections), (6, 1), "{after:?}");
    assert_settled(&after, 0);
}

/// A refused connect: one request, one failed connect, one connection
/// error — not a read retried, nor a second error.
pub fn a_refused_connect_is_one_error<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    server.stop();
    let e = c.get("k").unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    let m = metrics(&c);
    assert_eq!(
        (m.requests, m.connect_failures, m.retries),
        (1, 1, 0),
        "{m:?}"
    );
    assert_settled(&m, 1);
    assert_eq!((m.connection_errors, m.connections), (1, 0), "{m:?}");
}

/// One `#[test]` per transport for each suite function.
macro_rules! on_every_transport {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "blocking")]
        mod blocking {
            $(#[test] fn $name() { super::$name::<memwire::blocking::Client>(); })*
        }
        #[cfg(all(feature = "mio", unix))]
        mod mio {
            $(#[test] fn $name() { super::$name::<memwire::mio::Client>(); })*
        }
        #[cfg(feature = "smol")]
        mod smol {
            use memwire_tests::{BlockOn, Smol};
            $(#[test] fn $name() { super::$name::<BlockOn<memwire::smol::Client, Smol>>(); })*
        }
        #[cfg(feature = "tokio")]
        mod tokio {
            use memwire_tests::{BlockOn, Tokio};
            $(#[test] fn $name() { super::$name::<BlockOn<memwire::tokio::Client, Tokio>>(); })*
        }
    };
}

on_every_transport!(
    counts_requests_and_exact_bytes,
    a_request_awaiting_its_reply_is_in_flight,
    a_stopped_server_counts_connect_failures_and_refusals,
    a_restart_shows_a_second_connection,
    a_stalled_reply_counts_as_a_timeout,
    a_reset_read_is_retried_once,
    a_server_error_is_counted_and_the_connection_kept,
    counts_survive_set_servers,
    a_refused_connect_is_one_error,
);

/// An async call dropped while its request is in flight (the caller
/// stopped waiting): the request counts as abandoned, and nothing stays
/// in flight.
#[cfg(any(feature = "smol", feature = "tokio"))]
fn a_dropped_call_is_abandoned<C: memwire::AsyncCommands>(
    c: &C,
    block_on: impl Fn(std::pin::Pin<&mut dyn std::future::Future<Output = ()>>),
) {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    let all = c.server_metrics();
    let m = |all: &[(ServerAddr, ServerMetrics)]| all[0].1;
    assert_eq!(m(&all).requests, 0);
    // Poll the call until its request is counted, then drop it.
    let mut set = Box::pin(c.set("k", "v"));
    block_on(pin!(std::future::poll_fn(|cx: &mut Context<'_>| {
        match set.as_mut().poll(cx) {
            Poll::Ready(r) => panic!("the stalled set completed: {r:?}"),
            Poll::Pending if m(&c.server_metrics()).requests == 1 => Poll::Ready(()),
            Poll::Pending => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    })));
    assert_eq!(m(&c.server_metrics()).in_flight(), 1);
    drop(set);
    let after = m(&c.server_metrics());
    assert_eq!((after.requests, after.completed), (1, 1), "{after:?}");
    assert_eq!((after.abandoned, after.in_flight()), (1, 0), "{after:?}");
    assert_eq!(after.timeouts, 0, "{after:?}");
}

#[cfg(feature = "smol")]
#[test]
fn a_dropped_call_is_abandoned_smol() {
    use memwire_tests::{Runtime, Smol};
    let server = Memcached::start();
    let proxy = stalling_proxy(&server, Duration::from_secs(30));
    let c: memwire::smol::Client = build(memwire::smol::Client::builder().server(proxy.url()));
    a_dropped_call_is_abandoned(&c, |f| Smol::block_on(f));
}

#[cfg(feature = "tokio")]
#[test]
fn a_dropped_call_is_abandoned_tokio() {
    use memwire_tests::{Runtime, Tokio};
    let server = Memcached::start();
    let proxy = stalling_proxy(&server, Duration::from_secs(30));
    let c: memwire::tokio::Client =
        Tokio::enter(|| build(memwire::tokio::Client::builder().server(proxy.url())));
    a_dropped_call_is_abandoned(&c, |f| Tokio::block_on(f));
}

/// With the feature `tracing`: what a subscriber receives.
#[cfg(feature = "tracing")]
mod tracing_events {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, HashMap};
    use std::fmt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::thread::{self, ThreadId};
    use std::time::Duration;

    use memwire::cluster::HealthConfig;
    use memwire_tests::conformance::{build, client, TestClient};
    use memwire_tests::Memcached;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};
    use tracing_core::span::Current;

    use super::{metrics, stalling_proxy};

    /// An event or span as the subscriber saw it.
    #[derive(Debug, Clone)]
    pub struct Seen {
        level: Level,
        name: &'static str,
        thread: ThreadId,
        fields: BTreeMap<&'static str, String>,
    }

    impl Seen {
        fn field(&self, name: &str) -> Option<&str> {
            self.fields.get(name).map(String::as_str)
        }
    }

    struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

    impl Visit for Fields<'_> {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name(), value.to_owned());
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name(), format!("{value:?}"));
        }
    }

    /// A global subscriber keeping every event and span (the async
    /// clients emit events on their runtimes' threads). Tests tell theirs
    /// apart by server address (events) and thread (spans).
    #[derive(Default)]
    pub struct Collector {
        events: Mutex<Vec<Seen>>,
        spans: Mutex<HashMap<u64, (Seen, &'static Metadata<'static>)>>,
        next: AtomicU64,
    }

    thread_local! {
        /// The spans this thread is in, innermost last.
        static ENTERED: RefCell<Vec<Id>> = const { RefCell::new(Vec::new()) };
    }

    impl Collector {
        /// The process's collector, installed on first use.
        pub fn get() -> &'static Collector {
            static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
            COLLECTOR.get_or_init(|| {
                let collector: &'static Collector = Box::leak(Box::default());
                tracing::subscriber::set_global_default(Forward(collector))
                    .expect("the only global subscriber");
                collector
            })
        }

        /// The events naming `server`.
        pub fn events_of(&self, server: &str) -> Vec<Seen> {
            let events = self.events.lock().unwrap();
            let mine = events.iter().filter(|e| e.field("server") == Some(server));
            mine.cloned().collect()
        }

        /// The `memwire` spans opened on this thread.
        pub fn my_spans(&self) -> Vec<Seen> {
            let me = thread::current().id();
            let spans = self.spans.lock().unwrap();
            let mine = spans.values().map(|(s, _)| s);
            let mine = mine.filter(|s| s.thread == me && s.name == "memwire");
            mine.cloned().collect()
        }
    }

    /// The subscriber: a `'static` collector.
    struct Forward(&'static Collector);

    impl Subscriber for Forward {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
            let mut seen = Seen {
                level: *span.metadata().level(),
                name: span.metadata().name(),
                thread: thread::current().id(),
                fields: BTreeMap::new(),
            };
            span.record(&mut Fields(&mut seen.fields));
            let spans = &mut self.0.spans.lock().unwrap();
            spans.insert(id, (seen, span.metadata()));
            Id::from_u64(id)
        }

        fn record(&self, span: &Id, values: &Record<'_>) {
            if let Some((seen, _)) = self.0.spans.lock().unwrap().get_mut(&span.into_u64()) {
                values.record(&mut Fields(&mut seen.fields));
            }
        }

        fn current_span(&self) -> Current {
            let Some(id) = ENTERED.with(|e| e.borrow().last().cloned()) else {
                return Current::none();
            };
            match self.0.spans.lock().unwrap().get(&id.into_u64()) {
                Some((_, metadata)) => Current::new(id, metadata),
                None => Current::none(),
            }
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut seen = Seen {
                level: *event.metadata().level(),
                name: event.metadata().name(),
                thread: thread::current().id(),
                fields: BTreeMap::new(),
            };
            event.record(&mut Fields(&mut seen.fields));
            self.0.events.lock().unwrap().push(seen);
        }

        fn enter(&self, span: &Id) {
            ENTERED.with(|e| e.borrow_mut().push(span.clone()));
        }

        fn exit(&self, span: &Id) {
            ENTERED.with(|e| {
                let mut entered = e.borrow_mut();
                if let Some(i) = entered.iter().rposition(|s| s == span) {
                    entered.remove(i);
                }
            });
        }
    }

    /// The events of `events` at `level` with `message`.
    fn find<'a>(events: &'a [Seen], level: Level, message: &str) -> Vec<&'a Seen> {
        let same = |e: &&Seen| e.level == level && e.field("message") == Some(message);
        events.iter().filter(same).collect()
    }

    /// Whether `events` has one at `level` with `message`.
    fn has(events: &[Seen], level: Level, message: &str) -> bool {
        !find(events, level, message).is_empty()
    }

    /// A server stopped: a failed connect and the server marked down are
    /// warnings naming it; restarted, it is probed, connected again and
    /// up. The `connected` events are the counted connections.
    pub fn down_and_up<C: TestClient>() {
        let collector = Collector::get();
        let server = Memcached::start();
        let retry_after = Duration::from_millis(100);
        let c: C = build(C::builder().server(server.url()).health(HealthConfig {
            failure_limit: 1,
            retry_after,
        }));
        let addr = c.servers()[0].to_string();
        c.set("k", "v").unwrap();
        let events = collector.events_of(&addr);
        let connected = find(&events, Level::DEBUG, "connected");
        assert_eq!(connected.len(), 1, "{events:?}");
        assert_eq!(connected[0].field("connections"), Some("1"));
        server.stop();
        // With failure_limit 1, a failed connect marks the server down at
        // once, a lost connection after a check (a probe, whose connect
        // fails): a few calls at most, however long they take.
        let mut failed = 0;
        while !has(
            &collector.events_of(&addr),
            Level::WARN,
            "server marked down",
        ) {
            failed += 1;
            assert!(failed <= 5, "{:?}", collector.events_of(&addr));
            assert!(c.set("k", "v").is_err());
        }
        let events = collector.events_of(&addr);
        assert!(has(&events, Level::WARN, "connect failed"), "{events:?}");
        server.restart();
        // The next probe is due at most `retry_after` after the last
        // failure; the call that gets it probes, then sends.
        thread::sleep(retry_after);
        c.set("k", "v").unwrap();
        let events = collector.events_of(&addr);
        assert!(has(&events, Level::DEBUG, "probing server"), "{events:?}");
        assert!(has(&events, Level::INFO, "server up again"), "{events:?}");
        let connected = find(&events, Level::DEBUG, "connected");
        assert!(connected.len() >= 2, "{events:?}");
        assert_eq!(
            connected.len() as u64,
            metrics(&c).connections,
            "{events:?}"
        );
    }

    /// A reply held past the deadline: the request's timeout is an event,
    /// and the connection it poisoned is reported lost, caused by it.
    pub fn a_timeout_and_the_poisoned_connection<C: TestClient>() {
        let collector = Collector::get();
        let server = Memcached::start();
        let proxy = stalling_proxy(&server, Duration::from_millis(600));
        let c: C = build(
            C::builder()
                .server(proxy.url())
                .io_timeout(Duration::from_millis(200)),
        );
        let addr = c.servers()[0].to_string();
        let e = c.set("k", "v").unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        let events = collector.events_of(&addr);
        let timed_out = find(&events, Level::DEBUG, "request timed out");
        assert_eq!(timed_out.len(), 1, "{events:?}");
        let error = timed_out[0].field("error").unwrap_or_default();
        assert!(error.contains("timed out"), "{events:?}");
        // Once closed, every connection has told the failure policy.
        c.close();
        let events = collector.events_of(&addr);
        let lost = find(&events, Level::WARN, "connection lost");
        assert_eq!(lost.len(), 1, "{events:?}");
        let cause = lost[0].field("cause").unwrap_or_default();
        assert!(cause.contains("timed out"), "{events:?}");
    }

    /// A `memwire` span per call, at the debug level, with the verb of
    /// its command and how many servers it went to.
    pub fn a_span_per_call<C: TestClient>() {
        let collector = Collector::get();
        let (a, b) = (Memcached::start(), Memcached::start());
        let c: C = client(&[&a, &b]);
        let servers = c.servers();
        let key_on = |server| {
            (0..)
                .map(|i| format!("span:{i}"))
                .find(|k| c.server_for_key(k) == server)
                .unwrap()
        };
        let keys = [key_on(servers[0].clone()), key_on(servers[1].clone())];
        c.set(&keys[0], "v").unwrap();
        let hits = c.get_multi(&keys).unwrap();
        assert_eq!(hits.len(), 1);
        let spans = collector.my_spans();
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert!(spans.iter().all(|s| s.level == Level::DEBUG), "{spans:?}");
        let described = |op, n| {
            spans
                .iter()
                .any(|s| s.field("op") == Some(op) && s.field("servers") == Some(n))
        };
        assert!(described("set", "1"), "{spans:?}");
        assert!(described("get", "2"), "{spans:?}");
    }

    macro_rules! on_every_transport {
        ($($name:ident),* $(,)?) => {
            #[cfg(feature = "blocking")]
            mod blocking {
                $(#[test] fn $name() { super::$name::<memwire::blocking::Client>(); })*
            }
            #[cfg(all(feature = "mio", unix))]
            mod mio {
                $(#[test] fn $name() { super::$name::<memwire::mio::Client>(); })*
            }
            #[cfg(feature = "smol")]
            mod smol {
                use memwire_tests::{BlockOn, Smol};
                $(#[test] fn $name() { super::$name::<BlockOn<memwire::smol::Client, Smol>>(); })*
            }
            #[cfg(feature = "tokio")]
            mod tokio {
                use memwire_tests::{BlockOn, Tokio};
                $(#[test] fn $name() { super::$name::<BlockOn<memwire::tokio::Client, Tokio>>(); })*
            }
        };
    }

    on_every_transport!(
        down_and_up,
        a_timeout_and_the_poisoned_connection,
        a_span_per_call
    );

    /// A cache without an `on_error` hook turns each failure it absorbs
    /// into a warning.
    #[cfg(feature = "blocking")]
    #[test]
    fn the_cache_warns_of_absorbed_failures() {
        use memwire::cache::blocking::Cache;
        let collector = Collector::get();
        let server = Memcached::start();
        server.stop();
        let cache = Cache::builder().server(server.url()).build().unwrap();
        let key = format!("absorbed:{}", server.port());
        assert!(cache.raw().query::<String>(key.as_str()).unwrap().is_none());
        assert_eq!(cache.failures(), 1);
        let events = collector.events.lock().unwrap();
        let warned = events.iter().find(|e| e.field("key") == Some(key.as_str()));
        let warned = warned.unwrap_or_else(|| panic!("no warning for {key}"));
        assert_eq!(warned.level, Level::WARN);
        assert_eq!(warned.field("operation"), Some("query"));
        assert!(warned.field("error").is_some(), "{warned:?}");
    }

    /// A cache with an `on_error` hook hands it the failure instead.
    #[cfg(feature = "blocking")]
    #[test]
    fn a_cache_hook_replaces_the_warning() {
        use std::sync::Arc;

        use memwire::cache::blocking::Cache;
        let collector = Collector::get();
        let server = Memcached::start();
        server.stop();
        let hooked = Arc::new(Mutex::new(Vec::new()));
        let cache = Cache::builder()
            .server(server.url())
            .on_error({
                let hooked = hooked.clone();
                move |failure| hooked.lock().unwrap().push(failure.key.to_owned())
            })
            .build()
            .unwrap();
        let key = format!("hooked:{}", server.port());
        assert!(cache.raw().query::<String>(key.as_str()).unwrap().is_none());
        assert_eq!(*hooked.lock().unwrap(), [key.as_str()]);
        let events = collector.events.lock().unwrap();
        let warned = events.iter().find(|e| e.field("key") == Some(key.as_str()));
        assert!(warned.is_none(), "{warned:?}");
    }
}
