//! Active health checking: ONE thread for the whole process checks every host
//! of every cluster that has `health_checks`, with blocking std sockets bounded
//! by the check's timeout, and publishes each cluster's verdicts as an immutable
//! `HealthSnapshot` (see `upstream/health.rs`). Workers never run checks, so an upstream
//! sees one checker, not one per core.
//!
//! A host starts healthy (so a restart does not answer 503 until the first
//! round), turns unhealthy after `unhealthy_threshold` failed checks in a row
//! and healthy again after `healthy_threshold` passes. With several checks, a
//! host is healthy only if every check says so.
//!
//! Discovery: the checker follows the cluster's published host set. A host that
//! leaves it while healthy is kept (`pending_removal`) and keeps serving until
//! a check fails, unless `ignore_health_on_host_removal` is set. Verdicts are
//! keyed by address, so a host that comes back keeps its history.
//!
//! Reloads: the thread follows the published config generation; a cluster
//! carried over unchanged (same `SharedHosts`) keeps its verdicts and schedule.
//!
//! Layering: like `discovery`, this is a thread beside the workers that reads
//! generations and writes into `upstream`'s shared tables, so it sits above
//! both `generation` and `upstream` (neither imports it).

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    config::{ClusterConfig, HealthCheckConfig, HealthCheckKind},
    generation::{Generation, Generations},
    upstream::{
        health::{ClusterHealth, HealthSnapshot},
        hosts::{Host, SharedHosts},
    },
};

/// The longest the checker sleeps before looking at the shutdown flag again.
const MAX_NAP: Duration = Duration::from_millis(50);

/// One cluster as the checker follows it.
pub struct CheckedCluster {
    pub config: Arc<ClusterConfig>,
    pub hosts: Arc<SharedHosts>,
    pub health: Arc<ClusterHealth>,
}

struct Target {
    host: Host,
    /// Still in the discovered host set.
    discovered: bool,
    checks: Vec<CheckState>,
}

#[derive(Clone)]
struct CheckState {
    due: Instant,
    healthy: bool,
    passes: u32,
    failures: u32,
}

impl Target {
    fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.healthy)
    }
}

/// Whether any cluster of `gen` has health checks.
pub fn needed(gen: &Generation) -> bool {
    gen.clusters
        .iter()
        .any(|c| !c.config.health_checks.is_empty())
}

/// Start the checker thread; it follows `generations` (reloads) until `shutdown`.
pub fn spawn(
    generations: Arc<Generations>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringway-health".into())
        .spawn(move || run(generations, shutdown))
}

/// `gen`'s checked clusters: those carried over keep their checker.
fn follow(gen: &Generation, old: Vec<ClusterChecker>) -> Vec<ClusterChecker> {
    let mut old = old;
    gen.clusters
        .iter()
        .filter(|c| !c.config.health_checks.is_empty())
        .map(|c| {
            match old
                .iter()
                .position(|k| Arc::ptr_eq(&k.cluster.hosts, &c.hosts))
            {
                Some(i) => old.swap_remove(i),
                None => ClusterChecker::new(CheckedCluster {
                    config: c.config.clone(),
                    hosts: c.hosts.clone(),
                    health: c.health.clone(),
                }),
            }
        })
        .collect()
}

fn run(generations: Arc<Generations>, shutdown: Arc<AtomicBool>) {
    let mut version = 0;
    let mut checker: Vec<ClusterChecker> = Vec::new();
    while !shutdown.load(Ordering::Relaxed) {
        if generations.version() != version {
            let gen = generations.load();
            version = gen.version;
            checker = follow(&gen, checker);
        }
        let mut next = Instant::now() + MAX_NAP;
        for c in &mut checker {
            c.round(&shutdown);
            if let Some(due) = c.next_due() {
                next = next.min(due);
            }
        }
        let nap = next.saturating_duration_since(Instant::now());
        if !nap.is_zero() {
            std::thread::sleep(nap.min(MAX_NAP));
        }
    }
}

pub struct ClusterChecker {
    cluster: CheckedCluster,
    hosts_version: u64,
    targets: HashMap<SocketAddr, Target>,
    published: Option<(Vec<SocketAddr>, Vec<SocketAddr>)>,
}

