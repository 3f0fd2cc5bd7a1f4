//! `RawConfig` → `Config`: defaults applied, names resolved to indices, every
//! rule that spans fields checked. Each rule has a rejection test below.

use std::{collections::HashMap, net::SocketAddr};

use super::{
    error::ConfigError,
    model::*,
    names::{
        listing, parse as parse_name, retry_on, Names, CLUSTER_KINDS, DNS_LOOKUP_FAMILIES,
        LB_POLICIES, STATS_NAMINGS, UPSTREAM_PROTOCOLS,
    },
    raw::{
        RawCluster, RawConfig, RawH2Keepalive, RawHealthCheck, RawHost, RawListener,
        RawOutlierDetection, RawRetryPolicy, RawStatusRange, RawWorkers,
    },
};
use crate::codec::limits::{self, RequestLimits};

pub fn validate(raw: &RawConfig) -> Result<Config, ConfigError> {
    let workers = match &raw.workers {
        None => available_cores(),
        Some(RawWorkers::Named(s)) if s.eq_ignore_ascii_case("auto") => available_cores(),
        Some(RawWorkers::Count(n)) if (1..=1024).contains(n) => *n,
        Some(other) => {
            let got = match other {
                RawWorkers::Count(n) => n.to_string(),
                RawWorkers::Named(s) => format!("`{s}`"),
            };
            return Err(ConfigError::invalid(
                "workers",
                format!("expected `auto` or a number from 1 to 1024, got {got}"),
            ));
        }
    };
    let io_driver = match &raw.io_driver {
        None => IoDriverChoice::Auto,
        Some(s) => s
            .parse()
            .map_err(|e: String| ConfigError::invalid("io_driver", e))?,
    };

    let mut cluster_index = HashMap::new();
    let mut clusters = Vec::with_capacity(raw.clusters.len());
    for (i, rc) in raw.clusters.iter().enumerate() {
        let path = format!("clusters[{i}]");
        if cluster_index.insert(rc.name.clone(), i).is_some() {
            return Err(ConfigError::invalid(
                format!("{path}.name"),
                format!("duplicate cluster name `{}`", rc.name),
            ));
        }
        clusters.push(validate_cluster(&path, rc)?);
    }

    if raw.listeners.is_empty() {
        return Err(ConfigError::invalid(
            "listeners",
            "at least one listener is required",
        ));
    }
    let mut listeners = Vec::with_capacity(raw.listeners.len());
    let mut seen_addrs = HashMap::new();
    let mut seen_names = HashMap::new();
    for (i, rl) in raw.listeners.iter().enumerate() {
        let path = format!("listeners[{i}]");
        let listener = validate_listener(&path, i, rl, &cluster_index)?;
        // Stats, logs and reloads know listeners by name.
        if let Some(prev) = seen_names.insert(listener.name.clone(), i) {
            return Err(ConfigError::invalid(
                format!("{path}.name"),
                format!(
                    "duplicate listener name `{}` (also listeners[{prev}])",
                    listener.name
                ),
            ));
        }
        // Port 0: each listener binds a port of its own.
        let fixed = listener.address.port() != 0;
        if let Some(prev) = seen_addrs.insert(listener.address, i).filter(|_| fixed) {
            return Err(ConfigError::invalid(
                format!("{path}.address"),
                format!("{} is already used by listeners[{prev}]", listener.address),
            ));
        }
        listeners.push(listener);
    }

    let admin = match &raw.admin {
        None => None,
        Some(a) => {
            let address = parse_addr("admin.address", &a.address)?;
            if let Some((i, _)) = listeners
                .iter()
                .enumerate()
                .find(|(_, l)| same_port(l.address, address))
            {
                return Err(ConfigError::invalid(
                    "admin.address",
                    format!("{address} is also the address of listeners[{i}]"),
                ));
            }
            if let Some(p) = &a.access_log_path {
                not_a_directory("admin.access_log_path", p)?;
            }
            Some(AdminConfig {
                address,
                access_log_path: a.access_log_path.clone(),
            })
        }
    };
    let dns = match &raw.dns {
        None => DnsConfig::default(),
        Some(d) => DnsConfig {
            resolvers: parse_resolvers("dns.resolvers", &d.resolvers)?,
            hosts_file: d.hosts_file.clone(),
            resolv_conf: d.resolv_conf.clone(),
            timeout: d.timeout.map(|t| t.0),
            attempts: d.attempts,
        },
    };

    let stats = stats_config(raw)?;

    Ok(Config {
        workers,
        io_driver,
        drain_timeout: raw.drain_timeout.map_or(defaults::DRAIN_TIMEOUT, |d| d.0),
        admin,
        dns,
        max_connections: super::validate_tls::max_connections(
            "max_connections",
            raw.max_connections,
        )?,
        stats,
        listeners,
        clusters,
    })
}

