//! The async client for [smol](https://docs.rs/smol) (feature `smol`).
//!
//! [`Client`] implements [`AsyncCommands`]: one pipelined connection per
//! server, shared by every task, driven by a background task on smol's
//! global executor (which runs on its own threads, so the connections keep
//! moving whatever the caller's executor does), or on an executor of yours
//! ([`Client::on_executor`]: no thread hand-offs when the callers run
//! there too). Requests from concurrent
//! tasks are in flight together. Dropping a call's future at any point is
//! safe: a request not yet sent is never sent, and the reply to one already
//! sent is read and discarded, never delivered to another call. Each call
//! (connecting included) ends within
//! [`ClientConfig::io_timeout`](crate::ClientConfig::io_timeout).
//!
//! ```no_run
//! use memwire::smol::Client;
//! use memwire::AsyncCommands;
//!
//! smol::block_on(async {
//!     let client = Client::new(["memcached://127.0.0.1:11211"])?;
//!     client.set("session_id", "TEST SESSION DATA").await?;
//!     if let Some(value) = client.get("session_id").await? {
//!         println!("{:?} (flags {})", value.data, value.flags);
//!     }
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The driver itself is shared with the tokio transport; this module only
//! binds it to smol's reactor, timers and executor.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ::smol::Async;
use memwire_core::client::{
    ClientBuilder, ClientConfig, ConfigError, FromConfig, Operation, Router,
};

use memwire_core::cluster::ServerAddr;

use crate::net::Stream;
use crate::rt::{AsyncClient, AsyncSocket, BoxFuture, Runtime, Timer};
use crate::AsyncCommands;

/// An async memcached client on smol. Its operations are the methods of
/// [`AsyncCommands`]; it is `Send + Sync` and cheap to clone (clones share
/// the connections).
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::smol::Client;
/// use memwire::{AsyncCommands, Error, Expiry, StoreOptions};
///
/// smol::block_on(async {
///     let client = Client::builder()
///         .server("memcached://10.0.0.1:11211")
///         .server("10.0.0.2:11211")
///         .io_timeout(Duration::from_millis(500))
///         .build()?;
///     client.set_with("foo", "xXx", StoreOptions::new().flags(12).expiry(Expiry::secs(30))).await?;
///     match client.add("foo", "other").await {
///         Err(Error::NotStored) => println!("foo exists already"),
///         other => other?,
///     }
///     // Many tasks share one connection per server, pipelined.
///     let tasks: Vec<_> = (0..100)
///         .map(|i| {
///             let client = client.clone();
///             smol::spawn(async move { client.get(format!("key{i}")).await })
///         })
///         .collect();
///     for task in tasks {
///         println!("{:?}", task.await?);
///     }
///     client.close().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client(AsyncClient);

impl Client {
    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected until the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty list or an address that does not parse.
    pub fn new<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> Result<Client, ConfigError> {
        Client::builder().servers(servers).build()
    }

    /// A builder for timeouts, weights, limits and health settings.
    pub fn builder() -> ClientBuilder<Client> {
        ClientBuilder::default()
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        self.0.config()
    }

    /// A client configured by `config` whose connections' drivers run on
    /// `executor` instead of smol's global executor. Run the callers on
    /// that executor too (`smol::block_on(executor.run(...))`) and a call
    /// never leaves its thread: on one thread, the global executor's
    /// hand-offs between the caller and a driver on another thread cost
    /// more than the request itself (a sequential get runs about 1.7 times
    /// as fast this way: `BENCHMARKS.md`). The executor must keep running
    /// while the client is in use: the drivers connect, move the bytes and
    /// keep the deadlines, so a call waits for as long as its driver is
    /// not polled.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use memwire::smol::Client;
    /// use memwire::AsyncCommands;
    ///
    /// let executor = Arc::new(smol::Executor::new());
    /// let config = Client::builder().server("127.0.0.1:11211").config()?;
    /// let client = Client::on_executor(config, executor.clone())?;
    /// smol::block_on(executor.run(async {
    ///     client.set("greeting", "hello").await?;
    ///     let hit = client.get("greeting").await?;
    ///     assert_eq!(hit.map(|v| v.data), Some("hello".into()));
    ///     Ok::<(), memwire::Error>(())
    /// }))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`FromConfig::from_config`].
    pub fn on_executor(
        config: ClientConfig,
        executor: Arc<::smol::Executor<'static>>,
    ) -> Result<Client, ConfigError> {
        AsyncClient::new(config, Arc::new(Smol(Some(executor)))).map(Client)
    }
}

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        AsyncClient::new(config, Arc::new(Smol(None))).map(Client)
    }
}

impl AsyncCommands for Client {
    fn execute<O>(&self, op: O) -> impl Future<Output = O::Output> + Send
    where
        O: Operation + Send,
        O::Output: Send,
    {
        crate::trace::instrument(self.0.execute(op))
    }

    fn router(&self) -> Arc<Router> {
        self.0.router()
    }

    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        self.0.reconfigure(servers)
    }

    fn close(&self) -> impl Future<Output = ()> + Send {
        self.0.close()
    }

    fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send {
        self.0.sleep(duration)
    }
}

/// smol's reactor and timers, and the executor the drivers run on:
/// the global one, or the caller's ([`Client::on_executor`]).
struct Smol(Option<Arc<::smol::Executor<'static>>>);

impl std::fmt::Debug for Smol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let executor = if self.0.is_some() {
            "the caller's"
        } else {
            "global"
        };
        f.debug_struct("Smol").field("executor", &executor).finish()
    }
}

impl Runtime for Smol {
    fn spawn(&self, task: BoxFuture<()>) -> io::Result<()> {
        match &self.0 {
            Some(executor) => executor.spawn(task).detach(),
            None => ::smol::spawn(task).detach(),
        }
        Ok(())
    }

    fn resolve(&self, host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { ::smol::net::resolve((host.as_str(), port)).await })
    }

    fn register(&self, stream: Stream) -> io::Result<Box<dyn AsyncSocket>> {
        Ok(Box::new(Async::new(stream)?))
    }

    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(::smol::Timer::at(at))
    }
}

impl AsyncSocket for Async<Stream> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.get_ref().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.poll_readable(cx))?,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.get_ref().write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.poll_writable(cx))?,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_connected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.get_ref().finish_connect()? {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_writable(cx))?;
        }
    }
}

impl Timer for ::smol::Timer {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.set_at(at);
    }

    fn poll_fired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll(cx).map(drop)
    }
}
