//! [`TlsConfig`]: what a client's TLS should trust and present — data only
//! (paths, names, flags). The transports build their TLS configuration
//! (rustls, feature `tls` of `memwire`) from it.

use std::path::PathBuf;

use crate::cluster::ServerAddr;

/// The TLS settings of a client. Servers given as `memcacheds://` use TLS
/// (or every TCP server, with [`TlsConfig::enabled`]); these settings say
/// how. Certificates are verified by default: against the built-in roots
/// and the CA files given, for the server's host name (or
/// [`TlsConfig::server_name`]).
///
/// ```
/// use memwire_core::client::ClientBuilder;
///
/// let config = ClientBuilder::new()
///     .server("memcacheds://cache-1.internal:11211")
///     .tls_ca_file("/etc/memcached/ca.pem")
///     .tls_client_cert("/etc/memcached/client.pem", "/etc/memcached/client.key")
///     .config()?;
/// assert!(config.tls.applies_to(&config.servers[0].0));
/// assert!(config.tls.built_in_roots && !config.tls.danger_accept_invalid_certs);
/// # Ok::<(), memwire_core::client::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Use TLS with every TCP server, not only `memcacheds://` ones (a
    /// unix socket is local and never uses TLS). Off by default.
    pub enabled: bool,
    /// Trust the built-in roots: Mozilla's (feature `tls-webpki-roots` of
    /// `memwire`) and the platform's (feature `tls-native-roots`), those
    /// compiled in. On by default.
    pub built_in_roots: bool,
    /// PEM files of further certificate authorities to trust (a private
    /// CA, say).
    pub ca_files: Vec<PathBuf>,
    /// The name to send (SNI) and to check the server's certificate
    /// against, instead of each server's host: for servers reached by IP
    /// address or through a tunnel, with a certificate for one name.
    pub server_name: Option<String>,
    /// A certificate to present to servers that ask for one (mutual TLS).
    pub client_cert: Option<ClientCert>,
    /// Accept any server certificate — expired, self-signed, for another
    /// name — without checking it. **Dangerous**: anyone on the path can
    /// then read and change the traffic. For tests only.
    pub danger_accept_invalid_certs: bool,
}

/// A client certificate for mutual TLS: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, the client's own certificate first.
    pub cert_chain: PathBuf,
    /// Its private key (PKCS #8, PKCS #1 or SEC1).
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: false,
            built_in_roots: true,
            ca_files: Vec::new(),
            server_name: None,
            client_cert: None,
            danger_accept_invalid_certs: false,
        }
    }
}

impl TlsConfig {
    /// Whether the connections to `addr` use TLS: a `memcacheds://`
    /// server, or any TCP server when [`TlsConfig::enabled`].
    ///
    /// ```
    /// use memwire_core::client::TlsConfig;
    /// use memwire_core::cluster::ServerAddr;
    ///
    /// let tls = TlsConfig::default();
    /// assert!(tls.applies_to(&ServerAddr::parse("memcacheds://h")?));
    /// assert!(!tls.applies_to(&ServerAddr::parse("h:11211")?));
    /// # Ok::<(), memwire_core::cluster::AddrError>(())
    /// ```
    pub fn applies_to(&self, addr: &ServerAddr) -> bool {
        match addr {
            ServerAddr::Tcp { tls, .. } => *tls || self.enabled,
            ServerAddr::Unix(_) => false,
        }
    }
}
