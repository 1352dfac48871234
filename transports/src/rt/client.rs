//! [`AsyncClient`]: the async client of every runtime, over one pipelined
//! [`Link`] per server.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use memwire_core::client::{
    Admission, Call, ClientConfig, ConfigError, HealthEvent, Operation, Round, Router,
};
use memwire_core::cluster::ServerAddr;
use memwire_core::{CheckedCommand, Command, Error, RequestId, Response};

use super::link::Link;
use super::runtime::{yield_now, Runtime};
use crate::{lock, plan_buffer, Connector};

/// A boxed future borrowing the client.
type BorrowingFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A server's link ([`AsyncClient::link`]).
enum LinkFor<'a> {
    /// At once: the live link, a new one, or why there is none.
    Ready(Result<Arc<Link>, Error>),
    /// Once the gated server is admitted (probed, or waited for).
    Admission(BorrowingFuture<'a, Result<Arc<Link>, Error>>),
}

/// How long a caller refused while its server is being probed waits
/// before asking again.
const PROBE_WAIT: Duration = Duration::from_millis(2);

/// The client behind `smol::Client` and `tokio::Client`: the same code,
/// over a different [`Runtime`].
#[derive(Debug, Clone)]
pub(crate) struct AsyncClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    runtime: Arc<dyn Runtime>,
    /// The servers now; replaced whole by `reconfigure`, while calls in
    /// progress keep the one they started with.
    topology: RwLock<Arc<Topology>>,
}

/// A server list: its router (placement, limits, health), each server's
/// connection, in the router's order, and how connections are opened
/// (TLS, login).
#[derive(Debug)]
struct Topology {
    router: Arc<Router>,
    servers: Vec<Arc<Server>>,
    connector: Connector,
}

#[derive(Debug, Default)]
struct Server {
    /// The current connection, once one was started.
    link: Mutex<Option<Arc<Link>>>,
}

/// A request on a link, abandoned if the call is dropped before its reply.
struct InFlight {
    index: usize,
    server: usize,
    link: Arc<Link>,
    id: RequestId,
    result: Option<Result<Response, Error>>,
}

/// The requests of one round. Dropping it (a dropped future) abandons
/// those still unanswered: their replies are read and discarded.
#[derive(Default)]
struct Requests(Vec<InFlight>);

impl Drop for Requests {
    fn drop(&mut self) {
        for r in &self.0 {
            if r.result.is_none() {
                r.link.abandon(r.id);
            }
        }
    }
}

/// One request awaiting its reply: abandoned if dropped before it came (a
/// dropped future), so that the reply is read and discarded.
struct Awaiting<'a> {
    link: &'a Link,
    id: RequestId,
    done: bool,
}

impl Drop for Awaiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.link.abandon(self.id);
        }
    }
}

impl Drop for Inner {
    /// The client is gone: let every connection quit once idle, so that no
    /// driver outlives it.
    fn drop(&mut self) {
        let topology = self.topology.read().unwrap_or_else(PoisonError::into_inner);
        for server in &topology.servers {
            if let Some(link) = lock(&server.link).take() {
                link.close();
            }
        }
    }
}

