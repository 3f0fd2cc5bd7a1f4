//! Envoy's access log format language, compiled once: a text format into a
//! list of segments, a `json_format` object into a tree of pre-escaped keys
//! and segment values (`json.rs`). The operators themselves are in
//! `segment.rs`. A missing value prints `-` in text and `null` as a whole
//! JSON value, as in Envoy; numbers Envoy types (`RESPONSE_CODE`, `BYTES_*`,
//! `*DURATION`, `CONNECTION_ID`) are JSON numbers. An unknown operator is a
//! config error.

use std::net::SocketAddr;

use super::{
    json,
    segment::{Kind, Segment},
};
use crate::{codec::Version, net::tls::TlsInfo};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown command operator `%{0}%`; ringway knows {known}", known = super::segment::operator_names().collect::<Vec<_>>().join(", "))]
    UnknownOperator(String),
    #[error("unterminated `%` at byte {0}")]
    Unterminated(usize),
    #[error("bad operator argument in `%{0}%`")]
    BadArgument(String),
    #[error("bad time format in `%{op}%`: {why}")]
    BadTime { op: String, why: String },
    /// In a JSON format, at this key path (`a.b`).
    #[error("at key `{0}`: {1}")]
    InKey(String, Box<FormatError>),
    #[error("{0}")]
    BadJson(String),
}

/// Where a `%REQ(..)%` value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReqSource {
    Method,
    Path,
    Authority,
    /// `http` or `https`, from the connection.
    Scheme,
    /// A header name, lowercased.
    Header(Vec<u8>),
}

/// A compiled format.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogFormat {
    body: Body,
    /// The request fields to capture when a request starts: each a list of
    /// alternatives (`A?B`).
    pub fields: Vec<Vec<ReqSource>>,
    /// The response headers to capture when a response head arrives
    /// (lower-cased names; `A?B` alternatives).
    pub resp_fields: Vec<Vec<Vec<u8>>>,
    /// What it was compiled from: what a config dump prints.
    source: FormatSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Text(Vec<Segment>),
    Json(JsonNode),
}

/// A format as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatSource {
    Text(String),
    /// The `json_format` object, keys in config order.
    Json(serde_yaml::Mapping),
}

/// One value of a JSON format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JsonNode {
    /// Each entry: `"key":` already escaped, and its value.
    Object(Vec<(Vec<u8>, JsonNode)>),
    /// A value that is exactly one operator: typed, `null` when missing.
    One(Segment),
    /// A string mixing text and operators.
    Text(Vec<Segment>),
    /// A constant, already JSON.
    Raw(Vec<u8>),
}

/// Envoy's `%RESPONSE_CODE_DETAILS%`: why the response is what it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseDetails {
    /// Nothing decided (no response).
    #[default]
    None,
    /// One of Envoy's fixed detail strings (`via_upstream`, `route_not_found`, …).
    Fixed(&'static str),
    /// `upstream_reset_before_response_started{REASON}`, with the transport
    /// failure reason appended (`{REASON,TRANSPORT}`) when there is one.
    UpstreamReset(&'static str),
}

impl ResponseDetails {
    pub fn write(self, out: &mut Vec<u8>, transport: Option<&str>) -> bool {
        match self {
            ResponseDetails::None => return false,
            ResponseDetails::Fixed(s) => out.extend_from_slice(s.as_bytes()),
            ResponseDetails::UpstreamReset(reason) => {
                out.extend_from_slice(b"upstream_reset_before_response_started{");
                out.extend_from_slice(reason.as_bytes());
                if let Some(t) = transport {
                    out.push(b',');
                    out.extend_from_slice(t.as_bytes());
                }
                out.push(b'}');
            }
        }
        true
    }
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
    /// Envoy's `SI`: the stream's idle timeout ended it.
    pub const STREAM_IDLE_TIMEOUT: u16 = 1 << 10;
    /// Envoy's `DT`: the stream ran past its maximum duration.
    pub const DURATION_TIMEOUT: u16 = 1 << 11;
    const CODES: [(u16, &'static str); 12] = [
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
        (Self::STREAM_IDLE_TIMEOUT, "SI"),
        (Self::DURATION_TIMEOUT, "DT"),
    ];

    /// The flag Envoy prints as `code` (`UH`, `NR`, …), if ringway raises it.
    pub fn from_code(code: &str) -> Option<u16> {
        Self::CODES
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(bit, _)| *bit)
    }

    /// The codes ringway raises, in Envoy's order.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        Self::CODES.iter().map(|(_, c)| *c)
    }

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
    pub(super) fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans
            .get(i)
            .copied()
            .flatten()
            .map(|(a, b)| &self.bytes[a..b])
    }
}

