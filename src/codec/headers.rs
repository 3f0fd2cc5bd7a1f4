//! Header names the proxy acts on, recognised once per header while parsing so
//! later stages match on an enum rather than comparing strings again.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    Upgrade,
    Expect,
    XForwardedFor,
    XForwardedProto,
    XRequestId,
    Trailer,
    /// Only meaningful to an h2c upgrade, which ringway never forwards.
    Http2Settings,
    /// A name with `_` under `headers_with_underscores_action: DROP_HEADER`:
    /// never forwarded.
    Underscored,
    Other,
}

impl HeaderKind {
    pub fn of(name: &[u8]) -> HeaderKind {
        // Dispatch on length first: most names are rejected by one compare.
        let eq = |s: &str| eq_lowercase(name, s.as_bytes());
        match name.len() {
            2 if eq("te") => HeaderKind::Te,
            4 if eq("host") => HeaderKind::Host,
            6 if eq("expect") => HeaderKind::Expect,
            7 if eq("upgrade") => HeaderKind::Upgrade,
            7 if eq("trailer") => HeaderKind::Trailer,
            10 if eq("connection") => HeaderKind::Connection,
            10 if eq("keep-alive") => HeaderKind::KeepAlive,
            12 if eq("x-request-id") => HeaderKind::XRequestId,
            14 if eq("content-length") => HeaderKind::ContentLength,
            14 if eq("http2-settings") => HeaderKind::Http2Settings,
            15 if eq("x-forwarded-for") => HeaderKind::XForwardedFor,
            16 if eq("proxy-connection") => HeaderKind::ProxyConnection,
            17 if eq("transfer-encoding") => HeaderKind::TransferEncoding,
            17 if eq("x-forwarded-proto") => HeaderKind::XForwardedProto,
            _ => HeaderKind::Other,
        }
    }

    /// Hop-by-hop headers a proxy never forwards as received (RFC 9110 §7.6.1).
    /// `Transfer-Encoding` is re-framed by the encoder, `Upgrade` only passes in a tunnel.
    pub fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            HeaderKind::Connection
                | HeaderKind::KeepAlive
                | HeaderKind::ProxyConnection
                | HeaderKind::Te
                | HeaderKind::Upgrade
                | HeaderKind::TransferEncoding
                | HeaderKind::Http2Settings
        )
    }
}

/// `name.eq_ignore_ascii_case(lower)` for a `lower` of lowercase ASCII, eight
/// bytes at a time: byte by byte, the names `HeaderKind::of` knows cost about
/// 40 instructions a header. A byte where `lower` has a letter matches either
/// case (its case bit is masked off); any other byte must be equal.
#[inline(always)]
fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if name.len() != n {
        return false;
    }
    if n < 8 {
        return folded_eq(packed(name), packed(lower));
    }
    // Whole words, then the last eight bytes (overlapping the word before).
    let mut at = 0;
    while at + 8 < n {
        if !folded_eq(word_at(name, at), word_at(lower, at)) {
            return false;
        }
        at += 8;
    }
    folded_eq(word_at(name, n - 8), word_at(lower, n - 8))
}

/// Fewer than eight bytes as a word, zero-padded.
#[inline(always)]
fn packed(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// `w` equals `lower` (ASCII) but for the case of the letters in `lower`.
#[inline(always)]
fn folded_eq(w: u64, lower: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Per byte of `lower` (each below 0x80, so no carry crosses bytes): the
    // high bit set from `a` on, and from just past `z` on; letters are the
    // bytes with the first and not the second, their case bit 0x20.
    let from_a = lower.wrapping_add((0x80 - b'a' as u64) * ONES);
    let past_z = lower.wrapping_add((0x80 - b'z' as u64 - 1) * ONES);
    let case_bits = ((from_a & !past_z) & (0x80 * ONES)) >> 2;
    (w | case_bits) == lower
}

/// A header's name and value as offsets into the buffer holding the head.
#[derive(Debug, Clone, Copy)]
pub struct HeaderIndex {
    pub name: (u32, u32),
    pub value: (u32, u32),
    pub kind: HeaderKind,
}

impl HeaderIndex {
    pub fn name<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.name.0 as usize..self.name.1 as usize]
    }
    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.value.0 as usize..self.value.1 as usize]
    }
}

