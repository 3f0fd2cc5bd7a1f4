//! Route matching beyond prefix and path, through the real binary: regex
//! paths, separated prefixes, case-insensitive matches, header and query
//! parameter tests, with the first declared matching route winning across
//! plain and conditional routes.

#[macro_use]
mod support;

use support::*;

driver_tests!(
    conditions_pick_the_first_declared_route,
    regex_rewrite_replaces_the_path_keeping_the_query,
);

fn conditions_pick_the_first_declared_route(d: Driver) {
    let names = ["canary", "api", "regex", "docs", "beta", "default"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::echo(n)).collect();
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: /, headers: [{ name: x-canary, exact: \"on\" }] }\n            cluster: canary\n\
        \x20         - match: { path_separated_prefix: /api }\n            cluster: api\n\
        \x20         - match: { safe_regex: \"/items/[0-9]+\" }\n            cluster: regex\n\
        \x20         - match: { prefix: /Docs, case_sensitive: false }\n            cluster: docs\n\
        \x20         - match: { prefix: /, query_parameters: [{ name: beta, present: true }] }\n            cluster: beta\n\
        \x20         - match: { prefix: / }\n            cluster: default\n";
    let clusters: String = ups.iter().map(|u| cluster(&u.name, &[u.addr])).collect();
    let rw = Ringway::start(d, &config("", vhosts, &clusters));
    let mut c = Client::connect(rw.addr());
    let mut via = |path: &str, headers: &str| {
        c.send(format!("GET {path} HTTP/1.1\r\nhost: a.test\r\n{headers}\r\n").as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, 200, "{path}");
        r.header("x-upstream").unwrap_or_default().to_string()
    };
    assert_eq!(
        via("/api/v1", "x-canary: on\r\n"),
        "canary",
        "the first route wins"
    );
    assert_eq!(via("/api", ""), "api");
    assert_eq!(via("/api/v1?x=1", ""), "api");
    assert_eq!(
        via("/apis", ""),
        "default",
        "a separated prefix stops at `/`"
    );
    assert_eq!(via("/items/42", ""), "regex");
    assert_eq!(
        via("/items/42x", ""),
        "default",
        "the regex matches the whole path"
    );
    assert_eq!(
        via("/items/42?beta", ""),
        "regex",
        "the query is not part of the path"
    );
    assert_eq!(via("/DOCS/intro", ""), "docs");
    assert_eq!(via("/docs", ""), "docs");
    assert_eq!(via("/x?a=1&beta", ""), "beta");
    assert_eq!(via("/x?betas=1", ""), "default");
    assert_eq!(via("/x", "x-canary: off\r\n"), "default");
}

/// Envoy's documented example: `^/service/([^/]+)(/.*)$` → `\2/instance/\1`.
fn regex_rewrite_replaces_the_path_keeping_the_query(d: Driver) {
    let up = Upstream::echo("up");
    let vhosts = "      - name: v\n        domains: [\"*\"]\n        routes:\n\
        \x20         - match: { prefix: /service/ }\n            cluster: up\n\
        \x20           regex_rewrite: { pattern: \"^/service/([^/]+)(/.*)$\", substitution: \"\\\\2/instance/\\\\1\" }\n";
    let rw = Ringway::start(d, &config("", vhosts, &cluster("up", &[up.addr])));
    let r = get(rw.addr(), "a.test", "/service/foo/v1/api?x=1");
    assert_eq!(r.header("x-seen-target"), Some("/v1/api/instance/foo?x=1"));
    // No match: the path goes as it came.
    let r = get(rw.addr(), "a.test", "/service/foo");
    assert_eq!(r.header("x-seen-target"), Some("/service/foo"));
}
