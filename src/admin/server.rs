//! The admin listener: one thread, one `poll(2)` loop over non-blocking
//! sockets, every connection served side by side. Requests are parsed by the
//! proxy's own codec; one request per connection.
//!
//! Invariants, and why:
//! - **No client can delay another.** A connection only ever advances when its
//!   own socket is ready, so a silent or trickling client costs a slot and a
//!   buffer, never the loop's time. A health checker's `/ready` is answered
//!   while any number of slow connections stay open.
//! - **Every connection has one total deadline** ([`REQUEST_DEADLINE`], from
//!   accept to the last response byte: head, body and the write), not a
//!   per-read timeout that a byte every few seconds renews forever.
//! - **Bounded.** At most [`MAX_CONNECTIONS`] are open. A new connection
//!   beyond that evicts the oldest one: a well-behaved admin client (curl, a
//!   load balancer's check) finishes in well under a millisecond, so the oldest
//!   connection is the slowest one, and a flood of silent connections can only
//!   push out other slow connections, not refuse the next health check. Memory
//!   stays bounded by `MAX_CONNECTIONS` × the head limit.
//! - **Not from a browser.** A POST carrying a foreign `Origin`, or a `Host`
//!   naming anything but the admin's address or `localhost`, is refused (403)
//!   before it reaches a handler (`cross_site`).
//! - Handlers run on this thread and are quick (they read atomics and render
//!   text); `/reload` takes as long as a config load.
//!
//! A thread per connection would also isolate clients, but then the bound
//! needs either refusing (which fails health checks under a flood) or
//! cross-thread eviction; one loop makes eviction a `Vec::remove`.

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    render,
    stats::{self, StatsQuery},
    Admin, ENDPOINTS,
};
use crate::{
    codec::{
        encode::reason_phrase,
        headers::HeaderIndex,
        limits::RequestLimits,
        request::{parse_request, Method, Parsed, RequestHead},
        BodyFraming,
    },
    worker::accept::AcceptFailures,
    worker::local_reply::LocalReply,
};

/// A connection must have sent its request and taken its response within this.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Admin connections open at once; the oldest is closed to admit one more.
pub const MAX_CONNECTIONS: usize = 128;
/// Request bodies are read and ignored, up to this much.
const MAX_BODY: u64 = 64 * 1024;
/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 4096;

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Run after the response was written (`/quitquitquit`).
    after: Option<fn(&Admin)>,
}

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            after: None,
        }
    }
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, TEXT, body)
    }
}

/// Bind `addr` and serve on a new thread. Returns the bound address.
pub fn start(admin: Admin, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let admin = Arc::new(admin);
    std::thread::Builder::new()
        .name("ringway-admin".into())
        .spawn(move || serve_forever(&admin, &listener, bound))?;
    Ok(bound)
}

/// Where one connection is in its single request.
enum Phase {
    /// Reading the head, then up to `MAX_BODY` of a body.
    Reading,
    /// Writing `out` from `written`; then `after` runs and the connection closes.
    Writing {
        out: Vec<u8>,
        written: usize,
        after: Option<fn(&Admin)>,
    },
}

/// What a connection needs next from the loop.
enum Progress {
    /// Wait until the socket is readable (or writable, when writing).
    Wait,
    /// Finished or failed: close it.
    Done,
}

struct Conn {
    stream: TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
    phase: Phase,
}

fn serve_forever(admin: &Admin, listener: &TcpListener, bound: SocketAddr) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut failures = AcceptFailures::new("admin");
    // Out of descriptors, the listener stays readable: accepting pauses (as
    // the workers' loops do) rather than spinning.
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        // Past their deadline: closed unanswered.
        conns.retain(|c| c.deadline > now);
        accept_paused_until = accept_paused_until.filter(|&t| t > now);
        fds.clear();
        let listen_events = if accept_paused_until.is_some() {
            0
        } else {
            libc::POLLIN
        };
        fds.push(pollfd(listener.as_raw_fd(), listen_events));
        for c in &conns {
            let events = match c.phase {
                Phase::Reading => libc::POLLIN,
                Phase::Writing { .. } => libc::POLLOUT,
            };
            fds.push(pollfd(c.stream.as_raw_fd(), events));
        }
        let wait = conns
            .iter()
            .map(|c| c.deadline)
            .chain(accept_paused_until)
            .map(|t| t.saturating_duration_since(now))
            .min()
            // Round up, so a deadline never spins the loop at 0 ms.
            .map_or(-1, |d| d.as_millis() as libc::c_int + 1);
        // SAFETY: `fds` is a live, exclusively borrowed array of `fds.len()` pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                tracing::warn!(error = %e, "admin poll failed");
            }
            continue;
        }
        // Connections first (indices shift once new ones are admitted).
        let mut i = conns.len();
        while i > 0 {
            i -= 1;
            if fds[i + 1].revents == 0 {
                continue;
            }
            if let Progress::Done = advance(admin, bound, &mut conns[i]) {
                conns.swap_remove(i);
            }
        }
        if fds[0].revents != 0 {
            if let Some(pause) = accept_all(listener, &mut conns, &mut failures) {
                accept_paused_until = Some(Instant::now() + pause);
            }
        }
    }
}

