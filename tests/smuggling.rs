//! Attempts to make ringway and its upstream disagree on where a request ends.
//! Each asserts what the upstream saw, and that the connection stays in step.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    connection_header_cannot_remove_content_length,
    h2c_upgrade_is_not_forwarded,
);

/// `Connection: content-length` must not strip the framing header: the upstream
/// would then read the body as the start of a second, smuggled request.
fn connection_header_cannot_remove_content_length(driver: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(driver, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut req = format!(
        "POST /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, content-length\r\ncontent-length: {}\r\n\r\n",
        smuggled.len()
    )
    .into_bytes();
    req.extend_from_slice(smuggled);
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, smuggled, "the body reached the upstream as a body");
    // The connection is still in step: the next request is answered as itself.
    let next = c.get("a", "/next");
    assert_eq!(next.status, 200);
    let seen = up.wait_requests(2);
    assert_eq!(seen.len(), 2, "no third, smuggled request");
    assert_eq!(seen[0].target, "/x");
    assert_eq!(seen[1].target, "/next");
}

/// An h2c upgrade would give the client a raw HTTP/2 connection to the upstream,
/// past ringway's routing of every later request. It is not forwarded.
fn h2c_upgrade_is_not_forwarded(driver: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(driver, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = up.wait_requests(1);
    assert_eq!(seen[0].header("upgrade"), None);
    assert_eq!(seen[0].header("http2-settings"), None);
    assert!(seen[0]
        .header("connection")
        .is_none_or(|v| !v.to_ascii_lowercase().contains("upgrade")));
}
