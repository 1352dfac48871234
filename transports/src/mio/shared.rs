//! [`Shared`]: what every thread of a mio [`Client`](super::Client)
//! shares — the server list, one [`Adapter`] per server on one [`Poll`],
//! the requests in flight, the threads asleep — and the moves on it, each
//! made while holding the client's lock.

use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use memwire_core::client::{
    Admission, Call, ClientConfig, HealthEvent, Operation, Router, ServerCounters,
};
use memwire_core::cluster::ServerAddr;
use memwire_core::{Command, Error, RequestId, Response};
use mio::event::Event;
use mio::{Events, Poll, Registry, Token, Waker};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::target::Target;
use super::Adapter;
use crate::net::IDLE_CHECK;
use crate::Connector;

/// The token of the waker that interrupts a poll in progress.
const WAKE: Token = Token(usize::MAX);

/// How long a caller refused while another probes its server waits before
/// asking the router again.
const PROBE_WAIT: Duration = Duration::from_millis(2);

/// The id of a server's connection slot: stable while the server stays in
/// the list (whatever its index after a reconfiguration), and the poll
/// token of its connection.
type SlotId = usize;

/// A server list: its router (placement, limits, health), the slot of
/// each server, in the router's order, and how connections are opened
/// (TLS, login). A call keeps the one it started with.
#[derive(Debug)]
pub(super) struct Topology {
    pub(super) router: Arc<Router>,
    slots: Vec<SlotId>,
    pub(super) connector: Connector,
}

impl Topology {
    /// The slot and address of `server`.
    fn slot(&self, server: usize) -> Result<(SlotId, &ServerAddr), Error> {
        match (self.slots.get(server), self.router.servers().get(server)) {
            (Some(slot), Some(addr)) => Ok((*slot, addr)),
            _ => Err(Error::NoServer(format!("no server #{server}"))),
        }
    }

    /// Tell the failure policy what happened to the server of `slot`, if
    /// it is in this list.
    fn record(&self, slot: SlotId, event: HealthEvent<'_>) {
        if let Some(server) = self.slots.iter().position(|s| *s == slot) {
            self.router.record(server, event, Instant::now());
        }
    }

    /// The counters of the server of `slot`, if it is in this list.
    fn counters(&self, slot: SlotId) -> Option<&Arc<ServerCounters>> {
        let server = self.slots.iter().position(|s| *s == slot)?;
        self.router.counters(server)
    }

    fn holds(&self, slot: SlotId) -> bool {
        self.slots.contains(&slot)
    }
}

/// The client's servers, connections and requests.
#[derive(Debug)]
pub(super) struct Shared {
    /// The servers now: new calls start on it, health events go to its
    /// router.
    topology: Arc<Topology>,
    /// The live (or connecting) connection of each slot that has one; a
    /// dead one is dropped once its completions are collected.
    slots: FxHashMap<SlotId, Slot>,
    /// The id the next new server gets.
    next_slot: SlotId,
    /// Connections opened so far: each one's generation.
    opened: u64,
    /// Requests in flight and finished ones, until their caller takes them.
    requests: FxHashMap<Ticket, Request>,
    /// Threads waiting while another polls, and whether for room on a
    /// full connection (else for their replies).
    sleepers: Vec<(Thread, bool)>,
    /// The poll's registry and waker, once the poll exists (on first use).
    io: Option<(Registry, Waker)>,
    /// The poll, while no thread is polling it.
    idle_poll: Option<Poller>,
    /// When the poll in progress returns at the latest.
    poll_until: Option<Instant>,
    /// The slot ids gone through by [`Shared::for_each_slot`], kept for
    /// the next time.
    slot_ids: Vec<SlotId>,
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

/// A server's connection.
#[derive(Debug)]
struct Slot {
    adapter: Adapter,
    /// When a request was last queued on it.
    used: Instant,
    /// Tells this connection's requests from those of the slot's earlier
    /// ones: request ids restart per connection.
    generation: u64,
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.adapter.in_flight() == 0 && !self.adapter.wants_write()
    }
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
    slot: SlotId,
    generation: u64,
    id: RequestId,
}

/// A call's requests in flight, by index in the call: one inline, so that
/// a one-request call allocates no list.
pub(super) type Sent = SmallVec<[(usize, Ticket); 1]>;

