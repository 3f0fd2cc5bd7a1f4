//! TLS: termination on listeners and origination to clusters, with rustls.
//!
//! This module is the sans-IO half: it turns a validated `tls:` block into rustls
//! configs — certificates and keys loaded and checked, SNI selection, versions,
//! cipher suites, key-exchange groups, ALPN, client-certificate verification,
//! session resumption — and reports facts about the certificates for `/certs`.
//! The socket side (driving a rustls connection over monoio's rented buffers)
//! lives with the connection code and only calls `ListenerTls::server_config`,
//! `ClusterTls::client_config` and `ClusterTls::server_name`.
//!
//! Invariants:
//! - Everything that can fail — reading a file, parsing PEM, a key that does not
//!   match its certificate, an unknown cipher — fails here, during config
//!   validation, and names the file and the config field. A reload whose
//!   certificate does not load is an ordinary config error; the old generation
//!   keeps serving with the old certificates.
//! - One `ServerConfig` / `ClientConfig` per listener / cluster per config load,
//!   shared read-only (`Arc`) by every worker; the data path only clones the
//!   `Arc`. Its ticketer and session cache are therefore shared by all workers.
//! - TLS 1.2 and 1.3 only, one crypto provider (aws-lc-rs), narrowed per context
//!   to the configured suites and groups.

pub mod admin;
pub mod certs;
pub mod client;
pub mod params;
pub mod server;
pub mod sni;
pub mod source;

#[cfg(test)]
mod test_pki;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub use certs::{CertFacts, CertificateSpec};
pub use client::{ClusterTls, ClusterTlsSpec, Verify};
pub use params::{Alpn, Cipher, Group, ProtocolParams, TlsVersion, VersionRange};
pub use server::{ClientAuth, ListenerTls, ListenerTlsSpec, SessionTickets};
pub use source::PemSource;

use thiserror::Error;

/// Why TLS material did not load. Each names the file (or `<inline>`).
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name}: {reason}")]
    Pem { source_name: String, reason: String },
    #[error("{source_name}: bad certificate: {reason}")]
    BadCertificate { source_name: String, reason: String },
    #[error("{source_name}: unsupported private key (ECDSA P-256/P-384, Ed25519 and RSA load): {reason}")]
    UnsupportedKey { source_name: String, reason: String },
    #[error("{key}: the private key does not match the leaf (first) certificate of {chain}")]
    KeyMismatch { key: String, chain: String },
    #[error("{source_name}: cannot verify peers with it: {reason}")]
    Verifier { source_name: String, reason: String },
    #[error("cannot load the system trust store: {0}")]
    SystemRoots(String),
    #[error("{0}")]
    Rustls(String),
}

impl TlsError {
    /// Attach the config field this error belongs to.
    pub fn at(self, field: &str) -> TlsFieldError {
        TlsFieldError {
            field: field.to_string(),
            error: self,
        }
    }
}

/// A `TlsError` and the config field (`listeners[0].tls.certificates[1].private_key`)
/// whose value caused it. The config layer turns it into a `ConfigError`.
#[derive(Debug, Error)]
#[error("{field}: {error}")]
pub struct TlsFieldError {
    pub field: String,
    pub error: TlsError,
}

/// Which half of a certificate entry an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertPart {
    CertChain,
    PrivateKey,
}

impl CertPart {
    pub fn field(self) -> &'static str {
        match self {
            CertPart::CertChain => "cert_chain",
            CertPart::PrivateKey => "private_key",
        }
    }
}

/// An error loading one certificate entry, before its config path is known.
#[derive(Debug)]
pub struct PartError {
    pub part: CertPart,
    pub error: TlsError,
}

impl PartError {
    /// `entry` is the path of the certificate entry (`…certificates[0]`).
    pub fn at(self, entry: &str) -> TlsFieldError {
        self.error.at(&format!("{entry}.{}", self.part.field()))
    }
}

/// Something loading noticed and did not refuse, with the config field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    pub field: String,
    pub message: String,
}

impl FieldWarning {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldWarning {
        FieldWarning {
            field: field.into(),
            message: message.into(),
        }
    }
}
