//! Every rule has a rejection test; each names the field (and line) at fault.

use super::*;

const GOOD: &str = "workers: 2
listeners:
  - name: ingress_http
    address: 127.0.0.1:8000
    virtual_hosts:
      - name: backend
        domains: [\"*\"]
        routes:
          - match: { prefix: /service/1 }
            cluster: service1
          - match: { path: /exact }
            cluster: service1
            prefix_rewrite: /x
clusters:
  - name: service1
    type: static
    connect_timeout: 250ms
    hosts: [\"127.0.0.2:8080\"]
";

fn err(text: &str) -> String {
    load_str(text)
        .expect_err("config should be rejected")
        .to_string()
}

#[test]
fn accepts_a_small_config_and_fills_in_defaults() {
    let text = GOOD.replace("            prefix_rewrite: /x\n", "");
    let loaded = load_str(&text).unwrap();
    let c = &loaded.config;
    assert_eq!(c.workers, 2);
    assert_eq!(c.listeners[0].virtual_hosts[0].routes.len(), 2);
    assert_eq!(
        c.clusters[0].connect_timeout,
        std::time::Duration::from_millis(250)
    );
    assert_eq!(
        c.listeners[0].virtual_hosts[0].routes[0]
            .forward()
            .unwrap()
            .timeout,
        Some(defaults::ROUTE_TIMEOUT)
    );
}

#[test]
fn rejects_unknown_field_with_path_and_line() {
    let text = GOOD.replace("    connect_timeout: 250ms", "    conect_timeout: 250ms");
    let e = err(&text);
    assert!(e.contains("clusters[0]"), "{e}");
    assert!(e.contains("line 17"), "{e}");
    assert!(e.contains("conect_timeout"), "{e}");
}

#[test]
fn rejects_bad_duration() {
    let e = err(&GOOD.replace("250ms", "250 fortnights"));
    assert!(e.contains("clusters[0].connect_timeout"), "{e}");
    assert!(e.contains("line 17"), "{e}");
}

#[test]
fn rejects_unknown_cluster_reference_with_line() {
    let text = GOOD.replace(
        "            cluster: service1\n          - match: { path",
        "            cluster: nope\n          - match: { path",
    );
    let e = err(&text);
    assert!(
        e.contains("listeners[0].virtual_hosts[0].routes[0].cluster"),
        "{e}"
    );
    assert!(e.contains("line 10"), "{e}");
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn rejects_prefix_rewrite_on_exact_path() {
    let e = err(GOOD);
    assert!(e.contains("routes[1].prefix_rewrite"), "{e}");
    assert!(e.contains("line 13"), "{e}");
}

#[test]
fn rejects_bad_addresses_and_hosts() {
    let e = err(&GOOD.replace("127.0.0.1:8000", "localhost:eighty"));
    assert!(e.contains("listeners[0].address"), "{e}");
    assert!(e.contains("line 4"), "{e}");
    let e = err(&GOOD.replace("127.0.0.2:8080", "service1:8080"));
    assert!(e.contains("clusters[0].hosts[0]"), "{e}");
    assert!(e.contains("strict_dns"), "{e}");
}

#[test]
fn rejects_bad_workers_type_lb_and_match() {
    assert!(err(&GOOD.replace("workers: 2", "workers: 0")).contains("workers"));
    assert!(err(&GOOD.replace("workers: 2", "workers: many")).contains("workers"));
    assert!(err(&GOOD.replace("type: static", "type: eds")).contains("clusters[0].type"));
    let e = err(&GOOD.replace("type: static", "type: static\n    lb_policy: fastest"));
    assert!(e.contains("lb_policy"), "{e}");
    let e = err(&GOOD.replace("{ prefix: /service/1 }", "{ prefix: /a, path: /b }"));
    assert!(e.contains("routes[0].match"), "{e}");
    let e = err(&GOOD.replace("{ prefix: /service/1 }", "{ prefix: service }"));
    assert!(e.contains("routes[0].match.prefix"), "{e}");
}

#[test]
fn stats_naming_and_stat_prefix() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let c = load_str(&good).unwrap().config;
    assert_eq!(c.stats.naming, StatsNaming::Ringway);
    assert_eq!(
        c.listeners[0].stat_prefix, "ingress_http",
        "the name by default"
    );
    let text = format!("stats: {{ naming: Envoy }}\n{good}").replace(
        "  - name: ingress_http\n",
        "  - name: ingress_http\n    stat_prefix: edge\n",
    );
    let c = load_str(&text).unwrap().config;
    assert_eq!(c.stats.naming, StatsNaming::Envoy);
    assert_eq!(c.listeners[0].stat_prefix, "edge");
}

#[test]
fn rejects_bad_stats_naming_and_empty_stat_prefix() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let e = err(&format!("stats: {{ naming: statsd }}\n{good}"));
    assert!(
        e.contains("stats.naming") && e.contains("ringway, envoy"),
        "{e}"
    );
    let e = err(&format!("stats: {{ nameing: envoy }}\n{good}"));
    assert!(e.contains("nameing"), "{e}");
    let e = err(&good.replace(
        "  - name: ingress_http\n",
        "  - name: ingress_http\n    stat_prefix: \"\"\n",
    ));
    assert!(e.contains("listeners[0].stat_prefix"), "{e}");
}

#[test]
fn rejects_duplicates_and_empties() {
    let text = GOOD.to_string() + "  - name: service1\n    hosts: [\"127.0.0.3:1\"]\n";
    assert!(err(&text).contains("duplicate cluster name"));
    assert!(err("listeners: []\n").contains("at least one listener"));
    let e = err(&GOOD.replace("domains: [\"*\"]", "domains: []"));
    assert!(e.contains("virtual_hosts[0].domains"), "{e}");
    let e = err(&GOOD.replace("domains: [\"*\"]", "domains: [\"a*b\"]"));
    assert!(e.contains("domains[0]"), "{e}");
}

#[test]
fn rejects_out_of_range_limits() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let text = good.replace(
        "    address: 127.0.0.1:8000\n",
        "    address: 127.0.0.1:8000\n    max_request_headers_count: 100000\n",
    );
    assert!(err(&text).contains("max_request_headers_count"));
    let text = good.replace(
        "    address: 127.0.0.1:8000\n",
        "    address: 127.0.0.1:8000\n    request_headers_timeout: 0s\n",
    );
    let e = err(&text);
    assert!(e.contains("request_headers_timeout"), "{e}");
}

