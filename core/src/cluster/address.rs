//! Server addresses: parsing and display.
//!
//! Accepted forms (surrounding whitespace is ignored):
//!
//! | Input                              | Result                               |
//! |------------------------------------|--------------------------------------|
//! | `host:port`, `10.0.0.1:11212`      | TCP                                  |
//! | `host`                             | TCP, port 11211                      |
//! | `[::1]:11211`, `[::1]`             | TCP over IPv6 (brackets required)    |
//! | `memcached://host:port`            | TCP                                  |
//! | `memcached://host`, `memcached://host/` | TCP, port 11211                 |
//! | `memcacheds://host:port`, `memcacheds://host` | TCP with TLS              |
//! | `/path/to.sock`, `./rel.sock`, `../rel.sock` | Unix domain socket         |
//! | `unix:PATH`, `unix://PATH`         | Unix domain socket                   |
//! | `memcached:///path/to.sock`        | Unix domain socket (`/path/to.sock`) |
//!
//! `memcacheds://` asks for TLS (see [`ServerAddr::Tcp`]'s `tls`); a unix
//! socket is local and never uses it. The scheme is matched
//! case-insensitively. Host names may contain ASCII
//! letters, digits, `-`, `.` and `_`; a bracketed IPv6 address may contain hex
//! digits, `:`, `.` and a `%zone` suffix. No name resolution happens here.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The port memcached listens on by default.
pub const DEFAULT_PORT: u16 = 11211;

/// The address of one memcached server.
///
/// # Examples
///
/// ```
/// # use memwire_core::cluster::address::ServerAddr;
/// let addr: ServerAddr = "memcached://cache-1/".parse()?;
/// assert_eq!(addr, ServerAddr::tcp("cache-1", 11211));
/// assert_eq!(addr.to_string(), "cache-1:11211");
///
/// let secure = ServerAddr::parse("memcacheds://cache-1:11212")?;
/// assert_eq!(secure, ServerAddr::Tcp { host: "cache-1".into(), port: 11212, tls: true });
/// assert_eq!(secure.to_string(), "memcacheds://cache-1:11212");
///
/// let v6 = ServerAddr::parse("[::1]:11212")?;
/// assert_eq!(v6.to_string(), "[::1]:11212");
///
/// let unix = ServerAddr::parse("unix:/run/memcached.sock")?;
/// assert_eq!(unix, ServerAddr::Unix("/run/memcached.sock".into()));
/// # Ok::<(), memwire_core::cluster::address::AddrError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddr {
    /// A TCP server. `host` is a host name or an IP address; IPv6 addresses
    /// are stored without brackets.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port, never 0 when produced by [`ServerAddr::parse`].
        port: u16,
        /// Whether the connection is secured with TLS (`memcacheds://`).
        /// It does not change placement: a TLS server gets the same keys
        /// as the same `host:port` in plain text, so clients of both kinds
        /// share a cluster.
        tls: bool,
    },
    /// A Unix domain socket at this path.
    Unix(PathBuf),
}

impl ServerAddr {
    /// A plain-text TCP server.
    pub fn tcp(host: impl Into<String>, port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: host.into(),
            port,
            tls: false,
        }
    }

    /// Whether the address asks for TLS (`memcacheds://`).
    pub fn is_tls(&self) -> bool {
        matches!(self, ServerAddr::Tcp { tls: true, .. })
    }

    /// Parses a server address in any of the forms listed in the
    /// [module documentation](self).
    ///
    /// # Errors
    ///
    /// Returns an [`AddrError`] describing the first problem found: an empty
    /// input, an unknown scheme, an empty or malformed host, a port that is
    /// not a number from 1 to 65535, an unbracketed IPv6 address, a URL path,
    /// an empty socket path, or a unix socket asked for with TLS.
    pub fn parse(input: &str) -> Result<ServerAddr, AddrError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(AddrError::Empty);
        }
        if let Some(path) = strip_prefix_ignore_case(input, "unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return unix(path);
        }
        if input.starts_with('/') || input.starts_with("./") || input.starts_with("../") {
            return unix(input);
        }
        let (scheme, tls) = match strip_prefix_ignore_case(input, "memcacheds://") {
            Some(rest) => (Some(rest), true),
            None => (strip_prefix_ignore_case(input, "memcached://"), false),
        };
        let authority = if let Some(rest) = scheme {
            if rest.starts_with('/') {
                if tls {
                    return Err(AddrError::TlsUnixSocket(input.to_owned()));
                }
                return unix(rest);
            }
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            if rest.contains(['/', '?', '#']) {
                return Err(AddrError::UnexpectedPath(input.to_owned()));
            }
            rest
        } else if let Some((scheme, _)) = input.split_once("://") {
            return Err(AddrError::UnsupportedScheme(scheme.to_owned()));
        } else {
            input
        };
        let mut addr = parse_authority(input, authority)?;
        if let ServerAddr::Tcp { tls: secure, .. } = &mut addr {
            *secure = tls;
        }
        Ok(addr)
    }
}

