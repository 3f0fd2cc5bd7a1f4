//! The control plane: start-up, reload and shutdown of the whole process. It
//! sits above everything it starts (workers, the resolver and checker threads)
//! and nothing on the data path imports it.
//!
//! - `build`: bind every listener once per worker, make (or carry over) each
//!   cluster's shared pieces: the next `Generation`.
//! - this file: publish the first generation, start pinned worker threads and
//!   the helper threads, and wait for the workers to finish.
//! - `reload`: re-read the config on SIGHUP or `POST /reload`.
//! - `signals`: turn SIGINT/SIGTERM into a graceful drain, SIGHUP into a reload.

pub mod build;
pub mod reload;
pub mod signals;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};

pub use build::{BindError, Changes};
pub use reload::ReloadError;
pub use reload::Reloader;
pub use signals::{install_signal_handlers, ReloadHook};

use crate::{
    checker,
    config::{Config, IoDriverChoice},
    discovery,
    generation::{Generation, Generations},
    net::IoDriver,
    prim::Lifecycle,
    stats::ServerStats,
    worker::{self, Shared},
};

/// A running proxy.
pub struct Server {
    pub listeners: Vec<(String, SocketAddr)>,
    pub shutdown: Arc<AtomicBool>,
    /// Draining and the health override, for the admin endpoint to read and set.
    pub lifecycle: Arc<Lifecycle>,
    /// Every worker's counters; the admin endpoint reads them.
    pub stats: Arc<ServerStats>,
    /// Swaps in a re-read config.
    pub reloader: Arc<Reloader>,
    /// The published config generation: what the admin shows as configured.
    pub generations: Arc<Generations>,
    threads: Vec<JoinHandle<std::io::Result<IoDriver>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Bind(#[from] BindError),
    /// Another process listens there: SO_REUSEPORT would let ringway bind
    /// beside it and take half its connections, silently.
    #[error(
        "cannot listen on {addr} (listener {name}): another process is already listening there \
         (a second ringway?); stop it or pick another address"
    )]
    AddressTaken { name: String, addr: SocketAddr },
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("{0}")]
    Stats(String),
}

/// Stats slots for `config`'s listeners and clusters, in config order.
pub(crate) fn register(
    stats: &ServerStats,
    config: &Config,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    stats.register(
        config.listeners.iter().map(|l| l.name.as_str()),
        config.clusters.iter().map(|c| c.name.as_str()),
    )
}

/// The resolver and health-check threads: started when a config first needs
/// them (at start or by a reload), stopped at shutdown.
#[derive(Default)]
pub(crate) struct Helpers {
    resolver: Option<JoinHandle<()>>,
    checker: Option<JoinHandle<()>>,
}

impl Helpers {
    pub(crate) fn ensure(
        &mut self,
        gen: &Generation,
        generations: &Arc<Generations>,
        shutdown: &Arc<AtomicBool>,
    ) -> std::io::Result<()> {
        if self.resolver.is_none() && discovery::resolver::needed(gen) {
            self.resolver = Some(discovery::start(generations.clone(), shutdown.clone())?);
        }
        if self.checker.is_none() && checker::needed(gen) {
            self.checker = Some(checker::spawn(generations.clone(), shutdown.clone())?);
        }
        Ok(())
    }
}

impl Server {
    /// Bind and start. Returns once every listener is accepting. Setting
    /// `shutdown` starts a graceful drain. Reloads are refused (no file).
    pub fn start(
        config: Config,
        driver_override: Option<IoDriverChoice>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Server, StartError> {
        Server::start_with_file(config, None, driver_override, shutdown)
    }

    /// `start`, with `path`: the config file a reload re-reads.
    pub fn start_with_file(
        config: Config,
        path: Option<String>,
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
        refuse_taken_addresses(&config, &[])?;
        let config = Arc::new(config);
        let workers = config.workers;
        let stats = Arc::new(ServerStats::new(
            workers,
            config.listeners.len(),
            config.clusters.len(),
        ));
        let lifecycle = Arc::new(Lifecycle::new(shutdown.clone()));
        let (listener_slots, cluster_slots) =
            register(&stats, &config).map_err(StartError::Stats)?;
        let first = Generation::initial(config.clone(), &listener_slots, &cluster_slots)?;
        let listeners = first.bound_listeners();
        let generations = Arc::new(Generations::new(first));
        // One thread checks every cluster's hosts and one resolves DNS; workers
        // only read what they publish.
        let mut helpers = Helpers::default();
        helpers
            .ensure(&generations.load(), &generations, &shutdown)
            .map_err(StartError::Spawn)?;
        let shared = Arc::new(Shared {
            generations: generations.clone(),
            shutdown: shutdown.clone(),
            stats: stats.clone(),
            lifecycle: lifecycle.clone(),
        });
        let choice = driver_override.unwrap_or(config.io_driver);
        let driver = worker::resolve_driver(choice);
        let forced = choice != IoDriverChoice::Auto;
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mut threads = Vec::with_capacity(workers);
        for id in 0..workers {
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
                    worker::run(id, driver, forced, shared)
                })
                .map_err(StartError::Spawn)?;
            threads.push(handle);
        }
        let reloader = Arc::new(Reloader {
            path,
            generations: generations.clone(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            helpers: Mutex::new(helpers),
        });
        Ok(Server {
            listeners,
            shutdown,
            lifecycle,
            stats,
            reloader,
            generations,
            threads,
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
        // Workers may also end by failing; either way nothing needs DNS or checks now.
        self.shutdown.store(true, Ordering::Relaxed);
        let helpers = std::mem::take(
            &mut *self
                .reloader
                .helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for (name, handle) in [
            ("resolver", helpers.resolver),
            ("health checker", helpers.checker),
        ] {
            if let Some(h) = handle {
                if h.join().is_err() {
                    tracing::error!("{name} thread panicked");
                    ok = false;
                }
            }
        }
        ok
    }
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

/// Refuse a listener address another process already listens on. A probe
/// socket binds it without SO_REUSEPORT (as another ringway's or any server's
/// listening socket would have to allow) and is closed at once. `ours`: the
/// addresses this process serves already (a reload's renamed listener binds
/// beside its own sockets), not probed.
pub(super) fn refuse_taken_addresses(
    config: &Config,
    ours: &[SocketAddr],
) -> Result<(), StartError> {
    let fresh =
        |l: &&crate::config::ListenerConfig| l.address.port() != 0 && !ours.contains(&l.address);
    for l in config.listeners.iter().filter(fresh) {
        if let Err(e) = probe_bind(l.address) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(StartError::AddressTaken {
                    name: l.name.clone(),
                    addr: l.address,
                });
            }
            // Any other failure (no such address, no permission) is the real
            // bind's to report, with its own error.
        }
    }
    Ok(())
}

fn probe_bind(addr: SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As the real sockets: TIME_WAIT leftovers do not count as taken, and a
    // v6 socket does not claim the v4 port.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())
}
