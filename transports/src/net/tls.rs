//! [`Tls`]: the TLS session of one socket, sans-IO like the protocol state
//! it carries. rustls's `ClientConnection` turns plaintext into ciphertext
//! and back without doing I/O; this wraps it with a buffer of ciphertext
//! for the transport to write, and says what a failure means.

use std::io::{BufRead, Write};
use std::sync::Arc;

use memwire_core::{Error, TlsErrorKind};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, ClientConnection};

/// Why a TLS session failed: the kind and rustls's description.
pub(crate) type Failure = (TlsErrorKind, String);

/// One TLS session over one socket.
#[derive(Debug)]
pub(crate) struct Tls {
    /// The server, as errors name it.
    server: String,
    session: ClientConnection,
    /// Ciphertext for the socket, and how much of it is written.
    out: Vec<u8>,
    sent: usize,
    /// Whether the server has sent anything yet: its first byte tells a
    /// TLS server from a plain-text one.
    heard: bool,
    /// Close the session once the plaintext written so far is out.
    closing: bool,
}

impl Tls {
    /// A client session with `server`, checked against `name`, its
    /// handshake queued.
    pub(crate) fn new(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        server: String,
    ) -> Result<Tls, Error> {
        let session = match ClientConnection::new(config, name) {
            Ok(session) => session,
            Err(e) => return Err(failed(server, (TlsErrorKind::Handshake, e.to_string()))),
        };
        Ok(Tls {
            server,
            session,
            out: Vec::new(),
            sent: 0,
            heard: false,
            closing: false,
        })
    }

    /// Whether the handshake is still going: plaintext waits until it is
    /// done.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// Whether ciphertext waits for the socket (the handshake's, an alert,
    /// records not yet written).
    pub(crate) fn has_output(&self) -> bool {
        self.sent < self.out.len()
            || self.session.wants_write()
            || (self.closing && !self.session.is_handshaking())
    }

    /// The ciphertext to write next, after encrypting what rustls takes of
    /// `plain` (once the handshake is done): how much of `plain` it took,
    /// and the bytes. Empty when there is nothing to write.
    pub(crate) fn output(&mut self, plain: &[u8]) -> (usize, &[u8]) {
        let mut taken = 0;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            if !self.session.is_handshaking() {
                if !plain.is_empty() {
                    // Takes as much as its send buffer allows (64 KiB).
                    taken = self.session.writer().write(plain).unwrap_or(0);
                } else if self.closing {
                    self.closing = false;
                    self.session.send_close_notify();
                }
            }
            while self.session.wants_write() {
                // Writing into a Vec cannot fail.
                if self.session.write_tls(&mut self.out).is_err() {
                    break;
                }
            }
        }
        (taken, self.out.get(self.sent..).unwrap_or_default())
    }

    /// `n` bytes of the last [`Tls::output`] were written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
    }

    /// The failure of this session as an [`Error::Tls`] naming the server.
    pub(crate) fn error(&self, failure: Failure) -> Error {
        failed(self.server.clone(), failure)
    }

    /// Say goodbye (`close_notify`) once the plaintext given so far is out.
    pub(crate) fn close(&mut self) {
        self.closing = true;
    }

    /// Feed ciphertext read from the socket; the plaintext it decrypts to
    /// goes to `deliver`. `Ok(true)` once the server closed the session
    /// (`close_notify`).
    ///
    /// # Errors
    ///
    /// The session failed (it is dead): a certificate refused, an alert, a
    /// corrupt record, a server that answers in plain text.
    pub(crate) fn input(
        &mut self,
        mut data: &[u8],
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, Failure> {
        if !self.heard && !data.is_empty() {
            self.heard = true;
            // Every TLS record starts with its content type, 20 to 24.
            if !data.first().is_some_and(|b| (20..=24).contains(b)) {
                return Err((
                    TlsErrorKind::NotTls,
                    format!("it answered in plain text: {:?}", first_line(data)),
                ));
            }
        }
        while !data.is_empty() {
            match self.session.read_tls(&mut data) {
                // A `close_notify` came earlier: nothing more is read.
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) => return Err((TlsErrorKind::Session, e.to_string())),
            }
            let handshaking = self.session.is_handshaking();
            let state = self
                .session
                .process_new_packets()
                .map_err(|e| (classify(&e, handshaking), e.to_string()))?;
            let mut reader = self.session.reader();
            loop {
                match reader.fill_buf() {
                    Ok([]) => return Ok(true),
                    Ok(chunk) => {
                        let n = chunk.len();
                        deliver(chunk);
                        reader.consume(n);
                    }
                    // `WouldBlock`: all of it is out.
                    Err(_) => break,
                }
            }
            if state.peer_has_closed() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `failure` with `server` as an [`Error::Tls`].
pub(crate) fn failed(server: String, (kind, message): Failure) -> Error {
    Error::Tls {
        server,
        kind,
        message,
    }
}

/// The start of a plain-text answer, for an error message.
fn first_line(data: &[u8]) -> String {
    let end = data
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(data.len())
        .min(60);
    String::from_utf8_lossy(data.get(..end).unwrap_or_default())
        .trim_end()
        .to_owned()
}

/// What a rustls error means for the user.
fn classify(e: &rustls::Error, handshaking: bool) -> TlsErrorKind {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::NameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsErrorKind::Expired,
            _ => TlsErrorKind::BadCertificate,
        },
        // What a server says about the client's certificate.
        E::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied,
        ) => TlsErrorKind::ClientCertRefused,
        _ if handshaking => TlsErrorKind::Handshake,
        _ => TlsErrorKind::Session,
    }
}
