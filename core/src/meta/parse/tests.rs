//! Every meta reply shape, whole, split at every byte boundary and one byte
//! at a time, read by a `ResponseParser` in the context of its request.

use bytes::BytesMut;

use super::*;
use crate::connection::Config;
use crate::response::{Expect, ResponseParser, Status};

type Outcome = Result<Result<Response, Error>, ProtocolError>;

fn config() -> Config {
    Config::default()
}

fn expect(kind: MetaKind) -> MetaExpect {
    MetaExpect::new(kind)
}

fn with(kind: MetaKind, f: impl FnOnce(&mut MetaExpect)) -> MetaExpect {
    let mut e = expect(kind);
    f(&mut e);
    e
}

/// `mg` with `v`, keyed `k`.
fn get_v() -> MetaExpect {
    with(MetaKind::Get, |e| {
        e.value = true;
        e.key = Some("k".into());
    })
}

fn feed(expect: &MetaExpect, chunks: &[&[u8]]) -> (Option<Outcome>, Vec<u8>) {
    let mut parser = ResponseParser::new(Expect::Meta(expect.clone()), &config());
    let mut input = BytesMut::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        match parser.parse(&mut input) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(r)) => return (Some(Ok(r)), input.to_vec()),
            Err(e) => return (Some(Err(e)), input.to_vec()),
        }
    }
    (None, input.to_vec())
}

/// Parse `wire` whole, at every split point and byte by byte; all must
/// agree, and a complete reply must consume exactly `wire`.
fn parse_every_way(expect: &MetaExpect, wire: &[u8]) -> Outcome {
    let (whole, rest) = feed(expect, &[wire]);
    let whole = whole.unwrap_or_else(|| panic!("incomplete: {:?}", String::from_utf8_lossy(wire)));
    if whole.is_ok() {
        assert!(rest.is_empty(), "left over {rest:?}");
    }
    let show = |o: &Outcome| format!("{o:?}");
    for at in 0..=wire.len() {
        let (split, _) = feed(expect, &[&wire[..at], &wire[at..]]);
        assert_eq!(
            show(&split.expect("complete")),
            show(&whole),
            "split at {at}"
        );
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    let (one_by_one, _) = feed(expect, &bytes);
    assert_eq!(
        show(&one_by_one.expect("complete")),
        show(&whole),
        "byte by byte"
    );
    whole
}

fn ok(expect: &MetaExpect, wire: &[u8]) -> MetaReply {
    match parse_every_way(expect, wire) {
        Ok(Ok(Response::Meta(r))) => r,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(wire)),
    }
}

fn err(expect: &MetaExpect, wire: &[u8]) -> Error {
    match parse_every_way(expect, wire) {
        Ok(Err(e)) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(wire)),
    }
}

fn violation(expect: &MetaExpect, wire: &[u8]) -> ProtocolError {
    match parse_every_way(expect, wire) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(wire)),
    }
}

#[test]
fn get_replies() {
    let hit = ok(&get_v(), b"VA 5\r\nhello\r\n");
    assert_eq!(hit.status, MetaStatus::Value("hello".into()));
    assert_eq!(hit.flags, ReturnedFlags::default());
    assert!(hit.is_hit() && !hit.silent);
    // Binary data, including `\r\n`, and an empty value.
    let hit = ok(&get_v(), b"VA 4\r\na\r\nb\r\n");
    assert_eq!(hit.value().map(|v| &v[..]), Some(&b"a\r\nb"[..]));
    assert_eq!(
        ok(&get_v(), b"VA 0\r\n\r\n").value().map(|v| v.len()),
        Some(0)
    );
    // Without `v`, or with `C` matching: HD.
    assert_eq!(ok(&get_v(), b"HD\r\n").status, MetaStatus::Done);
    assert!(ok(&get_v(), b"EN\r\n").is_miss());
    // Spaces between flags are not significant.
    assert_eq!(ok(&get_v(), b"HD  c1 \r\n").flags.cas, Some(1));
}

#[test]
fn every_returned_flag_is_typed() {
    let e = with(MetaKind::Get, |e| {
        e.value = true;
        e.key = Some("foo".into());
        e.opaque = Some(Opaque::new("op").unwrap());
    });
    let r = ok(
        &e,
        b"VA 3 c18446744073709551615 f4294967295 h1 kfoo l7 Oop s3 t-1 W X Z\r\nbar\r\n",
    );
    let f = &r.flags;
    assert_eq!(f.cas, Some(u64::MAX));
    assert_eq!(f.client_flags, Some(u32::MAX));
    assert_eq!(f.hit_before, Some(true));
    assert_eq!(f.key.as_deref(), Some(&b"foo"[..]));
    assert!(!f.base64_key);
    assert_eq!(f.last_access, Some(Duration::from_secs(7)));
    assert_eq!(f.opaque, Some(Opaque::new("op").unwrap()));
    assert_eq!(f.size, Some(3));
    assert_eq!(f.ttl, Some(Ttl::Never));
    assert!(f.won && f.stale && f.win_taken);
    let r = ok(&e, b"HD t30 h0 Oop\r\n");
    assert_eq!(r.flags.ttl, Some(Ttl::Remaining(Duration::from_secs(30))));
    assert_eq!(r.flags.hit_before, Some(false));
    // A miss echoes the opaque token and the key.
    let r = ok(&e, b"EN Oop kfoo\r\n");
    assert!(r.is_miss());
    assert_eq!(r.flags.key.as_deref(), Some(&b"foo"[..]));
    // Unknown flags are skipped (a newer server may add some).
    assert_eq!(ok(&get_v(), b"HD P1 Q\r\n").flags, ReturnedFlags::default());
}

