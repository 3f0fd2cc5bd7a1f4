//! Rent-style I/O helpers shared by the connection stages: reads that grow a
//! `BytesMut` within a bound and honour a deadline, and writes of a reused
//! output buffer.
//!
//! Invariant: a write is bounded by `WRITE_TIMEOUT` without a clock read of
//! its own. Its timer is made only once it has to wait, from a deadline its
//! caller computed from a moment it read already, or else from then; a write
//! the kernel takes at once costs no timer at all.

use std::{
    future::{poll_fn, Future},
    pin::pin,
    task::Poll,
    time::{Duration, Instant},
};

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

/// How long a read may wait for bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadWait {
    /// As long as it takes.
    Unbounded,
    /// Until this moment.
    Until(Instant),
    /// This long from when the read first has to wait (a per-read timeout:
    /// a read that finds bytes at once reads no clock).
    For(Duration),
}

impl From<Option<Instant>> for ReadWait {
    fn from(deadline: Option<Instant>) -> ReadWait {
        deadline.map_or(ReadWait::Unbounded, ReadWait::Until)
    }
}

impl ReadWait {
    /// The timer of a read that has begun to wait. A deadline goes to it as
    /// it is (`sleep_until`: no clock read); `Unbounded`'s never fires.
    fn timer(self) -> monoio::time::Sleep {
        match self {
            ReadWait::Until(d) => monoio::time::sleep_until(d.into()),
            ReadWait::For(w) => monoio::time::sleep(w),
            ReadWait::Unbounded => monoio::time::sleep(Duration::MAX),
        }
    }
}

/// `fut`, cut short (`None`) by `wait`, whose timer is made only if `fut`
/// has to wait (and never if unbounded).
pub async fn wait_bounded<F: Future>(wait: ReadWait, fut: F) -> Option<F::Output> {
    match wait {
        ReadWait::Unbounded => Some(fut.await),
        bound => within_once_blocked(|| bound.timer(), fut).await,
    }
}

/// Read more bytes onto the end of `buf`. `Ok(0)` is end of stream.
/// On timeout the buffer is lost with the cancelled read; callers close the
/// connection then, so nothing else needs it.
pub async fn read_more<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut BytesMut,
    wait: ReadWait,
) -> Result<usize, ReadError> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    // monoio reads into an `IoBufMut` from its start; a slice of the spare
    // capacity makes the read append after the bytes already buffered.
    let (len, cap) = (buf.len(), buf.capacity());
    let spare = std::mem::take(buf).slice_mut(len..cap);
    let Some((res, spare)) = wait_bounded(wait, stream.read(spare)).await else {
        return Err(ReadError::TimedOut);
    };
    *buf = spare.into_inner();
    res.map_err(|e| ReadError::Io(e.kind()))
}

/// Write all of `out`, then clear it (the allocation is kept for reuse).
/// Bounded by `WRITE_TIMEOUT`; on timeout the buffer goes with the cancelled
/// write and the caller closes the connection.
pub async fn flush<W: AsyncWriteRent>(stream: &mut W, out: &mut Vec<u8>) -> std::io::Result<()> {
    flush_by(stream, out, None).await
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
pub async fn write_all_within<W: AsyncWriteRent, B: monoio::buf::IoBuf>(
    stream: &mut W,
    buf: B,
) -> std::io::Result<(std::io::Result<usize>, B)> {
    write_all_by(stream, buf, None).await
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
    let write = stream.write_all(buf);
    let timer = || match deadline {
        Some(d) => monoio::time::sleep_until(d.into()),
        None => monoio::time::sleep(WRITE_TIMEOUT),
    };
    stopped_reading(within_once_blocked(timer, write).await)
}

/// A write's outcome, or (`None`) the timeout that cut it.
fn stopped_reading<T>(done: Option<T>) -> std::io::Result<T> {
    done.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stopped reading")
    })
}

/// `fut`, cut short (`None`) when the `timer` it is given on its first wait
/// fires. A future ready at its first poll makes no timer: most writes are
/// taken by the kernel at once (epoll), and a timer per write cost a clock
/// read, and a timer entry made and dropped, for a deadline almost never
/// reached. A timer of a duration counts from that first wait, a poll later
/// than `monoio::time::timeout` would start it (microseconds on seconds).
pub async fn within_once_blocked<F: Future>(
    timer: impl FnOnce() -> monoio::time::Sleep,
    fut: F,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut timer = Some(timer);
    let mut armed = pin!(None::<monoio::time::Sleep>);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if let Some(make) = timer.take() {
            armed.set(Some(make()));
        }
        match armed.as_mut().as_pin_mut() {
            Some(t) => t.poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn a_ready_future_makes_no_timer_and_a_waiting_one_gets_its_bound() {
        runtime().block_on(async {
            let never = || -> monoio::time::Sleep { panic!("no timer for a ready future") };
            assert_eq!(within_once_blocked(never, async { 7 }).await, Some(7));

            let wait = Duration::from_millis(30);
            let started = Instant::now();
            let stuck = std::future::pending::<()>();
            let timer = || monoio::time::sleep(wait);
            assert_eq!(within_once_blocked(timer, stuck).await, None);
            assert!(started.elapsed() >= wait, "cut at its bound, not before");

            let soon = monoio::time::sleep(Duration::from_millis(5));
            let timer = || monoio::time::sleep(Duration::from_secs(5));
            assert_eq!(within_once_blocked(timer, soon).await, Some(()));
        });
    }
}
