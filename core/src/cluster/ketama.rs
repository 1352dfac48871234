//! Consistent hashing compatible with libmemcached's weighted ketama.
//!
//! This reproduces libmemcached's `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`
//! placement exactly, so memwire can share a cluster with C, PHP and Python
//! clients built on libmemcached:
//!
//! * **Key hash**: the first four bytes of `md5(key)`, read little-endian
//!   ([`key_hash`]).
//! * **Points per server**: with total weight `W` over `n` servers, a server of
//!   weight `w` gets `floor(w / W * 160 / 4 * n + 1e-10) * 4` points, computed
//!   in **`f32`** in exactly that order, as libmemcached does. Doing the same
//!   sum in `f64` gives different counts for some weight sets. A weight of 0
//!   counts as 1, as in libmemcached.
//! * **Point values**: for `i` in `0..points / 4`, the md5 of `"{label}-{i}"`
//!   yields four points: its four 4-byte words read little-endian. The label
//!   is the host when the port is 11211 and `host:port` otherwise (a Unix
//!   socket is `path:0`, its port being 0 in libmemcached); see
//!   [`libmemcached_label`]. libmemcached's "spy" distribution uses
//!   `/host:port` labels instead; pass those to [`Ketama::with_labels`].
//! * **Lookup**: points sorted by (value, server index); a key goes to the
//!   first point whose value is `>=` its hash, wrapping around to the first
//!   point when the hash is above every point.
//!
//! Other clients must run in weighted mode too: libmemcached's
//! `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` (also switched on by any weight
//! above 1), PHP's `Memcached::OPT_LIBKETAMA_COMPATIBLE`, pylibmc's
//! `"ketama_weighted": True`. Plain `MEMCACHED_BEHAVIOR_KETAMA` with every weight 1
//! builds a different, unweighted continuum, which this module does not
//! implement. They must also list the same servers in the same order with the
//! same weights, and hash the bare key (libmemcached's default; it hashes
//! the namespace prefix too only with `MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY`).

use super::address::{ServerAddr, DEFAULT_PORT};
use super::md5::md5;

/// Continuum points per server at average weight (libmemcached's
/// `MEMCACHED_POINTS_PER_SERVER_KETAMA`).
pub const POINTS_PER_SERVER: u32 = 160;

/// Points taken from each md5 digest of a point label.
const POINTS_PER_HASH: u32 = 4;

/// One point on the continuum. Field order gives the derived ordering
/// (value, then server index), the same order libmemcached sorts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    value: u32,
    server: usize,
}

/// A weighted ketama continuum mapping keys to server indexes.
///
/// Placement depends only on the server labels, their order and their
/// weights, never on server health: a key always maps to the same server for
/// the same list.
///
/// # Examples
///
/// ```
/// # use memwire_core::cluster::{address::ServerAddr, ketama::Ketama};
/// let servers: Vec<(ServerAddr, u32)> = ["10.0.1.1:11211", "10.0.1.2:11211"]
///     .iter()
///     .map(|s| (s.parse().unwrap(), 1))
///     .collect();
/// let ketama = Ketama::new(&servers);
/// let index = ketama.server_for(b"user:42").unwrap();
/// assert!(index < 2);
/// // The same key always lands on the same server.
/// assert_eq!(ketama.server_for(b"user:42"), Some(index));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ketama {
    points: Vec<Point>,
    servers: usize,
}

impl Ketama {
    /// Builds the continuum for `(address, weight)` pairs with
    /// libmemcached's point labels ([`libmemcached_label`]). Indexes returned
    /// by lookups are positions in `servers`.
    #[must_use]
    pub fn new(servers: &[(ServerAddr, u32)]) -> Ketama {
        let labeled: Vec<(Vec<u8>, u32)> = servers
            .iter()
            .map(|(addr, weight)| (libmemcached_label(addr), *weight))
            .collect();
        Ketama::with_labels(&labeled)
    }

