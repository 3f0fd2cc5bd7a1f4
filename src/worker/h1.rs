//! One HTTP/1.1 client connection, from accept to close: wait for a request,
//! read its head, hand it to the exchange, and repeat while both sides keep
//! the connection alive. Also the HTTP/1.1 side of `Downstream`: reading the
//! request body, framing responses for this client, writing local replies,
//! closing with a linger.
//!
//! Requests on a connection are handled strictly in order, which is what makes
//! pipelining correct: the next head is not parsed until the previous response
//! is fully written. Bodies stream through the fixed-size read buffers; no stage
//! holds a whole body. An idle connection waits for readability with no buffer.
//!
//! Hot and cold: between requests a plain-TCP connection on an io_uring worker
//! that has served two requests already keeps its read buffer and waits in a
//! read straight into it (*hot*): one
//! RECV, where a readiness wait then a read are two io_uring ops. Idle through
//! a whole `IdleParking` tick (100–200 ms), it *cools*: the read is cancelled
//! and awaited to its end (a request that raced the cancel is served, never
//! lost), the buffers go back to the pool, and it waits for readability as an
//! idle connection always has, holding none. On epoll a direct read would add
//! a syscall, and TLS reads go through rustls: those always wait cold.

use std::{future::Future, net::SocketAddr, rc::Rc, time::Instant};

use bytes::{Buf, BytesMut};
use monoio::io::CancelableAsyncReadRent;

use super::{
    downstream::{
        ClientGone, Downstream, HeadView, RequestBodyError, RequestView, ResponseView, Step,
    },
    exchange::{self, Env},
    idle_parking::{Park, ReadableOrUnparked, Unparked},
    io::{flush, read_more, spare_of, ReadError, Wait, WRITE_TIMEOUT},
    local_reply::{AfterReply, Liveness, LocalReply},
    pace::BodyPace,
    relay::{
        relay_body, relay_body_spliced, splice_length, tunnel, tunnel_one_task, Delivered,
        ReadPace, RelayError, Sink, Source, SourceFault,
    },
    tap::{CxProtocol, SessionTap},
    ExchangeBuffers, H1Scratch, Held, ListenerCtx, Worker,
};
use crate::{
    codec::{
        body::{BodyDecoder, BodyEncoder},
        encode::{encode_response, local_reply, ConnectionHeader, ResponsePlan, Scheme},
        limits::READ_CHUNK,
        request::{parse_request, Method, Parsed, RequestHead},
        BodyFraming, CodecError, Version,
    },
    net::{transport::Transport, IoDriver},
    stats::names::WorkerCounter,
    upstream::connect::UpstreamConn,
};

/// A head still without its end may run this far past the URI limit before
/// its request line must have ended (room for the method and version).
const REQUEST_LINE_SLACK: usize = 32;

/// A partial head up to this size waits for more bytes without a read buffer
/// (`Client::park_partial_head`); a larger one keeps its buffer (copying it per
/// wait would cost more than the memory saved).
const PARKED_HEAD_MAX: usize = 4 * 1024;
/// After an error reply, what the client still sends is read and dropped for
/// at most this long…
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
/// …or this many bytes, whichever comes first.
const LINGER_BYTES: usize = 256 * 1024;

/// The client side of the connection: its socket, read buffer, and the
/// vectors its heads are indexed into.
struct Client<S> {
    stream: S,
    /// Held while a request is in flight (`Connection::acquire_buffers`),
    /// with the read buffer (`H1Scratch::buf`), and while the connection waits
    /// hot for the next one (module docs): an idle connection, once cooled,
    /// holds neither.
    scratch: Held<H1Scratch>,
    /// Also the connection's listener, peer, TLS session, when it was accepted
    /// (for `max_connection_duration`) and the requests it has answered: one
    /// copy of each per connection.
    tap: SessionTap,
}

pub struct Connection<S> {
    client: Client<S>,
    /// Held while a request is in flight, like `Client::scratch`.
    exchange: Held<ExchangeBuffers>,
}

/// A connection just accepted, counted from this moment (`Worker::active`,
/// the listener's connection stats: its tap counts it) whichever protocol
/// then serves it.
pub(super) struct Accepted {
    pub(super) worker: Rc<Worker>,
    pub(super) listener: Rc<ListenerCtx>,
    pub(super) peer: SocketAddr,
    pub(super) tap: SessionTap,
}

impl Accepted {
    pub(super) fn open(
        worker: Rc<Worker>,
        listener: Rc<ListenerCtx>,
        peer: SocketAddr,
        tls: Option<crate::net::tls::TlsInfo>,
        local: impl FnOnce() -> Option<SocketAddr>,
    ) -> Accepted {
        let mut tap = SessionTap::open(&worker, listener.clone(), peer);
        if let Some(info) = tls {
            tap.set_tls(info);
        }
        if tap.wants_local_address() {
            tap.set_local(local());
        }
        Accepted {
            worker,
            listener,
            peer,
            tap,
        }
    }
}

