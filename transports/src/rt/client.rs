//! [`AsyncClient`]: the async client of every runtime, over one pipelined
//! [`Link`] per server.

use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use memwire_core::client::{
    Call, ClientConfig, ConfigError, HealthEvent, Operation, Router, ServerHealth,
};
use memwire_core::{Command, Error, RequestId, Response};

use super::link::Link;
use super::runtime::{yield_now, Runtime};
use crate::lock;

/// The client behind `smol::Client` and `tokio::Client`: the same code,
/// over a different [`Runtime`].
#[derive(Debug, Clone)]
pub(crate) struct AsyncClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    router: Arc<Router>,
    runtime: Arc<dyn Runtime>,
    servers: Vec<Server>,
}

#[derive(Debug)]
struct Server {
    health: Arc<Mutex<ServerHealth>>,
    /// The current connection, once one was started.
    link: Mutex<Option<Arc<Link>>>,
}

/// A request on a link, abandoned if the call is dropped before its reply.
struct InFlight {
    index: usize,
    server: usize,
    link: Arc<Link>,
    id: RequestId,
    result: Option<Result<Response, Error>>,
}

/// The requests of one call. Dropping it (a dropped future) abandons those
/// still unanswered: their replies are read and discarded.
#[derive(Default)]
struct Requests(Vec<InFlight>);

impl Drop for Requests {
    fn drop(&mut self) {
        for r in &self.0 {
            if r.result.is_none() {
                r.link.abandon(r.id);
            }
        }
    }
}

impl Drop for Inner {
    /// The client is gone: let every connection quit once idle, so that no
    /// driver outlives it.
    fn drop(&mut self) {
        for server in &self.servers {
            if let Some(link) = lock(&server.link).take() {
                link.close();
            }
        }
    }
}

impl AsyncClient {
    pub(crate) fn new(
        config: ClientConfig,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, ConfigError> {
        let router = Arc::new(config.router()?);
        let servers = config
            .server_health()
            .into_iter()
            .map(|health| Server {
                health: Arc::new(Mutex::new(health)),
                link: Mutex::new(None),
            })
            .collect();
        Ok(AsyncClient {
            inner: Arc::new(Inner {
                config,
                router,
                runtime,
                servers,
            }),
        })
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn router(&self) -> Arc<Router> {
        self.inner.router.clone()
    }

    /// The link to `server` once its health admits a request: the live one,
    /// or a new one whose driver connects by `deadline`.
    fn link(&self, server: usize, deadline: Instant) -> Result<Arc<Link>, Error> {
        let inner = &*self.inner;
        let Some(srv) = inner.servers.get(server) else {
            return Err(Error::NoServer(format!("no server #{server}")));
        };
        let now = Instant::now();
        lock(&srv.health).admit(now)?;
        let mut slot = lock(&srv.link);
        if let Some(link) = slot.as_ref().filter(|l| l.is_usable()) {
            return Ok(link.clone());
        }
        let config = &inner.config;
        let addr = inner.router.servers()[server].clone();
        let link = Link::new(addr, config.protocol, config.max_in_flight);
        let driver = link.clone().run(
            inner.runtime.clone(),
            srv.health.clone(),
            deadline.min(now + config.connect_timeout),
            config.io_timeout,
        );
        inner.runtime.spawn(Box::pin(driver)).map_err(Error::from)?;
        if let Some(old) = slot.replace(link.clone()) {
            old.close();
        }
        Ok(link)
    }

    /// Queue `command` on `link`, waiting for room until `deadline`.
    async fn submit(
        &self,
        link: &Link,
        command: Command,
        deadline: Instant,
    ) -> Result<RequestId, Error> {
        let mut command = Some(command);
        let mut timer = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(sent) = link.poll_submit(cx, &mut command, deadline) {
                return Poll::Ready(sent);
            }
            // No room: wait for some, but not past the deadline.
            let timer = timer.get_or_insert_with(|| self.inner.runtime.timer(deadline));
            timer.as_mut().poll_fired(cx).map(|()| Err(Error::Timeout))
        })
        .await
    }

    /// Plan `op`, queue its commands on their servers' links (all before
    /// waiting for any reply), and fold the replies into its result.
    pub(crate) async fn execute<O>(&self, op: O) -> O::Output
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let deadline = Instant::now() + self.inner.config.io_timeout;
        let mut call = match Call::start(op, &self.inner.router) {
            Ok(call) => call,
            Err(refused) => {
                yield_now().await;
                return refused;
            }
        };
        let mut links: Vec<(usize, Result<Arc<Link>, Error>)> = Vec::new();
        let mut requests = Requests::default();
        let mut waited = false;
        for (index, dispatch) in call.take_dispatches() {
            let server = dispatch.server;
            let link = match links.iter().find(|(s, _)| *s == server) {
                Some((_, link)) => link.clone(),
                None => {
                    let link = self.link(server, deadline);
                    links.push((server, link.clone()));
                    link
                }
            };
            let sent = match link {
                Ok(link) => self
                    .submit(&link, dispatch.command, deadline)
                    .await
                    .map(|id| (link, id)),
                Err(e) => Err(e),
            };
            match sent {
                Ok((link, id)) => requests.0.push(InFlight {
                    index,
                    server,
                    link,
                    id,
                    result: None,
                }),
                Err(e) => call.complete(index, Err(e)),
            }
        }
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for r in requests.0.iter_mut().filter(|r| r.result.is_none()) {
                match r.link.poll_result(cx, r.id) {
                    Poll::Ready(result) => r.result = Some(result),
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                waited = true;
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let now = Instant::now();
        let mut replied: Vec<usize> = Vec::new();
        for r in std::mem::take(&mut requests.0) {
            let result = r.result.unwrap_or(Err(Error::Closed));
            let answered = result.is_ok() || result.as_ref().is_err_and(Error::is_reply_error);
            if answered && !replied.contains(&r.server) {
                replied.push(r.server);
            }
            call.complete(r.index, result);
        }
        for server in replied {
            if let Some(srv) = self.inner.servers.get(server) {
                lock(&srv.health).record(HealthEvent::Replied, now);
            }
        }
        if !waited {
            // Nothing was awaited (a fail-fast error): let the executor's
            // other tasks, the connection drivers among them, run.
            yield_now().await;
        }
        call.finish()
    }

    /// Close every connection once what is in flight on it is answered,
    /// and wait for them to end.
    pub(crate) async fn close(&self) {
        let links: Vec<Arc<Link>> = self
            .inner
            .servers
            .iter()
            .filter_map(|srv| lock(&srv.link).take())
            .collect();
        for link in &links {
            link.close();
        }
        std::future::poll_fn(|cx| {
            let mut open = false;
            for link in &links {
                open |= link.poll_ended(cx).is_pending();
            }
            if open {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }
}
