//! The HTTP/1.1 codec, ours by design: httparse finds the fields, this module
//! decides framing (RFC 9112), keeps limits, and writes heads for the next hop.
//!
//! Invariant: a message is forwarded only when its framing is unambiguous, so the
//! proxy and every peer agree on where each message ends (no request smuggling).

pub mod body;
pub mod edit;
pub mod encode;
pub mod error;
pub mod headers;
pub mod invariants;
pub mod limits;
pub mod request;
pub mod response;

pub use error::CodecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    /// A request that arrived on an HTTP/2 stream (`worker::h2` writes its
    /// head in HTTP/1.1 layout; the version says where it came from).
    Http2,
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
