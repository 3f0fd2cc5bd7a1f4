//! Routing through the real binary: virtual host precedence, route order, prefix
//! vs exact path, prefix_rewrite with the query kept, round robin, keep-alive
//! reuse of upstream connections, pipelining and HTTP/1.0 clients.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    vhost_precedence,
    vhost_precedence_with_port,
    route_order_and_path_match,
    prefix_rewrite_keeps_query,
    absolute_form_target_routes_by_authority,
    no_route_is_404_and_keeps_connection,
    round_robin_across_three,
    keep_alive_reuses_upstream_connection,
    pool_is_shared_across_client_connections,
    pipelined_requests_answered_in_order,
    http10_without_keep_alive_closes,
    http10_keep_alive_when_asked,
    http10_keep_alive_local_replies_say_keep_alive,
    http10_without_host_goes_to_default_vhost,
    http10_gets_chunked_response_dechunked,
    driver_flag_is_honoured,
    many_pipelined_requests_across_reads,
    concurrent_clients_on_two_workers,
);

#[test]
fn check_rejects_bad_config_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    virtual_hosts: []\n    bogus_field: 1\nclusters: []\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus_field"), "error names the field: {err}");
}

/// Five vhosts, one upstream each: exact, two suffix wildcards, prefix, default.
fn vhost_setup(d: Driver) -> (Vec<Upstream>, Ringway) {
    let ups: Vec<Upstream> = ["exact", "suffix", "deep", "prefix", "default"]
        .iter()
        .map(|n| Upstream::echo(n))
        .collect();
    let vh = |name: &str, domain: &str, cluster: &str| {
        format!(
            "      - name: {name}\n        domains: [\"{domain}\"]\n        routes:\n          \
             - match: {{ prefix: / }}\n            cluster: {cluster}\n"
        )
    };
    // Declared in the reverse of precedence order: precedence must not depend on order.
    let vhosts = [
        vh("default", "*", "default"),
        vh("prefix", "api.*", "prefix"),
        vh("suffix", "*.example.com", "suffix"),
        vh("deep", "*.deep.example.com", "deep"),
        vh("exact", "api.example.com", "exact"),
    ]
    .concat();
    let clusters: String = ups.iter().map(|u| cluster(&u.name, &[u.addr])).collect();
    let rw = Ringway::start(d, &config("", &vhosts, &clusters));
    (ups, rw)
}

fn vhost_precedence(d: Driver) {
    let (_ups, rw) = vhost_setup(d);
    let cases = [
        ("api.example.com", "exact"),
        ("API.Example.COM", "exact"),
        ("www.example.com", "suffix"),
        ("a.b.example.com", "suffix"),
        ("x.deep.example.com", "deep"),
        ("api.other.org", "prefix"),
        ("api.other.org:81", "prefix"),
        ("www.example.com:8080", "suffix"),
        ("other.org:8080", "default"),
        ("other.org", "default"),
        ("example.com", "default"),
        ("127.0.0.1", "default"),
    ];
    let mut c = Client::connect(rw.addr());
    for (host, want) in cases {
        let r = c.get(host, "/p");
        assert_eq!(r.status, 200, "Host {host}");
        assert_eq!(r.header("x-upstream"), Some(want), "Host {host}");
    }
}

/// The vhost doc says the port is ignored unless a domain names one, so
/// `api.example.com:8080` is the exact domain `api.example.com`, which outranks
/// the `api.*` wildcard.
fn vhost_precedence_with_port(d: Driver) {
    let (_ups, rw) = vhost_setup(d);
    let r = get(rw.addr(), "api.example.com:8080", "/p");
    assert_eq!(r.header("x-upstream"), Some("exact"));
}