/// Serve one accepted connection. Not itself `async`: the returned future is
/// the connection's own, with no outer frame keeping a second copy of its state.
pub fn serve<S: Transport + 'static>(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    stream: S,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    let tls = stream.tls();
    serve_accepted(
        Accepted::open(worker, listener, peer, tls, || stream.local_address()),
        stream,
        BytesMut::new(),
    )
}

/// Serve a counted connection; `read`: its first bytes, when they were read
/// to tell HTTP/1.1 from HTTP/2 (else empty).
pub(super) fn serve_accepted<S: Transport + 'static>(
    accepted: Accepted,
    stream: S,
    read: BytesMut,
) -> impl std::future::Future<Output = ()> {
    let Accepted {
        worker: _,
        listener: _,
        peer: _,
        mut tap,
    } = accepted;
    tap.connection_protocol(CxProtocol::Http1);
    let mut conn = Connection {
        client: Client {
            tap,
            scratch: Held::default(),
            stream,
        },
        exchange: Held::default(),
    };
    if read.capacity() > 0 {
        // The bytes read to tell HTTP/1.1 from HTTP/2: the first request's
        // (in their own buffer: no second one is taken for them).
        conn.take_scratch();
        conn.client.scratch.get().buf = read;
    }
    // An `async move` block owns the connection once; an `async fn` taking it
    // by value would keep a second copy of it in the task (rustc's layout of
    // by-value arguments), doubling what every idle connection costs.
    async move {
        // The run is written out here rather than awaited as an `async fn` of
        // the connection: one frame less in every connection's task.
        let upstream = loop {
            if conn.client.buf_is_empty() {
                // Hot: the wait holds the buffer, in a recycled slot.
                let cooled = if conn.waits_hot() {
                    match conn.wait_hot().await {
                        HotWait::Arrived => None,
                        HotWait::Cooled(park) => Some(park),
                        HotWait::Closed => break None,
                    }
                } else {
                    None
                };
                // Idle: wait here, in the task's own small state, holding no buffer.
                if conn.client.buf_is_empty()
                    && !matches!(conn.wait_for_request(cooled).await, Ok(Ok(())))
                {
                    break None;
                }
            }
            match conn.serve_request().await {
                Some(Served::KeepAlive) => continue,
                Some(Served::Tunnel(upstream)) => break Some(upstream),
                None => break None,
            }
        };
        // Boxed: rare, and it would otherwise size every connection's task.
        // (A `match`, not `if let`: the run's result must not outlive it.)
        let tunnel = match upstream {
            Some(upstream) => into_tunnel(conn, upstream),
            None => {
                conn.release_buffers();
                return;
            }
        };
        tunnel.await;
    }
}

/// The connection after a 101: bytes both ways until either side closes.
fn into_tunnel<S: Transport + 'static>(
    mut conn: Connection<S>,
    upstream: UpstreamConn,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    let client_rest = std::mem::take(&mut conn.client.scratch.get().buf);
    let up_rest = std::mem::take(&mut conn.exchange.get().up_buf);
    let idle = conn.client.tap.ctx().config.idle_timeout;
    Box::pin(async move {
        if conn.client.tap.is_tls() || upstream.is_tls() {
            // One session per TLS connection: the tunnel cannot be split.
            let client = conn.client.stream;
            tunnel_one_task(client, client_rest, upstream, up_rest, idle).await;
        } else if let (Some(client), Some(upstream)) =
            (conn.client.stream.into_tunnel(), upstream.into_tunnel())
        {
            tunnel(client, client_rest, upstream, up_rest, idle).await;
        }
    })
}

/// Requests a connection serves before its waits go hot (`waits_hot`).
const HOT_AFTER: u32 = 2;

/// How a hot wait for the next request ended.
enum HotWait {
    /// The request's first bytes are in the read buffer.
    Arrived,
    /// Idle through a whole tick: the buffers are back in the pool, and the
    /// connection waits on, cold, in this parking (its deadline unchanged).
    Cooled(Park),
    /// Idle timeout, drain, end of stream or an error, with nothing read: close.
    Closed,
}

/// A request served, and the connection goes on.
enum Served {
    KeepAlive,
    /// A 101 was relayed.
    Tunnel(UpstreamConn),
}

impl<S: Transport> Connection<S> {
    /// Serve one request whose first bytes have arrived, and close if it ends
    /// the connection (`None`).
    async fn serve_request(&mut self) -> Option<Served> {
        let linger = {
            // Busy: the request's larger state lives in a recycled slot. The
            // step is matched in a block of its own, so it is not kept across
            // the awaits below.
            let worker = self.client.tap.worker().clone();
            let step = worker.futures.recycle(self.next_request()).await;
            let ended = self.client.tap.request_end();
            match step {
                Step::KeepAlive => {
                    self.client.tap.served_one();
                    if let Some(scratch) = self.client.scratch.0.as_deref_mut() {
                        scratch.ended = ended;
                    }
                    return Some(Served::KeepAlive);
                }
                Step::Tunnel(upstream) => return Some(Served::Tunnel(upstream)),
                Step::Close => false,
                Step::LingerClose => true,
            }
        };
        if linger {
            // Boxed: error paths only.
            Box::pin(self.client.linger_close()).await;
        } else if self.client.tap.is_tls() {
            // Bounded: a peer that stopped reading cannot hold us here.
            // Boxed: TLS only.
            let notify = self.client.stream.close_gracefully();
            let _ = Box::pin(monoio::time::timeout(LINGER_TIME, notify)).await;
        }
        None
    }

