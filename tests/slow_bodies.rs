//! Slow request bodies through the real binary: a swarm of clients trickling
//! their POST bodies must not take the cluster down (they are buffered before
//! an upstream is chosen, so they hold no breaker slot or upstream connection),
//! a body that stalls past `request_body_timeout` gets a 408, and a body that
//! breaks its framing while buffered never reaches the upstream. Also the
//! listener's connection limit and the per-client cap on upstream requests.

#[macro_use]
mod support;

use support::{
    admin::{stat, stats},
    *,
};

driver_tests!(
    a_slow_post_swarm_cannot_starve_normal_requests,
    a_stalled_body_gets_408,
    a_buffered_body_reaches_the_upstream_whole,
    bad_chunks_are_refused_before_any_upstream,
    expect_continue_is_answered_before_buffering,
    the_listener_connection_limit_closes_the_extra_connection,
    one_client_holds_at_most_its_cap_of_upstream_requests,
    a_body_below_the_minimum_rate_gets_408_a_steady_one_passes,
);

/// One listener in front of cluster `c`, whose breakers allow four requests.
fn guarded(up: &Upstream, listener_extra: &str) -> String {
    let cluster = format!(
        "  - name: c\n    hosts: [\"{}\"]\n    circuit_breakers: {{ max_requests: 4, max_pending_requests: 4, max_connections: 4 }}\n",
        up.addr
    );
    format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config(listener_extra, &catch_all("c", ""), &cluster)
    )
}

const SWARM: usize = 16;

fn a_slow_post_swarm_cannot_starve_normal_requests(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &guarded(&up, ""));
    // Four times as many bodies in flight as the cluster takes requests.
    let mut slow: Vec<Client> = (0..SWARM)
        .map(|i| {
            let mut c = Client::connect(rw.addr());
            c.send(
                format!("POST /slow/{i} HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nx")
                    .as_bytes(),
            );
            c
        })
        .collect();
    wait_for("every slow request to be in flight", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.downstream_rq_active") == SWARM as u64).then_some(())
    });
    for i in 0..8 {
        let r = get(rw.addr(), "h", &format!("/normal/{i}"));
        assert_eq!(r.status, 200, "normal request {i}: {}", r.body_str());
    }
    assert!(
        up.requests()
            .iter()
            .all(|r| r.target.starts_with("/normal")),
        "no slow request reached the upstream before its body"
    );
    // The slow ones finish their bodies and are served too.
    for (i, c) in slow.iter_mut().enumerate() {
        c.send(&[b'y'; 999]);
        let r = c.read_response();
        assert_eq!(r.status, 200, "slow {i}");
        assert_eq!(r.body.len(), 1000);
    }
}

fn a_stalled_body_gets_408(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &guarded(&up, "    request_body_timeout: 200ms\n"));
    let mut c = Client::connect(rw.addr());
    c.send(b"POST /stall HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response();
    assert_eq!(r.status, 408, "{}", r.body_str());
    assert_eq!(r.body_str(), "request body not received in time\n");
    c.expect_closed();
    assert_eq!(up.request_count(), 0);
}

fn a_buffered_body_reaches_the_upstream_whole(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &guarded(&up, "    request_buffer: 4KiB\n"));
    // Over the buffer: the first 4 KiB are read first, the rest streams.
    let body = vec![b'z'; 10_000];
    let mut c = Client::connect(rw.addr());
    c.send(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n");
    c.send(&body[..3000]);
    c.send(&body[3000..]);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    // Chunked, within the buffer.
    let r = c.roundtrip(b"POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello");
}

fn bad_chunks_are_refused_before_any_upstream(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &guarded(&up, ""));
    let mut c = Client::connect(rw.addr());
    c.send(
        b"POST /bad HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 400);
    c.expect_closed();
    assert_eq!(up.accepted(), 0, "the upstream never saw a connection");
}

