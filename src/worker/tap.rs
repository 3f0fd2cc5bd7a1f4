//! Where the data path reports to stats and access logs. It sits in the
//! worker, above `stats` (which only stores counts) and `upstream` (whose
//! outcomes it counts).
//!
//! `WorkerTap` is one worker's side: its `WorkerStats`, its clusters (whose
//! members carry the per-host counters) and its access log sinks. `SessionTap`
//! is one downstream connection's: the session calls it at a few well-defined points (request start, host picked,
//! upstream connected / failed / answered, local reply, request end) and all
//! the counting and logging logic lives here. No call allocates once a
//! connection's buffers have warmed up.

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use crate::{
    access_log::{
        format::ReqSource, AccessLogSink, LogRecord, RequestCapture, ResponseDetails,
        ResponseFlags as Flags,
    },
    codec::{forward::RequestIdAction, headers::HeaderIndex, request::RequestHead, Version},
    config::ListenerConfig,
    net::{meter::Meter, tls::TlsInfo},
    stats::{names::*, ClusterStats, HostStats, ServerStats, WorkerStats},
    upstream::{cluster::Overflow, TlsFailure, UpstreamError, WorkerCluster},
    worker::{ListenerCtx, Worker},
};

/// What the cluster decided for a request, as the stats see it.
pub enum Picked {
    Host(std::net::SocketAddr),
    NoHealthy,
    Overflow(Overflow),
}

/// One listener's access log output on this worker.
pub type Sink = Rc<RefCell<AccessLogSink>>;

pub struct WorkerTap {
    pub id: usize,
    pub stats: Arc<WorkerStats>,
    pub server: Arc<ServerStats>,
    /// Draining and the health override (the health-check path answers by it).
    pub lifecycle: Arc<crate::prim::Lifecycle>,
    /// By cluster slot: this worker's cluster of the current generation, which
    /// holds each host's counters. Grows only when a reload names a new cluster.
    clusters: RefCell<Vec<Option<Rc<WorkerCluster>>>>,
    /// By cluster slot: the cluster's name (a slot's name never changes).
    cluster_names: RefCell<Vec<Arc<str>>>,
    /// By listener slot: this worker's access log output, if the listener logs.
    sinks: RefCell<Vec<Option<Sink>>>,
    reopen_seen: Cell<u64>,
    /// Connections this worker has accepted: `%CONNECTION_ID%`s are
    /// `count × workers + id + 1`, unique in the process without a shared write.
    connections: Cell<u64>,
    /// For access log `sample` filters.
    rng: RefCell<crate::prim::Rng>,
    /// Request taps between requests (see `SessionTap::rq`). Boxed: a tap
    /// holds the box itself, lent and returned without a copy or allocation.
    #[allow(clippy::vec_box)]
    request_taps: RefCell<crate::prim::FreeList<Box<RequestTap>>>,
}

impl WorkerTap {
    pub fn new(
        id: usize,
        server: Arc<ServerStats>,
        lifecycle: Arc<crate::prim::Lifecycle>,
    ) -> WorkerTap {
        let tap = WorkerTap {
            id,
            lifecycle,
            stats: server.workers[id].clone(),
            clusters: RefCell::new(Vec::new()),
            cluster_names: RefCell::new(Vec::new()),
            sinks: RefCell::new(Vec::new()),
            reopen_seen: Cell::new(crate::access_log::REOPEN.load(Relaxed)),
            connections: Cell::new(0),
            rng: RefCell::new(crate::prim::Rng::new(crate::prim::Rng::random_seed(
                id as u64,
            ))),
            request_taps: RefCell::new(crate::prim::FreeList::new(MAX_POOLED_REQUEST_TAPS)),
            server,
        };
        // Listeners and clusters are configured by the worker's first
        // generation (`apply_generation`), before any connection.
        tap
    }

    /// A (re)loaded config serves listener `config` in `slot`: open its access
    /// log unless this slot already writes to that path.
    /// Count `c` on the listener in stats slot `slot`.
    pub fn listener_counter(&self, slot: usize, c: ListenerCounter) {
        self.stats.listeners[slot].inc(c);
    }

    /// Where a connection accepted on the listener in `slot` counts its bytes.
    pub fn listener_meter(&self, slot: usize) -> Option<Meter> {
        self.stats.listeners.handle(slot).map(|l| l as Meter)
    }

    /// Connections this worker has open on the listener in `slot`.
    pub fn listener_connections(&self, slot: usize) -> u64 {
        self.stats.listeners[slot]
            .gauge(ListenerGauge::DownstreamCxActive)
            .get()
    }

    pub fn configure_listener(&self, slot: usize, config: &ListenerConfig) {
        let mut sinks = self.sinks.borrow_mut();
        if sinks.len() <= slot {
            sinks.resize_with(slot + 1, || None);
        }
        let wanted = config.access_log.as_ref().map(|l| l.path.as_str());
        let current = sinks[slot].as_ref().map(|s| s.borrow().path().to_string());
        if wanted == current.as_deref() {
            return;
        }
        if let Some(old) = sinks[slot].take() {
            let _ = old.borrow_mut().flush();
        }
        let Some(log) = config.access_log.as_ref() else {
            return;
        };
        match AccessLogSink::open(&log.path) {
            Ok(s) => sinks[slot] = Some(Rc::new(RefCell::new(s))),
            Err(e) => {
                tracing::error!(worker = self.id, listener = %config.name, path = %log.path, error = %e, "cannot open access log");
            }
        }
    }

