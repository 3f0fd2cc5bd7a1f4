//! A demo upstream service: a small blocking HTTP/1.1 server (a thread per
//! connection, keep-alive) that answers every request the way the sandbox's
//! services did. It is for the demo only, not for the data path.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use ringway::codec::{
    limits::RequestLimits,
    request::{parse_request, Parsed},
};

pub struct DemoService {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DemoService {
    /// Bind `addr` and serve `service` as `hostname` on a background thread.
    pub fn start(addr: SocketAddr, service: u8, hostname: &str) -> std::io::Result<DemoService> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let body: Arc<str> = Arc::from(format!(
            "Hello from behind ringway (service {service})! hostname: {hostname} resolvedhostname: {}\n",
            addr.ip()
        ));
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name(format!("demo-{hostname}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let body = body.clone();
                        std::thread::spawn(move || serve(conn, &body));
                    }
                }
            })?;
        Ok(DemoService { addr, stop })
    }
}

impl Drop for DemoService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, body: &str) {
    let _ = conn.set_nodelay(true);
    let limits = RequestLimits::default();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (mut headers, mut tokens) = (Vec::new(), Vec::new());
    loop {
        let head = loop {
            match parse_request(&buf, &limits, &mut headers, &mut tokens) {
                Ok(Parsed::Complete(h)) => break h,
                Ok(Parsed::Incomplete) => match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
                Err(_) => {
                    let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    return;
                }
            }
        };
        // The demo ignores request bodies beyond what arrived with the head.
        buf.drain(..head.head_len.min(buf.len()));
        buf.clear();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(response.as_bytes()).is_err() || !head.keep_alive {
            return;
        }
    }
}