fn route_order_and_path_match(d: Driver) {
    let a = Upstream::echo("a");
    let b = Upstream::echo("b");
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { path: /exact }\n            cluster: a\n\
        \x20         - match: { prefix: /exact }\n            cluster: b\n\
        \x20         - match: { prefix: /first }\n            cluster: a\n\
        \x20         - match: { prefix: /first/second }\n            cluster: b\n";
    let clusters = cluster("a", &[a.addr]) + &cluster("b", &[b.addr]);
    let rw = Ringway::start(d, &config("", vhosts, &clusters));

    let cases = [
        ("/exact", "a"),
        ("/exact?x=1", "a"),
        ("/exact/", "b"),
        ("/exactly", "b"),
        ("/exact/more", "b"),
        ("/first", "a"),
        ("/first/second", "a"),
        ("/first/second/third", "a"),
        ("/firstclass", "a"),
    ];
    let mut c = Client::connect(rw.addr());
    for (path, want) in cases {
        let r = c.get("h", path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-upstream"), Some(want), "{path}");
        // The target is forwarded as sent, query included.
        assert_eq!(r.header("x-seen-target"), Some(path), "{path}");
    }
    // Matching is case-sensitive on the path, like Envoy's default.
    let r = c.get("h", "/EXACT");
    assert_eq!(r.status, 404);
}

fn prefix_rewrite_keeps_query(d: Driver) {
    let up = Upstream::echo("up");
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: /old }\n            cluster: c\n            prefix_rewrite: /new\n\
        \x20         - match: { prefix: /api/ }\n            cluster: c\n            prefix_rewrite: /\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    let cases = [
        ("/old/thing?q=1&b=%20x", "/new/thing?q=1&b=%20x"),
        ("/old", "/new"),
        ("/old?only=query", "/new?only=query"),
        ("/oldish", "/newish"),
        ("/api/v1/users?id=7", "/v1/users?id=7"),
    ];
    for (sent, seen) in cases {
        let r = c.get("h", sent);
        assert_eq!(r.status, 200, "{sent}");
        assert_eq!(r.header("x-seen-target"), Some(seen), "{sent}");
    }
}

fn absolute_form_target_routes_by_authority(d: Driver) {
    let a = Upstream::echo("a");
    let other = Upstream::echo("other");
    let vh = |domain: &str, cluster: &str| {
        format!(
            "      - domains: [\"{domain}\"]\n        routes:\n          \
             - match: {{ prefix: / }}\n            cluster: {cluster}\n"
        )
    };
    let vhosts = vh("a.test", "a") + &vh("*", "other");
    let clusters = cluster("a", &[a.addr]) + &cluster("other", &[other.addr]);
    let rw = Ringway::start(d, &config("", &vhosts, &clusters));
    let mut c = Client::connect(rw.addr());
    // RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host.
    let r = c.roundtrip(b"GET http://a.test/x?y=1 HTTP/1.1\r\nHost: not-a.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream"), Some("a"));
    assert_eq!(r.header("x-seen-target"), Some("/x?y=1"));
    let seen = a.wait_requests(1);
    assert_eq!(seen[0].header_all("host"), vec!["a.test"]);
}

fn no_route_is_404_and_keeps_connection(d: Driver) {
    let up = Upstream::echo("up");
    let vhosts = "      - domains: [\"only.test\"]\n        routes:\n\
        \x20         - match: { prefix: /yes }\n            cluster: c\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    let r = c.get("only.test", "/no");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("server"), Some("ringway"));
    assert!(!r.body.is_empty(), "local replies say what went wrong");
    // Unknown host: no default vhost, so 404 as well.
    let r = c.get("elsewhere.test", "/yes");
    assert_eq!(r.status, 404);
    // The connection is still good.
    let r = c.get("only.test", "/yes");
    assert_eq!(r.status, 200);
    assert_eq!(up.request_count(), 1);
}

