//! Rule tables: `Listener`, its filter chains and filters, the HTTP connection manager,
//! the router filter, and the route configuration down to `RouteAction` and
//! `RetryPolicy`, read by `envoy/listener.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_default, is_false, is_none, is_true, Rule::*, Table};

pub const HEADERS_MUTATION: &str = "this header feature is not implemented (request_headers_to_add and response_headers_to_add are)";
pub const PER_FILTER: &str = "per-route filter config needs filters ringway lacks";
pub const CLIENT_CERT_HEADERS: &str =
    "forwarding client certificate details (x-forwarded-client-cert) is not implemented";
/// Envoy enables upgrades per type; ringway tunnels any upgrade its upstream accepts.
pub const UPGRADES: &str =
    "ringway tunnels every upgrade (WebSocket and others) its upstream answers with 101";

/// `envoy.config.listener.v3.Listener`, read by `listener`.
#[rustfmt::skip]
pub const LISTENER: Table = &[
    ("access_log", Map),
    ("address", Map),
    ("filter_chains", Map),
    ("ignore_global_conn_limit", Map),
    ("listener_filters", Map),
    ("name", Map),
    ("per_connection_buffer_limit_bytes", Map),
    ("stat_prefix", Map),
    ("bind_to_port", DefaultOnly(is_true, "listeners that do not bind are not implemented")),
    ("enable_mptcp", DefaultOnly(is_false, "MPTCP is not implemented")),
    ("freebind", DefaultOnly(is_false, "IP_FREEBIND is not implemented")),
    ("transparent", DefaultOnly(is_false, "transparent proxying is not implemented")),
    ("use_original_dst", DefaultOnly(is_false, "original destination redirection is not implemented")),
    ("connection_balance_config", Warn("each worker accepts on its own SO_REUSEPORT socket")),
    ("continue_on_listener_filters_timeout", Warn("ringway has no listener filters")),
    ("drain_type", Warn("ringway drains on SIGTERM only")),
    ("enable_reuse_port", Warn("each worker accepts on its own SO_REUSEPORT socket")),
    ("listener_filters_timeout", Warn("ringway has no listener filters")),
    ("max_connections_to_accept_per_socket_event", Warn("accepting is not tunable")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("reuse_port", Warn("each worker accepts on its own SO_REUSEPORT socket")),
    ("tcp_backlog_size", Warn("the accept backlog is fixed at 1024")),
    ("tcp_fast_open_queue_length", Warn("TCP Fast Open is not enabled")),
    ("traffic_direction", Warn("traffic direction only matters to tracing")),
    ("additional_addresses", Refuse("a listener has one address; write one listener per address")),
    ("api_listener", Refuse("API listeners are not implemented")),
    ("default_filter_chain", Refuse("filter chain matching is not implemented")),
    ("deprecated_v1", Refuse("v1 listener options are not implemented")),
    ("filter_chain_matcher", Refuse("filter chain matching is not implemented")),
    ("internal_listener", Refuse("internal listeners are not implemented")),
    ("socket_options", Refuse("socket options are not implemented")),
    ("udp_listener_config", Refuse("UDP listeners are not implemented")),
];

/// A filter chain (the same rules for every chain of a listener), read by
/// `listener` and `add_sni_chain`.
#[rustfmt::skip]
pub const FILTER_CHAIN: Table = &[
    ("filter_chain_match", Map),
    ("filters", Map),
    ("tls_context", Map),
    ("transport_socket", Map),
    ("transport_socket_connect_timeout", Map),
    ("use_proxy_proto", DefaultOnly(is_false, "the PROXY protocol is not implemented")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("name", Warn("filter chain names only matter to filter chain matching")),
];

/// `common_http_protocol_options` of the connection manager (downstream); a
/// cluster's (upstream) are `cluster::UPSTREAM_HTTP_PROTOCOL_OPTIONS`.
#[rustfmt::skip]
pub const HTTP_PROTOCOL_OPTIONS: Table = &[
    ("headers_with_underscores_action", Map),
    ("idle_timeout", Map),
    ("max_connection_duration", Map),
    ("max_headers_count", Map),
    ("max_requests_per_connection", Map),
    ("max_stream_duration", Map),
    ("max_response_headers_kb", Refuse("configurable response header limits are not implemented")),
];

/// `envoy.config.listener.v3.FilterChainMatch`, read by `server_names`.
#[rustfmt::skip]
pub const FILTER_CHAIN_MATCH: Table = &[
    ("server_names", Map),
    ("transport_protocol", Map),
    ("address_suffix", Refuse("filter chains by address suffix are not implemented")),
    ("application_protocols", Refuse("filter chains by ALPN are not implemented")),
    ("destination_port", Refuse("filter chains by destination port are not implemented")),
    ("direct_source_prefix_ranges", Refuse("filter chains by source address are not implemented")),
    ("prefix_ranges", Refuse("filter chains by destination address are not implemented")),
    ("source_ports", Refuse("filter chains by source port are not implemented")),
    ("source_prefix_ranges", Refuse("filter chains by source address are not implemented")),
    ("source_type", Refuse("filter chains by source type are not implemented")),
    ("suffix_len", Refuse("filter chains by address suffix are not implemented")),
];

/// `envoy.config.listener.v3.ListenerFilter`, read by `listener_filters`.
#[rustfmt::skip]
pub const LISTENER_FILTER: Table = &[
    ("config", Map),
    ("name", Map),
    ("typed_config", Map),
    ("filter_disabled", Refuse("conditional listener filters are not implemented")),
];

/// `envoy.config.listener.v3.Filter`, read by `network_filter`.
#[rustfmt::skip]
pub const NETWORK_FILTER: Table = &[
    ("config", Map),
    ("name", Map),
    ("typed_config", Map),
    ("config_discovery", Refuse("filter config discovery (ECDS) is not implemented")),
];

/// `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
/// read by `connection_manager`.
#[rustfmt::skip]
pub const CONNECTION_MANAGER: Table = &[
    ("@type", Map),
    ("access_log", Map),
    ("codec_type", Map),
    ("common_http_protocol_options", Map),
    ("generate_request_id", Map),
    ("http_filters", Map),
    ("idle_timeout", Map),
    ("internal_address_config", Map),
    ("max_request_headers_kb", Map),
    ("preserve_external_request_id", Map),
    ("request_headers_timeout", Map),
    ("request_timeout", Map),
    ("route_config", Map),
    ("skip_xff_append", Map),
    ("stat_prefix", Map),
    ("stream_idle_timeout", Map),
    ("use_remote_address", Map),
    ("xff_num_trusted_hops", Map),
    ("merge_slashes", DefaultOnly(is_false, "path normalization is not implemented")),
    ("normalize_path", DefaultOnly(is_false, "path normalization is not implemented")),
    ("delayed_close_timeout", Warn("connections close once the response is written")),
    ("drain_timeout", Warn("the process-wide drain_timeout applies")),
    ("http2_protocol_options", Warn("HTTP/2 to clients runs with ringway's own limits (128 streams, 256 KiB stream windows)")),
    ("upgrade_configs", Warn(UPGRADES)),
    ("add_user_agent", Refuse(HEADERS_MUTATION)),
    ("early_header_mutation_extensions", Refuse(HEADERS_MUTATION)),
    ("forward_client_cert_details", Refuse(CLIENT_CERT_HEADERS)),
    ("http_protocol_options", Refuse("HTTP/1.1 codec options are not implemented")),
    ("local_reply_config", Refuse("local reply rewriting is not implemented")),
    ("max_stream_duration", Refuse("this key is not implemented; use common_http_protocol_options.max_stream_duration")),
    ("original_ip_detection_extensions", Refuse("extensions are not implemented")),
    ("path_with_escaped_slashes_action", Refuse("path normalization is not implemented")),
    ("proxy_100_continue", Refuse("100-continue proxying is not implemented")),
    ("rds", Refuse("RDS (dynamic routes) is not implemented; give route_config")),
    ("represent_ipv4_remote_address_as_ipv4_mapped_ipv6", Refuse("x-forwarded-for handling is not implemented")),
    ("request_id_extension", Refuse("request id extensions are not implemented")),
    ("scoped_routes", Refuse("scoped routes are not implemented")),
    ("server_header_transformation", Refuse("the server header is not configurable")),
    ("server_name", Refuse("the server header is not configurable")),
    ("set_current_client_cert_details", Refuse(CLIENT_CERT_HEADERS)),
    ("stream_error_on_invalid_http_message", Refuse("invalid messages always close the connection")),
    ("strip_any_host_port", Refuse("host port stripping is not implemented")),
    ("strip_matching_host_port", Refuse("host port stripping is not implemented")),
    ("tracing", Refuse("tracing is not implemented")),
    ("via", Refuse(HEADERS_MUTATION)),
];

/// `…http_connection_manager.v3.HttpFilter`, read by `http_filters`.
#[rustfmt::skip]
pub const HTTP_FILTER: Table = &[
    ("config", Map),
    ("is_optional", Map),
    ("name", Map),
    ("typed_config", Map),
    ("disabled", DefaultOnly(is_false, "disabled filters need per-route filter config, which is not implemented")),
    ("config_discovery", Refuse("filter config discovery (ECDS) is not implemented")),
];

/// `envoy.extensions.filters.http.router.v3.Router`, read by `http_filters`.
#[rustfmt::skip]
pub const ROUTER: Table = &[
    ("@type", Map),
    ("dynamic_stats", Warn("ringway keeps its own stats")),
    ("start_child_span", Warn("tracing is not implemented")),
    ("suppress_grpc_request_failure_code_stats", Warn("ringway keeps its own stats")),
    ("respect_expected_rq_timeout", Refuse("x-envoy- request headers are not implemented")),
    ("strict_check_headers", Refuse("x-envoy- request headers are not implemented")),
    ("suppress_envoy_headers", Refuse("ringway always adds its own x-ringway-* response headers (x-ringway-upstream-service-time); they cannot be suppressed")),
    ("upstream_http_filters", Refuse("upstream http filters are not implemented")),
    ("upstream_log", Refuse("upstream access logs are not implemented")),
    ("upstream_log_options", Refuse("upstream access logs are not implemented")),
];

/// `envoy.config.route.v3.RouteConfiguration`, read by `route_config`.
#[rustfmt::skip]
pub const ROUTE_CONFIGURATION: Table = &[
    ("request_headers_to_add", Map),
    ("request_headers_to_remove", Map),
    ("response_headers_to_add", Map),
    ("response_headers_to_remove", Map),
    ("virtual_hosts", Map),
    ("most_specific_header_mutations_wins", DefaultOnly(is_false, "only Envoy's default order is implemented: route, then virtual host, then route config (the least specific level wins)")),
    ("max_direct_response_body_size_bytes", Warn("ringway allows direct response bodies of up to 1 MiB")),
    ("name", Warn("route configuration names only matter to RDS")),
    ("validate_clusters", Warn("ringway always checks that routed clusters exist")),
    ("cluster_specifier_plugins", Refuse("cluster specifier plugins are not implemented")),
    ("ignore_port_in_host_matching", Refuse("host matching always compares the port")),
    ("internal_only_headers", Refuse(HEADERS_MUTATION)),
    ("request_mirror_policies", Refuse("request mirroring is not implemented")),
    ("typed_per_filter_config", Refuse(PER_FILTER)),
    ("vhds", Refuse("VHDS is not implemented")),
];

/// `envoy.config.route.v3.VirtualHost`, read by `virtual_host`.
#[rustfmt::skip]
pub const VIRTUAL_HOST: Table = &[
    ("domains", Map),
    ("name", Map),
    ("request_headers_to_add", Map),
    ("request_headers_to_remove", Map),
    ("response_headers_to_add", Map),
    ("response_headers_to_remove", Map),
    ("routes", Map),
    ("require_tls", DefaultOnly(is_none, "redirecting plaintext requests to HTTPS (require_tls) is not implemented")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("virtual_clusters", Warn("virtual cluster stats are not kept")),
    ("cors", Refuse("CORS is not implemented")),
    ("hedge_policy", Refuse("request hedging is not implemented")),
    ("include_attempt_count_in_response", Refuse(HEADERS_MUTATION)),
    ("include_request_attempt_count", Refuse(HEADERS_MUTATION)),
    ("matcher", Refuse("generic matchers are not implemented")),
    ("per_filter_config", Refuse(PER_FILTER)),
    ("rate_limits", Refuse("rate limiting is not implemented")),
    ("request_mirror_policies", Refuse("request mirroring is not implemented")),
    ("retry_policy", Refuse("virtual-host retry policies are not implemented; set retry_policy on each route")),
    ("retry_policy_typed_config", Refuse("retry policy extensions are not implemented; set retry_policy on each route")),
    ("typed_per_filter_config", Refuse(PER_FILTER)),
];

/// `envoy.config.route.v3.Route`, read by `route`.
#[rustfmt::skip]
pub const ROUTE: Table = &[
    ("direct_response", Map),
    ("match", Map),
    ("name", Map),
    ("redirect", Map),
    ("request_headers_to_add", Map),
    ("request_headers_to_remove", Map),
    ("response_headers_to_add", Map),
    ("response_headers_to_remove", Map),
    ("route", Map),
    ("decorator", Warn("tracing is not implemented")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("per_request_buffer_limit_bytes", Warn("bodies stream through fixed-size buffers")),
    ("stat_prefix", Warn("per-route stats are not kept")),
    ("tracing", Warn("tracing is not implemented")),
    ("filter_action", Refuse("filter actions are not implemented")),
    ("non_forwarding_action", Refuse("non-forwarding actions are not implemented")),
    ("per_filter_config", Refuse(PER_FILTER)),
    ("typed_per_filter_config", Refuse(PER_FILTER)),
];

/// `envoy.config.route.v3.RouteAction`, read by `forward_action`.
#[rustfmt::skip]
pub const ROUTE_ACTION: Table = &[
    ("auto_host_rewrite", Map),
    ("cluster", Map),
    ("hash_policy", Map),
    // v2's name for host_rewrite_literal.
    ("host_rewrite", Map),
    ("host_rewrite_literal", Map),
    ("max_stream_duration", Map),
    ("prefix_rewrite", Map),
    ("regex_rewrite", Map),
    ("retry_policy", Map),
    ("timeout", Map),
    ("weighted_clusters", Map),
    ("append_x_forwarded_host", DefaultOnly(is_false, HEADERS_MUTATION)),
    ("include_vh_rate_limits", DefaultOnly(is_false, "rate limiting is not implemented")),
    ("priority", DefaultOnly(is_default, "priority routing is not implemented")),
    ("upgrade_configs", Warn(UPGRADES)),
    ("use_websocket", Warn(UPGRADES)),
    ("cluster_header", Refuse("cluster_header is not implemented; name the cluster")),
    ("cluster_not_found_response_code", Refuse("routes to unknown clusters are refused at load")),
    ("cluster_specifier_plugin", Refuse("cluster specifier plugins are not implemented")),
    ("cors", Refuse("CORS is not implemented")),
    ("early_data_policy", Refuse("TLS early data is not implemented")),
    ("grpc_timeout_offset", Refuse("gRPC timeouts are not implemented")),
    ("hedge_policy", Refuse("request hedging is not implemented")),
    ("host_rewrite_header", Refuse("Host from a request header is not implemented; use host_rewrite_literal")),
    ("host_rewrite_path_regex", Refuse("Host from a path regex is not implemented; use host_rewrite_literal")),
    ("idle_timeout", Refuse("per-route idle timeouts are not implemented; use timeout")),
    ("inline_cluster_specifier_plugin", Refuse("cluster specifier plugins are not implemented")),
    ("internal_redirect_action", Refuse("internal redirects are not implemented")),
    ("internal_redirect_policy", Refuse("internal redirects are not implemented")),
    ("max_grpc_timeout", Refuse("gRPC timeouts are not implemented")),
    ("max_internal_redirects", Refuse("internal redirects are not implemented")),
    ("metadata_match", Refuse("subset load balancing is not implemented")),
    ("path_rewrite_policy", Refuse("path rewrite extensions are not implemented; use prefix_rewrite")),
    ("rate_limits", Refuse("rate limiting is not implemented")),
    ("request_mirror_policies", Refuse("request mirroring is not implemented")),
    ("request_mirror_policy", Refuse("request mirroring is not implemented")),
    ("retry_policy_typed_config", Refuse("retry policy extensions are not implemented; use retry_policy")),
];

/// `envoy.config.route.v3.RetryPolicy`, read by `retry_policy`.
#[rustfmt::skip]
pub const RETRY_POLICY: Table = &[
    ("num_retries", Map),
    ("per_try_timeout", Map),
    ("retriable_status_codes", Map),
    ("retry_on", Map),
    ("host_selection_retry_max_attempts", Warn("ringway retries on the next host of the balancer whenever the cluster has another")),
    ("retry_back_off", Warn("ringway backs off by itself: jittered, 25 ms doubling to 250 ms")),
    ("retry_host_predicate", Warn("ringway retries on the next host of the balancer whenever the cluster has another")),
    ("per_try_idle_timeout", Refuse("per-try idle timeouts are not implemented; use per_try_timeout")),
    ("rate_limited_retry_back_off", Refuse("rate-limited backoff is not implemented")),
    ("retriable_headers", Refuse("retrying on response headers is not implemented")),
    ("retriable_request_headers", Refuse("retrying on request headers is not implemented")),
    ("retry_options_predicates", Refuse("retry option predicates are not implemented")),
    ("retry_priority", Refuse("priority levels are not implemented")),
];

/// Envoy `retry_on` words for causes ringway never sees: accepted with a
/// warning and left out of the policy, so they never match (read by
/// `retry_on`; the other words go to the native policy, which checks them).
#[rustfmt::skip]
pub const NEVER_MATCHING_RETRY_ON: &[(&str, &str)] = &[
    ("envoy-ratelimited", "retrying on x-envoy-ratelimited responses is not implemented"),
    ("reset-before-request", "ringway does not tell a reset before the request was sent from one after; `reset` retries both"),
    ("http3-post-connect-failure", "ringway has no HTTP/3 upstreams"),
    ("retriable-headers", "retriable_headers are not implemented"),
    ("cancelled", "gRPC status retries are not implemented"),
    ("deadline-exceeded", "gRPC status retries are not implemented"),
    ("internal", "gRPC status retries are not implemented"),
    ("resource-exhausted", "gRPC status retries are not implemented"),
    ("unavailable", "gRPC status retries are not implemented"),
];
