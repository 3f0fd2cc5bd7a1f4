//! Proxy semantics through the real binary: hop-by-hop stripping, forwarding
//! headers, upstream failures (502/503/504), retries on stale pooled
//! connections, the upgrade tunnel and graceful shutdown.

#[macro_use]
mod support;

use std::{net::TcpStream, time::Duration};

use support::*;

driver_tests!(
    hop_by_hop_request_headers_stripped,
    forwarding_headers_added,
    request_id_kept_when_present,
    hop_by_hop_response_headers_stripped,
    upstream_connection_close_does_not_close_client,
    bad_upstream_response_is_502_and_not_reused,
    upstream_close_without_response_is_503,
    refused_upstream_is_503,
    slow_upstream_is_504,
    stale_pooled_connection_is_retried_for_get,
    post_on_stale_connection_is_not_retried,
    truncated_upstream_body_closes_client,
    informational_responses_forwarded,
    close_delimited_response_rechunked_for_http11,
    response_head_spanning_reads_is_intact,
    request_head_in_pieces_is_intact,
    upgrade_tunnels_both_ways,
    upgrade_refused_by_upstream_stays_http,
    client_connection_close_honoured,
    graceful_shutdown_finishes_in_flight,
    idle_connections_closed_on_shutdown,
    fresh_connection_closed_on_shutdown,
);

