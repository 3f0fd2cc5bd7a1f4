//! HTTP/2 client connections (RFC 9113), on the `h2` crate: h2c with prior
//! knowledge on plaintext listeners (`codec: auto` tells it by the connection
//! preface, `codec: http2` expects it), h2 by ALPN on TLS listeners.
//!
//! The connection's task drives `h2` (framing, HPACK, flow control, SETTINGS
//! and PING) and spawns one task per stream; each stream is a `Downstream`
//! (`stream.rs`) and runs the same `exchange::run` as an HTTP/1.1 request, so
//! routing, retries, breakers, outlier detection, stats and access logs are
//! shared by construction. Its head is written in HTTP/1.1 layout and parsed
//! by the HTTP/1.1 codec (`head.rs`), which applies every limit of the listener.
//!
//! Limits (Envoy's defaults or stricter; the flood defences are `h2`'s):
//! at most `MAX_CONCURRENT_STREAMS` streams; a decoded header list at most the
//! listener's `max_request_headers_size` (HPACK bombs and CONTINUATION floods
//! end at that bound, CVE-2024-27316); streams the client opens and resets
//! before they are served (rapid reset, CVE-2023-44487) and streams reset for
//! its errors are bounded, past which the connection ends with GOAWAY
//! ENHANCE_YOUR_CALM; windows bound what a client can make us buffer.
//!
//! Drain: on the listener's drain, at `max_connection_duration`, and once idle
//! (no stream) for `idle_timeout`, the connection sends GOAWAY; streams in
//! flight finish, then it closes.
//!
//! Memory: HTTP/2 allocates per stream (its task, `h2`'s stream state and
//! header map, the stream's head buffer); HTTP/1.1 still allocates nothing per
//! request.

mod head;
mod io;
mod stream;

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    time::Instant,
};

use crate::net::{meter::Metered, poll_io::PollIo};
use bytes::Bytes;

use super::{
    h1::{self, Accepted},
    idle_parking::Unparked,
    io::{read_more, Wait},
    tap::{CxProtocol, SessionTap},
    ListenerCtx, Worker,
};
use crate::{config::ListenerConfig, net::tls::TlsStream, stats::names::ListenerCounter};

pub use head::{detect, Preface, PREFACE};

/// Streams one connection may have open at once (Envoy: unbounded by default;
/// nginx 128; HAProxy 100).
pub const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Each stream's receive window: what a client may send ahead of the upstream
/// taking it (Envoy: 256 MiB; smaller bounds what a stalled upstream leaves
/// buffered here).
pub const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's receive window, shared by its streams.
pub const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Streams opened and reset by the client before we served them (rapid reset):
/// past this the connection ends with GOAWAY ENHANCE_YOUR_CALM.
pub const MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Streams we reset for the client's errors before the connection ends.
pub const MAX_LOCAL_ERROR_RESETS: usize = 200;
/// Bytes of response data queued per stream ahead of the client's window.
pub const MAX_SEND_BUFFER: usize = 64 * 1024;

/// What the connection's streams share.
struct ConnShared {
    /// The connection's tap: stream taps copy its listener, peer and TLS session.
    tap: SessionTap,
    tls: bool,
    peer: SocketAddr,
    /// Streams being served.
    streams: Cell<usize>,
}

fn builder(config: &ListenerConfig) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(config.limits.max_header_bytes as u32)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .max_send_buffer_size(MAX_SEND_BUFFER);
    b
}

