//! [`Memcached`]: a real `memcached` process on a free loopback port or a
//! unix socket, killed when dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{env, fs, process};

/// The message every "no memcached binary" panic starts with.
const NOT_FOUND: &str =
    "memcached not found: install the Debian package `memcached` or set MEMCACHED_BIN";
/// How long one memcached process gets to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Memcached::restart`] keeps retrying while the port is taken.
const RESTART_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Pause between restart attempts while the port is in use.
const RESTART_BACKOFF: Duration = Duration::from_millis(50);
/// Fresh ports tried by [`Memcached::start`] when memcached cannot bind.
const START_ATTEMPTS: usize = 10;
/// At most this much of memcached's stderr is kept for panic messages.
const STDERR_LIMIT: usize = 64 * 1024;
/// Unix socket paths must fit in `sockaddr_un.sun_path` (108 bytes on Linux).
const MAX_SOCKET_PATH: usize = 100;

/// Returns a loopback TCP port that was free a moment ago.
///
/// Binds a [`TcpListener`] to `127.0.0.1:0`, reads the port the kernel chose
/// and drops the listener. A port is returned at most once per process, so
/// two servers started by the same test binary never race for the same port,
/// and the port of a stopped [`Memcached`] is never handed to another one.
/// Another process may still grab the port before it is used:
/// [`Memcached::start`] retries with a fresh port when that happens.
///
/// # Panics
///
/// When no loopback port can be bound at all.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read the port of a bound listener: {e}"))
            .port();
        drop(listener);
        if lock(&HANDED_OUT).insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found after 1000 attempts");
}

/// A running (or stopped) `memcached` server process for tests.
///
/// Start one with [`Memcached::start`] (TCP on `127.0.0.1`, free port, no
/// UDP) or configure one with [`Memcached::builder`]. The binary is taken
/// from the `MEMCACHED_BIN` environment variable, else `memcached` on
/// `PATH`; when neither exists, starting panics: a missing server is a test
/// failure, never a skip. When the test runs as root, `-u root` is added
/// (memcached refuses to run as root otherwise).
///
/// The process is killed and reaped when the value is dropped. All methods
/// take `&self`, so a server can be shared (e.g. in an `Arc`) with a thread
/// that stops and restarts it while clients are using it.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::net::TcpStream;
///
/// let server = memwire_tests::Memcached::start();
/// let mut stream = TcpStream::connect(server.addr()).unwrap();
/// stream.write_all(b"version\r\n").unwrap();
/// let mut line = String::new();
/// BufReader::new(stream).read_line(&mut line).unwrap();
/// assert!(line.starts_with("VERSION "));
/// ```
#[derive(Debug)]
pub struct Memcached {
    bin: PathBuf,
    extra_args: Vec<OsString>,
    endpoint: Endpoint,
    /// The login the harness's own connections send first (`-Y`), and the
    /// file of credentials memcached reads.
    login: Option<Login>,
    process: Mutex<Option<Process>>,
}

/// A server's `-Y` credentials.
#[derive(Debug)]
struct Login {
    /// The login request (memcached's documented `set`).
    request: Vec<u8>,
    /// The `-Y` file, removed with the server.
    file: PathBuf,
}

impl Memcached {
    /// Starts memcached on `127.0.0.1` on a free port, with default options.
    ///
    /// Returns once the server accepts connections.
    ///
    /// # Panics
    ///
    /// When no memcached binary is found, or when it does not start
    /// accepting connections within about 5 seconds (the panic message
    /// includes memcached's stderr).
    pub fn start() -> Memcached {
        Memcached::builder().start()
    }

    /// Returns a builder for a server with extra command-line arguments or a
    /// unix socket.
    pub fn builder() -> MemcachedBuilder {
        MemcachedBuilder::default()
    }

