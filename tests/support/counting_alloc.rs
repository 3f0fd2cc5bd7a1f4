//! For the allocation-count tests (included by path, only by them): a global
//! allocator that counts allocations (and reallocations) and otherwise is the
//! system allocator, which they install with `#[global_allocator]`; ringway
//! started in the test's own process, so its allocations are counted; the
//! count over a stretch of the test; and an upstream that allocates nothing
//! per request.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
};

use ringway::{
    config::{self, IoDriverChoice},
    server::Server,
};

pub struct Counting;

/// Allocations so far, in this process.
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method delegates to the system allocator unchanged; the counter
// is a plain atomic increment with no allocation of its own.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// ringway running in this process on a native config, under one driver.
pub struct InProcess {
    server: Server,
    /// The first listener's address.
    pub addr: SocketAddr,
}

impl InProcess {
    pub fn start(yaml: &str, driver: IoDriverChoice) -> InProcess {
        let config = config::load_str(yaml).unwrap().config;
        let server = Server::start(config, Some(driver), Arc::new(AtomicBool::new(false))).unwrap();
        let addr = server.listeners[0].1;
        InProcess { server, addr }
    }

    /// Stop it and wait for every worker to end.
    pub fn stop(self) {
        self.server.stop();
        assert!(self.server.join());
    }
}

/// The allocations the whole process made while `f` ran: nothing else may run
/// then (each test binary counts in one test, one step after another).
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[allow(dead_code)] // not every test that includes this module uses it
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

/// Index of the end of the first head in `buf[..len]`, if complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// An upstream answering every request on every connection with `RESPONSE`,
/// using only stack buffers once a connection's thread runs.
#[allow(dead_code)] // not every test that includes this module uses it
pub fn upstream() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.61:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut len = 0;
                loop {
                    while let Some(end) = head_end(&buf[..len]) {
                        if conn.write_all(RESPONSE).is_err() {
                            return;
                        }
                        buf.copy_within(end..len, 0);
                        len -= end;
                    }
                    match conn.read(&mut buf[len..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
            });
        }
    });
    addr
}
