//! The second front door: Envoy bootstrap YAML (top level `static_resources`,
//! optional `admin`) translated into ringway's native `RawConfig`, so one model
//! serves both. Reads the v2 shape (`config:` under the connection manager,
//! cluster `hosts:`) and the v3 shape (`typed_config` with `@type`, clusters with
//! `load_assignment`).
//!
//! Invariant: nothing is dropped silently. Every key of every mapping is either
//! translated, turned into a warning (a hint ringway does not need), refused as
//! `ConfigError::Unsupported` (behaviour ringway lacks), or rejected as unknown —
//! each naming its YAML path and line in the Envoy file.

mod access_log;
mod dns;
mod edge;
mod headers;
mod listener;
mod matching;
mod protocol;
mod resilience;
mod route_action;
mod runtime;
mod tls;
mod walk;

use serde_yaml::Value;

use walk::{Ctx, Map, Node, Refuse, Warn};

use super::{
    raw::{
        RawAdmin, RawCluster, RawConfig, RawHost, RawListener, RawStats, RawWeightedHost,
        RawWorkers,
    },
    ConfigError,
};

/// An Envoy file read into the native schema.
#[derive(Debug)]
pub struct Translation {
    pub raw: RawConfig,
    pub warnings: Vec<String>,
    /// Native field path → the Envoy path it came from, so an error found later
    /// by `validate()` names the place in the file the user wrote.
    pub origins: Vec<(String, String)>,
}

/// Whether a parsed YAML document is Envoy bootstrap (it has `static_resources`).
pub fn is_envoy(doc: &Value) -> bool {
    doc.as_mapping()
        .is_some_and(|m| m.contains_key("static_resources"))
}

/// Translate an Envoy bootstrap text into the native schema.
/// Envoy's sandbox has two unnamed listeners with one `stat_prefix`, which
/// names both here: their stats would collide (and Prometheus get duplicate
/// series). An unnamed listener whose name is taken gets `NAME_INDEX`.
/// Explicit duplicate names stay, for validation to refuse.
fn distinct_stat_prefix_name(
    cx: &mut Ctx,
    node: &Node,
    index: usize,
    rl: &mut RawListener,
    earlier: &[RawListener],
) {
    let Some(name) = rl.name.clone().filter(|_| node.v.get("name").is_none()) else {
        return;
    };
    if earlier.iter().any(|o| o.name.as_deref() == Some(&name)) {
        let unique = format!("{name}_{index}");
        cx.warn(
            &node.path,
            format!("`{name}` already names a listener; this one is named `{unique}`"),
        );
        rl.name = Some(unique);
    }
}

pub fn translate(source: &str) -> Result<Translation, ConfigError> {
    let doc: Value = serde_yaml::from_str(source).map_err(|e| ConfigError::Parse {
        field: "(top level)".into(),
        line: e.location().map(|l| l.line()),
        reason: super::strip_location(&e.to_string()),
    })?;
    translate_value(source, &doc)
}

fn translate_value(source: &str, doc: &Value) -> Result<Translation, ConfigError> {
    let mut cx = Ctx::new(source);
    let translated = translate_doc(&mut cx, doc);
    let refusals = std::mem::take(&mut cx.refusals);
    with_refusals(translated, refusals)
}

/// The first refusal is the error, naming its field and line as always; every
/// other refusal of the file (and an error the walk met after them) is listed
/// in its reason, so a user fixes a file in one pass, not one run per key.
fn with_refusals(
    translated: Result<Translation, ConfigError>,
    refusals: Vec<ConfigError>,
) -> Result<Translation, ConfigError> {
    let mut refusals = refusals.into_iter();
    let Some(first) = refusals.next() else {
        return translated;
    };
    let mut others: Vec<String> = refusals.map(|e| e.to_string()).collect();
    if let Err(later) = translated {
        others.push(later.to_string());
    }
    let ConfigError::Unsupported {
        field,
        line,
        mut reason,
    } = first
    else {
        return Err(first);
    };
    if !others.is_empty() {
        reason.push_str(&format!(
            " (and {} more: {})",
            others.len(),
            others.join("; ")
        ));
    }
    Err(ConfigError::Unsupported {
        field,
        line,
        reason,
    })
}

