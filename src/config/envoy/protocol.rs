//! A cluster's upstream protocol, from Envoy's three spellings of it: the v2/v3
//! cluster fields `http2_protocol_options` / `http_protocol_options`, and the
//! v3 `typed_extension_protocol_options` entry
//! `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`
//! (`explicit_http_config`, `auto_config`, `use_downstream_protocol_config`,
//! `common_http_protocol_options`). The result is the native `protocol`,
//! `http2` and `max_requests_per_connection` of the cluster.
//!
//! Invariant (the translator's): every sub-field is mapped, warned about or
//! refused by its table in `rules/protocol.rs`; the HTTP/2 settings ringway
//! honours are the three the `h2` crate lets it set per connection, and PING
//! keepalives (`connection_keepalive`), which ringway drives itself.

use super::{
    rules::protocol::{self as rules, HTTP_PROTOCOL_OPTIONS_EXTENSION},
    walk::{Ctx, Fields, Node, Origins},
};
use crate::config::{
    raw::{RawCluster, RawH2Keepalive, RawUpstreamHttp2},
    ConfigError,
};

/// What the cluster's fields say about its protocol, into `rc`.
pub fn cluster_protocol(
    cx: &mut Ctx,
    f: &Fields,
    native: &str,
    origins: &mut Origins,
    rc: &mut RawCluster,
) -> Result<(), ConfigError> {
    if let Some(h1) = f.get("http_protocol_options") {
        cx.fields(&h1, rules::HTTP1_PROTOCOL_OPTIONS)?;
        set_protocol(rc, "http1", native, &h1, origins);
    }
    if let Some(h2) = f.get("http2_protocol_options") {
        rc.http2 = http2_options(cx, &h2, native, origins)?;
        set_protocol(rc, "http2", native, &h2, origins);
    }
    if let Some(m) = f.get("max_requests_per_connection") {
        rc.max_requests_per_connection = Some(cx.uint(&m, u64::from(u32::MAX))? as u32);
        origins.push((format!("{native}.max_requests_per_connection"), m.path));
    }
    if let Some(t) = f.get("typed_extension_protocol_options") {
        let t = cx.fields(&t, rules::TYPED_EXTENSION_PROTOCOL_OPTIONS)?;
        if let Some(o) = t.get(HTTP_PROTOCOL_OPTIONS_EXTENSION) {
            http_protocol_options(cx, &o, native, origins, rc)?;
        }
    }
    if let Some(p) = f.get("protocol_selection") {
        let text = cx.string(&p)?;
        if !text.eq_ignore_ascii_case("use_configured_protocol") {
            return Err(cx.unsupported(
                &p.path,
                "choosing the upstream protocol by the client's is not implemented; give the cluster its protocol (http2_protocol_options, or HttpProtocolOptions.auto_config)",
            ));
        }
    }
    Ok(())
}

fn set_protocol(
    rc: &mut RawCluster,
    protocol: &str,
    native: &str,
    from: &Node,
    origins: &mut Origins,
) {
    rc.protocol = Some(protocol.to_string());
    origins.push((format!("{native}.protocol"), from.path.clone()));
}

/// `HttpProtocolOptions` (the typed extension).
fn http_protocol_options(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
    rc: &mut RawCluster,
) -> Result<(), ConfigError> {
    let f = cx.fields(node, rules::HTTP_PROTOCOL_OPTIONS)?;
    if let Some(c) = f.get("common_http_protocol_options") {
        let c = cx.fields(&c, super::rules::cluster::UPSTREAM_HTTP_PROTOCOL_OPTIONS)?;
        if let Some(t) = c.get("idle_timeout") {
            rc.idle_timeout = Some(cx.duration(&t)?);
        }
        if let Some(m) = c.get("max_requests_per_connection") {
            rc.max_requests_per_connection = Some(cx.uint(&m, u64::from(u32::MAX))? as u32);
            origins.push((format!("{native}.max_requests_per_connection"), m.path));
        }
    }
    for (key, table, auto) in [
        ("explicit_http_config", rules::EXPLICIT_HTTP_CONFIG, false),
        ("auto_config", rules::AUTO_HTTP_CONFIG, true),
    ] {
        let Some(c) = f.get(key) else { continue };
        let c = cx.fields(&c, table)?;
        if let Some(h1) = c.get("http_protocol_options") {
            cx.fields(&h1, rules::HTTP1_PROTOCOL_OPTIONS)?;
        }
        if let Some(h2) = c.get("http2_protocol_options") {
            rc.http2 = http2_options(cx, &h2, native, origins)?;
        }
        let protocol = match (auto, c.has("http2_protocol_options")) {
            (true, _) => "auto",
            (false, true) => "http2",
            (false, false) => "http1",
        };
        set_protocol(rc, protocol, native, &c.node, origins);
    }
    Ok(())
}

