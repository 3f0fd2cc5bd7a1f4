//! Request and response head parsing: every framing rejection, each limit at N and
//! N+1, and every input split at every byte (a prefix is `Incomplete`, never an error).

use super::{
    encode::{encode_request, RequestEdits},
    error::CodecError,
    limits::RequestLimits,
    request::{parse_request, Parsed, RequestHead},
    response::{parse_response, ResponseHead},
    BodyFraming, Version,
};

fn parse(input: &[u8]) -> Result<Option<RequestHead>, CodecError> {
    parse_with(input, &RequestLimits::default())
}

fn parse_with(input: &[u8], lim: &RequestLimits) -> Result<Option<RequestHead>, CodecError> {
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    parse_request(input, lim, &mut headers, &mut tokens).map(|p| match p {
        Parsed::Complete(h) => Some(h),
        Parsed::Incomplete => None,
    })
}

fn response(input: &[u8], head: bool) -> Result<Option<ResponseHead>, CodecError> {
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    parse_response(input, head, &mut headers, &mut tokens).map(|p| match p {
        Parsed::Complete(h) => Some(h),
        Parsed::Incomplete => None,
    })
}

#[test]
fn every_prefix_is_incomplete() {
    let input = b"POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\n\r\nhello";
    let head_len = input.len() - 5;
    for split in 0..head_len {
        assert!(parse(&input[..split]).unwrap().is_none(), "split {split}");
    }
    let head = parse(input).unwrap().unwrap();
    assert_eq!(head.head_len, head_len);
    assert_eq!(head.framing, BodyFraming::Length(5));
    assert_eq!(head.path(input), b"/a");
    assert!(head.keep_alive);
}

