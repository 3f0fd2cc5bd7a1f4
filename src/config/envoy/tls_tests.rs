//! Envoy's TLS contexts and runtime layer: today's sandbox shape loads (two
//! listeners, one with an inline certificate, the runtime layer); v3 and v2
//! contexts translate field by field; what does not map is refused at its path
//! and line; errors found while loading certificates name the Envoy field.

use crate::{
    config::{load_str, to_native_yaml, ConfigError, Loaded},
    tls::{
        testing::{write, Pem, PkiFiles, TestCa, PKCS_ECDSA_P256_SHA256},
        Alpn, Cipher, ClientAuth, Group, SessionTickets, TlsVersion, Verify,
    },
};

/// A template, not a config: the test fills in a certificate it makes.
const SANDBOX: &str = include_str!("testdata/sandbox-tls.yaml.template");

fn indent(pem: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    pem.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sandbox(leaf: &Pem) -> String {
    SANDBOX
        .replace("{{CERT}}", &indent(&leaf.cert, 18))
        .replace("{{KEY}}", &indent(&leaf.key, 18))
}

fn load(text: &str) -> Loaded {
    load_str(text).unwrap_or_else(|e| panic!("should load: {e}"))
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn todays_sandbox_loads_with_its_inline_certificate_and_runtime_layer() {
    let ca = TestCa::new("front-envoy");
    let text = sandbox(&ca.issue(&["front-envoy"], &PKCS_ECDSA_P256_SHA256));
    let loaded = load(&text);
    let c = &loaded.config;
    assert_eq!(c.listeners.len(), 2);
    assert!(c.listeners[0].tls.is_none());
    let tls = c.listeners[1]
        .tls
        .as_ref()
        .expect("the 8443 listener terminates TLS");
    assert_eq!(tls.certificates()[0].source, "<inline>");
    assert_eq!(tls.certificates()[0].subject, "CN=front-envoy");
    // No `alpn_protocols`: as in Envoy, no h2 is negotiated (only http/1.1).
    assert_eq!(tls.spec().alpn, [Alpn::Http11]);
    // The sandbox's key names a listener it does not have: Envoy ignores it too.
    let at = format!(
        "layered_runtime.layers[0].static_layer.envoy.resource_limits.listener.example_listener_name.connection_limit (line {})",
        line_of(&text, "connection_limit")
    );
    assert!(
        loaded.warnings.iter().any(|w| w
            == &format!(
            "{at}: ignored: no listener is named `example_listener_name` (Envoy ignores it too)"
        )),
        "{:#?}",
        loaded.warnings
    );
    assert!(c.listeners.iter().all(|l| l.max_connections.is_none()));
}

#[test]
fn the_runtime_connection_limit_reaches_the_named_listener_and_other_keys_warn() {
    let ca = TestCa::new("front-envoy");
    let text = sandbox(&ca.issue(&["front-envoy"], &PKCS_ECDSA_P256_SHA256))
        .replacen(
            "  - address:\n      socket_address:\n        address: 0.0.0.0\n        port_value: 8443",
            "  - name: example_listener_name\n    address:\n      socket_address:\n        address: 0.0.0.0\n        port_value: 8443",
            1,
        )
        .replace(
            "              connection_limit: 10000\n",
            "              connection_limit: 10000\n      overload:\n        global_downstream_max_connections: 50000\n      re2.max_program_size.error_level: 200\n",
        );
    let loaded = load(&text);
    assert_eq!(loaded.config.listeners[1].max_connections, Some(10_000));
    assert_eq!(loaded.config.listeners[0].max_connections, None);
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("overload.global_downstream_max_connections (line"),
        "{w}"
    );
    assert!(
        w.contains("a process-wide connection limit is not implemented"),
        "{w}"
    );
    assert!(
        w.contains(
            "ignored: runtime key `re2.max_program_size.error_level` is not known to ringway"
        ),
        "{w}"
    );
    // The limit survives convert.
    let again = load(&to_native_yaml(&loaded.raw));
    assert_eq!(again.config.listeners[1].max_connections, Some(10_000));
}

/// A v3 listener whose filter chain carries `tls` (a DownstreamTlsContext body).
fn v3_listener(tls: &str, chain_extra: &str) -> String {
    format!(
        "static_resources:
  listeners:
  - name: https
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 8443 }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          route_config:
            virtual_hosts:
            - name: all
              domains: [\"*\"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: backend }}
{chain_extra}      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
{tls}  clusters:
  - name: backend
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.2, port_value: 8443 }}
"
    )
}

