//! TLS over a monoio `TcpStream`, with rustls doing the protocol sans-IO.
//!
//! `TlsStream` owns the socket, the rustls connection and two ciphertext
//! buffers. Reads fill the inbound buffer with one rent-style socket read,
//! feed it to rustls whole, and hand out plaintext; writes give plaintext to
//! rustls and send the records it produces with one rent-style write. Nothing
//! here blocks or spawns: it is driven by the connection's own task, so it
//! stays on its core like every other piece of a connection.
//!
//! Invariants: the inbound buffer is only refilled once rustls has taken all
//! of it (monoio reads into a buffer from its start); records rustls wants to
//! send (handshake messages, alerts, TLS 1.3 session tickets, key updates) are
//! flushed before the stream waits for the peer, so a peer never waits on us.

use std::{
    io::{self, Read, Write},
    time::Duration,
};

use super::meter::Metered;
use monoio::{
    buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, RawBuf},
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
    net::TcpStream,
    BufResult,
};
use rustls::{ClientConnection, ConnectionCommon, ServerConnection, SideData};

/// One socket read: the largest TLS record plus its header fits.
const CIPHERTEXT_READ: usize = 16 * 1024 + 512;
/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client spoke something else first, e.g. plaintext HTTP.
    #[error("not TLS (first byte {0:#04x})")]
    NotTls(u8),
    #[error("TLS handshake failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("connection closed during the TLS handshake")]
    Eof,
    #[error("TLS handshake timed out")]
    TimedOut,
    #[error("I/O error during the TLS handshake: {0}")]
    Io(io::Error),
}

/// What a handshake settled, for access logs and stats.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    pub version: Option<rustls::ProtocolVersion>,
    pub cipher: Option<rustls::CipherSuite>,
    /// The key exchange group.
    pub group: Option<rustls::NamedGroup>,
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
    pub resumed: bool,
    /// A client certificate was presented and verified.
    pub peer_certificate: bool,
    /// Its subject (RFC 4514-style), for `%DOWNSTREAM_PEER_SUBJECT%`.
    pub peer_subject: Option<String>,
}

impl TlsInfo {
    /// `TLSv1.2` / `TLSv1.3`, as Envoy's `%DOWNSTREAM_TLS_VERSION%` prints it.
    pub fn version_name(&self) -> Option<&'static str> {
        match self.version? {
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            _ => None,
        }
    }

    /// The cipher suite by its OpenSSL name, as Envoy prints it.
    pub fn cipher_name(&self) -> Option<&'static str> {
        cipher_name(self.cipher?)
    }
}

/// OpenSSL's names for the suites rustls offers (what Envoy logs and counts).
pub fn cipher_name(suite: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite as S;
    Some(match suite {
        S::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        S::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        S::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

/// The subject of a DER certificate, RFC 4514-style.
fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.subject().to_string())
}

/// A TLS connection of either side: `TlsStream` (a client connected to us)
/// or `ClientTlsStream` (us connected to an upstream).
pub struct TlsStream<C = ServerConnection> {
    /// The socket, counting ciphertext (`net::meter`).
    tcp: Metered,
    conn: C,
    /// Ciphertext read from the socket; `rx[rx_pos..]` is not yet given to rustls.
    rx: Vec<u8>,
    rx_pos: usize,
    /// Ciphertext waiting to be written.
    tx: Vec<u8>,
    first_read: FirstRead,
}

pub type ClientTlsStream = TlsStream<ClientConnection>;

impl TlsStream<ClientConnection> {
    /// Our connection to an upstream.
    pub fn new_client(tcp: impl Into<Metered>, conn: ClientConnection) -> ClientTlsStream {
        TlsStream::with(tcp.into(), conn, FirstRead::Any)
    }

    /// The negotiated protocol (ALPN), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }
}

impl<C> TlsStream<C> {
    /// The socket underneath (to look at its state, never to read or write it).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The counting socket underneath (to mark it established).
    pub fn metered_mut(&mut self) -> &mut Metered {
        &mut self.tcp
    }
}

impl TlsStream<ServerConnection> {
    /// The protocol the client and we agreed on by ALPN, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// A client's connection, accepted on a TLS listener.
    pub fn new(tcp: impl Into<Metered>, conn: ServerConnection) -> TlsStream<ServerConnection> {
        TlsStream::with(tcp.into(), conn, FirstRead::ClientHello)
    }

    pub fn info(&self) -> TlsInfo {
        let c = &self.conn;
        TlsInfo {
            version: c.protocol_version(),
            cipher: c.negotiated_cipher_suite().map(|s| s.suite()),
            group: c.negotiated_key_exchange_group().map(|g| g.name()),
            sni: c.server_name().map(str::to_owned),
            alpn: c.alpn_protocol().map(<[u8]>::to_vec),
            resumed: matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
            peer_certificate: c.peer_certificates().is_some_and(|certs| !certs.is_empty()),
            peer_subject: c
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| subject_of(leaf)),
        }
    }
}

/// Which side speaks first decides what the first byte read may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstRead {
    /// We are the server: the client's first record must be a handshake.
    ClientHello,
    /// We are the client: the server answers with a handshake or an alert.
    Any,
}