#[test]
fn yaml_syntax_error_names_a_line() {
    let e = err("listeners:\n  - name: [unclosed\n");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn accepts_access_log_and_health_check() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let text = good.replace(
        "    address: 127.0.0.1:8000\n",
        "    address: 127.0.0.1:8000\n    access_log: { path: /dev/stdout }\n    health_check: { path: /healthz }\n",
    );
    let c = load_str(&text).unwrap().config;
    let l = &c.listeners[0];
    assert_eq!(l.access_log.as_ref().unwrap().path, "/dev/stdout");
    assert_eq!(l.health_check.as_ref().unwrap().path, "/healthz");
}

#[test]
fn rejects_bad_access_log_and_health_check() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let with = |extra: &str| {
        good.replace(
            "    address: 127.0.0.1:8000\n",
            &format!("    address: 127.0.0.1:8000\n{extra}"),
        )
    };
    let e = err(&with(
        "    access_log: { path: /tmp/a.log, format: \"%NOPE%\" }\n",
    ));
    assert!(e.contains("listeners[0].access_log.format"), "{e}");
    assert!(e.contains("NOPE"), "{e}");
    let e = err(&with(
        "    access_log: { path: /tmp/a.log, format: \"%DURATION\" }\n",
    ));
    assert!(e.contains("unterminated"), "{e}");
    let e = err(&with("    access_log: { path: \"\" }\n"));
    assert!(e.contains("listeners[0].access_log.path"), "{e}");
    let e = err(&with("    access_log: { path: /tmp/a.log, fromat: x }\n"));
    assert!(e.contains("fromat"), "{e}");
    for (extra, at, says) in [
        (
            "    access_log: { path: /tmp/a.log, format: x, json_format: { a: b } }\n",
            "listeners[0].access_log.json_format",
            "not both",
        ),
        (
            "    access_log: { path: /tmp/a.log, json_format: { a: { b: \"%NOPE%\" } } }\n",
            "listeners[0].access_log.json_format.a.b",
            "NOPE",
        ),
        (
            "    access_log: { path: /tmp/a.log, filter: { status_code: { op: gt, value: 400 } } }\n",
            "listeners[0].access_log.filter.status_code.op",
            "eq, ge or le",
        ),
        (
            "    access_log: { path: /tmp/a.log, filter: { not_health_check: true, sample_percent: 5 } }\n",
            "listeners[0].access_log.filter",
            "exactly one",
        ),
        (
            "    access_log: { path: /tmp/a.log, filter: { or: [{ response_flags: [UF] }, { response_flags: [LR] }] } }\n",
            "listeners[0].access_log.filter.or[1].response_flags[0]",
            "LR",
        ),
        (
            "    access_log: { path: /tmp/a.log, filter: { and: [{ not_health_check: true }] } }\n",
            "listeners[0].access_log.filter.and",
            "at least two",
        ),
        (
            "    access_log: { path: /tmp/a.log, filter: { sample_percent: 101 } }\n",
            "listeners[0].access_log.filter.sample_percent",
            "0 to 100",
        ),
    ] {
        let e = err(&with(extra));
        assert!(e.contains(at) && e.contains(says), "{extra}: {e}");
    }
    let e = err(&with("    health_check: { path: healthz }\n"));
    assert!(e.contains("listeners[0].health_check.path"), "{e}");
    let e = err(&with("    health_check: {}\n"));
    assert!(e.contains("path"), "{e}");
}