    /// The TCP port the server listens on; it stays the same across
    /// [`stop`](Memcached::stop) and [`restart`](Memcached::restart).
    ///
    /// # Panics
    ///
    /// For a unix-socket server, which has no port.
    pub fn port(&self) -> u16 {
        match &self.endpoint {
            Endpoint::Tcp(port) | Endpoint::Tls { port, .. } => *port,
            Endpoint::Unix(path) => panic!(
                "memcached on unix socket {} has no TCP port",
                path.display()
            ),
        }
    }

    /// Where the server listens, as a string a client accepts:
    /// `"127.0.0.1:PORT"`, or the socket path for a unix-socket server.
    /// A TLS server speaks TLS there: see [`Memcached::plain_addr`].
    pub fn addr(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp(port) | Endpoint::Tls { port, .. } => format!("127.0.0.1:{port}"),
            Endpoint::Unix(path) => path.display().to_string(),
        }
    }

    /// Where the server speaks plain text: [`Memcached::addr`], or for a
    /// TLS server the second, plain-text listener the harness gives it
    /// (`-l notls:...`), for raw connections of tests (stats probes, ...).
    pub fn plain_addr(&self) -> String {
        match &self.endpoint {
            Endpoint::Tls { plain, .. } => format!("127.0.0.1:{plain}"),
            _ => self.addr(),
        }
    }

    /// The server as a URL: `"memcached://127.0.0.1:PORT"`
    /// (`"memcacheds://..."` for a TLS server), or the socket path for a
    /// unix-socket server (memwire takes a bare path for those).
    pub fn url(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp(port) => format!("memcached://127.0.0.1:{port}"),
            Endpoint::Tls { port, .. } => format!("memcacheds://127.0.0.1:{port}"),
            Endpoint::Unix(path) => path.display().to_string(),
        }
    }

    /// Whether the server serves TLS ([`MemcachedBuilder::tls`]).
    pub fn is_tls(&self) -> bool {
        matches!(self.endpoint, Endpoint::Tls { .. })
    }

    /// The login a raw connection must send first to a server started
    /// with [`MemcachedBuilder::auth`] (empty otherwise).
    pub fn login_request(&self) -> &[u8] {
        self.login.as_ref().map_or(&[], |l| &l.request)
    }

    /// The unix socket path of a server started with
    /// [`MemcachedBuilder::unix_socket`].
    ///
    /// # Panics
    ///
    /// For a TCP server.
    pub fn socket_path(&self) -> &Path {
        match &self.endpoint {
            Endpoint::Unix(path) => path,
            Endpoint::Tcp(port) | Endpoint::Tls { port, .. } => {
                panic!("memcached on 127.0.0.1:{port} listens on TCP, not a unix socket")
            }
        }
    }

    /// Whether the process is alive: started, not stopped and not crashed.
    pub fn is_running(&self) -> bool {
        lock(&self.process)
            .as_mut()
            .is_some_and(|process| matches!(process.child.try_wait(), Ok(None)))
    }

    /// The OS process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.process)
            .as_ref()
            .map(|process| process.child.id())
    }

    /// Kills the server (`SIGKILL`) and waits for it to exit. Every open
    /// connection is reset and new connections are refused. The port stays
    /// reserved for [`restart`](Memcached::restart). Does nothing when the
    /// server is already stopped.
    pub fn stop(&self) {
        let mut guard = lock(&self.process);
        if let Some(process) = guard.take() {
            process.kill();
        }
        if let Endpoint::Unix(path) = &self.endpoint {
            let _ = fs::remove_file(path);
        }
    }

    /// Stops the server if it runs, then starts it again on the same port
    /// (or socket path) with the same arguments, and waits until it accepts
    /// connections. The new server is empty. Retries for up to about 5
    /// seconds while the port is still in use.
    ///
    /// # Panics
    ///
    /// When the server cannot be started again.
    pub fn restart(&self) {
        self.stop();
        let mut guard = lock(&self.process);
        let deadline = Instant::now() + RESTART_TIMEOUT;
        loop {
            match launch(&self.bin, &self.endpoint, &self.extra_args, self.login_request()) {
                Ok(process) => {
                    *guard = Some(process);
                    return;
                }
                Err(Failure::AddrInUse(_)) if Instant::now() < deadline => {
                    thread::sleep(RESTART_BACKOFF);
                }
                Err(Failure::AddrInUse(stderr)) => panic!(
                    "memcached could not restart on {}: address still in use after {:?}; stderr:\n{stderr}",
                    self.endpoint, RESTART_TIMEOUT
                ),
                Err(Failure::Fatal(message)) => panic!("memcached could not restart: {message}"),
            }
        }
    }

    /// Sends `stats` (or `stats <group>` when `group` is given, e.g.
    /// `"settings"`) over a fresh connection and returns the `STAT name
    /// value` pairs. Handy for checking what really reached the server.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub fn stats(&self, group: Option<&str>) -> BTreeMap<String, String> {
        let request = match group {
            Some(group) => format!("stats {group}\r\n"),
            None => "stats\r\n".to_owned(),
        };
        let mut request_bytes = self.login_request().to_vec();
        request_bytes.extend_from_slice(request.as_bytes());
        let reply = self
            .endpoint
            .exchange(&request_bytes, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("stats from memcached on {} failed: {e}", self.endpoint));
        let text = String::from_utf8_lossy(&reply);
        if !text.ends_with("END\r\n") {
            panic!(
                "unexpected reply to {:?} from memcached on {}: {text:?}",
                request.trim_end(),
                self.endpoint
            );
        }
        parse_stats(&text)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(process) = process {
            process.kill();
        }
        if let Endpoint::Unix(path) = &self.endpoint {
            let _ = fs::remove_file(path);
        }
        if let Some(login) = &self.login {
            let _ = fs::remove_file(&login.file);
        }
    }
}

