//! Hot reload: SIGHUP and `POST /reload` swap in a re-read config on every
//! worker without dropping requests; a bad config is rejected and the old one
//! keeps serving. Each case runs under io_uring and epoll.

#[macro_use]
mod reload_support;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

use reload_support::*;

driver_tests!(
    route_change_takes_effect_after_sighup,
    bad_config_is_rejected_and_old_keeps_serving,
    reload_under_load_loses_no_request,
    unchanged_cluster_keeps_its_pooled_connection,
    changed_listener_address_rebinds,
    in_flight_request_survives_removal_of_its_cluster,
    admin_reload_applies_and_reports_errors,
);

fn two_cluster_config(route_to: &str, a: &Upstream, b: &Upstream) -> String {
    config(
        2,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", route_to)])],
        &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
    )
}

fn route_change_takes_effect_after_sighup(driver: &str) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let proxy = Proxy::start(driver, &two_cluster_config("a", &a, &b), 1);
    let addr = proxy.listener("main");
    assert_eq!(get(addr, "/x").body, "a");

    proxy.write_config(&two_cluster_config("b", &a, &b));
    assert!(proxy.sighup(), "stderr:\n{}", proxy.stderr());
    // Workers pick the generation up on their tick: wait for the condition.
    wait_until("every worker to route to b", || {
        (0..8).all(|_| get(addr, "/x").body == "b")
    });
    let log = proxy.stderr();
    assert!(log.contains("reload accepted"), "{log}");
}

fn bad_config_is_rejected_and_old_keeps_serving(driver: &str) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let good = two_cluster_config("a", &a, &b);
    let proxy = Proxy::start(driver, &good, 1);
    let addr = proxy.listener("main");

    // A route to a cluster that does not exist fails validation.
    proxy.write_config(&two_cluster_config("nope", &a, &b));
    assert!(!proxy.sighup(), "a bad config must be rejected");
    let log = proxy.stderr();
    assert!(log.contains("reload rejected"), "{log}");
    assert!(log.contains("nope"), "the error names the problem: {log}");
    for _ in 0..8 {
        assert_eq!(get(addr, "/x").body, "a");
    }
    // Unparseable YAML too.
    proxy.write_config("listeners: [ {");
    assert!(!proxy.sighup());
    assert_eq!(get(addr, "/x").body, "a");
    // A good one afterwards still applies.
    proxy.write_config(&two_cluster_config("b", &a, &b));
    assert!(proxy.sighup());
    wait_until("the good config", || {
        (0..8).all(|_| get(addr, "/x").body == "b")
    });
}

fn reload_under_load_loses_no_request(driver: &str) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 300;
    const RELOADS: usize = 5;
    const SEGMENT: usize = PER_THREAD / (RELOADS + 1);
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let proxy = Proxy::start(driver, &two_cluster_config("a", &a, &b), 1);
    let addr = proxy.listener("main");
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
                        Some(c) => c.get("/load"),
                        None => try_get(addr, "/load"),
                    };
                    match r {
                        Some(r) if (200..300).contains(&r.status) => {}
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
        proxy.write_config(&two_cluster_config(to, &a, &b));
        assert!(proxy.sighup(), "stderr:\n{}", proxy.stderr());
        wait_until("the reload to reach the workers", || {
            (0..8).all(|_| get(addr, "/probe").body == to)
        });
        applied.store(k, Ordering::SeqCst);
    }
    for t in load {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "lost requests: {failures:?}");
    assert_eq!(done.load(Ordering::SeqCst), THREADS * PER_THREAD);
    assert!(a.requests() > 0 && b.requests() > 0);
}

fn unchanged_cluster_keeps_its_pooled_connection(driver: &str) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    // One worker, so the pooled connection is the one every request finds.
    let first = config(
        1,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", "a")])],
        &[cluster("a", &[a.addr])],
    );
    let proxy = Proxy::start(driver, &first, 1);
    let addr = proxy.listener("main");
    assert_eq!(get(addr, "/one").body, "a");
    assert_eq!(get(addr, "/two").body, "a");
    assert_eq!(
        a.accepted(),
        1,
        "the second request reused the pooled connection"
    );

    // Add a cluster and a route; cluster a is unchanged.
    let second = config(
        1,
        false,
        &[listener("main", "127.0.0.1:0", &[("/b", "b"), ("/", "a")])],
        &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
    );
    proxy.write_config(&second);
    assert!(proxy.sighup());
    wait_until("the new route", || get(addr, "/b").body == "b");
    assert_eq!(get(addr, "/three").body, "a");
    assert_eq!(
        a.accepted(),
        1,
        "an unchanged cluster keeps its pool across a reload"
    );

    // A changed cluster (same name, new settings) is built fresh: new pool.
    let third = second.replace("connect_timeout: 2s", "connect_timeout: 3s");
    proxy.write_config(&third);
    assert!(proxy.sighup());
    wait_until("the changed cluster to open a new connection", || {
        get(addr, "/four").body == "a" && a.accepted() == 2
    });
}

