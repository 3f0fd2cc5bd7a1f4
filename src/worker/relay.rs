//! Relaying bytes between the two sides of a proxied exchange: one message
//! body, framed by a decoder and re-framed by an encoder, or, after a 101, a
//! tunnel of raw bytes both ways. Memory is bounded by the read buffers, whatever
//! the body size.
//!
//! A large body framed by its length, between two plain sockets and re-sent as
//! it is, is spliced instead (`relay_body_spliced`): socket → the worker's pipe
//! → socket, its bytes never copied through user space. Same semantics as the
//! copy: the same per-wait bounds on both sides, the same errors, the same
//! byte total, and both sockets count the bytes they moved.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Splitable};

use super::{
    io::{
        flush, flush_by, read_more, write_all_by, write_all_within, write_gathered_by, ReadError,
        Wait, WRITE_TIMEOUT,
    },
    pace::BodyPace,
    Worker, OUT_ROOM,
};
use crate::codec::{
    body::{BodyDecoder, BodyEncoder, BodyPiece},
    limits::BODY_CHUNK,
    CodecError,
};
use crate::net::gather::HeadAndBody;
use crate::net::meter::Metered;
use crate::net::splice::Pipe;
use crate::net::transport::Transport;
use crate::prim::alarm;
use crate::upstream::connect::UpstreamConn;

/// Body bytes behind a head go in one gathered write with it from this many
/// on; fewer are copied behind the head in `out` and sent with one SEND: a
/// copy of a few KiB costs less than the kernel's WRITEV path (an iovec array
/// imported, the generic write path instead of the socket's own).
pub const GATHER_MIN: usize = 4 * 1024;

/// A body with at least this much still to come after what arrived with the
/// head is spliced; a smaller one is copied: a few reads and writes cost less
/// than the pipe's extra calls and readiness waits. Measured (2 workers, 64
/// connections, io_uring): 64 KiB bodies spliced cost 1.04–1.08× the CPU per
/// response of copying them; 256 KiB bodies 0.70–0.87×; 1 MiB 0.77–0.83×.
pub const SPLICE_MIN: u64 = 128 * 1024;

/// Why relaying a body stopped early.
pub enum RelayError {
    /// The side we read from failed: framing, truncation, timeout or I/O.
    Source(SourceFault, Delivered),
    /// The side we write to failed.
    Sink,
}

/// How much of the message had reached the other side when its source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Not a byte: not even the head in `out`. The failure can still be
    /// answered with a whole response of our own.
    Nothing,
    Partly,
}

pub enum SourceFault {
    Codec(CodecError),
    TimedOut,
    Io,
}

/// How `relay_body` bounds its waits for the source's next bytes.
#[derive(Debug, Clone, Copy)]
pub enum ReadPace {
    /// Each wait gets this long (`None`: as long as it takes).
    PerRead(Option<std::time::Duration>),
    /// A request body: its per-read wait, and its minimum rate if it has one.
    Body(BodyPace),
}

impl ReadPace {
    /// The wait of the next read, with `received` in.
    fn wait(self, received: u64) -> Wait {
        match self {
            ReadPace::PerRead(wait) => wait.map_or(Wait::Unbounded, Wait::For),
            ReadPace::Body(pace) => pace.streaming_deadline(received, Instant::now()).into(),
        }
    }
}

/// One side's read buffer and the worker that lends buffers: a large body is
/// read through a body-sized buffer from the worker's pool.
pub struct Source<'a, R> {
    pub stream: &'a mut R,
    pub buf: &'a mut BytesMut,
    pub worker: &'a Worker,
}

/// Relay one body from `src` to `dst`: bytes already in `src.buf` first, then
/// reads of at most one buffer at a time. `out` may hold a head to send first.
/// `pace` bounds each wait for more bytes from `src`.
pub async fn relay_body<R: AsyncReadRent, W: AsyncWriteRent>(
    src: Source<'_, R>,
    mut dst: Sink<'_, W>,
    out: &mut Vec<u8>,
    (decoder, encoder): (BodyDecoder, BodyEncoder),
    pace: ReadPace,
    limit: Option<u64>,
) -> Result<u64, RelayError> {
    let mut wrote = false;
    let relayed = relay(
        src, &mut dst, out, decoder, encoder, pace, limit, &mut wrote,
    )
    .await;
    match relayed {
        Err(RelayError::Source(fault, _)) if !wrote => {
            Err(RelayError::Source(fault, Delivered::Nothing))
        }
        other => other,
    }
}