impl FromStr for ServerAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerAddr::parse(s)
    }
}

impl fmt::Display for ServerAddr {
    /// Renders `host:port`, `[v6addr]:port`, or the socket path; a TLS
    /// server with its `memcacheds://` scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port, tls } => {
                if *tls {
                    f.write_str("memcacheds://")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
            ServerAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a server address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// The input was empty or only whitespace.
    Empty,
    /// The input had a `scheme://` prefix other than `memcached://` and
    /// `memcacheds://` (holds the scheme).
    UnsupportedScheme(String),
    /// A `memcached://` URL had a path, query or fragment (holds the input).
    UnexpectedPath(String),
    /// The host part was empty, as in `:11211` (holds the input).
    EmptyHost(String),
    /// The host contained characters not allowed in a host name or IP
    /// address (holds the host).
    InvalidHost(String),
    /// The port was missing, not a decimal number, 0, or above 65535 (holds
    /// the port text).
    InvalidPort(String),
    /// An IPv6 address opened with `[` but had no `]` (holds the input).
    UnclosedBracket(String),
    /// The address had more than one `:` without brackets, like an IPv6
    /// address written as `::1` (holds the input).
    UnbracketedIpv6(String),
    /// A Unix socket form had an empty path.
    EmptySocketPath,
    /// `memcacheds://` named a unix socket: TLS is for TCP servers (holds
    /// the input).
    TlsUnixSocket(String),
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::Empty => f.write_str("empty server address"),
            AddrError::UnsupportedScheme(scheme) => write!(
                f,
                "unsupported scheme `{scheme}://` in server address \
                 (expected `memcached://` or `memcacheds://`)"
            ),
            AddrError::UnexpectedPath(input) => write!(
                f,
                "server address `{input}` has a path, query or fragment; \
                 expected `memcached://host[:port]`"
            ),
            AddrError::EmptyHost(input) => write!(f, "missing host in server address `{input}`"),
            AddrError::InvalidHost(host) => write!(
                f,
                "invalid host `{host}`: expected a host name, an IPv4 address \
                 or a bracketed IPv6 address"
            ),
            AddrError::InvalidPort(port) => {
                write!(
                    f,
                    "invalid port `{port}`: expected a number from 1 to 65535"
                )
            }
            AddrError::UnclosedBracket(input) => {
                write!(f, "missing `]` in server address `{input}`")
            }
            AddrError::UnbracketedIpv6(input) => write!(
                f,
                "ambiguous server address `{input}`: write IPv6 addresses in \
                 brackets, e.g. `[::1]:11211`"
            ),
            AddrError::EmptySocketPath => f.write_str("empty unix socket path"),
            AddrError::TlsUnixSocket(input) => write!(
                f,
                "`{input}` asks for TLS on a unix socket: TLS is for TCP servers"
            ),
        }
    }
}

impl std::error::Error for AddrError {}

/// Strips `prefix` from `s`, comparing ASCII case-insensitively.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn unix(path: &str) -> Result<ServerAddr, AddrError> {
    if path.is_empty() {
        Err(AddrError::EmptySocketPath)
    } else {
        Ok(ServerAddr::Unix(PathBuf::from(path)))
    }
}

/// Parses `host`, `host:port`, `[v6]` or `[v6]:port`. `input` is the whole
/// original text, for error messages.
fn parse_authority(input: &str, authority: &str) -> Result<ServerAddr, AddrError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, tail) = bracketed
            .split_once(']')
            .ok_or_else(|| AddrError::UnclosedBracket(input.to_owned()))?;
        if host.is_empty() {
            return Err(AddrError::EmptyHost(input.to_owned()));
        }
        if !is_ipv6_literal(host) {
            return Err(AddrError::InvalidHost(host.to_owned()));
        }
        let port = if tail.is_empty() {
            DEFAULT_PORT
        } else if let Some(port) = tail.strip_prefix(':') {
            parse_port(port)?
        } else {
            return Err(AddrError::InvalidHost(authority.to_owned()));
        };
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            None => (authority, DEFAULT_PORT),
            Some((_, port)) if port.contains(':') => {
                return Err(AddrError::UnbracketedIpv6(input.to_owned()))
            }
            Some((host, port)) => (host, parse_port(port)?),
        };
        if host.is_empty() {
            return Err(AddrError::EmptyHost(input.to_owned()));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(AddrError::InvalidHost(host.to_owned()));
        }
        (host, port)
    };
    Ok(ServerAddr::tcp(host, port))
}

