//! [`GetMulti`]: a retrieval of many keys across servers.

use std::ops::Range;

use bytes::Bytes;

use crate::client::ops::Hits;
use crate::client::{CheckedPlan, Dispatch, Operation, Protocol, Router};
use crate::cluster::ServerAddr;
use crate::error::Error;
use crate::expiry::Expiry;
use crate::key;
use crate::meta::MetaGet;
use crate::request::{Command, Keys, Retrieve};
use crate::response::{Response, Value, Values};

/// `get`/`gets`/`gat`/`gats` of many keys: the keys are grouped by owning
/// server, each group cut into requests of at most
/// [`Config::max_keys`](crate::Config::max_keys) keys, and the hits come
/// back in request order (misses absent; a key asked for twice is answered
/// twice). A server that fails costs only its own keys: the result
/// ([`Hits`]) holds every hit that came back and names the servers that
/// failed.
///
/// ```
/// use memwire_core::client::{ops::GetMulti, Operation, Router};
/// use memwire_core::cluster::Cluster;
/// use memwire_core::{Config, Response, Value};
///
/// let router = Router::new(Cluster::from_strs(&["a", "b", "c"])?, Config::default().max_keys(2));
/// let keys = ["k1", "k2", "k3", "k4", "k5"];
/// let mut op = GetMulti::new(keys);
/// let mut out = Vec::new();
/// op.plan(&router, &mut out)?;
/// assert!(out.iter().all(|d| d.command.keys().len() <= 2));
/// // Every server answers every key it was asked for.
/// for (i, d) in out.iter().enumerate() {
///     let hits = d.command.keys().iter().map(|k| Value::new(k.clone(), 0, k.clone())).collect();
///     op.complete(i, Ok(Response::Values(hits)));
/// }
/// let hits = op.finish()?;
/// assert!(hits.is_complete());
/// let got: Vec<&[u8]> = hits.iter().map(|v| &v.key[..]).collect();
/// assert_eq!(got, [&b"k1"[..], b"k2", b"k3", b"k4", b"k5"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct GetMulti {
    keys: KeyList,
    cas: bool,
    touch: Option<Expiry>,
    /// The positions in `keys` grouped by server, each server's cut into
    /// requests.
    order: Vec<usize>,
    /// For each planned request, its server and the span of `order` that
    /// holds the positions of its keys.
    requests: Vec<(ServerAddr, Range<usize>)>,
    /// The hit for each position of `keys`, once a reply must be placed
    /// (empty until then).
    hits: Vec<Option<Value>>,
    /// The hits of the only request, when they came back in its order:
    /// the result as it is, nothing to place.
    in_order: Option<Values>,
    /// The servers that failed, once each.
    failures: Vec<(ServerAddr, Error)>,
}

impl GetMulti {
    /// A `get` of `keys`.
    pub fn new<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> GetMulti {
        GetMulti {
            keys: KeyList::copy(keys),
            cas: false,
            touch: None,
            order: Vec::new(),
            requests: Vec::new(),
            hits: Vec::new(),
            in_order: None,
            failures: Vec::new(),
        }
    }

    /// Ask for CAS uniques (`gets`).
    pub fn with_cas(mut self) -> GetMulti {
        self.cas = true;
        self
    }

    /// Also set a new expiration time on every hit (`gat`).
    pub fn touch(mut self, expiry: impl Into<Expiry>) -> GetMulti {
        self.touch = Some(expiry.into());
        self
    }
}

/// The keys, copied one after another into one shared buffer: one
/// allocation for all of them, and a key sent is a slice of it that only
/// counts a reference.
#[derive(Debug)]
struct KeyList {
    buf: Bytes,
    /// Where each key ends in `buf`.
    ends: Vec<usize>,
}

/// The room first made per key in [`KeyList`]'s buffer (longer keys grow
/// it).
const KEY_LEN_GUESS: usize = 16;

