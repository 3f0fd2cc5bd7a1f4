//! HTTP/2 to upstreams through the real binary: an `h2`-crate upstream
//! (h2c, and h2 over TLS by ALPN) reached by HTTP/1.1 clients, curl with
//! prior knowledge and the `h2` crate as a client; large bodies both ways;
//! trailers; a refused stream replayed; GOAWAY mid-traffic; one connection
//! carrying many streams and a peer's stream limit opening more; `protocol:
//! auto` choosing by ALPN; gRPC-shaped calls; nghttpd as a strict
//! HTTP/2-only upstream; an HTTP/2 client reaching an HTTP/1.1 upstream;
//! PING keepalives finding a dead connection; a pumped request body ended
//! with its exchange; and connections vs streams in the gauges.

#[macro_use]
mod support;

use std::{net::SocketAddr, process::Command};

use bytes::Bytes;
use h2::client::SendRequest;
use support::{
    h2_client::{block_on, connect, curl},
    h2_upstream::{H2Behaviour, H2Upstream},
    *,
};

driver_tests!(
    http1_and_http2_clients_reach_an_h2c_upstream,
    large_bodies_cross_both_ways_within_flow_control,
    a_head_http2_cannot_carry_is_the_clients_400,
    a_pumped_body_is_held_to_the_minimum_rate,
    a_refused_stream_is_sent_again_and_succeeds,
    goaway_mid_traffic_fails_no_request,
    one_connection_carries_many_streams,
    the_peers_stream_limit_opens_more_connections,
    h2_over_tls_and_auto_by_alpn,
    grpc_unary_and_streaming_calls_pass_with_their_trailers,
    nghttpd_as_an_http2_only_upstream,
    a_connection_whose_pings_go_unanswered_is_closed_and_replaced,
    a_connection_that_answers_its_pings_lives_on,
    an_idle_connection_is_pinged_before_its_next_stream,
    a_timed_out_streamed_request_resets_its_upstream_stream_at_once,
    cx_active_counts_connections_and_rq_active_streams,
);

async fn h2_connect(addr: SocketAddr) -> SendRequest<Bytes> {
    connect(addr).await.0
}

/// Status, headers, body and trailers of one response.
async fn h2_call(
    client: &mut SendRequest<Bytes>,
    req: http::Request<()>,
    body: &[u8],
) -> (http::response::Parts, Vec<u8>, Option<http::HeaderMap>) {
    let mut c = client.clone().ready().await.expect("ready");
    let (resp, mut send) = c.send_request(req, body.is_empty()).expect("send");
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body), true)
            .expect("data");
    }
    read_all(resp.await.expect("response")).await
}

async fn read_all(
    resp: http::Response<h2::RecvStream>,
) -> (http::response::Parts, Vec<u8>, Option<http::HeaderMap>) {
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body data");
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.expect("trailers");
    (parts, out, trailers)
}

fn req(method: &str, path: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(format!("http://app.test{path}"))
}

/// An HTTP/2 cluster `c` over `hosts` (`extra`: more cluster keys).
fn h2_config(hosts: &[SocketAddr], extra: &str) -> String {
    let cluster = format!("{}    protocol: http2\n{extra}", cluster("c", hosts));
    config("", &catch_all("c", ""), &cluster)
}

