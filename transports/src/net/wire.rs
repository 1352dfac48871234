//! [`Wire`]: what runs between one socket and its core [`Connection`] —
//! plain text or a TLS session, and the login that opens the connection.
//! Every transport moves the bytes [`Wire::output`] gives to the socket and
//! hands what it reads to [`Wire::apply_read`]; the TLS handshake and the
//! login happen there, before any request's bytes go out, and nothing else
//! changes for the transport.

use std::io;

use memwire_core::auth::Login;
use memwire_core::Connection;

#[cfg(feature = "tls")]
use super::tls::Tls;
use super::{apply_error, Io, READ_CHUNK};

/// The byte path of one socket.
#[derive(Debug)]
pub(crate) struct Wire {
    /// The login, until the server accepted it; nothing of the connection
    /// goes out meanwhile.
    login: Option<Login>,
    #[cfg(feature = "tls")]
    tls: Option<Box<Tls>>,
    /// What TLS records and the login's reply are read into (allocated
    /// when first needed: a plain connection reads into its `Connection`).
    scratch: Option<Box<[u8]>>,
}

impl Wire {
    /// Plain text, logging in with `login` first if given.
    pub(crate) fn plain(login: Option<Login>) -> Wire {
        Wire {
            login,
            #[cfg(feature = "tls")]
            tls: None,
            scratch: None,
        }
    }

    /// Through `tls`, logging in with `login` first if given.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(login: Option<Login>, tls: Tls) -> Wire {
        Wire {
            login,
            tls: Some(Box::new(tls)),
            scratch: None,
        }
    }

    /// Whether the connection is open for requests: the handshake and the
    /// login are done.
    #[cfg(feature = "blocking")]
    pub(crate) fn is_open(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            return false;
        }
        self.login.is_none()
    }

    /// Plain text, logged in: reads go straight to the connection.
    fn is_direct(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return false;
        }
        self.login.is_none()
    }

    /// Whether there are bytes for the socket now: the handshake's, the
    /// login's, or (once both are done) the connection's.
    pub(crate) fn wants_write(&self, conn: &Connection) -> bool {
        let plain = match &self.login {
            Some(login) => login.wants_write(),
            None => conn.wants_write(),
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.has_output() || (plain && !tls.is_handshaking());
        }
        plain
    }

    /// The bytes to write to the socket next (empty when
    /// [`Wire::wants_write`] is false). Under TLS, the plaintext rustls
    /// takes is consumed from the connection (or the login) here.
    pub(crate) fn output<'a>(&'a mut self, conn: &'a mut Connection) -> &'a [u8] {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let (taken, out) = match &mut self.login {
                Some(login) => {
                    let (taken, out) = tls.output(login.pending_output());
                    login.advance_output(taken);
                    (0, out)
                }
                None => tls.output(conn.pending_output()),
            };
            conn.advance_output(taken);
            return out;
        }
        match &self.login {
            Some(login) => login.pending_output(),
            None => conn.pending_output(),
        }
    }

    /// Apply the result of writing [`Wire::output`].
    pub(crate) fn apply_write(&mut self, conn: &mut Connection, written: io::Result<usize>) -> Io {
        match written {
            Ok(0) => {
                conn.handle_failure(io::Error::from(io::ErrorKind::WriteZero).into());
                Io::Done
            }
            Ok(n) => {
                #[cfg(feature = "tls")]
                if let Some(tls) = &mut self.tls {
                    tls.advance(n);
                    return Io::Progress;
                }
                match &mut self.login {
                    Some(login) => login.advance_output(n),
                    None => conn.advance_output(n),
                }
                Io::Progress
            }
            Err(e) => apply_error(conn, e),
        }
    }

    /// Where the socket's next read goes. On a plain wire once logged in
    /// (the usual case) that is the connection's own
    /// [`input_buffer`](Connection::input_buffer), so replies are parsed
    /// where they were read; TLS records and the login's reply go to a
    /// buffer of the wire's.
    pub(crate) fn read_buffer<'a>(&'a mut self, conn: &'a mut Connection) -> &'a mut [u8] {
        if self.is_direct() {
            return conn.input_buffer();
        }
        self.scratch
            .get_or_insert_with(|| vec![0; READ_CHUNK].into_boxed_slice())
    }

    /// Apply the result of reading into [`Wire::read_buffer`]: the bytes
    /// go through TLS (if any) to the login while it runs, else to `conn`.
    /// EOF closes the connection; a TLS failure or a refused login fails
    /// it, naming the server.
    pub(crate) fn apply_read(&mut self, conn: &mut Connection, read: io::Result<usize>) -> Io {
        if self.is_direct() {
            return super::apply_read(conn, read);
        }
        let data = match read {
            Ok(0) => {
                self.closed(conn);
                return Io::Done;
            }
            Ok(n) => self
                .scratch
                .as_deref()
                .and_then(|b| b.get(..n))
                .unwrap_or_default(),
            Err(e) => return apply_error(conn, e),
        };
        let login = &mut self.login;
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let result = tls.input(data, &mut |plain| deliver(login, conn, plain));
            match result {
                Ok(false) => return Io::Progress,
                Ok(true) => {
                    conn.handle_close();
                    return Io::Done;
                }
                Err(failure) => {
                    conn.handle_failure(tls.error(failure));
                    return Io::Done;
                }
            }
        }
        deliver(login, conn, data);
        Io::Progress
    }

    /// Say goodbye once what is queued is out: TLS's `close_notify` (after
    /// a `quit`, say). Nothing to do in plain text.
    pub(crate) fn close(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.close();
        }
    }

    /// The server closed the socket.
    fn closed(&mut self, conn: &mut Connection) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_ref().filter(|t| t.is_handshaking()) {
            let message = "the server closed the connection during the handshake".into();
            return conn
                .handle_failure(tls.error((memwire_core::TlsErrorKind::Handshake, message)));
        }
        conn.handle_close();
    }
}

