//! The admin endpoint tells the truth about resilience state, through the real
//! binary (two workers) under both io drivers: a host failing its health check
//! is flagged `/failed_active_hc` and leaves `membership_healthy`; an ejected
//! host is flagged `/failed_outlier_check` and counted in
//! `outlier_detection.ejections_active`; a circuit-breaker overflow is counted
//! once; retries count `upstream_rq_retry`, and `max_retries: 0` stops them and
//! counts `upstream_rq_retry_overflow`.
//!
//! Every wait is on a condition with a deadline.

#[macro_use]
mod support;

use std::net::SocketAddr;

use support::{
    admin::{self, clusters, host_json, sample, scrape, stat, stats},
    host_list, refused_addr, request,
    resilience::{failing, routed_config, AdminEndpoint},
    send_request, wait_for, Driver, Mode, Response, Ringway, FAST_HC,
};

driver_tests!(
    failed_health_check_shows_in_clusters,
    ejected_host_shows_in_clusters_and_stats,
    breaker_overflow_is_counted_once,
    retries_are_counted_and_max_retries_stops_them,
);

/// `workers: 2`, admin on an ephemeral port, one listener with `routes`
/// (prefix, cluster, extra route lines) to `clusters` (YAML list items).
fn config(routes: &[(&str, &str, &str)], clusters: &str) -> String {
    routed_config(2, AdminEndpoint::Ephemeral, routes, clusters)
}

/// `GET path` on a new connection with `extra` header lines.
fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    request(addr, "GET", path, extra)
}

fn flags(admin: SocketAddr, cluster: &str, host: SocketAddr) -> String {
    clusters(admin)
        .remove(&format!("{cluster}::{host}::health_flags"))
        .unwrap_or_else(|| panic!("no health_flags line for {host}"))
}

/// The Prometheus sample `ringway_cluster_<name>{cluster="c"}`, checked to be
/// declared and well-formed by a real exposition parser.
fn prometheus(admin: SocketAddr, name: &str, cluster: &str) -> f64 {
    sample(
        &scrape(admin),
        &format!("ringway_cluster_{name}"),
        ("cluster", cluster),
    )
}

fn failed_health_check_shows_in_clusters(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let hosts = format!("[{{ address: \"{}\", weight: 3 }}, \"{}\"]", a.addr, b.addr);
    let rw = Ringway::start(
        d,
        &config(&[("/", "c", "")], &format!("  - name: c\n    hosts: {hosts}\n{FAST_HC}    circuit_breakers: {{ max_connections: 7, max_retries: 5 }}\n")),
    );
    let admin = rw.admin();
    wait_for("both hosts checked", || {
        (a.health_checks() >= 1 && b.health_checks() >= 1).then_some(())
    });
    let lines = clusters(admin);
    assert_eq!(lines[&format!("c::{}::health_flags", a.addr)], "healthy");
    assert_eq!(lines[&format!("c::{}::weight", a.addr)], "3");
    assert_eq!(lines[&format!("c::{}::weight", b.addr)], "1");
    // The configured thresholds (totals), not Envoy's defaults.
    assert_eq!(lines["c::default_priority::max_connections"], "7");
    assert_eq!(lines["c::default_priority::max_pending_requests"], "1024");
    assert_eq!(lines["c::default_priority::max_requests"], "1024");
    assert_eq!(lines["c::default_priority::max_retries"], "5");
    let st = stats(admin);
    assert_eq!(stat(&st, "cluster.c.membership_total"), 2);
    assert_eq!(stat(&st, "cluster.c.membership_healthy"), 2);

    a.set_health(503);
    let st = wait_for("a to fail its check", || {
        let st = stats(admin);
        (stat(&st, "cluster.c.membership_healthy") == 1).then_some(st)
    });
    assert_eq!(stat(&st, "cluster.c.membership_total"), 2);
    assert_eq!(stat(&st, "cluster.c.health_check.healthy"), 1);
    assert!(stat(&st, "cluster.c.health_check.failure") >= 1);
    assert!(stat(&st, "cluster.c.health_check.attempt") >= 2);
    wait_for("b's passing checks to be counted", || {
        (stat(&stats(admin), "cluster.c.health_check.success") >= 1).then_some(())
    });
    assert_eq!(flags(admin, "c", a.addr), "/failed_active_hc");
    assert_eq!(flags(admin, "c", b.addr), "healthy");
    let j = host_json(admin, "c", a.addr);
    assert_eq!(j["health_status"]["failed_active_health_check"], true);
    assert_eq!(j["weight"], 3);
    assert_eq!(prometheus(admin, "membership_healthy", "c"), 1.0);
    assert!(prometheus(admin, "health_check_failure", "c") >= 1.0);

    a.set_health(200);
    wait_for("a to pass again", || {
        (flags(admin, "c", a.addr) == "healthy").then_some(())
    });
    wait_for("membership_healthy back to 2", || {
        (stat(&stats(admin), "cluster.c.membership_healthy") == 2).then_some(())
    });
}

