//! memwire through a real proxy: twemproxy (`nutcracker`, Debian package
//! `nutcracker`) in front of real memcached servers, on every transport
//! (blocking, mio, and smol and tokio through `memwire_tests::BlockOn`).
//! The client knows only the proxy (one "server"); the proxy spreads keys
//! over its backends with ketama on md5 (twemproxy's ketama on fnv1a_64
//! left one of three backends without any of 300 keys) and splits
//! multi-key gets, merging the backends' replies in its own order.
//!
//! What twemproxy proxies, and so what passes through it here: `get`,
//! `gets` (one key or many, across backends), `set`, `add`, `replace`,
//! `append`, `prepend`, `cas`, `delete`, `incr`, `decr`, `touch`, and
//! `noreply`; memwire's `set_multi`/`delete_multi`/`touch_multi` pipeline
//! those. What it does not: `stats`, `flush_all`, `verbosity`, `gat`,
//! `gats` and the meta commands — twemproxy 0.5 closes the client's
//! connection on them, and memwire reports a connection error at once
//! (never a hang, never a timeout). `version` it answers with a backend's.
//!
//! The binary is `NUTCRACKER_BIN`, else `nutcracker` on `PATH` or in
//! `/usr/sbin`; `scripts/test` installs the package when it is missing.
//! A missing binary fails the tests, it never skips them.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::HealthConfig;
use memwire::{Command, Error, Expiry};
use memwire_tests::conformance::{build, only, text, TestClient};
use memwire_tests::{free_port, Memcached};

const NOT_FOUND: &str =
    "nutcracker not found: install the Debian package `nutcracker` or set NUTCRACKER_BIN";

/// A `nutcracker` process in front of `backends`, killed when dropped.
struct Twemproxy {
    child: Child,
    dir: PathBuf,
    port: u16,
    backends: Vec<Memcached>,
}