/// Where a relay writes, the deadline its first write has, if set (that
/// write begins before any wait: the caller's moment plus `WRITE_TIMEOUT`;
/// each later one gets `WRITE_TIMEOUT` of its own), and whether a head and
/// the body bytes behind it go in one gathered write.
pub struct Sink<'w, W> {
    dst: &'w mut W,
    write_by: Option<Instant>,
    gathers: bool,
}

impl<'w, W> Sink<'w, W> {
    /// A head and the body behind it are copied into one buffer for one
    /// write: a TLS stream encrypts from one buffer anyway, and an HTTP/2
    /// stream takes no gathered writes.
    pub fn new(dst: &'w mut W, first_write_by: Option<Instant>) -> Self {
        Sink::with(dst, first_write_by, false)
    }

    fn with(dst: &'w mut W, write_by: Option<Instant>, gathers: bool) -> Self {
        Sink {
            dst,
            write_by,
            gathers,
        }
    }
}

impl<'w> Sink<'w, Metered> {
    /// A plain socket: a head and the body behind it go in one `writev`,
    /// with no copy.
    pub fn plain(dst: &'w mut Metered, first_write_by: Option<Instant>) -> Self {
        Sink::with(dst, first_write_by, true)
    }
}

impl<'w> Sink<'w, UpstreamConn> {
    /// An upstream connection: gathered writes on a plain socket, as `plain`.
    pub fn upstream(dst: &'w mut UpstreamConn, first_write_by: Option<Instant>) -> Self {
        let gathers = matches!(dst, UpstreamConn::Plain(_));
        Sink::with(dst, first_write_by, gathers)
    }
}

impl<W: AsyncWriteRent> Sink<'_, W> {
    /// `head` then `body` in one gathered write (`write_gathered_by`), both
    /// left empty with their allocations kept, the iovecs lent by `worker`.
    async fn write_gathered(
        &mut self,
        head: &mut Vec<u8>,
        body: &mut BytesMut,
        worker: &Worker,
    ) -> std::io::Result<()> {
        let pair = HeadAndBody::new(
            std::mem::take(head),
            std::mem::take(body),
            worker.take_iovecs(),
        );
        let (res, pair) = write_gathered_by(self.dst, pair, self.write_by.take()).await?;
        let (mut h, mut b, iov) = pair.into_parts();
        worker.give_iovecs(iov);
        h.clear();
        b.clear();
        (*head, *body) = (h, b);
        res
    }

    /// `write_all_by`, the given deadline being the first write's only.
    /// (Not `async`: a layer of its own would copy the write's future.)
    fn write_all<B: monoio::buf::IoBuf>(
        &mut self,
        buf: B,
    ) -> impl std::future::Future<Output = std::io::Result<(std::io::Result<usize>, B)>> + '_ {
        write_all_by(self.dst, buf, self.write_by.take())
    }

    /// `flush_by`, likewise (an empty `out` writes nothing, and uses it up).
    fn flush<'a>(
        &'a mut self,
        out: &'a mut Vec<u8>,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + 'a {
        flush_by(self.dst, out, self.write_by.take())
    }
}