/// `stats`: how the admin names stats.
fn stats_config(raw: &RawConfig) -> Result<StatsConfig, ConfigError> {
    Ok(StatsConfig {
        naming: match raw.stats.as_ref().and_then(|s| s.naming.as_deref()) {
            None => StatsNaming::default(),
            Some(n) => parse_name(STATS_NAMINGS, n).ok_or_else(|| {
                ConfigError::invalid(
                    "stats.naming",
                    format!("`{n}` is not a stats naming ({})", listing(STATS_NAMINGS)),
                )
            })?,
        },
    })
}

/// Whether binding `a` and `b` would collide: one fixed port, and the same
/// IP or a wildcard of the same family. Port 0 picks a fresh port each time.
fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A log path naming a directory would fail only when the first line is written.
pub(super) fn not_a_directory(field: &str, path: &str) -> Result<(), ConfigError> {
    if std::path::Path::new(path).is_dir() {
        return Err(ConfigError::invalid(
            field,
            format!("`{path}` is a directory; give a file path"),
        ));
    }
    Ok(())
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_addr(field: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.trim().parse().map_err(|_| {
        ConfigError::invalid(
            field,
            format!("`{text}` is not an ip:port address (e.g. 0.0.0.0:8000 or [::1]:8000)"),
        )
    })
}

fn parse_resolvers(field: &str, list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let f = format!("{field}[{i}]");
            // A bare IP means port 53.
            match s.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SocketAddr::new(ip, 53)),
                Err(_) => parse_addr(&f, s),
            }
        })
        .collect()
}

