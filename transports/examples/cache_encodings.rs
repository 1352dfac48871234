//! Prints, for a fixed list of keys and values, the memcached keys, the
//! tracked key forms and the stored flags and bytes the cache uses. All of
//! it is pure: nothing connects.
//!
//! `tests/tests/cache_additivity.rs` builds and runs this program with and
//! without the `serde` feature and requires the same output: a feature
//! adds encodings, it never changes one.
//!
//! ```text
//! cargo run -p memwire --no-default-features --example cache_encodings
//! ```

use bytes::Bytes;
use memwire::cache::codec::{CacheKey, CacheValue};
use memwire::cache::keys::{hashed_key, raw_key};
use memwire::cache::tracking::Record;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(label: &str, key: impl CacheKey) {
    for ns in [None, Some("1"), Some("名前")] {
        let hashed = hashed_key(ns, &key).unwrap_or_else(|e| format!("error: {e}"));
        let raw = match key.raw_bytes() {
            Ok(bytes) => raw_key(ns, &bytes).unwrap_or_else(|e| format!("error: {e}")),
            Err(e) => format!("error: {e}"),
        };
        println!("key {label} ns={ns:?} hashed={hashed} raw={raw}");
    }
    let form = match key.key_form() {
        Ok(form) => {
            let mut record = Record::default();
            record.insert(form, 0, 0);
            hex(&record.encode())
        }
        Err(e) => format!("error: {e}"),
    };
    println!("key {label} tracked={form}");
}

fn value(label: &str, value: impl CacheValue) {
    match value.encode_value() {
        Ok(e) => println!("value {label} flags={} data={}", e.flags, hex(&e.data)),
        Err(e) => println!("value {label} error: {e}"),
    }
}

fn main() {
    let owned = String::from("owned");
    key("str", "cache_key");
    key("string", &owned);
    key("str-quote-unicode", "it's \"ä\" 🗝\n");
    key("byte-string", b"ab");
    key("byte-slice", &b"ab"[..]);
    key("byte-vec", vec![1u8, 2, 3]);
    key("bytes", Bytes::from_static(b"\xff\x00"));
    key("long", "k".repeat(251));
    key("i32", 1);
    key("i64-neg", -5i64);
    key("u64-max", u64::MAX);
    key("i128-big", 1i128 << 100);
    key("u16", 7u16);
    key("usize", 8usize);
    key("bool", true);
    key("f64", 2.5);
    key("f64-big", 1e16);
    key("f64-tie", 1658206780088562.0 + 0.25);
    key("f64-nan", f64::NAN);
    key("unit", ());
    key("none", None::<i32>);
    key("some", Some(3));
    key("tuple1", (1,));
    key("tuple2", (1, "a"));
    key("tuple-bytes", (vec![0xffu8], b"ok"));
    key("tuple6", (1, "b", 2.5, true, (), Some(-1i8)));
    key("nested", (("a",), (1, (2u32, "c"))));

    let text = String::from("cached value ä");
    value("str", "cached value");
    value("string", text.clone());
    value("string-ref", &text);
    value("byte-string", b"ab");
    value("byte-array", [1u8, 2, 3]);
    value("byte-slice", &b"ab"[..]);
    value("byte-vec", vec![1u8, 2, 3]);
    value("bytes", Bytes::from_static(b"\xff\x00"));
    value("i32", 1);
    value("u8", 200u8);
    value("i64-min", i64::MIN);
    value("u128-max", u128::MAX);
    value("bool", false);
    value("f64", 0.1);
    value("f64-int", 100.0);
    value("f64-small", 1.5e-7);
    value("f64-big", -1e300);
    value("f64-tie", 1658206780088562.0 + 0.25);
    value("f64-nan", f64::NAN);
}
