//! The command line, as clap types: global options, one struct per
//! subcommand, and the parsers of durations and TTLs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shown under `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  miss, not found, not stored (the command ran; the answer is no)
  2  usage: bad arguments or input refused before anything was sent
  3  connection or server error

Servers are host:port, host (port 11211), memcached://host:port,
memcacheds://host:port (TLS) or a unix socket path, comma-separated in
--servers or MEMCACHED_SERVERS.";

/// memcached from the shell: statistics, items, a key dump and a load
/// generator, on the memwire client.
#[derive(Debug, Parser)]
#[command(name = "memwire", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Where to connect.
    #[command(flatten)]
    pub servers: ServerOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The servers and the time limit of each request.
#[derive(Debug, Clone, Args)]
pub struct ServerOpts {
    /// Servers, comma-separated (host:port, host, memcached://host:port,
    /// memcacheds://host:port for TLS, or a unix socket path).
    #[arg(
        long,
        short = 's',
        global = true,
        env = "MEMCACHED_SERVERS",
        value_delimiter = ',',
        default_value = "127.0.0.1:11211"
    )]
    pub servers: Vec<String>,
    /// Time limit of each request, connecting included: seconds (`1`,
    /// `0.25`) or with a unit (`250ms`, `2s`).
    #[arg(long, short = 't', global = true, default_value = "1", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The protocol the client speaks: text, or meta (memcached 1.6+).
    #[arg(long, global = true, value_enum, default_value_t = WireProtocol::Text)]
    pub protocol: WireProtocol,
    /// Use TLS with every TCP server, not only memcacheds:// ones.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Also trust the certificate authorities of this PEM file (TLS;
    /// the platform's are trusted already).
    #[arg(long, global = true, value_name = "PEM")]
    pub tls_ca: Vec<PathBuf>,
    /// Check the servers' certificates against this name (and send it as
    /// SNI) instead of their host names.
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// A client certificate for servers that ask for one (PEM), with
    /// --tls-key.
    #[arg(long, global = true, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, global = true, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Do not verify the servers' certificates. Dangerous: anyone on the
    /// path can read and change the traffic. For tests only.
    #[arg(long, global = true)]
    pub tls_danger_accept_invalid_certs: bool,
    /// Log in with this username (memcached -Y), with --password.
    #[arg(long, global = true, env = "MEMCACHED_USERNAME", requires = "password")]
    pub username: Option<String>,
    /// The password of --username.
    #[arg(
        long,
        global = true,
        env = "MEMCACHED_PASSWORD",
        hide_env_values = true,
        requires = "username"
    )]
    pub password: Option<String>,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WireProtocol {
    /// The classic text protocol.
    Text,
    /// The meta protocol (memcached 1.6+).
    Meta,
}

impl From<WireProtocol> for memwire::Protocol {
    fn from(p: WireProtocol) -> memwire::Protocol {
        match p {
            WireProtocol::Text => memwire::Protocol::Text,
            WireProtocol::Meta => memwire::Protocol::Meta,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Server statistics, one column per server (like memcstat); --watch
    /// for a top-like view.
    Stat(StatArgs),
    /// Print values to stdout (like memccat).
    #[command(visible_alias = "cat")]
    Get(GetArgs),
    /// Store a value given as an argument, or read from stdin.
    Set(SetArgs),
    /// Store files, each under its file name (like memccp).
    Cp(CpArgs),
    /// Delete keys (like memcrm).
    #[command(visible_alias = "delete")]
    Rm(KeysOnly),
    /// Set when items expire.
    Touch(TouchArgs),
    /// Add to a counter and print its new value.
    Incr(CounterArgs),
    /// Subtract from a counter (stopping at 0) and print its new value.
    Decr(CounterArgs),
    /// Invalidate every item on every server (like memcflush).
    Flush(FlushArgs),
    /// Round-trip times of `version` per server (like memcping).
    Ping(PingArgs),
    /// List the keys of every server with `lru_crawler metadump` (like
    /// memcdump).
    #[command(visible_alias = "dump")]
    Keys(KeysArgs),
    /// The version of every server.
    Version(JsonFlag),
    /// A load generator (like memcslap): latency histogram and ops/s.
    Bench(BenchArgs),
}

/// `stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The statistics group.
    #[arg(value_enum, default_value_t = StatGroup::General)]
    pub group: StatGroup,
    /// Only this server (default: every server of --servers).
    #[arg(long)]
    pub server: Option<String>,
    /// One JSON object (server -> stats); with --watch, one line per refresh.
    #[arg(long)]
    pub json: bool,
    /// Refresh a top-like view every this many seconds: ops/s, hit ratio,
    /// evictions and connections per server.
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub watch: Option<Duration>,
    /// With --watch: stop after this many refreshes.
    #[arg(long, requires = "watch")]
    pub count: Option<u64>,
}

/// A `stats` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatGroup {
    /// `stats`.
    General,
    /// `stats settings`.
    Settings,
    /// `stats items`, per slab class.
    Items,
    /// `stats slabs`, per slab class and totals.
    Slabs,
    /// `stats sizes` (memcached -o track_sizes).
    Sizes,
    /// `stats conns`, per connection.
    Conns,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The keys; their values are written in this order.
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Print each item's flags instead of its value.
    #[arg(long)]
    pub flags: bool,
    /// Write values exactly, without the newline after each.
    #[arg(long, short = 'n')]
    pub no_newline: bool,
}