fn validate_listener(
    path: &str,
    index: usize,
    rl: &RawListener,
    clusters: &HashMap<String, usize>,
) -> Result<ListenerConfig, ConfigError> {
    let address = parse_addr(&format!("{path}.address"), &rl.address)?;
    let mut limits = RequestLimits::default();
    if let Some(n) = rl.max_request_headers_size {
        limits.max_header_bytes = bounded(
            &format!("{path}.max_request_headers_size"),
            n.0,
            1024,
            limits::MAX_HEADER_BYTES_CEILING as u64,
        )? as usize;
    }
    if let Some(n) = rl.max_request_headers_count {
        limits.max_headers = bounded(
            &format!("{path}.max_request_headers_count"),
            n as u64,
            1,
            limits::MAX_HEADERS_CEILING as u64,
        )? as usize;
    }
    if let Some(n) = rl.max_uri_size {
        limits.max_uri_bytes = bounded(
            &format!("{path}.max_uri_size"),
            n.0,
            16,
            limits::MAX_HEADER_BYTES_CEILING as u64,
        )? as usize;
    }
    limits.max_body_bytes = rl.max_request_body_size.map(|b| b.0);
    limits.underscores = super::validate_edge::underscores(path, rl)?;

    if rl.virtual_hosts.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.virtual_hosts"),
            "a listener needs at least one virtual host",
        ));
    }
    let listener_headers = super::validate_headers::mutations(
        path,
        super::validate_headers::RawLevel {
            request_add: &rl.request_headers_to_add,
            request_remove: &rl.request_headers_to_remove,
            response_add: &rl.response_headers_to_add,
            response_remove: &rl.response_headers_to_remove,
        },
    )?;
    let mut virtual_hosts = Vec::new();
    let mut seen_domains = HashMap::new();
    for (v, rv) in rl.virtual_hosts.iter().enumerate() {
        let vpath = format!("{path}.virtual_hosts[{v}]");
        if rv.domains.is_empty() {
            return Err(ConfigError::invalid(
                format!("{vpath}.domains"),
                "a virtual host needs at least one domain (use \"*\" for any)",
            ));
        }
        for (d, domain) in rv.domains.iter().enumerate() {
            let dpath = format!("{vpath}.domains[{d}]");
            check_domain(&dpath, domain)?;
            let key = domain.to_ascii_lowercase();
            if let Some(prev) = seen_domains.insert(key, v) {
                return Err(ConfigError::invalid(
                    dpath,
                    format!("domain `{domain}` is already served by virtual_hosts[{prev}]"),
                ));
            }
        }
        let mut routes = Vec::new();
        for (r, rr) in rv.routes.iter().enumerate() {
            let rpath = format!("{vpath}.routes[{r}]");
            routes.push(super::validate_route::validate_route(&rpath, rr, clusters)?);
        }
        let headers = super::validate_headers::mutations(
            &vpath,
            super::validate_headers::RawLevel {
                request_add: &rv.request_headers_to_add,
                request_remove: &rv.request_headers_to_remove,
                response_add: &rv.response_headers_to_add,
                response_remove: &rv.response_headers_to_remove,
            },
        )?;
        for route in &mut routes {
            route.edits = RouteEdits::chain(&[&route.headers, &headers, &listener_headers]);
            if let RouteAction::Forward(ForwardAction {
                target: Target::Weighted(w),
                ..
            }) = &mut route.action
            {
                for entry in &mut w.clusters {
                    entry.edits = RouteEdits::chain(&[
                        &entry.headers,
                        &route.headers,
                        &headers,
                        &listener_headers,
                    ]);
                }
            }
        }
        virtual_hosts.push(VirtualHostConfig {
            name: rv.name.clone().unwrap_or_else(|| format!("vhost{v}")),
            domains: rv.domains.clone(),
            routes,
            headers,
        });
    }
    let access_log = match &rl.access_log {
        None => None,
        Some(a) => Some(super::validate_log::access_log(
            &format!("{path}.access_log"),
            a,
        )?),
    };
    let health_check = match &rl.health_check {
        None => None,
        Some(h) => Some(ListenerHealthCheck {
            path: check_path(&format!("{path}.health_check.path"), &h.path)?,
        }),
    };
    let codec = match &rl.codec {
        None => ListenerCodec::Auto,
        Some(c) => super::names::parse(super::names::LISTENER_CODECS, c).ok_or_else(|| {
            ConfigError::invalid(
                format!("{path}.codec"),
                format!(
                    "`{c}` is not a codec ({})",
                    super::names::listing(super::names::LISTENER_CODECS)
                ),
            )
        })?,
    };
    let name = rl
        .name
        .clone()
        .unwrap_or_else(|| format!("listener{index}"));
    Ok(ListenerConfig {
        codec,
        tls: match &rl.tls {
            None => None,
            Some(t) => Some(super::validate_tls::listener_tls(
                &format!("{path}.tls"),
                t,
                codec,
            )?),
        },
        max_connections: super::validate_tls::max_connections(
            &format!("{path}.max_connections"),
            rl.max_connections,
        )?,
        access_log,
        health_check,
        headers: listener_headers,
        forwarding: super::validate_edge::forwarding(path, rl.forwarding.as_ref())?,
        ignore_global_connection_limit: rl.ignore_global_connection_limit.unwrap_or(false),
        max_requests_per_connection: super::validate_edge::max_requests(path, rl)?,
        request_timeout: super::validate_edge::disabled_by_zero(rl.request_timeout, None),
        stream_idle_timeout: super::validate_edge::disabled_by_zero(
            rl.stream_idle_timeout,
            Some(defaults::STREAM_IDLE_TIMEOUT),
        ),
        max_stream_duration: super::validate_edge::disabled_by_zero(rl.max_stream_duration, None),
        stat_prefix: match rl.stat_prefix.as_deref() {
            Some("") => {
                return Err(ConfigError::invalid(
                    format!("{path}.stat_prefix"),
                    "must not be empty (leave it out to use the listener's name)",
                ))
            }
            Some(p) => p.to_string(),
            None => name.clone(),
        },
        name,
        address,
        virtual_hosts,
        limits,
        request_headers_timeout: positive(
            &format!("{path}.request_headers_timeout"),
            rl.request_headers_timeout,
            defaults::REQUEST_HEADERS_TIMEOUT,
        )?,
        idle_timeout: positive(
            &format!("{path}.idle_timeout"),
            rl.idle_timeout,
            defaults::DOWNSTREAM_IDLE_TIMEOUT,
        )?,
        request_buffer: request_buffer(&format!("{path}.request_buffer"), rl.request_buffer)?,
        request_body_timeout: positive(
            &format!("{path}.request_body_timeout"),
            rl.request_body_timeout,
            defaults::REQUEST_BODY_TIMEOUT,
        )?,
        max_upstream_requests_per_client: match rl.max_upstream_requests_per_client {
            Some(0) => {
                return Err(ConfigError::invalid(
                    format!("{path}.max_upstream_requests_per_client"),
                    "must be at least 1 (0 would refuse every request)",
                ))
            }
            n => n,
        },
        request_body_min_rate: match rl.request_body_min_rate {
            Some(super::units::ByteSize(0)) => {
                return Err(ConfigError::invalid(
                    format!("{path}.request_body_min_rate"),
                    "must be at least 1 byte per second (leave it out for no minimum)",
                ))
            }
            rate => rate.map(|r| r.0),
        },
        max_connection_duration: match rl.max_connection_duration {
            None => None,
            Some(d) => Some(positive(
                &format!("{path}.max_connection_duration"),
                Some(d),
                d.0,
            )?),
        },
    })
}