/// Everything one line can print.
pub struct LogRecord<'a> {
    /// When the request started, in nanoseconds since the epoch.
    pub start_nanos: u64,
    pub protocol: Option<Version>,
    pub status: u16,
    pub details: ResponseDetails,
    pub flags: ResponseFlags,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: u64,
    /// Until the request's last byte arrived.
    pub request_duration_ms: Option<u64>,
    /// Until the upstream's response head arrived.
    pub response_duration_ms: Option<u64>,
    pub service_time_ms: Option<u64>,
    pub upstream_host: Option<SocketAddr>,
    /// The upstream connection's own address (when the format asks).
    pub upstream_local: Option<SocketAddr>,
    pub upstream_cluster: Option<&'a str>,
    /// Envoy's words for a failed upstream connection (`delayed_connect_error:_111`).
    pub transport_failure: Option<&'static str>,
    pub peer: SocketAddr,
    /// The address the connection was accepted on (when the format asks).
    pub local: Option<SocketAddr>,
    pub connection_id: u64,
    /// The matched route's `name`.
    pub route_name: Option<&'a str>,
    /// The request was the listener's health check.
    pub health_check: bool,
    pub request: &'a RequestCapture,
    /// The response headers `%RESP(..)%` asked for (empty for ringway's own replies).
    pub response: &'a RequestCapture,
    /// The connection's TLS session, if it is TLS.
    pub tls: Option<&'a TlsInfo>,
}

impl AccessLogFormat {
    /// What this was compiled from.
    pub fn source(&self) -> &FormatSource {
        &self.source
    }

    /// Whether a line needs the upstream connection's local address.
    pub fn wants_upstream_local_address(&self) -> bool {
        let local = |s: &Segment| {
            matches!(
                s,
                Segment::UpstreamLocalAddress
                    | Segment::UpstreamLocalAddressWithoutPort
                    | Segment::UpstreamLocalPort
            )
        };
        match &self.body {
            Body::Text(segs) => segs.iter().any(local),
            Body::Json(node) => node.any(&local),
        }
    }

    /// Whether a line needs the connection's local address.
    pub fn wants_local_address(&self) -> bool {
        let local = |s: &Segment| {
            matches!(
                s,
                Segment::LocalAddress | Segment::LocalAddressWithoutPort | Segment::LocalPort
            )
        };
        match &self.body {
            Body::Text(segs) => segs.iter().any(local),
            Body::Json(node) => node.any(&local),
        }
    }

    /// Compile a text format.
    pub fn compile(text: &str) -> Result<AccessLogFormat, FormatError> {
        let (mut fields, mut resp_fields) = (Vec::new(), Vec::new());
        let segments = template(text, &mut fields, &mut resp_fields)?;
        Ok(AccessLogFormat {
            body: Body::Text(segments),
            fields,
            resp_fields,
            source: FormatSource::Text(text.to_string()),
        })
    }

    /// Compile a `json_format` object (keys in order; nested objects allowed).
    pub fn compile_json(map: &serde_yaml::Mapping) -> Result<AccessLogFormat, FormatError> {
        let (mut fields, mut resp_fields) = (Vec::new(), Vec::new());
        let node = json_object(map, "", &mut fields, &mut resp_fields)?;
        Ok(AccessLogFormat {
            body: Body::Json(node),
            fields,
            resp_fields,
            source: FormatSource::Json(map.clone()),
        })
    }

