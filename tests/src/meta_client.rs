//! [`Meta`]: any client, speaking the meta protocol, so that the suites
//! written once against [`Commands`] run on both protocols.
//!
//! ```text
//! mod meta {
//!     memwire_tests::conformance_suite!(memwire_tests::Meta<memwire::blocking::Client>);
//! }
//! ```

use std::sync::Arc;

use memwire::client::{Operation, Protocol, Router};
use memwire::cluster::ServerAddr;
use memwire::{ClientConfig, Commands, ConfigError, FromConfig};

/// The client `C`, built to speak [`Protocol::Meta`] whatever its builder
/// said; every call is `C`'s.
#[derive(Debug, Clone)]
pub struct Meta<C>(pub C);

impl<C: FromConfig> FromConfig for Meta<C> {
    fn from_config(mut config: ClientConfig) -> Result<Self, ConfigError> {
        config.protocol = Protocol::Meta;
        C::from_config(config).map(Meta)
    }
}

impl<C: Commands> Commands for Meta<C> {
    fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        self.0.execute(op)
    }

    fn router(&self) -> Arc<Router> {
        self.0.router()
    }

    fn reconfigure(&self, servers: Vec<(ServerAddr, u32)>) -> Result<(), ConfigError> {
        self.0.reconfigure(servers)
    }

    fn close(&self) {
        self.0.close()
    }
}
