//! The data behind the admin's `/certs`, in Envoy's shape: one entry per TLS
//! context (a listener's, a cluster's), each with its `ca_cert` and `cert_chain`
//! certificates: path (or `<inline>`), serial, subject, SANs, validity and days
//! until expiry. Computed when asked, from facts read at config load.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::{CertFacts, ClusterTls, ListenerTls};

/// Whose TLS context a `/certs` entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextOwner<'a> {
    Listener(&'a str),
    Cluster(&'a str),
}

/// One TLS context's certificates.
#[derive(Debug, Clone)]
pub struct CertContext<'a> {
    pub owner: ContextOwner<'a>,
    /// Trust anchors: a listener's client CA, a cluster's `verify.ca`.
    pub ca_cert: &'a [CertFacts],
    /// Certificates presented: a listener's (leaf of each), a cluster's client certificate.
    pub cert_chain: &'a [CertFacts],
}

impl<'a> CertContext<'a> {
    pub fn listener(name: &'a str, tls: &'a ListenerTls) -> CertContext<'a> {
        CertContext {
            owner: ContextOwner::Listener(name),
            ca_cert: tls.client_ca(),
            cert_chain: tls.certificates(),
        }
    }

    pub fn cluster(name: &'a str, tls: &'a ClusterTls) -> CertContext<'a> {
        CertContext {
            owner: ContextOwner::Cluster(name),
            ca_cert: tls.ca(),
            cert_chain: tls.client_certificate(),
        }
    }
}

/// `/certs` as Envoy serves it (`{"certificates": [{"ca_cert": [...], "cert_chain": [...]}]}`),
/// plus ringway's `listener`/`cluster` and `subject` fields.
pub fn certs_json(contexts: &[CertContext<'_>], now: SystemTime) -> Value {
    let list: Vec<Value> = contexts
        .iter()
        .map(|c| {
            let mut entry = json!({
                "ca_cert": c.ca_cert.iter().map(|f| cert_json(f, now)).collect::<Vec<_>>(),
                "cert_chain": c.cert_chain.iter().map(|f| cert_json(f, now)).collect::<Vec<_>>(),
            });
            let (key, name) = match c.owner {
                ContextOwner::Listener(n) => ("listener", n),
                ContextOwner::Cluster(n) => ("cluster", n),
            };
            entry[key] = json!(name);
            entry
        })
        .collect();
    json!({ "certificates": list })
}

fn cert_json(f: &CertFacts, now: SystemTime) -> Value {
    let mut sans: Vec<Value> = f.dns_names.iter().map(|d| json!({ "dns": d })).collect();
    sans.extend(
        f.ip_addresses
            .iter()
            .map(|ip| json!({ "ip_address": ip.to_string() })),
    );
    json!({
        "path": f.source,
        "serial_number": f.serial,
        "subject": f.subject,
        "subject_alt_names": sans,
        // Envoy writes this number as a string (a proto uint64 in JSON).
        "days_until_expiration": f.days_until_expiry(now).to_string(),
        "valid_from": rfc3339(f.not_before),
        "expiration_time": rfc3339(f.not_after),
    })
}

/// `2026-12-01T00:00:00Z` for seconds since the Unix epoch.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's days → (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
