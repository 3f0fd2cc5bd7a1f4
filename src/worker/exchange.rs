//! The request exchange: route → admit → forward (with retries) → relay the
//! response → hand the upstream connection back to its pool. Protocol-blind:
//! the client side is a `Downstream`, so the same code serves an HTTP/1.1
//! request and, later, an HTTP/2 stream, over TCP or TLS.
//!
//! A route that answers itself (`redirect`, `direct_response`) is answered
//! at the top of `run`, before any cluster is asked for a host. A forwarding
//! route picks its cluster there too (a weighted split draws per request,
//! `Sent::pick`), and with it the header mutations and host rewrite the
//! request gets: applied as the upstream head is encoded, and to the response
//! head (or ringway's own answer) on the way back (`mutate`).
//!
//! Every answer of ringway's own goes out as a `LocalReply` through
//! `Downstream::local_reply`; counting goes through the request's `SessionTap`
//! at the points where a fact becomes known.

use std::time::Instant;

use bytes::Buf;

use super::{
    attempt::{attempt, Answered, AttemptError, AttemptPlan},
    client_caps::ClientSlot,
    downstream::{Downstream, HeadView, Step},
    local_reply::{Decorated, LocalReply, RouteReply},
    mutate::{self, ResponseParts},
    redirect::{write_location, RequestUrl},
    relay::{Delivered, RelayError, SourceFault},
    retry::{backoff, NoRetry, RetryState, REPLAY_BODY_MAX},
    tap::{Picked, SessionTap},
    EditScratch, ExchangeBuffers, ListenerCtx, Worker, WorkerGeneration,
};
use crate::{
    codec::{
        body::BodyDecoder,
        encode::{encode_request, write_dec, EditedHead, RequestEdits},
        CodecError,
    },
    config::{ForwardAction, HostRewrite, RouteAction, RouteEdits, Target},
    router::{RouteInput, RouteMatch},
    upstream::{
        cluster::{Admission, HashInput, Overflow, Queued, RequestGuard},
        UpstreamError, WorkerCluster,
    },
};

/// What a request is served against: its worker, the config generation it
/// started on, and its listener in that generation.
pub struct Env<'a> {
    pub worker: &'a Worker,
    pub gen: &'a WorkerGeneration,
    pub listener: &'a ListenerCtx,
}

/// Serve the request `down` holds, whose head has been read.
pub async fn run<D: Downstream>(env: &Env<'_>, down: &mut D, bufs: &mut ExchangeBuffers) -> Step {
    let Some(route) = route(env, down, &mut bufs.route_scratch) else {
        return down.local_reply(LocalReply::NoRoute).await;
    };
    down.tap().route(route.route.name.as_ref());
    let edits = &route.route.edits;
    match &route.route.action {
        RouteAction::Forward(action) => {
            // The route's own limit replaces the listener's (0s: none here).
            let limit = action
                .max_stream_duration
                .or(env.listener.config.max_stream_duration)
                .filter(|d| !d.is_zero());
            let Some(max) = limit else {
                return proxy(env, down, bufs, &route, action).await;
            };
            let left = (down.started() + max).saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, proxy(env, down, bufs, &route, action)).await {
                Ok(step) => step,
                Err(_) => down.duration_reached().await,
            }
        }
        RouteAction::Redirect(redirect) => {
            let out = &mut bufs.out;
            out.clear();
            write_location(out, redirect, &request_url(down, route.matched_len));
            reply_mutations(down, edits, false, &mut bufs.edit.start_time, out);
            let reply = RouteReply {
                status: redirect.status,
                headers: out,
                body: b"",
            };
            down.local_reply(LocalReply::Route(reply)).await
        }
        RouteAction::Direct(direct) => {
            let out = &mut bufs.out;
            out.clear();
            let body = direct.body.bytes();
            reply_mutations(
                down,
                edits,
                !body.is_empty(),
                &mut bufs.edit.start_time,
                out,
            );
            let reply = RouteReply {
                status: direct.status,
                headers: out,
                body,
            };
            down.local_reply(LocalReply::Route(reply)).await
        }
    }
}

