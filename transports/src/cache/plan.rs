//! What each cache call sends and what it makes of the outcome — all but
//! the I/O, shared by the blocking [`Cache`](super::Cache) and the
//! [`AsyncCache`](super::AsyncCache), which only run the requests planned
//! here. Time is passed in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use memwire_core::client::stampede::{ComputeError, Recache};
use memwire_core::client::{PerServer, Router};
use memwire_core::{Command, Error, ErrorKind, Expiry, StatMap, Store, Value};

use super::codec::{CacheKey, CacheValue, FromCacheKey, FromCacheValue};
use super::config::CacheSettings;
use super::hook::{CacheOp, Failure};
use super::keys;
use super::tracking::{expires_at, KeyForm, Record};
use super::{server_label, CacheError};

/// Most read-modify-write attempts on a key-tracking record before giving
/// up (each conflict means another writer succeeded).
const MAX_RECORD_ATTEMPTS: u32 = 200;

/// Wall-clock Unix seconds, rounded down.
pub(crate) fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A lifetime in seconds, as lovely.memcached takes it, at `now`: 0 never
/// expires; up to 30 days a relative expiry; beyond, the absolute time
/// `now + seconds` (memcached would read the number itself as a date in
/// 1970).
pub(crate) fn lifetime_expiry(seconds: u32, now: SystemTime) -> Expiry {
    let after = Duration::from_secs(u64::from(seconds));
    match seconds {
        0 => Expiry::Never,
        _ if after <= Expiry::MAX_RELATIVE => Expiry::In(after),
        _ => Expiry::At(now + after),
    }
}

/// When a stored value expires: a lifetime or an [`Expiry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    Secs(u32),
    Expiry(Expiry),
}

impl Lifetime {
    fn expiry(self, now: SystemTime) -> Expiry {
        match self {
            Lifetime::Secs(s) => lifetime_expiry(s, now),
            Lifetime::Expiry(e) => e,
        }
    }
}

/// Per-call settings: namespace, lifetime, raw key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// `Some` overrides the default namespace (`Some(None)`: none).
    pub(crate) namespace: Option<Option<String>>,
    pub(crate) lifetime: Option<Lifetime>,
    pub(crate) raw: bool,
}

/// What the sync and async caches share: settings and the failure count.
#[derive(Debug)]
pub(crate) struct Shared {
    settings: CacheSettings,
    failures: AtomicU64,
}

/// A call's request is on its way: what follows it.
#[derive(Debug)]
pub(crate) struct AfterCall {
    mkey: String,
    track: Option<RecordUpdate>,
}

impl AfterCall {
    /// The memcached key of the call.
    pub(crate) fn mkey(&self) -> &str {
        &self.mkey
    }
}

impl Shared {
    pub(crate) fn new(settings: CacheSettings) -> Shared {
        Shared {
            settings,
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Count a failure and hand it to the hook (without one, with the
    /// feature `tracing`: a warning event).
    pub(crate) fn report(&self, operation: CacheOp, key: &str, error: CacheError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let failure = Failure {
            operation,
            key,
            error: &error,
        };
        match &self.settings.on_error {
            Some(hook) => hook(&failure),
            #[cfg(feature = "tracing")]
            None => tracing::warn!(%operation, key, %error, "memwire cache: failure absorbed"),
            #[cfg(not(feature = "tracing"))]
            None => {}
        }
    }

    /// A client error: the caller's mistake is returned, anything else is
    /// reported and absorbed.
    fn absorb(&self, operation: CacheOp, key: &str, e: Error) -> Result<(), CacheError> {
        if e.kind() == ErrorKind::Input {
            return Err(CacheError::Request(e));
        }
        self.report(operation, key, CacheError::Request(e));
        Ok(())
    }

    /// The namespace of a call.
    pub(crate) fn namespace<'a>(&'a self, options: &'a CallOptions) -> Option<&'a str> {
        match &options.namespace {
            Some(ns) => ns.as_deref(),
            None => self.settings.namespace.as_deref(),
        }
    }

    /// The memcached key of `key` in a call: hashed or raw.
    pub(crate) fn memcached_key<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
    ) -> Result<String, CacheError> {
        let namespace = self.namespace(options);
        if options.raw {
            keys::raw_key(namespace, &key.raw_bytes()?)
        } else {
            keys::hashed_key(namespace, key)
        }
    }

    /// The form key tracking records for `key`.
    fn key_form<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
    ) -> Result<KeyForm, CacheError> {
        if options.raw {
            Ok(KeyForm::Raw(key.raw_bytes()?))
        } else {
            key.key_form()
        }
    }

    // ---- set ----

    /// A computed value as stored: its encoding (flags) and bytes, or why
    /// there is none.
    pub(crate) fn encode_computed<V: CacheValue, E>(
        computed: Result<V, E>,
    ) -> Result<(u32, Bytes), CacheError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let encoded = computed
            .map_err(|e| CacheError::Compute(Arc::new(e)))?
            .encode_value()?;
        Ok((encoded.flags, encoded.data))
    }