    /// A (re)loaded config's clusters: `(slot, name, this worker's cluster)`.
    /// Slots it does not name forget their cluster, so a removed cluster is
    /// still freed with its last request.
    pub fn configure_clusters<'a>(
        &self,
        current: impl Iterator<Item = (usize, &'a str, &'a Rc<WorkerCluster>)>,
    ) {
        let mut names = self.cluster_names.borrow_mut();
        let mut clusters = self.clusters.borrow_mut();
        clusters.iter_mut().for_each(|c| *c = None);
        for (slot, name, cluster) in current {
            if names.len() <= slot {
                names.resize_with(slot + 1, || Arc::from(""));
            }
            names[slot] = Arc::from(name);
            if clusters.len() <= slot {
                clusters.resize_with(slot + 1, || None);
            }
            clusters[slot] = Some(cluster.clone());
        }
    }

    fn next_connection_id(&self) -> u64 {
        let n = self.connections.get();
        self.connections.set(n + 1);
        n * self.server.workers.len() as u64 + self.id as u64 + 1
    }

    /// A request tap in its reset state: from the pool, or new while the pool
    /// warms up.
    fn take_request_tap(&self) -> Box<RequestTap> {
        self.request_taps
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Box::new(RequestTap::new()))
    }

    /// `rq` is reset; keep it for the next request.
    fn give_request_tap(&self, rq: Box<RequestTap>) {
        let surplus = self.request_taps.borrow_mut().give(rq);
        drop(surplus);
    }

    /// Free the pooled request taps the load has not needed since the last
    /// sweep.
    pub fn trim_pools(&self) {
        self.request_taps.borrow_mut().trim();
    }

    fn sink(&self, listener: usize) -> Option<Sink> {
        self.sinks.borrow().get(listener).cloned().flatten()
    }

    /// The counters of host `addr`, as a member of this worker's cluster in `slot`.
    fn host_stats(&self, slot: usize, addr: SocketAddr) -> Option<Arc<HostStats>> {
        let clusters = self.clusters.borrow();
        clusters.get(slot)?.as_ref()?.host_stats(addr)
    }

    /// The worker's tick: write buffered log lines, reopen logs after SIGUSR1,
    /// and sample how many idle connections each pool holds.
    /// `clusters`: the current config's clusters with their slots.
    pub fn tick<'a>(&self, clusters: impl Iterator<Item = (usize, &'a WorkerCluster)>) {
        let generation = crate::access_log::REOPEN.load(Relaxed);
        if generation != self.reopen_seen.get() {
            self.reopen_seen.set(generation);
            for sink in self.sinks.borrow().iter().flatten() {
                let mut sink = sink.borrow_mut();
                let _ = sink.flush();
                if let Err(e) = sink.reopen() {
                    tracing::error!(path = sink.path(), error = %e, "cannot reopen access log");
                }
            }
        }
        self.flush_logs();
        for (i, c) in clusters {
            let cs = &self.stats.clusters[i];
            cs.gauge(ClusterGauge::UpstreamCxIdle)
                .set(c.idle_connections() as u64);
            c.sample_idle();
        }
    }

    /// Write every buffered access log line (tick and drain).
    pub fn flush_logs(&self) {
        for sink in self.sinks.borrow().iter().flatten() {
            if sink.borrow_mut().flush().is_err() {
                self.stats.inc(WorkerCounter::AccessLogWriteErrors);
            }
        }
    }
}

/// One downstream connection's reporting state; one request at a time.
///
/// What only a request in flight needs (`RequestTap`) is on loan from the
/// worker's pool between the request's first report and `request_end`: an
/// idle keep-alive connection carries the connection's part alone.
pub struct SessionTap {
    /// Its worker (whose `tap` it reports to); the connection is counted in
    /// `Worker::active` while its tap lives.
    worker: Rc<Worker>,
    /// The listener as the current request's generation serves it (its
    /// config: access log, limits, health check path).
    ctx: Rc<ListenerCtx>,
    peer: SocketAddr,
    /// Only when the listener logs or the connection is TLS (boxed: most
    /// connections have neither, and every connection carries a tap).
    details: Option<Box<ConnDetails>>,
    /// When the connection was accepted (`downstream_cx_length_ms`).
    opened: crate::prim::Stamp,
    /// The current request's state; `None` between requests.
    rq: Option<Box<RequestTap>>,
    in_request: bool,
    /// Requests answered on the connection before the current one (`u32`:
    /// it packs with the flags).
    served: u32,
    /// This tap counts a connection (open, close); an HTTP/2 stream's tap
    /// counts only its request.
    connection: bool,
    /// The per-protocol gauge this connection holds up, once its protocol is known.
    protocol_active: Option<ListenerGauge>,
}

