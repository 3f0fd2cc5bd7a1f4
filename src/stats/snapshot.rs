//! Reading the stats: the admin thread says what to show (listeners, clusters
//! and hosts of the published generation, with their slots, hostnames, health
//! flags and the health table's counts, built in `admin::view`), then this
//! module loads every worker's blocks and sums them into it, and subtracts the
//! `/reset_counters` baseline. Gauges are levels and are never reset.

use std::net::SocketAddr;

use super::{names::*, ServerStats};
use crate::{metric::HistogramSnapshot, net::IoDriver};

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub listeners: Vec<ListenerSnap>,
    pub clusters: Vec<ClusterSnap>,
    pub workers: Vec<WorkerSnap>,
}

#[derive(Debug, Clone)]
pub struct ListenerSnap {
    pub name: String,
    /// Its connection manager's stats scope under Envoy naming.
    pub stat_prefix: String,
    /// Its stats slot (the blocks summed into it).
    pub slot: usize,
    /// It terminates TLS: its `ssl.*` counters are shown.
    pub tls: bool,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
    pub rq_time: HistogramSnapshot,
    pub cx_length: HistogramSnapshot,
}

#[derive(Debug, Clone)]
pub struct ClusterSnap {
    pub name: String,
    /// Its stats slot (the blocks summed into it).
    pub slot: usize,
    /// It speaks TLS to its hosts: its `ssl.*` counters are shown.
    pub tls: bool,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
    pub rq_time: HistogramSnapshot,
    pub cx_length: HistogramSnapshot,
    /// Upstream responses by status code, `FIRST_STATUS_CODE` first.
    pub codes: Vec<u64>,
    pub hosts: Vec<HostSnap>,
    /// Hosts in the discovered set plus hosts kept while pending removal.
    pub membership_total: u64,
    /// Of those, the ones neither failing active checks nor ejected.
    pub membership_healthy: u64,
    /// Indexed by `ClusterHealthCounter`.
    pub health_counters: Vec<u64>,
    /// Indexed by `ClusterHealthGauge`.
    pub health_gauges: Vec<u64>,
    /// The cluster configures outlier detection / active health checks.
    pub outlier_detection: bool,
    pub health_checked: bool,
}

impl ClusterSnap {
    pub fn counter(&self, c: ClusterCounter) -> u64 {
        self.counters[c as usize]
    }
    pub fn gauge(&self, g: ClusterGauge) -> u64 {
        self.gauges[g as usize]
    }
}

#[derive(Debug, Clone)]
pub struct HostSnap {
    pub addr: SocketAddr,
    pub hostname: String,
    pub weight: u32,
    pub flags: HealthFlags,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
}

/// Envoy's per-host health flags, as `/clusters` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthFlags {
    pub failed_active_hc: bool,
    pub failed_outlier_check: bool,
    pub pending_dynamic_removal: bool,
}

impl HealthFlags {
    /// Takes requests (outside panic mode).
    pub fn is_healthy(self) -> bool {
        !self.failed_active_hc && !self.failed_outlier_check
    }

    /// `healthy`, or the set flags each with a leading `/`, in Envoy's order.
    pub fn text(self) -> String {
        let mut s = String::new();
        for (set, name) in [
            (self.failed_active_hc, "/failed_active_hc"),
            (self.failed_outlier_check, "/failed_outlier_check"),
            (self.pending_dynamic_removal, "/pending_dynamic_removal"),
        ] {
            if set {
                s.push_str(name);
            }
        }
        if s.is_empty() {
            s.push_str("healthy");
        }
        s
    }
}

