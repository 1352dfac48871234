//! memcached's meta protocol: `mg`, `ms`, `md`, `ma`, `mn`, `me`.
//!
//! Meta commands share a [`Connection`](crate::Connection) with the text
//! protocol. Build them with the `meta_*` constructors of
//! [`Command`](crate::Command) and the builders here ([`MetaGet`],
//! [`MetaSet`], [`MetaDelete`], [`MetaArithmetic`], [`MetaDebug`]); their
//! replies complete as [`Response::Meta`](crate::Response::Meta) with a
//! typed [`MetaReply`], or as the usual per-request errors (`NS` is
//! [`Error::NotStored`](crate::Error::NotStored), `EX`
//! [`Error::Exists`](crate::Error::Exists), `NF`
//! [`Error::NotFound`](crate::Error::NotFound)).
//!
//! * **Keys.** A valid text key travels as it is; any other non-empty key
//!   (binary, spaces, control bytes, longer than 250 bytes) travels
//!   base64-encoded with the `b` flag, and a returned `k` key is decoded
//!   back (see [`MetaKey`](crate::key::MetaKey)). Placement always hashes
//!   the raw key.
//! * **Attribution.** A reply's opaque token (`O`) must be the request's,
//!   and a returned key (`k`) the request's key; a mismatch poisons the
//!   connection, so a value is never delivered to the wrong request. (A
//!   bare `EN` is accepted: memcached before 1.6.18 reflects no flags on a
//!   miss.)
//! * **Servers.** The meta protocol as documented here (`HD`, not `OK`)
//!   is memcached 1.6.10 and later.
//! * **Quiet mode.** A quiet request (`q`) gets no reply for its nominal
//!   outcome (an `mg` miss, an `ms`/`md`/`ma` success). It stays pending
//!   and completes with that outcome, flagged [`MetaReply::silent`], when a
//!   reply to a *later* request arrives — typically the `MN` of a trailing
//!   `mn`. A reply that does arrive for it (a hit, a failure) is matched to
//!   it by its opaque token: the connection gives every quiet request
//!   without one a token of its own, and refuses a caller's token that a
//!   pending quiet request already uses. An error line (`SERVER_ERROR`, ...)
//!   carries no token: when more than one pending request could have
//!   caused it, the connection is poisoned
//!   ([`ProtocolError::AmbiguousError`](crate::ProtocolError::AmbiguousError)).
//!
//! # A quiet multi-get
//!
//! Three quiet `mg`s and an `mn`: the server answers the hits and `MN`;
//! each `mg` completes with its hit or, when `MN` arrives, with a miss.
//!
//! ```
//! use memwire_core::{Command, Config, Connection, Response};
//! use memwire_core::meta::MetaStatus;
//!
//! let mut conn = Connection::new(Config::default());
//! let ids: Vec<_> = ["k1", "k2", "k3"]
//!     .into_iter()
//!     .map(|k| conn.send(Command::meta_get(k).quiet().with_cas(), None))
//!     .collect::<Result<_, _>>()?;
//! let end = conn.send(Command::meta_noop(), None)?;
//! // The connection gave each quiet request an opaque token: its request id.
//! assert_eq!(
//!     conn.pending_output(),
//!     b"mg k1 c O0 q v\r\nmg k2 c O1 q v\r\nmg k3 c O2 q v\r\nmn\r\n"
//! );
//! let n = conn.pending_output().len();
//! conn.advance_output(n);
//!
//! // k1 and k3 hit, k2 misses (a quiet miss sends nothing).
//! conn.handle_input(b"VA 2 c7 O0\r\nv1\r\nVA 2 c9 O2\r\nv3\r\nMN\r\n");
//! let mut got = Vec::new();
//! while let Some(done) = conn.poll_response() {
//!     match done.result? {
//!         Response::Meta(reply) if done.id == end => assert_eq!(reply.status, MetaStatus::NoOp),
//!         Response::Meta(reply) => got.push((done.id, reply.value().cloned(), reply.flags.cas)),
//!         other => panic!("{other:?}"),
//!     }
//! }
//! assert_eq!(
//!     got,
//!     [
//!         (ids[0], Some("v1".into()), Some(7)),
//!         (ids[1], None, None), // silent miss, completed by MN
//!         (ids[2], Some("v3".into()), Some(9)),
//!     ]
//! );
//! # Ok::<(), memwire_core::Error>(())
//! ```

mod arithmetic;
mod command;
mod delete;
mod encode;
pub(crate) mod expect;
mod get;
mod opaque;
pub(crate) mod parse;
mod reply;
mod set;

pub use arithmetic::MetaArithmetic;
pub use command::{MetaCommand, MetaDebug};
pub use delete::MetaDelete;
pub use expect::{MetaExpect, MetaKind};
pub use get::MetaGet;
pub use opaque::Opaque;
pub use reply::{DebugInfo, MetaReply, MetaStatus, ReturnedFlags, Ttl};
pub use set::{MetaSet, MetaSetMode};
