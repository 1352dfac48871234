//! [`Shared`]: what every thread of a mio [`Client`](super::Client)
//! shares — one [`Adapter`] per server on one [`Poll`], the requests in
//! flight, the threads asleep — and the moves on it, each made while
//! holding the client's lock.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::thread::Thread;
use std::time::{Duration, Instant};

use memwire_core::client::{Call, ClientConfig, HealthEvent, Operation, ServerHealth};
use memwire_core::{Command, Error, RequestId, Response};
use mio::event::Event;
use mio::{Events, Poll, Registry, Token, Waker};

use super::Adapter;

/// The token of the waker that interrupts a poll in progress.
const WAKE: Token = Token(usize::MAX);

/// The client's connections and requests.
#[derive(Debug)]
pub(super) struct Shared {
    servers: Vec<Slot>,
    /// Requests in flight and finished ones, until their caller takes them.
    requests: HashMap<Ticket, Request>,
    /// Threads waiting while another polls, and whether for room on a
    /// full connection (else for their replies).
    sleepers: Vec<(Thread, bool)>,
    /// The poll's registry and waker, once the poll exists (on first use).
    io: Option<(Registry, Waker)>,
    /// The poll, while no thread is polling it.
    idle_poll: Option<Poller>,
    /// When the poll in progress returns at the latest.
    poll_until: Option<Instant>,
}

/// The poll and its event buffer, taken out by the thread polling.
#[derive(Debug)]
pub(super) struct Poller {
    poll: Poll,
    events: Events,
}

impl Poller {
    /// Wait up to `timeout` for events (a failure, EINTR..., counts as
    /// none: deadlines still hold).
    pub(super) fn poll(&mut self, timeout: Duration) {
        if self.poll.poll(&mut self.events, Some(timeout)).is_err() {
            self.events.clear();
        }
    }
}

#[derive(Debug)]
struct Slot {
    /// Live or connecting; a dead one is dropped once its completions are
    /// collected.
    adapter: Option<Adapter>,
    /// Incremented with every new adapter: request ids restart per
    /// connection.
    generation: u64,
    health: ServerHealth,
}

/// A request's state, as its caller sees it.
#[derive(Debug)]
enum Request {
    /// Awaiting its reply; the caller's thread, once asleep, is woken when
    /// the reply comes.
    Pending(Option<Thread>),
    Done(Result<Response, Error>),
}

/// One request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Ticket {
    server: usize,
    generation: u64,
    id: RequestId,
}

/// The commands of one call for one server not yet queued (the connection
/// was full), each with its index in the call.
pub(super) struct Target {
    server: usize,
    unsent: VecDeque<(usize, Command)>,
}

impl Target {
    /// Group a call's commands by server.
    pub(super) fn group<O: Operation>(call: &mut Call<O>) -> Vec<Target> {
        let mut targets: Vec<Target> = Vec::new();
        for (index, dispatch) in call.take_dispatches() {
            let entry = (index, dispatch.command);
            match targets.iter_mut().find(|t| t.server == dispatch.server) {
                Some(target) => target.unsent.push_back(entry),
                None => targets.push(Target {
                    server: dispatch.server,
                    unsent: VecDeque::from([entry]),
                }),
            }
        }
        targets
    }

    /// The server.
    pub(super) fn server(&self) -> usize {
        self.server
    }

    /// Whether commands wait for room.
    pub(super) fn is_waiting(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Fail the commands not yet queued with `error`.
    pub(super) fn fail<O: Operation>(&mut self, call: &mut Call<O>, error: &Error) {
        for (index, _) in self.unsent.drain(..) {
            call.complete(index, Err(error.clone()));
        }
    }
}

impl Shared {
    /// No connection yet, and no poll.
    pub(super) fn new(servers: Vec<ServerHealth>) -> Shared {
        Shared {
            servers: servers
                .into_iter()
                .map(|health| Slot {
                    adapter: None,
                    generation: 0,
                    health,
                })
                .collect(),
            requests: HashMap::new(),
            sleepers: Vec::new(),
            io: None,
            idle_poll: None,
            poll_until: None,
        }
    }

    /// Create the poll on first use.
    pub(super) fn ensure_poll(&mut self) -> Result<(), Error> {
        if self.io.is_some() {
            return Ok(());
        }
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        self.io = Some((registry, waker));
        self.idle_poll = Some(Poller {
            poll,
            events: Events::with_capacity(256),
        });
        Ok(())
    }

    // ---- the poll ----

