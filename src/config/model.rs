//! The validated config every stage reads: typed, defaulted, cross-checked.
//! Built once at start-up; workers build their own per-core state from it.

use std::{net::SocketAddr, time::Duration};

pub use crate::codec::edit::{AppendAction, HeaderAdd, HeaderMutations, HeaderOps, Template};
pub use crate::codec::forward::{Cidr, Forwarding};
use crate::codec::limits::RequestLimits;
pub use crate::codec::limits::UnderscoreAction;

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
    /// ringway's body read timeout before it was configurable (Envoy's
    /// `stream_idle_timeout` default is 5 minutes; an Envoy file without one gets this).
    pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
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
    /// Client connections on all listeners together. `None`: no limit.
    pub max_connections: Option<u64>,
    pub stats: StatsConfig,
    pub listeners: Vec<ListenerConfig>,
    pub clusters: Vec<ClusterConfig>,
}

/// How the admin names what it counts (`admin::render`); counting is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsConfig {
    pub naming: StatsNaming,
}

/// The names and tags `/stats/prometheus` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsNaming {
    /// `ringway_cluster_upstream_rq_2xx{cluster="x"}`: one family per stat.
    #[default]
    Ringway,
    /// Envoy's: `envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",
    /// envoy_cluster_name="x"}`, by Envoy's tag extraction rules.
    Envoy,
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
    /// Requests one client address may have in flight upstream, for all workers
    /// together (each enforces its share, rounded up). `None`: no cap.
    pub max_upstream_requests_per_client: Option<u32>,
    /// Bytes per second a whole request body must average after
    /// `request_body_timeout` (`worker::pace`). `None`: each streamed read has its wait.
    pub request_body_min_rate: Option<u64>,
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
    /// Header mutations for every route of the listener (Envoy's route-config level).
    pub headers: HeaderMutations,
    pub forwarding: Forwarding,
    /// This listener's connections are not held to `Config::max_connections`.
    pub ignore_global_connection_limit: bool,
    /// A client connection closes after this many requests. `None`: no limit.
    pub max_requests_per_connection: Option<u32>,
    /// Head and body must arrive within this of the request's start (408).
    pub request_timeout: Option<Duration>,
    /// Bounds each wait for body bytes, either way. `None`: disabled.
    pub stream_idle_timeout: Option<Duration>,
    /// Bounds the whole exchange (408 before the response starts).
    pub max_stream_duration: Option<Duration>,
    /// Its connection manager's stats scope under Envoy naming (Envoy's
    /// `stat_prefix`; the listener's name unless set).
    pub stat_prefix: String,
}

#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    /// A file (opened with O_APPEND by every worker) or `/dev/stdout`.
    pub path: String,
    /// Compiled once here; every worker renders with it.
    pub format: std::sync::Arc<crate::access_log::AccessLogFormat>,
    /// Which requests are logged; all when `None`.
    pub filter: Option<crate::access_log::AccessLogFilter>,
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
    pub headers: HeaderMutations,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
    /// The path is this, or this followed by `/` and more (Envoy's
    /// `path_separated_prefix`): `/api` matches `/api` and `/api/v1`, not `/apis`.
    SeparatedPrefix(String),
    /// The whole path (without the query) matches (Envoy's `safe_regex`).
    Regex(RegexMatch),
}

impl PathMatch {
    /// The bytes a match consumes, for `prefix_rewrite` (a regex: the whole path).
    pub fn literal(&self) -> Option<&str> {
        match self {
            PathMatch::Prefix(p) | PathMatch::Exact(p) | PathMatch::SeparatedPrefix(p) => Some(p),
            PathMatch::Regex(_) => None,
        }
    }
}

/// A compiled regular expression (the `regex` crate: linear time, RE2's
/// syntax for what both have), anchored to match the whole input. Compares
/// by its source.
#[derive(Debug, Clone)]
pub struct RegexMatch {
    pub source: String,
    pub regex: regex::Regex,
}

impl PartialEq for RegexMatch {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for RegexMatch {}

/// Whether path (and string) matches compare letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Case {
    #[default]
    Sensitive,
    Insensitive,
}