/// `relay_body`, noting in `wrote` whether anything reached `dst`.
#[allow(clippy::too_many_arguments)]
async fn relay<R: AsyncReadRent, W: AsyncWriteRent>(
    Source {
        stream: src,
        buf: src_buf,
        worker,
    }: Source<'_, R>,
    dst: &mut Sink<'_, W>,
    out: &mut Vec<u8>,
    mut decoder: BodyDecoder,
    encoder: BodyEncoder,
    pace: ReadPace,
    limit: Option<u64>,
    wrote: &mut bool,
) -> Result<u64, RelayError> {
    let mut trailers = Vec::new();
    let mut total = 0u64;
    let large = decoder.is_large();
    if large && !(encoder == BodyEncoder::Identity && matches!(decoder, BodyDecoder::Length(_))) {
        room_to_reframe(out);
    }
    loop {
        // Fast path: a buffer holding nothing but identity payload is written as
        // it is, with no copy; behind a head, in one gathered write with it if
        // the sink takes those (and it is `GATHER_MIN` or more). Otherwise the
        // payload is copied into `out` behind
        // the head, to go in one write: sent as two writes, a buffered 64 KiB
        // request body cost 1 MiB uploads a tenth of their rate (bench/RESULTS.md,
        // late session).
        if encoder == BodyEncoder::Identity
            && (out.is_empty() || (dst.gathers && src_buf.len() >= GATHER_MIN))
            && !src_buf.is_empty()
            && decoder.take_all(src_buf.len())
        {
            total += src_buf.len() as u64;
            if limit.is_some_and(|max| total > max) {
                return Err(RelayError::Source(
                    SourceFault::Codec(CodecError::BodyTooLarge),
                    Delivered::Partly,
                ));
            }
            if out.is_empty() {
                let whole = std::mem::take(src_buf);
                let (res, mut whole) = dst.write_all(whole).await.map_err(|_| RelayError::Sink)?;
                whole.clear();
                *src_buf = whole;
                res.map_err(|_| RelayError::Sink)?;
            } else {
                dst.write_gathered(out, src_buf, worker)
                    .await
                    .map_err(|_| RelayError::Sink)?;
            }
            *wrote = true;
            if decoder.is_done() {
                return Ok(total);
            }
        } else {
            let step = decoder
                .decode(src_buf, &mut |piece| match piece {
                    BodyPiece::Data(d) => {
                        total += d.len() as u64;
                        encoder.piece(BodyPiece::Data(d), out);
                    }
                    BodyPiece::Trailers(t) => trailers.extend_from_slice(t),
                })
                .map_err(|e| RelayError::Source(SourceFault::Codec(e), Delivered::Partly))?;
            src_buf.advance(step.consumed);
            if limit.is_some_and(|max| total > max) {
                return Err(RelayError::Source(
                    SourceFault::Codec(CodecError::BodyTooLarge),
                    Delivered::Partly,
                ));
            }
            if step.done {
                encoder.finish(&trailers, out);
                return dst
                    .flush(out)
                    .await
                    .map(|_| total)
                    .map_err(|_| RelayError::Sink);
            }
            let sending = !out.is_empty();
            dst.flush(out).await.map_err(|_| RelayError::Sink)?;
            *wrote |= sending;
        }
        if large {
            body_sized(src_buf, worker);
        }
        match read_more(src, src_buf, pace.wait(total)).await {
            Ok(0) => {
                decoder
                    .eof()
                    .map_err(|e| RelayError::Source(SourceFault::Codec(e), Delivered::Partly))?;
                encoder.finish(&trailers, out);
                return dst
                    .flush(out)
                    .await
                    .map(|_| total)
                    .map_err(|_| RelayError::Sink);
            }
            Ok(_) => {}
            Err(ReadError::TimedOut) => {
                *src_buf = BytesMut::new();
                return Err(RelayError::Source(SourceFault::TimedOut, Delivered::Partly));
            }
            Err(ReadError::Io(_)) => {
                return Err(RelayError::Source(SourceFault::Io, Delivered::Partly))
            }
        }
    }
}

/// Read a large body through a body-sized buffer: swapped in for a smaller
/// one from the worker's pool once what is left in it is a few bytes (a
/// partial chunk head), copied over; growing the buffer in place would copy
/// it whole and allocate, for every large body.
fn body_sized(buf: &mut BytesMut, worker: &Worker) {
    const CARRY_MAX: usize = 256;
    if buf.capacity() < BODY_CHUNK && buf.len() <= CARRY_MAX {
        worker.widen_buffer(buf);
    }
}

/// A body that is re-framed (chunked in or out) is copied into `out` a read
/// buffer at a time, framing added: room for that, made once, so `out` does
/// not double past what the worker keeps pooled (`Worker::give_scratch`).
fn room_to_reframe(out: &mut Vec<u8>) {
    if out.capacity() < OUT_ROOM {
        out.reserve_exact(OUT_ROOM - out.len());
    }
}

