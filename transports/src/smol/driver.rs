//! The background task that owns one socket and its core
//! [`Connection`]: callers hand it requests over a channel, it encodes
//! them, moves bytes, enforces deadlines and hands each completion to the
//! caller that asked for it — or to nobody, if that caller left.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::smol::channel::{Receiver, Sender};
use ::smol::io::{AsyncRead, AsyncWrite};
#[cfg(unix)]
use ::smol::net::unix::UnixStream;
use ::smol::net::TcpStream;
use ::smol::stream::Stream;
use ::smol::Timer;
use memwire_core::cluster::{Health, ServerAddr};
use memwire_core::{Command, Config, Connection, Error, RequestId, Response};

use crate::common;
use crate::common::lock;

/// What a caller gets back for its request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The request's result.
    Done(Result<Response, Error>),
    /// The connection ended before the request was sent: try another.
    Unsent(Command),
}

impl Answer {
    /// The result, counting an unsent request as [`Error::Closed`].
    pub(crate) fn into_result(self) -> Result<Response, Error> {
        match self {
            Answer::Done(result) => result,
            Answer::Unsent(_) => Err(Error::Closed),
        }
    }
}

/// Bytes read from the socket per read.
const READ_CHUNK: usize = 64 * 1024;
/// Rounds of the drive loop before yielding to the executor.
const BUDGET: usize = 64;
/// Requests taken from the channel per round.
const INTAKE: usize = 256;

/// What callers send to a connection's driver.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Send `command`; its result goes to `reply`.
    Request {
        command: Command,
        deadline: Instant,
        reply: Sender<Answer>,
    },
    /// A caller dropped its reply receiver: abandon its request.
    Abandon,
    /// Finish what is in flight, send `quit` and close.
    Close,
}

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
}

/// Connect to `addr` within `timeout` ([`Error::Timeout`] past it).
pub(crate) async fn connect(addr: &ServerAddr, timeout: Duration) -> Result<Socket, Error> {
    let attempt = async {
        match addr {
            ServerAddr::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| Error::connect(addr, e))?;
                s.set_nodelay(true)?;
                Ok(Socket::Tcp(s))
            }
            #[cfg(unix)]
            ServerAddr::Unix(path) => Ok(Socket::Unix(
                UnixStream::connect(path)
                    .await
                    .map_err(|e| Error::connect(addr, e))?,
            )),
            #[cfg(not(unix))]
            ServerAddr::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unix sockets are not supported on this platform",
            )
            .into()),
        }
    };
    let expire = async {
        Timer::after(timeout).await;
        Err(Error::Timeout)
    };
    ::smol::future::or(attempt, expire).await
}

/// One connection's driver. Runs until the connection dies (poisoned,
/// closed by the server, I/O error) or is closed by the client, then fails
/// whatever is still queued and ends, dropping the socket.
pub(crate) struct Driver {
    socket: Socket,
    proto: Connection,
    /// Pinned: a receiver is not `Unpin` (it may hold a listener).
    rx: Pin<Box<Receiver<Msg>>>,
    /// Callers waiting for a reply, by request.
    waiting: HashMap<RequestId, Sender<Answer>>,
    health: Arc<Mutex<Health>>,
    io_timeout: Duration,
    buf: Box<[u8]>,
    timer: Timer,
    timer_at: Option<Instant>,
    /// The I/O error that broke the socket, reported instead of `Closed`.
    io_error: Option<Error>,
    /// No message will come any more (closed by the client and drained, or
    /// every sender gone).
    rx_done: bool,
    /// When `quit` was queued: give up flushing it at this instant.
    quit_deadline: Option<Instant>,
    /// A failure of this connection was recorded in the server's health.
    failure_recorded: bool,
    /// Dropped when the driver ends: [`super::Client::close`] waits on it.
    _done: Sender<()>,
}

impl Driver {
    pub(crate) fn new(
        socket: Socket,
        rx: Receiver<Msg>,
        done: Sender<()>,
        protocol: Config,
        io_timeout: Duration,
        health: Arc<Mutex<Health>>,
    ) -> Driver {
        Driver {
            socket,
            proto: Connection::new(protocol),
            rx: Box::pin(rx),
            waiting: HashMap::new(),
            health,
            io_timeout,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            timer: Timer::never(),
            timer_at: None,
            io_error: None,
            rx_done: false,
            quit_deadline: None,
            failure_recorded: false,
            _done: done,
        }
    }

