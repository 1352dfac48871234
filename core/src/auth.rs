//! memcached's ASCII authentication (a server started with `-Y authfile`):
//! the [`Credentials`] of a client, and the [`Login`] that opens each of its
//! connections with them.
//!
//! The protocol document's exchange: right after connecting, before any
//! other request, the client sends a `set` of any key whose value is
//! `username password`; the server answers `STORED`, or `CLIENT_ERROR
//! <message>` when it refuses them. memcached reads nothing but this `set`
//! until it has accepted one, and answers a request pipelined behind a
//! refused login as if it were another login, so nothing else may be sent
//! before the reply. [`Login`] sends the `set` with an expiry of -1: a
//! server without `-Y` stores it already expired, so the credentials are
//! never readable there.
//!
//! ```
//! use memwire_core::auth::{Credentials, Login};
//! use memwire_core::Error;
//!
//! let credentials = Credentials::new("alice", "s3cret")?;
//! let mut login = Login::new(&credentials, "10.0.0.1:11211");
//! assert_eq!(login.pending_output(), b"set memwire-auth 0 -1 12\r\nalice s3cret\r\n");
//! let n = login.pending_output().len();
//! login.advance_output(n); // the transport wrote it
//! assert!(login.poll_outcome().is_none()); // no reply yet
//! login.handle_input(b"CLIENT_ERROR authentication failure\r\n");
//! let refused = login.poll_outcome().unwrap().unwrap_err();
//! assert!(matches!(&refused, Error::Auth { server, .. } if server == "10.0.0.1:11211"));
//! assert_eq!(refused.to_string(), "10.0.0.1:11211 refused the credentials: authentication failure");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use crate::client::ConfigError;
use crate::connection::{Config, Connection, RequestId};
use crate::error::{Error, ProtocolError};
use crate::expiry::Expiry;
use crate::request::Command;
use crate::response::Response;

/// The key of the login `set` (memcached ignores it).
const LOGIN_KEY: &str = "memwire-auth";

