//! [`Operation`]: one user operation as commands for servers, and its
//! replies folded back into a typed result; [`Call`] runs one.

use std::time::Instant;

use crate::client::Router;
use crate::error::Error;
use crate::meta::MetaCommand;
use crate::request::{CheckedCommand, Command};
use crate::response::Response;

/// The commands of one round of a [`Call`], by index: iterate it. (The
/// first round, every planned command, needs no list.)
#[derive(Debug, Clone)]
#[must_use]
pub struct Round(Indexes);

#[derive(Debug, Clone)]
enum Indexes {
    All(std::ops::Range<usize>),
    Some(std::vec::IntoIter<usize>),
}

impl Round {
    /// Whether the round has no command: the call is done.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many commands the round has.
    pub fn len(&self) -> usize {
        match &self.0 {
            Indexes::All(r) => r.len(),
            Indexes::Some(v) => v.len(),
        }
    }
}

impl Iterator for Round {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match &mut self.0 {
            Indexes::All(r) => r.next(),
            Indexes::Some(v) => v.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for Round {}

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

    /// Whether [`Operation::plan`] checks every command it plans with
    /// [`Command::validate`] against the router's limits. Only this
    /// crate's operations can say so (a [`CheckedPlan`] cannot be made
    /// elsewhere); for any other, [`Call::start`] checks the commands
    /// itself. Either way a command of a [`Call`] is checked once
    /// ([`Call::checked`]).
    fn checks_plan(&self) -> Option<CheckedPlan> {
        None
    }
}

/// Proof that an [`Operation`] checks the commands it plans (see
/// [`Operation::checks_plan`]); only memwire-core makes one.
#[derive(Debug, Clone, Copy)]
pub struct CheckedPlan(());

impl CheckedPlan {
    /// For this crate's operations, whose `plan` checks every command.
    pub(crate) fn vouch() -> Option<CheckedPlan> {
        Some(CheckedPlan(()))
    }
}

/// One operation in progress: planned commands out, replies in, in
/// rounds. The first round sends every planned command; a read whose
/// connection failed under it (another request's fault, a reset: its
/// error is [`Error::Poisoned`], [`Error::Closed`] or [`Error::Io`]) is
/// sent once more in a later round, on a fresh connection, when the
/// router [retries reads](Router::retries_reads). A write is never
/// retried, a read never twice.
///
/// ```
/// use memwire_core::client::{ops, Call, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Command, Config, Error, Response, Value};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// let router = Router::new(Cluster::from_strs(&["127.0.0.1"])?, Config::default());
/// let op = ops::Keyed::<Option<Value>>::new(Command::get("k"));
/// let mut call = match Call::start(op, &router) {
///     Ok(call) => call,
///     Err(output) => panic!("refused before sending: {output:?}"),
/// };
/// let (now, deadline) = (Instant::now(), Instant::now() + Duration::from_secs(1));
/// let mut rounds = 0;
/// loop {
///     let round = call.next_round(now, deadline);
///     if round.is_empty() {
///         break;
///     }
///     rounds += 1;
///     for index in round {
///         let dispatch = call.dispatch(index);
///         // A transport sends `dispatch.command` to `dispatch.server` and
///         // reports the reply. Here the first connection fails under it:
///         assert_eq!(dispatch.server, 0);
///         let reply = if rounds == 1 {
///             Err(Error::Poisoned(Arc::new(Error::Timeout)))
///         } else {
///             Ok(Response::Values(vec![Value::new("k", 0, "v")]))
///         };
///         call.complete(index, reply);
///     }
/// }
/// assert_eq!(rounds, 2, "the read was retried once");
/// let hit = call.finish()?;
/// assert_eq!(hit.map(|v| v.data), Some("v".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct Call<O> {
    op: O,
    dispatches: Vec<Dispatch>,
    /// The limits every command was checked against.
    limits: crate::Config,
    /// Commands to send in the next round.
    due: Vec<usize>,
    /// Planned commands not sent yet (the first round): all of them.
    unsent: usize,
    /// Commands already sent twice.
    retried: Vec<usize>,
    retry_reads: bool,
}

impl<O: Operation> Call<O> {
    /// Plan `op` on `router`. When the input is refused the operation's
    /// result is returned at once as `Err`; nothing is to be sent.
    ///
    /// # Errors
    ///
    /// The operation's output for the refused input ([`Operation::fail`]).
    pub fn start(op: O, router: &Router) -> Result<Call<O>, O::Output> {
        Call::start_reusing(op, router, Vec::new())
    }