pub(super) fn validate_retry(path: &str, raw: &RawRetryPolicy) -> Result<RetryPolicy, ConfigError> {
    let mut policy = RetryPolicy {
        on_5xx: false,
        on_gateway_error: false,
        on_connect_failure: false,
        on_reset: false,
        on_retriable_4xx: false,
        on_refused_stream: false,
        retriable_status_codes: raw.retriable_status_codes.clone(),
        num_retries: raw.num_retries.unwrap_or(1),
        per_try_timeout: raw.per_try_timeout.map(|d| d.0).filter(|d| !d.is_zero()),
    };
    let mut wants_codes = false;
    for token in raw
        .retry_on
        .split(retry_on::SEPARATOR)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match token {
            retry_on::FIVE_XX => policy.on_5xx = true,
            retry_on::GATEWAY_ERROR => policy.on_gateway_error = true,
            retry_on::CONNECT_FAILURE => policy.on_connect_failure = true,
            retry_on::RESET => policy.on_reset = true,
            retry_on::RETRIABLE_4XX => policy.on_retriable_4xx = true,
            retry_on::REFUSED_STREAM => policy.on_refused_stream = true,
            retry_on::RETRIABLE_STATUS_CODES => wants_codes = true,
            other => {
                return Err(ConfigError::invalid(
                    format!("{path}.retry_on"),
                    format!("`{other}` is not one of 5xx, gateway-error, connect-failure, reset, retriable-4xx, refused-stream, retriable-status-codes"),
                ))
            }
        }
    }
    if !wants_codes {
        policy.retriable_status_codes.clear();
    } else if policy.retriable_status_codes.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.retriable_status_codes"),
            "retry_on names retriable-status-codes but none are listed",
        ));
    }
    if let Some(bad) = policy
        .retriable_status_codes
        .iter()
        .find(|c| !(100..=599).contains(*c))
    {
        return Err(ConfigError::invalid(
            format!("{path}.retriable_status_codes"),
            format!("{bad} is not an HTTP status"),
        ));
    }
    if policy.num_retries > 10 {
        return Err(ConfigError::invalid(
            format!("{path}.num_retries"),
            "at most 10 retries",
        ));
    }
    Ok(policy)
}

/// A value named by a word of `table` (any case), or `default` when absent.
/// `refuse(word, the table's words)` says why another word is refused.
fn named<T: Copy + PartialEq>(
    field: &str,
    table: Names<T>,
    word: Option<&str>,
    default: T,
    refuse: impl FnOnce(&str, &str) -> String,
) -> Result<T, ConfigError> {
    let Some(word) = word else {
        return Ok(default);
    };
    parse_name(table, word).ok_or_else(|| {
        ConfigError::invalid(field, refuse(&word.to_ascii_lowercase(), &listing(table)))
    })
}

fn bounded(field: &str, n: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError::invalid(
            field,
            format!("{n} is outside the allowed range {min}..={max}"),
        ))
    }
}

fn positive(
    field: &str,
    value: Option<super::units::ConfigDuration>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(d) if d.0.is_zero() => Err(ConfigError::invalid(field, "must be greater than 0")),
        Some(d) => Ok(d.0),
    }
}