/// Offsets of `part` inside `buf`. `part` must be a sub-slice of `buf`.
pub fn offsets(buf: &[u8], part: &[u8]) -> (u32, u32) {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    debug_assert!(start + part.len() <= buf.len());
    (start as u32, (start + part.len()) as u32)
}

/// Field values may hold HTAB, SP, visible ASCII and obs-text; never CR, LF, NUL
/// or other controls (RFC 9110 §5.5). httparse is lenient here; we are not.
pub fn valid_field_value(value: &[u8]) -> bool {
    // Eight bytes at a time: `.all()` went byte by byte, 4-5 instructions a
    // byte, about 1,000 per proxied request over its request and response
    // values. `suspect` never misses a bad byte; a word it flags (a tab does
    // too) is checked byte by byte.
    let byte_ok = |b: u8| b == b'\t' || (b >= 0x20 && b != 0x7f);
    if value.len() < 8 {
        return value.iter().all(|&b| byte_ok(b));
    }
    let word_ok = |w: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(w);
        !suspect(u64::from_le_bytes(bytes)) || w.iter().all(|&b| byte_ok(b))
    };
    let mut words = value.chunks_exact(8);
    // The last word overlaps the one before it when the length is not a
    // multiple of 8: no byte loop for the rest.
    words.all(word_ok) && (words.remainder().is_empty() || word_ok(&value[value.len() - 8..]))
}

/// Whether a byte of `w` may be below 0x20 or be 0x7f (DEL): the classic
/// "has less than" and "has zero byte" tricks. Never false when such a byte is
/// there (the lowest one borrows nothing from below); sometimes true when none
/// is (a borrow above a hit, or a tab), which the caller checks byte by byte.
#[inline]
fn suspect(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let control = w.wrapping_sub(0x20 * ONES) & !w;
    let del = w ^ (0x7f * ONES);
    let del = del.wrapping_sub(ONES) & !del;
    (control | del) & HIGHS != 0
}

/// Iterate the comma-separated tokens of a list-valued header, trimmed.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// Parse a Content-Length value: 1*DIGIT, nothing else, no overflow.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The fields both directions frame a message by, gathered while a head is
/// parsed: one accumulator, so requests and responses can never drift apart in
/// how they count Content-Length or read `Connection`.
#[derive(Debug, Default)]
pub struct FramingFields {
    pub content_length: Option<u64>,
    content_length_lines: u32,
    transfer_encoding_lines: u32,
    close: bool,
    keep_alive: bool,
    /// `Connection` named `upgrade`.
    pub upgrade: bool,
}

impl FramingFields {
    /// Take note of one header. Tokens `Connection` lists (other than `close`
    /// and `keep-alive`) are recorded in `conn_tokens`: those headers are
    /// hop-by-hop.
    #[inline(always)]
    pub fn observe(
        &mut self,
        kind: HeaderKind,
        value: &[u8],
        buf: &[u8],
        conn_tokens: &mut Vec<(u32, u32)>,
    ) -> Result<(), super::CodecError> {
        // Inline, with the rare `Connection` list out of line: most headers
        // are none of these, and a call per header cost more than the match.
        match kind {
            HeaderKind::ContentLength => {
                self.content_length_lines += 1;
                self.content_length =
                    Some(parse_content_length(value).ok_or(super::CodecError::BadContentLength)?);
            }
            HeaderKind::TransferEncoding => self.transfer_encoding_lines += 1,
            // The usual whole values first: one token, nothing to record.
            HeaderKind::Connection if value.eq_ignore_ascii_case(b"keep-alive") => {
                self.keep_alive = true;
            }
            HeaderKind::Connection if value.eq_ignore_ascii_case(b"close") => self.close = true,
            HeaderKind::Connection => self.connection(value, buf, conn_tokens),
            _ => {}
        }
        Ok(())
    }

