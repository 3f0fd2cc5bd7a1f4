//! The `ringway` binary's own modules: what the command line needs and the
//! library does not. `main.rs` declares this tree (`mod cli;`), so nothing here
//! is part of the `ringway` library, and everything here reaches the library
//! through its public API (`ringway::…`), as any other user of it would.
//!
//! - `allocator`: the process's heap (jemalloc, returning memory after bursts).
//! - `demo`: `ringway demo`, the front-proxy story in one process (demo
//!   services, their DNS responder, the records file they follow).

mod allocator;
pub mod demo;
