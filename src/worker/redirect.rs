//! The `location` of a route's `redirect`, written from the request's URL with
//! the parts the route replaces, following Envoy's `Http::Utility::newUri`:
//!
//! - scheme: the route's, else the one the request arrived with;
//! - host: the route's, else the request's `Host`, whose port is dropped when
//!   the route gives a port, or when the scheme changes and the port was the
//!   old scheme's default (`http://a:80` → `https://a`);
//! - port: the route's, appended to the host;
//! - path: the route's path (its own query wins over the request's, and is never
//!   stripped), or the matched prefix rewritten, or the request's; `strip_query`
//!   drops the request's query.
//!
//! Written into a reused buffer: no allocation once it has grown.

use crate::{
    codec::encode::{write_dec, Scheme},
    config::{RedirectAction, RedirectPath},
};

/// The parts of the request a redirect is built from.
pub struct RequestUrl<'a> {
    pub scheme: Scheme,
    /// `Host` (or the absolute-form authority); `None` for HTTP/1.0 without one.
    pub host: Option<&'a [u8]>,
    /// Path and query as received.
    pub target: &'a [u8],
    /// Bytes of the path the route's match consumed.
    pub matched_len: usize,
}

const LOCATION: &[u8] = b"location: ";

/// Append the whole `location: URL\r\n` line to `out`.
pub fn write_location(out: &mut Vec<u8>, redirect: &RedirectAction, url: &RequestUrl<'_>) {
    out.extend_from_slice(LOCATION);
    let scheme = match &redirect.scheme {
        Some(s) => s.as_bytes(),
        None => scheme_word(url.scheme),
    };
    out.extend_from_slice(scheme);
    out.extend_from_slice(b"://");
    match &redirect.host {
        Some(h) => out.extend_from_slice(h.as_bytes()),
        None => out.extend_from_slice(request_host(url, scheme, redirect.port.is_some())),
    }
    if let Some(port) = redirect.port {
        out.push(b':');
        write_dec(out, u64::from(port));
    }
    let path_start = out.len();
    let own_query = write_path(out, redirect, url);
    if out.get(path_start) != Some(&b'/') {
        out.insert(path_start, b'/');
    }
    if redirect.strip_query && !own_query {
        if let Some(q) = out[path_start..].iter().position(|&b| b == b'?') {
            out.truncate(path_start + q);
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn scheme_word(scheme: Scheme) -> &'static [u8] {
    match scheme {
        Scheme::Http => b"http",
        Scheme::Https => b"https",
    }
}

/// The request's host, its port dropped as Envoy's `processRequestHost` does.
fn request_host<'a>(url: &RequestUrl<'a>, new_scheme: &[u8], new_port: bool) -> &'a [u8] {
    let Some(host) = url.host else {
        return b"";
    };
    // The port is after the last colon, except inside a bare IPv6 literal.
    let port_at = match host.first() {
        Some(b'[') => find_last(host, b"]:").map(|i| i + 1),
        _ => host.iter().rposition(|&b| b == b':'),
    };
    let Some(at) = port_at else {
        return host;
    };
    let port = &host[at..];
    let old_scheme = scheme_word(url.scheme);
    let default_port: &[u8] = match url.scheme {
        Scheme::Http => b":80",
        Scheme::Https => b":443",
    };
    let scheme_changed = !new_scheme.eq_ignore_ascii_case(old_scheme);
    if new_port || (scheme_changed && port == default_port) {
        &host[..at]
    } else {
        host
    }
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Write the path (and query); true when the query is the route's own.
fn write_path(out: &mut Vec<u8>, redirect: &RedirectAction, url: &RequestUrl<'_>) -> bool {
    let query_at = url.target.iter().position(|&b| b == b'?');
    match &redirect.path {
        RedirectPath::Keep => out.extend_from_slice(url.target),
        RedirectPath::Replace(p) if p.contains('?') => {
            out.extend_from_slice(p.as_bytes());
            return true;
        }
        RedirectPath::Replace(p) => {
            out.extend_from_slice(p.as_bytes());
            if let Some(q) = query_at {
                out.extend_from_slice(&url.target[q..]);
            }
        }
        RedirectPath::PrefixRewrite(p) => {
            out.extend_from_slice(p.as_bytes());
            let rest = url.target.get(url.matched_len..).unwrap_or_default();
            out.extend_from_slice(rest);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> RedirectAction {
        RedirectAction {
            scheme: None,
            host: None,
            port: None,
            path: RedirectPath::Keep,
            strip_query: false,
            status: 301,
        }
    }

    fn location(
        r: &RedirectAction,
        scheme: Scheme,
        host: &str,
        target: &str,
        matched: usize,
    ) -> String {
        let mut out = Vec::new();
        let url = RequestUrl {
            scheme,
            host: Some(host.as_bytes()),
            target: target.as_bytes(),
            matched_len: matched,
        };
        write_location(&mut out, r, &url);
        let text = String::from_utf8(out).unwrap();
        text.strip_prefix("location: ")
            .and_then(|t| t.strip_suffix("\r\n"))
            .unwrap()
            .to_string()
    }

    #[test]
    fn https_redirect_drops_the_default_port_of_the_old_scheme() {
        let r = RedirectAction {
            scheme: Some("https".into()),
            ..action()
        };
        let http = Scheme::Http;
        assert_eq!(
            location(&r, http, "a.test", "/x?y=1", 0),
            "https://a.test/x?y=1"
        );
        assert_eq!(location(&r, http, "a.test:80", "/x", 0), "https://a.test/x");
        assert_eq!(
            location(&r, http, "a.test:8080", "/x", 0),
            "https://a.test:8080/x"
        );
        assert_eq!(location(&r, http, "[::1]:80", "/", 0), "https://[::1]/");
        assert_eq!(location(&r, http, "[::1]", "/", 0), "https://[::1]/");
    }

    #[test]
    fn the_same_scheme_keeps_the_port_and_a_new_port_replaces_it() {
        let keep = action();
        assert_eq!(
            location(&keep, Scheme::Http, "a.test:80", "/x", 0),
            "http://a.test:80/x"
        );
        let port = RedirectAction {
            port: Some(8443),
            ..action()
        };
        assert_eq!(
            location(&port, Scheme::Https, "a.test:443", "/", 0),
            "https://a.test:8443/"
        );
        let host = RedirectAction {
            host: Some("b.test".into()),
            port: Some(81),
            ..action()
        };
        assert_eq!(
            location(&host, Scheme::Http, "a.test:80", "/p", 0),
            "http://b.test:81/p"
        );
    }

    #[test]
    fn paths_and_queries() {
        let replace = RedirectAction {
            path: RedirectPath::Replace("/new".into()),
            ..action()
        };
        assert_eq!(
            location(&replace, Scheme::Http, "h", "/old?q=1", 0),
            "http://h/new?q=1"
        );
        let own_query = RedirectAction {
            path: RedirectPath::Replace("/new?mine".into()),
            strip_query: true,
            ..action()
        };
        assert_eq!(
            location(&own_query, Scheme::Http, "h", "/old?q=1", 0),
            "http://h/new?mine"
        );
        let rewrite = RedirectAction {
            path: RedirectPath::PrefixRewrite("/v2/".into()),
            strip_query: true,
            ..action()
        };
        assert_eq!(
            location(&rewrite, Scheme::Http, "h", "/v1/a/b?q=1", 4),
            "http://h/v2/a/b"
        );
        let to_root = RedirectAction {
            path: RedirectPath::PrefixRewrite("/".into()),
            ..action()
        };
        assert_eq!(
            location(&to_root, Scheme::Http, "h", "/old/x", 5),
            "http://h/x"
        );
        let strip = RedirectAction {
            strip_query: true,
            ..action()
        };
        assert_eq!(location(&strip, Scheme::Http, "h", "/a?b", 0), "http://h/a");
    }
}
