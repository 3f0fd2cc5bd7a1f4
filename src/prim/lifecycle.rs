//! The process's lifecycle: draining (a shutdown was asked for, by a signal,
//! `/quitquitquit` or the embedding program) and the operator's health
//! override (`/healthcheck/fail`, `/healthcheck/ok`). Set by the control plane
//! and the admin, read by workers (a listener's health-check path) and the
//! admin (`/ready`, `server.live`, `/server_info`).
//!
//! It is control-plane state, not a count, so it does not live with the stats.
//! Both flags are plain atomics read with `Relaxed`: each is one bit of
//! advice that is acted on at the next tick or request, never a fence for
//! other data.

use std::sync::{
    atomic::{AtomicBool, Ordering::Relaxed},
    Arc,
};

#[derive(Debug, Default)]
pub struct Lifecycle {
    /// Shared with the threads that poll it (workers, resolver, checker).
    shutdown: Arc<AtomicBool>,
    health_failed: AtomicBool,
}

impl Lifecycle {
    /// A lifecycle whose drain is `shutdown` (the flag the workers poll).
    pub fn new(shutdown: Arc<AtomicBool>) -> Lifecycle {
        Lifecycle {
            shutdown,
            health_failed: AtomicBool::new(false),
        }
    }

    pub fn draining(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    /// Start a graceful drain.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Relaxed);
    }

    /// `/healthcheck/fail` (`true`) and `/healthcheck/ok` (`false`).
    pub fn set_health_failed(&self, failed: bool) {
        self.health_failed.store(failed, Relaxed);
    }

    pub fn health_failed(&self) -> bool {
        self.health_failed.load(Relaxed)
    }

    /// What `/ready` and a listener's `health_check` path answer.
    pub fn is_live(&self) -> bool {
        !self.draining() && !self.health_failed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_until_drained_or_failed_by_the_operator() {
        let l = Lifecycle::default();
        assert!(l.is_live());
        l.set_health_failed(true);
        assert!(!l.is_live() && !l.draining());
        l.set_health_failed(false);
        assert!(l.is_live());
        l.request_shutdown();
        assert!(l.draining() && !l.is_live());
    }
}
