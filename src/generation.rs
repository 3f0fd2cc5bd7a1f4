//! Config generations: what a (re)loaded config means to every core, built once
//! off the workers and published as one immutable snapshot.
//!
//! A `Generation` holds the validated config plus the pieces of it that are
//! shared across cores: per cluster its `SharedHosts` (fed by discovery),
//! `ClusterHealth` (fed by the checker and outlier ejection) and stats slot; per
//! listener its bound `SO_REUSEPORT` sockets (one per worker) and stats slot.
//! `Generations` publishes it the way host sets are published: store a new
//! `Arc<Generation>` in an `ArcSwap`, then bump a version counter. Workers
//! compare that version on their 100 ms tick (never per request) and rebuild
//! their own routers and cluster tables from the new generation.
//!
//! Identity across reloads: a cluster whose config is unchanged carries the
//! *same* `Arc<SharedHosts>` and `Arc<ClusterHealth>` into the next generation,
//! which is how workers, the resolver and the checker recognise it and keep
//! their state (pools, balancer, outlier counts, last good host set). A
//! listener whose name and address are unchanged carries the same
//! `Arc<ListenerSockets>`, so its sockets are never closed.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use arc_swap::ArcSwap;

use crate::{
    config::{ClusterConfig, ClusterKind, Config, Endpoint, ListenerConfig},
    upstream::{
        health::ClusterHealth,
        hosts::{HostSet, SharedHosts},
    },
    worker::listener,
};

/// One cluster's shared pieces in a generation.
#[derive(Clone)]
pub struct ClusterShared {
    pub config: Arc<ClusterConfig>,
    pub hosts: Arc<SharedHosts>,
    pub health: Arc<ClusterHealth>,
    /// Its stats slot (keyed by name, stable across reloads).
    pub slot: usize,
}

impl ClusterShared {
    /// Same identity: the cluster was carried over unchanged.
    pub fn same(&self, other: &ClusterShared) -> bool {
        Arc::ptr_eq(&self.hosts, &other.hosts)
    }
}

/// One listener's bound sockets, kept across reloads while its name and
/// address stay the same.
pub struct ListenerSockets {
    /// Unique per bind: workers recognise a listener they already serve by it.
    pub id: u64,
    /// The address the config asked for (port 0 stays 0).
    pub configured: SocketAddr,
    /// The address actually bound (port 0 resolved).
    pub bound: SocketAddr,
    /// Per worker: its socket, until that worker takes it.
    per_worker: Mutex<Vec<Option<std::net::TcpListener>>>,
}

impl ListenerSockets {
    /// Worker `id`'s socket; `None` if already taken.
    pub fn take(&self, worker: usize) -> Option<std::net::TcpListener> {
        let mut sockets = self.per_worker.lock().unwrap_or_else(|e| e.into_inner());
        sockets.get_mut(worker).and_then(Option::take)
    }
}

/// One listener in a generation.
#[derive(Clone)]
pub struct GenListener {
    pub config: Arc<ListenerConfig>,
    pub slot: usize,
    pub sockets: Arc<ListenerSockets>,
}

pub struct Generation {
    pub version: u64,
    pub config: Arc<Config>,
    pub clusters: Vec<ClusterShared>,
    pub listeners: Vec<GenListener>,
}

