//! [`Connection`]: one server socket's protocol state, without the socket.
//!
//! Requests are encoded into an output buffer and remembered in a FIFO;
//! replies are parsed in the context of the oldest pending request and
//! consumed from the input the moment they are parsed. Anything that could
//! shift replies against requests — a timeout, an unexpected line, bytes
//! nobody asked for — *poisons* the connection: every pending request fails,
//! every later call says so, and the transport must reconnect. A value is
//! never delivered to the wrong request.
//!
//! A quiet meta request (`q`) may get no reply at all: it stays pending and
//! completes with the outcome its silence means when a reply to a later
//! request arrives. Which pending request a reply answers is then decided
//! by its opaque token (see [`meta`](crate::meta)).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};

use crate::client::ServerCounters;
use crate::error::{show_line, Error, ProtocolError};
use crate::meta::parse::{claim, Claim};
use crate::meta::{MetaReply, Opaque};
use crate::request::{CheckedCommand, Command};
use crate::response::{
    is_error_line, line_start, Expect, LineStart, Response, ResponseParser, Status,
};

/// Default for [`Config::max_value_len`]: 1 MiB, memcached's default item
/// size limit (`-I 1m`). A larger value is refused before anything is
/// sent. The server's limit covers the whole item (key and a header of
/// about 50 bytes included), so a value within a few dozen bytes of 1 MiB
/// may still be refused by the server with [`Error::Server`]. For a
/// server started with `-I 4m`, set [`Config::max_value_len`] to 4 MiB.
pub const DEFAULT_MAX_VALUE_LEN: usize = 1024 * 1024;

/// Least room [`Connection::input_buffer`] offers, and the first input
/// buffer's size.
const MIN_READ: usize = 4 * 1024;
/// Input buffers double up to this size (what transports read at once).
const MAX_INPUT_BUFFER: usize = 64 * 1024;

/// Limits of a [`Connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest reply line accepted, without its `\r\n` (default 8 KiB).
    pub max_line_len: usize,
    /// Largest value sent or accepted (default [`DEFAULT_MAX_VALUE_LEN`],
    /// memcached's default `-I 1m`). Raise it to match a server started
    /// with a larger `-I`.
    pub max_value_len: usize,
    /// Most keys in one retrieval request (default 4096).
    pub max_keys: usize,
    /// Most `STAT` lines in one reply (default 100 000).
    pub max_stats_entries: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_len: 8 * 1024,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            max_keys: 4096,
            max_stats_entries: 100_000,
        }
    }
}

impl Config {
    /// Set [`Config::max_value_len`].
    pub fn max_value_len(mut self, n: usize) -> Self {
        self.max_value_len = n;
        self
    }

    /// Set [`Config::max_line_len`].
    pub fn max_line_len(mut self, n: usize) -> Self {
        self.max_line_len = n;
        self
    }

    /// Set [`Config::max_keys`].
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Set [`Config::max_stats_entries`].
    pub fn max_stats_entries(mut self, n: usize) -> Self {
        self.max_stats_entries = n;
        self
    }
}

/// A command to encode: one the caller gave away (a retrieval, whose keys
/// move into the reply's parser), or one it keeps — checked already
/// against this connection's limits, or not.
enum Encode<'a> {
    Owned(Command),
    Borrowed { command: &'a Command, checked: bool },
}

/// Identifies a request sent on a [`Connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

impl RequestId {
    /// The raw sequence number (unique per connection, increasing).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A finished request.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub struct Completion {
    /// The request, as returned by [`Connection::send`].
    pub id: RequestId,
    /// Its reply, or why it failed.
    pub result: Result<Response, Error>,
}

#[derive(Debug)]
struct Pending {
    id: RequestId,
    parser: ResponseParser,
    deadline: Option<Instant>,
    /// The caller lost interest: parse the reply, deliver nothing.
    abandoned: bool,
    /// A `noreply` request: it completed at send; only an error can follow.
    quiet: bool,
    /// The opaque token its reply must carry (meta requests).
    opaque: Option<Opaque>,
    /// The batch of quiet requests it belongs to (see `Connection::batch`).
    batch: u64,
    /// This request that may get no reply has claimed the reply now
    /// arriving.
    claimed: bool,
}

impl Pending {
    /// Whether the server may send nothing for this request.
    fn may_be_silent(&self) -> bool {
        self.quiet || self.is_silent_meta()
    }

