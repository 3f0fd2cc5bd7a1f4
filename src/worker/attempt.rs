//! One upstream attempt: a connection (pooled or new), the request head and
//! body written to it, and the final response head read back, with any 1xx
//! responses before it passed on or dropped.
//!
//! A pooled connection can turn out to have been closed by the upstream while
//! it sat idle. When that shows before any response byte, and sending the
//! request again cannot repeat a side effect, the attempt reports
//! `StaleConnection` and the exchange replays it on a new connection to the
//! same host: that is not a retry and costs the request nothing.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::{
    downstream::{Downstream, HeadView, RequestBodyError, Step},
    io::{read_more, write_all_by, ReadError, Wait, WRITE_TIMEOUT},
    local_reply::LocalReply,
    ExchangeBuffers, Worker,
};
use crate::{
    codec::{
        limits::MAX_INFORMATIONAL_RESPONSES,
        request::{Method, Parsed},
        response::{parse_response, ResponseHead},
        CodecError,
    },
    upstream::{
        cluster::RequestGuard, connect::UpstreamConn, pool::Checkout, UpstreamError, WorkerCluster,
    },
};

/// Why an attempt produced no response head.
pub enum AttemptError {
    /// The upstream failed; a retry may help.
    Upstream(UpstreamError),
    /// A reused connection turned out closed before answering.
    StaleConnection,
    /// The client side failed and has been answered (or closed) already.
    Client(Step),
}

/// What an attempt is asked to do.
pub struct AttemptPlan<'a> {
    pub cluster: &'a WorkerCluster,
    /// The request's admission: its host, and its pending count, which ends
    /// once the attempt has a connection.
    pub guard: &'a RequestGuard<'a>,
    /// Do not reuse a pooled connection (the last one was stale).
    pub fresh_only: bool,
    /// The whole request is in `ExchangeBuffers::req_head`.
    pub replayable: bool,
    /// When the attempt began (the clock read that set `deadline`).
    pub begun: Instant,
    /// When the response head must have arrived.
    pub deadline: Option<Instant>,
    /// Send `ExchangeBuffers::out` (the head as numbered for this attempt)
    /// instead of `req_head`.
    pub numbered: bool,
}

/// A response head and the connection it arrived on.
pub struct Answered {
    pub upstream: UpstreamConn,
    pub resp: ResponseHead,
    /// How long the upstream took, from the request sent to the head read
    /// (the access log's and `x-envoy-upstream-service-time`'s one figure).
    pub service_time_ms: u64,
    /// When the head arrived.
    pub head_at: Instant,
}

/// Make one attempt.
pub async fn attempt<D: Downstream>(
    worker: &Worker,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    plan: &AttemptPlan<'_>,
) -> Result<Answered, AttemptError> {
    // A request that failed on a reused connection before any response byte
    // is replayed on a new one, if replaying cannot repeat a side effect.
    let stale_replay = plan.replayable && down.head().method.is_idempotent();
    let pooled = if plan.fresh_only {
        None
    } else {
        let checkout = if stale_replay {
            Checkout::Replayable
        } else {
            Checkout::ProbeFirst
        };
        plan.cluster
            .checkout(plan.guard.addr(), checkout, plan.begun)
    };
    let reused = pooled.is_some();
    let mut upstream = match pooled {
        Some(s) => s,
        None => {
            // Boxed: connecting (timers, TLS, the HTTP/2 handshake) is the rare
            // path, and its 5 KiB of state inline would size every request's
            // future (monoio's `Sleep` alone is 640 bytes).
            let c = Box::pin(plan.cluster.connect(plan.guard.addr()))
                .await
                .map_err(AttemptError::Upstream)?;
            plan.guard.connected();
            if c.opened {
                down.tap().upstream_connected(c.conn.is_h2());
                if c.conn.is_tls() {
                    down.tap().upstream_tls_handshake();
                }
            }
            c.conn
        }
    };
    down.tap().upstream_local(|| upstream.local_addr());
    // The request goes out now: at the attempt's start for a pooled
    // connection (nothing was awaited since), after a connect the clock is
    // read again.
    let sent_at = if reused { plan.begun } else { Instant::now() };
    let replay = Replay {
        stale: reused && stale_replay,
        unprocessed: plan.replayable && !plan.fresh_only,
    };
    match send_request(down, bufs, &mut upstream, plan, sent_at).await {
        Ok(()) => {}
        // Input the codec accepts but HTTP/2 forbids (`<` in a path, `%` in a
        // host): a 400, never a reset charged to a healthy host, never replayed.
        Err(RequestBodyError::Upstream) if upstream.rejected_head() => {
            let step = down
                .local_reply(LocalReply::BadRequest(CodecError::Malformed))
                .await;
            return Err(AttemptError::Client(step));
        }
        Err(RequestBodyError::Upstream) => return Err(replay.after_reset(&upstream)),
        Err(RequestBodyError::Client(step)) => return Err(AttemptError::Client(step)),
    }
    match read_response_head(worker, down, bufs, &mut upstream, plan).await {
        Ok(resp) => {
            let head_at = Instant::now();
            let service_time_ms = head_at.duration_since(sent_at).as_millis() as u64;
            down.tap()
                .upstream_response(resp.status, service_time_ms, head_at);
            Ok(Answered {
                upstream,
                resp,
                service_time_ms,
                head_at,
            })
        }
        Err(_) if upstream.client_late() => {
            let step = down.local_reply(LocalReply::BodyTimeout).await;
            Err(AttemptError::Client(step))
        }
        Err(UpstreamError::Reset) if bufs.up_buf.is_empty() => Err(replay.after_reset(&upstream)),
        Err(e) => Err(AttemptError::Upstream(e)),
    }
}

