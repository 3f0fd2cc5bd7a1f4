//! Start-up and shutdown of the whole process: bind every listener once per
//! worker, publish the initial host sets, start pinned worker threads, turn
//! SIGINT/SIGTERM into a graceful drain, and wait for the workers to finish.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use crate::{
    config::{ClusterKind, Config, Endpoint, IoDriverChoice},
    discovery,
    stats::ServerStats,
    upstream::{
        checker::{self, CheckedCluster},
        health::ClusterHealth,
        hosts::{HostSet, SharedHosts},
    },
    worker::{self, listener, IoDriver, Shared},
};

/// A running proxy.
pub struct Server {
    pub listeners: Vec<(String, SocketAddr)>,
    pub shutdown: Arc<AtomicBool>,
    pub hosts: Vec<Arc<SharedHosts>>,
    /// Every worker's counters and the admin's flags; the admin endpoint reads it.
    pub stats: Arc<ServerStats>,
    threads: Vec<JoinHandle<std::io::Result<IoDriver>>>,
    /// Refreshes DNS clusters; present when any cluster has a name to resolve.
    resolver: Option<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} (listener {name}): {source}")]
    Bind {
        name: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
}

impl Server {
    /// Bind and start. Returns once every listener is accepting. Setting
    /// `shutdown` starts a graceful drain.
    pub fn start(
        config: Config,
        driver_override: Option<IoDriverChoice>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Server, StartError> {
        // Upstream connections are bounded by the clusters' breakers; the same
        // again is a modest allowance for client connections.
        let upstream_fds: u64 = config
            .clusters
            .iter()
            .map(|c| u64::from(c.circuit_breakers.max_connections))
            .sum();
        raise_fd_limit(2 * upstream_fds + 64);
        let config = Arc::new(config);
        let workers = config.workers;
        let mut per_worker: Vec<Vec<std::net::TcpListener>> =
            (0..workers).map(|_| Vec::new()).collect();
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let (actual, sockets) =
                listener::bind_all(l.address, workers).map_err(|source| StartError::Bind {
                    name: l.name.clone(),
                    addr: l.address,
                    source,
                })?;
            for (w, s) in sockets.into_iter().enumerate() {
                per_worker[w].push(s);
            }
            listeners.push((l.name.clone(), actual));
        }

        let hosts: Vec<Arc<SharedHosts>> = config
            .clusters
            .iter()
            .map(|c| {
                let initial = match c.kind {
                    ClusterKind::Static => HostSet::weighted(
                        c.endpoints
                            .iter()
                            .zip(c.endpoint_weights.iter().chain(std::iter::repeat(&1)))
                            .filter_map(|(e, w)| match e {
                                Endpoint::Addr(a) => Some((*a, *w)),
                                Endpoint::Name { .. } => None,
                            }),
                    ),
                    // Filled by discovery; until then the cluster answers 503.
                    ClusterKind::StrictDns | ClusterKind::LogicalDns => {
                        let literal: Vec<(SocketAddr, u32)> = c
                            .endpoints
                            .iter()
                            .zip(c.endpoint_weights.iter().chain(std::iter::repeat(&1)))
                            .filter_map(|(e, w)| match e {
                                Endpoint::Addr(a) => Some((*a, *w)),
                                Endpoint::Name { .. } => None,
                            })
                            .collect();
                        if literal.len() == c.endpoints.len() {
                            HostSet::weighted(literal)
                        } else {
                            HostSet::default()
                        }
                    }
                };
                Arc::new(SharedHosts::new(initial))
            })
            .collect();

        let health: Vec<Arc<ClusterHealth>> = config
            .clusters
            .iter()
            .map(|_| Arc::new(ClusterHealth::default()))
            .collect();
        // One thread checks every cluster's hosts; workers only read its verdicts.
        checker::spawn(
            config
                .clusters
                .iter()
                .zip(&hosts)
                .zip(&health)
                .map(|((c, h), health)| CheckedCluster {
                    config: Arc::new(c.clone()),
                    hosts: h.clone(),
                    health: health.clone(),
                })
                .collect(),
            shutdown.clone(),
        )
        .map_err(StartError::Spawn)?;

        let stats = Arc::new(ServerStats::new(
            config.clone(),
            hosts.clone(),
            health.clone(),
            shutdown.clone(),
        ));
        let shared = Arc::new(Shared {
            config: config.clone(),
            hosts: hosts.clone(),
            health,
            shutdown: shutdown.clone(),
            stats: stats.clone(),
        });
        let resolver =
            discovery::start(&config, &hosts, shutdown.clone()).map_err(StartError::Spawn)?;
        let choice = driver_override.unwrap_or(config.io_driver);
        let driver = worker::resolve_driver(choice);
        let forced = choice != IoDriverChoice::Auto;
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mut threads = Vec::with_capacity(workers);
        for (id, sockets) in per_worker.into_iter().enumerate() {
            let shared = shared.clone();
            let core = (!cores.is_empty()).then(|| cores[id % cores.len()]);
            let handle = std::thread::Builder::new()
                .name(format!("ringway-w{id}"))
                .spawn(move || {
                    if let Some(core) = core {
                        if !core_affinity::set_for_current(core) {
                            tracing::warn!(worker = id, "could not pin worker to core");
                        }
                    }
                    worker::run(id, driver, forced, shared, sockets)
                })
                .map_err(StartError::Spawn)?;
            threads.push(handle);
        }
        Ok(Server {
            listeners,
            shutdown,
            hosts,
            stats,
            threads,
            resolver,
        })
    }

    /// Begin a graceful drain on every worker.
    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Wait for every worker to finish. Returns false if any failed.
    pub fn join(self) -> bool {
        let mut ok = true;
        for (id, t) in self.threads.into_iter().enumerate() {
            match t.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(worker = id, error = %e, "worker failed");
                    ok = false;
                }
                Err(_) => {
                    tracing::error!(worker = id, "worker panicked");
                    ok = false;
                }
            }
        }
        if let Some(r) = self.resolver {
            // Workers may also end by failing; either way nothing needs DNS now.
            self.shutdown.store(true, Ordering::Relaxed);
            if r.join().is_err() {
                tracing::error!("resolver thread panicked");
                ok = false;
            }
        }
        ok
    }
}

/// SIGINT/SIGTERM start a graceful drain; a second one exits at once.
pub fn install_signal_handlers(shutdown: Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::{consts::*, iterator::Signals};
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("ringway-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen == 1 {
                    tracing::info!(signal = sig, "draining: finishing in-flight requests");
                    shutdown.store(true, Ordering::Relaxed);
                } else {
                    tracing::warn!("second signal: exiting now");
                    std::process::exit(1);
                }
            }
        })?;
    Ok(())
}

/// Raise the open-file limit to the hard limit: every connection is an fd.
/// Say so when the result is below `wanted` (what the config's connection limits
/// could use), since then connections fail with EMFILE before breakers trip.
fn raise_fd_limit(wanted: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !got {
        return;
    }
    let old = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            lim.rlim_cur = old;
        }
    }
    tracing::info!(from = old, to = lim.rlim_cur, "open-file limit");
    if lim.rlim_cur < wanted {
        tracing::warn!(
            limit = lim.rlim_cur,
            wanted,
            "the open-file limit is below what the clusters' max_connections allow \
             (plus as many client connections); raise the hard limit (ulimit -Hn)"
        );
    }
}
