//! The TLS layer without sockets: certificates made by rcgen in a temp dir,
//! servers and clients built from ringway's specs, and handshakes driven in
//! memory between a rustls client and server.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rustls::{
    client::Resumption, pki_types::ServerName, ClientConfig, ClientConnection, HandshakeKind,
    ServerConnection,
};

use super::{
    testing::{
        client_trusting, expire_in_days, handshake, write, Failure, Pem, TestCa,
        PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    },
    *,
};

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn files(dir: &std::path::Path, name: &str, pem: &Pem) -> CertificateSpec {
    CertificateSpec {
        cert_chain: PemSource::File(write(dir, &format!("{name}.crt"), &pem.cert)),
        private_key: PemSource::File(write(dir, &format!("{name}.key"), &pem.key)),
    }
}

fn inline(pem: &Pem) -> CertificateSpec {
    CertificateSpec {
        cert_chain: PemSource::Inline(pem.cert.clone()),
        private_key: PemSource::Inline(pem.key.clone()),
    }
}

fn spec(certificates: Vec<CertificateSpec>) -> ListenerTlsSpec {
    ListenerTlsSpec {
        certificates,
        alpn: vec![Alpn::Http11],
        params: ProtocolParams::default(),
        session_tickets: SessionTickets::On,
        client_auth: ClientAuth::Off,
        handshake_timeout: Duration::from_secs(10),
        max_concurrent_handshakes: 16,
    }
}

fn build(spec: &ListenerTlsSpec) -> ListenerTls {
    ListenerTls::build("listeners[0].tls", spec, SystemTime::now())
        .unwrap_or_else(|e| panic!("should load: {e}"))
}

fn build_err(spec: &ListenerTlsSpec) -> String {
    ListenerTls::build("listeners[0].tls", spec, SystemTime::now())
        .expect_err("should be refused")
        .to_string()
}

struct Session {
    client: ClientConnection,
    server: ServerConnection,
    result: Result<(), Failure>,
}

fn connect(server: &ListenerTls, client: &Arc<ClientConfig>, sni: &str) -> Session {
    let mut client = ClientConnection::new(
        client.clone(),
        ServerName::try_from(sni.to_string()).expect("name"),
    )
    .expect("client");
    let mut server = ServerConnection::new(server.server_config()).expect("server");
    let result = handshake(&mut client, &mut server);
    Session {
        client,
        server,
        result,
    }
}

/// The subject CN of the certificate the client was given.
fn served_cn(s: &Session) -> String {
    let chain = s.client.peer_certificates().expect("a certificate");
    let facts = certs::facts("peer", &chain[0]).expect("parse");
    facts.common_name.expect("a CN")
}

/// A client that sends SNI and accepts any certificate.
fn accept_any() -> Arc<ClientConfig> {
    let spec = ClusterTlsSpec {
        sni: Some("placeholder.test".into()),
        verify: Verify::None,
        alpn: vec![],
        client_certificate: None,
        params: ProtocolParams::default(),
    };
    ClusterTls::build("clusters[0].tls", &spec, SystemTime::now())
        .unwrap()
        .client_config()
}

