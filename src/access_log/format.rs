//! Envoy's access log format language, compiled once into segments.
//!
//! Supported command operators: `%START_TIME%`, `%REQ(H)%` (a header, or the
//! pseudo-headers `:METHOD`, `:PATH`, `:AUTHORITY`; `%REQ(A?B)%` falls back from
//! A to B; `%REQ(H):N%` truncates to N bytes), `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`
//! and any response header `%RESP(H)%` (`A?B`, `:N` as for `REQ`), `%PROTOCOL%`,
//! `%RESPONSE_CODE%`, `%RESPONSE_FLAGS%`, `%BYTES_RECEIVED%`, `%BYTES_SENT%`,
//! `%DURATION%`, `%UPSTREAM_HOST%`, `%UPSTREAM_CLUSTER%`,
//! `%DOWNSTREAM_REMOTE_ADDRESS%`, `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`, and
//! for TLS connections `%DOWNSTREAM_TLS_VERSION%`, `%DOWNSTREAM_TLS_CIPHER%`,
//! `%REQUESTED_SERVER_NAME%` (SNI), `%DOWNSTREAM_PEER_SUBJECT%`.
//! A missing value prints `-`, as in Envoy. An unknown operator is a config error.

use std::{io::Write, net::SocketAddr};

use crate::{codec::Version, net::tls::TlsInfo};

/// `value`, or Envoy's `-` for a value that is not there.
fn text_or_dash(out: &mut Vec<u8>, value: Option<&str>) {
    out.extend_from_slice(value.map_or(b"-", str::as_bytes));
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown command operator `%{0}%`")]
    UnknownOperator(String),
    #[error("unterminated `%` at byte {0}")]
    Unterminated(usize),
    #[error("bad operator argument in `%{0}%`")]
    BadArgument(String),
}

/// Where a `%REQ(..)%` value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReqSource {
    Method,
    Path,
    Authority,
    /// A header name, lowercased.
    Header(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Vec<u8>),
    StartTime,
    /// Index into `AccessLogFormat::fields`, and an optional length cap.
    Req(usize, Option<usize>),
    UpstreamServiceTime,
    /// Index into `AccessLogFormat::resp_fields`, and an optional length cap.
    Resp(usize, Option<usize>),
    Protocol,
    ResponseCode,
    ResponseFlags,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamHost,
    UpstreamCluster,
    RemoteAddress,
    RemoteAddressWithoutPort,
    TlsVersion,
    TlsCipher,
    RequestedServerName,
    PeerSubject,
}

/// A compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    segments: Vec<Segment>,
    /// The request fields to capture when a request starts: each a list of
    /// alternatives (`A?B`).
    pub fields: Vec<Vec<ReqSource>>,
    /// The response headers to capture when a response head arrives
    /// (lower-cased names; `A?B` alternatives).
    pub resp_fields: Vec<Vec<Vec<u8>>>,
    /// The text it was compiled from: what a config dump prints.
    text: String,
}

/// Envoy's response flags that ringway can raise, in Envoy's print order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseFlags(pub u16);

