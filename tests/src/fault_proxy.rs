//! [`FaultProxy`]: a TCP proxy between a client and a real memcached that
//! injects faults into the reply stream, chosen by a seeded generator.
//!
//! The client connects to the proxy instead of the server. Each accepted
//! connection gets its own connection to the server and two threads: one
//! forwards requests unchanged, the other forwards replies and, for each
//! chunk read from the server, injects a fault with probability
//! [`Faults::rate`]:
//!
//! | [`FaultKind`] | what the client sees |
//! |---|---|
//! | `Truncate` | part of the chunk, then end of stream |
//! | `Stall` | the chunk only after [`Faults::stall`] (set it beyond the client's timeout) |
//! | `Reset` | part of the chunk, then a TCP reset (`SO_LINGER` 0) |
//! | `Garbage` | 1–32 injected bytes somewhere in the chunk |
//! | `HalfClose` | part of the chunk, then end of stream while its own writes still succeed |
//! | `Drip` | the whole chunk, the first 128 bytes one at a time, with pauses |
//!
//! Injected garbage always holds a NUL byte and never a CR, so it cannot
//! complete a forged reply: a line it touches is not a valid reply line,
//! and a value block it lands in no longer ends in `\r\n`. Whatever a
//! client returns under faults is therefore what the server sent, and a
//! value for the wrong key is always the client's mistake.
//!
//! Faults are deterministic by seed: connection `n` (in accept order) draws
//! from a generator seeded with the seed and `n`, one fault decision per
//! chunk. Where chunk boundaries fall is up to the kernel, so two runs with
//! the same seed make the same decisions, not always on the same bytes.
//!
//! ```
//! use memwire_tests::fault_proxy::{FaultKind, FaultProxy, Faults};
//! use memwire_tests::Memcached;
//!
//! let server = Memcached::start();
//! let proxy = FaultProxy::start(&server, Faults::new(42).rate(0.05));
//! let url = proxy.url(); // give the client this instead of server.url()
//! # let _ = url;
//! // ... a workload ...
//! proxy.set_enabled(false); // no more faults from here on
//! println!("{}", proxy.counts()); // e.g. "truncate 3, stall 1, ..."
//! assert_eq!(proxy.counts().get(FaultKind::Reset), 0); // nothing ran yet
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::Memcached;

/// Bytes read from the server at once; one fault decision per read.
const CHUNK: usize = 16 * 1024;
/// How long the proxy waits for the server to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A `Drip` sends this many bytes one at a time, then the rest in
/// [`DRIP_TAIL_PIECES`] pieces.
const DRIP_BYTES: usize = 128;
/// Pieces the rest of a dripped chunk is sent in.
const DRIP_TAIL_PIECES: usize = 8;
/// Longest injected garbage.
const MAX_GARBAGE: usize = 32;
/// Starts of garbage that look like the protocol, so that a parser that
/// only checks prefixes is caught too.
const GARBAGE_STARTS: [&[u8]; 8] = [
    b"",
    b"END",
    b"STORED",
    b"VALUE k 0 1 ",
    b"SERVER_ERROR ",
    b"\n",
    b"12345",
    b"\xff\xfe",
];