/// What a connection's tap keeps only when its listener logs or the
/// connection runs over TLS.
#[derive(Clone, Default)]
struct ConnDetails {
    /// This worker's access log output for the listener.
    sink: Option<Sink>,
    /// `%CONNECTION_ID%` (0: not given yet; given when the connection starts
    /// to be logged).
    connection_id: u64,
    /// The address the connection was accepted on, when the access log prints it.
    local: Option<SocketAddr>,
    /// The connection's TLS session.
    tls: Option<TlsInfo>,
}

/// One request's reporting state, recycled through `WorkerTap`'s pool.
struct RequestTap {
    start: Instant,
    /// Wall-clock start, nanoseconds since the epoch (read only when logging).
    start_nanos: u64,
    protocol: Option<Version>,
    status: u16,
    details: ResponseDetails,
    /// Envoy's words for why the upstream connection failed.
    transport_failure: Option<&'static str>,
    /// When the request's last byte so far arrived.
    last_rx: Option<Instant>,
    /// When the upstream's response head arrived.
    upstream_head: Option<Instant>,
    /// When the relayed response's last byte was written: the request's end,
    /// read once for the tap and the upstream pool (`None`: read at the end).
    responded: Option<Instant>,
    health_check: bool,
    /// The matched route's name, when the access log is on.
    route_name: Option<Arc<str>>,
    flags: Flags,
    bytes_received: u64,
    bytes_sent: u64,
    cluster: Option<usize>,
    /// The counters of the host the request went to (the cluster member's own).
    host: Option<Arc<HostStats>>,
    upstream_addr: Option<SocketAddr>,
    /// The upstream connection's own address, when the access log prints it.
    upstream_local: Option<SocketAddr>,
    upstream_start: Instant,
    service_time_ms: Option<u64>,
    capture: RequestCapture,
    /// The response headers the access log asks for (`%RESP(..)%`).
    resp_capture: RequestCapture,
}

impl RequestTap {
    fn new() -> RequestTap {
        let now = Instant::now();
        RequestTap {
            start: now,
            start_nanos: 0,
            protocol: None,
            status: 0,
            details: ResponseDetails::None,
            transport_failure: None,
            last_rx: None,
            upstream_head: None,
            responded: None,
            health_check: false,
            route_name: None,
            flags: Flags::default(),
            bytes_received: 0,
            bytes_sent: 0,
            cluster: None,
            host: None,
            upstream_addr: None,
            upstream_local: None,
            upstream_start: now,
            service_time_ms: None,
            capture: RequestCapture::default(),
            resp_capture: RequestCapture::default(),
        }
    }

    /// Back to the state of a request not yet started, keeping the capture
    /// vectors' capacity.
    fn reset(&mut self) {
        self.protocol = None;
        self.status = 0;
        self.details = ResponseDetails::None;
        self.transport_failure = None;
        self.last_rx = None;
        self.upstream_head = None;
        self.responded = None;
        self.health_check = false;
        self.route_name = None;
        self.flags = Flags::default();
        self.bytes_received = 0;
        self.bytes_sent = 0;
        self.cluster = None;
        self.host = None;
        self.upstream_addr = None;
        self.upstream_local = None;
        self.service_time_ms = None;
        self.capture.clear();
        self.resp_capture.clear();
    }

    fn host_do(&self, f: impl FnOnce(&HostStats)) {
        if let Some(h) = &self.host {
            f(h);
        }
    }
}

/// The most request taps a worker keeps for reuse (one per request in
/// flight; trimmed to what the load needs each pool sweep, `prim::FreeList`).
const MAX_POOLED_REQUEST_TAPS: usize = 4096;

/// The current request's state of a tap: its loaned `RequestTap`, taken from
/// the pool at the first report that needs it. A macro, not a method, so that
/// it borrows the two fields alone and the rest of the tap stays usable.
macro_rules! rq {
    ($s:expr) => {
        loan(&mut $s.rq, &$s.worker.tap)
    };
}

fn loan<'a>(rq: &'a mut Option<Box<RequestTap>>, tap: &WorkerTap) -> &'a mut RequestTap {
    rq.get_or_insert_with(|| tap.take_request_tap())
}

/// The protocol a client connection turned out to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CxProtocol {
    Http1,
    Http2,
}

impl SessionTap {
    /// A connection was accepted on the listener `ctx`.
    pub fn open(worker: &Rc<Worker>, ctx: Rc<ListenerCtx>, peer: SocketAddr) -> SessionTap {
        worker.active.set(worker.active.get() + 1);
        let tap = &worker.tap;
        let listener = ctx.index;
        let l = &tap.stats.listeners[listener];
        tap.stats.inc(WorkerCounter::DownstreamCxAccepted);
        l.inc(ListenerCounter::DownstreamCxTotal);
        l.gauge(ListenerGauge::DownstreamCxActive).inc();
        let mut s = SessionTap::idle(worker.clone(), ctx, peer);
        let connection_id = tap.next_connection_id();
        if let Some(sink) = tap.sink(listener) {
            s.details = Some(Box::new(ConnDetails {
                sink: Some(sink),
                connection_id,
                ..ConnDetails::default()
            }));
        }
        s
    }

