//! Steady-state proxying allocates nothing even when many requests are in
//! flight at once: the worker's pools keep what the load has in flight, not a
//! fixed number (a fixed 256 made every request past the 256th allocate and
//! free its buffers, scratch, tap and future slot again, at 1,000 connections).
//!
//! The upstream answers in waves: it holds every response until all
//! `IN_FLIGHT` requests of a wave have reached it, so exactly that many are in
//! flight in the proxy each time, whatever the scheduling. Like
//! `alloc_per_request.rs`, ringway runs in this process (one worker) under a
//! counting allocator, and the test is a deterministic count.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Barrier},
    thread,
};

use ringway::config::IoDriverChoice;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, head_end, Counting, InProcess, RESPONSE};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Past the old fixed pool size (256), well under the pools' ceiling.
const IN_FLIGHT: usize = 300;
const WARMUP_WAVES: usize = 5;
const MEASURED_WAVES: usize = 20;
const REQUEST: &[u8] = b"GET /wave HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// An upstream that answers each connection's request only once `IN_FLIGHT`
/// requests are waiting (a thread per connection, stack buffers only).
fn upstream_in_waves() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.62:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let wave = Arc::new(Barrier::new(IN_FLIGHT));
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let wave = wave.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut len = 0;
                loop {
                    if let Some(end) = head_end(&buf[..len]) {
                        wave.wait();
                        if conn.write_all(RESPONSE).is_err() {
                            return;
                        }
                        buf.copy_within(end..len, 0);
                        len -= end;
                        continue;
                    }
                    match conn.read(&mut buf[len..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
            });
        }
    });
    addr
}

/// One request on every connection, then every response.
fn wave(conns: &mut [TcpStream]) {
    for c in conns.iter_mut() {
        c.write_all(REQUEST).unwrap();
    }
    let mut buf = [0u8; 1024];
    for c in conns.iter_mut() {
        let mut len = 0;
        loop {
            if let Some(end) = head_end(&buf[..len]) {
                if len >= end + 5 {
                    assert!(buf.starts_with(b"HTTP/1.1 200 "));
                    assert_eq!(len, end + 5, "one response per request");
                    break;
                }
            }
            let n = c.read(&mut buf[len..]).unwrap();
            assert!(n > 0, "proxy closed the connection");
            len += n;
        }
    }
}

fn allocations_over_waves(driver: IoDriverChoice, upstream: SocketAddr) -> u64 {
    let yaml = format!(
        "workers: 1\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n    virtual_hosts:\n      \
         - domains: [\"*\"]\n        routes:\n          - match: {{ prefix: / }}\n            cluster: c\n\
         clusters:\n  - name: c\n    hosts: [\"{upstream}\"]\n    max_idle_per_host: 1024\n"
    );
    let ringway = InProcess::start(&yaml, driver);
    let proxy = ringway.addr;
    let mut conns: Vec<TcpStream> = (0..IN_FLIGHT)
        .map(|_| {
            let c = TcpStream::connect(proxy).unwrap();
            c.set_nodelay(true).unwrap();
            c
        })
        .collect();
    for _ in 0..WARMUP_WAVES {
        wave(&mut conns);
    }
    let allocations = allocations_during(|| {
        for _ in 0..MEASURED_WAVES {
            wave(&mut conns);
        }
    });
    drop(conns);
    ringway.stop();
    allocations
}

#[test]
fn many_requests_in_flight_allocate_nothing() {
    // One upstream per driver: its barrier counts one wave of one proxy's
    // connections, and each proxy opens its own.
    for driver in [IoDriverChoice::Uring, IoDriverChoice::Epoll] {
        let allocations = allocations_over_waves(driver, upstream_in_waves());
        assert_eq!(
            allocations,
            0,
            "{driver:?}: {allocations} allocations over {} requests, {IN_FLIGHT} in flight at once",
            IN_FLIGHT * MEASURED_WAVES
        );
    }
}
