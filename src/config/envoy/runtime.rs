//! Envoy's `layered_runtime`. ringway has no runtime; of the keys a static layer
//! can set it knows two: the listener connection limit
//! `envoy.resource_limits.listener.<listener name>.connection_limit`, which
//! becomes that listener's `max_connections`, and
//! `overload.global_downstream_max_connections`, the top-level
//! `max_connections`. Every other key is warned about
//! (accepted, ignored) rather than refusing the file, as today's Envoy sandbox
//! carries such a layer. Later layers override earlier ones, as in Envoy.

use serde_yaml::Value;

use super::{
    rules::runtime as rules,
    walk::{Ctx, Node},
};
use crate::config::ConfigError;

const LIMIT_PREFIX: &str = "envoy.resource_limits.listener.";
const LIMIT_SUFFIX: &str = ".connection_limit";

/// A listener connection limit a static layer sets.
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    /// The Envoy listener `name` it is for.
    pub listener: String,
    pub limit: u64,
    /// Where in the file it was set.
    pub path: String,
}

/// What the static layers set, later layers winning.
#[derive(Debug, Default)]
pub struct RuntimeLimits {
    pub listeners: Vec<ConnectionLimit>,
    /// `overload.global_downstream_max_connections`, and where.
    pub global: Option<(u64, String)>,
}

pub fn layered_runtime(cx: &mut Ctx, node: &Node) -> Result<RuntimeLimits, ConfigError> {
    let f = cx.fields(node, rules::LAYERED_RUNTIME)?;
    let mut limits = RuntimeLimits::default();
    let Some(layers) = f.get("layers") else {
        return Ok(limits);
    };
    for layer in cx.seq(&layers)? {
        let l = cx.fields(&layer, rules::RUNTIME_LAYER)?;
        if let Some(s) = l.get("static_layer") {
            let mut leaves = Vec::new();
            flatten(cx, &s, String::new(), &mut leaves)?;
            for (key, leaf) in leaves {
                read_key(cx, &key, &leaf, &mut limits)?;
            }
        }
    }
    Ok(limits)
}

/// A static layer is a nested mapping whose keys join with dots
/// (`envoy: { resource_limits: … }` and `"envoy.resource_limits…"` are one key).
fn flatten<'a>(
    cx: &mut Ctx,
    node: &Node<'a>,
    prefix: String,
    out: &mut Vec<(String, Node<'a>)>,
) -> Result<(), ConfigError> {
    match node.v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = k.as_str().ok_or_else(|| {
                    cx.parse_error(&node.path, format!("runtime key {k:?} is not a string"))
                })?;
                let full = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(cx, &node.child(key, v), full, out)?;
            }
            Ok(())
        }
        _ => {
            out.push((prefix, node.clone()));
            Ok(())
        }
    }
}

fn read_key(
    cx: &mut Ctx,
    key: &str,
    leaf: &Node,
    limits: &mut RuntimeLimits,
) -> Result<(), ConfigError> {
    let listener = key
        .strip_prefix(LIMIT_PREFIX)
        .and_then(|rest| rest.strip_suffix(LIMIT_SUFFIX))
        .filter(|name| !name.is_empty());
    match listener {
        Some(name) => {
            let limit = cx.uint(leaf, u64::from(u32::MAX))?;
            limits.listeners.retain(|l| l.listener != name);
            limits.listeners.push(ConnectionLimit {
                listener: name.to_string(),
                limit,
                path: leaf.path.clone(),
            });
        }
        None if key == "overload.global_downstream_max_connections" => {
            let limit = cx.uint(leaf, u64::from(u32::MAX))?;
            limits.global = Some((limit, leaf.path.clone()));
        }
        None => cx.warn(
            &leaf.path,
            format!("ignored: runtime key `{key}` is not known to ringway"),
        ),
    }
    Ok(())
}
