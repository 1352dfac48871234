//! memwire: a memcached client built on the sans-IO [`memwire_core`].
pub use memwire_core::*;
