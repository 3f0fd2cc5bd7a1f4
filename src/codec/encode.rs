//! Heads for the next hop, written into a reused output buffer: hop-by-hop
//! headers dropped, forwarding headers added, framing headers set to match the
//! body encoder chosen. Field names and values are copied from the bytes received.

use std::net::{IpAddr, SocketAddr};

use super::{
    edit::{EditContext, HeaderOps, RequestRef},
    forward::{EnvoyHeaders, ForwardPlan, RequestIdAction},
    headers::{HeaderIndex, HeaderKind},
    request::RequestHead,
    response::ResponseHead,
    BodyFraming, Version,
};

/// What the proxy adds to a request on its way upstream.
pub struct RequestEdits<'a> {
    /// The client (`x-forwarded-for`, `%DOWNSTREAM_REMOTE_ADDRESS%`).
    pub client: SocketAddr,
    /// Replace the first `.0` bytes of the path with `.1` (prefix_rewrite, or a
    /// regex_rewrite's whole new path).
    pub rewrite: Option<(usize, &'a [u8])>,
    /// Used as `Host` when the client sent none (HTTP/1.0).
    pub upstream: SocketAddr,
    /// Written as `x-request-id` as `forward.request_id` says.
    pub request_id: &'a [u8],
    /// How the request reached us: `x-forwarded-proto`.
    pub scheme: Scheme,
    /// What the listener's forwarding policy decided for this request.
    pub forward: ForwardPlan,
    /// The external-address header's name (lowercase), when the policy has one.
    pub external_header: Option<&'a [u8]>,
    /// The route's header mutations (usually none).
    pub ops: &'a HeaderOps,
    /// `%START_TIME%`, rendered when `ops` uses it.
    pub start_time: &'a [u8],
    /// Sent as `Host` instead of the client's (`host_rewrite_literal`).
    pub host_rewrite: Option<&'a [u8]>,
}

/// Headers ringway writes itself on every upstream request; a mutation may
/// remove or overwrite them (Envoy's router mutates after the connection
/// manager added them).
const OWN_REQUEST_HEADERS: &[&str] = &["x-forwarded-for", "x-forwarded-proto", "x-request-id"];

/// The scheme a request arrived with (TLS or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[inline]
fn is_listed(buf: &[u8], name: &[u8], tokens: &[(u32, u32)]) -> bool {
    // Most messages list nothing in `Connection` but the connection's own options.
    !tokens.is_empty()
        && tokens
            .iter()
            .any(|t| buf[t.0 as usize..t.1 as usize].eq_ignore_ascii_case(name))
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Kept header lines, copied from the received head: a line received exactly
/// as `name: value\r\n` is written is taken as it is, and consecutive ones
/// in one copy (a head of eight kept lines was 32 small copies); any other
/// line is written out by `header_line`. The bytes written are the same.
struct KeptLines<'b> {
    buf: &'b [u8],
    /// Received lines not yet written: a span of `buf`.
    run: (usize, usize),
}

impl<'b> KeptLines<'b> {
    fn new(buf: &'b [u8]) -> Self {
        KeptLines { buf, run: (0, 0) }
    }

    #[inline(always)]
    fn keep(&mut self, h: &HeaderIndex, out: &mut Vec<u8>) {
        let buf = self.buf;
        let (name_end, value_start) = (h.name.1 as usize, h.value.0 as usize);
        let line_end = h.value.1 as usize + 2;
        // Byte patterns, not slice compares (those call `bcmp`).
        let as_written = value_start == name_end + 2
            && matches!(buf.get(name_end..value_start), Some([b':', b' ']))
            && matches!(buf.get(line_end - 2..line_end), Some([b'\r', b'\n']));
        if !as_written {
            self.flush(out);
            header_line(out, h.name(buf), h.value(buf));
            return;
        }
        let start = h.name.0 as usize;
        if self.run.1 != start || self.run.0 == self.run.1 {
            self.flush(out);
            self.run.0 = start;
        }
        self.run.1 = line_end;
    }