fn certificates(f: &PkiFiles) -> String {
    format!(
        "          common_tls_context:
            tls_certificates:
            - certificate_chain: {{ filename: {} }}
              private_key: {{ filename: {} }}
",
        f.cert, f.key
    )
}

#[test]
fn a_v3_downstream_context_maps_field_by_field() {
    let f = PkiFiles::new();
    let tls = format!(
        "{}            tls_params:
              tls_minimum_protocol_version: TLSv1_2
              tls_maximum_protocol_version: TLSv1_3
              cipher_suites:
              - \"[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]\"
              - ECDHE-RSA-AES128-GCM-SHA256
              ecdh_curves: [X25519, P-256]
            alpn_protocols: [http/1.1]
            validation_context:
              trusted_ca: {{ filename: {} }}
          require_client_certificate: true
          disable_stateless_session_resumption: true
",
        certificates(&f),
        f.ca_path
    );
    let text = v3_listener(&tls, "      transport_socket_connect_timeout: 3s\n");
    let loaded = load(&text);
    assert!(
        loaded.warnings.iter().all(|w| !w.contains("tls")),
        "{:#?}",
        loaded.warnings
    );
    let t = loaded.config.listeners[0].tls.as_ref().unwrap();
    let s = t.spec();
    assert_eq!(s.params.versions.min, TlsVersion::Tls12);
    assert_eq!(s.params.versions.max, TlsVersion::Tls13);
    assert_eq!(
        s.params.cipher_suites.as_deref().unwrap(),
        [
            Cipher::EcdheEcdsaAes128GcmSha256,
            Cipher::EcdheEcdsaChacha20Poly1305,
            Cipher::EcdheRsaAes128GcmSha256,
            // Envoy's list is for TLS 1.2; every TLS 1.3 suite stays offered.
            Cipher::Tls13Aes128GcmSha256,
            Cipher::Tls13Aes256GcmSha384,
            Cipher::Tls13Chacha20Poly1305Sha256,
        ]
    );
    assert_eq!(
        s.params.groups.as_deref().unwrap(),
        [Group::X25519, Group::P256]
    );
    assert_eq!(s.alpn, [Alpn::Http11]);
    assert!(matches!(s.client_auth, ClientAuth::Required { .. }));
    assert_eq!(s.session_tickets, SessionTickets::Off);
    assert_eq!(t.handshake_timeout(), std::time::Duration::from_secs(3));
    assert_eq!(t.certificates()[0].source, f.cert);
    // And through convert.
    let again = load(&to_native_yaml(&loaded.raw));
    assert_eq!(again.config.listeners[0].tls.as_ref().unwrap().spec(), s);
}

#[test]
fn v2_tls_contexts_on_a_listener_and_a_cluster() {
    let f = PkiFiles::new();
    let text = format!(
        "static_resources:
  listeners:
  - address:
      socket_address: {{ address: 127.0.0.1, port_value: 8443 }}
    filter_chains:
    - tls_context:
        common_tls_context:
          tls_certificates:
          - certificate_chain: {{ filename: {cert} }}
            private_key: {{ filename: {key} }}
      filters:
      - name: envoy.http_connection_manager
        config:
          stat_prefix: https
          route_config:
            virtual_hosts:
            - name: all
              domains: [\"*\"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: backend }}
  clusters:
  - name: backend
    connect_timeout: 1s
    hosts:
    - socket_address: {{ address: 127.0.0.2, port_value: 8443 }}
    tls_context:
      sni: a.test
      common_tls_context:
        validation_context:
          trusted_ca: {{ filename: {ca} }}
          match_subject_alt_names: [{{ exact: a.test }}]
",
        cert = f.cert,
        key = f.key,
        ca = f.ca_path
    );
    let loaded = load(&text);
    assert!(
        loaded.warnings.iter().all(|w| !w.contains("tls_context")),
        "{:#?}",
        loaded.warnings
    );
    assert!(loaded.config.listeners[0].tls.is_some());
    let c = loaded.config.clusters[0].tls.as_ref().unwrap();
    assert_eq!(c.spec().sni.as_deref(), Some("a.test"));
    assert!(matches!(c.spec().verify, Verify::Ca(_)));
}

/// The v3 listener above, and a cluster with an UpstreamTlsContext whose
/// `common_tls_context` ends with `common`.
fn v3_upstream(f: &PkiFiles, client: &Pem, common: &str) -> String {
    v3_listener(&certificates(f), "")
        + &format!(
            "    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: backend.internal
        common_tls_context:
          alpn_protocols: [http/1.1]
          tls_certificates:
          - certificate_chain:
              inline_string: |
{}
            private_key:
              inline_string: |
{}
{common}",
            indent(&client.cert, 16),
            indent(&client.key, 16),
        )
}

#[test]
fn a_v3_upstream_context_with_a_client_certificate() {
    let f = PkiFiles::new();
    let client = f.ca.issue(&["client.test"], &PKCS_ECDSA_P256_SHA256);
    let ca = TestCa::new("upstream CA");
    let validation = format!(
        "          validation_context:\n            trusted_ca:\n              inline_string: |\n{}\n",
        indent(&ca.pem, 16)
    );
    let loaded = load(&v3_upstream(&f, &client, &validation));
    let c = loaded.config.clusters[0].tls.as_ref().unwrap();
    assert_eq!(c.spec().sni.as_deref(), Some("backend.internal"));
    assert_eq!(c.spec().alpn, [Alpn::Http11]);
    assert_eq!(c.client_certificate()[0].subject, "CN=client.test");
    assert_eq!(c.ca()[0].subject, "CN=upstream CA");
    // Envoy checks only the chain here; ringway also checks the name, and says so.
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w
                .contains("ringway also checks that the upstream certificate is valid for `sni`")),
        "{:#?}",
        loaded.warnings
    );

    // Without a validation_context nothing is verified (Envoy's default), loudly.
    let text = v3_upstream(&f, &client, "");
    let loaded = load(&text);
    let c = loaded.config.clusters[0].tls.as_ref().unwrap();
    assert_eq!(c.spec().verify, Verify::None);
    let context = "typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
    let at = format!(
        "static_resources.clusters[0].transport_socket.typed_config (line {})",
        line_of(&text, context)
    );
    assert!(
        loaded.warnings.iter().any(|w| w.starts_with(&format!(
            "{at}: verify: none accepts any upstream certificate"
        ))),
        "{at}\n{:#?}",
        loaded.warnings
    );
}