impl ResponseFlags {
    pub const NO_HEALTHY_UPSTREAM: u16 = 1 << 0;
    pub const UPSTREAM_TIMEOUT: u16 = 1 << 1;
    pub const UPSTREAM_CONNECT_FAILURE: u16 = 1 << 2;
    pub const UPSTREAM_TERMINATION: u16 = 1 << 3;
    pub const NO_ROUTE: u16 = 1 << 4;
    pub const DOWNSTREAM_TERMINATION: u16 = 1 << 5;
    pub const DOWNSTREAM_PROTOCOL_ERROR: u16 = 1 << 6;
    pub const UPSTREAM_PROTOCOL_ERROR: u16 = 1 << 7;
    pub const UPSTREAM_OVERFLOW: u16 = 1 << 8;
    /// Envoy's `RL`: refused by a rate or concurrency limit on the client.
    pub const RATE_LIMITED: u16 = 1 << 9;
    const CODES: [(u16, &'static str); 10] = [
        (Self::NO_HEALTHY_UPSTREAM, "UH"),
        (Self::UPSTREAM_TIMEOUT, "UT"),
        (Self::UPSTREAM_CONNECT_FAILURE, "UF"),
        (Self::UPSTREAM_TERMINATION, "UC"),
        (Self::NO_ROUTE, "NR"),
        (Self::DOWNSTREAM_TERMINATION, "DC"),
        (Self::DOWNSTREAM_PROTOCOL_ERROR, "DPE"),
        (Self::UPSTREAM_PROTOCOL_ERROR, "UPE"),
        (Self::UPSTREAM_OVERFLOW, "UO"),
        (Self::RATE_LIMITED, "RL"),
    ];

    pub fn set(&mut self, flag: u16) {
        self.0 |= flag;
    }

    pub fn write(self, out: &mut Vec<u8>) {
        if self.0 == 0 {
            out.push(b'-');
            return;
        }
        let mut first = true;
        for (bit, code) in Self::CODES {
            if self.0 & bit != 0 {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(code.as_bytes());
            }
        }
    }
}

/// Request values captured when the head was parsed (the read buffer moves on).
/// Reused across requests: after warm-up, capturing does not allocate.
#[derive(Debug, Default)]
pub struct RequestCapture {
    pub bytes: Vec<u8>,
    pub spans: Vec<Option<(usize, usize)>>,
}

impl RequestCapture {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }
    pub fn push(&mut self, value: Option<&[u8]>) {
        let span = value.map(|v| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(v);
            (start, self.bytes.len())
        });
        self.spans.push(span);
    }
    fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans
            .get(i)
            .copied()
            .flatten()
            .map(|(a, b)| &self.bytes[a..b])
    }
}

/// Everything one line can print.
pub struct LogRecord<'a> {
    pub start_millis: u64,
    pub protocol: Option<Version>,
    pub status: u16,
    pub flags: ResponseFlags,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: u64,
    pub service_time_ms: Option<u64>,
    pub upstream_host: Option<SocketAddr>,
    pub upstream_cluster: Option<&'a str>,
    pub peer: SocketAddr,
    pub request: &'a RequestCapture,
    /// The response headers `%RESP(..)%` asked for (empty for ringway's own replies).
    pub response: &'a RequestCapture,
    /// The connection's TLS session, if it is TLS.
    pub tls: Option<&'a TlsInfo>,
}