fn http1_and_http2_clients_reach_an_h2c_upstream(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let with_admin = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(&[up.addr], "")
    );
    let rw = Ringway::start(d, &with_admin);
    // HTTP/1.1 client, GET and POST on one keep-alive connection.
    let mut c = Client::connect(rw.addr());
    let r = c.get("app.test", "/a?x=1");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.body_str(), "u1 /a?x=1");
    assert_eq!(r.header("x-seen-authority"), Some("app.test"));
    assert_eq!(r.header("x-seen-scheme"), Some("http"));
    let r = c.roundtrip(
        b"POST /p HTTP/1.1\r\nhost: app.test\r\ncontent-length: 5\r\nte: trailers\r\nconnection: keep-alive\r\n\r\nhello",
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
    assert_eq!(
        r.header("x-seen-te"),
        Some("trailers"),
        "te: trailers is kept"
    );
    let seen = up.seen();
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].body, b"hello");
    assert!(seen[1].header("x-request-id").is_some());
    assert_eq!(seen[1].header("connection"), None);
    // curl with prior knowledge, then the h2 crate with trailers both ways.
    let out = curl(&[
        "--http2-prior-knowledge",
        "-D",
        "-",
        &format!("http://{}/curl", rw.addr()),
    ]);
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.ends_with("u1 /curl"), "{out}");
    block_on(async {
        let mut client = h2_connect(rw.addr()).await;
        let request = req("POST", "/h2")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (parts, body, trailers) = h2_call(&mut client, request, b"from h2").await;
        assert_eq!(parts.status, 200);
        assert_eq!(body, b"from h2");
        let trailers = trailers.expect("trailers relayed");
        assert_eq!(trailers["x-upstream-trailer"], "u1");
    });
    // Every request shared one upstream connection, and is counted as any is.
    assert_eq!(up.connections(), 1);
    assert_eq!(up.streams(), 4);
    let st = wait_for("four upstream requests counted", || {
        let st = admin::stats(rw.admin());
        (admin::stat(&st, "cluster.c.upstream_rq_2xx") == 4).then_some(st)
    });
    assert_eq!(admin::stat(&st, "cluster.c.upstream_rq_total"), 4);
    assert_eq!(admin::stat(&st, "cluster.c.upstream_cx_total"), 1);
}

fn large_bodies_cross_both_ways_within_flow_control(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    // HTTP/1.1 upload (streamed: too large to hold), echoed back chunked.
    let mut c = Client::connect(rw.addr());
    let mut raw = format!(
        "POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    raw.extend_from_slice(&big);
    let r = c.roundtrip(&raw);
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "the HTTP/1.1 echo came back whole ({} bytes)",
        r.body.len()
    );
    // HTTP/2 upload without a length, in pieces, echoed back.
    block_on(async {
        let mut client = h2_connect(rw.addr()).await;
        let mut c = client.clone().ready().await.unwrap();
        let (resp, mut send) = c
            .send_request(req("POST", "/big2").body(()).unwrap(), false)
            .unwrap();
        for piece in big.chunks(100_000) {
            send.reserve_capacity(piece.len());
            send.send_data(Bytes::copy_from_slice(piece), false)
                .unwrap();
        }
        send.send_data(Bytes::new(), true).unwrap();
        let (parts, body, _) = read_all(resp.await.unwrap()).await;
        assert_eq!(parts.status, 200);
        assert!(
            body == big,
            "the HTTP/2 echo came back whole ({} bytes)",
            body.len()
        );
        let _ = &mut client;
    });
    assert_eq!(
        up.seen().iter().map(|s| s.body.len()).collect::<Vec<_>>(),
        [big.len(), big.len()]
    );
}

fn a_refused_stream_is_sent_again_and_succeeds(d: Driver) {
    let up = H2Upstream::start(
        "u1",
        H2Behaviour {
            refuse_first: 1,
            ..Default::default()
        },
    );
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    // A POST (not idempotent) with no retry policy: refused means unprocessed.
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"POST /once HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc");
    assert_eq!((r.status, r.body_str().as_str()), (200, "abc"));
    assert_eq!(up.streams(), 2, "the refused stream, then the one answered");
    assert_eq!(up.seen().len(), 1);
    assert_eq!(up.connections(), 2, "sent again on a new connection");

    // Refused every time: the retry policy's refused-stream decides.
    let up = H2Upstream::start(
        "u2",
        H2Behaviour {
            refuse_first: 3,
            ..Default::default()
        },
    );
    let route = "            retry_policy: { retry_on: refused-stream, num_retries: 1 }\n";
    let cluster = format!("{}    protocol: http2\n", cluster("c", &[up.addr]));
    let rw = Ringway::start(d, &config("", &catch_all("c", route), &cluster));
    let r = Client::connect(rw.addr()).get("a", "/x");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(
        up.streams(),
        4,
        "refused, replayed and refused, retried and refused, retried"
    );
    let up = H2Upstream::start(
        "u3",
        H2Behaviour {
            refuse_first: 10,
            ..Default::default()
        },
    );
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    let r = Client::connect(rw.addr()).get("a", "/x");
    assert_eq!(r.status, 503, "without a policy one replay only");
    assert!(r.body_str().contains("refused stream"), "{}", r.body_str());
}

