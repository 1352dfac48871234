//! `memwire-bench table`: every workload on every client, in interleaved
//! rounds, one process per run; one table of medians and ratios.

use std::process::Command;
use std::time::Duration;

use memwire_bench::{Measured, RunError};

/// Where to run and how long.
pub struct Setup {
    /// `host:port` of the memcached.
    pub server: String,
    /// The raw-socket C floor (`bench/c/floor.c`, built).
    pub floor: String,
    /// The libmemcached C program (`bench/c/libmc.c`, built).
    pub libmc: String,
    /// Rounds of every run.
    pub rounds: usize,
    /// Measured seconds of each run.
    pub secs: Duration,
    /// Another build of this runner (an earlier commit's, say): each
    /// memwire row is also run with it, as "(before)", interleaved.
    pub before: Option<String>,
}

/// One client on one workload.
struct Entry {
    /// Its name in the table.
    name: String,
    /// Who runs it: this binary's `run SYSTEM`, or a C program.
    runner: Runner,
    /// The row the ratio is taken against is this one.
    reference: bool,
    /// The goal for its ratio, if it has one.
    goal: Option<f64>,
}

enum Runner {
    Memwire(&'static str),
    /// The same, run by [`Setup::before`].
    Before(&'static str),
    Floor,
    /// The floor spending this many nanoseconds computing after each
    /// reply: a calibration of what a goal leaves a client.
    FloorBusy(u32),
    Libmc,
}

/// One workload: its rows.
struct Group {
    title: &'static str,
    /// The workload's name and size, as `run` and the C programs take them.
    workload: &'static str,
    n: Option<usize>,
    unit: &'static str,
    entries: Vec<Entry>,
}

fn entry(name: &str, runner: Runner) -> Entry {
    Entry {
        name: name.to_string(),
        runner,
        reference: false,
        goal: None,
    }
}

fn reference(mut e: Entry) -> Entry {
    e.reference = true;
    e
}

fn goal(mut e: Entry, g: f64) -> Entry {
    e.goal = Some(g);
    e
}

/// The workloads and clients of the table (issue #11's); with `before`,
/// each memwire row twice: as built now, and by the other build.
fn groups(before: bool) -> Vec<Group> {
    let mut groups = all_groups();
    if before {
        for g in &mut groups {
            let entries = std::mem::take(&mut g.entries);
            for e in entries {
                let twin = match e.runner {
                    Runner::Memwire(system) => Some(Entry {
                        name: format!("{} (before)", e.name),
                        runner: Runner::Before(system),
                        reference: false,
                        goal: None,
                    }),
                    _ => None,
                };
                g.entries.push(e);
                g.entries.extend(twin);
            }
        }
    }
    groups
}

fn all_groups() -> Vec<Group> {
    use Runner::{Floor, FloorBusy, Libmc, Memwire};
    // (`busy`: the floor's calibration row, nanoseconds per request.)
    let sequential = |title, workload, unit, g, busy: u32| Group {
        title,
        workload,
        n: None,
        unit,
        entries: vec![
            reference(entry("raw-socket floor (C)", Floor)),
            entry(
                &format!("raw-socket floor + {busy} ns computing per request (C)"),
                FloorBusy(busy),
            ),
            entry("libmemcached (C)", Libmc),
            goal(entry("memwire blocking", Memwire("blocking")), g),
            entry("memwire mio::Client", Memwire("mio")),
            entry("memwire smol (block_on)", Memwire("smol")),
            entry(
                "memwire smol (block_on, drivers on its executor)",
                Memwire("smol-local"),
            ),
            entry("memwire tokio (current thread)", Memwire("tokio")),
            entry("memwire core over std TcpStream", Memwire("core")),
        ],
    };
    vec![
        sequential("sequential get", "get", "ops", 0.95, 250),
        sequential("sequential set", "set", "ops", 0.95, 250),
        sequential("multi-get, 100 keys", "mget", "keys", 0.90, 2_500),
        Group {
            title: "pipelined, window 100",
            workload: "window",
            n: Some(100),
            unit: "ops",
            entries: vec![
                entry("raw-socket floor (C), window 100", Floor),
                reference(entry("memwire core over std TcpStream", Memwire("core"))),
                goal(entry("memwire mio::Adapter", Memwire("adapter")), 0.90),
            ],
        },
        Group {
            title: "256 tasks, one client",
            workload: "tasks",
            n: Some(256),
            unit: "ops",
            entries: vec![
                entry("raw-socket floor (C), window 256", Floor),
                reference(entry("memwire core, window 256", Memwire("core"))),
                goal(entry("memwire smol, 256 tasks", Memwire("smol")), 0.90),
                goal(entry("memwire tokio, 256 tasks", Memwire("tokio")), 0.90),
            ],
        },
    ]
}

/// Run one entry once.
fn run_entry(setup: &Setup, group: &Group, e: &Entry) -> Result<Measured, RunError> {
    let (host, port) = setup
        .server
        .rsplit_once(':')
        .ok_or("--server must be HOST:PORT")?;
    let secs = format!("{}", setup.secs.as_secs_f64());
    let n = group.n.map(|n| n.to_string());
    let mut cmd = match &e.runner {
        Runner::Memwire(system) | Runner::Before(system) => {
            let mut c = match (&e.runner, &setup.before) {
                (Runner::Before(_), Some(before)) => Command::new(before),
                _ => Command::new(std::env::current_exe()?),
            };
            c.args(["run", system, group.workload]);
            c.args(n.iter());
            c.args(["--server", &setup.server, "--secs", &secs]);
            c
        }
        Runner::Floor | Runner::FloorBusy(_) | Runner::Libmc => {
            let program = match &e.runner {
                Runner::Libmc => &setup.libmc,
                _ => &setup.floor,
            };
            // The floor's pipelined form of `tasks N` is a window of N.
            let workload = if group.workload == "tasks" {
                "window"
            } else {
                group.workload
            };
            let mut c = Command::new(program);
            c.args([host, port, workload, &secs]);
            c.args(n.iter());
            if let Runner::FloorBusy(ns) = e.runner {
                c.env("BUSY_NS", ns.to_string());
            }
            c
        }
    };
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{}: {} {}", e.name, out.status, stderr.trim()).into());
    }
    stdout
        .lines()
        .last()
        .and_then(Measured::parse)
        .ok_or_else(|| format!("{}: no result in {stdout:?}", e.name).into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `12345.6` as `12 346`, the way BENCHMARKS.md writes numbers.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Run every entry of every group `rounds` times (round by round, so that
/// a disturbance hits every client alike), then print the table.
pub fn run(setup: &Setup) -> Result<(), RunError> {
    memwire_bench::preload(&setup.server)?;
    let groups = groups(setup.before.is_some());
    // results[group][entry] = one Measured per round
    let mut results: Vec<Vec<Vec<Measured>>> = groups
        .iter()
        .map(|g| g.entries.iter().map(|_| Vec::new()).collect())
        .collect();
    for round in 1..=setup.rounds {
        eprintln!("round {round} of {}", setup.rounds);
        for (g, group) in groups.iter().enumerate() {
            for (i, e) in group.entries.iter().enumerate() {
                let m = run_entry(setup, group, e)?;
                eprintln!(
                    "  {:<24} {:<34} {:>12} {}/s",
                    group.title,
                    e.name,
                    thousands(m.rate()),
                    group.unit
                );
                results[g][i].push(m);
            }
        }
    }
    println!("| workload (pinned to one CPU) | client | {} rounds: median (min–max) | µs CPU per op, client | ratio | goal |", setup.rounds);
    println!("|---|---|---|---|---|---|");
    for (g, group) in groups.iter().enumerate() {
        let rate = |i: usize| median(results[g][i].iter().map(Measured::rate).collect());
        let reference = group.entries.iter().position(|e| e.reference);
        let reference_rate = reference.map(rate);
        for (i, e) in group.entries.iter().enumerate() {
            let runs = &results[g][i];
            let rates: Vec<f64> = runs.iter().map(Measured::rate).collect();
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            // CPU per op, not per key: a multi-get op is 100 keys.
            let per_op = if group.workload == "mget" { 100.0 } else { 1.0 };
            let cpu = median(
                runs.iter()
                    .map(|m| m.cpu * 1e6 * per_op / m.units.max(1) as f64)
                    .collect(),
            );
            let ratio = match (e.reference, reference_rate) {
                (true, _) => "reference".to_string(),
                (false, Some(r)) => format!("{:.2}", rate(i) / r),
                (false, None) => String::new(),
            };
            let goal = e.goal.map(|g| format!("≥ {g:.2}")).unwrap_or_default();
            println!(
                "| {} | {} | {} {}/s ({}–{}) | {:.1} | {} | {} |",
                group.title,
                e.name,
                thousands(rate(i)),
                group.unit,
                thousands(lo),
                thousands(hi),
                cpu,
                ratio,
                goal
            );
        }
    }
    Ok(())
}
