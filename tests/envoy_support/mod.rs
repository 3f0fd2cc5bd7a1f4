//! Helpers for the Envoy end-to-end tests: the real `ringway` binary in a guard
//! that kills it by PID, tiny HTTP/1.1 upstreams that say who they are, a
//! one-shot client, and the rewrite of a seed file to loopback test addresses.
//! Waiting is always on a condition with a deadline, never a sleep.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_yaml::{Mapping, Value};

/// How long any single wait may take before the test fails instead of hanging.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A path under cargo's per-target temp dir, unique to this process and `name`.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("envoy-{}-{name}", std::process::id()))
}

/// An HTTP/1.1 server answering every request with `NAME PATH`, keep-alive.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    /// Listen on `ip:0` (any 127.0.0.0/8 address works on Linux loopback).
    pub fn start(name: &str, ip: &str) -> Upstream {
        let listener = TcpListener::bind((ip, 0)).expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, name2) = (stop.clone(), name.to_string());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let name = name2.clone();
                std::thread::spawn(move || serve(conn, &name));
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocked accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, name: &str) {
    let _ = conn.set_read_timeout(Some(DEADLINE));
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut out = conn;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut close = false;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = format!("{name} {path}");
        // One write: the whole response in one segment (see `get`).
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
        if close {
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Poll `cond` until it holds; fail the test if the deadline passes first.
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        // A pause between polls of the condition, not a guess at how long it takes.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request on a fresh connection: (status, body).
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to ringway");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // Built first and written once, so the request is one segment: these tests are
    // about the Envoy config, not about reassembling a head split across reads.
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: front.example\r\nconnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The `ringway` binary as a child process, killed by PID when dropped.
pub struct Ringway {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Stdout lines read so far, so waiting for one line never loses another.
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Ringway {
    pub fn start(args: &[&str]) -> Ringway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
            .args(args)
            .env("RINGWAY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringway");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        let stderr_thread = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Ringway {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_thread: Some(stderr_thread),
        }
    }

    /// Wait for `ringway: listener NAME on ADDR` and return ADDR.
    pub fn listener(&mut self, name: &str) -> SocketAddr {
        let addr = self.stdout_line(&format!("ringway: listener {name} on "));
        addr.trim().parse().expect("listener address")
    }

    /// Wait for `ringway: admin on ADDR` and return ADDR.
    pub fn admin(&mut self) -> SocketAddr {
        let addr = self.stdout_line("ringway: admin on ");
        addr.trim().parse().expect("admin address")
    }

    /// The rest of the first stdout line starting with `prefix`, waiting for it.
    fn stdout_line(&mut self, prefix: &str) -> String {
        if let Some(rest) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
            return rest.to_string();
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_string();
                    }
                    self.seen.push(line);
                }
                Err(e) => panic!(
                    "no `{prefix}…` line ({e:?}); stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Kill the process and return everything it wrote to stderr.
    pub fn stop(mut self) -> String {
        self.kill();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let s = self.stderr.lock().unwrap().clone();
        s
    }

    fn kill(&mut self) {
        // Child::kill signals this child's own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ringway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Rewrite an Envoy bootstrap file for a test, touching addresses only: every
/// listener and the admin interface move to `127.0.0.1:0`, and each named
/// cluster's hosts become the given literal addresses of test upstreams.
pub fn rewrite_envoy(text: &str, clusters: &[(&str, Vec<SocketAddr>)]) -> String {
    let mut doc: Value = serde_yaml::from_str(text).expect("seed parses");
    let loopback = |sa: &mut Value| {
        sa["address"] = "127.0.0.1".into();
        sa["port_value"] = 0.into();
    };
    let sr = &mut doc["static_resources"];
    for l in sr["listeners"].as_sequence_mut().expect("listeners") {
        loopback(&mut l["address"]["socket_address"]);
    }
    for c in sr["clusters"].as_sequence_mut().expect("clusters") {
        let name = c["name"].as_str().unwrap().to_string();
        let Some((_, addrs)) = clusters.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let hosts: Vec<Value> = addrs
            .iter()
            .map(|a| {
                let mut sa = Mapping::new();
                sa.insert("address".into(), a.ip().to_string().into());
                sa.insert("port_value".into(), u64::from(a.port()).into());
                let mut h = Mapping::new();
                h.insert("socket_address".into(), Value::Mapping(sa));
                Value::Mapping(h)
            })
            .collect();
        c["hosts"] = Value::Sequence(hosts);
    }
    if doc.get("admin").is_some() {
        loopback(&mut doc["admin"]["address"]["socket_address"]);
    }
    serde_yaml::to_string(&doc).unwrap()
}
