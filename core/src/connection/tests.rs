//! Scenarios: a `Connection` driven with scripted bytes and a virtual clock.

use std::time::{Duration, Instant};

use super::*;
use crate::response::Value;
use crate::stats::StatsGroup;

fn conn() -> Connection {
    Connection::new(Config::default())
}

/// Drain all completions as `(id, result)` pairs.
fn drain(c: &mut Connection) -> Vec<(RequestId, Result<Response, Error>)> {
    std::iter::from_fn(|| c.poll_response())
        .map(|d| (d.id, d.result))
        .collect()
}

fn values(r: &Result<Response, Error>) -> Vec<(String, String)> {
    match r {
        Ok(Response::Values(v)) => v
            .iter()
            .map(|Value { key, data, .. }| {
                (
                    String::from_utf8_lossy(key).into_owned(),
                    String::from_utf8_lossy(data).into_owned(),
                )
            })
            .collect(),
        other => panic!("not values: {other:?}"),
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut c = conn();
    let a = c.send(Command::get("a"), None).unwrap();
    let s = c.send(Command::set("b", "2"), None).unwrap();
    let b = c.send(Command::get_multi(["a", "b"]), None).unwrap();
    let n = c.send(Command::incr("n", 5), None).unwrap();
    let d = c.send(Command::delete("zz"), None).unwrap();
    assert_eq!(
        c.pending_output(),
        b"get a\r\nset b 0 0 1\r\n2\r\nget a b\r\nincr n 5\r\ndelete zz\r\n"
    );
    assert_eq!(c.in_flight(), 5);
    let replies = b"VALUE a 0 1\r\n1\r\nEND\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n6\r\nNOT_FOUND\r\n";
    // Every split of the whole pipelined stream gives the same completions.
    for at in 0..=replies.len() {
        let mut c2 = conn();
        for cmd in [
            Command::from(Command::get("a")),
            Command::set("b", "2").into(),
            Command::get_multi(["a", "b"]).into(),
            Command::incr("n", 5).into(),
            Command::delete("zz").into(),
        ] {
            c2.send(cmd, None).unwrap();
        }
        c2.handle_input(&replies[..at]);
        c2.handle_input(&replies[at..]);
        assert_eq!(drain(&mut c2).len(), 5, "split at {at}");
        assert!(!c2.is_poisoned());
    }
    for byte in replies.chunks(1) {
        c.handle_input(byte);
    }
    let done = drain(&mut c);
    let ids: Vec<_> = done.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![a, s, b, n, d]);
    assert_eq!(values(&done[0].1), vec![("a".into(), "1".into())]);
    assert!(matches!(done[1].1, Ok(Response::Stored)));
    assert_eq!(values(&done[2].1).len(), 2);
    assert!(matches!(done[3].1, Ok(Response::Number(6))));
    assert!(matches!(done[4].1, Err(Error::NotFound)));
    assert!(!c.wants_read());
    // Per-request errors leave the connection usable.
    assert!(c.send(Command::version(), None).is_ok());
}

#[test]
fn abandoned_requests_are_drained_not_misrouted() {
    let mut c = conn();
    let a = c.send(Command::get("a"), None).unwrap();
    let b = c.send(Command::get("b"), None).unwrap();
    assert!(c.abandon(a));
    assert!(!c.abandon(a), "abandoning twice reports nothing new");
    c.handle_input(b"VALUE a 0 5\r\nAAAAA\r\nEND\r\nVALUE b 0 1\r\nB\r\nEND\r\n");
    let done = drain(&mut c);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, b);
    assert_eq!(values(&done[0].1), vec![("b".into(), "B".into())]);
    assert!(!c.is_poisoned());
}

#[test]
fn abandoning_a_finished_request_drops_its_completion() {
    let mut c = conn();
    let a = c.send(Command::get("a"), None).unwrap();
    c.handle_input(b"END\r\n");
    assert!(c.abandon(a));
    assert!(c.poll_response().is_none());
    assert!(!c.abandon(RequestId(99)));
}

#[test]
fn timeout_poisons_and_is_sticky() {
    let t0 = Instant::now();
    let mut c = conn();
    let a = c
        .send(Command::get("a"), Some(t0 + Duration::from_millis(10)))
        .unwrap();
    let b = c
        .send(Command::get("b"), Some(t0 + Duration::from_millis(50)))
        .unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(10)));
    c.handle_timeout(t0 + Duration::from_millis(9));
    assert!(c.poll_response().is_none());
    c.handle_timeout(t0 + Duration::from_millis(10));
    let done = drain(&mut c);
    assert_eq!(done[0].0, a);
    assert!(matches!(done[0].1, Err(Error::Timeout)));
    assert_eq!(done[1].0, b);
    assert!(matches!(&done[1].1, Err(Error::Poisoned(cause)) if matches!(**cause, Error::Timeout)));
    assert!(c.is_poisoned());
    assert!(c.poll_timeout().is_none());
    // The late reply is ignored, never delivered.
    c.handle_input(b"VALUE a 0 1\r\nx\r\nEND\r\n");
    assert!(c.poll_response().is_none());
    let err = c.send(Command::get("a"), None).unwrap_err();
    assert!(matches!(err.root(), Error::Timeout), "{err:?}");
    assert!(err.is_fatal());
    assert!(c.pending_output().is_empty());
}

