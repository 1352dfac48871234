//! [`ClientConfig`] and its [`ClientBuilder`]: servers, timeouts, limits and
//! health settings, checked once, for a client of any transport.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Credentials;
use crate::client::tls::{ClientCert, TlsConfig};
use crate::client::{FailurePolicy, HealthHook, Router};

/// The protocol a client's operations speak. Both share a connection, so a
/// client speaking meta still sends `stats`, `flush_all`, `version` and
/// `verbosity` (which have no meta form) in the text protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// The classic text protocol: any memcached, proxies (twemproxy,
    /// mcrouter) and older servers.
    #[default]
    Text,
    /// The meta protocol (memcached 1.6.10+): `mg`/`ms`/`md`/`ma`,
    /// multi-gets as quiet `mg` batches, `noreply` writes whose errors
    /// are reported. Recommended for new deployments.
    Meta,
}
use crate::cluster::{AddrError, Cluster, HealthConfig, ServerAddr};
use crate::connection::Config;

/// Default [`ClientConfig::connect_timeout`]: 1 second.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`ClientConfig::io_timeout`]: 1 second.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`ClientConfig::max_idle_per_server`].
pub const DEFAULT_MAX_IDLE_PER_SERVER: usize = 32;
/// Default [`ClientConfig::max_connections_per_server`].
pub const DEFAULT_MAX_CONNECTIONS_PER_SERVER: usize = 64;
/// Default [`ClientConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// A checked client configuration. Build one with [`ClientBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Servers and their ketama weights, in order (the order matters for
    /// placement).
    pub servers: Vec<(ServerAddr, u32)>,
    /// Longest time one connection attempt may take. It is also bounded by
    /// the deadline of the call that needs the connection.
    pub connect_timeout: Duration,
    /// The time limit of one call: connecting (when needed), writing the
    /// request and reading the reply together, on every transport. A call
    /// returns by then, with [`Error::Timeout`](crate::Error::Timeout) or
    /// a connect error if nothing better.
    pub io_timeout: Duration,
    /// Protocol limits of each connection (line and value sizes, keys per
    /// request, ...).
    pub limits: Config,
    /// Which protocol the operations speak: the classic text protocol
    /// (default) or memcached's meta protocol (1.6+).
    pub protocol: Protocol,
    /// When a failing server is marked down and retried.
    pub health: HealthConfig,
    /// Pooled transports (blocking): most idle connections kept per server.
    pub max_idle_per_server: usize,
    /// Pooled transports (blocking): most connections open to one server
    /// at once. A call that finds them all busy waits for one, until its
    /// deadline, then fails with
    /// [`Error::PoolExhausted`](crate::Error::PoolExhausted).
    pub max_connections_per_server: usize,
    /// Pipelined transports (mio, smol, tokio): most requests queued or
    /// awaiting a reply on one connection. Further calls wait for room,
    /// within their deadline.
    pub max_in_flight: usize,
    /// Send the keys of a down server to the next live server along the
    /// ring (see [`FailurePolicy::eject`]). Off by default.
    pub eject_failed_servers: bool,
    /// Retry a read (`get`, multi-get, `version`, `stats`) once, on a fresh
    /// connection, when it failed only because its connection did (another
    /// request's fault, a reset): never a write, never twice. On by
    /// default.
    pub retry_reads: bool,
    /// Called on every server up/down transition.
    pub health_hook: Option<HealthHook>,
    /// How TLS servers (`memcacheds://`) are verified, and whether every
    /// TCP server uses TLS. The TLS handshake of a new connection happens
    /// within the deadline of the call that needs the connection.
    pub tls: TlsConfig,
    /// Credentials for memcached's ASCII authentication (`-Y`), sent on
    /// every new connection before any request (after the TLS handshake).
    pub credentials: Option<Credentials>,
}

impl ClientConfig {
    /// Whether the connections to `addr` use TLS (see
    /// [`TlsConfig::applies_to`]).
    pub fn uses_tls(&self, addr: &ServerAddr) -> bool {
        self.tls.applies_to(addr)
    }

    /// The router (placement and limits) for these servers.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoServers`] when the server list was emptied.
    pub fn router(&self) -> Result<Router, ConfigError> {
        Ok(
            Router::with_policy(self.cluster()?, self.limits, self.policy())
                .speaking(self.protocol),
        )
    }

    /// A router for these servers that keeps what `previous` knows of the
    /// servers both lists share (live reconfiguration).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoServers`] when the server list was emptied.
    pub fn router_after(&self, previous: &Router) -> Result<Router, ConfigError> {
        Ok(previous
            .reconfigured(self.cluster()?, self.limits, self.policy())
            .speaking(self.protocol))
    }

