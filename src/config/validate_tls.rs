//! The `tls:` blocks of listeners and clusters, and the listener connection
//! limit: raw YAML → `tls::*Spec` (names mapped, defaults applied, rules checked)
//! → loaded `ListenerTls`/`ClusterTls`. Loading reads every certificate file, so a
//! bad file is a config error naming the field and the file, found before any
//! worker sees the config.

use std::{sync::Arc, time::SystemTime};

use super::{
    error::ConfigError,
    model::{defaults, ListenerCodec, UpstreamProtocol},
    raw::{RawCertificate, RawClusterTls, RawListenerTls, RawPem, RawTlsVersion, RawVerify},
};
use crate::tls::{
    params::{cipher_names, group_names},
    Alpn, CertificateSpec, Cipher, ClientAuth, ClusterTls, ClusterTlsSpec, Group, ListenerTls,
    ListenerTlsSpec, PemSource, ProtocolParams, SessionTickets, TlsFieldError, TlsVersion, Verify,
    VersionRange,
};

/// `codec`: the listener's; it decides the default ALPN offer and which
/// offers make sense.
pub fn listener_tls(
    field: &str,
    raw: &RawListenerTls,
    codec: ListenerCodec,
) -> Result<Arc<ListenerTls>, ConfigError> {
    if raw.certificates.is_empty() {
        return Err(ConfigError::invalid(
            format!("{field}.certificates"),
            "a TLS listener needs at least one certificate: [{ cert_chain: PATH, private_key: PATH }]",
        ));
    }
    let certificates = raw
        .certificates
        .iter()
        .enumerate()
        .map(|(i, c)| certificate(&format!("{field}.certificates[{i}]"), c))
        .collect::<Result<Vec<_>, _>>()?;
    let alpn = match &raw.alpn {
        None => match codec {
            ListenerCodec::Auto => vec![Alpn::Http2, Alpn::Http11],
            ListenerCodec::Http1 => vec![Alpn::Http11],
            ListenerCodec::Http2 => vec![Alpn::Http2],
        },
        Some(list) if list.is_empty() => {
            return Err(ConfigError::invalid(
                format!("{field}.alpn"),
                "an empty list offers nothing; give [h2, http/1.1] or leave alpn out",
            ))
        }
        Some(list) => {
            let offer = alpn(&format!("{field}.alpn"), list)?;
            let clash = match codec {
                ListenerCodec::Auto => None,
                ListenerCodec::Http1 if offer.contains(&Alpn::Http2) => {
                    Some("a `codec: http1` listener cannot offer h2")
                }
                ListenerCodec::Http2 if offer.contains(&Alpn::Http11) => {
                    Some("a `codec: http2` listener cannot offer http/1.1")
                }
                _ => None,
            };
            if let Some(why) = clash {
                return Err(ConfigError::invalid(format!("{field}.alpn"), why));
            }
            offer
        }
    };
    let params = protocol_params(
        field,
        &raw.min_version,
        &raw.max_version,
        &raw.cipher_suites,
        &raw.curves,
    )?;
    let client_auth = match (&raw.client_ca, raw.require_client_certificate) {
        (None, Some(true)) => {
            return Err(ConfigError::invalid(
                format!("{field}.require_client_certificate"),
                "requiring client certificates needs `client_ca`, the CA they must chain to",
            ))
        }
        (None, _) => ClientAuth::Off,
        (Some(ca), Some(true)) => ClientAuth::Required {
            ca: pem(&format!("{field}.client_ca"), ca)?,
        },
        (Some(ca), _) => ClientAuth::Optional {
            ca: pem(&format!("{field}.client_ca"), ca)?,
        },
    };
    let handshake_timeout = match raw.handshake_timeout {
        None => defaults::TLS_HANDSHAKE_TIMEOUT,
        Some(d) if d.0.is_zero() => {
            return Err(ConfigError::invalid(
                format!("{field}.handshake_timeout"),
                "must be greater than 0",
            ))
        }
        Some(d) => d.0,
    };
    let max_concurrent_handshakes = match raw.max_concurrent_handshakes {
        None => defaults::MAX_CONCURRENT_HANDSHAKES,
        Some(0) => {
            return Err(ConfigError::invalid(
                format!("{field}.max_concurrent_handshakes"),
                "must be at least 1 (0 would refuse every connection)",
            ))
        }
        Some(n) => n,
    };
    let spec = ListenerTlsSpec {
        certificates,
        alpn,
        params,
        session_tickets: match raw.session_tickets {
            Some(false) => SessionTickets::Off,
            _ => SessionTickets::On,
        },
        client_auth,
        handshake_timeout,
        max_concurrent_handshakes,
    };
    ListenerTls::build(field, &spec, SystemTime::now())
        .map(Arc::new)
        .map_err(loading)
}

