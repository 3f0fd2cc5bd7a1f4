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
//!
//! Layout, bottom to top (each imports only from the lines above it):
//! `rules/` (the key tables, one per Envoy message: data, reviewed as data),
//! `walk` (reading a mapping against its table), `common` (addresses,
//! extension entries), the translators of one part each (`matching`,
//! `headers`, `route_action`, `resilience`, `tls`, `access_log`, `edge`, `dns`,
//! `runtime`), then `listener` and `cluster`, and this module (the bootstrap).
//! A translator function looks a mapping up in its table and holds only the
//! mapping of its `Map` keys.

mod access_log;
mod cluster;
mod common;
mod dns;
mod edge;
mod headers;
mod listener;
mod matching;
mod protocol;
mod resilience;
mod route_action;
mod rules;
mod runtime;
mod tls;
mod walk;

use serde_yaml::Value;

use walk::{Ctx, Node, Origins};

use super::{
    raw::{RawAdmin, RawConfig, RawListener, RawStats, RawWorkers},
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
    let top = cx.fields(&root, rules::bootstrap::BOOTSTRAP)?;

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
        let sr = cx.fields(&sr, rules::bootstrap::STATIC_RESOURCES)?;
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
                raw.clusters
                    .push(cluster::cluster(cx, &c, &native, &mut origins)?);
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
    origins: &mut Origins,
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

fn admin(cx: &mut Ctx, node: &Node, origins: &mut Origins) -> Result<RawAdmin, ConfigError> {
    let f = cx.fields(node, rules::bootstrap::ADMIN)?;
    let Some(a) = f.get("address") else {
        return Err(cx.invalid(&node.path, "the admin interface needs an `address`"));
    };
    let (address, at) = common::address(cx, &a)?;
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
