//! The demo's DNS: a small UDP responder built with `hickory-proto` whose A
//! records come from a text file (`NAME ADDRESS` lines), re-read on every query,
//! so editing the file is how a person "scales" a demo service. TTL 1 s.
//! It is for the demo only; it serves whatever the file says to anyone on loopback.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use hickory_proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{rdata::A, RData, Record, RecordType},
};

const TTL: u32 = 1;

/// `NAME ADDRESS` lines; `#` starts a comment; bad lines are skipped.
pub fn parse_records(text: &str) -> Vec<(String, Ipv4Addr)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split('#').next()?.split_whitespace();
            let name = words.next()?.trim_end_matches('.').to_ascii_lowercase();
            let ip = words.next()?.parse().ok()?;
            Some((name, ip))
        })
        .collect()
}

pub struct DemoDns {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DemoDns {
    /// Serve the records in `path` on an ephemeral UDP port of 127.0.0.1.
    pub fn start(path: PathBuf) -> std::io::Result<DemoDns> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let addr = socket.local_addr()?;
        // Wake up now and then to notice `stop`.
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("demo-dns".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                while !stop2.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let records = std::fs::read_to_string(&path)
                        .map(|t| parse_records(&t))
                        .unwrap_or_default();
                    if let Some(reply) = answer(&buf[..n], &records) {
                        let _ = socket.send_to(&reply, peer);
                    }
                }
            })?;
        Ok(DemoDns { addr, stop })
    }
}

impl Drop for DemoDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to one query: A records for a known name, an empty answer for
/// other types of a known name, NXDOMAIN otherwise.
pub fn answer(query: &[u8], records: &[(String, Ipv4Addr)]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    if query.metadata.message_type != MessageType::Query || query.queries.len() != 1 {
        return None;
    }
    let q = &query.queries[0];
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.authoritative = true;
    reply.add_query(q.clone());
    let mut known = false;
    for (n, ip) in records {
        if *n == name {
            known = true;
            if q.query_type() == RecordType::A {
                reply.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(*ip))));
            }
        }
    }
    if !known {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::{op::Query, rr::Name};

    #[test]
    fn answers_from_the_records() {
        let records =
            parse_records("# c\nservice1 127.0.0.2\nService1. 127.0.0.3 # x\nbad\nservice2 nope\n");
        assert_eq!(records.len(), 2);
        let ask = |name: &str, t: RecordType| {
            let mut q = Message::query();
            q.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
            Message::from_vec(&answer(&q.to_vec().unwrap(), &records).unwrap()).unwrap()
        };
        let r = ask("SERVICE1.", RecordType::A);
        assert_eq!(r.answers.len(), 2);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        let r = ask("service1.", RecordType::AAAA);
        assert!(r.answers.is_empty());
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            ask("service2.", RecordType::A).metadata.response_code,
            ResponseCode::NXDomain
        );
    }
}
