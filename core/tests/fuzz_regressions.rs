//! Every input that ever crashed a fuzz target, replayed through the same
//! check: `fuzz/regressions/<target>/*` (see `fuzz/README.md`). Failures of
//! the property test `meta_stream_batches`, which has no fuzz target, are
//! kept in `fuzz/regressions/meta_stream_batch/`.

mod harness;

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return; // no crash was ever found for this target
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in files {
        let data = fs::read(&file).expect("readable regression input");
        eprintln!("{target}: {}", file.display());
        check(&data);
    }
}

#[test]
fn response_parser_regressions() {
    replay("response_parser", harness::response_parser);
}

#[test]
fn roundtrip_regressions() {
    replay("roundtrip", harness::roundtrip);
}

#[test]
fn connection_stream_regressions() {
    replay("connection_stream", harness::connection_stream);
}

#[test]
fn meta_parser_regressions() {
    replay("meta_parser", harness::meta::meta_parser);
}

#[test]
fn meta_roundtrip_regressions() {
    replay("meta_roundtrip", harness::meta::meta_roundtrip);
}

#[test]
fn meta_stream_regressions() {
    replay("meta_stream", harness::meta::meta_stream);
}

#[test]
fn meta_stream_batch_regressions() {
    replay("meta_stream_batch", harness::meta::meta_stream_batch_file);
}
