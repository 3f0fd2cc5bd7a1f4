//! DNS service discovery end to end: the real `ringway` binary, a DNS responder
//! whose answers change mid-test, and upstreams on 127.0.0.2…, under both io
//! drivers. See `src/discovery/` for the resolver itself.

mod support;

use std::{collections::HashSet, net::SocketAddr};

use support::{
    dns::{ip, upstreams, Behaviour, DnsResponder},
    try_request, wait_until, Driver, Gate, Response, Ringway,
};

const NAME: &str = "svc.test";

/// A config with one catch-all route to cluster `svc`. `cluster_extra` lines
/// are appended to the cluster (indented by 4), `dns_extra` to `dns:`.
fn config(
    dir: &tempfile::TempDir,
    dns: &DnsResponder,
    hosts: &[String],
    cluster_extra: &str,
    dns_extra: &str,
) -> String {
    let d = dir.path().display();
    // Hermetic: empty hosts file and resolv.conf unless a test writes them.
    for f in ["hosts", "resolv.conf"] {
        let p = dir.path().join(f);
        if !p.exists() {
            std::fs::write(p, "").unwrap();
        }
    }
    let hosts = hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "workers: 1
dns:
  resolvers: [\"{resolver}\"]
  hosts_file: {d}/hosts
  resolv_conf: {d}/resolv.conf
  timeout: 500ms
  attempts: 1
{dns_extra}listeners:
  - name: test
    address: 127.0.0.1:0
    virtual_hosts:
      - name: all
        domains: [\"*\"]
        routes:
          - match: {{ prefix: / }}
            cluster: svc
clusters:
  - name: svc
    type: strict_dns
    connect_timeout: 1s
    dns_refresh_rate: 100ms
    dns_failure_refresh_rate: 100ms
    hosts: [{hosts}]
{cluster_extra}",
        resolver = dns.addr,
    )
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Start ringway with `config` in `dir`, logging at debug level (printed if
/// the test fails).
fn start(dir: tempfile::TempDir, config: &str, driver: Driver) -> Ringway {
    Ringway::launch(driver, config)
        .in_dir(dir)
        .env("RINGWAY_LOG", "ringway=debug")
        .start()
}

/// One request on a fresh connection: (status, body).
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    try_request(addr, "GET", path, "").map(|r: Response| (r.status, r.body_str()))
}

/// A request that must succeed; returns the upstream IP that answered.
fn ok(proxy: &Ringway, path: &str) -> String {
    match get(proxy.addr(), path) {
        Ok((200, body)) => body,
        other => panic!("expected 200, got {other:?}"),
    }
}

/// Wait until `ip` answers a request (every request meanwhile must succeed).
fn wait_for_host(proxy: &Ringway, ip: &str) {
    wait_until(&format!("{ip} to take traffic"), || {
        get(proxy.addr(), "/").map(|(s, b)| s == 200 && b == ip) == Ok(true)
    });
}

fn wait_resolved(proxy: &Ringway) {
    wait_until("the cluster to resolve", || {
        matches!(get(proxy.addr(), "/"), Ok((200, _)))
    });
}

#[test]
fn round_robin_spans_every_returned_address() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(
            NAME,
            &[ip("127.0.0.4"), ip("127.0.0.2"), ip("127.0.0.3")],
            30,
        );
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        let seen: Vec<String> = (0..30).map(|_| ok(&proxy, "/")).collect();
        for want in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
            // One worker, round robin: each of 3 hosts gets every third request.
            assert_eq!(
                seen.iter().filter(|s| *s == want).count(),
                10,
                "{driver:?}: {seen:?}"
            );
        }
    }
}

#[test]
fn added_address_takes_traffic_and_removed_one_stops_without_failures() {
    for driver in Driver::ALL {
        let (port, ups) = upstreams(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        let first: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
        assert_eq!(first.len(), 2, "{driver:?}: {first:?}");

        dns.answer(NAME, &[ip("127.0.0.3"), ip("127.0.0.4")], 30);
        // Every request succeeds while the set changes under it.
        wait_until("127.0.0.4 to take traffic", || {
            ok(&proxy, "/") == "127.0.0.4"
        });
        let removed_hits = ups[0].request_count();
        let after: HashSet<String> = (0..20).map(|_| ok(&proxy, "/")).collect();
        assert_eq!(
            after,
            HashSet::from(["127.0.0.3".to_string(), "127.0.0.4".to_string()]),
            "{driver:?}"
        );
        assert_eq!(
            ups[0].request_count(),
            removed_hits,
            "{driver:?}: removed host still used"
        );
    }
}

#[test]
fn in_flight_request_to_removed_host_completes() {
    for driver in Driver::ALL {
        let release_slow = Gate::new();
        let (port, ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &release_slow);
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2")], 30);
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_for_host(&proxy, "127.0.0.2");

        let addr = proxy.addr();
        let slow = std::thread::spawn(move || get(addr, "/slow"));
        wait_until("the slow request to reach 127.0.0.2", || {
            ups[0].requests().iter().any(|r| r.target == "/slow")
        });
        dns.answer(NAME, &[ip("127.0.0.3")], 30);
        wait_for_host(&proxy, "127.0.0.3");
        release_slow.open();
        let got = slow.join().unwrap();
        assert_eq!(got, Ok((200, "127.0.0.2".to_string())), "{driver:?}");
    }
}

#[test]
fn dns_failures_keep_the_last_good_set() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        for failure in [Behaviour::NxDomain, Behaviour::ServFail, Behaviour::Drop] {
            dns.set(NAME, failure.clone());
            // Family `auto` asks AAAA then A: two queries per refresh, one refresh
            // at a time, so five more queries contain a whole failed refresh.
            let before = dns.queries(NAME);
            wait_until("a failed refresh", || dns.queries(NAME) >= before + 5);
            let seen: HashSet<String> = (0..6).map(|_| ok(&proxy, "/")).collect();
            assert_eq!(seen.len(), 2, "{driver:?} {failure:?}: {seen:?}");
        }
        // And it recovers when DNS answers again.
        dns.answer(NAME, &[ip("127.0.0.3")], 30);
        wait_until("the new answer", || {
            (0..3).all(|_| ok(&proxy, "/") == "127.0.0.3")
        });
    }
}

