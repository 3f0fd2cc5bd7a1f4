//! The admin endpoint, stats and access logs, end to end: the real binary with
//! two workers, real upstreams, under both io drivers.

#[macro_use]
mod support;

use std::{collections::HashMap, net::SocketAddr};

use support::{
    admin::{get, parse_prometheus, post, sample, stat, stats},
    refused_addr, request, text_response, wait_for, wait_until, Driver, Gate, Reply, Ringway,
    Upstream,
};

driver_tests!(
    stats_prometheus_clusters_and_access_log_count_exactly,
    healthcheck_fail_flips_ready_and_post_only_endpoints,
    quitquitquit_drains_in_flight_request_and_exits_zero,
);

const FORMAT: &str = "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_SENT% %UPSTREAM_HOST% %REQ(X-TEST)%";

struct Setup {
    ringway: Ringway,
    good: Upstream,
    /// Opens `/slow` at `good`.
    release_slow: Gate,
    dead: SocketAddr,
    log: std::path::PathBuf,
}

/// The upstream of cluster `good`: `/missing…` → 404; `/slow` → 200 only once
/// released; anything else → 200 with body `ok`.
fn good_upstream(release_slow: &Gate) -> Upstream {
    let release_slow = release_slow.clone();
    Upstream::start("good", move |r| {
        if r.target.starts_with("/missing") {
            Reply::Bytes(text_response("404 Not Found", "not here\n"))
        } else if r.target.starts_with("/slow") {
            let done = text_response("200 OK", "slow but complete\n");
            Reply::After(release_slow.clone(), Box::new(Reply::Bytes(done)))
        } else {
            Reply::Bytes(text_response("200 OK", "ok\n"))
        }
    })
}

fn setup(driver: Driver) -> Setup {
    let release_slow = Gate::new();
    let good = good_upstream(&release_slow);
    let dead = refused_addr();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let config = format!(
        r#"workers: 2
admin:
  address: 127.0.0.1:0
listeners:
  - name: ingress
    address: 127.0.0.1:0
    access_log:
      path: {log}
      format: "{FORMAT}"
    health_check: {{ path: /healthz }}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {{ prefix: /ok }}
            cluster: good
          - match: {{ prefix: /missing }}
            cluster: good
          - match: {{ prefix: /slow }}
            cluster: good
          - match: {{ prefix: /dead }}
            cluster: dead
clusters:
  - name: good
    hosts: ["{good}"]
  - name: dead
    hosts: ["{dead}"]
"#,
        log = log.display(),
        good = good.addr,
    );
    Setup {
        ringway: Ringway::launch(driver, &config).in_dir(dir).start(),
        good,
        release_slow,
        dead,
        log,
    }
}

/// 5 × 200 from upstream, 3 × 404 from upstream, 2 × 404 no route, 2 × 503
/// connection refused: each on its own connection, so both workers serve some.
/// Returns the length of the 503's body.
fn send_known_outcomes(addr: SocketAddr) -> usize {
    let mut dead_len = 0;
    for i in 0..5 {
        let r = request(addr, "GET", &format!("/ok/{i}"), "x-test: ok\r\n");
        assert_eq!(r.status, 200, "{r:?}");
    }
    for i in 0..3 {
        let r = request(addr, "GET", &format!("/missing/{i}"), "x-test: missing\r\n");
        assert_eq!(r.status, 404);
    }
    for _ in 0..2 {
        let r = request(addr, "GET", "/nowhere", "x-test: nowhere\r\n");
        assert_eq!(r.status, 404);
        assert_eq!(r.body_str(), "no route matched this request\n");
    }
    for _ in 0..2 {
        let r = request(addr, "GET", "/dead", "x-test: dead\r\n");
        assert_eq!(r.status, 503);
        assert!(r.body_str().starts_with("upstream connect error"), "{r:?}");
        dead_len = r.body.len();
    }
    dead_len
}