    /// A quiet meta request, which completes with the outcome its silence
    /// means ([`Pending::silent`]) when a later request's reply arrives
    /// first.
    fn is_silent_meta(&self) -> bool {
        matches!(self.parser.expect(), Expect::Meta(m) if m.may_be_silent())
    }

    /// The outcome the silence of a quiet meta request means.
    fn silent(&self) -> Option<MetaReply> {
        match self.parser.expect() {
            Expect::Meta(m) => m.silent_outcome(),
            _ => None,
        }
    }
}

/// What is left to report of a request once it left the queue.
struct Retired {
    id: RequestId,
    quiet: bool,
    abandoned: bool,
}

/// The sans-IO state of one connection to one memcached server.
///
/// ```
/// use memwire_core::{Command, Connection, Config, Response};
///
/// let mut conn = Connection::new(Config::default());
/// let id = conn.send(Command::get("session_id"), None).unwrap();
/// assert_eq!(conn.pending_output(), b"get session_id\r\n");
/// let n = conn.pending_output().len();
/// conn.advance_output(n); // the transport wrote n bytes
///
/// conn.handle_input(b"VALUE session_id 0 4\r\ndata\r\nEND\r\n");
/// let done = conn.poll_response().unwrap();
/// assert_eq!(done.id, id);
/// let Ok(Response::Values(values)) = done.result else { panic!() };
/// assert_eq!(&values[0].data[..], b"data");
/// ```
#[derive(Debug)]
pub struct Connection {
    config: Config,
    output: BytesMut,
    /// Bytes received and not yet parsed.
    input: BytesMut,
    /// Zeroed room right after `input` (usually in the same allocation),
    /// for a transport to read into ([`Connection::input_buffer`]): the
    /// bytes read join `input` without a copy.
    spare: BytesMut,
    /// The size of the last input buffer allocated.
    buffer_size: usize,
    pending: VecDeque<Pending>,
    /// The deadlines of `pending` that may be the earliest: each earlier
    /// than every one queued after it, so the first is the earliest of
    /// all (requests leave `pending` from its front only).
    deadlines: VecDeque<(RequestId, Instant)>,
    /// How many of `pending` await a reply (are not quiet): kept, not
    /// counted, as a transport asks on every request.
    awaiting: usize,
    completions: VecDeque<Completion>,
    next_id: u64,
    /// Why the connection is unusable, once it is (sticky).
    dead: Option<Arc<Error>>,
    /// `quit` was sent: no more requests.
    quitting: bool,
    noreply_error: Option<Error>,
    /// How far the first line of the input has been searched for `\n`
    /// while finding out which quiet request a reply answers.
    scanned: usize,
    /// How many requests ahead of the one whose reply is being parsed got
    /// no reply: they complete with their silent outcome once that reply
    /// has parsed (and fail with the connection if it does not).
    ahead: usize,
    /// The open batch: requests that may get no reply, sent since the last
    /// request that always gets one. A reply may answer any of them or the
    /// request that closes the batch, so their opaque tokens must differ.
    batch: u64,
    /// The opaque tokens pending in the open batch, with their counts.
    batch_opaques: HashMap<Opaque, usize>,
    /// Where the bytes written and read are counted, if anywhere.
    counters: Option<Arc<ServerCounters>>,
}

impl Connection {
    /// A fresh connection with the given limits.
    pub fn new(config: Config) -> Self {
        Connection {
            config,
            output: BytesMut::new(),
            input: BytesMut::new(),
            spare: BytesMut::new(),
            buffer_size: MIN_READ / 2,
            pending: VecDeque::new(),
            deadlines: VecDeque::new(),
            awaiting: 0,
            completions: VecDeque::new(),
            next_id: 0,
            dead: None,
            quitting: false,
            noreply_error: None,
            scanned: 0,
            ahead: 0,
            batch: 0,
            batch_opaques: HashMap::new(),
            counters: None,
        }
    }

    /// The same connection, counting the bytes written
    /// ([`Connection::advance_output`]) and read ([`Connection::handle_input`],
    /// [`Connection::commit_input`]) into `counters` (a
    /// server's, from [`Router::counters`](crate::client::Router::counters));
    /// its [successors](Connection::successor) count there too. See
    /// [`ServerCounters`] for an example.
    pub fn counting(mut self, counters: Arc<ServerCounters>) -> Connection {
        self.counters = Some(counters);
        self
    }

