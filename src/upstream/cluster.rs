//! A cluster as one worker sees it: its config, the newest host set and health
//! verdicts it has seen, its balancer, its circuit-breaker counts, per-host
//! in-flight and failure counts, and its idle connection pool. Owned by one
//! worker; nothing here is shared except the read-mostly `SharedHosts` and
//! `ClusterHealth` (see `health.rs` for the one rare write: an ejection).
//!
//! A request enters with `begin_request`, which applies the circuit breakers,
//! picks a host and returns a `RequestGuard`. The guard counts the request as in
//! flight until it is dropped, and on drop feeds its outcome to outlier
//! detection. A retry first takes a `RetrySlot` (`try_retry`, the
//! `max_retries` breaker), held until the retried request ends.
//!
//! Counting is not done here: the session reports admissions and overflows to
//! the per-core stats blocks (`worker/tap.rs`), and ejections are counted in the
//! shared ejection table (`health.rs`), so each count has one home. What lives
//! here is where the per-host counters hang: each member carries its host's
//! `HostStats`, which the tap takes from the cluster (`host_stats`).

use std::{
    cell::{Cell, RefCell},
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    connect::{connect, UpstreamConn},
    UpstreamError,
};

use super::{
    breaker::Resource,
    h2::H2Pool,
    health::{ClusterHealth, EjectionSlot, HealthSnapshot},
    hosts::{HostSet, SharedHosts},
    pool::UpstreamPool,
};
use crate::prim::{wait_list::Ticket, WaitList};
use crate::{
    balancer::{hash, Balancer, Candidate, HashTable},
    codec::headers::HeaderIndex,
    config::{CircuitBreakers, ClusterConfig, HashPolicy, UpstreamProtocol},
    stats::{
        names::{ClusterGauge, HostGauge},
        ClusterStats, HostStats, UpstreamSocketCounts,
    },
};

pub struct WorkerCluster {
    pub config: Arc<ClusterConfig>,
    shared: Arc<SharedHosts>,
    health: Arc<ClusterHealth>,
    /// This worker's stats block for the cluster's slot: where members find
    /// (and publish) their per-host counters when membership changes.
    stats: Arc<ClusterStats>,
    /// This worker's share of the cluster's circuit-breaker thresholds.
    limits: CircuitBreakers,
    worker: usize,
    workers: usize,
    state: RefCell<State>,
    /// Requests queued by the connection breaker (`Admission::Queued`), one
    /// woken as each request ends.
    freed: WaitList,
    /// The last response relayed whole did not fit a regular read buffer
    /// (`expects_large_response`).
    large_responses: Cell<bool>,
}

struct State {
    hosts_version: u64,
    health_version: u64,
    hosts: Arc<HostSet>,
    /// The hash table published with `hosts` (ring_hash, maglev), shared.
    table: Option<Arc<HashTable>>,
    health: Arc<HealthSnapshot>,
    /// Every host that may take requests: the host set plus hosts pending removal.
    members: Vec<Member>,
    /// Bumped whenever `members` is rebuilt: guards from before find their host by address.
    generation: u64,
    /// The member `begin_request` admitted last: the one the tap asks about next.
    last_admitted: usize,
    /// Members eligible now (healthy, not ejected), or all of them in panic mode.
    candidates: Vec<Candidate>,
    candidate_member: Vec<u32>,
    balancer: Balancer,
    /// Requests in flight on this worker, and those of them opening a connection.
    active: u32,
    pending: u32,
    /// Retries in flight on this worker (the `max_retries` breaker).
    retries: u32,
    /// A request was queued by the connection breaker since the last sweep
    /// (published as this worker's `starved` on the breaker board).
    queued_since_sweep: bool,
    /// The earliest moment (health clock, ms) an ejected member comes back.
    next_unejection: Option<u64>,
    last_outlier_check: Instant,
    pool: UpstreamPool,
    /// HTTP/2 connections (`protocol: http2`, or `auto` where ALPN chose h2).
    h2: H2Pool,
}

