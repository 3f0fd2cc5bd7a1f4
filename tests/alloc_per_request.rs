//! Steady-state proxying allocates nothing on the heap. A counting global
//! allocator wraps the system one; ringway runs in this process (one worker),
//! with an upstream and a client that themselves never allocate once started.
//! After a warm-up, thousands of keep-alive requests must add no allocation.
//!
//! This is a deterministic count, not a timing, so it belongs in the test suite.
//! Both io drivers run in one test, one after the other, so no other test in
//! this binary allocates while counting.

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use ringway::config::IoDriverChoice;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, head_end, upstream, Counting, InProcess};

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUEST: &[u8] =
    b"GET /alloc HTTP/1.1\r\nHost: example.com\r\nUser-Agent: alloc-test\r\n\r\n";
const WARMUP: u64 = 2_000;
const MEASURED: u64 = 5_000;

/// Send one request and read one response (whose body is `hello`).
fn roundtrip(conn: &mut TcpStream, buf: &mut [u8; 4096]) {
    conn.write_all(REQUEST).unwrap();
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buf[..len]) {
            if len >= end + 5 {
                assert_eq!(&buf[end..end + 5], b"hello");
                assert!(buf.starts_with(b"HTTP/1.1 200 "));
                return;
            }
        }
        let n = conn.read(&mut buf[len..]).unwrap();
        assert!(n > 0, "proxy closed the connection");
        len += n;
    }
}

/// Route keys that turn on header mutations with every operator they can
/// fill, at all three levels, and a host rewrite: rendered into reused
/// buffers, so they too must not allocate per request.
const MUTATIONS: &str = "            host_rewrite: backend.internal\n            \
     request_headers_to_add:\n              \
     - { name: x-client, value: \"%DOWNSTREAM_REMOTE_ADDRESS% %PROTOCOL% %REQ(user-agent)%\" }\n              \
     - { name: x-started, value: \"%START_TIME%\", action: overwrite_if_exists_or_add }\n            \
     request_headers_to_remove: [user-agent]\n            \
     response_headers_to_add:\n              \
     - { name: x-served-by, value: \"%UPSTREAM_REMOTE_ADDRESS%\" }\n            \
     response_headers_to_remove: [x-powered-by]\n        \
     response_headers_to_add: [{ name: x-vhost, value: v, action: add_if_absent }]\n    \
     request_headers_to_add: [{ name: x-edge, value: \"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\" }]\n";

/// A JSON access log with most operators and a filter, on the listener.
const ACCESS_LOG: &str = "    access_log:\n      \
     path: /dev/null\n      \
     json_format: { code: \"%RESPONSE_CODE%\", details: \"%RESPONSE_CODE_DETAILS%\", flags: \"%RESPONSE_FLAGS%\", \
     req: { method: \"%REQ(:METHOD)%\", path: \"%REQ(:PATH)%\", scheme: \"%REQ(:SCHEME)%\", host: \"%REQ(:AUTHORITY)%\", ua: \"%REQ(USER-AGENT):10%\" }, \
     bytes: \"%BYTES_SENT%\", ms: \"%DURATION%\", rq: \"%REQUEST_DURATION%\", rs: \"%RESPONSE_DURATION%\", up: \"%UPSTREAM_HOST%\", \
     cluster: \"%UPSTREAM_CLUSTER%\", local: \"%DOWNSTREAM_LOCAL_ADDRESS%\", peer: \"%DOWNSTREAM_REMOTE_ADDRESS%\", conn: \"%CONNECTION_ID%\", \
     host: \"%HOSTNAME%\", at: \"%START_TIME%\", t: \"%START_TIME(%Y-%m-%dT%H:%M:%S.%6f %s)%\", line: \"%PROTOCOL% %REQ(X-NONE)%\" }\n      \
     filter: { and: [{ not_health_check: true }, { or: [{ status_code: { op: ge, value: 100 } }, { sample_percent: 50 }] }] }\n";

/// Routes ahead of the catch-all that the request must be tested against and
/// miss (a regex path, a case-insensitive prefix, header and query tests),
/// and a catch-all that splits by weight: matching and the weighted draw must
/// not allocate either.
const CONDITIONS: &str = "          - match: { safe_regex: \"/a[0-9]+\" }\n            cluster: c\n          \
     - match: { prefix: /ALLOC/x, case_sensitive: false }\n            cluster: c\n          \
     - match: { prefix: /, headers: [{ name: user-agent, contains: bot, ignore_case: true }, { name: x-a, present: true }] }\n            cluster: c\n          \
     - match: { prefix: /, query_parameters: [{ name: q, exact: \"1\" }] }\n            cluster: c\n";
const WEIGHTED: &str =
    "            weighted_clusters: [{ cluster: c, weight: 3 }, { cluster: c2, weight: 1 }]\n";

/// The last route (`prefix: /`): to cluster `c`, or `target` instead when set.
fn allocations_per_request(
    driver: IoDriverChoice,
    upstream: std::net::SocketAddr,
    case: &Case,
) -> (u64, u64) {
    let target = case.target.unwrap_or("            cluster: c\n");
    let yaml = format!(
        "workers: 1\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n    virtual_hosts:\n      \
         - domains: [\"*\"]\n        routes:\n{}          - match: {{ prefix: / }}\n{target}{}\
         clusters:\n  - name: c\n    hosts: [\"{upstream}\"]\n  - name: c2\n    hosts: [\"{upstream}\"]\n",
        case.before, case.route_extra
    );
    let ringway = InProcess::start(&yaml, driver);
    let proxy = ringway.addr;
    let mut conn = TcpStream::connect(proxy).unwrap();
    conn.set_nodelay(true).unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..WARMUP {
        roundtrip(&mut conn, &mut buf);
    }
    let allocations = allocations_during(|| {
        for _ in 0..MEASURED {
            roundtrip(&mut conn, &mut buf);
        }
    });
    drop(conn);
    ringway.stop();
    (allocations, MEASURED)
}

#[test]
fn steady_state_requests_allocate_nothing() {
    let upstream = upstream();
    let cases = [
        Case::new("plain"),
        Case {
            route_extra: MUTATIONS,
            ..Case::new("header mutations")
        },
        Case {
            before: CONDITIONS,
            target: Some(WEIGHTED),
            ..Case::new("conditional routes and a weighted split")
        },
        Case {
            route_extra: ACCESS_LOG,
            ..Case::new("a JSON access log with a filter")
        },
    ];
    for case in &cases {
        for driver in [IoDriverChoice::Uring, IoDriverChoice::Epoll] {
            let (allocations, requests) = allocations_per_request(driver, upstream, case);
            assert_eq!(
                allocations, 0,
                "{}, {driver:?}: {allocations} allocations over {requests} proxied requests",
                case.what
            );
        }
    }
}

/// One config the count runs under.
struct Case {
    what: &'static str,
    /// Routes before the catch-all.
    before: &'static str,
    /// The catch-all's action (default `cluster: c`).
    target: Option<&'static str>,
    /// More keys of the catch-all route, then of its virtual host and listener.
    route_extra: &'static str,
}

impl Case {
    fn new(what: &'static str) -> Case {
        Case {
            what,
            before: "",
            target: None,
            route_extra: "",
        }
    }
}