#[test]
fn retry_policy_is_validated() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let with = |policy: &str| {
        good.replace(
            "            cluster: service1\n          - match: { path",
            &format!("            cluster: service1\n            retry_policy: {policy}\n          - match: {{ path"),
        )
    };
    let loaded = load_str(&with(
        "{ retry_on: \"5xx,connect-failure\", num_retries: 2, per_try_timeout: 1s }",
    ))
    .unwrap();
    let retry = loaded.config.listeners[0].virtual_hosts[0].routes[0]
        .forward()
        .unwrap()
        .retry
        .clone()
        .unwrap();
    assert!(retry.on_5xx && retry.on_connect_failure && !retry.on_reset);
    assert_eq!(retry.num_retries, 2);
    assert!(retry.retries_status(500) && !retry.retries_status(404));
    let e = err(&with("{ retry_on: sometimes }"));
    assert!(e.contains("routes[0].retry_policy.retry_on"), "{e}");
    assert!(e.contains("line 11"), "{e}");
    let e = err(&with("{ retry_on: retriable-status-codes }"));
    assert!(e.contains("retriable_status_codes"), "{e}");
    let e = err(&with(
        "{ retry_on: retriable-status-codes, retriable_status_codes: [42] }",
    ));
    assert!(e.contains("42 is not an HTTP status"), "{e}");
    let e = err(&with("{ retry_on: 5xx, num_retries: 11 }"));
    assert!(e.contains("num_retries"), "{e}");
    let policy = load_str(&with(
        "{ retry_on: \"gateway-error,retriable-status-codes\", retriable_status_codes: [409] }",
    ))
    .unwrap()
    .config
    .listeners[0]
        .virtual_hosts[0]
        .routes[0]
        .forward()
        .unwrap()
        .retry
        .clone()
        .unwrap();
    assert!(
        policy.retries_status(503) && policy.retries_status(409) && !policy.retries_status(500)
    );
}

// ---------------------------------------------------------------------------
// Resilience: load balancing, weights, circuit breakers, outlier detection,
// health checks.
// ---------------------------------------------------------------------------

/// GOOD without the invalid rewrite, with `extra` appended to the cluster.
fn good_with(extra: &str) -> String {
    GOOD.replace("            prefix_rewrite: /x\n", "") + extra
}

#[test]
fn accepts_resilience_fields_with_defaults() {
    let c = &load_str(&good_with("")).unwrap().config.clusters[0];
    assert_eq!(c.lb_policy, LbPolicy::RoundRobin);
    assert_eq!(c.endpoint_weights, vec![1]);
    assert_eq!(c.circuit_breakers, CircuitBreakers::default());
    assert_eq!(c.circuit_breakers.max_connections, 1024);
    assert_eq!(c.circuit_breakers.max_retries, 3);
    assert!(c.outlier_detection.is_none());
    assert!(c.health_checks.is_empty());
    assert!(!c.ignore_health_on_host_removal);

    let text = good_with(
        "    lb_policy: ring_hash
    hash_policy: [{ header: X-User }, { cookie: session }, { source_ip: true }]
    circuit_breakers: { max_requests: 10 }
    outlier_detection: {}
    health_checks:
      - path: /healthz
      - tcp: true
        interval: 1s
        unhealthy_threshold: 1
    ignore_health_on_host_removal: true
",
    )
    .replace(
        "hosts: [\"127.0.0.2:8080\"]",
        "hosts: [\"127.0.0.2:8080\", { address: \"127.0.0.3:8080\", weight: 3 }, { address: \"127.0.0.4:8080\" }]",
    );
    let c = &load_str(&text).unwrap().config.clusters[0];
    assert_eq!(c.lb_policy, LbPolicy::RingHash);
    assert_eq!(c.endpoint_weights, vec![1, 3, 1]);
    assert_eq!(c.endpoints.len(), 3);
    assert_eq!(
        c.hash_policy,
        vec![
            HashPolicy::Header("x-user".into()),
            HashPolicy::Cookie("session".into()),
            HashPolicy::SourceIp
        ]
    );
    assert_eq!(c.circuit_breakers.max_requests, 10);
    assert_eq!(c.circuit_breakers.max_connections, 1024);
    assert_eq!(c.outlier_detection, Some(OutlierDetection::default()));
    let od = c.outlier_detection.unwrap();
    assert_eq!(od.consecutive_5xx, 5);
    assert_eq!(od.base_ejection_time, std::time::Duration::from_secs(30));
    assert_eq!(od.max_ejection_percent, 10);
    assert_eq!(c.health_checks.len(), 2);
    let hc = &c.health_checks[0];
    assert_eq!(
        hc.kind,
        HealthCheckKind::Http {
            path: "/healthz".into(),
            host: "service1".into(),
            expected: vec![(200, 399)]
        }
    );
    assert_eq!(hc.interval, std::time::Duration::from_secs(5));
    assert_eq!(hc.timeout, std::time::Duration::from_secs(1));
    assert_eq!((hc.unhealthy_threshold, hc.healthy_threshold), (3, 2));
    assert_eq!(c.health_checks[1].kind, HealthCheckKind::Tcp);
    assert_eq!(c.health_checks[1].unhealthy_threshold, 1);
    assert!(c.ignore_health_on_host_removal);

    for p in ["least_request", "random", "round_robin", "MAGLEV"] {
        let extra = if p == "MAGLEV" {
            "    lb_policy: MAGLEV\n    hash_policy: [{ source_ip: true }]\n".to_string()
        } else {
            format!("    lb_policy: {p}\n")
        };
        load_str(&good_with(&extra)).unwrap();
    }
}

