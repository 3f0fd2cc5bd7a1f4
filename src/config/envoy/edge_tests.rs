//! The connection manager's edge keys: mapped into the listener's
//! forwarding policy and limits, warned about where ringway does less, and
//! bad values named by path and line.

use crate::config::{load_str, model::*, ConfigError};

const V3: &str = include_str!("testdata/v3.yaml");
const HCM: &str = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const OPTIONS: &str = "            max_headers_count: 50\n";
const STAT: &str = "          stat_prefix: ingress_http\n";

fn edit(from: &str, to: &str) -> String {
    assert!(V3.contains(from), "`{from}` is not in v3.yaml");
    V3.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

fn listener(text: &str) -> ListenerConfig {
    let loaded = load_str(text).unwrap_or_else(|e| panic!("should load: {e}"));
    loaded.config.listeners[0].clone()
}

/// The field, line and reason of `text`'s load error.
fn error(text: &str) -> (String, Option<usize>, String) {
    match load_str(text).map(|l| l.config) {
        Err(
            ConfigError::Parse {
                field,
                line,
                reason,
            }
            | ConfigError::Invalid {
                field,
                line,
                reason,
            }
            | ConfigError::Unsupported {
                field,
                line,
                reason,
            },
        ) => (field, line, reason),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_file_that_says_nothing_gets_envoys_defaults() {
    let l = listener(V3);
    assert_eq!(l.forwarding, Forwarding::envoy_default());
    assert!(!l.forwarding.use_remote_address);
    assert_eq!(
        l.forwarding.external_address_header.as_deref(),
        Some("x-envoy-external-address")
    );
    assert_eq!(l.limits.underscores, UnderscoreAction::Allow);
    assert_eq!(l.max_requests_per_connection, None);
}

#[test]
fn forwarding_keys_map() {
    let text = edit(
        STAT,
        "          stat_prefix: ingress_http\n\
         \x20         use_remote_address: true\n\
         \x20         xff_num_trusted_hops: 2\n\
         \x20         skip_xff_append: { value: true }\n\
         \x20         generate_request_id: false\n\
         \x20         preserve_external_request_id: true\n\
         \x20         internal_address_config:\n\
         \x20           cidr_ranges:\n\
         \x20           - { address_prefix: 10.0.0.0, prefix_len: 8 }\n\
         \x20           - { address_prefix: \"fd00::\", prefix_len: { value: 8 } }\n",
    );
    let f = listener(&text).forwarding;
    assert!(f.use_remote_address && f.skip_xff_append && f.preserve_external_request_id);
    assert!(!f.generate_request_id);
    assert_eq!(f.xff_num_trusted_hops, 2);
    let ranges: Vec<String> = f.internal.iter().map(|c| c.to_string()).collect();
    assert_eq!(ranges, ["10.0.0.0/8", "fd00::/8"]);
}

#[test]
fn protocol_option_limits_map() {
    for (word, action) in [
        ("ALLOW", UnderscoreAction::Allow),
        ("REJECT_REQUEST", UnderscoreAction::RejectRequest),
        ("drop_header", UnderscoreAction::DropHeader),
        ("2", UnderscoreAction::DropHeader),
    ] {
        let text = edit(
            OPTIONS,
            &format!(
                "            max_headers_count: 50\n\
                 \x20           max_requests_per_connection: 7\n\
                 \x20           headers_with_underscores_action: {word}\n"
            ),
        );
        let l = listener(&text);
        assert_eq!(l.limits.underscores, action, "{word}");
        assert_eq!(l.max_requests_per_connection, Some(7));
    }
    // 0 is Envoy's "unlimited".
    let text = edit(
        OPTIONS,
        "            max_headers_count: 50\n            max_requests_per_connection: 0\n",
    );
    assert_eq!(listener(&text).max_requests_per_connection, None);
}

#[test]
fn unix_sockets_warn_that_no_peer_is_one() {
    let text = edit(
        STAT,
        "          stat_prefix: ingress_http\n\
         \x20         internal_address_config:\n\
         \x20           unix_sockets: true\n",
    );
    warned(
        &text,
        &format!("{HCM}.internal_address_config.unix_sockets"),
        "unix_sockets:",
        "unix socket",
    );
}

#[test]
fn bad_values_name_path_and_line() {
    let bad_cidr = edit(
        STAT,
        "          stat_prefix: ingress_http\n\
         \x20         internal_address_config:\n\
         \x20           cidr_ranges:\n\
         \x20           - { address_prefix: 10.0.0.0, prefix_len: 40 }\n",
    );
    let (field, line, reason) = error(&bad_cidr);
    assert_eq!(
        field,
        format!("{HCM}.internal_address_config.cidr_ranges[0]")
    );
    assert_eq!(line, Some(line_of(&bad_cidr, "- { address_prefix")));
    assert!(reason.contains("10.0.0.0/40"), "{reason}");

    let bad_action = edit(
        OPTIONS,
        "            max_headers_count: 50\n            headers_with_underscores_action: MAYBE\n",
    );
    let (field, line, reason) = error(&bad_action);
    assert_eq!(
        field,
        format!("{HCM}.common_http_protocol_options.headers_with_underscores_action")
    );
    assert_eq!(
        line,
        Some(line_of(&bad_action, "headers_with_underscores_action"))
    );
    assert!(reason.contains("REJECT_REQUEST"), "{reason}");

    let bad_flag = edit(
        STAT,
        "          stat_prefix: ingress_http\n          use_remote_address: sometimes\n",
    );
    let (field, line, _) = error(&bad_flag);
    assert_eq!(field, format!("{HCM}.use_remote_address"));
    assert_eq!(line, Some(line_of(&bad_flag, "use_remote_address")));
}

#[test]
fn native_forwarding_errors_name_the_field() {
    let native = "listeners:\n- address: 127.0.0.1:0\n  forwarding:\n    internal_addresses: [10.0.0.0/8, nope]\n  virtual_hosts:\n  - domains: ['*']\n    routes: [{ match: { prefix: / }, direct_response: { status: 200 } }]\nclusters: []\n";
    let (field, _, reason) = error(native);
    assert_eq!(field, "listeners[0].forwarding.internal_addresses[1]");
    assert!(reason.contains("nope"), "{reason}");
    let bad = native.replace(
        "internal_addresses: [10.0.0.0/8, nope]",
        "external_address_header: \"a b\"",
    );
    assert_eq!(
        error(&bad).0,
        "listeners[0].forwarding.external_address_header"
    );
    let bad = native.replace(
        "  forwarding:\n    internal_addresses: [10.0.0.0/8, nope]\n",
        "  headers_with_underscores: sometimes\n",
    );
    assert_eq!(error(&bad).0, "listeners[0].headers_with_underscores");
    let bad = native.replace(
        "  forwarding:\n    internal_addresses: [10.0.0.0/8, nope]\n",
        "  max_requests_per_connection: 0\n",
    );
    assert_eq!(error(&bad).0, "listeners[0].max_requests_per_connection");
}

const V1_ACTION: &str = "                  timeout: 2.5s\n";

fn retry_text(words: &str) -> String {
    edit(
        V1_ACTION,
        &format!(
            "                  timeout: 2.5s\n                  retry_policy:\n\
             \x20                   retry_on: \"{words}\"\n\
             \x20                   retriable_status_codes: [429]\n"
        ),
    )
}

#[test]
fn retry_on_spellings_map_or_warn() {
    let text = retry_text(
        "retriable-4xx,refused-stream,retriable-status-codes,envoy-ratelimited,\
         reset-before-request,http3-post-connect-failure,unavailable",
    );
    let loaded = load_str(&text).unwrap();
    let route = &loaded.config.listeners[0].virtual_hosts[0].routes[1];
    let retry = route.forward().unwrap().retry.clone().unwrap();
    assert!(retry.on_retriable_4xx && retry.on_refused_stream);
    assert!(!retry.on_5xx && !retry.on_reset && !retry.on_connect_failure);
    assert!(retry.retries_status(409) && retry.retries_status(429));
    assert!(!retry.retries_status(408) && !retry.retries_status(503));
    let at = format!(
        "{HCM}.route_config.virtual_hosts[0].routes[1].route.retry_policy.retry_on (line {})",
        line_of(&text, "retry_on:")
    );
    for word in [
        "envoy-ratelimited",
        "reset-before-request",
        "http3-post-connect-failure",
        "unavailable",
    ] {
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.starts_with(&at) && w.contains(&format!("`{word}` never matches"))),
            "{word}: {:#?}",
            loaded.warnings
        );
    }
    // Only never-matching words: a policy that retries nothing.
    let text = retry_text("envoy-ratelimited");
    let loaded = load_str(&text).unwrap();
    let route = &loaded.config.listeners[0].virtual_hosts[0].routes[1];
    let retry = route.forward().unwrap().retry.clone().unwrap();
    assert!(!retry.retries_status(429) && !retry.retries_status(503));
}

fn warned(text: &str, path: &str, needle: &str, says: &str) {
    let warnings = load_str(text).unwrap().warnings;
    let at = format!("{path} (line {})", line_of(text, needle));
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(&at) && w.contains(says)),
        "no `{at}: …{says}…` in {warnings:#?}"
    );
}

