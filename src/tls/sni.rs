//! Choosing a listener's certificate by SNI. Each certificate answers for the DNS
//! names of its subjectAltName (its common name when it has no SANs): an exact
//! name beats a `*.suffix` wildcard, which covers exactly one label
//! (`*.example.com` matches `a.example.com`, not `example.com` or `a.b.example.com`).
//! Several certificates for one name (say ECDSA and RSA) are tried in config order
//! and the first whose key can sign with a scheme the client offers wins. No SNI,
//! or a name no certificate covers, gets the first certificate (the default) —
//! or, if the client cannot verify its signatures (an RSA-only client and an
//! ECDSA default), the first certificate in config order that it can.
//!
//! Built once per config load; a lookup is two hash probes and allocates only for
//! a name with upper-case letters.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    SignatureScheme,
};

#[derive(Debug)]
pub struct SniResolver {
    /// In config order; `[0]` is the default.
    certs: Vec<Arc<CertifiedKey>>,
    /// Lower-case name → indices into `certs`, in config order.
    exact: HashMap<String, Vec<usize>>,
    /// `*.example.com` is stored as `example.com`.
    wildcard: HashMap<String, Vec<usize>>,
    /// Every index in config order: the candidates without a name match.
    fallback: Vec<usize>,
}

impl SniResolver {
    /// `certs` with the names each answers for; at least one certificate.
    pub fn new(certs: Vec<(Arc<CertifiedKey>, Vec<String>)>) -> SniResolver {
        debug_assert!(
            !certs.is_empty(),
            "a TLS listener has a default certificate"
        );
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<usize>> = HashMap::new();
        let mut keys = Vec::with_capacity(certs.len());
        for (i, (key, names)) in certs.into_iter().enumerate() {
            keys.push(key);
            for name in names {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let (table, key) = match name.strip_prefix("*.") {
                    Some(suffix) => (&mut wildcard, suffix.to_string()),
                    None => (&mut exact, name),
                };
                let list = table.entry(key).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        SniResolver {
            fallback: (0..keys.len()).collect(),
            certs: keys,
            exact,
            wildcard,
        }
    }

    /// The index of the certificate for `server_name`, given the signature schemes
    /// the client offers.
    pub fn choose(&self, server_name: Option<&str>, schemes: &[SignatureScheme]) -> usize {
        let Some(name) = server_name else {
            return self.first_signing(&self.fallback, schemes);
        };
        let name = name.trim_end_matches('.');
        let name: Cow<str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        let candidates = self.exact.get(name.as_ref()).or_else(|| {
            let (_, parent) = name.split_once('.')?;
            self.wildcard.get(parent)
        });
        self.first_signing(candidates.unwrap_or(&self.fallback), schemes)
    }

    fn first_signing(&self, list: &[usize], schemes: &[SignatureScheme]) -> usize {
        if list.len() > 1 {
            if let Some(&i) = list
                .iter()
                .find(|&&i| self.certs[i].key.choose_scheme(schemes).is_some())
            {
                return i;
            }
        }
        list[0]
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let i = self.choose(hello.server_name(), hello.signature_schemes());
        Some(self.certs[i].clone())
    }
}
