//! memwire: a memcached client built on the sans-IO [`memwire_core`].
//!
//! Pick a transport with a Cargo feature: [`blocking`] (default) for std
//! sockets. Everything transport-neutral — configuration, key placement,
//! health checks, typed results — is in [`common`], so every transport has
//! the same method names and semantics. The core types ([`Command`],
//! [`Value`], [`Error`], ...) are re-exported here.
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

#[cfg(feature = "blocking")]
pub mod blocking;
pub mod cache;
pub mod common;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "mio")]
pub mod mio;

pub use cache::{CacheBuilder, CacheError};
pub use common::{ClientBuilder, ClientConfig, ConfigError, FromConfig, PerServer};
