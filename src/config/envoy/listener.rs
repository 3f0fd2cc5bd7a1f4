//! Envoy listeners: one filter chain whose only network filter is the HTTP
//! connection manager (v2 `config:` or v3 `typed_config:`), its route config,
//! and its http_filters, of which ringway runs only the router.

use serde_yaml::Value;

use super::{
    address, common_http_rules, headers, matching,
    resilience::{self, RouteHash},
    route_action,
    walk::{is_false, is_true, Ctx, DefaultOnly, Fields, Map, Node, Refuse, Rule, Warn},
};
use crate::config::{
    raw::{RawListener, RawListenerTls, RawRetryPolicy, RawRoute, RawVirtualHost},
    units::ByteSize,
    ConfigError,
};

type Origins = Vec<(String, String)>;

const HCM_NAMES: &[&str] = &[
    "envoy.http_connection_manager",
    "envoy.filters.network.http_connection_manager",
];
const HCM_TYPES: &[&str] = &[
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager",
];
const ROUTER_NAMES: &[&str] = &["envoy.router", "envoy.filters.http.router"];
const ROUTER_TYPES: &[&str] = &[
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    "type.googleapis.com/envoy.config.filter.http.router.v2.Router",
];
const HEADERS_MUTATION: &str =
    "this header feature is not implemented (request_headers_to_add and response_headers_to_add are)";
const PER_FILTER: &str = "per-route filter config needs filters ringway lacks";
const CLIENT_CERT_HEADERS: &str =
    "forwarding client certificate details (x-forwarded-client-cert) is not implemented";

pub fn listener(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawListener, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("name", Map),
            ("address", Map),
            ("filter_chains", Map),
            ("stat_prefix", Map),
            ("access_log", Map),
            (
                "per_connection_buffer_limit_bytes",
                Warn("ringway's buffers have a fixed size"),
            ),
            (
                "tcp_fast_open_queue_length",
                Warn("TCP Fast Open is not enabled"),
            ),
            (
                "tcp_backlog_size",
                Warn("the accept backlog is fixed at 1024"),
            ),
            (
                "traffic_direction",
                Warn("traffic direction only matters to tracing"),
            ),
            ("drain_type", Warn("ringway drains on SIGTERM only")),
            (
                "listener_filters_timeout",
                Warn("ringway has no listener filters"),
            ),
            (
                "continue_on_listener_filters_timeout",
                Warn("ringway has no listener filters"),
            ),
            (
                "connection_balance_config",
                Warn("each worker accepts on its own SO_REUSEPORT socket"),
            ),
            (
                "reuse_port",
                Warn("each worker accepts on its own SO_REUSEPORT socket"),
            ),
            (
                "enable_reuse_port",
                Warn("each worker accepts on its own SO_REUSEPORT socket"),
            ),
            (
                "metadata",
                Warn("metadata only matters to filters ringway lacks"),
            ),
            (
                "ignore_global_conn_limit",
                Warn("ringway has no global connection limit"),
            ),
            (
                "max_connections_to_accept_per_socket_event",
                Warn("accepting is not tunable"),
            ),
            (
                "bind_to_port",
                DefaultOnly(is_true, "listeners that do not bind are not implemented"),
            ),
            (
                "use_original_dst",
                DefaultOnly(
                    is_false,
                    "original destination redirection is not implemented",
                ),
            ),
            (
                "transparent",
                DefaultOnly(is_false, "transparent proxying is not implemented"),
            ),
            (
                "freebind",
                DefaultOnly(is_false, "IP_FREEBIND is not implemented"),
            ),
            (
                "enable_mptcp",
                DefaultOnly(is_false, "MPTCP is not implemented"),
            ),
            ("listener_filters", Map),
            (
                "socket_options",
                Refuse("socket options are not implemented"),
            ),
            (
                "default_filter_chain",
                Refuse("filter chain matching is not implemented"),
            ),
            (
                "filter_chain_matcher",
                Refuse("filter chain matching is not implemented"),
            ),
            (
                "udp_listener_config",
                Refuse("UDP listeners are not implemented"),
            ),
            (
                "additional_addresses",
                Refuse("a listener has one address; write one listener per address"),
            ),
            ("api_listener", Refuse("API listeners are not implemented")),
            (
                "internal_listener",
                Refuse("internal listeners are not implemented"),
            ),
            (
                "deprecated_v1",
                Refuse("v1 listener options are not implemented"),
            ),
        ],
    )?;
    origins.push((native.to_string(), node.path.clone()));
    let mut rl = RawListener::default();
    match f.get("address") {
        Some(a) => {
            let (addr, at) = address(cx, &a)?;
            origins.push((format!("{native}.address"), at));
            rl.address = addr;
        }
        None => return Err(cx.invalid(&node.path, "a listener needs an `address`")),
    }
    if let Some(n) = f.get("name") {
        rl.name = Some(cx.string(&n)?);
    }
    if let Some(p) = f.get("stat_prefix") {
        stat_prefix(cx, &p, &mut rl)?;
    }
    if let Some(logs) = f.get("access_log") {
        super::access_log::listener_logs(cx, &logs)?;
    }
    if let Some(lf) = f.get("listener_filters") {
        listener_filters(cx, &lf)?;
    }

    let Some(chains) = f.get("filter_chains") else {
        return Err(cx.invalid(&node.path, "a listener needs `filter_chains`"));
    };
    let chains = cx.seq(&chains)?;
    let Some(primary) = primary_chain(cx, &chains)? else {
        return Err(cx.invalid(&node.path, "a listener needs one filter chain"));
    };
    let chain = &chains[primary];
    let c = cx.fields(chain, CHAIN_FIELDS)?;
    rl.tls = match (c.get("transport_socket"), c.get("tls_context")) {
        (Some(_), Some(t)) => {
            return Err(cx.invalid(&t.path, "give transport_socket or tls_context, not both"))
        }
        (Some(s), None) => super::tls::listener_socket(cx, &s, native, origins)?,
        (None, Some(t)) => Some(super::tls::downstream_context(cx, &t, native, origins)?),
        (None, None) => None,
    };
    if let Some(t) = c.get("transport_socket_connect_timeout") {
        match rl.tls.as_mut() {
            Some(tls) => {
                tls.handshake_timeout = Some(cx.duration(&t)?);
                origins.push((format!("{native}.tls.handshake_timeout"), t.path.clone()));
            }
            None => cx.warn(
                &t.path,
                "ignored: a plaintext filter chain has no handshake to time out",
            ),
        }
    }
    let filters = match c.get("filters") {
        Some(fs) => cx.seq(&fs)?,
        None => Vec::new(),
    };
    let mut hcm = None;
    for filter in &filters {
        let body = network_filter(cx, filter)?;
        if hcm.is_some() {
            return Err(cx.unsupported(
                &filter.path,
                "one http_connection_manager per listener is implemented",
            ));
        }
        hcm = Some(body);
    }
    let Some(hcm) = hcm else {
        return Err(cx.unsupported(
            &chain.path,
            "a listener without an http_connection_manager (plain TCP proxying) is not implemented",
        ));
    };
    connection_manager(cx, &hcm, native, &mut rl, origins)?;
    for (k, other) in chains.iter().enumerate() {
        if k != primary {
            add_sni_chain(cx, other, &c, &mut rl, native, origins)?;
        }
    }
    Ok(rl)
}