#[test]
fn base64_keys_are_decoded_and_checked() {
    let raw = &b"bin\0key"[..];
    let e = with(MetaKind::Get, |e| {
        e.key = Some(Bytes::copy_from_slice(raw));
    });
    let r = ok(&e, b"HD kYmluAGtleQ== b\r\n");
    assert_eq!(r.flags.key.as_deref(), Some(raw));
    assert!(r.flags.base64_key);
    // Another key, or base64 that does not decode, is refused.
    assert!(matches!(
        violation(&e, b"HD kb3RoZXI= b\r\n"),
        ProtocolError::KeyMismatch { .. }
    ));
    assert!(matches!(
        violation(&e, b"HD k!!! b\r\n"),
        ProtocolError::UnexpectedLine { .. }
    ));
    // Without `b`, the key is taken as it is.
    assert!(matches!(
        violation(&e, b"HD kYmluAGtleQ==\r\n"),
        ProtocolError::KeyMismatch { .. }
    ));
}

#[test]
fn opaque_tokens_must_match() {
    let e = with(MetaKind::Get, |e| e.opaque = Some(Opaque::from(1u32)));
    assert_eq!(ok(&e, b"HD O1\r\n").flags.opaque, Some(Opaque::from(1u32)));
    for wire in [&b"HD O2\r\n"[..], b"HD\r\n", b"EN O2\r\n", b"HD O12\r\n"] {
        assert!(
            matches!(violation(&e, wire), ProtocolError::OpaqueMismatch { .. }),
            "{wire:?}"
        );
    }
    // memcached before 1.6.18 reflects nothing on a miss.
    assert!(ok(&e, b"EN\r\n").is_miss());
    // A reply with a token to a request without one.
    assert!(matches!(
        violation(&get_v(), b"VA 1 O1\r\nx\r\n"),
        ProtocolError::OpaqueMismatch { expected: None, .. }
    ));
    // Errors carry no token: they are attributed by the connection.
    assert!(matches!(
        err(&e, b"SERVER_ERROR out of memory\r\n"),
        Error::Server(_)
    ));
}

#[test]
fn store_delete_arithmetic_replies() {
    let set = expect(MetaKind::Set);
    assert_eq!(ok(&set, b"HD\r\n").status, MetaStatus::Done);
    assert_eq!(ok(&set, b"HD c42 s3\r\n").flags.cas, Some(42));
    assert!(matches!(err(&set, b"NS\r\n"), Error::NotStored));
    assert!(matches!(err(&set, b"EX c0\r\n"), Error::Exists));
    assert!(matches!(err(&set, b"NF\r\n"), Error::NotFound));
    let del = expect(MetaKind::Delete);
    assert_eq!(ok(&del, b"HD\r\n").status, MetaStatus::Done);
    assert!(matches!(err(&del, b"NF\r\n"), Error::NotFound));
    assert!(matches!(err(&del, b"EX\r\n"), Error::Exists));
    let ma = with(MetaKind::Arithmetic, |e| e.value = true);
    let r = ok(&ma, b"VA 2 c5 t-1\r\n42\r\n");
    assert_eq!((r.number(), r.flags.cas), (Some(42), Some(5)));
    assert_eq!(ok(&ma, b"HD\r\n").number(), None);
    assert!(matches!(err(&ma, b"NF\r\n"), Error::NotFound));
    assert!(matches!(err(&ma, b"NS\r\n"), Error::NotStored));
    assert!(matches!(err(&ma, b"EX\r\n"), Error::Exists));
    assert!(matches!(
        err(
            &ma,
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        ),
        Error::NonNumeric
    ));
    // Only `ma` reads that message as NonNumeric.
    assert!(matches!(
        err(
            &set,
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        ),
        Error::Client(_)
    ));
}

