//! [`Adapter`]: one memcached connection driven by a caller's mio event loop.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use memwire_core::client::ServerCounters;
use memwire_core::cluster::ServerAddr;
use memwire_core::{CheckedCommand, Command, Completion, Config, Connection, Error, RequestId};

use crate::net::wire::Wire;
use crate::net::{self, Io, Stream};
use crate::Connector;

/// Where the adapter is registered: a clone of the caller's registry (so
/// that interest can follow pending output from any method), the caller's
/// token and the interest currently registered.
#[derive(Debug)]
struct Registration {
    registry: Registry,
    token: Token,
    interest: Option<Interest>,
}

/// A non-blocking TCP connect in progress.
#[derive(Debug)]
struct Connecting {
    deadline: Option<Instant>,
    /// The server's other addresses, tried in turn when this one fails.
    untried: std::vec::IntoIter<SocketAddr>,
}

/// One connection to one memcached server, for an event loop you own.
///
/// The adapter owns a non-blocking socket (TCP or Unix) and a core
/// [`Connection`]. You register it on your [`Registry`] under your own
/// [`Token`], hand it the events for that token with
/// [`Adapter::handle_event`], wake up at [`Adapter::poll_timeout`] and call
/// [`Adapter::handle_timeout`], and collect finished requests with
/// [`Adapter::poll_response`]. It never blocks and never creates a
/// [`Poll`](mio::Poll) of its own.
///
/// [`Adapter::send`] only queues: requests sent together leave in as few
/// writes as the socket allows, when the `WRITABLE` event comes (or at
/// [`Adapter::flush`]). Interest follows the connection: `READABLE`, plus
/// `WRITABLE` only while a connect is in progress or output is pending. The
/// adapter updates its registration itself (through a clone of the registry
/// taken by [`Adapter::register`]) and writes until `WouldBlock`, as mio's
/// edge-triggered events require; it reads until `WouldBlock` or a read
/// that leaves room in its buffer (the socket was drained: bytes arriving
/// later raise a new event), and until end of file once an event says the
/// server closed. Any number of requests may be in flight (pipelining);
/// they are answered in order.
///
/// Over TLS, or with credentials ([`Adapter::connect_with`] and a
/// [`Connector`]), the handshake and the login run on the same events
/// before any request goes out; the requests queued meanwhile wait for
/// them, within their deadlines.
///
/// When the connection fails — refused, reset, closed by the server, a
/// request past its deadline, a protocol violation, a TLS failure or a
/// refused login ([`Error::Tls`], [`Error::Auth`]) — every pending request
/// completes with an error, the socket is closed and
/// [`Adapter::is_poisoned`] turns true. Collect the completions, then call
/// [`Adapter::reconnect`]. A reply is never delivered to the wrong request.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use mio::{Events, Poll, Token};
/// use memwire::cluster::ServerAddr;
/// use memwire::mio::Adapter;
/// use memwire::{Command, Config, Response};
///
/// const MEMCACHED: Token = Token(42); // any token of yours
///
/// let mut poll = Poll::new()?;
/// let mut events = Events::with_capacity(128);
/// let addr = ServerAddr::parse("memcached://127.0.0.1:11211")?;
/// let mut mc = Adapter::connect(&addr, Config::default(), None)?;
/// mc.register(poll.registry(), MEMCACHED)?;
///
/// // Queue two pipelined requests; nothing blocks.
/// let deadline = Some(Instant::now() + Duration::from_secs(1));
/// let set = mc.send(Command::set("greeting", "hello"), deadline)?;
/// let get = mc.send(Command::get("greeting"), deadline)?;
///
/// let mut pending = 2;
/// while pending > 0 {
///     // Sleep until an event or the adapter's next deadline.
///     let timeout = mc
///         .poll_timeout()
///         .map(|t| t.saturating_duration_since(Instant::now()));
///     poll.poll(&mut events, timeout)?;
///     for event in events.iter() {
///         match event.token() {
///             MEMCACHED => mc.handle_event(event),
///             _ => { /* your other sockets */ }
///         }
///     }
///     mc.handle_timeout(Instant::now());
///     while let Some(done) = mc.poll_response() {
///         pending -= 1;
///         match done.result {
///             Ok(Response::Values(values)) if done.id == get => {
///                 println!("greeting = {:?}", values.first().map(|v| &v.data));
///             }
///             Ok(response) => println!("{:?}: {response:?}", done.id),
///             Err(e) => eprintln!("{:?} failed: {e}", done.id),
///         }
///     }
///     if mc.is_poisoned() {
///         mc.reconnect(None)?; // the next requests use a new socket
///     }
/// }
/// # let _ = set;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Adapter {
    addr: ServerAddr,
    /// How connections are opened: TLS, login.
    connector: Connector,
    /// `None` once the connection failed (the socket is closed).
    stream: Option<Stream>,
    /// Plain text or TLS, and the login.
    wire: Wire,
    conn: Connection,
    /// `Some` until the connect is known to have completed.
    connecting: Option<Connecting>,
    registration: Option<Registration>,
    /// Completions of the connection replaced by [`Adapter::reconnect`].
    leftovers: VecDeque<Completion>,
    /// A socket connected that [`Adapter::take_connected`] has not told.
    connected: bool,
}

