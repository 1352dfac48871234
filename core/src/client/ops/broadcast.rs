//! [`Broadcast`]: one command on every server.

use crate::client::{CheckedPlan, Dispatch, FromResponse, Operation, Router};
use crate::cluster::ServerAddr;
use crate::error::Error;
use crate::request::Command;
use crate::response::Response;

/// One result per server, in the order the servers were configured: the
/// answer of server-wide commands (`stats`, `flush_all`, `version`, ...).
pub type PerServer<T> = Vec<(ServerAddr, Result<T, Error>)>;

/// The same command on every server; each server's reply converted into
/// `T`. A server that fails only fails its own entry.
///
/// ```
/// use memwire_core::client::{ops::Broadcast, Operation, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Command, Config, Error, Response};
///
/// let router = Router::new(Cluster::from_strs(&["a", "b"])?, Config::default());
/// let mut op = Broadcast::<String>::new(Command::version());
/// let mut out = Vec::new();
/// op.plan(&router, &mut out)?;
/// assert_eq!(out.iter().map(|d| d.server).collect::<Vec<_>>(), [0, 1]);
/// op.complete(0, Ok(Response::Version("1.6.21".into())));
/// op.complete(1, Err(Error::Timeout));
/// let per_server = op.finish();
/// assert_eq!(per_server[0].0.to_string(), "a:11211");
/// assert_eq!(per_server[0].1.as_deref().ok(), Some("1.6.21"));
/// assert!(per_server[1].1.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Broadcast<T> {
    command: Command,
    results: PerServer<T>,
}

impl<T: FromResponse> Broadcast<T> {
    /// The operation for `command`, a command without keys.
    pub fn new(command: impl Into<Command>) -> Broadcast<T> {
        Broadcast {
            command: command.into(),
            results: Vec::new(),
        }
    }
}

impl<T: FromResponse> Operation for Broadcast<T> {
    type Output = PerServer<T>;

    fn plan(&mut self, router: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error> {
        // Each entry fails until its server's reply says otherwise.
        self.results = router
            .servers()
            .iter()
            .map(|addr| (addr.clone(), Err(Error::Closed)))
            .collect();
        if !self.command.keys().is_empty() {
            return Err(Error::InvalidArgument(
                "a command sent to every server addresses no key",
            ));
        }
        self.command.validate(router.limits())?;
        out.extend((0..router.servers().len()).map(|server| Dispatch {
            server,
            command: self.command.clone(),
        }));
        Ok(())
    }

    fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        if let Some((_, slot)) = self.results.get_mut(index) {
            *slot = result.and_then(T::from_response);
        }
    }

    fn finish(self) -> PerServer<T> {
        self.results
    }

    fn fail(mut self, error: Error) -> PerServer<T> {
        for (_, slot) in &mut self.results {
            *slot = Err(error.clone());
        }
        self.results
    }

    fn checks_plan(&self) -> Option<CheckedPlan> {
        // `plan` checks every text command it plans (meta ones are checked
        // as they are encoded).
        CheckedPlan::vouch()
    }
}
