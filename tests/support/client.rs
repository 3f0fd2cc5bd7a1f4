//! A raw HTTP/1.1 client: any bytes out, one response at a time in.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
};

use super::DEADLINE;

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
        super::find_header(&self.headers, name)
    }
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        super::find_headers(&self.headers, name)
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

/// One client connection (plain TCP unless `S` says otherwise, e.g. a TLS
/// stream). Reads are buffered, so pipelined responses are read one after
/// another.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    /// A client over an already connected stream.
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).expect("connect to ringway")
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.set_write_timeout(Some(DEADLINE))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }
}

impl<S: Read + Write> Client<S> {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to ringway");
    }

    /// Send, then read one response (to a non-HEAD request).
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    pub fn get(&mut self, host: &str, path: &str) -> Response {
        self.roundtrip(get_bytes(host, path).as_bytes())
    }

    /// `get`, with a failure to write or read as an `Err` rather than a panic
    /// (for a test that collects failures across many requests).
    pub fn try_get(&mut self, host: &str, path: &str) -> Result<Response, ReadFail> {
        self.stream
            .write_all(get_bytes(host, path).as_bytes())
            .map_err(ReadFail::Io)?;
        self.try_read_response(false)
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

/// `METHOD PATH` with `host: test`, the `extra` header lines (each ending in
/// CRLF) and `connection: close`, written in one write on a fresh connection.
/// The connection comes back to read the response from.
pub fn send_request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Client {
    let mut c = Client::connect(addr);
    c.send(request_bytes(method, path, extra).as_bytes());
    c
}

/// `send_request`, then its response.
pub fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Response {
    send_request(addr, method, path, extra).read_response()
}

/// `request`, with a failure to connect, write or read as an `Err`.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
) -> Result<Response, String> {
    let mut c = Client::try_connect(addr).map_err(|e| e.to_string())?;
    c.stream
        .write_all(request_bytes(method, path, extra).as_bytes())
        .map_err(|e| e.to_string())?;
    c.try_read_response(method == "HEAD")
        .map_err(|e| format!("{e:?}"))
}

fn get_bytes(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

fn request_bytes(method: &str, path: &str, extra: &str) -> String {
    // One write, so the head arrives whole: split heads are tests/framing.rs's
    // subject, not the subject of the tests using this.
    format!("{method} {path} HTTP/1.1\r\nhost: test\r\n{extra}connection: close\r\n\r\n")
}