impl Twemproxy {
    /// Starts `n` memcached servers and a twemproxy pool over them, and
    /// waits until the proxy accepts connections.
    fn start(n: usize) -> Twemproxy {
        let backends: Vec<Memcached> = (0..n).map(|_| Memcached::start()).collect();
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("memwire-twemproxy-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the twemproxy directory");
        let servers: String = backends
            .iter()
            .map(|m| format!("    - {}:1\n", m.addr()))
            .collect();
        let config = format!(
            "memwire:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  \
             distribution: ketama\n  auto_eject_hosts: false\n  timeout: 5000\n  \
             servers:\n{servers}"
        );
        let config_path = dir.join("nutcracker.yml");
        fs::write(&config_path, config).expect("write the twemproxy config");
        let log = dir.join("nutcracker.log");
        let child = Process::new(nutcracker())
            .arg("-c")
            .arg(&config_path)
            // Its stats port (default 22222) must not clash between tests.
            .args(["-s", &free_port().to_string(), "-a", "127.0.0.1", "-o"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{NOT_FOUND}: {e}"));
        let mut proxy = Twemproxy {
            child,
            dir,
            port,
            backends,
        };
        proxy.wait_until_ready(&log);
        proxy
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "nutcracker did not accept on 127.0.0.1:{} ({exited:?}); log:\n{}",
                    self.port,
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }

    /// Each backend's `curr_items`.
    fn items_per_backend(&self) -> Vec<u64> {
        self.backends
            .iter()
            .map(|m| stat(m, "curr_items"))
            .collect()
    }
}

impl Drop for Twemproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn nutcracker() -> PathBuf {
    if let Some(bin) = std::env::var_os("NUTCRACKER_BIN") {
        return bin.into();
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nutcracker"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| panic!("{NOT_FOUND}"))
}

fn stat(server: &Memcached, name: &str) -> u64 {
    let stats = server.stats(None);
    stats
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("stat {name} missing in {stats:?}"))
}

/// A client that knows only the proxy.
fn client<C: TestClient>(proxy: &Twemproxy) -> C {
    build(C::builder().server(proxy.url()))
}

/// Every single-key operation twemproxy proxies, with its outcomes.
fn operations_pass_through<C: TestClient>() {
    let proxy = Twemproxy::start(3);
    let c: C = client(&proxy);

    assert_eq!(c.get("tw:missing").unwrap(), None);
    assert_eq!(c.gets("tw:missing").unwrap(), None);

    // set, get, gets, cas
    c.set("tw:a", "alpha").unwrap();
    assert_eq!(text(c.get("tw:a")), "alpha");
    let unique = c.gets("tw:a").unwrap().and_then(|v| v.cas).expect("cas");
    c.cas("tw:a", "beta", unique).unwrap();
    assert!(matches!(c.cas("tw:a", "gamma", unique), Err(Error::Exists)));
    assert_eq!(text(c.get("tw:a")), "beta");

    // add, replace, append, prepend
    assert!(matches!(c.add("tw:a", "x"), Err(Error::NotStored)));
    c.add("tw:b", "added").unwrap();
    assert!(matches!(c.replace("tw:c", "x"), Err(Error::NotStored)));
    c.replace("tw:b", "replaced").unwrap();
    c.append("tw:b", ">>").unwrap();
    c.prepend("tw:b", "<<").unwrap();
    assert_eq!(text(c.get("tw:b")), "<<replaced>>");
    assert!(matches!(c.append("tw:c", "x"), Err(Error::NotStored)));

    // flags, binary data and a large value come back intact
    let binary: Vec<u8> = (0..=255u8).chain(*b"\r\nEND\r\n").collect();
    c.store(Command::set("tw:bin", binary.clone()).flags(77))
        .unwrap();
    let v = c.get("tw:bin").unwrap().expect("hit");
    assert_eq!((v.flags, &v.data[..]), (77, &binary[..]));
    let large: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    c.set("tw:large", &large).unwrap();
    assert!(c.get("tw:large").unwrap().expect("hit").data == large);

    // incr, decr
    assert!(matches!(c.incr("tw:n", 1), Err(Error::NotFound)));
    c.set("tw:n", "10").unwrap();
    assert_eq!(c.incr("tw:n", 5).unwrap(), 15);
    assert_eq!(c.decr("tw:n", 20).unwrap(), 0);
    assert!(matches!(c.incr("tw:a", 1), Err(Error::NonNumeric)));

    // delete
    c.delete("tw:a").unwrap();
    assert_eq!(c.get("tw:a").unwrap(), None);
    assert!(matches!(c.delete("tw:a"), Err(Error::NotFound)));
    assert!(matches!(c.cas("tw:a", "x", unique), Err(Error::NotFound)));

    // touch: a 1 s item touched to 60 s outlives its first expiry
    assert!(matches!(
        c.touch("tw:missing", Expiry::secs(60)),
        Err(Error::NotFound)
    ));
    c.store(Command::set("tw:t", "kept").expiry(Expiry::secs(1)))
        .unwrap();
    c.store(Command::set("tw:gone", "x").expiry(Expiry::secs(1)))
        .unwrap();
    c.touch("tw:t", Expiry::secs(60)).unwrap();
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(text(c.get("tw:t")), "kept");
    assert_eq!(c.get("tw:gone").unwrap(), None);

    // noreply stores take effect and the connection stays in step
    for i in 0..10 {
        c.store(Command::set(format!("tw:q{i}"), format!("quiet {i}")).noreply())
            .unwrap();
    }
    assert_eq!(text(c.get("tw:q9")), "quiet 9");
    assert_eq!(text(c.get("tw:b")), "<<replaced>>");

    // version: twemproxy 0.5 answers with one backend's
    let version = only(c.version());
    assert_eq!(version, proxy.backends[0].stats(None)["version"]);
}

/// Multi-key operations through the proxy, which splits them over its
/// backends: the keys really are spread, and every hit comes back in
/// request order.
fn multi_key_operations_span_the_backends<C: TestClient>() {
    let proxy = Twemproxy::start(3);
    let c: C = client(&proxy);
    let keys: Vec<String> = (0..300).map(|i| format!("spread:{i}")).collect();

    let stored = c.set_multi(keys.iter().map(|k| (k, k.clone())), Expiry::Never);
    assert_eq!(stored.len(), keys.len());
    assert!(stored.iter().all(|(_, r)| r.is_ok()), "{stored:?}");
    let per_backend = proxy.items_per_backend();
    assert!(per_backend.iter().all(|&n| n > 0), "{per_backend:?}");
    assert_eq!(per_backend.iter().sum::<u64>(), 300, "{per_backend:?}");

    // One multi-get for every key, misses in between, in reverse order.
    let asked: Vec<String> = keys
        .iter()
        .rev()
        .flat_map(|k| [k.clone(), format!("{k}:miss")])
        .collect();
    let hits = c.get_multi(&asked).unwrap();
    assert!(hits.is_complete(), "{:?}", hits.failures());
    let got: Vec<&[u8]> = hits.iter().map(|v| &v.key[..]).collect();
    let want: Vec<&[u8]> = keys.iter().rev().map(|k| k.as_bytes()).collect();
    assert_eq!(got, want);
    assert!(hits.iter().all(|v| v.key == v.data && v.cas.is_none()));
    // Every backend was asked for its part.
    for m in &proxy.backends {
        assert!(stat(m, "get_hits") > 0, "{}", m.addr());
    }
    let with_cas = c.gets_multi(&keys[..10]).unwrap();
    assert_eq!(with_cas.len(), 10);
    assert!(with_cas.iter().all(|v| v.cas.is_some()));

    // delete_multi of every other key, then again: NotFound per key.
    let evens: Vec<&String> = keys.iter().step_by(2).collect();
    let deleted = c.delete_multi(&evens);
    assert!(deleted.iter().all(|(_, r)| r.is_ok()), "{deleted:?}");
    let again = c.delete_multi(&evens);
    assert_eq!(again.len(), 150);
    assert!(
        again.iter().all(|(_, r)| matches!(r, Err(Error::NotFound))),
        "{again:?}"
    );
    let left = c.get_multi(&keys).unwrap();
    assert_eq!(left.len(), 150);
    assert!(left.iter().all(|v| v.key == v.data));
    assert_eq!(proxy.items_per_backend().iter().sum::<u64>(), 150);

    // touch_multi: the live keys are touched, the deleted ones not found.
    let touched = c.touch_multi(&keys[..4], Expiry::secs(600));
    let outcome: Vec<bool> = touched.iter().map(|(_, r)| r.is_ok()).collect();
    assert_eq!(outcome, [false, true, false, true], "{touched:?}");
}

/// Commands twemproxy does not proxy end in a connection error right away,
/// never a hang: each closes the connection, memwire reports it, and the
/// next call works on a fresh connection. (Each close counts as a failure
/// of the only server, the proxy: a high failure limit keeps it from being
/// marked down in between.)
fn unsupported_commands_are_errors_not_hangs<C: TestClient>() {
    let proxy = Twemproxy::start(2);
    let c: C = build(
        C::builder()
            .server(proxy.url())
            .io_timeout(Duration::from_secs(5))
            .health(HealthConfig {
                failure_limit: u32::MAX,
                retry_after: Duration::from_millis(1),
            }),
    );
    c.set("tw:kept", "still here").unwrap();
    let refused = |what: &str, result: Result<(), Error>| {
        // twemproxy closed the connection: `Closed`, a connection error.
        let e = result.expect_err(what);
        assert!(
            matches!(e.root(), Error::Closed) && e.is_connection_error() && !e.is_timeout(),
            "{what}: {e:?}"
        );
        // The next call gets its answer.
        assert_eq!(text(c.get("tw:kept")), "still here", "after {what}");
    };
    refused("stats", only_result(c.stats()).map(drop));
    refused("stats settings", only_result(c.stats_settings()).map(drop));
    refused("flush_all", only_result(c.flush_all()));
    refused("verbosity", only_result(c.verbosity(1)));
    refused("gat", c.gat("tw:kept", Expiry::secs(60)).map(drop));
    refused("gats", c.gats("tw:kept", Expiry::secs(60)).map(drop));
    // flush_all never reached a backend.
    let items: u64 = proxy.items_per_backend().iter().sum();
    assert_eq!(items, 1);
}

/// The one result of a broadcast to a one-server client.
fn only_result<T: std::fmt::Debug>(mut per_server: memwire::PerServer<T>) -> Result<T, Error> {
    assert_eq!(per_server.len(), 1, "{per_server:?}");
    per_server.pop().map(|(_, r)| r).expect("one result")
}

/// One `#[test]` per case for a client type, behind its transport's
/// feature.
macro_rules! twemproxy_suite {
    ($module:ident, $feature:literal, $client:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            #[test]
            fn operations_pass_through() {
                super::operations_pass_through::<$client>();
            }

            #[test]
            fn multi_key_operations_span_the_backends() {
                super::multi_key_operations_span_the_backends::<$client>();
            }

            #[test]
            fn unsupported_commands_are_errors_not_hangs() {
                super::unsupported_commands_are_errors_not_hangs::<$client>();
            }
        }
    };
}

twemproxy_suite!(blocking, "blocking", memwire::blocking::Client);
twemproxy_suite!(mio, "mio", memwire::mio::Client);
twemproxy_suite!(
    smol,
    "smol",
    memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>
);
twemproxy_suite!(
    tokio,
    "tokio",
    memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>
);