#[test]
fn noop_and_debug_replies() {
    let mn = expect(MetaKind::NoOp);
    assert_eq!(ok(&mn, b"MN\r\n").status, MetaStatus::NoOp);
    let me = with(MetaKind::Debug, |e| e.key = Some("foo".into()));
    let r = ok(&me, b"ME foo exp=-1 la=2 cas=3 fetch=no cls=1 size=63\r\n");
    let MetaStatus::Debug(info) = &r.status else {
        panic!("{r:?}")
    };
    assert_eq!(info.fields.len(), 6);
    assert_eq!(
        (info.get("exp"), info.get("fetch")),
        (Some("-1"), Some("no"))
    );
    assert_eq!(r.flags.key.as_deref(), Some(&b"foo"[..]));
    assert!(ok(&me, b"EN\r\n").is_miss());
    // A binary key comes back base64-encoded, without a flag.
    let me = with(MetaKind::Debug, |e| e.key = Some("a b".into()));
    let r = ok(&me, b"ME YSBi exp=-1\r\n");
    assert!(r.flags.base64_key);
    assert!(matches!(
        violation(&me, b"ME other exp=-1\r\n"),
        ProtocolError::UnexpectedLine { .. }
    ));
}

#[test]
fn replies_of_the_wrong_kind_poison() {
    let cases: [(MetaExpect, &[u8]); 12] = [
        // `VA` needs `v`.
        (expect(MetaKind::Get), b"VA 1\r\nx\r\n"),
        (expect(MetaKind::Set), b"EN\r\n"),
        (expect(MetaKind::Get), b"NS\r\n"),
        (expect(MetaKind::Get), b"MN\r\n"),
        (expect(MetaKind::NoOp), b"HD\r\n"),
        (expect(MetaKind::Delete), b"VA 1\r\nx\r\n"),
        // Text-protocol replies, and codes that only start like meta ones.
        (get_v(), b"VALUE k 0 1\r\nx\r\n"),
        (get_v(), b"END\r\n"),
        (expect(MetaKind::Set), b"STORED\r\n"),
        (expect(MetaKind::Set), b"HDX\r\n"),
        (get_v(), b"\r\n"),
        (get_v(), b" \r\n"),
    ];
    for (e, wire) in cases {
        assert!(
            matches!(violation(&e, wire), ProtocolError::UnexpectedLine { .. }),
            "{e:?} {wire:?}"
        );
    }
}

#[test]
fn malformed_flags_poison() {
    for wire in [
        &b"VA\r\n"[..],
        b"VA x\r\n",
        b"VA -1\r\n",
        b"HD cx\r\n",
        b"HD c\r\n",
        b"HD c18446744073709551616\r\n",
        b"HD f4294967296\r\n",
        b"HD t-2\r\n",
        b"HD tx\r\n",
        b"HD h2\r\n",
        b"HD h\r\n",
        b"HD l-1\r\n",
        b"HD s\r\n",
        b"HD k\r\n",
        b"HD O\r\n",
        b"HD Oaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        b"HD Wx\r\n",
        b"HD bb\r\n",
        b"HD c1 c1\r\n",
        b"HD W W\r\n",
    ] {
        assert!(
            matches!(
                violation(&get_v(), wire),
                ProtocolError::UnexpectedLine { .. }
            ),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
    assert!(matches!(
        violation(&get_v(), b"VA 1\r\nxy\r\n"),
        ProtocolError::BadDataTerminator
    ));
    assert!(matches!(
        violation(&get_v(), b"HD\n"),
        ProtocolError::BadLineEnding
    ));
}

#[test]
fn values_are_bounded_and_shared() {
    let small = Config::default().max_value_len(4);
    let mut parser = ResponseParser::new(Expect::Meta(get_v()), &small);
    let mut input = BytesMut::from(&b"VA 99999999999 \r\n"[..]);
    assert!(matches!(
        parser.parse(&mut input),
        Err(ProtocolError::ValueTooLarge {
            len: 99_999_999_999,
            max: 4
        })
    ));
    // The value is split from the input without copying.
    let mut parser = ResponseParser::new(Expect::Meta(get_v()), &config());
    let mut input = BytesMut::from(&b"VA 5 c1\r\nhello\r\n"[..]);
    let start = input.as_ptr() as usize;
    let Ok(Status::Complete(Ok(Response::Meta(r)))) = parser.parse(&mut input) else {
        panic!()
    };
    let value = r.value().unwrap();
    assert_eq!(value.as_ptr() as usize, start + b"VA 5 c1\r\n".len());
}

#[test]
fn claims() {
    assert_eq!(claim(b"VA 1 O5 c1"), Claim::Meta(Some(&b"5"[..])));
    assert_eq!(claim(b"VA O5"), Claim::Meta(None), "the size is not a flag");
    assert_eq!(claim(b"HD"), Claim::Meta(None));
    assert_eq!(claim(b"EN kOx Oy"), Claim::Meta(Some(&b"y"[..])));
    for code in ["NF", "NS", "EX", "MN"] {
        assert_eq!(
            claim(format!("{code} O1").as_bytes()),
            Claim::Meta(Some(&b"1"[..]))
        );
    }
    for other in [
        &b"VALUE k 0 1"[..],
        b"END",
        b"ME Ok",
        b"",
        b"STORED",
        b"ENd O1",
    ] {
        assert_eq!(claim(other), Claim::Other, "{other:?}");
    }
}