struct Member {
    addr: SocketAddr,
    /// The name the host was discovered under (`auto_host_rewrite`).
    hostname: Arc<str>,
    weight: u32,
    active: u32,
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    slot: Option<Arc<EjectionSlot>>,
    /// This host's counters on this worker (what `/clusters` shows per host).
    stats: Arc<HostStats>,
}

/// A connection for one request from `WorkerCluster::connect`.
pub struct Connected {
    pub conn: UpstreamConn,
    /// A new connection was opened for it (else it shares one that another
    /// request opened meanwhile).
    pub opened: bool,
}

/// What `begin_request` decided.
pub enum Admission<'a> {
    Admitted(RequestGuard<'a>),
    /// No host at all (or DNS has not answered yet): 503 `no healthy upstream`.
    NoHealthyUpstream,
    /// A circuit breaker is open: 503 at once with `x-ringway-overloaded: true`.
    Overloaded(Overflow),
    /// The connection breaker (`max_connections`) is reached while this
    /// worker has requests in flight to the host picked: the request waits,
    /// counted as pending, for one of them to end and free its connection,
    /// then asks again. This is Envoy's behaviour (the host's pool queues it,
    /// counting `upstream_cx_overflow`); only `max_pending_requests` turns
    /// it into a 503.
    Queued(Queued<'a>),
}

/// A request the connection breaker queued. Holds its place in the pending
/// count (`max_pending_requests`) until dropped.
pub struct Queued<'a> {
    cluster: &'a WorkerCluster,
    /// Its place among the worker's queued requests of this cluster.
    ticket: Ticket,
}

impl Queued<'_> {
    /// Until a request of this cluster's ends on this worker with this one
    /// first in line (one ending wakes one queued request); then the request
    /// asks `begin_request` again.
    pub async fn freed(&self) {
        self.cluster.freed.turn(&self.ticket).await
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.cluster.freed.cancel(&self.ticket);
        let mut st = self.cluster.state.borrow_mut();
        st.pending = st.pending.saturating_sub(1);
        self.cluster.pending_now(st.pending);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// `max_requests`.
    Requests,
    /// `max_pending_requests`: too many requests waiting for a connection
    /// (opening one, or queued by `max_connections`, which never answers by
    /// itself: see `Admission::Queued`).
    Pending,
}

/// What a request is hashed on (ring_hash, maglev): the parsed head and the peer.
pub struct HashInput<'a> {
    pub buf: &'a [u8],
    pub headers: &'a [HeaderIndex],
    pub peer: IpAddr,
}

/// A retry admitted by the `max_retries` breaker; counts as in flight until
/// dropped.
pub struct RetrySlot<'a> {
    cluster: &'a WorkerCluster,
}

impl Drop for RetrySlot<'_> {
    fn drop(&mut self) {
        let mut st = self.cluster.state.borrow_mut();
        st.retries = st.retries.saturating_sub(1);
        self.cluster.publish(Resource::Retries, st.retries);
    }
}

/// How a request ended, for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No response head: connect failure, reset, timeout, unframeable response.
    LocalFailure,
    Status(u16),
    /// The client failed; says nothing about the upstream.
    NotUpstream,
}

/// One admitted request. Holds its place in the breaker and least-request
/// counts until dropped.
pub struct RequestGuard<'a> {
    cluster: &'a WorkerCluster,
    addr: SocketAddr,
    member: usize,
    generation: u64,
    pending: Cell<bool>,
    outcome: Cell<Outcome>,
    over_connection_limit: bool,
}

