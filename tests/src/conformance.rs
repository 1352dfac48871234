//! The conformance suite: every client operation and error, several
//! servers, concurrency, a server killed and restarted, a unix socket and
//! timeouts — written once against [`Conformance`] and run on every
//! transport with [`conformance_suite!`](crate::conformance_suite).
//!
//! A transport joins by implementing [`Conformance`] for its client (in
//! this crate, behind its feature; async clients block on each call) and
//! instantiating the suite in `tests/tests/conformance_<transport>.rs`:
//!
//! ```text
//! memwire_tests::conformance_suite!(memwire::blocking::Client);
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::{HealthConfig, ServerAddr};
use memwire::{
    ClientBuilder, Command, Error, Exptime, PerServer, SizeStats, SlabStats, StatMap, StatValue,
    Store, Value,
};

use crate::Memcached;

/// A client as the suite sees it: the methods every transport offers, as
/// blocking calls. Keys are `&str`, values `&[u8]`.
#[allow(missing_docs)] // each method is the client method of the same name
pub trait Conformance: Clone + Send + Sync + Sized + 'static {
    /// Build a client from `builder`; panics on a configuration error.
    fn build(builder: ClientBuilder) -> Self;
    fn servers(&self) -> Vec<ServerAddr>;
    fn server_for_key(&self, key: &str) -> ServerAddr;

    fn get(&self, key: &str) -> Result<Option<Value>, Error>;
    fn gets(&self, key: &str) -> Result<Option<Value>, Error>;
    fn gat(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error>;
    fn gats(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error>;
    fn get_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error>;
    fn gets_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error>;

    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn add(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn replace(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn append(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn prepend(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn cas(&self, key: &str, value: &[u8], cas_unique: u64) -> Result<(), Error>;
    fn store(&self, store: Store) -> Result<(), Error>;

    fn delete(&self, key: &str) -> Result<(), Error>;
    fn touch(&self, key: &str, exptime: Exptime) -> Result<(), Error>;
    fn incr(&self, key: &str, delta: u64) -> Result<u64, Error>;
    fn decr(&self, key: &str, delta: u64) -> Result<u64, Error>;

    fn flush_all(&self) -> PerServer<()>;
    fn flush_all_delayed(&self, delay: u32) -> PerServer<()>;
    fn version(&self) -> PerServer<String>;
    fn verbosity(&self, level: u32) -> PerServer<()>;
    fn stats(&self) -> PerServer<StatMap>;
    fn stats_settings(&self) -> PerServer<StatMap>;
    fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>>;
    fn stats_sizes(&self) -> PerServer<SizeStats>;
    fn stats_slabs(&self) -> PerServer<SlabStats>;
    fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>>;
    fn stats_reset(&self) -> PerServer<()>;
    fn close(&self);
}

#[cfg(feature = "blocking")]
impl Conformance for memwire::blocking::Client {
    fn build(builder: ClientBuilder) -> Self {
        builder
            .build()
            .unwrap_or_else(|e| panic!("client config: {e}"))
    }
    fn servers(&self) -> Vec<ServerAddr> {
        memwire::blocking::Client::servers(self).to_vec()
    }
    fn server_for_key(&self, key: &str) -> ServerAddr {
        memwire::blocking::Client::server_for_key(self, key).clone()
    }
    fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        memwire::blocking::Client::get(self, key)
    }
    fn gets(&self, key: &str) -> Result<Option<Value>, Error> {
        memwire::blocking::Client::gets(self, key)
    }
    fn gat(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        memwire::blocking::Client::gat(self, key, exptime)
    }
    fn gats(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        memwire::blocking::Client::gats(self, key, exptime)
    }
    fn get_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        memwire::blocking::Client::get_multi(self, keys)
    }
    fn gets_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        memwire::blocking::Client::gets_multi(self, keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::blocking::Client::set(self, key, value.to_vec())
    }
    fn add(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::blocking::Client::add(self, key, value.to_vec())
    }
    fn replace(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::blocking::Client::replace(self, key, value.to_vec())
    }
    fn append(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::blocking::Client::append(self, key, value.to_vec())
    }
    fn prepend(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::blocking::Client::prepend(self, key, value.to_vec())
    }
    fn cas(&self, key: &str, value: &[u8], cas_unique: u64) -> Result<(), Error> {
        memwire::blocking::Client::cas(self, key, value.to_vec(), cas_unique)
    }
    fn store(&self, store: Store) -> Result<(), Error> {
        memwire::blocking::Client::store(self, store)
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        memwire::blocking::Client::delete(self, key)
    }
    fn touch(&self, key: &str, exptime: Exptime) -> Result<(), Error> {
        memwire::blocking::Client::touch(self, key, exptime)
    }
    fn incr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        memwire::blocking::Client::incr(self, key, delta)
    }
    fn decr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        memwire::blocking::Client::decr(self, key, delta)
    }
    fn flush_all(&self) -> PerServer<()> {
        memwire::blocking::Client::flush_all(self)
    }
    fn flush_all_delayed(&self, delay: u32) -> PerServer<()> {
        memwire::blocking::Client::flush_all_delayed(self, delay)
    }
    fn version(&self) -> PerServer<String> {
        memwire::blocking::Client::version(self)
    }
    fn verbosity(&self, level: u32) -> PerServer<()> {
        memwire::blocking::Client::verbosity(self, level)
    }
    fn stats(&self) -> PerServer<StatMap> {
        memwire::blocking::Client::stats(self)
    }
    fn stats_settings(&self) -> PerServer<StatMap> {
        memwire::blocking::Client::stats_settings(self)
    }
    fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        memwire::blocking::Client::stats_items(self)
    }
    fn stats_sizes(&self) -> PerServer<SizeStats> {
        memwire::blocking::Client::stats_sizes(self)
    }
    fn stats_slabs(&self) -> PerServer<SlabStats> {
        memwire::blocking::Client::stats_slabs(self)
    }
    fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        memwire::blocking::Client::stats_conns(self)
    }
    fn stats_reset(&self) -> PerServer<()> {
        memwire::blocking::Client::stats_reset(self)
    }
    fn close(&self) {
        memwire::blocking::Client::close(self)
    }
}