fn goaway_mid_traffic_fails_no_request(d: Driver) {
    let up = H2Upstream::start(
        "u1",
        H2Behaviour {
            goaway_after: Some(2),
            ..Default::default()
        },
    );
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    let addr = rw.addr();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..6 {
                    let r = c.get("a", &format!("/t{t}/{i}"));
                    assert_eq!(r.status, 200, "request {t}/{i}: {}", r.body_str());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no request failed");
    }
    assert_eq!(up.seen().len(), 18);
    assert!(
        up.connections() >= 2,
        "connections said GOAWAY (after 2 streams, and those already sent)"
    );
}

/// Warm one connection up (`warm`), then send `n` `/gate` streams at once
/// from one HTTP/2 client; the upstream answers none until all `n` are in
/// flight.
fn concurrent_gate(rw: &Ringway, warm: bool, n: usize) {
    block_on(async {
        let mut client = h2_connect(rw.addr()).await;
        if warm {
            let warm = req("GET", "/warm").body(()).unwrap();
            let (parts, _, _) = h2_call(&mut client, warm, b"").await;
            assert_eq!(parts.status, 200);
        }
        let mut pending = Vec::new();
        for i in 0..n {
            let mut c = client.clone().ready().await.unwrap();
            let (resp, _) = c
                .send_request(req("GET", &format!("/gate/{i}")).body(()).unwrap(), true)
                .unwrap();
            pending.push(resp);
        }
        for resp in pending {
            let (parts, _, _) = read_all(resp.await.unwrap()).await;
            assert_eq!(parts.status, 200);
        }
    });
}

fn one_connection_carries_many_streams(d: Driver) {
    let up = H2Upstream::start(
        "u1",
        H2Behaviour {
            gate: 8,
            ..Default::default()
        },
    );
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    concurrent_gate(&rw, true, 8);
    assert_eq!(
        up.connections(),
        1,
        "eight streams at once on one connection"
    );
    // A burst on a cold worker waits for the one connection being opened.
    let up = H2Upstream::start(
        "u2",
        H2Behaviour {
            gate: 6,
            ..Default::default()
        },
    );
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    concurrent_gate(&rw, false, 6);
    assert_eq!(
        up.connections(),
        1,
        "six streams from cold on one connection"
    );
}

fn the_peers_stream_limit_opens_more_connections(d: Driver) {
    let behaviour = H2Behaviour {
        gate: 3,
        max_concurrent_streams: Some(1),
        ..Default::default()
    };
    let up = H2Upstream::start("u1", behaviour);
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    concurrent_gate(&rw, true, 3);
    assert_eq!(
        up.connections(),
        3,
        "one stream per connection, three at once"
    );
    // The cluster's own limit does the same.
    let up = H2Upstream::start(
        "u2",
        H2Behaviour {
            gate: 2,
            ..Default::default()
        },
    );
    let rw = Ringway::start(
        d,
        &h2_config(&[up.addr], "    http2: { max_concurrent_streams: 1 }\n"),
    );
    concurrent_gate(&rw, true, 2);
    assert_eq!(up.connections(), 2);
}

fn h2_over_tls_and_auto_by_alpn(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::tls::TestCa::new("upstream CA");
    let leaf = ca.issue(dir.path(), "up", &["up.test"]);
    let ca_path = ca.write(dir.path());
    let h2_up = H2Upstream::tls("h2", &leaf);
    let h1_up = support::tls::TlsUpstream::start("h1", &leaf);
    let tls = format!("    tls: {{ sni: up.test, verify: {{ ca: \"{ca_path}\" }} }}\n");
    let clusters = format!(
        "{}    protocol: http2\n{tls}{}    protocol: auto\n{tls}{}    protocol: auto\n{tls}",
        cluster("h2", &[h2_up.addr]),
        cluster("auto2", &[h2_up.addr]),
        cluster("auto1", &[h1_up.addr]),
    );
    let vhosts = "      - name: all\n        domains: [\"*\"]\n        routes:\n\
        \x20         - { match: { prefix: /h2 }, cluster: h2 }\n\
        \x20         - { match: { prefix: /auto2 }, cluster: auto2 }\n\
        \x20         - { match: { prefix: /auto1 }, cluster: auto1 }\n";
    let rw = Ringway::start(d, &config("", vhosts, &clusters));
    let mut c = Client::connect(rw.addr());
    let r = c.get("a", "/h2");
    assert_eq!((r.status, r.body_str().as_str()), (200, "h2 /h2"));
    assert_eq!(r.header("x-seen-scheme"), Some("https"));
    let r = c.get("a", "/auto2");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "h2 /auto2"),
        "auto: ALPN chose h2"
    );
    let r = c.get("a", "/auto1");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "h1"),
        "auto: ALPN chose HTTP/1.1"
    );
    assert_eq!(r.header("x-seen-sni"), Some("up.test"));
    assert_eq!(h2_up.connections(), 2, "one per cluster");
}

