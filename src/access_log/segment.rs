//! One command operator of Envoy's format language: how it is parsed (once, at
//! config load) and how its value is written into a line.
//!
//! Invariants: `write` appends the value, or nothing and returns `false` when
//! the request has none (the caller prints `-` in text, `null` as a whole JSON
//! value); it never allocates. In a JSON string every byte that may come from a
//! client goes through the JSON escaper; numbers and addresses need none.

use std::{io::Write, net::SocketAddr};

use super::{
    format::{FormatError, LogRecord, ReqSource},
    json,
    time::TimeFormat,
};
use crate::{codec::Version, net::tls::TlsInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Literal(Vec<u8>),
    /// Envoy's default rendering, or a strftime format.
    StartTime(Option<Box<TimeFormat>>),
    /// Index into `AccessLogFormat::fields`, and an optional length cap.
    Req(usize, Option<usize>),
    UpstreamServiceTime,
    /// Index into `AccessLogFormat::resp_fields`, and an optional length cap.
    Resp(usize, Option<usize>),
    Protocol,
    ResponseCode,
    ResponseCodeDetails,
    ResponseFlags,
    BytesReceived,
    BytesSent,
    Duration,
    RequestDuration,
    ResponseDuration,
    /// From the upstream's response head to the end of the response.
    ResponseTxDuration,
    UpstreamHost,
    UpstreamHostWithoutPort,
    UpstreamPort,
    UpstreamLocalAddress,
    UpstreamLocalAddressWithoutPort,
    UpstreamLocalPort,
    UpstreamCluster,
    UpstreamTransportFailureReason,
    RemoteAddress,
    RemoteAddressWithoutPort,
    RemotePort,
    LocalAddress,
    LocalAddressWithoutPort,
    LocalPort,
    ConnectionId,
    RouteName,
    Hostname,
    TlsVersion,
    TlsCipher,
    RequestedServerName,
    PeerSubject,
}

/// Whether a value is a JSON number (Envoy types these) or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Number,
    Text,
}

/// The operators without an argument, one per line: Envoy's name → segment.
const PLAIN: &[(&str, Segment)] = &[
    ("START_TIME", Segment::StartTime(None)),
    ("PROTOCOL", Segment::Protocol),
    ("RESPONSE_CODE", Segment::ResponseCode),
    ("RESPONSE_CODE_DETAILS", Segment::ResponseCodeDetails),
    ("RESPONSE_FLAGS", Segment::ResponseFlags),
    ("BYTES_RECEIVED", Segment::BytesReceived),
    ("BYTES_SENT", Segment::BytesSent),
    ("DURATION", Segment::Duration),
    ("REQUEST_DURATION", Segment::RequestDuration),
    ("RESPONSE_DURATION", Segment::ResponseDuration),
    ("UPSTREAM_HOST", Segment::UpstreamHost),
    ("UPSTREAM_REMOTE_ADDRESS", Segment::UpstreamHost),
    (
        "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
        Segment::UpstreamHostWithoutPort,
    ),
    ("UPSTREAM_REMOTE_PORT", Segment::UpstreamPort),
    ("UPSTREAM_LOCAL_ADDRESS", Segment::UpstreamLocalAddress),
    (
        "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
        Segment::UpstreamLocalAddressWithoutPort,
    ),
    ("UPSTREAM_LOCAL_PORT", Segment::UpstreamLocalPort),
    ("RESPONSE_TX_DURATION", Segment::ResponseTxDuration),
    ("UPSTREAM_CLUSTER", Segment::UpstreamCluster),
    (
        "UPSTREAM_TRANSPORT_FAILURE_REASON",
        Segment::UpstreamTransportFailureReason,
    ),
    ("DOWNSTREAM_REMOTE_ADDRESS", Segment::RemoteAddress),
    (
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
        Segment::RemoteAddressWithoutPort,
    ),
    ("DOWNSTREAM_REMOTE_PORT", Segment::RemotePort),
    // ringway does not rewrite the remote address from x-forwarded-for, so
    // the direct peer is the remote address.
    ("DOWNSTREAM_DIRECT_REMOTE_ADDRESS", Segment::RemoteAddress),
    (
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT",
        Segment::RemoteAddressWithoutPort,
    ),
    ("DOWNSTREAM_LOCAL_ADDRESS", Segment::LocalAddress),
    (
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
        Segment::LocalAddressWithoutPort,
    ),
    ("DOWNSTREAM_LOCAL_PORT", Segment::LocalPort),
    ("CONNECTION_ID", Segment::ConnectionId),
    ("ROUTE_NAME", Segment::RouteName),
    ("HOSTNAME", Segment::Hostname),
    ("DOWNSTREAM_TLS_VERSION", Segment::TlsVersion),
    ("DOWNSTREAM_TLS_CIPHER", Segment::TlsCipher),
    ("REQUESTED_SERVER_NAME", Segment::RequestedServerName),
    ("DOWNSTREAM_PEER_SUBJECT", Segment::PeerSubject),
];

