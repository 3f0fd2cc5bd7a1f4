//! What the codec promises of any input, as checks that panic when a promise
//! is broken: the `fuzz_*` properties (`codec::fuzz`) and the coverage-guided
//! targets in `fuzz/` (cargo fuzz) run the same checks, so a bug either finds
//! is stated once.
//!
//! - An accepted head's spans lie inside it, and it never frames by both
//!   Content-Length and Transfer-Encoding; chunked framing only on HTTP/1.1.
//! - Body decoding makes progress on every call (bad input is an error, never
//!   a hang), and decoding split anywhere equals decoding whole.

use super::{
    body::{BodyDecoder, BodyPiece},
    headers::{HeaderIndex, HeaderKind},
    limits::RequestLimits,
    request::{parse_request, Parsed, RequestHead},
    response::parse_response,
    BodyFraming, CodecError, Version,
};

/// Parse `buf` as a request head and check what an accepted one promises.
pub fn check_request_bytes(buf: &[u8]) {
    let (mut headers, mut tokens) = (Vec::new(), Vec::new());
    if let Ok(Parsed::Complete(head)) =
        parse_request(buf, &RequestLimits::default(), &mut headers, &mut tokens)
    {
        check_accepted_request(buf, &head, &headers);
    }
}

/// Parse `buf` as a response head (to a HEAD request or not) and check it.
pub fn check_response_bytes(buf: &[u8], head_request: bool) {
    let (mut headers, mut tokens) = (Vec::new(), Vec::new());
    if let Ok(Parsed::Complete(head)) = parse_response(buf, head_request, &mut headers, &mut tokens)
    {
        check_accepted_headers(buf, head.head_len, &headers);
        assert!(head.reason.0 <= head.reason.1 && head.reason.1 as usize <= head.head_len);
    }
}

/// What every accepted head must satisfy, whatever the input.
pub fn check_accepted_headers(buf: &[u8], head_len: usize, headers: &[HeaderIndex]) {
    assert!(head_len <= buf.len());
    for h in headers {
        assert!(h.name.0 <= h.name.1 && h.name.1 as usize <= head_len);
        assert!(h.value.0 <= h.value.1 && h.value.1 as usize <= head_len);
    }
    let has = |k| headers.iter().any(|h| h.kind == k);
    assert!(
        !(has(HeaderKind::ContentLength) && has(HeaderKind::TransferEncoding)),
        "accepted both Content-Length and Transfer-Encoding"
    );
}

pub fn check_accepted_request(buf: &[u8], head: &RequestHead, headers: &[HeaderIndex]) {
    check_accepted_headers(buf, head.head_len, headers);
    for span in [
        Some(head.method_span),
        Some(head.target),
        head.host,
        head.authority,
    ]
    .into_iter()
    .flatten()
    {
        assert!(span.0 <= span.1 && span.1 as usize <= head.head_len);
    }
    assert!(head.path_len <= head.target.1 - head.target.0);
    let _ = (head.path(buf), head.host_value(buf));
    if head.framing == BodyFraming::Chunked {
        assert_eq!(head.version, Version::Http11);
    }
}

// ---- bodies ----

/// Everything one decoder run produced, or the error it stopped at.
pub type Decoded = Result<(Vec<u8>, Vec<u8>, usize), CodecError>;

/// Decode `input` fed as the given parts; return payload, trailers and the
/// bytes consumed. Asserts progress: a call on non-empty input consumes, ends
/// the body or fails.
pub fn decode_parts(framing: BodyFraming, parts: &[&[u8]]) -> Option<Decoded> {
    let mut dec = BodyDecoder::new(framing);
    let (mut data, mut trailers, mut consumed) = (Vec::new(), Vec::new(), 0);
    for part in parts {
        let mut off = 0;
        while off < part.len() {
            let step = match dec.decode(&part[off..], &mut |p| match p {
                BodyPiece::Data(d) => data.extend_from_slice(d),
                BodyPiece::Trailers(t) => trailers.extend_from_slice(t),
            }) {
                Ok(step) => step,
                Err(e) => return Some(Err(e)),
            };
            assert!(step.consumed <= part.len() - off);
            assert!(
                step.consumed > 0 || step.done,
                "no progress on {} bytes",
                part.len() - off
            );
            off += step.consumed;
            consumed += step.consumed;
            if step.done {
                return Some(Ok((data, trailers, consumed)));
            }
        }
    }
    // Not finished: the body needs more bytes (a truncated body, at EOF an error).
    match dec.eof() {
        Ok(()) => Some(Ok((data, trailers, consumed))),
        Err(_) => None,
    }
}

/// Decoding split at every byte equals decoding whole.
pub fn assert_any_split_equals_whole(framing: BodyFraming, input: &[u8]) -> Option<Decoded> {
    let whole = decode_parts(framing, &[input]);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(decode_parts(framing, &[a, b]), whole, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_parts(framing, &bytes), whole, "byte by byte");
    whole
}