fn client(ca: &TestCa) -> Arc<ClientConfig> {
    let mut c = client_trusting(&ca.pem);
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

// ---- SNI selection

#[test]
fn sni_picks_exact_then_wildcard_then_the_default() {
    let dir = temp();
    let ca = TestCa::new("test CA");
    let default = ca.issue(&["default.test"], &PKCS_ECDSA_P256_SHA256);
    let wild = ca.issue(&["*.example.com"], &PKCS_ECDSA_P256_SHA256);
    let exact = ca.issue(&["api.example.com", "other.test"], &PKCS_ECDSA_P256_SHA256);
    let tls = build(&spec(vec![
        files(dir.path(), "default", &default),
        files(dir.path(), "wild", &wild),
        files(dir.path(), "exact", &exact),
    ]));
    let c = client(&ca);
    let s = connect(&tls, &c, "api.example.com");
    s.result.as_ref().expect("handshake");
    assert_eq!(served_cn(&s), "api.example.com", "exact beats wildcard");
    let s = connect(&tls, &c, "OTHER.test");
    assert_eq!(served_cn(&s), "api.example.com", "names match in any case");
    let s = connect(&tls, &c, "www.example.com");
    s.result.as_ref().expect("handshake");
    assert_eq!(served_cn(&s), "*.example.com");
    assert_eq!(s.server.server_name(), Some("www.example.com"));
    // A wildcard covers one label only; no match gets the default (seen by a
    // client that accepts any certificate, since the default is not valid for it).
    let s = connect(&tls, &accept_any(), "a.b.example.com");
    s.result.as_ref().expect("handshake");
    assert_eq!(served_cn(&s), "default.test");
    let s = connect(&tls, &accept_any(), "example.com");
    assert_eq!(served_cn(&s), "default.test");
    // No SNI at all: an IP address as the server name sends none.
    let mut no_sni = (*c).clone();
    no_sni.enable_sni = false;
    let s = connect(&tls, &Arc::new(no_sni), "default.test");
    s.result.as_ref().expect("handshake");
    assert_eq!(s.server.server_name(), None);
    assert_eq!(served_cn(&s), "default.test");
}

#[test]
fn sni_resolver_prefers_a_certificate_the_client_can_verify() {
    let dir = temp();
    let ca = TestCa::new("test CA");
    let ecdsa = ca.issue(&["both.test"], &PKCS_ECDSA_P256_SHA256);
    let rsa = ca.issue(&["both.test"], &PKCS_RSA_SHA256);
    let tls = build(&spec(vec![
        files(dir.path(), "ecdsa", &ecdsa),
        files(dir.path(), "rsa", &rsa),
    ]));
    // A client that verifies RSA signatures only gets the RSA certificate.
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut algs = provider.signature_verification_algorithms;
    let rsa_only: Vec<_> = algs
        .mapping
        .iter()
        .filter(|(s, _)| format!("{s:?}").starts_with("RSA"))
        .cloned()
        .collect();
    algs.mapping = Box::leak(rsa_only.into_boxed_slice());
    provider.signature_verification_algorithms = algs;
    let roots = {
        let mut r = rustls::RootCertStore::empty();
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        r.add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
            .unwrap();
        Arc::new(r)
    };
    let provider = Arc::new(provider);
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .unwrap();
    let rsa_client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let s = connect(&tls, &Arc::new(rsa_client.clone()), "both.test");
    s.result.as_ref().expect("handshake");
    let leaf = &s.client.peer_certificates().unwrap()[0];
    let got = certs::facts("peer", leaf).unwrap();
    assert_eq!(got.serial, tls.certificates()[1].serial, "the RSA one");
    // Without SNI (or for a name no certificate covers) the same holds: the
    // default is the first certificate the client can verify.
    let mut rsa_client_no_sni = rsa_client.clone();
    rsa_client_no_sni.enable_sni = false;
    let s = connect(&tls, &Arc::new(rsa_client_no_sni), "both.test");
    s.result.as_ref().expect("handshake without SNI");
    let got = certs::facts("peer", &s.client.peer_certificates().unwrap()[0]).unwrap();
    assert_eq!(
        got.serial,
        tls.certificates()[1].serial,
        "the RSA one, by default"
    );
    // An ordinary client gets the first (ECDSA) one.
    let s = connect(&tls, &client(&ca), "both.test");
    let got = certs::facts("peer", &s.client.peer_certificates().unwrap()[0]).unwrap();
    assert_eq!(got.serial, tls.certificates()[0].serial);
}

// ---- keys and files

#[test]
fn ecdsa_p384_ed25519_and_rsa_keys_load_and_serve() {
    let ca = TestCa::new("test CA");
    for alg in [&PKCS_ECDSA_P384_SHA384, &PKCS_ED25519, &PKCS_RSA_SHA256] {
        let pem = ca.issue(&["k.test"], alg);
        let tls = build(&spec(vec![inline(&pem)]));
        let s = connect(&tls, &client(&ca), "k.test");
        s.result
            .as_ref()
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
    }
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_naming_both_files() {
    let dir = temp();
    let ca = TestCa::new("test CA");
    let a = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let b = ca.issue(&["b.test"], &PKCS_ECDSA_P256_SHA256);
    let chain = write(dir.path(), "a.crt", &a.cert);
    let key = write(dir.path(), "b.key", &b.key);
    let e = build_err(&spec(vec![CertificateSpec {
        cert_chain: PemSource::File(chain.clone()),
        private_key: PemSource::File(key.clone()),
    }]));
    assert_eq!(
        e,
        format!("listeners[0].tls.certificates[0].private_key: {key}: the private key does not match the leaf (first) certificate of {chain}")
    );
}

#[test]
fn unreadable_and_bad_pem_files_are_refused_naming_the_file() {
    let dir = temp();
    let ca = TestCa::new("test CA");
    let good = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let missing = dir
        .path()
        .join("missing.crt")
        .to_string_lossy()
        .into_owned();
    let e = build_err(&spec(vec![CertificateSpec {
        cert_chain: PemSource::File(missing.clone()),
        private_key: PemSource::Inline(good.key.clone()),
    }]));
    assert!(
        e.starts_with(&format!(
            "listeners[0].tls.certificates[0].cert_chain: cannot read {missing}: "
        )),
        "{e}"
    );

    let garbage = write(dir.path(), "garbage.crt", "not a certificate\n");
    let e = build_err(&spec(vec![CertificateSpec {
        cert_chain: PemSource::File(garbage.clone()),
        private_key: PemSource::Inline(good.key.clone()),
    }]));
    assert_eq!(e, format!("listeners[0].tls.certificates[0].cert_chain: {garbage}: no certificate in it (expected a PEM `CERTIFICATE` block)"));

    // A certificate where the key should be.
    let e = build_err(&spec(vec![CertificateSpec {
        cert_chain: PemSource::Inline(good.cert.clone()),
        private_key: PemSource::Inline(good.cert.clone()),
    }]));
    assert!(
        e.starts_with(
            "listeners[0].tls.certificates[0].private_key: <inline>: no private key in it"
        ),
        "{e}"
    );

    // A PEM block whose base64 body is broken.
    let broken = good.cert.replace('M', "!");
    let e = build_err(&spec(vec![CertificateSpec {
        cert_chain: PemSource::Inline(broken),
        private_key: PemSource::Inline(good.key.clone()),
    }]));
    assert!(
        e.starts_with("listeners[0].tls.certificates[0].cert_chain: <inline>: "),
        "{e}"
    );
}

#[test]
fn expiring_and_expired_certificates_warn_and_still_load() {
    let ca = TestCa::new("test CA");
    let soon = ca.issue_with(&["soon.test"], &PKCS_ECDSA_P256_SHA256, |p| {
        expire_in_days(p, 10)
    });
    let later = ca.issue_with(&["later.test"], &PKCS_ECDSA_P256_SHA256, |p| {
        expire_in_days(p, 90)
    });
    let gone = ca.issue_with(&["gone.test"], &PKCS_ECDSA_P256_SHA256, |p| {
        expire_in_days(p, -3)
    });
    let tls = build(&spec(vec![inline(&soon), inline(&later), inline(&gone)]));
    let w: Vec<String> = tls
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.field, w.message))
        .collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    // Midnight UTC ten days on is 9 whole days and some hours away.
    assert!(
        w[0].starts_with("listeners[0].tls.certificates[0].cert_chain: certificate <inline> (CN=soon.test) expires in 9 days"),
        "{w:#?}"
    );
    assert!(
        w[1].starts_with("listeners[0].tls.certificates[2].cert_chain: certificate <inline> (CN=gone.test) expired "),
        "{w:#?}"
    );
    let facts = &tls.certificates()[1];
    assert!((88..=90).contains(&facts.days_until_expiry(SystemTime::now())));
}

