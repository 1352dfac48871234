//! The `memwire` command-line tool (package `memwire-cli`), run as a
//! process against real memcached servers: every subcommand, its output,
//! and the exit codes a shell script relies on (0 ok, 1 miss / not found /
//! not stored, 2 usage, 3 connection or server error).
//!
//! The binary is built once per run with the cargo that runs these tests,
//! into the same target directory (or taken from `MEMWIRE_BIN`).
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use memwire::blocking::Client;
use memwire::{Commands, Expiry, StoreOptions};
use memwire_tests::Memcached;
use serde_json::Value as Json;

/// The `memwire` binary: `MEMWIRE_BIN`, else built now (a no-op when up
/// to date) next to this test's own target directory.
fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("MEMWIRE_BIN") {
            return PathBuf::from(bin);
        }
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test binary lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target directory");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "memwire-cli", "--bin", "memwire"])
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building memwire-cli failed: {status}");
        profile_dir.join("memwire")
    })
}

/// What one run printed and how it exited.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw: Vec<u8>,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    #[track_caller]
    fn exits(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{self:?}");
        self
    }
}

/// `memwire --servers SERVERS ARGS...`, with `stdin` as its input.
fn memwire_in(servers: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(bin())
        .arg("--servers")
        .arg(servers)
        .args(args)
        .env_remove("MEMCACHED_SERVERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memwire runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin)
        .expect("stdin written");
    finish(child.wait_with_output().expect("memwire finishes"))
}

/// `memwire --servers SERVERS ARGS...`.
fn memwire(servers: &str, args: &[&str]) -> Run {
    memwire_in(servers, args, b"")
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().expect("memwire exited (no signal)"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw: out.stdout,
    }
}

fn client(server: &Memcached) -> Client {
    Client::new([server.url()]).unwrap()
}

#[test]
fn get_prints_values_in_order_and_a_miss_exits_1() {
    let server = Memcached::start();
    let mc = client(&server);
    mc.set_with("a", "alpha", StoreOptions::new().flags(42))
        .unwrap();
    mc.set("b", "beta").unwrap();
    let run = memwire(&server.addr(), &["get", "a", "b"]).ok();
    assert_eq!(run.stdout, "alpha\nbeta\n");
    assert_eq!(
        memwire(&server.addr(), &["cat", "-n", "a"]).ok().stdout,
        "alpha"
    );
    assert_eq!(
        memwire(&server.addr(), &["get", "--flags", "a", "b"])
            .ok()
            .stdout,
        "42\n0\n"
    );

    let run = memwire(&server.addr(), &["get", "a", "missing", "b"]).exits(1);
    assert_eq!(
        run.stdout, "alpha\nbeta\n",
        "the other keys are still printed"
    );
    assert_eq!(run.stderr, "memwire: missing: not found\n");
}

#[test]
fn set_takes_the_value_from_the_argument_or_stdin() {
    let server = Memcached::start();
    let mc = client(&server);
    memwire(
        &server.addr(),
        &["set", "k", "from argument", "--flags", "7"],
    )
    .ok();
    let v = mc.get("k").unwrap().unwrap();
    assert_eq!((&v.data[..], v.flags), (&b"from argument"[..], 7));

    let binary: Vec<u8> = (0..=255u8).chain(*b"\r\nEND\r\n").collect();
    memwire_in(&server.addr(), &["set", "bin"], &binary).ok();
    assert_eq!(mc.get("bin").unwrap().unwrap().data, binary);
    let run = memwire(&server.addr(), &["get", "-n", "bin"]).ok();
    assert_eq!(run.raw, binary, "byte-exact round trip");
}

#[test]
fn set_ttl_and_conditional_stores() {
    let server = Memcached::start();
    let mc = client(&server);
    memwire(&server.addr(), &["set", "short", "v", "--ttl", "1"]).ok();
    memwire(&server.addr(), &["set", "long", "v", "--ttl", "3000000"]).ok(); // > 30 days
    memwire(&server.addr(), &["set", "forever", "v", "--ttl", "0"]).ok();
    let ttls = keys_json(&server);
    assert_eq!(ttls["forever"]["exp"], Json::Null);
    assert!(ttls["long"]["exp"].as_u64().unwrap() > ttls["short"]["exp"].as_u64().unwrap());
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(mc.get("short").unwrap(), None, "--ttl 1 expired");
    assert!(
        mc.get("long").unwrap().is_some(),
        "--ttl over 30 days is not 1970"
    );

    let run = memwire(&server.addr(), &["set", "--add", "forever", "again"]).exits(1);
    assert_eq!(run.stderr, "memwire: forever: not stored\n");
    memwire(&server.addr(), &["set", "--add", "fresh", "v"]).ok();
    memwire(&server.addr(), &["set", "--replace", "absent", "v"]).exits(1);
    memwire(&server.addr(), &["set", "--replace", "fresh", "w"]).ok();
    assert_eq!(mc.get("fresh").unwrap().unwrap().data, "w");
    memwire(&server.addr(), &["set", "--add", "--replace", "x", "v"]).exits(2);
}

#[test]
fn cp_stores_files_under_their_names() {
    let server = Memcached::start();
    let dir = std::env::temp_dir().join(format!("memwire-cli-cp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (one, two) = (dir.join("one.txt"), dir.join("two.bin"));
    std::fs::write(&one, "first file\n").unwrap();
    std::fs::write(&two, [0u8, 1, 2, 255]).unwrap();
    let paths = [one.to_str().unwrap(), two.to_str().unwrap()];
    memwire(&server.addr(), &["cp", paths[0], paths[1], "--flags", "3"]).ok();
    let mc = client(&server);
    let v = mc.get("one.txt").unwrap().unwrap();
    assert_eq!((&v.data[..], v.flags), (&b"first file\n"[..], 3));
    assert_eq!(
        mc.get("two.bin").unwrap().unwrap().data,
        vec![0u8, 1, 2, 255]
    );

    let missing = dir.join("missing");
    let run = memwire(&server.addr(), &["cp", missing.to_str().unwrap(), paths[0]]).exits(2);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rm_touch_incr_decr() {
    let server = Memcached::start();
    let mc = client(&server);
    mc.set("gone", "v").unwrap();
    mc.set("n", "10").unwrap();
    mc.set("text", "abc").unwrap();

    memwire(&server.addr(), &["rm", "gone"]).ok();
    assert_eq!(mc.get("gone").unwrap(), None);
    let run = memwire(&server.addr(), &["delete", "gone"]).exits(1);
    assert_eq!(run.stderr, "memwire: gone: not found\n");

    memwire(&server.addr(), &["touch", "n", "--ttl", "100"]).ok();
    let exp = keys_json(&server)["n"]["exp"]
        .as_u64()
        .expect("n now expires");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(exp > now && exp <= now + 101, "exp {exp}, now {now}");
    memwire(&server.addr(), &["touch", "nope", "--ttl", "5"]).exits(1);
    memwire(&server.addr(), &["touch", "n"]).exits(2); // --ttl is required

    assert_eq!(memwire(&server.addr(), &["incr", "n"]).ok().stdout, "11\n");
    assert_eq!(
        memwire(&server.addr(), &["incr", "n", "5"]).ok().stdout,
        "16\n"
    );
    assert_eq!(
        memwire(&server.addr(), &["decr", "n", "100"]).ok().stdout,
        "0\n"
    );
    memwire(&server.addr(), &["incr", "nope"]).exits(1);
    let run = memwire(&server.addr(), &["incr", "text"]).exits(1);
    assert!(run.stderr.contains("non-numeric"), "{}", run.stderr);
}

#[test]
fn flush_now_or_later() {
    let server = Memcached::start();
    let mc = client(&server);
    mc.set("k", "v").unwrap();
    memwire(&server.addr(), &["flush", "--delay", "100"]).ok();
    assert!(
        mc.get("k").unwrap().is_some(),
        "a delayed flush leaves items for now"
    );
    let run = memwire(&server.addr(), &["flush"]).ok();
    assert_eq!(run.stdout, "");
    assert_eq!(mc.get("k").unwrap(), None);
}

#[test]
fn ping_and_version_name_each_server() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let version = a.stats(None)["version"].clone();
    let both = format!("{},{}", a.addr(), b.addr());

    let run = memwire(&both, &["version"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[1].starts_with(&a.addr()) && lines[1].ends_with(&version));
    assert!(lines[2].starts_with(&b.addr()) && lines[2].ends_with(&version));
    assert_eq!(
        memwire(&both, &["version", "--json"]).ok().json()[b.addr()],
        version.as_str()
    );

    let run = memwire(&both, &["ping", "--count", "2"]).ok();
    assert!(run.stdout.starts_with("SERVER"), "{}", run.stdout);
    assert!(run.stdout.contains(&a.addr()) && run.stdout.contains(&b.addr()));
    let pings = memwire(&both, &["ping", "--json", "-c", "3"]).ok().json();
    for (ping, server) in pings.as_array().unwrap().iter().zip([&a, &b]) {
        assert_eq!(ping["server"], server.addr().as_str());
        assert_eq!(ping["version"], version.as_str());
        assert_eq!(ping["count"], 3);
        let (min, max) = (
            ping["min_ms"].as_f64().unwrap(),
            ping["max_ms"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= max, "{ping}");
    }

    let down = Memcached::start();
    let addr = down.addr();
    down.stop();
    let run = memwire(&format!("{},{addr}", a.addr()), &["ping"]).exits(3);
    assert!(
        run.stdout.contains(&a.addr()),
        "the live server is still shown"
    );
    assert!(
        run.stderr.contains(&format!("cannot connect to {addr}")),
        "{}",
        run.stderr
    );
}

/// `keys --json`, by key.
fn keys_json(server: &Memcached) -> serde_json::Map<String, Json> {
    let run = memwire(&server.addr(), &["keys", "--json"]).ok();
    run.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["key"].as_str().unwrap().to_owned(), item.clone()))
        .collect()
}

#[test]
fn keys_lists_every_server_with_a_filter() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let both = format!("{},{}", a.addr(), b.addr());
    let mc = Client::new([a.url(), b.url()]).unwrap();
    let mut keys: Vec<String> = ["user:1/a%b", "user:2", "session:9", "é-utf8"]
        .map(String::from)
        .into();
    // More keys until both servers hold some (placement depends on the ports).
    for i in 0.. {
        let owners: Vec<String> = keys
            .iter()
            .map(|k| mc.server_for_key(k).to_string())
            .collect();
        if owners.contains(&a.addr()) && owners.contains(&b.addr()) {
            break;
        }
        keys.push(format!("spread:{i}"));
    }
    for key in &keys {
        mc.set(key, "v").unwrap();
    }
    let run = memwire(&both, &["keys"]).ok();
    keys.sort();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), keys);

    let run = memwire(&both, &["dump", "--filter", "user:"]).ok();
    assert_eq!(run.stdout, "user:1/a%b\nuser:2\n");

    let run = memwire(&both, &["keys", "-l", "--filter", "session"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("SIZE"));
    assert!(
        lines[1].contains("never") && lines[1].ends_with("session:9"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(&mc.server_for_key("session:9").to_string()));

    let items = memwire(&both, &["keys", "--json", "--filter", "user:2"])
        .ok()
        .json();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["key"], "user:2");
    assert_eq!(
        items[0]["server"],
        mc.server_for_key("user:2").to_string().as_str()
    );
    assert!(items[0]["size"].as_u64().unwrap() > 0);
}

#[test]
fn stat_shows_one_column_per_server() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let both = format!("{},{}", a.addr(), b.addr());
    let run = memwire(&both, &["stat"]).ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["STAT", &a.addr(), &b.addr()]);
    let pid_row: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("pid "))
        .unwrap()
        .split_whitespace()
        .collect();
    let pids = [a.pid().unwrap().to_string(), b.pid().unwrap().to_string()];
    assert_eq!(pid_row, ["pid", &pids[0], &pids[1]]);

    let json = memwire(&both, &["stat", "--json"]).ok().json();
    assert_eq!(json[a.addr()]["pid"], a.pid().unwrap());
    assert_eq!(json[b.addr()]["pid"], b.pid().unwrap());

    let one = memwire(&both, &["stat", "--server", &b.addr(), "--json"])
        .ok()
        .json();
    assert_eq!(one.as_object().unwrap().len(), 1);
    assert_eq!(one[b.addr()]["pid"], b.pid().unwrap());
}