impl Adapter {
    // ---- construction ----

    /// Start a non-blocking connect to `addr` (each of its addresses in
    /// turn, until one connects). Requests may be sent at once; they are
    /// written when the connection is established. If it is not
    /// established by `connect_deadline`, [`Adapter::handle_timeout`] fails
    /// it with [`Error::connect_timeout`] (see [`Error::is_timeout`]).
    ///
    /// A host name is resolved here with the system resolver, which may
    /// block; give an IP address to avoid that. A unix socket connects at
    /// once. The connection is plain text, without a login: for TLS or
    /// credentials, see [`Adapter::connect_with`].
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming the server, for failures known at once: a
    /// name that does not resolve, a missing unix socket, a connect refused
    /// immediately. Later connect failures fail the queued requests
    /// instead, with the same error. [`Error::InvalidArgument`] for a
    /// `memcacheds://` server.
    pub fn connect(
        addr: &ServerAddr,
        config: Config,
        connect_deadline: Option<Instant>,
    ) -> Result<Adapter, Error> {
        Adapter::connect_with(addr, &Connector::default(), config, connect_deadline)
    }

    /// [`Adapter::connect`], opening the connection as `connector` says:
    /// TLS when the server uses it, and a login when it has credentials.
    ///
    /// ```no_run
    /// use memwire::cluster::ServerAddr;
    /// use memwire::mio::Adapter;
    /// use memwire::{ClientBuilder, Config, Connector};
    ///
    /// let addr = ServerAddr::parse("memcacheds://cache.internal:11211")?;
    /// let config = ClientBuilder::new()
    ///     .server(addr.to_string())
    ///     .tls_ca_file("/etc/memcached/ca.pem")
    ///     .credentials("app", "s3cret")
    ///     .config()?;
    /// let connector = Connector::new(&config)?;
    /// let mc = Adapter::connect_with(&addr, &connector, Config::default(), None)?;
    /// # let _ = mc;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Adapter::connect`]; [`Error::InvalidArgument`] for a TLS server
    /// when `connector` was not made for one.
    pub fn connect_with(
        addr: &ServerAddr,
        connector: &Connector,
        config: Config,
        connect_deadline: Option<Instant>,
    ) -> Result<Adapter, Error> {
        let wire = connector.wire(addr)?;
        let (stream, connecting) = open(addr, connect_deadline)?;
        Ok(Adapter::new(
            addr,
            connector.clone(),
            config,
            (stream, wire),
            connecting,
        ))
    }

