//! `memwire`: memcached from the shell, on the memwire client.
//!
//! The subcommands of libmemcached's tools in one binary (`stat`, `get`,
//! `set`, `cp`, `rm`, `touch`, `incr`, `decr`, `flush`, `ping`, `keys`,
//! `version`) and a load generator (`bench`). Servers come from
//! `--servers a,b` or `MEMCACHED_SERVERS`. Exit codes: 0 ok, 1 miss / not
//! found / not stored, 2 usage, 3 connection or server error.

mod args;
mod bench;
mod connect;
mod item;
mod keys;
mod metadump;
mod output;
mod servers;
mod stat;
mod status;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::status::{Failure, Status};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match run(&cli) {
        Ok(status) => status,
        Err(failure) if failure.is_broken_pipe() => Status::Ok,
        Err(failure) => {
            failure.print();
            failure.status()
        }
    };
    // A reader that went away (`memwire keys | head`) is not an error.
    let _ = io::stdout().flush();
    ExitCode::from(status as u8)
}

/// Run the subcommand; per-item problems are reported on stderr as they
/// happen and folded into the returned status.
fn run(cli: &Cli) -> Result<Status, Failure> {
    let servers = &cli.servers;
    let mut out = io::stdout().lock();
    match &cli.command {
        Command::Stat(args) => stat::run(servers, args, &mut out),
        Command::Get(args) => item::get(&connect::client(servers)?, args, &mut out),
        Command::Set(args) => item::set(&connect::client(servers)?, args),
        Command::Cp(args) => item::cp(&connect::client(servers)?, args),
        Command::Rm(args) => item::rm(&connect::client(servers)?, args),
        Command::Touch(args) => item::touch(&connect::client(servers)?, args),
        Command::Incr(args) => item::incr(&connect::client(servers)?, args, &mut out),
        Command::Decr(args) => item::decr(&connect::client(servers)?, args, &mut out),
        Command::Flush(args) => servers::flush(&connect::client(servers)?, args),
        Command::Ping(args) => servers::ping(servers, args, &mut out),
        Command::Version(args) => servers::version(&connect::client(servers)?, args, &mut out),
        Command::Keys(args) => keys::run(servers, args, &mut out),
        Command::Bench(args) => bench::run(servers, args, &mut out),
    }
}
