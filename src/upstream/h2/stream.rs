//! One request on an HTTP/2 upstream connection, seen by the exchange as an
//! HTTP/1.1 byte stream: it takes the HTTP/1.1 request the exchange writes
//! (head, then a body framed by its `content-length` or chunked) and gives back
//! the response as HTTP/1.1 bytes (head, then the body as its own
//! `content-length` or chunked with trailers). So the exchange, its retries,
//! relay, stats and access log stay protocol-blind: an `UpstreamConn::H2` is
//! read and written like any upstream connection.
//!
//! Invariants: request DATA is sent only within the stream's send window
//! (`reserve_capacity` / `poll_capacity`), so a write returns once `h2` can
//! carry its bytes and a slow upstream slows the client, not memory; response
//! DATA is released back to the upstream's window as it is handed to the
//! reader. The stream counts against its connection's streams until dropped
//! (dropping it unfinished resets it: `h2` sends RST_STREAM(CANCEL)).
//!
//! Full duplex: a client side that can hand its streamed request body over
//! whole (an HTTP/2 client's stream, `DetachedBody`) has it pumped by a task of
//! its own (`pump_body`), so the response flows while the request still does —
//! gRPC's bidirectional streaming, where a client waits for a reply before it
//! sends more. The pump lives no longer than its stream: dropping the
//! `H2Stream` (the exchange is over, however it ended) aborts it, which resets
//! the upstream stream (RST_STREAM(CANCEL)) at once.

use std::{
    cell::Cell,
    future::{poll_fn, Future},
    io,
    pin::Pin,
    rc::Rc,
    task::{Poll, Waker},
    time::Instant,
};

use bytes::Bytes;
use h2::{
    client::{ResponseFuture, SendRequest},
    Reason, RecvStream, SendStream,
};

use super::{
    head::{self, ResponseBody},
    ConnState,
};
use crate::codec::body::{BodyDecoder, BodyEncoder, BodyPiece};

/// A streamed request body the client side hands over to be sent on its own.
pub struct DetachedBody {
    /// What arrived before the upstream was chosen, sent first.
    pub held: Bytes,
    pub recv: RecvStream,
    /// Until when the next wait for the client's bytes may last, given the
    /// bytes received so far: the client side's rules (its stream idle
    /// timeout, minimum body rate, request timeout). `None`: no limit.
    pub deadline: Box<dyn Fn(u64) -> Option<Instant>>,
    /// The listener's body size limit: past it the upstream stream is reset.
    pub max: Option<u64>,
}

/// An upstream stream's side of the HTTP/1.1 request it is written.
enum Tx {
    /// Collecting the request head.
    Head(Vec<u8>),
    Body {
        send: SendStream<Bytes>,
        decoder: BodyDecoder,
    },
    Done,
}

/// And of the response it gives back.
enum Rx {
    /// No request sent yet.
    Idle,
    Waiting(ResponseFuture),
    Body {
        recv: RecvStream,
        encoder: BodyEncoder,
    },
    Done,
}

pub struct H2Stream {
    send_request: SendRequest<Bytes>,
    conn: Rc<ConnState>,
    https: bool,
    /// The authority of a request without `Host`.
    addr: std::net::SocketAddr,
    tx: Tx,
    rx: Rx,
    head_only: bool,
    /// HTTP/1.1 response bytes not yet read; `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Why the stream failed, once it has.
    failure: Option<Failure>,
    /// Set by the body pump when the client ran out of time for its body.
    client_late: Option<Rc<Cell<bool>>>,
    /// Ends the body pump, if there is one, when the stream is dropped.
    pump: Option<Rc<PumpAbort>>,
}