fn translate_doc(cx: &mut Ctx, doc: &Value) -> Result<Translation, ConfigError> {
    let mut origins = Vec::new();
    let root = Node::root(doc);
    let top = cx.fields(
        &root,
        &[
            ("static_resources", Map),
            ("admin", Map),
            ("node", Warn("node identity only matters to xDS servers and stats")),
            ("stats_config", Warn("stats tag extraction is not configurable")),
            ("stats_flush_interval", Warn("ringway has no stats sinks to flush")),
            ("stats_flush_on_admin", Warn("ringway has no stats sinks to flush")),
            ("watchdog", Warn("ringway has no watchdog")),
            ("watchdogs", Warn("ringway has no watchdog")),
            ("flags_path", Warn("ringway has no flag files")),
            ("enable_dispatcher_stats", Warn("ringway keeps no event-loop stats")),
            ("stats_server_version_override", Warn("ringway reports its own version")),
            ("use_tcp_for_dns_lookups", Warn("DNS is sent over UDP, retried over TCP when truncated")),
            ("dynamic_resources", Refuse("xDS (dynamic configuration) is not implemented; use static_resources")),
            ("cluster_manager", Refuse("cluster manager settings (EDS, outlier event logs, upstream bind) are not implemented")),
            ("layered_runtime", Map),
            ("runtime", Refuse("runtime overrides are not implemented")),
            ("stats_sinks", Refuse("stats sinks (statsd, metrics service) are not implemented")),
            ("tracing", Refuse("tracing is not implemented")),
            ("overload_manager", Refuse("the overload manager is not implemented")),
            ("hds_config", Refuse("health discovery service is not implemented")),
            ("header_prefix", Refuse("ringway's own headers use the fixed x-ringway- prefix")),
            ("bootstrap_extensions", Refuse("extensions are not implemented")),
            ("fatal_actions", Refuse("extensions are not implemented")),
            ("typed_dns_resolver_config", Map),
            ("dns_resolution_config", Refuse("only ringway's built-in resolver exists")),
            ("default_socket_interface", Refuse("socket interfaces are not implemented")),
            ("certificate_provider_instances", Refuse("certificate providers are not implemented; give certificates in tls_certificates")),
            ("listener_manager", Refuse("listener manager extensions are not implemented")),
        ],
    )?;

    // Each listener's own Envoy `name` (not its stat_prefix): runtime keys name it.
    let mut envoy_names: Vec<Option<String>> = Vec::new();
    let mut raw = RawConfig {
        // Envoy starts one worker per core unless --concurrency says otherwise.
        workers: Some(RawWorkers::Named("auto".into())),
        // An Envoy config's dashboards read Envoy's stat names and tags.
        stats: Some(RawStats {
            naming: Some("envoy".into()),
        }),
        ..RawConfig::default()
    };

    if let Some(sr) = top.get("static_resources") {
        let sr = cx.fields(
            &sr,
            &[
                ("listeners", Map),
                ("clusters", Map),
                (
                    "secrets",
                    Refuse("SDS secrets are not implemented; give certificates in tls_certificates (filename or inline_string)"),
                ),
            ],
        )?;
        if let Some(ls) = sr.get("listeners") {
            for (i, l) in cx.seq(&ls)?.into_iter().enumerate() {
                let native = format!("listeners[{i}]");
                let mut rl = listener::listener(cx, &l, &native, &mut origins)?;
                distinct_stat_prefix_name(cx, &l, i, &mut rl, &raw.listeners);
                raw.listeners.push(rl);
                envoy_names.push(l.v.get("name").and_then(Value::as_str).map(str::to_string));
            }
        }
        let mut cluster_paths = Vec::new();
        if let Some(cs) = sr.get("clusters") {
            for (i, c) in cx.seq(&cs)?.into_iter().enumerate() {
                let native = format!("clusters[{i}]");
                origins.push((native.clone(), c.path.clone()));
                raw.clusters.push(cluster(cx, &c, &native, &mut origins)?);
                cluster_paths.push(c.path.clone());
            }
        }
        let routes = std::mem::take(&mut cx.route_hashes);
        resilience::merge_route_hashes(
            cx,
            &routes,
            &mut raw.clusters,
            &cluster_paths,
            &mut origins,
        )?;
    }

    if let Some(a) = top.get("admin") {
        raw.admin = Some(admin(cx, &a, &mut origins)?);
    }
    if let Some(t) = top.get("typed_dns_resolver_config") {
        dns::on_bootstrap(cx, &t, &mut raw, &mut origins)?;
    }
    if let Some(rt) = top.get("layered_runtime") {
        let limits = runtime::layered_runtime(cx, &rt)?;
        for limit in &limits.listeners {
            apply_connection_limit(cx, limit, &envoy_names, &mut raw, &mut origins);
        }
        if let Some((limit, path)) = limits.global {
            raw.max_connections = Some(limit);
            origins.push(("max_connections".into(), path));
        }
    }

    Ok(Translation {
        raw,
        warnings: std::mem::take(&mut cx.warnings),
        origins,
    })
}