    fn acquire_buffers(&mut self) {
        self.take_scratch();
        let worker = self.client.tap.worker();
        let buf = &mut self.client.scratch.get().buf;
        if buf.capacity() == 0 {
            *buf = worker.take_buffer();
        }
    }

    /// The scratch boxes, from the worker's pool, unless held already.
    fn take_scratch(&mut self) {
        if self.client.scratch.0.is_none() {
            let s = self.client.tap.worker().take_scratch();
            self.client.scratch = Held(Some(s.h1));
            // Taken and released together: both or neither are held.
            if self.exchange.0.is_none() {
                self.exchange = Held(Some(s.exchange));
            }
        }
    }

    /// Give idle buffers back to the worker so a parked connection holds none:
    /// the read buffers, and the scratch vectors that grow to a message's size
    /// (with their boxes: an idle connection keeps a word for each).
    fn release_buffers(&mut self) {
        let idle = match (&self.client.scratch.0, &self.exchange.0) {
            (Some(h1), Some(ex)) => h1.buf.is_empty() && h1.out.is_empty() && ex.up_buf.is_empty(),
            _ => false,
        };
        if !idle {
            return;
        }
        if let (Some(mut h1), Some(exchange)) =
            (self.client.scratch.0.take(), self.exchange.0.take())
        {
            // A moment of this connection's means nothing to the next one's;
            // nor does its canceller (pooled scratch holds none).
            h1.ended = None;
            h1.canceller = None;
            self.client
                .tap
                .worker()
                .give_scratch(super::Scratch { h1, exchange });
        }
    }

