//! Structured meta replies (values, every returned flag, base64 keys, debug
//! lines, failures, errors, the silence of quiet requests) rendered to wire
//! bytes and parsed back to exactly the same thing, alone and pipelined
//! through a `Connection` ending with `mn`.
//!
//! The check lives in core/tests/harness/meta.rs (shared with core's
//! property tests and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::meta::meta_roundtrip(data));
