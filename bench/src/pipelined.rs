//! Many requests in flight on one connection: a window of `get`s on the
//! core alone and on a [`mio::Adapter`](memwire::mio::Adapter), and many
//! tasks sharing one smol or tokio client.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memwire::{AsyncCommands, Command, Response};

use crate::sequential::CoreStream;
use crate::{check_hit, key, wrong, Measured, Meter, RunError};

/// Check a completed `get`.
fn check_get(result: Result<Response, memwire::Error>) -> Result<(), RunError> {
    match result? {
        Response::Values(hits) => check_hit(hits.into_iter().next()),
        _ => Err(wrong("not values")),
    }
}

/// `window` gets kept in flight on the core over a blocking `TcpStream`:
/// after each read, as many new requests as replies completed, written
/// together. The reference of the pipelined rows.
///
/// # Errors
///
/// As [`crate::run`].
pub fn core_window(window: usize, server: &str, mut meter: Meter) -> Result<Measured, RunError> {
    let mut core = CoreStream::connect(server)?;
    let k = Bytes::from(key(0));
    loop {
        while core.conn.in_flight() < window {
            core.conn.send(Command::get(k.clone()), None)?;
        }
        core.flush()?;
        core.read()?;
        let mut done = 0;
        while let Some(c) = core.conn.poll_response() {
            check_get(c.result)?;
            done += 1;
        }
        if !meter.count(done) {
            return Ok(meter.finish());
        }
    }
}

/// `window` gets kept in flight on a [`mio::Adapter`](memwire::mio::Adapter)
/// registered on a `Poll` of the loop's own, as an event loop would run it:
/// queue, flush, poll, handle the events, collect the completions.
///
/// # Errors
///
/// As [`crate::run`].
pub fn adapter_window(window: usize, server: &str, mut meter: Meter) -> Result<Measured, RunError> {
    use memwire::mio::Adapter;
    use mio::{Events, Poll, Token};

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);
    let addr = memwire::cluster::ServerAddr::parse(server)?;
    let mut mc = Adapter::connect(&addr, memwire::Config::default(), None)?;
    mc.register(poll.registry(), Token(0))?;
    let k = Bytes::from(key(0));
    loop {
        while mc.in_flight() < window {
            mc.send(Command::get(k.clone()), None)?;
        }
        mc.flush();
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            mc.handle_event(event);
        }
        let mut done = 0;
        while let Some(c) = mc.poll_response() {
            check_get(c.result)?;
            done += 1;
        }
        if mc.is_poisoned() {
            return Err(format!("connection failed: {:?}", mc.poison_cause()).into());
        }
        if !meter.count(done) {
            return Ok(meter.finish());
        }
    }
}

/// What the tasks of a run share: the count of gets done, the stop flag,
/// the first error.
#[derive(Default)]
struct Shared {
    done: AtomicU64,
    stop: AtomicBool,
    failed: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// One task's loop: gets until told to stop.
    async fn task(&self, client: impl AsyncCommands) {
        let k = key(0);
        while !self.stop.load(Ordering::Relaxed) {
            match client
                .get(&k)
                .await
                .map_err(RunError::from)
                .and_then(check_hit)
            {
                Ok(()) => {
                    self.done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    self.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn result(&self, measured: Measured) -> Result<Measured, RunError> {
        match self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e.into()),
            None => Ok(measured),
        }
    }
}

/// `tasks` tasks on smol's global executor sharing one smol client (one
/// pipelined connection), each one get at a time.
///
/// # Errors
///
/// As [`crate::run`].
pub fn smol_tasks(tasks: usize, server: &str, mut meter: Meter) -> Result<Measured, RunError> {
    let client = memwire::smol::Client::new([server])?;
    let shared = Arc::new(Shared::default());
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (client, shared) = (client.clone(), shared.clone());
            smol::spawn(async move { shared.task(client).await })
        })
        .collect();
    std::thread::sleep(meter.warm_up());
    meter.begin(shared.done.load(Ordering::Relaxed));
    std::thread::sleep(meter.span());
    let measured = meter.end(shared.done.load(Ordering::Relaxed));
    shared.stop.store(true, Ordering::Relaxed);
    smol::block_on(async {
        for h in handles {
            h.await;
        }
    });
    shared.result(measured)
}

/// `tasks` tasks on a current-thread tokio runtime sharing one tokio
/// client (one pipelined connection, its driver on the same thread).
///
/// # Errors
///
/// As [`crate::run`].
pub fn tokio_tasks(tasks: usize, server: &str, mut meter: Meter) -> Result<Measured, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = memwire::tokio::Client::new([server])?;
        let shared = Arc::new(Shared::default());
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (client, shared) = (client.clone(), shared.clone());
                tokio::spawn(async move { shared.task(client).await })
            })
            .collect();
        tokio::time::sleep(meter.warm_up()).await;
        meter.begin(shared.done.load(Ordering::Relaxed));
        tokio::time::sleep(meter.span()).await;
        let measured = meter.end(shared.done.load(Ordering::Relaxed));
        shared.stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.await?;
        }
        shared.result(measured)
    })
}
