//! Counters, gauges and histograms, per core.
//!
//! Every worker owns one `WorkerStats` (an `Arc` made by the server, so the
//! admin thread can read it). Only that worker writes it, with a plain load and
//! store (`store(load() + 1)`), never an atomic read-modify-write: on x86 both
//! are ordinary `mov`s, and no cache line is written by two cores. The blocks
//! are `#[repr(align(64))]` and each worker's are separate allocations, so two
//! cores never write the same cache line. Readers (the admin thread) load every
//! worker's values and sum them: the sum is exact for counters once traffic
//! stops, and a moment's snapshot while it flows.
//!
//! Nothing here allocates on the request path: per-host counters hang off the
//! host, as a member of the worker's `WorkerCluster` (`upstream/cluster.rs`),
//! which takes them from (and publishes them to) its `ClusterStats` only when
//! its membership changes.
//!
//! Reloads: listener and cluster blocks live in *slots* keyed by name. A name
//! gets a slot the first time a config names it and keeps it for the life of
//! the process, so a cluster that survives a reload (changed or not) keeps
//! counting where it was. A removed name's slot stays allocated and keeps its
//! counts, but is no longer shown; if a later config brings the name back, its
//! counters continue. Which slots the current config shows, in config order,
//! is the published generation's business (`generation`), read by the admin:
//! this module stores counts and nothing about what is configured.

pub mod names;
pub mod snapshot;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed},
        Arc, Mutex, OnceLock,
    },
    time::{Instant, SystemTime},
};

use crate::{
    metric::{Counter, Gauge, Histogram},
    net::{meter::SocketCounts, IoDriver},
};
use names::*;

fn block<T: Default, const N: usize>() -> [T; N] {
    std::array::from_fn(|_| T::default())
}

#[repr(align(64))]
pub struct ListenerStats {
    pub counters: [Counter; ListenerCounter::COUNT],
    pub gauges: [Gauge; ListenerGauge::COUNT],
    /// Microseconds from the first byte of a request to its last response byte.
    pub rq_time: Histogram,
    /// Microseconds from accept to close, per downstream connection
    /// (`downstream_cx_length_ms`, shown in ms).
    pub cx_length: Histogram,
}

impl Default for ListenerStats {
    fn default() -> Self {
        ListenerStats {
            counters: block(),
            gauges: block(),
            rq_time: Histogram::default(),
            cx_length: Histogram::default(),
        }
    }
}

impl ListenerStats {
    #[inline]
    pub fn inc(&self, c: ListenerCounter) {
        self.counters[c as usize].inc();
    }
    #[inline]
    pub fn gauge(&self, g: ListenerGauge) -> &Gauge {
        &self.gauges[g as usize]
    }
}

/// A client socket's bytes (`net::meter`), on the listener it was accepted on.
impl SocketCounts for ListenerStats {
    #[inline]
    fn received(&self, n: u64) {
        self.counters[ListenerCounter::DownstreamCxRxBytesTotal as usize].add(n);
    }
    #[inline]
    fn sent(&self, n: u64) {
        self.counters[ListenerCounter::DownstreamCxTxBytesTotal as usize].add(n);
    }
}

#[repr(align(64))]
pub struct HostStats {
    pub counters: [Counter; HostCounter::COUNT],
    pub gauges: [Gauge; HostGauge::COUNT],
}

impl Default for HostStats {
    fn default() -> Self {
        HostStats {
            counters: block(),
            gauges: block(),
        }
    }
}

impl HostStats {
    #[inline]
    pub fn inc(&self, c: HostCounter) {
        self.counters[c as usize].inc();
    }
    #[inline]
    pub fn gauge(&self, g: HostGauge) -> &Gauge {
        &self.gauges[g as usize]
    }
}

#[repr(align(64))]
pub struct ClusterStats {
    pub counters: [Counter; ClusterCounter::COUNT],
    pub gauges: [Gauge; ClusterGauge::COUNT],
    /// Microseconds from picking a host to the last response byte.
    pub rq_time: Histogram,
    /// Microseconds from connecting to close, per established upstream
    /// connection (`upstream_cx_length_ms`, shown in ms).
    pub cx_length: Histogram,
    /// Upstream responses by status code, `FIRST_STATUS_CODE` at index 0
    /// (Envoy's `upstream_rq_<code>`). Every code from 100 to 599 has its
    /// cell, so counting one is an index, never a search or an allocation;
    /// 4 KB per cluster per worker.
    pub codes: [Counter; STATUS_CODE_SLOTS],
    /// This worker's per-host counters: the members of its `WorkerCluster`
    /// for this slot (each member holds its own `Arc`), published here for the
    /// admin thread and for the next `WorkerCluster` of the same name (a
    /// reload), so a host that stays keeps counting. Locked only when this
    /// worker's membership changes, and when the admin reads.
    pub hosts: Mutex<Vec<(SocketAddr, Arc<HostStats>)>>,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats {
            counters: block(),
            gauges: block(),
            rq_time: Histogram::default(),
            cx_length: Histogram::default(),
            codes: block(),
            hosts: Mutex::new(Vec::new()),
        }
    }
}

