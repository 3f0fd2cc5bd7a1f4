//! Body framing. A `BodyDecoder` walks the bytes of one message body as they
//! arrive (content-length, chunked or close-delimited) and hands the payload to a
//! sink; a `BodyEncoder` frames that payload for the next hop. Nothing here
//! buffers more than the trailer section, so any body size streams through.

use super::{error::CodecError, headers, limits, BodyFraming};

/// A piece of body payload found by the decoder.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyPiece<'a> {
    Data(&'a [u8]),
    /// The trailer section of a chunked body: whole field lines, each ending CRLF.
    Trailers(&'a [u8]),
}

/// How far one call to `decode` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStep {
    /// Bytes of input that belonged to the body (framing included).
    pub consumed: usize,
    /// The body is complete; bytes after `consumed` belong to the next message.
    pub done: bool,
}

#[derive(Debug)]
pub enum BodyDecoder {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Everything until the peer closes.
    Close,
    Done,
}

impl BodyDecoder {
    pub fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None => BodyDecoder::Done,
            BodyFraming::Length(n) => BodyDecoder::Length(n),
            BodyFraming::Chunked => BodyDecoder::Chunked(ChunkedDecoder::default()),
            BodyFraming::Close => BodyDecoder::Close,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, BodyDecoder::Done)
    }

    /// If all `len` buffered bytes are payload of an identity-framed body (none
    /// belongs to the next message), account for them and return true: the caller
    /// may forward its buffer as it is, without decoding or copying.
    pub fn take_all(&mut self, len: usize) -> bool {
        match self {
            BodyDecoder::Length(remaining) if len as u64 <= *remaining => {
                *remaining -= len as u64;
                if *remaining == 0 {
                    *self = BodyDecoder::Done;
                }
                true
            }
            BodyDecoder::Close => true,
            _ => false,
        }
    }

    /// More than one read buffer of payload may still arrive.
    pub fn is_large(&self) -> bool {
        match self {
            BodyDecoder::Length(remaining) => *remaining > limits::READ_CHUNK as u64,
            BodyDecoder::Chunked(_) | BodyDecoder::Close => true,
            BodyDecoder::Done => false,
        }
    }

    /// Decode as much of `input` as possible, passing payload to `sink`.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(BodyPiece<'_>),
    ) -> Result<DecodeStep, CodecError> {
        match self {
            BodyDecoder::Done => Ok(DecodeStep {
                consumed: 0,
                done: true,
            }),
            BodyDecoder::Length(remaining) => {
                let take = (*remaining).min(input.len() as u64) as usize;
                if take > 0 {
                    sink(BodyPiece::Data(&input[..take]));
                }
                *remaining -= take as u64;
                let done = *remaining == 0;
                if done {
                    *self = BodyDecoder::Done;
                }
                Ok(DecodeStep {
                    consumed: take,
                    done,
                })
            }
            BodyDecoder::Close => {
                if !input.is_empty() {
                    sink(BodyPiece::Data(input));
                }
                Ok(DecodeStep {
                    consumed: input.len(),
                    done: false,
                })
            }
            BodyDecoder::Chunked(c) => {
                let step = c.decode(input, sink)?;
                if step.done {
                    *self = BodyDecoder::Done;
                }
                Ok(step)
            }
        }
    }

    /// The peer closed. For close-delimited bodies that is the end; otherwise the
    /// body was truncated.
    pub fn eof(&mut self) -> Result<(), CodecError> {
        match self {
            BodyDecoder::Close | BodyDecoder::Done => {
                *self = BodyDecoder::Done;
                Ok(())
            }
            _ => Err(CodecError::UnexpectedEof),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Hex digits of the chunk size.
    Size,
    /// Whitespace after the size; only `;` may follow (BWS before an extension).
    SizeWs,
    /// A chunk extension, up to CR.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// The start of a trailer line, or the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
}

/// The chunked decoder of RFC 9112 §7.1, strict: CRLF only, no bare LF, no
/// whitespace around the size except BWS before an extension, sizes that fit u64.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    digits: u8,
    line_len: usize,
    trailers: Vec<u8>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            trailers: Vec::new(),
        }
    }
}