/// A runtime connection limit goes to the listener of that Envoy name; Envoy
/// ignores a key naming no listener, and ringway says so.
fn apply_connection_limit(
    cx: &mut Ctx,
    limit: &runtime::ConnectionLimit,
    envoy_names: &[Option<String>],
    raw: &mut RawConfig,
    origins: &mut Vec<(String, String)>,
) {
    let found = envoy_names
        .iter()
        .position(|n| n.as_deref() == Some(limit.listener.as_str()));
    match found.and_then(|i| raw.listeners.get_mut(i).map(|l| (i, l))) {
        Some((i, listener)) => {
            listener.max_connections = Some(limit.limit);
            origins.push((
                format!("listeners[{i}].max_connections"),
                limit.path.clone(),
            ));
        }
        None => cx.warn(
            &limit.path,
            format!(
                "ignored: no listener is named `{}` (Envoy ignores it too)",
                limit.listener
            ),
        ),
    }
}

/// Restate an error that `validate()` found in the translated config in terms of
/// the Envoy file: its path and line there.
pub fn restate(err: ConfigError, origins: &[(String, String)], source: &str) -> ConfigError {
    err.located_in(source, |field| envoy_path(field, origins))
}

/// The Envoy path a native field path came from: the longest recorded origin
/// that is a prefix of it, with the rest of the path appended.
pub fn envoy_path(field: &str, origins: &[(String, String)]) -> String {
    let best = origins
        .iter()
        .filter(|(native, _)| {
            field == native
                || (field.starts_with(native.as_str())
                    && matches!(field.as_bytes().get(native.len()), Some(b'.' | b'[')))
        })
        .max_by_key(|(native, _)| native.len());
    match best {
        Some((native, envoy)) => format!("{envoy}{}", &field[native.len()..]),
        None => field.to_string(),
    }
}

/// `address: { socket_address: { address, port_value } }` → `ip:port` or `name:port`.
/// Returns the text and the path of the `socket_address` it came from.
fn address(cx: &mut Ctx, node: &Node) -> Result<(String, String), ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("socket_address", Map),
            ("pipe", Refuse("unix domain sockets are not implemented")),
            (
                "envoy_internal_address",
                Refuse("internal listeners are not implemented"),
            ),
        ],
    )?;
    let sa = f
        .get("socket_address")
        .ok_or_else(|| cx.invalid(&node.path, "needs a `socket_address`"))?;
    let s = cx.fields(
        &sa,
        &[
            ("address", Map),
            ("port_value", Map),
            (
                "protocol",
                walk::DefaultOnly(
                    |v| v.as_str().is_some_and(|p| p.eq_ignore_ascii_case("tcp")),
                    "only TCP is implemented",
                ),
            ),
            (
                "named_port",
                Refuse("named ports are not implemented; use port_value"),
            ),
            (
                "resolver_name",
                Refuse("custom resolvers are not implemented"),
            ),
            (
                "ipv4_compat",
                Warn("dual-stack sockets follow the kernel's default"),
            ),
        ],
    )?;
    let host = match s.get("address") {
        Some(a) => cx.string(&a)?,
        None => return Err(cx.invalid(&sa.path, "needs an `address`")),
    };
    let port = match s.get("port_value") {
        Some(p) => cx.uint(&p, u16::MAX as u64)?,
        None => return Err(cx.invalid(&sa.path, "needs a `port_value`")),
    };
    let text = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok((text, sa.path))
}

const CLUSTER_TYPES: &[(&str, &str)] = &[
    ("static", "static"),
    ("strict_dns", "strict_dns"),
    ("logical_dns", "logical_dns"),
];

