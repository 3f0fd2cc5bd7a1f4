//! Rent-style I/O helpers shared by the connection stages: reads that grow a
//! `BytesMut` within a bound and honour a deadline, and writes of a reused
//! output buffer.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::{
    buf::IoBufMut,
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
};

use crate::codec::limits::READ_CHUNK;

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

/// Read more bytes onto the end of `buf`. `Ok(0)` is end of stream.
/// On timeout the buffer is lost with the cancelled read; callers close the
/// connection then, so nothing else needs it.
pub async fn read_more<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut BytesMut,
    deadline: Option<Instant>,
) -> Result<usize, ReadError> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    // monoio reads into an `IoBufMut` from its start; a slice of the spare
    // capacity makes the read append after the bytes already buffered.
    let (len, cap) = (buf.len(), buf.capacity());
    let spare = std::mem::take(buf).slice_mut(len..cap);
    let (res, spare) = match deadline {
        None => stream.read(spare).await,
        // `timeout_at` hands the deadline to the timer as it is: `timeout`
        // would read the clock again to turn our `left` back into one.
        Some(d) => match monoio::time::timeout_at(d.into(), stream.read(spare)).await {
            Ok(r) => r,
            Err(_) => return Err(ReadError::TimedOut),
        },
    };
    *buf = spare.into_inner();
    res.map_err(|e| ReadError::Io(e.kind()))
}

/// Write all of `out`, then clear it (the allocation is kept for reuse).
/// Bounded by `WRITE_TIMEOUT`; on timeout the buffer goes with the cancelled
/// write and the caller closes the connection.
pub async fn flush<W: AsyncWriteRent>(stream: &mut W, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let owned = std::mem::take(out);
    let (res, mut owned) = write_all_within(stream, owned).await?;
    owned.clear();
    *out = owned;
    res.map(|_| ())
}

/// `write_all`, bounded by `WRITE_TIMEOUT`. The outer error is the timeout.
pub async fn write_all_within<W: AsyncWriteRent, B: monoio::buf::IoBuf>(
    stream: &mut W,
    buf: B,
) -> std::io::Result<(std::io::Result<usize>, B)> {
    match monoio::time::timeout(WRITE_TIMEOUT, stream.write_all(buf)).await {
        Ok(done) => Ok(done),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the peer stopped reading",
        )),
    }
}
