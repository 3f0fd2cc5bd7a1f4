//! Request heads: parsed by httparse into stack headers, then checked against
//! RFC 9112's framing rules and recorded as offsets into the read buffer, so the
//! encoder can forward the bytes received without re-serialising them.

use super::{
    error::CodecError,
    headers::{self, HeaderIndex, HeaderKind, TransferCoding},
    limits::{self, RequestLimits, UnderscoreAction},
    BodyFraming, Version,
};
use std::mem::MaybeUninit;

/// Outcome of trying to parse a head from the bytes read so far.
#[derive(Debug)]
pub enum Parsed<T> {
    Complete(T),
    /// Not a whole head yet: read more bytes. Not an error.
    Incomplete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Other,
}

impl Method {
    fn of(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    /// RFC 9110 §9.2.2: safe to send again when no response byte arrived.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Put
                | Method::Delete
                | Method::Options
                | Method::Trace
        )
    }
}

/// A parsed, validated request head. Offsets point into the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub method_span: (u32, u32),
    /// The origin-form target (path and query); for absolute-form, its path part.
    pub target: (u32, u32),
    /// The length of the path part of `target` (before any `?`).
    pub path_len: u32,
    /// Authority from an absolute-form target, which overrides `Host`.
    pub authority: Option<(u32, u32)>,
    pub host: Option<(u32, u32)>,
    pub version: Version,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header: a tunnel may follow a 101.
    pub upgrade: bool,
    /// `TE: trailers` was sent (the only TE value forwarded).
    pub te_trailers: bool,
    pub has_request_id: bool,
    /// Bytes of the head, up to and including the blank line.
    pub head_len: usize,
}

impl RequestHead {
    pub fn slice<'a>(&self, buf: &'a [u8], span: (u32, u32)) -> &'a [u8] {
        &buf[span.0 as usize..span.1 as usize]
    }
    /// The path to route on; `http://host` (absolute form, no path) means `/`.
    pub fn path<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        if self.path_len == 0 {
            return b"/";
        }
        &buf[self.target.0 as usize..(self.target.0 + self.path_len) as usize]
    }
    /// The host the request is for: the absolute-form authority, else `Host`.
    pub fn host_value<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        self.authority.or(self.host).map(|s| self.slice(buf, s))
    }
}

/// Parse a request head from `buf`. Headers are recorded in `out` (cleared first);
/// names listed in `Connection` are recorded in `conn_tokens`.
pub fn parse_request(
    buf: &[u8],
    lim: &RequestLimits,
    out: &mut Vec<HeaderIndex>,
    conn_tokens: &mut Vec<(u32, u32)>,
) -> Result<Parsed<RequestHead>, CodecError> {
    out.clear();
    conn_tokens.clear();
    if buf.is_empty() {
        // Nothing read yet (a connection's first parse comes before its read).
        return Ok(Parsed::Incomplete);
    }
    // Uninitialised header slots: httparse writes only the ones it fills, so a
    // parse does not first write all 256 (8 KiB) of them, as `[EMPTY_HEADER; N]`
    // would on every request.
    let mut storage = [const { MaybeUninit::uninit() }; limits::MAX_HEADERS_CEILING];
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, &mut storage[..lim.max_headers]) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(CodecError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => return Err(malformed_or_oversized(buf, lim)),
    };
    let head_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            check_partial(buf, lim)?;
            return Ok(Parsed::Incomplete);
        }
    };
    if head_len > lim.max_header_bytes {
        return Err(CodecError::HeadersTooLarge);
    }
    let method_str = req.method.ok_or(CodecError::Malformed)?;
    let raw_target = req.path.ok_or(CodecError::Malformed)?;
    if raw_target.len() > lim.max_uri_bytes {
        return Err(CodecError::UriTooLong);
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(CodecError::Version),
    };
    let method = Method::of(method_str);
    if method_str == "CONNECT" {
        return Err(CodecError::MethodNotAllowed);
    }
    let (target, authority) = split_target(buf, raw_target, method)?;
    let target_bytes = &buf[target.0 as usize..target.1 as usize];
    let path_len = target_bytes
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target_bytes.len()) as u32;

    let mut host = None;
    let mut host_count = 0;
    let mut fields = headers::FramingFields::default();
    let mut has_upgrade = false;
    let mut offers_h2c = false;
    let mut expect_continue = false;
    let mut te_trailers = false;
    let mut has_request_id = false;
    for h in req.headers.iter() {
        let value = h.value;
        // httparse refused the head already if it was not (see `field_values_are_httparse_checked`).
        debug_assert!(headers::valid_field_value(value));
        let kind = underscored(HeaderKind::of(h.name.as_bytes()), h.name, lim.underscores)?;
        fields.observe(kind, value, buf, conn_tokens)?;
        match kind {
            HeaderKind::Host => {
                host_count += 1;
                host = Some(headers::offsets(buf, value));
            }
            // An h2c upgrade would hand the client a raw HTTP/2 connection to the
            // upstream, past every later routing decision ("h2c smuggling"); like
            // Envoy, ringway does not offer it: the Upgrade header is dropped.
            HeaderKind::Upgrade => {
                has_upgrade = true;
                offers_h2c |= headers::tokens(value).any(|t| t.eq_ignore_ascii_case(b"h2c"));
            }
            HeaderKind::Expect if value.eq_ignore_ascii_case(b"100-continue") => {
                expect_continue = true;
            }
            HeaderKind::Te => {
                te_trailers |= headers::tokens(value).any(|t| t.eq_ignore_ascii_case(b"trailers"));
            }
            HeaderKind::XRequestId => has_request_id = true,
            _ => {}
        }
        out.push(HeaderIndex {
            name: headers::offsets(buf, h.name.as_bytes()),
            value: headers::offsets(buf, value),
            kind,
        });
    }

    fields.check()?;
    let framing = if fields.has_transfer_encoding() {
        if version == Version::Http10 {
            // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            return Err(CodecError::BadTransferEncoding);
        }
        match headers::FramingFields::transfer_coding(out, buf) {
            TransferCoding::Chunked => BodyFraming::Chunked,
            _ => return Err(CodecError::BadTransferEncoding),
        }
    } else {
        match fields.content_length {
            Some(n) if n > 0 => BodyFraming::Length(n),
            _ => BodyFraming::None,
        }
    };

    if host_count > 1 {
        return Err(CodecError::BadHost);
    }
    if let Some(h) = host {
        let value = &buf[h.0 as usize..h.1 as usize];
        if !headers::valid_host(value) {
            return Err(CodecError::BadHost);
        }
    } else if version == Version::Http11 {
        return Err(CodecError::MissingHost);
    }

    let keep_alive = fields.keep_alive(version);
    Ok(Parsed::Complete(RequestHead {
        method,
        method_span: headers::offsets(buf, method_str.as_bytes()),
        target,
        path_len,
        authority,
        host,
        version,
        framing,
        keep_alive,
        expect_continue: expect_continue
            && version == Version::Http11
            && framing != BodyFraming::None,
        // Offering h2c at all (even beside another protocol) forfeits the upgrade:
        // the upstream could pick h2c, and the client would be past routing.
        upgrade: fields.upgrade && has_upgrade && !offers_h2c,
        te_trailers,
        has_request_id,
        head_len,
    }))
}

