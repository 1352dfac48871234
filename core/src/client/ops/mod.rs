//! The operations the clients offer, as [`Operation`](super::Operation)s:
//!
//! * [`Keyed`]: one command for one key, on the key's server;
//! * [`GetMulti`]: a retrieval of many keys, split by server and by the
//!   per-request key limit, hits back in request order ([`Hits`], with
//!   the servers that failed);
//! * [`Each`]: one command per key for many keys (multi-key writes), one
//!   result per key ([`PerKey`]);
//! * [`Broadcast`]: one command on every server, one result per server.
//!
//! Each checks all of its input before anything is sent.

mod broadcast;
mod each;
mod get_multi;
mod hits;
mod keyed;
mod store_options;

pub use broadcast::{Broadcast, PerServer};
pub use each::{Each, PerKey};
pub use get_multi::GetMulti;
pub use hits::Hits;
pub use keyed::Keyed;
pub use store_options::StoreOptions;
