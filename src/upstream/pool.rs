//! Per-worker, per-cluster pools of idle keep-alive upstream connections.
//! LIFO per host (the most recently used connection is the warmest), capped per
//! host, closed after the cluster's idle timeout. No locks: one worker owns it.

use std::{
    collections::HashMap,
    net::SocketAddr,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use monoio::net::TcpStream;

struct IdleConn {
    stream: TcpStream,
    since: Instant,
}

pub struct UpstreamPool {
    idle: HashMap<SocketAddr, Vec<IdleConn>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl UpstreamPool {
    pub fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Self {
        UpstreamPool {
            idle: HashMap::new(),
            max_idle_per_host,
            idle_timeout,
        }
    }

    /// An idle connection to `addr` that still looks alive, if any.
    pub fn checkout(&mut self, addr: SocketAddr) -> Option<TcpStream> {
        let list = self.idle.get_mut(&addr)?;
        while let Some(conn) = list.pop() {
            if conn.since.elapsed() < self.idle_timeout && still_open(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    }

    /// Return a connection whose last response was read completely.
    pub fn checkin(&mut self, addr: SocketAddr, stream: TcpStream) {
        let list = self.idle.entry(addr).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(IdleConn {
                stream,
                since: Instant::now(),
            });
        }
    }

    /// Close connections idle for longer than the timeout.
    pub fn sweep(&mut self) {
        let timeout = self.idle_timeout;
        for list in self.idle.values_mut() {
            list.retain(|c| c.since.elapsed() < timeout);
        }
    }

    /// Close every idle connection to hosts not in `keep` (hosts that left the set).
    pub fn retain_hosts(&mut self, keep: impl Fn(&SocketAddr) -> bool) {
        self.idle.retain(|addr, _| keep(addr));
    }

    /// Idle connections per host (for the stats tick).
    pub fn idle_per_host(&self, mut f: impl FnMut(SocketAddr, usize)) {
        for (addr, list) in &self.idle {
            f(*addr, list.len());
        }
    }

    pub fn idle_count(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }
}

/// A pooled connection is reusable only if the upstream has neither closed it nor
/// sent bytes nobody asked for. One non-blocking peek tells both.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: the fd is owned by `stream` and open for the duration of the call;
    // recv writes at most 1 byte into `byte`, which outlives the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}