/// A route answering itself gets its response mutations too (as in Envoy).
fn reply_mutations<D: Downstream>(
    down: &mut D,
    edits: &RouteEdits,
    has_body: bool,
    time: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let ops = &edits.response;
    if ops.is_empty() {
        return;
    }
    let start_time = mutate::render_start_time(ops, down.tap(), time);
    let cx = mutate::response_context(down.peer(), None, down.head().version, start_time);
    mutate::reply_headers(ops, &cx, has_body, out);
}

/// One of ringway's own answers to a routed request, with the route's
/// response mutations (Envoy's router adds them to its local replies); the
/// plain reply when the route has none.
async fn routed_reply<D: Downstream>(
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    edits: &RouteEdits,
    reply: LocalReply<'_>,
) -> Step {
    let ops = &edits.response;
    if ops.is_empty() {
        return down.local_reply(reply).await;
    }
    let out = &mut bufs.out;
    out.clear();
    out.extend_from_slice(reply.extra_headers());
    let start_time = mutate::render_start_time(ops, down.tap(), &mut bufs.edit.start_time);
    let cx = mutate::response_context(down.peer(), None, down.head().version, start_time);
    mutate::reply_headers(ops, &cx, true, out);
    let decorated = Decorated {
        cause: &reply,
        headers: out,
    };
    down.local_reply(LocalReply::Decorated(decorated)).await
}

/// Forward to the route's cluster and relay what comes back.
async fn proxy<D: Downstream>(
    env: &Env<'_>,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    route: &RouteMatch<'_>,
    action: &ForwardAction,
) -> Step {
    let sent = Sent::pick(env, route, action);
    let cluster = &*env.gen.clusters[sent.cluster];
    let slot = env.gen.cluster_slots[sent.cluster];
    // Held until the exchange ends, however it ends.
    let _client_slot = match admit_client(env, down) {
        Ok(slot) => slot,
        Err(reply) => return routed_reply(down, bufs, sent.edits, reply).await,
    };
    // One clock read starts the upstream request: its time in the cluster's
    // histogram, the route timeout and the first attempt (nothing is awaited
    // between them, unless a 100 Continue goes out first).
    let begun = Instant::now();
    let (guard, admitted) = match admit(cluster, slot, down, (begun, action.timeout)).await {
        Ok(admitted) => admitted,
        Err(reply) => return routed_reply(down, bufs, sent.edits, reply).await,
    };
    encode_upstream_head(env, down, bufs, route, action, &sent, &guard);
    down.consume_head();
    let mut started = admitted;
    if down.head().expect_continue {
        if down.send_continue().await.is_err() {
            return Step::Close;
        }
        started = Instant::now();
    }
    let upstream = Upstream {
        guard,
        slot,
        begun,
        started,
    };
    forward(env, down, bufs, cluster, upstream, action, sent.edits).await
}

/// Where this request goes and what it gets on the way: a weighted route
/// draws its cluster per request, and that cluster's own header mutations
/// and host rewrite (if any) come first.
struct Sent<'r> {
    cluster: usize,
    edits: &'r RouteEdits,
    host_rewrite: &'r HostRewrite,
}

impl<'r> Sent<'r> {
    fn pick(env: &Env<'_>, route: &RouteMatch<'r>, action: &'r ForwardAction) -> Self {
        match &action.target {
            Target::Cluster(c) => Sent {
                cluster: *c,
                edits: &route.route.edits,
                host_rewrite: &action.host_rewrite,
            },
            Target::Weighted(w) => {
                let entry = w.pick(env.worker.next_random());
                Sent {
                    cluster: entry.cluster,
                    edits: &entry.edits,
                    host_rewrite: match &entry.host_rewrite {
                        HostRewrite::Keep => &action.host_rewrite,
                        own => own,
                    },
                }
            }
        }
    }
}

fn request_url<D: Downstream>(down: &mut D, matched_len: usize) -> RequestUrl<'_> {
    let scheme = down.scheme();
    let (req, _) = down.request();
    RequestUrl {
        scheme,
        host: req.head.host_value(req.buf),
        target: req.head.slice(req.buf, req.head.target),
        matched_len,
    }
}

fn route<'l, D: Downstream>(
    env: &Env<'l>,
    down: &mut D,
    scratch: &mut Vec<u8>,
) -> Option<RouteMatch<'l>> {
    let (req, _) = down.request();
    let head = req.head;
    let target = head.slice(req.buf, head.target);
    let query = match target.iter().position(|&b| b == b'?') {
        Some(q) => &target[q + 1..],
        None => &[],
    };
    let input = RouteInput {
        host: head.host_value(req.buf),
        path: head.path(req.buf),
        query,
        buf: req.buf,
        headers: req.headers,
    };
    env.listener.router.route(&input, scratch)
}