impl KeyList {
    fn copy<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> KeyList {
        let keys = keys.into_iter();
        let count = keys.size_hint().0;
        let mut buf = Vec::with_capacity(count.saturating_mul(KEY_LEN_GUESS));
        let mut ends = Vec::with_capacity(count);
        for k in keys {
            buf.extend_from_slice(k.as_ref());
            ends.push(buf.len());
        }
        KeyList {
            buf: Bytes::from(buf),
            ends,
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether every key is valid ([`key::validate`]): the lengths one
    /// by one, the bytes of all of them in one pass.
    fn all_valid(&self) -> bool {
        let mut start = 0;
        let lengths = self.ends.iter().all(|&end| {
            let len = end.saturating_sub(start);
            start = end;
            (1..=key::MAX_KEY_LEN).contains(&len)
        });
        lengths && !key::has_invalid_byte(&self.buf)
    }

    /// The keys in order.
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = self.buf.get(start..end).unwrap_or_default();
            start = end;
            key
        })
    }

    /// Where the key at `position` lies in `buf`.
    fn span(&self, position: usize) -> Range<usize> {
        let start = position
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        start..self.ends.get(position).copied().unwrap_or(start)
    }

    fn get(&self, position: usize) -> &[u8] {
        self.buf.get(self.span(position)).unwrap_or_default()
    }

    /// The keys at `positions`, shared.
    fn shared(&self, positions: Range<usize>) -> impl Iterator<Item = Bytes> + '_ {
        let mut start = self.span(positions.start).start;
        let ends = self.ends.get(positions).unwrap_or_default();
        ends.iter().map(move |&end| {
            let key = self.buf.slice(start..end);
            start = end;
            key
        })
    }

    /// The key at `position`, shared.
    fn bytes(&self, position: usize) -> Bytes {
        self.buf.slice(self.span(position))
    }
}

/// Whether `key` and `hit` hold the same bytes: at once when `hit` is
/// `key` itself (the parser hands back the key it was given).
fn same(key: &[u8], hit: &[u8]) -> bool {
    std::ptr::eq(key, hit) || key == hit
}

impl GetMulti {
    /// The requests for the keys at `span` of `order`, all owned by
    /// `server`, at most `max_keys` per request.
    fn plan_server(
        &mut self,
        (server, addr): (usize, &ServerAddr),
        span: Range<usize>,
        max_keys: usize,
        meta: bool,
        out: &mut Vec<Dispatch>,
    ) {
        let mut start = span.start;
        while start < span.end {
            let end = span.end.min(start.saturating_add(max_keys));
            let chunk = start..end;
            start = end;
            if meta {
                self.plan_meta(server, addr, chunk, out);
                continue;
            }
            let positions = self.order.get(chunk.clone()).unwrap_or_default();
            let keys: Keys = match (positions.first(), positions.last()) {
                // A server's positions increase: these are one run of
                // keys (all of them, with one server), sliced in one walk.
                (Some(&first), Some(&last))
                    if last.checked_sub(first) == positions.len().checked_sub(1) =>
                {
                    // (Collected in a `Vec` in a tighter loop than the
                    // list's own `extend`: the list takes it as it is.)
                    Keys::from(self.keys.shared(first..last + 1).collect::<Vec<_>>())
                }
                _ => positions.iter().map(|&p| self.keys.bytes(p)).collect(),
            };
            let command = Command::Retrieve(Retrieve {
                keys,
                cas: self.cas,
                touch: self.touch,
            });
            out.push(Dispatch { server, command });
            self.requests.push((addr.clone(), chunk));
        }
    }

    /// The meta form of one request: a quiet `mg` per key (a miss sends
    /// nothing back), then `mn`, whose reply ends the batch.
    fn plan_meta(
        &mut self,
        server: usize,
        addr: &ServerAddr,
        chunk: Range<usize>,
        out: &mut Vec<Dispatch>,
    ) {
        for at in chunk.clone() {
            let Some(&position) = self.order.get(at) else {
                continue;
            };
            let mut get = MetaGet::new(self.keys.bytes(position))
                .with_client_flags()
                .quiet();
            if self.cas {
                get = get.with_cas();
            }
            if let Some(expiry) = self.touch {
                get = get.touch(expiry);
            }
            out.push(Dispatch {
                server,
                command: get.into(),
            });
            self.requests.push((addr.clone(), at..at + 1));
        }
        out.push(Dispatch {
            server,
            command: Command::meta_noop(),
        });
        self.requests.push((addr.clone(), chunk.end..chunk.end));
    }