// ---- helpers ----

/// A client for `servers` with default settings.
pub fn client<C: Conformance>(servers: &[&Memcached]) -> C {
    C::build(ClientBuilder::new().servers(servers.iter().map(|s| s.url())))
}

/// A client for one server.
pub fn client_for<C: Conformance>(server: &Memcached) -> C {
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

fn stat_u64(map: &StatMap, name: &str) -> u64 {
    map.get(name)
        .and_then(StatValue::as_u64)
        .unwrap_or_else(|| panic!("stat {name} missing or not a number in {map:?}"))
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

// ---- every operation ----

/// `get` of an absent key is `Ok(None)`.
pub fn get_miss_is_none<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.get("session_id").unwrap(), None);
    assert_eq!(c.gets("session_id").unwrap(), None);
}

/// `set` then `get`: key, flags 0, no cas; binary, empty and large values.
pub fn set_get_roundtrip<C: Conformance>() {
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

/// `store` with flags and exptime: flags come back, the item expires.
pub fn flags_and_exptime<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.store(Command::set("foo", "xXx").flags(12).exptime(2))
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
pub fn touch_extends_life<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.store(Command::set("foo", "bar").exptime(2)).unwrap();
    c.store(Command::set("short", "x").exptime(2)).unwrap();
    c.touch("foo", 30).unwrap();
    assert!(matches!(c.touch("missing", 30), Err(Error::NotFound)));
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(text(c.get("foo")), "bar");
    assert_eq!(c.get("short").unwrap(), None);
}

/// `gat`/`gats` return the item and set its expiration time.
pub fn gat_and_gats<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.gat("nope", 10).unwrap(), None);
    c.store(Command::set("a", "1").exptime(2)).unwrap();
    c.store(Command::set("b", "2").exptime(2)).unwrap();
    let v = c.gat("a", 30).unwrap().expect("hit");
    assert_eq!((&v.data[..], v.cas), (&b"1"[..], None));
    let v = c.gats("b", 30).unwrap().expect("hit");
    assert!(v.cas.is_some());
    thread::sleep(Duration::from_millis(3000));
    assert_eq!(text(c.get("a")), "1");
    assert_eq!(text(c.get("b")), "2");
    // gat with exptime 1 makes it short-lived again.
    c.gat("a", 1).unwrap();
    thread::sleep(Duration::from_millis(2200));
    assert_eq!(c.get("a").unwrap(), None);
}

