//! Test PKI, shared by the unit tests (through `tls::testing`) and the
//! integration tests (`tests/support/tls.rs` includes this file by path): an
//! rcgen CA and the leaf certificates it issues. It uses nothing from the crate,
//! so both sides compile the same code.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SignatureAlgorithm,
};

pub use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256};

/// A PEM certificate and its PEM private key.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub fn key_for(alg: &'static SignatureAlgorithm) -> KeyPair {
    if alg == &PKCS_RSA_SHA256 {
        KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048).expect("RSA key")
    } else {
        KeyPair::generate_for(alg).expect("key")
    }
}

/// A CA that issues leaf certificates.
pub struct TestCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = key_for(&PKCS_ECDSA_P256_SHA256);
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names` (DNS SANs), valid for rcgen's default period.
    pub fn issue(&self, names: &[&str], alg: &'static SignatureAlgorithm) -> Pem {
        self.issue_with(names, alg, |_| {})
    }

    pub fn issue_with(
        &self,
        names: &[&str],
        alg: &'static SignatureAlgorithm,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Pem {
        let key = key_for(alg);
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}
