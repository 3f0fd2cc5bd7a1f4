//! Route retry policies through the real binary: a failed attempt is retried on
//! another host, only as often as allowed, only when the request can be replayed,
//! and each attempt is numbered in `x-ringway-attempt-count`.

#[macro_use]
mod support;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use support::*;

driver_tests!(
    status_5xx_is_retried_on_another_host,
    connect_failure_is_retried,
    retries_stop_at_num_retries,
    small_post_body_is_replayed,
    buffered_post_body_is_replayed,
    streamed_body_is_not_retried,
    unlisted_status_is_not_retried,
);

fn retry_config(hosts: &[std::net::SocketAddr], policy: &str) -> String {
    config(
        "",
        &catch_all("c", &format!("            retry_policy: {policy}\n")),
        &cluster("c", hosts),
    )
}

fn failing(name: &str, status: u16) -> Upstream {
    Upstream::start(name, move |_| {
        Reply::Bytes(
            format!("HTTP/1.1 {status} Nope\r\ncontent-length: 4\r\n\r\nfail").into_bytes(),
        )
    })
}

fn status_5xx_is_retried_on_another_host(driver: Driver) {
    let bad = failing("bad", 503);
    let good = Upstream::echo("good");
    let rw = Ringway::start(
        driver,
        &retry_config(&[bad.addr, good.addr], "{ retry_on: 5xx, num_retries: 1 }"),
    );
    let mut c = Client::connect(rw.addr());
    for _ in 0..4 {
        let r = c.get("example.com", "/x");
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.header("x-upstream"), Some("good"));
    }
    // Every request that met `bad` first was retried on `good` as attempt 2.
    let first_tries = bad.requests();
    assert!(!first_tries.is_empty());
    for r in &first_tries {
        assert_eq!(r.header("x-ringway-attempt-count"), Some("1"));
    }
    let counts: Vec<String> = good
        .requests()
        .iter()
        .map(|r| r.header("x-ringway-attempt-count").unwrap().to_string())
        .collect();
    assert_eq!(
        counts.iter().filter(|c| *c == "2").count(),
        first_tries.len()
    );
}

fn connect_failure_is_retried(driver: Driver) {
    let good = Upstream::echo("good");
    let rw = Ringway::start(
        driver,
        &retry_config(
            &[refused_addr(), good.addr],
            "{ retry_on: connect-failure, num_retries: 2 }",
        ),
    );
    let mut c = Client::connect(rw.addr());
    for _ in 0..4 {
        assert_eq!(c.get("example.com", "/").status, 200);
    }
}

fn retries_stop_at_num_retries(driver: Driver) {
    let bad = failing("bad", 502);
    let rw = Ringway::start(
        driver,
        &retry_config(&[bad.addr], "{ retry_on: gateway-error, num_retries: 2 }"),
    );
    let mut c = Client::connect(rw.addr());
    let r = c.get("example.com", "/");
    // The last attempt's response reaches the client as it was.
    assert_eq!(r.status, 502);
    assert_eq!(r.body_str(), "fail");
    assert_eq!(bad.request_count(), 3, "one try and two retries");
}

fn small_post_body_is_replayed(driver: Driver) {
    let bad = failing("bad", 503);
    let good = Upstream::echo("good");
    let rw = Ringway::start(
        driver,
        &retry_config(&[bad.addr, good.addr], "{ retry_on: 5xx }"),
    );
    let mut c = Client::connect(rw.addr());
    for _ in 0..2 {
        let r = c.roundtrip(b"POST /p HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
    }
    for r in bad.requests().iter().chain(good.requests().iter()) {
        assert_eq!(r.body, b"hello", "every attempt carries the whole body");
    }
}

fn streamed_body_is_not_retried(driver: Driver) {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let bad = Upstream::start("bad", move |_| {
        s.fetch_add(1, Ordering::SeqCst);
        Reply::Bytes(b"HTTP/1.1 503 Nope\r\ncontent-length: 0\r\n\r\n".to_vec())
    });
    let rw = Ringway::start(
        driver,
        &retry_config(&[bad.addr], "{ retry_on: 5xx, num_retries: 3 }"),
    );
    let mut c = Client::connect(rw.addr());
    // A chunked body streams through and cannot be sent twice.
    let r = c.roundtrip(
        b"POST /p HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 503);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

/// A body over 16 KiB but within the listener's request buffer (64 KiB) is
/// read whole before routing, held, and sent again to the next host.
fn buffered_post_body_is_replayed(driver: Driver) {
    let bad = failing("bad", 503);
    let good = Upstream::echo("good");
    let rw = Ringway::start(
        driver,
        &retry_config(&[bad.addr, good.addr], "{ retry_on: 5xx, num_retries: 1 }"),
    );
    let body = vec![b'q'; 40 * 1024];
    let mut c = Client::connect(rw.addr());
    for _ in 0..2 {
        c.send(
            format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        c.send(&body);
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.body, body, "the whole body, replayed");
    }
    assert!(
        !bad.requests().is_empty(),
        "one attempt met the failing host first"
    );
}

fn unlisted_status_is_not_retried(driver: Driver) {
    let bad = failing("bad", 500);
    let rw = Ringway::start(
        driver,
        &retry_config(
            &[bad.addr],
            "{ retry_on: retriable-status-codes, retriable_status_codes: [409] }",
        ),
    );
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("example.com", "/").status, 500);
    assert_eq!(bad.request_count(), 1);
}
