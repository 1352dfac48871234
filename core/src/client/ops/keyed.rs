//! [`Keyed`]: one command for one key.

use std::marker::PhantomData;

use crate::client::translate::{self, to_meta, Back};
use crate::client::{CheckedPlan, Dispatch, FromResponse, Operation, Protocol, Router};
use crate::error::Error;
use crate::request::Command;
use crate::response::Response;

/// One command addressing one key, sent to the key's server; its reply
/// converted into `T` (see [`FromResponse`]).
///
/// ```
/// use memwire_core::client::{ops::Keyed, Operation, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Command, Config, Error, Response};
///
/// let router = Router::new(Cluster::from_strs(&["a", "b"])?, Config::default());
/// let mut op = Keyed::<u64>::new(Command::incr("hits", 1));
/// let mut out = Vec::new();
/// op.plan(&router, &mut out)?;
/// assert_eq!(out[0].server, router.route(b"hits"));
/// op.complete(0, Ok(Response::Number(2)));
/// assert_eq!(op.finish()?, 2);
///
/// // Bad input: nothing to send.
/// let mut bad = Keyed::<()>::new(Command::delete("two words"));
/// assert!(matches!(bad.plan(&router, &mut Vec::new()), Err(Error::InvalidKey(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Keyed<T> {
    state: State,
    /// How the reply reads back, when the command went in meta form.
    back: Option<Back>,
    _output: PhantomData<fn() -> T>,
}

/// Where a [`Keyed`] is: its command, then its reply (one or the other,
/// so that the operation moves cheaply).
#[derive(Debug)]
enum State {
    Unplanned(Command),
    Planned,
    Done(Result<Response, Error>),
}

impl<T: FromResponse> Keyed<T> {
    /// The operation for `command`, which must address exactly one key.
    pub fn new(command: impl Into<Command>) -> Keyed<T> {
        Keyed {
            state: State::Unplanned(command.into()),
            back: None,
            _output: PhantomData,
        }
    }
}

impl<T: FromResponse> Operation for Keyed<T> {
    type Output = Result<T, Error>;

    fn plan(&mut self, router: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error> {
        let command = match std::mem::replace(&mut self.state, State::Planned) {
            State::Unplanned(command) => command,
            other => {
                self.state = other;
                return Err(Error::InvalidArgument("an operation is planned once"));
            }
        };
        let [key] = command.keys() else {
            return Err(Error::InvalidArgument(
                "a keyed operation addresses exactly one key",
            ));
        };
        command.validate(router.limits())?;
        let server = router.route(key);
        if router.protocol() == Protocol::Meta {
            if let Some((meta, quiet, back)) = to_meta(&command) {
                meta.validate(router.limits())?;
                out.push(Dispatch {
                    server,
                    command: meta,
                });
                if quiet {
                    // A quiet write completes (or reports its error) when
                    // the reply to this no-op arrives.
                    out.push(Dispatch {
                        server,
                        command: Command::meta_noop(),
                    });
                }
                self.back = Some(back);
                return Ok(());
            }
        }
        out.push(Dispatch { server, command });
        Ok(())
    }

    #[inline]
    fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        if index > 0 {
            // The no-op after a quiet write: its reply says nothing of the
            // write, which has completed by then.
            return;
        }
        // The reply moves once: it is large.
        let Some(back) = &self.back else {
            self.state = State::Done(result);
            return;
        };
        self.state = State::Done(translate::back(back, result));
    }

    #[inline]
    fn finish(self) -> Result<T, Error> {
        // Every planned command completes before `finish`; `Closed` only
        // if a transport broke that rule.
        match self.state {
            State::Done(result) => T::from_response(result?),
            _ => Err(Error::Closed),
        }
    }

    fn fail(self, error: Error) -> Result<T, Error> {
        Err(error)
    }

    fn checks_plan(&self) -> Option<CheckedPlan> {
        // `plan` checks every text command it plans (meta ones are checked
        // as they are encoded).
        CheckedPlan::vouch()
    }
}
