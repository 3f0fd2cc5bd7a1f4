//! The binary's heap: jemalloc, configured to give memory back.
//!
//! Steady-state HTTP/1.1 proxying allocates nothing, so the allocator matters
//! for bursts: thousands of connections with partial heads or held bodies, each
//! owning a read buffer, then gone. glibc's malloc kept all of it (109 MB over a
//! 20 MB start after the bursts in `bench/burst_rss.py`, never returned);
//! mimalloc returned part and doubled the peak; jemalloc with a background purge
//! thread and a one-second decay came back within 11 MB of the start a second
//! after each burst, with the lowest peaks of the three (bench/RESULTS-memory.md).
//!
//! The background thread is jemalloc's, not ours: it only returns free pages to
//! the kernel, off the workers' loops. `_RJEM_MALLOC_CONF` in the environment
//! still overrides these settings (jemalloc reads it after this symbol).

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's compiled-in options (`malloc_conf`, prefixed `_rjem_` by
/// tikv-jemalloc-sys): purge dirty pages after 1 s, skip the "muzzy" stage (so
/// purged pages leave RSS), and let a background thread do it even when every
/// worker is idle.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
