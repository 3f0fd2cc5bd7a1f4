//! An HTTP/2-only upstream on the `h2` crate, on its own loopback address and
//! thread (its own monoio runtime, epoll): h2c, or h2 over TLS with ALPN `h2`.
//!
//! Each stream is answered 200 with `x-upstream: NAME` and what it saw
//! (`x-seen-method`, `-path`, `-authority`, `-scheme`, `-te`, `-conn`); the body
//! is `NAME PATH` for a request without one, else the request body echoed back
//! chunk by chunk as it arrives (so a bidirectional stream is one), and a
//! request with `te: trailers` gets trailers (`x-upstream-trailer: NAME`, and
//! `grpc-status: 0` for `content-type: application/grpc*`). A behaviour can
//! refuse the first streams (RST_STREAM REFUSED_STREAM), send GOAWAY after some
//! streams per connection, cap concurrent streams (SETTINGS), and hold `/gate`
//! streams until a number of them are in flight at once.
//!
//! Two paths behave apart: `/hang…` is never answered (the stream waits for
//! the proxy to reset it, and a reset is counted in `resets`), and after
//! answering `/freeze…` the connection stops reading its socket (so PINGs go
//! unanswered: a peer that died without closing). Every byte read is counted
//! (`bytes_in`).

use std::{
    cell::{Cell, RefCell},
    future::poll_fn,
    net::SocketAddr,
    rc::Rc,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Poll, Waker},
};

use bytes::Bytes;
use h2::{server::SendResponse, RecvStream};
use http::{HeaderMap, HeaderValue, Request, Response};

use super::{next_loopback, tls::Leaf};

#[derive(Clone, Default)]
pub struct H2Behaviour {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: Option<u32>,
    /// Reset this many first streams (over all connections) with REFUSED_STREAM.
    pub refuse_first: usize,
    /// Send GOAWAY (gracefully) once a connection has taken this many streams.
    pub goaway_after: Option<usize>,
    /// Hold `/gate…` streams until this many of them are in flight at once.
    pub gate: usize,
    /// Speak TLS with this certificate (ALPN `h2`).
    pub tls: Option<(String, String)>,
}

/// What one stream carried.
#[derive(Debug, Clone)]
pub struct H2Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub conn: usize,
}

impl H2Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    connections: AtomicUsize,
    streams: AtomicUsize,
    seen: Mutex<Vec<H2Seen>>,
    resets: AtomicUsize,
    bytes_in: Arc<AtomicUsize>,
}

pub struct H2Upstream {
    pub addr: SocketAddr,
    pub name: String,
    shared: Arc<Shared>,
}

impl H2Upstream {
    pub fn h2c(name: &str) -> H2Upstream {
        H2Upstream::start(name, H2Behaviour::default())
    }

    pub fn tls(name: &str, leaf: &Leaf) -> H2Upstream {
        let tls = Some((leaf.cert_pem.clone(), leaf.key_pem.clone()));
        H2Upstream::start(
            name,
            H2Behaviour {
                tls,
                ..Default::default()
            },
        )
    }

