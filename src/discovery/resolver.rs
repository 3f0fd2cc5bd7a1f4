//! The resolver thread: refreshes every DNS cluster on its own schedule and
//! publishes changed host sets.
//!
//! Schedule per cluster: the first refresh runs at start; after a success the
//! next one is due after `dns_refresh_rate` (or the answer's smallest TTL with
//! `respect_dns_ttl`); after a failure after `dns_failure_refresh_rate`, doubled
//! for each further consecutive failure up to ten times that (Envoy's backoff).
//! Every delay gets up to 10 % random jitter so clusters do not query in lockstep.
//!
//! Reloads: the thread follows the published config generation. A cluster the
//! reload carried over unchanged (same `SharedHosts`) keeps its schedule and
//! last good addresses; a new or changed one starts with an immediate refresh;
//! a removed one is dropped.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;

use super::{
    dns::{Answer, DnsClient, LookupError},
    hosts::{HostsFile, HostsTable},
    resolv_conf::ResolvConf,
    DEFAULT_HOSTS_FILE, DEFAULT_RESOLV_CONF,
};
use crate::{
    config::{defaults, ClusterConfig, ClusterKind, DnsConfig, DnsLookupFamily, Endpoint},
    generation::{is_dns, Generation, Generations},
    prim::Rng,
    upstream::hosts::{Host, HostSet, SharedHosts},
};

/// The longest the thread sleeps before looking at the stop flag again.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Failure backoff stops growing at this multiple of `dns_failure_refresh_rate`.
const MAX_BACKOFF_FACTOR: u32 = 10;

/// Whether `gen` has a cluster with a name to resolve.
pub fn needed(gen: &Generation) -> bool {
    gen.clusters.iter().any(|c| is_dns(&c.config))
}

/// Start the resolver thread. It follows `generations` (reloads) and stops
/// within `STOP_POLL` of `stop` becoming true.
pub fn start(
    generations: Arc<Generations>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let gen = generations.load();
    let mut resolver = Resolver {
        clusters: Vec::new(),
        settings: DnsSettings::new(&gen.config.dns),
        dns: gen.config.dns.clone(),
        generations,
        version: 0,
        stop,
        jitter: Jitter::new(),
    };
    resolver.follow(&gen);
    std::thread::Builder::new()
        .name("ringway-dns".into())
        .spawn(move || resolver.run())
}

/// The process-wide DNS settings of a config's `dns:` block.
struct DnsSettings {
    hosts_file: HostsFile,
    resolv: ResolvConf,
    timeout: Duration,
    attempts: u32,
}

impl DnsSettings {
    fn new(dns: &DnsConfig) -> DnsSettings {
        let resolv_path = dns
            .resolv_conf
            .clone()
            .unwrap_or_else(|| DEFAULT_RESOLV_CONF.to_string());
        let hosts_path = dns
            .hosts_file
            .clone()
            .unwrap_or_else(|| DEFAULT_HOSTS_FILE.to_string());
        let resolv = ResolvConf::load(&resolv_path);
        DnsSettings {
            timeout: dns
                .timeout
                .or(resolv.timeout)
                .unwrap_or(defaults::DNS_TIMEOUT),
            attempts: dns
                .attempts
                .or(resolv.attempts)
                .unwrap_or(defaults::DNS_ATTEMPTS),
            hosts_file: HostsFile::new(hosts_path),
            resolv,
        }
    }

    fn client(&self, c: &ClusterConfig, dns: &DnsConfig) -> DnsClient {
        let servers = if !c.dns_resolvers.is_empty() {
            c.dns_resolvers.clone()
        } else if !dns.resolvers.is_empty() {
            dns.resolvers.clone()
        } else {
            self.resolv.servers_or_local()
        };
        DnsClient {
            servers,
            timeout: self.timeout,
            attempts: self.attempts,
        }
    }
}

struct Resolver {
    clusters: Vec<DnsCluster>,
    settings: DnsSettings,
    /// The `dns:` block `settings` were made from.
    dns: DnsConfig,
    generations: Arc<Generations>,
    /// The generation `clusters` follow.
    version: u64,
    stop: Arc<AtomicBool>,
    jitter: Jitter,
}

/// One configured `hosts` entry of a DNS cluster.
struct Target {
    hostname: Arc<str>,
    port: u16,
    /// An `ip:port` entry needs no lookup.
    literal: Option<IpAddr>,
    /// The addresses of the last successful lookup (kept through failures).
    last_good: Option<Vec<IpAddr>>,
    /// The entry's load-balancing weight, carried by each of its addresses.
    weight: u32,
}

