//! End to end: the Envoy front-proxy seed (`config/envoy/front-envoy.yaml`) runs
//! under the real `ringway` binary with only its addresses rewritten — listener
//! and admin to `127.0.0.1:0`, cluster hosts to the literal addresses of test
//! upstreams — under both io drivers. Also `ringway check` and `ringway convert`
//! on the seed.

mod envoy_support;

use std::{collections::HashMap, process::Command};

use envoy_support::{get, rewrite_envoy, temp_path, wait_for, Ringway, Upstream};

const SEED: &str = include_str!("../config/envoy/front-envoy.yaml");

fn front_proxy(driver: &str) {
    let service1 = [
        Upstream::start("service1-a", "127.0.0.2"),
        Upstream::start("service1-b", "127.0.0.3"),
        Upstream::start("service1-c", "127.0.0.4"),
    ];
    let service2 = Upstream::start("service2-a", "127.0.0.5");
    let yaml = rewrite_envoy(
        SEED,
        &[
            ("service1", service1.iter().map(|u| u.addr).collect()),
            ("service2", vec![service2.addr]),
        ],
    );
    let path = temp_path(&format!("front-envoy-{driver}.yaml"));
    std::fs::write(&path, yaml).unwrap();

    // One worker: every worker balances on its own, so with one the cycle is exact.
    let mut proxy = Ringway::start(&[
        "-c",
        path.to_str().unwrap(),
        "--io-driver",
        driver,
        "--workers",
        "1",
    ]);
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
    admin_counts(admin, &service1, &service2);

    let stderr = proxy.stop();
    assert!(
        stderr.contains("static_resources.clusters[0].http2_protocol_options (line 36)"),
        "the start-up warnings name path and line:\n{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

/// `/stats/prometheus` parses and counts the ten requests above; `/clusters`
/// lists every upstream host with its own count.
fn admin_counts(admin: std::net::SocketAddr, service1: &[Upstream], service2: &Upstream) {
    // A request is counted once its response is written: wait until all ten are.
    let scrape = wait_for("10 requests in /stats/prometheus", || {
        let (status, body) = get(admin, "/stats/prometheus");
        assert_eq!(status, 200, "{body}");
        let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text exposition");
        (sample(
            &scrape,
            "ringway_http_downstream_rq_total",
            ("listener", "ingress_http"),
        ) == 10.0)
            .then_some(scrape)
    });
    let expect = [
        (
            "ringway_http_downstream_rq_2xx",
            ("listener", "ingress_http"),
            9.0,
        ),
        (
            "ringway_http_downstream_rq_4xx",
            ("listener", "ingress_http"),
            1.0,
        ),
        (
            "ringway_http_downstream_rq_no_route",
            ("listener", "ingress_http"),
            1.0,
        ),
        (
            "ringway_cluster_upstream_rq_total",
            ("cluster", "service1"),
            6.0,
        ),
        (
            "ringway_cluster_upstream_rq_2xx",
            ("cluster", "service1"),
            6.0,
        ),
        (
            "ringway_cluster_upstream_rq_total",
            ("cluster", "service2"),
            3.0,
        ),
        (
            "ringway_cluster_membership_total",
            ("cluster", "service1"),
            3.0,
        ),
        (
            "ringway_cluster_membership_total",
            ("cluster", "service2"),
            1.0,
        ),
    ];
    for (metric, label, want) in expect {
        assert_eq!(sample(&scrape, metric, label), want, "{metric}{label:?}");
    }

    let (status, clusters) = get(admin, "/clusters");
    assert_eq!(status, 200, "{clusters}");
    let lines: HashMap<&str, &str> = clusters
        .lines()
        .filter_map(|l| l.rsplit_once("::"))
        .collect();
    for (cluster, u, n) in service1
        .iter()
        .map(|u| ("service1", u, "2"))
        .chain([("service2", service2, "3")])
    {
        let key = format!("{cluster}::{}::rq_total", u.addr);
        assert_eq!(lines.get(key.as_str()), Some(&n), "{key} in:\n{clusters}");
    }
}

/// The value of the sample `metric{label}`; fails if there is none.
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, label: (&str, &str)) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
        .unwrap_or_else(|| panic!("no sample {metric}{{{}=\"{}\"}}", label.0, label.1));
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn envoy_front_proxy_uring() {
    front_proxy("uring");
}

#[test]
fn envoy_front_proxy_epoll() {
    front_proxy("epoll");
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
    for needle in [
        "warning: static_resources.clusters[0].http2_protocol_options (line 36)",
        "warning: static_resources.clusters[1].http2_protocol_options (line 45)",
        ".config.stat_prefix (line 12)",
        ".config.codec_type (line 11)",
    ] {
        assert!(stderr.contains(needle), "`{needle}` missing in:\n{stderr}");
    }
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
    assert!(
        native.contains("# not carried over: static_resources.clusters[0].http2_protocol_options")
    );
    assert!(native.contains("  address: 0.0.0.0:80\n"), "{native}");
    let path = temp_path("converted.yaml");
    std::fs::write(&path, &native).unwrap();
    let check = Command::new(bin)
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    assert!(
        !String::from_utf8_lossy(&check.stderr).contains("warning"),
        "native output has nothing left to warn about: {check:?}"
    );
    let _ = std::fs::remove_file(path);
}
