//! The mio transport (Unix), two ways in:
//!
//! * [`Adapter`]: one connection for an event loop *you* own. Register it on
//!   your [`mio::Registry`] with your own [`mio::Token`], feed it the
//!   readiness events of that token, wake it at its
//!   [`poll_timeout`](Adapter::poll_timeout) and collect finished requests.
//!   It never blocks and never creates a [`mio::Poll`].
//! * [`Client`]: a ready-made client on its own `Poll`, a
//!   [`Commands`](crate::Commands) client like the blocking one — one
//!   pipelined [`Adapter`] per server, shared by every thread.
//!
//! Both use the sockets of the shared socket layer, registered by file
//! descriptor, and feed their bytes to a core
//! [`Connection`](memwire_core::Connection).
//!
//! ```no_run
//! use memwire::mio::Client;
//! use memwire::Commands;
//!
//! let client = Client::new(["memcached://127.0.0.1:11211"])?;
//! client.set("session_id", "TEST SESSION DATA")?;
//! if let Some(value) = client.get("session_id")? {
//!     println!("{:?} (flags {})", value.data, value.flags);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See [`Adapter`] for the hand-written loop, and
//! `examples/mio_event_loop.rs` for one that serves other sockets too.
#![cfg(unix)]

mod adapter;
mod client;
mod shared;
mod target;

pub use adapter::Adapter;
pub use client::Client;
