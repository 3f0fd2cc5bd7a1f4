//! `Config` → `RawConfig`: the validated model written back in the native
//! schema, for `/config_dump` (as JSON) or any other view of what is in force.
//! The text comes from `RawConfig`'s serde derives — the same field names the
//! reader accepts — with enum words from `names.rs` and units in the forms
//! `units.rs` reads, so one schema serves loading and dumping.
//!
//! Invariants:
//! - `validate(&lower(c))` equals `c` (tested over every config in the repo):
//!   every default is written out, so the dump says what is in force, not what
//!   was omitted.
//! - Every model struct is destructured without `..`: a field added to the
//!   model fails to compile here until the dump shows it.
//!
//! `ringway convert` prints the translated `RawConfig` itself, not this: it
//! keeps what the file left to defaults (e.g. `workers: auto`, which the model
//! only knows as this machine's core count).

use std::net::SocketAddr;

use super::{
    model::*,
    names::{self, retry_on},
    raw::*,
    units::{ByteSize, ConfigDuration},
};
use crate::{
    codec::limits::RequestLimits,
    tls::{
        Alpn, CertificateSpec, ClientAuth, ClusterTlsSpec, ListenerTlsSpec, PemSource,
        ProtocolParams, SessionTickets, Verify, VersionRange,
    },
};

/// `lower`, with inline private keys replaced by `[redacted]` (what the admin
/// shows: Envoy's `/config_dump` does not print secrets either).
pub fn lower_redacted(config: &Config) -> RawConfig {
    let mut raw = lower(config);
    let redact = |cert: &mut RawCertificate| {
        if let RawPem::Inline(pem) = &mut cert.private_key {
            pem.inline = REDACTED.to_string();
        }
    };
    for tls in raw.listeners.iter_mut().filter_map(|l| l.tls.as_mut()) {
        tls.certificates.iter_mut().for_each(redact);
    }
    for tls in raw.clusters.iter_mut().filter_map(|c| c.tls.as_mut()) {
        tls.client_certificate.iter_mut().for_each(redact);
    }
    raw
}

/// What an inline private key is shown as.
pub const REDACTED: &str = "[redacted]";

/// The native-schema form of `config`.
pub fn lower(config: &Config) -> RawConfig {
    let Config {
        workers,
        io_driver,
        drain_timeout,
        admin,
        dns,
        max_connections,
        stats,
        listeners,
        clusters,
    } = config;
    RawConfig {
        workers: Some(RawWorkers::Count(*workers)),
        io_driver: Some(names::name(names::IO_DRIVERS, *io_driver).to_string()),
        drain_timeout: Some(ConfigDuration(*drain_timeout)),
        admin: admin.as_ref().map(lower_admin),
        // Absent and empty mean the same: the machine's resolv.conf and hosts.
        dns: (*dns != DnsConfig::default()).then(|| lower_dns(dns)),
        max_connections: *max_connections,
        stats: Some(RawStats {
            naming: Some(names::name(names::STATS_NAMINGS, stats.naming).to_string()),
        }),
        listeners: listeners
            .iter()
            .map(|l| lower_listener(l, clusters))
            .collect(),
        clusters: clusters.iter().map(lower_cluster).collect(),
    }
}

fn lower_admin(admin: &AdminConfig) -> RawAdmin {
    let AdminConfig {
        address,
        access_log_path,
    } = admin;
    RawAdmin {
        address: address.to_string(),
        access_log_path: access_log_path.clone(),
    }
}

fn lower_dns(dns: &DnsConfig) -> RawDns {
    let DnsConfig {
        resolvers,
        hosts_file,
        resolv_conf,
        timeout,
        attempts,
    } = dns;
    RawDns {
        resolvers: addresses(resolvers),
        hosts_file: hosts_file.clone(),
        resolv_conf: resolv_conf.clone(),
        timeout: timeout.map(ConfigDuration),
        attempts: *attempts,
    }
}

fn addresses(list: &[SocketAddr]) -> Vec<String> {
    list.iter().map(SocketAddr::to_string).collect()
}