/// What a filter chain may say (the same rules for every chain of a listener).
const CHAIN_FIELDS: &[(&str, Rule)] = &[
    ("filters", Map),
    (
        "name",
        Warn("filter chain names only matter to filter chain matching"),
    ),
    (
        "metadata",
        Warn("metadata only matters to filters ringway lacks"),
    ),
    ("transport_socket_connect_timeout", Map),
    ("filter_chain_match", Map),
    (
        "use_proxy_proto",
        DefaultOnly(is_false, "the PROXY protocol is not implemented"),
    ),
    ("tls_context", Map),
    ("transport_socket", Map),
];

/// The server names a chain's `filter_chain_match` selects it by (empty: the
/// default chain). Matching on anything else is refused.
fn server_names(cx: &mut Ctx, chain: &Node) -> Result<Vec<String>, ConfigError> {
    let Some(v) = chain.v.get("filter_chain_match") else {
        return Ok(Vec::new());
    };
    let m = chain.child("filter_chain_match", v);
    let f = cx.fields(
        &m,
        &[
            ("server_names", Map),
            ("transport_protocol", Map),
            (
                "application_protocols",
                Refuse("filter chains by ALPN are not implemented"),
            ),
            (
                "destination_port",
                Refuse("filter chains by destination port are not implemented"),
            ),
            (
                "prefix_ranges",
                Refuse("filter chains by destination address are not implemented"),
            ),
            (
                "source_prefix_ranges",
                Refuse("filter chains by source address are not implemented"),
            ),
            (
                "direct_source_prefix_ranges",
                Refuse("filter chains by source address are not implemented"),
            ),
            (
                "source_ports",
                Refuse("filter chains by source port are not implemented"),
            ),
            (
                "source_type",
                Refuse("filter chains by source type are not implemented"),
            ),
            (
                "address_suffix",
                Refuse("filter chains by address suffix are not implemented"),
            ),
            (
                "suffix_len",
                Refuse("filter chains by address suffix are not implemented"),
            ),
        ],
    )?;
    if let Some(t) = f.get("transport_protocol") {
        let proto = cx.string(&t)?;
        if proto != "tls" {
            return Err(cx.unsupported(
                &t.path,
                format!(
                    "filter chains by transport protocol `{proto}` are not implemented (`tls` is)"
                ),
            ));
        }
    }
    match f.get("server_names") {
        None => Ok(Vec::new()),
        Some(n) => cx.seq(&n)?.iter().map(|v| cx.string(v)).collect(),
    }
}

/// Which chain is the listener's own (the default, matched by no server name);
/// the others may only add certificates chosen by SNI. `None`: no chain.
///
/// Envoy picks a filter chain by SNI; ringway picks a certificate by SNI, from
/// the names in each certificate. So chains map when they differ only in their
/// `server_names` and their certificates, and each certificate covers its
/// chain's names (`add_sni_chain` checks the rest).
fn primary_chain(cx: &mut Ctx, chains: &[Node]) -> Result<Option<usize>, ConfigError> {
    let mut default = None;
    for (k, chain) in chains.iter().enumerate() {
        if !server_names(cx, chain)?.is_empty() {
            continue;
        }
        if default.is_some() {
            return Err(cx.unsupported(
                &chain.path,
                "two filter chains without filter_chain_match (two defaults) are not implemented: which one serves would be ambiguous",
            ));
        }
        default = Some(k);
    }
    if chains.is_empty() {
        return Ok(None);
    }
    if default.is_none() {
        cx.warn(
            &chains[0].path,
            "every filter chain names its server_names: Envoy closes a connection whose SNI matches none, \
             ringway serves it the first chain's certificate",
        );
    }
    Ok(Some(default.unwrap_or(0)))
}