    /// Give the idle buffers back, then wait for the next request's first
    /// byte; `Ok(Ok(()))`: it came; else close (idle timeout, drain, EOF). Not
    /// `async`: the wait itself is the whole of an idle connection's waiting
    /// state, with no frame around it. `cooled`: the parking of a hot wait
    /// that cooled (its buffers are back already), to wait on in.
    fn wait_for_request(
        &mut self,
        cooled: Option<Park>,
    ) -> ReadableOrUnparked<impl std::future::Future<Output = std::io::Result<()>> + '_> {
        let park = match cooled {
            Some(park) => park,
            None => {
                let deadline = self.idle_deadline();
                self.release_buffers();
                self.client.tap.ctx().drain.park(deadline)
            }
        };
        park.or_readable(self.client.stream.wait_readable())
    }

    /// When the wait for the next request gives up. Idle since the last
    /// request ended (taken before the scratch goes back to the pool), or
    /// since now. The deadline is kept by the worker's tick (see `drain`), so
    /// a parked connection holds no timer of its own.
    fn idle_deadline(&mut self) -> Instant {
        let since = self
            .client
            .scratch
            .0
            .as_deref_mut()
            .and_then(|s| s.ended.take());
        let config = &self.client.tap.ctx().config;
        let timeout = if self.client.tap.served() == 0 {
            config.request_headers_timeout
        } else {
            config.idle_timeout
        };
        let mut deadline = since.unwrap_or_else(Instant::now) + timeout;
        if let Some(max) = config.max_connection_duration {
            deadline = deadline.min(self.client.tap.opened() + max);
        }
        deadline
    }

    /// Whether the wait for the next request is hot (module docs): once the
    /// connection has served two requests (the first waits, and the one after
    /// the first request, wait cold: a client that sends one request and
    /// then idles, as most keep-alive pools' spare connections do, never
    /// holds a buffer through 100–200 ms of idleness), with the buffers still
    /// held, on a plain socket of an io_uring worker.
    fn waits_hot(&mut self) -> bool {
        self.client.tap.served() >= HOT_AFTER
            && self.client.scratch.0.is_some()
            && self.client.tap.worker().tap.stats.driver() == Some(IoDriver::Uring)
            && self.client.stream.plain_socket().is_some()
    }

    /// Wait hot for the next request. The wait's state (a read in flight and
    /// its buffer) lives in a recycled slot, as a request's does: an idle
    /// connection's task stays the size of a cold wait.
    async fn wait_hot(&mut self) -> HotWait {
        let worker = self.client.tap.worker().clone();
        worker.futures.recycle(self.read_hot()).await
    }

    /// A read of the next request into the spare capacity of the read buffer
    /// (as `read_more` appends), raced against a hot parking; read first, so a
    /// request that came as the parking woke is served. When the parking
    /// wins, the read is cancelled and then awaited: dropped in flight, it
    /// would take the buffer, and whatever the kernel had put in it, along.
    async fn read_hot(&mut self) -> HotWait {
        let deadline = self.idle_deadline();
        self.acquire_buffers();
        self.narrow_buffers();
        let mut park = self.client.tap.ctx().drain.park_hot(deadline);
        let (res, woke) = {
            let client = &mut self.client;
            let Some(socket) = client.stream.plain_socket() else {
                debug_assert!(false, "only a plain socket waits hot");
                return HotWait::Closed;
            };
            let scratch = client.scratch.get();
            // One per connection while it is hot: steady requests make none.
            let cancel = scratch
                .canceller
                .get_or_insert_with(monoio::io::Canceller::new)
                .handle();
            let spare = spare_of(&mut scratch.buf);
            let mut read = std::pin::pin!(socket.cancelable_read(spare, cancel));
            let raced = std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
                std::task::Poll::Ready(done) => std::task::Poll::Ready(Ok(done)),
                std::task::Poll::Pending => std::pin::Pin::new(&mut park).poll(cx).map(Err),
            })
            .await;
            let ((res, spare), woke) = match raced {
                Ok(done) => (done, None),
                Err(why) => {
                    let scratch = client.scratch.get();
                    // `cancel` hands back a fresh canceller (the one that
                    // cancelled stays cancelled).
                    scratch.canceller = scratch.canceller.take().map(|c| c.cancel());
                    (read.await, Some(why))
                }
            };
            client.scratch.get().buf = spare.into_inner();
            (res, woke)
        };
        match res {
            Ok(0) => HotWait::Closed,
            Ok(_) => HotWait::Arrived,
            Err(e)
                if woke == Some(Unparked::Cooled) && e.raw_os_error() == Some(libc::ECANCELED) =>
            {
                self.cool();
                HotWait::Cooled(park)
            }
            Err(_) => HotWait::Closed,
        }
    }

    /// Between the requests of a hot connection, an empty buffer widened
    /// for a large body goes back to the pool for a regular one, as every
    /// buffer does when a connection waits cold: the next response's first
    /// read then takes a regular buffer's worth, whose body bytes are copied
    /// behind the head (into a body-sized one it would take up to 64 KiB of
    /// body, all copied: 61k against 39k Ir per 64 KiB response, callgrind),
    /// and the wide buffer serves whichever request needs one next.
    fn narrow_buffers(&mut self) {
        let worker = self.client.tap.worker();
        let h1 = &mut self.client.scratch.get().buf;
        if h1.is_empty() && h1.capacity() > READ_CHUNK {
            worker.give_buffer(std::mem::replace(h1, worker.take_buffer()));
        }
        let up = &mut self.exchange.get().up_buf;
        if up.is_empty() && up.capacity() > READ_CHUNK {
            // An upstream read takes a regular one when it needs it.
            worker.give_buffer(std::mem::take(up));
        }
    }

    /// A hot connection idle through a whole tick: it holds no buffer nor
    /// canceller from now until its next request.
    fn cool(&mut self) {
        if let Some(scratch) = self.client.scratch.0.as_deref_mut() {
            scratch.canceller = None;
        }
        self.release_buffers();
        let worker = self.client.tap.worker();
        worker.tap.stats.inc(WorkerCounter::DownstreamCxCooled);
    }

    /// Serve the request whose first bytes have arrived.
    async fn next_request(&mut self) -> Step {
        // Each request uses the newest generation: its routes and clusters. The
        // generation is held (an `Rc`, no allocation) until the request ends.
        // The worker, as the request's own handle (the tap's is borrowed with
        // the client).
        let worker = self.client.tap.worker().clone();
        let gen = worker.generation();
        if gen.version != self.client.tap.ctx().version {
            match gen.listener(self.client.tap.ctx().id) {
                Some(l) => self.client.tap.listener_changed(l.clone()),
                // A reload removed this listener: it drains.
                None => return Step::Close,
            }
        }
        self.acquire_buffers();
        let head = match self.client.read_head(&worker).await {
            Ok(head) => head,
            Err(step) => return step,
        };
        let listener = self.client.tap.ctx().clone();
        let mut request = Request {
            head_pending: head.head_len,
            head,
            client: &mut self.client,
            keep_alive: false,
            continue_sent: false,
            responded: false,
            body_pace: None,
        };
        if let Some(reply) = request.screen() {
            return request.local_reply(reply).await;
        }
        if let Some(step) = request.buffer_body().await {
            return step;
        }
        let env = Env {
            worker: &worker,
            gen: &gen,
            listener: &listener,
        };
        exchange::run(&env, &mut request, self.exchange.get()).await
    }
}

impl<S: Transport> Client<S> {
    /// Nothing read and not consumed (nothing, when no buffer is held).
    fn buf_is_empty(&self) -> bool {
        self.scratch.0.as_ref().is_none_or(|s| s.buf.is_empty())
    }

