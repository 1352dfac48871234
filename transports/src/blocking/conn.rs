//! [`Conn`]: one blocking socket driving one core [`Connection`].

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use memwire_core::cluster::ServerAddr;
use memwire_core::{CheckedCommand, Command, Connection, Error, RequestId, Response};

use crate::net::wire::Wire;
use crate::net::Stream;
use crate::Connector;

/// A socket timeout within this of the one wanted ([`socket_timeout`]) is
/// left as it is: a deadline may pass up to this late, never early, and a
/// request costs no `setsockopt` calls in the common case.
const TIMEOUT_SLACK: Duration = Duration::from_millis(5);

/// A connected socket and its protocol state. Dropped (never reused) once
/// the protocol state is poisoned.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    /// Plain text or TLS, and the login.
    wire: Wire,
    proto: Connection,
    /// Completions polled while waiting for another request.
    stash: Vec<(RequestId, Result<Response, Error>)>,
    /// The socket's read and write timeouts as last set.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The clock as last read, before the latest write or read: when the
    /// connection was last at work, for the pool's idle check (no clock
    /// read of its own on every return to the pool).
    last_clock: Instant,
}

/// The socket timeout for a read or write that must end within
/// `remaining`. The kernel runs socket timeouts on its coarse timer wheel,
/// which may fire up to an eighth of the timeout late (Linux rounds a
/// timeout of 64 ticks or more up to 8 ticks: with HZ=250 a 250 ms
/// timeout fired after 287 ms); so the socket wakes by 8/9 of the time
/// left, and a read or write woken before the deadline goes on with what
/// is left (a few more wake-ups, only when nothing arrives).
fn socket_timeout(remaining: Duration) -> Duration {
    remaining - remaining / 9
}

/// Whether a socket timeout of `current` must be set anew to `wanted`:
/// when it is unset or differs by more than [`TIMEOUT_SLACK`].
fn needs_update(current: Option<Duration>, wanted: Duration) -> bool {
    !current.is_some_and(|t| t <= wanted + TIMEOUT_SLACK && t + TIMEOUT_SLACK >= wanted)
}

impl Conn {
    /// Connect to `addr` by `connect_by`, for `proto`; then
    /// [`open`](Conn::open) it.
    pub(crate) fn connect(
        addr: &ServerAddr,
        connector: &Connector,
        connect_by: Instant,
        proto: Connection,
    ) -> Result<Conn, Error> {
        let wire = connector.wire(addr)?;
        Ok(Conn {
            stream: Stream::connect(addr, connect_by)?,
            wire,
            proto,
            stash: Vec::new(),
            read_timeout: None,
            write_timeout: None,
            last_clock: Instant::now(),
        })
    }

    /// Run the TLS handshake and the login (nothing to do in plain text
    /// without credentials), by `deadline`.
    pub(crate) fn open(&mut self, deadline: Instant) -> Result<(), Error> {
        loop {
            if let Some(cause) = self.proto.poison_cause() {
                return Err(cause.clone());
            }
            if self.wire.wants_write(&self.proto) {
                self.write_some(deadline)?;
            } else if self.wire.is_open() {
                return Ok(());
            } else {
                self.read_some(deadline)?;
            }
        }
    }

    /// One write of what the wire has for the socket, by `deadline`.
    fn write_some(&mut self, deadline: Instant) -> Result<(), Error> {
        self.last_clock = Instant::now();
        let remaining = deadline.saturating_duration_since(self.last_clock);
        if remaining.is_zero() {
            return Err(Error::Timeout);
        }
        let wanted = socket_timeout(remaining);
        if needs_update(self.write_timeout, wanted) {
            self.stream.set_write_timeout(wanted)?;
            self.write_timeout = Some(wanted);
        }
        let written = (&self.stream).write(self.wire.output(&mut self.proto));
        // A blocked write is retried: the socket timeout may be a little
        // shorter than the time left, and only the deadline counts.
        self.wire.apply_write(&mut self.proto, written);
        Ok(())
    }

