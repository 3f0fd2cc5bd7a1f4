//! A minimal blocking DNS stub client for the resolver thread: one question per
//! message, built and parsed with `hickory-proto`; sent over UDP from a fresh
//! socket (random source port and id), retried over TCP when the answer is
//! truncated; `attempts` rounds over the servers, each wait bounded by `timeout`.
//!
//! It runs only on the resolver thread, never on a worker core, so blocking
//! sockets are fine. Waits are sliced so that a stopping server is noticed
//! within `STOP_POLL`, not after a whole query timeout.

use std::{
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, MessageType, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};

/// How often a blocked wait looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Room for any UDP answer (EDNS is not offered, so servers stop at 512 bytes).
const UDP_BUFFER: usize = 4096;
/// CNAME chains longer than this are treated as malformed.
const MAX_CNAME_CHAIN: usize = 8;

/// Why a lookup produced no addresses. Every variant keeps the last good host set.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LookupError {
    #[error("no such name (NXDOMAIN)")]
    NxDomain,
    #[error("the answer has no addresses")]
    Empty,
    #[error("server answered {0}")]
    Server(ResponseCode),
    #[error("no answer within the timeout")]
    Timeout,
    #[error("`{0}` is not a valid DNS name")]
    BadName(String),
    #[error("network error: {0}")]
    Io(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("resolver stopping")]
    Stopped,
}

/// The addresses of one answer, in the order the server gave them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub addrs: Vec<IpAddr>,
    /// Smallest TTL among the records used; `None` when none carried one.
    pub min_ttl: Option<u32>,
}

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct DnsClient {
    pub servers: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: u32,
}

impl DnsClient {
    /// Ask for `rtype` (A or AAAA) records of `name` (absolute, without the final dot).
    pub fn query(
        &self,
        name: &str,
        rtype: RecordType,
        stop: &AtomicBool,
    ) -> Result<Answer, LookupError> {
        let qname = Name::from_ascii(format!("{name}."))
            .map_err(|_| LookupError::BadName(name.to_string()))?;
        let mut last = LookupError::Timeout;
        for _ in 0..self.attempts.max(1) {
            for &server in &self.servers {
                if stop.load(Ordering::Relaxed) {
                    return Err(LookupError::Stopped);
                }
                match self.ask(server, &qname, rtype, stop) {
                    Ok(answer) => return Ok(answer),
                    // The name does not exist: authoritative, no other server will differ.
                    Err(LookupError::NxDomain) => return Err(LookupError::NxDomain),
                    Err(LookupError::Stopped) => return Err(LookupError::Stopped),
                    Err(e) => {
                        tracing::debug!(%server, name, ?rtype, error = %e, "DNS query failed");
                        last = e;
                    }
                }
            }
        }
        Err(last)
    }

    fn ask(
        &self,
        server: SocketAddr,
        qname: &Name,
        rtype: RecordType,
        stop: &AtomicBool,
    ) -> Result<Answer, LookupError> {
        let request = build_query(qname, rtype);
        let id = request.metadata.id;
        let bytes = request
            .to_vec()
            .map_err(|e| LookupError::Malformed(e.to_string()))?;
        let response = udp_exchange(server, &bytes, id, qname, rtype, self.timeout, stop)?;
        let response = if response.metadata.truncation {
            tracing::debug!(%server, name = %qname, "truncated UDP answer; retrying over TCP");
            tcp_exchange(server, &bytes, id, qname, rtype, self.timeout)?
        } else {
            response
        };
        read_answer(&response, qname, rtype)
    }
}

/// A recursive query for one name and type, with a random id.
pub fn build_query(qname: &Name, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), rtype));
    msg
}

/// Is `msg` the answer to our question? Anything else on the socket is ignored.
fn answers(msg: &Message, id: u16, qname: &Name, rtype: RecordType) -> bool {
    msg.metadata.id == id
        && msg.metadata.message_type == MessageType::Response
        && msg.queries.len() == 1
        && msg.queries[0].name() == qname
        && msg.queries[0].query_type() == rtype
}

