//! A hickory-proto DNS responder whose answers a test changes while ringway
//! runs (UDP and TCP on one ephemeral port of 127.0.0.1), upstreams on
//! several 127.0.0.x sharing one port, as DNS-discovered hosts are, and
//! `DnsCase`, which puts the two behind a ringway whose one cluster they serve.

use std::{
    collections::{HashMap, HashSet},
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use hickory_proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        rdata::{A, AAAA},
        RData, Record, RecordType,
    },
};

use super::{text_response, Driver, Gate, Reply, Ringway, Upstream};

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

/// Upstreams on each of `ips`, all on one ephemeral port (DNS gives addresses;
/// the port comes from the cluster's `hosts` entry). Each answers 200 with its
/// own IP as the body; `GET /slow` waits for `slow` to open first.
pub fn upstreams(ips: &[&str], slow: &Gate) -> (u16, Vec<Upstream>) {
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
                .map(|listener| {
                    let ip = listener.local_addr().unwrap().ip().to_string();
                    let slow = slow.clone();
                    Upstream::on(listener, &ip.clone(), move |r| {
                        let ok = Reply::Bytes(text_response("200 OK", &ip));
                        if r.target == "/slow" {
                            Reply::After(slow.clone(), Box::new(ok))
                        } else {
                            ok
                        }
                    })
                })
                .collect();
            return (port, all);
        }
    }
    panic!("no common free port on {ips:?}");
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- a DNS case

/// One DNS discovery case: upstreams on several 127.0.0.x sharing `port`, a
/// responder for their names, and a temp dir for ringway's config, hosts file
/// and resolv.conf. Hermetic: ringway asks only `dns`, and the hosts file and
/// resolv.conf are empty unless the test writes them (`write`).
pub struct DnsCase {
    pub dns: DnsResponder,
    /// The port every upstream listens on; DNS answers give only addresses.
    pub port: u16,
    pub ups: Vec<Upstream>,
    /// Handed to ringway by `start`, which removes it when it stops.
    dir: Option<tempfile::TempDir>,
}

/// What `DnsCase::config` names its files in the temp dir.
pub const HOSTS_FILE: &str = "hosts";
pub const RESOLV_CONF: &str = "resolv.conf";

impl DnsCase {
    /// Upstreams on `ips` (see `upstreams`; `GET /slow` waits for `slow`) and
    /// a responder that knows no name yet.
    pub fn new(ips: &[&str], slow: &Gate) -> DnsCase {
        let (port, ups) = upstreams(ips, slow);
        let dir = tempfile::tempdir().unwrap();
        for f in [HOSTS_FILE, RESOLV_CONF] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        DnsCase {
            dns: DnsResponder::start(),
            port,
            ups,
            dir: Some(dir),
        }
    }

    /// `name:port`: a cluster host entry for the upstreams.
    pub fn host(&self, name: &str) -> String {
        format!("{name}:{}", self.port)
    }

    /// Replace `file` (`HOSTS_FILE` or `RESOLV_CONF`) in the temp dir.
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir().join(file), text).unwrap();
    }

    fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("written before start").path()
    }

    /// A config with one catch-all route to cluster `svc`, a `strict_dns`
    /// cluster of `hosts` refreshed every 100 ms; `cluster_extra` lines are
    /// appended to the cluster (indented by 4).
    pub fn config(&self, hosts: &[String], cluster_extra: &str) -> String {
        let d = self.dir().display();
        let hosts = hosts
            .iter()
            .map(|h| format!("\"{h}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "workers: 1
dns:
  resolvers: [\"{resolver}\"]
  hosts_file: {d}/{HOSTS_FILE}
  resolv_conf: {d}/{RESOLV_CONF}
  timeout: 500ms
  attempts: 1
listeners:
  - name: test
    address: 127.0.0.1:0
    virtual_hosts:
      - name: all
        domains: [\"*\"]
        routes:
          - match: {{ prefix: / }}
            cluster: svc
clusters:
  - name: svc
    type: strict_dns
    connect_timeout: 1s
    dns_refresh_rate: 100ms
    dns_failure_refresh_rate: 100ms
    hosts: [{hosts}]
{cluster_extra}",
            resolver = self.dns.addr,
        )
    }

    /// Start ringway on `config` in the temp dir, logging at debug level
    /// (printed if the test fails). Once only: the dir goes with ringway.
    pub fn start(&mut self, driver: Driver, config: &str) -> Ringway {
        let dir = self.dir.take().expect("a DnsCase starts one ringway");
        Ringway::launch(driver, config)
            .in_dir(dir)
            .env("RINGWAY_LOG", "ringway=debug")
            .start()
    }
}
