//! The native YAML schema, exactly as serde reads it. Every struct rejects unknown
//! fields; units are typed here (`ConfigDuration`, `ByteSize`) so a bad value is
//! reported with its path and line. `validate.rs` turns these into `Config`.

use serde::{Deserialize, Serialize};

use super::units::{ByteSize, ConfigDuration};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `auto` (one per core) or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<RawWorkers>,
    /// `auto` (io_uring, else epoll), `uring` or `epoll`. The CLI flag wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_driver: Option<String>,
    /// How long SIGTERM waits for in-flight requests before closing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<RawAdmin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<RawDns>,
    /// Open client connections allowed on all listeners together (Envoy's
    /// `overload.global_downstream_max_connections`). Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// How the admin names stats (`naming: ringway | envoy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RawStats>,
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    #[serde(default)]
    pub clusters: Vec<RawCluster>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged, expecting = "expected `auto` or a number from 1 to 1024")]
pub enum RawWorkers {
    Count(usize),
    Named(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStats {
    /// `ringway` (the default for native configs) or `envoy` (the default for
    /// Envoy-form configs): the names and tags of `/stats/prometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// `ip:port` of the name servers; default: `/etc/resolv.conf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Envoy's `stat_prefix`: the connection manager's stats scope under Envoy
    /// naming (`http.<stat_prefix>.`, `envoy_http_conn_manager_prefix`);
    /// listeners sharing one are counted together there. Default: the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat_prefix: Option<String>,
    pub address: String,
    /// `auto` (default: HTTP/2 by preface or ALPN, else HTTP/1.1), `http1` or `http2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    #[serde(default)]
    pub virtual_hosts: Vec<RawVirtualHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers_timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<ConfigDuration>,
    /// A client connection older than this is closed after its current request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_headers_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_headers_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uri_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_size: Option<ByteSize>,
    /// Request bodies up to this size are read whole before an upstream is
    /// chosen (larger ones: this much of them). `0` streams every body at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_buffer: Option<ByteSize>,
    /// The buffered part of a request body must arrive within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_timeout: Option<ConfigDuration>,
    /// Requests one client address may have in flight upstream at once (each
    /// worker enforces its share, rounded up); over it: 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upstream_requests_per_client: Option<u32>,
    /// Bytes per second a request body must average once `request_body_timeout`
    /// has passed (each second of the body's deadline is earned by this many bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_min_rate: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<RawAccessLog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<RawListenerHealthCheck>,
    /// Terminate TLS on this listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawListenerTls>,
    /// Open client connections allowed on this listener (all workers together);
    /// connections over it are closed at accept. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Not counted against the top-level `max_connections` (Envoy's
    /// `ignore_global_conn_limit`). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_global_connection_limit: Option<bool>,
    /// Who the client is, as the upstream hears it (x-forwarded-for,
    /// x-forwarded-proto, the external-address header, x-request-id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<RawForwarding>,
    /// `allow` (default), `reject_request` (400) or `drop_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_with_underscores: Option<String>,
    /// A client connection closes after this many requests. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u64>,
    /// The whole request (head and body) must arrive within this of its
    /// start, else 408. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<ConfigDuration>,
    /// Each wait for more body bytes (from the client, or from the upstream
    /// once its response head is in) ends after this: 408 if the response has
    /// not started, else the connection closes. Default 60s; 0s disables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<ConfigDuration>,
    /// A request and its response together last at most this: 408 if the
    /// response has not started, else the connection closes. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stream_duration: Option<ConfigDuration>,
    /// Header mutations for every route of this listener (Envoy's route-config level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_remove: Vec<String>,
}

/// A listener's forwarding policy; every field defaults to ringway's edge
/// behaviour (see README "Client address and request id").
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwarding {
    /// Default true: the peer is the client; it is appended to x-forwarded-for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_remote_address: Option<bool>,
    /// Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xff_num_trusted_hops: Option<u32>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_xff_append: Option<bool>,
    /// CIDR ranges whose peers are internal (not edge requests). Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_addresses: Vec<String>,
    /// Header written with the client's address on edge requests. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_address_header: Option<String>,
    /// Default true: x-request-id is generated when the client sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_request_id: Option<bool>,
    /// Default true: an edge request keeps its own x-request-id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_external_request_id: Option<bool>,
    /// Default false: `x-envoy-internal` on internal requests; Envoy's
    /// internal-only `x-envoy-*` request headers dropped from external ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_internal_headers: Option<bool>,
}

/// PEM from a file (`/etc/ringway/cert.pem`) or inline (`{ inline: "-----BEGIN…" }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawPem {
    Path(String),
    Inline(RawInlinePem),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInlinePem {
    pub inline: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    pub cert_chain: RawPem,
    pub private_key: RawPem,
}

/// `"1.2"`, or `1.2` written as a YAML number.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawTlsVersion {
    Text(String),
    Number(f64),
}

impl RawTlsVersion {
    pub fn text(&self) -> String {
        match self {
            RawTlsVersion::Text(t) => t.clone(),
            RawTlsVersion::Number(n) => format!("{n:.1}"),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerTls {
    /// At least one; the first is the default (no SNI, or no name matched).
    pub certificates: Vec<RawCertificate>,
    /// Default `[http/1.1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<RawTlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<RawTlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suites: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curves: Option<Vec<String>>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_tickets: Option<bool>,
    /// CA bundle that client certificates must chain to (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<RawPem>,
    /// Default false: with `client_ca`, a client without a certificate is let in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_client_certificate: Option<bool>,
    /// Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout: Option<ConfigDuration>,
    /// Per worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_handshakes: Option<u32>,
}

/// `verify: system`, `verify: none`, or `verify: { ca: PATH }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawVerify {
    Named(String),
    Ca(RawVerifyCa),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerifyCa {
    pub ca: RawPem,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClusterTls {
    /// Sent as SNI and verified; absent: no SNI (as in Envoy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    pub verify: RawVerify,
    /// Default: none offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<RawCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<RawTlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<RawTlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suites: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curves: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    /// A file, or `/dev/stdout`.
    pub path: String,
    /// Envoy command operators; Envoy's default format when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// One JSON object per line: keys in this order, values in Envoy's format
    /// language (nested objects allowed). Instead of `format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_format: Option<serde_yaml::Mapping>,
    /// Which requests are logged (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<RawLogFilter>,
}

/// One access log filter: exactly one of its keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogFilter {
    /// `{ op: eq|ge|le, value: 400 }`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<RawCompare<u16>>,
    /// `{ op: eq|ge|le, value: 1s }`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<RawCompare<ConfigDuration>>,
    /// `true`: leave out the listener's health check requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_health_check: Option<bool>,
    /// Requests with any of these response flags (`[]`: any flag at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_flags: Option<Vec<String>>,
    /// This percentage of requests, chosen at random (0 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<RawLogFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<RawLogFilter>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare<T> {
    pub op: String,
    pub value: T,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerHealthCheck {
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVirtualHost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub domains: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_remove: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// What the access log's `%ROUTE_NAME%` prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    /// Exactly one of `cluster`, `weighted_clusters`, `redirect` and `direct_response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `[{ cluster, weight }]`: each request goes to one, drawn by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_clusters: Vec<RawWeightedCluster>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<RawRedirect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<RawDirectResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
    /// `{ pattern, substitution }`: every match in the path replaced (`\1` is a group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_rewrite: Option<RawRegexRewrite>,
    /// Until the whole response arrives from upstream; 0s disables. Default 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    /// Replaces the listener's `max_stream_duration` for this route; 0s
    /// disables it here (Envoy's route `max_stream_duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stream_duration: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RawRetryPolicy>,
    /// Sent as `Host` upstream instead of the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    /// `Host` upstream is the DNS name of the host chosen (DNS clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_host_rewrite: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_remove: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegexRewrite {
    pub pattern: String,
    pub substitution: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedCluster {
    pub cluster: String,
    pub weight: u32,
    /// Overrides the route's for requests sent to this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    /// Run before the route's mutations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers_to_remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_add: Vec<RawHeaderAdd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers_to_remove: Vec<String>,
}

/// One header a route, virtual host or listener adds.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderAdd {
    pub name: String,
    /// May use `%DOWNSTREAM_REMOTE_ADDRESS%` and the other operators.
    pub value: String,
    /// `append_if_exists_or_add` (default), `add_if_absent`,
    /// `overwrite_if_exists_or_add`, `overwrite_if_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_empty_value: Option<bool>,
}

/// A redirect answered by ringway: every part not given is the request's own.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    /// `http`, `https` (or another URI scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Replaces the whole path (a query in it replaces the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Replaces the matched prefix; with a `prefix` match only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_query: Option<bool>,
    /// 301 (default), 302, 303, 307 or 308.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A fixed answer: a status and an optional body (inline or from a file).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Read at load (and reload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetryPolicy {
    /// Comma-separated: 5xx, gateway-error, connect-failure, reset, retriable-status-codes.
    pub retry_on: String,
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<u32>,
    /// Bounds each attempt's wait for a response head; default: the route timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retriable_status_codes: Vec<u16>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// Exactly one of `prefix`, `path`, `path_separated_prefix`, `safe_regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_separated_prefix: Option<String>,
    /// Must match the whole path (without the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<String>,
    /// Default true; not for `safe_regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<RawHeaderMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_parameters: Vec<RawQueryMatch>,
}

/// A string test (Envoy's `StringMatcher`), at most one of the five, as
/// written inline in a header or query parameter test.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawStringMatch<'a> {
    pub exact: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub suffix: Option<&'a str>,
    pub contains: Option<&'a str>,
    pub safe_regex: Option<&'a str>,
    pub ignore_case: Option<bool>,
}

/// A request header test: `present`, `range`, or a string test on its value
/// (none of them: present).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_case: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// `{ start, end }`: the value as a number in `[start, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RawRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invert_match: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_header_as_empty: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    pub start: i64,
    pub end: i64,
}

/// A query parameter test: `present`, or a string test on its first value.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueryMatch {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_case: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub name: String,
    /// `static` (default), `strict_dns` or `logical_dns`, any case.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<ConfigDuration>,
    /// `ip:port` for static clusters, `name:port` for DNS clusters; either
    /// written alone or as `{ address: "ip:port", weight: 3 }`.
    pub hosts: Vec<RawHost>,
    /// Idle pooled upstream connections are closed after this. Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<ConfigDuration>,
    /// Idle connections kept per host per worker. Default 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_idle_per_host: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_refresh_rate: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_failure_refresh_rate: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respect_dns_ttl: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_lookup_family: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_resolvers: Vec<String>,
    /// What `ring_hash` and `maglev` hash: the first policy that yields a key wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hash_policy: Vec<RawHashPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breakers: Option<RawCircuitBreakers>,
    /// Passive ejection; absent means off, an empty block means Envoy's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<RawOutlierDetection>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<RawHealthCheck>,
    /// Drop a host that left DNS at once, even if it still passes health checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_health_on_host_removal: Option<bool>,
    /// Speak TLS to this cluster's hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawClusterTls>,
    /// `http1` (default), `http2` or `auto` (ALPN over TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// HTTP/2 settings (with `protocol: http2` or `auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<RawUpstreamHttp2>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamHttp2 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_stream_window_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_connection_window_size: Option<u32>,
    /// PING keepalives on each connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<RawH2Keepalive>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawH2Keepalive {
    /// A PING every this long (above 0; required unless `idle_interval` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<ConfigDuration>,
    /// Close the connection when nothing arrives this long after a PING
    /// (required, above 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    /// Up to this percentage of `interval` is added at random (0 to 100;
    /// default 15, as Envoy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_jitter_percent: Option<f64>,
    /// A PING before a new stream on a connection that has received nothing
    /// this long; the stream waits for its answer (above 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_interval: Option<ConfigDuration>,
}

/// A cluster host: the plain `"ip:port"` string, or an address with a weight.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawHost {
    Plain(String),
    Weighted(RawWeightedHost),
}

