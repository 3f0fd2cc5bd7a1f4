//! Reload (control plane, never on a worker): re-read the config file, build
//! the next generation from the current one (`build.rs`), publish it, and
//! start the resolver or checker thread if the new config needs one. One
//! reload at a time: the signal thread (SIGHUP) and the admin thread
//! (`POST /reload`) both come through `Reloader::reload`.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use super::Helpers;
use crate::{
    config::{self, Config},
    generation::Generations,
    stats::ServerStats,
};

/// Re-reads the config file and publishes it as a new generation. One reload at
/// a time; never on a worker thread.
pub struct Reloader {
    /// The config file; `None` (the demo's embedded config): nothing to re-read.
    pub(super) path: Option<String>,
    pub(super) generations: Arc<Generations>,
    pub(super) stats: Arc<ServerStats>,
    pub(super) shutdown: Arc<AtomicBool>,
    pub(super) helpers: Mutex<Helpers>,
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
        super::refuse_taken_addresses(&config, &ours).map_err(|e| e.to_string())?;
        let config = Arc::new(config);
        let (listener_slots, cluster_slots) = super::register(&self.stats, &config)?;
        let (next, changes) = old
            .next(config, &listener_slots, &cluster_slots)
            .map_err(|e| e.to_string())?;
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
