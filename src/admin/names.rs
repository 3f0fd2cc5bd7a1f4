//! What each stat is called, in either naming (`stats.naming` in the config).
//!
//! A stat is a scope (`cluster` and its name, `http` and a listener's name, …)
//! plus its own name (`upstream_rq_2xx`). Its `/stats` text name is Envoy's in
//! both namings (`cluster.service1.upstream_rq_2xx`). Its Prometheus family and
//! labels differ:
//!
//! - ringway: `ringway_<scope>_<stat>` with the scope as one label
//!   (`ringway_cluster_upstream_rq_2xx{cluster="service1"}`): one family per stat.
//! - Envoy: Envoy's default tag extraction (`source/common/config/well_known_names.cc`).
//!   The rules that can match a ringway stat cut their tag out of the stat's
//!   name (`_rq_503` → `_rq` with `envoy_response_code="503"`), then the scope
//!   becomes its Envoy tag (`envoy_cluster_name`, `envoy_http_conn_manager_prefix`,
//!   `envoy_listener_address`, `envoy_worker_id`), in Envoy's order: the name
//!   rules' tags first, then the scope's
//!   (`envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service1"}`).
//!
//! Invariant: ringway knows each stat's scope and scope value, so those are
//! never parsed back out of a dotted name (a cluster name with dots keeps
//! them); only the rules about a stat's own name are regexes, kept as data in
//! `ENVOY_NAME_RULES`. Admin thread only: nothing here is on the request path.

use std::{net::SocketAddr, sync::OnceLock};

use regex::Regex;

use crate::{
    config::StatsNaming,
    stats::names::{ENVOY_PROMETHEUS_PREFIX, PROMETHEUS_PREFIX},
};

/// Where a stat lives.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Server,
    /// A listener's connection manager, by listener name (Envoy's `stat_prefix`).
    Http(&'a str),
    /// A listener, by the address it is bound to (Envoy naming only).
    Listener(SocketAddr),
    Cluster(&'a str),
    Worker(usize),
}

impl Scope<'_> {
    fn prefix(&self) -> &'static str {
        match self {
            Scope::Server => "server",
            Scope::Http(_) => "http",
            Scope::Listener(_) => "listener",
            Scope::Cluster(_) => "cluster",
            Scope::Worker(_) => "worker",
        }
    }

    /// The scope's own segment of the text name; Envoy writes an address
    /// with `_` for `:` (`0.0.0.0_8080`, `[__1]_8080`).
    fn value(&self) -> Option<String> {
        match self {
            Scope::Server => None,
            Scope::Http(n) | Scope::Cluster(n) => Some(n.to_string()),
            Scope::Listener(a) => Some(a.to_string().replace(':', "_")),
            Scope::Worker(id) => Some(id.to_string()),
        }
    }

    /// The Prometheus label the scope's value goes in.
    fn label(&self, naming: StatsNaming) -> Option<&'static str> {
        Some(match (naming, self) {
            (_, Scope::Server) => return None,
            (StatsNaming::Ringway, Scope::Http(_)) => "listener",
            (StatsNaming::Ringway, Scope::Listener(_)) => "address",
            (StatsNaming::Ringway, Scope::Cluster(_)) => "cluster",
            (StatsNaming::Ringway, Scope::Worker(_)) => "worker",
            (StatsNaming::Envoy, Scope::Http(_)) => ENVOY_HTTP_CONN_MANAGER_PREFIX,
            (StatsNaming::Envoy, Scope::Listener(_)) => ENVOY_LISTENER_ADDRESS,
            (StatsNaming::Envoy, Scope::Cluster(_)) => ENVOY_CLUSTER_NAME,
            (StatsNaming::Envoy, Scope::Worker(_)) => ENVOY_WORKER_ID,
        })
    }
}

// Envoy's tag names, as its Prometheus output writes them (`envoy.` → `envoy_`).
pub const ENVOY_CLUSTER_NAME: &str = "envoy_cluster_name";
pub const ENVOY_HTTP_CONN_MANAGER_PREFIX: &str = "envoy_http_conn_manager_prefix";
pub const ENVOY_LISTENER_ADDRESS: &str = "envoy_listener_address";
pub const ENVOY_WORKER_ID: &str = "envoy_worker_id";
pub const ENVOY_RESPONSE_CODE: &str = "envoy_response_code";
pub const ENVOY_RESPONSE_CODE_CLASS: &str = "envoy_response_code_class";
pub const ENVOY_SSL_CIPHER: &str = "envoy_ssl_cipher";
pub const ENVOY_SSL_CURVE: &str = "envoy_ssl_curve";
pub const ENVOY_SSL_VERSION: &str = "envoy_ssl_version";

