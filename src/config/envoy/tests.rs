//! The Envoy front door: the seed files load and mean what they meant to Envoy;
//! v2 and v3 goldens; one test per refusal and per warning, each checking the
//! YAML path and line; `convert` output loads back to the same model.

use std::{net::SocketAddr, time::Duration};

use crate::config::{load_str, model::*, to_native_yaml, ConfigError, Loaded};

const FRONT: &str = include_str!("../../../config/envoy/front-envoy.yaml");
const SERVICE: &str = include_str!("../../../config/envoy/service-envoy.yaml");
const V2: &str = include_str!("testdata/v2.yaml");
const V3: &str = include_str!("testdata/v3.yaml");
const NATIVE: &str = include_str!("testdata/native.yaml");
const RES: &str = include_str!("testdata/resilience.yaml");
const RES_NATIVE: &str = include_str!("testdata/resilience.native.yaml");

const HCM_V3: &str = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const HCM_V2: &str = "static_resources.listeners[0].filter_chains[0].filters[0].config";

/// The 1-based line where the first occurrence of `needle` (possibly several
/// lines long) starts.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    let at = text.find(needle);
    assert!(at.is_some(), "`{needle}` is not in the test text");
    at.map(|i| text[..i].matches('\n').count() + 1)
}

/// `base` with the first `from` replaced by `to`; `from` must be there.
fn edit(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "`{from}` is not in the base text");
    base.replacen(from, to, 1)
}

fn load(text: &str) -> Loaded {
    load_str(text).unwrap_or_else(|e| panic!("should load: {e}"))
}

/// The kinds of `ConfigError` that point into the file: each has a field, a
/// line and a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Parse,
    Invalid,
    Unsupported,
}

