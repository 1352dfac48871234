//! memwire: a memcached client built on the sans-IO [`memwire_core`].
//!
//! Pick a transport with a Cargo feature; all have the same method names
//! and semantics:
//!
//! * `blocking` (default): `blocking::Client`, std sockets, `Send + Sync`,
//!   a pool of connections per server;
//! * `smol`: `smol::Client`, async, one pipelined connection per server
//!   shared by every task; dropping a future is safe;
//! * `mio`: `mio::Adapter` for your own `mio::Poll` event loop, and a
//!   ready-made `mio::Client` on its own `Poll`.
//!
//! On top of a client, [`cache`] is the high-level cache of the
//! lovely.memcached utility (hashed keys, namespaces, key tracking,
//! degradation while a server is down); feature `serde` (default) stores
//! values of any serde type. Everything transport-neutral — configuration,
//! key placement (libmemcached-compatible ketama), health, typed results —
//! is in [`common`]. The core types ([`Command`], [`Value`], [`Error`], ...)
//! are re-exported here.
//!
//! ```no_run
//! # #[cfg(feature = "blocking")] {
//! use memwire::blocking::Client;
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

pub use memwire_core::*;

#[cfg(any(feature = "blocking", feature = "mio", feature = "smol"))]
mod api;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod cache;
pub mod common;
#[cfg(feature = "mio")]
pub mod mio;
#[cfg(feature = "smol")]
pub mod smol;

pub use cache::{CacheBuilder, CacheError};
pub use common::{ClientBuilder, ClientConfig, ConfigError, FromConfig, PerServer};

/// The README's examples, compiled as doctests (they use every feature).
#[cfg(all(
    doctest,
    feature = "blocking",
    feature = "smol",
    feature = "mio",
    feature = "serde"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
