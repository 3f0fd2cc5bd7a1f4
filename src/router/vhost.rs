//! Virtual host selection by `Host`, in Envoy's precedence: exact domain, then the
//! longest `*.suffix` wildcard, then the longest `prefix.*` wildcard, then `*`.
//! The port is ignored unless a domain names one: `example.com` matches
//! `example.com:8000` when no domain says `example.com:8000`.

use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct VhostIndex {
    exact: HashMap<Vec<u8>, usize>,
    /// (suffix including the dot, vhost), longest first.
    suffixes: Vec<(Vec<u8>, usize)>,
    /// (prefix including the dot, vhost), longest first.
    prefixes: Vec<(Vec<u8>, usize)>,
    default: Option<usize>,
}

impl VhostIndex {
    pub fn build<'a>(domains: impl IntoIterator<Item = (usize, &'a str)>) -> Self {
        let mut idx = VhostIndex::default();
        for (vhost, domain) in domains {
            let d = domain.to_ascii_lowercase().into_bytes();
            if d == b"*" {
                idx.default.get_or_insert(vhost);
            } else if let Some(suffix) = d.strip_prefix(b"*") {
                idx.suffixes.push((suffix.to_vec(), vhost));
            } else if let Some(prefix) = d.strip_suffix(b"*") {
                idx.prefixes.push((prefix.to_vec(), vhost));
            } else {
                idx.exact.entry(d).or_insert(vhost);
            }
        }
        idx.suffixes.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        idx.prefixes.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        idx
    }

    /// The virtual host for a `Host` value (`None`: the request had no Host).
    /// `scratch` is a reused buffer for lower-casing.
    pub fn select(&self, host: Option<&[u8]>, scratch: &mut Vec<u8>) -> Option<usize> {
        let Some(host) = host else {
            return self.default;
        };
        scratch.clear();
        scratch.extend(host.iter().map(u8::to_ascii_lowercase));
        if let Some(v) = self.match_name(scratch) {
            return Some(v);
        }
        // Try again without the port (not for a bare IPv6 literal's colons).
        let without_port = match scratch.iter().rposition(|&b| b == b':') {
            Some(i) if !scratch.ends_with(b"]") => &scratch[..i],
            _ => return self.default,
        };
        self.match_name(without_port).or(self.default)
    }

    fn match_name(&self, name: &[u8]) -> Option<usize> {
        if let Some(&v) = self.exact.get(name) {
            return Some(v);
        }
        for (suffix, v) in &self.suffixes {
            if name.len() > suffix.len() && name.ends_with(suffix) {
                return Some(*v);
            }
        }
        for (prefix, v) in &self.prefixes {
            if name.len() > prefix.len() && name.starts_with(prefix) {
                return Some(*v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let idx = VhostIndex::build([
            (0, "*"),
            (1, "*.example.com"),
            (2, "*.b.example.com"),
            (3, "api.*"),
            (4, "www.example.com"),
            (5, "exact.test:8080"),
        ]);
        let mut s = Vec::new();
        let mut sel = |h: &str| idx.select(Some(h.as_bytes()), &mut s);
        assert_eq!(sel("www.example.com"), Some(4));
        assert_eq!(sel("WWW.Example.COM:8000"), Some(4));
        assert_eq!(sel("a.example.com"), Some(1));
        assert_eq!(sel("a.b.example.com"), Some(2));
        assert_eq!(sel("api.example.com"), Some(1), "suffix beats prefix");
        assert_eq!(sel("api.other.org"), Some(3));
        assert_eq!(sel("example.com"), Some(0));
        assert_eq!(sel("exact.test:8080"), Some(5));
        assert_eq!(sel("exact.test"), Some(0));
        assert_eq!(idx.select(None, &mut Vec::new()), Some(0));
    }

    #[test]
    fn no_default() {
        let idx = VhostIndex::build([(0, "a.com")]);
        assert_eq!(idx.select(Some(b"b.com"), &mut Vec::new()), None);
        assert_eq!(idx.select(None, &mut Vec::new()), None);
    }
}
