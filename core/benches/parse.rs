//! Throughput of the sans-IO core: encoding requests and parsing replies,
//! whole and in small reads. Results and the command are in BENCHMARKS.md.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memwire_core::{Command, Config, Connection, Response};

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

criterion_group!(benches, get_replies, pipelined_small_gets, encoding);
criterion_main!(benches);