    #[inline]
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf[self.run.0..self.run.1]);
        self.run = (0, 0);
    }
}

/// Write the upstream request head.
pub fn encode_request(
    buf: &[u8],
    head: &RequestHead,
    headers: &[HeaderIndex],
    conn_tokens: &[(u32, u32)],
    edits: &RequestEdits<'_>,
    out: &mut Vec<u8>,
) {
    write_request_line(buf, head, edits, out);

    let cx = EditContext {
        client: edits.client,
        upstream: None,
        start_time: edits.start_time,
        version: head.version,
        request: Some(RequestRef { buf, head, headers }),
    };
    let ops = edits.ops;
    let dropped = |name: &[u8]| ops.drops(name, &cx);
    write_host(buf, head, edits, out);
    let plan = edits.forward;
    let client_xfp = headers
        .iter()
        .any(|h| h.kind == HeaderKind::XForwardedProto);
    let write_xfp = plan.set_xfp || !client_xfp;
    let ext_name = edits.external_header.filter(|_| plan.external.is_some());
    let mut xff_seen = false;
    let mut kept = KeptLines::new(buf);
    for h in headers {
        let name = h.name(buf);
        let keep = match h.kind {
            HeaderKind::Host => head.authority.is_none() && edits.host_rewrite.is_none(),
            // Re-framed as chunked upstream; the codings listed stay as sent.
            HeaderKind::TransferEncoding => true,
            // Framing is never hop-by-hop, whatever `Connection` lists: dropping
            // Content-Length because a client named it would desynchronise us and
            // the upstream (request smuggling).
            HeaderKind::ContentLength => true,
            HeaderKind::Upgrade => head.upgrade,
            HeaderKind::Expect => !head.expect_continue,
            HeaderKind::XForwardedProto => !write_xfp && !dropped(name),
            HeaderKind::XForwardedFor => {
                // All values are joined into one line below.
                xff_seen = true;
                false
            }
            HeaderKind::XRequestId => {
                plan.request_id != RequestIdAction::Overwrite
                    && !is_listed(buf, name, conn_tokens)
                    && !dropped(name)
            }
            HeaderKind::Underscored => false,
            k if k.is_hop_by_hop() => false,
            _ => {
                !is_listed(buf, name, conn_tokens)
                    && !dropped(name)
                    && !ext_name.is_some_and(|n| name.eq_ignore_ascii_case(n))
                    && !plan.envoy.drops(name)
            }
        };
        if keep {
            kept.keep(h, out);
        }
    }
    kept.flush(out);
    if head.te_trailers {
        out.extend_from_slice(b"te: trailers\r\n");
    }
    if head.upgrade {
        out.extend_from_slice(b"connection: upgrade\r\n");
    }
    write_forwarding(
        buf, head, headers, edits, xff_seen, write_xfp, &dropped, out,
    );
    if !ops.is_empty() {
        let arrived = |name: &str| {
            OWN_REQUEST_HEADERS.contains(&name)
                || headers
                    .iter()
                    .any(|h| h.name(buf).eq_ignore_ascii_case(name.as_bytes()))
        };
        ops.write_added(&cx, &arrived, out);
    }
    out.extend_from_slice(b"\r\n");
}