/// Configures a [`Memcached`] before starting it; from
/// [`Memcached::builder`].
///
/// ```
/// let server = memwire_tests::Memcached::builder()
///     .arg("-m")
///     .arg("8")
///     .start();
/// assert_eq!(server.stats(None)["limit_maxbytes"], "8388608");
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct MemcachedBuilder {
    bin: Option<PathBuf>,
    args: Vec<OsString>,
    unix_socket: bool,
    tls: Option<ServerTls>,
    auth: Option<(String, String)>,
}

/// memcached's TLS settings (`-Z -o ssl_...`).
#[derive(Debug, Clone)]
struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    /// Require a client certificate signed by this authority.
    client_ca: Option<PathBuf>,
}

impl ServerTls {
    fn args(&self) -> Vec<OsString> {
        let mut options = OsString::from("ssl_chain_cert=");
        options.push(&self.cert);
        options.push(",ssl_key=");
        options.push(&self.key);
        if let Some(ca) = &self.client_ca {
            options.push(",ssl_verify_mode=2,ssl_ca_cert=");
            options.push(ca);
        }
        vec!["-Z".into(), "-o".into(), options]
    }
}

impl MemcachedBuilder {
    /// Appends one extra command-line argument, after the listening options
    /// the harness sets (`-l`, `-p`, `-U 0`, `-s`, `-u root`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several extra command-line arguments; see
    /// [`arg`](MemcachedBuilder::arg).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Listens on a fresh unix socket under [`std::env::temp_dir`] (`-s`)
    /// instead of TCP; memcached then opens no TCP port at all. The socket
    /// file is removed when the server is dropped.
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Serves TLS (`-Z`) with the test server certificate
    /// ([`Pki::server`](crate::tls::Pki::server), valid for `127.0.0.1` and
    /// `localhost`): [`Memcached::url`] says `memcacheds://`. The harness
    /// also opens a plain-text listener for its own connections
    /// ([`Memcached::plain_addr`]). Not for unix sockets.
    #[cfg(feature = "tls")]
    pub fn tls(self) -> Self {
        let server = crate::tls::Pki::get().server();
        self.tls_cert(&server.cert, &server.key)
    }

