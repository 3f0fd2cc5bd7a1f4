//! Rule tables: Health checks, outlier detection, circuit breakers, balancer tuning and
//! route hash policies, read by `envoy/resilience.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_empty, is_false, is_get, is_http1, is_zero, Rule::*, Table};

pub const TLS: &str = "health checks over TLS are not implemented";
pub const CHECK_EVERY_INTERVAL: &str =
    "ringway checks every host at `interval`, with or without traffic, healthy or not";
pub const TCP_PAYLOAD: &str =
    "payload checks are not implemented; a tcp check passes when the connect completes";
pub const CHECK_LOG: &str = "health check transitions go to ringway's own log";
pub const RING_POINTS: &str = "ringway places 160 ring points per unit of host weight";
pub const KEY_HASH: &str = "ringway hashes keys with its own function (FNV-1a and murmur3's finalizer) and hosts by address";
pub const SUCCESS_RATE: &str = "success-rate ejection is not implemented";
pub const FAILURE_PERCENT: &str = "failure-percentage ejection is not implemented";
pub const SPLIT: &str =
    "only used with split_external_local_origin_errors, which is not implemented";

/// `envoy.config.core.v3.HealthCheck`, read by `health_check`.
#[rustfmt::skip]
pub const HEALTH_CHECK: Table = &[
    ("healthy_threshold", Map),
    ("http_health_check", Map),
    ("interval", Map),
    ("tcp_health_check", Map),
    ("timeout", Map),
    ("unhealthy_threshold", Map),
    ("always_log_health_check_failures", Warn(CHECK_LOG)),
    ("always_log_health_check_success", Warn(CHECK_LOG)),
    ("event_log_path", Warn(CHECK_LOG)),
    ("event_logger", Warn(CHECK_LOG)),
    ("event_service", Warn(CHECK_LOG)),
    ("healthy_edge_interval", Warn(CHECK_EVERY_INTERVAL)),
    ("initial_jitter", Warn("checks are not jittered")),
    ("interval_jitter", Warn("checks are not jittered")),
    ("interval_jitter_percent", Warn("checks are not jittered")),
    ("no_traffic_healthy_interval", Warn(CHECK_EVERY_INTERVAL)),
    ("no_traffic_interval", Warn(CHECK_EVERY_INTERVAL)),
    ("reuse_connection", Warn("each check opens its own connection (`connection: close`)")),
    ("unhealthy_edge_interval", Warn(CHECK_EVERY_INTERVAL)),
    ("unhealthy_interval", Warn(CHECK_EVERY_INTERVAL)),
    ("alt_port", Refuse("checking another port than the host's is not implemented")),
    ("custom_health_check", Refuse("custom health checks are not implemented; use http_health_check or tcp_health_check")),
    ("grpc_health_check", Refuse("gRPC health checks are not implemented; use http_health_check or tcp_health_check")),
    ("tls_options", Refuse(TLS)),
    ("transport_socket_match_criteria", Refuse(TLS)),
];

/// `envoy.config.core.v3.HealthCheck.TcpHealthCheck`, read by `health_check`.
#[rustfmt::skip]
pub const TCP_HEALTH_CHECK: Table = &[
    ("receive", DefaultOnly(is_empty, TCP_PAYLOAD)),
    ("send", DefaultOnly(is_empty, TCP_PAYLOAD)),
    ("proxy_protocol_config", Refuse("the PROXY protocol is not implemented")),
];

/// `envoy.config.core.v3.HealthCheck.HttpHealthCheck`, read by `http_check`.
#[rustfmt::skip]
pub const HTTP_HEALTH_CHECK: Table = &[
    ("expected_statuses", Map),
    ("host", Map),
    ("path", Map),
    ("codec_client_type", DefaultOnly(is_http1, "HTTP/2 and HTTP/3 health checks are not implemented; ringway checks over HTTP/1.1")),
    ("method", DefaultOnly(is_get, "health checks other than GET are not implemented")),
    ("use_http2", DefaultOnly(is_false, "HTTP/2 health checks are not implemented; ringway checks over HTTP/1.1")),
    ("response_buffer_size", Warn("ringway reads only the status line")),
    ("receive", Refuse("matching the health check response body is not implemented")),
    ("request_headers_to_add", Refuse("adding or removing health check headers is not implemented")),
    ("request_headers_to_remove", Refuse("adding or removing health check headers is not implemented")),
    ("retriable_statuses", Refuse("retriable health check statuses are not implemented")),
    ("send", Refuse("health check request bodies are not implemented")),
    ("service_name", Refuse("service name matching (x-envoy-upstream-healthchecked-cluster) is not implemented")),
    ("service_name_matcher", Refuse("service name matching (x-envoy-upstream-healthchecked-cluster) is not implemented")),
];

