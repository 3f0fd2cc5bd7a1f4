//! The connection manager's edge settings: who the client is
//! (`use_remote_address`, `xff_num_trusted_hops`, `skip_xff_append`,
//! `internal_address_config`), `x-request-id` (`generate_request_id`,
//! `preserve_external_request_id`), and the per-connection limits of
//! `common_http_protocol_options` (`max_requests_per_connection`,
//! `headers_with_underscores_action`).
//!
//! Every Envoy listener gets a `forwarding` block: Envoy's defaults differ
//! from ringway's native ones (Envoy does not append to `x-forwarded-for`
//! unless `use_remote_address`, and replaces an edge request's `x-request-id`),
//! so a file that says nothing still behaves as it did under Envoy.

use super::{
    rules::edge as rules,
    walk::{Ctx, Fields, Node, Origins},
};
use crate::config::{
    model::{Cidr, Forwarding},
    raw::{RawForwarding, RawListener, RawRoute},
    units::ByteSize,
    ConfigError,
};

/// Envoy's `headers_with_underscores_action` words (and enum numbers).
const UNDERSCORE_ACTIONS: &[(&str, u64, &str)] = &[
    ("ALLOW", 0, "allow"),
    ("REJECT_REQUEST", 1, "reject_request"),
    ("DROP_HEADER", 2, "drop_header"),
];

/// The connection manager's forwarding keys (already `Map`ped in its table).
pub fn forwarding(
    cx: &mut Ctx,
    f: &Fields,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let d = Forwarding::envoy_default();
    let mut raw = RawForwarding {
        use_remote_address: Some(d.use_remote_address),
        xff_num_trusted_hops: Some(d.xff_num_trusted_hops),
        skip_xff_append: Some(d.skip_xff_append),
        internal_addresses: Vec::new(),
        external_address_header: d.external_address_header,
        generate_request_id: Some(d.generate_request_id),
        preserve_external_request_id: Some(d.preserve_external_request_id),
        envoy_internal_headers: Some(d.envoy_internal_headers),
    };
    let at = format!("{native}.forwarding");
    let mut flag = |cx: &mut Ctx, key: &str, slot: &mut Option<bool>| -> Result<(), ConfigError> {
        if let Some(v) = f.get(key) {
            let v = wrapped(cx, &v)?;
            *slot = Some(cx.boolean(&v)?);
            origins.push((format!("{at}.{key}"), v.path.clone()));
        }
        Ok(())
    };
    flag(cx, "use_remote_address", &mut raw.use_remote_address)?;
    flag(cx, "skip_xff_append", &mut raw.skip_xff_append)?;
    flag(cx, "generate_request_id", &mut raw.generate_request_id)?;
    flag(
        cx,
        "preserve_external_request_id",
        &mut raw.preserve_external_request_id,
    )?;
    if let Some(n) = f.get("xff_num_trusted_hops") {
        raw.xff_num_trusted_hops = Some(cx.uint(&n, u32::MAX as u64)? as u32);
        origins.push((format!("{at}.xff_num_trusted_hops"), n.path.clone()));
    }
    if let Some(node) = f.get("internal_address_config") {
        raw.internal_addresses = internal_addresses(cx, &node)?;
        origins.push((format!("{at}.internal_addresses"), node.path.clone()));
    }
    rl.forwarding = Some(raw);
    for (key, slot) in [
        ("request_timeout", &mut rl.request_timeout),
        ("stream_idle_timeout", &mut rl.stream_idle_timeout),
    ] {
        if let Some(t) = f.get(key) {
            *slot = Some(cx.duration(&t)?);
            origins.push((format!("{native}.{key}"), t.path.clone()));
        }
    }
    if let Some(t) = f.get("stream_idle_timeout") {
        cx.warn(
            &t.path,
            "ringway bounds each wait for body bytes with it; the wait for the \
             upstream's response head is bounded by the route timeout (504)",
        );
    }
    Ok(())
}

/// A `BoolValue`/`UInt32Value` may be written `{ value: X }`.
fn wrapped<'a>(cx: &mut Ctx, node: &Node<'a>) -> Result<Node<'a>, ConfigError> {
    if !node.v.is_mapping() {
        return Ok(node.clone());
    }
    let f = cx.fields(node, rules::WRAPPED_VALUE)?;
    f.get("value")
        .ok_or_else(|| cx.invalid(&node.path, "a wrapped value needs `value`"))
}

