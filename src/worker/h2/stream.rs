//! One HTTP/2 stream as the exchange's `Downstream`: its head in HTTP/1.1
//! layout (see `head.rs`), its request body from DATA frames (streamed to the
//! HTTP/1.1 upstream, chunked when it has no length), the response as HEADERS
//! and DATA within the client's flow-control window, trailers both ways, and
//! ringway's own replies as HTTP/2 responses.
//!
//! The response head is held until the body's first bytes (as HTTP/1.1 holds
//! it in its output buffer), so a body that breaks its framing at once can
//! still be answered with a whole 502.

use std::{future::poll_fn, net::SocketAddr, rc::Rc, time::Instant};

use bytes::{Buf, Bytes, BytesMut};
use h2::{server::SendResponse, Reason, RecvStream, SendStream};
use http::{HeaderMap, Response};

use super::{head, ConnShared};
use crate::{
    codec::{
        body::{BodyDecoder, BodyEncoder, BodyPiece},
        encode::Scheme,
        headers::HeaderIndex,
        request::{parse_request, Method, Parsed, RequestHead},
        BodyFraming, CodecError, Version,
    },
    upstream::{connect::UpstreamConn, h2::DetachedBody},
    worker::{
        downstream::{
            ClientGone, Downstream, HeadView, RequestBodyError, RequestView, ResponseView, Step,
        },
        exchange::{self, Env},
        io::{flush, read_more, ReadError, Wait, WRITE_TIMEOUT},
        local_reply::{Liveness, LocalReply},
        pace::BodyPace,
        relay::{Delivered, RelayError, SourceFault},
        tap::SessionTap,
        ExchangeBuffers, ListenerCtx, Worker,
    },
};

/// Counts a stream in `ConnShared::streams` for as long as it is served.
struct Serving(Rc<ConnShared>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.streams.set(self.0.streams.get() - 1);
    }
}

/// Serve one stream the connection accepted (spawned as a task of its own).
/// The stream's state, several KiB, lives in a recycled slot
/// (`Worker::futures`): the task holds the handle on it, so spawning moves a
/// few hundred bytes rather than all of it, and steady state allocates no slot.
pub(super) async fn serve(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    shared: Rc<ConnShared>,
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let slots = worker.clone();
    let stream = serve_stream(worker, listener, shared, req, respond);
    slots.futures.recycle(stream).await
}

async fn serve_stream(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    shared: Rc<ConnShared>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    shared.streams.set(shared.streams.get() + 1);
    let _serving = Serving(shared.clone());
    // Each stream uses the newest generation, as each HTTP/1.1 request does.
    let gen = worker.generation();
    let listener = if gen.version == listener.version {
        listener
    } else {
        match gen.listener(listener.id) {
            Some(l) => l.clone(),
            None => {
                // A reload removed the listener: it drains.
                respond.send_reset(Reason::REFUSED_STREAM);
                return;
            }
        }
    };
    let (parts, body) = req.into_parts();
    let mut scratch = worker.take_scratch();
    let mut stream = H2Request {
        tls: shared.tls,
        peer: shared.peer,
        listener: listener.clone(),
        tap: SessionTap::stream(&shared.tap),
        head: None,
        buf: std::mem::take(&mut scratch.h1.out),
        headers: std::mem::take(&mut scratch.h1.headers),
        tokens: std::mem::take(&mut scratch.h1.tokens),
        body: (!body.is_end_stream()).then_some(body),
        held: BytesMut::new(),
        trailers: None,
        respond,
        pending: None,
        send: None,
        finished: false,
        continue_sent: false,
        out: Vec::new(),
        started: Instant::now(),
        body_pace: None,
        grpc: head::is_grpc(&parts.headers),
    };
    let env = Env {
        worker: &worker,
        gen: &gen,
        listener: &listener,
    };
    let step = stream.run(&env, &parts, &mut scratch.exchange).await;
    if !stream.finished || !matches!(step, Step::KeepAlive) {
        stream.reset(Reason::INTERNAL_ERROR);
    }
    stream.tap.request_end();
    scratch.h1.out = std::mem::take(&mut stream.buf);
    scratch.h1.headers = std::mem::take(&mut stream.headers);
    scratch.h1.tokens = std::mem::take(&mut stream.tokens);
    worker.give_scratch(scratch);
}