fn cluster(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Vec<(String, String)>,
) -> Result<RawCluster, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("name", Map),
            ("type", Map),
            ("lb_policy", Map),
            ("connect_timeout", Map),
            ("hosts", Map),
            ("load_assignment", Map),
            ("dns_refresh_rate", Map),
            ("dns_failure_refresh_rate", Map),
            ("respect_dns_ttl", Map),
            ("dns_lookup_family", Map),
            ("dns_resolvers", Map),
            ("common_http_protocol_options", Map),
            ("http2_protocol_options", Map),
            ("http_protocol_options", Map),
            ("typed_extension_protocol_options", Map),
            ("protocol_selection", Map),
            (
                "per_connection_buffer_limit_bytes",
                Warn("ringway's buffers have a fixed size"),
            ),
            (
                "upstream_connection_options",
                Warn("TCP keepalive tuning is not configurable"),
            ),
            (
                "cleanup_interval",
                Warn("ringway drains removed hosts' pools on each DNS update"),
            ),
            (
                "close_connections_on_host_health_failure",
                Warn("connections to a host that fails its checks stay open; the host just gets no new requests"),
            ),
            ("ignore_health_on_host_removal", Map),
            ("alt_stat_name", Warn("stats use the cluster name")),
            (
                "metadata",
                Warn("metadata only matters to filters ringway lacks"),
            ),
            (
                "track_timeout_budgets",
                Warn("timeout budget stats are not kept"),
            ),
            (
                "wait_for_warm_on_init",
                Warn("DNS clusters answer 503 until their first resolution"),
            ),
            (
                "preconnect_policy",
                Warn("connections are opened on demand"),
            ),
            (
                "use_tcp_for_dns_lookups",
                Warn("DNS is sent over UDP, retried over TCP when truncated"),
            ),
            ("health_checks", Map),
            ("outlier_detection", Map),
            ("circuit_breakers", Map),
            ("tls_context", Map),
            ("transport_socket", Map),
            ("transport_socket_matches", Map),
            ("eds_cluster_config", Refuse("EDS is not implemented")),
            (
                "cluster_type",
                Refuse("custom cluster types are not implemented"),
            ),
            (
                "lb_subset_config",
                Refuse("subset load balancing is not implemented"),
            ),
            ("common_lb_config", Map),
            ("ring_hash_lb_config", Map),
            ("maglev_lb_config", Map),
            ("least_request_lb_config", Map),
            ("round_robin_lb_config", Map),
            (
                "original_dst_lb_config",
                Refuse("ORIGINAL_DST balancing is not implemented"),
            ),
            (
                "load_balancing_policy",
                Refuse("typed load balancing policies are not implemented; use lb_policy"),
            ),
            ("max_requests_per_connection", Map),
            (
                "upstream_bind_config",
                Refuse("binding upstream sockets is not implemented"),
            ),
            (
                "upstream_http_protocol_options",
                Refuse("auto_sni / auto_san_validation are not implemented; set sni in the UpstreamTlsContext"),
            ),
            ("typed_dns_resolver_config", Map),
            (
                "dns_resolution_config",
                Refuse("only ringway's built-in resolver exists"),
            ),
            (
                "filters",
                Refuse("upstream network filters are not implemented"),
            ),
        ],
    )?;
    let name = match f.get("name") {
        Some(n) => cx.string(&n)?,
        None => return Err(cx.invalid(&node.path, "a cluster needs a `name`")),
    };
    let mut rc = RawCluster {
        name: name.clone(),
        ..RawCluster::default()
    };
    if let Some(t) = f.get("type") {
        let text = cx.string(&t)?.to_ascii_lowercase();
        rc.kind = Some(match CLUSTER_TYPES.iter().find(|(e, _)| *e == text) {
            Some((_, n)) => n.to_string(),
            None if text == "eds" => return Err(cx.unsupported(&t.path, "EDS is not implemented")),
            None if text == "original_dst" => {
                return Err(cx.unsupported(&t.path, "ORIGINAL_DST clusters are not implemented"))
            }
            None => {
                return Err(cx.parse_error(
                    &t.path,
                    format!("`{text}` is not a cluster type (STATIC, STRICT_DNS, LOGICAL_DNS)"),
                ))
            }
        });
    }
    if let Some(p) = f.get("lb_policy") {
        let text = cx.string(&p)?.to_ascii_lowercase();
        match text.as_str() {
            "round_robin" | "least_request" | "random" | "ring_hash" | "maglev" => {
                origins.push((format!("{native}.lb_policy"), p.path.clone()));
                rc.lb_policy = Some(text)
            }
            "cluster_provided" | "original_dst_lb" | "load_balancing_policy_config" => {
                return Err(cx.unsupported(
                    &p.path,
                    format!(
                        "lb_policy {} is not implemented; ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH and MAGLEV are",
                        text.to_ascii_uppercase()
                    ),
                ))
            }
            _ => return Err(cx.parse_error(&p.path, format!("`{text}` is not an Envoy lb_policy"))),
        }
    }
    if let Some(t) = f.get("connect_timeout") {
        rc.connect_timeout = Some(cx.duration(&t)?);
    }
    rc.tls = cluster_tls(cx, &f, native, origins)?;
    if let Some(t) = f.get("dns_refresh_rate") {
        rc.dns_refresh_rate = Some(cx.duration(&t)?);
    }
    if let Some(r) = f.get("dns_failure_refresh_rate") {
        let r = cx.fields(
            &r,
            &[
                ("base_interval", Map),
                (
                    "max_interval",
                    Warn("failed resolutions are retried at base_interval, without backoff"),
                ),
            ],
        )?;
        if let Some(b) = r.get("base_interval") {
            rc.dns_failure_refresh_rate = Some(cx.duration(&b)?);
        }
    }
    if let Some(b) = f.get("respect_dns_ttl") {
        rc.respect_dns_ttl = Some(cx.boolean(&b)?);
    }
    if let Some(fam) = f.get("dns_lookup_family") {
        let text = cx.string(&fam)?.to_ascii_lowercase();
        if !["auto", "v4_only", "v6_only", "v4_preferred", "all"].contains(&text.as_str()) {
            return Err(cx.parse_error(
                &fam.path,
                format!("`{text}` is not one of AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL"),
            ));
        }
        rc.dns_lookup_family = Some(text);
    }
    if let Some(rs) = f.get("dns_resolvers") {
        for r in cx.seq(&rs)? {
            let (addr, _) = address(cx, &r)?;
            rc.dns_resolvers.push(addr);
        }
    }
    if let Some(t) = f.get("typed_dns_resolver_config") {
        dns::on_cluster(cx, &t, &mut rc)?;
    }
    if let Some(o) = f.get("common_http_protocol_options") {
        let o = cx.fields(&o, &common_http_rules("upstream"))?;
        if let Some(t) = o.get("idle_timeout") {
            rc.idle_timeout = Some(cx.duration(&t)?);
        }
        if let Some(m) = o.get("max_requests_per_connection") {
            rc.max_requests_per_connection = Some(cx.uint(&m, u64::from(u32::MAX))? as u32);
            origins.push((format!("{native}.max_requests_per_connection"), m.path));
        }
    }
    protocol::cluster_protocol(cx, &f, native, origins, &mut rc)?;
    for key in [
        "ring_hash_lb_config",
        "maglev_lb_config",
        "least_request_lb_config",
        "round_robin_lb_config",
    ] {
        if let Some(c) = f.get(key) {
            resilience::lb_config(cx, key, &c)?;
        }
    }
    let zero_panic = match f.get("common_lb_config") {
        Some(c) => resilience::common_lb_config(cx, &c)?,
        None => false,
    };
    if let Some(hcs) = f.get("health_checks") {
        rc.health_checks = resilience::health_checks(cx, &hcs, native, origins)?;
    }
    if let Some(od) = f.get("outlier_detection") {
        origins.push((format!("{native}.outlier_detection"), od.path.clone()));
        rc.outlier_detection = Some(resilience::outlier_detection(cx, &od)?);
        let uneject = f.get("outlier_detection").and_then(|o| {
            o.v.get("successful_active_health_check_uneject_host")
                .cloned()
        });
        if !rc.health_checks.is_empty() && uneject.is_none() {
            cx.warn(
                &od.path,
                "Envoy ends an ejection when an active health check passes (successful_active_health_check_uneject_host defaults to true); in ringway an ejection lasts its time",
            );
        }
    }
    if (!rc.health_checks.is_empty() || rc.outlier_detection.is_some()) && !zero_panic {
        cx.warn(
            &node.path,
            "Envoy's panic threshold is 50% healthy; ringway's is 0%: it balances over unhealthy and ejected hosts only when none is left (set common_lb_config.healthy_panic_threshold: {value: 0} to say so)",
        );
    }
    if let Some(cb) = f.get("circuit_breakers") {
        rc.circuit_breakers = resilience::circuit_breakers(cx, &cb, native, origins)?;
    }
    if let Some(b) = f.get("ignore_health_on_host_removal") {
        rc.ignore_health_on_host_removal = Some(cx.boolean(&b)?);
    }

    // Endpoints: v2 `hosts:` or v3 `load_assignment:`, not both.
    match (f.get("hosts"), f.get("load_assignment")) {
        (Some(_), Some(la)) => {
            return Err(cx.invalid(
                &la.path,
                "give either `hosts` or `load_assignment`, not both",
            ))
        }
        (Some(hs), None) => {
            for h in cx.seq(&hs)? {
                let (addr, at) = address(cx, &h)?;
                origins.push((format!("{native}.hosts[{}]", rc.hosts.len()), at));
                rc.hosts.push(RawHost::Plain(addr));
            }
            origins.push((format!("{native}.hosts"), hs.path.clone()));
        }
        (None, Some(la)) => {
            load_assignment(cx, &la, &name, native, &mut rc.hosts, origins)?;
            origins.push((format!("{native}.hosts"), la.path.clone()));
        }
        (None, None) => {}
    }
    Ok(rc)
}