fn stats_prometheus_clusters_and_access_log_count_exactly(driver: Driver) {
    let s = setup(driver);
    let admin = s.ringway.admin();
    let dead_len = send_known_outcomes(s.ringway.addr());

    // The tap records a request after its response is written: wait until all
    // twelve are in, and every connection is closed.
    let st = wait_for("12 requests and 0 open connections", || {
        let st = stats(admin);
        (stat(&st, "http.ingress.downstream_rq_total") == 12
            && stat(&st, "http.ingress.downstream_cx_active") == 0)
            .then_some(st)
    });
    let expect = [
        ("http.ingress.downstream_cx_total", 12),
        ("http.ingress.downstream_cx_destroy", 12),
        ("http.ingress.downstream_rq_active", 0),
        ("http.ingress.downstream_rq_2xx", 5),
        ("http.ingress.downstream_rq_4xx", 5),
        ("http.ingress.downstream_rq_5xx", 2),
        ("http.ingress.downstream_rq_no_route", 2),
        ("http.ingress.downstream_rq_rx_reset", 0),
        ("cluster.good.upstream_rq_total", 8),
        ("cluster.good.upstream_rq_2xx", 5),
        ("cluster.good.upstream_rq_4xx", 3),
        ("cluster.good.upstream_rq_5xx", 0),
        ("cluster.good.upstream_rq_active", 0),
        ("cluster.good.upstream_cx_connect_fail", 0),
        ("cluster.good.membership_total", 1),
        ("cluster.good.membership_healthy", 1),
        ("cluster.dead.upstream_rq_total", 2),
        ("cluster.dead.upstream_cx_connect_fail", 2),
        ("cluster.dead.upstream_cx_total", 0),
        ("cluster.dead.upstream_rq_2xx", 0),
        // Per status code, as Envoy: the upstream's answers, and ringway's
        // own 503 for each refused connection (Envoy's `chargeUpstreamAbort`).
        ("cluster.good.upstream_rq_200", 5),
        ("cluster.good.upstream_rq_404", 3),
        ("cluster.dead.upstream_rq_503", 2),
        ("cluster.dead.upstream_rq_5xx", 2),
        ("server.concurrency", 2),
        ("server.live", 1),
        ("server.state", 0),
        ("server.total_connections", 0),
    ];
    for (name, want) in expect {
        assert_eq!(stat(&st, name), want, "{name}");
    }
    // Two workers, summed: accepts per worker add up to the listener's total.
    let accepted: u64 = (0..2)
        .map(|w| stat(&st, &format!("worker.{w}.downstream_cx_accepted")))
        .sum();
    assert_eq!(accepted, 12);
    let good_cx = stat(&st, "cluster.good.upstream_cx_total");
    assert!((1..=8).contains(&good_cx), "{good_cx}");
    // Codes never seen have no counter (Envoy makes one when a code is first seen).
    assert!(!st.contains_key("cluster.good.upstream_rq_503"), "{st:?}");
    assert!(stat(&st, "server.version") > 0);
    // Histograms in Envoy's form: `P0(interval,cumulative) … P100(…)`.
    for h in [
        "http.ingress.downstream_rq_time",
        "http.ingress.downstream_cx_length_ms",
        "cluster.good.upstream_rq_time",
    ] {
        let line = &st[h];
        assert!(
            line.starts_with("P0(nan,") && line.contains(" P99.5(nan,"),
            "{h}: {line}"
        );
        assert!(
            line.ends_with(')') && line.contains(" P100(nan,"),
            "{h}: {line}"
        );
    }
    assert_eq!(
        histogram_count(admin, "http.ingress.downstream_rq_time"),
        12
    );
    assert_eq!(
        histogram_count(admin, "http.ingress.downstream_cx_length_ms"),
        12
    );
    assert_eq!(histogram_count(admin, "cluster.good.upstream_rq_time"), 8);
    // ?usedonly leaves out what is zero.
    let used = get(admin, "/stats?usedonly").body_str();
    assert!(used.contains("cluster.good.upstream_rq_200: 5\n"), "{used}");
    assert!(!used.contains("cluster.good.upstream_rq_5xx"), "{used}");

    // ?filter= and ?format=json.
    let body = get(admin, "/stats?filter=%5Ecluster%5C.dead%5C.").body_str();
    assert!(body.lines().count() > 3);
    assert!(
        body.lines().all(|l| l.starts_with("cluster.dead.")),
        "{}",
        body
    );
    let r = get(admin, "/stats?format=json&filter=upstream_rq_total");
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap();
    let list = v["stats"].as_array().unwrap();
    let good = list
        .iter()
        .find(|s| s["name"] == "cluster.good.upstream_rq_total")
        .unwrap();
    assert_eq!(good["value"], 8);

    prometheus_counts(admin);
    clusters_counts(admin, s.good.addr, s.dead);
    access_log_lines(&s, dead_len);

    // /reset_counters counts from zero; gauges keep their level.
    assert_eq!(get(admin, "/reset_counters").status, 405);
    assert_eq!(post(admin, "/reset_counters").status, 200);
    let st = stats(admin);
    assert_eq!(stat(&st, "http.ingress.downstream_rq_total"), 0);
    assert_eq!(stat(&st, "cluster.good.membership_total"), 1);
    assert_eq!(st["cluster.good.upstream_rq_time"], "No recorded values");
}

