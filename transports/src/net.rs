//! One socket layer for every transport: TCP (with `TCP_NODELAY`) and Unix
//! streams as std sockets, connected blocking within a deadline or started
//! non-blocking, and the path from a read or write into a core
//! [`Connection`] ([`wire::Wire`]: plain text or TLS, and the login). The
//! blocking transport uses the sockets as they are; mio registers their
//! file descriptors; the async runtimes wrap them in their reactors.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(feature = "blocking")]
use std::time::{Duration, Instant};

use memwire_core::cluster::ServerAddr;
use memwire_core::{Connection, Error};

/// An idle connection used at least this long ago is checked for a server
/// that closed it before a request goes out on it (one system call); one
/// used more recently was just shown alive by its reply.
#[cfg(any(feature = "blocking", feature = "mio"))]
pub(crate) const IDLE_CHECK: std::time::Duration = std::time::Duration::from_millis(1);

#[cfg(feature = "tls")]
pub(crate) mod tls;
#[cfg(feature = "tls")]
pub(crate) mod tls_config;
pub(crate) mod wire;

/// Bytes read from a socket per read call.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// A connected (or connecting) stream socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// The TCP addresses of `addr` (resolved with the system resolver, which
/// may block), or `None` for a unix socket.
#[cfg(any(feature = "blocking", feature = "mio"))]
pub(crate) fn resolve(addr: &ServerAddr) -> Result<Option<Vec<SocketAddr>>, Error> {
    use std::net::ToSocketAddrs;
    match addr {
        ServerAddr::Tcp { host, port, .. } => {
            let found: Vec<SocketAddr> = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| Error::connect(addr, e))?
                .collect();
            if found.is_empty() {
                let none = io::Error::new(io::ErrorKind::NotFound, "resolves to no address");
                return Err(Error::connect(addr, none));
            }
            Ok(Some(found))
        }
        ServerAddr::Unix(_) => Ok(None),
    }
}

impl Stream {
    #[cfg(feature = "blocking")]
    /// Connect to `addr`, blocking, trying each of its addresses in turn;
    /// the whole attempt ends by `deadline`
    /// ([`Error::connect_timeout`] past it).
    pub(crate) fn connect(addr: &ServerAddr, deadline: Instant) -> Result<Stream, Error> {
        let Some(candidates) = resolve(addr)? else {
            return Stream::connect_unix(addr);
        };
        let mut last = None;
        for sa in candidates {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::connect_timeout(addr));
            }
            match TcpStream::connect_timeout(&sa, left) {
                Ok(s) => {
                    s.set_nodelay(true).map_err(|e| Error::connect(addr, e))?;
                    return Ok(Stream::Tcp(s));
                }
                Err(e) if is_timeout(&e) => return Err(Error::connect_timeout(addr)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| Error::connect_timeout(addr), |e| Error::connect(addr, e)))
    }

    #[cfg(any(feature = "mio", feature = "smol", feature = "tokio"))]
    /// Start a non-blocking connect to one TCP address; the socket is
    /// writable once connected (check with [`Stream::finish_connect`]).
    pub(crate) fn start_connect(sa: SocketAddr) -> io::Result<Stream> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(sa),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        match socket.connect(&sa.into()) {
            Ok(()) => {}
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(Stream::Tcp(socket.into()))
    }

    #[cfg(any(feature = "mio", feature = "smol", feature = "tokio"))]
    /// Connect to a unix socket (immediate) and make it non-blocking.
    pub(crate) fn connect_unix_nonblocking(addr: &ServerAddr) -> Result<Stream, Error> {
        let stream = Stream::connect_unix(addr)?;
        stream
            .set_nonblocking()
            .map_err(|e| Error::connect(addr, e))?;
        Ok(stream)
    }

    #[cfg(unix)]
    fn connect_unix(addr: &ServerAddr) -> Result<Stream, Error> {
        match addr {
            ServerAddr::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(|e| Error::connect(addr, e)),
            ServerAddr::Tcp { .. } => Err(Error::InvalidArgument("not a unix socket address")),
        }
    }

    #[cfg(not(unix))]
    fn connect_unix(addr: &ServerAddr) -> Result<Stream, Error> {
        let unsupported = io::Error::new(
            io::ErrorKind::Unsupported,
            "unix sockets are not supported on this platform",
        );
        Err(Error::connect(addr, unsupported))
    }

    #[cfg(any(feature = "mio", feature = "smol"))]
    /// Whether a non-blocking connect has completed: `Ok(true)` connected,
    /// `Ok(false)` still in progress, `Err` failed.
    pub(crate) fn finish_connect(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(drop)),
            #[cfg(unix)]
            Stream::Unix(s) => (s.take_error()?, s.peer_addr().map(drop)),
        };
        if let Some(e) = error {
            return Err(e);
        }
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

    #[cfg(any(feature = "mio", feature = "smol", feature = "tokio"))]
    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(true),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(true),
        }
    }

    #[cfg(feature = "blocking")]
    /// Set the read timeout of a blocking socket.
    pub(crate) fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }

    #[cfg(feature = "blocking")]
    /// Set the write timeout of a blocking socket.
    pub(crate) fn set_write_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(t)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(Some(t)),
        }
    }

    #[cfg(feature = "blocking")]
    /// Whether an idle socket is still fit: nothing to read (not even
    /// EOF), checked without blocking in one system call.
    #[cfg(unix)]
    pub(crate) fn is_idle_and_open(&self) -> bool {
        let socket = socket2::SockRef::from(self);
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        let peeked = socket.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT);
        matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

#[cfg(feature = "blocking")]
/// Whether an I/O error is a timeout of a blocking socket.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

#[cfg(unix)]
impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// What one read or write did to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Io {
    /// Bytes moved; try again.
    Progress,
    /// Nothing now (`WouldBlock`, which is also how a blocking socket's
    /// timeout reads).
    Blocked,
    /// The socket is finished: the connection was told (closed or failed).
    Done,
}

/// Apply the result of reading into `conn`'s
/// [`input_buffer`](Connection::input_buffer): the bytes are parsed where
/// they were read, EOF closes it, an error fails it with [`Error::Io`].
pub(crate) fn apply_read(conn: &mut Connection, read: io::Result<usize>) -> Io {
    match read {
        Ok(0) => {
            conn.handle_close();
            Io::Done
        }
        Ok(n) => {
            conn.commit_input(n);
            Io::Progress
        }
        Err(e) => apply_error(conn, e),
    }
}

fn apply_error(conn: &mut Connection, e: io::Error) -> Io {
    match e.kind() {
        io::ErrorKind::Interrupted => Io::Progress,
        // A blocking socket's timeout reads as `WouldBlock` on unix; a
        // `TimedOut` is TCP giving up, a real failure.
        io::ErrorKind::WouldBlock => Io::Blocked,
        _ => {
            conn.handle_failure(e.into());
            Io::Done
        }
    }
}