    #[inline(never)]
    fn connection(&mut self, value: &[u8], buf: &[u8], conn_tokens: &mut Vec<(u32, u32)>) {
        for token in tokens(value) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else {
                self.upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                conn_tokens.push(offsets(buf, token));
            }
        }
    }

    /// Refuse what no recipient may frame: several Content-Length lines (even
    /// equal ones), or Content-Length together with Transfer-Encoding.
    pub fn check(&self) -> Result<(), super::CodecError> {
        if self.content_length_lines > 1 {
            return Err(super::CodecError::BadContentLength);
        }
        if self.has_transfer_encoding() && self.content_length.is_some() {
            return Err(super::CodecError::LengthAndChunked);
        }
        Ok(())
    }

    pub fn has_transfer_encoding(&self) -> bool {
        self.transfer_encoding_lines > 0
    }

    /// The codings of every Transfer-Encoding line, in order.
    pub fn transfer_coding(headers: &[HeaderIndex], buf: &[u8]) -> TransferCoding {
        transfer_coding(
            headers
                .iter()
                .filter(|h| h.kind == HeaderKind::TransferEncoding)
                .map(|h| h.value(buf)),
        )
    }

    /// Persistence (RFC 9112 §9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with
    /// `keep-alive`.
    pub fn keep_alive(&self, version: super::Version) -> bool {
        match version {
            super::Version::Http11 | super::Version::Http2 => !self.close,
            super::Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

/// What `Transfer-Encoding` lines, taken together, say about framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCoding {
    /// The final coding is chunked, and chunked appears only there.
    Chunked,
    /// Some coding, but the final one is not chunked.
    NotChunked,
    /// `chunked` applied twice, an empty list or an invalid token.
    Invalid,
}

/// Fold the codings of several `Transfer-Encoding` lines (in order).
pub fn transfer_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> TransferCoding {
    let mut seen_any = false;
    let mut last_chunked = false;
    for value in values {
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            // A coding is a token, optionally with parameters after `;`.
            let name = coding
                .split(|&b| b == b';')
                .next()
                .unwrap_or(b"")
                .trim_ascii();
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return TransferCoding::Invalid;
            }
            if last_chunked {
                // Anything after chunked (including a second chunked) is invalid.
                return TransferCoding::Invalid;
            }
            seen_any = true;
            last_chunked = name.eq_ignore_ascii_case(b"chunked");
        }
    }
    match (seen_any, last_chunked) {
        (false, _) => TransferCoding::Invalid,
        (true, true) => TransferCoding::Chunked,
        (true, false) => TransferCoding::NotChunked,
    }
}

pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The bytes of a reg-name (RFC 3986: unreserved, sub-delims, `%`), by value:
/// one load a byte, where a search of the list of delimiters cost a dozen.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~%!$&'()*+,;=";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// A Host value: `uri-host [ ":" port ]` where uri-host is a reg-name or an IP literal.
pub fn valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    let (host, port) = if value[0] == b'[' {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &value[end + 1..] {
            [] => (&value[..0], None),
            [b':', port @ ..] => (&value[..0], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        }
    };
    let host_ok =
        host.iter().all(|&b| REG_NAME[b as usize]) && (value[0] == b'[' || !host.is_empty());
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time check agrees with the rule byte by byte: every byte
    /// value at every position of values 1 to 24 bytes long, among spaces,
    /// tabs or obs-text.
    #[test]
    fn valid_field_value_matches_bytewise_rule() {
        let rule = |v: &[u8]| v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        for filler in [b' ', b'\t', 0x80, b'a'] {
            for len in 1..=24 {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut v = vec![filler; len];
                        v[at] = b;
                        assert_eq!(valid_field_value(&v), rule(&v), "{v:?}");
                    }
                }
            }
        }
    }

    /// The word-at-a-time compare agrees with `eq_ignore_ascii_case` for every
    /// name `HeaderKind::of` knows, with any byte value at any position.
    #[test]
    fn eq_lowercase_matches_eq_ignore_ascii_case() {
        let names: &[&[u8]] = &[
            b"te",
            b"host",
            b"expect",
            b"upgrade",
            b"trailer",
            b"connection",
            b"keep-alive",
            b"x-request-id",
            b"content-length",
            b"http2-settings",
            b"x-forwarded-for",
            b"proxy-connection",
            b"transfer-encoding",
            b"x-forwarded-proto",
        ];
        for name in names {
            let upper = name.to_ascii_uppercase();
            assert!(eq_lowercase(name, name) && eq_lowercase(&upper, name));
            for at in 0..name.len() {
                for b in 0..=255u8 {
                    let mut v = name.to_vec();
                    v[at] = b;
                    assert_eq!(
                        eq_lowercase(&v, name),
                        v.eq_ignore_ascii_case(name),
                        "{v:?}"
                    );
                }
            }
            assert!(!eq_lowercase(&name[1..], name));
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(HeaderKind::of(b"Content-Length"), HeaderKind::ContentLength);
        assert_eq!(
            HeaderKind::of(b"TRANSFER-ENCODING"),
            HeaderKind::TransferEncoding
        );
        assert_eq!(HeaderKind::of(b"x-request-id"), HeaderKind::XRequestId);
        assert_eq!(HeaderKind::of(b"content-type"), HeaderKind::Other);
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"12345"), Some(12345));
        assert_eq!(parse_content_length(b"18446744073709551615"), None);
        assert_eq!(
            parse_content_length(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"+5"), None);
        assert_eq!(parse_content_length(b"5,5"), None);
        assert_eq!(parse_content_length(b"0x10"), None);
    }

    #[test]
    fn codings() {
        let tc = |v: &[&[u8]]| transfer_coding(v.iter().copied());
        assert_eq!(tc(&[b"chunked"]), TransferCoding::Chunked);
        assert_eq!(tc(&[b"Chunked"]), TransferCoding::Chunked);
        assert_eq!(tc(&[b"gzip, chunked"]), TransferCoding::Chunked);
        assert_eq!(tc(&[b"gzip", b"chunked"]), TransferCoding::Chunked);
        assert_eq!(tc(&[b"chunked, gzip"]), TransferCoding::Invalid);
        assert_eq!(tc(&[b"chunked", b"chunked"]), TransferCoding::Invalid);
        assert_eq!(tc(&[b"gzip"]), TransferCoding::NotChunked);
        assert_eq!(tc(&[b""]), TransferCoding::Invalid);
        assert_eq!(tc(&[b"chun ked"]), TransferCoding::Invalid);
        assert_eq!(tc(&[b"\x0bchunked"]), TransferCoding::Invalid);
    }

    #[test]
    fn hosts() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"[::1]:80",
            b"[::1]",
            b"a_b",
        ] {
            assert!(valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b"exa mple.com",
            b"a/b",
            b"host:port",
            b"[::1",
            b":80",
            b"a@b",
            b"h:123456",
        ] {
            assert!(!valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        // The table is the list it replaced, byte for byte.
        for b in 0..=255u8 {
            let listed = b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
            assert_eq!(REG_NAME[b as usize], listed, "{b:#x}");
            assert_eq!(valid_host(&[b'a', b, b'a']), listed, "{b:#x}");
        }
    }

    #[test]
    fn field_values() {
        assert!(valid_field_value(b"text/html; q=1\tok \x80\xff"));
        assert!(!valid_field_value(b"a\0b"));
        assert!(!valid_field_value(b"a\rb"));
        assert!(!valid_field_value(b"a\nb"));
        assert!(!valid_field_value(b"a\x7fb"));
    }
}
