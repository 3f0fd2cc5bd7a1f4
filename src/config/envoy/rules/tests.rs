//! The tables' shape: no key twice, each ordered by rule then key, every
//! key spelled as an Envoy field (or extension name), and every table listed.

use super::{Rule, Table};

fn rank(r: &Rule) -> u8 {
    match r {
        Rule::Map => 0,
        Rule::DefaultOnly(..) => 1,
        Rule::Warn(_) => 2,
        Rule::Refuse(_) => 3,
    }
}

/// `(name, table)` for each `module::TABLE`.
macro_rules! tables {
    ($($m:ident::$t:ident),* $(,)?) => {
        &[$((concat!(stringify!($m), "::", stringify!($t)), super::$m::$t)),*]
    };
}

/// Every table. `every_table_is_listed` finds one missing here.
const ALL: &[(&str, Table)] = tables![
    access_log::ACCESS_LOG,
    access_log::STREAM_ACCESS_LOG,
    access_log::FILE_ACCESS_LOG,
    access_log::SUBSTITUTION_FORMAT,
    access_log::FORMAT_DATA_SOURCE,
    access_log::ACCESS_LOG_FILTER,
    access_log::NOT_HEALTH_CHECK_FILTER,
    access_log::NESTED_FILTER,
    access_log::COMPARISON_FILTER,
    access_log::COMPARISON,
    access_log::RUNTIME_UINT32,
    access_log::RESPONSE_FLAG_FILTER,
    access_log::RUNTIME_FILTER,
    access_log::FRACTIONAL_PERCENT,
    bootstrap::BOOTSTRAP,
    bootstrap::STATIC_RESOURCES,
    bootstrap::ADMIN,
    cluster::CLUSTER,
    cluster::REFRESH_RATE,
    cluster::UPSTREAM_HTTP_PROTOCOL_OPTIONS,
    cluster::CLUSTER_LOAD_ASSIGNMENT,
    cluster::LOCALITY_LB_ENDPOINTS,
    cluster::LB_ENDPOINT,
    cluster::ENDPOINT,
    common::ADDRESS,
    common::SOCKET_ADDRESS,
    dns::TYPED_DNS_RESOLVER_CONFIG,
    dns::GETADDRINFO_DNS_RESOLVER_CONFIG,
    dns::CARES_DNS_RESOLVER_CONFIG,
    edge::WRAPPED_VALUE,
    edge::INTERNAL_ADDRESS_CONFIG,
    edge::CIDR_RANGE,
    edge::MAX_STREAM_DURATION,
    headers::HEADER_VALUE_OPTION,
    headers::HEADER_VALUE,
    listener::LISTENER,
    listener::FILTER_CHAIN,
    listener::HTTP_PROTOCOL_OPTIONS,
    listener::FILTER_CHAIN_MATCH,
    listener::LISTENER_FILTER,
    listener::NETWORK_FILTER,
    listener::CONNECTION_MANAGER,
    listener::HTTP_FILTER,
    listener::ROUTER,
    listener::ROUTE_CONFIGURATION,
    listener::VIRTUAL_HOST,
    listener::ROUTE,
    listener::ROUTE_ACTION,
    listener::RETRY_POLICY,
    matching::ROUTE_MATCH,
    matching::REGEX_MATCHER,
    matching::GOOGLE_RE2,
    matching::STRING_MATCHER,
    matching::HEADER_MATCHER,
    matching::INT64_RANGE,
    matching::QUERY_PARAMETER_MATCHER,
    matching::REGEX_MATCH_AND_SUBSTITUTE,
    protocol::HTTP2_PROTOCOL_OPTIONS,
    protocol::KEEPALIVE_SETTINGS,
    protocol::HTTP1_PROTOCOL_OPTIONS,
    protocol::TYPED_EXTENSION_PROTOCOL_OPTIONS,
    protocol::HTTP_PROTOCOL_OPTIONS,
    protocol::EXPLICIT_HTTP_CONFIG,
    protocol::AUTO_HTTP_CONFIG,
    resilience::HEALTH_CHECK,
    resilience::TCP_HEALTH_CHECK,
    resilience::HTTP_HEALTH_CHECK,
    resilience::STATUS_RANGE,
    resilience::OUTLIER_DETECTION,
    resilience::CIRCUIT_BREAKERS,
    resilience::THRESHOLDS,
    resilience::RING_HASH_LB_CONFIG,
    resilience::MAGLEV_LB_CONFIG,
    resilience::LEAST_REQUEST_LB_CONFIG,
    resilience::ROUND_ROBIN_LB_CONFIG,
    resilience::CONSISTENT_HASHING_LB_CONFIG,
    resilience::COMMON_LB_CONFIG,
    resilience::PERCENT,
    resilience::HASH_POLICY,
    resilience::HASH_POLICY_HEADER,
    resilience::HASH_POLICY_COOKIE,
    resilience::HASH_POLICY_CONNECTION,
    route_action::WEIGHTED_CLUSTER,
    route_action::CLUSTER_WEIGHT,
    route_action::REDIRECT_ACTION,
    route_action::DIRECT_RESPONSE_ACTION,
    route_action::BODY_DATA_SOURCE,
    runtime::LAYERED_RUNTIME,
    runtime::RUNTIME_LAYER,
    tls::TRANSPORT_SOCKET,
    tls::DOWNSTREAM_TLS_CONTEXT,
    tls::TRANSPORT_SOCKET_MATCH,
    tls::UPSTREAM_TLS_CONTEXT,
    tls::COMMON_TLS_CONTEXT,
    tls::TLS_PARAMETERS,
    tls::TLS_CERTIFICATE,
    tls::CERTIFICATE_VALIDATION_CONTEXT,
    tls::SUBJECT_ALT_NAME_MATCHER,
    tls::SAN_STRING_MATCHER,
    tls::DATA_SOURCE,
    tls::BOOL_VALUE,
];