impl RawHost {
    pub fn address(&self) -> &str {
        match self {
            RawHost::Plain(a) => a,
            RawHost::Weighted(w) => &w.address,
        }
    }
}

impl From<&str> for RawHost {
    fn from(s: &str) -> Self {
        RawHost::Plain(s.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedHost {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// One hash policy entry: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHashPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<bool>,
}

/// Envoy's thresholds, for the whole process; each worker enforces its share.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreakers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlierDetection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_failure: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_time: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// HTTP check: `GET path`; exactly one of `path` and `tcp: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Plain TCP check: a completed connect is a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<bool>,
    /// `Host` of the HTTP check; default: the cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Status codes or ranges, `200` or `200-399`; default `[200-399]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_statuses: Vec<RawStatusRange>,
}

/// `200` or `"200-399"` (both ends inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawStatusRange {
    Code(u16),
    Range(String),
}

macro_rules! string_match_of {
    ($t:ty) => {
        impl $t {
            /// The inline string test's fields.
            pub fn string_match(&self) -> RawStringMatch<'_> {
                RawStringMatch {
                    exact: self.exact.as_deref(),
                    prefix: self.prefix.as_deref(),
                    suffix: self.suffix.as_deref(),
                    contains: self.contains.as_deref(),
                    safe_regex: self.safe_regex.as_deref(),
                    ignore_case: self.ignore_case,
                }
            }
        }
    };
}
string_match_of!(RawHeaderMatch);
string_match_of!(RawQueryMatch);
