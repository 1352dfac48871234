//! One request at a time: `get`, `set` and multi-get on each client, and
//! on the core alone over a blocking std `TcpStream`.

use std::io::{Read, Write};
use std::net::TcpStream;

use memwire::{AsyncCommands, Command, Commands, Config, Connection, Response};

use crate::{
    check_hit, key, value, wrong, Measured, Meter, RunError, Workload, MULTI_KEYS, SET_KEY,
};

/// The keys of a multi-get.
fn multi_keys() -> Vec<String> {
    (0..MULTI_KEYS).map(key).collect()
}

/// `workload` on a blocking client (`blocking::Client` or `mio::Client`).
fn sync_loop(
    client: &impl Commands,
    workload: Workload,
    mut meter: Meter,
) -> Result<Measured, RunError> {
    let (k, v, keys) = (key(0), value(), multi_keys());
    match workload {
        Workload::Get => loop {
            check_hit(client.get(&k)?)?;
            if !meter.count(1) {
                break;
            }
        },
        Workload::Set => loop {
            client.set(SET_KEY, v.clone())?;
            if !meter.count(1) {
                break;
            }
        },
        Workload::MultiGet => loop {
            let hits = client.get_multi(&keys)?;
            if hits.len() != MULTI_KEYS || !hits.is_complete() {
                return Err(wrong("a multi-get missed keys"));
            }
            if !meter.count(MULTI_KEYS as u64) {
                break;
            }
        },
        other => return Err(format!("{other:?} is not a sequential workload").into()),
    }
    Ok(meter.finish())
}

/// `workload` on an async client, in the caller's task.
async fn async_loop(
    client: &impl AsyncCommands,
    workload: Workload,
    mut meter: Meter,
) -> Result<Measured, RunError> {
    let (k, v, keys) = (key(0), value(), multi_keys());
    match workload {
        Workload::Get => loop {
            check_hit(client.get(&k).await?)?;
            if !meter.count(1) {
                break;
            }
        },
        Workload::Set => loop {
            client.set(SET_KEY, v.clone()).await?;
            if !meter.count(1) {
                break;
            }
        },
        Workload::MultiGet => loop {
            let hits = client.get_multi(&keys).await?;
            if hits.len() != MULTI_KEYS || !hits.is_complete() {
                return Err(wrong("a multi-get missed keys"));
            }
            if !meter.count(MULTI_KEYS as u64) {
                break;
            }
        },
        other => return Err(format!("{other:?} is not a sequential workload").into()),
    }
    Ok(meter.finish())
}

/// The blocking client (a pool of connections; one in use here).
///
/// # Errors
///
/// As [`crate::run`].
pub fn blocking(workload: Workload, server: &str, meter: Meter) -> Result<Measured, RunError> {
    sync_loop(&memwire::blocking::Client::new([server])?, workload, meter)
}

/// The ready-made mio client (its own `Poll`, one pipelined connection).
///
/// # Errors
///
/// As [`crate::run`].
pub fn mio(workload: Workload, server: &str, meter: Meter) -> Result<Measured, RunError> {
    sync_loop(&memwire::mio::Client::new([server])?, workload, meter)
}

/// The smol client, called from `smol::block_on` (its connection's driver
/// runs on smol's global executor).
///
/// # Errors
///
/// As [`crate::run`].
pub fn smol(workload: Workload, server: &str, meter: Meter) -> Result<Measured, RunError> {
    let client = memwire::smol::Client::new([server])?;
    smol::block_on(async_loop(&client, workload, meter))
}

/// The smol client with its drivers on an executor of the caller's
/// ([`memwire::smol::Client::on_executor`]), called from
/// `smol::block_on(executor.run(...))`: caller and drivers on one thread.
///
/// # Errors
///
/// As [`crate::run`].
pub fn smol_local(workload: Workload, server: &str, meter: Meter) -> Result<Measured, RunError> {
    let executor = std::sync::Arc::new(smol::Executor::new());
    let config = memwire::smol::Client::builder().server(server).config()?;
    let client = memwire::smol::Client::on_executor(config, executor.clone())?;
    smol::block_on(executor.run(async_loop(&client, workload, meter)))
}

/// The tokio client on a current-thread runtime (the caller's loop and the
/// connection's driver on one thread).
///
/// # Errors
///
/// As [`crate::run`].
pub fn tokio(workload: Workload, server: &str, meter: Meter) -> Result<Measured, RunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = memwire::tokio::Client::new([server])?;
        async_loop(&client, workload, meter).await
    })
}

/// A core [`Connection`] over a blocking std `TcpStream`, reading straight
/// into the connection's buffer: the least a transport can do around the
/// core.
pub struct CoreStream {
    stream: TcpStream,
    /// The protocol state.
    pub conn: Connection,
}

impl CoreStream {
    /// Connect to `server` (`host:port`), with `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The connect's.
    pub fn connect(server: &str) -> Result<CoreStream, RunError> {
        let stream = TcpStream::connect(server)?;
        stream.set_nodelay(true)?;
        Ok(CoreStream {
            stream,
            conn: Connection::new(Config::default()),
        })
    }

    /// Write everything queued.
    ///
    /// # Errors
    ///
    /// The socket's.
    pub fn flush(&mut self) -> Result<(), RunError> {
        while self.conn.wants_write() {
            let n = self.stream.write(self.conn.pending_output())?;
            self.conn.advance_output(n);
        }
        Ok(())
    }

    /// One blocking read, fed to the connection.
    ///
    /// # Errors
    ///
    /// The socket's, or a closed connection.
    pub fn read(&mut self) -> Result<(), RunError> {
        let n = self.stream.read(self.conn.input_buffer())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.conn.commit_input(n);
        Ok(())
    }

    /// Send `command` and wait for its reply (nothing else in flight).
    ///
    /// # Errors
    ///
    /// The socket's, or the request's.
    pub fn call(&mut self, command: impl Into<Command>) -> Result<Response, RunError> {
        self.conn.send(command, None)?;
        self.flush()?;
        loop {
            if let Some(done) = self.conn.poll_response() {
                return Ok(done.result?);
            }
            self.read()?;
        }
    }
}

/// The core alone, one request at a time.
///
/// # Errors
///
/// As [`crate::run`].
pub fn core(workload: Workload, server: &str, mut meter: Meter) -> Result<Measured, RunError> {
    let mut core = CoreStream::connect(server)?;
    let (k, v) = (bytes::Bytes::from(key(0)), value());
    let keys: Vec<bytes::Bytes> = multi_keys().into_iter().map(Into::into).collect();
    let set_key = bytes::Bytes::from_static(SET_KEY.as_bytes());
    loop {
        let units = match workload {
            Workload::Get => match core.call(Command::get(k.clone()))? {
                Response::Values(hits) => {
                    check_hit(hits.into_iter().next())?;
                    1
                }
                _ => return Err(wrong("not values")),
            },
            Workload::Set => match core.call(Command::set(set_key.clone(), v.clone()))? {
                Response::Stored => 1,
                _ => return Err(wrong("not stored")),
            },
            Workload::MultiGet => match core.call(Command::get_multi(keys.iter().cloned()))? {
                Response::Values(hits) if hits.len() == MULTI_KEYS => MULTI_KEYS as u64,
                _ => return Err(wrong("a multi-get missed keys")),
            },
            other => return Err(format!("{other:?} is not a sequential workload").into()),
        };
        if !meter.count(units) {
            return Ok(meter.finish());
        }
    }
}
