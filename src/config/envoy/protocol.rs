//! A cluster's upstream protocol, from Envoy's three spellings of it: the v2/v3
//! cluster fields `http2_protocol_options` / `http_protocol_options`, and the
//! v3 `typed_extension_protocol_options` entry
//! `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`
//! (`explicit_http_config`, `auto_config`, `use_downstream_protocol_config`,
//! `common_http_protocol_options`). The result is the native `protocol`,
//! `http2` and `max_requests_per_connection` of the cluster.
//!
//! Invariant (the translator's): every sub-field is mapped, warned about or
//! refused by the tables below; the HTTP/2 settings ringway honours are the
//! three the `h2` crate lets it set per connection.

use super::walk::{Ctx, Fields, Map, Node, Refuse, Rule, Warn};
use crate::config::{
    raw::{RawCluster, RawUpstreamHttp2},
    ConfigError,
};

/// The name of Envoy's upstream HTTP protocol options extension.
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

const H2_FLOOD: &str = "the h2 crate's own flood limits apply";

/// `Http2ProtocolOptions`, as sent to an upstream.
const HTTP2_RULES: &[(&str, Rule)] = &[
    ("max_concurrent_streams", Map),
    ("initial_stream_window_size", Map),
    ("initial_connection_window_size", Map),
    (
        "hpack_table_size",
        Warn("the h2 crate's 4 KiB HPACK table is used"),
    ),
    ("max_outbound_frames", Warn(H2_FLOOD)),
    ("max_outbound_control_frames", Warn(H2_FLOOD)),
    (
        "max_consecutive_inbound_frames_with_empty_payload",
        Warn(H2_FLOOD),
    ),
    ("max_inbound_priority_frames_per_stream", Warn(H2_FLOOD)),
    (
        "max_inbound_window_update_frames_per_data_frame_sent",
        Warn(H2_FLOOD),
    ),
    (
        "stream_error_on_invalid_http_messaging",
        Warn("an invalid upstream response ends its stream and is answered 502"),
    ),
    (
        "override_stream_error_on_invalid_http_message",
        Warn("an invalid upstream response ends its stream and is answered 502"),
    ),
    (
        "use_oghttp2_codec",
        Warn("ringway speaks HTTP/2 with the h2 crate"),
    ),
    (
        "allow_connect",
        Refuse("CONNECT over HTTP/2 upstream streams is not implemented"),
    ),
    (
        "allow_metadata",
        Refuse("HTTP/2 METADATA frames are not implemented"),
    ),
    (
        "connection_keepalive",
        Refuse("HTTP/2 PING keepalives to upstreams are not implemented"),
    ),
    (
        "custom_settings_parameters",
        Refuse("custom HTTP/2 SETTINGS are not implemented"),
    ),
    (
        "max_metadata_size",
        Refuse("HTTP/2 METADATA frames are not implemented"),
    ),
];

const H1_FIXED: &str = "ringway's HTTP/1.1 codec has fixed behaviour";

/// `Http1ProtocolOptions`, as used towards an upstream.
const HTTP1_RULES: &[(&str, Rule)] = &[
    ("allow_absolute_url", Warn(H1_FIXED)),
    ("accept_http_10", Warn(H1_FIXED)),
    ("default_host_for_http_10", Warn(H1_FIXED)),
    (
        "header_key_format",
        Refuse("header case preservation is not implemented"),
    ),
    ("enable_trailers", Warn("ringway always passes trailers on")),
    (
        "allow_chunked_length",
        Refuse("Content-Length beside chunked framing is not implemented (refused as smuggling)"),
    ),
    (
        "override_stream_error_on_invalid_http_message",
        Warn(H1_FIXED),
    ),
    (
        "send_fully_qualified_url",
        Refuse("absolute-form request targets are not implemented"),
    ),
    ("use_balsa_parser", Warn("ringway uses its own codec")),
    ("allow_custom_methods", Warn(H1_FIXED)),
];

/// What the cluster's fields say about its protocol, into `rc`.
pub fn cluster_protocol(
    cx: &mut Ctx,
    f: &Fields,
    native: &str,
    origins: &mut Vec<(String, String)>,
    rc: &mut RawCluster,
) -> Result<(), ConfigError> {
    if let Some(h1) = f.get("http_protocol_options") {
        cx.fields(&h1, HTTP1_RULES)?;
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
        let t = cx.fields(&t, &[(HTTP_PROTOCOL_OPTIONS, Map)])?;
        if let Some(o) = t.get(HTTP_PROTOCOL_OPTIONS) {
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
    origins: &mut Vec<(String, String)>,
) {
    rc.protocol = Some(protocol.to_string());
    origins.push((format!("{native}.protocol"), from.path.clone()));
}

/// `HttpProtocolOptions` (the typed extension).
fn http_protocol_options(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Vec<(String, String)>,
    rc: &mut RawCluster,
) -> Result<(), ConfigError> {
    let f = cx.fields(
        node,
        &[
            ("@type", Map),
            ("common_http_protocol_options", Map),
            ("explicit_http_config", Map),
            ("auto_config", Map),
            (
                "use_downstream_protocol_config",
                Refuse("choosing the upstream protocol by the client's is not implemented; use explicit_http_config or auto_config"),
            ),
            (
                "upstream_http_protocol_options",
                Refuse("auto_sni / auto_san_validation are not implemented; set sni in the UpstreamTlsContext"),
            ),
            ("http_filters", Refuse("upstream HTTP filters are not implemented")),
            (
                "header_validation_config",
                Refuse("custom header validators are not implemented"),
            ),
        ],
    )?;
    if let Some(c) = f.get("common_http_protocol_options") {
        let c = cx.fields(&c, &super::common_http_rules("upstream"))?;
        if let Some(t) = c.get("idle_timeout") {
            rc.idle_timeout = Some(cx.duration(&t)?);
        }
        if let Some(m) = c.get("max_requests_per_connection") {
            rc.max_requests_per_connection = Some(cx.uint(&m, u64::from(u32::MAX))? as u32);
            origins.push((format!("{native}.max_requests_per_connection"), m.path));
        }
    }
    for (key, auto) in [("explicit_http_config", false), ("auto_config", true)] {
        let Some(c) = f.get(key) else { continue };
        let mut rules = vec![
            ("http_protocol_options", Map),
            ("http2_protocol_options", Map),
            (
                "http3_protocol_options",
                Refuse("HTTP/3 to upstreams is not implemented"),
            ),
        ];
        if auto {
            rules.push((
                "alternate_protocols_cache_options",
                Refuse("alternate protocols (HTTP/3 discovery) are not implemented"),
            ));
        }
        let c = cx.fields(&c, &rules)?;
        if let Some(h1) = c.get("http_protocol_options") {
            cx.fields(&h1, HTTP1_RULES)?;
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
    origins: &mut Vec<(String, String)>,
) -> Result<Option<RawUpstreamHttp2>, ConfigError> {
    let f = cx.fields(node, HTTP2_RULES)?;
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
    let set = out.max_concurrent_streams.is_some()
        || out.initial_stream_window_size.is_some()
        || out.initial_connection_window_size.is_some();
    Ok(set.then_some(out))
}
