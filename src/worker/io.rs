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
    buf::{IoBuf, IoBufMut},
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
};

use crate::{codec::limits::READ_CHUNK, net::gather::HeadAndBody, prim::alarm};

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

/// `head` and `body` written in this order in one gathered write, bounded as
/// `write_all_by`. What a partial write leaves goes by `write_all` (the
/// socket's buffer was full: a rare path, and its waits dominate). The outer
/// error is the timeout; with it the pair goes with the cancelled write.
pub async fn write_gathered_by<W: AsyncWriteRent>(
    stream: &mut W,
    pair: HeadAndBody,
    deadline: Option<Instant>,
) -> std::io::Result<(std::io::Result<()>, HeadAndBody)> {
    let write = async {
        let (res, pair) = stream.writev(pair).await;
        match res {
            Ok(n) if n == pair.len() => (Ok(()), pair),
            Ok(0) => (Err(std::io::ErrorKind::WriteZero.into()), pair),
            Ok(n) => write_rest(stream, pair, n).await,
            Err(e) => (Err(e), pair),
        }
    };
    // Written out per bound, not wrapped (see `read_more`).
    let done = match deadline {
        Some(d) => alarm::at(d, write).await,
        None => alarm::after(WRITE_TIMEOUT, write).await,
    };
    stopped_reading(done)
}

/// What a gathered write of `pair` left after its first `sent` bytes.
async fn write_rest<W: AsyncWriteRent>(
    stream: &mut W,
    pair: HeadAndBody,
    sent: usize,
) -> (std::io::Result<()>, HeadAndBody) {
    let head_len = pair.head_len();
    let (mut head, mut body, iov) = pair.into_parts();
    let mut res = Ok(());
    if sent < head_len {
        let (r, rest) = stream.write_all(head.slice(sent..)).await;
        head = rest.into_inner();
        res = r.map(|_| ());
    }
    if res.is_ok() {
        let from = sent.saturating_sub(head_len);
        let (r, rest) = stream.write_all(body.slice(from..)).await;
        body = rest.into_inner();
        res = r.map(|_| ());
    }
    (res, HeadAndBody::new(head, body, iov))
}

/// A write's outcome, or (`None`) the timeout that cut it.
fn stopped_reading<T>(done: Option<T>) -> std::io::Result<T> {
    done.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stopped reading")
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::net::{driver::on_both_drivers, gather::new_iovecs};

    /// A gathered write far larger than the socket's buffers (so the first
    /// `writev` is as good as certain to be partial, and the rest goes by
    /// `write_all`) arrives whole, the head first, and the pair comes back.
    #[test]
    fn a_gathered_write_arrives_whole_and_in_order_even_when_partial() {
        on_both_drivers(|| async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let head: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
            let body: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
            let expected: Vec<u8> = [head.clone(), body.clone()].concat();
            let reader = std::thread::spawn(move || {
                let (mut peer, _) = listener.accept().unwrap();
                let mut got = Vec::new();
                peer.read_to_end(&mut got).unwrap();
                got
            });
            let mut stream = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
            // Small buffers: the 600 KB cannot all be taken by one call.
            use std::os::fd::{AsRawFd, BorrowedFd};
            // SAFETY: `stream` owns the fd and outlives this borrow.
            let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
            socket2::SockRef::from(&fd)
                .set_send_buffer_size(4096)
                .unwrap();
            let pair = HeadAndBody::new(head, BytesMut::from(&body[..]), new_iovecs());
            let (res, pair) = write_gathered_by(&mut stream, pair, None).await.unwrap();
            res.unwrap();
            assert_eq!(pair.len(), expected.len(), "the buffers come back");
            // The end of the stream, now (a dropped socket is closed by the
            // ring's next submission, which this runtime may never make).
            stream.shutdown().await.unwrap();
            assert!(
                reader.join().unwrap() == expected,
                "bytes lost or reordered"
            );
        });
    }
}
