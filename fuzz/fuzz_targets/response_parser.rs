//! Arbitrary bytes parsed as a reply to every kind of request: no panic,
//! the same verdict however the bytes are split, only whole lines and
//! blocks consumed, and only replies the request can get.
//!
//! The check lives in core/tests/harness (shared with core's property tests
//! and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::response_parser(data));
