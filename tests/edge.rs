//! Edge behaviour through the real binary, checked against what an echoing
//! upstream received: Envoy's x-forwarded-for / x-forwarded-proto /
//! x-envoy-external-address table (`use_remote_address` × `xff_num_trusted_hops`
//! × a client XFF or none), `x-request-id` generated, preserved or replaced,
//! internal addresses, `x-forwarded-proto` over TLS, `headers_with_underscores_action`
//! and `max_requests_per_connection`.

#[macro_use]
mod support;

use support::tls::*;
use support::*;

driver_tests!(
    envoy_xff_table,
    request_id_generated_preserved_or_replaced,
    internal_addresses_are_not_edge_requests,
    x_forwarded_proto_over_tls,
    headers_with_underscores_each_action,
    max_requests_per_connection_closes_after_n,
    native_forwarding_block,
    retriable_4xx_retries_a_409,
    typed_dns_resolver_config_names_the_resolver,
    global_connection_limit_closes_over_it,
    envoy_internal_only_headers_are_stripped,
);

/// One Envoy listener named `name` whose connection manager carries `hcm`
/// (extra keys, indented 10 spaces) and routes everything to `up`.
fn envoy_listener(name: &str, hcm: &str) -> String {
    envoy::listener(name, name, hcm, &envoy::route_all("up"))
}

fn envoy_file(listeners: &[String], up: &Upstream) -> String {
    envoy::file(listeners, &[envoy::cluster("up", up.addr)], "")
}

const CLIENT_XFF: &str = "203.0.113.128, 203.0.113.10, 203.0.113.1";

/// Envoy's documented cases, with the peer 127.0.0.1.
fn envoy_xff_table(d: Driver) {
    let up = Upstream::echo("up");
    let mut listeners = Vec::new();
    for remote in [true, false] {
        for hops in [0, 1, 2] {
            let hcm = format!(
                "          use_remote_address: {remote}\n          xff_num_trusted_hops: {hops}\n"
            );
            listeners.push(envoy_listener(&format!("l_{remote}_{hops}"), &hcm));
        }
    }
    let rw = Ringway::start_listeners(d, &envoy_file(&listeners, &up), listeners.len());
    let mut seen = 0;
    for remote in [true, false] {
        for hops in [0u32, 1, 2] {
            let addr = rw.listener(&format!("l_{remote}_{hops}"));
            let case = format!("use_remote_address {remote}, hops {hops}");
            // With a client XFF (and a client x-forwarded-proto: https).
            let extra = format!("x-forwarded-for: {CLIENT_XFF}\r\nx-forwarded-proto: https\r\n");
            assert_eq!(request(addr, "GET", "/xff", &extra).status, 200);
            seen += 1;
            let got = up.wait_requests(seen).pop().unwrap();
            let (xff, external, xfp) = match (remote, hops) {
                (true, 0) => (
                    format!("{CLIENT_XFF}, 127.0.0.1"),
                    Some("127.0.0.1"),
                    "http",
                ),
                (true, 1) => (
                    format!("{CLIENT_XFF}, 127.0.0.1"),
                    Some("203.0.113.1"),
                    "https",
                ),
                (true, _) => (
                    format!("{CLIENT_XFF}, 127.0.0.1"),
                    Some("203.0.113.10"),
                    "https",
                ),
                (false, _) => (CLIENT_XFF.to_string(), None, "https"),
            };
            assert_eq!(got.header_all("x-forwarded-for"), [xff.as_str()], "{case}");
            assert_eq!(got.header("x-envoy-external-address"), external, "{case}");
            assert_eq!(got.header_all("x-forwarded-proto"), [xfp], "{case}");
            // Without: the peer is the client (or nothing is said of it).
            assert_eq!(request(addr, "GET", "/none", "").status, 200);
            seen += 1;
            let got = up.wait_requests(seen).pop().unwrap();
            let (xff, external) = if remote {
                (vec!["127.0.0.1"], Some("127.0.0.1"))
            } else {
                (vec![], None)
            };
            assert_eq!(got.header_all("x-forwarded-for"), xff, "{case}, no XFF");
            assert_eq!(got.header("x-envoy-external-address"), external, "{case}");
            assert_eq!(got.header_all("x-forwarded-proto"), ["http"], "{case}");
        }
    }
}

