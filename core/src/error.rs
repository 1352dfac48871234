//! Error types, in three families kept apart:
//!
//! * **per-request outcomes** the caller matches on ([`Error::NotStored`],
//!   [`Error::Exists`], [`Error::NotFound`], [`Error::NonNumeric`],
//!   [`Error::UnknownCommand`], [`Error::Client`], [`Error::Server`]): the
//!   connection stays usable;
//! * **bad input from the caller** ([`Error::InvalidKey`],
//!   [`Error::ValueTooLarge`], ...): nothing was sent;
//! * **fatal for the connection** ([`Error::Protocol`], [`Error::Timeout`],
//!   [`Error::Closed`], [`Error::Poisoned`], [`Error::Io`], and the
//!   failures to open one: [`Error::Connect`], [`Error::Tls`],
//!   [`Error::Auth`]): the transport must reconnect.
//!
//! Meta replies map onto the same outcomes: `NS` is [`Error::NotStored`],
//! `EX` [`Error::Exists`] and `NF` [`Error::NotFound`]; `EN` (a miss) is not
//! an error.
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
    Protocol(ProtocolError),
    /// The request's deadline passed; the connection is poisoned.
    #[error("request timed out")]
    Timeout,
    /// The connection is closed (by the server, the transport or `quit`).
    #[error("connection closed")]
    Closed,
    /// The connection was poisoned earlier by the failure in
    /// [`source`](std::error::Error::source) (see [`Error::root`]); the
    /// transport reconnects.
    #[error("connection poisoned by an earlier failure")]
    Poisoned(#[source] Arc<Error>),
    /// An I/O error from the transport (in
    /// [`source`](std::error::Error::source)).
    #[error("i/o error")]
    Io(#[source] Arc<std::io::Error>),
    /// Connecting to a server failed: refused, unreachable, unresolvable,
    /// or timed out (`source` is then of kind
    /// [`TimedOut`](std::io::ErrorKind::TimedOut); see
    /// [`Error::is_timeout`]).
    #[error("cannot connect to {server}")]
    Connect {
        /// The server, as `host:port` or a socket path.
        server: String,
        /// What the operating system said.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// TLS with `server` failed: the handshake (an untrusted or expired
    /// certificate, a name mismatch, a server without TLS, a client
    /// certificate refused, ...) or the session after it. `kind` says which,
    /// `message` what rustls said.
    #[error("TLS with {server} failed: {kind} ({message})")]
    Tls {
        /// The server.
        server: String,
        /// What went wrong.
        kind: TlsErrorKind,
        /// The TLS library's description.
        message: String,
    },
    /// `server` refused the credentials of the client (memcached's ASCII
    /// authentication, `-Y`): nothing else was sent on the connection.
    #[error("{server} refused the credentials: {message}")]
    Auth {
        /// The server.
        server: String,
        /// What the server said (`authentication failure`, ...).
        message: String,
    },
    /// No server is available for this request (all candidates are down).
    #[error("no server available: {0}")]
    NoServer(String),
    /// Every connection a client may open to `server` stayed busy until the
    /// request's deadline (a bounded pool under load); nothing was sent.
    #[error("all {max} connections to {server} stayed busy until the deadline")]
    PoolExhausted {
        /// The server.
        server: String,
        /// The configured maximum of connections to it.
        max: usize,
    },
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
            | Error::Tls { .. }
            | Error::Auth { .. }
            | Error::NoServer(_)
            | Error::PoolExhausted { .. } => ErrorKind::Connection,
        }
    }

    /// True when the connection that produced this error must be replaced.
    pub fn is_fatal(&self) -> bool {
        self.kind() == ErrorKind::Connection
    }

    /// A failed connection attempt to `server`.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use memwire_core::Error;
    /// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let e = Error::connect("127.0.0.1:11211", refused);
    /// assert_eq!(e.to_string(), "cannot connect to 127.0.0.1:11211");
    /// assert_eq!(e.source().unwrap().to_string(), "connection refused");
    /// assert!(e.is_connection_error() && !e.is_timeout());
    /// ```
    pub fn connect(server: impl std::fmt::Display, source: std::io::Error) -> Error {
        Error::Connect {
            server: server.to_string(),
            source: Arc::new(source),
        }
    }

    /// A connection attempt to `server` that did not complete in time.
    ///
    /// ```
    /// use memwire_core::Error;
    /// let e = Error::connect_timeout("10.0.0.1:11211");
    /// assert!(e.is_timeout());
    /// assert_eq!(e.server(), Some("10.0.0.1:11211"));
    /// ```
    pub fn connect_timeout(server: impl std::fmt::Display) -> Error {
        let timed_out = std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the connection was not established in time",
        );
        Error::connect(server, timed_out)
    }

    /// The root cause, looking through [`Error::Poisoned`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Poisoned(inner) => inner.root(),
            other => other,
        }
    }

    /// Whether a deadline passed: the request's own, an earlier request's
    /// that poisoned the shared connection, or the connect's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use memwire_core::Error;
    /// assert!(Error::Timeout.is_timeout());
    /// assert!(Error::Poisoned(Arc::new(Error::Timeout)).is_timeout());
    /// assert!(!Error::NotFound.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self.root() {
            Error::Timeout => true,
            Error::Connect { source, .. } => source.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// Whether the connection failed (or could not be made): the request
    /// may or may not have reached the server, and the transport
    /// reconnects. Same as `kind() == ErrorKind::Connection`.
    pub fn is_connection_error(&self) -> bool {
        self.kind() == ErrorKind::Connection
    }

    /// Whether the caller's input was refused before anything was sent.
    pub fn is_input_error(&self) -> bool {
        self.kind() == ErrorKind::Input
    }

    /// Whether the server answered with a per-request outcome
    /// (`NOT_STORED`, `EXISTS`, `NOT_FOUND`, ...); the connection is fine.
    pub fn is_reply_error(&self) -> bool {
        self.kind() == ErrorKind::Reply
    }

    /// `NOT_FOUND`: the item does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound)
    }

    /// `NOT_STORED`: the condition of `add`/`replace`/`append`/`prepend`
    /// was not met.
    pub fn is_not_stored(&self) -> bool {
        matches!(self, Error::NotStored)
    }

    /// `EXISTS`: a CAS store lost the race.
    pub fn is_cas_mismatch(&self) -> bool {
        matches!(self, Error::Exists)
    }

    /// The server this error names, when it names one.
    ///
    /// ```
    /// use memwire_core::error::{Error, TlsErrorKind};
    /// let e = Error::Tls {
    ///     server: "memcacheds://10.0.0.1:11211".into(),
    ///     kind: TlsErrorKind::UnknownIssuer,
    ///     message: "invalid peer certificate: UnknownIssuer".into(),
    /// };
    /// assert_eq!(e.server(), Some("memcacheds://10.0.0.1:11211"));
    /// assert!(e.is_connection_error() && !e.is_timeout());
    /// ```
    pub fn server(&self) -> Option<&str> {
        match self.root() {
            Error::Connect { server, .. }
            | Error::PoolExhausted { server, .. }
            | Error::Tls { server, .. }
            | Error::Auth { server, .. } => Some(server),
            _ => None,
        }
    }

    /// What went wrong with TLS, for an [`Error::Tls`] (looking through
    /// [`Error::Poisoned`]).
    pub fn tls_kind(&self) -> Option<TlsErrorKind> {
        match self.root() {
            Error::Tls { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether a server refused the client's credentials
    /// ([`Error::Auth`], looking through [`Error::Poisoned`]).
    pub fn is_auth_error(&self) -> bool {
        matches!(self.root(), Error::Auth { .. })
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

/// What went wrong in an [`Error::Tls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate is not signed by a trusted certificate
    /// authority (see the client's root store and CA files).
    UnknownIssuer,
    /// The server's certificate is not valid for the name the client
    /// checked (the host, or the configured server name).
    NameMismatch,
    /// The server's certificate has expired or is not valid yet.
    Expired,
    /// Another problem with the server's certificate (revoked, badly
    /// encoded, bad signature, not for a server, ...).
    BadCertificate,
    /// The server refused the client's certificate, or required one and
    /// none was configured.
    ClientCertRefused,
    /// The server does not speak TLS: it answered the handshake in plain
    /// text.
    NotTls,
    /// The handshake failed otherwise (no protocol version or cipher suite
    /// in common, an alert from the server, ...).
    Handshake,
    /// The TLS session failed after the handshake (a corrupt record, an
    /// alert).
    Session,
}

impl std::fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsErrorKind::UnknownIssuer => {
                "the server's certificate is not signed by a trusted authority"
            }
            TlsErrorKind::NameMismatch => "the server's certificate is not valid for its name",
            TlsErrorKind::Expired => "the server's certificate has expired or is not valid yet",
            TlsErrorKind::BadCertificate => "the server's certificate is invalid",
            TlsErrorKind::ClientCertRefused => "the server refused the client certificate",
            TlsErrorKind::NotTls => "the server does not speak TLS",
            TlsErrorKind::Handshake => "the handshake failed",
            TlsErrorKind::Session => "the session failed",
        })
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
    /// A meta reply's opaque token (`O`) is not the one of the request it
    /// answers (or one of them has none).
    #[error("reply with opaque {got:?} answers a request with opaque {expected:?}")]
    OpaqueMismatch {
        /// The request's token.
        expected: Option<String>,
        /// The reply's token.
        got: Option<String>,
    },
    /// A meta reply returned (`k`) another key than the request's.
    #[error("reply for key {got:?} answers a request for key {expected:?}")]
    KeyMismatch {
        /// The request's key, shortened.
        expected: String,
        /// The returned key, shortened.
        got: String,
    },
    /// A meta reply arrived while only quiet meta requests were pending and
    /// it carries none of their opaque tokens.
    #[error("reply {0:?} answers none of the pending quiet requests")]
    Unattributable(String),
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