/// A small deterministic generator (xorshift64*, seeded through
/// splitmix64): the proxy draws its faults from it, and suites their
/// workloads, so that a run is reproduced by its seed.
///
/// ```
/// use memwire_tests::fault_proxy::Rng;
/// let (mut a, mut b) = (Rng::new(7), Rng::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        // splitmix64 spreads nearby seeds apart; xorshift needs a non-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The bias of a plain modulo is far below anything a test measures.
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p` (0.0 never, 1.0 always).
    pub fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

/// A kind of fault the proxy injects into the reply stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Part of a reply, then the connection is closed (end of stream).
    Truncate,
    /// The reply is held for [`Faults::stall`], then forwarded.
    Stall,
    /// Part of a reply, then a TCP reset.
    Reset,
    /// Bytes that are no reply (a NUL among them, no CR) inserted into the
    /// reply stream.
    Garbage,
    /// Part of a reply, then the proxy shuts down its sending side; what
    /// the client sends is still read (and dropped).
    HalfClose,
    /// The reply, intact, a byte at a time with pauses.
    Drip,
}

impl FaultKind {
    /// Every kind, in the order of [`FaultCounts`]' display.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Truncate,
        FaultKind::Stall,
        FaultKind::Reset,
        FaultKind::Garbage,
        FaultKind::HalfClose,
        FaultKind::Drip,
    ];

    /// A short lowercase name: `truncate`, `stall`, `reset`, `garbage`,
    /// `half-close`, `drip`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Truncate => "truncate",
            FaultKind::Stall => "stall",
            FaultKind::Reset => "reset",
            FaultKind::Garbage => "garbage",
            FaultKind::HalfClose => "half-close",
            FaultKind::Drip => "drip",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a [`FaultProxy`] injects, and how often.
///
/// ```
/// use std::time::Duration;
/// use memwire_tests::fault_proxy::{FaultKind, Faults};
/// let faults = Faults::new(1)
///     .rate(0.05)
///     .kinds(&[FaultKind::Stall, FaultKind::Drip])
///     .stall(Duration::from_millis(400));
/// # let _ = faults;
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    seed: u64,
    rate: f64,
    kinds: Vec<FaultKind>,
    stall: Duration,
    drip_pause: Duration,
}

impl Faults {
    /// Every kind of fault, at a rate of 5% of reply chunks, seeded with
    /// `seed`; stalls of 1.5 s and drips with 200 µs pauses.
    pub fn new(seed: u64) -> Faults {
        Faults {
            seed,
            rate: 0.05,
            kinds: FaultKind::ALL.to_vec(),
            stall: Duration::from_millis(1500),
            drip_pause: Duration::from_micros(200),
        }
    }

    /// The probability of a fault for each chunk of reply read from the
    /// server (0.0 to 1.0).
    pub fn rate(mut self, rate: f64) -> Faults {
        self.rate = rate;
        self
    }

    /// Inject only these kinds (each equally likely).
    ///
    /// # Panics
    ///
    /// When `kinds` is empty.
    pub fn kinds(mut self, kinds: &[FaultKind]) -> Faults {
        assert!(!kinds.is_empty(), "at least one fault kind");
        self.kinds = kinds.to_vec();
        self
    }

    /// How long a [`FaultKind::Stall`] holds a reply: beyond the client's
    /// timeout, so that the call times out.
    pub fn stall(mut self, stall: Duration) -> Faults {
        self.stall = stall;
        self
    }

    /// The pause between the pieces of a [`FaultKind::Drip`].
    pub fn drip_pause(mut self, pause: Duration) -> Faults {
        self.drip_pause = pause;
        self
    }
}

/// How many faults of each kind a [`FaultProxy`] injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts([u64; 6]);

impl FaultCounts {
    /// Faults of `kind`.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0[kind.index()]
    }

    /// Faults of every kind together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl std::ops::Add for FaultCounts {
    type Output = FaultCounts;

    fn add(mut self, other: FaultCounts) -> FaultCounts {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
        self
    }
}

/// `truncate 3, stall 1, reset 2, garbage 4, half-close 0, drip 2`.
impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in FaultKind::ALL.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {}", kind.name(), self.get(kind))?;
        }
        Ok(())
    }
}