/// `text` fails to load with a `fault` error naming `path`, on the line where
/// `needle` starts, for a reason that contains `says`.
fn rejected(fault: Fault, text: &str, path: &str, needle: &str, says: &str) {
    let err = load_str(text).map(|l| l.config);
    let (kind, field, line, reason) = match &err {
        Err(ConfigError::Parse {
            field,
            line,
            reason,
        }) => (Fault::Parse, field, line, reason),
        Err(ConfigError::Invalid {
            field,
            line,
            reason,
        }) => (Fault::Invalid, field, line, reason),
        Err(ConfigError::Unsupported {
            field,
            line,
            reason,
        }) => (Fault::Unsupported, field, line, reason),
        other => panic!("expected {fault:?} at {path}, got {other:?}"),
    };
    assert_eq!(kind, fault, "at {path}: {err:?}");
    assert_eq!(field, path, "{reason}");
    assert_eq!(*line, line_of(text, needle), "{field}: {reason}");
    assert!(reason.contains(says), "{reason}");
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Without the golden file's leading comment.
fn native_golden() -> String {
    without_comment(NATIVE)
}

fn without_comment(text: &str) -> String {
    text.lines().skip(1).map(|l| format!("{l}\n")).collect()
}

#[test]
fn front_envoy_seed_translates_to_the_front_proxy() {
    let loaded = load(FRONT);
    let c = &loaded.config;
    assert_eq!(
        c.workers,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.name, "ingress_http");
    assert_eq!(l.address, addr("0.0.0.0:80"));
    assert_eq!(l.virtual_hosts.len(), 1);
    let vh = &l.virtual_hosts[0];
    assert_eq!(vh.name, "backend");
    assert_eq!(vh.domains, ["*"]);
    let routes: Vec<(PathMatch, &str)> = vh
        .routes
        .iter()
        .map(|r| {
            (
                r.matcher.clone(),
                c.clusters[r.forward().unwrap().cluster().unwrap()]
                    .name
                    .as_str(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            (PathMatch::Prefix("/service/1".into()), "service1"),
            (PathMatch::Prefix("/service/2".into()), "service2"),
        ]
    );
    for r in &vh.routes {
        assert_eq!(r.forward().unwrap().prefix_rewrite, None);
        assert_eq!(r.forward().unwrap().timeout, Some(defaults::ROUTE_TIMEOUT));
    }
    assert_eq!(c.clusters.len(), 2);
    for (cl, name) in c.clusters.iter().zip(["service1", "service2"]) {
        assert_eq!(cl.name, name);
        assert_eq!(cl.kind, ClusterKind::StrictDns);
        assert_eq!(cl.lb_policy, LbPolicy::RoundRobin);
        assert_eq!(cl.connect_timeout, Duration::from_millis(250));
        assert_eq!(
            cl.endpoints,
            [Endpoint::Name {
                host: name.into(),
                port: 80
            }]
        );
        assert_eq!(cl.dns_refresh_rate, defaults::DNS_REFRESH_RATE);
        assert_eq!(cl.dns_lookup_family, DnsLookupFamily::Auto);
        assert!(!cl.respect_dns_ttl);
    }
    let admin = c.admin.as_ref().expect("admin");
    assert_eq!(admin.address, addr("0.0.0.0:8001"));
    assert_eq!(admin.access_log_path.as_deref(), Some("/dev/null"));

    assert_eq!(
        loaded.warnings,
        [
            format!("{HCM_V2}.http_filters[0].name (line 29): the router filter is implied: ringway always routes, and runs no other http filter"),
            format!("{HCM_V2}.route_config.name (line 14): ignored: route configuration names only matter to RDS"),
        ]
    );
    // `http2_protocol_options: {}` takes effect: HTTP/2 (h2c) to both services.
    for cl in &c.clusters {
        assert_eq!(cl.protocol, UpstreamProtocol::Http2, "{}", cl.name);
        assert_eq!(cl.http2, UpstreamHttp2::default());
    }
}

#[test]
fn service_envoy_seed_translates_to_the_sidecar() {
    let loaded = load(SERVICE);
    let c = &loaded.config;
    let l = &c.listeners[0];
    assert_eq!(l.name, "ingress_http");
    assert_eq!(l.address, addr("0.0.0.0:80"));
    assert_eq!(l.virtual_hosts[0].name, "service");
    let r = &l.virtual_hosts[0].routes[0];
    assert_eq!(r.matcher, PathMatch::Prefix("/service".into()));
    let cl = &c.clusters[r.forward().unwrap().cluster().unwrap()];
    assert_eq!(cl.name, "local_service");
    assert_eq!(cl.kind, ClusterKind::StrictDns);
    assert_eq!(cl.connect_timeout, Duration::from_millis(250));
    assert_eq!(cl.endpoints, [Endpoint::Addr(addr("127.0.0.1:8080"))]);
    assert_eq!(
        c.admin.as_ref().map(|a| a.address),
        Some(addr("0.0.0.0:8081"))
    );
    // `codec_type: auto` now takes effect (HTTP/2 by preface), no warning.
    assert_eq!(l.codec, crate::config::ListenerCodec::Auto);
    assert_eq!(loaded.warnings.len(), 2, "{:#?}", loaded.warnings);
}

#[test]
fn golden_v3() {
    let loaded = load(V3);
    assert_eq!(to_native_yaml(&loaded.raw), native_golden());
    assert_eq!(
        loaded.warnings,
        [
            format!("{HCM_V3}.http_filters[0].name (line 45): the router filter is implied: ringway always routes, and runs no other http filter"),
        ]
    );
}

#[test]
fn golden_v2() {
    let loaded = load(V2);
    assert_eq!(to_native_yaml(&loaded.raw), native_golden());
    assert_eq!(loaded.warnings.len(), 1, "{:#?}", loaded.warnings);
}

#[test]
fn golden_model() {
    let c = load(V3).config;
    let l = &c.listeners[0];
    assert_eq!(l.idle_timeout, Duration::from_secs(300));
    assert_eq!(l.limits.max_header_bytes, 32 * 1024);
    assert_eq!(l.limits.max_headers, 50);
    let api = &l.virtual_hosts[0].routes;
    assert_eq!(api[0].matcher, PathMatch::Exact("/healthz".into()));
    assert_eq!(
        api[1].forward().unwrap().prefix_rewrite.as_deref(),
        Some("/")
    );
    assert_eq!(
        api[1].forward().unwrap().timeout,
        Some(Duration::from_millis(2500))
    );
    assert_eq!(
        l.virtual_hosts[1].routes[0].forward().unwrap().timeout,
        None,
        "0s disables"
    );
    let [apic, web, local] = &c.clusters[..] else {
        panic!("three clusters")
    };
    assert_eq!(apic.kind, ClusterKind::StrictDns);
    assert_eq!(apic.endpoints.len(), 2);
    assert_eq!(apic.dns_lookup_family, DnsLookupFamily::V4Only);
    assert_eq!(apic.dns_refresh_rate, Duration::from_secs(10));
    assert!(apic.respect_dns_ttl);
    assert_eq!(web.kind, ClusterKind::LogicalDns);
    assert_eq!(web.connect_timeout, Duration::from_millis(500));
    assert_eq!(local.kind, ClusterKind::Static);
    assert_eq!(local.endpoints, [Endpoint::Addr(addr("[::1]:9000"))]);
    assert_eq!(
        c.admin.map(|a| (a.address, a.access_log_path)),
        Some((addr("127.0.0.1:9901"), None))
    );
}

#[test]
fn convert_round_trips() {
    for text in [FRONT, SERVICE, V2, V3, RES] {
        let first = load(text);
        let native = to_native_yaml(&first.raw);
        let again = load(&native);
        assert!(again.warnings.is_empty(), "{:#?}", again.warnings);
        assert_eq!(
            format!("{:?}", first.config),
            format!("{:?}", again.config),
            "{native}"
        );
    }
}

#[test]
fn native_files_stay_native() {
    // A native file with an `admin:` key is not mistaken for Envoy.
    let loaded = load(&native_golden());
    assert!(loaded.warnings.is_empty());
    let e = load_str("static_resources: [\n").unwrap_err().to_string();
    assert!(e.contains("line"), "{e}");
}

// ---- refusals: behaviour ringway lacks is an Unsupported error at its path and line

fn unsupported(text: &str, path: &str, needle: &str) {
    rejected(Fault::Unsupported, text, path, needle, "not implemented");
}

macro_rules! refuses {
    ($name:ident, $base:expr, $from:expr => $to:expr, $path:expr, $needle:expr) => {
        #[test]
        fn $name() {
            unsupported(&edit($base, $from, $to), &$path, $needle);
        }
    };
}

const LISTENER: &str = "  - name: front\n";
const CHAIN: &str = "    - filters:\n";
const HCM: &str = "          stat_prefix: ingress_http\n";
const V1_MATCH: &str = "                  prefix: \"/v1/\"\n";
const V1_ACTION: &str = "                  timeout: 2.5s\n";
const VHOST: &str = "            - name: api\n";
const CLUSTER: &str = "    lb_policy: ROUND_ROBIN\n";
const ROUTER: &str = "          - name: envoy.filters.http.router\n";
const HCM_FILTER: &str = "      - name: envoy.filters.network.http_connection_manager\n";

refuses!(http_filter_other_than_router, V3,
    ROUTER => "          - name: envoy.filters.http.cors\n            typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}\n          - name: envoy.filters.http.router\n",
    format!("{HCM_V3}.http_filters[0].name"), "envoy.filters.http.cors");
refuses!(v2_http_filter_other_than_router, V2,
    "          - name: envoy.router\n" => "          - name: envoy.lua\n            config: {inline_code: x}\n          - name: envoy.router\n",
    format!("{HCM_V2}.http_filters[0].name"), "envoy.lua");
refuses!(alts_transport_socket_on_listener, V3,
    CHAIN => "    - transport_socket:\n        name: envoy.transport_sockets.alts\n      filters:\n",
    "static_resources.listeners[0].filter_chains[0].transport_socket.name", "name: envoy.transport_sockets.alts");
refuses!(v2_tls_context_with_sds_on_listener, V2,
    CHAIN => "    - tls_context:\n        common_tls_context:\n          tls_certificate_sds_secret_configs: [{name: c}]\n      filters:\n",
    "static_resources.listeners[0].filter_chains[0].tls_context.common_tls_context.tls_certificate_sds_secret_configs", "tls_certificate_sds_secret_configs");
refuses!(renegotiation_on_cluster, V3,
    CLUSTER => "    lb_policy: ROUND_ROBIN\n    transport_socket:\n      name: envoy.transport_sockets.tls\n      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n        allow_renegotiation: true\n",
    "static_resources.clusters[0].transport_socket.typed_config.allow_renegotiation", "allow_renegotiation");
refuses!(v2_regex_match, V2,
    V1_MATCH => "                  regex: \"/v1/.*\"\n",
    format!("{HCM_V2}.route_config.virtual_hosts[0].routes[1].match.regex"), "regex:");
refuses!(header_regex_match_not_re2, V3,
    V1_MATCH => "                  prefix: \"/v1/\"\n                  headers:\n                  - name: x-canary\n                    regex_match: \"1.*\"\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].match.headers[0].regex_match"), "regex_match:");

#[test]
fn matchers_map_in_both_forms() {
    let text = edit(
        V3,
        V1_MATCH,
        "                  path_separated_prefix: \"/v1\"\n                  case_sensitive: false\n                  headers:\n                  - name: X-Canary\n                    exact_match: \"1\"\n                  - name: x-user\n                    string_match: {suffix: \"@corp\", ignore_case: true}\n                    invert_match: true\n                  - name: x-debug\n                    present_match: false\n                  - name: x-n\n                    range_match: {start: 1, end: \"10\"}\n                  query_parameters:\n                  - name: v\n                    string_match: {safe_regex: {google_re2: {}, regex: \"[0-9]+\"}}\n                  - name: flag\n                    present_match: true\n                  - name: old\n                    value: yes\n",
    );
    let c = load(&text).config;
    let r = &c.listeners[0].virtual_hosts[0].routes[1];
    assert_eq!(r.matcher, PathMatch::SeparatedPrefix("/v1".into()));
    let m = &r.conditions;
    assert_eq!(m.case, Case::Insensitive);
    assert_eq!(m.headers[0].name, "x-canary");
    assert_eq!(
        m.headers[0].test,
        HeaderTest::Value(StringMatcher {
            pattern: StringMatch::Exact("1".into()),
            case: Case::Sensitive
        })
    );
    assert!(m.headers[1].invert);
    assert_eq!(m.headers[2].test, HeaderTest::Absent);
    assert_eq!(m.headers[3].test, HeaderTest::Range { start: 1, end: 10 });
    assert!(
        matches!(&m.query[0].test, QueryTest::Value(s) if matches!(&s.pattern, StringMatch::Regex(r) if r.source == "[0-9]+"))
    );
    assert_eq!(m.query[1].test, QueryTest::Present);
    assert!(
        matches!(&m.query[2].test, QueryTest::Value(s) if s.pattern == StringMatch::Exact("yes".into()))
    );

    let regex = edit(
        V3,
        V1_MATCH,
        "                  safe_regex: {google_re2: {}, regex: \"/v[12]/.*\"}\n",
    );
    let regex = edit(&regex, "                  prefix_rewrite: \"/\"\n", "");
    let c = load(&regex).config;
    assert!(
        matches!(&c.listeners[0].virtual_hosts[0].routes[1].matcher, PathMatch::Regex(r) if r.source == "/v[12]/.*")
    );
    // A regex ringway's engine refuses is an error at the Envoy line.
    let bad = edit(&regex, "/v[12]/.*", "/v(?<=1)");
    rejected(
        Fault::Invalid,
        &bad,
        &format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].match.safe_regex"),
        "safe_regex:",
        "not a regex",
    );
}
#[test]
fn weighted_clusters_map_with_their_total() {
    let weighted = |extra: &str| {
        edit(
            V3,
            "                  cluster: api\n                  prefix_rewrite",
            &format!("                  weighted_clusters:\n                    clusters: [{{name: api, weight: 90}}, {{name: web, weight: 10}}]\n{extra}                  prefix_rewrite"),
        )
    };
    let c = load(&weighted("                    total_weight: 100\n")).config;
    let f = c.listeners[0].virtual_hosts[0].routes[1].forward().unwrap();
    let Target::Weighted(w) = &f.target else {
        panic!("weighted");
    };
    let pairs: Vec<(usize, u32)> = w.clusters.iter().map(|e| (e.cluster, e.weight)).collect();
    assert_eq!(pairs, [(0, 90), (1, 10)]);
    assert_eq!(w.total(), 100);
    let own = edit(
        &weighted(""),
        "{name: web, weight: 10}",
        "{name: web, weight: 10, host_rewrite_literal: web.internal, request_headers_to_add: [{header: {key: x-split, value: b}}]}",
    );
    let c = load(&own).config;
    let Target::Weighted(w) = &c.listeners[0].virtual_hosts[0].routes[1]
        .forward()
        .unwrap()
        .target
    else {
        panic!("weighted");
    };
    assert_eq!(
        w.clusters[1].host_rewrite,
        HostRewrite::Literal("web.internal".into())
    );
    assert_eq!(w.clusters[1].headers.request_add[0].name, "x-split");
    let route = format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.weighted_clusters");
    let off = weighted("                    total_weight: 99\n");
    rejected(
        Fault::Invalid,
        &off,
        &format!("{route}.total_weight"),
        "                    total_weight: 99",
        "add up to 100",
    );
    let runtime = weighted("                    runtime_key_prefix: r\n");
    rejected(
        Fault::Unsupported,
        &runtime,
        &format!("{route}.runtime_key_prefix"),
        "                    runtime_key_prefix",
        "runtime",
    );
    let unknown = edit(&weighted(""), "name: web", "name: nope");
    rejected(
        Fault::Invalid,
        &unknown,
        &format!("{route}.clusters[1].name"),
        "                    clusters:",
        "no cluster named `nope`",
    );
}
refuses!(retry_policy_header_conditions, V3,
    V1_ACTION => "                  timeout: 2.5s\n                  retry_policy:\n                    retry_on: 5xx\n                    retriable_headers: [{name: x-retry}]\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.retry_policy.retriable_headers"), "retriable_headers");

