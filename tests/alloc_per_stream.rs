//! What an HTTP/2 stream allocates (HTTP/2 may allocate per stream; HTTP/1.1
//! allocates nothing per request, `alloc_per_request.rs`). ringway runs in this
//! process with the counting allocator; the client is `h2load`, another
//! process, so only ringway's (and the stack-buffer upstream's: none)
//! allocations are counted. Two runs of different lengths on one connection
//! each; their difference divided by the extra streams is the per-stream count,
//! free of the connection's own set-up. A deterministic count, not a timing.
//!
//! One test, both drivers one after the other: nothing else in this binary
//! allocates while counting.

use std::process::Command;

use ringway::config::IoDriverChoice;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, upstream, Counting, InProcess};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Upper bound per stream, a regression guard just above what is measured
/// (9 on both drivers, 12 before the response's header map was sized once and
/// its service time taken from a static table: the stream's task, `h2`'s
/// request and header maps, the response head, one DATA buffer and the like;
/// see the README's "HTTP/2" section).
const MAX_PER_STREAM: u64 = 11;
const SHORT: u64 = 500;
const LONG: u64 = 1_500;

fn h2load(proxy: std::net::SocketAddr, n: u64) {
    let out = Command::new("h2load")
        .args(["-n", &n.to_string(), "-c", "1", "-m", "1"])
        .arg(format!("http://{proxy}/alloc"))
        .output()
        .expect("h2load (nghttp2-client, installed by .ci/run)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{n} succeeded")), "{text}");
}

fn allocations_per_stream(driver: IoDriverChoice, upstream: std::net::SocketAddr) -> f64 {
    let yaml = format!(
        "workers: 1\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n    virtual_hosts:\n      \
         - domains: [\"*\"]\n        routes:\n          - match: {{ prefix: / }}\n            \
         cluster: c\nclusters:\n  - name: c\n    hosts: [\"{upstream}\"]\n"
    );
    let ringway = InProcess::start(&yaml, driver);
    let proxy = ringway.addr;
    // Warm the pools (buffers, upstream connection) first.
    h2load(proxy, SHORT);
    let mut counts = Vec::new();
    for n in [SHORT, LONG] {
        counts.push(allocations_during(|| h2load(proxy, n)));
    }
    ringway.stop();
    (counts[1] as f64 - counts[0] as f64) / (LONG - SHORT) as f64
}

#[test]
fn an_http2_stream_allocates_a_bounded_few_times() {
    let upstream = upstream();
    for driver in [IoDriverChoice::Uring, IoDriverChoice::Epoll] {
        let per_stream = allocations_per_stream(driver, upstream);
        eprintln!("{driver:?}: {per_stream:.1} allocations per HTTP/2 stream");
        assert!(
            per_stream <= MAX_PER_STREAM as f64,
            "{driver:?}: {per_stream:.1} allocations per stream"
        );
    }
}
