//! Byte counters, per-protocol connection counts and upstream connection
//! lifetimes through the real binary: known request and response sizes over
//! HTTP/1.1 and HTTP/2, plaintext and TLS (curl as the client), to HTTP/1.1
//! and HTTP/2 upstreams. Bytes are counted at the socket, so each counter is
//! at least the payload that crossed it (headers, framing and TLS records
//! come on top); the counts of connections are exact.

#[macro_use]
mod support;

use std::{collections::HashMap, net::SocketAddr};

use support::{
    admin::{scrape, stat, stats},
    h2_client::curl,
    h2_upstream::{H2Behaviour, H2Upstream},
    tls::TestCa,
    *,
};

driver_tests!(
    plaintext_http1_and_http2_count_their_bytes_and_protocols,
    tls_counts_ciphertext_and_alpn_protocols,
    http2_upstream_connections_count_their_protocol_and_lifetime,
    tunnel_bytes_count_both_ways,
);

/// The body each request sends (and the echo upstream sends back).
const BODY: usize = 100_000;

/// POST the `BODY`-byte file at `body` to `url` and expect it back (`extra`:
/// protocol and TLS options).
fn post_echo(url: &str, body: &str, extra: &[&str]) {
    let data = format!("@{body}");
    let mut args = vec![
        "--data-binary",
        &data,
        "-o",
        "/dev/null",
        "-w",
        "%{response_code} %{size_download}",
    ];
    args.extend(extra);
    args.push(url);
    assert_eq!(curl(&args), format!("200 {BODY}"), "{url} {extra:?}");
}

fn body_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("body.bin");
    std::fs::write(&path, vec![b'x'; BODY]).unwrap();
    path.display().to_string()
}

fn yaml(listener_extra: &str, clusters: &str) -> String {
    format!(
        "stats: {{ naming: envoy }}\nadmin: {{ address: 127.0.0.1:0 }}\n{}",
        config(listener_extra, &catch_all("c", ""), clusters)
    )
}

/// `/stats` once every client connection has closed.
fn settled(admin: SocketAddr) -> HashMap<String, String> {
    wait_for("client connections closed", || {
        let s = stats(admin);
        (stat(&s, "server.total_connections") == 0).then_some(s)
    })
}

/// The observation count of a Prometheus histogram (its `+Inf` bucket).
fn histogram_count(admin: SocketAddr, metric: &str, label: (&str, &str)) -> f64 {
    let scrape = scrape(admin);
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
        .unwrap_or_else(|| panic!("no histogram {metric}"));
    match &s.value {
        prometheus_parse::Value::Histogram(b) => {
            b.iter().find(|b| b.less_than.is_infinite()).unwrap().count
        }
        other => panic!("{metric}: {other:?}"),
    }
}

/// Each byte counter moved by at least `payload` (each direction carried it).
fn check_bytes(s: &HashMap<String, String>, listener: &str, payload: u64) {
    for name in [
        format!("http.{listener}.downstream_cx_rx_bytes_total"),
        format!("http.{listener}.downstream_cx_tx_bytes_total"),
        "cluster.c.upstream_cx_rx_bytes_total".to_string(),
        "cluster.c.upstream_cx_tx_bytes_total".to_string(),
    ] {
        assert!(
            stat(s, &name) >= payload,
            "{name} = {} < {payload}",
            stat(s, &name)
        );
    }
    // What ringway forwarded it read: the upstream got no more than the
    // client sent plus what ringway adds to each head (small, bounded).
    let down_rx = stat(s, &format!("http.{listener}.downstream_cx_rx_bytes_total"));
    let up_tx = stat(s, "cluster.c.upstream_cx_tx_bytes_total");
    assert!(
        up_tx < down_rx + 4096,
        "upstream tx {up_tx}, downstream rx {down_rx}"
    );
}

fn plaintext_http1_and_http2_count_their_bytes_and_protocols(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let body = body_file(&dir);
    // The upstream closes each connection after its response.
    let up = Upstream::start("u1", |r| {
        let reply = String::from_utf8(echo_response("u1", r)).unwrap();
        Reply::BytesThenClose(
            reply
                .replacen("\r\n", "\r\nconnection: close\r\n", 1)
                .into(),
        )
    });
    let rw = Ringway::start(d, &yaml("", &cluster("c", &[up.addr])));
    let url = format!("http://{}/echo", rw.addr());
    post_echo(&url, &body, &["--http1.1"]);
    post_echo(&url, &body, &["--http2-prior-knowledge"]);
    let admin = rw.admin();
    let s = wait_for("two upstream connections closed", || {
        let s = settled(admin);
        (stat(&s, "cluster.c.upstream_cx_destroy") == 2).then_some(s)
    });
    check_bytes(&s, "ingress", 2 * BODY as u64);
    for (name, want) in [
        ("http.ingress.downstream_cx_http1_total", 1),
        ("http.ingress.downstream_cx_http2_total", 1),
        ("http.ingress.downstream_cx_http1_active", 0),
        ("http.ingress.downstream_cx_http2_active", 0),
        ("cluster.c.upstream_cx_total", 2),
        ("cluster.c.upstream_cx_http1_total", 2),
        ("cluster.c.upstream_cx_http2_total", 0),
    ] {
        assert_eq!(stat(&s, name), want, "{name}");
    }
    let cluster = ("envoy_cluster_name", "c");
    assert_eq!(
        histogram_count(admin, "envoy_cluster_upstream_cx_length_ms", cluster),
        2.0
    );
    let scrape = scrape(admin);
    let hcm = ("envoy_http_conn_manager_prefix", "ingress");
    for (metric, label) in [
        ("envoy_http_downstream_cx_rx_bytes_total", hcm),
        ("envoy_http_downstream_cx_tx_bytes_total", hcm),
        ("envoy_http_downstream_cx_http1_total", hcm),
        ("envoy_http_downstream_cx_http2_active", hcm),
        ("envoy_cluster_upstream_cx_rx_bytes_total", cluster),
        ("envoy_cluster_upstream_cx_tx_bytes_total", cluster),
        ("envoy_cluster_upstream_cx_http1_total", cluster),
        ("envoy_cluster_upstream_cx_destroy", cluster),
    ] {
        admin::sample(&scrape, metric, label);
    }
    rw.stop();
}

