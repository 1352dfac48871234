//! The cluster-resilience suite: failover by ejection, live
//! reconfiguration, partial multi-key results, multi-key writes, probing a
//! restarted server, the up/down hook — written once against
//! [`Commands`](memwire::Commands) like the conformance suite and run on
//! every transport with [`resilience_suite!`](crate::resilience_suite),
//! against real memcached processes stopped and restarted.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memwire::client::Transition;
use memwire::cluster::{HealthConfig, ServerAddr};
use memwire::{Config, Error, Expiry};

use crate::conformance::{build, client_for, server_stats, stat_u64, text, TestClient};
use crate::Memcached;

/// Keys enough to land on every server of a small cluster.
fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

/// Quick to give up on a server, quick to try it again.
fn quick_health() -> HealthConfig {
    HealthConfig {
        failure_limit: 1,
        retry_after: Duration::from_millis(200),
    }
}

/// With ejection, one of three servers stopped: after its failure is
/// noticed, every key can be stored and read again (its keys on the next
/// server along the ring, the others where they were), and once it is
/// back (probed at its retry time) its keys return to it.
pub fn ejection_moves_a_dead_servers_keys_and_back<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let c: C = build(
        C::builder()
            .servers(servers.iter().map(Memcached::url))
            .health(quick_health())
            .eject_failed_servers(true),
    );
    let addrs = c.servers();
    let keys = keys(300);
    let owner: Vec<ServerAddr> = keys.iter().map(|k| c.server_for_key(k)).collect();
    servers[1].stop();
    // The first calls on the stopped server fail (that is how it is found
    // out); from then on its keys go elsewhere.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let failed = keys
            .iter()
            .filter(|k| c.set(k.as_str(), k.as_bytes()).is_err())
            .count();
        if failed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{failed} keys still failing");
    }
    for k in &keys {
        assert_eq!(text(c.get(k.as_str())), *k, "{k} after failover");
    }
    // Only the stopped server's keys moved: the others are where ketama
    // put them.
    let stats = [server_stats(&servers[0]), server_stats(&servers[2])];
    let stored: u64 = stats.iter().map(|s| stat_u64(s, "curr_items")).sum();
    assert_eq!(stored, 300);
    for (k, o) in keys.iter().zip(&owner) {
        if *o != addrs[1] {
            let single: C = build(C::builder().server(o.to_string()));
            assert_eq!(text(single.get(k.as_str())), *k, "{k} stayed on {o}");
        }
    }
    // Back: after its retry time a probe finds it, and its keys return
    // (to an empty server: a miss, not a stale value from elsewhere).
    servers[1].restart();
    let back_by = Instant::now() + Duration::from_secs(5);
    let moved_key = keys
        .iter()
        .zip(&owner)
        .find(|(_, o)| **o == addrs[1])
        .map(|(k, _)| k.clone())
        .expect("a key of the stopped server");
    loop {
        thread::sleep(Duration::from_millis(50));
        if c.get(&moved_key).is_ok_and(|v| v.is_none()) {
            break;
        }
        assert!(
            Instant::now() < back_by,
            "the server's keys never came back"
        );
    }
    c.set(&moved_key, "home").unwrap();
    assert_eq!(stat_u64(&server_stats(&servers[1]), "curr_items"), 1);
}

