//! Strict request framing and limits through the real binary. Every attack is
//! sent on its own connection and must get its exact status, close the
//! connection, reach the upstream not at all, and leave the proxy serving: a
//! follow-up request on a new connection succeeds (Sōzu `test_h1_smuggling_*`).

#[macro_use]
mod support;

use support::*;

driver_tests!(
    framing_rejections_are_400,
    http09_is_refused,
    too_many_headers_is_431,
    header_block_too_large_is_431,
    head_spanning_reads_is_intact,
    uri_too_long_is_414,
    body_over_limit_is_413,
    chunked_body_over_limit_is_413,
    slow_headers_get_408,
    trickled_headers_get_408,
    connect_method_is_refused,
    unknown_http_version_is_refused,
);

/// Send `attack` on a new connection; assert `status`, a close, and that the
/// upstream got nothing; then a normal request on a new connection works.
fn assert_rejected(rw: &Ringway, up: &Upstream, name: &str, attack: &[u8], status: u16) {
    let before_raw = up.raw().len();
    let before_reqs = up.request_count();
    let mut c = Client::connect(rw.addr());
    c.send(attack);
    let r = c
        .try_read_response(false)
        .unwrap_or_else(|e| panic!("{name}: no response: {e:?}"));
    assert_eq!(r.status, status, "{name}: {}", r.body_str());
    assert_eq!(r.header("server"), Some("ringway"), "{name}");
    assert!(
        r.has_token("connection", "close"),
        "{name}: {:?}",
        r.headers
    );
    c.expect_closed();

    let follow = get(rw.addr(), "h", "/followup");
    assert_eq!(follow.status, 200, "{name}: follow-up");
    let reqs = up.wait_requests(before_reqs + 1);
    assert_eq!(
        reqs.len(),
        before_reqs + 1,
        "{name}: upstream got one request"
    );
    assert_eq!(reqs.last().unwrap().target, "/followup", "{name}");
    // Only the follow-up's bytes reached the upstream.
    let raw = up.raw();
    let new = &raw[before_raw..];
    assert!(
        !new.windows(6).any(|w| w == b"attack") && !new.windows(8).any(|w| w == b"SMUGGLED"),
        "{name}: upstream saw attack bytes: {:?}",
        String::from_utf8_lossy(new)
    );
}