#[test]
fn garbage_poisons() {
    for garbage in [
        &b"HELLO\r\n"[..],
        b"STORED\r\n",
        b"VALUE x 0 1\r\nx\r\nEND\r\n",
        b"\n",
    ] {
        let mut c = conn();
        let a = c.send(Command::get("a"), None).unwrap();
        let b = c.send(Command::set("b", "1"), None).unwrap();
        c.handle_input(garbage);
        let done = drain(&mut c);
        assert_eq!(done.len(), 2, "{garbage:?}");
        assert_eq!(done[0].0, a);
        assert!(
            matches!(done[0].1, Err(Error::Protocol(_))),
            "{:?}",
            done[0].1
        );
        assert_eq!(done[1].0, b);
        assert!(matches!(done[1].1, Err(Error::Poisoned(_))));
        assert!(matches!(
            c.send(Command::get("a"), None),
            Err(Error::Poisoned(_))
        ));
    }
}

#[test]
fn unsolicited_bytes_poison() {
    let mut c = conn();
    c.handle_input(b"STORED\r\n");
    assert!(matches!(
        c.poison_cause(),
        Some(Error::Protocol(ProtocolError::UnsolicitedData(8)))
    ));
}

#[test]
fn close_fails_everything_pending() {
    let mut c = conn();
    let a = c.send(Command::get("a"), None).unwrap();
    c.handle_input(b"VALUE a 0 3\r\nab");
    c.handle_close();
    let done = drain(&mut c);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, a);
    assert!(matches!(done[0].1, Err(Error::Closed)));
    assert!(matches!(
        c.send(Command::version(), None),
        Err(Error::Closed)
    ));
}

#[test]
fn oversized_value_header_poisons_without_allocation() {
    let mut c = conn();
    c.send(Command::get("k"), None).unwrap();
    c.handle_input(b"VALUE k 0 4294967296\r\n");
    let done = drain(&mut c);
    assert!(matches!(
        done[0].1,
        Err(Error::Protocol(ProtocolError::ValueTooLarge { .. }))
    ));
}

#[test]
fn invalid_requests_send_nothing_and_keep_the_connection() {
    let mut c = conn();
    assert!(matches!(
        c.send(Command::get("bad key"), None),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        c.send(Command::set("k\r\nflush_all", "v"), None),
        Err(Error::InvalidKey(_))
    ));
    assert!(c.pending_output().is_empty());
    assert_eq!(c.in_flight(), 0);
    assert!(!c.is_poisoned());
}

#[test]
fn noreply_completes_at_once_and_later_replies_still_match() {
    let mut c = conn();
    let q = c.send(Command::set("a", "1").noreply(), None).unwrap();
    let done = drain(&mut c);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, q);
    assert!(matches!(done[0].1, Ok(Response::Sent)));
    assert!(!c.wants_read());
    let g = c.send(Command::get("a"), None).unwrap();
    assert!(c.wants_read());
    assert_eq!(c.pending_output(), b"set a 0 0 1 noreply\r\n1\r\nget a\r\n");
    c.handle_input(b"VALUE a 0 1\r\n1\r\nEND\r\n");
    let done = drain(&mut c);
    assert_eq!(done[0].0, g);
    assert_eq!(values(&done[0].1), vec![("a".into(), "1".into())]);
    assert!(c.take_noreply_error().is_none());
}

#[test]
fn a_noreply_error_with_nothing_behind_it_is_reported_aside() {
    let mut c = conn();
    c.send(Command::set("a", "1").noreply(), None).unwrap();
    let _ = drain(&mut c);
    c.handle_input(b"SERVER_ERROR out of ");
    // A request sent now cannot be what that error answers.
    let g = c.send(Command::get("a"), None).unwrap();
    c.handle_input(b"memory\r\nEND\r\n");
    assert!(matches!(c.take_noreply_error(), Some(Error::Server(m)) if m == "out of memory"));
    let done = drain(&mut c);
    assert_eq!(done[0].0, g);
    assert!(matches!(done[0].1, Ok(Response::Values(ref v)) if v.is_empty()));
}