    fn fail_request(&mut self, index: usize, error: Error) {
        let Some((addr, _)) = self.requests.get(index) else {
            return;
        };
        match self.failures.iter_mut().find(|(a, _)| a == addr) {
            None => self.failures.push((addr.clone(), error)),
            // The failure itself rather than what it did to the requests
            // around it, whichever completed first.
            Some((_, known)) if matches!(known, Error::Poisoned(_)) => *known = error,
            Some(_) => {}
        }
    }

    /// The hit of each position, allocated when first needed.
    fn slots(&mut self) -> &mut Vec<Option<Value>> {
        if self.hits.len() != self.keys.len() {
            self.hits = vec![None; self.keys.len()];
        }
        &mut self.hits
    }
}

impl Operation for GetMulti {
    type Output = Result<Hits, Error>;

    fn plan(&mut self, router: &Router, out: &mut Vec<Dispatch>) -> Result<(), Error> {
        let count = self.keys.len();
        if !self.keys.all_valid() {
            // Which key, and why.
            for p in 0..count {
                key::validate(self.keys.get(p))?;
            }
        }
        if let Some(expiry) = self.touch {
            expiry.to_wire()?;
        }
        let max_keys = router.limits().max_keys;
        if max_keys == 0 && count > 0 {
            return Err(Error::TooManyKeys { count, max: 0 });
        }
        let max_keys = max_keys.max(1);
        let meta = router.protocol() == Protocol::Meta;
        let servers = router.servers();
        if let [addr] = servers {
            // One server owns every key: nothing to route or group.
            self.order = (0..count).collect();
            self.plan_server((0, addr), 0..count, max_keys, meta, out);
            return Ok(());
        }
        let mut by_server: Vec<Vec<usize>> = vec![Vec::new(); servers.len()];
        for p in 0..count {
            if let Some(group) = by_server.get_mut(router.route(self.keys.get(p))) {
                group.push(p);
            }
        }
        self.order = Vec::with_capacity(count);
        for ((server, addr), positions) in servers.iter().enumerate().zip(by_server) {
            let start = self.order.len();
            self.order.extend(positions);
            let span = start..self.order.len();
            self.plan_server((server, addr), span, max_keys, meta, out);
        }
        Ok(())
    }

    fn complete(&mut self, index: usize, result: Result<Response, Error>) {
        let hits = match result {
            Ok(Response::Values(hits)) => hits,
            // A key's `mg` (a hit, or the silent miss `MN` completed), or
            // the `mn` itself (no positions).
            Ok(Response::Meta(reply)) => {
                let position = self
                    .requests
                    .get(index)
                    .and_then(|(_, span)| self.order.get(span.clone()))
                    .and_then(<[usize]>::first)
                    .copied();
                if let Some(p) = position.filter(|&p| p < self.keys.len()) {
                    let hit = reply.into_item(self.keys.bytes(p));
                    if let Some(slot) = self.slots().get_mut(p) {
                        *slot = hit;
                    }
                }
                return;
            }
            Ok(_) => {
                let unexpected = crate::ProtocolError::UnexpectedLine {
                    line: "a reply other than values".into(),
                    request: "retrieval",
                };
                return self.fail_request(index, Error::Protocol(unexpected));
            }
            Err(e) => return self.fail_request(index, e),
        };
        let Some((_, span)) = self.requests.get(index) else {
            return;
        };
        let span = span.clone();
        // The only request, for every key (so in their order): when the
        // hits answer the keys in that order (misses skipped), as memcached
        // answers, they are the result.
        if self.requests.len() == 1 && span.len() == self.keys.len() && self.in_order.is_none() {
            let mut keys = self.keys.iter();
            if hits.iter().all(|hit| keys.any(|key| same(key, &hit.key))) {
                self.in_order = Some(hits);
                return;
            }
        }
        self.slots();
        let positions = self.order.get(span).unwrap_or_default();
        let (keys, slots) = (&self.keys, &mut self.hits);
        // Each hit fills the first position of the request that asks for
        // its key and has no hit yet (the parser checked there is one).
        // memcached answers in request order, found at once after the last
        // hit; a proxy such as twemproxy may answer in another order.
        let mut next = 0;
        for hit in hits {
            let open = |i: &usize| {
                positions.get(*i).is_some_and(|&p| {
                    same(keys.get(p), &hit.key) && slots.get(p).is_some_and(Option::is_none)
                })
            };
            let start = next.min(positions.len());
            let found = (start..positions.len()).chain(0..start).find(open);
            if let Some(slot) = found
                .and_then(|i| positions.get(i))
                .and_then(|&p| slots.get_mut(p))
            {
                *slot = Some(hit);
            }
            next = found.map_or(next, |i| i + 1);
        }
    }

