//! Service discovery for `strict_dns` and `logical_dns` clusters.
//!
//! One resolver thread (`resolver.rs`), off every worker core, does all DNS
//! work: names are answered from an `/etc/hosts`-style file (`hosts.rs`) first,
//! else by asking name servers itself (`dns.rs`, built on `hickory-proto`) that
//! come from the config or `/etc/resolv.conf` (`resolv_conf.rs`). Each refresh
//! builds the cluster's host set in a stable order and, only when it differs
//! from the last one, publishes it through `upstream::hosts::SharedHosts`;
//! workers pick it up on their next request with one atomic load.
//!
//! Invariants: a failed lookup never shrinks a host set (the last good
//! addresses of that name stay); a cluster is marked resolved once every name
//! has had its first answer or failure, so requests never wait on DNS.

pub mod dns;
pub mod hosts;
pub mod resolv_conf;
pub mod resolver;

pub use resolver::start;

/// Where the system keeps them; both paths can be changed under `dns:`.
pub const DEFAULT_HOSTS_FILE: &str = "/etc/hosts";
pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";