impl ClusterStats {
    #[inline]
    pub fn inc(&self, c: ClusterCounter) {
        self.counters[c as usize].inc();
    }
    #[inline]
    pub fn gauge(&self, g: ClusterGauge) -> &Gauge {
        &self.gauges[g as usize]
    }
    /// An upstream response with `status`; codes outside 100..=599 have no
    /// cell (their class counter still counts them).
    #[inline]
    pub fn count_code(&self, status: u16) {
        if let Some(c) = self
            .codes
            .get(usize::from(status).wrapping_sub(usize::from(FIRST_STATUS_CODE)))
        {
            c.inc();
        }
    }
}

/// An upstream socket's bytes (`net::meter`), on its cluster.
impl SocketCounts for ClusterStats {
    #[inline]
    fn received(&self, n: u64) {
        self.counters[ClusterCounter::UpstreamCxRxBytesTotal as usize].add(n);
    }
    #[inline]
    fn sent(&self, n: u64) {
        self.counters[ClusterCounter::UpstreamCxTxBytesTotal as usize].add(n);
    }
    fn established(&self) {
        self.gauge(ClusterGauge::UpstreamCxActive).inc();
    }
    fn closed(&self, lifetime: std::time::Duration) {
        self.gauge(ClusterGauge::UpstreamCxActive).dec();
        self.inc(ClusterCounter::UpstreamCxDestroy);
        self.cx_length.record(lifetime.as_micros() as u64);
    }
}

/// An upstream socket's counts: bytes and connection lifetimes on its
/// cluster, and the open connection on its host too (`/clusters`'s
/// `cx_active`).
pub struct UpstreamSocketCounts {
    pub cluster: Arc<ClusterStats>,
    pub host: Arc<HostStats>,
}

impl SocketCounts for UpstreamSocketCounts {
    #[inline]
    fn received(&self, n: u64) {
        self.cluster.received(n);
    }
    #[inline]
    fn sent(&self, n: u64) {
        self.cluster.sent(n);
    }
    fn established(&self) {
        self.cluster.established();
        self.host.gauge(HostGauge::CxActive).inc();
    }
    fn closed(&self, lifetime: std::time::Duration) {
        self.cluster.closed(lifetime);
        self.host.gauge(HostGauge::CxActive).dec();
    }
}

/// Distinct listener names one process can count (over all reloads).
pub const MAX_LISTENER_SLOTS: usize = 1024;
/// Distinct cluster names one process can count (over all reloads).
pub const MAX_CLUSTER_SLOTS: usize = 4096;

/// Stats blocks by slot, allocated when a name first needs one (at start or by
/// the reload thread, always before a generation using the slot is published),
/// then read by the owning worker and the admin thread without a lock.
pub struct Slots<T> {
    slots: Box<[OnceLock<Arc<T>>]>,
    len: AtomicUsize,
}

impl<T: Default> Slots<T> {
    fn new(capacity: usize, initial: usize) -> Self {
        let slots = Slots {
            slots: (0..capacity).map(|_| OnceLock::new()).collect(),
            len: AtomicUsize::new(0),
        };
        slots.ensure(initial);
        slots
    }

    /// Make slots `0..n` exist. False if that exceeds the capacity.
    fn ensure(&self, n: usize) -> bool {
        if n > self.slots.len() {
            return false;
        }
        for s in &self.slots[..n] {
            s.get_or_init(Default::default);
        }
        self.len.fetch_max(n, Relaxed);
        true
    }
}

impl<T> Slots<T> {
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, slot: usize) -> Option<&T> {
        self.slots.get(slot)?.get().map(|b| &**b)
    }

    /// A handle on one slot's block, for its owner to keep (a worker's cluster).
    pub fn handle(&self, slot: usize) -> Option<Arc<T>> {
        self.slots.get(slot)?.get().cloned()
    }

    /// Every allocated slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots[..self.len()]
            .iter()
            .filter_map(|s| s.get().map(|b| &**b))
    }
}