/// A histogram's count, from `/stats?format=json`.
fn histogram_count(admin: SocketAddr, name: &str) -> u64 {
    let r = get(admin, "/stats?format=json");
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap();
    let list = v["stats"].as_array().unwrap();
    let hists = list
        .iter()
        .find_map(|s| s.get("histograms"))
        .expect("histograms");
    let q: Vec<f64> = hists["supported_quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_f64().unwrap())
        .collect();
    assert_eq!(
        q,
        [0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 100.0]
    );
    let h = hists["computed_quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no histogram {name}"));
    h["count"].as_u64().unwrap()
}

fn prometheus_counts(admin: SocketAddr) {
    let r = get(admin, "/stats/prometheus");
    assert_eq!(r.status, 200);
    let ct = r.header("content-type").unwrap();
    assert!(ct.contains("version=0.0.4"), "{ct}");
    // A real exposition parser reads it.
    let body = r.body_str();
    let scrape = parse_prometheus(&body);
    let value = |metric: &str, label: (&str, &str)| sample(&scrape, metric, label);
    assert_eq!(
        value("ringway_cluster_upstream_rq_total", ("cluster", "good")),
        8.0
    );
    assert_eq!(
        value(
            "ringway_cluster_upstream_cx_connect_fail",
            ("cluster", "dead")
        ),
        2.0
    );
    assert_eq!(
        value("ringway_http_downstream_rq_5xx", ("listener", "ingress")),
        2.0
    );
    // Ringway naming: one family per stat, per-code ones too.
    assert_eq!(
        value("ringway_cluster_upstream_rq_200", ("cluster", "good")),
        5.0
    );
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "ringway_http_downstream_rq_time"
                && s.labels.get("listener") == Some("ingress")
        })
        .expect("histogram sample");
    match &hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
            assert_eq!(inf.count, 12.0);
            assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
        }
        other => panic!("not a histogram: {other:?}"),
    }

    // What the lenient parser does not check.
    support::admin::check_exposition(&body);
}

fn clusters_counts(admin: SocketAddr, good: SocketAddr, dead: SocketAddr) {
    let body = get(admin, "/clusters").body_str();
    let lines: HashMap<&str, &str> = body.lines().filter_map(|l| l.rsplit_once("::")).collect();
    let g = |k: &str| lines[format!("good::{good}::{k}").as_str()];
    assert_eq!(g("rq_total"), "8");
    assert_eq!(g("rq_success"), "8");
    assert_eq!(g("rq_error"), "0");
    assert_eq!(g("rq_active"), "0");
    assert_eq!(g("health_flags"), "healthy");
    let d = |k: &str| lines[format!("dead::{dead}::{k}").as_str()];
    assert_eq!(d("rq_total"), "2");
    assert_eq!(d("rq_error"), "2");
    assert_eq!(d("cx_connect_fail"), "2");
    assert_eq!(d("cx_total"), "0");
    assert_eq!(lines["good::default_priority::max_connections"], "1024");
    assert_eq!(lines["dead::added_via_api"], "false");

    let r = get(admin, "/clusters?format=json");
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap();
    let dead_json = v["cluster_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dead")
        .unwrap();
    let host = &dead_json["host_statuses"][0];
    assert_eq!(host["address"]["socket_address"]["port_value"], dead.port());
    let fail = host["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cx_connect_fail")
        .unwrap();
    assert_eq!(fail["value"], 2);
}