fn round_robin_across_three(d: Driver) {
    let ups: Vec<Upstream> = ["u0", "u1", "u2"]
        .iter()
        .map(|n| Upstream::echo(n))
        .collect();
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let rw = Ringway::start(d, &simple_config(&addrs));
    let mut c = Client::connect(rw.addr());
    let order: Vec<String> = (0..9)
        .map(|i| {
            let r = c.get("h", &format!("/rr/{i}"));
            assert_eq!(r.status, 200);
            r.header("x-upstream").unwrap().to_string()
        })
        .collect();
    // Each upstream once per round, in the same order every round.
    let mut first: Vec<&String> = order[..3].iter().collect();
    first.sort();
    first.dedup();
    assert_eq!(first.len(), 3, "first round visits all three: {order:?}");
    for i in 3..9 {
        assert_eq!(order[i], order[i - 3], "periodic round robin: {order:?}");
    }
    for u in &ups {
        assert_eq!(u.request_count(), 3, "{} got 3 of 9", u.name);
    }
}

fn keep_alive_reuses_upstream_connection(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for i in 0..20 {
        let r = c.get("h", &format!("/n/{i}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-seen-target"), Some(format!("/n/{i}").as_str()));
    }
    // Requests with bodies keep the connection too.
    for i in 0..5 {
        let body = format!("body-{i}");
        let r = c.roundtrip(
            format!(
                "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(r.body_str(), body);
    }
    assert_eq!(up.accepted(), 1, "25 requests over one upstream connection");
    assert_eq!(up.request_count(), 25);
}

fn pool_is_shared_across_client_connections(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    for i in 0..10 {
        let r = get(rw.addr(), "h", &format!("/c/{i}"));
        assert_eq!(r.status, 200);
    }
    // One worker: each client connection finds the previous one's idle upstream.
    assert_eq!(up.accepted(), 1);
}

fn pipelined_requests_answered_in_order(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let mut batch = Vec::new();
    batch.extend_from_slice(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
    batch.extend_from_slice(b"POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\npayload");
    batch.extend_from_slice(
        b"POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    batch.extend_from_slice(b"HEAD /four HTTP/1.1\r\nHost: h\r\n\r\n");
    batch.extend_from_slice(b"GET /five HTTP/1.1\r\nHost: h\r\n\r\n");
    c.send(&batch);
    let r1 = c.read_response();
    let r2 = c.read_response();
    let r3 = c.read_response();
    let r4 = c.try_read_response(true).unwrap();
    let r5 = c.read_response();
    assert_eq!(r1.header("x-seen-target"), Some("/one"));
    assert_eq!(r2.header("x-seen-target"), Some("/two"));
    assert_eq!(r2.body_str(), "payload");
    assert_eq!(r3.header("x-seen-target"), Some("/three"));
    assert_eq!(r3.body_str(), "abcde");
    assert_eq!(r4.header("x-seen-target"), Some("/four"));
    assert_eq!(r5.header("x-seen-target"), Some("/five"));
    let seen: Vec<String> = up.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(seen, ["/one", "/two", "/three", "/four", "/five"]);
    assert!(c.pending().is_empty(), "nothing after the fifth response");
}

fn http10_without_keep_alive_closes(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET /ten HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-seen-target"), Some("/ten"));
    assert!(!r.has_token("connection", "keep-alive"));
    c.expect_closed();
    // Upstream side is HTTP/1.1 regardless of the client's version.
    let seen = up.wait_requests(1);
    assert_eq!(seen[0].version, 1);
}

fn http10_keep_alive_when_asked(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for i in 0..3 {
        let r = c.roundtrip(
            format!("GET /ka/{i} HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert!(
            r.has_token("connection", "keep-alive"),
            "HTTP/1.0 keep-alive is confirmed: {:?}",
            r.headers
        );
    }
    // The last request without keep-alive ends the connection.
    let r = c.roundtrip(b"GET /last HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    c.expect_closed();
}

/// `ab -k` waited forever on ringway's own replies: an HTTP/1.0 client keeps
/// the connection only when the response says `connection: keep-alive`.
fn http10_keep_alive_local_replies_say_keep_alive(d: Driver) {
    let up = Upstream::echo("up");
    let vhosts = "      - domains: [\"only.test\"]\n        routes:\n\
        \x20         - match: { prefix: /yes }\n            cluster: c\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    for _ in 0..2 {
        let r =
            c.roundtrip(b"GET /no HTTP/1.0\r\nHost: only.test\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(r.status, 404);
        assert!(
            r.has_token("connection", "keep-alive"),
            "a kept HTTP/1.0 connection is announced: {:?}",
            r.headers
        );
    }
    let r = c.roundtrip(b"GET /yes HTTP/1.0\r\nHost: only.test\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200);
    // Without keep-alive the reply says close, and the connection ends.
    let r = c.roundtrip(b"GET /no HTTP/1.0\r\nHost: only.test\r\n\r\n");
    assert_eq!(r.status, 404);
    assert!(r.has_token("connection", "close"), "{:?}", r.headers);
    c.expect_closed();
}

fn http10_without_host_goes_to_default_vhost(d: Driver) {
    let named = Upstream::echo("named");
    let default = Upstream::echo("default");
    let vhosts = "      - domains: [\"named.test\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: named\n\
        \x20     - domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: default\n";
    let clusters = cluster("named", &[named.addr]) + &cluster("default", &[default.addr]);
    let rw = Ringway::start(d, &config("", vhosts, &clusters));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET /nohost HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-upstream"), Some("default"));
    // The upstream still gets a Host (HTTP/1.1 requires one): exactly one.
    let seen = default.wait_requests(1);
    assert_eq!(seen[0].header_all("host").len(), 1, "{:?}", seen[0].headers);
}

fn http10_gets_chunked_response_dechunked(d: Driver) {
    let body: Vec<u8> = (0..100_000u64).map(pattern_byte).collect();
    let b = body.clone();
    let up = Upstream::start("up", move |_| Reply::Bytes(chunked_response(&b, 4000)));
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET /chunky HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("transfer-encoding"),
        None,
        "no chunked to HTTP/1.0"
    );
    assert_eq!(r.framing, "close", "delimited by close: {:?}", r.headers);
    assert_eq!(r.body.len(), body.len());
    assert!(r.body == body, "de-chunked body intact");

    // Even when the HTTP/1.0 client asked for keep-alive: a chunked upstream
    // body can only be delimited by closing.
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET /chunky HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), None);
    assert!(r.body == body);
}

fn driver_flag_is_honoured(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    assert_eq!(get(rw.addr(), "h", "/").status, 200);
    wait_until("the worker to log its driver", || {
        rw.stderr().contains("worker started")
    });
    let log = rw.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("worker started"))
        .unwrap()
        .to_string();
    assert!(
        line.contains(d.log_name()),
        "worker runs {}: {line}",
        d.log_name()
    );
}

/// 300 small pipelined requests in one write: far more than one 16 KiB read,
/// so some request is split between reads.
fn many_pipelined_requests_across_reads(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let pad = "p".repeat(100);
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.extend_from_slice(
            format!("GET /pipe/{i} HTTP/1.1\r\nHost: h\r\nX-Pad: {pad}\r\n\r\n").as_bytes(),
        );
    }
    assert!(batch.len() > 2 * 16 * 1024);
    c.send(&batch);
    for i in 0..300 {
        let r = c.read_response();
        assert_eq!(r.status, 200, "request {i}: {}", r.body_str());
        assert_eq!(
            r.header("x-seen-target"),
            Some(format!("/pipe/{i}").as_str())
        );
    }
}

fn concurrent_clients_on_two_workers(d: Driver) {
    let ups: Vec<Upstream> = ["a", "b"].iter().map(|n| Upstream::echo(n)).collect();
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let cfg = simple_config(&addrs).replace("workers: 1", "workers: 2");
    let rw = Ringway::start(d, &cfg);
    let addr = rw.addr();
    let clients: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..10 {
                    let path = format!("/t{t}/r{i}");
                    let r = c.get("h", &path);
                    assert_eq!(r.status, 200);
                    assert_eq!(r.header("x-seen-target"), Some(path.as_str()));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    let total: usize = ups.iter().map(Upstream::request_count).sum();
    assert_eq!(total, 320);
}
