//! Cluster resilience, live: three memcached servers (A, B, C) under one
//! blocking client, B stopped and restarted. Shows how keys spread over
//! the servers, the first error when B dies and the fail-fast `NoServer`
//! after it, a multi-get's partial results, ejection (B's keys go to the
//! next server along the ring), the up/down hook as B comes back, and
//! `set_servers` adding a fourth server live, and what the client counted
//! per server (`server_metrics`). Every step checks what it
//! prints: the program exits non-zero when one does not hold.
//! `scripts/demo` runs it; alone (memcached from `MEMCACHED_BIN` or `PATH`):
//!
//! ```text
//! cargo run -p memwire-tests --example failover_walkthrough
//! ```

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memwire::blocking::Client;
use memwire::client::Transition;
use memwire::cluster::{HealthConfig, ServerAddr};
use memwire::{Commands, Error};
use memwire_tests::Memcached;

type Result<T = ()> = std::result::Result<T, Box<dyn StdError>>;

/// Quick to give up on a server, quick to try it again.
const HEALTH: HealthConfig = HealthConfig {
    failure_limit: 2,
    retry_after: Duration::from_millis(500),
};
const KEYS: usize = 300;
const B: usize = 1;

/// The servers, named A, B, C, D after their place in the list; the
/// clients start with the first three.
struct Cluster(Vec<Memcached>);

impl Cluster {
    fn name(&self, addr: &ServerAddr) -> String {
        let addr = addr.to_string();
        match self.0.iter().position(|s| s.addr() == addr) {
            Some(i) => format!("{} ({addr})", char::from(b'A' + i as u8)),
            None => addr,
        }
    }

    fn urls(&self, n: usize) -> Vec<String> {
        self.0[..n].iter().map(Memcached::url).collect()
    }
}

/// The last up/down transition a client's hook heard.
type Heard = Arc<Mutex<Option<Transition>>>;

/// A client over the first three servers whose hook prints and records
/// each transition.
fn client(cluster: &Arc<Cluster>, tag: &'static str, eject: bool) -> Result<(Client, Heard)> {
    let heard = Heard::default();
    let (names, log) = (Arc::clone(cluster), Arc::clone(&heard));
    let client = Client::builder()
        .servers(cluster.urls(3))
        .health(HEALTH)
        .eject_failed_servers(eject)
        .on_health_change(move |addr, change| {
            println!("    [{tag} hook] {} is {change:?}", names.name(addr));
            *log.lock().unwrap_or_else(|e| e.into_inner()) = Some(change);
        })
        .build()?;
    Ok((client, heard))
}

/// Fails the walkthrough, saying `what`, unless `ok`.
fn check(ok: bool, what: impl std::fmt::Display) -> Result {
    ok.then_some(())
        .ok_or_else(|| format!("not as shown: {what}").into())
}

