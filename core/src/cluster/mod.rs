//! Server lists, key placement and server health, as pure logic.
//!
//! Nothing here does I/O, spawns threads or reads a clock; time comes in as
//! an [`Instant`](std::time::Instant) argument. The pieces:
//!
//! * [`address`]: [`ServerAddr`], parsed from `host:port`, `memcached://…`
//!   URLs, bracketed IPv6 and Unix socket paths.
//! * [`ketama`]: [`Ketama`], consistent hashing byte-compatible with
//!   libmemcached's weighted ketama, so memwire can share a cluster with C,
//!   PHP and Python clients.
//! * [`health`]: [`Health`], consecutive failures and when a down server may
//!   be probed again.
//! * [`md5`](mod@md5): the MD5 digest ketama is built on (also usable for
//!   hashing long keys).
//! * [`Cluster`]: the server list and its placement.
//!
//! Placement never depends on health. A key maps to exactly one server; when
//! that server is down the caller degrades (treats a get as a miss, fails a
//! set) rather than sending the key elsewhere. Other clients sharing the
//! cluster cannot see our view of health, so rerouting would split a key
//! across servers and serve stale values. The failure policy that uses
//! [`Health`] is the client layer's
//! ([`ServerHealth`](crate::client::ServerHealth)).

pub mod address;
pub mod health;
pub mod ketama;
pub mod md5;

use std::fmt;

pub use address::{AddrError, ServerAddr};
pub use health::{Health, HealthConfig};
pub use ketama::{key_hash, Ketama};

/// A list of servers with their weights and key placement.
///
/// # Examples
///
/// ```
/// # use memwire_core::cluster::Cluster;
/// let cluster = Cluster::from_strs(&["10.0.0.1:11211", "10.0.0.2:11211"])?;
/// let server = cluster.server_for_key(b"user:42");
/// println!("user:42 lives on {}", cluster.servers()[server]);
/// # Ok::<(), memwire_core::cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cluster {
    servers: Vec<ServerAddr>,
    weights: Vec<u32>,
    ketama: Ketama,
}

impl Cluster {
    /// Builds a cluster from `(address, weight)` pairs, in order; server
    /// indexes are positions in this list. Weights are relative; 0 counts as
    /// 1, as in libmemcached. Placement uses [`Ketama::new`], so the order,
    /// addresses and weights must match those of other clients sharing the
    /// cluster.
    ///
    /// # Errors
    ///
    /// [`ClusterError::NoServers`] if `servers` is empty.
    pub fn new(servers: Vec<(ServerAddr, u32)>) -> Result<Cluster, ClusterError> {
        if servers.is_empty() {
            return Err(ClusterError::NoServers);
        }
        let ketama = Ketama::new(&servers);
        let (servers, weights) = servers.into_iter().unzip();
        Ok(Cluster {
            servers,
            weights,
            ketama,
        })
    }

