//! Host sets: the immutable list of addresses a cluster balances over, published
//! by whoever discovers them (config for static clusters, the resolver thread for
//! DNS ones) and read by every worker without a lock.
//!
//! Publication is `prim::Published` (its docs give the ordering): a worker
//! compares one load of the version with the version it cached, and only when
//! they differ takes the new snapshot. The request path therefore costs one
//! read of a read-mostly cache line.

use std::{net::SocketAddr, sync::Arc};

use crate::prim::Published;

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
pub struct SharedHosts(Published<HostSet>);

impl SharedHosts {
    pub fn new(initial: HostSet) -> Self {
        SharedHosts(Published::new(initial))
    }

    /// Publish a new set (publisher side).
    pub fn publish(&self, set: HostSet) {
        self.0.publish(set);
    }

    pub fn version(&self) -> u64 {
        self.0.version()
    }

    pub fn snapshot(&self) -> Arc<HostSet> {
        self.0.load()
    }
}