/// `METHOD target HTTP/1.1`, the target rewritten as the route says.
fn write_request_line(buf: &[u8], head: &RequestHead, edits: &RequestEdits<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(head.slice(buf, head.method_span));
    out.push(b' ');
    let target = head.slice(buf, head.target);
    match edits.rewrite {
        Some((matched, replacement)) => {
            out.extend_from_slice(replacement);
            // An absolute-form target without a path routes as `/` but is empty.
            out.extend_from_slice(target.get(matched..).unwrap_or_default());
        }
        None if target.is_empty() => out.push(b'/'),
        None => out.extend_from_slice(target),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// `Host` when it is not the client's own line (rewritten, from an
/// absolute-form target, or missing in HTTP/1.0).
fn write_host(buf: &[u8], head: &RequestHead, edits: &RequestEdits<'_>, out: &mut Vec<u8>) {
    match (edits.host_rewrite, head.authority, head.host) {
        (Some(host), _, _) => header_line(out, b"host", host),
        (None, Some(a), _) => header_line(out, b"host", head.slice(buf, a)),
        (None, None, None) => {
            out.extend_from_slice(b"host: ");
            write_addr(out, edits.upstream);
            out.extend_from_slice(b"\r\n");
        }
        (None, None, Some(_)) => {}
    }
}

/// The forwarding headers ringway writes itself, as the policy's plan says
/// (each removable by a route's mutations).
#[allow(clippy::too_many_arguments)]
fn write_forwarding(
    buf: &[u8],
    head: &RequestHead,
    headers: &[HeaderIndex],
    edits: &RequestEdits<'_>,
    xff_seen: bool,
    write_xfp: bool,
    dropped: &dyn Fn(&[u8]) -> bool,
    out: &mut Vec<u8>,
) {
    let plan = edits.forward;
    let ext_name = edits.external_header.filter(|_| plan.external.is_some());
    if (xff_seen || plan.append_xff) && !dropped(b"x-forwarded-for") {
        write_xff(
            buf,
            headers,
            plan.append_xff.then_some(edits.client.ip()),
            out,
        );
    }
    if write_xfp && !dropped(b"x-forwarded-proto") {
        out.extend_from_slice(match edits.scheme {
            Scheme::Http => b"x-forwarded-proto: http\r\n",
            Scheme::Https => b"x-forwarded-proto: https\r\n",
        });
    }
    if let (Some(name), Some(ip)) = (ext_name, plan.external) {
        if !dropped(name) {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            write_ip(out, ip);
            out.extend_from_slice(b"\r\n");
        }
    }
    if plan.envoy == EnvoyHeaders::Internal && !dropped(b"x-envoy-internal") {
        out.extend_from_slice(b"x-envoy-internal: true\r\n");
    }
    let write_id = match plan.request_id {
        RequestIdAction::Keep => false,
        RequestIdAction::GenerateIfMissing => !head.has_request_id,
        RequestIdAction::Overwrite => true,
    };
    if write_id && !dropped(b"x-request-id") {
        header_line(out, b"x-request-id", edits.request_id);
    }
}

/// One `x-forwarded-for` line: the client's lines joined, then `append`.
fn write_xff(buf: &[u8], headers: &[HeaderIndex], append: Option<IpAddr>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"x-forwarded-for: ");
    let mut first = true;
    for h in headers
        .iter()
        .filter(|h| h.kind == HeaderKind::XForwardedFor)
    {
        if !first {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(h.value(buf));
        first = false;
    }
    if let Some(ip) = append {
        if !first {
            out.extend_from_slice(b", ");
        }
        write_ip(out, ip);
    }
    out.extend_from_slice(b"\r\n");
}

/// A response head with the route's mutations applied, copied into `out`
/// (with `headers` and `tokens` indexing it) for `encode_response` to write
/// as it writes any head. Only routes with response mutations pay for the copy.
pub struct EditedHead<'a> {
    pub buf: &'a mut Vec<u8>,
    pub headers: &'a mut Vec<HeaderIndex>,
    pub tokens: &'a mut Vec<(u32, u32)>,
}

/// Apply `ops` to the response head (`buf`, `head`, `headers`, `tokens`);
/// returns the head whose spans point into `into.buf`.
pub fn edit_response(
    buf: &[u8],
    head: &ResponseHead,
    headers: &[HeaderIndex],
    tokens: &[(u32, u32)],
    ops: &HeaderOps,
    cx: &EditContext<'_>,
    into: EditedHead<'_>,
) -> ResponseHead {
    let EditedHead {
        buf: out,
        headers: index,
        tokens: out_tokens,
    } = into;
    out.clear();
    index.clear();
    out_tokens.clear();
    let copy = |out: &mut Vec<u8>, bytes: &[u8]| {
        let start = out.len() as u32;
        out.extend_from_slice(bytes);
        (start, out.len() as u32)
    };
    let reason = copy(out, &buf[head.reason.0 as usize..head.reason.1 as usize]);
    for t in tokens {
        let span = copy(out, &buf[t.0 as usize..t.1 as usize]);
        out_tokens.push(span);
    }
    for h in headers {
        // Framing and hop-by-hop headers are never mutated (the config refuses them).
        if !super::edit::protected(h.kind) && ops.drops(h.name(buf), cx) {
            continue;
        }
        let name = copy(out, h.name(buf));
        let value = copy(out, h.value(buf));
        index.push(HeaderIndex {
            name,
            value,
            kind: h.kind,
        });
    }
    let added_at = out.len();
    let arrived = |name: &str| {
        headers
            .iter()
            .any(|h| h.name(buf).eq_ignore_ascii_case(name.as_bytes()))
    };
    ops.write_added(cx, &arrived, out);
    index_lines(out, added_at, index);
    ResponseHead {
        reason,
        ..head.clone()
    }
}

/// Index the `name: value\r\n` lines written into `buf` from `from` on.
fn index_lines(buf: &[u8], from: usize, index: &mut Vec<HeaderIndex>) {
    let mut at = from;
    while at < buf.len() {
        let line_end = buf[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(buf.len(), |i| at + i);
        let colon = buf[at..line_end]
            .iter()
            .position(|&b| b == b':')
            .map_or(line_end, |i| at + i);
        let value_start = (colon + 2).min(line_end);
        index.push(HeaderIndex {
            name: (at as u32, colon as u32),
            value: (value_start as u32, line_end as u32),
            kind: HeaderKind::of(&buf[at..colon]),
        });
        at = line_end + 2;
    }
}

/// How the response travels to the client.
#[derive(Debug, Clone, Copy)]
pub struct ResponsePlan {
    /// The body is sent chunked (re-chunked or passed on chunked).
    pub chunked: bool,
    pub keep_alive: bool,
    pub client_version: Version,
    /// Milliseconds from sending the request to the response head.
    pub service_time_ms: u64,
}

/// Write the downstream response head.
pub fn encode_response(
    buf: &[u8],
    head: &ResponseHead,
    headers: &[HeaderIndex],
    conn_tokens: &[(u32, u32)],
    plan: &ResponsePlan,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_status(out, head.status);
    out.push(b' ');
    out.extend_from_slice(&buf[head.reason.0 as usize..head.reason.1 as usize]);
    out.extend_from_slice(b"\r\n");
    let switching = head.status == 101;
    let mut kept = KeptLines::new(buf);
    for h in headers {
        let keep = match h.kind {
            HeaderKind::TransferEncoding => plan.chunked && head.framing == BodyFraming::Chunked,
            // The body is framed by this length; `Connection` cannot remove it.
            HeaderKind::ContentLength => true,
            HeaderKind::Upgrade => switching,
            k if k.is_hop_by_hop() => false,
            _ => !is_listed(buf, h.name(buf), conn_tokens),
        };
        if keep {
            kept.keep(h, out);
        }
    }
    kept.flush(out);
    if plan.chunked && head.framing != BodyFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if switching {
        out.extend_from_slice(b"connection: upgrade\r\n");
    } else if !plan.keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if plan.client_version == Version::Http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"x-ringway-upstream-service-time: ");
    write_dec(out, plan.service_time_ms);
    out.extend_from_slice(b"\r\n\r\n");
}

/// What a local reply says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// Nothing: HTTP/1.1 keeps the connection alive by default.
    Omit,
    /// `connection: close`: the connection ends after this response.
    Close,
    /// `connection: keep-alive`: an HTTP/1.0 client keeps the connection only when told.
    KeepAlive,
}