#[test]
fn codec_type_maps_to_the_listener_codec() {
    use crate::config::ListenerCodec;
    for (envoy, codec) in [
        ("HTTP1", ListenerCodec::Http1),
        ("HTTP2", ListenerCodec::Http2),
        ("AUTO", ListenerCodec::Auto),
        ("auto", ListenerCodec::Auto),
    ] {
        let text = edit(V3, "codec_type: HTTP1", &format!("codec_type: {envoy}"));
        assert_eq!(load(&text).config.listeners[0].codec, codec, "{envoy}");
    }
    // Absent: Envoy's default, AUTO.
    let text = edit(V3, "          codec_type: HTTP1\n", "");
    assert_eq!(load(&text).config.listeners[0].codec, ListenerCodec::Auto);
}

#[test]
fn retry_policy_on_route_maps_across() {
    let text = edit(
        V3,
        V1_ACTION,
        "                  timeout: 2.5s\n                  retry_policy:\n                    retry_on: \"connect-failure,5xx\"\n                    num_retries: 3\n                    per_try_timeout: 0.5s\n                    retry_back_off: {base_interval: 0.1s}\n",
    );
    let loaded = load(&text);
    let retry = loaded.config.listeners[0].virtual_hosts[0].routes[1]
        .forward()
        .unwrap()
        .retry
        .clone()
        .expect("a retry policy");
    assert!(retry.on_connect_failure && retry.on_5xx);
    assert_eq!(retry.num_retries, 3);
    assert_eq!(
        retry.per_try_timeout,
        Some(std::time::Duration::from_millis(500))
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("retry_back_off")));
    // A word Envoy does not know either is an error at the Envoy file's line.
    let bad = edit(
        &text,
        "retry_on: \"connect-failure,5xx\"",
        "retry_on: \"on-tuesdays\"",
    );
    let e = load_str(&bad).unwrap_err().to_string();
    assert!(e.contains("retry_on") && e.contains("on-tuesdays"), "{e}");
    assert!(
        e.contains(&format!("line {}", line_of(&bad, "on-tuesdays").unwrap())),
        "{e}"
    );
}
refuses!(retry_policy_on_virtual_host, V3,
    VHOST => "            - name: api\n              retry_policy: {retry_on: 5xx}\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].retry_policy"), "retry_policy");

/// The `/healthz` route of V3 with its `route:` action replaced by `action`.
fn healthz_action(action: &str) -> String {
    edit(
        V3,
        "                  path: \"/healthz\"\n                route:\n                  cluster: local\n",
        &format!("                  path: \"/healthz\"\n{action}"),
    )
}

#[test]
fn redirect_routes_map_field_for_field() {
    let text = healthz_action(
        "                redirect:\n                  https_redirect: true\n                  host_redirect: www.example.com\n                  port_redirect: 8443\n                  prefix_rewrite: /health\n                  strip_query: true\n                  response_code: PERMANENT_REDIRECT\n",
    );
    let c = load(&text).config;
    let RouteAction::Redirect(r) = &c.listeners[0].virtual_hosts[0].routes[0].action else {
        panic!("a redirect");
    };
    assert_eq!(
        r,
        &RedirectAction {
            scheme: Some("https".into()),
            host: Some("www.example.com".into()),
            port: Some(8443),
            path: RedirectPath::PrefixRewrite("/health".into()),
            strip_query: true,
            status: 308,
        }
    );
    // v2 spells the same fields; the enum's number is read too.
    let v2 = healthz_action(
        "                redirect: {scheme_redirect: http, path_redirect: /x, response_code: 1}\n",
    );
    let RouteAction::Redirect(r) = &load(&v2).config.listeners[0].virtual_hosts[0].routes[0].action
    else {
        panic!("a redirect");
    };
    assert_eq!((r.scheme.as_deref(), r.status), (Some("http"), 302));
    assert_eq!(r.path, RedirectPath::Replace("/x".into()));
}

#[test]
fn redirect_refusals_name_the_envoy_field() {
    let route = format!("{HCM_V3}.route_config.virtual_hosts[0].routes[0]");
    let regex = healthz_action(
        "                redirect:\n                  regex_rewrite: {pattern: {regex: a}, substitution: b}\n",
    );
    rejected(
        Fault::Unsupported,
        &regex,
        &format!("{route}.redirect.regex_rewrite"),
        "regex_rewrite:",
        "regex",
    );
    let both = healthz_action(
        "                redirect:\n                  https_redirect: true\n                  scheme_redirect: http\n",
    );
    rejected(
        Fault::Invalid,
        &both,
        &format!("{route}.redirect.scheme_redirect"),
        "scheme_redirect:",
        "not both",
    );
    let code = healthz_action("                redirect: {response_code: GONE}\n");
    rejected(
        Fault::Parse,
        &code,
        &format!("{route}.redirect.response_code"),
        "redirect: {response_code",
        "MOVED_PERMANENTLY",
    );
    // Found by validation, reported at the Envoy line.
    let host = healthz_action("                redirect: {host_redirect: \"a b\"}\n");
    rejected(
        Fault::Invalid,
        &host,
        &format!("{route}.redirect.host_redirect"),
        "redirect: {host_redirect",
        "not a host",
    );
    let two = healthz_action(
        "                route: {cluster: local}\n                redirect: {https_redirect: true}\n",
    );
    rejected(
        Fault::Invalid,
        &two,
        &route,
        "- match:\n                  path: \"/healthz\"",
        "one action",
    );
}

#[test]
fn direct_responses_map_inline_and_file_bodies() {
    let text = healthz_action(
        "                direct_response:\n                  status: 200\n                  body: {inline_string: \"ok\\n\"}\n",
    );
    let c = load(&text).config;
    let RouteAction::Direct(d) = &c.listeners[0].virtual_hosts[0].routes[0].action else {
        panic!("a direct response");
    };
    assert_eq!(d.status, 200);
    assert_eq!(d.body.bytes(), b"ok\n");
    let dir = std::env::temp_dir().join(format!("ringway-direct-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.json");
    std::fs::write(&file, b"{\"up\":true}").unwrap();
    let text = healthz_action(&format!(
        "                direct_response: {{status: 503, body: {{filename: {}}}}}\n",
        file.display()
    ));
    let loaded = load(&text);
    let RouteAction::Direct(d) = &loaded.config.listeners[0].virtual_hosts[0].routes[0].action
    else {
        panic!("a direct response");
    };
    assert_eq!((d.status, d.body.bytes()), (503, &b"{\"up\":true}"[..]));
    // `convert` names the file, and its output loads back to the same body.
    let native = load(&to_native_yaml(&loaded.raw)).config;
    let RouteAction::Direct(again) = &native.listeners[0].virtual_hosts[0].routes[0].action else {
        panic!("a direct response");
    };
    assert_eq!(again, d);
    std::fs::remove_dir_all(&dir).unwrap();

    let route = format!("{HCM_V3}.route_config.virtual_hosts[0].routes[0]");
    let bytes = healthz_action(
        "                direct_response: {status: 200, body: {inline_bytes: b2s=}}\n",
    );
    rejected(
        Fault::Unsupported,
        &bytes,
        &format!("{route}.direct_response.body.inline_bytes"),
        "direct_response:",
        "inline_string",
    );
    let status = healthz_action("                direct_response: {status: 99}\n");
    rejected(
        Fault::Invalid,
        &status,
        &format!("{route}.direct_response.status"),
        "direct_response:",
        "200 to 599",
    );
    let missing = healthz_action(
        "                direct_response: {status: 200, body: {filename: /nonexistent/ringway}}\n",
    );
    rejected(
        Fault::Invalid,
        &missing,
        &format!("{route}.direct_response.body.filename"),
        "direct_response:",
        "cannot read",
    );
}
refuses!(unknown_network_filter, V3,
    HCM_FILTER => "      - name: envoy.filters.network.tcp_proxy\n        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: tcp, cluster: api}\n      - name: envoy.filters.network.http_connection_manager\n",
    "static_resources.listeners[0].filter_chains[0].filters[0].name", "tcp_proxy");
refuses!(second_filter_chain, V3,
    "  clusters:\n" => "    - filters: []\n  clusters:\n",
    "static_resources.listeners[0].filter_chains[1]", "    - filters: []");
refuses!(listener_filters, V3,
    LISTENER => "  - name: front\n    listener_filters:\n    - name: envoy.filters.listener.proxy_protocol\n",
    "static_resources.listeners[0].listener_filters[0].name", "name: envoy.filters.listener.proxy_protocol");
refuses!(rds, V3,
    HCM => "          stat_prefix: ingress_http\n          rds: {route_config_name: r}\n",
    format!("{HCM_V3}.rds"), "rds:");
refuses!(http3_downstream, V3,
    "codec_type: HTTP1" => "codec_type: HTTP3",
    format!("{HCM_V3}.codec_type"), "codec_type");
refuses!(eds_cluster, V3,
    "type: STRICT_DNS" => "type: EDS",
    "static_resources.clusters[0].type", "type: EDS");
refuses!(dynamic_resources, V3,
    "admin:\n" => "dynamic_resources:\n  lds_config: {path: /etc/envoy/lds.yaml}\nadmin:\n",
    "dynamic_resources", "dynamic_resources");
refuses!(secrets, V3,
    "  clusters:\n" => "  secrets: []\n  clusters:\n",
    "static_resources.secrets", "secrets");

// ---- warnings: hints ringway does not need, named with path and line

fn warns(text: &str, path: &str, needle: &str, says: &str) {
    let loaded = load(text);
    let at = format!("{path} (line {}): ", line_of(text, needle).unwrap_or(0));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.starts_with(&at) && w.contains(says)),
        "no warning `{at}…{says}…` in {:#?}",
        loaded.warnings
    );
}