    /// A fresh connection for the same server, with the same limits, whose
    /// request ids continue after this one's: use it when reconnecting, so
    /// an id is never reused while completions of the old connection may
    /// still be in the caller's hands.
    ///
    /// ```
    /// use memwire_core::{Command, Config, Connection};
    /// let mut old = Connection::new(Config::default());
    /// let a = old.send(Command::version(), None).unwrap();
    /// old.handle_close();
    /// let mut new = old.successor();
    /// let b = new.send(Command::version(), None).unwrap();
    /// assert!(b > a);
    /// ```
    pub fn successor(&self) -> Connection {
        let mut next = Connection::new(self.config);
        next.next_id = self.next_id;
        next.counters = self.counters.clone();
        next
    }

    // ---- getters ----

    /// The limits this connection enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Why the connection is unusable (poisoned or closed), if it is.
    pub fn poison_cause(&self) -> Option<&Error> {
        self.dead.as_deref()
    }

    /// Whether the connection is unusable and must be replaced.
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.dead.is_some()
    }

    /// Whether there are bytes to write.
    #[inline]
    pub fn wants_write(&self) -> bool {
        !self.output.is_empty()
    }

    /// Whether a reply is awaited: some request other than `noreply` ones is
    /// in flight. A quiet meta request counts: it completes when its reply
    /// or a later request's arrives, so end a batch of them with `mn`
    /// ([`Command::meta_noop`]) or it waits for its deadline.
    #[inline]
    pub fn wants_read(&self) -> bool {
        self.dead.is_none() && self.awaiting > 0
    }

    /// Number of requests awaiting a reply (abandoned ones included).
    #[inline]
    pub fn in_flight(&self) -> usize {
        self.awaiting
    }

    /// Bytes received but not yet consumed: the unfinished start of a reply.
    ///
    /// Between calls this never exceeds the largest of
    /// [`Config::max_line_len`] + 1, [`Config::max_value_len`] + 1 and 12
    /// (the start of an error line that may answer a `noreply` request): a
    /// longer line or value block is refused, never buffered.
    pub fn buffered_input(&self) -> usize {
        self.input.len()
    }

    // ---- requests in ----

    /// Validate and encode `command`, queue its bytes for output and
    /// remember it. `deadline` bounds the wait for its reply (see
    /// [`Connection::handle_timeout`]).
    ///
    /// A `noreply` command (and `quit`) completes at once with
    /// [`Response::Sent`]. A quiet meta command (`q`) stays pending until
    /// its reply or a later request's arrives; if it has no opaque token it
    /// gets one, its request id in decimal. On error nothing is queued.
    ///
    /// # Errors
    ///
    /// Bad input (see [`Command::encode`]); [`Error::InvalidArgument`] for a
    /// meta command whose opaque token a pending quiet request of the same
    /// batch already carries (a reply could not be told apart);
    /// [`Error::Closed`] or [`Error::Poisoned`] when the connection is
    /// unusable.
    pub fn send(
        &mut self,
        command: impl Into<Command>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        match command.into() {
            // The keys move to the parser that checks the reply.
            Command::Retrieve(r) => self.send_with(Encode::Owned(Command::Retrieve(r)), deadline),
            other => self.send_command(&other, deadline),
        }
    }

    /// [`Connection::send`] for a command the caller keeps (to send it
    /// again on another connection, say).
    pub fn send_command(
        &mut self,
        command: &Command,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        self.send_with(
            Encode::Borrowed {
                command,
                checked: false,
            },
            deadline,
        )
    }

    /// [`Connection::send_command`] for a command already checked
    /// ([`Command::check`], or [`Call::checked`](crate::client::Call::checked)):
    /// it is not checked again when it was checked against this
    /// connection's limits.
    ///
    /// # Errors
    ///
    /// As [`Connection::send`].
    #[inline]
    pub fn send_checked(
        &mut self,
        command: CheckedCommand<'_>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        let checked = *command.limits() == self.config;
        self.send_with(
            Encode::Borrowed {
                command: command.command(),
                checked,
            },
            deadline,
        )
    }

    fn send_with(
        &mut self,
        command: Encode<'_>,
        deadline: Option<Instant>,
    ) -> Result<RequestId, Error> {
        if let Some(cause) = &self.dead {
            return Err(match **cause {
                Error::Closed => Error::Closed,
                _ => Error::Poisoned(cause.clone()),
            });
        }
        if self.quitting {
            return Err(Error::Closed);
        }
        let id = RequestId(self.next_id);
        // A borrowed retrieval's keys are not in its `Expect`: its parser
        // takes them from the command.
        let (opaque, expect, keys) = match command {
            Encode::Owned(command) => (
                None,
                command.encode_owned(&mut self.output, &self.config)?,
                &[][..],
            ),
            Encode::Borrowed { command, checked } => {
                let (opaque, tokened) = self.opaque_for(command, id)?;
                let expect = tokened.as_ref().unwrap_or(command).encode_shape(
                    &mut self.output,
                    &self.config,
                    checked,
                )?;
                (opaque, expect, command.keys())
            }
        };
        self.next_id += 1;
        match expect {
            None => {
                self.quitting = true;
                self.completions.push_back(Completion {
                    id,
                    result: Ok(Response::Sent),
                });
            }
            Some(expect) => {
                let quiet = expect == Expect::Quiet;
                if quiet {
                    self.completions.push_back(Completion {
                        id,
                        result: Ok(Response::Sent),
                    });
                }
                let batch = self.batch;
                if quiet || matches!(&expect, Expect::Meta(m) if m.may_be_silent()) {
                    if let Some(o) = &opaque {
                        *self.batch_opaques.entry(o.clone()).or_default() += 1;
                    }
                } else {
                    // A request that always gets a reply closes the batch.
                    self.batch += 1;
                    self.batch_opaques.clear();
                }
                self.awaiting += usize::from(!quiet);
                if let (false, Some(deadline)) = (quiet, deadline) {
                    self.push_deadline(id, deadline);
                }
                // Built in the call: the request is large.
                self.pending.push_back(Pending {
                    id,
                    parser: ResponseParser::with_keys(expect, keys, &self.config),
                    deadline: if quiet { None } else { deadline },
                    abandoned: false,
                    quiet,
                    opaque,
                    batch,
                    claimed: false,
                });
            }
        }
        Ok(id)
    }

    /// The caller no longer wants the reply to `id` (a dropped future, a
    /// cancelled call). Its reply will be read and discarded, never handed to
    /// another request. Returns whether `id` was still unfinished or its
    /// completion not yet polled.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        if let Some(i) = self.completions.iter().position(|c| c.id == id) {
            self.completions.remove(i);
            return true;
        }
        match self.pending.iter_mut().find(|p| p.id == id && !p.quiet) {
            Some(p) => {
                let was = !p.abandoned;
                p.abandoned = true;
                was
            }
            None => false,
        }
    }

    // ---- bytes out ----

    /// Bytes waiting to be written to the socket.
    pub fn pending_output(&self) -> &[u8] {
        &self.output
    }

    /// `n` bytes of [`Connection::pending_output`] were written.
    #[inline]
    pub fn advance_output(&mut self, n: usize) {
        let n = n.min(self.output.len());
        if n == self.output.len() {
            // All written: the buffer starts over from its beginning (an
            // advanced buffer would move its bytes back to make room).
            self.output.clear();
        } else {
            self.output.advance(n);
        }
        if let Some(counters) = &self.counters {
            counters.sent(n);
        }
    }

    // ---- bytes and events in ----

    /// Feed bytes read from the socket. Completed replies become available
    /// from [`Connection::poll_response`].
    ///
    /// This copies `data`; a transport that can read straight into the
    /// connection's buffer uses [`Connection::input_buffer`] instead.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.dead.is_some() {
            return;
        }
        let n = data.len();
        match self.spare.get_mut(..n) {
            Some(room) => {
                room.copy_from_slice(data);
                self.commit_input(n);
            }
            None => {
                // No zeroed room to spare: append (what is zeroed is only
                // worth it for reading into).
                self.spare = BytesMut::new();
                self.count_received(n);
                self.input.extend_from_slice(data);
                self.process_input();
            }
        }
    }

    /// Room at the end of the input buffer to read from the socket into
    /// (at least 4 KiB); then say how many bytes arrived with
    /// [`Connection::commit_input`]. Replies are parsed where they were
    /// read, and values are split off that buffer: nothing is copied.
    ///
    /// The room is zeroed memory kept across calls: a buffer (up to
    /// 64 KiB, or twice the reply in progress) is zeroed once, when it is
    /// allocated, and then serves many reads.
    ///
    /// ```
    /// use memwire_core::{Command, Config, Connection, Response};
    ///
    /// let mut conn = Connection::new(Config::default());
    /// conn.send(Command::get("k"), None)?;
    /// let reply = b"VALUE k 0 2\r\nhi\r\nEND\r\n";
    /// // What a socket's `read(conn.input_buffer())` does:
    /// conn.input_buffer()[..reply.len()].copy_from_slice(reply);
    /// conn.commit_input(reply.len());
    /// let Some(Ok(Response::Values(v))) = conn.poll_response().map(|c| c.result) else {
    ///     panic!()
    /// };
    /// assert_eq!(&v[0].data[..], b"hi");
    /// # Ok::<(), memwire_core::Error>(())
    /// ```
    #[inline]
    pub fn input_buffer(&mut self) -> &mut [u8] {
        if self.spare.len() < MIN_READ {
            self.grow_spare(MIN_READ);
        }
        &mut self.spare
    }

    /// `n` bytes were read into the start of
    /// [`Connection::input_buffer`]: parse them. Completed replies become
    /// available from [`Connection::poll_response`].
    #[inline]
    pub fn commit_input(&mut self, n: usize) {
        if self.dead.is_some() {
            return;
        }
        let n = n.min(self.spare.len());
        self.count_received(n);
        // Right after `input` in the same buffer: joined without a copy.
        self.input.unsplit(self.spare.split_to(n));
        self.process_input();
    }

    /// `n` bytes of replies arrived: count them, if counting.
    fn count_received(&self, n: usize) {
        if let Some(counters) = &self.counters {
            counters.received(n);
        }
    }

    /// Fail every request whose deadline is at or before `now`. A timed-out
    /// reply may still arrive, so the connection is poisoned: the expired
    /// requests fail with [`Error::Timeout`], the others with
    /// [`Error::Poisoned`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = |p: &Pending| p.deadline.is_some_and(|d| d <= now);
        if self.poll_timeout().is_some_and(|d| d <= now) {
            self.kill(Error::Timeout, expired);
        }
    }

    /// The socket was closed: every pending request fails with
    /// [`Error::Closed`] and the connection is unusable.
    pub fn handle_close(&mut self) {
        self.handle_failure(Error::Closed);
    }

    /// The socket failed with `cause` (an [`Error::Io`], a failed
    /// connect): every pending request fails with it and the connection is
    /// unusable. Nothing changes if it already was.
    pub fn handle_failure(&mut self, cause: Error) {
        if self.dead.is_none() {
            self.kill(cause, |_| true);
        }
    }

    // ---- outputs ----

    /// The next finished request, in the order they finished.
    #[must_use]
    #[inline]
    pub fn poll_response(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    /// The earliest deadline among requests awaiting a reply; call
    /// [`Connection::handle_timeout`] when it passes.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead.is_some() {
            return None;
        }
        self.deadlines.front().map(|&(_, deadline)| deadline)
    }

    /// The last error the server sent for a `noreply` request, if any
    /// arrived since the previous call. Such errors cannot be reported to
    /// their request, which completed when it was queued.
    pub fn take_noreply_error(&mut self) -> Option<Error> {
        self.noreply_error.take()
    }

    // ---- internals ----

    /// Room for at least `min` bytes after the unparsed input, in the
    /// same buffer. A buffer whose values were all dropped is reused (its
    /// unparsed bytes move to its start); one still shared gets a
    /// successor. Either way only the new room is zeroed. Buffers double
    /// from 4 KiB to 64 KiB (a connection that gets small replies keeps
    /// small buffers), and the room is at least what is buffered, so that
    /// a value arriving in many reads is moved a bounded number of times
    /// (but never past the end of the value: only received bytes make a
    /// buffer grow, never an announced length).
    fn grow_spare(&mut self, min: usize) {
        let held = self.input.len();
        self.buffer_size = (self.buffer_size * 2).clamp(MIN_READ, MAX_INPUT_BUFFER);
        let mut room = min.max(held).max(self.buffer_size);
        // A value block partly here: no room (to zero) beyond its end.
        let block = self
            .pending
            .get(self.ahead)
            .and_then(|p| p.parser.awaited_block());
        if let Some(rest) = block.map(|b| b.saturating_sub(held)).filter(|&r| r >= min) {
            room = room.min(rest.max(MIN_READ));
        }
        let mut buf = std::mem::take(&mut self.input);
        // Contiguous: joined without a copy.
        buf.unsplit(std::mem::take(&mut self.spare));
        buf.resize(held + room, 0);
        self.spare = buf.split_off(held);
        self.input = buf;
    }

    fn process_input(&mut self) {
        while !self.input.is_empty() && self.dead.is_none() {
            let Some(head) = self.pending.front_mut() else {
                let n = self.input.len();
                self.kill(ProtocolError::UnsolicitedData(n).into(), |_| true);
                return;
            };
            if self.ahead > 0 || head.claimed {
                // The reply being parsed has an owner already.
            } else if head.quiet {
                match line_start(&self.input) {
                    LineStart::Incomplete => return,
                    LineStart::Other => {
                        // A reply to a later request: the noreply request
                        // succeeded (it has no deadline to forget).
                        self.pending.pop_front();
                        continue;
                    }
                    LineStart::Error => {
                        if self.awaiting > 0 {
                            // Could be the noreply request's error or the next
                            // request's reply: refuse to guess.
                            self.kill_ambiguous();
                            return;
                        }
                        if let Some(head) = self.pending.front_mut() {
                            head.claimed = true;
                        }
                    }
                }
            } else if head.is_silent_meta() && !self.attribute() {
                return;
            }
            let Some(owner) = self.pending.get_mut(self.ahead) else {
                return;
            };
            match owner.parser.parse(&mut self.input) {
                Ok(Status::Partial) => return,
                Ok(Status::Complete(result)) => {
                    self.complete_silent_ahead();
                    if let Some(done) = self.retire_front() {
                        if done.quiet {
                            self.noreply_error = result.err();
                        } else if !done.abandoned {
                            self.completions.push_back(Completion {
                                id: done.id,
                                result,
                            });
                        }
                    }
                }
                Err(e) => {
                    let owner = self.pending.get(self.ahead).map(|p| p.id);
                    self.kill(e.into(), |p| Some(p.id) == owner);
                    return;
                }
            }
        }
    }

    /// The reply that answered a later request has parsed: the requests
    /// ahead of it that got no reply had their silent outcome.
    fn complete_silent_ahead(&mut self) {
        for _ in 0..std::mem::take(&mut self.ahead) {
            let silent = self.pending.front().and_then(Pending::silent);
            let Some(p) = self.retire_front() else {
                break;
            };
            if let (Some(silent), false) = (silent, p.abandoned) {
                self.completions.push_back(Completion {
                    id: p.id,
                    result: Ok(Response::Meta(silent)),
                });
            }
        }
    }

    /// The head of the queue is a quiet meta request, which may have sent
    /// nothing: find which pending request the reply now arriving answers,
    /// claim it for that request and count the requests ahead of it (they
    /// got no reply). `false` when the reply's first line is not complete
    /// yet, or the connection was poisoned.
    ///
    /// A quiet request can only get a meta reply carrying its opaque
    /// token, or an error line. So a meta reply goes to the first request
    /// of the batch whose token it carries, else to the first request that
    /// always gets a reply (which checks the token itself); any other line
    /// goes to that request too; an error line goes to the head only if no
    /// other request could have caused it.
    fn attribute(&mut self) -> bool {
        let from = self.scanned.min(self.input.len());
        let found = self
            .input
            .get(from..)
            .and_then(|rest| memchr::memchr(b'\n', rest));
        let max = self.config.max_line_len.saturating_add(1);
        // Measured as the parser measures, so the verdict is the same
        // however the bytes were split.
        let too_long = match found {
            None => self.input.len() > max,
            Some(offset) => from + offset > max,
        };
        if too_long {
            let head = self.pending.front().map(|p| p.id);
            let max = self.config.max_line_len;
            self.kill(ProtocolError::LineTooLong { max }.into(), |p| {
                Some(p.id) == head
            });
            return false;
        }
        let Some(offset) = found else {
            self.scanned = self.input.len();
            return false;
        };
        self.scanned = 0;
        let newline = from + offset;
        let line = self.input.get(..newline).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if is_error_line(line) {
            if self.pending.len() > 1 {
                self.kill_ambiguous();
                return false;
            }
            if let Some(head) = self.pending.front_mut() {
                head.claimed = true;
            }
            return true;
        }
        let opaque = match claim(line) {
            Claim::Meta(opaque) => opaque,
            Claim::Other => None,
        };
        let owner = self.pending.iter().position(|p| {
            !p.may_be_silent()
                || opaque.is_some_and(|o| p.opaque.as_ref().is_some_and(|p| p.as_bytes() == o))
        });
        let Some(owner) = owner else {
            let line = show_line(line);
            self.kill(ProtocolError::Unattributable(line).into(), |_| false);
            return false;
        };
        self.ahead = owner;
        if let Some(p) = self.pending.get_mut(owner) {
            p.claimed = true;
        }
        true
    }

    /// An error line arrived that more than one pending request could have
    /// caused: poison. Name the kind of error only: how much of its message
    /// has arrived depends on how the bytes were split.
    fn kill_ambiguous(&mut self) {
        let end = memchr::memchr2(b' ', b'\r', &self.input).unwrap_or(self.input.len());
        let word = show_line(self.input.get(..end).unwrap_or_default());
        self.kill(ProtocolError::AmbiguousError(word).into(), |_| true);
    }

    /// The opaque token of a meta `command` about to be sent as `id`: a
    /// quiet one without a token gets one; a token already pending in the
    /// open batch is refused.
    /// The opaque token a meta `command` carries, and a copy of it with a
    /// token assigned when it is quiet and has none.
    fn opaque_for(
        &self,
        command: &Command,
        id: RequestId,
    ) -> Result<(Option<Opaque>, Option<Command>), Error> {
        let Command::Meta(meta) = command else {
            return Ok((None, None));
        };
        let in_use = |o: &Opaque| self.batch_opaques.contains_key(o);
        match meta.opaque() {
            Some(o) if in_use(o) => Err(Error::InvalidArgument(
                "the opaque token is already used by a pending quiet request of the same batch",
            )),
            Some(o) => Ok((Some(o.clone()), None)),
            None if meta.is_quiet() => {
                // The request id, unless a caller's token took it.
                let mut token = Opaque::from(id.0);
                let mut n = 0u64;
                while in_use(&token) {
                    n += 1;
                    token = Opaque::new(format!("{}.{n}", id.0))?;
                }
                let mut tokened = meta.clone();
                match tokened.opaque_slot() {
                    Some(slot) => *slot = Some(token.clone()),
                    None => return Ok((None, None)),
                }
                Ok((Some(token), Some(Command::Meta(tokened))))
            }
            None => Ok((None, None)),
        }
    }

    /// Remember request `id`'s deadline, forgetting those queued before
    /// it that are no earlier (they can no longer be the earliest).
    fn push_deadline(&mut self, id: RequestId, deadline: Instant) {
        while self.deadlines.back().is_some_and(|&(_, d)| d >= deadline) {
            self.deadlines.pop_back();
        }
        self.deadlines.push_back((id, deadline));
    }

    /// The oldest request leaves the queue, dropped in place (it is
    /// large): its token is forgotten if it is in the open batch.
    fn retire_front(&mut self) -> Option<Retired> {
        let p = self.pending.front()?;
        let retired = Retired {
            id: p.id,
            quiet: p.quiet,
            abandoned: p.abandoned,
        };
        if let (true, Some(o)) = (p.batch == self.batch && p.may_be_silent(), &p.opaque) {
            if let Some(n) = self.batch_opaques.get_mut(o) {
                *n -= 1;
                if *n == 0 {
                    self.batch_opaques.remove(o);
                }
            }
        }
        self.pending.drain(..1);
        if self
            .deadlines
            .front()
            .is_some_and(|&(id, _)| id == retired.id)
        {
            self.deadlines.pop_front();
        }
        self.awaiting -= usize::from(!retired.quiet);
        Some(retired)
    }

    /// Make the connection unusable for `cause`. Pending requests for which
    /// `direct` holds fail with `cause`, the others with
    /// [`Error::Poisoned`] (or [`Error::Closed`] when that is the cause).
    fn kill(&mut self, cause: Error, direct: impl Fn(&Pending) -> bool) {
        let cause = Arc::new(cause);
        self.awaiting = 0;
        self.deadlines.clear();
        for p in self.pending.drain(..) {
            if p.quiet || p.abandoned {
                continue;
            }
            let error = if direct(&p) || matches!(*cause, Error::Closed) {
                (*cause).clone()
            } else {
                Error::Poisoned(cause.clone())
            };
            self.completions.push_back(Completion {
                id: p.id,
                result: Err(error),
            });
        }
        self.input.clear();
        self.output.clear();
        self.scanned = 0;
        self.ahead = 0;
        self.batch_opaques.clear();
        self.dead = Some(cause);
    }
}

#[cfg(test)]
mod meta_tests;
#[cfg(test)]
mod tests;
