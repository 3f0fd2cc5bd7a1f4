//! The byte stream an HTTP/2 connection runs on (`net::poll_io`, or TLS over
//! it): a handle the connection keeps on it beside `h2`'s, and the linger
//! after a GOAWAY for the client's fault.

use std::{
    cell::RefCell,
    future::poll_fn,
    io,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `h2` owns its I/O and never gives it back; through this the connection
/// keeps a handle of its own (single-threaded: the `RefCell` is borrowed only
/// within one poll).
pub struct Shared<T>(pub Rc<RefCell<T>>);

impl<T: AsyncRead + Unpin> AsyncRead for Shared<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shared<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.borrow().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_shutdown(cx)
    }
}

/// After a GOAWAY for the client's fault: what the client still sends is read
/// and dropped for at most this long…
const LINGER_TIME: Duration = Duration::from_secs(2);
/// …or this many bytes. Closing with its frames unread would make the kernel
/// answer with a reset, and the client could lose the GOAWAY that says why.
const LINGER_BYTES: usize = 256 * 1024;

pub async fn linger<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    let deadline = Instant::now() + LINGER_TIME;
    let left = || deadline.saturating_duration_since(Instant::now());
    // `h2` has flushed its GOAWAY and most likely shut down our side already.
    let shut = poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx));
    let _ = monoio::time::timeout(left(), shut).await;
    let mut scratch = [0u8; 4096];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        let mut buf = ReadBuf::new(&mut scratch);
        let read = poll_fn(|cx| Pin::new(&mut io).poll_read(cx, &mut buf));
        match monoio::time::timeout(left(), read).await {
            Ok(Ok(())) if !buf.filled().is_empty() => discarded += buf.filled().len(),
            _ => return,
        }
    }
}
