//! The mio transport, two ways in:
//!
//! * [`Adapter`]: one connection for an event loop *you* own. Register it on
//!   your [`mio::Registry`] with your own [`mio::Token`], feed it the
//!   readiness events of that token, wake it at its
//!   [`poll_timeout`](Adapter::poll_timeout) and collect finished requests.
//!   It never blocks and never creates a [`mio::Poll`].
//! * [`Client`]: a ready-made client on its own `Poll`, with the same
//!   synchronous methods as the blocking client — one
//!   pipelined [`Adapter`] per server, shared by every thread.
//!
//! ```no_run
//! use memwire::mio::Client;
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

mod adapter;
mod client;

pub use adapter::Adapter;
pub use client::Client;
