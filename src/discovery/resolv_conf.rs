//! `/etc/resolv.conf`: where the system resolver sends queries and how it expands
//! short names. Read once when the resolver thread starts; only the subset glibc
//! documents and ringway uses is understood (`nameserver`, `search`, `domain`,
//! `options ndots: timeout: attempts:`); everything else is ignored, as glibc does.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

/// glibc's limits (resolv.h): at most 3 servers, ndots ≤ 15, timeout ≤ 30 s, attempts ≤ 5.
const MAX_NAMESERVERS: usize = 3;
const MAX_NDOTS: u8 = 15;
const MAX_TIMEOUT_SECS: u64 = 30;
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<SocketAddr>,
    /// Domains appended to short names, in order.
    pub search: Vec<String>,
    /// A name with fewer dots than this is tried with the search domains first.
    pub ndots: u8,
    pub timeout: Option<Duration>,
    pub attempts: Option<u32>,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: None,
            attempts: None,
        }
    }
}

impl ResolvConf {
    /// Read `path`; a missing or unreadable file gives glibc's defaults.
    pub fn load(path: &str) -> ResolvConf {
        match std::fs::read_to_string(path) {
            Ok(text) => ResolvConf::parse(&text),
            Err(e) => {
                tracing::debug!(path, error = %e, "no resolv.conf; using defaults");
                ResolvConf::default()
            }
        }
    }

    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(parse_ip) {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(SocketAddr::new(ip, 53));
                        }
                    }
                }
                // The last of `domain` and `search` wins, as in glibc.
                Some("domain") => conf.search = words.take(1).map(normalise).collect(),
                Some("search") => conf.search = words.map(normalise).collect(),
                Some("options") => {
                    for opt in words {
                        let Some((key, value)) = opt.split_once(':') else {
                            continue;
                        };
                        let Ok(n) = value.parse::<u64>() else {
                            continue;
                        };
                        match key {
                            "ndots" => conf.ndots = n.min(MAX_NDOTS as u64) as u8,
                            "timeout" => {
                                conf.timeout =
                                    Some(Duration::from_secs(n.clamp(1, MAX_TIMEOUT_SECS)))
                            }
                            "attempts" => {
                                conf.attempts = Some(n.clamp(1, MAX_ATTEMPTS as u64) as u32)
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        conf.search.retain(|d| !d.is_empty());
        conf
    }

    /// The servers to ask when the config names none: glibc falls back to the
    /// local host when the file lists no `nameserver`.
    pub fn servers_or_local(&self) -> Vec<SocketAddr> {
        if self.nameservers.is_empty() {
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)]
        } else {
            self.nameservers.clone()
        }
    }

    /// The names to try for `name`, in order (resolv.conf(5) `ndots`): a name
    /// ending in `.` is absolute; one with at least `ndots` dots is tried as
    /// given first, else after the search domains.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{d}"));
        let dots = name.bytes().filter(|&b| b == b'.').count();
        if dots >= self.ndots as usize {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    // A scoped IPv6 address (`fe80::1%eth0`) cannot be used without its
    // interface index; skip the scope rather than the server.
    text.split('%').next()?.parse().ok()
}

fn normalise(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_search_and_options() {
        let conf = ResolvConf::parse(
            "# comment\nnameserver 10.0.0.1\nnameserver ::1 ; trailing\n\
             search Example.com. corp.example\noptions ndots:2 timeout:3 attempts:4 rotate\n",
        );
        assert_eq!(
            conf.nameservers,
            vec!["10.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
        assert_eq!(conf.search, vec!["example.com", "corp.example"]);
        assert_eq!(conf.ndots, 2);
        assert_eq!(conf.timeout, Some(Duration::from_secs(3)));
        assert_eq!(conf.attempts, Some(4));
    }

    #[test]
    fn clamps_options_and_caps_servers() {
        let conf = ResolvConf::parse(
            "nameserver 1.1.1.1\nnameserver 1.1.1.2\nnameserver 1.1.1.3\nnameserver 1.1.1.4\n\
             options ndots:99 timeout:0 attempts:100 ndots:x\n",
        );
        assert_eq!(conf.nameservers.len(), 3);
        assert_eq!(conf.ndots, 15);
        assert_eq!(conf.timeout, Some(Duration::from_secs(1)));
        assert_eq!(conf.attempts, Some(5));
    }

    #[test]
    fn last_of_domain_and_search_wins_and_junk_is_ignored() {
        let conf =
            ResolvConf::parse("search a.example b.example\ndomain c.example\nnameserver bogus\n");
        assert_eq!(conf.search, vec!["c.example"]);
        assert!(conf.nameservers.is_empty());
        assert_eq!(
            conf.servers_or_local(),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
    }

    #[test]
    fn scoped_ipv6_server_keeps_its_address() {
        let conf = ResolvConf::parse("nameserver fe80::1%eth0\n");
        assert_eq!(conf.nameservers, vec!["[fe80::1]:53".parse().unwrap()]);
    }

    #[test]
    fn candidates_follow_ndots() {
        let conf = ResolvConf::parse("search a.example b.example\noptions ndots:1\n");
        assert_eq!(
            conf.candidates("svc"),
            vec!["svc.a.example", "svc.b.example", "svc"]
        );
        assert_eq!(
            conf.candidates("svc.ns"),
            vec!["svc.ns", "svc.ns.a.example", "svc.ns.b.example"]
        );
        assert_eq!(conf.candidates("svc.ns."), vec!["svc.ns"]);
        assert_eq!(ResolvConf::default().candidates("svc"), vec!["svc"]);
    }

    #[test]
    fn missing_file_gives_defaults() {
        assert_eq!(
            ResolvConf::load("/nonexistent/ringway/resolv.conf"),
            ResolvConf::default()
        );
    }
}
