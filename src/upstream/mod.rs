//! The upstream side: clusters as each worker sees them, their host sets, the
//! connection pools, and connecting.

pub mod breaker;
pub mod cluster;
pub mod connect;
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
    #[error("upstream request timeout")]
    Timeout,
    #[error("upstream sent an invalid response: {0}")]
    BadResponse(CodecError),
}