fn check_domain(field: &str, domain: &str) -> Result<(), ConfigError> {
    let ok = domain == "*"
        || (!domain.is_empty()
            && domain.matches('*').count() <= 1
            && (!domain.contains('*') || domain.starts_with('*') || domain.ends_with('*'))
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:*[]".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("`{domain}` is not a domain, `*`, `*.suffix` or `prefix.*`"),
        ))
    }
}

pub(super) fn check_path(field: &str, path: &str) -> Result<String, ConfigError> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) && !path.contains('?') {
        Ok(path.to_string())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("`{path}` must start with `/` and contain no spaces, controls or `?`"),
        ))
    }
}

fn validate_cluster(path: &str, rc: &RawCluster) -> Result<ClusterConfig, ConfigError> {
    let kind = named(
        &format!("{path}.type"),
        CLUSTER_KINDS,
        rc.kind.as_deref(),
        ClusterKind::Static,
        |w, all| format!("`{w}` is not a cluster type ({all})"),
    )?;
    let lb_policy = named(
        &format!("{path}.lb_policy"),
        LB_POLICIES,
        rc.lb_policy.as_deref(),
        LbPolicy::RoundRobin,
        |w, all| format!("`{w}` is not a supported lb_policy ({all})"),
    )?;
    let hash_policy = validate_hash_policy(path, rc)?;
    if lb_policy.uses_hash() && hash_policy.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.hash_policy"),
            "ring_hash and maglev need a hash_policy (e.g. [{ header: x-user }])",
        ));
    }
    if !lb_policy.uses_hash() && !hash_policy.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.hash_policy"),
            "hash_policy is only used by lb_policy ring_hash or maglev",
        ));
    }
    if rc.hosts.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.hosts"),
            "a cluster needs at least one host",
        ));
    }
    let mut endpoints = Vec::with_capacity(rc.hosts.len());
    let mut endpoint_weights = Vec::with_capacity(rc.hosts.len());
    for (h, raw_host) in rc.hosts.iter().enumerate() {
        let field = format!("{path}.hosts[{h}]");
        let weight = match raw_host {
            RawHost::Plain(_) => defaults::HOST_WEIGHT,
            RawHost::Weighted(w) => bounded(
                &format!("{field}.weight"),
                u64::from(w.weight.unwrap_or(defaults::HOST_WEIGHT)),
                1,
                u64::from(defaults::MAX_HOST_WEIGHT),
            )? as u32,
        };
        endpoint_weights.push(weight);
        let host = raw_host.address();
        let endpoint = match host.parse::<SocketAddr>() {
            Ok(addr) => Endpoint::Addr(addr),
            Err(_) if kind != ClusterKind::Static => parse_named(&field, host)?,
            Err(_) => {
                return Err(ConfigError::invalid(
                    field,
                    format!("`{host}` is not an ip:port address; a static cluster needs addresses (use type: strict_dns for names)"),
                ))
            }
        };
        endpoints.push(endpoint);
    }
    let dns_lookup_family = named(
        &format!("{path}.dns_lookup_family"),
        DNS_LOOKUP_FAMILIES,
        rc.dns_lookup_family.as_deref(),
        DnsLookupFamily::Auto,
        |w, all| format!("`{w}` is not one of {all}"),
    )?;
    let dns_refresh_rate = positive(
        &format!("{path}.dns_refresh_rate"),
        rc.dns_refresh_rate,
        defaults::DNS_REFRESH_RATE,
    )?;
    let protocol = named(
        &format!("{path}.protocol"),
        UPSTREAM_PROTOCOLS,
        rc.protocol.as_deref(),
        UpstreamProtocol::Http1,
        |w, all| format!("`{w}` is not an upstream protocol ({all})"),
    )?;
    let http2 = validate_upstream_http2(path, rc, protocol)?;
    if rc.max_requests_per_connection == Some(0) {
        return Err(ConfigError::invalid(
            format!("{path}.max_requests_per_connection"),
            "0 would allow no request at all; leave it out for no limit",
        ));
    }
    Ok(ClusterConfig {
        name: rc.name.clone(),
        kind,
        lb_policy,
        connect_timeout: positive(
            &format!("{path}.connect_timeout"),
            rc.connect_timeout,
            defaults::CONNECT_TIMEOUT,
        )?,
        endpoints,
        idle_timeout: positive(
            &format!("{path}.idle_timeout"),
            rc.idle_timeout,
            defaults::UPSTREAM_IDLE_TIMEOUT,
        )?,
        max_idle_per_host: rc.max_idle_per_host.unwrap_or(defaults::MAX_IDLE_PER_HOST),
        dns_refresh_rate,
        dns_failure_refresh_rate: positive(
            &format!("{path}.dns_failure_refresh_rate"),
            rc.dns_failure_refresh_rate,
            dns_refresh_rate,
        )?,
        respect_dns_ttl: rc.respect_dns_ttl.unwrap_or(false),
        dns_lookup_family,
        dns_resolvers: parse_resolvers(&format!("{path}.dns_resolvers"), &rc.dns_resolvers)?,
        endpoint_weights,
        hash_policy,
        circuit_breakers: validate_breakers(path, rc)?,
        outlier_detection: match &rc.outlier_detection {
            None => None,
            Some(od) => Some(validate_outlier(&format!("{path}.outlier_detection"), od)?),
        },
        health_checks: rc
            .health_checks
            .iter()
            .enumerate()
            .map(|(i, hc)| {
                validate_health_check(&format!("{path}.health_checks[{i}]"), &rc.name, hc)
            })
            .collect::<Result<_, _>>()?,
        ignore_health_on_host_removal: rc.ignore_health_on_host_removal.unwrap_or(false),
        tls: match &rc.tls {
            None => None,
            Some(t) => Some(super::validate_tls::cluster_tls(
                &format!("{path}.tls"),
                t,
                protocol,
            )?),
        },
        protocol,
        http2,
        max_requests_per_connection: rc.max_requests_per_connection,
    })
}

