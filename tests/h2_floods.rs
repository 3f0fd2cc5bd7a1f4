//! HTTP/2 abuse from a client that writes raw frames (no HTTP/2 library on the
//! attacking side, so nothing politely stops short): the known floods and
//! bombs each end in a GOAWAY or a closed connection, nothing reaches the
//! upstream, the proxy's memory stays bounded, and the next client is served.
//!
//! - CONTINUATION flood (CVE-2024-27316): a header block that never ends.
//! - HPACK bomb: one large dynamic-table entry referenced thousands of times.
//! - SETTINGS and PING floods (CVE-2019-9515, -9512) from a client that never
//!   reads the acknowledgements.
//! - Empty DATA frames without end (CVE-2019-9518).

#[macro_use]
mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    time::Duration,
};

use support::*;

driver_tests!(
    a_continuation_flood_ends_the_connection,
    an_hpack_bomb_reaches_no_upstream,
    settings_and_ping_floods_leave_the_proxy_serving,
    an_empty_data_flood_ends_or_is_bounded,
);

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK string literal, no Huffman (lengths here stay below 127).
fn hpack_str(s: &[u8]) -> Vec<u8> {
    assert!(s.len() < 127);
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s);
    v
}

/// `GET /flood` to `app.test`, from the static table plus one literal.
fn get_block() -> Vec<u8> {
    // :method GET, :scheme http, :path /, then :authority (name index 1).
    let mut b = vec![0x82, 0x86, 0x84, 0x01];
    b.extend(hpack_str(b"app.test"));
    b
}

/// A connection with the preface and an empty SETTINGS sent.
fn open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(PREFACE).unwrap();
    s.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
    s
}

/// Write `f` up to `times` times; false once the proxy stops taking them
/// (closed, reset, or not reading): a flood only has to be stopped.
fn flood(s: &mut TcpStream, f: &[u8], times: usize) -> bool {
    for _ in 0..times {
        if s.write_all(f).is_err() {
            return false;
        }
    }
    true
}

/// How the connection ended, read until the proxy's GOAWAY or end of stream.
#[derive(Debug, PartialEq)]
enum End {
    GoAway(u32),
    Closed,
}

fn wait_end(s: &mut TcpStream) -> End {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Frames so far: a GOAWAY ends the wait.
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = (buf[at] as usize) << 16 | (buf[at + 1] as usize) << 8 | buf[at + 2] as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            if buf[at + 3] == GOAWAY && len >= 8 {
                let p = &buf[at + 9..at + 9 + len];
                return End::GoAway(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
            }
            at += 9 + len;
        }
        buf.drain(..at);
        match s.read(&mut chunk) {
            Ok(0) => return End::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return End::Closed,
            Err(e) => panic!("the proxy neither answered nor closed: {e}"),
        }
    }
}

fn setup(d: Driver) -> (Upstream, Ringway) {
    let up = Upstream::echo("up");
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        simple_config(&[up.addr])
    );
    let rw = Ringway::start(d, &yaml);
    (up, rw)
}

/// The proxy still serves HTTP/2 (curl, prior knowledge) to a new client.
fn still_serving(addr: SocketAddr) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .arg(format!("http://{addr}/after"))
        .output()
        .expect("curl (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Growth the floods may cost at most: far above a bounded connection's few
/// hundred KiB, far below what queueing a flood would take (tens of MiB).
const BOUNDED_KIB: u64 = 16 * 1024;

fn a_continuation_flood_ends_the_connection(d: Driver) {
    let (up, rw) = setup(d);
    let mut s = open(rw.addr());
    let before = rss_kib(rw.pid());
    // A HEADERS frame without END_HEADERS, then 15 MiB of CONTINUATION frames
    // (each within the default 16 KiB frame size) of literal header fields.
    s.write_all(&frame(HEADERS, END_STREAM, 1, &get_block()))
        .unwrap();
    let mut field = vec![0x00];
    field.extend(hpack_str(b"x-flood"));
    field.extend(hpack_str(&[b'c'; 100]));
    let piece: Vec<u8> = field
        .iter()
        .copied()
        .cycle()
        .take(field.len() * 150)
        .collect();
    flood(&mut s, &frame(CONTINUATION, 0, 1, &piece), 1024);
    let end = wait_end(&mut s);
    assert!(matches!(end, End::GoAway(_) | End::Closed), "{end:?}");
    assert!(
        rss_kib(rw.pid()) < before + BOUNDED_KIB,
        "the header block was held"
    );
    assert_eq!(
        up.request_count(),
        0,
        "an endless header block reached the upstream"
    );
    still_serving(rw.addr());
}

fn an_hpack_bomb_reaches_no_upstream(d: Driver) {
    let (up, rw) = setup(d);
    let mut s = open(rw.addr());
    let before = rss_kib(rw.pid());
    // One 100-byte entry into the dynamic table (index 62), then 16,000
    // one-byte references to it: 1.6 MB of headers from 16 KB on the wire.
    let mut block = get_block();
    block.push(0x40);
    block.extend(hpack_str(b"x-bomb"));
    block.extend(hpack_str(&[b'b'; 100]));
    block.extend(std::iter::repeat_n(0x80 | 62, 16_000));
    let mut wire = frame(HEADERS, END_STREAM, 1, &block[..8_000]);
    wire.extend(frame(CONTINUATION, END_HEADERS, 1, &block[8_000..]));
    let _ = s.write_all(&wire);
    // The stream (or the connection) is refused; either way the next request
    // on a fresh connection is served and nothing went upstream.
    let _ = s.write_all(&frame(PING, 0, 0, b"12345678"));
    drop(s);
    still_serving(rw.addr());
    assert!(
        rss_kib(rw.pid()) < before + BOUNDED_KIB,
        "the bomb was decoded"
    );
    assert_eq!(
        up.request_count(),
        1,
        "only the follow-up request reached the upstream"
    );
}

fn settings_and_ping_floods_leave_the_proxy_serving(d: Driver) {
    let (_up, rw) = setup(d);
    let before = rss_kib(rw.pid());
    for f in [
        frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]),
        frame(PING, 0, 0, b"pingpong"),
    ] {
        // 200,000 frames; the replies are never read. The proxy may end the
        // connection (it owes acknowledgements it cannot send) or stop reading.
        let mut s = open(rw.addr());
        if flood(&mut s, &f, 200_000) {
            // It took all of them: it must have stayed bounded.
            assert!(
                rss_kib(rw.pid()) < before + BOUNDED_KIB,
                "acknowledgements queued"
            );
        }
        drop(s);
        still_serving(rw.addr());
    }
    assert!(rss_kib(rw.pid()) < before + BOUNDED_KIB);
}

fn an_empty_data_flood_ends_or_is_bounded(d: Driver) {
    let (up, rw) = setup(d);
    let mut s = open(rw.addr());
    let before = rss_kib(rw.pid());
    s.write_all(&frame(HEADERS, END_HEADERS, 1, &get_block()))
        .unwrap();
    let empty = frame(DATA, 0, 1, &[]);
    let batch: Vec<u8> = empty
        .iter()
        .copied()
        .cycle()
        .take(empty.len() * 1000)
        .collect();
    for _ in 0..200 {
        if s.write_all(&batch).is_err() {
            break;
        }
    }
    assert!(
        rss_kib(rw.pid()) < before + BOUNDED_KIB,
        "empty frames were queued"
    );
    drop(s);
    still_serving(rw.addr());
    // The flooding stream's request may have reached the upstream (its head is
    // valid); its endless body must not have been finished.
    assert!(up.request_count() <= 2);
}