/// `protocol`: the cluster's; it decides the default ALPN offer (`http2`:
/// `[h2]`, `auto`: `[h2, http/1.1]`, `http1`: none) and which offers make sense.
pub fn cluster_tls(
    field: &str,
    raw: &RawClusterTls,
    protocol: UpstreamProtocol,
) -> Result<Arc<ClusterTls>, ConfigError> {
    let verify = match &raw.verify {
        RawVerify::Named(n) if n.eq_ignore_ascii_case("system") => Verify::System,
        RawVerify::Named(n) if n.eq_ignore_ascii_case("none") => Verify::None,
        RawVerify::Named(other) => {
            return Err(ConfigError::invalid(
                format!("{field}.verify"),
                format!("`{other}` is not `system`, `none` or `{{ ca: PATH }}`"),
            ))
        }
        RawVerify::Ca(c) => Verify::Ca(pem(&format!("{field}.verify.ca"), &c.ca)?),
    };
    let sni = match &raw.sni {
        None => None,
        Some(name) => Some(sni(&format!("{field}.sni"), name)?),
    };
    if verify == Verify::System && sni.is_none() {
        return Err(ConfigError::invalid(
            format!("{field}.verify"),
            "verify: system needs `sni`, the name the certificate must be valid for (without one, any publicly trusted certificate would pass)",
        ));
    }
    let alpn = match (&raw.alpn, protocol) {
        (None, UpstreamProtocol::Http1) => Vec::new(),
        (None, UpstreamProtocol::Http2) => vec![Alpn::Http2],
        (None, UpstreamProtocol::Auto) => vec![Alpn::Http2, Alpn::Http11],
        (Some(list), _) => alpn(&format!("{field}.alpn"), list)?,
    };
    let h2 = alpn.iter().position(|a| *a == Alpn::Http2);
    match (protocol, h2) {
        (UpstreamProtocol::Http1, Some(i)) => {
            return Err(ConfigError::invalid(
                format!("{field}.alpn[{i}]"),
                "the cluster speaks HTTP/1.1 (`protocol: http1`): set `protocol: http2` or `auto` to offer h2",
            ))
        }
        (UpstreamProtocol::Http2, _) if alpn != [Alpn::Http2] => {
            return Err(ConfigError::invalid(
                format!("{field}.alpn"),
                "`protocol: http2` offers exactly [h2] (use `protocol: auto` to let ALPN choose)",
            ))
        }
        _ => {}
    }
    let client_certificate = match &raw.client_certificate {
        None => None,
        Some(c) => Some(certificate(&format!("{field}.client_certificate"), c)?),
    };
    let spec = ClusterTlsSpec {
        sni,
        verify,
        alpn,
        client_certificate,
        params: protocol_params(
            field,
            &raw.min_version,
            &raw.max_version,
            &raw.cipher_suites,
            &raw.curves,
        )?,
    };
    ClusterTls::build(field, &spec, SystemTime::now())
        .map(Arc::new)
        .map_err(loading)
}

/// `max_connections` of a listener: at least 1.
pub fn max_connections(field: &str, raw: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match raw {
        Some(0) => Err(ConfigError::invalid(
            field,
            "must be at least 1 (0 would refuse every connection); leave it out for no limit",
        )),
        other => Ok(other),
    }
}

fn loading(e: TlsFieldError) -> ConfigError {
    ConfigError::invalid(e.field, e.error.to_string())
}

fn certificate(field: &str, raw: &RawCertificate) -> Result<CertificateSpec, ConfigError> {
    Ok(CertificateSpec {
        cert_chain: pem(&format!("{field}.cert_chain"), &raw.cert_chain)?,
        private_key: pem(&format!("{field}.private_key"), &raw.private_key)?,
    })
}

