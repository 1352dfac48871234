//! A hostile server, scripted: replies that lie about lengths, name keys
//! (or meta opaque tokens) nobody asked for, arrive unasked, end lines with
//! a bare LF, carry NUL bytes, hold negative or overflowing numbers, or
//! never end a line — each fed to a [`Connection`] with requests pipelined
//! around it, split at every byte boundary.
//!
//! Every scenario must end in a typed error (and a poisoned connection
//! where the stream can no longer be trusted), never a panic, never a
//! value for a request that did not ask for its key, and with the
//! connection's buffered input bounded by its limits whatever the reply
//! announces.

use memwire_core::{
    Command, Completion, Config, Connection, Error, ProtocolError, RequestId, Response,
};

/// What a connection made of a script.
#[derive(Debug)]
struct Played {
    /// Each request's result, in request order (`None`: never completed).
    results: Vec<Option<Result<Response, Error>>>,
    poisoned: bool,
    /// The most input the connection held between calls.
    most_buffered: usize,
}

impl Played {
    /// The result of request `i`.
    fn result(&self, i: usize) -> &Result<Response, Error> {
        self.results[i]
            .as_ref()
            .unwrap_or_else(|| panic!("request {i} never completed: {self:?}"))
    }

    /// The protocol violation that failed request `i`.
    fn violation(&self, i: usize) -> &ProtocolError {
        match self.result(i) {
            Err(Error::Protocol(e)) => e,
            other => panic!("request {i}: expected a protocol error, got {other:?}"),
        }
    }

    /// Request `i` failed because the connection was poisoned by an
    /// earlier request's reply.
    fn assert_poisoned(&self, i: usize) {
        assert!(
            matches!(self.result(i), Err(Error::Poisoned(cause)) if matches!(**cause, Error::Protocol(_))),
            "request {i}: {:?}",
            self.result(i)
        );
    }
}

/// Send `requests` on a connection with `config`, feed `wire` in pieces
/// cut at `cuts`, and collect everything. Checks on the way that the
/// buffered input stays within the connection's bound, and that no
/// completion hands a request a value for a key it did not ask for.
fn play_split(config: Config, requests: &[Command], wire: &[u8], cuts: &[usize]) -> Played {
    let mut conn = Connection::new(config);
    let mut ids: Vec<RequestId> = Vec::new();
    for r in requests {
        ids.push(conn.send(r.clone(), None).expect("a valid request"));
    }
    let bound = config
        .max_line_len
        .saturating_add(1)
        .max(config.max_value_len.saturating_add(1))
        .max(12);
    let mut results: Vec<Option<Result<Response, Error>>> = vec![None; requests.len()];
    let mut collect = |conn: &mut Connection| {
        while let Some(Completion { id, result, .. }) = conn.poll_response() {
            let i = ids
                .iter()
                .position(|&x| x == id)
                .expect("a completion for a request that was sent");
            assert!(results[i].is_none(), "request {i} completed twice");
            if let Ok(Response::Values(values)) = &result {
                let asked = requests[i].keys();
                for v in values {
                    assert!(
                        asked.contains(&v.key),
                        "request {i} got a value for key {:?}, which it did not ask for",
                        v.key
                    );
                }
            }
            results[i] = Some(result);
        }
    };
    let mut most_buffered = 0;
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        let cut = cut.clamp(from, wire.len());
        conn.handle_input(&wire[from..cut]);
        from = cut;
        most_buffered = most_buffered.max(conn.buffered_input());
        assert!(
            conn.buffered_input() <= bound,
            "{} bytes buffered, bound {bound}",
            conn.buffered_input()
        );
        collect(&mut conn);
    }
    let poisoned = conn.is_poisoned();
    if poisoned {
        // Sticky: later requests are refused, later bytes ignored.
        assert!(matches!(
            conn.send(Command::version(), None),
            Err(Error::Poisoned(_) | Error::Closed)
        ));
        conn.handle_input(b"VALUE a 0 1\r\nx\r\nEND\r\n");
        assert_eq!(conn.buffered_input(), 0);
        assert!(conn.poll_response().is_none());
    }
    Played {
        results,
        poisoned,
        most_buffered,
    }
}

/// [`play_split`] in one piece, then cut at every byte boundary and byte
/// by byte: every way must give the same results, which are returned.
fn play_with(config: Config, requests: &[Command], wire: &[u8]) -> Played {
    let whole = play_split(config, requests, wire, &[]);
    let expected = format!("{:?}", whole.results);
    let mut ways: Vec<Vec<usize>> = (1..wire.len()).map(|at| vec![at]).collect();
    ways.push((1..wire.len()).collect());
    for cuts in ways {
        let split = play_split(config, requests, wire, &cuts);
        assert_eq!(
            format!("{:?}", split.results),
            expected,
            "cut at {cuts:?} of {:?}",
            String::from_utf8_lossy(wire)
        );
        assert_eq!(split.poisoned, whole.poisoned);
    }
    whole
}

