//! [`Link`]: one pipelined connection to one server, shared by every task,
//! and the driver task that owns its socket.
//!
//! Callers queue requests straight into the link's core
//! [`Connection`] (under a lock, no channel) and wait on a slot for their
//! reply; the driver moves bytes between the socket and the connection,
//! keeps the deadlines, and hands each completion to its slot. A slot
//! whose caller left is abandoned: its reply is read and discarded, never
//! handed to anyone else.

use std::future::Future as _;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use memwire_core::client::HealthEvent;
use memwire_core::cluster::ServerAddr;
use memwire_core::{CheckedCommand, Command, Connection, Error, RequestId, Response};
use rustc_hash::FxHashMap;

use super::runtime::{AsyncSocket, Runtime, Timer};
use crate::net::wire::Wire;
use crate::net::{Io, Stream};
use crate::{lock, Connector};

/// Rounds of the drive loop before the driver yields to other tasks.
const BUDGET: usize = 32;

/// One pipelined connection.
#[derive(Debug)]
pub(crate) struct Link {
    addr: ServerAddr,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    conn: Connection,
    /// By request id: sequential numbers, hashed with Fx.
    slots: FxHashMap<RequestId, Slot>,
    max_in_flight: usize,
    /// The driver, to wake when there is something to write.
    driver: Option<Waker>,
    /// Callers waiting for room under `max_in_flight`.
    room: Vec<Waker>,
    /// Closed by the client: quit once nothing is in flight.
    closing: bool,
    /// The driver has ended; nothing more will be sent or received.
    ended: bool,
    /// The driver has told the failure policy how the server did, its
    /// last act: [`Link::poll_ended`] is ready.
    reported: bool,
    /// Callers of [`Link::poll_ended`].
    enders: Vec<Waker>,
    /// A request failed because the connection did: tell the health
    /// policy once when the driver ends.
    lost_requests: bool,
}

#[derive(Debug)]
enum Slot {
    Waiting(Option<Waker>),
    Done(Result<Response, Error>),
}

