//! The conformance suite (`memwire_tests::conformance`) on the async smol
//! client, each call run with `smol::block_on`.
#![cfg(feature = "smol")]

memwire_tests::conformance_suite!(memwire::smol::Client);

/// The smol client is `Send + Sync` and cheap to clone, and its futures
/// are `Send` (they can be spawned on a multi-threaded executor).
#[test]
fn client_and_futures_are_send() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}
    assert::<memwire::smol::Client>();
    let c = memwire::smol::Client::new(["127.0.0.1:1"]).expect("config");
    assert_send(&c.get("k"));
    assert_send(&c.get_multi(["a", "b"]));
    assert_send(&c.set("k", "v"));
    assert_send(&c.stats());
    assert_send(&c.close());
}