    /// The tap of one HTTP/2 stream on the connection `conn` taps: its own
    /// request and log line, the connection's peer, listener and TLS session.
    pub fn stream(conn: &SessionTap) -> SessionTap {
        let tap = conn.worker.clone();
        let mut stream = SessionTap::idle(tap, conn.ctx.clone(), conn.peer);
        stream.details = conn.details.clone();
        stream.connection = false;
        stream
    }

    /// A tap with no request in progress, counting a connection by default.
    fn idle(worker: Rc<Worker>, ctx: Rc<ListenerCtx>, peer: SocketAddr) -> SessionTap {
        SessionTap {
            worker,
            served: 0,
            ctx,
            peer,
            details: None,
            opened: crate::prim::Stamp::now(),
            rq: None,
            in_request: false,
            connection: true,
            protocol_active: None,
        }
    }

    /// The connection speaks `p` (`downstream_cx_http{1,2}_total` and `_active`).
    pub fn connection_protocol(&mut self, p: CxProtocol) {
        let (total, active) = match p {
            CxProtocol::Http1 => (
                ListenerCounter::DownstreamCxHttp1Total,
                ListenerGauge::DownstreamCxHttp1Active,
            ),
            CxProtocol::Http2 => (
                ListenerCounter::DownstreamCxHttp2Total,
                ListenerGauge::DownstreamCxHttp2Active,
            ),
        };
        debug_assert!(self.connection && self.protocol_active.is_none());
        let l = &self.worker.tap.stats.listeners[self.ctx.index];
        l.inc(total);
        l.gauge(active).inc();
        self.protocol_active = Some(active);
    }

    /// The upstream's response head (offsets into `buf`): keep the headers the
    /// access log's `%RESP(..)%` names.
    pub fn response_headers(&mut self, buf: &[u8], headers: &[HeaderIndex]) {
        let Some(log) = self.ctx.config.access_log.as_ref().filter(|_| self.logs()) else {
            return;
        };
        rq!(self).resp_capture.clear();
        for alts in &log.format.resp_fields {
            let value = alts.iter().find_map(|name| {
                headers
                    .iter()
                    .find(|h| h.name(buf).eq_ignore_ascii_case(name))
                    .map(|h| h.value(buf))
            });
            rq!(self).resp_capture.push(value);
        }
    }

    /// Whether the access log prints the connection's local address (worth a
    /// `getsockname` per connection).
    pub fn wants_local_address(&self) -> bool {
        self.logs()
            && self
                .ctx
                .config
                .access_log
                .as_ref()
                .is_some_and(|l| l.format.wants_local_address())
    }

    /// The upstream connection the request went on, for
    /// `%UPSTREAM_LOCAL_ADDRESS%`: its address is asked for only when the
    /// access log prints it (the socket keeps it after its first `getsockname`).
    pub fn upstream_local(&mut self, local: impl FnOnce() -> Option<SocketAddr>) {
        let wanted = self.logs()
            && self
                .ctx
                .config
                .access_log
                .as_ref()
                .is_some_and(|l| l.format.wants_upstream_local_address());
        if wanted {
            rq!(self).upstream_local = local();
        }
    }

    /// The worker the connection is served by.
    pub fn worker(&self) -> &Rc<Worker> {
        &self.worker
    }

    /// The listener the connection is served by, in its current request's
    /// generation.
    pub fn ctx(&self) -> &Rc<ListenerCtx> {
        &self.ctx
    }

    /// Requests answered on the connection before the current one.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// One more request was answered on the connection.
    pub fn served_one(&mut self) {
        self.served = self.served.saturating_add(1);
    }

    /// The connection's peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When the connection was accepted.
    pub fn opened(&self) -> Instant {
        self.opened.instant()
    }

    /// The address the connection was accepted on.
    pub fn set_local(&mut self, local: Option<SocketAddr>) {
        if local.is_some() {
            self.details_mut().local = local;
        }
    }

    /// The connection runs over TLS with this session (for the access log).
    pub fn set_tls(&mut self, tls: TlsInfo) {
        self.details_mut().tls = Some(tls);
    }

    /// A reload changed this connection's listener config (same slot): take
    /// its new access log settings. Between requests only.
    pub fn listener_changed(&mut self, ctx: Rc<ListenerCtx>) {
        let sink = self.worker.tap.sink(self.ctx.index);
        if sink.is_some() || self.details.is_some() {
            let tap = self.worker.tap.clone();
            let details = self.details_mut();
            if sink.is_some() && details.connection_id == 0 {
                details.connection_id = tap.next_connection_id();
            }
            details.sink = sink;
        }
        self.ctx = ctx;
    }

    fn details_mut(&mut self) -> &mut ConnDetails {
        self.details.get_or_insert_with(Box::default)
    }

    fn logs(&self) -> bool {
        self.details.as_ref().is_some_and(|d| d.sink.is_some())
    }