fn pollfd(fd: std::os::fd::RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Take every pending connection, evicting the oldest open ones beyond the
/// bound. `Some`: accepting failed; pause it this long.
fn accept_all(
    listener: &TcpListener,
    conns: &mut Vec<Conn>,
    failures: &mut AcceptFailures,
) -> Option<Duration> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                failures.succeeded();
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if conns.len() >= MAX_CONNECTIONS {
                    // The earliest deadline is the oldest connection.
                    if let Some(oldest) = (0..conns.len()).min_by_key(|&i| conns[i].deadline) {
                        tracing::debug!(
                            "admin: {MAX_CONNECTIONS} connections open; closing the oldest"
                        );
                        conns.swap_remove(oldest);
                    }
                }
                conns.push(Conn {
                    stream,
                    deadline: Instant::now() + REQUEST_DEADLINE,
                    buf: Vec::with_capacity(READ_CHUNK),
                    phase: Phase::Reading,
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some(failures.failed(&e)),
        }
    }
}

/// Move one connection on as far as its socket allows without blocking.
fn advance(admin: &Admin, bound: SocketAddr, conn: &mut Conn) -> Progress {
    if let Phase::Reading = conn.phase {
        match read_request(admin, bound, conn) {
            Some(phase) => conn.phase = phase,
            None => return Progress::Wait,
        }
    }
    let Phase::Writing {
        out,
        written,
        after,
    } = &mut conn.phase
    else {
        return Progress::Done;
    };
    while *written < out.len() {
        match conn.stream.write(&out[*written..]) {
            Ok(0) => return Progress::Done,
            Ok(n) => *written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Wait,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Progress::Done,
        }
    }
    if let Some(after) = after.take() {
        after(admin);
    }
    Progress::Done
}

/// Read what the socket has; once the request (head and the body we read) is
/// whole, answer it and return the `Writing` phase. `None`: wait for more.
/// A closed or failed connection turns into `Writing` nothing.
fn read_request(admin: &Admin, bound: SocketAddr, conn: &mut Conn) -> Option<Phase> {
    let closed = Some(Phase::Writing {
        out: Vec::new(),
        written: 0,
        after: None,
    });
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return closed,
            Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return closed,
        }
        // The head limit (checked by the parser) bounds what is kept.
        if conn.buf.len() > RequestLimits::default().max_header_bytes + MAX_BODY as usize {
            break;
        }
    }
    let limits = RequestLimits::default();
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    let head = match parse_request(&conn.buf, &limits, &mut headers, &mut tokens) {
        Ok(Parsed::Complete(head)) => head,
        Ok(Parsed::Incomplete) => return None,
        Err(e) => {
            let r = Response::text(LocalReply::BadRequest(e).status(), format!("{e}\n"));
            return Some(writing(&r, false));
        }
    };
    if !body_complete(&head, conn.buf.len()) {
        return None;
    }
    let buf = &conn.buf;
    let target = String::from_utf8_lossy(head.slice(buf, head.target)).into_owned();
    let method = String::from_utf8_lossy(head.slice(buf, head.method_span)).into_owned();
    let response = match cross_site(&head, &headers, buf, bound) {
        Some(reason) => Response::text(403, format!("refused: {reason}\n")),
        None => handle(admin, head.method, &target),
    };
    log_request(admin, &method, &target, response.status);
    Some(writing(&response, head.method == Method::Head))
}