    /// Read and parse the next request head; `Err`: the connection's next step
    /// (a bad or late head has been answered).
    async fn read_head(&mut self, worker: &Worker) -> Result<RequestHead, Step> {
        let started = Instant::now();
        self.scratch.get().started = started;
        let headers_deadline = started + self.tap.ctx().config.request_headers_timeout;
        let (deadline, late) =
            self.within_request_timeout(headers_deadline, LocalReply::HeadersTimeout);
        let limits = self.tap.ctx().config.limits;
        let mut saw_newline = self.scratch.get().buf.contains(&b'\n');
        // Whether the head is whole at `started` (below).
        let fresh = self.scratch.get().buf.is_empty();
        let mut reads = 0u32;
        let head = loop {
            let scratch = self.scratch.get();
            let parsed = parse_request(
                &scratch.buf,
                &limits,
                &mut scratch.headers,
                &mut scratch.tokens,
            );
            match parsed {
                Ok(Parsed::Complete(head)) => break head,
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(self.reply(LocalReply::BadRequest(e), None).await),
            }
            // Parse again only when the new bytes could end the head (a newline)
            // or trip a limit: re-parsing after every byte of a trickled head
            // would cost time quadratic in its size.
            loop {
                if !self.scratch.get().buf.is_empty()
                    && self.scratch.get().buf.len() <= PARKED_HEAD_MAX
                {
                    self.park_partial_head(worker, deadline, late).await?;
                }
                let from = self.scratch.get().buf.len().saturating_sub(3);
                match read_more(
                    &mut self.stream,
                    &mut self.scratch.get().buf,
                    Wait::Until(deadline),
                )
                .await
                {
                    Ok(0) | Err(ReadError::Io(_)) => return Err(Step::Close),
                    Ok(_) => reads += 1,
                    Err(ReadError::TimedOut) => {
                        // The buffer went with the cancelled read.
                        self.scratch.get().buf = BytesMut::new();
                        return Err(self.reply(late, None).await);
                    }
                }
                let fresh_newline = self.scratch.get().buf[from..].contains(&b'\n');
                saw_newline |= fresh_newline;
                if fresh_newline
                    || self.scratch.get().buf.len() > limits.max_header_bytes
                    || (!saw_newline
                        && self.scratch.get().buf.len() > limits.max_uri_bytes + REQUEST_LINE_SLACK)
                {
                    break;
                }
            }
        };
        // The head was whole at `started` if it was buffered already, or came
        // in the one read that readability announced (nothing awaited but
        // that read, which did not wait); a head that took more is whole now.
        let whole_at = if reads == 0 || (reads == 1 && fresh) {
            started
        } else {
            Instant::now()
        };
        let scratch = self.scratch.get();
        self.tap
            .request_start(&head, &scratch.headers, &scratch.buf, whole_at);
        Ok(head)
    }

    /// `deadline`, or the request's `request_timeout` deadline if that is
    /// earlier, with the reply each one gets.
    fn within_request_timeout(
        &self,
        deadline: Instant,
        reply: LocalReply<'static>,
    ) -> (Instant, LocalReply<'static>) {
        match self.request_deadline() {
            Some(whole) if whole <= deadline => (whole, LocalReply::RequestTimeout),
            _ => (deadline, reply),
        }
    }

    /// When the current request's head began to be read.
    fn started(&self) -> Instant {
        self.scratch
            .0
            .as_deref()
            .map_or_else(Instant::now, |s| s.started)
    }

    /// The whole request must have arrived by then (`request_timeout`).
    fn request_deadline(&self) -> Option<Instant> {
        let t = self.tap.ctx().config.request_timeout?;
        Some(self.started() + t)
    }

    /// A head that did not arrive in one read waits for its next bytes in an
    /// allocation of its own size, and the read buffer goes back to the worker's
    /// pool meanwhile: a client that trickles a head (or stalls in one) holds the
    /// bytes it sent, not a read buffer (issue 15: 16 KiB per partial head before,
    /// nginx 5.9). Only the slow path pays: one copy each way per wait.
    async fn park_partial_head(
        &mut self,
        worker: &Worker,
        deadline: Instant,
        late: LocalReply<'static>,
    ) -> Result<(), Step> {
        let parked = BytesMut::from(&self.scratch.get().buf[..]);
        worker.give_buffer(std::mem::replace(&mut self.scratch.get().buf, parked));
        let left = deadline.saturating_duration_since(Instant::now());
        match monoio::time::timeout(left, self.stream.wait_readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Step::Close),
            Err(_) => return Err(self.reply(late, None).await),
        }
        let mut buf = worker.take_buffer();
        buf.extend_from_slice(&self.scratch.get().buf);
        self.scratch.get().buf = buf;
        Ok(())
    }

    /// The connection has lived past `max_connection_duration`: it closes after
    /// the current response (with `connection: close`).
    fn past_max_duration(&self) -> bool {
        self.tap
            .ctx()
            .config
            .max_connection_duration
            .is_some_and(|max| self.tap.opened().elapsed() >= max)
    }

    /// The current request is the connection's `max_requests_per_connection`th.
    fn at_max_requests(&self) -> bool {
        self.tap
            .ctx()
            .config
            .max_requests_per_connection
            .is_some_and(|max| self.tap.served().saturating_add(1) >= max)
    }

    /// Whether the connection may stay open after the response to `head`.
    fn may_keep_alive(&self, head: &RequestHead) -> bool {
        head.keep_alive
            && !self.tap.ctx().drain.is_draining()
            && !self.past_max_duration()
            && !self.at_max_requests()
    }

    /// Send a reply of ringway's own to the request `head` (none: its head
    /// could not be read) and count it.
    async fn reply(&mut self, reply: LocalReply<'_>, head: Option<&RequestHead>) -> Step {
        // A pending request body would be read as the next request: close.
        let keep = reply.after() == AfterReply::MayKeepAlive
            && head.is_some_and(|h| h.framing == BodyFraming::None && self.may_keep_alive(h));
        let connection = match (keep, head.map(|h| h.version)) {
            (false, _) => ConnectionHeader::Close,
            (true, Some(Version::Http10)) => ConnectionHeader::KeepAlive,
            (true, _) => ConnectionHeader::Omit,
        };
        let head_only = head.is_some_and(|h| h.method == Method::Head);
        let out = &mut self.scratch.get().out;
        out.clear();
        let status = reply.status();
        let body_len = local_reply(
            status,
            reply,
            reply.extra_headers(),
            head_only,
            connection,
            out,
        );
        self.tap.local_reply(
            status,
            body_len,
            reply.counter(),
            reply.flag(),
            reply.details(),
        );
        if flush(&mut self.stream, out).await.is_err() {
            return Step::Close;
        }
        if keep {
            Step::KeepAlive
        } else if status >= 400 {
            Step::LingerClose
        } else {
            Step::Close
        }
    }

    /// Half-close, then discard what the client still sends for a moment, so the
    /// kernel does not answer unread bytes with a reset that destroys our response.
    async fn linger_close(&mut self) {
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0usize;
        let mut buf = std::mem::take(&mut self.scratch.get().buf);
        while discarded < LINGER_BYTES {
            buf.clear();
            match read_more(&mut self.stream, &mut buf, Wait::Until(deadline)).await {
                Ok(n) if n > 0 => discarded += n,
                _ => return,
            }
        }
    }
}