    /// The connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.details.as_ref().is_some_and(|d| d.tls.is_some())
    }

    /// When the current request started, in milliseconds since the epoch
    /// (`%START_TIME%` in header values; the access log's own when it logs).
    pub fn start_millis(&self) -> u64 {
        let rq = self.rq.as_deref();
        if let (true, Some(rq)) = (self.logs(), rq) {
            return rq.start_nanos / 1_000_000;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let since_start = rq.map_or(0, |rq| rq.start.elapsed().as_millis() as u64);
        now.saturating_sub(since_start)
    }

    /// The request starts (`at`, if the caller has read the clock for it).
    fn begin(&mut self, at: Option<Instant>) {
        if self.in_request {
            return;
        }
        self.in_request = true;
        let logs = self.logs();
        let rq = rq!(self);
        rq.start = at.unwrap_or_else(Instant::now);
        if logs {
            rq.start_nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        }
        let l = &self.worker.tap.stats.listeners[self.ctx.index];
        l.inc(ListenerCounter::DownstreamRqTotal);
        l.gauge(ListenerGauge::DownstreamRqActive).inc();
    }

    /// A request head was parsed, whole at `at`.
    pub fn request_start(
        &mut self,
        head: &RequestHead,
        headers: &[HeaderIndex],
        buf: &[u8],
        at: Instant,
    ) {
        self.begin(Some(at));
        rq!(self).protocol = Some(head.version);
        if self.ctx.config.limits.underscores == crate::codec::limits::UnderscoreAction::DropHeader
        {
            self.dropped_underscored(headers);
        }
        if !self.logs() {
            return;
        }
        rq!(self).last_rx = Some(at);
        let scheme: &[u8] = if self.is_tls() { b"https" } else { b"http" };
        rq!(self).capture.clear();
        let Some(log) = self.ctx.config.access_log.as_ref() else {
            return;
        };
        for alts in &log.format.fields {
            let value = alts.iter().find_map(|src| match src {
                ReqSource::Method => Some(head.slice(buf, head.method_span)),
                ReqSource::Path => Some(head.slice(buf, head.target)),
                ReqSource::Authority => head.host_value(buf),
                ReqSource::Scheme => Some(scheme),
                ReqSource::Header(name) => headers
                    .iter()
                    .find(|h| h.name(buf).eq_ignore_ascii_case(name))
                    .map(|h| h.value(buf)),
            });
            rq!(self).capture.push(value);
        }
    }

    /// The `x-request-id` ringway generated: logged when the client sent
    /// none, or when it replaces the client's.
    pub fn request_id(&mut self, id: &[u8], action: RequestIdAction) {
        if !self.logs() || action == RequestIdAction::Keep {
            return;
        }
        let replace = action == RequestIdAction::Overwrite;
        let Some(log) = self.ctx.config.access_log.as_ref() else {
            return;
        };
        for (i, alts) in log.format.fields.iter().enumerate() {
            let wants = alts
                .iter()
                .any(|s| matches!(s, ReqSource::Header(n) if n == b"x-request-id"));
            let free = replace || rq!(self).capture.spans.get(i) == Some(&None);
            if wants && free && i < rq!(self).capture.spans.len() {
                let start = rq!(self).capture.bytes.len();
                rq!(self).capture.bytes.extend_from_slice(id);
                rq!(self).capture.spans[i] = Some((start, rq!(self).capture.bytes.len()));
            }
        }
    }

    /// A route matched (its `name` is `%ROUTE_NAME%`). A refcount, no copy.
    pub fn route(&mut self, name: Option<&Arc<str>>) {
        if self.logs() {
            rq!(self).route_name = name.cloned();
        }
    }

    /// If `path` is the listener's health check path: whether the server is live
    /// (not draining, not failed by `POST /healthcheck/fail`).
    pub fn health_check(&mut self, path: &[u8]) -> Option<bool> {
        let hc = self.ctx.config.health_check.as_ref()?;
        if hc.path.as_bytes() != path {
            return None;
        }
        self.worker.tap.stats.listeners[self.ctx.index]
            .inc(ListenerCounter::DownstreamRqHealthCheck);
        rq!(self).health_check = true;
        Some(self.worker.tap.lifecycle.is_live())
    }

    /// The balancer was asked for a host of `cluster`; a host picked `now`
    /// starts the upstream request.
    pub fn picked(&mut self, cluster: usize, pick: &Picked, now: Instant) {
        rq!(self).cluster = Some(cluster);
        let cs = &self.worker.tap.stats.clusters[cluster];
        match pick {
            Picked::Overflow(which) => {
                cs.inc(match which {
                    Overflow::Pending => ClusterCounter::UpstreamRqPendingOverflow,
                    Overflow::Requests => ClusterCounter::UpstreamRqOverflow,
                });
                rq!(self).flags.set(Flags::UPSTREAM_OVERFLOW);
            }
            Picked::Host(addr) => {
                cs.inc(ClusterCounter::UpstreamRqTotal);
                cs.gauge(ClusterGauge::UpstreamRqActive).inc();
                rq!(self).upstream_start = now;
                rq!(self).upstream_addr = Some(*addr);
                rq!(self).host = self.worker.tap.host_stats(cluster, *addr);
                self.host_do(|h| {
                    h.inc(HostCounter::RqTotal);
                    h.gauge(HostGauge::RqActive).inc();
                });
            }
            Picked::NoHealthy => {
                cs.inc(ClusterCounter::UpstreamRqNoHealthy);
                rq!(self).flags.set(Flags::NO_HEALTHY_UPSTREAM);
            }
        }
    }

    /// A request of `cluster` met the connection breaker (`max_connections`):
    /// queued, or given a connection anyway. Envoy's `upstream_cx_overflow`.
    pub fn connection_overflow(&mut self, cluster: usize) {
        rq!(self).cluster = Some(cluster);
        self.worker.tap.stats.clusters[cluster].inc(ClusterCounter::UpstreamCxOverflow);
    }

    /// A request of `cluster` began to wait for a connection (opening one,
    /// or queued). Envoy's `upstream_rq_pending_total`.
    pub fn pending(&mut self, cluster: usize) {
        self.worker.tap.stats.clusters[cluster].inc(ClusterCounter::UpstreamRqPendingTotal);
    }

    fn host_do(&self, f: impl FnOnce(&HostStats)) {
        if let Some(rq) = &self.rq {
            rq.host_do(f);
        }
    }

    fn cluster_do(&self, f: impl FnOnce(&ClusterStats)) {
        if let Some(c) = self.rq.as_ref().and_then(|rq| rq.cluster) {
            f(&self.worker.tap.stats.clusters[c]);
        }
    }

    /// A TLS handshake with an upstream completed.
    pub fn upstream_tls_handshake(&mut self) {
        self.cluster_do(|c| c.inc(ClusterCounter::SslHandshake));
    }

    /// A new upstream connection was established, speaking HTTP/2 or HTTP/1.1.
    pub fn upstream_connected(&mut self, http2: bool) {
        self.cluster_do(|c| {
            c.inc(ClusterCounter::UpstreamCxTotal);
            c.inc(if http2 {
                ClusterCounter::UpstreamCxHttp2Total
            } else {
                ClusterCounter::UpstreamCxHttp1Total
            });
        });
        self.host_do(|h| h.inc(HostCounter::CxTotal));
    }

    /// The route's retry policy sends the request again, to `addr` (another host
    /// when the cluster has one). Each attempt counts in `upstream_rq_total`.
    pub fn upstream_retry(&mut self, addr: SocketAddr) {
        let Some(cluster) = rq!(self).cluster else {
            return;
        };
        let cs = &self.worker.tap.stats.clusters[cluster];
        cs.inc(ClusterCounter::UpstreamRqRetry);
        cs.inc(ClusterCounter::UpstreamRqTotal);
        self.host_do(|h| h.gauge(HostGauge::RqActive).dec());
        rq!(self).upstream_addr = Some(addr);
        rq!(self).host = self.worker.tap.host_stats(cluster, addr);
        self.host_do(|h| {
            h.inc(HostCounter::RqTotal);
            h.gauge(HostGauge::RqActive).inc();
        });
    }

    /// The retry policy wanted another attempt but the `max_retries` breaker
    /// had no slot free: the last failure goes to the client.
    pub fn retry_overflow(&mut self) {
        self.cluster_do(|c| c.inc(ClusterCounter::UpstreamRqRetryOverflow));
    }

    /// The upstream exchange failed; a local reply follows.
    pub fn upstream_error(&mut self, e: &UpstreamError) {
        let (cluster_counter, flag) = match e {
            UpstreamError::NoHealthyUpstream => (None, Flags::NO_HEALTHY_UPSTREAM),
            UpstreamError::ConnectFailed(_) => (None, Flags::UPSTREAM_CONNECT_FAILURE),
            UpstreamError::ConnectTimeout => (
                Some(ClusterCounter::UpstreamCxConnectTimeout),
                Flags::UPSTREAM_CONNECT_FAILURE,
            ),
            UpstreamError::Reset | UpstreamError::Refused => (
                Some(ClusterCounter::UpstreamRqRxReset),
                Flags::UPSTREAM_TERMINATION,
            ),
            UpstreamError::Timeout => (
                Some(ClusterCounter::UpstreamRqTimeout),
                Flags::UPSTREAM_TIMEOUT,
            ),
            UpstreamError::BadResponse(_) => (None, Flags::UPSTREAM_PROTOCOL_ERROR),
            UpstreamError::Tls(f) => (
                Some(match f {
                    TlsFailure::WrongName => ClusterCounter::SslFailVerifySan,
                    f if f.is_verify() => ClusterCounter::SslFailVerifyError,
                    _ => ClusterCounter::SslConnectionError,
                }),
                Flags::UPSTREAM_CONNECT_FAILURE,
            ),
        };
        rq!(self).flags.set(flag);
        rq!(self).transport_failure = transport_failure(e);
        let connect = matches!(
            e,
            UpstreamError::ConnectFailed(_) | UpstreamError::ConnectTimeout | UpstreamError::Tls(_)
        );
        self.cluster_do(|c| {
            if connect {
                c.inc(ClusterCounter::UpstreamCxConnectFail);
            }
            if let Some(k) = cluster_counter {
                c.inc(k);
            }
        });
        if !matches!(e, UpstreamError::NoHealthyUpstream) {
            // As Envoy's `chargeUpstreamAbort`: a request that reached for an
            // upstream and failed is charged the status of ringway's answer
            // (503 connect failure or reset, 504 timeout, 502 bad response).
            let status = super::local_reply::LocalReply::Upstream(*e).status();
            self.cluster_do(|c| {
                c.inc(upstream_class(status));
                c.count_code(status);
            });
        }
        self.host_do(|h| {
            if connect {
                h.inc(HostCounter::CxConnectFail);
            }
            if matches!(e, UpstreamError::Timeout) {
                h.inc(HostCounter::RqTimeout);
            }
            h.inc(HostCounter::RqError);
        });
    }

    /// The upstream's final response head arrived, at `at`, `service_time_ms`
    /// after the request went out.
    pub fn upstream_response(&mut self, status: u16, service_time_ms: u64, at: Instant) {
        rq!(self).status = status;
        rq!(self).details = ResponseDetails::Fixed("via_upstream");
        rq!(self).service_time_ms = Some(service_time_ms);
        if self.logs() {
            rq!(self).upstream_head = Some(at);
        }
        let class = upstream_class(status);
        self.cluster_do(|c| {
            c.inc(class);
            c.count_code(status);
        });
        self.host_do(|h| {
            h.inc(if status >= 500 {
                HostCounter::RqError
            } else {
                HostCounter::RqSuccess
            })
        });
    }

    /// Body bytes read from the client for this request.
    pub fn bytes_received(&mut self, n: u64) {
        rq!(self).bytes_received += n;
        if n > 0 && self.logs() {
            rq!(self).last_rx = Some(Instant::now());
        }
    }

    /// The relayed response is written, at `at`: `n` body bytes. The request
    /// ends then (`request_end` follows with nothing awaited in between).
    pub fn response_written(&mut self, n: u64, at: Instant) {
        let rq = rq!(self);
        rq.bytes_sent += n;
        rq.responded = Some(at);
    }

    /// ringway answers itself with `status` and a body of `body_len` bytes;
    /// `counter`, `flag` and `details` are the reply's own (`worker::local_reply`
    /// decides them).
    pub fn local_reply(
        &mut self,
        status: u16,
        body_len: u64,
        counter: Option<ListenerCounter>,
        flag: u16,
        details: ResponseDetails,
    ) {
        self.begin(None);
        rq!(self).status = status;
        rq!(self).details = details;
        rq!(self).bytes_sent = body_len;
        if let Some(c) = counter {
            self.worker.tap.stats.listeners[self.ctx.index].inc(c);
        }
        rq!(self).flags.set(flag);
    }

    /// A listener counter of the request's own (a response cut by a timeout).
    pub fn count(&mut self, c: ListenerCounter) {
        self.worker.tap.stats.listeners[self.ctx.index].inc(c);
    }

    /// Header names with `_` the listener drops (`headers_with_underscores`).
    fn dropped_underscored(&mut self, headers: &[HeaderIndex]) {
        let n = headers
            .iter()
            .filter(|h| h.kind == crate::codec::headers::HeaderKind::Underscored)
            .count();
        for _ in 0..n {
            self.count(ListenerCounter::Http1DroppedHeadersWithUnderscores);
        }
    }

    /// The request is over (response written, or the connection is giving up);
    /// `Some`: the moment it ended, for what follows it (the idle wait).
    pub fn request_end(&mut self) -> Option<Instant> {
        if !self.in_request {
            self.release_request();
            return None;
        }
        self.in_request = false;
        // One moment for the request's and the upstream's durations: when the
        // response was written, else now.
        let now = rq!(self).responded.unwrap_or_else(Instant::now);
        let elapsed = now.duration_since(rq!(self).start);
        let stats = &self.worker.tap.stats;
        let l = &stats.listeners[self.ctx.index];
        if rq!(self).status == 0 {
            // The client went away before any response.
            l.inc(ListenerCounter::DownstreamRqRxReset);
            rq!(self).flags.set(Flags::DOWNSTREAM_TERMINATION);
        } else {
            l.inc(match rq!(self).status {
                100..=199 => ListenerCounter::DownstreamRq1xx,
                200..=299 => ListenerCounter::DownstreamRq2xx,
                300..=399 => ListenerCounter::DownstreamRq3xx,
                400..=499 => ListenerCounter::DownstreamRq4xx,
                _ => ListenerCounter::DownstreamRq5xx,
            });
        }
        l.gauge(ListenerGauge::DownstreamRqActive).dec();
        l.rq_time.record(elapsed.as_micros() as u64);
        if rq!(self).upstream_addr.is_some() {
            let up = now.duration_since(rq!(self).upstream_start).as_micros() as u64;
            self.cluster_do(|c| {
                c.gauge(ClusterGauge::UpstreamRqActive).dec();
                c.rq_time.record(up);
            });
            self.host_do(|h| h.gauge(HostGauge::RqActive).dec());
        }
        if self.logs() {
            self.log_line(elapsed);
        }
        self.release_request();
        Some(now)
    }

    /// The request's state goes back to the worker's pool, reset.
    fn release_request(&mut self) {
        if let Some(mut rq) = self.rq.take() {
            rq.reset();
            self.worker.tap.give_request_tap(rq);
        }
    }

    /// Render the finished request's line into the sink, if the filter keeps it.
    fn log_line(&mut self, elapsed: std::time::Duration) {
        let rq = rq!(self);
        if rq.protocol.is_none() {
            // No head was parsed: nothing was captured.
            rq.capture.clear();
        }
        if rq.status == 0 && rq.details == ResponseDetails::None {
            rq.details = ResponseDetails::Fixed("downstream_remote_disconnect");
        }
        let (Some(details), Some(log), Some(rq)) = (
            self.details.as_deref(),
            self.ctx.config.access_log.as_ref(),
            self.rq.as_deref(),
        ) else {
            return;
        };
        let since = |t: Option<Instant>| {
            t.map(|t| t.saturating_duration_since(rq.start).as_millis() as u64)
        };
        let names = self.worker.tap.cluster_names.borrow();
        let record = LogRecord {
            start_nanos: rq.start_nanos,
            protocol: rq.protocol,
            status: rq.status,
            details: rq.details,
            flags: rq.flags,
            bytes_received: rq.bytes_received,
            bytes_sent: rq.bytes_sent,
            duration_ms: elapsed.as_millis() as u64,
            request_duration_ms: since(rq.last_rx),
            response_duration_ms: since(rq.upstream_head),
            service_time_ms: rq.service_time_ms,
            upstream_host: rq.upstream_addr,
            upstream_local: rq.upstream_local,
            upstream_cluster: rq.cluster.and_then(|c| names.get(c)).map(|n| &**n),
            transport_failure: rq.transport_failure,
            peer: self.peer,
            local: details.local,
            connection_id: details.connection_id,
            route_name: rq.route_name.as_deref(),
            health_check: rq.health_check,
            request: &rq.capture,
            response: &rq.resp_capture,
            tls: details.tls.as_ref(),
        };
        if let Some(filter) = &log.filter {
            let mut rng = self.worker.tap.rng.borrow_mut();
            if !filter.matches(&record, &mut |n| rng.below(n)) {
                return;
            }
        }
        let Some(sink) = &details.sink else {
            return;
        };
        let stats = &self.worker.tap.stats;
        let mut sink = sink.borrow_mut();
        log.format.render(&record, &mut sink.buf);
        stats.inc(WorkerCounter::AccessLogLines);
        if sink.wants_flush() && sink.flush().is_err() {
            stats.inc(WorkerCounter::AccessLogWriteErrors);
        }
    }
}

