//! `lru_crawler metadump` over a raw connection (the client has no API
//! for it), and the parser of its lines:
//!
//! ```text
//! key=user%3A42 exp=-1 la=1718000000 cas=17 fetch=no cls=1 size=70
//! ```
//!
//! Keys are URL-encoded by memcached; `exp` is a Unix time or -1 (never).
//!
//! `metadump hash` (memcached 1.6) walks the hash table and sees every
//! item; `metadump all` walks the LRUs and misses an item that the LRU
//! maintainer moves to an already crawled LRU meanwhile (seen right after
//! a `touch`). So `hash` is asked first, and `all` when the server does not
//! know `hash`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use memwire::cluster::ServerAddr;

/// One item as `lru_crawler metadump` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The key, URL-decoded.
    pub key: Vec<u8>,
    /// When it expires (Unix time), or `None` for never.
    pub exp: Option<u64>,
    /// Last access (Unix time).
    pub last_access: u64,
    /// CAS unique.
    pub cas: u64,
    /// Whether it was fetched since it was stored.
    pub fetched: bool,
    /// Slab class.
    pub class: u32,
    /// Size in memory, headers included.
    pub size: u64,
}

/// Parse one metadump line; `None` for anything that is not an item line.
/// Unknown fields are ignored (newer servers add some).
pub fn parse_line(line: &str) -> Option<Item> {
    let mut item = Item {
        key: Vec::new(),
        exp: None,
        last_access: 0,
        cas: 0,
        fetched: false,
        class: 0,
        size: 0,
    };
    let mut has_key = false;
    for field in line.split_ascii_whitespace() {
        let (name, value) = field.split_once('=')?;
        match name {
            "key" => {
                item.key = url_decode(value)?;
                has_key = true;
            }
            "exp" => item.exp = value.parse::<u64>().ok(), // -1: never
            "la" => item.last_access = value.parse().ok()?,
            "cas" => item.cas = value.parse().ok()?,
            "fetch" => item.fetched = value == "yes",
            "cls" => item.class = value.parse().ok()?,
            "size" => item.size = value.parse().ok()?,
            _ => {}
        }
    }
    has_key.then_some(item)
}

/// `%XX` escapes decoded; `None` for a malformed escape.
pub fn url_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    Some(decoded)
}

/// A TCP or unix socket.
trait Socket: Read + Write {}
impl<T: Read + Write> Socket for T {}

/// Every item of `server`, each read within `timeout` of the previous
/// one. Retries while another crawl keeps the crawler busy, until
/// `timeout` has passed.
pub fn dump(server: &ServerAddr, timeout: Duration) -> io::Result<Vec<Item>> {
    let deadline = Instant::now() + timeout;
    loop {
        match dump_once(server, timeout)? {
            Some(items) => return Ok(items),
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            None => return Err(io::Error::other("the LRU crawler stayed busy")),
        }
    }
}

/// One attempt; `None` when the crawler is busy.
fn dump_once(server: &ServerAddr, timeout: Duration) -> io::Result<Option<Vec<Item>>> {
    let dump = match dump_with(server, timeout, "hash")? {
        Dump::Refused(_) => dump_with(server, timeout, "all")?,
        dump => dump,
    };
    match dump {
        Dump::Items(items) => Ok(Some(items)),
        Dump::Busy => Ok(None),
        Dump::Refused(line) => Err(io::Error::other(format!("the server replied {line:?}"))),
    }
}

/// What one `lru_crawler metadump` request got.
enum Dump {
    Items(Vec<Item>),
    /// Another crawl is running.
    Busy,
    /// `ERROR` or `CLIENT_ERROR ...`: not understood or not enabled.
    Refused(String),
}

/// `lru_crawler metadump <what>` on a fresh connection.
fn dump_with(server: &ServerAddr, timeout: Duration, what: &str) -> io::Result<Dump> {
    let mut socket = connect(server, timeout)?;
    socket.write_all(format!("lru_crawler metadump {what}\r\n").as_bytes())?;
    let mut reader = BufReader::new(socket);
    let mut items = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let text = line.trim_end();
        if text == "END" {
            return Ok(Dump::Items(items));
        }
        if text.starts_with("BUSY") {
            return Ok(Dump::Busy);
        }
        if text == "ERROR" || text.starts_with("CLIENT_ERROR") {
            return Ok(Dump::Refused(text.to_owned()));
        }
        match parse_line(text) {
            Some(item) => items.push(item),
            None => return Err(io::Error::other(format!("unexpected reply {text:?}"))),
        }
    }
}

fn connect(server: &ServerAddr, timeout: Duration) -> io::Result<Box<dyn Socket>> {
    let socket: Box<dyn Socket> = match server {
        // The raw dump connection speaks plain text only.
        ServerAddr::Tcp { tls: true, .. } => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "listing keys over TLS is not supported",
            ))
        }
        ServerAddr::Tcp { host, port, .. } => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            let mut connected = None;
            for addr in (host.as_str(), *port).to_socket_addrs()? {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(stream) => {
                        connected = Some(stream);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let stream = connected.ok_or(last)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            Box::new(stream)
        }
        ServerAddr::Unix(path) => {
            let stream = UnixStream::connect(path)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            Box::new(stream)
        }
    };
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let item =
            parse_line("key=user%3A42%20x exp=-1 la=1718000000 cas=17 fetch=no cls=1 size=70")
                .unwrap();
        assert_eq!(item.key, b"user:42 x");
        assert_eq!(item.exp, None);
        assert_eq!(item.last_access, 1_718_000_000);
        assert_eq!(
            (item.cas, item.fetched, item.class, item.size),
            (17, false, 1, 70)
        );
        let later = parse_line("key=k exp=1718000600 la=1 cas=2 fetch=yes cls=3 size=4 flags=0");
        assert_eq!(
            later.map(|i| (i.exp, i.fetched)),
            Some((Some(1_718_000_600), true))
        );
        assert_eq!(
            parse_line("BUSY currently processing crawler request"),
            None
        );
        assert_eq!(parse_line("exp=-1 la=1"), None);
        assert_eq!(parse_line("key=%zz exp=-1"), None);
    }

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("a%2Fb%25c").as_deref(), Some(&b"a/b%c"[..]));
        assert_eq!(url_decode("%ff").as_deref(), Some(&[0xff][..]));
        assert_eq!(url_decode("plain").as_deref(), Some(&b"plain"[..]));
        assert_eq!(url_decode("%4"), None);
        assert_eq!(url_decode("%"), None);
    }
}
