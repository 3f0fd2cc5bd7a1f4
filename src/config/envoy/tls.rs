//! Envoy's TLS transport sockets: `DownstreamTlsContext` on a filter chain (v3
//! `transport_socket`, v2 `tls_context`) and `UpstreamTlsContext` on a cluster
//! (v3 `transport_socket`, a `transport_socket_matches` list of one, v2
//! `tls_context`), translated into the native `tls:` blocks. Certificates and CAs
//! may be files (`filename`) or PEM in the file (`inline_string`).
//!
//! What rustls and ringway cannot do is refused at its path: SDS secrets, OCSP
//! stapling, private key providers, key passwords, CRLs, certificate pinning,
//! renegotiation, TLS below 1.2, non-AEAD cipher suites, P-521. Cipher names are
//! checked here rather than after translation, because Envoy's BoringSSL syntax
//! (`[A|B]` groups) does not map one entry to one native entry.

use super::{
    common::{extension, named_path},
    rules::tls as rules,
    walk::{Ctx, Node, Origins},
};
use crate::{
    config::{
        raw::{
            RawCertificate, RawClusterTls, RawInlinePem, RawListenerTls, RawPem, RawTlsVersion,
            RawVerify, RawVerifyCa,
        },
        ConfigError,
    },
    tls::{params::CIPHERS, Cipher, Group, TlsVersion},
};

const TLS_SOCKET_NAMES: &[&str] = &["envoy.transport_sockets.tls", "tls"];
const RAW_SOCKET_NAMES: &[&str] = &["envoy.transport_sockets.raw_buffer", "raw_buffer"];
const DOWNSTREAM_TYPES: &[&str] = &[
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    "type.googleapis.com/envoy.api.v2.auth.DownstreamTlsContext",
];
const UPSTREAM_TYPES: &[&str] = &[
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    "type.googleapis.com/envoy.api.v2.auth.UpstreamTlsContext",
];
const RAW_TYPES: &[&str] =
    &["type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"];

/// Which way a context faces: it decides the `@type` and the fields allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Downstream,
    Upstream,
}

/// A `transport_socket`: `Some(body)` for TLS, `None` for `raw_buffer` (plaintext).
fn transport_socket<'a>(
    cx: &mut Ctx,
    node: &Node<'a>,
    side: Side,
) -> Result<Option<Node<'a>>, ConfigError> {
    let f = cx.fields(node, rules::TRANSPORT_SOCKET)?;
    let (name, body, type_url) = extension(cx, node, &f)?;
    let types = match side {
        Side::Downstream => DOWNSTREAM_TYPES,
        Side::Upstream => UPSTREAM_TYPES,
    };
    let is_raw = match &type_url {
        Some(t) => RAW_TYPES.contains(&t.as_str()),
        None => RAW_SOCKET_NAMES.contains(&name.as_str()),
    };
    if is_raw {
        return Ok(None);
    }
    let is_tls = match &type_url {
        Some(t) => types.contains(&t.as_str()),
        None => TLS_SOCKET_NAMES.contains(&name.as_str()),
    };
    if !is_tls {
        let what = type_url.unwrap_or(name);
        let expected = match side {
            Side::Downstream => "DownstreamTlsContext",
            Side::Upstream => "UpstreamTlsContext",
        };
        return Err(cx.unsupported(
            &named_path(node, &f),
            format!("transport socket `{what}` is not implemented; ringway's is envoy.transport_sockets.tls with a {expected}"),
        ));
    }
    Ok(Some(body))
}