/// A filter chain selected by `server_names` that differs from the listener's
/// own only in its TLS certificates: its certificates join the listener's,
/// where SNI picks them. Any other difference is refused.
fn add_sni_chain(
    cx: &mut Ctx,
    chain: &Node,
    primary: &Fields<'_>,
    rl: &mut RawListener,
    native: &str,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let c = cx.fields(chain, CHAIN_FIELDS)?;
    let same_filters = c.get("filters").map(|n| n.v) == primary.get("filters").map(|n| n.v);
    if !same_filters {
        return Err(cx.unsupported(
            &chain.path,
            "filter chains with different filters are not implemented: only chains that differ in \
             server_names and certificates map (their certificates are chosen by SNI)",
        ));
    }
    let mut chain_origins = Origins::new();
    let tls = match (c.get("transport_socket"), c.get("tls_context")) {
        (Some(s), None) => super::tls::listener_socket(cx, &s, native, &mut chain_origins)?,
        (None, Some(t)) => Some(super::tls::downstream_context(
            cx,
            &t,
            native,
            &mut chain_origins,
        )?),
        _ => None,
    };
    let (Some(mut tls), Some(own)) = (tls, rl.tls.as_mut()) else {
        return Err(cx.unsupported(
            &chain.path,
            "a filter chain chosen by server_names maps only beside a TLS default chain, with TLS itself",
        ));
    };
    let offset = own.certificates.len();
    let certificates = std::mem::take(&mut tls.certificates);
    let settings = |t: &RawListenerTls| {
        serde_yaml::to_value(RawListenerTls {
            certificates: Vec::new(),
            ..t.clone()
        })
        .ok()
    };
    let mut own_settings = own.clone();
    own_settings.certificates.clear();
    if settings(&tls) != settings(&own_settings) {
        return Err(cx.unsupported(
            &chain.path,
            "filter chains whose TLS settings differ beyond their certificates are not implemented",
        ));
    }
    own.certificates.extend(certificates);
    // Errors in these certificates name this chain's fields.
    let prefix = format!("{native}.tls.certificates[");
    for (field, at) in chain_origins {
        if let Some(rest) = field.strip_prefix(&prefix) {
            if let Some((i, tail)) = rest.split_once(']') {
                if let Ok(i) = i.parse::<usize>() {
                    origins.push((format!("{prefix}{}]{tail}", i + offset), at));
                }
            }
        }
    }
    Ok(())
}

const TLS_INSPECTOR_NAMES: &[&str] = &[
    "envoy.filters.listener.tls_inspector",
    "envoy.listener.tls_inspector",
];
const TLS_INSPECTOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

/// Listener filters: only the TLS inspector maps (ringway reads SNI and ALPN in
/// its own handshake); any other is refused.
fn listener_filters(cx: &mut Ctx, node: &Node) -> Result<(), ConfigError> {
    for filter in cx.seq(node)? {
        let f = cx.fields(
            &filter,
            &[
                ("name", Map),
                ("config", Map),
                ("typed_config", Map),
                (
                    "filter_disabled",
                    Refuse("conditional listener filters are not implemented"),
                ),
            ],
        )?;
        let (name, _body, type_url) = extension(cx, &filter, &f)?;
        let inspector = match &type_url {
            Some(t) => t == TLS_INSPECTOR_TYPE,
            None => TLS_INSPECTOR_NAMES.contains(&name.as_str()),
        };
        if !inspector {
            return Err(cx.unsupported(
                &named_path(&filter, &f),
                "listener filters (proxy protocol, original_dst, …) are not implemented; the TLS inspector is implied",
            ));
        }
        cx.warn(
            &named_path(&filter, &f),
            "ignored: ringway reads SNI and ALPN in its own TLS handshake",
        );
    }
    Ok(())
}

/// A network filter: the HTTP connection manager's body, or an error.
/// Envoy enables upgrades per type; ringway tunnels any upgrade its upstream accepts.
const UPGRADES: &str =
    "ringway tunnels every upgrade (WebSocket and others) its upstream answers with 101";

fn network_filter<'a>(cx: &mut Ctx, filter: &Node<'a>) -> Result<Node<'a>, ConfigError> {
    let f = cx.fields(
        filter,
        &[
            ("name", Map),
            ("config", Map),
            ("typed_config", Map),
            (
                "config_discovery",
                Refuse("filter config discovery (ECDS) is not implemented"),
            ),
        ],
    )?;
    let (name, body, type_url) = extension(cx, filter, &f)?;
    let is_hcm = match &type_url {
        Some(t) => HCM_TYPES.contains(&t.as_str()),
        None => HCM_NAMES.contains(&name.as_str()),
    };
    if !is_hcm {
        let what = type_url.unwrap_or(name);
        return Err(cx.unsupported(
            &named_path(filter, &f),
            format!("network filter `{what}` is not implemented; ringway runs only the HTTP connection manager"),
        ));
    }
    Ok(body)
}