fn play(requests: &[Command], wire: &[u8]) -> Played {
    play_with(Config::default(), requests, wire)
}

fn get(key: &str) -> Command {
    Command::get(key.to_owned()).into()
}

fn gets(key: &str) -> Command {
    Command::get(key.to_owned()).with_cas().into()
}

// ---- oversized lengths ----

#[test]
fn a_length_beyond_the_limit_fails_at_the_header() {
    for len in ["1048577", "4294967296", "18446744073709551615"] {
        let wire = format!("VALUE a 0 {len}\r\nxyz");
        let p = play(&[get("a"), get("b")], wire.as_bytes());
        assert!(
            matches!(p.violation(0), ProtocolError::ValueTooLarge { .. }),
            "{len}: {:?}",
            p.results
        );
        p.assert_poisoned(1);
        assert!(p.poisoned);
    }
}

#[test]
fn a_large_announced_length_buffers_only_what_arrived() {
    // 1 MiB announced, within the limit: nothing is set aside for it; the
    // connection holds only the bytes that really came.
    let mut conn = Connection::new(Config::default());
    conn.send(Command::get("a"), None).expect("send");
    conn.handle_input(b"VALUE a 0 1048576\r\n");
    assert_eq!(conn.buffered_input(), 0);
    for i in 1..=100 {
        conn.handle_input(b"0123456789");
        assert_eq!(conn.buffered_input(), i * 10);
    }
    assert!(conn.poll_response().is_none());
    assert!(!conn.is_poisoned());
    // A server that then closes leaves a typed error, not a value.
    conn.handle_close();
    let done = conn.poll_response().expect("a completion");
    assert!(
        matches!(done.result, Err(Error::Closed)),
        "{:?}",
        done.result
    );
}

#[test]
fn a_value_longer_than_announced_fails_at_its_terminator() {
    let p = play(&[get("a"), get("b")], b"VALUE a 0 3\r\nabcdef\r\nEND\r\n");
    assert_eq!(p.violation(0), &ProtocolError::BadDataTerminator);
    p.assert_poisoned(1);
    let p = play(&[get("a")], b"VALUE a 0 5\r\nab\r\nEND\r\n");
    assert!(p.poisoned, "{:?}", p.results);
}

// ---- wrong keys ----

#[test]
fn a_value_for_another_key_is_refused() {
    let p = play(&[get("a"), get("b")], b"VALUE b 0 1\r\nx\r\nEND\r\nEND\r\n");
    assert_eq!(p.violation(0), &ProtocolError::UnrequestedKey("b".into()));
    // The value meant (perhaps) for the next request is not handed to it.
    p.assert_poisoned(1);
}