#[test]
fn timeout_keys_map() {
    let text = edit(
        STAT,
        "          stat_prefix: ingress_http\n\
         \x20         request_timeout: 30s\n\
         \x20         stream_idle_timeout: 0s\n",
    )
    .replacen(
        OPTIONS,
        "            max_headers_count: 50\n            max_stream_duration: 5s\n",
        1,
    );
    let l = listener(&text);
    assert_eq!(l.request_timeout, Some(std::time::Duration::from_secs(30)));
    assert_eq!(l.stream_idle_timeout, None, "0s disables, as in Envoy");
    assert_eq!(
        l.max_stream_duration,
        Some(std::time::Duration::from_secs(5))
    );
    warned(
        &text,
        &format!("{HCM}.stream_idle_timeout"),
        "stream_idle_timeout:",
        "route timeout",
    );
    // Without them: no request or stream limit, ringway's 60s body waits.
    let l = listener(V3);
    assert_eq!((l.request_timeout, l.max_stream_duration), (None, None));
    assert_eq!(
        l.stream_idle_timeout,
        Some(std::time::Duration::from_secs(60))
    );
}

#[test]
fn per_connection_buffer_limit_maps_to_request_buffer() {
    let text = edit(
        "  - name: front\n",
        "  - name: front\n    per_connection_buffer_limit_bytes: 32768\n",
    );
    assert_eq!(listener(&text).request_buffer, 32768);
    warned(
        &text,
        "static_resources.listeners[0].per_connection_buffer_limit_bytes",
        "per_connection_buffer_limit_bytes",
        "request_buffer",
    );
}