/// Tells a body pump that its stream's exchange is over (the response done, a
/// timeout, the client gone): the pump resets the upstream stream and stops
/// reading the client's body, rather than wait for the client's next DATA.
#[derive(Default)]
struct PumpAbort {
    aborted: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl PumpAbort {
    fn abort(&self) {
        self.aborted.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// `f`, unless the abort comes first (`None`).
    async fn unless_aborted<F: Future>(&self, f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        poll_fn(|cx| {
            if self.aborted.get() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// How a stream failed, as far as a replay is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The upstream never processed it: REFUSED_STREAM, a GOAWAY that
    /// excluded it, or the connection was gone before it could be opened.
    Unprocessed,
    /// Anything else (a reset, the connection lost mid-stream).
    Other,
    /// The request head has no HTTP/2 form (a character HTTP/2 forbids in its
    /// path or authority, too many fields): the client's fault, never sent.
    Untranslatable,
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        if let Some(pump) = &self.pump {
            pump.abort();
        }
        self.conn
            .in_flight
            .set(self.conn.in_flight.get().saturating_sub(1));
    }
}

fn broken(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, what)
}

impl H2Stream {
    /// A stream to be on the connection `send_request` drives (its slot in
    /// `conn.in_flight` already taken by the pool).
    pub(super) fn new(
        send_request: SendRequest<Bytes>,
        conn: Rc<ConnState>,
        https: bool,
        addr: std::net::SocketAddr,
    ) -> H2Stream {
        H2Stream {
            send_request,
            conn,
            https,
            addr,
            tx: Tx::Head(Vec::new()),
            rx: Rx::Idle,
            head_only: false,
            out: Vec::new(),
            out_pos: 0,
            failure: None,
            client_late: None,
            pump: None,
        }
    }

    pub fn is_tls(&self) -> bool {
        self.https
    }

    /// Its connection's own address.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.conn.local
    }

    /// Whether the upstream never processed the request (so it can be sent
    /// again, on another connection, whatever its method).
    pub fn unprocessed(&self) -> bool {
        self.failure == Some(Failure::Unprocessed)
    }

    /// Whether the stream was reset because the client's pumped body ran out
    /// of time (its fault, not the upstream's).
    pub fn client_late(&self) -> bool {
        self.client_late.as_ref().is_some_and(|late| late.get())
    }

    /// Whether the request head could not be written as HTTP/2 at all.
    pub fn untranslatable(&self) -> bool {
        self.failure == Some(Failure::Untranslatable)
    }

    /// Record why `e` ended the stream; the connection is given up on when the
    /// error is the connection's (a GOAWAY, its I/O).
    fn failed(&mut self, e: &h2::Error, opening: bool) -> io::Error {
        let refused = e.reason() == Some(Reason::REFUSED_STREAM) && e.is_remote();
        let go_away = e.is_go_away() && e.is_remote();
        if go_away || e.is_io() || opening {
            self.conn.closed.set(true);
        }
        // A stream the GOAWAY did not exclude finishes before the upstream
        // closes; one cut short by the close after it looks the same to `h2`,
        // so only streams without any response head count as unprocessed.
        let unprocessed = refused || opening || (go_away && matches!(self.rx, Rx::Waiting(_)));
        self.failure = Some(if unprocessed {
            Failure::Unprocessed
        } else {
            Failure::Other
        });
        broken("the HTTP/2 upstream stream failed")
    }

    /// Take `buf` (request bytes in HTTP/1.1 framing); returns once `h2` has
    /// taken what it carries.
    pub async fn write_bytes(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(broken("the HTTP/2 upstream stream failed"));
        }
        // The head usually arrives whole in one write: translated from the
        // caller's bytes, with nothing gathered (or allocated) for it.
        if matches!(&self.tx, Tx::Head(acc) if acc.is_empty()) {
            if let Some(end) = head::head_end(buf) {
                self.open(&buf[..end]).await?;
                self.feed(&buf[end..]).await?;
                return Ok(buf.len());
            }
        }
        match &mut self.tx {
            Tx::Head(acc) => {
                acc.extend_from_slice(buf);
                let Some(end) = head::head_end(acc) else {
                    return Ok(buf.len());
                };
                let acc = std::mem::take(acc);
                self.open(&acc[..end]).await?;
                self.feed(&acc[end..]).await?;
            }
            Tx::Body { .. } => self.feed(buf).await?,
            // A body past its framing's end goes nowhere (the exchange sends none).
            Tx::Done => {}
        }
        Ok(buf.len())
    }

    /// Open the stream with the request `head`.
    async fn open(&mut self, head: &[u8]) -> io::Result<()> {
        let Ok(out) = head::request_from_h1(head, self.https, self.addr) else {
            // Nothing was sent: the stream was never opened, the connection is fine.
            self.failure = Some(Failure::Untranslatable);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "untranslatable head",
            ));
        };
        self.head_only = out.head_only;
        let ends = out.framing == crate::codec::BodyFraming::None;
        if !self.conn.alive_if_idle().await {
            // Dead before the stream was opened: never sent, so a replay is safe.
            self.conn.closed.set(true);
            self.failure = Some(Failure::Unprocessed);
            return Err(broken("the HTTP/2 upstream connection died idle"));
        }
        if let Err(e) = poll_fn(|cx| self.send_request.poll_ready(cx)).await {
            return Err(self.failed(&e, true));
        }
        let (response, send) = match self.send_request.send_request(out.request, ends) {
            Ok(sent) => sent,
            Err(e) => return Err(self.failed(&e, true)),
        };
        self.rx = Rx::Waiting(response);
        self.tx = if ends {
            Tx::Done
        } else {
            Tx::Body {
                send,
                decoder: BodyDecoder::new(out.framing),
            }
        };
        Ok(())
    }

    /// Decode request body bytes and send them as DATA (and trailers).
    async fn feed(&mut self, mut input: &[u8]) -> io::Result<()> {
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        while !input.is_empty() {
            let Tx::Body { decoder, .. } = &mut self.tx else {
                return Ok(());
            };
            let step = decoder
                .decode(input, &mut |piece| match piece {
                    BodyPiece::Data(d) => data.extend_from_slice(d),
                    BodyPiece::Trailers(t) => trailers.extend_from_slice(t),
                })
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request body framing"))?;
            input = &input[step.consumed..];
            self.send_data(&data).await?;
            data.clear();
            if step.done {
                return self.finish(&trailers);
            }
            if step.consumed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// `data` as DATA frames, each within the window `h2` grants.
    async fn send_data(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let Tx::Body { send, .. } = &mut self.tx else {
                return Ok(());
            };
            send.reserve_capacity(data.len());
            let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(n)) => n,
                Some(Err(e)) => return Err(self.failed(&e, false)),
                None => return Err(self.reset_seen().await),
            };
            let n = granted.min(data.len());
            if n == 0 {
                continue;
            }
            if let Err(e) = send.send_data(Bytes::copy_from_slice(&data[..n]), false) {
                return Err(self.failed(&e, false));
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// The body ended: end the stream, with trailers if it had any.
    fn finish(&mut self, trailers: &[u8]) -> io::Result<()> {
        let Tx::Body { send, .. } = &mut self.tx else {
            return Ok(());
        };
        let sent = if trailers.is_empty() {
            send.send_data(Bytes::new(), true)
        } else {
            send.send_trailers(head::trailers_from_lines(trailers))
        };
        if let Err(e) = sent {
            return Err(self.failed(&e, false));
        }
        self.tx = Tx::Done;
        Ok(())
    }

    /// The send side closed under us: the response future says why.
    async fn reset_seen(&mut self) -> io::Error {
        if let Rx::Waiting(fut) = &mut self.rx {
            if let Err(e) = poll_fn(|cx| Pin::new(&mut *fut).poll(cx)).await {
                return self.failed(&e, false);
            }
        }
        self.failure = Some(Failure::Other);
        broken("the HTTP/2 upstream stream closed")
    }

    /// Send `body` from a task of its own while the response is read (the
    /// head has been written and announced a body). Without a body to send
    /// (the head ended the request) it is dropped.
    pub fn pump_body(&mut self, body: DetachedBody) {
        if let Tx::Body { send, .. } = std::mem::replace(&mut self.tx, Tx::Done) {
            let late = Rc::new(Cell::new(false));
            self.client_late = Some(late.clone());
            let abort = Rc::new(PumpAbort::default());
            self.pump = Some(abort.clone());
            monoio::spawn(async move {
                let mut send = send;
                if abort
                    .unless_aborted(pump(&mut send, body, late))
                    .await
                    .is_none()
                {
                    // The exchange is over: the upstream learns at once, and
                    // the client's body (dropped with the pump) is read no more.
                    send.send_reset(Reason::CANCEL);
                }
            });
        }
    }

    /// Copy response bytes (HTTP/1.1 framing) into `dst`; 0 at the end.
    pub async fn read_bytes(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = (self.out.len() - self.out_pos).min(dst.len());
                dst[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            self.out.clear();
            self.out_pos = 0;
            if !self.next_piece().await? {
                return Ok(0);
            }
        }
    }

    /// Put the next part of the response into `out`; false at its end.
    async fn next_piece(&mut self) -> io::Result<bool> {
        match &mut self.rx {
            Rx::Idle => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no request sent",
            )),
            Rx::Done => Ok(false),
            Rx::Waiting(fut) => {
                let resp = match poll_fn(|cx| Pin::new(&mut *fut).poll(cx)).await {
                    Ok(resp) => resp,
                    Err(e) => return Err(self.failed(&e, false)),
                };
                let (parts, recv) = resp.into_parts();
                let ended = recv.is_end_stream();
                self.rx = match head::response_to_h1(&parts, ended, self.head_only, &mut self.out) {
                    ResponseBody::None => Rx::Done,
                    ResponseBody::Identity => Rx::Body {
                        recv,
                        encoder: BodyEncoder::Identity,
                    },
                    ResponseBody::Chunked => Rx::Body {
                        recv,
                        encoder: BodyEncoder::Chunked,
                    },
                };
                Ok(true)
            }
            Rx::Body { recv, encoder } => {
                let encoder = *encoder;
                match recv.data().await {
                    Some(Ok(data)) => {
                        let _ = recv.flow_control().release_capacity(data.len());
                        encoder.piece(BodyPiece::Data(&data), &mut self.out);
                        Ok(true)
                    }
                    Some(Err(e)) => Err(self.failed(&e, false)),
                    None => {
                        let trailers = match recv.trailers().await {
                            Ok(t) => t,
                            Err(e) => return Err(self.failed(&e, false)),
                        };
                        let mut lines = Vec::new();
                        if let Some(t) = &trailers {
                            head::write_fields(t, &mut lines);
                        }
                        encoder.finish(&lines, &mut self.out);
                        self.rx = Rx::Done;
                        Ok(!self.out.is_empty())
                    }
                }
            }
        }
    }
}