/// Without ejection (the default), a stopped server's keys fail fast and
/// stay put: the other servers never see them.
pub fn without_ejection_keys_stay_put<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start()];
    let c: C = build(
        C::builder()
            .servers(servers.iter().map(Memcached::url))
            .health(quick_health()),
    );
    let down = c.servers()[1].clone();
    servers[1].stop();
    let mut failed = 0;
    for k in keys(100) {
        match c.set(k.as_str(), "v") {
            Ok(()) => assert_ne!(c.server_for_key(&k), down),
            Err(e) => {
                assert_eq!(c.server_for_key(&k), down);
                assert!(e.is_connection_error(), "{e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 10);
    assert_eq!(
        stat_u64(&server_stats(&servers[0]), "curr_items"),
        100 - failed
    );
}

/// A multi-get with one server down returns the other servers' hits and
/// names the one that failed; every transport alike.
pub fn multi_get_returns_partial_results<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let c: C = build(
        C::builder()
            .servers(servers.iter().map(Memcached::url))
            .health(HealthConfig {
                failure_limit: 1,
                retry_after: Duration::from_secs(60),
            }),
    );
    let keys = keys(120);
    for k in &keys {
        c.set(k.as_str(), k.as_bytes()).unwrap();
    }
    let down = c.servers()[2].clone();
    servers[2].stop();
    for attempt in 0..2 {
        let hits = c.get_multi(&keys).expect("no bad input");
        assert!(!hits.is_complete(), "attempt {attempt}");
        assert_eq!(hits.failures().len(), 1);
        assert_eq!(hits.failures()[0].0, down);
        let expected: Vec<&String> = keys
            .iter()
            .filter(|k| c.server_for_key(k) != down)
            .collect();
        assert_eq!(hits.len(), expected.len());
        for (hit, k) in hits.iter().zip(expected) {
            assert_eq!(&hit.key[..], k.as_bytes());
            assert_eq!(hit.data, k.as_bytes());
        }
        assert!(hits.into_result().is_err());
    }
}

/// `set_multi`, `touch_multi` and `delete_multi`: one result per key, in
/// order, pipelined per server; a down server fails only its own keys.
pub fn multi_key_writes<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start()];
    let c: C = build(C::builder().servers(servers.iter().map(Memcached::url)));
    let keys = keys(50);
    let items: Vec<(&str, String)> = keys
        .iter()
        .map(|k| (k.as_str(), format!("v:{k}")))
        .collect();
    let stored = c.set_multi(
        items.iter().map(|(k, v)| (*k, v.as_str())),
        Expiry::secs(60),
    );
    assert_eq!(stored.len(), 50);
    for ((key, result), k) in stored.iter().zip(&keys) {
        assert_eq!(&key[..], k.as_bytes());
        assert!(result.is_ok(), "{k}: {result:?}");
    }
    let hits = c.get_multi(&keys).unwrap();
    assert_eq!(hits.len(), 50);
    assert!(hits
        .iter()
        .zip(&keys)
        .all(|(v, k)| v.data == format!("v:{k}").as_bytes()));
    let touched = c.touch_multi(&keys[..10], Expiry::secs(120));
    assert!(touched.iter().all(|(_, r)| r.is_ok()));
    let mut to_delete: Vec<&str> = keys[..20].iter().map(String::as_str).collect();
    to_delete.push("never:set");
    let deleted = c.delete_multi(&to_delete);
    assert_eq!(deleted.len(), 21);
    assert!(deleted[..20].iter().all(|(_, r)| r.is_ok()));
    assert!(matches!(deleted[20].1, Err(Error::NotFound)));
    assert_eq!(c.get_multi(&keys).unwrap().len(), 30);
    // Bad input anywhere: nothing is sent.
    let before = stat_u64(&server_stats(&servers[0]), "cmd_set")
        + stat_u64(&server_stats(&servers[1]), "cmd_set");
    let refused = c.set_multi([("ok", "1"), ("not ok", "2")], Expiry::Never);
    assert!(refused
        .iter()
        .all(|(_, r)| matches!(r, Err(Error::InvalidKey(_)))));
    let after = stat_u64(&server_stats(&servers[0]), "cmd_set")
        + stat_u64(&server_stats(&servers[1]), "cmd_set");
    assert_eq!(before, after);
    // A down server fails only its own keys.
    let down = c.servers()[1].clone();
    servers[1].stop();
    let results = c.set_multi(keys.iter().map(|k| (k.as_str(), "again")), Expiry::Never);
    for (key, result) in results {
        let on_down = c.server_for_key(&key) == down;
        assert_eq!(result.is_err(), on_down, "{key:?}: {result:?}");
    }
}

/// The server list is replaced on a running client: connections to the
/// server that stays are kept, keys move as ketama says, a removed
/// server gets no more requests.
pub fn live_reconfiguration<C: TestClient>() {
    let servers = [Memcached::start(), Memcached::start(), Memcached::start()];
    let c: C = build(C::builder().server(servers[0].url()));
    c.set("before", "x").unwrap();
    let opened = stat_u64(&server_stats(&servers[0]), "total_connections");
    c.set_servers([servers[0].url(), servers[1].url()]).unwrap();
    assert_eq!(c.servers().len(), 2);
    let keys = keys(200);
    for k in &keys {
        c.set(k.as_str(), k.as_bytes()).unwrap();
    }
    // Every key where the new list's ketama puts it.
    let on_0 = stat_u64(&server_stats(&servers[0]), "curr_items");
    let on_1 = stat_u64(&server_stats(&servers[1]), "curr_items");
    let expected_1 = keys
        .iter()
        .filter(|k| c.server_for_key(k.as_str()) == c.servers()[1])
        .count() as u64;
    assert_eq!(on_1, expected_1);
    assert_eq!(on_0 + on_1, 201);
    // The first server's connection was kept (the stats reads above each
    // opened one of their own: two).
    let now_opened = stat_u64(&server_stats(&servers[0]), "total_connections");
    assert!(
        now_opened <= opened + 2,
        "connections to the kept server were reopened: {opened} -> {now_opened}"
    );
    // Replace the list again, dropping server 0: it gets nothing more.
    c.set_servers([servers[1].url(), servers[2].url()]).unwrap();
    let sets_0 = stat_u64(&server_stats(&servers[0]), "cmd_set");
    for k in &keys {
        c.set(k.as_str(), "y").unwrap();
    }
    assert_eq!(stat_u64(&server_stats(&servers[0]), "cmd_set"), sets_0);
    assert!(stat_u64(&server_stats(&servers[2]), "curr_items") > 0);
    assert!(c.set_servers(Vec::<String>::new()).is_err());
}

