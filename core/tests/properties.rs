//! The fuzz targets' invariants as property tests, so they run in every
//! `cargo test` even without cargo-fuzz. The checks themselves live in
//! `harness/` (shared with `fuzz/`): see there for what each one asserts.
//!
//! The structured checks are fed random bytes, which they decode with
//! `arbitrary` exactly as the fuzz targets do; proptest shrinks the bytes.
//! Set `PROPTEST_CASES` to run more cases.

mod harness;

use proptest::collection::vec;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Failures are kept as fuzz/regressions files instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Reply-shaped bytes: protocol tokens mixed with arbitrary bytes, so that
/// the parser gets past the first line often.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"VALUE a 0 1\r\nx\r\n".to_vec()),
        Just(b"VALUE foo 1 3 7\r\nabc\r\n".to_vec()),
        Just(b"VALUE k 0 ".to_vec()),
        Just(b"END\r\n".to_vec()),
        Just(b"STAT pid 5\r\n".to_vec()),
        Just(b"STAT items:1:number 3\r\n".to_vec()),
        Just(b"STAT 1:chunk_size 96\r\n".to_vec()),
        Just(b"STORED\r\n".to_vec()),
        Just(b"NOT_FOUND\r\n".to_vec()),
        Just(b"SERVER_ERROR x\r\n".to_vec()),
        Just(b"CLIENT_ERROR ".to_vec()),
        Just(b"ERROR\r\n".to_vec()),
        Just(b"VERSION 1.6\r\n".to_vec()),
        Just(b"42 \r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    (any::<u8>(), vec(token, 0..12)).prop_map(|(knob, parts)| {
        let mut v = vec![knob];
        v.extend(parts.concat());
        v
    })
}

proptest! {
    #![proptest_config(config())]

    /// Target `response_parser`.
    #[test]
    fn response_parser(data in wire()) {
        harness::response_parser(&data);
    }

    /// Target `response_parser` on plain random bytes.
    #[test]
    fn response_parser_random(data in vec(any::<u8>(), 0..256)) {
        harness::response_parser(&data);
    }

    /// Target `roundtrip`.
    #[test]
    fn roundtrip(data in vec(any::<u8>(), 0..2048)) {
        harness::roundtrip(&data);
    }

    /// Target `connection_stream`.
    #[test]
    fn connection_stream(data in vec(any::<u8>(), 0..2048)) {
        harness::connection_stream(&data);
    }

    /// Target `meta_parser`.
    #[test]
    fn meta_parser(data in meta_wire()) {
        harness::meta::meta_parser(&data);
    }

    /// Target `meta_parser` on plain random bytes.
    #[test]
    fn meta_parser_random(data in vec(any::<u8>(), 0..256)) {
        harness::meta::meta_parser(&data);
    }

    /// Target `meta_roundtrip`.
    #[test]
    fn meta_roundtrip(data in vec(any::<u8>(), 0..2048)) {
        harness::meta::meta_roundtrip(&data);
    }

    /// Target `meta_stream`.
    #[test]
    fn meta_stream(data in vec(any::<u8>(), 0..4096)) {
        harness::meta::meta_stream(&data);
    }

    /// Target `meta_stream`, on batches of many requests.
    #[test]
    fn meta_stream_batches(data in vec(any::<u8>(), 0..8192), n in 1usize..32) {
        harness::meta::meta_stream_batch(&data, n);
    }
}

/// Meta-reply-shaped bytes, as `wire` is for the text protocol.
fn meta_wire() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"VA 1 O1\r\nx\r\n".to_vec()),
        Just(b"VA 2 c5 t-1 f3\r\n42\r\n".to_vec()),
        Just(b"VA ".to_vec()),
        Just(b"HD".to_vec()),
        Just(b"HD O3 kk\r\n".to_vec()),
        Just(b"HD kYSBi b\r\n".to_vec()),
        Just(b"EN\r\n".to_vec()),
        Just(b"EN O2\r\n".to_vec()),
        Just(b"NS O3\r\n".to_vec()),
        Just(b"EX\r\n".to_vec()),
        Just(b"NF O4\r\n".to_vec()),
        Just(b"MN\r\n".to_vec()),
        Just(b"ME k exp=-1 la=1\r\n".to_vec()),
        Just(b" W X Z h1 l9 s3".to_vec()),
        Just(b"CLIENT_ERROR ".to_vec()),
        Just(b"\r\n".to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    (any::<u8>(), vec(token, 0..12)).prop_map(|(knob, parts)| {
        let mut v = vec![knob];
        v.extend(parts.concat());
        v
    })
}

/// What `meta_stream_batches` once found (saved as
/// `fuzz/regressions/meta_stream_batch/bare-miss-after-a-lost-reply`),
/// written out: `mg a O0` then `me a`, whose miss is a bare `EN` (`me`
/// takes no `O`), then `mn`; the `mg`'s reply is lost. The `EN` then lands
/// on the `mg` — nothing in it says otherwise, and a server older than
/// memcached 1.6.18 answers an `mg` miss with a bare `EN` too — and the
/// `MN` after it, which `me` cannot get, poisons. The check must take the
/// bare `EN` as attributed by position, like an error line, not as a reply
/// carrying another request's token.
#[test]
fn meta_stream_a_bare_miss_after_a_lost_reply() {
    use harness::meta::{
        meta_stream_input, MetaAnswer, MetaAnswerSeed, MetaKeySeed, MetaReqSeed, MetaStreamInput,
        Tamper,
    };
    let request = |kind: u8, opaque: Option<u8>| MetaReqSeed {
        kind,
        key: MetaKeySeed::Known(0),
        quiet: false,
        opaque,
        value: false,
        flags: 0,
        data: Vec::new(),
        number: 0,
        ttl: None,
        mode: 0,
    };
    // `outcome: 1`: `HD` for the `mg`, a miss for the `me`.
    let answer = MetaAnswer::Reply(MetaAnswerSeed {
        outcome: 1,
        ..MetaAnswerSeed::default()
    });
    let input = MetaStreamInput {
        requests: vec![
            (request(0, Some(0)), answer.clone()),
            (request(4, None), answer),
        ],
        auto_tokens: false,
        tamper: Some(Tamper::Drop(0)),
        events: Vec::new(),
        chunks_a: Vec::new(),
        chunks_b: vec![0],
    };
    meta_stream_input(&input);
}