fn changed_listener_address_rebinds(driver: &str) {
    let a = Upstream::start("a");
    let cfg = |moving: &str| {
        config(
            2,
            false,
            &[
                listener("stays", "127.0.0.1:0", &[("/", "a")]),
                listener("moves", moving, &[("/", "a")]),
            ],
            &[cluster("a", &[a.addr])],
        )
    };
    let proxy = Proxy::start(driver, &cfg("127.0.0.2:0"), 2);
    let stays = proxy.listener("stays");
    let old = proxy.listener("moves");
    // A keep-alive connection on the listener that stays, open across the reload.
    let mut kept = Client::connect(stays);
    assert_eq!(kept.get("/").unwrap().body, "a");
    assert_eq!(get(old, "/").body, "a");

    proxy.write_config(&cfg("127.0.0.3:0"));
    assert!(proxy.sighup(), "stderr:\n{}", proxy.stderr());
    wait_until("the moved listener to be announced", || {
        proxy.try_listener("moves").is_some_and(|a| a != old)
    });
    let new: SocketAddr = proxy.listener("moves");
    assert_eq!(new.ip().to_string(), "127.0.0.3");
    assert_eq!(get(new, "/").body, "a");
    wait_until("the old address to stop accepting", || {
        try_get(old, "/").is_none()
    });
    // The listener that stayed was never rebound: same port, same connection.
    assert_eq!(proxy.listener("stays"), stays);
    assert_eq!(
        kept.get("/").expect("kept connection still served").body,
        "a"
    );
    assert_eq!(get(stays, "/").body, "a");
}

fn in_flight_request_survives_removal_of_its_cluster(driver: &str) {
    let (a, g) = (Upstream::start("a"), Upstream::start("gated"));
    let with_g = config(
        2,
        false,
        &[listener(
            "main",
            "127.0.0.1:0",
            &[("/gated", "g"), ("/", "a")],
        )],
        &[cluster("a", &[a.addr]), cluster("g", &[g.addr])],
    );
    let proxy = Proxy::start(driver, &with_g, 1);
    let addr = proxy.listener("main");
    let in_flight = thread::spawn(move || get(addr, "/gated/slow"));
    wait_until("the request to reach the gated upstream", || g.held() == 1);

    let without_g = config(
        2,
        false,
        &[listener("main", "127.0.0.1:0", &[("/", "a")])],
        &[cluster("a", &[a.addr])],
    );
    proxy.write_config(&without_g);
    assert!(proxy.sighup());
    let log = proxy.stderr();
    assert!(log.contains("removed [g]"), "{log}");
    // Under the old routes `/g…` goes to g, which answers at once unless the
    // path starts with `/gated`; under the new ones it goes to a.
    wait_until("every worker to route /g to a", || {
        (0..8).all(|_| get(addr, "/g/probe").body == "a")
    });
    g.open_gate();
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "gated"));
}

fn admin_reload_applies_and_reports_errors(driver: &str) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let cfg = |to: &str| {
        config(
            2,
            true,
            &[listener("main", "127.0.0.1:0", &[("/", to)])],
            &[cluster("a", &[a.addr]), cluster("b", &[b.addr])],
        )
    };
    let proxy = Proxy::start(driver, &cfg("a"), 1);
    let addr = proxy.listener("main");
    let admin_addr = proxy.admin();
    assert_eq!(get(addr, "/").body, "a");

    assert_eq!(admin(admin_addr, "GET", "/reload").0, 405);
    proxy.write_config(&cfg("b"));
    let (status, body) = admin(admin_addr, "POST", "/reload");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("reloaded"), "{body}");
    wait_until("the new route", || {
        (0..8).all(|_| get(addr, "/").body == "b")
    });

    proxy.write_config(&cfg("missing"));
    let (status, body) = admin(admin_addr, "POST", "/reload");
    assert!((400..600).contains(&status), "{status} {body}");
    assert!(body.contains("missing"), "the error is reported: {body}");
    for _ in 0..8 {
        assert_eq!(get(addr, "/").body, "b");
    }
    // The admin's view follows: /config_dump shows the config in force.
    let (_, dump) = admin(admin_addr, "GET", "/config_dump");
    assert!(dump.contains("\"b\""), "{dump}");
}