fn lower_listener(listener: &ListenerConfig, clusters: &[ClusterConfig]) -> RawListener {
    let ListenerConfig {
        name,
        address,
        codec,
        virtual_hosts,
        limits,
        request_headers_timeout,
        request_buffer,
        request_body_timeout,
        max_upstream_requests_per_client,
        request_body_min_rate,
        idle_timeout,
        max_connection_duration,
        access_log,
        health_check,
        tls,
        max_connections,
        headers,
        forwarding,
        ignore_global_connection_limit,
        max_requests_per_connection,
        request_timeout,
        stream_idle_timeout,
        max_stream_duration,
        stat_prefix,
    } = listener;
    let level = lower_mutations(headers);
    let RequestLimits {
        max_header_bytes,
        max_headers,
        max_uri_bytes,
        max_body_bytes,
        underscores,
    } = *limits;
    RawListener {
        name: Some(name.clone()),
        stat_prefix: Some(stat_prefix.clone()),
        address: address.to_string(),
        codec: Some(names::name(names::LISTENER_CODECS, *codec).to_string()),
        virtual_hosts: virtual_hosts
            .iter()
            .map(|v| lower_virtual_host(v, clusters))
            .collect(),
        request_headers_timeout: Some(ConfigDuration(*request_headers_timeout)),
        idle_timeout: Some(ConfigDuration(*idle_timeout)),
        request_buffer: Some(ByteSize(*request_buffer)),
        request_body_timeout: Some(ConfigDuration(*request_body_timeout)),
        max_upstream_requests_per_client: *max_upstream_requests_per_client,
        request_body_min_rate: request_body_min_rate.map(ByteSize),
        max_connection_duration: max_connection_duration.map(ConfigDuration),
        max_request_headers_size: Some(ByteSize(max_header_bytes as u64)),
        max_request_headers_count: Some(max_headers),
        max_uri_size: Some(ByteSize(max_uri_bytes as u64)),
        max_request_body_size: max_body_bytes.map(ByteSize),
        access_log: access_log.as_ref().map(lower_access_log),
        health_check: health_check.as_ref().map(|h| {
            let ListenerHealthCheck { path } = h;
            RawListenerHealthCheck { path: path.clone() }
        }),
        tls: tls.as_ref().map(|t| lower_listener_tls(t.spec())),
        max_connections: *max_connections,
        forwarding: Some(lower_forwarding(forwarding)),
        ignore_global_connection_limit: Some(*ignore_global_connection_limit),
        headers_with_underscores: Some(
            names::name(names::UNDERSCORE_ACTIONS, underscores).to_string(),
        ),
        max_requests_per_connection: max_requests_per_connection.map(u64::from),
        request_timeout: request_timeout.map(ConfigDuration),
        // `0s` is how "disabled" reads back.
        stream_idle_timeout: Some(ConfigDuration(stream_idle_timeout.unwrap_or_default())),
        max_stream_duration: max_stream_duration.map(ConfigDuration),
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
    }
}

fn lower_forwarding(f: &Forwarding) -> RawForwarding {
    let Forwarding {
        use_remote_address,
        xff_num_trusted_hops,
        skip_xff_append,
        internal,
        external_address_header,
        generate_request_id,
        preserve_external_request_id,
        envoy_internal_headers,
    } = f;
    RawForwarding {
        use_remote_address: Some(*use_remote_address),
        xff_num_trusted_hops: Some(*xff_num_trusted_hops),
        skip_xff_append: Some(*skip_xff_append),
        internal_addresses: internal.iter().map(Cidr::to_string).collect(),
        external_address_header: external_address_header.clone(),
        generate_request_id: Some(*generate_request_id),
        preserve_external_request_id: Some(*preserve_external_request_id),
        envoy_internal_headers: Some(*envoy_internal_headers),
    }
}

/// One level's mutations in the reader's words.
struct RawMutations {
    request_add: Vec<RawHeaderAdd>,
    request_remove: Vec<String>,
    response_add: Vec<RawHeaderAdd>,
    response_remove: Vec<String>,
}

fn lower_mutations(m: &HeaderMutations) -> RawMutations {
    let HeaderMutations {
        request_add,
        request_remove,
        response_add,
        response_remove,
    } = m;
    let adds = |list: &[HeaderAdd]| list.iter().map(lower_add).collect();
    RawMutations {
        request_add: adds(request_add),
        request_remove: request_remove.clone(),
        response_add: adds(response_add),
        response_remove: response_remove.clone(),
    }
}

fn lower_add(add: &HeaderAdd) -> RawHeaderAdd {
    let HeaderAdd {
        name,
        value,
        action,
        keep_empty_value,
    } = add;
    RawHeaderAdd {
        name: name.clone(),
        value: value.text().to_string(),
        action: Some(names::name(names::APPEND_ACTIONS, *action).to_string()),
        keep_empty_value: Some(*keep_empty_value),
    }
}

fn lower_access_log(log: &AccessLogConfig) -> RawAccessLog {
    use crate::access_log::FormatSource;
    let AccessLogConfig {
        path,
        format,
        filter,
    } = log;
    let (text, json) = match format.source() {
        FormatSource::Text(t) => (Some(t.clone()), None),
        FormatSource::Json(m) => (None, Some(m.clone())),
    };
    RawAccessLog {
        path: path.clone(),
        format: text,
        json_format: json,
        filter: filter.as_ref().map(lower_log_filter),
    }
}

fn lower_log_filter(f: &crate::access_log::AccessLogFilter) -> RawLogFilter {
    use crate::access_log::{filter::SAMPLE_SCALE, AccessLogFilter as F, ResponseFlags};
    let mut raw = RawLogFilter::default();
    match f {
        F::Status(op, v) => {
            raw.status_code = Some(RawCompare {
                op: op.name().into(),
                value: *v,
            })
        }
        F::Duration(op, ms) => {
            raw.duration = Some(RawCompare {
                op: op.name().into(),
                value: ConfigDuration(std::time::Duration::from_millis(*ms)),
            })
        }
        F::NotHealthCheck => raw.not_health_check = Some(true),
        F::ResponseFlags(mask) => {
            let codes = ResponseFlags::codes()
                .filter(|c| ResponseFlags::from_code(c).is_some_and(|b| mask & b != 0))
                .map(String::from)
                .collect();
            raw.response_flags = Some(codes);
        }
        F::Sample(share) => {
            raw.sample_percent = Some(f64::from(*share) * 100.0 / SAMPLE_SCALE as f64)
        }
        F::And(all) => raw.and = Some(all.iter().map(lower_log_filter).collect()),
        F::Or(any) => raw.or = Some(any.iter().map(lower_log_filter).collect()),
    }
    raw
}

