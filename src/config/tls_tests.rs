//! The native `tls:` blocks and `max_connections`: each rule's refusal names the
//! field and line; certificates load at validation, so a bad file is a config
//! error; warnings carry their line; `convert` output loads back.

use super::*;
use crate::tls::{
    testing::{expire_in_days, write, PkiFiles, TestCa, PKCS_ECDSA_P256_SHA256},
    Alpn, Cipher, ClientAuth, Group, SessionTickets, TlsVersion, Verify,
};

/// A listener on line 2, its `tls:` block from line 4, and a cluster after it.
fn config(listener_tls: &str, cluster_tls: &str) -> String {
    format!(
        "listeners:
  - address: 127.0.0.1:8443
    tls:
{listener_tls}    virtual_hosts:
      - domains: [\"*\"]
        routes:
          - match: {{ prefix: / }}
            cluster: backend
clusters:
  - name: backend
    hosts: [\"127.0.0.2:8443\"]
{cluster_tls}"
    )
}

fn certs(f: &PkiFiles) -> String {
    format!(
        "      certificates:\n        - cert_chain: {}\n          private_key: {}\n",
        f.cert, f.key
    )
}

fn err(text: &str) -> String {
    load_str(text).expect_err("should be refused").to_string()
}

#[test]
fn a_full_listener_and_cluster_tls_block_loads() {
    let f = PkiFiles::new();
    let listener = format!(
        "{}      alpn: [http/1.1]
      min_version: 1.2
      max_version: \"1.3\"
      cipher_suites: [TLS_AES_128_GCM_SHA256, ECDHE-ECDSA-AES128-GCM-SHA256]
      curves: [X25519, P-256]
      session_tickets: false
      client_ca: {}
      require_client_certificate: true
      handshake_timeout: 5s
      max_concurrent_handshakes: 64
    max_connections: 10000
",
        certs(&f),
        f.ca_path
    );
    let cluster = format!(
        "    tls:
      sni: a.test
      verify: {{ ca: {} }}
      alpn: [http/1.1]
      client_certificate: {{ cert_chain: {}, private_key: {} }}
",
        f.ca_path, f.cert, f.key
    );
    let loaded = load_str(&config(&listener, &cluster)).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let l = &loaded.config.listeners[0];
    assert_eq!(l.max_connections, Some(10_000));
    let tls = l.tls.as_ref().expect("tls");
    let s = tls.spec();
    assert_eq!(s.alpn, [Alpn::Http11]);
    assert_eq!(s.params.versions.min, TlsVersion::Tls12);
    assert_eq!(s.params.versions.max, TlsVersion::Tls13);
    assert_eq!(
        s.params.cipher_suites.as_deref(),
        Some(
            &[
                Cipher::Tls13Aes128GcmSha256,
                Cipher::EcdheEcdsaAes128GcmSha256
            ][..]
        )
    );
    assert_eq!(
        s.params.groups.as_deref(),
        Some(&[Group::X25519, Group::P256][..])
    );
    assert_eq!(s.session_tickets, SessionTickets::Off);
    assert!(matches!(s.client_auth, ClientAuth::Required { .. }));
    assert_eq!(tls.handshake_timeout(), std::time::Duration::from_secs(5));
    assert_eq!(tls.max_concurrent_handshakes(), 64);
    assert_eq!(tls.certificates()[0].dns_names, ["a.test"]);
    let c = loaded.config.clusters[0].tls.as_ref().expect("cluster tls");
    assert_eq!(c.spec().sni.as_deref(), Some("a.test"));
    assert!(matches!(c.spec().verify, Verify::Ca(_)));
    assert_eq!(c.client_certificate().len(), 1);
    assert_eq!(loaded.config.cert_contexts().len(), 2);
}

#[test]
fn defaults_without_optional_fields() {
    let f = PkiFiles::new();
    let loaded = load_str(&config(&certs(&f), "")).unwrap();
    let l = &loaded.config.listeners[0];
    assert_eq!(l.max_connections, None);
    let tls = l.tls.as_ref().unwrap();
    // `codec: auto` (the default) offers HTTP/2 first.
    assert_eq!(tls.spec().alpn, [Alpn::Http2, Alpn::Http11]);
    assert_eq!(tls.spec().session_tickets, SessionTickets::On);
    assert_eq!(tls.handshake_timeout(), defaults::TLS_HANDSHAKE_TIMEOUT);
    assert_eq!(
        tls.max_concurrent_handshakes(),
        defaults::MAX_CONCURRENT_HANDSHAKES
    );
    assert!(matches!(tls.spec().client_auth, ClientAuth::Off));
    assert!(loaded.config.clusters[0].tls.is_none());
}

#[test]
fn refusals_name_the_field_and_line() {
    let f = PkiFiles::new();
    let c = certs(&f);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{c}      min_version: \"1.1\"\n"),
            "listeners[0].tls.min_version (line 7)",
            "TLS 1.1 is not supported",
        ),
        (
            format!("{c}      max_version: \"2.0\"\n"),
            "listeners[0].tls.max_version (line 7)",
            "supported: \"1.2\", \"1.3\"",
        ),
        (
            format!("{c}      min_version: \"1.3\"\n      max_version: \"1.2\"\n"),
            "listeners[0].tls.max_version (line 8)",
            "below min_version",
        ),
        (
            format!("{c}      alpn: [h2c]\n"),
            "listeners[0].tls.alpn[0] (line 7)",
            "HTTP/2 without TLS",
        ),
        (
            format!("{c}      alpn: [spdy/3]\n"),
            "listeners[0].tls.alpn[0] (line 7)",
            "supported: h2, http/1.1",
        ),
        (
            format!("{c}      alpn: []\n"),
            "listeners[0].tls.alpn (line 7)",
            "offers nothing",
        ),
        (
            format!("{c}      cipher_suites: [ECDHE-RSA-AES128-SHA]\n"),
            "listeners[0].tls.cipher_suites[0] (line 7)",
            "supported: TLS_AES_128_GCM_SHA256",
        ),
        (
            format!("{c}      cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
            "listeners[0].tls.cipher_suites (line 7)",
            "no TLS 1.2 cipher suite is listed",
        ),
        (
            format!("{c}      curves: [P-521]\n"),
            "listeners[0].tls.curves[0] (line 7)",
            "supported: X25519, P-256, P-384",
        ),
        (
            format!("{c}      require_client_certificate: true\n"),
            "listeners[0].tls.require_client_certificate (line 7)",
            "needs `client_ca`",
        ),
        (
            format!("{c}      handshake_timeout: 0s\n"),
            "listeners[0].tls.handshake_timeout (line 7)",
            "greater than 0",
        ),
        (
            format!("{c}      max_concurrent_handshakes: 0\n"),
            "listeners[0].tls.max_concurrent_handshakes (line 7)",
            "at least 1",
        ),
        (
            format!("{c}      ciphers: []\n"),
            "listeners[0].tls.ciphers (line 7)",
            "unknown field `ciphers`",
        ),
        (
            "      certificates: []\n".to_string(),
            "listeners[0].tls.certificates (line 4)",
            "at least one certificate",
        ),
        (
            format!("{c}    max_connections: 0\n"),
            "listeners[0].max_connections (line 7)",
            "at least 1",
        ),
    ];
    for (tls, field, reason) in cases {
        let e = err(&config(&tls, ""));
        assert!(e.starts_with(field), "{field}: {e}");
        assert!(e.contains(reason), "{reason}: {e}");
    }
}

