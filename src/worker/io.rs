//! Rent-style I/O helpers shared by the connection stages: reads that grow a
//! `BytesMut` within a bound and honour a deadline, and writes of a reused
//! output buffer.
//!
//! Invariant: a write is bounded by `WRITE_TIMEOUT` without a clock read of
//! its own: its alarm counts to a deadline its caller computed from a moment
//! it read already, or else from the write's first wait (made then: a write
//! the kernel takes at once costs no alarm at all). Alarms are armed only by
//! operations that wait, on the worker thread's own wheel (`prim::alarm`:
//! arming and disarming one costs a few words written, where a monoio timer
//! costs a clock read and a hierarchical wheel's upkeep; an alarm fires
//! within `alarm::GRAIN` of its deadline, never before).

use std::{
    future::Future,
    time::{Duration, Instant},
};

use bytes::BytesMut;
use monoio::{
    buf::IoBufMut,
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
};

use crate::{codec::limits::READ_CHUNK, prim::alarm};

/// A write that cannot finish within this ends the connection: the peer has
/// stopped reading (nginx's `send_timeout` default). Without it, a client that
/// never reads would hold its upstream connection and breaker slot forever.
/// (I/O policy, not grammar: it lives here, not in the sans-IO `codec::limits`.)
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    Io(std::io::ErrorKind),
    TimedOut,
}

/// How long a read or write may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// As long as it takes.
    Unbounded,
    /// Until this moment (no clock read).
    Until(Instant),
    /// This long from when it first has to wait (a per-read or per-write
    /// timeout: an operation done at once reads no clock).
    For(Duration),
}

impl From<Option<Instant>> for Wait {
    fn from(deadline: Option<Instant>) -> Wait {
        deadline.map_or(Wait::Unbounded, Wait::Until)
    }
}

/// Read more bytes onto the end of `buf`. `Ok(0)` is end of stream.
/// On timeout the buffer is lost with the cancelled read; callers close the
/// connection then, so nothing else needs it.
pub async fn read_more<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut BytesMut,
    wait: Wait,
) -> Result<usize, ReadError> {
    let spare = spare_of(buf);
    // Written out per bound, not wrapped: each async layer between the read
    // and its timer would copy the read's future once more.
    let bounded = match wait {
        Wait::Unbounded => Some(stream.read(spare).await),
        // No clock read: the deadline goes to the alarm as it is.
        Wait::Until(d) => alarm::at(d, stream.read(spare)).await,
        Wait::For(w) => alarm::after(w, stream.read(spare)).await,
    };
    let Some((res, spare)) = bounded else {
        return Err(ReadError::TimedOut);
    };
    *buf = spare.into_inner();
    res.map_err(|e| ReadError::Io(e.kind()))
}

/// `buf`'s spare capacity (grown to at least half a `READ_CHUNK`), taken out
/// of it for a read to fill: monoio reads into an `IoBufMut` from its start,
/// so a slice of the spare capacity makes the read append after the bytes
/// already buffered. `into_inner` of the slice is the buffer again.
pub fn spare_of(buf: &mut BytesMut) -> monoio::buf::SliceMut<BytesMut> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let (len, cap) = (buf.len(), buf.capacity());
    std::mem::take(buf).slice_mut(len..cap)
}

/// Write all of `out`, then clear it (the allocation is kept for reuse).
/// Bounded by `WRITE_TIMEOUT`; on timeout the buffer goes with the cancelled
/// write and the caller closes the connection.
pub fn flush<'a, W: AsyncWriteRent>(
    stream: &'a mut W,
    out: &'a mut Vec<u8>,
) -> impl Future<Output = std::io::Result<()>> + 'a {
    flush_by(stream, out, None)
}

/// `flush`, by `deadline` if given (see `write_all_by`).
pub async fn flush_by<W: AsyncWriteRent>(
    stream: &mut W,
    out: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let owned = std::mem::take(out);
    let (res, mut owned) = write_all_by(stream, owned, deadline).await?;
    owned.clear();
    *out = owned;
    res.map(|_| ())
}

/// `write_all`, bounded by `WRITE_TIMEOUT` from when it first has to wait.
/// The outer error is the timeout.
pub fn write_all_within<W: AsyncWriteRent, B: monoio::buf::IoBuf>(
    stream: &mut W,
    buf: B,
) -> impl Future<Output = std::io::Result<(std::io::Result<usize>, B)>> + '_ {
    write_all_by(stream, buf, None)
}

/// `write_all`, bounded by `deadline`: `WRITE_TIMEOUT` after a moment the
/// caller read just before the write began (so no clock read here, on either
/// driver); `None`: `WRITE_TIMEOUT` from when the write first has to wait.
/// The outer error is the timeout.
pub async fn write_all_by<W: AsyncWriteRent, B: monoio::buf::IoBuf>(
    stream: &mut W,
    buf: B,
    deadline: Option<Instant>,
) -> std::io::Result<(std::io::Result<usize>, B)> {
    // Written out per bound, not wrapped (see `read_more`).
    let done = match deadline {
        Some(d) => alarm::at(d, stream.write_all(buf)).await,
        None => alarm::after(WRITE_TIMEOUT, stream.write_all(buf)).await,
    };
    stopped_reading(done)
}

/// A write's outcome, or (`None`) the timeout that cut it.
fn stopped_reading<T>(done: Option<T>) -> std::io::Result<T> {
    done.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stopped reading")
    })
}
