//! The upstream side: clusters as each worker sees them, their host sets, the
//! connection pools (HTTP/1.1 idle connections in `pool`, HTTP/2 connections
//! and their streams in `h2`), and connecting. Whatever the protocol, the
//! exchange gets an `UpstreamConn` it reads and writes in HTTP/1.1 framing.

pub mod breaker;
pub mod cluster;
pub mod connect;
pub mod h2;
pub mod health;
pub mod hosts;
pub mod pool;

pub use cluster::WorkerCluster;

use thiserror::Error;

use crate::codec::CodecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UpstreamError {
    #[error("no healthy upstream")]
    NoHealthyUpstream,
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection failure ({0})")]
    ConnectFailed(std::io::ErrorKind),
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection timeout")]
    ConnectTimeout,
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection termination")]
    Reset,
    /// An HTTP/2 upstream refused the stream (`REFUSED_STREAM`, or it was
    /// above a GOAWAY's last stream id): it never processed the request.
    #[error("upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset")]
    Refused,
    #[error("upstream request timeout")]
    Timeout,
    #[error("upstream sent an invalid response: {0}")]
    BadResponse(CodecError),
    #[error("upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: {0}")]
    Tls(TlsFailure),
}

/// Why a TLS handshake with an upstream failed (a small copyable summary of
/// rustls's error, enough to answer, count and retry on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TlsFailure {
    /// The certificate does not chain to a trusted CA (or is malformed).
    #[error("certificate verify failed")]
    Untrusted,
    /// It chains, but is not for the name we asked for (`sni`).
    #[error("certificate not valid for the requested name")]
    WrongName,
    #[error("certificate expired or not yet valid")]
    Expired,
    /// No protocol in common (ALPN).
    #[error("no application protocol in common")]
    NoProtocol,
    #[error("the upstream sent an alert")]
    Alert,
    #[error("connection closed during the handshake")]
    Closed,
    #[error("handshake failed")]
    Other,
}

impl TlsFailure {
    pub fn of(e: &rustls::Error) -> TlsFailure {
        use rustls::{CertificateError as Cert, Error as E};
        match e {
            E::InvalidCertificate(Cert::NotValidForName)
            | E::InvalidCertificate(Cert::NotValidForNameContext { .. }) => TlsFailure::WrongName,
            E::InvalidCertificate(
                Cert::Expired
                | Cert::ExpiredContext { .. }
                | Cert::NotValidYet
                | Cert::NotValidYetContext { .. },
            ) => TlsFailure::Expired,
            E::InvalidCertificate(_) => TlsFailure::Untrusted,
            E::NoApplicationProtocol => TlsFailure::NoProtocol,
            E::AlertReceived(_) => TlsFailure::Alert,
            _ => TlsFailure::Other,
        }
    }

    /// A verification failure (Envoy's `ssl.fail_verify_*`), not a transport one.
    pub fn is_verify(self) -> bool {
        matches!(
            self,
            TlsFailure::Untrusted | TlsFailure::WrongName | TlsFailure::Expired
        )
    }
}
