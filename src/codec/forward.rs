//! Who the client is, as the upstream hears it: Envoy's rules for
//! `x-forwarded-for`, `x-forwarded-proto`, the external-address header and
//! `x-request-id`, decided once per request from the listener's policy, the
//! connection's peer and the client's own `x-forwarded-for`.
//!
//! Invariant: nothing here allocates. The decision is a few flags and an
//! address on the stack; the encoder writes from them (tests/alloc_per_request.rs).
//!
//! The rules (Envoy's `ConnectionManagerUtility::mutateRequestHeaders`):
//! - `use_remote_address`: the trusted client address is the peer, or with
//!   `xff_num_trusted_hops: N > 0` the Nth address from the right of the
//!   client's `x-forwarded-for` (the peer if there is none). The peer is
//!   appended to `x-forwarded-for` unless `skip_xff_append`. The client's
//!   `x-forwarded-proto` is kept only with trusted hops; otherwise it is set
//!   from the connection.
//! - without it: `x-forwarded-for` passes unchanged, and so does a client's
//!   `x-forwarded-proto` (set from the connection when absent).
//! - An edge request (`use_remote_address` and the client not internal) gets
//!   the external-address header (the client's own is replaced) and, unless
//!   `preserve_external_request_id`, a fresh `x-request-id`. A request is
//!   internal when its trusted address is in `internal` and it is the only
//!   address `x-forwarded-for` will hold (Envoy: a single XFF address).
//! - With `envoy_internal_headers` (the Envoy front door's default), an
//!   internal request gets `x-envoy-internal: true`; any other loses a
//!   client's `x-envoy-internal` and the `x-envoy-*` request headers Envoy
//!   keeps internal (retry, timeout and tracing controls an Envoy behind us
//!   would obey), as Envoy's `cleanInternalHeaders` does.

use std::net::IpAddr;

use super::headers::{HeaderIndex, HeaderKind};

/// A CIDR range (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    /// `None` if `text` is not `IP/LEN` with LEN within the family's width.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, len) = match text.split_once('/') {
            Some((ip, len)) => (ip.trim().parse::<IpAddr>().ok()?, len.trim().parse().ok()?),
            None => {
                let ip = text.trim().parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let width = if ip.is_ipv4() { 32 } else { 128 };
        (len <= width).then_some(Cidr {
            addr: ip,
            prefix_len: len,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, width) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.prefix_len);
        shift >= width || (a >> shift) == (b >> shift)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A listener's forwarding policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    pub use_remote_address: bool,
    pub xff_num_trusted_hops: u32,
    pub skip_xff_append: bool,
    /// Peers treated as internal (Envoy's `internal_address_config.cidr_ranges`).
    pub internal: Vec<Cidr>,
    /// Lowercase; `None`: no external-address header is written.
    pub external_address_header: Option<String>,
    pub generate_request_id: bool,
    pub preserve_external_request_id: bool,
    /// Write `x-envoy-internal` and strip Envoy's internal-only headers.
    pub envoy_internal_headers: bool,
}

impl Forwarding {
    /// ringway's own default: an edge that appends the peer, sets
    /// `x-forwarded-proto` from the connection and keeps a client's request id.
    pub fn native_default() -> Forwarding {
        Forwarding {
            use_remote_address: true,
            xff_num_trusted_hops: 0,
            skip_xff_append: false,
            internal: Vec::new(),
            external_address_header: None,
            generate_request_id: true,
            preserve_external_request_id: true,
            envoy_internal_headers: false,
        }
    }

    /// Envoy's connection manager defaults.
    pub fn envoy_default() -> Forwarding {
        Forwarding {
            use_remote_address: false,
            preserve_external_request_id: false,
            external_address_header: Some(ENVOY_EXTERNAL_ADDRESS.to_string()),
            envoy_internal_headers: true,
            ..Forwarding::native_default()
        }
    }

    /// What to write for one request.
    pub fn plan(&self, buf: &[u8], headers: &[HeaderIndex], peer: IpAddr) -> ForwardPlan {
        let xff_entries = headers
            .iter()
            .filter(|h| h.kind == HeaderKind::XForwardedFor)
            .map(|h| h.value(buf).split(|&b| b == b',').count())
            .sum::<usize>();
        let hops = self.xff_num_trusted_hops;
        // `known`: the trusted address came from the connection or a parsed
        // XFF entry. Without `use_remote_address` an XFF that does not parse
        // leaves it unknown, and an unknown address is never internal (as
        // Envoy); the peer only stands in for logging and the external header.
        let (trusted, known, append, set_xfp) = if self.use_remote_address {
            let from_xff = if hops > 0 {
                xff_from_right(buf, headers, hops - 1)
            } else {
                None
            };
            (
                from_xff.unwrap_or(peer),
                true,
                !self.skip_xff_append,
                hops == 0,
            )
        } else {
            match xff_from_right(buf, headers, hops) {
                Some(ip) => (ip, true, false, false),
                None => (peer, false, false, false),
            }
        };
        // The trusted address is all XFF will say: none yet (we append the
        // peer), or the one entry a proxy in front wrote.
        let single = if self.use_remote_address {
            xff_entries == 0
        } else {
            xff_entries == 1 && hops == 0
        };
        let internal = single && known && self.internal.iter().any(|c| c.contains(trusted));
        let edge = self.use_remote_address && !internal;
        let request_id = match (
            self.generate_request_id,
            edge && !self.preserve_external_request_id,
        ) {
            (false, _) => RequestIdAction::Keep,
            (true, false) => RequestIdAction::GenerateIfMissing,
            (true, true) => RequestIdAction::Overwrite,
        };
        ForwardPlan {
            append_xff: append,
            set_xfp,
            external: if edge && self.external_address_header.is_some() {
                Some(trusted)
            } else {
                None
            },
            request_id,
            envoy: match (self.envoy_internal_headers, internal) {
                (false, _) => EnvoyHeaders::Untouched,
                (true, true) => EnvoyHeaders::Internal,
                (true, false) => EnvoyHeaders::Clean { edge },
            },
        }
    }
}

