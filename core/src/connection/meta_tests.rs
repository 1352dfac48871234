//! Meta scenarios: quiet batches, attribution by opaque token, poisoning,
//! base64 keys — a `Connection` driven with scripted bytes.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::meta::{MetaStatus, Opaque};

fn conn() -> Connection {
    Connection::new(Config::default())
}

fn drain(c: &mut Connection) -> Vec<(RequestId, Result<Response, Error>)> {
    std::iter::from_fn(|| c.poll_response())
        .map(|d| (d.id, d.result))
        .collect()
}

fn written(c: &mut Connection) -> String {
    let s = String::from_utf8_lossy(c.pending_output()).into_owned();
    let n = c.pending_output().len();
    c.advance_output(n);
    s
}

/// A compact view of an outcome, for comparing whole batches.
fn show(r: &Result<Response, Error>) -> String {
    match r {
        Ok(Response::Meta(m)) => {
            let mut s = match &m.status {
                MetaStatus::Value(v) => format!("VA {}", String::from_utf8_lossy(v)),
                MetaStatus::Done => "HD".into(),
                MetaStatus::Miss => "EN".into(),
                MetaStatus::NoOp => "MN".into(),
                MetaStatus::Debug(_) => "ME".into(),
            };
            if m.silent {
                s.push_str(" (silent)");
            }
            if let Some(c) = m.flags.cas {
                s.push_str(&format!(" c{c}"));
            }
            s
        }
        Ok(other) => format!("{other:?}"),
        Err(e) if e.is_fatal() => format!("fatal {:?}", e.root()),
        Err(e) => format!("{e:?}"),
    }
}

/// Send `commands`, feed `replies` split at `at`, return what each got.
fn run(commands: &[Command], replies: &[u8], at: usize) -> (Connection, Vec<String>) {
    let mut c = conn();
    let ids: Vec<RequestId> = commands
        .iter()
        .map(|cmd| c.send(cmd, None).unwrap())
        .collect();
    c.handle_input(&replies[..at]);
    c.handle_input(&replies[at..]);
    let mut done = drain(&mut c);
    // (A noreply request completes when it is sent, ahead of the others.)
    done.sort_by_key(|(id, _)| *id);
    let got: Vec<RequestId> = done.iter().map(|(id, _)| *id).collect();
    assert_eq!(got, ids, "every request completes once");
    let shown = done.iter().map(|(_, r)| show(r)).collect();
    (c, shown)
}

/// `run` at every split point and byte by byte: all must agree.
fn run_every_way(commands: &[Command], replies: &[u8]) -> (Connection, Vec<String>) {
    let (c, whole) = run(commands, replies, replies.len());
    for at in 0..replies.len() {
        assert_eq!(run(commands, replies, at).1, whole, "split at {at}");
    }
    let mut c2 = conn();
    for cmd in commands {
        c2.send(cmd, None).unwrap();
    }
    for b in replies.chunks(1) {
        c2.handle_input(b);
    }
    let mut done = drain(&mut c2);
    done.sort_by_key(|(id, _)| *id);
    let shown: Vec<String> = done.iter().map(|(_, r)| show(r)).collect();
    assert_eq!(shown, whole, "byte by byte");
    (c, whole)
}

#[test]
fn a_quiet_multi_get_completes_misses_when_mn_arrives() {
    let commands: Vec<Command> = vec![
        Command::meta_get("k1").quiet().with_cas().into(),
        Command::meta_get("k2").quiet().with_cas().into(),
        Command::meta_get("k3").quiet().with_cas().into(),
        Command::meta_get("k4").quiet().with_cas().into(),
        Command::meta_noop(),
    ];
    let mut c = conn();
    for cmd in &commands {
        c.send(cmd, None).unwrap();
    }
    assert_eq!(
        written(&mut c),
        "mg k1 c O0 q v\r\nmg k2 c O1 q v\r\nmg k3 c O2 q v\r\nmg k4 c O3 q v\r\nmn\r\n"
    );
    assert_eq!(c.in_flight(), 5);
    assert!(c.wants_read());
    let replies = b"VA 2 c7 O1\r\nv2\r\nVA 0 c8 O2\r\n\r\nMN\r\n";
    let (c, got) = run_every_way(&commands, replies);
    assert_eq!(
        got,
        ["EN (silent)", "VA v2 c7", "VA  c8", "EN (silent)", "MN"]
    );
    assert!(!c.is_poisoned());
    assert!(!c.wants_read());
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.buffered_input(), 0);
}