fn pem(field: &str, raw: &RawPem) -> Result<PemSource, ConfigError> {
    match raw {
        RawPem::Path(p) if p.trim().is_empty() => Err(ConfigError::invalid(
            field,
            "give a file path, or { inline: PEM }",
        )),
        RawPem::Path(p) => Ok(PemSource::File(p.clone())),
        RawPem::Inline(i) if i.inline.trim().is_empty() => {
            Err(ConfigError::invalid(field, "the inline PEM is empty"))
        }
        RawPem::Inline(i) => Ok(PemSource::Inline(i.inline.clone())),
    }
}

fn alpn(field: &str, list: &[String]) -> Result<Vec<Alpn>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let a = Alpn::parse(text).map_err(|e| ConfigError::invalid(&at, e.reason(text)))?;
        if out.contains(&a) {
            return Err(ConfigError::invalid(
                at,
                format!("`{text}` is listed twice"),
            ));
        }
        out.push(a);
    }
    Ok(out)
}

fn sni(field: &str, name: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::invalid(field, format!("`{name}` {why}"));
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("is an IP address; SNI carries DNS names only"));
    }
    match rustls::pki_types::ServerName::try_from(name) {
        Ok(_) => Ok(name.to_ascii_lowercase()),
        Err(_) => Err(bad("is not a DNS name")),
    }
}

/// Versions, cipher suites and groups, shared by listeners and clusters. Each
/// version the range allows must keep at least one cipher suite.
fn protocol_params(
    field: &str,
    min: &Option<RawTlsVersion>,
    max: &Option<RawTlsVersion>,
    ciphers: &Option<Vec<String>>,
    curves: &Option<Vec<String>>,
) -> Result<ProtocolParams, ConfigError> {
    let mut versions = VersionRange::default();
    if let Some(v) = min {
        versions.min = version(&format!("{field}.min_version"), v)?;
    }
    if let Some(v) = max {
        versions.max = version(&format!("{field}.max_version"), v)?;
    }
    if versions.min > versions.max {
        return Err(ConfigError::invalid(
            format!("{field}.max_version"),
            format!(
                "max_version {} is below min_version {}",
                versions.max.name(),
                versions.min.name()
            ),
        ));
    }
    let cipher_suites = match ciphers {
        None => None,
        Some(list) => Some(cipher_list(
            &format!("{field}.cipher_suites"),
            list,
            versions,
        )?),
    };
    let groups = match curves {
        None => None,
        Some(list) => Some(group_list(&format!("{field}.curves"), list)?),
    };
    Ok(ProtocolParams {
        versions,
        cipher_suites,
        groups,
    })
}

fn version(field: &str, raw: &RawTlsVersion) -> Result<TlsVersion, ConfigError> {
    let text = raw.text();
    TlsVersion::parse(&text).map_err(|e| ConfigError::invalid(field, e.reason(&text)))
}

fn cipher_list(
    field: &str,
    list: &[String],
    versions: VersionRange,
) -> Result<Vec<Cipher>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::invalid(
            field,
            "an empty list allows no cipher suite; leave cipher_suites out for the defaults",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let c = Cipher::parse(name).ok_or_else(|| {
            ConfigError::invalid(
                format!("{field}[{i}]"),
                format!(
                    "`{name}` is not a cipher suite ringway implements (only AEAD suites with ECDHE or TLS 1.3 key exchange); supported: {}",
                    cipher_names()
                ),
            )
        })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    for v in [TlsVersion::Tls12, TlsVersion::Tls13] {
        if versions.contains(v) && !out.iter().any(|c| c.version() == v) {
            return Err(ConfigError::invalid(
                field,
                format!(
                    "no TLS {} cipher suite is listed, yet the versions allow TLS {}: add one (e.g. {}) or change min_version/max_version",
                    v.name(),
                    v.name(),
                    match v {
                        TlsVersion::Tls12 => "ECDHE-ECDSA-AES128-GCM-SHA256",
                        TlsVersion::Tls13 => "TLS_AES_128_GCM_SHA256",
                    }
                ),
            ));
        }
    }
    Ok(out)
}

fn group_list(field: &str, list: &[String]) -> Result<Vec<Group>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::invalid(
            field,
            "an empty list allows no key exchange; leave curves out for the defaults",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let g = Group::parse(name).ok_or_else(|| {
            ConfigError::invalid(
                format!("{field}[{i}]"),
                format!(
                    "`{name}` is not a key exchange group ringway implements; supported: {}",
                    group_names()
                ),
            )
        })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}
