//! [`Client`]: a ready-made client on its own [`Poll`](mio::Poll), one
//! pipelined [`Adapter`] per server, shared by every thread.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use memwire_core::client::{
    Call, ClientBuilder, ClientConfig, ConfigError, FromConfig, Operation, Router,
};
use memwire_core::Error;

use super::shared::{Shared, Target, Ticket};
#[cfg(doc)]
use super::Adapter;
use crate::{lock, Commands};

/// Longest single wait in the poll, or of a thread asleep while another
/// polls.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// How long past its deadline a call waits for its connection to report
/// before giving up on its own (a safety net: deadlines are enforced by
/// the connections).
const GRACE: Duration = Duration::from_millis(500);

/// A memcached client for one or several servers, driven by mio on a
/// [`Poll`](mio::Poll) of its own. The operations are those of [`Commands`].
///
/// `Client` is `Send + Sync` and cheap to clone; clones share everything.
/// Each server has one non-blocking connection ([`Adapter`]) shared by all
/// threads: requests of concurrent calls are pipelined on it, at most
/// [`ClientConfig::max_in_flight`] at a time (a call that finds the
/// connection full waits for room). A calling thread queues its requests,
/// then either drives the shared `Poll` for everybody or waits while
/// another thread does, until its own replies are in. Connecting, writing
/// and reading all happen within the call's [`ClientConfig::io_timeout`]; a
/// connect is also bounded by [`ClientConfig::connect_timeout`]. A
/// connection that failed, timed out or was poisoned is replaced on the
/// next call; no call ever sees a reply meant for another. Routing,
/// fan-out, result assembly and the failure policy are the sans-IO client
/// layer's ([`memwire_core::client`]).
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::mio::Client;
/// use memwire::{Command, Commands, Error, Expiry};
///
/// let client = Client::builder()
///     .server("memcached://10.0.0.1:11211")
///     .server("10.0.0.2:11211")
///     .io_timeout(Duration::from_millis(500))
///     .build()?;
///
/// client.store(Command::set("foo", "xXx").flags(12).expiry(Expiry::secs(30)))?;
/// match client.add("foo", "other") {
///     Err(Error::NotStored) => println!("foo exists already"),
///     other => other?,
/// }
/// let hits = client.get_multi(["foo", "bar"])?; // across both servers
/// for (server, version) in client.version() {
///     println!("{server}: {version:?}");
/// }
/// # let _ = hits;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    router: Arc<Router>,
    shared: Mutex<Shared>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let router = Arc::new(config.router()?);
        let shared = Mutex::new(Shared::new(config.server_health()));
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                router,
                shared,
            }),
        })
    }
}

impl Client {
    /// A client for `servers` with default settings. Each server is
    /// `memcached://host:port`, `host:port`, `host` (port 11211) or a unix
    /// socket path. Nothing is connected (and no `Poll` created) until the
    /// first request.
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
        &self.inner.config
    }

    /// Wait for progress until `until`: poll for everybody when nobody
    /// does, else sleep until the polling thread wakes this one (a reply
    /// to one of `tickets`, room on a connection when `for_room`, or the
    /// poll handed over).
    fn wait<'a>(
        &'a self,
        mut shared: MutexGuard<'a, Shared>,
        tickets: &[(usize, Ticket)],
        for_room: bool,
        until: Instant,
    ) -> MutexGuard<'a, Shared> {
        if let Some((mut poller, wait)) = shared.take_poll(until, MAX_WAIT) {
            // Poll without the lock, so that other threads can queue
            // requests meanwhile (their WRITABLE interest wakes the poll).
            drop(shared);
            poller.poll(wait);
            let mut shared = lock(&self.inner.shared);
            shared.end_poll(poller);
            return shared;
        }
        let me = thread::current();
        shared.fall_asleep(&me, tickets, for_room);
        drop(shared);
        let left = until.saturating_duration_since(Instant::now());
        thread::park_timeout(left.min(MAX_WAIT));
        let mut shared = lock(&self.inner.shared);
        shared.wake_up(&me);
        shared
    }
}

impl Commands for Client {
    /// Every command queued (and written, or handed to the polling thread)
    /// before any reply is awaited; all within one deadline.
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.io_timeout;
        let mut call = match Call::start(op, &self.inner.router) {
            Ok(call) => call,
            Err(refused) => return refused,
        };
        let mut targets = Target::group(&mut call);
        let mut shared = lock(&self.inner.shared);
        let io = shared.ensure_poll();
        for target in &mut targets {
            if let Err(e) = io.clone().and_then(|()| shared.admit(target.server())) {
                target.fail(&mut call, &e);
            }
        }
        let mut sent: Vec<(usize, Ticket)> = Vec::new();
        loop {
            shared.queue(&mut targets, &mut sent, &mut call, config, deadline);
            sent.retain(|(index, ticket)| match shared.take_result(*ticket) {
                Some(result) => {
                    call.complete(*index, result);
                    false
                }
                None => true,
            });
            let for_room = targets.iter().any(Target::is_waiting);
            if !for_room && sent.is_empty() {
                break;
            }
            let now = Instant::now();
            if for_room && now >= deadline {
                // Nothing of these was sent.
                for target in &mut targets {
                    target.fail(&mut call, &Error::Timeout);
                }
                continue;
            }
            if now >= deadline + GRACE {
                // The safety net: the connection never reported.
                for (index, ticket) in sent.drain(..) {
                    shared.abandon(ticket);
                    call.complete(index, Err(Error::Timeout));
                }
                break;
            }
            let until = if for_room { deadline } else { deadline + GRACE };
            shared = self.wait(shared, &sent, for_room, until);
        }
        shared.hand_over();
        drop(shared);
        call.finish()
    }

    fn router(&self) -> Arc<Router> {
        self.inner.router.clone()
    }

    /// Send `quit` on every connection with nothing in flight and close
    /// it. Connections in use by other threads at this moment stay open
    /// for them.
    fn close(&self) {
        lock(&self.inner.shared).close_idle();
    }
}
