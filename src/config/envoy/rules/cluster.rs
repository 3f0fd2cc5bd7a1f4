//! Rule tables: `Cluster`, its load assignment and endpoints, and the
//! upstream `HttpProtocolOptions`, read by `envoy/cluster.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_unknown_or_healthy, is_zero, Rule::*, Table};

/// `envoy.config.cluster.v3.Cluster`, read by `cluster`.
#[rustfmt::skip]
pub const CLUSTER: Table = &[
    ("circuit_breakers", Map),
    ("common_http_protocol_options", Map),
    ("common_lb_config", Map),
    ("connect_timeout", Map),
    ("dns_failure_refresh_rate", Map),
    ("dns_lookup_family", Map),
    ("dns_refresh_rate", Map),
    ("dns_resolvers", Map),
    ("health_checks", Map),
    ("hosts", Map),
    ("http2_protocol_options", Map),
    ("http_protocol_options", Map),
    ("ignore_health_on_host_removal", Map),
    ("lb_policy", Map),
    ("least_request_lb_config", Map),
    ("load_assignment", Map),
    ("maglev_lb_config", Map),
    ("max_requests_per_connection", Map),
    ("name", Map),
    ("outlier_detection", Map),
    ("protocol_selection", Map),
    ("respect_dns_ttl", Map),
    ("ring_hash_lb_config", Map),
    ("round_robin_lb_config", Map),
    ("tls_context", Map),
    ("transport_socket", Map),
    ("transport_socket_matches", Map),
    ("type", Map),
    ("typed_dns_resolver_config", Map),
    ("typed_extension_protocol_options", Map),
    ("alt_stat_name", Warn("stats use the cluster name")),
    ("cleanup_interval", Warn("ringway drains removed hosts' pools on each DNS update")),
    ("close_connections_on_host_health_failure", Warn("connections to a host that fails its checks stay open; the host just gets no new requests")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("per_connection_buffer_limit_bytes", Warn("ringway's buffers have a fixed size")),
    ("preconnect_policy", Warn("connections are opened on demand")),
    ("track_timeout_budgets", Warn("timeout budget stats are not kept")),
    ("upstream_connection_options", Warn("TCP keepalive tuning is not configurable")),
    ("use_tcp_for_dns_lookups", Warn("DNS is sent over UDP, retried over TCP when truncated")),
    ("wait_for_warm_on_init", Warn("DNS clusters answer 503 until their first resolution")),
    ("cluster_type", Refuse("custom cluster types are not implemented")),
    ("dns_resolution_config", Refuse("only ringway's built-in resolver exists")),
    ("eds_cluster_config", Refuse("EDS is not implemented")),
    ("filters", Refuse("upstream network filters are not implemented")),
    ("lb_subset_config", Refuse("subset load balancing is not implemented")),
    ("load_balancing_policy", Refuse("typed load balancing policies are not implemented; use lb_policy")),
    ("original_dst_lb_config", Refuse("ORIGINAL_DST balancing is not implemented")),
    ("upstream_bind_config", Refuse("binding upstream sockets is not implemented")),
    ("upstream_http_protocol_options", Refuse("auto_sni / auto_san_validation are not implemented; set sni in the UpstreamTlsContext")),
];

/// `envoy.config.cluster.v3.Cluster.RefreshRate` (`dns_failure_refresh_rate`), read by `cluster`.
#[rustfmt::skip]
pub const REFRESH_RATE: Table = &[
    ("base_interval", Map),
    ("max_interval", Warn("failed resolutions are retried at base_interval, without backoff")),
];

/// A cluster's `common_http_protocol_options` (upstream); the connection
/// manager's are `listener::HTTP_PROTOCOL_OPTIONS`.
#[rustfmt::skip]
pub const UPSTREAM_HTTP_PROTOCOL_OPTIONS: Table = &[
    ("idle_timeout", Map),
    ("max_requests_per_connection", Map),
    ("max_headers_count", Warn("ringway limits upstream response headers with its own fixed limits")),
    ("headers_with_underscores_action", Refuse("ringway always allows underscores in response header names")),
    ("max_connection_duration", Refuse("upstream connection lifetime limits are not implemented")),
    ("max_response_headers_kb", Refuse("configurable response header limits are not implemented")),
    ("max_stream_duration", Refuse("upstream stream duration limits are not implemented")),
];

/// `envoy.config.endpoint.v3.ClusterLoadAssignment`, read by `load_assignment`.
#[rustfmt::skip]
pub const CLUSTER_LOAD_ASSIGNMENT: Table = &[
    ("cluster_name", Map),
    ("endpoints", Map),
    ("named_endpoints", Refuse("named endpoints are not implemented")),
    ("policy", Refuse("load assignment policies (overprovisioning, drop overloads) are not implemented")),
];

/// `envoy.config.endpoint.v3.LocalityLbEndpoints`, read by `load_assignment`.
#[rustfmt::skip]
pub const LOCALITY_LB_ENDPOINTS: Table = &[
    ("lb_endpoints", Map),
    ("priority", DefaultOnly(is_zero, "priority levels are not implemented")),
    ("load_balancing_weight", Warn("ringway does not balance by locality")),
    ("locality", Warn("ringway does not balance by locality")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("proximity", Warn("ringway does not balance by locality")),
    ("leds_cluster_locality_config", Refuse("LEDS is not implemented")),
];

/// `envoy.config.endpoint.v3.LbEndpoint`, read by `load_assignment`.
#[rustfmt::skip]
pub const LB_ENDPOINT: Table = &[
    ("endpoint", Map),
    ("load_balancing_weight", Map),
    ("health_status", DefaultOnly(is_unknown_or_healthy, "static health status other than HEALTHY is not implemented")),
    ("metadata", Warn("metadata only matters to filters ringway lacks")),
    ("endpoint_name", Refuse("named endpoints are not implemented")),
];

/// `envoy.config.endpoint.v3.Endpoint`, read by `load_assignment`.
#[rustfmt::skip]
pub const ENDPOINT: Table = &[
    ("address", Map),
    ("hostname", Warn("ringway reports the address; host names come from DNS clusters")),
    ("additional_addresses", Refuse("additional endpoint addresses are not implemented")),
    ("health_check_config", Refuse("a health check address or port per endpoint is not implemented; checks go to the endpoint's address")),
];
