//! The stats endpoints: a summed `Snapshot` listed as stats (scope, name, kind,
//! value), then written as `/stats` text, `?format=json` or Prometheus text
//! exposition 0.0.4 (`/stats/prometheus`, `/stats?format=prometheus`).
//!
//! Names come from `names` (ringway's or Envoy's, per `stats.naming`).
//! Histograms are recorded in microseconds and shown in milliseconds, like
//! Envoy's. Invariants of the Prometheus text: one `# TYPE` per family, right
//! before all its samples; no two samples with the same family and labels;
//! label values escaped. Admin thread only.

use std::{fmt::Write as _, net::SocketAddr};

use regex::Regex;
use serde_json::json;

use super::{
    names::{stat_names, Scope, StatNames},
    Admin,
};
use crate::{
    config::StatsNaming,
    metric::HistogramSnapshot,
    stats::{
        names::*,
        snapshot::{ClusterSnap, ListenerSnap, Snapshot},
        ServerStats,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

pub struct Stat {
    pub names: StatNames,
    pub kind: Kind,
    pub value: u64,
    pub histogram: Option<HistogramSnapshot>,
}

impl Stat {
    /// Envoy's `usedonly`: ringway does not track writes, so a stat is used
    /// when it is not zero (a histogram: has a value).
    fn used(&self) -> bool {
        match &self.histogram {
            Some(h) => h.count > 0,
            None => self.value != 0,
        }
    }
}

/// What a stats request asks for: `?filter=REGEX` (on the text name) and `?usedonly`.
#[derive(Debug, Default)]
pub struct StatsQuery {
    pub filter: Option<Regex>,
    pub used_only: bool,
}

impl StatsQuery {
    fn shows(&self, s: &Stat) -> bool {
        (!self.used_only || s.used())
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.is_match(&s.names.text))
    }
}

/// Quantiles shown in `/stats`: Envoy's default `supported_quantiles`, as
/// (quantile, percent); the percents are written out, not multiplied, so they
/// print exactly (`99.5`, not `99.49999999999999`).
const QUANTILES: [(f64, f64); 10] = [
    (0.0, 0.0),
    (0.25, 25.0),
    (0.5, 50.0),
    (0.75, 75.0),
    (0.9, 90.0),
    (0.95, 95.0),
    (0.99, 99.0),
    (0.995, 99.5),
    (0.999, 99.9),
    (1.0, 100.0),
];

/// Prometheus bucket boundaries in ms: Envoy's defaults.
const PROM_BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The version as one integer (Envoy's `server.version` is one too):
/// `major * 1_000_000 + minor * 1_000 + patch`.
pub fn version_number() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    next() * 1_000_000 + next() * 1_000 + next()
}

/// Collects stats under one naming.
struct List {
    naming: StatsNaming,
    out: Vec<Stat>,
}

impl List {
    fn push(&mut self, scope: Scope<'_>, name: &str, kind: Kind, value: u64) {
        self.out.push(Stat {
            names: stat_names(self.naming, scope, name),
            kind,
            value,
            histogram: None,
        });
    }

    fn histogram(&mut self, scope: Scope<'_>, name: &str, h: &HistogramSnapshot) {
        self.out.push(Stat {
            names: stat_names(self.naming, scope, name),
            kind: Kind::Histogram,
            value: 0,
            histogram: Some(h.clone()),
        });
    }

    /// Sorted by text name, with stats of the same name made one: Envoy
    /// counts listeners that share a `stat_prefix` in one scope, so their
    /// counts add up (gauges too: levels of separate listeners) and their
    /// histograms merge. No name, and so no Prometheus series, is listed twice.
    fn finish(mut self) -> Vec<Stat> {
        self.out.sort_by(|a, b| a.names.text.cmp(&b.names.text));
        let mut out: Vec<Stat> = Vec::with_capacity(self.out.len());
        for s in self.out {
            match out.last_mut() {
                Some(last) if last.names.text == s.names.text => {
                    last.value += s.value;
                    if let (Some(a), Some(b)) = (last.histogram.as_mut(), &s.histogram) {
                        a.merge(b);
                    }
                }
                _ => out.push(s),
            }
        }
        out
    }
}

/// Every stat of `snap`, named by `naming`; `bound`: each listener's name and
/// bound address (Envoy's `listener.<address>.` scope); `live`: what
/// `server.live` says.
pub fn stats(
    server: &ServerStats,
    live: bool,
    naming: StatsNaming,
    bound: &[(String, SocketAddr)],
    snap: &Snapshot,
) -> Vec<Stat> {
    let mut list = List {
        naming,
        out: Vec::new(),
    };
    let open: u64 = snap
        .listeners
        .iter()
        .map(|l| l.gauges[ListenerGauge::DownstreamCxActive as usize])
        .sum();
    for (name, value) in [
        (SERVER_CONCURRENCY, server.workers.len() as u64),
        (SERVER_LIVE, u64::from(live)),
        (SERVER_STATE, u64::from(!live)),
        (SERVER_TOTAL_CONNECTIONS, open),
        (SERVER_UPTIME, server.started.elapsed().as_secs()),
        (SERVER_VERSION, version_number()),
    ] {
        list.push(Scope::Server, name, Kind::Gauge, value);
    }
    for l in &snap.listeners {
        let addr = bound.iter().find(|(n, _)| *n == l.name).map(|(_, a)| *a);
        listener_stats(&mut list, l, addr);
    }
    for c in &snap.clusters {
        cluster_stats(&mut list, c);
    }
    for w in &snap.workers {
        for k in WorkerCounter::ALL {
            let value = w.counters[*k as usize];
            list.push(Scope::Worker(w.id), k.name(), Kind::Counter, value);
        }
    }
    list.finish()
}

/// Where Envoy keeps a listener stat: `(on the connection manager, on the listener)`.
fn envoy_home(stat: &str) -> (bool, bool) {
    const BOTH: [&str; 4] = [
        ListenerCounter::DownstreamCxTotal.name(),
        ListenerCounter::DownstreamCxDestroy.name(),
        ListenerGauge::DownstreamCxActive.name(),
        DOWNSTREAM_CX_LENGTH_MS,
    ];
    if BOTH.contains(&stat) {
        (true, true)
    } else if stat.starts_with("ssl.")
        || stat == ListenerCounter::DownstreamCxOverflow.name()
        || stat == ListenerCounter::DownstreamGlobalCxOverflow.name()
    {
        (false, true)
    } else {
        (true, false)
    }
}

/// Envoy spells TLS versions with a dot (`ssl.versions.TLSv1.3`).
fn envoy_stat_name(stat: &str) -> String {
    match stat.strip_prefix("ssl.versions.TLSv1_") {
        Some(minor) => format!("ssl.versions.TLSv1.{minor}"),
        None => stat.to_string(),
    }
}

fn listener_stats(list: &mut List, l: &ListenerSnap, addr: Option<SocketAddr>) {
    let mut each: Vec<(&str, Kind, u64, Option<&HistogramSnapshot>)> = Vec::new();
    // Envoy shows `ssl.*` only where there is TLS.
    for c in ListenerCounter::ALL
        .iter()
        .filter(|c| l.tls || !c.name().starts_with("ssl."))
    {
        each.push((c.name(), Kind::Counter, l.counters[*c as usize], None));
    }
    for g in ListenerGauge::ALL {
        each.push((g.name(), Kind::Gauge, l.gauges[*g as usize], None));
    }
    let completed = [
        ListenerCounter::DownstreamRq1xx,
        ListenerCounter::DownstreamRq2xx,
        ListenerCounter::DownstreamRq3xx,
        ListenerCounter::DownstreamRq4xx,
        ListenerCounter::DownstreamRq5xx,
    ]
    .iter()
    .map(|c| l.counters[*c as usize])
    .sum();
    each.push((DOWNSTREAM_RQ_COMPLETED, Kind::Counter, completed, None));
    each.push((DOWNSTREAM_RQ_TIME, Kind::Histogram, 0, Some(&l.rq_time)));
    each.push((
        DOWNSTREAM_CX_LENGTH_MS,
        Kind::Histogram,
        0,
        Some(&l.cx_length),
    ));
    for (name, kind, value, h) in each {
        let (http, listener, prefix) = match list.naming {
            StatsNaming::Ringway => (true, false, &l.name),
            StatsNaming::Envoy => {
                let (http, listener) = envoy_home(name);
                (http, listener, &l.stat_prefix)
            }
        };
        let mut scopes = Vec::new();
        if http {
            scopes.push((Scope::Http(prefix), name.to_string()));
        }
        if let Some(a) = addr.filter(|_| listener) {
            scopes.push((Scope::Listener(a), envoy_stat_name(name)));
        }
        for (scope, name) in scopes {
            match h {
                Some(h) => list.histogram(scope, &name, h),
                None => list.push(scope, &name, kind, value),
            }
        }
    }
}

fn cluster_stats(list: &mut List, c: &ClusterSnap) {
    let scope = Scope::Cluster(&c.name);
    // As for listeners, `ssl.*` only where there is TLS.
    for k in ClusterCounter::ALL
        .iter()
        .filter(|k| c.tls || !k.name().starts_with("ssl."))
    {
        list.push(scope, k.name(), Kind::Counter, c.counters[*k as usize]);
    }
    // Envoy makes a code's counter when the code is first seen: only those.
    for (i, &n) in c.codes.iter().enumerate().filter(|(_, n)| **n > 0) {
        let code = usize::from(FIRST_STATUS_CODE) + i;
        list.push(
            scope,
            &format!("{UPSTREAM_RQ_CODE_PREFIX}{code}"),
            Kind::Counter,
            n,
        );
    }
    for g in ClusterGauge::ALL {
        list.push(scope, g.name(), Kind::Gauge, c.gauges[*g as usize]);
    }
    let completed = [
        ClusterCounter::UpstreamRq1xx,
        ClusterCounter::UpstreamRq2xx,
        ClusterCounter::UpstreamRq3xx,
        ClusterCounter::UpstreamRq4xx,
        ClusterCounter::UpstreamRq5xx,
    ]
    .iter()
    .map(|k| c.counter(*k))
    .sum();
    list.push(scope, UPSTREAM_RQ_COMPLETED, Kind::Counter, completed);
    list.push(scope, MEMBERSHIP_TOTAL, Kind::Gauge, c.membership_total);
    list.push(scope, MEMBERSHIP_HEALTHY, Kind::Gauge, c.membership_healthy);
    let (od, hc) = (c.outlier_detection, c.health_checked);
    for k in ClusterHealthCounter::ALL.iter().filter(|k| k.shown(od, hc)) {
        list.push(
            scope,
            k.name(),
            Kind::Counter,
            c.health_counters[*k as usize],
        );
    }
    for g in ClusterHealthGauge::ALL.iter().filter(|g| g.shown(od, hc)) {
        list.push(scope, g.name(), Kind::Gauge, c.health_gauges[*g as usize]);
    }
    list.histogram(scope, UPSTREAM_RQ_TIME, &c.rq_time);
    list.histogram(scope, UPSTREAM_CX_LENGTH_MS, &c.cx_length);
}

/// The admin's stats under the config's naming, since the last reset.
fn current(admin: &Admin, snap: &Snapshot) -> Vec<Stat> {
    let gen = admin.generation();
    stats(
        &admin.stats,
        admin.lifecycle.is_live(),
        gen.config.stats.naming,
        &gen.bound_listeners(),
        snap,
    )
}

/// A number as Envoy's `fmt` prints a double: shortest form, `nan` for NaN.
fn envoy_number(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        format!("{v}")
    }
}