/// The body of a response ringway makes itself, measured before it is
/// written (`content-length` precedes it) so no temporary string is built.
pub trait ReplyBody {
    /// The `content-type` to send; `None` when there is no body, or when the
    /// reply's own headers carry one.
    fn content_type(&self) -> Option<&'static str>;
    fn byte_len(&self) -> usize;
    fn write_body(&self, out: &mut Vec<u8>);
}

/// A one-line plain-text body: the text and a newline.
pub struct TextLine<T>(pub T);

impl<T: std::fmt::Display> ReplyBody for TextLine<T> {
    fn content_type(&self) -> Option<&'static str> {
        Some(TEXT_PLAIN)
    }
    fn byte_len(&self) -> usize {
        displayed_len(&self.0) + 1
    }
    fn write_body(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // Writing into a Vec cannot fail.
        let _ = writeln!(out, "{}", self.0);
    }
}

/// Bytes sent as they are (a route's `direct_response` body).
pub struct Verbatim<'a> {
    pub bytes: &'a [u8],
    /// `None`: the reply's headers say it, or there is no body.
    pub content_type: Option<&'static str>,
}

impl ReplyBody for Verbatim<'_> {
    fn content_type(&self) -> Option<&'static str> {
        self.content_type.filter(|_| !self.bytes.is_empty())
    }
    fn byte_len(&self) -> usize {
        self.bytes.len()
    }
    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.bytes);
    }
}