/// What a reload changed, for the log line and `POST /reload`.
#[derive(Debug, Default)]
pub struct Changes {
    pub listeners_added: Vec<String>,
    pub listeners_removed: Vec<String>,
    pub clusters_added: Vec<String>,
    pub clusters_changed: Vec<String>,
    pub clusters_removed: Vec<String>,
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        write!(
            f,
            "listeners added [{}] removed [{}]; clusters added [{}] changed [{}] removed [{}]",
            list(&self.listeners_added),
            list(&self.listeners_removed),
            list(&self.clusters_added),
            list(&self.clusters_changed),
            list(&self.clusters_removed),
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (listener {name}): {source}")]
pub struct BindError {
    pub name: String,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(1);

fn bind(l: &ListenerConfig, workers: usize) -> Result<Arc<ListenerSockets>, BindError> {
    let (bound, sockets) = listener::bind_all(l.address, workers).map_err(|source| BindError {
        name: l.name.clone(),
        addr: l.address,
        source,
    })?;
    Ok(Arc::new(ListenerSockets {
        id: NEXT_LISTENER_ID.fetch_add(1, Ordering::Relaxed),
        configured: l.address,
        bound,
        per_worker: Mutex::new(sockets.into_iter().map(Some).collect()),
    }))
}

/// The host set a cluster starts with: its literal addresses (static clusters,
/// or DNS clusters without names); otherwise empty and unresolved until
/// discovery answers.
fn initial_hosts(c: &ClusterConfig) -> HostSet {
    let literal: Vec<(SocketAddr, u32)> = c
        .endpoints
        .iter()
        .zip(c.endpoint_weights.iter().chain(std::iter::repeat(&1)))
        .filter_map(|(e, w)| match e {
            Endpoint::Addr(a) => Some((*a, *w)),
            Endpoint::Name { .. } => None,
        })
        .collect();
    match c.kind {
        ClusterKind::Static => HostSet::weighted(literal),
        ClusterKind::StrictDns | ClusterKind::LogicalDns => {
            if literal.len() == c.endpoints.len() {
                HostSet::weighted(literal)
            } else {
                HostSet::default()
            }
        }
    }
}

fn fresh_cluster(c: &ClusterConfig, slot: usize) -> ClusterShared {
    ClusterShared {
        config: Arc::new(c.clone()),
        hosts: Arc::new(SharedHosts::new(initial_hosts(c))),
        health: Arc::new(ClusterHealth::default()),
        slot,
    }
}

/// A cluster with names to resolve.
pub fn is_dns(c: &ClusterConfig) -> bool {
    c.kind != ClusterKind::Static
        && c.endpoints
            .iter()
            .any(|e| matches!(e, Endpoint::Name { .. }))
}

impl Generation {
    /// The first generation: bind every listener once per worker and make every
    /// cluster's shared pieces. `slots`: stats slots of listeners and clusters.
    pub fn initial(
        config: Arc<Config>,
        listener_slots: &[usize],
        cluster_slots: &[usize],
    ) -> Result<Generation, BindError> {
        let listeners = config
            .listeners
            .iter()
            .zip(listener_slots)
            .map(|(l, &slot)| {
                Ok(GenListener {
                    config: Arc::new(l.clone()),
                    slot,
                    sockets: bind(l, config.workers)?,
                })
            })
            .collect::<Result<Vec<_>, BindError>>()?;
        let clusters = config
            .clusters
            .iter()
            .zip(cluster_slots)
            .map(|(c, &slot)| fresh_cluster(c, slot))
            .collect();
        Ok(Generation {
            version: 1,
            config,
            clusters,
            listeners,
        })
    }

    /// The generation after this one for `config` (already validated). Binds
    /// new or moved listeners; carries over unchanged clusters and listeners.
    pub fn next(
        &self,
        config: Arc<Config>,
        listener_slots: &[usize],
        cluster_slots: &[usize],
    ) -> Result<(Generation, Changes), BindError> {
        let mut changes = Changes::default();
        let dns_same = self.config.dns == config.dns;
        let mut clusters = Vec::with_capacity(config.clusters.len());
        for (c, &slot) in config.clusters.iter().zip(cluster_slots) {
            let old = self.clusters.iter().find(|o| o.config.name == c.name);
            let shared = match old {
                Some(o) if *o.config == *c && (dns_same || !is_dns(c)) => o.clone(),
                Some(o) => {
                    changes.clusters_changed.push(c.name.clone());
                    let fresh = fresh_cluster(c, slot);
                    // Same hosts to find: start from the last good set rather
                    // than from nothing, so a DNS cluster has no 503 window.
                    if o.config.kind == c.kind
                        && o.config.endpoints == c.endpoints
                        && o.config.endpoint_weights == c.endpoint_weights
                    {
                        let last = o.hosts.snapshot();
                        if last.resolved {
                            fresh.hosts.publish((*last).clone());
                        }
                    }
                    fresh
                }
                None => {
                    changes.clusters_added.push(c.name.clone());
                    fresh_cluster(c, slot)
                }
            };
            clusters.push(shared);
        }
        for o in &self.clusters {
            if !config.clusters.iter().any(|c| c.name == o.config.name) {
                changes.clusters_removed.push(o.config.name.clone());
            }
        }

        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (l, &slot) in config.listeners.iter().zip(listener_slots) {
            let kept = self
                .listeners
                .iter()
                .find(|o| o.config.name == l.name && o.sockets.configured == l.address);
            let sockets = match kept {
                Some(o) => o.sockets.clone(),
                None => {
                    let s = bind(l, config.workers)?;
                    changes
                        .listeners_added
                        .push(format!("{}@{}", l.name, s.bound));
                    s
                }
            };
            listeners.push(GenListener {
                config: Arc::new(l.clone()),
                slot,
                sockets,
            });
        }
        for o in &self.listeners {
            if !listeners
                .iter()
                .any(|l| Arc::ptr_eq(&l.sockets, &o.sockets))
            {
                changes
                    .listeners_removed
                    .push(format!("{}@{}", o.config.name, o.sockets.bound));
            }
        }
        Ok((
            Generation {
                version: self.version + 1,
                config,
                clusters,
                listeners,
            },
            changes,
        ))
    }

    /// Listener names and the addresses they bound.
    pub fn bound_listeners(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|l| (l.config.name.clone(), l.sockets.bound))
            .collect()
    }
}

/// The published generation: an `ArcSwap` plus a version counter, like
/// `SharedHosts`. Written by the reload thread only.
pub struct Generations {
    current: ArcSwap<Generation>,
    version: AtomicU64,
}

impl Generations {
    pub fn new(first: Generation) -> Self {
        Generations {
            version: AtomicU64::new(first.version),
            current: ArcSwap::from_pointee(first),
        }
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    pub fn publish(&self, next: Generation) {
        let version = next.version;
        self.current.store(Arc::new(next));
        self.version.store(version, Ordering::Release);
    }
}
