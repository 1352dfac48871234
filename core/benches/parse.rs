//! Throughput of the sans-IO core: encoding requests and parsing replies,
//! whole and in small reads. Results and the command are in BENCHMARKS.md.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use memwire_core::{Command, Config, Connection, Expect, Response, ResponseParser, Status};

/// A `get` reply carrying `len` bytes of data.
fn value_reply(len: usize) -> Vec<u8> {
    let mut wire = format!("VALUE key 0 {len}\r\n").into_bytes();
    wire.resize(wire.len() + len, b'x');
    wire.extend_from_slice(b"\r\nEND\r\n");
    wire
}

/// Send one `get`, feed `wire` in `chunk`-byte reads, return the value size.
fn round_trip(wire: &[u8], chunk: usize) -> usize {
    let mut conn = Connection::new(Config::default());
    conn.send(Command::get("key"), None).expect("valid");
    for piece in wire.chunks(chunk) {
        conn.handle_input(piece);
    }
    match conn.poll_response().map(|c| c.result) {
        Some(Ok(Response::Values(v))) => v.first().map_or(0, |v| v.data.len()),
        other => panic!("{other:?}"),
    }
}

fn get_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("get reply");
    for len in [16usize, 1024, 100 * 1024, 1024 * 1024] {
        let wire = value_reply(len);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::new("whole", len), &wire, |b, wire| {
            b.iter(|| round_trip(black_box(wire), wire.len()))
        });
        group.bench_with_input(BenchmarkId::new("4KiB reads", len), &wire, |b, wire| {
            b.iter(|| round_trip(black_box(wire), 4096))
        });
    }
    group.finish();
}

fn pipelined_small_gets(c: &mut Criterion) {
    // 1000 pipelined gets of 32-byte values, replies arriving in 16 KiB reads.
    let n = 1000;
    let mut wire = Vec::new();
    for i in 0..n {
        wire.extend_from_slice(format!("VALUE k{i} 0 32\r\n").as_bytes());
        wire.extend_from_slice(&[b'v'; 32]);
        wire.extend_from_slice(b"\r\nEND\r\n");
    }
    let keys: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("k{i}"))).collect();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("1000 gets, 16KiB reads", |b| {
        b.iter(|| {
            let mut conn = Connection::new(Config::default());
            for k in &keys {
                conn.send(Command::get(k.clone()), None).expect("valid");
            }
            let out = conn.pending_output().len();
            conn.advance_output(out);
            for piece in wire.chunks(16 * 1024) {
                conn.handle_input(piece);
            }
            let mut done = 0;
            while conn.poll_response().is_some() {
                done += 1;
            }
            assert_eq!(done, n);
        })
    });
    group.finish();
}

/// A multi-get reply of about 1 MB: 8192 hits of 100-byte values, and
/// the keys asked for.
fn multi_get_reply() -> (Vec<u8>, Vec<Bytes>) {
    let keys: Vec<Bytes> = (0..8192)
        .map(|i| Bytes::from(format!("key:{i:05}")))
        .collect();
    let mut wire = Vec::new();
    for k in &keys {
        wire.extend_from_slice(b"VALUE ");
        wire.extend_from_slice(k);
        wire.extend_from_slice(b" 0 100\r\n");
        wire.extend_from_slice(&[b'v'; 100]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"END\r\n");
    (wire, keys)
}

fn multi_get(c: &mut Criterion) {
    let (wire, keys) = multi_get_reply();
    let config = Config::default().max_keys(keys.len());
    let hits = |r: Option<Result<Response, memwire_core::Error>>| match r {
        Some(Ok(Response::Values(v))) if v.len() == keys.len() => v,
        other => panic!("{other:?}"),
    };
    let mut group = c.benchmark_group("1 MB multi-get reply, 100-byte values");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("parser alone", |b| {
        b.iter_batched(
            || {
                let expect = Expect::Values {
                    keys: keys.clone().into(),
                    cas: false,
                };
                (
                    ResponseParser::new(expect, &config),
                    BytesMut::from(&wire[..]),
                )
            },
            |(mut parser, mut input)| match parser.parse(&mut input) {
                Ok(Status::Complete(r)) => hits(Some(r)),
                other => panic!("{other:?}"),
            },
            BatchSize::LargeInput,
        )
    });
    let sent = || {
        let mut conn = Connection::new(config);
        conn.send(Command::get_multi(keys.iter().cloned()), None)
            .expect("valid");
        let n = conn.pending_output().len();
        conn.advance_output(n);
        conn
    };
    // What reading costs before any parsing: the same 64 KiB pieces
    // copied into fresh buffers, all kept until the end as the reply's
    // values keep theirs. A socket's read makes this copy too.
    group.bench_function("copy alone, 64 KiB pieces into fresh buffers", |b| {
        b.iter(|| {
            let kept: Vec<BytesMut> = wire.chunks(64 * 1024).map(BytesMut::from).collect();
            black_box(kept)
        })
    });
    group.bench_function("handle_input, 64 KiB reads", |b| {
        b.iter_batched(
            sent,
            |mut conn| {
                for piece in wire.chunks(64 * 1024) {
                    conn.handle_input(piece);
                }
                hits(conn.poll_response().map(|c| c.result))
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("read into input_buffer, 64 KiB reads", |b| {
        b.iter_batched(
            sent,
            |mut conn| {
                // What a socket's read into the connection's buffer does.
                let mut rest = &wire[..];
                while !rest.is_empty() {
                    let room = conn.input_buffer();
                    let n = room.len().min(64 * 1024).min(rest.len());
                    room[..n].copy_from_slice(&rest[..n]);
                    conn.commit_input(n);
                    rest = &rest[n..];
                }
                hits(conn.poll_response().map(|c| c.result))
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let config = Config::default();
    let data = Bytes::from(vec![b'x'; 1024]);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("set 1KiB", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let cmd: Command = Command::set("some:key:1234", data.clone())
                .flags(12)
                .expiry(memwire_core::Expiry::secs(30))
                .into();
            black_box(cmd.encode(&mut out, &config).expect("valid"));
        })
    });
    group.bench_function("get 100 keys", |b| {
        let keys: Vec<Bytes> = (0..100).map(|i| Bytes::from(format!("key:{i}"))).collect();
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            let cmd: Command = Command::get_multi(keys.iter().cloned()).into();
            black_box(cmd.encode(&mut out, &config).expect("valid"));
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    get_replies,
    pipelined_small_gets,
    multi_get,
    encoding
);
criterion_main!(benches);