    fn new(
        addr: &ServerAddr,
        connector: Connector,
        config: Config,
        (stream, wire): (Stream, Wire),
        connecting: Option<Connecting>,
    ) -> Adapter {
        Adapter {
            addr: addr.clone(),
            connector,
            stream: Some(stream),
            wire,
            conn: Connection::new(config),
            // A unix socket connects at once.
            connected: connecting.is_none(),
            connecting,
            registration: None,
            leftovers: VecDeque::new(),
        }
    }

    /// Replace the connection with a new one to the same server (and the
    /// same registration, if any). Requests still pending on the old
    /// connection fail with [`Error::Closed`]; completions not yet collected
    /// are still returned by [`Adapter::poll_response`], before any of the
    /// new connection. Request ids continue after the old connection's
    /// ([`Connection::successor`]), so they stay unique across reconnects.
    ///
    /// # Errors
    ///
    /// As [`Adapter::connect`], and registry errors ([`Error::Io`]). On
    /// error the adapter stays poisoned, with the error as its
    /// [`poison_cause`](Adapter::poison_cause); try again later.
    pub fn reconnect(&mut self, connect_deadline: Option<Instant>) -> Result<(), Error> {
        self.conn.handle_close();
        self.leftovers
            .extend(std::iter::from_fn(|| self.conn.poll_response()));
        self.close_socket();
        self.connecting = None;
        self.conn = self.conn.successor();
        let opened = self.connector.wire(&self.addr).and_then(|wire| {
            let (stream, connecting) = open(&self.addr, connect_deadline)?;
            self.wire = wire;
            self.stream = Some(stream);
            self.connected = connecting.is_none();
            self.connecting = connecting;
            self.apply_interest().map_err(Error::from)
        });
        if let Err(e) = &opened {
            self.conn.handle_failure(e.clone());
            self.settle();
        }
        opened
    }

    // ---- registration ----