    /// The `set` to send, and what follows it.
    pub(crate) fn plan_set<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
        value: impl CacheValue,
        now: SystemTime,
    ) -> Result<(Store, AfterCall), CacheError> {
        let (mkey, expiry, track) = self.plan_write(options, key, now)?;
        let encoded = value.encode_value()?;
        let store = Command::set(mkey.clone(), encoded.data)
            .flags(encoded.flags)
            .expiry(expiry);
        Ok((store, AfterCall { mkey, track }))
    }

    /// What writing `key` takes: its memcached key, the expiry of the
    /// call's lifetime (refused here, before anything is sent or tracked,
    /// when memcached cannot take it), and the key-tracking update to run
    /// once it is written.
    fn plan_write<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
        now: SystemTime,
    ) -> Result<(String, Expiry, Option<RecordUpdate>), CacheError> {
        let mkey = self.memcached_key(options, key)?;
        let lifetime = options
            .lifetime
            .unwrap_or(Lifetime::Secs(self.settings.default_lifetime));
        let expiry = lifetime.expiry(now);
        expiry.to_wire().map_err(CacheError::Request)?;
        let track = match self.settings.track_keys {
            true => Some(RecordUpdate::new(
                self.namespace(options),
                &mkey,
                Change::Insert {
                    form: self.key_form(options, key)?,
                    expires: expires_at(expiry, now),
                },
            )),
            false => None,
        };
        Ok((mkey, expiry, track))
    }

    /// The memcached key to return, and the record update to run.
    pub(crate) fn set_done(
        &self,
        after: AfterCall,
        result: Result<(), Error>,
    ) -> Result<(String, Option<RecordUpdate>), CacheError> {
        match result {
            Ok(()) => Ok((after.mkey, after.track)),
            Err(e) => {
                self.absorb(CacheOp::Set, &after.mkey, e)?;
                Ok((after.mkey, None))
            }
        }
    }

    // ---- get_or_compute ----

    /// The memcached key and lease of a `get_or_compute`, and the record
    /// update to run if this caller computes the value.
    pub(crate) fn plan_compute<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
        now: SystemTime,
    ) -> Result<(String, Recache, Option<RecordUpdate>), CacheError> {
        let (mkey, expiry, track) = self.plan_write(options, key, now)?;
        Ok((mkey, Recache::new(expiry), track))
    }

    /// The outcome of a `get_or_compute`, decoded.
    pub(crate) fn compute_done<V: FromCacheValue>(
        &self,
        result: Result<Value, ComputeError<CacheError>>,
    ) -> Result<V, CacheError> {
        match result {
            Ok(v) => V::decode_value(v.flags, v.data),
            Err(ComputeError::Compute(e)) => Err(e),
            Err(ComputeError::Cache(e)) => Err(CacheError::Request(e)),
            Err(_) => Err(CacheError::Request(Error::Closed)),
        }
    }

    // ---- query ----

    /// The value of a `get` of `mkey`, decoded.
    pub(crate) fn query_done<V: FromCacheValue>(
        &self,
        mkey: &str,
        result: Result<Option<Value>, Error>,
    ) -> Result<Option<V>, CacheError> {
        match result {
            Ok(Some(v)) => V::decode_value(v.flags, v.data).map(Some),
            Ok(None) => Ok(None),
            Err(e) => {
                self.absorb(CacheOp::Query, mkey, e)?;
                Ok(None)
            }
        }
    }

    // ---- invalidate ----

    /// The key to `delete`, and what follows.
    pub(crate) fn plan_invalidate<K: CacheKey + ?Sized>(
        &self,
        options: &CallOptions,
        key: &K,
    ) -> Result<AfterCall, CacheError> {
        let mkey = self.memcached_key(options, key)?;
        let track = match self.settings.track_keys {
            true => Some(RecordUpdate::new(
                self.namespace(options),
                &mkey,
                Change::Remove(self.key_form(options, key)?),
            )),
            false => None,
        };
        Ok(AfterCall { mkey, track })
    }

    /// The record update to run after the `delete` (absent is fine).
    pub(crate) fn invalidate_done(
        &self,
        after: AfterCall,
        result: Result<(), Error>,
    ) -> Result<Option<RecordUpdate>, CacheError> {
        match result {
            Ok(()) | Err(Error::NotFound) => {}
            Err(e) => self.absorb(CacheOp::Invalidate, &after.mkey, e)?,
        }
        Ok(after.track)
    }

    // ---- key tracking ----

    /// How a record update ended (failures go to the hook).
    pub(crate) fn record_done(&self, update: &RecordUpdate, result: Result<(), CacheError>) {
        if let Err(e) = result {
            self.report(CacheOp::TrackKeys, &update.item_key, e);
        }
    }

    /// The memcached key of the record to read for `keys`.
    pub(crate) fn keys_record(&self, options: &CallOptions) -> Result<String, CacheError> {
        if !self.settings.track_keys {
            return Err(CacheError::KeysNotTracked);
        }
        Ok(keys::tracking_key(self.namespace(options)))
    }

    /// The live keys in the record read from `rkey`.
    pub(crate) fn keys_done<K: FromCacheKey>(
        &self,
        rkey: &str,
        result: Result<Option<Value>, Error>,
        now: SystemTime,
    ) -> Result<Vec<K>, CacheError> {
        let record = match result {
            Ok(None) => return Ok(Vec::new()),
            Ok(Some(v)) => match Record::parse(&v.data) {
                Ok(r) => r,
                Err(e) => {
                    self.report(CacheOp::Keys, rkey, CacheError::Tracking(e.to_string()));
                    return Ok(Vec::new());
                }
            },
            Err(e) => {
                self.absorb(CacheOp::Keys, rkey, e)?;
                return Ok(Vec::new());
            }
        };
        record
            .live(unix_secs(now))
            .map(|e| K::from_key_form(&e.key))
            .collect()
    }

    // ---- every server ----

    /// Report the servers whose `flush_all` failed.
    pub(crate) fn flush_done(&self, results: PerServer<()>) {
        for (addr, result) in results {
            if let Err(e) = result {
                self.report(
                    CacheOp::InvalidateAll,
                    &addr.to_string(),
                    CacheError::Request(e),
                );
            }
        }
    }
}