struct DnsCluster {
    name: String,
    kind: ClusterKind,
    family: DnsLookupFamily,
    refresh_rate: Duration,
    failure_refresh_rate: Duration,
    respect_ttl: bool,
    client: DnsClient,
    shared: Arc<SharedHosts>,
    targets: Vec<Target>,
    next: Instant,
    consecutive_failures: u32,
    /// What was last published; `None` until the first refresh finished.
    published: Option<Vec<Host>>,
}

impl DnsCluster {
    fn new(c: &ClusterConfig, shared: Arc<SharedHosts>, client: DnsClient, now: Instant) -> Self {
        let targets = c
            .endpoints
            .iter()
            .zip(c.endpoint_weights.iter().chain(std::iter::repeat(&1)))
            .map(|(e, &weight)| match e {
                Endpoint::Addr(a) => Target {
                    hostname: Arc::from(a.to_string()),
                    port: a.port(),
                    literal: Some(a.ip()),
                    last_good: None,
                    weight,
                },
                Endpoint::Name { host, port } => Target {
                    hostname: Arc::from(host.as_str()),
                    port: *port,
                    literal: None,
                    last_good: None,
                    weight,
                },
            })
            .collect();
        DnsCluster {
            name: c.name.clone(),
            kind: c.kind,
            family: c.dns_lookup_family,
            refresh_rate: c.dns_refresh_rate,
            failure_refresh_rate: c.dns_failure_refresh_rate,
            respect_ttl: c.respect_dns_ttl,
            client,
            shared,
            targets,
            next: now,
            consecutive_failures: 0,
            published: None,
        }
    }
}

impl Resolver {
    /// Take `gen`'s DNS clusters: keep those carried over, add the rest.
    fn follow(&mut self, gen: &Generation) {
        self.version = gen.version;
        if gen.config.dns != self.dns {
            self.settings = DnsSettings::new(&gen.config.dns);
            self.dns = gen.config.dns.clone();
        }
        let mut old = std::mem::take(&mut self.clusters);
        let now = Instant::now();
        for c in gen.clusters.iter().filter(|c| is_dns(&c.config)) {
            match old.iter().position(|d| Arc::ptr_eq(&d.shared, &c.hosts)) {
                Some(i) => self.clusters.push(old.swap_remove(i)),
                None => self.clusters.push(DnsCluster::new(
                    &c.config,
                    c.hosts.clone(),
                    self.settings.client(&c.config, &self.dns),
                    now,
                )),
            }
        }
        for gone in old {
            tracing::debug!(cluster = %gone.name, "DNS cluster no longer resolved (reload)");
        }
    }

