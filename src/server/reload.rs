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

use super::{BindError, Helpers, StartError};
use crate::{
    config::{self, Config, ConfigError},
    generation::Generations,
    stats::ServerStats,
};

/// Why a reload was rejected (the old config keeps serving), and what
/// `POST /reload` answers for it.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("draining: no reloads during shutdown")]
    Draining,
    #[error("this process runs an embedded config; there is no file to re-read")]
    NoFile,
    /// The file does not load: the client's (the operator's) to fix.
    #[error("{path}: {error}")]
    Invalid { path: String, error: ConfigError },
    /// A new listener address is another process's.
    #[error(transparent)]
    AddressTaken(StartError),
    /// A new listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The process has no room left for more distinct stats names.
    #[error("{0}")]
    Stats(String),
}

impl ReloadError {
    /// 400 for a config that does not load; 409 when the state of the process
    /// or machine is in the way (draining, an address taken); 500 when binding
    /// fails for another reason or the stats are full; 501 with no file.
    pub fn status(&self) -> u16 {
        match self {
            ReloadError::Invalid { .. } => 400,
            ReloadError::Draining | ReloadError::AddressTaken(_) => 409,
            ReloadError::Bind(_) | ReloadError::Stats(_) => 500,
            ReloadError::NoFile => 501,
        }
    }
}

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
    pub fn reload(&self) -> Result<String, ReloadError> {
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

    fn try_reload(&self, helpers: &mut Helpers) -> Result<String, ReloadError> {
        if self.shutdown.load(Ordering::Relaxed) {
            return Err(ReloadError::Draining);
        }
        let path = self.path.as_deref().ok_or(ReloadError::NoFile)?;
        let loaded = config::load_file(path).map_err(|error| ReloadError::Invalid {
            path: path.to_string(),
            error,
        })?;
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
        super::refuse_taken_addresses(&config, &ours).map_err(ReloadError::AddressTaken)?;
        let config = Arc::new(config);
        let (listener_slots, cluster_slots) =
            super::register(&self.stats, &config).map_err(ReloadError::Stats)?;
        let (next, changes) = old.next(config, &listener_slots, &cluster_slots)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_has_its_own_status() {
        let invalid = ReloadError::Invalid {
            path: "ringway.yaml".into(),
            error: config::load_str("workers: 0\nlisteners: []\nclusters: []\n").unwrap_err(),
        };
        assert_eq!(invalid.status(), 400);
        assert!(
            invalid.to_string().starts_with("ringway.yaml: "),
            "{invalid}"
        );
        assert_eq!(ReloadError::Draining.status(), 409);
        let taken = ReloadError::AddressTaken(StartError::AddressTaken {
            name: "l".into(),
            addr: "127.0.0.1:80".parse().unwrap(),
        });
        assert_eq!(taken.status(), 409);
        assert_eq!(ReloadError::Stats("full".into()).status(), 500);
        assert_eq!(ReloadError::NoFile.status(), 501);
    }
}
