//! Bodies through the real binary: large uploads and downloads streamed with
//! bounded memory, Expect: 100-continue, bodiless responses (HEAD, 204, 304),
//! chunk extensions and trailers.

#[macro_use]
mod support;

use std::{io::Write, net::TcpStream, thread};

use support::{
    admin::{stat, stats},
    *,
};

driver_tests!(
    large_chunked_upload_streams_with_bounded_memory,
    large_length_upload_streams_with_bounded_memory,
    large_download_streams_with_bounded_memory,
    large_chunked_download_streams_with_bounded_memory,
    expect_100_continue,
    expect_100_continue_rejected_early,
    head_response_has_no_body,
    no_content_and_not_modified_have_no_body,
    chunk_extensions_and_trailers,
    bad_chunk_with_the_head_is_a_502,
    responses_of_every_size_arrive_whole_one_after_another,
    uploads_buffered_behind_their_head_arrive_whole,
);

const BIG: u64 = 64 * 1024 * 1024;
/// What relaying the body may add to ringway's peak RSS: a sixteenth of it.
/// Measured from the RSS before the transfer, since most of a fresh process's
/// RSS is its binary's mapped code (larger since TLS), which no body grows.
const RSS_GROWTH_BOUND_KIB: u64 = BIG / 1024 / 16;

/// Ringway's RSS now, before a transfer (its peak so far is start-up's).
fn rss_before(rw: &Ringway) -> u64 {
    rw.proc_status_kib("VmHWM")
}

fn assert_memory_bounded(rw: &Ringway, before_kib: u64, what: &str) {
    let hwm = rw.proc_status_kib("VmHWM");
    let grown = hwm.saturating_sub(before_kib);
    assert!(
        grown < RSS_GROWTH_BOUND_KIB,
        "{what}: ringway's peak RSS grew {grown} KiB (to {hwm} KiB) for a {} MiB body \
         (bound {RSS_GROWTH_BOUND_KIB} KiB)",
        BIG >> 20
    );
}

/// Write `len` pattern bytes to `w`, optionally chunk-framed, in 64 KiB pieces.
fn write_pattern(w: &mut impl Write, len: u64, chunked: bool) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < len {
        let n = (len - sent).min(buf.len() as u64) as usize;
        fill_pattern(&mut buf[..n], sent);
        if chunked {
            w.write_all(format!("{n:x}\r\n").as_bytes())?;
            w.write_all(&buf[..n])?;
            w.write_all(b"\r\n")?;
        } else {
            w.write_all(&buf[..n])?;
        }
        sent += n as u64;
    }
    if chunked {
        w.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}

fn check_pattern(body: &[u8]) {
    assert_eq!(body.len() as u64, BIG);
    if let Some(i) = body
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern_byte(i as u64))
    {
        panic!("body differs at byte {i}");
    }
}

fn big_upload(d: Driver, chunked: bool) {
    let up = Upstream::start("up", |r| {
        Reply::Bytes(ok_response(&r.body.len().to_string()))
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let before = rss_before(&rw);
    let mut c = Client::connect(rw.addr());
    let head = if chunked {
        "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
    } else {
        format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {BIG}\r\n\r\n")
    };
    c.send(head.as_bytes());
    // Write from another thread so a response arriving early cannot deadlock.
    let mut w = c.stream.try_clone().unwrap();
    let writer = thread::spawn(move || write_pattern(&mut w, BIG, chunked));
    let r = c.read_response();
    writer.join().unwrap().expect("upload written");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), BIG.to_string());
    let seen = up.wait_requests(1);
    assert_eq!(seen[0].chunked, chunked, "framing kept for the next hop");
    check_pattern(&seen[0].body);
    assert_memory_bounded(&rw, before, "upload");
    // The connection is still good after the big body.
    assert_eq!(c.get("h", "/after").status, 200);
}

fn large_chunked_upload_streams_with_bounded_memory(d: Driver) {
    big_upload(d, true);
}

fn large_length_upload_streams_with_bounded_memory(d: Driver) {
    big_upload(d, false);
}