    fn cluster(&self) -> Result<Cluster, ConfigError> {
        Cluster::new(self.servers.clone()).map_err(|_| ConfigError::NoServers)
    }

    fn policy(&self) -> FailurePolicy {
        FailurePolicy {
            health: self.health,
            eject: self.eject_failed_servers,
            hook: self.health_hook.clone(),
            retry_reads: self.retry_reads,
        }
    }
}

/// A client that can be built from a [`ClientConfig`]: every client of
/// every transport (and [`ClientConfig`] itself).
pub trait FromConfig: Sized {
    /// Build the client. Clients connect lazily, on first use.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is unusable.
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError>;

    /// A builder whose [`build`](ClientBuilder::build) makes this client.
    fn builder() -> ClientBuilder<Self> {
        ClientBuilder::default()
    }
}

impl FromConfig for ClientConfig {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        Ok(config)
    }
}

/// Builds a [`ClientConfig`], then a client `C` (by default just the
/// configuration). A transport's `Client::builder()` returns a
/// `ClientBuilder<Client>`, so `build()` needs no annotation.
///
/// ```
/// use std::time::Duration;
/// use memwire_core::client::ClientBuilder;
///
/// let config = ClientBuilder::new()
///     .server("memcached://10.0.0.1:11211")
///     .weighted_server("10.0.0.2", 2)
///     .server("/run/memcached/memcached.sock")
///     .io_timeout(Duration::from_millis(250))
///     .build()?;
/// assert_eq!(config.servers.len(), 3);
/// # Ok::<(), memwire_core::client::ConfigError>(())
/// ```
pub struct ClientBuilder<C = ClientConfig> {
    /// The servers as given, parsed by [`ClientBuilder::config`].
    servers: Vec<(String, u32)>,
    /// Every other setting (its `servers` and `credentials` stay empty).
    settings: ClientConfig,
    /// Checked when given; an error is reported by [`ClientBuilder::config`].
    credentials: Option<Result<Credentials, ConfigError>>,
    _client: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("servers", &self.servers)
            .field("settings", &self.settings)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl<C> Clone for ClientBuilder<C> {
    fn clone(&self) -> Self {
        ClientBuilder {
            servers: self.servers.clone(),
            settings: self.settings.clone(),
            credentials: self.credentials.clone(),
            _client: PhantomData,
        }
    }
}

impl<C> Default for ClientBuilder<C> {
    fn default() -> Self {
        ClientBuilder {
            servers: Vec::new(),
            settings: ClientConfig {
                servers: Vec::new(),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                io_timeout: DEFAULT_IO_TIMEOUT,
                limits: Config::default(),
                protocol: Protocol::default(),
                health: HealthConfig::default(),
                max_idle_per_server: DEFAULT_MAX_IDLE_PER_SERVER,
                max_connections_per_server: DEFAULT_MAX_CONNECTIONS_PER_SERVER,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                eject_failed_servers: false,
                retry_reads: true,
                health_hook: None,
                tls: TlsConfig::default(),
                credentials: None,
            },
            credentials: None,
            _client: PhantomData,
        }
    }
}

impl ClientBuilder {
    /// A builder of a plain [`ClientConfig`], with no servers and default
    /// settings. Turn it into a builder of a client with
    /// [`ClientBuilder::client`].
    pub fn new() -> Self {
        ClientBuilder::default()
    }
}

impl<C> ClientBuilder<C> {
    /// The same settings, building a `D` instead.
    pub fn client<D>(self) -> ClientBuilder<D> {
        ClientBuilder {
            servers: self.servers,
            settings: self.settings,
            credentials: self.credentials,
            _client: PhantomData,
        }
    }

    /// Add a server with weight 1: `memcached://host:port`, `host:port`,
    /// `host` (port 11211), `[v6]:port` or a unix socket path (see
    /// [`ServerAddr::parse`]).
    pub fn server(self, addr: impl Into<String>) -> Self {
        self.weighted_server(addr, 1)
    }

    /// Add a server with a ketama weight (relative; 0 counts as 1).
    pub fn weighted_server(mut self, addr: impl Into<String>, weight: u32) -> Self {
        self.servers.push((addr.into(), weight));
        self
    }

    /// Add several servers with weight 1.
    pub fn servers<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in addrs {
            self = self.server(a.as_ref());
        }
        self
    }

    /// The servers given so far, as given (address, weight).
    pub fn server_list(&self) -> &[(String, u32)] {
        &self.servers
    }

