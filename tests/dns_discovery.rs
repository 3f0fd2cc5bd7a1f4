//! DNS service discovery end to end: the real `ringway` binary, a DNS responder
//! whose answers change mid-test, and upstreams on 127.0.0.2…, under both io
//! drivers. See `src/discovery/` for the resolver itself, and
//! `support::dns::DnsCase` for the setup every case shares.

#[macro_use]
mod support;

use std::{collections::HashSet, net::SocketAddr};

use support::{
    dns::{ip, Behaviour, DnsCase, HOSTS_FILE, RESOLV_CONF},
    try_request, wait_until, Driver, Gate, Response, Ringway,
};

const NAME: &str = "svc.test";

driver_tests!(
    round_robin_spans_every_returned_address,
    added_address_takes_traffic_and_removed_one_stops_without_failures,
    in_flight_request_to_removed_host_completes,
    dns_failures_keep_the_last_good_set,
    truncated_udp_answer_is_retried_over_tcp,
    ttl_sets_the_next_refresh_when_asked,
    hosts_file_names_resolve_without_dns,
    search_domains_from_resolv_conf_expand_short_names,
    logical_dns_uses_the_first_address_of_the_latest_answer,
    unresolved_cluster_answers_503_then_succeeds,
);

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

/// Ringway in front of `case`, its one cluster resolving `NAME`.
fn start(case: &mut DnsCase, driver: Driver) -> Ringway {
    let cfg = case.config(&[case.host(NAME)], "");
    case.start(driver, &cfg)
}

fn round_robin_spans_every_returned_address(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], &Gate::new());
    case.dns.answer(
        NAME,
        &[ip("127.0.0.4"), ip("127.0.0.2"), ip("127.0.0.3")],
        30,
    );
    let proxy = start(&mut case, driver);
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

fn added_address_takes_traffic_and_removed_one_stops_without_failures(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], &Gate::new());
    case.dns
        .answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
    let proxy = start(&mut case, driver);
    wait_resolved(&proxy);
    let first: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
    assert_eq!(first.len(), 2, "{driver:?}: {first:?}");

    case.dns
        .answer(NAME, &[ip("127.0.0.3"), ip("127.0.0.4")], 30);
    // Every request succeeds while the set changes under it.
    wait_until("127.0.0.4 to take traffic", || {
        ok(&proxy, "/") == "127.0.0.4"
    });
    let removed_hits = case.ups[0].request_count();
    let after: HashSet<String> = (0..20).map(|_| ok(&proxy, "/")).collect();
    assert_eq!(
        after,
        HashSet::from(["127.0.0.3".to_string(), "127.0.0.4".to_string()]),
        "{driver:?}"
    );
    assert_eq!(
        case.ups[0].request_count(),
        removed_hits,
        "{driver:?}: removed host still used"
    );
}

fn in_flight_request_to_removed_host_completes(driver: Driver) {
    let release_slow = Gate::new();
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &release_slow);
    case.dns.answer(NAME, &[ip("127.0.0.2")], 30);
    let proxy = start(&mut case, driver);
    wait_for_host(&proxy, "127.0.0.2");

    let addr = proxy.addr();
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the slow request to reach 127.0.0.2", || {
        case.ups[0].requests().iter().any(|r| r.target == "/slow")
    });
    case.dns.answer(NAME, &[ip("127.0.0.3")], 30);
    wait_for_host(&proxy, "127.0.0.3");
    release_slow.open();
    let got = slow.join().unwrap();
    assert_eq!(got, Ok((200, "127.0.0.2".to_string())), "{driver:?}");
}

fn dns_failures_keep_the_last_good_set(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &Gate::new());
    case.dns
        .answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
    let proxy = start(&mut case, driver);
    wait_resolved(&proxy);
    for failure in [Behaviour::NxDomain, Behaviour::ServFail, Behaviour::Drop] {
        case.dns.set(NAME, failure.clone());
        // Family `auto` asks AAAA then A: two queries per refresh, one refresh
        // at a time, so five more queries contain a whole failed refresh.
        let before = case.dns.queries(NAME);
        wait_until("a failed refresh", || case.dns.queries(NAME) >= before + 5);
        let seen: HashSet<String> = (0..6).map(|_| ok(&proxy, "/")).collect();
        assert_eq!(seen.len(), 2, "{driver:?} {failure:?}: {seen:?}");
    }
    // And it recovers when DNS answers again.
    case.dns.answer(NAME, &[ip("127.0.0.3")], 30);
    wait_until("the new answer", || {
        (0..3).all(|_| ok(&proxy, "/") == "127.0.0.3")
    });
}