/// Register `waker` in `list` unless an equivalent one is there.
fn remember(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

impl Link {
    /// A link to `addr` over `conn`, with nothing connected yet: requests
    /// queue until the driver has connected.
    pub(crate) fn new(addr: ServerAddr, conn: Connection, max_in_flight: usize) -> Arc<Link> {
        Arc::new(Link {
            addr,
            state: Mutex::new(State {
                conn,
                slots: FxHashMap::default(),
                max_in_flight: max_in_flight.max(1),
                driver: None,
                room: Vec::new(),
                closing: false,
                ended: false,
                reported: false,
                enders: Vec::new(),
                lost_requests: false,
            }),
        })
    }

    /// Whether new calls may use this link.
    pub(crate) fn is_usable(&self) -> bool {
        let st = lock(&self.state);
        !st.ended && !st.closing && !st.conn.is_poisoned()
    }

    /// Queue `command` with `deadline`, once there is room. The caller's
    /// waker is kept for the reply: until it polls
    /// [`Link::poll_result`], it is woken when the reply comes (so it need
    /// not poll for the result in the same turn).
    pub(crate) fn poll_submit(
        &self,
        cx: &mut Context<'_>,
        command: CheckedCommand<'_>,
        deadline: Instant,
    ) -> Poll<Result<RequestId, Error>> {
        let mut st = lock(&self.state);
        // Poisoned but not yet ended (the driver has still to see it): the
        // same error as after the end — a TLS or login failure as it is.
        if st.ended || st.conn.is_poisoned() {
            return Poll::Ready(Err(st.failure()));
        }
        if st.conn.in_flight() >= st.max_in_flight {
            remember(&mut st.room, cx.waker());
            return Poll::Pending;
        }
        let sent = st.conn.send_checked(command, Some(deadline));
        if let Ok(id) = sent {
            st.slots.insert(id, Slot::Waiting(Some(cx.waker().clone())));
            if let Some(driver) = &st.driver {
                driver.wake_by_ref();
            }
        }
        Poll::Ready(sent)
    }

    /// The result of request `id`, once it has one.
    pub(crate) fn poll_result(
        &self,
        cx: &mut Context<'_>,
        id: RequestId,
    ) -> Poll<Result<Response, Error>> {
        let mut st = lock(&self.state);
        match st.slots.get_mut(&id) {
            Some(Slot::Waiting(waker)) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Some(Slot::Done(_)) => match st.slots.remove(&id) {
                Some(Slot::Done(result)) => Poll::Ready(result),
                _ => Poll::Ready(Err(Error::Closed)),
            },
            None => Poll::Ready(Err(Error::Closed)),
        }
    }

    /// Fail what is due at `now` (the connection is poisoned when a request
    /// was), as the driver would: for a caller whose deadline passed before
    /// the driver was scheduled.
    pub(crate) fn expire(&self, now: Instant) {
        let mut st = lock(&self.state);
        st.conn.handle_timeout(now);
        st.deliver();
        if let Some(driver) = &st.driver {
            driver.wake_by_ref();
        }
    }

    /// The caller of `id` left: its reply will be discarded.
    pub(crate) fn abandon(&self, id: RequestId) {
        let mut st = lock(&self.state);
        if let Some(Slot::Waiting(_)) = st.slots.remove(&id) {
            st.conn.abandon(id);
        }
    }

    /// Stop taking calls; quit once what is in flight is answered.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.closing = true;
        if let Some(driver) = &st.driver {
            driver.wake_by_ref();
        }
    }

    /// Ready once the driver has ended, and told the failure policy (and
    /// so the counters and `tracing`) about the connection's loss.
    pub(crate) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.state);
        if st.reported {
            return Poll::Ready(());
        }
        remember(&mut st.enders, cx.waker());
        Poll::Pending
    }

    /// The driver's life: connect by `connect_by` (opening the connection
    /// as `connector` says: TLS, login), drive until the connection dies or
    /// is closed, fail whatever is left, and tell the failure policy
    /// (`health`) how the server did.
    pub(crate) async fn run(
        self: Arc<Self>,
        runtime: Arc<dyn Runtime>,
        connector: Connector,
        health: impl Fn(HealthEvent<'_>, Instant),
        connect_by: Instant,
        quit_timeout: Duration,
    ) {
        let opened = match connector.wire(&self.addr) {
            Ok(wire) => connect(&*runtime, &self.addr, connect_by)
                .await
                .map(|socket| (socket, wire)),
            Err(e) => Err(e),
        };
        match opened {
            Ok((socket, wire)) => {
                health(HealthEvent::Connected, Instant::now());
                let mut driver = Driver {
                    link: &self,
                    socket,
                    wire,
                    timer: runtime.timer(Instant::now()),
                    armed: None,
                    quit_by: None,
                    quit_timeout,
                };
                std::future::poll_fn(|cx| driver.poll(cx)).await;
            }
            Err(e) => {
                if matches!(e, Error::Connect { .. }) {
                    health(HealthEvent::ConnectFailed, Instant::now());
                }
                lock(&self.state).conn.handle_failure(e);
            }
        }
        let lost = self.end();
        if let Some(cause) = lost {
            health(HealthEvent::ConnectionLost(&cause), Instant::now());
        }
        let mut st = lock(&self.state);
        st.reported = true;
        for w in st.enders.drain(..) {
            w.wake();
        }
    }

    /// Mark the link ended: every waiting caller gets its result (the
    /// connection's failure if nothing better). Returns the failure that
    /// took requests down with it, if one did.
    fn end(&self) -> Option<Error> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        st.deliver();
        st.ended = true;
        let failure = st.failure();
        for slot in st.slots.values_mut() {
            if let Slot::Waiting(waker) = slot {
                let waker = waker.take();
                *slot = Slot::Done(Err(failure.clone()));
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
        for w in st.room.drain(..) {
            w.wake();
        }
        st.lost_requests.then_some(failure)
    }
}

impl State {
    /// Why this connection takes no more requests. A connection that
    /// never opened was never poisoned: its connect, TLS or login error is
    /// returned as it is.
    fn failure(&self) -> Error {
        match self.conn.poison_cause() {
            Some(Error::Closed) | None => Error::Closed,
            Some(opening @ (Error::Connect { .. } | Error::Tls { .. } | Error::Auth { .. })) => {
                opening.clone()
            }
            Some(cause) => Error::Poisoned(Arc::new(cause.clone())),
        }
    }

    /// Hand finished requests to their slots and wake their callers; wake
    /// callers waiting for room.
    fn deliver(&mut self) {
        while let Some(done) = self.conn.poll_response() {
            // `quit`, or a request whose caller left: nobody to tell.
            let Some(slot) = self.slots.get_mut(&done.id) else {
                continue;
            };
            self.lost_requests |= done.result.as_ref().is_err_and(Error::is_connection_error);
            let waker = match slot {
                Slot::Waiting(waker) => waker.take(),
                Slot::Done(_) => None,
            };
            *slot = Slot::Done(done.result);
            if let Some(w) = waker {
                w.wake();
            }
        }
        if self.conn.in_flight() < self.max_in_flight {
            for w in self.room.drain(..) {
                w.wake();
            }
        }
    }

    /// Nothing in flight and no caller waiting: time to quit.
    fn is_idle(&self) -> bool {
        self.conn.in_flight() == 0 && self.slots.values().all(|s| matches!(s, Slot::Done(_)))
    }
}

/// Connect to `addr` by `connect_by` ([`Error::connect_timeout`] past
/// it), trying each resolved address in turn.
async fn connect(
    runtime: &dyn Runtime,
    addr: &ServerAddr,
    connect_by: Instant,
) -> Result<Box<dyn AsyncSocket>, Error> {
    let attempt = async {
        let ServerAddr::Tcp { host, port, .. } = addr else {
            let stream = Stream::connect_unix_nonblocking(addr)?;
            return runtime
                .register(stream)
                .map_err(|e| Error::connect(addr, e));
        };
        let candidates = runtime
            .resolve(host.clone(), *port)
            .await
            .map_err(|e| Error::connect(addr, e))?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address");
        for sa in candidates {
            let attempt = async {
                let mut socket = runtime.register(Stream::start_connect(sa)?)?;
                std::future::poll_fn(|cx| socket.poll_connected(cx)).await?;
                Ok::<_, std::io::Error>(socket)
            };
            match attempt.await {
                Ok(socket) => return Ok(socket),
                Err(e) => last = e,
            }
        }
        Err(Error::connect(addr, last))
    };
    let mut attempt = std::pin::pin!(attempt);
    let mut timer = runtime.timer(connect_by);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        timer
            .as_mut()
            .poll_fired(cx)
            .map(|()| Err(Error::connect_timeout(addr)))
    })
    .await
}

