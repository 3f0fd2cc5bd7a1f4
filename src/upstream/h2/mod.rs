//! HTTP/2 to upstreams, per worker: each worker keeps its own client
//! connections (the `h2` crate's, over `net::poll_io` or `net::tls_poll`), one
//! monoio task driving each, and hands out streams on them as
//! `UpstreamConn::H2` (`stream.rs`), which the exchange reads and writes as
//! HTTP/1.1 bytes like any other upstream connection.
//!
//! Invariants:
//! - A connection carries at most `min(max_concurrent_streams, the peer's
//!   SETTINGS_MAX_CONCURRENT_STREAMS)` streams; past that a request opens
//!   another connection. The peer's SETTINGS are known before a new connection
//!   takes its first stream: a PING round trip follows the handshake, and a
//!   server's SETTINGS come before its PONG.
//! - A connection that said GOAWAY, failed, or carried
//!   `max_requests_per_connection` streams takes no new stream; its streams in
//!   flight finish, and it closes once the last handle is dropped.
//! - While a connection to a host is being opened, other requests to that host
//!   wait for it (up to the connect timeout) rather than open their own, so a
//!   burst of requests on a cold worker shares one connection, as in Envoy.
//! - With `http2.keepalive`, the task driving a connection PINGs it every
//!   (jittered) interval, and before a new stream on a connection that has
//!   received nothing for `idle_interval` (that stream waits for the answer,
//!   and is replayed on a new connection if none comes); it drops the
//!   connection when nothing arrives within the timeout after a PING: its
//!   streams fail, it takes no new one, and the cluster's
//!   `http2.keepalive_timeout` counts it (its socket's close counts in
//!   `upstream_cx_destroy`, as every close does).
//! - Nothing is shared across workers or locked by ringway (`h2`'s own handles
//!   lock internally, uncontended: one thread).

pub mod head;
pub mod stream;

use std::{
    cell::Cell,
    collections::HashMap,
    future::{poll_fn, Future},
    net::SocketAddr,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::client::SendRequest;

pub use stream::{DetachedBody, H2Stream};

use super::{connect::UpstreamConn, UpstreamError};
use crate::{
    codec::limits::MAX_RESPONSE_HEADER_BYTES,
    config::{H2Keepalive, UpstreamHttp2},
    prim::{rng::Rng, WaitList},
    stats::{names::ClusterCounter, ClusterStats},
};

/// What a connection and its streams share.
#[derive(Default)]
pub struct ConnState {
    /// Streams handed out and not yet dropped.
    pub in_flight: Cell<u32>,
    /// Takes no new stream (GOAWAY, an error, the connection task ended).
    pub closed: Cell<bool>,
    /// The connection's own address (`%UPSTREAM_LOCAL_ADDRESS%`), read once
    /// as it opens: its socket moves into `h2`, out of reach afterwards.
    pub local: Option<SocketAddr>,
    /// With `http2.keepalive`: what its task and its streams know of the
    /// peer's liveness.
    liveness: Option<Liveness>,
}

/// A connection's keepalive state, between the task that PINGs and the
/// streams that may ask for a PING (`idle_interval`).
struct Liveness {
    /// When bytes last arrived.
    heard: Rc<Cell<Instant>>,
    /// A PING before a new stream when nothing arrived for this long.
    idle: Option<Duration>,
    /// PONGs so far: a stream waiting on a PING waits for this to move.
    pongs: Cell<u64>,
    /// A PING is out, its PONG awaited.
    outstanding: Cell<bool>,
    /// A stream asked for a PING.
    wanted: Cell<bool>,
    /// The connection task's waker, to send that PING.
    task: Cell<Option<Waker>>,
    /// Streams waiting for a PONG (or for the connection's end).
    waiters: WaitList,
}

impl ConnState {
    /// Before a new stream: when the connection has received nothing for the
    /// keepalive's `idle_interval`, a PING, and its answer (false: the
    /// connection died or closed meanwhile; the stream was never sent). As
    /// Envoy, an outstanding PING serves and no second one is sent.
    pub async fn alive_if_idle(&self) -> bool {
        let Some(l) = &self.liveness else {
            return true;
        };
        if l.idle.is_none_or(|idle| l.heard.get().elapsed() < idle) {
            return true;
        }
        let seen = l.pongs.get();
        if !l.outstanding.get() {
            l.wanted.set(true);
            if let Some(w) = l.task.take() {
                w.wake();
            }
        }
        poll_fn(|cx| {
            if self.closed.get() {
                Poll::Ready(false)
            } else if l.pongs.get() != seen {
                Poll::Ready(true)
            } else {
                l.waiters.register(cx);
                Poll::Pending
            }
        })
        .await
    }
}

struct H2Conn {
    send: SendRequest<Bytes>,
    state: Rc<ConnState>,
    https: bool,
    /// Streams started on it.
    started: u32,
    /// When it last had no stream in flight (for the idle timeout).
    idle_since: Instant,
}

impl H2Conn {
    fn has_room(&self, max_streams: u32) -> bool {
        let peer = u32::try_from(self.send.current_max_send_streams()).unwrap_or(u32::MAX);
        !self.state.closed.get() && self.state.in_flight.get() < max_streams.min(peer)
    }
}

/// A connection being opened: the requests waiting for it.
#[derive(Default)]
pub struct Opening {
    done: Cell<bool>,
    waiters: WaitList,
}

impl Opening {
    /// Until the connection is open (or failed).
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                self.waiters.register(cx);
                Poll::Pending
            }
        })
        .await
    }
}

