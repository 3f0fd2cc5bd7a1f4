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
//! Nothing here allocates on the request path: per-host counters are found by
//! the host's position in a per-worker table rebuilt only when a host set changes
//! (`tap.rs`).

pub mod histogram;
pub mod names;
pub mod snapshot;
pub mod tap;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::{Instant, SystemTime},
};

use crate::{
    config::Config,
    upstream::{health::ClusterHealth, hosts::SharedHosts},
    worker::IoDriver,
};
pub use histogram::{Histogram, HistogramSnapshot};
use names::*;

/// A monotonic count, written by one worker only.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        // Single writer: no read-modify-write needed, and none is paid for.
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A level (connections open, requests in flight), written by one worker only.
/// A worker's own level never goes below zero: it decrements only what it
/// incremented.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    #[inline]
    pub fn inc(&self) {
        self.0.store(self.0.load(Relaxed) + 1, Relaxed);
    }
    #[inline]
    pub fn dec(&self) {
        let v = self.0.load(Relaxed);
        debug_assert!(v > 0, "gauge below zero");
        self.0.store(v.saturating_sub(1), Relaxed);
    }
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

fn block<T: Default, const N: usize>() -> [T; N] {
    std::array::from_fn(|_| T::default())
}

#[repr(align(64))]
pub struct ListenerStats {
    pub counters: [Counter; ListenerCounter::COUNT],
    pub gauges: [Gauge; ListenerGauge::COUNT],
    /// Microseconds from the first byte of a request to its last response byte.
    pub rq_time: Histogram,
}

impl Default for ListenerStats {
    fn default() -> Self {
        ListenerStats {
            counters: block(),
            gauges: block(),
            rq_time: Histogram::default(),
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
    /// This worker's per-host counters, published for the admin thread. Locked
    /// only when this worker sees a new host set, and when the admin reads.
    pub hosts: Mutex<Vec<(SocketAddr, Arc<HostStats>)>>,
}

impl Default for ClusterStats {
    fn default() -> Self {
        ClusterStats {
            counters: block(),
            gauges: block(),
            rq_time: Histogram::default(),
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
}

/// Everything one worker counts.
#[repr(align(64))]
pub struct WorkerStats {
    pub id: usize,
    /// 0 = not started, 1 = io_uring, 2 = epoll.
    driver: AtomicU8,
    pub counters: [Counter; WorkerCounter::COUNT],
    pub listeners: Box<[ListenerStats]>,
    pub clusters: Box<[ClusterStats]>,
}

impl WorkerStats {
    pub fn new(id: usize, listeners: usize, clusters: usize) -> Self {
        WorkerStats {
            id,
            driver: AtomicU8::new(0),
            counters: block(),
            listeners: (0..listeners).map(|_| ListenerStats::default()).collect(),
            clusters: (0..clusters).map(|_| ClusterStats::default()).collect(),
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

/// The process-wide view: every worker's stats plus the few flags the admin
/// endpoint flips. Shared read-mostly by the workers (they read `health_failed`
/// only when a `health_check` path is asked for).
pub struct ServerStats {
    pub config: Arc<Config>,
    pub workers: Vec<Arc<WorkerStats>>,
    pub hosts: Vec<Arc<SharedHosts>>,
    /// Per cluster: health-check verdicts and counts, the ejection table.
    pub health: Vec<Arc<ClusterHealth>>,
    pub shutdown: Arc<AtomicBool>,
    /// Set by `POST /healthcheck/fail`, cleared by `/healthcheck/ok`.
    pub health_failed: AtomicBool,
    pub started: Instant,
    pub started_at: SystemTime,
    /// Counter values at the last `/reset_counters`, subtracted from what is shown.
    pub baseline: Mutex<Option<snapshot::Snapshot>>,
}

impl ServerStats {
    pub fn new(
        config: Arc<Config>,
        hosts: Vec<Arc<SharedHosts>>,
        health: Vec<Arc<ClusterHealth>>,
        shutdown: Arc<AtomicBool>,
    ) -> Self {
        let workers = (0..config.workers)
            .map(|id| {
                Arc::new(WorkerStats::new(
                    id,
                    config.listeners.len(),
                    config.clusters.len(),
                ))
            })
            .collect();
        ServerStats {
            config,
            workers,
            hosts,
            health,
            shutdown,
            health_failed: AtomicBool::new(false),
            started: Instant::now(),
            started_at: SystemTime::now(),
            baseline: Mutex::new(None),
        }
    }

    pub fn draining(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    /// What `/ready` and a listener's `health_check` path answer.
    pub fn is_live(&self) -> bool {
        !self.draining() && !self.health_failed.load(Relaxed)
    }
}
