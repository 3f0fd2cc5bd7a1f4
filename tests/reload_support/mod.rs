//! Harness for the reload tests: the real `ringway` binary with its config in a
//! temp dir that the test rewrites, stdout followed for the whole run (a reload
//! announces rebound listeners there), stderr kept in a file (reload log
//! lines), upstreams that count accepted connections and can hold a request at
//! a gate, and a small HTTP/1.1 client.
//!
//! Nothing sleeps to synchronise: every wait polls a condition with a deadline.
//! Everything binds port 0. Children are killed by PID when dropped.

#![allow(dead_code)]

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

pub const DEADLINE: Duration = Duration::from_secs(20);

macro_rules! driver_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn uring() {
                    super::$name("uring")
                }
                #[test]
                fn epoll() {
                    super::$name("epoll")
                }
            }
        )*
    };
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A running ringway whose config file the test can rewrite.
pub struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr_path: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's PID, not yet reaped (wait below).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Start with `yaml`; wait for `listeners` listener lines (and the admin
    /// line when the config has an admin).
    pub fn start(driver: &str, yaml: &str, listeners: usize) -> Proxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ringway.yaml");
        fs::write(&config, yaml).expect("write config");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path).expect("stderr log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("-c")
            .arg(&config)
            .arg("--io-driver")
            .arg(driver)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn ringway");
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        let proxy = Proxy {
            child,
            dir,
            stdout,
            stderr_path,
        };
        let admin = yaml.contains("admin:");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let lines = proxy.stdout.lock().unwrap().clone();
            let l = lines
                .iter()
                .filter(|l| l.starts_with("ringway: listener "))
                .count();
            let a = lines.iter().any(|l| l.starts_with("ringway: admin on "));
            if l >= listeners && (a || !admin) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ringway did not start; stderr:\n{}",
                proxy.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
        proxy
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The newest address announced for listener `name`.
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.try_listener(name)
            .unwrap_or_else(|| panic!("no listener {name} announced"))
    }

    pub fn try_listener(&self, name: &str) -> Option<SocketAddr> {
        let prefix = format!("ringway: listener {name} on ");
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    }

    pub fn admin(&self) -> SocketAddr {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix("ringway: admin on ")?.trim().parse().ok())
            .expect("admin announced")
    }

    /// Replace the config file (atomically: write, then rename).
    pub fn write_config(&self, yaml: &str) {
        let tmp = self.dir.path().join("ringway.yaml.new");
        fs::write(&tmp, yaml).expect("write config");
        fs::rename(&tmp, self.dir.path().join("ringway.yaml")).expect("rename config");
    }

    fn count_in_stderr(&self, needle: &str) -> usize {
        self.stderr().matches(needle).count()
    }

    pub fn accepted_reloads(&self) -> usize {
        self.count_in_stderr("reload accepted")
    }

    pub fn rejected_reloads(&self) -> usize {
        self.count_in_stderr("reload rejected")
    }

    /// Send SIGHUP and wait until the reload was logged (accepted or rejected).
    /// Returns true if it was accepted.
    pub fn sighup(&self) -> bool {
        let (a, r) = (self.accepted_reloads(), self.rejected_reloads());
        // SAFETY: kill(2) on our own child's PID; it is alive (not reaped).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0);
        wait_until("the reload to be logged", || {
            self.accepted_reloads() > a || self.rejected_reloads() > r
        });
        self.accepted_reloads() > a
    }
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// A static cluster over `hosts`.
pub fn cluster(name: &str, hosts: &[SocketAddr]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "  - name: {name}\n    hosts: [{}]\n    connect_timeout: 2s\n",
        hosts.join(", ")
    )
}

/// A listener with one `*` virtual host; `routes`: (prefix, cluster) in order.
pub fn listener(name: &str, addr: &str, routes: &[(&str, &str)]) -> String {
    let mut s = format!(
        "  - name: {name}\n    address: {addr}\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes:\n"
    );
    for (prefix, cluster) in routes {
        s.push_str(&format!(
            "          - match: {{ prefix: \"{prefix}\" }}\n            cluster: {cluster}\n"
        ));
    }
    s
}

/// A whole config. `admin`: serve the admin endpoint on 127.0.0.1:0.
pub fn config(workers: usize, admin: bool, listeners: &[String], clusters: &[String]) -> String {
    let mut s = format!("workers: {workers}\ndrain_timeout: 15s\n");
    if admin {
        s.push_str("admin: { address: \"127.0.0.1:0\" }\n");
    }
    s.push_str("listeners:\n");
    for l in listeners {
        s.push_str(l);
    }
    s.push_str("clusters:\n");
    for c in clusters {
        s.push_str(c);
    }
    s
}

// ---------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------

static NEXT_IP: AtomicUsize = AtomicUsize::new(0);

fn next_loopback() -> SocketAddr {
    // 127.0.1.x: apart from the addresses other test files use.
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed) % 250 + 2;
    format!("127.0.1.{n}:0").parse().unwrap()
}

struct UpstreamState {
    accepted: AtomicUsize,
    requests: AtomicUsize,
    /// Requests for `/gated…` waiting at the gate.
    held: AtomicUsize,
    open: AtomicBool,
}

/// A keep-alive HTTP/1.1 server answering `200` with its name as the body.
/// Requests whose path starts with `/gated` wait until `open_gate`.
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    state: Arc<UpstreamState>,
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind(next_loopback()).expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpstreamState {
            accepted: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            open: AtomicBool::new(false),
        });
        let st = state.clone();
        let body = name.to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                st.accepted.fetch_add(1, Ordering::SeqCst);
                let (st, body) = (st.clone(), body.clone());
                thread::spawn(move || serve(stream, &st, &body));
            }
        });
        Upstream {
            addr,
            name: name.to_string(),
            state,
        }
    }

    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }

    pub fn open_gate(&self) {
        self.state.open.store(true, Ordering::SeqCst);
    }
}

fn serve(mut s: TcpStream, st: &UpstreamState, body: &str) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        st.requests.fetch_add(1, Ordering::SeqCst);
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        if target.starts_with("/gated") {
            st.held.fetch_add(1, Ordering::SeqCst);
            while !st.open.load(Ordering::SeqCst) {
                // A test-side gate: polled, released by the test.
                thread::sleep(Duration::from_millis(2));
            }
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-upstream: {body}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// A keep-alive client connection.
pub struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect to ringway");
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        Client { s, buf: Vec::new() }
    }

    /// Send a GET and read its response; `None` if the connection failed.
    pub fn get(&mut self, path: &str) -> Option<Response> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        self.s.write_all(req.as_bytes()).ok()?;
        self.read_response()
    }

    fn read_response(&mut self) -> Option<Response> {
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        self.buf.drain(..end);
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while self.buf.len() < len {
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&self.buf[..len]).to_string();
        self.buf.drain(..len);
        Some(Response { status, body })
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    Client::connect(addr)
        .get(path)
        .unwrap_or_else(|| panic!("no response for {path}"))
}

/// One request on a fresh connection; `None` if connecting or reading failed.
pub fn try_get(addr: SocketAddr, path: &str) -> Option<Response> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(DEADLINE)).ok()?;
    Client { s, buf: Vec::new() }.get(path)
}

/// A request to the admin endpoint: (status, body).
pub fn admin(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
