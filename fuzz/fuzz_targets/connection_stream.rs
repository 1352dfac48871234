//! Requests queued on a `Connection`, then reply bytes (well-formed
//! answers, tokens and noise) fed in two different chunkings, with polls,
//! timeouts, abandons, sends, writes and closes at the same stream offsets:
//! no panic, no hang, bounded buffers, identical observations, and every
//! request answered exactly once with a reply of its kind.
//!
//! The check lives in core/tests/harness (shared with core's property tests
//! and regression replays); see fuzz/README.md.
#![no_main]

#[path = "../../core/tests/harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::connection_stream(data));
