//! Envoy listeners: one filter chain whose only network filter is the HTTP
//! connection manager (v2 `config:` or v3 `typed_config:`), its route config,
//! and its http_filters, of which ringway runs only the router.

use super::{
    common::{address, extension, named_path},
    headers, matching, resilience, route_action,
    rules::listener as rules,
    walk::{Ctx, Fields, Node, Origins, RouteHash},
};
use crate::config::{
    raw::{RawListener, RawListenerTls, RawRetryPolicy, RawRoute, RawVirtualHost},
    units::ByteSize,
    ConfigError,
};

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

pub fn listener(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawListener, ConfigError> {
    let f = cx.fields(node, rules::LISTENER)?;
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
    if let Some(b) = f.get("ignore_global_conn_limit") {
        rl.ignore_global_connection_limit = Some(cx.boolean(&b)?);
    }
    if let Some(n) = f.get("per_connection_buffer_limit_bytes") {
        super::edge::buffer_limit(cx, &n, native, &mut rl, origins)?;
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
    let c = cx.fields(chain, rules::FILTER_CHAIN)?;
    rl.tls = chain_tls(cx, &c, native, origins)?;
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

/// The primary chain's TLS, from `transport_socket` or v2 `tls_context`, with
/// its handshake timeout.
fn chain_tls(
    cx: &mut Ctx,
    c: &Fields,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawListenerTls>, ConfigError> {
    let mut tls = match (c.get("transport_socket"), c.get("tls_context")) {
        (Some(_), Some(t)) => {
            return Err(cx.invalid(&t.path, "give transport_socket or tls_context, not both"))
        }
        (Some(s), None) => super::tls::listener_socket(cx, &s, native, origins)?,
        (None, Some(t)) => Some(super::tls::downstream_context(cx, &t, native, origins)?),
        (None, None) => None,
    };
    if let Some(t) = c.get("transport_socket_connect_timeout") {
        match tls.as_mut() {
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
    Ok(tls)
}

/// The server names a chain's `filter_chain_match` selects it by (empty: the
/// default chain). Matching on anything else is refused.
fn server_names(cx: &mut Ctx, chain: &Node) -> Result<Vec<String>, ConfigError> {
    let Some(v) = chain.v.get("filter_chain_match") else {
        return Ok(Vec::new());
    };
    let m = chain.child("filter_chain_match", v);
    let f = cx.fields(&m, rules::FILTER_CHAIN_MATCH)?;
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
    let c = cx.fields(chain, rules::FILTER_CHAIN)?;
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
        let f = cx.fields(&filter, rules::LISTENER_FILTER)?;
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
fn network_filter<'a>(cx: &mut Ctx, filter: &Node<'a>) -> Result<Node<'a>, ConfigError> {
    let f = cx.fields(filter, rules::NETWORK_FILTER)?;
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
    let f = cx.fields(node, rules::CONNECTION_MANAGER)?;
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
        let o = cx.fields(&o, rules::HTTP_PROTOCOL_OPTIONS)?;
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
        super::edge::common_options(cx, &o, native, rl, origins)?;
    }
    super::edge::forwarding(cx, &f, native, rl, origins)?;
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
        let f = cx.fields(filter, rules::HTTP_FILTER)?;
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
        cx.fields(&body, rules::ROUTER)?;
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
    let f = cx.fields(node, rules::ROUTE_CONFIGURATION)?;
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
    let f = cx.fields(node, rules::VIRTUAL_HOST)?;
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
    let f = cx.fields(node, rules::ROUTE)?;
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
    let a = cx.fields(action, rules::ROUTE_ACTION)?;
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
    if let Some(m) = a.get("max_stream_duration") {
        super::edge::route_max_stream_duration(cx, &m, native, &mut rr, origins)?;
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

/// The `retry_on` words the native policy reads; the rest warned about.
fn retry_on(cx: &mut Ctx, r: &Node) -> Result<String, ConfigError> {
    let text = cx.string(r)?;
    let mut kept = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match rules::NEVER_MATCHING_RETRY_ON
            .iter()
            .find(|(w, _)| *w == word)
        {
            Some((_, why)) => cx.warn(&r.path, format!("`{word}` never matches: {why}")),
            None => kept.push(word),
        }
    }
    Ok(kept.join(","))
}

/// A route's `retry_policy`: the conditions and counts ringway implements map
/// across; its own backoff and host choice stand in for Envoy's tuning knobs.
fn retry_policy(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawRetryPolicy, ConfigError> {
    let f = cx.fields(node, rules::RETRY_POLICY)?;
    let mut rp = RawRetryPolicy::default();
    match f.get("retry_on") {
        Some(r) => {
            rp.retry_on = retry_on(cx, &r)?;
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
