//! The lovely.memcached seed, step by step, on memwire's high-level
//! blocking `Cache`. Usage: `cache_walkthrough HOST:PORT` (default
//! `127.0.0.1:11211`). Flushes the server it is given.
//!
//! Prints each step and its result; exits non-zero when a result differs
//! from the seed's.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use memwire::cache::blocking::Cache;
use memwire::cache::{CacheError, Json};
use memwire::Commands;

fn check(what: &str, ok: bool) -> Result<(), String> {
    println!("  {} {what}", if ok { "ok  " } else { "FAIL" });
    if ok {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort();
    v
}

fn run(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let build = || Cache::builder().server(addr);

    println!("== defaults");
    let defaults = Cache::new()?;
    println!(
        "  servers {:?}, default lifetime {}",
        defaults.servers(),
        defaults.default_lifetime()
    );

    let util = build().build()?;
    util.invalidate_all();

    println!("== set returns the generated key; query");
    let key = util.set("cache_key", "cached value")?;
    println!("  util.set(\"cache_key\", \"cached value\") = {key:?}");
    check(
        "key is 188693688126b424eb89e1385eca6f01",
        key == "188693688126b424eb89e1385eca6f01",
    )?;
    let v: Option<String> = util.query("cache_key")?;
    println!("  util.query(\"cache_key\") = {v:?}");
    check("value found", v.as_deref() == Some("cached value"))?;

    println!("== invalidate");
    util.invalidate("cache_key")?;
    check("gone", util.query::<String>("cache_key")?.is_none())?;

    println!("== unicode");
    util.set("cache_key", "cached value ä")?;
    let v: Option<String> = util.query("cache_key")?;
    println!("  query = {v:?}");
    check("round-trips", v.as_deref() == Some("cached value ä"))?;

    println!("== invalidate_all");
    util.invalidate_all();
    check("gone", util.query::<String>("cache_key")?.is_none())?;

    println!("== namespaces");
    let util1 = build().namespace("1").build()?;
    let util2 = build().namespace("2").build()?;
    util1.set(1, 1)?;
    util2.set(2, 2)?;
    println!(
        "  util1.query(1) = {:?}, util1.query(2) = {:?}, util1.ns(\"2\").query(2) = {:?}",
        util1.query::<i32>(1)?,
        util1.query::<i32>(2)?,
        util1.ns("2").query::<i32>(2)?
    );
    check(
        "util1 sees 1, not 2",
        util1.query::<i32>(1)? == Some(1) && util1.query::<i32>(2)?.is_none(),
    )?;
    check(
        "per-call namespace",
        util1.ns("2").query::<i32>(2)? == Some(2),
    )?;
    check(
        "util2 sees 2, not 1",
        util2.query::<i32>(2)? == Some(2) && util2.query::<i32>(1)?.is_none(),
    )?;
    util1.invalidate_all();
    check(
        "invalidate_all clears every namespace",
        util1.query::<i32>(1)?.is_none() && util2.query::<i32>(2)?.is_none(),
    )?;

    println!("== keys need tracking");
    let e = util1.keys::<i32>().err();
    println!(
        "  util1.keys() = Err({})",
        e.as_ref().map_or(String::new(), ToString::to_string)
    );
    check(
        "KeysNotTracked",
        matches!(e, Some(CacheError::KeysNotTracked)),
    )?;

    println!("== key tracking");
    let util3 = build().track_keys(true).build()?;
    util3.set(1, 1)?;
    println!("  keys = {:?}", sorted(util3.keys()?));
    util3.set(2, 2)?;
    let keys = sorted(util3.keys()?);
    println!("  keys = {keys:?}");
    check("[1, 2]", keys == [1, 2])?;

    println!("== keys across threads");
    let other = util3.clone();
    let seen = thread::spawn(move || -> Result<Vec<i32>, CacheError> {
        other.set(3, 3)?;
        Ok(sorted(other.keys()?))
    })
    .join()
    .map_err(|_| "thread panicked")??;
    println!("  thread saw {seen:?}");
    check("[1, 2, 3]", seen == [1, 2, 3])?;

    println!("== keys expire");
    util3.lifetime(1).set(4, 4)?;
    let keys = sorted(util3.keys()?);
    println!("  keys = {keys:?}; sleeping 2 s");
    check("[1, 2, 3, 4]", keys == [1, 2, 3, 4])?;
    thread::sleep(Duration::from_secs(2));
    let keys = sorted(util3.keys()?);
    println!("  keys = {keys:?}");
    check("[1, 2, 3]", keys == [1, 2, 3])?;
    check("query(4) is None", util3.query::<i32>(4)?.is_none())?;

    println!("== keys are bound to a namespace");
    util3.ns("3").set(5, 5)?;
    let (plain, ns3) = (sorted(util3.keys()?), sorted(util3.ns("3").keys()?));
    println!("  keys() = {plain:?}, ns(\"3\").keys() = {ns3:?}");
    check("[1, 2, 3] and [5]", plain == [1, 2, 3] && ns3 == [5])?;

    println!("== invalidate updates the keys");
    util3.invalidate(1)?;
    let keys = sorted(util3.keys()?);
    println!("  keys = {keys:?}");
    check("[2, 3]", keys == [2, 3])?;

    println!("== raw keys");
    let bad = util.raw().set("a b", "value of a");
    println!("  raw().set(\"a b\") = {bad:?}");
    check(
        "invalid raw key is an error",
        matches!(bad, Err(CacheError::InvalidKey { .. })),
    )?;
    let k = util.raw().set("a", "value of a")?;
    println!("  raw().set(\"a\") = {k:?}");
    check("'a'", k == "a")?;
    let k = util.raw().ns("NS_").set("a", "value of a")?;
    println!("  raw().ns(\"NS_\").set(\"a\") = {k:?}");
    check("'NS_a'", k == "NS_a")?;
    let k = util.raw().ns("NS_").set("http://a/bc?x=1", "value of a")?;
    println!("  raw().ns(\"NS_\").set(\"http://a/bc?x=1\") = {k:?}");
    check(
        "raw query finds it",
        util.raw().query::<String>("a")?.as_deref() == Some("value of a"),
    )?;
    check(
        "hashed query does not",
        util.query::<String>("a")?.is_none(),
    )?;
    util.invalidate("a")?;
    check(
        "invalidate (hashed) leaves it",
        util.raw().query::<String>("a")?.is_some(),
    )?;
    util.raw().invalidate("a")?;
    check(
        "raw().invalidate removes it",
        util.raw().query::<String>("a")?.is_none(),
    )?;

    println!("== values: each type has its encoding (memcached flags)");
    util.raw().set("text", "cached value ä")?;
    util.raw().set("bytes", vec![0u8, 255])?;
    util.raw().set("number", 42)?;
    util.raw().set("json", Json(("ä", [1.5, 2.0])))?;
    for key in ["text", "bytes", "number", "json"] {
        if let Some(v) = util.client().get(key)? {
            println!("  {key}: flags {} data {:?}", v.flags, v.data);
        }
    }
    let n: Option<i64> = util.raw().query("number")?;
    check("a number reads back", n == Some(42))?;
    let Json(pair): Json<(String, Vec<f64>)> = util.raw().query("json")?.ok_or("json missing")?;
    check(
        "a Json value reads back",
        pair == ("ä".to_string(), vec![1.5, 2.0]),
    )?;
    check(
        "a number is not text",
        matches!(
            util.raw().query::<String>("number"),
            Err(CacheError::Decode(_))
        ),
    )?;

    println!("== statistics");
    for (server, stats) in util.statistics() {
        let items = stats
            .as_ref()
            .ok()
            .and_then(|s| s.get("total_items"))
            .and_then(|v| v.as_u64());
        println!("  ({server:?}, {{total_items: {items:?}, ...}})");
        check("statistics answered", stats.is_ok())?;
    }

    println!("== a server that is not there");
    let down = Cache::builder()
        .server("127.0.0.1:1")
        .on_error(|f| println!("  hook: {f}"))
        .build()?;
    let k = down.set("cache_object", "cached value")?;
    println!("  set = {k:?} (nothing stored)");
    check(
        "query is None",
        down.query::<String>("cache_object")?.is_none(),
    )?;
    check("failures were reported", down.failures() >= 2)?;

    util.invalidate_all();
    Ok(())
}

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:11211".into());
    println!("lovely.memcached walkthrough against {addr}");
    match run(&addr) {
        Ok(()) => {
            println!("all steps as in the seed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cache_walkthrough failed: {e}");
            ExitCode::FAILURE
        }
    }
}
