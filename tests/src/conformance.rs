//! The conformance suite: every client operation and error, several
//! servers, concurrency, a server killed and restarted, a unix socket,
//! timeouts, the papercuts of the old API, and (for pooled transports) the
//! bounded pool — written once against the public trait
//! [`memwire::Commands`] and run on every transport with
//! [`conformance_suite!`](crate::conformance_suite) (and
//! [`pool_suite!`](crate::pool_suite)).
//!
//! Each suite function is generic over the client type ([`TestClient`]:
//! [`Commands`] + [`FromConfig`] + `Clone + Send + Sync + 'static`) and
//! builds its clients with the typed builder, `C::builder()`. A transport
//! joins by instantiating the suite in
//! `tests/tests/conformance_<transport>.rs`; an async client joins through
//! [`BlockOn`](crate::BlockOn):
//!
//! ```text
//! memwire_tests::conformance_suite!(memwire::blocking::Client);
//! memwire_tests::pool_suite!(memwire::blocking::Client);
//! memwire_tests::conformance_suite!(memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>);
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memwire::cluster::{HealthConfig, ServerAddr};
use memwire::{
    ClientBuilder, Command, Commands, Error, Expiry, FromConfig, PerServer, StatMap, StatValue,
    StoreOptions, Value, DEFAULT_MAX_VALUE_LEN,
};

use crate::Memcached;

/// The bounds every suite function puts on the client under test: the
/// public blocking trait, the typed builder, and shareable between
/// threads. A shorthand, implemented for every such type; it has no
/// methods of its own.
pub trait TestClient: Commands + FromConfig + Clone + Send + Sync + 'static {}

impl<T: Commands + FromConfig + Clone + Send + Sync + 'static> TestClient for T {}

// ---- helpers ----

/// Build the client configured by `builder`; panics on a configuration
/// error. When the suite runs over TLS, the client trusts the test
/// authority ([`crate::tls::Pki::ca_file`]).
pub fn build<C: FromConfig>(builder: ClientBuilder<C>) -> C {
    #[cfg(feature = "tls")]
    let builder = if crate::tls::is_suite_over_tls() {
        builder.tls_ca_file(crate::tls::Pki::get().ca_file())
    } else {
        builder
    };
    builder
        .build()
        .unwrap_or_else(|e| panic!("client config: {e}"))
}

/// A client for `servers` with default settings.
pub fn client<C: TestClient>(servers: &[&Memcached]) -> C {
    build(C::builder().servers(servers.iter().map(|s| s.url())))
}

/// A client for one server.
pub fn client_for<C: TestClient>(server: &Memcached) -> C {
    client(&[server])
}

/// The single result of a [`PerServer`] for a one-server client.
pub fn only<T: std::fmt::Debug>(mut per_server: PerServer<T>) -> T {
    assert_eq!(per_server.len(), 1, "{per_server:?}");
    match per_server.pop() {
        Some((_, Ok(v))) => v,
        Some((addr, Err(e))) => panic!("{addr}: {e}"),
        None => unreachable!(),
    }
}

/// Every server's result, failing on the first error.
pub fn all_ok<T: std::fmt::Debug>(per_server: PerServer<T>) -> Vec<(ServerAddr, T)> {
    per_server
        .into_iter()
        .map(|(addr, r)| match r {
            Ok(v) => (addr, v),
            Err(e) => panic!("{addr}: {e}"),
        })
        .collect()
}

/// The data of a hit, as text; panics on a miss or error.
pub fn text(result: Result<Option<Value>, Error>) -> String {
    match result {
        Ok(Some(v)) => String::from_utf8_lossy(&v.data).into_owned(),
        other => panic!("expected a hit, got {other:?}"),
    }
}

/// `result` failed because a deadline passed — its own request's
/// ([`Error::Timeout`]) or that of an earlier request on a shared
/// connection ([`Error::Poisoned`] by a timeout) — and was reported no
/// earlier than `io_timeout` (less 20 ms of clock slack) and well before
/// twice it.
pub fn assert_timed_out<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    elapsed: Duration,
    io_timeout: Duration,
) {
    assert_request_timeout(result);
    assert!(
        elapsed >= io_timeout - Duration::from_millis(20),
        "early: {elapsed:?}"
    );
    assert!(
        elapsed < io_timeout + Duration::from_millis(700),
        "late: {elapsed:?}"
    );
}

/// `result` is a request's timeout: [`Error::is_timeout`], rooted in
/// [`Error::Timeout`] (not a connect timeout), with a message that does not
/// repeat its source's.
fn assert_request_timeout<T: std::fmt::Debug>(result: &Result<T, Error>) {
    let Err(e) = result else {
        panic!("expected a timeout, got {result:?}")
    };
    assert!(e.is_timeout(), "{e:?}");
    assert!(matches!(e.root(), Error::Timeout), "{e:?}");
    assert!(e.is_connection_error(), "{e:?}");
    assert_display_excludes_source(e);
}

/// `e`'s message does not repeat its source's: each level of the chain says
/// its own part once, and a reporter walking `source()` shows the rest.
pub fn assert_display_excludes_source(e: &Error) {
    if let Some(source) = std::error::Error::source(e) {
        let (message, cause) = (e.to_string(), source.to_string());
        assert!(
            !message.contains(&cause),
            "{message:?} repeats its source {cause:?}"
        );
    }
}

fn only_err<T: std::fmt::Debug>(mut per_server: PerServer<T>) -> Error {
    match per_server.pop() {
        Some((_, Err(e))) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

pub(crate) fn stat_u64(map: &StatMap, name: &str) -> u64 {
    map.get(name)
        .and_then(StatValue::as_u64)
        .unwrap_or_else(|| panic!("stat {name} missing or not a number in {map:?}"))
}

/// The server's `stats`, typed, read over a fresh connection.
pub(crate) fn server_stats(server: &Memcached) -> StatMap {
    server
        .stats(None)
        .into_iter()
        .map(|(k, v)| {
            let v = StatValue::parse(&v);
            (k, v)
        })
        .collect()
}

/// One raw connection that reads a server's `stats` again and again, so
/// that counting connections does not itself open any.
struct StatsProbe {
    stream: TcpStream,
}

impl StatsProbe {
    fn open(server: &Memcached) -> StatsProbe {
        let mut stream = TcpStream::connect(server.plain_addr()).expect("connect the stats probe");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("probe timeout");
        if !server.login_request().is_empty() {
            stream
                .write_all(server.login_request())
                .expect("probe login");
            let mut stored = [0u8; 8];
            stream.read_exact(&mut stored).expect("probe login reply");
            assert_eq!(&stored, b"STORED\r\n", "the probe's login");
        }
        StatsProbe { stream }
    }

    /// The server's `stats`, typed.
    fn read(&mut self) -> StatMap {
        self.stream.write_all(b"stats\r\n").expect("probe write");
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while !reply.ends_with(b"END\r\n") {
            let n = self.stream.read(&mut chunk).expect("probe read");
            assert!(n > 0, "the server closed the stats probe");
            reply.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&reply)
            .lines()
            .filter_map(|line| line.strip_prefix("STAT "))
            .filter_map(|stat| stat.split_once(' '))
            .map(|(name, value)| (name.to_owned(), StatValue::parse(value)))
            .collect()
    }
}

/// A server that accepts connections and reads requests but never answers:
/// every call to it runs into its deadline. Runs until the test process
/// ends.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            // Keep the connection open and drain what arrives, answer nothing.
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A client of a [`silent_server`] with `io_timeout`, whose failure
/// policy never marks the server down (every call runs into its deadline).
fn silent_client<C: TestClient>(io_timeout: Duration) -> C {
    build(
        C::builder()
            .server(silent_server().to_string())
            .io_timeout(io_timeout)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    )
}

/// Send `signal` (`-STOP`/`-CONT`) to the server and wait until every
/// thread of it is stopped (or running again): `kill` only queues the
/// signal.
fn freeze(server: &Memcached, signal: &str) {
    let pid = server.pid().expect("server is running");
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
    let want_stopped = signal == "-STOP";
    let deadline = Instant::now() + Duration::from_secs(5);
    while !all_threads_in_state(pid, want_stopped) {
        assert!(
            Instant::now() < deadline,
            "memcached {pid} ignored {signal}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether every thread of `pid` is stopped (`want_stopped`) or not.
fn all_threads_in_state(pid: u32, want_stopped: bool) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        let stopped = matches!(state, Some('T') | Some('t'));
        stopped == want_stopped
    })
}

/// A key that `c` places on its `index`-th server.
fn key_on<C: TestClient>(c: &C, index: usize) -> String {
    let server = &c.servers()[index];
    (0..)
        .map(|n| format!("key:{n}"))
        .find(|k| c.server_for_key(k) == *server)
        .expect("every server owns some key")
}

// ---- every operation ----

/// `get` of an absent key is `Ok(None)`.
pub fn get_miss_is_none<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.get("session_id").unwrap(), None);
    assert_eq!(c.gets("session_id").unwrap(), None);
}

