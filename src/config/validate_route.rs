//! One route of a virtual host: `RawRoute` → `RouteConfig`. A route has
//! exactly one action — forward to a cluster, redirect, or answer directly —
//! and the fields of one action are refused on another, so nothing a user
//! writes is ignored. Values that end up in a response head (redirect hosts,
//! paths, schemes) are checked here for bytes that could split the head.

use std::collections::HashMap;

use super::{
    error::ConfigError,
    model::*,
    raw::{RawDirectResponse, RawRedirect, RawRoute, RawWeightedCluster},
    validate::{check_path, validate_retry},
    validate_headers::{mutations, RawLevel},
};

/// The statuses Envoy's `RedirectResponseCode` can name.
pub const REDIRECT_STATUSES: &[u16] = &[301, 302, 303, 307, 308];
pub const DEFAULT_REDIRECT_STATUS: u16 = 301;
/// A direct response body is held in memory by every worker's config.
pub const MAX_DIRECT_BODY: usize = 1 << 20;

pub fn validate_route(
    rpath: &str,
    rr: &RawRoute,
    clusters: &HashMap<String, usize>,
) -> Result<RouteConfig, ConfigError> {
    let (matcher, conditions) =
        super::validate_match::validate_match(&format!("{rpath}.match"), &rr.matcher)?;
    let target = match (&rr.cluster, rr.weighted_clusters.is_empty()) {
        (None, true) => None,
        (Some(c), true) => Some(Target::Cluster(cluster_index(
            &format!("{rpath}.cluster"),
            c,
            clusters,
        )?)),
        (None, false) => Some(weighted(
            &format!("{rpath}.weighted_clusters"),
            &rr.weighted_clusters,
            clusters,
        )?),
        (Some(_), false) => {
            return Err(ConfigError::invalid(
                format!("{rpath}.weighted_clusters"),
                "give `cluster` or `weighted_clusters`, not both",
            ))
        }
    };
    let action = match (target, &rr.redirect, &rr.direct_response) {
        (Some(t), None, None) => RouteAction::Forward(forward(rpath, rr, t, &matcher)?),
        (None, Some(r), None) => {
            only_forwarding_fields(rpath, rr, "redirect")?;
            RouteAction::Redirect(redirect(&format!("{rpath}.redirect"), r)?)
        }
        (None, None, Some(d)) => {
            only_forwarding_fields(rpath, rr, "direct_response")?;
            RouteAction::Direct(direct(&format!("{rpath}.direct_response"), d)?)
        }
        _ => {
            return Err(ConfigError::invalid(
                rpath,
                "give exactly one of `cluster` (or `weighted_clusters`), `redirect` or `direct_response`",
            ))
        }
    };
    let headers = mutations(
        rpath,
        RawLevel {
            request_add: &rr.request_headers_to_add,
            request_remove: &rr.request_headers_to_remove,
            response_add: &rr.response_headers_to_add,
            response_remove: &rr.response_headers_to_remove,
        },
    )?;
    if !matches!(action, RouteAction::Forward(_)) && !headers.request_add.is_empty() {
        return Err(ConfigError::invalid(
            format!("{rpath}.request_headers_to_add"),
            "a route that answers itself sends no request upstream",
        ));
    }
    if !matches!(action, RouteAction::Forward(_)) && !headers.request_remove.is_empty() {
        return Err(ConfigError::invalid(
            format!("{rpath}.request_headers_to_remove"),
            "a route that answers itself sends no request upstream",
        ));
    }
    Ok(RouteConfig {
        name: rr.name.as_deref().map(std::sync::Arc::from),
        matcher,
        conditions,
        action,
        headers,
        // Chained once the virtual host and listener levels are known.
        edits: RouteEdits::default(),
    })
}

fn cluster_index(
    field: &str,
    name: &str,
    clusters: &HashMap<String, usize>,
) -> Result<usize, ConfigError> {
    clusters
        .get(name)
        .copied()
        .ok_or_else(|| ConfigError::invalid(field, format!("no cluster named `{name}`")))
}