/// Envoy's upstream transport failure reason for `e` (spaces as `_`, as its
/// access log prints it): `delayed_connect_error:_111` for a refused connect.
fn transport_failure(e: &UpstreamError) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match e {
        UpstreamError::ConnectFailed(kind) => match kind {
            K::ConnectionRefused => "delayed_connect_error:_111",
            K::ConnectionReset => "delayed_connect_error:_104",
            K::TimedOut => "delayed_connect_error:_110",
            K::HostUnreachable => "delayed_connect_error:_113",
            K::NetworkUnreachable => "delayed_connect_error:_101",
            K::AddrNotAvailable => "delayed_connect_error:_99",
            K::PermissionDenied => "delayed_connect_error:_13",
            _ => "delayed_connect_error",
        },
        UpstreamError::Tls(f) => tls_failure_reason(*f),
        _ => return None,
    })
}

fn tls_failure_reason(f: TlsFailure) -> &'static str {
    match f {
        TlsFailure::Untrusted => "TLS_error:_CERTIFICATE_VERIFY_FAILED",
        TlsFailure::WrongName => "TLS_error:_CERTIFICATE_VERIFY_FAILED:_name_mismatch",
        TlsFailure::Expired => "TLS_error:_CERTIFICATE_VERIFY_FAILED:_expired",
        TlsFailure::NoProtocol => "TLS_error:_NO_APPLICATION_PROTOCOL",
        TlsFailure::Alert => "TLS_error:_alert_received",
        TlsFailure::Closed => "TLS_error:_connection_closed_during_handshake",
        TlsFailure::Other => "TLS_error:_handshake_failure",
    }
}

/// The cluster's class counter for an upstream status.
fn upstream_class(status: u16) -> ClusterCounter {
    match status {
        100..=199 => ClusterCounter::UpstreamRq1xx,
        200..=299 => ClusterCounter::UpstreamRq2xx,
        300..=399 => ClusterCounter::UpstreamRq3xx,
        400..=499 => ClusterCounter::UpstreamRq4xx,
        _ => ClusterCounter::UpstreamRq5xx,
    }
}

impl Drop for SessionTap {
    fn drop(&mut self) {
        self.request_end();
        if !self.connection {
            return;
        }
        self.worker.active.set(self.worker.active.get() - 1);
        let l = &self.worker.tap.stats.listeners[self.ctx.index];
        l.gauge(ListenerGauge::DownstreamCxActive).dec();
        if let Some(g) = self.protocol_active {
            l.gauge(g).dec();
        }
        l.inc(ListenerCounter::DownstreamCxDestroy);
        l.cx_length.record(self.opened.elapsed().as_micros() as u64);
    }
}