    /// Serves TLS with this certificate chain and key (PEM files).
    pub fn tls_cert(mut self, cert: &Path, key: &Path) -> Self {
        let client_ca = self.tls.take().and_then(|t| t.client_ca);
        self.tls = Some(ServerTls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca,
        });
        self
    }

    /// Requires a client certificate signed by the authority of `ca` (a
    /// PEM file): `ssl_verify_mode=2`. Needs [`MemcachedBuilder::tls`] or
    /// [`MemcachedBuilder::tls_cert`] too.
    pub fn require_client_cert(mut self, ca: &Path) -> Self {
        if let Some(tls) = &mut self.tls {
            tls.client_ca = Some(ca.to_owned());
        }
        self
    }

    /// Requires ASCII authentication (`-Y`) with these credentials. The
    /// harness's own connections log in first.
    pub fn auth(mut self, username: &str, password: &str) -> Self {
        self.auth = Some((username.to_owned(), password.to_owned()));
        self
    }

    /// Uses this memcached binary instead of `MEMCACHED_BIN` or `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Starts the server and waits until it accepts connections. A TCP
    /// server gets a port from [`free_port`]; when memcached cannot bind it
    /// (another process took it meanwhile), a fresh port is tried.
    ///
    /// # Panics
    ///
    /// When no memcached binary is found, or when the server does not accept
    /// connections within about 5 seconds (the message includes its stderr).
    pub fn start(self) -> Memcached {
        #[cfg(feature = "tls")]
        let this = if crate::tls::is_suite_over_tls() && self.tls.is_none() && !self.unix_socket {
            self.tls()
        } else {
            self
        };
        #[cfg(not(feature = "tls"))]
        let this = self;
        this.spawn()
    }

    fn spawn(self) -> Memcached {
        let bin = match self.bin {
            Some(bin) if bin.is_file() => bin,
            Some(bin) => panic!("{NOT_FOUND} ({} is not a file)", bin.display()),
            None => find_binary(),
        };
        let mut args = self.tls.as_ref().map(ServerTls::args).unwrap_or_default();
        let login = self.auth.as_ref().map(|(user, password)| {
            let file = fresh_path("auth");
            fs::write(&file, format!("{user}:{password}\n"))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
            args.extend(["-Y".into(), file.clone().into_os_string()]);
            let payload = format!("{user} {password}");
            let request = format!("set auth 0 0 {}\r\n{payload}\r\n", payload.len());
            Login {
                request: request.into_bytes(),
                file,
            }
        });
        args.extend(self.args);
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let endpoint = match (self.unix_socket, &self.tls) {
                (true, _) => Endpoint::Unix(fresh_socket_path()),
                (false, None) => Endpoint::Tcp(free_port()),
                (false, Some(_)) => Endpoint::Tls {
                    port: free_port(),
                    plain: free_port(),
                },
            };
            let login_request = login.as_ref().map_or(&[][..], |l| &l.request);
            match launch(&bin, &endpoint, &args, login_request) {
                Ok(process) => {
                    return Memcached {
                        bin,
                        extra_args: args,
                        endpoint,
                        login,
                        process: Mutex::new(Some(process)),
                    }
                }
                Err(Failure::AddrInUse(stderr)) => {
                    last_error = format!("{endpoint} in use; stderr:\n{stderr}");
                }
                Err(Failure::Fatal(message)) => panic!("memcached did not start: {message}"),
            }
        }
        panic!("memcached did not start after {START_ATTEMPTS} attempts: {last_error}");
    }
}

/// Where a server listens.
#[derive(Debug, Clone)]
enum Endpoint {
    /// `127.0.0.1:port`.
    Tcp(u16),
    /// TLS on `127.0.0.1:port`, and plain text on `127.0.0.1:plain` for
    /// the harness.
    Tls { port: u16, plain: u16 },
    /// A unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(port) => write!(f, "127.0.0.1:{port}"),
            Endpoint::Tls { port, plain } => {
                write!(f, "127.0.0.1:{port} (TLS; plain text on port {plain})")
            }
            Endpoint::Unix(path) => write!(f, "unix socket {}", path.display()),
        }
    }
}