struct H2Request {
    tls: bool,
    peer: SocketAddr,
    listener: Rc<ListenerCtx>,
    tap: SessionTap,
    /// Set once the head has been written and parsed.
    head: Option<RequestHead>,
    /// The head in HTTP/1.1 layout.
    buf: Vec<u8>,
    headers: Vec<HeaderIndex>,
    tokens: Vec<(u32, u32)>,
    /// The request body still to come (`None`: the stream's receiving half ended).
    body: Option<RecvStream>,
    /// Body bytes read before an upstream was chosen.
    held: BytesMut,
    trailers: Option<HeaderMap>,
    respond: SendResponse<Bytes>,
    /// The response head, held until the body's first bytes.
    pending: Option<Response<()>>,
    send: Option<SendStream<Bytes>>,
    /// The response ended (END_STREAM sent).
    finished: bool,
    continue_sent: bool,
    out: Vec<u8>,
    /// When the stream arrived (`request_timeout`, `max_stream_duration`).
    started: Instant,
    /// When the body started (at buffering), for its deadlines.
    body_pace: Option<BodyPace>,
    /// A gRPC call (`content-type: application/grpc…`): ringway's own answers
    /// are gRPC errors.
    grpc: bool,
}

/// A placeholder before the head is parsed (never read: `run` answers first).
const NO_HEAD: RequestHead = RequestHead {
    method: Method::Get,
    method_span: (0, 0),
    target: (0, 0),
    path_len: 0,
    authority: None,
    host: None,
    version: Version::Http2,
    framing: BodyFraming::None,
    keep_alive: true,
    expect_continue: false,
    upgrade: false,
    te_trailers: false,
    has_request_id: false,
    head_len: 0,
};

impl H2Request {
    async fn run(
        &mut self,
        env: &Env<'_>,
        parts: &http::request::Parts,
        bufs: &mut ExchangeBuffers,
    ) -> Step {
        if let Err(e) = self.read_head(parts) {
            return self.local_reply(LocalReply::BadRequest(e)).await;
        }
        if let Some(reply) = self.screen() {
            return self.local_reply(reply).await;
        }
        if let Some(step) = self.buffer_body().await {
            return step;
        }
        exchange::run(env, self, bufs).await
    }

    fn read_head(&mut self, parts: &http::request::Parts) -> Result<(), CodecError> {
        self.buf.clear();
        head::write_request_head(parts, self.body.is_none(), &mut self.buf)?;
        let limits = self.listener.config.limits;
        match parse_request(&self.buf, &limits, &mut self.headers, &mut self.tokens)? {
            Parsed::Complete(mut head) => {
                head.version = Version::Http2;
                self.tap
                    .request_start(&head, &self.headers, &self.buf, self.started);
                self.head = Some(head);
                Ok(())
            }
            Parsed::Incomplete => Err(CodecError::Malformed),
        }
    }