#[test]
fn stat_groups() {
    let server = Memcached::builder().args(["-o", "track_sizes"]).start();
    client(&server).set("k", "v").unwrap();
    let addr = server.addr();
    let stat = |group: &str, name: &str| -> Json {
        let json = memwire(&addr, &["stat", group, "--json"]).ok().json();
        json[&addr][name].clone()
    };
    assert_eq!(stat("settings", "maxconns"), 1024);
    assert_eq!(stat("items", "items:1:number"), 1);
    assert!(stat("slabs", "1:chunk_size").as_u64().unwrap() > 0);
    assert!(stat("slabs", "active_slabs").as_u64().unwrap() >= 1);
    assert_eq!(
        stat("sizes", "64")
            .as_u64()
            .or(stat("sizes", "96").as_u64()),
        Some(1)
    );
    assert!(stat("conns", &format!("{}:addr", listening_fd(&addr))).is_string());
    assert_eq!(stat("general", "curr_items"), 1);

    let untracked = Memcached::start();
    let run = memwire(&untracked.addr(), &["stat", "sizes"]).ok();
    assert!(run.stdout.contains("sizes_status") && run.stdout.contains("disabled"));
    memwire(&addr, &["stat", "nonsense"]).exits(2);
}

/// The fd of memcached's listening socket, from `stat conns`.
fn listening_fd(addr: &str) -> String {
    let json = memwire(addr, &["stat", "conns", "--json"]).ok().json();
    json[addr]
        .as_object()
        .unwrap()
        .iter()
        .find(|(name, value)| name.ends_with(":state") && *value == "conn_listening")
        .map(|(name, _)| name.trim_end_matches(":state").to_owned())
        .expect("a listening connection")
}

