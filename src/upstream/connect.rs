//! Opening upstream connections: TCP (with TCP_NODELAY, so small heads are not
//! held back by Nagle) and, for a cluster with `tls`, the TLS handshake on
//! top — both within the cluster's connect timeout, as Envoy counts a
//! transport's setup as part of connecting.
//!
//! A cluster's connections are all TLS or all plaintext (its pools are its
//! own), so a TLS and a plaintext connection to one address never mix.

use std::{net::SocketAddr, time::Duration};

use monoio::{
    buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut},
    io::{AsyncReadRent, AsyncWriteRent},
    net::TcpStream,
    BufResult,
};
use rustls::ClientConnection;

use super::{TlsFailure, UpstreamError};
use crate::{
    net::{
        tls::{ClientTlsStream, HandshakeError},
        transport::Transport,
    },
    tls::ClusterTls,
};

/// A connection to an upstream host.
pub enum UpstreamConn {
    Plain(TcpStream),
    /// Boxed: the TLS state is large, and pools keep many idle connections.
    Tls(Box<ClientTlsStream>),
}

impl UpstreamConn {
    /// The socket underneath, for probing whether the peer closed it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            UpstreamConn::Plain(s) => s,
            UpstreamConn::Tls(s) => s.tcp(),
        }
    }

    /// The plain socket, when the connection can carry a raw tunnel after a
    /// 101 (a TLS one cannot yet: both directions share one session).
    pub fn into_tunnel(self) -> Option<TcpStream> {
        match self {
            UpstreamConn::Plain(s) => Some(s),
            UpstreamConn::Tls(_) => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, UpstreamConn::Tls(_))
    }
}

/// Connect to `addr` (and shake hands over TLS when `tls` is set) within `timeout`.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    tls: Option<&ClusterTls>,
) -> Result<UpstreamConn, UpstreamError> {
    match monoio::time::timeout(timeout, open(addr, tls)).await {
        Ok(done) => done,
        Err(_) => Err(UpstreamError::ConnectTimeout),
    }
}

async fn open(addr: SocketAddr, tls: Option<&ClusterTls>) -> Result<UpstreamConn, UpstreamError> {
    // On timeout the connect op is dropped: io_uring cancellation is best effort,
    // so a connect that completed at that very moment is closed with the future.
    let stream = TcpStream::connect_addr(addr)
        .await
        .map_err(|e| UpstreamError::ConnectFailed(e.kind()))?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(UpstreamConn::Plain(stream));
    };
    let conn = ClientConnection::new(tls.client_config(), tls.server_name())
        .map_err(|e| UpstreamError::Tls(TlsFailure::of(&e)))?;
    let mut stream = Box::new(ClientTlsStream::new_client(stream, conn));
    // The overall connect timeout bounds this; no second deadline of its own.
    match stream.drive_handshake().await {
        Ok(()) => Ok(UpstreamConn::Tls(stream)),
        Err(HandshakeError::Tls(e)) => Err(UpstreamError::Tls(TlsFailure::of(&e))),
        Err(_) => Err(UpstreamError::Tls(TlsFailure::Closed)),
    }
}

impl Transport for UpstreamConn {
    async fn wait_readable(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.wait_readable().await,
            UpstreamConn::Tls(s) => s.readable().await,
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

    fn into_tunnel(self) -> Option<TcpStream> {
        UpstreamConn::into_tunnel(self)
    }
}

impl AsyncReadRent for UpstreamConn {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.read(buf).await,
            UpstreamConn::Tls(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.readv(buf).await,
            UpstreamConn::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for UpstreamConn {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.write(buf).await,
            UpstreamConn::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpstreamConn::Plain(s) => s.writev(buf).await,
            UpstreamConn::Tls(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.flush().await,
            UpstreamConn::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.shutdown().await,
            UpstreamConn::Tls(s) => s.shutdown().await,
        }
    }
}
