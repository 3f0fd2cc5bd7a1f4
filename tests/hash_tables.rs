//! Ring-hash and Maglev tables are built off the workers: a huge ring being
//! built for a new host set never stalls a worker's loop. See
//! `src/balancer/table.rs` for the design.
//!
//! One driver only: what is tested is which thread builds, not how the worker
//! does IO, and each case builds a ring of millions of points.

#[macro_use]
mod support;

use support::{
    admin,
    dns::{ip, DnsCase},
    try_request, wait_until, Driver, Gate,
};

const NAME: &str = "big.test";
/// Each address of the big cluster's name carries this weight, so that a few
/// addresses make a ring of millions of points (160 per unit of weight): one
/// that takes seconds to build in a debug build.
const WEIGHT: u32 = 1000;
/// Addresses the name grows to: 13 × 1000 × 160 ≈ 2.1M points.
const GROWN: usize = 13;

/// Lines of ringway's log so far that contain `what`.
fn logged(proxy: &support::Ringway, what: &str) -> usize {
    proxy.stderr().matches(what).count()
}

#[test]
fn a_request_is_answered_while_a_huge_ring_is_built() {
    let mut case = DnsCase::new(&["127.0.0.2"], &Gate::new());
    case.dns.answer(NAME, &[ip("127.0.0.2")], 1);
    let big = case.host(NAME);
    // The case's one cluster, `svc`, becomes the big ring-hash cluster; a
    // second, static cluster `small` is reached under /small.
    let cfg = case
        .config(&[], "    lb_policy: ring_hash\n    hash_policy: [{ header: x-user }]\n")
        .replace(
            "hosts: []",
            &format!("hosts: [{{ address: \"{big}\", weight: {WEIGHT} }}]"),
        )
        .replace(
            "          - match: { prefix: / }\n",
            "          - match: { prefix: /small }\n            cluster: small\n          - match: { prefix: / }\n",
        )
        + &format!("  - name: small\n    hosts: [\"127.0.0.2:{}\"]\n", case.port);
    let cfg = cfg.replacen(
        "workers: 1",
        "workers: 1\nadmin: { address: \"127.0.0.1:0\" }",
        1,
    );
    let proxy = case.start(Driver::Uring, &cfg);
    let get =
        |path: &str| try_request(proxy.addr(), "GET", path, "x-user: u1\r\n").map(|r| r.status);
    wait_until("the big cluster to resolve", || get("/") == Ok(200));
    assert_eq!(get("/small"), Ok(200));
    let rss_one = proxy.proc_status_kib("VmRSS");

    let grown: Vec<_> = (2..2 + GROWN)
        .map(|i| ip(&format!("127.0.0.{i}")))
        .collect();
    case.dns.answer(NAME, &grown, 1);
    // The resolver has the new answer and is building its ring...
    wait_until("the second ring build to start", || {
        logged(&proxy, "hash table: building") >= 2
    });
    // ...while the one worker answers both clusters, the big one from the
    // table it already has...
    assert_eq!(get("/small"), Ok(200));
    assert_eq!(get("/"), Ok(200));
    // ...and only then does the build end: the requests were answered during it.
    assert_eq!(
        logged(&proxy, "hash table: built"),
        1,
        "the ring was built before the requests were answered; not a test of a stall"
    );
    wait_until("the new set to be published", || {
        admin::clusters(proxy.admin())
            .keys()
            .filter(|k| k.starts_with("svc::") && k.ends_with("::weight"))
            .count()
            == GROWN
    });
    assert!(get("/").is_ok());
    eprintln!(
        "VmRSS with the 1-host ring: {rss_one} KiB; with the {GROWN}-host ring: {} KiB",
        proxy.proc_status_kib("VmRSS")
    );
}