impl Endpoint {
    /// memcached's listening options for this endpoint.
    fn listen_args(&self) -> Vec<OsString> {
        match self {
            Endpoint::Tcp(port) => vec![
                "-l".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string().into(),
                "-U".into(),
                "0".into(),
            ],
            Endpoint::Tls { port, plain } => vec![
                "-l".into(),
                format!("notls:127.0.0.1:{plain},127.0.0.1:{port}").into(),
                "-p".into(),
                port.to_string().into(),
                "-U".into(),
                "0".into(),
            ],
            Endpoint::Unix(path) => vec!["-s".into(), path.into(), "-U".into(), "0".into()],
        }
    }

    /// Connects (to the plain-text listener of a TLS server), sends
    /// `request` and reads until a line that ends a memcached reply (`END`,
    /// `ERROR`, ...) or until the server closes.
    fn exchange(&self, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
        match self {
            Endpoint::Tcp(port) | Endpoint::Tls { plain: port, .. } => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                let stream = TcpStream::connect_timeout(&addr, timeout)?;
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                exchange_on(stream, request)
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path)?;
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                exchange_on(stream, request)
            }
        }
    }
}

/// Writes `request` and reads the reply; see [`Endpoint::exchange`].
fn exchange_on(mut stream: impl Read + Write, request: &[u8]) -> io::Result<Vec<u8>> {
    const ENDINGS: [&[u8]; 4] = [b"END\r\n", b"ERROR\r\n", b"VERSION ", b"OK\r\n"];
    stream.write_all(request)?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(reply);
        }
        reply.extend_from_slice(&chunk[..n]);
        let complete_line = reply.ends_with(b"\r\n");
        let last_line_start = reply[..reply.len().saturating_sub(2)]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let last_line = &reply[last_line_start..];
        if complete_line && ENDINGS.iter().any(|end| last_line.starts_with(end)) {
            return Ok(reply);
        }
        if reply.len() > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply larger than 1 MiB",
            ));
        }
    }
}