/// The `http2:` block: only with a protocol that can speak HTTP/2; windows
/// within RFC 9113's bounds (at least the 65,535-byte default, as Envoy).
fn validate_upstream_http2(
    path: &str,
    rc: &RawCluster,
    protocol: UpstreamProtocol,
) -> Result<UpstreamHttp2, ConfigError> {
    let mut out = UpstreamHttp2::default();
    let Some(raw) = &rc.http2 else {
        return Ok(out);
    };
    let field = format!("{path}.http2");
    if protocol == UpstreamProtocol::Http1 {
        return Err(ConfigError::invalid(
            field,
            "HTTP/2 settings need `protocol: http2` or `auto`",
        ));
    }
    const WINDOW_MAX: u64 = (1 << 31) - 1;
    if let Some(n) = raw.max_concurrent_streams {
        let at = format!("{field}.max_concurrent_streams");
        out.max_concurrent_streams = bounded(&at, u64::from(n), 1, WINDOW_MAX)? as u32;
    }
    if let Some(n) = raw.initial_stream_window_size {
        let at = format!("{field}.initial_stream_window_size");
        out.initial_stream_window_size = bounded(&at, u64::from(n), 65_535, WINDOW_MAX)? as u32;
    }
    if let Some(n) = raw.initial_connection_window_size {
        let at = format!("{field}.initial_connection_window_size");
        out.initial_connection_window_size = bounded(&at, u64::from(n), 65_535, WINDOW_MAX)? as u32;
    }
    if let Some(k) = &raw.keepalive {
        out.keepalive = Some(validate_h2_keepalive(&format!("{field}.keepalive"), k)?);
    }
    Ok(out)
}

/// `http2.keepalive`: a `timeout` and at least one kind of PING (`interval`,
/// `idle_interval`), every duration above 0 (a PING answered in no time, or
/// sent without pause, is no setting), jitter a percentage.
fn validate_h2_keepalive(field: &str, raw: &RawH2Keepalive) -> Result<H2Keepalive, ConfigError> {
    let optional = |key: &str, value: Option<super::units::ConfigDuration>| {
        let at = format!("{field}.{key}");
        value
            .map(|_| positive(&at, value, std::time::Duration::ZERO))
            .transpose()
    };
    let interval = optional("interval", raw.interval)?;
    let idle_interval = optional("idle_interval", raw.idle_interval)?;
    if interval.is_none() && idle_interval.is_none() {
        return Err(ConfigError::invalid(
            format!("{field}.interval"),
            "is required unless `idle_interval` is set: no PING would be sent",
        ));
    }
    let Some(timeout) = optional("timeout", raw.timeout)? else {
        return Err(ConfigError::invalid(
            format!("{field}.timeout"),
            "is required",
        ));
    };
    let interval_jitter_bp = match raw.interval_jitter_percent {
        None => H2Keepalive::DEFAULT_JITTER_BP,
        Some(p) if (0.0..=100.0).contains(&p) => (p * 100.0).round() as u32,
        Some(p) => {
            return Err(ConfigError::invalid(
                format!("{field}.interval_jitter_percent"),
                format!("{p} is not a percentage from 0 to 100"),
            ))
        }
    };
    Ok(H2Keepalive {
        interval,
        timeout,
        interval_jitter_bp,
        idle_interval,
    })
}