fn access_log_lines(s: &Setup, dead_len: usize) {
    // Workers write their lines in batches on their tick: wait for all twelve.
    let text = wait_for("12 access log lines", || {
        let t = std::fs::read_to_string(&s.log).unwrap_or_default();
        (t.lines().count() == 12).then_some(t)
    });
    let good = s.good.addr;
    let dead = s.dead;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    let mut want: Vec<String> = Vec::new();
    for _ in 0..2 {
        want.push(format!("GET /dead HTTP/1.1 503 UF {dead_len} {dead} dead"));
    }
    for i in 0..3 {
        want.push(format!("GET /missing/{i} HTTP/1.1 404 - 9 {good} missing"));
    }
    for _ in 0..2 {
        want.push("GET /nowhere HTTP/1.1 404 NR 30 - nowhere".to_string());
    }
    for i in 0..5 {
        want.push(format!("GET /ok/{i} HTTP/1.1 200 - 3 {good} ok"));
    }
    want.sort();
    assert_eq!(lines, want);
}

fn healthcheck_fail_flips_ready_and_post_only_endpoints(driver: Driver) {
    let s = setup(driver);
    let (admin, listener) = (s.ringway.admin(), s.ringway.addr());
    let r = get(admin, "/ready");
    assert_eq!((r.status, r.body_str().as_str()), (200, "LIVE\n"));
    assert_eq!(get(listener, "/healthz").status, 200);

    // State-changing endpoints are POST only.
    for path in [
        "/healthcheck/fail",
        "/healthcheck/ok",
        "/reset_counters",
        "/logging?level=debug",
        "/quitquitquit",
    ] {
        let r = get(admin, path);
        assert_eq!(r.status, 405, "{path}");
        assert!(r.header_all("allow").contains(&"POST"));
    }
    assert_eq!(
        get(admin, "/ready").status,
        200,
        "a GET must change nothing"
    );

    assert_eq!(post(admin, "/healthcheck/fail").status, 200);
    let r = get(admin, "/ready");
    assert_eq!((r.status, r.body_str().as_str()), (503, "DRAINING\n"));
    assert_eq!(get(listener, "/healthz").status, 503);
    // Proxying goes on: only the health answers change.
    assert_eq!(get(listener, "/ok").status, 200);
    assert_eq!(post(admin, "/healthcheck/ok").status, 200);
    assert_eq!(get(admin, "/ready").status, 200);
    assert_eq!(get(listener, "/healthz").status, 200);

    // The other read endpoints answer.
    let help = get(admin, "/help").body_str();
    for path in [
        "/stats/prometheus",
        "/clusters",
        "/quitquitquit",
        "/config_dump",
    ] {
        assert!(help.contains(path), "{help}");
    }
    let r = get(admin, "/listeners");
    assert_eq!(r.body_str(), format!("ingress::{listener}\n"));
    let v: serde_json::Value =
        serde_json::from_str(&get(admin, "/server_info").body_str()).unwrap();
    assert_eq!(v["state"], "LIVE");
    let want_driver = driver.log_name();
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|w| w["io_driver"] == want_driver), "{v}");
    let v: serde_json::Value =
        serde_json::from_str(&get(admin, "/config_dump").body_str()).unwrap();
    assert_eq!(v["clusters"][0]["name"], "good");
    assert_eq!(post(admin, "/logging?level=debug").status, 200);
    assert_eq!(post(admin, "/logging?level=%5Bnope").status, 400);
    assert_eq!(get(admin, "/nope").status, 404);
    assert_eq!(get(admin, "/stats?filter=%5B").status, 400);
}

fn quitquitquit_drains_in_flight_request_and_exits_zero(driver: Driver) {
    let mut s = setup(driver);
    let (admin, listener) = (s.ringway.admin(), s.ringway.addr());
    let client = std::thread::spawn(move || get(listener, "/slow"));
    wait_until("the slow request to reach the upstream", || {
        let reqs = s.good.requests();
        reqs.iter()
            .filter(|r| r.target.starts_with("/slow"))
            .count()
            == 1
    });
    assert_eq!(post(admin, "/quitquitquit").status, 200);
    // Draining: /ready says so while the request is still in flight.
    wait_until("/ready to say DRAINING", || {
        get(admin, "/ready").status == 503
    });
    s.release_slow.open();
    let r = client.join().unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "slow but complete\n")
    );
    assert_eq!(s.ringway.wait_exit().code(), Some(0));
    // The drained worker flushed its access log line before exiting.
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("GET /slow HTTP/1.1 200 - 18"), "{log}");
}
