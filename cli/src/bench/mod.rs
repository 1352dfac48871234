//! `bench`: a load generator like memcslap. Workers share one client of
//! the chosen transport and run a get/set mix over a key space (uniform or
//! zipfian), optionally after storing every key once; every get is checked
//! against the value the bench stores for its key. The report has ops/s,
//! latency percentiles and an ASCII histogram, as text or JSON.
//!
//! The worker is written once per client trait: [`threads`] for
//! `Commands` (blocking, mio), [`tasks`] for `AsyncCommands` (smol,
//! tokio).

mod progress;
mod report;
mod tally;
mod tasks;
mod threads;
mod workload;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use memwire::{Config, FromConfig};
use serde_json::json;

use crate::args::{BenchArgs, ServerOpts, Transport};
use crate::connect;
use crate::status::{Failure, Status};

use self::progress::Progress;
use self::report::Report;
use self::tally::Tally;
use self::workload::{Phase, Workload};

/// How long the bench runs without `--duration` or `--ops`.
const DEFAULT_DURATION: Duration = Duration::from_secs(5);

/// Run `bench`.
pub fn run(opts: &ServerOpts, args: &BenchArgs, out: &mut impl Write) -> Result<Status, Failure> {
    let usage = |e: String| Failure::new(Status::Usage, "bench", e);
    if args.workers == 0 {
        return Err(usage("--workers must be at least 1".into()));
    }
    let max_value = Config::default().max_value_len;
    if args.value_size > max_value {
        return Err(usage(format!(
            "--value-size is over memcached's item limit of {max_value} bytes"
        )));
    }
    let workload = Arc::new(Workload::new(args).map_err(usage)?);
    let empty = Tally::new().map_err(|e| usage(e.to_string()))?;
    let measure = |run: &mut dyn FnMut(&Arc<Phase>) -> Tally| -> Report {
        let preload = args.preload.then(|| {
            let phase = Arc::new(Phase::preload(Arc::clone(&workload), empty.clone()));
            with_progress(&phase, "preload", run)
        });
        let duration = args.duration.unwrap_or(DEFAULT_DURATION);
        let phase = Arc::new(Phase::measure(
            Arc::clone(&workload),
            args.ops,
            duration,
            empty.clone(),
        ));
        let (tally, elapsed) = with_progress(&phase, "bench", run);
        Report {
            settings: settings(opts, args),
            preload,
            elapsed,
            tally,
        }
    };
    let workers = args.workers;
    let report = match args.transport {
        Transport::Blocking => {
            let client: memwire::blocking::Client = client(opts, workers)?;
            let report = measure(&mut |phase| threads::run(&client, phase, workers));
            memwire::Commands::close(&client);
            report
        }
        Transport::Mio => {
            let client: memwire::mio::Client = client(opts, workers)?;
            let report = measure(&mut |phase| threads::run(&client, phase, workers));
            memwire::Commands::close(&client);
            report
        }
        Transport::Smol => {
            let client: memwire::smol::Client = client(opts, workers)?;
            let report = measure(&mut |phase| tasks::run_smol(&client, phase, workers));
            smol::block_on(memwire::AsyncCommands::close(&client));
            report
        }
        Transport::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::new(Status::Failed, "cannot start a tokio runtime", e))?;
            let client: memwire::tokio::Client = client(opts, workers)?;
            let report = measure(&mut |phase| tasks::run_tokio(&runtime, &client, phase, workers));
            runtime.block_on(memwire::AsyncCommands::close(&client));
            report
        }
    };
    if args.json {
        crate::output::write_json(out, &report.json())?;
    } else {
        report.write_text(out)?;
    }
    let t = &report.tally;
    let preload_errors = report.preload.as_ref().map_or(0, |(p, _)| p.errors);
    Ok(if t.errors + t.mismatches + preload_errors > 0 {
        Status::Failed
    } else {
        Status::Ok
    })
}

/// A client of any transport, with room for one connection per worker
/// (pooled transports).
fn client<C: FromConfig>(opts: &ServerOpts, workers: usize) -> Result<C, Failure> {
    connect::build(
        connect::builder(&opts.servers, opts)
            .max_connections_per_server(workers)
            .max_idle_per_server(workers),
    )
}

/// Run a phase under its progress bar; its tally and how long it took.
fn with_progress(
    phase: &Arc<Phase>,
    label: &'static str,
    run: &mut dyn FnMut(&Arc<Phase>) -> Tally,
) -> (Tally, Duration) {
    let progress = Progress::start(phase, label);
    let tally = run(phase);
    let took = phase.elapsed();
    progress.finish();
    (tally, took)
}

/// The settings shown at the top of the report.
fn settings(opts: &ServerOpts, args: &BenchArgs) -> Vec<(&'static str, serde_json::Value)> {
    let name = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    vec![
        ("transport", json!(name(&args.transport))),
        ("protocol", json!(name(&opts.protocol))),
        ("workers", json!(args.workers)),
        ("servers", json!(opts.servers.join(","))),
        ("keys", json!(args.keys)),
        ("distribution", json!(name(&args.distribution))),
        ("value_size", json!(args.value_size)),
        ("get_ratio", json!(args.get_ratio)),
    ]
}