impl AsyncClient {
    pub(crate) fn new(
        config: ClientConfig,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, ConfigError> {
        let router = Arc::new(config.router()?);
        let connector = Connector::new(&config)?;
        let servers = router.servers().iter().map(|_| Arc::default()).collect();
        let topology = Topology {
            router,
            servers,
            connector,
        };
        Ok(AsyncClient {
            inner: Arc::new(Inner {
                config,
                runtime,
                topology: RwLock::new(Arc::new(topology)),
            }),
        })
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn topology(&self) -> Arc<Topology> {
        self.inner
            .topology
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn router(&self) -> Arc<Router> {
        self.topology().router.clone()
    }

    /// Replace the server list, keeping the connections (and what the
    /// failure policy knows) of the servers that stay.
    pub(crate) fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        let mut current = self
            .inner
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut config = self.inner.config.clone();
        config.servers = servers;
        let router = Arc::new(config.router_after(&current.router)?);
        let connector = current.connector.for_servers(router.servers().iter())?;
        let old = current.router.servers();
        let servers = router
            .servers()
            .iter()
            .map(|addr| match old.iter().position(|a| a == addr) {
                Some(i) => current.servers[i].clone(),
                None => Arc::default(),
            })
            .collect();
        for (addr, server) in old.iter().zip(&current.servers) {
            if !router.servers().contains(addr) {
                if let Some(link) = lock(&server.link).take() {
                    link.close();
                }
            }
        }
        *current = Arc::new(Topology {
            router,
            servers,
            connector,
        });
        Ok(())
    }

    /// Tell the failure policy of the current server list about `addr`
    /// (a driver may outlive the list it was started for).
    fn health_of(inner: Weak<Inner>, addr: ServerAddr) -> impl Fn(HealthEvent<'_>, Instant) {
        move |event, now| {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let topology = inner
                .topology
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = topology.router.servers().iter().position(|a| *a == addr) {
                topology.router.record(i, event, now);
            }
        }
    }

    /// A new link to `server`, its driver started, connecting by
    /// `deadline` at the latest.
    fn start_link(
        &self,
        topology: &Topology,
        server: usize,
        deadline: Instant,
    ) -> Result<Arc<Link>, Error> {
        let inner = &*self.inner;
        let config = &inner.config;
        let addr = topology.router.servers()[server].clone();
        let conn = crate::connection_for(&topology.router, server);
        let link = Link::new(addr.clone(), conn, config.max_in_flight);
        let driver = link.clone().run(
            inner.runtime.clone(),
            topology.connector.clone(),
            Self::health_of(Arc::downgrade(&self.inner), addr),
            deadline.min(Instant::now() + config.connect_timeout),
            config.io_timeout,
        );
        inner.runtime.spawn(Box::pin(driver)).map_err(Error::from)?;
        Ok(link)
    }

    /// Make `link` the connection of `server`; the one it replaces quits
    /// once idle.
    fn install(topology: &Topology, server: usize, link: &Arc<Link>) {
        if let Some(slot) = topology.servers.get(server) {
            if let Some(old) = lock(&slot.link).replace(link.clone()) {
                old.close();
            }
        }
    }

    /// The link to `server` once the router admits it: the live one, or a
    /// new one, at once — unless the server is gated: then a boxed future
    /// asks for admission, probing with `version` on a new link first if
    /// it is due, or waiting for another caller's probe. Boxed, as those
    /// paths are rare: they would otherwise make every call's future
    /// larger to move.
    fn link<'a>(&'a self, topology: &'a Topology, server: usize, deadline: Instant) -> LinkFor<'a> {
        if topology.router.is_gated(server) {
            LinkFor::Admission(Box::pin(self.admitted_link(topology, server, deadline)))
        } else {
            // Not gated: admitted without looking at the time.
            LinkFor::Ready(self.live_link(topology, server, deadline))
        }
    }

    /// [`AsyncClient::link`] of a gated server: asks for admission, and
    /// probes or waits as the router says.
    async fn admitted_link(
        &self,
        topology: &Topology,
        server: usize,
        deadline: Instant,
    ) -> Result<Arc<Link>, Error> {
        let router = &topology.router;
        let admission = loop {
            match router.admit(server, Instant::now()) {
                Ok(admission) => break admission,
                Err(_)
                    if router.worth_waiting(server) && Instant::now() + PROBE_WAIT < deadline =>
                {
                    self.sleep(PROBE_WAIT).await;
                }
                Err(e) => return Err(e),
            }
        };
        if admission == Admission::Probe {
            return self.probe(topology, server, deadline).await;
        }
        self.live_link(topology, server, deadline)
    }

    /// The live link to an admitted `server`, or a new one.
    fn live_link(
        &self,
        topology: &Topology,
        server: usize,
        deadline: Instant,
    ) -> Result<Arc<Link>, Error> {
        let Some(slot) = topology.servers.get(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        // Checked and replaced under one lock: concurrent callers share
        // the one new connection.
        let mut current = lock(&slot.link);
        if let Some(link) = current.as_ref().filter(|l| l.is_usable()) {
            return Ok(link.clone());
        }
        let link = self.start_link(topology, server, deadline)?;
        if let Some(old) = current.replace(link.clone()) {
            old.close();
        }
        Ok(link)
    }

    /// Check a down server with `version` on a new link; the link is the
    /// caller's if the server answered.
    async fn probe(
        &self,
        topology: &Topology,
        server: usize,
        deadline: Instant,
    ) -> Result<Arc<Link>, Error> {
        let answered = async {
            let link = self.start_link(topology, server, deadline)?;
            Self::install(topology, server, &link);
            let version = Command::version();
            let id = self
                .submit(&link, version.check(topology.router.limits())?, deadline)
                .await?;
            std::future::poll_fn(|cx| link.poll_result(cx, id)).await?;
            Ok(link)
        }
        .await;
        let event = match &answered {
            Ok(_) => HealthEvent::Replied,
            Err(e) => HealthEvent::ProbeFailed(e),
        };
        topology.router.record(server, event, Instant::now());
        answered
    }

    /// Probe, in the background, the down servers an ejecting router hands
    /// out (no key is routed to them meanwhile).
    fn spawn_due_probes(&self, topology: &Arc<Topology>, now: Instant) {
        for server in topology.router.due_probes(now) {
            let (client, topology) = (self.clone(), topology.clone());
            let deadline = Instant::now() + self.inner.config.io_timeout;
            let probe = async move {
                let _ = client.probe(&topology, server, deadline).await;
            };
            let _ = self.inner.runtime.spawn(Box::pin(probe));
        }
    }

    pub(crate) fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let mut timer = self.inner.runtime.timer(Instant::now() + d);
        std::future::poll_fn(move |cx| timer.as_mut().poll_fired(cx))
    }

    /// Queue `command` on `link`, waiting for room until `deadline`.
    async fn submit(
        &self,
        link: &Link,
        command: CheckedCommand<'_>,
        deadline: Instant,
    ) -> Result<RequestId, Error> {
        let mut timer = None;
        std::future::poll_fn(|cx| self.poll_submit(cx, link, command, deadline, &mut timer)).await
    }

    /// Plan `op`; per round, queue its commands on their servers' links
    /// (all before waiting for any reply) and fold the replies into its
    /// result. All rounds within one deadline.
    ///
    /// A round of one command (any keyed operation) runs here without a
    /// future of its own, and a round of several in a boxed one: every
    /// future nested in this one is moved into it, and the caller moves
    /// this one a few times more, so what it holds across its awaits is
    /// kept small.
    pub(crate) async fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let start = Instant::now();
        let deadline = start + self.inner.config.io_timeout;
        let topology = self.topology();
        if topology.router.ejects() {
            // Only an ejecting router probes down servers in the background.
            self.spawn_due_probes(&topology, start);
        }
        // A labelled block, so that the planned call's `Result` is gone
        // from the future before the refusal's await.
        let refused = 'planned: {
            let mut call = match plan_buffer::start(op, &topology.router) {
                Ok(call) => call,
                Err(refused) => break 'planned refused,
            };
            crate::trace::describe(&call);
            let mut waited = false;
            let mut timer = None;
            // The first round starts with the call; a later one (a retry)
            // reads the clock again.
            let mut first = Some(start);
            while !call.is_finished() {
                let now = first.take().unwrap_or_else(Instant::now);
                let mut round = call.next_round(now, deadline);
                if round.len() > 1 {
                    let run = self.run_round(&topology, &mut call, round, deadline, &mut timer);
                    waited |= Box::pin(run).await;
                    continue;
                }
                // One command: no lists to keep.
                let Some(index) = round.next() else { break };
                let server = call.dispatch(index).server;
                let link = match self.link(&topology, server, deadline) {
                    LinkFor::Ready(link) => link,
                    LinkFor::Admission(admitted) => admitted.await,
                };
                let sent = match link {
                    Ok(link) => {
                        let command = call.checked(index);
                        std::future::poll_fn(|cx| {
                            self.poll_submit(cx, &link, command, deadline, &mut timer)
                        })
                        .await
                        .map(|id| (link, id))
                    }
                    Err(e) => Err(e),
                };
                let (link, id) = match sent {
                    Ok(sent) => sent,
                    Err(e) => {
                        call.complete(index, Err(e));
                        continue;
                    }
                };
                let mut awaiting = Awaiting {
                    link: &link,
                    id,
                    done: false,
                };
                // Just sent, with this task's waker: the link wakes it when
                // the reply is read (even before this first `Pending`, by a
                // driver on another thread), so the first turn need not
                // look.
                let mut sent_now = true;
                let result = std::future::poll_fn(|cx| {
                    if std::mem::take(&mut sent_now) {
                        waited = true;
                        return Poll::Pending;
                    }
                    link.poll_result(cx, id)
                })
                .await;
                awaiting.done = true;
                if result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error) {
                    // The policy takes no time from a reply: the round's.
                    topology.router.record(server, HealthEvent::Replied, now);
                }
                call.complete(index, result);
            }
            if !waited {
                // Nothing was awaited (a fail-fast error): let the
                // executor's other tasks, the connection drivers among
                // them, run.
                yield_now().await;
            }
            return plan_buffer::finish(call);
        };
        // As a call that failed fast.
        yield_now().await;
        refused
    }

    /// A round of several commands: queue each on its server's link, all
    /// before waiting for any reply, then wait for the replies until
    /// `deadline` (`timer` fires then). Whether it had to wait.
    async fn run_round<O: Operation>(
        &self,
        topology: &Topology,
        call: &mut Call<O>,
        round: Round,
        deadline: Instant,
        timer: &mut Option<std::pin::Pin<Box<dyn super::runtime::Timer>>>,
    ) -> bool {
        let mut waited = false;
        let mut links: Vec<(usize, Result<Arc<Link>, Error>)> = Vec::new();
        let mut requests = Requests::default();
        for index in round {
            let dispatch = call.dispatch(index);
            let server = dispatch.server;
            let link = match links.iter().find(|(s, _)| *s == server) {
                Some((_, link)) => link.clone(),
                None => {
                    let link = match self.link(topology, server, deadline) {
                        LinkFor::Ready(link) => link,
                        LinkFor::Admission(admitted) => admitted.await,
                    };
                    links.push((server, link.clone()));
                    link
                }
            };
            let sent = match link {
                Ok(link) => {
                    let command = call.checked(index);
                    std::future::poll_fn(|cx| self.poll_submit(cx, &link, command, deadline, timer))
                        .await
                        .map(|id| (link, id))
                }
                Err(e) => Err(e),
            };
            match sent {
                Ok((link, id)) => requests.0.push(InFlight {
                    index,
                    server,
                    link,
                    id,
                    result: None,
                }),
                Err(e) => call.complete(index, Err(e)),
            }
        }
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for r in requests.0.iter_mut().filter(|r| r.result.is_none()) {
                match r.link.poll_result(cx, r.id) {
                    Poll::Ready(result) => r.result = Some(result),
                    Poll::Pending => pending = true,
                }
            }
            if !pending {
                return Poll::Ready(());
            }
            waited = true;
            // The connection's driver times requests out; this timer
            // keeps the call's bound even when the driver is not
            // scheduled in time (a busy executor).
            let timer = timer.get_or_insert_with(|| self.inner.runtime.timer(deadline));
            if timer.as_mut().poll_fired(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            for r in requests.0.iter_mut().filter(|r| r.result.is_none()) {
                r.link.expire(now);
                r.result = match r.link.poll_result(cx, r.id) {
                    Poll::Ready(result) => Some(result),
                    Poll::Pending => {
                        r.link.abandon(r.id);
                        Some(Err(Error::Timeout))
                    }
                };
            }
            Poll::Ready(())
        })
        .await;
        let now = Instant::now();
        let mut replied: Vec<usize> = Vec::new();
        for r in std::mem::take(&mut requests.0) {
            let result = r.result.unwrap_or(Err(Error::Closed));
            let answered = result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error);
            if answered && !replied.contains(&r.server) {
                replied.push(r.server);
            }
            call.complete(r.index, result);
        }
        for server in replied {
            topology.router.record(server, HealthEvent::Replied, now);
        }
        waited
    }

    /// Queue `command` on `link`, once it has room; `timer` (made on the
    /// first wait) fires at `deadline`.
    fn poll_submit(
        &self,
        cx: &mut std::task::Context<'_>,
        link: &Link,
        command: CheckedCommand<'_>,
        deadline: Instant,
        timer: &mut Option<std::pin::Pin<Box<dyn super::runtime::Timer>>>,
    ) -> Poll<Result<RequestId, Error>> {
        if let Poll::Ready(sent) = link.poll_submit(cx, command, deadline) {
            return Poll::Ready(sent);
        }
        // No room: wait for some, but not past the deadline.
        let timer = timer.get_or_insert_with(|| self.inner.runtime.timer(deadline));
        timer.as_mut().poll_fired(cx).map(|()| Err(Error::Timeout))
    }

    /// Close every connection once what is in flight on it is answered,
    /// and wait for them to end.
    pub(crate) async fn close(&self) {
        let links: Vec<Arc<Link>> = self
            .topology()
            .servers
            .iter()
            .filter_map(|srv| lock(&srv.link).take())
            .collect();
        for link in &links {
            link.close();
        }
        std::future::poll_fn(|cx| {
            let mut open = false;
            for link in &links {
                open |= link.poll_ended(cx).is_pending();
            }
            if open {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }
}
