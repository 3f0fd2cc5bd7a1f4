//! Opening upstream connections: TCP (with TCP_NODELAY, so small heads are not
//! held back by Nagle) and, for a cluster with `tls`, the TLS handshake on
//! top — both within the cluster's connect timeout, as Envoy counts a
//! transport's setup as part of connecting.
//!
//! A cluster's connections are all TLS or all plaintext (its pools are its
//! own), so a TLS and a plaintext connection to one address never mix.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use monoio::{
    buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut},
    io::{AsyncReadRent, AsyncWriteRent},
    net::TcpStream,
    BufResult,
};
use rustls::ClientConnection;

use super::{h2::H2Stream, TlsFailure, UpstreamError};
use crate::{
    net::{
        meter::{Meter, Metered},
        tls::{ClientTlsStream, HandshakeError},
        transport::Transport,
    },
    tls::ClusterTls,
};

/// A connection to an upstream host.
pub enum UpstreamConn {
    /// Counting its bytes on the cluster (`net::meter`), as every upstream socket.
    Plain(Metered),
    /// Boxed: the TLS state is large, and pools keep many idle connections.
    Tls(Box<ClientTlsStream>),
    /// One stream on an HTTP/2 connection, read and written as HTTP/1.1
    /// (`upstream::h2`). Never pooled itself: its connection is.
    H2(Box<H2Stream>),
}

impl UpstreamConn {
    /// The socket underneath, for probing whether the peer closed it (an
    /// HTTP/2 stream has none of its own).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            UpstreamConn::Plain(s) => Some(s),
            UpstreamConn::Tls(s) => Some(s.tcp()),
            UpstreamConn::H2(_) => None,
        }
    }

    /// The connection's own address (one `getsockname` per socket, kept by
    /// monoio; an HTTP/2 stream's is its connection's, read as it opened).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            UpstreamConn::H2(s) => s.local_addr(),
            _ => self.tcp()?.local_addr().ok(),
        }
    }

    /// The protocol ALPN settled, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            UpstreamConn::Tls(s) => s.alpn(),
            _ => None,
        }
    }

    /// Whether a streamed request body can be sent on its own
    /// (`pump_body`): an HTTP/2 stream's send side is independent of its
    /// response.
    pub fn takes_detached_body(&self) -> bool {
        matches!(self, UpstreamConn::H2(_))
    }

    /// Send `body` on its own while the response is read (after the head).
    pub fn pump_body(&mut self, body: super::h2::DetachedBody) {
        if let UpstreamConn::H2(s) = self {
            s.pump_body(body);
        }
    }

    /// An HTTP/2 stream the upstream never processed (REFUSED_STREAM, or
    /// excluded by GOAWAY): safe to send again on another connection.
    pub fn unprocessed(&self) -> bool {
        matches!(self, UpstreamConn::H2(s) if s.unprocessed())
    }

    /// A request head an HTTP/2 stream could not carry (see `H2Stream`): the
    /// request is refused as the client's, not counted against the host.
    pub fn rejected_head(&self) -> bool {
        matches!(self, UpstreamConn::H2(s) if s.untranslatable())
    }

    /// The stream was reset because the client's body, sent on its own, ran
    /// out of time: answered as the client's fault (408), not the host's.
    pub fn client_late(&self) -> bool {
        matches!(self, UpstreamConn::H2(s) if s.client_late())
    }

    /// The plain socket, when the connection can carry a raw tunnel after a
    /// 101 (a TLS one cannot yet: both directions share one session).
    pub fn into_tunnel(self) -> Option<Metered> {
        match self {
            UpstreamConn::Plain(s) => Some(s),
            UpstreamConn::Tls(_) | UpstreamConn::H2(_) => None,
        }
    }

    /// A stream on an HTTP/2 connection.
    pub fn is_h2(&self) -> bool {
        matches!(self, UpstreamConn::H2(_))
    }

    pub fn is_tls(&self) -> bool {
        match self {
            UpstreamConn::Plain(_) => false,
            UpstreamConn::Tls(_) => true,
            UpstreamConn::H2(s) => s.is_tls(),
        }
    }
}

