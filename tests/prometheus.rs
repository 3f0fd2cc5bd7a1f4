//! `/stats/prometheus` as an Envoy dashboard reads it: the real binary with an
//! Envoy v3 config (two listeners sharing one `stat_prefix`, a cluster that
//! answers 200, 404 and 503, one whose host refuses), scraped and read by a
//! real exposition parser, names and tags checked against Envoy's stats docs
//! (cluster, connection manager, listener and server statistics). And a native
//! config with `stats: { naming: envoy }`, and one without (ringway naming).

#[macro_use]
mod support;

use std::net::SocketAddr;

use support::{
    admin::{check_exposition, get, parse_prometheus, stat, stats},
    envoy, refused_addr, request, text_response, wait_for, Driver, Reply, Ringway, Upstream,
};

driver_tests!(envoy_config_gets_envoy_names_and_tags);

#[test]
fn native_config_chooses_its_naming() {
    let up = coded_upstream();
    let ringway: &[(&str, &str)] = &[("cluster", "service")];
    let envoy: &[(&str, &str)] = &[(CLASS, "2"), (CLUSTER, "service")];
    for (naming, family, labels) in [
        ("", "ringway_cluster_upstream_rq_2xx", ringway),
        (
            "stats: { naming: ringway }\n",
            "ringway_cluster_upstream_rq_2xx",
            ringway,
        ),
        (
            "stats: { naming: envoy }\n",
            "envoy_cluster_upstream_rq_xx",
            envoy,
        ),
    ] {
        let yaml = format!(
            "{naming}admin: {{ address: 127.0.0.1:0 }}\nlisteners:\n  - name: front\n    address: 127.0.0.1:0\n    virtual_hosts:\n      - name: all\n        domains: [\"*\"]\n        routes:\n          - match: {{ prefix: / }}\n            cluster: service\nclusters:\n  - name: service\n    hosts: [\"{}\"]\n",
            up.addr
        );
        let proxy = Ringway::start(Driver::Epoll, &yaml);
        assert_eq!(request(proxy.addr(), "GET", "/ok", "").status, 200);
        let admin = proxy.admin();
        wait_for(&format!("{family}{labels:?} = 1"), || {
            let body = get(admin, "/stats/prometheus").body_str();
            check_exposition(&body);
            let scrape = parse_prometheus(&body);
            (value(&scrape, family, labels) == Some(1.0)).then_some(())
        });
        let body = get(admin, "/stats/prometheus").body_str();
        let other = if naming.contains("envoy") {
            "ringway_"
        } else {
            "envoy_"
        };
        assert!(
            !body.lines().any(|l| l.starts_with(other)),
            "{naming:?}: {body}"
        );
        // The dump names the naming, so it loads back to the same.
        let dump = get(admin, "/config_dump").body_str();
        let want = if naming.contains("envoy") {
            "envoy"
        } else {
            "ringway"
        };
        assert!(dump.contains(&format!("\"naming\": \"{want}\"")), "{dump}");
        proxy.stop();
    }
}

/// `/ok…` → 200, `/missing…` → 404, `/unavailable…` → 503.
fn coded_upstream() -> Upstream {
    Upstream::start("service", |r| {
        let status = if r.target.starts_with("/missing") {
            "404 Not Found"
        } else if r.target.starts_with("/unavailable") {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        Reply::Bytes(text_response(status, "body\n"))
    })
}

fn envoy_yaml(service: SocketAddr, dead: SocketAddr) -> String {
    let routes = "              - match: { prefix: /dead }\n                route: { cluster: dead }\n              - match: { prefix: / }\n                route: { cluster: service }\n";
    let listener = |name| envoy::listener(name, "ingress_http", "", routes);
    envoy::file(
        &[listener("front"), listener("second")],
        &[
            envoy::cluster("service", service),
            envoy::cluster("dead", dead),
        ],
        "admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n",
    )
}

/// The value of the sample `metric` with (at least) these labels.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))?;
    match &s.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => Some(*v),
        prometheus_parse::Value::Histogram(b) => b
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count),
        other => panic!("{metric}: {other:?}"),
    }
}

fn must(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, metric, labels).unwrap_or_else(|| panic!("no sample {metric}{labels:?}"))
}

const CLUSTER: &str = "envoy_cluster_name";
const HCM: &str = "envoy_http_conn_manager_prefix";
const LISTENER: &str = "envoy_listener_address";
const CLASS: &str = "envoy_response_code_class";
const CODE: &str = "envoy_response_code";