    fn screen(&mut self) -> Option<LocalReply<'static>> {
        let head = self.head.as_ref()?;
        let max_body = self.listener.config.limits.max_body_bytes;
        if let (BodyFraming::Length(n), Some(max)) = (head.framing, max_body) {
            if n > max {
                return Some(LocalReply::BadRequest(CodecError::BodyTooLarge));
            }
        }
        let live = self.tap.health_check(head.path(&self.buf))?;
        Some(LocalReply::HealthCheck(if live {
            Liveness::Live
        } else {
            Liveness::Failing
        }))
    }

    /// Read the body, up to the listener's `request_buffer`, before the
    /// exchange picks an upstream, within `request_body_timeout` (as HTTP/1.1
    /// does; see `h1::Request::buffer_body`). `Some`: answered or gone.
    /// Not for a gRPC call: its body is a stream of messages the client may
    /// send only as replies come (bidirectional streaming), not an upload.
    async fn buffer_body(&mut self) -> Option<Step> {
        let config = self.listener.config.clone();
        let cap = config.request_buffer as usize;
        if cap == 0 || self.body.is_none() || self.grpc {
            return None;
        }
        if self.head().expect_continue && self.send_continue().await.is_err() {
            return Some(Step::Close);
        }
        let pace = BodyPace::start(&config);
        self.body_pace = Some(pace);
        while self.held.len() < cap {
            let deadline = pace.buffering_deadline(self.held.len() as u64);
            match self.next_data(Some(deadline)).await {
                Ok(Some(chunk)) => {
                    self.held.extend_from_slice(&chunk);
                    if self.over_limit(self.held.len() as u64) {
                        let reply = LocalReply::BadRequest(CodecError::BodyTooLarge);
                        return Some(self.local_reply(reply).await);
                    }
                }
                Ok(None) => return None,
                Err(BodyFault::Reset) => return Some(Step::Close),
                Err(timed_out) => return Some(self.local_reply(timed_out.reply()).await),
            }
        }
        None
    }

    fn over_limit(&self, total: u64) -> bool {
        self.listener
            .config
            .limits
            .max_body_bytes
            .is_some_and(|max| total > max)
    }

    /// The next DATA payload (its window given back at once: it is ours to
    /// hold now); `None` at the end of the body, after taking any trailers.
    async fn next_data(&mut self, deadline: Option<Instant>) -> Result<Option<Bytes>, BodyFault> {
        let (at, fault) = self.body_wait(deadline);
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        let wait = at.saturating_duration_since(Instant::now());
        match monoio::time::timeout(wait, body.data()).await {
            Err(_) => Err(fault),
            Ok(Some(Ok(chunk))) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                Ok(Some(chunk))
            }
            Ok(Some(Err(_))) => Err(BodyFault::Reset),
            Ok(None) => {
                let trailers = match monoio::time::timeout(wait, body.trailers()).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(_)) => return Err(BodyFault::Reset),
                    Err(_) => return Err(fault),
                };
                self.trailers = trailers;
                self.body = None;
                Ok(None)
            }
        }
    }

    /// The rule for a body sent on its own (full duplex): the same stream
    /// idle timeout, minimum rate and request timeout as a relayed body.
    fn pumped_body_deadline(&self) -> Box<dyn Fn(u64) -> Option<Instant>> {
        let pace = self
            .body_pace
            .unwrap_or_else(|| BodyPace::start(&self.listener.config));
        let whole = self
            .listener
            .config
            .request_timeout
            .map(|t| self.started + t);
        Box::new(move |received| {
            let paced = pace.streaming_deadline(received, Instant::now());
            match (paced, whole) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        })
    }

    /// How long the next wait for body bytes may last, and what it is when
    /// it ends: the caller's `deadline` (`request_body_timeout`), the
    /// listener's `stream_idle_timeout` or its `request_timeout`, whichever
    /// comes first.
    fn body_wait(&self, deadline: Option<Instant>) -> (Instant, BodyFault) {
        let config = &self.listener.config;
        let now = Instant::now();
        let candidates = [
            (deadline, BodyFault::TimedOut),
            (config.stream_idle_timeout.map(|t| now + t), BodyFault::Idle),
            (
                config.request_timeout.map(|t| self.started + t),
                BodyFault::Whole,
            ),
        ];
        candidates
            .into_iter()
            .filter_map(|(at, f)| Some((at?, f)))
            .min_by_key(|(at, _)| *at)
            // None of them: a year is forever here.
            .unwrap_or((now + FOREVER, BodyFault::Idle))
    }

    fn trailer_lines(&self, out: &mut Vec<u8>) {
        if let Some(t) = &self.trailers {
            crate::upstream::h2::head::write_fields(t, out);
        }
    }

    fn reset(&mut self, reason: Reason) {
        if self.finished {
            return;
        }
        match self.send.as_mut() {
            Some(send) => send.send_reset(reason),
            None => self.respond.send_reset(reason),
        }
        self.finished = true;
    }

    /// Send the held response head, if it is still held.
    fn send_head(&mut self, end: bool) -> Result<(), ClientGone> {
        let Some(resp) = self.pending.take() else {
            return Ok(());
        };
        let send = self
            .respond
            .send_response(resp, end)
            .map_err(|_| ClientGone)?;
        if end {
            self.finished = true;
        } else {
            self.send = Some(send);
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum BodyFault {
    /// `request_body_timeout` (the buffered part).
    TimedOut,
    /// `stream_idle_timeout`.
    Idle,
    /// `request_timeout`.
    Whole,
    Reset,
}

impl BodyFault {
    /// The reply a timed-out wait gets.
    fn reply(self) -> LocalReply<'static> {
        match self {
            BodyFault::Idle => LocalReply::StreamIdleTimeout,
            BodyFault::Whole => LocalReply::RequestTimeout,
            _ => LocalReply::BodyTimeout,
        }
    }
}

/// A wait with no limit configured.
const FOREVER: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// Send `data` on `send` as the client's window allows; `end` ends the stream.
async fn send_data(send: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<(), ()> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        // A client that keeps its window shut (a zero-window stall) is given
        // up on, as a client that stops reading is over HTTP/1.1.
        let granted = monoio::time::timeout(WRITE_TIMEOUT, poll_fn(|cx| send.poll_capacity(cx)))
            .await
            .map_err(|_| ())?;
        let n = match granted {
            Some(Ok(n)) => n,
            _ => return Err(()),
        };
        if n == 0 {
            continue;
        }
        let piece = data.split_to(n.min(data.len()));
        send.send_data(piece, end && data.is_empty())
            .map_err(|_| ())?;
    }
    Ok(())
}