/// One gRPC message: the compressed flag, the length, the bytes.
fn grpc_message(payload: &[u8]) -> Vec<u8> {
    let mut m = vec![0];
    m.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

fn grpc_request(path: &str) -> http::Request<()> {
    req("POST", path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

fn grpc_unary_and_streaming_calls_pass_with_their_trailers(d: Driver) {
    let up = H2Upstream::h2c("g");
    let rw = Ringway::start(d, &h2_config(&[up.addr], ""));
    block_on(async {
        let mut client = h2_connect(rw.addr()).await;
        // Unary.
        let msg = grpc_message(b"ping");
        let (parts, body, trailers) =
            h2_call(&mut client, grpc_request("/echo.Echo/Unary"), &msg).await;
        assert_eq!(parts.status, 200);
        assert_eq!(parts.headers["content-type"], "application/grpc");
        assert_eq!(body, msg);
        assert_eq!(trailers.expect("trailers")["grpc-status"], "0");
        // Streaming both ways: messages sent in separate DATA frames, the
        // response streamed back message by message, trailers at the end.
        let mut c = client.clone().ready().await.unwrap();
        let (resp, mut send) = c
            .send_request(grpc_request("/echo.Echo/Bidi"), false)
            .unwrap();
        let mut all = Vec::new();
        for i in 0..5 {
            let m = grpc_message(format!("message {i}").as_bytes());
            all.extend_from_slice(&m);
            send.send_data(Bytes::from(m), false).unwrap();
        }
        send.send_data(Bytes::new(), true).unwrap();
        let (parts, body, trailers) = read_all(resp.await.unwrap()).await;
        assert_eq!(parts.status, 200);
        assert_eq!(body, all);
        assert_eq!(trailers.expect("trailers")["grpc-status"], "0");
    });
    // Full duplex: each reply is read before the next message is sent.
    block_on(async {
        let client = h2_connect(rw.addr()).await;
        let mut c = client.ready().await.unwrap();
        let (resp, mut send) = c
            .send_request(grpc_request("/echo.Echo/PingPong"), false)
            .unwrap();
        let m = grpc_message(b"ping 0");
        send.send_data(Bytes::from(m.clone()), false).unwrap();
        let (parts, mut body) = resp
            .await
            .expect("the head before the request ends")
            .into_parts();
        assert_eq!(parts.status, 200);
        for i in 0..4 {
            let mut got = Vec::new();
            while got.len() < m.len() {
                let chunk = body.data().await.expect("a reply").unwrap();
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got, grpc_message(format!("ping {i}").as_bytes()));
            if i < 3 {
                let next = grpc_message(format!("ping {}", i + 1).as_bytes());
                send.send_data(Bytes::from(next), false).unwrap();
            }
        }
        send.send_data(Bytes::new(), true).unwrap();
        assert!(body.data().await.is_none());
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
    });
    let seen = up.seen();
    assert_eq!(seen[0].header("te"), Some("trailers"));
    assert_eq!(seen[0].path, "/echo.Echo/Unary");
    assert_eq!(seen[2].body.len(), 4 * grpc_message(b"ping 0").len());

    // ringway's own answers to gRPC clients are gRPC errors, counted and
    // logged as the 200 they travel as (as Envoy does).
    let with_admin = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(&[next_loopback_closed()], "")
    );
    let rw = Ringway::start(d, &with_admin);
    block_on(async {
        let mut client = h2_connect(rw.addr()).await;
        let (parts, body, _) = h2_call(
            &mut client,
            grpc_request("/echo.Echo/Unary"),
            &grpc_message(b"x"),
        )
        .await;
        assert_eq!(parts.status, 200, "gRPC errors travel as 200");
        assert_eq!(parts.headers["grpc-status"], "14", "503 → UNAVAILABLE");
        assert!(parts.headers.contains_key("grpc-message"));
        assert!(body.is_empty());
    });
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "http.ingress.downstream_rq_2xx"), 1);
    assert_eq!(admin::stat(&st, "http.ingress.downstream_rq_5xx"), 0);
}