/// `set` then `get`: key, flags 0, no cas; binary, empty and large values.
pub fn set_get_roundtrip<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("session_id", b"TEST SESSSION DATA").unwrap();
    let v = c.get("session_id").unwrap().expect("hit");
    assert_eq!(&v.key[..], b"session_id");
    assert_eq!(&v.data[..], b"TEST SESSSION DATA");
    assert_eq!(v.flags, 0);
    assert_eq!(v.cas, None);

    let binary: Vec<u8> = (0..=255u8).chain(b"\r\nEND\r\n".iter().copied()).collect();
    c.set("binary", &binary).unwrap();
    assert_eq!(
        &c.get("binary").unwrap().expect("hit").data[..],
        &binary[..]
    );

    c.set("empty", b"").unwrap();
    assert_eq!(&c.get("empty").unwrap().expect("hit").data[..], b"");

    let large: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    c.set("large", &large).unwrap();
    assert!(c.get("large").unwrap().expect("hit").data == large);

    // Keys as bytes work as well as text.
    c.set("k", b"1").unwrap();
    c.set("k", b"2").unwrap();
    assert_eq!(text(c.get("k")), "2");
}

/// `store` with flags and an expiry: flags come back, the item expires.
pub fn flags_and_expiry<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.store(Command::set("foo", "xXx").flags(12).expiry(Expiry::secs(2)))
        .unwrap();
    c.store(Command::set("forever", "y").flags(u32::MAX))
        .unwrap();
    let v = c.get("foo").unwrap().expect("hit");
    assert_eq!(
        (&v.key[..], v.flags, &v.data[..]),
        (&b"foo"[..], 12, &b"xXx"[..])
    );
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(c.get("foo").unwrap(), None);
    assert_eq!(c.get("forever").unwrap().expect("hit").flags, u32::MAX);
}

/// `touch` extends the life of an item; on a missing key it is `NotFound`.
pub fn touch_extends_life<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.store(Command::set("foo", "bar").expiry(Expiry::secs(2)))
        .unwrap();
    c.store(Command::set("short", "x").expiry(Expiry::secs(2)))
        .unwrap();
    c.touch("foo", Expiry::secs(30)).unwrap();
    assert!(matches!(
        c.touch("missing", Expiry::secs(30)),
        Err(Error::NotFound)
    ));
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(text(c.get("foo")), "bar");
    assert_eq!(c.get("short").unwrap(), None);
}

/// `gat`/`gats` return the item and set its expiration time.
pub fn gat_and_gats<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.gat("nope", Expiry::secs(10)).unwrap(), None);
    c.store(Command::set("a", "1").expiry(Expiry::secs(2)))
        .unwrap();
    c.store(Command::set("b", "2").expiry(Expiry::secs(2)))
        .unwrap();
    let v = c.gat("a", Expiry::secs(30)).unwrap().expect("hit");
    assert_eq!((&v.data[..], v.cas), (&b"1"[..], None));
    let v = c.gats("b", Expiry::secs(30)).unwrap().expect("hit");
    assert!(v.cas.is_some());
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(text(c.get("a")), "1");
    assert_eq!(text(c.get("b")), "2");
    // gat with an expiry of 1 s makes it short-lived again.
    c.gat("a", Expiry::secs(1)).unwrap();
    thread::sleep(Duration::from_millis(2200));
    assert_eq!(c.get("a").unwrap(), None);
}

/// `add`, `replace`, `append`, `prepend` and their `NotStored` cases.
pub fn conditional_stores<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert!(matches!(c.replace("k", b"xyzzy"), Err(Error::NotStored)));
    assert!(matches!(c.append("k", b">>>"), Err(Error::NotStored)));
    assert!(matches!(c.prepend("k", b"<<<"), Err(Error::NotStored)));
    assert_eq!(c.get("k").unwrap(), None);
    c.add("k", b"old_data").unwrap();
    assert!(matches!(c.add("k", b"other"), Err(Error::NotStored)));
    assert_eq!(text(c.get("k")), "old_data");
    c.replace("k", b"xyzzy").unwrap();
    c.append("k", b">>>").unwrap();
    c.prepend("k", b"<<<").unwrap();
    assert_eq!(text(c.get("k")), "<<<xyzzy>>>");
}

/// `cas`: success with a fresh unique, `Exists` with a stale one,
/// `NotFound` when the item is gone.
pub fn cas_semantics<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("foo", b"bar").unwrap();
    let first = c.gets("foo").unwrap().expect("hit");
    let unique = first.cas.expect("gets returns a cas unique");
    c.cas("foo", b"baz", unique).unwrap();
    let second = c.gets("foo").unwrap().expect("hit");
    assert_eq!(&second.data[..], b"baz");
    assert_ne!(second.cas, Some(unique));
    assert!(matches!(c.cas("foo", b"qux", unique), Err(Error::Exists)));
    assert_eq!(text(c.get("foo")), "baz");
    c.delete("foo").unwrap();
    assert!(matches!(
        c.cas("foo", b"qux", second.cas.unwrap_or(0)),
        Err(Error::NotFound)
    ));
    // cas through store() keeps flags.
    c.set("f", b"1").unwrap();
    let u = c.gets("f").unwrap().and_then(|v| v.cas).expect("cas");
    c.store(Command::cas("f", "2", u).flags(7)).unwrap();
    assert_eq!(c.get("f").unwrap().expect("hit").flags, 7);
}

