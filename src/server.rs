//! Start-up, reload and shutdown of the whole process: bind every listener once
//! per worker, publish the first config generation, start pinned worker
//! threads, re-read the config on SIGHUP or `POST /reload`, turn SIGINT/SIGTERM
//! into a graceful drain, and wait for the workers to finish.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread::JoinHandle,
};

use crate::{
    config::{self, Config, IoDriverChoice},
    discovery,
    generation::{BindError, Generation, Generations},
    stats::{ServerStats, StatsView},
    upstream::checker,
    worker::{self, IoDriver, Shared},
};

/// A running proxy.
pub struct Server {
    pub listeners: Vec<(String, SocketAddr)>,
    pub shutdown: Arc<AtomicBool>,
    /// Every worker's counters and the admin's flags; the admin endpoint reads it.
    pub stats: Arc<ServerStats>,
    /// Swaps in a re-read config.
    pub reloader: Arc<Reloader>,
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
}

/// The resolver and health-check threads: started when a config first needs
/// them (at start or by a reload), stopped at shutdown.
#[derive(Default)]
struct Helpers {
    resolver: Option<JoinHandle<()>>,
    checker: Option<JoinHandle<()>>,
}

impl Helpers {
    fn ensure(
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

/// Re-reads the config file and publishes it as a new generation. One reload at
/// a time; never on a worker thread.
pub struct Reloader {
    /// The config file; `None` (the demo's embedded config): nothing to re-read.
    path: Option<String>,
    generations: Arc<Generations>,
    stats: Arc<ServerStats>,
    shutdown: Arc<AtomicBool>,
    helpers: Mutex<Helpers>,
}

impl Reloader {
    /// Re-read and swap in the config file. `Ok`: what changed; `Err`: why it
    /// was rejected (the old config keeps serving). Logs one line either way.
    pub fn reload(&self) -> Result<String, String> {
        // Serialises reloads (the admin thread and the signal thread).
        let mut helpers = self.helpers.lock().unwrap_or_else(|e| e.into_inner());
        match self.try_reload(&mut helpers) {
            Ok(summary) => {
                tracing::info!("reload accepted: {summary}");
                Ok(summary)
            }
            Err(e) => {
                tracing::error!("reload rejected, old config keeps serving: {e}");
                Err(e)
            }
        }
    }

    fn try_reload(&self, helpers: &mut Helpers) -> Result<String, String> {
        if self.shutdown.load(Ordering::Relaxed) {
            return Err("draining: no reloads during shutdown".to_string());
        }
        let path = self
            .path
            .as_deref()
            .ok_or("this process runs an embedded config; there is no file to re-read")?;
        let loaded = config::load_file(path).map_err(|e| format!("{path}: {e}"))?;
        for w in &loaded.warnings {
            tracing::warn!("{path}: {w}");
        }
        let mut config = loaded.config;
        let old = self.generations.load();
        let mut notes = Vec::new();
        // What a reload cannot change: the threads and the admin listener.
        if config.workers != old.config.workers {
            notes.push(format!(
                "workers stays {} (restart to change)",
                old.config.workers
            ));
            config.workers = old.config.workers;
        }
        if config.io_driver != old.config.io_driver {
            notes.push("io_driver unchanged until restart".to_string());
            config.io_driver = old.config.io_driver;
        }
        if config.admin.as_ref().map(|a| a.address) != old.config.admin.as_ref().map(|a| a.address)
        {
            notes.push("admin address unchanged until restart".to_string());
            config.admin = old.config.admin.clone();
        }
        let edits = ConfigEdits::between(&old.config, &config);
        if edits.is_empty() {
            let mut summary = format!("no change (generation {} stays)", old.version);
            for n in notes {
                summary.push_str("; ");
                summary.push_str(&n);
            }
            return Ok(summary);
        }
        // New addresses only: those this process serves already are its own.
        let ours: Vec<SocketAddr> = old.listeners.iter().map(|l| l.sockets.configured).collect();
        refuse_taken_addresses(&config, &ours).map_err(|e| e.to_string())?;
        let config = Arc::new(config);
        let (listener_slots, cluster_slots) = self.stats.register(&config)?;
        let (next, changes) = old
            .next(config.clone(), &listener_slots, &cluster_slots)
            .map_err(|e| e.to_string())?;
        let view = StatsView {
            config,
            listener_slots,
            cluster_slots,
            hosts: next.clusters.iter().map(|c| c.hosts.clone()).collect(),
            health: next.clusters.iter().map(|c| c.health.clone()).collect(),
            listeners: next.bound_listeners(),
        };
        let added: Vec<(String, SocketAddr)> = next
            .listeners
            .iter()
            .filter(|l| {
                !old.listeners
                    .iter()
                    .any(|o| Arc::ptr_eq(&o.sockets, &l.sockets))
            })
            .map(|l| (l.config.name.clone(), l.sockets.bound))
            .collect();
        let version = next.version;
        self.generations.publish(next);
        self.stats.publish_view(view);
        if let Err(e) = helpers.ensure(&self.generations.load(), &self.generations, &self.shutdown)
        {
            notes.push(format!("cannot start a discovery/health thread: {e}"));
        }
        for (name, addr) in added {
            // The same stable line as at start, for scripts and tests. Not
            // `println!`: a closed stdout must not panic the reload.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ringway: listener {name} on {addr}");
            let _ = out.flush();
        }
        let mut summary = format!("generation {version}: {changes}{edits}");
        for n in notes {
            summary.push_str("; ");
            summary.push_str(&n);
        }
        Ok(summary)
    }
}

/// What a reload changes beyond the listeners and clusters that `Changes`
/// names as added, removed or rebuilt: listeners kept with new routes or
/// limits, and top-level settings. Empty: the re-read config is the one in
/// force, and no new generation is published.
struct ConfigEdits {
    /// Whole configs differ (in anything, including what the fields below miss).
    any: bool,
    /// Listeners kept (same name and address) whose config changed.
    listeners: Vec<String>,
    /// Top-level settings that changed.
    settings: Vec<&'static str>,
}

impl ConfigEdits {
    /// `Config` is not `PartialEq` (a compiled access-log format is not), but
    /// its `Debug` form shows every field and holds no hash maps, so equal
    /// text means equal configs.
    fn between(old: &Config, new: &Config) -> ConfigEdits {
        let same =
            |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
        let listeners = new
            .listeners
            .iter()
            .filter(|l| {
                old.listeners
                    .iter()
                    // A moved listener is rebound: `Changes` names it as added and removed.
                    .find(|o| o.name == l.name && o.address == l.address)
                    .is_some_and(|o| !same(o, *l))
            })
            .map(|l| l.name.clone())
            .collect();
        let mut settings = Vec::new();
        if old.drain_timeout != new.drain_timeout {
            settings.push("drain_timeout");
        }
        if old.dns != new.dns {
            settings.push("dns");
        }
        ConfigEdits {
            any: !same(old, new),
            listeners,
            settings,
        }
    }

    fn is_empty(&self) -> bool {
        !self.any
    }
}

/// Appended to `Changes` in the reload line.
impl std::fmt::Display for ConfigEdits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.listeners.is_empty() {
            write!(f, "; listeners changed [{}]", self.listeners.join(","))?;
        }
        if !self.settings.is_empty() {
            write!(f, "; settings changed [{}]", self.settings.join(","))?;
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
        let slots: Vec<usize> = (0..config.listeners.len().max(config.clusters.len())).collect();
        let first = Generation::initial(
            config.clone(),
            &slots[..config.listeners.len()],
            &slots[..config.clusters.len()],
        )?;
        let listeners = first.bound_listeners();
        let stats = Arc::new(ServerStats::new(
            config.clone(),
            first.clusters.iter().map(|c| c.hosts.clone()).collect(),
            first.clusters.iter().map(|c| c.health.clone()).collect(),
            listeners.clone(),
            shutdown.clone(),
        ));
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
            generations,
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            helpers: Mutex::new(helpers),
        });
        Ok(Server {
            listeners,
            shutdown,
            stats,
            reloader,
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

/// Where SIGHUP finds the reloader once the server has started.
pub type ReloadHook = Arc<OnceLock<Arc<Reloader>>>;

/// SIGINT/SIGTERM start a graceful drain; a second one exits at once. SIGHUP
/// re-reads the config (once `hook` is set; before that it is logged and ignored).
pub fn install_signal_handlers(shutdown: Arc<AtomicBool>, hook: ReloadHook) -> std::io::Result<()> {
    use signal_hook::{consts::*, iterator::Signals};
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("ringway-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    match hook.get() {
                        Some(reloader) => {
                            tracing::info!("SIGHUP: re-reading the config");
                            let _ = reloader.reload();
                        }
                        None => tracing::warn!("SIGHUP before start-up finished: ignored"),
                    }
                    continue;
                }
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

/// Refuse a listener address another process already listens on. A probe
/// socket binds it without SO_REUSEPORT (as another ringway's or any server's
/// listening socket would have to allow) and is closed at once. `ours`: the
/// addresses this process serves already (a reload's renamed listener binds
/// beside its own sockets), not probed.
fn refuse_taken_addresses(config: &Config, ours: &[SocketAddr]) -> Result<(), StartError> {
    let fresh = |l: &&config::ListenerConfig| l.address.port() != 0 && !ours.contains(&l.address);
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
