//! The examples of the memcached2 seed, one test each, on the blocking
//! client (see `memwire_tests::seed` for each example and its expected
//! results).
#![cfg(feature = "blocking")]

memwire_tests::seed_suite!(memwire::blocking::Client);
