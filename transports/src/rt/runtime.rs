//! The seam between the async driver and an async runtime: spawning,
//! name resolution, socket readiness and timers. smol and tokio each
//! implement it in a few dozen lines (`crate::smol`, `crate::tokio`).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::net::Stream;

/// A boxed, `Send` future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the driver needs from an async runtime.
pub(crate) trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// Run `task` in the background, independently of the caller's task.
    ///
    /// # Errors
    ///
    /// When there is no runtime to run it on.
    fn spawn(&self, task: BoxFuture<()>) -> io::Result<()>;

    /// The addresses of `host:port`, without blocking the executor.
    fn resolve(&self, host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>>;

    /// Register a non-blocking socket with the runtime's reactor.
    fn register(&self, stream: Stream) -> io::Result<Box<dyn AsyncSocket>>;

    /// A timer that fires at `at`.
    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>>;
}

/// A registered non-blocking socket: reads and writes that wait for
/// readiness instead of blocking.
pub(crate) trait AsyncSocket: Send {
    /// Read into `buf` once readable.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Write from `buf` once writable.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Ready once a non-blocking connect has completed (`Err` if it
    /// failed).
    fn poll_connected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A resettable timer.
pub(crate) trait Timer: Send {
    /// Fire at `at` instead.
    fn reset(self: Pin<&mut Self>, at: Instant);

    /// Ready once the instant has come.
    fn poll_fired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// Return `Pending` once (after asking to be polled again), so that other
/// tasks of a busy executor get their turn: a call that fails fast never
/// waits, and a task looping on such calls would otherwise starve the
/// connection drivers sharing its executor.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
