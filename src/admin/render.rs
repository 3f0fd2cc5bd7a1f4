//! Turning a summed `Snapshot` into Envoy's admin formats.
//!
//! Every stat has a scope (`http`, `cluster`, `worker`, `server`), a scope
//! label value (listener, cluster or worker), a name, a kind and a value. Its
//! Envoy text name is `scope.label.name` (`cluster.service1.upstream_rq_total`);
//! its Prometheus name is `ringway_scope_name{scope_label="label"}`
//! (`ringway_cluster_upstream_rq_total{cluster="service1"}`). Histograms are
//! recorded in microseconds and shown in milliseconds, like Envoy's.

use std::{fmt::Write as _, net::SocketAddr};

use regex::Regex;
use serde_json::{json, Value};

use super::{Admin, ENDPOINTS};
use crate::{
    config::{self, CircuitBreakers, Config},
    metric::HistogramSnapshot,
    stats::{
        names::*,
        snapshot::{HealthFlags, Snapshot},
        ServerStats,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

pub struct Stat<'a> {
    pub scope: &'static str,
    /// (Prometheus label name, value); `None` for `server.*`.
    pub label: Option<(&'static str, String)>,
    pub name: &'a str,
    pub kind: Kind,
    pub value: u64,
    pub histogram: Option<&'a HistogramSnapshot>,
}

impl Stat<'_> {
    pub fn text_name(&self) -> String {
        match &self.label {
            Some((_, v)) => format!("{}.{}.{}", self.scope, v, self.name),
            None => format!("{}.{}", self.scope, self.name),
        }
    }
    fn prom_name(&self) -> String {
        // Envoy's sub-scopes (`outlier_detection.ejections_active`) become `_`:
        // a dot is not allowed in a Prometheus name.
        // as is any other character a Prometheus name cannot hold (cipher
        // names have `-`).
        format!("{PROMETHEUS_PREFIX}{}_{}", self.scope, self.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Quantiles shown in `/stats`, as Envoy's `supported_quantiles`.
const QUANTILES: [(f64, &str); 5] = [
    (0.5, "P50"),
    (0.9, "P90"),
    (0.99, "P99"),
    (0.999, "P99.9"),
    (1.0, "P100"),
];

/// Prometheus bucket boundaries in ms: Envoy's defaults.
const PROM_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Every stat, sorted by text name.
pub fn stats<'a>(server: &ServerStats, snap: &'a Snapshot) -> Vec<Stat<'a>> {
    let mut out = Vec::new();
    let up = server.started.elapsed().as_secs();
    let live = server.is_live();
    for (name, value, kind) in [
        ("concurrency", server.workers.len() as u64, Kind::Gauge),
        ("live", u64::from(live), Kind::Gauge),
        // Envoy's server.state: 0 LIVE, 1 DRAINING.
        ("state", u64::from(!live), Kind::Gauge),
        ("uptime", up, Kind::Gauge),
    ] {
        out.push(Stat {
            scope: "server",
            label: None,
            name,
            kind,
            value,
            histogram: None,
        });
    }
    for l in &snap.listeners {
        let label = || Some(("listener", l.name.clone()));
        // Envoy shows `ssl.*` only where there is TLS.
        let shown = ListenerCounter::ALL
            .iter()
            .filter(|c| l.tls || !c.name().starts_with("ssl."));
        for c in shown {
            out.push(Stat {
                scope: "http",
                label: label(),
                name: c.name(),
                kind: Kind::Counter,
                value: l.counters[*c as usize],
                histogram: None,
            });
        }
        for g in ListenerGauge::ALL {
            out.push(Stat {
                scope: "http",
                label: label(),
                name: g.name(),
                kind: Kind::Gauge,
                value: l.gauges[*g as usize],
                histogram: None,
            });
        }
        out.push(Stat {
            scope: "http",
            label: label(),
            name: DOWNSTREAM_RQ_TIME,
            kind: Kind::Histogram,
            value: 0,
            histogram: Some(&l.rq_time),
        });
    }
    for c in &snap.clusters {
        let label = || Some(("cluster", c.name.clone()));
        let mut push = |name: &'static str, kind: Kind, value: u64| {
            out.push(Stat {
                scope: "cluster",
                label: label(),
                name,
                kind,
                value,
                histogram: None,
            })
        };
        // As for listeners, `ssl.*` only where there is TLS.
        for k in ClusterCounter::ALL
            .iter()
            .filter(|k| c.tls || !k.name().starts_with("ssl."))
        {
            push(k.name(), Kind::Counter, c.counters[*k as usize]);
        }
        for g in ClusterGauge::ALL {
            push(g.name(), Kind::Gauge, c.gauges[*g as usize]);
        }
        push(UPSTREAM_CX_ACTIVE, Kind::Gauge, c.cx_active());
        push(UPSTREAM_CX_DESTROY, Kind::Counter, c.cx_destroy());
        push(MEMBERSHIP_TOTAL, Kind::Gauge, c.membership_total);
        push(MEMBERSHIP_HEALTHY, Kind::Gauge, c.membership_healthy);
        let (od, hc) = (c.outlier_detection, c.health_checked);
        for k in ClusterHealthCounter::ALL.iter().filter(|k| k.shown(od, hc)) {
            push(k.name(), Kind::Counter, c.health_counters[*k as usize]);
        }
        for g in ClusterHealthGauge::ALL.iter().filter(|g| g.shown(od, hc)) {
            push(g.name(), Kind::Gauge, c.health_gauges[*g as usize]);
        }
        out.push(Stat {
            scope: "cluster",
            label: label(),
            name: UPSTREAM_RQ_TIME,
            kind: Kind::Histogram,
            value: 0,
            histogram: Some(&c.rq_time),
        });
    }
    for w in &snap.workers {
        for k in WorkerCounter::ALL {
            out.push(Stat {
                scope: "worker",
                label: Some(("worker", w.id.to_string())),
                name: k.name(),
                kind: Kind::Counter,
                value: w.counters[*k as usize],
                histogram: None,
            });
        }
    }
    out.sort_by_cached_key(|s| s.text_name());
    out
}

fn quantiles_text(h: &HistogramSnapshot) -> String {
    if h.count == 0 {
        return "No recorded values".into();
    }
    let mut s = String::new();
    for (q, label) in QUANTILES {
        let _ = write!(s, "{label}({}) ", ms(h.quantile(q).unwrap_or(0)));
    }
    let _ = write!(s, "count({}) sum({})", h.count, ms(h.sum));
    s
}

pub fn stats_text(admin: &Admin, filter: Option<&Regex>) -> String {
    let (_, snap) = admin.snapshot();
    let mut out = String::new();
    for s in stats(&admin.stats, &snap) {
        let name = s.text_name();
        if filter.is_some_and(|f| !f.is_match(&name)) {
            continue;
        }
        match s.histogram {
            Some(h) => {
                let _ = writeln!(out, "{name}: {}", quantiles_text(h));
            }
            None => {
                let _ = writeln!(out, "{name}: {}", s.value);
            }
        }
    }
    out
}

pub fn stats_json(admin: &Admin, filter: Option<&Regex>) -> String {
    let (_, snap) = admin.snapshot();
    let mut plain = Vec::new();
    let mut hists = Vec::new();
    for s in stats(&admin.stats, &snap) {
        let name = s.text_name();
        if filter.is_some_and(|f| !f.is_match(&name)) {
            continue;
        }
        match s.histogram {
            Some(h) => hists.push(json!({
                "name": name,
                "values": QUANTILES.iter().map(|(q, _)| json!({
                    "cumulative": h.quantile(*q).map(ms),
                })).collect::<Vec<_>>(),
                "count": h.count,
                "sum": ms(h.sum),
            })),
            None => plain.push(json!({ "name": name, "value": s.value })),
        }
    }
    plain.push(json!({
        "histograms": {
            "supported_quantiles": QUANTILES.iter().map(|(q, _)| q * 100.0).collect::<Vec<_>>(),
            "computed_quantiles": hists,
        }
    }));
    serde_json::to_string_pretty(&json!({ "stats": plain })).unwrap_or_default()
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(label: &Option<(&'static str, String)>, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some((k, v)) = label {
        parts.push(format!("{k}=\"{}\"", escape_label(v)));
    }
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{}\"", escape_label(&v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Prometheus text exposition format 0.0.4: one `# TYPE` per family, its
/// samples right after it.
pub fn prometheus(admin: &Admin) -> String {
    let (_, snap) = admin.snapshot();
    let mut all = stats(&admin.stats, &snap);
    all.sort_by_cached_key(|s| s.prom_name());
    let mut out = String::new();
    let mut last_family = String::new();
    for s in &all {
        let family = s.prom_name();
        if family != last_family {
            let kind = match s.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# TYPE {family} {kind}");
            last_family = family.clone();
        }
        match s.histogram {
            None => {
                let _ = writeln!(out, "{family}{} {}", labels(&s.label, None), s.value);
            }
            Some(h) => {
                for le in PROM_BUCKETS_MS {
                    let n = h.count_at_most((le * 1000.0) as u64);
                    let _ = writeln!(
                        out,
                        "{family}_bucket{} {n}",
                        labels(&s.label, Some(("le", format!("{le}"))))
                    );
                }
                let _ = writeln!(
                    out,
                    "{family}_bucket{} {}",
                    labels(&s.label, Some(("le", "+Inf".into()))),
                    h.count
                );
                let _ = writeln!(out, "{family}_sum{} {}", labels(&s.label, None), ms(h.sum));
                let _ = writeln!(out, "{family}_count{} {}", labels(&s.label, None), h.count);
            }
        }
    }
    let family = format!("{PROMETHEUS_PREFIX}worker_io_driver_info");
    let _ = writeln!(out, "# TYPE {family} gauge");
    for w in &snap.workers {
        let driver = w.driver.map_or("starting".to_string(), |d| d.to_string());
        let _ = writeln!(out, "{family}{{worker=\"{}\",driver=\"{driver}\"}} 1", w.id);
    }
    out
}

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
    let state = if s.draining() {
        "DRAINING"
    } else if !s.is_live() {
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
        "health_check_failed": s.health_failed.load(std::sync::atomic::Ordering::Relaxed),
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