/// The name, body (`config` or `typed_config`) and `@type` of an extension entry.
pub(super) fn extension<'a>(
    cx: &mut Ctx,
    node: &Node<'a>,
    f: &Fields<'a>,
) -> Result<(String, Node<'a>, Option<String>), ConfigError> {
    let name = match f.get("name") {
        Some(n) => cx.string(&n)?,
        None => String::new(),
    };
    static NULL: Value = Value::Null;
    match (f.get("config"), f.get("typed_config")) {
        (Some(_), Some(t)) => {
            Err(cx.invalid(&t.path, "give either `config` or `typed_config`, not both"))
        }
        (Some(c), None) => Ok((name, c, None)),
        (None, Some(t)) => {
            let url = cx
                .mapping(&t)?
                .get("@type")
                .and_then(Value::as_str)
                .ok_or_else(|| cx.invalid(&t.path, "typed_config needs an `@type`"))?;
            Ok((name, t.clone(), Some(url.to_string())))
        }
        (None, None) => Ok((name, node.child("config", &NULL), None)),
    }
}

pub(super) fn named_path(node: &Node, f: &Fields) -> String {
    if f.has("name") {
        format!("{}.name", node.path)
    } else {
        node.path.clone()
    }
}

/// The connection manager's `stat_prefix` is its stats scope (Envoy naming);
/// a listener without a `name` is named by it too.
fn stat_prefix(cx: &mut Ctx, p: &Node, rl: &mut RawListener) -> Result<(), ConfigError> {
    let prefix = cx.string(p)?;
    if rl.name.is_none() {
        rl.name = Some(prefix.clone());
    }
    rl.stat_prefix = Some(prefix);
    Ok(())
}

fn connection_manager(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("@type", Map),
            ("codec_type", Map),
            ("stat_prefix", Map),
            ("route_config", Map),
            ("http_filters", Map),
            ("access_log", Map),
            ("common_http_protocol_options", Map),
            ("idle_timeout", Map),
            ("request_headers_timeout", Map),
            ("max_request_headers_kb", Map),
            (
                "http2_protocol_options",
                Warn("HTTP/2 to clients runs with ringway's own limits (128 streams, 256 KiB stream windows)"),
            ),
            (
                "drain_timeout",
                Warn("the process-wide drain_timeout applies"),
            ),
            (
                "delayed_close_timeout",
                Warn("connections close once the response is written"),
            ),
            (
                "generate_request_id",
                Warn("ringway does not generate x-request-id"),
            ),
            (
                "preserve_external_request_id",
                Warn("ringway passes x-request-id through unchanged"),
            ),
            (
                "use_remote_address",
                DefaultOnly(is_false, "x-forwarded-for handling is not implemented"),
            ),
            (
                "skip_xff_append",
                DefaultOnly(is_false, "x-forwarded-for handling is not implemented"),
            ),
            (
                "xff_num_trusted_hops",
                DefaultOnly(
                    |v| v.as_u64() == Some(0),
                    "x-forwarded-for handling is not implemented",
                ),
            ),
            (
                "normalize_path",
                DefaultOnly(is_false, "path normalization is not implemented"),
            ),
            (
                "merge_slashes",
                DefaultOnly(is_false, "path normalization is not implemented"),
            ),
            (
                "rds",
                Refuse("RDS (dynamic routes) is not implemented; give route_config"),
            ),
            ("scoped_routes", Refuse("scoped routes are not implemented")),
            ("tracing", Refuse("tracing is not implemented")),
            ("add_user_agent", Refuse(HEADERS_MUTATION)),
            (
                "server_name",
                Refuse("the server header is not configurable"),
            ),
            (
                "server_header_transformation",
                Refuse("the server header is not configurable"),
            ),
            ("via", Refuse(HEADERS_MUTATION)),
            (
                "stream_idle_timeout",
                Refuse(
                    "stream idle timeouts are not implemented; the route timeout bounds a request",
                ),
            ),
            (
                "request_timeout",
                Refuse("whole-request timeouts are not implemented"),
            ),
            (
                "http_protocol_options",
                Refuse("HTTP/1.1 codec options are not implemented"),
            ),
            ("upgrade_configs", Warn(UPGRADES)),
            ("forward_client_cert_details", Refuse(CLIENT_CERT_HEADERS)),
            (
                "set_current_client_cert_details",
                Refuse(CLIENT_CERT_HEADERS),
            ),
            (
                "internal_address_config",
                Refuse("internal address detection is not implemented"),
            ),
            (
                "local_reply_config",
                Refuse("local reply rewriting is not implemented"),
            ),
            (
                "strip_matching_host_port",
                Refuse("host port stripping is not implemented"),
            ),
            (
                "strip_any_host_port",
                Refuse("host port stripping is not implemented"),
            ),
            (
                "path_with_escaped_slashes_action",
                Refuse("path normalization is not implemented"),
            ),
            (
                "proxy_100_continue",
                Refuse("100-continue proxying is not implemented"),
            ),
            (
                "stream_error_on_invalid_http_message",
                Refuse("invalid messages always close the connection"),
            ),
            (
                "original_ip_detection_extensions",
                Refuse("extensions are not implemented"),
            ),
            (
                "max_stream_duration",
                Refuse("stream duration limits are not implemented"),
            ),
            (
                "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
                Refuse("x-forwarded-for handling is not implemented"),
            ),
            ("early_header_mutation_extensions", Refuse(HEADERS_MUTATION)),
            (
                "request_id_extension",
                Refuse("request id extensions are not implemented"),
            ),
        ],
    )?;
    let hcm = &node.path;
    if let Some(c) = f.get("codec_type") {
        let codec = match cx.string(&c)?.to_ascii_lowercase().as_str() {
            "auto" => "auto",
            "http1" => "http1",
            "http2" => "http2",
            "http3" => return Err(cx.unsupported(&c.path, "HTTP/3 to clients is not implemented")),
            other => {
                return Err(cx.parse_error(
                    &c.path,
                    format!("`{other}` is not AUTO, HTTP1, HTTP2 or HTTP3"),
                ))
            }
        };
        rl.codec = Some(codec.to_string());
    }
    if let Some(p) = f.get("stat_prefix") {
        stat_prefix(cx, &p, rl)?;
    }
    if let Some(logs) = f.get("access_log") {
        super::access_log::request_logs(cx, &logs, native, rl, origins)?;
    }
    if let Some(t) = f.get("idle_timeout") {
        rl.idle_timeout = Some(cx.duration(&t)?);
        origins.push((format!("{native}.idle_timeout"), t.path.clone()));
    }
    if let Some(o) = f.get("common_http_protocol_options") {
        let o = cx.fields(&o, &common_http_rules("downstream"))?;
        if let Some(t) = o.get("idle_timeout") {
            rl.idle_timeout = Some(cx.duration(&t)?);
            origins.push((format!("{native}.idle_timeout"), t.path.clone()));
        }
        if let Some(t) = o.get("max_connection_duration") {
            rl.max_connection_duration = Some(cx.duration(&t)?);
            origins.push((format!("{native}.max_connection_duration"), t.path.clone()));
        }
        if let Some(n) = o.get("max_headers_count") {
            rl.max_request_headers_count = Some(cx.uint(&n, u32::MAX as u64)? as usize);
            origins.push((
                format!("{native}.max_request_headers_count"),
                n.path.clone(),
            ));
        }
    }
    if let Some(t) = f.get("request_headers_timeout") {
        rl.request_headers_timeout = Some(cx.duration(&t)?);
        origins.push((format!("{native}.request_headers_timeout"), t.path.clone()));
    }
    if let Some(kb) = f.get("max_request_headers_kb") {
        rl.max_request_headers_size = Some(ByteSize(cx.uint(&kb, 8192)? * 1024));
        origins.push((
            format!("{native}.max_request_headers_size"),
            kb.path.clone(),
        ));
    }
    if let Some(hf) = f.get("http_filters") {
        http_filters(cx, &hf)?;
    }
    let Some(rc) = f.get("route_config") else {
        return Err(cx.invalid(hcm, "the connection manager needs a `route_config`"));
    };
    route_config(cx, &rc, native, rl, origins)
}