/// Count the request against its client's cap, if the listener has one.
fn admit_client<'w, D: Downstream>(
    env: &Env<'w>,
    down: &D,
) -> Result<Option<ClientSlot<'w>>, LocalReply<'static>> {
    let Some(cap) = env.listener.config.max_upstream_requests_per_client else {
        return Ok(None);
    };
    let share = env.worker.client_share(cap);
    match env.worker.clients.enter(down.peer().ip(), share) {
        Some(slot) => Ok(Some(slot)),
        None => Err(LocalReply::ClientLimit),
    }
}

/// Ask the cluster for a host (breakers, health, balancer), counting the
/// outcome; `now`: the upstream request's start, from which the route
/// timeout counts. Returns the guard and when it was taken (later than
/// `now` if the connection breaker queued the request).
async fn admit<'c, D: Downstream>(
    cluster: &'c WorkerCluster,
    slot: usize,
    down: &mut D,
    (now, timeout): (Instant, Option<std::time::Duration>),
) -> Result<(RequestGuard<'c>, Instant), LocalReply<'static>> {
    let deadline = timeout.map(|t| now + t);
    let (answer, queued) = admission(cluster, slot, down, Key::Head, deadline).await;
    // A request that waited reads the clock again.
    let now = if queued { Instant::now() } else { now };
    let (picked, outcome) = match answer {
        Answer::Host(guard) => (Picked::Host(guard.addr()), Ok((guard, now))),
        Answer::NoHealthy => (Picked::NoHealthy, Err(LocalReply::NoHealthyUpstream)),
        Answer::Overloaded(which) => (Picked::Overflow(which), Err(LocalReply::Overflow(which))),
        Answer::TimedOut => {
            let e = UpstreamError::Timeout;
            down.tap().upstream_error(&e);
            return Err(LocalReply::Upstream(e));
        }
    };
    down.tap().picked(slot, &picked, now);
    outcome
}

/// How asking the cluster for a host ended, queueing waited out.
enum Answer<'c> {
    Host(RequestGuard<'c>),
    NoHealthy,
    Overloaded(Overflow),
    /// The deadline came while the connection breaker had it queued.
    TimedOut,
}

/// What a request is hashed on when it asks for a host.
#[derive(Clone, Copy)]
enum Key {
    /// Its head (the first attempt).
    Head,
    /// Nothing but the peer: a retry's head is consumed.
    PeerOnly,
}

/// `begin_request`, waiting while the connection breaker queues the request
/// (Envoy's pending request), up to `deadline`: how it ended, and whether it
/// was queued. The waits are counted once however often it asks.
async fn admission<'c, D: Downstream>(
    cluster: &'c WorkerCluster,
    slot: usize,
    down: &mut D,
    key: Key,
    deadline: Option<Instant>,
) -> (Answer<'c>, bool) {
    let peer = down.peer().ip();
    let mut queued_before = false;
    loop {
        let (req, tap) = down.request();
        let input = match key {
            Key::Head => HashInput {
                buf: req.buf,
                headers: req.headers,
                peer,
            },
            Key::PeerOnly => HashInput {
                buf: &[],
                headers: &[],
                peer,
            },
        };
        let answer = match cluster.begin_request(&input) {
            Admission::Queued(queued) => Err(queued),
            Admission::Admitted(guard) => {
                if !queued_before {
                    count_waits(tap, slot, &guard);
                }
                Ok(Answer::Host(guard))
            }
            Admission::NoHealthyUpstream => Ok(Answer::NoHealthy),
            Admission::Overloaded(which) => Ok(Answer::Overloaded(which)),
        };
        let queued = match answer {
            Ok(answer) => return (answer, queued_before),
            Err(queued) => queued,
        };
        if !queued_before {
            tap.connection_overflow(slot);
            tap.pending(slot);
            queued_before = true;
        }
        if !Box::pin(freed_by(&queued, deadline)).await {
            return (Answer::TimedOut, true);
        }
    }
}

