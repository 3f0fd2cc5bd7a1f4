//! A socket seen through tokio's poll-based I/O traits, which `h2` (and
//! rustls under it, `net::tls_poll`) read and write: monoio's completion-based
//! reads and writes, with owned buffers, behind `poll_read` and `poll_write`.
//!
//! Writes are gathered, not sent one by one. `poll_write` and
//! `poll_write_vectored` copy into a buffer and return at once; `poll_flush`
//! (or a buffer past `WRITE_HIGH`) sends it as one write. `h2` writes a frame's
//! head and its payload as separate slices and flushes once per pass over its
//! streams, so a pass over many streams' responses goes out in one send. The
//! general-purpose adapter this replaces (monoio-compat's `StreamWrapper`)
//! sent each call on its own, through an 8 KiB buffer: two sends per HTTP/2
//! response. While one send is in flight, the next is gathered in a second
//! buffer.
//!
//! Reads: one owned buffer, refilled by one read when it is empty. TLS feeds
//! rustls straight from it (`poll_fill` and `consume`), without a second copy.
//!
//! Invariants: at most one read and one write are in flight. Each runs in a
//! reusable boxed slot (allocated once per connection, reused by every
//! operation: nothing is allocated per read or write). The operations refer
//! to the socket by address, so it lives on the heap, held by a raw pointer,
//! and `Drop` ends the operations before it frees the socket. A write call
//! takes at most what fits under `WRITE_HIGH`; a failed send fails every
//! later write (what was gathered after it cannot follow it).

use std::{
    cell::UnsafeCell,
    future::Future,
    io::{self, IoSlice},
    net::Shutdown,
    os::fd::{AsRawFd, BorrowedFd},
    pin::Pin,
    ptr::NonNull,
    task::{ready, Context, Poll},
};

use bytes::BytesMut;
use monoio::{
    io::{AsyncReadRent, AsyncWriteRentExt},
    BufResult,
};
use reusable_box_future::ReusableLocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::meter::Metered;

/// The read buffer's size: a TLS record and its header fit, and so do many
/// HTTP/2 frames.
const READ_BUFFER: usize = 16 * 1024;
/// Gathered bytes past which `poll_write` sends without waiting for a flush,
/// and holds further writes while a send is in flight (backpressure).
const WRITE_HIGH: usize = 64 * 1024;
/// A write buffer grown past this by a burst is let go once sent, so a
/// connection that goes quiet keeps no more than this.
const WRITE_KEEP: usize = 16 * 1024;

/// What a read or a write gives back: its result and the buffer.
type Done<B> = BufResult<usize, B>;

/// One operation slot: a boxed future, reused by every operation.
struct Slot<B: 'static> {
    future: Option<ReusableLocalBoxFuture<Done<B>>>,
    armed: bool,
}

impl<B: 'static> Slot<B> {
    fn new() -> Self {
        Slot {
            future: None,
            armed: false,
        }
    }

    fn arm(&mut self, op: impl Future<Output = Done<B>> + 'static) {
        match &mut self.future {
            Some(slot) => slot.set(op),
            None => self.future = Some(ReusableLocalBoxFuture::new(op)),
        }
        self.armed = true;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Done<B>> {
        let Some(slot) = self.future.as_mut().filter(|_| self.armed) else {
            unreachable!("polled an operation slot with nothing in flight");
        };
        let done = ready!(slot.poll(cx));
        self.armed = false;
        Poll::Ready(done)
    }
}

/// A `Metered` socket through tokio's I/O traits; see the module docs.
pub struct PollIo {
    reading: Slot<BytesMut>,
    writing: Slot<Vec<u8>>,
    /// The socket, owned (from `Box::into_raw`) and freed in `Drop` after the
    /// slots: an operation in flight refers to it, and a raw pointer, unlike
    /// a `Box`, is not retagged as unique when `PollIo` moves.
    socket: NonNull<UnsafeCell<Metered>>,
    /// Bytes read; `rbuf[rpos..]` is not yet consumed. Empty (and inside
    /// `reading`) while a read is in flight.
    rbuf: BytesMut,
    rpos: usize,
    /// Bytes written and not yet handed to a send.
    wbuf: Vec<u8>,
    /// The other write buffer (inside `writing` while a send is in flight).
    spare: Vec<u8>,
    /// A send failed: what was gathered after it can never follow it, so
    /// every later write and flush fails the same way.
    broken: Option<io::ErrorKind>,
}

impl Drop for PollIo {
    fn drop(&mut self) {
        // The operations first (each cancels its op; under io_uring the driver
        // keeps the buffer until the kernel is done with it), then the socket.
        self.reading = Slot::new();
        self.writing = Slot::new();
        // SAFETY: `socket` came from `Box::into_raw` in `with_read_ahead` and
        // is freed only here; no operation refers to it any more.
        drop(unsafe { Box::from_raw(self.socket.as_ptr()) });
    }
}

impl PollIo {
    pub fn new(socket: impl Into<Metered>) -> PollIo {
        PollIo::with_read_ahead(socket.into(), BytesMut::new())
    }