impl AccessLogFormat {
    /// The format text this was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn compile(text: &str) -> Result<AccessLogFormat, FormatError> {
        let mut segments = Vec::new();
        let mut fields = Vec::new();
        let mut resp_fields = Vec::new();
        let mut literal = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            let end = bytes[i + 1..]
                .iter()
                .position(|&b| b == b'%')
                .map(|p| i + 1 + p)
                .ok_or(FormatError::Unterminated(i))?;
            let op = &text[i + 1..end];
            i = end + 1;
            if op.is_empty() {
                // `%%` is a literal percent sign.
                literal.push(b'%');
                continue;
            }
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Self::operator(op, &mut fields, &mut resp_fields)?);
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(AccessLogFormat {
            segments,
            fields,
            resp_fields,
            text: text.to_string(),
        })
    }

    fn operator(
        op: &str,
        fields: &mut Vec<Vec<ReqSource>>,
        resp_fields: &mut Vec<Vec<Vec<u8>>>,
    ) -> Result<Segment, FormatError> {
        let bad = || FormatError::BadArgument(op.to_string());
        // `NAME(ARG)` or `NAME(ARG):N`: the argument and the length cap.
        let call = |rest: &str| -> Result<(String, Option<usize>), FormatError> {
            let (arg, tail) = rest.split_once(')').ok_or_else(bad)?;
            let max = match tail {
                "" => None,
                t => Some(
                    t.strip_prefix(':')
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(bad)?,
                ),
            };
            Ok((arg.to_string(), max))
        };
        if let Some(rest) = op.strip_prefix("REQ(") {
            let (arg, max) = call(rest)?;
            let mut alts = Vec::new();
            for alt in arg.split('?') {
                alts.push(match alt.to_ascii_lowercase().as_str() {
                    "" => return Err(bad()),
                    ":method" => ReqSource::Method,
                    ":path" => ReqSource::Path,
                    ":authority" | "host" => ReqSource::Authority,
                    h if h.starts_with(':') => return Err(bad()),
                    h => ReqSource::Header(h.as_bytes().to_vec()),
                });
            }
            fields.push(alts);
            return Ok(Segment::Req(fields.len() - 1, max));
        }
        if let Some(rest) = op.strip_prefix("RESP(") {
            let (arg, max) = call(rest)?;
            if arg.eq_ignore_ascii_case("x-envoy-upstream-service-time") && max.is_none() {
                // ringway's own header of that meaning.
                return Ok(Segment::UpstreamServiceTime);
            }
            let mut alts = Vec::new();
            for alt in arg.split('?') {
                let h = alt.to_ascii_lowercase();
                if h.is_empty() || h.starts_with(':') {
                    return Err(bad());
                }
                alts.push(h.into_bytes());
            }
            resp_fields.push(alts);
            return Ok(Segment::Resp(resp_fields.len() - 1, max));
        }
        Ok(match op {
            "START_TIME" => Segment::StartTime,
            "PROTOCOL" => Segment::Protocol,
            "RESPONSE_CODE" => Segment::ResponseCode,
            "RESPONSE_FLAGS" => Segment::ResponseFlags,
            "BYTES_RECEIVED" => Segment::BytesReceived,
            "BYTES_SENT" => Segment::BytesSent,
            "DURATION" => Segment::Duration,
            "UPSTREAM_HOST" => Segment::UpstreamHost,
            "UPSTREAM_CLUSTER" => Segment::UpstreamCluster,
            "DOWNSTREAM_REMOTE_ADDRESS" => Segment::RemoteAddress,
            "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => Segment::RemoteAddressWithoutPort,
            "DOWNSTREAM_TLS_VERSION" => Segment::TlsVersion,
            "DOWNSTREAM_TLS_CIPHER" => Segment::TlsCipher,
            "REQUESTED_SERVER_NAME" => Segment::RequestedServerName,
            "DOWNSTREAM_PEER_SUBJECT" => Segment::PeerSubject,
            other => return Err(FormatError::UnknownOperator(other.to_string())),
        })
    }

    /// Append one rendered line to `out`; a line always ends in `\n`.
    pub fn render(&self, r: &LogRecord<'_>, out: &mut Vec<u8>) {
        let dec = |out: &mut Vec<u8>, n: u64| crate::codec::encode::write_dec(out, n);
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.extend_from_slice(l),
                Segment::StartTime => super::write_iso8601(out, r.start_millis),
                Segment::Req(i, max) => match r.request.get(*i) {
                    Some(v) => {
                        let v = &v[..max.map_or(v.len(), |m| m.min(v.len()))];
                        out.extend_from_slice(v);
                    }
                    None => out.push(b'-'),
                },
                Segment::UpstreamServiceTime => match r.service_time_ms {
                    Some(ms) => dec(out, ms),
                    None => out.push(b'-'),
                },
                Segment::Resp(i, max) => match r.response.get(*i) {
                    Some(v) => out.extend_from_slice(&v[..max.map_or(v.len(), |m| m.min(v.len()))]),
                    None => out.push(b'-'),
                },
                Segment::Protocol => out.extend_from_slice(match r.protocol {
                    Some(Version::Http11) => b"HTTP/1.1",
                    Some(Version::Http10) => b"HTTP/1.0",
                    Some(Version::Http2) => b"HTTP/2",
                    None => b"-",
                }),
                Segment::ResponseCode => dec(out, u64::from(r.status)),
                Segment::ResponseFlags => r.flags.write(out),
                Segment::BytesReceived => dec(out, r.bytes_received),
                Segment::BytesSent => dec(out, r.bytes_sent),
                Segment::Duration => dec(out, r.duration_ms),
                Segment::UpstreamHost => match r.upstream_host {
                    Some(a) => {
                        let _ = write!(out, "{a}");
                    }
                    None => out.push(b'-'),
                },
                Segment::UpstreamCluster => match r.upstream_cluster {
                    Some(c) => out.extend_from_slice(c.as_bytes()),
                    None => out.push(b'-'),
                },
                Segment::RemoteAddress => {
                    let _ = write!(out, "{}", r.peer);
                }
                Segment::RemoteAddressWithoutPort => {
                    let _ = write!(out, "{}", r.peer.ip());
                }
                Segment::TlsVersion => text_or_dash(out, r.tls.and_then(TlsInfo::version_name)),
                Segment::TlsCipher => text_or_dash(out, r.tls.and_then(TlsInfo::cipher_name)),
                Segment::RequestedServerName => {
                    text_or_dash(out, r.tls.and_then(|t| t.sni.as_deref()))
                }
                Segment::PeerSubject => {
                    text_or_dash(out, r.tls.and_then(|t| t.peer_subject.as_deref()))
                }
            }
        }
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(cap: &'a RequestCapture) -> LogRecord<'a> {
        LogRecord {
            start_millis: 0,
            protocol: Some(Version::Http11),
            status: 503,
            flags: ResponseFlags(ResponseFlags::UPSTREAM_CONNECT_FAILURE),
            bytes_received: 0,
            bytes_sent: 91,
            duration_ms: 3,
            service_time_ms: None,
            upstream_host: Some("127.0.0.2:80".parse().unwrap()),
            upstream_cluster: Some("service1"),
            peer: "127.0.0.1:5555".parse().unwrap(),
            request: cap,
            response: cap,
            tls: None,
        }
    }

    #[test]
    fn renders_envoy_default_format() {
        let f = AccessLogFormat::compile(super::super::DEFAULT_FORMAT).unwrap();
        // Fields: method, original-path?path, xff, user-agent, request id, authority.
        assert_eq!(f.fields.len(), 6);
        let mut cap = RequestCapture::default();
        cap.push(Some(b"GET"));
        cap.push(Some(b"/service/1?x=1"));
        cap.push(None);
        cap.push(Some(b"curl/8"));
        cap.push(None);
        cap.push(Some(b"localhost:8000"));
        let mut out = Vec::new();
        f.render(&record(&cap), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[1970-01-01T00:00:00.000Z] \"GET /service/1?x=1 HTTP/1.1\" 503 UF 0 91 3 - \"-\" \"curl/8\" \"-\" \"localhost:8000\" \"127.0.0.2:80\"\n"
        );
    }

    #[test]
    fn truncation_alternatives_and_literals() {
        let f = AccessLogFormat::compile("%REQ(X-A?:METHOD):2% 100%% %UPSTREAM_CLUSTER%").unwrap();
        assert_eq!(
            f.fields,
            vec![vec![ReqSource::Header(b"x-a".to_vec()), ReqSource::Method]]
        );
        let mut cap = RequestCapture::default();
        cap.push(Some(b"POST"));
        let mut out = Vec::new();
        f.render(&record(&cap), &mut out);
        assert_eq!(out, b"PO 100% service1\n");
    }

    #[test]
    fn rejects_unknown_and_unterminated_operators() {
        assert_eq!(
            AccessLogFormat::compile("%NOPE%"),
            Err(FormatError::UnknownOperator("NOPE".into()))
        );
        assert_eq!(
            AccessLogFormat::compile("abc %START_TIME"),
            Err(FormatError::Unterminated(4))
        );
        assert!(matches!(
            AccessLogFormat::compile("%REQ(:FOO)%"),
            Err(FormatError::BadArgument(_))
        ));
        assert!(matches!(
            AccessLogFormat::compile("%REQ(A):x%"),
            Err(FormatError::BadArgument(_))
        ));
    }

    #[test]
    fn flags_print_in_envoy_order() {
        let mut f = ResponseFlags::default();
        let mut out = Vec::new();
        f.write(&mut out);
        assert_eq!(out, b"-");
        f.set(ResponseFlags::NO_ROUTE);
        f.set(ResponseFlags::NO_HEALTHY_UPSTREAM);
        out.clear();
        f.write(&mut out);
        assert_eq!(out, b"UH,NR");
    }
}
