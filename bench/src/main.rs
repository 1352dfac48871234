//! `memwire-bench`: the runner behind `scripts/bench`.
//!
//! ```text
//! memwire-bench table --server HOST:PORT --floor PATH --libmc PATH [--rounds 3] [--secs 2] [--before PATH]
//! memwire-bench run SYSTEM WORKLOAD [N] --server HOST:PORT [--secs 2]
//! memwire-bench preload --server HOST:PORT
//! ```
//!
//! `table` runs every workload on every client, each run a process of its
//! own (this binary's `run`, or a C program) inheriting the caller's CPU
//! pinning, in interleaved rounds, and prints one markdown table of the
//! medians and their ratios to the row's reference.

use std::process::ExitCode;
use std::time::Duration;

use memwire_bench::{preload, run, Measured, Meter, Workload};

mod table;

/// The command line, as flags and positional arguments.
struct Args {
    positional: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Args {
        let mut positional = Vec::new();
        let mut flags = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.strip_prefix("--") {
                Some(name) => flags.push((name.to_string(), it.next().unwrap_or_default())),
                None => positional.push(a),
            }
        }
        Args { positional, flags }
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn secs(&self) -> Duration {
        let secs = self
            .flag("secs")
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0);
        Duration::from_secs_f64(secs)
    }
}

const USAGE: &str = "usage:
  memwire-bench table --server HOST:PORT --floor PATH --libmc PATH [--rounds 3] [--secs 2] [--before PATH]
  memwire-bench run SYSTEM WORKLOAD [N] --server HOST:PORT [--secs 2]
  memwire-bench preload --server HOST:PORT
SYSTEM: blocking mio smol smol-local tokio core adapter; WORKLOAD: get set mget window tasks";

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(server) = args.flag("server") else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match args.positional.first().map(String::as_str) {
        Some("preload") => preload(server),
        Some("run") => run_one(&args, server),
        Some("table") => table::run(&args_table(&args, server)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memwire-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn args_table(args: &Args, server: &str) -> table::Setup {
    table::Setup {
        server: server.to_string(),
        floor: args.flag("floor").unwrap_or("bench/floor").to_string(),
        libmc: args.flag("libmc").unwrap_or("bench/libmc").to_string(),
        rounds: args
            .flag("rounds")
            .and_then(|r| r.parse().ok())
            .unwrap_or(3),
        secs: args.secs(),
        before: args.flag("before").map(str::to_string),
    }
}

fn run_one(args: &Args, server: &str) -> Result<(), memwire_bench::RunError> {
    let (Some(system), Some(workload)) = (args.positional.get(1), args.positional.get(2)) else {
        return Err(USAGE.into());
    };
    let n = args.positional.get(3).and_then(|n| n.parse().ok());
    let workload = Workload::parse(workload, n).ok_or(USAGE)?;
    // $BENCH_WARMUP seconds of warm-up (default 0.2), as the C programs.
    let warm = std::env::var("BENCH_WARMUP")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0.2);
    let meter = Meter::new(Duration::from_secs_f64(warm), args.secs());
    let measured: Measured = run(system, workload, server, meter)?;
    println!("{}", measured.line());
    Ok(())
}
