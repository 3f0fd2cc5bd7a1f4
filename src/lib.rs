//! ringway: a thread-per-core HTTP/1.1 and HTTP/2 reverse proxy on io_uring, with TLS.
//!
//! ```text
//!             ┌──────────── one worker thread per core (pinned, own monoio runtime) ─────────────┐
//!  client ──► │ accept ─► [handshake: TLS] ─► h1 (connection) ─► exchange ─► attempt ─► upstream │
//!             │ (SO_REUSEPORT)  (rustls)       (codec::request)   (router,    (pool or   (TCP or  │
//!  client ◄── │                                                   balancer,   connect)   TLS)    │
//!             │        ◄── h1 (response framing) ◄── relay (codec::body) ◄── retry ◄──           │
//!             └───────────────────────────────────────────────────────────────────────────────────┘
//!  shared, read-only: config generations (swapped by reloads), host sets
//!  (published by discovery, with their ring/Maglev tables) and rustls configs,
//!  all read lock-free
//! ```
//!
//! `worker::h1` drives one HTTP/1.1 connection and `worker::h2` one HTTP/2
//! connection (chosen by the preface or ALPN); upstream, `upstream::h2` keeps
//! each worker's HTTP/2 connections and hands out their streams as another kind
//! of `UpstreamConn`, so the exchange is the same for either upstream protocol;
//! `worker::exchange` serves each
//! request or stream through a `Downstream` (the client side, whatever its protocol), and
//! every answer ringway gives itself is a `worker::local_reply::LocalReply`.
//!
//! Layers, bottom to top; a module imports only from layers below it
//! (`.ci/module-graph.py` checks that the top-level graph has no cycle):
//!
//! 1. Leaves: `codec` (sans-IO HTTP/1.1, with its `RequestLimits`), `net`
//!    (binding sockets, the io driver kind), `metric` (counter, gauge and
//!    histogram cells), `prim` (the versioned publish cell, the RNG, the
//!    lifecycle flags).
//! 2. `access_log` (formats, filters and sinks), `tls` (certificates and rustls configs,
//!    built at config load, shared read-only by every worker), then `config`
//!    (the validated model).
//! 3. The data path's parts: `router`, `balancer`, `stats` (per-core count
//!    storage), `upstream` (clusters per worker, pools, host sets, health).
//! 4. `generation`: the published snapshot of a config and its shared pieces.
//! 5. Readers of generations: `worker` (the data path itself, one per core,
//!    with its `tap` into stats and access logs), and the helper threads
//!    `discovery` (DNS) and `checker` (active health checks).
//! 6. The control plane: `server` (start-up, building generations, reload,
//!    signals), then `admin` (its own thread).
//!
//! `ringway demo` lives with the binary (`src/cli/`), not in the library.

pub mod access_log;
pub mod admin;
pub mod balancer;
pub mod checker;
pub mod codec;
pub mod config;
pub mod discovery;
pub mod generation;
pub mod metric;
pub mod net;
pub mod prim;
pub mod router;
pub mod server;
pub mod stats;
pub mod tls;
pub mod upstream;
pub mod worker;