/// `add`, `replace`, `append`, `prepend` and their `NotStored` cases.
pub fn conditional_stores<C: Conformance>() {
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
pub fn cas_semantics<C: Conformance>() {
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
pub fn incr_decr<C: Conformance>() {
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
pub fn delete_semantics<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("foo", b"x").unwrap();
    c.delete("foo").unwrap();
    assert_eq!(c.get("foo").unwrap(), None);
    assert!(matches!(c.delete("foo"), Err(Error::NotFound)));
}

/// `noreply` stores through `store` take effect and the connection stays
/// in step.
pub fn noreply_store<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    for i in 0..20 {
        c.store(Command::set(format!("q{i}"), format!("v{i}")).noreply())
            .unwrap();
    }
    // A noreply add that fails sends nothing back either.
    c.store(Command::add("q0", "other").noreply()).unwrap();
    for i in 0..20 {
        assert_eq!(text(c.get(&format!("q{i}"))), format!("v{i}"));
    }
}

/// Bad input fails before anything is sent; the client stays usable.
pub fn invalid_input<C: Conformance>() {
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
            matches!(c.get_multi(&["ok", key]), Err(Error::InvalidKey(_))),
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

fn server_stats(server: &Memcached) -> StatMap {
    server
        .stats(None)
        .into_iter()
        .map(|(k, v)| {
            let v = StatValue::parse(&v);
            (k, v)
        })
        .collect()
}

/// `get_multi`/`gets_multi` on one server: hits in request order, misses
/// absent, duplicates and an empty list.
pub fn get_multi_one_server<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    assert_eq!(c.get_multi(&[]).unwrap(), vec![]);
    c.set("a", b"1").unwrap();
    c.set("c", b"3").unwrap();
    let hits = c.get_multi(&["c", "b", "a"]).unwrap();
    let got: Vec<(&[u8], &[u8])> = hits.iter().map(|v| (&v.key[..], &v.data[..])).collect();
    assert_eq!(got, vec![(&b"c"[..], &b"3"[..]), (&b"a"[..], &b"1"[..])]);
    assert!(hits.iter().all(|v| v.cas.is_none()));
    let hits = c.gets_multi(&["a", "c"]).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|v| v.cas.is_some()));
    let dup = c.get_multi(&["a", "a"]).unwrap();
    assert_eq!(dup.len(), 2);
    assert_eq!(c.get_multi(&["x", "y"]).unwrap(), vec![]);
}