    /// Append one rendered line to `out`; a line always ends in `\n`.
    pub fn render(&self, r: &LogRecord<'_>, out: &mut Vec<u8>) {
        match &self.body {
            Body::Text(segs) => render_text(segs, r, out, false),
            Body::Json(node) => node.render(r, out),
        }
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
}

fn render_text(segs: &[Segment], r: &LogRecord<'_>, out: &mut Vec<u8>, esc: bool) {
    for seg in segs {
        if !seg.write(r, out, esc) {
            out.push(b'-');
        }
    }
}

impl JsonNode {
    fn render(&self, r: &LogRecord<'_>, out: &mut Vec<u8>) {
        match self {
            JsonNode::Object(entries) => {
                out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(key);
                    value.render(r, out);
                }
                out.push(b'}');
            }
            JsonNode::One(seg) if seg.kind() == Kind::Number => {
                if !seg.write(r, out, false) {
                    out.extend_from_slice(b"null");
                }
            }
            JsonNode::One(seg) => {
                let at = out.len();
                out.push(b'"');
                if seg.write(r, out, true) {
                    out.push(b'"');
                } else {
                    out.truncate(at);
                    out.extend_from_slice(b"null");
                }
            }
            JsonNode::Text(segs) => {
                out.push(b'"');
                render_text(segs, r, out, true);
                out.push(b'"');
            }
            JsonNode::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }

    fn any(&self, f: &impl Fn(&Segment) -> bool) -> bool {
        match self {
            JsonNode::Object(entries) => entries.iter().any(|(_, v)| v.any(f)),
            JsonNode::One(s) => f(s),
            JsonNode::Text(segs) => segs.iter().any(f),
            JsonNode::Raw(_) => false,
        }
    }
}

/// A `json_format` mapping; `at` is its key path, for errors.
fn json_object(
    map: &serde_yaml::Mapping,
    at: &str,
    fields: &mut Vec<Vec<ReqSource>>,
    resp_fields: &mut Vec<Vec<Vec<u8>>>,
) -> Result<JsonNode, FormatError> {
    use serde_yaml::Value;
    let mut entries = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_str() else {
            return Err(FormatError::BadJson(format!(
                "a key of `{at}` is not a string"
            )));
        };
        let path = if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        };
        let in_key = |e: FormatError| match e {
            e @ FormatError::InKey(..) => e,
            e => FormatError::InKey(path.clone(), Box::new(e)),
        };
        let node = match v {
            Value::Mapping(m) => json_object(m, &path, fields, resp_fields).map_err(in_key)?,
            Value::String(s) => json_string(s, fields, resp_fields).map_err(in_key)?,
            Value::Bool(b) => JsonNode::Raw(b.to_string().into_bytes()),
            Value::Null => JsonNode::Raw(b"null".to_vec()),
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {
                JsonNode::Raw(n.to_string().into_bytes())
            }
            _ => {
                return Err(in_key(FormatError::BadJson(
                    "a value must be a string, number, boolean or object (lists are not supported, as in Envoy)".into(),
                )))
            }
        };
        let mut quoted = Vec::new();
        json::quoted(&mut quoted, key.as_bytes());
        quoted.push(b':');
        entries.push((quoted, node));
    }
    Ok(JsonNode::Object(entries))
}

fn json_string(
    text: &str,
    fields: &mut Vec<Vec<ReqSource>>,
    resp_fields: &mut Vec<Vec<Vec<u8>>>,
) -> Result<JsonNode, FormatError> {
    let mut segs = template(text, fields, resp_fields)?;
    Ok(match segs.as_slice() {
        [] => JsonNode::Raw(b"\"\"".to_vec()),
        [Segment::Literal(l)] => {
            let mut raw = Vec::new();
            json::quoted(&mut raw, l);
            JsonNode::Raw(raw)
        }
        [_] => JsonNode::One(segs.remove(0)),
        _ => JsonNode::Text(segs),
    })
}

