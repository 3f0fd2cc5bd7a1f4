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
fn accepts_the_issue_example() {
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
        c.listeners[0].virtual_hosts[0].routes[0].timeout,
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
    let e = err(&GOOD.replace("type: static", "type: static\n    lb_policy: maglev"));
    assert!(e.contains("lb_policy"), "{e}");
    let e = err(&GOOD.replace("{ prefix: /service/1 }", "{ prefix: /a, path: /b }"));
    assert!(e.contains("routes[0].match"), "{e}");
    let e = err(&GOOD.replace("{ prefix: /service/1 }", "{ prefix: service }"));
    assert!(e.contains("routes[0].match.prefix"), "{e}");
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
        .retry
        .clone()
        .unwrap();
    assert!(
        policy.retries_status(503) && policy.retries_status(409) && !policy.retries_status(500)
    );
}