#[test]
fn stat_watch_refreshes_rates() {
    let server = Memcached::start();
    let addr = server.addr();
    let mc = client(&server);
    mc.set("hot", "v").unwrap();
    // Traffic while the view is watched: one hit and one miss per round.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                mc.get("hot").unwrap();
                mc.get("cold").unwrap();
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let run = memwire(&addr, &["stat", "--watch", "0.3", "--count", "2", "--json"]).ok();
    let text = memwire(&addr, &["stat", "--watch", "0.2", "--count", "2"]).ok();
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();

    let views: Vec<Json> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(views.len(), 2, "{}", run.stdout);
    for view in &views {
        let line = &view["servers"][0];
        assert_eq!(line["server"], addr.as_str());
        assert!(line["get_per_sec"].as_f64().unwrap() > 0.0, "{line}");
        let ratio = line["hit_ratio"].as_f64().unwrap();
        assert!(ratio > 0.2 && ratio < 0.8, "one hit per miss: {ratio}");
        assert!(line["curr_connections"].as_u64().unwrap() >= 2);
    }
    assert_eq!(text.stdout.matches("memwire stat --watch").count(), 2);
    assert_eq!(text.stdout.matches("GET/S").count(), 2);
    assert!(text.stdout.contains(&addr));
}

#[test]
fn servers_from_the_environment_and_usage_errors() {
    let server = Memcached::start();
    client(&server).set("k", "from env").unwrap();
    let out = Command::new(bin())
        .args(["get", "k"])
        .env("MEMCACHED_SERVERS", server.addr())
        .output()
        .unwrap();
    assert_eq!(finish(out).ok().stdout, "from env\n");

    memwire(&server.addr(), &["get"]).exits(2);
    memwire(&server.addr(), &["frobnicate"]).exits(2);
    memwire(&server.addr(), &["get", "k", "--timeout", "soon"]).exits(2);
    let run = memwire("ftp://nowhere", &["get", "k"]).exits(2);
    assert!(run.stderr.contains("bad server address"), "{}", run.stderr);
    let run = memwire(&server.addr(), &["get", "two words"]).exits(2);
    assert!(run.stderr.contains("invalid key"), "{}", run.stderr);
    let help = memwire(&server.addr(), &["--help"]).ok().stdout;
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn connection_errors_exit_3_with_their_cause() {
    let server = Memcached::start();
    let addr = server.addr();
    server.stop();
    let run = memwire(&addr, &["get", "k"]).exits(3);
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        format!("memwire: k: cannot connect to {addr}")
    );
    assert!(run.stderr.contains("caused by:"), "{}", run.stderr);
    memwire(&addr, &["set", "k", "v"]).exits(3);
    memwire(&addr, &["stat"]).exits(3);
    memwire(&addr, &["keys"]).exits(3);
    memwire(&addr, &["flush"]).exits(3);
    memwire(&addr, &["version"]).exits(3);
}