    /// Builds the continuum from explicit `(label, weight)` pairs. Point `i`
    /// of a server is hashed from `"{label}-{i}"`. Use this for label
    /// schemes other than libmemcached's default, such as its spymemcached
    /// mode (`/host:port`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use memwire_core::cluster::ketama::Ketama;
    /// let spy = Ketama::with_labels(&[("/10.0.1.1:11211", 1), ("/10.0.1.2:11211", 1)]);
    /// assert_eq!(spy.server_count(), 2);
    /// assert_eq!(spy.point_count(), 320);
    /// ```
    #[must_use]
    pub fn with_labels<L: AsRef<[u8]>>(servers: &[(L, u32)]) -> Ketama {
        let total_weight: u64 = servers
            .iter()
            .map(|(_, weight)| u64::from(effective_weight(*weight)))
            .sum();
        let mut points = Vec::new();
        let mut text = Vec::new();
        for (server, (label, weight)) in servers.iter().enumerate() {
            let count = points_for_weight(effective_weight(*weight), total_weight, servers.len());
            for i in 0..count / POINTS_PER_HASH {
                text.clear();
                text.extend_from_slice(label.as_ref());
                text.push(b'-');
                text.extend_from_slice(i.to_string().as_bytes());
                let digest = md5(&text);
                points.extend(digest.chunks_exact(4).map(|word| Point {
                    value: le_u32(word),
                    server,
                }));
            }
        }
        points.sort_unstable();
        Ketama {
            points,
            servers: servers.len(),
        }
    }

    /// The index of the server that owns `key`, or `None` when the
    /// continuum has no points (no servers).
    #[must_use]
    pub fn server_for(&self, key: &[u8]) -> Option<usize> {
        self.server_for_hash(key_hash(key))
    }

    /// The index of the server that owns a key whose [`key_hash`] is `hash`.
    #[must_use]
    pub fn server_for_hash(&self, hash: u32) -> Option<usize> {
        self.point_for_hash(hash).map(|(_, server)| server)
    }

    /// The continuum point chosen for `hash` — the first point whose value
    /// is `>= hash`, or the first point overall when `hash` is above every
    /// point — as `(point value, server index)`.
    #[must_use]
    pub fn point_for_hash(&self, hash: u32) -> Option<(u32, usize)> {
        let after = self.points.partition_point(|p| p.value < hash);
        self.points
            .get(after)
            .or_else(|| self.points.first())
            .map(|p| (p.value, p.server))
    }

    /// The server for `hash` among those `accept` takes: the first point at
    /// or after the one [`Ketama::point_for_hash`] chooses (wrapping
    /// around) whose server is accepted. Only the keys of refused servers
    /// move, each to the next accepted server along the ring, and they come
    /// back when their server is accepted again. `None` when no server is.
    ///
    /// ```
    /// # use memwire_core::cluster::{address::ServerAddr, ketama::{key_hash, Ketama}};
    /// let servers: Vec<(ServerAddr, u32)> =
    ///     ["a", "b", "c"].iter().map(|s| (s.parse().unwrap(), 1)).collect();
    /// let ketama = Ketama::new(&servers);
    /// let hash = key_hash(b"user:42");
    /// let owner = ketama.server_for_hash(hash).unwrap();
    /// let fallback = ketama.server_for_hash_among(hash, |s| s != owner).unwrap();
    /// assert_ne!(fallback, owner);
    /// assert_eq!(ketama.server_for_hash_among(hash, |_| true), Some(owner));
    /// assert_eq!(ketama.server_for_hash_among(hash, |_| false), None);
    /// ```
    #[must_use]
    pub fn server_for_hash_among(
        &self,
        hash: u32,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let after = self.points.partition_point(|p| p.value < hash);
        let (tail, head) = (
            self.points.get(after..).unwrap_or_default(),
            self.points.get(..after).unwrap_or_default(),
        );
        tail.iter()
            .chain(head)
            .map(|p| p.server)
            .find(|&server| accept(server))
    }

    /// How many servers the continuum was built from.
    #[must_use]
    pub fn server_count(&self) -> usize {
        self.servers
    }

    /// How many points the continuum holds in total.
    #[must_use]
    pub fn point_count(&self) -> usize {
        self.points.len()
    }
}

