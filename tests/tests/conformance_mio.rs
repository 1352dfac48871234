//! The conformance suite (`memwire_tests::conformance`) on the mio
//! transport's ready-made client.
#![cfg(feature = "mio")]

memwire_tests::conformance_suite!(memwire::mio::Client);

/// The mio client is `Send + Sync` and cheap to clone.
#[test]
fn client_is_send_sync_clone() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<memwire::mio::Client>();
}