#[test]
fn a_server_that_stops_answering_times_out() {
    let server = Memcached::start();
    let pid = server.pid().unwrap().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP");
    let run = memwire(&server.addr(), &["--timeout", "0.3", "get", "k"]);
    signal("-CONT");
    let run = run.exits(3);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
}

#[test]
fn bench_on_every_transport_checks_every_value() {
    let (a, b) = (Memcached::start(), Memcached::start());
    let both = format!("{},{}", a.addr(), b.addr());
    for transport in ["blocking", "mio", "smol", "tokio"] {
        for (distribution, protocol) in [("uniform", "text"), ("zipfian", "meta")] {
            let args = [
                "bench",
                "--protocol",
                protocol,
                "--transport",
                transport,
                "--distribution",
                distribution,
                "--ops",
                "3000",
                "--keys",
                "200",
                "--workers",
                "3",
                "--preload",
                "--json",
            ];
            let report = memwire(&both, &args).ok().json();
            let context = format!("{transport} {distribution} {protocol}: {report}");
            assert_eq!(report["protocol"], protocol, "{context}");
            assert_eq!(report["ops"], 3000, "{context}");
            assert_eq!(report["errors"], 0, "{context}");
            assert_eq!(report["mismatches"], 0, "{context}");
            assert_eq!(report["preload"]["sets"], 200, "{context}");
            let (gets, hits) = (
                report["gets"].as_u64().unwrap(),
                report["hits"].as_u64().unwrap(),
            );
            assert_eq!(hits, gets, "every key was preloaded: {context}");
            assert!(gets > 2000 && gets < 3000, "a 90% get mix: {context}");
            let histogram = report["histogram"].as_array().unwrap();
            let counted: u64 = histogram.iter().map(|b| b["count"].as_u64().unwrap()).sum();
            assert_eq!(counted, 3000, "{context}");
            let latency = &report["latency_us"];
            assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap());
            assert!(latency["p99_9"].as_f64().unwrap() <= latency["max"].as_f64().unwrap());
        }
    }
    // The keys really are spread over both servers.
    for server in [&a, &b] {
        let items: u64 = server.stats(None)["curr_items"].parse().unwrap();
        assert!(
            items > 0 && items < 200,
            "{items} of 200 keys on {}",
            server.addr()
        );
    }
}