/// Split a format string into literals and operators. An operator is
/// `%NAME%`, `%NAME(ARG)%` or `%NAME(ARG):N%` (the argument may hold `%`, as
/// `START_TIME`'s does, but not `)`); `%%` is a literal `%`.
fn template(
    text: &str,
    fields: &mut Vec<Vec<ReqSource>>,
    resp_fields: &mut Vec<Vec<Vec<u8>>>,
) -> Result<Vec<Segment>, FormatError> {
    let mut segments = Vec::new();
    let mut literal = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            literal.push(bytes[i]);
            i += 1;
            continue;
        }
        let end = operator_end(bytes, i).ok_or(FormatError::Unterminated(i))?;
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
        segments.push(Segment::parse(op, fields, resp_fields)?);
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// The index of the `%` closing the operator opened at `start`.
fn operator_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut j = start + 1;
    while j < bytes.len()
        && (bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
    {
        j += 1;
    }
    if bytes.get(j) == Some(&b'(') {
        j += bytes[j..].iter().position(|&b| b == b')')?;
    }
    j += bytes[j..].iter().position(|&b| b == b'%')?;
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(cap: &'a RequestCapture) -> LogRecord<'a> {
        LogRecord {
            start_nanos: 1_709_251_198_007_006_005,
            protocol: Some(Version::Http11),
            status: 503,
            details: ResponseDetails::UpstreamReset("remote_connection_failure"),
            flags: ResponseFlags(ResponseFlags::UPSTREAM_CONNECT_FAILURE),
            bytes_received: 0,
            bytes_sent: 91,
            duration_ms: 3,
            request_duration_ms: Some(1),
            response_duration_ms: None,
            service_time_ms: None,
            upstream_host: Some("127.0.0.2:80".parse().unwrap()),
            upstream_cluster: Some("service1"),
            transport_failure: Some("delayed_connect_error:_111"),
            peer: "127.0.0.1:5555".parse().unwrap(),
            local: Some("127.0.0.1:8000".parse().unwrap()),
            upstream_local: Some("127.0.0.1:40000".parse().unwrap()),
            connection_id: 42,
            route_name: Some("r1"),
            health_check: false,
            request: cap,
            response: cap,
            tls: None,
        }
    }

    fn line(f: &AccessLogFormat, cap: &RequestCapture) -> String {
        let mut out = Vec::new();
        f.render(&record(cap), &mut out);
        String::from_utf8(out).unwrap()
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
        assert_eq!(
            line(&f, &cap),
            "[2024-02-29T23:59:58.007Z] \"GET /service/1?x=1 HTTP/1.1\" 503 UF 0 91 3 - \"-\" \"curl/8\" \"-\" \"localhost:8000\" \"127.0.0.2:80\"\n"
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
        assert_eq!(line(&f, &cap), "PO 100% service1\n");
    }

    #[test]
    fn every_plain_operator_renders() {
        let cap = RequestCapture::default();
        let cases = [
            ("RESPONSE_CODE_DETAILS", "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"),
            ("UPSTREAM_TRANSPORT_FAILURE_REASON", "delayed_connect_error:_111"),
            ("DOWNSTREAM_LOCAL_ADDRESS", "127.0.0.1:8000"),
            ("DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "127.0.0.1"),
            ("DOWNSTREAM_LOCAL_PORT", "8000"),
            ("DOWNSTREAM_REMOTE_ADDRESS", "127.0.0.1:5555"),
            ("DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "127.0.0.1"),
            ("UPSTREAM_REMOTE_ADDRESS", "127.0.0.2:80"),
            ("UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "127.0.0.2"),
            ("UPSTREAM_REMOTE_PORT", "80"),
            ("UPSTREAM_LOCAL_ADDRESS", "127.0.0.1:40000"),
            ("UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "127.0.0.1"),
            ("UPSTREAM_LOCAL_PORT", "40000"),
            ("DOWNSTREAM_REMOTE_PORT", "5555"),
            ("RESPONSE_TX_DURATION", "-"),
            ("REQUEST_DURATION", "1"),
            ("RESPONSE_DURATION", "-"),
            ("CONNECTION_ID", "42"),
            ("ROUTE_NAME", "r1"),
            ("BYTES_SENT", "91"),
            ("DURATION", "3"),
            ("PROTOCOL", "HTTP/1.1"),
            ("DOWNSTREAM_TLS_VERSION", "-"),
        ];
        for (op, want) in cases {
            let f = AccessLogFormat::compile(&format!("%{op}%")).unwrap();
            assert_eq!(line(&f, &cap), format!("{want}\n"), "{op}");
        }
        for (op, _) in super::super::segment::PLAIN_FOR_TESTS {
            let f = AccessLogFormat::compile(&format!("[%{op}%]")).unwrap();
            assert!(line(&f, &cap).starts_with('['), "{op}");
        }
        let f = AccessLogFormat::compile("%HOSTNAME%").unwrap();
        assert_eq!(
            line(&f, &cap).trim_end(),
            super::super::hostname().unwrap_or("-")
        );
    }

    #[test]
    fn start_time_takes_a_format_with_percent_signs() {
        let cap = RequestCapture::default();
        let f = AccessLogFormat::compile("%START_TIME(%Y/%m/%d %H:%M:%S.%3f)% %START_TIME(%s)%|")
            .unwrap();
        assert_eq!(line(&f, &cap), "2024/02/29 23:59:58.007 1709251198|\n");
        assert!(matches!(
            AccessLogFormat::compile("%START_TIME(%Q)%"),
            Err(FormatError::BadTime { .. })
        ));
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
        assert!(matches!(
            AccessLogFormat::compile("%UPSTREAM_LOCAL_ADDR%"),
            Err(FormatError::UnknownOperator(_))
        ));
    }

    fn json(yaml: &str) -> Result<AccessLogFormat, FormatError> {
        let map: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        AccessLogFormat::compile_json(&map)
    }

    #[test]
    fn json_lines_are_typed_ordered_and_escaped() {
        let f = json(
            "{ z_status: \"%RESPONSE_CODE%\", method: \"%REQ(:METHOD)%\", ua: \"%REQ(USER-AGENT)%\", \
             line: \"%REQ(:METHOD)% %REQ(X-NONE)% 100%%\", up: { host: \"%UPSTREAM_HOST%\", ms: \"%RESPONSE_DURATION%\" }, \
             fixed: 7, on: true, nothing: null, text: plain, bytes: \"%BYTES_SENT%\" }",
        )
        .unwrap();
        let mut cap = RequestCapture::default();
        cap.push(Some(b"GET"));
        cap.push(Some(b"a\"b\\c\n\x01\xff"));
        cap.push(Some(b"GET"));
        cap.push(None);
        let text = line(&f, &cap);
        assert!(
            text.ends_with("}\n") && text.matches('\n').count() == 1,
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["z_status"], 503);
        assert_eq!(v["method"], "GET");
        assert_eq!(v["ua"], "a\"b\\c\n\u{1}\u{ff}");
        assert_eq!(v["line"], "GET - 100%");
        assert_eq!(v["up"]["host"], "127.0.0.2:80");
        assert_eq!(v["up"]["ms"], serde_json::Value::Null);
        assert_eq!(
            (v["fixed"].clone(), v["on"].clone()),
            (7.into(), true.into())
        );
        assert_eq!(v["nothing"], serde_json::Value::Null);
        assert_eq!(v["text"], "plain");
        assert_eq!(v["bytes"], 91);
        // Keys in config order.
        let keys: Vec<usize> = ["z_status", "method", "ua", "line", "up", "fixed"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn json_errors_name_the_key() {
        let e = json("{ a: { b: \"%NOPE%\" } }").unwrap_err();
        assert!(
            matches!(&e, FormatError::InKey(k, _) if k == "a.b"),
            "{e:?}"
        );
        let e = json("{ list: [1, 2] }").unwrap_err();
        assert!(e.to_string().contains("lists"), "{e}");
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
        assert_eq!(
            ResponseFlags::from_code("UF"),
            Some(ResponseFlags::UPSTREAM_CONNECT_FAILURE)
        );
        assert_eq!(ResponseFlags::from_code("URX"), None);
    }
}