fn weighted(
    field: &str,
    list: &[RawWeightedCluster],
    clusters: &HashMap<String, usize>,
) -> Result<Target, ConfigError> {
    let mut entries = Vec::with_capacity(list.len());
    for (i, w) in list.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        let index = cluster_index(&format!("{entry}.cluster"), &w.cluster, clusters)?;
        let headers = mutations(
            &entry,
            RawLevel {
                request_add: &w.request_headers_to_add,
                request_remove: &w.request_headers_to_remove,
                response_add: &w.response_headers_to_add,
                response_remove: &w.response_headers_to_remove,
            },
        )?;
        let host_rewrite = match &w.host_rewrite {
            None => HostRewrite::Keep,
            Some(h) => HostRewrite::Literal(host(&format!("{entry}.host_rewrite"), h)?),
        };
        entries.push(WeightedCluster {
            headers,
            host_rewrite,
            ..WeightedCluster::new(index, w.weight)
        });
    }
    let total: u64 = entries.iter().map(|e| u64::from(e.weight)).sum();
    if total > u64::from(u32::MAX) {
        return Err(ConfigError::invalid(
            field,
            format!("the weights add up to {total}, more than {}", u32::MAX),
        ));
    }
    WeightedClusters::new(entries)
        .map(Target::Weighted)
        .ok_or_else(|| ConfigError::invalid(field, "at least one weight must be above 0"))
}

fn forward(
    rpath: &str,
    rr: &RawRoute,
    target: Target,
    matcher: &PathMatch,
) -> Result<ForwardAction, ConfigError> {
    let prefix_rewrite = match &rr.prefix_rewrite {
        None => None,
        Some(p) => Some(prefix_rewrite(
            &format!("{rpath}.prefix_rewrite"),
            p,
            matcher,
        )?),
    };
    let regex_rewrite = match (&rr.regex_rewrite, &prefix_rewrite) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{rpath}.regex_rewrite"),
                "give `prefix_rewrite` or `regex_rewrite`, not both",
            ))
        }
        (Some(r), None) => Some(
            RegexRewrite::new(&r.pattern, &r.substitution)
                .map_err(|e| ConfigError::invalid(format!("{rpath}.regex_rewrite"), e))?,
        ),
    };
    let timeout = match rr.timeout {
        None => Some(defaults::ROUTE_TIMEOUT),
        Some(d) if d.0.is_zero() => None,
        Some(d) => Some(d.0),
    };
    let retry = match &rr.retry_policy {
        None => None,
        Some(p) => Some(validate_retry(&format!("{rpath}.retry_policy"), p)?),
    };
    let host_rewrite = match (&rr.host_rewrite, rr.auto_host_rewrite) {
        (None, None | Some(false)) => HostRewrite::Keep,
        (Some(h), None | Some(false)) => {
            HostRewrite::Literal(host(&format!("{rpath}.host_rewrite"), h)?)
        }
        (None, Some(true)) => HostRewrite::UpstreamHostname,
        (Some(_), Some(true)) => {
            return Err(ConfigError::invalid(
                format!("{rpath}.auto_host_rewrite"),
                "give `host_rewrite` or `auto_host_rewrite`, not both",
            ))
        }
    };
    Ok(ForwardAction {
        target,
        prefix_rewrite,
        regex_rewrite,
        timeout,
        retry,
        host_rewrite,
    })
}

/// A route that answers itself has no upstream to time out, retry or rewrite for.
fn only_forwarding_fields(rpath: &str, rr: &RawRoute, action: &str) -> Result<(), ConfigError> {
    let forwarding = [
        ("prefix_rewrite", rr.prefix_rewrite.is_some()),
        ("regex_rewrite", rr.regex_rewrite.is_some()),
        ("timeout", rr.timeout.is_some()),
        ("retry_policy", rr.retry_policy.is_some()),
        ("host_rewrite", rr.host_rewrite.is_some()),
        ("auto_host_rewrite", rr.auto_host_rewrite.is_some()),
    ];
    match forwarding.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(ConfigError::invalid(
            format!("{rpath}.{field}"),
            format!("`{field}` applies to routes with a `cluster`, not `{action}` (a redirect has its own `prefix_rewrite`)"),
        )),
        None => Ok(()),
    }
}

