//! The conformance suite (`memwire_tests::conformance`) on the async smol
//! client, each call run with `smol::block_on` (`memwire_tests::BlockOn`).
#![cfg(feature = "smol")]

use memwire::{AsyncCommands, FromConfig};

type Client = memwire_tests::BlockOn<memwire::smol::Client, memwire_tests::Smol>;

memwire_tests::conformance_suite!(Client);
memwire_tests::resilience_suite!(crate::Client);

/// The smol client is `Send + Sync` and cheap to clone, and its futures
/// are `Send` (they can be spawned on a multi-threaded executor).
#[test]
fn client_and_futures_are_send() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert::<memwire::smol::Client>();
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