// ---- ALPN, versions, suites

#[test]
fn alpn_negotiates_http11_and_a_client_offering_only_h2_fails_cleanly() {
    let ca = TestCa::new("test CA");
    let tls = build(&spec(vec![inline(
        &ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256),
    )]));
    let s = connect(&tls, &client(&ca), "a.test");
    s.result.as_ref().expect("handshake");
    assert_eq!(s.server.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.client.alpn_protocol(), Some(&b"http/1.1"[..]));

    let mut h2 = client_trusting(&ca.pem);
    h2.alpn_protocols = vec![b"h2".to_vec()];
    let s = connect(&tls, &Arc::new(h2), "a.test");
    match s.result {
        Err(Failure::Server(rustls::Error::NoApplicationProtocol)) => {}
        other => panic!("expected no_application_protocol, got {other:?}"),
    }
    // The client was told why (an alert), not just cut off.
    assert!(s.client.is_handshaking());

    // A client that offers no ALPN at all is served (HTTP/1.1 implied).
    let plain = Arc::new(client_trusting(&ca.pem));
    let s = connect(&tls, &plain, "a.test");
    s.result.as_ref().expect("handshake");
    assert_eq!(s.server.alpn_protocol(), None);
}

#[test]
fn tls12_handshakes_and_max_version_12_refuses_13_only_clients() {
    let ca = TestCa::new("test CA");
    let pem = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let tls = build(&spec(vec![inline(&pem)]));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let only = |v: &'static rustls::SupportedProtocolVersion| {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        roots
            .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
            .unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[v])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    let s = connect(&tls, &only(&rustls::version::TLS12), "a.test");
    s.result.as_ref().expect("TLS 1.2 handshake");
    assert_eq!(
        s.server.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );

    let mut twelve = spec(vec![inline(&pem)]);
    twelve.params.versions.max = TlsVersion::Tls12;
    let tls12 = build(&twelve);
    let s = connect(&tls12, &only(&rustls::version::TLS13), "a.test");
    assert!(
        matches!(s.result, Err(Failure::Server(_))),
        "{:?}",
        s.result
    );
}

