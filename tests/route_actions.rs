//! Routes that answer without a cluster, through the real binary: `redirect`
//! (each part of the URL replaced or kept as Envoy does) and `direct_response`
//! (status and body as configured), in the native schema and the Envoy form.
//! Each checks that the upstream saw nothing and that the connection carries on.
//! And `weighted_clusters`, whose split is checked statistically.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    redirects_build_the_location_from_the_request,
    direct_responses_answer_as_configured,
    envoy_form_redirect_and_direct_response,
    weighted_clusters_split_by_weight,
);

fn redirects_build_the_location_from_the_request(d: Driver) {
    let up = Upstream::echo("up");
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: /secure }\n            redirect: { scheme: https }\n\
        \x20         - match: { prefix: /old/ }\n            redirect: { prefix_rewrite: /new/, status: 308, strip_query: true }\n\
        \x20         - match: { path: /moved }\n            redirect: { host: other.test, port: 8443, path: /landing, status: 302 }\n\
        \x20         - match: { prefix: / }\n            cluster: up\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("up", &[up.addr])));
    let mut c = Client::connect(rw.addr());

    let r = c.get("a.test:80", "/secure/x?q=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://a.test/secure/x?q=1"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("content-type"), None, "no body, no type");

    let r = c.get("a.test:8080", "/old/page?drop=me");
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some("http://a.test:8080/new/page"));

    let r = c.get("a.test", "/moved?keep=1");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://other.test:8443/landing?keep=1")
    );

    // The same connection still proxies, and the upstream saw only this request.
    let r = c.get("a.test", "/proxied");
    assert_eq!((r.status, r.header("x-upstream")), (200, Some("up")));
    assert_eq!(up.request_count(), 1);
}

fn direct_responses_answer_as_configured(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("maintenance.html");
    std::fs::write(&file, "<h1>back soon</h1>").unwrap();
    let vhosts = format!(
        "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: {{ path: /ping }}\n            direct_response: {{ status: 200, body: pong }}\n\
        \x20         - match: {{ path: /empty }}\n            direct_response: {{ status: 204 }}\n\
        \x20         - match: {{ prefix: /down }}\n            direct_response: {{ status: 503, body_file: {} }}\n\
        \x20         - match: {{ prefix: / }}\n            cluster: up\n",
        file.display()
    );
    let rw = Ringway::start(d, &config("", &vhosts, &cluster("up", &[up.addr])));
    let mut c = Client::connect(rw.addr());

    let r = c.get("a.test", "/ping");
    assert_eq!((r.status, r.body_str().as_str()), (200, "pong"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("server"), Some("ringway"));

    let r = c.get("a.test", "/empty");
    assert_eq!((r.status, r.body.len()), (204, 0));

    let r = c.get("a.test", "/down/anything");
    assert_eq!(r.status, 503);
    assert_eq!(r.body_str(), "<h1>back soon</h1>");

    // HEAD: the length of the body that a GET would get, and no body.
    c.send(b"HEAD /ping HTTP/1.1\r\nhost: a.test\r\n\r\n");
    let r = c.try_read_response(true).unwrap();
    assert_eq!((r.status, r.header("content-length")), (200, Some("4")));
    assert!(r.body.is_empty());

    let r = c.get("a.test", "/proxied");
    assert_eq!(r.status, 200);
    assert_eq!(
        up.request_count(),
        1,
        "direct responses never reach the upstream"
    );
}

fn envoy_form_redirect_and_direct_response(d: Driver) {
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
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: /http }}
                redirect: {{ https_redirect: true, response_code: TEMPORARY_REDIRECT }}
              - match: {{ path: /healthz }}
                direct_response: {{ status: 200, body: {{ inline_string: "ok" }} }}
              - match: {{ prefix: / }}
                route: {{ cluster: up }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    type: STATIC
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
    let r = c.get("edge.test", "/http/x");
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("https://edge.test/http/x"));
    let r = c.get("edge.test", "/healthz");
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    let r = c.get("edge.test", "/other");
    assert_eq!(r.header("x-upstream"), Some("up"));
    assert_eq!(up.request_count(), 1);
}

/// 3:1:0 over 400 requests: each request draws on its own, so the counts are
/// binomial (mean 300, standard deviation about 8.7 for the heavy side); the
/// bounds are seven deviations wide, and the weight-0 cluster gets nothing.
/// Each cluster's own header mutations and host rewrite apply to its requests.
fn weighted_clusters_split_by_weight(d: Driver) {
    const REQUESTS: usize = 400;
    let heavy = Upstream::echo("heavy");
    let light = Upstream::echo("light");
    let never = Upstream::echo("never");
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            weighted_clusters:\n\
        \x20             - { cluster: heavy, weight: 3, request_headers_to_add: [{ name: x-split, value: heavy }] }\n\
        \x20             - { cluster: light, weight: 1, host_rewrite: light.internal }\n\
        \x20             - { cluster: never, weight: 0 }\n\
        \x20           request_headers_to_add: [{ name: x-split, value: route, action: add_if_absent }]\n";
    let clusters = cluster("heavy", &[heavy.addr])
        + &cluster("light", &[light.addr])
        + &cluster("never", &[never.addr]);
    let rw = Ringway::start(d, &config("", vhosts, &clusters));
    let mut c = Client::connect(rw.addr());
    let mut heavy_count = 0;
    for _ in 0..REQUESTS {
        let r = c.get("a.test", "/");
        assert_eq!(r.status, 200);
        match r.header("x-upstream") {
            Some("heavy") => heavy_count += 1,
            Some("light") => {}
            other => panic!("unexpected upstream {other:?}"),
        }
    }
    assert!(
        (240..=360).contains(&heavy_count),
        "heavy got {heavy_count} of {REQUESTS} (expected about 300)"
    );
    assert_eq!(heavy.request_count() + light.request_count(), REQUESTS);
    assert_eq!(never.request_count(), 0);
    // Each cluster's own mutations run before the route's, for its requests only.
    for r in heavy.requests() {
        assert_eq!(r.header_all("x-split"), ["heavy"]);
        assert_eq!(r.header("host"), Some("a.test"));
    }
    for r in light.requests() {
        assert_eq!(r.header_all("x-split"), ["route"]);
        assert_eq!(r.header("host"), Some("light.internal"));
    }
}
