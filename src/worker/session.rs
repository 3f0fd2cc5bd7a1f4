//! One downstream connection, from accept to close: read a request head, route
//! it, forward head and body to an upstream connection, relay the response back,
//! and repeat while both sides keep the connection alive.
//!
//! Requests on a connection are handled strictly in order, which is what makes
//! pipelining correct: the next head is not parsed until the previous response
//! is fully written. Bodies stream through the fixed-size read buffers; no stage
//! holds a whole body. An idle connection waits for readability with no buffer.

use std::{net::SocketAddr, rc::Rc, time::Instant};

use bytes::{Buf, BytesMut};
use monoio::{io::AsyncWriteRent, net::TcpStream};

use super::{
    drain::Drain,
    io::{flush, read_more, ReadError},
    relay::{relay_body, tunnel, RelayError, SourceFault},
    tap::{Picked, SessionTap},
    Worker,
};
use crate::{
    codec::{
        body::{BodyDecoder, BodyEncoder},
        encode::{encode_request, encode_response, local_reply_with, RequestEdits, ResponsePlan},
        headers::HeaderIndex,
        request::{parse_request, Method, Parsed, RequestHead},
        response::{parse_response, ResponseHead},
        BodyFraming, CodecError, Version,
    },
    config::{ListenerConfig, RouteConfig},
    router::Router,
    upstream::{
        cluster::{Admission, HashInput, RequestGuard, RetrySlot},
        connect::connect,
        UpstreamError, WorkerCluster,
    },
};

/// A listener as one worker serves it in one config generation.
pub struct ListenerCtx {
    /// The listener's stats slot.
    pub index: usize,
    /// Its sockets' id (`ListenerSockets::id`): the same across reloads that
    /// keep the listener.
    pub id: u64,
    /// The generation this context (and its router's cluster indices) belongs to.
    pub version: u64,
    /// This worker's own copy: sessions clone it (`Rc`, no atomic), where a
    /// shared `Arc` would bounce one cache line between cores per connection.
    pub config: Rc<ListenerConfig>,
    pub router: Router,
    /// Started when a reload removes the listener, or at shutdown: idle
    /// connections close, busy ones close after their request.
    pub drain: Drain,
}

/// What happens after one request.
enum Step {
    KeepAlive,
    Close,
    /// Close after discarding what the client is still sending, so our error
    /// response is not destroyed by a reset.
    LingerClose,
    /// A 101 was relayed: tunnel bytes both ways until either side closes.
    Tunnel(TcpStream),
}

/// Why an attempt produced no response head.
enum AttemptError {
    /// The upstream failed; a retry may help.
    Upstream(UpstreamError),
    /// A reused connection turned out closed before answering.
    StaleConnection,
    /// The client side failed and has been answered (or closed) already.
    Client(Step),
}

/// Content-length bodies up to this size that arrive with their head are held
/// whole, so the request can be replayed on another connection or host.
const REPLAY_BODY_MAX: u64 = 16 * 1024;

pub struct Session {
    _active: ActiveConnection,
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    client: TcpStream,
    peer: SocketAddr,
    buf: BytesMut,
    out: Vec<u8>,
    headers: Vec<HeaderIndex>,
    tokens: Vec<(u32, u32)>,
    /// The encoded upstream request head, kept until a response arrives so an
    /// idempotent request can be replayed on a fresh connection.
    req_head: Vec<u8>,
    up_buf: BytesMut,
    up_headers: Vec<HeaderIndex>,
    up_tokens: Vec<(u32, u32)>,
    scratch: Vec<u8>,
    served: u64,
    /// When the connection was accepted (for `max_connection_duration`).
    accepted_at: Instant,
    tap: SessionTap,
}

