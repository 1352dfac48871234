//! Clients from the command line's `--servers` and `--timeout`.

use memwire::{ClientBuilder, FromConfig};

use crate::args::ServerOpts;
use crate::status::{Failure, Status};

/// A builder of any client for `servers`, with `--timeout` as the limit of
/// each call and of each connection attempt, speaking `--protocol`.
pub fn builder<C: FromConfig>(servers: &[String], opts: &ServerOpts) -> ClientBuilder<C> {
    C::builder()
        .servers(servers.iter().map(|s| s.trim()).filter(|s| !s.is_empty()))
        .io_timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .protocol(opts.protocol.into())
}

/// Build a client; a bad server list or timeout is a usage error.
pub fn build<C: FromConfig>(builder: ClientBuilder<C>) -> Result<C, Failure> {
    builder
        .build()
        .map_err(|e| Failure::new(Status::Usage, "bad --servers or --timeout", e))
}

/// A blocking client for every server of `--servers`.
pub fn client(opts: &ServerOpts) -> Result<memwire::blocking::Client, Failure> {
    build(builder(&opts.servers, opts))
}
