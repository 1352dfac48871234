//! Walks through the memcached2 seed ("Low-Level Memcache() Interface")
//! step by step with the blocking client, printing each call and its
//! result.
//!
//! ```text
//! cargo run -p memwire --example seed_walkthrough -- memcached://127.0.0.1:11211
//! ```
//!
//! The expiry step uses a 2 s expiry instead of the seed's 30 s.

use std::fmt::Debug;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use memwire::blocking::Client;
use memwire::{Commands, Error, Expiry, PerServer, StatMap, StoreOptions, Value};

/// Prints a section header.
fn section(title: &str) {
    println!("\n== {title}");
}

/// Prints a call and its result.
fn show<T: Debug>(call: &str, result: &T) {
    println!(">>> {call}\n    {result:?}");
}

/// A value the way the seed shows it: data, key and flags (and cas).
fn describe(value: &Option<Value>) -> String {
    match value {
        None => "None (miss)".to_owned(),
        Some(v) => {
            let mut s = format!(
                "{:?} (key {:?}, flags {}",
                String::from_utf8_lossy(&v.data),
                String::from_utf8_lossy(&v.key),
                v.flags
            );
            if let Some(cas) = v.cas {
                s.push_str(&format!(", cas_unique {cas}"));
            }
            s.push(')');
            s
        }
    }
}

fn show_value(call: &str, result: &Result<Option<Value>, Error>) {
    match result {
        Ok(v) => println!(">>> {call}\n    {}", describe(v)),
        Err(e) => println!(">>> {call}\n    error: {e:?}"),
    }
}

/// Prints a per-server stats map, a few entries per line.
fn show_stats(call: &str, per_server: &PerServer<StatMap>, only: Option<&[&str]>) {
    println!(">>> {call}");
    for (server, result) in per_server {
        match result {
            Ok(map) => {
                println!("    {server}: {} stats", map.len());
                for (name, value) in map {
                    let wanted = match only {
                        Some(names) => names.contains(&name.as_str()),
                        None => true,
                    };
                    if wanted {
                        println!("      {name}: {value:?}");
                    }
                }
            }
            Err(e) => println!("    {server}: error: {e}"),
        }
    }
}

fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    section("Connect");
    let memcache = Client::new([url])?;
    let servers: Vec<String> = memcache.servers().iter().map(ToString::to_string).collect();
    println!(
        ">>> Client::new([{url:?}])\n    servers: {}",
        servers.join(", ")
    );
    // Start from an empty cache so the walkthrough is repeatable.
    for (server, r) in memcache.flush_all() {
        r?;
        println!("    (flushed {server})");
    }

    section("Basic get: a miss is None, not an error");
    let result = memcache.get("session_id");
    show_value("memcache.get(\"session_id\")", &result);
    if result?.is_none() {
        println!("    Cached value not available, need to recompute it");
    }

    section("set, get and Value");
    let r = memcache.set("session_id", "TEST SESSSION DATA");
    show("memcache.set(\"session_id\", \"TEST SESSSION DATA\")", &r);
    r?;
    let result = memcache.get("session_id");
    show_value("memcache.get(\"session_id\")", &result);
    if let Some(v) = result? {
        println!("    result.key = {:?}", String::from_utf8_lossy(&v.key));
        println!("    result.flags = {}", v.flags);
    }

    section("Flags, expiration time and touch");
    let r = memcache.set_with(
        "foo",
        "xXx",
        StoreOptions::new().flags(12).expiry(Expiry::secs(2)),
    );
    show(
        "memcache.set_with(\"foo\", \"xXx\", StoreOptions::new().flags(12).expiry(Expiry::secs(2)))",
        &r,
    );
    r?;
    show_value("memcache.get(\"foo\")", &memcache.get("foo"));
    println!(">>> sleep 3 s");
    thread::sleep(Duration::from_secs(3));
    let result = memcache.get("foo");
    show_value("memcache.get(\"foo\")", &result);
    if result?.is_none() {
        println!("    expired: NoValue");
    }
    let r = memcache.set_with("foo", "bar", Expiry::secs(2));
    show("memcache.set_with(\"foo\", \"bar\", Expiry::secs(2))", &r);
    r?;
    let r = memcache.touch("foo", Expiry::secs(30));
    show("memcache.touch(\"foo\", Expiry::secs(30))", &r);
    r?;
    println!(">>> sleep 3 s");
    thread::sleep(Duration::from_secs(3));
    show_value("memcache.get(\"foo\")", &memcache.get("foo"));

    section("replace, append and prepend");
    show(
        "memcache.replace(\"unset_key\", \"xyzzy\")",
        &memcache.replace("unset_key", "xyzzy"),
    );
    let r = memcache.set_with("unset_key", "old_data", Expiry::secs(30));
    show(
        "memcache.set_with(\"unset_key\", \"old_data\", Expiry::secs(30))",
        &r,
    );
    r?;
    let r = memcache.replace("unset_key", "xyzzy");
    show("memcache.replace(\"unset_key\", \"xyzzy\")", &r);
    r?;
    show_value("memcache.get(\"unset_key\")", &memcache.get("unset_key"));
    let r = memcache.append("unset_key", ">>>");
    show("memcache.append(\"unset_key\", \">>>\")", &r);
    r?;
    let r = memcache.prepend("unset_key", "<<<");
    show("memcache.prepend(\"unset_key\", \"<<<\")", &r);
    r?;
    show_value("memcache.get(\"unset_key\")", &memcache.get("unset_key"));

    section("CAS (check and set)");
    let r = memcache.set("foo", "bar");
    show("memcache.set(\"foo\", \"bar\")", &r);
    r?;
    let result = memcache.gets("foo");
    show_value("memcache.gets(\"foo\")", &result);
    let cas_unique = result?.and_then(|v| v.cas).unwrap_or(0);
    println!("    result.cas = {cas_unique}");
    let r = memcache.cas("foo", "baz", cas_unique);
    show(&format!("memcache.cas(\"foo\", \"baz\", {cas_unique})"), &r);
    r?;
    show_value("memcache.gets(\"foo\")", &memcache.gets("foo"));
    show(
        &format!("memcache.cas(\"foo\", \"qux\", {cas_unique})"),
        &memcache.cas("foo", "qux", cas_unique),
    );
    show_value("memcache.gets(\"foo\")", &memcache.gets("foo"));

    section("incr and decr");
    show(
        "memcache.incr(\"incrtest\", 1)",
        &memcache.incr("incrtest", 1),
    );
    let r = memcache.set("incrtest", "a");
    show("memcache.set(\"incrtest\", \"a\")", &r);
    r?;
    show(
        "memcache.incr(\"incrtest\", 1)",
        &memcache.incr("incrtest", 1),
    );
    let r = memcache.set("incrtest", "1");
    show("memcache.set(\"incrtest\", \"1\")", &r);
    r?;
    show(
        "memcache.incr(\"incrtest\", 1)",
        &memcache.incr("incrtest", 1),
    );
    show(
        "memcache.decr(\"incrtest\", 1)",
        &memcache.decr("incrtest", 1),
    );
    show_value("memcache.get(\"incrtest\")", &memcache.get("incrtest"));

    section("Statistics (one result per server)");
    show_stats(
        "memcache.stats()  (selected entries)",
        &memcache.stats(),
        Some(&[
            "curr_connections",
            "curr_items",
            "cmd_get",
            "cmd_set",
            "get_hits",
            "get_misses",
            "cas_hits",
            "cas_badval",
            "incr_hits",
            "incr_misses",
            "touch_hits",
            "pid",
            "uptime",
            "version",
        ]),
    );
    show_stats(
        "memcache.stats_settings()  (selected entries)",
        &memcache.stats_settings(),
        Some(&[
            "cas_enabled",
            "evictions",
            "growth_factor",
            "inter",
            "item_size_max",
            "maxbytes",
            "maxconns",
            "num_threads",
            "tcpport",
        ]),
    );
    println!(">>> memcache.stats_items()");
    for (server, result) in memcache.stats_items() {
        match result {
            Ok(classes) => {
                for (class, stats) in classes {
                    let pick = ["number", "age", "evicted", "outofmemory"];
                    let line: Vec<String> = pick
                        .iter()
                        .filter_map(|n| stats.get(*n).map(|v| format!("{n}: {v}")))
                        .collect();
                    println!("    {server}: class {class}: {}", line.join(", "));
                }
            }
            Err(e) => println!("    {server}: error: {e}"),
        }
    }
    println!(">>> memcache.stats_sizes()");
    for (server, result) in memcache.stats_sizes() {
        match result {
            Ok(s) if s.enabled => println!("    {server}: {:?}", s.sizes),
            Ok(_) => println!(
                "    {server}: size tracking disabled (start memcached with -o track_sizes)"
            ),
            Err(e) => println!("    {server}: error: {e}"),
        }
    }
    println!(">>> memcache.stats_slabs()");
    for (server, result) in memcache.stats_slabs() {
        match result {
            Ok(slabs) => {
                for (name, value) in &slabs.totals {
                    println!("    {server}: {name}: {value}");
                }
                for (class, stats) in &slabs.classes {
                    let pick = ["chunk_size", "used_chunks", "total_chunks", "get_hits"];
                    let line: Vec<String> = pick
                        .iter()
                        .filter_map(|n| stats.get(*n).map(|v| format!("{n}: {v}")))
                        .collect();
                    println!("    {server}: class {class}: {}", line.join(", "));
                }
            }
            Err(e) => println!("    {server}: error: {e}"),
        }
    }

    section("delete, flush_all and close");
    let r = memcache.delete("foo");
    show("memcache.delete(\"foo\")", &r);
    r?;
    println!(">>> memcache.flush_all()");
    for (server, result) in memcache.flush_all() {
        println!("    {server}: {result:?}");
        result?;
    }
    memcache.close();
    println!(">>> memcache.close()\n    ()");
    Ok(())
}

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memcached://127.0.0.1:11211".to_owned());
    match run(&url) {
        Ok(()) => {
            println!("\nwalkthrough complete");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("walkthrough failed: {e}");
            ExitCode::FAILURE
        }
    }
}