#[test]
fn multi_get_values_repeated_or_not_asked_for_are_refused() {
    let multi: Command = Command::get_multi(["a", "b"]).into();
    for wire in [
        &b"VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n"[..],
        b"VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n",
        b"VALUE ab 0 1\r\n1\r\nEND\r\n",
        b"VALUE  0 1\r\n1\r\nEND\r\n",
    ] {
        let p = play(&[multi.clone(), get("c")], wire);
        assert!(
            matches!(p.violation(0), ProtocolError::UnrequestedKey(_)),
            "{:?}: {:?}",
            String::from_utf8_lossy(wire),
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn multi_get_values_in_another_order_keep_their_own_keys() {
    // A proxy merging servers' replies (twemproxy) may answer in its own
    // order: taken, each value under the key it came with.
    let multi: Command = Command::get_multi(["a", "b"]).into();
    let p = play(
        &[multi, get("c")],
        b"VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\nEND\r\n",
    );
    match p.result(0) {
        Ok(Response::Values(v)) => {
            let pairs: Vec<(&[u8], &[u8])> = v.iter().map(|v| (&v.key[..], &v.data[..])).collect();
            assert_eq!(pairs, [(&b"b"[..], &b"2"[..]), (b"a", b"1")]);
        }
        other => panic!("{other:?}"),
    }
    assert!(!p.poisoned);
}

#[test]
fn a_reply_of_the_wrong_kind_is_refused() {
    let cases: [(Command, &[u8]); 5] = [
        (
            Command::set("a", "1").into(),
            b"VALUE a 0 1\r\n1\r\nEND\r\n",
        ),
        (get("a"), b"STORED\r\n"),
        (Command::incr("a", 1).into(), b"DELETED\r\n"),
        (Command::delete("a").into(), b"STORED\r\n"),
        (
            Command::touch("a", std::time::Duration::from_secs(1)).into(),
            b"12\r\n",
        ),
    ];
    for (request, wire) in cases {
        let p = play(&[request.clone(), get("a")], wire);
        assert!(
            matches!(p.violation(0), ProtocolError::UnexpectedLine { .. }),
            "{request:?}: {:?}",
            p.results
        );
        p.assert_poisoned(1);
    }
}

// ---- unsolicited data ----

#[test]
fn bytes_with_nothing_pending_poison() {
    let p = play(&[], b"VALUE a 0 1\r\nx\r\nEND\r\n");
    assert!(p.poisoned);
    let p = play(&[], b"\0");
    assert!(p.poisoned);
}

#[test]
fn a_second_reply_to_one_request_poisons_and_misleads_no_one() {
    // One `set`, answered twice: the first answer is its own; the second
    // must not be kept for whoever asks next.
    let mut conn = Connection::new(Config::default());
    let set = conn.send(Command::set("a", "1"), None).expect("send");
    conn.handle_input(b"STORED\r\nVALUE b 0 1\r\nx\r\nEND\r\n");
    let done = conn.poll_response().expect("the set's reply");
    assert_eq!(done.id, set);
    assert!(matches!(done.result, Ok(Response::Stored)));
    assert!(conn.is_poisoned());
    assert!(matches!(
        conn.poison_cause(),
        Some(Error::Protocol(ProtocolError::UnsolicitedData(_)))
    ));
    assert!(matches!(
        conn.send(Command::get("b"), None),
        Err(Error::Poisoned(_))
    ));
    assert!(conn.poll_response().is_none());
}

// ---- line endings and NUL bytes ----

#[test]
fn a_bare_line_feed_poisons() {
    for wire in [
        &b"END\n"[..],
        b"VALUE a 0 1\nx\r\nEND\r\n",
        b"VALUE a 0 1\r\nx\r\nEND\n",
        b"\n",
        b"\r\r\n",
    ] {
        let p = play(&[get("a"), get("b")], wire);
        assert!(
            matches!(
                p.violation(0),
                ProtocolError::BadLineEnding | ProtocolError::UnexpectedLine { .. }
            ),
            "{:?}: {:?}",
            String::from_utf8_lossy(wire),
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn nul_bytes_in_reply_lines_poison() {
    for (request, wire) in [
        (get("a"), &b"VALUE a\0 0 1\r\nx\r\nEND\r\n"[..]),
        (get("a"), b"VALUE a 0\0 1\r\nx\r\nEND\r\n"),
        (get("a"), b"VALUE a 0 1\0\r\nx\r\nEND\r\n"),
        (get("a"), b"\0END\r\n"),
        (get("a"), b"END\0\r\n"),
        (Command::set("a", "1").into(), b"STO\0RED\r\n"),
        (Command::incr("a", 1).into(), b"1\x002\r\n"),
    ] {
        let p = play(&[request, get("b")], wire);
        assert!(
            matches!(
                p.violation(0),
                ProtocolError::UnexpectedLine { .. } | ProtocolError::UnrequestedKey(_)
            ),
            "{:?}: {:?}",
            String::from_utf8_lossy(wire),
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn nul_bytes_in_value_data_are_data() {
    let p = play(
        &[get("a"), get("b")],
        b"VALUE a 0 3\r\n\0\r\0\r\nEND\r\nEND\r\n",
    );
    match p.result(0) {
        Ok(Response::Values(v)) => assert_eq!(&v[0].data[..], b"\0\r\0"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.result(1), Ok(Response::Values(v)) if v.is_empty()));
    assert!(!p.poisoned);
}

// ---- negative and overflowing numbers ----

#[test]
fn negative_or_overflowing_value_headers_poison() {
    for header in [
        "VALUE a -1 1",                   // negative flags
        "VALUE a 4294967296 1",           // flags beyond u32
        "VALUE a 99999999999999999999 1", // flags beyond u64
        "VALUE a 0 -1",                   // negative length
        "VALUE a 0 +1",                   // signed length
        "VALUE a 0 18446744073709551616", // length beyond u64
        "VALUE a 0 1 5",                  // a cas nobody asked for
    ] {
        let wire = format!("{header}\r\nx\r\nEND\r\n");
        let p = play(&[get("a"), get("b")], wire.as_bytes());
        assert!(
            matches!(p.violation(0), ProtocolError::UnexpectedLine { .. }),
            "{header}: {:?}",
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn negative_or_overflowing_cas_uniques_poison() {
    for cas in ["-1", "18446744073709551616", "1e3", "0x10", ""] {
        let wire = format!("VALUE a 0 1 {cas}\r\nx\r\nEND\r\n");
        let p = play(&[gets("a"), get("b")], wire.as_bytes());
        assert!(
            matches!(p.violation(0), ProtocolError::UnexpectedLine { .. }),
            "cas {cas:?}: {:?}",
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn the_largest_numbers_are_read_exactly() {
    let p = play(
        &[gets("a"), Command::incr("n", 1).into()],
        b"VALUE a 4294967295 1 18446744073709551615\r\nx\r\nEND\r\n18446744073709551615\r\n",
    );
    match p.result(0) {
        Ok(Response::Values(v)) => {
            assert_eq!((v[0].flags, v[0].cas), (u32::MAX, Some(u64::MAX)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(p.result(1), Ok(Response::Number(u64::MAX))));
}

#[test]
fn negative_or_overflowing_incr_results_poison() {
    for number in ["-1", "18446744073709551616", "+5", " 5", "5x", "0x5"] {
        let wire = format!("{number}\r\n");
        let p = play(&[Command::incr("n", 1).into(), get("b")], wire.as_bytes());
        assert!(
            matches!(p.violation(0), ProtocolError::UnexpectedLine { .. }),
            "{number:?}: {:?}",
            p.results
        );
        p.assert_poisoned(1);
    }
}

// ---- unterminated lines ----

#[test]
fn an_unterminated_line_is_refused_at_the_limit() {
    let config = Config::default().max_line_len(64);
    // No line end at all, and one that comes too late.
    for wire in [
        vec![b'A'; 200],
        [vec![b'V'; 100], b"\r\n".to_vec()].concat(),
    ] {
        let p = play_with(config, &[get("a"), get("b")], &wire);
        assert_eq!(p.violation(0), &ProtocolError::LineTooLong { max: 64 });
        p.assert_poisoned(1);
        assert!(p.most_buffered <= 65, "{} bytes buffered", p.most_buffered);
    }
}

#[test]
fn an_endless_line_never_grows_the_buffer_past_the_default_limit() {
    let mut conn = Connection::new(Config::default());
    conn.send(Command::get("a"), None).expect("send");
    let chunk = [b'x'; 1000];
    for _ in 0..1000 {
        conn.handle_input(&chunk);
        assert!(conn.buffered_input() <= 8 * 1024 + 1);
    }
    assert!(conn.is_poisoned());
    let done = conn.poll_response().expect("a completion");
    assert!(matches!(
        done.result,
        Err(Error::Protocol(ProtocolError::LineTooLong { .. }))
    ));
}

// ---- meta replies ----

#[test]
fn a_meta_reply_for_another_key_or_token_is_refused() {
    let get_k: Command = Command::meta_get("a").with_key().into();
    let p = play(&[get_k, get("b")], b"VA 1 kb\r\nx\r\n");
    assert!(
        matches!(p.violation(0), ProtocolError::KeyMismatch { .. }),
        "{:?}",
        p.results
    );
    p.assert_poisoned(1);

    let get_o: Command = Command::meta_get("a").opaque(7u32).into();
    for wire in [&b"VA 1 O8\r\nx\r\n"[..], b"HD O70\r\n"] {
        let p = play(&[get_o.clone(), get("b")], wire);
        assert!(
            matches!(p.violation(0), ProtocolError::OpaqueMismatch { .. }),
            "{:?}: {:?}",
            String::from_utf8_lossy(wire),
            p.results
        );
        p.assert_poisoned(1);
    }
}

#[test]
fn meta_value_lengths_that_lie_poison() {
    let mg: Command = Command::meta_get("a").into();
    for wire in [
        &b"VA 1048577\r\n"[..],
        b"VA 18446744073709551616\r\nx\r\n",
        b"VA -1\r\nx\r\n",
        b"VA 3\r\nabcdef\r\n",
        b"VA 1\nx\r\n",
        b"V\0A 1\r\nx\r\n",
    ] {
        let p = play(&[mg.clone(), get("b")], wire);
        assert!(
            matches!(p.result(0), Err(Error::Protocol(_))),
            "{:?}: {:?}",
            String::from_utf8_lossy(wire),
            p.results
        );
        p.assert_poisoned(1);
    }
}

// ---- errors the server may send: typed, and the connection lives ----

#[test]
fn server_errors_are_per_request_and_keep_the_stream() {
    let p = play(
        &[get("a"), get("b")],
        b"SERVER_ERROR out of memory\r\nVALUE b 0 1\r\n2\r\nEND\r\n",
    );
    assert!(matches!(p.result(0), Err(Error::Server(m)) if m == "out of memory"));
    match p.result(1) {
        Ok(Response::Values(v)) => assert_eq!(&v[0].data[..], b"2"),
        other => panic!("{other:?}"),
    }
    assert!(!p.poisoned);
}