/// Why a request that changes state may come from a web page rather than an
/// operator, if it may: a browser lets any page POST a form to
/// `http://127.0.0.1:8001/quitquitquit`, and DNS rebinding lets a page's own
/// name point at the admin. Either way the browser says so: an `Origin` that
/// is not the admin's own, or a `Host` that is a name other than `localhost`.
/// Tools (curl, scripts, load balancers) send neither. Only POSTs are checked:
/// GETs change nothing.
///
/// The `Host` port is not compared (an SSH tunnel or port forward changes it;
/// a rebinding page cannot change the name); the `Origin` must be exact.
fn cross_site(
    head: &RequestHead,
    headers: &[HeaderIndex],
    buf: &[u8],
    bound: SocketAddr,
) -> Option<String> {
    if head.method != Method::Post {
        return None;
    }
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    if let Some(origin) = headers
        .iter()
        .find(|h| h.name(buf).eq_ignore_ascii_case(b"origin"))
        .map(|h| text(h.value(buf)))
    {
        if !own_origin(&origin, bound) {
            return Some(format!(
                "a state-changing request from another origin (Origin: {origin}); \
                 the admin accepts POSTs from http://{bound} (or http://localhost:{}) only",
                bound.port()
            ));
        }
    }
    if let Some(host) = head.host.map(|s| text(head.slice(buf, s))) {
        if !own_host(split_port(&host).0, bound) {
            return Some(format!(
                "a state-changing request for another host (Host: {host}); \
                 the admin answers POSTs to its own address ({bound}) or localhost only"
            ));
        }
    }
    None
}

/// `localhost`, or the admin's IP (any IP when it is bound to all addresses).
fn own_host(host: &str, bound: SocketAddr) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match literal.unwrap_or(host).parse::<std::net::IpAddr>() {
        Ok(ip) => bound.ip().is_unspecified() || ip == bound.ip(),
        Err(_) => false,
    }
}

/// `http://HOST:PORT` naming the admin itself (port 80 when absent).
fn own_origin(origin: &str, bound: SocketAddr) -> bool {
    let Some(authority) = origin.trim().strip_prefix("http://") else {
        return false; // `null`, https, another scheme
    };
    let (host, port) = split_port(authority);
    own_host(host, bound) && port.unwrap_or(80) == bound.port()
}

/// `host:port` → (`host`, port); `[v6]:port` keeps its brackets.
fn split_port(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => {
            match port.parse() {
                Ok(p) => (host, Some(p)),
                Err(_) => (authority, None),
            }
        }
        _ => (authority, None),
    }
}

/// Whether the body we read (and ignore) has arrived: up to `MAX_BODY` of a
/// `content-length` body, so closing afterwards does not reset the connection.
fn body_complete(head: &RequestHead, buffered: usize) -> bool {
    match head.framing {
        BodyFraming::Length(n) => (buffered - head.head_len) as u64 >= n.min(MAX_BODY),
        _ => true,
    }
}

fn writing(r: &Response, head_only: bool) -> Phase {
    Phase::Writing {
        out: encode_response(r, head_only),
        written: 0,
        after: r.after,
    }
}

fn encode_response(r: &Response, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nserver: ringway\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-cache, max-age=0\r\n",
        r.status,
        reason_phrase(r.status),
        r.content_type,
        r.body.len()
    )
    .into_bytes();
    if r.status == 405 {
        out.extend_from_slice(b"allow: POST\r\n");
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    out
}

/// The admin's own access log (`admin.access_log_path`), one line per request.
fn log_request(admin: &Admin, method: &str, target: &str, status: u16) {
    let config = admin.config();
    let Some(path) = config
        .admin
        .as_ref()
        .and_then(|a| a.access_log_path.as_ref())
    else {
        return;
    };
    let mut line = Vec::new();
    line.push(b'[');
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    crate::access_log::write_iso8601(&mut line, millis);
    line.extend_from_slice(format!("] \"{method} {target}\" {status}\n").as_bytes());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = f.write_all(&line);
    }
}

/// Split `a=1&b=two%20words` into decoded pairs.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `?filter=REGEX` and `?usedonly` (present, any value) of a stats request.
fn stats_query<'a>(param: &impl Fn(&str) -> Option<&'a str>) -> Result<StatsQuery, Response> {
    let filter = match param("filter").filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => match regex::Regex::new(f) {
            Ok(r) => Some(r),
            Err(e) => return Err(Response::text(400, format!("bad filter regex: {e}\n"))),
        },
    };
    Ok(StatsQuery {
        filter,
        used_only: param("usedonly").is_some(),
    })
}