/// `incr`/`decr`: `NotFound`, `NonNumeric`, arithmetic, floor at 0 and
/// wrapping at 2^64.
pub fn incr_decr<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert!(matches!(c.incr("n", 1), Err(Error::NotFound)));
    assert!(matches!(c.decr("n", 1), Err(Error::NotFound)));
    c.set("n", b"a").unwrap();
    assert!(matches!(c.incr("n", 1), Err(Error::NonNumeric)));
    c.set("n", b"1").unwrap();
    assert_eq!(c.incr("n", 1).unwrap(), 2);
    assert_eq!(c.decr("n", 1).unwrap(), 1);
    assert_eq!(text(c.get("n")), "1");
    assert_eq!(c.decr("n", 10).unwrap(), 0);
    c.set("n", u64::MAX.to_string().as_bytes()).unwrap();
    assert_eq!(c.incr("n", 2).unwrap(), 1);
    assert_eq!(c.incr("n", 1_000_000).unwrap(), 1_000_001);
}

/// `delete` then `NotFound`.
pub fn delete_semantics<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("foo", b"x").unwrap();
    c.delete("foo").unwrap();
    assert_eq!(c.get("foo").unwrap(), None);
    assert!(matches!(c.delete("foo"), Err(Error::NotFound)));
}

/// `noreply` stores through `store` take effect and the connection stays
/// in step.
pub fn noreply_store<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    for i in 0..20 {
        c.store(Command::set(format!("q{i}"), format!("v{i}")).noreply())
            .unwrap();
    }
    // A noreply add that fails: the text protocol sends nothing back (the
    // call succeeded when it was sent); the meta protocol's quiet mode
    // reports the failure. Either way the connection stays in step.
    let failed_add = c.store(Command::add("q0", "other").noreply());
    match c.router().protocol() {
        memwire::client::Protocol::Meta => {
            assert!(
                matches!(failed_add, Err(Error::NotStored)),
                "{failed_add:?}"
            )
        }
        _ => assert!(failed_add.is_ok(), "{failed_add:?}"),
    }
    for i in 0..20 {
        assert_eq!(text(c.get(format!("q{i}"))), format!("v{i}"));
    }
}

/// Bad input fails before anything is sent; the client stays usable.
pub fn invalid_input<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let long = "k".repeat(251);
    for key in ["with space", "new\r\nline", "", long.as_str()] {
        assert!(
            matches!(c.get(key), Err(Error::InvalidKey(_))),
            "get {key:?}"
        );
        assert!(
            matches!(c.set(key, b"v"), Err(Error::InvalidKey(_))),
            "set {key:?}"
        );
        assert!(
            matches!(c.get_multi(["ok", key]), Err(Error::InvalidKey(_))),
            "get_multi {key:?}"
        );
    }
    let huge = vec![b'x'; 2 * 1024 * 1024];
    assert!(matches!(
        c.set("huge", &huge),
        Err(Error::ValueTooLarge { .. })
    ));
    c.set("ok", b"fine").unwrap();
    assert_eq!(text(c.get("ok")), "fine");
    assert_eq!(stat_u64(&server_stats(&server), "cmd_set"), 1);
}

/// `get_multi`/`gets_multi` on one server: hits in request order, misses
/// absent, duplicates and an empty list.
pub fn get_multi_one_server<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.get_multi(Vec::<&str>::new()).unwrap(), vec![]);
    c.set("a", b"1").unwrap();
    c.set("c", b"3").unwrap();
    let hits = c.get_multi(["c", "b", "a"]).unwrap();
    let got: Vec<(&[u8], &[u8])> = hits.iter().map(|v| (&v.key[..], &v.data[..])).collect();
    assert_eq!(got, vec![(&b"c"[..], &b"3"[..]), (&b"a"[..], &b"1"[..])]);
    assert!(hits.iter().all(|v| v.cas.is_none()));
    let hits = c.gets_multi(["a", "c"]).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|v| v.cas.is_some()));
    let dup = c.get_multi(["a", "a"]).unwrap();
    assert_eq!(dup.len(), 2);
    assert_eq!(c.get_multi(["x", "y"]).unwrap(), vec![]);
}

/// A multi-get of more keys than one request may carry
/// (`Config::max_keys`) is split per server into several requests: every
/// hit comes back, in request order, with the server's `cmd_get` counting
/// each key once.
pub fn get_multi_beyond_the_key_limit<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start()];
    let c: C = build(
        C::builder()
            .servers(servers.iter().map(Memcached::url))
            .limits(memwire::Config::default().max_keys(50)),
    );
    let keys: Vec<String> = (0..300).map(|i| format!("many:{i}")).collect();
    for k in keys.iter().step_by(2) {
        c.set(k, k.as_bytes()).unwrap();
    }
    let asked: Vec<&str> = keys.iter().rev().map(String::as_str).collect();
    let hits = c.get_multi(&asked).unwrap();
    let expected: Vec<&str> = asked
        .iter()
        .copied()
        .filter(|k| keys.iter().position(|x| x == k).is_some_and(|i| i % 2 == 0))
        .collect();
    let got: Vec<String> = hits
        .iter()
        .map(|v| String::from_utf8_lossy(&v.key).into_owned())
        .collect();
    assert_eq!(got, expected);
    assert!(hits.iter().all(|v| v.key == v.data));
    let asked_per_server: u64 = servers
        .iter()
        .map(|s| stat_u64(&server_stats(s), "cmd_get"))
        .sum();
    assert_eq!(asked_per_server, 300);
}

/// `flush_all` removes everything; `flush_all_delayed` only later.
pub fn flush_all_semantics<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("a", b"1").unwrap();
    only(c.flush_all());
    assert_eq!(c.get("a").unwrap(), None);
    c.set("b", b"2").unwrap();
    only(c.flush_all_delayed(2));
    assert_eq!(text(c.get("b")), "2");
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(c.get("b").unwrap(), None);
}

/// `version` and `verbosity` on every server.
pub fn version_and_verbosity<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let version = only(c.version());
    let expected = server.stats(None)["version"].clone();
    assert_eq!(version, expected);
    only(c.verbosity(1));
    only(c.verbosity(0));
}

/// Every `stats` group, typed and grouped.
pub fn stats_groups<C: TestClient>() {
    let server = Memcached::builder().arg("-o").arg("track_sizes").start();
    let c: C = client_for(&server);
    c.set("foo", b"bar").unwrap();
    c.get("foo").unwrap();
    c.get("nope").unwrap();

    let stats = only(c.stats());
    assert_eq!(
        stat_u64(&stats, "pid"),
        u64::from(server.pid().expect("pid"))
    );
    assert_eq!(stat_u64(&stats, "curr_items"), 1);
    assert_eq!(stat_u64(&stats, "get_hits"), 1);
    assert_eq!(stat_u64(&stats, "get_misses"), 1);
    assert!(matches!(
        stats.get("rusage_user"),
        Some(StatValue::Float(_))
    ));
    assert!(matches!(stats.get("version"), Some(StatValue::Text(_))));

    let settings = only(c.stats_settings());
    assert_eq!(settings.get("cas_enabled"), Some(&StatValue::Bool(true)));
    assert_eq!(stat_u64(&settings, "tcpport"), u64::from(server.port()));
    assert!(matches!(
        settings.get("growth_factor"),
        Some(StatValue::Float(_))
    ));

    let items = only(c.stats_items());
    assert_eq!(items.len(), 1, "{items:?}");
    let (_, class) = items.iter().next().expect("one class");
    assert_eq!(stat_u64(class, "number"), 1);

    let slabs = only(c.stats_slabs());
    assert_eq!(stat_u64(&slabs.totals, "active_slabs"), 1);
    assert!(stat_u64(&slabs.totals, "total_malloced") > 0);
    let (_, class) = slabs.classes.iter().next().expect("one class");
    assert_eq!(stat_u64(class, "used_chunks"), 1);

    let sizes = only(c.stats_sizes());
    assert!(sizes.enabled);
    assert_eq!(sizes.sizes.iter().map(|(_, n)| n).sum::<u64>(), 1);

    let conns = only(c.stats_conns());
    assert!(!conns.is_empty());
    assert!(conns.values().any(|m| m.contains_key("addr")));

    only(c.stats_reset());
    assert_eq!(stat_u64(&only(c.stats()), "get_hits"), 0);
}