/// Envoy's histogram line: `P0(nan,1) P25(nan,1.025) … P100(nan,2)`, each
/// quantile as (interval, cumulative). ringway keeps no flush intervals, so
/// the interval value is always `nan` (Envoy's value for an empty interval).
pub fn quantiles_text(h: &HistogramSnapshot) -> String {
    if h.count == 0 {
        return "No recorded values".into();
    }
    let parts: Vec<String> = QUANTILES
        .iter()
        .map(|(q, pct)| {
            let v = h.quantile(*q).map_or(f64::NAN, ms);
            format!("P{pct}(nan,{})", envoy_number(v))
        })
        .collect();
    parts.join(" ")
}

/// `/stats`: `name: value` lines, counters and gauges then histograms, each
/// sorted by name (Envoy's order).
pub fn stats_text(admin: &Admin, query: &StatsQuery) -> String {
    let (_, snap) = admin.snapshot();
    let all = current(admin, &snap);
    let shown: Vec<&Stat> = all.iter().filter(|s| query.shows(s)).collect();
    let mut out = String::new();
    for s in shown.iter().filter(|s| s.histogram.is_none()) {
        let _ = writeln!(out, "{}: {}", s.names.text, s.value);
    }
    for s in &shown {
        if let Some(h) = &s.histogram {
            let _ = writeln!(out, "{}: {}", s.names.text, quantiles_text(h));
        }
    }
    out
}

