//! Envoy v3 files for the tests that run them: a listener whose connection
//! manager takes extra keys and its routes, a static cluster, and the
//! `static_resources` around them. Tests whose point is a whole Envoy file's
//! shape (route-level mutations, redirects) keep theirs written out.

use std::net::SocketAddr;

/// One listener on 127.0.0.1, port 0, named `name`, whose connection manager
/// counts under `stat_prefix`, carries `hcm` (extra keys, each line indented
/// 10 spaces) and routes with `routes` (route entries indented 14 spaces).
pub fn listener(name: &str, stat_prefix: &str, hcm: &str, routes: &str) -> String {
    format!(
        r#"  - name: {name}
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {stat_prefix}
{hcm}          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
{routes}          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

/// The one route entry that sends everything to `cluster`.
pub fn route_all(cluster: &str) -> String {
    format!(
        "              - match: {{ prefix: / }}\n                route: {{ cluster: {cluster} }}\n"
    )
}

/// A static cluster of the one endpoint `addr`.
pub fn cluster(name: &str, addr: SocketAddr) -> String {
    format!(
        r#"  - name: {name}
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: "{}", port_value: {} }} }} }}
"#,
        addr.ip(),
        addr.port()
    )
}

/// `static_resources` with these listeners and clusters; `rest`: top-level
/// keys after it (`admin:` …), or "".
pub fn file(listeners: &[String], clusters: &[String], rest: &str) -> String {
    format!(
        "static_resources:\n  listeners:\n{}  clusters:\n{}{rest}",
        listeners.concat(),
        clusters.concat()
    )
}