/// Without `-o track_sizes` the size histogram reports itself disabled.
pub fn stats_sizes_disabled<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("foo", b"bar").unwrap();
    let sizes = only(c.stats_sizes());
    assert!(!sizes.enabled, "{sizes:?}");
    assert!(sizes.sizes.is_empty());
}

/// `close` drops the connections (the server sees them go); the client
/// stays usable.
pub fn close_and_reuse<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let baseline = settled_connections(&server);
    c.set("a", b"1").unwrap();
    wait_for_connections(&server, baseline + 1, "the client's connection");
    c.close();
    wait_for_connections(&server, baseline, "close() to drop the connection");
    assert_eq!(text(c.get("a")), "1");
    c.close();
    c.close();
}

/// The server's `curr_connections` once two readings 50 ms apart agree
/// (connections of earlier readings may still be closing).
fn settled_connections(server: &Memcached) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = stat_u64(&server_stats(server), "curr_connections");
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = stat_u64(&server_stats(server), "curr_connections");
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Wait up to 3 s for the server's `curr_connections` to be `expected`.
fn wait_for_connections(server: &Memcached, expected: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = stat_u64(&server_stats(server), "curr_connections");
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {what}: curr_connections {now}, expected {expected}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

// ---- several servers ----

/// Keys spread over three servers; each key lives where
/// `server_for_key` says; multi-get across them in request order; one
/// stats result per server.
pub fn three_servers<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let refs: Vec<&Memcached> = servers.iter().collect();
    let c: C = client(&refs);
    let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        c.set(k, format!("value of {k}").as_bytes()).unwrap();
    }
    // Every server got some keys, and the counts add up.
    let counts: Vec<u64> = servers
        .iter()
        .map(|s| stat_u64(&server_stats(s), "curr_items"))
        .collect();
    assert!(counts.iter().all(|&n| n > 20), "uneven spread {counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 300);
    // Each key is on the server the client names, and only there.
    for (server, addr) in servers.iter().zip(c.servers()) {
        let single: C = client_for(server);
        for k in keys.iter().step_by(7) {
            let here = single.get(k).unwrap();
            assert_eq!(here.is_some(), c.server_for_key(k) == addr, "{k} on {addr}");
        }
    }
    // Multi-get across all servers, with misses, in request order.
    let mut asked: Vec<&str> = keys.iter().map(String::as_str).rev().collect();
    asked.insert(10, "missing:1");
    asked.push("missing:2");
    let hits = c.get_multi(&asked).unwrap();
    assert_eq!(hits.len(), 300);
    for (hit, k) in hits.iter().zip(keys.iter().rev()) {
        assert_eq!(&hit.key[..], k.as_bytes());
        assert_eq!(hit.data, format!("value of {k}").as_bytes());
    }
    assert!(c
        .gets_multi(&asked[..50])
        .unwrap()
        .iter()
        .all(|v| v.cas.is_some()));
    // One result per server, in configuration order.
    let stats = all_ok(c.stats());
    let addrs: Vec<ServerAddr> = stats.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(addrs, c.servers());
    for ((_, s), n) in stats.iter().zip(&counts) {
        assert_eq!(stat_u64(s, "curr_items"), *n);
    }
    assert_eq!(all_ok(c.version()).len(), 3);
    assert_eq!(all_ok(c.stats_settings()).len(), 3);
    assert_eq!(all_ok(c.stats_items()).len(), 3);
    assert_eq!(all_ok(c.stats_slabs()).len(), 3);
    assert_eq!(all_ok(c.stats_sizes()).len(), 3);
    assert_eq!(all_ok(c.flush_all()).len(), 3);
    assert_eq!(c.get_multi(&asked).unwrap(), vec![]);
}

/// With one of two servers down, its keys and its per-server results fail
/// (naming it) while the other server keeps working.
pub fn one_server_down<C: TestClient>() {
    let up = Memcached::start();
    let down = Memcached::start();
    let c: C = build(
        C::builder()
            .server(up.url())
            .server(down.url())
            .health(HealthConfig {
                failure_limit: 1,
                retry_after: Duration::from_secs(60),
            }),
    );
    let down_addr = c.servers()[1].clone();
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for k in &keys {
        c.set(k, k.as_bytes()).unwrap();
    }
    down.stop();
    let mut saw_no_server = false;
    for k in &keys {
        let r = c.get(k);
        if c.server_for_key(k) == down_addr {
            match r {
                Err(Error::NoServer(msg)) => {
                    assert!(msg.contains(&down_addr.to_string()), "{msg}");
                    saw_no_server = true;
                }
                Err(e) => assert!(e.is_fatal(), "{k}: {e}"),
                Ok(v) => panic!("{k} from a stopped server: {v:?}"),
            }
        } else {
            assert_eq!(text(r), *k);
        }
    }
    assert!(saw_no_server, "a down server must fail fast with NoServer");
    let stats = c.stats();
    assert!(stats[0].1.is_ok(), "{:?}", stats[0]);
    assert_eq!(stats[1].0, down_addr);
    assert!(matches!(stats[1].1, Err(Error::NoServer(_))));
    // A multi-get gets the live server's hits and names the down one.
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let hits = c.get_multi(&names).expect("no bad input");
    assert_eq!(hits.failures().len(), 1);
    assert_eq!(hits.failures()[0].0, down_addr);
    assert!(hits.iter().all(|v| c.server_for_key(&v.key) != down_addr));
    assert!(!hits.is_empty());
}