/// Requests sent, each on its own connection: 3 × 200, 2 × 404, 1 × 503 from
/// the upstream through `front`; 1 × 200 through `second`; 2 × 503 from
/// ringway for the refusing host.
fn send(front: SocketAddr, second: SocketAddr) {
    for (addr, path, status) in [
        (front, "/ok/1", 200),
        (front, "/ok/2", 200),
        (front, "/ok/3", 200),
        (front, "/missing/1", 404),
        (front, "/missing/2", 404),
        (front, "/unavailable", 503),
        (second, "/ok/4", 200),
        (front, "/dead", 503),
        (second, "/dead", 503),
    ] {
        assert_eq!(request(addr, "GET", path, "").status, status, "{path}");
    }
}

fn envoy_config_gets_envoy_names_and_tags(driver: Driver) {
    let service = coded_upstream();
    let dead = refused_addr();
    let proxy = Ringway::launch(driver, &envoy_yaml(service.addr, dead))
        .listeners(2)
        .args(&["--workers", "2"])
        .start();
    let (front, second) = (proxy.listener("front"), proxy.listener("second"));
    send(front, second);
    let admin = proxy.admin();
    let body = wait_for("9 finished requests", || {
        let body = get(admin, "/stats/prometheus").body_str();
        let scrape = parse_prometheus(&body);
        let done: f64 = ["2", "4", "5"]
            .iter()
            .filter_map(|c| {
                value(
                    &scrape,
                    "envoy_http_downstream_rq_xx",
                    &[(CLASS, c), (HCM, "ingress_http")],
                )
            })
            .sum();
        let closed = value(&scrape, "envoy_server_total_connections", &[]) == Some(0.0);
        (done == 9.0 && closed).then_some(body)
    });
    check_exposition(&body);
    let scrape = parse_prometheus(&body);
    cluster_stats(&scrape);
    connection_stats(&scrape, front, second);
    // Server statistics.
    assert_eq!(must(&scrape, "envoy_server_live", &[]), 1.0);
    assert_eq!(must(&scrape, "envoy_server_state", &[]), 0.0);
    assert_eq!(must(&scrape, "envoy_server_concurrency", &[]), 2.0);
    assert!(must(&scrape, "envoy_server_version", &[]) > 0.0);
    must(&scrape, "envoy_server_uptime", &[]);
    envoy_only(&scrape);
    other_views(admin, front);
    proxy.stop();
}

/// Envoy's cluster statistics (config/upstream/cluster_manager/cluster_stats).
fn cluster_stats(scrape: &prometheus_parse::Scrape) {
    let svc = (CLUSTER, "service");
    // Cluster statistics (Envoy: config/upstream/cluster_manager/cluster_stats).
    for (metric, labels, want) in [
        ("envoy_cluster_upstream_rq_total", vec![svc], 7.0),
        ("envoy_cluster_upstream_rq_completed", vec![svc], 7.0),
        ("envoy_cluster_upstream_rq_xx", vec![(CLASS, "2"), svc], 4.0),
        ("envoy_cluster_upstream_rq_xx", vec![(CLASS, "4"), svc], 2.0),
        ("envoy_cluster_upstream_rq_xx", vec![(CLASS, "5"), svc], 1.0),
        ("envoy_cluster_upstream_rq", vec![(CODE, "200"), svc], 4.0),
        ("envoy_cluster_upstream_rq", vec![(CODE, "404"), svc], 2.0),
        ("envoy_cluster_upstream_rq", vec![(CODE, "503"), svc], 1.0),
        (
            "envoy_cluster_upstream_rq",
            vec![(CODE, "503"), (CLUSTER, "dead")],
            2.0,
        ),
        (
            "envoy_cluster_upstream_rq_xx",
            vec![(CLASS, "5"), (CLUSTER, "dead")],
            2.0,
        ),
        (
            "envoy_cluster_upstream_cx_connect_fail",
            vec![(CLUSTER, "dead")],
            2.0,
        ),
        ("envoy_cluster_upstream_rq_active", vec![svc], 0.0),
        ("envoy_cluster_membership_total", vec![svc], 1.0),
        ("envoy_cluster_membership_healthy", vec![svc], 1.0),
        ("envoy_cluster_upstream_rq_time", vec![svc], 7.0),
    ] {
        assert_eq!(must(scrape, metric, &labels), want, "{metric}{labels:?}");
    }
    assert!(must(scrape, "envoy_cluster_upstream_cx_total", &[svc]) >= 1.0);
    must(scrape, "envoy_cluster_upstream_cx_active", &[svc]);
}

