//! The sans-IO client: what every transport's client decides, decided
//! once, with time passed in.
//!
//! A [`Connection`](crate::Connection) speaks to one server. A client
//! speaks to a cluster: it must place each key on its server, split a
//! multi-key request by server and by the per-request key limit, run
//! `stats` on every server, put the replies back together into the result
//! the caller asked for, and judge which servers are down. All of that is
//! here, as pure logic:
//!
//! * [`Router`]: the servers, ketama placement and protocol limits;
//! * [`Operation`] and [`Call`]: one user operation as [`Dispatch`]es
//!   (a command for a server) and the fold of their replies into a typed
//!   result; the operations themselves are in [`ops`], the reply types in
//!   [`FromResponse`];
//! * [`ServerHealth`]: the failure policy, fed [`HealthEvent`]s through
//!   the [`Router`] (which also ejects down servers when asked to);
//! * [`ServerCounters`]: what the client did with each server (requests,
//!   errors by kind, connections, bytes), read as [`ServerMetrics`] from
//!   [`Router::metrics`]; with the feature `tracing`, the decisions above
//!   are also `tracing` events (connects, lost connections with their
//!   cause, servers marked down and up, probes, retries, timeouts);
//! * [`ClientConfig`] and [`ClientBuilder`]: the settings of a client of
//!   any transport.
//!
//! # What a transport does with it
//!
//! A transport owns sockets: it moves bytes between them and
//! [`Connection`](crate::Connection)s, waits for readiness and deadlines,
//! and reconnects. To run one operation it plans a [`Call`], asks the
//! [`Router`] to admit each target server, sends each command of the round
//! on a connection to its server, reports each completion (a read whose
//! connection failed comes back in the next round, to be sent again), and
//! finishes:
//!
//! ```
//! use std::time::Instant;
//! use memwire_core::client::{ops, Admission, Call, ClientBuilder, HealthEvent};
//! use memwire_core::{Connection, Value};
//!
//! let config = ClientBuilder::new().server("127.0.0.1:11211").config()?;
//! let router = config.router()?;
//! let mut conns: Vec<Connection> =
//!     config.servers.iter().map(|_| Connection::new(config.limits)).collect();
//! let now = Instant::now(); // a transport reads its clock; the core never does
//! let deadline = now + config.io_timeout;
//!
//! let op = ops::GetMulti::new(["a", "b", "c"]);
//! let mut call = match Call::start(op, &router) {
//!     Ok(call) => call,
//!     Err(refused) => return Ok(println!("nothing sent: {refused:?}")),
//! };
//! let mut sent = Vec::new();
//! for index in call.next_round(now, deadline) {
//!     let dispatch = call.dispatch(index);
//!     let server = dispatch.server;
//!     match router.admit(server, now) {
//!         // (`Admission::Probe`: check the server with `version` first.)
//!         Ok(Admission::Go | Admission::Probe) => {
//!             let id = conns[server].send_command(&dispatch.command, Some(deadline))?;
//!             sent.push((index, server, id));
//!         }
//!         Err(no_server) => call.complete(index, Err(no_server)),
//!     }
//! }
//! // The transport writes each connection's output and feeds what it reads:
//! assert_eq!(conns[0].pending_output(), b"get a b c\r\n");
//! conns[0].handle_input(b"VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\nz\r\nEND\r\n");
//! for (index, server, id) in sent {
//!     let done = conns[server].poll_response().expect("answered");
//!     assert_eq!(done.id, id);
//!     router.record(server, HealthEvent::Replied, now);
//!     call.complete(index, done.result);
//! }
//! assert!(call.next_round(now, deadline).is_empty(), "nothing to retry");
//! let hits = call.finish()?; // in request order, misses absent
//! assert_eq!(hits.iter().map(|v| &v.key[..]).collect::<Vec<_>>(), [b"a", b"c"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod health;
mod metrics;
mod operation;
pub mod ops;
mod reply;
mod router;
pub mod stampede;
mod tls;
mod trace;
mod translate;

pub use config::{
    ClientBuilder, ClientConfig, ConfigError, FromConfig, Protocol, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IO_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_SERVER, DEFAULT_MAX_IDLE_PER_SERVER,
    DEFAULT_MAX_IN_FLIGHT,
};
pub use health::{counts_against_server, Admission, HealthEvent, ServerHealth, Transition};
pub use metrics::{ServerCounters, ServerMetrics};
pub use operation::{Call, CheckedPlan, Dispatch, Operation, Round};
pub use ops::{PerServer, StoreOptions};
pub use reply::FromResponse;
pub use router::{FailurePolicy, HealthHook, Router};
pub use tls::{ClientCert, TlsConfig};