/// After a 101: copy bytes both ways until each side has closed its half. A
/// direction silent for `idle` ends (the listener's idle timeout), as does one
/// whose reader stopped reading (`WRITE_TIMEOUT`).
pub async fn tunnel(
    client: Metered,
    client_rest: BytesMut,
    upstream: Metered,
    up_rest: BytesMut,
    idle: std::time::Duration,
) {
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = upstream.into_split();
    monoio::join!(
        pipe(client_r, client_rest, up_w, idle),
        pipe(up_r, up_rest, client_w, idle)
    );
}

/// Which end of a one-task tunnel has something to read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Client,
    Upstream,
}

/// After a 101 over a connection that cannot be split in two (TLS: both
/// directions share one session): one loop waits for whichever end has
/// something to read and copies it to the other. A direction ends when its
/// reader closes (the other end's write side is then shut), or when the tunnel
/// has been silent for `idle`.
pub async fn tunnel_one_task<C: Transport, U: Transport>(
    mut client: C,
    client_rest: BytesMut,
    mut upstream: U,
    up_rest: BytesMut,
    idle: std::time::Duration,
) {
    if !client_rest.is_empty()
        && !matches!(
            write_all_within(&mut upstream, client_rest).await,
            Ok((Ok(_), _))
        )
    {
        return;
    }
    if !up_rest.is_empty()
        && !matches!(write_all_within(&mut client, up_rest).await, Ok((Ok(_), _)))
    {
        return;
    }
    let mut buf = BytesMut::with_capacity(crate::codec::limits::READ_CHUNK);
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        let Some(end) =
            readable_end(&mut client, client_open, &mut upstream, upstream_open, idle).await
        else {
            return;
        };
        buf.clear();
        let copied = match end {
            End::Client => copy_once(&mut client, &mut upstream, buf, idle).await,
            End::Upstream => copy_once(&mut upstream, &mut client, buf, idle).await,
        };
        let Some(back) = copied else {
            // That end closed (or failed): so does the other's write side.
            match end {
                End::Client => {
                    client_open = false;
                    let _ = upstream.shutdown().await;
                }
                End::Upstream => {
                    upstream_open = false;
                    let _ = client.shutdown().await;
                }
            }
            buf = BytesMut::with_capacity(crate::codec::limits::READ_CHUNK);
            continue;
        };
        buf = back;
    }
}

/// Wait (at most `idle`) until an open end is readable.
async fn readable_end<C: Transport, U: Transport>(
    client: &mut C,
    client_open: bool,
    upstream: &mut U,
    upstream_open: bool,
    idle: std::time::Duration,
) -> Option<End> {
    let either = async {
        match (client_open, upstream_open) {
            (true, true) => monoio::select! {
                r = client.wait_readable() => r.ok().map(|_| End::Client),
                r = upstream.wait_readable() => r.ok().map(|_| End::Upstream),
            },
            (true, false) => client.wait_readable().await.ok().map(|_| End::Client),
            (false, true) => upstream.wait_readable().await.ok().map(|_| End::Upstream),
            (false, false) => None,
        }
    };
    alarm::after(idle, either).await.flatten()
}

/// One read from `from` written whole to `to`; `None` when `from` has closed
/// or either side failed.
async fn copy_once<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    buf: BytesMut,
    idle: std::time::Duration,
) -> Option<BytesMut> {
    let (res, buf) = alarm::after(idle, from.read(buf)).await?;
    match res {
        Ok(n) if n > 0 => {}
        _ => return None,
    }
    match write_all_within(to, buf).await {
        Ok((Ok(_), buf)) => Some(buf),
        _ => None,
    }
}