#[test]
fn circuit_breakers_split_per_worker_rounding_up() {
    let cb = CircuitBreakers::default().per_worker(3);
    assert_eq!(cb.max_connections, 342);
    assert_eq!(cb.max_retries, 1);
    let one = CircuitBreakers {
        max_requests: 1,
        ..CircuitBreakers::default()
    };
    assert_eq!(one.per_worker(8).max_requests, 1);
}

#[test]
fn rejects_bad_hash_policies() {
    let e = err(&good_with("    lb_policy: ring_hash\n"));
    assert!(e.contains("clusters[0].hash_policy"), "{e}");
    let e = err(&good_with("    hash_policy: [{ header: x-user }]\n"));
    assert!(e.contains("only used by"), "{e}");
    let ring = "    lb_policy: ring_hash\n    hash_policy: ";
    let e = err(&good_with(&format!("{ring}[{{}}]\n")));
    assert!(
        e.contains("hash_policy[0]") && e.contains("exactly one"),
        "{e}"
    );
    let e = err(&good_with(&format!("{ring}[{{ header: a, cookie: b }}]\n")));
    assert!(e.contains("exactly one"), "{e}");
    let e = err(&good_with(&format!("{ring}[{{ header: \"a b\" }}]\n")));
    assert!(e.contains("hash_policy[0].header"), "{e}");
    let e = err(&good_with(&format!("{ring}[{{ cookie: \"\" }}]\n")));
    assert!(e.contains("hash_policy[0].cookie"), "{e}");
    let e = err(&good_with(&format!("{ring}[{{ source_ip: false }}]\n")));
    assert!(e.contains("hash_policy[0].source_ip"), "{e}");
    let e = err(&good_with(&format!("{ring}[{{ query: a }}]\n")));
    assert!(e.contains("query"), "{e}");
}

#[test]
fn rejects_bad_weighted_hosts() {
    let with = |h: &str| good_with("").replace("[\"127.0.0.2:8080\"]", h);
    let e = err(&with("[{ address: \"127.0.0.2:8080\", weight: 0 }]"));
    assert!(e.contains("clusters[0].hosts[0].weight"), "{e}");
    let e = err(&with("[{ address: \"127.0.0.2:8080\", weight: 1001 }]"));
    assert!(e.contains("hosts[0].weight"), "{e}");
    let e = err(&with("[{ address: \"nope\", weight: 2 }]"));
    assert!(e.contains("clusters[0].hosts[0]"), "{e}");
    // Neither form: a misspelt key, or no address.
    let e = err(&with("[{ adress: \"127.0.0.2:8080\" }]"));
    assert!(e.contains("clusters[0].hosts"), "{e}");
    let e = err(&with("[{ weight: 2 }]"));
    assert!(e.contains("clusters[0].hosts"), "{e}");
}

#[test]
fn rejects_bad_circuit_breakers() {
    for f in ["max_connections", "max_pending_requests", "max_requests"] {
        let e = err(&good_with(&format!("    circuit_breakers: {{ {f}: 0 }}\n")));
        assert!(e.contains(&format!("circuit_breakers.{f}")), "{e}");
    }
    let e = err(&good_with("    circuit_breakers: { max_request: 5 }\n"));
    assert!(e.contains("max_request"), "{e}");
    let e = err(&good_with("    circuit_breakers: { max_requests: -1 }\n"));
    assert!(e.contains("circuit_breakers.max_requests"), "{e}");
    // Zero retries is allowed: it means "never retry".
    load_str(&good_with("    circuit_breakers: { max_retries: 0 }\n")).unwrap();
}

#[test]
fn rejects_bad_outlier_detection() {
    let od = |body: &str| {
        err(&good_with(&format!(
            "    outlier_detection: {{ {body} }}\n"
        )))
    };
    let e = od("consecutive_5xx: 0, consecutive_gateway_failure: 0");
    assert!(
        e.contains("clusters[0].outlier_detection") && e.contains("nothing"),
        "{e}"
    );
    let e = od("interval: 0s");
    assert!(e.contains("outlier_detection.interval"), "{e}");
    let e = od("base_ejection_time: 0s");
    assert!(e.contains("outlier_detection.base_ejection_time"), "{e}");
    let e = od("base_ejection_time: 60s, max_ejection_time: 10s");
    assert!(e.contains("outlier_detection.max_ejection_time"), "{e}");
    let e = od("max_ejection_percent: 101");
    assert!(e.contains("outlier_detection.max_ejection_percent"), "{e}");
    let e = od("consecutive_5x: 3");
    assert!(e.contains("consecutive_5x"), "{e}");
    let e = od("interval: soon");
    assert!(e.contains("outlier_detection.interval"), "{e}");
}