fn framing_rejections_are_400(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let smuggled = "GET /SMUGGLED HTTP/1.1\r\nHost: h\r\n\r\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "CL and TE",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE and CL",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "two different CL",
            "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".into(),
        ),
        (
            "two equal CL",
            "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello".into(),
        ),
        (
            "CL list",
            "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello".into(),
        ),
        ("CL sign", "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello".into()),
        ("CL negative", "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n".into()),
        ("CL hex", "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello".into()),
        ("CL text", "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: five\r\n\r\nhello".into()),
        ("CL empty", "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n".into()),
        (
            "CL overflow",
            "POST /attack HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n".into(),
        ),
        (
            "TE final coding not chunked",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE gzip only",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxxxx".into(),
        ),
        (
            "TE chunked twice",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE unknown token",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE with vertical tab",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE in HTTP/1.0",
            format!("POST /attack HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "chunk size not hex",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk size 0x prefix",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk size negative",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk size overflow",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk size with bare LF",
            "POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk data longer than size",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "obs-fold",
            "GET /attack HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n".into(),
        ),
        (
            "obs-fold with tab",
            "GET /attack HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n\tb\r\n\r\n".into(),
        ),
        (
            "space before colon",
            "GET /attack HTTP/1.1\r\nHost: h\r\nX-Thing : a\r\n\r\n".into(),
        ),
        (
            "space before colon on TE",
            format!("POST /attack HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        ("bare CR in value", "GET /attack HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n".into()),
        ("bare CR in request line", "GET /attack\r HTTP/1.1\r\nHost: h\r\n\r\n".into()),
        ("NUL in value", "GET /attack HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n".into()),
        ("control byte in value", "GET /attack HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n".into()),
        ("DEL in value", "GET /attack HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n".into()),
        ("invalid header name (@)", "GET /attack HTTP/1.1\r\nHost: h\r\nX@A: a\r\n\r\n".into()),
        ("invalid header name (space)", "GET /attack HTTP/1.1\r\nHost: h\r\nX A: a\r\n\r\n".into()),
        ("invalid header name (brackets)", "GET /attack HTTP/1.1\r\nHost: h\r\n[x]: a\r\n\r\n".into()),
        ("empty header name", "GET /attack HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n".into()),
        ("missing Host on 1.1", "GET /attack HTTP/1.1\r\nX-A: a\r\n\r\n".into()),
        ("duplicate Host", "GET /attack HTTP/1.1\r\nHost: h\r\nHost: other\r\n\r\n".into()),
        ("Host with space", "GET /attack HTTP/1.1\r\nHost: exa mple.com\r\n\r\n".into()),
        ("Host with slash", "GET /attack HTTP/1.1\r\nHost: h/x\r\n\r\n".into()),
        ("Host with userinfo", "GET /attack HTTP/1.1\r\nHost: user@h\r\n\r\n".into()),
        ("Host with bad port", "GET /attack HTTP/1.1\r\nHost: h:port\r\n\r\n".into()),
        ("request target not origin or absolute form", "GET attack HTTP/1.1\r\nHost: h\r\n\r\n".into()),
    ];
    for (name, attack) in &cases {
        assert_rejected(&rw, &up, name, attack.as_bytes(), 400);
    }
}

fn http09_is_refused(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /attack\r\n");
    // Whatever ringway writes, it must not be an HTTP/0.9 body from upstream,
    // and the connection ends.
    let r = c
        .try_read_response(false)
        .expect("an HTTP/1.1 error response");
    assert_eq!(r.status, 400);
    c.expect_closed();
    assert_eq!(up.accepted(), 0, "HTTP/0.9 never reaches an upstream");
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
}

fn too_many_headers_is_431(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let head = |n: usize| {
        // Host plus n-1 others: n headers in all.
        let mut s = String::from("GET /attack HTTP/1.1\r\nHost: h\r\n");
        for i in 1..n {
            s.push_str(&format!("X-H-{i}: v\r\n"));
        }
        s.push_str("\r\n");
        s
    };
    // At the limit (100): accepted.
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(head(100).replace("/attack", "/at-limit").as_bytes());
    assert_eq!(r.status, 200);
    let seen = up.wait_requests(1);
    assert!(seen[0].header("x-h-99").is_some());
    // One over: 431.
    assert_rejected(&rw, &up, "101 headers", head(101).as_bytes(), 431);
}

/// A 60 KiB head (at the limit) arrives in several reads (they are 16 KiB)
/// and must reach the upstream intact.
fn head_spanning_reads_is_intact(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    for size in [20_000, 60 * 1024] {
        let line = "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: ";
        let room = size - line.len() - 4;
        let head = format!("{line}{}\r\n\r\n", "a".repeat(room));
        assert_eq!(head.len(), size);
        let mut c = Client::connect(rw.addr());
        let r = c.roundtrip(head.as_bytes());
        assert_eq!(r.status, 200, "{size}-byte head: {}", r.body_str());
        let seen = up.requests();
        assert_eq!(
            seen.last().unwrap().header("x-big").map(str::len),
            Some(room)
        );
    }
}

fn header_block_too_large_is_431(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let line = "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: ";
    let room = 60 * 1024 - line.len() - 4;
    // One byte more: 431.
    let over = format!(
        "GET /attack HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(room + 4)
    );
    assert_rejected(&rw, &up, "60 KiB + 1 head", over.as_bytes(), 431);
    // Many headers, each small, adding up to more than the limit.
    let mut many = String::from("GET /attack HTTP/1.1\r\nHost: h\r\n");
    for i in 0..40 {
        many.push_str(&format!("X-{i}: {}\r\n", "b".repeat(2000)));
    }
    many.push_str("\r\n");
    assert_rejected(&rw, &up, "80 KB over 41 headers", many.as_bytes(), 431);
    // A head that never ends is cut off at the limit rather than buffered.
    let endless = format!(
        "GET /attack HTTP/1.1\r\nHost: h\r\nX-Big: {}",
        "c".repeat(70 * 1024)
    );
    assert_rejected(
        &rw,
        &up,
        "unterminated 70 KiB head",
        endless.as_bytes(),
        431,
    );
}

fn uri_too_long_is_414(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let target = |len: usize| format!("/{}", "u".repeat(len - 1));
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", &target(8192));
    assert_eq!(r.status, 200, "8 KiB URI is at the limit");
    assert_eq!(r.header("x-seen-target").map(str::len), Some(8192));
    let attack = format!(
        "GET /attack{} HTTP/1.1\r\nHost: h\r\n\r\n",
        "u".repeat(8193 - 7)
    );
    assert_rejected(&rw, &up, "8 KiB + 1 URI", attack.as_bytes(), 414);
    let huge = format!(
        "GET /attack{} HTTP/1.1\r\nHost: h\r\n\r\n",
        "u".repeat(50_000)
    );
    assert_rejected(&rw, &up, "50 KB URI", huge.as_bytes(), 414);
}

fn limited_config(up: &Upstream) -> String {
    config(
        "    max_request_body_size: 1KiB\n",
        &catch_all("c", ""),
        &cluster("c", &[up.addr]),
    )
}

fn body_over_limit_is_413(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &limited_config(&up));
    let post = |n: usize, path: &str| {
        let mut v =
            format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        v.extend(std::iter::repeat_n(b'x', n));
        v
    };
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(&post(1024, "/at-limit"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1024);
    up.wait_requests(1);
    assert_rejected(&rw, &up, "CL 1025", &post(1025, "/attack"), 413);
}

fn chunked_body_over_limit_is_413(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &limited_config(&up));
    let post = |n: usize| {
        let mut v =
            b"POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        v.extend(chunked(&vec![b'y'; n], 100));
        v
    };
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(&post(1024));
    assert_eq!(r.status, 200, "chunked body at the limit");
    assert_eq!(r.body.len(), 1024);
    up.wait_requests(1);

    let mut c = Client::connect(rw.addr());
    c.send(&post(1025));
    let r = c.try_read_response(false).expect("a 413");
    assert_eq!(r.status, 413);
    c.expect_closed();
    // A streamed body may already be on its way, but the upstream must never
    // receive it as a complete request.
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
    let reqs = up.wait_requests(2);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].target, "/followup");
}

