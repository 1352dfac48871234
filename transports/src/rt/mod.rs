//! The async client of every runtime: one driver, written once, over a
//! small [`Runtime`] seam (spawn, resolve, socket readiness, timers) that
//! `crate::smol` and `crate::tokio` implement.
//!
//! Each server gets one pipelined connection ([`link::Link`]), shared by
//! every task: a call queues its requests straight into the connection's
//! core state and waits for its own replies, while a background task per
//! connection (the driver, spawned on the runtime) moves the bytes and
//! keeps the deadlines. Requests from concurrent tasks share writes and
//! reads. Dropping a call's future abandons its requests safely.

mod client;
mod link;
mod runtime;

pub(crate) use client::AsyncClient;
pub(crate) use runtime::{AsyncSocket, BoxFuture, Runtime, Timer};