impl<C, SD> TlsStream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    /// The socket and the session, once the handshake is done, for a protocol
    /// layer that drives rustls itself (HTTP/2's poll-based I/O, either side).
    /// Nothing is lost: `feed` gave rustls every ciphertext byte read, and the
    /// handshake wrote out every record rustls queued.
    pub fn into_parts(self) -> (Metered, C) {
        debug_assert!(self.rx_pos >= self.rx.len() && !self.conn.wants_write());
        (self.tcp, self.conn)
    }

    fn with(tcp: Metered, conn: C, first_read: FirstRead) -> TlsStream<C> {
        TlsStream {
            tcp,
            conn,
            rx: Vec::with_capacity(CIPHERTEXT_READ),
            rx_pos: 0,
            tx: Vec::new(),
            first_read,
        }
    }

    /// Run the handshake to completion within `timeout`.
    pub async fn handshake(&mut self, timeout: Duration) -> Result<(), HandshakeError> {
        match monoio::time::timeout(timeout, self.drive_handshake()).await {
            Ok(done) => done,
            Err(_) => Err(HandshakeError::TimedOut),
        }
    }

    /// Run the handshake to completion, bounded by whatever deadline the
    /// caller puts around it.
    pub async fn drive_handshake(&mut self) -> Result<(), HandshakeError> {
        let mut first = Some(self.first_read);
        while self.conn.is_handshaking() {
            self.send_pending().await.map_err(HandshakeError::Io)?;
            if !self.conn.wants_read() {
                continue;
            }
            if self.read_socket().await.map_err(HandshakeError::Io)? == 0 {
                return Err(HandshakeError::Eof);
            }
            if first == Some(FirstRead::ClientHello) {
                if let Some(&b) = self.rx.first().filter(|&&b| b != HANDSHAKE_RECORD) {
                    return Err(HandshakeError::NotTls(b));
                }
            }
            first = None;
            if let Err(e) = self.feed() {
                // Tell the client why (the alert rustls queued), then give up.
                let _ = self.send_pending().await;
                return Err(HandshakeError::Tls(e));
            }
        }
        // Finished messages, and TLS 1.3 session tickets.
        self.send_pending().await.map_err(HandshakeError::Io)?;
        Ok(())
    }

    /// Wait until a read would find something (plaintext, or bytes on the
    /// socket, or its end), holding no read buffer of the caller's.
    pub async fn readable(&mut self) -> io::Result<()> {
        let buffered = self
            .conn
            .process_new_packets()
            .map(|s| s.plaintext_bytes_to_read() > 0)
            .unwrap_or(true);
        if buffered || self.rx_pos < self.rx.len() {
            return Ok(());
        }
        self.tcp.readable(false).await
    }

    /// One socket read into `rx` (only once rustls has taken all of it).
    async fn read_socket(&mut self) -> io::Result<usize> {
        debug_assert_eq!(self.rx_pos, self.rx.len());
        let mut rx = std::mem::take(&mut self.rx);
        rx.clear();
        if rx.capacity() < CIPHERTEXT_READ {
            rx.reserve(CIPHERTEXT_READ);
        }
        let (res, rx) = self.tcp.read(rx).await;
        self.rx = rx;
        self.rx_pos = 0;
        res
    }

    /// Give rustls the ciphertext read so far and let it process it.
    fn feed(&mut self) -> Result<(), rustls::Error> {
        if self.rx.is_empty() {
            // End of stream: rustls learns it from an empty read.
            let _ = self.conn.read_tls(&mut io::empty());
        }
        while self.rx_pos < self.rx.len() {
            let mut pending = &self.rx[self.rx_pos..];
            let taken = self.conn.read_tls(&mut pending);
            // Processing makes room in rustls' buffers for the rest.
            self.conn.process_new_packets()?;
            match taken {
                Ok(n) => self.rx_pos += n,
                // Full even after processing: the peer sent more than rustls
                // buffers before its owner reads (we read only when it is empty).
                Err(e) => return Err(rustls::Error::General(e.to_string())),
            }
        }
        self.conn.process_new_packets()?;
        Ok(())
    }

    /// Write every record rustls has queued.
    async fn send_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.tx.clear();
            self.conn.write_tls(&mut self.tx)?;
            let tx = std::mem::take(&mut self.tx);
            let (res, tx) = self.tcp.write_all(tx).await;
            self.tx = tx;
            res?;
        }
        Ok(())
    }

    /// Send `close_notify` (the socket stays open until dropped).
    pub async fn close_notify(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.send_pending().await
    }

    async fn read_plain(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Records rustls wants out (a key update's answer) go before we wait.
            self.send_pending().await?;
            if self.rx_pos >= self.rx.len() {
                self.read_socket().await?;
            }
            if let Err(e) = self.feed() {
                let _ = self.send_pending().await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    async fn write_plain(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() {
            // rustls takes what fits its buffer limit; the rest after a send.
            written += self.conn.writer().write(&data[written..])?;
            self.send_pending().await?;
        }
        Ok(written)
    }
}

impl<C, SD> AsyncReadRent for TlsStream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: `write_ptr` is valid for `bytes_total` bytes for as long as we
        // own `buf`, and `read` only writes into the slice.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr(), buf.bytes_total()) };
        let res = self.read_plain(out).await;
        if let Ok(n) = res {
            // SAFETY: `read_plain` initialised the first `n` bytes.
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`'s first iovec, which we own.
        let res = match unsafe { RawBuf::new_from_iovec_mut(&mut buf) } {
            Some(raw) => self.read(raw).await.0,
            None => Ok(0),
        };
        if let Ok(n) = res {
            // SAFETY: `read` initialised the first `n` bytes.
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }
}

impl<C, SD> AsyncWriteRent for TlsStream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr` is valid for `bytes_init` bytes while we own `buf`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = self.write_plain(data).await;
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`'s first iovec, which we own.
        let res = match unsafe { RawBuf::new_from_iovec(&buf) } {
            Some(raw) => self.write(raw).await.0,
            None => Ok(0),
        };
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send_pending().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.send_pending().await?;
        self.tcp.shutdown().await
    }
}