/// Envoy's internal-only `x-envoy-*` request headers, what a request does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvoyHeaders {
    /// Passed as received (ringway's native default).
    Untouched,
    /// `x-envoy-internal: true` is written (a client's replaced).
    Internal,
    /// External: a client's `x-envoy-internal` and Envoy's internal-only
    /// headers are dropped (an edge request loses three more).
    Clean { edge: bool },
}

/// Stripped from every external request (Envoy's `cleanInternalHeaders`).
const ENVOY_INTERNAL_ONLY: &[&str] = &[
    "x-envoy-internal",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-max-retries",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-force-trace",
    "x-envoy-ip-tags",
    "x-envoy-original-url",
    "x-envoy-hedge-on-per-try-timeout",
];
/// Stripped from edge requests too.
const ENVOY_EDGE_ONLY: &[&str] = &[
    "x-envoy-decorator-operation",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
];

impl EnvoyHeaders {
    /// Whether a request header `name` is dropped.
    pub fn drops(self, name: &[u8]) -> bool {
        let is = |list: &[&str]| list.iter().any(|n| name.eq_ignore_ascii_case(n.as_bytes()));
        if name.len() < 8 || !name[..8].eq_ignore_ascii_case(b"x-envoy-") {
            return false;
        }
        match self {
            EnvoyHeaders::Untouched => false,
            EnvoyHeaders::Internal => name.eq_ignore_ascii_case(b"x-envoy-internal"),
            EnvoyHeaders::Clean { edge } => {
                is(ENVOY_INTERNAL_ONLY) || (edge && is(ENVOY_EDGE_ONLY))
            }
        }
    }
}

/// Envoy's name for the edge's view of the client.
pub const ENVOY_EXTERNAL_ADDRESS: &str = "x-envoy-external-address";

/// What the encoder does with the forwarding headers of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardPlan {
    /// Append the peer to `x-forwarded-for` (else it passes as received).
    pub append_xff: bool,
    /// Set `x-forwarded-proto` from the connection even if the client sent one.
    pub set_xfp: bool,
    /// Write the external-address header with this (replacing the client's).
    pub external: Option<IpAddr>,
    pub request_id: RequestIdAction,
    pub envoy: EnvoyHeaders,
}