/// The head as the upstream gets it, into `bufs.req_head`.
fn encode_upstream_head<D: Downstream>(
    env: &Env<'_>,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    route: &RouteMatch<'_>,
    action: &ForwardAction,
    sent: &Sent<'_>,
    guard: &RequestGuard<'_>,
) {
    let request_id = env.worker.next_request_id();
    let client = down.peer();
    let scheme = down.scheme();
    let (req, tap) = down.request();
    let forwarding = &env.listener.config.forwarding;
    let forward = forwarding.plan(req.buf, req.headers, client.ip());
    tap.request_id(&request_id, forward.request_id);
    let ops = &sent.edits.request;
    let EditScratch {
        start_time,
        host,
        path,
        ..
    } = &mut bufs.edit;
    let rewrite = match (&action.prefix_rewrite, &action.regex_rewrite) {
        (Some(prefix), _) => Some((route.matched_len, prefix.as_bytes())),
        (None, Some(regex)) => {
            // The whole path is replaced by its rewrite; the query stays.
            let old = req.head.path(req.buf);
            path.clear();
            regex.rewrite(old, path);
            Some((old.len(), &path[..]))
        }
        (None, None) => None,
    };
    let host_rewrite = match sent.host_rewrite {
        HostRewrite::Keep => None,
        HostRewrite::Literal(h) => Some(h.as_bytes()),
        HostRewrite::UpstreamHostname => {
            host.clear();
            guard.write_hostname(host).then_some(&host[..])
        }
    };
    let edits = RequestEdits {
        client,
        rewrite,
        upstream: guard.addr(),
        request_id: &request_id,
        scheme,
        forward,
        external_header: forwarding
            .external_address_header
            .as_deref()
            .map(str::as_bytes),
        ops,
        start_time: mutate::render_start_time(ops, tap, start_time),
        host_rewrite,
    };
    bufs.req_head.clear();
    encode_request(
        req.buf,
        req.head,
        req.headers,
        req.tokens,
        &edits,
        &mut bufs.req_head,
    );
}

/// An admitted request's upstream side, as `forward` takes it.
struct Upstream<'c> {
    guard: RequestGuard<'c>,
    /// The cluster's stats slot.
    slot: usize,
    /// When admission began: the route timeout counts from here (a request
    /// the connection breaker queued has waited since).
    begun: Instant,
    /// When the first attempt starts (the guard was just taken).
    started: Instant,
}

/// Send the request (retrying as the route allows) and relay the response.
async fn forward<'c, D: Downstream>(
    env: &Env<'_>,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    cluster: &'c WorkerCluster,
    upstream: Upstream<'c>,
    route: &'c ForwardAction,
    edits: &'c RouteEdits,
) -> Step {
    let Upstream {
        guard,
        slot,
        begun,
        started: now,
    } = upstream;
    let head_len = bufs.req_head.len();
    // Only a request held whole in `req_head` can be sent twice.
    // What the listener buffered before routing can be held (and so replayed).
    let hold = env.listener.config.request_buffer.max(REPLAY_BODY_MAX);
    let replayable = down.take_whole_body(&mut bufs.req_head, hold);
    down.tap()
        .bytes_received((bufs.req_head.len() - head_len) as u64);
    // The route's overall timeout counts from admission; the first attempt's
    // from its start (the same moment unless the request was queued or sent
    // a 100 Continue); later attempts read the clock anew.
    let mut retry = RetryState::new(cluster, route, replayable, begun);
    let request = Request {
        cluster,
        slot,
        head_len,
        replayable,
        edits,
    };
    let first = (now, &mut retry);
    let (answered, guard) = match attempts(env, down, bufs, &request, first, guard).await {
        Ok(done) => done,
        Err(step) => return step,
    };
    guard.response(answered.resp.status);
    let idle = env.listener.config.stream_idle_timeout;
    respond(down, bufs, cluster, &guard, (route, edits, idle), answered).await
}

/// What stays the same across a request's attempts.
struct Request<'c> {
    cluster: &'c WorkerCluster,
    /// The cluster's stats slot.
    slot: usize,
    /// The header mutations this request gets (for ringway's own answers too).
    edits: &'c RouteEdits,
    /// The length of the head in `req_head` (a held body follows it).
    head_len: usize,
    replayable: bool,
}