    /// [`Call::start`], planning into `buffer` (emptied first) rather than
    /// a new list: a transport that keeps the list of a finished call
    /// ([`Call::finish_reusing`]) allocates none per call.
    ///
    /// # Errors
    ///
    /// As [`Call::start`].
    pub fn start_reusing(
        mut op: O,
        router: &Router,
        mut buffer: Vec<Dispatch>,
    ) -> Result<Call<O>, O::Output> {
        buffer.clear();
        let mut dispatches = buffer;
        let limits = *router.limits();
        let planned = op.plan(router, &mut dispatches).and_then(|()| {
            if op.checks_plan().is_none() {
                for d in &dispatches {
                    d.command.validate(&limits)?;
                }
            }
            Ok(())
        });
        match planned {
            Ok(()) => Ok(Call {
                op,
                due: Vec::new(),
                unsent: dispatches.len(),
                dispatches,
                limits,
                retried: Vec::new(),
                retry_reads: router.retries_reads(),
            }),
            Err(e) => Err(op.fail(e)),
        }
    }

    /// The commands to send now, by index (empty once the call is done):
    /// every planned command at first, then the reads to retry — unless
    /// the call's `deadline` has passed at `now`: what was due then fails
    /// with [`Error::Timeout`], and the round is empty.
    pub fn next_round(&mut self, now: Instant, deadline: Instant) -> Round {
        let due = match std::mem::take(&mut self.unsent) {
            0 => Round(Indexes::Some(std::mem::take(&mut self.due).into_iter())),
            n => Round(Indexes::All(0..n)),
        };
        if now < deadline {
            return due;
        }
        for index in due {
            // Not a retryable failure: straight to the operation.
            self.op.complete(index, Err(Error::Timeout));
        }
        Round(Indexes::All(0..0))
    }

    /// The planned command `index` and its server.
    ///
    /// # Panics
    ///
    /// When `index` is not one [`Call::next_round`] gave.
    pub fn dispatch(&self, index: usize) -> &Dispatch {
        &self.dispatches[index]
    }

    /// The planned command `index`, checked: send it with
    /// [`Connection::send_checked`](crate::Connection::send_checked), which
    /// does not check it again.
    ///
    /// # Panics
    ///
    /// When `index` is not one [`Call::next_round`] gave.
    pub fn checked(&self, index: usize) -> CheckedCommand<'_> {
        CheckedCommand::vouched(&self.dispatches[index].command, self.limits)
    }

    /// Report the reply (or failure) of command `index`.
    pub fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        if let Err(e) = &result {
            if self.should_retry(index, e) {
                self.retried.push(index);
                self.due.push(index);
                if let Some(Dispatch {
                    command: Command::Meta(MetaCommand::Get(get)),
                    ..
                }) = self.dispatches.get_mut(index)
                {
                    // Alone on its new connection, with no `mn` after it.
                    get.quiet = false;
                }
                return;
            }
        }
        self.op.complete(index, result);
    }

    fn should_retry(&self, index: usize, error: &Error) -> bool {
        self.retry_reads
            && matches!(error, Error::Poisoned(_) | Error::Closed | Error::Io(_))
            && !self.retried.contains(&index)
            && self
                .dispatches
                .get(index)
                .is_some_and(|d| d.command.is_idempotent())
    }

    /// The operation's result.
    pub fn finish(self) -> O::Output {
        self.op.finish()
    }

    /// [`Call::finish`], handing back the call's list of commands, emptied,
    /// to plan a later call into ([`Call::start_reusing`]).
    pub fn finish_reusing(self) -> (O::Output, Vec<Dispatch>) {
        let mut dispatches = self.dispatches;
        dispatches.clear();
        (self.op.finish(), dispatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Cluster;
    use crate::{Config, Connection};

    /// An operation from outside this crate: it plans without checking.
    struct Unchecked(Command);

    impl Operation for Unchecked {
        type Output = Result<(), Error>;
        fn plan(&mut self, _: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error> {
            out.push(Dispatch {
                server: 0,
                command: self.0.clone(),
            });
            Ok(())
        }
        fn complete(&mut self, _: usize, _: Result<Response, Error>) {}
        fn finish(self) -> Result<(), Error> {
            Ok(())
        }
        fn fail(self, error: Error) -> Result<(), Error> {
            Err(error)
        }
    }

    #[test]
    fn a_call_checks_what_an_operation_does_not_vouch_for() {
        let router = Router::new(Cluster::from_strs(&["a"]).unwrap(), Config::default());
        let bad = Unchecked(Command::delete("two words").into());
        assert!(matches!(
            Call::start(bad, &router),
            Err(Err(Error::InvalidKey(_)))
        ));
        let call = Call::start(Unchecked(Command::delete("k").into()), &router).unwrap();
        let mut conn = Connection::new(Config::default());
        conn.send_checked(call.checked(0), None).unwrap();
        assert_eq!(conn.pending_output(), b"delete k\r\n");
    }

    #[test]
    fn a_reused_list_is_emptied() {
        let router = Router::new(Cluster::from_strs(&["a"]).unwrap(), Config::default());
        let stale = vec![Dispatch {
            server: 0,
            command: Command::version(),
        }];
        let op = Unchecked(Command::delete("k").into());
        let call = Call::start_reusing(op, &router, stale).unwrap();
        assert_eq!(call.dispatch(0).command, Command::delete("k").into());
        let (output, list) = call.finish_reusing();
        assert!(output.is_ok() && list.is_empty());
    }
}