macro_rules! warns {
    ($name:ident, $base:expr, $from:expr => $to:expr, $path:expr, $needle:expr, $says:expr) => {
        #[test]
        fn $name() {
            warns(&edit($base, $from, $to), &$path, $needle, $says);
        }
    };
}

#[test]
fn seed_warnings() {
    warns(
        FRONT,
        &format!("{HCM_V2}.route_config.name"),
        "name: local_route",
        "RDS",
    );
    warns(
        FRONT,
        &format!("{HCM_V2}.http_filters[0].name"),
        "envoy.router",
        "router filter is implied",
    );
}

#[test]
fn stat_prefix_is_the_connection_managers_stats_scope() {
    // Beside a name, the prefix is kept for Envoy-named stats, with no warning.
    let loaded = load(V3);
    let l = &loaded.config.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.stat_prefix.as_str()),
        ("front", "ingress_http")
    );
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("stat_prefix")),
        "{:#?}",
        loaded.warnings
    );
    assert_eq!(
        loaded.config.stats.naming,
        crate::config::StatsNaming::Envoy
    );
    // Without a name, it names the listener too.
    let front = load(FRONT);
    let l = &front.config.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.stat_prefix.as_str()),
        ("ingress_http", "ingress_http")
    );
}
warns!(hash_policy_to_a_round_robin_cluster, V3,
    V1_ACTION => "                  timeout: 2.5s\n                  hash_policy: [{header: {header_name: x-user}}]\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.hash_policy"), "hash_policy", "only matter to RING_HASH and MAGLEV");
warns!(access_log_to_dev_null, V2,
    "          stat_prefix: ingress_http\n" => "          stat_prefix: ingress_http\n          access_log:\n          - name: envoy.file_access_log\n            config: {path: /dev/null}\n",
    format!("{HCM_V2}.access_log[0]"), "envoy.file_access_log", "/dev/null");
warns!(node_identity, V3,
    "admin:\n" => "node:\n  id: front\n  cluster: front-proxy\nadmin:\n",
    "node", "node:", "xDS");
warns!(listener_buffer_limit, V3,
    LISTENER => "  - name: front\n    per_connection_buffer_limit_bytes: 32768\n",
    "static_resources.listeners[0].per_connection_buffer_limit_bytes", "per_connection_buffer_limit_bytes", "fixed size");
warns!(dns_failure_backoff_max, V3,
    CLUSTER => "    lb_policy: ROUND_ROBIN\n    dns_failure_refresh_rate:\n      base_interval: 1s\n      max_interval: 30s\n",
    "static_resources.clusters[0].dns_failure_refresh_rate.max_interval", "max_interval", "without backoff");
warns!(load_assignment_cluster_name_differs, V3,
    "      cluster_name: api\n" => "      cluster_name: api_eds\n",
    "static_resources.clusters[0].load_assignment.cluster_name", "api_eds", "only matters to EDS");
warns!(upstream_hpack_table_size, V3,
    CLUSTER => "    lb_policy: ROUND_ROBIN\n    http2_protocol_options: {hpack_table_size: 8192}\n",
    "static_resources.clusters[0].http2_protocol_options.hpack_table_size", "hpack_table_size", "HPACK");

/// The v3 cluster `CLUSTER` with `HttpProtocolOptions` whose body is `options`
/// (YAML lines at the options' indentation).
fn with_protocol_options(options: &str) -> String {
    edit(
        V3,
        CLUSTER,
        &format!("    lb_policy: ROUND_ROBIN\n    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n{options}"),
    )
}

#[test]
fn upstream_protocol_options_map_in_every_spelling() {
    let options = "        common_http_protocol_options: {max_requests_per_connection: 100}\n        explicit_http_config:\n          http2_protocol_options:\n            max_concurrent_streams: 50\n            initial_stream_window_size: 131072\n            initial_connection_window_size: {value: 524288}\n";
    let c = &load(&with_protocol_options(options)).config.clusters[0];
    assert_eq!(c.protocol, UpstreamProtocol::Http2);
    assert_eq!(c.max_requests_per_connection, Some(100));
    assert_eq!(
        c.http2,
        UpstreamHttp2 {
            max_concurrent_streams: 50,
            initial_stream_window_size: 131072,
            initial_connection_window_size: 524288,
            keepalive: None,
        }
    );
    let auto = "        auto_config: {http_protocol_options: {}, http2_protocol_options: {}}\n";
    let c = &load(&with_protocol_options(auto)).config.clusters[0];
    assert_eq!(c.protocol, UpstreamProtocol::Auto);
    let h1 = "        explicit_http_config: {http_protocol_options: {}}\n";
    let c = &load(&with_protocol_options(h1)).config.clusters[0];
    assert_eq!(c.protocol, UpstreamProtocol::Http1);
    // The v2/v3 cluster fields, and the cluster's own request limit.
    let text = edit(
        V3,
        CLUSTER,
        "    lb_policy: ROUND_ROBIN\n    http2_protocol_options: {max_concurrent_streams: 7}\n    max_requests_per_connection: 9\n",
    );
    let c = &load(&text).config.clusters[0];
    assert_eq!(
        (c.protocol, c.http2.max_concurrent_streams),
        (UpstreamProtocol::Http2, 7)
    );
    assert_eq!(c.max_requests_per_connection, Some(9));
    // Plain HTTP/1.1 is the default, as in Envoy.
    let c = &load(V3).config.clusters[0];
    assert_eq!(c.protocol, UpstreamProtocol::Http1);
}

#[test]
fn connection_keepalive_maps_in_both_spellings_and_through_convert() {
    let ms = std::time::Duration::from_millis;
    let want = |jitter_bp, idle_interval| {
        Some(crate::config::H2Keepalive {
            interval: Some(ms(1500)),
            timeout: ms(250),
            interval_jitter_bp: jitter_bp,
            idle_interval,
        })
    };
    let typed = "        explicit_http_config:\n          http2_protocol_options:\n            connection_keepalive: {interval: 1.5s, timeout: 0.25s, interval_jitter: {value: 5}, connection_idle_interval: 30s}\n";
    let c = &load(&with_protocol_options(typed)).config.clusters[0];
    assert_eq!(
        (c.protocol, c.http2.keepalive),
        (UpstreamProtocol::Http2, want(500, Some(ms(30_000))))
    );
    // The v2/v3 cluster field; Envoy's 15 % jitter by default.
    let text = edit(
        V3,
        CLUSTER,
        "    lb_policy: ROUND_ROBIN\n    http2_protocol_options:\n      connection_keepalive: {interval: {seconds: 1, nanos: 500000000}, timeout: 250ms}\n",
    );
    let loaded = load(&text);
    assert_eq!(loaded.config.clusters[0].http2.keepalive, want(1500, None));
    // The native text it converts to, and the model's own dump, load to the
    // same settings.
    for raw in [
        loaded.raw.clone(),
        crate::config::lower::lower(&loaded.config),
    ] {
        let again = load(&to_native_yaml(&raw));
        assert_eq!(
            again.config.clusters[0].http2,
            loaded.config.clusters[0].http2
        );
    }
}

#[test]
fn a_zero_keepalive_interval_is_envoys_off_switch() {
    let ms = std::time::Duration::from_millis;
    let keepalive = |settings: &str| {
        let text = edit(
            V3,
            CLUSTER,
            &format!("    lb_policy: ROUND_ROBIN\n    http2_protocol_options:\n      connection_keepalive: {settings}\n"),
        );
        load(&text).config.clusters[0].http2.keepalive
    };
    // One of them zero: only the other kind of PING is sent.
    let idle_only = keepalive("{interval: 0s, connection_idle_interval: 30s, timeout: 1s}")
        .expect("keepalive on");
    assert_eq!(
        (idle_only.interval, idle_only.idle_interval),
        (None, Some(ms(30_000)))
    );
    // Both zero (or the only one given zero): no PING at all, as in Envoy.
    assert_eq!(keepalive("{interval: 0s, timeout: 1s}"), None);
    assert_eq!(
        keepalive("{interval: 0s, connection_idle_interval: 0s, timeout: 1s}"),
        None
    );
}

