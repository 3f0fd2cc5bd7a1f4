//! Test harness for the integration tests: the real `ringway` binary started on
//! an ephemeral port with a config written into a fresh temp dir, scripted
//! upstream servers on 127.0.0.2… that record exactly what they received, and a
//! raw HTTP/1.1 client that can send any bytes and read one response at a time.
//!
//! Nothing here sleeps to synchronise: every wait is on a condition with a
//! deadline (`wait_until`). Everything binds port 0, so tests run in parallel.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::{
    collections::HashMap,
    fs,
    io::{self, BufRead, BufReader, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Generate one `#[test]` per io driver for each case fn `name(driver: Driver)`:
/// `name::uring` and `name::epoll`. Attributes (e.g. `#[ignore = "…"]`) apply to both.
macro_rules! driver_tests {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                $(#[$meta])*
                #[test]
                fn uring() {
                    super::$name(crate::support::Driver::Uring)
                }
                $(#[$meta])*
                #[test]
                fn epoll() {
                    super::$name(crate::support::Driver::Epoll)
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Uring,
    Epoll,
}

impl Driver {
    pub fn flag(self) -> &'static str {
        match self {
            Driver::Uring => "uring",
            Driver::Epoll => "epoll",
        }
    }
    /// The name ringway logs for the driver a worker runs.
    pub fn log_name(self) -> &'static str {
        match self {
            Driver::Uring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// Poll `cond` every few milliseconds until it holds; panic with `what` at the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// ringway itself
// ---------------------------------------------------------------------------

/// A running `ringway` child process. Dropping it kills the process by PID and
/// reaps it, so nothing is left running even when the test panics.
pub struct Ringway {
    child: Child,
    listeners: HashMap<String, SocketAddr>,
    first: SocketAddr,
    stderr_path: PathBuf,
    exited: Option<ExitStatus>,
    // Keeps the config file and the log alive for the life of the process.
    _dir: tempfile::TempDir,
}

impl Ringway {
    /// Start ringway with `yaml` and wait until its one listener is accepting.
    pub fn start(driver: Driver, yaml: &str) -> Ringway {
        Ringway::start_listeners(driver, yaml, 1)
    }

    /// Start ringway and wait until `count` listeners have been announced.
    pub fn start_listeners(driver: Driver, yaml: &str, count: usize) -> Ringway {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ringway.yaml");
        fs::write(&config, yaml).expect("write config");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path).expect("create stderr log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("-c")
            .arg(&config)
            .arg("--io-driver")
            .arg(driver.flag())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn ringway");

        // Stdout is read on a thread so the wait below can have a deadline.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut rw = Ringway {
            child,
            listeners: HashMap::new(),
            first: "0.0.0.0:0".parse().unwrap(),
            stderr_path,
            exited: None,
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        while rw.listeners.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((name, addr)) = parse_listener_line(&line) {
                        if rw.listeners.is_empty() {
                            rw.first = addr;
                        }
                        rw.listeners.insert(name, addr);
                    }
                }
                Err(_) => panic!(
                    "ringway did not announce {count} listener(s); stderr:\n{}",
                    rw.stderr()
                ),
            }
        }
        rw
    }

    /// The address of the first listener announced.
    pub fn addr(&self) -> SocketAddr {
        self.first
    }

    pub fn listener(&self, name: &str) -> SocketAddr {
        self.listeners[name]
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's PID; it has not been reaped yet
        // (`exited` is None whenever a test can still signal it).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    /// Wait (with the deadline) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("ringway to exit", || {
            status = self.try_exit();
            status.is_some()
        });
        status.unwrap()
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("numeric field")
    }
}

impl Drop for Ringway {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("---- ringway stderr ----\n{}", self.stderr());
        }
    }
}

fn parse_listener_line(line: &str) -> Option<(String, SocketAddr)> {
    let rest = line.strip_prefix("ringway: listener ")?;
    let (name, addr) = rest.split_once(" on ")?;
    Some((name.to_string(), addr.trim().parse().ok()?))
}