#[test]
fn rejects_bad_health_checks() {
    let hc = |body: &str| err(&good_with(&format!("    health_checks: [{{ {body} }}]\n")));
    let e = hc("interval: 1s");
    assert!(
        e.contains("clusters[0].health_checks[0]") && e.contains("exactly one"),
        "{e}"
    );
    let e = hc("path: /h, tcp: true");
    assert!(e.contains("exactly one"), "{e}");
    let e = hc("tcp: false");
    assert!(e.contains("exactly one"), "{e}");
    let e = hc("tcp: true, expected_statuses: [200]");
    assert!(e.contains("health_checks[0]"), "{e}");
    let e = hc("path: healthz");
    assert!(e.contains("health_checks[0].path"), "{e}");
    let e = hc("path: /h, interval: 0s");
    assert!(e.contains("health_checks[0].interval"), "{e}");
    let e = hc("path: /h, timeout: 0s");
    assert!(e.contains("health_checks[0].timeout"), "{e}");
    let e = hc("path: /h, unhealthy_threshold: 0");
    assert!(e.contains("health_checks[0].unhealthy_threshold"), "{e}");
    let e = hc("path: /h, healthy_threshold: 0");
    assert!(e.contains("health_checks[0].healthy_threshold"), "{e}");
    let e = hc("path: /h, expected_statuses: [\"399-200\"]");
    assert!(e.contains("health_checks[0].expected_statuses[0]"), "{e}");
    let e = hc("path: /h, expected_statuses: [700]");
    assert!(e.contains("expected_statuses[0]"), "{e}");
    let e = hc("path: /h, expected_statuses: [\"2xx\"]");
    assert!(e.contains("expected_statuses[0]"), "{e}");
    let e = hc("path: /h, intervall: 1s");
    assert!(e.contains("intervall"), "{e}");
    let c = load_str(&good_with(
        "    health_checks: [{ path: /h, host: hc.local, expected_statuses: [200, \"204-206\"] }]\n",
    ))
    .unwrap();
    assert_eq!(
        c.config.clusters[0].health_checks[0].kind,
        HealthCheckKind::Http {
            path: "/h".into(),
            host: "hc.local".into(),
            expected: vec![(200, 200), (204, 206)]
        }
    );
}

#[test]
fn max_connection_duration_must_be_positive() {
    let good = GOOD.replace("            prefix_rewrite: /x\n", "");
    let with = |v: &str| {
        good.replace(
            "    address: 127.0.0.1:8000\n",
            &format!("    address: 127.0.0.1:8000\n    max_connection_duration: {v}\n"),
        )
    };
    let c = load_str(&with("10m")).unwrap().config;
    assert_eq!(
        c.listeners[0].max_connection_duration,
        Some(std::time::Duration::from_secs(600))
    );
    let e = err(&with("0s"));
    assert!(e.contains("listeners[0].max_connection_duration"), "{e}");
    assert!(e.contains("line 5"), "{e}");
}

#[test]
fn two_listeners_share_an_address_only_on_port_zero() {
    let second = |addr: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "").replace(
            "clusters:\n",
            &format!(
                "  - name: second\n    address: {addr}\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes:\n          - match: {{ prefix: / }}\n            cluster: service1\nclusters:\n"
            ),
        )
    };
    let e = err(&second("127.0.0.1:8000"));
    assert!(
        e.contains("listeners[1].address") && e.contains("already used by listeners[0]"),
        "{e}"
    );
    // Port 0: each binds a port of its own (today's Envoy sandbox rewritten for tests).
    let both_zero = second("127.0.0.1:0").replace("127.0.0.1:8000", "127.0.0.1:0");
    assert_eq!(load_str(&both_zero).unwrap().config.listeners.len(), 2);
}

/// Found by `fuzz_random_yaml_never_panics`: a quoted key holding a line
/// break made a two-line error, the second line the file's to choose.
#[test]
fn a_key_with_a_line_break_is_named_on_one_line() {
    let err = load_str("{\"workers\\nforged: log line\": 1}").unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("workers\\nforged"), "{text}");
}

/// Found by `fuzz_random_yaml_never_panics`: an empty key's path is empty, and
/// the error named no field at all (` (line 1): unknown field ```).
#[test]
fn an_empty_key_is_named_as_the_top_level() {
    let text = err("\"\": 1\n");
    assert!(
        text.starts_with("(top level) (line 1): unknown field ``"),
        "{text}"
    );
}

/// GOOD with its second route's action replaced by `action` (indented lines).
fn second_route(action: &str) -> String {
    GOOD.replace(
        "            cluster: service1\n            prefix_rewrite: /x\n",
        action,
    )
}

#[test]
fn a_route_has_exactly_one_action() {
    let none = second_route("");
    let e = err(&none);
    assert!(
        e.contains("routes[1] (line 11)") && e.contains("exactly one of"),
        "{e}"
    );
    let two = second_route(
        "            cluster: service1\n            direct_response: { status: 200 }\n",
    );
    assert!(err(&two).contains("exactly one of"));
    let stray =
        second_route("            direct_response: { status: 200 }\n            timeout: 1s\n");
    let e = err(&stray);
    assert!(
        e.contains("routes[1].timeout (line 13)") && e.contains("`cluster`"),
        "{e}"
    );
}