#[test]
fn connection_keepalive_bad_values_name_the_envoy_field() {
    let at = "static_resources.clusters[0].http2_protocol_options.connection_keepalive";
    for (keepalive, field, fault, says) in [
        (
            "{interval: 1s, timeout: 0s}",
            "timeout",
            Fault::Invalid,
            "greater than 0",
        ),
        ("{interval: 1s, timeout: -1s}", "timeout", Fault::Parse, ""),
        ("{timeout: 1s}", "interval", Fault::Invalid, "required"),
        (
            "{connection_idle_interval: 1s}",
            "timeout",
            Fault::Invalid,
            "required",
        ),
    ] {
        let line = format!("connection_keepalive: {keepalive}");
        let text = edit(
            V3,
            CLUSTER,
            &format!("    lb_policy: ROUND_ROBIN\n    http2_protocol_options:\n      {line}\n"),
        );
        rejected(fault, &text, &format!("{at}.{field}"), &line, says);
    }
}

#[test]
fn upstream_protocol_choices_ringway_lacks_are_refused() {
    for (options, path, needle) in [
        (
            "        use_downstream_protocol_config: {http2_protocol_options: {}}\n",
            "use_downstream_protocol_config",
            "use_downstream_protocol_config",
        ),
        (
            "        explicit_http_config: {http3_protocol_options: {}}\n",
            "explicit_http_config.http3_protocol_options",
            "http3_protocol_options",
        ),
    ] {
        let path = format!("static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.{path}");
        unsupported(&with_protocol_options(options), &path, needle);
    }
    let text = edit(
        V3,
        CLUSTER,
        "    lb_policy: ROUND_ROBIN\n    protocol_selection: USE_DOWNSTREAM_PROTOCOL\n",
    );
    unsupported(
        &text,
        "static_resources.clusters[0].protocol_selection",
        "protocol_selection",
    );
}

#[test]
fn dns_failure_refresh_base_interval_maps() {
    let text = edit(
        V3,
        CLUSTER,
        "    lb_policy: ROUND_ROBIN\n    dns_failure_refresh_rate: {base_interval: 2s}\n",
    );
    let c = load(&text).config;
    assert_eq!(
        c.clusters[0].dns_failure_refresh_rate,
        Duration::from_secs(2)
    );
}

#[test]
fn admin_access_log_v3_maps() {
    let text = edit(
        V3,
        "admin:\n",
        "admin:\n  access_log:\n  - name: envoy.access_loggers.file\n    typed_config:\n      \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n      path: /tmp/admin.log\n",
    );
    let c = load(&text).config;
    assert_eq!(
        c.admin.and_then(|a| a.access_log_path).as_deref(),
        Some("/tmp/admin.log")
    );
}

// ---- unknown keys and bad values: Parse errors at their path and line

fn parse_error(text: &str, path: &str, needle: &str, says: &str) {
    rejected(Fault::Parse, text, path, needle, says);
}

#[test]
fn unknown_keys_are_errors() {
    parse_error(
        &edit(
            FRONT,
            "    connect_timeout: 0.25s\n",
            "    conect_timeout: 0.25s\n",
        ),
        "static_resources.clusters[0].conect_timeout",
        "conect_timeout",
        "unknown field `conect_timeout`",
    );
    parse_error(
        &edit(V3, "admin:\n", "admn:\n  x: 1\nadmin:\n"),
        "admn",
        "admn",
        "unknown field",
    );
    parse_error(
        &edit(V3, V1_MATCH, "                  prefx: \"/v1/\"\n"),
        &format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].match.prefx"),
        "prefx",
        "unknown field",
    );
}

#[test]
fn bad_values_are_errors() {
    parse_error(
        &edit(FRONT, "connect_timeout: 0.25s", "connect_timeout: soon"),
        "static_resources.clusters[0].connect_timeout",
        "soon",
        "soon",
    );
    parse_error(
        &edit(FRONT, "type: strict_dns", "type: dns"),
        "static_resources.clusters[0].type",
        "type: dns",
        "not a cluster type",
    );
    parse_error(
        &edit(FRONT, "port_value: 8001", "port_value: 80000"),
        "admin.address.socket_address.port_value",
        "80000",
        "0 to 65535",
    );
}

// ---- rules checked after translation are reported at the Envoy path

fn invalid(text: &str, path: &str, needle: &str, says: &str) {
    rejected(Fault::Invalid, text, path, needle, says);
}

#[test]
fn validation_errors_name_the_envoy_path() {
    invalid(
        &edit(FRONT, "cluster: service2", "cluster: service3"),
        &format!("{HCM_V2}.route_config.virtual_hosts[0].routes[1].route.cluster"),
        "service3",
        "no cluster named `service3`",
    );
    invalid(
        &edit(V3, "address: \"::1\"", "address: localhost"),
        "static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address",
        "socket_address:\n                address: localhost",
        "strict_dns",
    );
    invalid(
        &edit(
            FRONT,
            "address: 0.0.0.0\n        port_value: 80",
            "address: front\n        port_value: 80",
        ),
        "static_resources.listeners[0].address.socket_address",
        "socket_address:",
        "not an ip:port",
    );
    invalid(
        &edit(V3, "domains: [\"*\"]", "domains: [\"api.example.com\"]"),
        &format!("{HCM_V3}.route_config.virtual_hosts[1].domains[0]"),
        "domains: [\"api.example.com\"]\n              routes:\n              - match:\n                  prefix: \"/\"",
        "already served",
    );
}

// ---- resilience: health checks, outlier detection, circuit breakers, balancers,
// weights, route hash policy, and the connection manager's access log

const RES_CART: &str = "static_resources.clusters[0]";
const RES_CART_LB: &str = "    lb_policy: MAGLEV\n";
const RES_HC: &str = "      http_health_check:\n        path: /healthz\n";
const RES_OD: &str = "      consecutive_5xx: 3\n";
const RES_CB: &str = "        max_connections: 100\n";
const RES_CART_ROUTE: &str = "                  cluster: cart\n                  hash_policy:\n                  - header:\n";

#[test]
fn golden_resilience() {
    let loaded = load(RES);
    assert_eq!(to_native_yaml(&loaded.raw), without_comment(RES_NATIVE));
    // Only the router remark: everything else maps.
    assert_eq!(loaded.warnings.len(), 1, "{:#?}", loaded.warnings);
}

#[test]
fn golden_resilience_model() {
    let c = load(RES).config;
    let [cart, web] = &c.clusters[..] else {
        panic!("two clusters")
    };
    assert_eq!(cart.lb_policy, LbPolicy::Maglev);
    assert_eq!(cart.endpoint_weights, [1, 3]);
    assert_eq!(
        cart.hash_policy,
        [HashPolicy::Header("x-user".into()), HashPolicy::SourceIp]
    );
    assert!(cart.ignore_health_on_host_removal);
    let cb = &cart.circuit_breakers;
    assert_eq!(
        (
            cb.max_connections,
            cb.max_pending_requests,
            cb.max_requests,
            cb.max_retries
        ),
        (100, 50, 200, 2)
    );
    let od = cart.outlier_detection.as_ref().expect("outlier detection");
    assert_eq!((od.consecutive_5xx, od.consecutive_gateway_failure), (3, 2));
    assert_eq!(od.interval, Duration::from_secs(5));
    assert_eq!(od.base_ejection_time, Duration::from_secs(10));
    assert_eq!(od.max_ejection_time, Duration::from_secs(60));
    assert_eq!(od.max_ejection_percent, 50);
    let [hc] = &cart.health_checks[..] else {
        panic!("one check")
    };
    assert_eq!(
        (
            hc.interval,
            hc.timeout,
            hc.unhealthy_threshold,
            hc.healthy_threshold
        ),
        (Duration::from_secs(5), Duration::from_secs(1), 3, 2)
    );
    // Envoy's [200, 300) and [304, 305) are half-open: 200–299 and 304.
    assert_eq!(
        hc.kind,
        HealthCheckKind::Http {
            path: "/healthz".into(),
            host: "cart.internal".into(),
            expected: vec![(200, 299), (304, 304)],
        }
    );
    assert_eq!(web.lb_policy, LbPolicy::LeastRequest);
    assert_eq!(web.health_checks[0].kind, HealthCheckKind::Tcp);
    // Without expected_statuses Envoy passes 200 alone (ringway's own default is 200–399).
    assert_eq!(
        web.health_checks[1].kind,
        HealthCheckKind::Http {
            path: "/ready".into(),
            host: "web".into(),
            expected: vec![(200, 200)],
        }
    );
    let log = c.listeners[0].access_log.as_ref().expect("access log");
    assert_eq!(log.path, "/var/log/ringway/edge.log");
}

#[test]
fn lb_policies_map_in_any_case() {
    for (envoy, native) in [
        ("ROUND_ROBIN", LbPolicy::RoundRobin),
        ("least_request", LbPolicy::LeastRequest),
        ("Random", LbPolicy::Random),
        ("RING_HASH", LbPolicy::RingHash),
        ("maglev", LbPolicy::Maglev),
    ] {
        let text = edit(RES, RES_CART_LB, &format!("    lb_policy: {envoy}\n"));
        let c = load(&text).config;
        assert_eq!(c.clusters[0].lb_policy, native, "{envoy}");
    }
}

