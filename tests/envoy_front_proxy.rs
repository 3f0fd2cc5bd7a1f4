//! End to end: the Envoy front-proxy seed (`config/envoy/front-envoy.yaml`) runs
//! under the real `ringway` binary with only its addresses rewritten — listener
//! and admin to `127.0.0.1:0`, cluster hosts to the literal addresses of test
//! upstreams — under both io drivers. Its clusters say `http2_protocol_options`,
//! so its upstreams here speak HTTP/2 only (h2c), as the sandbox's services
//! would have to. Also `ringway check` and `ringway convert` on the seed.

#[macro_use]
mod support;

use std::{collections::HashMap, net::SocketAddr, process::Command};

use serde_yaml::{Mapping, Value};
use support::{
    admin::{self, parse_prometheus, sample},
    h2_upstream::H2Upstream,
    text_response, wait_for, Driver, Reply, Ringway, Upstream,
};

driver_tests!(envoy_front_proxy, todays_sandbox_with_its_https_listener);

const SEED: &str = include_str!("../config/envoy/front-envoy.yaml");
/// Today's Envoy front-proxy sandbox (two listeners, HTTPS with an inline
/// certificate, STRICT_DNS clusters in `load_assignment` form, a runtime
/// layer), its certificate left for the test to fill in.
const SANDBOX: &str = include_str!("../src/config/envoy/testdata/sandbox-tls.yaml.template");

/// An upstream answering every request with `NAME PATH`.
fn named_upstream(name: &str) -> Upstream {
    let n = name.to_string();
    Upstream::start(name, move |r| {
        Reply::Bytes(text_response("200 OK", &format!("{n} {}", r.target)))
    })
}

/// One request on a fresh connection: (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = admin::get(addr, path);
    (r.status, r.body_str())
}