    /// Take the poll to wait for events, if no other thread has it: with
    /// how long to wait, until the next deadline of any connection or
    /// `until`, at most `longest`.
    pub(super) fn take_poll(
        &mut self,
        until: Instant,
        longest: Duration,
    ) -> Option<(Poller, Duration)> {
        let poller = self.idle_poll.take()?;
        let now = Instant::now();
        let wake = self.next_timeout().map_or(until, |t| t.min(until));
        let wait = wake.saturating_duration_since(now).min(longest);
        self.poll_until = Some(now + wait);
        Some((poller, wait))
    }

    /// After a poll: handle its events and the deadlines passed, and put
    /// it back. Threads waiting for room get to look.
    pub(super) fn end_poll(&mut self, poller: Poller) {
        for event in poller.events.iter() {
            self.handle_event(event);
        }
        self.handle_timeouts(Instant::now());
        self.idle_poll = Some(poller);
        self.poll_until = None;
        for (thread, for_room) in &self.sleepers {
            if *for_room {
                thread.unpark();
            }
        }
    }

    /// Whether another thread has the poll.
    pub(super) fn is_polled(&self) -> bool {
        self.idle_poll.is_none()
    }

    /// `me` is about to sleep while another thread polls, for `tickets`
    /// or for room.
    pub(super) fn fall_asleep(&mut self, me: &Thread, tickets: &[(usize, Ticket)], for_room: bool) {
        for (_, ticket) in tickets {
            if let Some(Request::Pending(waiter)) = self.requests.get_mut(ticket) {
                *waiter = Some(me.clone());
            }
        }
        self.sleepers.push((me.clone(), for_room));
    }

    /// `me` woke up.
    pub(super) fn wake_up(&mut self, me: &Thread) {
        self.sleepers.retain(|(thread, _)| thread.id() != me.id());
    }

    /// A call is done: if nobody polls now, wake a sleeping thread to poll.
    pub(super) fn hand_over(&self) {
        if !self.is_polled() {
            if let Some((thread, _)) = self.sleepers.first() {
                thread.unpark();
            }
        }
    }

    /// Send `quit` on every connection with nothing in flight and close it.
    pub(super) fn close_idle(&mut self) {
        for server in 0..self.servers.len() {
            self.collect(server);
            let Some(slot) = self.servers.get_mut(server) else {
                continue;
            };
            let idle = |a: &Adapter| a.in_flight() == 0 && !a.wants_write();
            if slot.adapter.as_ref().is_some_and(idle) {
                if let Some(adapter) = slot.adapter.take() {
                    adapter.quit();
                }
            }
        }
    }

    // ---- calls ----

    /// Ask the failure policy whether `server` may be used by a call, once
    /// its idle connection has been checked (a server that closed it is
    /// found out now, not with the request).
    pub(super) fn admit(&mut self, server: usize) -> Result<(), Error> {
        if let Some(adapter) = self.adapter(server) {
            if adapter.in_flight() == 0 && !adapter.wants_write() {
                adapter.drive();
            }
        }
        self.collect(server);
        match self.servers.get_mut(server) {
            Some(slot) => slot.health.admit(Instant::now()),
            None => Err(Error::NoServer(format!("no server #{server}"))),
        }
    }

    /// Queue what fits of each target's commands on its server's
    /// connection (connecting first when there is none), then write it, or
    /// let the thread polling know there is output.
    pub(super) fn queue<O: Operation>(
        &mut self,
        targets: &mut [Target],
        sent: &mut Vec<(usize, Ticket)>,
        call: &mut Call<O>,
        config: &ClientConfig,
        deadline: Instant,
    ) {
        let nobody_polls = self.idle_poll.is_some();
        for target in targets.iter_mut().filter(|t| !t.unsent.is_empty()) {
            let server = target.server;
            let queued = sent.len();
            let (generation, adapter) = match self.connection(server, config, deadline) {
                Ok(found) => found,
                Err(e) => {
                    target.fail(call, &e);
                    continue;
                }
            };
            while adapter.in_flight() < config.max_in_flight {
                let Some((index, command)) = target.unsent.pop_front() else {
                    break;
                };
                match adapter.queue(command, Some(deadline)) {
                    Ok(id) => sent.push((
                        index,
                        Ticket {
                            server,
                            generation,
                            id,
                        },
                    )),
                    Err(e) => call.complete(index, Err(e)),
                }
            }
            if nobody_polls {
                // This thread polls next: write now.
                adapter.flush();
            } else {
                adapter.settle();
                self.wake_poller_before(deadline);
            }
            for (_, ticket) in sent.get(queued..).unwrap_or_default() {
                self.requests.insert(*ticket, Request::Pending(None));
            }
            self.collect(server);
        }
    }

