//! Reading the stats: the admin thread loads every worker's blocks and sums
//! them into one `Snapshot`, then subtracts the `/reset_counters` baseline.
//! Gauges are levels and are never reset.
//!
//! Resilience state comes from the shared per-cluster health tables, read
//! here and nowhere on the request path: health-check verdicts and pending
//! removals (the checker's snapshot), ejections (the ejection table), and the
//! checker's counts.

use std::{net::SocketAddr, sync::atomic::Ordering::Relaxed};

use super::{names::*, ServerStats};
use crate::{metric::HistogramSnapshot, net::IoDriver};

#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The config the snapshot was taken under (`clusters` and `listeners`
    /// follow its order).
    pub config: std::sync::Arc<crate::config::Config>,
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
            .zip(&view.health)
            .map(|((c, shared), health)| {
                let set = shared.snapshot();
                let verdicts = health.snapshot();
                let outlier = health.outlier_summary();
                let discovered = set.hosts.iter().map(|h| (h, false));
                let kept = verdicts.pending_removal.iter().map(|h| (h, true));
                let hosts: Vec<HostSnap> = discovered
                    .chain(kept)
                    .map(|(h, pending)| HostSnap {
                        addr: h.addr,
                        hostname: h.hostname.to_string(),
                        weight: h.weight,
                        flags: HealthFlags {
                            failed_active_hc: verdicts.is_unhealthy(&h.addr),
                            failed_outlier_check: outlier.ejected.binary_search(&h.addr).is_ok(),
                            pending_dynamic_removal: pending,
                        },
                        counters: vec![0; HostCounter::COUNT],
                        gauges: vec![0; HostGauge::COUNT],
                    })
                    .collect();
                let mut health_counters = vec![0; ClusterHealthCounter::COUNT];
                health_counters[ClusterHealthCounter::OutlierEjectionsEnforcedTotal as usize] =
                    outlier.ejections_total;
                health_counters[ClusterHealthCounter::HealthCheckAttempt as usize] =
                    health.checks.attempt.get();
                health_counters[ClusterHealthCounter::HealthCheckSuccess as usize] =
                    health.checks.success.get();
                health_counters[ClusterHealthCounter::HealthCheckFailure as usize] =
                    health.checks.failure.get();
                let mut health_gauges = vec![0; ClusterHealthGauge::COUNT];
                health_gauges[ClusterHealthGauge::OutlierEjectionsActive as usize] = hosts
                    .iter()
                    .filter(|h| h.flags.failed_outlier_check)
                    .count()
                    as u64;
                health_gauges[ClusterHealthGauge::HealthCheckHealthy as usize] =
                    hosts.iter().filter(|h| !h.flags.failed_active_hc).count() as u64;
                ClusterSnap {
                    name: c.name.clone(),
                    counters: vec![0; ClusterCounter::COUNT],
                    gauges: vec![0; ClusterGauge::COUNT],
                    rq_time: HistogramSnapshot::default(),
                    membership_total: hosts.len() as u64,
                    membership_healthy: hosts.iter().filter(|h| h.flags.is_healthy()).count()
                        as u64,
                    hosts,
                    health_counters,
                    health_gauges,
                    outlier_detection: c.outlier_detection.is_some(),
                    health_checked: !c.health_checks.is_empty(),
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
            config: view.config.clone(),
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
            sub(&mut c.health_counters, &b.health_counters);
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