/// Whether `host` looks like an IPv6 address, optionally with a `%zone`.
/// This is a character check, not full validation.
fn is_ipv6_literal(host: &str) -> bool {
    let (addr, zone) = match host.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (host, None),
    };
    addr.contains(':')
        && addr
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        && zone.map_or(true, |z| {
            !z.is_empty()
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        })
}

/// Parses a decimal port from 1 to 65535. Signs and other characters are
/// rejected (`u16::from_str` would accept a leading `+`).
fn parse_port(text: &str) -> Result<u16, AddrError> {
    let invalid = || AddrError::InvalidPort(text.to_owned());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid()),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> ServerAddr {
        ServerAddr::tcp(host, port)
    }

    fn tls(host: &str, port: u16) -> ServerAddr {
        ServerAddr::Tcp {
            host: host.to_owned(),
            port,
            tls: true,
        }
    }

    fn ok(input: &str) -> ServerAddr {
        match ServerAddr::parse(input) {
            Ok(addr) => addr,
            Err(e) => panic!("{input:?} failed to parse: {e}"),
        }
    }

    fn err(input: &str) -> AddrError {
        match ServerAddr::parse(input) {
            Ok(addr) => panic!("{input:?} parsed as {addr:?}, expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn host_and_port() {
        assert_eq!(ok("localhost:11212"), tcp("localhost", 11212));
        assert_eq!(ok("10.0.1.1:11211"), tcp("10.0.1.1", 11211));
        assert_eq!(
            ok("cache_1.example-dc.net:1"),
            tcp("cache_1.example-dc.net", 1)
        );
        assert_eq!(ok("h:65535"), tcp("h", 65535));
        assert_eq!(ok("  spaced:5  "), tcp("spaced", 5));
    }

    #[test]
    fn host_only_uses_default_port() {
        assert_eq!(ok("localhost"), tcp("localhost", DEFAULT_PORT));
        assert_eq!(ok("10.0.1.1"), tcp("10.0.1.1", 11211));
    }

    #[test]
    fn memcached_urls() {
        assert_eq!(ok("memcached://cache:11300"), tcp("cache", 11300));
        assert_eq!(ok("memcached://cache"), tcp("cache", 11211));
        assert_eq!(ok("memcached://localhost/"), tcp("localhost", 11211));
        assert_eq!(ok("memcached://localhost:1/"), tcp("localhost", 1));
        assert_eq!(ok("MEMCACHED://Cache:2"), tcp("Cache", 2));
        assert_eq!(ok("memcached://[::1]:3/"), tcp("::1", 3));
    }

    #[test]
    fn memcacheds_urls_ask_for_tls() {
        assert_eq!(ok("memcacheds://cache:11300"), tls("cache", 11300));
        assert_eq!(ok("MEMCACHEDS://cache/"), tls("cache", 11211));
        assert_eq!(ok("memcacheds://[::1]:3"), tls("::1", 3));
        assert!(ok("memcacheds://cache").is_tls());
        assert!(!ok("memcached://cache").is_tls() && !ok("/tmp/s").is_tls());
        assert_eq!(
            err("memcacheds:///tmp/mc.sock"),
            AddrError::TlsUnixSocket("memcacheds:///tmp/mc.sock".into())
        );
        assert_eq!(
            err("memcacheds://h:1/x"),
            AddrError::UnexpectedPath("memcacheds://h:1/x".into())
        );
        assert_eq!(tls("::1", 5).to_string(), "memcacheds://[::1]:5");
        for input in ["memcacheds://a:1", "memcacheds://[::1]:2"] {
            assert_eq!(ok(input).to_string(), input, "round trip");
        }
    }

    #[test]
    fn ipv6_brackets() {
        assert_eq!(ok("[::1]:11211"), tcp("::1", 11211));
        assert_eq!(ok("[::1]"), tcp("::1", 11211));
        assert_eq!(ok("[fe80::1%eth0]:9"), tcp("fe80::1%eth0", 9));
        assert_eq!(ok("[::ffff:10.0.0.1]:9"), tcp("::ffff:10.0.0.1", 9));
    }

    #[test]
    fn unix_sockets() {
        let unix = |p: &str| ServerAddr::Unix(PathBuf::from(p));
        assert_eq!(
            ok("/var/run/memcached.sock"),
            unix("/var/run/memcached.sock")
        );
        assert_eq!(ok("./mc.sock"), unix("./mc.sock"));
        assert_eq!(ok("../mc.sock"), unix("../mc.sock"));
        assert_eq!(ok("unix:/tmp/mc.sock"), unix("/tmp/mc.sock"));
        assert_eq!(ok("unix:mc.sock"), unix("mc.sock"));
        assert_eq!(ok("unix:///tmp/mc.sock"), unix("/tmp/mc.sock"));
        assert_eq!(ok("memcached:///tmp/mc.sock"), unix("/tmp/mc.sock"));
    }

    #[test]
    fn display() {
        assert_eq!(tcp("localhost", 11211).to_string(), "localhost:11211");
        assert_eq!(tcp("::1", 5).to_string(), "[::1]:5");
        assert_eq!(ok("/tmp/mc.sock").to_string(), "/tmp/mc.sock");
        for input in ["a:1", "[::1]:2", "/tmp/x.sock", "10.0.0.1:11211"] {
            assert_eq!(ok(input).to_string(), input, "round trip");
            assert_eq!(ok(&ok(input).to_string()), ok(input));
        }
    }

    #[test]
    fn from_str() {
        let addr: Result<ServerAddr, _> = "cache:7".parse();
        assert_eq!(addr, Ok(tcp("cache", 7)));
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(err(""), AddrError::Empty);
        assert_eq!(err("   "), AddrError::Empty);
        assert_eq!(err(":11211"), AddrError::EmptyHost(":11211".into()));
        assert_eq!(
            err("memcached://"),
            AddrError::EmptyHost("memcached://".into())
        );
    }

    #[test]
    fn rejects_bad_ports() {
        assert_eq!(err("h:0"), AddrError::InvalidPort("0".into()));
        assert_eq!(err("h:65536"), AddrError::InvalidPort("65536".into()));
        assert_eq!(err("h:"), AddrError::InvalidPort(String::new()));
        assert_eq!(err("h:abc"), AddrError::InvalidPort("abc".into()));
        assert_eq!(err("h:+1"), AddrError::InvalidPort("+1".into()));
        assert_eq!(err("h:-1"), AddrError::InvalidPort("-1".into()));
        assert_eq!(err("[::1]:"), AddrError::InvalidPort(String::new()));
        assert_eq!(err("memcached://h:0/"), AddrError::InvalidPort("0".into()));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(err("a b"), AddrError::InvalidHost("a b".into()));
        assert_eq!(
            err("user@host:1"),
            AddrError::InvalidHost("user@host".into())
        );
        assert_eq!(err("héte"), AddrError::InvalidHost("héte".into()));
        assert_eq!(err("::1"), AddrError::UnbracketedIpv6("::1".into()));
        assert_eq!(err("a:1:2"), AddrError::UnbracketedIpv6("a:1:2".into()));
        assert_eq!(err("[::1"), AddrError::UnclosedBracket("[::1".into()));
        assert_eq!(err("[]:1"), AddrError::EmptyHost("[]:1".into()));
        assert_eq!(err("[host]:1"), AddrError::InvalidHost("host".into()));
        assert_eq!(err("[::1]x"), AddrError::InvalidHost("[::1]x".into()));
        assert_eq!(err("[fe80::1%]"), AddrError::InvalidHost("fe80::1%".into()));
        assert_eq!(
            err("http://h:1"),
            AddrError::UnsupportedScheme("http".into())
        );
        assert_eq!(
            err("memcached://h:1/db"),
            AddrError::UnexpectedPath("memcached://h:1/db".into())
        );
        assert_eq!(
            err("memcached://h?x=1"),
            AddrError::UnexpectedPath("memcached://h?x=1".into())
        );
        assert_eq!(err("unix:"), AddrError::EmptySocketPath);
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(
            err("h:0").to_string(),
            "invalid port `0`: expected a number from 1 to 65535"
        );
        assert!(err("::1").to_string().contains("[::1]:11211"));
        assert!(err("ftp://x").to_string().contains("`ftp://`"));
        assert_eq!(AddrError::Empty.to_string(), "empty server address");
        let boxed: Box<dyn std::error::Error> = Box::new(AddrError::EmptySocketPath);
        assert_eq!(boxed.to_string(), "empty unix socket path");
    }
}
