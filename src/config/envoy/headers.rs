//! Envoy's header mutation lists (`request_headers_to_add` / `_to_remove`,
//! `response_headers_to_add` / `_to_remove`) at the route-config, virtual-host
//! and route level, read into the native lists of the same name.
//!
//! A `HeaderValueOption` is `{ header: { key, value }, append_action,
//! keep_empty_value }`, or v2's `{ header, append }`: `append: false` is
//! `OVERWRITE_IF_EXISTS_OR_ADD`, `append: true` and no choice at all
//! `APPEND_IF_EXISTS_OR_ADD` (Envoy's defaults). Operators in values are
//! checked when the native config is validated, at the Envoy line.

use super::{
    rules::headers as rules,
    walk::{Ctx, Fields, Node, Origins},
};
use crate::config::{raw::RawHeaderAdd, ConfigError};

/// Envoy's `append_action` words, mapped to the native `action` words.
const APPEND_ACTIONS: &[(&str, &str)] = &[
    ("APPEND_IF_EXISTS_OR_ADD", "append_if_exists_or_add"),
    ("ADD_IF_ABSENT", "add_if_absent"),
    ("OVERWRITE_IF_EXISTS_OR_ADD", "overwrite_if_exists_or_add"),
    ("OVERWRITE_IF_EXISTS", "overwrite_if_exists"),
];

/// The keys of one level, for that level's rule table.
pub const KEYS: [&str; 4] = [
    "request_headers_to_add",
    "request_headers_to_remove",
    "response_headers_to_add",
    "response_headers_to_remove",
];

/// One level's lists, in the native shape.
#[derive(Default)]
pub struct Level {
    pub request_add: Vec<RawHeaderAdd>,
    pub request_remove: Vec<String>,
    pub response_add: Vec<RawHeaderAdd>,
    pub response_remove: Vec<String>,
}

/// Read the four lists a level's `f` mapped; `native` is the level's native path.
pub fn level(
    cx: &mut Ctx,
    f: &Fields,
    native: &str,
    origins: &mut Origins,
) -> Result<Level, ConfigError> {
    let mut level = Level::default();
    let [req_add, req_remove, resp_add, resp_remove] = KEYS;
    if let Some(n) = f.get(req_add) {
        level.request_add = adds(cx, &n, &format!("{native}.{req_add}"), origins)?;
    }
    if let Some(n) = f.get(req_remove) {
        level.request_remove = removes(cx, &n, &format!("{native}.{req_remove}"), origins)?;
    }
    if let Some(n) = f.get(resp_add) {
        level.response_add = adds(cx, &n, &format!("{native}.{resp_add}"), origins)?;
    }
    if let Some(n) = f.get(resp_remove) {
        level.response_remove = removes(cx, &n, &format!("{native}.{resp_remove}"), origins)?;
    }
    Ok(level)
}

fn removes(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Vec<String>, ConfigError> {
    let mut names = Vec::new();
    for (i, n) in cx.seq(node)?.into_iter().enumerate() {
        names.push(cx.string(&n)?);
        origins.push((format!("{native}[{i}]"), n.path.clone()));
    }
    Ok(names)
}

fn adds(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Vec<RawHeaderAdd>, ConfigError> {
    let mut list = Vec::new();
    for (i, item) in cx.seq(node)?.into_iter().enumerate() {
        list.push(add(cx, &item, &format!("{native}[{i}]"), origins)?);
    }
    Ok(list)
}

fn add(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawHeaderAdd, ConfigError> {
    let f = cx.fields(node, rules::HEADER_VALUE_OPTION)?;
    origins.push((native.to_string(), node.path.clone()));
    let Some(header) = f.get("header") else {
        return Err(cx.invalid(&node.path, "a header to add needs `header: { key, value }`"));
    };
    let h = cx.fields(&header, rules::HEADER_VALUE)?;
    let Some(key) = h.get("key") else {
        return Err(cx.invalid(&header.path, "a header needs a `key`"));
    };
    origins.push((format!("{native}.name"), key.path.clone()));
    let value = match h.get("value") {
        Some(v) => {
            origins.push((format!("{native}.value"), v.path.clone()));
            cx.string(&v)?
        }
        None => String::new(),
    };
    let mut raw = RawHeaderAdd {
        name: cx.string(&key)?,
        value,
        ..RawHeaderAdd::default()
    };
    raw.action = match (f.get("append"), f.get("append_action")) {
        (Some(a), Some(_)) => {
            return Err(cx.invalid(
                &a.path,
                "give `append_action` or the older `append`, not both (Envoy refuses both)",
            ))
        }
        (Some(a), None) => Some(
            if cx.boolean(&a)? {
                "append_if_exists_or_add"
            } else {
                "overwrite_if_exists_or_add"
            }
            .to_string(),
        ),
        (None, Some(a)) => Some(append_action(cx, &a)?.to_string()),
        (None, None) => None,
    };
    if let Some(k) = f.get("keep_empty_value") {
        raw.keep_empty_value = Some(cx.boolean(&k)?);
    }
    Ok(raw)
}

fn append_action(cx: &Ctx, node: &Node) -> Result<&'static str, ConfigError> {
    let by_name = node.v.as_str().and_then(|s| {
        APPEND_ACTIONS
            .iter()
            .find(|(envoy, _)| envoy.eq_ignore_ascii_case(s))
    });
    let by_number = node
        .v
        .as_u64()
        .and_then(|n| APPEND_ACTIONS.get(usize::try_from(n).ok()?));
    match by_name.or(by_number) {
        Some((_, native)) => Ok(native),
        None => {
            let names: Vec<&str> = APPEND_ACTIONS.iter().map(|a| a.0).collect();
            Err(cx.parse_error(
                &node.path,
                format!("expected an append action: {}", names.join(", ")),
            ))
        }
    }
}