/// What a route asks of a request beyond its path (Envoy's `headers` and
/// `query_parameters` matchers); every one must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchConditions {
    /// Prefix, path and separated-prefix matches (never a regex, as in Envoy).
    pub case: Case,
    pub headers: Vec<HeaderMatcher>,
    pub query: Vec<QueryMatcher>,
}

impl MatchConditions {
    /// Whether a route can be found by the path trie alone.
    pub fn path_only(&self) -> bool {
        self.case == Case::Sensitive && self.headers.is_empty() && self.query.is_empty()
    }
}

/// Envoy's `StringMatcher`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(RegexMatch),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringMatcher {
    pub pattern: StringMatch,
    /// Not for regexes (Envoy refuses `ignore_case` there too).
    pub case: Case,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderTest {
    /// `present_match: true` (or no test at all).
    Present,
    /// `present_match: false`.
    Absent,
    /// The value (several values joined with `,`, as Envoy does).
    Value(StringMatcher),
    /// The value as a whole number in `[start, end)`.
    Range { start: i64, end: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatcher {
    /// Lower case.
    pub name: String,
    pub test: HeaderTest,
    pub invert: bool,
    /// A missing header is tested as an empty value.
    pub missing_as_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryTest {
    Present,
    /// The first value of the parameter, percent-decoded.
    Value(StringMatcher),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMatcher {
    /// Exact, case-sensitive (as Envoy's).
    pub name: String,
    pub test: QueryTest,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// `%ROUTE_NAME%` (shared, so a log line takes it without a copy).
    pub name: Option<std::sync::Arc<str>>,
    pub matcher: PathMatch,
    pub conditions: MatchConditions,
    pub action: RouteAction,
    /// This route's own header mutations, as configured.
    pub headers: HeaderMutations,
    /// Derived: the route's, its virtual host's and its listener's mutations,
    /// chained in Envoy's order; what the data path applies.
    pub edits: RouteEdits,
}

/// Every level's header mutations for one route, per head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteEdits {
    pub request: HeaderOps,
    pub response: HeaderOps,
}

impl RouteEdits {
    /// `levels` from most to least specific (a weighted cluster, the route,
    /// its virtual host, its listener): Envoy's default order
    /// (`most_specific_header_mutations_wins: false`), so the least specific
    /// level has the last word.
    pub fn chain(levels: &[&HeaderMutations]) -> Self {
        use crate::codec::edit::Direction;
        RouteEdits {
            request: HeaderOps::chain(levels, Direction::Request),
            response: HeaderOps::chain(levels, Direction::Response),
        }
    }
}

/// What a matched route does with the request.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// Proxy it to a cluster.
    Forward(ForwardAction),
    /// Answer with a redirect built from the request (Envoy's `redirect`).
    Redirect(RedirectAction),
    /// Answer with a fixed status and body (Envoy's `direct_response`).
    Direct(DirectResponse),
}

impl RouteConfig {
    /// The forwarding settings, for routes that proxy.
    pub fn forward(&self) -> Option<&ForwardAction> {
        self.action.forward()
    }
}

impl RouteAction {
    /// The forwarding settings, for routes that proxy.
    pub fn forward(&self) -> Option<&ForwardAction> {
        match self {
            RouteAction::Forward(f) => Some(f),
            RouteAction::Redirect(_) | RouteAction::Direct(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ForwardAction {
    pub target: Target,
    pub prefix_rewrite: Option<String>,
    /// The path (not the query) with every match replaced (Envoy's `regex_rewrite`).
    pub regex_rewrite: Option<RegexRewrite>,
    /// `None`: no timeout.
    pub timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
    pub host_rewrite: HostRewrite,
    /// Replaces the listener's `max_stream_duration` on this route; `Some(0)`
    /// disables it here. `None`: the listener's applies.
    pub max_stream_duration: Option<Duration>,
}

/// Envoy's `regex_rewrite`: every non-overlapping match of `pattern` in the
/// path is replaced by `substitution`, where `\1`…`\9` are capture groups
/// (RE2's `GlobalReplace`). Written into a reused buffer; a substitution that
/// uses groups costs the regex crate's captures per match (one small
/// allocation each), one without groups nothing.
#[derive(Debug, Clone)]
pub struct RegexRewrite {
    pub pattern: String,
    pub substitution: String,
    regex: regex::bytes::Regex,
    parts: Vec<SubstitutionPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubstitutionPart {
    Literal(Vec<u8>),
    Group(usize),
}

impl PartialEq for RegexRewrite {
    fn eq(&self, other: &Self) -> bool {
        (&self.pattern, &self.substitution) == (&other.pattern, &other.substitution)
    }
}
impl Eq for RegexRewrite {}

impl RegexRewrite {
    pub fn new(pattern: &str, substitution: &str) -> Result<Self, String> {
        let regex = regex::bytes::Regex::new(pattern)
            .map_err(|e| format!("not a regex ringway can run: {e}"))?;
        let groups = regex.captures_len() - 1;
        let mut parts = Vec::new();
        let mut literal = Vec::new();
        let mut bytes = substitution.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                literal.push(b);
                continue;
            }
            match bytes.next() {
                Some(b'\\') => literal.push(b'\\'),
                Some(d @ b'0'..=b'9') => {
                    let n = usize::from(d - b'0');
                    if n > groups {
                        return Err(format!(
                            "`\\{n}` names a group the pattern does not have (it has {groups})"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(SubstitutionPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(SubstitutionPart::Group(n));
                }
                _ => return Err("a `\\` must be followed by a digit or another `\\`".into()),
            }
        }
        if !literal.is_empty() {
            parts.push(SubstitutionPart::Literal(literal));
        }
        Ok(RegexRewrite {
            pattern: pattern.to_string(),
            substitution: substitution.to_string(),
            regex,
            parts,
        })
    }

    /// `path` with every match replaced, into `out`.
    pub fn rewrite(&self, path: &[u8], out: &mut Vec<u8>) {
        let groups = self
            .parts
            .iter()
            .any(|p| matches!(p, SubstitutionPart::Group(n) if *n > 0));
        let mut last = 0;
        if groups {
            for caps in self.regex.captures_iter(path) {
                let whole = caps.get(0).map_or(0..0, |m| m.range());
                out.extend_from_slice(&path[last..whole.start]);
                for part in &self.parts {
                    match part {
                        SubstitutionPart::Literal(l) => out.extend_from_slice(l),
                        SubstitutionPart::Group(n) => {
                            out.extend_from_slice(caps.get(*n).map_or(&b""[..], |m| m.as_bytes()))
                        }
                    }
                }
                last = whole.end;
            }
        } else {
            for m in self.regex.find_iter(path) {
                out.extend_from_slice(&path[last..m.start()]);
                for part in &self.parts {
                    match part {
                        SubstitutionPart::Literal(l) => out.extend_from_slice(l),
                        SubstitutionPart::Group(_) => out.extend_from_slice(m.as_bytes()),
                    }
                }
                last = m.end();
            }
        }
        out.extend_from_slice(&path[last..]);
    }
}

/// What `Host` the upstream gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostRewrite {
    /// The client's.
    #[default]
    Keep,
    /// This name (`host_rewrite_literal`).
    Literal(String),
    /// The DNS name the chosen host was discovered under (`auto_host_rewrite`);
    /// hosts of static clusters have none, so they keep the client's (as in Envoy).
    UpstreamHostname,
}

impl ForwardAction {
    /// The one cluster, for a route that names one.
    pub fn cluster(&self) -> Option<usize> {
        match &self.target {
            Target::Cluster(c) => Some(*c),
            Target::Weighted(_) => None,
        }
    }
}

/// Where a forwarding route sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Index into `Config::clusters`.
    Cluster(usize),
    /// One of several clusters, drawn per request by weight.
    Weighted(WeightedClusters),
}

/// Envoy's `weighted_clusters`: each cluster gets `weight / total` of the
/// requests, drawn independently per request (no allocation: a walk over a
/// handful of running sums).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedClusters {
    /// As configured; at least one weight is above 0.
    pub clusters: Vec<WeightedCluster>,
    total: u64,
}

/// One cluster of a weighted split, with its own settings (Envoy's
/// `ClusterWeight`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedCluster {
    /// Index into `Config::clusters`.
    pub cluster: usize,
    pub weight: u32,
    /// This cluster's own header mutations, as configured: Envoy runs them
    /// before the route's.
    pub headers: HeaderMutations,
    /// `Keep`: the route's rewrite applies.
    pub host_rewrite: HostRewrite,
    /// Derived: this cluster's, the route's, its virtual host's and its
    /// listener's mutations, chained; what requests sent here get.
    pub edits: RouteEdits,
}

impl WeightedCluster {
    pub fn new(cluster: usize, weight: u32) -> Self {
        WeightedCluster {
            cluster,
            weight,
            headers: HeaderMutations::default(),
            host_rewrite: HostRewrite::Keep,
            edits: RouteEdits::default(),
        }
    }
}

impl WeightedClusters {
    /// `None` when every weight is 0.
    pub fn new(clusters: Vec<WeightedCluster>) -> Option<Self> {
        let total = clusters.iter().map(|c| u64::from(c.weight)).sum();
        (total > 0).then_some(WeightedClusters { clusters, total })
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn pick(&self, random: u64) -> &WeightedCluster {
        let mut point = random % self.total;
        for entry in &self.clusters {
            let weight = u64::from(entry.weight);
            if point < weight {
                return entry;
            }
            point -= weight;
        }
        // Unreachable: the weights sum to `total`.
        &self.clusters[0]
    }
}

/// Envoy's `RedirectAction`: each part of the request's URL that is not
/// replaced is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectAction {
    /// `None`: the scheme the request arrived with.
    pub scheme: Option<String>,
    /// `None`: the request's `Host` (its port dropped as Envoy does, see
    /// `worker::redirect`).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub path: RedirectPath,
    /// Drop the request's query (not one `path` brings itself).
    pub strip_query: bool,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectPath {
    /// The request's path and query.
    Keep,
    /// This path; the request's query is kept unless it brings its own.
    Replace(String),
    /// The matched prefix replaced by this (the rest and the query kept).
    PrefixRewrite(String),
}

/// Envoy's `DirectResponseAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectResponse {
    pub status: u16,
    pub body: DirectBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectBody {
    /// No body (`content-length: 0`, no `content-type`).
    Empty,
    Inline(String),
    /// Read when the config is loaded (and again on each reload).
    File {
        path: String,
        bytes: std::sync::Arc<[u8]>,
    },
}

impl DirectBody {
    pub fn bytes(&self) -> &[u8] {
        match self {
            DirectBody::Empty => b"",
            DirectBody::Inline(s) => s.as_bytes(),
            DirectBody::File { bytes, .. } => bytes,
        }
    }
}

/// When and how often a failed attempt is tried again (Envoy's `retry_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub on_5xx: bool,
    pub on_gateway_error: bool,
    pub on_connect_failure: bool,
    pub on_reset: bool,
    /// Envoy's `retriable-4xx`: a 409.
    pub on_retriable_4xx: bool,
    /// Envoy's `refused-stream`: an HTTP/2 upstream refused the stream
    /// (REFUSED_STREAM). An HTTP/1.1 upstream never does.
    pub on_refused_stream: bool,
    pub retriable_status_codes: Vec<u16>,
    pub num_retries: u32,
    pub per_try_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// Should a response with this status be retried?
    pub fn retries_status(&self, status: u16) -> bool {
        (self.on_5xx && status >= 500)
            || (self.on_gateway_error && matches!(status, 502..=504))
            || (self.on_retriable_4xx && status == 409)
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

/// What ringway speaks to a cluster's hosts (Envoy's `http2_protocol_options`,
/// `HttpProtocolOptions.explicit_http_config` / `auto_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    #[default]
    Http1,
    /// h2c on plaintext, h2 (ALPN `h2`) over TLS.
    Http2,
    /// Over TLS, what ALPN settles (`h2` offered first); plaintext: HTTP/1.1.
    Auto,
}

/// HTTP/2 settings for connections to a cluster's hosts (the fields of
/// Envoy's `Http2ProtocolOptions` ringway honours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamHttp2 {
    /// Streams ringway opens at once on one connection; the peer's own
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` applies when lower.
    pub max_concurrent_streams: u32,
    /// The receive window ringway gives each stream, and the connection:
    /// how much response data `h2` may buffer for a client that reads slowly.
    pub initial_stream_window_size: u32,
    pub initial_connection_window_size: u32,
    /// PING keepalives on each connection; `None`: none sent.
    pub keepalive: Option<H2Keepalive>,
}

/// HTTP/2 PING keepalives to an upstream (Envoy's `connection_keepalive`):
/// a PING every `interval` plus up to `interval_jitter_bp` of it at random,
/// and one before a new stream on a connection that has received nothing for
/// `idle_interval` (the stream waits for its answer); a connection that then
/// receives nothing (no PING ACK, no other frame) for `timeout` is closed as
/// dead. At least one of the two intervals is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Keepalive {
    pub interval: Option<Duration>,
    pub timeout: Duration,
    /// The jitter's upper bound, in hundredths of a percent of `interval`
    /// (Envoy's default 15 % is 1500).
    pub interval_jitter_bp: u32,
    /// Envoy's `connection_idle_interval`.
    pub idle_interval: Option<Duration>,
}

impl H2Keepalive {
    /// Envoy's `interval_jitter` default: 15 %.
    pub const DEFAULT_JITTER_BP: u32 = 1500;
}

impl Default for UpstreamHttp2 {
    /// Envoy's stream limit (the peer's applies); the windows are ringway's
    /// downstream ones, not Envoy's 256 MiB: without Envoy's buffer
    /// watermarks, a window is what a slow client can make ringway hold.
    fn default() -> Self {
        UpstreamHttp2 {
            max_concurrent_streams: 2_147_483_647,
            initial_stream_window_size: 256 * 1024,
            initial_connection_window_size: 1024 * 1024,
            keepalive: None,
        }
    }
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
    pub protocol: UpstreamProtocol,
    pub http2: UpstreamHttp2,
    /// Requests (streams) one upstream connection carries before ringway
    /// opens another; `None`: no limit.
    pub max_requests_per_connection: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(pattern: &str, substitution: &str, path: &str) -> String {
        let mut out = Vec::new();
        RegexRewrite::new(pattern, substitution)
            .unwrap()
            .rewrite(path.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn regex_rewrites_as_envoy_documents_them() {
        // Envoy's two documented examples.
        assert_eq!(
            rewritten(
                "^/service/([^/]+)(/.*)$",
                "\\2/instance/\\1",
                "/service/foo/v1/api"
            ),
            "/v1/api/instance/foo"
        );
        assert_eq!(
            rewritten("one", "two", "/xxx/one/yyy/one/zzz"),
            "/xxx/two/yyy/two/zzz"
        );
        assert_eq!(
            rewritten("(?i)/xxx/", "/yyy/", "/aaa/XxX/bbb"),
            "/aaa/yyy/bbb"
        );
        assert_eq!(rewritten("a", "[\\0]", "/bab"), "/b[a]b");
        assert!(RegexRewrite::new("(a)", "\\2")
            .unwrap_err()
            .contains("group"));
        assert!(RegexRewrite::new("a", "\\x").is_err());
    }

    #[test]
    fn weighted_picks_cover_the_weights_exactly() {
        let entries = [(7, 3), (8, 0), (9, 1)].map(|(c, w)| WeightedCluster::new(c, w));
        let w = WeightedClusters::new(entries.to_vec()).unwrap();
        let picks: Vec<usize> = (0..8).map(|r| w.pick(r).cluster).collect();
        assert_eq!(picks, [7, 7, 7, 9, 7, 7, 7, 9]);
        assert!(WeightedClusters::new(vec![WeightedCluster::new(1, 0)]).is_none());
    }
}
