//! Upstream response heads, validated as strictly as requests: a response we
//! cannot frame exactly becomes a 502 and its connection is never reused.

use super::{
    error::CodecError,
    headers::{self, HeaderIndex, HeaderKind, TransferCoding},
    limits,
    request::Parsed,
    BodyFraming, Version,
};

#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub version: Version,
    /// The reason phrase as received (may be empty).
    pub reason: (u32, u32),
    pub framing: BodyFraming,
    /// The upstream will keep the connection open after this response.
    pub keep_alive: bool,
    /// Bodiless by rule (HEAD, 1xx, 204, 304) yet carrying Content-Length > 0 or
    /// Transfer-Encoding: no body is read, so the connection is probed before reuse.
    pub declared_body: bool,
    pub head_len: usize,
}

impl ResponseHead {
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parse a response head. `head_request`: the request was HEAD, so no body follows.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    out: &mut Vec<HeaderIndex>,
    conn_tokens: &mut Vec<(u32, u32)>,
) -> Result<Parsed<ResponseHead>, CodecError> {
    out.clear();
    conn_tokens.clear();
    let mut storage = [httparse::EMPTY_HEADER; limits::MAX_HEADERS_CEILING];
    let mut res = httparse::Response::new(&mut storage);
    let head_len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits::MAX_RESPONSE_HEADER_BYTES {
                return Err(CodecError::HeadersTooLarge);
            }
            return Ok(Parsed::Incomplete);
        }
        Err(_) => return Err(CodecError::Malformed),
    };
    if head_len > limits::MAX_RESPONSE_HEADER_BYTES {
        return Err(CodecError::HeadersTooLarge);
    }
    let status = res.code.ok_or(CodecError::Malformed)?;
    if !(100..=999).contains(&status) {
        return Err(CodecError::Malformed);
    }
    let version = match res.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(CodecError::Version),
    };
    let reason = res.reason.unwrap_or("");
    let reason = if reason.is_empty() {
        (0, 0)
    } else {
        headers::offsets(buf, reason.as_bytes())
    };
    let mut content_length = None;
    let mut cl_count = 0;
    let mut te_count = 0;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    for h in res.headers.iter() {
        if !headers::valid_field_value(h.value) {
            return Err(CodecError::BadHeaderValue);
        }
        let kind = HeaderKind::of(h.name.as_bytes());
        match kind {
            HeaderKind::ContentLength => {
                cl_count += 1;
                content_length = Some(
                    headers::parse_content_length(h.value).ok_or(CodecError::BadContentLength)?,
                );
            }
            HeaderKind::TransferEncoding => te_count += 1,
            HeaderKind::Connection => {
                for token in headers::tokens(h.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    } else {
                        conn_tokens.push(headers::offsets(buf, token));
                    }
                }
            }
            _ => {}
        }
        out.push(HeaderIndex {
            name: headers::offsets(buf, h.name.as_bytes()),
            value: headers::offsets(buf, h.value),
            kind,
        });
    }
    if cl_count > 1 {
        return Err(CodecError::BadContentLength);
    }
    if te_count > 0 && content_length.is_some() {
        return Err(CodecError::LengthAndChunked);
    }
    let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let mut keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    let framing = if bodiless {
        BodyFraming::None
    } else if te_count > 0 {
        let values = out
            .iter()
            .filter(|h| h.kind == HeaderKind::TransferEncoding)
            .map(|h| h.value(buf));
        match headers::transfer_coding(values) {
            TransferCoding::Chunked if version == Version::Http11 => BodyFraming::Chunked,
            TransferCoding::NotChunked => {
                // RFC 9112 §6.3: the body runs until the connection closes.
                keep_alive = false;
                BodyFraming::Close
            }
            _ => return Err(CodecError::BadTransferEncoding),
        }
    } else {
        match content_length {
            Some(0) => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
            None => {
                keep_alive = false;
                BodyFraming::Close
            }
        }
    };
    Ok(Parsed::Complete(ResponseHead {
        status,
        version,
        reason,
        framing,
        keep_alive,
        declared_body: bodiless && (content_length.is_some_and(|n| n > 0) || te_count > 0),
        head_len,
    }))
}