#[test]
fn quiet_failures_are_reported_to_their_request() {
    let commands: Vec<Command> = vec![
        Command::meta_set("a", "1").quiet().into(),
        Command::meta_set("b", "2")
            .quiet()
            .mode(crate::meta::MetaSetMode::Add)
            .into(),
        Command::meta_delete("c").quiet().into(),
        Command::meta_delete("d").quiet().into(),
        Command::meta_incr("e", 1).quiet().into(),
        Command::meta_incr("f", 1).quiet().compare_cas(1).into(),
        Command::meta_get("g").quiet().into(),
        Command::meta_get("h").quiet().without_value().into(),
        Command::meta_noop(),
    ];
    // b exists, d is missing, f's CAS is stale, h hits (HD even in quiet mode).
    let replies = b"NS O1\r\nNF O3\r\nEX O5\r\nHD O7\r\nMN\r\n";
    let (c, got) = run_every_way(&commands, replies);
    assert_eq!(
        got,
        [
            "HD (silent)",
            "NotStored",
            "HD (silent)",
            "NotFound",
            "HD (silent)",
            "Exists",
            "EN (silent)",
            "HD",
            "MN"
        ]
    );
    assert!(!c.is_poisoned());
}

#[test]
fn quiet_and_loud_requests_mix_with_the_text_protocol() {
    let commands: Vec<Command> = vec![
        Command::get("a").into(),
        Command::meta_get("b").quiet().into(),
        Command::set("c", "3").noreply().into(),
        Command::meta_get("d").quiet().into(),
        Command::get("e").into(),
        Command::meta_get("f").into(),
        Command::meta_set("g", "7").quiet().into(),
        Command::incr("n", 1).into(),
    ];
    let replies =
        b"VALUE a 0 1\r\nA\r\nEND\r\nVA 1 O3\r\nD\r\nVALUE e 0 1\r\nE\r\nEND\r\nEN\r\n8\r\n";
    let (c, got) = run_every_way(&commands, replies);
    assert_eq!(
        got,
        [
            "Values([Value { key: b\"a\", flags: 0, cas: None, data: b\"A\" }])",
            "EN (silent)",
            "Sent",
            "VA D",
            "Values([Value { key: b\"e\", flags: 0, cas: None, data: b\"E\" }])",
            "EN",
            "HD (silent)",
            "Number(8)"
        ]
    );
    assert!(!c.is_poisoned());
}

#[test]
fn a_reply_with_a_wrong_opaque_token_poisons() {
    // A loud request checks the token itself.
    let mut c = conn();
    let a = c.send(Command::meta_get("a").opaque(1u32), None).unwrap();
    let b = c.send(Command::meta_get("b"), None).unwrap();
    c.handle_input(b"VA 1 O2\r\nx\r\n");
    let done = drain(&mut c);
    assert!(matches!(
        done[0],
        (id, Err(Error::Protocol(ProtocolError::OpaqueMismatch { .. }))) if id == a
    ));
    assert!(matches!(done[1], (id, Err(Error::Poisoned(_))) if id == b));
    assert!(c.is_poisoned());

    // A quiet batch: a token nobody in the batch carries goes to the
    // request closing it, which refuses it.
    let mut c = conn();
    c.send(Command::meta_get("a").quiet(), None).unwrap();
    c.send(Command::meta_get("b").quiet(), None).unwrap();
    c.send(Command::meta_noop(), None).unwrap();
    c.handle_input(b"VA 1 O7\r\nx\r\n");
    let done = drain(&mut c);
    assert_eq!(done.len(), 3);
    assert!(done
        .iter()
        .all(|(_, r)| r.as_ref().is_err_and(Error::is_fatal)));
    assert!(done
        .iter()
        .all(|(_, r)| !matches!(r, Ok(Response::Meta(m)) if m.value().is_some())));

    // Only quiet requests pending: a reply none of them can own.
    for reply in [&b"VA 1 O7\r\nx\r\n"[..], b"HD\r\n", b"END\r\n"] {
        let mut c = conn();
        c.send(Command::meta_get("a").quiet(), None).unwrap();
        c.send(Command::meta_get("b").quiet(), None).unwrap();
        c.handle_input(reply);
        let done = drain(&mut c);
        assert_eq!(done.len(), 2);
        for (_, r) in &done {
            let Err(e) = r else { panic!("{r:?}") };
            assert!(
                matches!(e.root(), Error::Protocol(ProtocolError::Unattributable(_))),
                "{e:?}"
            );
        }
    }
}