/// Held by the request opening a connection; dropped (whatever the outcome),
/// it lets the waiting requests look again.
pub struct OpeningGuard {
    opening: Rc<Opening>,
}

impl Drop for OpeningGuard {
    fn drop(&mut self) {
        self.opening.done.set(true);
        self.opening.waiters.wake_all();
    }
}

/// One worker's HTTP/2 connections to one cluster's hosts.
pub struct H2Pool {
    conns: HashMap<SocketAddr, Vec<H2Conn>>,
    opening: HashMap<SocketAddr, Rc<Opening>>,
    settings: UpstreamHttp2,
    max_requests: Option<u32>,
    idle_timeout: Duration,
}

impl H2Pool {
    pub fn new(settings: UpstreamHttp2, max_requests: Option<u32>, idle_timeout: Duration) -> Self {
        H2Pool {
            conns: HashMap::new(),
            opening: HashMap::new(),
            settings,
            max_requests,
            idle_timeout,
        }
    }

    /// A stream on a connection to `addr` with room for one, if any, taken at
    /// `now` (the request's moment).
    pub fn checkout(&mut self, addr: SocketAddr, now: Instant) -> Option<H2Stream> {
        let list = self.conns.get_mut(&addr)?;
        list.retain(|c| !c.state.closed.get());
        let max = self.settings.max_concurrent_streams;
        let i = list.iter().position(|c| c.has_room(max))?;
        let stream = Self::take_stream(&mut list[i], addr, now);
        if self.max_requests.is_some_and(|m| list[i].started >= m) {
            // Its last stream: it closes once that one is done.
            list.swap_remove(i);
        }
        Some(stream)
    }

    fn take_stream(conn: &mut H2Conn, addr: SocketAddr, now: Instant) -> H2Stream {
        conn.started += 1;
        conn.idle_since = now;
        conn.state.in_flight.set(conn.state.in_flight.get() + 1);
        H2Stream::new(conn.send.clone(), conn.state.clone(), conn.https, addr)
    }

    /// The connection to `addr` being opened, if one is.
    pub fn opening(&mut self, addr: SocketAddr) -> Option<Rc<Opening>> {
        let o = self.opening.get(&addr)?;
        if o.done.get() {
            self.opening.remove(&addr);
            return None;
        }
        Some(o.clone())
    }

    /// A connection to `addr` is about to be opened.
    pub fn begin_opening(&mut self, addr: SocketAddr) -> OpeningGuard {
        let opening = Rc::new(Opening::default());
        self.opening.insert(addr, opening.clone());
        OpeningGuard { opening }
    }

    /// Whether a request to `addr` would find room without connecting.
    pub fn has_room(&self, addr: SocketAddr) -> bool {
        let max = self.settings.max_concurrent_streams;
        self.conns
            .get(&addr)
            .is_some_and(|l| l.iter().any(|c| c.has_room(max)))
    }

    /// Keep a new connection and take its first stream.
    pub fn insert(&mut self, addr: SocketAddr, opened: Opened) -> H2Stream {
        let now = Instant::now();
        let mut conn = H2Conn {
            send: opened.send,
            state: opened.state,
            https: opened.https,
            started: 0,
            idle_since: now,
        };
        let stream = Self::take_stream(&mut conn, addr, now);
        if self.max_requests.is_none_or(|m| conn.started < m) {
            self.conns.entry(addr).or_default().push(conn);
        }
        stream
    }

    /// Drop connections that closed, and those idle past the idle timeout;
    /// forget finished openings (else DNS churn leaves one per address).
    pub fn sweep(&mut self) {
        self.opening.retain(|_, o| !o.done.get());
        let now = Instant::now();
        for list in self.conns.values_mut() {
            for c in list.iter_mut() {
                if c.state.in_flight.get() > 0 {
                    c.idle_since = now;
                }
            }
            list.retain(|c| {
                !c.state.closed.get() && now.duration_since(c.idle_since) < self.idle_timeout
            });
        }
        self.conns.retain(|_, l| !l.is_empty());
    }