impl RequestGuard<'_> {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Admitted past the connection breaker: the host had no connection and
    /// no request in flight on this worker, so one is opened anyway (as
    /// Envoy does, lest the request wait for a connection that never comes);
    /// it still counts as `upstream_cx_overflow`.
    pub fn over_connection_limit(&self) -> bool {
        self.over_connection_limit
    }

    /// Append the DNS name the host was discovered under to `out` (Envoy's
    /// `auto_host_rewrite`); false, writing nothing, for a static cluster,
    /// whose hosts have no name but their address.
    pub fn write_hostname(&self, out: &mut Vec<u8>) -> bool {
        if self.cluster.config.kind == crate::config::ClusterKind::Static {
            return false;
        }
        let st = self.cluster.state.borrow();
        let m = if self.generation == st.generation {
            Some(self.member)
        } else {
            st.members.iter().position(|m| m.addr == self.addr)
        };
        match m.and_then(|m| st.members.get(m)) {
            Some(member) => {
                out.extend_from_slice(member.hostname.as_bytes());
                true
            }
            None => false,
        }
    }

    /// The upstream answered with `status` (a response head arrived).
    pub fn response(&self, status: u16) {
        self.outcome.set(Outcome::Status(status));
    }

    /// The request failed on the client's side (its body, its connection).
    pub fn client_fault(&self) {
        self.outcome.set(Outcome::NotUpstream);
    }

    /// Waiting for a connection (one is being opened for it)?
    pub fn is_pending(&self) -> bool {
        self.pending.get()
    }

    /// The request has its connection: it is pending no more.
    pub fn connected(&self) {
        if self.pending.replace(false) {
            let mut st = self.cluster.state.borrow_mut();
            st.pending = st.pending.saturating_sub(1);
            self.cluster.pending_now(st.pending);
        }
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        self.connected();
        self.cluster
            .finish(self.addr, self.member, self.generation, self.outcome.get());
    }
}

impl WorkerCluster {
    pub fn new(
        config: Arc<ClusterConfig>,
        shared: Arc<SharedHosts>,
        health: Arc<ClusterHealth>,
        stats: Arc<ClusterStats>,
        worker: usize,
        workers: usize,
        seed: u64,
    ) -> Self {
        let pool = UpstreamPool::new(config.max_idle_per_host, config.idle_timeout);
        let h2 = H2Pool::new(
            config.http2,
            config.max_requests_per_connection,
            config.idle_timeout,
        );
        let cluster = WorkerCluster {
            limits: config.circuit_breakers.per_worker(workers),
            worker,
            workers,
            freed: WaitList::default(),
            large_responses: Cell::new(false),
            state: RefCell::new(State {
                hosts_version: 0,
                health_version: 0,
                hosts: Arc::new(HostSet::default()),
                table: None,
                health: Arc::new(HealthSnapshot::default()),
                members: Vec::new(),
                generation: 0,
                last_admitted: 0,
                candidates: Vec::new(),
                candidate_member: Vec::new(),
                balancer: Balancer::new(config.lb_policy, worker, seed),
                active: 0,
                pending: 0,
                retries: 0,
                queued_since_sweep: false,
                next_unejection: None,
                last_outlier_check: Instant::now(),
                pool,
                h2,
            }),
            config,
            shared,
            health,
            stats,
        };
        cluster.refresh(&mut cluster.state.borrow_mut());
        cluster
    }

    /// This worker's share of the circuit-breaker thresholds.
    pub fn limits(&self) -> CircuitBreakers {
        self.limits
    }