/// Envoy's connection manager and listener statistics.
fn connection_stats(scrape: &prometheus_parse::Scrape, front: SocketAddr, second: SocketAddr) {
    let http = (HCM, "ingress_http");
    // Connection manager statistics: the two listeners share `ingress_http`.
    for (metric, labels, want) in [
        ("envoy_http_downstream_rq_total", vec![http], 9.0),
        ("envoy_http_downstream_rq_completed", vec![http], 9.0),
        ("envoy_http_downstream_rq_xx", vec![(CLASS, "2"), http], 4.0),
        ("envoy_http_downstream_rq_xx", vec![(CLASS, "4"), http], 2.0),
        ("envoy_http_downstream_rq_xx", vec![(CLASS, "5"), http], 3.0),
        ("envoy_http_downstream_cx_total", vec![http], 9.0),
        ("envoy_http_downstream_cx_destroy", vec![http], 9.0),
        ("envoy_http_downstream_cx_active", vec![http], 0.0),
        ("envoy_http_downstream_rq_active", vec![http], 0.0),
        ("envoy_http_downstream_rq_time", vec![http], 9.0),
        ("envoy_http_downstream_cx_length_ms", vec![http], 9.0),
    ] {
        assert_eq!(must(scrape, metric, &labels), want, "{metric}{labels:?}");
    }
    // Listener statistics, by address as Envoy writes it (`127.0.0.1_PORT`).
    for (addr, n) in [(front, 7.0), (second, 2.0)] {
        let a = format!("127.0.0.1_{}", addr.port());
        let l = (LISTENER, a.as_str());
        assert_eq!(must(scrape, "envoy_listener_downstream_cx_total", &[l]), n);
        assert_eq!(
            must(scrape, "envoy_listener_downstream_cx_destroy", &[l]),
            n
        );
        assert_eq!(
            must(scrape, "envoy_listener_downstream_cx_active", &[l]),
            0.0
        );
        assert_eq!(
            must(scrape, "envoy_listener_downstream_cx_length_ms", &[l]),
            n
        );
    }
}

/// Nothing in ringway's own names; every tag one of Envoy's (or `le`, or the
/// io driver's `driver`).
fn envoy_only(scrape: &prometheus_parse::Scrape) {
    for s in &scrape.samples {
        assert!(s.metric.starts_with("envoy_"), "{}", s.metric);
        for (k, _) in s.labels.iter() {
            assert!(
                k.starts_with("envoy_") || k == "le" || k == "driver",
                "{}: label {k}",
                s.metric
            );
        }
    }
}

/// The same stats as `/stats` text (Envoy's names), `?format=prometheus` and
/// `?usedonly`.
fn other_views(admin: SocketAddr, front: SocketAddr) {
    let st = stats(admin);
    assert_eq!(stat(&st, "cluster.service.upstream_rq_503"), 1);
    assert_eq!(stat(&st, "cluster.service.upstream_rq_2xx"), 4);
    assert_eq!(stat(&st, "http.ingress_http.downstream_rq_total"), 9);
    let l = format!("listener.127.0.0.1_{}.downstream_cx_total", front.port());
    assert_eq!(stat(&st, &l), 7);
    let line = &st["cluster.service.upstream_rq_time"];
    assert!(
        line.starts_with("P0(nan,") && line.contains(") P25(nan,"),
        "{line}"
    );

    let r = get(admin, "/stats?format=prometheus");
    assert!(r.header("content-type").unwrap().contains("version=0.0.4"));
    let body = r.body_str();
    check_exposition(&body);
    let scrape = parse_prometheus(&body);
    assert_eq!(
        must(
            &scrape,
            "envoy_cluster_upstream_rq",
            &[(CODE, "404"), (CLUSTER, "service")]
        ),
        2.0
    );

    let used = get(admin, "/stats/prometheus?usedonly").body_str();
    check_exposition(&used);
    assert!(
        !used.contains("envoy_cluster_upstream_rq_timeout{"),
        "{used}"
    );
    assert!(used.contains("envoy_cluster_upstream_rq_total{"), "{used}");
    let filtered = get(admin, "/stats/prometheus?filter=%5Ecluster%5C.dead%5C.").body_str();
    check_exposition(&filtered);
    let scrape = parse_prometheus(&filtered);
    assert!(!scrape.samples.is_empty());
    assert!(scrape
        .samples
        .iter()
        .all(|s| s.labels.get(CLUSTER) == Some("dead")));
}