impl ForwardPlan {
    /// ringway's native default for a peer: what every request got before
    /// the policy was configurable.
    pub fn edge() -> ForwardPlan {
        ForwardPlan {
            append_xff: true,
            set_xfp: true,
            external: None,
            request_id: RequestIdAction::GenerateIfMissing,
            envoy: EnvoyHeaders::Untouched,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestIdAction {
    /// Pass the client's, write none of ours (`generate_request_id: false`).
    Keep,
    /// Keep the client's; generate one when it sent none.
    GenerateIfMissing,
    /// Replace the client's with ours (an edge request).
    Overwrite,
}

/// The address `skip` entries from the right of the client's
/// `x-forwarded-for` lines (taken as one list), if it parses.
fn xff_from_right(buf: &[u8], headers: &[HeaderIndex], mut skip: u32) -> Option<IpAddr> {
    let lines = headers
        .iter()
        .rev()
        .filter(|h| h.kind == HeaderKind::XForwardedFor);
    for h in lines {
        for entry in h.value(buf).rsplit(|&b| b == b',') {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let text = std::str::from_utf8(entry).ok()?.trim();
            return text.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::headers::offsets;

    fn headers_of(buf: &[u8]) -> Vec<HeaderIndex> {
        let text = std::str::from_utf8(buf).unwrap();
        let mut out = Vec::new();
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ").unwrap();
            out.push(HeaderIndex {
                name: offsets(buf, name.as_bytes()),
                value: offsets(buf, value.as_bytes()),
                kind: HeaderKind::of(name.as_bytes()),
            });
        }
        out
    }

    fn policy(remote: bool, hops: u32) -> Forwarding {
        Forwarding {
            use_remote_address: remote,
            xff_num_trusted_hops: hops,
            ..Forwarding::envoy_default()
        }
    }

    const PEER: &str = "192.0.2.5";

    fn plan(p: &Forwarding, head: &[u8]) -> ForwardPlan {
        p.plan(head, &headers_of(head), PEER.parse().unwrap())
    }

    #[test]
    fn envoy_docs_examples() {
        let xff = b"x-forwarded-for: 203.0.113.128, 203.0.113.10, 203.0.113.1\r\n";
        // Edge without trusted proxies: the peer is the client.
        let p = plan(&policy(true, 0), b"a: b\r\n");
        assert!(p.append_xff && p.set_xfp);
        assert_eq!(p.external, Some(PEER.parse().unwrap()));
        assert_eq!(p.request_id, RequestIdAction::Overwrite);
        // Edge behind two trusted proxies: the second address from the right.
        let p = plan(&policy(true, 2), xff);
        assert_eq!(p.external, Some("203.0.113.10".parse().unwrap()));
        assert!(p.append_xff && !p.set_xfp);
        // Trusted hops but no XFF: the peer.
        let p = plan(&policy(true, 1), b"a: b\r\n");
        assert_eq!(p.external, Some(PEER.parse().unwrap()));
        // Internal proxy: nothing appended, no external address, id kept.
        let p = plan(&policy(false, 0), xff);
        assert!(!p.append_xff && !p.set_xfp && p.external.is_none());
        assert_eq!(p.request_id, RequestIdAction::GenerateIfMissing);
    }

    #[test]
    fn xff_lines_are_one_list() {
        let head = b"x-forwarded-for: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n";
        let h = headers_of(head);
        let at = |n| xff_from_right(head, &h, n);
        assert_eq!(at(0), Some("10.0.0.3".parse().unwrap()));
        assert_eq!(at(2), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(at(3), None);
        let bad = b"x-forwarded-for: not-an-ip\r\n";
        assert_eq!(xff_from_right(bad, &headers_of(bad), 0), None);
    }

    #[test]
    fn internal_peers_are_not_edge() {
        let p = Forwarding {
            internal: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            ..policy(true, 0)
        };
        let plan = plan(&p, b"a: b\r\n");
        assert_eq!(plan.external, None);
        assert_eq!(plan.request_id, RequestIdAction::GenerateIfMissing);
        // A client XFF makes it external again (Envoy: one XFF address only).
        let with_xff = super::Forwarding::plan(
            &p,
            b"x-forwarded-for: 1.2.3.4\r\n",
            &headers_of(b"x-forwarded-for: 1.2.3.4\r\n"),
            PEER.parse().unwrap(),
        );
        assert!(with_xff.external.is_some());
    }

    #[test]
    fn an_xff_that_does_not_parse_is_never_internal() {
        // Without use_remote_address the trusted address is XFF's; junk there
        // must not let the (internal) peer stand in for it.
        let p = Forwarding {
            internal: vec![Cidr::parse("192.0.2.0/24").unwrap()],
            ..policy(false, 0)
        };
        let head = b"x-forwarded-for: junk\r\n";
        let plan = super::Forwarding::plan(&p, head, &headers_of(head), PEER.parse().unwrap());
        assert_eq!(plan.envoy, EnvoyHeaders::Clean { edge: false });
        let good = b"x-forwarded-for: 192.0.2.9\r\n";
        let plan = super::Forwarding::plan(&p, good, &headers_of(good), PEER.parse().unwrap());
        assert_eq!(plan.envoy, EnvoyHeaders::Internal);
    }

    #[test]
    fn envoy_internal_headers() {
        let clean = EnvoyHeaders::Clean { edge: false };
        assert!(clean.drops(b"X-Envoy-Retry-On") && clean.drops(b"x-envoy-internal"));
        assert!(!clean.drops(b"x-envoy-decorator-operation"));
        assert!(EnvoyHeaders::Clean { edge: true }.drops(b"x-envoy-decorator-operation"));
        assert!(!clean.drops(b"x-envoy-external-address") && !clean.drops(b"x-other"));
        assert!(EnvoyHeaders::Internal.drops(b"x-envoy-internal"));
        assert!(!EnvoyHeaders::Internal.drops(b"x-envoy-retry-on"));
        assert!(!EnvoyHeaders::Untouched.drops(b"x-envoy-internal"));
        // Behind an edge: one XFF entry in the internal range is internal.
        let p = Forwarding {
            internal: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            ..policy(false, 0)
        };
        let one = b"x-forwarded-for: 10.1.1.1\r\n";
        assert_eq!(plan(&p, one).envoy, EnvoyHeaders::Internal);
        let two = b"x-forwarded-for: 1.2.3.4, 10.1.1.1\r\n";
        assert_eq!(plan(&p, two).envoy, EnvoyHeaders::Clean { edge: false });
    }

    #[test]
    fn cidr_contains() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nope/8"), None);
        assert_eq!(Cidr::parse("10.0.0.1").unwrap().prefix_len, 32);
    }
}