    /// Drive the connection to its end.
    pub(crate) async fn run(mut self) {
        ::smol::future::poll_fn(|cx| self.poll_drive(cx)).await;
        self.shutdown();
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Request {
                command,
                deadline,
                reply,
            } => {
                if reply.is_closed() {
                    // The caller left before its request was sent.
                    return;
                }
                match self.proto.send(command, Some(deadline)) {
                    Ok(id) => {
                        self.waiting.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.try_send(Answer::Done(Err(e)));
                    }
                }
            }
            Msg::Abandon => {
                let proto = &mut self.proto;
                self.waiting.retain(|id, reply| {
                    if reply.is_closed() {
                        proto.abandon(*id);
                        false
                    } else {
                        true
                    }
                });
            }
            Msg::Close => {
                // Take what is already queued, then nothing more.
                self.rx.close();
            }
        }
    }

    fn fail_io(&mut self, e: io::Error) {
        self.io_error = Some(e.into());
        self.proto.handle_close();
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..BUDGET {
            let mut progress = false;

            // Requests from callers.
            let mut taken = 0;
            while !self.rx_done && taken < INTAKE {
                match self.rx.as_mut().poll_next(cx) {
                    Poll::Ready(Some(msg)) => {
                        self.on_msg(msg);
                        taken += 1;
                    }
                    Poll::Ready(None) => self.rx_done = true,
                    Poll::Pending => break,
                }
            }
            progress |= taken > 0;

            // Deadlines.
            let now = Instant::now();
            if self.proto.poll_timeout().is_some_and(|t| t <= now) {
                self.proto.handle_timeout(now);
                progress = true;
            }
            if self.quit_deadline.is_some_and(|t| t <= now) {
                return Poll::Ready(());
            }

            // Bytes out.
            if self.proto.wants_write() {
                let write = self.socket.poll_write(cx, self.proto.pending_output());
                progress |= write.is_ready();
                match write {
                    Poll::Ready(Ok(0)) => self.fail_io(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => self.proto.advance_output(n),
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => self.fail_io(e),
                    Poll::Pending => {}
                }
            }

            // Bytes in. Read even when nothing is in flight, to notice a
            // closed connection (or bytes nobody asked for) at once.
            if !self.proto.is_poisoned() {
                let read = self.socket.poll_read(cx, &mut self.buf);
                progress |= read.is_ready();
                match read {
                    Poll::Ready(Ok(0)) => self.proto.handle_close(),
                    Poll::Ready(Ok(n)) => {
                        let data = self.buf.get(..n).unwrap_or_default();
                        self.proto.handle_input(data);
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => self.fail_io(e),
                    Poll::Pending => {}
                }
            }

            self.deliver();
            if self.proto.is_poisoned() {
                return Poll::Ready(());
            }

            // Closing: once every caller has its answer, say goodbye.
            if self.rx_done && self.waiting.is_empty() {
                if self.quit_deadline.is_none() {
                    let _ = self.proto.send(Command::quit(), None);
                    self.quit_deadline = Some(now + self.io_timeout);
                    continue;
                }
                if !self.proto.wants_write() {
                    return Poll::Ready(());
                }
            }

            if !progress {
                let next = match (self.proto.poll_timeout(), self.quit_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if next != self.timer_at {
                    match next {
                        Some(at) => self.timer.set_at(at),
                        None => self.timer = Timer::never(),
                    }
                    self.timer_at = next;
                }
                match Pin::new(&mut self.timer).poll(cx) {
                    Poll::Ready(_) => self.timer_at = None,
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        // Busy: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Hand finished requests to their callers and record the server's
    /// health.
    fn deliver(&mut self) {
        if self.proto.is_poisoned() {
            // Before anyone hears of it: no new request may come in once a
            // caller could see the connection fail.
            self.rx.close();
        }
        let (mut ok, mut failed) = (false, false);
        while let Some(done) = self.proto.poll_response() {
            // `quit`, or a request whose caller left.
            let Some(reply) = self.waiting.remove(&done.id) else {
                continue;
            };
            let result = match (done.result, &self.io_error) {
                (Err(Error::Closed), Some(io)) => Err(io.clone()),
                (result, _) => result,
            };
            match &result {
                Err(e) if common::is_server_failure(e) => failed = true,
                _ => ok = true,
            }
            // A caller that left just now: the reply is dropped.
            let _ = reply.try_send(Answer::Done(result));
        }
        if failed {
            // One failure per connection, however many requests it took
            // down with it.
            if !self.failure_recorded {
                self.failure_recorded = true;
                lock(&self.health).record_failure(Instant::now());
            }
        } else if ok {
            lock(&self.health).record_success();
        }
    }

    /// The connection is over: fail what is left, and hand requests queued
    /// after it died (none of them was sent) back to their callers.
    fn shutdown(&mut self) {
        self.rx.close();
        self.deliver();
        let error = match (self.proto.poison_cause(), &self.io_error) {
            (_, Some(io)) => io.clone(),
            (Some(Error::Closed) | None, None) => Error::Closed,
            (Some(cause), None) => Error::Poisoned(Arc::new(cause.clone())),
        };
        for (_, reply) in self.waiting.drain() {
            let _ = reply.try_send(Answer::Done(Err(error.clone())));
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Request { command, reply, .. } = msg {
                let _ = reply.try_send(Answer::Unsent(command));
            }
        }
    }
}