/// When a reset before any response byte is replayed on a new connection
/// rather than failed (neither is a retry).
struct Replay {
    /// A reused connection, and a request replaying cannot repeat the effect of.
    stale: bool,
    /// The request is held whole and has not been replayed yet: replayed if the
    /// upstream never processed it (an HTTP/2 stream refused, or excluded by
    /// GOAWAY), whatever its method, as Envoy does.
    unprocessed: bool,
}

impl Replay {
    fn after_reset(&self, upstream: &UpstreamConn) -> AttemptError {
        let refused = upstream.unprocessed();
        if self.stale || (refused && self.unprocessed) {
            AttemptError::StaleConnection
        } else if refused {
            AttemptError::Upstream(UpstreamError::Refused)
        } else {
            AttemptError::Upstream(UpstreamError::Reset)
        }
    }
}

/// Write the head and a held body, or the head and a streamed body.
async fn send_request<D: Downstream>(
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    upstream: &mut UpstreamConn,
    plan: &AttemptPlan<'_>,
    sent_at: Instant,
) -> Result<(), RequestBodyError> {
    // The held part goes out at once: its write may take `WRITE_TIMEOUT`
    // from the moment the request went out, read already.
    let write_by = sent_at + WRITE_TIMEOUT;
    let head = if plan.numbered {
        &mut bufs.out
    } else {
        &mut bufs.req_head
    };
    if !plan.replayable {
        // Full duplex where both sides can: the body goes on by itself.
        let detached = if upstream.takes_detached_body() {
            down.detach_body()
        } else {
            None
        };
        let Some(body) = detached else {
            let n = down.send_request_body(upstream, head).await?;
            down.tap().bytes_received(n);
            return Ok(());
        };
        down.tap().bytes_received(body.held.len() as u64);
        write_held(upstream, head, write_by).await?;
        upstream.pump_body(body);
        return Ok(());
    }
    write_held(upstream, head, write_by).await
}

/// Write `head` (and any body held after it) by `deadline`, keeping it for a
/// replay.
async fn write_held(
    upstream: &mut UpstreamConn,
    head: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), RequestBodyError> {
    // Written without clearing: `req_head` stays for a replay.
    match write_all_by(upstream, std::mem::take(head), Some(deadline)).await {
        Ok((res, written)) => {
            *head = written;
            res.map(|_| ()).map_err(|_| RequestBodyError::Upstream)
        }
        // The buffer went with the timed-out write.
        Err(_) => Err(RequestBodyError::Upstream),
    }
}

/// Read the final response head into `bufs.up_buf`, relaying or dropping 1xx
/// responses before it. A cluster whose responses run large reads it into a
/// body-sized buffer (`WorkerCluster::expects_large_response`).
async fn read_response_head<D: Downstream>(
    worker: &Worker,
    down: &mut D,
    bufs: &mut ExchangeBuffers,
    upstream: &mut UpstreamConn,
    plan: &AttemptPlan<'_>,
) -> Result<ResponseHead, UpstreamError> {
    let deadline = plan.deadline;
    if bufs.up_buf.capacity() == 0 {
        bufs.up_buf = worker.take_buffer();
    }
    bufs.up_buf.clear();
    if down.gathers_responses() && plan.cluster.expects_large_response() {
        worker.widen_buffer(&mut bufs.up_buf);
    }
    let head_request = down.head().method == Method::Head;
    let mut informational = 0;
    loop {
        let parsed = parse_response(
            &bufs.up_buf,
            head_request,
            &mut bufs.up_headers,
            &mut bufs.up_tokens,
        );
        match parsed {
            Ok(Parsed::Complete(resp)) if resp.is_informational() && resp.status != 101 => {
                informational += 1;
                if informational > MAX_INFORMATIONAL_RESPONSES {
                    return Err(UpstreamError::BadResponse(CodecError::Malformed));
                }
                // 100 Continue was answered by us already.
                if resp.status != 100 {
                    let view = HeadView {
                        head: &resp,
                        buf: &bufs.up_buf,
                        headers: &bufs.up_headers,
                        tokens: &bufs.up_tokens,
                    };
                    down.send_informational(view)
                        .await
                        .map_err(|_| UpstreamError::Reset)?;
                }
                bufs.up_buf.advance(resp.head_len);
                continue;
            }
            Ok(Parsed::Complete(resp)) => return Ok(resp),
            Ok(Parsed::Incomplete) => {}
            Err(e) => return Err(UpstreamError::BadResponse(e)),
        }
        match read_more(upstream, &mut bufs.up_buf, Wait::from(deadline)).await {
            Ok(0) | Err(ReadError::Io(_)) => return Err(UpstreamError::Reset),
            Ok(_) => {}
            Err(ReadError::TimedOut) => {
                // The buffer went with the cancelled read.
                bufs.up_buf = BytesMut::new();
                return Err(UpstreamError::Timeout);
            }
        }
    }
}
