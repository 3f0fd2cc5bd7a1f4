//! TLS termination through the real binary, with real clients: a rustls
//! client (SNI, ALPN, versions, resumption, client certificates), curl and
//! openssl s_client, plaintext and garbage on a TLS
//! port, a handshake that never completes, and certificate reloads.

#[macro_use]
mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    sync::Arc,
};

use support::{
    admin::{stat, stats},
    tls::*,
    *,
};

driver_tests!(
    https_keep_alive_says_https_upstream,
    sni_picks_the_certificate_and_falls_back_to_the_first,
    tls12_and_tls13_are_both_served_and_counted,
    a_client_offering_only_h2_fails_the_handshake,
    plaintext_http_on_a_tls_port_is_closed_and_counted,
    garbage_records_close_the_connection,
    a_silent_handshake_is_closed_after_the_timeout,
    sessions_resume,
    client_certificates_required,
    certificate_reload_keeps_established_connections,
    curl_and_openssl_speak_to_it,
    upstream_tls_with_a_private_ca,
    upstream_tls_verification_failures_are_503_with_the_reason,
    tls_in_and_tls_out,
    access_log_names_the_tls_session,
    handshakes_over_the_bound_are_closed,
    upgrades_tunnel_over_tls,
    large_and_small_responses_alternate_over_tls,
);

/// A test's PKI and the files ringway loads.
struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
    a: Leaf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = TestCa::new("ringway test CA");
        let a = ca.issue(dir.path(), "a", &["a.test"]);
        Pki { dir, ca, a }
    }

    fn client(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        Arc::new(self.ca.client_config(alpn))
    }
}

/// A listener block's `tls:` lines (indented for `config`) over `certs`.
fn tls_block(certs: &[&Leaf], extra: &str) -> String {
    let mut s = String::from("    tls:\n      certificates:\n");
    for c in certs {
        s.push_str(&format!(
            "        - {{ cert_chain: \"{}\", private_key: \"{}\" }}\n",
            c.cert_path, c.key_path
        ));
    }
    s.push_str(extra);
    s
}

fn start_tls(d: Driver, certs: &[&Leaf], extra: &str, up: &Upstream) -> Ringway {
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config(
            &tls_block(certs, extra),
            &catch_all("c", ""),
            &cluster("c", &[up.addr])
        )
    );
    Ringway::start(d, &yaml)
}

fn https_keep_alive_says_https_upstream(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[b"http/1.1"]));
    assert_eq!(c.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    for i in 0..3 {
        let r = c.get("a.test", &format!("/k/{i}"));
        assert_eq!(r.status, 200, "{}", r.body_str());
    }
    // A body both ways, over the same connection.
    let r = c.roundtrip(b"POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello");
    let seen = up.wait_requests(4);
    assert!(seen
        .iter()
        .all(|r| r.header("x-forwarded-proto") == Some("https")));
    assert_eq!(up.accepted(), 1, "one upstream connection, kept alive");
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.ssl.handshake"), 1);
    assert_eq!(stat(&st, "http.ingress.ssl.versions.TLSv1_3"), 1);
    assert_eq!(stat(&st, "http.ingress.ssl.no_certificate"), 1);
    // The admin's /certs lists the certificate, as Envoy's does.
    let certs = support::admin::get(rw.admin(), "/certs");
    assert_eq!(certs.status, 200);
    let json: serde_json::Value = serde_json::from_str(&certs.body_str()).unwrap();
    let chain = &json["certificates"][0]["cert_chain"][0];
    assert_eq!(chain["path"], pki.a.cert_path.as_str(), "{json}");
    assert!(chain["serial_number"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(chain["days_until_expiration"].as_str().is_some(), "{json}");
}

fn sni_picks_the_certificate_and_falls_back_to_the_first(d: Driver) {
    let pki = Pki::new();
    let wild = pki.ca.issue(pki.dir.path(), "wild", &["*.b.test"]);
    let exact = pki.ca.issue(pki.dir.path(), "exact", &["exact.b.test"]);
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a, &wild, &exact], "", &up);
    let client = pki.client(&[b"http/1.1"]);
    let cn = |sni: &str| peer_common_name(&tls_connect(rw.addr(), sni, &client));
    assert_eq!(cn("a.test"), "a.test");
    assert_eq!(
        cn("x.b.test"),
        "*.b.test",
        "a wildcard SAN matches one label"
    );
    assert_eq!(
        cn("exact.b.test"),
        "exact.b.test",
        "an exact name beats a wildcard"
    );
    // An IP address sends no SNI: the first certificate answers (and the
    // client, asked to verify 127.0.0.1, refuses it — which proves which one came).
    let no_sni = try_tls_connect(rw.addr(), "127.0.0.1", &client);
    assert!(no_sni.is_err(), "the default certificate has no IP SAN");
    let mut c = tls_connect(rw.addr(), "x.b.test", &client);
    assert_eq!(c.get("x.b.test", "/").status, 200);
}

