//! [`Router`]: which server each command goes to, and how each server is
//! doing.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::client::health::{Admission, HealthEvent, ServerHealth, Transition};
use crate::client::metrics::{Meter, ServerCounters, ServerMetrics};
use crate::client::{trace, Protocol};
use crate::cluster::{Cluster, HealthConfig, ServerAddr};
use crate::connection::Config;
use crate::error::Error;

/// A user's hook for server state changes: called with the server and
/// what happened to it, on the thread that noticed, possibly while the
/// client holds an internal lock: keep it short, and do not call the
/// client from it.
#[derive(Clone)]
pub struct HealthHook(Arc<HookFn>);

/// The function behind a [`HealthHook`].
type HookFn = dyn Fn(&ServerAddr, Transition) + Send + Sync;

impl HealthHook {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&ServerAddr, Transition) + Send + Sync + 'static) -> HealthHook {
        HealthHook(Arc::new(f))
    }
}

impl fmt::Debug for HealthHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HealthHook(..)")
    }
}

/// What a client does about servers that fail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailurePolicy {
    /// When a server is marked down and retried.
    pub health: HealthConfig,
    /// Send the keys of a down server to the next live server along the
    /// ketama ring (only its keys move; they come back when it is up
    /// again), instead of failing them fast with
    /// [`Error::NoServer`]. Off by default: other clients sharing the
    /// cluster cannot see this client's view of health, so a moved key may
    /// be read stale or written twice while servers disagree.
    pub eject: bool,
    /// Called on every up/down transition.
    pub hook: Option<HealthHook>,
    /// Retry a read once on a fresh connection when its connection failed
    /// under it (see [`Call`](super::Call)). On by default.
    pub retry_reads: bool,
}

impl Default for FailurePolicy {
    fn default() -> FailurePolicy {
        FailurePolicy {
            health: HealthConfig::default(),
            eject: false,
            hook: None,
            retry_reads: true,
        }
    }
}