pub const TEXT_PLAIN: &str = "text/plain";

/// A response ringway makes itself: a status, `server: ringway`, and a body
/// (ringway's own one-line reason, or a route's direct response). `extra` is
/// empty or whole `name: value\r\n` lines (e.g. `x-ringway-overloaded: true`,
/// a redirect's `location`). Returns the body's length (0 when `head_only`).
pub fn local_reply(
    status: u16,
    body: impl ReplyBody,
    extra: &[u8],
    head_only: bool,
    connection: ConnectionHeader,
    out: &mut Vec<u8>,
) -> u64 {
    let body_len = body.byte_len() as u64;
    out.extend_from_slice(b"HTTP/1.1 ");
    write_status(out, status);
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\nserver: ringway\r\n");
    if let Some(content_type) = body.content_type() {
        header_line(out, b"content-type", content_type.as_bytes());
    }
    out.extend_from_slice(b"content-length: ");
    write_dec(out, body_len);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(extra);
    out.extend_from_slice(match connection {
        ConnectionHeader::Omit => b"",
        ConnectionHeader::Close => b"connection: close\r\n",
        ConnectionHeader::KeepAlive => b"connection: keep-alive\r\n",
    });
    out.extend_from_slice(b"\r\n");
    if head_only {
        return 0;
    }
    body.write_body(out);
    body_len
}

/// How many bytes `value` displays as, without building the string.
fn displayed_len(value: &impl std::fmt::Display) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = std::fmt::write(&mut count, format_args!("{value}"));
    count.0
}

pub fn reason_phrase(status: u16) -> &'static str {
    REASON_PHRASES
        .iter()
        .find(|(code, _)| *code == status)
        .map_or("Unknown", |(_, phrase)| phrase)
}

