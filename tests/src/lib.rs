//! Test support for memwire: real `memcached` processes on free loopback
//! ports (or unix sockets), started per test and killed when dropped, and
//! the suites every transport runs.
//!
//! Integration tests in `tests/` use [`Memcached`] to get a fresh server:
//!
//! ```
//! use memwire_tests::Memcached;
//!
//! let server = Memcached::start(); // 127.0.0.1:<free port>, no UDP
//! let url = server.url(); // "memcached://127.0.0.1:PORT", for a client
//! # let _ = url;
//! server.stop(); // connections now fail; the port stays reserved
//! server.restart(); // same port, empty cache
//! ```
//!
//! The binary comes from the `MEMCACHED_BIN` environment variable, else
//! `memcached` on `PATH`. When there is none, starting a server panics with
//! "memcached not found: install the Debian package `memcached` or set
//! MEMCACHED_BIN": integration tests fail, they never skip. `scripts/test`
//! installs the package when it is missing.
//!
//! Servers are started with `-l 127.0.0.1 -p PORT -U 0`, plus `-u root` when
//! the tests run as root (memcached refuses to run as root otherwise), plus
//! any arguments given to [`MemcachedBuilder::arg`].
//!
//! # The suites
//!
//! [`conformance`] (every operation, error and failure mode) and [`seed`]
//! (the examples of the memcached2 seed) are written once, as functions
//! generic over a client implementing the public trait
//! [`memwire::Commands`] and built with [`memwire::FromConfig::builder`].
//! A transport runs them with one line per suite in
//! `tests/<suite>_<transport>.rs`:
//!
//! ```text
//! memwire_tests::conformance_suite!(memwire::blocking::Client);
//! memwire_tests::pool_suite!(memwire::blocking::Client); // pooled transports only
//! memwire_tests::seed_suite!(memwire::blocking::Client);
//! ```
//!
//! Async clients ([`memwire::AsyncCommands`]) join through [`BlockOn`],
//! which blocks on each call with a [`Runtime`] (`Smol` with the `smol`
//! feature, `Tokio` with the `tokio` feature):
//!
//! ```text
//! memwire_tests::conformance_suite!(memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>);
//! ```
//!
//! # TLS and authentication
//!
//! With the `tls` feature, [`tls::Pki`] makes test certificates at run time
//! and [`MemcachedBuilder::tls`] starts a server with `-Z`;
//! [`MemcachedBuilder::auth`] starts one with `-Y`. A suite runs over TLS
//! with its macro's `over_tls` form (see [`tls::suite_over_tls`]):
//!
//! ```text
//! memwire_tests::conformance_suite!(over_tls memwire::blocking::Client);
//! ```
//!
//! The cases of TLS and authentication themselves (mutual TLS, refused
//! certificates, logins, ...) are the [`secure`] suite:
//! `memwire_tests::secure_suite!(memwire::blocking::Client);`.
//!
//! # Faults
//!
//! [`fault_proxy::FaultProxy`] sits between a client and a real server and
//! injects faults into the replies (truncation, stalls, resets, garbage,
//! half-closed sockets, slow drips), deterministic by seed; the
//! reliability suite (`tests/reliability.rs`) runs every transport through
//! it.

mod block_on;
pub mod conformance;
pub mod fault_proxy;
mod meta_client;
pub mod resilience;
#[cfg(feature = "tls")]
pub mod secure;
pub mod seed;
mod server;
#[cfg(feature = "tls")]
pub mod tls;

#[cfg(feature = "smol")]
pub use block_on::Smol;
#[cfg(feature = "tokio")]
pub use block_on::Tokio;
pub use block_on::{BlockOn, Runtime};
pub use meta_client::Meta;
pub use server::{free_port, Memcached, MemcachedBuilder};