/// A server killed mid-run: errors while it is down (never a value),
/// recovery after restart with no client restart, never a wrong value.
pub fn server_killed_and_restarted<C: TestClient>() {
    let server = Arc::new(Memcached::start());
    let c: C = build(
        C::builder()
            .server(server.url())
            .io_timeout(Duration::from_millis(500))
            .health(HealthConfig {
                failure_limit: 2,
                retry_after: Duration::from_millis(100),
            }),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, 0u32);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("t{t}:{}", i % 50);
                    let value = format!("t{t}:{}:{i}", i % 50);
                    match c.set(&key, value.as_bytes()) {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            assert!(e.is_fatal(), "set {key}: {e}");
                            failed += 1;
                            continue;
                        }
                    }
                    match c.get(&key) {
                        // A restart may lose the item, never swap it.
                        Ok(Some(v)) => {
                            assert_eq!(&v.key[..], key.as_bytes());
                            let data = String::from_utf8_lossy(&v.data).into_owned();
                            assert!(data.starts_with(&format!("{key}:")), "{key} -> {data}");
                        }
                        Ok(None) => {}
                        Err(e) => {
                            assert!(e.is_fatal(), "get {key}: {e}");
                            failed += 1;
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    server.stop();
    // While down: errors, never values.
    let down_since = Instant::now();
    let mut errors = 0;
    while down_since.elapsed() < Duration::from_millis(500) {
        match c.get("t0:1") {
            Err(e) => {
                assert!(e.is_fatal(), "{e}");
                errors += 1;
            }
            Ok(v) => panic!("value from a stopped server: {v:?}"),
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(errors > 0);
    server.restart();
    // Recovery within a few retry periods, without restarting the client.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.set("after", b"restart") {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_fatal(), "{e}");
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("no recovery after restart: {e}"),
        }
    }
    assert_eq!(text(c.get("after")), "restart");
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut total_failed = 0;
    for w in workers {
        let (ok, failed) = w.join().expect("worker panicked");
        assert!(ok > 0);
        total_failed += failed;
    }
    assert!(
        total_failed > 0,
        "workers never noticed the server was down"
    );
}

/// A server that is not there: `Connect` errors naming it, then
/// `NoServer` naming it, fast.
pub fn unreachable_server<C: TestClient>() {
    let port = crate::free_port();
    let addr = format!("127.0.0.1:{port}");
    let c: C = build(C::builder().server(addr.clone()));
    let (mut saw_connect, mut saw_no_server) = (false, false);
    for _ in 0..4 {
        let started = Instant::now();
        match c.get("k") {
            Err(Error::NoServer(msg)) => {
                assert!(msg.contains(&addr), "{msg}");
                saw_no_server = true;
            }
            Err(Error::Connect { server, source }) => {
                assert_eq!(server, addr);
                assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
                saw_connect = true;
            }
            other => panic!("expected Connect or NoServer, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert!(saw_connect && saw_no_server);
    assert!(matches!(only_err(c.version()), Error::NoServer(_)));
}

// ---- concurrency ----

/// Many threads share one client and one server: every operation returns
/// the value of its own key, never another's.
pub fn many_threads_one_server<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    let key = format!("thread{t}:key{}", i % 20);
                    let value = format!("{key}:{i}:{}", "x".repeat(i % 97));
                    c.set(&key, value.as_bytes()).unwrap();
                    let v = c.get(&key).unwrap().expect("own key is there");
                    assert_eq!(&v.key[..], key.as_bytes());
                    assert_eq!(v.data, value.as_bytes(), "wrong value for {key}");
                    if i % 10 == 0 {
                        let counter = format!("thread{t}:counter");
                        if i == 0 {
                            c.set(&counter, b"0").unwrap();
                        }
                        assert_eq!(c.incr(&counter, 1).unwrap(), (i / 10 + 1) as u64);
                        let other = format!("thread{t}:key{}", (i + 1) % 20);
                        let hits = c.get_multi([&key, &other]).unwrap();
                        assert_eq!(&hits[0].key[..], key.as_bytes());
                        assert_eq!(hits[0].data, value.as_bytes());
                        for h in &hits {
                            assert!(h.key.starts_with(format!("thread{t}:").as_bytes()));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    let stats = server_stats(&server);
    assert!(stat_u64(&stats, "cmd_set") >= 16 * 200);
}

// ---- transports ----

/// Everything works over a unix socket.
pub fn unix_socket<C: TestClient>() {
    let server = Memcached::builder().unix_socket().start();
    let c: C = build(C::builder().server(server.socket_path().display().to_string()));
    assert!(matches!(c.servers()[0], ServerAddr::Unix(_)));
    c.store(Command::set("u", "unix").flags(3)).unwrap();
    let v = c.get("u").unwrap().expect("hit");
    assert_eq!((&v.data[..], v.flags), (&b"unix"[..], 3));
    assert!(matches!(c.incr("u", 1), Err(Error::NonNumeric)));
    assert_eq!(c.get_multi(["u", "v"]).unwrap().len(), 1);
    assert!(!only(c.version()).is_empty());
    c.close();
    assert_eq!(text(c.get("u")), "unix");
    // Killed and restarted on the same path: recovers.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match c.get("u") {
            Ok(v) => {
                assert_eq!(v, None);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_fatal(), "{e}");
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("no recovery: {e}"),
        }
    }
}

/// A server that accepts and never answers: `Timeout` within the I/O
/// timeout, for single and multi-key calls.
pub fn timeout_silent_server<C: TestClient>() {
    let io_timeout = Duration::from_millis(300);
    let c: C = silent_client(io_timeout);
    for call in 0..3 {
        let started = Instant::now();
        let r = match call {
            0 => c.get("k").map(|_| ()),
            1 => c.set("k", b"v"),
            _ => c
                .get_multi(["a", "b"])
                .and_then(|hits| hits.into_result())
                .map(|_| ()),
        };
        assert_timed_out(&r, started.elapsed(), io_timeout);
    }
    assert_request_timeout(&Err::<(), _>(only_err(c.stats())));
}

/// Deadlines kept whatever the phase of the kernel's timers: against a
/// server that accepts but never answers, eight calls started 4 ms apart
/// time out, all but one (a busy machine's outlier) at most 18 ms past
/// their deadline. (On a shared
/// connection the first timeout fails the calls behind it, early: only
/// lateness is judged.) Linux rounds a socket timeout of 300
/// ms up to a multiple of 8 ticks (32 ms at HZ=250), depending on when
/// it starts: when a blocking read trusted its socket timeout to end at
/// the deadline, the second latest of these calls ended 25–30 ms late.
pub fn deadlines_kept_at_any_timer_phase<C: TestClient>() {
    let io_timeout = Duration::from_millis(300);
    let c: C = silent_client(io_timeout);
    let mut late: Vec<Duration> = thread::scope(|s| {
        let calls: Vec<_> = (0..8u32)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    thread::sleep(Duration::from_millis(4) * i);
                    let started = Instant::now();
                    let r = c.get(format!("k{i}"));
                    let elapsed = started.elapsed();
                    assert_request_timeout(&r);
                    elapsed.saturating_sub(io_timeout)
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|call| call.join().expect("a call panicked"))
            .collect()
    });
    late.sort();
    let second_latest = late[late.len() - 2];
    assert!(
        second_latest <= Duration::from_millis(18),
        "calls ended past their deadline by {late:?}"
    );
}

/// A real server frozen (SIGSTOP) mid-request: the call times out; after
/// SIGCONT the next call reconnects and gets its own value — never the
/// late reply to the timed-out request.
pub fn timeout_then_reconnect<C: TestClient>() {
    let server = Memcached::start();
    let c: C = build(
        C::builder()
            .server(server.url())
            .io_timeout(Duration::from_millis(300)),
    );
    c.set("first", b"value of first").unwrap();
    c.set("second", b"value of second").unwrap();
    for round in 0..3 {
        freeze(&server, "-STOP");
        let started = Instant::now();
        let r = c.get("first");
        let elapsed = started.elapsed();
        freeze(&server, "-CONT");
        assert!(
            r.as_ref().is_err_and(Error::is_timeout),
            "round {round}: {r:?}"
        );
        assert_request_timeout(&r);
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
        // The frozen server now answers `first` on the abandoned socket; the
        // next call must not see it.
        assert_eq!(text(c.get("second")), "value of second");
        assert_eq!(text(c.get("first")), "value of first");
        let hits = c.get_multi(["second", "first"]).unwrap();
        assert_eq!(&hits[0].data[..], b"value of second");
    }
}

// ---- papercuts of the old API, fixed by the redesign ----

/// Values borrowed from local buffers (`&buf[..]`, `s.as_str()`, `&s`)
/// are accepted by every storage method and stored as they were; the
/// caller keeps its buffers (they are copied), owned ones are moved in.
pub fn borrowed_values_are_stored<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let mut buf: Vec<u8> = (0..64u8).collect();
    let s = String::from("a string");
    c.set("slice", &buf[..]).unwrap();
    c.set("str", s.as_str()).unwrap();
    c.set("string_ref", &s).unwrap();
    c.set("vec_ref", &buf).unwrap();
    c.set_with("with", &buf[..8], StoreOptions::new().flags(5))
        .unwrap();
    c.add("array", [1u8, 2, 3]).unwrap();
    c.append("str", &s[1..2]).unwrap();
    c.prepend("str", &s[..1]).unwrap();
    c.replace("vec_ref", &buf[60..]).unwrap();
    let unique = c.gets("slice").unwrap().and_then(|v| v.cas).expect("cas");
    c.cas("slice", &buf[..32], unique).unwrap();
    c.store(Command::set("store", &buf[..4])).unwrap();
    // The buffers are still the caller's, and changing them changes
    // nothing stored.
    buf.clear();
    buf.extend_from_slice(b"changed");
    let original: Vec<u8> = (0..64u8).collect();
    assert_eq!(
        &c.get("slice").unwrap().expect("hit").data[..],
        &original[..32]
    );
    assert_eq!(text(c.get("str")), "aa string ");
    assert_eq!(text(c.get("string_ref")), s);
    assert_eq!(
        &c.get("vec_ref").unwrap().expect("hit").data[..],
        &original[60..]
    );
    let with = c.get("with").unwrap().expect("hit");
    assert_eq!((&with.data[..], with.flags), (&original[..8], 5));
    assert_eq!(&c.get("array").unwrap().expect("hit").data[..], &[1, 2, 3]);
    assert_eq!(
        &c.get("store").unwrap().expect("hit").data[..],
        &original[..4]
    );
    // Owned values are moved in.
    c.set("owned", s).unwrap();
    c.set("owned_vec", buf).unwrap();
    assert_eq!(text(c.get("owned")), "a string");
    assert_eq!(text(c.get("owned_vec")), "changed");
}

/// `set_with`/`add_with`/`replace_with`/`cas_with` with `StoreOptions`
/// (flags, expiry, `noreply`) or an expiry alone (`Expiry`, `Duration`):
/// the flags come back, and items with an expiry expire — relative and
/// absolute ones — while the others stay.
pub fn set_with_flags_and_expiry<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let two_secs = Expiry::secs(2);
    c.set_with("foo", "xXx", StoreOptions::new().flags(12).expiry(two_secs))
        .unwrap();
    c.set_with("duration", "d", Duration::from_secs(2)).unwrap();
    c.set_with("expiry", "e", two_secs).unwrap();
    // Whole seconds, rounded down: 1 to 2 s from now.
    let at = SystemTime::now() + Duration::from_secs(2);
    c.set_with("at", "a", Expiry::At(at)).unwrap();
    c.add_with("added", "a", StoreOptions::new().flags(3).expiry(two_secs))
        .unwrap();
    assert!(matches!(
        c.add_with("added", "again", StoreOptions::new().flags(1)),
        Err(Error::NotStored)
    ));
    c.set("replaced", "1").unwrap();
    c.replace_with(
        "replaced",
        "2",
        StoreOptions::new().flags(9).expiry(two_secs),
    )
    .unwrap();
    c.set_with("kept", "k", StoreOptions::new().flags(u32::MAX))
        .unwrap();
    c.set_with("never", "n", Expiry::Never).unwrap();
    let unique = c.gets("kept").unwrap().and_then(|v| v.cas).expect("cas");
    c.cas_with("kept", "K", unique, StoreOptions::new().flags(4))
        .unwrap();
    assert!(matches!(
        c.cas_with("kept", "stale", unique, StoreOptions::new().flags(1)),
        Err(Error::Exists)
    ));
    c.set_with("quiet", "q", StoreOptions::new().flags(6).noreply())
        .unwrap();

    let flags = |key: &str| {
        let v = c
            .get(key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        (String::from_utf8_lossy(&v.data).into_owned(), v.flags)
    };
    assert_eq!(flags("foo"), ("xXx".into(), 12));
    assert_eq!(flags("duration"), ("d".into(), 0));
    assert_eq!(flags("expiry"), ("e".into(), 0));
    assert_eq!(flags("at"), ("a".into(), 0));
    assert_eq!(flags("added"), ("a".into(), 3));
    assert_eq!(flags("replaced"), ("2".into(), 9));
    assert_eq!(flags("kept"), ("K".into(), 4));
    assert_eq!(flags("never"), ("n".into(), 0));
    assert_eq!(flags("quiet"), ("q".into(), 6));
    // memcached's clock ticks once a second and maps wall-clock times to
    // it to within a second: 4.5 s is past every expiry set above.
    thread::sleep(Duration::from_millis(4500));
    for gone in ["foo", "duration", "expiry", "at", "added", "replaced"] {
        assert_eq!(c.get(gone).unwrap(), None, "{gone} did not expire");
    }
    for kept in ["kept", "never", "quiet"] {
        assert!(c.get(kept).unwrap().is_some(), "{kept} expired");
    }
}

/// A relative expiry over 30 days (which memcached would read as a date in
/// 1970) and an absolute one past 2038 are refused with `InvalidArgument`
/// by every method that takes an expiry, and nothing reaches the server;
/// exactly 30 days is fine.
pub fn relative_expiry_over_30_days_is_refused<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("k", "v").unwrap();
    let too_long = Expiry::In(Expiry::MAX_RELATIVE + Duration::from_secs(1));
    let after_2038 = Expiry::At(UNIX_EPOCH + Duration::from_secs(1 << 31));
    let before = server_stats(&server);
    let refused = [
        c.set_with("k", "new", too_long),
        c.set_with("k2", "v", StoreOptions::new().flags(1).expiry(too_long)),
        c.set_with("k3", "v", Expiry::MAX_RELATIVE + Duration::from_millis(1)),
        c.add_with("k4", "v", too_long),
        c.replace_with("k", "v", too_long),
        c.cas_with("k", "v", 1, too_long),
        c.store(Command::set("k5", "v").expiry(too_long)),
        c.store(Command::set("k6", "v").expiry(after_2038)),
        c.touch("k", too_long),
        c.touch("k", after_2038),
        c.gat("k", too_long).map(|_| ()),
        c.gats("k", too_long).map(|_| ()),
    ];
    for (i, r) in refused.iter().enumerate() {
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "#{i}: {r:?}");
        assert!(r.as_ref().is_err_and(Error::is_input_error), "#{i}");
    }
    let after = server_stats(&server);
    for stat in ["cmd_set", "cmd_touch", "cmd_get"] {
        assert_eq!(
            stat_u64(&after, stat),
            stat_u64(&before, stat),
            "{stat}: a refused request reached the server"
        );
    }
    // The client is still in step, and 30 days exactly is a relative time.
    assert_eq!(text(c.get("k")), "v");
    c.set_with("month", "m", Expiry::MAX_RELATIVE).unwrap();
    c.touch("k", Expiry::MAX_RELATIVE).unwrap();
    assert_eq!(text(c.gat("month", Expiry::MAX_RELATIVE)), "m");
    assert_eq!(text(c.get("k")), "v");
}

