//! Clusters: an Envoy `Cluster` (its type, balancer, DNS, TLS, health and
//! endpoints, from v2 `hosts` or v3 `load_assignment`) read into a
//! `RawCluster`. The rules of each message are in `rules/cluster.rs`; what is
//! here maps the `Map` keys, in the order the cluster's warnings are reported.

use super::{
    common::address,
    resilience,
    rules::cluster as rules,
    tls,
    walk::{Ctx, Fields, Node, Origins},
};
use crate::config::{
    raw::{RawCluster, RawClusterTls, RawHost, RawWeightedHost},
    ConfigError,
};

const CLUSTER_TYPES: &[(&str, &str)] = &[
    ("static", "static"),
    ("strict_dns", "strict_dns"),
    ("logical_dns", "logical_dns"),
];

pub fn cluster(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawCluster, ConfigError> {
    let f = cx.fields(node, rules::CLUSTER)?;
    let name = match f.get("name") {
        Some(n) => cx.string(&n)?,
        None => return Err(cx.invalid(&node.path, "a cluster needs a `name`")),
    };
    let mut rc = RawCluster {
        name: name.clone(),
        ..RawCluster::default()
    };
    if let Some(t) = f.get("type") {
        rc.kind = Some(cluster_type(cx, &t)?);
    }
    if let Some(p) = f.get("lb_policy") {
        rc.lb_policy = Some(lb_policy(cx, &p)?);
        origins.push((format!("{native}.lb_policy"), p.path.clone()));
    }
    if let Some(t) = f.get("connect_timeout") {
        rc.connect_timeout = Some(cx.duration(&t)?);
    }
    rc.tls = cluster_tls(cx, &f, native, origins)?;
    dns(cx, &f, &mut rc)?;
    if let Some(o) = f.get("common_http_protocol_options") {
        let o = cx.fields(&o, rules::UPSTREAM_HTTP_PROTOCOL_OPTIONS)?;
        if let Some(t) = o.get("idle_timeout") {
            rc.idle_timeout = Some(cx.duration(&t)?);
        }
        if let Some(m) = o.get("max_requests_per_connection") {
            rc.max_requests_per_connection = Some(cx.uint(&m, u64::from(u32::MAX))? as u32);
            origins.push((format!("{native}.max_requests_per_connection"), m.path));
        }
    }
    super::protocol::cluster_protocol(cx, &f, native, origins, &mut rc)?;
    health(cx, node, &f, native, &mut rc, origins)?;
    if let Some(b) = f.get("ignore_health_on_host_removal") {
        rc.ignore_health_on_host_removal = Some(cx.boolean(&b)?);
    }

    endpoints(cx, &f, native, &mut rc, origins)?;
    Ok(rc)
}

/// `type`: the static and DNS cluster types; EDS and ORIGINAL_DST are refused.
fn cluster_type(cx: &mut Ctx, t: &Node) -> Result<String, ConfigError> {
    let text = cx.string(t)?.to_ascii_lowercase();
    match CLUSTER_TYPES.iter().find(|(e, _)| *e == text) {
        Some((_, n)) => Ok(n.to_string()),
        None if text == "eds" => Err(cx.unsupported(&t.path, "EDS is not implemented")),
        None if text == "original_dst" => {
            Err(cx.unsupported(&t.path, "ORIGINAL_DST clusters are not implemented"))
        }
        None => Err(cx.parse_error(
            &t.path,
            format!("`{text}` is not a cluster type (STATIC, STRICT_DNS, LOGICAL_DNS)"),
        )),
    }
}

/// `lb_policy`, as ringway's lower-case balancer name.
fn lb_policy(cx: &mut Ctx, p: &Node) -> Result<String, ConfigError> {
    let text = cx.string(p)?.to_ascii_lowercase();
    match text.as_str() {
        "round_robin" | "least_request" | "random" | "ring_hash" | "maglev" => Ok(text),
        "cluster_provided" | "original_dst_lb" | "load_balancing_policy_config" => {
            Err(cx.unsupported(
                &p.path,
                format!(
                    "lb_policy {} is not implemented; ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH and MAGLEV are",
                    text.to_ascii_uppercase()
                ),
            ))
        }
        _ => Err(cx.parse_error(&p.path, format!("`{text}` is not an Envoy lb_policy"))),
    }
}

/// The DNS settings of a DNS cluster.
fn dns(cx: &mut Ctx, f: &Fields, rc: &mut RawCluster) -> Result<(), ConfigError> {
    if let Some(t) = f.get("dns_refresh_rate") {
        rc.dns_refresh_rate = Some(cx.duration(&t)?);
    }
    if let Some(r) = f.get("dns_failure_refresh_rate") {
        let r = cx.fields(&r, rules::REFRESH_RATE)?;
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
        super::dns::on_cluster(cx, &t, rc)?;
    }
    Ok(())
}

/// Balancer tuning, health checks, outlier detection and circuit breakers, and
/// the warning when Envoy's panic threshold would differ from ringway's.
fn health(
    cx: &mut Ctx,
    node: &Node,
    f: &Fields,
    native: &str,
    rc: &mut RawCluster,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
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
    Ok(())
}

/// Endpoints: v2 `hosts:` or v3 `load_assignment:`, not both.
fn endpoints(
    cx: &mut Ctx,
    f: &Fields,
    native: &str,
    rc: &mut RawCluster,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
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
            load_assignment(cx, &la, &rc.name, native, &mut rc.hosts, origins)?;
            origins.push((format!("{native}.hosts"), la.path.clone()));
        }
        (None, None) => {}
    }
    Ok(())
}

fn load_assignment(
    cx: &mut Ctx,
    node: &Node,
    cluster_name: &str,
    native: &str,
    hosts: &mut Vec<RawHost>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let la = cx.fields(node, rules::CLUSTER_LOAD_ASSIGNMENT)?;
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
        let l = cx.fields(&loc, rules::LOCALITY_LB_ENDPOINTS)?;
        let Some(lbs) = l.get("lb_endpoints") else {
            continue;
        };
        for lb in cx.seq(&lbs)? {
            let e = cx.fields(&lb, rules::LB_ENDPOINT)?;
            let Some(ep) = e.get("endpoint") else {
                return Err(cx.invalid(&lb.path, "needs an `endpoint`"));
            };
            let ep = cx.fields(&ep, rules::ENDPOINT)?;
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
    f: &Fields,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawClusterTls>, ConfigError> {
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
