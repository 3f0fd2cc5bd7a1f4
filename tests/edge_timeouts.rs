//! The stream timeouts an edge sets, through the real binary: `request_timeout`
//! (the whole request, head and body), `stream_idle_timeout` (each wait for
//! body bytes) and `max_stream_duration` (the whole exchange), each with
//! Envoy's 408 and its listener counter before the response starts, and a
//! response cut short after. Timeouts are 200ms; the tests wait for the reply
//! (or the close), never for a time.

#[macro_use]
mod support;

use std::io::Write;

use support::{admin, *};

driver_tests!(
    request_timeout_bounds_head_and_body,
    stream_idle_timeout_bounds_each_body_wait,
    max_stream_duration_bounds_the_exchange,
    envoy_form_timeouts_map,
    a_routes_max_stream_duration_replaces_the_listeners,
);

fn start(d: Driver, listener: &str, up: &Upstream, route: &str) -> Ringway {
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config(listener, &catch_all("c", route), &cluster("c", &[up.addr]))
    );
    Ringway::start(d, &yaml)
}

/// Wait until the listener counter `name` reaches `n`.
fn wait_counter(rw: &Ringway, name: &str, n: u64) {
    let full = format!("http.ingress.{name}");
    wait_until(&format!("{full} to reach {n}"), || {
        admin::stat(&admin::stats(rw.admin()), &full) >= n
    });
}

fn request_timeout_bounds_head_and_body(d: Driver) {
    let up = Upstream::echo("up");
    // Buffered body (the default request_buffer), then a streamed one.
    for (i, buffer) in ["", "    request_buffer: 0\n"].iter().enumerate() {
        let rw = start(d, &format!("    request_timeout: 200ms\n{buffer}"), &up, "");
        let mut c = Client::connect(rw.addr());
        c.send(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
        let r = c.read_response();
        assert_eq!(r.status, 408, "{buffer}");
        assert_eq!(r.body_str(), "request timeout\n");
        c.expect_closed();
        // A head that never ends.
        let mut c = Client::connect(rw.addr());
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 408);
        assert_eq!(r.body_str(), "request timeout\n");
        wait_counter(&rw, "downstream_rq_timeout", 2);
        // A request that arrives in time is served, whatever its response takes.
        assert_eq!(get(rw.addr(), "a", "/fine").status, 200);
        assert_eq!(up.request_count(), i + 1);
    }
}

fn stream_idle_timeout_bounds_each_body_wait(d: Driver) {
    // The upstream sends its head and part of the body, then stops.
    let stalls = Upstream::start("stalls", |r| {
        if r.target == "/stall" {
            Reply::Custom(Box::new(|s| {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
                true
            }))
        } else {
            Reply::Bytes(echo_response("stalls", r))
        }
    });
    let rw = start(
        d,
        "    stream_idle_timeout: 200ms\n    request_buffer: 0\n",
        &stalls,
        "            timeout: 0s\n",
    );
    // The client's body stalls: 408 before any response.
    let mut c = Client::connect(rw.addr());
    c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response();
    assert_eq!(r.status, 408);
    assert_eq!(r.body_str(), "stream timeout\n");
    c.expect_closed();
    wait_counter(&rw, "downstream_rq_idle_timeout", 1);
    // The upstream's body stalls after its head: the response is cut short.
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /stall HTTP/1.1\r\nHost: a\r\n\r\n");
    match c.try_read_response(false) {
        Err(ReadFail::Truncated(_)) => {}
        other => panic!("expected a response cut short, got {other:?}"),
    }
}

fn max_stream_duration_bounds_the_exchange(d: Driver) {
    let up = Upstream::start("up", |r| match r.target.as_str() {
        "/hang" => Reply::Hang,
        "/partial" => Reply::Custom(Box::new(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
            true
        })),
        _ => Reply::Bytes(echo_response("up", r)),
    });
    // The route timeout would answer 504 only after 15s.
    let rw = start(d, "    max_stream_duration: 200ms\n", &up, "");
    let mut c = Client::connect(rw.addr());
    let r = c.get("a", "/hang");
    assert_eq!(r.status, 408);
    assert_eq!(r.body_str(), "downstream duration timeout\n");
    c.expect_closed();
    wait_counter(&rw, "downstream_rq_max_duration_reached", 1);
    // Started: cut short, counted too.
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /partial HTTP/1.1\r\nHost: a\r\n\r\n");
    match c.try_read_response(false) {
        Err(ReadFail::Truncated(_)) => {}
        other => panic!("expected a response cut short, got {other:?}"),
    }
    wait_counter(&rw, "downstream_rq_max_duration_reached", 2);
    // A quick exchange is not affected.
    let mut c = Client::connect(rw.addr());
    for _ in 0..3 {
        assert_eq!(c.get("a", "/quick").status, 200);
    }
}

/// The Envoy keys land on the same settings.
fn envoy_form_timeouts_map(d: Driver) {
    let up = Upstream::start("up", |r| match r.target.as_str() {
        "/hang" => Reply::Hang,
        _ => Reply::Bytes(echo_response("up", r)),
    });
    let hcm = "          request_timeout: 0.2s\n          stream_idle_timeout: 300s\n          \
               common_http_protocol_options:\n            max_stream_duration: 0.3s\n";
    let yaml = envoy::file(
        &[envoy::listener(
            "ingress",
            "ingress",
            hcm,
            &envoy::route_all("up"),
        )],
        &[envoy::cluster("up", up.addr)],
        "admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n",
    );
    let rw = Ringway::start(d, &yaml);
    let mut c = Client::connect(rw.addr());
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab");
    let r = c.read_response();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (408, "request timeout\n")
    );
    let r = get(rw.addr(), "a", "/hang");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (408, "downstream duration timeout\n")
    );
    wait_counter(&rw, "downstream_rq_timeout", 1);
    wait_counter(&rw, "downstream_rq_max_duration_reached", 1);
}

/// A route's `max_stream_duration` replaces the listener's: shorter on one
/// route, `0s` (off) on another, whose route timeout then answers (504).
fn a_routes_max_stream_duration_replaces_the_listeners(d: Driver) {
    let up = Upstream::start("up", |r| match r.target.as_str() {
        "/quick" => Reply::Bytes(echo_response("up", r)),
        _ => Reply::Hang,
    });
    let vhosts = "      - name: all\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: /short }\n            cluster: c\n            max_stream_duration: 100ms\n\
        \x20         - match: { prefix: /off }\n            cluster: c\n            max_stream_duration: 0s\n            timeout: 300ms\n\
        \x20         - match: { prefix: / }\n            cluster: c\n";
    let rw = Ringway::start(
        d,
        &config(
            "    max_stream_duration: 10s\n",
            vhosts,
            &cluster("c", &[up.addr]),
        ),
    );
    let r = get(rw.addr(), "a", "/short");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (408, "downstream duration timeout\n")
    );
    let r = get(rw.addr(), "a", "/off");
    assert_eq!(r.status, 504, "{}", r.body_str());
    assert_eq!(get(rw.addr(), "a", "/quick").status, 200);
}
