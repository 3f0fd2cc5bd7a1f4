//! HTTP/2 over TLS: a rustls session of either side (a client's connection to
//! us, or ours to an upstream) driven through tokio's poll-based I/O traits
//! (what `h2` reads and writes), over the connection's socket seen through
//! `net::poll_io`. `net::tls::TlsStream` is rent-style and serves one
//! operation at a time; HTTP/2 keeps a read pending while it writes, so after
//! the handshake the session moves here (`TlsStream::into_parts`).
//!
//! Reads feed rustls straight from the socket's read buffer, only once the
//! plaintext it gave before has been read, so rustls never holds more than one
//! read's worth.
//!
//! Writes are sealed into records a full record at a time: plaintext is
//! gathered until `poll_flush` or until a record's worth (16 KiB) waits. `h2`
//! writes a frame's head and its payload as separate slices, so sealing each
//! write on its own made two records per HTTP/2 response, each with its own
//! header, tag and allocation; a pass over 32 streams' responses is now about
//! three records. The records go to `PollIo`, which sends them at the flush.

use std::{
    io::{self, IoSlice, Read, Write},
    pin::Pin,
    task::{ready, Context, Poll},
};

use rustls::{ConnectionCommon, ServerConnection, SideData};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{
    meter::Metered,
    poll_io::{self, PollIo},
};

/// TLS's largest record payload: plaintext gathered past this is sealed.
const RECORD: usize = 16 * 1024;

/// `C`: `rustls::ServerConnection` (the default) or `rustls::ClientConnection`.
pub struct TlsIo<C = ServerConnection> {
    /// The socket, counting ciphertext (`net::meter`).
    tcp: PollIo,
    conn: C,
    /// Plaintext written and not yet sealed.
    plain: Vec<u8>,
    eof: bool,
    /// `close_notify` is queued (once, however often shutdown is polled).
    closing: bool,
}

impl<C, SD> TlsIo<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    pub fn new(tcp: impl Into<Metered>, conn: C) -> TlsIo<C> {
        TlsIo {
            tcp: PollIo::new(tcp),
            conn,
            plain: Vec::new(),
            eof: false,
            closing: false,
        }
    }

    fn process(&mut self) -> io::Result<()> {
        self.conn
            .process_new_packets()
            .map(|_| ())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Give rustls ciphertext from the socket (reading some if none is
    /// buffered); `Ready(Ok(false))` at the end of the stream.
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut ciphertext = ready!(self.tcp.poll_fill(cx))?;
        if ciphertext.is_empty() {
            self.conn.read_tls(&mut io::empty())?;
            self.process()?;
            return Poll::Ready(Ok(false));
        }
        let n = self.conn.read_tls(&mut ciphertext)?;
        self.tcp.consume(n);
        self.process()?;
        Poll::Ready(Ok(true))
    }

    /// Seal the gathered plaintext into records, as far as rustls takes it;
    /// how much it took.
    fn seal(&mut self) -> io::Result<usize> {
        let mut sealed = 0;
        while sealed < self.plain.len() {
            let n = self.conn.writer().write(&self.plain[sealed..])?;
            if n == 0 {
                break;
            }
            sealed += n;
        }
        self.plain.drain(..sealed);
        Ok(sealed)
    }

    /// Move the records rustls has queued to the socket's write buffer (a
    /// copy; `Pending` once that is full, until it has sent some).
    fn poll_queue_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut w = Gather {
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

    /// Seal everything gathered and queue every record.
    fn poll_seal_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let sealed = self.seal()?;
            let queued = self.conn.wants_write();
            ready!(self.poll_queue_tls(cx))?;
            if self.plain.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if sealed == 0 && !queued {
                // Nothing taken and nothing to make room for: rustls will not
                // take plaintext on this session (it cannot, before the handshake).
                return Poll::Ready(Err(io::Error::other("TLS session takes no plaintext")));
            }
            // rustls' own buffer was full: queued now, so it takes more.
        }
    }
}

/// `std::io::Write` into the socket's write buffer: `Pending` is
/// `WouldBlock` (the waker is registered by the poll).
struct Gather<'a, 'b> {
    io: &'a mut PollIo,
    cx: &'a mut Context<'b>,
}

impl Write for Gather<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.io.poll_gather(self.cx, bufs) {
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
            // Records rustls wants out (alerts, key update answers) go first,
            // and are sent now: no flush may follow a read.
            if this.conn.wants_write() {
                if let Poll::Ready(Err(e)) = this.poll_queue_tls(cx) {
                    return Poll::Ready(Err(e));
                }
                if let Poll::Ready(Err(e)) = this.tcp.poll_send(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            if !ready!(this.poll_feed(cx))? {
                this.eof = true;
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
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.plain.len() >= RECORD {
            ready!(this.poll_seal_all(cx))?;
        }
        // Taken up to a record past the mark: one large call (a DATA frame
        // as large as the peer allows) is not copied whole.
        let room = 2 * RECORD - this.plain.len();
        Poll::Ready(Ok(poll_io::gather(&mut this.plain, bufs, room)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_seal_all(cx))?;
        if this.plain.capacity() > 2 * RECORD {
            this.plain = Vec::new();
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_seal_all(cx))?;
        if !this.closing {
            this.closing = true;
            this.conn.send_close_notify();
        }
        ready!(this.poll_queue_tls(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