fn lower_virtual_host(vhost: &VirtualHostConfig, clusters: &[ClusterConfig]) -> RawVirtualHost {
    let VirtualHostConfig {
        name,
        domains,
        routes,
        headers,
    } = vhost;
    let level = lower_mutations(headers);
    RawVirtualHost {
        name: Some(name.clone()),
        domains: domains.clone(),
        routes: routes.iter().map(|r| lower_route(r, clusters)).collect(),
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
    }
}

fn lower_route(route: &RouteConfig, clusters: &[ClusterConfig]) -> RawRoute {
    // `edits` is derived from the three levels' `headers`.
    let RouteConfig {
        name,
        matcher,
        conditions,
        action,
        headers,
        edits: _,
    } = route;
    let level = lower_mutations(headers);
    let matcher = lower_match(matcher, conditions);
    let raw = RawRoute {
        name: name.as_deref().map(String::from),
        matcher,
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
        ..RawRoute::default()
    };
    match action {
        RouteAction::Forward(f) => lower_forward(raw, f, clusters),
        RouteAction::Redirect(r) => RawRoute {
            redirect: Some(lower_redirect(r)),
            ..raw
        },
        RouteAction::Direct(d) => RawRoute {
            direct_response: Some(lower_direct(d)),
            ..raw
        },
    }
}

fn lower_match(path: &PathMatch, conditions: &MatchConditions) -> RawMatch {
    let MatchConditions {
        case,
        headers,
        query,
    } = conditions;
    let mut raw = RawMatch {
        case_sensitive: Some(*case == Case::Sensitive)
            .filter(|_| !matches!(path, PathMatch::Regex(_))),
        headers: headers.iter().map(lower_header_match).collect(),
        query_parameters: query.iter().map(lower_query_match).collect(),
        ..RawMatch::default()
    };
    match path {
        PathMatch::Prefix(p) => raw.prefix = Some(p.clone()),
        PathMatch::Exact(p) => raw.path = Some(p.clone()),
        PathMatch::SeparatedPrefix(p) => raw.path_separated_prefix = Some(p.clone()),
        PathMatch::Regex(r) => raw.safe_regex = Some(r.source.clone()),
    }
    raw
}

/// The inline string test fields: `(exact, prefix, suffix, contains, safe_regex, ignore_case)`.
type StringFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

fn lower_string(m: &StringMatcher) -> StringFields {
    let StringMatcher { pattern, case } = m;
    let mut f: StringFields = (None, None, None, None, None, None);
    match pattern {
        StringMatch::Exact(v) => f.0 = Some(v.clone()),
        StringMatch::Prefix(v) => f.1 = Some(v.clone()),
        StringMatch::Suffix(v) => f.2 = Some(v.clone()),
        StringMatch::Contains(v) => f.3 = Some(v.clone()),
        StringMatch::Regex(r) => f.4 = Some(r.source.clone()),
    }
    if !matches!(pattern, StringMatch::Regex(_)) {
        f.5 = Some(*case == Case::Insensitive);
    }
    f
}

fn lower_header_match(m: &HeaderMatcher) -> RawHeaderMatch {
    let HeaderMatcher {
        name,
        test,
        invert,
        missing_as_empty,
    } = m;
    let mut raw = RawHeaderMatch {
        name: name.clone(),
        invert_match: Some(*invert),
        treat_missing_header_as_empty: Some(*missing_as_empty),
        ..RawHeaderMatch::default()
    };
    match test {
        HeaderTest::Present => raw.present = Some(true),
        HeaderTest::Absent => raw.present = Some(false),
        HeaderTest::Range { start, end } => {
            raw.range = Some(RawRange {
                start: *start,
                end: *end,
            })
        }
        HeaderTest::Value(s) => {
            (
                raw.exact,
                raw.prefix,
                raw.suffix,
                raw.contains,
                raw.safe_regex,
                raw.ignore_case,
            ) = lower_string(s);
        }
    }
    raw
}

fn lower_query_match(m: &QueryMatcher) -> RawQueryMatch {
    let QueryMatcher { name, test } = m;
    let mut raw = RawQueryMatch {
        name: name.clone(),
        ..RawQueryMatch::default()
    };
    match test {
        QueryTest::Present => raw.present = Some(true),
        QueryTest::Value(s) => {
            (
                raw.exact,
                raw.prefix,
                raw.suffix,
                raw.contains,
                raw.safe_regex,
                raw.ignore_case,
            ) = lower_string(s);
        }
    }
    raw
}