fn load_assignment(
    cx: &mut Ctx,
    node: &Node,
    cluster_name: &str,
    native: &str,
    hosts: &mut Vec<RawHost>,
    origins: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    let la = cx.fields(
        node,
        &[
            ("cluster_name", Map),
            ("endpoints", Map),
            ("policy", Refuse("load assignment policies (overprovisioning, drop overloads) are not implemented")),
            ("named_endpoints", Refuse("named endpoints are not implemented")),
        ],
    )?;
    if let Some(n) = la.get("cluster_name") {
        let n_text = cx.string(&n)?;
        if n_text != cluster_name {
            cx.warn(
                &n.path,
                format!("ignored: cluster_name `{n_text}` only matters to EDS; the cluster is `{cluster_name}`"),
            );
        }
    }
    let Some(eps) = la.get("endpoints") else {
        return Ok(());
    };
    for loc in cx.seq(&eps)? {
        let l = cx.fields(
            &loc,
            &[
                ("lb_endpoints", Map),
                ("locality", Warn("ringway does not balance by locality")),
                (
                    "priority",
                    walk::DefaultOnly(walk::is_zero, "priority levels are not implemented"),
                ),
                (
                    "load_balancing_weight",
                    Warn("ringway does not balance by locality"),
                ),
                ("proximity", Warn("ringway does not balance by locality")),
                (
                    "metadata",
                    Warn("metadata only matters to filters ringway lacks"),
                ),
                (
                    "leds_cluster_locality_config",
                    Refuse("LEDS is not implemented"),
                ),
            ],
        )?;
        let Some(lbs) = l.get("lb_endpoints") else {
            continue;
        };
        for lb in cx.seq(&lbs)? {
            let e = cx.fields(
                &lb,
                &[
                    ("endpoint", Map),
                    ("load_balancing_weight", Map),
                    (
                        "health_status",
                        walk::DefaultOnly(
                            |v| {
                                v.as_str().is_some_and(|s| {
                                    ["unknown", "healthy"]
                                        .contains(&s.to_ascii_lowercase().as_str())
                                })
                            },
                            "static health status other than HEALTHY is not implemented",
                        ),
                    ),
                    (
                        "metadata",
                        Warn("metadata only matters to filters ringway lacks"),
                    ),
                    (
                        "endpoint_name",
                        Refuse("named endpoints are not implemented"),
                    ),
                ],
            )?;
            let Some(ep) = e.get("endpoint") else {
                return Err(cx.invalid(&lb.path, "needs an `endpoint`"));
            };
            let ep = cx.fields(
                &ep,
                &[
                    ("address", Map),
                    (
                        "hostname",
                        Warn("ringway reports the address; host names come from DNS clusters"),
                    ),
                    (
                        "health_check_config",
                        Refuse("a health check address or port per endpoint is not implemented; checks go to the endpoint's address"),
                    ),
                    (
                        "additional_addresses",
                        Refuse("additional endpoint addresses are not implemented"),
                    ),
                ],
            )?;
            let Some(a) = ep.get("address") else {
                return Err(cx.invalid(&ep.node.path, "needs an `address`"));
            };
            let (addr, at) = address(cx, &a)?;
            let host = format!("{native}.hosts[{}]", hosts.len());
            origins.push((host.clone(), at));
            let weight = match e.get("load_balancing_weight") {
                Some(w) => {
                    origins.push((format!("{host}.weight"), w.path.clone()));
                    cx.uint(&w, u64::from(u32::MAX))? as u32
                }
                None => 1,
            };
            hosts.push(if weight == 1 {
                RawHost::Plain(addr)
            } else {
                RawHost::Weighted(RawWeightedHost {
                    address: addr,
                    weight: Some(weight),
                })
            });
        }
    }
    Ok(())
}

