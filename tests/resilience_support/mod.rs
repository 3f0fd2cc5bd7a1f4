//! Harness for `tests/resilience.rs`: the real `ringway` binary on an ephemeral
//! port with its config in a temp dir, upstreams on 127.0.0.2… that fail on
//! command (refuse, reset, hang, answer 5xx), and a plain HTTP/1.1 client.
//!
//! Nothing sleeps to synchronise: every wait is on a condition with a deadline
//! (`wait_until`). Children are killed by PID in `Drop`.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Condvar, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// One `#[test]` per io driver: `name::uring` and `name::epoll`.
macro_rules! driver_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn uring() {
                    super::$name(crate::resilience_support::Driver::Uring)
                }
                #[test]
                fn epoll() {
                    super::$name(crate::resilience_support::Driver::Epoll)
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
}

/// Poll `cond` until it holds; panic naming `what` at the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// ringway
// ---------------------------------------------------------------------------

pub struct Ringway {
    child: Child,
    addr: SocketAddr,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ringway {
    pub fn start(driver: Driver, yaml: &str) -> Ringway {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("ringway.yaml");
        fs::write(&config, yaml).expect("write config");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = fs::File::create(&stderr_path).expect("stderr log");
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
        let stdout = child.stdout.take().expect("stdout");
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
            addr: "0.0.0.0:0".parse().unwrap(),
            stderr_path,
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line
                        .strip_prefix("ringway: listener ")
                        .and_then(|rest| rest.rsplit_once(" on "))
                        .and_then(|(_, a)| a.trim().parse().ok())
                    {
                        rw.addr = addr;
                        return rw;
                    }
                }
                Err(_) => panic!("ringway did not start; stderr:\n{}", rw.stderr()),
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Ringway {
    fn drop(&mut self) {
        // Our own child, by PID; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config with one catch-all route to cluster `c`, `workers` workers and
/// `cluster_extra` appended to the cluster (indented four spaces).
pub fn config(workers: usize, hosts: &str, cluster_extra: &str) -> String {
    format!(
        "workers: {workers}
listeners:
  - name: main
    address: 127.0.0.1:0
    virtual_hosts:
      - domains: [\"*\"]
        routes:
          - match: {{ prefix: / }}
            cluster: c
clusters:
  - name: c
    connect_timeout: 1s
    hosts: {hosts}
{cluster_extra}"
    )
}

/// `["a", "b"]` for a list of upstreams.
pub fn host_list(ups: &[&Upstream]) -> String {
    let list: Vec<String> = ups.iter().map(|u| format!("\"{}\"", u.addr)).collect();
    format!("[{}]", list.join(", "))
}

// ---------------------------------------------------------------------------
// Upstreams that fail on command
// ---------------------------------------------------------------------------

/// What an upstream does with the next requests (health-check path aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with its name as the body.
    Ok,
    /// This status, with its name as the body.
    Status(u16),
    /// Close the connection with a reset as soon as the request arrives.
    Reset,
}

struct State {
    name: String,
    mode: Mutex<Mode>,
    health: Mutex<u16>,
    /// Requests to paths starting `/hang` wait until `released` reaches their ticket.
    hang: (Mutex<usize>, Condvar),
    hung: AtomicUsize,
    requests: AtomicUsize,
    health_checks: AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
}

pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<State>,
}

static NEXT_IP: AtomicUsize = AtomicUsize::new(0);

fn next_loopback() -> SocketAddr {
    // Counted from 100 so these do not meet the other harness's 127.0.0.2…
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed) % 150 + 100;
    format!("127.0.0.{n}:0").parse().unwrap()
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind(next_loopback()).expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_string(),
            mode: Mutex::new(Mode::Ok),
            health: Mutex::new(200),
            hang: (Mutex::new(0), Condvar::new()),
            hung: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            health_checks: AtomicUsize::new(0),
            stop: Default::default(),
        });
        let st = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let st = st.clone();
                thread::spawn(move || serve(stream, &st));
            }
        });
        Upstream { addr, state }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// The status `/healthz` answers.
    pub fn set_health(&self, status: u16) {
        *self.state.health.lock().unwrap() = status;
    }

    /// Requests other than health checks seen so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn health_checks(&self) -> usize {
        self.state.health_checks.load(Ordering::SeqCst)
    }

    /// Requests to `/hang…` waiting right now.
    pub fn hung(&self) -> usize {
        self.state.hung.load(Ordering::SeqCst)
    }

    /// Let every hanging request (and any later one) answer.
    pub fn release(&self) {
        let (lock, cv) = &self.state.hang;
        *lock.lock().unwrap() = usize::MAX;
        cv.notify_all();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.release();
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, st: &State) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One head at a time; the tests send no request bodies.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let status = if path == "/healthz" {
            st.health_checks.fetch_add(1, Ordering::SeqCst);
            *st.health.lock().unwrap()
        } else {
            st.requests.fetch_add(1, Ordering::SeqCst);
            if path.starts_with("/hang") {
                st.hung.fetch_add(1, Ordering::SeqCst);
                let (lock, cv) = &st.hang;
                let mut released = lock.lock().unwrap();
                while *released == 0 {
                    released = cv.wait(released).unwrap();
                }
                drop(released);
                st.hung.fetch_sub(1, Ordering::SeqCst);
            }
            match *st.mode.lock().unwrap() {
                Mode::Ok => 200,
                Mode::Status(s) => s,
                Mode::Reset => {
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    return;
                }
            }
        };
        let body = &st.name;
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nx-upstream: {body}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).is_err() {
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
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// `GET path` on a new connection with `extra` header lines; read to EOF.
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    let s = send(addr, path, extra);
    read_response(s)
}

/// Send `GET path` (closing after the response) and hand back the connection.
pub fn send(addr: SocketAddr, path: &str, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect to ringway");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // One write, so each request head arrives whole (split heads are
    // tests/framing.rs's subject, not this file's).
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n{extra}connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s
}

pub fn read_response(mut s: TcpStream) -> Response {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let _ = s.shutdown(Shutdown::Both);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Which upstream answered (its name, from the body), for `n` requests.
pub fn who_answers(addr: SocketAddr, n: usize, extra: &str) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = get(addr, "/", extra);
            assert_eq!(r.status, 200, "{r:?}");
            r.body
        })
        .collect()
}