/// A fault-injecting TCP proxy on a free loopback port in front of a
/// [`Memcached`]; see the [module docs](self). Stopped when dropped (every
/// proxied connection is reset).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `server` (a TCP server) injecting `faults`,
    /// enabled. The server may be stopped and restarted meanwhile: each
    /// proxied connection connects to it afresh, and one that cannot is
    /// reset.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound, or `server` listens on a unix
    /// socket.
    pub fn start(server: &Memcached, faults: Faults) -> FaultProxy {
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port()));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("fault proxy: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fault proxy: no local address: {e}"));
        let shared = Arc::new(Shared {
            upstream,
            faults,
            enabled: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            counts: Default::default(),
            accepted: AtomicU64::new(0),
            links: Mutex::new(BTreeMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fault-proxy-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .unwrap_or_else(|e| panic!("fault proxy: cannot spawn a thread: {e}"))
        };
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where the proxy listens: `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The proxy as a server URL for a client:
    /// `"memcached://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("memcached://{}", self.addr)
    }

    /// Turn fault injection on or off, for every connection at once (those
    /// open included). A stall or drip under way finishes.
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::SeqCst);
    }

    /// The faults injected so far, per kind.
    pub fn counts(&self) -> FaultCounts {
        let mut counts = FaultCounts::default();
        for (n, count) in counts.0.iter_mut().zip(&self.shared.counts) {
            *n = count.load(Ordering::Relaxed);
        }
        counts
    }

    /// Client connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Client connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.links).len()
    }

    /// Reset every open connection (a TCP reset to each client, the
    /// server's side closed): a reconnect storm. Returns how many. Not
    /// counted in [`counts`](FaultProxy::counts).
    pub fn reset_connections(&self) -> usize {
        let links: Vec<Arc<Link>> = lock(&self.shared.links).values().cloned().collect();
        for link in &links {
            link.abort();
        }
        links.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        // Wake the acceptor, which sees `closing` and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.reset_connections();
    }
}

/// What the proxy's threads share.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    faults: Faults,
    enabled: AtomicBool,
    closing: AtomicBool,
    counts: [AtomicU64; 6],
    accepted: AtomicU64,
    /// Open connections by accept index.
    links: Mutex<BTreeMap<u64, Arc<Link>>>,
}

impl Shared {
    /// The fault for the next chunk of reply, if any. Draws the same
    /// numbers whether faults are on or not, so that a connection's
    /// decisions depend only on the seed and the chunk's position.
    fn draw(&self, rng: &mut Rng) -> Option<FaultKind> {
        let hit = rng.chance(self.faults.rate);
        let kind = self.faults.kinds[rng.below(self.faults.kinds.len())];
        if !(hit && self.enabled.load(Ordering::SeqCst)) {
            return None;
        }
        self.counts[kind.index()].fetch_add(1, Ordering::Relaxed);
        Some(kind)
    }
}

/// One proxied connection: the client's socket and the server's.
#[derive(Debug)]
struct Link {
    client: TcpStream,
    upstream: TcpStream,
    aborted: AtomicBool,
}

impl Link {
    /// Reset the client's connection and close the server's. The reset
    /// goes out when the last handle to the socket is dropped: `SO_LINGER`
    /// 0 makes that close abortive, and shutting down the reading side
    /// (which sends nothing) wakes the thread blocked reading it.
    fn abort(&self) {
        if self.aborted.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = socket2::SockRef::from(&self.client).set_linger(Some(Duration::ZERO));
        let _ = self.client.shutdown(Shutdown::Read);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }

