//! The admin endpoint: Envoy's operator interface on its own thread, never on a
//! worker. A small `poll(2)` loop (`server.rs`) serves every admin connection
//! side by side, each under one total deadline, parses requests with our own
//! codec and answers one request per connection; `view.rs` outlines what the
//! published generation shows and has `stats` sum the counts into it;
//! `stats.rs` lists and writes the stats (text, JSON, Prometheus) under the
//! names `names.rs` gives them (ringway's or Envoy's); `render.rs` writes the
//! other endpoints in Envoy's text and JSON forms.
//!
//! State-changing endpoints accept POST only (GET gets 405), as Envoy now does.

pub mod names;
pub mod render;
pub mod server;
pub mod stats;
pub mod view;

use std::sync::Arc;

use crate::{generation::Generations, stats::ServerStats};

/// Changes the log filter at run time (`POST /logging?level=`); given by main,
/// which owns the subscriber.
pub type LogLevelSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Re-reads the config file and swaps it in (`POST /reload`): what changed, or
/// why the new config was rejected (the old one keeps serving).
pub type ReloadFn = Box<dyn Fn() -> Result<String, crate::server::ReloadError> + Send + Sync>;

/// What the admin thread needs: the published generation for what is
/// configured (it follows reloads), `stats` for the counts (`view.rs`).
pub struct Admin {
    pub generations: Arc<Generations>,
    pub stats: Arc<ServerStats>,
    /// Draining and the health override: `/ready`, `/healthcheck/*`, `/quitquitquit`.
    pub lifecycle: Arc<crate::prim::Lifecycle>,
    pub set_log_level: Option<LogLevelSetter>,
    pub reload: Option<ReloadFn>,
    /// The process's command line, for `/server_info`.
    pub command_line: Vec<String>,
}

/// One admin endpoint.
pub struct Endpoint {
    pub path: &'static str,
    /// Changes state: POST only.
    pub post_only: bool,
    pub help: &'static str,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint { path: "/", post_only: false, help: "this list" },
    Endpoint { path: "/help", post_only: false, help: "this list" },
    Endpoint { path: "/stats", post_only: false, help: "counters, gauges and histogram quantiles summed over every worker; ?filter=REGEX, ?usedonly, ?format=json|prometheus" },
    Endpoint { path: "/stats/prometheus", post_only: false, help: "the same in Prometheus text exposition format 0.0.4 (names per the config's stats.naming); ?filter=REGEX, ?usedonly" },
    Endpoint { path: "/clusters", post_only: false, help: "upstream clusters and per-host counters (Envoy's ::-separated lines); ?format=json" },
    Endpoint { path: "/config_dump", post_only: false, help: "the effective configuration in the native schema (every default written out), as JSON" },
    Endpoint { path: "/certs", post_only: false, help: "each TLS certificate loaded (listeners' and clusters'): path, serial, subject, SANs, days until expiry, as JSON" },
    Endpoint { path: "/listeners", post_only: false, help: "listeners and the addresses they are bound to; ?format=json" },
    Endpoint { path: "/server_info", post_only: false, help: "version, state, uptime, workers and the io driver of each, as JSON" },
    Endpoint { path: "/ready", post_only: false, help: "200 LIVE, or 503 DRAINING while draining or after /healthcheck/fail" },
    Endpoint { path: "/healthcheck/fail", post_only: true, help: "make /ready and listeners' health_check paths answer 503" },
    Endpoint { path: "/healthcheck/ok", post_only: true, help: "undo /healthcheck/fail" },
    Endpoint { path: "/reset_counters", post_only: true, help: "count counters and histograms from zero again (gauges keep their level)" },
    Endpoint { path: "/logging", post_only: true, help: "change the log level: ?level=trace|debug|info|warn|error (or a RINGWAY_LOG filter)" },
    Endpoint { path: "/reload", post_only: true, help: "re-read the config file; a config that fails validation is rejected (4xx with the error) and the old one keeps serving" },
    Endpoint { path: "/quitquitquit", post_only: true, help: "drain gracefully, then exit 0" },
];