    /// Parses each address with [`ServerAddr::parse`] and builds a cluster
    /// with weight 1 for every server.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Addr`] for the first address that does not parse,
    /// [`ClusterError::NoServers`] if `addrs` is empty.
    pub fn from_strs(addrs: &[&str]) -> Result<Cluster, ClusterError> {
        let servers = addrs
            .iter()
            .map(|s| ServerAddr::parse(s).map(|addr| (addr, 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Cluster::new(servers)
    }

    /// The servers, in the order given.
    #[must_use]
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// The weights, parallel to [`Cluster::servers`], as given.
    #[must_use]
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The continuum used for placement.
    #[must_use]
    pub fn ketama(&self) -> &Ketama {
        &self.ketama
    }

    /// The index of the server that owns `key`. With one server this is
    /// always 0 without hashing, as in libmemcached. Health is ignored: see
    /// the [module documentation](self).
    #[must_use]
    pub fn server_for_key(&self, key: &[u8]) -> usize {
        if self.servers.len() == 1 {
            return 0;
        }
        // The continuum of a non-empty list always has points.
        self.ketama.server_for(key).unwrap_or(0)
    }

    /// The server that owns `key` among those `accept` takes (see
    /// [`Ketama::server_for_hash_among`]): the owner itself when it is
    /// accepted, else the next accepted server along the ring; `None` when
    /// no server is accepted.
    #[must_use]
    pub fn server_for_key_among(
        &self,
        key: &[u8],
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if self.servers.len() == 1 {
            return accept(0).then_some(0);
        }
        self.ketama.server_for_hash_among(key_hash(key), accept)
    }
}

/// Why a [`Cluster`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The server list was empty.
    NoServers,
    /// A server address did not parse.
    Addr(AddrError),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::NoServers => f.write_str("a cluster needs at least one server"),
            ClusterError::Addr(e) => write!(f, "bad server address: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::NoServers => None,
            ClusterError::Addr(e) => Some(e),
        }
    }
}

impl From<AddrError> for ClusterError {
    fn from(e: AddrError) -> Self {
        ClusterError::Addr(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn cluster(addrs: &[&str]) -> Cluster {
        match Cluster::from_strs(addrs) {
            Ok(c) => c,
            Err(e) => panic!("{addrs:?}: {e}"),
        }
    }

    #[test]
    fn empty_list_is_an_error() {
        assert_eq!(Cluster::from_strs(&[]).err(), Some(ClusterError::NoServers));
        let e = Cluster::new(Vec::new()).err();
        assert_eq!(e, Some(ClusterError::NoServers));
    }

    #[test]
    fn bad_address_is_an_error() {
        let e = Cluster::from_strs(&["a:1", "b:0"]).err();
        assert_eq!(
            e,
            Some(ClusterError::Addr(AddrError::InvalidPort("0".into())))
        );
        let e = e.map(|e| (e.to_string(), e.source().is_some()));
        assert_eq!(
            e,
            Some((
                "bad server address: invalid port `0`: expected a number from 1 to 65535".into(),
                true
            ))
        );
    }

    #[test]
    fn accessors() {
        let servers = vec![
            (ServerAddr::parse("a:1").unwrap(), 3),
            (ServerAddr::parse("/tmp/b.sock").unwrap(), 0),
        ];
        let c = Cluster::new(servers.clone()).unwrap();
        assert_eq!(c.servers(), [servers[0].0.clone(), servers[1].0.clone()]);
        assert_eq!(c.weights(), [3, 0]);
        assert_eq!(c.ketama().server_count(), 2);
    }

    #[test]
    fn single_server_gets_every_key() {
        let c = cluster(&["only:11211"]);
        for key in [&b""[..], b"a", b"user:42"] {
            assert_eq!(c.server_for_key(key), 0);
        }
    }

    #[test]
    fn placement_matches_libmemcached_vector() {
        // First row of the libmemcached table in ketama-vectors.tsv.
        let servers = [
            ("10.0.1.1", 600),
            ("10.0.1.2", 300),
            ("10.0.1.3", 200),
            ("10.0.1.4", 350),
            ("10.0.1.5", 1000),
            ("10.0.1.6", 800),
            ("10.0.1.7", 950),
            ("10.0.1.8", 100),
        ]
        .iter()
        .map(|(host, weight)| (ServerAddr::parse(host).unwrap(), *weight))
        .collect();
        let c = Cluster::new(servers).unwrap();
        assert_eq!(
            c.servers()[c.server_for_key(b"SVa_]_V41)")].to_string(),
            "10.0.1.7:11211"
        );
    }

    /// TLS does not move keys: `memcacheds://` servers place every key
    /// where the same `host:port` servers in plain text do.
    #[test]
    fn tls_servers_place_keys_like_plain_ones() {
        let plain = cluster(&["a:11211", "b:11212", "c"]);
        let tls = cluster(&["memcacheds://a:11211", "memcacheds://b:11212", "c"]);
        assert_eq!(plain.ketama(), tls.ketama());
        for i in 0..1000 {
            let key = format!("key:{i}");
            assert_eq!(
                plain.server_for_key(key.as_bytes()),
                tls.server_for_key(key.as_bytes())
            );
        }
    }
}