    /// One read into the wire, by `deadline`.
    fn read_some(&mut self, deadline: Instant) -> Result<(), Error> {
        self.last_clock = Instant::now();
        let remaining = deadline.saturating_duration_since(self.last_clock);
        if remaining.is_zero() {
            return Err(Error::Timeout);
        }
        let wanted = socket_timeout(remaining);
        if needs_update(self.read_timeout, wanted) {
            self.stream.set_read_timeout(wanted)?;
            self.read_timeout = Some(wanted);
        }
        let read = (&self.stream).read(self.wire.read_buffer(&mut self.proto));
        self.wire.apply_read(&mut self.proto, read);
        Ok(())
    }

    /// Whether this idle connection can be reused: not poisoned, nothing in
    /// flight, and — when `check` — the server has neither closed it nor
    /// sent anything (one system call).
    pub(crate) fn is_reusable(&self, check: bool) -> bool {
        self.is_healthy() && (!check || self.stream.is_idle_and_open())
    }

    /// When the connection was last at work: at or a little before its
    /// latest write or read began (idle since then, at the latest).
    pub(crate) fn last_active(&self) -> Instant {
        self.last_clock
    }

    /// Whether the connection may go back to the idle pool.
    pub(crate) fn is_healthy(&self) -> bool {
        !self.proto.is_poisoned() && self.proto.in_flight() == 0
    }

    /// Why the connection is unusable, if it is.
    pub(crate) fn failure(&self) -> Option<&Error> {
        self.proto.poison_cause()
    }

    /// Queue `command` (no I/O).
    pub(crate) fn send(
        &mut self,
        command: &Command,
        deadline: Instant,
    ) -> Result<RequestId, Error> {
        self.proto.send_command(command, Some(deadline))
    }

    /// Queue a command checked already (no I/O, no second check).
    pub(crate) fn send_checked(
        &mut self,
        command: CheckedCommand<'_>,
        deadline: Instant,
    ) -> Result<RequestId, Error> {
        self.proto.send_checked(command, Some(deadline))
    }

    /// The deadline passed: fail what is due (poisons the connection when
    /// requests are pending).
    fn expire(&mut self, deadline: Instant) {
        self.proto.handle_timeout(Instant::now().max(deadline));
    }

    /// Write everything queued, by `deadline`. Failures are recorded in the
    /// protocol state (every pending request fails); they surface from
    /// [`Conn::wait`].
    pub(crate) fn flush(&mut self, deadline: Instant) {
        while self.wire.wants_write(&self.proto) && !self.proto.is_poisoned() {
            match self.write_some(deadline) {
                Ok(()) => {}
                Err(Error::Timeout) => return self.expire(deadline),
                Err(e) => return self.proto.handle_failure(e),
            }
        }
    }

    #[inline]
    fn take(&mut self, id: RequestId) -> Option<Result<Response, Error>> {
        if let Some(i) = self.stash.iter().position(|(done, _)| *done == id) {
            return Some(self.stash.swap_remove(i).1);
        }
        while let Some(done) = self.proto.poll_response() {
            if done.id == id {
                return Some(done.result);
            }
            self.stash.push((done.id, done.result));
        }
        None
    }

    /// Write what is queued, then read until request `id` completes or the
    /// deadline passes.
    pub(crate) fn wait(&mut self, id: RequestId, deadline: Instant) -> Result<Response, Error> {
        self.flush(deadline);
        loop {
            if let Some(result) = self.take(id) {
                return result;
            }
            if !self.proto.wants_read() {
                // Unknown id, or a dead connection that has already
                // reported every request: nothing will arrive.
                return Err(self.proto.poison_cause().cloned().unwrap_or(Error::Closed));
            }
            match self.read_some(deadline) {
                Ok(()) => {}
                Err(Error::Timeout) => self.expire(deadline),
                Err(e) => self.proto.handle_failure(e),
            }
            // A post-handshake TLS message may want an answer.
            if self.wire.wants_write(&self.proto) {
                self.flush(deadline);
            }
        }
    }

    /// Best effort: send `quit` (and TLS's `close_notify`) within
    /// `timeout`, then drop the socket.
    pub(crate) fn quit(mut self, timeout: Duration) {
        if self.proto.send(Command::quit(), None).is_ok() {
            self.wire.close();
            self.flush(Instant::now() + timeout);
        }
    }
}
