//! The conformance suite (`memwire_tests::conformance`) on the async tokio
//! client, each call blocking on one shared multi-thread tokio runtime
//! (`memwire_tests::BlockOn`).
#![cfg(feature = "tokio")]

use memwire::{AsyncCommands, FromConfig};

type Client = memwire_tests::BlockOn<memwire::tokio::Client, memwire_tests::Tokio>;

memwire_tests::conformance_suite!(Client);
memwire_tests::resilience_suite!(crate::Client);

/// The tokio client is `Send + Sync` and cheap to clone, and its futures
/// are `Send` (they can be spawned on a multi-threaded runtime).
#[test]
fn client_and_futures_are_send() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert::<memwire::tokio::Client>();
    let c: Client = memwire_tests::conformance::build(Client::builder().server("127.0.0.1:1"));
    let c = c.inner();
    assert_send(&c.get("k"));
    assert_send(&c.get_multi(["a", "b"]));
    assert_send(&c.set("k", "v"));
    assert_send(&c.stats());
    assert_send(&c.close());
}

/// The same suites, the client speaking the meta protocol.
mod meta {
    memwire_tests::conformance_suite!(memwire_tests::Meta<crate::Client>);
    memwire_tests::resilience_suite!(memwire_tests::Meta<crate::Client>);
}