fn tls12_and_tls13_are_both_served_and_counted(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let v12 = Arc::new(
        pki.ca
            .client_config_for(&[], &[&rustls::version::TLS12], None),
    );
    let mut c = tls_connect(rw.addr(), "a.test", &v12);
    assert_eq!(
        c.stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(c.get("a.test", "/").status, 200);
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[]));
    assert_eq!(c.get("a.test", "/").status, 200);
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.ssl.versions.TLSv1_2"), 1);
    assert_eq!(stat(&st, "http.ingress.ssl.versions.TLSv1_3"), 1);
    assert_eq!(stat(&st, "http.ingress.ssl.handshake"), 2);
}

fn a_client_offering_only_h2_fails_the_handshake(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    // HTTP/2 is offered by default (tests/h2.rs); this listener offers only HTTP/1.1.
    let rw = start_tls(d, &[&pki.a], "      alpn: [http/1.1]\n", &up);
    let e = try_tls_connect(rw.addr(), "a.test", &pki.client(&[b"h2"]))
        .err()
        .expect("no common protocol: the handshake fails");
    assert!(
        e.to_string().contains("NoApplicationProtocol")
            || e.to_string().contains("no_application_protocol"),
        "{e}"
    );
    let st = wait_for("the failure counted", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.ssl.connection_error") == 1).then_some(st)
    });
    assert_eq!(stat(&st, "http.ingress.ssl.handshake"), 0);
    assert_eq!(up.request_count(), 0);
}

fn plaintext_http_on_a_tls_port_is_closed_and_counted(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let mut c = Client::connect(rw.addr());
    c.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    c.expect_closed();
    wait_for("the plaintext request counted", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.ssl.plaintext_rejected") == 1).then_some(())
    });
    assert_eq!(up.request_count(), 0);
    // TLS clients are still served.
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[]));
    assert_eq!(c.get("a.test", "/").status, 200);
}

fn garbage_records_close_the_connection(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    // A handshake record header announcing a ClientHello, then nonsense.
    let mut c = Client::connect(rw.addr());
    let mut garbage = vec![0x16, 0x03, 0x01, 0x00, 0x40];
    garbage.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    c.send(&garbage);
    // ringway may answer with an alert before it closes; then nothing more.
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    assert!(rest.len() < 64, "at most an alert: {rest:?}");
    wait_for("the failure counted", || {
        let st = stats(rw.admin());
        (stat(&st, "http.ingress.ssl.connection_error") == 1).then_some(())
    });
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[]));
    assert_eq!(c.get("a.test", "/").status, 200);
}

fn a_silent_handshake_is_closed_after_the_timeout(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "      handshake_timeout: 300ms\n", &up);
    let mut silent = TcpStream::connect(rw.addr()).unwrap();
    silent.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    // Nothing sent: ringway gives up and closes (read sees EOF, not our timeout).
    let n = silent
        .read(&mut buf)
        .expect("closed by ringway, not timed out here");
    assert_eq!(n, 0);
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.ssl.handshake_timeout"), 1);
}

fn sessions_resume(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        // One client config keeps its session store across connections.
        let client = Arc::new(pki.ca.client_config_for(&[], versions, None));
        let mut first = tls_connect(rw.addr(), "a.test", &client);
        assert_eq!(first.get("a.test", "/").status, 200);
        assert_eq!(
            first.stream.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
        drop(first);
        let mut second = tls_connect(rw.addr(), "a.test", &client);
        assert_eq!(second.get("a.test", "/").status, 200);
        assert_eq!(
            second.stream.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "{versions:?}"
        );
    }
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "http.ingress.ssl.session_reused"), 2);
}

