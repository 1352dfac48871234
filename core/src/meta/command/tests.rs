//! The wire form of every meta command and flag, and refused input.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::expiry::Expiry;
use crate::meta::MetaSetMode;
use crate::request::Command;
use crate::ErrorKind;

fn enc(c: impl Into<MetaCommand>) -> Result<(String, MetaExpect), Error> {
    let mut out = BytesMut::new();
    let expect = c.into().encode(&mut out, &Config::default())?;
    Ok((String::from_utf8_lossy(&out).into_owned(), expect))
}

fn wire(c: impl Into<MetaCommand>) -> String {
    enc(c).unwrap().0
}

#[test]
fn meta_get_flags() {
    assert_eq!(wire(Command::meta_get("foo")), "mg foo v\r\n");
    assert_eq!(wire(Command::meta_get("foo").without_value()), "mg foo\r\n");
    let every = Command::meta_get("foo")
        .with_cas()
        .with_client_flags()
        .with_hit_before()
        .with_key()
        .with_last_access()
        .opaque(Opaque::new("op").unwrap())
        .quiet()
        .with_size()
        .with_ttl()
        .no_lru_bump()
        .unless_cas(5)
        .new_cas(6)
        .vivify(Expiry::secs(30))
        .recache_below(Duration::from_millis(1500))
        .touch(Expiry::Never);
    assert_eq!(
        wire(every),
        "mg foo c f h k l Oop q s t u v C5 E6 N30 R2 T0\r\n"
    );
    let at = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    assert_eq!(
        wire(Command::meta_get("k").touch(at).vivify(Duration::ZERO)),
        "mg k v N-1 T2000000000\r\n"
    );
}

#[test]
fn meta_set_flags_and_modes() {
    assert_eq!(wire(Command::meta_set("k", "")), "ms k 0\r\n\r\n");
    assert_eq!(
        wire(Command::meta_set("k", "a\r\nb")),
        "ms k 4\r\na\r\nb\r\n"
    );
    let every = Command::meta_set("k", "v")
        .with_cas()
        .invalidate()
        .with_key()
        .opaque(9u32)
        .quiet()
        .with_size()
        .compare_cas(1)
        .new_cas(2)
        .flags(u32::MAX)
        .vivify(Expiry::secs(3))
        .expiry(Expiry::secs(4))
        .mode(MetaSetMode::Append);
    assert_eq!(
        wire(every),
        "ms k 1 c I k O9 q s C1 E2 F4294967295 N3 T4 MA\r\nv\r\n"
    );
    for (mode, m) in [
        (MetaSetMode::Set, ""),
        (MetaSetMode::Add, " ME"),
        (MetaSetMode::Replace, " MR"),
        (MetaSetMode::Append, " MA"),
        (MetaSetMode::Prepend, " MP"),
    ] {
        assert_eq!(
            wire(Command::meta_set("k", "v").mode(mode)),
            format!("ms k 1{m}\r\nv\r\n")
        );
    }
}

#[test]
fn meta_delete_arithmetic_debug_noop() {
    assert_eq!(wire(Command::meta_delete("k")), "md k\r\n");
    let every = Command::meta_delete("k")
        .invalidate()
        .with_key()
        .opaque(1u64)
        .quiet()
        .clear_value()
        .compare_cas(7)
        .new_cas(8)
        .expiry(Expiry::secs(30));
    assert_eq!(wire(every), "md k I k O1 q x C7 E8 T30\r\n");

    assert_eq!(wire(Command::meta_incr("n", 1)), "ma n v\r\n");
    assert_eq!(wire(Command::meta_decr("n", 1)), "ma n v MD\r\n");
    let every = Command::meta_incr("n", u64::MAX)
        .with_cas()
        .with_key()
        .opaque(Opaque::new("x").unwrap())
        .quiet()
        .with_ttl()
        .compare_cas(3)
        .new_cas(4)
        .vivify(Expiry::secs(60), 10)
        .touch(Expiry::secs(61));
    assert_eq!(
        wire(every),
        "ma n c k Ox q t v C3 D18446744073709551615 E4 J10 N60 T61\r\n"
    );
    assert_eq!(
        wire(Command::meta_decr("n", 0).without_value()),
        "ma n D0 MD\r\n"
    );

    assert_eq!(wire(Command::meta_debug("k")), "me k\r\n");
    assert_eq!(wire(MetaCommand::NoOp), "mn\r\n");
}

#[test]
fn keys_that_are_not_text_keys_travel_base64() {
    assert_eq!(wire(Command::meta_get("a b")), "mg YSBi b v\r\n");
    assert_eq!(wire(Command::meta_get(&b"\0"[..])), "mg AA== b v\r\n");
    assert_eq!(wire(Command::meta_set("a b", "v")), "ms YSBi 1 b\r\nv\r\n");
    assert_eq!(wire(Command::meta_delete("a b")), "md YSBi b\r\n");
    assert_eq!(wire(Command::meta_incr("a b", 1)), "ma YSBi b v\r\n");
    assert_eq!(wire(Command::meta_debug("a b")), "me YSBi b\r\n");
    let long = vec![0; 186];
    let (line, expect) = enc(Command::meta_get(long.clone())).unwrap();
    assert!(line.starts_with("mg AAAA"), "{line}");
    assert_eq!(line.len(), "mg  b v\r\n".len() + 248);
    // The expectation keeps the raw key, for checking a returned `k`.
    assert_eq!(expect.key.as_deref(), Some(&long[..]));
    // A valid text key of 250 bytes goes as it is.
    let (line, _) = enc(Command::meta_get(vec![b'k'; 250])).unwrap();
    assert_eq!(line.len(), "mg  v\r\n".len() + 250);
}