#[test]
fn truncated_udp_answer_is_retried_over_tcp() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
        dns.truncate_udp(NAME);
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        let seen: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
        assert_eq!(seen.len(), 2, "{driver:?}: {seen:?}");
        assert!(dns.tcp_queries(NAME) > 0, "{driver:?}: no TCP retry");
    }
}

#[test]
fn ttl_sets_the_next_refresh_when_asked() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2")], 1);
        let dir = dir();
        // An hour-long refresh rate: only the 1 s TTL can bring the change in.
        let cfg = config(
            &dir,
            &dns,
            &[format!("{NAME}:{port}")],
            "    respect_dns_ttl: true\n",
            "",
        )
        .replace("dns_refresh_rate: 100ms", "dns_refresh_rate: 1h");
        let proxy = start(dir, &cfg, driver);
        wait_for_host(&proxy, "127.0.0.2");
        dns.answer(NAME, &[ip("127.0.0.3")], 1);
        wait_for_host(&proxy, "127.0.0.3");
    }
}

#[test]
fn hosts_file_names_resolve_without_dns() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &Gate::new());
        let dns = DnsResponder::start();
        let dir = dir();
        std::fs::write(
            dir.path().join("hosts"),
            "# test hosts\n127.0.0.2 hosts-only.test\n127.0.0.3 hosts-only.test other\n",
        )
        .unwrap();
        let cfg = config(&dir, &dns, &[format!("hosts-only.test:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        let seen: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
        assert_eq!(seen.len(), 2, "{driver:?}: {seen:?}");
        assert_eq!(dns.queries("hosts-only.test"), 0, "{driver:?}");
    }
}

#[test]
fn search_domains_from_resolv_conf_expand_short_names() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.2")], 30);
        let dir = dir();
        std::fs::write(
            dir.path().join("resolv.conf"),
            "search test\noptions ndots:1\n",
        )
        .unwrap();
        let cfg = config(&dir, &dns, &[format!("svc:{port}")], "", "");
        let proxy = start(dir, &cfg, driver);
        wait_for_host(&proxy, "127.0.0.2");
    }
}

#[test]
fn logical_dns_uses_the_first_address_of_the_latest_answer() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2", "127.0.0.3"], &Gate::new());
        let dns = DnsResponder::start();
        dns.answer(NAME, &[ip("127.0.0.3"), ip("127.0.0.2")], 30);
        let dir = dir();
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "")
            .replace("type: strict_dns", "type: logical_dns");
        let proxy = start(dir, &cfg, driver);
        wait_resolved(&proxy);
        assert!((0..6).all(|_| ok(&proxy, "/") == "127.0.0.3"), "{driver:?}");
        dns.answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
        wait_for_host(&proxy, "127.0.0.2");
        assert!((0..6).all(|_| ok(&proxy, "/") == "127.0.0.2"), "{driver:?}");
    }
}

#[test]
fn unresolved_cluster_answers_503_then_succeeds() {
    for driver in Driver::ALL {
        let (port, _ups) = upstreams(&["127.0.0.2"], &Gate::new());
        let dns = DnsResponder::start();
        dns.set(NAME, Behaviour::Drop);
        let dir = dir();
        // A long query timeout: the 503 cannot have waited for DNS to give up.
        let cfg = config(&dir, &dns, &[format!("{NAME}:{port}")], "", "")
            .replace("timeout: 500ms", "timeout: 3s");
        let proxy = start(dir, &cfg, driver);
        wait_until("the first query", || dns.queries(NAME) >= 1);
        let (status, _) = get(proxy.addr(), "/").expect("a response");
        assert_eq!(status, 503, "{driver:?}");
        dns.answer(NAME, &[ip("127.0.0.2")], 30);
        wait_for_host(&proxy, "127.0.0.2");
    }
}