#[test]
fn redirects_are_checked_field_by_field() {
    let cases = [
        (
            "redirect: { status: 200 }",
            "redirect.status",
            "not a redirect status",
        ),
        (
            "redirect: { scheme: \"1x\" }",
            "redirect.scheme",
            "not a URI scheme",
        ),
        (
            "redirect: { host: \"a\\r\\nset-cookie: x\" }",
            "redirect.host",
            "not a host",
        ),
        ("redirect: { port: 0 }", "redirect.port", "1 to 65535"),
        (
            "redirect: { path: nope }",
            "redirect.path",
            "must start with `/`",
        ),
        (
            "redirect: { path: /a, prefix_rewrite: /b }",
            "redirect.prefix_rewrite",
            "not both",
        ),
    ];
    for (action, field, says) in cases {
        let e = err(&second_route(&format!("            {action}\n")));
        assert!(
            e.contains(&format!("routes[1].{field} (line 12)")),
            "{action}: {e}"
        );
        assert!(e.contains(says), "{action}: {e}");
    }
    let ok = load_str(&second_route(
        "            redirect: { scheme: HTTPS, prefix_rewrite: /x, strip_query: true }\n",
    ))
    .unwrap();
    let RouteAction::Redirect(r) = &ok.config.listeners[0].virtual_hosts[0].routes[1].action else {
        panic!("a redirect");
    };
    assert_eq!(r.scheme.as_deref(), Some("https"));
    assert_eq!((r.status, r.strip_query), (301, true));
}

