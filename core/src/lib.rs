//! memwire-core: memcached's text and meta protocols and a memcached
//! client's decisions, as pure state machines.
//!
//! This crate does no I/O, spawns no threads and reads no clock. A
//! [`Connection`] turns [`Command`]s into bytes and bytes into
//! [`Completion`]s for one server; the [`client`] layer above it plans
//! each user operation into commands for the servers of a cluster
//! (libmemcached-compatible ketama placement, multi-key fan-out), folds
//! their replies into the typed result, and keeps the failure policy. A
//! transport (the `memwire` crate's blocking, mio, smol or tokio clients,
//! or your own event loop) moves the bytes and passes time in.
//!
//! # The drive loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use memwire_core::{Command, Config, Connection, Response};
//!
//! # struct Socket(Vec<u8>);
//! # impl Socket {
//! #     fn write(&mut self, b: &[u8]) -> usize { b.len() }
//! #     fn read(&mut self, buf: &mut [u8]) -> usize {
//! #         let n = self.0.len().min(buf.len()); buf[..n].copy_from_slice(&self.0[..n]); self.0.drain(..n); n
//! #     }
//! # }
//! # let mut socket = Socket(b"STORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n".to_vec());
//! let mut conn = Connection::new(Config::default());
//! let deadline = Instant::now() + Duration::from_secs(1);
//!
//! // Queue requests: any number may be in flight (pipelining).
//! let set = conn.send(Command::set("greeting", "hello"), Some(deadline))?;
//! let get = conn.send(Command::get("greeting"), Some(deadline))?;
//!
//! let mut buf = [0u8; 4096];
//! while conn.wants_read() {
//!     // 1. Write what the connection wants written.
//!     while conn.wants_write() {
//!         let n = socket.write(conn.pending_output());
//!         conn.advance_output(n);
//!     }
//!     // 2. Wait for readability or `conn.poll_timeout()`, whichever is first.
//!     //    On timeout: `conn.handle_timeout(Instant::now())`.
//!     // 3. Feed what was read (`conn.handle_close()` on EOF or error).
//!     let n = socket.read(&mut buf);
//!     conn.handle_input(&buf[..n]);
//!     // 4. Collect finished requests.
//!     while let Some(done) = conn.poll_response() {
//!         match done.result {
//!             Ok(Response::Stored) => assert_eq!(done.id, set),
//!             Ok(Response::Values(values)) => {
//!                 assert_eq!(done.id, get);
//!                 assert_eq!(&values[0].data[..], b"hello");
//!             }
//!             other => panic!("unexpected {other:?}"),
//!         }
//!     }
//! }
//! # Ok::<(), memwire_core::Error>(())
//! ```
//!
//! A miss is not an error: it is simply absent from [`Response::Values`].
//!
//! # The meta protocol
//!
//! The meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) share the same
//! [`Connection`]: build them with [`Command::meta_get`] and its siblings,
//! and read [`Response::Meta`]. Quiet requests (`q`) may get no reply at
//! all; they complete when a later reply arrives, so a multi-get is a batch
//! of quiet `mg`s closed by an `mn`, one completion per request:
//!
//! ```
//! use memwire_core::{Command, Config, Connection, Response};
//!
//! let mut conn = Connection::new(Config::default());
//! let a = conn.send(Command::meta_get("a").quiet(), None)?;
//! let b = conn.send(Command::meta_get("b").quiet(), None)?;
//! conn.send(Command::meta_noop(), None)?;
//! assert_eq!(conn.pending_output(), b"mg a O0 q v\r\nmg b O1 q v\r\nmn\r\n");
//! conn.handle_input(b"VA 1 O1\r\nB\r\nMN\r\n"); // `a` missed: nothing was sent for it
//! for (id, hit) in [(a, None), (b, Some("B"))] {
//!     let done = conn.poll_response().unwrap();
//!     let Ok(Response::Meta(reply)) = done.result else { panic!() };
//!     assert_eq!((done.id, reply.value().map(|v| &v[..])), (id, hit.map(str::as_bytes)));
//! }
//! # Ok::<(), memwire_core::Error>(())
//! ```
//!
//! Replies are matched to requests by their opaque tokens (a mismatch
//! poisons the connection), keys that are not valid text keys travel
//! base64-encoded, and the returned flags are typed: see [`meta`].
//! Per-request failures ([`Error::NotStored`], [`Error::Exists`],
//! [`Error::NotFound`], ...) leave the connection usable; fatal ones
//! ([`Error::Timeout`], [`Error::Protocol`], [`Error::Closed`]) poison it
//! and the transport reconnects — see [`Error::kind`].
//!
//! # Observability
//!
//! A [`client::Router`] counts what its calls do with each server —
//! requests, completions, errors by kind, connections, bytes — in relaxed
//! atomics, read as [`client::ServerMetrics`] from
//! [`Router::metrics`](client::Router::metrics). With the feature
//! `tracing`, the client layer's decisions are also
//! [`tracing`](https://docs.rs/tracing) events, each naming its `server`:
//! connects (debug), failed connects, connections lost and failed probes
//! with their cause, servers marked down (warn) and up again (info),
//! probes, retried reads, timed-out and failed requests (debug). Without
//! a subscriber an event costs a relaxed load; without the feature,
//! nothing.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// A `tracing` event at `$level` (`DEBUG`, `INFO`, `WARN`), with the
/// feature `tracing`; nothing without it. Statement position only.
macro_rules! trace_event {
    ($level:ident, $($event:tt)+) => {
        #[cfg(feature = "tracing")]
        ::tracing::event!(::tracing::Level::$level, $($event)+);
    };
}

pub mod auth;
pub mod client;
pub mod cluster;
pub mod connection;
pub mod error;
pub mod expiry;
pub mod into_bytes;
pub mod key;
pub mod meta;
pub mod request;
pub mod response;
pub mod stats;

pub use connection::{Completion, Config, Connection, RequestId, DEFAULT_MAX_VALUE_LEN};
pub use error::{Error, ErrorKind, ProtocolError, TlsErrorKind};
pub use expiry::Expiry;
pub use into_bytes::IntoBytes;
pub use key::KeyError;
pub use request::{
    Arith, ArithOp, CheckedCommand, Command, Delete, FlushAll, Keys, Retrieve, Store, StoreMode,
    Touch, Verbosity,
};
pub use response::{Expect, Response, ResponseParser, Status, Value, Values};
pub use stats::{SizeStats, SlabStats, StatMap, StatValue, Stats, StatsGroup};
