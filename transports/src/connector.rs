//! [`Connector`]: what opening a connection takes besides a socket — TLS
//! for the servers that use it, and the login.

use std::fmt;
#[cfg(feature = "tls")]
use std::sync::Arc;

use memwire_core::auth::{Credentials, Login};
use memwire_core::client::{ClientConfig, ConfigError, TlsConfig};
use memwire_core::cluster::ServerAddr;
use memwire_core::Error;

use crate::net::wire::Wire;
#[cfg(feature = "tls")]
use crate::net::{tls::Tls, tls_config};

/// How a transport opens its connections: TLS with the servers that use it
/// (`memcacheds://`, or every TCP server with
/// [`ClientBuilder::tls`](crate::ClientBuilder::tls)), through a rustls
/// configuration built once, and the login of memcached's ASCII
/// authentication when credentials are set. Every client makes its own from
/// its [`ClientConfig`]; make one for a `mio::Adapter`
/// (`Adapter::connect_with`).
/// Cheap to clone.
///
/// ```no_run
/// use memwire::{ClientBuilder, Connector};
///
/// let config = ClientBuilder::new()
///     .server("memcacheds://cache.internal:11211")
///     .tls_ca_file("/etc/memcached/ca.pem")
///     .credentials("app", "s3cret")
///     .config()?;
/// let connector = Connector::new(&config)?; // reads the CA file
/// # let _ = connector;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Connector {
    tls: TlsConfig,
    credentials: Option<Credentials>,
    /// Built the first time a server needs TLS.
    #[cfg(feature = "tls")]
    rustls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Connector {
    /// The settings, and whether the TLS configuration is built (not its
    /// contents: a root store is long).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Connector");
        d.field("tls", &self.tls)
            .field("credentials", &self.credentials);
        #[cfg(feature = "tls")]
        d.field("rustls_config_built", &self.rustls.is_some());
        d.finish()
    }
}

impl Connector {
    /// The connector of a client configured by `config`: its TLS settings
    /// (built now if one of its servers uses TLS) and its credentials.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Tls`] when a server uses TLS and the settings are
    /// unusable (a CA file that does not read, no root to trust, ...), or
    /// memwire was built without its `tls` feature.
    pub fn new(config: &ClientConfig) -> Result<Connector, ConfigError> {
        let plain = Connector {
            tls: config.tls.clone(),
            credentials: config.credentials.clone(),
            #[cfg(feature = "tls")]
            rustls: None,
        };
        plain.for_servers(config.servers.iter().map(|(addr, _)| addr))
    }

    /// Use this rustls configuration with TLS servers (a verifier of your
    /// own, other protocol versions, ...) instead of one built from the
    /// [`TlsConfig`]; its server name still comes from
    /// [`TlsConfig::server_name`] or each server's host.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_rustls_config(mut self, config: Arc<rustls::ClientConfig>) -> Connector {
        self.rustls = Some(config);
        self
    }

    /// This connector, ready for `servers` too (a new server list): the
    /// TLS settings are built the first time a server needs them.
    pub(crate) fn for_servers<'a>(
        &self,
        servers: impl IntoIterator<Item = &'a ServerAddr>,
    ) -> Result<Connector, ConfigError> {
        let mut ready = self.clone();
        if servers.into_iter().any(|addr| self.tls.applies_to(addr)) {
            ready.prepare_tls()?;
        }
        Ok(ready)
    }

    #[cfg(feature = "tls")]
    fn prepare_tls(&mut self) -> Result<(), ConfigError> {
        if self.rustls.is_none() {
            self.rustls = Some(tls_config::client_config(&self.tls)?);
        }
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    fn prepare_tls(&mut self) -> Result<(), ConfigError> {
        Err(ConfigError::Tls(
            "TLS servers need memwire's `tls` feature".into(),
        ))
    }

    /// The byte path of a new connection to `addr`: TLS if it uses TLS,
    /// and the login if there are credentials.
    pub(crate) fn wire(&self, addr: &ServerAddr) -> Result<Wire, Error> {
        let server = addr.to_string();
        let login = self.credentials.as_ref().map(|c| Login::new(c, &server));
        if !self.tls.applies_to(addr) {
            return Ok(Wire::plain(login));
        }
        #[cfg(feature = "tls")]
        {
            let (Some(config), ServerAddr::Tcp { host, .. }) = (&self.rustls, addr) else {
                return Err(Error::InvalidArgument(
                    "TLS is not set up for this server: make the Connector from a \
                     ClientConfig that has it",
                ));
            };
            let name = match tls_config::server_name(&self.tls, host) {
                Ok(name) => name,
                Err(message) => {
                    let kind = memwire_core::TlsErrorKind::Handshake;
                    return Err(crate::net::tls::failed(server, (kind, message)));
                }
            };
            Ok(Wire::tls(login, Tls::new(config.clone(), name, server)?))
        }
        #[cfg(not(feature = "tls"))]
        Err(Error::InvalidArgument(
            "memcacheds:// servers need memwire's `tls` feature",
        ))
    }
}

#[cfg(test)]
mod tests {
    use memwire_core::client::ClientBuilder;

    use super::*;

    /// `Debug` shows the settings, never the password.
    #[test]
    fn debug_hides_the_password() {
        let config = ClientBuilder::new()
            .server("h:1")
            .credentials("alice", "s3cret")
            .config()
            .unwrap();
        let shown = format!("{:?}", Connector::new(&config).unwrap());
        assert!(
            shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    /// A TLS server needs the `tls` feature, or a connector made for it.
    #[test]
    fn a_tls_server_needs_tls_set_up() {
        let addr = ServerAddr::parse("memcacheds://h:1").unwrap();
        let e = Connector::default().wire(&addr).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        let config = ClientBuilder::new()
            .server("memcacheds://h:1")
            .config()
            .unwrap();
        let made = Connector::new(&config);
        #[cfg(not(feature = "tls"))]
        assert!(matches!(made, Err(ConfigError::Tls(_))), "{made:?}");
        // Built with roots compiled in; without, refused for want of one.
        #[cfg(feature = "tls")]
        assert!(
            made.is_ok()
                || matches!(&made, Err(ConfigError::Tls(why)) if why.contains("no certificate authority")),
            "{made:?}"
        );
    }
}