/// The native config for one listener on 127.0.0.1:0 with `workers: 1`.
/// `listener_extra` are extra listener keys (indented YAML lines, e.g.
/// `"    request_headers_timeout: 300ms\n"`); `vhosts` and `clusters` are the
/// YAML of those lists' items.
pub fn config(listener_extra: &str, vhosts: &str, clusters: &str) -> String {
    format!(
        "workers: 1\n\
         drain_timeout: 15s\n\
         listeners:\n  \
           - name: ingress\n    \
             address: 127.0.0.1:0\n\
         {listener_extra}    \
             virtual_hosts:\n\
         {vhosts}\
         clusters:\n\
         {clusters}"
    )
}

/// One `*` virtual host routing everything to `cluster`, with optional route keys.
pub fn catch_all(cluster: &str, route_extra: &str) -> String {
    format!(
        "      - name: all\n        domains: [\"*\"]\n        routes:\n          \
         - match: {{ prefix: / }}\n            cluster: {cluster}\n{route_extra}"
    )
}

/// A static round-robin cluster over `hosts`.
pub fn cluster(name: &str, hosts: &[SocketAddr]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "  - name: {name}\n    type: static\n    lb_policy: round_robin\n    \
         connect_timeout: 2s\n    hosts: [{}]\n",
        hosts.join(", ")
    )
}

/// The simplest setup: everything to one cluster `c` over `hosts`.
pub fn simple_config(hosts: &[SocketAddr]) -> String {
    config("", &catch_all("c", ""), &cluster("c", hosts))
}

// ---------------------------------------------------------------------------
// Scripted upstream servers
// ---------------------------------------------------------------------------

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
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
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
        if !do_reply(reply, &mut reader.stream, &state.release) || close_asked {
            let _ = reader.stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Carry out a reply; false: close the connection.
fn do_reply(reply: Reply, stream: &mut TcpStream, release: &Gate) -> bool {
    match reply {
        Reply::Bytes(b) => stream.write_all(&b).is_ok(),
        Reply::BytesThenClose(b) => {
            let _ = stream.write_all(&b);
            false
        }
        Reply::Close => false,
        Reply::Hang => {
            release.wait(Duration::from_secs(120));
            false
        }
        Reply::After(gate, inner) => {
            // Also released when the upstream is dropped, so a failing test ends.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !gate.wait(Duration::from_millis(20)) {
                if release.wait(Duration::ZERO) || Instant::now() > deadline {
                    return false;
                }
            }
            do_reply(*inner, stream, release)
        }
        Reply::Custom(f) => f(stream),
    }
}

/// An address on which nothing listens (bound once, then closed).
pub fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind(next_loopback()).unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// A raw HTTP/1.1 client
// ---------------------------------------------------------------------------

/// A response as the client read it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub version: u8,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// How the body was delimited: "none", "length", "chunked" or "close".
    pub framing: &'static str,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_all(name)
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadFail {
    /// The connection closed before any byte of a response.
    Closed,
    /// Closed or errored in the middle of a response.
    Truncated(String),
    Malformed(String),
    Io(io::Error),
}