/// Connect to `addr` (and shake hands over TLS when `tls` is set) within
/// `timeout`; the socket counts its bytes on `meter` (the cluster's).
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&ClusterTls>,
    meter: Option<Meter>,
) -> Result<UpstreamConn, UpstreamError> {
    match monoio::time::timeout(timeout, open(addr, tls, meter)).await {
        Ok(done) => done,
        Err(_) => Err(UpstreamError::ConnectTimeout),
    }
}

async fn open(
    addr: SocketAddr,
    tls: Option<&ClusterTls>,
    meter: Option<Meter>,
) -> Result<UpstreamConn, UpstreamError> {
    // On timeout the connect op is dropped: io_uring cancellation is best effort,
    // so a connect that completed at that very moment is closed with the future.
    let started = Instant::now();
    let stream = TcpStream::connect_addr(addr)
        .await
        .map_err(|e| UpstreamError::ConnectFailed(e.kind()))?;
    let _ = stream.set_nodelay(true);
    let mut stream = Metered::new(stream, meter);
    let Some(tls) = tls else {
        stream.established(started);
        return Ok(UpstreamConn::Plain(stream));
    };
    let conn = ClientConnection::new(tls.client_config(), tls.server_name())
        .map_err(|e| UpstreamError::Tls(TlsFailure::of(&e)))?;
    let mut stream = Box::new(ClientTlsStream::new_client(stream, conn));
    // The overall connect timeout bounds this; no second deadline of its own.
    match stream.drive_handshake().await {
        Ok(()) => {
            stream.metered_mut().established(started);
            Ok(UpstreamConn::Tls(stream))
        }
        Err(HandshakeError::Tls(e)) => Err(UpstreamError::Tls(TlsFailure::of(&e))),
        Err(_) => Err(UpstreamError::Tls(TlsFailure::Closed)),
    }
}

impl Transport for UpstreamConn {
    async fn wait_readable(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.wait_readable().await,
            UpstreamConn::Tls(s) => s.readable().await,
            // Never a tunnel (`into_tunnel`), so never waited on as one.
            UpstreamConn::H2(_) => Err(std::io::ErrorKind::Unsupported.into()),
        }
    }

    async fn close_gracefully(&mut self) {
        if let UpstreamConn::Tls(s) = self {
            let _ = s.close_notify().await;
        }
    }

    /// What an upstream's session settled is not the client's: none here.
    fn tls(&self) -> Option<crate::net::tls::TlsInfo> {
        None
    }

    fn into_tunnel(self) -> Option<Metered> {
        UpstreamConn::into_tunnel(self)
    }
}

impl AsyncReadRent for UpstreamConn {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.read(buf).await,
            UpstreamConn::Tls(s) => s.read(buf).await,
            UpstreamConn::H2(s) => {
                // SAFETY: `write_ptr` is valid for `bytes_total` bytes of
                // writable (possibly uninitialised) memory owned by `buf`, which
                // lives across the call; the slice is only written, then
                // `set_init` marks exactly the bytes written.
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), buf.bytes_total()) };
                let res = s.read_bytes(dst).await;
                if let Ok(n) = res {
                    // SAFETY: `read_bytes` wrote the first `n` bytes.
                    unsafe { buf.set_init(n) };
                }
                (res, buf)
            }
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.readv(buf).await,
            UpstreamConn::Tls(s) => s.readv(buf).await,
            UpstreamConn::H2(_) => (Err(std::io::ErrorKind::Unsupported.into()), buf),
        }
    }
}

impl AsyncWriteRent for UpstreamConn {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.write(buf).await,
            UpstreamConn::Tls(s) => s.write(buf).await,
            UpstreamConn::H2(s) => {
                // SAFETY: `read_ptr` is valid for `bytes_init` initialised bytes
                // owned by `buf`, which is not touched until the call returns.
                let src = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
                let res = s.write_bytes(src).await;
                (res, buf)
            }
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.writev(buf).await,
            UpstreamConn::Tls(s) => s.writev(buf).await,
            UpstreamConn::H2(_) => (Err(std::io::ErrorKind::Unsupported.into()), buf),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.flush().await,
            UpstreamConn::Tls(s) => s.flush().await,
            UpstreamConn::H2(_) => Ok(()),
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.shutdown().await,
            UpstreamConn::Tls(s) => s.shutdown().await,
            UpstreamConn::H2(_) => Ok(()),
        }
    }
}