#[test]
fn an_error_that_could_belong_to_two_requests_poisons() {
    let mut c = conn();
    c.send(Command::set("a", "1").noreply(), None).unwrap();
    let g = c.send(Command::get("a"), None).unwrap();
    let _ = drain(&mut c);
    c.handle_input(b"SERVER_ERROR out of memory\r\n");
    let done = drain(&mut c);
    assert_eq!(done[0].0, g);
    assert!(matches!(
        &done[0].1,
        Err(Error::Protocol(ProtocolError::AmbiguousError(word))) if word == "SERVER_ERROR"
    ));
}

#[test]
fn an_ambiguous_error_reads_the_same_however_it_is_split() {
    // Found by the fuzz target connection_stream: the error used to quote
    // as much of the line as had arrived, so the same bytes read in other
    // chunks gave another error.
    let wire = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    for at in 13..=wire.len() {
        let mut c = conn();
        c.send(Command::incr("a", 1).noreply(), None).unwrap();
        let g = c.send(Command::get("a"), None).unwrap();
        let _ = drain(&mut c);
        c.handle_input(&wire[..at]);
        c.handle_input(&wire[at..]);
        let done = drain(&mut c);
        assert_eq!(done[0].0, g);
        assert!(
            matches!(
                &done[0].1,
                Err(Error::Protocol(ProtocolError::AmbiguousError(word))) if word == "CLIENT_ERROR"
            ),
            "split at {at}: {:?}",
            done[0].1
        );
    }
}

#[test]
fn quit_completes_and_closes_for_sending() {
    let mut c = conn();
    let q = c.send(Command::quit(), None).unwrap();
    assert_eq!(c.pending_output(), b"quit\r\n");
    assert_eq!(drain(&mut c)[0].0, q);
    assert!(matches!(
        c.send(Command::version(), None),
        Err(Error::Closed)
    ));
}

#[test]
fn stats_through_the_connection() {
    let mut c = conn();
    let id = c.send(Command::stats(StatsGroup::Items), None).unwrap();
    c.handle_input(b"STAT items:1:number 3\r\nEND\r\n");
    let done = c.poll_response().unwrap();
    assert_eq!(done.id, id);
    assert!(matches!(
        done.result,
        Ok(Response::Stats(crate::Stats::Items(_)))
    ));
}

#[test]
fn advance_output_is_clamped() {
    let mut c = conn();
    c.send(Command::version(), None).unwrap();
    c.advance_output(3);
    assert_eq!(c.pending_output(), b"sion\r\n");
    c.advance_output(100);
    assert!(!c.wants_write());
}

/// Bytes are counted as the transport writes and feeds them, partial
/// writes included, and a successor counts into the same counters.
#[test]
fn counting_connections_count_the_bytes_written_and_read() {
    let counters = Arc::new(ServerCounters::default());
    let mut c = conn().counting(counters.clone());
    c.send(Command::set("k", "vv"), None).unwrap();
    assert_eq!(c.pending_output(), b"set k 0 0 2\r\nvv\r\n");
    c.advance_output(5);
    assert_eq!(counters.snapshot().bytes_sent, 5, "written, not queued");
    c.advance_output(100);
    c.handle_input(b"STO");
    c.handle_input(b"RED\r\n");
    let m = counters.snapshot();
    assert_eq!((m.bytes_sent, m.bytes_received), (17, 8));
    c.handle_close();
    let mut next = c.successor();
    next.send(Command::version(), None).unwrap();
    let n = next.pending_output().len();
    next.advance_output(n);
    assert_eq!(
        counters.snapshot().bytes_sent,
        17 + b"version\r\n".len() as u64
    );
    // Read straight into the input buffer: counted as committed, not as
    // offered.
    let reply = b"VERSION 1.6.21\r\n";
    let room = next.input_buffer();
    assert!(room.len() > reply.len());
    room[..reply.len()].copy_from_slice(reply);
    next.commit_input(reply.len());
    assert!(next.poll_response().is_some_and(|done| done.result.is_ok()));
    assert_eq!(counters.snapshot().bytes_received, 8 + reply.len() as u64);
}

#[test]
fn a_borrowed_get_is_checked_against_its_key_at_every_split() {
    let long = "l".repeat(200);
    for key in ["k", &long[..]] {
        let get = Command::from(Command::get(key.to_owned()));
        let reply = format!("VALUE {key} 5 3\r\nabc\r\nEND\r\n");
        for at in 0..=reply.len() {
            let mut c = conn();
            let id = c.send_command(&get, None).unwrap();
            c.handle_input(&reply.as_bytes()[..at]);
            c.handle_input(&reply.as_bytes()[at..]);
            let done = drain(&mut c);
            assert_eq!(done.len(), 1, "split at {at}");
            assert_eq!(done[0].0, id);
            assert_eq!(values(&done[0].1), [(key.to_owned(), "abc".to_owned())]);
            let Ok(Response::Values(v)) = &done[0].1 else {
                unreachable!()
            };
            assert_eq!(v[0].flags, 5);
        }
    }
}