const OUTLIER: &str = "    outlier_detection:
      consecutive_5xx: 3
      interval: 50ms
      base_ejection_time: 60s
      max_ejection_percent: 50
";

fn ejected_host_shows_in_clusters_and_stats(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let rw = Ringway::start(
        d,
        &config(
            &[("/", "c", "")],
            &format!(
                "  - name: c\n    hosts: {}\n{OUTLIER}",
                host_list(&[&a, &b])
            ),
        ),
    );
    let admin = rw.admin();
    let st = stats(admin);
    assert_eq!(stat(&st, "cluster.c.outlier_detection.ejections_active"), 0);
    assert_eq!(
        stat(&st, "cluster.c.outlier_detection.ejections_enforced_total"),
        0
    );
    assert!(
        !st.contains_key("cluster.c.health_check.attempt"),
        "no health checks configured: no health_check stats"
    );

    a.set_mode(Mode::Status(503));
    // Each worker counts its own failures in a row; keep asking until one ejects.
    wait_for("a to be ejected", || {
        get(rw.addr(), "/", "");
        (flags(admin, "c", a.addr) == "/failed_outlier_check").then_some(())
    });
    assert_eq!(flags(admin, "c", b.addr), "healthy");
    let st = stats(admin);
    assert_eq!(stat(&st, "cluster.c.outlier_detection.ejections_active"), 1);
    assert!(stat(&st, "cluster.c.outlier_detection.ejections_enforced_total") >= 1);
    assert_eq!(stat(&st, "cluster.c.membership_total"), 2);
    assert_eq!(stat(&st, "cluster.c.membership_healthy"), 1);
    let j = host_json(admin, "c", a.addr);
    assert_eq!(j["health_status"]["failed_outlier_check"], true);
    assert_eq!(
        prometheus(admin, "outlier_detection_ejections_active", "c"),
        1.0
    );

    // /reset_counters zeroes the ejection count, not the ejection.
    assert_eq!(admin::post(admin, "/reset_counters").status, 200);
    let st = stats(admin);
    assert_eq!(
        stat(&st, "cluster.c.outlier_detection.ejections_enforced_total"),
        0
    );
    assert_eq!(stat(&st, "cluster.c.outlier_detection.ejections_active"), 1);
}

fn breaker_overflow_is_counted_once(d: Driver) {
    let [a] = failing(["a"]);
    // Two workers, `max_requests: 2`: each worker's share is one request; beyond
    // it a worker borrows only while the cluster-wide count is under 2.
    let rw = Ringway::start(
        d,
        &config(
            &[("/", "c", "")],
            &format!(
                "  - name: c\n    hosts: {}\n    circuit_breakers: {{ max_requests: 2 }}\n",
                host_list(&[&a])
            ),
        ),
    );
    let admin = rw.admin();
    assert_eq!(
        clusters(admin)["c::default_priority::max_requests"],
        "2",
        "the configured total"
    );
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    let mut held2 = send_request(rw.addr(), "GET", "/hang", "");
    wait_for("two requests to hang on the upstream", || {
        (a.hung() == 2).then_some(())
    });
    // The cluster total is spent. New connections land on either worker; a
    // worker at its share (at least one of them) overflows. Count the 503s the
    // clients saw.
    let mut overflows = 0;
    wait_for("a breaker overflow", || {
        let r = get(rw.addr(), "/", "");
        if r.status == 503 {
            assert_eq!(r.header("x-ringway-overloaded"), Some("true"));
            overflows += 1;
        } else {
            assert_eq!(r.status, 200, "{r:?}");
        }
        (overflows > 0).then_some(())
    });
    a.release();
    assert_eq!(held.read_response().status, 200);
    assert_eq!(held2.read_response().status, 200);
    let st = stats(admin);
    // Counted once, by the stats tap.
    assert_eq!(stat(&st, "cluster.c.upstream_rq_overflow"), overflows);
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_overflow"), 0);
    assert_eq!(stat(&st, "cluster.c.upstream_cx_overflow"), 0);
    assert_eq!(
        prometheus(admin, "upstream_rq_overflow", "c"),
        overflows as f64
    );
}