/// One client connection. Reads are buffered, so pipelined responses are read
/// one after another.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to ringway");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to ringway");
    }

    /// Send, then read one response (to a non-HEAD request).
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    pub fn get(&mut self, host: &str, path: &str) -> Response {
        self.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
    }

    /// Read more bytes; 0 on EOF (a reset counts as EOF).
    fn fill(&mut self) -> Result<usize, ReadFail> {
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(0),
            Err(e) => Err(ReadFail::Io(e)),
        }
    }

    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false)
            .unwrap_or_else(|e| panic!("reading a response: {e:?}"))
    }

    /// Read one response; `head_request`: it answers a HEAD, so it has no body.
    pub fn try_read_response(&mut self, head_request: bool) -> Result<Response, ReadFail> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(if self.buf.is_empty() {
                    ReadFail::Closed
                } else {
                    ReadFail::Truncated(String::from_utf8_lossy(&self.buf).into_owned())
                });
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_len).collect();
        let mut storage = [httparse::EMPTY_HEADER; 256];
        let mut res = httparse::Response::new(&mut storage);
        match res.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            other => {
                return Err(ReadFail::Malformed(format!(
                    "{other:?}: {}",
                    String::from_utf8_lossy(&head)
                )))
            }
        }
        let mut r = Response {
            status: res.code.unwrap(),
            version: res.version.unwrap(),
            reason: res.reason.unwrap_or("").to_string(),
            headers: res
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            head: head.clone(),
            body: Vec::new(),
            trailers: Vec::new(),
            framing: "none",
        };
        let bodiless =
            head_request || (100..200).contains(&r.status) || r.status == 204 || r.status == 304;
        if bodiless {
            return Ok(r);
        }
        let te = r.header("transfer-encoding").map(str::to_ascii_lowercase);
        if let Some(te) = te {
            if !te.ends_with("chunked") {
                return Err(ReadFail::Malformed(format!("transfer-encoding {te}")));
            }
            r.framing = "chunked";
            self.read_chunked(&mut r)?;
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl
                .trim()
                .parse()
                .map_err(|_| ReadFail::Malformed(format!("content-length {cl}")))?;
            r.framing = "length";
            while self.buf.len() < n {
                if self.fill()? == 0 {
                    return Err(ReadFail::Truncated(format!(
                        "body: {} of {n} bytes",
                        self.buf.len()
                    )));
                }
            }
            r.body = self.buf.drain(..n).collect();
        } else {
            r.framing = "close";
            while self.fill()? > 0 {}
            r.body = std::mem::take(&mut self.buf);
        }
        Ok(r)
    }

    fn line(&mut self) -> Result<Vec<u8>, ReadFail> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Ok(line[..i].to_vec());
            }
            if self.fill()? == 0 {
                return Err(ReadFail::Truncated("in a chunked body".into()));
            }
        }
    }

    fn read_chunked(&mut self, r: &mut Response) -> Result<(), ReadFail> {
        loop {
            let line = self.line()?;
            let text = String::from_utf8_lossy(&line).into_owned();
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadFail::Malformed(format!("chunk size {text:?}")))?;
            if size == 0 {
                loop {
                    let t = self.line()?;
                    if t.is_empty() {
                        return Ok(());
                    }
                    let t = String::from_utf8_lossy(&t).into_owned();
                    let (n, v) = t
                        .split_once(':')
                        .ok_or_else(|| ReadFail::Malformed(format!("trailer {t:?}")))?;
                    r.trailers
                        .push((n.trim().to_string(), v.trim().to_string()));
                }
            }
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(ReadFail::Truncated("in a chunk".into()));
                }
            }
            let data: Vec<u8> = self.buf.drain(..size + 2).collect();
            if &data[size..] != b"\r\n" {
                return Err(ReadFail::Malformed("chunk without CRLF".into()));
            }
            r.body.extend_from_slice(&data[..size]);
        }
    }

    /// True if the peer has closed: EOF with nothing more buffered. Waits
    /// (bounded by the read timeout) for the close to arrive.
    pub fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        matches!(self.fill(), Ok(0))
    }

    /// Assert the connection closes without sending anything more.
    pub fn expect_closed(&mut self) {
        assert!(
            self.is_closed(),
            "connection still open; unread: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Bytes buffered but not yet consumed as a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Read exactly `n` raw bytes (for tunnels).
    pub fn read_exact_raw(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => panic!(
                    "EOF after {:?}, wanted {n} bytes",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!("read failed: {e:?}"),
            }
        }
        self.buf.drain(..n).collect()
    }
}

/// One GET on a fresh connection.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    Client::connect(addr).get(host, path)
}
