//! The cache's explicit encodings against a real memcached: each native
//! key and value type round-trips and is stored with the documented flags
//! and bytes (the same with and without the `serde` feature), other
//! applications read text and bytes under raw keys, unknown flags are a
//! decode error, and with `serde`, `Json<T>` and `SerdeKey<T>` add serde
//! types.
#![cfg(feature = "blocking")]

use std::fmt::Debug;
use std::time::Duration;

use memwire::cache::blocking::Cache;
use memwire::cache::{CacheError, CacheValue, FromCacheValue};
use memwire::{Commands, StoreOptions};
use memwire_tests::Memcached;

fn cache(server: &Memcached) -> Cache {
    Cache::builder()
        .server(server.addr())
        .track_keys(true)
        .retry_after(Duration::from_millis(50))
        .on_error(|f| panic!("{f}"))
        .build()
        .unwrap()
}

/// Store `value` under the raw key `key`, check what memcached holds, and
/// read it back as `T`.
fn round_trip<V, T>(cache: &Cache, key: &str, value: V, flags: u32, data: &[u8]) -> T
where
    V: CacheValue,
    T: FromCacheValue + Debug,
{
    assert_eq!(cache.raw().set(key, value).unwrap(), key);
    let stored = cache.client().get(key).unwrap().unwrap();
    assert_eq!((stored.flags, &stored.data[..]), (flags, data), "{key}");
    cache.raw().query::<T>(key).unwrap().unwrap()
}

#[test]
fn native_values_round_trip_with_their_flags() {
    let server = Memcached::start();
    let cache = cache(&server);
    let s: String = round_trip(
        &cache,
        "str",
        "cached value ä",
        1,
        "cached value ä".as_bytes(),
    );
    assert_eq!(s, "cached value ä");
    let owned = String::from("owned");
    let s: String = round_trip(&cache, "string", &owned, 1, b"owned");
    assert_eq!(s, "owned");
    let v: Vec<u8> = round_trip(&cache, "vec", vec![0u8, 255, 10], 0, &[0, 255, 10]);
    assert_eq!(v, [0, 255, 10]);
    let b: Vec<u8> = round_trip(&cache, "array", [1u8, 2, 3], 0, &[1, 2, 3]);
    assert_eq!(b, [1, 2, 3]);
    let b: Vec<u8> = round_trip(&cache, "byte-string", b"ab", 0, b"ab");
    assert_eq!(b, b"ab");
    let b: Vec<u8> = round_trip(&cache, "slice", &b"\r\n"[..], 0, b"\r\n");
    assert_eq!(b, b"\r\n");
    let n: i32 = round_trip(&cache, "i32", -12, 2, b"-12");
    assert_eq!(n, -12);
    let n: u64 = round_trip(&cache, "u64", u64::MAX, 2, b"18446744073709551615");
    assert_eq!(n, u64::MAX);
    let n: u8 = round_trip(&cache, "u8", 200u8, 2, b"200");
    assert_eq!(n, 200);
    let n: i128 = round_trip(
        &cache,
        "i128",
        i128::MIN,
        2,
        i128::MIN.to_string().as_bytes(),
    );
    assert_eq!(n, i128::MIN);
    let b: bool = round_trip(&cache, "bool", true, 2, b"true");
    assert!(b);
    let f: f64 = round_trip(&cache, "f64", 2.5, 2, b"2.5");
    assert_eq!(f, 2.5);
    let f: f64 = round_trip(&cache, "f64-int", 100.0, 2, b"100.0");
    assert_eq!(f, 100.0);
    let f: f64 = round_trip(&cache, "f64-big", 1e300, 2, b"1e+300");
    assert_eq!(f, 1e300);
    // Bytes are read whatever the flags; text from text or bytes.
    let raw: Vec<u8> = cache.raw().query("i32").unwrap().unwrap();
    assert_eq!(raw, b"-12");
    assert!(
        matches!(
            cache.raw().query::<String>("vec"),
            Err(CacheError::Decode(_))
        ),
        "non-UTF-8 bytes are not text"
    );
    // Counts stored by the cache work with memcached's incr.
    let n: u32 = round_trip(&cache, "count", 41u32, 2, b"41");
    assert_eq!(cache.client().incr("count", n.into()).unwrap(), 82);
    assert_eq!(cache.raw().query::<u32>("count").unwrap(), Some(82));
    // NaN has no JSON form: an error, nothing stored.
    assert!(matches!(
        cache.raw().set("nan", f64::NAN),
        Err(CacheError::Encode(_))
    ));
    assert_eq!(cache.client().get("nan").unwrap(), None);
}

fn decode<T>(result: Result<Option<T>, CacheError>) -> bool {
    matches!(result, Err(CacheError::Decode(_)))
}

#[test]
fn a_value_of_another_type_or_unknown_flags_is_a_decode_error() {
    let server = Memcached::start();
    let cache = cache(&server);
    cache.raw().set("text", "x").unwrap();
    cache.raw().set("number", 1.5).unwrap();
    cache
        .client()
        .set_with("alien", "data", StoreOptions::new().flags(7))
        .unwrap();
    assert!(decode(cache.raw().query::<i32>("text")));
    assert!(decode(cache.raw().query::<bool>("text")));
    assert!(decode(cache.raw().query::<String>("number")));
    assert!(decode(cache.raw().query::<i32>("number")));
    assert!(decode(cache.raw().query::<String>("alien")));
    assert!(decode(cache.raw().query::<f64>("alien")));
    // Bytes take anything.
    assert_eq!(
        cache.raw().query::<Vec<u8>>("alien").unwrap(),
        Some(b"data".to_vec())
    );
}

