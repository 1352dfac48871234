//! memwire shares a cluster with libmemcached clients: keys written by
//! pylibmc (libmemcached, weighted ketama) are found by memwire on the same
//! server, and the other way round. A placement difference shows up as
//! misses, because each client only asks the server its own ketama picks.
//!
//! Needs Debian's `python3-pylibmc` (`scripts/test` installs it); the
//! interpreter is `/usr/bin/python3` unless `PYLIBMC_PYTHON` names another.
#![cfg(feature = "blocking")]

use std::process::Command as Process;

use memwire::blocking::Client;
use memwire::Commands;
use memwire_tests::Memcached;

const KEYS: usize = 300;
const WEIGHTS: [u32; 3] = [3, 1, 2];

fn python() -> String {
    std::env::var("PYLIBMC_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// Run `script` with pylibmc connected to `servers` (weighted ketama) as
/// `mc`; returns its stdout.
fn pylibmc(servers: &[String], script: &str) -> String {
    let list: Vec<String> = servers
        .iter()
        .zip(WEIGHTS)
        .map(|(s, w)| format!("{s}:{w}"))
        .collect();
    let program = format!(
        "import pylibmc\nmc = pylibmc.Client({list:?}, binary=False, behaviors={{'ketama_weighted': True}})\n{script}"
    );
    let out = Process::new(python())
        .arg("-c")
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (install python3-pylibmc)", python()));
    assert!(
        out.status.success(),
        "pylibmc script failed (is Debian's python3-pylibmc installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cluster() -> (Vec<Memcached>, Vec<String>, Client) {
    let servers: Vec<Memcached> = (0..3).map(|_| Memcached::start()).collect();
    let addrs: Vec<String> = servers.iter().map(Memcached::addr).collect();
    let mut builder = Client::builder();
    for (addr, w) in addrs.iter().zip(WEIGHTS) {
        builder = builder.weighted_server(addr.clone(), w);
    }
    let client = builder.build().expect("client");
    (servers, addrs, client)
}

/// Which of `servers` holds `key`, asked of each server alone.
fn holders(servers: &[Memcached], key: &str) -> Vec<usize> {
    servers
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let alone = Client::new([s.addr()]).expect("client");
            alone.get(key).expect("get").is_some()
        })
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn memwire_reads_what_pylibmc_wrote() {
    let (servers, addrs, client) = cluster();
    pylibmc(
        &addrs,
        &format!("for i in range({KEYS}):\n    mc.set('interop:%d' % i, 'from python %d' % i)\n"),
    );
    for i in 0..KEYS {
        let key = format!("interop:{i}");
        let value = client
            .get(&key)
            .expect("get")
            .unwrap_or_else(|| panic!("{key} not on the server memwire picked"));
        assert_eq!(&value.data[..], format!("from python {i}").as_bytes());
    }
    // The keys really are spread: every server holds some.
    let mut per_server = [0usize; 3];
    for i in 0..KEYS {
        let h = holders(&servers, &format!("interop:{i}"));
        assert_eq!(h.len(), 1, "interop:{i} on {h:?}");
        per_server[h[0]] += 1;
    }
    assert!(per_server.iter().all(|&n| n > 0), "{per_server:?}");
    // Weight 3 holds more than weight 1.
    assert!(per_server[0] > per_server[1], "{per_server:?}");
}

#[test]
fn pylibmc_reads_what_memwire_wrote() {
    let (_servers, addrs, client) = cluster();
    for i in 0..KEYS {
        client
            .set(format!("back:{i}"), format!("from rust {i}"))
            .expect("set");
    }
    let out = pylibmc(
        &addrs,
        &format!(
            "bad = [i for i in range({KEYS}) if mc.get('back:%d' % i) != b'from rust %d' % i]\nprint(len(bad), bad[:5])\n"
        ),
    );
    assert_eq!(out.trim(), "0 []", "pylibmc missed keys memwire stored");
}