#[test]
fn direct_responses_are_checked() {
    let e = err(&second_route(
        "            direct_response: { status: 700 }\n",
    ));
    assert!(
        e.contains("routes[1].direct_response.status (line 12)"),
        "{e}"
    );
    let e = err(&second_route(
        "            direct_response: { status: 200, body: a, body_file: /etc/hostname }\n",
    ));
    assert!(e.contains("not both"), "{e}");
    let e = err(&second_route(
        "            direct_response: { status: 200, body_file: /nonexistent/ringway }\n",
    ));
    assert!(
        e.contains("direct_response.body_file") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn header_mutations_are_checked_at_their_line() {
    let with = |extra: &str| GOOD.replace("            prefix_rewrite: /x\n", extra);
    let cases = [
        ("            request_headers_to_add: [{ name: content-length, value: \"1\" }]\n", "request_headers_to_add[0].name", "frames the message"),
        ("            request_headers_to_add: [{ name: \":path\", value: /a }]\n", "request_headers_to_add[0].name", "pseudo-headers"),
        ("            request_headers_to_add: [{ name: x-a, value: \"%UPSTREAM_REMOTE_ADDRESS%\" }]\n", "request_headers_to_add[0].value", "response_headers_to_add"),
        ("            response_headers_to_add: [{ name: x-a, value: \"%REQ(x-b)%\" }]\n", "response_headers_to_add[0].value", "response headers"),
        ("            request_headers_to_add: [{ name: x-a, value: a, action: sometimes }]\n", "request_headers_to_add[0].action", "add_if_absent"),
        ("            request_headers_to_remove: [transfer-encoding]\n", "request_headers_to_remove[0]", "frames the message"),
        ("            host_rewrite: \"a/b\"\n", "host_rewrite", "not a host"),
    ];
    for (extra, field, says) in cases {
        let e = err(&with(extra));
        assert!(
            e.contains(&format!("routes[1].{field} (line 13)")),
            "{extra}: {e}"
        );
        assert!(e.contains(says), "{extra}: {e}");
    }
    let direct = GOOD.replace(
        "            cluster: service1\n            prefix_rewrite: /x\n",
        "            direct_response: { status: 200 }\n            request_headers_to_add: [{ name: x-a, value: a }]\n",
    );
    assert!(err(&direct).contains("sends no request upstream"));
}

#[test]
fn matches_are_checked_at_their_line() {
    let with = |m: &str| {
        GOOD.replace("          - match: { path: /exact }\n            cluster: service1\n            prefix_rewrite: /x\n", &format!("          - match: {m}\n            cluster: service1\n"))
    };
    let cases = [
        ("{ prefix: /a, safe_regex: /b }", "match", "exactly one of"),
        ("{ safe_regex: \"(\" }", "match.safe_regex", "not a regex"),
        (
            "{ safe_regex: /a, case_sensitive: false }",
            "match.case_sensitive",
            "(?i)",
        ),
        (
            "{ path_separated_prefix: /a/ }",
            "match.path_separated_prefix",
            "does not end with",
        ),
        (
            "{ prefix: /, headers: [{ name: x, exact: a, prefix: b }] }",
            "match.headers[0].prefix",
            "one string test",
        ),
        (
            "{ prefix: /, headers: [{ name: x, exact: a, present: true }] }",
            "match.headers[0]",
            "give one test",
        ),
        (
            "{ prefix: /, headers: [{ name: \":path\" }] }",
            "match.headers[0].name",
            "pseudo-headers",
        ),
        (
            "{ prefix: /, headers: [{ name: x, range: { start: 5, end: 5 } }] }",
            "match.headers[0].range",
            "empty range",
        ),
        (
            "{ prefix: /, headers: [{ name: x, safe_regex: a, ignore_case: true }] }",
            "match.headers[0].ignore_case",
            "(?i)",
        ),
        (
            "{ prefix: /, query_parameters: [{ name: q, present: false }] }",
            "match.query_parameters[0].present",
            "not a test",
        ),
    ];
    for (m, field, says) in cases {
        let e = err(&with(m));
        assert!(
            e.contains(&format!("routes[1].{field} (line 11)")),
            "{m}: {e}"
        );
        assert!(e.contains(says), "{m}: {e}");
    }
}

#[test]
fn weighted_clusters_are_checked() {
    let with = |action: &str| {
        GOOD.replace(
            "            cluster: service1\n            prefix_rewrite: /x\n",
            action,
        )
    };
    let e = err(&with(
        "            weighted_clusters: [{ cluster: service1, weight: 0 }]\n",
    ));
    assert!(
        e.contains("routes[1].weighted_clusters (line 12)") && e.contains("above 0"),
        "{e}"
    );
    let e = err(&with(
        "            weighted_clusters: [{ cluster: nope, weight: 1 }]\n",
    ));
    assert!(
        e.contains("weighted_clusters[0].cluster") && e.contains("nope"),
        "{e}"
    );
    let e = err(&with("            cluster: service1\n            weighted_clusters: [{ cluster: service1, weight: 1 }]\n"));
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn upstream_protocol_and_its_http2_settings() {
    let with = |extra: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "")
            .replace(
                "    connect_timeout: 250ms\n",
                &format!("    connect_timeout: 250ms\n{extra}"),
            )
    };
    let c = load_str(&with("    protocol: http2\n    http2: { max_concurrent_streams: 10, initial_stream_window_size: 65535 }\n    max_requests_per_connection: 1000\n"))
        .unwrap()
        .config;
    let cl = &c.clusters[0];
    assert_eq!(cl.protocol, UpstreamProtocol::Http2);
    assert_eq!(cl.http2.max_concurrent_streams, 10);
    assert_eq!(cl.http2.initial_stream_window_size, 65535);
    assert_eq!(cl.http2.initial_connection_window_size, 1024 * 1024);
    assert_eq!(cl.max_requests_per_connection, Some(1000));
    assert_eq!(
        load_str(&with("")).unwrap().config.clusters[0].protocol,
        UpstreamProtocol::Http1
    );
    assert_eq!(
        load_str(&with("    protocol: AUTO\n"))
            .unwrap()
            .config
            .clusters[0]
            .protocol,
        UpstreamProtocol::Auto
    );
    for (extra, field, says) in [
        (
            "    protocol: spdy\n",
            "clusters[0].protocol",
            "http1, http2, auto",
        ),
        (
            "    http2: { max_concurrent_streams: 5 }\n",
            "clusters[0].http2",
            "need `protocol: http2` or `auto`",
        ),
        (
            "    protocol: http2\n    http2: { max_concurrent_streams: 0 }\n",
            "clusters[0].http2.max_concurrent_streams",
            "",
        ),
        (
            "    protocol: auto\n    http2: { initial_stream_window_size: 65534 }\n",
            "clusters[0].http2.initial_stream_window_size",
            "",
        ),
        (
            "    protocol: http2\n    http2: { initial_connection_window_size: 2147483648 }\n",
            "clusters[0].http2.initial_connection_window_size",
            "",
        ),
        (
            "    max_requests_per_connection: 0\n",
            "clusters[0].max_requests_per_connection",
            "no request at all",
        ),
        (
            "    protocol: http2\n    tls: { verify: none, alpn: [h2, http/1.1] }\n",
            "clusters[0].tls.alpn",
            "exactly [h2]",
        ),
        (
            "    tls: { verify: none, alpn: [h2] }\n",
            "clusters[0].tls.alpn[0]",
            "`protocol: http2` or `auto`",
        ),
    ] {
        let e = err(&with(extra));
        assert!(e.contains(field) && e.contains(says), "{extra}: {e}");
    }
}

#[test]
fn http2_keepalive_is_read_and_its_bad_values_name_the_field() {
    let with = |extra: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "")
            .replace(
                "    connect_timeout: 250ms\n",
                &format!("    connect_timeout: 250ms\n    protocol: http2\n{extra}"),
            )
    };
    let c = load_str(&with(
        "    http2: { keepalive: { interval: 10s, timeout: 2s, interval_jitter_percent: 2.5 } }\n",
    ))
    .unwrap()
    .config;
    assert_eq!(
        c.clusters[0].http2.keepalive,
        Some(H2Keepalive {
            interval: Some(std::time::Duration::from_secs(10)),
            timeout: std::time::Duration::from_secs(2),
            interval_jitter_bp: 250,
            idle_interval: None,
        })
    );
    // Envoy's 15 % jitter by default; none without the block.
    let c = load_str(&with(
        "    http2: { keepalive: { interval: 1s, timeout: 1s } }\n",
    ))
    .unwrap()
    .config;
    let k = c.clusters[0].http2.keepalive.unwrap();
    assert_eq!(k.interval_jitter_bp, H2Keepalive::DEFAULT_JITTER_BP);
    // Only the PING before a stream on an idle connection.
    let c = load_str(&with(
        "    http2: { keepalive: { idle_interval: 30s, timeout: 1s } }\n",
    ))
    .unwrap()
    .config;
    let k = c.clusters[0].http2.keepalive.unwrap();
    assert_eq!(
        (k.interval, k.idle_interval),
        (None, Some(std::time::Duration::from_secs(30)))
    );
    let c = load_str(&with("")).unwrap().config;
    assert_eq!(c.clusters[0].http2.keepalive, None);
    for (extra, field, says) in [
        (
            "{ interval: 1s, timeout: 0s }",
            "keepalive.timeout",
            "greater than 0",
        ),
        (
            "{ interval: 0s, timeout: 1s }",
            "keepalive.interval",
            "greater than 0",
        ),
        ("{ interval: 1s }", "keepalive.timeout", "required"),
        ("{ timeout: 1s }", "keepalive.interval", "required"),
        ("{ interval: -1s, timeout: 1s }", "keepalive.interval", ""),
        (
            "{ idle_interval: 0s, timeout: 1s }",
            "keepalive.idle_interval",
            "greater than 0",
        ),
        ("{ idle_interval: 1s }", "keepalive.timeout", "required"),
        (
            "{ interval: 1s, timeout: 1s, interval_jitter_percent: 101 }",
            "keepalive.interval_jitter_percent",
            "percentage",
        ),
        (
            "{ interval: 1s, timeout: 1s, interval_jitter_percent: -1 }",
            "keepalive.interval_jitter_percent",
            "percentage",
        ),
        (
            "{ interval: 1s, timeout: 1s, idle: 1s }",
            "keepalive",
            "idle",
        ),
    ] {
        let e = err(&with(&format!("    http2: {{ keepalive: {extra} }}\n")));
        assert!(
            e.contains(&format!("clusters[0].http2.{field}")) && e.contains(says),
            "{extra}: {e}"
        );
    }
}