/// `/stats?format=json`, in Envoy's shape.
pub fn stats_json(admin: &Admin, query: &StatsQuery) -> String {
    let (_, snap) = admin.snapshot();
    let mut plain = Vec::new();
    let mut hists = Vec::new();
    for s in current(admin, &snap).iter().filter(|s| query.shows(s)) {
        let name = &s.names.text;
        match &s.histogram {
            Some(h) => hists.push(json!({
                "name": name,
                "values": QUANTILES.iter().map(|(q, _)| json!({
                    "interval": null,
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
            "supported_quantiles": QUANTILES.iter().map(|(_, pct)| *pct).collect::<Vec<_>>(),
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

fn labels(labels: &[(&str, String)], extra: Option<(&str, &str)>) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra)
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn prometheus_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    }
}

fn prometheus_sample(out: &mut String, s: &Stat) {
    let (family, l) = (&s.names.family, &s.names.labels);
    let Some(h) = &s.histogram else {
        let _ = writeln!(out, "{family}{} {}", labels(l, None), s.value);
        return;
    };
    for le in PROM_BUCKETS_MS {
        let n = h.count_at_most((le * 1000.0) as u64);
        let le = format!("{le}");
        let _ = writeln!(out, "{family}_bucket{} {n}", labels(l, Some(("le", &le))));
    }
    let inf = labels(l, Some(("le", "+Inf")));
    let _ = writeln!(out, "{family}_bucket{inf} {}", h.count);
    let _ = writeln!(out, "{family}_sum{} {}", labels(l, None), ms(h.sum));
    let _ = writeln!(out, "{family}_count{} {}", labels(l, None), h.count);
}

/// Prometheus text exposition format 0.0.4.
pub fn prometheus(admin: &Admin, query: &StatsQuery) -> String {
    let (gen, snap) = admin.snapshot();
    let naming = gen.config.stats.naming;
    let mut all = current(admin, &snap);
    for w in &snap.workers {
        let mut names = stat_names(naming, Scope::Worker(w.id), "io_driver_info");
        let driver = w.driver.map_or("starting".to_string(), |d| d.to_string());
        names.labels.push(("driver", driver));
        all.push(Stat {
            names,
            kind: Kind::Gauge,
            value: 1,
            histogram: None,
        });
    }
    all.retain(|s| query.shows(s));
    // Grouped by family, so each `# TYPE` line comes once, before its samples.
    all.sort_by(|a, b| (&a.names.family, &a.names.labels).cmp(&(&b.names.family, &b.names.labels)));
    let mut out = String::new();
    let mut last_family: Option<&str> = None;
    for s in &all {
        if last_family != Some(s.names.family.as_str()) {
            let _ = writeln!(out, "# TYPE {} {}", s.names.family, prometheus_type(s.kind));
            last_family = Some(&s.names.family);
        }
        prometheus_sample(&mut out, s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Histogram;

    #[test]
    fn histogram_lines_are_envoys() {
        let h = Histogram::default();
        assert_eq!(quantiles_text(&h.snapshot()), "No recorded values");
        h.record(1000);
        let line = quantiles_text(&h.snapshot());
        let parts: Vec<&str> = line.split(' ').collect();
        let names: Vec<&str> = parts.iter().map(|p| p.split('(').next().unwrap()).collect();
        assert_eq!(
            names,
            ["P0", "P25", "P50", "P75", "P90", "P95", "P99", "P99.5", "P99.9", "P100"]
        );
        for p in parts {
            let inner = p.split_once('(').unwrap().1.trim_end_matches(')');
            let (interval, cumulative) = inner.split_once(',').unwrap();
            assert_eq!(interval, "nan");
            let v: f64 = cumulative.parse().unwrap();
            assert!((0.9..=1.0).contains(&v), "{p}");
        }
    }

    #[test]
    fn numbers_print_as_envoy_prints_them() {
        assert_eq!(envoy_number(1.0), "1");
        assert_eq!(envoy_number(1.025), "1.025");
        assert_eq!(envoy_number(f64::NAN), "nan");
    }

    #[test]
    fn the_version_is_one_number() {
        let v = version_number();
        let text = env!("CARGO_PKG_VERSION");
        let major: u64 = text.split('.').next().unwrap().parse().unwrap();
        assert_eq!(v / 1_000_000, major);
    }

    #[test]
    fn label_values_are_escaped() {
        let l = vec![("cluster", "a\"b\\c\nd".to_string())];
        assert_eq!(
            labels(&l, Some(("le", "1"))),
            r#"{cluster="a\"b\\c\nd",le="1"}"#
        );
    }

    fn listener(name: &str, total: u64) -> ListenerSnap {
        let mut counters = vec![0; ListenerCounter::COUNT];
        counters[ListenerCounter::DownstreamRqTotal as usize] = total;
        let h = Histogram::default();
        h.record(total * 1000);
        ListenerSnap {
            name: name.into(),
            stat_prefix: "ingress_http".into(),
            slot: 0,
            tls: false,
            counters,
            gauges: vec![0; ListenerGauge::COUNT],
            rq_time: h.snapshot(),
            cx_length: HistogramSnapshot::default(),
        }
    }

    fn find<'a>(all: &'a [Stat], text: &str) -> &'a Stat {
        all.iter()
            .find(|s| s.names.text == text)
            .unwrap_or_else(|| panic!("no {text}"))
    }

    #[test]
    fn listeners_sharing_a_stat_prefix_are_one_scope_under_envoy_naming() {
        let server = ServerStats::new(1, 1, 0);
        let snap = Snapshot {
            listeners: vec![listener("a", 2), listener("b", 3)],
            ..Snapshot::default()
        };
        let bound = [
            ("a".to_string(), "127.0.0.1:1".parse().unwrap()),
            ("b".to_string(), "127.0.0.1:2".parse().unwrap()),
        ];
        let all = stats(&server, true, StatsNaming::Envoy, &bound, &snap);
        assert_eq!(find(&all, "http.ingress_http.downstream_rq_total").value, 5);
        let h = find(&all, "http.ingress_http.downstream_rq_time");
        assert_eq!(h.histogram.as_ref().unwrap().count, 2);
        assert_eq!(
            find(&all, "listener.127.0.0.1_1.downstream_cx_total").value,
            0
        );
        let mut texts: Vec<&str> = all.iter().map(|s| s.names.text.as_str()).collect();
        let n = texts.len();
        texts.dedup();
        assert_eq!(texts.len(), n, "a name twice");
        // Ringway naming keeps each listener's own scope, and no listener scope.
        let all = stats(&server, true, StatsNaming::Ringway, &bound, &snap);
        assert_eq!(find(&all, "http.a.downstream_rq_total").value, 2);
        assert_eq!(find(&all, "http.b.downstream_rq_total").value, 3);
        assert!(!all.iter().any(|s| s.names.text.starts_with("listener.")));
    }

    #[test]
    fn envoy_keeps_connection_stats_on_both_and_tls_on_the_listener() {
        assert_eq!(envoy_home("downstream_cx_total"), (true, true));
        assert_eq!(envoy_home(DOWNSTREAM_CX_LENGTH_MS), (true, true));
        assert_eq!(envoy_home("ssl.handshake"), (false, true));
        assert_eq!(envoy_home("downstream_cx_overflow"), (false, true));
        assert_eq!(envoy_home("downstream_rq_2xx"), (true, false));
        assert_eq!(
            envoy_stat_name("ssl.versions.TLSv1_3"),
            "ssl.versions.TLSv1.3"
        );
    }
}