    /// Apply the circuit breakers and pick a host, taking a newer host set or
    /// newer health verdicts first if any were published.
    pub fn begin_request(&self, input: &HashInput<'_>) -> Admission<'_> {
        let mut st = self.state.borrow_mut();
        self.refresh(&mut st);
        if !st.hosts.resolved || st.members.is_empty() {
            return Admission::NoHealthyUpstream;
        }
        let totals = self.config.circuit_breakers;
        if st.active >= self.limits.max_requests
            && !self.headroom(Resource::Requests, totals.max_requests)
        {
            return Admission::Overloaded(Overflow::Requests);
        }
        let key = if self.config.lb_policy.uses_hash() {
            hash_key(&self.config.hash_policy, input)
        } else {
            None
        };
        let st = &mut *st;
        let (members, candidate_member) = (&st.members, &st.candidate_member);
        let picked = st.balancer.pick(st.candidates.len(), key, |i| {
            members[candidate_member[i] as usize].active
        });
        let Some(c) = picked else {
            return Admission::NoHealthyUpstream;
        };
        let m = st.candidate_member[c] as usize;
        let addr = st.members[m].addr;
        // Without an idle connection (or an HTTP/2 one with room) this request
        // opens one: that is what the connection and pending limits bound. A
        // pending request is one that is connecting, or one queued because
        // the connection limit is reached (it waits for a request on this
        // host to free one). An HTTP/2 cluster's requests share connections,
        // so there `max_requests` bounds them, not `max_connections` (as in
        // Envoy).
        let connecting = !st.pool.has_idle(addr) && !st.h2.has_room(addr);
        let mut over_connection_limit = false;
        if connecting {
            let multiplexed = self.config.protocol == UpstreamProtocol::Http2;
            let open = st.pool.idle_count() as u64 + u64::from(st.active);
            if !multiplexed {
                self.publish(Resource::Connections, open as u32);
            }
            over_connection_limit = !multiplexed
                && open >= u64::from(self.limits.max_connections)
                && !self.headroom(Resource::Connections, totals.max_connections);
            if st.pending >= self.limits.max_pending_requests
                && !self.headroom(Resource::Pending, totals.max_pending_requests)
            {
                return Admission::Overloaded(Overflow::Pending);
            }
            st.pending += 1;
            self.pending_now(st.pending);
            if over_connection_limit && st.members[m].active > 0 {
                if !st.queued_since_sweep {
                    st.queued_since_sweep = true;
                    self.health
                        .breakers
                        .set_starved(self.worker, self.workers, true);
                }
                return Admission::Queued(Queued {
                    cluster: self,
                    ticket: self.freed.ticket(),
                });
            }
        }
        st.active += 1;
        self.publish(Resource::Requests, st.active);
        st.members[m].active += 1;
        st.last_admitted = m;
        Admission::Admitted(RequestGuard {
            cluster: self,
            addr,
            member: m,
            generation: st.generation,
            pending: Cell::new(connecting),
            outcome: Cell::new(Outcome::LocalFailure),
            over_connection_limit,
        })
    }

    /// This worker's pending requests are now `n`: on the breaker board and
    /// in the `upstream_rq_pending_active` gauge.
    fn pending_now(&self, n: u32) {
        self.publish(Resource::Pending, n);
        self.stats
            .gauge(ClusterGauge::UpstreamRqPendingActive)
            .set(u64::from(n));
    }

    /// Publish this worker's count of `r` on the cluster's breaker board.
    fn publish(&self, r: Resource, value: u32) {
        self.health
            .breakers
            .publish(self.worker, self.workers, r, value);
    }

    /// Over this worker's share: may it borrow headroom other workers leave?
    fn headroom(&self, r: Resource, total: u32) -> bool {
        self.health.breakers.has_headroom(self.workers, r, total)
    }

    /// Ask the `max_retries` breaker for a retry: `None` when this worker's
    /// share of retries is already in flight (Envoy's `upstream_rq_retry_overflow`).
    pub fn try_retry(&self) -> Option<RetrySlot<'_>> {
        let mut st = self.state.borrow_mut();
        if st.retries >= self.limits.max_retries
            && !self.headroom(Resource::Retries, self.config.circuit_breakers.max_retries)
        {
            return None;
        }
        st.retries += 1;
        self.publish(Resource::Retries, st.retries);
        Some(RetrySlot { cluster: self })
    }

    /// Take newer hosts or health verdicts if published, and rebuild what depends on them.
    fn refresh(&self, st: &mut State) {
        let hosts_version = self.shared.version();
        let health_version = self.health.version();
        if hosts_version == st.hosts_version && health_version == st.health_version {
            return;
        }
        let hosts_changed = hosts_version != st.hosts_version;
        st.hosts_version = hosts_version;
        st.health_version = health_version;
        let old_retained = st.health.pending_removal.len();
        (st.hosts, st.table) = self.shared.snapshot_with_table();
        st.health = self.health.snapshot();
        if hosts_changed || old_retained != 0 || !st.health.pending_removal.is_empty() {
            self.rebuild_members(st);
        }
        self.rebuild_candidates(st);
    }

