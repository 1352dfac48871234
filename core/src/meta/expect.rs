//! [`MetaExpect`]: what the reply to a meta request may look like, and what
//! it must echo.

use bytes::Bytes;

use crate::meta::opaque::Opaque;
use crate::meta::reply::{MetaReply, MetaStatus};

/// Which meta command a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaKind {
    /// `mg`: `VA` (if the value was asked for), `HD` or `EN`.
    Get,
    /// `ms`: `HD`, `NS`, `EX` or `NF`.
    Set,
    /// `md`: `HD`, `NF`, `EX` or `NS`.
    Delete,
    /// `ma`: `VA` (if the value was asked for), `HD`, `NF`, `NS` or `EX`.
    Arithmetic,
    /// `me`: `ME ...` or `EN`.
    Debug,
    /// `mn`: `MN`.
    NoOp,
}

/// The expectation of a meta request's reply (inside
/// [`Expect::Meta`](crate::Expect::Meta)): its kind, and what the reply must
/// echo — the opaque token exactly, the key (when returned) as the raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaExpect {
    /// The command.
    pub kind: MetaKind,
    /// The raw key (`None` for `mn`).
    pub key: Option<Bytes>,
    /// The opaque token the reply must carry (and none if `None`).
    pub opaque: Option<Opaque>,
    /// Quiet (`q`): the nominal outcome sends no reply.
    pub quiet: bool,
    /// The value was asked for (`v`): `VA` is possible.
    pub value: bool,
}

impl MetaExpect {
    /// An expectation with no key, opaque, quiet mode or value (for tests
    /// and clients of your own; [`MetaCommand::encode`] returns the real
    /// one).
    ///
    /// [`MetaCommand::encode`]: crate::meta::MetaCommand::encode
    pub fn new(kind: MetaKind) -> MetaExpect {
        MetaExpect {
            kind,
            key: None,
            opaque: None,
            quiet: false,
            value: false,
        }
    }

    /// A short name of the request kind, for error messages.
    pub fn name(&self) -> &'static str {
        match self.kind {
            MetaKind::Get => "mg",
            MetaKind::Set => "ms",
            MetaKind::Delete => "md",
            MetaKind::Arithmetic => "ma",
            MetaKind::Debug => "me",
            MetaKind::NoOp => "mn",
        }
    }

    /// What the silence of a quiet request means: a miss for `mg`, success
    /// for `ms`, `md` and `ma`. `None` when the request is not quiet.
    pub fn silent_outcome(&self) -> Option<MetaReply> {
        if !self.may_be_silent() {
            return None;
        }
        Some(MetaReply::implied(match self.kind {
            MetaKind::Get => MetaStatus::Miss,
            _ => MetaStatus::Done,
        }))
    }

    /// Whether the server may send nothing: the request is quiet and its
    /// silence means an outcome ([`MetaExpect::silent_outcome`]).
    pub(crate) fn may_be_silent(&self) -> bool {
        self.quiet && !matches!(self.kind, MetaKind::Debug | MetaKind::NoOp)
    }
}