#[test]
fn the_upstream_protocol_decides_the_alpn_offer() {
    let with = |extra: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "")
            .replace(
                "    connect_timeout: 250ms\n",
                &format!("    connect_timeout: 250ms\n{extra}"),
            )
    };
    let alpn = |extra: &str| {
        let c = load_str(&with(extra)).unwrap().config;
        c.clusters[0].tls.as_ref().unwrap().spec().alpn.clone()
    };
    use crate::tls::Alpn;
    assert_eq!(alpn("    tls: { verify: none }\n"), []);
    assert_eq!(
        alpn("    protocol: http2\n    tls: { verify: none }\n"),
        [Alpn::Http2]
    );
    assert_eq!(
        alpn("    protocol: auto\n    tls: { verify: none }\n"),
        [Alpn::Http2, Alpn::Http11]
    );
    assert_eq!(
        alpn("    protocol: auto\n    tls: { verify: none, alpn: [http/1.1] }\n"),
        [Alpn::Http11]
    );
}

#[test]
fn per_client_upstream_cap_is_at_least_one_and_round_trips() {
    let with = |v: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "")
            .replace(
                "    address: 127.0.0.1:8000\n",
                &format!(
                    "    address: 127.0.0.1:8000\n    max_upstream_requests_per_client: {v}\n"
                ),
            )
    };
    let e = err(&with("0"));
    assert!(
        e.contains("listeners[0].max_upstream_requests_per_client") && e.contains("line 5"),
        "{e}"
    );
    let loaded = load_str(&with("8")).unwrap();
    assert_eq!(
        loaded.config.listeners[0].max_upstream_requests_per_client,
        Some(8)
    );
    let dumped = to_native_yaml(&lower::lower(&loaded.config));
    assert!(
        dumped.contains("max_upstream_requests_per_client: 8"),
        "{dumped}"
    );
}

#[test]
fn body_min_rate_is_at_least_one_byte_and_round_trips() {
    let with = |v: &str| {
        GOOD.replace("            prefix_rewrite: /x\n", "")
            .replace(
                "    address: 127.0.0.1:8000\n",
                &format!("    address: 127.0.0.1:8000\n    request_body_min_rate: {v}\n"),
            )
    };
    let e = err(&with("0"));
    assert!(
        e.contains("listeners[0].request_body_min_rate") && e.contains("line 5"),
        "{e}"
    );
    let loaded = load_str(&with("2KiB")).unwrap();
    assert_eq!(loaded.config.listeners[0].request_body_min_rate, Some(2048));
    let dumped = to_native_yaml(&lower::lower(&loaded.config));
    assert!(dumped.contains("request_body_min_rate:"), "{dumped}");
    assert_eq!(
        load_str(&dumped).unwrap().config.listeners[0].request_body_min_rate,
        Some(2048)
    );
}
