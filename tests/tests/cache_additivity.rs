//! Cargo features are additive: turning `serde` on must not change a
//! single memcached key, tracked key or stored byte of code that compiles
//! without it. This builds the same program
//! (`transports/examples/cache_encodings.rs`, which prints the keys and
//! encodings the cache uses for a fixed list of keys and values) with and
//! without the feature, runs both, and compares every line.
//!
//! The nested builds use a target directory of their own (inside this
//! test's), so they never wait on the lock of the cargo running the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
}

/// `<target>/additivity`, next to `<target>/<profile>/deps/<this test>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the test runs from <target>/<profile>/deps");
    target.join("additivity")
}

/// The program's output with `features` (and no default features).
fn encodings(features: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", target_dir())
        .args([
            "run",
            "--quiet",
            "-p",
            "memwire",
            "--example",
            "cache_encodings",
        ])
        .args(["--no-default-features", "--features", features])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cache_encodings with features {features:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_serde_feature_changes_no_key_and_no_stored_byte() {
    let without = encodings("");
    let with = encodings("serde");

    // The program prints what it should (so that equal outputs mean
    // something): the seed's key, and one encoding of each kind.
    for expected in [
        "key str ns=None hashed=188693688126b424eb89e1385eca6f01 raw=cache_key",
        "key byte-string ns=None hashed=99d82b3967279e938772903b469e005a raw=ab",
        "key i32 tracked=6d656d776972652d6b65797320310a30206a2033310a",
        "value str flags=1 data=6361636865642076616c7565",
        "value byte-vec flags=0 data=010203",
        "value byte-string flags=0 data=6162",
        "value i32 flags=2 data=31",
        "value bool flags=2 data=66616c7365",
        "value f64 flags=2 data=302e31",
    ] {
        assert!(
            without.lines().any(|l| l == expected),
            "missing {expected:?} in:\n{without}"
        );
    }
    assert!(without.lines().count() > 100, "{without}");

    let (a, b): (Vec<&str>, Vec<&str>) = (without.lines().collect(), with.lines().collect());
    for (line_without, line_with) in a.iter().zip(&b) {
        assert_eq!(
            line_without, line_with,
            "the serde feature changed an encoding"
        );
    }
    assert_eq!(a.len(), b.len(), "the serde feature changed the output");
}
