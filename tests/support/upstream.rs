//! Upstream servers on 127.0.0.2…: a scripted one (`Upstream`) that records
//! exactly what it received and answers each request with a `Reply`, and one
//! that fails on command (`FailingUpstream`: refuse, reset, hang, answer 5xx).

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use super::wait_until;

/// A request as an upstream received it: the head exactly as sent, and the
/// body de-framed.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub version: u8,
    pub headers: Vec<(String, String)>,
    /// The head's bytes, blank line included.
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub chunked: bool,
    pub trailers: Vec<(String, String)>,
    /// Which accepted connection (0-based) and which request on it (0-based).
    pub conn: usize,
    pub seq: usize,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::find_header(&self.headers, name)
    }
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        super::find_headers(&self.headers, name)
    }
}

/// A one-shot latch a test opens to let a scripted upstream go on.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    /// Wait until open; false if the deadline passed first.
    pub fn wait(&self, timeout: Duration) -> bool {
        let guard = self.0 .0.lock().unwrap();
        let (guard, _) = self
            .0
             .1
            .wait_timeout_while(guard, timeout, |open| !*open)
            .unwrap();
        *guard
    }
}

/// What a scripted upstream does with one request.
pub enum Reply {
    /// Write these bytes and keep reading requests on the connection (unless
    /// the request asked to close).
    Bytes(Vec<u8>),
    /// Write these bytes, then close.
    BytesThenClose(Vec<u8>),
    /// Close without a response.
    Close,
    /// Never answer: hold the connection until the upstream is dropped.
    Hang,
    /// Close the connection with a reset (RST, no FIN): SO_LINGER 0, then close.
    Reset,
    /// Wait for the gate, then do the inner reply.
    After(Gate, Box<Reply>),
    /// Do anything with the stream; return true to keep serving the connection.
    Custom(Box<dyn FnOnce(&mut TcpStream) -> bool + Send>),
}

pub type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

struct UpstreamState {
    accepted: AtomicUsize,
    requests: Mutex<Vec<Received>>,
    /// Raw bytes received, per connection (capped at RAW_CAP each).
    raw: Mutex<Vec<Vec<u8>>>,
    stop: AtomicBool,
    release: Gate,
}

const RAW_CAP: usize = 1024 * 1024;

/// A scripted HTTP/1.1 upstream on its own loopback address.
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    state: Arc<UpstreamState>,
}

static NEXT_IP: AtomicUsize = AtomicUsize::new(0);

/// A fresh loopback address 127.0.0.2…127.0.0.250 (port 0), so upstreams in one
/// test have distinct IPs.
pub fn next_loopback() -> SocketAddr {
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed) % 249 + 2;
    format!("127.0.0.{n}:0").parse().unwrap()
}

impl Upstream {
    /// Start an upstream answering each request with `handler`'s reply.
    pub fn start(
        name: &str,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let listener = TcpListener::bind(next_loopback()).expect("bind upstream");
        Upstream::on(listener, name, handler)
    }

    /// Like `start`, on a listener the caller bound (e.g. one port on several IPs).
    pub fn on(
        listener: TcpListener,
        name: &str,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState {
            accepted: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            release: Gate::new(),
        });
        let handler: Handler = Arc::new(handler);
        let st = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn = st.accepted.fetch_add(1, Ordering::SeqCst);
                st.raw.lock().unwrap().push(Vec::new());
                let (st, handler) = (st.clone(), handler.clone());
                thread::spawn(move || serve_conn(stream, conn, &st, &handler));
            }
        });
        Upstream {
            addr,
            name: name.to_string(),
            state,
        }
    }

    /// Answers 200 with `x-upstream: NAME`, `x-seen-target: TARGET` and the
    /// request body echoed back (content-length framed).
    pub fn echo(name: &str) -> Upstream {
        let n = name.to_string();
        Upstream::start(name, move |r| Reply::Bytes(echo_response(&n, r)))
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Complete requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Every byte received on every connection, concatenated.
    pub fn raw(&self) -> Vec<u8> {
        self.state.raw.lock().unwrap().concat()
    }

    /// Wait until at least `n` complete requests have arrived.
    pub fn wait_requests(&self, n: usize) -> Vec<Received> {
        wait_until(&format!("{n} request(s) at upstream {}", self.name), || {
            self.request_count() >= n
        });
        self.requests()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.release.open();
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// The reply of `Upstream::echo`.
pub fn echo_response(name: &str, r: &Received) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nx-upstream: {name}\r\nx-seen-target: {}\r\ncontent-length: {}\r\n\r\n",
        r.target,
        r.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&r.body);
    out
}

/// A 200 response with `body`, content-length framed.
pub fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A response with this status line (`"404 Not Found"`), `content-type:
/// text/plain` and `body`, content-length framed.
pub fn text_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A 200 response with `body` in chunks of `chunk` bytes.
pub fn chunked_response(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    out.extend_from_slice(&chunked(body, chunk));
    out
}