/// Statistics labelled `host:port (weight)`, as lovely.memcached shows
/// them.
pub(crate) fn label_stats(
    router: &Router,
    stats: PerServer<StatMap>,
) -> Vec<(String, Result<StatMap, Error>)> {
    let weights = router.cluster().weights();
    stats
        .into_iter()
        .enumerate()
        .map(|(i, (addr, stats))| {
            let weight = weights.get(i).copied().unwrap_or(1);
            (server_label(&addr, weight), stats)
        })
        .collect()
}

/// A change to a namespace's key record.
#[derive(Debug, Clone)]
enum Change {
    Insert { form: KeyForm, expires: u64 },
    Remove(KeyForm),
}

/// What to do after storing a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Done,
    /// Read the record again, after waiting this long (zero: at once).
    Retry(Duration),
}

/// One read-modify-write of a key record, CAS-safe: read it with `gets`,
/// store the changed record with `add` (absent) or `cas`, and start over
/// when another writer got there first.
///
/// ```text
/// loop {
///     let found = client.gets(update.record_key());
///     let Some(store) = update.store_for(found, now)? else { break };
///     match update.stored(client.store(store))? { Next::Done => break, Next::Retry(wait) => sleep(wait) }
/// }
/// ```
#[derive(Debug)]
pub(crate) struct RecordUpdate {
    record_key: String,
    item_key: String,
    change: Change,
    attempts: u32,
}

