//! A listener's TLS: its certificates, chosen by SNI, and one rustls
//! `ServerConfig` built from them at config load and shared read-only by every
//! worker for the life of the config generation. TLS 1.3 tickets come from one
//! rotating ticketer inside that config, so a ticket issued by one worker resumes
//! on any other; TLS 1.2 sessions resume by ID from one bounded cache (or by
//! ticket when tickets are on).
//!
//! A reload rebuilds every listener's config, but a listener whose TLS settings
//! and files are byte-for-byte unchanged keeps its ticket keys and session cache
//! (`SessionState`, found by a digest of both), so clients keep resuming across
//! reloads. Any change — a renewed certificate, mTLS turned on — gets fresh keys,
//! so no session outlives the settings it was made under.

use std::{
    hash::{Hash, Hasher},
    sync::{Arc, Mutex, Weak},
    time::Duration,
    time::SystemTime,
};

use rustls::{
    server::{ProducesTickets, ServerSessionMemoryCache, WebPkiClientVerifier},
    ServerConfig,
};

use super::{
    certs::{load_ca, load_certified_key, CertFacts, CertificateSpec},
    params::{Alpn, ProtocolParams},
    sni::SniResolver,
    source::PemSource,
    FieldWarning, TlsError, TlsFieldError,
};

/// Resumable sessions kept per listener (TLS 1.2 session IDs, and TLS 1.3 when
/// tickets are off): about 200 bytes each. Oldest go first when full.
pub const SESSION_CACHE_ENTRIES: usize = 8192;

/// Whether TLS 1.3 (and 1.2) session tickets are issued. Without them sessions
/// still resume, from the server-side cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionTickets {
    On,
    Off,
}

/// Client certificates (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// None asked for.
    Off,
    /// Asked for; a client without one is let in, one that sends a certificate
    /// not signed by `ca` is refused.
    Optional { ca: PemSource },
    /// A certificate signed by `ca` is required.
    Required { ca: PemSource },
}

/// A listener's `tls:` block, validated: names mapped, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenerTlsSpec {
    /// At least one; the first is the default certificate.
    pub certificates: Vec<CertificateSpec>,
    /// Offered in this order; a client offering none of them fails the handshake.
    pub alpn: Vec<Alpn>,
    pub params: ProtocolParams,
    pub session_tickets: SessionTickets,
    pub client_auth: ClientAuth,
    /// A handshake not finished within this closes the connection.
    pub handshake_timeout: Duration,
    /// Handshakes one worker runs at once (the accept path enforces it), so a
    /// handshake flood cannot starve established connections of CPU.
    pub max_concurrent_handshakes: u32,
}

/// Ticket keys and the session cache of one TLS configuration, shared by every
/// worker and by successive generations while the configuration is unchanged.
#[derive(Debug)]
pub struct SessionState {
    /// `None` when tickets are off.
    ticketer: Option<Arc<dyn ProducesTickets>>,
    cache: Arc<ServerSessionMemoryCache>,
}

/// Live session states by configuration digest. Touched only at config load.
static SESSIONS: Mutex<Vec<(u64, Weak<SessionState>)>> = Mutex::new(Vec::new());

/// The session state for a configuration digest: the live one if a listener of
/// the current generation has it, else a new one.
fn session_state(digest: u64, tickets: SessionTickets) -> Result<Arc<SessionState>, TlsError> {
    let mut live = SESSIONS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    live.retain(|(_, weak)| weak.strong_count() > 0);
    if let Some(state) = live
        .iter()
        .find(|(d, _)| *d == digest)
        .and_then(|(_, weak)| weak.upgrade())
    {
        return Ok(state);
    }
    let ticketer = match tickets {
        SessionTickets::On => Some(
            rustls::crypto::aws_lc_rs::Ticketer::new()
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
        ),
        SessionTickets::Off => None,
    };
    let state = Arc::new(SessionState {
        ticketer,
        cache: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
    });
    live.push((digest, Arc::downgrade(&state)));
    Ok(state)
}

/// A listener's TLS, loaded: what the accept path needs, and what `/certs` shows.
#[derive(Debug)]
pub struct ListenerTls {
    spec: ListenerTlsSpec,
    server_config: Arc<ServerConfig>,
    /// Held so that the next generation finds the same keys while this one lives.
    sessions: Arc<SessionState>,
    /// Leaf facts of each configured certificate, in config order.
    certificates: Vec<CertFacts>,
    /// The CA certificates client certificates are verified against.
    client_ca: Vec<CertFacts>,
    warnings: Vec<FieldWarning>,
}