fn validate_hash_policy(path: &str, rc: &RawCluster) -> Result<Vec<HashPolicy>, ConfigError> {
    let mut out = Vec::with_capacity(rc.hash_policy.len());
    for (i, p) in rc.hash_policy.iter().enumerate() {
        let field = format!("{path}.hash_policy[{i}]");
        let mut set = Vec::new();
        if let Some(h) = &p.header {
            if h.is_empty() || !h.bytes().all(crate::codec::headers::is_tchar) {
                return Err(ConfigError::invalid(
                    format!("{field}.header"),
                    format!("`{h}` is not a header name"),
                ));
            }
            set.push(HashPolicy::Header(h.to_ascii_lowercase()));
        }
        if let Some(c) = &p.cookie {
            if c.is_empty() || !c.bytes().all(crate::codec::headers::is_tchar) {
                return Err(ConfigError::invalid(
                    format!("{field}.cookie"),
                    format!("`{c}` is not a cookie name"),
                ));
            }
            set.push(HashPolicy::Cookie(c.clone()));
        }
        match p.source_ip {
            Some(true) => set.push(HashPolicy::SourceIp),
            Some(false) => {
                return Err(ConfigError::invalid(
                    format!("{field}.source_ip"),
                    "source_ip: false hashes nothing; remove the entry",
                ))
            }
            None => {}
        }
        if set.len() != 1 {
            return Err(ConfigError::invalid(
                field,
                "each hash_policy entry needs exactly one of header, cookie, source_ip",
            ));
        }
        out.extend(set);
    }
    Ok(out)
}

