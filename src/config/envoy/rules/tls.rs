//! Rule tables: Transport sockets and TLS contexts (`DownstreamTlsContext`,
//! `UpstreamTlsContext`, `CommonTlsContext`, certificates, validation), read by
//! `envoy/tls.rs`.
//! One table per Envoy message; see `rules/mod.rs` for the order.

use super::{is_empty, is_false, is_lenient_stapling, is_verify_trust_chain, Rule::*, Table};

pub const SDS: &str = "SDS secrets are not implemented; give certificates in tls_certificates (filename or inline_string)";
pub const OCSP: &str = "OCSP stapling is not implemented";
pub const CERT_PINNING: &str = "certificate pinning (hash or SPKI) is not implemented";
pub const CRL: &str = "certificate revocation lists are not implemented";
pub const EXTENSIONS: &str =
    "TLS extensions (handshakers, certificate selectors, key providers) are not implemented";

/// `envoy.config.core.v3.TransportSocket`, read by `transport_socket`.
#[rustfmt::skip]
pub const TRANSPORT_SOCKET: Table = &[
    ("config", Map),
    ("name", Map),
    ("typed_config", Map),
];

/// `envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`, read by `downstream_context`.
#[rustfmt::skip]
pub const DOWNSTREAM_TLS_CONTEXT: Table = &[
    ("@type", Map),
    ("common_tls_context", Map),
    ("disable_stateless_session_resumption", Map),
    ("prefer_client_ciphers", Map),
    ("require_client_certificate", Map),
    ("disable_stateful_session_resumption", DefaultOnly(is_false, "turning off the session cache is not implemented")),
    ("ocsp_staple_policy", DefaultOnly(is_lenient_stapling, OCSP)),
    ("require_sni", DefaultOnly(is_false, "refusing clients without SNI is not implemented (they get the first certificate)")),
    ("enforce_rsa_key_usage", Warn("rustls applies its own key usage checks")),
    ("full_scan_certs_on_sni_mismatch", Warn("a name no certificate covers gets the first certificate")),
    ("session_ticket_keys", Warn("ringway makes and rotates its own ticket keys (shared by its workers, not by other processes)")),
    ("session_timeout", Warn("session lifetimes are rustls's: tickets last 12 hours, cached sessions until the cache (8192) is full")),
    ("session_ticket_keys_sds_secret_config", Refuse(SDS)),
];

/// `envoy.config.cluster.v3.Cluster.TransportSocketMatch`, read by `cluster_socket_matches`.
#[rustfmt::skip]
pub const TRANSPORT_SOCKET_MATCH: Table = &[
    ("name", Map),
    ("transport_socket", Map),
    ("match", DefaultOnly(is_empty, "choosing a transport socket by endpoint metadata is not implemented")),
];

/// `envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`, read by `upstream_context`.
#[rustfmt::skip]
pub const UPSTREAM_TLS_CONTEXT: Table = &[
    ("@type", Map),
    ("common_tls_context", Map),
    ("sni", Map),
    ("allow_renegotiation", DefaultOnly(is_false, "TLS renegotiation is not implemented (rustls refuses it)")),
    ("enforce_rsa_key_usage", Warn("rustls applies its own key usage checks")),
    ("max_session_keys", Warn("ringway keeps up to 256 sessions per cluster for resumption")),
];

/// `envoy.extensions.transport_sockets.tls.v3.CommonTlsContext`, read by `common_context`.
#[rustfmt::skip]
pub const COMMON_TLS_CONTEXT: Table = &[
    ("alpn_protocols", Map),
    ("tls_certificates", Map),
    ("tls_params", Map),
    ("validation_context", Map),
    ("combined_validation_context", Refuse(SDS)),
    ("custom_handshaker", Refuse(EXTENSIONS)),
    ("custom_tls_certificate_selector", Refuse(EXTENSIONS)),
    ("key_log", Refuse("TLS key logging is not implemented")),
    ("tls_certificate_certificate_provider", Refuse("certificate providers are not implemented")),
    ("tls_certificate_certificate_provider_instance", Refuse("certificate providers are not implemented")),
    ("tls_certificate_provider_instance", Refuse("certificate providers are not implemented")),
    ("tls_certificate_sds_secret_configs", Refuse(SDS)),
    ("validation_context_certificate_provider", Refuse("certificate providers are not implemented")),
    ("validation_context_certificate_provider_instance", Refuse("certificate providers are not implemented")),
    ("validation_context_sds_secret_config", Refuse(SDS)),
];