/// RFC 9110's reason phrases for the statuses ringway answers itself,
/// including any a route's `direct_response` or `redirect` may name.
const REASON_PHRASES: &[(u16, &str)] = &[
    (100, "Continue"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Content Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (418, "I'm a teapot"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Content"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
];

/// A status code (three digits: the parser and the config allow 100 to 999)
/// in one fixed-size copy; `write_dec` for anything else.
fn write_status(out: &mut Vec<u8>, status: u16) {
    if !(100..=999).contains(&status) {
        return write_dec(out, u64::from(status));
    }
    let digit = |n: u16| b'0' + (n % 10) as u8;
    out.extend_from_slice(&[digit(status / 100), digit(status / 10), digit(status)]);
}

/// Decimal digits of `n`, without going through `fmt` (no allocation, no locale).
pub fn write_dec(out: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        // Service times in milliseconds, counts: mostly one digit.
        out.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub(super) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // At most 15 bytes, composed on the stack and copied once.
            let mut text = [0u8; 15];
            let mut len = 0;
            for (i, &octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    text[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    text[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                text[len] = b'0' + octet % 10;
                len += 1;
            }
            out.extend_from_slice(&text[..len]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

pub(super) fn write_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(_) => write_ip(out, addr.ip()),
        IpAddr::V6(_) => {
            out.push(b'[');
            write_ip(out, addr.ip());
            out.push(b']');
        }
    }
    out.push(b':');
    write_dec(out, u64::from(addr.port()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 999, 18_446_744_073_709_551_615] {
            let mut out = Vec::new();
            write_dec(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn statuses_and_addresses() {
        for status in [0u16, 7, 99, 100, 101, 200, 404, 999, 1000, 65535] {
            let mut out = Vec::new();
            write_status(&mut out, status);
            assert_eq!(out, status.to_string().as_bytes());
        }
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.99.100.255",
            "255.255.255.255",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            write_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().as_bytes());
        }
    }

    /// Lines received as they are written go out in runs; others are
    /// rewritten; the bytes are the same either way.
    #[test]
    fn kept_lines_are_the_lines_written() {
        let buf = b"A: 1\r\nB:2\r\nC: 3\r\nD:  4 \r\nE: 5\r\nF: \r\nG: 7\r\n";
        let mut heads = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let end = at + buf[at..].windows(2).position(|w| w == b"\r\n").unwrap();
            let colon = at + buf[at..end].iter().position(|&b| b == b':').unwrap();
            let line = &buf[colon + 1..end];
            let trimmed = line.trim_ascii();
            let v0 = if trimmed.is_empty() {
                colon + 1 + line.len() - line.trim_ascii_start().len()
            } else {
                colon + 1 + line.iter().position(|b| !b.is_ascii_whitespace()).unwrap()
            };
            heads.push(HeaderIndex {
                name: (at as u32, colon as u32),
                value: (v0 as u32, (v0 + trimmed.len()) as u32),
                kind: HeaderKind::Other,
            });
            at = end + 2;
        }
        // Every subset of the lines, kept in order.
        for mask in 0u32..(1 << heads.len()) {
            let (mut runs, mut lines) = (Vec::new(), Vec::new());
            let mut kept = KeptLines::new(buf);
            for (i, h) in heads.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    kept.keep(h, &mut runs);
                    header_line(&mut lines, h.name(buf), h.value(buf));
                }
            }
            kept.flush(&mut runs);
            assert_eq!(
                String::from_utf8_lossy(&runs),
                String::from_utf8_lossy(&lines),
                "{mask:b}"
            );
        }
    }

    #[test]
    fn local_reply_shape() {
        let mut out = Vec::new();
        let n = local_reply(
            503,
            TextLine("no healthy upstream"),
            b"",
            false,
            ConnectionHeader::Close,
            &mut out,
        );
        assert_eq!(n, 20);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("server: ringway\r\n"));
        assert!(text.contains("content-length: 20\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nno healthy upstream\n"));
    }

    #[test]
    fn an_empty_verbatim_body_has_no_content_type() {
        let mut out = Vec::new();
        let body = Verbatim {
            bytes: b"",
            content_type: Some(TEXT_PLAIN),
        };
        let extra = b"location: https://a.test/\r\n";
        local_reply(301, body, extra, false, ConnectionHeader::Omit, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 301 Moved Permanently\r\nserver: ringway\r\ncontent-length: 0\r\n\
             location: https://a.test/\r\n\r\n"
        );
    }
}
