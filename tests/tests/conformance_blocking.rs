//! The conformance suite (`memwire_tests::conformance`) on the blocking
//! client, with the bounded-pool cases of a pooled transport.
#![cfg(feature = "blocking")]

memwire_tests::conformance_suite!(memwire::blocking::Client);
memwire_tests::resilience_suite!(memwire::blocking::Client);
memwire_tests::pool_suite!(memwire::blocking::Client);

/// The blocking client is `Send + Sync` and cheap to clone.
#[test]
fn client_is_send_sync_clone() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<memwire::blocking::Client>();
}

/// The same suites, the client speaking the meta protocol.
mod meta {
    memwire_tests::conformance_suite!(memwire_tests::Meta<memwire::blocking::Client>);
    memwire_tests::resilience_suite!(memwire_tests::Meta<memwire::blocking::Client>);
}