/// `envoy.type.v3.Int64Range` (`expected_statuses`), read by `status_range`.
#[rustfmt::skip]
pub const STATUS_RANGE: Table = &[
    ("end", Map),
    ("start", Map),
];

/// `envoy.config.cluster.v3.OutlierDetection`, read by `outlier_detection`.
#[rustfmt::skip]
pub const OUTLIER_DETECTION: Table = &[
    ("base_ejection_time", Map),
    ("consecutive_5xx", Map),
    ("consecutive_gateway_failure", Map),
    ("enforcing_consecutive_5xx", Map),
    ("enforcing_consecutive_gateway_failure", Map),
    ("enforcing_success_rate", Map),
    ("interval", Map),
    ("max_ejection_percent", Map),
    ("max_ejection_time", Map),
    ("successful_active_health_check_uneject_host", Map),
    ("always_eject_one_host", DefaultOnly(is_false, "ejecting beyond max_ejection_percent is not implemented")),
    ("enforcing_failure_percentage", DefaultOnly(is_zero, FAILURE_PERCENT)),
    ("enforcing_failure_percentage_local_origin", DefaultOnly(is_zero, FAILURE_PERCENT)),
    ("split_external_local_origin_errors", DefaultOnly(is_false, "separate counting of local-origin failures is not implemented; they count as 5xx")),
    ("consecutive_local_origin_failure", Warn(SPLIT)),
    ("enforcing_consecutive_local_origin_failure", Warn(SPLIT)),
    ("enforcing_local_origin_success_rate", Warn(SPLIT)),
    ("failure_percentage_minimum_hosts", Warn(FAILURE_PERCENT)),
    ("failure_percentage_request_volume", Warn(FAILURE_PERCENT)),
    ("failure_percentage_threshold", Warn("failure-percentage ejection is not implemented (and Envoy enforces it only with enforcing_failure_percentage)")),
    ("max_ejection_time_jitter", Warn("ejections are not jittered")),
    ("success_rate_minimum_hosts", Warn(SUCCESS_RATE)),
    ("success_rate_request_volume", Warn(SUCCESS_RATE)),
    ("success_rate_stdev_factor", Warn(SUCCESS_RATE)),
    ("monitors", Refuse("outlier detection monitors are not implemented")),
];

/// `envoy.config.cluster.v3.CircuitBreakers`, read by `circuit_breakers`.
#[rustfmt::skip]
pub const CIRCUIT_BREAKERS: Table = &[
    ("thresholds", Map),
    ("per_host_thresholds", Refuse("per-host circuit breakers are not implemented")),
];

/// `envoy.config.cluster.v3.CircuitBreakers.Thresholds`, read by `circuit_breakers`.
#[rustfmt::skip]
pub const THRESHOLDS: Table = &[
    ("max_connections", Map),
    ("max_pending_requests", Map),
    ("max_requests", Map),
    ("max_retries", Map),
    ("priority", Map),
    ("track_remaining", Warn("remaining-capacity gauges are not kept")),
    ("max_connection_pools", Refuse("connection pool limits are not implemented")),
    ("retry_budget", Refuse("retry budgets are not implemented; use max_retries")),
];

/// `envoy.config.cluster.v3.Cluster.RingHashLbConfig`, read by `lb_config`.
#[rustfmt::skip]
pub const RING_HASH_LB_CONFIG: Table = &[
    ("consistent_hashing_lb_config", Map),
    ("hash_function", Warn(KEY_HASH)),
    ("maximum_ring_size", Warn(RING_POINTS)),
    ("minimum_ring_size", Warn(RING_POINTS)),
    ("use_hostname_for_hashing", Warn(KEY_HASH)),
    ("hash_balance_factor", Refuse("bounded-load hashing is not implemented")),
];

