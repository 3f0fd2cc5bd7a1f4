//! The validated config every stage reads: typed, defaulted, cross-checked.
//! Built once at start-up; workers build their own per-core state from it.

use std::{net::SocketAddr, time::Duration};

use crate::codec::limits::RequestLimits;

/// Defaults, Envoy's where Envoy has one.
pub mod defaults {
    use std::time::Duration;
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REQUEST_HEADERS_TIMEOUT: Duration = Duration::from_secs(10);
    /// nginx's `client_body_buffer_size` on 64-bit, and one body read buffer.
    pub const REQUEST_BUFFER: u64 = 64 * 1024;
    pub const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DOWNSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
    pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const MAX_IDLE_PER_HOST: usize = 256;
    pub const DNS_REFRESH_RATE: Duration = Duration::from_secs(5);
    pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DNS_ATTEMPTS: u32 = 2;
    // Circuit breakers (Envoy's thresholds, for the whole process).
    pub const MAX_CONNECTIONS: u32 = 1024;
    pub const MAX_PENDING_REQUESTS: u32 = 1024;
    pub const MAX_REQUESTS: u32 = 1024;
    pub const MAX_RETRIES: u32 = 3;
    // Outlier detection (Envoy's defaults when the block is present).
    pub const CONSECUTIVE_5XX: u32 = 5;
    pub const CONSECUTIVE_GATEWAY_FAILURE: u32 = 5;
    pub const OUTLIER_INTERVAL: Duration = Duration::from_secs(10);
    pub const BASE_EJECTION_TIME: Duration = Duration::from_secs(30);
    pub const MAX_EJECTION_TIME: Duration = Duration::from_secs(300);
    pub const MAX_EJECTION_PERCENT: u32 = 10;
    // Active health checks.
    pub const HC_INTERVAL: Duration = Duration::from_secs(5);
    pub const HC_TIMEOUT: Duration = Duration::from_secs(1);
    pub const HC_UNHEALTHY_THRESHOLD: u32 = 3;
    pub const HC_HEALTHY_THRESHOLD: u32 = 2;
    pub const HOST_WEIGHT: u32 = 1;
    // TLS (Envoy's `transport_socket_connect_timeout` has no default; nginx's
    // handshake bound is its 60 s client_header_timeout; 10 s is HAProxy's).
    pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Per worker: enough for a burst of new clients, small enough that a flood
    /// of handshakes (~0.5 ms of CPU each) cannot starve established connections.
    pub const MAX_CONCURRENT_HANDSHAKES: u32 = 256;
    pub const MAX_HOST_WEIGHT: u32 = 1000;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriverChoice {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    Uring,
    Epoll,
}

impl std::str::FromStr for IoDriverChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use super::names::{listing, parse, IO_DRIVERS};
        parse(IO_DRIVERS, s).ok_or_else(|| {
            format!(
                "`{}` is not an io driver ({})",
                s.to_ascii_lowercase(),
                listing(IO_DRIVERS)
            )
        })
    }
}

/// What a listener speaks to its clients (Envoy's `codec_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListenerCodec {
    /// HTTP/2 when a plaintext connection starts with its preface or TLS
    /// negotiates `h2` by ALPN; HTTP/1.1 otherwise.
    #[default]
    Auto,
    Http1,
    /// HTTP/2 only (h2c with prior knowledge on plaintext listeners).
    Http2,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub workers: usize,
    pub io_driver: IoDriverChoice,
    pub drain_timeout: Duration,
    pub admin: Option<AdminConfig>,
    pub dns: DnsConfig,
    pub listeners: Vec<ListenerConfig>,
    pub clusters: Vec<ClusterConfig>,
}

impl Config {
    /// What loading TLS material noticed without refusing it (a certificate that
    /// expires soon, `verify: none`), each with the native field path it is about.
    pub fn tls_warnings(&self) -> Vec<crate::tls::FieldWarning> {
        let listeners = self
            .listeners
            .iter()
            .filter_map(|l| l.tls.as_deref())
            .flat_map(|t| t.warnings().iter().cloned());
        let clusters = self
            .clusters
            .iter()
            .filter_map(|c| c.tls.as_deref())
            .flat_map(|t| t.warnings().iter().cloned());
        listeners.chain(clusters).collect()
    }

