//! The admin endpoint from a test: one request per connection (as the admin
//! server wants), `/stats` and `/clusters` as maps, and Prometheus samples
//! read by a real exposition parser. The address is `Ringway::admin()`.

use std::{collections::HashMap, net::SocketAddr};

use super::{request, Client, Response};

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, "")
}

/// `POST path` as curl sends it: `Host` is the admin's address (the admin
/// refuses state changes addressed to any other host).
pub fn post(addr: SocketAddr, path: &str) -> Response {
    post_with(addr, path, &format!("host: {addr}\r\n"))
}

/// `POST path` with exactly the `headers` lines given (each ending in CRLF).
pub fn post_with(addr: SocketAddr, path: &str, headers: &str) -> Response {
    Client::connect(addr).roundtrip(
        format!("POST {path} HTTP/1.1\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// `/stats` as a map of `name → value` (histogram lines keep their text).
pub fn stats(admin: SocketAddr) -> HashMap<String, String> {
    let r = get(admin, "/stats");
    assert_eq!(r.status, 200);
    r.body_str()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A counter or gauge of `stats`; fails if missing or not a number.
pub fn stat(stats: &HashMap<String, String>, name: &str) -> u64 {
    stats
        .get(name)
        .unwrap_or_else(|| panic!("no stat {name}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// `/clusters` as `rest-of-line → value` (each line split at its last `::`).
pub fn clusters(admin: SocketAddr) -> HashMap<String, String> {
    let r = get(admin, "/clusters");
    assert_eq!(r.status, 200);
    r.body_str()
        .lines()
        .filter_map(|l| l.rsplit_once("::"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `/clusters?format=json`'s entry for `host` (by port) in `cluster`.
pub fn host_json(admin: SocketAddr, cluster: &str, host: SocketAddr) -> serde_json::Value {
    let r = get(admin, "/clusters?format=json");
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap();
    v["cluster_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == cluster)
        .unwrap()["host_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"]["socket_address"]["port_value"] == host.port())
        .cloned()
        .unwrap()
}

/// Parse a `/stats/prometheus` body with a real exposition parser.
pub fn parse_prometheus(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text exposition")
}

/// `/stats/prometheus`, answered 200 and parsed.
pub fn scrape(admin: SocketAddr) -> prometheus_parse::Scrape {
    let r = get(admin, "/stats/prometheus");
    assert_eq!(r.status, 200, "{}", r.body_str());
    parse_prometheus(&r.body_str())
}

/// The value of the sample `metric{label.0="label.1"}`. Fails if there is
/// none, or if it is not a counter or gauge declared by a `# TYPE` line.
pub fn sample(scrape: &prometheus_parse::Scrape, metric: &str, label: (&str, &str)) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
        .unwrap_or_else(|| panic!("no sample {metric}{{{}=\"{}\"}}", label.0, label.1));
    match &s.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => *v,
        other => panic!("{metric}: {other:?}"),
    }
}
