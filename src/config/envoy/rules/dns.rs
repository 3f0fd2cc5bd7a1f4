//! Rule tables: `typed_dns_resolver_config` and the c-ares and getaddrinfo resolvers'
//! configs, read by `envoy/dns.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_false, Rule::*, Table};

/// `envoy.config.core.v3.TypedExtensionConfig` (`typed_dns_resolver_config`),
/// read by `typed_dns_resolver_config`.
#[rustfmt::skip]
pub const TYPED_DNS_RESOLVER_CONFIG: Table = &[
    ("name", Map),
    ("typed_config", Map),
];

/// `envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig`,
/// read by `typed_dns_resolver_config`.
#[rustfmt::skip]
pub const GETADDRINFO_DNS_RESOLVER_CONFIG: Table = &[
    ("@type", Map),
    ("num_resolver_threads", Warn("ringway resolves on its own event loop")),
    ("num_retries", Warn("retries follow dns.attempts")),
];

/// `envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig`, read by `cares`.
#[rustfmt::skip]
pub const CARES_DNS_RESOLVER_CONFIG: Table = &[
    ("@type", Map),
    ("query_timeout_seconds", Map),
    ("query_tries", Map),
    ("resolvers", Map),
    ("use_resolvers_as_fallback", DefaultOnly(is_false, "falling back to the system's resolvers is not implemented")),
    ("dns_resolver_options", Warn("DNS is sent over UDP, retried over TCP when truncated")),
    ("edns0_max_payload_size", Warn("ringway's queries use its own EDNS0 size")),
    ("filter_unroutable_families", Warn("ringway asks for the families dns_lookup_family names")),
    ("max_udp_channel_duration", Warn("ringway opens a socket per query")),
    ("reinit_channel_on_timeout", Warn("ringway opens a socket per query")),
    ("udp_max_queries", Warn("ringway opens a socket per query")),
    ("max_pending_lookups", Refuse("a pending lookup limit is not implemented")),
];
