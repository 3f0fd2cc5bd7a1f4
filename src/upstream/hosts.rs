//! Host sets: the immutable list of addresses a cluster balances over, published
//! by whoever discovers them (config for static clusters, the resolver thread for
//! DNS ones) and read by every worker without a lock.
//!
//! Publication is `prim::Published` (its docs give the ordering): a worker
//! compares one load of the version with the version it cached, and only when
//! they differ takes the new snapshot. The request path therefore costs one
//! read of a read-mostly cache line.
//!
//! A cluster that balances by a hash table (`ring_hash`, `maglev`) gets the
//! table with each host set: `publish` builds it on the publishing thread, then
//! publishes set and table as one snapshot, so a worker never builds one and
//! never sees a set without its table. One table per cluster, however many
//! workers (`balancer::table`).

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use crate::{
    balancer::{Candidate, HashTable},
    config::LbPolicy,
    prim::Published,
};

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

/// What one publication carries: the set and, for hashing policies, its table.
#[derive(Debug, Default)]
struct Snapshot {
    set: Arc<HostSet>,
    table: Option<Arc<HashTable>>,
}

/// One cluster's published host set, shared by the publisher and every worker.
#[derive(Debug)]
pub struct SharedHosts {
    cell: Published<Snapshot>,
    /// Whose table each set gets (none for the non-hashing policies).
    policy: LbPolicy,
}

impl SharedHosts {
    /// A cell whose sets carry no table.
    pub fn new(initial: HostSet) -> Self {
        SharedHosts::balanced(initial, LbPolicy::RoundRobin)
    }

    /// A cell for a cluster balanced by `policy`: each set published gets the
    /// policy's table, built here, on the publisher's thread.
    pub fn balanced(initial: HostSet, policy: LbPolicy) -> Self {
        SharedHosts {
            cell: Published::new(with_table(initial, policy)),
            policy,
        }
    }

    /// Publish a new set (publisher side), after building its table.
    pub fn publish(&self, set: HostSet) {
        self.cell.publish(with_table(set, self.policy));
    }

    pub fn version(&self) -> u64 {
        self.cell.version()
    }

    pub fn snapshot(&self) -> Arc<HostSet> {
        self.cell.load().set.clone()
    }

    /// The newest set and the table built for it, from one publication.
    pub fn snapshot_with_table(&self) -> (Arc<HostSet>, Option<Arc<HashTable>>) {
        let s = self.cell.load();
        (s.set.clone(), s.table.clone())
    }
}

/// `set` with its table: over its hosts in order, each address once (as a
/// worker's members are).
fn with_table(set: HostSet, policy: LbPolicy) -> Snapshot {
    let table = policy.uses_hash().then(|| {
        let mut seen = HashSet::new();
        let hosts: Vec<Candidate> = set
            .hosts
            .iter()
            .filter(|h| seen.insert(h.addr))
            .map(|h| Candidate {
                addr: h.addr,
                weight: h.weight.max(1),
            })
            .collect();
        if hosts.is_empty() {
            return None;
        }
        // Seconds for the largest rings: say when it starts and ends, so a slow
        // publication can be told from a stuck one.
        tracing::debug!(hosts = hosts.len(), ?policy, "hash table: building");
        let started = std::time::Instant::now();
        let table = HashTable::build(policy, &hosts).map(Arc::new);
        tracing::debug!(
            hosts = hosts.len(),
            bytes = table.as_ref().map_or(0, |t| t.heap_bytes()),
            ms = started.elapsed().as_millis() as u64,
            "hash table: built"
        );
        table
    });
    Snapshot {
        set: Arc::new(set),
        table: table.flatten(),
    }
}