impl RecordUpdate {
    fn new(namespace: Option<&str>, item_key: &str, change: Change) -> RecordUpdate {
        RecordUpdate {
            record_key: keys::tracking_key(namespace),
            item_key: item_key.to_owned(),
            change,
            attempts: 0,
        }
    }

    /// The record's memcached key.
    pub(crate) fn record_key(&self) -> &str {
        &self.record_key
    }

    /// The store to send given the record as read by `gets`, or `None`
    /// when there is nothing to change.
    pub(crate) fn store_for(
        &mut self,
        found: Result<Option<Value>, Error>,
        now: SystemTime,
    ) -> Result<Option<Store>, CacheError> {
        self.attempts += 1;
        let (mut record, cas) = match found.map_err(CacheError::Request)? {
            None => (Record::default(), None),
            Some(v) => (
                Record::parse(&v.data).map_err(|e| CacheError::Tracking(e.to_string()))?,
                v.cas,
            ),
        };
        let now = unix_secs(now);
        let changed = match &self.change {
            Change::Insert { form, expires } => {
                record.insert(form.clone(), *expires, now);
                true
            }
            Change::Remove(form) => record.remove(form, now),
        };
        if !changed {
            return Ok(None);
        }
        let key = self.record_key.clone();
        Ok(Some(match cas {
            None => Command::add(key, record.encode()),
            Some(cas) => Command::cas(key, record.encode(), cas),
        }))
    }

