//! Envoy route actions that answer without a cluster: `redirect`
//! (`RedirectAction`) and `direct_response` (`DirectResponseAction`), read
//! into the native `redirect` and `direct_response`. Field for field; what
//! ringway cannot do (regex rewrites, bodies as bytes or from the
//! environment) is refused at its line.

use super::{
    headers,
    rules::route_action as rules,
    walk::{Ctx, Node, Origins},
};
use crate::config::{
    raw::{RawDirectResponse, RawRedirect, RawWeightedCluster},
    ConfigError,
};

/// A `route` action's `weighted_clusters`: `clusters[].{name, weight}`, and
/// `total_weight`, which must be the weights' sum when given (as Envoy checks).
pub fn weighted_clusters(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Vec<RawWeightedCluster>, ConfigError> {
    let f = cx.fields(node, rules::WEIGHTED_CLUSTER)?;
    let native = format!("{native}.weighted_clusters");
    origins.push((native.clone(), node.path.clone()));
    let mut list = Vec::new();
    if let Some(cs) = f.get("clusters") {
        for (i, c) in cx.seq(&cs)?.into_iter().enumerate() {
            let cf = cx.fields(&c, rules::CLUSTER_WEIGHT)?;
            let Some(name) = cf.get("name") else {
                return Err(cx.invalid(&c.path, "a weighted cluster needs a `name`"));
            };
            origins.push((format!("{native}[{i}].cluster"), name.path.clone()));
            let weight = match cf.get("weight") {
                Some(w) => cx.uint(&w, u64::from(u32::MAX))? as u32,
                None => 0,
            };
            let level = headers::level(cx, &cf, &format!("{native}[{i}]"), origins)?;
            let host_rewrite = match cf.get("host_rewrite_literal") {
                Some(h) => {
                    origins.push((format!("{native}[{i}].host_rewrite"), h.path.clone()));
                    Some(cx.string(&h)?)
                }
                None => None,
            };
            list.push(RawWeightedCluster {
                cluster: cx.string(&name)?,
                weight,
                host_rewrite,
                request_headers_to_add: level.request_add,
                request_headers_to_remove: level.request_remove,
                response_headers_to_add: level.response_add,
                response_headers_to_remove: level.response_remove,
            });
        }
    }
    if list.is_empty() {
        return Err(cx.invalid(
            &node.path,
            "weighted_clusters needs at least one of `clusters`",
        ));
    }
    if let Some(t) = f.get("total_weight") {
        let total = cx.uint(&t, u64::from(u32::MAX))?;
        let sum: u64 = list.iter().map(|w| u64::from(w.weight)).sum();
        if total > 0 && total != sum {
            return Err(cx.invalid(
                &t.path,
                format!("the weights add up to {sum}, not total_weight {total}"),
            ));
        }
    }
    Ok(list)
}

/// Envoy's `RedirectResponseCode` names, in enum order (proto3 JSON also
/// allows the number).
const REDIRECT_CODES: &[(&str, u16)] = &[
    ("MOVED_PERMANENTLY", 301),
    ("FOUND", 302),
    ("SEE_OTHER", 303),
    ("TEMPORARY_REDIRECT", 307),
    ("PERMANENT_REDIRECT", 308),
];

pub fn redirect(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawRedirect, ConfigError> {
    let f = cx.fields(node, rules::REDIRECT_ACTION)?;
    let native = format!("{native}.redirect");
    origins.push((native.clone(), node.path.clone()));
    let mut r = RawRedirect::default();
    let https = match f.get("https_redirect") {
        Some(h) => cx.boolean(&h)?,
        None => false,
    };
    match (https, f.get("scheme_redirect")) {
        (true, Some(s)) => {
            return Err(cx.invalid(
                &s.path,
                "give `https_redirect` or `scheme_redirect`, not both",
            ))
        }
        (true, None) => r.scheme = Some("https".into()),
        (false, Some(s)) => {
            r.scheme = Some(cx.string(&s)?);
            origins.push((format!("{native}.scheme"), s.path.clone()));
        }
        (false, None) => {}
    }
    if let Some(h) = f.get("host_redirect") {
        r.host = Some(cx.string(&h)?);
        origins.push((format!("{native}.host"), h.path.clone()));
    }
    if let Some(p) = f.get("port_redirect") {
        let port = cx.uint(&p, u64::from(u16::MAX))? as u16;
        origins.push((format!("{native}.port"), p.path.clone()));
        // Envoy's 0 is "not set".
        r.port = (port != 0).then_some(port);
    }
    if let Some(p) = f.get("path_redirect") {
        r.path = Some(cx.string(&p)?);
        origins.push((format!("{native}.path"), p.path.clone()));
    }
    if let Some(p) = f.get("prefix_rewrite") {
        r.prefix_rewrite = Some(cx.string(&p)?);
        origins.push((format!("{native}.prefix_rewrite"), p.path.clone()));
    }
    if let Some(s) = f.get("strip_query") {
        r.strip_query = Some(cx.boolean(&s)?);
    }
    if let Some(c) = f.get("response_code") {
        r.status = Some(response_code(cx, &c)?);
        origins.push((format!("{native}.status"), c.path.clone()));
    }
    Ok(r)
}

fn response_code(cx: &Ctx, node: &Node) -> Result<u16, ConfigError> {
    let by_name = node.v.as_str().and_then(|s| {
        REDIRECT_CODES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
    });
    let by_number = node
        .v
        .as_u64()
        .and_then(|n| REDIRECT_CODES.get(usize::try_from(n).ok()?));
    match by_name.or(by_number) {
        Some((_, status)) => Ok(*status),
        None => {
            let names: Vec<&str> = REDIRECT_CODES.iter().map(|c| c.0).collect();
            Err(cx.parse_error(
                &node.path,
                format!("expected a redirect response code: {}", names.join(", ")),
            ))
        }
    }
}

pub fn direct_response(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawDirectResponse, ConfigError> {
    let f = cx.fields(node, rules::DIRECT_RESPONSE_ACTION)?;
    let native = format!("{native}.direct_response");
    origins.push((native.clone(), node.path.clone()));
    let Some(status) = f.get("status") else {
        return Err(cx.invalid(&node.path, "a direct_response needs a `status`"));
    };
    let mut d = RawDirectResponse {
        status: cx.uint(&status, 999)? as u16,
        ..RawDirectResponse::default()
    };
    origins.push((format!("{native}.status"), status.path.clone()));
    if let Some(body) = f.get("body") {
        let b = cx.fields(&body, rules::BODY_DATA_SOURCE)?;
        match (b.get("inline_string"), b.get("filename")) {
            (Some(text), None) => {
                d.body = Some(cx.string(&text)?);
                origins.push((format!("{native}.body"), text.path.clone()));
            }
            (None, Some(file)) => {
                d.body_file = Some(cx.string(&file)?);
                origins.push((format!("{native}.body_file"), file.path.clone()));
            }
            (None, None) => {}
            (Some(_), Some(file)) => {
                return Err(cx.invalid(&file.path, "give `inline_string` or `filename`, not both"))
            }
        }
    }
    Ok(d)
}