fn http_filters(cx: &mut Ctx, node: &Node) -> Result<(), ConfigError> {
    let list = cx.seq(node)?;
    let mut router = false;
    for filter in &list {
        let f = cx.fields(
            filter,
            &[
                ("name", Map),
                ("config", Map),
                ("typed_config", Map),
                ("is_optional", Map),
                (
                    "disabled",
                    DefaultOnly(
                        is_false,
                        "disabled filters need per-route filter config, which is not implemented",
                    ),
                ),
                (
                    "config_discovery",
                    Refuse("filter config discovery (ECDS) is not implemented"),
                ),
            ],
        )?;
        let (name, body, type_url) = extension(cx, filter, &f)?;
        let is_router = match &type_url {
            Some(t) => ROUTER_TYPES.contains(&t.as_str()),
            None => ROUTER_NAMES.contains(&name.as_str()),
        };
        if !is_router {
            let what = type_url.unwrap_or(name);
            return Err(cx.unsupported(
                &named_path(filter, &f),
                format!("http filter `{what}` is not implemented; ringway runs only the router"),
            ));
        }
        if let Some(o) = f.get("is_optional") {
            cx.boolean(&o)?;
        }
        cx.fields(
            &body,
            &[
                ("@type", Map),
                ("dynamic_stats", Warn("ringway keeps its own stats")),
                ("start_child_span", Warn("tracing is not implemented")),
                (
                    "suppress_grpc_request_failure_code_stats",
                    Warn("ringway keeps its own stats"),
                ),
                (
                    "upstream_log",
                    Refuse("upstream access logs are not implemented"),
                ),
                (
                    "upstream_log_options",
                    Refuse("upstream access logs are not implemented"),
                ),
                (
                    "suppress_envoy_headers",
                    Refuse("ringway always adds its own x-ringway-* response headers (x-ringway-upstream-service-time); they cannot be suppressed"),
                ),
                (
                    "strict_check_headers",
                    Refuse("x-envoy- request headers are not implemented"),
                ),
                (
                    "respect_expected_rq_timeout",
                    Refuse("x-envoy- request headers are not implemented"),
                ),
                (
                    "upstream_http_filters",
                    Refuse("upstream http filters are not implemented"),
                ),
            ],
        )?;
        cx.warn(
            &named_path(filter, &f),
            "the router filter is implied: ringway always routes, and runs no other http filter",
        );
        router = true;
    }
    if !list.is_empty() && !router {
        return Err(cx.invalid(
            &node.path,
            "no router filter: Envoy would not forward any request",
        ));
    }
    Ok(())
}

