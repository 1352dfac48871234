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
//! * [`ServerHealth`]: the failure policy, fed [`HealthEvent`]s;
//! * [`ClientConfig`] and [`ClientBuilder`]: the settings of a client of
//!   any transport.
//!
//! # What a transport does with it
//!
//! A transport owns sockets: it moves bytes between them and
//! [`Connection`](crate::Connection)s, waits for readiness and deadlines,
//! and reconnects. To run one operation it plans a [`Call`], asks each
//! target server's [`ServerHealth`] for admission, sends each command on a
//! connection to its server, reports each completion, and finishes:
//!
//! ```
//! use std::time::Instant;
//! use memwire_core::client::{ops, Call, ClientBuilder, HealthEvent};
//! use memwire_core::{Connection, Value};
//!
//! let config = ClientBuilder::new().server("127.0.0.1:11211").config()?;
//! let router = config.router()?;
//! let mut health = config.server_health();
//! let mut conns: Vec<Connection> =
//!     config.servers.iter().map(|_| Connection::new(config.protocol)).collect();
//! let now = Instant::now(); // a transport reads its clock; the core never does
//! let deadline = now + config.io_timeout;
//!
//! let op = ops::GetMulti::new(["a", "b", "c"]);
//! let mut call = match Call::start(op, &router) {
//!     Ok(call) => call,
//!     Err(refused) => return Ok(println!("nothing sent: {refused:?}")),
//! };
//! let mut sent = Vec::new();
//! for (index, dispatch) in call.take_dispatches() {
//!     let server = dispatch.server;
//!     match health[server].admit(now) {
//!         Ok(()) => sent.push((index, server, conns[server].send(dispatch.command, Some(deadline))?)),
//!         Err(no_server) => call.complete(index, Err(no_server)),
//!     }
//! }
//! // The transport writes each connection's output and feeds what it reads:
//! assert_eq!(conns[0].pending_output(), b"get a b c\r\n");
//! conns[0].handle_input(b"VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\nz\r\nEND\r\n");
//! for (index, server, id) in sent {
//!     let done = conns[server].poll_response().expect("answered");
//!     assert_eq!(done.id, id);
//!     health[server].record(HealthEvent::Replied, now);
//!     call.complete(index, done.result);
//! }
//! let hits: Vec<Value> = call.finish()?; // in request order, misses absent
//! assert_eq!(hits.iter().map(|v| &v.key[..]).collect::<Vec<_>>(), [b"a", b"c"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod health;
mod operation;
pub mod ops;
mod reply;
mod router;

pub use config::{
    ClientBuilder, ClientConfig, ConfigError, FromConfig, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IO_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_SERVER, DEFAULT_MAX_IDLE_PER_SERVER,
    DEFAULT_MAX_IN_FLIGHT,
};
pub use health::{counts_against_server, HealthEvent, ServerHealth};
pub use operation::{Call, Dispatch, Operation};
pub use ops::{PerServer, StoreOptions};
pub use reply::FromResponse;
pub use router::Router;