fn big_download(d: Driver, chunked: bool) {
    let up = Upstream::start("up", move |_| {
        Reply::Custom(Box::new(move |s: &mut TcpStream| {
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n")
            };
            s.write_all(head.as_bytes()).is_ok() && write_pattern(s, BIG, chunked).is_ok()
        }))
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let before = rss_before(&rw);
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/download");
    assert_eq!(r.status, 200);
    check_pattern(&r.body);
    assert_memory_bounded(&rw, before, "download");
    assert_eq!(c.get("h", "/after").status, 200);
}

fn large_download_streams_with_bounded_memory(d: Driver) {
    big_download(d, false);
}

fn large_chunked_download_streams_with_bounded_memory(d: Driver) {
    big_download(d, true);
}

fn expect_100_continue(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    c.send(b"PUT /thing HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    // The client waits for the interim response before sending its body.
    let interim = c.read_response();
    assert_eq!(interim.status, 100);
    c.send(b"hello");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello");
    let seen = &up.wait_requests(1)[0];
    assert_eq!(seen.body, b"hello");
    assert_eq!(
        seen.header("expect"),
        None,
        "ringway answered the expectation"
    );
    // Exactly one 100 Continue: nothing else is pending.
    assert!(c.pending().is_empty());
    assert_eq!(c.get("h", "/after").status, 200);
}

/// No route: the client must get the final status instead of a 100, and need
/// not send the body.
fn expect_100_continue_rejected_early(d: Driver) {
    let up = Upstream::echo("up");
    let cfg = config(
        "    max_request_body_size: 1KiB\n",
        &catch_all("c", ""),
        &cluster("c", &[up.addr]),
    );
    let rw = Ringway::start(d, &cfg);
    let mut c = Client::connect(rw.addr());
    c.send(b"PUT /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 413, "final status instead of 100 Continue");
    assert_eq!(up.accepted(), 0);
}

fn head_response_has_no_body(d: Driver) {
    let up = Upstream::start("up", |_| {
        // A correct HEAD response: the GET's Content-Length, no body.
        Reply::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec())
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for i in 0..3 {
        c.send(format!("HEAD /h{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        let r = c.try_read_response(true).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("1000"));
    }
    // Had ringway waited for 1000 body bytes, the responses above would hang;
    // had it sent any, they would show up here.
    assert!(c.pending().is_empty());
    assert_eq!(up.accepted(), 1, "upstream connection reused after HEAD");
    assert!(up.requests().iter().all(|r| r.method == "HEAD"));
}

fn no_content_and_not_modified_have_no_body(d: Driver) {
    let up = Upstream::start("up", |r| {
        Reply::Bytes(match r.target.as_str() {
            "/204" => b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
            _ => {
                b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1000\r\n\r\n".to_vec()
            }
        })
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for path in ["/204", "/304", "/204", "/304"] {
        let r = c.get("h", path);
        assert_eq!(r.status.to_string(), path[1..]);
        assert_eq!(r.framing, "none");
        assert_eq!(
            r.header("transfer-encoding"),
            None,
            "{path}: {:?}",
            r.headers
        );
    }
    assert!(c.pending().is_empty());
    // HTTP/1.0 client: still no body, and no close-delimited wait.
    let r = c.roundtrip(b"GET /204 HTTP/1.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 204);
    assert_eq!(up.accepted(), 1);
}

fn chunk_extensions_and_trailers(d: Driver) {
    let up = Upstream::start("up", |_| {
        let mut out =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n".to_vec();
        out.extend_from_slice(b"4;ext=1\r\nresp\r\n0\r\nX-Sum: 42\r\n\r\n");
        Reply::Bytes(out)
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(
        b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n\
          5;name=value\r\nhello\r\n6 ; quoted=\"a b\"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "resp");
    assert_eq!(r.trailers, vec![("X-Sum".to_string(), "42".to_string())]);
    let seen = &up.wait_requests(1)[0];
    assert_eq!(seen.body, b"hello world");
    assert_eq!(
        seen.trailers,
        vec![("X-Checksum".to_string(), "abc".to_string())]
    );
    assert_eq!(c.get("h", "/after").status, 200);
}

/// An upstream whose first chunk is broken, in the same read as its head:
/// nothing has reached the client yet, so it gets a whole 502 (it used to get
/// an empty reply, counted as a 2xx), and the connection stays usable.
fn bad_chunk_with_the_head_is_a_502(d: Driver) {
    let up = Upstream::start("up", |r| {
        if r.target == "/bad" {
            Reply::Bytes(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnope\r\n".to_vec(),
            )
        } else {
            Reply::Bytes(ok_response("fine"))
        }
    });
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        simple_config(&[up.addr])
    );
    let rw = Ringway::start(d, &yaml);
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/bad");
    assert_eq!(r.status, 502, "{}", r.body_str());
    assert_eq!(r.header("server"), Some("ringway"));
    assert!(
        r.body_str().contains("invalid chunked encoding"),
        "{}",
        r.body_str()
    );
    let r = c.get("h", "/good");
    assert_eq!(r.status, 200);
    let st = wait_for("both requests counted", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.downstream_rq_5xx") + stat(&st, "http.ingress.downstream_rq_2xx")
            == 2)
            .then_some(st)
    });
    assert_eq!(
        stat(&st, "http.ingress.downstream_rq_5xx"),
        1,
        "the client got a 502"
    );
    assert_eq!(stat(&st, "http.ingress.downstream_rq_2xx"), 1);
}

/// Response sizes that move the cluster's large-response hint both ways
/// (heads then read into body-sized buffers, or regular ones) and put the
/// body behind the head in one gathered write: around a regular buffer
/// (16 KiB), around a body-sized one (80 KiB), a spliced one, by length and
/// chunked, one after another on one connection. Each arrives whole.
fn responses_of_every_size_arrive_whole_one_after_another(d: Driver) {
    const SIZES: [usize; 14] = [
        100, 70_000, 100, 16_000, 16_384, 20_000, 65_536, 65_536, 81_920, 90_000, 300_000, 1,
        65_536, 0,
    ];
    let up = Upstream::start("up", |r| {
        let chunked = r.target.starts_with("/chunked/");
        let n: usize = r.target.rsplit('/').next().unwrap().parse().unwrap();
        let mut body = vec![0u8; n];
        fill_pattern(&mut body, 0);
        let mut out = if chunked {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes()
        };
        if chunked && n > 0 {
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
        } else if chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&body);
        }
        // Head and body in one write: they reach ringway together.
        Reply::Bytes(out)
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for framing in ["length", "chunked"] {
        for n in SIZES {
            let r = c.get("h", &format!("/{framing}/{n}"));
            assert_eq!(r.status, 200, "{framing} {n}");
            assert_eq!(r.body.len(), n, "{framing} {n}: body length");
            let mut want = vec![0u8; n];
            fill_pattern(&mut want, 0);
            assert!(r.body == want, "{framing} {n}: body bytes differ");
        }
    }
}

/// Request bodies that arrive in the same read as their head go upstream in
/// one gathered write with the edited head: whole, in order, for sizes
/// around a regular buffer.
fn uploads_buffered_behind_their_head_arrive_whole(d: Driver) {
    const SIZES: [usize; 6] = [1, 5_000, 16_000, 16_384, 30_000, 70_000];
    let up = Upstream::start("up", |r| {
        Reply::Bytes(ok_response(&r.body.len().to_string()))
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for (i, n) in SIZES.into_iter().enumerate() {
        let mut req =
            format!("POST /up/{n} HTTP/1.1\r\nHost: h\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        let mut body = vec![0u8; n];
        fill_pattern(&mut body, 0);
        req.extend_from_slice(&body);
        // Head and body in one write.
        let r = c.roundtrip(&req);
        assert_eq!(r.status, 200, "{n}");
        assert_eq!(r.body_str(), n.to_string());
        let seen = up.wait_requests(i + 1);
        assert!(seen[i].body == body, "{n}: the upstream saw other bytes");
    }
}