/// A filter chain's `transport_socket` (v3) → the listener's `tls`, or `None` for
/// a plaintext `raw_buffer` socket.
pub fn listener_socket(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawListenerTls>, ConfigError> {
    match transport_socket(cx, node, Side::Downstream)? {
        None => Ok(None),
        Some(body) => downstream_context(cx, &body, native, origins).map(Some),
    }
}

/// A `DownstreamTlsContext` (v3 typed_config, v2 `tls_context`) → `tls:`.
pub fn downstream_context(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawListenerTls, ConfigError> {
    let f = cx.fields(node, rules::DOWNSTREAM_TLS_CONTEXT)?;
    origins.push((format!("{native}.tls"), node.path.clone()));
    let mut tls = RawListenerTls::default();
    if let Some(p) = f.get("prefer_client_ciphers") {
        if !cx.boolean(&p)? {
            cx.warn(&p.path, "ringway follows the client's cipher suite order");
        }
    }
    if let Some(d) = f.get("disable_stateless_session_resumption") {
        if cx.boolean(&d)? {
            tls.session_tickets = Some(false);
            origins.push((format!("{native}.tls.session_tickets"), d.path.clone()));
        }
    }
    let Some(common) = f.get("common_tls_context") else {
        return Err(cx.invalid(
            &node.path,
            "a DownstreamTlsContext needs common_tls_context with tls_certificates",
        ));
    };
    let c = common_context(
        cx,
        &common,
        Side::Downstream,
        &format!("{native}.tls"),
        origins,
    )?;
    if c.certificates.is_empty() {
        return Err(cx.invalid(
            &common.path,
            "a TLS listener needs at least one certificate in tls_certificates",
        ));
    }
    tls.certificates = c.certificates;
    tls.alpn = c.alpn;
    tls.min_version = c.min_version;
    tls.max_version = c.max_version;
    tls.cipher_suites = c.cipher_suites;
    tls.curves = c.curves;
    tls.client_ca = c.trusted_ca;
    if let Some(r) = f.get("require_client_certificate") {
        let required = bool_value(cx, &r)?;
        if required {
            tls.require_client_certificate = Some(true);
            origins.push((
                format!("{native}.tls.require_client_certificate"),
                r.path.clone(),
            ));
        }
    }
    Ok(tls)
}

/// A cluster's `transport_socket` → its `tls`, or `None` for `raw_buffer`.
pub fn cluster_socket(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawClusterTls>, ConfigError> {
    match transport_socket(cx, node, Side::Upstream)? {
        None => Ok(None),
        Some(body) => upstream_context(cx, &body, native, origins).map(Some),
    }
}

/// `transport_socket_matches` maps only as a list of one entry that matches
/// every endpoint: then it is that entry's transport socket.
pub fn cluster_socket_matches(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<Option<RawClusterTls>, ConfigError> {
    let list = cx.seq(node)?;
    if let Some(extra) = list.get(1) {
        return Err(cx.unsupported(
            &extra.path,
            "choosing a transport socket per endpoint is not implemented; one entry with an empty `match` maps",
        ));
    }
    let Some(entry) = list.first() else {
        return Ok(None);
    };
    let f = cx.fields(entry, rules::TRANSPORT_SOCKET_MATCH)?;
    match f.get("transport_socket") {
        Some(s) => cluster_socket(cx, &s, native, origins),
        None => Err(cx.invalid(&entry.path, "needs a `transport_socket`")),
    }
}

/// An `UpstreamTlsContext` → a cluster's `tls:`.
pub fn upstream_context(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawClusterTls, ConfigError> {
    let f = cx.fields(node, rules::UPSTREAM_TLS_CONTEXT)?;
    let field = format!("{native}.tls");
    origins.push((field.clone(), node.path.clone()));
    let sni = match f.get("sni") {
        Some(s) => {
            origins.push((format!("{field}.sni"), s.path.clone()));
            Some(cx.string(&s)?)
        }
        None => None,
    };
    let c = match f.get("common_tls_context") {
        Some(common) => common_context(cx, &common, Side::Upstream, &field, origins)?,
        None => CommonContext::default(),
    };
    if c.certificates.len() > 1 {
        return Err(cx.unsupported(
            &c.certificates_path,
            "one client certificate per cluster is implemented",
        ));
    }
    if let Some(san) = &c.san_exact {
        if sni.as_deref() != Some(san.0.as_str()) {
            return Err(cx.unsupported(
                &san.1,
                "matching the upstream certificate against a name other than `sni` is not implemented; set sni to the name the certificate must carry",
            ));
        }
    }
    let verify = match c.trusted_ca {
        Some(ca) => {
            if sni.is_some() && c.san_exact.is_none() {
                cx.warn(
                    &node.path,
                    "ringway also checks that the upstream certificate is valid for `sni`; Envoy checks only the chain unless match_typed_subject_alt_names is set",
                );
            }
            RawVerify::Ca(RawVerifyCa { ca })
        }
        None => {
            // As in Envoy, no validation_context verifies nothing; the native
            // layer warns about `verify: none`, at this context's line.
            origins.push((format!("{field}.verify"), node.path.clone()));
            RawVerify::Named("none".into())
        }
    };
    Ok(RawClusterTls {
        sni,
        verify,
        alpn: c.alpn,
        client_certificate: c.certificates.into_iter().next(),
        min_version: c.min_version,
        max_version: c.max_version,
        cipher_suites: c.cipher_suites,
        curves: c.curves,
    })
}

/// What `common_tls_context` says, in native terms.
#[derive(Default)]
struct CommonContext {
    certificates: Vec<RawCertificate>,
    certificates_path: String,
    alpn: Option<Vec<String>>,
    min_version: Option<RawTlsVersion>,
    max_version: Option<RawTlsVersion>,
    cipher_suites: Option<Vec<String>>,
    curves: Option<Vec<String>>,
    trusted_ca: Option<RawPem>,
    /// One exact DNS SAN the peer's certificate must carry, and its path.
    san_exact: Option<(String, String)>,
}

fn common_context(
    cx: &mut Ctx,
    node: &Node,
    side: Side,
    field: &str,
    origins: &mut Origins,
) -> Result<CommonContext, ConfigError> {
    let f = cx.fields(node, rules::COMMON_TLS_CONTEXT)?;
    let mut c = CommonContext::default();
    if let Some(p) = f.get("tls_params") {
        tls_params(cx, &p, field, &mut c, origins)?;
    }
    if let Some(list) = f.get("tls_certificates") {
        c.certificates_path = list.path.clone();
        let key = match side {
            Side::Downstream => "certificates",
            Side::Upstream => "client_certificate",
        };
        for (i, entry) in cx.seq(&list)?.into_iter().enumerate() {
            let native = match side {
                Side::Downstream => format!("{field}.{key}[{i}]"),
                Side::Upstream => format!("{field}.{key}"),
            };
            c.certificates
                .push(tls_certificate(cx, &entry, &native, origins)?);
        }
    }
    if let Some(v) = f.get("validation_context") {
        validation_context(cx, &v, side, field, &mut c, origins)?;
    }
    if let Some(a) = f.get("alpn_protocols") {
        let mut list = Vec::new();
        for p in cx.seq(&a)? {
            // `h2` to an upstream needs the cluster's HTTP/2 options; the
            // native rules check that (`clusters[].tls.alpn`).
            list.push(cx.string(&p)?);
        }
        origins.push((format!("{field}.alpn"), a.path.clone()));
        c.alpn = Some(list);
    } else if side == Side::Downstream {
        // Envoy negotiates no protocol it was not told to (so no h2): say
        // http/1.1 rather than take ringway's native default, which offers h2.
        c.alpn = Some(vec!["http/1.1".to_string()]);
    }
    Ok(c)
}

fn tls_params(
    cx: &mut Ctx,
    node: &Node,
    field: &str,
    c: &mut CommonContext,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(node, rules::TLS_PARAMETERS)?;
    if let Some(v) = f.get("tls_minimum_protocol_version") {
        c.min_version = version(cx, &v)?;
        origins.push((format!("{field}.min_version"), v.path.clone()));
    }
    if let Some(v) = f.get("tls_maximum_protocol_version") {
        c.max_version = version(cx, &v)?;
        origins.push((format!("{field}.max_version"), v.path.clone()));
    }
    if let Some(list) = f.get("cipher_suites") {
        c.cipher_suites = Some(cipher_suites(cx, &list)?);
        origins.push((format!("{field}.cipher_suites"), list.path.clone()));
    }
    if let Some(list) = f.get("ecdh_curves") {
        let mut names = Vec::new();
        for item in cx.seq(&list)? {
            let name = cx.string(&item)?;
            match Group::parse(&name) {
                Some(g) => names.push(g.name().to_string()),
                None => {
                    return Err(cx.unsupported(
                        &item.path,
                        format!(
                        "`{name}` is not a key exchange group ringway implements; supported: {}",
                        crate::tls::params::group_names()
                    ),
                    ))
                }
            }
        }
        origins.push((format!("{field}.curves"), list.path.clone()));
        c.curves = Some(names);
    }
    Ok(())
}

/// Envoy's `TLS_AUTO`, `TLSv1_2`, `TLSv1_3`. `TLS_AUTO` means the default.
fn version(cx: &mut Ctx, node: &Node) -> Result<Option<RawTlsVersion>, ConfigError> {
    let text = cx.string(node)?;
    if text.eq_ignore_ascii_case("tls_auto") {
        return Ok(None);
    }
    match TlsVersion::parse(&text) {
        Ok(v) => Ok(Some(RawTlsVersion::Text(v.name().to_string()))),
        Err(crate::tls::params::VersionError::TooOld) => Err(cx.unsupported(
            &node.path,
            format!(
                "{text}: ringway speaks TLS 1.2 and 1.3 only (rustls implements nothing older)"
            ),
        )),
        Err(_) => Err(cx.parse_error(
            &node.path,
            format!("`{text}` is not TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3"),
        )),
    }
}

/// Envoy's cipher list applies to TLS 1.2 only (BoringSSL always offers its TLS
/// 1.3 suites), so the native list is the mapped TLS 1.2 suites followed by every
/// TLS 1.3 suite. `[A|B]` equal-preference groups are flattened: rustls follows
/// the client's order anyway.
fn cipher_suites(cx: &mut Ctx, node: &Node) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in cx.seq(node)? {
        let text = cx.string(&item)?;
        for name in text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split('|')
            .map(str::trim)
        {
            match Cipher::parse(name) {
                Some(c) if c.version() == TlsVersion::Tls12 => {
                    if !out.iter().any(|n| n == c.iana()) {
                        out.push(c.iana().to_string());
                    }
                }
                Some(_) => {
                    return Err(cx.unsupported(
                        &item.path,
                        format!("`{name}` is a TLS 1.3 suite; Envoy's cipher_suites choose TLS 1.2 suites only (every TLS 1.3 suite is offered)"),
                    ))
                }
                None => {
                    return Err(cx.unsupported(
                        &item.path,
                        format!(
                            "`{name}` is not a cipher suite ringway implements (only AEAD suites with ECDHE key exchange); supported: {}",
                            CIPHERS
                                .iter()
                                .filter(|c| c.version == TlsVersion::Tls12)
                                .map(|c| c.openssl)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
    }
    out.extend(
        CIPHERS
            .iter()
            .filter(|c| c.version == TlsVersion::Tls13)
            .map(|c| c.iana.to_string()),
    );
    Ok(out)
}

fn tls_certificate(
    cx: &mut Ctx,
    node: &Node,
    native: &str,
    origins: &mut Origins,
) -> Result<RawCertificate, ConfigError> {
    let f = cx.fields(node, rules::TLS_CERTIFICATE)?;
    origins.push((native.to_string(), node.path.clone()));
    let (Some(chain), Some(key)) = (f.get("certificate_chain"), f.get("private_key")) else {
        return Err(cx.invalid(
            &node.path,
            "a certificate needs both certificate_chain and private_key",
        ));
    };
    origins.push((format!("{native}.cert_chain"), chain.path.clone()));
    origins.push((format!("{native}.private_key"), key.path.clone()));
    Ok(RawCertificate {
        cert_chain: data_source(cx, &chain)?,
        private_key: data_source(cx, &key)?,
    })
}

fn validation_context(
    cx: &mut Ctx,
    node: &Node,
    side: Side,
    field: &str,
    c: &mut CommonContext,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let f = cx.fields(node, rules::CERTIFICATE_VALIDATION_CONTEXT)?;
    if let Some(ca) = f.get("trusted_ca") {
        let native = match side {
            Side::Downstream => format!("{field}.client_ca"),
            Side::Upstream => format!("{field}.verify.ca"),
        };
        origins.push((native, ca.path.clone()));
        c.trusted_ca = Some(data_source(cx, &ca)?);
    }
    for key in ["match_typed_subject_alt_names", "match_subject_alt_names"] {
        let Some(list) = f.get(key) else { continue };
        if side == Side::Downstream {
            return Err(cx.unsupported(
                &list.path,
                "matching client certificate names is not implemented; any certificate the client_ca signed is accepted",
            ));
        }
        let items = cx.seq(&list)?;
        if items.len() != 1 || c.san_exact.is_some() {
            return Err(cx.unsupported(
                &list.path,
                "one exact DNS name (the cluster's sni) is the only name match implemented",
            ));
        }
        c.san_exact = Some((
            exact_dns_matcher(cx, &items[0], key)?,
            items[0].path.clone(),
        ));
    }
    Ok(())
}

/// `{ san_type: DNS, matcher: { exact: NAME } }` (typed) or `{ exact: NAME }`.
fn exact_dns_matcher(cx: &mut Ctx, node: &Node, key: &str) -> Result<String, ConfigError> {
    let matcher = if key == "match_typed_subject_alt_names" {
        let f = cx.fields(node, rules::SUBJECT_ALT_NAME_MATCHER)?;
        match f.get("san_type") {
            Some(t) if cx.string(&t)?.eq_ignore_ascii_case("dns") => {}
            Some(t) => return Err(cx.unsupported(&t.path, "only DNS names are matched")),
            None => return Err(cx.invalid(&node.path, "needs a san_type")),
        }
        f.get("matcher")
            .ok_or_else(|| cx.invalid(&node.path, "needs a matcher"))?
    } else {
        node.clone()
    };
    let m = cx.fields(&matcher, rules::SAN_STRING_MATCHER)?;
    match m.get("exact") {
        Some(e) => cx.string(&e),
        None => Err(cx.unsupported(&matcher.path, "only exact name matching is implemented")),
    }
}

/// A DataSource: `filename` or `inline_string`.
fn data_source(cx: &mut Ctx, node: &Node) -> Result<RawPem, ConfigError> {
    let f = cx.fields(node, rules::DATA_SOURCE)?;
    match (f.get("filename"), f.get("inline_string")) {
        (Some(p), None) => Ok(RawPem::Path(cx.string(&p)?)),
        (None, Some(s)) => Ok(RawPem::Inline(RawInlinePem {
            inline: cx.string(&s)?,
        })),
        _ => Err(cx.invalid(&node.path, "give exactly one of filename or inline_string")),
    }
}

/// A `BoolValue`: `true`, or `{ value: true }`.
fn bool_value(cx: &mut Ctx, node: &Node) -> Result<bool, ConfigError> {
    if node.v.is_mapping() {
        let f = cx.fields(node, rules::BOOL_VALUE)?;
        return match f.get("value") {
            Some(v) => cx.boolean(&v),
            None => Ok(false),
        };
    }
    cx.boolean(node)
}