/// Attempt until a response is final: the first one the retry policy does
/// not retry, or the failure it gives up on (answered here).
async fn attempts<'c, D: Downstream>(
    env: &Env<'_>,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    request: &Request<'c>,
    (started, retry): (Instant, &mut RetryState<'c>),
    mut guard: RequestGuard<'c>,
) -> Result<(Answered, RequestGuard<'c>), Step> {
    let mut fresh_only = false;
    // `started` is the first attempt's start; a replay or retry starts later.
    let mut now = Some(started);
    loop {
        if retry.counts_attempts() {
            number_attempt(bufs, request.head_len, retry.attempt());
        }
        let begun = now.take().unwrap_or_else(Instant::now);
        let plan = AttemptPlan {
            cluster: request.cluster,
            guard: &guard,
            fresh_only,
            replayable: request.replayable,
            begun,
            deadline: retry.attempt_deadline(begun),
            numbered: retry.counts_attempts(),
        };
        fresh_only = false;
        let failure = match attempt(env.worker, down, bufs, &plan).await {
            Ok(answered) => match retry.after_status(answered.resp.status) {
                Ok(()) => {
                    // The response is dropped with its connection.
                    guard.response(answered.resp.status);
                    bufs.up_buf.clear();
                    None
                }
                Err(no) => {
                    count_no_retry(down, no);
                    return Ok((answered, guard));
                }
            },
            Err(AttemptError::Client(step)) => {
                guard.client_fault();
                return Err(step);
            }
            Err(AttemptError::StaleConnection) => {
                // Not a retry: the same request on a new connection to the same host.
                fresh_only = true;
                continue;
            }
            Err(AttemptError::Upstream(e)) => {
                down.tap().upstream_error(&e);
                if let Err(no) = retry.after_error(e, Instant::now()) {
                    count_no_retry(down, no);
                    bufs.up_buf.clear();
                    let reply = LocalReply::Upstream(e);
                    return Err(routed_reply(down, bufs, request.edits, reply).await);
                }
                Some(e)
            }
        };
        monoio::time::sleep(backoff(retry.attempt(), env.worker.next_random())).await;
        retry.advance();
        // The failed attempt's outcome is recorded as its guard drops; the next
        // attempt is admitted anew, normally on the balancer's next host. (The
        // head is consumed by now, so hash policies see no key.)
        drop(guard);
        guard = match readmit(request.cluster, request.slot, down, retry.deadline()).await {
            Some(next) => next,
            None => {
                let e = failure.unwrap_or(UpstreamError::NoHealthyUpstream);
                bufs.up_buf.clear();
                let reply = LocalReply::Upstream(e);
                return Err(routed_reply(down, bufs, request.edits, reply).await);
            }
        };
        down.tap().upstream_retry(guard.addr());
    }
}

fn count_no_retry<D: Downstream>(down: &mut D, no: NoRetry) {
    if let NoRetry::Overflow = no {
        down.tap().retry_overflow();
    }
}

/// Admit a retry (no hash key: the head is consumed), queued as the first
/// attempt would be, up to the route timeout; `None` when it cannot go.
async fn readmit<'c, D: Downstream>(
    cluster: &'c WorkerCluster,
    slot: usize,
    down: &mut D,
    deadline: Option<Instant>,
) -> Option<RequestGuard<'c>> {
    match admission(cluster, slot, down, Key::PeerOnly, deadline).await {
        (Answer::Host(next), _) => Some(next),
        _ => None,
    }
}

/// An admission not queued before: count whether it waits for a connection
/// it opens, and whether it went past the connection breaker to do so.
fn count_waits(tap: &mut SessionTap, slot: usize, guard: &RequestGuard<'_>) {
    if guard.is_pending() {
        tap.pending(slot);
    }
    if guard.over_connection_limit() {
        tap.connection_overflow(slot);
    }
}

/// Wait for the queued request's cluster to free a connection: false if
/// `deadline` came first. Boxed by its callers: queueing is the rare path,
/// and a timer inline would size every request's future.
async fn freed_by(queued: &Queued<'_>, deadline: Option<Instant>) -> bool {
    match deadline {
        Some(d) => monoio::time::timeout_at(d.into(), queued.freed())
            .await
            .is_ok(),
        None => {
            queued.freed().await;
            true
        }
    }
}