/// An error and its causes, one after the other.
fn explain(e: &(dyn StdError + 'static)) -> String {
    let chain = std::iter::successors(Some(e), |&e| e.source());
    chain
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The items a server holds, from its own `stats`.
fn items(server: &Memcached) -> usize {
    server.stats(None)["curr_items"].parse().unwrap_or(0)
}

/// The keys ketama gives to server `index`.
fn keys_of(c: &Client, keys: &[String], index: usize) -> Vec<String> {
    let owner = |k: &&String| c.server_for_key(k) == c.servers()[index];
    keys.iter().filter(owner).cloned().collect()
}

/// Stores every key and prints how many items each server holds.
fn spread(c: &Client, cluster: &Cluster, keys: &[String]) -> Result {
    for k in keys {
        c.set(k, k.as_bytes())?;
    }
    for (i, addr) in c.servers().iter().enumerate() {
        let held = items(&cluster.0[i]);
        println!("    {}: {held} items", cluster.name(addr));
        let owned = keys_of(c, keys, i).len();
        check(
            held == owned && held > 0,
            "items not where ketama puts them",
        )?;
    }
    Ok(())
}

/// B stopped: the first calls for one of its keys fail, then calls fail
/// fast with `NoServer` until its retry time; A's keys still work.
fn fail_fast(c: &Client, cluster: &Cluster, keys: &[String]) -> Result {
    cluster.0[B].stop();
    let a_key = &keys_of(c, keys, 0)[0];
    let hit = c.get(a_key)?.is_some();
    println!("    get({a_key:?}), a key of A -> hit: {hit}");
    check(hit, "A's key lost")?;
    let key = &keys_of(c, keys, B)[0];
    println!("    get({key:?}), a key of B, until B is marked down:");
    // Up to 5: on a slow machine a probe may come due (and be refused) first.
    for attempt in 1..=5 {
        match c.get(key) {
            Err(e @ Error::NoServer(_)) => {
                println!("    call {attempt}: fails fast: {e}");
                return Ok(());
            }
            Err(e) => {
                check(
                    e.is_connection_error(),
                    format!("not a connection error: {e:?}"),
                )?;
                println!("    call {attempt}: {}", explain(&e));
            }
            Ok(v) => return Err(format!("a reply from a stopped server: {v:?}").into()),
        }
    }
    Err("B was never marked down".into())
}

/// A multi-get of every key: the hits of A and C, and B named as failed.
fn partial(c: &Client, cluster: &Cluster, keys: &[String]) -> Result {
    let hits = c.get_multi(keys)?;
    let expected = keys.len() - keys_of(c, keys, B).len();
    println!(
        "    get_multi of every key: {} hits from A and C",
        hits.len()
    );
    for (addr, e) in hits.failures() {
        println!("    failed: {}: {e}", cluster.name(addr));
    }
    check(hits.len() == expected, "hits missing from the live servers")?;
    check(
        hits.failures().len() == 1 && hits.failures()[0].0 == c.servers()[B],
        "B is not the one failure",
    )
}

/// An ejecting client stores B's keys on the next live server along the
/// ring, A or C (their `stats` say so); its first calls find B dead.
fn eject(c: &Client, cluster: &Cluster, keys: &[String]) -> Result {
    let b_keys = keys_of(c, keys, B);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut failed = 0;
    while b_keys.iter().any(|k| c.set(k, "moved").is_err()) {
        failed += 1;
        check(Instant::now() < deadline, "B's keys never moved")?;
    }
    println!("    its first {failed} set(s) failed: that is how this client found B dead");
    let router = &c.router();
    let moved_to = |i| {
        b_keys
            .iter()
            .filter(move |k| router.route(k.as_bytes()) == i)
    };
    let (to_a, to_c) = (moved_to(0).count(), moved_to(2).count());
    println!("    B's keys now on A ({to_a}) and C ({to_c})");
    check(to_a + to_c == b_keys.len(), "keys of B routed nowhere")?;
    let held = |i| items(&cluster.0[i]) - keys_of(c, keys, i).len();
    check(held(0) == to_a && held(2) == to_c, "moved keys not stored")
}

/// B restarted: once a probe found it, calls for its keys go to it again
/// (a miss: B restarted empty, and an ejecting client stops reading the
/// copy it moved elsewhere), and the hook heard it come back.
fn back(c: &Client, heard: &Heard, key: &str, restarted: Instant) -> Result {
    let started = Instant::now();
    loop {
        match c.get(key) {
            Ok(None) => break,
            Ok(Some(_)) | Err(_) if started.elapsed() < Duration::from_secs(5) => {}
            other => return Err(format!("{key} not back on B: {other:?}").into()),
        }
        thread::sleep(Duration::from_millis(20));
    }
    let ms = restarted.elapsed().as_millis();
    println!("    get({key:?}) -> None (B is empty), {ms} ms after the restart");
    let last = *heard.lock().unwrap_or_else(|e| e.into_inner());
    check(last == Some(Transition::Up), "the hook did not hear Up")
}

/// `set_servers` adds a fourth server D to the running client: only the
/// keys ketama now gives to D move.
fn add_server(c: &Client, cluster: &Cluster, keys: &[String]) -> Result {
    let before: Vec<ServerAddr> = keys.iter().map(|k| c.server_for_key(k)).collect();
    c.set_servers(cluster.urls(4))?;
    let d = c.servers()[3].clone();
    let after: Vec<ServerAddr> = keys.iter().map(|k| c.server_for_key(k)).collect();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let to_d = after.iter().filter(|a| **a == d).count();
    println!("    set_servers([A, B, C, D]): {moved} of {KEYS} keys move, all to D");
    check(moved == to_d && moved > 0, "keys moved between old servers")?;
    for k in keys {
        c.set(k, "v2")?;
    }
    let on_d = items(&cluster.0[3]);
    println!("    D now holds {on_d} items");
    check(on_d == to_d, "D does not hold its keys")
}

/// What the client counted per server through all of the above: B's
/// connect failures and refusals, the others' clean record.
fn metrics(c: &Client, cluster: &Cluster) -> Result {
    for (addr, m) in c.server_metrics() {
        println!(
            "    {}: {} requests, {} in flight, {} refused, {} connection errors, \
             {} connections ({} failed), {} B out / {} B in",
            cluster.name(&addr),
            m.requests,
            m.in_flight(),
            m.refused,
            m.connection_errors,
            m.connections,
            m.connect_failures,
            m.bytes_sent,
            m.bytes_received
        );
        check(m.in_flight() == 0, "a request is still counted in flight")?;
    }
    let b = cluster.0[B].addr();
    let b_failed = c
        .server_metrics()
        .into_iter()
        .any(|(addr, m)| addr.to_string() == b && m.connect_failures > 0);
    check(b_failed, "B's failed connects were not counted")
}

fn step(title: &str) {
    println!("-- {title}");
}

fn main() -> Result {
    let cluster = Arc::new(Cluster((0..4).map(|_| Memcached::start()).collect()));
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i}")).collect();
    let (c, heard) = client(&cluster, "client", false)?;
    step(&format!("{KEYS} keys over A, B and C, placed by ketama"));
    spread(&c, &cluster, &keys)?;
    let b_keys = keys_of(&c, &keys, B);
    step("B stopped: its keys fail, the others work");
    fail_fast(&c, &cluster, &keys)?;
    step("get_multi with B down: partial results");
    partial(&c, &cluster, &keys)?;
    step("a client built with eject_failed_servers(true): B's keys move on");
    let (ejecting, ejecting_heard) = client(&cluster, "ejecting", true)?;
    eject(&ejecting, &cluster, &keys)?;
    step("B restarted: probed back, its keys return to it");
    cluster.0[B].restart();
    let restarted = Instant::now();
    back(&c, &heard, &b_keys[0], restarted)?;
    back(&ejecting, &ejecting_heard, &b_keys[1], restarted)?;
    c.set(&b_keys[0], "home")?;
    let on_b = items(&cluster.0[B]);
    println!("    set({:?}) -> Ok; B holds {on_b} item(s)", b_keys[0]);
    check(on_b == 1, "the set did not reach B")?;
    step("set_servers: D joins the running client");
    add_server(&c, &cluster, &keys)?;
    step("what the client counted per server (server_metrics)");
    metrics(&c, &cluster)
}
