//! Pieces shared by several Envoy messages: socket addresses, and the
//! `name` + `config`/`typed_config` shape of every extension entry (filters,
//! access loggers, transport sockets). A leaf under the translator modules:
//! it imports only `walk` and `rules`.

use serde_yaml::Value;

use super::{
    rules::common as rules,
    walk::{Ctx, Fields, Node},
};
use crate::config::ConfigError;

/// `address: { socket_address: { address, port_value } }` → `ip:port` or `name:port`.
/// Returns the text and the path of the `socket_address` it came from.
pub fn address(cx: &mut Ctx, node: &Node) -> Result<(String, String), ConfigError> {
    let f = cx.fields(node, rules::ADDRESS)?;
    let sa = f
        .get("socket_address")
        .ok_or_else(|| cx.invalid(&node.path, "needs a `socket_address`"))?;
    let s = cx.fields(&sa, rules::SOCKET_ADDRESS)?;
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

/// The name, body (`config` or `typed_config`) and `@type` of an extension entry.
pub fn extension<'a>(
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

pub fn named_path(node: &Node, f: &Fields) -> String {
    if f.has("name") {
        format!("{}.name", node.path)
    } else {
        node.path.clone()
    }
}
