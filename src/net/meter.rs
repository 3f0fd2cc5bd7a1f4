//! Byte counts at the socket: `Metered` is a `TcpStream` that adds what each
//! read and write moved to its owner's counters (Envoy's
//! `downstream_cx_{rx,tx}_bytes_total` and `upstream_cx_{rx,tx}_bytes_total`).
//!
//! Counting here, under every protocol layer, keeps one rule for all of them:
//! a byte counts once, when the kernel took or gave it. HTTP/1.1, HTTP/2,
//! raw tunnels after a 101 and the bytes read to tell HTTP/2 from HTTP/1.1 all
//! read and write the same `Metered` socket, and TLS (`net::tls`,
//! `net::tls_poll`) sits on top of it, so a TLS connection counts ciphertext,
//! handshakes and alerts included, as Envoy does at its network layer.
//!
//! Invariants: the meter is set once, when the socket is accepted or
//! connected, and holds a reference to counters its worker alone writes (no
//! cross-core write, nothing allocated per read or write: one refcount per
//! connection). A socket with no meter (`From<TcpStream>`, tests) counts nothing.

use std::{
    ops::Deref,
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use monoio::{
    buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut},
    io::{AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent},
    net::TcpStream,
    BufResult,
};

use super::splice::{NonBlocking, Pipe};

/// Where a socket's byte counts go: one worker's counters for one listener
/// or cluster (implemented by the stats blocks, a layer above).
pub trait SocketCounts {
    /// `n` bytes read from the socket.
    fn received(&self, n: u64);
    /// `n` bytes written to the socket.
    fn sent(&self, n: u64);
    /// The socket was marked `Metered::established` (each is once, and
    /// `closed` follows when it is dropped).
    fn established(&self) {}
    /// The socket closed, `lifetime` after it was established (only for
    /// sockets marked `Metered::established`).
    fn closed(&self, lifetime: Duration) {
        let _ = lifetime;
    }
}

/// What one nonblocking `MSG_PEEK` of a socket finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Nothing to read yet: the peer is quiet and the socket open.
    Nothing,
    /// A byte is waiting (left in place).
    Byte(u8),
    /// The peer closed, or the socket failed.
    Closed,
}

/// Peek at `socket` without waiting or taking anything.
pub fn peek(socket: &impl AsRawFd) -> Peeked {
    let mut byte = 0u8;
    // SAFETY: the fd is owned by `socket` and open for the call; recv writes at
    // most 1 byte into `byte`, which outlives the call.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        1 => Peeked::Byte(byte),
        n if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
            Peeked::Nothing
        }
        _ => Peeked::Closed,
    }
}

/// A shared handle on the counters a socket adds to.
pub type Meter = Arc<dyn SocketCounts + Send + Sync>;

/// A TCP socket that counts the bytes it moves.
pub struct Metered {
    tcp: TcpStream,
    meter: Option<Meter>,
    /// When the connection was established, if its close is to be counted:
    /// nanoseconds from `epoch()` (negative: before it), `NOT_COUNTED` if not.
    /// A word where an `Option<Instant>` takes two: every idle client
    /// connection holds a `Metered`.
    since: i64,
}

/// `Metered::since` of a socket whose close is not counted.
const NOT_COUNTED: i64 = i64::MIN;