fn retries_are_counted_and_max_retries_stops_them(d: Driver) {
    // `r`: retries allowed (default max_retries). `n` and `dead`: max_retries 0.
    let [r_bad, r_good, n_bad, n_good, d_good] =
        failing(["r_bad", "r_good", "n_bad", "n_good", "d_good"]);
    let refused = refused_addr();
    r_bad.set_mode(Mode::Status(503));
    n_bad.set_mode(Mode::Status(503));
    let policy =
        |on: &str| format!("            retry_policy: {{ retry_on: \"{on}\", num_retries: 1 }}\n");
    let clusters_yaml = format!(
        "  - name: r\n    hosts: {}\n  - name: n\n    hosts: {}\n    circuit_breakers: {{ max_retries: 0 }}\n  - name: dead\n    connect_timeout: 1s\n    hosts: [\"{refused}\", \"{}\"]\n    circuit_breakers: {{ max_retries: 0 }}\n",
        host_list(&[&r_bad, &r_good]),
        host_list(&[&n_bad, &n_good]),
        d_good.addr,
    );
    let rw = Ringway::start(
        d,
        &config(
            &[
                ("/r", "r", &policy("5xx")),
                ("/n", "n", &policy("5xx")),
                ("/dead", "dead", &policy("connect-failure")),
            ],
            &clusters_yaml,
        ),
    );
    let admin = rw.admin();
    let addr = rw.addr();

    // Retries allowed: a 503 from `r_bad` is retried on `r_good`.
    for _ in 0..8 {
        let r = get(addr, "/r", "");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_str(), "r_good");
    }
    let retried = r_bad.requests() as u64;
    assert!(retried >= 1, "round robin sent nothing to r_bad");

    // max_retries: 0: the upstream's 503 reaches the client as it was.
    let mut status_overflows = 0;
    for _ in 0..8 {
        let r = get(addr, "/n", "");
        if r.status == 503 {
            assert_eq!(r.body_str(), "n_bad", "the last failure, as it was");
            status_overflows += 1;
        } else {
            assert_eq!(r.body_str(), "n_good");
        }
    }
    assert_eq!(status_overflows, n_bad.requests() as u64);
    assert!(status_overflows >= 1);

    // max_retries: 0 on a connect failure: ringway's own 503.
    let mut connect_overflows = 0;
    for _ in 0..8 {
        let r = get(addr, "/dead", "");
        if r.status == 503 {
            assert!(r.body_str().starts_with("upstream connect error"), "{r:?}");
            connect_overflows += 1;
        } else {
            assert_eq!(r.body_str(), "d_good");
        }
    }
    assert!(connect_overflows >= 1);

    let st = stats(admin);
    assert_eq!(stat(&st, "cluster.r.upstream_rq_retry"), retried);
    assert_eq!(stat(&st, "cluster.r.upstream_rq_retry_overflow"), 0);
    assert_eq!(stat(&st, "cluster.n.upstream_rq_retry"), 0);
    assert_eq!(
        stat(&st, "cluster.n.upstream_rq_retry_overflow"),
        status_overflows
    );
    assert_eq!(stat(&st, "cluster.dead.upstream_rq_retry"), 0);
    assert_eq!(
        stat(&st, "cluster.dead.upstream_rq_retry_overflow"),
        connect_overflows
    );
    assert_eq!(
        prometheus(admin, "upstream_rq_retry_overflow", "n"),
        status_overflows as f64
    );
    let dump: serde_json::Value =
        serde_json::from_str(&admin::get(admin, "/config_dump").body_str()).unwrap();
    let n = dump["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "n")
        .unwrap();
    assert_eq!(n["circuit_breakers"]["max_retries"], 0);
    let lines = clusters(admin);
    assert_eq!(lines["n::default_priority::max_retries"], "0");
    assert_eq!(lines["r::default_priority::max_retries"], "3");
}