impl Shared {
    /// The servers of `router`, opened by `connector`; no connection yet,
    /// and no poll.
    pub(super) fn new(router: Arc<Router>, connector: Connector) -> Shared {
        let slots: Vec<SlotId> = (0..router.servers().len()).collect();
        Shared {
            next_slot: slots.len(),
            topology: Arc::new(Topology {
                router,
                slots,
                connector,
            }),
            slots: FxHashMap::default(),
            opened: 0,
            requests: FxHashMap::default(),
            sleepers: Vec::new(),
            io: None,
            idle_poll: None,
            poll_until: None,
            slot_ids: Vec::new(),
        }
    }

    /// The servers now.
    pub(super) fn topology(&self) -> Arc<Topology> {
        self.topology.clone()
    }

    /// Replace the server list with `router`'s, opened by `connector`.
    /// Servers that stay keep their slot, so their connections; the
    /// connections of servers that go are closed once idle (calls still
    /// running on the old list may use them until then).
    pub(super) fn reconfigure(&mut self, router: Arc<Router>, connector: Connector) {
        let old = self.topology.clone();
        let mut slots = Vec::with_capacity(router.servers().len());
        for addr in router.servers() {
            let kept = old.router.servers().iter().position(|a| a == addr);
            match kept.and_then(|i| old.slots.get(i)) {
                Some(slot) => slots.push(*slot),
                None => {
                    slots.push(self.next_slot);
                    self.next_slot += 1;
                }
            }
        }
        self.topology = Arc::new(Topology {
            router,
            slots,
            connector,
        });
        for slot in &old.slots {
            // Closes a dropped server's connection when it is idle.
            self.collect(*slot);
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

    /// `me` is about to sleep while another thread polls, for `tickets`
    /// or for room.
    pub(super) fn fall_asleep(
        &mut self,
        me: &Thread,
        tickets: impl IntoIterator<Item = Ticket>,
        for_room: bool,
    ) {
        for ticket in tickets {
            if let Some(Request::Pending(waiter)) = self.requests.get_mut(&ticket) {
                *waiter = Some(me.clone());
            }
        }
        self.sleepers.push((me.clone(), for_room));
    }

    /// `me` woke up.
    pub(super) fn wake_up(&mut self, me: &Thread) {
        self.sleepers.retain(|(thread, _)| thread.id() != me.id());
    }

    /// A thread stops waiting: if nobody polls now, wake a sleeping thread
    /// to poll.
    pub(super) fn hand_over(&self) {
        if self.idle_poll.is_some() {
            if let Some((thread, _)) = self.sleepers.first() {
                thread.unpark();
            }
        }
    }

    /// Send `quit` on every connection with nothing in flight and close it.
    pub(super) fn close_idle(&mut self) {
        self.for_each_slot(|shared, slot| {
            shared.collect(slot);
            if shared.slots.get(&slot).is_some_and(Slot::is_idle) {
                if let Some(idle) = shared.slots.remove(&slot) {
                    idle.adapter.quit();
                }
            }
        });
    }

    // ---- calls ----

    /// Move each target not yet admitted along: ask the router (once the
    /// server's idle connection has been checked, so that a server that
    /// closed it is found out now, not with the request); probe the server
    /// when told to, and admit or fail the target on the probe's outcome;
    /// while another caller probes it, ask again a little later, within
    /// `deadline`.
    pub(super) fn admit<O: Operation>(
        &mut self,
        targets: &mut [Target],
        topology: &Topology,
        call: &mut Call<O>,
        config: &ClientConfig,
        deadline: Instant,
    ) {
        let now = Instant::now();
        for target in targets.iter_mut() {
            if let Some(probe) = target.probe() {
                match self.take_probe_result(probe) {
                    Some(Ok(_)) => target.admitted(),
                    Some(Err(e)) => target.fail(call, &e),
                    None => {}
                }
                continue;
            }
            if !target.is_due(now) {
                continue;
            }
            let server = target.server();
            if let Ok((slot, _)) = topology.slot(server) {
                self.check_idle(slot, now);
            }
            // After the check, which may have just asked for a probe.
            match topology.router.admit(server, Instant::now()) {
                Ok(Admission::Go) => target.admitted(),
                Ok(Admission::Probe) => match self.probe(topology, server, config, deadline) {
                    Ok(ticket) => target.probing(ticket),
                    Err(e) => {
                        topology
                            .router
                            .record(server, HealthEvent::ProbeFailed(&e), now);
                        target.fail(call, &e);
                    }
                },
                Err(e) if topology.router.worth_waiting(server) && now + PROBE_WAIT < deadline => {
                    target.refused(now + PROBE_WAIT, e);
                }
                Err(e) => target.fail(call, &e),
            }
        }
    }

    /// Check `server` with `version` on a fresh connection (its current
    /// one, if any, is reconnected: what was in flight on it fails with
    /// [`Error::Closed`]); the probe's ticket. Its outcome reaches the
    /// failure policy as any reply or lost connection does.
    pub(super) fn probe(
        &mut self,
        topology: &Topology,
        server: usize,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<Ticket, Error> {
        let (slot, addr) = topology.slot(server)?;
        if let Some(current) = self.slots.get_mut(&slot) {
            let connect_by = deadline.min(Instant::now() + config.connect_timeout);
            if let Err(e) = current.adapter.reconnect(Some(connect_by)) {
                self.collect(slot);
                return Err(e);
            }
        }
        let (generation, adapter) = self.connection(slot, addr, config, deadline)?;
        let id = adapter.queue(&Command::version(), Some(deadline))?;
        let ticket = Ticket {
            slot,
            generation,
            id,
        };
        self.requests.insert(ticket, Request::Pending(None));
        self.send_out(slot, deadline);
        Ok(ticket)
    }

    /// Queue what fits of each admitted target's commands on its server's
    /// connection (connecting first when there is none), then write it, or
    /// let the thread polling know there is output.
    pub(super) fn queue<O: Operation>(
        &mut self,
        targets: &mut [Target],
        sent: &mut Sent,
        topology: &Topology,
        call: &mut Call<O>,
        config: &ClientConfig,
        deadline: Instant,
    ) {
        for target in targets.iter_mut().filter(|t| t.is_sending()) {
            let (slot, addr) = match topology.slot(target.server()) {
                Ok(found) => found,
                Err(e) => {
                    target.fail(call, &e);
                    continue;
                }
            };
            let (generation, adapter) = match self.connection(slot, addr, config, deadline) {
                Ok(found) => found,
                Err(e) => {
                    target.fail(call, &e);
                    continue;
                }
            };
            let queued = sent.len();
            while adapter.in_flight() < config.max_in_flight {
                let Some(index) = target.next_unsent() else {
                    break;
                };
                match adapter.queue_checked(call.checked(index), Some(deadline)) {
                    Ok(id) => sent.push((
                        index,
                        Ticket {
                            slot,
                            generation,
                            id,
                        },
                    )),
                    Err(e) => call.complete(index, Err(e)),
                }
            }
            for (_, ticket) in sent.get(queued..).unwrap_or_default() {
                self.requests.insert(*ticket, Request::Pending(None));
            }
            if let (true, Some(used)) = (sent.len() > queued, self.slots.get_mut(&slot)) {
                used.used = Instant::now();
            }
            self.send_out(slot, deadline);
        }
    }

    /// The connection of `slot` and its generation, connected to `addr`
    /// now if it has none.
    fn connection(
        &mut self,
        slot: SlotId,
        addr: &ServerAddr,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<(u64, &mut Adapter), Error> {
        let Some((registry, _)) = &self.io else {
            return Err(Error::Closed);
        };
        let current = match self.slots.entry(slot) {
            Entry::Occupied(current) => current.into_mut(),
            Entry::Vacant(vacant) => {
                let connect_by = deadline.min(Instant::now() + config.connect_timeout);
                let opened = Adapter::connect_with(
                    addr,
                    &self.topology.connector,
                    config.limits,
                    Some(connect_by),
                );
                let mut adapter = opened
                    .inspect_err(|_| self.topology.record(slot, HealthEvent::ConnectFailed))?;
                if let Some(counters) = self.topology.counters(slot) {
                    adapter.count_into(counters.clone());
                }
                adapter.register(registry, Token(slot))?;
                self.opened += 1;
                vacant.insert(Slot {
                    adapter,
                    used: Instant::now(),
                    generation: self.opened,
                })
            }
        };
        Ok((current.generation, &mut current.adapter))
    }

    /// After queueing on `slot`: write now when no thread polls (this one
    /// polls next), else leave it to the polling thread, woken if it would
    /// sleep past `deadline`.
    fn send_out(&mut self, slot: SlotId, deadline: Instant) {
        let nobody_polls = self.idle_poll.is_some();
        if let Some(current) = self.slots.get_mut(&slot) {
            if nobody_polls {
                current.adapter.flush();
            } else {
                current.adapter.settle();
            }
        }
        if !nobody_polls {
            self.wake_poller_before(deadline);
        }
        self.collect(slot);
    }

    /// Find out whether the server closed `slot`'s idle connection, unless
    /// it was used within [`IDLE_CHECK`] of `now`.
    fn check_idle(&mut self, slot: SlotId, now: Instant) {
        let unused = |s: &&mut Slot| now.saturating_duration_since(s.used) >= IDLE_CHECK;
        if let Some(idle) = self
            .slots
            .get_mut(&slot)
            .filter(|s| s.is_idle())
            .filter(unused)
        {
            idle.adapter.drive();
        }
        self.collect(slot);
    }

    /// Hand `slot`'s finished requests to their callers (waking those
    /// asleep), telling the failure policy about replies. A dead
    /// connection, whose requests have all completed, is dropped (replaced
    /// on next use) and its loss reported once; an idle one of a server no
    /// longer in the list is closed.
    fn collect(&mut self, slot: SlotId) {
        let Some(current) = self.slots.get_mut(&slot) else {
            return;
        };
        if current.adapter.take_connected() {
            self.topology.record(slot, HealthEvent::Connected);
        }
        while let Some(done) = current.adapter.poll_response() {
            let replied = match &done.result {
                Ok(response) => !matches!(response, Response::Sent),
                Err(e) => e.is_reply_error(),
            };
            if replied {
                self.topology.record(slot, HealthEvent::Replied);
            }
            let ticket = Ticket {
                slot,
                generation: current.generation,
                id: done.id,
            };
            if let Some(request) = self.requests.get_mut(&ticket) {
                if let Request::Pending(Some(waiter)) = request {
                    waiter.unpark();
                }
                *request = Request::Done(done.result);
            }
        }
        if let Some(cause) = current.adapter.poison_cause() {
            let event = match cause {
                Error::Connect { .. } => HealthEvent::ConnectFailed,
                lost => HealthEvent::ConnectionLost(lost),
            };
            self.topology.record(slot, event);
            self.slots.remove(&slot);
        } else if current.is_idle() && !self.topology.holds(slot) {
            if let Some(retired) = self.slots.remove(&slot) {
                retired.adapter.quit();
            }
        }
    }

    /// Run `f` on each slot with a connection (`f` may drop it).
    fn for_each_slot(&mut self, mut f: impl FnMut(&mut Shared, SlotId)) {
        let mut ids = std::mem::take(&mut self.slot_ids);
        ids.clear();
        ids.extend(self.slots.keys().copied());
        for &slot in &ids {
            f(self, slot);
        }
        self.slot_ids = ids;
    }

    fn handle_event(&mut self, event: &Event) {
        if event.token() == WAKE {
            return;
        }
        let slot = event.token().0;
        if let Some(current) = self.slots.get_mut(&slot) {
            current.adapter.handle_event(event);
        }
        self.collect(slot);
    }

    fn handle_timeouts(&mut self, now: Instant) {
        self.for_each_slot(|shared, slot| {
            if let Some(current) = shared.slots.get_mut(&slot) {
                current.adapter.handle_timeout(now);
            }
            shared.collect(slot);
        });
    }

    /// The earliest deadline of any connection.
    fn next_timeout(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(|s| s.adapter.poll_timeout())
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

    /// The outcome of a probe, once in; a failure reaches the failure
    /// policy as the probe's.
    pub(super) fn take_probe_result(&mut self, probe: Ticket) -> Option<Result<Response, Error>> {
        let result = self.take_result(probe)?;
        if let Err(e) = &result {
            self.topology
                .record(probe.slot, HealthEvent::ProbeFailed(e));
        }
        Some(result)
    }

    /// A call stopped waiting for `ticket`: its reply will be dropped.
    pub(super) fn abandon(&mut self, ticket: Ticket) {
        self.requests.remove(&ticket);
        if let Some(current) = self.slots.get_mut(&ticket.slot) {
            if current.generation == ticket.generation {
                current.adapter.abandon(ticket.id);
            }
        }
    }
}