/// Copy the client's body to the upstream stream: DATA within the window,
/// trailers, the end; a client gone, late or over the limit resets it (`late`
/// says which, for the exchange's answer).
async fn pump(send: &mut SendStream<Bytes>, mut body: DetachedBody, late: Rc<Cell<bool>>) {
    let mut total = body.held.len() as u64;
    if send_all(send, std::mem::take(&mut body.held))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let next = within((body.deadline)(total), body.recv.data()).await;
        match next {
            Ok(Some(Ok(chunk))) => {
                let _ = body.recv.flow_control().release_capacity(chunk.len());
                total += chunk.len() as u64;
                if body.max.is_some_and(|m| total > m) {
                    break;
                }
                if send_all(send, chunk).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let trailers = within((body.deadline)(total), body.recv.trailers()).await;
                let _ = match trailers {
                    Ok(Ok(Some(t))) => send.send_trailers(t),
                    Ok(Ok(None)) => send.send_data(Bytes::new(), true),
                    _ => break,
                };
                return;
            }
            Ok(Some(Err(_))) => break,
            Err(()) => {
                late.set(true);
                break;
            }
        }
    }
    send.send_reset(Reason::CANCEL);
}

async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes) -> Result<(), ()> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let n = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(n)) => n.min(data.len()),
            _ => return Err(()),
        };
        if n > 0 {
            send.send_data(data.split_to(n), false).map_err(|_| ())?;
        }
    }
    Ok(())
}

/// `f`, bounded by `deadline` if there is one (`Err`: it ran out).
async fn within<F: std::future::Future>(deadline: Option<Instant>, f: F) -> Result<F::Output, ()> {
    match deadline {
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            monoio::time::timeout(left, f).await.map_err(|_| ())
        }
        None => Ok(f.await),
    }
}
