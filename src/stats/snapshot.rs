//! Reading the stats: the admin thread loads every worker's blocks and sums
//! them into one `Snapshot`, then subtracts the `/reset_counters` baseline.
//! Gauges are levels and are never reset.

use std::{net::SocketAddr, sync::atomic::Ordering::Relaxed};

use super::{names::*, HistogramSnapshot, ServerStats};
use crate::worker::IoDriver;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub listeners: Vec<ListenerSnap>,
    pub clusters: Vec<ClusterSnap>,
    pub workers: Vec<WorkerSnap>,
}

#[derive(Debug, Clone)]
pub struct ListenerSnap {
    pub name: String,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
    pub rq_time: HistogramSnapshot,
}

#[derive(Debug, Clone)]
pub struct ClusterSnap {
    pub name: String,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
    pub rq_time: HistogramSnapshot,
    pub hosts: Vec<HostSnap>,
    pub membership_total: u64,
    pub membership_healthy: u64,
}

impl ClusterSnap {
    pub fn counter(&self, c: ClusterCounter) -> u64 {
        self.counters[c as usize]
    }
    pub fn gauge(&self, g: ClusterGauge) -> u64 {
        self.gauges[g as usize]
    }
    /// Open upstream connections: those in use by a request plus those idle in
    /// the pools (sampled on each worker's tick).
    pub fn cx_active(&self) -> u64 {
        self.gauge(ClusterGauge::UpstreamRqActive) + self.gauge(ClusterGauge::UpstreamCxIdle)
    }
    pub fn cx_destroy(&self) -> u64 {
        self.counter(ClusterCounter::UpstreamCxTotal)
            .saturating_sub(self.cx_active())
    }
}

#[derive(Debug, Clone)]
pub struct HostSnap {
    pub addr: SocketAddr,
    pub hostname: String,
    pub counters: Vec<u64>,
    pub gauges: Vec<u64>,
}

impl HostSnap {
    pub fn counter(&self, c: HostCounter) -> u64 {
        self.counters[c as usize]
    }
    pub fn gauge(&self, g: HostGauge) -> u64 {
        self.gauges[g as usize]
    }
    pub fn cx_active(&self) -> u64 {
        self.gauge(HostGauge::RqActive) + self.gauge(HostGauge::CxIdle)
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
    /// Sum every worker's stats, without the reset baseline.
    pub fn raw_snapshot(&self) -> Snapshot {
        let view = self.view();
        let cfg = &view.config;
        let mut listeners: Vec<ListenerSnap> = cfg
            .listeners
            .iter()
            .map(|l| ListenerSnap {
                name: l.name.clone(),
                counters: vec![0; ListenerCounter::COUNT],
                gauges: vec![0; ListenerGauge::COUNT],
                rq_time: HistogramSnapshot::default(),
            })
            .collect();
        let mut clusters: Vec<ClusterSnap> = cfg
            .clusters
            .iter()
            .zip(&view.hosts)
            .map(|(c, shared)| {
                let set = shared.snapshot();
                ClusterSnap {
                    name: c.name.clone(),
                    counters: vec![0; ClusterCounter::COUNT],
                    gauges: vec![0; ClusterGauge::COUNT],
                    rq_time: HistogramSnapshot::default(),
                    hosts: set
                        .hosts
                        .iter()
                        .map(|h| HostSnap {
                            addr: h.addr,
                            hostname: h.hostname.to_string(),
                            counters: vec![0; HostCounter::COUNT],
                            gauges: vec![0; HostGauge::COUNT],
                        })
                        .collect(),
                    // No active health checking yet: every member is healthy.
                    membership_total: set.hosts.len() as u64,
                    membership_healthy: set.hosts.len() as u64,
                }
            })
            .collect();
        let mut workers = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            for (snap, &slot) in listeners.iter_mut().zip(&view.listener_slots) {
                let l = &w.listeners[slot];
                add(&mut snap.counters, l.counters.iter().map(|c| c.get()));
                add(&mut snap.gauges, l.gauges.iter().map(|g| g.get()));
                snap.rq_time.merge(&l.rq_time.snapshot());
            }
            for (snap, &slot) in clusters.iter_mut().zip(&view.cluster_slots) {
                let c = &w.clusters[slot];
                add(&mut snap.counters, c.counters.iter().map(|c| c.get()));
                add(&mut snap.gauges, c.gauges.iter().map(|g| g.get()));
                snap.rq_time.merge(&c.rq_time.snapshot());
                let table = c.hosts.lock().unwrap_or_else(|e| e.into_inner());
                for (addr, hs) in table.iter() {
                    if let Some(h) = snap.hosts.iter_mut().find(|h| h.addr == *addr) {
                        add(&mut h.counters, hs.counters.iter().map(|c| c.get()));
                        add(&mut h.gauges, hs.gauges.iter().map(|g| g.get()));
                    }
                }
            }
            workers.push(WorkerSnap {
                id: w.id,
                driver: w.driver(),
                counters: w.counters.iter().map(|c| c.get()).collect(),
            });
        }
        Snapshot {
            listeners,
            clusters,
            workers,
        }
    }

    /// What the admin shows: counters since the last `/reset_counters`.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = self.raw_snapshot();
        let base = self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(base) = base.as_ref() {
            snap.subtract(base);
        }
        snap
    }

    /// `/reset_counters`: from now on counters and histograms count from zero.
    pub fn reset_counters(&self) {
        let now = self.raw_snapshot();
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }

    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Relaxed)
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
        }
        for c in self.clusters.iter_mut() {
            let Some(b) = base.clusters.iter().find(|b| b.name == c.name) else {
                continue;
            };
            sub(&mut c.counters, &b.counters);
            c.rq_time = c.rq_time.since(&b.rq_time);
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
