//! Signals (control plane): SIGINT/SIGTERM start the drain, a second one exits
//! at once; SIGHUP reloads. Handled on a thread of their own, never by a worker.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, OnceLock,
};

use super::Reloader;

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