#[test]
fn a_returned_key_must_be_the_requests() {
    let mut c = conn();
    let a = c
        .send(Command::meta_get("a").quiet().with_key(), None)
        .unwrap();
    c.send(Command::meta_noop(), None).unwrap();
    // The token matches but the key does not.
    c.handle_input(b"VA 1 O0 kb\r\nx\r\nMN\r\n");
    let done = drain(&mut c);
    assert!(matches!(
        done[0],
        (id, Err(Error::Protocol(ProtocolError::KeyMismatch { .. }))) if id == a
    ));
    assert!(c.is_poisoned());
}

#[test]
fn binary_keys_round_trip() {
    let key = &b"user\0 42\r\n"[..];
    let mut c = conn();
    let set = c
        .send(Command::meta_set(key, "v").with_key(), None)
        .unwrap();
    let get = c
        .send(Command::meta_get(key).with_key().quiet(), None)
        .unwrap();
    c.send(Command::meta_noop(), None).unwrap();
    assert_eq!(
        written(&mut c),
        "ms dXNlcgAgNDINCg== 1 b k\r\nv\r\nmg dXNlcgAgNDINCg== b k O1 q v\r\nmn\r\n"
    );
    c.handle_input(b"HD kdXNlcgAgNDINCg== b\r\nVA 1 kdXNlcgAgNDINCg== b O1\r\nv\r\nMN\r\n");
    let done = drain(&mut c);
    for (id, want) in [(set, 0), (get, 1)] {
        let Ok(Response::Meta(r)) = &done[want].1 else {
            panic!("{done:?}")
        };
        assert_eq!(done[want].0, id);
        assert_eq!(r.flags.key.as_deref(), Some(key));
        assert!(r.flags.base64_key);
    }
    // Placement hashes the raw key, however it travels.
    assert_eq!(
        Command::from(Command::meta_get(key)).keys(),
        [Bytes::from(key)]
    );
}

#[test]
fn an_error_line_goes_to_a_quiet_request_only_when_nothing_else_could_have_caused_it() {
    // Alone: it is the quiet request's.
    let mut c = conn();
    let a = c.send(Command::meta_set("a", "v").quiet(), None).unwrap();
    c.handle_input(b"SERVER_ERROR out of memory storing object\r\n");
    let done = drain(&mut c);
    assert!(matches!(&done[..], [(id, Err(Error::Server(_)))] if *id == a));
    assert!(!c.is_poisoned());
    assert!(!c.wants_read());

    // With the `mn` behind it, it could be either's: poison.
    for split in 0..=b"SERVER_ERROR x\r\n".len() {
        let mut c = conn();
        c.send(Command::meta_set("a", "v").quiet(), None).unwrap();
        c.send(Command::meta_noop(), None).unwrap();
        let wire = b"SERVER_ERROR x\r\nMN\r\n";
        c.handle_input(&wire[..split]);
        c.handle_input(&wire[split..]);
        let done = drain(&mut c);
        assert_eq!(done.len(), 2, "split at {split}");
        for (_, r) in done {
            let e = r.unwrap_err();
            assert!(
                matches!(e.root(), Error::Protocol(ProtocolError::AmbiguousError(w)) if w == "SERVER_ERROR"),
                "{e:?}"
            );
        }
    }

    // A noreply text request ahead of a quiet meta one: ambiguous too.
    let mut c = conn();
    c.send(Command::delete("x").noreply(), None).unwrap();
    c.send(Command::meta_get("a").quiet(), None).unwrap();
    c.handle_input(b"CLIENT_ERROR bad command line format\r\n");
    assert!(c.is_poisoned());
}

#[test]
fn opaque_tokens_are_unique_within_a_batch() {
    let mut c = conn();
    c.send(Command::meta_get("a").quiet().opaque(1u32), None)
        .unwrap();
    let before = c.pending_output().len();
    // The same token again, quiet or loud, while the first is pending in
    // the open batch: refused, nothing written.
    for cmd in [
        Command::from(Command::meta_get("b").quiet().opaque(1u32)),
        Command::from(Command::meta_delete("b").opaque(1u32)),
    ] {
        let e = c.send(cmd, None).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert_eq!(c.pending_output().len(), before);
    }
    // The automatic token skips a caller's: id 1 is taken by "1".
    let id = c.send(Command::meta_get("c").quiet(), None).unwrap();
    assert_eq!(id.get(), 1);
    assert!(written(&mut c).ends_with("mg c O1.1 q v\r\n"));
    // A loud request closes the batch; the token is free again after it.
    c.send(Command::meta_noop(), None).unwrap();
    c.send(Command::meta_get("d").quiet().opaque(1u32), None)
        .unwrap();
    c.send(Command::meta_noop(), None).unwrap();
    c.handle_input(b"VA 1 O1\r\na\r\nMN\r\nVA 1 O1\r\nd\r\nMN\r\n");
    let got: Vec<String> = drain(&mut c).iter().map(|(_, r)| show(r)).collect();
    assert_eq!(got, ["VA a", "EN (silent)", "MN", "VA d", "MN"]);
    assert!(!c.is_poisoned());
    // Once a quiet request has completed, its token is free in the batch.
    c.send(Command::meta_get("e").quiet().opaque(5u32), None)
        .unwrap();
    c.send(Command::meta_get("f").opaque(6u32), None).unwrap();
    c.handle_input(b"VA 1 O5\r\ne\r\n");
    assert!(c
        .send(Command::meta_get("g").quiet().opaque(5u32), None)
        .is_ok());
}

