//! TLS at accept: the handshake of a new connection on a TLS listener, bounded
//! in time (`handshake_timeout`, Envoy's `transport_socket_connect_timeout`)
//! and in number per worker (`max_concurrent_handshakes`), so a flood of
//! handshakes — each costs far more CPU than a request — cannot starve the
//! connections already established. A finished handshake hands the stream to
//! the HTTP/1.1 connection code, or to HTTP/2's when ALPN chose `h2`.
//!
//! Every outcome is counted on the listener (Envoy's `ssl.*`).

use std::{net::SocketAddr, rc::Rc, sync::Arc};

use crate::net::meter::Metered;
use rustls::{CipherSuite, NamedGroup, ProtocolVersion, ServerConnection};

use super::{h1, h2, ListenerCtx, Worker};
use crate::{
    config::ListenerCodec,
    net::tls::{cipher_name, HandshakeError, TlsInfo, TlsStream},
    stats::names::ListenerCounter as C,
    tls::ListenerTls,
};

/// Holds one of the worker's handshake places until dropped.
struct HandshakePlace(Rc<Worker>);

impl HandshakePlace {
    fn take(worker: &Rc<Worker>, max: u32) -> Option<HandshakePlace> {
        let n = worker.handshakes.get();
        if n >= max {
            return None;
        }
        worker.handshakes.set(n + 1);
        Some(HandshakePlace(worker.clone()))
    }
}

impl Drop for HandshakePlace {
    fn drop(&mut self) {
        self.0.handshakes.set(self.0.handshakes.get() - 1);
    }
}

/// Serve a connection accepted on a TLS listener.
pub async fn serve(
    worker: Rc<Worker>,
    ctx: Rc<ListenerCtx>,
    tls: Arc<ListenerTls>,
    stream: Metered,
    peer: SocketAddr,
) {
    let count = |c: C| worker.tap.listener_counter(ctx.index, c);
    let Some(place) = HandshakePlace::take(&worker, tls.spec().max_concurrent_handshakes) else {
        count(C::SslHandshakeOverflow);
        return;
    };
    let conn = match ServerConnection::new(tls.server_config()) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e, "cannot start a TLS session");
            return;
        }
    };
    let mut stream = TlsStream::new(stream, conn);
    let done = stream.handshake(tls.handshake_timeout()).await;
    drop(place);
    if let Err(e) = done {
        count(C::SslConnectionError);
        match e {
            HandshakeError::NotTls(_) => count(C::SslNotTls),
            HandshakeError::TimedOut => count(C::SslHandshakeTimeout),
            _ => {}
        }
        tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
        return;
    }
    for c in handshake_counters(&stream.info()) {
        count(c);
    }
    // HTTP/2 when the client chose it by ALPN (`auto`), or always (`http2`).
    let h2 = match ctx.config.codec {
        ListenerCodec::Auto => stream.alpn() == Some(b"h2"),
        ListenerCodec::Http1 => false,
        ListenerCodec::Http2 => true,
    };
    // Each protocol runs as a task of its own (as after `codec: auto`'s
    // detection), so this one's state — the handshake's, and the stream as it
    // was before it moved — does not stay in every TLS connection's task: an
    // idle HTTP/1.1 connection over TLS holds its own state alone.
    if h2 {
        monoio::spawn(h2::serve_tls(worker.clone(), ctx.clone(), stream, peer));
    } else {
        monoio::spawn(h1::serve(worker.clone(), ctx.clone(), stream, peer));
    }
}

/// What a completed handshake counts: itself, resumption, the version, the
/// cipher suite, the key exchange group, and a missing client certificate.
fn handshake_counters(info: &TlsInfo) -> impl Iterator<Item = C> {
    let version = match info.version {
        Some(ProtocolVersion::TLSv1_2) => Some(C::SslVersionTls12),
        Some(ProtocolVersion::TLSv1_3) => Some(C::SslVersionTls13),
        _ => None,
    };
    [
        Some(C::SslHandshake),
        info.resumed.then_some(C::SslSessionReused),
        (!info.peer_certificate).then_some(C::SslNoCertificate),
        version,
        info.cipher.and_then(cipher_counter),
        info.group.and_then(group_counter),
    ]
    .into_iter()
    .flatten()
}

/// The `ssl.ciphers.<name>` counter, found by the suite's OpenSSL name.
fn cipher_counter(suite: CipherSuite) -> Option<C> {
    let name = cipher_name(suite)?;
    C::ALL
        .iter()
        .copied()
        .find(|c| c.name().strip_prefix("ssl.ciphers.") == Some(name))
}

fn group_counter(group: NamedGroup) -> Option<C> {
    Some(match group {
        NamedGroup::X25519 => C::SslCurveX25519,
        NamedGroup::secp256r1 => C::SslCurveP256,
        NamedGroup::secp384r1 => C::SslCurveP384,
        NamedGroup::X25519MLKEM768 => C::SslCurveX25519Mlkem768,
        _ => return None,
    })
}