fn tls_counts_ciphertext_and_alpn_protocols(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let body = body_file(&dir);
    let ca = TestCa::new("bytes test CA");
    let leaf = ca.issue(dir.path(), "a", &["a.test"]);
    let ca_path = ca.write(dir.path());
    let up = Upstream::echo("u1");
    let tls = format!(
        "    tls:\n      certificates:\n        - {{ cert_chain: \"{}\", private_key: \"{}\" }}\n",
        leaf.cert_path, leaf.key_path
    );
    let rw = Ringway::start(d, &yaml(&tls, &cluster("c", &[up.addr])));
    let port = rw.addr().port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let url = format!("https://a.test:{port}/echo");
    let tls_args = ["--cacert", ca_path.as_str(), "--resolve", resolve.as_str()];
    let mut h1 = vec!["--http1.1"];
    h1.extend(tls_args);
    post_echo(&url, &body, &h1);
    let mut h2 = vec!["--http2"];
    h2.extend(tls_args);
    post_echo(&url, &body, &h2);
    let s = settled(rw.admin());
    check_bytes(&s, "ingress", 2 * BODY as u64);
    // Ciphertext: every record adds its header and tag, and the handshakes
    // (certificate included) come on top of the payload.
    let down_rx = stat(&s, "http.ingress.downstream_cx_rx_bytes_total");
    let down_tx = stat(&s, "http.ingress.downstream_cx_tx_bytes_total");
    let cert = leaf.cert_pem.len() as u64 / 2;
    assert!(down_tx > stat(&s, "cluster.c.upstream_cx_rx_bytes_total") + cert);
    assert!(down_rx > 2 * BODY as u64);
    for (name, want) in [
        ("http.ingress.downstream_cx_http1_total", 1),
        ("http.ingress.downstream_cx_http2_total", 1),
    ] {
        assert_eq!(stat(&s, name), want, "{name}");
    }
    // Envoy keeps TLS stats on the listener.
    let handshakes = format!("listener.127.0.0.1_{port}.ssl.handshake");
    assert_eq!(stat(&s, &handshakes), 2);
    rw.stop();
}

fn http2_upstream_connections_count_their_protocol_and_lifetime(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let body = body_file(&dir);
    // Each connection says GOAWAY after its first stream, and so closes.
    let up = H2Upstream::start(
        "h2",
        H2Behaviour {
            goaway_after: Some(1),
            ..Default::default()
        },
    );
    let clusters = format!("{}    protocol: http2\n", cluster("c", &[up.addr]));
    let rw = Ringway::start(d, &yaml("", &clusters));
    let url = format!("http://{}/echo", rw.addr());
    post_echo(&url, &body, &["--http1.1"]);
    post_echo(&url, &body, &["--http1.1"]);
    let admin = rw.admin();
    let s = wait_for("two HTTP/2 upstream connections closed", || {
        let s = settled(admin);
        (stat(&s, "cluster.c.upstream_cx_destroy") == 2).then_some(s)
    });
    check_bytes(&s, "ingress", 2 * BODY as u64);
    for (name, want) in [
        ("cluster.c.upstream_cx_total", 2),
        ("cluster.c.upstream_cx_http2_total", 2),
        ("cluster.c.upstream_cx_http1_total", 0),
        ("http.ingress.downstream_cx_http1_total", 2),
    ] {
        assert_eq!(stat(&s, name), want, "{name}");
    }
    let cluster = ("envoy_cluster_name", "c");
    assert_eq!(
        histogram_count(admin, "envoy_cluster_upstream_cx_length_ms", cluster),
        2.0
    );
    rw.stop();
}

/// After a 101 the tunnel's bytes count too, and the upstream connection's
/// close (when the tunnel ends) counts in `upstream_cx_destroy` and the
/// length histogram.
fn tunnel_bytes_count_both_ways(d: Driver) {
    let up = upgrade_echo_upstream(b"hi;");
    let rw = Ringway::start(d, &yaml("", &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    c.send(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(c.try_read_response(true).expect("101").status, 101);
    assert_eq!(c.read_exact_raw(3), b"hi;");
    let msg = vec![b'm'; 3000];
    for _ in 0..10 {
        c.send(&msg);
    }
    // The upstream echoes each read it makes behind an `echo:` prefix (no `m`
    // in it): read until every `m` is back.
    assert!(c.pending().is_empty());
    let (mut back, mut buf) = (0, [0u8; 4096]);
    while back < 10 * msg.len() {
        let n = std::io::Read::read(&mut c.stream, &mut buf).expect("tunnel read");
        assert!(n > 0, "the tunnel closed early");
        back += buf[..n].iter().filter(|&&b| b == b'm').count();
    }
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    c.expect_closed();
    let admin = rw.admin();
    let s = wait_for("the tunnel's upstream connection closed", || {
        let s = settled(admin);
        (stat(&s, "cluster.c.upstream_cx_destroy") == 1).then_some(s)
    });
    check_bytes(&s, "ingress", 10 * msg.len() as u64);
    let cluster = ("envoy_cluster_name", "c");
    assert_eq!(
        histogram_count(admin, "envoy_cluster_upstream_cx_length_ms", cluster),
        1.0
    );
}