/// Plaintext from the server: the login's reply while it runs, then the
/// connection's replies.
fn deliver(login: &mut Option<Login>, conn: &mut Connection, plain: &[u8]) {
    let Some(running) = login else {
        return conn.handle_input(plain);
    };
    running.handle_input(plain);
    match running.poll_outcome() {
        None => {}
        Some(Ok(())) => *login = None,
        Some(Err(refused)) => conn.handle_failure(refused),
    }
}

#[cfg(test)]
mod tests {
    use memwire_core::auth::Credentials;
    use memwire_core::{Command, Config, Error, Response};

    use super::*;

    fn login_first() -> (Wire, Connection) {
        let credentials = Credentials::new("alice", "s3cret").unwrap();
        let wire = Wire::plain(Some(Login::new(&credentials, "h:1")));
        let mut conn = Connection::new(Config::default());
        conn.send(Command::get("k"), None).unwrap();
        (wire, conn)
    }

    /// What a socket's read of `bytes` does.
    fn feed(wire: &mut Wire, conn: &mut Connection, bytes: &[u8]) -> Io {
        wire.read_buffer(conn)[..bytes.len()].copy_from_slice(bytes);
        wire.apply_read(conn, Ok(bytes.len()))
    }

    /// Write everything the wire has now; what went out.
    fn drain(wire: &mut Wire, conn: &mut Connection) -> Vec<u8> {
        let mut sent = Vec::new();
        while wire.wants_write(conn) {
            let out = wire.output(conn).to_vec();
            // One byte at a time: short writes are the transport's lot.
            sent.push(out[0]);
            assert_eq!(wire.apply_write(conn, Ok(1)), Io::Progress);
        }
        sent
    }

    /// The login goes out alone; the queued request follows once the
    /// server said yes, however its reply was split.
    #[test]
    fn requests_wait_for_the_login() {
        let reply = b"STORED\r\n";
        for cut in 0..reply.len() {
            let (mut wire, mut conn) = login_first();
            let sent = drain(&mut wire, &mut conn);
            assert_eq!(sent, b"set memwire-auth 0 -1 12\r\nalice s3cret\r\n");
            assert!(!wire.wants_write(&conn), "the get waits");
            let halves = [&reply[..cut], &reply[cut..]];
            for half in halves.into_iter().filter(|h| !h.is_empty()) {
                assert_eq!(feed(&mut wire, &mut conn, half), Io::Progress);
            }
            assert_eq!(drain(&mut wire, &mut conn), b"get k\r\n");
            let end = b"END\r\n";
            feed(&mut wire, &mut conn, end);
            let done = conn.poll_response().unwrap();
            assert!(matches!(done.result, Ok(Response::Values(v)) if v.is_empty()));
        }
    }

    /// A refused login fails what was queued with `Error::Auth`, and
    /// nothing else is sent.
    #[test]
    fn a_refused_login_fails_the_queue() {
        let (mut wire, mut conn) = login_first();
        drain(&mut wire, &mut conn);
        let refusal = b"CLIENT_ERROR authentication failure\r\n";
        feed(&mut wire, &mut conn, refusal);
        assert!(conn.is_poisoned());
        assert!(!wire.wants_write(&conn));
        let done = conn.poll_response().unwrap();
        assert!(
            matches!(&done.result, Err(Error::Auth { server, .. }) if server == "h:1"),
            "{:?}",
            done.result
        );
    }

    /// EOF before the login's reply closes the connection.
    #[test]
    fn eof_during_the_login_closes() {
        let (mut wire, mut conn) = login_first();
        drain(&mut wire, &mut conn);
        assert_eq!(wire.apply_read(&mut conn, Ok(0)), Io::Done);
        assert!(matches!(conn.poison_cause(), Some(Error::Closed)));
    }
}