/// A multi-get of more keys than one request may carry
/// (`Config::max_keys`) is split per server into several requests: every
/// hit comes back, in request order, with the server's `cmd_get` counting
/// each key once.
pub fn get_multi_beyond_the_key_limit<C: Conformance>() {
    let servers = [Memcached::start(), Memcached::start()];
    let c: C = C::build(
        ClientBuilder::new()
            .servers(servers.iter().map(Memcached::url))
            .protocol(memwire::Config::default().max_keys(50)),
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
pub fn flush_all_semantics<C: Conformance>() {
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
pub fn version_and_verbosity<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    let version = only(c.version());
    let expected = server.stats(None)["version"].clone();
    assert_eq!(version, expected);
    only(c.verbosity(1));
    only(c.verbosity(0));
}

/// Every `stats` group, typed and grouped.
pub fn stats_groups<C: Conformance>() {
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
pub fn stats_sizes_disabled<C: Conformance>() {
    let server = Memcached::start();
    let c: C = client_for(&server);
    c.set("foo", b"bar").unwrap();
    let sizes = only(c.stats_sizes());
    assert!(!sizes.enabled, "{sizes:?}");
    assert!(sizes.sizes.is_empty());
}

/// `close` drops the connections (the server sees them go); the client
/// stays usable.
pub fn close_and_reuse<C: Conformance>() {
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
pub fn three_servers<C: Conformance>() {
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
pub fn one_server_down<C: Conformance>() {
    let up = Memcached::start();
    let down = Memcached::start();
    let c: C = C::build(
        ClientBuilder::new()
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
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert!(c.get_multi(&names).is_err());
}

/// A server killed mid-run: errors while it is down (never a value),
/// recovery after restart with no client restart, never a wrong value.
pub fn server_killed_and_restarted<C: Conformance>() {
    let server = Arc::new(Memcached::start());
    let c: C = C::build(
        ClientBuilder::new()
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
pub fn unreachable_server<C: Conformance>() {
    let port = crate::free_port();
    let addr = format!("127.0.0.1:{port}");
    let c: C = C::build(ClientBuilder::new().server(addr.clone()));
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

/// `result` is [`Error::Timeout`], reported no earlier than `io_timeout`
/// (less 20 ms of clock slack) and well before twice it.
pub fn assert_timed_out<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    elapsed: Duration,
    io_timeout: Duration,
) {
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(
        elapsed >= io_timeout - Duration::from_millis(20),
        "early: {elapsed:?}"
    );
    assert!(
        elapsed < io_timeout + Duration::from_millis(700),
        "late: {elapsed:?}"
    );
}

fn only_err<T: std::fmt::Debug>(mut per_server: PerServer<T>) -> Error {
    match per_server.pop() {
        Some((_, Err(e))) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

// ---- concurrency ----

/// Many threads share one client and one server: every operation returns
/// the value of its own key, never another's.
pub fn many_threads_one_server<C: Conformance>() {
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
                        let hits = c.get_multi(&[&key, &other]).unwrap();
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
pub fn unix_socket<C: Conformance>() {
    let server = Memcached::builder().unix_socket().start();
    let c: C = C::build(ClientBuilder::new().server(server.socket_path().display().to_string()));
    assert!(matches!(c.servers()[0], ServerAddr::Unix(_)));
    c.store(Command::set("u", "unix").flags(3)).unwrap();
    let v = c.get("u").unwrap().expect("hit");
    assert_eq!((&v.data[..], v.flags), (&b"unix"[..], 3));
    assert!(matches!(c.incr("u", 1), Err(Error::NonNumeric)));
    assert_eq!(c.get_multi(&["u", "v"]).unwrap().len(), 1);
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
pub fn timeout_silent_server<C: Conformance>() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = held.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Keep the connection open and drain what arrives, answer nothing.
            let mut s = stream;
            if let Ok(clone) = s.try_clone() {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(clone);
            }
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let io_timeout = Duration::from_millis(300);
    let c: C = C::build(
        ClientBuilder::new()
            .server(addr.to_string())
            .io_timeout(io_timeout)
            .health(HealthConfig {
                failure_limit: 100,
                retry_after: Duration::from_millis(10),
            }),
    );
    for call in 0..3 {
        let started = Instant::now();
        let r = match call {
            0 => c.get("k").map(|_| ()),
            1 => c.set("k", b"v"),
            _ => c.get_multi(&["a", "b"]).map(|_| ()),
        };
        assert_timed_out(&r, started.elapsed(), io_timeout);
    }
    assert!(matches!(only_err(c.stats()), Error::Timeout));
}

/// A real server frozen (SIGSTOP) mid-request: the call times out; after
/// SIGCONT the next call reconnects and gets its own value — never the
/// late reply to the timed-out request.
pub fn timeout_then_reconnect<C: Conformance>() {
    let server = Memcached::start();
    let c: C = C::build(
        ClientBuilder::new()
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
        assert!(matches!(r, Err(Error::Timeout)), "round {round}: {r:?}");
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
        // The frozen server now answers `first` on the abandoned socket; the
        // next call must not see it.
        assert_eq!(text(c.get("second")), "value of second");
        assert_eq!(text(c.get("first")), "value of first");
        let hits = c.get_multi(&["second", "first"]).unwrap();
        assert_eq!(&hits[0].data[..], b"value of second");
    }
}

/// Instantiate the whole conformance suite for a client type implementing
/// [`Conformance`]: one `#[test]` per suite function.
#[macro_export]
macro_rules! conformance_suite {
    ($client:ty) => {
        $crate::conformance_suite!(@tests $client;
            get_miss_is_none,
            set_get_roundtrip,
            flags_and_exptime,
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
            timeout_then_reconnect,
        );
    };
    (@tests $client:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name::<$client>();
            }
        )*
    };
}