fn truncated_udp_answer_is_retried_over_tcp(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &Gate::new());
    case.dns
        .answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
    case.dns.truncate_udp(NAME);
    let proxy = start(&mut case, driver);
    wait_resolved(&proxy);
    let seen: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
    assert_eq!(seen.len(), 2, "{driver:?}: {seen:?}");
    assert!(case.dns.tcp_queries(NAME) > 0, "{driver:?}: no TCP retry");
}

fn ttl_sets_the_next_refresh_when_asked(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &Gate::new());
    case.dns.answer(NAME, &[ip("127.0.0.2")], 1);
    // An hour-long refresh rate: only the 1 s TTL can bring the change in.
    let cfg = case
        .config(&[case.host(NAME)], "    respect_dns_ttl: true\n")
        .replace("dns_refresh_rate: 100ms", "dns_refresh_rate: 1h");
    let proxy = case.start(driver, &cfg);
    wait_for_host(&proxy, "127.0.0.2");
    case.dns.answer(NAME, &[ip("127.0.0.3")], 1);
    wait_for_host(&proxy, "127.0.0.3");
}

fn hosts_file_names_resolve_without_dns(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &Gate::new());
    case.write(
        HOSTS_FILE,
        "# test hosts\n127.0.0.2 hosts-only.test\n127.0.0.3 hosts-only.test other\n",
    );
    let cfg = case.config(&[case.host("hosts-only.test")], "");
    let proxy = case.start(driver, &cfg);
    wait_resolved(&proxy);
    let seen: HashSet<String> = (0..4).map(|_| ok(&proxy, "/")).collect();
    assert_eq!(seen.len(), 2, "{driver:?}: {seen:?}");
    assert_eq!(case.dns.queries("hosts-only.test"), 0, "{driver:?}");
}

fn search_domains_from_resolv_conf_expand_short_names(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2"], &Gate::new());
    case.dns.answer(NAME, &[ip("127.0.0.2")], 30);
    case.write(RESOLV_CONF, "search test\noptions ndots:1\n");
    let cfg = case.config(&[case.host("svc")], "");
    let proxy = case.start(driver, &cfg);
    wait_for_host(&proxy, "127.0.0.2");
}

fn logical_dns_uses_the_first_address_of_the_latest_answer(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2", "127.0.0.3"], &Gate::new());
    case.dns
        .answer(NAME, &[ip("127.0.0.3"), ip("127.0.0.2")], 30);
    let cfg = case
        .config(&[case.host(NAME)], "")
        .replace("type: strict_dns", "type: logical_dns");
    let proxy = case.start(driver, &cfg);
    wait_resolved(&proxy);
    assert!((0..6).all(|_| ok(&proxy, "/") == "127.0.0.3"), "{driver:?}");
    case.dns
        .answer(NAME, &[ip("127.0.0.2"), ip("127.0.0.3")], 30);
    wait_for_host(&proxy, "127.0.0.2");
    assert!((0..6).all(|_| ok(&proxy, "/") == "127.0.0.2"), "{driver:?}");
}

fn unresolved_cluster_answers_503_then_succeeds(driver: Driver) {
    let mut case = DnsCase::new(&["127.0.0.2"], &Gate::new());
    case.dns.set(NAME, Behaviour::Drop);
    // A long query timeout: the 503 cannot have waited for DNS to give up.
    let cfg = case
        .config(&[case.host(NAME)], "")
        .replace("timeout: 500ms", "timeout: 3s");
    let proxy = case.start(driver, &cfg);
    wait_until("the first query", || case.dns.queries(NAME) >= 1);
    let (status, _) = get(proxy.addr(), "/").expect("a response");
    assert_eq!(status, 503, "{driver:?}");
    case.dns.answer(NAME, &[ip("127.0.0.2")], 30);
    wait_for_host(&proxy, "127.0.0.2");
}