/// Envoy's default rules about a stat's own name, in Envoy's order: `(tag,
/// regex)`. Group 1 is cut out of the name, group 2 is the tag's value.
pub const ENVOY_NAME_RULES: &[(&str, &str)] = &[
    (ENVOY_RESPONSE_CODE, r"_rq(_(\d{3}))$"),
    (ENVOY_RESPONSE_CODE_CLASS, r"_rq_((\d))xx$"),
    (ENVOY_SSL_CIPHER, r"^ssl\.ciphers(\.([\w-]+))$"),
    (ENVOY_SSL_CURVE, r"^ssl\.curves(\.([\w-]+))$"),
    (ENVOY_SSL_VERSION, r"^ssl\.versions(\.(TLSv\d\.\d))$"),
];

fn envoy_rules() -> &'static [(&'static str, Regex)] {
    static RULES: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    RULES.get_or_init(|| {
        ENVOY_NAME_RULES
            .iter()
            .map(|(tag, re)| (*tag, Regex::new(re).expect("a valid tag rule")))
            .collect()
    })
}

/// A stat's names: its `/stats` line name and its Prometheus family and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatNames {
    pub text: String,
    pub family: String,
    pub labels: Vec<(&'static str, String)>,
}

/// `stat` of `scope`, named as `naming` says.
pub fn stat_names(naming: StatsNaming, scope: Scope<'_>, stat: &str) -> StatNames {
    let value = scope.value();
    let text = match &value {
        Some(v) => format!("{}.{v}.{stat}", scope.prefix()),
        None => format!("{}.{stat}", scope.prefix()),
    };
    let mut labels = Vec::new();
    let (prefix, stem) = match naming {
        StatsNaming::Ringway => (PROMETHEUS_PREFIX, stat.to_string()),
        StatsNaming::Envoy => {
            let mut stem = stat.to_string();
            for (tag, re) in envoy_rules() {
                let Some(caps) = re.captures(&stem) else {
                    continue;
                };
                let (cut, value) = (caps.get(1), caps.get(2));
                let (Some(cut), Some(value)) = (cut, value) else {
                    continue;
                };
                labels.push((*tag, value.as_str().to_string()));
                stem.replace_range(cut.range(), "");
            }
            (ENVOY_PROMETHEUS_PREFIX, stem)
        }
    };
    if let (Some(label), Some(v)) = (scope.label(naming), value) {
        labels.push((label, v));
    }
    StatNames {
        text,
        family: sanitize(&format!("{prefix}{}_{stem}", scope.prefix())),
        labels,
    }
}

