//! [`Client`]: a ready-made client on its own [`Poll`](mio::Poll), one
//! pipelined [`Adapter`] per server, shared by every thread.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use memwire_core::client::{
    Call, ClientBuilder, ClientConfig, ConfigError, FromConfig, HealthEvent, Operation, Round,
    Router,
};
use memwire_core::cluster::ServerAddr;
use memwire_core::Error;

use super::shared::{Sent, Shared, Ticket, Topology};
use super::target::Target;
#[cfg(doc)]
use super::Adapter;
use crate::{lock, plan_buffer, Commands, Connector};

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
/// next call (a read it took down with it is sent again once, on the new
/// one); no call ever sees a reply meant for another. A server marked down
/// is checked with a `version` on a fresh connection before requests go
/// to it again. The server list can be replaced on the running client
/// ([`Commands::reconfigure`]): connections to servers that stay are kept.
/// Routing, fan-out, result assembly, retries and the failure policy are
/// the sans-IO client layer's ([`memwire_core::client`]). A health hook
/// ([`ClientBuilder::on_health_change`]) runs while the client's lock is
/// held: it must not call the client.
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
    shared: Mutex<Shared>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let connector = Connector::new(&config)?;
        let shared = Mutex::new(Shared::new(Arc::new(config.router()?), connector));
        Ok(Client {
            inner: Arc::new(Inner { config, shared }),
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

    /// The configuration the client was built with (the server list may
    /// have been replaced since: see [`Commands::servers`]).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn topology(&self) -> Arc<Topology> {
        lock(&self.inner.shared).topology()
    }

    /// Probe the down servers an ejecting router hands out (their keys go
    /// elsewhere meanwhile, so nothing else would bring them back), and
    /// wait for the outcomes, within `deadline`.
    fn run_due_probes(&self, topology: &Topology, deadline: Instant) {
        let due = topology.router.due_probes(Instant::now());
        if due.is_empty() {
            return;
        }
        let config = &self.inner.config;
        let mut shared = lock(&self.inner.shared);
        let mut probes = Vec::new();
        for server in due {
            let probe = shared
                .ensure_poll()
                .and_then(|()| shared.probe(topology, server, config, deadline));
            match probe {
                Ok(probe) => probes.push(probe),
                Err(e) => {
                    let failed = HealthEvent::ProbeFailed(&e);
                    topology.router.record(server, failed, Instant::now());
                }
            }
        }
        loop {
            // Each outcome reached the failure policy when it came.
            probes.retain(|probe| shared.take_probe_result(*probe).is_none());
            if probes.is_empty() {
                break;
            }
            if Instant::now() >= deadline + GRACE {
                for probe in probes {
                    shared.abandon(probe);
                }
                break;
            }
            shared = self.wait(shared, probes.iter().copied(), false, deadline + GRACE);
        }
        shared.hand_over();
    }

    /// Run one round of `call`: ask the router about each server (probing
    /// it when told to), queue the commands as connections have room, and
    /// wait for their replies, by `deadline`.
    fn run_round<O: Operation>(
        &self,
        topology: &Topology,
        call: &mut Call<O>,
        round: Round,
        deadline: Instant,
    ) {
        let config = &self.inner.config;
        let mut targets = Target::group(call, round);
        let mut sent = Sent::new();
        let mut shared = lock(&self.inner.shared);
        if let Err(e) = shared.ensure_poll() {
            for target in &mut targets {
                target.fail(call, &e);
            }
            return;
        }
        loop {
            shared.admit(&mut targets, topology, call, config, deadline);
            shared.queue(&mut targets, &mut sent, topology, call, config, deadline);
            sent.retain(|(index, ticket)| match shared.take_result(*ticket) {
                Some(result) => {
                    call.complete(*index, result);
                    false
                }
                None => true,
            });
            let waiting = targets.iter().any(Target::is_waiting);
            let probing = targets.iter().any(|t| t.probe().is_some());
            if !waiting && !probing && sent.is_empty() {
                break;
            }
            let now = Instant::now();
            if waiting && now >= deadline {
                // Nothing of these was sent.
                for target in &mut targets {
                    target.expire(call);
                }
                continue;
            }
            if now >= deadline + GRACE {
                // The safety net: the connection never reported.
                for (index, ticket) in sent.drain(..) {
                    shared.abandon(ticket);
                    call.complete(index, Err(Error::Timeout));
                }
                for target in &mut targets {
                    if let Some(probe) = target.probe() {
                        shared.abandon(probe);
                        target.fail(call, &Error::Timeout);
                    }
                }
                break;
            }
            let until = if waiting {
                let again = targets.iter().filter_map(Target::ask_again_at);
                again.fold(deadline, Instant::min)
            } else {
                deadline + GRACE
            };
            let for_room = targets.iter().any(Target::is_sending);
            let tickets = sent
                .iter()
                .map(|(_, ticket)| *ticket)
                .chain(targets.iter().filter_map(Target::probe));
            shared = self.wait(shared, tickets, for_room, until);
        }
        shared.hand_over();
    }

    /// Wait for progress until `until`: poll for everybody when nobody
    /// does, else sleep until the polling thread wakes this one (a reply
    /// to one of `tickets`, room on a connection when `for_room`, or the
    /// poll handed over).
    fn wait<'a>(
        &'a self,
        mut shared: MutexGuard<'a, Shared>,
        tickets: impl IntoIterator<Item = Ticket>,
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
    /// In rounds (a read whose connection failed under it comes back once,
    /// for a fresh connection), every command of a round queued (and
    /// written, or handed to the polling thread) before any reply is
    /// awaited; all rounds within one deadline.
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let deadline = Instant::now() + self.inner.config.io_timeout;
        let topology = self.topology();
        self.run_due_probes(&topology, deadline);
        let mut call = match plan_buffer::start(op, &topology.router) {
            Ok(call) => call,
            Err(refused) => return refused,
        };
        let _span = crate::trace::enter(&call);
        while !call.is_finished() {
            let round = call.next_round(Instant::now(), deadline);
            if round.is_empty() {
                break;
            }
            self.run_round(&topology, &mut call, round, deadline);
        }
        plan_buffer::finish(call)
    }

    fn router(&self) -> Arc<Router> {
        self.topology().router.clone()
    }

    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        let mut config = self.inner.config.clone();
        config.servers = servers;
        let mut shared = lock(&self.inner.shared);
        let current = shared.topology();
        let router = config.router_after(&current.router)?;
        let connector = current.connector.for_servers(router.servers().iter())?;
        shared.reconfigure(Arc::new(router), connector);
        Ok(())
    }

    /// Send `quit` on every connection with nothing in flight and close
    /// it. Connections in use by other threads at this moment stay open
    /// for them.
    fn close(&self) {
        lock(&self.inner.shared).close_idle();
    }
}