/// The ketama hash of a key: the first four bytes of its md5 digest, read
/// little-endian (libmemcached's `MEMCACHED_HASH_MD5`).
///
/// # Examples
///
/// ```
/// # use memwire_core::cluster::ketama::key_hash;
/// assert_eq!(key_hash(b"VDEAAAAA"), 0xfffc_d1b5);
/// ```
#[must_use]
pub fn key_hash(key: &[u8]) -> u32 {
    le_u32(&md5(key))
}

/// The label libmemcached hashes a server's points from: `host` when the
/// port is 11211, `host:port` otherwise, and `path:0` for a Unix socket.
/// IPv6 hosts appear without brackets.
///
/// # Examples
///
/// ```
/// # use memwire_core::cluster::ketama::libmemcached_label;
/// let label = |s: &str| libmemcached_label(&s.parse().unwrap());
/// assert_eq!(label("10.0.1.1:11211"), b"10.0.1.1");
/// assert_eq!(label("cache:11212"), b"cache:11212");
/// assert_eq!(label("memcacheds://cache:11212"), b"cache:11212"); // TLS: the same
/// assert_eq!(label("/tmp/mc.sock"), b"/tmp/mc.sock:0");
/// ```
#[must_use]
pub fn libmemcached_label(addr: &ServerAddr) -> Vec<u8> {
    match addr {
        // TLS or not, the same label: TLS and plain-text clients share a
        // cluster.
        ServerAddr::Tcp { host, port, .. } if *port == DEFAULT_PORT => host.as_bytes().to_vec(),
        ServerAddr::Tcp { host, port, .. } => format!("{host}:{port}").into_bytes(),
        ServerAddr::Unix(path) => {
            let mut label = path.as_os_str().as_encoded_bytes().to_vec();
            label.extend_from_slice(b":0");
            label
        }
    }
}

/// libmemcached stores a weight of 0 as 1.
fn effective_weight(weight: u32) -> u32 {
    weight.max(1)
}

/// Points for one server, in libmemcached's `f32` arithmetic:
/// `floor(pct * 160 / 4 * live + 1e-10f) * 4`, evaluated left to right.
fn points_for_weight(weight: u32, total_weight: u64, live_servers: usize) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let per_hash = pct * POINTS_PER_SERVER as f32 / POINTS_PER_HASH as f32 * live_servers as f32
        + 0.000_000_000_1_f32;
    // `as` saturates; the value is at most about 40 * live_servers.
    (per_hash.floor() as u32).saturating_mul(POINTS_PER_HASH)
}

