//! Attempts to make ringway and its upstream disagree on where a request ends.
//! Each asserts what the upstream saw, and that the connection stays in step.

#[macro_use]
mod support;

use support::*;

driver_tests!(connection_header_cannot_remove_content_length,);

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
