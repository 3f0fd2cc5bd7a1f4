//! HTTP/2 to upstreams, per worker: each worker keeps its own client
//! connections (the `h2` crate's, over monoio-compat or `net::tls_poll`), one
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
//! - Nothing is shared across workers or locked by ringway (`h2`'s own handles
//!   lock internally, uncontended: one thread).

pub mod head;
pub mod stream;

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::poll_fn,
    net::SocketAddr,
    rc::Rc,
    task::{Poll, Waker},
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::client::SendRequest;

pub use stream::{DetachedBody, H2Stream};

use super::{connect::UpstreamConn, UpstreamError};
use crate::{codec::limits::MAX_RESPONSE_HEADER_BYTES, config::UpstreamHttp2};

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
    waiters: RefCell<Vec<Waker>>,
}

impl Opening {
    /// Until the connection is open (or failed).
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
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
        for w in self.opening.waiters.borrow_mut().drain(..) {
            w.wake();
        }
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

    /// A stream on a connection to `addr` with room for one, if any.
    pub fn checkout(&mut self, addr: SocketAddr) -> Option<H2Stream> {
        let list = self.conns.get_mut(&addr)?;
        list.retain(|c| !c.state.closed.get());
        let max = self.settings.max_concurrent_streams;
        let i = list.iter().position(|c| c.has_room(max))?;
        let stream = Self::take_stream(&mut list[i], addr);
        if self.max_requests.is_some_and(|m| list[i].started >= m) {
            // Its last stream: it closes once that one is done.
            list.swap_remove(i);
        }
        Some(stream)
    }

    fn take_stream(conn: &mut H2Conn, addr: SocketAddr) -> H2Stream {
        conn.started += 1;
        conn.idle_since = Instant::now();
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
        let mut conn = H2Conn {
            send: opened.send,
            state: opened.state,
            https: opened.https,
            started: 0,
            idle_since: Instant::now(),
        };
        let stream = Self::take_stream(&mut conn, addr);
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

/// Speak HTTP/2 over `conn` (just connected): the handshake, a task that
/// drives the connection until it ends, and a PING round trip (so the peer's
/// SETTINGS are in), all within `timeout`.
pub async fn open(
    conn: UpstreamConn,
    settings: &UpstreamHttp2,
    timeout: Duration,
) -> Result<Opened, UpstreamError> {
    let https = conn.is_tls();
    let local = conn.local_addr();
    let builder = builder(settings);
    let started = match conn {
        UpstreamConn::Plain(tcp) => {
            start(builder, crate::net::poll_io::PollIo::new(tcp), local).await
        }
        UpstreamConn::Tls(tls) => {
            let (tcp, session) = tls.into_parts();
            let io = crate::net::tls_poll::TlsIo::new(tcp, session);
            start(builder, io, local).await
        }
        UpstreamConn::H2(_) => return Err(UpstreamError::Reset),
    };
    let (send, state, mut ping) = started?;
    match monoio::time::timeout(timeout, ping.ping(h2::Ping::opaque())).await {
        Ok(Ok(_)) => Ok(Opened { send, state, https }),
        Ok(Err(_)) => Err(UpstreamError::Reset),
        Err(_) => Err(UpstreamError::ConnectTimeout),
    }
}

fn builder(settings: &UpstreamHttp2) -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(settings.initial_stream_window_size)
        .initial_connection_window_size(settings.initial_connection_window_size)
        .max_header_list_size(MAX_RESPONSE_HEADER_BYTES as u32);
    b
}

type Started = (SendRequest<Bytes>, Rc<ConnState>, h2::PingPong);

async fn start<T>(
    builder: h2::client::Builder,
    io: T,
    local: Option<SocketAddr>,
) -> Result<Started, UpstreamError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let (send, mut conn) = builder
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|_| UpstreamError::Reset)?;
    let ping = conn.ping_pong().ok_or(UpstreamError::Reset)?;
    let state = Rc::new(ConnState {
        local,
        ..ConnState::default()
    });
    let task_state = state.clone();
    monoio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "HTTP/2 upstream connection ended");
        }
        task_state.closed.set(true);
    });
    Ok((send, state, ping))
}
