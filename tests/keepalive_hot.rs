//! Hot and cold keep-alive waits through the real binary (`worker::h1`): on
//! io_uring a plain connection that has served two requests waits for its next
//! in a read that holds its buffer, and cools after a whole idle tick — its read cancelled and
//! awaited, its buffer back in the pool — to wait as every idle connection
//! does. Either way every request is served whole, and the idle timeout and the
//! drain close the connection. Cooling is seen through
//! `worker.0.downstream_cx_cooled`; every wait is a condition with a deadline.

#[macro_use]
mod support;

use std::net::SocketAddr;

use support::{
    admin::{stat, stats},
    *,
};

driver_tests!(
    back_to_back_keep_alive_requests_are_served,
    a_request_in_pieces_after_a_request_is_served,
    a_short_idle_timeout_closes_a_hot_connection,
    the_drain_closes_a_connection_just_served,
);

const COOLED: &str = "worker.0.downstream_cx_cooled";
const RX_BYTES: &str = "http.ingress.downstream_cx_rx_bytes_total";

/// One listener (with `extra` keys) to an echo upstream, and the admin.
fn start(driver: Driver, extra: &str) -> (Ringway, Upstream) {
    let up = Upstream::echo("up");
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config(extra, &catch_all("c", ""), &cluster("c", &[up.addr]))
    );
    (Ringway::start(driver, &yaml), up)
}

fn cooled(admin: SocketAddr) -> u64 {
    stat(&stats(admin), COOLED)
}

/// Wait until the worker has cooled `n` connections in all.
fn wait_cooled(admin: SocketAddr, n: u64) {
    wait_until("the idle connection to cool", || cooled(admin) >= n);
}

/// Send `head` in pieces, each read by ringway (its received-bytes counter
/// says so) before the next is sent.
fn send_in_pieces(c: &mut Client, admin: SocketAddr, head: &[u8], piece: usize) {
    for p in head.chunks(piece) {
        let before = stat(&stats(admin), RX_BYTES);
        c.send(p);
        wait_until("ringway to read the piece", || {
            stat(&stats(admin), RX_BYTES) >= before + p.len() as u64
        });
    }
}

/// Two requests: from then on the connection's waits are hot (on io_uring).
fn serve_two(c: &mut Client) {
    assert_eq!(c.get("a", "/first").status, 200);
    assert_eq!(c.get("a", "/second").status, 200);
}

fn back_to_back_keep_alive_requests_are_served(driver: Driver) {
    let (rw, up) = start(driver, "");
    let mut c = Client::connect(rw.addr());
    for i in 0..200 {
        let r = c.get("a", &format!("/n{i}"));
        assert_eq!(r.status, 200, "request {i}");
        assert!(!r.has_token("connection", "close"));
    }
    assert_eq!(up.wait_requests(200).len(), 200);
}

/// The first piece lands in a hot connection's read (on io_uring), the rest
/// in the head's own reads: the upstream sees the head whole.
fn a_request_in_pieces_after_a_request_is_served(driver: Driver) {
    let (rw, up) = start(driver, "");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    let head = b"GET /pieces HTTP/1.1\r\nHost: a\r\nX-A: 1234567890\r\nX-B: 2\r\n\r\n";
    send_in_pieces(&mut c, admin, head, 9);
    assert_eq!(c.read_response().status, 200);
    let seen = &up.wait_requests(3)[2];
    assert_eq!(seen.header("x-a"), Some("1234567890"));
    assert_eq!(seen.header("x-b"), Some("2"));
    assert_eq!(c.get("a", "/after").status, 200);
}

/// An idle timeout shorter than a tick expires a hot connection before it
/// could cool (a deadline wins over cooling), and closes it.
fn a_short_idle_timeout_closes_a_hot_connection(driver: Driver) {
    let (rw, _up) = start(driver, "    idle_timeout: 50ms\n");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    wait_until("the idle connection to be closed", || c.is_closed());
    assert_eq!(cooled(admin), 0, "closed hot, never cooled");
}

fn the_drain_closes_a_connection_just_served(driver: Driver) {
    let (mut rw, _up) = start(driver, "");
    let mut hot = Client::connect(rw.addr());
    serve_two(&mut hot);
    rw.sigterm();
    hot.expect_closed();
    assert_eq!(rw.wait_exit().code(), Some(0));
}

// Cooling happens on io_uring only (epoll connections always wait cold).

#[test]
fn a_cooled_connection_serves_its_next_request() {
    let (rw, up) = start(Driver::Uring, "");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    wait_cooled(admin, 1);
    let r = c.get("a", "/third");
    assert_eq!(r.status, 200);
    assert_eq!(up.wait_requests(3)[2].target, "/third");
    // Served, it waits hot again, and cools again.
    wait_cooled(admin, 2);
    assert_eq!(c.get("a", "/fourth").status, 200);
}

#[test]
fn a_cooled_connection_serves_a_request_in_pieces() {
    let (rw, up) = start(Driver::Uring, "");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    wait_cooled(admin, 1);
    let head = b"GET /pieces HTTP/1.1\r\nHost: a\r\nX-A: 1234567890\r\n\r\n";
    send_in_pieces(&mut c, admin, head, 7);
    assert_eq!(c.read_response().status, 200);
    assert_eq!(up.wait_requests(3)[2].header("x-a"), Some("1234567890"));
    assert_eq!(c.get("a", "/after").status, 200);
}

#[test]
fn the_idle_timeout_closes_a_cooled_connection() {
    let (rw, _up) = start(Driver::Uring, "    idle_timeout: 1s\n");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    wait_cooled(admin, 1);
    wait_until("the idle connection to be closed", || c.is_closed());
}

#[test]
fn the_drain_closes_a_cooled_connection() {
    let (mut rw, _up) = start(Driver::Uring, "");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    wait_cooled(admin, 1);
    rw.sigterm();
    c.expect_closed();
    assert_eq!(rw.wait_exit().code(), Some(0));
}

/// A client that sends one request and then idles (the idle benchmark's,
/// a keep-alive pool's spare connection) waits cold from the start: through
/// its whole idle timeout it never held a buffer to give back.
#[test]
fn a_connection_that_served_one_request_waits_cold() {
    let (rw, _up) = start(Driver::Uring, "    idle_timeout: 1s\n");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("a", "/").status, 200);
    wait_until("the idle connection to be closed", || c.is_closed());
    assert_eq!(cooled(admin), 0);
}

#[test]
fn epoll_connections_never_wait_hot() {
    let (rw, _up) = start(Driver::Epoll, "    idle_timeout: 1s\n");
    let admin = rw.admin();
    let mut c = Client::connect(rw.addr());
    serve_two(&mut c);
    // Idle through its whole timeout: it never held a buffer to give back.
    wait_until("the idle connection to be closed", || c.is_closed());
    assert_eq!(cooled(admin), 0);
}