#[test]
fn cipher_suites_and_groups_narrow_what_is_negotiated() {
    let ca = TestCa::new("test CA");
    let pem = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let mut s = spec(vec![inline(&pem)]);
    s.params.cipher_suites = Some(vec![
        Cipher::Tls13Chacha20Poly1305Sha256,
        Cipher::EcdheEcdsaAes256GcmSha384,
    ]);
    s.params.groups = Some(vec![Group::P384]);
    let tls = build(&s);
    let sess = connect(&tls, &client(&ca), "a.test");
    sess.result.as_ref().expect("handshake");
    let suite = sess.server.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(suite, rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let group = sess.server.negotiated_key_exchange_group().unwrap().name();
    assert_eq!(group, rustls::NamedGroup::secp384r1);
}

#[test]
fn names_map_from_iana_openssl_and_aliases() {
    assert_eq!(
        Cipher::parse("ECDHE-RSA-AES128-GCM-SHA256"),
        Some(Cipher::EcdheRsaAes128GcmSha256)
    );
    assert_eq!(
        Cipher::parse("tls_ecdhe_rsa_with_aes_128_gcm_sha256"),
        Some(Cipher::EcdheRsaAes128GcmSha256)
    );
    assert_eq!(
        Cipher::parse("ECDHE-RSA-AES128-SHA"),
        None,
        "CBC is not implemented"
    );
    assert_eq!(Group::parse("prime256v1"), Some(Group::P256));
    assert_eq!(Group::parse("P-521"), None);
    assert_eq!(TlsVersion::parse("TLSv1_3"), Ok(TlsVersion::Tls13));
    assert_eq!(TlsVersion::parse("1.2"), Ok(TlsVersion::Tls12));
    assert_eq!(
        TlsVersion::parse("TLSv1_1"),
        Err(params::VersionError::TooOld)
    );
    assert_eq!(Alpn::parse("h2"), Ok(Alpn::Http2));
    assert_eq!(Alpn::parse("h2c"), Err(params::AlpnError::Cleartext));
}

// ---- resumption

#[test]
fn sessions_resume_by_tls13_ticket_and_tls12_ticket_or_session_id() {
    let ca = TestCa::new("test CA");
    let pem = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    for (tickets, version) in [
        (SessionTickets::On, &rustls::version::TLS13),
        (SessionTickets::Off, &rustls::version::TLS13),
        (SessionTickets::On, &rustls::version::TLS12),
        (SessionTickets::Off, &rustls::version::TLS12),
    ] {
        let mut s = spec(vec![inline(&pem)]);
        s.session_tickets = tickets;
        let tls = build(&s);
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        roots
            .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
            .unwrap();
        let mut c = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        c.resumption = Resumption::in_memory_sessions(16);
        let c = Arc::new(c);
        let first = connect(&tls, &c, "a.test");
        first.result.as_ref().expect("first handshake");
        assert_eq!(first.server.handshake_kind(), Some(HandshakeKind::Full));
        let second = connect(&tls, &c, "a.test");
        second.result.as_ref().expect("second handshake");
        assert_eq!(
            second.server.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{tickets:?} {version:?}"
        );
    }
}

#[test]
fn an_unchanged_listener_keeps_its_ticket_keys_across_reloads_and_a_changed_one_does_not() {
    let dir = temp();
    let ca = TestCa::new("test CA");
    let pem = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let s = spec(vec![files(dir.path(), "a", &pem)]);
    let before = build(&s);
    let c = client(&ca);
    let first = connect(&before, &c, "a.test");
    first.result.as_ref().expect("handshake");
    // A reload with nothing changed: the ticket from the old generation resumes.
    let after = build(&s);
    assert!(after.shares_sessions_with(&before));
    drop(before);
    let again = connect(&after, &c, "a.test");
    again.result.as_ref().expect("handshake");
    assert_eq!(again.server.handshake_kind(), Some(HandshakeKind::Resumed));
    // A renewed certificate (same path, new bytes) gets new keys.
    files(
        dir.path(),
        "a",
        &ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256),
    );
    let renewed = build(&s);
    assert!(!renewed.shares_sessions_with(&after));
    let mut mtls = s.clone();
    mtls.client_auth = ClientAuth::Optional {
        ca: PemSource::Inline(ca.pem.clone()),
    };
    assert!(!build(&mtls).shares_sessions_with(&renewed));
}

