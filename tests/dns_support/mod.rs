//! Helpers for the DNS discovery tests: a hickory-proto DNS responder whose
//! answers a test changes while ringway runs, upstream HTTP servers on
//! 127.0.0.x sharing one ephemeral port, the real `ringway` binary in a temp
//! dir, and a tiny HTTP client. Everything binds ephemeral loopback ports;
//! child processes are killed by PID when their guard drops.

#![allow(dead_code)]

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc, Arc, Condvar, Mutex,
    },
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        rdata::{A, AAAA},
        RData, Record, RecordType,
    },
};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Poll `cond` until it holds; panic naming `what` after `DEADLINE`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        // A poll interval, not synchronisation: the condition decides.
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------- DNS responder

/// What the responder does with queries for one name.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A/AAAA records of these addresses (in this order) with this TTL.
    Answer {
        ips: Vec<IpAddr>,
        ttl: u32,
    },
    NxDomain,
    ServFail,
    /// Never answer: the client times out.
    Drop,
}

#[derive(Default)]
struct Zone {
    names: HashMap<String, Behaviour>,
    truncate_udp: HashSet<String>,
    udp_queries: HashMap<String, usize>,
    tcp_queries: HashMap<String, usize>,
}

pub struct DnsResponder {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsResponder {
    /// UDP and TCP on the same ephemeral port of 127.0.0.1.
    pub fn start() -> DnsResponder {
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
                Some((udp, tcp))
            })
            .expect("a UDP+TCP port pair");
        let addr = udp.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (zone, stop) = (zone.clone(), stop.clone());
            udp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Some(reply) = respond(&zone, &buf[..n], false) {
                        let _ = udp.send_to(&reply, peer);
                    }
                }
            });
        }
        {
            let (zone, stop) = (zone.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in tcp.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let zone = zone.clone();
                    std::thread::spawn(move || loop {
                        let mut len = [0u8; 2];
                        if conn.read_exact(&mut len).is_err() {
                            return;
                        }
                        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                        if conn.read_exact(&mut msg).is_err() {
                            return;
                        }
                        if let Some(reply) = respond(&zone, &msg, true) {
                            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                            framed.extend_from_slice(&reply);
                            if conn.write_all(&framed).is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        }
        DnsResponder { addr, zone, stop }
    }

    pub fn set(&self, name: &str, behaviour: Behaviour) {
        self.zone.lock().unwrap().names.insert(key(name), behaviour);
    }

    pub fn answer(&self, name: &str, ips: &[IpAddr], ttl: u32) {
        self.set(
            name,
            Behaviour::Answer {
                ips: ips.to_vec(),
                ttl,
            },
        );
    }

    /// UDP answers for `name` come back empty with the TC bit set.
    pub fn truncate_udp(&self, name: &str) {
        self.zone.lock().unwrap().truncate_udp.insert(key(name));
    }

    /// Queries received for `name` over UDP and TCP.
    pub fn queries(&self, name: &str) -> usize {
        let z = self.zone.lock().unwrap();
        let k = key(name);
        z.udp_queries.get(&k).copied().unwrap_or(0) + z.tcp_queries.get(&k).copied().unwrap_or(0)
    }

    pub fn tcp_queries(&self, name: &str) -> usize {
        let z = self.zone.lock().unwrap();
        z.tcp_queries.get(&key(name)).copied().unwrap_or(0)
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the TCP accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn respond(zone: &Mutex<Zone>, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    if query.metadata.message_type != MessageType::Query || query.queries.len() != 1 {
        return None;
    }
    let q = query.queries[0].clone();
    let name = key(&q.name().to_ascii());
    let mut z = zone.lock().unwrap();
    let counter = if tcp {
        &mut z.tcp_queries
    } else {
        &mut z.udp_queries
    };
    *counter.entry(name.clone()).or_default() += 1;
    let behaviour = z.names.get(&name).cloned();
    let truncate = !tcp && z.truncate_udp.contains(&name);
    drop(z);

    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    reply.add_query(q.clone());
    match behaviour {
        None | Some(Behaviour::NxDomain) => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(Behaviour::ServFail) => reply.metadata.response_code = ResponseCode::ServFail,
        Some(Behaviour::Drop) => return None,
        Some(Behaviour::Answer { .. }) if truncate => reply.metadata.truncation = true,
        Some(Behaviour::Answer { ips, ttl }) => {
            for ip in ips {
                let data = match (ip, q.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                    _ => continue,
                };
                reply.add_answer(Record::from_rdata(q.name().clone(), ttl, data));
            }
        }
    }
    reply.to_vec().ok()
}

// ---------------------------------------------------------------- upstreams

/// A blocking HTTP/1.1 upstream that answers with its own IP. `GET /slow`
/// is held until `release()`.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    held: Arc<AtomicUsize>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn serve(listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, hd, g, s) = (hits.clone(), held.clone(), gate.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, hd, g) = (h.clone(), hd.clone(), g.clone());
                std::thread::spawn(move || serve_conn(conn, addr.ip(), &h, &hd, &g));
            }
        });
        Upstream {
            addr,
            hits,
            held,
            gate,
            stop,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Requests to `/slow` waiting for `release()`.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    pub fn release(&self) {
        let (lock, cv) = &*self.gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.release();
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_conn(
    mut conn: TcpStream,
    ip: IpAddr,
    hits: &AtomicUsize,
    held: &AtomicUsize,
    gate: &(Mutex<bool>, Condvar),
) {
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
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        hits.fetch_add(1, Ordering::SeqCst);
        if head.split_whitespace().nth(1) == Some("/slow") {
            held.fetch_add(1, Ordering::SeqCst);
            let (lock, cv) = gate;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        let body = ip.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Upstreams on each of `ips`, all on one ephemeral port (DNS gives addresses;
/// the port comes from the cluster's `hosts` entry).
pub fn upstreams(ips: &[&str]) -> (u16, Vec<Upstream>) {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).expect("bind upstream");
        let port = first.local_addr().unwrap().port();
        let rest: Option<Vec<TcpListener>> = ips[1..]
            .iter()
            .map(|ip| TcpListener::bind((*ip, port)).ok())
            .collect();
        if let Some(rest) = rest {
            let all = std::iter::once(first)
                .chain(rest)
                .map(Upstream::serve)
                .collect();
            return (port, all);
        }
    }
    panic!("no common free port on {ips:?}");
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- ringway

pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Start `ringway -c CONFIG --io-driver DRIVER` and wait for its listener line.
    /// `config` may use `{dir}` for the temp dir holding it.
    pub fn start(dir: tempfile::TempDir, config: &str, driver: &str) -> Proxy {
        let path = dir.path().join("ringway.yaml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
            .arg("-c")
            .arg(&path)
            .args(["--io-driver", driver])
            .env("RINGWAY_LOG", "ringway=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringway");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let err = child.stderr.take().unwrap();
            let log = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .strip_prefix("ringway: listener ")
                    .and_then(|l| l.split(" on ").nth(1))
                {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let mut proxy = Proxy {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stderr,
            _dir: dir,
        };
        match rx.recv_timeout(DEADLINE) {
            Ok(addr) => proxy.addr = addr.parse().unwrap(),
            Err(_) => panic!(
                "ringway did not start; stderr:\n{}",
                proxy.stderr.lock().unwrap()
            ),
        }
        proxy
    }

    /// One request on a fresh connection: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut s = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        // One write: the request head arrives in one segment.
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no response head in {text:?}"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        Ok((status, body.to_string()))
    }

    /// A request that must succeed; returns the upstream IP that answered.
    pub fn ok(&self, path: &str) -> String {
        match self.get(path) {
            Ok((200, body)) => body,
            other => panic!("expected 200, got {other:?}; stderr:\n{}", self.log()),
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- ringway stderr ---\n{}", self.log());
        }
        // Kill our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
