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

/// What the lenient parser does not check in a text exposition (0.0.4): one
/// `# TYPE` per family, valid names, every sample after its family's `# TYPE`
/// and before the next family's, no series twice, numeric values, and each
/// histogram with `_bucket{le=…}` (ending at `+Inf`), `_sum` and `_count`.
pub fn check_exposition(body: &str) {
    let name_ok = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut current: Option<(String, String)> = None;
    let mut series = std::collections::HashSet::new();
    let mut parts: HashMap<String, Vec<&str>> = HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(name_ok(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                declared.insert(name.into(), kind.into()).is_none(),
                "twice: {line}"
            );
            current = Some((name.into(), kind.into()));
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (series_id, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(series.insert(series_id.to_string()), "series twice: {line}");
        let name = line.split(['{', ' ']).next().unwrap();
        let (family, kind) = current
            .clone()
            .unwrap_or_else(|| panic!("before any # TYPE: {line}"));
        let part = if kind == "histogram" {
            let suffix = name.strip_prefix(family.as_str()).unwrap_or("?");
            assert!(
                ["_bucket", "_sum", "_count"].contains(&suffix),
                "not of {family}: {line}"
            );
            suffix
        } else {
            assert_eq!(name, family, "a sample away from its # TYPE: {line}");
            ""
        };
        if part == "_bucket" {
            assert!(series_id.contains("le=\""), "{line}");
        }
        parts
            .entry(family)
            .or_default()
            .push(if series_id.contains("le=\"+Inf\"") {
                "+Inf"
            } else {
                part
            });
    }
    for (family, kind) in &declared {
        let seen = parts
            .get(family)
            .unwrap_or_else(|| panic!("{family}: no samples"));
        if kind == "histogram" {
            for p in ["_bucket", "+Inf", "_sum", "_count"] {
                assert!(seen.contains(&p), "{family} has no {p}");
            }
        }
    }
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
