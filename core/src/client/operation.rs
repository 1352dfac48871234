//! [`Operation`]: one user operation as commands for servers, and its
//! replies folded back into a typed result; [`Call`] runs one.

use std::time::Instant;

use crate::client::metrics::Ledger;
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
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many commands the round has.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Indexes::All(r) => r.len(),
            Indexes::Some(v) => v.len(),
        }
    }
}

impl Iterator for Round {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match &mut self.0 {
            Indexes::All(r) => r.next(),
            Indexes::Some(v) => v.next(),
        }
    }

    #[inline]
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
///             Ok(Response::Values(vec![Value::new("k", 0, "v")].into()))
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
    /// Each command counted on its server's counters.
    ledger: Ledger,
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
    #[inline]
    pub fn start_reusing(
        op: O,
        router: &Router,
        mut buffer: Vec<Dispatch>,
    ) -> Result<Call<O>, O::Output> {
        buffer.clear();
        // Planned in place: an operation may be large to move.
        let mut call = Call {
            op,
            dispatches: buffer,
            limits: *router.limits(),
            due: Vec::new(),
            unsent: 0,
            retried: Vec::new(),
            retry_reads: router.retries_reads(),
            ledger: Ledger::new(router.meters().clone()),
        };
        match call.plan(router) {
            Ok(()) => {
                call.unsent = call.dispatches.len();
                Ok(call)
            }
            Err(e) => Err(call.op.fail(e)),
        }
    }

    /// Plan the operation into the call's list, and check what it
    /// planned unless it vouches for that.
    fn plan(&mut self, router: &Router) -> Result<(), Error> {
        self.op.plan(router, &mut self.dispatches)?;
        if self.op.checks_plan().is_none() {
            for d in &self.dispatches {
                d.command.validate(&self.limits)?;
            }
        }
        Ok(())
    }

    /// The commands to send now, by index (empty once the call is done):
    /// every planned command at first, then the reads to retry — unless
    /// the call's `deadline` has passed at `now`: what was due then fails
    /// with [`Error::Timeout`], and the round is empty. Each command
    /// counts as a request to its server
    /// ([`ServerMetrics`](super::ServerMetrics)); one not completed when
    /// the call is dropped counts as abandoned.
    pub fn next_round(&mut self, now: Instant, deadline: Instant) -> Round {
        let due = match std::mem::take(&mut self.unsent) {
            0 if self.due.is_empty() => return Round(Indexes::All(0..0)),
            0 => {
                let due = std::mem::take(&mut self.due);
                for &index in &due {
                    self.request(index);
                }
                Round(Indexes::Some(due.into_iter()))
            }
            n => {
                for index in 0..n {
                    self.request(index);
                }
                Round(Indexes::All(0..n))
            }
        };
        if now < deadline {
            return due;
        }
        for index in due {
            // Not a retryable failure: straight to the operation.
            self.count(index, &Err(Error::Timeout));
            self.op.complete(index, Err(Error::Timeout));
        }
        Round(Indexes::All(0..0))
    }

    /// Whether no round is left: every command completed and none is due
    /// to be sent again. [`Call::next_round`] would be empty whatever the
    /// time, so a transport need not read the clock to ask it.
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.unsent == 0 && self.due.is_empty()
    }

    /// Every planned command with its server, by index (what a transport
    /// describes a call by, in a span or a log line).
    ///
    /// ```
    /// use memwire_core::client::{ops, Call, Router};
    /// use memwire_core::cluster::Cluster;
    /// use memwire_core::Config;
    ///
    /// let router = Router::new(Cluster::from_strs(&["10.0.0.1", "10.0.0.2"])?, Config::default());
    /// let call = Call::start(ops::GetMulti::new(["a", "b", "c", "d"]), &router).ok().unwrap();
    /// let verbs: Vec<&str> = call.dispatches().iter().map(|d| d.command.name()).collect();
    /// assert!(verbs.iter().all(|&v| v == "get"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
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
    #[inline]
    pub fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        self.count(index, &result);
        if let Err(e) = &result {
            if self.should_retry(index, e) {
                if let Some(d) = self.dispatches.get(index) {
                    self.ledger.retry(d.server, e);
                }
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

    /// Count command `index` as a request to its server.
    fn request(&mut self, index: usize) {
        if let Some(d) = self.dispatches.get(index) {
            self.ledger.request(d.server);
        }
    }

    /// Count the completion of command `index` with `result`.
    fn count(&mut self, index: usize, result: &Result<Response, Error>) {
        if let Some(d) = self.dispatches.get(index) {
            self.ledger.completed(d.server, result);
        }
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
    #[inline]
    pub fn finish_reusing(self) -> (O::Output, Vec<Dispatch>) {
        let mut dispatches = self.dispatches;
        dispatches.clear();
        (self.op.finish(), dispatches)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::client::ops::{GetMulti, Keyed};
    use crate::client::{HealthEvent, ServerMetrics};
    use crate::cluster::Cluster;
    use crate::connection::Config;
    use crate::{Connection, Value, Values};

    fn router() -> Router {
        Router::new(
            Cluster::from_strs(&["a:1", "b:1"]).unwrap(),
            Config::default(),
        )
    }

    fn metrics(router: &Router, server: usize) -> ServerMetrics {
        router.metrics()[server].1
    }

    /// Run `call` to its end, each command's reply scripted by `reply`
    /// (given its server and how many times it was sent before).
    fn run<O: Operation>(
        mut call: Call<O>,
        now: Instant,
        mut reply: impl FnMut(usize, usize) -> Result<Response, Error>,
    ) -> O::Output {
        let deadline = now + Duration::from_secs(1);
        let mut sent = Vec::new();
        loop {
            let round = call.next_round(now, deadline);
            if round.is_empty() {
                return call.finish();
            }
            for index in round {
                let times = sent.iter().filter(|&&i| i == index).count();
                sent.push(index);
                let result = reply(call.dispatch(index).server, times);
                call.complete(index, result);
            }
        }
    }

    #[test]
    fn requests_completions_and_errors_are_counted_per_server() {
        let r = router();
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let on_b = keys.iter().filter(|k| r.server_for_key(k.as_bytes()) == 1);
        let on_b = on_b.count() as u64;
        assert!(on_b > 0 && on_b < 40);
        let call = Call::start(GetMulti::new(keys.iter()), &r).unwrap();
        let now = Instant::now();
        // `a` answers; `b` fails with a server error.
        let hits = run(call, now, |server, _| match server {
            0 => Ok(Response::Values(Values::new())),
            _ => Err(Error::Server("busy".into())),
        });
        assert_eq!(hits.unwrap().failures().len(), 1);
        let (a, b) = (metrics(&r, 0), metrics(&r, 1));
        assert!(a.requests >= 1 && a.requests == a.completed, "{a:?}");
        assert_eq!(a.server_errors, 0);
        assert!(b.requests >= 1 && b.requests == b.completed, "{b:?}");
        assert_eq!(b.server_errors, b.requests);
        assert_eq!((a.in_flight(), b.in_flight()), (0, 0));
    }

    #[test]
    fn a_retried_read_counts_twice_and_once_as_a_retry() {
        let r = router();
        let key = "k";
        let server = r.server_for_key(key.as_bytes());
        let call = Call::start(Keyed::<Option<Value>>::new(Command::get(key)), &r).unwrap();
        let hit = run(call, Instant::now(), |_, times| match times {
            0 => Err(Error::Poisoned(Arc::new(Error::Timeout))),
            _ => Ok(Response::Values(vec![Value::new("k", 0, "v")].into())),
        });
        assert!(hit.unwrap().is_some());
        let m = metrics(&r, server);
        assert_eq!((m.requests, m.completed, m.retries), (2, 2, 1));
        assert_eq!(m.timeouts, 1, "the first try failed by a timeout");
        assert_eq!(metrics(&r, 1 - server), ServerMetrics::default());
    }

    #[test]
    fn refused_and_overdue_commands_count_as_requests_that_failed() {
        let r = router();
        let call = Call::start(Keyed::<()>::new(Command::set("k", "v")), &r).unwrap();
        let server = r.server_for_key(b"k");
        let result = run(call, Instant::now(), |_, _| {
            Err(Error::NoServer("down".into()))
        });
        assert!(result.is_err());
        let mut call = Call::start(Keyed::<()>::new(Command::set("k", "v")), &r).unwrap();
        let now = Instant::now();
        assert!(call.next_round(now, now).is_empty(), "past its deadline");
        assert!(matches!(call.finish(), Err(Error::Timeout)));
        let m = metrics(&r, server);
        assert_eq!((m.requests, m.completed), (2, 2));
        assert_eq!((m.refused, m.timeouts, m.connection_errors), (1, 1, 0));
    }

    #[test]
    fn counts_stay_with_a_server_across_a_reconfiguration() {
        let r = router();
        let now = Instant::now();
        r.record(1, HealthEvent::Connected, now);
        r.record(1, HealthEvent::ConnectFailed, now);
        let key = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| r.server_for_key(k.as_bytes()) == 1)
            .unwrap();
        let mut call = Call::start(Keyed::<Option<Value>>::new(Command::get(key)), &r).unwrap();
        let index = call
            .next_round(now, now + Duration::from_secs(1))
            .next()
            .unwrap();
        assert_eq!(call.dispatch(index).server, 1);
        // `b` stays (now first), `a` goes, `c` is new.
        let next = r.reconfigured(
            Cluster::from_strs(&["b:1", "c:1"]).unwrap(),
            Config::default(),
            Default::default(),
        );
        assert_eq!(metrics(&next, 0).in_flight(), 1, "the call's request");
        // The call started on the old list completes on the counters the
        // new one shares.
        call.complete(index, Ok(Response::Values(Values::new())));
        let kept = metrics(&next, 0);
        assert_eq!((kept.requests, kept.completed), (1, 1));
        assert_eq!((kept.connections, kept.connect_failures), (1, 1));
        assert_eq!(metrics(&next, 1), ServerMetrics::default());
        assert_eq!(r.metrics()[1].1, kept);
    }

    #[test]
    fn a_call_dropped_mid_flight_settles_its_requests_as_abandoned() {
        let r = router();
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let now = Instant::now();
        let deadline = now + Duration::from_secs(1);
        // One server: its open request is settled.
        let mut call = Call::start(Keyed::<Option<Value>>::new(Command::get("k")), &r).unwrap();
        let server = r.server_for_key(b"k");
        assert_eq!(call.next_round(now, deadline).len(), 1);
        assert_eq!(metrics(&r, server).in_flight(), 1);
        drop(call);
        let m = metrics(&r, server);
        assert_eq!((m.requests, m.completed, m.abandoned), (1, 1, 1), "{m:?}");
        assert_eq!(m.in_flight(), 0);
        // Two servers, one answered: only the other's is abandoned.
        let r = router();
        let mut call = Call::start(GetMulti::new(keys.iter()), &r).unwrap();
        let round = call.next_round(now, deadline);
        assert_eq!(round.len(), 2, "one command per server");
        let answered = round.clone().next().unwrap();
        let answered_by = call.dispatch(answered).server;
        call.complete(answered, Ok(Response::Values(Values::new())));
        drop(call);
        let (a, b) = (metrics(&r, answered_by), metrics(&r, 1 - answered_by));
        assert_eq!((a.in_flight(), b.in_flight()), (0, 0));
        assert_eq!((a.abandoned, b.abandoned), (0, 1), "{a:?} {b:?}");
        assert_eq!((a.completed, b.completed), (1, 1));
        // A finished call abandons nothing.
        let before = metrics(&r, server);
        let call = Call::start(Keyed::<Option<Value>>::new(Command::get("k")), &r).unwrap();
        let _ = run(call, now, |_, _| Ok(Response::Values(Values::new())));
        let after = metrics(&r, server);
        assert_eq!(
            (after.requests, after.abandoned),
            (before.requests + 1, before.abandoned)
        );
        assert_eq!(after.in_flight(), 0);
    }

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