/// What `Metered::since` counts from (the first time it is asked for).
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Metered {
    pub fn new(tcp: TcpStream, meter: Option<Meter>) -> Metered {
        Metered {
            tcp,
            meter,
            since: NOT_COUNTED,
        }
    }

    /// The connection is up (for TLS, its handshake done), having started at
    /// `since`: its close counts on the meter (`SocketCounts::closed`).
    pub fn established(&mut self, since: Instant) {
        if self.since == NOT_COUNTED {
            if let Some(m) = &self.meter {
                m.established();
            }
        }
        let e = epoch();
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        self.since = match since.checked_duration_since(e) {
            Some(after) => nanos(after),
            None => -nanos(e.duration_since(since)).min(i64::MAX - 1),
        };
    }

    /// When the connection was established, if its close is counted.
    fn since(&self) -> Option<Instant> {
        if self.since == NOT_COUNTED {
            return None;
        }
        let off = Duration::from_nanos(self.since.unsigned_abs());
        if self.since >= 0 {
            epoch().checked_add(off)
        } else {
            epoch().checked_sub(off)
        }
    }

    /// Splice at most `max` bytes from this socket into `pipe` without
    /// waiting (`Ok(0)`: the peer closed), counted as read: spliced bytes count
    /// exactly as copied ones.
    pub fn splice_into(&self, pipe: &mut Pipe, max: usize) -> std::io::Result<usize> {
        let res = pipe.fill(self.tcp.as_raw_fd(), max);
        self.received(&res);
        res
    }

    /// Splice at most `max` of the bytes `pipe` holds to this socket without
    /// waiting, counted as written.
    pub fn splice_from(&self, pipe: &mut Pipe, max: usize) -> std::io::Result<usize> {
        let res = pipe.drain(self.tcp.as_raw_fd(), max);
        self.sent(&res);
        res
    }

    /// The first byte waiting to be read, if any, left in place.
    pub fn peek_byte(&self) -> Option<u8> {
        match peek(&self.tcp) {
            Peeked::Byte(b) => Some(b),
            Peeked::Nothing | Peeked::Closed => None,
        }
    }

    /// This socket nonblocking until the guard drops (see `splice::NonBlocking`).
    pub fn nonblocking_for_splice(&self) -> std::io::Result<NonBlocking> {
        NonBlocking::set(self.tcp.as_raw_fd())
    }

    #[inline]
    fn received(&self, res: &std::io::Result<usize>) {
        if let (Ok(n), Some(m)) = (res, &self.meter) {
            m.received(*n as u64);
        }
    }

    #[inline]
    fn sent(&self, res: &std::io::Result<usize>) {
        if let (Ok(n), Some(m)) = (res, &self.meter) {
            m.sent(*n as u64);
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let (Some(since), Some(m)) = (self.since(), &self.meter) {
            m.closed(since.elapsed());
        }
    }
}

// SAFETY: a read and a write on the two halves touch disjoint state: the
// socket, which monoio splits itself (`TcpStream: Split`), and the meter's
// separate rx and tx cells through a shared reference.
unsafe impl monoio::io::Split for Metered {}

/// No meter: counts nothing.
impl From<TcpStream> for Metered {
    fn from(tcp: TcpStream) -> Metered {
        Metered::new(tcp, None)
    }
}

/// The socket itself, to look at its state (addresses, readiness); reads and
/// writes go through `Metered`'s own, which count.
impl Deref for Metered {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl AsyncReadRent for Metered {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.read(buf).await;
        self.received(&res);
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.readv(buf).await;
        self.received(&res);
        (res, buf)
    }
}

/// A read that a `Canceller` can stop without losing it: after the cancel the
/// read still completes, with `ECANCELED` and the buffer, or with what it read
/// (counted like any other read).
impl CancelableAsyncReadRent for Metered {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.cancelable_read(buf, c).await;
        self.received(&res);
        (res, buf)
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.cancelable_readv(buf, c).await;
        self.received(&res);
        (res, buf)
    }
}

impl AsyncWriteRent for Metered {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.write(buf).await;
        self.sent(&res);
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let (res, buf) = self.tcp.writev(buf).await;
        self.sent(&res);
        (res, buf)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush().await
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        self.tcp.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use std::future::Future;

    use monoio::io::AsyncWriteRentExt;

    use super::*;

    #[derive(Default)]
    struct Counts(AtomicU64, AtomicU64);

    impl SocketCounts for Counts {
        fn received(&self, n: u64) {
            self.0.fetch_add(n, Relaxed);
        }
        fn sent(&self, n: u64) {
            self.1.fetch_add(n, Relaxed);
        }
    }

    #[monoio::test(enable_timer = true)]
    async fn reads_and_writes_add_what_the_kernel_moved() {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let meter: Meter = counts.clone();
        let client = monoio::spawn(async move {
            let tcp = TcpStream::connect_addr(addr).await.unwrap();
            let mut s = Metered::new(tcp, Some(meter));
            let (r, _) = s.write_all(vec![7u8; 1000]).await;
            r.unwrap();
            let mut got = 0;
            while got < 10 {
                let (r, _) = s.read(vec![0u8; 64]).await;
                got += r.unwrap();
            }
        });
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut seen = 0;
        while seen < 1000 {
            let (r, _) = peer.read(vec![0u8; 4096]).await;
            seen += r.unwrap();
        }
        let (r, _) = peer.write_all(vec![1u8; 10]).await;
        r.unwrap();
        client.await;
        assert_eq!(counts.1.load(Relaxed), 1000);
        assert_eq!(counts.0.load(Relaxed), 10);
    }

    #[monoio::test(enable_timer = true)]
    async fn a_cancelled_read_gives_its_buffer_back_and_a_later_one_counts() {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let meter: Meter = counts.clone();
        let tcp = TcpStream::connect_addr(addr).await.unwrap();
        let mut s = Metered::new(tcp, Some(meter));
        let (mut peer, _) = listener.accept().await.unwrap();
        let canceller = monoio::io::Canceller::new();
        {
            let mut read =
                std::pin::pin!(s.cancelable_read(Vec::with_capacity(64), canceller.handle()));
            // Polled once: in flight (nothing has been sent).
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            let _fresh = canceller.cancel();
            // Awaited to its end: cancelled, with the buffer.
            let (r, buf) = read.await;
            assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
            assert_eq!(buf.capacity(), 64);
        }
        let (r, _) = peer.write_all(vec![1u8; 10]).await;
        r.unwrap();
        let canceller = monoio::io::Canceller::new();
        let mut got = 0;
        while got < 10 {
            let (r, _) = s.cancelable_read(vec![0u8; 64], canceller.handle()).await;
            got += r.unwrap();
        }
        assert_eq!(counts.0.load(Relaxed), 10);
    }
}
