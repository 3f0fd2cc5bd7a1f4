//! What the resilience tests share: named `FailingUpstream`s, the config that
//! routes to clusters of them (`routed_config`), and ringway started in front
//! of one such cluster `c` (`balancing`).

use super::{Driver, FailingUpstream, Ringway};

/// Whether a config serves the admin endpoint (on an ephemeral port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminEndpoint {
    Ephemeral,
    Off,
}

/// `FailingUpstream`s with these names (`let [a, b] = failing(["a", "b"])`),
/// each on its own loopback address.
pub fn failing<const N: usize>(names: [&str; N]) -> [FailingUpstream; N] {
    names.map(FailingUpstream::start)
}

/// `workers` workers, `admin` as asked, and one listener `main` on port 0
/// whose catch-all virtual host has `routes` — (prefix, cluster, extra route
/// lines) — to `clusters` (YAML list items).
pub fn routed_config(
    workers: usize,
    admin: AdminEndpoint,
    routes: &[(&str, &str, &str)],
    clusters: &str,
) -> String {
    let mut r = String::new();
    for (prefix, cluster, extra) in routes {
        r.push_str(&format!(
            "          - match: {{ prefix: {prefix} }}\n            cluster: {cluster}\n{extra}"
        ));
    }
    let admin = match admin {
        AdminEndpoint::Ephemeral => "admin:\n  address: 127.0.0.1:0\n",
        AdminEndpoint::Off => "",
    };
    format!(
        "workers: {workers}
{admin}listeners:
  - name: main
    address: 127.0.0.1:0
    virtual_hosts:
      - domains: [\"*\"]
        routes:
{r}clusters:
{clusters}"
    )
}

/// Ringway with `workers` workers routing everything to cluster `c` over
/// `hosts` (a YAML list, e.g. `host_list(&[&a, &b])`), with `cluster_extra`
/// appended to the cluster (indented four spaces).
pub fn balancing(driver: Driver, workers: usize, hosts: &str, cluster_extra: &str) -> Ringway {
    let cluster =
        format!("  - name: c\n    connect_timeout: 1s\n    hosts: {hosts}\n{cluster_extra}");
    Ringway::start(
        driver,
        &routed_config(workers, AdminEndpoint::Off, &[("/", "c", "")], &cluster),
    )
}