#[test]
fn bench_prints_a_histogram_and_stops_after_its_duration() {
    let server = Memcached::start();
    let args = [
        "bench",
        "--duration",
        "0.5",
        "--value-size",
        "3",
        "--get-ratio",
        "0.5",
    ];
    let run = memwire(&server.addr(), &args).ok();
    let text = &run.stdout;
    assert!(
        text.starts_with("memwire bench: transport blocking, protocol text, workers 4"),
        "{text}"
    );
    assert!(text.contains("errors 0, mismatched values 0"), "{text}");
    assert!(text.contains("latency: p50 "), "{text}");
    assert!(text.contains(" p99.9 ") && text.contains(" max "), "{text}");
    let bars: Vec<&str> = text.lines().filter(|l| l.contains("|#")).collect();
    assert!(!bars.is_empty(), "{text}");
    assert!(
        bars.iter()
            .any(|l| l.contains(&format!("|{}|", "#".repeat(40)))),
        "{text}"
    );
    let secs: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ops: "))
        .and_then(|l| l.split(" in ").nth(1))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 0.5, "ran {secs} s");
}

#[test]
fn bench_reports_values_of_the_wrong_key() {
    let server = Memcached::start();
    // Key 0 holds the value the bench stores for key 1 (the id's 8
    // little-endian bytes, then a filler): a misrouted value.
    let mut value_of_1 = 1u64.to_le_bytes().to_vec();
    value_of_1.extend((8..100).map(|i| b'a' + (i % 26) as u8));
    client(&server)
        .set_with("memwire-bench:100:0", value_of_1, Expiry::Never)
        .unwrap();
    let args = [
        "bench",
        "--keys",
        "1",
        "--get-ratio",
        "1",
        "--ops",
        "50",
        "--json",
    ];
    let report = memwire(&server.addr(), &args).exits(3).json();
    assert_eq!(report["mismatches"], 50);
    assert_eq!(report["hits"], 0);
    let first = report["first_error"].as_str().unwrap();
    assert!(first.contains("memwire-bench:100:0"), "{first}");

    let run = memwire(&server.addr(), &["bench", "--get-ratio", "1.5"]).exits(2);
    assert!(run.stderr.contains("--get-ratio"), "{}", run.stderr);
    memwire(&server.addr(), &["bench", "--workers", "0"]).exits(2);
    memwire(&server.addr(), &["bench", "--ops", "5", "--duration", "1"]).exits(2);
}