/// An address nothing listens on.
fn next_loopback_closed() -> SocketAddr {
    let l = std::net::TcpListener::bind(next_loopback()).unwrap();
    l.local_addr().unwrap()
}

/// nghttpd on an address of its own: a port found free, then bound by nghttpd.
struct Nghttpd {
    addr: SocketAddr,
    child: std::process::Child,
    _root: tempfile::TempDir,
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nghttpd() -> Nghttpd {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello from nghttpd\n").unwrap();
    let addr = next_loopback_closed();
    let child = Command::new("nghttpd")
        .args(["--no-tls", "-a", &addr.ip().to_string(), "-d"])
        .arg(root.path())
        .arg(addr.port().to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nghttpd (installed by .ci/run)");
    wait_until("nghttpd listening", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    Nghttpd {
        addr,
        child,
        _root: root,
    }
}

fn nghttpd_as_an_http2_only_upstream(d: Driver) {
    let server = nghttpd();
    // As HTTP/1.1, nghttpd answers nothing ringway can read: the old 502/503.
    let rw = Ringway::start(d, &simple_config(&[server.addr]));
    let r = Client::connect(rw.addr()).get("a", "/hello.txt");
    assert!(
        r.status >= 500,
        "HTTP/1.1 to an HTTP/2-only server fails: {}",
        r.status
    );
    drop(rw);
    let rw = Ringway::start(d, &h2_config(&[server.addr], ""));
    let mut c = Client::connect(rw.addr());
    for _ in 0..3 {
        let r = c.get("a", "/hello.txt");
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "hello from nghttpd\n")
        );
    }
    assert_eq!(c.get("a", "/missing").status, 404);
    let out = curl(&[
        "--http2-prior-knowledge",
        &format!("http://{}/hello.txt", rw.addr()),
    ]);
    assert_eq!(out, "hello from nghttpd\n");
}

/// Input HTTP/1.1 allows but HTTP/2 forbids (`<` or a backtick in the path, `%`
/// in the authority) is the client's 400: never a reset charged to the host,
/// never replayed on a new connection, and the host stays in rotation.
fn a_head_http2_cannot_carry_is_the_clients_400(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let yaml = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(
            &[up.addr],
            "    outlier_detection: { consecutive_5xx: 2, base_ejection_time: 60s }\n"
        )
    );
    let rw = Ringway::start(d, &yaml);
    assert_eq!(get(rw.addr(), "app.test", "/warm").status, 200);
    let connections = up.connections();
    for (host, path) in [
        ("app.test", "/a<b"),
        ("app.test", "/a`b"),
        ("app.test", "/a>b"),
        ("a%41", "/p"),
    ] {
        let r = get(rw.addr(), host, path);
        assert_eq!(r.status, 400, "{host}{path}: {}", r.body_str());
    }
    assert_eq!(
        up.connections(),
        connections,
        "no new upstream connection for bad heads"
    );
    // Not ejected: the host still answers.
    assert_eq!(get(rw.addr(), "app.test", "/after").status, 200);
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.upstream_rq_rx_reset"), 0);
    assert_eq!(
        admin::stat(&st, "cluster.c.outlier_detection.ejections_enforced_total"),
        0
    );
}