/// `text` is refused as unsupported at `path`, on the line where `needle` starts.
fn refused(text: &str, path: &str, needle: &str, reason: &str) {
    match load_str(text) {
        Err(ConfigError::Unsupported {
            field,
            line,
            reason: why,
        }) => {
            assert_eq!(field, path, "{why}");
            assert_eq!(line, Some(line_of(text, needle)), "{field}: {why}");
            assert!(why.contains(reason), "{why}");
        }
        other => panic!("expected Unsupported at {path}, got {other:?}"),
    }
}

const CTX: &str = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config";

#[test]
fn what_rustls_cannot_do_is_refused_at_its_path_and_line() {
    let f = PkiFiles::new();
    let base = certificates(&f);
    let params = |p: &str| format!("{base}            tls_params:\n{p}");
    let cases: Vec<(String, String, &str, &str)> = vec![
        (params("              tls_minimum_protocol_version: TLSv1_0\n"), format!("{CTX}.common_tls_context.tls_params.tls_minimum_protocol_version"), "tls_minimum_protocol_version", "TLS 1.2 and 1.3 only"),
        (params("              cipher_suites: [ECDHE-RSA-AES128-SHA]\n"), format!("{CTX}.common_tls_context.tls_params.cipher_suites[0]"), "cipher_suites", "supported: ECDHE-ECDSA-AES128-GCM-SHA256"),
        (params("              ecdh_curves: [P-521]\n"), format!("{CTX}.common_tls_context.tls_params.ecdh_curves[0]"), "ecdh_curves", "supported: X25519"),
        (base.replace(&format!("private_key: {{ filename: {} }}", f.key), "private_key: { inline_bytes: AAAA }"), format!("{CTX}.common_tls_context.tls_certificates[0].private_key.inline_bytes"), "private_key: { inline_bytes", "inline_bytes is not implemented"),
        (format!("{base}              password: {{ inline_string: secret }}\n"), format!("{CTX}.common_tls_context.tls_certificates[0].password"), "password", "encrypted private keys are not implemented"),
        (format!("{base}            validation_context:\n              trusted_ca: {{ filename: {} }}\n              match_typed_subject_alt_names: []\n", f.ca_path), format!("{CTX}.common_tls_context.validation_context.match_typed_subject_alt_names"), "match_typed_subject_alt_names", "matching client certificate names is not implemented"),
        (format!("{base}          ocsp_staple_policy: MUST_STAPLE\n"), format!("{CTX}.ocsp_staple_policy"), "ocsp_staple_policy", "OCSP stapling is not implemented"),
        (format!("{base}            tls_certificate_sds_secret_configs: []\n"), format!("{CTX}.common_tls_context.tls_certificate_sds_secret_configs"), "tls_certificate_sds_secret_configs", "SDS secrets are not implemented"),
    ];
    for (tls, path, needle, reason) in cases {
        refused(&v3_listener(&tls, ""), &path, needle, reason);
    }
}