impl Downstream for H2Request {
    fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn scheme(&self) -> Scheme {
        if self.tls {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    fn can_tunnel(&self) -> bool {
        false
    }

    fn head(&self) -> &RequestHead {
        self.head.as_ref().unwrap_or(&NO_HEAD)
    }

    fn request(&mut self) -> (RequestView<'_>, &mut SessionTap) {
        let view = HeadView {
            head: self.head.as_ref().unwrap_or(&NO_HEAD),
            buf: &self.buf,
            headers: &self.headers,
            tokens: &self.tokens,
        };
        (view, &mut self.tap)
    }

    fn tap(&mut self) -> &mut SessionTap {
        &mut self.tap
    }

    fn consume_head(&mut self) {}

    fn take_whole_body(&mut self, into: &mut Vec<u8>, max: u64) -> bool {
        let framing = self.head().framing;
        if framing == BodyFraming::None {
            return true;
        }
        if self.body.is_some() || self.held.len() as u64 > max {
            return false;
        }
        match framing {
            BodyFraming::Length(n) if n == self.held.len() as u64 => {
                into.extend_from_slice(&self.held);
            }
            BodyFraming::Chunked => {
                let held = std::mem::take(&mut self.held);
                BodyEncoder::Chunked.piece(BodyPiece::Data(&held), into);
                let mut trailers = Vec::new();
                self.trailer_lines(&mut trailers);
                BodyEncoder::Chunked.finish(&trailers, into);
            }
            _ => return false,
        }
        self.held.clear();
        true
    }

    async fn send_request_body(
        &mut self,
        upstream: &mut UpstreamConn,
        head: &[u8],
    ) -> Result<u64, RequestBodyError> {
        let encoder = if self.head().framing == BodyFraming::Chunked {
            BodyEncoder::Chunked
        } else {
            BodyEncoder::Identity
        };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.extend_from_slice(head);
        let held = std::mem::take(&mut self.held);
        encoder.piece(BodyPiece::Data(&held), &mut out);
        let pace = self
            .body_pace
            .unwrap_or_else(|| BodyPace::start(&self.listener.config));
        let mut total = held.len() as u64;
        loop {
            if self.body.is_none() {
                let mut trailers = Vec::new();
                self.trailer_lines(&mut trailers);
                encoder.finish(&trailers, &mut out);
            }
            // Sent before waiting for more: the upstream sees the head at once.
            let flushed = flush(upstream, &mut out).await;
            if flushed.is_err() {
                return Err(RequestBodyError::Upstream);
            }
            if self.body.is_none() {
                self.out = out;
                return Ok(total);
            }
            // A minimum rate's deadline (its 408 is the body timeout's);
            // without one, `next_data` bounds the wait by `stream_idle_timeout`.
            let deadline = self
                .listener
                .config
                .request_body_min_rate
                .and_then(|_| pace.streaming_deadline(total, Instant::now()));
            match self.next_data(deadline).await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if self.over_limit(total) {
                        let reply = LocalReply::BadRequest(CodecError::BodyTooLarge);
                        return Err(RequestBodyError::Client(self.local_reply(reply).await));
                    }
                    encoder.piece(BodyPiece::Data(&chunk), &mut out);
                }
                Ok(None) => {}
                // The client reset the stream mid-body: nothing to answer.
                Err(BodyFault::Reset) => return Err(RequestBodyError::Client(Step::Close)),
                Err(timed_out) => {
                    let step = self.local_reply(timed_out.reply()).await;
                    return Err(RequestBodyError::Client(step));
                }
            }
        }
    }

    fn detach_body(&mut self) -> Option<DetachedBody> {
        let recv = self.body.take()?;
        Some(DetachedBody {
            held: std::mem::take(&mut self.held).freeze(),
            recv,
            deadline: self.pumped_body_deadline(),
            max: self.listener.config.limits.max_body_bytes,
        })
    }

    async fn send_continue(&mut self) -> Result<(), ClientGone> {
        if std::mem::replace(&mut self.continue_sent, true) {
            return Ok(());
        }
        let mut resp = Response::new(());
        *resp.status_mut() = http::StatusCode::CONTINUE;
        self.respond
            .send_informational(resp)
            .map_err(|_| ClientGone)
    }

    async fn send_informational(&mut self, resp: ResponseView<'_>) -> Result<(), ClientGone> {
        let r = head::response_head(resp.buf, resp.head, resp.headers, resp.tokens, None);
        self.respond.send_informational(r).map_err(|_| ClientGone)
    }