    fn run(mut self) {
        tracing::debug!(clusters = self.clusters.len(), "resolver thread started");
        while !self.stop.load(Ordering::Relaxed) {
            if self.generations.version() != self.version {
                let gen = self.generations.load();
                self.follow(&gen);
            }
            let now = Instant::now();
            let mut hosts_checked = false;
            for i in 0..self.clusters.len() {
                if self.clusters[i].next > now {
                    continue;
                }
                if !hosts_checked {
                    self.settings.hosts_file.reload_if_changed();
                    hosts_checked = true;
                }
                self.refresh(i);
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            let next = self.clusters.iter().map(|c| c.next).min();
            let wait = next.map_or(STOP_POLL, |n| n.saturating_duration_since(Instant::now()));
            if !wait.is_zero() {
                // Not synchronisation: the thread idles until the next refresh is due.
                std::thread::sleep(wait.min(STOP_POLL));
            }
        }
        tracing::debug!("resolver thread stopped");
    }

    fn refresh(&mut self, index: usize) {
        let Resolver {
            clusters,
            settings,
            stop,
            jitter,
            ..
        } = self;
        let DnsSettings {
            hosts_file, resolv, ..
        } = settings;
        let cluster = &mut clusters[index];
        let mut failed: Option<(Arc<str>, LookupError)> = None;
        let mut min_ttl: Option<u32> = None;
        for target in cluster.targets.iter_mut().filter(|t| t.literal.is_none()) {
            let result = lookup(
                &target.hostname,
                cluster.family,
                hosts_file.table(),
                |name, rtype| cluster.client.query(name, rtype, stop),
                resolv,
            );
            match result {
                Ok(answer) => {
                    if let Some(ttl) = answer.min_ttl {
                        min_ttl = Some(min_ttl.map_or(ttl, |t| t.min(ttl)));
                    }
                    target.last_good = Some(answer.addrs);
                }
                Err(LookupError::Stopped) => return,
                Err(e) => failed = Some((target.hostname.clone(), e)),
            }
        }

        let hosts = build_hosts(cluster.kind, &cluster.targets);
        if cluster.published.as_ref() != Some(&hosts) {
            tracing::info!(
                cluster = %cluster.name,
                hosts = ?hosts.iter().map(|h| h.addr).collect::<Vec<_>>(),
                "DNS cluster membership changed"
            );
            cluster.shared.publish(HostSet {
                hosts: hosts.clone(),
                resolved: true,
            });
            cluster.published = Some(hosts);
        } else {
            tracing::trace!(cluster = %cluster.name, "DNS answer unchanged; nothing published");
        }

        let now = Instant::now();
        let delay = match failed {
            None => {
                cluster.consecutive_failures = 0;
                match min_ttl {
                    Some(ttl) if cluster.respect_ttl && ttl > 0 => Duration::from_secs(ttl.into()),
                    _ => cluster.refresh_rate,
                }
            }
            Some((name, error)) => {
                cluster.consecutive_failures = cluster.consecutive_failures.saturating_add(1);
                let delay = backoff(cluster.failure_refresh_rate, cluster.consecutive_failures);
                if cluster.consecutive_failures == 1 {
                    tracing::warn!(cluster = %cluster.name, %name, %error, retry_in = ?delay, "DNS lookup failed; keeping the last good hosts");
                } else {
                    tracing::debug!(cluster = %cluster.name, %name, %error, retry_in = ?delay, "DNS lookup failed again");
                }
                delay
            }
        };
        cluster.next = now + jitter.add(delay);
    }
}

/// Envoy-style backoff: base, 2×base, 4×base … capped at 10×base.
pub(crate) fn backoff(base: Duration, consecutive_failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(consecutive_failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(MAX_BACKOFF_FACTOR);
    base.saturating_mul(factor)
}

/// Resolve one name: the hosts file first, then DNS for each search candidate.
/// `query(name, type)` asks DNS for one absolute name.
pub(crate) fn lookup(
    name: &str,
    family: DnsLookupFamily,
    hosts: &HostsTable,
    mut query: impl FnMut(&str, RecordType) -> Result<Answer, LookupError>,
    resolv: &ResolvConf,
) -> Result<Answer, LookupError> {
    if let Some(ips) = hosts.get(name) {
        let addrs = pick_family(ips, family);
        if !addrs.is_empty() {
            return Ok(Answer {
                addrs,
                min_ttl: None,
            });
        }
    }
    let mut last = LookupError::NxDomain;
    for candidate in resolv.candidates(name) {
        match lookup_family(family, |rtype| query(&candidate, rtype)) {
            Ok(answer) => return Ok(answer),
            Err(LookupError::Stopped) => return Err(LookupError::Stopped),
            // Keep the most telling error: a timeout beats a later NXDOMAIN.
            Err(e) => {
                if !matches!(last, LookupError::Timeout | LookupError::Server(_))
                    || matches!(e, LookupError::Timeout | LookupError::Server(_))
                {
                    last = e;
                }
            }
        }
    }
    Err(last)
}

/// Which record types to ask for, and how to combine them.
pub(crate) fn lookup_family(
    family: DnsLookupFamily,
    mut query: impl FnMut(RecordType) -> Result<Answer, LookupError>,
) -> Result<Answer, LookupError> {
    let (first, second) = match family {
        DnsLookupFamily::V4Only => return query(RecordType::A),
        DnsLookupFamily::V6Only => return query(RecordType::AAAA),
        DnsLookupFamily::Auto => (RecordType::AAAA, RecordType::A),
        DnsLookupFamily::V4Preferred => (RecordType::A, RecordType::AAAA),
        DnsLookupFamily::All => {
            let v4 = query(RecordType::A);
            if v4 == Err(LookupError::Stopped) {
                return v4;
            }
            let v6 = query(RecordType::AAAA);
            return match (v4, v6) {
                (Ok(mut a), Ok(b)) => {
                    a.addrs.extend(b.addrs);
                    a.min_ttl = match (a.min_ttl, b.min_ttl) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    };
                    Ok(a)
                }
                (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
                (Err(_), Err(e)) => Err(e),
            };
        }
    };
    match query(first) {
        Ok(a) => Ok(a),
        Err(LookupError::Stopped) => Err(LookupError::Stopped),
        Err(_) => query(second),
    }
}

/// The hosts file's addresses for a family, in file order.
pub(crate) fn pick_family(ips: &[IpAddr], family: DnsLookupFamily) -> Vec<IpAddr> {
    let v4 = || {
        ips.iter()
            .copied()
            .filter(IpAddr::is_ipv4)
            .collect::<Vec<_>>()
    };
    let v6 = || {
        ips.iter()
            .copied()
            .filter(IpAddr::is_ipv6)
            .collect::<Vec<_>>()
    };
    match family {
        DnsLookupFamily::V4Only => v4(),
        DnsLookupFamily::V6Only => v6(),
        DnsLookupFamily::Auto => {
            let six = v6();
            if six.is_empty() {
                v4()
            } else {
                six
            }
        }
        DnsLookupFamily::V4Preferred => {
            let four = v4();
            if four.is_empty() {
                v6()
            } else {
                four
            }
        }
        DnsLookupFamily::All => ips.to_vec(),
    }
}

/// The host set to publish, in a stable order so an identical answer compares
/// equal: targets in config order; for `strict_dns` every address of a name,
/// sorted, each with the port from its entry, duplicates dropped; for
/// `logical_dns` only the first address of each name's latest answer.
fn build_hosts(kind: ClusterKind, targets: &[Target]) -> Vec<Host> {
    let mut hosts: Vec<Host> = Vec::new();
    for t in targets {
        let ips: Vec<IpAddr> = match (t.literal, &t.last_good) {
            (Some(ip), _) => vec![ip],
            (None, None) => continue,
            (None, Some(ips)) if kind == ClusterKind::LogicalDns => {
                ips.first().copied().into_iter().collect()
            }
            (None, Some(ips)) => {
                let mut sorted = ips.clone();
                sorted.sort_unstable();
                sorted
            }
        };
        for ip in ips {
            let addr = SocketAddr::new(ip, t.port);
            if !hosts.iter().any(|h| h.addr == addr) {
                hosts.push(Host {
                    addr,
                    hostname: t.hostname.clone(),
                    weight: t.weight,
                });
            }
        }
    }
    hosts
}

/// Refresh jitter, from the crate's one generator. Not for anything secret.
struct Jitter(Rng);

impl Jitter {
    fn new() -> Jitter {
        Jitter(Rng::new(Rng::random_seed(std::process::id().into())))
    }

    /// `base` plus up to 10 % of it.
    fn add(&mut self, base: Duration) -> Duration {
        let span = (base.as_micros() / 10) as u64;
        if span == 0 {
            return base;
        }
        base + Duration::from_micros(self.0.below(span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn answer(ips: &[&str], ttl: u32) -> Answer {
        Answer {
            addrs: ips.iter().map(|s| ip(s)).collect(),
            min_ttl: Some(ttl),
        }
    }

    fn name_target(host: &str, port: u16, ips: Option<&[&str]>) -> Target {
        Target {
            hostname: Arc::from(host),
            port,
            literal: None,
            last_good: ips.map(|v| v.iter().map(|s| ip(s)).collect()),
            weight: 1,
        }
    }

    fn addrs(hosts: &[Host]) -> Vec<String> {
        hosts.iter().map(|h| h.addr.to_string()).collect()
    }

    #[test]
    fn strict_dns_takes_every_address_sorted_and_deduplicated() {
        let targets = vec![
            name_target("b", 80, Some(&["10.0.0.3", "10.0.0.2"])),
            name_target("a", 80, Some(&["10.0.0.2", "10.0.0.4"])),
            name_target("a", 81, Some(&["10.0.0.2"])),
            name_target("never", 80, None),
        ];
        let hosts = build_hosts(ClusterKind::StrictDns, &targets);
        assert_eq!(
            addrs(&hosts),
            vec!["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.2:81"]
        );
        assert_eq!(&*hosts[2].hostname, "a");
        // The same addresses in another order give an identical set: no republish.
        let shuffled = vec![
            name_target("b", 80, Some(&["10.0.0.2", "10.0.0.3"])),
            name_target("a", 80, Some(&["10.0.0.4", "10.0.0.2"])),
            name_target("a", 81, Some(&["10.0.0.2"])),
            name_target("never", 80, None),
        ];
        assert_eq!(build_hosts(ClusterKind::StrictDns, &shuffled), hosts);
    }

    #[test]
    fn logical_dns_takes_the_first_address_per_name() {
        let targets = vec![
            name_target("a", 80, Some(&["10.0.0.9", "10.0.0.2"])),
            Target {
                hostname: Arc::from("10.0.0.7:90"),
                port: 90,
                literal: Some(ip("10.0.0.7")),
                last_good: None,
                weight: 1,
            },
        ];
        assert_eq!(
            addrs(&build_hosts(ClusterKind::LogicalDns, &targets)),
            vec!["10.0.0.9:80", "10.0.0.7:90"]
        );
    }

    #[test]
    fn families_ask_for_the_right_types() {
        let v4 = answer(&["10.0.0.1"], 5);
        let v6 = answer(&["::1"], 7);
        let serve = |rtype: RecordType, have4: bool, have6: bool| match rtype {
            RecordType::A if have4 => Ok(v4.clone()),
            RecordType::AAAA if have6 => Ok(v6.clone()),
            _ => Err(LookupError::Empty),
        };
        use DnsLookupFamily::*;
        assert_eq!(
            lookup_family(Auto, |t| serve(t, true, true)),
            Ok(v6.clone())
        );
        assert_eq!(
            lookup_family(Auto, |t| serve(t, true, false)),
            Ok(v4.clone())
        );
        assert_eq!(
            lookup_family(V4Preferred, |t| serve(t, true, true)),
            Ok(v4.clone())
        );
        assert_eq!(
            lookup_family(V4Preferred, |t| serve(t, false, true)),
            Ok(v6.clone())
        );
        assert_eq!(
            lookup_family(V4Only, |t| serve(t, false, true)),
            Err(LookupError::Empty)
        );
        assert_eq!(
            lookup_family(V6Only, |t| serve(t, true, true)),
            Ok(v6.clone())
        );
        let all = lookup_family(All, |t| serve(t, true, true)).unwrap();
        assert_eq!(all.addrs, vec![ip("10.0.0.1"), ip("::1")]);
        assert_eq!(all.min_ttl, Some(5));
        assert_eq!(lookup_family(All, |t| serve(t, false, true)), Ok(v6));
    }

    #[test]
    fn hosts_file_answers_first_and_search_domains_are_tried() {
        let hosts = HostsTable::parse("10.0.0.5 svc\n10.0.0.6 svc\n::5 svc\n");
        let resolv = ResolvConf::parse("search ns.example\n");
        let mut asked = Vec::new();
        let got = lookup(
            "svc",
            DnsLookupFamily::V4Only,
            &hosts,
            |n, _| {
                asked.push(n.to_string());
                Err(LookupError::NxDomain)
            },
            &resolv,
        )
        .unwrap();
        assert_eq!(got.addrs, vec![ip("10.0.0.5"), ip("10.0.0.6")]);
        assert!(asked.is_empty());

        let got = lookup(
            "other",
            DnsLookupFamily::V4Only,
            &hosts,
            |n, _| {
                asked.push(n.to_string());
                if n == "other" {
                    Ok(answer(&["10.0.0.8"], 3))
                } else {
                    Err(LookupError::NxDomain)
                }
            },
            &resolv,
        )
        .unwrap();
        assert_eq!(got, answer(&["10.0.0.8"], 3));
        assert_eq!(asked, vec!["other.ns.example", "other"]);
    }

    #[test]
    fn a_timeout_is_reported_over_a_later_nxdomain() {
        let resolv = ResolvConf::parse("search ns.example\n");
        let err = lookup(
            "x",
            DnsLookupFamily::V4Only,
            &HostsTable::default(),
            |n, _| {
                if n == "x.ns.example" {
                    Err(LookupError::Timeout)
                } else {
                    Err(LookupError::NxDomain)
                }
            },
            &resolv,
        );
        assert_eq!(err, Err(LookupError::Timeout));
    }

    #[test]
    fn backoff_doubles_up_to_ten_times() {
        let base = Duration::from_secs(1);
        let got: Vec<u64> = (1..=6).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(base, 200), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let d = j.add(Duration::from_secs(5));
            assert!(
                d >= Duration::from_secs(5) && d < Duration::from_millis(5500),
                "{d:?}"
            );
        }
        assert_eq!(j.add(Duration::ZERO), Duration::ZERO);
    }
}