    /// What to do after the store's `result`.
    pub(crate) fn stored(&mut self, result: Result<(), Error>) -> Result<Next, CacheError> {
        match result {
            Ok(()) => Ok(Next::Done),
            // Another writer changed (or created, or removed) the record.
            Err(Error::NotStored | Error::Exists | Error::NotFound) => {
                if self.attempts >= MAX_RECORD_ATTEMPTS {
                    return Err(CacheError::Tracking(format!(
                        "record {} still contended after {MAX_RECORD_ATTEMPTS} attempts",
                        self.record_key
                    )));
                }
                // Several writers collide: back off a little, differently
                // per attempt, so that one of them gets through.
                let wait = match self.attempts {
                    0..=2 => 0,
                    n => u64::from(n % 17) * 50,
                };
                Ok(Next::Retry(Duration::from_micros(wait)))
            }
            Err(e) => Err(CacheError::Request(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheBuilder;
    use std::sync::{Arc, Mutex};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn shared(track: bool, log: &Arc<Mutex<Vec<String>>>) -> Shared {
        let log = Arc::clone(log);
        Shared::new(
            CacheBuilder::new()
                .track_keys(track)
                .namespace("n")
                .on_error(move |f| log.lock().unwrap().push(f.to_string()))
                .settings(),
        )
    }

    #[test]
    fn lifetimes_beyond_30_days_become_absolute() {
        assert_eq!(lifetime_expiry(0, at(5)), Expiry::Never);
        assert_eq!(lifetime_expiry(1, at(5)), Expiry::secs(1));
        let month = 30 * 86_400;
        assert_eq!(
            lifetime_expiry(month, at(5)),
            Expiry::secs(u64::from(month))
        );
        assert_eq!(
            lifetime_expiry(month + 1, at(2_000_000)),
            Expiry::At(at(2_000_000 + u64::from(month) + 1))
        );
    }

    #[test]
    fn a_set_is_planned_with_flags_expiry_and_tracking() {
        let log = Arc::default();
        let s = shared(true, &log);
        let now = at(1_700_000_000);
        let options = CallOptions {
            lifetime: Some(Lifetime::Secs(40 * 86_400)),
            ..CallOptions::default()
        };
        let (store, after) = s.plan_set(&options, &1, "v", now).unwrap();
        assert_eq!(store.flags, 1);
        assert_eq!(store.expiry, Expiry::At(at(1_700_000_000 + 40 * 86_400)));
        assert_eq!(after.mkey(), keys::hashed_key(Some("n"), &1).unwrap());
        let (mkey, update) = s.set_done(after, Ok(())).unwrap();
        assert_eq!(mkey.len(), 32);
        let mut update = update.unwrap();
        assert_eq!(update.record_key(), keys::tracking_key(Some("n")));
        let store = update.store_for(Ok(None), now).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(store.data.to_vec()).unwrap(),
            format!("memwire-keys 1\n{} j 31\n", 1_700_000_000 + 40 * 86_400)
        );
        assert_eq!(update.stored(Ok(())).unwrap(), Next::Done);
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn server_failures_are_absorbed_and_caller_mistakes_returned() {
        let log = Arc::default();
        let s = shared(false, &log);
        let (_, after) = s
            .plan_set(&CallOptions::default(), "k", "v", at(0))
            .unwrap();
        let (_, update) = s.set_done(after, Err(Error::Timeout)).unwrap();
        assert!(update.is_none());
        let (_, after) = s
            .plan_set(&CallOptions::default(), "k", "v", at(0))
            .unwrap();
        let too_big = Error::InvalidArgument("too big");
        assert!(matches!(
            s.set_done(after, Err(too_big)),
            Err(CacheError::Request(_))
        ));
        assert_eq!(
            s.query_done::<String>("m", Err(Error::Closed)).unwrap(),
            None
        );
        assert_eq!(s.failures(), 2);
        assert_eq!(log.lock().unwrap().len(), 2);
        assert!(log.lock().unwrap()[0].starts_with("memwire cache: set failed ("));
        // An expiry memcached cannot take is refused before sending.
        let options = CallOptions {
            lifetime: Some(Lifetime::Expiry(Expiry::secs(31 * 86_400))),
            ..CallOptions::default()
        };
        assert!(matches!(
            s.plan_set(&options, "k", "v", at(0)),
            Err(CacheError::Request(_))
        ));
        assert!(matches!(
            s.keys_record(&CallOptions::default()),
            Err(CacheError::KeysNotTracked)
        ));
    }

    #[test]
    fn contended_records_retry_then_give_up() {
        let log = Arc::default();
        let s = shared(true, &log);
        let mut update = s
            .plan_invalidate(&CallOptions::default(), "k")
            .unwrap()
            .track
            .unwrap();
        // Nothing to remove from an absent record: nothing to store.
        assert!(update.store_for(Ok(None), at(0)).unwrap().is_none());
        let mut record = Value::new("r", 0, "memwire-keys 1\n0 s 6b\n");
        record.cas = Some(9);
        let store = update
            .store_for(Ok(Some(record.clone())), at(0))
            .unwrap()
            .unwrap();
        assert_eq!(store.mode, memwire_core::StoreMode::Cas(9));
        assert_eq!(&store.data[..], b"memwire-keys 1\n");
        assert!(matches!(
            update.stored(Err(Error::Exists)),
            Ok(Next::Retry(_))
        ));
        for _ in 0..MAX_RECORD_ATTEMPTS {
            let _ = update.store_for(Ok(Some(record.clone())), at(0));
        }
        assert!(matches!(
            update.stored(Err(Error::Exists)),
            Err(CacheError::Tracking(_))
        ));
        let bad = Value::new("r", 0, "not a record");
        assert!(matches!(
            update.store_for(Ok(Some(bad)), at(0)),
            Err(CacheError::Tracking(_))
        ));
    }
}
