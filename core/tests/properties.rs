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
}