/// `body` chunked-encoded in pieces of `chunk` bytes, with the final chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The deterministic byte at offset `i` of a large test body.
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Fill `buf` with the pattern starting at `offset`.
pub fn fill_pattern(buf: &mut [u8], offset: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(offset + k as u64);
    }
}

/// A reader over the upstream side of one connection, recording raw bytes.
struct ConnReader<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    conn: usize,
    state: &'a UpstreamState,
}

impl ConnReader<'_> {
    /// Read more; false on EOF or error.
    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                let mut raw = self.state.raw.lock().unwrap();
                let rec = &mut raw[self.conn];
                let room = RAW_CAP.saturating_sub(rec.len()).min(n);
                rec.extend_from_slice(&tmp[..room]);
                drop(raw);
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    /// Take one CRLF-terminated line (without CRLF).
    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(i + 2);
                return Some(line[..i].to_vec());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Read one whole request; None on EOF/garbage.
    fn request(&mut self, seq: usize) -> Option<Received> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = self.take(head_len);
        let mut storage = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut storage);
        let Ok(httparse::Status::Complete(_)) = req.parse(&head) else {
            return None;
        };
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let mut r = Received {
            method: req.method.unwrap_or("").to_string(),
            target: req.path.unwrap_or("").to_string(),
            version: req.version.unwrap_or(1),
            headers,
            head: head.clone(),
            body: Vec::new(),
            chunked: false,
            trailers: Vec::new(),
            conn: self.conn,
            seq,
        };
        let te = r.header("transfer-encoding").map(str::to_ascii_lowercase);
        if te.as_deref().is_some_and(|t| t.ends_with("chunked")) {
            r.chunked = true;
            loop {
                let line = self.line()?;
                let size_text = String::from_utf8_lossy(&line);
                let size_text = size_text.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16).ok()?;
                if size == 0 {
                    loop {
                        let t = self.line()?;
                        if t.is_empty() {
                            break;
                        }
                        let t = String::from_utf8_lossy(&t).into_owned();
                        let (n, v) = t.split_once(':')?;
                        r.trailers
                            .push((n.trim().to_string(), v.trim().to_string()));
                    }
                    break;
                }
                while self.buf.len() < size + 2 {
                    if !self.fill() {
                        return None;
                    }
                }
                let data = self.take(size + 2);
                r.body.extend_from_slice(&data[..size]);
            }
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl.trim().parse().ok()?;
            while self.buf.len() < n {
                if !self.fill() {
                    return None;
                }
            }
            r.body = self.take(n);
        }
        Some(r)
    }
}

fn serve_conn(stream: TcpStream, conn: usize, state: &UpstreamState, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut reader = ConnReader {
        stream,
        buf: Vec::new(),
        conn,
        state,
    };
    let mut seq = 0;
    loop {
        let Some(req) = reader.request(seq) else {
            return;
        };
        seq += 1;
        let close_asked = req
            .header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        let reply = handler(&req);
        state.requests.lock().unwrap().push(req);
        match do_reply(reply, &mut reader.stream, &state.release) {
            Next::Keep if !close_asked => {}
            Next::Keep | Next::Close => {
                let _ = reader.stream.shutdown(Shutdown::Both);
                return;
            }
            // Dropping the stream with SO_LINGER 0 sends the reset.
            Next::Reset => return,
        }
    }
}

/// What to do with a connection after a reply.
enum Next {
    Keep,
    Close,
    Reset,
}

/// Carry out a reply.
fn do_reply(reply: Reply, stream: &mut TcpStream, release: &Gate) -> Next {
    let keep = |ok: bool| if ok { Next::Keep } else { Next::Close };
    match reply {
        Reply::Bytes(b) => keep(stream.write_all(&b).is_ok()),
        Reply::BytesThenClose(b) => {
            let _ = stream.write_all(&b);
            Next::Close
        }
        Reply::Close => Next::Close,
        Reply::Hang => {
            release.wait(Duration::from_secs(120));
            Next::Close
        }
        Reply::Reset => {
            let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
            Next::Reset
        }
        Reply::After(gate, inner) => {
            // Also released when the upstream is dropped, so a failing test ends.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !gate.wait(Duration::from_millis(20)) {
                if release.wait(Duration::ZERO) || Instant::now() > deadline {
                    return Next::Close;
                }
            }
            do_reply(*inner, stream, release)
        }
        Reply::Custom(f) => keep(f(stream)),
    }
}

/// An address on which nothing listens (bound once, then closed).
pub fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind(next_loopback()).unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// An upstream that fails on command
// ---------------------------------------------------------------------------

