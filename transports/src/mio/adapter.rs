//! [`Adapter`]: one memcached connection driven by a caller's mio event loop.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
#[cfg(unix)]
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

use memwire_core::cluster::ServerAddr;
use memwire_core::{Command, Completion, Config, Connection, Error, RequestId};

/// Bytes read from the socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(unix)]
            Stream::Unix(s) => s,
        }
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            #[cfg(unix)]
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// Whether the socket is connected (`Ok(false)`: not yet).
    fn is_connected(&self) -> io::Result<bool> {
        let peer = match self {
            Stream::Tcp(s) => s.peer_addr().map(drop),
            #[cfg(unix)]
            Stream::Unix(s) => s.peer_addr().map(drop),
        };
        match peer {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotConnected | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }
}

/// Where the adapter is registered: a clone of the caller's registry (so
/// that interest can follow pending output from any method), the caller's
/// token and the interest currently registered.
#[derive(Debug)]
struct Registration {
    registry: Registry,
    token: Token,
    interest: Option<Interest>,
}

/// One connection to one memcached server, for an event loop you own.
///
/// The adapter owns a non-blocking [`mio::net::TcpStream`] (or
/// [`mio::net::UnixStream`]) and a core [`Connection`]. You register it on
/// your [`Registry`] under your own [`Token`], hand it the events for that
/// token with [`Adapter::handle_event`], wake up at
/// [`Adapter::poll_timeout`] and call [`Adapter::handle_timeout`], and
/// collect finished requests with [`Adapter::poll_response`]. It never
/// blocks and never creates a [`Poll`](mio::Poll) of its own.
///
/// Interest follows the connection: `READABLE`, plus `WRITABLE` only while
/// a connect is in progress or output is pending. The adapter updates its
/// registration itself (through a clone of the registry taken by
/// [`Adapter::register`]) and always reads and writes until `WouldBlock`,
/// as mio's edge-triggered events require. Any number of requests may be
/// in flight (pipelining); they are answered in order.
///
/// When the connection fails — refused, reset, closed by the server, a
/// request past its deadline, a protocol violation — every pending request
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
    /// `None` once the connection failed (the socket is closed).
    stream: Option<Stream>,
    conn: Connection,
    /// The non-blocking connect has not completed yet.
    connecting: bool,
    connect_deadline: Option<Instant>,
    registration: Option<Registration>,
    /// Why the socket failed; reported instead of the core's `Closed`.
    failure: Option<Error>,
    /// Completions of the connection replaced by [`Adapter::reconnect`].
    leftovers: VecDeque<Completion>,
    buf: Box<[u8]>,
}

impl Adapter {
    // ---- construction ----

    /// Start a non-blocking connect to `addr`. Requests may be sent at once;
    /// they are written when the connection is established. If it is not
    /// established by `connect_deadline`, [`Adapter::handle_timeout`] fails
    /// it with [`Error::Timeout`].
    ///
    /// A host name is resolved here with the system resolver, which may
    /// block; give an IP address to avoid that.
    ///
    /// # Errors
    ///
    /// Errors known at once: a name that does not resolve, a missing unix
    /// socket, a connect refused immediately. Later connect failures fail
    /// the queued requests instead.
    pub fn connect(
        addr: &ServerAddr,
        config: Config,
        connect_deadline: Option<Instant>,
    ) -> io::Result<Adapter> {
        let stream = open(addr)?;
        Ok(Adapter {
            addr: addr.clone(),
            stream: Some(stream),
            conn: Connection::new(config),
            connecting: true,
            connect_deadline,
            registration: None,
            failure: None,
            leftovers: VecDeque::new(),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
        })
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
    /// As [`Adapter::connect`], and registry errors. On error the adapter
    /// stays poisoned; try again later.
    pub fn reconnect(&mut self, connect_deadline: Option<Instant>) -> io::Result<()> {
        self.conn.handle_close();
        while let Some(done) = self.conn.poll_response() {
            let done = self.map_failure(done);
            self.leftovers.push_back(done);
        }
        self.close_socket();
        let stream = open(&self.addr)?;
        self.stream = Some(stream);
        self.conn = self.conn.successor();
        self.connecting = true;
        self.connect_deadline = connect_deadline;
        self.failure = None;
        self.apply_interest()
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
        match (&mut self.stream, reg.interest) {
            (Some(stream), Some(_)) => reg.registry.deregister(stream.source()),
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
        self.stream.is_some() && self.connecting
    }

    /// Whether the socket is connected and usable.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some() && !self.connecting && !self.conn.is_poisoned()
    }

    /// Whether the connection failed and must be replaced with
    /// [`Adapter::reconnect`]. Every request it had has completed (with an
    /// error, if no reply had arrived).
    pub fn is_poisoned(&self) -> bool {
        self.conn.is_poisoned()
    }

    /// Why the connection is unusable, if it is.
    pub fn poison_cause(&self) -> Option<&Error> {
        self.failure.as_ref().or(self.conn.poison_cause())
    }

    /// Whether bytes are queued for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
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

    /// Queue `command` and try to write it at once (without blocking). Its
    /// reply, or its failure, comes from [`Adapter::poll_response`] with
    /// the returned id; `deadline` bounds the wait for it (see
    /// [`Adapter::handle_timeout`]).
    ///
    /// # Errors
    ///
    /// Invalid input ([`Error::InvalidKey`], ...) — nothing is sent — or a
    /// poisoned connection ([`Error::Poisoned`], [`Error::Closed`], or the
    /// I/O error that closed it): call [`Adapter::reconnect`].
    pub fn send(
        &mut self,
        command: impl Into<Command>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        let id = match self.conn.send(command, deadline) {
            Ok(id) => id,
            Err(Error::Closed) => return Err(self.failure.clone().unwrap_or(Error::Closed)),
            Err(e) => return Err(e),
        };
        if !self.connecting && self.stream.is_some() {
            self.flush_output();
        }
        self.settle();
        Ok(id)
    }

    /// The caller no longer wants the reply to `id`; it will be read and
    /// discarded, never handed to another request. Returns whether `id` was
    /// still unfinished or its completion not yet collected.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        self.conn.abandon(id)
    }

