//! The async client for [smol](https://docs.rs/smol): one pipelined
//! connection per server, shared by every task.
//!
//! Each server's connection is owned by a background task (spawned with
//! `smol::spawn` on first use) that holds the socket
//! (`smol::net::TcpStream` or `smol::net::unix::UnixStream`) and a core
//! [`Connection`](memwire_core::Connection). A call hands its request to
//! that task and awaits its own reply: requests from concurrent tasks are
//! in flight together, never serialized behind a lock held for a round
//! trip.
//!
//! Dropping a call's future at any point is safe: a request not yet sent is
//! never sent, and the reply to one already sent is read and discarded —
//! it is never delivered to another call. A request that outlives
//! [`ClientConfig::io_timeout`] fails with [`Error::Timeout`]; since its
//! reply may still arrive, the connection is dropped (other requests on it
//! fail with [`Error::Poisoned`]) and the next call reconnects. Failures
//! count against the server's health exactly as with the blocking client:
//! while a server is down, calls for it fail fast with [`Error::NoServer`].
//!
//! ```no_run
//! use memwire::smol::Client;
//!
//! smol::block_on(async {
//!     let client = Client::new(["memcached://127.0.0.1:11211"])?;
//!     client.set("session_id", "TEST SESSION DATA").await?;
//!     if let Some(value) = client.get("session_id").await? {
//!         println!("{:?} (flags {})", value.data, value.flags);
//!     }
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod driver;

use crate::common::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use ::smol::channel::{self, Receiver, Sender};
use memwire_core::cluster::{Cluster, Health, ServerAddr};
use memwire_core::{Command, Error, Response};

use crate::common::{self, ClientConfig, ConfigError, FromConfig};
use driver::{Answer, Driver, Msg};

/// An async memcached client for one or several servers, for smol (or any
/// executor: the connections run on smol's global executor).
///
/// Same operations and semantics as `blocking::Client`, as
/// `async fn`s: keys are placed with libmemcached-compatible weighted
/// ketama (see [`crate::common`]); `stats*`, `flush_all`, `version` and
/// `verbosity` run on every server and return one result per server. The
/// client is `Send + Sync` and cheap to clone (clones share the
/// connections); give each task its own clone.
///
/// ```no_run
/// use std::time::Duration;
/// use memwire::smol::Client;
/// use memwire::{Command, Error};
///
/// smol::block_on(async {
///     let client: Client = Client::builder()
///         .server("memcached://10.0.0.1:11211")
///         .server("10.0.0.2:11211")
///         .io_timeout(Duration::from_millis(500))
///         .build()?;
///
///     client.store(Command::set("foo", "xXx").flags(12).exptime(30)).await?;
///     match client.add("foo", "other").await {
///         Err(Error::NotStored) => println!("foo exists already"),
///         other => other?,
///     }
///     // Many tasks share one connection per server, pipelined.
///     let tasks: Vec<_> = (0..100)
///         .map(|i| {
///             let client = client.clone();
///             smol::spawn(async move { client.get(format!("key{i}")).await })
///         })
///         .collect();
///     for task in tasks {
///         println!("{:?}", task.await?);
///     }
///     // A call raced against a timer: the loser is dropped, safely.
///     let quick = smol::future::or(
///         async { Some(client.get("foo").await) },
///         async {
///             smol::Timer::after(Duration::from_millis(5)).await;
///             None
///         },
///     );
///     println!("{:?}", quick.await);
///     let hits = client.get_multi(["foo", "bar"]).await?; // across both servers
///     for (server, stats) in client.stats().await {
///         println!("{server}: {:?}", stats.map(|s| s.get("curr_items").cloned()));
///     }
///     client.close().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    cluster: Cluster,
    servers: Vec<Server>,
}

#[derive(Debug)]
struct Server {
    addr: ServerAddr,
    health: Arc<Mutex<Health>>,
    /// The current connection's driver, if one was started.
    link: Mutex<Option<Link>>,
    /// Held while connecting, so that one task connects and the others
    /// wait for its connection.
    connecting: ::smol::lock::Mutex<()>,
}