fn envoy_front_proxy(driver: Driver) {
    // HTTP/2-only upstreams answering `NAME PATH`, as `named_upstream` does.
    let service1 = [
        H2Upstream::h2c("service1-a"),
        H2Upstream::h2c("service1-b"),
        H2Upstream::h2c("service1-c"),
    ];
    let service2 = H2Upstream::h2c("service2-a");
    let yaml = rewrite_envoy(
        SEED,
        &[
            ("service1", service1.iter().map(|u| u.addr).collect()),
            ("service2", vec![service2.addr]),
        ],
    );
    // One worker: every worker balances on its own, so with one the cycle is exact.
    let proxy = Ringway::launch(driver, &yaml)
        .args(&["--workers", "1"])
        .env("RINGWAY_LOG", "info")
        .start();
    // The seed's listener has no name; Envoy's stat_prefix names it.
    let front = proxy.listener("ingress_http");
    assert!(front.ip().is_loopback() && front.port() != 0, "{front}");

    // /service/1 walks the three service1 upstreams in turn.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (status, body) = get(front, "/service/1");
        assert_eq!(status, 200, "{body}");
        let (name, upstream_path) = body.split_once(' ').expect("NAME PATH");
        assert_eq!(upstream_path, "/service/1", "no rewrite in the seed");
        seen.push(name.to_string());
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in &seen {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    for u in &service1 {
        assert_eq!(counts.get(u.name.as_str()), Some(&2), "{seen:?}");
    }
    assert_eq!(
        seen[..3],
        seen[3..],
        "round robin repeats its cycle: {seen:?}"
    );

    // /service/2 reaches the other service, prefix routes keep the rest of the path.
    for _ in 0..3 {
        assert_eq!(
            get(front, "/service/2/health"),
            (200, "service2-a /service/2/health".to_string())
        );
    }
    // No route: 404 from ringway itself.
    assert_eq!(get(front, "/nowhere").0, 404);

    // The seed's admin port (rewritten to 127.0.0.1:0) serves Envoy's endpoints.
    let admin = proxy.admin();
    assert!(admin.ip().is_loopback() && admin.port() != 0, "{admin}");
    let (status, help) = get(admin, "/help");
    assert_eq!(status, 200, "{help}");
    for endpoint in ["/stats/prometheus", "/clusters", "/ready"] {
        assert!(help.contains(endpoint), "/help lacks {endpoint}:\n{help}");
    }
    let addrs: Vec<SocketAddr> = service1.iter().map(|u| u.addr).collect();
    admin_counts(admin, &addrs, service2.addr);
    // HTTP/2 multiplexes: one connection per host (one worker) carried them all.
    for u in service1.iter().chain([&service2]) {
        assert_eq!(u.connections(), 1, "{}", u.name);
    }

    let stderr = proxy.stop();
    assert!(
        stderr.contains(".config.route_config.name (line 14)"),
        "the start-up warnings name path and line:\n{stderr}"
    );
    assert!(
        !stderr.contains("http2_protocol_options"),
        "http2_protocol_options takes effect now:\n{stderr}"
    );
}

/// `/stats/prometheus` parses and counts the ten requests above; `/clusters`
/// lists every upstream host with its own count.
fn admin_counts(admin: SocketAddr, service1: &[SocketAddr], service2: SocketAddr) {
    // `downstream_rq_total` counts a request when it starts, its status class
    // once its response is written (the client may see the response first):
    // wait until all ten are counted by class.
    // An Envoy config gets Envoy's names and tags.
    let http = ("envoy_http_conn_manager_prefix", "ingress_http");
    let class = |c| ("envoy_response_code_class", c);
    let scrape = wait_for("10 finished requests in /stats/prometheus", || {
        let (status, body) = get(admin, "/stats/prometheus");
        assert_eq!(status, 200, "{body}");
        let scrape = parse_prometheus(&body);
        let finished = tagged(&scrape, "envoy_http_downstream_rq_xx", &[class("2"), http])
            + tagged(&scrape, "envoy_http_downstream_rq_xx", &[class("4"), http]);
        (sample(&scrape, "envoy_http_downstream_rq_total", http) == 10.0 && finished == 10.0)
            .then_some(scrape)
    });
    let cluster = |c| ("envoy_cluster_name", c);
    let expect = [
        ("envoy_http_downstream_rq_xx", vec![class("2"), http], 9.0),
        ("envoy_http_downstream_rq_xx", vec![class("4"), http], 1.0),
        ("envoy_http_downstream_rq_no_route", vec![http], 1.0),
        (
            "envoy_cluster_upstream_rq_total",
            vec![cluster("service1")],
            6.0,
        ),
        (
            "envoy_cluster_upstream_rq_xx",
            vec![class("2"), cluster("service1")],
            6.0,
        ),
        (
            "envoy_cluster_upstream_rq_total",
            vec![cluster("service2")],
            3.0,
        ),
        (
            "envoy_cluster_membership_total",
            vec![cluster("service1")],
            3.0,
        ),
        (
            "envoy_cluster_membership_total",
            vec![cluster("service2")],
            1.0,
        ),
    ];
    for (metric, labels, want) in expect {
        assert_eq!(tagged(&scrape, metric, &labels), want, "{metric}{labels:?}");
    }

    let (status, clusters) = get(admin, "/clusters");
    assert_eq!(status, 200, "{clusters}");
    let lines: HashMap<&str, &str> = clusters
        .lines()
        .filter_map(|l| l.rsplit_once("::"))
        .collect();
    for (cluster, addr, n) in service1
        .iter()
        .map(|a| ("service1", *a, "2"))
        .chain([("service2", service2, "3")])
    {
        let key = format!("{cluster}::{addr}::rq_total");
        assert_eq!(lines.get(key.as_str()), Some(&n), "{key} in:\n{clusters}");
    }
}

/// The value of the sample `metric` carrying all of `labels`.
fn tagged(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {metric}{labels:?}"));
    match &s.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
        other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn check_prints_the_translation_warnings() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["check", "-c", "config/envoy/front-envoy.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (1 listeners, 2 clusters"),
        "{out:?}"
    );
    // `http2_protocol_options` takes effect now (HTTP/2 to the services), and
    // `stat_prefix` is carried over (it scopes the Envoy-named stats): no warning.
    assert!(!stderr.contains("http2_protocol_options"), "{stderr}");
    assert!(!stderr.contains("stat_prefix"), "{stderr}");
    // `codec_type: auto` takes effect now (HTTP/2 by preface): no warning.
    assert!(!stderr.contains("codec_type"), "{stderr}");
}