fn is_uuid_v4(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

fn request_id_generated_preserved_or_replaced(d: Driver) {
    let up = Upstream::echo("up");
    let listeners = [
        envoy_listener("edge", "          use_remote_address: true\n"),
        envoy_listener(
            "keep",
            "          use_remote_address: true\n          preserve_external_request_id: true\n",
        ),
        envoy_listener("inner", ""),
        envoy_listener("off", "          generate_request_id: false\n"),
    ];
    let rw = Ringway::start_listeners(d, &envoy_file(&listeners, &up), listeners.len());
    let mut seen = 0;
    let mut id_at = |name: &str, extra: &str| {
        assert_eq!(request(rw.listener(name), "GET", "/", extra).status, 200);
        seen += 1;
        let got = up.wait_requests(seen).pop().unwrap();
        got.header_all("x-request-id")
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let mine = "x-request-id: client-id\r\n";
    // An edge request's id is Envoy's own, unless preserved.
    let edge = id_at("edge", mine);
    assert!(edge.len() == 1 && is_uuid_v4(&edge[0]), "{edge:?}");
    assert_eq!(id_at("keep", mine), ["client-id"]);
    // Behind an edge (use_remote_address false): kept.
    assert_eq!(id_at("inner", mine), ["client-id"]);
    // None sent: generated everywhere but where generation is off.
    for name in ["edge", "keep", "inner"] {
        let got = id_at(name, "");
        assert!(got.len() == 1 && is_uuid_v4(&got[0]), "{name}: {got:?}");
    }
    assert!(id_at("off", "").is_empty());
    assert_eq!(id_at("off", mine), ["client-id"]);
    // Two generated ids differ.
    assert_ne!(id_at("edge", ""), id_at("edge", ""));
}

fn internal_addresses_are_not_edge_requests(d: Driver) {
    let up = Upstream::echo("up");
    let hcm = "          use_remote_address: true\n          internal_address_config:\n            cidr_ranges:\n            - { address_prefix: 127.0.0.0, prefix_len: 8 }\n";
    let listeners = [envoy_listener("edge", hcm)];
    let rw = Ringway::start(d, &envoy_file(&listeners, &up));
    let r = request(
        rw.addr(),
        "GET",
        "/",
        "x-request-id: mine\r\nx-envoy-external-address: 198.51.100.1\r\n",
    );
    assert_eq!(r.status, 200);
    let got = &up.wait_requests(1)[0];
    // Internal: no external address of ours (the caller's passes), id kept,
    // and Envoy's mark.
    assert_eq!(got.header_all("x-envoy-external-address"), ["198.51.100.1"]);
    assert_eq!(got.header_all("x-request-id"), ["mine"]);
    assert_eq!(got.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(got.header_all("x-envoy-internal"), ["true"]);
    // A client XFF makes it external (Envoy: a single XFF address only):
    // the spoofed external address is replaced.
    let r = request(
        rw.addr(),
        "GET",
        "/",
        "x-forwarded-for: 10.0.0.1\r\nx-envoy-external-address: 198.51.100.1\r\n",
    );
    assert_eq!(r.status, 200);
    let got = &up.wait_requests(2)[1];
    assert_eq!(got.header_all("x-envoy-external-address"), ["127.0.0.1"]);
    assert!(got.header("x-envoy-internal").is_none());
}

/// An external request cannot pass Envoy's internal-only controls to an
/// Envoy behind ringway; a native listener leaves them alone.
fn envoy_internal_only_headers_are_stripped(d: Driver) {
    let up = Upstream::echo("up");
    let listeners = [
        envoy_listener("edge", "          use_remote_address: true\n"),
        envoy_listener("inner", ""),
    ];
    let rw = Ringway::start_listeners(d, &envoy_file(&listeners, &up), listeners.len());
    let sneaky = "x-envoy-internal: true\r\nx-envoy-retry-on: 5xx\r\n\
        x-envoy-upstream-rq-timeout-ms: 1\r\nx-envoy-decorator-operation: op\r\n\
        x-envoy-custom: kept\r\n";
    for (i, (name, decorator)) in [("edge", None), ("inner", Some("op"))]
        .into_iter()
        .enumerate()
    {
        assert_eq!(request(rw.listener(name), "GET", "/", sneaky).status, 200);
        let got = up.wait_requests(i + 1).pop().unwrap();
        for h in [
            "x-envoy-internal",
            "x-envoy-retry-on",
            "x-envoy-upstream-rq-timeout-ms",
        ] {
            assert!(got.header(h).is_none(), "{name}: {h}");
        }
        // Dropped at the edge only.
        assert_eq!(
            got.header("x-envoy-decorator-operation"),
            decorator,
            "{name}"
        );
        assert_eq!(got.header("x-envoy-custom"), Some("kept"));
    }
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    assert_eq!(request(rw.addr(), "GET", "/", sneaky).status, 200);
    let got = up.wait_requests(3).pop().unwrap();
    assert_eq!(got.header("x-envoy-retry-on"), Some("5xx"));
    assert_eq!(got.header("x-envoy-internal"), Some("true"));
}

fn x_forwarded_proto_over_tls(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("edge test CA");
    let leaf = ca.issue(dir.path(), "a", &["a.test"]);
    let up = Upstream::echo("up");
    let tls = format!(
        "    tls:\n      certificates:\n        - {{ cert_chain: \"{}\", private_key: \"{}\" }}\n",
        leaf.cert_path, leaf.key_path
    );
    let trusting = format!("{tls}    forwarding: {{ xff_num_trusted_hops: 1 }}\n");
    let client = std::sync::Arc::new(ca.client_config(&[b"http/1.1"]));
    let mut seen = 0;
    for (listener, want) in [(&tls, "https"), (&trusting, "http")] {
        let rw = Ringway::start(
            d,
            &config(listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
        );
        let mut c = tls_connect(rw.addr(), "a.test", &client);
        let r = c.roundtrip(b"GET / HTTP/1.1\r\nhost: a.test\r\nx-forwarded-proto: http\r\n\r\n");
        assert_eq!(r.status, 200);
        seen += 1;
        let got = up.wait_requests(seen).pop().unwrap();
        // Untrusted: set from the connection; from a trusted hop: the client's.
        assert_eq!(got.header_all("x-forwarded-proto"), [want], "{listener}");
    }
}

fn headers_with_underscores_each_action(d: Driver) {
    let up = Upstream::echo("up");
    let opts = |action: &str| {
        format!(
            "          common_http_protocol_options:\n            headers_with_underscores_action: {action}\n"
        )
    };
    let listeners = [
        envoy_listener("allow", &opts("ALLOW")),
        envoy_listener("reject", &opts("REJECT_REQUEST")),
        envoy_listener("drop", &opts("DROP_HEADER")),
    ];
    let yaml = format!(
        "admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }} }}\n{}",
        envoy_file(&listeners, &up)
    );
    let rw = Ringway::start_listeners(d, &yaml, listeners.len());
    let head = b"GET / HTTP/1.1\r\nhost: a\r\nx_user: admin\r\nx-ok: 1\r\n\r\n";

    let mut c = Client::connect(rw.listener("allow"));
    assert_eq!(c.roundtrip(head).status, 200);
    let got = up.wait_requests(1).pop().unwrap();
    assert_eq!(got.header("x_user"), Some("admin"));

    let mut c = Client::connect(rw.listener("drop"));
    assert_eq!(c.roundtrip(head).status, 200);
    let got = up.wait_requests(2).pop().unwrap();
    assert_eq!(got.header("x_user"), None);
    assert_eq!(got.header("x-ok"), Some("1"));

    let mut c = Client::connect(rw.listener("reject"));
    assert_eq!(c.roundtrip(head).status, 400);
    c.expect_closed();
    assert_eq!(up.request_count(), 2, "the upstream saw nothing");
    // A follow-up without underscores is served.
    let r = get(rw.listener("reject"), "a", "/");
    assert_eq!(r.status, 200);
    wait_until("the underscore counters", || {
        let st = admin::stats(rw.admin());
        admin::stat(
            &st,
            "http.reject.http1.requests_rejected_with_underscores_in_headers",
        ) == 1
            && admin::stat(&st, "http.drop.http1.dropped_headers_with_underscores") == 1
    });
}

fn max_requests_per_connection_closes_after_n(d: Driver) {
    let up = Upstream::echo("up");
    let opts =
        "          common_http_protocol_options:\n            max_requests_per_connection: 2\n";
    let rw = Ringway::start(d, &envoy_file(&[envoy_listener("l", opts)], &up));
    let mut c = Client::connect(rw.addr());
    let first = c.get("a", "/1");
    assert_eq!(first.status, 200);
    assert!(!first.has_token("connection", "close"));
    let second = c.get("a", "/2");
    assert_eq!(second.status, 200);
    assert!(second.has_token("connection", "close"), "the 2nd of 2");
    c.expect_closed();
    assert_eq!(up.request_count(), 2);
}

/// The native block: a named external-address header, trusted hops, and
/// generation off.
fn native_forwarding_block(d: Driver) {
    let up = Upstream::echo("up");
    let listener = "    forwarding:\n      xff_num_trusted_hops: 1\n      \
        external_address_header: X-Client-Edge\n      generate_request_id: false\n      \
        preserve_external_request_id: false\n";
    let rw = Ringway::start(
        d,
        &config(listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let r = request(
        rw.addr(),
        "GET",
        "/",
        "x-forwarded-for: 192.0.2.7\r\nx-client-edge: spoof\r\n",
    );
    assert_eq!(r.status, 200);
    let got = &up.wait_requests(1)[0];
    assert_eq!(got.header_all("x-client-edge"), ["192.0.2.7"]);
    assert_eq!(got.header_all("x-forwarded-for"), ["192.0.2.7, 127.0.0.1"]);
    assert!(got.header("x-request-id").is_none());
    // The default native listener: unchanged behaviour.
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let r = request(
        rw.addr(),
        "GET",
        "/",
        "x-request-id: mine\r\nx-forwarded-proto: https\r\n",
    );
    assert_eq!(r.status, 200);
    let got = &up.wait_requests(2)[1];
    assert_eq!(got.header_all("x-request-id"), ["mine"]);
    assert_eq!(got.header_all("x-forwarded-proto"), ["http"]);
    assert_eq!(got.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert!(got.header("x-client-edge").is_none());
}

/// `retriable-4xx` retries a 409 on the other host; a never-matching word
/// beside it changes nothing.
fn retriable_4xx_retries_a_409(d: Driver) {
    let conflict = Upstream::start("conflict", |_| {
        Reply::Bytes(b"HTTP/1.1 409 Conflict\r\ncontent-length: 0\r\n\r\n".to_vec())
    });
    let good = Upstream::echo("good");
    let yaml = envoy_file(&[envoy_listener("l", "")], &good)
        .replace(
            "route: { cluster: up }",
            "route: { cluster: up, retry_policy: { retry_on: \"retriable-4xx,envoy-ratelimited\", num_retries: 1 } }",
        )
        .replace(
            "      - lb_endpoints:\n",
            &format!(
                "      - lb_endpoints:\n        - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}\n",
                conflict.addr.ip(),
                conflict.addr.port()
            ),
        );
    let rw = Ringway::start(d, &yaml);
    let mut c = Client::connect(rw.addr());
    for i in 0..4 {
        let r = c.get("a", &format!("/{i}"));
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.header("x-upstream"), Some("good"));
    }
    assert!(conflict.request_count() > 0, "round robin met the 409 host");
}

/// The c-ares resolver's `resolvers` are the name servers ringway asks.
fn typed_dns_resolver_config_names_the_resolver(d: Driver) {
    let dns = support::dns::DnsResponder::start();
    let up = Upstream::echo("up");
    let name = "edge-typed-dns.test";
    dns.answer(name, &[up.addr.ip()], 30);
    let yaml = envoy_file(&[envoy_listener("l", "")], &up)
        .replace("    type: STATIC\n", "    type: STRICT_DNS\n")
        .replace(
            &format!("address: \"{}\", port_value", up.addr.ip()),
            &format!("address: {name}, port_value"),
        );
    let yaml = format!(
        "typed_dns_resolver_config:\n  name: envoy.network.dns_resolver.cares\n  typed_config:\n    \
         \"@type\": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig\n    \
         resolvers:\n    - socket_address: {{ address: 127.0.0.1, port_value: {} }}\n{yaml}",
        dns.addr.port()
    );
    let rw = Ringway::start(d, &yaml);
    let r = wait_for("the DNS cluster to have its host", || {
        let r = get(rw.addr(), "a", "/dns");
        (r.status == 200).then_some(r)
    });
    assert_eq!(r.header("x-upstream"), Some("up"));
    assert!(dns.queries(name) > 0);
}

/// The top-level `max_connections` (one worker: the whole limit is its
/// share) closes a connection over it at accept; an exempt listener is not held to it.
fn global_connection_limit_closes_over_it(d: Driver) {
    let up = Upstream::echo("up");
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\nmax_connections: 1\n{}",
        config("", &catch_all("c", ""), &cluster("c", &[up.addr]))
    )
    .replace(
        "listeners:\n",
        "listeners:\n  - name: exempt\n    address: 127.0.0.1:0\n    ignore_global_connection_limit: true\n    \
         virtual_hosts:\n      - name: all\n        domains: [\"*\"]\n        routes:\n          \
         - match: { prefix: / }\n            direct_response: { status: 204 }\n",
    );
    let rw = Ringway::start_listeners(d, &yaml, 2);
    let mut first = Client::connect(rw.listener("ingress"));
    assert_eq!(first.get("a", "/1").status, 200);
    let mut second = Client::connect(rw.listener("ingress"));
    second.send(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        matches!(
            second.try_read_response(false),
            Err(ReadFail::Closed | ReadFail::Io(_))
        ),
        "closed at accept"
    );
    // Neither held to the limit nor counted against it.
    let mut exempt = Client::connect(rw.listener("exempt"));
    assert_eq!(exempt.get("a", "/").status, 204);
    let st = admin::stats(rw.admin());
    assert!(admin::stat(&st, "http.ingress.downstream_global_cx_overflow") >= 1);
    // Once the first closes, a new connection is served.
    drop(first);
    wait_until("a connection under the limit", || {
        let mut c = Client::connect(rw.listener("ingress"));
        c.send(b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
        c.try_read_response(false).is_ok_and(|r| r.status == 200)
    });
}