// ---- client certificates

#[test]
fn client_certificates_required_optional_and_refused() {
    let ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let other_ca = TestCa::new("stranger CA");
    let pem = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let mut required = spec(vec![inline(&pem)]);
    required.client_auth = ClientAuth::Required {
        ca: PemSource::Inline(client_ca.pem.clone()),
    };
    let required = build(&required);
    assert_eq!(required.client_ca().len(), 1);
    let mut optional = spec(vec![inline(&pem)]);
    optional.client_auth = ClientAuth::Optional {
        ca: PemSource::Inline(client_ca.pem.clone()),
    };
    let optional = build(&optional);

    let with_cert = |issuer: &TestCa| {
        let leaf = issuer.issue(&["client.test"], &PKCS_ECDSA_P256_SHA256);
        let spec = ClusterTlsSpec {
            sni: Some("a.test".into()),
            verify: Verify::Ca(PemSource::Inline(ca.pem.clone())),
            alpn: vec![],
            client_certificate: Some(inline(&leaf)),
            params: ProtocolParams::default(),
        };
        ClusterTls::build("clusters[0].tls", &spec, SystemTime::now())
            .unwrap()
            .client_config()
    };
    let anonymous = Arc::new(client_trusting(&ca.pem));

    let s = connect(&required, &with_cert(&client_ca), "a.test");
    s.result
        .as_ref()
        .expect("a good client certificate is accepted");
    assert!(s.server.peer_certificates().is_some());
    let s = connect(&required, &anonymous, "a.test");
    assert!(
        matches!(s.result, Err(Failure::Server(_))),
        "{:?}",
        s.result
    );
    let s = connect(&required, &with_cert(&other_ca), "a.test");
    assert!(
        matches!(s.result, Err(Failure::Server(_))),
        "{:?}",
        s.result
    );

    let s = connect(&optional, &anonymous, "a.test");
    s.result
        .as_ref()
        .expect("optional lets a client without one in");
    let s = connect(&optional, &with_cert(&other_ca), "a.test");
    assert!(
        matches!(s.result, Err(Failure::Server(_))),
        "{:?}",
        s.result
    );
}

// ---- upstream (client) side

fn cluster(spec: &ClusterTlsSpec) -> ClusterTls {
    ClusterTls::build("clusters[0].tls", spec, SystemTime::now())
        .unwrap_or_else(|e| panic!("should load: {e}"))
}

fn upstream(tls: &ClusterTls, server: &ListenerTls) -> Session {
    let mut client = ClientConnection::new(tls.client_config(), tls.server_name()).unwrap();
    let mut srv = ServerConnection::new(server.server_config()).unwrap();
    let result = handshake(&mut client, &mut srv);
    Session {
        client,
        server: srv,
        result,
    }
}

