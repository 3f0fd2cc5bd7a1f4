//! Building generations (control plane, never on a worker): the first one at
//! start, and each reload's from the one before. This is where listeners are
//! bound (`net::bind`, one socket per worker) and where a cluster's shared
//! pieces are made or carried over; `generation` only holds the result.
//!
//! Identity across reloads: a cluster whose config is unchanged (and, for DNS
//! clusters, whose `dns:` block is unchanged) carries the *same* `ClusterShared`
//! into the next generation; a listener whose name and address stay carries the
//! same `Arc<ListenerSockets>`, so its sockets are never closed.

use std::{net::SocketAddr, sync::Arc};

use crate::{
    config::{ClusterConfig, ClusterKind, Config, Endpoint, ListenerConfig},
    generation::{is_dns, ClusterShared, GenListener, Generation, ListenerSockets},
    net::bind::bind_all,
    upstream::{
        health::ClusterHealth,
        hosts::{HostSet, SharedHosts},
    },
};

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

fn bind(l: &ListenerConfig, workers: usize) -> Result<Arc<ListenerSockets>, BindError> {
    let (bound, sockets) = bind_all(l.address, workers).map_err(|source| BindError {
        name: l.name.clone(),
        addr: l.address,
        source,
    })?;
    Ok(Arc::new(ListenerSockets::new(l.address, bound, sockets)))
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
        hosts: Arc::new(SharedHosts::balanced(initial_hosts(c), c.lb_policy)),
        health: Arc::new(ClusterHealth::default()),
        slot,
    }
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
}
