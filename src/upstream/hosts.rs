//! Host sets: the immutable list of addresses a cluster balances over, published
//! by whoever discovers them (config for static clusters, the resolver thread for
//! DNS ones) and read by every worker without a lock.
//!
//! Publication: the writer stores a new `Arc<HostSet>` in an `ArcSwap` and then
//! bumps `version`. A worker compares one relaxed-load of `version` with the
//! version it cached; only when they differ does it take the new snapshot. The
//! request path therefore costs one read of a read-mostly cache line.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use arc_swap::ArcSwap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub addr: SocketAddr,
    /// The name it was discovered under (the address itself for static hosts).
    pub hostname: Arc<str>,
    /// Load-balancing weight, at least 1 (every address of a DNS endpoint
    /// carries the endpoint's weight).
    pub weight: u32,
}

#[derive(Debug, Clone, Default)]
pub struct HostSet {
    pub hosts: Vec<Host>,
    /// False until the first discovery finished (DNS clusters answer 503 meanwhile).
    pub resolved: bool,
}

impl HostSet {
    pub fn fixed(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self::weighted(addrs.into_iter().map(|a| (a, 1)))
    }

    /// Static hosts with their weights.
    pub fn weighted(addrs: impl IntoIterator<Item = (SocketAddr, u32)>) -> Self {
        HostSet {
            hosts: addrs
                .into_iter()
                .map(|(addr, weight)| Host {
                    addr,
                    hostname: Arc::from(addr.to_string()),
                    weight: weight.max(1),
                })
                .collect(),
            resolved: true,
        }
    }
}

/// One cluster's published host set, shared by the publisher and every worker.
#[derive(Debug)]
pub struct SharedHosts {
    current: ArcSwap<HostSet>,
    version: AtomicU64,
}

impl SharedHosts {
    pub fn new(initial: HostSet) -> Self {
        SharedHosts {
            current: ArcSwap::from_pointee(initial),
            version: AtomicU64::new(1),
        }
    }

    /// Publish a new set (publisher side).
    pub fn publish(&self, set: HostSet) {
        self.current.store(Arc::new(set));
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> Arc<HostSet> {
        self.current.load_full()
    }
}
