//! Header mutations through the real binary, checked against what an echoing
//! upstream received and what the client got back: the three levels in
//! Envoy's order, each `append_action`, removal before addition, the value
//! operators, ringway's own forwarding headers overwritten or removed,
//! `host_rewrite`, and response mutations on proxied and direct answers.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    request_mutations_follow_envoys_order_and_actions,
    response_mutations_edit_the_upstreams_head,
    envoy_form_mutations_and_host_rewrite_literal,
    auto_host_rewrite_sends_the_dns_name,
    ringways_own_answers_to_a_routed_request_get_its_response_headers,
);

/// An upstream that echoes, and also sends `x-powered-by` and `x-drop` so the
/// test can see response removals.
fn chatty_upstream() -> Upstream {
    Upstream::start("up", |r| {
        Reply::Bytes(
            format!(
                "HTTP/1.1 200 OK\r\nx-upstream: up\r\nx-powered-by: php\r\nx-drop: 1\r\nx-seen-target: {}\r\ncontent-length: 0\r\n\r\n",
                r.target
            )
            .into_bytes(),
        )
    })
}

fn request_mutations_follow_envoys_order_and_actions(d: Driver) {
    let up = Upstream::echo("up");
    let listener = "    request_headers_to_add:\n\
        \x20     - { name: x-level, value: listener, action: overwrite_if_exists_or_add }\n\
        \x20     - { name: x-only-if-absent, value: listener, action: add_if_absent }\n";
    let vhosts = "      - name: v\n        domains: [\"*\"]\n\
        \x20       request_headers_to_add:\n\
        \x20         - { name: x-level, value: vhost, action: overwrite_if_exists_or_add }\n\
        \x20       routes:\n\
        \x20         - match: { prefix: / }\n            cluster: up\n\
        \x20           host_rewrite: backend.internal\n\
        \x20           request_headers_to_remove: [x-secret, x-request-id]\n\
        \x20           request_headers_to_add:\n\
        \x20             - { name: x-level, value: route }\n\
        \x20             - { name: x-only-if-absent, value: route, action: add_if_absent }\n\
        \x20             - { name: x-append, value: second }\n\
        \x20             - { name: x-replace-if-there, value: new, action: overwrite_if_exists }\n\
        \x20             - { name: x-not-there, value: new, action: overwrite_if_exists }\n\
        \x20             - { name: x-forwarded-proto, value: https, action: overwrite_if_exists_or_add }\n\
        \x20             - { name: x-who, value: \"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %PROTOCOL% ua=%REQ(User-Agent)% host=%REQ(:authority)% 100%%\" }\n\
        \x20             - { name: x-empty, value: \"%REQ(x-missing)%\" }\n\
        \x20             - { name: x-kept-empty, value: \"%REQ(x-missing)%\", keep_empty_value: true }\n\
        \x20             - { name: x-started, value: \"%START_TIME%\" }\n";
    let rw = Ringway::start(d, &config(listener, vhosts, &cluster("up", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    c.send(
        b"GET /p HTTP/1.1\r\nhost: front.test\r\nuser-agent: probe/1\r\nx-secret: s3\r\n\
          x-request-id: client-id\r\nx-append: first\r\nx-replace-if-there: old\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 200);
    let got = &up.wait_requests(1)[0];
    // Route, then virtual host, then listener: the least specific has the last word.
    assert_eq!(got.header_all("x-level"), ["listener"]);
    // ADD_IF_ABSENT at the listener sees the route's value.
    assert_eq!(got.header_all("x-only-if-absent"), ["route"]);
    assert_eq!(got.header_all("x-append"), ["first", "second"]);
    assert_eq!(got.header_all("x-replace-if-there"), ["new"]);
    assert_eq!(got.header("x-not-there"), None);
    assert_eq!(got.header("x-secret"), None);
    assert_eq!(
        got.header("x-request-id"),
        None,
        "removable like any header"
    );
    assert_eq!(got.header_all("x-forwarded-proto"), ["https"]);
    assert_eq!(
        got.header("x-who"),
        Some("127.0.0.1 HTTP/1.1 ua=probe/1 host=front.test 100%")
    );
    assert_eq!(got.header("x-empty"), None, "an empty value adds nothing");
    assert_eq!(got.header("x-kept-empty"), Some(""));
    let started = got.header("x-started").unwrap();
    assert!(
        started.len() == 24 && started.ends_with('Z') && started.as_bytes()[10] == b'T',
        "{started}"
    );
    assert_eq!(got.header_all("host"), ["backend.internal"]);
    assert!(got.header("x-forwarded-for").is_some());
}

fn response_mutations_edit_the_upstreams_head(d: Driver) {
    let up = chatty_upstream();
    let vhosts = "      - name: v\n        domains: [\"*\"]\n\
        \x20       response_headers_to_remove: [x-drop]\n\
        \x20       routes:\n\
        \x20         - match: { prefix: /direct }\n\
        \x20           direct_response: { status: 200, body: \"{}\" }\n\
        \x20           response_headers_to_add:\n\
        \x20             - { name: content-type, value: application/json, action: overwrite_if_exists_or_add }\n\
        \x20             - { name: cache-control, value: no-store }\n\
        \x20         - match: { prefix: / }\n            cluster: up\n\
        \x20           response_headers_to_remove: [x-powered-by]\n\
        \x20           response_headers_to_add:\n\
        \x20             - { name: x-served-by, value: \"%UPSTREAM_REMOTE_ADDRESS%\" }\n\
        \x20             - { name: x-client, value: \"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\" }\n\
        \x20             - { name: x-upstream, value: overwritten, action: overwrite_if_exists }\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("up", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    for _ in 0..2 {
        // Twice on one connection: the edited head leaves the connection sound.
        let r = c.get("a.test", "/x");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-powered-by"), None);
        assert_eq!(
            r.header("x-drop"),
            None,
            "the virtual host's removal applies too"
        );
        assert_eq!(r.header_all("x-upstream"), ["overwritten"]);
        assert_eq!(r.header("x-seen-target"), Some("/x"));
        assert_eq!(r.header("x-served-by"), Some(up.addr.to_string().as_str()));
        assert_eq!(r.header("x-client"), Some("127.0.0.1"));
        assert!(r.header("x-ringway-upstream-service-time").is_some());
    }
    let r = c.get("a.test", "/direct");
    assert_eq!(r.status, 200);
    assert_eq!(r.header_all("content-type"), ["application/json"]);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body_str(), "{}");
}

fn envoy_form_mutations_and_host_rewrite_literal(d: Driver) {
    let up = Upstream::echo("up");
    let yaml = format!(
        r#"static_resources:
  listeners:
  - name: edge
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: edge
          route_config:
            response_headers_to_add:
            - header: {{ key: x-edge, value: "1" }}
            virtual_hosts:
            - name: all
              domains: ["*"]
              request_headers_to_add:
              - header: {{ key: X-Client-IP, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }}
                append: false
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: up, host_rewrite_literal: upstream.internal }}
                request_headers_to_add:
                - header: {{ key: x-tag, value: a }}
                  append_action: ADD_IF_ABSENT
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}
"#,
        up.addr.ip(),
        up.addr.port()
    );
    let rw = Ringway::start(d, &yaml);
    let mut c = Client::connect(rw.addr());
    c.send(b"GET / HTTP/1.1\r\nhost: e.test\r\nx-client-ip: spoofed\r\nx-tag: mine\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.header("x-edge"), Some("1"));
    let got = &up.wait_requests(1)[0];
    assert_eq!(got.header_all("x-client-ip"), ["127.0.0.1"]);
    assert_eq!(got.header_all("x-tag"), ["mine"]);
    assert_eq!(got.header_all("host"), ["upstream.internal"]);
}