    pub fn start(name: &str, behaviour: H2Behaviour) -> H2Upstream {
        let listener = std::net::TcpListener::bind(next_loopback()).expect("bind h2 upstream");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let (s, n) = (shared.clone(), name.to_string());
        std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("upstream runtime");
            rt.block_on(serve(listener, n, behaviour, s));
        });
        H2Upstream {
            addr,
            name: name.to_string(),
            shared,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Streams accepted so far (refused ones too).
    pub fn streams(&self) -> usize {
        self.shared.streams.load(Ordering::SeqCst)
    }

    /// The streams answered so far, in the order they ended.
    pub fn seen(&self) -> Vec<H2Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Streams the proxy reset (RST_STREAM) so far.
    pub fn resets(&self) -> usize {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Bytes read from the proxy so far, over all connections.
    pub fn bytes_in(&self) -> usize {
        self.shared.bytes_in.load(Ordering::SeqCst)
    }
}

/// A connection's socket that counts what it reads, and reads nothing more
/// once `frozen` (writes go on).
struct Freezable<T> {
    io: T,
    frozen: Rc<Cell<bool>>,
    bytes_in: Arc<AtomicUsize>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Freezable<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.frozen.get() {
            // Never woken: the peer looks dead.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.bytes_in.fetch_add(n, Ordering::SeqCst);
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Freezable<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A one-shot barrier: released once `want` arrivals are in.
struct Gate {
    want: usize,
    arrived: Cell<usize>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    async fn arrive(&self) {
        self.arrived.set(self.arrived.get() + 1);
        if self.arrived.get() >= self.want {
            for w in self.waiters.borrow_mut().drain(..) {
                w.wake();
            }
        }
        poll_fn(|cx| {
            if self.arrived.get() >= self.want {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

struct Server {
    name: String,
    behaviour: H2Behaviour,
    shared: Arc<Shared>,
    gate: Gate,
    tls: Option<Arc<rustls::ServerConfig>>,
}

async fn serve(
    listener: std::net::TcpListener,
    name: String,
    behaviour: H2Behaviour,
    shared: Arc<Shared>,
) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = monoio::net::TcpListener::from_std(listener).expect("monoio listener");
    let tls = behaviour.tls.as_ref().map(|(cert, key)| {
        let mut c = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![super::tls::pem_cert(cert)], super::tls::pem_key(key))
            .expect("server config");
        c.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(c)
    });
    let server = Rc::new(Server {
        name,
        gate: Gate {
            want: behaviour.gate,
            arrived: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        },
        behaviour,
        shared,
        tls,
    });
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let n = server.shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        monoio::spawn(connection(server.clone(), tcp, n));
    }
}

async fn connection(server: Rc<Server>, tcp: monoio::net::TcpStream, n: usize) {
    match &server.tls {
        None => speak(server.clone(), monoio_compat::StreamWrapper::new(tcp), n).await,
        Some(config) => {
            let conn = rustls::ServerConnection::new(config.clone()).expect("session");
            let mut s = ringway::net::tls::TlsStream::new(tcp, conn);
            if s.drive_handshake().await.is_err() {
                return;
            }
            let (tcp, conn) = s.into_parts();
            speak(
                server.clone(),
                ringway::net::tls_poll::TlsIo::new(tcp, conn),
                n,
            )
            .await
        }
    }
}

async fn speak<T>(server: Rc<Server>, io: T, n: usize)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let mut b = h2::server::Builder::new();
    if let Some(m) = server.behaviour.max_concurrent_streams {
        b.max_concurrent_streams(m);
    }
    let frozen = Rc::new(Cell::new(false));
    let io = Freezable {
        io,
        frozen: frozen.clone(),
        bytes_in: server.shared.bytes_in.clone(),
    };
    let Ok(mut conn) = b.handshake::<_, Bytes>(io).await else {
        return;
    };
    let mut taken = 0;
    while let Some(next) = conn.accept().await {
        let Ok((req, respond)) = next else { return };
        taken += 1;
        let count = server.shared.streams.fetch_add(1, Ordering::SeqCst);
        if count < server.behaviour.refuse_first {
            let mut respond = respond;
            respond.send_reset(h2::Reason::REFUSED_STREAM);
        } else {
            monoio::spawn(stream(server.clone(), req, respond, n, frozen.clone()));
        }
        if server.behaviour.goaway_after == Some(taken) {
            conn.graceful_shutdown();
        }
    }
}

async fn stream(
    server: Rc<Server>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    conn: usize,
    frozen: Rc<Cell<bool>>,
) {
    let (parts, mut body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if path.starts_with("/hang") {
        return hang(&server, body, respond).await;
    }
    if path.starts_with("/gate") {
        server.gate.arrive().await;
    }
    let header = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("?"));
    let mut resp = Response::builder().status(200);
    let h = resp.headers_mut().unwrap();
    h.insert("x-upstream", header(&server.name));
    h.insert("x-seen-method", header(parts.method.as_str()));
    h.insert("x-seen-path", header(&path));
    h.insert(
        "x-seen-authority",
        header(parts.uri.authority().map_or("-", |a| a.as_str())),
    );
    h.insert(
        "x-seen-scheme",
        header(parts.uri.scheme_str().unwrap_or("-")),
    );
    h.insert("x-seen-conn", header(&conn.to_string()));
    if let Some(te) = parts.headers.get("te") {
        h.insert("x-seen-te", te.clone());
    }
    let grpc = parts
        .headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        h.insert("content-type", HeaderValue::from_static("application/grpc"));
    }
    let wants_trailers = parts.headers.get("te").is_some_and(|v| v == "trailers");
    let Ok(mut send) = respond.send_response(resp.body(()).unwrap(), false) else {
        return;
    };
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            server.shared.resets.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
        if send.send_data(chunk, false).is_err() {
            return;
        }
    }
    if received.is_empty() {
        let text = format!("{} {path}", server.name);
        let _ = send.send_data(Bytes::from(text), !wants_trailers);
    } else if !wants_trailers {
        let _ = send.send_data(Bytes::new(), true);
    }
    if path.starts_with("/freeze") {
        frozen.set(true);
    }
    if wants_trailers {
        let mut t = HeaderMap::new();
        t.insert("x-upstream-trailer", header(&server.name));
        if grpc {
            t.insert("grpc-status", HeaderValue::from_static("0"));
        }
        let _ = send.send_trailers(t);
    }
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    server.shared.seen.lock().unwrap().push(H2Seen {
        method: parts.method.to_string(),
        path,
        headers,
        body: received,
        conn,
    });
}

/// Read the request body, never answer; count the proxy's reset of the
/// stream (seen while reading the body, or after it).
async fn hang(server: &Server, mut body: RecvStream, mut respond: SendResponse<Bytes>) {
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(chunk) => {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            Err(_) => {
                server.shared.resets.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
    if poll_fn(|cx| respond.poll_reset(cx)).await.is_ok() {
        server.shared.resets.fetch_add(1, Ordering::SeqCst);
    }
}
