//! Structured replies (values with any bytes, flags, cas; stats; errors)
//! rendered to wire bytes and parsed back to exactly the same thing, alone
//! and pipelined through a `Connection` in arbitrary chunks.
//!
//! The check lives in core/tests/harness (shared with core's property tests
//! and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::roundtrip(data));
