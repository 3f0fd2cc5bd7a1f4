//! HTTP/1.1-layout heads to and from HTTP/2 header blocks, for upstream
//! streams: sans-IO, so every rule here is a unit test.
//!
//! The exchange encodes every upstream request as an HTTP/1.1 head
//! (`codec::encode`), whatever protocol carries it next; here that head becomes
//! an `http::Request` (`Host` → `:authority`, the scheme the connection's, the
//! connection-specific fields of RFC 9113 §8.2.2 dropped, `te: trailers`
//! kept), and the upstream's response head becomes HTTP/1.1 text again, framed
//! so the exchange's HTTP/1.1 response parser and body decoder read it as they
//! read any upstream: its `content-length` when it has one, nothing when the
//! HEADERS frame ended the stream (`content-length: 0` unless bodiless by rule),
//! else chunked (so trailers, gRPC's `grpc-status` among them, can follow).

use http::{
    header::{HeaderName, HeaderValue},
    HeaderMap, Method, Request, Uri,
};

use crate::codec::{encode::write_dec, limits::MAX_HEADERS_CEILING, BodyFraming};

/// Fields that mean something only to one HTTP/1.1 connection (§8.2.2).
pub const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// A request head read back from its HTTP/1.1 encoding.
pub struct RequestOut {
    pub request: Request<()>,
    pub framing: BodyFraming,
    /// The request was HEAD: its response has no body, whatever it declares.
    pub head_only: bool,
}

/// Why a head ringway encoded itself cannot go out as HTTP/2 (a `Host` that
/// is no authority, a method `http` does not take).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untranslatable;

/// Where the head ends in `buf` (just past its blank line), if it is all there.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The HTTP/1.1 request head `head` (ending in its blank line) as an HTTP/2
/// request. `https`: the connection is TLS; `fallback_authority`: for a
/// request without `Host` (HTTP/1.0).
pub fn request_from_h1(
    head: &[u8],
    https: bool,
    fallback_authority: std::net::SocketAddr,
) -> Result<RequestOut, Untranslatable> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS_CEILING];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(Untranslatable),
    }
    let method =
        Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| Untranslatable)?;
    let path = req
        .path
        .filter(|p| p.starts_with('/'))
        .ok_or(Untranslatable)?;
    let mut framing = BodyFraming::None;
    let mut authority = None;
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            authority = Some(h.value);
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            framing = BodyFraming::Chunked;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            framing = BodyFraming::Length(n.ok_or(Untranslatable)?);
        }
        if is_connection_specific(name, h.value) {
            continue;
        }
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Err(Untranslatable);
        };
        map.append(n, v);
    }
    if framing == BodyFraming::Length(0) {
        framing = BodyFraming::None;
    }
    let fallback;
    let authority = match authority {
        Some(a) => std::str::from_utf8(a).map_err(|_| Untranslatable)?,
        None => {
            fallback = fallback_authority.to_string();
            fallback.as_str()
        }
    };
    let uri = Uri::builder()
        .scheme(if https { "https" } else { "http" })
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|_| Untranslatable)?;
    let head_only = method == Method::HEAD;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = map;
    Ok(RequestOut {
        request,
        framing,
        head_only,
    })
}

fn is_connection_specific(name: &str, value: &[u8]) -> bool {
    if name.eq_ignore_ascii_case("te") {
        return !value.eq_ignore_ascii_case(b"trailers");
    }
    CONNECTION_SPECIFIC
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c))
}

/// How the response body reaches the HTTP/1.1 reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body follows (bodiless by rule, or the HEADERS frame ended the stream).
    None,
    /// As it comes: the head carries the upstream's `content-length`.
    Identity,
    Chunked,
}

/// Room for the status line and the framing line `response_to_h1` may add.
const HEAD_SLACK: usize = 96;
/// The least the response buffer is sized for: a head and a small body piece.
const FIRST_PIECE: usize = 4096;

/// The upstream's response head as HTTP/1.1 text into `out`. `ended`: its
/// HEADERS frame ended the stream; `head_only`: the request was HEAD.
pub fn response_to_h1(
    parts: &http::response::Parts,
    ended: bool,
    head_only: bool,
    out: &mut Vec<u8>,
) -> ResponseBody {
    let status = parts.status.as_u16();
    // Sized once: the head, then the body's pieces in the same buffer (a
    // small response's DATA fits without growing it again).
    let fields: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    out.reserve((fields + HEAD_SLACK).max(FIRST_PIECE));
    out.extend_from_slice(b"HTTP/1.1 ");
    write_dec(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(&parts.headers, out);
    let bodiless = head_only || status == 204 || status == 304 || parts.status.is_informational();
    let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
    let body = match (bodiless, ended, has_length) {
        (true, _, _) => ResponseBody::None,
        (false, true, false) => {
            out.extend_from_slice(b"content-length: 0\r\n");
            ResponseBody::None
        }
        (false, true, true) => ResponseBody::None,
        (false, false, true) => ResponseBody::Identity,
        (false, false, false) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            ResponseBody::Chunked
        }
    };
    out.extend_from_slice(b"\r\n");
    body
}

