//! What the admin shows, and from where: what is configured (listeners with
//! their bound addresses, clusters, each cluster's hosts with their health
//! flags and the health table's counts) comes from the published generation;
//! the counts come from `stats`, summed into that outline by slot.
//!
//! The hosts shown are the cluster's published host set plus the hosts the
//! checker keeps while pending removal: the shared truth every worker's
//! membership follows, read here off the request path.

use std::{net::SocketAddr, sync::Arc};

use super::Admin;
use crate::{
    config::Config,
    generation::{ClusterShared, Generation},
    metric::HistogramSnapshot,
    stats::{
        names::*,
        snapshot::{ClusterSnap, HealthFlags, HostSnap, ListenerSnap, Snapshot},
    },
};

impl Admin {
    /// The generation now in force (the newest accepted reload).
    pub fn generation(&self) -> Arc<Generation> {
        self.generations.load()
    }

    /// The config now in force.
    pub fn config(&self) -> Arc<Config> {
        self.generation().config.clone()
    }

    /// Listener names and the addresses they really bound (port 0 resolved).
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.generation().bound_listeners()
    }

    /// The counts since the last `/reset_counters`, and the generation they
    /// are shown for (`clusters` and `listeners` follow its config order).
    pub fn snapshot(&self) -> (Arc<Generation>, Snapshot) {
        let gen = self.generation();
        let snap = self.stats.snapshot(outline(&gen));
        (gen, snap)
    }

    /// The counts without the reset baseline.
    pub fn raw_snapshot(&self) -> Snapshot {
        self.stats.raw_snapshot(outline(&self.generation()))
    }

    /// `/reset_counters`.
    pub fn reset_counters(&self) {
        self.stats.reset_counters(outline(&self.generation()));
    }
}

/// What `gen` shows, with every count zero.
fn outline(gen: &Generation) -> Snapshot {
    Snapshot {
        listeners: gen
            .listeners
            .iter()
            .map(|l| ListenerSnap {
                name: l.config.name.clone(),
                stat_prefix: l.config.stat_prefix.clone(),
                slot: l.slot,
                tls: l.config.tls.is_some(),
                counters: vec![0; ListenerCounter::COUNT],
                gauges: vec![0; ListenerGauge::COUNT],
                rq_time: HistogramSnapshot::default(),
                cx_length: HistogramSnapshot::default(),
            })
            .collect(),
        clusters: gen.clusters.iter().map(cluster_outline).collect(),
        workers: Vec::new(),
    }
}

fn cluster_outline(c: &ClusterShared) -> ClusterSnap {
    let set = c.hosts.snapshot();
    let verdicts = c.health.snapshot();
    let outlier = c.health.outlier_summary();
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
    let checks = &c.health.checks;
    let mut health_counters = vec![0; ClusterHealthCounter::COUNT];
    health_counters[ClusterHealthCounter::OutlierEjectionsEnforcedTotal as usize] =
        outlier.ejections_total;
    health_counters[ClusterHealthCounter::HealthCheckAttempt as usize] = checks.attempt.get();
    health_counters[ClusterHealthCounter::HealthCheckSuccess as usize] = checks.success.get();
    health_counters[ClusterHealthCounter::HealthCheckFailure as usize] = checks.failure.get();
    let mut health_gauges = vec![0; ClusterHealthGauge::COUNT];
    health_gauges[ClusterHealthGauge::OutlierEjectionsActive as usize] = hosts
        .iter()
        .filter(|h| h.flags.failed_outlier_check)
        .count() as u64;
    health_gauges[ClusterHealthGauge::HealthCheckHealthy as usize] =
        hosts.iter().filter(|h| !h.flags.failed_active_hc).count() as u64;
    ClusterSnap {
        name: c.config.name.clone(),
        slot: c.slot,
        tls: c.config.tls.is_some(),
        counters: vec![0; ClusterCounter::COUNT],
        gauges: vec![0; ClusterGauge::COUNT],
        rq_time: HistogramSnapshot::default(),
        cx_length: HistogramSnapshot::default(),
        codes: vec![0; STATUS_CODE_SLOTS],
        membership_total: hosts.len() as u64,
        membership_healthy: hosts.iter().filter(|h| h.flags.is_healthy()).count() as u64,
        hosts,
        health_counters,
        health_gauges,
        outlier_detection: c.config.outlier_detection.is_some(),
        health_checked: !c.config.health_checks.is_empty(),
    }
}