/// A value of 1 MiB + 1 byte (memcached's default item size) is refused
/// with `ValueTooLarge` before anything is sent; a value just under the
/// server's limit is stored and read back whole.
pub fn value_over_the_limit_is_refused<C: TestClient>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("k", "v").unwrap();
    let max = DEFAULT_MAX_VALUE_LEN;
    assert_eq!(max, 1024 * 1024);
    let over = vec![b'x'; max + 1];
    let sets_before = stat_u64(&server_stats(&server), "cmd_set");
    let refused = [
        c.set("big", &over[..]),
        c.set_with("big", &over[..], StoreOptions::new().flags(1)),
        c.add("big", &over[..]),
        c.append("k", &over[..]),
        c.store(Command::set("big", over.clone())),
    ];
    for (i, r) in refused.iter().enumerate() {
        match r {
            Err(Error::ValueTooLarge { len, max: limit }) => {
                assert_eq!((*len, *limit), (max + 1, max), "#{i}")
            }
            other => panic!("#{i}: expected ValueTooLarge, got {other:?}"),
        }
    }
    assert_eq!(
        stat_u64(&server_stats(&server), "cmd_set"),
        sets_before,
        "a refused value reached the server"
    );
    // memcached's limit counts the item header too: 1 KiB under 1 MiB fits.
    let under: Vec<u8> = (0..max - 1024).map(|i| (i % 251) as u8).collect();
    c.set("under", &under[..]).unwrap();
    assert!(c.get("under").unwrap().expect("hit").data == under);
    assert_eq!(stat_u64(&server_stats(&server), "cmd_set"), sets_before + 1);
    // Exactly 1 MiB passes the client and is refused by the server, which
    // skips the data: the connection stays in step.
    assert!(
        matches!(c.set("exact", vec![b'y'; max]), Err(Error::Server(_))),
        "memcached stores no item of its full item size"
    );
    assert_eq!(text(c.get("k")), "v");
}

