//! The async client for [tokio](https://docs.rs/tokio) (feature `tokio`).
//!
//! [`Client`] implements [`AsyncCommands`] with the very same driver as
//! `smol::Client`: one pipelined connection per server, shared by every
//! task, driven by a task spawned on the tokio runtime the first call runs
//! in (it needs the runtime's I/O and time drivers: `enable_all()`).
//! Dropping a call's future is safe; each call (connecting included) ends
//! within [`ClientConfig::io_timeout`](crate::ClientConfig::io_timeout).
//!
//! ```no_run
//! use memwire::tokio::Client;
//! use memwire::AsyncCommands;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let client = Client::new(["memcached://127.0.0.1:11211"])?;
//! client.set("session_id", "TEST SESSION DATA").await?;
//! if let Some(value) = client.get("session_id").await? {
//!     println!("{:?} (flags {})", value.data, value.flags);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use memwire_core::client::{
    ClientBuilder, ClientConfig, ConfigError, FromConfig, Operation, Router,
};

use memwire_core::cluster::ServerAddr;

use crate::net::Stream;
use crate::rt::{AsyncClient, AsyncSocket, BoxFuture, Runtime, Timer};
use crate::AsyncCommands;

/// An async memcached client on tokio. Its operations are the methods of
/// [`AsyncCommands`]; it is `Send + Sync` and cheap to clone (clones share
/// the connections).
#[derive(Debug, Clone)]
pub struct Client(AsyncClient);

impl Client {
    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected until the first request, which
    /// must run inside a tokio runtime.
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
}

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        AsyncClient::new(config, Arc::new(Tokio)).map(Client)
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

/// The tokio runtime of the calling task: its executor, reactor and timers.
#[derive(Debug)]
struct Tokio;

impl Runtime for Tokio {
    fn spawn(&self, task: BoxFuture<()>) -> io::Result<()> {
        let handle = ::tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other("memwire::tokio::Client must be used from within a tokio runtime")
        })?;
        handle.spawn(task);
        Ok(())
    }

    fn resolve(&self, host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            ::tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(Iterator::collect)
        })
    }

    fn register(&self, stream: Stream) -> io::Result<Box<dyn AsyncSocket>> {
        Ok(Box::new(match stream {
            Stream::Tcp(s) => Socket::Tcp(::tokio::net::TcpStream::from_std(s)?),
            Stream::Unix(s) => Socket::Unix(::tokio::net::UnixStream::from_std(s)?),
        }))
    }

    fn timer(&self, at: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(Sleep(Box::pin(::tokio::time::sleep_until(at.into()))))
    }
}

/// A socket registered with tokio's reactor.
enum Socket {
    Tcp(::tokio::net::TcpStream),
    Unix(::tokio::net::UnixStream),
}

/// `$body` with `$s` bound to the tokio stream of either kind (the two
/// have the same readiness methods but no common trait).
macro_rules! either {
    ($socket:expr, $s:ident => $body:expr) => {
        match $socket {
            Socket::Tcp($s) => $body,
            Socket::Unix($s) => $body,
        }
    };
}

impl AsyncSocket for Socket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(either!(self, s => s.poll_read_ready(cx)))?;
            match either!(self, s => s.try_read(buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(either!(self, s => s.poll_write_ready(cx)))?;
            match either!(self, s => s.try_write(buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_connected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writable once the connect finished; a failed connect reports its
        // error here.
        ready!(either!(self, s => s.poll_write_ready(cx)))?;
        match either!(self, s => s.take_error())? {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(either!(self, s => s.peer_addr().map(drop))),
        }
    }
}

/// A tokio timer, boxed to be `Unpin`.
struct Sleep(Pin<Box<::tokio::time::Sleep>>);

impl Timer for Sleep {
    fn reset(mut self: Pin<&mut Self>, at: Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_fired(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