#[test]
fn a_borrowed_get_refuses_another_key_and_a_second_answer() {
    let get = Command::from(Command::get("k"));
    for reply in [
        &b"VALUE j 0 1\r\na\r\nEND\r\n"[..],
        b"VALUE kk 0 1\r\na\r\nEND\r\n",
        b"VALUE k 0 1\r\na\r\nVALUE k 0 1\r\nb\r\nEND\r\n",
    ] {
        let mut c = conn();
        c.send_command(&get, None).unwrap();
        c.handle_input(reply);
        let done = drain(&mut c);
        assert!(
            matches!(
                &done[..],
                [(_, Err(Error::Protocol(ProtocolError::UnrequestedKey(_))))]
            ),
            "{done:?}"
        );
        assert!(c.is_poisoned());
    }
}

#[test]
fn a_checked_command_is_checked_again_under_other_limits() {
    let loose = Config::default();
    let strict = Config::default().max_value_len(2);
    let set = Command::from(Command::set("k", "abc"));
    let checked = set.check(&loose).unwrap();
    let mut c = Connection::new(strict);
    assert!(matches!(
        c.send_checked(checked, None),
        Err(Error::ValueTooLarge { len: 3, max: 2 })
    ));
    assert!(c.pending_output().is_empty());
    let mut c = Connection::new(loose);
    c.send_checked(checked, None).unwrap();
    assert_eq!(c.pending_output(), b"set k 0 0 3\r\nabc\r\n");
}

#[test]
fn in_flight_counts_what_awaits_a_reply_through_replies_and_failure() {
    let mut c = conn();
    let counted = |c: &Connection| c.pending.iter().filter(|p| !p.quiet).count();
    c.send(Command::get("a"), None).unwrap();
    c.send(Command::set("q", "v").noreply(), None).unwrap();
    c.send(Command::delete("b"), None).unwrap();
    assert_eq!((c.in_flight(), counted(&c)), (2, 2));
    assert!(c.wants_read());
    // The get's reply, then the delete's: the quiet set is passed over.
    c.handle_input(b"END\r\n");
    assert_eq!((c.in_flight(), counted(&c)), (1, 1));
    c.handle_input(b"DELETED\r\n");
    assert_eq!((c.in_flight(), counted(&c)), (0, 0));
    assert!(!c.wants_read());
    // Two more, and the connection dies under them.
    c.send(Command::get("c"), None).unwrap();
    c.send(Command::get("d"), None).unwrap();
    assert_eq!(c.in_flight(), 2);
    c.handle_close();
    assert_eq!((c.in_flight(), counted(&c)), (0, 0));
    assert!(!c.wants_read());
}

#[test]
fn poll_timeout_is_the_earliest_deadline_pending_through_replies_and_failure() {
    let mut c = conn();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let walked = |c: &Connection| c.pending.iter().filter_map(|p| p.deadline).min();
    // Deadlines out of order, one request without, a quiet one.
    for (key, deadline) in [
        ("a", Some(300)),
        ("b", Some(100)),
        ("c", None),
        ("d", Some(200)),
    ] {
        c.send(Command::get(key), deadline.map(at)).unwrap();
    }
    c.send(Command::set("q", "v").noreply(), Some(at(50)))
        .unwrap();
    c.send(Command::get("e"), Some(at(400))).unwrap();
    assert_eq!(c.poll_timeout(), Some(at(100)));
    // Replies in order: the earliest changes as requests leave.
    let mut seen = Vec::new();
    for _ in 0..4 {
        assert_eq!(c.poll_timeout(), walked(&c));
        seen.push(c.poll_timeout());
        c.handle_input(b"END\r\n");
    }
    assert_eq!(
        seen,
        [Some(at(100)), Some(at(100)), Some(at(200)), Some(at(200))]
    );
    // Past the quiet set, the last get's.
    assert_eq!(
        (c.poll_timeout(), walked(&c)),
        (Some(at(400)), Some(at(400)))
    );
    // Not expired before its deadline; expired at it.
    c.handle_timeout(at(399));
    assert!(!c.is_poisoned());
    c.send(Command::get("f"), Some(at(350))).unwrap();
    assert_eq!(c.poll_timeout(), Some(at(350)));
    c.handle_timeout(at(350));
    assert!(c.is_poisoned());
    assert_eq!(c.poll_timeout(), None);
    // The sent set, the four replies, then `e` poisoned and `f` timed out.
    let done: Vec<_> = std::iter::from_fn(|| c.poll_response()).collect();
    assert_eq!(done.len(), 7);
    assert!(done[..5].iter().all(|d| d.result.is_ok()));
    assert!(matches!(done[5].result, Err(Error::Poisoned(_))));
    assert!(matches!(done[6].result, Err(Error::Timeout)));
}
