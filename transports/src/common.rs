//! Transport-neutral pieces shared by every client (blocking, smol, mio):
//! configuration, key placement, server health checks and the conversion of
//! core [`Response`]s into typed results. Nothing here does I/O.
//!
//! # Placement
//!
//! A key is owned by exactly one server, chosen with
//! [`Cluster::server_for_key`]: libmemcached's weighted ketama
//! (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`: an MD5 continuum of 160 points
//! per server at average weight; see [`memwire_core::cluster::ketama`]).
//! The same server list, in the same order and with the same weights,
//! places every key on the same server as libmemcached, pylibmc
//! (`ketama_weighted`) or PHP's memcached extension
//! (`OPT_LIBKETAMA_COMPATIBLE`). With one server, every key goes to it.
//! Placement never depends on health: while a key's
//! server is down, requests for that key fail with [`Error::NoServer`]
//! instead of moving to another server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use memwire_core::cluster::{AddrError, Cluster, Health, HealthConfig, ServerAddr};
use memwire_core::{
    Config, Error, ProtocolError, Response, SizeStats, SlabStats, StatMap, Stats, Value,
};

/// Default [`ClientConfig::connect_timeout`]: 1 second.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`ClientConfig::io_timeout`]: 1 second.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Default [`ClientConfig::max_idle_per_server`].
pub const DEFAULT_MAX_IDLE_PER_SERVER: usize = 32;

/// One result per server, in the order the servers were configured: the
/// answer of server-wide commands (`stats`, `flush_all`, `version`, ...).
pub type PerServer<T> = Vec<(ServerAddr, Result<T, Error>)>;

/// A validated client configuration. Build one with [`ClientBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Servers and their ketama weights, in order (the order matters for
    /// placement).
    pub servers: Vec<(ServerAddr, u32)>,
    /// Limit for establishing a TCP connection.
    pub connect_timeout: Duration,
    /// Limit for each request: used as the socket read and write timeout
    /// and as the request's deadline in the core [`Connection`](memwire_core::Connection).
    pub io_timeout: Duration,
    /// Protocol limits of each connection.
    pub protocol: Config,
    /// When a failing server is marked down and retried.
    pub health: HealthConfig,
    /// Most idle connections kept per server for reuse.
    pub max_idle_per_server: usize,
}

impl ClientConfig {
    /// The cluster (placement and health) for these servers.
    pub fn cluster(&self) -> Result<Cluster, ConfigError> {
        Cluster::new(self.servers.clone(), self.health).map_err(|_| ConfigError::NoServers)
    }
}

/// Builds a [`ClientConfig`], then a client of any transport.
///
/// ```
/// use std::time::Duration;
/// use memwire::ClientBuilder;
///
/// let config = ClientBuilder::new()
///     .server("memcached://10.0.0.1:11211")
///     .weighted_server("10.0.0.2", 2)
///     .server("/run/memcached/memcached.sock")
///     .io_timeout(Duration::from_millis(250))
///     .config()?;
/// assert_eq!(config.servers.len(), 3);
/// # Ok::<(), memwire::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    /// As given: address and weight.
    pub(crate) servers: Vec<(String, u32)>,
    connect_timeout: Duration,
    io_timeout: Duration,
    protocol: Config,
    health: HealthConfig,
    max_idle_per_server: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            servers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            protocol: Config::default(),
            health: HealthConfig::default(),
            max_idle_per_server: DEFAULT_MAX_IDLE_PER_SERVER,
        }
    }
}

impl ClientBuilder {
    /// A builder with no servers and default settings.
    pub fn new() -> Self {
        ClientBuilder::default()
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

    /// Set [`ClientConfig::connect_timeout`] (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Set [`ClientConfig::io_timeout`] (default 1 s).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// Set the protocol limits ([`ClientConfig::protocol`]).
    pub fn protocol(mut self, config: Config) -> Self {
        self.protocol = config;
        self
    }

    /// Set [`ClientConfig::health`].
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Set [`ClientConfig::max_idle_per_server`] (default 32).
    pub fn max_idle_per_server(mut self, n: usize) -> Self {
        self.max_idle_per_server = n;
        self
    }

    /// Parse and check everything.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty server list, an address that does not
    /// parse, or a zero timeout.
    pub fn config(self) -> Result<ClientConfig, ConfigError> {
        if self.servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("connect_timeout"));
        }
        if self.io_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("io_timeout"));
        }
        let servers = self
            .servers
            .into_iter()
            .map(|(input, weight)| match ServerAddr::parse(&input) {
                Ok(addr) => Ok((addr, weight)),
                Err(error) => Err(ConfigError::Address { input, error }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClientConfig {
            servers,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            protocol: self.protocol,
            health: self.health,
            max_idle_per_server: self.max_idle_per_server,
        })
    }

    /// Build a client of any transport, for example
    /// `let client: memwire::blocking::Client = builder.build()?;`.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::config`].
    pub fn build<C: FromConfig>(self) -> Result<C, ConfigError> {
        C::from_config(self.config()?)
    }
}