/// HTTP/2 client to HTTP/2 upstream, body sent on its own (full duplex): the
/// listener's minimum body rate still applies. 100 bytes then silence: once
/// the body's credit runs out the upstream stream is reset and the client's
/// response (the echo upstream answers at once) ends in a reset, not a clean
/// end (before this rule reached pumped bodies it waited out the 60 s idle
/// timeout); nothing is charged to the host.
fn a_pumped_body_is_held_to_the_minimum_rate(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let yaml = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(&[up.addr], "")
    )
    .replace(
        "    address: 127.0.0.1:0\n    virtual_hosts",
        "    address: 127.0.0.1:0\n    request_buffer: 0\n    request_body_timeout: 300ms\n    request_body_min_rate: 1KiB\n    virtual_hosts",
    );
    assert!(yaml.contains("request_body_min_rate"), "{yaml}");
    let rw = Ringway::start(d, &yaml);
    block_on(async {
        let client = h2_connect(rw.addr()).await;
        let mut c = client.clone().ready().await.unwrap();
        let (resp, mut send) = c
            .send_request(req("POST", "/slow").body(()).unwrap(), false)
            .unwrap();
        send.send_data(Bytes::from_static(&[b's'; 100]), false)
            .unwrap();
        // No more DATA, no END_STREAM: the proxy gives up on the body.
        let ended = match resp.await {
            Err(e) => Err(e),
            Ok(resp) => {
                let mut body = resp.into_body();
                loop {
                    match body.data().await {
                        Some(Ok(chunk)) => {
                            let _ = body.flow_control().release_capacity(chunk.len());
                        }
                        Some(Err(e)) => break Err(e),
                        None => break Ok(()),
                    }
                }
            }
        };
        assert!(
            ended.is_err(),
            "the response ended cleanly: the body was not cut off"
        );
        drop(send);
    });
    wait_until("the upstream saw its stream reset", || {
        up.seen().is_empty() || up.streams() >= 1
    });
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.upstream_rq_rx_reset"), 0);
}

/// Poll `cond` from inside a test runtime (its tasks go on meanwhile) until it
/// holds; panic with `what` at the deadline.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        // A poll interval, not synchronisation: the condition decides.
        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn keepalive_config(up: &H2Upstream, keepalive: &str) -> String {
    format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(
            &[up.addr],
            &format!("    http2: {{ keepalive: {{ {keepalive} }} }}\n")
        )
    )
}

/// An upstream that stops reading its socket (so its PING ACKs never come)
/// after answering `/freeze`: after the keepalive interval and timeout the
/// connection is closed and counted, and the next request opens a new
/// connection and succeeds.
fn a_connection_whose_pings_go_unanswered_is_closed_and_replaced(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let rw = Ringway::start(
        d,
        &keepalive_config(
            &up,
            "interval: 200ms, timeout: 200ms, interval_jitter_percent: 0",
        ),
    );
    let r = get(rw.addr(), "app.test", "/freeze");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    wait_until("the keepalive timeout closed the connection", || {
        let st = admin::stats(rw.admin());
        admin::stat(&st, "cluster.c.http2.keepalive_timeout") == 1
    });
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.upstream_cx_destroy"), 1);
    assert_eq!(admin::stat(&st, "cluster.c.upstream_cx_active"), 0);
    let r = get(rw.addr(), "app.test", "/after");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.header("x-seen-conn"), Some("2"), "a new connection");
    assert_eq!(up.connections(), 2);
}

/// An upstream that answers its PINGs keeps its connection across several
/// intervals: the PINGs arrive (bytes with no request), and the next request
/// still rides the first connection.
fn a_connection_that_answers_its_pings_lives_on(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let rw = Ringway::start(d, &keepalive_config(&up, "interval: 100ms, timeout: 10s"));
    let r = get(rw.addr(), "app.test", "/first");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    let before = up.bytes_in();
    // A PING frame is 17 bytes; a WINDOW_UPDATE or two may trail the response.
    wait_until("five PINGs' worth of bytes after the response", || {
        up.bytes_in() >= before + 5 * 17
    });
    let r = get(rw.addr(), "app.test", "/second");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    assert_eq!(up.connections(), 1);
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.http2.keepalive_timeout"), 0);
    assert_eq!(admin::stat(&st, "cluster.c.upstream_cx_destroy"), 0);
}

