//! [`Router`]: which server each command goes to.

use crate::cluster::{Cluster, ServerAddr};
use crate::connection::Config;

/// The server list with its key placement and the protocol limits: all an
/// [`Operation`](super::Operation) consults to plan its commands.
///
/// Placement is libmemcached's weighted ketama ([`Cluster`]); with one
/// server every key goes to it. Placement never depends on health: while
/// a key's server is down its requests fail fast with
/// [`Error::NoServer`](crate::Error::NoServer) rather than moving to
/// another server (other clients sharing the cluster could not see that
/// move, and would read stale values).
///
/// ```
/// use memwire_core::client::Router;
/// use memwire_core::cluster::Cluster;
/// use memwire_core::Config;
///
/// let router = Router::new(Cluster::from_strs(&["10.0.0.1", "10.0.0.2"])?, Config::default());
/// let server = router.server_for_key(b"user:42");
/// println!("user:42 lives on {}", router.servers()[server]);
/// # Ok::<(), memwire_core::cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Router {
    cluster: Cluster,
    limits: Config,
}

impl Router {
    /// A router over `cluster`, planning within `limits`.
    pub fn new(cluster: Cluster, limits: Config) -> Router {
        Router { cluster, limits }
    }

    /// The servers, in configuration order; a server's index is its
    /// position here.
    pub fn servers(&self) -> &[ServerAddr] {
        self.cluster.servers()
    }

    /// The placement.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The protocol limits every command is checked against.
    pub fn limits(&self) -> &Config {
        &self.limits
    }

    /// The index of the server that owns `key`.
    pub fn server_for_key(&self, key: &[u8]) -> usize {
        self.cluster.server_for_key(key)
    }

    /// The address of the server that owns `key`.
    pub fn addr_for_key(&self, key: &[u8]) -> &ServerAddr {
        // Ketama only returns indexes of the (never empty) server list.
        &self.cluster.servers()[self.server_for_key(key)]
    }
}
