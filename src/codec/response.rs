//! Upstream response heads, validated as strictly as requests: a response we
//! cannot frame exactly becomes a 502 and its connection is never reused.

use super::{
    error::CodecError,
    headers::{self, HeaderIndex, HeaderKind, TransferCoding},
    limits,
    request::Parsed,
    BodyFraming, Version,
};
use std::mem::MaybeUninit;

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
    if buf.is_empty() {
        // Nothing read yet (the response's first parse comes before its read).
        return Ok(Parsed::Incomplete);
    }
    // Uninitialised header slots, as in `parse_request`: only the filled ones
    // are written.
    let mut storage = [const { MaybeUninit::uninit() }; limits::MAX_HEADERS_CEILING];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut storage,
    );
    let head_len = match parsed {
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
    let mut fields = headers::FramingFields::default();
    for h in res.headers.iter() {
        // httparse refused the head already if it was not, as for requests.
        debug_assert!(headers::valid_field_value(h.value));
        let kind = HeaderKind::of(h.name.as_bytes());
        fields.observe(kind, h.value, buf, conn_tokens)?;
        out.push(HeaderIndex {
            name: headers::offsets(buf, h.name.as_bytes()),
            value: headers::offsets(buf, h.value),
            kind,
        });
    }
    fields.check()?;
    let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let mut keep_alive = fields.keep_alive(version);
    let framing = if bodiless {
        BodyFraming::None
    } else if fields.has_transfer_encoding() {
        match headers::FramingFields::transfer_coding(out, buf) {
            TransferCoding::Chunked if version == Version::Http11 => BodyFraming::Chunked,
            TransferCoding::NotChunked => {
                // RFC 9112 §6.3: the body runs until the connection closes.
                keep_alive = false;
                BodyFraming::Close
            }
            _ => return Err(CodecError::BadTransferEncoding),
        }
    } else {
        match fields.content_length {
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
        declared_body: bodiless
            && (fields.content_length.is_some_and(|n| n > 0) || fields.has_transfer_encoding()),
        head_len,
    }))
}