fn short_headers_timeout(up: &Upstream) -> String {
    config(
        "    request_headers_timeout: 300ms\n",
        &catch_all("c", ""),
        &cluster("c", &[up.addr]),
    )
}

fn slow_headers_get_408(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &short_headers_timeout(&up));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /attack HTTP/1.1\r\nHost: h\r\n");
    let r = c.try_read_response(false).expect("a 408");
    assert_eq!(r.status, 408);
    assert!(r.has_token("connection", "close"));
    c.expect_closed();
    assert_eq!(up.accepted(), 0);
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
}

/// Bytes keep arriving, but the whole head does not: the timeout covers the
/// head, not each read (slowloris).
fn trickled_headers_get_408(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &short_headers_timeout(&up));
    let mut c = Client::connect(rw.addr());
    let mut writer = c.stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        use std::io::Write;
        let head = b"GET /attack HTTP/1.1\r\nHost: h\r\nX-Slow: ";
        if writer.write_all(head).is_err() {
            return;
        }
        // One byte every 20ms until ringway gives up on us (write fails) or
        // a generous bound; this pacing is the scenario, not synchronisation.
        for _ in 0..1000 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if writer.write_all(b"a").is_err() {
                return;
            }
        }
    });
    let r = c.try_read_response(false).expect("a 408");
    assert_eq!(r.status, 408);
    c.expect_closed();
    let _ = c.stream.shutdown(std::net::Shutdown::Both);
    trickle.join().unwrap();
    assert_eq!(up.accepted(), 0);
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
}

fn connect_method_is_refused(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"CONNECT attack.example:443 HTTP/1.1\r\nHost: attack.example:443\r\n\r\n");
    assert!(
        r.status == 405 || r.status == 400,
        "CONNECT refused: {}",
        r.status
    );
    assert_eq!(up.accepted(), 0);
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
}

fn unknown_http_version_is_refused(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    for line in [
        "GET /attack HTTP/2.0",
        "GET /attack HTTP/1.2",
        "GET /attack HTTP/9",
        "GET /attack FOO/1.1",
    ] {
        let mut c = Client::connect(rw.addr());
        c.send(format!("{line}\r\nHost: h\r\n\r\n").as_bytes());
        let r = c
            .try_read_response(false)
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
        assert!(r.status == 400 || r.status == 505, "{line}: {}", r.status);
        c.expect_closed();
    }
    assert_eq!(up.accepted(), 0);
    assert_eq!(get(rw.addr(), "h", "/followup").status, 200);
}