    /// Every TLS context's certificates, listeners first, for the admin's `/certs`:
    /// `crate::tls::admin::certs_json(&config.cert_contexts(), SystemTime::now())`.
    pub fn cert_contexts(&self) -> Vec<crate::tls::admin::CertContext<'_>> {
        use crate::tls::admin::CertContext;
        let listeners = self
            .listeners
            .iter()
            .filter_map(|l| Some(CertContext::listener(&l.name, l.tls.as_deref()?)));
        let clusters = self
            .clusters
            .iter()
            .filter_map(|c| Some(CertContext::cluster(&c.name, c.tls.as_deref()?)));
        listeners.chain(clusters).collect()
    }
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub address: SocketAddr,
    pub access_log_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub resolvers: Vec<SocketAddr>,
    pub hosts_file: Option<String>,
    pub resolv_conf: Option<String>,
    pub timeout: Option<Duration>,
    pub attempts: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub name: String,
    pub address: SocketAddr,
    pub codec: ListenerCodec,
    pub virtual_hosts: Vec<VirtualHostConfig>,
    pub limits: RequestLimits,
    pub request_headers_timeout: Duration,
    /// Bytes of a request body read before an upstream is chosen (0: none), so
    /// a client trickling its body holds no upstream connection or breaker slot.
    pub request_buffer: u64,
    /// The buffered part of a body must arrive within this (else 408).
    pub request_body_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: client connections may live as long as they are used.
    pub max_connection_duration: Option<Duration>,
    /// `None`: this listener writes no access log.
    pub access_log: Option<AccessLogConfig>,
    /// `None`: no health check path; every path is routed.
    pub health_check: Option<ListenerHealthCheck>,
    /// `None`: plaintext HTTP. Loaded (certificates read and checked) when the
    /// config was validated; shared read-only by every worker.
    pub tls: Option<std::sync::Arc<crate::tls::ListenerTls>>,
    /// Envoy's listener connection limit, for all workers together: a connection
    /// accepted over it is closed at once (`downstream_cx_overflow`). `None`: no limit.
    pub max_connections: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    /// A file (opened with O_APPEND by every worker) or `/dev/stdout`.
    pub path: String,
    /// Compiled once here; every worker renders with it.
    pub format: std::sync::Arc<crate::access_log::AccessLogFormat>,
}