fn expect_continue_is_answered_before_buffering(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &guarded(&up, ""));
    let mut c = Client::connect(rw.addr());
    c.send(b"POST /ask HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response();
    assert_eq!(
        r.status, 100,
        "100 Continue first, so the client sends its body"
    );
    c.send(b"hello");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello");
    assert!(up.requests()[0].header("expect").is_none());
}

/// `max_connections` (Envoy's listener connection limit): a connection over it
/// is closed at accept and counted; one freed makes room again.
fn the_listener_connection_limit_closes_the_extra_connection(d: Driver) {
    let up = Upstream::echo("up");
    let yaml = guarded(&up, "    max_connections: 2\n");
    let rw = Ringway::start(d, &yaml);
    let mut a = Client::connect(rw.addr());
    assert_eq!(a.get("h", "/a").status, 200);
    let mut b = Client::connect(rw.addr());
    assert_eq!(b.get("h", "/b").status, 200);
    let mut extra = Client::connect(rw.addr());
    extra.send(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    extra.expect_closed();
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.downstream_cx_overflow"), 1);
    drop(a);
    wait_for("the freed connection to be counted out", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.downstream_cx_active") == 1).then_some(())
    });
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("h", "/d").status, 200);
    assert_eq!(b.get("h", "/b2").status, 200);
}

/// `max_upstream_requests_per_client`: a client address with that many
/// requests in flight upstream gets a 429 for the next (counted, flagged), other
/// clients are served meanwhile, and a finished request makes room again.
fn one_client_holds_at_most_its_cap_of_upstream_requests(d: Driver) {
    let up = FailingUpstream::start("up");
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config(
            "    max_upstream_requests_per_client: 2\n",
            &catch_all("c", ""),
            &cluster("c", &[up.addr])
        )
    );
    let rw = Ringway::start(d, &yaml);
    let mut hanging: Vec<Client> = (0..2)
        .map(|i| send_request(rw.addr(), "GET", &format!("/hang/{i}"), ""))
        .collect();
    wait_until("both requests wait upstream", || up.hung() == 2);

    let r = get(rw.addr(), "h", "/third");
    assert_eq!(r.status, 429, "{}", r.body_str());
    assert_eq!(r.header("x-ringway-overloaded"), Some("client"));
    assert_eq!(r.body_str(), "too many requests from this client\n");
    // Another client address is not limited by this one's requests.
    let mut other = Client::over(connect_from("127.0.0.3", rw.addr()));
    assert_eq!(other.get("h", "/other").status, 200);

    up.release();
    for (i, c) in hanging.iter_mut().enumerate() {
        assert_eq!(c.read_response().status, 200, "hanging {i}");
    }
    assert_eq!(get(rw.addr(), "h", "/after").status, 200);
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.downstream_rq_client_limited"), 1);
    assert_eq!(stat(&st, "http.ingress.downstream_rq_4xx"), 1);
}

/// A connection to `to` from the loopback address `from` (port chosen by the kernel).
fn connect_from(from: &str, to: std::net::SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// `request_body_min_rate`: past `request_body_timeout` a body must have
/// earned its time at the rate (1 KiB buys a second), also once it streams
/// upstream; a client that sends 2 KiB and stalls is cut off with a 408 long
/// before the per-read wait (60 s) would, while a steady body passes.
fn a_body_below_the_minimum_rate_gets_408_a_steady_one_passes(d: Driver) {
    let up = Upstream::echo("up");
    let extra = "    request_buffer: 1KiB\n    request_body_timeout: 200ms\n    request_body_min_rate: 1KiB\n";
    let rw = Ringway::start(d, &guarded(&up, extra));
    let mut stalled = Client::connect(rw.addr());
    stalled.send(b"POST /stall HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n");
    stalled.send(&[b's'; 2048]);
    let r = stalled.read_response();
    assert_eq!(r.status, 408, "{}", r.body_str());
    stalled.expect_closed();

    let body = vec![b'k'; 3000];
    let mut steady = Client::connect(rw.addr());
    steady.send(b"POST /steady HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n");
    for piece in body.chunks(1000) {
        steady.send(piece);
    }
    let r = steady.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.downstream_rq_timeout"), 1);
}