#[test]
fn a_key_that_does_not_match_is_a_config_error_naming_field_line_and_files() {
    let f = PkiFiles::new();
    let other = f.ca.issue(&["b.test"], &PKCS_ECDSA_P256_SHA256);
    let dir = tempfile::tempdir().unwrap();
    let wrong_key = write(dir.path(), "b.key", &other.key);
    let tls = format!(
        "      certificates:\n        - cert_chain: {}\n          private_key: {wrong_key}\n",
        f.cert
    );
    let e = err(&config(&tls, ""));
    assert_eq!(
        e,
        format!(
            "listeners[0].tls.certificates[0].private_key (line 6): {wrong_key}: the private key does not match the leaf (first) certificate of {}",
            f.cert
        )
    );
    let missing = format!(
        "      certificates:\n        - cert_chain: /nonexistent/a.crt\n          private_key: {}\n",
        f.key
    );
    let e = err(&config(&missing, ""));
    assert!(
        e.starts_with("listeners[0].tls.certificates[0].cert_chain (line 5): cannot read /nonexistent/a.crt: "),
        "{e}"
    );
}

#[test]
fn cluster_refusals_name_the_field_and_line() {
    let f = PkiFiles::new();
    let c = certs(&f);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "    tls: { verify: maybe }\n".into(),
            "clusters[0].tls.verify (line 15)",
            "not `system`, `none`",
        ),
        (
            "    tls:\n      verify: system\n".into(),
            "clusters[0].tls.verify (line 16)",
            "needs `sni`",
        ),
        (
            "    tls:\n      verify: none\n      sni: 10.0.0.1\n".into(),
            "clusters[0].tls.sni (line 17)",
            "SNI carries DNS names only",
        ),
        (
            "    tls:\n      verify: none\n      alpn: [h2]\n".into(),
            "clusters[0].tls.alpn[0] (line 17)",
            "set `protocol: http2` or `auto` to offer h2",
        ),
        (
            "    tls:\n      verify: { ca: /nonexistent/ca.pem }\n".into(),
            "clusters[0].tls.verify.ca (line 16)",
            "cannot read /nonexistent/ca.pem",
        ),
    ];
    for (tls, field, reason) in cases {
        let e = err(&config(&c, &tls));
        assert!(e.starts_with(field), "{field}: {e}");
        assert!(e.contains(reason), "{reason}: {e}");
    }
}

