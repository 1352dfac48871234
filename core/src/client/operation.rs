//! [`Operation`]: one user operation as commands for servers, and its
//! replies folded back into a typed result; [`Call`] runs one.

use crate::client::Router;
use crate::error::Error;
use crate::request::Command;
use crate::response::Response;

/// One command of an operation and the server it goes to (an index into
/// [`Router::servers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The server's index.
    pub server: usize,
    /// The command, already checked against the router's limits.
    pub command: Command,
}

/// A user operation — `get`, a multi-get across servers, `stats` on every
/// server — as the client layer sees it: which commands go where, and how
/// their replies become the result. Pure: no I/O, no clock.
///
/// A transport runs any operation the same way, usually through [`Call`]:
/// plan, send each [`Dispatch`] to its server, report each reply with
/// [`Operation::complete`], then [`Operation::finish`]. The operations
/// users call are in [`ops`](super::ops); a new one only needs this trait.
pub trait Operation {
    /// What the caller gets.
    type Output;

    /// Check the input and append the commands to send to `out`, in the
    /// order their replies are reported. On error nothing may be sent:
    /// the caller gets [`Operation::fail`].
    ///
    /// # Errors
    ///
    /// Bad input ([`Error::InvalidKey`], [`Error::ValueTooLarge`], ...).
    fn plan(&mut self, router: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error>;

    /// The reply (or failure) of the `index`-th planned command.
    fn complete(&mut self, index: usize, result: Result<Response, Error>);

    /// The result, once every planned command has completed.
    fn finish(self) -> Self::Output;

    /// The result when planning failed with `error`; nothing was sent.
    fn fail(self, error: Error) -> Self::Output;
}

/// One operation in progress: planned commands out, replies in.
///
/// ```
/// use memwire_core::client::{ops, Call, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Command, Config, Response, Value};
///
/// let router = Router::new(Cluster::from_strs(&["127.0.0.1"])?, Config::default());
/// let op = ops::Keyed::<Option<Value>>::new(Command::get("k"));
/// let mut call = match Call::start(op, &router) {
///     Ok(call) => call,
///     Err(output) => panic!("refused before sending: {output:?}"),
/// };
/// for (index, dispatch) in call.take_dispatches() {
///     // A transport sends `dispatch.command` to `dispatch.server` here,
///     // and reports the reply when it arrives:
///     assert_eq!(dispatch.server, 0);
///     call.complete(index, Ok(Response::Values(vec![Value::new("k", 0, "v")])));
/// }
/// let hit = call.finish()?;
/// assert_eq!(hit.map(|v| v.data), Some("v".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct Call<O> {
    op: O,
    dispatches: Vec<Dispatch>,
}

impl<O: Operation> Call<O> {
    /// Plan `op` on `router`. When the input is refused the operation's
    /// result is returned at once as `Err`; nothing is to be sent.
    ///
    /// # Errors
    ///
    /// The operation's output for the refused input ([`Operation::fail`]).
    pub fn start(mut op: O, router: &Router) -> Result<Call<O>, O::Output> {
        let mut dispatches = Vec::new();
        match op.plan(router, &mut dispatches) {
            Ok(()) => Ok(Call { op, dispatches }),
            Err(e) => Err(op.fail(e)),
        }
    }

    /// The planned commands, each with the index to report its reply
    /// under. Takes them out of the call: call once.
    pub fn take_dispatches(&mut self) -> impl Iterator<Item = (usize, Dispatch)> {
        std::mem::take(&mut self.dispatches).into_iter().enumerate()
    }

    /// Report the reply (or failure) of command `index`.
    pub fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        self.op.complete(index, result);
    }

    /// The operation's result.
    pub fn finish(self) -> O::Output {
        self.op.finish()
    }
}