/// What a `FailingUpstream` does with the next requests (health checks aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with its name as the body.
    Ok,
    /// This status, with its name as the body.
    Status(u16),
    /// Close the connection with a reset as soon as the request arrives.
    Reset,
}

struct Commands {
    name: String,
    mode: Mutex<Mode>,
    /// The status `/healthz` answers.
    health: Mutex<u16>,
    /// Requests to paths starting `/hang` wait until this is true.
    released: (Mutex<bool>, Condvar),
    hung: AtomicUsize,
    requests: AtomicUsize,
    health_checks: AtomicUsize,
}

/// An upstream whose answers a test changes while ringway runs: every answer
/// is `STATUS` with its name as the body and in `x-upstream`; `/healthz`
/// answers the health status; other paths answer by `Mode`; `/hang…` waits
/// for `release()` first. An address nobody listens on is `refused_addr()`.
pub struct FailingUpstream {
    pub addr: SocketAddr,
    commands: Arc<Commands>,
    _server: Upstream,
}

impl FailingUpstream {
    pub fn start(name: &str) -> FailingUpstream {
        let commands = Arc::new(Commands {
            name: name.to_string(),
            mode: Mutex::new(Mode::Ok),
            health: Mutex::new(200),
            released: (Mutex::new(false), Condvar::new()),
            hung: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            health_checks: AtomicUsize::new(0),
        });
        let c = commands.clone();
        let server = Upstream::start(name, move |r| c.answer(r));
        FailingUpstream {
            addr: server.addr,
            commands,
            _server: server,
        }
    }

    pub fn name(&self) -> &str {
        &self.commands.name
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.commands.mode.lock().unwrap() = mode;
    }

    /// The status `/healthz` answers.
    pub fn set_health(&self, status: u16) {
        *self.commands.health.lock().unwrap() = status;
    }

    /// Requests other than health checks seen so far.
    pub fn requests(&self) -> usize {
        self.commands.requests.load(Ordering::SeqCst)
    }

    pub fn health_checks(&self) -> usize {
        self.commands.health_checks.load(Ordering::SeqCst)
    }

    /// Requests to `/hang…` waiting right now.
    pub fn hung(&self) -> usize {
        self.commands.hung.load(Ordering::SeqCst)
    }

    /// Let every hanging request (and any later one) answer.
    pub fn release(&self) {
        let (lock, cv) = &self.commands.released;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

impl Drop for FailingUpstream {
    fn drop(&mut self) {
        // Free the connection threads before the server itself stops.
        self.release();
    }
}

impl Commands {
    fn answer(&self, r: &Received) -> Reply {
        let status = if r.target == "/healthz" {
            self.health_checks.fetch_add(1, Ordering::SeqCst);
            *self.health.lock().unwrap()
        } else {
            self.requests.fetch_add(1, Ordering::SeqCst);
            if r.target.starts_with("/hang") {
                self.hung.fetch_add(1, Ordering::SeqCst);
                let (lock, cv) = &self.released;
                let mut released = lock.lock().unwrap();
                while !*released {
                    released = cv.wait(released).unwrap();
                }
                drop(released);
                self.hung.fetch_sub(1, Ordering::SeqCst);
            }
            match *self.mode.lock().unwrap() {
                Mode::Ok => 200,
                Mode::Status(s) => s,
                Mode::Reset => return Reply::Reset,
            }
        };
        let name = &self.name;
        Reply::Bytes(
            format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nx-upstream: {name}\r\n\r\n{name}",
                name.len()
            )
            .into_bytes(),
        )
    }
}

/// Cluster keys (indented four spaces) for active health checks of
/// `FailingUpstream`s' `/healthz` every 50 ms, one result flipping a host.
pub const FAST_HC: &str = "    health_checks:
      - path: /healthz
        interval: 50ms
        timeout: 1s
        unhealthy_threshold: 1
        healthy_threshold: 1
";

/// `["a", "b"]`: the YAML list of these upstreams' addresses.
pub fn host_list(ups: &[&FailingUpstream]) -> String {
    let list: Vec<String> = ups.iter().map(|u| format!("\"{}\"", u.addr)).collect();
    format!("[{}]", list.join(", "))
}

/// An upstream that accepts every request with a 101 to `websocket`, sends
/// `hello`, then echoes each read back prefixed with `echo:` until the peer
/// half-closes.
pub fn upgrade_echo_upstream(hello: &'static [u8]) -> Upstream {
    Upstream::start("up", move |_| {
        Reply::Custom(Box::new(move |s: &mut TcpStream| {
            let mut head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".to_vec();
            head.extend_from_slice(hello);
            let _ = s.write_all(&head);
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut out = b"echo:".to_vec();
                        out.extend_from_slice(&buf[..n]);
                        if s.write_all(&out).is_err() {
                            break;
                        }
                    }
                }
            }
            false
        }))
    })
}
