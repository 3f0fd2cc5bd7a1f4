//! Helpers for the admin tests: the real `ringway` binary on ephemeral ports,
//! upstream servers on 127.0.0.2…, a tiny blocking HTTP client, and waiting on
//! a condition with a deadline (never a bare sleep).

#![allow(dead_code)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Poll `cond` until it holds or the deadline passes.
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `ringway`, killed by PID when dropped.
pub struct Ringway {
    pub child: Child,
    pub listeners: HashMap<String, SocketAddr>,
    pub admin: SocketAddr,
    pub _dir: tempfile::TempDir,
}

impl Ringway {
    /// Start with `config` (written to a temp file) and wait for the listener
    /// and admin lines on stdout.
    pub fn start(config: &str, driver: &str, dir: tempfile::TempDir) -> Ringway {
        let path = dir.path().join("ringway.yaml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("-c")
            .arg(&path)
            .args(["--io-driver", driver, "--workers", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ringway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listeners = HashMap::new();
        let end = Instant::now() + DEADLINE;
        let admin = loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("ringway did not print its admin address");
                }
            };
            if let Some(rest) = line.strip_prefix("ringway: listener ") {
                let (name, addr) = rest.split_once(" on ").unwrap();
                listeners.insert(name.to_string(), addr.parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("ringway: admin on ") {
                break addr.parse().unwrap();
            }
        };
        Ringway {
            child,
            listeners,
            admin,
            _dir: dir,
        }
    }

    pub fn listener(&self) -> SocketAddr {
        *self.listeners.values().next().unwrap()
    }

    /// Wait for the process to exit on its own; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        wait_for("ringway to exit", || {
            self.child.try_wait().unwrap().map(|s| s.code())
        })
    }
}

impl Drop for Ringway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One request on a fresh connection (`connection: close`), read to EOF.
pub fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n{extra}content-length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, "")
}

pub fn post(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "POST", path, "")
}

/// `/stats` as a map of `name → value` (histogram lines keep their text).
pub fn stats(admin: SocketAddr) -> HashMap<String, String> {
    let r = get(admin, "/stats");
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn stat(stats: &HashMap<String, String>, name: &str) -> u64 {
    stats
        .get(name)
        .unwrap_or_else(|| panic!("no stat {name}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// An upstream HTTP/1.1 server: keep-alive, a thread per connection.
/// `/missing…` → 404; `/slow` → 200 only once released; anything else → 200
/// with body `ok`.
pub struct Upstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub slow_arrived: Arc<Mutex<u32>>,
    pub release: Arc<AtomicBool>,
}

impl Upstream {
    pub fn start(ip: &str) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let slow_arrived = Arc::new(Mutex::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let (stop2, arrived, rel) = (stop.clone(), slow_arrived.clone(), release.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (arrived, rel) = (arrived.clone(), rel.clone());
                std::thread::spawn(move || serve(conn, arrived, rel));
            }
        });
        Upstream {
            addr,
            stop,
            slow_arrived,
            release,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, arrived: Arc<Mutex<u32>>, release: Arc<AtomicBool>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let (status, body) = if path.starts_with("/missing") {
            ("404 Not Found", "not here\n")
        } else if path.starts_with("/slow") {
            *arrived.lock().unwrap() += 1;
            wait_for("the test to release /slow", || {
                release.load(Ordering::Relaxed).then_some(())
            });
            ("200 OK", "slow but complete\n")
        } else {
            ("200 OK", "ok\n")
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// An address on which nothing listens: bound, then closed.
pub fn refused_addr(ip: &str) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).unwrap();
    l.local_addr().unwrap()
}