    /// Register the socket on `registry` under `token`. The adapter keeps a
    /// clone of the registry to update its interest as output comes and
    /// goes. Registering again moves it to the new registry and token.
    ///
    /// # Errors
    ///
    /// Errors of [`Registry::try_clone`] and [`Registry::register`].
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.deregister()?;
        self.registration = Some(Registration {
            registry: registry.try_clone()?,
            token,
            interest: None,
        });
        self.apply_interest()
    }

    /// Move the registration to another registry or token (the same as
    /// [`Adapter::register`]).
    ///
    /// # Errors
    ///
    /// As [`Adapter::register`].
    pub fn reregister(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.register(registry, token)
    }

    /// Remove the socket from the registry. Requests stay queued; nothing
    /// moves until the adapter is registered again.
    ///
    /// # Errors
    ///
    /// Errors of [`Registry::deregister`].
    pub fn deregister(&mut self) -> io::Result<()> {
        let Some(reg) = self.registration.take() else {
            return Ok(());
        };
        match (&self.stream, reg.interest) {
            (Some(stream), Some(_)) => reg.registry.deregister(&mut SourceFd(&stream.as_raw_fd())),
            _ => Ok(()),
        }
    }

    // ---- getters ----

    /// The server this adapter connects to.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The token given to [`Adapter::register`], while registered.
    pub fn token(&self) -> Option<Token> {
        self.registration.as_ref().map(|r| r.token)
    }

    /// The interest currently registered: `READABLE`, plus `WRITABLE`
    /// while connecting or while output is pending; `None` when not
    /// registered or closed.
    pub fn interest(&self) -> Option<Interest> {
        self.registration.as_ref().and_then(|r| r.interest)
    }

    /// Whether the non-blocking connect is still in progress.
    pub fn is_connecting(&self) -> bool {
        self.stream.is_some() && self.connecting.is_some()
    }

    /// Whether the socket is connected and usable.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some() && self.connecting.is_none() && !self.conn.is_poisoned()
    }

    /// Whether the connection failed and must be replaced with
    /// [`Adapter::reconnect`]. Every request it had has completed (with an
    /// error, if no reply had arrived).
    pub fn is_poisoned(&self) -> bool {
        self.conn.is_poisoned()
    }

    /// Why the connection is unusable, if it is: the connect error naming
    /// the server, the I/O error, [`Error::Timeout`], [`Error::Closed`], ...
    pub fn poison_cause(&self) -> Option<&Error> {
        self.conn.poison_cause()
    }

    /// Whether bytes are queued for the socket (requests, or the TLS
    /// handshake's and the login's).
    pub fn wants_write(&self) -> bool {
        self.wire.wants_write(&self.conn)
    }

    /// Number of requests awaiting a reply.
    pub fn in_flight(&self) -> usize {
        self.conn.in_flight()
    }

    /// The protocol state (limits, buffered input, ...).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    // ---- requests in ----

    /// Queue `command`; it is written with the other queued requests when
    /// the socket reports `WRITABLE` (or at [`Adapter::flush`]). Its reply,
    /// or its failure, comes from [`Adapter::poll_response`] with the
    /// returned id; `deadline` bounds the wait for it (see
    /// [`Adapter::handle_timeout`]).
    ///
    /// # Errors
    ///
    /// Invalid input ([`Error::InvalidKey`], ...) — nothing is sent — or a
    /// poisoned connection ([`Error::Poisoned`] or [`Error::Closed`]): call
    /// [`Adapter::reconnect`].
    pub fn send(
        &mut self,
        command: impl Into<Command>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        let id = self.conn.send(command, deadline)?;
        self.settle();
        Ok(id)
    }

    /// Write queued output now, as far as the socket takes it without
    /// blocking (nothing while connecting); `WRITABLE` interest covers the
    /// rest. Call it after a burst of [`Adapter::send`]s to save the round
    /// through the poll.
    pub fn flush(&mut self) {
        if self.connecting.is_none() {
            self.write_output();
        }
        self.settle();
    }

    /// The caller no longer wants the reply to `id`; it will be read and
    /// discarded, never handed to another request. Returns whether `id` was
    /// still unfinished or its completion not yet collected.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        if let Some(i) = self.leftovers.iter().position(|done| done.id == id) {
            self.leftovers.remove(i);
            return true;
        }
        self.conn.abandon(id)
    }

    // ---- events in ----

    /// Handle a readiness event for this adapter's token: complete a
    /// pending connect (or move on to the server's next address), write
    /// pending output and, when readable, read what has arrived.
    /// Spurious events are harmless.
    pub fn handle_event(&mut self, event: &Event) {
        if self.check_connect() {
            self.write_output();
            let closing = event.is_read_closed() || event.is_error();
            if event.is_readable() || closing {
                self.read_input(closing);
                // The handshake (or the login) may go on at once.
                self.write_output();
            }
        }
        self.settle();
    }

    /// Fail what has passed its deadline at `now`: the connect (every
    /// queued request fails with [`Error::connect_timeout`]) or requests
    /// awaiting a reply ([`Error::Timeout`]; the connection is poisoned
    /// because the late reply may still arrive).
    pub fn handle_timeout(&mut self, now: Instant) {
        let connect_late = self.is_connecting()
            && self
                .connecting
                .as_ref()
                .and_then(|c| c.deadline)
                .is_some_and(|d| d <= now);
        if connect_late {
            self.conn.handle_failure(Error::connect_timeout(&self.addr));
        } else {
            self.conn.handle_timeout(now);
        }
        self.settle();
    }

    // ---- outputs ----

    /// The next finished request, in the order they finished.
    #[must_use]
    pub fn poll_response(&mut self) -> Option<Completion> {
        self.leftovers
            .pop_front()
            .or_else(|| self.conn.poll_response())
    }

    /// When [`Adapter::handle_timeout`] must be called next: the earliest
    /// of the connect deadline and the deadlines of pending requests.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = match &self.connecting {
            Some(c) if self.stream.is_some() => c.deadline,
            _ => None,
        };
        match (connect, self.conn.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last error the server sent for a `noreply` request, if any
    /// arrived since the previous call.
    pub fn take_noreply_error(&mut self) -> Option<Error> {
        self.conn.take_noreply_error()
    }

    // ---- for the ready-made client ----

    /// Queue `command` (kept by the caller, to send it again elsewhere if
    /// need be) without touching the registration: the caller flushes or
    /// [`settle`](Adapter::settle)s afterwards.
    pub(crate) fn queue(
        &mut self,
        command: &Command,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        self.conn.send_command(command, deadline)
    }

    /// Count this connection's bytes (and its successors') into
    /// `counters`; call it before any request.
    pub(crate) fn count_into(&mut self, counters: Arc<ServerCounters>) {
        let fresh = Connection::new(*self.conn.config());
        self.conn = std::mem::replace(&mut self.conn, fresh).counting(counters);
    }

    /// Whether a socket connected since the last call.
    pub(crate) fn take_connected(&mut self) -> bool {
        std::mem::take(&mut self.connected)
    }

    /// [`Adapter::queue`] for a command checked already (not checked
    /// again).
    pub(crate) fn queue_checked(
        &mut self,
        command: CheckedCommand<'_>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        self.conn.send_checked(command, deadline)
    }

    /// Do all the I/O possible now, without blocking (on an idle adapter:
    /// find out whether the server closed it).
    pub(crate) fn drive(&mut self) {
        if self.check_connect() {
            self.write_output();
            self.read_input(true);
            self.write_output();
        }
        self.settle();
    }

    /// Best effort: send `quit` (and TLS's `close_notify`) if the socket
    /// takes it at once, then close.
    pub(crate) fn quit(mut self) {
        if self.is_connected() && self.conn.send(Command::quit(), None).is_ok() {
            self.wire.close();
            self.write_output();
        }
    }

    /// After any change: close a dead connection's socket, or make the
    /// registered interest match the pending output.
    pub(crate) fn settle(&mut self) {
        if self.conn.is_poisoned() {
            self.close_socket();
            self.connecting = None;
        } else if let Err(e) = self.apply_interest() {
            self.conn.handle_failure(e.into());
            self.settle();
        }
    }

    // ---- internals ----

    /// Whether the socket is connected (`false`: not yet, or dead). A
    /// failed connect moves on to the next address; after the last one,
    /// every pending request fails with the connect error.
    fn check_connect(&mut self) -> bool {
        let Some(stream) = &self.stream else {
            return false;
        };
        if self.connecting.is_none() {
            return true;
        }
        match stream.finish_connect() {
            Ok(true) => {
                self.connecting = None;
                self.connected = true;
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.try_next_address(e);
                false
            }
        }
    }

    /// The connect failed with `failure`: start one to the server's next
    /// address (registered by the next [`Adapter::settle`]), or fail.
    fn try_next_address(&mut self, failure: io::Error) {
        self.close_socket();
        let Some(connecting) = &mut self.connecting else {
            return;
        };
        match start_next(&self.addr, &mut connecting.untried, Some(failure)) {
            Ok(stream) => self.stream = Some(stream),
            Err(e) => self.conn.handle_failure(e),
        }
    }

    fn write_output(&mut self) {
        while self.wire.wants_write(&self.conn) && !self.conn.is_poisoned() {
            let Some(stream) = &self.stream else {
                return;
            };
            let written = (&*stream).write(self.wire.output(&mut self.conn));
            if self.wire.apply_write(&mut self.conn, written) != Io::Progress {
                return;
            }
        }
    }

    /// Read what the socket holds: until `WouldBlock`, or — unless
    /// `to_the_end` — until a read leaves room in the buffer. A short read
    /// drained the socket's receive queue, and with edge-triggered events
    /// any byte arriving later raises a new event, so the read that would
    /// only return `WouldBlock` is saved (one system call per reply). The
    /// end of file needs no new arrival to be seen: once an event says the
    /// server closed, and when no event is at hand, read to the end.
    fn read_input(&mut self, to_the_end: bool) {
        while !self.conn.is_poisoned() {
            let Some(stream) = &self.stream else {
                return;
            };
            let buffer = self.wire.read_buffer(&mut self.conn);
            let room = buffer.len();
            let read = (&*stream).read(buffer);
            let drained = !to_the_end && matches!(read, Ok(n) if n > 0 && n < room);
            if self.wire.apply_read(&mut self.conn, read) != Io::Progress || drained {
                return;
            }
        }
    }

    fn close_socket(&mut self) {
        if let (Some(reg), Some(stream)) = (&mut self.registration, &self.stream) {
            if reg.interest.take().is_some() {
                // The socket is closed next, which removes it anyway.
                let _ = reg.registry.deregister(&mut SourceFd(&stream.as_raw_fd()));
            }
        }
        self.stream = None;
    }

    fn apply_interest(&mut self) -> io::Result<()> {
        let (Some(reg), Some(stream)) = (&mut self.registration, &self.stream) else {
            return Ok(());
        };
        let wanted = if self.connecting.is_some() || self.wire.wants_write(&self.conn) {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let fd = stream.as_raw_fd();
        match reg.interest {
            Some(current) if current == wanted => return Ok(()),
            Some(_) => reg
                .registry
                .reregister(&mut SourceFd(&fd), reg.token, wanted)?,
            None => reg
                .registry
                .register(&mut SourceFd(&fd), reg.token, wanted)?,
        }
        reg.interest = Some(wanted);
        Ok(())
    }
}

/// Start connecting to `addr`: a unix socket at once, TCP non-blocking to
/// its first address that takes a connect.
fn open(
    addr: &ServerAddr,
    deadline: Option<Instant>,
) -> Result<(Stream, Option<Connecting>), Error> {
    match net::resolve(addr)? {
        None => Ok((Stream::connect_unix_nonblocking(addr)?, None)),
        Some(found) => {
            let mut untried = found.into_iter();
            let stream = start_next(addr, &mut untried, None)?;
            Ok((stream, Some(Connecting { deadline, untried })))
        }
    }
}

/// A non-blocking connect to the next of `untried` that takes one; the
/// last failure (`last` when none is left) names `addr`.
fn start_next(
    addr: &ServerAddr,
    untried: &mut std::vec::IntoIter<SocketAddr>,
    mut last: Option<io::Error>,
) -> Result<Stream, Error> {
    for sa in untried.by_ref() {
        match Stream::start_connect(sa) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into());
    Err(Error::connect(addr, e))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use mio::{Events, Poll};

    use super::*;

    /// A connect refused by one of the server's addresses moves on to the
    /// next (here, a refused port first, then a listening one).
    #[test]
    fn a_refused_address_moves_on_to_the_next() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        let refused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let addr = ServerAddr::parse(&good.to_string()).unwrap();
        let mut untried = vec![refused, good].into_iter();
        let stream = start_next(&addr, &mut untried, None).unwrap();
        let connecting = Connecting {
            deadline: None,
            untried,
        };
        let wire = Connector::default().wire(&addr).unwrap();
        let mut mc = Adapter::new(
            &addr,
            Connector::default(),
            Config::default(),
            (stream, wire),
            Some(connecting),
        );
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(8);
        mc.register(poll.registry(), Token(7)).unwrap();
        let started = Instant::now();
        while !mc.is_connected() {
            assert!(!mc.is_poisoned(), "{:?}", mc.poison_cause());
            assert!(started.elapsed() < Duration::from_secs(5), "not connected");
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for event in events.iter() {
                mc.handle_event(event);
            }
        }
        assert_eq!(mc.interest(), Some(Interest::READABLE));
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_ok(), "connected to the listening port");
    }
}
