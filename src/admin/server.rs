//! The admin listener: a blocking std::net server on its own thread, one request
//! per connection. Requests are parsed by the proxy's own codec.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use super::{render, Admin, ENDPOINTS};
use crate::{
    codec::{
        encode::reason_phrase,
        limits::RequestLimits,
        request::{parse_request, Method, Parsed},
        BodyFraming,
    },
    worker::local_reply::LocalReply,
};

/// A slow or silent admin client is cut off after this.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Request bodies are read and ignored, up to this much.
const MAX_BODY: u64 = 64 * 1024;

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
    let bound = listener.local_addr()?;
    let admin = Arc::new(admin);
    std::thread::Builder::new()
        .name("ringway-admin".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => {
                        if let Err(e) = serve(&admin, stream) {
                            tracing::debug!(error = %e, "admin connection failed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "admin accept failed"),
                }
            }
        })?;
    Ok(bound)
}

fn serve(admin: &Admin, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let limits = RequestLimits::default();
    let mut buf = Vec::with_capacity(4096);
    let mut headers = Vec::new();
    let mut tokens = Vec::new();
    let mut chunk = [0u8; 4096];
    let head = loop {
        match parse_request(&buf, &limits, &mut headers, &mut tokens) {
            Ok(Parsed::Complete(head)) => break head,
            Ok(Parsed::Incomplete) => {}
            Err(e) => {
                return write_response(
                    &mut stream,
                    &Response::text(LocalReply::BadRequest(e).status(), format!("{e}\n")),
                    false,
                )
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    // Read (and ignore) a small body so closing does not reset the connection.
    if let BodyFraming::Length(n) = head.framing {
        let mut left = n
            .min(MAX_BODY)
            .saturating_sub((buf.len() - head.head_len) as u64);
        while left > 0 {
            let got = stream.read(&mut chunk[..left.min(4096) as usize])?;
            if got == 0 {
                break;
            }
            left -= got as u64;
        }
    }
    let target = String::from_utf8_lossy(head.slice(&buf, head.target)).into_owned();
    let method = String::from_utf8_lossy(head.slice(&buf, head.method_span)).into_owned();
    let response = handle(admin, head.method, &target);
    write_response(&mut stream, &response, head.method == Method::Head)?;
    log_request(admin, &method, &target, response.status);
    if let Some(after) = response.after {
        after(admin);
    }
    Ok(())
}

fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
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
    stream.write_all(&out)?;
    stream.flush()
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
    let stats = &admin.stats;
    match path {
        "/" | "/help" => Response::text(200, render::help()),
        "/stats" => {
            let filter = match param("filter").filter(|f| !f.is_empty()) {
                None => None,
                Some(f) => match regex::Regex::new(f) {
                    Ok(r) => Some(r),
                    Err(e) => return Response::text(400, format!("bad filter regex: {e}\n")),
                },
            };
            if json {
                Response::new(200, JSON, render::stats_json(admin, filter.as_ref()))
            } else {
                Response::text(200, render::stats_text(admin, filter.as_ref()))
            }
        }
        "/stats/prometheus" => Response::new(200, PROMETHEUS, render::prometheus(admin)),
        "/clusters" => {
            if json {
                Response::new(200, JSON, render::clusters_json(admin))
            } else {
                Response::text(200, render::clusters_text(admin))
            }
        }
        "/config_dump" => Response::new(200, JSON, render::config_dump(&admin.config())),
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
            if stats.is_live() {
                Response::text(200, "LIVE\n")
            } else {
                Response::text(503, "DRAINING\n")
            }
        }
        "/healthcheck/fail" => {
            stats.health_failed.store(true, Ordering::Relaxed);
            Response::text(200, "OK\n")
        }
        "/healthcheck/ok" => {
            stats.health_failed.store(false, Ordering::Relaxed);
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
                Err(e) => Response::text(400, format!("reload rejected: {e}\n")),
            },
        },
        "/quitquitquit" => Response {
            after: Some(|admin: &Admin| {
                tracing::info!("/quitquitquit: draining");
                admin.stats.shutdown.store(true, Ordering::Relaxed);
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
