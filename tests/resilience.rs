//! Resilience through the real binary: active health checks remove and restore
//! hosts, outlier detection ejects a failing host and brings it back, circuit
//! breakers overflow with 503, least_request avoids the busy host, ring hash
//! keeps a key on one host, weights are respected. Each under both io drivers.

#[macro_use]
mod support;

use std::net::SocketAddr;

use support::{
    admin::{stat, stats},
    host_list, refused_addr, request,
    resilience::{balancing, failing, routed_config, AdminEndpoint},
    send_request, wait_until, Driver, Mode, Response, Ringway, FAST_HC,
};

driver_tests!(
    health_checks_remove_and_restore_hosts,
    all_hosts_unhealthy_is_panic_mode,
    tcp_health_check_follows_a_refusing_host,
    outlier_detection_ejects_and_brings_back,
    outlier_ejection_on_one_core_holds_for_all,
    breaker_overflows_with_503,
    connection_breaker_queues_until_a_connection_frees,
    connection_breaker_opens_one_for_a_host_with_none,
    a_queued_request_times_out_with_the_route,
    least_request_prefers_the_idle_host,
    ring_hash_keeps_a_key_on_one_host,
    maglev_keeps_a_cookie_on_one_host,
    weighted_round_robin_respects_weights,
);

/// `GET path` on a new connection with `extra` header lines.
fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    request(addr, "GET", path, extra)
}

/// Which upstream answered (its name, from the body), for `n` requests.
fn who_answers(addr: SocketAddr, n: usize, extra: &str) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = get(addr, "/", extra);
            assert_eq!(r.status, 200, "{r:?}");
            r.body_str()
        })
        .collect()
}

fn health_checks_remove_and_restore_hosts(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let rw = balancing(d, 2, &host_list(&[&a, &b]), FAST_HC);
    wait_until("both hosts to serve", || {
        let seen = who_answers(rw.addr(), 6, "");
        seen.iter().any(|n| n == "a") && seen.iter().any(|n| n == "b")
    });

    // `a` fails its health check but would still answer requests: only the
    // checker can take it out.
    a.set_health(503);
    wait_until("a to be taken out", || {
        who_answers(rw.addr(), 6, "").iter().all(|n| n == "b")
    });
    let before = a.requests();
    assert!(who_answers(rw.addr(), 20, "").iter().all(|n| n == "b"));
    assert_eq!(a.requests(), before, "an unhealthy host got requests");

    a.set_health(200);
    wait_until("a to come back", || {
        who_answers(rw.addr(), 6, "").iter().any(|n| n == "a")
    });
}

fn all_hosts_unhealthy_is_panic_mode(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    a.set_health(500);
    b.set_health(500);
    let rw = balancing(d, 1, &host_list(&[&a, &b]), FAST_HC);
    // Wait until the checker has judged both hosts (several checks each).
    wait_until("health checks of both hosts", || {
        a.health_checks() >= 3 && b.health_checks() >= 3
    });
    // Every host is unhealthy: ringway balances over all rather than failing.
    let seen = who_answers(rw.addr(), 10, "");
    assert!(
        seen.iter().any(|n| n == "a") && seen.iter().any(|n| n == "b"),
        "{seen:?}"
    );
}

fn tcp_health_check_follows_a_refusing_host(d: Driver) {
    let [a] = failing(["a"]);
    // A host nobody listens on: connections are refused.
    let dead = refused_addr();
    let hosts = format!("[\"{}\", \"{dead}\"]", a.addr);
    let rw = balancing(
        d,
        1,
        &hosts,
        "    health_checks: [{ tcp: true, interval: 50ms, unhealthy_threshold: 1 }]\n",
    );
    // Once the refusing host is out, every request succeeds.
    wait_until("the refusing host to be taken out", || {
        (0..4).all(|_| get(rw.addr(), "/", "").status == 200)
    });
    assert!(who_answers(rw.addr(), 10, "").iter().all(|n| n == "a"));
}

const OUTLIER: &str = "    outlier_detection:
      consecutive_5xx: 3
      interval: 50ms
      base_ejection_time: 1s
      max_ejection_percent: 50
";

