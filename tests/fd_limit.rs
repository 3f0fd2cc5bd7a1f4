//! At the open-file limit: accepting pauses instead of spinning, one episode
//! logs two lines (start, and the end with its count) rather than hundreds a
//! second, and ringway serves again once descriptors free up. The real binary
//! under both io drivers, started with a low `RLIMIT_NOFILE`.

#[macro_use]
mod support;

use std::net::TcpStream;

use support::{simple_config, wait_until, Client, Driver, Ringway, Upstream};

driver_tests!(accept_pauses_at_the_fd_limit_and_recovers);

/// Descriptors for ringway: about a dozen at start, the rest for connections.
const OPEN_FILES: u64 = 32;
/// Client connections opened at once: more than the limit leaves room for.
const CLIENTS: usize = 2 * OPEN_FILES as usize;

fn accept_pauses_at_the_fd_limit_and_recovers(d: Driver) {
    let up = Upstream::echo("a");
    let rw = Ringway::launch(d, &simple_config(&[up.addr]))
        .open_files(OPEN_FILES)
        // The debug line says the episode went on past one pause.
        .env("RINGWAY_LOG", "info,ringway::worker::accept=debug")
        .start();
    let addr = rw.addr();
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    wait_until("accept to fail and pause more than once", || {
        rw.stderr().contains("accept still failing")
    });
    // Closing the clients frees ringway's descriptors: it accepts again, and
    // the episode's end is logged at an accept a quiet while after its last
    // failure (each request here is one).
    drop(clients);
    wait_until("the episode to end", || {
        let r = Client::connect(addr).get("x", "/");
        assert_eq!(r.status, 200, "{r:?}");
        rw.stderr().contains("accepting again after")
    });

    let log = rw.stop();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("accept"))
        .collect();
    // One episode: its start and its end, whatever the number of failed accepts.
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].contains("Too many open files"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("accepting again after"),
        "{}",
        warnings[1]
    );
}