    /// `read`: bytes already read from `socket` (to tell HTTP/2 from
    /// HTTP/1.1); they are read first.
    pub fn with_read_ahead(socket: Metered, read: BytesMut) -> PollIo {
        let socket = Box::into_raw(Box::new(UnsafeCell::new(socket)));
        PollIo {
            reading: Slot::new(),
            writing: Slot::new(),
            // SAFETY: `Box::into_raw` never returns null.
            socket: unsafe { NonNull::new_unchecked(socket) },
            rbuf: read,
            rpos: 0,
            wbuf: Vec::new(),
            spare: Vec::new(),
            broken: None,
        }
    }

    /// The socket, to operate on from a `'static` future.
    fn socket_ptr(&self) -> *mut Metered {
        // SAFETY: the socket lives until `Drop` (see `socket`).
        unsafe { self.socket.as_ref() }.get()
    }

    /// The bytes read and not yet consumed, reading more when there are none;
    /// empty at the end of the stream.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        while self.rpos >= self.rbuf.len() {
            if !self.reading.armed {
                let mut buf = std::mem::take(&mut self.rbuf);
                buf.clear();
                buf.reserve(READ_BUFFER);
                let socket = self.socket_ptr();
                // SAFETY: the socket's address is stable and it outlives the
                // slot (`Drop`); the read and the write in flight touch
                // disjoint state (`Metered: Split`, as monoio's own split).
                self.reading
                    .arm(async move { unsafe { &mut *socket }.read(buf).await });
            }
            let (res, buf) = ready!(self.reading.poll(cx));
            self.rbuf = buf;
            self.rpos = 0;
            if res? == 0 {
                return Poll::Ready(Ok(&[]));
            }
        }
        Poll::Ready(Ok(&self.rbuf[self.rpos..]))
    }

    /// `n` bytes of what `poll_fill` gave are used.
    pub fn consume(&mut self, n: usize) {
        self.rpos = (self.rpos + n).min(self.rbuf.len());
    }

    /// Copy `bufs` in, unless `WRITE_HIGH` bytes wait already and cannot be
    /// sent yet (then `Pending`, woken when the send in flight is done).
    pub fn poll_gather(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(kind) = self.broken {
            return Poll::Ready(Err(kind.into()));
        }
        if self.wbuf.len() >= WRITE_HIGH {
            if let Poll::Ready(Err(e)) = self.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            if self.wbuf.len() >= WRITE_HIGH {
                return Poll::Pending;
            }
        }
        // Taken up to the mark: one large call (h2 writes DATA frames as
        // large as the peer allows, up to 16 MiB) is not copied whole.
        let room = WRITE_HIGH - self.wbuf.len();
        Poll::Ready(Ok(gather(&mut self.wbuf, bufs, room)))
    }

    /// Send what is gathered: finish the send in flight, then hand the
    /// buffer to a new one, until nothing is gathered and nothing in flight.
    pub fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(kind) = self.broken {
            return Poll::Ready(Err(kind.into()));
        }
        loop {
            if self.writing.armed {
                let (res, mut buf) = ready!(self.writing.poll(cx));
                buf.clear();
                if buf.capacity() <= WRITE_KEEP {
                    self.spare = buf;
                }
                if let Err(e) = res {
                    self.broken = Some(e.kind());
                    return Poll::Ready(Err(e));
                }
            }
            if self.wbuf.is_empty() {
                if self.wbuf.capacity() > WRITE_KEEP {
                    self.wbuf = Vec::new();
                }
                return Poll::Ready(Ok(()));
            }
            let buf = std::mem::replace(&mut self.wbuf, std::mem::take(&mut self.spare));
            let socket = self.socket_ptr();
            // SAFETY: as for the read in `poll_fill`.
            self.writing
                .arm(async move { unsafe { &mut *socket }.write_all(buf).await });
        }
    }

    fn socket(&self) -> &Metered {
        // SAFETY: shared access to the socket's own state (its fd); an
        // operation in flight holds the fd by its own reference.
        unsafe { &*self.socket_ptr() }
    }
}