fn internal_addresses(cx: &mut Ctx, node: &Node) -> Result<Vec<String>, ConfigError> {
    let f = cx.fields(node, rules::INTERNAL_ADDRESS_CONFIG)?;
    if let Some(u) = f.get("unix_sockets") {
        if cx.boolean(&u)? {
            cx.warn(
                &u.path,
                "ringway listens on IP sockets only: no peer is a unix socket",
            );
        }
    }
    let mut out = Vec::new();
    for range in f
        .get("cidr_ranges")
        .map_or(Ok(Vec::new()), |n| cx.seq(&n))?
    {
        let r = cx.fields(&range, rules::CIDR_RANGE)?;
        let Some(prefix) = r.get("address_prefix") else {
            return Err(cx.invalid(&range.path, "a CIDR range needs `address_prefix`"));
        };
        let ip = cx.string(&prefix)?;
        let len = match r.get("prefix_len") {
            Some(n) => {
                let n = wrapped(cx, &n)?;
                cx.uint(&n, 128)?
            }
            None => 0,
        };
        let text = format!("{ip}/{len}");
        if Cidr::parse(&text).is_none() {
            return Err(cx.invalid(&range.path, format!("`{text}` is not a CIDR range")));
        }
        out.push(text);
    }
    Ok(out)
}

/// `common_http_protocol_options` keys beyond the timeouts and header count.
pub fn common_options(
    cx: &mut Ctx,
    o: &Fields,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    if let Some(n) = o.get("max_requests_per_connection") {
        let n = wrapped(cx, &n)?;
        // 0 is Envoy's "no limit".
        let max = cx.uint(&n, u32::MAX as u64)?;
        rl.max_requests_per_connection = (max > 0).then_some(max);
        origins.push((
            format!("{native}.max_requests_per_connection"),
            n.path.clone(),
        ));
    }
    if let Some(t) = o.get("max_stream_duration") {
        rl.max_stream_duration = Some(cx.duration(&t)?);
        origins.push((format!("{native}.max_stream_duration"), t.path.clone()));
    }
    if let Some(a) = o.get("headers_with_underscores_action") {
        let word = match a.v.as_u64() {
            Some(n) => UNDERSCORE_ACTIONS.iter().find(|e| e.1 == n),
            None => {
                let s = cx.string(&a)?;
                UNDERSCORE_ACTIONS
                    .iter()
                    .find(|e| e.0.eq_ignore_ascii_case(&s))
            }
        };
        let Some((_, _, native_word)) = word else {
            return Err(cx.parse_error(&a.path, "not ALLOW, REJECT_REQUEST or DROP_HEADER"));
        };
        rl.headers_with_underscores = Some(native_word.to_string());
        origins.push((format!("{native}.headers_with_underscores"), a.path.clone()));
    }
    Ok(())
}

/// A listener's `per_connection_buffer_limit_bytes`: what ringway buffers of
/// a request body before it picks an upstream (`request_buffer`). Its read
/// and relay buffers keep their fixed sizes.
pub fn buffer_limit(
    cx: &mut Ctx,
    n: &Node,
    native: &str,
    rl: &mut RawListener,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let n = wrapped(cx, n)?;
    let bytes = cx.uint(&n, u64::from(u32::MAX))?;
    rl.request_buffer = Some(ByteSize(bytes));
    origins.push((format!("{native}.request_buffer"), n.path.clone()));
    cx.warn(
        &n.path,
        "bounds the request body ringway buffers before routing (request_buffer); \
         its read and relay buffers have fixed sizes (16 KiB reads, 64 KiB body chunks)",
    );
    Ok(())
}

/// A route's `max_stream_duration` (a `MaxStreamDuration`): replaces the
/// connection manager's for the route; `0s` turns it off there.
pub fn route_max_stream_duration(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    rr: &mut RawRoute,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(node, rules::MAX_STREAM_DURATION)?;
    if let Some(t) = f.get("max_stream_duration") {
        rr.max_stream_duration = Some(cx.duration(&t)?);
        origins.push((format!("{native}.max_stream_duration"), t.path.clone()));
    }
    Ok(())
}