fn route_config(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("virtual_hosts", Map),
            ("name", Warn("route configuration names only matter to RDS")),
            (
                "validate_clusters",
                Warn("ringway always checks that routed clusters exist"),
            ),
            (
                "max_direct_response_body_size_bytes",
                Warn("ringway allows direct response bodies of up to 1 MiB"),
            ),
            ("internal_only_headers", Refuse(HEADERS_MUTATION)),
            ("response_headers_to_add", Map),
            ("response_headers_to_remove", Map),
            ("request_headers_to_add", Map),
            ("request_headers_to_remove", Map),
            (
                "most_specific_header_mutations_wins",
                DefaultOnly(
                    is_false,
                    "only Envoy's default order is implemented: route, then virtual host, then route config (the least specific level wins)",
                ),
            ),
            (
                "cluster_specifier_plugins",
                Refuse("cluster specifier plugins are not implemented"),
            ),
            (
                "request_mirror_policies",
                Refuse("request mirroring is not implemented"),
            ),
            ("typed_per_filter_config", Refuse(PER_FILTER)),
            ("vhds", Refuse("VHDS is not implemented")),
            (
                "ignore_port_in_host_matching",
                Refuse("host matching always compares the port"),
            ),
        ],
    )?;
    // The route config's level is the listener's in the native schema.
    let level = headers::level(cx, &f, native, origins)?;
    rl.request_headers_to_add = level.request_add;
    rl.request_headers_to_remove = level.request_remove;
    rl.response_headers_to_add = level.response_add;
    rl.response_headers_to_remove = level.response_remove;
    let Some(vhs) = f.get("virtual_hosts") else {
        origins.push((format!("{native}.virtual_hosts"), node.path.clone()));
        return Ok(());
    };
    origins.push((format!("{native}.virtual_hosts"), vhs.path.clone()));
    for (v, vh) in cx.seq(&vhs)?.into_iter().enumerate() {
        let vnative = format!("{native}.virtual_hosts[{v}]");
        origins.push((vnative.clone(), vh.path.clone()));
        rl.virtual_hosts
            .push(virtual_host(cx, &vh, &vnative, origins)?);
    }
    Ok(())
}

fn virtual_host(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawVirtualHost, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("name", Map),
            ("domains", Map),
            ("routes", Map),
            (
                "virtual_clusters",
                Warn("virtual cluster stats are not kept"),
            ),
            (
                "metadata",
                Warn("metadata only matters to filters ringway lacks"),
            ),
            (
                "require_tls",
                DefaultOnly(
                    |v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("none")),
                    "redirecting plaintext requests to HTTPS (require_tls) is not implemented",
                ),
            ),
            ("rate_limits", Refuse("rate limiting is not implemented")),
            ("request_headers_to_add", Map),
            ("request_headers_to_remove", Map),
            ("response_headers_to_add", Map),
            ("response_headers_to_remove", Map),
            ("cors", Refuse("CORS is not implemented")),
            (
                "retry_policy",
                Refuse("virtual-host retry policies are not implemented; set retry_policy on each route"),
            ),
            (
                "retry_policy_typed_config",
                Refuse("retry policy extensions are not implemented; set retry_policy on each route"),
            ),
            ("hedge_policy", Refuse("request hedging is not implemented")),
            ("per_filter_config", Refuse(PER_FILTER)),
            ("typed_per_filter_config", Refuse(PER_FILTER)),
            ("include_request_attempt_count", Refuse(HEADERS_MUTATION)),
            (
                "include_attempt_count_in_response",
                Refuse(HEADERS_MUTATION),
            ),
            (
                "request_mirror_policies",
                Refuse("request mirroring is not implemented"),
            ),
            ("matcher", Refuse("generic matchers are not implemented")),
        ],
    )?;
    let level = headers::level(cx, &f, native, origins)?;
    let mut rv = RawVirtualHost {
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
        ..RawVirtualHost::default()
    };
    if let Some(n) = f.get("name") {
        rv.name = Some(cx.string(&n)?);
    }
    if let Some(ds) = f.get("domains") {
        for d in cx.seq(&ds)? {
            rv.domains.push(cx.string(&d)?);
        }
    }
    if let Some(rs) = f.get("routes") {
        for (r, route) in cx.seq(&rs)?.into_iter().enumerate() {
            let rnative = format!("{native}.routes[{r}]");
            origins.push((rnative.clone(), route.path.clone()));
            rv.routes.push(self::route(cx, &route, &rnative, origins)?);
        }
    }
    Ok(rv)
}

