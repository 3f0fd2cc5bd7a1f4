//! `typed_dns_resolver_config`, at the top level (every DNS cluster) or on
//! one cluster: the c-ares resolver's `resolvers` become ringway's name
//! servers (`dns.resolvers`, or the cluster's `dns_resolvers`) and its query
//! timeout and tries the top-level `dns.timeout` / `dns.attempts`; the
//! getaddrinfo resolver is what ringway does without resolvers anyway (it
//! reads `/etc/resolv.conf` and `/etc/hosts`).

use super::{
    common::address,
    rules::dns as rules,
    walk::{Ctx, Node, Origins},
};
use crate::config::{
    raw::{RawCluster, RawConfig},
    units::ConfigDuration,
    ConfigError,
};

const CARES: (&str, &str) = (
    "envoy.network.dns_resolver.cares",
    "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
);
const GETADDRINFO: (&str, &str) = (
    "envoy.network.dns_resolver.getaddrinfo",
    "type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig",
);

/// What a resolver config sets.
#[derive(Debug, Default)]
pub struct DnsSettings {
    /// `ip:port` of each name server (none: the system's).
    pub resolvers: Vec<String>,
    pub timeout: Option<(ConfigDuration, String)>,
    pub attempts: Option<(u32, String)>,
}

pub fn typed_dns_resolver_config(cx: &mut Ctx, node: &Node) -> Result<DnsSettings, ConfigError> {
    let f = cx.fields(node, rules::TYPED_DNS_RESOLVER_CONFIG)?;
    let name = f.get("name").map(|n| cx.string(&n)).transpose()?;
    let tc = f.get("typed_config");
    let type_url = match &tc {
        Some(t) => match t.v.get("@type") {
            Some(u) => Some(cx.string(&t.child("@type", u))?),
            None => None,
        },
        None => None,
    };
    let is = |which: (&str, &str)| {
        name.as_deref() == Some(which.0) || type_url.as_deref() == Some(which.1)
    };
    if is(GETADDRINFO) {
        if let Some(t) = &tc {
            cx.fields(t, rules::GETADDRINFO_DNS_RESOLVER_CONFIG)?;
        }
        return Ok(DnsSettings::default());
    }
    if !is(CARES) {
        let at = name.map_or(node.path.clone(), |_| format!("{}.name", node.path));
        return Err(cx.unsupported(
            &at,
            "only the c-ares and getaddrinfo resolvers are implemented",
        ));
    }
    match tc {
        Some(t) => cares(cx, &t),
        None => Ok(DnsSettings::default()),
    }
}

fn cares(cx: &mut Ctx, node: &Node) -> Result<DnsSettings, ConfigError> {
    let f = cx.fields(node, rules::CARES_DNS_RESOLVER_CONFIG)?;
    let mut out = DnsSettings::default();
    if let Some(rs) = f.get("resolvers") {
        for r in cx.seq(&rs)? {
            let (addr, _) = address(cx, &r)?;
            out.resolvers.push(addr);
        }
    }
    if let Some(t) = f.get("query_timeout_seconds") {
        let secs = cx.uint(&t, 3600)?;
        out.timeout = Some((
            ConfigDuration(std::time::Duration::from_secs(secs)),
            t.path.clone(),
        ));
    }
    if let Some(n) = f.get("query_tries") {
        out.attempts = Some((cx.uint(&n, 10)? as u32, n.path.clone()));
    }
    Ok(out)
}

/// The bootstrap's resolver: ringway's process-wide `dns` settings.
pub fn on_bootstrap(
    cx: &mut Ctx,
    node: &Node,
    raw: &mut RawConfig,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let dns = typed_dns_resolver_config(cx, node)?;
    let rd = raw.dns.get_or_insert_with(Default::default);
    rd.resolvers = dns.resolvers;
    origins.push(("dns.resolvers".into(), node.path.clone()));
    if let Some((timeout, path)) = dns.timeout {
        rd.timeout = Some(timeout);
        origins.push(("dns.timeout".into(), path));
    }
    if let Some((attempts, path)) = dns.attempts {
        rd.attempts = Some(attempts);
        origins.push(("dns.attempts".into(), path));
    }
    Ok(())
}

/// A cluster's own resolver: its `dns_resolvers` (the typed config wins
/// over the older list, as in Envoy).
pub fn on_cluster(cx: &mut Ctx, node: &Node, rc: &mut RawCluster) -> Result<(), ConfigError> {
    let dns = typed_dns_resolver_config(cx, node)?;
    if !dns.resolvers.is_empty() {
        rc.dns_resolvers = dns.resolvers;
    }
    let process_wide = [dns.timeout.map(|t| t.1), dns.attempts.map(|a| a.1)];
    for path in process_wide.iter().flatten() {
        cx.warn(
            path,
            "ignored on a cluster: the query timeout and tries are process-wide \
             (a top-level typed_dns_resolver_config sets them)",
        );
    }
    Ok(())
}
