//! Test PKI: rcgen-made CAs, leaf certificates and keys written to a temp dir,
//! and an in-memory handshake between a rustls client and server (no sockets).

use std::{path::Path, sync::Arc};

use rcgen::CertificateParams;
use rustls::{ClientConnection, ServerConnection};

pub use super::test_pki::*;

/// Write `text` to `dir/name` and return the path as config text.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path.to_string_lossy().into_owned()
}

/// A CA and one leaf for `a.test`, written to a fresh temp dir (gone on drop).
pub struct PkiFiles {
    _dir: tempfile::TempDir,
    pub ca: TestCa,
    pub cert: String,
    pub key: String,
    pub ca_path: String,
}

impl PkiFiles {
    pub fn new() -> PkiFiles {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA");
        let leaf = ca.issue(&["a.test"], &PKCS_ECDSA_P256_SHA256);
        PkiFiles {
            cert: write(dir.path(), "a.crt", &leaf.cert),
            key: write(dir.path(), "a.key", &leaf.key),
            ca_path: write(dir.path(), "ca.pem", &ca.pem),
            _dir: dir,
            ca,
        }
    }
}

/// Make `params` expire at midnight UTC `days` days from today (negative: ago).
pub fn expire_in_days(params: &mut CertificateParams, days: i64) {
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
        / 86_400;
    let (y, m, d) = super::admin::civil_from_days(today + days);
    params.not_after = rcgen::date_time_ymd(y as i32, m as u8, d as u8);
    if days < 0 {
        let (y, m, d) = super::admin::civil_from_days(today + days - 30);
        params.not_before = rcgen::date_time_ymd(y as i32, m as u8, d as u8);
    }
}

/// Which side refused the handshake, and why.
#[derive(Debug)]
pub enum Failure {
    Server(rustls::Error),
    Client(rustls::Error),
}

/// Run a handshake to completion in memory. Records are moved whole between the
/// two sides until neither has anything to send.
pub fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), Failure> {
    for _ in 0..32 {
        let c2s = drain(client);
        if !c2s.is_empty() {
            feed(server, &c2s);
            if let Err(e) = server.process_new_packets() {
                // Deliver the server's alert, so the client sees why.
                let alert = drain(server);
                feed(client, &alert);
                let _ = client.process_new_packets();
                return Err(Failure::Server(e));
            }
        }
        let s2c = drain(server);
        if !s2c.is_empty() {
            feed(client, &s2c);
            if let Err(e) = client.process_new_packets() {
                return Err(Failure::Client(e));
            }
        }
        if c2s.is_empty() && s2c.is_empty() && !client.is_handshaking() && !server.is_handshaking()
        {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn drain<D>(conn: &mut rustls::ConnectionCommon<D>) -> Vec<u8> {
    let mut buf = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut buf).expect("write to a Vec");
    }
    buf
}

fn feed<D>(conn: &mut rustls::ConnectionCommon<D>, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        conn.read_tls(&mut rest).expect("read from a slice");
    }
}

/// A client config trusting `ca_pem`, for talking to a test server.
pub fn client_trusting(ca_pem: &str) -> rustls::ClientConfig {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA cert");
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}