#[test]
fn upstream_verification_by_private_ca_with_and_without_sni() {
    let ca = TestCa::new("upstream CA");
    let server = build(&spec(vec![inline(
        &ca.issue(&["svc.internal"], &PKCS_ECDSA_P256_SHA256),
    )]));
    let base = ClusterTlsSpec {
        sni: Some("svc.internal".into()),
        verify: Verify::Ca(PemSource::Inline(ca.pem.clone())),
        alpn: vec![Alpn::Http11],
        client_certificate: None,
        params: ProtocolParams::default(),
    };
    let s = upstream(&cluster(&base), &server);
    s.result.as_ref().expect("verified");
    assert_eq!(s.server.server_name(), Some("svc.internal"));
    assert_eq!(s.server.alpn_protocol(), Some(&b"http/1.1"[..]));

    // SNI naming something the certificate is not valid for fails.
    let wrong = ClusterTlsSpec {
        sni: Some("other.internal".into()),
        ..base.clone()
    };
    let s = upstream(&cluster(&wrong), &server);
    match s.result {
        Err(Failure::Client(rustls::Error::InvalidCertificate(_))) => {}
        other => panic!("expected a certificate error, got {other:?}"),
    }

    // No SNI: nothing sent, chain verified, name not checked (Envoy's way).
    let no_sni = ClusterTlsSpec {
        sni: None,
        alpn: vec![],
        ..base.clone()
    };
    let s = upstream(&cluster(&no_sni), &server);
    s.result.as_ref().expect("chain verified");
    assert_eq!(s.server.server_name(), None);
    assert_eq!(s.server.alpn_protocol(), None, "no ALPN unless configured");

    // A certificate from another CA fails even without a name to check.
    let stranger = TestCa::new("stranger CA");
    let other = build(&spec(vec![inline(
        &stranger.issue(&["svc.internal"], &PKCS_ECDSA_P256_SHA256),
    )]));
    let s = upstream(&cluster(&no_sni), &other);
    assert!(
        matches!(s.result, Err(Failure::Client(_))),
        "{:?}",
        s.result
    );
}

#[test]
fn verify_none_accepts_any_certificate_and_warns() {
    let stranger = TestCa::new("stranger CA");
    let server = build(&spec(vec![inline(
        &stranger.issue(&["x.test"], &PKCS_ECDSA_P256_SHA256),
    )]));
    let tls = cluster(&ClusterTlsSpec {
        sni: None,
        verify: Verify::None,
        alpn: vec![],
        client_certificate: None,
        params: ProtocolParams::default(),
    });
    assert_eq!(tls.warnings().len(), 1);
    assert_eq!(tls.warnings()[0].field, "clusters[0].tls.verify");
    upstream(&tls, &server).result.expect("accepted");
}

#[test]
fn cluster_tls_equality_follows_settings_and_file_contents() {
    let dir = temp();
    let ca = TestCa::new("CA one");
    let path = write(dir.path(), "ca.pem", &ca.pem);
    let spec = ClusterTlsSpec {
        sni: Some("svc.internal".into()),
        verify: Verify::Ca(PemSource::File(path.clone())),
        alpn: vec![],
        client_certificate: None,
        params: ProtocolParams::default(),
    };
    let a = cluster(&spec);
    assert_eq!(a, cluster(&spec), "same settings, same bytes");
    write(dir.path(), "ca.pem", &TestCa::new("CA two").pem);
    assert_ne!(a, cluster(&spec), "a renewed CA file changes the cluster");
    let other = ClusterTlsSpec {
        sni: Some("other.internal".into()),
        ..spec
    };
    assert_ne!(cluster(&other), a);
}

// ---- admin

#[test]
fn certs_json_lists_each_context_in_envoys_shape() {
    let dir = temp();
    let ca = TestCa::new("client CA");
    let leaf = ca.issue(&["a.test", "*.a.test"], &PKCS_ECDSA_P256_SHA256);
    let mut s = spec(vec![files(dir.path(), "leaf", &leaf)]);
    s.client_auth = ClientAuth::Optional {
        ca: PemSource::Inline(ca.pem.clone()),
    };
    let tls = build(&s);
    let json = admin::certs_json(
        &[admin::CertContext::listener("https", &tls)],
        SystemTime::now(),
    );
    let entry = &json["certificates"][0];
    assert_eq!(entry["listener"], "https");
    let chain = &entry["cert_chain"][0];
    assert_eq!(chain["path"], format!("{}/leaf.crt", dir.path().display()));
    assert_eq!(chain["subject"], "CN=a.test");
    assert_eq!(
        chain["subject_alt_names"],
        serde_json::json!([{ "dns": "a.test" }, { "dns": "*.a.test" }])
    );
    assert_eq!(
        chain["serial_number"],
        tls.certificates()[0].serial.as_str()
    );
    assert!(!tls.certificates()[0].serial.contains(':'));
    assert!(
        chain["days_until_expiration"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 30
    );
    assert_eq!(entry["ca_cert"][0]["path"], "<inline>");
    assert_eq!(entry["ca_cert"][0]["subject"], "CN=client CA");
}

#[test]
fn rfc3339_renders_unix_seconds() {
    assert_eq!(admin::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(admin::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(admin::rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
}