fn route(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawRoute, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("match", Map),
            ("route", Map),
            ("name", Map),
            ("decorator", Warn("tracing is not implemented")),
            ("tracing", Warn("tracing is not implemented")),
            (
                "metadata",
                Warn("metadata only matters to filters ringway lacks"),
            ),
            (
                "per_request_buffer_limit_bytes",
                Warn("bodies stream through fixed-size buffers"),
            ),
            ("stat_prefix", Warn("per-route stats are not kept")),
            ("redirect", Map),
            ("direct_response", Map),
            (
                "filter_action",
                Refuse("filter actions are not implemented"),
            ),
            (
                "non_forwarding_action",
                Refuse("non-forwarding actions are not implemented"),
            ),
            ("request_headers_to_add", Map),
            ("request_headers_to_remove", Map),
            ("response_headers_to_add", Map),
            ("response_headers_to_remove", Map),
            ("per_filter_config", Refuse(PER_FILTER)),
            ("typed_per_filter_config", Refuse(PER_FILTER)),
        ],
    )?;
    let Some(m) = f.get("match") else {
        return Err(cx.invalid(&node.path, "a route needs a `match`"));
    };
    let matcher = matching::route_match(cx, &m, &format!("{native}.match"), origins)?;
    let level = headers::level(cx, &f, native, origins)?;
    let name = match f.get("name") {
        Some(n) => Some(cx.string(&n)?),
        None => None,
    };
    let mut rr = RawRoute {
        name,
        matcher,
        request_headers_to_add: level.request_add,
        request_headers_to_remove: level.request_remove,
        response_headers_to_add: level.response_add,
        response_headers_to_remove: level.response_remove,
        ..RawRoute::default()
    };
    match (f.get("route"), f.get("redirect"), f.get("direct_response")) {
        (Some(action), None, None) => forward_action(cx, node, &action, native, origins, rr),
        (None, Some(r), None) => {
            rr.redirect = Some(route_action::redirect(cx, &r, native, origins)?);
            Ok(rr)
        }
        (None, None, Some(d)) => {
            rr.direct_response = Some(route_action::direct_response(cx, &d, native, origins)?);
            Ok(rr)
        }
        (None, None, None) => Err(cx.invalid(
            &node.path,
            "a route needs an action: `route`, `redirect` or `direct_response`",
        )),
        _ => Err(cx.invalid(
            &node.path,
            "a route has one action: give only one of `route`, `redirect` and `direct_response`",
        )),
    }
}

