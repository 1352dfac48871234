//! Clients from the command line's `--servers`, `--timeout`, TLS options
//! and credentials.

use memwire::{ClientBuilder, FromConfig};

use crate::args::ServerOpts;
use crate::status::{Failure, Status};

/// A builder of any client for `servers`, with `--timeout` as the limit of
/// each call and of each connection attempt, speaking `--protocol`, with
/// the TLS options and credentials of the command line.
pub fn builder<C: FromConfig>(servers: &[String], opts: &ServerOpts) -> ClientBuilder<C> {
    let mut builder = C::builder()
        .servers(servers.iter().map(|s| s.trim()).filter(|s| !s.is_empty()))
        .io_timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .protocol(opts.protocol.into())
        .tls(opts.tls)
        .danger_accept_invalid_certs(opts.tls_danger_accept_invalid_certs);
    for ca in &opts.tls_ca {
        builder = builder.tls_ca_file(ca);
    }
    if let Some(name) = &opts.tls_server_name {
        builder = builder.tls_server_name(name);
    }
    if let (Some(cert), Some(key)) = (&opts.tls_cert, &opts.tls_key) {
        builder = builder.tls_client_cert(cert, key);
    }
    if let (Some(username), Some(password)) = (&opts.username, &opts.password) {
        builder = builder.credentials(username, password);
    }
    builder
}

/// Build a client; a bad server list or timeout is a usage error.
pub fn build<C: FromConfig>(builder: ClientBuilder<C>) -> Result<C, Failure> {
    builder.build().map_err(|e| {
        Failure::new(
            Status::Usage,
            "bad --servers, --timeout, TLS option or credentials",
            e,
        )
    })
}

/// A blocking client for every server of `--servers`.
pub fn client(opts: &ServerOpts) -> Result<memwire::blocking::Client, Failure> {
    build(builder(&opts.servers, opts))
}