pub fn handle(admin: &Admin, method: Method, target: &str) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = parse_query(query);
    let param = |k: &str| {
        params
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    let Some(endpoint) = ENDPOINTS.iter().find(|e| e.path == path) else {
        let mut body = format!("no admin endpoint at {path}\n\n").into_bytes();
        body.extend_from_slice(&render::help());
        return Response::text(404, body);
    };
    let allowed = match method {
        Method::Post => true,
        Method::Get | Method::Head => !endpoint.post_only,
        _ => false,
    };
    if !allowed {
        return Response::text(405, format!("{path} changes state: use POST\n"));
    }
    let json = param("format") == Some("json");
    match path {
        "/" | "/help" => Response::text(200, render::help()),
        "/stats" | "/stats/prometheus" => {
            let query = match stats_query(&param) {
                Ok(q) => q,
                Err(r) => return r,
            };
            match (path, param("format")) {
                ("/stats/prometheus", _) | (_, Some("prometheus")) => {
                    Response::new(200, PROMETHEUS, stats::prometheus(admin, &query))
                }
                (_, Some("json")) => Response::new(200, JSON, stats::stats_json(admin, &query)),
                _ => Response::text(200, stats::stats_text(admin, &query)),
            }
        }
        "/clusters" => {
            if json {
                Response::new(200, JSON, render::clusters_json(admin))
            } else {
                Response::text(200, render::clusters_text(admin))
            }
        }
        "/config_dump" => Response::new(200, JSON, render::config_dump(&admin.config())),
        "/certs" => {
            let config = admin.config();
            let certs = crate::tls::admin::certs_json(
                &config.cert_contexts(),
                std::time::SystemTime::now(),
            );
            Response::new(200, JSON, certs.to_string())
        }
        "/listeners" => {
            let listeners = admin.listeners();
            if json {
                Response::new(200, JSON, render::listeners_json(&listeners))
            } else {
                Response::text(200, render::listeners_text(&listeners))
            }
        }
        "/server_info" => Response::new(200, JSON, render::server_info(admin)),
        "/ready" => {
            if admin.lifecycle.is_live() {
                Response::text(200, "LIVE\n")
            } else {
                Response::text(503, "DRAINING\n")
            }
        }
        "/healthcheck/fail" => {
            admin.lifecycle.set_health_failed(true);
            Response::text(200, "OK\n")
        }
        "/healthcheck/ok" => {
            admin.lifecycle.set_health_failed(false);
            Response::text(200, "OK\n")
        }
        "/reset_counters" => {
            admin.reset_counters();
            Response::text(200, "OK\n")
        }
        "/logging" => match (param("level"), admin.set_log_level.as_ref()) {
            (None, _) => Response::text(400, "give ?level=trace|debug|info|warn|error\n"),
            (Some(_), None) => Response::text(501, "log level cannot be changed in this process\n"),
            (Some(level), Some(set)) => match set(level) {
                Ok(()) => {
                    tracing::info!(level, "log level changed");
                    Response::text(200, format!("log level: {level}\n"))
                }
                Err(e) => Response::text(400, format!("bad level `{level}`: {e}\n")),
            },
        },
        "/reload" => match admin.reload.as_ref() {
            None => Response::text(501, "reload is not available in this process\n"),
            Some(reload) => match reload() {
                Ok(summary) => Response::text(200, format!("reloaded: {summary}\n")),
                Err(e) => Response::text(e.status(), format!("reload rejected: {e}\n")),
            },
        },
        "/quitquitquit" => Response {
            after: Some(|admin: &Admin| {
                tracing::info!("/quitquitquit: draining");
                admin.lifecycle.request_shutdown();
            }),
            ..Response::text(200, "OK\n")
        },
        _ => Response::text(404, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_hosts_and_origins() {
        let lo: SocketAddr = "127.0.0.1:8001".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8001".parse().unwrap();
        let v6: SocketAddr = "[::1]:8001".parse().unwrap();
        assert!(own_host("localhost", lo));
        assert!(own_host("LocalHost", lo));
        assert!(own_host("127.0.0.1", lo));
        assert!(!own_host("127.0.0.2", lo));
        assert!(!own_host("evil.example", lo));
        assert!(own_host("10.1.2.3", any));
        assert!(!own_host("evil.example", any));
        assert!(own_host("[::1]", v6));
        assert_eq!(split_port("[::1]:8001"), ("[::1]", Some(8001)));
        assert_eq!(split_port("localhost"), ("localhost", None));
        assert_eq!(split_port("::1"), ("::1", None));
        assert!(own_origin("http://127.0.0.1:8001", lo));
        assert!(own_origin("http://localhost:8001", lo));
        assert!(!own_origin("http://localhost:3000", lo));
        assert!(!own_origin("https://127.0.0.1:8001", lo));
        assert!(!own_origin("null", lo));
        assert!(!own_origin("http://evil.example:8001", lo));
        assert!(own_origin("http://[::1]:8001", v6));
    }

    #[test]
    fn decodes_queries() {
        assert_eq!(
            parse_query("filter=cluster%5C.s.*%24&format=json&x"),
            vec![
                ("filter".into(), "cluster\\.s.*$".into()),
                ("format".into(), "json".into()),
                ("x".into(), "".into())
            ]
        );
        assert_eq!(parse_query("a=%zz%4"), vec![("a".into(), "%zz%4".into())]);
        assert_eq!(parse_query("a=b+c"), vec![("a".into(), "b c".into())]);
    }
}