/// Append `bufs` to `into`, in order, up to `room` bytes; how many it took.
pub(super) fn gather(into: &mut Vec<u8>, bufs: &[IoSlice<'_>], mut room: usize) -> usize {
    let mut n = 0;
    for b in bufs {
        let take = b.len().min(room);
        into.extend_from_slice(&b[..take]);
        n += take;
        room -= take;
        if room == 0 {
            break;
        }
    }
    n
}

impl AsyncRead for PollIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let data = ready!(this.poll_fill(cx))?;
        let n = data.len().min(buf.remaining());
        buf.put_slice(&data[..n]);
        this.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PollIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_gather(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_gather(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        let fd = this.socket().as_raw_fd();
        // SAFETY: the socket owns `fd` and is alive (borrowed from `this`).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        Poll::Ready(socket2::SockRef::from(&fd).shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use monoio::net::TcpListener;

    use super::*;
    use crate::net::driver::on_both_drivers;

    async fn pair() -> (PollIo, monoio::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connect = monoio::spawn(monoio::net::TcpStream::connect_addr(addr));
        let (peer, _) = listener.accept().await.unwrap();
        (PollIo::new(connect.await.unwrap()), peer)
    }

    async fn write(io: &mut PollIo, bufs: &[&[u8]]) -> usize {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, &slices))
            .await
            .unwrap()
    }

    async fn read_exactly(peer: &mut monoio::net::TcpStream, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            let (r, buf) = peer.read(vec![0u8; 64 * 1024]).await;
            let k = r.unwrap();
            assert!(k > 0, "peer closed after {} of {n} bytes", got.len());
            got.extend_from_slice(&buf[..k]);
        }
        got
    }

    #[test]
    fn writes_are_gathered_until_flushed_and_arrive_in_order() {
        on_both_drivers(|| async {
            let (mut io, mut peer) = pair().await;
            assert_eq!(write(&mut io, &[b"head", b"-", b"payload"]).await, 12);
            assert_eq!(write(&mut io, &[b"|second"]).await, 7);
            // Nothing is sent before the flush: all of it waits in one buffer.
            assert!(!io.writing.armed);
            assert_eq!(io.wbuf, b"head-payload|second");
            poll_fn(|cx| Pin::new(&mut io).poll_flush(cx))
                .await
                .unwrap();
            assert!(io.wbuf.is_empty() && !io.writing.armed);
            assert_eq!(read_exactly(&mut peer, 19).await, b"head-payload|second");
        });
    }

    #[test]
    fn a_burst_past_the_high_mark_is_sent_without_a_flush_and_nothing_is_lost() {
        on_both_drivers(|| async {
            let (mut io, mut peer) = pair().await;
            let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
            let total = 64 * chunk.len() * 3;
            let reader = monoio::spawn(async move { read_exactly(&mut peer, total).await });
            for _ in 0..64 * 3 {
                write(&mut io, &[&chunk]).await;
                // The gathered bytes never grow far past the high mark.
                assert!(io.wbuf.len() <= WRITE_HIGH + chunk.len());
            }
            poll_fn(|cx| Pin::new(&mut io).poll_flush(cx))
                .await
                .unwrap();
            let got = reader.await;
            assert_eq!(got.len(), total);
            assert!(got.chunks(chunk.len()).all(|c| c == chunk));
        });
    }

    #[test]
    fn reads_hand_back_the_read_ahead_first_then_the_socket_then_the_end() {
        on_both_drivers(|| async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let connect = monoio::spawn(monoio::net::TcpStream::connect_addr(addr));
            let (mut peer, _) = listener.accept().await.unwrap();
            let mut io = PollIo::with_read_ahead(
                connect.await.unwrap().into(),
                BytesMut::from(&b"PRI "[..]),
            );
            let (r, _) = peer.write_all(b"rest".to_vec()).await;
            r.unwrap();
            drop(peer);
            let mut got = Vec::new();
            loop {
                let mut scratch = [0u8; 3];
                let mut buf = ReadBuf::new(&mut scratch);
                poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf))
                    .await
                    .unwrap();
                if buf.filled().is_empty() {
                    break;
                }
                got.extend_from_slice(buf.filled());
            }
            assert_eq!(got, b"PRI rest");
        });
    }

    #[test]
    fn shutdown_sends_what_is_gathered_then_ends_the_stream() {
        on_both_drivers(|| async {
            let (mut io, mut peer) = pair().await;
            write(&mut io, &[b"last words"]).await;
            poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx))
                .await
                .unwrap();
            assert_eq!(read_exactly(&mut peer, 10).await, b"last words");
            let (r, _) = peer.read(vec![0u8; 16]).await;
            assert_eq!(r.unwrap(), 0, "the stream ends after the shutdown");
        });
    }

    #[test]
    fn one_large_write_is_taken_up_to_the_mark_and_the_rest_after_a_send() {
        on_both_drivers(|| async {
            let (mut io, mut peer) = pair().await;
            let big = vec![7u8; 3 * WRITE_HIGH];
            let n = write(&mut io, &[&big]).await;
            assert_eq!(
                n, WRITE_HIGH,
                "a call takes no more than fits under the mark"
            );
            let reader =
                monoio::spawn(async move { read_exactly(&mut peer, 3 * WRITE_HIGH).await });
            let mut sent = n;
            while sent < big.len() {
                sent += write(&mut io, &[&big[sent..]]).await;
            }
            poll_fn(|cx| Pin::new(&mut io).poll_flush(cx))
                .await
                .unwrap();
            assert_eq!(reader.await, big);
        });
    }

    #[test]
    fn dropped_with_a_read_in_flight_the_socket_closes() {
        on_both_drivers(|| async {
            let (mut io, mut peer) = pair().await;
            // Arm a read that will not complete (the peer sends nothing).
            let mut scratch = [0u8; 8];
            let mut buf = ReadBuf::new(&mut scratch);
            let pending =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_read(cx, &mut buf).is_pending()))
                    .await;
            assert!(pending);
            drop(io);
            let (r, _) = peer.read(vec![0u8; 16]).await;
            assert_eq!(
                r.unwrap(),
                0,
                "the peer sees the end once the adapter is gone"
            );
        });
    }
}