    pub fn retain_hosts(&mut self, keep: impl Fn(&SocketAddr) -> bool) {
        self.conns.retain(|addr, _| keep(addr));
        self.opening.retain(|addr, o| keep(addr) && !o.done.get());
    }

    /// Connections without a stream in flight, per host.
    pub fn idle_per_host(&self, mut f: impl FnMut(SocketAddr, usize)) {
        for (addr, list) in &self.conns {
            f(
                *addr,
                list.iter().filter(|c| c.state.in_flight.get() == 0).count(),
            );
        }
    }

    pub fn connections(&self) -> usize {
        self.conns.values().map(Vec::len).sum()
    }
}

/// A connection that has shaken hands and learnt the peer's settings.
pub struct Opened {
    send: SendRequest<Bytes>,
    state: Rc<ConnState>,
    https: bool,
}

/// Speak HTTP/2 over `conn` (just connected): the handshake and a PING round
/// trip (so the peer's SETTINGS are in) within `timeout`, then a task that
/// drives the connection, and its keepalive PINGs, until it ends.
pub async fn open(
    conn: UpstreamConn,
    settings: &UpstreamHttp2,
    timeout: Duration,
    stats: &Arc<ClusterStats>,
) -> Result<Opened, UpstreamError> {
    let https = conn.is_tls();
    let local = conn.local_addr();
    let start = Start {
        builder: builder(settings),
        local,
        timeout,
        keepalive: settings.keepalive,
        stats: stats.clone(),
    };
    let (send, state) = match conn {
        UpstreamConn::Plain(tcp) => start.run(crate::net::poll_io::PollIo::new(tcp)).await?,
        UpstreamConn::Tls(tls) => {
            let (tcp, session) = tls.into_parts();
            start
                .run(crate::net::tls_poll::TlsIo::new(tcp, session))
                .await?
        }
        UpstreamConn::H2(_) => return Err(UpstreamError::Reset),
    };
    Ok(Opened { send, state, https })
}

fn builder(settings: &UpstreamHttp2) -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(settings.initial_stream_window_size)
        .initial_connection_window_size(settings.initial_connection_window_size)
        .max_header_list_size(MAX_RESPONSE_HEADER_BYTES as u32);
    b
}

struct Start {
    builder: h2::client::Builder,
    local: Option<SocketAddr>,
    timeout: Duration,
    keepalive: Option<H2Keepalive>,
    stats: Arc<ClusterStats>,
}