/// Serve one accepted connection. Not itself `async`: the returned future is
/// the session's own, with no outer frame keeping a second copy of its state.
pub fn serve(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    client: TcpStream,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    worker.active.set(worker.active.get() + 1);
    let mut session = Session {
        _active: ActiveConnection(worker.clone()),
        tap: SessionTap::open(&worker.tap, listener.index, listener.config.clone(), peer),
        worker: worker.clone(),
        listener,
        client,
        peer,
        buf: BytesMut::new(),
        out: Vec::new(),
        headers: Vec::new(),
        tokens: Vec::new(),
        req_head: Vec::new(),
        up_buf: BytesMut::new(),
        up_headers: Vec::new(),
        up_tokens: Vec::new(),
        scratch: Vec::new(),
        served: 0,
        accepted_at: Instant::now(),
    };
    // An `async move` block owns the session once; an `async fn` taking it by
    // value would keep a second copy of it in the task (rustc's layout of
    // by-value arguments), doubling what every idle connection costs.
    async move {
        if let Some(upstream) = session.run().await {
            let client_rest = std::mem::take(&mut session.buf);
            let up_rest = std::mem::take(&mut session.up_buf);
            // Boxed: rare, and it would otherwise size every connection's task.
            let idle = session.listener.config.idle_timeout;
            Box::pin(tunnel(session.client, client_rest, upstream, up_rest, idle)).await;
        }
    }
}

/// Counts the connection in `Worker::active` for as long as its session lives.
struct ActiveConnection(Rc<Worker>);

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
    }
}

impl Session {
    /// Serve requests until the connection ends; `Some` when it became a tunnel.
    async fn run(&mut self) -> Option<TcpStream> {
        let worker = self.worker.clone();
        loop {
            // Idle: wait here, in the task's own small state, holding no buffer.
            if self.buf.is_empty() {
                self.release_buffers();
                if !self.wait_for_request().await {
                    break;
                }
            }
            // Busy: the request's larger state lives in a recycled slot.
            let step = worker.futures.recycle(self.next_request()).await;
            self.tap.request_end();
            match step {
                Step::KeepAlive => {
                    self.served += 1;
                    continue;
                }
                Step::Close => break,
                Step::LingerClose => {
                    // Boxed: error paths only, and it would otherwise size every
                    // connection's task.
                    Box::pin(self.linger_close()).await;
                    break;
                }
                Step::Tunnel(upstream) => return Some(upstream),
            }
        }
        self.release_buffers();
        None
    }

    fn acquire_buffers(&mut self) {
        if self.buf.capacity() == 0 {
            self.buf = self.worker.take_buffer();
        }
        if self.out.capacity() == 0 {
            let s = self.worker.take_scratch();
            self.out = s.out;
            self.req_head = s.req_head;
            self.headers = s.headers;
            self.tokens = s.tokens;
            self.up_headers = s.up_headers;
            self.up_tokens = s.up_tokens;
        }
    }