/// Serve a plaintext connection on a `codec: auto` listener: HTTP/2 if it
/// starts with the connection preface, else HTTP/1.1. Until its first bytes
/// arrive it waits holding no buffer, as an idle HTTP/1.1 connection does.
pub fn serve_auto(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    mut stream: Metered,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    let accepted = Accepted::open(worker, listener, peer, None, || stream.local_addr().ok());
    async move {
        let config = accepted.listener.config.clone();
        let deadline = Instant::now() + config.request_headers_timeout;
        let park = accepted.listener.drain.park(deadline);
        let readable = monoio::select! {
            r = stream.readable(false) => r.is_ok(),
            _ = park => false,
        };
        if !readable {
            return;
        }
        let mut buf = accepted.worker.take_buffer();
        loop {
            match detect(&buf) {
                // Each protocol runs as a task of its own, so this one's state
                // (the wait, and the other protocol's connection) does not size
                // every connection's task: an HTTP/2 connection's is several KiB.
                Preface::Http2 => {
                    let io = PollIo::with_read_ahead(stream, buf);
                    monoio::spawn(serve(accepted, io, false));
                    return;
                }
                Preface::Http1 => {
                    monoio::spawn(h1::serve_accepted(accepted, stream, buf));
                    return;
                }
                Preface::NeedMore => {
                    match read_more(&mut stream, &mut buf, Wait::Until(deadline)).await {
                        Ok(n) if n > 0 => {}
                        _ => {
                            accepted.worker.give_buffer(buf);
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Serve a plaintext connection on a `codec: http2` listener (h2c with prior
/// knowledge; anything else is refused by `h2` with GOAWAY PROTOCOL_ERROR).
pub fn serve_plain(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    stream: Metered,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    let accepted = Accepted::open(worker, listener, peer, None, || stream.local_addr().ok());
    let io = PollIo::new(stream);
    serve(accepted, io, false)
}

/// Serve a TLS connection whose handshake chose HTTP/2 (ALPN `h2`, or a
/// `codec: http2` listener).
pub fn serve_tls(
    worker: Rc<Worker>,
    listener: Rc<ListenerCtx>,
    stream: TlsStream,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    let accepted = Accepted::open(worker, listener, peer, Some(stream.info()), || {
        stream.tcp().local_addr().ok()
    });
    let (tcp, session) = stream.into_parts();
    serve(
        accepted,
        crate::net::tls_poll::TlsIo::new(tcp, session),
        true,
    )
}

/// Serve one HTTP/2 connection over `io` (`secure`: it is TLS).
fn serve<T>(accepted: Accepted, io: T, secure: bool) -> impl std::future::Future<Output = ()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let Accepted {
        worker,
        listener,
        peer,
        mut tap,
    } = accepted;
    tap.connection_protocol(CxProtocol::Http2);
    async move {
        let accepted_at = Instant::now();
        let config = listener.config.clone();
        // The connection's own handle on the stream, to linger with once `h2`
        // has given up on it (see `linger`).
        let io = Rc::new(RefCell::new(io));
        let handshake = builder(&config).handshake::<_, Bytes>(io::Shared(io.clone()));
        let mut conn = match monoio::time::timeout(config.request_headers_timeout, handshake).await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                tracing::debug!(peer = %peer, error = %e, "HTTP/2 handshake failed");
                return;
            }
            Err(_) => return,
        };
        let count = |c: ListenerCounter| worker.tap.listener_counter(listener.index, c);
        count(ListenerCounter::Http2Connections);
        let shared = Rc::new(ConnShared {
            tap,
            tls: secure,
            peer,
            streams: Cell::new(0),
        });
        let mut served = 0u64;
        // Until GOAWAY: take streams, and watch the drain and the deadlines.
        loop {
            let deadline = next_deadline(&config, accepted_at, served);
            let park = listener.drain.park(deadline);
            monoio::select! {
                next = conn.accept() => match next {
                    Some(Ok((req, respond))) => {
                        served += 1;
                        monoio::spawn(stream::serve(
                            worker.clone(),
                            listener.clone(),
                            shared.clone(),
                            req,
                            respond,
                        ));
                        let max = config.max_requests_per_connection;
                        if max.is_some_and(|max| served >= u64::from(max)) {
                            // Envoy's max_requests_per_connection: GOAWAY
                            // after the last stream allowed.
                            count(ListenerCounter::Http2GoawaySent);
                            conn.graceful_shutdown();
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(peer = %peer, error = %e, "HTTP/2 connection error");
                        if e.is_go_away() && !e.is_remote() {
                            count(ListenerCounter::Http2GoawaySent);
                            count(ListenerCounter::Http2RxMessagingError);
                        }
                        // A GOAWAY for the client's fault (a flood, a protocol
                        // error) is out: let the client read it.
                        drop(conn);
                        if let Ok(io) = Rc::try_unwrap(io) {
                            io::linger(io.into_inner()).await;
                        }
                        return;
                    }
                    None => return,
                },
                why = park => {
                    let busy = shared.streams.get() > 0;
                    let old = config
                        .max_connection_duration
                        .is_some_and(|max| accepted_at.elapsed() >= max);
                    if matches!(why, Unparked::Draining) || old || !busy {
                        count(ListenerCounter::Http2GoawaySent);
                        conn.graceful_shutdown();
                        break;
                    }
                }
            }
        }
        // GOAWAY sent: streams in flight finish; `accept` ends once they have.
        while let Some(next) = conn.accept().await {
            match next {
                Ok((_, mut respond)) => respond.send_reset(h2::Reason::REFUSED_STREAM),
                Err(_) => return,
            }
        }
    }
}

/// When the connection next looks at its age and idleness: its idle (or, before
/// its first stream, headers) timeout from now, capped by `max_connection_duration`.
fn next_deadline(config: &ListenerConfig, accepted_at: Instant, served: u64) -> Instant {
    let wait = if served == 0 {
        config.request_headers_timeout
    } else {
        config.idle_timeout
    };
    let mut deadline = Instant::now() + wait;
    if let Some(max) = config.max_connection_duration {
        deadline = deadline.min(accepted_at + max);
    }
    deadline
}
