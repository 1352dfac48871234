//! Arbitrary bytes parsed as the reply to every kind of meta request (mg, ms,
//! md, ma, me, mn; quiet, keyed, with opaque tokens): no panic, the same
//! verdict however the bytes are split, only whole lines and blocks
//! consumed, and only replies the request can get (its token, its key).
//!
//! The check lives in core/tests/harness/meta.rs (shared with core's
//! property tests and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::meta::meta_parser(data));