const CARES: &str = "typed_dns_resolver_config:\n  name: envoy.network.dns_resolver.cares\n  typed_config:\n    \"@type\": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig\n    resolvers:\n    - socket_address: { address: 127.0.0.1, port_value: 5353 }\n    - socket_address: { address: \"::1\", port_value: 53 }\n    query_timeout_seconds: 2\n    query_tries: 3\n";

#[test]
fn typed_dns_resolver_config_maps_to_dns() {
    let text = format!("{CARES}{V3}");
    let loaded = load_str(&text).unwrap();
    let dns = &loaded.config.dns;
    let want: Vec<std::net::SocketAddr> = vec![
        "127.0.0.1:5353".parse().unwrap(),
        "[::1]:53".parse().unwrap(),
    ];
    assert_eq!(dns.resolvers, want);
    assert_eq!(dns.timeout, Some(std::time::Duration::from_secs(2)));
    assert_eq!(dns.attempts, Some(3));
    // On a cluster: its own name servers; timeout and tries warned.
    let cluster_cfg = CARES
        .replace(
            "typed_dns_resolver_config:\n",
            "    typed_dns_resolver_config:\n",
        )
        .replace("\n  ", "\n      ");
    let text = edit(
        "    dns_refresh_rate: 10s\n",
        &format!("    dns_refresh_rate: 10s\n{cluster_cfg}"),
    );
    let loaded = load_str(&text).unwrap();
    assert_eq!(loaded.config.clusters[0].dns_resolvers, want);
    warned(
        &text,
        "static_resources.clusters[0].typed_dns_resolver_config.typed_config.query_tries",
        "query_tries",
        "process-wide",
    );
    // getaddrinfo is what ringway does anyway; another resolver is refused.
    let gai = "typed_dns_resolver_config:\n  name: envoy.network.dns_resolver.getaddrinfo\n";
    assert!(load_str(&format!("{gai}{V3}"))
        .unwrap()
        .config
        .dns
        .resolvers
        .is_empty());
    let apple =
        format!("typed_dns_resolver_config:\n  name: envoy.network.dns_resolver.apple\n{V3}");
    let (field, line, reason) = error(&apple);
    assert_eq!(field, "typed_dns_resolver_config.name");
    assert_eq!(line, Some(2));
    assert!(reason.contains("c-ares"), "{reason}");
}