/// How `set` and `cp` store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Client flags stored with the item.
    #[arg(long, default_value_t = 0)]
    pub flags: u32,
    /// Seconds until the item expires (0: never; over 30 days is sent as
    /// an absolute time).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub ttl: u64,
    /// Store only if the key is absent (`add`).
    #[arg(long, conflicts_with = "replace")]
    pub add: bool,
    /// Store only if the key is present (`replace`).
    #[arg(long)]
    pub replace: bool,
}

/// `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The key.
    pub key: String,
    /// The value (default: read stdin to its end).
    pub value: Option<String>,
    /// How to store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// The files; each is stored under its file name (without directories).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How to store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A list of keys (`rm`).
#[derive(Debug, Args)]
pub struct KeysOnly {
    /// The keys.
    #[arg(required = true)]
    pub keys: Vec<String>,
}

/// `touch`.
#[derive(Debug, Args)]
pub struct TouchArgs {
    /// The keys.
    #[arg(required = true)]
    pub keys: Vec<String>,
    /// Seconds until the items expire (0: never).
    #[arg(long, value_name = "SECS")]
    pub ttl: u64,
}

/// `incr` and `decr`.
#[derive(Debug, Args)]
pub struct CounterArgs {
    /// The counter's key.
    pub key: String,
    /// How much to add or subtract.
    #[arg(default_value_t = 1)]
    pub delta: u64,
}

/// `flush`.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// Invalidate the items in this many seconds instead of now.
    #[arg(long, value_name = "SECS")]
    pub delay: Option<u32>,
}

/// `ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Round trips per server after the first (which connects).
    #[arg(long, short = 'c', default_value_t = 3)]
    pub count: u32,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Only keys containing this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// A table with each item's size, time to live, last access and server.
    #[arg(long, short = 'l')]
    pub long: bool,
    /// JSON instead of one key per line.
    #[arg(long)]
    pub json: bool,
}

/// A lone `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Concurrent workers: threads (blocking, mio) or tasks (smol, tokio).
    #[arg(long, short = 'w', default_value_t = 4)]
    pub workers: usize,
    /// The client transport.
    #[arg(long, value_enum, default_value_t = Transport::Blocking)]
    pub transport: Transport,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Fraction of operations that are gets (the rest are sets).
    #[arg(long, default_value_t = 0.9)]
    pub get_ratio: f64,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// How keys are picked.
    #[arg(long, value_enum, default_value_t = Distribution::Uniform)]
    pub distribution: Distribution,
    /// The exponent of the zipfian distribution (higher: hotter hot keys).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_exponent: f64,
    /// Run this long (default 5 s unless --ops is given).
    #[arg(long, value_name = "SECS", value_parser = parse_duration, conflicts_with = "ops")]
    pub duration: Option<Duration>,
    /// Run this many operations.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Store every key once before measuring (not measured).
    #[arg(long)]
    pub preload: bool,
    /// Prefix of the keys the bench uses: keys are PREFIX, the value size,
    /// `:` and a number (`memwire-bench:100:42`).
    #[arg(long, default_value = "memwire-bench:")]
    pub key_prefix: String,
    /// The report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bench --transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// `memwire::blocking::Client`, one thread per worker.
    Blocking,
    /// `memwire::mio::Client`, one thread per worker.
    Mio,
    /// `memwire::smol::Client`, one task per worker.
    Smol,
    /// `memwire::tokio::Client`, one task per worker.
    Tokio,
}

/// `bench --distribution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// A few hot keys (Zipf's law over key ranks).
    Zipfian,
}

/// `1`, `0.25`, `1.5s` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 1, 0.5, 250ms, 2s)"))?
        * scale;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a duration of zero or more seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 1.5s "), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