/// Calls that share a connection with a request that timed out fail with
/// an error that `is_timeout()` — on pipelined transports the later calls
/// see their connection poisoned by the first one's timeout
/// (`Poisoned(Timeout)`, with the timeout as its `source()`), on pooled
/// ones each times out on its own — and the client recovers once the
/// server answers again.
pub fn timeout_on_a_shared_connection_is_a_timeout<C: TestClient>() {
    let server = Memcached::start();
    let io_timeout = Duration::from_millis(400);
    let c: C = build(
        C::builder()
            .server(server.url())
            .io_timeout(io_timeout)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    );
    c.set("k", "v").unwrap();
    freeze(&server, "-STOP");
    let calls = 4;
    let start = Arc::new(Barrier::new(calls));
    let results: Vec<_> = (0..calls)
        .map(|i| {
            let (c, start) = (c.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                // Staggered, so that each later call is in flight when the
                // first one's deadline passes.
                thread::sleep(Duration::from_millis(50) * i as u32);
                let started = Instant::now();
                (c.get(format!("k{i}")), started.elapsed())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("caller panicked"))
        .collect();
    freeze(&server, "-CONT");
    for (i, (r, elapsed)) in results.iter().enumerate() {
        assert_request_timeout(r);
        assert!(
            *elapsed < io_timeout + Duration::from_millis(700),
            "call {i} late: {elapsed:?}"
        );
        if let Err(e @ Error::Poisoned(_)) = r {
            let source = std::error::Error::source(e).expect("the poisoning failure");
            assert_eq!(source.to_string(), Error::Timeout.to_string(), "{e:?}");
        }
    }
    assert_eq!(text(c.get("k")), "v");
}

/// Errors say their own part once: `Connect` displays "cannot connect to
/// HOST:PORT" with the OS error as its `source()` (not in the message),
/// names its server and is a connection error but not a timeout; the
/// `NoServer` that follows names the server too.
pub fn error_display_does_not_repeat_the_source<C: TestClient>() {
    let addr = format!("127.0.0.1:{}", crate::free_port());
    let c: C = build(C::builder().server(addr.clone()).health(HealthConfig {
        failure_limit: 1,
        retry_after: Duration::from_secs(60),
    }));
    let e = c.get("k").unwrap_err();
    let Error::Connect { server, source } = &e else {
        panic!("expected Connect, got {e:?}")
    };
    assert_eq!(server, &addr);
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(e.to_string(), format!("cannot connect to {addr}"));
    let reported = std::error::Error::source(&e).expect("the OS error is the source");
    assert_eq!(reported.to_string(), source.to_string());
    assert_display_excludes_source(&e);
    assert_eq!(e.server(), Some(addr.as_str()));
    assert!(e.is_connection_error() && !e.is_timeout() && !e.is_input_error());
    // The server is down now: fail fast, naming it.
    let down = c.delete("k").unwrap_err();
    assert!(matches!(down, Error::NoServer(_)), "{down:?}");
    assert!(down.to_string().contains(&addr), "{down}");
    assert!(std::error::Error::source(&down).is_none());
    // Input errors have no source either, and say what was wrong.
    let big = c
        .set("k", vec![0u8; DEFAULT_MAX_VALUE_LEN + 1])
        .unwrap_err();
    assert_eq!(
        big.to_string(),
        format!(
            "value of {} bytes exceeds the limit of {DEFAULT_MAX_VALUE_LEN} bytes",
            DEFAULT_MAX_VALUE_LEN + 1
        )
    );
    assert!(std::error::Error::source(&big).is_none());
}

/// One deadline per call, covering connecting, writing and reading: against
/// a server that accepts but never answers, `delete` with an I/O timeout
/// of 500 ms returns a timeout within 500 ms + 250 ms (half the
/// deadline: time limits that add up fail), every time.
pub fn one_deadline_per_call<C: TestClient>() {
    let io_timeout = Duration::from_millis(500);
    let c: C = silent_client(io_timeout);
    for round in 0..3 {
        let started = Instant::now();
        let r = c.delete("k");
        let elapsed = started.elapsed();
        assert_request_timeout(&r);
        assert!(
            elapsed >= io_timeout - Duration::from_millis(20),
            "round {round}: early: {elapsed:?}"
        );
        assert!(
            elapsed <= io_timeout + Duration::from_millis(250),
            "round {round}: past the deadline: {elapsed:?}"
        );
    }
}

// ---- the bounded pool (pooled transports) ----

/// With `max_connections_per_server(2)`, eight threads hammering one
/// server never have more than two connections open to it: the server's
/// `curr_connections`, sampled from a separate raw connection throughout,
/// never rises more than 2 above its baseline, and its
/// `total_connections` shows no more than 2 were ever opened.
pub fn pool_bounds_connections_per_server<C: TestClient>() {
    let server = Memcached::start();
    let mut probe = StatsProbe::open(&server);
    let baseline = probe.read();
    let c: C = build(
        C::builder()
            .server(server.url())
            .max_connections_per_server(2)
            .io_timeout(Duration::from_secs(5)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(
                    stat_u64(&probe.read(), "curr_connections"),
                    Ordering::Relaxed,
                );
                thread::sleep(Duration::from_millis(1));
            }
            probe
        })
    };
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..300 {
                    let key = format!("t{t}:{}", i % 10);
                    c.set(&key, key.as_bytes()).unwrap();
                    assert_eq!(text(c.get(&key)), key);
                    if i % 20 == 0 {
                        let hits = c.get_multi([&key, "absent"]).unwrap();
                        assert_eq!(hits.len(), 1);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    stop.store(true, Ordering::Relaxed);
    let mut probe = sampler.join().expect("sampler panicked");
    let last = probe.read();
    let base = stat_u64(&baseline, "curr_connections");
    let peak = peak
        .load(Ordering::Relaxed)
        .max(stat_u64(&last, "curr_connections"));
    assert!(peak <= base + 2, "{peak} connections open, baseline {base}");
    assert!(peak > base, "the client never connected");
    let opened = stat_u64(&last, "total_connections") - stat_u64(&baseline, "total_connections");
    assert!(opened <= 2, "{opened} connections opened with a limit of 2");
    assert!(stat_u64(&last, "cmd_set") >= 8 * 300);
}

/// With one connection per server allowed and the servers frozen
/// (SIGSTOP), a call that finds its server's only connection busy until
/// its own deadline fails with `PoolExhausted` naming that server, within
/// the deadline; nothing is sent on its behalf.
///
/// The busy connection must stay busy past the waiting call's deadline, so
/// the waiting call must start before the call holding it: a broadcast
/// first waits its turn on server A (held by an earlier call), then finds
/// server B's connection taken meanwhile by a later call.
pub fn pool_exhausted_names_the_server<C: TestClient>() {
    let a = Memcached::start();
    let b = Memcached::start();
    let io_timeout = Duration::from_millis(1000);
    let c: C = build(
        C::builder()
            .server(a.url())
            .server(b.url())
            .max_connections_per_server(1)
            .io_timeout(io_timeout)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    );
    let servers = c.servers();
    let (key_a, key_b) = (key_on(&c, 0), key_on(&c, 1));
    c.set(&key_a, "a").unwrap();
    c.set(&key_b, "b").unwrap();
    freeze(&a, "-STOP");
    freeze(&b, "-STOP");
    let get = |key: &String| {
        let (c, key) = (c.clone(), key.clone());
        thread::spawn(move || c.get(key))
    };
    // t0: holds A's only connection until t0 + 1000 ms.
    let holder_a = get(&key_a);
    thread::sleep(Duration::from_millis(150));
    // t0 + 150: waits for A until t0 + 1000, then for B until its deadline,
    // t0 + 1150...
    let broadcast = {
        let c = c.clone();
        thread::spawn(move || {
            let started = Instant::now();
            (c.version(), started.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(150));
    // ... while this call holds B's only connection from t0 + 300 to
    // t0 + 1300.
    let holder_b = get(&key_b);
    let (per_server, elapsed) = broadcast.join().expect("broadcast panicked");
    let held = [holder_a, holder_b].map(|h| h.join().expect("holder panicked"));
    freeze(&a, "-CONT");
    freeze(&b, "-CONT");
    for r in &held {
        assert_request_timeout(r);
    }
    assert_eq!(per_server.len(), 2);
    assert_request_timeout(&per_server[0].1);
    let (addr, result) = &per_server[1];
    assert_eq!(addr, &servers[1]);
    let e = result.as_ref().expect_err("B's connection was busy");
    match e {
        Error::PoolExhausted { server, max } => {
            assert_eq!(
                (server.as_str(), *max),
                (servers[1].to_string().as_str(), 1)
            );
        }
        other => panic!("expected PoolExhausted, got {other:?}"),
    }
    assert_eq!(e.server(), Some(servers[1].to_string().as_str()));
    assert!(e.to_string().contains(&servers[1].to_string()), "{e}");
    assert!(e.is_connection_error() && !e.is_timeout());
    assert!(
        elapsed <= io_timeout + Duration::from_millis(250),
        "past the deadline: {elapsed:?}"
    );
    // Both servers answer again, on fresh connections.
    assert_eq!(text(c.get(&key_a)), "a");
    assert_eq!(text(c.get(&key_b)), "b");
}

/// Instantiate the whole conformance suite for a client type (see
/// [`TestClient`]): one `#[test]` per suite function.
#[macro_export]
macro_rules! conformance_suite {
    (over_tls $client:ty) => {
        $crate::conformance_suite!(@suite $client; $crate::tls::suite_over_tls());
    };
    ($client:ty) => {
        $crate::conformance_suite!(@suite $client; ());
    };
    (@suite $client:ty; $setup:expr) => {
        $crate::conformance_suite!(@tests $client; $setup;
            get_miss_is_none,
            set_get_roundtrip,
            flags_and_expiry,
            touch_extends_life,
            gat_and_gats,
            conditional_stores,
            cas_semantics,
            incr_decr,
            delete_semantics,
            noreply_store,
            invalid_input,
            get_multi_one_server,
            get_multi_beyond_the_key_limit,
            flush_all_semantics,
            version_and_verbosity,
            stats_groups,
            stats_sizes_disabled,
            close_and_reuse,
            three_servers,
            one_server_down,
            server_killed_and_restarted,
            unreachable_server,
            many_threads_one_server,
            unix_socket,
            timeout_silent_server,
            deadlines_kept_at_any_timer_phase,
            timeout_then_reconnect,
            borrowed_values_are_stored,
            set_with_flags_and_expiry,
            relative_expiry_over_30_days_is_refused,
            value_over_the_limit_is_refused,
            timeout_on_a_shared_connection_is_a_timeout,
            error_display_does_not_repeat_the_source,
            one_deadline_per_call,
        );
    };
    (@tests $client:ty; $setup:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $setup;
                $crate::conformance::$name::<$client>();
            }
        )*
    };
}

/// Instantiate the bounded-pool cases for a pooled client type (blocking):
/// one `#[test]` each. Pipelined transports bound their requests with
/// `max_in_flight` instead and do not run these.
#[macro_export]
macro_rules! pool_suite {
    (over_tls $client:ty) => {
        $crate::pool_suite!(@suite $client; $crate::tls::suite_over_tls());
    };
    ($client:ty) => {
        $crate::pool_suite!(@suite $client; ());
    };
    (@suite $client:ty; $setup:expr) => {
        $crate::conformance_suite!(@tests $client; $setup;
            pool_bounds_connections_per_server,
            pool_exhausted_names_the_server,
        );
    };
}