impl HostSnap {
    pub fn counter(&self, c: HostCounter) -> u64 {
        self.counters[c as usize]
    }
    pub fn gauge(&self, g: HostGauge) -> u64 {
        self.gauges[g as usize]
    }
    pub fn cx_active(&self) -> u64 {
        self.gauge(HostGauge::CxActive)
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSnap {
    pub id: usize,
    pub driver: Option<IoDriver>,
    pub counters: Vec<u64>,
}

fn add(into: &mut [u64], from: impl Iterator<Item = u64>) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

fn sub(into: &mut [u64], base: &[u64]) {
    for (a, b) in into.iter_mut().zip(base) {
        *a = a.saturating_sub(*b);
    }
}

impl ServerStats {
    /// Sum every worker's counts into `shown` (a snapshot whose names, slots
    /// and hosts the caller filled in from the generation, counts zero), and
    /// add one `WorkerSnap` per worker. Without the reset baseline.
    pub fn raw_snapshot(&self, mut shown: Snapshot) -> Snapshot {
        shown.workers.clear();
        for w in &self.workers {
            for snap in shown.listeners.iter_mut() {
                let Some(l) = w.listeners.get(snap.slot) else {
                    continue;
                };
                add(&mut snap.counters, l.counters.iter().map(|c| c.get()));
                add(&mut snap.gauges, l.gauges.iter().map(|g| g.get()));
                snap.rq_time.merge(&l.rq_time.snapshot());
                snap.cx_length.merge(&l.cx_length.snapshot());
            }
            for snap in shown.clusters.iter_mut() {
                let Some(c) = w.clusters.get(snap.slot) else {
                    continue;
                };
                add(&mut snap.counters, c.counters.iter().map(|c| c.get()));
                add(&mut snap.gauges, c.gauges.iter().map(|g| g.get()));
                snap.rq_time.merge(&c.rq_time.snapshot());
                snap.cx_length.merge(&c.cx_length.snapshot());
                add(&mut snap.codes, c.codes.iter().map(|c| c.get()));
                let table = c.hosts.lock().unwrap_or_else(|e| e.into_inner());
                for (addr, hs) in table.iter() {
                    if let Some(h) = snap.hosts.iter_mut().find(|h| h.addr == *addr) {
                        add(&mut h.counters, hs.counters.iter().map(|c| c.get()));
                        add(&mut h.gauges, hs.gauges.iter().map(|g| g.get()));
                    }
                }
            }
            shown.workers.push(WorkerSnap {
                id: w.id,
                driver: w.driver(),
                counters: w.counters.iter().map(|c| c.get()).collect(),
            });
        }
        shown
    }

    /// What the admin shows: counters since the last `/reset_counters`.
    pub fn snapshot(&self, shown: Snapshot) -> Snapshot {
        let mut snap = self.raw_snapshot(shown);
        let base = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(base) = base.as_ref() {
            snap.subtract(base);
        }
        snap
    }

    /// `/reset_counters`: from now on counters and histograms count from zero.
    pub fn reset_counters(&self, shown: Snapshot) {
        let now = self.raw_snapshot(shown);
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }
}

impl Snapshot {
    fn subtract(&mut self, base: &Snapshot) {
        // By name: a reload may have added, removed or reordered them.
        for l in self.listeners.iter_mut() {
            let Some(b) = base.listeners.iter().find(|b| b.name == l.name) else {
                continue;
            };
            sub(&mut l.counters, &b.counters);
            l.rq_time = l.rq_time.since(&b.rq_time);
            l.cx_length = l.cx_length.since(&b.cx_length);
        }
        for c in self.clusters.iter_mut() {
            let Some(b) = base.clusters.iter().find(|b| b.name == c.name) else {
                continue;
            };
            sub(&mut c.counters, &b.counters);
            sub(&mut c.health_counters, &b.health_counters);
            sub(&mut c.codes, &b.codes);
            c.rq_time = c.rq_time.since(&b.rq_time);
            c.cx_length = c.cx_length.since(&b.cx_length);
            for h in c.hosts.iter_mut() {
                if let Some(bh) = b.hosts.iter().find(|bh| bh.addr == h.addr) {
                    sub(&mut h.counters, &bh.counters);
                }
            }
        }
        for (w, b) in self.workers.iter_mut().zip(&base.workers) {
            sub(&mut w.counters, &b.counters);
        }
    }
}