fn hop_by_hop_request_headers_stripped(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(
        b"GET /hop HTTP/1.1\r\nHost: h\r\n\
          Connection: keep-alive, X-Secret, x-other\r\n\
          X-Secret: 1\r\nX-Other: 2\r\nX-Keep: yes\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
          TE: trailers, deflate\r\nUpgrade: h2c\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = &up.wait_requests(1)[0];
    for gone in [
        "x-secret",
        "x-other",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "connection",
    ] {
        assert_eq!(
            seen.header(gone),
            None,
            "{gone} stripped: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.header("x-keep"), Some("yes"));
    assert_eq!(
        seen.header_all("te"),
        vec!["trailers"],
        "TE keeps only trailers"
    );
    assert_eq!(seen.header_all("host"), vec!["h"]);

    // TE without trailers is dropped whole.
    let r = c.roundtrip(b"GET /te HTTP/1.1\r\nHost: h\r\nTE: deflate\r\n\r\n");
    assert_eq!(r.status, 200);
    let seen = &up.wait_requests(2)[1];
    assert_eq!(seen.header("te"), None);
}

fn forwarding_headers_added(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    // No X-Forwarded-For from the client: ringway starts the list.
    let r = c.get("h", "/a");
    assert_eq!(r.status, 200);
    let service_time = r
        .header("x-ringway-upstream-service-time")
        .expect("service time on proxied responses");
    assert!(service_time.parse::<u64>().is_ok(), "ms: {service_time}");
    // Appended to what the client sent (two lines), proto overwritten.
    let r = c.roundtrip(
        b"GET /b HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n\
          X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-Proto: https\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = up.wait_requests(2);
    assert_eq!(seen[0].header_all("x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(seen[0].header_all("x-forwarded-proto"), vec!["http"]);
    let xff = seen[1].header_all("x-forwarded-for");
    assert_eq!(xff.len(), 1, "one X-Forwarded-For line: {xff:?}");
    let hops: Vec<&str> = xff[0].split(',').map(str::trim).collect();
    assert_eq!(hops, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1"]);
    assert_eq!(seen[1].header_all("x-forwarded-proto"), vec!["http"]);

    // x-request-id added, one per request, and distinct.
    let ids: Vec<&str> = seen
        .iter()
        .map(|s| {
            let ids = s.header_all("x-request-id");
            assert_eq!(ids.len(), 1, "{:?}", s.headers);
            ids[0]
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert_eq!(id.len(), 36, "uuid-shaped: {id}");
        assert_eq!(id.matches('-').count(), 4, "uuid-shaped: {id}");
    }
}

fn request_id_kept_when_present(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-123\r\n\r\n");
    assert_eq!(r.status, 200);
    let seen = &up.wait_requests(1)[0];
    assert_eq!(seen.header_all("x-request-id"), vec!["abc-123"]);
}

fn hop_by_hop_response_headers_stripped(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\nConnection: X-Up-Secret\r\nX-Up-Secret: 1\r\n\
              Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Up-Keep: 1\r\n\
              Content-Length: 2\r\n\r\nok"
                .to_vec(),
        )
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "ok");
    for gone in ["x-up-secret", "keep-alive", "proxy-connection"] {
        assert_eq!(r.header(gone), None, "{gone} stripped: {:?}", r.headers);
    }
    assert!(
        !r.has_token("connection", "x-up-secret"),
        "upstream's Connection not relayed: {:?}",
        r.headers
    );
    assert_eq!(r.header("x-up-keep"), Some("1"));
    // The client connection is still usable.
    assert_eq!(c.get("h", "/again").status, 200);
}

fn upstream_connection_close_does_not_close_client(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::BytesThenClose(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        )
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for i in 0..3 {
        let r = c.get("h", &format!("/{i}"));
        assert_eq!(r.status, 200);
        assert!(!r.has_token("connection", "close"), "{:?}", r.headers);
    }
    // Each upstream connection was closed by the upstream: never reused.
    assert_eq!(up.accepted(), 3);
}

fn bad_upstream_response_is_502_and_not_reused(d: Driver) {
    let bad: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 2000 Way OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for (i, bytes) in bad.iter().enumerate() {
        let first = bytes.to_vec();
        // The first request on each connection gets the bad bytes (and the
        // connection stays open); later ones a good response.
        let up = Upstream::start("up", move |r| {
            if r.seq == 0 && r.conn == 0 {
                Reply::Bytes(first.clone())
            } else {
                Reply::Bytes(ok_response("good"))
            }
        });
        let rw = Ringway::start(d, &simple_config(&[up.addr]));
        let mut c = Client::connect(rw.addr());
        c.send(b"GET /bad HTTP/1.1\r\nHost: h\r\n\r\n");
        let case = String::from_utf8_lossy(bytes);
        match c.try_read_response(false) {
            Ok(r) => {
                assert_eq!(r.status, 502, "case {case:?}");
                assert_eq!(r.header("server"), Some("ringway"));
            }
            // A chunked body that breaks after a good head: closing the client
            // connection is the only honest signal once a head may be out.
            Err(e) => assert_eq!(i, bad.len() - 1, "case {case:?}: {e:?}"),
        }
        // The next request gets a good response on a NEW upstream connection.
        let r = get(rw.addr(), "h", "/next");
        assert_eq!(r.status, 200, "case {case:?}");
        assert_eq!(r.body_str(), "good");
        assert_eq!(up.accepted(), 2, "case {case:?}: bad connection not reused");
    }
}

fn upstream_close_without_response_is_503(d: Driver) {
    let up = Upstream::start("up", |_| Reply::Close);
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    // Envoy: "upstream connect error or disconnect/reset before headers" is 503.
    let r = c.roundtrip(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("server"), Some("ringway"));
}

fn refused_upstream_is_503(d: Driver) {
    let nobody = refused_addr();
    let rw = Ringway::start(d, &simple_config(&[nobody]));
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("server"), Some("ringway"));
    assert!(!r.body.is_empty());
    // A request without body keeps the client connection after a local error.
    let r = c.get("h", "/again");
    assert_eq!(r.status, 503);
}

fn slow_upstream_is_504(d: Driver) {
    let up = Upstream::start("up", |_| Reply::Hang);
    let cfg = config(
        "",
        &catch_all("c", "            timeout: 300ms\n"),
        &cluster("c", &[up.addr]),
    );
    let rw = Ringway::start(d, &cfg);
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/slow");
    assert_eq!(r.status, 504);
    assert_eq!(r.header("server"), Some("ringway"));
    // The hung upstream connection is abandoned; a fresh request also times out
    // on a fresh connection rather than queueing behind it.
    let r = get(rw.addr(), "h", "/slow2");
    assert_eq!(r.status, 504);
    assert_eq!(up.accepted(), 2);
}

/// The upstream answers the first request on each connection, then closes the
/// connection on the second without a response: a GET on that stale pooled
/// connection is replayed once on a fresh one.
fn stale_conn_upstream() -> Upstream {
    Upstream::start("up", |r| {
        if r.seq == 0 {
            Reply::Bytes(ok_response(&format!("conn{}", r.conn)))
        } else {
            Reply::Close
        }
    })
}

fn stale_pooled_connection_is_retried_for_get(d: Driver) {
    let up = stale_conn_upstream();
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("h", "/1").body_str(), "conn0");
    let r = c.get("h", "/2");
    assert_eq!(r.status, 200, "retried: {}", r.body_str());
    assert_eq!(r.body_str(), "conn1");
    assert_eq!(up.accepted(), 2);
}

fn post_on_stale_connection_is_not_retried(d: Driver) {
    let up = stale_conn_upstream();
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("h", "/1").body_str(), "conn0");
    let r = c.roundtrip(b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(r.status, 503, "a POST is not replayed");
    assert_eq!(up.accepted(), 1);
}

fn truncated_upstream_body_closes_client(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello".to_vec())
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    match c.try_read_response(false) {
        Err(ReadFail::Truncated(_)) => {}
        other => panic!("the client must see the body cut short: {other:?}"),
    }
}

fn informational_responses_forwarded(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::Bytes(
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
                .to_vec(),
        )
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let early = c.read_response();
    assert_eq!(early.status, 103);
    assert_eq!(early.header("link"), Some("</s.css>; rel=preload"));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "body");
    // HTTP/1.0 clients never see 1xx.
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "body");
}

fn close_delimited_response_rechunked_for_http11(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec())
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, "chunked", "{:?}", r.headers);
    assert_eq!(r.body_str(), "until the end");
    // So the client connection survives the upstream's close.
    let r = c.get("h", "/");
    assert_eq!(r.body_str(), "until the end");
}

