//! Relaying bytes between the two sides of a proxied exchange: one message
//! body, framed by a decoder and re-framed by an encoder, or, after a 101, a
//! tunnel of raw bytes both ways. Memory is bounded by the read buffers, whatever
//! the body size.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, Splitable};

use super::{
    io::{flush_by, read_more, write_all_by, write_all_within, ReadError, Wait},
    pace::BodyPace,
};
use crate::codec::{
    body::{BodyDecoder, BodyEncoder, BodyPiece},
    limits::BODY_CHUNK,
    CodecError,
};
use crate::net::meter::Metered;
use crate::net::transport::Transport;

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

/// Relay one body from `src` to `dst`: bytes already in `src_buf` first, then
/// reads of at most one buffer at a time. `out` may hold a head to send first.
/// `pace` bounds each wait for more bytes from `src`; `first_write_by`, if
/// given, the first write (which begins before any wait: the caller's moment
/// plus `WRITE_TIMEOUT`), while each later one gets `WRITE_TIMEOUT` of its own.
#[allow(clippy::too_many_arguments)]
pub async fn relay_body<R: AsyncReadRent, W: AsyncWriteRent>(
    src: &mut R,
    src_buf: &mut BytesMut,
    dst: &mut W,
    out: &mut Vec<u8>,
    decoder: BodyDecoder,
    encoder: BodyEncoder,
    pace: ReadPace,
    limit: Option<u64>,
    first_write_by: Option<Instant>,
) -> Result<u64, RelayError> {
    let mut wrote = false;
    let mut sink = Sink {
        dst,
        write_by: first_write_by,
    };
    let relayed = relay(
        src, src_buf, &mut sink, out, decoder, encoder, pace, limit, &mut wrote,
    )
    .await;
    match relayed {
        Err(RelayError::Source(fault, _)) if !wrote => {
            Err(RelayError::Source(fault, Delivered::Nothing))
        }
        other => other,
    }
}

/// Where a relay writes, and the deadline its next write has, if set.
struct Sink<'w, W> {
    dst: &'w mut W,
    write_by: Option<Instant>,
}

impl<W: AsyncWriteRent> Sink<'_, W> {
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
    src: &mut R,
    src_buf: &mut BytesMut,
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
    if decoder.is_large() && src_buf.capacity() < BODY_CHUNK {
        src_buf.reserve(BODY_CHUNK - src_buf.len());
    }
    loop {
        // Fast path: a buffer holding nothing but identity payload is written as
        // it is, with no copy.
        if encoder == BodyEncoder::Identity
            && out.is_empty()
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
            let whole = std::mem::take(src_buf);
            let (res, mut whole) = dst.write_all(whole).await.map_err(|_| RelayError::Sink)?;
            whole.clear();
            *src_buf = whole;
            res.map_err(|_| RelayError::Sink)?;
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
    monoio::time::timeout(idle, either).await.ok().flatten()
}

/// One read from `from` written whole to `to`; `None` when `from` has closed
/// or either side failed.
async fn copy_once<R: AsyncReadRent, W: AsyncWriteRent>(
    from: &mut R,
    to: &mut W,
    buf: BytesMut,
    idle: std::time::Duration,
) -> Option<BytesMut> {
    let (res, buf) = monoio::time::timeout(idle, from.read(buf)).await.ok()?;
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
        let Ok((res, b)) = monoio::time::timeout(idle, from.read(buf)).await else {
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