fn validate_breakers(path: &str, rc: &RawCluster) -> Result<CircuitBreakers, ConfigError> {
    let d = CircuitBreakers::default();
    let Some(cb) = &rc.circuit_breakers else {
        return Ok(d);
    };
    let field = |name: &str| format!("{path}.circuit_breakers.{name}");
    let at_least_one = |name: &str, v: Option<u32>, default: u32| match v {
        Some(0) => Err(ConfigError::invalid(
            field(name),
            "must be at least 1 (0 would refuse every request)",
        )),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    Ok(CircuitBreakers {
        max_connections: at_least_one("max_connections", cb.max_connections, d.max_connections)?,
        max_pending_requests: at_least_one(
            "max_pending_requests",
            cb.max_pending_requests,
            d.max_pending_requests,
        )?,
        max_requests: at_least_one("max_requests", cb.max_requests, d.max_requests)?,
        // 0 retries is meaningful: no retry is ever allowed.
        max_retries: cb.max_retries.unwrap_or(d.max_retries),
    })
}

fn validate_outlier(path: &str, od: &RawOutlierDetection) -> Result<OutlierDetection, ConfigError> {
    let d = OutlierDetection::default();
    let consecutive_5xx = od.consecutive_5xx.unwrap_or(d.consecutive_5xx);
    let consecutive_gateway_failure = od
        .consecutive_gateway_failure
        .unwrap_or(d.consecutive_gateway_failure);
    if consecutive_5xx == 0 && consecutive_gateway_failure == 0 {
        return Err(ConfigError::invalid(
            path,
            "consecutive_5xx and consecutive_gateway_failure are both 0: nothing would be ejected",
        ));
    }
    let base_ejection_time = positive(
        &format!("{path}.base_ejection_time"),
        od.base_ejection_time,
        d.base_ejection_time,
    )?;
    let max_ejection_time = positive(
        &format!("{path}.max_ejection_time"),
        od.max_ejection_time,
        d.max_ejection_time.max(base_ejection_time),
    )?;
    if max_ejection_time < base_ejection_time {
        return Err(ConfigError::invalid(
            format!("{path}.max_ejection_time"),
            "must not be shorter than base_ejection_time",
        ));
    }
    Ok(OutlierDetection {
        consecutive_5xx,
        consecutive_gateway_failure,
        interval: positive(&format!("{path}.interval"), od.interval, d.interval)?,
        base_ejection_time,
        max_ejection_time,
        max_ejection_percent: bounded(
            &format!("{path}.max_ejection_percent"),
            u64::from(od.max_ejection_percent.unwrap_or(d.max_ejection_percent)),
            0,
            100,
        )? as u32,
    })
}

fn validate_health_check(
    path: &str,
    cluster: &str,
    hc: &RawHealthCheck,
) -> Result<HealthCheckConfig, ConfigError> {
    let kind = match (&hc.path, hc.tcp) {
        (Some(p), None | Some(false)) => {
            let mut expected = Vec::with_capacity(hc.expected_statuses.len());
            for (i, r) in hc.expected_statuses.iter().enumerate() {
                expected.push(parse_status_range(
                    &format!("{path}.expected_statuses[{i}]"),
                    r,
                )?);
            }
            if expected.is_empty() {
                expected.push((200, 399));
            }
            HealthCheckKind::Http {
                path: check_path(&format!("{path}.path"), p)?,
                host: hc.host.clone().unwrap_or_else(|| cluster.to_string()),
                expected,
            }
        }
        (None, Some(true)) => {
            if !hc.expected_statuses.is_empty() || hc.host.is_some() {
                return Err(ConfigError::invalid(
                    path,
                    "a tcp check has no `expected_statuses` or `host`",
                ));
            }
            HealthCheckKind::Tcp
        }
        _ => {
            return Err(ConfigError::invalid(
                path,
                "a health check needs exactly one of `path: /…` (HTTP) or `tcp: true`",
            ))
        }
    };
    let interval = positive(
        &format!("{path}.interval"),
        hc.interval,
        defaults::HC_INTERVAL,
    )?;
    let timeout = positive(&format!("{path}.timeout"), hc.timeout, defaults::HC_TIMEOUT)?;
    let threshold = |name: &str, v: Option<u32>, default: u32| {
        bounded(
            &format!("{path}.{name}"),
            u64::from(v.unwrap_or(default)),
            1,
            1000,
        )
        .map(|n| n as u32)
    };
    Ok(HealthCheckConfig {
        kind,
        interval,
        timeout,
        unhealthy_threshold: threshold(
            "unhealthy_threshold",
            hc.unhealthy_threshold,
            defaults::HC_UNHEALTHY_THRESHOLD,
        )?,
        healthy_threshold: threshold(
            "healthy_threshold",
            hc.healthy_threshold,
            defaults::HC_HEALTHY_THRESHOLD,
        )?,
    })
}

fn parse_status_range(field: &str, r: &RawStatusRange) -> Result<(u16, u16), ConfigError> {
    let bad = |what: String| {
        ConfigError::invalid(
            field,
            format!("`{what}` is not a status (100-599) or a range such as 200-399"),
        )
    };
    let (lo, hi) = match r {
        RawStatusRange::Code(c) => (*c, *c),
        RawStatusRange::Range(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let lo = a.trim().parse::<u16>().map_err(|_| bad(s.clone()))?;
            let hi = b.trim().parse::<u16>().map_err(|_| bad(s.clone()))?;
            (lo, hi)
        }
    };
    if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
        return Err(bad(format!("{lo}-{hi}")));
    }
    Ok((lo, hi))
}

fn parse_named(field: &str, text: &str) -> Result<Endpoint, ConfigError> {
    let bad = || ConfigError::invalid(field, format!("`{text}` is not name:port or ip:port"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(bad());
    }
    Ok(Endpoint::Name {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// A request buffer larger than this would let a few clients pin a lot of memory.
const MAX_REQUEST_BUFFER: u64 = 16 * 1024 * 1024;

fn request_buffer(field: &str, value: Option<super::units::ByteSize>) -> Result<u64, ConfigError> {
    let n = value.map_or(defaults::REQUEST_BUFFER, |b| b.0);
    if n > MAX_REQUEST_BUFFER {
        return Err(ConfigError::invalid(
            field,
            format!("{n} bytes is over the {MAX_REQUEST_BUFFER}-byte maximum"),
        ));
    }
    Ok(n)
}
