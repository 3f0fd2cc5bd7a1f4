//! What workers learn about host health from outside the request they are
//! serving: the verdicts of the active health checker and the outlier ejection
//! table. One `ClusterHealth` per cluster, shared by every worker.
//!
//! Both halves follow the host-set rule (`hosts.rs`): a worker reads one
//! read-mostly `version` per pick and rebuilds its candidate list only when it
//! changed.
//!
//! - Active checks: the checker thread publishes an immutable `HealthSnapshot`
//!   (unhealthy addresses, hosts kept while pending removal) and bumps `version`.
//! - Outlier ejection: one `EjectionSlot` per host address holding an
//!   "ejected until" timestamp. A worker writes a slot only when it ejects a
//!   host (after N consecutive failures: rare by construction) and bumps
//!   `version`; un-ejection writes nothing, since a slot whose time has passed
//!   simply no longer ejects. So the request path never writes a line another
//!   core reads, and reads only lines that change on ejection.
//!
//! The same table carries the counts only it can keep: ejections (summed from
//! the slots) and the checker's attempts, successes and failures (written by
//! the checker thread alone, with a plain load and store). The admin thread
//! reads them; no worker does.
//!
//! Everything is keyed by address, not by position in a host set, so a host
//! keeps its health and ejection history across DNS re-resolutions.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use super::hosts::Host;
use crate::{metric::Counter, prim::Published};

/// The active checker's verdicts for one cluster.
#[derive(Debug, Clone, Default)]
pub struct HealthSnapshot {
    /// Hosts that failed `unhealthy_threshold` checks in a row and have not yet
    /// passed `healthy_threshold` again. Sorted.
    pub unhealthy: Vec<SocketAddr>,
    /// Hosts that left the discovered set but still pass their checks (Envoy's
    /// `pending_dynamic_removal`): they keep serving until a check fails.
    pub pending_removal: Vec<Host>,
}

impl HealthSnapshot {
    pub fn is_unhealthy(&self, addr: &SocketAddr) -> bool {
        self.unhealthy.binary_search(addr).is_ok()
    }
}

/// Outlier state of one host address, shared by every worker.
#[derive(Debug, Default)]
pub struct EjectionSlot {
    /// Milliseconds since the table's epoch until which the host is ejected.
    ejected_until: AtomicU64,
    times_ejected: AtomicU32,
}

impl EjectionSlot {
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until.load(Ordering::Acquire) > now_ms
    }

    /// When the current ejection ends, if the host is ejected.
    pub fn ejected_until(&self, now_ms: u64) -> Option<u64> {
        let until = self.ejected_until.load(Ordering::Acquire);
        (until > now_ms).then_some(until)
    }

    pub fn times_ejected(&self) -> u32 {
        self.times_ejected.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub struct ClusterHealth {
    /// The checker's verdicts; its version also moves on every ejection.
    active: Published<HealthSnapshot>,
    epoch: Instant,
    /// Taken only when a worker's host set changes (to find or create slots)
    /// and when the admin reads it, never per request.
    slots: Mutex<HashMap<SocketAddr, Arc<EjectionSlot>>>,
    /// The active checker's counts; written by the checker thread only.
    pub checks: CheckCounters,
    /// Every worker's in-flight counts, for circuit breakers.
    pub breakers: super::breaker::BreakerBoard,
}

/// Envoy's `health_check.attempt`, `.success`, `.failure`.
#[derive(Debug, Default)]
pub struct CheckCounters {
    pub attempt: Counter,
    pub success: Counter,
    pub failure: Counter,
}

/// What the admin shows of outlier detection.
#[derive(Debug, Clone, Default)]
pub struct OutlierSummary {
    /// Hosts ejected now.
    pub ejected: Vec<SocketAddr>,
    /// Ejections ever enforced.
    pub ejections_total: u64,
}

impl Default for ClusterHealth {
    fn default() -> Self {
        ClusterHealth {
            active: Published::new(HealthSnapshot::default()),
            epoch: Instant::now(),
            slots: Mutex::new(HashMap::new()),
            checks: CheckCounters::default(),
            breakers: Default::default(),
        }
    }
}

impl ClusterHealth {
    pub fn version(&self) -> u64 {
        self.active.version()
    }

    pub fn snapshot(&self) -> Arc<HealthSnapshot> {
        self.active.load()
    }

    /// Publish new active-check verdicts (checker thread).
    pub fn publish(&self, snapshot: HealthSnapshot) {
        self.active.publish(snapshot);
    }

    /// Milliseconds since this table was made: the clock of `ejected_until`.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The slot of `addr`, created on first use.
    pub fn slot(&self, addr: SocketAddr) -> Arc<EjectionSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(addr).or_default().clone()
    }

    /// Ejected hosts and the ejection count, for the admin thread.
    pub fn outlier_summary(&self) -> OutlierSummary {
        let now = self.now_ms();
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut ejected: Vec<SocketAddr> = slots
            .iter()
            .filter(|(_, s)| s.is_ejected(now))
            .map(|(a, _)| *a)
            .collect();
        ejected.sort_unstable();
        OutlierSummary {
            ejected,
            ejections_total: slots.values().map(|s| u64::from(s.times_ejected())).sum(),
        }
    }

    /// Eject the host of `slot` for `base × times ejected` (at most `max`).
    /// Returns the ejection's duration.
    pub fn eject(&self, slot: &EjectionSlot, base: Duration, max: Duration) -> Duration {
        let times = slot.times_ejected.fetch_add(1, Ordering::Relaxed) + 1;
        let dur = base.saturating_mul(times).min(max.max(base));
        let until = self.now_ms() + dur.as_millis() as u64;
        slot.ejected_until.fetch_max(until, Ordering::Release);
        // After the slot write: a worker that sees the new version sees the ejection.
        self.active.bump();
        dur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_grows_and_expires() {
        let h = ClusterHealth::default();
        let v = h.version();
        let addr: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let slot = h.slot(addr);
        assert!(Arc::ptr_eq(&slot, &h.slot(addr)));
        let now = h.now_ms();
        assert!(!slot.is_ejected(now));
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(300);
        assert_eq!(h.eject(&slot, base, max), base);
        assert!(h.version() > v);
        assert!(slot.is_ejected(h.now_ms()));
        assert!(!slot.is_ejected(h.now_ms() + 30_001));
        assert_eq!(h.eject(&slot, base, max), base * 2);
        for _ in 0..20 {
            h.eject(&slot, base, max);
        }
        assert_eq!(h.eject(&slot, base, max), max);
        assert_eq!(slot.times_ejected(), 23);
        let summary = h.outlier_summary();
        assert_eq!(summary.ejected, vec![addr]);
        assert_eq!(summary.ejections_total, 23);
    }
}
