//! Per-worker, per-cluster pools of idle keep-alive upstream connections.
//! LIFO per host (the most recently used connection is the warmest), capped per
//! host, closed after the cluster's idle timeout. No locks: one worker owns it.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    net::SocketAddr,
    time::{Duration, Instant},
};

use super::connect::UpstreamConn;

/// Idle connections older than this are probed before reuse. Upstreams close
/// idle connections after seconds, not milliseconds; probing every checkout
/// would add a syscall to every request.
const PROBE_AFTER: Duration = Duration::from_millis(250);

struct IdleConn {
    stream: UpstreamConn,
    since: Instant,
    /// Its last response was bodiless by rule (HEAD, 204, 304) yet declared a
    /// body: if the upstream sends that body after all, it must not become the
    /// next request's response. Always probed before reuse.
    suspect: bool,
}

/// What a request can bear from a pooled connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// It can be sent again if the connection turns out closed: a connection
    /// parked a moment ago is taken on trust.
    Replayable,
    /// It cannot be sent twice, so it must not meet a connection the upstream
    /// already closed: every connection is probed first, whatever its age.
    ProbeFirst,
}

/// The pool's map hasher: FxHash (rustc's; a rotate, xor and multiply per
/// word) with rustc-hash 2's final rotate, which brings the high bits, where
/// the multiply leaves the key's entropy, down to the bucket index. The keys are
/// upstream addresses, from the config and DNS, never chosen by a client, so
/// std's keyed SipHash (a defence against chosen colliding keys) buys nothing
/// here; it cost about 230 instructions per lookup, and a proxied request makes
/// three (`has_idle`, `checkout`, `checkin`).
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl AddrHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.add(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }
    fn write_u16(&mut self, n: u16) {
        self.add(n.into());
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

pub struct UpstreamPool {
    idle: HashMap<SocketAddr, Vec<IdleConn>, BuildHasherDefault<AddrHasher>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

impl UpstreamPool {
    pub fn new(max_idle_per_host: usize, idle_timeout: Duration) -> Self {
        UpstreamPool {
            idle: HashMap::default(),
            max_idle_per_host,
            idle_timeout,
        }
    }

    /// An idle connection to `addr` that still looks alive at `now` (the
    /// request's moment, read once for it), if any.
    pub fn checkout(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        how: Checkout,
    ) -> Option<UpstreamConn> {
        let list = self.idle.get_mut(&addr)?;
        while let Some(conn) = list.pop() {
            let idle = now.saturating_duration_since(conn.since);
            if idle >= self.idle_timeout {
                continue;
            }
            // A connection parked a moment ago is taken on trust (an idempotent
            // request that meets a close is replayed); older ones are probed.
            let trusted = idle < PROBE_AFTER && how == Checkout::Replayable && !conn.suspect;
            if trusted || still_open(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    }

    /// Return a connection whose last response was read completely, at `now`.
    pub fn checkin(&mut self, addr: SocketAddr, stream: UpstreamConn, suspect: bool, now: Instant) {
        let list = self.idle.entry(addr).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(IdleConn {
                stream,
                since: now,
                suspect,
            });
        }
    }

    /// Close connections idle for longer than the timeout.
    pub fn sweep(&mut self) {
        self.close_unused(Instant::now(), self.idle_timeout);
    }

    /// Close the idle connections parked for at least `unused` at `now`
    /// (LIFO: those the load has not needed since): handed back when another
    /// worker queues requests for want of them. Returns how many were closed.
    pub fn close_unused(&mut self, now: Instant, unused: Duration) -> usize {
        let before = self.idle_count();
        for list in self.idle.values_mut() {
            list.retain(|c| now.saturating_duration_since(c.since) < unused);
        }
        before - self.idle_count()
    }

    /// Close every idle connection to hosts not in `keep` (hosts that left the set).
    pub fn retain_hosts(&mut self, keep: impl Fn(&SocketAddr) -> bool) {
        self.idle.retain(|addr, _| keep(addr));
    }

    /// Whether an idle connection to `addr` is parked (it may still fail its probe).
    pub fn has_idle(&self, addr: SocketAddr) -> bool {
        self.idle.get(&addr).is_some_and(|l| !l.is_empty())
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
fn still_open(conn: &UpstreamConn) -> bool {
    conn.tcp()
        .is_some_and(|stream| crate::net::meter::peek(stream) == crate::net::meter::Peeked::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::net::TcpStream;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    /// Addresses that differ only in the last octet or the port (a cluster's
    /// usual hosts) spread over the bucket index (the hash's low bits).
    #[test]
    fn addr_hasher_spreads_similar_addresses() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<AddrHasher>::default();
        let mut buckets = std::collections::HashSet::new();
        for last in 0..64u8 {
            let v4: SocketAddr = (std::net::Ipv4Addr::new(10, 0, 0, last), 8080).into();
            buckets.insert(build.hash_one(v4) & 63);
        }
        for port in 8000..8064u16 {
            let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, port).into();
            buckets.insert(build.hash_one(v6) & 63 | 64);
        }
        // Random placement fills about 40 of 64 per family; a hash whose low bits
        // ignore the address would fill one or two.
        assert!(buckets.len() > 60, "{} of 128 buckets", buckets.len());
    }

    #[test]
    fn lifo_cap_and_dead_connection_probe() {
        runtime().block_on(async {
            let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            let mut pool = UpstreamPool::new(2, Duration::from_secs(60));
            let mut peers = Vec::new();
            let mut fds = Vec::new();
            for _ in 0..3 {
                let s = TcpStream::connect_addr(addr).await.unwrap();
                peers.push(server.accept().unwrap().0);
                fds.push(s.as_raw_fd());
                pool.checkin(addr, UpstreamConn::Plain(s.into()), false, Instant::now());
            }
            // The cap keeps two; the newest comes out first.
            assert_eq!(pool.idle_count(), 2);
            let newest = pool
                .checkout(addr, Instant::now(), Checkout::Replayable)
                .unwrap();
            assert_eq!(newest.tcp().unwrap().as_raw_fd(), fds[1]);
            pool.checkin(addr, newest, false, Instant::now());

            // The upstream closes one; once it is old enough to be probed, it is skipped
            // (once loopback has delivered the FIN: under load that can take a moment).
            drop(peers.remove(1));
            // "Old enough" counts from each checkin: a fixed instant would let a slow
            // run re-park a connection inside the trust window.
            let later = || Instant::now() + PROBE_AFTER + Duration::from_millis(1);
            let deadline = Instant::now() + Duration::from_secs(10);
            let got = loop {
                let got = pool.checkout(addr, later(), Checkout::Replayable).unwrap();
                if got.tcp().unwrap().as_raw_fd() == fds[0] {
                    break got;
                }
                assert!(
                    Instant::now() < deadline,
                    "a closed connection kept being handed out"
                );
                pool.checkin(addr, got, false, Instant::now());
                std::thread::yield_now();
            };
            // Unexpected bytes from the upstream also disqualify a connection, once
            // loopback has delivered them (under load that can take a moment).
            pool.checkin(addr, got, false, Instant::now());
            peers[0].write_all(b"junk").unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Some(conn) = pool.checkout(addr, later(), Checkout::Replayable) {
                assert!(
                    Instant::now() < deadline,
                    "a dirty connection kept being handed out"
                );
                pool.checkin(addr, conn, false, Instant::now());
                std::thread::yield_now();
            }
            assert_eq!(pool.idle_count(), 0);

            // Past the idle timeout nothing is handed out.
            let s = TcpStream::connect_addr(addr).await.unwrap();
            peers.push(server.accept().unwrap().0);
            pool.checkin(addr, UpstreamConn::Plain(s.into()), false, Instant::now());
            assert!(pool
                .checkout(
                    addr,
                    Instant::now() + Duration::from_secs(61),
                    Checkout::Replayable
                )
                .is_none());
        });
    }

    /// Given back to a starved worker: only the connections parked the whole
    /// interval, not the ones the load just used.
    #[test]
    fn close_unused_takes_only_what_sat_the_whole_interval() {
        runtime().block_on(async {
            let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            let mut pool = UpstreamPool::new(8, Duration::from_secs(60));
            let mut peers = Vec::new();
            let t0 = Instant::now();
            let second = Duration::from_secs(1);
            for parked in [t0, t0, t0 + 2 * second] {
                let s = TcpStream::connect_addr(addr).await.unwrap();
                peers.push(server.accept().unwrap().0);
                pool.checkin(addr, UpstreamConn::Plain(s.into()), false, parked);
            }
            assert_eq!(pool.close_unused(t0 + second / 2, second), 0);
            assert_eq!(pool.close_unused(t0 + 2 * second + second / 2, second), 2);
            assert_eq!(pool.idle_count(), 1);
        });
    }
}