#[test]
fn global_connection_limit_maps_from_the_runtime() {
    let runtime = "layered_runtime:\n  layers:\n  - name: static\n    static_layer:\n      overload.global_downstream_max_connections: 50000\n";
    let text = format!(
        "{runtime}{}",
        edit(
            "  - name: front\n",
            "  - name: front\n    ignore_global_conn_limit: true\n"
        )
    );
    let loaded = load_str(&text).unwrap();
    assert_eq!(loaded.config.max_connections, Some(50000));
    assert!(loaded.config.listeners[0].ignore_global_connection_limit);
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("overload.")),
        "{:#?}",
        loaded.warnings
    );
    assert!(!listener(V3).ignore_global_connection_limit);
}

#[test]
fn what_stays_refused_names_path_and_line() {
    let route = edit(
        V1_ACTION,
        "                  timeout: 2.5s\n                  max_stream_duration: { max_stream_duration: 1s }\n",
    );
    let r = &listener(&route).virtual_hosts[0].routes[1];
    let action = r.forward().unwrap();
    assert_eq!(
        action.max_stream_duration,
        Some(std::time::Duration::from_secs(1))
    );
    let grpc = edit(
        V1_ACTION,
        "                  timeout: 2.5s\n                  max_stream_duration: { grpc_timeout_header_max: 1s }\n",
    );
    let (field, line, reason) = error(&grpc);
    assert_eq!(
        field,
        format!("{HCM}.route_config.virtual_hosts[0].routes[1].route.max_stream_duration.grpc_timeout_header_max")
    );
    assert_eq!(line, Some(line_of(&grpc, "max_stream_duration:")));
    assert!(reason.contains("gRPC"), "{reason}");
    let cluster = edit(
        "    dns_refresh_rate: 10s\n",
        "    dns_refresh_rate: 10s\n    common_http_protocol_options:\n      headers_with_underscores_action: DROP_HEADER\n",
    );
    let (field, line, _) = error(&cluster);
    assert_eq!(
        field,
        "static_resources.clusters[0].common_http_protocol_options.headers_with_underscores_action"
    );
    assert_eq!(
        line,
        Some(line_of(&cluster, "headers_with_underscores_action"))
    );
}