    // ---- events in ----

    /// Handle a readiness event for this adapter's token: complete a
    /// pending connect, write pending output and read until `WouldBlock`.
    /// Spurious events are harmless.
    pub fn handle_event(&mut self, event: &Event) {
        if self.connecting && (event.is_error() || event.is_write_closed()) {
            match self.check_connect() {
                Ok(true) => {}
                Ok(false) => {
                    self.fail(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("connecting to {} failed", self.addr),
                    ));
                    return;
                }
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        self.drive();
    }

    /// Fail what has passed its deadline at `now`: the connect (with
    /// [`Error::Timeout`], failing every queued request) or requests
    /// awaiting a reply ([`Error::Timeout`]; the connection is poisoned
    /// because the late reply may still arrive).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_connecting() && self.connect_deadline.is_some_and(|d| d <= now) {
            self.failure = Some(Error::Timeout);
            self.conn.handle_close();
        } else {
            self.conn.handle_timeout(now);
        }
        self.settle();
    }

    // ---- outputs ----

    /// The next finished request, in the order they finished.
    #[must_use]
    pub fn poll_response(&mut self) -> Option<Completion> {
        if let Some(done) = self.leftovers.pop_front() {
            return Some(done);
        }
        let done = self.conn.poll_response()?;
        Some(self.map_failure(done))
    }

    /// When [`Adapter::handle_timeout`] must be called next: the earliest
    /// of the connect deadline and the deadlines of pending requests.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = if self.is_connecting() {
            self.connect_deadline
        } else {
            None
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

    // ---- internals ----

    /// Do all the I/O possible now, without blocking.
    pub(crate) fn drive(&mut self) {
        if self.stream.is_none() {
            return;
        }
        if self.connecting {
            match self.check_connect() {
                Ok(true) => {}
                Ok(false) => {
                    self.settle();
                    return;
                }
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        self.flush_output();
        self.read_input();
        self.settle();
    }

    /// Whether the connect has completed (`Ok(false)`: not yet).
    fn check_connect(&mut self) -> io::Result<bool> {
        let Some(stream) = &self.stream else {
            return Ok(false);
        };
        if !self.connecting {
            return Ok(true);
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        if !stream.is_connected()? {
            return Ok(false);
        }
        if let Stream::Tcp(s) = stream {
            // Requests are small and pipelined: do not wait for acks.
            let _ = s.set_nodelay(true);
        }
        self.connecting = false;
        Ok(true)
    }

    fn flush_output(&mut self) {
        while self.conn.wants_write() {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.write(self.conn.pending_output()) {
                Ok(0) => return self.fail(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.conn.advance_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.fail(e),
            }
        }
    }

    fn read_input(&mut self) {
        while !self.conn.is_poisoned() {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.read(&mut self.buf) {
                Ok(0) => {
                    // The server closed the connection.
                    self.conn.handle_close();
                    return;
                }
                Ok(n) => {
                    let data = self.buf.get(..n).unwrap_or_default();
                    self.conn.handle_input(data);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.fail(e),
            }
        }
    }

    /// The socket failed: every pending request fails with `e`.
    fn fail(&mut self, e: io::Error) {
        if !self.conn.is_poisoned() {
            self.failure = Some(if self.is_connecting() {
                Error::connect(&self.addr, e)
            } else {
                Error::Io(Arc::new(e))
            });
            self.conn.handle_close();
        }
        self.close_socket();
    }

    fn map_failure(&self, mut done: Completion) -> Completion {
        if let (Err(Error::Closed), Some(failure)) = (&done.result, &self.failure) {
            done.result = Err(failure.clone());
        }
        done
    }

    /// After any change: close a dead connection's socket, or make the
    /// registered interest match the pending output.
    fn settle(&mut self) {
        if self.conn.is_poisoned() {
            self.close_socket();
        } else if let Err(e) = self.apply_interest() {
            self.fail(e);
        }
    }

    fn close_socket(&mut self) {
        if let (Some(reg), Some(stream)) = (&mut self.registration, &mut self.stream) {
            if reg.interest.is_some() {
                let _ = reg.registry.deregister(stream.source());
            }
            reg.interest = None;
        }
        self.stream = None;
    }

    fn apply_interest(&mut self) -> io::Result<()> {
        let (Some(reg), Some(stream)) = (&mut self.registration, &mut self.stream) else {
            return Ok(());
        };
        let wanted = if self.connecting || self.conn.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        match reg.interest {
            Some(current) if current == wanted => return Ok(()),
            Some(_) => reg
                .registry
                .reregister(stream.source(), reg.token, wanted)?,
            None => reg.registry.register(stream.source(), reg.token, wanted)?,
        }
        reg.interest = Some(wanted);
        Ok(())
    }
}

/// Start a non-blocking connect.
fn open(addr: &ServerAddr) -> io::Result<Stream> {
    match addr {
        ServerAddr::Tcp { host, port } => {
            let mut last = None;
            for sa in (host.as_str(), *port).to_socket_addrs()? {
                match TcpStream::connect(sa) {
                    Ok(s) => return Ok(Stream::Tcp(s)),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                )
            }))
        }
        #[cfg(unix)]
        ServerAddr::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        #[cfg(not(unix))]
        ServerAddr::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets are not supported on this platform",
        )),
    }
}
