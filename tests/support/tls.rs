//! TLS for the integration tests: a CA made by rcgen, leaf certificates it
//! issues (written to the test's temp dir for ringway to load), and a blocking
//! rustls client that talks HTTP/1.1 through `Client`.

use std::{
    net::{SocketAddr, TcpStream},
    path::Path,
    sync::Arc,
};

use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
};

use super::{Client, DEADLINE};

/// The PKI core the unit tests use too (one CA implementation for both).
#[path = "../../src/tls/test_pki.rs"]
#[allow(dead_code, unused_imports)]
mod pki;

pub type TlsClient = Client<StreamOwned<ClientConnection, TcpStream>>;

/// A CA for one test: its certificate as PEM, and the leaves it issues.
pub struct TestCa {
    pub pem: String,
    ca: pki::TestCa,
}

/// A certificate and key, as PEM, and where they were written.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: String,
    pub key_path: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let ca = pki::TestCa::new(name);
        TestCa {
            pem: ca.pem.clone(),
            ca,
        }
    }

    /// An ECDSA P-256 leaf for `names`, written to `dir` as `FILE.crt`/`FILE.key`.
    pub fn issue(&self, dir: &Path, file: &str, names: &[&str]) -> Leaf {
        let pem = self
            .ca
            .issue_with(names, &pki::PKCS_ECDSA_P256_SHA256, |params| {
                if names.is_empty() {
                    params
                        .distinguished_name
                        .push(rcgen::DnType::CommonName, file);
                }
            });
        let cert_path = dir.join(format!("{file}.crt"));
        let key_path = dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, &pem.cert).expect("write cert");
        std::fs::write(&key_path, &pem.key).expect("write key");
        Leaf {
            cert_pem: pem.cert,
            key_pem: pem.key,
            cert_path: cert_path.to_string_lossy().into_owned(),
            key_path: key_path.to_string_lossy().into_owned(),
        }
    }

    /// The CA written to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> String {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("write CA");
        path.to_string_lossy().into_owned()
    }

    /// A client config trusting this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> ClientConfig {
        self.client_config_for(alpn, rustls::ALL_VERSIONS, None)
    }

    /// … limited to `versions`, presenting `identity` (a leaf) if given.
    pub fn client_config_for(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
        identity: Option<&Leaf>,
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(pem_cert(&self.pem)).expect("CA into roots");
        let builder =
            ClientConfig::builder_with_protocol_versions(versions).with_root_certificates(roots);
        let mut config = match identity {
            Some(leaf) => builder
                .with_client_auth_cert(vec![pem_cert(&leaf.cert_pem)], pem_key(&leaf.key_pem))
                .expect("client certificate"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

pub fn pem_cert(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")
}

pub fn pem_key(pem: &str) -> PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("PEM key")
}

/// Connect to `addr` and complete a handshake for `sni`; the error if it fails.
pub fn try_tls_connect(
    addr: SocketAddr,
    sni: &str,
    config: &Arc<ClientConfig>,
) -> Result<TlsClient, rustls::Error> {
    let tcp = TcpStream::connect(addr).expect("connect to ringway");
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.set_write_timeout(Some(DEADLINE)).unwrap();
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    let conn = ClientConnection::new(config.clone(), name).expect("client connection");
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(
                match e
                    .into_inner()
                    .and_then(|e| e.downcast::<rustls::Error>().ok())
                {
                    Some(tls) => *tls,
                    None => rustls::Error::General("connection closed during the handshake".into()),
                },
            );
        }
    }
    Ok(Client::over(stream))
}

pub fn tls_connect(addr: SocketAddr, sni: &str, config: &Arc<ClientConfig>) -> TlsClient {
    try_tls_connect(addr, sni, config).unwrap_or_else(|e| panic!("TLS handshake with {sni}: {e}"))
}

/// The subject CN of the certificate the server presented.
pub fn peer_common_name(c: &TlsClient) -> String {
    let certs = c
        .stream
        .conn
        .peer_certificates()
        .expect("a server certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(&certs[0]).expect("parse certificate");
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    cn
}

/// An HTTPS upstream on its own loopback address: a rustls server with `leaf`,
/// answering every request `200` with body `NAME` and `x-seen-sni` /
/// `x-seen-forwarded-proto` headers, keeping connections alive.
pub struct TlsUpstream {
    pub addr: SocketAddr,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl TlsUpstream {
    pub fn start(name: &str, leaf: &Leaf) -> TlsUpstream {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind(super::next_loopback()).expect("bind");
        let addr = listener.local_addr().unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![pem_cert(&leaf.cert_pem)], pem_key(&leaf.key_pem))
                .expect("server config"),
        );
        let accepted = Arc::new(AtomicUsize::new(0));
        let (count, name) = (accepted.clone(), name.to_string());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let (config, name) = (config.clone(), name.clone());
                std::thread::spawn(move || serve_tls_conn(tcp, config, &name));
            }
        });
        TlsUpstream { addr, accepted }
    }

    /// Connections accepted (handshakes attempted).
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn serve_tls_conn(tcp: TcpStream, config: Arc<rustls::ServerConfig>, name: &str) {
    use std::io::{Read, Write};
    tcp.set_read_timeout(Some(DEADLINE)).ok();
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut s = StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end + 4);
        let proto = head
            .lines()
            .find_map(|l| l.strip_prefix("x-forwarded-proto: "))
            .unwrap_or("-")
            .to_string();
        let sni = s.conn.server_name().unwrap_or("-").to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-seen-sni: {sni}\r\nx-seen-forwarded-proto: {proto}\r\n\r\n{name}",
            name.len()
        );
        if s.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
