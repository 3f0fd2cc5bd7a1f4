//! Named limits of the HTTP/1.1 codec. Defaults can be changed per listener
//! within the ceilings; the ceilings bound the stack and buffers we reserve.
//!
//! `RequestLimits` lives here, not in `config`: the codec enforces it, and the
//! codec imports nothing of the crate (config builds one per listener).

/// Default limit on the request head (request line + headers), as Envoy's 60 KiB.
pub const MAX_HEADER_BYTES: usize = 60 * 1024;
/// The largest head a listener may be configured to accept.
pub const MAX_HEADER_BYTES_CEILING: usize = 1024 * 1024;
/// Default limit on the number of request headers (Envoy: 100).
pub const MAX_HEADERS: usize = 100;
/// The most headers any head may carry: the size of the stack array httparse fills.
pub const MAX_HEADERS_CEILING: usize = 256;
/// Default limit on the request target.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Upstream response heads larger than this are a bad response (502).
pub const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;
/// A chunk-size line, extensions included.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
/// All trailer fields of one chunked body.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Each read asks the kernel for at least this much room.
pub const READ_CHUNK: usize = 16 * 1024;
/// Large bodies are relayed through buffers of this size: fewer, larger reads.
pub const BODY_CHUNK: usize = 64 * 1024;
/// Informational (1xx) responses accepted before the final one.
pub const MAX_INFORMATIONAL_RESPONSES: usize = 8;

/// Per-listener limits on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    /// `None`: unlimited (bodies stream with bounded memory anyway).
    pub max_body_bytes: Option<u64>,
    /// What a header name with `_` gets (Envoy's `headers_with_underscores_action`).
    pub underscores: UnderscoreAction,
}

/// Envoy's `headers_with_underscores_action`: `_` in names can smuggle a
/// header past a backend that folds `_` into `-` (CGI, some frameworks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnderscoreAction {
    /// Forwarded like any other header (Envoy's default).
    #[default]
    Allow,
    /// The request is answered 400 and the connection closes.
    RejectRequest,
    /// The header is not forwarded.
    DropHeader,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_uri_bytes: MAX_URI_BYTES,
            max_body_bytes: None,
            underscores: UnderscoreAction::Allow,
        }
    }
}