    /// The members: the host set plus the hosts kept while pending removal
    /// (the one place this union is computed for the request path). A host
    /// that stays keeps its counts and counters; a new one takes the counters
    /// this worker's stats slot still holds for its address (a reload rebuilt
    /// the cluster), else fresh ones.
    fn rebuild_members(&self, st: &mut State) {
        let mut old = std::mem::take(&mut st.members);
        let mut published = self.stats.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = st
            .hosts
            .hosts
            .iter()
            .chain(st.health.pending_removal.iter());
        for h in wanted {
            if st.members.iter().any(|m| m.addr == h.addr) {
                continue;
            }
            // Keep this worker's counts for hosts that stay.
            let member = match old.iter().position(|m| m.addr == h.addr) {
                Some(i) => {
                    let mut m = old.swap_remove(i);
                    m.weight = h.weight.max(1);
                    m.hostname = h.hostname.clone();
                    m
                }
                None => Member {
                    addr: h.addr,
                    hostname: h.hostname.clone(),
                    weight: h.weight.max(1),
                    active: 0,
                    consecutive_5xx: 0,
                    consecutive_gateway: 0,
                    slot: self
                        .config
                        .outlier_detection
                        .is_some()
                        .then(|| self.health.slot(h.addr)),
                    stats: published
                        .iter()
                        .find(|(a, _)| *a == h.addr)
                        .map_or_else(Default::default, |(_, s)| s.clone()),
                },
            };
            st.members.push(member);
        }
        published.clear();
        published.extend(st.members.iter().map(|m| (m.addr, m.stats.clone())));
        drop(published);
        st.generation += 1;
        // Hosts that left take no new requests; their idle connections close.
        let members = &st.members;
        st.pool
            .retain_hosts(|addr| members.iter().any(|m| m.addr == *addr));
        st.h2
            .retain_hosts(|addr| members.iter().any(|m| m.addr == *addr));
    }

    fn rebuild_candidates(&self, st: &mut State) {
        let now_ms = self.health.now_ms();
        st.candidates.clear();
        st.candidate_member.clear();
        st.next_unejection = None;
        for (i, m) in st.members.iter().enumerate() {
            if st.health.is_unhealthy(&m.addr) {
                continue;
            }
            if let Some(until) = m.slot.as_ref().and_then(|s| s.ejected_until(now_ms)) {
                st.next_unejection = Some(st.next_unejection.map_or(until, |n| n.min(until)));
                continue;
            }
            st.candidates.push(Candidate {
                addr: m.addr,
                weight: m.weight,
            });
            st.candidate_member.push(i as u32);
        }
        if st.candidates.is_empty() && !st.members.is_empty() {
            // Panic mode: with no healthy host, balance over all of them rather
            // than fail every request.
            for (i, m) in st.members.iter().enumerate() {
                st.candidates.push(Candidate {
                    addr: m.addr,
                    weight: m.weight,
                });
                st.candidate_member.push(i as u32);
            }
        }
        st.balancer.rebuild(&st.candidates, st.table.as_ref());
    }