/// Over TLS with a login: `--tls-ca` trusts the test authority,
/// `--username`/`--password` log in; a wrong password is a connection
/// error (exit 3) naming the server, and an untrusted certificate too.
#[cfg(feature = "tls")]
#[test]
fn tls_and_credentials() {
    let server = Memcached::builder().tls().auth("alice", "s3cret").start();
    let ca = memwire_tests::tls::Pki::get().ca_file();
    let ca = ca.to_str().expect("a UTF-8 path");
    let login = ["--username", "alice", "--password", "s3cret"];
    let tls = ["--tls-ca", ca];
    let args = |rest: &[&'static str]| -> Vec<&str> {
        tls.iter()
            .chain(&login)
            .copied()
            .chain(rest.iter().copied())
            .collect()
    };
    memwire(&server.url(), &args(&["set", "k", "secure"])).ok();
    let got = memwire(&server.url(), &args(&["get", "k"])).ok();
    assert_eq!(got.stdout, "secure\n");
    let version = memwire(&server.url(), &args(&["version", "--json"])).ok();
    assert!(version.stdout.contains("memcacheds://"), "{version:?}");

    let wrong = memwire(
        &server.url(),
        &[
            "--tls-ca",
            ca,
            "--username",
            "alice",
            "--password",
            "nope",
            "get",
            "k",
        ],
    );
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(
        wrong.stderr.contains("refused the credentials"),
        "{wrong:?}"
    );
    assert!(wrong.stderr.contains(&server.url()), "{wrong:?}");

    let untrusted = memwire(&server.url(), &[&login[..], &["get", "k"]].concat());
    assert_eq!(untrusted.code, 3, "{untrusted:?}");
    assert!(untrusted.stderr.contains("TLS with"), "{untrusted:?}");
}