/// The way to one running driver.
#[derive(Debug)]
struct Link {
    tx: Sender<Msg>,
    /// Closed when the driver ends.
    done: Receiver<()>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
};

/// A request handed to a driver. Dropped before its reply arrived (the
/// caller's future was dropped), it tells the driver to abandon the
/// request.
struct PendingReply {
    rx: Receiver<Answer>,
    link: Sender<Msg>,
    done: bool,
}

impl PendingReply {
    async fn wait(mut self) -> Answer {
        let answer = self.rx.recv().await;
        self.done = true;
        // The driver always answers before it ends; just in case.
        answer.unwrap_or(Answer::Done(Err(Error::Closed)))
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if !self.done {
            self.rx.close();
            let _ = self.link.try_send(Msg::Abandon);
        }
    }
}

/// Poll every future to completion, concurrently; outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    ::smol::future::poll_fn(|cx| {
        let mut all_done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

impl FromConfig for Client {
    fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        let cluster = config.cluster()?;
        let servers = config
            .servers
            .iter()
            .map(|(addr, _)| Server {
                addr: addr.clone(),
                health: Arc::new(Mutex::new(Health::new(config.health))),
                link: Mutex::new(None),
                connecting: ::smol::lock::Mutex::new(()),
            })
            .collect();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                cluster,
                servers,
            }),
        })
    }
}

impl Client {
    crate::api::client_api! {
        example_client: "memwire::smol::Client",
        lazily: "Nothing is connected until the first request.",
        get_multi_sends: "sent to all servers at once",
        async: {
            async await
            "# smol::block_on(async {"
            "# })?;\n# Ok::<(), Box<dyn std::error::Error>>(())"
        },
    }

    /// Close every connection: requests already handed to a connection
    /// finish first, then `quit` is sent and the socket dropped. Returns
    /// once every connection is closed (within about
    /// [`ClientConfig::io_timeout`]). The client stays usable: the next
    /// call reconnects.
    pub async fn close(&self) {
        let links: Vec<Link> = self
            .inner
            .servers
            .iter()
            .filter_map(|srv| lock(&srv.link).take())
            .collect();
        let closing = links.into_iter().map(|link| async move {
            let _ = link.tx.try_send(Msg::Close);
            // Errs (closed) once the driver has ended.
            let _ = link.done.recv().await;
        });
        join_all(closing).await;
    }

    // ---- internals ----