#[test]
fn framing_rejections() {
    let cases: &[(&[u8], CodecError)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", CodecError::LengthAndChunked),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", CodecError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", CodecError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", CodecError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", CodecError::BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", CodecError::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", CodecError::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", CodecError::BadTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", CodecError::BadTransferEncoding),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", CodecError::BadTransferEncoding),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: b\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\nHost: a\r\n[bad]: b\r\n\r\n", CodecError::Malformed),
        (b"GET / HTTP/1.1\r\n\r\n", CodecError::MissingHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", CodecError::BadHost),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", CodecError::BadHost),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", CodecError::BadHost),
        (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", CodecError::BadHost),
        (b"GET /\r\n\r\n", CodecError::Http09),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", CodecError::Version),
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", CodecError::BadTarget),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", CodecError::MethodNotAllowed),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", CodecError::Malformed),
    ];
    for (input, want) in cases {
        let got = parse(input);
        assert!(
            got.as_ref().err() == Some(want) || (got.is_err() && *want == CodecError::Malformed),
            "{:?}: got {got:?}, want {want:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn header_count_limit_at_n_and_n_plus_1() {
    let lim = RequestLimits::default();
    let build = |n: usize| {
        let mut s = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..n {
            s.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        s.extend_from_slice(b"\r\n");
        s
    };
    assert!(parse_with(&build(lim.max_headers), &lim).unwrap().is_some());
    assert_eq!(
        parse_with(&build(lim.max_headers + 1), &lim).unwrap_err(),
        CodecError::TooManyHeaders
    );
}

#[test]
fn header_size_limit_at_n_and_n_plus_1() {
    let lim = RequestLimits {
        max_header_bytes: 1024,
        ..RequestLimits::default()
    };
    let build = |total: usize| {
        let prefix = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        let mut s = prefix.clone();
        s.resize(total - 4, b'v');
        s.extend_from_slice(b"\r\n\r\n");
        s
    };
    assert!(parse_with(&build(1024), &lim).unwrap().is_some());
    assert_eq!(
        parse_with(&build(1025), &lim).unwrap_err(),
        CodecError::HeadersTooLarge
    );
    // A head that is still arriving but already over the limit is refused early.
    let partial = &build(2048)[..1100];
    assert_eq!(
        parse_with(partial, &lim).unwrap_err(),
        CodecError::HeadersTooLarge
    );
}

#[test]
fn uri_limit_at_n_and_n_plus_1() {
    let lim = RequestLimits::default();
    let build = |n: usize| {
        let mut s = b"GET /".to_vec();
        s.resize(4 + n, b'a');
        s.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        s
    };
    assert!(parse_with(&build(lim.max_uri_bytes), &lim)
        .unwrap()
        .is_some());
    assert_eq!(
        parse_with(&build(lim.max_uri_bytes + 1), &lim).unwrap_err(),
        CodecError::UriTooLong
    );
    // Still arriving, no end of line in sight: 414 rather than waiting for 431.
    let partial = &build(lim.max_uri_bytes * 2)[..lim.max_uri_bytes + 100];
    assert_eq!(
        parse_with(partial, &lim).unwrap_err(),
        CodecError::UriTooLong
    );
}

#[test]
fn http10_and_keep_alive() {
    let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert_eq!(h.version, Version::Http10);
    assert!(!h.keep_alive);
    assert!(h.host.is_none());
    let h = parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
}

#[test]
fn absolute_form_and_upgrade_and_expect() {
    let input = b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
    let h = parse(input).unwrap().unwrap();
    assert_eq!(h.host_value(input).unwrap(), b"example.com:8080");
    assert_eq!(h.slice(input, h.target), b"/p?q");
    let h =
        parse(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
    assert!(h.upgrade);
    let h =
        parse(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
    assert!(h.expect_continue);
}

/// Parse `input` and encode it for the upstream (client 10.0.0.9, request id
/// `id-1`), lower-cased for matching.
fn forwarded(input: &[u8], rewrite: Option<(usize, &[u8])>) -> String {
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    let head =
        match parse_request(input, &RequestLimits::default(), &mut headers, &mut tokens).unwrap() {
            Parsed::Complete(h) => h,
            Parsed::Incomplete => panic!("incomplete"),
        };
    let mut out = Vec::new();
    let edits = RequestEdits {
        client: "10.0.0.9:4000".parse().unwrap(),
        rewrite,
        upstream: "127.0.0.2:80".parse().unwrap(),
        request_id: b"id-1",
        scheme: crate::codec::encode::Scheme::Http,
        forward: crate::codec::forward::ForwardPlan::edge(),
        external_header: None,
        ops: &crate::codec::edit::HeaderOps::default(),
        start_time: b"",
        host_rewrite: None,
    };
    encode_request(input, &head, &headers, &tokens, &edits, &mut out);
    String::from_utf8(out).unwrap().to_ascii_lowercase()
}

#[test]
fn forwarded_request_drops_hop_by_hop_and_adds_forwarding_headers() {
    let input = b"GET /service/1/x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers, deflate\r\nUpgrade: h2c\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n";
    let text = forwarded(input, Some((10, b"/v2")));
    assert!(
        text.starts_with("get /v2/x?y=1 http/1.1\r\nhost: a\r\n"),
        "{text}"
    );
    for gone in [
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "deflate",
        "https",
        "connection",
    ] {
        assert!(!text.contains(gone), "{gone} leaked: {text}");
    }
    assert!(text.contains("te: trailers\r\n"));
    assert!(text.contains("x-forwarded-for: 1.1.1.1, 10.0.0.9\r\n"));
    assert!(text.contains("x-forwarded-proto: http\r\n"));
    assert!(text.contains("x-request-id: id-1\r\n"));
    assert!(text.contains("accept: */*\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn response_framing() {
    let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert_eq!(r.framing, BodyFraming::Length(5));
    let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
        .unwrap()
        .unwrap();
    assert_eq!(r.framing, BodyFraming::None);
    let r = response(b"HTTP/1.1 204 No Content\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert_eq!(r.framing, BodyFraming::None);
    let r = response(
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.framing, BodyFraming::None);
    let r = response(b"HTTP/1.1 200 OK\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert_eq!(r.framing, BodyFraming::Close);
    assert!(!r.keep_alive);
    let r = response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.framing, BodyFraming::Chunked);
    let r = response(b"HTTP/1.1 100 Continue\r\n\r\n", false)
        .unwrap()
        .unwrap();
    assert!(r.is_informational());
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
    ] {
        assert!(
            response(bad, false).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn connection_cannot_strip_framing_headers() {
    let input = b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: content-length, transfer-encoding, host\r\nContent-Length: 5\r\n\r\nhello";
    let text = forwarded(input, None);
    assert!(text.contains("content-length: 5\r\n"), "{text}");
    assert!(text.contains("host: a\r\n"), "{text}");
}

#[test]
fn h2c_upgrade_is_not_an_upgrade() {
    let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.upgrade);
    let h =
        parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
    assert!(h.upgrade);
}

#[test]
fn h2c_beside_another_protocol_forfeits_the_upgrade() {
    let input = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    assert!(!parse(input).unwrap().unwrap().upgrade);
    let text = forwarded(input, None);
    assert!(!text.contains("upgrade"), "{text}");
    assert!(!text.contains("http2-settings"), "{text}");
}

#[test]
fn absolute_form_without_a_path_routes_as_root() {
    let input = b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let h = parse(input).unwrap().unwrap();
    assert_eq!(h.path(input), b"/");
    assert!(forwarded(input, None).starts_with("get / http/1.1\r\n"));
}

#[test]
fn a_rewrite_of_an_absolute_form_target_without_a_path_does_not_slice_past_it() {
    // Routed as `/`, so a `prefix: /` rewrite replaces one byte the empty target lacks.
    let out = forwarded(
        b"GET http://a.test HTTP/1.1\r\nhost: a.test\r\n\r\n",
        Some((1, b"/x")),
    );
    assert!(out.starts_with("get /x http/1.1\r\n"), "{out}");
}

/// `parse_request` and `parse_response` rely on httparse for RFC 9110 §5.5's
/// field-value rule (HTAB, SP, visible ASCII, obs-text; never CR, LF, NUL,
/// other controls or DEL) instead of checking each value again: every byte
/// value at the start, middle and end of short and long values (httparse's
/// scalar, 8-byte and 32-byte scans) is refused exactly when the rule says.
/// If an httparse upgrade ever lets a control byte through, this fails.
#[test]
fn field_values_are_httparse_checked() {
    let allowed = |b: u8| b == b'\t' || (b >= 0x20 && b != 0x7f);
    for len in [1usize, 7, 9, 40, 70] {
        for at in [0, len / 2, len - 1] {
            for b in 0..=255u8 {
                if b == b'\n' {
                    continue; // ends the line: another header, not a value byte
                }
                let mut value = vec![b'v'; len];
                value[at] = b;
                let mut req = b"GET / HTTP/1.1\r\nHost: a\r\nX-V: ".to_vec();
                req.extend_from_slice(&value);
                req.extend_from_slice(b"\r\n\r\n");
                let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-V: ".to_vec();
                resp.extend_from_slice(&value);
                resp.extend_from_slice(b"\r\n\r\n");
                let ok = allowed(b);
                assert_eq!(parse(&req).is_ok(), ok, "request, {b:#x} at {at} of {len}");
                assert_eq!(
                    response(&resp, false).is_ok(),
                    ok,
                    "response, {b:#x} at {at} of {len}"
                );
            }
        }
    }
}