    /// Set [`ClientConfig::connect_timeout`] (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Set [`ClientConfig::io_timeout`], the time limit of each call
    /// (default 1 s).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.settings.io_timeout = timeout;
        self
    }

    /// Set the protocol limits ([`ClientConfig::limits`]).
    pub fn limits(mut self, config: Config) -> Self {
        self.settings.limits = config;
        self
    }

    /// Speak `protocol` ([`ClientConfig::protocol`]; default text).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.settings.protocol = protocol;
        self
    }

    /// Set [`ClientConfig::health`].
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.settings.health = health;
        self
    }

    /// Set [`ClientConfig::max_idle_per_server`] (default 32).
    pub fn max_idle_per_server(mut self, n: usize) -> Self {
        self.settings.max_idle_per_server = n;
        self
    }

    /// Set [`ClientConfig::max_connections_per_server`] (default 64).
    pub fn max_connections_per_server(mut self, n: usize) -> Self {
        self.settings.max_connections_per_server = n;
        self
    }

    /// Set [`ClientConfig::max_in_flight`] (default 4096).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.settings.max_in_flight = n;
        self
    }

    /// Set [`ClientConfig::eject_failed_servers`] (default off).
    pub fn eject_failed_servers(mut self, eject: bool) -> Self {
        self.settings.eject_failed_servers = eject;
        self
    }

    /// Set [`ClientConfig::retry_reads`] (default on).
    pub fn retry_reads(mut self, retry: bool) -> Self {
        self.settings.retry_reads = retry;
        self
    }

    /// Call `hook` on every server up/down transition
    /// ([`ClientConfig::health_hook`]). It runs on the thread that noticed
    /// the change, possibly while the client holds an internal lock: keep
    /// it short, and do not call the client from it.
    pub fn on_health_change(
        mut self,
        hook: impl Fn(&ServerAddr, crate::client::Transition) + Send + Sync + 'static,
    ) -> Self {
        self.settings.health_hook = Some(HealthHook::new(hook));
        self
    }

    /// Use TLS with every TCP server, not only those given as
    /// `memcacheds://` ([`TlsConfig::enabled`]; off by default). Needs the
    /// `tls` feature of `memwire`.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.settings.tls.enabled = enabled;
        self
    }

    /// Also trust the certificate authorities of this PEM file (a private
    /// CA); may be given several times.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.settings.tls.ca_files.push(path.into());
        self
    }

    /// Whether to trust the built-in roots (Mozilla's and/or the
    /// platform's, as compiled in; default on). Off, only the CA files
    /// given are trusted.
    pub fn tls_built_in_roots(mut self, trust: bool) -> Self {
        self.settings.tls.built_in_roots = trust;
        self
    }

    /// Send `name` (SNI) and check the servers' certificates against it
    /// instead of their host names.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.settings.tls.server_name = Some(name.into());
        self
    }

    /// Present this certificate to servers that ask for one (mutual TLS):
    /// PEM files of the chain (own certificate first) and of its key.
    pub fn tls_client_cert(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.settings.tls.client_cert = Some(ClientCert {
            cert_chain: cert_chain.into(),
            key: key.into(),
        });
        self
    }

    /// **Dangerous, for tests only**: accept any server certificate —
    /// expired, self-signed, for another name — without checking it.
    /// Anyone on the path can then read and change the traffic.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.settings.tls.danger_accept_invalid_certs = accept;
        self
    }

    /// Set all TLS settings at once ([`ClientConfig::tls`]).
    pub fn tls_config(mut self, tls: TlsConfig) -> Self {
        self.settings.tls = tls;
        self
    }

    /// Log in with these credentials on every new connection (memcached's
    /// ASCII authentication, `-Y`). They are checked by
    /// [`ClientBuilder::config`] and never shown by `Debug`.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// Parse and check everything.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty server list, an address that does not
    /// parse, a zero timeout, a zero connection or request limit, or
    /// unusable credentials.
    pub fn config(self) -> Result<ClientConfig, ConfigError> {
        if self.servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        let settings = self.settings;
        for (name, timeout) in [
            ("connect_timeout", settings.connect_timeout),
            ("io_timeout", settings.io_timeout),
        ] {
            if timeout.is_zero() {
                return Err(ConfigError::ZeroTimeout(name));
            }
        }
        for (name, n) in [
            (
                "max_connections_per_server",
                settings.max_connections_per_server,
            ),
            ("max_in_flight", settings.max_in_flight),
        ] {
            if n == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        let servers = self
            .servers
            .into_iter()
            .map(|(input, weight)| match ServerAddr::parse(&input) {
                Ok(addr) => Ok((addr, weight)),
                Err(error) => Err(ConfigError::Address { input, error }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = self.credentials.transpose()?;
        Ok(ClientConfig {
            servers,
            credentials,
            ..settings
        })
    }

    /// Check everything and build the client. Clients connect lazily, on
    /// first use.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::config`].
    pub fn build(self) -> Result<C, ConfigError>
    where
        C: FromConfig,
    {
        C::from_config(self.config()?)
    }
}

/// Why a client could not be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No server was given.
    NoServers,
    /// A server address did not parse.
    Address {
        /// The address as given.
        input: String,
        /// What is wrong with it.
        error: AddrError,
    },
    /// A timeout was zero (holds its name).
    ZeroTimeout(&'static str),
    /// A connection or request limit was zero (holds its name).
    ZeroLimit(&'static str),
    /// The credentials are unusable (holds why).
    Credentials(&'static str),
    /// The TLS settings are unusable: a CA or certificate file that does
    /// not read, no root to trust, TLS asked for in a build without the
    /// `tls` feature, ... (holds why).
    Tls(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoServers => f.write_str("a client needs at least one server"),
            ConfigError::Address { input, .. } => write!(f, "bad server address {input:?}"),
            ConfigError::ZeroTimeout(name) | ConfigError::ZeroLimit(name) => {
                write!(f, "{name} must not be zero")
            }
            ConfigError::Credentials(why) => write!(f, "unusable credentials: {why}"),
            ConfigError::Tls(why) => write!(f, "unusable TLS settings: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Address { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_parses_and_checks() {
        let c = ClientBuilder::new()
            .server("memcached://h:1")
            .weighted_server("h2", 3)
            .server("/tmp/m.sock")
            .config()
            .unwrap();
        assert_eq!(c.servers[1].1, 3);
        assert_eq!(c.servers[1].0.to_string(), "h2:11211");
        assert!(matches!(c.servers[2].0, ServerAddr::Unix(_)));
        assert_eq!(
            ClientBuilder::new().config().err(),
            Some(ConfigError::NoServers)
        );
        let bad = ClientBuilder::new().server("ftp://x").config().unwrap_err();
        assert!(matches!(bad, ConfigError::Address { .. }));
        assert_eq!(bad.to_string(), "bad server address \"ftp://x\"");
        assert!(std::error::Error::source(&bad).is_some());
        assert_eq!(
            ClientBuilder::new()
                .server("h")
                .io_timeout(Duration::ZERO)
                .config()
                .err(),
            Some(ConfigError::ZeroTimeout("io_timeout"))
        );
        assert_eq!(
            ClientBuilder::new()
                .server("h")
                .max_in_flight(0)
                .config()
                .err(),
            Some(ConfigError::ZeroLimit("max_in_flight"))
        );
    }

    #[test]
    fn tls_and_credentials() {
        let b = ClientBuilder::new()
            .server("memcacheds://a:1")
            .server("b:2")
            .server("/tmp/m.sock")
            .tls_ca_file("/ca.pem")
            .tls_server_name("cache.internal")
            .credentials("alice", "s3cret");
        assert!(!format!("{b:?}").contains("s3cret"), "{b:?}");
        let c = b.clone().config().unwrap();
        let uses: Vec<bool> = c.servers.iter().map(|(a, _)| c.uses_tls(a)).collect();
        assert_eq!(uses, [true, false, false]);
        assert_eq!(c.tls.ca_files, [PathBuf::from("/ca.pem")]);
        assert_eq!(c.tls.server_name.as_deref(), Some("cache.internal"));
        assert_eq!(
            c.credentials.as_ref().map(Credentials::username),
            Some("alice")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let all = b.tls(true).config().unwrap();
        let uses: Vec<bool> = all.servers.iter().map(|(a, _)| all.uses_tls(a)).collect();
        assert_eq!(uses, [true, true, false], "a unix socket stays local");
        let bad = ClientBuilder::new()
            .server("a")
            .credentials("a b", "c")
            .config();
        assert!(matches!(bad, Err(ConfigError::Credentials(_))), "{bad:?}");
        assert_eq!(
            ConfigError::Tls("no roots".into()).to_string(),
            "unusable TLS settings: no roots"
        );
    }

    #[test]
    fn a_typed_builder_builds_its_client() {
        struct Fake(usize);
        impl FromConfig for Fake {
            fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
                Ok(Fake(config.servers.len()))
            }
        }
        let fake = Fake::builder().servers(["a", "b"]).build().unwrap();
        assert_eq!(fake.0, 2);
        let again = ClientBuilder::new().server("a").client::<Fake>().build();
        assert_eq!(again.map(|f| f.0).ok(), Some(1));
    }
}