impl ChunkedDecoder {
    fn decode(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(BodyPiece<'_>),
    ) -> Result<DecodeStep, CodecError> {
        use ChunkState::*;
        let mut i = 0;
        while i < input.len() {
            if self.state == Data {
                let take = self.size.min((input.len() - i) as u64) as usize;
                sink(BodyPiece::Data(&input[i..i + take]));
                self.size -= take as u64;
                i += take;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                Size => {
                    self.line_len += 1;
                    match hex_value(b) {
                        Some(v) => {
                            if self.digits >= 16 {
                                return Err(CodecError::BadChunk);
                            }
                            self.digits += 1;
                            self.size = (self.size << 4) | u64::from(v);
                            Size
                        }
                        None if self.digits == 0 => return Err(CodecError::BadChunk),
                        None => match b {
                            b' ' | b'\t' => SizeWs,
                            b';' => Ext,
                            b'\r' => SizeLf,
                            _ => return Err(CodecError::BadChunk),
                        },
                    }
                }
                SizeWs => match b {
                    b' ' | b'\t' => {
                        self.line_len += 1;
                        if self.line_len > limits::MAX_CHUNK_LINE_BYTES {
                            return Err(CodecError::BadChunk);
                        }
                        SizeWs
                    }
                    b';' => Ext,
                    _ => return Err(CodecError::BadChunk),
                },
                Ext => {
                    if b != b'\r' {
                        self.line_len += 1;
                    }
                    if self.line_len > limits::MAX_CHUNK_LINE_BYTES {
                        return Err(CodecError::BadChunk);
                    }
                    match b {
                        b'\r' => SizeLf,
                        b'\t' => Ext,
                        b if b < 0x20 || b == 0x7f => return Err(CodecError::BadChunk),
                        _ => Ext,
                    }
                }
                SizeLf => {
                    if b != b'\n' {
                        return Err(CodecError::BadChunk);
                    }
                    self.digits = 0;
                    self.line_len = 0;
                    if self.size == 0 {
                        TrailerStart
                    } else {
                        Data
                    }
                }
                Data => unreachable!("handled above"),
                DataCr => match b {
                    b'\r' => DataLf,
                    _ => return Err(CodecError::BadChunk),
                },
                DataLf => match b {
                    b'\n' => Size,
                    _ => return Err(CodecError::BadChunk),
                },
                TrailerStart => match b {
                    b'\r' => EndLf,
                    _ => self.trailer_byte(b)?,
                },
                TrailerLine => self.trailer_byte(b)?,
                TrailerLf => {
                    if b != b'\n' {
                        return Err(CodecError::BadChunk);
                    }
                    self.trailers.push(b);
                    TrailerStart
                }
                EndLf => {
                    if b != b'\n' {
                        return Err(CodecError::BadChunk);
                    }
                    if !self.trailers.is_empty() {
                        check_trailers(&self.trailers)?;
                        sink(BodyPiece::Trailers(&self.trailers));
                    }
                    return Ok(DecodeStep {
                        consumed: i,
                        done: true,
                    });
                }
            };
        }
        Ok(DecodeStep {
            consumed: i,
            done: false,
        })
    }

    fn trailer_byte(&mut self, b: u8) -> Result<ChunkState, CodecError> {
        if self.trailers.len() >= limits::MAX_TRAILER_BYTES {
            return Err(CodecError::BadChunk);
        }
        self.trailers.push(b);
        match b {
            b'\r' => Ok(ChunkState::TrailerLf),
            b'\t' => Ok(ChunkState::TrailerLine),
            b if b < 0x20 || b == 0x7f => Err(CodecError::BadChunk),
            _ => Ok(ChunkState::TrailerLine),
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Each trailer line must be a well-formed field (no obs-fold, valid name).
fn check_trailers(block: &[u8]) -> Result<(), CodecError> {
    for line in block.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").ok_or(CodecError::BadChunk)?;
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(CodecError::BadChunk)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| headers::is_tchar(b)) {
            return Err(CodecError::BadChunk);
        }
        if !headers::valid_field_value(value) {
            return Err(CodecError::BadChunk);
        }
    }
    Ok(())
}

/// Frames payload for the next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoder {
    /// Bytes as they are: content-length or close-delimited bodies.
    Identity,
    Chunked,
}

impl BodyEncoder {
    pub fn piece(self, piece: BodyPiece<'_>, out: &mut Vec<u8>) {
        match (self, piece) {
            (BodyEncoder::Identity, BodyPiece::Data(d)) => out.extend_from_slice(d),
            (BodyEncoder::Chunked, BodyPiece::Data(d)) => {
                if !d.is_empty() {
                    write_hex(out, d.len());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(d);
                    out.extend_from_slice(b"\r\n");
                }
            }
            // Trailers are written by `finish`; an identity body has nowhere to put them.
            (_, BodyPiece::Trailers(_)) => {}
        }
    }