/// Parses `STAT name value` lines.
fn parse_stats(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("STAT "))
        .filter_map(|stat| stat.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Why a launch failed.
enum Failure {
    /// memcached could not bind its address; carries its stderr.
    AddrInUse(String),
    /// Anything else; carries a complete explanation.
    Fatal(String),
}

/// A spawned memcached and the thread collecting its stderr.
#[derive(Debug)]
struct Process {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Process {
    /// Kills the process (if still alive), reaps it and returns its stderr.
    fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect_stderr()
    }

    /// Waits for the stderr reader (the process must have exited) and
    /// returns what memcached wrote.
    fn collect_stderr(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }
}

/// Spawns memcached for `endpoint` and waits until that very process
/// answers (after `login`, for a server with `-Y`).
fn launch(
    bin: &Path,
    endpoint: &Endpoint,
    extra_args: &[OsString],
    login: &[u8],
) -> Result<Process, Failure> {
    if let Endpoint::Unix(path) = endpoint {
        let _ = fs::remove_file(path);
    }
    let mut command = Command::new(bin);
    command.args(endpoint.listen_args());
    if running_as_root() {
        command.args(["-u", "root"]);
    }
    command
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Failure::Fatal(format!("cannot run {command:?}: {e}")))?;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stderr.take().map(|mut pipe| {
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut sink = lock(&sink);
                let room = STDERR_LIMIT.saturating_sub(sink.len());
                sink.extend_from_slice(&chunk[..n.min(room)]);
            }
        })
    });
    let mut process = Process {
        child,
        stderr,
        reader,
    };
    let pid = process.child.id();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match process.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                let stderr = process.collect_stderr();
                return Err(if stderr.contains("Address already in use") {
                    Failure::AddrInUse(stderr)
                } else {
                    Failure::Fatal(format!(
                        "{command:?} exited with {status} before accepting connections on {endpoint}; stderr:\n{stderr}"
                    ))
                });
            }
            Err(e) => {
                let stderr = process.kill();
                return Err(Failure::Fatal(format!(
                    "cannot check on {command:?}: {e}; stderr:\n{stderr}"
                )));
            }
        }
        // `stats` names the pid that answers: a server left on this port by
        // someone else must not pass for ours (ours then fails to bind).
        let probe = [login, b"stats\r\n"].concat();
        if let Ok(reply) = endpoint.exchange(&probe, Duration::from_millis(500)) {
            let text = String::from_utf8_lossy(&reply);
            match parse_stats(&text).get("pid") {
                Some(answering) if *answering == pid.to_string() => return Ok(process),
                Some(_) => {}
                // Answers, but not with stats (e.g. SASL): trust it while
                // our process is alive.
                None if !reply.is_empty() => return Ok(process),
                None => {}
            }
        }
        if Instant::now() >= deadline {
            let stderr = process.kill();
            return Err(Failure::Fatal(format!(
                "{command:?} did not accept connections on {endpoint} within {START_TIMEOUT:?}; stderr:\n{stderr}"
            )));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// `MEMCACHED_BIN` if set (a path, or a name looked up on `PATH`), else
/// `memcached` on `PATH`.
fn find_binary() -> PathBuf {
    match env::var_os("MEMCACHED_BIN").filter(|bin| !bin.is_empty()) {
        Some(bin) => {
            let path = PathBuf::from(&bin);
            if path.components().count() == 1 && !path.is_absolute() {
                if let Some(found) = search_path(&bin) {
                    return found;
                }
            }
            if path.is_file() {
                return path;
            }
            panic!(
                "{NOT_FOUND} (MEMCACHED_BIN={} is not a file)",
                path.display()
            )
        }
        None => search_path("memcached".as_ref()).unwrap_or_else(|| panic!("{NOT_FOUND}")),
    }
}

/// The first file named `name` in the directories of `PATH`.
fn search_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let paths = env::var_os("PATH")?;
    env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether the effective user id is 0: from `/proc/self/status`, else
/// `id -u`.
fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        let from_proc = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                // real, effective, saved, filesystem
                uids.split_whitespace().nth(1).map(|euid| euid == "0")
            });
        from_proc.unwrap_or_else(|| {
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
        })
    })
}

/// A socket path no other server of this process uses.
fn fresh_socket_path() -> PathBuf {
    let path = fresh_path("sock");
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        path
    } else {
        Path::new("/tmp").join(path.file_name().unwrap_or_default())
    }
}

/// A path under the temporary directory no other file of this process
/// uses, ending in `.suffix`.
fn fresh_path(suffix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "memwire-{}-{}.{suffix}",
        process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    env::temp_dir().join(name)
}

