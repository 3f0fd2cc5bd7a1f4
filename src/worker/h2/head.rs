//! HTTP/2 header blocks to and from the HTTP/1.1 layout the codec reads:
//! sans-IO, so every rule here is a unit test.
//!
//! A request's decoded headers are written as an HTTP/1.1 head
//! (`METHOD path HTTP/1.1\r\nhost: authority\r\n…\r\n\r\n`) and then parsed by
//! `codec::request::parse_request`, so every validation and limit of the
//! HTTP/1.1 path applies unchanged, and the exchange, the encoders, stats and
//! access logs see the same `RequestHead`. RFC 9113 rules applied on the way:
//! `:authority` becomes `Host` (and wins over a `host` field, §8.3.1);
//! connection-specific fields are malformed (§8.2.2: `connection`,
//! `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`, and `te`
//! other than `trailers`); cookie crumbs are joined with `; ` (§8.2.3). A body
//! with no `content-length` that the HEADERS frame did not end is framed
//! chunked for the HTTP/1.1 upstream.
//!
//! Responses go the other way: the upstream's hop-by-hop fields (and the ones
//! its `Connection` names) are dropped, as HTTP/2 has no use for them.

use bytes::Bytes;
use http::{header::HeaderName, HeaderMap, HeaderValue, Response, StatusCode};

use crate::codec::{
    encode::{write_dec, ReplyBody},
    headers::HeaderIndex,
    response::ResponseHead,
    CodecError,
};
use crate::upstream::h2::head::{trailers_from_lines, CONNECTION_SPECIFIC};

/// The client connection preface (RFC 9113 §3.4), as it starts an h2c
/// connection with prior knowledge.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a plaintext connection say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preface {
    Http2,
    Http1,
    /// So far a prefix of the preface: read more.
    NeedMore,
}

pub fn detect(start: &[u8]) -> Preface {
    let n = start.len().min(PREFACE.len());
    if start[..n] != PREFACE[..n] {
        Preface::Http1
    } else if n == PREFACE.len() {
        Preface::Http2
    } else {
        Preface::NeedMore
    }
}

/// Write `parts` (a decoded HTTP/2 request) into `out` as an HTTP/1.1 head.
/// `body_ends`: the HEADERS frame ended the stream (no body follows).
pub fn write_request_head(
    parts: &http::request::Parts,
    body_ends: bool,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if parts.method == http::Method::CONNECT {
        // No tunnels over HTTP/2 streams (yet): CONNECT has no `:path`.
        return Err(CodecError::MethodNotAllowed);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .ok_or(CodecError::Malformed)?;
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let authority = parts.uri.authority();
    if let Some(a) = authority {
        line(out, b"host", a.as_str().as_bytes())?;
    }
    let mut cookies = 0usize;
    let mut has_length = false;
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if CONNECTION_SPECIFIC.contains(&n) {
            return Err(CodecError::Malformed);
        }
        match n {
            "te" if !value.as_bytes().eq_ignore_ascii_case(b"trailers") => {
                return Err(CodecError::Malformed)
            }
            "host" if authority.is_some() => continue,
            "cookie" => {
                cookies += 1;
                continue;
            }
            "content-length" => has_length = true,
            _ => {}
        }
        line(out, n.as_bytes(), value.as_bytes())?;
    }
    if cookies > 0 {
        out.extend_from_slice(b"cookie: ");
        for (i, c) in parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            value_bytes(out, c.as_bytes())?;
        }
        out.extend_from_slice(b"\r\n");
    }
    if !has_length && !body_ends {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), CodecError> {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    value_bytes(out, value)?;
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// HPACK can carry any octet; a field value with CR, LF or NUL would split
/// the HTTP/1.1 head (RFC 9113 §8.2.1 makes such a request malformed).
fn value_bytes(out: &mut Vec<u8>, value: &[u8]) -> Result<(), CodecError> {
    if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(CodecError::Malformed);
    }
    out.extend_from_slice(value);
    Ok(())
}

/// The upstream's response head for an HTTP/2 client: its fields less the
/// hop-by-hop ones, plus how long the upstream took.
pub fn response_head(
    buf: &[u8],
    head: &ResponseHead,
    headers: &[HeaderIndex],
    conn_tokens: &[(u32, u32)],
    service_time_ms: Option<u64>,
) -> Response<()> {
    let mut resp = Response::new(());
    *resp.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let map = resp.headers_mut();
    // Sized once for every field and the service time (growing from empty
    // would reallocate as the fields arrive).
    map.reserve(headers.len() + 1);
    for h in headers {
        let name = h.name(buf);
        if h.kind.is_hop_by_hop() || listed(buf, name, conn_tokens) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(h.value(buf)),
        ) {
            map.append(n, v);
        }
    }
    if let Some(ms) = service_time_ms {
        map.insert(SERVICE_TIME.clone(), decimal_value(ms));
    }
    resp
}

static SERVICE_TIME: HeaderName = HeaderName::from_static("x-ringway-upstream-service-time");