#[cfg(test)]
pub(super) const PLAIN_FOR_TESTS: &[(&str, Segment)] = PLAIN;

/// The names `%NAME%` may use, for error messages and the README.
pub fn operator_names() -> impl Iterator<Item = &'static str> {
    PLAIN
        .iter()
        .map(|(n, _)| *n)
        .chain(["REQ(H)", "RESP(H)", "START_TIME(FORMAT)"])
}

/// `NAME(ARG)` or `NAME(ARG):N` after the name: the argument and the length cap.
fn call(op: &str, rest: &str) -> Result<(String, Option<usize>), FormatError> {
    let bad = || FormatError::BadArgument(op.to_string());
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
}

impl Segment {
    /// Parse the operator `op` (the text between the `%`s).
    pub(super) fn parse(
        op: &str,
        fields: &mut Vec<Vec<ReqSource>>,
        resp_fields: &mut Vec<Vec<Vec<u8>>>,
    ) -> Result<Segment, FormatError> {
        let bad = || FormatError::BadArgument(op.to_string());
        if let Some(rest) = op.strip_prefix("REQ(") {
            let (arg, max) = call(op, rest)?;
            let mut alts = Vec::new();
            for alt in arg.split('?') {
                alts.push(match alt.to_ascii_lowercase().as_str() {
                    "" => return Err(bad()),
                    ":method" => ReqSource::Method,
                    ":path" => ReqSource::Path,
                    ":authority" | "host" => ReqSource::Authority,
                    ":scheme" => ReqSource::Scheme,
                    h if h.starts_with(':') => return Err(bad()),
                    h => ReqSource::Header(h.as_bytes().to_vec()),
                });
            }
            fields.push(alts);
            return Ok(Segment::Req(fields.len() - 1, max));
        }
        if let Some(rest) = op.strip_prefix("RESP(") {
            let (arg, max) = call(op, rest)?;
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
        if let Some(rest) = op.strip_prefix("START_TIME(") {
            let (arg, max) = call(op, rest)?;
            if max.is_some() {
                return Err(bad());
            }
            let f = TimeFormat::compile(&arg).map_err(|why| FormatError::BadTime {
                op: op.to_string(),
                why,
            })?;
            return Ok(Segment::StartTime(Some(Box::new(f))));
        }
        if op == "HOSTNAME" {
            // Read now, at config load, not on a worker's first line.
            let _ = super::hostname();
        }
        match PLAIN.iter().find(|(name, _)| *name == op) {
            Some((_, seg)) => Ok(seg.clone()),
            None => Err(FormatError::UnknownOperator(op.to_string())),
        }
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Segment::ResponseCode
            | Segment::BytesReceived
            | Segment::BytesSent
            | Segment::Duration
            | Segment::RequestDuration
            | Segment::ResponseDuration
            | Segment::ResponseTxDuration
            | Segment::ConnectionId
            | Segment::LocalPort
            | Segment::RemotePort
            | Segment::UpstreamPort
            | Segment::UpstreamLocalPort => Kind::Number,
            _ => Kind::Text,
        }
    }

    /// Append this segment's value; `false` (and nothing written) when there is
    /// none. `esc`: inside a JSON string.
    pub(super) fn write(&self, r: &LogRecord<'_>, out: &mut Vec<u8>, esc: bool) -> bool {
        if let Some(n) = self.number(r) {
            return opt_dec(out, n);
        }
        if let Some((a, with_port)) = self.address(r) {
            return addr(out, a, with_port);
        }
        let put = |out: &mut Vec<u8>, v: &[u8]| {
            if esc {
                json::escape_into(out, v)
            } else {
                out.extend_from_slice(v)
            }
        };
        let text = |out: &mut Vec<u8>, v: Option<&[u8]>| match v {
            Some(v) => {
                put(out, v);
                true
            }
            None => false,
        };
        match self {
            Segment::Literal(l) => put(out, l),
            Segment::StartTime(None) => super::write_iso8601(out, r.start_nanos / 1_000_000),
            Segment::StartTime(Some(f)) => start_time(f, r.start_nanos, out, esc),
            Segment::Req(i, max) => return text(out, cap(r.request.get(*i), *max)),
            Segment::Resp(i, max) => return text(out, cap(r.response.get(*i), *max)),
            Segment::Protocol => {
                let name = r.protocol.map(|v| match v {
                    Version::Http11 => "HTTP/1.1",
                    Version::Http10 => "HTTP/1.0",
                    Version::Http2 => "HTTP/2",
                });
                return text(out, s(name));
            }
            Segment::ResponseCodeDetails => return r.details.write(out, r.transport_failure),
            Segment::ResponseFlags => r.flags.write(out),
            Segment::UpstreamCluster => return text(out, s(r.upstream_cluster)),
            Segment::UpstreamTransportFailureReason => return text(out, s(r.transport_failure)),
            Segment::Hostname => return text(out, s(super::hostname())),
            Segment::RouteName => return text(out, s(r.route_name)),
            Segment::TlsVersion => return text(out, s(r.tls.and_then(TlsInfo::version_name))),
            Segment::TlsCipher => return text(out, s(r.tls.and_then(TlsInfo::cipher_name))),
            Segment::RequestedServerName => {
                return text(out, s(r.tls.and_then(|t| t.sni.as_deref())))
            }
            Segment::PeerSubject => {
                return text(out, s(r.tls.and_then(|t| t.peer_subject.as_deref())))
            }
            // Numbers and addresses were written above.
            _ => return false,
        }
        true
    }