impl ListenerTls {
    /// Load every file and build the server config. `field` is the config path of
    /// the `tls` block (`listeners[0].tls`), used in errors and warnings.
    pub fn build(
        field: &str,
        spec: &ListenerTlsSpec,
        now: SystemTime,
    ) -> Result<ListenerTls, TlsFieldError> {
        let provider = spec.params.provider();
        let mut warnings = Vec::new();
        let mut digest = std::collections::hash_map::DefaultHasher::new();
        spec.hash(&mut digest);
        let mut keyed = Vec::with_capacity(spec.certificates.len());
        let mut certificates = Vec::with_capacity(spec.certificates.len());
        for (i, c) in spec.certificates.iter().enumerate() {
            let at = format!("{field}.certificates[{i}]");
            let loaded = load_certified_key(c, &provider).map_err(|e| e.at(&at))?;
            loaded.material.hash(&mut digest);
            let leaf = loaded.leaf().clone();
            if let Some(w) = leaf.expiry_warning(now) {
                warnings.push(FieldWarning::new(format!("{at}.cert_chain"), w));
            }
            let names = leaf.server_names();
            if names.is_empty() && spec.certificates.len() > 1 {
                warnings.push(FieldWarning::new(
                    format!("{at}.cert_chain"),
                    format!(
                        "certificate {} names no DNS name, so SNI never selects it{}",
                        leaf.source,
                        if i == 0 {
                            " (it is still the default)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            keyed.push((loaded.key, names));
            certificates.push(leaf);
        }
        let (verifier, client_ca) = match &spec.client_auth {
            ClientAuth::Off => (WebPkiClientVerifier::no_client_auth(), Vec::new()),
            ClientAuth::Optional { ca } | ClientAuth::Required { ca } => {
                let at = format!("{field}.client_ca");
                let loaded = load_ca(ca).map_err(|e| e.at(&at))?;
                loaded.material.hash(&mut digest);
                let builder =
                    WebPkiClientVerifier::builder_with_provider(loaded.roots, provider.clone());
                let builder = match spec.client_auth {
                    ClientAuth::Optional { .. } => builder.allow_unauthenticated(),
                    _ => builder,
                };
                let verifier = builder.build().map_err(|e| {
                    TlsError::Verifier {
                        source_name: ca.name().to_string(),
                        reason: e.to_string(),
                    }
                    .at(&at)
                })?;
                (verifier, loaded.facts)
            }
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&spec.params.versions.rustls())
            .map_err(|e| TlsError::Rustls(e.to_string()).at(field))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SniResolver::new(keyed)));
        config.alpn_protocols = spec.alpn.iter().map(|a| a.wire().to_vec()).collect();
        let sessions =
            session_state(digest.finish(), spec.session_tickets).map_err(|e| e.at(field))?;
        config.session_storage = sessions.cache.clone();
        if let Some(ticketer) = &sessions.ticketer {
            config.ticketer = ticketer.clone();
        }
        Ok(ListenerTls {
            spec: spec.clone(),
            server_config: Arc::new(config),
            sessions,
            certificates,
            client_ca,
            warnings,
        })
    }

    /// The config every handshake on this listener uses; clone the `Arc` per
    /// connection (`rustls::ServerConnection::new(tls.server_config())`).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config.clone()
    }

    pub fn spec(&self) -> &ListenerTlsSpec {
        &self.spec
    }

    /// Whether `other` shares this listener's ticket keys and session cache
    /// (true across a reload that changed none of its TLS settings or files).
    pub fn shares_sessions_with(&self, other: &ListenerTls) -> bool {
        Arc::ptr_eq(&self.sessions, &other.sessions)
    }

    pub fn handshake_timeout(&self) -> Duration {
        self.spec.handshake_timeout
    }

    pub fn max_concurrent_handshakes(&self) -> u32 {
        self.spec.max_concurrent_handshakes
    }

    /// Leaf certificates, in config order (the first is the default).
    pub fn certificates(&self) -> &[CertFacts] {
        &self.certificates
    }

    pub fn client_ca(&self) -> &[CertFacts] {
        &self.client_ca
    }

    /// What loading noticed without refusing (expiring certificates, …).
    pub fn warnings(&self) -> &[FieldWarning] {
        &self.warnings
    }
}