/// A restarted server is back soon after its retry time (a probe finds
/// it), callers waiting meanwhile get through once the probe succeeds, and
/// the up/down hook hears both transitions once each.
pub fn restarted_server_is_probed_back<C: TestClient>() {
    let server = Memcached::start();
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let log = seen.clone();
    let retry_after = Duration::from_millis(300);
    let c: C = build(
        C::builder()
            .server(server.url())
            .health(HealthConfig {
                failure_limit: 1,
                retry_after,
            })
            .on_health_change(move |_, t| log.lock().unwrap_or_else(|e| e.into_inner()).push(t)),
    );
    c.set("k", "v").unwrap();
    server.stop();
    // The lost connection gets the server checked, the check (a fresh
    // connection) is refused: down, it fails fast.
    let mut errors = Vec::new();
    loop {
        match c.get("k") {
            Err(Error::NoServer(_)) => break,
            Err(e) => errors.push(e),
            Ok(v) => panic!("a value from a stopped server: {v:?}"),
        }
        assert!(errors.len() <= 2, "not down after {errors:?}");
    }
    server.restart();
    let ready = Instant::now();
    // Many callers at once as the retry time comes: none fails once the
    // server is back and probed.
    thread::sleep(retry_after);
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let c = c.clone();
            thread::spawn(move || c.set(format!("w{i}"), "v"))
        })
        .collect();
    for w in workers {
        w.join()
            .expect("worker")
            .expect("set after the server came back");
    }
    let elapsed = ready.elapsed();
    assert!(
        elapsed < retry_after + Duration::from_millis(500),
        "first successes {elapsed:?} after the restart"
    );
    let transitions = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(transitions, [Transition::Down, Transition::Up]);
}

/// A server closing an idle connection (memcached's `idle_timeout`, as a
/// proxy or a firewall may too) is no failure of the server: with a
/// failure limit of 1 and a long retry time, the next call gets through on
/// a new connection and the up/down hook hears nothing.
pub fn idle_connection_closed_by_the_server_is_no_failure<C: TestClient>() {
    let server = Memcached::builder().args(["-o", "idle_timeout=1"]).start();
    let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let log = seen.clone();
    let c: C = build(
        C::builder()
            .server(server.url())
            .health(HealthConfig {
                failure_limit: 1,
                retry_after: Duration::from_secs(60),
            })
            .on_health_change(move |_, t| log.lock().unwrap_or_else(|e| e.into_inner()).push(t)),
    );
    c.set("k", "v").unwrap();
    // memcached looks for idle connections about once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat_u64(&server_stats(&server), "idle_kicks") == 0 {
        assert!(
            Instant::now() < deadline,
            "the server kept the idle connection"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Time for a client that watches its sockets to notice the close.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(text(c.get("k")), "v");
    let transitions = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(transitions, []);
}

/// Connections the server has accepted so far (its `stats` read counts
/// one more).
fn accepted(server: &Memcached) -> u64 {
    let stats = server.stats(None);
    stats["total_connections"]
        .parse()
        .expect("total_connections")
}

/// A read that failed only because another request broke the shared
/// connection under it is sent once more, on a fresh connection; with
/// `retry_reads(false)` it is lost. The breaking request is a `get` whose
/// value exceeds the client's limit (a protocol violation, which poisons
/// the connection), pipelined on one connection between two other gets
/// (one key per request).
pub fn a_read_broken_by_another_request_is_retried<C: TestClient>() {
    let server = Memcached::start();
    let writer: C = client_for(&server);
    writer.set("small:1", "a").expect("set");
    writer.set("big", vec![b'x'; 1000]).expect("set");
    writer.set("small:2", "b").expect("set");
    for retry in [true, false] {
        let c: C = build(
            C::builder()
                .server(server.url())
                .limits(Config::default().max_keys(1).max_value_len(100))
                .retry_reads(retry),
        );
        let before = accepted(&server);
        let hits = c
            .get_multi(["small:1", "big", "small:2"])
            .expect("no bad input");
        let opened = accepted(&server) - before - 1;
        let keys: Vec<&[u8]> = hits.iter().map(|v| &v.key[..]).collect();
        assert_eq!(hits.failures().len(), 1, "{retry}: {hits:?}");
        assert!(
            matches!(hits.failures()[0].1, Error::Protocol(_)),
            "{retry}: {hits:?}"
        );
        if retry {
            assert_eq!(keys, [&b"small:1"[..], b"small:2"]);
            assert_eq!(opened, 2, "the retry went on a new connection");
        } else {
            assert_eq!(keys, [&b"small:1"[..]]);
            assert_eq!(opened, 1);
        }
    }
}

/// Instantiate the resilience suite for a client type: one `#[test]` per
/// function.
#[macro_export]
macro_rules! resilience_suite {
    ($client:ty) => {
        $crate::resilience_suite!(@tests $client;
            ejection_moves_a_dead_servers_keys_and_back,
            without_ejection_keys_stay_put,
            multi_get_returns_partial_results,
            multi_key_writes,
            live_reconfiguration,
            restarted_server_is_probed_back,
            a_read_broken_by_another_request_is_retried,
            idle_connection_closed_by_the_server_is_no_failure,
        );
    };
    (@tests $client:ty; $($name:ident),* $(,)?) => {
        mod resilience {
            $(
                #[test]
                fn $name() {
                    $crate::resilience::$name::<$client>();
                }
            )*
        }
    };
}