fn lower_forward(raw: RawRoute, forward: &ForwardAction, clusters: &[ClusterConfig]) -> RawRoute {
    let ForwardAction {
        target,
        prefix_rewrite,
        regex_rewrite,
        timeout,
        retry,
        host_rewrite,
        max_stream_duration,
    } = forward;
    // `validate` made cluster names indices into `clusters`.
    let name = |i: usize| clusters.get(i).map(|c| c.name.clone()).unwrap_or_default();
    let (cluster, weighted_clusters) = match target {
        Target::Cluster(c) => (Some(name(*c)), Vec::new()),
        Target::Weighted(w) => (
            None,
            w.clusters
                .iter()
                .map(|entry| lower_weighted(entry, name(entry.cluster)))
                .collect(),
        ),
    };
    RawRoute {
        cluster,
        weighted_clusters,
        prefix_rewrite: prefix_rewrite.clone(),
        regex_rewrite: regex_rewrite.as_ref().map(|r| RawRegexRewrite {
            pattern: r.pattern.clone(),
            substitution: r.substitution.clone(),
        }),
        // The reader's `0s` is the model's "no timeout".
        timeout: Some(ConfigDuration(timeout.unwrap_or_default())),
        retry_policy: retry.as_ref().map(lower_retry),
        max_stream_duration: max_stream_duration.map(ConfigDuration),
        host_rewrite: match host_rewrite {
            HostRewrite::Literal(h) => Some(h.clone()),
            HostRewrite::Keep | HostRewrite::UpstreamHostname => None,
        },
        auto_host_rewrite: Some(*host_rewrite == HostRewrite::UpstreamHostname),
        ..raw
    }
}

fn lower_weighted(entry: &WeightedCluster, cluster: String) -> RawWeightedCluster {
    // `edits` is derived from the levels' `headers`.
    let WeightedCluster {
        cluster: _,
        weight,
        headers,
        host_rewrite,
        edits: _,
    } = entry;
    let level = lower_mutations(headers);
    RawWeightedCluster {
        cluster,
        weight: *weight,
        host_rewrite: match host_rewrite {
            HostRewrite::Literal(h) => Some(h.clone()),
            HostRewrite::Keep | HostRewrite::UpstreamHostname => None,
        },
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
    }
}

fn lower_redirect(redirect: &RedirectAction) -> RawRedirect {
    let RedirectAction {
        scheme,
        host,
        port,
        path,
        strip_query,
        status,
    } = redirect;
    let (path, prefix_rewrite) = match path {
        RedirectPath::Keep => (None, None),
        RedirectPath::Replace(p) => (Some(p.clone()), None),
        RedirectPath::PrefixRewrite(p) => (None, Some(p.clone())),
    };
    RawRedirect {
        scheme: scheme.clone(),
        host: host.clone(),
        port: *port,
        path,
        prefix_rewrite,
        strip_query: Some(*strip_query),
        status: Some(*status),
    }
}

fn lower_direct(direct: &DirectResponse) -> RawDirectResponse {
    let DirectResponse { status, body } = direct;
    let (body, body_file) = match body {
        DirectBody::Empty => (None, None),
        DirectBody::Inline(text) => (Some(text.clone()), None),
        DirectBody::File { path, .. } => (None, Some(path.clone())),
    };
    RawDirectResponse {
        status: *status,
        body,
        body_file,
    }
}

fn lower_retry(policy: &RetryPolicy) -> RawRetryPolicy {
    let RetryPolicy {
        on_5xx,
        on_gateway_error,
        on_connect_failure,
        on_reset,
        on_retriable_4xx,
        on_refused_stream,
        retriable_status_codes,
        num_retries,
        per_try_timeout,
    } = policy;
    let conditions = [
        (*on_5xx, retry_on::FIVE_XX),
        (*on_gateway_error, retry_on::GATEWAY_ERROR),
        (*on_connect_failure, retry_on::CONNECT_FAILURE),
        (*on_reset, retry_on::RESET),
        (*on_retriable_4xx, retry_on::RETRIABLE_4XX),
        (*on_refused_stream, retry_on::REFUSED_STREAM),
        (
            !retriable_status_codes.is_empty(),
            retry_on::RETRIABLE_STATUS_CODES,
        ),
    ];
    let words: Vec<&str> = conditions
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, word)| *word)
        .collect();
    RawRetryPolicy {
        retry_on: words.join(retry_on::SEPARATOR),
        num_retries: Some(*num_retries),
        per_try_timeout: per_try_timeout.map(ConfigDuration),
        retriable_status_codes: retriable_status_codes.clone(),
    }
}