/// A cluster's TLS, from whichever of its three spellings it uses.
fn cluster_tls(
    cx: &mut Ctx,
    f: &walk::Fields,
    native: &str,
    origins: &mut Vec<(String, String)>,
) -> Result<Option<crate::config::raw::RawClusterTls>, ConfigError> {
    let given: Vec<Node> = [
        "transport_socket",
        "transport_socket_matches",
        "tls_context",
    ]
    .iter()
    .filter_map(|k| f.get(k))
    .collect();
    if let Some(second) = given.get(1) {
        return Err(cx.invalid(
            &second.path,
            "give one of transport_socket, transport_socket_matches or tls_context",
        ));
    }
    let Some(node) = given.first() else {
        return Ok(None);
    };
    if node.path.ends_with(".transport_socket") {
        tls::cluster_socket(cx, node, native, origins)
    } else if node.path.ends_with(".transport_socket_matches") {
        tls::cluster_socket_matches(cx, node, native, origins)
    } else {
        tls::upstream_context(cx, node, native, origins).map(Some)
    }
}

/// `common_http_protocol_options`, shared by the connection manager (downstream)
/// and clusters (upstream). Only `idle_timeout` and (downstream) `max_headers_count`
/// and `max_connection_duration` are mapped by the callers.
pub(super) fn common_http_rules(side: &str) -> Vec<(&'static str, walk::Rule)> {
    let headers = if side == "upstream" {
        Warn("ringway limits upstream response headers with its own fixed limits")
    } else {
        Map
    };
    vec![
        ("idle_timeout", Map),
        ("max_headers_count", headers),
        (
            "max_connection_duration",
            if side == "upstream" {
                Refuse("upstream connection lifetime limits are not implemented")
            } else {
                Map
            },
        ),
        (
            "max_stream_duration",
            if side == "upstream" {
                Refuse("upstream stream duration limits are not implemented")
            } else {
                Map
            },
        ),
        (
            "max_requests_per_connection",
            // Both sides: a listener's (edge) and a cluster's (HTTP/2 upstreams).
            Map,
        ),
        (
            "headers_with_underscores_action",
            if side == "upstream" {
                Refuse("ringway always allows underscores in response header names")
            } else {
                Map
            },
        ),
        (
            "max_response_headers_kb",
            Refuse("configurable response header limits are not implemented"),
        ),
    ]
}