    /// `server`'s connection and its generation, connected now if it has
    /// none.
    fn connection(
        &mut self,
        server: usize,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<(u64, &mut Adapter), Error> {
        let Some((registry, _)) = &self.io else {
            return Err(Error::Closed);
        };
        let Some(slot) = self.servers.get_mut(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        if slot.adapter.is_none() {
            let connect_by = deadline.min(Instant::now() + config.connect_timeout);
            let opened = Adapter::connect(slot.health.addr(), config.protocol, Some(connect_by));
            let mut adapter = opened.inspect_err(|_| {
                slot.health
                    .record(HealthEvent::ConnectFailed, Instant::now());
            })?;
            adapter.register(registry, Token(server))?;
            slot.generation += 1;
            slot.adapter = Some(adapter);
        }
        match &mut slot.adapter {
            Some(adapter) => Ok((slot.generation, adapter)),
            None => Err(Error::Closed),
        }
    }

    fn adapter(&mut self, server: usize) -> Option<&mut Adapter> {
        self.servers.get_mut(server)?.adapter.as_mut()
    }

    /// Hand `server`'s finished requests to their callers (waking those
    /// asleep), telling the failure policy about replies; a dead
    /// connection, whose requests have all completed, is dropped (replaced
    /// on next use) and its loss reported once.
    fn collect(&mut self, server: usize) {
        let Some(slot) = self.servers.get_mut(server) else {
            return;
        };
        let Some(adapter) = &mut slot.adapter else {
            return;
        };
        while let Some(done) = adapter.poll_response() {
            let replied = match &done.result {
                Ok(response) => !matches!(response, Response::Sent),
                Err(e) => e.is_reply_error(),
            };
            if replied {
                slot.health.record(HealthEvent::Replied, Instant::now());
            }
            let ticket = Ticket {
                server,
                generation: slot.generation,
                id: done.id,
            };
            if let Some(request) = self.requests.get_mut(&ticket) {
                if let Request::Pending(Some(waiter)) = request {
                    waiter.unpark();
                }
                *request = Request::Done(done.result);
            }
        }
        if let Some(cause) = adapter.poison_cause() {
            let event = match cause {
                Error::Connect { .. } => HealthEvent::ConnectFailed,
                lost => HealthEvent::ConnectionLost(lost),
            };
            slot.health.record(event, Instant::now());
            slot.adapter = None;
        }
    }

    fn handle_event(&mut self, event: &Event) {
        if event.token() == WAKE {
            return;
        }
        let server = event.token().0;
        if let Some(adapter) = self.adapter(server) {
            adapter.handle_event(event);
        }
        self.collect(server);
    }

    fn handle_timeouts(&mut self, now: Instant) {
        for server in 0..self.servers.len() {
            if let Some(adapter) = self.adapter(server) {
                adapter.handle_timeout(now);
            }
            self.collect(server);
        }
    }

    /// The earliest deadline of any connection.
    fn next_timeout(&self) -> Option<Instant> {
        self.servers
            .iter()
            .filter_map(|s| s.adapter.as_ref().and_then(Adapter::poll_timeout))
            .min()
    }

    /// The poll in progress would return after `deadline` (a new deadline
    /// shorter than the ones it is waiting for): interrupt it.
    fn wake_poller_before(&self, deadline: Instant) {
        if let (Some(until), Some((_, waker))) = (self.poll_until, &self.io) {
            if until > deadline {
                // Best effort: the poll returns by its longest wait anyway.
                let _ = waker.wake();
            }
        }
    }

    /// The result of `ticket`, once done.
    pub(super) fn take_result(&mut self, ticket: Ticket) -> Option<Result<Response, Error>> {
        match self.requests.entry(ticket) {
            Entry::Occupied(e) if matches!(e.get(), Request::Done(_)) => match e.remove() {
                Request::Done(result) => Some(result),
                Request::Pending(_) => None,
            },
            _ => None,
        }
    }

    /// A call stopped waiting for `ticket`: its reply will be dropped.
    pub(super) fn abandon(&mut self, ticket: Ticket) {
        self.requests.remove(&ticket);
        if let Some(slot) = self.servers.get_mut(ticket.server) {
            if slot.generation == ticket.generation {
                if let Some(adapter) = &mut slot.adapter {
                    adapter.abandon(ticket.id);
                }
            }
        }
    }
}