fn client_certificates_required(d: Driver) {
    let pki = Pki::new();
    let ca_path = pki.ca.write(pki.dir.path());
    let up = Upstream::echo("up");
    let extra = format!("      client_ca: \"{ca_path}\"\n      require_client_certificate: true\n");
    let rw = start_tls(d, &[&pki.a], &extra, &up);
    let anonymous = pki.client(&[]);
    let refused = try_tls_connect(rw.addr(), "a.test", &anonymous).and_then(|mut c| {
        // TLS 1.3: the client learns of the refusal on its first read.
        c.stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .ok();
        match c.try_read_response(false) {
            Ok(r) => Ok(r.status),
            Err(_) => Err(rustls::Error::General("refused".into())),
        }
    });
    assert!(refused.is_err(), "no certificate, no service: {refused:?}");
    let me = pki.ca.issue(pki.dir.path(), "client", &["client.test"]);
    let with_cert = Arc::new(
        pki.ca
            .client_config_for(&[], rustls::ALL_VERSIONS, Some(&me)),
    );
    let mut c = tls_connect(rw.addr(), "a.test", &with_cert);
    assert_eq!(c.get("a.test", "/").status, 200);
    assert_eq!(up.request_count(), 1);
}

fn certificate_reload_keeps_established_connections(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let client = pki.client(&[]);
    let mut established = tls_connect(rw.addr(), "a.test", &client);
    assert_eq!(established.get("a.test", "/before").status, 200);
    let serial_of = |c: &TlsClient| c.stream.conn.peer_certificates().unwrap()[0].to_vec();
    let old = serial_of(&established);

    // A renewed certificate in the same files: the next connections get it.
    let renewed = pki.ca.issue(pki.dir.path(), "a", &["a.test"]);
    assert_eq!(rw.sighup(), Reload::Accepted, "{}", rw.stderr());
    let fresh = wait_for("the renewed certificate served", || {
        let c = tls_connect(rw.addr(), "a.test", &client);
        (serial_of(&c) != old).then_some(c)
    });
    assert_eq!(
        fresh.stream.conn.peer_certificates().unwrap()[0].to_vec(),
        {
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::from_pem_slice(renewed.cert_pem.as_bytes())
                .unwrap()
                .to_vec()
        }
    );
    assert_eq!(
        established.get("a.test", "/after").status,
        200,
        "an established connection is untouched by the reload"
    );

    // A key that does not match its certificate: refused, the renewed one stays.
    let other = pki.ca.issue(pki.dir.path(), "other", &["a.test"]);
    std::fs::write(&renewed.key_path, &other.key_pem).unwrap();
    assert_eq!(rw.sighup(), Reload::Rejected);
    assert!(
        rw.stderr().contains(&renewed.key_path),
        "the error names the file"
    );
    let mut c = tls_connect(rw.addr(), "a.test", &client);
    assert_eq!(c.get("a.test", "/").status, 200);
}

fn curl_and_openssl_speak_to_it(d: Driver) {
    let pki = Pki::new();
    let ca_path = pki.ca.write(pki.dir.path());
    let up = Upstream::echo("up");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let port = rw.addr().port();
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &ca_path, "--resolve"])
        .arg(format!("a.test:{port}:127.0.0.1"))
        .arg(format!("https://a.test:{port}/curl"))
        .args(["-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}"])
        .output()
        .expect("curl (installed by .ci/run)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "200 0",
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let openssl = Command::new("openssl")
        .args([
            "s_client",
            "-brief",
            "-ign_eof",
            "-servername",
            "a.test",
            "-CAfile",
            &ca_path,
        ])
        .arg("-connect")
        .arg(rw.addr().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (installed by .ci/run)");
    {
        let mut child = openssl;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /openssl HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "openssl: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("Verification: OK"));
    }
}

/// A cluster whose `tls` block is `tls` (indented for a cluster), to `up`.
fn tls_cluster_config(up: &TlsUpstream, tls: &str) -> String {
    let cluster = format!("  - name: c\n    hosts: [\"{}\"]\n    tls:\n{tls}", up.addr);
    format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        config("", &catch_all("c", ""), &cluster)
    )
}