impl<T> std::ops::Index<usize> for Slots<T> {
    type Output = T;
    #[inline]
    fn index(&self, slot: usize) -> &T {
        // Invariant: a slot is allocated before any generation naming it is published.
        self.slots[slot]
            .get()
            .expect("stats slot allocated before use")
    }
}

/// Everything one worker counts.
#[repr(align(64))]
pub struct WorkerStats {
    pub id: usize,
    /// 0 = not started, 1 = io_uring, 2 = epoll.
    driver: AtomicU8,
    pub counters: [Counter; WorkerCounter::COUNT],
    /// By listener slot (see the module docs).
    pub listeners: Slots<ListenerStats>,
    /// By cluster slot.
    pub clusters: Slots<ClusterStats>,
}

impl WorkerStats {
    pub fn new(id: usize, listeners: usize, clusters: usize) -> Self {
        WorkerStats {
            id,
            driver: AtomicU8::new(0),
            counters: block(),
            listeners: Slots::new(MAX_LISTENER_SLOTS.max(listeners), listeners),
            clusters: Slots::new(MAX_CLUSTER_SLOTS.max(clusters), clusters),
        }
    }

    #[inline]
    pub fn inc(&self, c: WorkerCounter) {
        self.counters[c as usize].inc();
    }

    pub fn set_driver(&self, d: IoDriver) {
        self.driver.store(
            match d {
                IoDriver::Uring => 1,
                IoDriver::Epoll => 2,
            },
            Relaxed,
        );
    }

    pub fn driver(&self) -> Option<IoDriver> {
        match self.driver.load(Relaxed) {
            1 => Some(IoDriver::Uring),
            2 => Some(IoDriver::Epoll),
            _ => None,
        }
    }
}

/// Name → slot, for listeners and clusters.
#[derive(Default)]
struct SlotNames {
    listeners: HashMap<String, usize>,
    clusters: HashMap<String, usize>,
}

impl SlotNames {
    fn slot(map: &mut HashMap<String, usize>, name: &str) -> usize {
        let next = map.len();
        *map.entry(name.to_string()).or_insert(next)
    }
}

/// The process-wide counts: every worker's stats blocks, the slot names and the
/// `/reset_counters` baseline. Storage only: what a config *shows* (which
/// slots, which hosts) the admin reads from the published generation, and the
/// process's draining and health flags are `prim::Lifecycle`.
pub struct ServerStats {
    names: Mutex<SlotNames>,
    pub workers: Vec<Arc<WorkerStats>>,
    pub started: Instant,
    pub started_at: SystemTime,
    /// Counter values at the last `/reset_counters`, subtracted from what is shown.
    pub baseline: Mutex<Option<snapshot::Snapshot>>,
}

impl ServerStats {
    /// Stats blocks for `workers` workers, room for at least `listeners` and
    /// `clusters` names; `register` gives names their slots.
    pub fn new(workers: usize, listeners: usize, clusters: usize) -> Self {
        ServerStats {
            names: Mutex::new(SlotNames::default()),
            workers: (0..workers)
                .map(|id| Arc::new(WorkerStats::new(id, listeners, clusters)))
                .collect(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            baseline: Mutex::new(None),
        }
    }

    /// Slots for a config's listener and cluster names, in the order given (a
    /// name keeps its slot for the life of the process; new names get new
    /// slots, allocated in every worker). At start and by the reload thread,
    /// always before the generation using them is published.
    pub fn register<'a>(
        &self,
        listeners: impl IntoIterator<Item = &'a str>,
        clusters: impl IntoIterator<Item = &'a str>,
    ) -> Result<(Vec<usize>, Vec<usize>), String> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let listeners: Vec<usize> = listeners
            .into_iter()
            .map(|l| SlotNames::slot(&mut names.listeners, l))
            .collect();
        let clusters: Vec<usize> = clusters
            .into_iter()
            .map(|c| SlotNames::slot(&mut names.clusters, c))
            .collect();
        let (nl, nc) = (names.listeners.len(), names.clusters.len());
        for w in &self.workers {
            if !w.listeners.ensure(nl) || !w.clusters.ensure(nc) {
                return Err(format!(
                    "more distinct listener/cluster names over this process's life than its stats can hold ({MAX_LISTENER_SLOTS}/{MAX_CLUSTER_SLOTS}); restart to reset"
                ));
            }
        }
        Ok((listeners, clusters))
    }
}
