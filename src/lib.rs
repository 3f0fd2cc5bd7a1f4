//! ringway: a thread-per-core HTTP/1.1 reverse proxy on io_uring.
//!
//! ```text
//!             ┌──────────── one worker thread per core (pinned, own monoio runtime) ───────────┐
//!  client ──► │ listener ─► codec::request ─► router ─► balancer ─► upstream::pool ─► upstream │
//!             │ (SO_REUSEPORT)  (httparse,     (vhost +    (round     (keep-alive     connect  │
//!  client ◄── │                  RFC 9112)      trie)       robin)      per host)              │
//!             │        ◄── codec::response ◄── codec::body (stream, re-frame) ◄──              │
//!             └─────────────────────────────────────────────────────────────────────────────────┘
//!  shared, read-only: config generations (swapped by reloads) and host sets
//!  (published by discovery), both read lock-free
//! ```
//!
//! `worker::session` drives one connection through these stages.
//!
//! Beside the data path: `stats` (per-core counters, summed when read),
//! `access_log` (per-core batched lines), `admin` (its own thread) and `tls`
//! (rustls configs built at config load, shared read-only by every worker).

pub mod access_log;
pub mod admin;
pub mod balancer;
pub mod codec;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod generation;
pub mod router;
pub mod server;
pub mod stats;
pub mod tls;
pub mod upstream;
pub mod worker;
