//! memwire inside a hand-written mio event loop, next to other sockets.
//!
//! One `Poll` serves three things at once: a small TCP echo server (a
//! listener and the connections it accepts), a client of that echo server,
//! and a memwire [`Adapter`] talking to memcached. Nothing blocks; the loop
//! sleeps until a socket is ready or the adapter's next deadline.
//!
//! ```text
//! cargo run -p memwire --no-default-features --features mio \
//!     --example mio_event_loop -- memcached://127.0.0.1:11211
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use memwire::cluster::ServerAddr;
use memwire::mio::Adapter;
use memwire::{Command, Config, RequestId, Response};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The echo server's listening socket.
const LISTENER: Token = Token(0);
/// Our own client of the echo server.
const ECHO_CLIENT: Token = Token(1);
/// memcached, through memwire.
const MEMCACHED: Token = Token(2);
/// Connections accepted by the echo server get tokens from here on.
const FIRST_ACCEPTED: usize = 100;

const GREETING: &[u8] = b"hello from the echo client\n";

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mio_event_loop <memcached url, e.g. memcached://127.0.0.1:11211>");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(128);

    // 1. An echo server on a free port.
    let mut listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut accepted: HashMap<Token, TcpStream> = HashMap::new();

    // 2. A client of it, which sends one line and waits for the echo.
    let mut echo = TcpStream::connect(listener.local_addr()?)?;
    poll.registry().register(
        &mut echo,
        ECHO_CLIENT,
        Interest::READABLE | Interest::WRITABLE,
    )?;
    let mut echo_sent = false;
    let mut echo_reply = Vec::new();

    // 3. memcached through memwire, on a token of our choosing.
    let addr = ServerAddr::parse(url)?;
    let connect_deadline = Some(Instant::now() + Duration::from_secs(1));
    let mut mc = Adapter::connect(&addr, Config::default(), connect_deadline)?;
    mc.register(poll.registry(), MEMCACHED)?;

    // Pipelined requests, queued before the connection is even up: `send`
    // never writes; the adapter's WRITABLE event sends them together.
    let deadline = Some(Instant::now() + Duration::from_secs(2));
    let mut asked: HashMap<RequestId, &str> = HashMap::new();
    asked.insert(
        mc.send(Command::set("greeting", "hello from mio"), deadline)?,
        "set greeting",
    );
    asked.insert(
        mc.send(Command::set("visits", "41"), deadline)?,
        "set visits",
    );
    asked.insert(
        mc.send(Command::incr("visits", 1), deadline)?,
        "incr visits",
    );
    asked.insert(
        mc.send(Command::get_multi(["greeting", "visits", "nope"]), deadline)?,
        "get greeting visits nope",
    );
    asked.insert(mc.send(Command::version(), deadline)?, "version");

    let mut failed = false;
    while !asked.is_empty() || echo_reply.len() < GREETING.len() {
        // Sleep until something is ready or memwire's next deadline.
        let timeout = mc
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(5));
        poll.poll(&mut events, Some(timeout))?;
        if events.is_empty() && mc.poll_timeout().is_none() {
            return Err("nothing happened for 5 s".into());
        }

        for event in events.iter() {
            match event.token() {
                MEMCACHED => mc.handle_event(event),
                LISTENER => loop {
                    // Edge-triggered: accept until WouldBlock.
                    match listener.accept() {
                        Ok((mut conn, peer)) => {
                            let token = Token(FIRST_ACCEPTED + accepted.len());
                            poll.registry()
                                .register(&mut conn, token, Interest::READABLE)?;
                            println!("echo server: accepted {peer}");
                            accepted.insert(token, conn);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                },
                ECHO_CLIENT => {
                    if event.is_writable() && !echo_sent {
                        echo.write_all(GREETING)?;
                        echo_sent = true;
                    }
                    if event.is_readable() {
                        read_available(&mut echo, &mut echo_reply)?;
                    }
                }
                token => {
                    // An accepted connection: echo what arrives.
                    if let Some(conn) = accepted.get_mut(&token) {
                        let mut data = Vec::new();
                        let open = read_available(conn, &mut data)?;
                        conn.write_all(&data)?;
                        if !open {
                            if let Some(mut conn) = accepted.remove(&token) {
                                poll.registry().deregister(&mut conn)?;
                            }
                        }
                    }
                }
            }
        }

        // memwire: deadlines, then finished requests.
        mc.handle_timeout(Instant::now());
        while let Some(done) = mc.poll_response() {
            let what = asked.remove(&done.id).unwrap_or("?");
            match done.result {
                Ok(Response::Values(values)) => {
                    println!("memcached: {what} -> {} hit(s)", values.len());
                    for v in values {
                        println!(
                            "    {} = {:?} (flags {})",
                            String::from_utf8_lossy(&v.key),
                            String::from_utf8_lossy(&v.data),
                            v.flags
                        );
                    }
                }
                Ok(response) => println!("memcached: {what} -> {response:?}"),
                Err(e) => {
                    println!("memcached: {what} failed: {e}");
                    failed = true;
                }
            }
        }
        if mc.is_poisoned() {
            // Everything pending has completed with an error by now. A
            // long-running loop would reconnect here: `mc.reconnect(...)`.
            println!("memcached connection lost: {:?}", mc.poison_cause());
        }
    }
    println!(
        "echo client: got back {:?}",
        String::from_utf8_lossy(&echo_reply).trim_end()
    );
    if failed {
        return Err("some memcached requests failed".into());
    }
    Ok(())
}

/// Read until `WouldBlock`, appending to `out`. Returns whether the peer
/// keeps the connection open.
fn read_available(stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