/// A client that can be built from a [`ClientConfig`].
pub trait FromConfig: Sized {
    /// Build the client. Clients connect lazily, on first use.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is unusable.
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError>;
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
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoServers => f.write_str("a client needs at least one server"),
            ConfigError::Address { input, error } => {
                write!(f, "bad server address {input:?}: {error}")
            }
            ConfigError::ZeroTimeout(name) => write!(f, "{name} must not be zero"),
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

// ---- keys and placement ----

/// A key as [`Bytes`] (copied; keys are at most 250 bytes).
pub fn key_bytes(key: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(key.as_ref())
}

/// Group `keys` by owning server (see the [module docs](self)), servers in
/// order of their first key, keys in request order, each group cut into
/// requests of at most `max_keys` keys.
pub fn group_keys(cluster: &Cluster, keys: &[Bytes], max_keys: usize) -> Vec<(usize, Vec<Bytes>)> {
    let mut order: Vec<usize> = Vec::new();
    let mut by_server: HashMap<usize, Vec<Bytes>> = HashMap::new();
    for key in keys {
        let server = cluster.server_for_key(key);
        by_server
            .entry(server)
            .or_insert_with(|| {
                order.push(server);
                Vec::new()
            })
            .push(key.clone());
    }
    let mut groups = Vec::new();
    for server in order {
        let keys = by_server.remove(&server).unwrap_or_default();
        for chunk in keys.chunks(max_keys.max(1)) {
            groups.push((server, chunk.to_vec()));
        }
    }
    groups
}

/// Put the hits of a multi-server retrieval back in request order. A key
/// asked for twice gets its hits in the order they came.
pub fn order_hits(keys: &[Bytes], hits: Vec<Value>) -> Vec<Value> {
    let mut by_key: HashMap<Bytes, VecDeque<Value>> = HashMap::new();
    for hit in hits {
        by_key.entry(hit.key.clone()).or_default().push_back(hit);
    }
    keys.iter()
        .filter_map(|k| by_key.get_mut(k).and_then(VecDeque::pop_front))
        .collect()
}

/// Lock `m`, going on with the data when another thread panicked while
/// holding it: every critical section leaves the data consistent.
#[cfg(any(feature = "blocking", feature = "mio", feature = "smol"))]
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---- health ----

/// Whether `error` counts against the health of the server that produced
/// it: connection failures, timeouts, broken or poisoned connections. Reply
/// errors (`NotStored`, ...) and input errors do not.
pub fn is_server_failure(error: &Error) -> bool {
    error.is_fatal() && !matches!(error, Error::NoServer(_))
}

/// Claim the right to send to a server at `now` ([`Health::try_acquire`]),
/// or fail fast with [`Error::NoServer`] naming it while it is down.
pub fn check_health(health: &mut Health, addr: &ServerAddr, now: Instant) -> Result<(), Error> {
    if health.try_acquire(now) {
        return Ok(());
    }
    let retry = match health.retry_at() {
        Some(at) => format!(
            "; next try in {} ms",
            at.saturating_duration_since(now).as_millis()
        ),
        None => String::new(),
    };
    Err(Error::NoServer(format!(
        "{addr} is down after {} consecutive failures{retry}",
        health.consecutive_failures()
    )))
}

// ---- replies to typed results ----

fn mismatch(response: &Response, request: &'static str) -> Error {
    let mut line = format!("{response:?}");
    if line.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    Error::Protocol(ProtocolError::UnexpectedLine { line, request })
}

/// The hit of a one-key retrieval of `key`: `None` on a miss. A hit for any
/// other key is a protocol error.
pub fn into_value(key: &[u8], response: Response) -> Result<Option<Value>, Error> {
    match response {
        Response::Values(values) => {
            let mut values = values.into_iter();
            match (values.next(), values.next()) {
                (None, _) => Ok(None),
                (Some(v), None) if v.key == key => Ok(Some(v)),
                (Some(v), _) => Err(Error::Protocol(ProtocolError::UnrequestedKey(
                    String::from_utf8_lossy(&v.key).into_owned(),
                ))),
            }
        }
        other => Err(mismatch(&other, "retrieval")),
    }
}

/// The hits of a retrieval, in request order.
pub fn into_values(response: Response) -> Result<Vec<Value>, Error> {
    match response {
        Response::Values(values) => Ok(values),
        other => Err(mismatch(&other, "retrieval")),
    }
}

/// Success of a command without a result (`STORED`, `DELETED`, `TOUCHED`,
/// `OK`, or a `noreply` request that was sent).
pub fn into_unit(response: Response) -> Result<(), Error> {
    match response {
        Response::Stored
        | Response::Deleted
        | Response::Touched
        | Response::Ok
        | Response::Sent => Ok(()),
        other => Err(mismatch(&other, "command")),
    }
}

/// The new value after `incr`/`decr`.
pub fn into_number(response: Response) -> Result<u64, Error> {
    match response {
        Response::Number(n) => Ok(n),
        other => Err(mismatch(&other, "incr/decr")),
    }
}

/// The server's version string.
pub fn into_version(response: Response) -> Result<String, Error> {
    match response {
        Response::Version(v) => Ok(v),
        other => Err(mismatch(&other, "version")),
    }
}

/// `stats`: general statistics.
pub fn into_stats(response: Response) -> Result<StatMap, Error> {
    match response {
        Response::Stats(Stats::General(map)) => Ok(map),
        other => Err(mismatch(&other, "stats")),
    }
}

/// `stats settings`.
pub fn into_settings(response: Response) -> Result<StatMap, Error> {
    match response {
        Response::Stats(Stats::Settings(map)) => Ok(map),
        other => Err(mismatch(&other, "stats settings")),
    }
}

/// `stats items`, by slab class.
pub fn into_items(response: Response) -> Result<BTreeMap<u32, StatMap>, Error> {
    match response {
        Response::Stats(Stats::Items(map)) => Ok(map),
        other => Err(mismatch(&other, "stats items")),
    }
}

/// `stats slabs`.
pub fn into_slabs(response: Response) -> Result<SlabStats, Error> {
    match response {
        Response::Stats(Stats::Slabs(slabs)) => Ok(slabs),
        other => Err(mismatch(&other, "stats slabs")),
    }
}

/// `stats sizes`.
pub fn into_sizes(response: Response) -> Result<SizeStats, Error> {
    match response {
        Response::Stats(Stats::Sizes(sizes)) => Ok(sizes),
        other => Err(mismatch(&other, "stats sizes")),
    }
}

/// `stats conns`, by file descriptor.
pub fn into_conns(response: Response) -> Result<BTreeMap<u32, StatMap>, Error> {
    match response {
        Response::Stats(Stats::Conns(map)) => Ok(map),
        other => Err(mismatch(&other, "stats conns")),
    }
}

/// Convert every server's reply with `convert`.
pub fn per_server<T>(
    results: PerServer<Response>,
    convert: impl Fn(Response) -> Result<T, Error>,
) -> PerServer<T> {
    results
        .into_iter()
        .map(|(addr, r)| (addr, r.and_then(&convert)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &'static str) -> Value {
        Value {
            key: Bytes::from_static(key.as_bytes()),
            flags: 0,
            cas: None,
            data: Bytes::from_static(b"x"),
        }
    }

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
        assert!(matches!(
            ClientBuilder::new().server("ftp://x").config(),
            Err(ConfigError::Address { .. })
        ));
        assert_eq!(
            ClientBuilder::new()
                .server("h")
                .io_timeout(Duration::ZERO)
                .config()
                .err(),
            Some(ConfigError::ZeroTimeout("io_timeout"))
        );
    }

    #[test]
    fn keys_are_grouped_and_hits_reordered() {
        let cluster = Cluster::from_strs(&["a:1", "b:1", "c:1"]).unwrap();
        let keys: Vec<Bytes> = (0..50).map(|i| Bytes::from(format!("k{i}"))).collect();
        let groups = group_keys(&cluster, &keys, 4);
        assert!(groups.iter().all(|(_, ks)| ks.len() <= 4));
        let mut seen: Vec<Bytes> = groups.iter().flat_map(|(_, ks)| ks.clone()).collect();
        for (s, ks) in &groups {
            assert!(ks.iter().all(|k| cluster.server_for_key(k) == *s));
        }
        seen.sort();
        let mut all = keys.clone();
        all.sort();
        assert_eq!(seen, all);

        let keys = [Bytes::from("a"), Bytes::from("b"), Bytes::from("c")];
        let hits = order_hits(&keys, vec![value("c"), value("a")]);
        assert_eq!(hits, vec![value("a"), value("c")]);
    }

    #[test]
    fn replies_convert_or_fail() {
        assert_eq!(into_value(b"k", Response::Values(vec![])).unwrap(), None);
        assert!(into_value(b"k", Response::Values(vec![value("k")]))
            .unwrap()
            .is_some());
        assert!(matches!(
            into_value(b"k", Response::Values(vec![value("other")])),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            into_number(Response::Stored),
            Err(Error::Protocol(_))
        ));
        assert_eq!(into_number(Response::Number(7)).unwrap(), 7);
        assert!(into_unit(Response::Sent).is_ok());
        assert!(matches!(
            into_stats(Response::Stats(Stats::Settings(StatMap::new()))),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn down_server_fails_fast_with_its_name() {
        let addr = ServerAddr::parse("h:1").unwrap();
        let mut health = Health::new(HealthConfig::default());
        let now = Instant::now();
        assert!(check_health(&mut health, &addr, now).is_ok());
        health.record_failure(now);
        health.record_failure(now);
        let Err(Error::NoServer(msg)) = check_health(&mut health, &addr, now) else {
            panic!("expected NoServer")
        };
        assert!(msg.contains("h:1"), "{msg}");
        assert!(check_health(&mut health, &addr, now + Duration::from_secs(1)).is_ok());
    }
}
