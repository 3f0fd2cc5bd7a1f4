//! Hashing for `ring_hash` and `maglev`: a 64-bit FNV-1a folded through
//! murmur3's finalizer, so short keys that differ in one byte land far apart.
//! Stable across processes and versions: a key must map to the same host after
//! a restart.

pub fn hash64(bytes: &[u8]) -> u64 {
    hash64_seeded(bytes, 0)
}

pub fn hash64_seeded(bytes: &[u8], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// murmur3 fmix64.
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The value of cookie `name` in a `Cookie` header value (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        (pair[..eq].trim_ascii() == name).then(|| pair[eq + 1..].trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        assert_eq!(hash64(b"user-1"), hash64(b"user-1"));
        assert_ne!(hash64(b"user-1"), hash64(b"user-2"));
        assert_ne!(hash64_seeded(b"x", 0), hash64_seeded(b"x", 1));
    }

    #[test]
    fn finds_cookies() {
        let h = b"a=1; session=abc ;b=2";
        assert_eq!(cookie_value(h, b"session"), Some(&b"abc"[..]));
        assert_eq!(cookie_value(h, b"b"), Some(&b"2"[..]));
        assert_eq!(cookie_value(h, b"sess"), None);
        assert_eq!(cookie_value(b"", b"a"), None);
    }
}