fn io_err(e: std::io::Error) -> LookupError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => LookupError::Timeout,
        _ => LookupError::Io(e.to_string()),
    }
}

fn udp_exchange(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    qname: &Name,
    rtype: RecordType,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<Message, LookupError> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(io_err)?;
    // connect() makes the kernel drop datagrams from any other source.
    socket.connect(server).map_err(io_err)?;
    socket.send(bytes).map_err(io_err)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(LookupError::Stopped);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LookupError::Timeout);
        }
        socket
            .set_read_timeout(Some(left.min(STOP_POLL)))
            .map_err(io_err)?;
        match socket.recv(&mut buf) {
            Ok(n) => match Message::from_vec(&buf[..n]) {
                Ok(msg) if answers(&msg, id, qname, rtype) => return Ok(msg),
                // A stray or forged datagram: keep waiting for ours.
                _ => continue,
            },
            Err(e) => match io_err(e) {
                LookupError::Timeout => continue,
                // ICMP port unreachable surfaces as ECONNREFUSED on a connected socket.
                other => return Err(other),
            },
        }
    }
}

fn tcp_exchange(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    qname: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, LookupError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&server, timeout).map_err(io_err)?;
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        Some(d.max(Duration::from_millis(1)))
    };
    stream.set_write_timeout(left()).map_err(io_err)?;
    // RFC 1035 4.2.2: over TCP each message is prefixed with its 2-byte length.
    let len =
        u16::try_from(bytes.len()).map_err(|_| LookupError::Malformed("query too long".into()))?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).map_err(io_err)?;
    stream.set_read_timeout(left()).map_err(io_err)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(io_err)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.set_read_timeout(left()).map_err(io_err)?;
    stream.read_exact(&mut buf).map_err(io_err)?;
    let msg = Message::from_vec(&buf).map_err(|e| LookupError::Malformed(e.to_string()))?;
    if answers(&msg, id, qname, rtype) {
        Ok(msg)
    } else {
        Err(LookupError::Malformed(
            "TCP answer to another question".into(),
        ))
    }
}

