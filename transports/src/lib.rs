//! memwire: a memcached client built on the sans-IO [`memwire_core`].
//!
//! The operations are two traits, implemented by every client:
//! [`Commands`] (blocking) and [`AsyncCommands`] (async). Pick a transport
//! with a Cargo feature; all have the same method names and semantics, and
//! code generic over the traits runs on any of them:
//!
//! * `blocking` (default): `blocking::Client`, std sockets, `Send + Sync`,
//!   a bounded pool of connections per server;
//! * `mio`: `mio::Adapter` for your own `mio::Poll` event loop, and a
//!   ready-made `mio::Client` on its own `Poll` (a [`Commands`] client);
//! * `smol`, `tokio`: `smol::Client`, `tokio::Client` ([`AsyncCommands`]),
//!   one pipelined connection per server shared by every task; dropping a
//!   future is safe.
//!
//! With the `tls` feature, `memcacheds://` servers are reached over TLS
//! (rustls) on every transport: see [`ClientBuilder::tls_ca_file`] and the
//! README's TLS section. With or without it,
//! [`ClientBuilder::credentials`] log in to servers started with `-Y`.
//!
//! Everything a client decides — key placement (libmemcached-compatible
//! ketama), multi-key fan-out and reassembly, the failure policy — is
//! decided once in [`memwire_core::client`]; a transport only moves bytes.
//! On top of a client, [`cache`] is the high-level cache of the
//! lovely.memcached utility. The core types ([`Command`], [`Value`],
//! [`Error`], [`Expiry`], ...) are re-exported here.
//!
//! Every client counts what it does with each server — requests,
//! completions, errors by kind, connections, bytes in and out, requests
//! in flight — read with [`Commands::server_metrics`] (or
//! [`AsyncCommands::server_metrics`]) as [`ServerMetrics`]. With the
//! feature `tracing`, each call is a `memwire` span and the client's
//! decisions are [`tracing`](https://docs.rs/tracing) events: connects,
//! lost connections and timeouts with their cause, servers marked down
//! and up, probes, retries; the [`cache`] reports the failures it absorbs
//! as warnings unless given a hook. The library never writes to stderr.
//!
//! ```no_run
//! # #[cfg(feature = "blocking")] {
//! use memwire::blocking::Client;
//! use memwire::Commands;
//!
//! let client = Client::new(["memcached://127.0.0.1:11211"])?;
//! client.set("greeting", "hello")?;
//! assert_eq!(client.get("greeting")?.map(|v| v.data), Some("hello".into()));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use memwire_core::client::ops::{Hits, PerKey, PerServer, StoreOptions};
pub use memwire_core::client::stampede::{ComputeError, Recache};
pub use memwire_core::client::Protocol;
pub use memwire_core::client::{
    ClientBuilder, ClientConfig, ConfigError, FromConfig, ServerCounters, ServerMetrics,
};
pub use memwire_core::*;

mod async_commands;
mod commands;
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
mod connector;
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
mod net;
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
mod plan_buffer;
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
mod trace;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
pub mod cache;
// Being ported to the client layer (uncomment when it compiles):
#[cfg(feature = "mio")]
#[cfg_attr(docsrs, doc(cfg(feature = "mio")))]
pub mod mio;
#[cfg(any(feature = "smol", feature = "tokio"))]
mod rt;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub mod smol;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

pub use async_commands::AsyncCommands;
pub use commands::Commands;
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
pub use connector::Connector;

/// Lock `m`, going on with the data when another thread panicked while
/// holding it: every critical section leaves the data consistent.
#[cfg(any(
    feature = "blocking",
    feature = "mio",
    feature = "smol",
    feature = "tokio"
))]
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new connection to server `server` of `router`, within its limits,
/// counting its bytes into the server's counters (mio counts into an
/// adapter's own: `Adapter::count_into`).
#[cfg(any(feature = "blocking", feature = "smol", feature = "tokio"))]
pub(crate) fn connection_for(
    router: &memwire_core::client::Router,
    server: usize,
) -> memwire_core::Connection {
    let conn = memwire_core::Connection::new(*router.limits());
    match router.counters(server) {
        Some(counters) => conn.counting(counters.clone()),
        None => conn,
    }
}

/// The README's examples, compiled as doctests (they use every feature).
#[cfg(all(
    doctest,
    feature = "blocking",
    feature = "smol",
    feature = "tokio",
    feature = "mio",
    feature = "serde"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