/// One request on the connection, as the exchange sees its client.
struct Request<'c, S> {
    client: &'c mut Client<S>,
    head: RequestHead,
    /// Bytes of the head still at the front of the read buffer.
    head_pending: usize,
    /// Decided when the response head is written.
    keep_alive: bool,
    /// `100 Continue` went out already (sent once, whoever asks first).
    continue_sent: bool,
    /// The response head has been written (or is about to go with the body):
    /// a timeout now can only cut the response short.
    responded: bool,
    /// When the body started (at buffering), for its deadlines.
    body_pace: Option<BodyPace>,
}

impl<S: Transport> Request<'_, S> {
    /// What the listener answers itself, before routing: a declared body over
    /// the limit, or its health-check path.
    fn screen(&mut self) -> Option<LocalReply<'static>> {
        let client = &mut *self.client;
        let max_body = client.tap.ctx().config.limits.max_body_bytes;
        if let (BodyFraming::Length(n), Some(max)) = (self.head.framing, max_body) {
            if n > max {
                return Some(LocalReply::BadRequest(CodecError::BodyTooLarge));
            }
        }
        let live = client
            .tap
            .health_check(self.head.path(&client.scratch.get().buf))?;
        Some(LocalReply::HealthCheck(if live {
            Liveness::Live
        } else {
            Liveness::Failing
        }))
    }

    /// Read the body — up to the listener's `request_buffer` — before the
    /// exchange picks an upstream, within `request_body_timeout`. A client that
    /// trickles its body then holds only its own connection, never an upstream
    /// connection or a breaker slot: a swarm of slow POSTs cannot take a cluster
    /// down (nginx reads bodies first for the same reason). The bytes stay in
    /// the read buffer, where the exchange takes them from; a framing error is
    /// answered before any upstream sees the request. `Some`: answered or gone.
    async fn buffer_body(&mut self) -> Option<Step> {
        let cap = self.client.tap.ctx().config.request_buffer as usize;
        if cap == 0 || self.head.framing == BodyFraming::None {
            return None;
        }
        let pace = BodyPace::start(&self.client.tap.ctx().config);
        self.body_pace = Some(pace);
        if self.head.expect_continue {
            // The client waits for this before it sends the body.
            if self.send_continue().await.is_err() {
                return Some(Step::Close);
            }
        }
        let start = self.head_pending;
        let mut scan = BodyDecoder::new(self.head.framing);
        let mut scanned = 0;
        loop {
            let buf = &self.client.scratch.get().buf;
            match scan.decode(&buf[start + scanned..], &mut |_| {}) {
                Ok(step) if step.done => return None,
                Ok(step) => scanned += step.consumed,
                Err(e) => return Some(self.local_reply(LocalReply::BadRequest(e)).await),
            }
            let received = buf.len() - start;
            if received >= cap {
                return None; // the rest streams
            }
            if start + cap > READ_CHUNK {
                // A body to hold that is larger than a read buffer.
                let client = &mut *self.client;
                client
                    .tap
                    .worker()
                    .widen_buffer(&mut client.scratch.get().buf);
            }
            let (deadline, late) = self.client.within_request_timeout(
                pace.buffering_deadline(received as u64),
                LocalReply::BodyTimeout,
            );
            match read_more(
                &mut self.client.stream,
                &mut self.client.scratch.get().buf,
                Wait::Until(deadline),
            )
            .await
            {
                Ok(0) | Err(ReadError::Io(_)) => return Some(Step::Close),
                Ok(_) => {}
                Err(ReadError::TimedOut) => {
                    // The buffer went with the cancelled read.
                    self.client.scratch.get().buf = BytesMut::new();
                    self.head_pending = 0;
                    return Some(self.local_reply(late).await);
                }
            }
        }
    }

    fn plan(&self, resp: &crate::codec::response::ResponseHead) -> (bool, bool) {
        let http11 = self.head.version == Version::Http11;
        let (chunked, framing_keeps) = match resp.framing {
            BodyFraming::None | BodyFraming::Length(_) => (false, true),
            // HTTP/1.1 clients get chunked; HTTP/1.0 clients a close-delimited body.
            BodyFraming::Chunked | BodyFraming::Close => (http11, http11),
        };
        (
            chunked,
            framing_keeps && self.client.may_keep_alive(&self.head),
        )
    }
}