#[test]
fn convert_prints_native_yaml_that_checks_clean() {
    let bin = env!("CARGO_BIN_EXE_ringway");
    let out = Command::new(bin)
        .args(["convert", "-c", "config/envoy/front-envoy.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let native = String::from_utf8(out.stdout).unwrap();
    assert!(!native.contains("static_resources:"), "{native}");
    assert!(native.contains("  protocol: http2\n"), "{native}");
    assert!(native.contains("  address: 0.0.0.0:80\n"), "{native}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("converted.yaml");
    std::fs::write(&path, &native).unwrap();
    let check = Command::new(bin)
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // Nothing left untranslated; only the seed's admin on 0.0.0.0 (kept, as
    // the seed's story has it) is still worth a warning.
    let stderr = String::from_utf8_lossy(&check.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert!(
        warnings.len() == 1 && warnings[0].contains("admin.address"),
        "native output has nothing else to warn about: {check:?}"
    );
}

/// Rewrite an Envoy bootstrap file for a test, touching addresses only: every
/// listener and the admin interface move to `127.0.0.1:0`, and each named
/// cluster's hosts become the given literal addresses of test upstreams.
pub fn rewrite_envoy(text: &str, clusters: &[(&str, Vec<SocketAddr>)]) -> String {
    let mut doc: Value = serde_yaml::from_str(text).expect("seed parses");
    let loopback = |sa: &mut Value| {
        sa["address"] = "127.0.0.1".into();
        sa["port_value"] = 0.into();
    };
    let sr = &mut doc["static_resources"];
    for l in sr["listeners"].as_sequence_mut().expect("listeners") {
        loopback(&mut l["address"]["socket_address"]);
    }
    for c in sr["clusters"].as_sequence_mut().expect("clusters") {
        let name = c["name"].as_str().unwrap().to_string();
        let Some((_, addrs)) = clusters.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let hosts: Vec<Value> = addrs
            .iter()
            .map(|a| {
                let mut sa = Mapping::new();
                sa.insert("address".into(), a.ip().to_string().into());
                sa.insert("port_value".into(), u64::from(a.port()).into());
                let mut h = Mapping::new();
                h.insert("socket_address".into(), Value::Mapping(sa));
                Value::Mapping(h)
            })
            .collect();
        if c.get("load_assignment").is_some() {
            // v3: the endpoints of the load assignment.
            let endpoints: Vec<Value> = hosts
                .into_iter()
                .map(|address| {
                    let mut endpoint = Mapping::new();
                    endpoint.insert("address".into(), address);
                    let mut lb = Mapping::new();
                    lb.insert("endpoint".into(), Value::Mapping(endpoint));
                    Value::Mapping(lb)
                })
                .collect();
            c["load_assignment"]["endpoints"][0]["lb_endpoints"] = Value::Sequence(endpoints);
        } else {
            c["hosts"] = Value::Sequence(hosts);
        }
    }
    if doc.get("admin").is_some() {
        loopback(&mut doc["admin"]["address"]["socket_address"]);
    }
    serde_yaml::to_string(&doc).unwrap()
}

/// Today's sandbox runs unchanged but for its addresses and the certificate the
/// test makes: `/service/1` over HTTP and over HTTPS, the runtime layer accepted.
fn todays_sandbox_with_its_https_listener(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::tls::TestCa::new("sandbox CA");
    let leaf = ca.issue(dir.path(), "front", &["front-proxy.test"]);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("{}{l}", " ".repeat(18)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = SANDBOX
        .replace("{{CERT}}", &indent(&leaf.cert_pem))
        .replace("{{KEY}}", &indent(&leaf.key_pem));
    let service1 = [named_upstream("service1-a"), named_upstream("service1-b")];
    let service2 = named_upstream("service2-a");
    let yaml = rewrite_envoy(
        &text,
        &[
            ("service1", service1.iter().map(|u| u.addr).collect()),
            ("service2", vec![service2.addr]),
        ],
    );
    let proxy = Ringway::launch(driver, &yaml)
        .listeners(2)
        .args(&["--workers", "1"])
        .start();
    let http = proxy.listener("ingress_http");
    let https = proxy.listener("ingress_https");
    let (status, body) = get(http, "/service/2");
    assert_eq!((status, body.as_str()), (200, "service2-a /service/2"));
    let client = std::sync::Arc::new(ca.client_config(&[b"http/1.1"]));
    let mut c = support::tls::tls_connect(https, "front-proxy.test", &client);
    for _ in 0..2 {
        let r = c.get("front-proxy.test", "/service/1");
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert!(r.body_str().starts_with("service1-"), "{}", r.body_str());
    }
    let stderr = proxy.stop();
    assert!(
        stderr.contains("example_listener_name"),
        "the runtime key for an unknown listener is warned about:\n{stderr}"
    );
}