/// `ALL` and the table of `rules` itself.
fn all() -> impl Iterator<Item = &'static (&'static str, Table)> {
    ALL.iter().chain(&[("rules::DURATION", super::DURATION)])
}

#[test]
fn no_table_has_a_key_twice() {
    for (name, table) in all() {
        for (i, (key, _)) in table.iter().enumerate() {
            assert!(
                table[..i].iter().all(|(k, _)| k != key),
                "{name}: `{key}` appears twice"
            );
        }
    }
}

#[test]
fn every_table_is_ordered_by_rule_then_key() {
    for (name, table) in all() {
        for pair in table.windows(2) {
            let (a, b) = ((rank(&pair[0].1), pair[0].0), (rank(&pair[1].1), pair[1].0));
            assert!(
                a < b,
                "{name}: `{}` must come before `{}` (Map, DefaultOnly, Warn, Refuse; then by key)",
                b.1,
                a.1
            );
        }
    }
}

#[test]
fn every_key_is_spelled_as_an_envoy_field() {
    for (name, table) in all() {
        for (key, _) in *table {
            let snake = key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            // A map of extensions is keyed by the extension's name.
            let extension = key.starts_with("envoy.")
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
            assert!(
                (snake && key.as_bytes()[0].is_ascii_lowercase()) || extension || *key == "@type",
                "{name}: `{key}` is not an Envoy field name"
            );
        }
    }
}

#[test]
fn every_message_is_explained() {
    for (name, table) in all() {
        for (key, rule) in *table {
            let why = match rule {
                Rule::Map => continue,
                Rule::DefaultOnly(_, why) | Rule::Warn(why) | Rule::Refuse(why) => why,
            };
            assert!(!why.trim().is_empty(), "{name}.{key} has no reason");
            // ringway's own headers are x-ringway-*: a reason naming x-envoy-*
            // may only say that it is not implemented, never that ringway sends it.
            assert!(
                !why.contains("x-envoy") || why.contains("not implemented"),
                "{name}.{key}: ringway sends x-ringway-* headers, not x-envoy-*: {why}"
            );
        }
    }
}

/// A table added to a rules file but not to `ALL` would escape the checks.
#[test]
fn every_table_is_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/config/envoy/rules");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the rules directory") {
        let path = entry.expect("a directory entry").path();
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let module = if module == "mod" { "rules" } else { module }.to_string();
        if module != "tests" {
            let text = std::fs::read_to_string(&path).expect("a rules file");
            sources.push((module, text));
        }
    }
    assert!(sources.len() > 10, "found the rules files in {dir}");
    for (module, text) in &sources {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("pub const ") else {
                continue;
            };
            let Some((table, _)) = rest.split_once(": Table") else {
                continue;
            };
            let name = format!("{module}::{table}");
            assert!(
                all().any(|(n, _)| *n == name),
                "{name} is not in rules::tests::ALL"
            );
        }
    }
}