fn lower_cluster(cluster: &ClusterConfig) -> RawCluster {
    let ClusterConfig {
        name,
        kind,
        lb_policy,
        connect_timeout,
        endpoints,
        idle_timeout,
        max_idle_per_host,
        dns_refresh_rate,
        dns_failure_refresh_rate,
        respect_dns_ttl,
        dns_lookup_family,
        dns_resolvers,
        endpoint_weights,
        hash_policy,
        circuit_breakers,
        outlier_detection,
        health_checks,
        ignore_health_on_host_removal,
        tls,
        protocol,
        http2,
        max_requests_per_connection,
    } = cluster;
    RawCluster {
        name: name.clone(),
        kind: Some(names::name(names::CLUSTER_KINDS, *kind).to_string()),
        lb_policy: Some(names::name(names::LB_POLICIES, *lb_policy).to_string()),
        connect_timeout: Some(ConfigDuration(*connect_timeout)),
        hosts: endpoints
            .iter()
            .zip(endpoint_weights)
            .map(|(e, w)| lower_host(e, *w))
            .collect(),
        idle_timeout: Some(ConfigDuration(*idle_timeout)),
        max_idle_per_host: Some(*max_idle_per_host),
        dns_refresh_rate: Some(ConfigDuration(*dns_refresh_rate)),
        dns_failure_refresh_rate: Some(ConfigDuration(*dns_failure_refresh_rate)),
        respect_dns_ttl: Some(*respect_dns_ttl),
        dns_lookup_family: Some(
            names::name(names::DNS_LOOKUP_FAMILIES, *dns_lookup_family).to_string(),
        ),
        dns_resolvers: addresses(dns_resolvers),
        hash_policy: hash_policy.iter().map(lower_hash_policy).collect(),
        circuit_breakers: Some(lower_breakers(circuit_breakers)),
        outlier_detection: outlier_detection.as_ref().map(lower_outlier),
        health_checks: health_checks.iter().map(lower_health_check).collect(),
        ignore_health_on_host_removal: Some(*ignore_health_on_host_removal),
        tls: tls.as_ref().map(|t| lower_cluster_tls(t.spec())),
        protocol: Some(names::name(names::UPSTREAM_PROTOCOLS, *protocol).to_string()),
        http2: (*protocol != UpstreamProtocol::Http1).then_some(RawUpstreamHttp2 {
            max_concurrent_streams: Some(http2.max_concurrent_streams),
            initial_stream_window_size: Some(http2.initial_stream_window_size),
            initial_connection_window_size: Some(http2.initial_connection_window_size),
            keepalive: http2.keepalive.map(|k| RawH2Keepalive {
                interval: k.interval.map(ConfigDuration),
                timeout: Some(ConfigDuration(k.timeout)),
                interval_jitter_percent: Some(f64::from(k.interval_jitter_bp) / 100.0),
                idle_interval: k.idle_interval.map(ConfigDuration),
            }),
        }),
        max_requests_per_connection: *max_requests_per_connection,
    }
}

/// The plain `"ip:port"` form unless the weight differs from the default.
fn lower_host(endpoint: &Endpoint, weight: u32) -> RawHost {
    let address = match endpoint {
        Endpoint::Addr(a) => a.to_string(),
        Endpoint::Name { host, port } => format!("{host}:{port}"),
    };
    if weight == defaults::HOST_WEIGHT {
        RawHost::Plain(address)
    } else {
        RawHost::Weighted(RawWeightedHost {
            address,
            weight: Some(weight),
        })
    }
}

fn lower_hash_policy(policy: &HashPolicy) -> RawHashPolicy {
    let none = RawHashPolicy::default();
    match policy {
        HashPolicy::Header(h) => RawHashPolicy {
            header: Some(h.clone()),
            ..none
        },
        HashPolicy::Cookie(c) => RawHashPolicy {
            cookie: Some(c.clone()),
            ..none
        },
        HashPolicy::SourceIp => RawHashPolicy {
            source_ip: Some(true),
            ..none
        },
    }
}

fn lower_breakers(breakers: &CircuitBreakers) -> RawCircuitBreakers {
    let CircuitBreakers {
        max_connections,
        max_pending_requests,
        max_requests,
        max_retries,
    } = *breakers;
    RawCircuitBreakers {
        max_connections: Some(max_connections),
        max_pending_requests: Some(max_pending_requests),
        max_requests: Some(max_requests),
        max_retries: Some(max_retries),
    }
}

fn lower_outlier(outlier: &OutlierDetection) -> RawOutlierDetection {
    let OutlierDetection {
        consecutive_5xx,
        consecutive_gateway_failure,
        interval,
        base_ejection_time,
        max_ejection_time,
        max_ejection_percent,
    } = *outlier;
    RawOutlierDetection {
        consecutive_5xx: Some(consecutive_5xx),
        consecutive_gateway_failure: Some(consecutive_gateway_failure),
        interval: Some(ConfigDuration(interval)),
        base_ejection_time: Some(ConfigDuration(base_ejection_time)),
        max_ejection_time: Some(ConfigDuration(max_ejection_time)),
        max_ejection_percent: Some(max_ejection_percent),
    }
}

fn lower_health_check(check: &HealthCheckConfig) -> RawHealthCheck {
    let HealthCheckConfig {
        kind,
        interval,
        timeout,
        unhealthy_threshold,
        healthy_threshold,
    } = check;
    let (path, tcp, host, expected_statuses) = match kind {
        HealthCheckKind::Http {
            path,
            host,
            expected,
        } => (
            Some(path.clone()),
            None,
            Some(host.clone()),
            expected.iter().map(|r| lower_status_range(*r)).collect(),
        ),
        HealthCheckKind::Tcp => (None, Some(true), None, Vec::new()),
    };
    RawHealthCheck {
        path,
        tcp,
        host,
        interval: Some(ConfigDuration(*interval)),
        timeout: Some(ConfigDuration(*timeout)),
        unhealthy_threshold: Some(*unhealthy_threshold),
        healthy_threshold: Some(*healthy_threshold),
        expected_statuses,
    }
}

fn lower_status_range((lo, hi): (u16, u16)) -> RawStatusRange {
    if lo == hi {
        RawStatusRange::Code(lo)
    } else {
        RawStatusRange::Range(format!("{lo}-{hi}"))
    }
}

fn lower_pem(source: &PemSource) -> RawPem {
    match source {
        PemSource::File(path) => RawPem::Path(path.clone()),
        PemSource::Inline(text) => RawPem::Inline(RawInlinePem {
            inline: text.clone(),
        }),
    }
}

