//! Rule tables: the bootstrap's own messages (top level, `static_resources`,
//! `admin`, addresses), read by `envoy/mod.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{Rule::*, Table};

/// `envoy.config.bootstrap.v3.Bootstrap` (the top level), read by `translate_doc`.
#[rustfmt::skip]
pub const BOOTSTRAP: Table = &[
    ("admin", Map),
    ("layered_runtime", Map),
    ("static_resources", Map),
    ("typed_dns_resolver_config", Map),
    ("enable_dispatcher_stats", Warn("ringway keeps no event-loop stats")),
    ("flags_path", Warn("ringway has no flag files")),
    ("node", Warn("node identity only matters to xDS servers and stats")),
    ("stats_config", Warn("stats tag extraction is not configurable")),
    ("stats_flush_interval", Warn("ringway has no stats sinks to flush")),
    ("stats_flush_on_admin", Warn("ringway has no stats sinks to flush")),
    ("stats_server_version_override", Warn("ringway reports its own version")),
    ("use_tcp_for_dns_lookups", Warn("DNS is sent over UDP, retried over TCP when truncated")),
    ("watchdog", Warn("ringway has no watchdog")),
    ("watchdogs", Warn("ringway has no watchdog")),
    ("bootstrap_extensions", Refuse("extensions are not implemented")),
    ("certificate_provider_instances", Refuse("certificate providers are not implemented; give certificates in tls_certificates")),
    ("cluster_manager", Refuse("cluster manager settings (EDS, outlier event logs, upstream bind) are not implemented")),
    ("default_socket_interface", Refuse("socket interfaces are not implemented")),
    ("dns_resolution_config", Refuse("only ringway's built-in resolver exists")),
    ("dynamic_resources", Refuse("xDS (dynamic configuration) is not implemented; use static_resources")),
    ("fatal_actions", Refuse("extensions are not implemented")),
    ("hds_config", Refuse("health discovery service is not implemented")),
    ("header_prefix", Refuse("ringway's own headers use the fixed x-ringway- prefix")),
    ("listener_manager", Refuse("listener manager extensions are not implemented")),
    ("overload_manager", Refuse("the overload manager is not implemented")),
    ("runtime", Refuse("runtime overrides are not implemented")),
    ("stats_sinks", Refuse("stats sinks (statsd, metrics service) are not implemented")),
    ("tracing", Refuse("tracing is not implemented")),
];

/// `envoy.config.bootstrap.v3.Bootstrap.StaticResources`, read by `translate_doc`.
#[rustfmt::skip]
pub const STATIC_RESOURCES: Table = &[
    ("clusters", Map),
    ("listeners", Map),
    ("secrets", Refuse("SDS secrets are not implemented; give certificates in tls_certificates (filename or inline_string)")),
];

/// `envoy.config.bootstrap.v3.Admin`, read by `admin`.
#[rustfmt::skip]
pub const ADMIN: Table = &[
    ("access_log", Map),
    ("access_log_path", Map),
    ("address", Map),
    ("ignore_global_conn_limit", Warn("ringway has no global connection limit")),
    ("profile_path", Warn("ringway has no CPU profiler endpoint")),
    ("socket_options", Refuse("socket options are not implemented")),
];
