//! One socket driving one core [`Connection`], with blocking std I/O.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use memwire_core::cluster::ServerAddr;
use memwire_core::{Command, Config, Connection, Error, RequestId, Response};

/// Bytes read from the socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// A socket timeout within this of the time left is left as it is: a
/// deadline may pass up to this late, never early, and a request costs no
/// `setsockopt` calls in the common case.
const TIMEOUT_SLACK: Duration = Duration::from_millis(5);

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }

    fn set_write_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(t)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(Some(t)),
        }
    }

    /// Peek at one byte without blocking, in one system call.
    #[cfg(unix)]
    fn peek_now(&self) -> io::Result<usize> {
        let socket = match self {
            Stream::Tcp(s) => socket2::SockRef::from(s),
            Stream::Unix(s) => socket2::SockRef::from(s),
        };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        socket.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
    }

    /// Peek at one byte without blocking.
    #[cfg(not(unix))]
    fn peek_now(&self) -> io::Result<usize> {
        let Stream::Tcp(s) = self;
        s.set_nonblocking(true)?;
        let peeked = s.peek(&mut [0u8; 1]);
        s.set_nonblocking(false)?;
        peeked
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

/// A connected socket and its protocol state. Dropped (never reused) once
/// the protocol state is poisoned or the socket failed.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    proto: Connection,
    buf: Box<[u8]>,
    /// Completions polled while waiting for another request.
    stash: Vec<(RequestId, Result<Response, Error>)>,
    /// The I/O error that broke the socket, reported instead of `Closed`.
    io_error: Option<Error>,
    /// The socket's read and write timeouts as last set.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// Whether a socket timeout of `current` must be set anew for `remaining`:
/// when it is unset or differs by more than [`TIMEOUT_SLACK`].
fn needs_update(current: Option<Duration>, remaining: Duration) -> bool {
    !current.is_some_and(|t| t <= remaining + TIMEOUT_SLACK && t + TIMEOUT_SLACK >= remaining)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    /// Connect to `addr` within `connect_timeout`.
    pub(crate) fn connect(
        addr: &ServerAddr,
        connect_timeout: Duration,
        protocol: Config,
    ) -> Result<Conn, Error> {
        let stream = match addr {
            ServerAddr::Tcp { host, port } => {
                let mut last = None;
                let mut found = None;
                let resolved = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| Error::connect(addr, e))?;
                for sa in resolved {
                    match TcpStream::connect_timeout(&sa, connect_timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = match (found, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) if is_timeout(&e) => return Err(Error::Timeout),
                    (None, Some(e)) => return Err(Error::connect(addr, e)),
                    (None, None) => {
                        let none =
                            io::Error::new(io::ErrorKind::NotFound, "resolves to no address");
                        return Err(Error::connect(addr, none));
                    }
                };
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            #[cfg(unix)]
            ServerAddr::Unix(path) => {
                Stream::Unix(UnixStream::connect(path).map_err(|e| Error::connect(addr, e))?)
            }
            #[cfg(not(unix))]
            ServerAddr::Unix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unix sockets are not supported on this platform",
                )
                .into())
            }
        };
        Ok(Conn {
            stream,
            proto: Connection::new(protocol),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            stash: Vec::new(),
            io_error: None,
            read_timeout: None,
            write_timeout: None,
        })
    }

    /// Whether this idle connection can be reused: not poisoned, nothing in
    /// flight, and the server has neither closed it nor sent anything.
    pub(crate) fn is_reusable(&self) -> bool {
        if self.proto.is_poisoned() || self.proto.in_flight() != 0 || self.io_error.is_some() {
            return false;
        }
        // Nothing to read (not even EOF) is the only healthy answer.
        matches!(self.stream.peek_now(), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Whether the connection may go back to the idle pool.
    pub(crate) fn is_healthy(&self) -> bool {
        !self.proto.is_poisoned() && self.proto.in_flight() == 0 && self.io_error.is_none()
    }

    /// Queue `command` (no I/O).
    pub(crate) fn send(
        &mut self,
        command: impl Into<Command>,
        deadline: Instant,
    ) -> Result<RequestId, Error> {
        self.proto.send(command, Some(deadline))
    }

    fn fail_io(&mut self, e: io::Error) {
        self.io_error = Some(e.into());
        self.proto.handle_close();
    }

    fn fail_timeout(&mut self, deadline: Instant) {
        self.proto.handle_timeout(Instant::now().max(deadline));
    }

    /// Write everything queued, by `deadline`. Failures are recorded in the
    /// protocol state (every pending request fails); they surface from
    /// [`Conn::wait`].
    pub(crate) fn flush(&mut self, deadline: Instant) {
        while self.proto.wants_write() && !self.proto.is_poisoned() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.fail_timeout(deadline);
                return;
            }
            if needs_update(self.write_timeout, remaining) {
                if let Err(e) = self.stream.set_write_timeout(remaining) {
                    self.fail_io(e);
                    return;
                }
                self.write_timeout = Some(remaining);
            }
            match self.stream.write(self.proto.pending_output()) {
                Ok(0) => {
                    self.fail_io(io::ErrorKind::WriteZero.into());
                    return;
                }
                Ok(n) => self.proto.advance_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The socket timeout may be a little shorter than the time
                // left: only the deadline counts.
                Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
                Err(e) if is_timeout(&e) => {
                    self.fail_timeout(deadline);
                    return;
                }
                Err(e) => {
                    self.fail_io(e);
                    return;
                }
            }
        }
    }

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

    /// Write what is queued, then read until request `id` completes or its
    /// deadline passes.
    pub(crate) fn wait(&mut self, id: RequestId, deadline: Instant) -> Result<Response, Error> {
        self.flush(deadline);
        loop {
            if let Some(result) = self.take(id) {
                return match (result, &self.io_error) {
                    (Err(Error::Closed), Some(io)) => Err(io.clone()),
                    (result, _) => result,
                };
            }
            if !self.proto.wants_read() {
                // Unknown or abandoned id, or a dead connection that has
                // already reported every request: nothing will arrive.
                return Err(self.io_error.clone().unwrap_or(Error::Closed));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.fail_timeout(deadline);
                if !self.proto.is_poisoned() {
                    // Only requests with later deadlines are pending; ours
                    // has expired anyway. The connection is not reused
                    // (requests are in flight).
                    return Err(Error::Timeout);
                }
                continue;
            }
            if needs_update(self.read_timeout, remaining) {
                if let Err(e) = self.stream.set_read_timeout(remaining) {
                    self.fail_io(e);
                    continue;
                }
                self.read_timeout = Some(remaining);
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.proto.handle_close(),
                Ok(n) => {
                    let data = self.buf.get(..n).unwrap_or_default();
                    self.proto.handle_input(data);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
                Err(e) if is_timeout(&e) => self.fail_timeout(deadline),
                Err(e) => self.fail_io(e),
            }
        }
    }

    /// Best effort: send `quit` within `timeout`, then drop the socket.
    pub(crate) fn quit(mut self, timeout: Duration) {
        if self.proto.send(Command::quit(), None).is_ok() {
            self.flush(Instant::now() + timeout);
        }
    }
}
