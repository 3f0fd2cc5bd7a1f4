//! What can be wrong with bytes on the wire. The answer a client gets for
//! each is decided in one place, `worker::local_reply`.

use thiserror::Error;

/// A framing or grammar error in a request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("malformed request line or header")]
    Malformed,
    #[error("unsupported HTTP version")]
    Version,
    #[error("HTTP/0.9 requests are not supported")]
    Http09,
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("too many request headers")]
    TooManyHeaders,
    #[error("request URI too long")]
    UriTooLong,
    #[error("invalid request target")]
    BadTarget,
    #[error("missing Host header")]
    MissingHost,
    #[error("invalid or repeated Host header")]
    BadHost,
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    #[error("invalid or repeated Content-Length")]
    BadContentLength,
    #[error("unsupported Transfer-Encoding")]
    BadTransferEncoding,
    #[error("invalid character in header value")]
    BadHeaderValue,
    #[error("invalid chunked encoding")]
    BadChunk,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("connection closed before the message was complete")]
    UnexpectedEof,
    #[error("method not supported")]
    MethodNotAllowed,
    #[error("underscore in a header name")]
    UnderscoreInHeaderName,
}