/// `envoy.config.cluster.v3.Cluster.MaglevLbConfig`, read by `lb_config`.
#[rustfmt::skip]
pub const MAGLEV_LB_CONFIG: Table = &[
    ("consistent_hashing_lb_config", Map),
    ("table_size", Warn("ringway's Maglev table has 65537 entries")),
];

/// `envoy.config.cluster.v3.Cluster.LeastRequestLbConfig`, read by `lb_config`.
#[rustfmt::skip]
pub const LEAST_REQUEST_LB_CONFIG: Table = &[
    ("choice_count", Map),
    ("active_request_bias", Warn("with unequal weights ringway compares (active + 1) / weight")),
    ("enable_full_scan", Warn("ringway draws two hosts (power of two choices)")),
    ("selection_method", Warn("ringway draws two hosts (power of two choices)")),
    ("locality_lb_config", Refuse("locality-aware balancing is not implemented")),
    ("slow_start_config", Refuse("slow start is not implemented")),
];

/// `envoy.config.cluster.v3.Cluster.RoundRobinLbConfig`, read by `lb_config`.
#[rustfmt::skip]
pub const ROUND_ROBIN_LB_CONFIG: Table = &[
    ("locality_lb_config", Refuse("locality-aware balancing is not implemented")),
    ("slow_start_config", Refuse("slow start is not implemented")),
];

/// `envoy.config.cluster.v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig`,
/// read by `consistent_hashing`.
#[rustfmt::skip]
pub const CONSISTENT_HASHING_LB_CONFIG: Table = &[
    ("use_hostname_for_hashing", Warn(KEY_HASH)),
    ("hash_balance_factor", Refuse("bounded-load hashing is not implemented")),
];

/// `envoy.config.cluster.v3.Cluster.CommonLbConfig`, read by `common_lb_config`.
#[rustfmt::skip]
pub const COMMON_LB_CONFIG: Table = &[
    ("consistent_hashing_lb_config", Map),
    ("healthy_panic_threshold", Map),
    ("close_connections_on_host_set_change", Warn("ringway closes idle connections to hosts that leave; others stay pooled")),
    ("update_merge_window", Warn("host set updates apply as they come")),
    ("ignore_new_hosts_until_first_hc", Refuse("new hosts start healthy in ringway; waiting for a first check is not implemented")),
    ("locality_weighted_lb_config", Refuse("locality-weighted balancing is not implemented")),
    ("override_host_status", Refuse("host overrides are not implemented")),
    ("zone_aware_lb_config", Refuse("zone-aware balancing is not implemented")),
];

/// `envoy.type.v3.Percent` (`healthy_panic_threshold`, read by `common_lb_config`;
/// `interval_jitter`, read by `protocol::keepalive`).
#[rustfmt::skip]
pub const PERCENT: Table = &[
    ("value", Map),
];

/// `envoy.config.route.v3.RouteAction.HashPolicy`, read by `route_hash_policy`.
#[rustfmt::skip]
pub const HASH_POLICY: Table = &[
    ("connection_properties", Map),
    ("cookie", Map),
    ("header", Map),
    ("terminal", Map),
    ("filter_state", Refuse("hashing on filter state is not implemented")),
    ("query_parameter", Refuse("hashing on a query parameter is not implemented")),
];

/// `envoy.config.route.v3.RouteAction.HashPolicy.Header`, read by `route_hash_policy`.
#[rustfmt::skip]
pub const HASH_POLICY_HEADER: Table = &[
    ("header_name", Map),
    ("regex_rewrite", Refuse("rewriting the hashed value is not implemented")),
];

/// `envoy.config.route.v3.RouteAction.HashPolicy.Cookie`, read by `route_hash_policy`.
#[rustfmt::skip]
pub const HASH_POLICY_COOKIE: Table = &[
    ("name", Map),
    ("attributes", Warn("only used when Envoy generates the cookie")),
    ("path", Warn("only used when Envoy generates the cookie")),
    ("ttl", Refuse("generating affinity cookies is not implemented; ringway hashes a cookie the client sends")),
];

/// `envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties`,
/// read by `route_hash_policy`.
#[rustfmt::skip]
pub const HASH_POLICY_CONNECTION: Table = &[
    ("source_ip", Map),
];