#[test]
fn abandoned_quiet_requests_are_drained() {
    let mut c = conn();
    let a = c.send(Command::meta_get("a").quiet(), None).unwrap();
    let b = c.send(Command::meta_get("b").quiet(), None).unwrap();
    let n = c.send(Command::meta_noop(), None).unwrap();
    assert!(c.abandon(a));
    assert!(c.abandon(b));
    c.handle_input(b"VA 1 O0\r\nx\r\nMN\r\n");
    let done = drain(&mut c);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, n);
    assert!(!c.is_poisoned());
}

#[test]
fn a_quiet_request_without_a_later_one_times_out() {
    let t0 = Instant::now();
    let mut c = conn();
    let a = c
        .send(
            Command::meta_get("a").quiet(),
            Some(t0 + Duration::from_millis(5)),
        )
        .unwrap();
    assert!(c.wants_read());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(5)));
    c.handle_timeout(t0 + Duration::from_millis(5));
    assert!(matches!(drain(&mut c)[..], [(id, Err(Error::Timeout))] if id == a));

    // Closing fails quiet requests still pending: their outcome is unknown.
    let mut c = conn();
    let a = c.send(Command::meta_set("a", "v").quiet(), None).unwrap();
    c.handle_close();
    assert!(matches!(drain(&mut c)[..], [(id, Err(Error::Closed))] if id == a));
}

#[test]
fn an_overlong_first_line_gets_one_verdict_however_it_is_split() {
    let config = Config::default().max_line_len(16);
    let wire = b"VA 1 O0 c123456789012\r\nx\r\nMN\r\n";
    let mut verdicts = Vec::new();
    for at in 0..=wire.len() {
        let mut c = Connection::new(config);
        c.send(Command::meta_get("a").quiet().with_cas(), None)
            .unwrap();
        c.send(Command::meta_noop(), None).unwrap();
        c.handle_input(&wire[..at]);
        c.handle_input(&wire[at..]);
        assert!(c.buffered_input() <= 17);
        verdicts.push(format!("{:?}", drain(&mut c)));
    }
    assert!(verdicts.iter().all(|v| *v == verdicts[0]), "{verdicts:?}");
    assert!(verdicts[0].contains("LineTooLong"), "{}", verdicts[0]);
}

#[test]
fn a_poisoned_connection_refuses_meta_requests() {
    let mut c = conn();
    c.send(Command::meta_noop(), None).unwrap();
    c.handle_input(b"HD\r\n");
    assert!(c.is_poisoned());
    assert!(matches!(
        c.send(Command::meta_get("a").quiet(), None),
        Err(Error::Poisoned(_))
    ));
    let mut c = conn();
    c.send(Command::meta_noop(), None).unwrap();
    c.handle_input(b"MN\r\nMN\r\n");
    assert!(c.is_poisoned());
    let _ = Opaque::from(0u32);
}

#[test]
fn an_mn_fences_a_quiet_batch_so_later_errors_are_attributed() {
    let commands: Vec<Command> = vec![
        Command::meta_set("a", "1").quiet().into(),
        Command::meta_set("b", "2").quiet().into(),
        Command::meta_noop(),
        Command::meta_incr("a", 1).into(),
        Command::meta_get("c").opaque(9u32).into(),
    ];
    // The `ma` meets a non-numeric value; `c` misses on a server older than
    // 1.6.18, which reflects no token on `EN`.
    let replies = b"MN\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nEN\r\n";
    let (c, got) = run_every_way(&commands, replies);
    assert_eq!(
        got,
        ["HD (silent)", "HD (silent)", "MN", "NonNumeric", "EN"]
    );
    assert!(!c.is_poisoned());
}