    /// Give idle buffers back to the worker so a parked connection holds none:
    /// read buffers, and the scratch vectors that grow to a message's size.
    fn release_buffers(&mut self) {
        if self.buf.is_empty() {
            self.worker.give_buffer(std::mem::take(&mut self.buf));
        }
        if self.up_buf.is_empty() {
            self.worker.give_buffer(std::mem::take(&mut self.up_buf));
        }
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.worker.give_scratch(super::Scratch {
                out: std::mem::take(&mut self.out),
                req_head: std::mem::take(&mut self.req_head),
                headers: std::mem::take(&mut self.headers),
                tokens: std::mem::take(&mut self.tokens),
                up_headers: std::mem::take(&mut self.up_headers),
                up_tokens: std::mem::take(&mut self.up_tokens),
            });
        }
    }

    /// Write the client's response head into `out` (replacing its contents) and
    /// consume the upstream's from `up_buf`.
    fn encode_response_head(&mut self, resp: &ResponseHead, plan: ResponsePlan) {
        self.out.clear();
        encode_response(
            &self.up_buf,
            resp,
            &self.up_headers,
            &self.up_tokens,
            &plan,
            &mut self.out,
        );
        self.up_buf.advance(resp.head_len);
    }

    /// The connection has lived past `max_connection_duration`: it closes after
    /// the current response (with `connection: close`).
    fn past_max_duration(&self) -> bool {
        self.listener
            .config
            .max_connection_duration
            .is_some_and(|max| self.accepted_at.elapsed() >= max)
    }

    /// Wait for the next request's first byte; false: close (idle timeout, drain, EOF).
    async fn wait_for_request(&mut self) -> bool {
        let timeout = if self.served == 0 {
            self.listener.config.request_headers_timeout
        } else {
            self.listener.config.idle_timeout
        };
        // The deadline is kept by the worker's tick (see `drain`), so a parked
        // connection holds no timer of its own.
        let mut deadline = Instant::now() + timeout;
        if let Some(max) = self.listener.config.max_connection_duration {
            deadline = deadline.min(self.accepted_at + max);
        }
        let park = self.listener.drain.park(deadline);
        monoio::select! {
            // Not relaxed: on epoll a relaxed check can report stale readiness, and
            // the session would then park a buffer in a read that ignores the drain.
            r = self.client.readable(false) => r.is_ok(),
            _ = park => false,
        }
    }

    /// Serve the request whose first bytes have arrived.
    async fn next_request(&mut self) -> Step {
        // Each request uses the newest generation: its routes and clusters. The
        // generation is held (an `Rc`, no allocation) until the request ends.
        let gen = self.worker.generation();
        if gen.version != self.listener.version {
            match gen.listener(self.listener.id) {
                Some(l) => {
                    self.listener = l.clone();
                    self.tap.listener_changed(l.config.clone());
                }
                // A reload removed this listener: it drains.
                None => return Step::Close,
            }
        }
        self.acquire_buffers();
        let deadline = Instant::now() + self.listener.config.request_headers_timeout;
        let limits = self.listener.config.limits;
        let mut saw_newline = self.buf.contains(&b'\n');
        let head = loop {
            match parse_request(&self.buf, &limits, &mut self.headers, &mut self.tokens) {
                Ok(Parsed::Complete(head)) => break head,
                Ok(Parsed::Incomplete) => {}
                Err(e) => return self.reply(e.status(), &e.to_string(), false, true).await,
            }
            // Parse again only when the new bytes could end the head (a newline)
            // or trip a limit: re-parsing after every byte of a trickled head
            // would cost time quadratic in its size.
            loop {
                let from = self.buf.len().saturating_sub(3);
                match read_more(&mut self.client, &mut self.buf, Some(deadline)).await {
                    Ok(0) | Err(ReadError::Io(_)) => return Step::Close,
                    Ok(_) => {}
                    Err(ReadError::TimedOut) => {
                        self.buf = BytesMut::new();
                        return self
                            .reply(408, "request headers not received in time", false, true)
                            .await;
                    }
                }
                let fresh_newline = self.buf[from..].contains(&b'\n');
                saw_newline |= fresh_newline;
                if fresh_newline
                    || self.buf.len() > limits.max_header_bytes
                    || (!saw_newline && self.buf.len() > limits.max_uri_bytes + 32)
                {
                    break;
                }
            }
        };

        self.tap.request_start(&head, &self.headers, &self.buf);
        let head_only = head.method == Method::Head;
        // A local reply can keep the connection only if no request body is pending.
        let close_after_reply = head.framing != BodyFraming::None || !head.keep_alive;
        if let (BodyFraming::Length(n), Some(max)) = (head.framing, limits.max_body_bytes) {
            if n > max {
                return self
                    .reply(413, "request body too large", head_only, true)
                    .await;
            }
        }

        if let Some((status, body)) = self.tap.health_check(head.path(&self.buf)) {
            self.buf.advance(head.head_len);
            return self.reply(status, body, head_only, close_after_reply).await;
        }
        let listener = self.listener.clone();
        let route = listener.router.route(
            head.host_value(&self.buf),
            head.path(&self.buf),
            &mut self.scratch,
        );
        let Some(route) = route else {
            self.buf.advance(head.head_len);
            return self
                .reply(
                    404,
                    "no route matched this request",
                    head_only,
                    close_after_reply,
                )
                .await;
        };
        let worker = self.worker.clone();
        let cluster = &*gen.clusters[route.route.cluster];
        let cluster_slot = gen.cluster_slots[route.route.cluster];
        let admission = cluster.begin_request(&HashInput {
            buf: &self.buf,
            headers: &self.headers,
            peer: self.peer.ip(),
        });
        let picked = match &admission {
            Admission::Admitted(guard) => Picked::Host(guard.addr()),
            Admission::NoHealthyUpstream => Picked::NoHealthy,
            Admission::Overloaded(which) => Picked::Overflow(*which),
        };
        self.tap.picked(cluster_slot, &picked);
        let guard = match admission {
            Admission::Admitted(guard) => guard,
            Admission::NoHealthyUpstream => {
                self.buf.advance(head.head_len);
                return self
                    .reply(503, "no healthy upstream", head_only, close_after_reply)
                    .await;
            }
            Admission::Overloaded(_) => {
                self.buf.advance(head.head_len);
                return self
                    .reply_with(
                        503,
                        "upstream overflow",
                        b"x-ringway-overloaded: true\r\n",
                        head_only,
                        close_after_reply,
                    )
                    .await;
            }
        };
        let addr = guard.addr();

        let request_id = worker.next_request_id();
        self.tap.request_id(&request_id);
        let rewrite = route
            .route
            .prefix_rewrite
            .as_deref()
            .map(|r| (route.matched_len, r.as_bytes()));
        let edits = RequestEdits {
            client_ip: self.peer.ip(),
            rewrite,
            upstream: addr,
            request_id: &request_id,
        };
        self.req_head.clear();
        encode_request(
            &self.buf,
            &head,
            &self.headers,
            &self.tokens,
            &edits,
            &mut self.req_head,
        );
        self.buf.advance(head.head_len);

        if head.expect_continue {
            self.out.clear();
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if flush(&mut self.client, &mut self.out).await.is_err() {
                return Step::Close;
            }
        }
        self.forward(&head, cluster, guard, route.route).await
    }

    /// A small content-length body that arrived with its head is moved into
    /// `req_head`, so the request can be replayed (retries, stale connections).
    fn buffer_small_body(&mut self, head: &RequestHead) -> bool {
        match head.framing {
            BodyFraming::None => true,
            BodyFraming::Length(n) if n <= REPLAY_BODY_MAX && self.buf.len() as u64 >= n => {
                self.req_head.extend_from_slice(&self.buf[..n as usize]);
                self.buf.advance(n as usize);
                true
            }
            _ => false,
        }
    }

    /// Take a slot of the `max_retries` breaker for the next retry into
    /// `held`, releasing the previous retry's (its attempt is over). False,
    /// counted as `upstream_rq_retry_overflow`, when this worker's share of
    /// retries is in flight.
    fn take_retry_slot<'c>(
        &mut self,
        cluster: &'c WorkerCluster,
        held: &mut Option<RetrySlot<'c>>,
    ) -> bool {
        *held = None;
        *held = cluster.try_retry();
        if held.is_none() {
            self.tap.retry_overflow();
        }
        held.is_some()
    }

    /// Send the request (retrying as the route allows) and relay the response.
    async fn forward(
        &mut self,
        head: &RequestHead,
        cluster: &WorkerCluster,
        mut guard: RequestGuard<'_>,
        route: &RouteConfig,
    ) -> Step {
        let head_only = head.method == Method::Head;
        let close_after_reply = head.framing != BodyFraming::None || !head.keep_alive;
        let head_len = self.req_head.len();
        // Only a request held whole in `req_head` can be sent twice.
        let replayable = self.buffer_small_body(head);
        self.tap
            .bytes_received((self.req_head.len() - head_len) as u64);
        let retry = route.retry.as_ref().filter(|_| replayable);
        let attempts = 1 + retry.map_or(0, |r| r.num_retries);
        let started = Instant::now();
        let overall = route.timeout.map(|t| started + t);
        let mut attempt = 1;
        let mut fresh_only = false;
        // The `max_retries` breaker's slot for the retry in flight, if any.
        let mut retry_slot: Option<RetrySlot<'_>> = None;
        let (mut upstream, resp, sent_at) = loop {
            let per_try = retry
                .and_then(|r| r.per_try_timeout)
                .map(|t| Instant::now() + t);
            let deadline = match (overall, per_try) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.out.clear();
            if route.retry.is_some() {
                // The head without its blank line, the attempt count, then the rest.
                self.out.extend_from_slice(&self.req_head[..head_len - 2]);
                self.out.extend_from_slice(b"x-ringway-attempt-count: ");
                crate::codec::encode::write_dec(&mut self.out, u64::from(attempt));
                self.out.extend_from_slice(b"\r\n\r\n");
                self.out.extend_from_slice(&self.req_head[head_len..]);
            } else {
                self.out.extend_from_slice(&self.req_head);
            }
            let outcome = self
                .attempt(
                    head,
                    cluster,
                    guard.addr(),
                    fresh_only,
                    replayable,
                    deadline,
                )
                .await;
            fresh_only = false;
            let failure = match outcome {
                Ok((upstream, resp, sent_at)) => {
                    let again =
                        attempt < attempts && retry.is_some_and(|r| r.retries_status(resp.status));
                    // Without a retry slot, this response is the answer.
                    if !(again && self.take_retry_slot(cluster, &mut retry_slot)) {
                        break (upstream, resp, sent_at);
                    }
                    // The response is dropped with its connection.
                    guard.response(resp.status);
                    self.up_buf.clear();
                    None
                }
                Err(AttemptError::Client(step)) => {
                    guard.client_fault();
                    return step;
                }
                Err(AttemptError::StaleConnection) => {
                    // Not a retry: the same request on a new connection to the same host.
                    fresh_only = true;
                    continue;
                }
                Err(AttemptError::Upstream(e)) => {
                    self.tap.upstream_error(&e);
                    Some(e)
                }
            };
            let retriable = match failure {
                None => true,
                Some(e) => {
                    attempt < attempts
                        && retry.is_some_and(|r| match e {
                            UpstreamError::ConnectFailed(_) | UpstreamError::ConnectTimeout => {
                                r.on_connect_failure || r.on_5xx || r.on_gateway_error
                            }
                            UpstreamError::Reset => r.on_reset || r.on_5xx,
                            UpstreamError::Timeout => r.on_reset || r.on_5xx || r.on_gateway_error,
                            UpstreamError::BadResponse(_) => r.on_5xx || r.on_gateway_error,
                            UpstreamError::NoHealthyUpstream => false,
                        })
                        && overall.is_none_or(|d| Instant::now() < d)
                }
            };
            if let Some(e) = failure {
                if !(retriable && self.take_retry_slot(cluster, &mut retry_slot)) {
                    self.up_buf.clear();
                    return self.upstream_error(e, head_only, close_after_reply).await;
                }
            }
            monoio::time::sleep(self.worker.retry_backoff(attempt)).await;
            attempt += 1;
            // The failed attempt's outcome is recorded as its guard drops; the
            // next attempt is admitted anew, normally on the balancer's next host.
            // (The head is consumed by now, so hash policies see no key.)
            let no_key = HashInput {
                buf: &[],
                headers: &[],
                peer: self.peer.ip(),
            };
            drop(guard);
            guard = match cluster.begin_request(&no_key) {
                Admission::Admitted(next) => next,
                _ => {
                    let e = failure.unwrap_or(UpstreamError::NoHealthyUpstream);
                    self.up_buf.clear();
                    return self.upstream_error(e, head_only, close_after_reply).await;
                }
            };
            self.tap.upstream_retry(guard.addr());
        };
        guard.response(resp.status);

        if resp.status == 101 {
            if !head.upgrade {
                self.up_buf.clear();
                return self
                    .upstream_error(
                        UpstreamError::BadResponse(CodecError::Malformed),
                        head_only,
                        close_after_reply,
                    )
                    .await;
            }
            self.encode_response_head(
                &resp,
                ResponsePlan {
                    chunked: false,
                    keep_alive: true,
                    client_version: head.version,
                    service_time_ms: sent_at.elapsed().as_millis() as u64,
                },
            );
            if flush(&mut self.client, &mut self.out).await.is_err() {
                return Step::Close;
            }
            return Step::Tunnel(upstream);
        }

        let http11 = head.version == Version::Http11;
        let (chunked, framing_keeps) = match resp.framing {
            BodyFraming::None | BodyFraming::Length(_) => (false, true),
            // HTTP/1.1 clients get chunked; HTTP/1.0 clients a close-delimited body.
            BodyFraming::Chunked | BodyFraming::Close => (http11, http11),
        };
        let keep_alive = framing_keeps
            && head.keep_alive
            && !self.listener.drain.is_draining()
            && !self.past_max_duration();
        self.encode_response_head(
            &resp,
            ResponsePlan {
                chunked,
                keep_alive,
                client_version: head.version,
                service_time_ms: sent_at.elapsed().as_millis() as u64,
            },
        );
        let encoder = if chunked {
            BodyEncoder::Chunked
        } else {
            BodyEncoder::Identity
        };
        // The route timeout bounds the wait for the head; once the body flows, it
        // bounds each read instead, so a long download is not cut off midway.
        let relayed = relay_body(
            &mut upstream,
            &mut self.up_buf,
            &mut self.client,
            &mut self.out,
            BodyDecoder::new(resp.framing),
            encoder,
            route.timeout,
            None,
        )
        .await;
        if let Ok(n) = relayed {
            self.tap.bytes_sent(n);
        } else {
            // The response is cut short; the client learns by the connection closing.
            self.up_buf.clear();
            return Step::Close;
        }
        if resp.keep_alive && self.up_buf.is_empty() {
            cluster.checkin(guard.addr(), upstream, resp.declared_body);
        }
        self.up_buf.clear();
        if keep_alive {
            Step::KeepAlive
        } else {
            Step::Close
        }
    }

    /// One attempt: a connection (pooled or new), the request sent from `out`
    /// (plus any streamed body), and the final response head.
    async fn attempt(
        &mut self,
        head: &RequestHead,
        cluster: &WorkerCluster,
        addr: SocketAddr,
        fresh_only: bool,
        replayable: bool,
        deadline: Option<Instant>,
    ) -> Result<(TcpStream, ResponseHead, Instant), AttemptError> {
        let head_only = head.method == Method::Head;
        // A request that failed on a reused connection before any response byte
        // is replayed on a new one, if replaying cannot repeat a side effect.
        let stale_replay = replayable && head.method.is_idempotent();
        let pooled = if fresh_only {
            None
        } else {
            cluster.checkout(addr, !stale_replay)
        };
        let reused = pooled.is_some();
        let mut upstream = match pooled {
            Some(s) => s,
            None => {
                let s = connect(addr, cluster.config.connect_timeout)
                    .await
                    .map_err(AttemptError::Upstream)?;
                self.tap.upstream_connected();
                s
            }
        };
        let sent_at = Instant::now();
        let sent = if replayable {
            flush(&mut upstream, &mut self.out)
                .await
                .map(|_| 0)
                .map_err(|_| RelayError::Sink)
        } else {
            let encoder = if head.framing == BodyFraming::Chunked {
                BodyEncoder::Chunked
            } else {
                BodyEncoder::Identity
            };
            let limit = self.listener.config.limits.max_body_bytes;
            relay_body(
                &mut self.client,
                &mut self.buf,
                &mut upstream,
                &mut self.out,
                BodyDecoder::new(head.framing),
                encoder,
                Some(crate::codec::limits::REQUEST_BODY_READ_TIMEOUT),
                limit,
            )
            .await
        };
        match sent {
            Ok(n) => self.tap.bytes_received(n),
            Err(RelayError::Sink) if reused && stale_replay => {
                return Err(AttemptError::StaleConnection)
            }
            Err(RelayError::Sink) => return Err(AttemptError::Upstream(UpstreamError::Reset)),
            Err(RelayError::Source(fault)) => {
                self.buf = BytesMut::new();
                let step = match fault {
                    SourceFault::Codec(e) => {
                        self.reply(e.status(), &e.to_string(), head_only, true)
                            .await
                    }
                    SourceFault::TimedOut => {
                        self.reply(408, "request body not received in time", head_only, true)
                            .await
                    }
                    SourceFault::Io => Step::Close,
                };
                return Err(AttemptError::Client(step));
            }
        }
        match self.read_response_head(&mut upstream, head, deadline).await {
            Ok(resp) => {
                self.tap.upstream_response(resp.status, sent_at);
                Ok((upstream, resp, sent_at))
            }
            Err(UpstreamError::Reset) if reused && stale_replay && self.up_buf.is_empty() => {
                Err(AttemptError::StaleConnection)
            }
            Err(e) => Err(AttemptError::Upstream(e)),
        }
    }

    /// Read the final response head, relaying or dropping 1xx responses before it.
    async fn read_response_head(
        &mut self,
        upstream: &mut TcpStream,
        head: &RequestHead,
        deadline: Option<Instant>,
    ) -> Result<ResponseHead, UpstreamError> {
        if self.up_buf.capacity() == 0 {
            self.up_buf = self.worker.take_buffer();
        }
        self.up_buf.clear();
        let head_request = head.method == Method::Head;
        let mut informational = 0;
        loop {
            match parse_response(
                &self.up_buf,
                head_request,
                &mut self.up_headers,
                &mut self.up_tokens,
            ) {
                Ok(Parsed::Complete(resp)) if resp.is_informational() && resp.status != 101 => {
                    informational += 1;
                    if informational > crate::codec::limits::MAX_INFORMATIONAL_RESPONSES {
                        return Err(UpstreamError::BadResponse(CodecError::Malformed));
                    }
                    // 100 Continue was answered by us already; 1xx mean nothing to HTTP/1.0.
                    if resp.status != 100 && head.version == Version::Http11 {
                        self.out.clear();
                        self.out.extend_from_slice(&self.up_buf[..resp.head_len]);
                        flush(&mut self.client, &mut self.out)
                            .await
                            .map_err(|_| UpstreamError::Reset)?;
                    }
                    self.up_buf.advance(resp.head_len);
                    continue;
                }
                Ok(Parsed::Complete(resp)) => return Ok(resp),
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(UpstreamError::BadResponse(e)),
            }
            match read_more(upstream, &mut self.up_buf, deadline).await {
                Ok(0) | Err(ReadError::Io(_)) => return Err(UpstreamError::Reset),
                Ok(_) => {}
                Err(ReadError::TimedOut) => {
                    self.up_buf = BytesMut::new();
                    return Err(UpstreamError::Timeout);
                }
            }
        }
    }

    async fn upstream_error(&mut self, e: UpstreamError, head_only: bool, close: bool) -> Step {
        tracing::debug!(peer = %self.peer, error = %e, "upstream error");
        self.reply(e.status(), &e.to_string(), head_only, close)
            .await
    }

    /// Send a response of our own. `close`: the connection ends after it.
    async fn reply(&mut self, status: u16, msg: &str, head_only: bool, close: bool) -> Step {
        self.reply_with(status, msg, b"", head_only, close).await
    }

    /// `reply` with extra header lines.
    async fn reply_with(
        &mut self,
        status: u16,
        msg: &str,
        extra: &[u8],
        head_only: bool,
        close: bool,
    ) -> Step {
        let close = close || self.listener.drain.is_draining() || self.past_max_duration();
        self.out.clear();
        local_reply_with(status, msg, extra, head_only, close, &mut self.out);
        self.tap
            .local_reply(status, if head_only { 0 } else { msg.len() as u64 + 1 });
        if flush(&mut self.client, &mut self.out).await.is_err() {
            return Step::Close;
        }
        if !close {
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
        let _ = self.client.shutdown().await;
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        let mut discarded = 0usize;
        let mut buf = std::mem::take(&mut self.buf);
        while discarded < 256 * 1024 {
            buf.clear();
            match read_more(&mut self.client, &mut buf, Some(deadline)).await {
                Ok(n) if n > 0 => discarded += n,
                _ => return,
            }
        }
    }
}