fn admin(
    cx: &mut Ctx,
    node: &Node,
    origins: &mut Vec<(String, String)>,
) -> Result<RawAdmin, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("access_log_path", Map),
            ("address", Map),
            ("access_log", Map),
            ("profile_path", Warn("ringway has no CPU profiler endpoint")),
            (
                "socket_options",
                Refuse("socket options are not implemented"),
            ),
            (
                "ignore_global_conn_limit",
                Warn("ringway has no global connection limit"),
            ),
        ],
    )?;
    let Some(a) = f.get("address") else {
        return Err(cx.invalid(&node.path, "the admin interface needs an `address`"));
    };
    let (address, at) = address(cx, &a)?;
    origins.push(("admin.address".into(), at));
    let mut access_log_path = match f.get("access_log_path") {
        Some(p) => Some(cx.string(&p)?),
        None => None,
    };
    if let Some(logs) = f.get("access_log") {
        for log in cx.seq(&logs)? {
            let el = access_log::entry(cx, &log)?;
            if let Some(at) = el.format_path() {
                return Err(cx.unsupported(
                    at,
                    "a format for the admin interface's access log is not implemented",
                ));
            }
            if let Some((_, at)) = &el.filter {
                return Err(cx.unsupported(
                    &at.path,
                    "filters on the admin interface's access log are not implemented",
                ));
            }
            let path = el.path;
            if access_log_path.is_some() {
                return Err(
                    cx.unsupported(&log.path, "ringway's admin interface writes one access log")
                );
            }
            access_log_path = Some(path);
        }
    }
    Ok(RawAdmin {
        address,
        access_log_path,
    })
}

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
