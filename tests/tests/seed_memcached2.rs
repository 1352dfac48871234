//! The examples of the memcached2 seed, one test each, on every transport
//! enabled (see `memwire_tests::seed` for each example and its expected
//! results).

/// On the blocking client.
#[cfg(feature = "blocking")]
mod blocking {
    memwire_tests::seed_suite!(memwire::blocking::Client);
}

/// On the mio transport's ready-made client.
#[cfg(feature = "mio")]
mod mio {
    memwire_tests::seed_suite!(memwire::mio::Client);
}

/// On the async smol client, each call run with `smol::block_on`.
#[cfg(feature = "smol")]
mod smol {
    memwire_tests::seed_suite!(memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>);
}

/// On the async tokio client, each call blocking on a shared runtime.
#[cfg(feature = "tokio")]
mod tokio {
    memwire_tests::seed_suite!(memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>);
}