fn prefix_rewrite(field: &str, p: &str, matcher: &PathMatch) -> Result<String, ConfigError> {
    if !matches!(
        matcher,
        PathMatch::Prefix(_) | PathMatch::SeparatedPrefix(_)
    ) {
        return Err(ConfigError::invalid(
            field,
            "prefix_rewrite needs a `prefix` (or `path_separated_prefix`) match",
        ));
    }
    check_path(field, p)
}

fn redirect(field: &str, r: &RawRedirect) -> Result<RedirectAction, ConfigError> {
    let scheme = match &r.scheme {
        None => None,
        Some(s) => Some(scheme(&format!("{field}.scheme"), s)?),
    };
    let host = match &r.host {
        None => None,
        Some(h) => Some(host(&format!("{field}.host"), h)?),
    };
    if r.port == Some(0) {
        return Err(ConfigError::invalid(
            format!("{field}.port"),
            "a port from 1 to 65535",
        ));
    }
    let path = match (&r.path, &r.prefix_rewrite) {
        (None, None) => RedirectPath::Keep,
        (Some(p), None) => RedirectPath::Replace(redirect_path(&format!("{field}.path"), p)?),
        // Envoy swaps "the matched prefix (or path)": any match will do.
        (None, Some(p)) => {
            RedirectPath::PrefixRewrite(check_path(&format!("{field}.prefix_rewrite"), p)?)
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{field}.prefix_rewrite"),
                "give `path` or `prefix_rewrite`, not both",
            ))
        }
    };
    let status = r.status.unwrap_or(DEFAULT_REDIRECT_STATUS);
    if !REDIRECT_STATUSES.contains(&status) {
        return Err(ConfigError::invalid(
            format!("{field}.status"),
            format!("{status} is not a redirect status (301, 302, 303, 307 or 308)"),
        ));
    }
    Ok(RedirectAction {
        scheme,
        host,
        port: r.port,
        path,
        strip_query: r.strip_query.unwrap_or(false),
        status,
    })
}

/// RFC 3986: a letter, then letters, digits, `+`, `-`, `.`.
fn scheme(field: &str, s: &str) -> Result<String, ConfigError> {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("`{s}` is not a URI scheme (such as `https`)"),
        ))
    }
}

/// A host (and optional port) as it goes into `location`: no spaces,
/// controls, or characters that end the authority.
fn host(field: &str, h: &str) -> Result<String, ConfigError> {
    let ok = !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b));
    if ok {
        Ok(h.to_string())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("`{h}` is not a host name (no spaces, controls, `/`, `?`, `#` or `@`)"),
        ))
    }
}

/// Like a route path, but a query may follow (it then replaces the request's).
fn redirect_path(field: &str, p: &str) -> Result<String, ConfigError> {
    if p.starts_with('/') && p.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(p.to_string())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("`{p}` must start with `/` and contain no spaces or controls"),
        ))
    }
}

fn direct(field: &str, d: &RawDirectResponse) -> Result<DirectResponse, ConfigError> {
    if !(200..=599).contains(&d.status) {
        return Err(ConfigError::invalid(
            format!("{field}.status"),
            format!("{} is not a final status from 200 to 599", d.status),
        ));
    }
    let body = match (&d.body, &d.body_file) {
        (None, None) => DirectBody::Empty,
        (Some(text), None) => DirectBody::Inline(text.clone()),
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| {
                ConfigError::invalid(
                    format!("{field}.body_file"),
                    format!("cannot read `{path}`: {e}"),
                )
            })?;
            DirectBody::File {
                path: path.clone(),
                bytes: bytes.into(),
            }
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{field}.body_file"),
                "give `body` or `body_file`, not both",
            ))
        }
    };
    if body.bytes().len() > MAX_DIRECT_BODY {
        return Err(ConfigError::invalid(
            format!("{field}.body"),
            format!(
                "a direct response body is at most {MAX_DIRECT_BODY} bytes, this one has {}",
                body.bytes().len()
            ),
        ));
    }
    Ok(DirectResponse {
        status: d.status,
        body,
    })
}