/// A Prometheus metric name holds `[a-zA-Z0-9_:]`; anything else becomes `_`
/// (Envoy's sub-scope dots, the `-` of cipher names), as Envoy does.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy(scope: Scope<'_>, stat: &str) -> (String, String, Vec<(&'static str, String)>) {
        let n = stat_names(StatsNaming::Envoy, scope, stat);
        (n.text, n.family, n.labels)
    }

    fn tags(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn envoy_cluster_stats_take_envoy_cluster_name() {
        assert_eq!(
            envoy(Scope::Cluster("service1"), "upstream_rq_total"),
            (
                "cluster.service1.upstream_rq_total".into(),
                "envoy_cluster_upstream_rq_total".into(),
                tags(&[(ENVOY_CLUSTER_NAME, "service1")])
            )
        );
    }

    #[test]
    fn envoy_status_classes_and_codes_become_tags_before_the_scope() {
        assert_eq!(
            envoy(Scope::Cluster("service1"), "upstream_rq_2xx"),
            (
                "cluster.service1.upstream_rq_2xx".into(),
                "envoy_cluster_upstream_rq_xx".into(),
                tags(&[
                    (ENVOY_RESPONSE_CODE_CLASS, "2"),
                    (ENVOY_CLUSTER_NAME, "service1")
                ])
            )
        );
        assert_eq!(
            envoy(Scope::Cluster("service1"), "upstream_rq_503"),
            (
                "cluster.service1.upstream_rq_503".into(),
                "envoy_cluster_upstream_rq".into(),
                tags(&[
                    (ENVOY_RESPONSE_CODE, "503"),
                    (ENVOY_CLUSTER_NAME, "service1")
                ])
            )
        );
        let (_, family, labels) = envoy(Scope::Http("ingress_http"), "downstream_rq_5xx");
        assert_eq!(family, "envoy_http_downstream_rq_xx");
        assert_eq!(
            labels,
            tags(&[
                (ENVOY_RESPONSE_CODE_CLASS, "5"),
                (ENVOY_HTTP_CONN_MANAGER_PREFIX, "ingress_http")
            ])
        );
    }

    #[test]
    fn names_that_only_look_like_codes_keep_their_name() {
        for stat in [
            "upstream_rq_timeout",
            "upstream_rq_retry_overflow",
            "downstream_rq_time",
        ] {
            let (_, family, labels) = envoy(Scope::Cluster("c"), stat);
            assert_eq!(family, format!("envoy_cluster_{stat}"));
            assert_eq!(labels, tags(&[(ENVOY_CLUSTER_NAME, "c")]));
        }
    }

    #[test]
    fn envoy_listener_addresses_write_colons_as_underscores() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            envoy(Scope::Listener(v4), "downstream_cx_total"),
            (
                "listener.0.0.0.0_8080.downstream_cx_total".into(),
                "envoy_listener_downstream_cx_total".into(),
                tags(&[(ENVOY_LISTENER_ADDRESS, "0.0.0.0_8080")])
            )
        );
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        let (text, _, labels) = envoy(
            Scope::Listener(v6),
            "ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256",
        );
        assert_eq!(
            text,
            "listener.[__1]_443.ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256"
        );
        assert_eq!(
            labels,
            tags(&[
                (ENVOY_SSL_CIPHER, "ECDHE-RSA-AES128-GCM-SHA256"),
                (ENVOY_LISTENER_ADDRESS, "[__1]_443")
            ])
        );
    }

    #[test]
    fn envoy_tls_versions_and_curves_are_tags() {
        let a: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let (_, family, labels) = envoy(Scope::Listener(a), "ssl.versions.TLSv1.3");
        assert_eq!(family, "envoy_listener_ssl_versions");
        assert_eq!(labels[0], (ENVOY_SSL_VERSION, "TLSv1.3".to_string()));
        let (_, family, labels) = envoy(Scope::Listener(a), "ssl.curves.X25519");
        assert_eq!(family, "envoy_listener_ssl_curves");
        assert_eq!(labels[0], (ENVOY_SSL_CURVE, "X25519".to_string()));
    }

    #[test]
    fn envoy_server_and_worker_stats() {
        assert_eq!(
            envoy(Scope::Server, "live"),
            ("server.live".into(), "envoy_server_live".into(), vec![])
        );
        let (text, family, labels) = envoy(Scope::Worker(1), "downstream_cx_accepted");
        assert_eq!(text, "worker.1.downstream_cx_accepted");
        assert_eq!(family, "envoy_worker_downstream_cx_accepted");
        assert_eq!(labels, tags(&[(ENVOY_WORKER_ID, "1")]));
    }

    #[test]
    fn ringway_naming_is_one_family_per_stat_with_the_scope_as_label() {
        let n = stat_names(
            StatsNaming::Ringway,
            Scope::Cluster("a.b"),
            "upstream_rq_2xx",
        );
        assert_eq!(n.text, "cluster.a.b.upstream_rq_2xx");
        assert_eq!(n.family, "ringway_cluster_upstream_rq_2xx");
        assert_eq!(n.labels, tags(&[("cluster", "a.b")]));
        let n = stat_names(
            StatsNaming::Ringway,
            Scope::Cluster("c"),
            "outlier_detection.ejections_active",
        );
        assert_eq!(
            n.family,
            "ringway_cluster_outlier_detection_ejections_active"
        );
        let n = stat_names(StatsNaming::Ringway, Scope::Cluster("c"), "upstream_rq_503");
        assert_eq!(n.family, "ringway_cluster_upstream_rq_503");
    }

    #[test]
    fn a_cluster_name_with_dots_stays_whole_in_its_tag() {
        let (text, family, labels) = envoy(Scope::Cluster("svc.ns"), "upstream_rq_404");
        assert_eq!(text, "cluster.svc.ns.upstream_rq_404");
        assert_eq!(family, "envoy_cluster_upstream_rq");
        assert_eq!(
            labels,
            tags(&[(ENVOY_RESPONSE_CODE, "404"), (ENVOY_CLUSTER_NAME, "svc.ns")])
        );
    }
}