/// `name: value\r\n` per field, less the connection-specific ones. Values
/// `http` accepted carry no CR, LF or NUL, so each line stays one line.
pub fn write_fields(map: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in map {
        if is_connection_specific(name.as_str(), value.as_bytes()) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// HTTP/1.1 trailer lines (as the chunked decoder hands them over) as an
/// HTTP/2 trailer block, either way (to an HTTP/2 client or upstream); lines
/// that are not valid fields are dropped, and so are connection-specific
/// fields and `te`, which has a meaning only in a request's head (RFC 9113
/// §8.2.2).
pub fn trailers_from_lines(lines: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for l in lines.split(|&b| b == b'\n') {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&l[..colon], l[colon + 1..].trim_ascii());
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        if name == http::header::TE || is_connection_specific(name.as_str(), value.as_bytes()) {
            continue;
        }
        map.append(name, value);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(head: &str) -> RequestOut {
        request_from_h1(head.as_bytes(), false, "10.0.0.1:80".parse().unwrap()).unwrap()
    }

    #[test]
    fn host_becomes_authority_and_hop_fields_go() {
        let r = req("POST /a?b=1 HTTP/1.1\r\nhost: api.example\r\nconnection: keep-alive\r\nkeep-alive: 5\r\nupgrade: websocket\r\nte: trailers\r\ncontent-length: 5\r\nx-a: 1\r\n\r\n");
        assert_eq!(r.request.uri(), "http://api.example/a?b=1");
        assert_eq!(r.framing, BodyFraming::Length(5));
        let h = r.request.headers();
        assert_eq!(h["te"], "trailers");
        assert_eq!(h["x-a"], "1");
        assert_eq!(h["content-length"], "5");
        for gone in ["host", "connection", "keep-alive", "upgrade"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        let r = req("GET / HTTP/1.1\r\nhost: a\r\nte: gzip\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(r.framing, BodyFraming::Chunked);
        assert!(!r.request.headers().contains_key("te"));
        assert!(!r.request.headers().contains_key("transfer-encoding"));
    }

    #[test]
    fn a_request_without_host_gets_the_upstream_address() {
        let up = "10.0.0.1:443".parse().unwrap();
        let r = request_from_h1(b"HEAD / HTTP/1.0\r\n\r\n", true, up).unwrap();
        assert_eq!(r.request.uri(), "https://10.0.0.1:443/");
        assert!(r.head_only);
        assert_eq!(r.framing, BodyFraming::None);
        assert!(request_from_h1(b"GET * HTTP/1.1\r\nhost: a\r\n\r\n", false, up).is_err());
    }

    fn resp(
        status: u16,
        fields: &[(&str, &str)],
        ended: bool,
        head_only: bool,
    ) -> (String, ResponseBody) {
        let mut r = http::Response::builder().status(status);
        for (n, v) in fields {
            r = r.header(*n, *v);
        }
        let (parts, ()) = r.body(()).unwrap().into_parts();
        let mut out = Vec::new();
        let body = response_to_h1(&parts, ended, head_only, &mut out);
        (String::from_utf8(out).unwrap(), body)
    }

    #[test]
    fn responses_are_framed_for_the_http1_reader() {
        let (text, body) = resp(200, &[("content-type", "application/grpc")], false, false);
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(body, ResponseBody::Chunked);
        let (text, body) = resp(200, &[("content-length", "3")], false, false);
        assert!(text.ends_with("content-length: 3\r\n\r\n"));
        assert_eq!(body, ResponseBody::Identity);
        // Trailers-only (a gRPC error): the head is the whole response.
        let (text, body) = resp(200, &[("grpc-status", "14")], true, false);
        assert!(
            text.ends_with("grpc-status: 14\r\ncontent-length: 0\r\n\r\n"),
            "{text}"
        );
        assert_eq!(body, ResponseBody::None);
        let (text, body) = resp(204, &[], false, false);
        assert_eq!(text, "HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(body, ResponseBody::None);
        let (text, _) = resp(200, &[("content-length", "9")], true, true);
        assert!(text.ends_with("content-length: 9\r\n\r\n"));
    }

    #[test]
    fn trailer_lines_become_a_trailer_block() {
        let map = trailers_from_lines(
            b"grpc-status: 0\r\ngrpc-message: ok\r\nbad line\r\nconnection: x\r\nte: trailers\r\n",
        );
        assert_eq!(map.len(), 2);
        assert_eq!(map["grpc-status"], "0");
        let mut out = Vec::new();
        write_fields(&map, &mut out);
        assert_eq!(out, b"grpc-status: 0\r\ngrpc-message: ok\r\n");
    }
}
