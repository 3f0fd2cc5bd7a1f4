//! Hot reload: SIGHUP and `POST /reload` swap in a re-read config on every
//! worker without dropping requests; a bad config is rejected and the old one
//! keeps serving. Each case runs under io_uring and epoll.

#[macro_use]
mod support;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

use support::*;

driver_tests!(
    route_change_takes_effect_after_sighup,
    bad_config_is_rejected_and_old_keeps_serving,
    reload_under_load_loses_no_request,
    unchanged_cluster_keeps_its_pooled_connection,
    changed_listener_address_rebinds,
    in_flight_request_survives_removal_of_its_cluster,
    admin_reload_applies_and_reports_errors,
);

/// An upstream answering 200 with its name as the body; a request for
/// `/gated…` waits until `gate` opens.
fn named(name: &str, gate: &Gate) -> Upstream {
    let (body, gate) = (name.to_string(), gate.clone());
    Upstream::start(name, move |r| {
        let reply = Reply::Bytes(ok_response(&body));
        if r.target.starts_with("/gated") {
            Reply::After(gate.clone(), Box::new(reply))
        } else {
            reply
        }
    })
}

/// Two upstreams `a` and `b` that answer at once.
fn upstreams_a_b() -> (Upstream, Upstream) {
    let never = Gate::new();
    (named("a", &never), named("b", &never))
}

/// One GET on a fresh connection; its body.
fn body_of(addr: SocketAddr, path: &str) -> String {
    get(addr, "test", path).body_str()
}

/// A listener with one `*` virtual host; `routes`: (prefix, cluster) in order.
fn listener(name: &str, addr: &str, routes: &[(&str, &str)]) -> String {
    let mut s = format!(
        "  - name: {name}\n    address: {addr}\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes:\n"
    );
    for (prefix, cluster) in routes {
        s.push_str(&format!(
            "          - match: {{ prefix: \"{prefix}\" }}\n            cluster: {cluster}\n"
        ));
    }
    s
}

/// A whole config from `listener`s and `cluster`s. `admin`: serve the admin
/// endpoint on 127.0.0.1:0.
fn reload_config(workers: usize, admin: bool, listeners: &[String], clusters: &[String]) -> String {
    let mut s = format!("workers: {workers}\ndrain_timeout: 15s\n");
    if admin {
        s.push_str("admin: { address: \"127.0.0.1:0\" }\n");
    }
    s.push_str("listeners:\n");
    for l in listeners {
        s.push_str(l);
    }
    s.push_str("clusters:\n");
    for c in clusters {
        s.push_str(c);
    }
    s
}

fn two_cluster_config(route_to: &str, a: &Upstream, b: &Upstream) -> String {
    reload_config(
        2,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", route_to)])],
        &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
    )
}

fn route_change_takes_effect_after_sighup(driver: Driver) {
    let (a, b) = upstreams_a_b();
    let rw = Ringway::start_listeners(driver, &two_cluster_config("a", &a, &b), 1);
    let addr = rw.listener("main");
    assert_eq!(body_of(addr, "/x"), "a");

    rw.write_config(&two_cluster_config("b", &a, &b));
    assert_eq!(rw.sighup(), Reload::Accepted, "stderr:\n{}", rw.stderr());
    // Workers pick the generation up on their tick: wait for the condition.
    wait_until("every worker to route to b", || {
        (0..8).all(|_| body_of(addr, "/x") == "b")
    });
    let log = rw.stderr();
    assert!(log.contains("reload accepted"), "{log}");
}

fn bad_config_is_rejected_and_old_keeps_serving(driver: Driver) {
    let (a, b) = upstreams_a_b();
    let good = two_cluster_config("a", &a, &b);
    let rw = Ringway::start_listeners(driver, &good, 1);
    let addr = rw.listener("main");

    // A route to a cluster that does not exist fails validation.
    rw.write_config(&two_cluster_config("nope", &a, &b));
    assert_eq!(
        rw.sighup(),
        Reload::Rejected,
        "a bad config must be rejected"
    );
    let log = rw.stderr();
    assert!(log.contains("reload rejected"), "{log}");
    assert!(log.contains("nope"), "the error names the problem: {log}");
    for _ in 0..8 {
        assert_eq!(body_of(addr, "/x"), "a");
    }
    // Unparseable YAML too.
    rw.write_config("listeners: [ {");
    assert_eq!(rw.sighup(), Reload::Rejected);
    assert_eq!(body_of(addr, "/x"), "a");
    // A good one afterwards still applies.
    rw.write_config(&two_cluster_config("b", &a, &b));
    assert_eq!(rw.sighup(), Reload::Accepted);
    wait_until("the good config", || {
        (0..8).all(|_| body_of(addr, "/x") == "b")
    });
}

