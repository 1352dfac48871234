//! The workloads of `scripts/bench`, run on memwire: each transport's loop
//! ([`sequential`], [`pipelined`]) and what is measured of it ([`Meter`]).
//!
//! Every workload uses 100-byte values and the keys the C programs under
//! `bench/c/` use, so that the bytes on the wire are the same:
//!
//! ```
//! use memwire_bench::{key, Workload};
//! assert_eq!(key(7), "bench:k07");
//! assert_eq!(Workload::parse("window", Some(100)), Some(Workload::Window(100)));
//! ```

pub mod meter;
pub mod pipelined;
pub mod sequential;

pub use meter::{Measured, Meter};

/// Length of every value.
pub const VALUE_LEN: usize = 100;
/// Keys of a multi-get.
pub const MULTI_KEYS: usize = 100;
/// The key a sequential `set` writes.
pub const SET_KEY: &str = "bench:set";

/// Key `i` of the preloaded keys (all of one length, as the C floor reads
/// replies by their length). Sequential and pipelined gets read key 0.
pub fn key(i: usize) -> String {
    format!("bench:k{i:02}")
}

/// The value every key holds.
pub fn value() -> bytes::Bytes {
    (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// One `get` at a time.
    Get,
    /// One `set` at a time.
    Set,
    /// One multi-get of [`MULTI_KEYS`] keys at a time; units are keys.
    MultiGet,
    /// This many `get`s kept in flight on one connection.
    Window(usize),
    /// This many tasks sharing one client, each one `get` at a time.
    Tasks(usize),
}

impl Workload {
    /// The workload named `name` (`get`, `set`, `mget`, `window`, `tasks`;
    /// the last two take `n`, default 100).
    pub fn parse(name: &str, n: Option<usize>) -> Option<Workload> {
        let n = n.unwrap_or(100).max(1);
        Some(match name {
            "get" => Workload::Get,
            "set" => Workload::Set,
            "mget" => Workload::MultiGet,
            "window" => Workload::Window(n),
            "tasks" => Workload::Tasks(n),
            _ => return None,
        })
    }
}

/// The error of a run: anything that went wrong, as text.
pub type RunError = Box<dyn std::error::Error + Send + Sync>;

/// A wrong reply: the run stops.
fn wrong(what: &str) -> RunError {
    format!("wrong reply: {what}").into()
}

/// Check a get's reply: a hit of [`VALUE_LEN`] bytes.
fn check_hit(hit: Option<memwire::Value>) -> Result<(), RunError> {
    match hit {
        Some(v) if v.data.len() == VALUE_LEN => Ok(()),
        Some(_) => Err(wrong("value of another length")),
        None => Err(wrong("a miss (preload the keys first)")),
    }
}

/// Run `workload` on `system` (`blocking`, `mio`, `smol`, `smol-local`,
/// `tokio`, `core` or `adapter`) against `server` (`host:port`), measured by `meter`.
///
/// # Errors
///
/// A failed request, a wrong reply, or a workload `system` does not run.
pub fn run(
    system: &str,
    workload: Workload,
    server: &str,
    meter: Meter,
) -> Result<Measured, RunError> {
    match (system, workload) {
        ("blocking", _) => sequential::blocking(workload, server, meter),
        ("mio", _) => sequential::mio(workload, server, meter),
        ("smol", Workload::Tasks(n)) => pipelined::smol_tasks(n, server, meter),
        ("smol", _) => sequential::smol(workload, server, meter),
        ("smol-local", _) => sequential::smol_local(workload, server, meter),
        ("tokio", Workload::Tasks(n)) => pipelined::tokio_tasks(n, server, meter),
        ("tokio", _) => sequential::tokio(workload, server, meter),
        ("core", Workload::Window(n) | Workload::Tasks(n)) => {
            pipelined::core_window(n, server, meter)
        }
        ("core", _) => sequential::core(workload, server, meter),
        ("adapter", Workload::Window(n)) => pipelined::adapter_window(n, server, meter),
        _ => Err(format!("{system} does not run {workload:?}").into()),
    }
}

/// Store every key's value (and the set key's), so that every get hits.
///
/// # Errors
///
/// A failed `set`.
pub fn preload(server: &str) -> Result<(), RunError> {
    use memwire::Commands;
    let client = memwire::blocking::Client::new([server])?;
    for i in 0..MULTI_KEYS {
        client.set(key(i), value())?;
    }
    client.set(SET_KEY, value())?;
    Ok(())
}
