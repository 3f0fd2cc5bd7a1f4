//! Turning a summed `Snapshot` into Envoy's admin formats, for every endpoint
//! but the stats ones (`stats.rs`): `/clusters`, `/listeners`, `/config_dump`,
//! `/server_info`, `/help`.

use std::{fmt::Write as _, net::SocketAddr};

use serde_json::{json, Value};

use super::{Admin, ENDPOINTS};
use crate::{
    config::{self, CircuitBreakers, Config},
    stats::{names::*, snapshot::HealthFlags},
};

/// The cluster's configured circuit-breaker thresholds: totals for the whole
/// process (each worker enforces `ceil(total / workers)` of them). ringway has
/// one priority, Envoy's default.
fn thresholds(b: &CircuitBreakers) -> [(&'static str, u32); 4] {
    [
        ("max_connections", b.max_connections),
        ("max_pending_requests", b.max_pending_requests),
        ("max_requests", b.max_requests),
        ("max_retries", b.max_retries),
    ]
}

pub fn clusters_text(admin: &Admin) -> String {
    let (gen, snap) = admin.snapshot();
    let mut out = String::new();
    for (c, config) in snap.clusters.iter().zip(&gen.config.clusters) {
        let n = &c.name;
        let _ = writeln!(out, "{n}::observability_name::{n}");
        for (k, v) in thresholds(&config.circuit_breakers) {
            let _ = writeln!(out, "{n}::default_priority::{k}::{v}");
        }
        let _ = writeln!(out, "{n}::added_via_api::false");
        for h in &c.hosts {
            let a = h.addr;
            for (k, v) in [
                ("cx_active", h.cx_active()),
                ("cx_connect_fail", h.counter(HostCounter::CxConnectFail)),
                ("cx_total", h.counter(HostCounter::CxTotal)),
                ("rq_active", h.gauge(HostGauge::RqActive)),
                ("rq_error", h.counter(HostCounter::RqError)),
                ("rq_success", h.counter(HostCounter::RqSuccess)),
                ("rq_timeout", h.counter(HostCounter::RqTimeout)),
                ("rq_total", h.counter(HostCounter::RqTotal)),
            ] {
                let _ = writeln!(out, "{n}::{a}::{k}::{v}");
            }
            let _ = writeln!(out, "{n}::{a}::hostname::{}", h.hostname);
            let _ = writeln!(out, "{n}::{a}::health_flags::{}", h.flags.text());
            let _ = writeln!(out, "{n}::{a}::weight::{}", h.weight);
            for (k, v) in [
                ("region", ""),
                ("zone", ""),
                ("sub_zone", ""),
                ("canary", "false"),
                ("priority", "0"),
                ("success_rate", "-1"),
                ("local_origin_success_rate", "-1"),
            ] {
                let _ = writeln!(out, "{n}::{a}::{k}::{v}");
            }
        }
    }
    out
}

fn socket_address(a: SocketAddr) -> Value {
    json!({ "socket_address": { "address": a.ip().to_string(), "port_value": a.port() } })
}

/// Envoy's `HostHealthStatus`: only the flags that are set appear.
fn health_status(f: HealthFlags) -> Value {
    let mut m = serde_json::Map::new();
    if f.failed_active_hc {
        m.insert("failed_active_health_check".into(), json!(true));
    }
    if f.failed_outlier_check {
        m.insert("failed_outlier_check".into(), json!(true));
    }
    if f.pending_dynamic_removal {
        m.insert("pending_dynamic_removal".into(), json!(true));
    }
    m.insert("eds_health_status".into(), json!("HEALTHY"));
    Value::Object(m)
}

pub fn clusters_json(admin: &Admin) -> String {
    let (gen, snap) = admin.snapshot();
    let clusters: Vec<Value> = snap
        .clusters
        .iter()
        .zip(&gen.config.clusters)
        .map(|(c, config)| {
            let hosts: Vec<Value> = c
                .hosts
                .iter()
                .map(|h| {
                    let stat = |name: &str, kind: &str, value: u64| {
                        json!({ "name": name, "type": kind, "value": value })
                    };
                    json!({
                        "address": socket_address(h.addr),
                        "hostname": h.hostname,
                        "stats": [
                            stat("cx_active", "GAUGE", h.cx_active()),
                            stat("cx_connect_fail", "COUNTER", h.counter(HostCounter::CxConnectFail)),
                            stat("cx_total", "COUNTER", h.counter(HostCounter::CxTotal)),
                            stat("rq_active", "GAUGE", h.gauge(HostGauge::RqActive)),
                            stat("rq_error", "COUNTER", h.counter(HostCounter::RqError)),
                            stat("rq_success", "COUNTER", h.counter(HostCounter::RqSuccess)),
                            stat("rq_timeout", "COUNTER", h.counter(HostCounter::RqTimeout)),
                            stat("rq_total", "COUNTER", h.counter(HostCounter::RqTotal)),
                        ],
                        "health_status": health_status(h.flags),
                        "weight": h.weight,
                        "priority": 0,
                    })
                })
                .collect();
            json!({
                "name": c.name,
                "observability_name": c.name,
                "added_via_api": false,
                "circuit_breakers": { "thresholds": [
                    thresholds(&config.circuit_breakers)
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .chain([("priority".to_string(), json!("DEFAULT"))])
                        .collect::<serde_json::Map<_, _>>(),
                ] },
                "host_statuses": hosts,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "cluster_statuses": clusters })).unwrap_or_default()
}

pub fn listeners_text(listeners: &[(String, SocketAddr)]) -> String {
    listeners
        .iter()
        .map(|(n, a)| format!("{n}::{a}\n"))
        .collect()
}

pub fn listeners_json(listeners: &[(String, SocketAddr)]) -> String {
    let list: Vec<Value> = listeners
        .iter()
        .map(|(n, a)| json!({ "name": n, "local_address": socket_address(*a) }))
        .collect();
    serde_json::to_string_pretty(&json!({ "listener_statuses": list })).unwrap_or_default()
}

/// The config in force in the native schema, every default written out: the
/// same text a config file would give (`config::lower`), as JSON.
pub fn config_dump(c: &Config) -> String {
    serde_json::to_string_pretty(&config::lower::lower_redacted(c)).unwrap_or_default()
}

pub fn server_info(admin: &Admin) -> String {
    let s = &admin.stats;
    let up = s.started.elapsed().as_secs();
    let snap = admin.raw_snapshot();
    let life = &admin.lifecycle;
    let state = if life.draining() {
        "DRAINING"
    } else if !life.is_live() {
        // Envoy reports a failed health check as draining, too.
        "DRAINING"
    } else {
        "LIVE"
    };
    let workers: Vec<Value> = snap
        .workers
        .iter()
        .map(|w| json!({ "id": w.id, "io_driver": w.driver.map(|d| d.to_string()) }))
        .collect();
    serde_json::to_string_pretty(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "state": state,
        "health_check_failed": life.health_failed(),
        "uptime_current_epoch": format!("{up}s"),
        "uptime_all_epochs": format!("{up}s"),
        "command_line_options": {
            "argv": admin.command_line,
            "concurrency": s.workers.len(),
        },
        "workers": workers,
    }))
    .unwrap_or_default()
}

pub fn help() -> Vec<u8> {
    let mut out = String::from("admin commands are:\n");
    for e in ENDPOINTS {
        let method = if e.post_only { " (POST)" } else { "" };
        let _ = writeln!(out, "  {}{method}: {}", e.path, e.help);
    }
    out.into_bytes()
}
