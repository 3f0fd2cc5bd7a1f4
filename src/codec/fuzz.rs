//! Property tests of the codec (`fuzz_*`, bounded by `prim::fuzzing`): the
//! invariants the module docs promise, over generated and mutated input.
//!
//! - No input makes a head parser panic; an accepted head's spans lie inside
//!   the buffer and never frame by both Content-Length and Transfer-Encoding.
//! - Every proper prefix of an acceptable head is `Incomplete`, never an error.
//! - A request head re-encoded for the upstream parses to the same head.
//! - Body decoding of any split equals decoding whole, errors included, and
//!   every call makes progress (bad input is an error, never a hang).

use proptest::prelude::*;

use super::invariants::{
    assert_any_split_equals_whole, check_accepted_headers, check_accepted_request,
};
use super::{
    body::{BodyEncoder, BodyPiece},
    encode::{encode_request, encode_response, RequestEdits, ResponsePlan, Scheme},
    headers::{HeaderIndex, HeaderKind},
    limits::RequestLimits,
    request::{parse_request, Parsed, RequestHead},
    response::{parse_response, ResponseHead},
    BodyFraming, CodecError, Version,
};
use crate::prim::fuzzing;

/// A parsed request with the headers it was parsed into.
struct Request {
    head: RequestHead,
    headers: Vec<HeaderIndex>,
    tokens: Vec<(u32, u32)>,
}

fn request(buf: &[u8]) -> Result<Option<Request>, CodecError> {
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    let parsed = parse_request(buf, &RequestLimits::default(), &mut headers, &mut tokens)?;
    Ok(match parsed {
        Parsed::Complete(head) => Some(Request {
            head,
            headers,
            tokens,
        }),
        Parsed::Incomplete => None,
    })
}

fn response(
    buf: &[u8],
    head_request: bool,
) -> Result<Option<(ResponseHead, Vec<HeaderIndex>)>, CodecError> {
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    Ok(
        match parse_response(buf, head_request, &mut headers, &mut tokens)? {
            Parsed::Complete(head) => Some((head, headers)),
            Parsed::Incomplete => None,
        },
    )
}

// ---- generators ----

/// Bytes that stress a head parser: mostly the grammar's own delimiters.
fn head_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"GET /HTP1.0:\r\n \t,;=chunkedContent-LengthTransfer-Encodinghost".to_vec()),
        1 => any::<u8>(),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// A header line's name and value: the ones framing depends on, or any token.
fn header() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        1 => Just(("Connection".to_string(), "keep-alive".to_string())),
        1 => Just(("Connection".to_string(), "close, x-hop".to_string())),
        1 => Just(("X-Hop".to_string(), "1".to_string())),
        1 => Just(("TE".to_string(), "trailers".to_string())),
        1 => Just(("Upgrade".to_string(), "websocket".to_string())),
        1 => Just(("Connection".to_string(), "upgrade".to_string())),
        1 => Just(("Expect".to_string(), "100-continue".to_string())),
        1 => Just(("X-Forwarded-For".to_string(), "1.2.3.4".to_string())),
        1 => Just(("X-Request-Id".to_string(), "abc".to_string())),
        1 => Just(("Keep-Alive".to_string(), "timeout=5".to_string())),
        6 => (token(), "[ -~]{0,16}"),
    ]
}

#[derive(Debug, Clone)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::None),
        (0u64..1_000_000).prop_map(Framing::Length),
        Just(Framing::Chunked),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "/[A-Za-z0-9._~%/-]{0,24}(\\?[a-z0-9=&]{0,12})?",
        1 => "http://[a-z]{1,8}(:[0-9]{1,4})?(/[a-z/]{0,8})?",
    ]
}