/// Service times below this are answered from `SMALL_DECIMALS`, with no allocation.
const SMALL: usize = 1000;
/// "0" to "999", each number's digits at `small_decimal`'s offsets.
static SMALL_DECIMALS: [u8; 2890] = small_decimals();

const fn small_decimals() -> [u8; 2890] {
    let mut out = [0u8; 2890];
    let (mut n, mut at) = (0, 0);
    while n < SMALL {
        let digits = [(n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8];
        let skip = if n < 10 {
            2
        } else if n < 100 {
            1
        } else {
            0
        };
        let mut i = skip;
        while i < 3 {
            out[at] = b'0' + digits[i];
            at += 1;
            i += 1;
        }
        n += 1;
    }
    out
}

/// `n` as a header value: a slice of the static table below 1000 (most
/// service times, in milliseconds), else formatted (one small allocation).
fn decimal_value(n: u64) -> HeaderValue {
    let Some(n) = usize::try_from(n).ok().filter(|&n| n < SMALL) else {
        let mut v = Vec::with_capacity(20);
        write_dec(&mut v, n);
        return HeaderValue::from_bytes(&v).expect("digits are a valid value");
    };
    // Offsets: 10 one-digit numbers, then 90 of two, then three digits each.
    let (at, len) = match n {
        0..=9 => (n, 1),
        10..=99 => (10 + (n - 10) * 2, 2),
        _ => (190 + (n - 100) * 3, 3),
    };
    let digits: &'static [u8] = &SMALL_DECIMALS[at..at + len];
    let text = std::str::from_utf8(digits).expect("ASCII digits");
    HeaderValue::from_static(text)
}

/// Whether the upstream's `Connection` header names the field `name`.
fn listed(buf: &[u8], name: &[u8], tokens: &[(u32, u32)]) -> bool {
    tokens
        .iter()
        .any(|&(a, b)| buf[a as usize..b as usize].eq_ignore_ascii_case(name))
}

/// A reply of ringway's own for an HTTP/2 client: the same status, fields and
/// body text as the HTTP/1.1 one (`codec::encode::local_reply`).
pub fn local_reply(
    status: u16,
    body: &impl ReplyBody,
    extra: &[u8],
    head_only: bool,
) -> (Response<()>, Bytes) {
    let mut bytes = Vec::with_capacity(body.byte_len());
    body.write_body(&mut bytes);
    let len = bytes.len();
    let text = if head_only {
        Bytes::new()
    } else {
        Bytes::from(bytes)
    };
    let mut resp = Response::new(());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let map = resp.headers_mut();
    map.insert("server", HeaderValue::from_static("ringway"));
    if let Some(content_type) = body.content_type() {
        map.insert("content-type", HeaderValue::from_static(content_type));
    }
    map.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    for (name, value) in trailers_from_lines(extra) {
        if let Some(name) = name {
            map.append(name, value);
        }
    }
    (resp, text)
}

/// Whether a request is a gRPC call (its replies must be gRPC's).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Envoy's map from an HTTP status of its own to a gRPC status code
/// (`Grpc::Utility::httpToGrpcStatus`).
pub fn grpc_status(http: u16) -> u8 {
    match http {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => 2,                      // UNKNOWN
    }
}

/// A reply of ringway's own to a gRPC call: trailers-only, HTTP 200 with
/// `grpc-status` mapped from the status and the reply's text as
/// `grpc-message` (as Envoy answers gRPC clients); no body.
pub fn grpc_local_reply(status: u16, body: &impl ReplyBody, extra: &[u8]) -> (Response<()>, Bytes) {
    let mut text = Vec::with_capacity(body.byte_len());
    body.write_body(&mut text);
    let mut resp = Response::new(());
    let map = resp.headers_mut();
    map.insert("server", HeaderValue::from_static("ringway"));
    map.insert("content-type", HeaderValue::from_static("application/grpc"));
    map.insert(
        "grpc-status",
        HeaderValue::from(u16::from(grpc_status(status))),
    );
    // grpc-message is percent-encoded outside printable ASCII (and `%`).
    let mut message = String::with_capacity(text.len());
    for &b in text.trim_ascii() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            message.push(b as char);
        } else {
            message.push_str(&format!("%{b:02X}"));
        }
    }
    if let Ok(v) = HeaderValue::from_str(&message) {
        map.insert("grpc-message", v);
    }
    for (name, value) in trailers_from_lines(extra) {
        if let Some(name) = name {
            map.append(name, value);
        }
    }
    (resp, Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{
        limits::RequestLimits,
        request::{parse_request, Parsed},
        BodyFraming,
    };

    fn parts(req: http::Request<()>) -> http::request::Parts {
        req.into_parts().0
    }

    #[test]
    fn service_times_are_their_decimal_text_from_the_table_and_beyond_it() {
        for n in (0..1200).chain([9_999, 123_456, u64::MAX]) {
            assert_eq!(decimal_value(n).as_bytes(), n.to_string().as_bytes(), "{n}");
        }
    }

    fn head_of(req: http::Request<()>, ends: bool) -> Result<String, CodecError> {
        let mut out = Vec::new();
        write_request_head(&parts(req), ends, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_preface_is_told_from_http1_at_every_split() {
        for n in 0..PREFACE.len() {
            assert_eq!(detect(&PREFACE[..n]), Preface::NeedMore, "{n}");
        }
        assert_eq!(detect(PREFACE), Preface::Http2);
        let mut more = PREFACE.to_vec();
        more.extend_from_slice(b"\0\0\x12\x04");
        assert_eq!(detect(&more), Preface::Http2);
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Preface::Http1);
        assert_eq!(detect(b"PRI * HTTP/1.1\r\n"), Preface::Http1);
        assert_eq!(detect(b"P"), Preface::NeedMore);
        assert_eq!(detect(b"X"), Preface::Http1);
    }

    #[test]
    fn authority_becomes_host_and_wins_over_a_host_field() {
        let req = http::Request::get("http://example.com:8080/a/b?c=d")
            .header("host", "other")
            .header("accept", "*/*")
            .body(())
            .unwrap();
        assert_eq!(
            head_of(req, true).unwrap(),
            "GET /a/b?c=d HTTP/1.1\r\nhost: example.com:8080\r\naccept: */*\r\n\r\n"
        );
    }

    #[test]
    fn a_host_field_stands_in_for_a_missing_authority() {
        let req = http::Request::get("/x")
            .header("host", "h")
            .body(())
            .unwrap();
        assert_eq!(
            head_of(req, true).unwrap(),
            "GET /x HTTP/1.1\r\nhost: h\r\n\r\n"
        );
    }

    #[test]
    fn cookie_crumbs_are_joined() {
        let req = http::Request::get("http://h/")
            .header("cookie", "a=1")
            .header("x", "y")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        assert_eq!(
            head_of(req, true).unwrap(),
            "GET / HTTP/1.1\r\nhost: h\r\nx: y\r\ncookie: a=1; b=2\r\n\r\n"
        );
    }

    #[test]
    fn connection_specific_fields_are_malformed() {
        for (name, value) in [
            ("connection", "close"),
            ("keep-alive", "5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
        ] {
            let req = http::Request::get("http://h/")
                .header(name, value)
                .body(())
                .unwrap();
            assert_eq!(head_of(req, true), Err(CodecError::Malformed), "{name}");
        }
        let req = http::Request::get("http://h/")
            .header("te", "trailers")
            .body(())
            .unwrap();
        assert!(head_of(req, true).unwrap().contains("te: trailers\r\n"));
    }

    #[test]
    fn a_body_without_a_length_is_chunked_and_a_length_is_kept() {
        let post = |len: Option<&str>| {
            let mut b = http::Request::post("http://h/up");
            if let Some(l) = len {
                b = b.header("content-length", l);
            }
            b.body(()).unwrap()
        };
        let lim = RequestLimits::default();
        let framing = |text: String| {
            let (mut h, mut t) = (Vec::new(), Vec::new());
            match parse_request(text.as_bytes(), &lim, &mut h, &mut t).unwrap() {
                Parsed::Complete(head) => head.framing,
                Parsed::Incomplete => panic!("incomplete"),
            }
        };
        assert_eq!(
            framing(head_of(post(None), false).unwrap()),
            BodyFraming::Chunked
        );
        assert_eq!(
            framing(head_of(post(Some("5")), false).unwrap()),
            BodyFraming::Length(5)
        );
        assert_eq!(
            framing(head_of(post(None), true).unwrap()),
            BodyFraming::None
        );
    }

    #[test]
    fn connect_is_refused() {
        let req = http::Request::builder()
            .method("CONNECT")
            .uri("h:443")
            .body(())
            .unwrap();
        assert_eq!(head_of(req, true), Err(CodecError::MethodNotAllowed));
    }

    #[test]
    fn local_replies_carry_the_h1_fields() {
        let (resp, body) = local_reply(
            503,
            &crate::codec::encode::TextLine("no healthy upstream"),
            b"x-ringway-overloaded: true\r\n",
            false,
        );
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["server"], "ringway");
        assert_eq!(resp.headers()["x-ringway-overloaded"], "true");
        assert_eq!(resp.headers()["content-length"], "20");
        assert_eq!(&body[..], b"no healthy upstream\n");
    }

    #[test]
    fn grpc_calls_get_grpc_errors() {
        let (resp, body) = grpc_local_reply(
            503,
            &crate::codec::encode::TextLine("no healthy upstream"),
            b"x-ringway-overloaded: true\r\n",
        );
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["grpc-status"], "14");
        assert_eq!(resp.headers()["grpc-message"], "no healthy upstream");
        assert_eq!(resp.headers()["content-type"], "application/grpc");
        assert_eq!(resp.headers()["x-ringway-overloaded"], "true");
        assert!(body.is_empty());
        assert_eq!(grpc_status(404), 12);
        assert_eq!(grpc_status(504), 14);
        assert_eq!(grpc_status(500), 2);
    }
}