    /// The value of a segment that prints digits: `Some(None)` when missing.
    fn number(&self, r: &LogRecord<'_>) -> Option<Option<u64>> {
        let port = |a: Option<SocketAddr>| a.map(|a| u64::from(a.port()));
        Some(match self {
            Segment::UpstreamServiceTime => r.service_time_ms,
            Segment::ResponseCode => Some(u64::from(r.status)),
            Segment::BytesReceived => Some(r.bytes_received),
            Segment::BytesSent => Some(r.bytes_sent),
            Segment::Duration => Some(r.duration_ms),
            Segment::RequestDuration => r.request_duration_ms,
            Segment::ResponseDuration => r.response_duration_ms,
            Segment::ResponseTxDuration => r
                .response_duration_ms
                .map(|rs| r.duration_ms.saturating_sub(rs)),
            Segment::UpstreamPort => port(r.upstream_host),
            Segment::RemotePort => port(Some(r.peer)),
            Segment::LocalPort => port(r.local),
            Segment::UpstreamLocalPort => port(r.upstream_local),
            Segment::ConnectionId => Some(r.connection_id),
            _ => return None,
        })
    }

    /// The address a segment prints, and whether with its port.
    fn address(&self, r: &LogRecord<'_>) -> Option<(Option<SocketAddr>, bool)> {
        Some(match self {
            Segment::UpstreamHost => (r.upstream_host, true),
            Segment::UpstreamHostWithoutPort => (r.upstream_host, false),
            Segment::RemoteAddress => (Some(r.peer), true),
            Segment::RemoteAddressWithoutPort => (Some(r.peer), false),
            Segment::LocalAddress => (r.local, true),
            Segment::LocalAddressWithoutPort => (r.local, false),
            Segment::UpstreamLocalAddress => (r.upstream_local, true),
            Segment::UpstreamLocalAddressWithoutPort => (r.upstream_local, false),
            _ => return None,
        })
    }
}

/// `v`, cut to at most `max` bytes (`%REQ(H):N%`).
fn cap(v: Option<&[u8]>, max: Option<usize>) -> Option<&[u8]> {
    v.map(|v| &v[..max.map_or(v.len(), |m| m.min(v.len()))])
}

fn s(v: Option<&str>) -> Option<&[u8]> {
    v.map(str::as_bytes)
}

/// `%START_TIME(FORMAT)%`; in a JSON string the format's own text is escaped
/// too (it may hold a quote or backslash).
fn start_time(f: &TimeFormat, nanos: u64, out: &mut Vec<u8>, esc: bool) {
    let from = out.len();
    f.render(out, nanos);
    if esc
        && out[from..]
            .iter()
            .any(|&b| b == b'"' || b == b'\\' || b < 0x20)
    {
        escape_tail(out, from);
    }
}

/// JSON-escape `out[from..]` in place (rare: a time format with a quote).
fn escape_tail(out: &mut Vec<u8>, from: usize) {
    let raw_len = out.len() - from;
    // Escape each byte after the rendered text, then move the result back.
    for i in 0..raw_len {
        let b = out[from + i];
        json::escape_into(out, &[b]);
    }
    out.drain(from..from + raw_len);
}

fn opt_dec(out: &mut Vec<u8>, n: Option<u64>) -> bool {
    match n {
        Some(n) => {
            crate::codec::encode::write_dec(out, n);
            true
        }
        None => false,
    }
}

fn addr(out: &mut Vec<u8>, a: Option<SocketAddr>, with_port: bool) -> bool {
    match a {
        Some(a) if with_port => {
            let _ = write!(out, "{a}");
            true
        }
        Some(a) => {
            let _ = write!(out, "{}", a.ip());
            true
        }
        None => false,
    }
}
