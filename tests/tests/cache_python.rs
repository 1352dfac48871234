//! Values shared with Python through one real memcached, both ways: what
//! pymemcache stores, memwire's `Python<T>` reads as the same values, and
//! what memwire stores, pymemcache reads back as the same Python values
//! (same type, same value).
//!
//! pymemcache runs with `serde=pymemcache.serde.pickle_serde`: its
//! `python_memcache_serializer` and `python_memcache_deserializer`, the
//! flags of python-memcached (0 bytes, 1 pickle, 2 int, 4 long, 16 text),
//! with pickles at Python's highest protocol (5 on Python 3.11); and a
//! second client, `mc2`, with `PickleSerde(pickle_version=2)`, the protocol
//! Python 2 reads and writes.
//!
//! Needs Debian's `python3-pymemcache` (`scripts/test` installs it); the
//! interpreter is `/usr/bin/python3` unless `PYMEMCACHE_PYTHON` names
//! another.
#![cfg(all(feature = "blocking", feature = "python"))]

use std::collections::BTreeMap;
use std::process::Command as Process;

use memwire::cache::blocking::Cache;
use memwire::cache::Python;
use memwire::Commands;
use memwire_tests::Memcached;

fn python() -> String {
    std::env::var("PYMEMCACHE_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// Run `script` with pymemcache clients `mc` (highest pickle protocol) and
/// `mc2` (protocol 2) on `server`, and `raw` (no serde); returns stdout.
fn pymemcache(server: &Memcached, script: &str) -> String {
    let program = format!(
        "from pymemcache.client.base import Client
from pymemcache import serde
addr = ('127.0.0.1', {port})
mc = Client(addr, serde=serde.pickle_serde)
mc2 = Client(addr, serde=serde.PickleSerde(pickle_version=2))
raw = Client(addr)
{script}",
        port = server.port()
    );
    let out = Process::new(python())
        .arg("-c")
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (install python3-pymemcache)", python()));
    assert!(
        out.status.success(),
        "pymemcache script failed (is Debian's python3-pymemcache installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cache(server: &Memcached) -> Cache {
    Cache::builder()
        .server(server.addr())
        .build()
        .expect("cache")
}

/// The flags memcached holds for `key`.
fn flags(cache: &Cache, key: &str) -> u32 {
    cache
        .client()
        .get(key)
        .expect("get")
        .unwrap_or_else(|| panic!("{key} missing"))
        .flags
}

#[test]
fn memwire_reads_what_pymemcache_stored() {
    let server = Memcached::start();
    let out = pymemcache(
        &server,
        r#"
mc.set('py:bytes', b'\x00\xffraw')
mc.set('py:str', 'h\xe9llo w\u00f6rld \u20ac')
mc.set('py:int', 42)
mc.set('py:neg', -7)
mc.set('py:big', 2**100)
mc.set('py:float', 2.5)
mc.set('py:list', [1, 'two', 3.5])
mc.set('py:dict', {'a': 1, 'b': 2})
mc.set('py:nested', {'k': [1, 2], 'j': []})
mc.set('py:tuple', (1, 'x'))
mc.set('py:none', None)
mc.set('py:bool', True)
mc2.set('py2:list', [1, 'two', 3.5])
mc2.set('py2:dict', {'a': 1, 'b': 2})
mc2.set('py2:float', -0.5)
print('stored')
"#,
    );
    assert_eq!(out.trim(), "stored");
    let c = cache(&server);
    let raw = c.raw();

    // The flags pymemcache used: bytes 0, text 16, int 2, the rest pickled.
    for (key, want) in [
        ("py:bytes", 0),
        ("py:str", 16),
        ("py:int", 2),
        ("py:big", 2),
        ("py:float", 1),
        ("py:list", 1),
        ("py:dict", 1),
        ("py2:list", 1),
    ] {
        assert_eq!(flags(&c, key), want, "{key}");
    }
    let Python(bytes) = raw.query::<Python<Vec<u8>>>("py:bytes").unwrap().unwrap();
    assert_eq!(bytes, b"\x00\xffraw");
    let Python(text) = raw.query::<Python<String>>("py:str").unwrap().unwrap();
    assert_eq!(text, "héllo wörld €");
    let Python(n) = raw.query::<Python<i64>>("py:int").unwrap().unwrap();
    assert_eq!(n, 42);
    let Python(n) = raw.query::<Python<i32>>("py:neg").unwrap().unwrap();
    assert_eq!(n, -7);
    let Python(n) = raw.query::<Python<u128>>("py:big").unwrap().unwrap();
    assert_eq!(n, 1 << 100);
    let Python(f) = raw.query::<Python<f64>>("py:float").unwrap().unwrap();
    assert_eq!(f, 2.5);
    type Mixed = (i64, String, f64);
    let Python(list) = raw.query::<Python<Mixed>>("py:list").unwrap().unwrap();
    assert_eq!(list, (1, "two".to_string(), 3.5));
    let Python(list) = raw.query::<Python<Mixed>>("py2:list").unwrap().unwrap();
    assert_eq!(list, (1, "two".to_string(), 3.5));
    let want: BTreeMap<String, i64> = [("a".into(), 1), ("b".into(), 2)].into();
    for key in ["py:dict", "py2:dict"] {
        let Python(dict) = raw
            .query::<Python<BTreeMap<String, i64>>>(key)
            .unwrap()
            .unwrap();
        assert_eq!(dict, want, "{key}");
    }
    let Python(nested) = raw
        .query::<Python<BTreeMap<String, Vec<i64>>>>("py:nested")
        .unwrap()
        .unwrap();
    assert_eq!(
        nested,
        [("j".into(), vec![]), ("k".into(), vec![1, 2])].into()
    );
    let Python(tuple) = raw
        .query::<Python<(u8, String)>>("py:tuple")
        .unwrap()
        .unwrap();
    assert_eq!(tuple, (1, "x".to_string()));
    let Python(none) = raw
        .query::<Python<Option<i32>>>("py:none")
        .unwrap()
        .unwrap();
    assert_eq!(none, None);
    let Python(b) = raw.query::<Python<bool>>("py:bool").unwrap().unwrap();
    assert!(b);
    let Python(f) = raw.query::<Python<f64>>("py2:float").unwrap().unwrap();
    assert_eq!(f, -0.5);
    // Python's ints are memwire's native integers too (flags 2, decimal).
    assert_eq!(raw.query::<i64>("py:int").unwrap(), Some(42));
    // A value of another type is a decode error, not a wrong value.
    assert!(raw.query::<Python<i64>>("py:str").is_err());
}

#[test]
fn pymemcache_reads_what_memwire_stored() {
    let server = Memcached::start();
    let c = cache(&server);
    let raw = c.raw();
    let dict: BTreeMap<&str, i32> = [("a", 1), ("b", 2)].into();
    raw.set("rs:text", Python("héllo wörld €")).unwrap();
    raw.set("rs:bytes", vec![0u8, 0xff, b'r']).unwrap(); // native bytes: flags 0
    raw.set("rs:int", Python(42)).unwrap();
    raw.set("rs:native_int", -7i64).unwrap(); // native integers: flags 2
    raw.set("rs:big", Python(1u128 << 100)).unwrap();
    raw.set("rs:float", Python(2.5)).unwrap();
    raw.set("rs:list", Python(vec![1, 2, 3])).unwrap();
    raw.set("rs:strings", Python(["a", "b"])).unwrap();
    raw.set("rs:tuple", Python((1, "two", 3.5))).unwrap();
    raw.set("rs:dict", Python(&dict)).unwrap();
    raw.set("rs:none", Python(None::<i32>)).unwrap();
    raw.set("rs:bool", Python(true)).unwrap();
    let out = pymemcache(
        &server,
        r#"
MISS = object()
want = {
    'rs:text': 'h\xe9llo w\u00f6rld \u20ac',
    'rs:bytes': b'\x00\xffr',
    'rs:int': 42,
    'rs:native_int': -7,
    'rs:big': 2**100,
    'rs:float': 2.5,
    'rs:list': [1, 2, 3],
    'rs:strings': ('a', 'b'),
    'rs:tuple': (1, 'two', 3.5),
    'rs:dict': {'a': 1, 'b': 2},
    'rs:none': None,
    'rs:bool': True,
}
bad = []
for client in (mc, mc2):
    for key, value in want.items():
        got = client.get(key, default=MISS)
        if got != value or type(got) is not type(value):
            bad.append((key, got, value))
# Every pickle is one Python 2 reads: no opcode above protocol 2.
import pickletools
for key in ('rs:float', 'rs:list', 'rs:tuple', 'rs:dict', 'rs:none', 'rs:bool'):
    data = raw.get(key)
    proto = max(op.proto for op, arg, pos in pickletools.genops(data))
    if proto > 2:
        bad.append((key, 'pickle protocol', proto))
print(len(bad), bad)
"#,
    );
    assert_eq!(out.trim(), "0 []", "pymemcache read other values");
}