fn response_head_spanning_reads_is_intact(d: Driver) {
    let big = "v".repeat(40_000);
    let resp = format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\nContent-Length: 2\r\n\r\nok");
    let up = Upstream::start("up", move |_| Reply::Bytes(resp.clone().into_bytes()));
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let r = get(rw.addr(), "h", "/");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.header("x-big").map(str::len), Some(40_000));
    assert_eq!(r.body_str(), "ok");
}

fn upgrade_tunnels_both_ways(d: Driver) {
    let up = upgrade_echo_upstream(b"hello-from-upstream;");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let r = c.try_read_response(true).expect("101");
    assert_eq!(r.status, 101);
    assert!(r.has_token("connection", "upgrade"), "{:?}", r.headers);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    let seen = &up.wait_requests(1)[0];
    assert_eq!(seen.header("upgrade"), Some("websocket"));
    assert!(seen
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("upgrade")));

    let hello = b"hello-from-upstream;";
    assert_eq!(c.read_exact_raw(hello.len()), hello);
    for msg in ["ping", "\0binary\r\n\r\nGET / HTTP/1.1\r\n\r\n", "last"] {
        c.send(msg.as_bytes());
        let want = format!("echo:{msg}");
        assert_eq!(c.read_exact_raw(want.len()), want.as_bytes());
    }
    // Half-close from the client reaches the upstream, which then closes.
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    c.expect_closed();
}

fn upgrade_refused_by_upstream_stays_http(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    // Still HTTP on this connection.
    let r = c.get("h", "/after");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-seen-target"), Some("/after"));
}

fn client_connection_close_honoured(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.has_token("connection", "close"));
    c.expect_closed();
    // The upstream connection is still pooled: Connection is hop-by-hop.
    assert_eq!(get(rw.addr(), "h", "/").status, 200);
    assert_eq!(up.accepted(), 1);
}