/// Locks a mutex, ignoring poisoning (a panicking test must not break
/// cleanup).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    fn version_over<S: Read + Write>(mut stream: S) -> String {
        stream.write_all(b"version\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    }

    fn version_tcp(server: &Memcached) -> String {
        version_over(TcpStream::connect(server.addr()).unwrap())
    }

    #[test]
    fn starts_and_answers_version() {
        let server = Memcached::start();
        assert!(server.is_running());
        assert!(server.pid().is_some());
        let line = version_tcp(&server);
        assert!(line.starts_with("VERSION "), "{line:?}");
        assert!(line.ends_with("\r\n"), "{line:?}");
    }

    #[test]
    fn addresses() {
        let server = Memcached::start();
        let port = server.port();
        assert_ne!(port, 0);
        assert_eq!(server.addr(), format!("127.0.0.1:{port}"));
        assert_eq!(server.url(), format!("memcached://127.0.0.1:{port}"));
    }

    #[test]
    fn stop_makes_connect_fail_and_restart_uses_same_port() {
        let server = Memcached::start();
        let port = server.port();
        // A connection open across the stop, as a client would have.
        let mut open = TcpStream::connect(server.addr()).unwrap();
        server.stop();
        assert!(!server.is_running());
        assert_eq!(server.pid(), None);
        assert!(TcpStream::connect(server.addr()).is_err());
        let mut buf = [0u8; 16];
        let _ = open.write_all(b"version\r\n");
        assert!(matches!(open.read(&mut buf), Ok(0) | Err(_)));
        server.stop(); // idempotent

        server.restart();
        assert!(server.is_running());
        assert_eq!(server.port(), port);
        assert!(version_tcp(&server).starts_with("VERSION "));
        server.restart(); // restart while running
        assert!(version_tcp(&server).starts_with("VERSION "));
    }

    #[test]
    fn restart_empties_the_cache() {
        let server = Memcached::start();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"set k 0 0 1\r\nv\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        assert_eq!(line, "STORED\r\n");
        assert_eq!(server.stats(None)["curr_items"], "1");
        server.restart();
        assert_eq!(server.stats(None)["curr_items"], "0");
    }

    #[test]
    fn unix_socket() {
        let server = Memcached::builder().unix_socket().start();
        let path = server.socket_path().to_owned();
        assert!(path.exists());
        assert_eq!(server.url(), path.display().to_string());
        assert_eq!(server.addr(), path.display().to_string());
        let line = version_over(UnixStream::connect(&path).unwrap());
        assert!(line.starts_with("VERSION "), "{line:?}");
        server.stop();
        assert!(UnixStream::connect(&path).is_err());
        server.restart();
        assert!(version_over(UnixStream::connect(&path).unwrap()).starts_with("VERSION "));
        drop(server);
        assert!(!path.exists());
    }

    #[test]
    #[should_panic(expected = "has no TCP port")]
    fn unix_socket_has_no_port() {
        Memcached::builder().unix_socket().start().port();
    }

    #[test]
    fn extra_args() {
        let server = Memcached::builder()
            .arg("-m")
            .arg("8")
            .args(["-c", "64"])
            .start();
        let stats = server.stats(None);
        assert_eq!(stats["limit_maxbytes"], "8388608");
        assert_eq!(stats["max_connections"], "64");
        assert_eq!(server.stats(Some("settings"))["maxconns"], "64");
    }

    #[test]
    fn bad_args_fail_with_stderr() {
        let result = std::panic::catch_unwind(|| {
            Memcached::builder().arg("--no-such-option").start();
        });
        let payload = result.expect_err("memcached accepted a bogus option");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("did not start"), "{message}");
        assert!(message.contains("no-such-option"), "{message}");
    }

    #[test]
    #[should_panic(
        expected = "memcached not found: install the Debian package `memcached` or set MEMCACHED_BIN"
    )]
    fn missing_binary_panics() {
        Memcached::builder()
            .binary("/nonexistent/memcached")
            .start();
    }

    #[test]
    fn port_taken_by_another_server_is_not_mistaken_for_ours() {
        let first = Memcached::start();
        // Pretend free_port handed out a taken port: launch on it directly.
        let bin = find_binary();
        match launch(&bin, &Endpoint::Tcp(first.port()), &[], &[]) {
            Err(Failure::AddrInUse(stderr)) => assert!(stderr.contains("in use"), "{stderr}"),
            Err(Failure::Fatal(message)) => panic!("expected AddrInUse, got {message}"),
            Ok(mut process) => {
                let _ = process.child.kill();
                panic!("a server on a taken port was reported ready");
            }
        }
    }

    #[test]
    fn many_servers_get_distinct_ports() {
        let servers: Vec<Memcached> = (0..4).map(|_| Memcached::start()).collect();
        let ports: BTreeSet<u16> = servers.iter().map(Memcached::port).collect();
        assert_eq!(ports.len(), servers.len());
        for server in &servers {
            assert_eq!(server.stats(None)["pid"], server.pid().unwrap().to_string());
        }
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports: BTreeSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn drop_kills_the_process() {
        let server = Memcached::start();
        let addr = server.addr();
        drop(server);
        assert!(TcpStream::connect(addr).is_err());
    }
}
