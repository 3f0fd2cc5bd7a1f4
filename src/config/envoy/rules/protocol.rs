//! Rule tables: a cluster's upstream protocol options (`Http1ProtocolOptions`,
//! `Http2ProtocolOptions`, and the typed extension `HttpProtocolOptions` with
//! its explicit and auto configs), read by `envoy/protocol.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

/// The name of Envoy's upstream HTTP protocol options extension, the one key
/// of `typed_extension_protocol_options` ringway reads.
pub const HTTP_PROTOCOL_OPTIONS_EXTENSION: &str =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

pub const H2_FLOOD: &str = "the h2 crate's own flood limits apply";
pub const H1_FIXED: &str = "ringway's HTTP/1.1 codec has fixed behaviour";
const INVALID_RESPONSE: &str = "an invalid upstream response ends its stream and is answered 502";

/// `envoy.config.core.v3.Http2ProtocolOptions`, as sent to an upstream, read by
/// `http2_options`.
#[rustfmt::skip]
pub const HTTP2_PROTOCOL_OPTIONS: Table = &[
    ("connection_keepalive", Map),
    ("initial_connection_window_size", Map),
    ("initial_stream_window_size", Map),
    ("max_concurrent_streams", Map),
    ("hpack_table_size", Warn("the h2 crate's 4 KiB HPACK table is used")),
    ("max_consecutive_inbound_frames_with_empty_payload", Warn(H2_FLOOD)),
    ("max_inbound_priority_frames_per_stream", Warn(H2_FLOOD)),
    ("max_inbound_window_update_frames_per_data_frame_sent", Warn(H2_FLOOD)),
    ("max_outbound_control_frames", Warn(H2_FLOOD)),
    ("max_outbound_frames", Warn(H2_FLOOD)),
    ("override_stream_error_on_invalid_http_message", Warn(INVALID_RESPONSE)),
    ("stream_error_on_invalid_http_messaging", Warn(INVALID_RESPONSE)),
    ("use_oghttp2_codec", Warn("ringway speaks HTTP/2 with the h2 crate")),
    ("allow_connect", Refuse("CONNECT over HTTP/2 upstream streams is not implemented")),
    ("allow_metadata", Refuse("HTTP/2 METADATA frames are not implemented")),
    ("custom_settings_parameters", Refuse("custom HTTP/2 SETTINGS are not implemented")),
    ("max_metadata_size", Refuse("HTTP/2 METADATA frames are not implemented")),
];

/// `envoy.config.core.v3.KeepaliveSettings` (`connection_keepalive`), read
/// by `http2_options`.
#[rustfmt::skip]
pub const KEEPALIVE_SETTINGS: Table = &[
    ("connection_idle_interval", Map),
    ("interval", Map),
    ("interval_jitter", Map),
    ("timeout", Map),
];

/// `envoy.config.core.v3.Http1ProtocolOptions`, as used towards an upstream,
/// read by `cluster_protocol` and `http_protocol_options`.
#[rustfmt::skip]
pub const HTTP1_PROTOCOL_OPTIONS: Table = &[
    ("accept_http_10", Warn(H1_FIXED)),
    ("allow_absolute_url", Warn(H1_FIXED)),
    ("allow_custom_methods", Warn(H1_FIXED)),
    ("default_host_for_http_10", Warn(H1_FIXED)),
    ("enable_trailers", Warn("ringway always passes trailers on")),
    ("override_stream_error_on_invalid_http_message", Warn(H1_FIXED)),
    ("use_balsa_parser", Warn("ringway uses its own codec")),
    ("allow_chunked_length", Refuse("Content-Length beside chunked framing is not implemented (refused as smuggling)")),
    ("header_key_format", Refuse("header case preservation is not implemented")),
    ("send_fully_qualified_url", Refuse("absolute-form request targets are not implemented")),
];

/// A cluster's `typed_extension_protocol_options` (a map of extension names),
/// read by `cluster_protocol`.
#[rustfmt::skip]
pub const TYPED_EXTENSION_PROTOCOL_OPTIONS: Table = &[
    (HTTP_PROTOCOL_OPTIONS_EXTENSION, Map),
];

/// `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, read by
/// `http_protocol_options`.
#[rustfmt::skip]
pub const HTTP_PROTOCOL_OPTIONS: Table = &[
    ("@type", Map),
    ("auto_config", Map),
    ("common_http_protocol_options", Map),
    ("explicit_http_config", Map),
    ("header_validation_config", Refuse("custom header validators are not implemented")),
    ("http_filters", Refuse("upstream HTTP filters are not implemented")),
    ("upstream_http_protocol_options", Refuse("auto_sni / auto_san_validation are not implemented; set sni in the UpstreamTlsContext")),
    ("use_downstream_protocol_config", Refuse("choosing the upstream protocol by the client's is not implemented; use explicit_http_config or auto_config")),
];

/// `…HttpProtocolOptions.ExplicitHttpConfig`, read by `http_protocol_options`.
#[rustfmt::skip]
pub const EXPLICIT_HTTP_CONFIG: Table = &[
    ("http2_protocol_options", Map),
    ("http_protocol_options", Map),
    ("http3_protocol_options", Refuse("HTTP/3 to upstreams is not implemented")),
];

/// `…HttpProtocolOptions.AutoHttpConfig`, read by `http_protocol_options`.
#[rustfmt::skip]
pub const AUTO_HTTP_CONFIG: Table = &[
    ("http2_protocol_options", Map),
    ("http_protocol_options", Map),
    ("alternate_protocols_cache_options", Refuse("alternate protocols (HTTP/3 discovery) are not implemented")),
    ("http3_protocol_options", Refuse("HTTP/3 to upstreams is not implemented")),
];
