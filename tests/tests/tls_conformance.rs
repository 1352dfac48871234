//! The whole conformance suite (`memwire_tests::conformance`) over TLS, on
//! every transport: each TCP server of the suite serves TLS with a
//! certificate made at test time, each client connects with
//! `memcacheds://` and trusts the test authority
//! (`memwire_tests::tls::suite_over_tls`).
#![cfg(feature = "tls")]

#[cfg(feature = "blocking")]
mod blocking {
    memwire_tests::conformance_suite!(over_tls memwire::blocking::Client);
    memwire_tests::pool_suite!(over_tls memwire::blocking::Client);
}

#[cfg(feature = "mio")]
mod mio {
    memwire_tests::conformance_suite!(over_tls memwire::mio::Client);
}

#[cfg(feature = "smol")]
mod smol {
    type Client = memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>;
    memwire_tests::conformance_suite!(over_tls Client);
}

#[cfg(feature = "tokio")]
mod tokio {
    type Client = memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>;
    memwire_tests::conformance_suite!(over_tls Client);
}

/// The suite's servers do serve TLS: `memcacheds://` URLs, and a client
/// in plain text gets no answer from them.
#[cfg(feature = "blocking")]
#[test]
fn the_suite_runs_over_tls() {
    use memwire::Commands;
    memwire_tests::tls::suite_over_tls();
    let server = memwire_tests::Memcached::start();
    assert!(server.is_tls() && server.url().starts_with("memcacheds://"));
    let plain: memwire::blocking::Client = memwire_tests::conformance::build(
        memwire::blocking::Client::builder().server(server.addr()),
    );
    let refused = plain.version();
    assert!(refused[0].1.is_err(), "{refused:?}");
    let secure: memwire::blocking::Client = memwire_tests::conformance::build(
        memwire::blocking::Client::builder().server(server.url()),
    );
    assert!(secure.version()[0].1.is_ok());
}