    /// A guard ended: release its counts and feed outlier detection.
    fn finish(&self, addr: SocketAddr, member: usize, generation: u64, outcome: Outcome) {
        // Its connection is pooled by now (the exchange checks it in before
        // the guard drops) or closed: either way room for one queued request.
        self.freed.wake_one();
        let mut st = self.state.borrow_mut();
        st.active = st.active.saturating_sub(1);
        self.publish(Resource::Requests, st.active);
        let m = if generation == st.generation {
            Some(member)
        } else {
            st.members.iter().position(|m| m.addr == addr)
        };
        let Some(m) = m else { return };
        let member = &mut st.members[m];
        member.active = member.active.saturating_sub(1);
        let Some(od) = self.config.outlier_detection else {
            return;
        };
        let (is_5xx, is_gateway) = match outcome {
            Outcome::NotUpstream => return,
            Outcome::LocalFailure => (true, true),
            Outcome::Status(s) => (s >= 500, matches!(s, 502..=504)),
        };
        if !is_5xx {
            member.consecutive_5xx = 0;
            member.consecutive_gateway = 0;
            return;
        }
        member.consecutive_5xx += 1;
        if is_gateway {
            member.consecutive_gateway += 1;
        } else {
            member.consecutive_gateway = 0;
        }
        let trips = (od.consecutive_5xx > 0 && member.consecutive_5xx >= od.consecutive_5xx)
            || (od.consecutive_gateway_failure > 0
                && member.consecutive_gateway >= od.consecutive_gateway_failure);
        if !trips {
            return;
        }
        member.consecutive_5xx = 0;
        member.consecutive_gateway = 0;
        let Some(slot) = member.slot.clone() else {
            return;
        };
        let now_ms = self.health.now_ms();
        if slot.is_ejected(now_ms) {
            return;
        }
        // Envoy's rule: eject while the ejected share is below the maximum, so
        // at least one host can always be ejected.
        let ejected = st
            .members
            .iter()
            .filter(|m| m.slot.as_ref().is_some_and(|s| s.is_ejected(now_ms)))
            .count();
        if 100 * ejected >= od.max_ejection_percent as usize * st.members.len() {
            return;
        }
        let dur = self
            .health
            .eject(&slot, od.base_ejection_time, od.max_ejection_time);
        tracing::info!(cluster = %self.config.name, host = %addr, ejection_ms = dur.as_millis() as u64, "outlier ejected");
    }

    /// The worker's timer: once per outlier `interval`, let ejected hosts whose
    /// time has passed back in.
    pub fn tick(&self, now: Instant) {
        let Some(od) = self.config.outlier_detection else {
            return;
        };
        let mut st = self.state.borrow_mut();
        if now.saturating_duration_since(st.last_outlier_check) < od.interval {
            return;
        }
        st.last_outlier_check = now;
        if st
            .next_unejection
            .is_some_and(|until| until <= self.health.now_ms())
        {
            self.rebuild_candidates(&mut st);
        }
    }

    /// A connection for a request to `addr` without connecting: a stream on
    /// an HTTP/2 connection with room, else an idle pooled HTTP/1.1 one.
    /// `now`: the request's moment (the pool's clock for idle ages).
    pub fn checkout(
        &self,
        addr: SocketAddr,
        how: super::pool::Checkout,
        now: Instant,
    ) -> Option<UpstreamConn> {
        let mut st = self.state.borrow_mut();
        if self.config.protocol != UpstreamProtocol::Http1 {
            if let Some(s) = st.h2.checkout(addr, now) {
                return Some(UpstreamConn::H2(Box::new(s)));
            }
        }
        st.pool.checkout(addr, now, how)
    }

    /// Open a new connection to `addr` in the cluster's protocol (`auto`: the
    /// one ALPN chose). An HTTP/2 one is kept for the requests after this
    /// one, which gets its first stream. For an HTTP/2 cluster, a request
    /// that finds a connection to `addr` being opened waits for it and takes a
    /// stream there if it has room (`Connected::opened` is then false).
    pub async fn connect(&self, addr: SocketAddr) -> Result<Connected, UpstreamError> {
        let timeout = self.config.connect_timeout;
        let h2 = self.config.protocol == UpstreamProtocol::Http2;
        let opening = h2
            .then(|| self.state.borrow_mut().h2.opening(addr))
            .flatten();
        if let Some(opening) = opening {
            let _ = monoio::time::timeout(timeout, opening.wait()).await;
            if let Some(s) = self.state.borrow_mut().h2.checkout(addr, Instant::now()) {
                return Ok(Connected {
                    conn: UpstreamConn::H2(Box::new(s)),
                    opened: false,
                });
            }
        }
        let _guard = h2.then(|| self.state.borrow_mut().h2.begin_opening(addr));
        let conn = self.open(addr, timeout).await?;
        Ok(Connected { conn, opened: true })
    }