/// The server list with its key placement, protocol limits and each
/// server's health: all an [`Operation`](super::Operation) consults to
/// plan its commands, and the failure policy transports report to. Shared
/// by every caller of a client (`Send + Sync`).
///
/// Placement is libmemcached's weighted ketama ([`Cluster`]); with one
/// server every key goes to it. By default placement never depends on
/// health: while a key's server is down its requests fail fast with
/// [`Error::NoServer`]. With [`FailurePolicy::eject`] they go to the next
/// live server along the ring until it is back.
///
/// ```
/// use memwire_core::client::Router;
/// use memwire_core::cluster::Cluster;
/// use memwire_core::Config;
///
/// let router = Router::new(Cluster::from_strs(&["10.0.0.1", "10.0.0.2"])?, Config::default());
/// let server = router.server_for_key(b"user:42");
/// println!("user:42 lives on {}", router.servers()[server]);
/// # Ok::<(), memwire_core::cluster::ClusterError>(())
/// ```
pub struct Router {
    cluster: Cluster,
    limits: Config,
    protocol: Protocol,
    eject: bool,
    retry_reads: bool,
    hook: Option<HealthHook>,
    health: Vec<Mutex<ServerHealth>>,
    /// Mirrors whether each server needs a probe before requests (it is
    /// being checked, or down), for admitting without locks.
    gated: Vec<AtomicBool>,
    /// Mirrors each server's down state, for routing without locks.
    down: Vec<AtomicBool>,
    /// Each server's last event was a reply (no failure counted, no probe
    /// under way): another reply changes nothing, and is recorded without
    /// taking the server's lock.
    clean: Vec<AtomicBool>,
    /// How many servers are down: zero (the usual case) skips all checks.
    downs: AtomicUsize,
    /// Each server's counters, shared with the calls planned here.
    meters: Arc<[Meter]>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("servers", &self.cluster.servers())
            .field("limits", &self.limits)
            .field("eject", &self.eject)
            .field("down", &self.downs.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over `cluster`, planning within `limits`, with the default
    /// failure policy.
    pub fn new(cluster: Cluster, limits: Config) -> Router {
        Router::with_policy(cluster, limits, FailurePolicy::default())
    }

    /// A router with a failure policy.
    pub fn with_policy(cluster: Cluster, limits: Config, policy: FailurePolicy) -> Router {
        let health = cluster
            .servers()
            .iter()
            .map(|addr| Mutex::new(ServerHealth::new(addr.clone(), policy.health)))
            .collect();
        let flags = || {
            cluster
                .servers()
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect()
        };
        let (gated, down, clean) = (flags(), flags(), flags());
        let meters = cluster
            .servers()
            .iter()
            .map(|addr| Meter {
                addr: addr.clone(),
                counters: Arc::default(),
            })
            .collect();
        Router {
            clean,
            cluster,
            limits,
            protocol: Protocol::Text,
            eject: policy.eject,
            retry_reads: policy.retry_reads,
            hook: policy.hook,
            health,
            gated,
            down,
            downs: AtomicUsize::new(0),
            meters,
        }
    }

    /// A router for a new server list that keeps what this one knows of the
    /// servers the two lists share (their health and counters, by address).
    pub fn reconfigured(&self, cluster: Cluster, limits: Config, policy: FailurePolicy) -> Router {
        let mut next = Router::with_policy(cluster, limits, policy);
        next.meters = next
            .servers()
            .iter()
            .map(|addr| {
                let kept = self.meters.iter().find(|m| m.addr == *addr);
                Meter {
                    addr: addr.clone(),
                    counters: kept.map(|m| m.counters.clone()).unwrap_or_default(),
                }
            })
            .collect();
        for (i, addr) in next.servers().iter().enumerate() {
            let Some(old) = self.servers().iter().position(|a| a == addr) else {
                continue;
            };
            let kept = self.lock(old).clone();
            let (gated, down) = (kept.needs_probe(), kept.is_down());
            if let Some(slot) = next.health.get(i) {
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = kept;
            }
            next.mark(i, gated, down);
        }
        next
    }

    /// The same router, its operations speaking `protocol`.
    pub fn speaking(mut self, protocol: Protocol) -> Router {
        self.protocol = protocol;
        self
    }

    /// The protocol operations speak.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The servers, in configuration order; a server's index is its
    /// position here.
    pub fn servers(&self) -> &[ServerAddr] {
        self.cluster.servers()
    }

    /// The placement.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The protocol limits every command is checked against.
    pub fn limits(&self) -> &Config {
        &self.limits
    }

    /// The index of the server that owns `key` (ketama, health ignored).
    pub fn server_for_key(&self, key: &[u8]) -> usize {
        self.cluster.server_for_key(key)
    }

    /// The address of the server that owns `key`.
    pub fn addr_for_key(&self, key: &[u8]) -> &ServerAddr {
        // Ketama only returns indexes of the (never empty) server list.
        &self.cluster.servers()[self.server_for_key(key)]
    }

    /// The server a command for `key` goes to now: its owner, or with
    /// ejection and the owner down, the next live server along the ring
    /// (the owner again when none is live: it then fails fast).
    pub fn route(&self, key: &[u8]) -> usize {
        let owner = self.server_for_key(key);
        if !self.eject || self.downs.load(Ordering::Acquire) == 0 || !self.is_down(owner) {
            return owner;
        }
        self.cluster
            .server_for_key_among(key, |s| !self.is_down(s))
            .unwrap_or(owner)
    }

    /// Whether server `index` is marked down.
    pub fn is_down(&self, index: usize) -> bool {
        self.down
            .get(index)
            .is_some_and(|d| d.load(Ordering::Acquire))
    }

    /// Whether down servers' keys go to live ones.
    pub fn ejects(&self) -> bool {
        self.eject
    }

    /// Whether reads are retried when their connection fails under them.
    pub fn retries_reads(&self) -> bool {
        self.retry_reads
    }

    /// The counters of server `index`, for a transport to count the bytes
    /// of its connections with ([`Connection::counting`]).
    ///
    /// ```
    /// use memwire_core::client::Router;
    /// use memwire_core::cluster::Cluster;
    /// use memwire_core::{Config, Connection};
    ///
    /// let router = Router::new(Cluster::from_strs(&["10.0.0.1"])?, Config::default());
    /// let counters = router.counters(0).expect("server 0").clone();
    /// let conn = Connection::new(*router.limits()).counting(counters);
    /// # let _ = conn;
    /// assert!(router.counters(1).is_none());
    /// # Ok::<(), memwire_core::cluster::ClusterError>(())
    /// ```
    ///
    /// [`Connection::counting`]: crate::Connection::counting
    pub fn counters(&self, index: usize) -> Option<&Arc<ServerCounters>> {
        self.meters.get(index).map(|m| &m.counters)
    }

    /// What the client did with each server, in configuration order: see
    /// [`ServerMetrics`]. A server that stays across a reconfiguration
    /// keeps its counts.
    ///
    /// ```
    /// use std::time::Instant;
    /// use memwire_core::client::{HealthEvent, Router};
    /// use memwire_core::cluster::Cluster;
    /// use memwire_core::Config;
    ///
    /// let router = Router::new(Cluster::from_strs(&["10.0.0.1", "10.0.0.2"])?, Config::default());
    /// router.record(1, HealthEvent::ConnectFailed, Instant::now());
    /// for (server, m) in router.metrics() {
    ///     println!("{server}: {} requests, {} failed connects", m.requests, m.connect_failures);
    /// }
    /// assert_eq!(router.metrics()[1].1.connect_failures, 1);
    /// # Ok::<(), memwire_core::cluster::ClusterError>(())
    /// ```
    pub fn metrics(&self) -> Vec<(ServerAddr, ServerMetrics)> {
        self.meters
            .iter()
            .map(|m| (m.addr.clone(), m.counters.snapshot()))
            .collect()
    }

    /// The servers' addresses and counters, for a call.
    pub(crate) fn meters(&self) -> &Arc<[Meter]> {
        &self.meters
    }

    /// May a request go to server `index` at `now`? See
    /// [`ServerHealth::admit`]: [`Admission::Probe`] asks the caller to
    /// check the server with a probe first.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] while the server is down (or not configured).
    pub fn admit(&self, index: usize, now: Instant) -> Result<Admission, Error> {
        if !self.is_gated(index) && index < self.health.len() {
            return Ok(Admission::Go);
        }
        if index >= self.health.len() {
            return Err(Error::NoServer(format!("no server #{index}")));
        }
        self.admit_gated(index, now)
    }

    /// Ask server `index`'s health for admission (a server that is
    /// checked or down: it may hand out a probe).
    fn admit_gated(&self, index: usize, now: Instant) -> Result<Admission, Error> {
        let admission = self.lock(index).admit(now);
        if let (Ok(Admission::Probe), Some(m)) = (&admission, self.meters.get(index)) {
            trace::probe(&m.addr);
        }
        admission
    }

    /// Whether a caller just refused admission to server `index` should
    /// wait a little and ask again: a probe of it is under way, or one
    /// answered between the refusal and this look (the server is no longer
    /// gated). Refused while it is down and nobody probes: no. Read under
    /// the server's lock, not from the flags mirrored after it.
    pub fn worth_waiting(&self, index: usize) -> bool {
        index < self.health.len() && {
            let health = self.lock(index);
            !health.needs_probe() || health.is_probing()
        }
    }

    /// The down servers whose retry time has come, each handed out once
    /// for probing — the way ejecting clients bring servers back, since no
    /// key is routed to a down server.
    pub fn due_probes(&self, now: Instant) -> Vec<usize> {
        if !self.eject || self.downs.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        (0..self.health.len())
            .filter(|&i| self.is_down(i))
            .filter(|&i| matches!(self.admit_gated(i, now), Ok(Admission::Probe)))
            .collect()
    }

    /// Tell the failure policy what happened to server `index` at `now`.
    pub fn record(&self, index: usize, event: HealthEvent<'_>, now: Instant) {
        let Some(meter) = self.meters.get(index).filter(|_| index < self.health.len()) else {
            return;
        };
        match event {
            // Counted, and nothing for the policy (which waits for a
            // reply): no lock, and the clean flag stays as it is.
            HealthEvent::Connected => {
                trace::connected(&meter.addr, meter.counters.connected());
                return;
            }
            HealthEvent::ConnectFailed => meter.counters.connect_failed(),
            _ => {}
        }
        // Replies are counted by their calls, not here: the fast path
        // below stays a load and a return.
        let replied = matches!(event, HealthEvent::Replied);
        let clean = self.clean.get(index);
        if replied && clean.is_some_and(|c| c.load(Ordering::Acquire)) {
            return;
        }
        if !replied {
            // Before the lock: a reply recorded after this one sees it.
            if let Some(c) = clean {
                c.store(false, Ordering::Release);
            }
        }
        // Mirrored under the lock, so that the flags follow the last record.
        let transition = {
            let mut health = self.lock(index);
            let transition = health.record(event, now);
            self.mark(index, health.needs_probe(), health.is_down());
            if let Some(c) = clean {
                // Under the lock, from the state: of a reply and a failure
                // racing here, the one recorded last decides.
                c.store(health.is_clean(), Ordering::Release);
            }
            transition
        };
        trace::health(&meter.addr, &event, transition);
        if let (Some(t), Some(hook), Some(addr)) =
            (transition, &self.hook, self.servers().get(index))
        {
            (hook.0)(addr, t);
        }
    }

    /// Whether server `index` needs a probe before requests (it is being
    /// checked, or down): only then does [`Router::admit`] look at the
    /// time.
    pub fn is_gated(&self, index: usize) -> bool {
        self.gated
            .get(index)
            .is_some_and(|g| g.load(Ordering::Acquire))
    }

    fn mark(&self, index: usize, gated: bool, down: bool) {
        if let Some(flag) = self.gated.get(index) {
            flag.store(gated, Ordering::Release);
        }
        if let Some(flag) = self.down.get(index) {
            if flag.swap(down, Ordering::AcqRel) != down {
                if down {
                    self.downs.fetch_add(1, Ordering::AcqRel);
                } else {
                    self.downs.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    fn lock(&self, index: usize) -> std::sync::MutexGuard<'_, ServerHealth> {
        // Every caller passes an index of this router's servers.
        self.health[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn router(eject: bool, hook: Option<HealthHook>) -> Router {
        let cluster = Cluster::from_strs(&["a:1", "b:1", "c:1"]).unwrap();
        let policy = FailurePolicy {
            health: HealthConfig {
                failure_limit: 1,
                retry_after: Duration::from_secs(1),
            },
            eject,
            hook,
            ..FailurePolicy::default()
        };
        Router::with_policy(cluster, Config::default(), policy)
    }

    fn keys() -> Vec<String> {
        (0..300).map(|i| format!("key:{i}")).collect()
    }

    #[test]
    fn ejection_moves_only_the_down_servers_keys_and_back() {
        let r = router(true, None);
        let t0 = Instant::now();
        let before: Vec<usize> = keys().iter().map(|k| r.route(k.as_bytes())).collect();
        r.record(1, HealthEvent::ConnectFailed, t0);
        let during: Vec<usize> = keys().iter().map(|k| r.route(k.as_bytes())).collect();
        for (b, d) in before.iter().zip(&during) {
            if *b == 1 {
                assert_ne!(*d, 1, "a down server's key moves");
            } else {
                assert_eq!(b, d, "other keys stay");
            }
        }
        assert!(before.contains(&1));
        // Probed at its retry time, and back.
        assert!(r.due_probes(t0).is_empty());
        assert_eq!(r.due_probes(t0 + Duration::from_secs(1)), [1]);
        assert!(r.due_probes(t0 + Duration::from_secs(1)).is_empty(), "once");
        r.record(1, HealthEvent::Replied, t0 + Duration::from_secs(1));
        let after: Vec<usize> = keys().iter().map(|k| r.route(k.as_bytes())).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn without_ejection_keys_stay_and_fail_fast() {
        let r = router(false, None);
        let t0 = Instant::now();
        let key = keys()
            .into_iter()
            .find(|k| r.server_for_key(k.as_bytes()) == 2)
            .unwrap();
        r.record(2, HealthEvent::ConnectFailed, t0);
        assert_eq!(r.route(key.as_bytes()), 2);
        assert!(matches!(r.admit(2, t0), Err(Error::NoServer(_))));
        assert!(r.due_probes(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(
            r.admit(2, t0 + Duration::from_secs(1)).ok(),
            Some(Admission::Probe)
        );
        assert!(r.worth_waiting(2));
    }

    #[test]
    fn a_probe_answered_after_a_refusal_is_worth_waiting_for() {
        let r = router(false, None);
        let t0 = Instant::now();
        r.record(2, HealthEvent::ConnectFailed, t0);
        assert!(!r.worth_waiting(2), "down, and nobody probes");
        let due = t0 + Duration::from_secs(1);
        assert_eq!(r.admit(2, due).ok(), Some(Admission::Probe));
        // Refused while the probe is under way ...
        assert!(matches!(r.admit(2, due), Err(Error::NoServer(_))));
        // ... and the probe answers before the refused caller looks again:
        // it asks once more and gets through.
        r.record(2, HealthEvent::Replied, due);
        assert!(r.worth_waiting(2));
        assert_eq!(r.admit(2, due).ok(), Some(Admission::Go));
        assert!(!r.worth_waiting(7), "no such server");
    }

    #[test]
    fn all_down_falls_back_to_the_owner() {
        let r = router(true, None);
        let t0 = Instant::now();
        for i in 0..3 {
            r.record(i, HealthEvent::ConnectFailed, t0);
        }
        for k in keys() {
            assert_eq!(r.route(k.as_bytes()), r.server_for_key(k.as_bytes()));
        }
    }

    #[test]
    fn transitions_reach_the_hook_once() {
        let seen: Arc<Mutex<Vec<(String, Transition)>>> = Arc::default();
        let log = seen.clone();
        let hook = HealthHook::new(move |addr, t| log.lock().unwrap().push((addr.to_string(), t)));
        let r = router(false, Some(hook));
        let t0 = Instant::now();
        r.record(0, HealthEvent::ConnectFailed, t0);
        r.record(0, HealthEvent::ConnectFailed, t0);
        r.record(0, HealthEvent::Replied, t0);
        r.record(0, HealthEvent::Replied, t0);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("a:1".to_string(), Transition::Down),
                ("a:1".to_string(), Transition::Up)
            ]
        );
    }

    #[test]
    fn reconfiguration_keeps_the_health_of_kept_servers() {
        let r = router(true, None);
        let t0 = Instant::now();
        r.record(1, HealthEvent::ConnectFailed, t0);
        let next = r.reconfigured(
            Cluster::from_strs(&["b:1", "d:1"]).unwrap(),
            Config::default(),
            FailurePolicy::default(),
        );
        assert!(next.is_down(0), "b stays down");
        assert!(!next.is_down(1));
        assert!(next.admit(0, t0).is_err());
    }
}
