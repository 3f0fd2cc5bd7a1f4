//! HTTP/2 over TLS: a rustls session of either side (a client's connection to
//! us, or ours to an upstream) driven through tokio's poll-based I/O traits
//! (what `h2` reads and writes), over the connection's socket seen through
//! monoio-compat. `net::tls::TlsStream` is rent-style and serves one
//! operation at a time; HTTP/2 keeps a read pending while it writes, so after
//! the handshake the session moves here (`TlsStream::into_parts`).
//!
//! Ciphertext is fed to rustls only once the plaintext it gave before has been
//! read (`wants_read`), so rustls never buffers more than one read's worth.

use std::{
    io::{self, Read, Write},
    pin::Pin,
    task::{ready, Context, Poll},
};

use monoio_compat::StreamWrapper;
use rustls::{ConnectionCommon, ServerConnection, SideData};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::meter::Metered;

/// Ciphertext read from the socket at a time (one TLS record and a bit).
const READ_CHUNK: usize = 16 * 1024;

/// `C`: `rustls::ServerConnection` (the default) or `rustls::ClientConnection`.
pub struct TlsIo<C = ServerConnection> {
    /// The socket, counting ciphertext (`net::meter`).
    tcp: StreamWrapper<Metered>,
    conn: C,
    /// Ciphertext read from the socket; `rx[rx_pos..rx_len]` is not yet fed.
    rx: Vec<u8>,
    rx_pos: usize,
    rx_len: usize,
    eof: bool,
}

impl<C, SD> TlsIo<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    pub fn new(tcp: impl Into<Metered>, conn: C) -> TlsIo<C> {
        TlsIo {
            tcp: StreamWrapper::new(tcp.into()),
            conn,
            rx: vec![0; READ_CHUNK],
            rx_pos: 0,
            rx_len: 0,
            eof: false,
        }
    }

    /// Give rustls buffered ciphertext while it wants some.
    fn feed(&mut self) -> io::Result<()> {
        while self.rx_pos < self.rx_len && self.conn.wants_read() {
            let mut pending = &self.rx[self.rx_pos..self.rx_len];
            let n = self.conn.read_tls(&mut pending)?;
            self.rx_pos += n;
            self.process()?;
        }
        Ok(())
    }

    fn process(&mut self) -> io::Result<()> {
        self.conn
            .process_new_packets()
            .map(|_| ())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Write queued TLS records to the socket until it would block.
    fn poll_send_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut w = PollWriter {
                io: &mut self.tcp,
                cx,
            };
            match self.conn.write_tls(&mut w) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// `std::io::Write` over a poll-based writer: `Pending` is `WouldBlock` (the
/// waker is registered by the poll).
struct PollWriter<'a, 'b> {
    io: &'a mut StreamWrapper<Metered>,
    cx: &'a mut Context<'b>,
}

impl Write for PollWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<C, SD> AsyncRead for TlsIo<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>> + Unpin,
    SD: SideData,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.eof {
                // rustls knows of the end: `read` above said so (0 or an error).
                return Poll::Ready(Ok(()));
            }
            // Records rustls wants out (alerts, key update answers) go first.
            if let Poll::Ready(Err(e)) = this.poll_send_tls(cx) {
                return Poll::Ready(Err(e));
            }
            if this.rx_pos < this.rx_len {
                this.feed()?;
                continue;
            }
            let mut rb = ReadBuf::new(&mut this.rx);
            ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            this.rx_pos = 0;
            this.rx_len = n;
            if n == 0 {
                this.eof = true;
                this.conn.read_tls(&mut io::empty())?;
                this.process()?;
            } else {
                this.feed()?;
            }
        }
    }
}

impl<C, SD> AsyncWrite for TlsIo<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>> + Unpin,
    SD: SideData,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = this.conn.writer().write(buf)?;
        match this.poll_send_tls(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // rustls' buffer was full: wait for the socket to take some.
            Poll::Pending if n == 0 => Poll::Pending,
            // Full before, sent now: there is room.
            Poll::Ready(Ok(())) if n == 0 => Poll::Ready(this.conn.writer().write(buf)),
            _ => Poll::Ready(Ok(n)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_tls(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.send_close_notify();
        ready!(this.poll_send_tls(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
