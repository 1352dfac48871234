//! Test support for memwire: real `memcached` processes on free loopback
//! ports (or unix sockets), started per test and killed when dropped.
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

pub mod conformance;
#[cfg(feature = "mio")]
mod conformance_mio;
#[cfg(feature = "smol")]
mod conformance_smol;
pub mod seed;
mod server;

pub use server::{free_port, Memcached, MemcachedBuilder};