/// The addresses that answer `qname`/`rtype` in `msg`, following CNAMEs.
pub fn read_answer(msg: &Message, qname: &Name, rtype: RecordType) -> Result<Answer, LookupError> {
    match msg.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(LookupError::NxDomain),
        other => return Err(LookupError::Server(other)),
    }
    // The owner names that lead to our addresses: the question, then its CNAME chain.
    let mut chain = vec![qname.clone()];
    let mut min_ttl: Option<u32> = None;
    while let Some(record) = msg
        .answers
        .iter()
        .find(|r| matches!(&r.data, RData::CNAME(_)) && r.name == *chain.last().expect("non-empty"))
    {
        let RData::CNAME(target) = &record.data else {
            unreachable!("filtered on CNAME")
        };
        if chain.len() > MAX_CNAME_CHAIN || chain.contains(&target.0) {
            return Err(LookupError::Malformed("CNAME loop".into()));
        }
        min_ttl = Some(min_ttl.map_or(record.ttl, |t| t.min(record.ttl)));
        chain.push(target.0.clone());
    }
    let mut addrs = Vec::new();
    let mut addr_ttl: Option<u32> = None;
    for record in &msg.answers {
        if !chain.contains(&record.name) {
            continue;
        }
        let ip = match (&record.data, rtype) {
            (RData::A(a), RecordType::A) => IpAddr::V4(a.0),
            (RData::AAAA(a), RecordType::AAAA) => IpAddr::V6(a.0),
            _ => continue,
        };
        addr_ttl = Some(addr_ttl.map_or(record.ttl, |t| t.min(record.ttl)));
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
    if addrs.is_empty() {
        return Err(LookupError::Empty);
    }
    let min_ttl = match (min_ttl, addr_ttl) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Answer { addrs, min_ttl })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::{
        op::OpCode,
        rr::{
            rdata::{A, AAAA, CNAME},
            Record,
        },
    };

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response(q: &str, rtype: RecordType, records: Vec<Record>) -> Message {
        let mut m = Message::response(7, OpCode::Query);
        m.add_query(Query::query(name(q), rtype));
        m.add_answers(records);
        m
    }

    fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(ip.into())))
    }

    #[test]
    fn collects_every_address_with_the_smallest_ttl() {
        let m = response(
            "svc.test.",
            RecordType::A,
            vec![
                a("svc.test.", 30, [10, 0, 0, 2]),
                a("SVC.test.", 10, [10, 0, 0, 3]),
                a("svc.test.", 30, [10, 0, 0, 2]),
                a("other.test.", 1, [10, 0, 0, 9]),
            ],
        );
        let ans = read_answer(&m, &name("svc.test."), RecordType::A).unwrap();
        assert_eq!(
            ans.addrs,
            vec![IpAddr::from([10, 0, 0, 2]), IpAddr::from([10, 0, 0, 3])]
        );
        assert_eq!(ans.min_ttl, Some(10));
    }

    #[test]
    fn follows_cname_chains() {
        let m = response(
            "www.test.",
            RecordType::A,
            vec![
                Record::from_rdata(name("www.test."), 5, RData::CNAME(CNAME(name("lb.test.")))),
                a("lb.test.", 60, [10, 0, 0, 4]),
            ],
        );
        let ans = read_answer(&m, &name("www.test."), RecordType::A).unwrap();
        assert_eq!(ans.addrs, vec![IpAddr::from([10, 0, 0, 4])]);
        assert_eq!(ans.min_ttl, Some(5));
    }

    #[test]
    fn cname_loop_is_malformed() {
        let m = response(
            "a.test.",
            RecordType::A,
            vec![
                Record::from_rdata(name("a.test."), 5, RData::CNAME(CNAME(name("b.test.")))),
                Record::from_rdata(name("b.test."), 5, RData::CNAME(CNAME(name("a.test.")))),
            ],
        );
        assert!(matches!(
            read_answer(&m, &name("a.test."), RecordType::A),
            Err(LookupError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_family_and_empty_answers_are_empty() {
        let six = Record::from_rdata(name("svc.test."), 5, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)));
        let m = response("svc.test.", RecordType::A, vec![six.clone()]);
        assert_eq!(
            read_answer(&m, &name("svc.test."), RecordType::A),
            Err(LookupError::Empty)
        );
        let m = response("svc.test.", RecordType::AAAA, vec![six]);
        let ans = read_answer(&m, &name("svc.test."), RecordType::AAAA).unwrap();
        assert_eq!(ans.addrs, vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }

    #[test]
    fn error_codes_map_to_errors() {
        let mut m = response("svc.test.", RecordType::A, vec![]);
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(
            read_answer(&m, &name("svc.test."), RecordType::A),
            Err(LookupError::NxDomain)
        );
        m.metadata.response_code = ResponseCode::ServFail;
        assert_eq!(
            read_answer(&m, &name("svc.test."), RecordType::A),
            Err(LookupError::Server(ResponseCode::ServFail))
        );
    }

    #[test]
    fn only_the_answer_to_our_question_is_accepted() {
        let q = build_query(&name("svc.test."), RecordType::A);
        let id = q.metadata.id;
        assert!(q.metadata.recursion_desired);
        let mut r = response("svc.test.", RecordType::A, vec![]);
        r.metadata.id = id;
        assert!(answers(&r, id, &name("svc.test."), RecordType::A));
        assert!(answers(&r, id, &name("SVC.TEST."), RecordType::A));
        assert!(!answers(
            &r,
            id.wrapping_add(1),
            &name("svc.test."),
            RecordType::A
        ));
        assert!(!answers(&r, id, &name("svc.test."), RecordType::AAAA));
        assert!(!answers(&r, id, &name("x.test."), RecordType::A));
        assert!(!answers(&q, id, &name("svc.test."), RecordType::A));
    }
}