    /// Close both sides in an orderly way (end of stream), unless aborted.
    fn close(&self) {
        if !self.aborted.load(Ordering::SeqCst) {
            let _ = self.client.shutdown(Shutdown::Both);
        }
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for index in 0u64.. {
        let accepted = listener.accept();
        if shared.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok((client, _)) = accepted else {
            // Out of descriptors, say: let connections close, then go on.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("fault-proxy-{index}"))
            .spawn(move || serve(&shared, client, index));
        if spawned.is_err() {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Proxy one client connection until either side ends it.
fn serve(shared: &Arc<Shared>, client: TcpStream, index: u64) {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, UPSTREAM_CONNECT_TIMEOUT) {
        Ok(upstream) => upstream,
        Err(_) => {
            // The server is down: the client's connection is reset.
            let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
            return;
        }
    };
    // Every write goes out as it is made (drips must not be coalesced).
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let link = Arc::new(Link {
        client,
        upstream,
        aborted: AtomicBool::new(false),
    });
    lock(&shared.links).insert(index, Arc::clone(&link));
    let requests = {
        let link = Arc::clone(&link);
        thread::Builder::new()
            .name(format!("fault-proxy-{index}-requests"))
            .spawn(move || forward_requests(&link))
    };
    let seed = shared.faults.seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    forward_replies(shared, &link, Rng::new(seed));
    link.close();
    lock(&shared.links).remove(&index);
    if let Ok(requests) = requests {
        let _ = requests.join();
    }
}

/// Client to server, unchanged, until either side ends.
fn forward_requests(link: &Link) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match (&link.client).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if (&link.upstream).write_all(&buf[..n]).is_err() {
            break;
        }
    }
    // The client is gone: end the server's side, which ends the replies.
    let _ = link.upstream.shutdown(Shutdown::Both);
}

/// Server to client, with faults, until either side ends.
fn forward_replies(shared: &Shared, link: &Link, mut rng: Rng) {
    let mut buf = vec![0u8; CHUNK];
    let mut half_closed = false;
    loop {
        let n = match (&link.upstream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if half_closed {
            continue; // the client can no longer receive: drop the reply
        }
        let mut client = &link.client;
        let sent = match shared.draw(&mut rng) {
            None => client.write_all(chunk),
            Some(FaultKind::Truncate) => {
                let _ = client.write_all(&chunk[..rng.below(n)]);
                return;
            }
            Some(FaultKind::Reset) => {
                let _ = client.write_all(&chunk[..rng.below(n)]);
                link.abort();
                return;
            }
            Some(FaultKind::Stall) => {
                thread::sleep(shared.faults.stall);
                client.write_all(chunk)
            }
            Some(FaultKind::Garbage) => {
                let at = rng.below(n + 1);
                let mut spoiled = Vec::with_capacity(n + MAX_GARBAGE);
                spoiled.extend_from_slice(&chunk[..at]);
                spoiled.extend_from_slice(&garbage(&mut rng));
                spoiled.extend_from_slice(&chunk[at..]);
                client.write_all(&spoiled)
            }
            Some(FaultKind::HalfClose) => {
                let _ = client.write_all(&chunk[..rng.below(n)]);
                half_closed = true;
                link.client.shutdown(Shutdown::Write)
            }
            Some(FaultKind::Drip) => drip(client, chunk, shared.faults.drip_pause),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// 1 to [`MAX_GARBAGE`] bytes that can never be (part of) a valid reply:
/// a NUL among them, no CR.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    let mut g = GARBAGE_STARTS[rng.below(GARBAGE_STARTS.len())].to_vec();
    let extra = rng.below(MAX_GARBAGE - g.len());
    for _ in 0..extra {
        let byte = (rng.next_u64() & 0xff) as u8;
        g.push(if byte == b'\r' { b'\n' } else { byte });
    }
    let nul = rng.below(g.len() + 1);
    g.insert(nul, 0);
    g
}

/// Write `chunk` slowly: its first [`DRIP_BYTES`] bytes one at a time,
/// the rest in [`DRIP_TAIL_PIECES`] pieces, pausing between writes.
fn drip(mut out: &TcpStream, chunk: &[u8], pause: Duration) -> io::Result<()> {
    let (head, tail) = chunk.split_at(chunk.len().min(DRIP_BYTES));
    let piece = tail.len().div_ceil(DRIP_TAIL_PIECES).max(1);
    for part in head.chunks(1).chain(tail.chunks(piece)) {
        out.write_all(part)?;
        thread::sleep(pause);
    }
    Ok(())
}

/// Lock a mutex, going on after a panic elsewhere (the map stays valid).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A proxy to a fresh server injecting only `kind`, on every chunk.
    fn always(kind: FaultKind) -> (Memcached, FaultProxy) {
        let server = Memcached::start();
        let faults = Faults::new(7)
            .rate(1.0)
            .kinds(&[kind])
            .stall(Duration::from_millis(300))
            .drip_pause(Duration::from_millis(2));
        let proxy = FaultProxy::start(&server, faults);
        (server, proxy)
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let stream = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
    }

    /// Send `request` and read until end of stream, an error or
    /// `complete` holds: what arrived, and how reading ended.
    fn exchange(
        stream: &mut TcpStream,
        request: &[u8],
        complete: impl Fn(&[u8]) -> bool,
    ) -> (Vec<u8>, io::Result<()>) {
        stream.write_all(request).expect("write the request");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !complete(&got) {
            match stream.read(&mut buf) {
                Ok(0) => return (got, Err(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
        (got, Ok(()))
    }

    const VALUE: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const REPLY: &[u8] = b"VALUE k 0 36\r\n0123456789abcdefghijklmnopqrstuvwxyz\r\nEND\r\n";

    fn seed_value(server: &Memcached) {
        let mut direct = TcpStream::connect(server.addr()).expect("connect");
        let mut request = b"set k 0 0 36\r\n".to_vec();
        request.extend_from_slice(VALUE);
        request.extend_from_slice(b"\r\n");
        let (got, end) = exchange(&mut direct, &request, |b| b.ends_with(b"\r\n"));
        assert!(end.is_ok() && got == b"STORED\r\n", "{got:?} {end:?}");
    }

    #[test]
    fn without_faults_replies_pass_unchanged() {
        let (server, proxy) = always(FaultKind::Reset);
        proxy.set_enabled(false);
        seed_value(&server);
        let mut stream = connect(&proxy);
        for _ in 0..20 {
            let (got, end) = exchange(&mut stream, b"get k\r\n", |b| b.ends_with(b"END\r\n"));
            assert!(end.is_ok(), "{end:?}");
            assert_eq!(got, REPLY);
        }
        assert_eq!(proxy.counts().total(), 0);
        assert_eq!(proxy.accepted(), 1);
        assert_eq!(proxy.open_connections(), 1);
    }

    #[test]
    fn truncate_cuts_a_reply_then_ends_the_stream() {
        let (server, proxy) = always(FaultKind::Truncate);
        seed_value(&server);
        let (got, end) = exchange(&mut connect(&proxy), b"get k\r\n", |_| false);
        assert_eq!(end.map_err(|e| e.kind()), Err(io::ErrorKind::UnexpectedEof));
        assert!(
            got.len() < REPLY.len() && REPLY.starts_with(&got),
            "{got:?}"
        );
        assert_eq!(proxy.counts().get(FaultKind::Truncate), 1);
    }

    #[test]
    fn reset_sends_a_tcp_reset() {
        let (server, proxy) = always(FaultKind::Reset);
        seed_value(&server);
        let (got, end) = exchange(&mut connect(&proxy), b"get k\r\n", |_| false);
        assert_eq!(
            end.map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
        assert!(REPLY.starts_with(&got), "{got:?}");
        assert_eq!(proxy.counts().get(FaultKind::Reset), 1);
    }

    #[test]
    fn stall_delays_a_reply_whole() {
        let (server, proxy) = always(FaultKind::Stall);
        seed_value(&server);
        let started = Instant::now();
        let (got, end) = exchange(&mut connect(&proxy), b"get k\r\n", |b| {
            b.ends_with(b"END\r\n")
        });
        assert!(end.is_ok(), "{end:?}");
        assert_eq!(got, REPLY);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn garbage_holds_a_nul_and_no_cr() {
        let mut rng = Rng::new(3);
        for _ in 0..10_000 {
            let g = garbage(&mut rng);
            assert!((1..=MAX_GARBAGE).contains(&g.len()), "{g:?}");
            assert!(g.contains(&0) && !g.contains(&b'\r'), "{g:?}");
        }
        let (server, proxy) = always(FaultKind::Garbage);
        seed_value(&server);
        let mut stream = connect(&proxy);
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("read timeout");
        // Read until the proxy has nothing more to send.
        let (got, end) = exchange(&mut stream, b"get k\r\n", |_| false);
        assert!(
            matches!(
                end.map_err(|e| e.kind()),
                Err(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
            ),
            "the stream ended"
        );
        assert!(got.len() > REPLY.len() && got.contains(&0), "{got:?}");
        // Taking the garbage out leaves the reply.
        let at = (0..got.len())
            .find(|&i| got.get(i) != REPLY.get(i))
            .expect("garbage was inserted");
        let tail_start = got.len() - (REPLY.len() - at);
        assert_eq!(&got[tail_start..], &REPLY[at..]);
    }

    #[test]
    fn half_close_ends_the_stream_but_not_the_client_writes() {
        let (server, proxy) = always(FaultKind::HalfClose);
        seed_value(&server);
        let mut stream = connect(&proxy);
        let (got, end) = exchange(&mut stream, b"get k\r\n", |_| false);
        assert_eq!(end.map_err(|e| e.kind()), Err(io::ErrorKind::UnexpectedEof));
        assert!(REPLY.starts_with(&got), "{got:?}");
        // The proxy still reads what the client sends.
        for _ in 0..10 {
            stream
                .write_all(b"get k\r\n")
                .expect("writes still succeed");
        }
    }

    #[test]
    fn drip_delivers_the_reply_in_many_pieces() {
        let (server, proxy) = always(FaultKind::Drip);
        seed_value(&server);
        let mut stream = connect(&proxy);
        let started = Instant::now();
        stream.write_all(b"get k\r\n").expect("write");
        let mut got = Vec::new();
        let mut reads = 0;
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"END\r\n") {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "end of stream after {got:?}");
            got.extend_from_slice(&buf[..n]);
            reads += 1;
        }
        assert_eq!(got, REPLY);
        // 55 writes, 2 ms apart (a pause never ends early).
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(reads > 1, "the reply arrived in one piece");
    }

    #[test]
    fn reset_connections_resets_every_client_and_the_server_side() {
        let (_server, proxy) = always(FaultKind::Drip);
        proxy.set_enabled(false);
        let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(&proxy)).collect();
        for c in &mut clients {
            let (_, end) = exchange(c, b"version\r\n", |b| b.ends_with(b"\r\n"));
            assert!(end.is_ok(), "{end:?}");
        }
        assert_eq!(proxy.open_connections(), 3);
        assert_eq!(proxy.reset_connections(), 3);
        for c in &mut clients {
            let mut buf = [0u8; 16];
            let read = c.read(&mut buf);
            assert_eq!(
                read.map_err(|e| e.kind()),
                Err(io::ErrorKind::ConnectionReset)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.open_connections() > 0 {
            assert!(Instant::now() < deadline, "connections stay open");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_down_server_resets_new_connections() {
        let (server, proxy) = always(FaultKind::Drip);
        proxy.set_enabled(false);
        server.stop();
        let mut stream = connect(&proxy);
        let _ = stream.write_all(b"version\r\n"); // may already fail
        let mut buf = [0u8; 16];
        assert!(
            matches!(stream.read(&mut buf), Ok(0) | Err(_)),
            "a reply from a stopped server"
        );
        server.restart();
        let (got, end) = exchange(&mut connect(&proxy), b"version\r\n", |b| {
            b.ends_with(b"\r\n")
        });
        assert!(end.is_ok() && got.starts_with(b"VERSION "), "{got:?}");
    }

    #[test]
    fn same_seed_same_decisions() {
        let draws = |seed| {
            let shared = Shared {
                upstream: SocketAddr::from((Ipv4Addr::LOCALHOST, 1)),
                faults: Faults::new(seed).rate(0.3),
                enabled: AtomicBool::new(true),
                closing: AtomicBool::new(false),
                counts: Default::default(),
                accepted: AtomicU64::new(0),
                links: Mutex::new(BTreeMap::new()),
            };
            let mut rng = Rng::new(seed);
            (0..200).map(|_| shared.draw(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draws(11), draws(11));
        assert_ne!(draws(11), draws(12));
        let faults = draws(11).into_iter().flatten().count();
        assert!((30..=90).contains(&faults), "{faults} faults in 200 at 30%");
    }
}