/// The drive loop of one connected link.
struct Driver<'a> {
    link: &'a Link,
    socket: Box<dyn AsyncSocket>,
    /// Plain text or TLS, and the login.
    wire: Wire,
    timer: std::pin::Pin<Box<dyn Timer>>,
    /// When the timer is set to fire, if it is.
    armed: Option<Instant>,
    /// `quit` was queued: give up flushing it at this instant.
    quit_by: Option<Instant>,
    quit_timeout: Duration,
}

impl Driver<'_> {
    /// Move bytes, keep deadlines, deliver completions; `Ready` when the
    /// connection is over.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = lock(&self.link.state);
        let st = &mut *guard;
        if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.driver = Some(cx.waker().clone());
        }
        for _ in 0..BUDGET {
            let mut progress = false;
            while self.wire.wants_write(&st.conn) && !st.conn.is_poisoned() {
                match self.socket.poll_write(cx, self.wire.output(&mut st.conn)) {
                    Poll::Ready(written) => {
                        progress = true;
                        if self.wire.apply_write(&mut st.conn, written) != Io::Progress {
                            break;
                        }
                    }
                    Poll::Pending => break,
                }
            }
            // Read even when nothing is in flight, to notice at once a
            // connection the server closed (or bytes nobody asked for).
            if !st.conn.is_poisoned() {
                let buf = self.wire.read_buffer(&mut st.conn);
                if let Poll::Ready(read) = self.socket.poll_read(cx, buf) {
                    progress = true;
                    self.wire.apply_read(&mut st.conn, read);
                }
            }
            let now = Instant::now();
            if st.conn.poll_timeout().is_some_and(|t| t <= now) {
                st.conn.handle_timeout(now);
                progress = true;
            }
            st.deliver();
            if st.conn.is_poisoned() || self.quit_by.is_some_and(|t| t <= now) {
                return Poll::Ready(());
            }
            if st.closing && st.is_idle() {
                match self.quit_by {
                    None => {
                        let _ = st.conn.send(Command::quit(), None);
                        self.wire.close();
                        self.quit_by = Some(now + self.quit_timeout);
                        continue;
                    }
                    Some(_) if !self.wire.wants_write(&st.conn) => return Poll::Ready(()),
                    Some(_) => {}
                }
            }
            if !progress {
                let next = match (st.conn.poll_timeout(), self.quit_by) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let Some(next) = next else {
                    return Poll::Pending;
                };
                // Re-armed only when due earlier: a timer that fires early
                // just re-arms for the next deadline.
                if !matches!(self.armed, Some(armed) if armed <= next) {
                    self.timer.as_mut().reset(next);
                    self.armed = Some(next);
                }
                match self.timer.as_mut().poll_fired(cx) {
                    Poll::Ready(()) => self.armed = None,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        // Busy: let other tasks run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use memwire_core::{Config, TlsErrorKind};

    use super::*;

    /// A caller that reaches a link whose TLS session just failed, before
    /// its driver has ended it, gets the TLS error as it is (naming the
    /// server), not "poisoned by an earlier failure".
    #[test]
    fn a_link_failed_but_not_ended_refuses_with_its_failure() {
        let addr: ServerAddr = "127.0.0.1:11211".parse().unwrap();
        let link = Link::new(addr, Connection::new(Config::default()), 8);
        let refused = Error::Tls {
            server: "127.0.0.1:11211".into(),
            kind: TlsErrorKind::ClientCertRefused,
            message: "certificate required".into(),
        };
        lock(&link.state).conn.handle_failure(refused.clone());
        let config = Config::default();
        let get = Command::from(Command::get("k"));
        let mut cx = Context::from_waker(Waker::noop());
        let sent = link.poll_submit(&mut cx, get.check(&config).unwrap(), Instant::now());
        match sent {
            Poll::Ready(Err(e)) => assert_eq!(e.to_string(), refused.to_string()),
            other => panic!("{other:?}"),
        }
    }
}