/// `bufs.out` = the head with `x-ringway-attempt-count`, then any held body.
fn number_attempt(bufs: &mut ExchangeBuffers, head_len: usize, attempt: u32) {
    let out = &mut bufs.out;
    out.clear();
    // The head without its blank line, the count, the blank line, the body.
    out.extend_from_slice(&bufs.req_head[..head_len - 2]);
    out.extend_from_slice(b"x-ringway-attempt-count: ");
    write_dec(out, u64::from(attempt));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&bufs.req_head[head_len..]);
}

/// Relay the final response to the client, then pool the upstream connection
/// if it is clean.
async fn respond<D: Downstream>(
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    cluster: &WorkerCluster,
    guard: &RequestGuard<'_>,
    (route, edits, idle): (&ForwardAction, &RouteEdits, Option<std::time::Duration>),
    answered: Answered,
) -> Step {
    let Answered {
        mut upstream,
        resp,
        service_time_ms,
        head_at,
    } = answered;
    // A 101 the client did not ask for, or one its connection cannot carry.
    if resp.status == 101 && !(down.head().upgrade && down.can_tunnel()) {
        bufs.up_buf.clear();
        let e = UpstreamError::BadResponse(CodecError::Malformed);
        return routed_reply(down, bufs, edits, LocalReply::Upstream(e)).await;
    }
    let parts = ResponseParts {
        head: &resp,
        buf: &bufs.up_buf,
        headers: &bufs.up_headers,
        tokens: &bufs.up_tokens,
    };
    let ops = &edits.response;
    let sent = if ops.is_empty() {
        let view = HeadView {
            head: parts.head,
            buf: parts.buf,
            headers: parts.headers,
            tokens: parts.tokens,
        };
        down.tap().response_headers(view.buf, view.headers);
        down.send_response_head(view, service_time_ms).await
    } else {
        let EditScratch {
            start_time,
            head,
            headers,
            tokens,
            ..
        } = &mut bufs.edit;
        let time = mutate::render_start_time(ops, down.tap(), start_time);
        let cx =
            mutate::response_context(down.peer(), Some(guard.addr()), down.head().version, time);
        let into = EditedHead {
            buf: head,
            headers,
            tokens,
        };
        let edited = mutate::edit_response_head(parts, ops, &cx, into);
        let view = HeadView {
            head: &edited.head,
            buf: edited.buf,
            headers: edited.headers,
            tokens: edited.tokens,
        };
        down.tap().response_headers(view.buf, view.headers);
        down.send_response_head(view, service_time_ms).await
    };
    let Ok(encoder) = sent else {
        return Step::Close;
    };
    bufs.up_buf.advance(resp.head_len);
    if resp.status == 101 {
        return Step::Tunnel(upstream);
    }
    // The route timeout bounds the wait for the head; once the body flows, it
    // bounds each read instead, so a long download is not cut off midway. The
    // listener's `stream_idle_timeout` bounds each read too.
    let decoder = BodyDecoder::new(resp.framing);
    let read_timeout = match (route.timeout, idle) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let relayed = down
        .relay_response_body(
            &mut upstream,
            &mut bufs.up_buf,
            decoder,
            encoder,
            read_timeout,
            head_at,
        )
        .await;
    let sent = match relayed {
        Ok(sent) => sent,
        // A body that breaks its framing before any of the response reached
        // the client (often in the same read as the head): the client can
        // still be told, with a whole 502 of our own.
        Err(RelayError::Source(SourceFault::Codec(e), Delivered::Nothing)) => {
            bufs.up_buf.clear();
            let e = UpstreamError::BadResponse(e);
            down.tap().upstream_error(&e);
            return routed_reply(down, bufs, edits, LocalReply::Upstream(e)).await;
        }
        Err(_) => {
            // The response is cut short; the client learns by the connection closing.
            bufs.up_buf.clear();
            return Step::Close;
        }
    };
    // The response is written: one clock read ends the request (the tap's
    // durations) and parks its connection (the pool's idle age).
    let done = Instant::now();
    down.tap().response_written(sent, done);
    cluster.response_relayed(resp.head_len as u64 + sent);
    if resp.keep_alive && bufs.up_buf.is_empty() {
        cluster.checkin(guard.addr(), upstream, resp.declared_body, done);
    }
    bufs.up_buf.clear();
    if down.keeps_alive() {
        Step::KeepAlive
    } else {
        Step::Close
    }
}
