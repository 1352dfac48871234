//! [`BlockOn`]: an async client ([`AsyncCommands`]) as a blocking
//! [`Commands`] client, so that the suites written once against
//! [`Commands`] run on the async transports too.
//!
//! Each call runs the async client's future to completion on the calling
//! thread with the [`Runtime`] `R`: [`Smol`] (`smol::block_on`) or
//! [`Tokio`] (a multi-thread runtime shared by the whole test binary). The
//! client's own connections live wherever the client puts them; the
//! adapter only waits.
//!
//! ```text
//! type Client = memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>;
//! memwire_tests::conformance_suite!(Client);
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use memwire::cluster::ServerAddr;

use memwire::client::{Operation, Router};
use memwire::{AsyncCommands, ClientConfig, Commands, ConfigError, FromConfig};

/// How [`BlockOn`] waits for a future.
pub trait Runtime {
    /// Run `future` to completion on the calling thread.
    fn block_on<F: Future>(future: F) -> F::Output;

    /// Run `f` where the runtime is current (a client may spawn its tasks
    /// when it is built).
    fn enter<T>(f: impl FnOnce() -> T) -> T {
        f()
    }
}

/// `smol::block_on`.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy)]
pub struct Smol;

#[cfg(feature = "smol")]
impl Runtime for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

/// One multi-thread tokio runtime for the whole test binary: every call
/// blocks on it, and the clients' tasks run on its workers.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

#[cfg(feature = "tokio")]
impl Tokio {
    fn runtime() -> &'static tokio::runtime::Runtime {
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
        })
    }
}

#[cfg(feature = "tokio")]
impl Runtime for Tokio {
    fn block_on<F: Future>(future: F) -> F::Output {
        Tokio::runtime().block_on(future)
    }

    fn enter<T>(f: impl FnOnce() -> T) -> T {
        let _guard = Tokio::runtime().enter();
        f()
    }
}

/// An async client `C` whose calls block on the runtime `R`. It is a
/// [`Commands`] client (every method blocks on the async method of the
/// same name), built like any client (`BlockOn::<C, R>::builder()`), and
/// cheap to clone when `C` is.
pub struct BlockOn<C, R> {
    client: C,
    _runtime: PhantomData<fn() -> R>,
}

impl<C, R> BlockOn<C, R> {
    /// Wrap `client`.
    pub fn new(client: C) -> Self {
        BlockOn {
            client,
            _runtime: PhantomData,
        }
    }

    /// The async client.
    pub fn inner(&self) -> &C {
        &self.client
    }
}

impl<C: Clone, R> Clone for BlockOn<C, R> {
    fn clone(&self) -> Self {
        BlockOn::new(self.client.clone())
    }
}

impl<C: fmt::Debug, R> fmt::Debug for BlockOn<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockOn").field(&self.client).finish()
    }
}

impl<C: FromConfig, R: Runtime> FromConfig for BlockOn<C, R> {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        R::enter(|| C::from_config(config)).map(BlockOn::new)
    }
}

impl<C: AsyncCommands, R: Runtime> Commands for BlockOn<C, R> {
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        R::block_on(self.client.execute(op))
    }

    fn router(&self) -> Arc<Router> {
        self.client.router()
    }

    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        self.client.reconfigure(servers)
    }

    fn close(&self) {
        R::block_on(self.client.close())
    }
}
