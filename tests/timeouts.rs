//! Connection lifetime limits through the real binary: `max_connection_duration`
//! closes a busy connection after its current response and an idle one at once;
//! `idle_timeout` closes an idle one. Waits are conditions with deadlines.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    max_connection_duration_closes_after_a_response,
    max_connection_duration_closes_an_idle_connection,
    idle_timeout_closes_an_idle_connection,
);

fn listener_with(extra: &str, up: &Upstream) -> String {
    config(extra, &catch_all("c", ""), &cluster("c", &[up.addr]))
}

fn max_connection_duration_closes_after_a_response(driver: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(
        driver,
        &listener_with("    max_connection_duration: 300ms\n", &up),
    );
    let mut c = Client::connect(rw.addr());
    // Keep using the connection until ringway ends it: with `connection: close`
    // on a response, or by closing it in the instant it sat idle between two
    // requests (which a keep-alive client must always expect).
    let mut served = 0;
    wait_until("ringway to end the connection", || {
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        match c.try_read_response(false) {
            Ok(r) => {
                assert_eq!(r.status, 200);
                served += 1;
                if r.has_token("connection", "close") {
                    c.expect_closed();
                    return true;
                }
                false
            }
            Err(_) => true,
        }
    });
    assert!(served >= 1, "the connection served requests before its end");
    // A new connection is served as usual.
    assert_eq!(Client::connect(rw.addr()).get("a", "/").status, 200);
}

fn max_connection_duration_closes_an_idle_connection(driver: Driver) {
    let up = Upstream::echo("up");
    // A long idle timeout: only the lifetime limit can close the connection.
    let rw = Ringway::start(
        driver,
        &listener_with(
            "    idle_timeout: 1h\n    max_connection_duration: 300ms\n",
            &up,
        ),
    );
    let mut c = Client::connect(rw.addr());
    let r = c.get("a", "/");
    assert_eq!(r.status, 200);
    assert!(
        !r.has_token("connection", "close"),
        "young connections stay open"
    );
    wait_until("the idle connection to be closed", || c.is_closed());
}

fn idle_timeout_closes_an_idle_connection(driver: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(driver, &listener_with("    idle_timeout: 300ms\n", &up));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("a", "/").status, 200);
    wait_until("the idle connection to be closed", || c.is_closed());
}
