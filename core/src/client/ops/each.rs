//! [`Each`]: one command per key, many keys, pipelined per server.

use std::marker::PhantomData;

use bytes::Bytes;

use crate::client::translate::{self, to_meta, Back};
use crate::client::{CheckedPlan, Dispatch, FromResponse, Operation, Protocol, Router};
use crate::error::Error;
use crate::request::Command;
use crate::response::Response;

/// One result per key, in request order: the outcome of a multi-key write
/// (`set_multi`, `delete_multi`, `touch_multi`).
pub type PerKey<T> = Vec<(Bytes, Result<T, Error>)>;

/// Many one-key commands — a `set` per item, a `delete` per key — each
/// sent to its key's server, all pipelined, each answered on its own: a
/// failed server fails only its own keys. Every command is checked before
/// any is sent.
///
/// ```
/// use memwire_core::client::{ops::Each, Operation, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Command, Config, Error, Response};
///
/// let router = Router::new(Cluster::from_strs(&["a", "b"])?, Config::default());
/// let mut op = Each::<()>::new([Command::delete("x").into(), Command::delete("y").into()]);
/// let mut out = Vec::new();
/// op.plan(&router, &mut out)?;
/// op.complete(0, Ok(Response::Deleted));
/// op.complete(1, Err(Error::NotFound));
/// let results = op.finish();
/// assert_eq!(&results[0].0[..], b"x");
/// assert!(results[0].1.is_ok() && matches!(results[1].1, Err(Error::NotFound)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Each<T> {
    commands: Vec<Command>,
    keys: Vec<Bytes>,
    results: Vec<Option<Result<Response, Error>>>,
    /// For each dispatch: the key position it answers (none for the `mn`
    /// after quiet meta writes) and how its meta reply reads back.
    dispatched: Vec<(Option<usize>, Option<Back>)>,
    _output: PhantomData<fn() -> T>,
}

impl<T: FromResponse> Each<T> {
    /// The operation for `commands`, each addressing exactly one key.
    pub fn new(commands: impl IntoIterator<Item = Command>) -> Each<T> {
        Each {
            commands: commands.into_iter().collect(),
            keys: Vec::new(),
            results: Vec::new(),
            dispatched: Vec::new(),
            _output: PhantomData,
        }
    }
}

impl<T: FromResponse> Operation for Each<T> {
    type Output = PerKey<T>;

    fn plan(&mut self, router: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error> {
        for command in &self.commands {
            if command.keys().len() != 1 {
                return Err(Error::InvalidArgument(
                    "each command of a multi-key write addresses exactly one key",
                ));
            }
            command.validate(router.limits())?;
        }
        let meta = router.protocol() == Protocol::Meta;
        // Servers whose quiet meta writes need a trailing `mn`.
        let mut fence: Vec<usize> = Vec::new();
        for (position, command) in std::mem::take(&mut self.commands).into_iter().enumerate() {
            let key = command.keys().first().cloned().unwrap_or_default();
            let server = router.route(&key);
            let (command, back) = match to_meta(&command).filter(|_| meta) {
                Some((meta_command, quiet, back)) => {
                    if quiet && !fence.contains(&server) {
                        fence.push(server);
                    }
                    (meta_command, Some(back))
                }
                None => (command, None),
            };
            out.push(Dispatch { server, command });
            self.dispatched.push((Some(position), back));
            self.keys.push(key);
        }
        for server in fence {
            out.push(Dispatch {
                server,
                command: Command::meta_noop(),
            });
            self.dispatched.push((None, None));
        }
        self.results = self.keys.iter().map(|_| None).collect();
        Ok(())
    }

    fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        let Some((Some(position), back)) = self.dispatched.get(index) else {
            return;
        };
        let result = match back {
            Some(back) => translate::back(back, result),
            None => result,
        };
        if let Some(slot) = self.results.get_mut(*position) {
            *slot = Some(result);
        }
    }

    fn finish(self) -> PerKey<T> {
        self.keys
            .into_iter()
            .zip(self.results)
            .map(|(key, result)| {
                let result = result
                    .unwrap_or(Err(Error::Closed))
                    .and_then(T::from_response);
                (key, result)
            })
            .collect()
    }

    fn fail(self, error: Error) -> PerKey<T> {
        self.commands
            .iter()
            .map(|c| c.keys().first().cloned().unwrap_or_default())
            .map(|key| (key, Err(error.clone())))
            .collect()
    }

    fn checks_plan(&self) -> Option<CheckedPlan> {
        // `plan` checks every text command it plans (meta ones are checked
        // as they are encoded).
        CheckedPlan::vouch()
    }
}