/// Reads the first four bytes of `bytes` as a little-endian `u32`; missing
/// bytes count as zero.
fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    for (dst, src) in word.iter_mut().zip(bytes) {
        *dst = *src;
    }
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors converted from libmemcached's `test/fixtures/ketama.hpp`
    /// (awesomized/libmemcached, BSD-3-Clause; Copyright (c) 2006-2014 Brian
    /// Aker, (c) 2020 Michael Wallner). See the header of the file.
    const VECTORS: &str = include_str!("ketama-vectors.tsv");

    /// The servers of the vector file, in order, all on port 11211.
    const SERVERS: [(&str, u32); 8] = [
        ("10.0.1.1", 600),
        ("10.0.1.2", 300),
        ("10.0.1.3", 200),
        ("10.0.1.4", 350),
        ("10.0.1.5", 1000),
        ("10.0.1.6", 800),
        ("10.0.1.7", 950),
        ("10.0.1.8", 100),
    ];

    struct Vector<'a> {
        table: &'a str,
        key: &'a str,
        hash1: u32,
        hash2: u32,
        server: &'a str,
    }

    fn vectors() -> Vec<Vector<'static>> {
        VECTORS
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), 5, "malformed vector line {line:?}");
                Vector {
                    table: fields[0],
                    key: fields[1],
                    hash1: fields[2].parse().expect("hash1"),
                    hash2: fields[3].parse().expect("hash2"),
                    server: fields[4],
                }
            })
            .collect()
    }

    fn libmemcached_ketama() -> Ketama {
        let servers: Vec<(ServerAddr, u32)> = SERVERS
            .iter()
            .map(|(host, weight)| {
                let addr = ServerAddr::tcp(*host, 11211);
                (addr, *weight)
            })
            .collect();
        Ketama::new(&servers)
    }

    fn spy_ketama() -> Ketama {
        let labels: Vec<(String, u32)> = SERVERS
            .iter()
            .map(|(host, weight)| (format!("/{host}:11211"), *weight))
            .collect();
        Ketama::with_labels(&labels)
    }

    fn server_index(host: &str) -> usize {
        SERVERS
            .iter()
            .position(|(h, _)| *h == host)
            .unwrap_or_else(|| panic!("unknown server {host}"))
    }

    /// Checks every row of `table`: hash1 is the key hash, `ketama` places
    /// the key on the expected server, and hash2 is the continuum point that
    /// `hash2_ketama` picks for hash1.
    fn check_table(table: &str, ketama: &Ketama, hash2_ketama: &Ketama) -> usize {
        let mut checked = 0;
        for v in vectors().iter().filter(|v| v.table == table) {
            let expected = server_index(v.server);
            assert_eq!(
                key_hash(v.key.as_bytes()),
                v.hash1,
                "{table} hash1 of {:?}",
                v.key
            );
            assert_eq!(
                hash2_ketama.point_for_hash(v.hash1).map(|(point, _)| point),
                Some(v.hash2),
                "{table} hash2 for {:?} (hash1 {})",
                v.key,
                v.hash1
            );
            assert_eq!(
                ketama.point_for_hash(v.hash1).map(|(_, server)| server),
                Some(expected),
                "{table} point for {:?}",
                v.key
            );
            assert_eq!(
                ketama.server_for(v.key.as_bytes()),
                Some(expected),
                "{table} server for {:?}",
                v.key
            );
            checked += 1;
        }
        checked
    }

    #[test]
    fn libmemcached_vectors() {
        let ketama = libmemcached_ketama();
        assert_eq!(check_table("libmemcached", &ketama, &ketama), 99);
    }

    /// Upstream's spy fixture reuses hash1 and hash2 from the default table
    /// (its test only checks the server), so hash2 there is the point the
    /// *default* continuum picks; only the server comes from the spy one.
    #[test]
    fn spy_vectors() {
        assert_eq!(
            check_table("spy", &spy_ketama(), &libmemcached_ketama()),
            99
        );
    }

    #[test]
    fn vector_file_has_only_known_tables() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 198);
        assert!(vectors
            .iter()
            .all(|v| v.table == "libmemcached" || v.table == "spy"));
    }

    /// libmemcached's own test: "VDEAAAAA" hashes past the last point and
    /// wraps around to the first point of the continuum.
    #[test]
    fn wraps_around_past_the_last_point() {
        for ketama in [libmemcached_ketama(), spy_ketama()] {
            let hash = key_hash(b"VDEAAAAA");
            assert_eq!(hash, 0xfffc_d1b5);
            let first = ketama.points[0];
            let last = ketama.points[ketama.points.len() - 1];
            assert!(last.value < hash, "hash must be above every point");
            assert_eq!(
                ketama.point_for_hash(hash),
                Some((first.value, first.server))
            );
            assert_eq!(
                ketama.point_for_hash(u32::MAX),
                Some((first.value, first.server))
            );
            assert_eq!(ketama.point_for_hash(0), Some((first.value, first.server)));
        }
    }

    #[test]
    fn a_hash_equal_to_a_point_maps_to_that_point() {
        let ketama = libmemcached_ketama();
        for p in ketama.points.iter().step_by(37) {
            assert_eq!(
                ketama.point_for_hash(p.value).map(|(v, _)| v),
                Some(p.value)
            );
        }
    }

    #[test]
    fn points_follow_the_weights() {
        let ketama = libmemcached_ketama();
        // Total weight 4300 over 8 servers: floor(w / 4300 * 40 * 8) * 4.
        let expected = [176, 88, 56, 104, 296, 236, 280, 28];
        for (server, want) in expected.iter().enumerate() {
            let got = ketama.points.iter().filter(|p| p.server == server).count();
            assert_eq!(got, *want, "points of server {server}");
        }
        assert_eq!(ketama.point_count(), expected.iter().sum::<usize>());
        assert!(ketama.points.windows(2).all(|w| w[0] <= w[1]), "sorted");
    }

    /// The point count is computed in f32, as libmemcached does: for weights
    /// 58, 1, 1 the first server gets `58 / 60 * 40 * 3`, exactly 116 in real
    /// numbers (and in f64), but 115.99999 in f32, so 460 points, not 464.
    #[test]
    fn point_count_uses_f32_arithmetic() {
        assert_eq!(points_for_weight(58, 60, 3), 460);
        assert_eq!(points_for_weight(1, 60, 3), 8);
        let ketama = Ketama::with_labels(&[("a", 58), ("b", 1), ("c", 1)]);
        assert_eq!(ketama.point_count(), 476);
        // Equal weights: 1/3 * 40 * 3 rounds to exactly 40.0 in f32.
        assert_eq!(points_for_weight(1, 3, 3), 160);
    }

    #[test]
    fn zero_weight_counts_as_one() {
        let zero = Ketama::with_labels(&[("a", 0), ("b", 1)]);
        let one = Ketama::with_labels(&[("a", 1), ("b", 1)]);
        assert_eq!(zero, one);
        assert_eq!(zero.point_count(), 320);
    }

    #[test]
    fn empty_continuum_has_no_server() {
        let ketama = Ketama::with_labels::<&str>(&[]);
        assert_eq!(ketama.server_for(b"key"), None);
        assert_eq!(ketama.point_for_hash(0), None);
        assert_eq!(ketama.server_count(), 0);
    }

    #[test]
    fn single_server_takes_every_key() {
        let ketama = Ketama::with_labels(&[("only", 7)]);
        assert_eq!(ketama.point_count(), 160);
        for key in [&b""[..], b"a", b"VDEAAAAA", b"user:42"] {
            assert_eq!(ketama.server_for(key), Some(0));
        }
    }

    #[test]
    fn labels_follow_libmemcached() {
        let label = |s: &str| match s.parse::<ServerAddr>() {
            Ok(addr) => libmemcached_label(&addr),
            Err(e) => panic!("{s}: {e}"),
        };
        assert_eq!(label("10.0.1.1:11211"), b"10.0.1.1");
        assert_eq!(label("10.0.1.1"), b"10.0.1.1");
        assert_eq!(label("cache:11212"), b"cache:11212");
        assert_eq!(label("[::1]:11211"), b"::1");
        assert_eq!(label("[::1]:5"), b"::1:5");
        assert_eq!(label("unix:/tmp/mc.sock"), b"/tmp/mc.sock:0");
        assert_eq!(label("memcacheds://10.0.1.1"), b"10.0.1.1");
        assert_eq!(label("memcacheds://[::1]:5"), b"::1:5");
        // A non-default port changes every point, hence placement.
        let a = Ketama::new(&[(label_addr("h", 11211), 1), (label_addr("g", 11211), 1)]);
        let b = Ketama::new(&[(label_addr("h", 11212), 1), (label_addr("g", 11211), 1)]);
        assert_ne!(a, b);
    }

    fn label_addr(host: &str, port: u16) -> ServerAddr {
        ServerAddr::tcp(host, port)
    }

    /// Adding a server moves only the keys it takes over.
    #[test]
    fn adding_a_server_moves_few_keys() {
        let three = Ketama::with_labels(&[("a", 1), ("b", 1), ("c", 1)]);
        let four = Ketama::with_labels(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
        let moved = keys
            .iter()
            .filter(|k| {
                let before = three.server_for(k.as_bytes());
                let after = four.server_for(k.as_bytes());
                before != after && after != Some(3)
            })
            .count();
        assert_eq!(moved, 0, "keys must move only to the new server");
    }
}
