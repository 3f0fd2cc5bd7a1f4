//! JSON string escaping for access-log lines (`json_format`, compiled in
//! `format.rs`): every byte that may come from a client passes through here.
//!
//! Invariants: a line is valid JSON whatever bytes a client sent — quotes,
//! backslash, control characters, and bytes that are not UTF-8 (each as
//! `\u00XX`) are escaped, never copied raw into a string. Escaping writes
//! into the caller's buffer and does not allocate.

/// Append `bytes` to `out` as the inside of a JSON string (no quotes).
/// Valid UTF-8 passes through except `"`, `\` and control characters; each
/// byte of an invalid sequence becomes `\u00XX` (its Latin-1 reading), so the
/// line stays valid JSON and the byte stays visible.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s.as_bytes(), 0),
            Err(e) => (
                &rest[..e.valid_up_to()],
                e.error_len().unwrap_or(rest.len() - e.valid_up_to()),
            ),
        };
        escape_utf8(out, valid);
        let start = valid.len();
        for &b in &rest[start..start + bad] {
            unicode_escape(out, b);
        }
        rest = &rest[start + bad..];
    }
}

fn escape_utf8(out: &mut Vec<u8>, s: &[u8]) {
    let mut plain = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[plain..i]);
        plain = i + 1;
        if esc.is_empty() {
            unicode_escape(out, b);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&s[plain..]);
}

fn unicode_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

/// `"text"`, escaped.
pub fn quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    escape_into(out, bytes);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(b: &[u8]) -> String {
        let mut out = Vec::new();
        quoted(&mut out, b);
        String::from_utf8(out).expect("escaped output is UTF-8")
    }

    #[test]
    fn escapes_quotes_backslash_and_controls() {
        assert_eq!(esc(b"plain"), "\"plain\"");
        assert_eq!(esc(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(esc(b"\n\r\t\x08\x0c"), r#""\n\r\t\b\f""#);
        assert_eq!(esc(b"\x00\x1f\x7f"), r#""\u0000\u001f\u007f""#);
        assert_eq!(esc("é€😀".as_bytes()), "\"é€😀\"");
    }

    #[test]
    fn bytes_that_are_not_utf8_become_escapes() {
        assert_eq!(esc(b"a\xffb"), r#""a\u00ffb""#);
        // A truncated sequence at the end, and an overlong one in the middle.
        assert_eq!(esc(b"x\xe2\x82"), r#""x\u00e2\u0082""#);
        assert_eq!(esc(b"\xc0\xafz"), r#""\u00c0\u00afz""#);
    }

    #[test]
    fn every_byte_string_gives_valid_json() {
        let mut rng = crate::prim::rng::Rng::new(7);
        for _ in 0..2000 {
            let len = rng.below(12) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let text = esc(&bytes);
            let parsed: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{bytes:?} -> {text}: {e}"));
            assert!(parsed.is_string());
        }
    }
}