#[test]
fn native_keys_round_trip_through_tracking() {
    let server = Memcached::start();
    let cache = cache(&server);

    let key = cache.set("cache_key", "cached value ä").unwrap();
    assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    // A string and the same bytes are the same key.
    assert_eq!(cache.set(b"cache_key", "v").unwrap(), key);
    assert_eq!(cache.set(&b"cache_key"[..], "v").unwrap(), key);
    assert_eq!(cache.set(String::from("cache_key"), "v").unwrap(), key);
    let mut keys: Vec<String> = cache.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["cache_key"]);

    let pairs = cache.ns("pairs");
    pairs.set((1, "a"), "x").unwrap();
    pairs.set((2, "b\"\n"), "y").unwrap();
    let mut keys: Vec<(i32, String)> = pairs.keys().unwrap();
    keys.sort();
    assert_eq!(keys, [(1, "a".into()), (2, "b\"\n".into())]);
    assert_eq!(
        pairs.query::<String>((2, "b\"\n")).unwrap().as_deref(),
        Some("y")
    );

    let mixed = cache.ns("mixed");
    mixed
        .set((vec![0xffu8], 2.5, true, (), Some(-1i8), 7u16), 1)
        .unwrap();
    type Mixed = (Vec<u8>, f64, bool, (), Option<i8>, u16);
    let keys: Vec<Mixed> = mixed.keys().unwrap();
    assert_eq!(keys, [(vec![0xff], 2.5, true, (), Some(-1), 7)]);

    let bytes = cache.ns("bytes");
    bytes.set(vec![0u8, 255], "b").unwrap();
    assert_eq!(bytes.keys::<Vec<u8>>().unwrap(), [vec![0, 255]]);
    assert!(matches!(bytes.keys::<String>(), Err(CacheError::Decode(_))));
    assert!(matches!(bytes.keys::<i32>(), Err(CacheError::Decode(_))));

    cache.raw().ns("NS_").set("a", "value of a").unwrap();
    assert_eq!(cache.ns("NS_").keys::<String>().unwrap(), ["a"]);
    assert!(matches!(
        cache.raw().set("a b", "x"),
        Err(CacheError::InvalidKey { .. })
    ));
    assert!(matches!(
        cache.raw().set(1, "x"),
        Err(CacheError::InvalidKey { .. })
    ));
}

#[cfg(feature = "serde")]
mod with_serde {
    use std::collections::BTreeMap;

    use memwire::cache::{Json, SerdeKey};

    use super::*;

    #[test]
    fn json_values() {
        let server = Memcached::start();
        let cache = cache(&server);
        let Json(v): Json<(String, Vec<i32>)> = round_trip(
            &cache,
            "tuple",
            Json(("ä", vec![1, 2])),
            2,
            "[\"ä\",[1,2]]".as_bytes(),
        );
        assert_eq!(v, ("ä".to_string(), vec![1, 2]));
        let m: BTreeMap<String, f64> = [("k".into(), 2.5)].into();
        let Json(back): Json<BTreeMap<String, f64>> =
            round_trip(&cache, "map", Json(&m), 2, br#"{"k":2.5}"#);
        assert_eq!(back, m);
        // A string in Json is a JSON string; Json<String> reads plain text.
        let Json(s): Json<String> = round_trip(&cache, "json-str", Json("x"), 2, b"\"x\"");
        assert_eq!(s, "x");
        cache.raw().set("text", "plain").unwrap();
        let Json(s): Json<String> = cache.raw().query("text").unwrap().unwrap();
        assert_eq!(s, "plain");
        // Natives and Json read each other's numbers.
        assert!(
            decode(cache.raw().query::<Json<i64>>("tuple")),
            "an array is not a number"
        );
        let n: f64 = round_trip(&cache, "json-num", Json(2.5), 2, b"2.5");
        assert_eq!(n, 2.5);
        assert!(matches!(
            cache.raw().query::<Json<i32>>("text"),
            Err(CacheError::Decode(_))
        ));
    }

    #[test]
    fn serde_keys() {
        let server = Memcached::start();
        let cache = cache(&server);
        // Where serde and native keys overlap, they are the same key.
        assert_eq!(
            cache.set(SerdeKey("cache_key"), "v").unwrap(),
            "188693688126b424eb89e1385eca6f01"
        );
        assert_eq!(
            cache.set(SerdeKey((1, "a")), "v").unwrap(),
            cache.memcached_key((1, "a")).unwrap()
        );
        // A Vec<u8> in SerdeKey is a list of numbers, not bytes.
        let list = cache.ns("lists").set(SerdeKey(vec![1u8, 2]), "l").unwrap();
        assert_ne!(list, cache.ns("lists").memcached_key(vec![1u8, 2]).unwrap());
        let keys: Vec<SerdeKey<Vec<u8>>> = cache.ns("lists").keys().unwrap();
        assert_eq!(keys, [SerdeKey(vec![1, 2])]);
        let m: BTreeMap<String, i32> = [("k".into(), 1)].into();
        cache.ns("maps").set(SerdeKey(&m), "m").unwrap();
        let keys: Vec<SerdeKey<BTreeMap<String, i32>>> = cache.ns("maps").keys().unwrap();
        assert_eq!(keys[0].0, m);
        assert_eq!(
            cache
                .ns("maps")
                .query::<String>(SerdeKey(&m))
                .unwrap()
                .as_deref(),
            Some("m")
        );
    }
}
