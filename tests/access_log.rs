//! Access-log operators through the real binary that the admin tests do not
//! cover: `%RESP(H)%` for any response header (as sent to the client), with
//! alternatives and a length cap, and `-` for a header that is not there or a
//! reply of ringway's own.

#[macro_use]
mod support;

use support::*;

driver_tests!(resp_operator_logs_response_headers);

fn resp_operator_logs_response_headers(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/x-test\r\nx-long: abcdefgh\r\n\r\nok"
                .to_vec(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    access_log:\n      path: \"{}\"\n      format: \"%REQ(:PATH)% [%RESP(CONTENT-TYPE)%] [%RESP(X-MISSING)%] [%RESP(X-NOPE?X-LONG):3%] [%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%]\\n\"\n",
        log.display()
    );
    let vhosts = "      - domains: [\"only.test\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: c\n";
    let rw = Ringway::start(d, &config(&listener, vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("only.test", "/up").status, 200);
    assert_eq!(c.get("elsewhere.test", "/own").status, 404);
    let text = wait_for("two access log lines", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("/up [text/x-test] [-] [abc] ["),
        "{lines:?}"
    );
    assert!(
        !lines[0].ends_with("[-]"),
        "the service time is logged: {lines:?}"
    );
    assert_eq!(
        lines[1], "/own [-] [-] [-] [-]",
        "ringway's own reply has no upstream headers"
    );
}