/// `idle_interval` alone (no interval PINGs): a stream on a connection that
/// has heard nothing that long waits for a PING's answer first. Answered, it
/// rides the same connection; unanswered (the upstream stopped reading after
/// `/freeze`), the connection is closed and counted, and the request is
/// replayed on a new one and succeeds.
fn an_idle_connection_is_pinged_before_its_next_stream(d: Driver) {
    let idle = std::time::Duration::from_millis(100);
    // The precondition is time itself: the connection must have heard nothing
    // for `idle`. Ringway's last read came before the client's response did,
    // so once `idle` has passed since then it has.
    let idle_since = |what: &str, at: std::time::Instant| {
        wait_until(what, || at.elapsed() > idle);
    };
    // Answered: a generous timeout, so a loaded machine's slow PONG cannot
    // make this case fail; the stream rides the same connection.
    let up = H2Upstream::h2c("u1");
    let rw = Ringway::start(
        d,
        &keepalive_config(&up, "idle_interval: 100ms, timeout: 10s"),
    );
    let r = get(rw.addr(), "app.test", "/first");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    idle_since(
        "the connection idle past idle_interval",
        std::time::Instant::now(),
    );
    let r = get(rw.addr(), "app.test", "/second");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    assert_eq!(up.connections(), 1);
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.http2.keepalive_timeout"), 0);
    drop(rw);
    // Unanswered (the upstream stopped reading after `/freeze`): the short
    // timeout only bounds how long the test waits for the verdict.
    let up = H2Upstream::h2c("u2");
    let rw = Ringway::start(
        d,
        &keepalive_config(&up, "idle_interval: 100ms, timeout: 300ms"),
    );
    let r = get(rw.addr(), "app.test", "/freeze");
    assert_eq!((r.status, r.header("x-seen-conn")), (200, Some("1")));
    idle_since(
        "the frozen connection idle past idle_interval",
        std::time::Instant::now(),
    );
    let r = get(rw.addr(), "app.test", "/after");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(
        r.header("x-seen-conn"),
        Some("2"),
        "replayed on a new connection"
    );
    assert_eq!(up.connections(), 2);
    let st = admin::stats(rw.admin());
    assert_eq!(admin::stat(&st, "cluster.c.http2.keepalive_timeout"), 1);
    assert_eq!(admin::stat(&st, "cluster.c.upstream_rq_rx_reset"), 0);
}

/// A streamed (full-duplex) request to an upstream that never answers: the
/// route timeout answers 504, and the upstream stream is reset then, without
/// the client sending anything more (it used to stay open until the client's
/// next DATA frame).
fn a_timed_out_streamed_request_resets_its_upstream_stream_at_once(d: Driver) {
    let up = H2Upstream::h2c("u1");
    let cluster = format!("{}    protocol: http2\n", cluster("c", &[up.addr]));
    let yaml = config(
        "    request_buffer: 0\n",
        &catch_all("c", "            timeout: 300ms\n"),
        &cluster,
    );
    let rw = Ringway::start(d, &yaml);
    block_on(async {
        let client = h2_connect(rw.addr()).await;
        let mut c = client.clone().ready().await.unwrap();
        let (resp, mut send) = c
            .send_request(req("POST", "/hang").body(()).unwrap(), false)
            .unwrap();
        send.send_data(Bytes::from_static(b"first message"), false)
            .unwrap();
        let resp = resp.await.expect("a response");
        assert_eq!(resp.status(), 504);
        until("the upstream saw its stream reset", || up.resets() == 1).await;
        // Only now may the client's stream end.
        drop(send);
    });
    assert_eq!(up.streams(), 1);
}

/// N streams in flight on one HTTP/2 connection: one connection active, N
/// requests active, on the cluster (`/stats`) and on the host (`/clusters`).
fn cx_active_counts_connections_and_rq_active_streams(d: Driver) {
    const N: usize = 4;
    let up = H2Upstream::h2c("u1");
    let yaml = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        h2_config(&[up.addr], "")
    );
    let rw = Ringway::start(d, &yaml);
    let admin_addr = rw.admin();
    block_on(async {
        let client = h2_connect(rw.addr()).await;
        let mut pending = Vec::new();
        for i in 0..N {
            let mut c = client.clone().ready().await.unwrap();
            let (resp, _) = c
                .send_request(req("GET", &format!("/hang/{i}")).body(()).unwrap(), true)
                .unwrap();
            pending.push(resp);
        }
        until("every stream reached the upstream", || up.streams() == N).await;
        let st = admin::stats(admin_addr);
        assert_eq!(admin::stat(&st, "cluster.c.upstream_rq_active"), N as u64);
        assert_eq!(admin::stat(&st, "cluster.c.upstream_cx_active"), 1);
        // The host's own gauge in /clusters counts the connection too, not
        // its streams.
        let clusters = admin::clusters(admin_addr);
        let host = |k: &str| clusters[&format!("c::{}::{k}", up.addr)].clone();
        assert_eq!(host("cx_active"), "1");
        assert_eq!(host("rq_active"), N.to_string());
        assert_eq!(up.connections(), 1);
        drop(pending);
    });
}
