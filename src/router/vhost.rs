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
    ///
    /// Each tier (exact, suffix, prefix) is tried with the port and then without
    /// it before the next tier, so `api.example.com:8080` finds an exact
    /// `api.example.com` before an `api.*` wildcard.
    pub fn select(&self, host: Option<&[u8]>, scratch: &mut Vec<u8>) -> Option<usize> {
        let Some(host) = host else {
            return self.default;
        };
        scratch.clear();
        scratch.extend(host.iter().map(u8::to_ascii_lowercase));
        let full = &scratch[..];
        // The port is after the last colon, except in a bare IPv6 literal.
        let name = match full.iter().rposition(|&b| b == b':') {
            Some(i) if !full.ends_with(b"]") => &full[..i],
            _ => full,
        };
        let names = [full, name];
        let exact = || names.iter().find_map(|n| self.exact.get(*n).copied());
        let suffix = || {
            names.iter().find_map(|n| {
                self.suffixes
                    .iter()
                    .find(|(s, _)| n.len() > s.len() && n.ends_with(s))
                    .map(|(_, v)| *v)
            })
        };
        let prefix = || {
            names.iter().find_map(|n| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| n.len() > p.len() && n.starts_with(p))
                    .map(|(_, v)| *v)
            })
        };
        exact().or_else(suffix).or_else(prefix).or(self.default)
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
        assert_eq!(
            sel("api.example.com:8080"),
            Some(1),
            "a suffix beats a prefix, port or not"
        );
        assert_eq!(idx.select(None, &mut Vec::new()), Some(0));
    }

    #[test]
    fn no_default() {
        let idx = VhostIndex::build([(0, "a.com")]);
        assert_eq!(idx.select(Some(b"b.com"), &mut Vec::new()), None);
        assert_eq!(idx.select(None, &mut Vec::new()), None);
    }
}