impl ClusterChecker {
    pub fn new(cluster: CheckedCluster) -> Self {
        ClusterChecker {
            cluster,
            hosts_version: 0,
            targets: HashMap::new(),
            published: None,
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.targets
            .values()
            .flat_map(|t| t.checks.iter().map(|c| c.due))
            .min()
    }

    /// Follow the host set, run the checks that are due, publish what changed.
    pub fn round(&mut self, shutdown: &AtomicBool) {
        self.follow_hosts();
        let now = Instant::now();
        let checks = &self.cluster.config.health_checks;
        let mut dropped = Vec::new();
        for (addr, target) in self.targets.iter_mut() {
            for (state, check) in target.checks.iter_mut().zip(checks) {
                if state.due > now || shutdown.load(Ordering::Relaxed) {
                    continue;
                }
                let passed = run_check(*addr, check);
                let counts = &self.cluster.health.checks;
                counts.attempt.inc();
                if passed {
                    counts.success.inc();
                } else {
                    counts.failure.inc();
                }
                state.due = Instant::now() + check.interval;
                record(state, check, passed);
            }
            // A host pending removal leaves with its first failed verdict.
            if !target.discovered && !target.healthy() {
                dropped.push(*addr);
            }
        }
        for addr in dropped {
            tracing::info!(cluster = %self.cluster.config.name, host = %addr, "host left discovery and failed its check: removed");
            self.targets.remove(&addr);
        }
        self.publish_if_changed();
    }

    fn follow_hosts(&mut self) {
        let version = self.cluster.hosts.version();
        if version == self.hosts_version {
            return;
        }
        self.hosts_version = version;
        let set = self.cluster.hosts.snapshot();
        let now = Instant::now();
        for t in self.targets.values_mut() {
            t.discovered = false;
        }
        for h in &set.hosts {
            let t = self.targets.entry(h.addr).or_insert_with(|| Target {
                host: h.clone(),
                discovered: true,
                checks: vec![
                    CheckState {
                        due: now,
                        healthy: true,
                        passes: 0,
                        failures: 0,
                    };
                    self.cluster.config.health_checks.len()
                ],
            });
            t.discovered = true;
            t.host = h.clone();
        }
        let ignore = self.cluster.config.ignore_health_on_host_removal;
        let name = &self.cluster.config.name;
        self.targets.retain(|addr, t| {
            let keep = t.discovered || (!ignore && t.healthy());
            if !t.discovered && keep {
                tracing::info!(cluster = %name, host = %addr, "host left discovery but passes its checks: kept until it fails (pending_dynamic_removal)");
            }
            keep
        });
    }

    fn publish_if_changed(&mut self) {
        let mut unhealthy: Vec<SocketAddr> = self
            .targets
            .iter()
            .filter(|(_, t)| !t.healthy())
            .map(|(a, _)| *a)
            .collect();
        unhealthy.sort_unstable();
        let mut pending: Vec<&Target> = self.targets.values().filter(|t| !t.discovered).collect();
        pending.sort_unstable_by_key(|t| t.host.addr);
        let pending_addrs: Vec<SocketAddr> = pending.iter().map(|t| t.host.addr).collect();
        let key = (unhealthy, pending_addrs);
        if self.published.as_ref() == Some(&key) {
            return;
        }
        let snapshot = HealthSnapshot {
            unhealthy: key.0.clone(),
            pending_removal: pending.iter().map(|t| t.host.clone()).collect(),
        };
        if self.published.is_some()
            || !snapshot.unhealthy.is_empty()
            || !snapshot.pending_removal.is_empty()
        {
            tracing::info!(
                cluster = %self.cluster.config.name,
                unhealthy = ?snapshot.unhealthy,
                pending_removal = snapshot.pending_removal.len(),
                "health verdicts changed"
            );
        }
        self.cluster.health.publish(snapshot);
        self.published = Some(key);
    }
}

fn record(state: &mut CheckState, check: &HealthCheckConfig, passed: bool) {
    if passed {
        state.failures = 0;
        state.passes = state.passes.saturating_add(1);
        if !state.healthy && state.passes >= check.healthy_threshold {
            state.healthy = true;
        }
    } else {
        state.passes = 0;
        state.failures = state.failures.saturating_add(1);
        if state.healthy && state.failures >= check.unhealthy_threshold {
            state.healthy = false;
        }
    }
}

/// One check against one host, bounded by the check's timeout.
pub fn run_check(addr: SocketAddr, check: &HealthCheckConfig) -> bool {
    let deadline = Instant::now() + check.timeout;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, check.timeout) else {
        return false;
    };
    let (path, host, expected) = match &check.kind {
        HealthCheckKind::Tcp => return true,
        HealthCheckKind::Http {
            path,
            host,
            expected,
        } => (path, host, expected),
    };
    let left = |d: Instant| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: ringway-health-check\r\nconnection: close\r\n\r\n"
    );
    if stream.set_write_timeout(Some(left(deadline))).is_err()
        || stream.write_all(request.as_bytes()).is_err()
    {
        return false;
    }
    // Only the status line matters; read until it is complete.
    let mut buf = [0u8; 512];
    let mut len = 0;
    loop {
        if Instant::now() >= deadline || stream.set_read_timeout(Some(left(deadline))).is_err() {
            return false;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
        if buf[..len].windows(2).any(|w| w == b"\r\n") || len == buf.len() {
            break;
        }
    }
    parse_status(&buf[..len])
        .is_some_and(|s| expected.iter().any(|&(lo, hi)| (lo..=hi).contains(&s)))
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let rest = head.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::hosts::HostSet;
    use std::net::TcpListener;

    fn http_check(threshold: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            kind: HealthCheckKind::Http {
                path: "/healthz".into(),
                host: "c".into(),
                expected: vec![(200, 399)],
            },
            interval: Duration::ZERO,
            timeout: Duration::from_secs(2),
            unhealthy_threshold: threshold,
            healthy_threshold: threshold,
        }
    }

    fn cluster_with(check: HealthCheckConfig, ignore: bool) -> ClusterConfig {
        let mut c = crate::config::load_str(
            "listeners: [{ address: \"127.0.0.1:0\", virtual_hosts: [{ domains: [\"*\"], routes: [{ match: { prefix: / }, cluster: c }] }] }]\nclusters: [{ name: c, hosts: [\"127.0.0.1:1\"] }]\n",
        )
        .unwrap()
        .config
        .clusters
        .remove(0);
        c.health_checks = vec![check];
        c.ignore_health_on_host_removal = ignore;
        c
    }

    /// A one-shot HTTP server answering `status` to each connection, on a thread.
    fn answer(listener: &TcpListener, status: u16) {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = write!(s, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(parse_status(b"HTTP/2 200"), None);
        assert_eq!(parse_status(b"HTTP/1.1 2x0"), None);
    }

    #[test]
    fn http_and_tcp_checks() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            answer(&l, 204);
            answer(&l, 500);
            l
        });
        assert!(run_check(addr, &http_check(1)));
        assert!(!run_check(addr, &http_check(1)));
        let l = t.join().unwrap();
        let tcp = HealthCheckConfig {
            kind: HealthCheckKind::Tcp,
            ..http_check(1)
        };
        assert!(run_check(addr, &tcp));
        drop(l);
        assert!(!run_check(addr, &tcp), "a refused connect fails");
    }

    #[test]
    fn thresholds_and_pending_removal() {
        // Two hosts: `a` passes (TCP), `b` refuses.
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let a_addr = a.local_addr().unwrap();
        let b_addr = {
            let b = TcpListener::bind("127.0.0.1:0").unwrap();
            b.local_addr().unwrap()
        };
        let tcp = HealthCheckConfig {
            kind: HealthCheckKind::Tcp,
            ..http_check(2)
        };
        for ignore in [false, true] {
            let hosts = Arc::new(SharedHosts::new(HostSet::fixed([a_addr, b_addr])));
            let health = Arc::new(ClusterHealth::default());
            let mut c = ClusterChecker::new(CheckedCluster {
                config: Arc::new(cluster_with(tcp.clone(), ignore)),
                hosts: hosts.clone(),
                health: health.clone(),
            });
            let stop = AtomicBool::new(false);
            c.round(&stop);
            // One failure is below the threshold of 2.
            assert!(health.snapshot().unhealthy.is_empty());
            c.round(&stop);
            assert_eq!(health.snapshot().unhealthy, vec![b_addr]);

            // Discovery drops `a` while it still passes.
            hosts.publish(HostSet::fixed([b_addr]));
            c.round(&stop);
            let snap = health.snapshot();
            if ignore {
                assert!(snap.pending_removal.is_empty());
            } else {
                assert_eq!(snap.pending_removal.len(), 1);
                assert_eq!(snap.pending_removal[0].addr, a_addr);
            }
        }
        // A kept host leaves for good once it fails twice.
        let hosts = Arc::new(SharedHosts::new(HostSet::fixed([a_addr])));
        let health = Arc::new(ClusterHealth::default());
        let mut c = ClusterChecker::new(CheckedCluster {
            config: Arc::new(cluster_with(tcp, false)),
            hosts: hosts.clone(),
            health: health.clone(),
        });
        let stop = AtomicBool::new(false);
        c.round(&stop);
        hosts.publish(HostSet::fixed([]));
        c.round(&stop);
        assert_eq!(health.snapshot().pending_removal.len(), 1);
        drop(a);
        c.round(&stop);
        assert_eq!(health.snapshot().pending_removal.len(), 1);
        c.round(&stop);
        assert!(health.snapshot().pending_removal.is_empty());
        assert!(c.targets.is_empty());
    }
}
