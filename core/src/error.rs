//! Error types, in three families kept apart:
//!
//! * **per-request outcomes** the caller matches on ([`Error::NotStored`],
//!   [`Error::Exists`], [`Error::NotFound`], [`Error::NonNumeric`],
//!   [`Error::UnknownCommand`], [`Error::Client`], [`Error::Server`]): the
//!   connection stays usable;
//! * **bad input from the caller** ([`Error::InvalidKey`],
//!   [`Error::ValueTooLarge`], ...): nothing was sent;
//! * **fatal for the connection** ([`Error::Protocol`], [`Error::Timeout`],
//!   [`Error::Closed`], [`Error::Poisoned`], [`Error::Io`]): the transport
//!   must reconnect.
//!
//! [`Error::kind`] tells the three apart. A cache miss is not an error.

use std::sync::Arc;

/// Everything that can go wrong with a memcached request.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- per-request outcomes ----
    /// `NOT_STORED`: the condition of `add`, `replace`, `append` or `prepend`
    /// was not met.
    #[error("not stored")]
    NotStored,
    /// `EXISTS`: a `cas` store found the item modified since it was fetched.
    #[error("cas mismatch: the item was modified since it was fetched")]
    Exists,
    /// `NOT_FOUND`: the item does not exist (`cas`, `delete`, `incr`, `decr`,
    /// `touch`).
    #[error("not found")]
    NotFound,
    /// `incr`/`decr` on a value that is not a decimal 64-bit unsigned integer.
    #[error("cannot increment or decrement a non-numeric value")]
    NonNumeric,
    /// `ERROR`: the server does not know the command.
    #[error("the server does not know this command")]
    UnknownCommand,
    /// `CLIENT_ERROR <msg>`: the server rejected the request.
    #[error("client error from server: {0}")]
    Client(String),
    /// `SERVER_ERROR <msg>`: the server could not carry out the request.
    #[error("server error: {0}")]
    Server(String),

    // ---- bad input from the caller: nothing was sent ----
    /// The key is not a valid memcached key.
    #[error(transparent)]
    InvalidKey(#[from] crate::key::KeyError),
    /// The value is larger than the configured maximum.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Length of the value.
        len: usize,
        /// Configured maximum ([`crate::Config::max_value_len`]).
        max: usize,
    },
    /// A retrieval was asked for zero keys.
    #[error("a retrieval needs at least one key")]
    NoKeys,
    /// A retrieval asked for more keys than one request may carry.
    #[error("{count} keys exceed the limit of {max} keys per request")]
    TooManyKeys {
        /// Number of keys given.
        count: usize,
        /// Configured maximum ([`crate::Config::max_keys`]).
        max: usize,
    },
    /// An argument other than a key is not acceptable (for example a stats
    /// group name with whitespace).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),

    // ---- fatal for the connection ----
    /// The server broke the protocol; the connection is poisoned.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The request's deadline passed; the connection is poisoned.
    #[error("request timed out")]
    Timeout,
    /// The connection is closed (by the server, the transport or `quit`).
    #[error("connection closed")]
    Closed,
    /// The connection was poisoned earlier for the given reason; reconnect.
    #[error("connection poisoned ({0}); reconnect")]
    Poisoned(Arc<Error>),
    /// An I/O error from the transport.
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// Connecting to a server failed (refused, unreachable, unresolvable).
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// The server, as `host:port` or a socket path.
        server: String,
        /// What the operating system said.
        source: Arc<std::io::Error>,
    },
    /// No server is available for this request (all candidates are down).
    #[error("no server available: {0}")]
    NoServer(String),
}

/// Which family an [`Error`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A per-request outcome; the connection stays usable.
    Reply,
    /// Bad input from the caller; nothing was sent.
    Input,
    /// Fatal for the connection; reconnect.
    Connection,
}

impl Error {
    /// The family of this error.
    ///
    /// ```
    /// use memwire_core::{Error, ErrorKind};
    /// assert_eq!(Error::NotStored.kind(), ErrorKind::Reply);
    /// assert_eq!(Error::NoKeys.kind(), ErrorKind::Input);
    /// assert_eq!(Error::Timeout.kind(), ErrorKind::Connection);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotStored
            | Error::Exists
            | Error::NotFound
            | Error::NonNumeric
            | Error::UnknownCommand
            | Error::Client(_)
            | Error::Server(_) => ErrorKind::Reply,
            Error::InvalidKey(_)
            | Error::ValueTooLarge { .. }
            | Error::NoKeys
            | Error::TooManyKeys { .. }
            | Error::InvalidArgument(_) => ErrorKind::Input,
            Error::Protocol(_)
            | Error::Timeout
            | Error::Closed
            | Error::Poisoned(_)
            | Error::Io(_)
            | Error::Connect { .. }
            | Error::NoServer(_) => ErrorKind::Connection,
        }
    }

    /// True when the connection that produced this error must be replaced.
    pub fn is_fatal(&self) -> bool {
        self.kind() == ErrorKind::Connection
    }

    /// A failed connection attempt to `server`.
    ///
    /// ```
    /// use memwire_core::Error;
    /// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let e = Error::connect("127.0.0.1:11211", refused);
    /// assert!(e.to_string().starts_with("cannot connect to 127.0.0.1:11211: "));
    /// assert!(e.is_fatal());
    /// ```
    pub fn connect(server: impl std::fmt::Display, source: std::io::Error) -> Error {
        Error::Connect {
            server: server.to_string(),
            source: Arc::new(source),
        }
    }

    /// The root cause, looking through [`Error::Poisoned`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Poisoned(inner) => inner.root(),
            other => other,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

/// How the server broke the protocol. Every variant poisons the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A line longer than [`crate::Config::max_line_len`] without `\r\n`.
    #[error("reply line longer than {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A line ending in a bare `\n`.
    #[error("reply line not terminated by \\r\\n")]
    BadLineEnding,
    /// A line that is not a valid reply to the pending request.
    #[error("unexpected reply line {line:?} to {request}")]
    UnexpectedLine {
        /// The line, lossily decoded and shortened.
        line: String,
        /// The kind of request it was read as an answer to.
        request: &'static str,
    },
    /// A `VALUE` header announced more bytes than allowed.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The data block of a `VALUE` was not followed by `\r\n`.
    #[error("value data not terminated by \\r\\n")]
    BadDataTerminator,
    /// A `VALUE` for a key that was not requested (or out of order).
    #[error("reply for key {0:?} that was not requested")]
    UnrequestedKey(String),
    /// A reply (more than `STAT` lines allowed, ...) exceeded a batch limit.
    #[error("reply exceeds the limit of {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// Bytes arrived while no request was waiting for a reply.
    #[error("{0} bytes received while no request was pending")]
    UnsolicitedData(usize),
    /// An error line arrived while `noreply` requests were in flight ahead of
    /// a request that expects a reply: it cannot be attributed safely. Holds
    /// the kind of error line: `ERROR`, `CLIENT_ERROR` or `SERVER_ERROR`.
    #[error("error reply {0} cannot be attributed: noreply requests were in flight")]
    AmbiguousError(String),
}

/// Shorten and lossily decode a wire line for an error message.
pub(crate) fn show_line(line: &[u8]) -> String {
    const MAX: usize = 80;
    let cut = line.get(..MAX).unwrap_or(line);
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > MAX {
        s.push('…');
    }
    s
}