/// A request head that is usually acceptable: one Host for HTTP/1.1, one way
/// of framing, end-to-end headers in between.
fn request_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PURGE",
        ]),
        target(),
        prop::bool::weighted(0.85),
        "[a-z]{1,10}(\\.[a-z]{1,5})?(:[0-9]{1,5})?",
        prop::collection::vec(header(), 0..6),
        framing(),
        0usize..7,
    )
        .prop_map(|(method, target, http11, host, headers, framing, at)| {
            let mut lines = headers;
            if http11 {
                lines.insert(at.min(lines.len()), ("Host".into(), host));
            }
            match framing {
                Framing::None => {}
                Framing::Length(n) => lines.push(("Content-Length".into(), n.to_string())),
                Framing::Chunked => lines.push(("Transfer-Encoding".into(), "chunked".into())),
            }
            let version = if http11 { "HTTP/1.1" } else { "HTTP/1.0" };
            let mut s = format!("{method} {target} {version}\r\n");
            for (n, v) in lines {
                s.push_str(&format!("{n}: {v}\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        })
}

/// One edit of a valid message: overwrite, insert or delete a byte.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), head_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), head_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ];
    prop::collection::vec(one, 1..4)
}

fn mutate(mut bytes: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for m in edits {
        if bytes.is_empty() {
            break;
        }
        match *m {
            Mutation::Set(i, b) => {
                let i = i % bytes.len();
                bytes[i] = b;
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Delete(i) => {
                bytes.remove(i % bytes.len());
            }
        }
    }
    bytes
}

fn response_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![100u16, 101, 200, 204, 206, 301, 304, 404, 500, 503]),
        "[A-Za-z ]{0,12}",
        prop::bool::weighted(0.9),
        prop::collection::vec(header(), 0..5),
        prop::option::of(framing()),
    )
        .prop_map(|(status, reason, http11, headers, framing)| {
            let mut lines = headers;
            match framing {
                None | Some(Framing::None) => {}
                Some(Framing::Length(n)) => lines.push(("Content-Length".into(), n.to_string())),
                Some(Framing::Chunked) => {
                    lines.push(("Transfer-Encoding".into(), "chunked".into()));
                }
            }
            let version = if http11 { "HTTP/1.1" } else { "HTTP/1.0" };
            let mut s = format!("{version} {status} {reason}\r\n");
            for (n, v) in lines {
                s.push_str(&format!("{n}: {v}\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        })
}

// ---- head properties ----

fn edits() -> RequestEdits<'static> {
    // No header mutations; leaked once per call, in tests only.
    let ops: &'static crate::codec::edit::HeaderOps = Box::leak(Box::default());
    RequestEdits {
        client: "10.0.0.9:4000".parse().unwrap(),
        rewrite: None,
        upstream: "127.0.0.2:80".parse().unwrap(),
        request_id: b"id-1",
        scheme: Scheme::Http,
        ops,
        start_time: b"",
        host_rewrite: None,
    }
}

/// The end-to-end headers of a request as the upstream sees them, in order:
/// what the encoder must carry over unchanged.
fn end_to_end(buf: &[u8], r: &Request) -> Vec<(Vec<u8>, Vec<u8>)> {
    r.headers
        .iter()
        .filter(|h| {
            !h.kind.is_hop_by_hop()
                && !matches!(
                    h.kind,
                    HeaderKind::Host
                        | HeaderKind::Expect
                        | HeaderKind::XForwardedFor
                        | HeaderKind::XForwardedProto
                        | HeaderKind::XRequestId
                )
                && !r
                    .tokens
                    .iter()
                    .any(|t| buf[t.0 as usize..t.1 as usize].eq_ignore_ascii_case(h.name(buf)))
        })
        .map(|h| (h.name(buf).to_ascii_lowercase(), h.value(buf).to_vec()))
        .collect()
}

fn assert_same_request(a_buf: &[u8], a: &Request, b_buf: &[u8], b: &Request) {
    let (x, y) = (&a.head, &b.head);
    assert_eq!(x.method, y.method);
    assert_eq!(x.slice(a_buf, x.method_span), y.slice(b_buf, y.method_span));
    assert_eq!(x.path(a_buf), y.path(b_buf));
    // `http://host` (no path) has an empty target, forwarded as `/`.
    let target = |h: &RequestHead, buf| match h.slice(buf, h.target) {
        [] => &b"/"[..],
        t => t,
    };
    assert_eq!(target(x, a_buf), target(y, b_buf));
    // A request without Host (HTTP/1.0) is sent with the upstream's address.
    let upstream = edits().upstream.to_string().into_bytes();
    assert_eq!(
        x.host_value(a_buf)
            .unwrap_or(&upstream)
            .to_ascii_lowercase(),
        y.host_value(b_buf)
            .expect("HTTP/1.1 upstream requests carry Host")
            .to_ascii_lowercase()
    );
    assert_eq!(x.framing, y.framing);
    assert_eq!(x.upgrade, y.upgrade);
    assert_eq!(x.te_trailers, y.te_trailers);
    assert_eq!(end_to_end(a_buf, a), end_to_end(b_buf, b));
}

proptest! {
    #![proptest_config(fuzzing::config(fuzzing::CI_CASES))]

    #[test]
    fn fuzz_request_parser_takes_any_bytes(buf in prop::collection::vec(head_byte(), 0..160)) {
        if let Ok(Some(r)) = request(&buf) {
            check_accepted_request(&buf, &r.head, &r.headers);
        }
    }

    #[test]
    fn fuzz_request_parser_takes_mutated_requests(text in request_text(), edits in mutations()) {
        let buf = mutate(text, &edits);
        if let Ok(Some(r)) = request(&buf) {
            check_accepted_request(&buf, &r.head, &r.headers);
        }
    }

    #[test]
    fn fuzz_request_prefixes_are_incomplete(text in request_text()) {
        if let Ok(Some(r)) = request(&text) {
            prop_assert_eq!(r.head.head_len, text.len());
            for cut in 0..text.len() {
                prop_assert!(
                    matches!(request(&text[..cut]), Ok(None)),
                    "prefix of {} bytes: {:?}", cut, request(&text[..cut]).err()
                );
            }
        }
    }

    #[test]
    fn fuzz_reencoded_request_parses_to_the_same_head(text in request_text()) {
        let Ok(Some(first)) = request(&text) else { return Ok(()) };
        check_accepted_request(&text, &first.head, &first.headers);
        let mut out = Vec::new();
        encode_request(&text, &first.head, &first.headers, &first.tokens, &edits(), &mut out);
        let second = request(&out)
            .unwrap_or_else(|e| panic!("re-encoded head refused ({e}): {}", String::from_utf8_lossy(&out)))
            .expect("a whole head");
        prop_assert_eq!(second.head.head_len, out.len());
        assert_same_request(&text, &first, &out, &second);
        // Encoding is a fixpoint on what it preserves.
        let mut again = Vec::new();
        encode_request(&out, &second.head, &second.headers, &second.tokens, &edits(), &mut again);
        let third = request(&again).unwrap().unwrap();
        assert_same_request(&out, &second, &again, &third);
    }

    #[test]
    fn fuzz_response_parser_takes_any_bytes(
        buf in prop::collection::vec(head_byte(), 0..160),
        head_request in any::<bool>(),
    ) {
        if let Ok(Some((head, headers))) = response(&buf, head_request) {
            check_accepted_headers(&buf, head.head_len, &headers);
        }
    }

    #[test]
    fn fuzz_response_parser_takes_mutated_responses(text in response_text(), edits in mutations()) {
        let buf = mutate(text, &edits);
        if let Ok(Some((head, headers))) = response(&buf, false) {
            check_accepted_headers(&buf, head.head_len, &headers);
        }
    }

    #[test]
    fn fuzz_response_prefixes_are_incomplete_and_reencode(text in response_text()) {
        let Ok(Some((head, headers))) = response(&text, false) else { return Ok(()) };
        for cut in 0..text.len() {
            prop_assert!(matches!(response(&text[..cut], false), Ok(None)), "prefix {}", cut);
        }
        let plan = ResponsePlan {
            chunked: head.framing == BodyFraming::Chunked,
            keep_alive: head.keep_alive,
            client_version: Version::Http11,
            service_time_ms: 1,
        };
        let mut out = Vec::new();
        encode_response(&text, &head, &headers, &[], &plan, &mut out);
        let (again, _) = response(&out, false)
            .unwrap_or_else(|e| panic!("re-encoded head refused ({e}): {}", String::from_utf8_lossy(&out)))
            .expect("a whole head");
        prop_assert_eq!(again.status, head.status);
        prop_assert_eq!(again.framing, head.framing);
        prop_assert_eq!(
            &out[again.reason.0 as usize..again.reason.1 as usize],
            &text[head.reason.0 as usize..head.reason.1 as usize]
        );
    }
}

// ---- body properties ----

fn chunk_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"0123456789abcdefABCDEF\r\n;= \tX:".to_vec()),
        1 => any::<u8>(),
    ]
}

/// A chunked body as a sender might frame it: chunk sizes in any case and
/// zero padding, extensions, trailers.
fn chunked_body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    let chunk = (
        prop::collection::vec(any::<u8>(), 1..40),
        any::<bool>(),
        0usize..3,
        prop::option::of("[a-z]{1,5}(=[a-z0-9]{1,5})?"),
    );
    let trailer = ("[A-Za-z-]{1,10}", "[ -~]{0,12}");
    (
        prop::collection::vec(chunk, 0..5),
        prop::collection::vec(trailer, 0..3),
    )
        .prop_map(|(chunks, trailer_lines)| {
            let (mut wire, mut payload, mut trailers) = (Vec::new(), Vec::new(), Vec::new());
            for (data, upper, zeros, ext) in chunks {
                let mut size = format!("{}{:x}", "0".repeat(zeros), data.len());
                if upper {
                    size = size.to_ascii_uppercase();
                }
                wire.extend_from_slice(size.as_bytes());
                if let Some(ext) = ext {
                    wire.extend_from_slice(format!(";{ext}").as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(&data);
                wire.extend_from_slice(b"\r\n");
                payload.extend_from_slice(&data);
            }
            for (name, value) in trailer_lines {
                trailers.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"0\r\n");
            wire.extend_from_slice(&trailers);
            wire.extend_from_slice(b"\r\n");
            (wire, payload, trailers)
        })
}

proptest! {
    #![proptest_config(fuzzing::config(fuzzing::CI_CASES))]

    #[test]
    fn fuzz_chunked_decoding_of_any_split_equals_whole(
        (wire, payload, trailers) in chunked_body(),
        next in "[A-Z]{0,6}",
    ) {
        let mut input = wire.clone();
        input.extend_from_slice(next.as_bytes());
        let decoded = assert_any_split_equals_whole(BodyFraming::Chunked, &input);
        prop_assert_eq!(decoded, Some(Ok((payload, trailers, wire.len()))));
    }

    #[test]
    fn fuzz_chunked_round_trips_through_the_encoder(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..6),
        trailers in prop::collection::vec(("[A-Za-z-]{1,10}", "[ -~]{0,12}"), 0..3),
    ) {
        let trailers: Vec<u8> = trailers
            .iter()
            .flat_map(|(n, v)| format!("{n}: {v}\r\n").into_bytes())
            .collect();
        let mut wire = Vec::new();
        for p in &pieces {
            BodyEncoder::Chunked.piece(BodyPiece::Data(p), &mut wire);
        }
        BodyEncoder::Chunked.finish(&trailers, &mut wire);
        let decoded = assert_any_split_equals_whole(BodyFraming::Chunked, &wire);
        prop_assert_eq!(decoded, Some(Ok((pieces.concat(), trailers, wire.len()))));
    }

    #[test]
    fn fuzz_chunked_decoder_takes_any_bytes(input in prop::collection::vec(chunk_byte(), 0..96)) {
        assert_any_split_equals_whole(BodyFraming::Chunked, &input);
    }

    #[test]
    fn fuzz_mutated_chunked_bodies_split_like_whole((wire, _, _) in chunked_body(), edits in mutations()) {
        assert_any_split_equals_whole(BodyFraming::Chunked, &mutate(wire, &edits));
    }

    #[test]
    fn fuzz_length_bodies_round_trip(
        payload in prop::collection::vec(any::<u8>(), 0..80),
        extra in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut wire = Vec::new();
        BodyEncoder::Identity.piece(BodyPiece::Data(&payload), &mut wire);
        BodyEncoder::Identity.finish(b"", &mut wire);
        prop_assert_eq!(&wire, &payload);
        wire.extend_from_slice(&extra);
        let framing = BodyFraming::Length(payload.len() as u64);
        let decoded = assert_any_split_equals_whole(framing, &wire);
        if payload.is_empty() {
            // `Length(0)` never occurs (the parser frames it as `None`); it is done at once.
            return Ok(());
        }
        prop_assert_eq!(decoded, Some(Ok((payload.clone(), Vec::new(), payload.len()))));
    }
}