    async fn send_response_head(
        &mut self,
        resp: ResponseView<'_>,
        service_time_ms: u64,
    ) -> Result<BodyEncoder, ClientGone> {
        let r = head::response_head(
            resp.buf,
            resp.head,
            resp.headers,
            resp.tokens,
            Some(service_time_ms),
        );
        self.pending = Some(r);
        if resp.head.framing == BodyFraming::None {
            self.send_head(true)?;
        }
        Ok(BodyEncoder::Identity)
    }

    async fn relay_response_body(
        &mut self,
        upstream: &mut UpstreamConn,
        up_buf: &mut BytesMut,
        mut decoder: BodyDecoder,
        _encoder: BodyEncoder,
        read_timeout: Option<std::time::Duration>,
        _head_at: Instant,
    ) -> Result<u64, RelayError> {
        if self.finished {
            return Ok(0);
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let mut trailers = Vec::new();
        let mut total = 0u64;
        let mut delivered = Delivered::Nothing;
        loop {
            let step = decoder.decode(up_buf, &mut |piece| match piece {
                BodyPiece::Data(d) => out.extend_from_slice(d),
                BodyPiece::Trailers(t) => trailers.extend_from_slice(t),
            });
            let step = step.map_err(|e| RelayError::Source(SourceFault::Codec(e), delivered))?;
            up_buf.advance(step.consumed);
            let done = step.done;
            if !out.is_empty() || done {
                let end_with_data = done && trailers.is_empty();
                self.send_head(false).map_err(|_| RelayError::Sink)?;
                delivered = Delivered::Partly;
                let data = Bytes::copy_from_slice(&out);
                total += data.len() as u64;
                out.clear();
                let send = self.send.as_mut().ok_or(RelayError::Sink)?;
                if !data.is_empty() || end_with_data {
                    if data.is_empty() {
                        send.send_data(Bytes::new(), true)
                            .map_err(|_| RelayError::Sink)?;
                    } else {
                        send_data(send, data, end_with_data)
                            .await
                            .map_err(|_| RelayError::Sink)?;
                    }
                }
                if done {
                    if !trailers.is_empty() {
                        send.send_trailers(crate::upstream::h2::head::trailers_from_lines(
                            &trailers,
                        ))
                        .map_err(|_| RelayError::Sink)?;
                    }
                    self.finished = true;
                    self.out = out;
                    return Ok(total);
                }
            }
            let wait = read_timeout.map_or(Wait::Unbounded, Wait::For);
            match read_more(upstream, up_buf, wait).await {
                Ok(0) => {
                    decoder
                        .eof()
                        .map_err(|e| RelayError::Source(SourceFault::Codec(e), delivered))?;
                }
                Ok(_) => {}
                Err(ReadError::TimedOut) => {
                    *up_buf = BytesMut::new();
                    return Err(RelayError::Source(SourceFault::TimedOut, delivered));
                }
                Err(ReadError::Io(_)) => {
                    return Err(RelayError::Source(SourceFault::Io, delivered))
                }
            }
        }
    }

    fn keeps_alive(&self) -> bool {
        true
    }

    async fn local_reply(&mut self, reply: LocalReply<'_>) -> Step {
        let status = reply.status();
        let head_only = self.head.as_ref().is_some_and(|h| h.method == Method::Head);
        let (resp, body) = if self.grpc {
            head::grpc_local_reply(status, &reply, reply.extra_headers())
        } else {
            head::local_reply(status, &reply, reply.extra_headers(), head_only)
        };
        // A gRPC client got HTTP 200 with the status in `grpc-status`: count
        // and log what was sent (Envoy records 200 too).
        let sent = if self.grpc { 200 } else { status };
        self.tap.local_reply(
            sent,
            body.len() as u64,
            reply.counter(),
            reply.flag(),
            reply.details(),
        );
        if self.finished || self.send.is_some() {
            // Part of a response is out already: it can only be cut short.
            return Step::Close;
        }
        self.pending = Some(resp);
        if self.send_head(body.is_empty()).is_err() {
            return Step::Close;
        }
        if let Some(send) = self.send.as_mut() {
            if send_data(send, body, true).await.is_err() {
                return Step::Close;
            }
            self.finished = true;
        }
        Step::KeepAlive
    }

    fn started(&self) -> Instant {
        self.started
    }

    async fn duration_reached(&mut self) -> Step {
        if self.pending.is_some() || self.send.is_some() || self.finished {
            self.tap
                .count(crate::stats::names::ListenerCounter::DownstreamRqMaxDurationReached);
            return Step::Close;
        }
        self.local_reply(LocalReply::MaxStreamDuration).await
    }
}