fn graceful_shutdown_finishes_in_flight(d: Driver) {
    let gate = Gate::new();
    let g = gate.clone();
    let up = Upstream::start("up", move |_| {
        Reply::After(g.clone(), Box::new(Reply::Bytes(ok_response("finished"))))
    });
    let mut rw = Ringway::start(d, &simple_config(&[up.addr]));
    let addr = rw.addr();
    let mut c = Client::connect(addr);
    c.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    up.wait_requests(1);

    rw.sigterm();
    // New connections are refused once the listener has closed.
    wait_until("the listener to close", || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
    });
    assert!(
        rw.try_exit().is_none(),
        "still draining the in-flight request"
    );

    gate.open();
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "finished");
    assert!(
        r.has_token("connection", "close"),
        "draining closes: {:?}",
        r.headers
    );
    c.expect_closed();
    let status = rw.wait_exit();
    assert_eq!(status.code(), Some(0), "graceful exit: {status:?}");
}

fn idle_connections_closed_on_shutdown(d: Driver) {
    let up = Upstream::echo("up");
    let mut rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut idle = Client::connect(rw.addr());
    assert_eq!(idle.get("h", "/").status, 200);
    rw.sigterm();
    idle.expect_closed();
    assert_eq!(rw.wait_exit().code(), Some(0));
}

/// A connection accepted but silent is idle too: the drain closes it at once,
/// without a 408 and without waiting out `request_headers_timeout`.
fn fresh_connection_closed_on_shutdown(d: Driver) {
    let up = Upstream::echo("up");
    let mut rw = Ringway::start(d, &simple_config(&[up.addr]));
    // A served connection, kept open, proves the worker is up and the listener
    // accepting, and leaves no close in flight to disturb the fd count below.
    let mut warm = Client::connect(rw.addr());
    assert_eq!(warm.get("h", "/").status, 200);
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", rw.pid())).map_or(0, |d| d.count());
    let before = fds();
    let mut never_sent = Client::connect(rw.addr());
    let mut probe = Client::connect(rw.addr());
    // Wait until the worker holds both: ringway keeps two more fds open.
    wait_until("ringway to accept both connections", || fds() >= before + 2);
    rw.sigterm();
    never_sent.expect_closed();
    probe.expect_closed();
    warm.expect_closed();
    assert_eq!(rw.wait_exit().code(), Some(0));
}

/// A head that arrives in pieces, each read by the proxy before the next is
/// sent, waits between them without a read buffer (`park_partial_head`): its
/// bytes reach the upstream intact, and the connection serves the next request.
fn request_head_in_pieces_is_intact(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let local = c.stream.local_addr().unwrap();
    let long = "v".repeat(3000);
    let head = format!("GET /pieces HTTP/1.1\r\nHost: h\r\nX-Long: {long}\r\nX-B: 2\r\n\r\n");
    for piece in head.as_bytes().chunks(700) {
        c.send(piece);
        wait_until("the proxy read the piece", || {
            unread_by_peer(local, rw.addr()) == Some(0)
        });
    }
    let r = c.read_response();
    assert_eq!(r.status, 200);
    let seen = &up.wait_requests(1)[0];
    assert_eq!(seen.header("x-long"), Some(long.as_str()));
    assert_eq!(seen.header("x-b"), Some("2"));
    assert_eq!(c.get("h", "/after").status, 200);
}

/// Bytes queued unread on the proxy's side of the connection from `client` to
/// `server` (its receive queue, from `/proc/net/tcp`); `None` until it shows.
fn unread_by_peer(client: std::net::SocketAddr, server: std::net::SocketAddr) -> Option<u64> {
    let hex = |a: std::net::SocketAddr| match a {
        std::net::SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        std::net::SocketAddr::V6(_) => unreachable!("the tests listen on IPv4"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()) {
            let rx = f.get(4)?.split(':').nth(1)?;
            u64::from_str_radix(rx, 16).ok()
        } else {
            None
        }
    })
}