#[test]
fn warnings_for_expiring_certificates_and_verify_none_carry_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let soon = ca.issue_with(&["soon.test"], &PKCS_ECDSA_P256_SHA256, |p| {
        expire_in_days(p, 5)
    });
    let cert = write(dir.path(), "soon.crt", &soon.cert);
    let key = write(dir.path(), "soon.key", &soon.key);
    let tls = format!(
        "      certificates:\n        - cert_chain: {cert}\n          private_key: {key}\n"
    );
    let loaded = load_str(&config(&tls, "    tls:\n      verify: none\n")).unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:#?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with(&format!(
            "listeners[0].tls.certificates[0].cert_chain (line 5): certificate {cert} (CN=soon.test) expires in 4 days"
        )),
        "{:#?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].starts_with(
            "clusters[0].tls.verify (line 16): verify: none accepts any upstream certificate"
        ),
        "{:#?}",
        loaded.warnings
    );
}

#[test]
fn inline_pem_loads_and_survives_convert() {
    let ca = TestCa::new("test CA");
    let leaf = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("              {l}\n"))
            .collect::<String>()
    };
    let tls = format!(
        "      certificates:\n        - cert_chain:\n            inline: |\n{}          private_key:\n            inline: |\n{}",
        indent(&leaf.cert),
        indent(&leaf.key)
    );
    let loaded = load_str(&config(&tls, "")).unwrap_or_else(|e| panic!("{e}"));
    let facts = &loaded.config.listeners[0]
        .tls
        .as_ref()
        .unwrap()
        .certificates()[0];
    assert_eq!(facts.source, "<inline>");
    let again = load_str(&to_native_yaml(&loaded.raw)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again.config.listeners[0]
            .tls
            .as_ref()
            .unwrap()
            .certificates()[0]
            .serial,
        facts.serial
    );
}

#[test]
fn the_listener_codec_decides_the_alpn_offer() {
    let f = PkiFiles::new();
    let with_codec = |codec: &str, alpn: &str| {
        config(&format!("{}{alpn}", certs(&f)), "")
            .replace("    tls:\n", &format!("    codec: {codec}\n    tls:\n"))
    };
    let offer = |codec: &str| {
        let loaded = load_str(&with_codec(codec, "")).unwrap();
        loaded.config.listeners[0]
            .tls
            .as_ref()
            .unwrap()
            .spec()
            .alpn
            .clone()
    };
    assert_eq!(offer("auto"), [Alpn::Http2, Alpn::Http11]);
    assert_eq!(offer("http1"), [Alpn::Http11]);
    assert_eq!(offer("http2"), [Alpn::Http2]);
    let e = err(&with_codec("http1", "      alpn: [h2, http/1.1]\n"));
    assert!(e.contains("`codec: http1` listener cannot offer h2"), "{e}");
    let e = err(&with_codec("http2", "      alpn: [h2, http/1.1]\n"));
    assert!(
        e.contains("`codec: http2` listener cannot offer http/1.1"),
        "{e}"
    );
    let e = err(&with_codec("http3", ""));
    assert!(e.contains("is not a codec (auto, http1, http2)"), "{e}");
}