/// A path the listener answers itself: 200 `LIVE`, or 503 after
/// `POST /healthcheck/fail` and while draining.
#[derive(Debug, Clone)]
pub struct ListenerHealthCheck {
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct VirtualHostConfig {
    pub name: String,
    pub domains: Vec<String>,
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub matcher: PathMatch,
    /// Index into `Config::clusters`.
    pub cluster: usize,
    pub prefix_rewrite: Option<String>,
    /// `None`: no timeout.
    pub timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
}

/// When and how often a failed attempt is tried again (Envoy's `retry_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub on_5xx: bool,
    pub on_gateway_error: bool,
    pub on_connect_failure: bool,
    pub on_reset: bool,
    pub retriable_status_codes: Vec<u16>,
    pub num_retries: u32,
    pub per_try_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// Should a response with this status be retried?
    pub fn retries_status(&self, status: u16) -> bool {
        (self.on_5xx && status >= 500)
            || (self.on_gateway_error && matches!(status, 502..=504))
            || self.retriable_status_codes.contains(&status)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKind {
    Static,
    StrictDns,
    LogicalDns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbPolicy {
    /// Smooth weighted round robin when weights differ.
    RoundRobin,
    /// Power of two choices on active requests (per worker).
    LeastRequest,
    Random,
    RingHash,
    Maglev,
}

impl LbPolicy {
    pub fn uses_hash(self) -> bool {
        matches!(self, LbPolicy::RingHash | LbPolicy::Maglev)
    }
}

/// What a hashing balancer keys on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPolicy {
    /// A request header, by lower-case name.
    Header(String),
    /// A cookie, by name (case-sensitive, as cookies are).
    Cookie(String),
    SourceIp,
}

/// Envoy's thresholds for the whole process. Each worker enforces
/// `ceil(total / workers)` so no count is shared between cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakers {
    pub max_connections: u32,
    pub max_pending_requests: u32,
    pub max_requests: u32,
    pub max_retries: u32,
}

impl Default for CircuitBreakers {
    fn default() -> Self {
        CircuitBreakers {
            max_connections: defaults::MAX_CONNECTIONS,
            max_pending_requests: defaults::MAX_PENDING_REQUESTS,
            max_requests: defaults::MAX_REQUESTS,
            max_retries: defaults::MAX_RETRIES,
        }
    }
}

impl CircuitBreakers {
    /// One worker's share of each threshold: `ceil(total / workers)`.
    pub fn per_worker(&self, workers: usize) -> CircuitBreakers {
        let share = |t: u32| t.div_ceil(workers.max(1) as u32);
        CircuitBreakers {
            max_connections: share(self.max_connections),
            max_pending_requests: share(self.max_pending_requests),
            max_requests: share(self.max_requests),
            max_retries: share(self.max_retries),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierDetection {
    /// 0 disables this detector.
    pub consecutive_5xx: u32,
    /// 0 disables this detector.
    pub consecutive_gateway_failure: u32,
    /// How often ejections are reconsidered (ejected hosts come back on this tick).
    pub interval: Duration,
    pub base_ejection_time: Duration,
    pub max_ejection_time: Duration,
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx: defaults::CONSECUTIVE_5XX,
            consecutive_gateway_failure: defaults::CONSECUTIVE_GATEWAY_FAILURE,
            interval: defaults::OUTLIER_INTERVAL,
            base_ejection_time: defaults::BASE_EJECTION_TIME,
            max_ejection_time: defaults::MAX_EJECTION_TIME,
            max_ejection_percent: defaults::MAX_EJECTION_PERCENT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `GET path` with `Host: host`; a status in `expected` passes.
    Http {
        path: String,
        host: String,
        expected: Vec<(u16, u16)>,
    },
    /// A completed TCP connect passes.
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub kind: HealthCheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub unhealthy_threshold: u32,
    pub healthy_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsLookupFamily {
    Auto,
    V4Only,
    V6Only,
    V4Preferred,
    All,
}

/// A configured endpoint: an address for static clusters, a name for DNS ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Addr(SocketAddr),
    Name { host: String, port: u16 },
}

/// `PartialEq`: a reload keeps a cluster's per-worker state only when its
/// config compares equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    pub kind: ClusterKind,
    pub lb_policy: LbPolicy,
    pub connect_timeout: Duration,
    pub endpoints: Vec<Endpoint>,
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
    pub dns_refresh_rate: Duration,
    pub dns_failure_refresh_rate: Duration,
    pub respect_dns_ttl: bool,
    pub dns_lookup_family: DnsLookupFamily,
    pub dns_resolvers: Vec<SocketAddr>,
    /// Weight of each entry of `endpoints` (same order); 1 unless configured.
    /// Every address an endpoint resolves to carries its weight.
    pub endpoint_weights: Vec<u32>,
    pub hash_policy: Vec<HashPolicy>,
    pub circuit_breakers: CircuitBreakers,
    pub outlier_detection: Option<OutlierDetection>,
    pub health_checks: Vec<HealthCheckConfig>,
    pub ignore_health_on_host_removal: bool,
    /// `None`: plaintext to the upstream. Compares equal by settings and by the
    /// bytes of every file it loaded, so a renewed CA changes the cluster.
    pub tls: Option<std::sync::Arc<crate::tls::ClusterTls>>,
}