/// A username and password for memcached's ASCII authentication. The
/// password never appears in `Debug` output.
///
/// ```
/// use memwire_core::auth::Credentials;
///
/// let credentials = Credentials::new("alice", "s3cret")?;
/// assert_eq!(credentials.username(), "alice");
/// assert!(!format!("{credentials:?}").contains("s3cret"));
/// assert!(Credentials::new("alice", "two words").is_err()); // memcached splits on spaces
/// # Ok::<(), memwire_core::client::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials for a server's `-Y` file (`username:password` lines).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Credentials`] for an empty username or password, or
    /// one with spaces or control characters (memcached reads the two as
    /// space-separated words).
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Credentials, ConfigError> {
        let (username, password) = (username.into(), password.into());
        for (what, text) in [("username", &username), ("password", &password)] {
            if text.is_empty() {
                return Err(ConfigError::Credentials(match what {
                    "username" => "the username is empty",
                    _ => "the password is empty",
                }));
            }
            if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::Credentials(match what {
                    "username" => "the username has spaces or control characters",
                    _ => "the password has spaces or control characters",
                }));
            }
        }
        Ok(Credentials { username, password })
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The login request: `set memwire-auth 0 -1 <len>` with `username
    /// password` as its value.
    fn command(&self) -> Command {
        let payload = format!("{} {}", self.username, self.password);
        Command::set(LOGIN_KEY, payload)
            .expiry(Expiry::In(Duration::ZERO))
            .into()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The login of one connection, without the socket: the request's bytes
/// out, the reply's bytes in, then the outcome. A transport runs it right
/// after connecting (after the TLS handshake, under TLS) and sends nothing
/// else until it succeeded.
#[derive(Debug)]
pub struct Login {
    conn: Connection,
    id: Option<RequestId>,
    server: String,
    outcome: Option<Result<(), Error>>,
}

impl Login {
    /// The login of a new connection to `server` (named in its errors).
    pub fn new(credentials: &Credentials, server: impl fmt::Display) -> Login {
        let mut conn = Connection::new(Config::default());
        let id = conn.send(credentials.command(), None);
        let outcome = match &id {
            Ok(_) => None,
            // Checked credentials always encode; keep the reason if not.
            Err(e) => Some(Err(e.clone())),
        };
        Login {
            conn,
            id: id.ok(),
            server: server.to_string(),
            outcome,
        }
    }

    /// Bytes to write to the socket.
    pub fn pending_output(&self) -> &[u8] {
        self.conn.pending_output()
    }

    /// `n` bytes of [`Login::pending_output`] were written.
    pub fn advance_output(&mut self, n: usize) {
        self.conn.advance_output(n);
    }

    /// Whether there are bytes to write.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Feed bytes read from the socket. The server sends nothing but the
    /// reply: bytes beyond it are a protocol violation.
    pub fn handle_input(&mut self, data: &[u8]) {
        self.conn.handle_input(data);
        while let Some(done) = self.conn.poll_response() {
            if Some(done.id) == self.id && self.outcome.is_none() {
                self.outcome = Some(self.judge(done.result));
            }
        }
        if let (Some(Ok(())), Some(cause)) = (&self.outcome, self.conn.poison_cause()) {
            self.outcome = Some(Err(cause.clone()));
        }
    }

    /// The socket closed or failed before the reply.
    pub fn handle_failure(&mut self, cause: Error) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(cause));
        }
    }

    /// The outcome, once the reply is in: `Ok` when the server accepted the
    /// credentials, [`Error::Auth`] naming the server when it refused them,
    /// or the failure that cut the exchange short. Returned once.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<(), Error>> {
        self.outcome.take()
    }

    fn judge(&self, result: Result<Response, Error>) -> Result<(), Error> {
        match result {
            Ok(Response::Stored) => Ok(()),
            Err(Error::Client(message)) => Err(Error::Auth {
                server: self.server.clone(),
                message,
            }),
            Ok(other) => Err(ProtocolError::UnexpectedLine {
                line: format!("{other:?}"),
                request: "authentication",
            }
            .into()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Login {
        let credentials = Credentials::new("alice", "s3cret").unwrap();
        let mut login = Login::new(&credentials, "h:1");
        let n = login.pending_output().len();
        login.advance_output(n);
        login
    }

    #[test]
    fn accepted_in_any_split() {
        let reply = b"STORED\r\n";
        for cut in 0..=reply.len() {
            let mut login = login();
            login.handle_input(&reply[..cut]);
            if cut < reply.len() {
                assert!(login.poll_outcome().is_none(), "{cut}");
                login.handle_input(&reply[cut..]);
            }
            assert!(matches!(login.poll_outcome(), Some(Ok(()))), "{cut}");
            assert!(login.poll_outcome().is_none(), "returned once");
        }
    }

    #[test]
    fn refused_names_the_server() {
        let mut login = login();
        login.handle_input(b"CLIENT_ERROR authentication failure\r\n");
        match login.poll_outcome() {
            Some(Err(Error::Auth { server, message })) => {
                assert_eq!(
                    (server.as_str(), message.as_str()),
                    ("h:1", "authentication failure")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bytes_beyond_the_reply_are_a_protocol_error() {
        let mut login = login();
        login.handle_input(b"STORED\r\nVERSION 1\r\n");
        let outcome = login.poll_outcome();
        assert!(
            matches!(
                outcome,
                Some(Err(Error::Protocol(ProtocolError::UnsolicitedData(_))))
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn garbage_and_failures_are_reported() {
        let mut odd = login();
        odd.handle_input(b"VERSION 1.6\r\n");
        assert!(matches!(odd.poll_outcome(), Some(Err(Error::Protocol(_)))));
        let mut cut = login();
        cut.handle_failure(Error::Closed);
        cut.handle_failure(Error::Timeout);
        assert!(matches!(cut.poll_outcome(), Some(Err(Error::Closed))));
    }

    #[test]
    fn credentials_are_checked() {
        for (user, pass) in [
            ("", "p"),
            ("u", ""),
            ("a b", "p"),
            ("u", "p\r\n"),
            ("u", "p\t"),
        ] {
            assert!(
                matches!(
                    Credentials::new(user, pass),
                    Err(ConfigError::Credentials(_))
                ),
                "{user:?} {pass:?}"
            );
        }
        assert!(Credentials::new("ünï", "pässwörd!:#").is_ok());
    }
}
