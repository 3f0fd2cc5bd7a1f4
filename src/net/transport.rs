//! What a client connection runs over: a plain (byte-counting) socket or a
//! `TlsStream` on one.
//! The HTTP/1.1 connection code is generic over `Transport`, so one body of
//! code serves both (monomorphised: no dynamic dispatch on the data path).

use std::{future::Future, io, net::SocketAddr};

use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::{
    meter::Metered,
    tls::{TlsInfo, TlsStream},
};

#[allow(async_fn_in_trait)] // single-threaded runtime: no `Send` bound wanted
pub trait Transport: AsyncReadRent + AsyncWriteRent {
    /// Wait until a read would not block, holding no buffer of the caller's.
    /// (Not `async` in the trait, so an implementation can hand back the
    /// socket's own wait without a frame around it: an idle connection's task
    /// holds this future.)
    fn wait_readable(&mut self) -> impl Future<Output = io::Result<()>> + '_;

    /// Before the socket closes: TLS says so (`close_notify`), so the peer can
    /// tell the end from a truncation. Nothing for TCP (closing the socket says it).
    async fn close_gracefully(&mut self);

    /// The TLS session, if the connection is TLS.
    fn tls(&self) -> Option<TlsInfo>;

    /// The address the connection was accepted on (one `getsockname`); `None`
    /// where it is not asked for (upstream connections).
    fn local_address(&self) -> Option<SocketAddr> {
        None
    }

    /// The plain socket, when the connection can become a raw tunnel after a
    /// 101 (a TLS connection cannot yet: its two directions share one session).
    fn into_tunnel(self) -> Option<Metered>;

    /// The plain socket, when body bytes can be spliced to or from it
    /// (a TLS connection's must pass through its session).
    fn plain_socket(&mut self) -> Option<&mut Metered> {
        None
    }

    /// Whether `plain_socket` gives the socket (without a `&mut` to ask it).
    fn is_plain(&self) -> bool {
        false
    }
}

impl Transport for Metered {
    fn wait_readable(&mut self) -> impl Future<Output = io::Result<()>> + '_ {
        // Not relaxed: on epoll a relaxed check can report stale readiness, and
        // the connection would then park a buffer in a read that ignores the drain.
        self.readable(false)
    }

    async fn close_gracefully(&mut self) {}

    fn tls(&self) -> Option<TlsInfo> {
        None
    }

    fn local_address(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }

    fn into_tunnel(self) -> Option<Metered> {
        Some(self)
    }

    fn plain_socket(&mut self) -> Option<&mut Metered> {
        Some(self)
    }

    fn is_plain(&self) -> bool {
        true
    }
}

impl Transport for TlsStream {
    async fn wait_readable(&mut self) -> io::Result<()> {
        self.readable().await
    }

    async fn close_gracefully(&mut self) {
        let _ = self.close_notify().await;
    }

    fn tls(&self) -> Option<TlsInfo> {
        Some(self.info())
    }

    fn local_address(&self) -> Option<SocketAddr> {
        self.tcp().local_addr().ok()
    }

    fn into_tunnel(self) -> Option<Metered> {
        None
    }
}