    async fn open(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<UpstreamConn, UpstreamError> {
        // One small allocation per connection: its counts go to the cluster
        // and, while it is open, to its host's `cx_active`.
        let meter: crate::net::meter::Meter = match self.host_stats(addr) {
            Some(host) => Arc::new(UpstreamSocketCounts {
                cluster: self.stats.clone(),
                host,
            }),
            None => self.stats.clone(),
        };
        let meter = Some(meter);
        let conn = connect(addr, timeout, self.config.tls.as_deref(), meter).await?;
        let h2 = match self.config.protocol {
            UpstreamProtocol::Http1 => false,
            UpstreamProtocol::Http2 => true,
            UpstreamProtocol::Auto => conn.alpn() == Some(b"h2"),
        };
        if !h2 {
            return Ok(conn);
        }
        let opened = super::h2::open(conn, &self.config.http2, timeout, &self.stats).await?;
        let stream = self.state.borrow_mut().h2.insert(addr, opened);
        Ok(UpstreamConn::H2(Box::new(stream)))
    }

    /// Whether the next response head is worth reading into a body-sized
    /// buffer: the cluster's last response (head and body) outgrew a regular
    /// one. A cluster that serves large bodies then reads the head and the
    /// body that came with it in one read, and the proxy writes them in one
    /// write, where a regular buffer took two of each. Only a hint: a wrong
    /// guess costs a larger buffer lent for one read, nothing more.
    pub fn expects_large_response(&self) -> bool {
        self.large_responses.get()
    }

    /// A response of `bytes` (head and body) was relayed whole.
    pub fn response_relayed(&self, bytes: u64) {
        self.large_responses
            .set(bytes > crate::codec::limits::READ_CHUNK as u64);
    }

    /// `now`: when the connection's last response was done.
    pub fn checkin(&self, addr: SocketAddr, stream: UpstreamConn, suspect: bool, now: Instant) {
        if let UpstreamConn::H2(_) = stream {
            // Its connection stays in the HTTP/2 pool; the stream just ends.
            return;
        }
        let mut st = self.state.borrow_mut();
        // Only hosts still in the set get their connection back.
        if st.members.iter().any(|m| m.addr == addr) {
            st.pool.checkin(addr, stream, suspect, now);
        }
    }

    /// The pool sweep, every `interval`: idle connections past the idle
    /// timeout close. And while another worker queues requests for want of
    /// connections (the cluster's `max_connections` are all open), this one
    /// closes those it held idle the whole interval, and republishes its count
    /// so the other can open them: else a worker that once had more clients
    /// keeps its idle connections until their timeout, and a worker that now
    /// has them waits.
    pub fn sweep(&self, interval: Duration) {
        let mut st = self.state.borrow_mut();
        st.pool.sweep();
        st.h2.sweep();
        let board = &self.health.breakers;
        if !std::mem::take(&mut st.queued_since_sweep) {
            board.set_starved(self.worker, self.workers, false);
        }
        let given_back =
            board.others_starved(self.worker) && st.pool.close_unused(Instant::now(), interval) > 0;
        if given_back {
            let open = st.pool.idle_count() as u32 + st.active;
            self.publish(Resource::Connections, open);
        }
    }

    /// The counters of the member at `addr`. O(1) for the host `begin_request`
    /// just admitted, which is whom the tap asks about (on a pick and on a
    /// retry); a search otherwise. An `Arc` clone: no allocation, no lock.
    pub fn host_stats(&self, addr: SocketAddr) -> Option<Arc<HostStats>> {
        let st = self.state.borrow();
        let m = st
            .members
            .get(st.last_admitted)
            .filter(|m| m.addr == addr)
            .or_else(|| st.members.iter().find(|m| m.addr == addr))?;
        Some(m.stats.clone())
    }

    /// The worker's tick: each member's idle pooled connections into its
    /// `cx_idle` gauge.
    pub fn sample_idle(&self) {
        let st = self.state.borrow();
        for m in &st.members {
            m.stats.gauge(HostGauge::CxIdle).set(0);
        }
        let mut set = |addr, n: usize| {
            if let Some(m) = st.members.iter().find(|m| m.addr == addr) {
                let g = m.stats.gauge(HostGauge::CxIdle);
                g.set(g.get() + n as u64);
            }
        };
        st.pool.idle_per_host(&mut set);
        st.h2.idle_per_host(&mut set);
    }

    pub fn idle_connections(&self) -> usize {
        self.state.borrow().pool.idle_count()
    }
}

/// The first hash policy that finds something in the request gives the key.
fn hash_key(policies: &[HashPolicy], input: &HashInput<'_>) -> Option<u64> {
    for p in policies {
        let key = match p {
            HashPolicy::Header(name) => input
                .headers
                .iter()
                .find(|h| h.name(input.buf).eq_ignore_ascii_case(name.as_bytes()))
                .map(|h| hash::hash64(h.value(input.buf))),
            HashPolicy::Cookie(name) => input
                .headers
                .iter()
                .filter(|h| h.name(input.buf).eq_ignore_ascii_case(b"cookie"))
                .find_map(|h| hash::cookie_value(h.value(input.buf), name.as_bytes()))
                .map(hash::hash64),
            HashPolicy::SourceIp => Some(match input.peer {
                IpAddr::V4(ip) => hash::hash64(&ip.octets()),
                IpAddr::V6(ip) => hash::hash64(&ip.octets()),
            }),
        };
        if key.is_some() {
            return key;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(breakers: &str, workers: usize) -> WorkerCluster {
        cluster_on(breakers, 0, workers, Arc::new(ClusterHealth::default()))
    }

    fn cluster_on(
        breakers: &str,
        worker: usize,
        workers: usize,
        health: Arc<ClusterHealth>,
    ) -> WorkerCluster {
        let config = crate::config::load_str(&format!(
            "listeners: [{{ address: \"127.0.0.1:0\", virtual_hosts: [{{ domains: [\"*\"], routes: [{{ match: {{ prefix: / }}, cluster: c }}] }}] }}]\nclusters: [{{ name: c, hosts: [\"127.0.0.1:1\"], circuit_breakers: {breakers} }}]\n"
        ))
        .unwrap()
        .config;
        let c = config.clusters.into_iter().next().unwrap();
        let hosts = Arc::new(SharedHosts::new(HostSet::fixed(["127.0.0.1:1"
            .parse()
            .unwrap()])));
        let stats = Arc::new(ClusterStats::default());
        WorkerCluster::new(Arc::new(c), hosts, health, stats, worker, workers, 1)
    }

    #[test]
    fn retries_beyond_the_share_borrow_only_unused_headroom() {
        // Two workers of one cluster; ceil(3 / 2) = 2 retries each as a share.
        let health = Arc::new(ClusterHealth::default());
        let w0 = cluster_on("{ max_retries: 3 }", 0, 2, health.clone());
        let w1 = cluster_on("{ max_retries: 3 }", 1, 2, health);
        let a = w0.try_retry().expect("first retry");
        let b = w0.try_retry().expect("second retry");
        // Over its share, worker 0 borrows the one retry worker 1 is not using...
        let c = w0
            .try_retry()
            .expect("a third, borrowed while worker 1 is idle");
        assert!(w0.try_retry().is_none(), "the cluster total is 3");
        // Worker 1 always gets its own share, even while worker 0 has borrowed
        // (the total is exceeded only by what was borrowed, until it finishes).
        let d = w1.try_retry().expect("worker 1's share is its own");
        drop(c);
        // With 3 in flight again, nobody over its share may borrow.
        assert!(w0.try_retry().is_none());
        let e = w1.try_retry().expect("worker 1's second share slot");
        assert!(
            w1.try_retry().is_none(),
            "over its share, and no headroom left"
        );
        drop((a, b, d, e));
        assert!(w0.try_retry().is_some());

        let none = cluster("{ max_retries: 0 }", 2);
        assert!(none.try_retry().is_none(), "max_retries: 0 allows no retry");
    }
}