impl<S: Transport> Downstream for Request<'_, S> {
    fn peer(&self) -> SocketAddr {
        self.client.tap.peer()
    }

    fn scheme(&self) -> Scheme {
        if self.client.tap.is_tls() {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    fn can_tunnel(&self) -> bool {
        true
    }

    fn gathers_responses(&self) -> bool {
        self.client.stream.is_plain()
    }

    fn head(&self) -> &RequestHead {
        &self.head
    }

    fn request(&mut self) -> (RequestView<'_>, &mut SessionTap) {
        let client = &mut *self.client;
        let scratch = client.scratch.get();
        let view = HeadView {
            head: &self.head,
            buf: &scratch.buf,
            headers: &scratch.headers,
            tokens: &scratch.tokens,
        };
        (view, &mut client.tap)
    }

    fn tap(&mut self) -> &mut SessionTap {
        &mut self.client.tap
    }

    fn consume_head(&mut self) {
        // At most what is buffered: a timed-out read may have taken the buffer.
        let n = self.head_pending.min(self.client.scratch.get().buf.len());
        self.client.scratch.get().buf.advance(n);
        self.head_pending = 0;
    }

    fn take_whole_body(&mut self, into: &mut Vec<u8>, max: u64) -> bool {
        let buf = &mut self.client.scratch.get().buf;
        match self.head.framing {
            BodyFraming::None => true,
            BodyFraming::Length(n) if n <= max && buf.len() as u64 >= n => {
                into.extend_from_slice(&buf[..n as usize]);
                buf.advance(n as usize);
                true
            }
            _ => false,
        }
    }

    async fn send_request_body(
        &mut self,
        upstream: &mut UpstreamConn,
        head: &[u8],
    ) -> Result<u64, RequestBodyError> {
        let encoder = if self.head.framing == BodyFraming::Chunked {
            BodyEncoder::Chunked
        } else {
            BodyEncoder::Identity
        };
        let client = &mut *self.client;
        let out = &mut client.scratch.get().out;
        out.clear();
        out.extend_from_slice(head);
        let whole_by = client.request_deadline();
        let idle = BodyPace::timed_out(&client.tap.ctx().config);
        let scratch = client.scratch.get();
        let decoder = BodyDecoder::new(self.head.framing);
        let pace = ReadPace::Body(
            self.body_pace
                .unwrap_or_else(|| BodyPace::start(&client.tap.ctx().config)),
        );
        let limit = client.tap.ctx().config.limits.max_body_bytes;
        let (buf, out) = (&mut scratch.buf, &mut scratch.out);
        let worker = client.tap.worker();
        let relay = async {
            let src = Source {
                stream: &mut client.stream,
                buf,
                worker,
            };
            let dst = Sink::upstream(upstream, None);
            relay_body(src, dst, out, (decoder, encoder), pace, limit).await
        };
        let (relayed, late) = match whole_by {
            None => (relay.await, idle),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                match monoio::time::timeout(left, relay).await {
                    Ok(r) => (r, idle),
                    // `request_timeout`: the relay went, with what it held.
                    Err(_) => (
                        Err(RelayError::Source(SourceFault::TimedOut, Delivered::Partly)),
                        LocalReply::RequestTimeout,
                    ),
                }
            }
        };
        let fault = match relayed {
            Ok(n) => return Ok(n),
            Err(RelayError::Sink) => return Err(RequestBodyError::Upstream),
            Err(RelayError::Source(fault, _)) => fault,
        };
        // What is left of the body cannot be framed: drop it with the buffer.
        client.scratch.get().buf = BytesMut::new();
        let step = match fault {
            SourceFault::Codec(e) => self.local_reply(LocalReply::BadRequest(e)).await,
            SourceFault::TimedOut => self.local_reply(late).await,
            SourceFault::Io => Step::Close,
        };
        Err(RequestBodyError::Client(step))
    }

    async fn send_continue(&mut self) -> Result<(), ClientGone> {
        if std::mem::replace(&mut self.continue_sent, true) {
            return Ok(());
        }
        let out = &mut self.client.scratch.get().out;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        flush(&mut self.client.stream, out)
            .await
            .map_err(|_| ClientGone)
    }

    async fn send_informational(&mut self, resp: ResponseView<'_>) -> Result<(), ClientGone> {
        // 1xx responses mean nothing to HTTP/1.0.
        if self.head.version != Version::Http11 {
            return Ok(());
        }
        let out = &mut self.client.scratch.get().out;
        out.clear();
        out.extend_from_slice(&resp.buf[..resp.head.head_len]);
        flush(&mut self.client.stream, out)
            .await
            .map_err(|_| ClientGone)
    }

    /// The head is left in the output buffer to go out with the body's first
    /// bytes (one write), except a 101's, which goes at once.
    async fn send_response_head(
        &mut self,
        resp: ResponseView<'_>,
        service_time_ms: u64,
    ) -> Result<BodyEncoder, ClientGone> {
        let switching = resp.head.status == 101;
        self.responded = true;
        let (chunked, keep_alive) = if switching {
            (false, true)
        } else {
            self.plan(resp.head)
        };
        self.keep_alive = keep_alive;
        let plan = ResponsePlan {
            chunked,
            keep_alive,
            client_version: self.head.version,
            service_time_ms,
        };
        let out = &mut self.client.scratch.get().out;
        out.clear();
        encode_response(resp.buf, resp.head, resp.headers, resp.tokens, &plan, out);
        if switching {
            flush(&mut self.client.stream, out)
                .await
                .map_err(|_| ClientGone)?;
        }
        Ok(if chunked {
            BodyEncoder::Chunked
        } else {
            BodyEncoder::Identity
        })
    }

    async fn relay_response_body(
        &mut self,
        upstream: &mut UpstreamConn,
        up_buf: &mut BytesMut,
        decoder: BodyDecoder,
        encoder: BodyEncoder,
        read_timeout: Option<std::time::Duration>,
        head_at: Instant,
    ) -> Result<u64, RelayError> {
        let client = &mut *self.client;
        let pace = ReadPace::PerRead(read_timeout);
        let out = &mut client.scratch.get().out;
        // The head waits in `out` and goes with the first write, which begins
        // with nothing awaited since the head arrived: its `WRITE_TIMEOUT`
        // counts from then.
        let first_write_by = Some(head_at + WRITE_TIMEOUT);
        let worker = client.tap.worker();
        let spliced = splice_length(&decoder, encoder, up_buf.len(), None).is_some();
        let codec = (decoder, encoder);
        match (client.stream.plain_socket(), &mut *upstream) {
            // Both ends plain sockets: a large body may be spliced.
            (Some(down), UpstreamConn::Plain(up)) => {
                let src = Source {
                    stream: up,
                    buf: up_buf,
                    worker,
                };
                if !spliced {
                    let dst = Sink::plain(down, first_write_by);
                    return relay_body(src, dst, out, codec, pace, None).await;
                }
                return relay_body_spliced(src, down, out, codec, pace, None, first_write_by).await;
            }
            // A plain client: the head and the body behind it in one gathered write.
            (Some(down), upstream) => {
                let src = Source {
                    stream: upstream,
                    buf: up_buf,
                    worker,
                };
                let dst = Sink::plain(down, first_write_by);
                return relay_body(src, dst, out, codec, pace, None).await;
            }
            (None, _) => {}
        }
        let src = Source {
            stream: upstream,
            buf: up_buf,
            worker,
        };
        let dst = Sink::new(&mut client.stream, first_write_by);
        relay_body(src, dst, out, codec, pace, None).await
    }

    fn keeps_alive(&self) -> bool {
        self.keep_alive
    }

    async fn local_reply(&mut self, reply: LocalReply<'_>) -> Step {
        self.consume_head();
        self.client.reply(reply, Some(&self.head)).await
    }

    fn started(&self) -> Instant {
        self.client.started()
    }

    async fn duration_reached(&mut self) -> Step {
        self.head_pending = 0;
        self.client.scratch.get().buf = BytesMut::new();
        if self.responded {
            self.client
                .tap
                .count(crate::stats::names::ListenerCounter::DownstreamRqMaxDurationReached);
            return Step::Close;
        }
        self.local_reply(LocalReply::MaxStreamDuration).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::meter::Metered;

    /// What a future returned by `f` takes, without making one.
    fn future_size<A, B, C, R>(_: fn(A, B, C) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// An idle keep-alive connection is its task: this future, plus monoio's
    /// 48 bytes (task header 24, the stage's tag 8, trailer 16; measured: a
    /// 344-byte future did not fit the class below, 336 did). At most 336
    /// bytes keeps the task in jemalloc's 384-byte size class: with monoio's
    /// per-socket state and the parking slot, about 0.5 KiB of RSS per idle
    /// connection, nginx's 0.58 (bench/RESULTS-memory.md). A request's state
    /// lives in a recycled slot and its buffers and scratch are pooled, so
    /// only what an idle connection needs counts here; growing past the
    /// budget means something per-request moved into every connection. The
    /// same in debug and release builds (equal under rustc 1.95).
    const IDLE_TASK_BUDGET: usize = 336;

    #[test]
    fn an_idle_connection_task_fits_its_budget() {
        let plain = future_size(serve_accepted::<Metered>);
        let tls = future_size(serve_accepted::<crate::net::tls::TlsStream>);
        eprintln!("an idle HTTP/1.1 connection's future: {plain} bytes ({tls} over TLS)");
        assert!(
            plain <= IDLE_TASK_BUDGET,
            "an HTTP/1.1 connection's future is {plain} bytes, over its {IDLE_TASK_BUDGET}"
        );
    }
}