#[test]
fn ring_hash_without_a_route_hash_policy_balances_at_random() {
    let text = edit(V3, "lb_policy: ROUND_ROBIN", "lb_policy: RING_HASH");
    let loaded = load(&text);
    assert_eq!(loaded.config.clusters[0].lb_policy, LbPolicy::Random);
    warns(
        &text,
        "static_resources.clusters[0].lb_policy",
        "RING_HASH",
        "places every request at random",
    );
}

#[test]
fn a_route_without_hash_policy_to_a_hashing_cluster_warns() {
    let text = edit(
        RES,
        "                  prefix: \"/\"\n                route:\n                  cluster: web\n",
        "                  prefix: \"/\"\n                route:\n                  cluster: cart\n",
    );
    let loaded = load(&text);
    let route = format!("{HCM_V3}.route_config.virtual_hosts[0].routes[2]");
    assert!(
        loaded.warnings.iter().any(|w| w.starts_with(&route)
            && w.contains("ringway hashes per cluster")
            && w.contains("routes[0].route.hash_policy (line 34)")),
        "{:#?}",
        loaded.warnings
    );
}

#[test]
fn routes_that_hash_one_cluster_differently_are_refused() {
    // The second route to `cart` hashes on a cookie instead of x-user.
    let text = edit(
        RES,
        "                  cluster: cart\n                  hash_policy:\n                  - header:\n                      header_name: x-user\n                    terminal: true\n                  - connection_properties:\n                      source_ip: true\n              - match:\n                  prefix: \"/\"\n",
        "                  cluster: cart\n                  hash_policy:\n                  - cookie:\n                      name: session\n              - match:\n                  prefix: \"/\"\n",
    );
    match load_str(&text) {
        Err(ConfigError::Unsupported {
            field,
            line,
            reason,
        }) => {
            assert_eq!(
                field,
                format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.hash_policy")
            );
            assert_eq!(line, line_of(&text, "- cookie:").map(|l| l - 1));
            assert!(reason.contains("per cluster"), "{reason}");
            assert!(
                reason.contains("routes[0].route.hash_policy (line 34)"),
                "{reason}"
            );
            assert!(reason.contains("`cart`"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn access_log_v2_format_maps() {
    let text = edit(
        V2,
        "          stat_prefix: ingress_http\n",
        "          stat_prefix: ingress_http\n          access_log:\n          - name: envoy.file_access_log\n            config:\n              path: /tmp/front.log\n              format: \"%REQ(:METHOD)% %RESPONSE_CODE%\\n\"\n",
    );
    let loaded = load(&text);
    let raw = loaded.raw.listeners[0]
        .access_log
        .clone()
        .expect("access log");
    assert_eq!(raw.path, "/tmp/front.log");
    assert_eq!(
        raw.format.as_deref(),
        Some("%REQ(:METHOD)% %RESPONSE_CODE%\n")
    );
    // Without a format, Envoy's default format (which is ringway's default too).
    let text = edit(
        &text,
        "              format: \"%REQ(:METHOD)% %RESPONSE_CODE%\\n\"\n",
        "",
    );
    let raw = load(&text).raw.listeners[0].access_log.clone().unwrap();
    assert_eq!((raw.path.as_str(), raw.format), ("/tmp/front.log", None));
}

#[test]
fn access_log_v3_text_format_maps() {
    let text = edit(
        RES,
        "              log_format:\n                text_format_source:\n                  inline_string: \"%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_HOST%\\n\"\n",
        "              log_format:\n                text_format: \"%DURATION%\\n\"\n",
    );
    let raw = load(&text).raw.listeners[0].access_log.clone().unwrap();
    assert_eq!(raw.format.as_deref(), Some("%DURATION%\n"));
}

#[test]
fn access_log_unknown_operator_is_an_error_at_the_envoy_line() {
    let text = edit(RES, "%UPSTREAM_HOST%\\n", "%UPSTREAM_WHO%\\n");
    invalid(
        &text,
        &format!("{HCM_V3}.access_log[0].typed_config.log_format.text_format_source.inline_string"),
        "inline_string",
        "UPSTREAM_WHO",
    );
}

#[test]
fn resilience_values_are_checked_at_the_envoy_path() {
    invalid(
        &edit(RES, RES_CB, "        max_connections: 0\n"),
        &format!("{RES_CART}.circuit_breakers.thresholds[0].max_connections"),
        "max_connections: 0",
        "at least 1",
    );
    invalid(
        &edit(
            RES,
            "load_balancing_weight: 3",
            "load_balancing_weight: 5000",
        ),
        &format!("{RES_CART}.load_assignment.endpoints[0].lb_endpoints[1].load_balancing_weight"),
        "load_balancing_weight: 5000",
        "5000",
    );
    invalid(
        &edit(RES, "          end: 305\n", "          end: 304\n"),
        &format!("{RES_CART}.health_checks[0].http_health_check.expected_statuses[1]"),
        "- start: 304",
        "end is exclusive",
    );
    invalid(
        &edit(
            RES,
            "      max_ejection_percent: 50\n",
            "      max_ejection_percent: 150\n",
        ),
        &format!("{RES_CART}.outlier_detection.max_ejection_percent"),
        "max_ejection_percent: 150",
        "150",
    );
    invalid(
        &edit(RES, "        path: /healthz\n", "        path: healthz\n"),
        &format!("{RES_CART}.health_checks[0].http_health_check.path"),
        "path: healthz",
        "",
    );
}

#[test]
fn gateway_failure_ejection_follows_envoys_enforcing_default() {
    // Envoy counts consecutive gateway failures but ejects on them only when
    // enforcing_consecutive_gateway_failure is 100 (its default is 0).
    let text = edit(
        RES,
        "      enforcing_consecutive_gateway_failure: 100\n",
        "",
    );
    let c = load(&text).config;
    let od = c.clusters[0].outlier_detection.unwrap();
    assert_eq!((od.consecutive_5xx, od.consecutive_gateway_failure), (3, 0));
    let text = edit(
        RES,
        "      consecutive_5xx: 3\n",
        "      consecutive_5xx: 3\n      enforcing_consecutive_5xx: 0\n",
    );
    let od = load(&text).config.clusters[0].outlier_detection.unwrap();
    assert_eq!((od.consecutive_5xx, od.consecutive_gateway_failure), (0, 2));
}

#[test]
fn circuit_breaker_high_priority_is_ignored() {
    let text = edit(
        RES,
        "      - priority: DEFAULT\n",
        "      - priority: HIGH\n        max_connections: 5\n      - priority: DEFAULT\n",
    );
    let c = load(&text).config;
    assert_eq!(c.clusters[0].circuit_breakers.max_connections, 100);
    warns(
        &text,
        &format!("{RES_CART}.circuit_breakers.thresholds[0]"),
        "- priority: HIGH",
        "DEFAULT priority",
    );
    let two = edit(
        RES,
        "        max_retries: 2\n",
        "        max_retries: 2\n      - max_requests: 7\n",
    );
    invalid(
        &two,
        &format!("{RES_CART}.circuit_breakers.thresholds[1]"),
        "- max_requests: 7",
        "second DEFAULT",
    );
}

warns!(health_check_jitter, RES,
    RES_HC => "      interval_jitter: 1s\n      http_health_check:\n        path: /healthz\n",
    format!("{RES_CART}.health_checks[0].interval_jitter"), "interval_jitter", "not jittered");
warns!(success_rate_ejection_left_implicit, RES,
    "      enforcing_success_rate: 0\n" => "",
    format!("{RES_CART}.outlier_detection"), "outlier_detection:", "success-rate ejection");
warns!(panic_threshold_left_implicit, RES,
    "    common_lb_config:\n      healthy_panic_threshold: {value: 0}\n    health_checks:\n" => "    health_checks:\n",
    RES_CART, "- name: cart", "panic threshold is 50%");
warns!(uneject_on_passing_check_left_implicit, RES,
    "      successful_active_health_check_uneject_host: false\n" => "",
    format!("{RES_CART}.outlier_detection"), "outlier_detection:", "ejection lasts its time");
warns!(ring_size, RES,
    RES_CART_LB => "    lb_policy: RING_HASH\n    ring_hash_lb_config:\n      minimum_ring_size: 4096\n",
    format!("{RES_CART}.ring_hash_lb_config.minimum_ring_size"), "minimum_ring_size", "160 ring points");
warns!(close_connections_on_health_failure, RES,
    RES_CART_LB => "    lb_policy: MAGLEV\n    close_connections_on_host_health_failure: true\n",
    format!("{RES_CART}.close_connections_on_host_health_failure"), "close_connections_on_host_health_failure", "stay open");

refuses!(grpc_health_check, RES,
    RES_HC => "      grpc_health_check: {service_name: cart}\n      http_health_check:\n        path: /healthz\n",
    format!("{RES_CART}.health_checks[0].grpc_health_check"), "grpc_health_check");
refuses!(health_check_alt_port, RES,
    RES_HC => "      alt_port: 9000\n      http_health_check:\n        path: /healthz\n",
    format!("{RES_CART}.health_checks[0].alt_port"), "alt_port");
refuses!(http_health_check_body_match, RES,
    RES_HC => "      http_health_check:\n        receive: [{text: \"4f4b\"}]\n        path: /healthz\n",
    format!("{RES_CART}.health_checks[0].http_health_check.receive"), "receive:");
refuses!(http_health_check_over_http2, RES,
    RES_HC => "      http_health_check:\n        codec_client_type: HTTP2\n        path: /healthz\n",
    format!("{RES_CART}.health_checks[0].http_health_check.codec_client_type"), "codec_client_type");
refuses!(tcp_health_check_payload, RES,
    "      tcp_health_check: {}\n" => "      tcp_health_check:\n        send: {text: \"50494e47\"}\n",
    "static_resources.clusters[1].health_checks[0].tcp_health_check.send", "send:");
refuses!(endpoint_health_check_port, RES,
    "        - load_balancing_weight: 3\n          endpoint:\n" => "        - load_balancing_weight: 3\n          endpoint:\n            health_check_config: {port_value: 9000}\n",
    format!("{RES_CART}.load_assignment.endpoints[0].lb_endpoints[1].endpoint.health_check_config"), "health_check_config");
refuses!(probabilistic_ejection, RES,
    RES_OD => "      consecutive_5xx: 3\n      enforcing_consecutive_5xx: 50\n",
    format!("{RES_CART}.outlier_detection.enforcing_consecutive_5xx"), "enforcing_consecutive_5xx");
refuses!(success_rate_ejection, RES,
    "      enforcing_success_rate: 0\n" => "      enforcing_success_rate: 100\n",
    format!("{RES_CART}.outlier_detection.enforcing_success_rate"), "enforcing_success_rate: 100");
refuses!(failure_percentage_ejection, RES,
    RES_OD => "      consecutive_5xx: 3\n      enforcing_failure_percentage: 100\n",
    format!("{RES_CART}.outlier_detection.enforcing_failure_percentage"), "enforcing_failure_percentage");
refuses!(split_local_origin_errors, RES,
    RES_OD => "      consecutive_5xx: 3\n      split_external_local_origin_errors: true\n",
    format!("{RES_CART}.outlier_detection.split_external_local_origin_errors"), "split_external");
refuses!(no_enforced_detector, RES,
    "      enforcing_consecutive_gateway_failure: 100\n" => "      enforcing_consecutive_5xx: 0\n",
    format!("{RES_CART}.outlier_detection"), "outlier_detection:");
refuses!(retry_budget, RES,
    RES_CB => "        max_connections: 100\n        retry_budget: {budget_percent: {value: 20}}\n",
    format!("{RES_CART}.circuit_breakers.thresholds[0].retry_budget"), "retry_budget");
refuses!(per_host_thresholds, RES,
    "    circuit_breakers:\n" => "    circuit_breakers:\n      per_host_thresholds:\n      - max_connections: 1\n",
    format!("{RES_CART}.circuit_breakers.per_host_thresholds"), "per_host_thresholds");
refuses!(panic_threshold_other_than_zero, RES,
    "healthy_panic_threshold: {value: 0}" => "healthy_panic_threshold: {value: 50}",
    format!("{RES_CART}.common_lb_config.healthy_panic_threshold"), "healthy_panic_threshold");
refuses!(zone_aware_balancing, RES,
    "    common_lb_config:\n" => "    common_lb_config:\n      zone_aware_lb_config: {min_cluster_size: 3}\n",
    format!("{RES_CART}.common_lb_config.zone_aware_lb_config"), "zone_aware_lb_config");
refuses!(bounded_load_hashing, RES,
    RES_CART_LB => "    lb_policy: MAGLEV\n    maglev_lb_config:\n      consistent_hashing_lb_config:\n        hash_balance_factor: 150\n",
    format!("{RES_CART}.maglev_lb_config.consistent_hashing_lb_config.hash_balance_factor"), "hash_balance_factor");
refuses!(slow_start, RES,
    "    lb_policy: least_request\n" => "    lb_policy: least_request\n    least_request_lb_config:\n      slow_start_config: {slow_start_window: 30s}\n",
    "static_resources.clusters[1].least_request_lb_config.slow_start_config", "slow_start_config");
refuses!(cluster_provided_lb, V3,
    "lb_policy: ROUND_ROBIN" => "lb_policy: CLUSTER_PROVIDED",
    "static_resources.clusters[0].lb_policy", "CLUSTER_PROVIDED");
refuses!(hash_on_query_parameter, RES,
    RES_CART_ROUTE => "                  cluster: cart\n                  hash_policy:\n                  - query_parameter: {name: user}\n                    terminal: true\n                  - header:\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[0].route.hash_policy[0].query_parameter"), "query_parameter");
refuses!(generated_affinity_cookie, RES,
    RES_CART_ROUTE => "                  cluster: cart\n                  hash_policy:\n                  - cookie:\n                      name: sticky\n                      ttl: 3600s\n                    terminal: true\n                  - header:\n",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[0].route.hash_policy[0].cookie.ttl"), "ttl:");
refuses!(combined_hash_key, RES,
    "                    terminal: true\n" => "",
    format!("{HCM_V3}.route_config.virtual_hosts[0].routes[0].route.hash_policy[0]"), "- header:");
refuses!(access_log_header_filter, RES,
    "          - name: envoy.access_loggers.file\n" => "          - name: envoy.access_loggers.file\n            filter: {header_filter: {header: {name: x-debug}}}\n",
    format!("{HCM_V3}.access_log[0].filter.header_filter"), "header_filter");
refuses!(access_log_flag_ringway_never_raises, RES,
    "          - name: envoy.access_loggers.file\n" => "          - name: envoy.access_loggers.file\n            filter:\n              response_flag_filter: {flags: [UF, URX]}\n",
    format!("{HCM_V3}.access_log[0].filter.response_flag_filter.flags[1]"), "URX");
refuses!(access_log_format_from_a_file, RES,
    "                  inline_string: \"%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_HOST%\\n\"\n" => "                  filename: /etc/envoy/format.txt\n",
    format!("{HCM_V3}.access_log[0].typed_config.log_format.text_format_source.filename"), "filename:");
refuses!(second_access_log, RES,
    "          route_config:\n" => "          - name: envoy.access_loggers.file\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n              path: /var/log/ringway/other.log\n          route_config:\n",
    format!("{HCM_V3}.access_log[1]"), "- name: envoy.access_loggers.file\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n              path: /var/log/ringway/other.log");
refuses!(access_logger_other_than_file, RES,
    "          - name: envoy.access_loggers.file\n" => "          - name: envoy.access_loggers.http_grpc\n            typed_config: {\"@type\": type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig}\n          - name: envoy.access_loggers.file\n",
    format!("{HCM_V3}.access_log[0].name"), "envoy.access_loggers.http_grpc");

const RES_LOG: &str = "          - name: envoy.access_loggers.file\n";
const RES_FORMAT: &str = "                text_format_source:\n                  inline_string: \"%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_HOST%\\n\"\n";

#[test]
fn access_log_filters_map() {
    let text = edit(
        RES,
        RES_LOG,
        "          - name: envoy.access_loggers.file\n            filter:\n              and_filter:\n                filters:\n                - status_code_filter: {comparison: {op: GE, value: {default_value: 500, runtime_key: a.b}}}\n                - not_health_check_filter: {}\n                - or_filter:\n                    filters:\n                    - duration_filter: {comparison: {op: LE, value: {default_value: 250, runtime_key: c}}}\n                    - response_flag_filter: {flags: [UF, NR]}\n                    - runtime_filter: {runtime_key: s, percent_sampled: {numerator: 5, denominator: TEN_THOUSAND}, use_independent_randomness: true}\n",
    );
    let loaded = load(&text);
    let log = loaded.config.listeners[0].access_log.as_ref().unwrap();
    use crate::access_log::{AccessLogFilter as F, Compare, ResponseFlags as R};
    assert_eq!(
        log.filter,
        Some(F::And(vec![
            F::Status(Compare::Ge, 500),
            F::NotHealthCheck,
            F::Or(vec![
                F::Duration(Compare::Le, 250),
                F::ResponseFlags(R::UPSTREAM_CONNECT_FAILURE | R::NO_ROUTE),
                F::Sample(500),
            ]),
        ]))
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("runtime_key") && w.contains("default_value")),
        "{:?}",
        loaded.warnings
    );
}

warns!(access_log_runtime_filter_by_request_id, RES,
    RES_LOG => "          - name: envoy.access_loggers.file\n            filter: {runtime_filter: {runtime_key: s, percent_sampled: {numerator: 5}}}\n",
    format!("{HCM_V3}.access_log[0].filter.runtime_filter"), "filter:", "x-request-id");

#[test]
fn route_names_map_for_the_access_log() {
    let text = edit(
        RES,
        "              - match:\n                  prefix: \"/cart\"\n",
        "              - name: cart-route\n                match:\n                  prefix: \"/cart\"\n",
    );
    let loaded = load(&text);
    let route = &loaded.config.listeners[0].virtual_hosts[0].routes[0];
    assert_eq!(route.name.as_deref(), Some("cart-route"));
    assert_eq!(
        loaded.raw.listeners[0].virtual_hosts[0].routes[0]
            .name
            .as_deref(),
        Some("cart-route")
    );
}

#[test]
fn access_log_json_formats_map_in_order() {
    let text = edit(
        RES,
        RES_FORMAT,
        "                json_format: {status: \"%RESPONSE_CODE%\", method: \"%REQ(:METHOD)%\", up: {host: \"%UPSTREAM_HOST%\"}}\n",
    );
    let raw = load(&text).raw.listeners[0].access_log.clone().unwrap();
    let keys: Vec<&str> = raw
        .json_format
        .as_ref()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["status", "method", "up"]);
    assert!(raw.format.is_none());
    // v2's `json_format` beside `path`.
    let v2 = edit(
        V2,
        "          stat_prefix: ingress_http\n",
        "          stat_prefix: ingress_http\n          access_log:\n          - name: envoy.file_access_log\n            config:\n              path: /dev/stdout\n              json_format: {code: \"%RESPONSE_CODE%\"}\n",
    );
    let loaded = load(&v2);
    let raw = loaded.raw.listeners[0].access_log.clone().unwrap();
    assert_eq!(raw.json_format.unwrap().len(), 1);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("json_format") && w.contains("as strings")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn access_log_json_operator_errors_at_its_key_line() {
    let text = edit(
        RES,
        RES_FORMAT,
        "                json_format:\n                  ok: \"%RESPONSE_CODE%\"\n                  nested:\n                    bad: \"%UPSTREAM_WHO%\"\n",
    );
    invalid(
        &text,
        &format!("{HCM_V3}.access_log[0].typed_config.log_format.json_format.nested.bad"),
        "bad: \"%UPSTREAM_WHO%\"",
        "UPSTREAM_WHO",
    );
}

#[test]
fn stdout_and_stderr_loggers_map() {
    for (name, ty, path) in [
        ("stdout", "StdoutAccessLog", "/dev/stdout"),
        ("stderr", "StderrAccessLog", "/dev/stderr"),
    ] {
        let text = edit(
            RES,
            "          - name: envoy.access_loggers.file\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n              path: /var/log/ringway/edge.log\n",
            &format!("          - name: envoy.access_loggers.{name}\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.{ty}\n"),
        );
        let raw = load(&text).raw.listeners[0].access_log.clone().unwrap();
        assert_eq!(raw.path, path);
        assert!(raw.format.is_some(), "its log_format is kept");
    }
}
refuses!(listener_connection_access_log, V3,
    LISTENER => "  - name: front\n    access_log:\n    - name: envoy.access_loggers.file\n      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n        path: /var/log/conn.log\n",
    "static_resources.listeners[0].access_log[0]", "- name: envoy.access_loggers.file");

#[test]
fn header_mutations_map_at_every_level() {
    let text = edit(
        V3,
        "            virtual_hosts:\n",
        "            request_headers_to_remove: [x-debug]\n            response_headers_to_add:\n            - header: {key: X-Edge, value: \"%START_TIME%\"}\n              append_action: OVERWRITE_IF_EXISTS_OR_ADD\n            virtual_hosts:\n",
    );
    let text = edit(
        &text,
        V1_ACTION,
        "                  timeout: 2.5s\n                  host_rewrite_literal: api.internal\n                request_headers_to_add:\n                - header: {key: x-a, value: \"%REQ(x-b)%\"}\n                  append: false\n                  keep_empty_value: true\n",
    );
    let c = load(&text).config;
    let l = &c.listeners[0];
    assert_eq!(l.headers.request_remove, ["x-debug"]);
    let edge = &l.headers.response_add[0];
    assert_eq!(edge.name, "x-edge", "names are lower-cased");
    assert_eq!(edge.action, AppendAction::OverwriteIfExistsOrAdd);
    let route = &l.virtual_hosts[0].routes[1];
    let a = &route.headers.request_add[0];
    assert_eq!(
        (a.action, a.keep_empty_value),
        (AppendAction::OverwriteIfExistsOrAdd, true)
    );
    assert_eq!(a.value.text(), "%REQ(x-b)%");
    assert_eq!(
        route.forward().unwrap().host_rewrite,
        HostRewrite::Literal("api.internal".into())
    );
    // auto_host_rewrite maps too; with host_rewrite_literal it is refused.
    let auto = edit(
        &text,
        "host_rewrite_literal: api.internal",
        "auto_host_rewrite: true",
    );
    let c = load(&auto).config;
    assert_eq!(
        c.listeners[0].virtual_hosts[0].routes[1]
            .forward()
            .unwrap()
            .host_rewrite,
        HostRewrite::UpstreamHostname
    );
    let both = edit(
        &text,
        "host_rewrite_literal: api.internal",
        "host_rewrite_literal: api.internal\n                  auto_host_rewrite: true",
    );
    rejected(
        Fault::Invalid,
        &both,
        &format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.auto_host_rewrite"),
        "                  auto_host_rewrite: true",
        "not both",
    );
}

#[test]
fn header_mutation_refusals_name_the_envoy_field() {
    let route = format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1]");
    let with = |entry: &str| {
        edit(
            V3,
            V1_ACTION,
            &format!("                  timeout: 2.5s\n                request_headers_to_add:\n                - {entry}\n"),
        )
    };
    let op = with("header: {key: x-a, value: \"%UPSTREAM_METADATA([\\\"a\\\"])%\"}");
    rejected(
        Fault::Invalid,
        &op,
        &format!("{route}.request_headers_to_add[0].header.value"),
        "header: {key: x-a",
        "UPSTREAM_METADATA",
    );
    let host = with("header: {key: Host, value: a}");
    rejected(
        Fault::Invalid,
        &host,
        &format!("{route}.request_headers_to_add[0].header.key"),
        "header: {key: Host",
        "host_rewrite",
    );
    let both = with("{header: {key: x-a, value: a}, append: true, append_action: ADD_IF_ABSENT}");
    rejected(
        Fault::Invalid,
        &both,
        &format!("{route}.request_headers_to_add[0].append"),
        "{header: {key: x-a",
        "not both",
    );
    let action = with("{header: {key: x-a, value: a}, append_action: SOMETIMES}");
    rejected(
        Fault::Parse,
        &action,
        &format!("{route}.request_headers_to_add[0].append_action"),
        "{header: {key: x-a",
        "ADD_IF_ABSENT",
    );
    let raw = with("header: {key: x-a, raw_value: YQ==}");
    rejected(
        Fault::Unsupported,
        &raw,
        &format!("{route}.request_headers_to_add[0].header.raw_value"),
        "header: {key: x-a",
        "raw bytes",
    );
}

#[test]
fn regex_rewrite_maps_and_bad_groups_are_refused_at_their_line() {
    let with = |substitution: &str| {
        edit(
            V3,
            "                  prefix_rewrite: \"/\"\n",
            &format!("                  regex_rewrite:\n                    pattern: {{google_re2: {{}}, regex: \"^/v1/([^/]+)$\"}}\n                    substitution: \"{substitution}\"\n"),
        )
    };
    let c = load(&with("/api/\\\\1")).config;
    let r = c.listeners[0].virtual_hosts[0].routes[1].forward().unwrap();
    let rewrite = r.regex_rewrite.as_ref().expect("a regex rewrite");
    assert_eq!(
        (rewrite.pattern.as_str(), rewrite.substitution.as_str()),
        ("^/v1/([^/]+)$", "/api/\\1")
    );
    rejected(
        Fault::Invalid,
        &with("/api/\\\\2"),
        &format!("{HCM_V3}.route_config.virtual_hosts[0].routes[1].route.regex_rewrite"),
        "                  regex_rewrite:",
        "group",
    );
}

/// Every refused key of a file is reported in one run: the first is the error
/// (its field and line, as always), the others are listed in its reason, and so
/// is an error the walk met after them.
#[test]
fn every_refusal_of_a_file_is_reported_at_once() {
    let text = format!(
        "dynamic_resources: {{}}\ncluster_manager: {{ outlier_detection: {{}} }}\n{}",
        edit(V3, LISTENER, "  - name: front\n    listener_filters:\n    - name: envoy.filters.listener.proxy_protocol\n")
    );
    let Err(ConfigError::Unsupported {
        field,
        line,
        reason,
    }) = crate::config::load_str(&text)
    else {
        panic!("should be refused");
    };
    assert_eq!(field, "dynamic_resources");
    assert_eq!(line, Some(1));
    assert!(reason.contains("(and 2 more: "), "{reason}");
    assert!(reason.contains("cluster_manager (line 2)"), "{reason}");
    assert!(reason.contains("listener_filters[0].name"), "{reason}");
    assert!(!reason.contains('\n'), "one line: {reason}");
}