/// The `Http2ProtocolOptions` fields ringway sets on its connections.
fn http2_options(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawUpstreamHttp2>, ConfigError> {
    let f = cx.fields(node, rules::HTTP2_PROTOCOL_OPTIONS)?;
    let mut out = RawUpstreamHttp2::default();
    let mut number = |cx: &mut Ctx, key: &str| -> Result<Option<u32>, ConfigError> {
        let Some(n) = f.get(key) else {
            return Ok(None);
        };
        // proto3 wrappers may come as `{ value: N }`.
        let n = match n.v.get("value") {
            Some(v) => n.child("value", v),
            None => n,
        };
        let value = cx.uint(&n, u64::from(u32::MAX))? as u32;
        origins.push((format!("{native}.http2.{key}"), n.path));
        Ok(Some(value))
    };
    out.max_concurrent_streams = number(cx, "max_concurrent_streams")?;
    out.initial_stream_window_size = number(cx, "initial_stream_window_size")?;
    out.initial_connection_window_size = number(cx, "initial_connection_window_size")?;
    if let Some(k) = f.get("connection_keepalive") {
        let settings = keepalive(cx, &k, &format!("{native}.http2.keepalive"), origins)?;
        // Both intervals zero: Envoy sends no PING at all, so there is
        // nothing to drive (a block with neither given is still refused).
        let disabled = settings.interval.is_none()
            && settings.idle_interval.is_none()
            && ["interval", "connection_idle_interval"]
                .iter()
                .any(|key| k.v.get(*key).is_some());
        if !disabled {
            out.keepalive = Some(settings);
        }
    }
    let set = out.max_concurrent_streams.is_some()
        || out.initial_stream_window_size.is_some()
        || out.initial_connection_window_size.is_some()
        || out.keepalive.is_some();
    Ok(set.then_some(out))
}

/// `KeepaliveSettings`. The durations' bounds are the native schema's; a
/// block without `timeout`, or with neither interval (Envoy would send no
/// PING), is refused there, naming the Envoy field.
fn keepalive(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawH2Keepalive, ConfigError> {
    let f = cx.fields(node, rules::KEEPALIVE_SETTINGS)?;
    let mut out = RawH2Keepalive::default();
    for (key, to) in [
        ("interval", "interval"),
        ("timeout", "timeout"),
        ("connection_idle_interval", "idle_interval"),
    ] {
        let Some(d) = f.get(key) else {
            // A missing one is the native schema's to refuse, at Envoy's name.
            origins.push((format!("{native}.{to}"), format!("{}.{key}", node.path)));
            continue;
        };
        let value = cx.duration(&d)?;
        // Envoy: a zero `interval` or `connection_idle_interval` sends no such
        // PINGs (disabled, not "every instant"); the native schema says so by
        // leaving it out. A zero `timeout` stays, for the native check to refuse.
        let value = (key == "timeout" || !value.0.is_zero()).then_some(value);
        origins.push((format!("{native}.{to}"), d.path));
        match key {
            "interval" => out.interval = value,
            "timeout" => out.timeout = value,
            _ => out.idle_interval = value,
        }
    }
    if let Some(j) = f.get("interval_jitter") {
        let p = cx.fields(&j, super::rules::resilience::PERCENT)?;
        let value = match p.get("value") {
            Some(n) => {
                n.v.as_f64()
                    .ok_or_else(|| cx.parse_error(&n.path, "expected a percentage"))?
            }
            None => 0.0,
        };
        out.interval_jitter_percent = Some(value);
        origins.push((format!("{native}.interval_jitter_percent"), j.path));
    }
    Ok(out)
}
