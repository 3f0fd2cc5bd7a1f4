//! The one harness for the integration tests: the real `ringway` binary
//! started on ephemeral ports with its config written into a fresh temp dir,
//! which a test may rewrite and reload by SIGHUP (`process`), scripted upstream servers on 127.0.0.2… that record exactly
//! what they received or fail on command (`upstream`), a raw HTTP/1.1 client
//! that can send any bytes and read one response at a time (`client`), the
//! admin endpoint's read helpers — `/stats`, `/clusters`, Prometheus
//! (`admin`), an HTTP/2-only upstream on the `h2` crate (`h2_upstream`) and
//! the HTTP/2 client side (`h2_client`), a
//! hickory-proto DNS responder whose answers a test changes
//! while ringway runs (`dns`), the configs the resilience tests share
//! (`resilience`) and Envoy v3 files built from their parts (`envoy`).
//!
//! Nothing here sleeps to synchronise: every wait is on a condition with a
//! deadline (`wait_until`, `wait_for`). Everything binds port 0, so tests run
//! in parallel. A `Ringway` kills its child by PID when dropped.
//!
//! Each test binary compiles this whole module (`mod support;`) and uses a
//! different part of it, hence `allow(dead_code)`.

#![allow(dead_code)]

pub mod admin;
mod client;
pub mod dns;
pub mod envoy;
pub mod h2_client;
pub mod h2_upstream;
mod process;
pub mod resilience;
pub mod tls;
mod upstream;

pub use client::*;
pub use process::*;
pub use upstream::*;

use std::{
    thread,
    time::{Duration, Instant},
};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Generate one `#[test]` per io driver for each case fn `name(driver: Driver)`:
/// `name::uring` and `name::epoll`. Attributes (e.g. `#[ignore = "…"]`) apply to both.
#[allow(unused_macros)] // A test that loops over `Driver::ALL` itself has no use for it.
macro_rules! driver_tests {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                $(#[$meta])*
                #[test]
                fn uring() {
                    super::$name(crate::support::Driver::Uring)
                }
                $(#[$meta])*
                #[test]
                fn epoll() {
                    super::$name(crate::support::Driver::Epoll)
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Uring,
    Epoll,
}

impl Driver {
    /// Both drivers, for a test that runs one case after the other in itself.
    pub const ALL: [Driver; 2] = [Driver::Uring, Driver::Epoll];

    pub fn flag(self) -> &'static str {
        match self {
            Driver::Uring => "uring",
            Driver::Epoll => "epoll",
        }
    }
    /// The name ringway logs for the driver a worker runs.
    pub fn log_name(self) -> &'static str {
        match self {
            Driver::Uring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// Poll `cond` every few milliseconds until it holds; panic with `what` at the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(what, || cond().then_some(()))
}

/// Poll `cond` until it returns `Some`, and return that; panic with `what` at
/// the deadline.
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        // A poll interval, not synchronisation: the condition decides.
        thread::sleep(Duration::from_millis(5));
    }
}

/// The first value of header `name` (any case) in `headers`.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    find_headers(headers, name).into_iter().next()
}

/// Every value of header `name` (any case) in `headers`, in order.
fn find_headers<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}