#[test]
fn certificate_errors_name_the_envoy_field_and_line() {
    let f = PkiFiles::new();
    let other = f.ca.issue(&["b.test"], &PKCS_ECDSA_P256_SHA256);
    let dir = tempfile::tempdir().unwrap();
    let wrong = write(dir.path(), "b.key", &other.key);
    let text = v3_listener(&certificates(&f).replace(&f.key, &wrong), "");
    let e = load_str(&text).expect_err("refused").to_string();
    assert_eq!(
        e,
        format!(
            "{CTX}.common_tls_context.tls_certificates[0].private_key (line {}): {wrong}: the private key does not match the leaf (first) certificate of {}",
            line_of(&text, "private_key:"),
            f.cert
        )
    );
    // A TLS listener without certificates.
    let text = v3_listener("          common_tls_context: {}\n", "");
    let e = load_str(&text).expect_err("refused").to_string();
    assert!(e.contains("needs at least one certificate"), "{e}");
}

#[test]
fn the_tls_inspector_listener_filter_is_implied() {
    let f = PkiFiles::new();
    let text = v3_listener(&certificates(&f), "").replacen(
        "    filter_chains:\n",
        "    listener_filters:\n    - name: envoy.filters.listener.tls_inspector\n    filter_chains:\n",
        1,
    );
    let loaded = load(&text);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("listener_filters[0].name") && w.contains("reads SNI and ALPN")),
        "{:#?}",
        loaded.warnings
    );
}

/// Envoy's "one filter chain per SNI": chains that differ only in
/// `filter_chain_match.server_names` and their certificates become one listener
/// whose certificates SNI chooses from; the default chain's comes first.
fn sni_chains(second_filters_path: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("sni chains");
    let a = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let b = ca.issue(&["b.test"], &PKCS_ECDSA_P256_SHA256);
    let files = |name: &str, pem: &Pem| {
        (
            write(dir.path(), &format!("{name}.crt"), &pem.cert),
            write(dir.path(), &format!("{name}.key"), &pem.key),
        )
    };
    let (a_cert, a_key) = files("a", &a);
    let (b_cert, b_key) = files("b", &b);
    let chain = |names: &str, cert: &str, key: &str, path: &str| {
        format!(
            "    - {names}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: https
          route_config:
            virtual_hosts:
            - name: all
              domains: [\"*\"]
              routes:
              - match: {{ prefix: {path} }}
                route: {{ cluster: backend }}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{ filename: \"{cert}\" }}
              private_key: {{ filename: \"{key}\" }}
"
        )
    };
    let text = format!(
        "static_resources:
  listeners:
  - name: https
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 8443 }}
    filter_chains:
{}{}  clusters:
  - name: backend
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.2, port_value: 8443 }}
",
        chain(
            "filter_chain_match: { server_names: [b.test] }\n      ",
            &b_cert,
            &b_key,
            second_filters_path
        ),
        chain("", &a_cert, &a_key, "/"),
    );
    (text, dir)
}

#[test]
fn filter_chains_by_server_name_become_certificates_chosen_by_sni() {
    let (text, _dir) = sni_chains("/");
    let loaded = load(&text);
    let tls = loaded.config.listeners[0].tls.as_ref().expect("TLS");
    let subjects: Vec<&str> = tls
        .certificates()
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        ["CN=a.test", "CN=b.test"],
        "the default chain's certificate first"
    );
    // And it survives convert.
    let again = load(&to_native_yaml(&loaded.raw));
    assert_eq!(
        again.config.listeners[0]
            .tls
            .as_ref()
            .unwrap()
            .certificates()
            .len(),
        2
    );
}

#[test]
fn filter_chains_that_route_differently_are_refused() {
    let (text, _dir) = sni_chains("/other");
    let e = load_str(&text).unwrap_err().to_string();
    assert!(
        e.contains("static_resources.listeners[0].filter_chains[0]"),
        "{e}"
    );
    assert!(
        e.contains("filter chains with different filters are not implemented"),
        "{e}"
    );
}

#[test]
fn envoy_alpn_protocols_offer_h2_to_clients_but_not_to_upstreams() {
    let ca = TestCa::new("front-envoy");
    let text = sandbox(&ca.issue(&["front-envoy"], &PKCS_ECDSA_P256_SHA256)).replacen(
        "          common_tls_context:\n",
        "          common_tls_context:\n            alpn_protocols: [h2, http/1.1]\n",
        1,
    );
    let loaded = load(&text);
    let tls = loaded.config.listeners[1].tls.as_ref().unwrap();
    assert_eq!(tls.spec().alpn, [Alpn::Http2, Alpn::Http11]);
}