/// `kind`, or `Underscored` for a name with `_` the listener drops; an error
/// if it rejects them. Every name ringway acts on is free of `_`.
fn underscored(
    kind: HeaderKind,
    name: &str,
    action: UnderscoreAction,
) -> Result<HeaderKind, CodecError> {
    if action == UnderscoreAction::Allow || kind != HeaderKind::Other || !name.contains('_') {
        return Ok(kind);
    }
    match action {
        UnderscoreAction::RejectRequest => Err(CodecError::UnderscoreInHeaderName),
        _ => Ok(HeaderKind::Underscored),
    }
}

/// Offsets of a span of the head buffer.
type Span = (u32, u32);

/// Split the request target into origin-form and an optional authority.
fn split_target(buf: &[u8], raw: &str, method: Method) -> Result<(Span, Option<Span>), CodecError> {
    let bytes = raw.as_bytes();
    if bytes.first() == Some(&b'/') {
        return Ok((headers::offsets(buf, bytes), None));
    }
    if bytes == b"*" && method == Method::Options {
        return Ok((headers::offsets(buf, bytes), None));
    }
    // absolute-form: http://authority/path?query
    let rest = strip_prefix_ignore_case(bytes, b"http://")
        .or_else(|| strip_prefix_ignore_case(bytes, b"https://"))
        .ok_or(CodecError::BadTarget)?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    if !headers::valid_host(authority) || authority.contains(&b'@') {
        return Err(CodecError::BadTarget);
    }
    let path = &rest[end..];
    if path.is_empty() || path[0] != b'/' {
        // `http://host` or `http://host?q`: the path is `/`; we cannot point into the
        // buffer for a `/` that is not there, so only the bare form is accepted.
        if path.is_empty() {
            let slash = &authority[authority.len()..];
            return Ok((
                headers::offsets(buf, slash),
                Some(headers::offsets(buf, authority)),
            ));
        }
        return Err(CodecError::BadTarget);
    }
    Ok((
        headers::offsets(buf, path),
        Some(headers::offsets(buf, authority)),
    ))
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// httparse stops at the first bad byte; tell "too big" from "malformed" so the
/// client gets 414/431 rather than 400 when the head is merely oversized.
fn malformed_or_oversized(buf: &[u8], lim: &RequestLimits) -> CodecError {
    match check_partial(buf, lim) {
        Err(e) => e,
        Ok(()) => {
            if looks_like_http09(buf) {
                CodecError::Http09
            } else {
                CodecError::Malformed
            }
        }
    }
}

/// Checks on a head that has not ended yet: the request line and the whole head
/// must still fit their limits, or reading more is pointless.
fn check_partial(buf: &[u8], lim: &RequestLimits) -> Result<(), CodecError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    // method SP target SP version: the target is at most the line minus ~10 bytes.
    if line.len() > lim.max_uri_bytes + 32 {
        let target_len = line
            .split(|&b| b == b' ')
            .nth(1)
            .map_or(line.len(), <[u8]>::len);
        if target_len > lim.max_uri_bytes || line_end.is_none() {
            return Err(CodecError::UriTooLong);
        }
    }
    if buf.len() > lim.max_header_bytes {
        return Err(CodecError::HeadersTooLarge);
    }
    Ok(())
}

fn version_error(buf: &[u8]) -> CodecError {
    if looks_like_http09(buf) {
        return CodecError::Http09;
    }
    // `HTTP/2.0` or `HTTP/3` in a request line is a version we do not speak;
    // anything else there is just malformed.
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    match line.trim_ascii_end().rsplit(|&b| b == b' ').next() {
        Some(v) if v.starts_with(b"HTTP/") => CodecError::Version,
        _ => CodecError::Malformed,
    }
}

/// `GET /path\r\n` with no version is an HTTP/0.9 request.
fn looks_like_http09(buf: &[u8]) -> bool {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let line = buf[..end].trim_ascii_end();
    let mut parts = line.split(|&b| b == b' ');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(m), Some(t), None) if !m.is_empty() && t.first() == Some(&b'/')
    )
}