fn reload_under_load_loses_no_request(driver: Driver) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 300;
    const RELOADS: usize = 5;
    const SEGMENT: usize = PER_THREAD / (RELOADS + 1);
    let (a, b) = upstreams_a_b();
    let rw = Ringway::start_listeners(driver, &two_cluster_config("a", &a, &b), 1);
    let addr = rw.listener("main");
    let done = Arc::new(AtomicUsize::new(0));
    // Reloads seen applied; each client waits for reload k half a segment
    // after it was triggered, so every reload lands while requests flow and
    // the load cannot finish before the reloads.
    let applied = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load: Vec<_> = (0..THREADS)
        .map(|t| {
            let (done, applied, failures) = (done.clone(), applied.clone(), failures.clone());
            thread::spawn(move || {
                // Half the clients keep one connection across reloads, half
                // open a new connection per request.
                let mut client = (t % 2 == 0).then(|| Client::connect(addr));
                for i in 0..PER_THREAD {
                    let k = i.saturating_sub(SEGMENT / 2) / SEGMENT;
                    if (1..=RELOADS).contains(&k) {
                        wait_until("reload k to apply", || applied.load(Ordering::SeqCst) >= k);
                    }
                    let r = match client.as_mut() {
                        Some(c) => c.try_get("test", "/load").map_err(|e| format!("{e:?}")),
                        None => try_request(addr, "GET", "/load", ""),
                    };
                    match r {
                        Ok(r) if (200..300).contains(&r.status) => {}
                        other => failures
                            .lock()
                            .unwrap()
                            .push(format!("thread {t} #{i}: {other:?}")),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for k in 1..=RELOADS {
        wait_until("load progress", || {
            done.load(Ordering::SeqCst) >= k * SEGMENT * THREADS
        });
        let to = if k % 2 == 1 { "b" } else { "a" };
        rw.write_config(&two_cluster_config(to, &a, &b));
        assert_eq!(rw.sighup(), Reload::Accepted, "stderr:\n{}", rw.stderr());
        wait_until("the reload to reach the workers", || {
            (0..8).all(|_| body_of(addr, "/probe") == to)
        });
        applied.store(k, Ordering::SeqCst);
    }
    for t in load {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "lost requests: {failures:?}");
    assert_eq!(done.load(Ordering::SeqCst), THREADS * PER_THREAD);
    assert!(a.request_count() > 0 && b.request_count() > 0);
}

fn unchanged_cluster_keeps_its_pooled_connection(driver: Driver) {
    let (a, b) = upstreams_a_b();
    // One worker, so the pooled connection is the one every request finds.
    let first = reload_config(
        1,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", "a")])],
        &[cluster("a", &[a.addr])],
    );
    let rw = Ringway::start_listeners(driver, &first, 1);
    let addr = rw.listener("main");
    assert_eq!(body_of(addr, "/one"), "a");
    assert_eq!(body_of(addr, "/two"), "a");
    assert_eq!(
        a.accepted(),
        1,
        "the second request reused the pooled connection"
    );

    // Add a cluster and a route; cluster a is unchanged.
    let second = reload_config(
        1,
        false,
        &[listener("main", "127.0.0.1:0", &[("/b", "b"), ("/", "a")])],
        &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
    );
    rw.write_config(&second);
    assert_eq!(rw.sighup(), Reload::Accepted);
    wait_until("the new route", || body_of(addr, "/b") == "b");
    assert_eq!(body_of(addr, "/three"), "a");
    assert_eq!(
        a.accepted(),
        1,
        "an unchanged cluster keeps its pool across a reload"
    );

    // A changed cluster (same name, new settings) is built fresh: new pool.
    let third = second.replace("connect_timeout: 2s", "connect_timeout: 3s");
    rw.write_config(&third);
    assert_eq!(rw.sighup(), Reload::Accepted);
    wait_until("the changed cluster to open a new connection", || {
        body_of(addr, "/four") == "a" && a.accepted() == 2
    });
}

fn changed_listener_address_rebinds(driver: Driver) {
    let a = named("a", &Gate::new());
    let cfg = |moving: &str| {
        reload_config(
            2,
            false,
            &[
                listener("stays", "127.0.0.1:0", &[("/", "a")]),
                listener("moves", moving, &[("/", "a")]),
            ],
            &[cluster("a", &[a.addr])],
        )
    };
    let rw = Ringway::start_listeners(driver, &cfg("127.0.0.2:0"), 2);
    let stays = rw.listener("stays");
    let old = rw.listener("moves");
    // A keep-alive connection on the listener that stays, open across the reload.
    let mut kept = Client::connect(stays);
    assert_eq!(kept.get("test", "/").body_str(), "a");
    assert_eq!(body_of(old, "/"), "a");

    rw.write_config(&cfg("127.0.0.3:0"));
    assert_eq!(rw.sighup(), Reload::Accepted, "stderr:\n{}", rw.stderr());
    wait_until("the moved listener to be announced", || {
        rw.try_listener("moves").is_some_and(|a| a != old)
    });
    let new: SocketAddr = rw.listener("moves");
    assert_eq!(new.ip().to_string(), "127.0.0.3");
    assert_eq!(body_of(new, "/"), "a");
    wait_until("the old address to stop accepting", || {
        try_request(old, "GET", "/", "").is_err()
    });
    // The listener that stayed was never rebound: same port, same connection.
    assert_eq!(rw.listener("stays"), stays);
    assert_eq!(
        kept.try_get("test", "/")
            .expect("kept connection still served")
            .body_str(),
        "a"
    );
    assert_eq!(body_of(stays, "/"), "a");
}

fn in_flight_request_survives_removal_of_its_cluster(driver: Driver) {
    let gate = Gate::new();
    let (a, g) = (named("a", &gate), named("gated", &gate));
    let with_g = reload_config(
        2,
        false,
        &[listener(
            "main",
            "127.0.0.1:0",
            &[("/gated", "g"), ("/", "a")],
        )],
        &[cluster("a", &[a.addr]), cluster("g", &[g.addr])],
    );
    let rw = Ringway::start_listeners(driver, &with_g, 1);
    let addr = rw.listener("main");
    let in_flight = thread::spawn(move || get(addr, "test", "/gated/slow"));
    // The upstream records a request before it waits at the gate.
    wait_until("the request to reach the gated upstream", || {
        g.request_count() == 1
    });

    let without_g = reload_config(
        2,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", "a")])],
        &[cluster("a", &[a.addr])],
    );
    rw.write_config(&without_g);
    assert_eq!(rw.sighup(), Reload::Accepted);
    let log = rw.stderr();
    assert!(log.contains("removed [g]"), "{log}");
    // Under the old routes `/g…` goes to g, which answers at once unless the
    // path starts with `/gated`; under the new ones it goes to a.
    wait_until("every worker to route /g to a", || {
        (0..8).all(|_| body_of(addr, "/g/probe") == "a")
    });
    gate.open();
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "gated"));
}

fn admin_reload_applies_and_reports_errors(driver: Driver) {
    let (a, b) = upstreams_a_b();
    let cfg = |to: &str| {
        reload_config(
            2,
            true,
            &[listener("main", "127.0.0.1:0", &[("/", to)])],
            &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
        )
    };
    let rw = Ringway::start_listeners(driver, &cfg("a"), 1);
    let addr = rw.listener("main");
    let admin_addr = rw.admin();
    assert_eq!(body_of(addr, "/"), "a");

    assert_eq!(admin::get(admin_addr, "/reload").status, 405);
    rw.write_config(&cfg("b"));
    let r = admin::post(admin_addr, "/reload");
    let (status, body) = (r.status, r.body_str());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("reloaded"), "{body}");
    wait_until("the new route", || {
        (0..8).all(|_| body_of(addr, "/") == "b")
    });

    rw.write_config(&cfg("missing"));
    let r = admin::post(admin_addr, "/reload");
    let (status, body) = (r.status, r.body_str());
    assert!((400..600).contains(&status), "{status} {body}");
    assert!(body.contains("missing"), "the error is reported: {body}");
    for _ in 0..8 {
        assert_eq!(body_of(addr, "/"), "b");
    }
    // The admin's view follows: /config_dump shows the config in force.
    let dump = admin::get(admin_addr, "/config_dump").body_str();
    assert!(dump.contains("\"b\""), "{dump}");
}