#[test]
fn expectations() {
    let (_, e) = enc(Command::meta_get("k").quiet().opaque(3u32)).unwrap();
    assert_eq!(e.kind, MetaKind::Get);
    assert!(e.quiet && e.value);
    assert_eq!(e.opaque, Some(Opaque::from(3u32)));
    assert_eq!(e.silent_outcome().map(|r| r.is_miss()), Some(true));
    let (_, e) = enc(Command::meta_set("k", "v")).unwrap();
    assert_eq!((e.kind, e.quiet, e.value), (MetaKind::Set, false, false));
    assert_eq!(e.silent_outcome(), None);
    let (_, e) = enc(Command::meta_incr("k", 1).quiet()).unwrap();
    assert_eq!((e.kind, e.value), (MetaKind::Arithmetic, true));
    assert_eq!(
        e.silent_outcome().map(|r| r.status),
        Some(crate::meta::MetaStatus::Done)
    );
    let (_, e) = enc(MetaCommand::NoOp).unwrap();
    assert_eq!((e.kind, e.key), (MetaKind::NoOp, None));
    // Through `Command`.
    let mut out = BytesMut::new();
    let expect = Command::from(Command::meta_debug("k"))
        .encode(&mut out, &Config::default())
        .unwrap();
    assert!(matches!(expect, Some(crate::Expect::Meta(m)) if m.kind == MetaKind::Debug));
    assert_eq!(
        Command::from(Command::meta_get("a b")).keys(),
        [Bytes::from("a b")]
    );
    assert!(Command::meta_noop().keys().is_empty());
    assert!(!Command::from(Command::meta_get("k").quiet()).is_quiet());
}

#[test]
fn bad_input_writes_nothing() {
    type Check = fn(&Error) -> bool;
    let config = Config::default();
    let too_long = Expiry::secs(31 * 86_400);
    let invalid_key: Check = |e| matches!(e, Error::InvalidKey(_));
    let invalid_arg: Check = |e| matches!(e, Error::InvalidArgument(_));
    let cases: Vec<(MetaCommand, Check)> = vec![
        (Command::meta_get("").into(), invalid_key),
        (Command::meta_get(vec![0u8; 187]).into(), invalid_key),
        (Command::meta_get(vec![b'k'; 251]).into(), invalid_key),
        (Command::meta_set("", "v").into(), invalid_key),
        (Command::meta_delete(vec![b' '; 200]).into(), invalid_key),
        (Command::meta_debug("").into(), invalid_key),
        (Command::meta_get("k").touch(too_long).into(), invalid_arg),
        (Command::meta_get("k").vivify(too_long).into(), invalid_arg),
        (
            Command::meta_get("k")
                .recache_below(Duration::from_secs(30 * 86_400 + 1))
                .into(),
            invalid_arg,
        ),
        (
            Command::meta_set("k", "v").expiry(too_long).into(),
            invalid_arg,
        ),
        (
            Command::meta_set("k", "v").vivify(too_long).into(),
            invalid_arg,
        ),
        (
            Command::meta_delete("k").expiry(too_long).into(),
            invalid_arg,
        ),
        (
            Command::meta_incr("k", 1).touch(too_long).into(),
            invalid_arg,
        ),
        (
            MetaCommand::Arithmetic(MetaArithmetic {
                initial: Some(1),
                ..Command::meta_incr("k", 1)
            }),
            invalid_arg,
        ),
        (
            Command::meta_set("k", vec![0u8; config.max_value_len + 1]).into(),
            |e| matches!(e, Error::ValueTooLarge { .. }),
        ),
    ];
    for (cmd, check) in cases {
        let mut out = BytesMut::new();
        let err = cmd.encode(&mut out, &config).unwrap_err();
        assert!(check(&err), "{cmd:?}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::Input);
        assert!(out.is_empty(), "{cmd:?} wrote {out:?}");
        assert!(cmd.validate(&config).is_err());
        assert!(Command::Meta(cmd).validate(&config).is_err());
    }
}

#[test]
fn opaque_tokens_are_checked_when_made() {
    assert!(Opaque::new([b'x'; 32]).is_ok());
    for bad in [&b""[..], &[b'x'; 33], b"a b", b"a\r\n", b"\x7f"] {
        assert!(Opaque::new(bad).is_err(), "{bad:?}");
    }
    assert_eq!(Opaque::from(u64::MAX).as_bytes(), b"18446744073709551615");
    assert_eq!(Opaque::new("é").unwrap().to_string(), "é");
}