    fn finish(self) -> Result<Hits, Error> {
        if let Some(values) = self.in_order {
            return Ok(Hits::new(values.into_vec(), self.failures));
        }
        // Sized once: collecting the hits would grow the list as it goes.
        let mut values = Vec::with_capacity(self.hits.iter().flatten().count());
        values.extend(self.hits.into_iter().flatten());
        Ok(Hits::new(values, self.failures))
    }

    fn fail(self, error: Error) -> Result<Hits, Error> {
        Err(error)
    }

    fn checks_plan(&self) -> Option<CheckedPlan> {
        // `plan` checks every text command it plans (meta ones are checked
        // as they are encoded).
        CheckedPlan::vouch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Cluster;
    use crate::key::KeyError;
    use crate::Config;

    fn router(servers: &[&str], max_keys: usize) -> Router {
        let cluster = Cluster::from_strs(servers).unwrap();
        Router::new(cluster, Config::default().max_keys(max_keys))
    }

    fn answer_all(op: &mut GetMulti, out: &[Dispatch], skip: &[u8]) {
        for (i, d) in out.iter().enumerate() {
            let hits = d
                .command
                .keys()
                .iter()
                .filter(|k| &k[..] != skip)
                .map(|k| Value::new(k.clone(), 0, k.clone()))
                .collect();
            op.complete(i, Ok(Response::Values(hits)));
        }
    }

    #[test]
    fn no_keys_allowed_per_request_refuses_before_sending() {
        let mut op = GetMulti::new(["a"]);
        let mut out = Vec::new();
        assert!(matches!(
            op.plan(&router(&["a:1"], 0), &mut out),
            Err(Error::TooManyKeys { count: 1, max: 0 })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn keys_are_split_by_server_and_limit_and_come_back_in_order() {
        let r = router(&["a:1", "b:1", "c:1"], 4);
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        let mut op = GetMulti::new(&keys);
        let mut out = Vec::new();
        op.plan(&r, &mut out).unwrap();
        assert!(out.iter().all(|d| d.command.keys().len() <= 4));
        for d in &out {
            assert!(d
                .command
                .keys()
                .iter()
                .all(|k| r.server_for_key(k) == d.server));
        }
        let asked: usize = out.iter().map(|d| d.command.keys().len()).sum();
        assert_eq!(asked, 50);
        answer_all(&mut op, &out, b"k7");
        let hits = op.finish().unwrap();
        assert!(hits.is_complete());
        let got: Vec<String> = hits
            .iter()
            .map(|v| String::from_utf8_lossy(&v.key).into_owned())
            .collect();
        let expected: Vec<String> = keys.iter().filter(|k| *k != "k7").cloned().collect();
        assert_eq!(got, expected);
    }

    /// A proxy (twemproxy) merging its servers' replies answers in another
    /// order: the hits still come back in request order, duplicates too.
    #[test]
    fn hits_answered_out_of_order_come_back_in_request_order() {
        let r = router(&["proxy:1"], 100);
        let keys = ["a", "b", "c", "a", "d"];
        let mut op = GetMulti::new(keys);
        let mut out = Vec::new();
        op.plan(&r, &mut out).unwrap();
        let reply = ["d", "a", "c", "a"]
            .iter()
            .map(|k| Value::new(*k, 0, format!("{k}!")))
            .collect();
        op.complete(0, Ok(Response::Values(reply)));
        let hits = op.finish().unwrap();
        let got: Vec<&[u8]> = hits.iter().map(|v| &v.key[..]).collect();
        assert_eq!(got, [&b"a"[..], b"c", b"a", b"d"]);
        assert!(hits.iter().all(|v| v.data.ends_with(b"!")));
    }

    fn answer_all_but_first(op: &mut GetMulti, out: &[Dispatch]) {
        for (i, d) in out.iter().enumerate().skip(1) {
            let hits = d
                .command
                .keys()
                .iter()
                .map(|k| Value::new(k.clone(), 0, k.clone()))
                .collect();
            op.complete(i, Ok(Response::Values(hits)));
        }
    }

    #[test]
    fn duplicates_are_answered_twice() {
        let r = router(&["a:1"], 10);
        let mut op = GetMulti::new(["a", "b", "a"]);
        let mut out = Vec::new();
        op.plan(&r, &mut out).unwrap();
        answer_all(&mut op, &out, b"");
        assert_eq!(op.finish().unwrap().len(), 3);
    }

    #[test]
    fn a_bad_key_refuses_everything_and_a_failed_server_costs_its_keys_only() {
        let r = router(&["a:1", "b:1"], 10);
        let mut op = GetMulti::new(["ok", "not ok"]);
        let mut out = Vec::new();
        assert!(matches!(op.plan(&r, &mut out), Err(Error::InvalidKey(_))));
        assert!(out.is_empty());

        let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let mut op = GetMulti::new(&keys);
        let mut out = Vec::new();
        op.plan(&r, &mut out).unwrap();
        assert!(out.len() >= 2);
        op.complete(0, Err(Error::Timeout));
        answer_all_but_first(&mut op, &out);
        let failed_server = out[0].server;
        let hits = op.finish().unwrap();
        assert_eq!(hits.failures().len(), 1);
        assert_eq!(hits.failures()[0].0, r.servers()[failed_server]);
        assert!(hits
            .iter()
            .all(|v| r.server_for_key(&v.key) != failed_server));
        let expected = out[1..]
            .iter()
            .map(|d| d.command.keys().len())
            .sum::<usize>();
        assert_eq!(hits.len(), expected);
        assert!(matches!(hits.into_result(), Err(Error::Timeout)));
    }

    /// The first invalid key is named, whatever makes it so.
    #[test]
    fn the_first_invalid_key_is_the_error() {
        let r = router(&["a:1"], 10);
        let long = "k".repeat(251);
        let cases: [(&[&str], KeyError); 4] = [
            (&["a", "", "b c"], KeyError::Empty),
            (&["a", &long, ""], KeyError::TooLong { len: 251 }),
            (
                &["a", "b\x7f", ""],
                KeyError::InvalidByte {
                    byte: 0x7f,
                    position: 1,
                },
            ),
            (
                &["ab", "c\r\nget x", &long],
                KeyError::InvalidByte {
                    byte: b'\r',
                    position: 1,
                },
            ),
        ];
        for (keys, expected) in cases {
            let mut out = Vec::new();
            let result = GetMulti::new(keys).plan(&r, &mut out);
            assert!(
                matches!(result, Err(Error::InvalidKey(e)) if e == expected),
                "{keys:?}"
            );
            assert!(out.is_empty());
        }
        let mut out = Vec::new();
        GetMulti::new(["a", &"k".repeat(250), "~"])
            .plan(&r, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn no_keys_sends_nothing() {
        let r = router(&["a:1"], 10);
        let mut op = GetMulti::new(Vec::<&str>::new());
        let mut out = Vec::new();
        op.plan(&r, &mut out).unwrap();
        assert!(out.is_empty());
        assert!(op.finish().unwrap().is_empty());
    }
}