impl Start {
    async fn run<T>(self, io: T) -> Result<(SendRequest<Bytes>, Rc<ConnState>), UpstreamError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let heard = Rc::new(Cell::new(Instant::now()));
        let io = Heard {
            io,
            at: heard.clone(),
            listening: self.keepalive.is_some(),
        };
        let handshake = async {
            let (send, mut conn) = self
                .builder
                .handshake::<_, Bytes>(io)
                .await
                .map_err(|_| UpstreamError::Reset)?;
            let mut ping = conn.ping_pong().ok_or(UpstreamError::Reset)?;
            ping.send_ping(h2::Ping::opaque())
                .map_err(|_| UpstreamError::Reset)?;
            // Driven here until the PONG: no task yet to drive it.
            poll_fn(|cx| {
                if let Poll::Ready(r) = ping.poll_pong(cx) {
                    return Poll::Ready(r.map_err(|_| UpstreamError::Reset));
                }
                match Pin::new(&mut conn).poll(cx) {
                    Poll::Ready(_) => Poll::Ready(Err(UpstreamError::Reset)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await?;
            Ok((send, conn, ping))
        };
        let (send, conn, ping) = match monoio::time::timeout(self.timeout, handshake).await {
            Ok(done) => done?,
            Err(_) => return Err(UpstreamError::ConnectTimeout),
        };
        let state = Rc::new(ConnState {
            local: self.local,
            liveness: self.keepalive.map(|k| Liveness {
                heard,
                idle: k.idle_interval,
                pongs: Cell::new(0),
                outstanding: Cell::new(false),
                wanted: Cell::new(false),
                task: Cell::new(None),
                waiters: WaitList::default(),
            }),
            ..ConnState::default()
        });
        let task_state = state.clone();
        let (keepalive, stats) = (self.keepalive, self.stats);
        monoio::spawn(async move {
            let ended = match keepalive {
                None => Ended::Closed(conn.await),
                Some(k) => drive_with_keepalive(conn, ping, k, &task_state).await,
            };
            match ended {
                Ended::Closed(Ok(())) => {}
                Ended::Closed(Err(e)) => {
                    tracing::debug!(error = %e, "HTTP/2 upstream connection ended")
                }
                Ended::Dead => {
                    stats.inc(ClusterCounter::Http2KeepaliveTimeout);
                    tracing::debug!(
                        "HTTP/2 upstream connection closed: no answer to a keepalive PING"
                    );
                }
            }
            // The connection (dropped by now, with its socket) takes no new stream.
            task_state.closed.set(true);
            if let Some(l) = &task_state.liveness {
                l.waiters.wake_all();
            }
        });
        Ok((send, state))
    }
}

/// How a connection's task ended.
enum Ended {
    /// `h2` finished it (both sides done, GOAWAY, an error).
    Closed(Result<(), h2::Error>),
    /// Nothing arrived within the keepalive timeout after a PING: dropped
    /// (its streams fail, its socket closes).
    Dead,
}

async fn drive_with_keepalive<T>(
    mut conn: h2::client::Connection<T, Bytes>,
    mut ping: h2::PingPong,
    keepalive: H2Keepalive,
    state: &ConnState,
) -> Ended
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(liveness) = &state.liveness else {
        return Ended::Closed(conn.await);
    };
    let mut rng = Rng::new(Rng::random_seed(0));
    let watch = watch(&mut ping, keepalive, liveness, &mut rng);
    let mut watch = std::pin::pin!(watch);
    poll_fn(|cx| {
        if let Poll::Ready(r) = Pin::new(&mut conn).poll(cx) {
            return Poll::Ready(Ended::Closed(r));
        }
        match watch.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ended::Dead),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A PING every jittered `interval`, and whenever a stream asks for one
/// (`idle_interval`); returns when nothing (a PONG or any other frame:
/// Envoy's rule, so a busy connection's queued PONG does not count against
/// it) arrived within `timeout` of one. Never returns once `h2` refuses PINGs
/// (the connection is closing: `h2` ends it).
async fn watch(ping: &mut h2::PingPong, k: H2Keepalive, l: &Liveness, rng: &mut Rng) {
    loop {
        let sleep = k.interval.map(|i| monoio::time::sleep(jittered(i, k, rng)));
        let mut sleep = std::pin::pin!(sleep);
        poll_fn(|cx| {
            if l.wanted.get() {
                return Poll::Ready(());
            }
            if let Some(s) = sleep.as_mut().as_pin_mut() {
                if s.poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            l.task.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        l.wanted.set(false);
        if ping.send_ping(h2::Ping::opaque()).is_err() {
            return std::future::pending().await;
        }
        l.outstanding.set(true);
        let sent = Instant::now();
        loop {
            let deadline = l.heard.get().max(sent) + k.timeout;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match monoio::time::timeout(left, poll_fn(|cx| ping.poll_pong(cx))).await {
                Ok(Ok(_)) => break,
                Ok(Err(_)) => return std::future::pending().await,
                // Something else may have arrived meanwhile: look again.
                Err(_) => {}
            }
        }
        l.outstanding.set(false);
        l.pongs.set(l.pongs.get() + 1);
        l.waiters.wake_all();
    }
}

/// `interval` plus up to `interval_jitter_bp` of it, at random.
fn jittered(interval: Duration, k: H2Keepalive, rng: &mut Rng) -> Duration {
    let max = interval.as_nanos() * u128::from(k.interval_jitter_bp) / 10_000;
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    let extra = if max == 0 {
        0
    } else {
        rng.below(max.saturating_add(1))
    };
    interval + Duration::from_nanos(extra)
}

/// The connection's socket, noting when bytes last arrived (for the
/// keepalive: any frame proves the peer alive).
struct Heard<T> {
    io: T,
    at: Rc<Cell<Instant>>,
    /// Only a connection with keepalives looks at `at`: without them no
    /// read pays for a clock read.
    listening: bool,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Heard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if self.listening && matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.at.set(Instant::now());
        }
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Heard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_jitter_stays_within_its_share_of_the_interval() {
        let mut rng = Rng::new(7);
        let k = H2Keepalive {
            interval: Some(Duration::from_millis(1000)),
            timeout: Duration::from_millis(100),
            interval_jitter_bp: 1500,
            idle_interval: None,
        };
        let second = Duration::from_secs(1);
        for _ in 0..1000 {
            let d = jittered(second, k, &mut rng);
            assert!(d >= second && d <= Duration::from_millis(1150), "{d:?}");
        }
        let none = H2Keepalive {
            interval_jitter_bp: 0,
            ..k
        };
        assert_eq!(jittered(second, none, &mut rng), second);
    }
}