fn upstream_tls_with_a_private_ca(d: Driver) {
    let pki = Pki::new();
    let ca = pki.ca.write(pki.dir.path());
    let leaf = pki.ca.issue(pki.dir.path(), "up", &["up.test"]);
    let up = TlsUpstream::start("secure", &leaf);
    let tls = format!("      sni: up.test\n      verify: {{ ca: \"{ca}\" }}\n");
    let rw = Ringway::start(d, &tls_cluster_config(&up, &tls));
    let mut c = Client::connect(rw.addr());
    for _ in 0..3 {
        let r = c.get("h", "/");
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.body_str(), "secure");
        assert_eq!(r.header("x-seen-sni"), Some("up.test"));
        assert_eq!(r.header("x-seen-forwarded-proto"), Some("http"));
    }
    assert_eq!(up.accepted(), 1, "the TLS connection is pooled and reused");
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.ssl.handshake"), 1);
}

fn upstream_tls_verification_failures_are_503_with_the_reason(d: Driver) {
    let pki = Pki::new();
    let leaf = pki.ca.issue(pki.dir.path(), "up", &["up.test"]);
    let up = TlsUpstream::start("secure", &leaf);
    // Trusting another CA: the chain does not verify.
    let stranger = TestCa::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let other_ca = stranger.write(dir.path());
    let tls = format!("      sni: up.test\n      verify: {{ ca: \"{other_ca}\" }}\n");
    let rw = Ringway::start(d, &tls_cluster_config(&up, &tls));
    let r = get(rw.addr(), "h", "/");
    assert_eq!(r.status, 503);
    assert!(
        r.body_str()
            .contains("TLS error: certificate verify failed"),
        "{}",
        r.body_str()
    );
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.ssl.fail_verify_error"), 1);
    assert_eq!(stat(&st, "cluster.c.upstream_cx_connect_fail"), 1);
    drop(rw);

    // The right CA, the wrong name.
    let ca = pki.ca.write(pki.dir.path());
    let tls = format!("      sni: other.test\n      verify: {{ ca: \"{ca}\" }}\n");
    let rw = Ringway::start(d, &tls_cluster_config(&up, &tls));
    let r = get(rw.addr(), "h", "/");
    assert_eq!(r.status, 503);
    assert!(
        r.body_str().contains("not valid for the requested name"),
        "{}",
        r.body_str()
    );
    let st = stats(rw.admin());
    assert_eq!(stat(&st, "cluster.c.ssl.fail_verify_san"), 1);
}

fn tls_in_and_tls_out(d: Driver) {
    let pki = Pki::new();
    let ca = pki.ca.write(pki.dir.path());
    let leaf = pki.ca.issue(pki.dir.path(), "up", &["up.test"]);
    let up = TlsUpstream::start("both", &leaf);
    let cluster = format!(
        "  - name: c\n    hosts: [\"{}\"]\n    tls:\n      sni: up.test\n      verify: {{ ca: \"{ca}\" }}\n",
        up.addr
    );
    let yaml = config(&tls_block(&[&pki.a], ""), &catch_all("c", ""), &cluster);
    let rw = Ringway::start(d, &yaml);
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[]));
    let r = c.get("a.test", "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-seen-forwarded-proto"), Some("https"));
}