    /// End the body: the last chunk and trailers for chunked, nothing otherwise.
    pub fn finish(self, trailers: &[u8], out: &mut Vec<u8>) {
        if self == BodyEncoder::Chunked {
            out.extend_from_slice(b"0\r\n");
            out.extend_from_slice(trailers);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn write_hex(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` split at `split` (and, separately, byte by byte); return the
    /// payload, trailers and the bytes left over after the body.
    fn decode_split(
        framing: BodyFraming,
        input: &[u8],
        split: usize,
    ) -> Result<(Vec<u8>, Vec<u8>, usize), CodecError> {
        let mut dec = BodyDecoder::new(framing);
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        let mut pos = 0;
        for part in [&input[..split], &input[split..]] {
            let mut off = 0;
            while off < part.len() {
                let step = dec.decode(&part[off..], &mut |p| match p {
                    BodyPiece::Data(d) => data.extend_from_slice(d),
                    BodyPiece::Trailers(t) => trailers.extend_from_slice(t),
                })?;
                off += step.consumed;
                pos += step.consumed;
                if step.done {
                    return Ok((data, trailers, input.len() - pos));
                }
                if step.consumed == 0 {
                    break;
                }
            }
        }
        Err(CodecError::UnexpectedEof)
    }

    fn decode_all_splits(
        framing: BodyFraming,
        input: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>, usize), CodecError> {
        let first = decode_split(framing, input, 0);
        for split in 1..=input.len() {
            assert_eq!(
                decode_split(framing, input, split),
                first,
                "split at {split}"
            );
        }
        first
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"5;name=value\r\nhello\r\n6 ;x=\"q\"\r\n world\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\nGET /next";
        let (data, trailers, rest) = decode_all_splits(BodyFraming::Chunked, input).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(trailers, b"Expires: never\r\nX-T: 1\r\n");
        assert_eq!(rest, b"GET /next".len());
    }

    #[test]
    fn chunked_rejections() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"11111111111111111\r\n",
            b"5;a\x00b\r\n",
            b"0\r\nBad Name: x\r\n\r\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nX: a\x01\r\n\r\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(
                decode_split(BodyFraming::Chunked, bad, 0),
                Err(CodecError::BadChunk),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn chunk_size_limit_at_n_and_n_plus_1() {
        // 16 hex digits fit a u64; 17 do not.
        let ok = b"000000000000000a\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(
            decode_split(BodyFraming::Chunked, ok, 0).unwrap().0,
            b"0123456789"
        );
        let bad = b"0000000000000000a\r\n";
        assert_eq!(
            decode_split(BodyFraming::Chunked, bad, 0),
            Err(CodecError::BadChunk)
        );
    }

    #[test]
    fn whitespace_after_a_chunk_size_counts_toward_the_line_limit() {
        let mut bad = b"1".to_vec();
        bad.resize(limits::MAX_CHUNK_LINE_BYTES + 2, b' ');
        bad.extend_from_slice(b";x\r\n");
        assert_eq!(
            decode_split(BodyFraming::Chunked, &bad, 0),
            Err(CodecError::BadChunk)
        );
    }

    #[test]
    fn chunk_line_limit() {
        let mut line = b"1;".to_vec();
        line.resize(limits::MAX_CHUNK_LINE_BYTES, b'a');
        let mut ok = line.clone();
        ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert!(decode_split(BodyFraming::Chunked, &ok, 0).is_ok());
        let mut bad = line;
        bad.extend_from_slice(b"aa\r\nx\r\n0\r\n\r\n");
        assert_eq!(
            decode_split(BodyFraming::Chunked, &bad, 0),
            Err(CodecError::BadChunk)
        );
    }

    #[test]
    fn content_length_stops_at_length() {
        let (data, _, rest) = decode_all_splits(BodyFraming::Length(5), b"helloGET").unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(rest, 3);
    }

    #[test]
    fn truncated_bodies_are_errors_at_eof() {
        let mut dec = BodyDecoder::new(BodyFraming::Length(10));
        dec.decode(b"abc", &mut |_| {}).unwrap();
        assert_eq!(dec.eof(), Err(CodecError::UnexpectedEof));
        let mut dec = BodyDecoder::new(BodyFraming::Close);
        dec.decode(b"abc", &mut |_| {}).unwrap();
        assert_eq!(dec.eof(), Ok(()));
    }

    #[test]
    fn encoders() {
        let mut out = Vec::new();
        BodyEncoder::Chunked.piece(BodyPiece::Data(&[b'x'; 300]), &mut out);
        assert!(out.starts_with(b"12c\r\n"));
        out.clear();
        BodyEncoder::Chunked.piece(BodyPiece::Data(b""), &mut out);
        assert!(out.is_empty());
        BodyEncoder::Chunked.finish(b"X: 1\r\n", &mut out);
        assert_eq!(out, b"0\r\nX: 1\r\n\r\n");
        out.clear();
        BodyEncoder::Identity.finish(b"X: 1\r\n", &mut out);
        assert!(out.is_empty());
    }
}