/// `envoy.extensions.transport_sockets.tls.v3.TlsParameters`, read by `tls_params`.
#[rustfmt::skip]
pub const TLS_PARAMETERS: Table = &[
    ("cipher_suites", Map),
    ("ecdh_curves", Map),
    ("tls_maximum_protocol_version", Map),
    ("tls_minimum_protocol_version", Map),
    ("compliance_policies", Refuse("compliance policies (FIPS 202205) are not implemented")),
    ("signature_algorithms", Refuse("choosing signature algorithms is not implemented")),
];

/// `envoy.extensions.transport_sockets.tls.v3.TlsCertificate`, read by `tls_certificate`.
#[rustfmt::skip]
pub const TLS_CERTIFICATE: Table = &[
    ("certificate_chain", Map),
    ("private_key", Map),
    ("watched_directory", Warn("certificate files are re-read on every reload (SIGHUP, POST /reload), not watched")),
    ("ocsp_staple", Refuse(OCSP)),
    ("password", Refuse("encrypted private keys are not implemented; decrypt the key file")),
    ("pkcs12", Refuse("PKCS#12 bundles are not implemented; give PEM certificate_chain and private_key")),
    ("private_key_provider", Refuse(EXTENSIONS)),
    ("signed_certificate_timestamp", Refuse("certificate transparency timestamps are not implemented")),
];

/// `envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext`,
/// read by `validation_context`.
#[rustfmt::skip]
pub const CERTIFICATE_VALIDATION_CONTEXT: Table = &[
    ("match_subject_alt_names", Map),
    ("match_typed_subject_alt_names", Map),
    ("trusted_ca", Map),
    ("allow_expired_certificate", DefaultOnly(is_false, "accepting expired certificates is not implemented")),
    ("trust_chain_verification", DefaultOnly(is_verify_trust_chain, "accepting untrusted chains is not implemented (use verify: none on a cluster)")),
    ("watched_directory", Warn("CA files are re-read on every reload (SIGHUP, POST /reload), not watched")),
    ("ca_certificate_provider_instance", Refuse("certificate providers are not implemented")),
    ("crl", Refuse(CRL)),
    ("custom_validator_config", Refuse(EXTENSIONS)),
    ("max_verify_depth", Refuse("limiting the verification depth is not implemented")),
    ("only_verify_leaf_cert_crl", Refuse(CRL)),
    ("system_root_certs", Refuse("system root certificates in a validation context are not implemented; on a cluster, write the native verify: system")),
    ("verify_certificate_hash", Refuse(CERT_PINNING)),
    ("verify_certificate_spki", Refuse(CERT_PINNING)),
];

/// `envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher`, read by `exact_dns_matcher`.
#[rustfmt::skip]
pub const SUBJECT_ALT_NAME_MATCHER: Table = &[
    ("matcher", Map),
    ("san_type", Map),
    ("oid", Refuse("OID SAN matching is not implemented")),
];

/// `envoy.type.matcher.v3.StringMatcher` (a SAN `matcher`), read by `exact_dns_matcher`.
#[rustfmt::skip]
pub const SAN_STRING_MATCHER: Table = &[
    ("exact", Map),
    ("ignore_case", DefaultOnly(is_false, "only exact matching is implemented")),
    ("contains", Refuse("only exact name matching is implemented")),
    ("prefix", Refuse("only exact name matching is implemented")),
    ("safe_regex", Refuse("only exact name matching is implemented")),
    ("suffix", Refuse("only exact name matching is implemented")),
];

/// `envoy.config.core.v3.DataSource`, read by `data_source`.
#[rustfmt::skip]
pub const DATA_SOURCE: Table = &[
    ("filename", Map),
    ("inline_string", Map),
    ("watched_directory", Warn("files are re-read on every reload (SIGHUP, POST /reload), not watched")),
    ("environment_variable", Refuse("PEM from environment variables is not implemented")),
    ("inline_bytes", Refuse("inline_bytes is not implemented; give the PEM as inline_string")),
];

/// `google.protobuf.BoolValue`, read by `bool_value`.
#[rustfmt::skip]
pub const BOOL_VALUE: Table = &[
    ("value", Map),
];