fn outlier_detection_ejects_and_brings_back(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let rw = balancing(d, 1, &host_list(&[&a, &b]), OUTLIER);
    a.set_mode(Mode::Status(503));
    // Round robin on one worker: three 503s from `a` within six requests eject it.
    wait_until("a to be ejected", || {
        (0..6)
            .map(|_| get(rw.addr(), "/", ""))
            .all(|r| r.status == 200 && r.body_str() == "b")
    });
    let before = a.requests();
    assert!(who_answers(rw.addr(), 10, "").iter().all(|n| n == "b"));
    assert_eq!(a.requests(), before, "an ejected host got requests");

    // It comes back once its ejection time is over.
    a.set_mode(Mode::Ok);
    wait_until("a to come back", || {
        who_answers(rw.addr(), 4, "").iter().any(|n| n == "a")
    });
}

fn outlier_ejection_on_one_core_holds_for_all(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let extra = OUTLIER.replace("base_ejection_time: 1s", "base_ejection_time: 60s");
    let rw = balancing(d, 2, &host_list(&[&a, &b]), &extra);
    // Resets (local-origin failures) count as gateway failures too.
    a.set_mode(Mode::Reset);
    wait_until("a to be ejected", || {
        (0..6).all(|_| {
            let r = get(rw.addr(), "/", "");
            r.status == 200 && r.body_str() == "b"
        })
    });
    // New connections land on both workers; neither sends to `a` any more.
    let before = a.requests();
    assert!(who_answers(rw.addr(), 40, "").iter().all(|n| n == "b"));
    assert_eq!(a.requests(), before);
}

fn breaker_overflows_with_503(d: Driver) {
    let [a] = failing(["a"]);
    let rw = balancing(
        d,
        1,
        &host_list(&[&a]),
        "    circuit_breakers: { max_requests: 1 }\n",
    );
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    wait_until("the first request to reach the upstream", || a.hung() == 1);
    let r = get(rw.addr(), "/", "");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("x-ringway-overloaded"), Some("true"));
    assert_eq!(
        a.requests(),
        1,
        "the overflowing request reached the upstream"
    );
    a.release();
    assert_eq!(held.read_response().status, 200);
    // With the first request done, the breaker closes again.
    assert_eq!(get(rw.addr(), "/", "").status, 200);
}

/// Ringway (one worker: the whole limit is its share) with an admin, routing
/// to cluster `c` over `hosts` with `max_connections: 1`; `routes` as
/// `routed_config` takes them (the default: everything, no route options).
fn one_connection(d: Driver, hosts: &str, routes: &[(&str, &str, &str)]) -> Ringway {
    let cluster = format!(
        "  - name: c\n    connect_timeout: 1s\n    hosts: {hosts}\n    circuit_breakers: {{ max_connections: 1 }}\n"
    );
    Ringway::start(
        d,
        &routed_config(1, AdminEndpoint::Ephemeral, routes, &cluster),
    )
}

const EVERYTHING: &[(&str, &str, &str)] = &[("/", "c", "")];

/// Over `max_connections`, a request waits for a connection to free (Envoy's
/// pending request), counted as `upstream_cx_overflow`; it is not refused.
fn connection_breaker_queues_until_a_connection_frees(d: Driver) {
    let [a] = failing(["a"]);
    let rw = one_connection(d, &host_list(&[&a]), EVERYTHING);
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    wait_until("the first request to reach the upstream", || a.hung() == 1);
    let mut queued = send_request(rw.addr(), "GET", "/after", "");
    wait_until("the second request to be queued", || {
        stat(&stats(rw.admin()), "cluster.c.upstream_cx_overflow") == 1
    });
    assert_eq!(a.requests(), 1, "the queued request reached the upstream");
    // The first request has its connection; the second waits for it.
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_active"), 1);
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_total"), 2);
    a.release();
    assert_eq!(held.read_response().status, 200);
    let r = queued.read_response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(a.requests(), 2);
    let st = stats(rw.admin());
    assert_eq!(
        stat(&st, "cluster.c.upstream_cx_total"),
        1,
        "one connection served both"
    );
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_overflow"), 0);
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_active"), 0);
    assert_eq!(
        stat(&st, "cluster.c.upstream_rq_pending_total"),
        2,
        "counted once each"
    );
}