/// A strict_dns cluster whose name a hosts file answers: `auto_host_rewrite`
/// sends that name as `Host` (without the port, as Envoy's hostname is).
fn auto_host_rewrite_sends_the_dns_name(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("{} backend.test\n", up.addr.ip())).unwrap();
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: dns\n            auto_host_rewrite: true\n";
    let clusters = format!(
        "  - name: dns\n    type: strict_dns\n    hosts: [\"backend.test:{}\"]\n",
        up.addr.port()
    );
    let yaml = format!(
        "dns: {{ hosts_file: \"{}\", resolvers: [\"127.0.0.1:9\"] }}\n{}",
        hosts.display(),
        config("", vhosts, &clusters)
    );
    let rw = Ringway::start(d, &yaml);
    wait_until("the hosts file to resolve backend.test", || {
        get(rw.addr(), "front.test", "/").status == 200
    });
    let got = up.requests();
    assert_eq!(got.last().unwrap().header_all("host"), ["backend.test"]);
}

/// Envoy's router adds a route's response mutations to the local replies it
/// makes for that route (503 on a failed connect, …); a request no route
/// matched gets none.
fn ringways_own_answers_to_a_routed_request_get_its_response_headers(d: Driver) {
    let vhosts = "      - name: v\n        domains: [\"a.test\"]\n\
        \x20       response_headers_to_add: [{ name: strict-transport-security, value: max-age=60 }]\n\
        \x20       routes:\n\
        \x20         - match: { prefix: / }\n            cluster: dead\n\
        \x20           response_headers_to_add: [{ name: content-type, value: text/html, action: overwrite_if_exists_or_add }]\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("dead", &[refused_addr()])));
    let mut c = Client::connect(rw.addr());
    let r = c.get("a.test", "/");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));
    assert_eq!(
        r.header_all("content-type"),
        ["text/html"],
        "the route's type replaces text/plain"
    );
    assert!(
        r.body_str().starts_with("upstream connect error"),
        "{}",
        r.body_str()
    );
    let r = c.get("b.test", "/");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("strict-transport-security"), None);
}