fn lower_certificate(cert: &CertificateSpec) -> RawCertificate {
    let CertificateSpec {
        cert_chain,
        private_key,
    } = cert;
    RawCertificate {
        cert_chain: lower_pem(cert_chain),
        private_key: lower_pem(private_key),
    }
}

/// The protocol settings shared by both sides: versions, suites, groups.
struct LoweredParams {
    min_version: Option<RawTlsVersion>,
    max_version: Option<RawTlsVersion>,
    cipher_suites: Option<Vec<String>>,
    curves: Option<Vec<String>>,
}

fn lower_params(params: &ProtocolParams) -> LoweredParams {
    let ProtocolParams {
        versions,
        cipher_suites,
        groups,
    } = params;
    let VersionRange { min, max } = *versions;
    LoweredParams {
        min_version: Some(RawTlsVersion::Text(min.name().to_string())),
        max_version: Some(RawTlsVersion::Text(max.name().to_string())),
        cipher_suites: cipher_suites
            .as_ref()
            .map(|list| list.iter().map(|c| c.iana().to_string()).collect()),
        curves: groups
            .as_ref()
            .map(|list| list.iter().map(|g| g.name().to_string()).collect()),
    }
}

fn alpn_words(alpn: &[Alpn]) -> Vec<String> {
    alpn.iter().map(|a| a.name().to_string()).collect()
}

fn lower_listener_tls(spec: &ListenerTlsSpec) -> RawListenerTls {
    let ListenerTlsSpec {
        certificates,
        alpn,
        params,
        session_tickets,
        client_auth,
        handshake_timeout,
        max_concurrent_handshakes,
    } = spec;
    let p = lower_params(params);
    let (client_ca, required) = match client_auth {
        ClientAuth::Off => (None, false),
        ClientAuth::Optional { ca } => (Some(lower_pem(ca)), false),
        ClientAuth::Required { ca } => (Some(lower_pem(ca)), true),
    };
    RawListenerTls {
        certificates: certificates.iter().map(lower_certificate).collect(),
        alpn: Some(alpn_words(alpn)),
        min_version: p.min_version,
        max_version: p.max_version,
        cipher_suites: p.cipher_suites,
        curves: p.curves,
        session_tickets: Some(*session_tickets == SessionTickets::On),
        client_ca,
        require_client_certificate: Some(required),
        handshake_timeout: Some(ConfigDuration(*handshake_timeout)),
        max_concurrent_handshakes: Some(*max_concurrent_handshakes),
    }
}

