//! A cluster as one worker sees it: its config, the newest host set it has seen,
//! its round-robin cursor and its idle connection pool. Owned by one worker.

use std::{cell::RefCell, net::SocketAddr, sync::Arc};

use monoio::net::TcpStream;

use super::{
    hosts::{HostSet, SharedHosts},
    pool::UpstreamPool,
};
use crate::{balancer::RoundRobin, config::ClusterConfig};

pub struct WorkerCluster {
    pub config: Arc<ClusterConfig>,
    shared: Arc<SharedHosts>,
    state: RefCell<State>,
}

struct State {
    version: u64,
    hosts: Arc<HostSet>,
    balancer: RoundRobin,
    pool: UpstreamPool,
}

/// The outcome of picking a host.
pub enum Pick {
    /// Only the address is handed out: cloning the shared `Host` would touch a
    /// reference count other cores also touch.
    Host(SocketAddr),
    /// Discovery has not finished its first resolution.
    NotResolved,
    NoHosts,
}

impl WorkerCluster {
    pub fn new(config: Arc<ClusterConfig>, shared: Arc<SharedHosts>, worker: usize) -> Self {
        let pool = UpstreamPool::new(config.max_idle_per_host, config.idle_timeout);
        WorkerCluster {
            state: RefCell::new(State {
                version: shared.version(),
                hosts: shared.snapshot(),
                balancer: RoundRobin::starting_at(worker),
                pool,
            }),
            config,
            shared,
        }
    }

    /// Pick the next host, taking a newer host set first if one was published.
    pub fn pick(&self) -> Pick {
        let mut st = self.state.borrow_mut();
        let version = self.shared.version();
        if version != st.version {
            let hosts = self.shared.snapshot();
            // Hosts that left the set take no new requests; their idle connections close.
            st.pool
                .retain_hosts(|addr| hosts.hosts.iter().any(|h| h.addr == *addr));
            st.hosts = hosts;
            st.version = version;
        }
        if !st.hosts.resolved {
            return Pick::NotResolved;
        }
        let len = st.hosts.hosts.len();
        match st.balancer.pick(len) {
            Some(i) => Pick::Host(st.hosts.hosts[i].addr),
            None => Pick::NoHosts,
        }
    }

    pub fn checkout(&self, addr: SocketAddr) -> Option<TcpStream> {
        self.state.borrow_mut().pool.checkout(addr)
    }

    pub fn checkin(&self, addr: SocketAddr, stream: TcpStream) {
        let mut st = self.state.borrow_mut();
        // Only hosts still in the set get their connection back.
        if st.hosts.hosts.iter().any(|h| h.addr == addr) {
            st.pool.checkin(addr, stream);
        }
    }

    pub fn sweep(&self) {
        self.state.borrow_mut().pool.sweep();
    }

    /// Idle pooled connections per host (for the stats tick).
    pub fn idle_per_host(&self, f: impl FnMut(SocketAddr, usize)) {
        self.state.borrow().pool.idle_per_host(f);
    }

    pub fn idle_connections(&self) -> usize {
        self.state.borrow().pool.idle_count()
    }
}