fn access_log_names_the_tls_session(d: Driver) {
    let pki = Pki::new();
    let ca_path = pki.ca.write(pki.dir.path());
    let log = pki.dir.path().join("access.log");
    let up = Upstream::echo("up");
    let extra = format!("      client_ca: \"{ca_path}\"\n");
    let listener = format!(
        "{}    access_log:\n      path: \"{}\"\n      format: \"%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% %REQUESTED_SERVER_NAME% [%DOWNSTREAM_PEER_SUBJECT%] %PROTOCOL%\\n\"\n",
        tls_block(&[&pki.a], &extra),
        log.display()
    );
    let rw = Ringway::start(
        d,
        &config(&listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let me = pki.ca.issue(pki.dir.path(), "client", &["client.test"]);
    let with_cert = Arc::new(
        pki.ca
            .client_config_for(&[], &[&rustls::version::TLS13], Some(&me)),
    );
    let mut c = tls_connect(rw.addr(), "a.test", &with_cert);
    assert_eq!(c.get("a.test", "/").status, 200);
    let v12 = Arc::new(
        pki.ca
            .client_config_for(&[], &[&rustls::version::TLS12], None),
    );
    let mut c = tls_connect(rw.addr(), "a.test", &v12);
    assert_eq!(c.get("a.test", "/").status, 200);
    let lines = wait_for("two access log lines", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    });
    let lines: Vec<&str> = lines.lines().collect();
    assert!(
        lines.contains(&"TLSv1.3 TLS_AES_256_GCM_SHA384 a.test [CN=client.test] HTTP/1.1")
            || lines.contains(&"TLSv1.3 TLS_AES_128_GCM_SHA256 a.test [CN=client.test] HTTP/1.1"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("TLSv1.2 ECDHE-ECDSA-") && l.ends_with("a.test [-] HTTP/1.1")),
        "{lines:?}"
    );
}

/// `max_concurrent_handshakes`: while one handshake is pending, a second
/// connection is closed at once and counted; established work goes on, and
/// once the pending one times out a new handshake is taken.
fn handshakes_over_the_bound_are_closed(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::echo("up");
    let extra = "      max_concurrent_handshakes: 1\n      handshake_timeout: 500ms\n";
    let rw = start_tls(d, &[&pki.a], extra, &up);
    let client = pki.client(&[]);
    let mut established = tls_connect(rw.addr(), "a.test", &client);
    // A connection that never says hello holds the one handshake place, so a
    // real client is turned away while it lasts. Which of two connections that
    // arrive together is served first is the scheduler's choice: open silent
    // ones until one of them holds the place when the real client comes.
    let mut silent = Vec::new();
    wait_for("a real client turned away by a pending handshake", || {
        let s = TcpStream::connect(rw.addr()).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        silent.push(s);
        try_tls_connect(rw.addr(), "a.test", &client)
            .err()
            .map(|_| ())
    });
    let st = stats(rw.admin());
    assert!(stat(&st, "http.ingress.ssl.handshake_overflow") >= 1);
    assert_eq!(established.get("a.test", "/still").status, 200);
    // The silent ones time out (or were turned away); the place is free again.
    for mut s in silent {
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
    let mut c = tls_connect(rw.addr(), "a.test", &client);
    assert_eq!(c.get("a.test", "/").status, 200);
}

/// A WebSocket-style upgrade over a TLS client connection: the 101 is relayed
/// and bytes flow both ways through the one-task tunnel until the client closes.
fn upgrades_tunnel_over_tls(d: Driver) {
    let pki = Pki::new();
    let up = upgrade_echo_upstream(b"hello;");
    let rw = start_tls(d, &[&pki.a], "", &up);
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[]));
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    let r = c.try_read_response(true).expect("101");
    assert_eq!(r.status, 101);
    assert_eq!(c.read_exact_raw(6), b"hello;");
    for msg in ["ping", "\0binary\r\n\r\n", "last"] {
        c.send(msg.as_bytes());
        let want = format!("echo:{msg}");
        assert_eq!(c.read_exact_raw(want.len()), want.as_bytes());
    }
    // The client's close_notify ends the client's direction; the upstream then
    // closes, and so does the tunnel.
    c.stream.conn.send_close_notify();
    c.stream.flush().unwrap();
    assert!(c.is_closed(), "the tunnel closes after both ends did");
}

/// A TLS client takes no gathered writes: a response head and the body bytes
/// behind it are copied into one buffer for its session. Sizes around a
/// regular read buffer and past a body-sized one, large after small and back,
/// on one connection, each arrive whole.
fn large_and_small_responses_alternate_over_tls(d: Driver) {
    let pki = Pki::new();
    let up = Upstream::start("up", |r| {
        let n: usize = r.target.trim_start_matches('/').parse().unwrap();
        let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        let start = out.len();
        out.resize(start + n, 0);
        fill_pattern(&mut out[start..], 0);
        Reply::Bytes(out)
    });
    let rw = start_tls(d, &[&pki.a], "", &up);
    let mut c = tls_connect(rw.addr(), "a.test", &pki.client(&[b"http/1.1"]));
    for n in [100, 70_000, 65_536, 100, 20_000, 90_000, 16_384, 1] {
        let r = c.get("a.test", &format!("/{n}"));
        assert_eq!(r.status, 200, "{n}");
        let mut want = vec![0u8; n];
        fill_pattern(&mut want, 0);
        assert!(
            r.body == want,
            "{n}: {} bytes, or other bytes",
            r.body.len()
        );
    }
}