/// A host this worker has no connection to and no request on gets one even
/// over `max_connections` (as in Envoy: else its request would wait for a
/// connection that never frees). Still counted as `upstream_cx_overflow`.
fn connection_breaker_opens_one_for_a_host_with_none(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let rw = one_connection(d, &host_list(&[&a, &b]), EVERYTHING);
    // Round robin: the held request takes one host, the next request the other.
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    wait_until("the first request to reach its host", || {
        a.hung() + b.hung() == 1
    });
    let r = request(rw.addr(), "GET", "/", "");
    assert_eq!(r.status, 200, "{r:?}");
    let idle = if a.hung() == 1 { &b } else { &a };
    assert_eq!(
        r.body_str(),
        idle.name(),
        "answered by the host with no request"
    );
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.upstream_cx_overflow"), 1);
    assert_eq!(stat(&st, "cluster.c.upstream_cx_total"), 2);
    a.release();
    b.release();
    assert_eq!(held.read_response().status, 200);
}

/// A queued request waits no longer than the route timeout: a 504 then, and
/// it never reaches the upstream. (The held request's route has no timeout.)
fn a_queued_request_times_out_with_the_route(d: Driver) {
    let [a] = failing(["a"]);
    let routes = [
        ("/hang", "c", "            timeout: 0s\n"),
        ("/", "c", "            timeout: 300ms\n"),
    ];
    let rw = one_connection(d, &host_list(&[&a]), &routes);
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    wait_until("the first request to reach the upstream", || a.hung() == 1);
    let r = request(rw.addr(), "GET", "/queued", "");
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(a.requests(), 1, "the queued request reached the upstream");
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.upstream_cx_overflow"), 1);
    assert_eq!(stat(&st, "cluster.c.upstream_rq_timeout"), 1);
    assert_eq!(stat(&st, "cluster.c.upstream_rq_pending_active"), 0);
    a.release();
    assert_eq!(held.read_response().status, 200);
}

fn least_request_prefers_the_idle_host(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let rw = balancing(
        d,
        1,
        &host_list(&[&a, &b]),
        "    lb_policy: least_request\n",
    );
    let mut held = send_request(rw.addr(), "GET", "/hang", "");
    wait_until("one host to hold a request", || a.hung() + b.hung() == 1);
    let (busy, idle) = if a.hung() == 1 { (&a, &b) } else { (&b, &a) };
    let seen = who_answers(rw.addr(), 20, "");
    assert!(seen.iter().all(|n| n == idle.name()), "{seen:?}");
    busy.release();
    assert_eq!(held.read_response().status, 200);
}

fn ring_hash_keeps_a_key_on_one_host(d: Driver) {
    let ups = failing(["a", "b", "c"]);
    let rw = balancing(
        d,
        2,
        &host_list(&ups.each_ref()),
        "    lb_policy: ring_hash\n    hash_policy: [{ header: x-user }]\n",
    );
    let mut hosts_used = std::collections::HashSet::new();
    for user in 0..12 {
        // New connections: both workers answer, and must agree.
        let seen = who_answers(rw.addr(), 6, &format!("x-user: user-{user}\r\n"));
        assert!(seen.iter().all(|n| *n == seen[0]), "user-{user}: {seen:?}");
        hosts_used.insert(seen[0].clone());
    }
    assert!(
        hosts_used.len() > 1,
        "every key on one host: {hosts_used:?}"
    );
}

fn maglev_keeps_a_cookie_on_one_host(d: Driver) {
    let ups = failing(["a", "b", "c"]);
    let rw = balancing(
        d,
        2,
        &host_list(&ups.each_ref()),
        "    lb_policy: maglev\n    hash_policy: [{ cookie: session }]\n",
    );
    for s in 0..8 {
        let seen = who_answers(rw.addr(), 6, &format!("cookie: a=1; session=s{s}\r\n"));
        assert!(seen.iter().all(|n| *n == seen[0]), "session s{s}: {seen:?}");
    }
}

fn weighted_round_robin_respects_weights(d: Driver) {
    let [a, b] = failing(["a", "b"]);
    let hosts = format!("[{{ address: \"{}\", weight: 3 }}, \"{}\"]", a.addr, b.addr);
    let rw = balancing(d, 1, &hosts, "");
    let seen = who_answers(rw.addr(), 40, "");
    let on_a = seen.iter().filter(|n| *n == "a").count();
    assert_eq!(on_a, 30, "{seen:?}");
}
