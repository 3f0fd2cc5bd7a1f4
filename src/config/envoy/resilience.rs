//! Envoy's resilience settings on clusters and routes, mapped onto ringway's:
//! `health_checks`, `outlier_detection`, `circuit_breakers.thresholds`, the
//! load-balancer configs, endpoint weights, and route `hash_policy` (which
//! ringway keeps on the cluster, so the routes to one cluster must agree).
//!
//! Where Envoy's defaults differ from ringway's, the translation writes Envoy's
//! value out (an HTTP check expects only 200; gateway-failure ejection is off
//! unless enforced), so the native config behaves as the Envoy file did.

use serde_yaml::Value;

use super::{
    rules::resilience as rules,
    walk::{Ctx, Node, Origins, RouteHash},
};
use crate::config::{
    raw::{
        RawCircuitBreakers, RawCluster, RawHashPolicy, RawHealthCheck, RawOutlierDetection,
        RawStatusRange,
    },
    ConfigError,
};

/// `health_checks[]` of one cluster.
pub fn health_checks(
    cx: &mut Ctx,
    list: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Vec<RawHealthCheck>, ConfigError> {
    let mut out = Vec::new();
    for (i, node) in cx.seq(list)?.into_iter().enumerate() {
        let hnative = format!("{native}.health_checks[{i}]");
        origins.push((hnative.clone(), node.path.clone()));
        out.push(health_check(cx, &node, &hnative, origins)?);
    }
    Ok(out)
}

fn health_check(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawHealthCheck, ConfigError> {
    let f = cx.fields(node, rules::HEALTH_CHECK)?;
    let mut hc = RawHealthCheck::default();
    if let Some(t) = f.get("timeout") {
        hc.timeout = Some(cx.duration(&t)?);
    }
    if let Some(t) = f.get("interval") {
        hc.interval = Some(cx.duration(&t)?);
    }
    if let Some(n) = f.get("unhealthy_threshold") {
        hc.unhealthy_threshold = Some(cx.uint(&n, u64::from(u32::MAX))? as u32);
    }
    if let Some(n) = f.get("healthy_threshold") {
        hc.healthy_threshold = Some(cx.uint(&n, u64::from(u32::MAX))? as u32);
    }
    match (f.get("http_health_check"), f.get("tcp_health_check")) {
        (Some(h), None) => http_check(cx, &h, native, &mut hc, origins)?,
        (None, Some(t)) => {
            cx.fields(&t, rules::TCP_HEALTH_CHECK)?;
            hc.tcp = Some(true);
        }
        (Some(_), Some(t)) => {
            return Err(cx.invalid(
                &t.path,
                "give either `http_health_check` or `tcp_health_check`, not both",
            ))
        }
        (None, None) => {
            return Err(cx.invalid(
                &node.path,
                "a health check needs `http_health_check` or `tcp_health_check`",
            ))
        }
    }
    Ok(hc)
}

fn http_check(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    hc: &mut RawHealthCheck,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(node, rules::HTTP_HEALTH_CHECK)?;
    match f.get("path") {
        Some(p) => {
            hc.path = Some(cx.string(&p)?);
            origins.push((format!("{native}.path"), p.path.clone()));
        }
        None => return Err(cx.invalid(&node.path, "an http_health_check needs a `path`")),
    }
    if let Some(h) = f.get("host") {
        hc.host = Some(cx.string(&h)?);
        origins.push((format!("{native}.host"), h.path.clone()));
    }
    match f.get("expected_statuses") {
        Some(list) => {
            for (i, r) in cx.seq(&list)?.into_iter().enumerate() {
                origins.push((format!("{native}.expected_statuses[{i}]"), r.path.clone()));
                hc.expected_statuses.push(status_range(cx, &r)?);
            }
        }
        // Envoy's default is 200 alone; ringway's would be 200-399.
        None => hc.expected_statuses.push(RawStatusRange::Code(200)),
    }
    Ok(())
}

/// Envoy's `{ start, end }` is half-open; ringway's `"lo-hi"` is inclusive.
fn status_range(cx: &mut Ctx, node: &Node) -> Result<RawStatusRange, ConfigError> {
    let f = cx.fields(node, rules::STATUS_RANGE)?;
    let (Some(s), Some(e)) = (f.get("start"), f.get("end")) else {
        return Err(cx.invalid(&node.path, "a status range needs `start` and `end`"));
    };
    let (start, end) = (cx.uint(&s, 600)?, cx.uint(&e, 600)?);
    if start < 100 || end <= start {
        return Err(cx.invalid(
            &node.path,
            format!("[{start}, {end}) is not a range of statuses (start ≥ 100, end ≤ 600, start < end; end is exclusive)"),
        ));
    }
    let last = end - 1;
    Ok(if last == start {
        RawStatusRange::Code(start as u16)
    } else {
        RawStatusRange::Range(format!("{start}-{last}"))
    })
}

/// `outlier_detection`: consecutive-failure ejection maps; Envoy's statistical
/// detectors (success rate, failure percentage) are not implemented.
pub fn outlier_detection(cx: &mut Ctx, node: &Node) -> Result<RawOutlierDetection, ConfigError> {
    let f = cx.fields(node, rules::OUTLIER_DETECTION)?;
    let mut od = RawOutlierDetection::default();
    let count = |cx: &mut Ctx, key: &str| -> Result<Option<u32>, ConfigError> {
        f.get(key)
            .map(|n| cx.uint(&n, u64::from(u32::MAX)).map(|v| v as u32))
            .transpose()
    };
    od.consecutive_5xx = count(cx, "consecutive_5xx")?;
    od.consecutive_gateway_failure = count(cx, "consecutive_gateway_failure")?;
    od.max_ejection_percent = count(cx, "max_ejection_percent")?;
    for (key, slot) in [
        ("interval", &mut od.interval),
        ("base_ejection_time", &mut od.base_ejection_time),
        ("max_ejection_time", &mut od.max_ejection_time),
    ] {
        if let Some(t) = f.get(key) {
            *slot = Some(cx.duration(&t)?);
        }
    }
    // Envoy enforces a detector with a probability in percent: 100 ejects, 0 only
    // counts. ringway ejects or not.
    let enforcing = |cx: &mut Ctx, key: &str, default: u64| -> Result<bool, ConfigError> {
        let Some(n) = f.get(key) else {
            return Ok(default == 100);
        };
        match cx.uint(&n, 100)? {
            0 => Ok(false),
            100 => Ok(true),
            _ => Err(cx.unsupported(
                &n.path,
                "ejecting with a probability is not implemented; use 0 or 100",
            )),
        }
    };
    if !enforcing(cx, "enforcing_consecutive_5xx", 100)? {
        od.consecutive_5xx = Some(0);
    }
    // Envoy's default enforcing_consecutive_gateway_failure is 0: the detector
    // counts but never ejects.
    if !enforcing(cx, "enforcing_consecutive_gateway_failure", 0)? {
        od.consecutive_gateway_failure = Some(0);
    }
    match f.get("enforcing_success_rate") {
        Some(n) if cx.uint(&n, 100)? == 0 => {}
        Some(n) => return Err(cx.unsupported(&n.path, rules::SUCCESS_RATE)),
        None => cx.warn(
            &node.path,
            "Envoy's success-rate ejection (on by default, for clusters of 5+ hosts with 100+ requests each per interval) is not implemented; only consecutive failures eject (set enforcing_success_rate: 0 to say so)",
        ),
    }
    if od.consecutive_5xx == Some(0) && od.consecutive_gateway_failure == Some(0) {
        return Err(cx.unsupported(
            &node.path,
            "no consecutive-failure detector is enforced, and Envoy's statistical detectors are not implemented",
        ));
    }
    if let Some(u) = f.get("successful_active_health_check_uneject_host") {
        if cx.boolean(&u)? {
            cx.warn(
                &u.path,
                "ignored: a passing health check does not end an ejection early; it lasts its time",
            );
        }
    }
    Ok(od)
}

/// `circuit_breakers`: the DEFAULT priority's thresholds. ringway routes nothing
/// at HIGH priority (a route `priority: HIGH` is refused), so HIGH thresholds
/// never apply.
pub fn circuit_breakers(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawCircuitBreakers>, ConfigError> {
    let f = cx.fields(node, rules::CIRCUIT_BREAKERS)?;
    let Some(list) = f.get("thresholds") else {
        return Ok(None);
    };
    let mut out: Option<(RawCircuitBreakers, String)> = None;
    for t in cx.seq(&list)? {
        let th = cx.fields(&t, rules::THRESHOLDS)?;
        if let Some(p) = th.get("priority") {
            match cx.string(&p)?.to_ascii_lowercase().as_str() {
                "default" => {}
                "high" => {
                    cx.warn(
                        &t.path,
                        "ignored: HIGH priority thresholds; ringway routes every request at DEFAULT priority",
                    );
                    continue;
                }
                other => {
                    return Err(cx.parse_error(
                        &p.path,
                        format!("`{other}` is not a routing priority (DEFAULT, HIGH)"),
                    ))
                }
            }
        }
        if let Some((_, first)) = &out {
            let line = cx.line(first).unwrap_or(0);
            return Err(cx.invalid(
                &t.path,
                format!("a second DEFAULT thresholds entry; the first is {first} (line {line})"),
            ));
        }
        let mut cb = RawCircuitBreakers::default();
        for (key, slot) in [
            ("max_connections", &mut cb.max_connections),
            ("max_pending_requests", &mut cb.max_pending_requests),
            ("max_requests", &mut cb.max_requests),
            ("max_retries", &mut cb.max_retries),
        ] {
            if let Some(n) = th.get(key) {
                *slot = Some(cx.uint(&n, u64::from(u32::MAX))? as u32);
            }
        }
        origins.push((format!("{native}.circuit_breakers"), t.path.clone()));
        out = Some((cb, t.path.clone()));
    }
    Ok(out.map(|(cb, _)| cb))
}

/// The `*_lb_config` blocks: tuning of balancers ringway builds its own way.
pub fn lb_config(cx: &mut Ctx, key: &str, node: &Node) -> Result<(), ConfigError> {
    match key {
        "ring_hash_lb_config" => cx
            .fields(node, rules::RING_HASH_LB_CONFIG)
            .and_then(|f| match f.get("consistent_hashing_lb_config") {
                Some(c) => consistent_hashing(cx, &c),
                None => Ok(()),
            }),
        "maglev_lb_config" => cx.fields(node, rules::MAGLEV_LB_CONFIG).and_then(|f| {
            match f.get("consistent_hashing_lb_config") {
                Some(c) => consistent_hashing(cx, &c),
                None => Ok(()),
            }
        }),
        "least_request_lb_config" => {
            let f = cx.fields(node, rules::LEAST_REQUEST_LB_CONFIG)?;
            if let Some(n) = f.get("choice_count") {
                if cx.uint(&n, u64::from(u32::MAX))? != 2 {
                    cx.warn(
                        &n.path,
                        "ignored: ringway draws two hosts (power of two choices)",
                    );
                }
            }
            Ok(())
        }
        "round_robin_lb_config" => cx.fields(node, rules::ROUND_ROBIN_LB_CONFIG).map(drop),
        _ => unreachable!("lb_config called for {key}"),
    }
}

fn consistent_hashing(cx: &mut Ctx, node: &Node) -> Result<(), ConfigError> {
    cx.fields(node, rules::CONSISTENT_HASHING_LB_CONFIG)
        .map(drop)
}

/// `common_lb_config`. Returns whether it sets `healthy_panic_threshold: 0`
/// (ringway's own threshold).
pub fn common_lb_config(cx: &mut Ctx, node: &Node) -> Result<bool, ConfigError> {
    let f = cx.fields(node, rules::COMMON_LB_CONFIG)?;
    if let Some(c) = f.get("consistent_hashing_lb_config") {
        consistent_hashing(cx, &c)?;
    }
    let Some(p) = f.get("healthy_panic_threshold") else {
        return Ok(false);
    };
    let v = cx.fields(&p, rules::PERCENT)?;
    let value = match v.get("value") {
        Some(n) => match n.v {
            Value::Number(x) => x.as_f64(),
            _ => None,
        }
        .ok_or_else(|| cx.parse_error(&n.path, "expected a percentage"))?,
        None => 0.0,
    };
    if value != 0.0 {
        return Err(cx.unsupported(
            &p.path,
            "panic thresholds other than 0% are not implemented: ringway balances over unhealthy hosts only when none is healthy",
        ));
    }
    Ok(true)
}

/// A route's `hash_policy` list in ringway's form.
pub fn route_hash_policy(cx: &mut Ctx, node: &Node) -> Result<Vec<RawHashPolicy>, ConfigError> {
    let list = cx.seq(node)?;
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let f = cx.fields(p, rules::HASH_POLICY)?;
        // ringway takes the first entry that finds a value; Envoy combines every
        // entry's value unless an earlier one is `terminal`.
        let terminal = match f.get("terminal") {
            Some(t) => cx.boolean(&t)?,
            None => false,
        };
        if !terminal && i + 1 < list.len() {
            return Err(cx.unsupported(
                &p.path,
                "combining several hash policies into one key is not implemented: ringway uses the first entry that finds a value; mark every entry but the last `terminal: true` to say so",
            ));
        }
        let mut entry = RawHashPolicy::default();
        if let Some(h) = f.get("header") {
            let h = cx.fields(&h, rules::HASH_POLICY_HEADER)?;
            match h.get("header_name") {
                Some(n) => entry.header = Some(cx.string(&n)?),
                None => return Err(cx.invalid(&h.node.path, "needs a `header_name`")),
            }
        }
        if let Some(c) = f.get("cookie") {
            let c = cx.fields(&c, rules::HASH_POLICY_COOKIE)?;
            match c.get("name") {
                Some(n) => entry.cookie = Some(cx.string(&n)?),
                None => return Err(cx.invalid(&c.node.path, "needs a `name`")),
            }
        }
        if let Some(cp) = f.get("connection_properties") {
            let cp = cx.fields(&cp, rules::HASH_POLICY_CONNECTION)?;
            if let Some(s) = cp.get("source_ip") {
                if cx.boolean(&s)? {
                    entry.source_ip = Some(true);
                } else {
                    cx.warn(&s.path, "ignored: source_ip: false hashes nothing");
                    continue;
                }
            }
        }
        let given = entry.header.is_some() as u8
            + entry.cookie.is_some() as u8
            + entry.source_ip.is_some() as u8;
        if given != 1 {
            return Err(cx.invalid(
                &p.path,
                "a hash policy needs exactly one of header, cookie, connection_properties",
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Give each hashing cluster the hash policy of the routes to it. Routes that
/// disagree are refused; a route without one is warned about (ringway hashes
/// its requests too); a RING_HASH/MAGLEV cluster no route hashes for balances at
/// random, as Envoy does without a hash.
pub fn merge_route_hashes(
    cx: &mut Ctx,
    routes: &[RouteHash],
    clusters: &mut [RawCluster],
    cluster_paths: &[String],
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    for (i, (rc, cpath)) in clusters.iter_mut().zip(cluster_paths).enumerate() {
        let mine: Vec<&RouteHash> = routes.iter().filter(|r| r.cluster == rc.name).collect();
        let hashing = matches!(rc.lb_policy.as_deref(), Some("ring_hash" | "maglev"));
        if !hashing {
            for r in mine.iter().filter(|r| !r.policies.is_empty()) {
                cx.warn(
                    &r.path,
                    format!(
                        "ignored: hash policies only matter to RING_HASH and MAGLEV; cluster `{}` balances {}",
                        rc.name,
                        rc.lb_policy.as_deref().unwrap_or("round_robin")
                    ),
                );
            }
            continue;
        }
        let Some(first) = mine.iter().find(|r| !r.policies.is_empty()) else {
            let policy = rc
                .lb_policy
                .as_deref()
                .unwrap_or_default()
                .to_ascii_uppercase();
            cx.warn(
                &format!("{cpath}.lb_policy"),
                format!("no route to `{}` has a hash_policy, so Envoy's {policy} places every request at random: ringway balances it `random`", rc.name),
            );
            rc.lb_policy = Some("random".into());
            continue;
        };
        let first_at = format!(
            "{} (line {})",
            first.path,
            cx.line(&first.path).unwrap_or(0)
        );
        for r in &mine {
            if r.policies.is_empty() {
                cx.warn(
                    &r.path,
                    format!("this route to `{}` has no hash_policy, but ringway hashes per cluster: its requests are placed by the hash_policy at {first_at}", rc.name),
                );
            } else if r.policies != first.policies {
                return Err(cx.unsupported(
                    &r.path,
                    format!("a hash_policy per route is not implemented: ringway hashes per cluster, and this one differs from the hash_policy at {first_at} for the same cluster `{}`", rc.name),
                ));
            }
        }
        rc.hash_policy = first.policies.clone();
        origins.push((format!("clusters[{i}].hash_policy"), first.path.clone()));
    }
    Ok(())
}
