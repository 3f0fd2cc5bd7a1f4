//! Config generations: what a (re)loaded config means to every core, built once
//! off the workers (by `server::build`) and published as one immutable snapshot.
//! This module holds only the snapshot and its publication cell, so that the
//! readers (workers, the resolver, the checker, the admin) sit above it and the
//! control plane that builds it (`server`) above them.
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

use crate::{
    config::{ClusterConfig, ClusterKind, Config, Endpoint, ListenerConfig},
    prim::Published,
    upstream::{health::ClusterHealth, hosts::SharedHosts},
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

/// Source of `ListenerSockets::id`.
static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(1);

impl ListenerSockets {
    /// Sockets just bound for `configured` (one per worker, all on `bound`).
    pub fn new(
        configured: SocketAddr,
        bound: SocketAddr,
        sockets: Vec<std::net::TcpListener>,
    ) -> Self {
        ListenerSockets {
            id: NEXT_LISTENER_ID.fetch_add(1, Ordering::Relaxed),
            configured,
            bound,
            per_worker: Mutex::new(sockets.into_iter().map(Some).collect()),
        }
    }

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

/// A cluster with names to resolve.
pub fn is_dns(c: &ClusterConfig) -> bool {
    c.kind != ClusterKind::Static
        && c.endpoints
            .iter()
            .any(|e| matches!(e, Endpoint::Name { .. }))
}

impl Generation {
    /// Listener names and the addresses they bound.
    pub fn bound_listeners(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .map(|l| (l.config.name.clone(), l.sockets.bound))
            .collect()
    }
}

/// The published generation (`prim::Published`, numbered by the generation's
/// own `version`). Written by the reload thread only.
pub struct Generations(Published<Generation>);

impl Generations {
    pub fn new(first: Generation) -> Self {
        let version = first.version;
        Generations(Published::with_version(first, version))
    }

    pub fn version(&self) -> u64 {
        self.0.version()
    }

    pub fn load(&self) -> Arc<Generation> {
        self.0.load()
    }

    pub fn publish(&self, next: Generation) {
        let version = next.version;
        self.0.publish_as(next, version);
    }
}