async fn pipe<R: AsyncReadRent, W: AsyncWriteRent>(
    mut from: R,
    pending: BytesMut,
    mut to: W,
    idle: std::time::Duration,
) {
    let mut buf = pending;
    loop {
        if !buf.is_empty() {
            let Ok((res, b)) = write_all_within(&mut to, buf).await else {
                break;
            };
            buf = b;
            if res.is_err() {
                break;
            }
            buf.clear();
        }
        if buf.capacity() < crate::codec::limits::READ_CHUNK {
            buf.reserve(crate::codec::limits::READ_CHUNK);
        }
        let Some((res, b)) = alarm::after(idle, from.read(buf)).await else {
            break;
        };
        buf = b;
        match res {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = to.shutdown().await;
}

/// A response body from a plain upstream to a plain client: `relay_body`,
/// spliced through the worker's pipe (`Worker::pipes`) when the body is framed
/// by its length, re-sent as it is, within `limit`, and at least `SPLICE_MIN`
/// of it is still to come; copied otherwise, or when the kernel refuses splice
/// (the slot then stays off, see `PipeSlot`). Request bodies are copied: spliced
/// to an upstream, 1 MiB uploads ran at two thirds of the copy's rate here
/// (`bench/RESULTS.md`).
pub async fn relay_body_spliced(
    src: Source<'_, Metered>,
    dst: &mut Metered,
    out: &mut Vec<u8>,
    (decoder, encoder): (BodyDecoder, BodyEncoder),
    pace: ReadPace,
    limit: Option<u64>,
    first_write_by: Option<Instant>,
) -> Result<u64, RelayError> {
    let Some(length) = splice_length(&decoder, encoder, src.buf.len(), limit) else {
        let codec = (decoder, encoder);
        let dst = Sink::plain(dst, first_write_by);
        return relay_body(src, dst, out, codec, pace, limit).await;
    };
    let slot = &src.worker.pipes;
    let Some(mut pipe) = slot.take() else {
        let codec = (decoder, encoder);
        let dst = Sink::plain(dst, first_write_by);
        return relay_body(src, dst, out, codec, pace, limit).await;
    };
    let Source {
        stream,
        buf: src_buf,
        worker,
    } = src;
    match splice_body(stream, src_buf, dst, out, length, &mut pipe, pace).await {
        Spliced::Done(total) => {
            slot.put_back(pipe);
            Ok(total)
        }
        // The pipe goes with what it may hold (closed here).
        Spliced::Failed(e) => Err(e),
        Spliced::Refused { relayed, error } => {
            // What the pipe held is back in `src_buf`; the rest is copied.
            slot.refused(&error);
            slot.put_back(pipe);
            let rest = BodyDecoder::Length(length - relayed);
            let src = Source {
                stream,
                buf: src_buf,
                worker,
            };
            let dst = Sink::plain(dst, None);
            let copied = relay_body(src, dst, out, (rest, encoder), pace, limit).await;
            match copied {
                Ok(n) => Ok(relayed + n),
                // The head went before the splice was tried.
                Err(RelayError::Source(fault, _)) => {
                    Err(RelayError::Source(fault, Delivered::Partly))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// The body's length if `relay_body_spliced` would splice it (framed by its
/// length, re-sent as it is, within `limit`, at least `SPLICE_MIN` of it
/// still to come past the `buffered` bytes); `None`: it copies. Callers that
/// ask first await `relay_body` themselves for a copied body: reached through
/// `relay_body_spliced`, its future was moved into place once more (a copy of
/// a few hundred bytes per response).
pub fn splice_length(
    decoder: &BodyDecoder,
    encoder: BodyEncoder,
    buffered: usize,
    limit: Option<u64>,
) -> Option<u64> {
    match *decoder {
        BodyDecoder::Length(n)
            if encoder == BodyEncoder::Identity
                && n.saturating_sub(buffered as u64) >= SPLICE_MIN
                && limit.is_none_or(|max| n <= max) =>
        {
            Some(n)
        }
        _ => None,
    }
}

/// How a splice relay ended.
enum Spliced {
    /// The whole body, this many bytes, went through.
    Done(u64),
    Failed(RelayError),
    /// The kernel refused splice here before it moved a byte to `dst`:
    /// `relayed` bytes of the body were written by copy (or are back in the
    /// read buffer, to be written so), the rest is still to come.
    Refused {
        relayed: u64,
        error: std::io::Error,
    },
}

/// Relay a body of `length` bytes: the head in `out` and the bytes in
/// `src_buf` written first (one write, as the copy path does), then exactly
/// the rest spliced through `pipe`. Each wait for `src` is bounded by `pace`;
/// each `BODY_CHUNK` delivered to `dst` gets `WRITE_TIMEOUT` of waiting, as a
/// copied chunk does.
async fn splice_body(
    src: &mut Metered,
    src_buf: &mut BytesMut,
    dst: &mut Metered,
    out: &mut Vec<u8>,
    length: u64,
    pipe: &mut Pipe,
    pace: ReadPace,
) -> Spliced {
    let buffered = src_buf.len() as u64;
    debug_assert!(buffered < length && pipe.held() == 0);
    let delivered = if out.is_empty() && src_buf.is_empty() {
        Delivered::Nothing
    } else {
        Delivered::Partly
    };
    out.extend_from_slice(src_buf);
    src_buf.clear();
    if flush(dst, out).await.is_err() {
        return Spliced::Failed(RelayError::Sink);
    }
    let mut total = buffered;
    // Both nonblocking while the guards live (dropped, however this ends).
    let guards = (src.nonblocking_for_splice(), dst.nonblocking_for_splice());
    let (_src_guard, _dst_guard) = match guards {
        (Ok(a), Ok(b)) => (a, b),
        (Err(error), _) | (_, Err(error)) => {
            return Spliced::Refused {
                relayed: total,
                error,
            }
        }
    };
    let mut left = length - buffered;
    let (mut started, mut drained) = (false, false);
    // `WRITE_TIMEOUT` from the first wait on `dst` since the last `BODY_CHUNK`.
    let (mut write_by, mut since_bound) = (None::<Instant>, 0usize);
    let source = |fault, total: u64| {
        let delivered = if total > 0 {
            Delivered::Partly
        } else {
            delivered
        };
        Spliced::Failed(RelayError::Source(fault, delivered))
    };
    while left > 0 || pipe.held() > 0 {
        if left > 0 && pipe.room() > 0 {
            let max = usize::try_from(left).unwrap_or(usize::MAX);
            match src.splice_into(pipe, max) {
                Ok(0) => {
                    let truncated = BodyDecoder::Length(left).eof().err();
                    let e = truncated.unwrap_or(CodecError::UnexpectedEof);
                    return source(SourceFault::Codec(e), total);
                }
                Ok(n) => {
                    started = true;
                    left -= n as u64;
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if pipe.held() == 0 {
                        let ready = match pace.wait(total) {
                            Wait::Unbounded => Some(src.readable(false).await),
                            Wait::Until(d) => alarm::at(d, src.readable(false)).await,
                            Wait::For(w) => alarm::after(w, src.readable(false)).await,
                        };
                        match ready {
                            Some(Ok(())) => continue,
                            Some(Err(_)) => return source(SourceFault::Io, total),
                            None => return source(SourceFault::TimedOut, total),
                        }
                    }
                }
                Err(error) if !started && crate::net::splice::unsupported(&error) => {
                    return Spliced::Refused {
                        relayed: total,
                        error,
                    };
                }
                Err(_) => return source(SourceFault::Io, total),
            }
        }
        if pipe.held() > 0 {
            match dst.splice_from(pipe, usize::MAX) {
                Ok(n) => {
                    drained = true;
                    since_bound += n;
                    if since_bound >= BODY_CHUNK {
                        (write_by, since_bound) = (None, 0);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let by = *write_by.get_or_insert_with(|| Instant::now() + WRITE_TIMEOUT);
                    match alarm::at(by, dst.writable(false)).await {
                        Some(Ok(())) => {}
                        _ => return Spliced::Failed(RelayError::Sink),
                    }
                }
                Err(error) if crate::net::splice::unsupported(&error) && !drained => {
                    // Nothing reached `dst` by splice: what the pipe holds is
                    // read back, to be copied with the rest.
                    if pipe.read_back(src_buf).is_err() {
                        return Spliced::Failed(RelayError::Sink);
                    }
                    return Spliced::Refused {
                        relayed: total - src_buf.len() as u64,
                        error,
                    };
                }
                Err(_) => return Spliced::Failed(RelayError::Sink),
            }
        }
    }
    // Bytes an upstream sent past its body stay in the socket, where the copy
    // path would have read them into `src_buf`; there they keep the connection
    // from being reused (its next "response" would be them). So here too.
    if let Some(byte) = src.peek_byte() {
        src_buf.extend_from_slice(&[byte]);
    }
    Spliced::Done(total)
}
