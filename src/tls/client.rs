//! A cluster's TLS (origination): one rustls `ClientConfig` per cluster, built at
//! config load and shared by every worker, and the name it sends and verifies.
//!
//! SNI follows Envoy: none is sent unless `sni` is set. Verification is explicit:
//! a private CA (`ca`), the system trust store, or `none` (accept any certificate,
//! warned about at every load). With a CA and no `sni`, the chain is verified but
//! no name is (there is none to check, as in Envoy without SAN matchers); with
//! `sni`, the certificate must also be valid for that name. `system` needs `sni`.
//!
//! `ClusterTls` compares equal when its settings and every byte it loaded are
//! equal, so a reload that changes nothing keeps the cluster (and its pools),
//! and one that renews a CA or client certificate rebuilds it.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
    time::SystemTime,
};

use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        ResolvesClientCert, WebPkiServerVerifier,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    sign::CertifiedKey,
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{
    certs::{load_ca, load_certified_key, CertFacts, CertificateSpec},
    params::{Alpn, ProtocolParams},
    source::PemSource,
    FieldWarning, TlsError, TlsFieldError,
};

/// The name verified when no `sni` is configured. Never sent (SNI is off then),
/// and never checked (the chain-only verifier ignores names); it exists because a
/// rustls client connection needs some server name.
pub const NO_SNI_NAME: &str = "upstream.invalid";

/// How the upstream's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verify {
    /// Signed by a CA in this PEM bundle.
    Ca(PemSource),
    /// Signed by a CA of the system trust store (`SSL_CERT_FILE`/`SSL_CERT_DIR`,
    /// else the distribution's bundle).
    System,
    /// Not checked at all. Encrypts, but any machine in the path can impersonate
    /// the upstream.
    None,
}

/// A cluster's `tls:` block, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterTlsSpec {
    /// Sent as SNI and checked against the certificate; `None`: no SNI.
    pub sni: Option<String>,
    pub verify: Verify,
    /// Offered to the upstream; empty: no ALPN extension (Envoy's default).
    pub alpn: Vec<Alpn>,
    pub client_certificate: Option<CertificateSpec>,
    pub params: ProtocolParams,
}

#[derive(Debug)]
pub struct ClusterTls {
    spec: ClusterTlsSpec,
    /// A digest of every byte loaded for this cluster (CA bundle, client chain
    /// and key): part of equality, so a renewed file makes a changed cluster.
    material: u64,
    client_config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    ca: Vec<CertFacts>,
    client_certificate: Vec<CertFacts>,
    warnings: Vec<FieldWarning>,
}

impl PartialEq for ClusterTls {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.material == other.material
    }
}

impl Eq for ClusterTls {}

impl ClusterTls {
    /// Load every file and build the client config. `field` is the config path of
    /// the `tls` block (`clusters[0].tls`).
    pub fn build(
        field: &str,
        spec: &ClusterTlsSpec,
        now: SystemTime,
    ) -> Result<ClusterTls, TlsFieldError> {
        let provider = spec.params.provider();
        let mut warnings = Vec::new();
        let mut material = std::collections::hash_map::DefaultHasher::new();
        let server_name = match &spec.sni {
            Some(name) => ServerName::try_from(name.clone()).map_err(|_| {
                TlsError::Rustls(format!("`{name}` is not a DNS name")).at(&format!("{field}.sni"))
            })?,
            None => ServerName::try_from(NO_SNI_NAME).expect("a valid DNS name"),
        };
        let mut ca_facts = Vec::new();
        let verifier: Arc<dyn ServerCertVerifier> = match &spec.verify {
            Verify::Ca(source) => {
                let at = format!("{field}.verify.ca");
                let loaded = load_ca(source).map_err(|e| e.at(&at))?;
                loaded.material.hash(&mut material);
                ca_facts = loaded.facts;
                for f in &ca_facts {
                    if let Some(w) = f.expiry_warning(now) {
                        warnings.push(FieldWarning::new(at.clone(), w));
                    }
                }
                let webpki = webpki_verifier(loaded.roots, &provider, source.name(), &at)?;
                match spec.sni {
                    Some(_) => webpki,
                    None => Arc::new(ChainOnly(webpki)),
                }
            }
            Verify::System => {
                let at = format!("{field}.verify");
                let roots = system_roots().map_err(|e| e.at(&at))?;
                webpki_verifier(Arc::new(roots), &provider, "the system trust store", &at)?
            }
            Verify::None => {
                warnings.push(FieldWarning::new(
                    format!("{field}.verify"),
                    "verify: none accepts any upstream certificate: the connection is encrypted but anyone in the path can impersonate the upstream",
                ));
                Arc::new(AcceptAny(provider.clone()))
            }
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&spec.params.versions.rustls())
            .map_err(|e| TlsError::Rustls(e.to_string()).at(field))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut client_facts = Vec::new();
        let mut config = match &spec.client_certificate {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let at = format!("{field}.client_certificate");
                let loaded = load_certified_key(c, &provider).map_err(|e| e.at(&at))?;
                loaded.material.hash(&mut material);
                if let Some(w) = loaded.leaf().expiry_warning(now) {
                    warnings.push(FieldWarning::new(format!("{at}.cert_chain"), w));
                }
                client_facts.push(loaded.leaf().clone());
                builder.with_client_cert_resolver(Arc::new(FixedClientCert(loaded.key)))
            }
        };
        config.enable_sni = spec.sni.is_some();
        config.alpn_protocols = spec.alpn.iter().map(|a| a.wire().to_vec()).collect();
        Ok(ClusterTls {
            spec: spec.clone(),
            material: material.finish(),
            client_config: Arc::new(config),
            server_name,
            ca: ca_facts,
            client_certificate: client_facts,
            warnings,
        })
    }

    /// The config for every connection to this cluster's hosts
    /// (`rustls::ClientConnection::new(tls.client_config(), tls.server_name())`).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config.clone()
    }

    /// The name to hand rustls: `sni` when set (sent and verified), else a
    /// placeholder that is neither sent nor checked.
    pub fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }

    pub fn spec(&self) -> &ClusterTlsSpec {
        &self.spec
    }

    pub fn ca(&self) -> &[CertFacts] {
        &self.ca
    }

    pub fn client_certificate(&self) -> &[CertFacts] {
        &self.client_certificate
    }

    pub fn warnings(&self) -> &[FieldWarning] {
        &self.warnings
    }
}

/// The one client certificate of a cluster, offered whenever the upstream asks.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn webpki_verifier(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    source_name: &str,
    at: &str,
) -> Result<Arc<dyn ServerCertVerifier>, TlsFieldError> {
    let v = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| {
            TlsError::Verifier {
                source_name: source_name.to_string(),
                reason: e.to_string(),
            }
            .at(at)
        })?;
    Ok(v)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or("no certificates found".to_string(), |e| e.to_string());
        return Err(TlsError::SystemRoots(why));
    }
    Ok(roots)
}

/// A CA without a name to check: the chain must verify; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the name only after the chain verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `verify: none`: any certificate is accepted, but the handshake signatures are
/// still checked (so the peer at least holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
