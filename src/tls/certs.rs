//! Certificates and keys: PEM → DER → a rustls `CertifiedKey`, checked before any
//! handshake sees it. The private key must match the leaf (first) certificate of
//! its chain; ECDSA P-256/P-384, Ed25519 and RSA keys load (PKCS#8, SEC1, PKCS#1).
//! Each certificate's facts (serial, subject, SANs, validity) are read once here
//! for SNI selection, the expiry warning and the admin's `/certs`.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
    RootCertStore,
};
use x509_parser::{extensions::GeneralName, prelude::FromDer};

use super::{source::PemSource, CertPart, PartError, TlsError};

/// A certificate closer than this to its expiry is warned about at every load.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);
const SECONDS_PER_DAY: i64 = 24 * 3600;

/// A certificate chain and the private key for its leaf, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateSpec {
    pub cert_chain: PemSource,
    pub private_key: PemSource,
}

/// What ringway knows about one loaded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The file it came from, or `<inline>`.
    pub source: String,
    /// Lower-case hex without separators, as Envoy's `/certs` prints it.
    pub serial: String,
    /// RFC 4514-style, e.g. `CN=example.com, O=Example`.
    pub subject: String,
    /// DNS names of the subjectAltName extension, as written (`*.example.com`).
    pub dns_names: Vec<String>,
    /// IP addresses of the subjectAltName extension.
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertFacts {
    /// Whole days until `not_after` (negative once expired), as Envoy's `/certs`.
    pub fn days_until_expiry(&self, now: SystemTime) -> i64 {
        (self.not_after - unix_seconds(now)).div_euclid(SECONDS_PER_DAY)
    }

    /// The names SNI can select this certificate by: its DNS SANs, or its common
    /// name when it has no SANs at all (as Envoy and browsers of old did).
    pub fn server_names(&self) -> Vec<String> {
        if !self.dns_names.is_empty() {
            return self.dns_names.clone();
        }
        if !self.ip_addresses.is_empty() {
            return Vec::new();
        }
        self.common_name.iter().cloned().collect()
    }

    /// A warning when the certificate has expired or expires within `EXPIRY_WARNING`.
    pub fn expiry_warning(&self, now: SystemTime) -> Option<String> {
        let left = self.not_after - unix_seconds(now);
        let days = self.days_until_expiry(now);
        if left < 0 {
            Some(format!(
                "certificate {} ({}) expired {} days ago",
                self.source, self.subject, -days
            ))
        } else if left < EXPIRY_WARNING.as_secs() as i64 {
            Some(format!(
                "certificate {} ({}) expires in {days} days",
                self.source, self.subject
            ))
        } else {
            None
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// A chain and key ready to serve (or to present as a client certificate).
#[derive(Debug, Clone)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// One per certificate of the chain, leaf first.
    pub chain: Vec<CertFacts>,
    /// The bytes read, for telling a changed file from an unchanged one.
    pub material: Vec<u8>,
}

impl LoadedCert {
    pub fn leaf(&self) -> &CertFacts {
        // `load_certified_key` refuses an empty chain.
        &self.chain[0]
    }
}

/// Load a chain and its key, and check that they belong together.
pub fn load_certified_key(
    spec: &CertificateSpec,
    provider: &CryptoProvider,
) -> Result<LoadedCert, PartError> {
    let chain_part = |error| PartError {
        part: CertPart::CertChain,
        error,
    };
    let key_part = |error| PartError {
        part: CertPart::PrivateKey,
        error,
    };
    let chain_pem = spec.cert_chain.read().map_err(chain_part)?;
    let chain = parse_certificates(&spec.cert_chain, &chain_pem).map_err(chain_part)?;
    let facts = chain
        .iter()
        .map(|der| facts(spec.cert_chain.name(), der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(chain_part)?;
    let key_pem = spec.private_key.read().map_err(key_part)?;
    let key_name = spec.private_key.name().to_string();
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        key_part(TlsError::Pem {
            source_name: key_name.clone(),
            reason: match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key in it (expected a PEM `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY` block)".to_string()
                }
                other => other.to_string(),
            },
        })
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| {
            key_part(TlsError::UnsupportedKey {
                source_name: key_name.clone(),
                reason: e.to_string(),
            })
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(key_part(TlsError::KeyMismatch {
                key: key_name,
                chain: spec.cert_chain.name().to_string(),
            }))
        }
        // The provider cannot derive this key's public half; rustls itself
        // accepts such keys unchecked, and so do we.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(other) => {
            return Err(chain_part(TlsError::BadCertificate {
                source_name: spec.cert_chain.name().to_string(),
                reason: other.to_string(),
            }))
        }
    }
    let mut material = chain_pem;
    material.extend_from_slice(&key_pem);
    Ok(LoadedCert {
        key: Arc::new(certified),
        chain: facts,
        material,
    })
}

/// A bundle of CA certificates (for verifying peers), with their facts and bytes.
#[derive(Debug, Clone)]
pub struct LoadedCa {
    pub roots: Arc<RootCertStore>,
    pub facts: Vec<CertFacts>,
    pub material: Vec<u8>,
}

pub fn load_ca(source: &PemSource) -> Result<LoadedCa, TlsError> {
    let pem = source.read()?;
    let certs = parse_certificates(source, &pem)?;
    let mut roots = RootCertStore::empty();
    let mut facts_list = Vec::with_capacity(certs.len());
    for der in certs {
        facts_list.push(facts(source.name(), &der)?);
        roots.add(der).map_err(|e| TlsError::BadCertificate {
            source_name: source.name().to_string(),
            reason: format!("not usable as a trust anchor: {e}"),
        })?;
    }
    Ok(LoadedCa {
        roots: Arc::new(roots),
        facts: facts_list,
        material: pem,
    })
}

/// Every `CERTIFICATE` block of a PEM text, in order; at least one.
fn parse_certificates(
    source: &PemSource,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            source_name: source.name().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            source_name: source.name().to_string(),
            reason: "no certificate in it (expected a PEM `CERTIFICATE` block)".into(),
        });
    }
    Ok(certs)
}

/// Read one certificate's facts with x509-parser.
pub fn facts(source_name: &str, der: &CertificateDer<'_>) -> Result<CertFacts, TlsError> {
    let bad = |reason: String| TlsError::BadCertificate {
        source_name: source_name.to_string(),
        reason,
    };
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der.as_ref())
        .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| bad(format!("bad subjectAltName: {e}")))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns_names.push(n.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    Ok(CertFacts {
        source: source_name.to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        subject: cert.subject().to_string(),
        dns_names,
        ip_addresses,
        common_name,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}
