//! Steady-state proxying of large bodies allocates nothing either: a body
//! longer than one read buffer is relayed through a body-sized buffer lent by
//! the worker (before, every such response grew its read buffer in place, a
//! reallocation that copied it and freed the old one).
//!
//! Responses of 64 and 640 KiB by length, a chunked one, and 256 KiB
//! request bodies, on both drivers. Like `alloc_per_request.rs`, ringway runs
//! in this process (one worker) under a counting allocator; one test runs the
//! cases one after another, so nothing else in this binary allocates while
//! counting.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::Arc,
    thread,
};

use ringway::config::IoDriverChoice;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, head_end, Counting, InProcess};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Long enough for the runtime's own structures (its timer wheel among
/// them) to reach their size for the longest case.
const WARMUP: usize = 300;
const MEASURED: usize = 200;

/// How the upstream frames its response body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    Length,
    Chunked,
}

/// The upstream's whole response: a head and `len` bytes of body.
fn response(len: usize, framing: Framing) -> Vec<u8> {
    let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    match framing {
        Framing::Length => {
            let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").into_bytes();
            r.extend_from_slice(&body);
            r
        }
        Framing::Chunked => {
            let mut r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for chunk in body.chunks(10_000) {
                r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                r.extend_from_slice(chunk);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        }
    }
}

/// The `content-length` of a request head, if any (a plain scan: no allocation).
fn content_length(head: &[u8]) -> usize {
    const NAME: &[u8] = b"\r\ncontent-length:";
    let Some(at) = head
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME))
    else {
        return 0;
    };
    head[at + NAME.len()..]
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, d| n * 10 + usize::from(d - b'0'))
}

/// An upstream that reads each request (and its body) and answers with
/// `reply`, on a thread per connection, with stack buffers only.
fn upstream(reply: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.63:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let reply = reply.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                let mut len = 0;
                loop {
                    if let Some(end) = head_end(&buf[..len]) {
                        let mut body = content_length(&buf[..end]);
                        let here = body.min(len - end);
                        body -= here;
                        buf.copy_within(end + here..len, 0);
                        len -= end + here;
                        while body > 0 {
                            match conn.read(&mut buf[..body.min(16384)]) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => body -= n,
                            }
                        }
                        if conn.write_all(&reply).is_err() {
                            return;
                        }
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

/// One case: the upstream's response, and the size of each request's body.
struct Case {
    what: &'static str,
    response: usize,
    framing: Framing,
    upload: usize,
}

/// Send `request` (then `upload` bytes of body) and read the response through:
/// its body must be `body_len` bytes (chunked: re-sent chunked, read to the
/// last chunk).
fn roundtrip(conn: &mut TcpStream, request: &[u8], upload: &[u8], case: &Case) {
    conn.write_all(request).unwrap();
    conn.write_all(upload).unwrap();
    let mut buf = [0u8; 65536];
    let mut len = 0;
    let end = loop {
        if let Some(end) = head_end(&buf[..len]) {
            break end;
        }
        let n = conn.read(&mut buf[len..]).unwrap();
        assert!(n > 0, "{}: proxy closed the connection", case.what);
        len += n;
    };
    assert!(buf.starts_with(b"HTTP/1.1 200 "), "{}", case.what);
    let mut seen = len - end;
    match case.framing {
        Framing::Length => {
            while seen < case.response {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "{}: body cut short", case.what);
                seen += n;
            }
            assert_eq!(seen, case.response, "{}", case.what);
        }
        Framing::Chunked => {
            // The last chunk ends the message; keep the tail to find it.
            fn keep(tail: &mut [u8; 5], bytes: &[u8]) {
                for &b in bytes {
                    tail.rotate_left(1);
                    tail[4] = b;
                }
            }
            let mut tail = [0u8; 5];
            keep(&mut tail, &buf[end..len]);
            while &tail != b"0\r\n\r\n" {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "{}: body cut short", case.what);
                keep(&mut tail, &buf[..n]);
            }
        }
    }
}

fn allocations(driver: IoDriverChoice, case: &Case) -> u64 {
    let upstream = upstream(Arc::new(response(case.response, case.framing)));
    let yaml = format!(
        "workers: 1\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n    virtual_hosts:\n      \
         - domains: [\"*\"]\n        routes:\n          - match: {{ prefix: / }}\n            cluster: c\n\
         clusters:\n  - name: c\n    hosts: [\"{upstream}\"]\n"
    );
    let ringway = InProcess::start(&yaml, driver);
    let proxy = ringway.addr;
    let request = if case.upload > 0 {
        format!(
            "POST /big HTTP/1.1\r\nHost: example.com\r\ncontent-length: {}\r\n\r\n",
            case.upload
        )
    } else {
        "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n".to_string()
    };
    let upload = vec![b'u'; case.upload];
    let mut conn = TcpStream::connect(proxy).unwrap();
    conn.set_nodelay(true).unwrap();
    for _ in 0..WARMUP {
        roundtrip(&mut conn, request.as_bytes(), &upload, case);
    }
    let allocations = allocations_during(|| {
        for _ in 0..MEASURED {
            roundtrip(&mut conn, request.as_bytes(), &upload, case);
        }
    });
    drop(conn);
    ringway.stop();
    allocations
}

#[test]
fn large_bodies_allocate_nothing() {
    let cases = [
        Case {
            what: "64 KiB response",
            response: 64 << 10,
            framing: Framing::Length,
            upload: 0,
        },
        Case {
            what: "640 KiB response",
            response: 640 << 10,
            framing: Framing::Length,
            upload: 0,
        },
        Case {
            what: "chunked 200 KiB response",
            response: 200 << 10,
            framing: Framing::Chunked,
            upload: 0,
        },
        Case {
            what: "256 KiB request body",
            response: 5,
            framing: Framing::Length,
            upload: 256 << 10,
        },
    ];
    for case in &cases {
        for driver in [IoDriverChoice::Uring, IoDriverChoice::Epoll] {
            let n = allocations(driver, case);
            assert_eq!(
                n, 0,
                "{}, {driver:?}: {n} allocations over {MEASURED} requests",
                case.what
            );
        }
    }
}