fn lower_cluster_tls(spec: &ClusterTlsSpec) -> RawClusterTls {
    let ClusterTlsSpec {
        sni,
        verify,
        alpn,
        client_certificate,
        params,
    } = spec;
    let p = lower_params(params);
    RawClusterTls {
        sni: sni.clone(),
        verify: match verify {
            Verify::Ca(ca) => RawVerify::Ca(RawVerifyCa { ca: lower_pem(ca) }),
            Verify::System => RawVerify::Named("system".to_string()),
            Verify::None => RawVerify::Named("none".to_string()),
        },
        alpn: Some(alpn_words(alpn)),
        client_certificate: client_certificate.as_ref().map(lower_certificate),
        min_version: p.min_version,
        max_version: p.max_version,
        cipher_suites: p.cipher_suites,
        curves: p.curves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, to_native_yaml};

    /// Every config file of the repo: the examples, the Envoy seeds and the
    /// translator's test data, each as `(path, text)`.
    fn repo_configs() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["config", "config/envoy", "src/config/envoy/testdata"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files.sort();
        files
    }

    /// Every field of the model, by its `Debug` form: no `PartialEq` needed on
    /// every model type (the compiled access log format has none to offer).
    fn model(c: &Config) -> String {
        format!("{c:#?}")
    }

    fn load(what: &str, text: &str) -> crate::config::Loaded {
        load_str(text).unwrap_or_else(|e| panic!("{what} should load: {e}\n{text}"))
    }

    /// The dump in both texts: YAML, and the JSON `/config_dump` answers.
    fn dumps(c: &Config) -> [String; 2] {
        let raw = lower(c);
        [
            to_native_yaml(&raw),
            serde_json::to_string_pretty(&raw).unwrap(),
        ]
    }

    fn assert_round_trips(what: &str, text: &str) {
        let first = load(what, text).config;
        for dump in dumps(&first) {
            let again = load(what, &dump);
            assert!(again.warnings.is_empty(), "{what}: {:#?}", again.warnings);
            assert_eq!(model(&first), model(&again.config), "{what}:\n{dump}");
            // And the dump of the reloaded model is the same text: a fixpoint.
            assert!(dumps(&again.config).contains(&dump), "{what}");
        }
    }

    #[test]
    fn load_dump_load_gives_the_same_model_for_every_repo_config() {
        let files = repo_configs();
        assert!(files.len() >= 8, "{files:?}");
        for (path, text) in &files {
            assert_round_trips(path, text);
            // An Envoy file's `ringway convert` output, too.
            let converted = to_native_yaml(&load(path, text).raw);
            assert_round_trips(&format!("{path} (converted)"), &converted);
        }
    }

    /// A native config that sets every field the model has, each away from its
    /// default where it can be.
    const EVERYTHING: &str = "\
workers: 3
io_driver: epoll
drain_timeout: 250ms
max_connections: 5000
admin: { address: \"127.0.0.1:9901\", access_log_path: /tmp/admin.log }
dns:
  resolvers: [\"127.0.0.9\", \"[::1]:5353\"]
  hosts_file: /tmp/hosts
  resolv_conf: /tmp/resolv.conf
  timeout: 0.0005s
  attempts: 4
stats: { naming: envoy }
listeners:
  - name: edge
    stat_prefix: edge_http
    address: \"[::1]:8443\"
    request_headers_timeout: 3s
    idle_timeout: 2m
    max_connection_duration: 1h
    max_request_headers_size: 32KiB
    max_request_headers_count: 50
    max_uri_size: 4KiB
    max_request_body_size: 1MiB
    access_log: { path: /dev/stdout, format: \"%REQ(:PATH)% %RESPONSE_CODE%\\n\" }
    health_check: { path: /healthz }
    forwarding: { xff_num_trusted_hops: 2, internal_addresses: [10.0.0.0/8], external_address_header: x-edge-client, preserve_external_request_id: false }
    headers_with_underscores: drop_header
    max_requests_per_connection: 100
    ignore_global_connection_limit: true
    request_timeout: 30s
    stream_idle_timeout: 0s
    max_stream_duration: 5m
    request_headers_to_remove: [x-debug]
    response_headers_to_add: [{ name: x-edge, value: \"%START_TIME%\", action: overwrite_if_exists }]
    virtual_hosts:
      - name: api
        domains: [\"api.example.com\", \"*.api.example.com\"]
        request_headers_to_add: [{ name: x-client, value: \"%DOWNSTREAM_REMOTE_ADDRESS%\", keep_empty_value: true }]
        response_headers_to_remove: [x-powered-by]
        routes:
          - match: { path: /exact }
            cluster: dns
            timeout: 0s
            host_rewrite: svc.internal
            request_headers_to_add: [{ name: x-ua, value: \"%REQ(user-agent)% %PROTOCOL%\", action: add_if_absent }]
            request_headers_to_remove: [x-secret]
            response_headers_to_add: [{ name: x-by, value: \"%UPSTREAM_REMOTE_ADDRESS%\" }]
            response_headers_to_remove: [server]
          - match: { prefix: /v1/ }
            cluster: hashed
            prefix_rewrite: /
            timeout: 2500ms
            max_stream_duration: 0s
            retry_policy:
              retry_on: 5xx,gateway-error,connect-failure,reset,retriable-4xx,refused-stream,retriable-status-codes
              num_retries: 3
              per_try_timeout: 1s
              retriable_status_codes: [409, 429]
          - match: { path_separated_prefix: /sep, case_sensitive: false, headers: [{ name: x-a, exact: \"1\", ignore_case: true }, { name: x-b, present: false }, { name: x-c, range: { start: 1, end: 5 }, invert_match: true }, { name: x-d, safe_regex: \"v[0-9]\", treat_missing_header_as_empty: true }], query_parameters: [{ name: q, prefix: ab }, { name: f }] }
            cluster: dns
            auto_host_rewrite: true
          - match: { safe_regex: \"/re/[a-z]+\" }
            regex_rewrite: { pattern: \"^/re/(.*)$\", substitution: \"/\\\\1\" }
            weighted_clusters: [{ cluster: dns, weight: 3, host_rewrite: a.internal, request_headers_to_add: [{ name: x-split, value: a }], response_headers_to_remove: [x-b] }, { cluster: hashed, weight: 1 }, { cluster: dns, weight: 0 }]
          - match: { prefix: /old/ }
            redirect: { scheme: https, host: new.example.com, port: 8443, prefix_rewrite: /new/, strip_query: true, status: 308 }
          - match: { path: /moved }
            redirect: { path: \"/there?x=1\" }
          - name: teapot
            match: { path: /teapot }
            direct_response: { status: 418, body: \"short and stout\" }
          - match: { path: /empty }
            direct_response: { status: 204 }
          - match: { prefix: / }
            cluster: hashed
            retry_policy: { retry_on: reset }
clusters:
  - name: dns
    type: logical_dns
    lb_policy: random
    connect_timeout: 750ms
    hosts: [\"svc.example.com:8080\"]
    idle_timeout: 30s
    max_idle_per_host: 8
    dns_refresh_rate: 2s
    dns_failure_refresh_rate: 500ms
    respect_dns_ttl: true
    dns_lookup_family: v4_preferred
    dns_resolvers: [\"127.0.0.53:53\"]
    circuit_breakers: { max_connections: 10, max_pending_requests: 20, max_requests: 30, max_retries: 0 }
    health_checks:
      - { tcp: true, interval: 2s, timeout: 100ms, unhealthy_threshold: 1, healthy_threshold: 5 }
    ignore_health_on_host_removal: true
  - name: hashed
    lb_policy: ring_hash
    hosts: [\"127.0.0.2:80\", { address: \"127.0.0.3:80\", weight: 7 }]
    hash_policy: [{ header: X-User }, { cookie: session }, { source_ip: true }]
    outlier_detection: { consecutive_5xx: 0, interval: 1s, max_ejection_percent: 100 }
    health_checks:
      - path: /ready
        host: hashed.internal
        expected_statuses: [200, \"300-399\"]
";

    #[test]
    fn every_field_survives_the_round_trip() {
        assert_round_trips("EVERYTHING", EVERYTHING);
    }

    #[test]
    fn the_dump_shows_what_the_old_one_left_out_in_the_readers_words() {
        let c = load("EVERYTHING", EVERYTHING).config;
        let dump: serde_json::Value = serde_json::from_str(&dumps(&c)[1]).unwrap();
        assert_eq!(dump["io_driver"], "epoll");
        assert_eq!(dump["dns"]["timeout"], "0.0005s");
        let edge = &dump["listeners"][0];
        assert_eq!(edge["max_connection_duration"], "3600s");
        let routes = &edge["virtual_hosts"][0]["routes"];
        assert_eq!(routes[0]["timeout"], "0s");
        assert_eq!(
            routes[1]["retry_policy"]["retry_on"],
            "5xx,gateway-error,connect-failure,reset,retriable-4xx,refused-stream,retriable-status-codes"
        );
        assert_eq!(edge["forwarding"]["xff_num_trusted_hops"], 2);
        assert_eq!(edge["forwarding"]["internal_addresses"][0], "10.0.0.0/8");
        assert_eq!(edge["headers_with_underscores"], "drop_header");
        assert_eq!(edge["max_requests_per_connection"], 100);
        let [dns, hashed] = [&dump["clusters"][0], &dump["clusters"][1]];
        assert_eq!(dns["dns_lookup_family"], "v4_preferred");
        assert_eq!(dns["dns_resolvers"][0], "127.0.0.53:53");
        assert_eq!(dns["health_checks"][0]["tcp"], true);
        assert_eq!(hashed["hosts"][1]["weight"], 7);
        assert_eq!(hashed["hash_policy"][0]["header"], "x-user");
        assert_eq!(hashed["outlier_detection"]["consecutive_5xx"], 0);
        assert_eq!(
            hashed["health_checks"][0]["expected_statuses"][1],
            "300-399"
        );
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use crate::{
        config::load_str,
        tls::testing::{write, TestCa, PKCS_ECDSA_P256_SHA256},
    };

    /// A listener and a cluster with every TLS field set, certificates both
    /// in files and inline.
    fn config_with_tls(dir: &std::path::Path) -> String {
        let ca = TestCa::new("lower CA");
        let leaf = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
        let inline = ca.issue(&["b.test"], &PKCS_ECDSA_P256_SHA256);
        let cert = write(dir, "a.crt", &leaf.cert);
        let key = write(dir, "a.key", &leaf.key);
        let ca_path = write(dir, "ca.pem", &ca.pem);
        let indent = |pem: &str| pem.trim_end().replace('\n', "\n              ");
        format!(
            "listeners:
  - name: edge
    address: 127.0.0.1:8443
    max_connections: 100
    access_log:
      path: /dev/stderr
      json_format: {{ code: \"%RESPONSE_CODE%\", up: {{ host: \"%UPSTREAM_HOST%\", n: 1 }}, at: \"%START_TIME(%s.%3f)%\" }}
      filter: {{ and: [{{ status_code: {{ op: ge, value: 400 }} }}, {{ or: [{{ duration: {{ op: le, value: 2s }} }}, {{ response_flags: [UF, NR] }}, {{ sample_percent: 12.5 }}, {{ not_health_check: true }}] }}] }}
    tls:
      certificates:
        - {{ cert_chain: \"{cert}\", private_key: \"{key}\" }}
        - cert_chain:
            inline: |
              {}
          private_key:
            inline: |
              {}
      alpn: [http/1.1]
      min_version: \"1.2\"
      max_version: \"1.3\"
      cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
      curves: [X25519, P-256]
      session_tickets: false
      client_ca: \"{ca_path}\"
      require_client_certificate: true
      handshake_timeout: 3s
      max_concurrent_handshakes: 7
    virtual_hosts:
      - domains: [\"*\"]
        routes:
          - match: {{ prefix: / }}
            cluster: c
clusters:
  - name: c
    hosts: [\"127.0.0.2:443\"]
    tls:
      sni: a.test
      verify: {{ ca: \"{ca_path}\" }}
      alpn: [http/1.1]
      client_certificate: {{ cert_chain: \"{cert}\", private_key: \"{key}\" }}
      min_version: \"1.3\"
",
            indent(&inline.cert),
            indent(&inline.key),
        )
    }

    #[test]
    fn tls_settings_survive_load_dump_load() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_with_tls(dir.path());
        let first = load_str(&text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .config;
        let dump = serde_yaml::to_string(&lower(&first)).unwrap();
        let again = load_str(&dump)
            .unwrap_or_else(|e| panic!("{e}\n{dump}"))
            .config;
        let spec = |c: &Config| format!("{:#?}", c.listeners[0].tls.as_ref().map(|t| t.spec()));
        assert_eq!(spec(&first), spec(&again));
        let cluster = |c: &Config| format!("{:#?}", c.clusters[0].tls.as_ref().map(|t| t.spec()));
        assert_eq!(cluster(&first), cluster(&again));
        assert_eq!(again.listeners[0].max_connections, Some(100));
    }

    #[test]
    fn the_admin_dump_does_not_show_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let config = load_str(&config_with_tls(dir.path())).unwrap().config;
        let shown = serde_json::to_string(&lower_redacted(&config)).unwrap();
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains(REDACTED));
        assert!(
            shown.contains("BEGIN CERTIFICATE"),
            "certificates are public"
        );
    }
}
