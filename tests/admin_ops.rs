//! The admin endpoint as an operator and an attacker meet it, through the real
//! binary: slow and silent clients cannot delay a health check, the log level
//! and reload answers say what they did, and state-changing requests from a
//! browser page are refused.
//!
//! The admin runs the same code under either io driver (its own thread), so
//! these run once, under epoll. Every wait is on a condition with a deadline.

mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
};

use ringway::admin::server::MAX_CONNECTIONS;
use support::{admin, simple_config, wait_until, Driver, Ringway, Upstream};

fn with_admin(yaml: &str) -> String {
    format!("admin:\n  address: 127.0.0.1:0\n{yaml}")
}

fn start() -> (Ringway, Upstream) {
    let up = Upstream::echo("a");
    let rw = Ringway::start(Driver::Epoll, &with_admin(&simple_config(&[up.addr])));
    (rw, up)
}

/// Whether `conn` is still open with nothing received: a non-blocking read
/// finds no data and no end of stream.
fn open_and_unanswered(conn: &TcpStream) -> bool {
    conn.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let result = (&*conn).read(&mut byte);
    conn.set_nonblocking(false).unwrap();
    matches!(result, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

fn ready(addr: SocketAddr) {
    let r = admin::get(addr, "/ready");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_str(), "LIVE\n");
}

#[test]
fn silent_and_trickling_clients_do_not_delay_ready() {
    let (rw, _up) = start();
    let addr = rw.admin();
    let silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut trickle = TcpStream::connect(addr).unwrap();
    // One byte of a request between health checks: the trickling request never
    // completes, and every check is answered while it and the silent ones wait.
    let request = b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n";
    let (trickled, rest) = request.split_at(request.len() - 1);
    for byte in trickled {
        trickle.write_all(&[*byte]).unwrap();
        ready(addr);
        assert!(
            open_and_unanswered(&trickle),
            "the trickling client was answered or cut off"
        );
    }
    for (i, c) in silent.iter().enumerate() {
        assert!(
            open_and_unanswered(c),
            "silent connection {i} was answered or cut off"
        );
    }
    // The trickling client still gets its answer once its request is whole.
    trickle.write_all(rest).unwrap();
    let mut answer = String::new();
    trickle.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

#[test]
fn a_flood_beyond_the_bound_evicts_the_oldest_not_the_health_check() {
    let (rw, _up) = start();
    let addr = rw.admin();
    let flood: Vec<TcpStream> = (0..2 * MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    ready(addr);
    // The newest silent connection is kept (the oldest made room for it).
    assert!(open_and_unanswered(flood.last().unwrap()));
    // The oldest is closed without an answer (evicted, or at the latest at its
    // deadline).
    let mut first = &flood[0];
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap_or_default();
    assert!(rest.is_empty(), "an evicted connection got bytes: {rest:?}");
}

#[test]
fn a_bad_log_level_is_refused_and_changes_nothing() {
    let (rw, _up) = start();
    let addr = rw.admin();
    let r = admin::post(addr, "/logging?level=warnn");
    assert_eq!(r.status, 400, "{r:?}");
    let body = r.body_str();
    assert!(body.contains("warnn"), "{body}");
    assert!(body.contains("trace, debug, info, warn, error"), "{body}");
    // Still at info: an info line (the reload's) is logged.
    assert_eq!(admin::post(addr, "/reload").status, 200);
    wait_until("the reload's info line", || {
        rw.stderr().contains("reload accepted")
    });
    let r = admin::post(addr, "/logging?level=ringway=debug,warn");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn reload_says_what_changed_and_a_no_op_keeps_the_generation() {
    let up = Upstream::echo("a");
    let yaml = with_admin(&simple_config(&[up.addr]));
    let rw = Ringway::start(Driver::Epoll, &yaml);
    let addr = rw.admin();
    let reload = || {
        let r = admin::post(addr, "/reload");
        assert_eq!(r.status, 200, "{r:?}");
        r.body_str()
    };
    let body = reload();
    assert!(body.contains("no change (generation 1 stays)"), "{body}");
    let body = reload();
    assert!(body.contains("no change (generation 1 stays)"), "{body}");

    // A changed route on a kept listener: named in the answer and the log.
    rw.write_config(&yaml.replace("prefix: /", "prefix: /v2"));
    let body = reload();
    assert!(body.contains("generation 2:"), "{body}");
    assert!(body.contains("listeners changed [ingress]"), "{body}");
    let log = rw.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("reload accepted") && l.contains("listeners changed [ingress]")),
        "{log}"
    );
}

#[test]
fn state_changes_from_a_browser_page_are_refused() {
    let (rw, _up) = start();
    let addr = rw.admin();
    let refused = [
        format!("host: {addr}\r\norigin: http://evil.example\r\n"),
        format!("host: {addr}\r\norigin: null\r\n"),
        format!("host: {addr}\r\norigin: http://localhost:1\r\n"),
        "host: evil.example:8001\r\n".to_string(),
    ];
    for headers in &refused {
        let r = admin::post_with(addr, "/healthcheck/fail", headers);
        assert_eq!(r.status, 403, "{headers:?}: {r:?}");
        assert!(r.body_str().starts_with("refused: "), "{r:?}");
        let r = admin::post_with(addr, "/quitquitquit", headers);
        assert_eq!(r.status, 403, "{headers:?}: {r:?}");
    }
    // Nothing changed: still live, still running.
    ready(addr);
    let allowed = [
        format!("host: {addr}\r\n"),
        format!("host: localhost:{}\r\n", addr.port()),
        format!("host: {addr}\r\norigin: http://{addr}\r\n"),
        format!(
            "host: localhost\r\norigin: http://localhost:{}\r\n",
            addr.port()
        ),
    ];
    for headers in &allowed {
        let r = admin::post_with(addr, "/healthcheck/ok", headers);
        assert_eq!(r.status, 200, "{headers:?}: {r:?}");
    }
    // GETs change nothing and are not checked.
    let r = support::request(addr, "GET", "/ready", "origin: http://evil.example\r\n");
    assert_eq!(r.status, 200);
}
