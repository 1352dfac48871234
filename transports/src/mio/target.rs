//! [`Target`]: the commands of one round of a call for one server, and how
//! far they got — waiting to be admitted, waiting for a probe of the
//! server, or being queued on its connection.

use std::time::Instant;

use memwire_core::client::{Call, Operation, Round};
use memwire_core::Error;
use smallvec::SmallVec;

use super::shared::Ticket;

/// Where a target stands.
#[derive(Debug)]
enum Stage {
    /// The router is to be asked whether the server may be used: at
    /// `again`, after `refusal` while another caller probed it (at once
    /// when there was none).
    Admit {
        again: Option<Instant>,
        refusal: Option<Error>,
    },
    /// This call checks the server first: the ticket of its probe.
    Probe(Ticket),
    /// Admitted: the commands are queued as the connection has room.
    Send,
    /// Every command was failed.
    Done,
}

/// The targets of a round: one server's inline, so that a one-server
/// call allocates no list.
pub(super) type Targets = SmallVec<[Target; 1]>;

/// The commands of one round of a call for one server, by index in the
/// call, not yet queued on the server's connection.
#[derive(Debug)]
pub(super) struct Target {
    server: usize,
    stage: Stage,
    /// The commands, in call order (one inline); those from `next` on are
    /// not queued yet.
    commands: SmallVec<[usize; 1]>,
    next: usize,
}

impl Target {
    /// Group the commands of a round by server.
    pub(super) fn group<O: Operation>(call: &Call<O>, round: Round) -> Targets {
        let mut targets = Targets::new();
        for index in round {
            let server = call.dispatch(index).server;
            match targets.iter_mut().find(|t| t.server == server) {
                Some(target) => target.commands.push(index),
                None => targets.push(Target {
                    server,
                    stage: Stage::Admit {
                        again: None,
                        refusal: None,
                    },
                    commands: SmallVec::from_elem(index, 1),
                    next: 0,
                }),
            }
        }
        targets
    }

    /// The commands not queued yet.
    fn unsent(&self) -> &[usize] {
        self.commands.get(self.next..).unwrap_or_default()
    }

    /// The server (its index in the call's router).
    pub(super) fn server(&self) -> usize {
        self.server
    }

    /// Whether the router is to be asked about the server at `now`.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        match &self.stage {
            Stage::Admit { again, .. } => !again.is_some_and(|t| t > now),
            _ => false,
        }
    }

    /// When the router is to be asked again, while refused.
    pub(super) fn ask_again_at(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Admit { again, .. } => *again,
            _ => None,
        }
    }

    /// The ticket of this call's probe of the server, while it runs.
    pub(super) fn probe(&self) -> Option<Ticket> {
        match &self.stage {
            Stage::Probe(ticket) => Some(*ticket),
            _ => None,
        }
    }

    /// Whether commands wait to be queued: for the router, or for room on
    /// the connection.
    pub(super) fn is_waiting(&self) -> bool {
        matches!(self.stage, Stage::Admit { .. } | Stage::Send) && !self.unsent().is_empty()
    }

    /// Whether admitted commands wait for room on the connection.
    pub(super) fn is_sending(&self) -> bool {
        matches!(self.stage, Stage::Send) && !self.unsent().is_empty()
    }

    /// The router refused the server while another caller probes it: ask
    /// again at `again`.
    pub(super) fn refused(&mut self, again: Instant, refusal: Error) {
        self.stage = Stage::Admit {
            again: Some(again),
            refusal: Some(refusal),
        };
    }

    /// The server is being checked by this call's probe.
    pub(super) fn probing(&mut self, ticket: Ticket) {
        self.stage = Stage::Probe(ticket);
    }

    /// The server may be used.
    pub(super) fn admitted(&mut self) {
        self.stage = Stage::Send;
    }

    /// The next command to queue, once admitted.
    pub(super) fn next_unsent(&mut self) -> Option<usize> {
        match self.stage {
            Stage::Send => {
                let index = self.unsent().first().copied()?;
                self.next += 1;
                Some(index)
            }
            _ => None,
        }
    }

    /// Fail the commands not yet queued with `error`.
    pub(super) fn fail<O: Operation>(&mut self, call: &mut Call<O>, error: &Error) {
        for &index in self.unsent() {
            call.complete(index, Err(error.clone()));
        }
        self.next = self.commands.len();
        self.stage = Stage::Done;
    }

    /// The call's deadline passed: fail the commands still waiting to be
    /// queued — with the refusal when the router kept refusing, else
    /// [`Error::Timeout`]. A probe under way is left to its connection,
    /// which fails it by the same deadline.
    pub(super) fn expire<O: Operation>(&mut self, call: &mut Call<O>) {
        let error = match &mut self.stage {
            Stage::Probe(_) | Stage::Done => return,
            Stage::Admit { refusal, .. } => refusal.take().unwrap_or(Error::Timeout),
            Stage::Send => Error::Timeout,
        };
        self.fail(call, &error);
    }
}
