//! A batch of meta requests (quiet and loud, binary keys, the caller's
//! opaque tokens or the connection's) and its replies, maybe tampered with,
//! fed in two chunkings with polls, abandons and closes: identical
//! observations, bounded buffers, one completion per request, never a reply
//! carrying another request's token, and exact outcomes when untampered.
//!
//! The check lives in core/tests/harness/meta.rs (shared with core's
//! property tests and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::meta::meta_stream(data));