/// A `route` action: forward to a cluster.
fn forward_action(
    cx: &mut Ctx,
    node: &Node,
    action: &Node,
    native: &str,
    origins: &mut Origins,
    mut rr: RawRoute,
) -> Result<RawRoute, ConfigError> {
    let a = cx.fields(
        action,
        &[
            ("cluster", Map),
            ("prefix_rewrite", Map),
            ("timeout", Map),
            ("hash_policy", Map),
            (
                "priority",
                DefaultOnly(
                    |v| {
                        v.as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case("default"))
                    },
                    "priority routing is not implemented",
                ),
            ),
            ("auto_host_rewrite", Map),
            (
                "include_vh_rate_limits",
                DefaultOnly(is_false, "rate limiting is not implemented"),
            ),
            (
                "append_x_forwarded_host",
                DefaultOnly(is_false, HEADERS_MUTATION),
            ),
            (
                "cluster_header",
                Refuse("cluster_header is not implemented; name the cluster"),
            ),
            ("weighted_clusters", Map),
            (
                "cluster_specifier_plugin",
                Refuse("cluster specifier plugins are not implemented"),
            ),
            (
                "inline_cluster_specifier_plugin",
                Refuse("cluster specifier plugins are not implemented"),
            ),
            ("regex_rewrite", Map),
            (
                "path_rewrite_policy",
                Refuse("path rewrite extensions are not implemented; use prefix_rewrite"),
            ),
            // v2's name for host_rewrite_literal.
            ("host_rewrite", Map),
            ("host_rewrite_literal", Map),
            (
                "host_rewrite_header",
                Refuse("Host from a request header is not implemented; use host_rewrite_literal"),
            ),
            (
                "host_rewrite_path_regex",
                Refuse("Host from a path regex is not implemented; use host_rewrite_literal"),
            ),
            ("retry_policy", Map),
            (
                "retry_policy_typed_config",
                Refuse("retry policy extensions are not implemented; use retry_policy"),
            ),
            ("hedge_policy", Refuse("request hedging is not implemented")),
            (
                "idle_timeout",
                Refuse("per-route idle timeouts are not implemented; use timeout"),
            ),
            (
                "request_mirror_policy",
                Refuse("request mirroring is not implemented"),
            ),
            (
                "request_mirror_policies",
                Refuse("request mirroring is not implemented"),
            ),
            ("rate_limits", Refuse("rate limiting is not implemented")),
            ("cors", Refuse("CORS is not implemented")),
            (
                "max_grpc_timeout",
                Refuse("gRPC timeouts are not implemented"),
            ),
            (
                "grpc_timeout_offset",
                Refuse("gRPC timeouts are not implemented"),
            ),
            ("upgrade_configs", Warn(UPGRADES)),
            ("use_websocket", Warn(UPGRADES)),
            (
                "internal_redirect_policy",
                Refuse("internal redirects are not implemented"),
            ),
            (
                "internal_redirect_action",
                Refuse("internal redirects are not implemented"),
            ),
            (
                "max_internal_redirects",
                Refuse("internal redirects are not implemented"),
            ),
            (
                "max_stream_duration",
                Refuse("stream duration limits are not implemented"),
            ),
            (
                "cluster_not_found_response_code",
                Refuse("routes to unknown clusters are refused at load"),
            ),
            (
                "metadata_match",
                Refuse("subset load balancing is not implemented"),
            ),
            (
                "early_data_policy",
                Refuse("TLS early data is not implemented"),
            ),
        ],
    )?;
    match (a.get("cluster"), a.get("weighted_clusters")) {
        (Some(c), None) => {
            rr.cluster = Some(cx.string(&c)?);
            origins.push((format!("{native}.cluster"), c.path.clone()));
        }
        (None, Some(w)) => {
            rr.weighted_clusters = route_action::weighted_clusters(cx, &w, native, origins)?;
        }
        (None, None) => {
            return Err(cx.invalid(
                &action.path,
                "a route action needs a `cluster` or `weighted_clusters`",
            ))
        }
        (Some(_), Some(w)) => {
            return Err(cx.invalid(&w.path, "give `cluster` or `weighted_clusters`, not both"))
        }
    }
    if let Some(p) = a.get("prefix_rewrite") {
        rr.prefix_rewrite = Some(cx.string(&p)?);
        origins.push((format!("{native}.prefix_rewrite"), p.path.clone()));
    }
    if let Some(h) = a
        .get("host_rewrite_literal")
        .or_else(|| a.get("host_rewrite"))
    {
        rr.host_rewrite = Some(cx.string(&h)?);
        origins.push((format!("{native}.host_rewrite"), h.path.clone()));
    }
    if let Some(r) = a.get("regex_rewrite") {
        rr.regex_rewrite = Some(matching::regex_rewrite(cx, &r, native, origins)?);
    }
    if let Some(h) = a.get("auto_host_rewrite") {
        rr.auto_host_rewrite = Some(cx.boolean(&h)?);
        origins.push((format!("{native}.auto_host_rewrite"), h.path.clone()));
    }
    if let Some(t) = a.get("timeout") {
        rr.timeout = Some(cx.duration(&t)?);
        origins.push((format!("{native}.timeout"), t.path.clone()));
    }
    if let Some(p) = a.get("retry_policy") {
        rr.retry_policy = Some(retry_policy(
            cx,
            &p,
            &format!("{native}.retry_policy"),
            origins,
        )?);
    }
    // ringway hashes per cluster: kept for the merge once every cluster is read.
    // A weighted route's hash policy applies to each of its clusters.
    let (policies, path) = match a.get("hash_policy") {
        Some(h) => (resilience::route_hash_policy(cx, &h)?, h.path.clone()),
        None => (Vec::new(), node.path.clone()),
    };
    let clusters = rr
        .cluster
        .iter()
        .cloned()
        .chain(rr.weighted_clusters.iter().map(|w| w.cluster.clone()));
    for cluster in clusters {
        cx.route_hashes.push(RouteHash {
            cluster,
            policies: policies.clone(),
            path: path.clone(),
        });
    }
    Ok(rr)
}

/// A route's `retry_policy`: the conditions and counts ringway implements map
/// across; its own backoff and host choice stand in for Envoy's tuning knobs.
fn retry_policy(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawRetryPolicy, ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("retry_on", Map),
            ("num_retries", Map),
            ("per_try_timeout", Map),
            ("retriable_status_codes", Map),
            ("retry_back_off", Warn("ringway backs off by itself: jittered, 25 ms doubling to 250 ms")),
            ("retry_host_predicate", Warn("ringway retries on the next host of the balancer whenever the cluster has another")),
            ("host_selection_retry_max_attempts", Warn("ringway retries on the next host of the balancer whenever the cluster has another")),
            ("per_try_idle_timeout", Refuse("per-try idle timeouts are not implemented; use per_try_timeout")),
            ("retry_priority", Refuse("priority levels are not implemented")),
            ("retriable_headers", Refuse("retrying on response headers is not implemented")),
            ("retriable_request_headers", Refuse("retrying on request headers is not implemented")),
            ("rate_limited_retry_back_off", Refuse("rate-limited backoff is not implemented")),
            ("retry_options_predicates", Refuse("retry option predicates are not implemented")),
        ],
    )?;
    let mut rp = RawRetryPolicy::default();
    match f.get("retry_on") {
        Some(r) => {
            rp.retry_on = cx.string(&r)?;
            origins.push((format!("{native}.retry_on"), r.path.clone()));
        }
        None => return Err(cx.invalid(&node.path, "a retry_policy needs `retry_on`")),
    }
    if let Some(n) = f.get("num_retries") {
        rp.num_retries = Some(cx.uint(&n, u64::from(u32::MAX))? as u32);
        origins.push((format!("{native}.num_retries"), n.path.clone()));
    }
    if let Some(t) = f.get("per_try_timeout") {
        rp.per_try_timeout = Some(cx.duration(&t)?);
    }
    if let Some(codes) = f.get("retriable_status_codes") {
        for c in cx.seq(&codes)? {
            rp.retriable_status_codes.push(cx.uint(&c, 999)? as u16);
        }
        origins.push((
            format!("{native}.retriable_status_codes"),
            codes.path.clone(),
        ));
    }
    Ok(rp)
}