    /// Run `(server, command)` requests, all servers at once, all within
    /// one deadline. Returns one result per request, in order.
    async fn run(&self, requests: Vec<(usize, Command)>) -> Vec<Result<Response, Error>> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.io_timeout;
        let mut results: Vec<Option<Result<Response, Error>>> =
            requests.iter().map(|_| None).collect();
        let mut batches: Vec<(usize, Vec<(usize, Command)>)> = Vec::new();
        for (i, (server, command)) in requests.into_iter().enumerate() {
            if let Err(e) = command.validate(&config.protocol) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(Err(e));
                }
                continue;
            }
            match batches.iter_mut().find(|(s, _)| *s == server) {
                Some((_, batch)) => batch.push((i, command)),
                None => batches.push((server, vec![(i, command)])),
            }
        }
        let outcomes = if batches.len() == 1 {
            let (server, batch) = batches.remove(0);
            vec![self.batch(server, batch, deadline).await]
        } else {
            let batches = batches
                .into_iter()
                .map(|(server, batch)| self.batch(server, batch, deadline));
            join_all(batches).await
        };
        for (i, result) in outcomes.into_iter().flatten() {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// Hand one server's requests to its connection (connecting if needed)
    /// and await their replies.
    async fn batch(
        &self,
        server: usize,
        batch: Vec<(usize, Command)>,
        deadline: Instant,
    ) -> Vec<(usize, Result<Response, Error>)> {
        let fail = |batch: Vec<(usize, Command)>, e: Error| {
            batch
                .into_iter()
                .map(|(i, _)| (i, Err(e.clone())))
                .collect()
        };
        let Some(srv) = self.inner.servers.get(server) else {
            return fail(batch, Error::NoServer(format!("no server #{server}")));
        };
        let checked = {
            let mut health = lock(&srv.health);
            common::check_health(&mut health, &srv.addr, Instant::now())
                .map(|()| health.consecutive_failures())
        };
        let failures = match checked {
            Ok(failures) => failures,
            Err(e) => return fail(batch, e),
        };
        let mut tx = match self.link(srv, failures).await {
            Ok(tx) => tx,
            Err(e) => return fail(batch, e),
        };
        let mut pending = Vec::with_capacity(batch.len());
        for (i, command) in batch {
            pending.push((i, self.send(srv, &mut tx, command, deadline).await));
        }
        let mut results = Vec::with_capacity(pending.len());
        for (i, p) in pending {
            let result = match p {
                Ok(reply) => match reply.wait().await {
                    Answer::Done(result) => result,
                    // The connection ended just before sending it: once
                    // more, on a new connection.
                    Answer::Unsent(command) => {
                        match self.send(srv, &mut tx, command, deadline).await {
                            Ok(reply) => reply.wait().await.into_result(),
                            Err(e) => Err(e),
                        }
                    }
                },
                Err(e) => Err(e),
            };
            results.push((i, result));
        }
        results
    }

    /// Hand `command` to the driver behind `tx`. If that driver has just
    /// ended (the request was not taken), reconnect once and retry.
    async fn send(
        &self,
        srv: &Server,
        tx: &mut Sender<Msg>,
        command: Command,
        deadline: Instant,
    ) -> Result<PendingReply, Error> {
        let (reply_tx, reply_rx) = channel::bounded(1);
        let mut msg = Msg::Request {
            command,
            deadline,
            reply: reply_tx,
        };
        for retry in [true, false] {
            match tx.try_send(msg) {
                Ok(()) => {
                    return Ok(PendingReply {
                        rx: reply_rx,
                        link: tx.clone(),
                        done: false,
                    })
                }
                Err(e) => msg = e.into_inner(),
            }
            if retry {
                let failures = lock(&srv.health).consecutive_failures();
                *tx = self.link(srv, failures).await?;
            }
        }
        Err(Error::Closed)
    }

    /// The sender to the live driver of `srv`, connecting (and starting a
    /// driver) if there is none. `failures` is the server's failure count
    /// when the caller checked its health: if another task's connection
    /// attempt failed meanwhile, fail fast rather than try again.
    async fn link(&self, srv: &Server, failures: u32) -> Result<Sender<Msg>, Error> {
        let live = || {
            lock(&srv.link)
                .as_ref()
                .filter(|link| !link.tx.is_closed())
                .map(|link| link.tx.clone())
        };
        if let Some(tx) = live() {
            return Ok(tx);
        }
        let _connecting = srv.connecting.lock().await;
        if let Some(tx) = live() {
            return Ok(tx);
        }
        {
            let health = lock(&srv.health);
            if health.consecutive_failures() > failures {
                // Judge on a copy: this caller already holds its grant.
                common::check_health(&mut health.clone(), &srv.addr, Instant::now())?;
            }
        }
        let config = &self.inner.config;
        match driver::connect(&srv.addr, config.connect_timeout).await {
            Err(e) => {
                lock(&srv.health).record_failure(Instant::now());
                Err(e)
            }
            Ok(socket) => {
                let (tx, rx) = channel::unbounded();
                let (done_tx, done_rx) = channel::bounded(1);
                let driver = Driver::new(
                    socket,
                    rx,
                    done_tx,
                    config.protocol,
                    config.io_timeout,
                    srv.health.clone(),
                );
                ::smol::spawn(driver.run()).detach();
                *lock(&srv.link) = Some(Link {
                    tx: tx.clone(),
                    done: done_rx,
                });
                Ok(tx)
            }
        }
    }
}
